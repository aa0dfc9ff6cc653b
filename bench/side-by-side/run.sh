#!/usr/bin/env bash
# Side-by-side bench: tradebeat against a Python ccxt client, both talking to the same
# exchange-sim on loopback, interleaved (the side that goes first alternates per round),
# with the raw ceilings beside them. Not part of the test command; takes a few minutes.
#
#   bash bench/side-by-side/run.sh            # ROUNDS=3 ORDERS=200 by default
#   ROUNDS=5 ORDERS=500 bash bench/side-by-side/run.sh
#
# What it does:
#   1. builds `tradebeat` and `exchange-sim` with `cargo build --release --locked`, and the
#      native ceilings (below) the same way;
#   2. creates a venv at target/side-by-side-venv (python3 -m venv; needs python3-venv, which
#      is installed with apt-get when missing and running as root) and pip-installs ccxt,
#      pinned to CCXT_VERSION below, from PyPI (the only download);
#   3. starts exchange-sim on 127.0.0.1 (a free port, 200 extra symbols, a weight and order
#      limit no run reaches, so the weight window is always empty), then per round:
#      (every tradebeat daemon runs with MALLOC_ARENA_MAX=2 and the GLIBC_TUNABLES of
#      systemd/tradebeat.service, as the unit sets them)
#      - cold start: tradebeat `run` (fresh directory, no symbol, API key set, so its
#        user-data stream connects and stays up for the orders below) from spawn to its
#        socket answering `status` with the startup beat done; ccxt: python spawn → `import
#        ccxt` + `load_markets()` done (spot markets only);
#      - backfill 20 d × BTCUSDT and 30 d × 5 symbols (1m): tradebeat `symbol.add` (with
#        `backfill_days`) then `backfill.wait` until the jobs end, from the first request;
#        ccxt `fetch_ohlcv` paged 1000 at a time, symbols concurrently (asyncio), each page
#        upserted into sqlite3 (WAL, synchronous=NORMAL), from the first fetch (after
#        `load_markets`). The 20 d figure in seconds is also issue 19's `symbol.add` goal;
#      - orders: N × (LIMIT BUY far below the market, then cancel) on BTCUSDT: tradebeat
#        `order.place` / `order.cancel` over the control socket (JSON-RPC lines written from
#        Python, no `ctl` process; 5 pairs per connection, as the socket allows 10 exchange
#        requests per connection in a burst, connections opened beforehand, untimed), ccxt
#        `create_order` / `cancel_order` (one keep-alive session); 10 warm-up pairs each,
#        not counted;
#      - the same tradebeat orders from a native client (bench/side-by-side/ceilings,
#        `socket`: JSON-RPC lines written by hand over the control socket, as the Python
#        client does), so that the overhead over the native bare POST carries no Python;
#      - paper orders (issue 15): a paper daemon (no key, `paper.enabled`) on the same
#        simulator, N × (resting LIMIT, cancel) as above, then N × (MARKET buy, MARKET sell)
#        filled at the book (the symbol's `btcusdt@bookTicker` stream, which the warm-up
#        orders start); its order.place p50/p99 against the live order's overhead over the
#        bare POST of the same round;
#      - beat: a daemon following 200 symbols × 1m (1 day backfilled) and a ccxt asyncio
#        poller of the same (fetch_tickers + fetch_ohlcv of every series with a newly closed
#        candle, one sqlite3 transaction), both armed, then one beat each just after a minute
#        closed: tradebeat `sync.now` timed from request to answer (the beat is committed
#        then), ccxt its whole beat;
#      - steady RSS: the same with 100 symbols × 5 intervals (1m 15m 1h 4h 1d; the ccxt
#        process starts with 1000 candles per series); VmRSS (MB = KiB × 1024 / 10^6) of the
#        tradebeat daemon 1 s after that beat and of the ccxt process right after it;
#   4. stops everything and prints one table (medians over rounds) and the per-round figures.
#
# Columns: "tradebeat" and "ccxt" are the two clients' medians over rounds (for latencies:
# each round's p50/p99, then their median); "ccxt/tb" is ccxt's figure over tradebeat's
# (rows/s: below 1 means ccxt is slower; times and memory: above 1 means ccxt takes more).
# "raw ceiling" is native, from bench/side-by-side/ceilings (a small Rust program, built
# here into target/side-by-side-ceilings, outside the workspace):
#   - backfills: rusqlite upserts of the very rows the daemon stored (read from a copy of its
#     database) into a copy of its database with the klines deleted, through tradebeat's
#     upsert statement with the store's pragmas (WAL, synchronous=NORMAL, foreign keys on,
#     no auto-checkpoint), 1000 rows per transaction; median of 3; "tb N %" is tradebeat's
#     share of it. It is what benches/backfill.rs calls its ceiling, minus the store's
#     wrapper (pool checkout, its transaction helper);
#   - orders: a bare signed `POST /api/v3/order` (then its `DELETE`) on one keep-alive
#     HTTP/1.1 connection written by hand on a TcpStream, HMAC-SHA256 signed; "tb +N" is
#     tradebeat's overhead over it. A native client library adds to this floor: reqwest on
#     tokio, as tradebeat uses it, +58 to +118 µs at the p50 on a 2-core machine
#     (BENCHMARKS.md, issue 19, "the stream's writes wait for a quiet moment").
# "raw (Python)" is the same two ceilings done in Python (sqlite3 `executemany`;
# http.client), shown for the ccxt side: Python's own per-call cost is in them.
# "goal" and "verdict" are issue 19's goals against the native ceiling: met, or missed by
# how much.

set -euo pipefail

CCXT_VERSION=4.5.20
ROUNDS=${ROUNDS:-3}
ORDERS=${ORDERS:-200}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}

command -v python3 >/dev/null || { echo "run.sh: python3 is needed" >&2; exit 2; }
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        apt-get install -y "python${pyver}-venv" || apt-get install -y python3-venv
    else
        echo "run.sh: python3's venv module is missing: install python3-venv" \
             "(e.g. sudo apt-get install python3-venv) and run again" >&2
        exit 2
    fi
fi

echo "== building tradebeat, exchange-sim and the native ceilings (release)" >&2
cargo build --release --locked -p tradebeat -p exchange-sim --bins >&2
cargo build --release --locked --manifest-path bench/side-by-side/ceilings/Cargo.toml \
    --target-dir "$target/side-by-side-ceilings" >&2

venv=$target/side-by-side-venv
if ! "$venv/bin/python" -c "import ccxt, sys; sys.exit(ccxt.__version__ != '$CCXT_VERSION')" \
        2>/dev/null; then
    echo "== creating $venv with ccxt $CCXT_VERSION" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "ccxt==$CCXT_VERSION" >&2
fi

echo "== running $ROUNDS rounds" >&2
exec "$venv/bin/python" "$repo/bench/side-by-side/bench.py" \
    --tradebeat "$target/release/tradebeat" --sim "$target/release/exchange-sim" \
    --ceilings "$target/side-by-side-ceilings/release/side-by-side-ceilings" \
    --rounds "$ROUNDS" --orders "$ORDERS"
