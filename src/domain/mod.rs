//! The domain vocabulary: what tradebeat talks about, free of I/O and of any wire format.
//!
//! This layer sits at the bottom of the crate: it imports nothing else from it, and every
//! other module depends downward on it (a test in `tests/layout.rs` keeps it so).
//!
//! - `market`: [`Market`], [`Symbol`], [`Interval`], [`Kline`], [`Ticker`], [`SymbolInfo`],
//!   [`ExchangeInfo`] and its rate limits;
//! - `order`: the order vocabulary ([`Side`], [`OrderType`], [`TimeInForce`],
//!   [`OrderStatus`], [`ClientOrderId`], [`OrderRequest`], [`Order`], [`Trade`]), the account
//!   ([`Account`], [`Balance`]), the exchange filters ([`SymbolFilters`]) and the decimal
//!   helpers ([`parse_decimal`], [`decimal_str`]);
//! - [`rules`]: an order request checked against its symbol's filters, before sending;
//! - `user_data`: the user-data events ([`ExecutionReport`], [`UserDataEvent`] …);
//! - `stream`: the user-data stream's published state ([`StreamState`]);
//! - `backfill`: job and gap status as stored, and [`Span`]s of candle open times;
//! - `futures`: futures market data ([`MarkPrice`], [`FundingRate`], [`OpenInterest`]);
//! - `futures_user_data`: the futures user-data events ([`FuturesEvent`], [`OrderTradeUpdate`] …);
//! - `secret`: [`Secret`] and [`Credentials`], which never show themselves.
//!
//! Money is [`rust_decimal::Decimal`], exact, carried as a decimal string. Times are ms
//! since the Unix epoch, UTC.

mod backfill;
mod futures;
mod futures_order;
mod futures_user_data;
mod market;
mod order;
mod paper;
pub mod pnl;
pub mod rules;
mod schema;
mod secret;
mod stream;
mod user_data;

pub use backfill::*;
pub use futures::*;
pub use futures_order::*;
pub use futures_user_data::*;
pub use market::*;
pub use order::*;
pub use paper::*;
pub use rules::RuleViolation;
pub use secret::*;
pub use stream::*;
pub use user_data::*;
