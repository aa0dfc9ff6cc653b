//! The order vocabulary: [`Side`], [`OrderType`], [`TimeInForce`], [`OrderStatus`],
//! [`ClientOrderId`], what is asked for ([`OrderRequest`], [`OrderRef`]), what the exchange
//! says ([`Order`], [`Fill`], [`Trade`], [`Account`]) and the trading rules of a symbol
//! ([`SymbolFilters`]).
//!
//! These are tradebeat's types, not Binance's JSON: `exchange` parses the wire into them.
//! Spellings follow Binance (`BUY`, `STOP_LOSS_LIMIT`, `GTC`, `PARTIALLY_FILLED`:
//! <https://developers.binance.com/docs/binance-spot-api-docs/enums>). Money is [`Decimal`],
//! exact, and travels as a decimal string (`"0.00100000"`), never as a JSON number. Times are
//! ms since the Unix epoch, UTC.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{FuturesOrderState, Market, PositionSide, Symbol, WorkingType};

/// Why a value is not a valid piece of an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderParseError {
    /// Not `BUY` or `SELL`.
    #[error("invalid side {0:?}: expected BUY or SELL")]
    Side(String),
    /// Not one of the spot or futures order types.
    #[error(
        "invalid order type {0:?}: expected one of LIMIT, MARKET, STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT, LIMIT_MAKER (spot), STOP, STOP_MARKET, TAKE_PROFIT_MARKET, TRAILING_STOP_MARKET (futures)"
    )]
    OrderType(String),
    /// Not `GTC`, `IOC`, `FOK` or (futures) `GTX`.
    #[error("invalid time in force {0:?}: expected GTC, IOC, FOK or (futures) GTX")]
    TimeInForce(String),
    /// Not `BOTH`, `LONG` or `SHORT`.
    #[error("invalid position side {0:?}: expected BOTH, LONG or SHORT")]
    PositionSide(String),
    /// Not `MARK_PRICE` or `CONTRACT_PRICE`.
    #[error("invalid working type {0:?}: expected MARK_PRICE or CONTRACT_PRICE")]
    WorkingType(String),
    /// Not `ISOLATED` or `CROSSED`.
    #[error("invalid margin type {0:?}: expected ISOLATED or CROSSED")]
    MarginType(String),
    /// Not an order status tradebeat knows.
    #[error("invalid order status {0:?}")]
    Status(String),
    /// Not `^[a-zA-Z0-9-_]{1,36}$`.
    #[error("invalid client order id {0:?}: expected 1 to 36 letters, digits, '-' or '_'")]
    ClientOrderId(String),
    /// Not a plain positive-or-zero decimal such as `0.001` or `65000.5`.
    #[error("invalid decimal {0:?}: expected digits with an optional '.', e.g. \"0.001\"")]
    Decimal(String),
}

/// Defines a string-spelled enum with `as_str`, `FromStr` (case-insensitive), `Display`
/// and string serde.
macro_rules! spelled_enum {
    ($(#[$meta:meta])* $name:ident, $err:ident, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in Binance's documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Binance's spelling, e.g. `"BUY"`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = OrderParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let upper = s.trim().to_ascii_uppercase();
                match upper.as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(OrderParseError::$err(s.to_string())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(super) use spelled_enum;

spelled_enum!(
    /// Buy or sell the base asset (spot `enums.md`, "Order side").
    Side, Side, {
        Buy => "BUY",
        Sell => "SELL",
    }
);

spelled_enum!(
    /// The spot order types ("New order (TRADE)" in
    /// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
    /// Trailing stops, iceberg and pegged orders are not offered.
    OrderType, OrderType, {
        /// A resting limit order; needs `time_in_force`, `quantity`, `price`.
        Limit => "LIMIT",
        /// Trades now at the market; needs `quantity` or `quote_quantity`.
        Market => "MARKET",
        /// A market order once `stop_price` is reached; needs `quantity`, `stop_price`.
        StopLoss => "STOP_LOSS",
        /// A limit order once `stop_price` is reached; needs `time_in_force`, `quantity`,
        /// `price`, `stop_price`.
        StopLossLimit => "STOP_LOSS_LIMIT",
        /// A market order once `stop_price` is reached; needs `quantity`, `stop_price`.
        TakeProfit => "TAKE_PROFIT",
        /// A limit order once `stop_price` is reached; needs `time_in_force`, `quantity`,
        /// `price`, `stop_price`.
        TakeProfitLimit => "TAKE_PROFIT_LIMIT",
        /// A post-only limit order, rejected if it would trade at once; needs `quantity`,
        /// `price`.
        LimitMaker => "LIMIT_MAKER",
        /// Futures only: a limit order once `stop_price` is reached; needs `quantity`,
        /// `price`, `stop_price`.
        Stop => "STOP",
        /// Futures only: a market order once `stop_price` is reached; needs `stop_price`
        /// and `quantity` (or `close_position`).
        StopMarket => "STOP_MARKET",
        /// Futures only: a market order once `stop_price` (take-profit side) is reached;
        /// needs `stop_price` and `quantity` (or `close_position`).
        TakeProfitMarket => "TAKE_PROFIT_MARKET",
        /// Futures only: a market order once the price moved back by `callback_rate` %
        /// from its best since `activation_price`; needs `quantity`, `callback_rate`.
        TrailingStopMarket => "TRAILING_STOP_MARKET",
    }
);

spelled_enum!(
    /// How long a limit order stays working (spot `enums.md`, "Time in force").
    TimeInForce, TimeInForce, {
        /// Good till cancelled.
        Gtc => "GTC",
        /// Immediate or cancel: what does not fill at once expires.
        Ioc => "IOC",
        /// Fill or kill: fills whole at once or expires.
        Fok => "FOK",
        /// Futures only: good till crossing, post-only (expires if it would trade at once).
        Gtx => "GTX",
    }
);

impl OrderType {
    /// Whether the type takes a `price` (a limit price) on spot; [`OrderType::needs_price_on`]
    /// for any market (futures `TAKE_PROFIT` is a limit order).
    pub fn needs_price(self) -> bool {
        matches!(
            self,
            OrderType::Limit
                | OrderType::StopLossLimit
                | OrderType::TakeProfitLimit
                | OrderType::LimitMaker
                | OrderType::Stop
        )
    }

    /// Whether the type takes a `stop_price` (a trigger).
    pub fn needs_stop_price(self) -> bool {
        matches!(
            self,
            OrderType::StopLoss
                | OrderType::StopLossLimit
                | OrderType::TakeProfit
                | OrderType::TakeProfitLimit
                | OrderType::Stop
                | OrderType::StopMarket
                | OrderType::TakeProfitMarket
        )
    }

    /// Whether the type takes a `time_in_force` on spot; [`OrderType::needs_time_in_force_on`]
    /// for any market.
    pub fn needs_time_in_force(self) -> bool {
        matches!(
            self,
            OrderType::Limit
                | OrderType::StopLossLimit
                | OrderType::TakeProfitLimit
                | OrderType::Stop
        )
    }

    /// Whether the order trades at the market when it executes (MARKET, and STOP_LOSS /
    /// TAKE_PROFIT once triggered) on spot: the `MARKET_LOT_SIZE` and the notional filters'
    /// "apply to market" flags concern these. [`OrderType::is_market_on`] for any market.
    pub fn is_market(self) -> bool {
        matches!(
            self,
            OrderType::Market
                | OrderType::StopLoss
                | OrderType::TakeProfit
                | OrderType::StopMarket
                | OrderType::TakeProfitMarket
                | OrderType::TrailingStopMarket
        )
    }
}

/// The state of an order as tradebeat knows it: the exchange's statuses ("Order status" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/enums>) plus three local ones.
///
/// Local states, spelled in lower case so they cannot be mistaken for Binance's:
/// - `pending`: written to the database, request not answered yet (in flight, or the
///   daemon stopped before the answer came); reconciled at start;
/// - `unknown`: the request was sent but its outcome is unknown (timeout, HTTP 5xx,
///   `-1006`, `-1007`); a background task queries the exchange until it knows;
/// - `not_placed`: the order never reached the exchange (nothing was sent, or the
///   exchange confirmed after the recvWindow had passed that it has no such order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Unknown,
    NotPlaced,
    New,
    PendingNew,
    PartiallyFilled,
    Filled,
    Canceled,
    PendingCancel,
    Rejected,
    Expired,
    ExpiredInMatch,
}

impl OrderStatus {
    /// Every status.
    pub const ALL: [OrderStatus; 12] = [
        OrderStatus::Pending,
        OrderStatus::Unknown,
        OrderStatus::NotPlaced,
        OrderStatus::New,
        OrderStatus::PendingNew,
        OrderStatus::PartiallyFilled,
        OrderStatus::Filled,
        OrderStatus::Canceled,
        OrderStatus::PendingCancel,
        OrderStatus::Rejected,
        OrderStatus::Expired,
        OrderStatus::ExpiredInMatch,
    ];

    /// The stored spelling: Binance's (`PARTIALLY_FILLED`) or a local one (`pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Unknown => "unknown",
            OrderStatus::NotPlaced => "not_placed",
            OrderStatus::New => "NEW",
            OrderStatus::PendingNew => "PENDING_NEW",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::PendingCancel => "PENDING_CANCEL",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Expired => "EXPIRED",
            OrderStatus::ExpiredInMatch => "EXPIRED_IN_MATCH",
        }
    }

    /// Whether nothing more can happen to the order: filled, cancelled, rejected, expired,
    /// or never placed.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::NotPlaced
                | OrderStatus::Filled
                | OrderStatus::Canceled
                | OrderStatus::Rejected
                | OrderStatus::Expired
                | OrderStatus::ExpiredInMatch
        )
    }

    /// Whether the status is one of tradebeat's own (`pending`, `unknown`, `not_placed`).
    pub fn is_local(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending | OrderStatus::Unknown | OrderStatus::NotPlaced
        )
    }
}

impl FromStr for OrderStatus {
    type Err = OrderParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .iter()
            .copied()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| OrderParseError::Status(s.to_string()))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for OrderStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for OrderStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A client order id: 1 to 36 of `a-z A-Z 0-9 - _` (`^[a-zA-Z0-9-_]{1,36}$`, the pattern
/// Binance's spot FIX API documents for `ClOrdID`,
/// <https://developers.binance.com/docs/binance-spot-api-docs/fix-api>; the REST and WebSocket
/// APIs state none). Unique per order in tradebeat's database; ids tradebeat generates start
/// with [`ClientOrderId::PREFIX`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// The prefix of generated ids: orders on the exchange carrying it are tradebeat's.
    pub const PREFIX: &'static str = "tb-";
    /// Random characters after the prefix in a generated id (62^22 ≈ 2^131 values).
    const RANDOM_LEN: usize = 22;
    /// The longest id Binance accepts.
    pub const MAX_LEN: usize = 36;

    /// A fresh id, `tb-` followed by 22 random letters and digits (25 characters).
    pub fn generate() -> ClientOrderId {
        let mut rng = fastrand::Rng::new();
        let mut id = String::with_capacity(Self::PREFIX.len() + Self::RANDOM_LEN);
        id.push_str(Self::PREFIX);
        for _ in 0..Self::RANDOM_LEN {
            id.push(rng.alphanumeric());
        }
        ClientOrderId(id)
    }

    /// The id as sent to the exchange.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether tradebeat generated it (it starts with [`ClientOrderId::PREFIX`]).
    pub fn is_ours(&self) -> bool {
        self.0.starts_with(Self::PREFIX)
    }
}

impl FromStr for ClientOrderId {
    type Err = OrderParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = (1..=Self::MAX_LEN).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(ClientOrderId(s.to_string()))
        } else {
            Err(OrderParseError::ClientOrderId(s.to_string()))
        }
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ClientOrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ClientOrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a decimal as the control protocol and the config accept it: digits with at most
/// one `.` and digits after it (`"0.001"`, `"65000"`), optionally with a leading `-` so
/// that "must be positive" can be said precisely. No exponent, no `_`, no `+`, at most
/// 28 significant digits.
pub fn parse_decimal(text: &str) -> Result<Decimal, OrderParseError> {
    let bad = || OrderParseError::Decimal(text.to_string());
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !plain(int) || frac.is_some_and(|f| !plain(f)) {
        return Err(bad());
    }
    Decimal::from_str_exact(text).map_err(|_| bad())
}

/// Serde for decimals as strings only: `"0.001"` in, `"0.001"` out (scale kept). A JSON
/// number is refused, so that a price never passes through a float.
pub mod decimal_str {
    use super::*;

    /// Serializes as the decimal's string, scale kept (`0.00100000` stays so).
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Deserializes from a string accepted by [`parse_decimal`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let s = String::deserialize(d)?;
        parse_decimal(&s).map_err(serde::de::Error::custom)
    }

    /// The same for `Option<Decimal>` (`null` or absent is `None`).
    pub mod option {
        use super::*;

        /// `None` as `null`.
        pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            match value {
                Some(v) => s.collect_str(v),
                None => s.serialize_none(),
            }
        }

        /// `null` or a string accepted by [`parse_decimal`].
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| parse_decimal(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A new order as asked for: the `order.place` parameters of the control protocol (README.md,
/// "The protocol"). Which fields each type needs is Binance's ("New order (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>);
/// [`super::rules`] checks it, with the symbol's filters, before anything is sent.
///
/// Decimals are strings (`"0.001"`); unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub symbol: Symbol,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    /// Base-asset quantity.
    #[serde(default, with = "decimal_str::option")]
    pub quantity: Option<Decimal>,
    /// Quote-asset amount to spend (BUY) or raise (SELL); MARKET only, instead of
    /// `quantity`.
    #[serde(default, with = "decimal_str::option")]
    pub quote_quantity: Option<Decimal>,
    /// Limit price, in the quote asset.
    #[serde(default, with = "decimal_str::option")]
    pub price: Option<Decimal>,
    /// Trigger price of the stop and take-profit types.
    #[serde(default, with = "decimal_str::option")]
    pub stop_price: Option<Decimal>,
    #[serde(default)]
    pub time_in_force: Option<TimeInForce>,
    /// The caller's own id; generated (`tb-…`) when absent.
    #[serde(default)]
    pub client_order_id: Option<ClientOrderId>,
    /// The market the order is for; `spot` when absent.
    #[serde(default = "spot_market", skip_serializing_if = "is_spot")]
    pub market: Market,
    /// Futures only: the order may only reduce the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reduce_only: Option<bool>,
    /// Futures only: `BOTH` (one-way mode, the default) or `LONG`/`SHORT` (hedge mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_side: Option<PositionSide>,
    /// Futures only (STOP_MARKET, TAKE_PROFIT_MARKET): close the whole position when
    /// triggered; no `quantity` then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_position: Option<bool>,
    /// Futures only (TRAILING_STOP_MARKET): the callback rate in percent, `0.1` to `10`
    /// (USDⓈ-M) or `5` (COIN-M).
    #[serde(
        default,
        with = "decimal_str::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub callback_rate: Option<Decimal>,
    /// Futures only (TRAILING_STOP_MARKET): the price from which the trailing starts, in
    /// the quote asset; the latest price when absent.
    #[serde(
        default,
        with = "decimal_str::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub activation_price: Option<Decimal>,
    /// Futures only: the price a trigger compares with (`CONTRACT_PRICE` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_type: Option<WorkingType>,
    /// Futures only: refuse to trigger when the last and mark prices differ too much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_protect: Option<bool>,
}

fn spot_market() -> Market {
    Market::Spot
}

fn is_spot(market: &Market) -> bool {
    *market == Market::Spot
}

impl OrderRequest {
    /// A request with only the three mandatory fields set; fill in the rest.
    pub fn new(symbol: Symbol, side: Side, order_type: OrderType) -> OrderRequest {
        OrderRequest {
            symbol,
            side,
            order_type,
            quantity: None,
            quote_quantity: None,
            price: None,
            stop_price: None,
            time_in_force: None,
            client_order_id: None,
            market: Market::Spot,
            reduce_only: None,
            position_side: None,
            close_position: None,
            callback_rate: None,
            activation_price: None,
            working_type: None,
            price_protect: None,
        }
    }

    /// The protocol names of the futures-only fields this request sets (a spot order must
    /// set none: the control layer refuses it naming the first).
    pub fn futures_fields_set(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let fields: [(&'static str, bool); 7] = [
            ("reduce_only", self.reduce_only.is_some()),
            ("position_side", self.position_side.is_some()),
            ("close_position", self.close_position.is_some()),
            ("callback_rate", self.callback_rate.is_some()),
            ("activation_price", self.activation_price.is_some()),
            ("working_type", self.working_type.is_some()),
            ("price_protect", self.price_protect.is_some()),
        ];
        for (name, given) in fields {
            if given {
                set.push(name);
            }
        }
        set
    }
}

/// Which order an operation is about: the exchange's order id, or the client order id
/// (`order_id` or `client_order_id` in the control protocol; `orderId` or
/// `origClientOrderId`: "Query order (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderRef {
    /// The exchange's numeric order id.
    OrderId(i64),
    /// The client order id.
    ClientOrderId(ClientOrderId),
}

impl OrderRef {
    /// From the two optional protocol parameters: the order id wins when both are given
    /// (the exchange looks orders up by id first). `None` when both are absent.
    pub fn from_parts(
        order_id: Option<i64>,
        client_order_id: Option<ClientOrderId>,
    ) -> Option<OrderRef> {
        match (order_id, client_order_id) {
            (Some(id), _) => Some(OrderRef::OrderId(id)),
            (None, Some(c)) => Some(OrderRef::ClientOrderId(c)),
            (None, None) => None,
        }
    }
}

impl fmt::Display for OrderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderRef::OrderId(id) => write!(f, "order id {id}"),
            OrderRef::ClientOrderId(c) => write!(f, "client order id {c}"),
        }
    }
}

/// One fill of an order, from a `FULL` order response ("New order (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    #[serde(with = "decimal_str")]
    pub price: Decimal,
    /// Base-asset quantity.
    #[serde(with = "decimal_str")]
    pub qty: Decimal,
    #[serde(with = "decimal_str")]
    pub commission: Decimal,
    pub commission_asset: String,
    pub trade_id: i64,
}

/// An order as the exchange reports it (order responses, `GET /api/v3/order`,
/// `openOrders`, `allOrders`:
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>,
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
/// `status` is always one of the exchange's statuses, never a local one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub symbol: Symbol,
    pub order_id: i64,
    /// The order's client order id as the exchange knows it. Binance ids may fall outside
    /// the spot pattern in rare legacy cases; such orders are reported as-is.
    pub client_order_id: String,
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    pub time_in_force: Option<TimeInForce>,
    /// Limit price; zero for market orders.
    #[serde(with = "decimal_str")]
    pub price: Decimal,
    /// Quantity ordered (base asset).
    #[serde(with = "decimal_str")]
    pub orig_qty: Decimal,
    /// Quote quantity ordered (MARKET with `quoteOrderQty`); zero otherwise.
    #[serde(with = "decimal_str")]
    pub orig_quote_order_qty: Decimal,
    #[serde(with = "decimal_str")]
    pub executed_qty: Decimal,
    /// Quote asset transacted so far (Binance's spelling, `cummulativeQuoteQty`).
    #[serde(with = "decimal_str")]
    pub cummulative_quote_qty: Decimal,
    /// Trigger price; absent when not a stop type.
    #[serde(with = "decimal_str::option")]
    pub stop_price: Option<Decimal>,
    pub status: OrderStatus,
    /// When the order was created or the request executed (`transactTime`/`time`), ms.
    pub time: Option<i64>,
    /// When the order last changed (`updateTime`), ms.
    pub update_time: Option<i64>,
    /// Fills, from `FULL` placement answers only (empty otherwise).
    pub fills: Vec<Fill>,
    /// What futures orders report beyond spot's (position side, algo id …); `None` on spot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub futures: Option<FuturesOrderState>,
}

/// One of the account's trades (`GET /api/v3/myTrades`, "Account trade list (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Trade {
    pub symbol: Symbol,
    pub id: i64,
    pub order_id: i64,
    #[serde(with = "decimal_str")]
    pub price: Decimal,
    #[serde(with = "decimal_str")]
    pub qty: Decimal,
    #[serde(with = "decimal_str")]
    pub quote_qty: Decimal,
    #[serde(with = "decimal_str")]
    pub commission: Decimal,
    pub commission_asset: String,
    /// ms since the epoch.
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
    /// Futures only: the profit realized by this fill, in the margin asset; `None` on spot.
    #[serde(with = "decimal_str::option", skip_serializing_if = "Option::is_none")]
    pub realized_pnl: Option<Decimal>,
    /// Futures only: the position side the fill belongs to; `None` on spot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_side: Option<PositionSide>,
}

/// One asset's balance (`GET /api/v3/account`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub asset: String,
    #[serde(with = "decimal_str")]
    pub free: Decimal,
    #[serde(with = "decimal_str")]
    pub locked: Decimal,
}

/// The account (`GET /api/v3/account`, "Account information (USER_DATA)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints>), the
/// parts tradebeat uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub can_trade: bool,
    /// ms since the epoch.
    pub update_time: i64,
    pub balances: Vec<Balance>,
}

/// `PRICE_FILTER` (<https://developers.binance.com/docs/binance-spot-api-docs/filters>):
/// `min_price <= price <= max_price` and price a multiple of `tick_size`; a zero turns its
/// check off. Applies to `stop_price` too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PriceFilter {
    pub min_price: Decimal,
    pub max_price: Decimal,
    pub tick_size: Decimal,
}

/// `LOT_SIZE` or `MARKET_LOT_SIZE`: `min_qty <= quantity <= max_qty`
/// and quantity a multiple of `step_size`; a zero turns its check off
/// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LotSizeFilter {
    pub min_qty: Decimal,
    pub max_qty: Decimal,
    pub step_size: Decimal,
}

/// `MIN_NOTIONAL` (older symbols): `price × quantity >= min_notional`;
/// MARKET orders only when `apply_to_market`, at the average price of the last
/// `avg_price_mins` minutes (<https://developers.binance.com/docs/binance-spot-api-docs/filters>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinNotionalFilter {
    pub min_notional: Decimal,
    pub apply_to_market: bool,
    pub avg_price_mins: u32,
}

/// `NOTIONAL` (<https://developers.binance.com/docs/binance-spot-api-docs/filters>):
/// `min_notional <= price × quantity <= max_notional` (a zero maximum is no maximum); each
/// bound applies to MARKET orders only when its flag says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NotionalFilter {
    pub min_notional: Decimal,
    pub apply_min_to_market: bool,
    pub max_notional: Decimal,
    pub apply_max_to_market: bool,
    pub avg_price_mins: u32,
}

/// A symbol's trading rules from `exchangeInfo`
/// (<https://developers.binance.com/docs/binance-spot-api-docs/filters>): the filters tradebeat
/// enforces before sending, the allowed order types and whether MARKET orders may give a quote
/// quantity. `None` (or an empty `order_types`) means the exchange did not say, and nothing is
/// checked locally for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SymbolFilters {
    pub price: Option<PriceFilter>,
    pub lot_size: Option<LotSizeFilter>,
    pub market_lot_size: Option<LotSizeFilter>,
    pub min_notional: Option<MinNotionalFilter>,
    pub notional: Option<NotionalFilter>,
    /// `orderTypes`; types tradebeat does not know are left out.
    pub order_types: Vec<OrderType>,
    /// `quoteOrderQtyMarketAllowed`.
    pub quote_order_qty_market_allowed: bool,
    /// `PERCENT_PRICE` (futures: a limit price within `multiplier_down`..`multiplier_up`
    /// times the mark price,
    /// <https://developers.binance.com/docs/derivatives/usds-margined-futures/common-definition>).
    pub percent_price: Option<PercentPriceFilter>,
    /// `MAX_NUM_ORDERS`: the most open orders on the symbol (futures `limit`, spot
    /// `maxNumOrders`).
    pub max_num_orders: Option<u32>,
}

/// `PERCENT_PRICE`: `price <= reference × multiplier_up` and `price >= reference ×
/// multiplier_down`; a zero turns its side off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PercentPriceFilter {
    pub multiplier_up: Decimal,
    pub multiplier_down: Decimal,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn enums_round_trip_and_accept_lower_case() {
        for t in OrderType::ALL {
            assert_eq!(t.as_str().parse::<OrderType>().unwrap(), *t);
        }
        assert_eq!("buy".parse::<Side>().unwrap(), Side::Buy);
        assert_eq!(
            "stop_loss_limit".parse::<OrderType>().unwrap(),
            OrderType::StopLossLimit
        );
        assert_eq!(" gtc ".parse::<TimeInForce>().unwrap(), TimeInForce::Gtc);
        let err = "HOLD".parse::<Side>().unwrap_err().to_string();
        assert_eq!(err, "invalid side \"HOLD\": expected BUY or SELL");
        assert!("OCO".parse::<OrderType>().is_err());
        assert_eq!("gtx".parse::<TimeInForce>().unwrap(), TimeInForce::Gtx);
        assert!("GTD".parse::<TimeInForce>().is_err());
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>().unwrap(), s);
        }
        assert!(
            "filled".parse::<OrderStatus>().is_err(),
            "exchange statuses are upper case"
        );
    }

    #[test]
    fn statuses_know_what_is_final() {
        let finals: Vec<_> = OrderStatus::ALL.iter().filter(|s| s.is_final()).collect();
        assert_eq!(
            finals,
            [
                &OrderStatus::NotPlaced,
                &OrderStatus::Filled,
                &OrderStatus::Canceled,
                &OrderStatus::Rejected,
                &OrderStatus::Expired,
                &OrderStatus::ExpiredInMatch
            ]
        );
        assert!(OrderStatus::Unknown.is_local() && !OrderStatus::New.is_local());
    }

    #[test]
    fn client_order_ids_follow_the_spot_pattern() {
        for ok in ["a", "tb-x_Y-1", &"z".repeat(36), "6gCrw2kRUAF9CvJDGP16IP"] {
            assert!(ok.parse::<ClientOrderId>().is_ok(), "{ok}");
        }
        for bad in ["", &"z".repeat(37), "has space", "dot.dot", "ünï", "a/b"] {
            assert!(bad.parse::<ClientOrderId>().is_err(), "{bad}");
        }
        let a = ClientOrderId::generate();
        let b = ClientOrderId::generate();
        assert_ne!(a, b);
        assert!(a.is_ours() && a.as_str().len() == 25, "{a}");
        assert_eq!(a.as_str().parse::<ClientOrderId>().unwrap(), a);
        assert!(!"mine-1".parse::<ClientOrderId>().unwrap().is_ours());
    }

    #[test]
    fn decimals_are_plain_strings_only() {
        assert_eq!(
            parse_decimal("0.00100000").unwrap().to_string(),
            "0.00100000"
        );
        assert_eq!(parse_decimal("65000").unwrap(), dec("65000"));
        assert_eq!(parse_decimal("-1").unwrap(), dec("-1"));
        for bad in [
            "", ".5", "5.", "1e5", "1_000", "+1", "0x10", "1.2.3", " 1", "NaN", "--1",
        ] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        assert!(parse_decimal(&"9".repeat(40)).is_err());
    }

    #[test]
    fn order_requests_parse_from_protocol_json() {
        let req: OrderRequest = serde_json::from_str(
            r#"{"symbol":"btcusdt","side":"BUY","type":"LIMIT","quantity":"0.001",
                "price":"65000.10","time_in_force":"GTC","client_order_id":"my-1"}"#,
        )
        .unwrap();
        assert_eq!(req.symbol.as_str(), "BTCUSDT");
        assert_eq!(req.order_type, OrderType::Limit);
        assert_eq!(req.price, Some(dec("65000.10")));
        assert_eq!(req.quote_quantity, None);
        assert_eq!(
            req.client_order_id.as_ref().map(|c| c.as_str()),
            Some("my-1")
        );
        // Round trip keeps the decimals' text.
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains(r#""price":"65000.10""#), "{json}");

        let cases = [
            (
                r#"{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","price":65000}"#,
                "invalid type",
            ),
            (
                r#"{"symbol":"BTCUSDT","side":"BUY","type":"LIMIT","qty":"1"}"#,
                "unknown field",
            ),
            (
                r#"{"symbol":"BTCUSDT","side":"HOLD","type":"LIMIT"}"#,
                "invalid side",
            ),
            (
                r#"{"symbol":"BTCUSDT","side":"BUY","type":"OCO"}"#,
                "invalid order type",
            ),
            (
                r#"{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1e3"}"#,
                "invalid decimal",
            ),
            (
                r#"{"symbol":"BTC-USDT","side":"BUY","type":"MARKET"}"#,
                "invalid symbol",
            ),
            (
                r#"{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","client_order_id":"a b"}"#,
                "invalid client order id",
            ),
            (
                r#"{"side":"BUY","type":"MARKET"}"#,
                "missing field `symbol`",
            ),
        ];
        for (json, want) in cases {
            let err = serde_json::from_str::<OrderRequest>(json)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }

    #[test]
    fn order_refs_prefer_the_order_id() {
        let c: ClientOrderId = "x".parse().unwrap();
        assert_eq!(
            OrderRef::from_parts(Some(5), Some(c.clone())),
            Some(OrderRef::OrderId(5))
        );
        assert_eq!(
            OrderRef::from_parts(None, Some(c.clone())),
            Some(OrderRef::ClientOrderId(c))
        );
        assert_eq!(OrderRef::from_parts(None, None), None);
    }
}
