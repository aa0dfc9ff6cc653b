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

-- One order, its latest known state (README.md, "The database"). The row is written with status
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

-- version: 4

-- One execution report as received (README.md, "The database"): an order's change from the
-- user-data stream
-- (https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream), or a fill from
-- REST `GET /api/v3/myTrades` found by reconciliation. Unique per exchange event, so a replayed
-- or re-fetched event is never stored twice: `event_key` is
--   'trade:<t>'                       for a trade (t >= 0): the stream's report and the
--                                     REST trade of the same fill are ONE row;
--   'exec:<I>'                        else, by the execution id;
--   'event:<i>:<x>:<X>:<T>:<z>'       else (recordings without I).
-- A 'stream' report arriving for a trade stored from 'rest' fills in the stream's fields
-- and turns the row into a 'stream' row; a REST trade never changes a stored row.
-- Decimals are TEXT holding the exact decimal string as the exchange sent it.
CREATE TABLE executions (
    id                   INTEGER PRIMARY KEY,
    market               TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol               TEXT    NOT NULL,
    event_key            TEXT    NOT NULL,
    -- 'stream': an executionReport; 'rest': a myTrades element (no order type, status,
    -- cumulative quantities, execution id or event time: those columns are NULL).
    source               TEXT    NOT NULL CHECK (source IN ('stream', 'rest')),
    order_id             INTEGER NOT NULL, -- the exchange's order id (`i`)
    -- The ORDER's client order id: `C` when non-empty (a cancel names the cancelled order
    -- there), else `c`; may be empty. REST rows: the stored order's, NULL when unknown.
    client_order_id      TEXT,
    side                 TEXT    CHECK (side IN ('BUY', 'SELL')), -- REST: from isBuyer
    order_type           TEXT,            -- `o` as sent (LIMIT, MARKET …)
    execution_type       TEXT    NOT NULL, -- `x`: NEW, TRADE, CANCELED …; REST: TRADE
    order_status         TEXT,            -- `X` after this event
    reject_reason        TEXT,            -- `r` (NONE when none)
    last_qty             TEXT,            -- `l` (REST: qty)
    last_price           TEXT,            -- `L` (REST: price)
    last_quote_qty       TEXT,            -- `Y` (REST: quoteQty); NULL when not sent
    cumulative_qty       TEXT,            -- `z`
    cumulative_quote_qty TEXT,            -- `Z`
    commission           TEXT,            -- `n`
    commission_asset     TEXT,            -- `N`; NULL when there was no trade
    trade_id             INTEGER,         -- `t`; NULL when -1 (not a trade)
    execution_id         INTEGER,         -- `I`; NULL when not sent
    is_maker             INTEGER CHECK (is_maker IN (0, 1)), -- `m`
    event_time           INTEGER,         -- `E`; REST: NULL
    transaction_time     INTEGER NOT NULL, -- `T` (REST: time)
    -- The event object's JSON text exactly as received; REST rows: the trade as tradebeat
    -- parsed it ({"symbol","id","order_id","price","qty","quote_qty","commission",…}).
    raw                  TEXT    NOT NULL,
    received_at          INTEGER NOT NULL, -- local clock, when first stored
    UNIQUE (market, symbol, event_key)
);

CREATE INDEX executions_order ON executions (market, symbol, order_id);
CREATE INDEX executions_trade ON executions (market, symbol, trade_id)
    WHERE trade_id IS NOT NULL;

-- One asset's balance on one market as last reported (README.md, "The database"): by an
-- outboundAccountPosition event ('stream') or a `GET /api/v3/account` snapshot ('rest').
-- Only a report with a newer-or-equal `update_time` replaces the row, so a late event
-- never undoes a newer one. An asset absent from an account snapshot (which omits zero
-- balances) is set to zero. A balanceUpdate event (a deposit's delta) does NOT change this
-- table: Binance sends an outboundAccountPosition with the new balance alongside it.
CREATE TABLE balances (
    market      TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    asset       TEXT    NOT NULL,
    free        TEXT    NOT NULL,
    locked      TEXT    NOT NULL,
    -- The exchange's time of the account update (`u`, or the account's updateTime), ms.
    update_time INTEGER NOT NULL,
    source      TEXT    NOT NULL CHECK (source IN ('stream', 'rest')),
    updated_at  INTEGER NOT NULL, -- local clock
    PRIMARY KEY (market, asset)
) WITHOUT ROWID;

-- The history of balances: one row per asset per event. event_type is
--   'outboundAccountPosition' free/locked after the change (delta NULL);
--   'balanceUpdate'           the delta `d` of a deposit, withdrawal or transfer
--                             (free/locked NULL; `balances` is not changed by it);
--   'account'                 a REST account snapshot's free/locked, recorded only for
--                             assets whose stored balance it changed.
-- Unique per (market, asset, event_type, event_time), so a replayed event is not recorded
-- twice.
CREATE TABLE balance_changes (
    id          INTEGER PRIMARY KEY,
    market      TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    asset       TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    event_time  INTEGER NOT NULL, -- `E`; for 'account' the snapshot's updateTime
    -- `u` (outboundAccountPosition), `T` clear time (balanceUpdate), updateTime (account).
    update_time INTEGER NOT NULL,
    free        TEXT,
    locked      TEXT,
    delta       TEXT,
    received_at INTEGER NOT NULL,
    UNIQUE (market, asset, event_type, event_time)
);

-- One listStatus event: the state of an order list (OCO, OTO …). Binance:
-- https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream
CREATE TABLE list_statuses (
    id                   INTEGER PRIMARY KEY,
    market               TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol               TEXT    NOT NULL,
    order_list_id        INTEGER NOT NULL, -- `g`
    contingency_type     TEXT    NOT NULL, -- `c`: OCO, OTO …
    list_status_type     TEXT    NOT NULL, -- `l`: RESPONSE, EXEC_STARTED, UPDATED, ALL_DONE
    list_order_status    TEXT    NOT NULL, -- `L`: EXECUTING, ALL_DONE, REJECT
    list_reject_reason   TEXT    NOT NULL, -- `r`
    list_client_order_id TEXT    NOT NULL, -- `C`
    -- `O` as JSON: [{"symbol":"ETHBTC","order_id":17,"client_order_id":"…"}]
    orders               TEXT    NOT NULL,
    event_time           INTEGER NOT NULL,
    transaction_time     INTEGER NOT NULL,
    raw                  TEXT    NOT NULL, -- the event's JSON text as received
    received_at          INTEGER NOT NULL,
    UNIQUE (market, symbol, order_list_id, list_status_type, transaction_time)
);

-- User-data events kept raw: types tradebeat does not know (error NULL), and known types
-- whose fields did not parse or that the store refused (error says why). Nothing else is
-- written for them. Unique per (market, event_type, raw), so a replay is not stored twice.
CREATE TABLE user_events (
    id          INTEGER PRIMARY KEY,
    market      TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    event_type  TEXT    NOT NULL, -- `e`
    event_time  INTEGER,          -- `E` when it is an integer
    raw         TEXT    NOT NULL, -- the event's JSON text as received
    error       TEXT,
    received_at INTEGER NOT NULL,
    UNIQUE (market, event_type, raw)
);

-- version: 5

-- Where the next `GET /api/v3/myTrades?fromId=` catch-up of a symbol starts (README.md,
-- "Nothing lost"): every fill of the account on this symbol with a lower trade id is in
-- `executions`. Advanced only by a catch-up, to one past the last trade the exchange listed
-- to it, while a subscribed stream delivers what comes after; never by the stream's own
-- rows (a fill the stream stores may be newer than fills nobody has fetched yet). A symbol
-- without a row gets its most recent 1000 fills.
CREATE TABLE trade_checkpoints (
    market        TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol        TEXT    NOT NULL,
    next_trade_id INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL, -- local clock, ms
    PRIMARY KEY (market, symbol)
);

-- version: 6

-- The exchange's own time (`serverTime` of `GET /api/v3/time`, ms) read before the request
-- whose answer held this candle: the exchange produced the values after it, so
-- `close_time < closed_before` proves they are final. NULL for candles written before this
-- version, which the gap check fetches again once, like a candle whose proof is missing.
ALTER TABLE klines ADD COLUMN closed_before INTEGER;

-- version: 7

-- Futures market data (markets `usdm` and `coinm`). Prices, rates and quantities are TEXT
-- holding Binance's exact decimal string; times are ms since the epoch, UTC. Quantities
-- keep Binance's units: contracts on COIN-M, the base asset on USDⓈ-M. Futures rows of
-- `klines` and `tickers` keep them too: on COIN-M `volume` is contracts and `quote_volume`
-- the base-asset volume; futures `tickers` rows have bid/ask price and quantity 0 (Binance's
-- futures 24 h ticker carries no book).

-- One `premiumIndex` snapshot per futures symbol per beat; `time` is the beat's scheduled
-- time (heartbeats.beat_time).
CREATE TABLE mark_prices (
    symbol_id              INTEGER NOT NULL REFERENCES symbols (id),
    time                   INTEGER NOT NULL,
    mark_price             TEXT    NOT NULL, -- quote asset
    index_price            TEXT    NOT NULL, -- quote asset
    estimated_settle_price TEXT,             -- quote asset; NULL when not given
    funding_rate           TEXT,             -- latest funding rate (0.0001 = 0.01 %); NULL for delivery contracts
    next_funding_time      INTEGER,          -- ms; NULL for delivery contracts
    PRIMARY KEY (symbol_id, time)
) WITHOUT ROWID;

-- One funding event of a perpetual (`fundingRate` history, backfilled).
CREATE TABLE funding_rates (
    symbol_id    INTEGER NOT NULL REFERENCES symbols (id),
    funding_time INTEGER NOT NULL, -- ms
    funding_rate TEXT    NOT NULL, -- the rate applied (0.0001 = 0.01 %)
    mark_price   TEXT,             -- quote asset, at the funding time; NULL when not given
    PRIMARY KEY (symbol_id, funding_time)
) WITHOUT ROWID;

-- Open interest at a time: `period` 'beat' for the beat's own reading (`openInterest`,
-- `time` = heartbeats.beat_time), or the `openInterestHist` period ('5m' …) for history
-- (`time` = the period's timestamp).
CREATE TABLE open_interest (
    symbol_id           INTEGER NOT NULL REFERENCES symbols (id),
    period              TEXT    NOT NULL,
    time                INTEGER NOT NULL,
    open_interest       TEXT    NOT NULL, -- contracts on COIN-M, base asset on USDⓈ-M
    open_interest_value TEXT,             -- USDⓈ-M: quote asset; COIN-M: base asset; NULL when not given (beat readings)
    PRIMARY KEY (symbol_id, period, time)
) WITHOUT ROWID;
-- version: 8

-- Whether this database records paper (simulated) or live trading, for good (README.md,
-- "Paper trading"): one row, written by the first daemon that opens the database after this
-- version (a database that already holds orders, executions or balances is 'live'), never
-- changed. A daemon configured for the other mode refuses to start.
CREATE TABLE IF NOT EXISTS trading_mode (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    mode       TEXT    NOT NULL CHECK (mode IN ('live', 'paper')),
    created_at INTEGER NOT NULL -- local clock, ms
);
-- version: 9

-- The action log: one row per state-changing request (control socket, HTTP, a strategy or
-- the daemon itself) and its outcome, written whatever the outcome (README.md, "The
-- action log"). Rows are never changed or deleted.
CREATE TABLE IF NOT EXISTS actions (
    id            INTEGER PRIMARY KEY,
    time          INTEGER NOT NULL,          -- when the request arrived, ms
    source        TEXT    NOT NULL,          -- 'ctl', 'http', 'daemon' or 'strategy:<slug>'
    uid           INTEGER,                   -- the socket peer's uid (source 'ctl'); else NULL
    method        TEXT    NOT NULL,          -- e.g. 'order.place'
    market        TEXT,                      -- from the params ('spot' when a symbol is named without one)
    symbol        TEXT,                      -- from the params, upper case; NULL when none
    params        TEXT    NOT NULL,          -- the params as JSON, secrets replaced by "[redacted]"
    ok            INTEGER NOT NULL CHECK (ok IN (0, 1)),
    error_code    INTEGER,                   -- the control error code when refused
    error_message TEXT                       -- its message
);
CREATE INDEX IF NOT EXISTS actions_by_symbol ON actions (symbol, id);
CREATE INDEX IF NOT EXISTS actions_by_source ON actions (source, id);

-- A watched symbol (README.md, "Watchlists"): its 24 h ticker is stored every beat, in the
-- beat's one ticker request, without klines or backfill. Its `symbols` row is registered
-- inactive when the symbol was not registered before; `symbol.add` makes it active and
-- starts the rest. Removing it from the watchlist deletes this row only.
CREATE TABLE IF NOT EXISTS watchlist (
    symbol_id INTEGER PRIMARY KEY REFERENCES symbols (id),
    added_at  INTEGER NOT NULL -- ms
);

-- version: 10

-- Strategies: programs the daemon runs after a candle of an attached (market, symbol,
-- interval) closed (README.md, "Strategies"). Rows are never deleted: `deleted_at` set
-- (ms) marks a removed one. Times are ms since the epoch, UTC (local clock).
CREATE TABLE strategies (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    slug       TEXT    NOT NULL, -- [a-z0-9-], unique among live rows
    command    TEXT    NOT NULL, -- argv split like a shell would; run without a shell
    timeout_ms INTEGER NOT NULL CHECK (timeout_ms > 0),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);
CREATE UNIQUE INDEX strategies_live_slug ON strategies (slug) WHERE deleted_at IS NULL;

-- A strategy attached to one (market, symbol, interval), with its params (a JSON object).
CREATE TABLE trade_strategies (
    id          INTEGER PRIMARY KEY,
    strategy_id INTEGER NOT NULL REFERENCES strategies (id),
    market      TEXT    NOT NULL CHECK (market IN ('spot', 'usdm', 'coinm')),
    symbol      TEXT    NOT NULL,
    interval    TEXT    NOT NULL,
    params      TEXT    NOT NULL DEFAULT '{}',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER
);
CREATE INDEX trade_strategies_series ON trade_strategies (market, symbol, interval);

-- One run of a trade strategy: `beat_time` the beat whose closed candle started it,
-- `started_at` and `duration_ms` on the local clock, `outcome` one of 'ok', 'timeout',
-- 'exit_code', 'invalid_output', 'killed' (in flight at shutdown), 'spawn_failed';
-- `orders_placed` the orders of its answer that were placed; `note` the strategy's note,
-- or what went wrong.
CREATE TABLE strategy_runs (
    id                INTEGER PRIMARY KEY,
    trade_strategy_id INTEGER NOT NULL REFERENCES trade_strategies (id),
    beat_time         INTEGER NOT NULL,
    candle_open_time  INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    exit_code         INTEGER,
    orders_placed     INTEGER NOT NULL DEFAULT 0,
    note              TEXT
);
CREATE INDEX strategy_runs_by_trade_strategy ON strategy_runs (trade_strategy_id, id);

-- version: 11

-- A range of a futures symbol's open-interest history (`openInterestHist` at `period`,
-- '5m' …) that the exchange cannot give: Binance keeps the last 30 days only. Recorded once
-- (a later range that ages out before it is fetched extends the row) and never asked for
-- again; `open_interest` has no rows in it.
CREATE TABLE IF NOT EXISTS open_interest_gaps (
    symbol_id   INTEGER NOT NULL REFERENCES symbols (id),
    period      TEXT    NOT NULL,
    start_time  INTEGER NOT NULL, -- ms, first time missing
    end_time    INTEGER NOT NULL, -- ms, last time missing
    reason      TEXT    NOT NULL, -- 'not_kept_by_exchange'
    recorded_at INTEGER NOT NULL, -- ms
    PRIMARY KEY (symbol_id, period, start_time),
    CHECK (end_time >= start_time)
) WITHOUT ROWID;

-- version: 12

-- Futures trading (markets 'usdm' and 'coinm'). Quantities keep Binance's units: contracts
-- on COIN-M, the base asset on USD-M. Decimals are TEXT holding the exact decimal string;
-- booleans are 0/1; all these columns are NULL on spot orders and fills.
-- USD-M conditional orders (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET,
-- TRAILING_STOP_MARKET) live in Binance's Algo Service: their row has `algo_id`, and
-- `order_id` stays NULL until the trigger placed an order, whose id then fills both
-- `order_id` and `triggered_order_id`.
ALTER TABLE orders ADD COLUMN reduce_only        INTEGER CHECK (reduce_only IN (0, 1));
ALTER TABLE orders ADD COLUMN position_side      TEXT CHECK (position_side IN ('BOTH', 'LONG', 'SHORT'));
ALTER TABLE orders ADD COLUMN close_position     INTEGER CHECK (close_position IN (0, 1));
-- TRAILING_STOP_MARKET: callback rate in percent, activation price in the quote asset.
ALTER TABLE orders ADD COLUMN callback_rate      TEXT;
ALTER TABLE orders ADD COLUMN activation_price   TEXT;
ALTER TABLE orders ADD COLUMN working_type       TEXT CHECK (working_type IN ('MARK_PRICE', 'CONTRACT_PRICE'));
ALTER TABLE orders ADD COLUMN price_protect      INTEGER CHECK (price_protect IN (0, 1));
-- USD-M Algo Service id (`algoId`); NULL for every other order.
ALTER TABLE orders ADD COLUMN algo_id            INTEGER;
-- The order a conditional order became once triggered (`actualOrderId`); NULL until then.
ALTER TABLE orders ADD COLUMN triggered_order_id INTEGER;
-- Average fill price (`avgPrice`), quote asset; NULL until something filled.
ALTER TABLE orders ADD COLUMN avg_price          TEXT;
CREATE UNIQUE INDEX orders_algo_id ON orders (market, algo_id) WHERE algo_id IS NOT NULL;
CREATE INDEX orders_market_symbol ON orders (market, symbol, id);

-- Futures fills: the profit the fill realized (`rp`, `realizedPnl`), in the margin asset,
-- and its position side (`ps`, `positionSide`).
ALTER TABLE executions ADD COLUMN realized_pnl  TEXT;
ALTER TABLE executions ADD COLUMN position_side TEXT;

-- One futures position as last reported, by `GET positionRisk` (reconciliation) or an
-- ACCOUNT_UPDATE event. A report replaces the row only when its `updated_at` is not older
-- than the stored one; a report without leverage or margin type (ACCOUNT_UPDATE has no
-- leverage) keeps the stored values. A closed position stays, with quantity '0'.
CREATE TABLE positions (
    market           TEXT    NOT NULL CHECK (market IN ('usdm', 'coinm')),
    symbol           TEXT    NOT NULL,
    position_side    TEXT    NOT NULL CHECK (position_side IN ('BOTH', 'LONG', 'SHORT')),
    -- Signed: > 0 long, < 0 short, 0 flat. Contracts on COIN-M, base asset on USD-M.
    quantity         TEXT    NOT NULL,
    entry_price      TEXT    NOT NULL, -- average entry price, quote asset ('0' when flat)
    break_even_price TEXT,             -- quote asset; NULL when not reported
    unrealized_pnl   TEXT    NOT NULL, -- margin asset (USD-M: USDT/USDC; COIN-M: the coin)
    leverage         INTEGER,          -- NULL until a report carried it
    margin_type      TEXT    CHECK (margin_type IN ('ISOLATED', 'CROSSED')),
    isolated_wallet  TEXT,             -- isolated margin, margin asset
    updated_at       INTEGER NOT NULL, -- the exchange's time of the report, ms
    PRIMARY KEY (market, symbol, position_side)
) WITHOUT ROWID;

-- version: 13

-- The contract spec of a futures symbol (market `usdm` or `coinm`) as its market's
-- exchangeInfo last gave it; written when the symbol is registered and each time the beats
-- read exchangeInfo again (hourly). Spot symbols have no row.
CREATE TABLE IF NOT EXISTS contract_specs (
    symbol_id     INTEGER PRIMARY KEY REFERENCES symbols (id),
    -- 'PERPETUAL', 'CURRENT_QUARTER', 'NEXT_QUARTER', ... as Binance names it.
    contract_type TEXT    NOT NULL,
    -- Value of one contract in the quote asset, a decimal string (COIN-M: '100' USD for
    -- BTC); NULL on USD-M, whose quantities are in the base asset.
    contract_size TEXT,
    delivery_date INTEGER, -- ms; Binance gives perpetuals a date in 2100
    onboard_date  INTEGER, -- ms, when listed
    updated_at    INTEGER NOT NULL -- ms
);

-- version: 14

-- The order a USD-M conditional order became, found by its id when its events arrive
-- (`ORDER_TRADE_UPDATE` names the triggered order, not the algo order).
CREATE INDEX IF NOT EXISTS orders_triggered ON orders (market, symbol, triggered_order_id)
    WHERE triggered_order_id IS NOT NULL;

-- version: 15

-- The newest run of each trade strategy, read at every beat to find the runs due: one
-- index search per trade strategy instead of a scan of every run ever recorded.
CREATE INDEX IF NOT EXISTS strategy_runs_last ON strategy_runs (trade_strategy_id, candle_open_time);

-- The beats committed after a watermark, which /metrics reads at every scrape, and the
-- newest watermark: a range of this index instead of a scan of every beat ever recorded.
CREATE INDEX IF NOT EXISTS heartbeats_finished ON heartbeats (finished_at, beat_time);
