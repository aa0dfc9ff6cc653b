"""Side-by-side bench of tradebeat and a ccxt client against the same `exchange-sim`.

Started by `run.sh` (which builds the binaries and the venv); see there for what each
column means. Usage:

  bench.py --tradebeat PATH --sim PATH [--rounds 3] [--orders 200]

Prints progress on stderr and the table (plus the per-round figures) on stdout.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tradebeat_client import Daemon, Rpc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CCXT_CLIENT = os.path.join(HERE, "ccxt_client.py")

# The simulator is started with this key pair (not its built-in one, to show nothing else
# is assumed); both clients sign with it.
KEY = "sideBySideBenchKey0" + "A1b2C3d4E5" * 4 + "xyz0Q"
SECRET = "sideBySideBenchSecret0" + "Z9y8X7w6V5" * 4 + "ab"

BACKFILL20 = ["BTCUSDT"]                           # 20 days × 1 symbol
BACKFILL30 = [f"SIM{i:03}USDT" for i in range(1, 6)]  # 30 days × 5 symbols
BEAT_SYMBOLS = [f"SIM{i:03}USDT" for i in range(1, 201)]
RSS_SYMBOLS = [f"SIM{i:03}USDT" for i in range(1, 101)]
RSS_INTERVALS = ["1m", "15m", "1h", "4h", "1d"]

UPSERT = """INSERT INTO klines (symbol_id, interval, open_time, close_time, open, high, low,
    close, volume, quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume,
    closed_before)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
 ON CONFLICT (symbol_id, interval, open_time) DO UPDATE SET
     close_time = excluded.close_time, open = excluded.open, high = excluded.high,
     low = excluded.low, close = excluded.close, volume = excluded.volume,
     quote_volume = excluded.quote_volume, trades = excluded.trades,
     taker_buy_base_volume = excluded.taker_buy_base_volume,
     taker_buy_quote_volume = excluded.taker_buy_quote_volume,
     closed_before = excluded.closed_before"""


def log(msg):
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def pct(samples, p):
    s = sorted(samples)
    return s[min(len(s) - 1, round((len(s) - 1) * p))]


def med(xs):
    return statistics.median(xs)


# ---------------------------------------------------------------- the simulator

class Sim:
    def __init__(self, exe):
        self.proc = subprocess.Popen(
            [exe, "--port", "0", "--weight-limit", "1000000", "--orders-per-10s", "1000000",
             "--extra-symbols", "200", "--api-key", KEY, "--api-secret", SECRET],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"exchange-sim: {line!r}")
        self.url = line[len("listening on "):]
        self.host, port = urllib.parse.urlparse(self.url).netloc.split(":")
        self.port = int(port)

    def get(self, path):
        with urllib.request.urlopen(self.url + path) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ---------------------------------------------------------------- raw ceilings

def snapshot(db_path, directory):
    """Copies the daemon's database (sqlite3 backup: consistent while it runs) to
    rows.db, and the same with every kline deleted to empty.db; returns their paths."""
    rows_db = os.path.join(directory, "rows.db")
    empty_db = os.path.join(directory, "empty.db")
    src = sqlite3.connect(db_path)
    for path in (rows_db, empty_db):
        dst = sqlite3.connect(path)
        src.backup(dst)
        dst.close()
    src.close()
    db = sqlite3.connect(empty_db, isolation_level=None)
    db.execute("DELETE FROM klines")
    db.execute("VACUUM")
    db.close()
    return rows_db, empty_db


def symbol_ids(rows_db, symbols):
    db = sqlite3.connect(rows_db)
    ids = [db.execute("SELECT id FROM symbols WHERE market = 'spot' AND symbol = ?",
                      (s,)).fetchone()[0] for s in symbols]
    db.close()
    return ids


def raw_upsert_python(empty_db, rows_db, ids, directory):
    """rows/s of a Python sqlite3 `executemany` upsert of the same rows (read beforehand)
    into a copy of the empty database: tradebeat's statement and pragmas, 1000 rows per
    transaction."""
    src = sqlite3.connect(rows_db)
    rows = []
    for i in ids:
        rows += src.execute(
            "SELECT symbol_id, interval, open_time, close_time, open, high, low, close, volume,"
            " quote_volume, trades, taker_buy_base_volume, taker_buy_quote_volume,"
            " closed_before FROM klines WHERE symbol_id = ? AND interval = '1m'"
            " ORDER BY open_time", (i,)).fetchall()
    src.close()
    path = os.path.join(directory, "raw-py.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    shutil.copyfile(empty_db, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA wal_autocheckpoint=0")
    started = time.perf_counter()
    for i in range(0, len(rows), 1000):
        db.execute("BEGIN")
        db.executemany(UPSERT, rows[i:i + 1000])
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return len(rows) / seconds


def raw_upsert_native(ceilings, empty_db, rows_db, ids, directory):
    """The same in Rust (rusqlite), 3 samples: their median rows/s."""
    out = subprocess.run([ceilings, "upsert", empty_db, rows_db, ",".join(map(str, ids)),
                          "3", os.path.join(directory, "raw-rs.db")],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return med(json.loads(out)["rows_per_s"])


def bare_post_native(ceilings, sim, n, price):
    out = subprocess.run([ceilings, "post", f"{sim.host}:{sim.port}", KEY, SECRET, str(n),
                          price], check=True, stdout=subprocess.PIPE, text=True).stdout
    out = json.loads(out)
    return out["place_us"], out["cancel_us"]


def tb_orders_native(ceilings, daemon, n, price):
    """The same pairs as `tb_orders`, over the same socket, from the native client
    (`side-by-side-ceilings socket`): no Python on tradebeat's side either."""
    out = subprocess.run([ceilings, "socket", daemon.socket, str(n), price], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    out = json.loads(out)
    return out["place_us"], out["cancel_us"]


def bare_post_python(sim, n, price):
    """A bare signed POST /api/v3/order then its DELETE, on one keep-alive connection,
    signed and timed in Python (http.client): µs per call."""
    conn = http.client.HTTPConnection(sim.host, sim.port)
    headers = {"X-MBX-APIKEY": KEY, "Content-Type": "application/x-www-form-urlencoded"}

    def signed(params):
        query = urllib.parse.urlencode(params)
        sig = hmac.new(SECRET.encode(), query.encode(), hashlib.sha256).hexdigest()
        return f"{query}&signature={sig}"

    place, cancel = [], []
    for i in range(n + 10):
        t = time.perf_counter_ns()
        body = signed({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                       "timeInForce": "GTC", "quantity": "0.001", "price": price,
                       "timestamp": int(time.time() * 1000), "recvWindow": 5000})
        conn.request("POST", "/api/v3/order", body, headers)
        r = conn.getresponse()
        answer = json.loads(r.read())
        t1 = time.perf_counter_ns()
        if r.status != 200:
            raise RuntimeError(f"bare POST: {r.status} {answer}")
        query = signed({"symbol": "BTCUSDT", "orderId": answer["orderId"],
                        "timestamp": int(time.time() * 1000), "recvWindow": 5000})
        conn.request("DELETE", f"/api/v3/order?{query}", headers=headers)
        r = conn.getresponse()
        r.read()
        t2 = time.perf_counter_ns()
        if r.status != 200:
            raise RuntimeError(f"bare DELETE: {r.status}")
        if i >= 10:
            place.append((t1 - t) / 1000)
            cancel.append((t2 - t1) / 1000)
    conn.close()
    return place, cancel


# ---------------------------------------------------------------- tradebeat side

def tb_backfill(daemon, symbols, days):
    """symbol.add of each symbol (1m, `days`), then backfill.wait until every job ended:
    (seconds from the first request to the last job done, rows written)."""
    rpc = Rpc(daemon.socket)
    started = time.perf_counter()
    for s in symbols:
        rpc.call("symbol.add", {"symbol": s, "intervals": ["1m"], "backfill_days": days})
    rows = 0
    for s in symbols:
        while True:
            summary = rpc.call("backfill.wait", {"symbol": s, "timeout_ms": 60000})
            if summary.get("running", 0) == 0 and summary.get("pending", 0) == 0:
                break
        rows += summary.get("rows_written", 0)
        if summary.get("failed"):
            raise RuntimeError(f"backfill of {s} failed: {summary}")
    seconds = time.perf_counter() - started
    rpc.close()
    return seconds, rows


def tb_orders(daemon, n, price, market=False):
    """n × (order.place, order.cancel) over the socket, each timed from the request line
    sent to the answer line read. The socket allows a burst of 10 exchange requests per
    connection, then 5/s, so the pairs go 5 to a connection; the connections are opened in
    batches of 40 beforehand, each with one `status` call, none of which is timed.
    `market`: n × (MARKET buy, MARKET sell) of 0.001 instead (a paper daemon's fills)."""
    place, cancel = [], []
    total = n + 10  # 10 warm-up pairs, not counted
    i = 0
    while i < total:
        pool = [Rpc(daemon.socket) for _ in range(min(40, (total - i + 4) // 5))]
        for rpc in pool:
            rpc.call("status")
        for rpc in pool:
            for _ in range(5):
                if i >= total:
                    break
                t = time.perf_counter_ns()
                if market:
                    rpc.call("order.place", {"symbol": "BTCUSDT", "side": "BUY",
                                             "type": "MARKET", "quantity": "0.001"})
                    t1 = time.perf_counter_ns()
                    rpc.call("order.place", {"symbol": "BTCUSDT", "side": "SELL",
                                             "type": "MARKET", "quantity": "0.001"})
                    t2 = time.perf_counter_ns()
                else:
                    order = rpc.call("order.place", {"symbol": "BTCUSDT", "side": "BUY",
                                                     "type": "LIMIT", "time_in_force": "GTC",
                                                     "quantity": "0.001", "price": price})
                    t1 = time.perf_counter_ns()
                    rpc.call("order.cancel", {"symbol": "BTCUSDT",
                                              "order_id": order["order_id"]})
                    t2 = time.perf_counter_ns()
                if i >= 10:
                    place.append((t1 - t) / 1000)
                    cancel.append((t2 - t1) / 1000)
                i += 1
        for rpc in pool:
            rpc.close()
    return place, cancel


def wait_backfills(daemon, symbols, timeout=300):
    rpc = Rpc(daemon.socket)
    deadline = time.perf_counter() + timeout
    for s in symbols:
        while True:
            summary = rpc.call("backfill.wait", {"symbol": s, "timeout_ms": 60000})
            if summary.get("running", 0) == 0 and summary.get("pending", 0) == 0:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("backfill did not finish")
    rpc.close()


# ---------------------------------------------------------------- ccxt side

def ccxt_run(*args):
    out = subprocess.run([sys.executable, CCXT_CLIENT, *args], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ccxt_cold(sim):
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, CCXT_CLIENT, "cold", sim.url],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    seconds = time.perf_counter() - started
    proc.wait()
    json.loads(line)
    return seconds


class CcxtPoller:
    def __init__(self, sim, symbols, intervals, db):
        ccxt_symbols = [s[:-4] + "/USDT" for s in symbols]
        self.proc = subprocess.Popen(
            [sys.executable, CCXT_CLIENT, "poll", sim.url, ",".join(ccxt_symbols),
             ",".join(intervals), db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def armed(self):
        return json.loads(self.proc.stdout.readline())

    def beat(self):
        started = time.perf_counter()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        result["wall"] = time.perf_counter() - started
        return result

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# ---------------------------------------------------------------- one round

def one_round(r, args, sim, price, results):
    tb_first = r % 2 == 0
    order = ["tb", "ccxt"] if tb_first else ["ccxt", "tb"]
    tmp = tempfile.mkdtemp(prefix=f"sbs-r{r}-")
    res = {}
    try:
        # Cold start; the daemon stays up for the backfills and the orders.
        daemon = None
        for side in order:
            if side == "tb":
                d = os.path.join(tmp, "a")
                os.mkdir(d)
                daemon = Daemon(args.tradebeat, d, sim.url, [], ["1m"], 1, KEY, SECRET)
                res["tb_cold"] = daemon.wait_ready()
            else:
                res["ccxt_cold"] = ccxt_cold(sim)
        log(f"round {r + 1}: cold start tb {res['tb_cold']*1000:.0f} ms, "
            f"ccxt {res['ccxt_cold']*1000:.0f} ms")

        for name, symbols, days in (("bf20", BACKFILL20, 20), ("bf30", BACKFILL30, 30)):
            for side in order:
                if side == "tb":
                    sec, n = tb_backfill(daemon, symbols, days)
                    res[f"tb_{name}"] = n / sec
                    res[f"tb_{name}_s"] = sec
                    res[f"tb_{name}_rows"] = n
                else:
                    db = os.path.join(tmp, f"ccxt-{name}.db")
                    out = ccxt_run("backfill", sim.url,
                                   ",".join(x[:-4] + "/USDT" for x in symbols), str(days), db)
                    res[f"ccxt_{name}"] = out["rows"] / out["seconds"]
                    res[f"ccxt_{name}_s"] = out["seconds"]
                    res[f"ccxt_{name}_rows"] = out["rows"]
        # The raw ceilings upsert the very rows the daemon stored.
        rows_db, empty_db = snapshot(os.path.join(tmp, "a", "tradebeat.db"), tmp)
        for name, symbols in (("bf20", BACKFILL20), ("bf30", BACKFILL30)):
            ids = symbol_ids(rows_db, symbols)
            res[f"rawpy_{name}"] = raw_upsert_python(empty_db, rows_db, ids, tmp)
            if args.ceilings:
                res[f"raw_{name}"] = raw_upsert_native(args.ceilings, empty_db, rows_db, ids,
                                                       tmp)
            else:
                res[f"raw_{name}"] = res[f"rawpy_{name}"]
            log(f"round {r + 1}: {name} rows/s tb {res[f'tb_{name}']:.0f} "
                f"({res[f'tb_{name}_rows']} rows, {res[f'tb_{name}_s']:.3f} s), ccxt "
                f"{res[f'ccxt_{name}']:.0f} ({res[f'ccxt_{name}_rows']} rows), raw "
                f"{res[f'raw_{name}']:.0f}, raw Python {res[f'rawpy_{name}']:.0f}")

        # Paper trading's order.place beside them (issue 15: under the live order's
        # overhead): a paper daemon on the same simulator, no key, the same resting LIMIT
        # and cancel pairs, then MARKET buys and sells filled at the simulator's book.
        d = os.path.join(tmp, "p")
        os.mkdir(d)
        paper = Daemon(args.tradebeat, d, sim.url, [], ["1m"], 1, paper=True)
        paper.wait_ready()
        sides = order + ["paper", "bare"] if r % 2 == 0 else ["bare", "paper"] + order
        if args.ceilings:
            # tradebeat's orders from the native client too, right after the Python ones.
            sides.insert(sides.index("tb") + 1, "tbnative")
        for side in sides:
            if side == "paper":
                res["paper_place"], res["paper_cancel"] = tb_orders(paper, args.orders, price)
                res["paper_buy"], res["paper_sell"] = tb_orders(paper, args.orders, price,
                                                                market=True)
                paper.stop()
            elif side == "tbnative":
                res["tbn_place"], res["tbn_cancel"] = tb_orders_native(args.ceilings, daemon,
                                                                       args.orders, price)
            elif side == "tb":
                res["tb_place"], res["tb_cancel"] = tb_orders(daemon, args.orders, price)
            elif side == "ccxt":
                out = ccxt_run("orders", sim.url, KEY, SECRET, str(args.orders),
                               "BTC/USDT", price)
                res["ccxt_place"], res["ccxt_cancel"] = out["place_us"], out["cancel_us"]
            else:
                res["barepy_place"], res["barepy_cancel"] = bare_post_python(sim, args.orders,
                                                                             price)
                if args.ceilings:
                    res["bare_place"], res["bare_cancel"] = bare_post_native(
                        args.ceilings, sim, args.orders, price)
                else:
                    res["bare_place"], res["bare_cancel"] = (res["barepy_place"],
                                                             res["barepy_cancel"])
        log(f"round {r + 1}: paper place p50/p99 µs LIMIT {pct(res['paper_place'], .5):.0f}/"
            f"{pct(res['paper_place'], .99):.0f}, MARKET buy {pct(res['paper_buy'], .5):.0f}/"
            f"{pct(res['paper_buy'], .99):.0f}, live overhead "
            f"{pct(res['tb_place'], .5) - pct(res['bare_place'], .5):.0f}/"
            f"{pct(res['tb_place'], .99) - pct(res['bare_place'], .99):.0f}")
        if "tbn_place" in res:
            log(f"round {r + 1}: place p50/p99 µs tb native client "
                f"{pct(res['tbn_place'], .5):.0f}/{pct(res['tbn_place'], .99):.0f}")
        log(f"round {r + 1}: place p50/p99 µs tb {pct(res['tb_place'], .5):.0f}/"
            f"{pct(res['tb_place'], .99):.0f}, ccxt {pct(res['ccxt_place'], .5):.0f}/"
            f"{pct(res['ccxt_place'], .99):.0f}, bare {pct(res['bare_place'], .5):.0f}/"
            f"{pct(res['bare_place'], .99):.0f}")
        daemon.stop()

        # Beats: 200 symbols × 1m, and 100 symbols × 5 intervals (whose RSS is the steady
        # one). Everything is backfilled (1 day) and armed, then one beat each just after a
        # minute closed, so every side fetches one closed candle per 1m series.
        os.mkdir(os.path.join(tmp, "b"))
        os.mkdir(os.path.join(tmp, "c"))
        beat_d = Daemon(args.tradebeat, os.path.join(tmp, "b"), sim.url, BEAT_SYMBOLS,
                        ["1m"], 1)
        rss_d = Daemon(args.tradebeat, os.path.join(tmp, "c"), sim.url, RSS_SYMBOLS,
                       RSS_INTERVALS, 1)
        beat_c = CcxtPoller(sim, BEAT_SYMBOLS, ["1m"], os.path.join(tmp, "ccxt-beat.db"))
        rss_c = CcxtPoller(sim, RSS_SYMBOLS, RSS_INTERVALS, os.path.join(tmp, "ccxt-rss.db"))
        try:
            beat_c.armed()
            rss_c.armed()
            for d, symbols in ((beat_d, BEAT_SYMBOLS), (rss_d, RSS_SYMBOLS)):
                d.wait_ready(timeout=300)
                wait_backfills(d, symbols)
            now = time.time()
            wait = 60 - now % 60 + 2
            if wait < 8:
                wait += 60
            log(f"round {r + 1}: beats in {wait:.0f} s (after the next minute's close)")
            time.sleep(wait)
            for side in order:
                if side == "tb":
                    rpc = Rpc(beat_d.socket)
                    t = time.perf_counter()
                    row = rpc.call("sync.now")
                    res["tb_beat"] = time.perf_counter() - t
                    res["tb_beat_row"] = row
                    rpc.close()
                else:
                    out = beat_c.beat()
                    res["ccxt_beat"] = out["seconds"]
                    res["ccxt_beat_series"] = out["series"]
            for side in order:
                if side == "tb":
                    rpc = Rpc(rss_d.socket)
                    rpc.call("sync.now")
                    rpc.close()
                else:
                    out = rss_c.beat()
                    res["ccxt_rss"] = out["VmRSS"]
                    res["ccxt_hwm"] = out["VmHWM"]
            time.sleep(1)
            m = rss_d.rss_kb()
            res["tb_rss"], res["tb_hwm"] = m["VmRSS"], m["VmHWM"]
            log(f"round {r + 1}: beat 200 tb {res['tb_beat']*1000:.0f} ms "
                f"({res['tb_beat_row'].get('klines_written')} klines), ccxt "
                f"{res['ccxt_beat']*1000:.0f} ms ({res['ccxt_beat_series']} series); RSS tb "
                f"{res['tb_rss']} kB, ccxt {res['ccxt_rss']} kB")
        finally:
            for p in (beat_c, rss_c):
                p.stop()
            for d in (beat_d, rss_d):
                d.stop()
    finally:
        if daemon:
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results.append(res)


# ---------------------------------------------------------------- the table

def verdict_min(value, goal, unit, fmt="{:.0f}"):
    """A goal `value >= goal`."""
    if value >= goal:
        return "met"
    return f"missed by {fmt.format(goal - value)} {unit}"


def verdict_max(value, goal, unit, fmt="{:.0f}"):
    """A goal `value <= goal`."""
    if value <= goal:
        return "met"
    return f"missed by {fmt.format(value - goal)} {unit}"


def table(results):
    def m(key, f=lambda x: x):
        return med([f(r[key]) for r in results])

    p50 = lambda xs: pct(xs, .5)  # noqa: E731
    p99 = lambda xs: pct(xs, .99)  # noqa: E731
    rows = []

    for name, label in (("bf20", "backfill 20 d × 1 symbol (1m)"),
                        ("bf30", "backfill 30 d × 5 symbols (1m)")):
        tb, cx, raw = m(f"tb_{name}"), m(f"ccxt_{name}"), m(f"raw_{name}")
        rawpy = m(f"rawpy_{name}")
        share = tb / raw * 100
        rows.append((label, "rows/s", f"{tb:,.0f}", f"{cx:,.0f}", f"{cx / tb:.2f}",
                     f"{raw:,.0f} (tb {share:.0f} %)", f"{rawpy:,.0f}", "≥ 70 % of raw",
                     verdict_min(share, 70, "points")))
    add = m("tb_bf20_s")
    rows.append(("symbol.add 20 d 1m → history complete", "s", f"{add:.3f}",
                 f"{m('ccxt_bf20_s'):.3f}", f"{m('ccxt_bf20_s') / add:.2f}", "–", "–",
                 "≤ 0.3 s",
                 verdict_max(add, 0.3, "s", "{:.3f}")))
    # tradebeat's orders from the Python client (beside ccxt's) and, when run, from the
    # native client (no Python on either side of the difference from the bare POST).
    for key, suffix in (("tb", " over the socket"), ("tbn", ", native client")):
        if not all(f"{key}_place" in r for r in results):
            continue
        for what in ("place", "cancel"):
            b_what = f"bare_{what}"
            for name, f, goal in (("p50", p50, 500), ("p99", p99, 1000)):
                tb, bare = m(f"{key}_{what}", f), m(b_what, f)
                ccxt = m(f"ccxt_{what}", f) if key == "tb" else None
                py = m(f"barepy_{what}", f) if key == "tb" else None
                placing = what == "place"
                rows.append((f"order {what}{suffix}, {name}", "µs", f"{tb:,.0f}",
                             "–" if ccxt is None else f"{ccxt:,.0f}",
                             "–" if ccxt is None else f"{ccxt / tb:.2f}",
                             f"{bare:,.0f} (tb +{tb - bare:,.0f})",
                             "–" if py is None else f"{py:,.0f}",
                             f"≤ bare + {goal} µs" if placing else "–",
                             verdict_max(tb - bare, goal, "µs") if placing else "–"))
    # Issue 15: paper order.place against the live order's overhead over the bare POST,
    # each round's difference of percentiles, then the median.
    for key, label in (("paper_place", "paper order.place, resting LIMIT"),
                       ("paper_buy", "paper order.place, MARKET buy (filled)"),
                       ("paper_sell", "paper order.place, MARKET sell (filled)")):
        for name, f in (("p50", p50), ("p99", p99)):
            tb = m(key, f)
            over = med([f(r["tb_place"]) - f(r["bare_place"]) for r in results])
            rows.append((f"{label}, {name}", "µs", f"{tb:,.0f}", "–", "–",
                         f"live overhead +{over:,.0f}", "–", "< live overhead",
                         "met" if tb < over else f"missed by {tb - over:,.0f} µs"))
    tb, cx = m("tb_beat") * 1000, m("ccxt_beat") * 1000
    rows.append(("beat, 200 symbols × 1m (request → committed)", "ms", f"{tb:,.1f}",
                 f"{cx:,.1f}", f"{cx / tb:.2f}", "–", "–", "–", "–"))
    # In decimal MB (10^6 bytes), as issue 19's goal is read: /proc reports KiB.
    tb, cx = m("tb_rss") * 1024 / 1e6, m("ccxt_rss") * 1024 / 1e6
    rows.append(("steady RSS, 100 symbols × 5 intervals", "MB", f"{tb:.1f}", f"{cx:.1f}",
                 f"{cx / tb:.2f}", "–", "–", "≤ 20 MB", verdict_max(tb, 20, "MB", "{:.1f}")))
    tb, cx = m("tb_cold") * 1000, m("ccxt_cold") * 1000
    rows.append(("cold start (spawn → ready)", "ms", f"{tb:,.0f}", f"{cx:,.0f}",
                 f"{cx / tb:.2f}", "–", "–", "–", "–"))

    head = ("measure", "unit", "tradebeat", "ccxt", "ccxt/tb", "raw ceiling",
            "raw (Python)", "goal", "verdict")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    lines = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(head, widths)) + " |",
             "| " + " | ".join("-" * w for w in widths) + " |"]
    for x in rows:
        lines.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(x, widths)) + " |")
    return "\n".join(lines)


def per_round(results):
    lines = []
    for i, r in enumerate(results, 1):
        lines.append(
            f"round {i}: bf20 tb/ccxt/raw {r['tb_bf20']:,.0f}/{r['ccxt_bf20']:,.0f}/"
            f"{r['raw_bf20']:,.0f} rows/s ({r['tb_bf20_s']:.3f} s); bf30 "
            f"{r['tb_bf30']:,.0f}/{r['ccxt_bf30']:,.0f}/{r['raw_bf30']:,.0f}; place p50/p99 "
            f"tb {pct(r['tb_place'], .5):,.0f}/{pct(r['tb_place'], .99):,.0f} ccxt "
            f"{pct(r['ccxt_place'], .5):,.0f}/{pct(r['ccxt_place'], .99):,.0f} bare "
            f"{pct(r['bare_place'], .5):,.0f}/{pct(r['bare_place'], .99):,.0f} bare Python "
            f"{pct(r['barepy_place'], .5):,.0f}/{pct(r['barepy_place'], .99):,.0f} tb native "
            f"{pct(r.get('tbn_place', [0]), .5):,.0f}/{pct(r.get('tbn_place', [0]), .99):,.0f}"
            f" paper LIMIT "
            f"{pct(r['paper_place'], .5):,.0f}/{pct(r['paper_place'], .99):,.0f} paper MARKET "
            f"{pct(r['paper_buy'], .5):,.0f}/{pct(r['paper_buy'], .99):,.0f} µs; beat "
            f"{r['tb_beat'] * 1000:.1f}/{r['ccxt_beat'] * 1000:.1f} ms; RSS "
            f"{r['tb_rss']}/{r['ccxt_rss']} kB (HWM {r['tb_hwm']}/{r['ccxt_hwm']}); cold "
            f"{r['tb_cold'] * 1000:.0f}/{r['ccxt_cold'] * 1000:.0f} ms")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tradebeat", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--ceilings", help="the native ceilings binary (else Python's only)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--orders", type=int, default=200)
    args = ap.parse_args()

    sim = Sim(args.sim)
    try:
        log(f"exchange-sim at {sim.url}")
        last = float(sim.get("/api/v3/ticker/price?symbol=BTCUSDT")["price"])
        price = f"{last * 0.8:.2f}"  # a resting bid, never filled
        results = []
        for r in range(args.rounds):
            one_round(r, args, sim, price, results)
    finally:
        sim.stop()
    import ccxt
    print(f"\n{args.rounds} rounds, tradebeat and ccxt {ccxt.__version__} alternating first; "
          f"medians over rounds; {args.orders} orders per side per round "
          f"(p50/p99 per round, then the median)\n")
    print(table(results))
    print()
    print(per_round(results))


if __name__ == "__main__":
    main()
