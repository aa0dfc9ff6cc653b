//! [`PaperFuturesVenue`]: USDⓈ-M or COIN-M futures trading simulated against the market's
//! real public prices (book ticker, 1m klines, exchangeInfo, time), with no account and no
//! signed request. Orders, fills, balances and positions live in the database, in the same
//! rows live futures trading writes (`orders`, `executions`, `balances`, `positions`), so a
//! restart keeps resting orders and they still fill afterwards.
//!
//! # Fill rules
//!
//! The spot paper venue's ([`super::PaperVenue`]), over the futures market's book ticker
//! and 1m klines, sharing its fill conditions (`paper::Resting`):
//!
//! - MARKET: at once, whole, at the fresh book's best ask (buy) / best bid (sell), taker.
//! - LIMIT crossing the book: at once as taker at the book price (GTC/GTD whole, IOC up to
//!   the book's quantity, FOK whole or nothing); GTX (post-only) that would take is
//!   rejected (`-5022`). Otherwise GTC/GTX/GTD rest, IOC/FOK expire.
//! - A resting LIMIT fills whole at its price, maker fee, once a closed 1m kline that
//!   opened after it reaches it (low ≤ price for a buy, high ≥ price for a sell) or a newer
//!   book crosses it.
//! - STOP / STOP_MARKET trigger when the price rises to the stop (buy) or falls to it
//!   (sell), TAKE_PROFIT / TAKE_PROFIT_MARKET the other way; one that would trigger at once
//!   is rejected (`-2021`). STOP / TAKE_PROFIT then fill at their limit price (maker),
//!   the *_MARKET ones at the stop price (taker). `close_position` takes the whole
//!   position when triggered. TRAILING_STOP_MARKET is not simulated (the control layer
//!   refuses it with `-32602`).
//! - `reduce_only` (and, in hedge mode, a SELL on LONG / BUY on SHORT) only reduces: with
//!   nothing to reduce the order is rejected (`-2022`) at placement, expired when it would
//!   fill; a larger quantity fills up to the position.
//!
//! # Positions and money
//!
//! One position per (symbol, position side): `BOTH` (one-way, the default) or `LONG` /
//! `SHORT` (hedge) when the order names one; signed quantity (short negative), average
//! entry price, leverage (20 until `leverage.set`), margin type (cross until
//! `margin_type.set`). Money is in the market's margin asset: the quote asset on USDⓈ-M
//! (USDT), the base coin on COIN-M (BTC for `BTCUSD_PERP`).
//!
//! - USDⓈ-M: quantities in the base asset; notional `qty × price`; realized PnL of a long
//!   closed `qty × (exit − entry)` (a short: `qty × (entry − exit)`); the entry price is the
//!   quantity-weighted mean.
//! - COIN-M: quantities in contracts of `contractSize` USD (exchangeInfo); notional
//!   `qty × size / price` coins; realized PnL of a long `qty × size × (1/entry − 1/exit)`
//!   coins (a short the opposite); the entry price is the harmonic mean (total contracts
//!   over the sum of `qty / price`), as Binance averages COIN-M entries. Coin amounts are
//!   rounded to 8 decimals.
//! - Commission: `fee × notional` in the margin asset (maker or taker rate, see
//!   [`futures_paper_fees`]). Each fill moves the wallet balance by `realized − commission`.
//! - Margin check, before anything is written: the order's opening part (what does not
//!   reduce the position) needs `notional / leverage + fee` of available balance: the
//!   wallet balance less the initial margin of the open positions (`|qty|` at entry /
//!   leverage) and of the resting orders of the margin asset. Short of it: `-2019`
//!   "Margin is insufficient.", and nothing changes. Unrealized PnL is not counted, and
//!   isolated margin is recorded, not simulated apart from cross.
//!
//! Each change is written as the futures user-data stream would deliver it, through
//! [`Store::apply_paper_futures`]: the simulated `ORDER_TRADE_UPDATE`s (`raw` marked
//! `"paper": true`, with the fill's realized PnL and position side) and an
//! `ACCOUNT_UPDATE` with the new wallet balance and position, plus the position's leverage,
//! in ONE transaction. One lock serializes the venue's writes.
//!
//! Binance references: "New Order" in
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/trade>; commission
//! rates <https://www.binance.com/en/fee/futureFee>.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use rust_decimal::Decimal;

use super::paper::{
    IdCache, PRICE_READS, PaperBook, Resting, klines_since, reached_by, store_error,
};
use super::{Venue, VenueResult, locked};
use crate::clock::Clock;
use crate::domain::{
    Account, AccountUpdate, Balance, BookTicker, ClientOrderId, ExecutionType, Fill,
    FuturesBalance, FuturesOrderState, FuturesOrderStatus, Interval, MarginType, Market, Order,
    OrderRef, OrderRequest, OrderStatus, OrderTradeUpdate, OrderType, PaperFees, Position,
    PositionSide, PositionUpdate, Side, Symbol, SymbolInfo, TimeInForce, Trade, UserDataEvent,
};
use crate::exchange::futures::{
    FuturesPaperRejection, simulated_account_update, simulated_order_update,
};
use crate::exchange::{ExchangeError, FuturesClient};
use crate::store::{OrderRow, PaperIds, Store, StoreError};

/// The leverage of a symbol until `leverage.set` (Binance's default for a new symbol).
pub const DEFAULT_PAPER_LEVERAGE: u32 = 20;

/// The fee rates of futures paper fills on `market`: Binance's base tier (regular user,
/// no BNB discount): USDⓈ-M maker 0.02 %, taker 0.05 %; COIN-M maker 0.02 %, taker
/// 0.05 %. Spot's rates are `paper.maker_fee` / `paper.taker_fee`.
pub fn futures_paper_fees(market: Market) -> PaperFees {
    let bp = |n: i64| Decimal::new(n, 4);
    match market {
        Market::CoinM | Market::UsdM | Market::Spot => PaperFees {
            maker: bp(2),
            taker: bp(5),
        },
    }
}

/// Binance futures simulated (module docs). Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct PaperFuturesVenue {
    inner: Arc<Inner>,
}

struct Inner {
    /// Public endpoints only: never signed.
    client: FuturesClient,
    market: Market,
    store: Store,
    clock: Clock,
    fees: PaperFees,
    /// Serializes every read-check-write of orders, balances and positions.
    lock: tokio::sync::Mutex<()>,
    rules: Mutex<HashMap<Symbol, (SymbolInfo, Contract)>>,
    /// The last ids handed out (kept in step with every commit).
    ids: IdCache,
}

impl std::fmt::Debug for PaperFuturesVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaperFuturesVenue")
            .field("market", &self.inner.market)
            .field("fees", &self.inner.fees)
            .finish_non_exhaustive()
    }
}

/// What the money of a symbol's contract is: its margin asset and, on COIN-M, the
/// contract size (module docs).
#[derive(Debug, Clone)]
struct Contract {
    margin_asset: String,
    /// COIN-M: USD per contract; `None` on USDⓈ-M.
    size: Option<Decimal>,
}

/// Coin amounts (COIN-M) are kept to 8 decimals, as Binance shows them.
const COIN_DP: u32 = 8;

impl Contract {
    /// An amount of the margin asset as kept: exact on USDⓈ-M, 8 decimals of a coin on
    /// COIN-M.
    fn money(&self, amount: Decimal) -> Decimal {
        match self.size {
            None => amount,
            Some(_) => amount.round_dp(COIN_DP),
        }
    }

    /// The value of `qty` at `price`, in the margin asset.
    fn notional(&self, qty: Decimal, price: Decimal) -> Decimal {
        match self.size {
            None => qty * price,
            Some(_) if price.is_zero() => Decimal::ZERO,
            Some(size) => (qty * size / price).round_dp(COIN_DP),
        }
    }

    /// The realized PnL of closing `closed` (> 0) of a position entered at `entry` at
    /// `exit`; `long` says which way the position was.
    fn pnl(&self, closed: Decimal, entry: Decimal, exit: Decimal, long: bool) -> Decimal {
        let up = match self.size {
            None => closed * (exit - entry),
            Some(_) if entry.is_zero() || exit.is_zero() => Decimal::ZERO,
            Some(size) => (closed * size / entry - closed * size / exit).round_dp(COIN_DP),
        };
        if long { up } else { -up }
    }

    /// The average entry of `held` at `entry` and `added` at `price` (both > 0 in size).
    fn average(&self, held: Decimal, entry: Decimal, added: Decimal, price: Decimal) -> Decimal {
        let total = held + added;
        if total.is_zero() {
            return Decimal::ZERO;
        }
        match self.size {
            None => (held * entry + added * price) / total,
            Some(_) => {
                let weight =
                    |q: Decimal, p: Decimal| if p.is_zero() { Decimal::ZERO } else { q / p };
                let sum = weight(held, entry) + weight(added, price);
                if sum.is_zero() { price } else { total / sum }
            }
        }
    }
}

/// A position as the venue keeps it: signed quantity and average entry.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    qty: Decimal,
    entry: Decimal,
}

/// A fill applied to a position.
#[derive(Debug, Clone, Copy)]
struct Applied {
    after: Held,
    realized: Decimal,
}

/// `held` after a fill of `side`, `qty` at `price` (module docs: average cost).
fn apply_fill(c: &Contract, held: Held, side: Side, qty: Decimal, price: Decimal) -> Applied {
    let delta = match side {
        Side::Buy => qty,
        Side::Sell => -qty,
    };
    if held.qty.is_zero() || held.qty.is_sign_positive() == delta.is_sign_positive() {
        return Applied {
            after: Held {
                qty: held.qty + delta,
                entry: c.average(held.qty.abs(), held.entry, qty, price),
            },
            realized: Decimal::ZERO,
        };
    }
    let closed = qty.min(held.qty.abs());
    let realized = c.pnl(closed, held.entry, price, held.qty.is_sign_positive());
    let qty_after = held.qty + delta;
    let entry = if qty_after.is_zero() {
        Decimal::ZERO
    } else if qty > closed {
        price
    } else {
        held.entry
    };
    Applied {
        after: Held {
            qty: qty_after,
            entry,
        },
        realized,
    }
}

/// How much of `qty` of `side` reduces `held` (the rest opens or adds).
fn reducing(held: Held, side: Side, qty: Decimal) -> Decimal {
    let against = match side {
        Side::Buy => held.qty.is_sign_negative(),
        Side::Sell => held.qty.is_sign_positive(),
    };
    if against && !held.qty.is_zero() {
        qty.min(held.qty.abs())
    } else {
        Decimal::ZERO
    }
}

/// Whether an order only reduces: `reduce_only`, `close_position`, or in hedge mode a SELL
/// on LONG / a BUY on SHORT.
fn only_reduces(f: &FuturesOrderState, side: Side) -> bool {
    f.reduce_only
        || f.close_position
        || matches!(
            (f.position_side, side),
            (Some(PositionSide::Long), Side::Sell) | (Some(PositionSide::Short), Side::Buy)
        )
}

impl PaperFuturesVenue {
    /// A paper venue for `client`'s futures market (its public endpoints; an unsigned
    /// handle is enough), recording in `store`, charging `fees` (see
    /// [`futures_paper_fees`]).
    pub fn new(
        client: FuturesClient,
        store: Store,
        clock: Clock,
        fees: PaperFees,
    ) -> PaperFuturesVenue {
        let market = client.market();
        PaperFuturesVenue {
            inner: Arc::new(Inner {
                client,
                market,
                store,
                clock,
                fees,
                lock: tokio::sync::Mutex::new(()),
                rules: Mutex::new(HashMap::new()),
                ids: IdCache::default(),
            }),
        }
    }

    /// Gives the paper account of this market `balances` (asset → wallet balance) when
    /// it has none yet; returns whether it did. Recorded as an account snapshot.
    ///
    /// # Errors
    /// The database's.
    pub async fn seed_balances(
        &self,
        balances: &BTreeMap<String, Decimal>,
    ) -> Result<bool, StoreError> {
        let _guard = self.inner.lock.lock().await;
        let now = self.inner.clock.now_ms();
        let account = Account {
            can_trade: true,
            update_time: now,
            balances: balances
                .iter()
                .filter(|(_, amount)| !amount.is_zero())
                .map(|(asset, amount)| Balance {
                    asset: asset.clone(),
                    free: *amount,
                    locked: Decimal::ZERO,
                })
                .collect(),
        };
        let market = self.inner.market;
        self.inner
            .store
            .run(move |s| {
                if !s.balances(market)?.is_empty() {
                    return Ok(false);
                }
                s.apply_account(market, &account, now)?;
                Ok(true)
            })
            .await
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<R, StoreError> + Send + 'static,
    ) -> VenueResult<R> {
        self.inner.store.run(f).await.map_err(store_error)
    }

    fn reject(&self, r: FuturesPaperRejection) -> ExchangeError {
        r.error(self.inner.market)
    }

    async fn info(&self, symbol: &Symbol) -> VenueResult<(SymbolInfo, Contract)> {
        let cached = locked(&self.inner.rules).get(symbol).cloned();
        if let Some(found) = cached {
            return Ok(found);
        }
        let info = self.inner.client.exchange_info_for(symbol).await?;
        let info = info
            .symbol(symbol)
            .cloned()
            .ok_or_else(|| ExchangeError::InvalidRequest(format!("unknown symbol {symbol}")))?;
        let contract = match self.inner.market {
            Market::CoinM => {
                let size = self
                    .inner
                    .client
                    .contract_spec(symbol)
                    .and_then(|c| c.contract_size)
                    .filter(|s| *s > Decimal::ZERO)
                    .ok_or_else(|| {
                        ExchangeError::InvalidRequest(format!(
                            "paper trading: no contract size for {symbol} in exchangeInfo"
                        ))
                    })?;
                Contract {
                    margin_asset: info.base_asset.clone(),
                    size: Some(size),
                }
            }
            _ => Contract {
                margin_asset: info.quote_asset.clone(),
                size: None,
            },
        };
        locked(&self.inner.rules).insert(symbol.clone(), (info.clone(), contract.clone()));
        Ok((info, contract))
    }

    async fn book(&self, symbol: &Symbol) -> VenueResult<BookTicker> {
        let book = self.inner.client.book_ticker(symbol).await?;
        if !book.is_two_sided() {
            return Err(ExchangeError::InvalidRequest(format!(
                "paper trading: no market data for {symbol} yet (no bid and ask); the order is not filled at a made-up price"
            )));
        }
        Ok(book)
    }

    /// The stored position of (`symbol`, `side`), its leverage and margin type (defaults
    /// when none is stored).
    async fn position(
        &self,
        symbol: &Symbol,
        side: PositionSide,
    ) -> VenueResult<(Held, u32, MarginType)> {
        let (market, sym) = (self.inner.market, symbol.clone());
        let rows = self
            .read(move |s| s.positions(Some(market), Some(&sym), false))
            .await?;
        let leverage = rows
            .iter()
            .find_map(|p| p.leverage)
            .unwrap_or(DEFAULT_PAPER_LEVERAGE)
            .max(1);
        let margin = rows
            .iter()
            .find_map(|p| p.margin_type)
            .unwrap_or(MarginType::Crossed);
        let held = rows
            .iter()
            .find(|p| p.position_side == side)
            .map(|p| Held {
                qty: p.quantity,
                entry: p.entry_price,
            })
            .unwrap_or_default();
        Ok((held, leverage, margin))
    }

    /// The wallet balance of `asset` less the initial margin of this market's open
    /// positions and resting orders paid in it (module docs), and the wallet balance.
    async fn available(&self, asset: &str) -> VenueResult<(Decimal, Decimal)> {
        let market = self.inner.market;
        let (balances, positions, open) = self
            .read(move |s| {
                Ok((
                    s.balances(market)?,
                    s.positions(Some(market), None, true)?,
                    s.orders_not_final_in(market)?,
                ))
            })
            .await?;
        let wallet = balances
            .iter()
            .find(|b| b.asset == asset)
            .map_or(Decimal::ZERO, |b| b.free);
        let mut leverage_of: HashMap<Symbol, u32> = HashMap::new();
        let mut used = Decimal::ZERO;
        for p in &positions {
            let (_, c) = self.info(&p.symbol).await?;
            if c.margin_asset != asset {
                continue;
            }
            let lev = p.leverage.unwrap_or(DEFAULT_PAPER_LEVERAGE).max(1);
            leverage_of.insert(p.symbol.clone(), lev);
            used += c.notional(p.quantity.abs(), p.entry_price) / Decimal::from(lev);
        }
        for row in open.iter().filter(|r| r.market == market && is_open(r)) {
            let Some(kind) = Resting::of(row) else {
                continue;
            };
            if row
                .futures
                .as_ref()
                .is_some_and(|f| only_reduces(f, row.side))
            {
                continue;
            }
            let (_, c) = self.info(&row.symbol).await?;
            if c.margin_asset != asset {
                continue;
            }
            let lev = match leverage_of.get(&row.symbol) {
                Some(l) => *l,
                None => self.position(&row.symbol, PositionSide::Both).await?.1,
            };
            let open_qty = kind.qty - row.executed_qty;
            used += c.notional(open_qty, kind.fill_price) / Decimal::from(lev);
        }
        Ok((wallet - used, wallet))
    }

    /// Writes `updates` (and, with a fill, the account update: `asset` at `wallet`, the
    /// position after it) and the symbol's leverage in one transaction.
    async fn commit(
        &self,
        updates: Vec<OrderTradeUpdate>,
        account: Option<(String, Decimal, Position)>,
        leverage: (Symbol, u32),
        now: i64,
    ) -> VenueResult<()> {
        let used = updates.iter().fold(PaperIds::default(), |ids, u| PaperIds {
            order_id: ids.order_id.max(u.order_id),
            trade_id: ids.trade_id.max(u.trade_id),
            execution_id: ids.execution_id,
        });
        let mut events: Vec<UserDataEvent> =
            updates.into_iter().map(simulated_order_update).collect();
        if let Some((asset, wallet, p)) = account {
            let at = self.record_time(now).await?;
            events.push(simulated_account_update(AccountUpdate {
                event_time: now,
                transaction_time: at,
                reason: "ORDER".to_string(),
                balances: vec![FuturesBalance {
                    asset,
                    wallet_balance: wallet,
                    cross_wallet_balance: wallet,
                    balance_change: Decimal::ZERO,
                }],
                positions: vec![PositionUpdate {
                    symbol: p.symbol.clone(),
                    amount: p.quantity,
                    entry_price: p.entry_price,
                    break_even_price: None,
                    accumulated_realized: Decimal::ZERO,
                    unrealized_pnl: Decimal::ZERO,
                    margin_type: match p.margin_type {
                        Some(MarginType::Isolated) => "isolated".to_string(),
                        _ => "cross".to_string(),
                    },
                    isolated_wallet: Decimal::ZERO,
                    position_side: p.position_side.as_str().to_string(),
                }],
                raw: String::new(),
            }));
        }
        let (market, local) = (self.inner.market, self.inner.clock.now_ms());
        let written = self
            .read(move |s| {
                s.apply_paper_futures(market, &events, Some((&leverage.0, leverage.1)), local)
            })
            .await;
        self.inner.ids.after_write(written.is_ok(), used);
        written.map(|_| ())
    }

    /// The last ids handed out on this market ([`IdCache`]): kept, or read once.
    async fn ids(&self) -> VenueResult<PaperIds> {
        if let Some(kept) = self.inner.ids.kept() {
            return Ok(kept);
        }
        let (ids, market) = (self.inner.ids.clone(), self.inner.market);
        self.read(move |s| ids.get(s, market)).await
    }

    /// The exchange time a change at `now` is recorded at: never before the stored
    /// balances and positions of this market (only a report not older replaces them).
    async fn record_time(&self, now: i64) -> VenueResult<i64> {
        let market = self.inner.market;
        let (balances, positions) = self
            .read(move |s| Ok((s.balances(market)?, s.positions(Some(market), None, false)?)))
            .await?;
        let stored = balances
            .iter()
            .map(|b| b.update_time)
            .chain(positions.iter().map(|p| p.updated_at))
            .max()
            .unwrap_or(0);
        Ok(now.max(stored))
    }

    async fn place(
        &self,
        request: &OrderRequest,
        client_order_id: &ClientOrderId,
    ) -> VenueResult<Order> {
        if request.order_type == OrderType::TrailingStopMarket {
            return Err(ExchangeError::InvalidRequest(
                "TRAILING_STOP_MARKET is not simulated in paper trading".into(),
            ));
        }
        let (_, contract) = self.info(&request.symbol).await?;
        let book = self.book(&request.symbol).await?;
        let _guard = self.inner.lock.lock().await;
        let market = self.inner.market;
        let now = self.inner.client.server_now_ms();
        let ids = self.ids().await?;
        let order_id = ids.order_id + 1;
        let side = request.side;
        let position_side = request.position_side.unwrap_or(PositionSide::Both);
        let state = FuturesOrderState {
            position_side: Some(position_side),
            reduce_only: request.reduce_only.unwrap_or(false),
            close_position: request.close_position.unwrap_or(false),
            working_type: request.working_type,
            price_protect: request.price_protect.unwrap_or(false),
            ..FuturesOrderState::default()
        };
        let (held, leverage, margin_type) = self.position(&request.symbol, position_side).await?;
        let (book_price, book_qty) = match side {
            Side::Buy => (book.ask_price, book.ask_qty),
            Side::Sell => (book.bid_price, book.bid_qty),
        };
        let qty = request.quantity.unwrap_or_default();
        let reduces = only_reduces(&state, side);
        if reduces && !state.close_position && reducing(held, side, Decimal::ONE).is_zero() {
            return Err(self.reject(FuturesPaperRejection::ReduceOnlyRejected));
        }
        if qty <= Decimal::ZERO && !state.close_position {
            return Err(ExchangeError::InvalidRequest(
                "paper trading: the order's quantity is zero".into(),
            ));
        }
        let limit = request.price;
        let tif = request.time_in_force;
        let crosses = |p: Decimal| match side {
            Side::Buy => p >= book.ask_price,
            Side::Sell => p <= book.bid_price,
        };
        // What happens now: (quantity filled at the book, does the rest rest?).
        let (fill_now, rests) = match request.order_type {
            OrderType::Market => (qty, false),
            OrderType::Limit => {
                let p = limit.unwrap_or_default();
                if !crosses(p) {
                    (
                        Decimal::ZERO,
                        !matches!(tif, Some(TimeInForce::Ioc | TimeInForce::Fok)),
                    )
                } else {
                    match tif {
                        Some(TimeInForce::Gtx) => {
                            return Err(self.reject(FuturesPaperRejection::WouldTake));
                        }
                        Some(TimeInForce::Ioc) => (qty.min(book_qty), false),
                        Some(TimeInForce::Fok) if qty > book_qty => (Decimal::ZERO, false),
                        _ => (qty, false),
                    }
                }
            }
            _ => {
                let kind = Resting::new(
                    market,
                    request.order_type,
                    side,
                    qty,
                    limit,
                    request.stop_price,
                )
                .ok_or_else(|| {
                    ExchangeError::InvalidRequest("stop order without a stop price".into())
                })?;
                if kind.triggered(book_price, book_price) {
                    return Err(self.reject(FuturesPaperRejection::WouldTrigger));
                }
                (Decimal::ZERO, true)
            }
        };
        // A reducing order fills at most the position.
        let fill_now = if reduces {
            fill_now.min(held.qty.abs())
        } else {
            fill_now
        };
        // Margin: the opening part of what fills now (at the book) or rests (at its price).
        let (margin_qty, margin_price, fee_rate) = if !fill_now.is_zero() {
            let opening = fill_now - reducing(held, side, fill_now);
            (opening, book_price, self.inner.fees.taker)
        } else if rests && !reduces {
            let p = limit.or(request.stop_price).unwrap_or(book_price);
            let rate = if request.order_type.needs_price_on(market) {
                self.inner.fees.maker
            } else {
                self.inner.fees.taker
            };
            (qty, p, rate)
        } else {
            (Decimal::ZERO, book_price, Decimal::ZERO)
        };
        let opening_notional = contract.notional(margin_qty, margin_price);
        let needed = opening_notional / Decimal::from(leverage) + opening_notional * fee_rate;
        let (available, wallet) = self.available(&contract.margin_asset).await?;
        if !margin_qty.is_zero() && available < needed {
            return Err(self.reject(FuturesPaperRejection::MarginInsufficient));
        }

        let base = OrderTradeUpdate {
            event_time: now,
            transaction_time: now,
            symbol: request.symbol.clone(),
            client_order_id: client_order_id.to_string(),
            side,
            order_type: request.order_type.as_str().to_string(),
            time_in_force: tif.unwrap_or(TimeInForce::Gtc).as_str().to_string(),
            quantity: qty,
            price: limit.unwrap_or_default(),
            average_price: Decimal::ZERO,
            stop_price: request.stop_price,
            execution_type: ExecutionType::New,
            order_status: FuturesOrderStatus::Status(OrderStatus::New),
            order_id,
            last_qty: Decimal::ZERO,
            cumulative_qty: Decimal::ZERO,
            last_price: Decimal::ZERO,
            commission_asset: None,
            commission: None,
            trade_time: now,
            trade_id: 0,
            bids_notional: Decimal::ZERO,
            asks_notional: Decimal::ZERO,
            is_maker: false,
            reduce_only: state.reduce_only,
            working_type: request
                .working_type
                .map_or("CONTRACT_PRICE", |w| w.as_str())
                .to_string(),
            original_order_type: request.order_type.as_str().to_string(),
            position_side: position_side.as_str().to_string(),
            close_position: state.close_position,
            activation_price: None,
            callback_rate: None,
            price_protect: state.price_protect,
            realized_pnl: Decimal::ZERO,
            stp_mode: None,
            price_match: None,
            good_till_date: None,
            expiry_reason: None,
            margin_asset: (market == Market::CoinM).then(|| contract.margin_asset.clone()),
            raw: String::new(),
        };
        let mut updates = vec![base.clone()];
        let mut status = OrderStatus::New;
        let mut fills = Vec::new();
        let mut account = None;
        let mut avg = None;
        if !fill_now.is_zero() {
            let applied = apply_fill(&contract, held, side, fill_now, book_price);
            let commission =
                contract.money(contract.notional(fill_now, book_price) * self.inner.fees.taker);
            status = if fill_now == qty {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
            let mut trade = base.clone();
            trade.execution_type = ExecutionType::Trade;
            trade.order_status = FuturesOrderStatus::Status(status);
            trade.last_qty = fill_now;
            trade.last_price = book_price;
            trade.average_price = book_price;
            trade.cumulative_qty = fill_now;
            trade.commission = Some(commission);
            trade.commission_asset = Some(contract.margin_asset.clone());
            trade.trade_id = ids.trade_id + 1;
            trade.realized_pnl = applied.realized;
            updates.push(trade.clone());
            fills.push(Fill {
                price: book_price,
                qty: fill_now,
                commission,
                commission_asset: contract.margin_asset.clone(),
                trade_id: ids.trade_id + 1,
            });
            avg = Some(book_price);
            account = Some((
                contract.margin_asset.clone(),
                wallet + applied.realized - commission,
                Position {
                    market,
                    symbol: request.symbol.clone(),
                    position_side,
                    quantity: applied.after.qty,
                    entry_price: applied.after.entry,
                    break_even_price: None,
                    unrealized_pnl: Decimal::ZERO,
                    leverage: Some(leverage),
                    margin_type: Some(margin_type),
                    isolated_wallet: None,
                    updated_at: now,
                },
            ));
            if status != OrderStatus::Filled && !rests {
                let mut expired = trade;
                expired.execution_type = ExecutionType::Expired;
                expired.order_status = FuturesOrderStatus::Status(OrderStatus::Expired);
                expired.last_qty = Decimal::ZERO;
                expired.last_price = Decimal::ZERO;
                expired.commission = None;
                expired.commission_asset = None;
                expired.trade_id = 0;
                expired.realized_pnl = Decimal::ZERO;
                updates.push(expired);
                status = OrderStatus::Expired;
            }
        } else if !rests {
            let mut expired = base.clone();
            expired.execution_type = ExecutionType::Expired;
            expired.order_status = FuturesOrderStatus::Status(OrderStatus::Expired);
            updates.push(expired);
            status = OrderStatus::Expired;
        }
        self.commit(updates, account, (request.symbol.clone(), leverage), now)
            .await?;
        Ok(Order {
            symbol: request.symbol.clone(),
            order_id,
            client_order_id: client_order_id.to_string(),
            side,
            order_type: request.order_type,
            time_in_force: tif,
            price: limit.unwrap_or_default(),
            orig_qty: qty,
            orig_quote_order_qty: Decimal::ZERO,
            executed_qty: fill_now,
            cummulative_quote_qty: fill_now * book_price,
            stop_price: request.stop_price,
            status,
            time: Some(now),
            update_time: Some(now),
            fills,
            futures: Some(FuturesOrderState {
                avg_price: avg,
                ..state
            }),
        })
    }

    async fn find(&self, symbol: &Symbol, which: &OrderRef) -> VenueResult<Option<OrderRow>> {
        let (market, symbol, which) = (self.inner.market, symbol.clone(), which.clone());
        self.read(move |s| match &which {
            OrderRef::OrderId(id) => s.order_by_exchange_id(market, &symbol, *id),
            OrderRef::ClientOrderId(c) => Ok(s
                .order_by_client_id(c)?
                .filter(|r| r.symbol == symbol && r.market == market)),
        })
        .await
    }

    async fn cancel(&self, symbol: &Symbol, which: &OrderRef) -> VenueResult<Order> {
        let _guard = self.inner.lock.lock().await;
        let row = self.find(symbol, which).await?;
        let Some((row, order_id)) = row.and_then(|r| {
            let id = r.order_id?;
            is_open(&r).then_some((r, id))
        }) else {
            return Err(self.reject(FuturesPaperRejection::CancelRejected));
        };
        let now = self.inner.client.server_now_ms();
        let mut update = row_update(&row, order_id, now);
        update.execution_type = ExecutionType::Canceled;
        update.order_status = FuturesOrderStatus::Status(OrderStatus::Canceled);
        let (_, leverage, _) = self.position(symbol, position_side_of(&row)).await?;
        self.commit(vec![update], None, (symbol.clone(), leverage), now)
            .await?;
        let mut order = row_order(&row, order_id);
        order.status = OrderStatus::Canceled;
        order.update_time = Some(now);
        Ok(order)
    }

    /// Looks once at the prices of every symbol with resting paper orders of this market
    /// and fills those the prices reached since they were placed (module docs), in the
    /// order the prices reached them (each fill moves its position). The symbols' prices
    /// are read a few at a time ([`PRICE_READS`]). Returns the fills.
    ///
    /// # Errors
    /// The exchange's time or the database's; the orders of a symbol whose prices cannot be
    /// read wait for the next look, without holding up the other symbols.
    pub async fn check_resting(&self) -> VenueResult<usize> {
        let market = self.inner.market;
        let rows = self.read(move |s| s.orders_not_final_in(market)).await?;
        let mut by_symbol: BTreeMap<Symbol, Vec<OrderRow>> = BTreeMap::new();
        for row in rows {
            if row.market == market && is_open(&row) && row.order_id.is_some() {
                by_symbol.entry(row.symbol.clone()).or_default().push(row);
            }
        }
        if by_symbol.is_empty() {
            return Ok(0);
        }
        let now = self.inner.client.server_time().await?;
        let looks: Vec<Vec<(OrderRow, i64)>> = futures::stream::iter(by_symbol)
            .map(|(symbol, orders)| self.reached_orders(symbol, orders, now))
            .buffer_unordered(PRICE_READS)
            .collect()
            .await;
        let mut due: Vec<(OrderRow, i64)> = looks.into_iter().flatten().collect();
        due.sort_by_key(|(order, at)| (*at, order.id));
        let mut filled = 0;
        for (order, at) in due {
            if self.fill_resting(&order, at, now).await? {
                filled += 1;
            }
        }
        Ok(filled)
    }

    /// The orders of `symbol` (all resting) its prices reached ([`reached_by`]).
    async fn reached_orders(
        &self,
        symbol: Symbol,
        orders: Vec<OrderRow>,
        now: i64,
    ) -> Vec<(OrderRow, i64)> {
        let client = &self.inner.client;
        let since = klines_since(&orders, now);
        let prices = tokio::join!(
            client.klines(&symbol, Interval::M1, Some(since), None, 1000),
            client.book_ticker(&symbol),
        );
        reached_by(self.inner.market, &symbol, orders, prices, now)
    }

    /// Fills resting `order` at its price (maker; taker for a triggered market stop), at
    /// time `at`; a reducing order with nothing left to reduce expires. `false` when it is
    /// no longer open.
    async fn fill_resting(&self, order: &OrderRow, at: i64, now: i64) -> VenueResult<bool> {
        let _guard = self.inner.lock.lock().await;
        let id = order.client_order_id.clone();
        let Some(row) = self.read(move |s| s.order_by_client_id(&id)).await? else {
            return Ok(false);
        };
        let (Some(kind), Some(order_id)) = (Resting::of(&row), row.order_id) else {
            return Ok(false);
        };
        if !is_open(&row) {
            return Ok(false);
        }
        let (_, contract) = self.info(&row.symbol).await?;
        let market = self.inner.market;
        let state = row.futures.clone().unwrap_or_default();
        let position_side = position_side_of(&row);
        let (held, leverage, margin_type) = self.position(&row.symbol, position_side).await?;
        let mut qty = kind.qty - row.executed_qty;
        if state.close_position {
            qty = reducing(held, row.side, held.qty.abs());
        } else if only_reduces(&state, row.side) {
            qty = reducing(held, row.side, qty);
        }
        let mut update = row_update(&row, order_id, now);
        update.trade_time = at.max(row.update_time.unwrap_or(0));
        update.transaction_time = update.trade_time;
        if qty <= Decimal::ZERO {
            update.execution_type = ExecutionType::Expired;
            update.order_status = FuturesOrderStatus::Status(OrderStatus::Expired);
            self.commit(vec![update], None, (row.symbol.clone(), leverage), now)
                .await?;
            return Ok(true);
        }
        let price = kind.fill_price;
        let is_maker = kind.order_type.needs_price_on(market);
        let rate = if is_maker {
            self.inner.fees.maker
        } else {
            self.inner.fees.taker
        };
        let commission = contract.money(contract.notional(qty, price) * rate);
        let applied = apply_fill(&contract, held, row.side, qty, price);
        let (_, wallet) = self.available(&contract.margin_asset).await?;
        let ids = self.ids().await?;
        let cumulative = row.executed_qty + qty;
        update.execution_type = ExecutionType::Trade;
        update.order_status = FuturesOrderStatus::Status(OrderStatus::Filled);
        update.last_qty = qty;
        update.last_price = price;
        update.cumulative_qty = cumulative;
        update.average_price = if cumulative.is_zero() {
            price
        } else {
            (row.cummulative_quote_qty + qty * price) / cumulative
        };
        update.commission = Some(commission);
        update.commission_asset = Some(contract.margin_asset.clone());
        update.trade_id = ids.trade_id + 1;
        update.is_maker = is_maker;
        update.realized_pnl = applied.realized;
        let position = Position {
            market,
            symbol: row.symbol.clone(),
            position_side,
            quantity: applied.after.qty,
            entry_price: applied.after.entry,
            break_even_price: None,
            unrealized_pnl: Decimal::ZERO,
            leverage: Some(leverage),
            margin_type: Some(margin_type),
            isolated_wallet: None,
            updated_at: now,
        };
        self.commit(
            vec![update],
            Some((
                contract.margin_asset.clone(),
                wallet + applied.realized - commission,
                position,
            )),
            (row.symbol.clone(), leverage),
            now,
        )
        .await?;
        tracing::info!(market = market.as_str(), symbol = %row.symbol, client_order_id = %row.client_order_id, %price, %qty, "paper futures order filled");
        Ok(true)
    }
}

fn is_open(row: &OrderRow) -> bool {
    matches!(row.status, OrderStatus::New | OrderStatus::PartiallyFilled)
}

fn position_side_of(row: &OrderRow) -> PositionSide {
    row.futures
        .as_ref()
        .and_then(|f| f.position_side)
        .unwrap_or(PositionSide::Both)
}

/// An order update about stored `row` (no trade), at `now`.
fn row_update(row: &OrderRow, order_id: i64, now: i64) -> OrderTradeUpdate {
    let f = row.futures.clone().unwrap_or_default();
    OrderTradeUpdate {
        event_time: now,
        transaction_time: now,
        symbol: row.symbol.clone(),
        client_order_id: row.client_order_id.to_string(),
        side: row.side,
        order_type: row.order_type.as_str().to_string(),
        time_in_force: row
            .time_in_force
            .unwrap_or(TimeInForce::Gtc)
            .as_str()
            .to_string(),
        quantity: row.quantity.unwrap_or_default(),
        price: row.price.unwrap_or_default(),
        average_price: f.avg_price.unwrap_or_default(),
        stop_price: row.stop_price,
        execution_type: ExecutionType::New,
        order_status: FuturesOrderStatus::Status(row.status),
        order_id,
        last_qty: Decimal::ZERO,
        cumulative_qty: row.executed_qty,
        last_price: Decimal::ZERO,
        commission_asset: None,
        commission: None,
        trade_time: now.max(row.update_time.unwrap_or(0)),
        trade_id: 0,
        bids_notional: Decimal::ZERO,
        asks_notional: Decimal::ZERO,
        is_maker: false,
        reduce_only: f.reduce_only,
        working_type: f
            .working_type
            .map_or("CONTRACT_PRICE", |w| w.as_str())
            .to_string(),
        original_order_type: row.order_type.as_str().to_string(),
        position_side: position_side_of(row).as_str().to_string(),
        close_position: f.close_position,
        activation_price: None,
        callback_rate: None,
        price_protect: f.price_protect,
        realized_pnl: Decimal::ZERO,
        stp_mode: None,
        price_match: None,
        good_till_date: None,
        expiry_reason: None,
        margin_asset: None,
        raw: String::new(),
    }
}

/// A stored order as the venue reports it.
fn row_order(row: &OrderRow, order_id: i64) -> Order {
    Order {
        symbol: row.symbol.clone(),
        order_id,
        client_order_id: row.client_order_id.to_string(),
        side: row.side,
        order_type: row.order_type,
        time_in_force: row.time_in_force,
        price: row.price.unwrap_or_default(),
        orig_qty: row.quantity.unwrap_or_default(),
        orig_quote_order_qty: Decimal::ZERO,
        executed_qty: row.executed_qty,
        cummulative_quote_qty: row.cummulative_quote_qty,
        stop_price: row.stop_price,
        status: row.status,
        time: row.transact_time,
        update_time: row.update_time,
        fills: row.fills.clone(),
        futures: row.futures.clone(),
    }
}

impl Venue for PaperFuturesVenue {
    fn market(&self) -> Market {
        self.inner.market
    }

    /// Simulated at once (module docs); nothing is sent but public market-data requests.
    fn place_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.place(request, client_order_id).boxed()
    }

    /// From the database; `-2013` "Order does not exist." when it has no such paper order.
    fn query_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        async move {
            match self.find(symbol, which).await? {
                Some(row) if !row.status.is_local() => match row.order_id {
                    Some(id) => Ok(row_order(&row, id)),
                    None => Err(self.reject(FuturesPaperRejection::NoSuchOrder)),
                },
                _ => Err(self.reject(FuturesPaperRejection::NoSuchOrder)),
            }
        }
        .boxed()
    }

    /// Cancels a resting paper order; `-2011` "Unknown order sent." when it is not open.
    fn cancel_order<'a>(
        &'a self,
        symbol: &'a Symbol,
        which: &'a OrderRef,
    ) -> BoxFuture<'a, VenueResult<Order>> {
        self.cancel(symbol, which).boxed()
    }

    /// The local checks `Orders` ran are all the paper venue has; an unknown symbol is
    /// `-1121`.
    fn test_order<'a>(
        &'a self,
        request: &'a OrderRequest,
        _client_order_id: &'a ClientOrderId,
    ) -> BoxFuture<'a, VenueResult<()>> {
        async move { self.info(&request.symbol).await.map(|_| ()) }.boxed()
    }

    /// Cancels every resting paper order of `symbol`, one by one; `-2011` when none is
    /// open.
    fn cancel_open_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let open = self.open_orders(Some(symbol)).await?;
            if open.is_empty() {
                return Err(self.reject(FuturesPaperRejection::CancelRejected));
            }
            let mut cancelled = Vec::with_capacity(open.len());
            for order in open {
                cancelled.push(
                    self.cancel(symbol, &OrderRef::OrderId(order.order_id))
                        .await?,
                );
            }
            Ok(cancelled)
        }
        .boxed()
    }

    fn open_orders<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let market = self.inner.market;
            let rows = self.read(move |s| s.orders_not_final_in(market)).await?;
            Ok(rows
                .iter()
                .filter(|r| r.market == market && symbol.is_none_or(|s| &r.symbol == s))
                .filter(|r| is_open(r))
                .filter_map(|r| Some(row_order(r, r.order_id?)))
                .collect())
        }
        .boxed()
    }

    /// The paper orders of `symbol` from the database, oldest first.
    fn all_orders<'a>(
        &'a self,
        symbol: &'a Symbol,
        from_order_id: Option<i64>,
        limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Order>>> {
        async move {
            let market = self.inner.market;
            let filter = crate::store::OrderFilter {
                market: Some(market),
                symbol: Some(symbol.clone()),
                limit: 1000,
                ..Default::default()
            };
            let rows = self.read(move |s| s.orders(&filter)).await?;
            let mut orders: Vec<Order> = rows
                .iter()
                .filter(|r| r.market == market && !r.status.is_local())
                .filter_map(|r| Some(row_order(r, r.order_id?)))
                .filter(|o| from_order_id.is_none_or(|from| o.order_id >= from))
                .collect();
            orders.sort_by_key(|o| o.order_id);
            orders.truncate(usize::from(limit));
            Ok(orders)
        }
        .boxed()
    }

    /// Nothing to catch up: paper fills are stored as they are simulated.
    fn my_trades<'a>(
        &'a self,
        _symbol: &'a Symbol,
        _from_id: Option<i64>,
        _limit: u16,
    ) -> BoxFuture<'a, VenueResult<Vec<Trade>>> {
        async { Ok(Vec::new()) }.boxed()
    }

    /// The paper wallet balances from the database.
    fn account(&self) -> BoxFuture<'_, VenueResult<Account>> {
        async move {
            let market = self.inner.market;
            let rows = self.read(move |s| s.balances(market)).await?;
            Ok(Account {
                can_trade: true,
                update_time: rows.iter().map(|b| b.update_time).max().unwrap_or(0),
                balances: rows
                    .into_iter()
                    .filter(|b| !(b.free.is_zero() && b.locked.is_zero()))
                    .map(|b| Balance {
                        asset: b.asset,
                        free: b.free,
                        locked: b.locked,
                    })
                    .collect(),
            })
        }
        .boxed()
    }

    /// The market's public `exchangeInfo`, kept for `symbol`.
    fn symbol_info<'a>(
        &'a self,
        symbol: &'a Symbol,
    ) -> BoxFuture<'a, VenueResult<Option<SymbolInfo>>> {
        async move {
            let info = self.inner.client.exchange_info_for(symbol).await?;
            Ok(info.symbol(symbol).cloned())
        }
        .boxed()
    }

    /// The book ticker's bid (public).
    fn last_price<'a>(&'a self, symbol: &'a Symbol) -> BoxFuture<'a, VenueResult<Decimal>> {
        async move { Ok(self.book(symbol).await?.bid_price) }.boxed()
    }

    fn server_now_ms(&self) -> i64 {
        self.inner.client.server_now_ms()
    }

    /// Zero: a paper placement either happened (its row says so) or not.
    fn acceptance_window_ms(&self) -> u64 {
        0
    }

    /// Paper orders count against no exchange limit.
    fn check_order_rate(&self) -> VenueResult<()> {
        Ok(())
    }

    /// The stored paper positions (flat ones included).
    fn positions<'a>(
        &'a self,
        symbol: Option<&'a Symbol>,
    ) -> BoxFuture<'a, VenueResult<Vec<Position>>> {
        async move {
            let (market, symbol) = (self.inner.market, symbol.cloned());
            self.read(move |s| s.positions(Some(market), symbol.as_ref(), false))
                .await
        }
        .boxed()
    }

    /// Accepted as asked (the orders component records it on the symbol's positions);
    /// `-4028`-like refusals of the exchange's leverage brackets are not simulated.
    fn set_leverage<'a>(
        &'a self,
        symbol: &'a Symbol,
        leverage: u32,
    ) -> BoxFuture<'a, VenueResult<u32>> {
        async move {
            self.info(symbol).await?;
            if !(1..=125).contains(&leverage) {
                return Err(ExchangeError::InvalidRequest(format!(
                    "leverage {leverage} is out of range 1..=125"
                )));
            }
            Ok(leverage)
        }
        .boxed()
    }

    /// Refused as Binance does while the symbol has a position (`-4048`) or open orders
    /// (`-4047`); otherwise accepted (recorded by the orders component).
    fn set_margin_type<'a>(
        &'a self,
        symbol: &'a Symbol,
        margin_type: MarginType,
    ) -> BoxFuture<'a, VenueResult<()>> {
        async move {
            self.info(symbol).await?;
            let (market, sym) = (self.inner.market, symbol.clone());
            let (positions, open) = self
                .read(move |s| {
                    Ok((
                        s.positions(Some(market), Some(&sym), false)?,
                        s.orders_not_final_in(market)?,
                    ))
                })
                .await?;
            if positions.iter().any(|p| p.margin_type == Some(margin_type)) {
                return Ok(());
            }
            if positions.iter().any(|p| !p.quantity.is_zero()) {
                return Err(self.reject(FuturesPaperRejection::MarginTypePosition));
            }
            if open
                .iter()
                .any(|r| r.market == market && &r.symbol == symbol && is_open(r))
            {
                return Err(self.reject(FuturesPaperRejection::MarginTypeOpenOrders));
            }
            Ok(())
        }
        .boxed()
    }
}

impl PaperBook for PaperFuturesVenue {
    fn check_resting(&self) -> BoxFuture<'_, VenueResult<usize>> {
        PaperFuturesVenue::check_resting(self).boxed()
    }

    fn paper_market(&self) -> Market {
        self.inner.market
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    const USDM: Contract = Contract {
        margin_asset: String::new(),
        size: None,
    };

    fn coinm() -> Contract {
        Contract {
            margin_asset: "BTC".into(),
            size: Some(d("100")),
        }
    }

    #[test]
    fn usdm_long_open_add_close_and_flip_by_average_cost() {
        let c = USDM;
        let a = apply_fill(&c, Held::default(), Side::Buy, d("2"), d("100"));
        assert_eq!(
            (a.after.qty, a.after.entry, a.realized),
            (d("2"), d("100"), d("0"))
        );
        let a = apply_fill(&c, a.after, Side::Buy, d("2"), d("200"));
        assert_eq!((a.after.qty, a.after.entry), (d("4"), d("150")));
        let a = apply_fill(&c, a.after, Side::Sell, d("1"), d("170"));
        assert_eq!(
            (a.after.qty, a.after.entry, a.realized),
            (d("3"), d("150"), d("20"))
        );
        // Sells 5: closes 3 at 140 (−30), opens a short of 2 at 140.
        let a = apply_fill(&c, a.after, Side::Sell, d("5"), d("140"));
        assert_eq!(
            (a.after.qty, a.after.entry, a.realized),
            (d("-2"), d("140"), d("-30"))
        );
        // The short gains when the price falls.
        let a = apply_fill(&c, a.after, Side::Buy, d("2"), d("130"));
        assert_eq!(
            (a.after.qty, a.after.entry, a.realized),
            (d("0"), d("0"), d("20"))
        );
    }

    #[test]
    fn coinm_pnl_is_in_coins_and_the_entry_a_harmonic_mean() {
        let c = coinm();
        // 2 contracts of 100 USD at 50000 = 0.004 BTC; closed at 62500 = 0.0032 BTC.
        let a = apply_fill(&c, Held::default(), Side::Buy, d("2"), d("50000"));
        assert_eq!(c.notional(d("2"), d("50000")), d("0.004"));
        let closed = apply_fill(&c, a.after, Side::Sell, d("2"), d("62500"));
        assert_eq!(closed.realized, d("0.0008"));
        assert_eq!(closed.after.qty, Decimal::ZERO);
        // Harmonic: 1 at 40000 and 1 at 60000 → 2 / (1/40000 + 1/60000) = 48000.
        let a = apply_fill(&c, Held::default(), Side::Buy, d("1"), d("40000"));
        let a = apply_fill(&c, a.after, Side::Buy, d("1"), d("60000"));
        assert_eq!(a.after.entry.round_dp(8), d("48000"));
        // A short loses coins when the price rises.
        let s = apply_fill(&c, Held::default(), Side::Sell, d("2"), d("50000"));
        let s = apply_fill(&c, s.after, Side::Buy, d("2"), d("62500"));
        assert_eq!(s.realized, d("-0.0008"));
    }

    #[test]
    fn only_the_part_against_the_position_reduces() {
        let long = Held {
            qty: d("3"),
            entry: d("10"),
        };
        assert_eq!(reducing(long, Side::Sell, d("5")), d("3"));
        assert_eq!(reducing(long, Side::Buy, d("5")), d("0"));
        assert_eq!(reducing(Held::default(), Side::Sell, d("1")), d("0"));
    }

    #[test]
    fn base_tier_fees() {
        let f = futures_paper_fees(Market::UsdM);
        assert_eq!((f.maker, f.taker), (d("0.0002"), d("0.0005")));
        assert_eq!(futures_paper_fees(Market::CoinM), f);
    }
}
