//! The strategies' stderr logs: `<logging.dir>/strategy-<slug>.log`, rotated like the
//! daemon's own logs ([`crate::logging::rotating_file`]): at the first write after local
//! midnight the file is renamed after the day it covers (`strategy-ma.log.2026-11-20`),
//! and at most `logging.max_files` files per strategy are kept, the current one included.
//! Files are created 0600, never through a symbolic link.
//!
//! A run's stderr is a pipe the runner reads ([`copy_stderr`]) and appends to its
//! strategy's one shared writer, so concurrent runs of a strategy never rotate the same
//! file twice. At most [`MAX_STDERR_BYTES_PER_RUN`] bytes of one run are kept; the rest is
//! read and dropped, with one line saying so.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use file_rotate::FileRotate;
use file_rotate::suffix::AppendTimestamp;
use tokio::io::AsyncReadExt as _;

/// The most stderr bytes one run may add to its log (16 MiB).
pub const MAX_STDERR_BYTES_PER_RUN: usize = 16 * 1024 * 1024;

type Writer = Arc<Mutex<FileRotate<AppendTimestamp>>>;

/// The strategies' log writers, one per slug, opened on first use.
#[derive(Clone)]
pub struct StrategyLogs {
    dir: PathBuf,
    max_files: usize,
    writers: Arc<Mutex<HashMap<String, Writer>>>,
}

impl StrategyLogs {
    /// Logs in `dir` (`logging.dir`), keeping `max_files` files per strategy
    /// (`logging.max_files`).
    pub fn new(dir: PathBuf, max_files: usize) -> StrategyLogs {
        StrategyLogs {
            dir,
            max_files,
            writers: Arc::default(),
        }
    }

    /// The path of `slug`'s current log file.
    pub fn path(&self, slug: &str) -> PathBuf {
        self.dir.join(format!("strategy-{slug}.log"))
    }

    /// `slug`'s writer, opening `strategy-<slug>.log` (and the directory, 0700) the first
    /// time.
    ///
    /// # Errors
    /// The directory or the file cannot be created or opened, or the path is a link.
    fn writer(&self, slug: &str) -> std::io::Result<Writer> {
        let mut writers = self.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(w) = writers.get(slug) {
            return Ok(Arc::clone(w));
        }
        crate::files::create_dir_all(&self.dir)?;
        let file = crate::logging::rotating_file(
            &self.dir,
            &format!("strategy-{slug}"),
            self.max_files.max(1),
        )
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
        let w = Arc::new(Mutex::new(file));
        writers.insert(slug.to_string(), Arc::clone(&w));
        Ok(w)
    }

    /// Opens `slug`'s log now (so that a broken log directory is reported before the
    /// run), returning what [`copy_stderr`] writes to.
    ///
    /// # Errors
    /// As [`StrategyLogs::writer`].
    pub fn open(&self, slug: &str) -> std::io::Result<StrategyLog> {
        Ok(StrategyLog {
            slug: slug.to_string(),
            writer: self.writer(slug)?,
        })
    }
}

/// One strategy's log, for one run's stderr.
pub struct StrategyLog {
    slug: String,
    writer: Writer,
}

impl StrategyLog {
    /// Appends `bytes` (on the blocking pool: the disk never holds a worker).
    async fn append(&self, bytes: Vec<u8>) {
        let writer = Arc::clone(&self.writer);
        let done = tokio::task::spawn_blocking(move || {
            let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
            w.write_all(&bytes).and_then(|()| w.flush())
        })
        .await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(slug = %self.slug, error = %e, "strategy stderr not written")
            }
            Err(e) => tracing::warn!(slug = %self.slug, error = %e, "strategy stderr not written"),
        }
    }
}

/// Reads a run's stderr to its end, appending at most [`MAX_STDERR_BYTES_PER_RUN`] bytes
/// to `log` and dropping the rest (one line says how much). Ends when every process
/// holding the pipe has exited (the runner kills the run's process group).
pub async fn copy_stderr(mut stderr: impl tokio::io::AsyncRead + Unpin, log: StrategyLog) {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut kept, mut dropped) = (0usize, 0usize);
    loop {
        let n = match stderr.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let room = MAX_STDERR_BYTES_PER_RUN - kept;
        let take = n.min(room);
        if take > 0 {
            log.append(buf[..take].to_vec()).await;
            kept += take;
        }
        dropped += n - take;
    }
    if dropped > 0 {
        log.append(
            format!(
                "\n[tradebeat: this run's stderr was cut at {MAX_STDERR_BYTES_PER_RUN} bytes; {dropped} bytes dropped]\n"
            )
            .into_bytes(),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[tokio::test]
    async fn a_log_from_an_earlier_day_is_rotated_and_old_ones_deleted() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("logs");
        fs::create_dir(&dir).unwrap();
        let current = dir.join("strategy-ma.log");
        fs::write(&current, "yesterday\n").unwrap();
        let two_days_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 86_400);
        fs::File::options()
            .write(true)
            .open(&current)
            .unwrap()
            .set_modified(two_days_ago)
            .unwrap();
        for old in ["strategy-ma.log.2020-01-01", "strategy-ma.log.2020-01-02"] {
            fs::write(dir.join(old), "older\n").unwrap();
        }

        let logs = StrategyLogs::new(dir.clone(), 2);
        assert_eq!(logs.path("ma"), current);
        let log = logs.open("ma").unwrap();
        copy_stderr(&b"today\n"[..], log).await;

        assert_eq!(fs::read_to_string(&current).unwrap(), "today\n");
        let rotated: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("strategy-ma.log."))
            .collect();
        assert_eq!(rotated.len(), 1, "{rotated:?}");
        assert!(!rotated[0].contains("2020"), "{rotated:?}");
        assert_eq!(
            fs::read_to_string(dir.join(&rotated[0])).unwrap(),
            "yesterday\n"
        );
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            fs::metadata(&current).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[tokio::test]
    async fn a_run_keeps_at_most_its_share_of_stderr() {
        let temp = tempfile::tempdir().unwrap();
        let logs = StrategyLogs::new(temp.path().to_path_buf(), 3);
        let noise = vec![b'x'; MAX_STDERR_BYTES_PER_RUN + 1000];
        copy_stderr(&noise[..], logs.open("loud").unwrap()).await;
        let text = fs::read(logs.path("loud")).unwrap();
        assert!(text.len() > MAX_STDERR_BYTES_PER_RUN);
        assert!(
            text.len() < MAX_STDERR_BYTES_PER_RUN + 200,
            "{}",
            text.len()
        );
        assert!(
            String::from_utf8_lossy(&text[MAX_STDERR_BYTES_PER_RUN..])
                .contains("1000 bytes dropped")
        );
    }
}
