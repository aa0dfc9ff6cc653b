//! The single-instance lock: one `tradebeat run` per database.
//!
//! Two daemons writing one SQLite file would each think they own the schedule, the symbol
//! list and (later) the orders. So before anything touches the database, `run` takes an
//! exclusive lock on `<database>.lock` (`data/tradebeat.db.lock`) and holds it until the
//! process ends; a second `run` on the same database is refused at once, with the lock
//! file's path and the holder's PID, and touches nothing else.
//!
//! - **The lock is the kernel's, not the file's existence.** It is an advisory `flock(2)`
//!   taken with [`std::fs::File::try_lock`] on an open file; the kernel drops it when the
//!   process exits in any way (crash, `kill -9`, the watchdog's SIGABRT), so there is never a
//!   stale lock to clean up. The file itself stays between runs and is never deleted:
//!   deleting a lock file while another process may have it open would let two processes
//!   each lock a different file of the same name.
//! - **Contents.** The holder's PID and a newline, for people and for the refusal message;
//!   nothing relies on it.
//! - **Scope.** The lock guards the path as given, made absolute. Two different paths to one
//!   file (a symlink, a bind mount) are not detected; SQLite's own locking still keeps the
//!   file consistent in that case.
//! - **The lock file must stay the one we hold.** Unlinked or replaced, the path would let a
//!   second `run` lock a new file and start beside us. So `acquire` checks, once locked,
//!   that the path still names the file it locked, and the running daemon checks it every
//!   [`LockWatch::PERIOD`] ([`LockWatch`]): on a mismatch it logs at ERROR and stops with
//!   exit 1, before a second daemon can write much.

use std::fs::{File, TryLockError};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::component::{Component, check_every};

/// Why the lock could not be taken. Both end the start with exit status 1.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock: another tradebeat runs on this database.
    #[error(
        "another tradebeat is already running on this database: {} is locked by {}",
        path.display(),
        holder.map_or_else(|| "another process".to_string(), |pid| format!("pid {pid}"))
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's PID as it wrote it, when readable.
        holder: Option<u32>,
    },
    /// The lock file (or its directory) cannot be created, opened or written: usually a
    /// database directory that is not writable.
    #[error(
        "cannot create the lock file {} beside database {}: {error}",
        path.display(),
        database.display()
    )]
    Io {
        /// The database, made absolute.
        database: PathBuf,
        /// The lock file.
        path: PathBuf,
        error: io::Error,
    },
}

/// The lock, held while this value lives (drop it, or exit, to release it).
#[derive(Debug)]
pub struct InstanceLock {
    /// Never read: the lock lives exactly as long as this open file.
    _file: File,
    path: PathBuf,
}

/// The lock file of `database`: the same path with `.lock` appended
/// (`/var/lib/tradebeat/tradebeat.db` → `/var/lib/tradebeat/tradebeat.db.lock`).
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl InstanceLock {
    /// Takes the exclusive lock of `database` (see [`lock_path`]) without waiting, creating
    /// the database's directory and the lock file when missing (0700 and 0600, see
    /// [`crate::files`]), and writes this process's PID into it. A relative `database` is
    /// resolved against the working directory.
    ///
    /// Opens nothing but the lock file: the database and its `-wal`/`-shm` files are not
    /// touched, whatever the outcome.
    ///
    /// # Errors
    /// [`LockError::Held`] when another process holds the lock, [`LockError::Io`] when the
    /// directory or the file cannot be created or written.
    pub fn acquire(database: &Path) -> Result<InstanceLock, LockError> {
        let database = std::path::absolute(database).unwrap_or_else(|_| database.to_path_buf());
        let path = lock_path(&database);
        let io_error = |error: io::Error| LockError::Io {
            database: database.clone(),
            path: path.clone(),
            error,
        };
        if let Some(dir) = path.parent() {
            crate::files::create_dir_all(dir).map_err(io_error)?;
            crate::files::check_dir(dir).map_err(io_error)?;
        }
        let mut options = crate::files::open_options();
        options.read(true).write(true).create(true).truncate(false);
        let mut file = crate::files::open_nofollow(&options, &path).map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_pid(&mut file);
                return Err(LockError::Held { path, holder });
            }
            Err(TryLockError::Error(error)) => return Err(io_error(error)),
        }
        write_pid(&mut file, std::process::id()).map_err(io_error)?;
        let lock = InstanceLock {
            _file: file,
            path: path.clone(),
        };
        lock.held()
            .check()
            .map_err(|detail| io_error(io::Error::other(detail)))?;
        Ok(lock)
    }

    /// What [`LockWatch`] needs to check that the lock file is still the one held: its path,
    /// device and inode (from the open file, not the path).
    pub fn held(&self) -> HeldLock {
        let identity = self
            ._file
            .metadata()
            .map_or((0, 0), |meta| (meta.dev(), meta.ino()));
        HeldLock {
            path: self.path.clone(),
            identity,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The identity of a held lock file; see [`InstanceLock::held`].
#[derive(Debug, Clone)]
pub struct HeldLock {
    path: PathBuf,
    identity: (u64, u64),
}

impl HeldLock {
    /// Checks that the lock path still names the locked file (same device and inode).
    ///
    /// # Errors
    /// What was seen instead: the path missing, or naming another file.
    pub fn check(&self) -> Result<(), String> {
        match std::fs::metadata(&self.path) {
            Err(e) => Err(format!("the lock file cannot be read: {e}")),
            Ok(meta) if (meta.dev(), meta.ino()) != self.identity => Err(format!(
                "the lock path names another file (device {} inode {}, locked device {} inode {})",
                meta.dev(),
                meta.ino(),
                self.identity.0,
                self.identity.1
            )),
            Ok(_) => Ok(()),
        }
    }
}

/// The component that ends the daemon once the lock file is not the one it holds (see the
/// module docs). Essential: its end stops the daemon with exit 1.
#[derive(Debug)]
pub struct LockWatch {
    held: HeldLock,
}

impl LockWatch {
    /// How often the lock path is checked: one `stat(2)` each time.
    pub const PERIOD: Duration = Duration::from_secs(1);

    /// A watch on `held`.
    pub fn new(held: HeldLock) -> LockWatch {
        LockWatch { held }
    }
}

impl Component for LockWatch {
    fn name(&self) -> &'static str {
        "lock watch"
    }

    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn essential(&self) -> bool {
        true
    }

    async fn run(self, shutdown: CancellationToken) {
        let held = &self.held;
        if let Some(detail) = check_every(Self::PERIOD, &shutdown, || held.check()).await {
            tracing::error!(
                target: "tradebeat::daemon",
                lock = %held.path.display(),
                error = %detail,
                "the instance lock file was deleted or replaced: another tradebeat could start on this database, so this one stops"
            );
        }
    }
}

/// Replaces the file's content with `pid` and a newline, on disk before returning.
fn write_pid(file: &mut File, pid: u32) -> io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{pid}")?;
    file.sync_data()
}

/// The PID written in the lock file, when it holds one (the holder may not have written
/// it yet).
fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path(Path::new("/var/lib/tradebeat/tradebeat.db")),
            Path::new("/var/lib/tradebeat/tradebeat.db.lock")
        );
        assert_eq!(
            lock_path(Path::new("data/x.sqlite")),
            Path::new("data/x.sqlite.lock")
        );
    }

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_with_the_holders_pid() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sub/tradebeat.db");
        let first = InstanceLock::acquire(&db).unwrap();
        assert_eq!(first.path(), dir.path().join("sub/tradebeat.db.lock"));
        assert_eq!(
            std::fs::read_to_string(first.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert!(!db.exists(), "the database itself is not created");

        // A second open file description conflicts with the first, even in one process.
        let err = InstanceLock::acquire(&db).unwrap_err();
        match &err {
            LockError::Held { path, holder } => {
                assert_eq!(path, first.path());
                assert_eq!(*holder, Some(std::process::id()));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains(&first.path().display().to_string())
                && message.contains(&format!("pid {}", std::process::id())),
            "{message}"
        );

        // Released on drop; the file stays, and the next holder overwrites the PID.
        drop(first);
        std::fs::write(dir.path().join("sub/tradebeat.db.lock"), "999999999999\n").unwrap();
        let again = InstanceLock::acquire(&db).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path()).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn an_unwritable_directory_is_an_io_error_naming_the_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where a directory should be: refused even for root.
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").unwrap();
        let err = InstanceLock::acquire(&file.join("tradebeat.db")).unwrap_err();
        assert!(matches!(err, LockError::Io { .. }), "{err:?}");
        let expected = format!(
            "cannot create the lock file {} beside database {}: ",
            file.join("tradebeat.db.lock").display(),
            file.join("tradebeat.db").display()
        );
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    #[test]
    fn a_holder_that_wrote_no_pid_yet_is_named_as_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tradebeat.db");
        let path = lock_path(&db);
        let holder = File::create(&path).unwrap();
        holder.try_lock().unwrap();
        let err = InstanceLock::acquire(&db).unwrap_err();
        assert!(
            matches!(&err, LockError::Held { holder: None, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string().ends_with("locked by another process"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_lock_watch_ends_once_the_lock_file_is_unlinked_or_replaced() {
        for replace in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("tradebeat.db");
            let lock = InstanceLock::acquire(&db).unwrap();
            assert!(lock.held().check().is_ok());
            let shutdown = CancellationToken::new();
            let watch = tokio::spawn(LockWatch::new(lock.held()).run(shutdown.clone()));
            tokio::time::sleep(LockWatch::PERIOD * 3).await;
            assert!(!watch.is_finished(), "ended on an untouched lock file");

            std::fs::remove_file(lock.path()).unwrap();
            if replace {
                // What a second daemon does: a new lock file of the same name, locked.
                let _second = InstanceLock::acquire(&db).unwrap();
            }
            assert!(lock.held().check().is_err());
            tokio::time::timeout(LockWatch::PERIOD * 2, watch)
                .await
                .expect("the watch did not notice")
                .unwrap();
            shutdown.cancel();
        }
    }
}
