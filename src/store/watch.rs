//! The database watch: notices the database file deleted or replaced under the daemon.
//!
//! SQLite keeps writing to the file it opened, even once the path names another file or
//! none: every later write would be lost, silently. The watch runs [`Store::check_file`]
//! every [`DatabaseWatch::PERIOD`]; on a mismatch it logs at ERROR and ends, and being an
//! essential component that stops the daemon with an error (exit 1), so that systemd
//! restarts it on the file the path names. Writes do not wait for it: each one checks
//! before it starts and before it commits, and is refused from the first mismatch on.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Store;
use crate::component::{Component, check_every};

/// The component that checks the database file; see the module docs.
#[derive(Debug)]
pub struct DatabaseWatch {
    store: Store,
}

impl DatabaseWatch {
    /// How often the path is checked: one `stat(2)` each time.
    pub const PERIOD: Duration = Duration::from_secs(1);

    /// A watch on `store`'s file.
    pub fn new(store: Store) -> DatabaseWatch {
        DatabaseWatch { store }
    }
}

impl Component for DatabaseWatch {
    fn name(&self) -> &'static str {
        "database watch"
    }

    fn drain_deadline(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn essential(&self) -> bool {
        true
    }

    /// Returns at shutdown, or as soon as the database was deleted or replaced (logged at
    /// ERROR with the path and what was seen).
    async fn run(self, shutdown: CancellationToken) {
        let store = &self.store;
        if let Some(e) = check_every(Self::PERIOD, &shutdown, || store.check_file()).await {
            tracing::error!(
                target: "tradebeat::store",
                database = %store.path().display(),
                error = %e,
                "the database file was deleted or replaced under the daemon: writes are refused and the daemon stops, to be restarted on the file the path names"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;

    #[tokio::test(start_paused = true)]
    async fn the_watch_ends_within_a_period_of_the_file_being_replaced_and_writes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tradebeat.db");
        let store = Store::open(&path).unwrap();
        let shutdown = CancellationToken::new();
        let watch = tokio::spawn(DatabaseWatch::new(store.clone()).run(shutdown.clone()));
        tokio::time::sleep(DatabaseWatch::PERIOD * 3).await;
        assert!(!watch.is_finished(), "the watch ended on an untouched file");
        assert!(store.check_file().is_ok());

        // Replaced: deleted, and a new file of the same name put in its place.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"").unwrap();
        tokio::time::timeout(DatabaseWatch::PERIOD * 2, watch)
            .await
            .expect("the watch did not notice the replaced file")
            .unwrap();
        assert!(store.is_replaced());
        let err = store
            .schema_version()
            .map(|_| ())
            .and_then(|()| store.check_file());
        assert!(matches!(err, Err(StoreError::Replaced { .. })), "{err:?}");
        shutdown.cancel();
    }

    #[test]
    fn a_write_to_a_deleted_database_is_refused_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tradebeat.db");
        let store = Store::open(&path).unwrap();
        store.write(|_| Ok(())).unwrap();
        std::fs::remove_file(&path).unwrap();
        let err = store.write(|_| Ok(())).unwrap_err();
        assert!(matches!(err, StoreError::Replaced { .. }), "{err}");
        // Still refused once a file is back under the path: not the one written to.
        Store::open(&path).unwrap();
        let err = store.write(|_| Ok(())).unwrap_err();
        assert!(matches!(err, StoreError::Replaced { .. }), "{err}");
    }
}
