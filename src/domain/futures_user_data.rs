//! The futures user-data events (USDⓈ-M and COIN-M) as tradebeat's types: order updates,
//! account updates, algo (conditional) order updates, margin calls, and the stream's own
//! `listenKeyExpired`. `exchange::futures` parses the wire into them. Event reference:
//! <https://developers.binance.com/docs/derivatives/usds-margined-futures/user-data-streams>,
//! <https://developers.binance.com/docs/derivatives/coin-margined-futures/user-data-streams>.
//!
//! As on spot, decimals are exact (scale kept), times are ms since the epoch (UTC), and a
//! value that is only informative (an order type, a working type, an execution type) is
//! kept as the exchange's text; a value the store acts on (side, order status, position
//! side, a decimal, an id) that does not parse makes the whole event
//! [`super::UserDataEvent::Invalid`], kept raw and never half-applied.

use rust_decimal::Decimal;

use super::{ExecutionType, OrderStatus, Side, Symbol, trade_event_key};

/// One futures user-data event. Every variant but [`FuturesEvent::ListenKeyExpired`] keeps
/// `raw`: the event object's exact JSON text as received.
// ORDER_TRADE_UPDATE is the frequent, large case (see `UserDataEvent`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FuturesEvent {
    /// `ORDER_TRADE_UPDATE`: an order changed (placed, traded, cancelled, liquidated …).
    OrderTradeUpdate(OrderTradeUpdate),
    /// `ACCOUNT_UPDATE`: balances and positions after a change.
    AccountUpdate(AccountUpdate),
    /// `ALGO_UPDATE` (USDⓈ-M Algo Service): a conditional order changed.
    AlgoUpdate(AlgoUpdate),
    /// `MARGIN_CALL`: positions close to liquidation.
    MarginCall(MarginCall),
    /// `TRADE_LITE`: a short form of a fill, which `ORDER_TRADE_UPDATE` also reports; kept
    /// raw only.
    TradeLite(TradeLite),
    /// `listenKeyExpired`: the listen key expired; no event arrives until a new key is used.
    /// The key itself is not kept. Event time, ms.
    ListenKeyExpired { event_time: i64 },
}

/// The event type names (`e`) of the futures user-data events, as stored in
/// `user_events.event_type`.
pub const ORDER_TRADE_UPDATE: &str = "ORDER_TRADE_UPDATE";
pub const ACCOUNT_UPDATE: &str = "ACCOUNT_UPDATE";
pub const ALGO_UPDATE: &str = "ALGO_UPDATE";
pub const MARGIN_CALL: &str = "MARGIN_CALL";
pub const TRADE_LITE: &str = "TRADE_LITE";
pub const LISTEN_KEY_EXPIRED: &str = "listenKeyExpired";

impl FuturesEvent {
    /// Binance's event type (`e`).
    pub fn event_type(&self) -> &'static str {
        match self {
            FuturesEvent::OrderTradeUpdate(_) => ORDER_TRADE_UPDATE,
            FuturesEvent::AccountUpdate(_) => ACCOUNT_UPDATE,
            FuturesEvent::AlgoUpdate(_) => ALGO_UPDATE,
            FuturesEvent::MarginCall(_) => MARGIN_CALL,
            FuturesEvent::TradeLite(_) => TRADE_LITE,
            FuturesEvent::ListenKeyExpired { .. } => LISTEN_KEY_EXPIRED,
        }
    }

    /// The event time (`E`), ms.
    pub fn event_time(&self) -> i64 {
        match self {
            FuturesEvent::OrderTradeUpdate(u) => u.event_time,
            FuturesEvent::AccountUpdate(a) => a.event_time,
            FuturesEvent::AlgoUpdate(a) => a.event_time,
            FuturesEvent::MarginCall(m) => m.event_time,
            FuturesEvent::TradeLite(t) => t.event_time,
            FuturesEvent::ListenKeyExpired { event_time } => *event_time,
        }
    }

    /// The event's JSON text as received; `None` for `listenKeyExpired` (its only content,
    /// the key, is not kept).
    pub fn raw(&self) -> Option<&str> {
        match self {
            FuturesEvent::OrderTradeUpdate(u) => Some(&u.raw),
            FuturesEvent::AccountUpdate(a) => Some(&a.raw),
            FuturesEvent::AlgoUpdate(a) => Some(&a.raw),
            FuturesEvent::MarginCall(m) => Some(&m.raw),
            FuturesEvent::TradeLite(t) => Some(&t.raw),
            FuturesEvent::ListenKeyExpired { .. } => None,
        }
    }
}

/// An order status of a futures order update (`X`): one of the exchange's statuses, or one
/// of the two only liquidations report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuturesOrderStatus {
    /// `NEW`, `PARTIALLY_FILLED`, `FILLED`, `CANCELED`, `EXPIRED`, `EXPIRED_IN_MATCH`.
    Status(OrderStatus),
    /// `NEW_INSURANCE`: a liquidation order taken over by the insurance fund.
    NewInsurance,
    /// `NEW_ADL`: an auto-deleveraging order.
    NewAdl,
}

impl FuturesOrderStatus {
    /// From Binance's spelling; `None` for anything else (local statuses included).
    pub fn parse(text: &str) -> Option<FuturesOrderStatus> {
        match text {
            "NEW_INSURANCE" => Some(FuturesOrderStatus::NewInsurance),
            "NEW_ADL" => Some(FuturesOrderStatus::NewAdl),
            other => match other.parse::<OrderStatus>() {
                Ok(s) if !s.is_local() => Some(FuturesOrderStatus::Status(s)),
                _ => None,
            },
        }
    }

    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FuturesOrderStatus::Status(s) => s.as_str(),
            FuturesOrderStatus::NewInsurance => "NEW_INSURANCE",
            FuturesOrderStatus::NewAdl => "NEW_ADL",
        }
    }

    /// The order status an `orders` row can take; `None` for the liquidation-only ones.
    pub fn order_status(self) -> Option<OrderStatus> {
        match self {
            FuturesOrderStatus::Status(s) => Some(s),
            FuturesOrderStatus::NewInsurance | FuturesOrderStatus::NewAdl => None,
        }
    }
}

/// Whether `text` is a position side (`BOTH`, `LONG`, `SHORT`).
pub fn is_position_side(text: &str) -> bool {
    matches!(text, "BOTH" | "LONG" | "SHORT")
}

/// `ORDER_TRADE_UPDATE` ("Event: Order Update"): one change of one futures order.
/// Quantities are in the base asset on USDⓈ-M and in contracts on COIN-M.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTradeUpdate {
    /// `E`, ms.
    pub event_time: i64,
    /// Top-level `T`: transaction time, ms.
    pub transaction_time: i64,
    /// `s`.
    pub symbol: Symbol,
    /// `c`: client order id (`autoclose-…` for a liquidation, `adl_autoclose…`,
    /// `settlement_autoclose-…`, `delivery_autoclose-…`).
    pub client_order_id: String,
    /// `S`.
    pub side: Side,
    /// `o`: order type as sent (`LIMIT`, `MARKET`, `STOP`, `TRAILING_STOP_MARKET` …).
    pub order_type: String,
    /// `f`: `GTC`, `IOC`, `FOK`, `GTX`, `GTD`.
    pub time_in_force: String,
    /// `q`: original quantity.
    pub quantity: Decimal,
    /// `p`: original price (zero for market orders).
    pub price: Decimal,
    /// `ap`: average price.
    pub average_price: Decimal,
    /// `sp`: stop price; `None` when sent as null.
    pub stop_price: Option<Decimal>,
    /// `x`: `NEW`, `CANCELED`, `CALCULATED` (liquidation), `EXPIRED`, `TRADE`, `AMENDMENT`.
    pub execution_type: ExecutionType,
    /// `X`.
    pub order_status: FuturesOrderStatus,
    /// `i`.
    pub order_id: i64,
    /// `l`: last filled quantity.
    pub last_qty: Decimal,
    /// `z`: accumulated filled quantity.
    pub cumulative_qty: Decimal,
    /// `L`: last filled price.
    pub last_price: Decimal,
    /// `N`: commission asset; `None` when not pushed (no commission).
    pub commission_asset: Option<String>,
    /// `n`: commission; `None` when not pushed.
    pub commission: Option<Decimal>,
    /// Inner `T`: order trade time, ms.
    pub trade_time: i64,
    /// `t`: trade id; 0 when not a trade.
    pub trade_id: i64,
    /// `b`: bids notional (COIN-M: bid quantity of the base asset).
    pub bids_notional: Decimal,
    /// `a`: ask notional (COIN-M: ask quantity of the base asset).
    pub asks_notional: Decimal,
    /// `m`: whether this trade was the maker side.
    pub is_maker: bool,
    /// `R`: reduce only.
    pub reduce_only: bool,
    /// `wt`: stop price working type (`CONTRACT_PRICE`, `MARK_PRICE`).
    pub working_type: String,
    /// `ot`: original order type.
    pub original_order_type: String,
    /// `ps`: `BOTH`, `LONG` or `SHORT`.
    pub position_side: String,
    /// `cp`: close-all (conditional orders).
    pub close_position: bool,
    /// `AP`: activation price (TRAILING_STOP_MARKET); `None` when null or absent.
    pub activation_price: Option<Decimal>,
    /// `cr`: callback rate in percent (TRAILING_STOP_MARKET); `None` when null or absent.
    pub callback_rate: Option<Decimal>,
    /// `pP`: price protection.
    pub price_protect: bool,
    /// `rp`: realized profit of this trade (quote asset on USDⓈ-M, the coin on COIN-M).
    pub realized_pnl: Decimal,
    /// `V`: self-trade prevention mode, when sent.
    pub stp_mode: Option<String>,
    /// `pm`: price match mode, when sent.
    pub price_match: Option<String>,
    /// `gtd`: auto-cancel time of a GTD order, ms (0 when none), when sent.
    pub good_till_date: Option<i64>,
    /// `er`: expiry reason code, when sent.
    pub expiry_reason: Option<String>,
    /// `ma`: margin asset (COIN-M), when sent.
    pub margin_asset: Option<String>,
    /// The event object's exact JSON text.
    pub raw: String,
}

impl OrderTradeUpdate {
    /// The trade id when this update is a fill (`x` `TRADE` or `CALCULATED`, `t > 0`).
    pub fn trade(&self) -> Option<i64> {
        let fill = matches!(self.execution_type, ExecutionType::Trade)
            || self.execution_type.as_str() == "CALCULATED";
        (fill && self.trade_id > 0).then_some(self.trade_id)
    }

    /// The key that makes this update unique among the symbol's events (`executions.event_key`):
    /// `trade:<t>` for a fill (the key REST `userTrades` gives the same fill), else
    /// `event:<i>:<x>:<X>:<T>:<z>`.
    pub fn event_key(&self) -> String {
        match self.trade() {
            Some(t) => trade_event_key(t),
            None => format!(
                "event:{}:{}:{}:{}:{}",
                self.order_id,
                self.execution_type,
                self.order_status.as_str(),
                self.trade_time,
                self.cumulative_qty
            ),
        }
    }
}

/// One balance of an `ACCOUNT_UPDATE` (`a.B[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuturesBalance {
    /// `a`.
    pub asset: String,
    /// `wb`: wallet balance.
    pub wallet_balance: Decimal,
    /// `cw`: cross wallet balance.
    pub cross_wallet_balance: Decimal,
    /// `bc`: balance change except PnL and commission.
    pub balance_change: Decimal,
}

/// One position of an `ACCOUNT_UPDATE` (`a.P[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionUpdate {
    /// `s`.
    pub symbol: Symbol,
    /// `pa`: position amount, signed (negative: short); contracts on COIN-M.
    pub amount: Decimal,
    /// `ep`: entry price.
    pub entry_price: Decimal,
    /// `bep`: break-even price, when sent.
    pub break_even_price: Option<Decimal>,
    /// `cr`: accumulated realized PnL (pre-fee).
    pub accumulated_realized: Decimal,
    /// `up`: unrealized PnL.
    pub unrealized_pnl: Decimal,
    /// `mt`: `isolated` or `cross`, as sent.
    pub margin_type: String,
    /// `iw`: isolated wallet (if isolated).
    pub isolated_wallet: Decimal,
    /// `ps`: `BOTH`, `LONG` or `SHORT`.
    pub position_side: String,
}

/// `ACCOUNT_UPDATE` ("Event: Balance and Position Update").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountUpdate {
    /// `E`, ms.
    pub event_time: i64,
    /// `T`: transaction time, ms.
    pub transaction_time: i64,
    /// `a.m`: the reason (`ORDER`, `FUNDING_FEE`, `DEPOSIT` …).
    pub reason: String,
    /// `a.B`.
    pub balances: Vec<FuturesBalance>,
    /// `a.P`.
    pub positions: Vec<PositionUpdate>,
    pub raw: String,
}

/// `ALGO_UPDATE` ("Event: Algo Order Update", USDⓈ-M): a conditional order of the Algo
/// Service changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgoUpdate {
    /// `E`, ms.
    pub event_time: i64,
    /// `T`: transaction time, ms.
    pub transaction_time: i64,
    /// `caid`: client algo id (tradebeat's client order id for its own orders).
    pub client_algo_id: String,
    /// `aid`: algo id.
    pub algo_id: i64,
    /// `at`: `CONDITIONAL`.
    pub algo_type: String,
    /// `o`: `STOP`, `STOP_MARKET`, `TAKE_PROFIT`, `TAKE_PROFIT_MARKET`,
    /// `TRAILING_STOP_MARKET`.
    pub order_type: String,
    /// `s`.
    pub symbol: Symbol,
    /// `S`.
    pub side: Side,
    /// `ps`.
    pub position_side: String,
    /// `f`.
    pub time_in_force: String,
    /// `q`.
    pub quantity: Decimal,
    /// `X`: `NEW`, `CANCELED`, `TRIGGERING`, `TRIGGERED`, `FINISHED`, `REJECTED`,
    /// `EXPIRED`.
    pub algo_status: String,
    /// `ai`: the id of the order the algo order became once triggered; `None` while `""`.
    pub actual_order_id: Option<i64>,
    /// `ap`: average fill price of that order, when sent.
    pub average_price: Option<Decimal>,
    /// `aq`: filled quantity of that order, when sent.
    pub executed_qty: Option<Decimal>,
    /// `act`: the type of that order (`MARKET` …; `"0"` before), when sent.
    pub actual_order_type: Option<String>,
    /// `tp`: trigger price, when sent.
    pub trigger_price: Option<Decimal>,
    /// `p`: limit price, when sent.
    pub price: Option<Decimal>,
    /// `wt`.
    pub working_type: Option<String>,
    /// `cp`.
    pub close_position: bool,
    /// `pP`.
    pub price_protect: bool,
    /// `R`.
    pub reduce_only: bool,
    /// `tt`: trigger time, ms (0 before).
    pub trigger_time: Option<i64>,
    /// `rm`: the reason a rejection or cancel gave, when sent.
    pub reason: Option<String>,
    pub raw: String,
}

impl AlgoUpdate {
    /// Whether nothing more can happen to the algo order (`FINISHED`, `CANCELED`,
    /// `REJECTED`, `EXPIRED`).
    pub fn is_final(&self) -> bool {
        matches!(
            self.algo_status.as_str(),
            "FINISHED" | "CANCELED" | "REJECTED" | "EXPIRED"
        )
    }
}

/// One position of a `MARGIN_CALL` (`p[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginCallPosition {
    /// `s`.
    pub symbol: Symbol,
    /// `ps`.
    pub position_side: String,
    /// `pa`: position amount.
    pub amount: Decimal,
    /// `mp`: mark price.
    pub mark_price: Decimal,
    /// `up`: unrealized PnL.
    pub unrealized_pnl: Decimal,
    /// `mm`: maintenance margin required.
    pub maintenance_margin: Decimal,
}

/// `MARGIN_CALL` ("Event: Margin Call").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarginCall {
    /// `E`, ms.
    pub event_time: i64,
    /// `cw`: cross wallet balance, when sent (cross positions only).
    pub cross_wallet_balance: Option<Decimal>,
    /// `p`.
    pub positions: Vec<MarginCallPosition>,
    pub raw: String,
}

/// `TRADE_LITE` ("Event: Trade Lite", USDⓈ-M): a fill in short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeLite {
    /// `E`, ms.
    pub event_time: i64,
    /// `T`: transaction time, ms.
    pub transaction_time: i64,
    /// `s`.
    pub symbol: Symbol,
    /// `c`.
    pub client_order_id: String,
    /// `S`.
    pub side: Side,
    /// `q`: original quantity.
    pub quantity: Decimal,
    /// `p`: original price.
    pub price: Decimal,
    /// `l`: last filled quantity.
    pub last_qty: Decimal,
    /// `L`: last filled price.
    pub last_price: Decimal,
    /// `t`.
    pub trade_id: i64,
    /// `i`.
    pub order_id: i64,
    /// `m`.
    pub is_maker: bool,
    pub raw: String,
}
