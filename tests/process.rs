//! The `tradebeat` binary as a process: exit statuses, signals, log files and what
//! `check-config` prints.

mod common;

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::*;

const SECRET: &str = "S3CR3T-never-print-me-9f8e7d";

fn tradebeat(dir: &std::path::Path) -> Command {
    tradebeat_command(dir)
}

fn write_config(dir: &std::path::Path, sim_url: &str) -> std::path::PathBuf {
    let ws_api_url = common::ws_api_url(sim_url);
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[exchange]
rest_url = "{sim_url}"
ws_api_url = "{ws_api_url}"
request_timeout_ms = 2000

[heartbeat]
period_secs = 2
offset_secs = 1

[market_data]
symbols = ["BTCUSDT", "ETHUSDT"]
intervals = ["1m", "5m"]

[storage]
database = "data/tradebeat.db"

[logging]
dir = "logs"
level = "info"
"#
        ),
    )
    .unwrap();
    path
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_within_five_seconds_with_everything_committed() {
    let sim = sim().await;
    let dir = tempdir();
    let config = write_config(dir.path(), &sim.base_url());
    let db = dir.path().join("data/tradebeat.db");
    let mut child = tradebeat(dir.path())
        .args(["run", "--config"])
        .arg(&config)
        .env("TRADEBEAT_EXCHANGE__API_SECRET", SECRET)
        .env("TRADEBEAT_EXCHANGE__API_KEY", "key-for-the-leak-test")
        .spawn()
        .unwrap();
    wait_until("two beats", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 2
    })
    .await;

    signal(&child, "-TERM");
    let started = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = wait_exit(&mut child, Duration::from_secs(10));
        let out = child.wait_with_output().unwrap();
        (status, out)
    })
    .await
    .unwrap();
    let (status, out) = status;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        started.elapsed()
    );

    // Everything a beat wrote is whole: each heartbeat row that reports success has its
    // tickers, and the database is consistent.
    let conn = read_db(&db);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM heartbeats h WHERE h.symbols_ok > 0 AND
             (SELECT COUNT(*) FROM tickers t WHERE t.time = h.beat_time) <> h.symbols_ok",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);

    // Logs: one file per component plus tradebeat.log, lines start with an RFC 3339 time.
    let logs = dir.path().join("logs");
    for component in ["tradebeat", "heartbeat", "daemon"] {
        let text = std::fs::read_to_string(logs.join(format!("{component}.log")))
            .unwrap_or_else(|e| panic!("{component}.log: {e}"));
        assert!(!text.is_empty(), "{component}.log is empty");
        for line in text.lines() {
            let stamp = line.split(' ').next().unwrap();
            assert!(
                time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                    .is_ok(),
                "{component}.log line does not start with an RFC 3339 time: {line}"
            );
        }
    }
    let heartbeat_log = std::fs::read_to_string(logs.join("heartbeat.log")).unwrap();
    assert!(heartbeat_log.contains("beat finished"));
    let all = std::fs::read_to_string(logs.join("tradebeat.log")).unwrap();
    assert!(all.contains("tradebeat started") && all.contains("tradebeat stopped"));

    // The secret reached no log file and no output.
    for entry in std::fs::read_dir(&logs).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(SECRET));
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains(SECRET));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(SECRET));
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    meta.permissions().mode() & 0o777
}

/// A daemon process, killed when dropped before [`Daemon::terminate`] (a failed assertion
/// leaves no daemon behind).
struct Daemon(Option<Child>);

impl Daemon {
    /// SIGTERM, then the exit status once the process is gone (at most 10 s).
    async fn terminate(mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().unwrap();
        signal(&child, "-TERM");
        tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(10)))
            .await
            .unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run by hand from a shell with umask 022, the daemon still keeps what it creates to its
/// user: directories 0700; the database, the `-wal` and `-shm` files SQLite makes beside
/// it, the lock file and every log file 0600, also the new file a daily rotation opens. A
/// directory the operator made keeps its own mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_it_creates_is_private_to_its_user_under_umask_022() {
    let sim = sim().await;
    let dir = tempdir();
    let config = write_config(dir.path(), &sim.base_url());
    // The operator's directory, world-readable on purpose; everything below is the daemon's.
    let srv = dir.path().join("srv");
    std::fs::DirBuilder::new().mode(0o755).create(&srv).unwrap();
    std::fs::set_permissions(&srv, std::fs::Permissions::from_mode(0o755)).unwrap();
    let start = || {
        let child = tradebeat_command_umask_022(dir.path())
            .args(["run", "--config"])
            .arg(&config)
            .env("TRADEBEAT_STORAGE__DATABASE", "srv/data/tradebeat.db")
            .env("TRADEBEAT_LOGGING__DIR", "srv/logs")
            .env("TRADEBEAT_CONTROL__SOCKET", "srv/run/control.sock")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Daemon(Some(child))
    };
    let db = srv.join("data/tradebeat.db");
    let logs = srv.join("logs");

    let child = start();
    // A committed beat: the WAL holds it and the pool's connections keep `-wal` and `-shm`.
    wait_until("a beat", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 1
    })
    .await;
    let names = [
        "tradebeat.db",
        "tradebeat.db-wal",
        "tradebeat.db-shm",
        "tradebeat.db.lock",
    ];
    let mut files = names.map(|name| srv.join("data").join(name)).to_vec();
    let log_files: Vec<_> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(
        log_files.len(),
        tradebeat::logging::COMPONENTS.len() + 1,
        "{log_files:?}"
    );
    files.extend(log_files);
    for file in &files {
        assert_eq!(mode(file), 0o600, "{} is {:o}", file.display(), mode(file));
    }
    for created in ["data", "logs", "run"].map(|name| srv.join(name)) {
        assert_eq!(
            mode(&created),
            0o700,
            "{} is {:o}",
            created.display(),
            mode(&created)
        );
    }
    assert_eq!(mode(&srv), 0o755, "the operator's directory keeps its mode");
    let status = child.terminate().await;
    assert!(status.success(), "exit status {status:?}");

    // The heartbeat log as if last written two days ago: the next start's first beat line
    // rotates it and the writer opens a new `heartbeat.log`.
    let current = logs.join("heartbeat.log");
    let two_days_ago = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(&current)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let child = start();
    let rotated = || {
        std::fs::read_dir(&logs)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .find(|name| name.starts_with("heartbeat.log."))
    };
    wait_until("a rotation", Duration::from_secs(20), || {
        rotated().is_some() && current.exists()
    })
    .await;
    assert_eq!(
        mode(&current),
        0o600,
        "the file opened by the rotation is {:o}",
        mode(&current)
    );
    let status = child.terminate().await;
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_config_error_exits_2_naming_the_key_and_starts_nothing() {
    let dir = tempdir();
    let cases = [
        ("[heartbeat]\nperiod_secs = 0\n", "period_secs"),
        (
            "[heartbeat]\nperiod_secs = 60\noffset_secs = 60\n",
            "offset_secs",
        ),
        ("[market_data]\nintervals = [\"1m\", \"2m\"]\n", "intervals"),
        ("[heartbeat]\nperid_secs = 60\n", "perid_secs"),
        ("[heartbeat\nperiod_secs = 60\n", "line"),
    ];
    for (text, expected) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        for sub in ["run", "check-config"] {
            let out = tradebeat(dir.path())
                .args([sub, "--config"])
                .arg(&path)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{sub} with {text:?}: {stderr}");
            assert!(stderr.contains(expected), "{sub} with {text:?}: {stderr}");
        }
    }
    // Nothing started: no database, no log directory.
    assert!(!dir.path().join("data").exists());
    assert!(!dir.path().join("logs").exists());
}

#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let dir = tempdir();
    let out = tradebeat(dir.path())
        .arg("check-config")
        .env(
            "TRADEBEAT_EXCHANGE__API_KEY",
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        )
        .env("TRADEBEAT_EXCHANGE__API_SECRET", SECRET)
        .env("TRADEBEAT_HEARTBEAT__PERIOD_SECS", "30")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("period_secs = 30"),
        "env overrides apply: {stdout}"
    );
    assert!(stdout.contains("[market_data]") && stdout.contains("BTCUSDT"));
    assert!(!stdout.contains(SECRET));
    assert!(!stdout.contains("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"));
}

/// `check-config` refuses a plain-text URL to a non-loopback host on mainnet or with keys,
/// and a URL with a password, naming the key and its variable and printing neither the
/// password nor the credentials. (`run` loads the config the same way; it is left out
/// here because, were the check missing, it would start and wait for a signal.)
#[test]
fn check_config_refuses_plain_text_and_passwords_in_urls_without_printing_them() {
    let dir = tempdir();
    let keys = [
        ("TRADEBEAT_EXCHANGE__API_KEY", "key-for-the-leak-test"),
        ("TRADEBEAT_EXCHANGE__API_SECRET", SECRET),
    ];
    // (the network, the variable, its url, what the message names); keys on testnet
    let cases = [
        (
            "mainnet",
            "TRADEBEAT_EXCHANGE__REST_URL",
            "http://api.binance.com",
            "`exchange.rest_url` from TRADEBEAT_EXCHANGE__REST_URL",
        ),
        (
            "testnet",
            "TRADEBEAT_EXCHANGE__WS_API_URL",
            "ws://10.1.2.3:9001/ws-api/v3",
            "`exchange.ws_api_url` from TRADEBEAT_EXCHANGE__WS_API_URL",
        ),
        (
            "testnet",
            "TRADEBEAT_EXCHANGE__REST_URL",
            "https://alice:P4SSW0RD-url@proxy.example",
            "`exchange.rest_url` from TRADEBEAT_EXCHANGE__REST_URL",
        ),
    ];
    for (network, name, url, expected) in cases {
        let keys = if network == "testnet" { &keys[..] } else { &[] };
        let out = tradebeat(dir.path())
            .arg("check-config")
            .env("TRADEBEAT_EXCHANGE__NETWORK", network)
            .envs(keys.iter().copied())
            .env(name, url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(out.stdout.is_empty(), "{url}: printed a config");
        for hidden in [SECRET, "key-for-the-leak-test", "P4SSW0RD-url", "alice"] {
            assert!(!stderr.contains(hidden), "{url}: {stderr}");
        }
    }
}

/// Config input that used to crash or exhaust the process: an environment value nested
/// 1600 levels (stack overflow, SIGABRT, exit 134), a key of 20 000 levels (the same), and
/// `api_key_file = "/dev/zero"` (`run` read it until memory ran out, ignoring SIGTERM).
/// Both `run` and `check-config` now exit 2 at once, naming the variable or the file, in an
/// address space capped at 1 GiB (`ulimit -v`), and start nothing.
#[test]
fn config_input_that_crashed_or_exhausted_the_process_exits_2_at_once_in_bounded_memory() {
    let dir = tempdir();
    let deep_value = "[".repeat(1600);
    let deep_key = format!("TRADEBEAT_A{}", "__A".repeat(20_000));
    let cases: [(&[(&str, &str)], &str); 3] = [
        (
            &[("TRADEBEAT_MARKET_DATA__SYMBOLS", &deep_value)],
            "from TRADEBEAT_MARKET_DATA__SYMBOLS: is nested 1602 levels deep",
        ),
        (&[(&deep_key, "1")], "is nested 20001 levels deep"),
        (
            &[
                ("TRADEBEAT_EXCHANGE__API_KEY_FILE", "/dev/zero"),
                ("TRADEBEAT_EXCHANGE__API_SECRET", SECRET),
            ],
            "cannot read `exchange.api_key_file` /dev/zero: is not a regular file",
        ),
    ];
    for (env, expected) in cases {
        for sub in ["run", "check-config"] {
            let started = Instant::now();
            let mut child = tradebeat_command_memory_capped(dir.path(), 1024 * 1024)
                .arg(sub)
                .envs(env.iter().copied())
                .spawn()
                .unwrap();
            let status = wait_exit(&mut child, Duration::from_secs(20));
            let elapsed = started.elapsed();
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            assert_eq!(
                status.code(),
                Some(2),
                "{sub} {expected:?}: {status:?} {stderr}"
            );
            assert!(stderr.contains(expected), "{sub}: {stderr}");
            assert!(!stderr.contains(SECRET), "{sub}: {stderr}");
            assert!(
                stderr.len() < 1000,
                "{sub}: a long name is shortened: {stderr}"
            );
            assert!(elapsed < Duration::from_secs(5), "{sub} took {elapsed:?}");
        }
    }
    // Nothing started: no database, no log directory.
    assert!(!dir.path().join("data").exists());
    assert!(!dir.path().join("logs").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_deleted_and_replaced_while_running_ends_the_daemon_non_zero_with_an_error() {
    let sim = sim().await;
    let dir = tempdir();
    let config = write_config(dir.path(), &sim.base_url());
    let db = dir.path().join("data/tradebeat.db");
    let mut child = tradebeat(dir.path())
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("a beat", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 1
    })
    .await;

    // Deleted, then replaced by another file of the same name (a restore gone wrong).
    std::fs::remove_file(&db).unwrap();
    std::fs::write(&db, b"").unwrap();
    let logs = dir.path().join("logs/tradebeat.log");
    let (status, out) = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let Some(status) = child.try_wait().unwrap() else {
            let _ = child.kill();
            let log = std::fs::read_to_string(&logs).unwrap_or_default();
            panic!("the daemon did not exit; its log:\n{log}");
        };
        (status, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1), "exit status {status:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("database watch"), "stderr: {stderr}");
    let log = std::fs::read_to_string(dir.path().join("logs/tradebeat.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("deleted or replaced under the daemon"))
        .unwrap_or_else(|| panic!("no line about the replaced database in:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&db.display().to_string()), "{line}");
    // Nothing was written to the new file: it is still the empty file put there.
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_or_foreign_empty_database_file_is_refused_at_start_and_left_untouched() {
    let sim = sim().await;
    for case in ["empty", "read-only"] {
        let dir = tempdir();
        let config = write_config(dir.path(), &sim.base_url());
        let db = dir.path().join("data/tradebeat.db");
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let expected = match case {
            "empty" => {
                std::fs::write(&db, b"").unwrap();
                "the file is empty and tradebeat did not create it"
            }
            _ => {
                let conn = rusqlite::Connection::open(&db).unwrap();
                conn.execute_batch("CREATE TABLE kept(x)").unwrap();
                drop(conn);
                std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
                "the file is read-only"
            }
        };
        let before = std::fs::read(&db).unwrap();
        let mut child = tradebeat(dir.path())
            .args(["run", "--config"])
            .arg(&config)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Before the refusal it ran on (an empty file became a new database): bounded.
        wait_exit(&mut child, Duration::from_secs(15));
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}: {stderr}");
        assert!(stderr.contains(expected), "{case}: {stderr}");
        assert_eq!(
            std::fs::read(&db).unwrap(),
            before,
            "{case}: the file changed"
        );
        assert!(!dir.path().join("data/tradebeat.db-wal").exists(), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_file_deleted_while_running_ends_the_daemon_non_zero_with_an_error() {
    let sim = sim().await;
    let dir = tempdir();
    let config = write_config(dir.path(), &sim.base_url());
    let db = dir.path().join("data/tradebeat.db");
    let mut child = tradebeat(dir.path())
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("a beat", Duration::from_secs(20), || {
        heartbeat_count(&db) >= 1
    })
    .await;

    std::fs::remove_file(dir.path().join("data/tradebeat.db.lock")).unwrap();
    let (status, out) = tokio::task::spawn_blocking(move || {
        let status = wait_exit(&mut child, Duration::from_secs(10));
        (status, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status.code(), Some(1), "exit status {status:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lock watch"), "stderr: {stderr}");
    let log = std::fs::read_to_string(dir.path().join("logs/tradebeat.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("the instance lock file was deleted or replaced"))
        .unwrap_or_else(|| panic!("no line about the lock file in:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
}
