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

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
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
