//! Trading knobs and readers of a [`FuturesSim`]: prices, faults, the user stream, and
//! what the exchange holds (orders, algo orders, positions, balances, trades).

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::Value;

use super::{
    FuturesSim,
    engine::{Book, fmt_dec, margin_asset, qty_decimals},
};
use crate::{OrderFault, decimal::parse_units, lock, write};

/// An order as a futures market holds it; decimals formatted as the REST answers do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFuturesOrder {
    /// e.g. `BTCUSDT`, `BTCUSD_PERP`.
    pub symbol: String,
    /// The exchange's order id.
    pub order_id: i64,
    /// The client order id (for an order an algo order became: its `clientAlgoId`).
    pub client_order_id: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `LIMIT`, `MARKET`, `STOP_MARKET` …
    pub order_type: String,
    /// The type it was placed as (`origType`; an algo order's type for the order it became).
    pub orig_type: String,
    /// `GTC`, `IOC`, `FOK`, `GTX`.
    pub time_in_force: String,
    /// `BOTH`, `LONG` or `SHORT`.
    pub position_side: String,
    /// Limit price (`"0.00"` without one).
    pub price: String,
    /// Stop price (`"0.00"` without one).
    pub stop_price: String,
    /// Quantity ordered (base asset on USD-M, contracts on COIN-M).
    pub orig_qty: String,
    /// Quantity executed.
    pub executed_qty: String,
    /// Average fill price.
    pub avg_price: String,
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`.
    pub status: String,
    /// Reduce-only.
    pub reduce_only: bool,
    /// Close-all.
    pub close_position: bool,
    /// Creation time, ms since the epoch.
    pub time: i64,
    /// Last change, ms since the epoch.
    pub update_time: i64,
}

/// A USD-M algo (conditional) order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimAlgoOrder {
    /// The algo id.
    pub algo_id: i64,
    /// `clientAlgoId`.
    pub client_algo_id: String,
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `STOP_MARKET`, `TRAILING_STOP_MARKET` …
    pub order_type: String,
    /// `NEW`, `TRIGGERED`, `FINISHED`, `CANCELED`, `EXPIRED`.
    pub status: String,
    /// Trigger price (for a trailing stop: the current stop once activated).
    pub trigger_price: String,
    /// The order it became once triggered.
    pub actual_order_id: Option<i64>,
}

/// One position (per symbol and position side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPosition {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// `BOTH`, `LONG` or `SHORT`.
    pub position_side: String,
    /// Signed amount (negative: short), base asset or contracts.
    pub amount: String,
    /// Entry price, 8 decimals.
    pub entry_price: String,
    /// Accumulated realized PnL, 8 decimals, in the margin asset.
    pub realized_pnl: String,
}

/// The wallet balance of one margin asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFuturesBalance {
    /// `USDT`, `BTC`, `ETH`.
    pub asset: String,
    /// Wallet balance, 8 decimals.
    pub wallet_balance: String,
}

/// One fill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFuturesTrade {
    /// e.g. `BTCUSDT`.
    pub symbol: String,
    /// Trade id (`id` in userTrades, `t` in `ORDER_TRADE_UPDATE`).
    pub id: i64,
    /// The order it filled.
    pub order_id: i64,
    /// Price.
    pub price: String,
    /// Quantity.
    pub qty: String,
    /// Realized PnL, 8 decimals.
    pub realized_pnl: String,
    /// Commission, 8 decimals.
    pub commission: String,
    /// Commission asset (the margin asset).
    pub commission_asset: String,
    /// Maker or taker.
    pub maker: bool,
}

impl FuturesSim {
    fn with_book<T>(&self, f: impl FnOnce(&mut Book, i64) -> T) -> T {
        let now = self.now_ms();
        let mut book = lock(&self.shared.engine.book);
        let out = f(&mut book, now);
        self.shared.flush(&mut book);
        out
    }

    /// `ws://127.0.0.1:PORT` of this market's user-data stream, without a trailing slash:
    /// the stream of a listen key is at `{ws_url}/ws/<listenKey>`.
    pub fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    /// Sets the contract price (and mark price) of `symbol` (a decimal string, e.g.
    /// `"50000.10"`), then fills and triggers what the new price crosses at once. `None`
    /// goes back to the replayed prices. An unparsable price is ignored (logged).
    pub fn set_last_price(&self, symbol: &str, price: Option<&str>) {
        {
            let mut prices = write(&self.shared.engine.prices);
            match price.map(|p| (p, parse_units(p))) {
                Some((_, Some(units))) => {
                    prices.insert(symbol.to_owned(), i128::from(units));
                }
                Some((text, None)) => {
                    tracing::warn!(
                        symbol,
                        price = text,
                        "set_last_price: not a decimal, ignored"
                    );
                    return;
                }
                None => {
                    prices.remove(symbol);
                }
            }
        }
        self.match_orders();
    }

    /// Sets the mark price of `symbol` alone (`MARK_PRICE` triggers, PERCENT_PRICE,
    /// unrealized PnL); `None` goes back to the replayed (or [`FuturesSim::set_last_price`])
    /// price. Triggers what it crosses at once. An unparsable price is ignored (logged).
    pub fn set_mark_price(&self, symbol: &str, price: Option<&str>) {
        {
            let mut marks = write(&self.shared.engine.marks);
            match price.map(|p| (p, parse_units(p))) {
                Some((_, Some(units))) => {
                    marks.insert(symbol.to_owned(), i128::from(units));
                }
                Some((text, None)) => {
                    tracing::warn!(
                        symbol,
                        price = text,
                        "set_mark_price: not a decimal, ignored"
                    );
                    return;
                }
                None => {
                    marks.remove(symbol);
                }
            }
        }
        self.match_orders();
    }

    /// Evaluates resting, conditional and algo orders against the prices now.
    pub fn match_orders(&self) {
        let shared = &self.shared;
        self.with_book(|book, now| shared.sweep(book, now));
    }

    /// Injects a fault into `POST …/order` and `POST /fapi/v1/algoOrder` (`None` clears
    /// it): execute then answer HTTP 503 `-1000` "Unknown error, please check your request
    /// or try again later." (execution status unknown), answer 503 `-1001` without
    /// executing, or execute and hold the answer.
    pub fn set_order_fault(&self, fault: Option<OrderFault>) {
        *lock(&self.shared.engine.fault) = fault;
    }

    /// Changes the ORDERS limits (new orders per 10 s and per minute; exchange info reports
    /// them; `-1015` past them).
    pub fn set_order_limits(&self, per_10s: u32, per_min: u32) {
        let engine = &self.shared.engine;
        engine.orders_per_10s.store(per_10s, Ordering::Relaxed);
        engine.orders_per_min.store(per_min, Ordering::Relaxed);
    }

    /// Sets the wallet balance of a margin asset (a decimal string; unparsable: ignored).
    pub fn set_wallet_balance(&self, asset: &str, amount: &str) {
        let Some(units) = parse_units(amount) else {
            tracing::warn!(asset, amount, "set_wallet_balance: not a decimal, ignored");
            return;
        };
        self.with_book(|book, _| {
            book.wallet.insert(asset.to_owned(), i128::from(units));
        });
    }

    /// How many times a conditional type was sent to `POST /fapi/v1/order` (or its
    /// `/test`), each answered `-4120`.
    pub fn conditional_on_order_endpoint_attempts(&self) -> u64 {
        self.shared
            .engine
            .conditional_attempts
            .load(Ordering::Relaxed)
    }

    /// Every order, oldest first.
    pub fn orders(&self) -> Vec<SimFuturesOrder> {
        let shared = &self.shared;
        let book = lock(&shared.engine.book);
        book.orders
            .iter()
            .map(|o| {
                let (pd, qd) = shared
                    .contracts
                    .get(&o.symbol)
                    .map_or((8, 8), |c| (c.price_decimals, qty_decimals(c)));
                let json = shared.order_json(o, true);
                SimFuturesOrder {
                    symbol: o.symbol.clone(),
                    order_id: o.order_id,
                    client_order_id: o.client_order_id.clone(),
                    side: o.side.as_str().to_owned(),
                    order_type: o.kind.as_str().to_owned(),
                    orig_type: o.orig_kind.as_str().to_owned(),
                    time_in_force: o.tif.to_owned(),
                    position_side: o.position_side.as_str().to_owned(),
                    price: fmt_dec(o.price, pd),
                    stop_price: fmt_dec(o.trigger.stop, pd),
                    orig_qty: fmt_dec(o.qty, qd),
                    executed_qty: fmt_dec(o.executed, qd),
                    avg_price: json["avgPrice"].as_str().unwrap_or_default().to_owned(),
                    status: o.status.as_str().to_owned(),
                    reduce_only: o.reduce_only,
                    close_position: o.close_position,
                    time: o.time,
                    update_time: o.update_time,
                }
            })
            .collect()
    }

    /// Every algo order (USD-M), oldest first.
    pub fn algo_orders(&self) -> Vec<SimAlgoOrder> {
        let shared = &self.shared;
        let book = lock(&shared.engine.book);
        book.algos
            .iter()
            .map(|a| {
                let pd = shared
                    .contracts
                    .get(&a.new.symbol)
                    .map_or(8, |c| c.price_decimals);
                SimAlgoOrder {
                    algo_id: a.algo_id,
                    client_algo_id: a.client_algo_id.clone(),
                    symbol: a.new.symbol.clone(),
                    side: a.new.side.as_str().to_owned(),
                    order_type: a.new.kind.as_str().to_owned(),
                    status: a.status.as_str().to_owned(),
                    trigger_price: fmt_dec(a.new.trigger.stop, pd),
                    actual_order_id: a.actual_order_id,
                }
            })
            .collect()
    }

    /// Every position ever opened (closed ones with amount zero), by symbol and side.
    pub fn positions(&self) -> Vec<SimPosition> {
        let shared = &self.shared;
        let book = lock(&shared.engine.book);
        book.positions
            .iter()
            .map(|((symbol, side), p)| {
                let c = shared.contracts.get(symbol);
                let qd = c.map_or(8, qty_decimals);
                let entry = c.map_or(Value::Null, |_| {
                    shared
                        .position_risk(&book, Some(symbol), true, self.now_ms())
                        .into_iter()
                        .find(|v| v["positionSide"] == side.as_str())
                        .map_or(Value::Null, |v| v["entryPrice"].clone())
                });
                SimPosition {
                    symbol: symbol.clone(),
                    position_side: side.as_str().to_owned(),
                    amount: fmt_dec(p.amount, qd),
                    entry_price: entry.as_str().unwrap_or("0.00000000").to_owned(),
                    realized_pnl: fmt_dec(p.realized, 8),
                }
            })
            .collect()
    }

    /// The wallet balance of each margin asset.
    pub fn balances(&self) -> Vec<SimFuturesBalance> {
        lock(&self.shared.engine.book)
            .wallet
            .iter()
            .map(|(asset, units)| SimFuturesBalance {
                asset: asset.clone(),
                wallet_balance: fmt_dec(*units, 8),
            })
            .collect()
    }

    /// Every fill, oldest first.
    pub fn trades(&self) -> Vec<SimFuturesTrade> {
        let shared = &self.shared;
        let book = lock(&shared.engine.book);
        book.trades
            .iter()
            .map(|t| {
                let (pd, qd) = shared
                    .contracts
                    .get(&t.symbol)
                    .map_or((8, 8), |c| (c.price_decimals, qty_decimals(c)));
                SimFuturesTrade {
                    symbol: t.symbol.clone(),
                    id: t.id,
                    order_id: t.order_id,
                    price: fmt_dec(t.price, pd),
                    qty: fmt_dec(t.qty, qd),
                    realized_pnl: fmt_dec(t.realized, 8),
                    commission: fmt_dec(t.commission, 8),
                    commission_asset: t.commission_asset.clone(),
                    maker: t.maker,
                }
            })
            .collect()
    }

    /// The margin asset of `symbol` (`USDT`, `BTC`, …), `None` for an unknown contract.
    pub fn margin_asset(&self, symbol: &str) -> Option<String> {
        self.shared.contracts.get(symbol).map(margin_asset)
    }

    // ----- user-data stream -----

    /// Sends `event` (any JSON) as a text frame to every open user-stream connection of
    /// this market, whatever its key; it is also logged ([`FuturesSim::user_events`]).
    pub fn push_user_event(&self, event: Value) {
        self.shared.streams.push(event);
    }

    /// Emits a `MARGIN_CALL` event listing the open positions to the active key's
    /// connections.
    pub fn emit_margin_call(&self) {
        let shared = &self.shared;
        self.with_book(|book, now| {
            let event = shared.margin_call_event(book, now);
            book.events.push(event);
        });
    }

    /// How long a listen key lives after its last POST/PUT (default
    /// [`super::DEFAULT_LISTEN_KEY_TTL`], 60 min; applies to the active key at once).
    pub fn set_listen_key_ttl(&self, ttl: Duration) {
        self.shared.streams.set_ttl(ttl);
    }

    /// Expires the active listen key now: its connections get `listenKeyExpired` and
    /// nothing more; `PUT …/listenKey` answers `-1125` until a new key is made.
    pub fn expire_listen_key(&self) {
        self.shared.streams.expire_now(self.now_ms());
    }

    /// The active listen key, if any (at most one per market, as on Binance).
    pub fn listen_keys(&self) -> Vec<String> {
        self.shared.streams.active_keys()
    }

    /// Ends every user-stream connection of this market without a close frame (a network
    /// cut). The listen key stays valid.
    pub fn drop_user_streams(&self) {
        self.shared.streams.drop_all();
    }

    /// While `on`, user-stream upgrades are answered HTTP 503 (open connections stay).
    pub fn refuse_user_stream_connects(&self, on: bool) {
        self.shared.streams.set_refuse(on);
    }

    /// Refuses user-stream upgrades (HTTP 503) for `length` from now.
    pub fn refuse_user_stream_connects_for(&self, length: Duration) {
        self.shared.streams.refuse_for(length);
    }

    /// Open user-stream connections.
    pub fn user_stream_connections(&self) -> usize {
        self.shared.streams.connections()
    }

    /// User-stream connections accepted since start.
    pub fn user_stream_connections_total(&self) -> u64 {
        self.shared.streams.connections_total()
    }

    /// Every user-stream event sent (engine events, pushed events, `listenKeyExpired`),
    /// oldest first, up to [`super::USER_EVENT_LOG_CAPACITY`]; also those no connection
    /// received.
    pub fn user_events(&self) -> Vec<Value> {
        self.shared.streams.events()
    }
}
