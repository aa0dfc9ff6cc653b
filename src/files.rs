//! The directories and files tradebeat creates are private to the user it runs as, whatever
//! umask it was started with: directories 0700, files 0600. Under the systemd unit
//! (`UMask=0077`) that changes nothing; run by hand from a shell with the usual umask 022,
//! it keeps the database, its `-wal`/`-shm` files, the lock file and the logs from being
//! world-readable.
//!
//! Only what tradebeat creates gets these modes: a directory or file that already exists
//! (one the operator made, or an earlier run) keeps its own. The umask can still take bits
//! away (never add them), so a created file is never more open than 0600.
//!
//! SQLite creates a WAL database's `-wal` and `-shm` files itself, with the database file's
//! permission bits (its unix VFS copies them and sets them with `fchmod`, past the umask):
//! that is why [`crate::store::Store::open`] creates a missing database file here first.
//! See <https://www.sqlite.org/tempfiles.html#write_ahead_log_wal_files>.
//!
//! **Shared directories.** The lock file, the database (and its `-wal`, `-shm`,
//! `-journal`) and the logs are never opened through a symbolic link: another user who
//! can write to the directory could otherwise plant one pointing at a file of theirs (to
//! read our data) or of ours (to have us overwrite it). [`open_nofollow`] refuses a link
//! at the path, and checks that the file it opened is the one at the path. A data or log
//! directory that others may write to without the sticky bit is refused outright
//! ([`check_dir`]): anyone could replace our files in it.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

/// The mode of every directory tradebeat creates: `rwx` for its owner only.
pub const DIR_MODE: u32 = 0o700;

/// The mode of every file tradebeat creates: `rw` for its owner only.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and each of its missing parents with [`DIR_MODE`]; directories that exist
/// keep their mode. Like [`std::fs::create_dir_all`], succeeds when `dir` exists.
///
/// # Errors
/// A missing directory cannot be created (no permission, a file in the way …).
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

/// Open options that give a file they create [`FILE_MODE`]; set the access and creation
/// flags on top (`.create(true).append(true)` …). A file that exists keeps its mode.
pub fn open_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Fails when `path` is a symbolic link; a missing path is fine.
///
/// # Errors
/// [`io::ErrorKind::InvalidInput`] for a link (its message names the path), or the
/// `lstat` error other than "not found".
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is a symbolic link; refusing to follow it (remove it, or point the config at the real file)",
                path.display()
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens `path` with `options`, refusing a symbolic link at the path: checked before
/// opening, and after, the opened file must be the one at the path (same device and
/// inode), so a link swapped in between is caught too.
///
/// # Errors
/// [`refuse_symlink`]'s, the open's, or [`io::ErrorKind::InvalidInput`] when the file
/// at the path changed while it was opened.
pub fn open_nofollow(options: &OpenOptions, path: &Path) -> io::Result<File> {
    refuse_symlink(path)?;
    let file = options.open(path)?;
    let opened = file.metadata()?;
    refuse_symlink(path)?;
    let at_path = std::fs::symlink_metadata(path)?;
    if (opened.dev(), opened.ino()) != (at_path.dev(), at_path.ino()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} was replaced while being opened", path.display()),
        ));
    }
    Ok(file)
}

/// Fails when `dir` may be written by others (mode `o+w`) without the sticky bit: any
/// user could then replace or plant files in it. A world-writable sticky directory
/// (`/tmp`) is accepted: there, only a file's owner may remove or rename it, and the
/// files themselves are opened with [`open_nofollow`].
///
/// # Errors
/// [`io::ErrorKind::PermissionDenied`] for such a directory (its message names it and
/// the fix), or the `stat` error.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    let mode = std::fs::metadata(dir)?.mode();
    if mode & 0o002 != 0 && mode & 0o1000 == 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is writable by every user and has no sticky bit (mode {:o}); refusing it: chmod o-w it, or pick a private directory",
                dir.display(),
                mode & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Makes this process not dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core file is written
/// when it crashes, and other processes of the same user cannot `ptrace` it or read its
/// `/proc/<pid>/mem`. Its memory holds the API key and secret. The systemd unit also sets
/// `LimitCORE=0`. Call it first thing in `run`, before any credential is read.
///
/// # Errors
/// The `prctl` call failed (it does not on Linux).
/// See <https://man7.org/linux/man-pages/man2/PR_SET_DUMPABLE.2const.html>.
pub fn disable_core_dumps() -> io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").unwrap();
        let link = dir.path().join("tradebeat.db.lock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut options = open_options();
        options.write(true).create(true).truncate(true);
        let err = open_nofollow(&options, &link).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        // A plain file (or none) opens.
        let plain = dir.path().join("plain");
        open_nofollow(&options, &plain).unwrap();
        open_nofollow(&options, &plain).unwrap();
    }

    #[test]
    fn core_dumps_are_disabled() {
        use rustix::process::{DumpableBehavior, dumpable_behavior};
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::Dumpable);
        disable_core_dumps().unwrap();
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }

    #[test]
    fn a_world_writable_directory_needs_the_sticky_bit() {
        let dir = tempfile::TempDir::new().unwrap();
        let set = |mode| {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o777);
        let err = check_dir(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("sticky"), "{err}");
        set(0o1777);
        check_dir(dir.path()).unwrap();
        set(0o755);
        check_dir(dir.path()).unwrap();
        set(0o700);
    }
}
