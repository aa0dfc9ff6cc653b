"""The ccxt peer of the side-by-side bench (`run.sh`): what a ccxt user would write.

Run by `bench.py` inside the bench's own venv (ccxt pinned there); every mode prints one
JSON line on stdout with its figures. The exchange is `exchange-sim` on loopback: ccxt's
Binance URLs are pointed at it (`--base`), only spot markets are loaded, currencies are not
fetched (the simulator serves no `/sapi`), and ccxt's built-in throttle is off (the
simulator is started with a weight limit no run reaches; tradebeat's own weight tracking
stays on, but it never waits either).

Modes:
  cold                     import ccxt + load_markets, then print and exit (the caller times
                           the process from spawn to the line);
  backfill SYMBOLS DAYS DB fetch_ohlcv 1m pages of 1000 from DAYS ago to now, symbols
                           concurrently under asyncio, each page upserted into DB (the
                           `klines` schema, one transaction per page, WAL, synchronous=NORMAL);
  orders N SYMBOL PRICE    N × (create_order LIMIT BUY GTC, then cancel_order), each call timed;
  poll SYMBOLS INTERVALS DB
                           a beat loop: fetch_tickers for all symbols, then fetch_ohlcv of
                           every series with a candle closed since its newest stored one,
                           concurrently, all upserted in one transaction; one beat at start,
                           then `armed` is printed and one beat runs per `go` line on stdin;
                           each prints its time, the series fetched and the process's
                           VmRSS/VmHWM after it.
"""

import asyncio
import json
import sqlite3
import sys
import time

T0 = time.perf_counter()

KLINES_DDL = """
CREATE TABLE IF NOT EXISTS klines (
    symbol_id INTEGER NOT NULL, interval TEXT NOT NULL, open_time INTEGER NOT NULL,
    close_time INTEGER NOT NULL, open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL,
    close REAL NOT NULL, volume REAL NOT NULL, quote_volume REAL NOT NULL,
    trades INTEGER NOT NULL, taker_buy_base_volume REAL NOT NULL,
    taker_buy_quote_volume REAL NOT NULL,
    PRIMARY KEY (symbol_id, interval, open_time)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tickers (
    symbol TEXT NOT NULL, time INTEGER NOT NULL, last REAL, bid REAL, ask REAL,
    volume REAL, PRIMARY KEY (symbol, time)
);
"""

# What a ccxt user gets from fetch_ohlcv is [t, o, h, l, c, v]; the other columns of the
# schema are filled the way such a user would (close time from the interval, zeros).
UPSERT = """
INSERT INTO klines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0)
ON CONFLICT (symbol_id, interval, open_time) DO UPDATE SET
  close_time = excluded.close_time, open = excluded.open, high = excluded.high,
  low = excluded.low, close = excluded.close, volume = excluded.volume
"""

MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
      "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "1d": 86_400_000}


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def open_db(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(KLINES_DDL)
    return db


def configure(exchange, base, key=None, secret=None):
    for name, url in list(exchange.urls["api"].items()):
        if isinstance(url, str) and url.startswith("https://api.binance.com/"):
            exchange.urls["api"][name] = base + url[len("https://api.binance.com"):]
    exchange.options["fetchMarkets"] = {"types": ["spot"]}
    exchange.options["fetchCurrencies"] = False
    exchange.options["fetchMargins"] = False  # /sapi margin pairs: not served
    exchange.enableRateLimit = False
    if key:
        exchange.apiKey = key
        exchange.secret = secret
    return exchange


def rss():
    fields = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":")
                fields[name] = int(value.split()[0])
    return fields


def upsert_page(db, symbol_id, interval, page):
    step = MS[interval]
    rows = [(symbol_id, interval, c[0], c[0] + step - 1, c[1], c[2], c[3], c[4], c[5])
            for c in page]
    db.execute("BEGIN")
    db.executemany(UPSERT, rows)
    db.execute("COMMIT")
    return len(rows)


def cold(base):
    import ccxt  # noqa: F401  (timed: the import is part of the cold start)
    exchange = configure(ccxt.binance(), base)
    exchange.load_markets()
    out({"ready_s": time.perf_counter() - T0, "markets": len(exchange.markets)})


async def backfill(base, symbols, days, db_path):
    import ccxt.async_support as ccxt
    exchange = configure(ccxt.binance(), base)
    db = open_db(db_path)
    try:
        await exchange.load_markets()
        started = time.perf_counter()
        now = exchange.milliseconds()
        since0 = (now - days * 86_400_000) // 60_000 * 60_000
        total = [0]

        async def one(i, symbol):
            since = since0
            while True:
                page = await exchange.fetch_ohlcv(symbol, "1m", since=since, limit=1000)
                page = [c for c in page if c[0] + 60_000 <= now]  # closed candles only
                if not page:
                    break
                total[0] += upsert_page(db, i, "1m", page)
                since = page[-1][0] + 60_000
                if len(page) < 1000:
                    break

        await asyncio.gather(*(one(i, s) for i, s in enumerate(symbols, 1)))
        out({"rows": total[0], "seconds": time.perf_counter() - started})
    finally:
        await exchange.close()


def orders(base, key, secret, n, symbol, price):
    import ccxt
    exchange = configure(ccxt.binance(), base, key, secret)
    exchange.load_markets()
    place, cancel = [], []
    for i in range(n + 10):  # 10 warm-up pairs, not counted
        t = time.perf_counter_ns()
        order = exchange.create_order(symbol, "limit", "buy", 0.001, price)
        t1 = time.perf_counter_ns()
        exchange.cancel_order(order["id"], symbol)
        t2 = time.perf_counter_ns()
        if i >= 10:
            place.append((t1 - t) / 1000)
            cancel.append((t2 - t1) / 1000)
    out({"place_us": place, "cancel_us": cancel})


async def poll(base, symbols, intervals, db_path):
    import ccxt.async_support as ccxt
    exchange = configure(ccxt.binance(), base)
    db = open_db(db_path)
    newest = {}  # (symbol, interval) -> open time of the newest stored candle

    async def series(i, symbol, interval, now):
        last = newest.get((symbol, interval))
        step = MS[interval]
        if last is not None and last + 2 * step > now:
            return None  # no candle closed since the newest stored one
        page = await exchange.fetch_ohlcv(symbol, interval, limit=2 if last else 1000)
        return i, symbol, interval, [c for c in page if c[0] + step <= now]

    async def beat():
        started = time.perf_counter()
        now = exchange.milliseconds()
        tickers = await exchange.fetch_tickers(symbols)
        pages = await asyncio.gather(*(series(i, s, iv, now)
                                       for i, s in enumerate(symbols, 1) for iv in intervals))
        fetched = 0
        db.execute("BEGIN")
        db.executemany("INSERT OR REPLACE INTO tickers VALUES (?, ?, ?, ?, ?, ?)",
                       [(t["symbol"], now, t["last"], t["bid"], t["ask"], t["baseVolume"])
                        for t in tickers.values()])
        for p in pages:
            if p is None:
                continue
            i, s, iv, page = p
            fetched += 1
            step = MS[iv]
            db.executemany(UPSERT, [(i, iv, c[0], c[0] + step - 1, c[1], c[2], c[3], c[4],
                                     c[5]) for c in page])
            if page:
                newest[(s, iv)] = page[-1][0]
        db.execute("COMMIT")
        return {"seconds": time.perf_counter() - started, "series": fetched, **rss()}

    try:
        await exchange.load_markets()
        await beat()
        out({"armed": True, **rss()})
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if line.strip() != "go":
                break
            out(await beat())
    finally:
        await exchange.close()


def main(argv):
    mode, base = argv[1], argv[2]
    if mode == "cold":
        cold(base)
    elif mode == "backfill":
        asyncio.run(backfill(base, argv[3].split(","), int(argv[4]), argv[5]))
    elif mode == "orders":
        orders(base, argv[3], argv[4], int(argv[5]), argv[6], argv[7])
    elif mode == "poll":
        asyncio.run(poll(base, argv[3].split(","), argv[4].split(","), argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
