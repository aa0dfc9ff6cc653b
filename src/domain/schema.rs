//! JSON schemas of the domain's string-spelled values (utoipa's `ToSchema`), so the
//! parameter types of the control protocol describe themselves in the HTTP API's OpenAPI
//! document. Each schema is built from the type's own list of values or its parse rule;
//! nothing here knows HTTP.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{
    ClientOrderId, Interval, MarginType, Market, OrderType, PositionSide, Side, Symbol,
    TimeInForce, WorkingType,
};

/// A string schema with a description and one example.
fn string(description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .examples([json!(example)])
}

/// Implements `ToSchema` (the type's own name) for a type with a `PartialSchema`.
macro_rules! named {
    ($($t:ident),+) => {
        $(impl ToSchema for $t {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($t))
            }
        })+
    };
}

named!(
    Symbol,
    Market,
    Interval,
    ClientOrderId,
    Side,
    OrderType,
    TimeInForce,
    PositionSide,
    WorkingType,
    MarginType
);

impl PartialSchema for Symbol {
    fn schema() -> RefOr<Schema> {
        string(
            "A Binance symbol: 1 to 20 letters or digits with inner underscores (COIN-M \
             contracts); lower case is upper-cased, and ccxt's BASE/QUOTE is joined",
            "BTCUSDT",
        )
        .pattern(Some(
            "^([A-Za-z0-9]([A-Za-z0-9_]{0,18}[A-Za-z0-9])?|[A-Za-z0-9]{1,19}/[A-Za-z0-9]{1,19})$",
        ))
        .into()
    }
}

impl PartialSchema for Market {
    fn schema() -> RefOr<Schema> {
        string("The market: spot, USDⓈ-M or COIN-M futures", "spot")
            .enum_values(Some(
                [Market::Spot, Market::UsdM, Market::CoinM].map(Market::as_str),
            ))
            .into()
    }
}

impl PartialSchema for Interval {
    fn schema() -> RefOr<Schema> {
        string("A kline interval", "1h")
            .enum_values(Some(Interval::NAMES))
            .into()
    }
}

impl PartialSchema for ClientOrderId {
    fn schema() -> RefOr<Schema> {
        string(
            "A client order id: 1 to 36 letters, digits, '-' or '_'",
            "my-order-1",
        )
        .pattern(Some("^[a-zA-Z0-9_-]{1,36}$"))
        .into()
    }
}

/// The schema of a spelled enum: its values in Binance's spelling.
fn spelled<T: Copy>(description: &str, all: &[T], as_str: fn(T) -> &'static str) -> RefOr<Schema> {
    let values: Vec<&str> = all.iter().map(|v| as_str(*v)).collect();
    string(description, values.first().copied().unwrap_or_default())
        .enum_values(Some(values))
        .into()
}

impl PartialSchema for Side {
    fn schema() -> RefOr<Schema> {
        spelled("Buy or sell the base asset", Side::ALL, Side::as_str)
    }
}

impl PartialSchema for OrderType {
    fn schema() -> RefOr<Schema> {
        spelled("The order type", OrderType::ALL, OrderType::as_str)
    }
}

impl PartialSchema for TimeInForce {
    fn schema() -> RefOr<Schema> {
        spelled(
            "How long a limit order stays",
            TimeInForce::ALL,
            TimeInForce::as_str,
        )
    }
}

impl PartialSchema for PositionSide {
    fn schema() -> RefOr<Schema> {
        spelled(
            "A futures position side: BOTH (one-way mode), LONG or SHORT (hedge mode)",
            PositionSide::ALL,
            PositionSide::as_str,
        )
    }
}

impl PartialSchema for WorkingType {
    fn schema() -> RefOr<Schema> {
        spelled(
            "The price a futures stop or take-profit triggers on",
            WorkingType::ALL,
            WorkingType::as_str,
        )
    }
}

impl PartialSchema for MarginType {
    fn schema() -> RefOr<Schema> {
        spelled(
            "A futures symbol's margin type",
            MarginType::ALL,
            MarginType::as_str,
        )
    }
}
