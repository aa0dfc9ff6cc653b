-- tradebeat's database schema: the source of truth for every table.
--
-- The file is a list of migrations. Each starts with a line `-- version: N` and upgrades a
-- database at version N-1 to version N; the database's `PRAGMA user_version` records how
-- far it is. At start the daemon applies every section above the database's version, each
-- in its own transaction, so an existing database is upgraded in place and keeps its data.
-- Released sections are never edited: a change to the schema is a new section at the end.
--
-- Conventions: times are INTEGER milliseconds since the Unix epoch, UTC. Market-data prices
-- and volumes are REAL. Money of record (orders, executions, balances) is TEXT holding the
-- exact decimal string.

-- version: 1

-- One registered symbol on one market. Rows are never deleted: removing a symbol clears
-- `active` and keeps its data.
CREATE TABLE symbols (
    id            INTEGER PRIMARY KEY,
    market        TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol        TEXT    NOT NULL,
    base_asset    TEXT    NOT NULL,
    quote_asset   TEXT    NOT NULL,
    -- The exchange's status when last checked: TRADING, BREAK, HALT, END_OF_DAY, ...
    -- Beats follow only active symbols whose status is TRADING.
    status        TEXT    NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    -- Comma-separated kline intervals for this symbol; NULL follows market_data.intervals.
    intervals     TEXT,
    -- Days of history to backfill; NULL follows market_data.backfill_days.
    backfill_days INTEGER,
    added_at      INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (market, symbol)
);

-- One closed candle. Only candles whose close time has passed are stored; a candle is
-- written again (upserted) if the exchange reports it again.
CREATE TABLE klines (
    symbol_id              INTEGER NOT NULL REFERENCES symbols (id),
    interval               TEXT    NOT NULL,
    open_time              INTEGER NOT NULL,
    close_time             INTEGER NOT NULL,
    open                   REAL    NOT NULL,
    high                   REAL    NOT NULL,
    low                    REAL    NOT NULL,
    close                  REAL    NOT NULL,
    volume                 REAL    NOT NULL, -- base asset
    quote_volume           REAL    NOT NULL, -- quote asset
    trades                 INTEGER NOT NULL,
    taker_buy_base_volume  REAL    NOT NULL,
    taker_buy_quote_volume REAL    NOT NULL,
    PRIMARY KEY (symbol_id, interval, open_time)
) WITHOUT ROWID;

-- One 24-hour rolling ticker snapshot per symbol per beat; `time` is the beat's scheduled
-- time (heartbeats.beat_time).
CREATE TABLE tickers (
    symbol_id            INTEGER NOT NULL REFERENCES symbols (id),
    time                 INTEGER NOT NULL,
    last_price           REAL    NOT NULL,
    bid_price            REAL    NOT NULL,
    bid_qty              REAL    NOT NULL,
    ask_price            REAL    NOT NULL,
    ask_qty              REAL    NOT NULL,
    open_price           REAL    NOT NULL, -- 24 hours ago
    high_price           REAL    NOT NULL,
    low_price            REAL    NOT NULL,
    price_change_percent REAL    NOT NULL,
    volume               REAL    NOT NULL, -- 24h, base asset
    quote_volume         REAL    NOT NULL, -- 24h, quote asset
    trades               INTEGER NOT NULL, -- 24h
    window_open_time     INTEGER NOT NULL, -- the exchange's 24h window
    window_close_time    INTEGER NOT NULL,
    PRIMARY KEY (symbol_id, time)
) WITHOUT ROWID;

-- One beat: when it was due, when it ran, and how it went. Written in the same transaction
-- as the beat's tickers and klines.
CREATE TABLE heartbeats (
    beat_time      INTEGER PRIMARY KEY, -- scheduled time (k * period + offset)
    started_at     INTEGER NOT NULL,
    finished_at    INTEGER NOT NULL,
    symbols_ok     INTEGER NOT NULL,
    symbols_failed INTEGER NOT NULL,
    klines_written INTEGER NOT NULL,
    -- Scheduled beats skipped just before this one because the previous beat overran.
    skipped_before INTEGER NOT NULL DEFAULT 0,
    -- 'schedule' for the minute heartbeat, 'startup' for the catch-up beat run at start,
    -- 'manual' for a beat asked for on the control socket.
    trigger        TEXT    NOT NULL DEFAULT 'schedule'
                           CHECK (trigger IN ('schedule', 'startup', 'manual')),
    -- NULL when every symbol succeeded; otherwise what went wrong, per symbol.
    error          TEXT
);

-- version: 2

-- Progress of one symbol × interval history backfill. A job fetches the candles with open
-- times in [from_time, to_time], oldest first, one page (up to 1000 candles) at a time;
-- each page's candles and the new next_start_time commit in one transaction, so a restart
-- (or a crash) resumes at next_start_time with nothing lost and nothing fetched twice.
-- Candles after to_time are the heartbeat's.
CREATE TABLE backfill_jobs (
    symbol_id       INTEGER NOT NULL REFERENCES symbols (id),
    interval        TEXT    NOT NULL,
    from_time       INTEGER NOT NULL, -- open time of the oldest candle wanted
    to_time         INTEGER NOT NULL, -- open time of the newest candle the job covers
    next_start_time INTEGER NOT NULL, -- open time the next page starts at (> to_time: done)
    -- pending: waiting for its turn; running: fetching; done: complete back to from_time;
    -- failed: stopped with last_error (symbol unknown or delisted); stopped: symbol removed.
    state           TEXT    NOT NULL
                            CHECK (state IN ('pending', 'running', 'done', 'failed', 'stopped')),
    rows_written    INTEGER NOT NULL DEFAULT 0, -- candles written by this run of the job
    last_error      TEXT,
    started_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (symbol_id, interval)
) WITHOUT ROWID;

-- A range of candles the exchange did not return when asked (a halted market, a symbol not
-- listed yet). Candles are never invented: the range stays missing in `klines` and is
-- recorded here. It is asked for again a bounded number of times (state 'open', next_check
-- growing), then marked 'permanent' and re-checked rarely; 'filled' once the exchange
-- returned every candle of it.
CREATE TABLE gaps (
    symbol_id    INTEGER NOT NULL REFERENCES symbols (id),
    interval     TEXT    NOT NULL,
    start_time   INTEGER NOT NULL, -- open time of the first missing candle
    end_time     INTEGER NOT NULL, -- open time of the last missing candle
    -- 'no_candles': the exchange has candles around the range but none in it (halted);
    -- 'before_first_candle': nothing at or before the range (not listed yet).
    reason       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 1, -- times the range was asked for
    state        TEXT    NOT NULL CHECK (state IN ('open', 'permanent', 'filled')),
    first_seen   INTEGER NOT NULL,
    last_checked INTEGER NOT NULL,
    next_check   INTEGER NOT NULL, -- when it is asked for again
    PRIMARY KEY (symbol_id, interval, start_time),
    CHECK (end_time >= start_time)
) WITHOUT ROWID;

-- version: 3

-- One order, its latest known state (DESIGN.md "Tables"). The row is written with status
-- 'pending' BEFORE the order is sent, so no order reaches the exchange without a record;
-- the exchange's answer, a query or a cancel then updates it. Statuses are Binance's
-- (NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED, EXPIRED_IN_MATCH,
-- PENDING_NEW, PENDING_CANCEL) plus three local ones in lower case:
--   'pending'    written, request not answered yet (reconciled at start);
--   'unknown'    sent, outcome unknown (timeout, 5xx, -1006/-1007): being reconciled;
--   'not_placed' never reached the exchange (nothing was sent, or the exchange confirmed
--                after the recvWindow had passed that it has no such order).
-- Decimals are TEXT holding the exact decimal string.
CREATE TABLE orders (
    id                    INTEGER PRIMARY KEY,
    market                TEXT    NOT NULL DEFAULT 'spot'
                                  CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol                TEXT    NOT NULL,
    -- Ours ('tb-' + 22 random characters) or the user's; ^[a-zA-Z0-9-_]{1,36}$.
    client_order_id       TEXT    NOT NULL UNIQUE,
    -- The exchange's order id (unique per symbol); NULL until the exchange answered.
    order_id              INTEGER,
    side                  TEXT    NOT NULL CHECK (side IN ('BUY', 'SELL')),
    type                  TEXT    NOT NULL,
    time_in_force         TEXT,
    -- As asked for (imported orders: as the exchange reports them); NULL when not given.
    quantity              TEXT,
    quote_quantity        TEXT,
    price                 TEXT,
    stop_price            TEXT,
    status                TEXT    NOT NULL,
    executed_qty          TEXT    NOT NULL DEFAULT '0',
    cummulative_quote_qty TEXT    NOT NULL DEFAULT '0',
    -- JSON array of the fills of the placement answer:
    -- [{"price":"…","qty":"…","commission":"…","commission_asset":"…","trade_id":1}]
    fills                 TEXT,
    -- Why the order is REJECTED or not_placed: Binance's code and msg (code NULL when the
    -- reason is local, e.g. nothing could be sent).
    error_code            INTEGER,
    error_msg             TEXT,
    -- The exchange's times: transactTime of the placement (or the order's creation time),
    -- and updateTime of its last change.
    transact_time         INTEGER,
    update_time           INTEGER,
    -- Local times: the row was written, and last changed.
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE UNIQUE INDEX orders_exchange_id ON orders (market, symbol, order_id);
CREATE INDEX orders_status ON orders (status);
CREATE INDEX orders_symbol ON orders (symbol, id);
