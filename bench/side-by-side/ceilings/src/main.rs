//! Native raw ceilings for `bench/side-by-side/run.sh`, so that neither ceiling carries
//! Python's per-call cost:
//!
//! - `side-by-side-ceilings upsert EMPTY_DB ROWS_DB SYMBOL_IDS SAMPLES OUT_DB`: reads the 1m
//!   klines of `SYMBOL_IDS` (comma-separated) from `ROWS_DB` (a copy of the daemon's
//!   database after its backfills: the same rows), then `SAMPLES` times copies `EMPTY_DB`
//!   (the same database with its klines deleted) to `OUT_DB` and upserts every row through
//!   tradebeat's own upsert statement with the store's pragmas (WAL, synchronous=NORMAL,
//!   foreign keys on, no auto-checkpoint), one transaction per 1000 rows. Prints one JSON
//!   line: `{"rows": N, "rows_per_s": [..]}`.
//! - `side-by-side-ceilings post HOST:PORT KEY SECRET N PRICE`: N × (a signed
//!   `POST /api/v3/order`, LIMIT BUY GTC 0.001 BTCUSDT at PRICE, then its signed
//!   `DELETE /api/v3/order`) on one keep-alive HTTP/1.1 connection written by hand over a
//!   `TcpStream` (no client library), after 10 warm-up pairs. Each call is timed from
//!   signing to the whole answer read. Prints `{"place_us": [..], "cancel_us": [..]}`.
//! - `side-by-side-ceilings socket SOCKET N PRICE`: not a ceiling but tradebeat's side
//!   driven natively: N × (`order.place`, LIMIT BUY GTC 0.001 BTCUSDT at PRICE, then
//!   `order.cancel` of it) over the daemon's control socket, JSON-RPC lines written by hand,
//!   5 pairs to a connection as `bench.py` does (connections opened beforehand, each with an
//!   untimed `status`), after 10 warm-up pairs. Each call is timed from the request line
//!   written to the answer line read. Prints `{"place_us": [..], "cancel_us": [..]}`. The
//!   difference from the `post` figures is then the daemon's overhead without Python's
//!   per-call cost on either side.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac as _};
use rusqlite::{Connection, params};
use sha2::Sha256;

const UPSERT: &str =
    "INSERT INTO klines (symbol_id, interval, open_time, close_time, open, high, low, close,
                             volume, quote_volume, trades, taker_buy_base_volume,
                             taker_buy_quote_volume, closed_before)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (symbol_id, interval, open_time) DO UPDATE SET
             close_time = excluded.close_time, open = excluded.open, high = excluded.high,
             low = excluded.low, close = excluded.close, volume = excluded.volume,
             quote_volume = excluded.quote_volume, trades = excluded.trades,
             taker_buy_base_volume = excluded.taker_buy_base_volume,
             taker_buy_quote_volume = excluded.taker_buy_quote_volume,
             closed_before = excluded.closed_before";

type Row = (
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
    f64,
    f64,
    f64,
    i64,
    f64,
    f64,
    i64,
);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str);
    match mode {
        Some("upsert") if args.len() == 7 => upsert(&args[2..]),
        Some("post") if args.len() == 7 => post(&args[2..]),
        Some("socket") if args.len() == 5 => socket(&args[2..]),
        _ => {
            eprintln!(
                "usage: side-by-side-ceilings upsert EMPTY_DB ROWS_DB SYMBOL_IDS SAMPLES OUT_DB\n       side-by-side-ceilings post HOST:PORT KEY SECRET N PRICE\n       side-by-side-ceilings socket SOCKET N PRICE"
            );
            std::process::exit(2);
        }
    }
}

fn upsert(args: &[String]) {
    let (empty, rows_db, ids, samples, out) = (&args[0], &args[1], &args[2], &args[3], &args[4]);
    let samples: usize = samples.parse().expect("SAMPLES");
    let src = Connection::open(rows_db).expect("ROWS_DB");
    let mut rows: Vec<Row> = Vec::new();
    for id in ids.split(',') {
        let id: i64 = id.parse().expect("SYMBOL_IDS");
        let mut stmt = src
            .prepare(
                "SELECT symbol_id, open_time, close_time, open, high, low, close, volume,
                        quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume,
                        closed_before
                 FROM klines WHERE symbol_id = ?1 AND interval = '1m' ORDER BY open_time",
            )
            .expect("select");
        let found = stmt
            .query_map([id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                ))
            })
            .expect("query")
            .collect::<Result<Vec<Row>, _>>()
            .expect("rows");
        rows.extend(found);
    }
    let mut rates = Vec::with_capacity(samples);
    for _ in 0..samples {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{out}{suffix}"));
        }
        std::fs::copy(empty, out).expect("copy EMPTY_DB");
        let mut conn = Connection::open(out).expect("OUT_DB");
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .expect("WAL");
        assert_eq!(mode, "wal");
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0;",
        )
        .expect("pragmas");
        let started = Instant::now();
        for page in rows.chunks(1000) {
            let tx = conn.transaction().expect("begin");
            {
                let mut stmt = tx.prepare_cached(UPSERT).expect("prepare");
                for k in page {
                    stmt.execute(params![
                        k.0, "1m", k.1, k.2, k.3, k.4, k.5, k.6, k.7, k.8, k.9, k.10, k.11, k.12
                    ])
                    .expect("upsert");
                }
            }
            tx.commit().expect("commit");
        }
        rates.push(rows.len() as f64 / started.elapsed().as_secs_f64());
    }
    let rates: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    println!(
        "{{\"rows\": {}, \"rows_per_s\": [{}]}}",
        rows.len(),
        rates.join(", ")
    );
}

fn sign(secret: &str, payload: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

/// Reads one HTTP/1.1 answer with a Content-Length body: (status, body).
fn read_answer(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("content-length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    (status, String::from_utf8(body).expect("UTF-8 body"))
}

fn post(args: &[String]) {
    let (addr, key, secret, n, price) = (&args[0], &args[1], &args[2], &args[3], &args[4]);
    let n: usize = n.parse().expect("N");
    let stream = TcpStream::connect(addr.as_str()).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut latencies = Latencies::new(n);
    for i in 0..n + WARM_UP {
        let t0 = Instant::now();
        let body = format!(
            "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price={price}&timestamp={}&recvWindow=5000",
            now_ms()
        );
        let body = format!("{body}&signature={}", sign(secret, &body));
        let request = format!(
            "POST /api/v3/order HTTP/1.1\r\nHost: {addr}\r\nX-MBX-APIKEY: {key}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(request.as_bytes()).expect("write");
        let (status, answer) = read_answer(&mut reader);
        let t1 = Instant::now();
        assert_eq!(status, 200, "POST /api/v3/order: {answer}");
        let order_id = digits_after(&answer, "\"orderId\":");
        let query = format!(
            "symbol=BTCUSDT&orderId={order_id}&timestamp={}&recvWindow=5000",
            now_ms()
        );
        let query = format!("{query}&signature={}", sign(secret, &query));
        let request = format!(
            "DELETE /api/v3/order?{query} HTTP/1.1\r\nHost: {addr}\r\nX-MBX-APIKEY: {key}\r\n\r\n"
        );
        writer.write_all(request.as_bytes()).expect("write");
        let (status, answer) = read_answer(&mut reader);
        let t2 = Instant::now();
        assert_eq!(status, 200, "DELETE /api/v3/order: {answer}");
        latencies.pair(i, t0, t1, t2);
    }
    latencies.print();
}

/// One control-socket connection: a request line out, an answer line back.
struct Rpc {
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    next_id: u64,
}

impl Rpc {
    fn open(path: &str) -> Rpc {
        let stream = UnixStream::connect(path).expect("connect the control socket");
        let writer = stream.try_clone().expect("clone");
        Rpc {
            writer,
            reader: BufReader::new(stream),
            next_id: 0,
        }
    }

    /// Sends `method` with `params` (a JSON object's text) and returns the answer line.
    fn call(&mut self, method: &str, params: &str) -> String {
        self.next_id += 1;
        let line = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"{method}\",\"params\":{params}}}\n",
            self.next_id
        );
        self.writer.write_all(line.as_bytes()).expect("write");
        let mut answer = String::new();
        self.reader.read_line(&mut answer).expect("read");
        assert!(answer.contains("\"result\""), "{method}: {answer}");
        answer
    }
}

fn socket(args: &[String]) {
    let (path, n, price) = (&args[0], &args[1], &args[2]);
    let n: usize = n.parse().expect("N");
    let total = n + WARM_UP;
    let mut latencies = Latencies::new(n);
    let order = format!(
        "{{\"symbol\":\"BTCUSDT\",\"side\":\"BUY\",\"type\":\"LIMIT\",\"time_in_force\":\"GTC\",\"quantity\":\"0.001\",\"price\":\"{price}\"}}"
    );
    let mut i = 0;
    while i < total {
        let mut pool: Vec<Rpc> = (0..(total - i).div_ceil(5).min(40))
            .map(|_| Rpc::open(path))
            .collect();
        for rpc in &mut pool {
            rpc.call("status", "{}");
        }
        for rpc in &mut pool {
            for _ in 0..5 {
                if i >= total {
                    break;
                }
                let t0 = Instant::now();
                let answer = rpc.call("order.place", &order);
                let t1 = Instant::now();
                let order_id = digits_after(&answer, "\"order_id\":");
                rpc.call(
                    "order.cancel",
                    &format!("{{\"symbol\":\"BTCUSDT\",\"order_id\":{order_id}}}"),
                );
                latencies.pair(i, t0, t1, Instant::now());
                i += 1;
            }
        }
    }
    latencies.print();
}

/// Pairs timed before the measured ones, not counted.
const WARM_UP: usize = 10;

/// The digits that follow `key` in `answer` (an order id in a JSON answer).
fn digits_after(answer: &str, key: &str) -> String {
    answer
        .split(key)
        .nth(1)
        .unwrap_or_else(|| panic!("{key} in {answer}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// Place and cancel latencies, µs, of the pairs after the warm-up.
struct Latencies {
    place: Vec<f64>,
    cancel: Vec<f64>,
}

impl Latencies {
    fn new(n: usize) -> Latencies {
        Latencies {
            place: Vec::with_capacity(n),
            cancel: Vec::with_capacity(n),
        }
    }

    /// Pair `i`, sent at `t0`, placed at `t1` and cancelled at `t2`; the first [`WARM_UP`]
    /// pairs are not kept.
    fn pair(&mut self, i: usize, t0: Instant, t1: Instant, t2: Instant) {
        if i >= WARM_UP {
            self.place.push((t1 - t0).as_secs_f64() * 1e6);
            self.cancel.push((t2 - t1).as_secs_f64() * 1e6);
        }
    }

    /// Prints `{"place_us": [..], "cancel_us": [..]}`, µs with one decimal.
    fn print(&self) {
        let list = |xs: &[f64]| {
            xs.iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{{\"place_us\": [{}], \"cancel_us\": [{}]}}",
            list(&self.place),
            list(&self.cancel)
        );
    }
}
