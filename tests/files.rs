//! Files in shared directories: a symbolic link planted where tradebeat keeps its lock,
//! database or logs is refused (its target untouched), and so is a data or log directory
//! that every user may write to without the sticky bit.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use tempfile::TempDir;
use tradebeat::config::LoggingConfig;
use tradebeat::instance::{InstanceLock, lock_path};
use tradebeat::store::Store;

/// A file of someone else's that a planted link points at.
fn victim(dir: &Path) -> std::path::PathBuf {
    let target = dir.join("victim");
    std::fs::write(&target, "precious").unwrap();
    target
}

fn logging(dir: &Path) -> LoggingConfig {
    LoggingConfig {
        dir: dir.to_path_buf(),
        ..LoggingConfig::default()
    }
}

#[test]
fn planted_symlinks_for_the_lock_the_database_and_the_logs_are_refused() {
    let dir = TempDir::new().unwrap();
    let target = victim(dir.path());
    let db = dir.path().join("data").join("tradebeat.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();

    // The lock file.
    std::os::unix::fs::symlink(&target, lock_path(&db)).unwrap();
    let Err(err) = InstanceLock::acquire(&db) else {
        panic!("a linked lock file")
    };
    assert!(err.to_string().contains("symbolic link"), "{err}");
    std::fs::remove_file(lock_path(&db)).unwrap();
    let _lock = InstanceLock::acquire(&db).unwrap();

    // The database, and its write-ahead log.
    for linked in [db.clone(), db.with_extension("db-wal")] {
        std::os::unix::fs::symlink(&target, &linked).unwrap();
        let Err(err) = Store::open(&db) else {
            panic!("a linked database file")
        };
        assert!(err.to_string().contains("symbolic link"), "{err}");
        std::fs::remove_file(&linked).unwrap();
    }
    Store::open(&db).unwrap();

    // The log file.
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::os::unix::fs::symlink(&target, logs.join("tradebeat.log")).unwrap();
    let Err(err) = tradebeat::logging::subscriber(&logging(&logs), None, false) else {
        panic!("a linked log file")
    };
    assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");

    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn a_directory_everyone_may_write_to_without_the_sticky_bit_is_refused() {
    let dir = TempDir::new().unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let db = open.join("tradebeat.db");

    let Err(err) = InstanceLock::acquire(&db) else {
        panic!("lock in an open dir")
    };
    assert!(err.to_string().contains("sticky"), "{err}");
    let Err(err) = Store::open(&db) else {
        panic!("database in an open dir")
    };
    assert!(err.to_string().contains("sticky"), "{err}");
    let Err(err) = tradebeat::logging::subscriber(&logging(&open), None, false) else {
        panic!("logs in an open dir")
    };
    assert!(format!("{err:#}").contains("sticky"), "{err:#}");
    assert!(!db.exists(), "nothing created in it");

    // With the sticky bit (like /tmp) it is accepted.
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let _lock = InstanceLock::acquire(&db).unwrap();
    Store::open(&db).unwrap();
}
