//! The control protocol: JSON-RPC 2.0, one object per line, over a Unix stream socket.
//!
//! This file is the one definition shared by the server ([`super::server`]), the client
//! ([`super::client`], used by `tradebeat ctl`) and the tests: the envelope
//! ([`Request`], [`Response`], [`ErrorObject`]), the error [`code`]s, and for every method a
//! marker type implementing [`Method`] that ties its name to its typed parameters and its
//! typed result. The method table in README.md ("The protocol") is the contract with users;
//! this file implements it.
//!
//! Conventions on the wire:
//! - one request object per line (`\n`; a trailing `\r` is ignored), one response object
//!   per line, in request order; a line is at most [`MAX_LINE_BYTES`] bytes;
//! - parameters by name (an object); absent or `null` params mean "no parameters";
//! - every request carries an `id` (number or string) which its response echoes exactly
//!   as written (a number of any size); notifications (no `id`) and batches (a JSON array)
//!   are refused with `-32600`; so is a key given twice in one object (`-32602` inside
//!   `params`);
//! - times are integer milliseconds since the Unix epoch, UTC; prices and quantities are
//!   decimal strings (`"43210.5"`), as Binance sends them.

use std::fmt;

use rust_decimal::Decimal;
use std::cell::RefCell;

use serde::de::{DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::domain::ClientOrderId;
pub use crate::domain::OrderRequest;
use crate::domain::{Interval, Market, Symbol};
use crate::domain::{OrderStatus, OrderType, Side, TimeInForce, decimal_str};
use crate::exchange::Network;

/// The `jsonrpc` member every request and response carries.
pub const JSONRPC_VERSION: &str = "2.0";

/// The longest request line the server reads, in bytes, without its `\n`. A longer line
/// is answered with `-32600` and the connection is closed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Error codes. The first five are JSON-RPC 2.0's own (§5.1); the others are tradebeat's
/// application codes, in the range JSON-RPC leaves to servers (-32000 to -32099). Scripts may
/// rely on them; README.md lists them.
pub mod code {
    /// The line is not valid JSON (or not UTF-8).
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request: not an object, a batch (array), `jsonrpc` not
    /// `"2.0"`, `id` or `method` missing or of the wrong type, a key given twice in one
    /// object (outside `params`), or the line is longer than
    /// [`super::MAX_LINE_BYTES`] (then the connection is closed).
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method. `data.method` names it.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// A parameter is missing, unknown, of the wrong type or out of range, or a key is
    /// given twice inside `params`. The message names it and says why; `data.param` holds
    /// its name.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The daemon failed to do what was asked (the database failed). The message says what.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// The exchange does not list this symbol. `data.symbol` names it.
    pub const UNKNOWN_SYMBOL: i64 = -32001;
    /// The exchange lists the symbol but it is not trading. `data.status` holds the
    /// exchange's status (`BREAK`, `HALT` …).
    pub const SYMBOL_NOT_TRADING: i64 = -32002;
    /// `symbol.add` of a symbol that is registered and active. `data.symbol` names it.
    pub const ALREADY_REGISTERED: i64 = -32003;
    /// The symbol is not registered (or was removed, for methods that need an active one),
    /// or (`order.get`, `order.cancel`) no such order exists, neither on the exchange nor in
    /// the database. `data.symbol` names the symbol; for orders `data.order_id` or
    /// `data.client_order_id` the order asked for, and `data.code` and `data.msg` what the
    /// exchange answered (Binance's own, e.g. `-2013` for a query, `-2011` for a cancel).
    pub const NOT_FOUND: i64 = -32004;
    /// The exchange rejected the request. `data.code` and `data.msg` are Binance's own
    /// (<https://developers.binance.com/docs/binance-spot-api-docs/errors>), `data.http_status`
    /// the HTTP status. Retrying will not help.
    pub const EXCHANGE_REJECTED: i64 = -32005;
    /// The exchange could not be reached, answered 5xx or garbage, rate-limited us or
    /// banned the IP, or the request would have taken request weight kept for the beats
    /// (control requests are refused at once then, never queued). Try again later;
    /// `data.retry_after_ms` says when, if known.
    pub const EXCHANGE_UNAVAILABLE: i64 = -32006;
    /// The method or feature is not available in this daemon yet (futures markets;
    /// backfill not running).
    pub const NOT_AVAILABLE: i64 = -32007;
    /// The daemon serves its maximum number of connections; this one is refused and
    /// closed. Try again later. Also: this connection sent requests that reach the
    /// exchange (`symbol.add`, `sync.now`, `order.place`, `order.cancel`, `order.get`)
    /// faster than its rate allows; the request was not run, the connection stays open,
    /// and `data.retry_after_ms` says when to send it again.
    pub const SERVER_BUSY: i64 = -32008;
    /// The order request may or may not have been executed by the exchange (a timeout, an
    /// HTTP 5xx, Binance's `-1006`/`-1007`). `data.order` is the stored order (state
    /// `unknown` for a placement) and `data.detail` what happened; the daemon queries the
    /// exchange by client order id until it knows and updates the row. Do NOT send the
    /// order again: look at it with `order.get` (or `order.list`).
    pub const ORDER_OUTCOME_UNKNOWN: i64 = -32009;
    /// Orders need API credentials and none are configured. Set env
    /// `TRADEBEAT_EXCHANGE__API_KEY` and `TRADEBEAT_EXCHANGE__API_SECRET` (or
    /// `exchange.api_key_file` and `exchange.api_secret_file`) and restart the daemon.
    /// Market data keeps working without them.
    pub const NO_CREDENTIALS: i64 = -32010;

    /// A short name of a code, for messages (`"unknown_symbol"`), or `"error"`.
    pub fn name(code: i64) -> &'static str {
        match code {
            PARSE_ERROR => "parse_error",
            INVALID_REQUEST => "invalid_request",
            METHOD_NOT_FOUND => "method_not_found",
            INVALID_PARAMS => "invalid_params",
            INTERNAL_ERROR => "internal_error",
            UNKNOWN_SYMBOL => "unknown_symbol",
            SYMBOL_NOT_TRADING => "symbol_not_trading",
            ALREADY_REGISTERED => "already_registered",
            NOT_FOUND => "not_found",
            EXCHANGE_REJECTED => "exchange_rejected",
            EXCHANGE_UNAVAILABLE => "exchange_unavailable",
            NOT_AVAILABLE => "not_available",
            SERVER_BUSY => "server_busy",
            ORDER_OUTCOME_UNKNOWN => "order_outcome_unknown",
            NO_CREDENTIALS => "no_credentials",
            _ => "error",
        }
    }
}

/// A request or response id: a number or a string (JSON-RPC 2.0 §4), or `null` in a
/// response to a request whose id could not be read. A number is kept as the client wrote
/// it, so that its response echoes it exactly, however many digits it has
/// (`123456789012345678901234567890` comes back as such, not as a float).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Id {
    Number(NumberId),
    String(String),
    Null,
}

/// A numeric id: the text of a JSON number, as the client wrote it (`7`, `-1`,
/// `18446744073709551616`, `1.50`). Only this module makes one, from a number it parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NumberId(String);

impl NumberId {
    /// The number as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Id {
    /// The id a JSON value's exact text stands for, or `None` when that value is not a
    /// number, a string or `null`. `raw` is one JSON value without surrounding whitespace,
    /// as [`RawValue`] holds it.
    fn from_raw(raw: &RawValue) -> Option<Id> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str(text).ok().map(Id::String),
            b'n' => Some(Id::Null),
            b'-' | b'0'..=b'9' => Some(Id::Number(NumberId(text.to_string()))),
            _ => None,
        }
    }
}

impl From<u64> for Id {
    fn from(n: u64) -> Id {
        Id::Number(NumberId(n.to_string()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Number(n) => f.write_str(n.as_str()),
            Id::String(s) => write!(f, "{s:?}"),
            Id::Null => f.write_str("null"),
        }
    }
}

/// A number is written back as its own text.
impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Id::Number(n) => RawValue::from_string(n.0.clone())
                .map_err(serde::ser::Error::custom)?
                .serialize(s),
            Id::String(text) => s.serialize_str(text),
            Id::Null => s.serialize_unit(),
        }
    }
}

/// Reads a number as its exact text (with serde_json, whose raw values this needs).
impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Id::from_raw(&raw)
            .ok_or_else(|| serde::de::Error::custom("an id must be a number, a string or null"))
    }
}

/// One request, as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always [`JSONRPC_VERSION`].
    pub jsonrpc: String,
    pub id: Id,
    /// The method's name, e.g. `"symbol.add"`.
    pub method: String,
    /// The parameters by name; `None` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A request of method `M` with `params`.
    ///
    /// # Errors
    /// The parameters cannot be serialized (not with the types of this module).
    pub fn new<M: Method>(id: Id, params: &M::Params) -> Result<Request, serde_json::Error> {
        let params = serde_json::to_value(params)?;
        let params = match params {
            Value::Object(ref map) if map.is_empty() => None,
            Value::Null => None,
            other => Some(other),
        };
        Ok(Request {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            method: M::NAME.to_string(),
            params,
        })
    }
}

/// One response: exactly one of `result` and `error` is present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always [`JSONRPC_VERSION`].
    pub jsonrpc: String,
    /// The request's id; `null` when it could not be read.
    pub id: Id,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// A success.
    pub fn result(id: Id, result: Value) -> Response {
        Response {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn error(id: Id, error: ErrorObject) -> Response {
        Response {
            jsonrpc: JSONRPC_VERSION.to_string(),
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The response as one line, `\n` included. Compact JSON never contains a raw newline.
    pub fn to_line(&self) -> Vec<u8> {
        // Serializing these types cannot fail (string keys, no non-finite floats: serde_json
        // writes those as null); fall back to a fixed internal error all the same.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"response could not be encoded"}}"#
                .to_vec()
        });
        line.push(b'\n');
        line
    }

    /// `Ok(result)` or `Err(error)`; a response with neither is an invalid-request error.
    pub fn into_result(self) -> Result<Value, ErrorObject> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(error),
            (Some(result), None) => Ok(result),
            (None, None) => Err(ErrorObject::new(
                code::INVALID_REQUEST,
                "response has neither result nor error",
            )),
        }
    }
}

/// A JSON-RPC error object: a [`code`], a lowercase message without trailing period, and
/// optional structured `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} {})",
            self.message,
            code::name(self.code),
            self.code
        )
    }
}

impl std::error::Error for ErrorObject {}

impl ErrorObject {
    /// An error without data.
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data`.
    pub fn with_data(mut self, data: Value) -> ErrorObject {
        self.data = Some(data);
        self
    }

    /// `-32602` naming `param` and why it is refused; `data: {"param": ..}`.
    pub fn invalid_param(param: &str, why: impl fmt::Display) -> ErrorObject {
        ErrorObject::new(
            code::INVALID_PARAMS,
            format!("invalid params: `{param}` {why}"),
        )
        .with_data(serde_json::json!({ "param": param }))
    }

    /// `-32004` for a symbol that is not registered.
    pub fn not_found(symbol: &Symbol, what: &str) -> ErrorObject {
        ErrorObject::new(code::NOT_FOUND, format!("symbol {symbol} is {what}"))
            .with_data(serde_json::json!({ "symbol": symbol }))
    }

    /// `-32007` for what this daemon does not offer yet.
    pub fn not_available(what: impl fmt::Display) -> ErrorObject {
        ErrorObject::new(code::NOT_AVAILABLE, format!("{what} is not available yet"))
    }

    /// `-32603` with the failure's description.
    pub fn internal(what: impl fmt::Display) -> ErrorObject {
        ErrorObject::new(code::INTERNAL_ERROR, what.to_string())
    }
}

/// Why a line is not a request: the error to answer with, and the request's id when it
/// could be read (else the response's id is `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    pub id: Id,
    pub error: Box<ErrorObject>,
}

impl DecodeError {
    /// The response to send.
    pub fn into_response(self) -> Response {
        Response::error(self.id, *self.error)
    }
}

/// Decodes one request line (without its `\n`).
///
/// Checks the envelope only: valid UTF-8 JSON (`-32700` otherwise); no object in it with a
/// key twice (`-32600`, or `-32602` naming the parameter inside `params`: which of the two
/// values was meant cannot be known); an object, not an array or a scalar; `jsonrpc`
/// exactly `"2.0"`; `id` a number or a string (or `null`), present, kept as written;
/// `method` a string; `params` absent, `null` or an object (an array, positional params,
/// is `-32602`). Members other than these four are ignored. The method's own parameters are
/// decoded by [`decode_params`]. Never panics, whatever the bytes; nesting deeper than
/// serde_json's limit (128) is a parse error.
pub fn decode_request(line: &[u8]) -> Result<Request, DecodeError> {
    let fail = |id: Id, code: i64, message: &str| DecodeError {
        id,
        error: Box::new(ErrorObject::new(code, message)),
    };
    let found = RefCell::new(Found::default());
    let mut deserializer = serde_json::Deserializer::from_slice(line);
    let top = TopLevel { found: &found }
        .deserialize(&mut deserializer)
        .and_then(|top| deserializer.end().map(|()| top));
    let top = match top {
        Ok(top) => top,
        Err(e) => {
            let found = found.into_inner();
            let id = found.id.unwrap_or(Id::Null);
            return Err(match found.duplicate {
                Some(duplicate) => DecodeError {
                    id,
                    error: Box::new(duplicate.error()),
                },
                None => fail(id, code::PARSE_ERROR, &format!("parse error: {e}")),
            });
        }
    };
    let (raw_id, mut object) = match top {
        Top::Object(raw_id, map) => (raw_id, map),
        Top::Array => {
            return Err(fail(
                Id::Null,
                code::INVALID_REQUEST,
                "invalid request: batch requests are not supported; send one object per line",
            ));
        }
        Top::Scalar => {
            return Err(fail(
                Id::Null,
                code::INVALID_REQUEST,
                "invalid request: a request must be a JSON object",
            ));
        }
    };
    let id = match raw_id.map(|raw| Id::from_raw(&raw)) {
        Some(Some(id)) => id,
        Some(None) => {
            return Err(fail(
                Id::Null,
                code::INVALID_REQUEST,
                "invalid request: `id` must be a number or a string",
            ));
        }
        None => {
            return Err(fail(
                Id::Null,
                code::INVALID_REQUEST,
                "invalid request: `id` is missing (notifications are not supported)",
            ));
        }
    };
    match object.remove("jsonrpc") {
        Some(Value::String(v)) if v == JSONRPC_VERSION => {}
        Some(_) => {
            return Err(fail(
                id,
                code::INVALID_REQUEST,
                "invalid request: `jsonrpc` must be \"2.0\"",
            ));
        }
        None => {
            return Err(fail(
                id,
                code::INVALID_REQUEST,
                "invalid request: `jsonrpc` is missing; it must be \"2.0\"",
            ));
        }
    }
    let method = match object.remove("method") {
        Some(Value::String(m)) => m,
        Some(_) => {
            return Err(fail(
                id,
                code::INVALID_REQUEST,
                "invalid request: `method` must be a string",
            ));
        }
        None => {
            return Err(fail(
                id,
                code::INVALID_REQUEST,
                "invalid request: `method` is missing",
            ));
        }
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(Value::Object(map)),
        Some(_) => {
            return Err(DecodeError {
                id,
                error: Box::new(
                    ErrorObject::new(
                        code::INVALID_PARAMS,
                        "invalid params: `params` must be an object of named parameters",
                    )
                    .with_data(serde_json::json!({ "param": "params" })),
                ),
            });
        }
    };
    Ok(Request {
        jsonrpc: JSONRPC_VERSION.to_string(),
        id,
        method,
        params,
    })
}

/// The longest key a duplicate-key error quotes, in characters.
const MAX_ECHOED_KEY: usize = 64;

/// What [`decode_request`]'s parser learnt before it stopped: the request's id once read,
/// and the first key found twice.
#[derive(Default)]
struct Found {
    id: Option<Id>,
    duplicate: Option<Duplicate>,
}

/// A key found twice in one object: the key, the envelope member it is under (`None` for
/// the envelope itself) and, under `params`, the parameter it is in.
struct Duplicate {
    key: String,
    member: Option<String>,
    param: Option<String>,
}

impl Duplicate {
    /// `-32602` naming the parameter for one in `params`, else `-32600`.
    fn error(self) -> ErrorObject {
        let key = shorten(&self.key);
        match (self.member.as_deref(), self.param) {
            (None, _) => ErrorObject::new(
                code::INVALID_REQUEST,
                format!("invalid request: duplicate key `{key}`; each key may appear once"),
            ),
            (Some("params"), None) => ErrorObject::new(
                code::INVALID_PARAMS,
                format!("invalid params: duplicate key `{key}`; each key may appear once"),
            )
            .with_data(serde_json::json!({ "param": key })),
            (Some("params"), Some(param)) => {
                let param = shorten(&param);
                ErrorObject::new(
                    code::INVALID_PARAMS,
                    format!(
                        "invalid params: duplicate key `{key}` inside `{param}`; each key may \
                         appear once"
                    ),
                )
                .with_data(serde_json::json!({ "param": param }))
            }
            (Some(member), _) => ErrorObject::new(
                code::INVALID_REQUEST,
                format!(
                    "invalid request: duplicate key `{key}` inside `{}`; each key may appear once",
                    shorten(member)
                ),
            ),
        }
    }
}

/// `text` cut to [`MAX_ECHOED_KEY`] characters and `…`.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHOED_KEY) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// A line's top level: an object (its `id` as written, and its other members), an array
/// (a batch), or anything else.
enum Top {
    Object(Option<Box<RawValue>>, Map<String, Value>),
    Array,
    Scalar,
}

/// Parses a line's top level, refusing a key found twice anywhere (recorded in `found`).
struct TopLevel<'f> {
    found: &'f RefCell<Found>,
}

impl<'de> DeserializeSeed<'de> for TopLevel<'_> {
    type Value = Top;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel<'_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let (mut id, mut members) = (None, Map::new());
        while let Some(key) = map.next_key::<String>()? {
            if key == "id" {
                if id.is_some() {
                    return Err(duplicate(self.found, key, None, None));
                }
                let raw: Box<RawValue> = map.next_value()?;
                self.found.borrow_mut().id = Id::from_raw(&raw);
                id = Some(raw);
                continue;
            }
            if members.contains_key(&key) {
                return Err(duplicate(self.found, key, None, None));
            }
            let value = map.next_value_seed(StrictValue {
                found: self.found,
                member: Some(&key),
                param: None,
            })?;
            members.insert(key, value);
        }
        Ok(Top::Object(id, members))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Top, A::Error> {
        let strict = || StrictValue {
            found: self.found,
            member: None,
            param: None,
        };
        while seq.next_element_seed(strict())?.is_some() {}
        Ok(Top::Array)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Top, E> {
        Ok(Top::Scalar)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Top, E> {
        Ok(Top::Scalar)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Top, E> {
        Ok(Top::Scalar)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Top, E> {
        Ok(Top::Scalar)
    }

    fn visit_str<E>(self, _: &str) -> Result<Top, E> {
        Ok(Top::Scalar)
    }

    fn visit_unit<E>(self) -> Result<Top, E> {
        Ok(Top::Scalar)
    }
}

/// Records the first duplicate key and makes the error that stops the parse.
fn duplicate<E: serde::de::Error>(
    found: &RefCell<Found>,
    key: String,
    member: Option<&str>,
    param: Option<&str>,
) -> E {
    let message = format!("duplicate key `{}`", shorten(&key));
    found.borrow_mut().duplicate.get_or_insert(Duplicate {
        key,
        member: member.map(str::to_string),
        param: param.map(str::to_string),
    });
    E::custom(message)
}

/// Parses one JSON value below the top level as serde_json's [`Value`] does, except that
/// an object with a key twice is refused. `member` is the envelope member it is under,
/// `param` the parameter when that member is `params`.
struct StrictValue<'f, 'k> {
    found: &'f RefCell<Found>,
    member: Option<&'k str>,
    param: Option<&'k str>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // The object right under `params` holds the parameters by name.
        let holds_params = self.member == Some("params") && self.param.is_none();
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(duplicate(self.found, key, self.member, self.param));
            }
            let value = map.next_value_seed(StrictValue {
                found: self.found,
                member: self.member,
                param: if holds_params { Some(&key) } else { self.param },
            })?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StrictValue {
            found: self.found,
            member: self.member,
            param: self.param,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// Decodes a method's parameters (absent: `{}`) into `P`, or a `-32602` error that names
/// the parameter at fault and says why: missing, unknown (with the accepted names), or of
/// the wrong type or value. Never panics.
pub fn decode_params<P: DeserializeOwned>(params: Option<Value>) -> Result<P, ErrorObject> {
    let value = params.unwrap_or_else(|| Value::Object(Default::default()));
    serde_path_to_error::deserialize::<_, P>(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde reports a missing or unknown field at the parent's path ("."); its
        // message names the field between backticks.
        let param = if path == "." || path.is_empty() {
            inner
                .split('`')
                .nth(1)
                .map(str::to_string)
                .unwrap_or_else(|| "params".to_string())
        } else {
            path
        };
        if inner.starts_with("missing field") || inner.starts_with("unknown field") {
            ErrorObject::new(code::INVALID_PARAMS, format!("invalid params: {inner}"))
                .with_data(serde_json::json!({ "param": param }))
        } else {
            ErrorObject::invalid_param(&param, format_args!("is invalid: {inner}"))
        }
    })
}

/// A control method: its name on the wire, its parameters and its result. Each method of
/// README.md's table ("The protocol") has one marker type below; the server registers one
/// handler per marker and the client calls through it, so both sides share one definition.
pub trait Method {
    /// The method's name on the wire.
    const NAME: &'static str;
    /// Its parameters (by name). Unknown names are refused.
    type Params: Serialize + DeserializeOwned + Send + 'static;
    /// Its result.
    type Result: Serialize + DeserializeOwned + Send + 'static;
}

/// Methods of README.md's table that later releases implement; the server answers them
/// with [`code::NOT_AVAILABLE`] (not `-32601`), so a script can tell "not yet" from a typo.
/// Empty: every method of the table is served.
pub const PLANNED_METHODS: [&str; 0] = [];

mod queries;
pub use queries::*;
mod strategies;
pub use strategies::*;
mod events;
pub use events::*;
mod actions;
pub use actions::*;
mod watchlist;
pub use watchlist::*;
mod futures_trading;
pub use futures_trading::*;
mod contracts;
pub use contracts::*;

/// Parameters of a method that takes none (`{}` or absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// `status`: the daemon's state at a glance.
pub struct Status;
impl Method for Status {
    const NAME: &'static str = "status";
    type Params = NoParams;
    type Result = StatusInfo;
}

/// `symbol.add`: registers a symbol (validated against `exchangeInfo`) and starts its
/// backfill.
pub struct SymbolAdd;
impl Method for SymbolAdd {
    const NAME: &'static str = "symbol.add";
    type Params = SymbolAddParams;
    type Result = SymbolAdded;
}

/// `symbol.remove`: stops following a symbol; its data stay.
pub struct SymbolRemove;
impl Method for SymbolRemove {
    const NAME: &'static str = "symbol.remove";
    type Params = SymbolParams;
    type Result = SymbolView;
}

/// `symbol.list`: the registered symbols with their newest candle and backfill progress.
pub struct SymbolList;
impl Method for SymbolList {
    const NAME: &'static str = "symbol.list";
    type Params = SymbolListParams;
    type Result = Vec<SymbolEntry>;
}

/// `sync.now`: runs a beat now and returns its `heartbeats` row.
pub struct SyncNow;
impl Method for SyncNow {
    const NAME: &'static str = "sync.now";
    type Params = SyncNowParams;
    type Result = BeatView;
}

/// `backfill.start`: (re)starts the backfill of a registered symbol.
pub struct BackfillStart;
impl Method for BackfillStart {
    const NAME: &'static str = "backfill.start";
    type Params = BackfillStartParams;
    type Result = Vec<JobView>;
}

/// `backfill.wait`: answers as soon as every backfill job of a symbol has ended (done,
/// failed or stopped), or when `timeout_ms` has passed, with its jobs summed up (`jobs`
/// counts them; ended when `done + failed + stopped == jobs`). A notification from the
/// backfill, not a poll: `ctl symbols add --wait` calls it in a loop for its progress line.
pub struct BackfillWait;
impl Method for BackfillWait {
    const NAME: &'static str = "backfill.wait";
    type Params = BackfillWaitParams;
    type Result = BackfillSummary;
}

/// `kline.list`: stored candles of one symbol and interval.
pub struct KlineList;
impl Method for KlineList {
    const NAME: &'static str = "kline.list";
    type Params = KlineListParams;
    type Result = Vec<KlineView>;
}

/// `order.place`: checks an order against the symbol's rules, stores it `pending`, sends
/// it once and returns it as stored after the exchange answered ("New order (TRADE)" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints>). The
/// params are [`OrderRequest`]: `symbol`, `side`, `type`, `quantity`?, `quote_quantity`?,
/// `price`?, `stop_price`?, `time_in_force`?, `client_order_id`?, decimals as strings.
pub struct OrderPlace;
impl Method for OrderPlace {
    const NAME: &'static str = "order.place";
    type Params = OrderRequest;
    type Result = OrderView;
}

/// `order.cancel`: cancels an open order (`DELETE /api/v3/order`) and returns it as stored.
pub struct OrderCancel;
impl Method for OrderCancel {
    const NAME: &'static str = "order.cancel";
    type Params = OrderRefParams;
    type Result = OrderView;
}

/// `order.get`: one order, refreshed from the exchange (`GET /api/v3/order`) and stored.
pub struct OrderGet;
impl Method for OrderGet {
    const NAME: &'static str = "order.get";
    type Params = OrderRefParams;
    type Result = OrderView;
}

/// `order.list`: stored orders, newest first (the database only; no exchange request).
pub struct OrderList;
impl Method for OrderList {
    const NAME: &'static str = "order.list";
    type Params = OrderListParams;
    type Result = Vec<OrderView>;
}

/// `balance.list`: balances as last reported by the user-data stream
/// (outboundAccountPosition) or the account endpoint, by asset (the database only; no
/// exchange request).
pub struct BalanceList;
impl Method for BalanceList {
    const NAME: &'static str = "balance.list";
    type Params = BalanceListParams;
    type Result = Vec<BalanceView>;
}

/// `balance.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BalanceListParams {
    /// Only this asset (e.g. `"BTC"`; lower case is accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
}

/// `pnl.list`: per (market, symbol), the position, average entry, realized PnL and fees
/// from the stored executions, and unrealized PnL at the last stored price
/// (`domain::pnl`: average-cost accounting), for live and paper alike. The database only.
pub struct PnlList;
impl Method for PnlList {
    const NAME: &'static str = "pnl.list";
    type Params = PnlListParams;
    type Result = Vec<PnlView>;
}

/// `pnl.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PnlListParams {
    /// Only this market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// Only this symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
}

/// The PnL of one (market, symbol) (`pnl.list`): amounts in the quote asset, decimal
/// strings; the position in the base asset (negative: more sold than bought).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnlView {
    pub market: Market,
    pub symbol: Symbol,
    /// The base and quote assets (`null` when the symbol is not registered and its name
    /// does not end with a known quote asset).
    pub base_asset: Option<String>,
    pub quote_asset: Option<String>,
    #[serde(with = "decimal_str")]
    pub position: Decimal,
    /// Average entry price of the position; zero when flat.
    #[serde(with = "decimal_str")]
    pub avg_entry: Decimal,
    /// Realized PnL before fees.
    #[serde(with = "decimal_str")]
    pub realized_pnl: Decimal,
    /// Fees paid in the base or quote asset, in the quote asset.
    #[serde(with = "decimal_str")]
    pub fees: Decimal,
    /// Fees paid in other assets (e.g. BNB), by asset, unconverted decimal strings.
    pub other_fees: std::collections::BTreeMap<String, String>,
    /// The last stored price (24 h ticker, else newest candle close); `null` when none.
    #[serde(with = "decimal_str::option")]
    pub last_price: Option<Decimal>,
    /// `position × (last_price − avg_entry)`; `null` without a last price.
    #[serde(with = "decimal_str::option")]
    pub unrealized_pnl: Option<Decimal>,
    /// `realized_pnl + unrealized_pnl − fees`.
    #[serde(with = "decimal_str")]
    pub net_pnl: Decimal,
    /// Fills counted.
    pub trades: usize,
}

/// The names of the methods served now, in the order of README.md's table.
pub const METHODS: [&str; 38] = [
    Status::NAME,
    SymbolAdd::NAME,
    SymbolRemove::NAME,
    SymbolList::NAME,
    SyncNow::NAME,
    BackfillStart::NAME,
    BackfillWait::NAME,
    KlineList::NAME,
    OrderPlace::NAME,
    OrderCancel::NAME,
    OrderGet::NAME,
    OrderList::NAME,
    BalanceList::NAME,
    MarkPriceList::NAME,
    FundingRateList::NAME,
    OpenInterestList::NAME,
    PnlList::NAME,
    TickerGet::NAME,
    MarketGet::NAME,
    TradeList::NAME,
    OrderCancelAll::NAME,
    OrderTest::NAME,
    StrategyAdd::NAME,
    StrategyUpdate::NAME,
    StrategyRemove::NAME,
    StrategyList::NAME,
    TradeStrategyAdd::NAME,
    TradeStrategyRemove::NAME,
    TradeStrategyList::NAME,
    Subscribe::NAME,
    ActionList::NAME,
    WatchlistAdd::NAME,
    WatchlistRemove::NAME,
    WatchlistList::NAME,
    PositionList::NAME,
    LeverageSet::NAME,
    MarginTypeSet::NAME,
    StrategyRunList::NAME,
];

/// `order.cancel` and `order.get` parameters: the symbol and one of the two ids (at least
/// one is required; when both are given the order id is used, as Binance does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderRefParams {
    pub symbol: Symbol,
    /// The exchange's order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    /// The client order id (the caller's, or the `tb-…` one tradebeat generated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<ClientOrderId>,
    /// `spot` (default), `usdm` or `coinm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// `order.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderListParams {
    /// Only this symbol's orders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
    /// `true`: only orders not in a final state (open on the exchange, `pending` or
    /// `unknown`); absent or `false`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
    /// 1..=[`ORDER_LIST_MAX_LIMIT`]; absent: [`ORDER_LIST_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `true`: ask the exchange for the open orders and mark each against the database
    /// ([`OrderView::live`]); `open` and `limit` do not apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<bool>,
    /// `spot` (default), `usdm` or `coinm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// The number of orders `order.list` returns when no `limit` is given (the orders
/// component's own default, which a test keeps equal).
pub const ORDER_LIST_DEFAULT_LIMIT: u32 = 100;
/// The most orders one `order.list` returns (the orders component's own cap, which a test
/// keeps equal).
pub const ORDER_LIST_MAX_LIMIT: u32 = 1000;

/// `symbol.add` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolAddParams {
    /// The exchange's name, e.g. `"BTCUSDT"` (lower case is accepted).
    pub symbol: Symbol,
    /// `"spot"` (default); the futures markets are not available yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// The symbol's own kline intervals (non-empty, no repeats); absent: the config's
    /// `market_data.intervals`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<Vec<Interval>>,
    /// The symbol's own backfill depth in days (1..=3650); absent: the config's
    /// `market_data.backfill_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_days: Option<u32>,
}

/// Parameters naming one symbol (`symbol.remove`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolParams {
    pub symbol: Symbol,
    /// `"spot"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// `symbol.list` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolListParams {
    /// `true`: only active symbols; `false`: only removed ones; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// `spot` (absent), `usdm` or `coinm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// `sync.now` parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncNowParams {
    /// A symbol that must be followed (active and trading), else the call fails. The beat
    /// itself covers every followed symbol: its tickers are one request for all of them,
    /// so syncing one symbol costs the same as syncing all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<Symbol>,
}

/// `backfill.wait` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillWaitParams {
    /// An active registered symbol.
    pub symbol: Symbol,
    /// `"spot"` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
    /// The longest wait, ms (0..=60000; absent: 1000). 0 answers at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `backfill.start` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillStartParams {
    /// An active registered symbol.
    pub symbol: Symbol,
    /// One of the symbol's intervals; absent: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The oldest open time wanted, ms since the epoch, not in the future; absent: the
    /// symbol's backfill depth in days before now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// `"spot"` (default), `"usdm"` or `"coinm"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// The number of candles `kline.list` returns when no `limit` is given.
pub const KLINE_LIST_DEFAULT_LIMIT: u32 = 500;
/// The most candles one `kline.list` returns.
pub const KLINE_LIST_MAX_LIMIT: u32 = 5000;

/// `kline.list` parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KlineListParams {
    /// A registered symbol (active or removed: its data stay).
    pub symbol: Symbol,
    pub interval: Interval,
    /// Oldest open time, ms (inclusive). Given: the first `limit` candles from here. Absent:
    /// the newest `limit` candles up to `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Newest open time, ms (inclusive); absent: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// 1..=[`KLINE_LIST_MAX_LIMIT`]; absent: [`KLINE_LIST_DEFAULT_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `spot` (absent), `usdm` or `coinm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<Market>,
}

/// A registered symbol (a `symbols` row), with the intervals and backfill depth it
/// actually uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolView {
    pub id: i64,
    pub market: Market,
    pub symbol: Symbol,
    pub base_asset: String,
    pub quote_asset: String,
    /// The exchange's status when last checked (`TRADING`, `BREAK` …).
    pub status: String,
    /// `false` once removed: the beats no longer follow it; its data stay.
    pub active: bool,
    /// The intervals its candles are kept at: its own, or the config's.
    pub intervals: Vec<Interval>,
    /// Whether `intervals` are the symbol's own (set by `symbol.add`) or the config's.
    pub own_intervals: bool,
    /// Days of history it is backfilled to: its own, or the config's.
    pub backfill_days: u32,
    /// First registered, ms.
    pub added_at: i64,
    /// Last changed, ms.
    pub updated_at: i64,
    /// A futures symbol's contract spec as stored from its market's `exchangeInfo`;
    /// absent on spot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<ContractView>,
}

/// `symbol.add`'s result: the row, and the backfill jobs it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolAdded {
    #[serde(flatten)]
    pub symbol: SymbolView,
    /// The backfill jobs as persisted, one per interval; empty when they did not start.
    pub backfill: Vec<JobView>,
    /// Why the backfill did not start (the symbol is registered all the same and the
    /// beats follow it); `null` when it started.
    pub backfill_error: Option<ErrorObject>,
}

/// One entry of `symbol.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymbolEntry {
    #[serde(flatten)]
    pub symbol: SymbolView,
    /// Open time of the newest stored candle of any interval, ms; `null`: none stored.
    pub last_kline_time: Option<i64>,
    /// Per interval with stored candles: the newest open time, ms.
    pub newest: Vec<SeriesView>,
    /// Its backfill jobs summed up; `null`: no jobs.
    pub backfill: Option<BackfillSummary>,
    /// A futures perpetual's history backfill (funding events, open interest at `5m`);
    /// absent on spot and delivery contracts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryView>,
}

/// The newest stored candle of one interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesView {
    pub interval: Interval,
    /// Open time, ms.
    pub open_time: i64,
}

/// Backfill jobs summed up (all jobs in `status`; one symbol's in `symbol.list`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BackfillSummary {
    pub jobs: u32,
    pub pending: u32,
    pub running: u32,
    pub done: u32,
    pub failed: u32,
    pub stopped: u32,
    /// Mean progress of the jobs, 0.0..=100.0.
    pub percent: f64,
    /// Candles written by the jobs.
    pub rows_written: u64,
    /// Seconds until the slowest running job is done, when known.
    pub eta_secs: Option<u64>,
}

/// One backfill job of one symbol × interval, with its progress (`backfill.start`, and
/// `symbol.add`'s `backfill`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub symbol_id: i64,
    pub symbol: Symbol,
    pub interval: Interval,
    /// Oldest open time wanted, ms.
    pub from_ms: i64,
    /// Newest open time the job covers, ms.
    pub to_ms: i64,
    /// Open time of the next page to fetch, ms.
    pub next_start_ms: i64,
    /// `pending`, `running`, `done`, `failed` or `stopped`.
    pub status: String,
    pub rows_written: u64,
    /// 0.0..=100.0.
    pub percent: f64,
    /// Seconds to completion, when running.
    pub eta_secs: Option<u64>,
    pub last_error: Option<String>,
    /// Last change, ms.
    pub updated_at: i64,
}

/// One beat (a `heartbeats` row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BeatView {
    /// When it was due (scheduled beats) or asked for (manual ones), ms.
    pub beat_time: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub symbols_ok: u32,
    pub symbols_failed: u32,
    pub klines_written: u32,
    /// Scheduled beats skipped just before it because the previous one overran.
    pub skipped_before: u32,
    /// `schedule`, `startup` or `manual`.
    pub trigger: String,
    /// What went wrong, per symbol; `null` when all went well.
    pub error: Option<String>,
}

/// Symbol counts in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SymbolCountsView {
    /// Registered, active or removed.
    pub registered: u32,
    pub active: u32,
    /// Active and trading: followed by the beats.
    pub following: u32,
}

/// The request-weight budget in `status` ("IP Limits" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightView {
    /// Weight used in the current one-minute window.
    pub used: u32,
    /// The exchange's limit per minute.
    pub limit: u32,
    /// Start of the window, exchange time, ms.
    pub window_start: i64,
}

/// `status`'s result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusInfo {
    /// tradebeat's version, e.g. `"0.1.0"`.
    pub version: String,
    /// The daemon's time now, ms.
    pub now: i64,
    /// When the daemon started, ms.
    pub started_at: i64,
    pub uptime_secs: u64,
    pub network: Network,
    /// The REST base URL requests go to.
    pub rest_url: String,
    /// The database file.
    pub database: String,
    /// The last scheduled (or start-up) beat; `null` before the first one finished.
    pub last_beat: Option<BeatView>,
    /// When the next scheduled beat is due, ms.
    pub next_beat_time: Option<i64>,
    pub symbols: SymbolCountsView,
    /// All backfill jobs summed up.
    pub backfill: BackfillSummary,
    pub request_weight: WeightView,
    /// Exchange clock minus local clock, ms, as last measured.
    pub clock_offset_ms: i64,
    /// The user-data stream: `state` (`off` without credentials, `connecting`,
    /// `reconciling`, `healthy`, `reconnecting`, `rejected`, `stopped`), `connected_since`
    /// and `last_event_time` (ms), `reconnects`, `reconciled_at` (ms), `events_committed`,
    /// `last_error`.
    pub user_stream: crate::domain::UserStreamStatus,
    /// The futures markets (`usdm`, `coinm`), each with its own symbols, weight budget,
    /// clock offset and last error. Spot is the fields above.
    #[serde(default)]
    pub futures: Vec<MarketStatusView>,
    /// Whether orders are simulated (`paper.enabled`): ctl shows PAPER then.
    #[serde(default)]
    pub paper: bool,
}

/// One futures market in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarketStatusView {
    pub market: Market,
    pub symbols: SymbolCountsView,
    pub request_weight: WeightView,
    /// Exchange clock minus local clock, ms, as last measured on this market.
    pub clock_offset_ms: i64,
    /// What went wrong in this market's part of the last beat; `None` when nothing did.
    pub last_error: Option<String>,
    /// The history backfill of its followed perpetuals: one entry per symbol and series
    /// (funding events, open interest at `5m`).
    #[serde(default)]
    pub history: Vec<HistoryView>,
    /// This market's user-data stream (listen key), as `user_stream` above; `None` when
    /// it has none (no credentials, paper mode).
    #[serde(default)]
    pub user_stream: Option<crate::domain::UserStreamStatus>,
}

/// One stored candle; prices and volumes as decimal strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlineView {
    /// Open time, ms.
    pub open_time: i64,
    /// Close time, ms.
    pub close_time: i64,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    /// Base-asset volume.
    pub volume: String,
    /// Quote-asset volume.
    pub quote_volume: String,
    pub trades: u64,
    pub taker_buy_base_volume: String,
    pub taker_buy_quote_volume: String,
}

/// One order as stored, with the exchange's latest word on it: the result of `order.place`,
/// `order.cancel`, `order.get` and `order.list`, and `data.order` of their errors.
///
/// Every member is named explicitly: the JSON is a user contract (README.md, "The
/// protocol"). Decimals are strings with the exchange's scale (`"0.00100000"`), times ms
/// since the Unix epoch, UTC. The order vocabulary (`side`, `type`, `time_in_force`,
/// `status`) is Binance's spelling, see
/// <https://developers.binance.com/docs/binance-spot-api-docs/enums>; tradebeat's own
/// statuses are `pending`, `unknown` and `not_placed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    /// tradebeat's id of the order.
    #[serde(rename = "id")]
    pub id: i64,
    #[serde(rename = "market")]
    pub market: Market,
    #[serde(rename = "symbol")]
    pub symbol: Symbol,
    /// The caller's, or the `tb-…` one tradebeat generated.
    #[serde(rename = "client_order_id")]
    pub client_order_id: ClientOrderId,
    /// The exchange's order id; `null` until the exchange answered.
    #[serde(rename = "order_id")]
    pub order_id: Option<i64>,
    #[serde(rename = "side")]
    pub side: Side,
    #[serde(rename = "type")]
    pub order_type: OrderType,
    #[serde(rename = "time_in_force")]
    pub time_in_force: Option<TimeInForce>,
    /// Base-asset quantity.
    #[serde(rename = "quantity", with = "decimal_str::option")]
    pub quantity: Option<Decimal>,
    /// Quote-asset amount (MARKET orders placed by amount).
    #[serde(rename = "quote_quantity", with = "decimal_str::option")]
    pub quote_quantity: Option<Decimal>,
    /// Limit price, quote asset.
    #[serde(rename = "price", with = "decimal_str::option")]
    pub price: Option<Decimal>,
    /// Trigger price of the stop and take-profit types.
    #[serde(rename = "stop_price", with = "decimal_str::option")]
    pub stop_price: Option<Decimal>,
    #[serde(rename = "status")]
    pub status: OrderStatus,
    /// Base-asset quantity filled so far.
    #[serde(rename = "executed_qty", with = "decimal_str")]
    pub executed_qty: Decimal,
    /// Quote-asset amount filled so far (Binance's spelling).
    #[serde(rename = "cummulative_quote_qty", with = "decimal_str")]
    pub cummulative_quote_qty: Decimal,
    /// Fills of the placement answer; empty when there were none or none were reported.
    #[serde(rename = "fills")]
    pub fills: Vec<FillView>,
    /// Binance's error code when the exchange refused the order.
    #[serde(rename = "error_code")]
    pub error_code: Option<i64>,
    /// Binance's message, or tradebeat's reason for `not_placed`.
    #[serde(rename = "error_msg")]
    pub error_msg: Option<String>,
    /// The exchange's time of placement, ms.
    #[serde(rename = "transact_time")]
    pub transact_time: Option<i64>,
    /// The exchange's time of the order's last change, ms.
    #[serde(rename = "update_time")]
    pub update_time: Option<i64>,
    /// When tradebeat stored the order (local clock), ms.
    #[serde(rename = "created_at")]
    pub created_at: i64,
    /// When tradebeat last changed it (local clock), ms.
    #[serde(rename = "updated_at")]
    pub updated_at: i64,
    /// `order.list` with `live: true` only: `same`, `differs` (status or executed quantity),
    /// `exchange_only` (then `id`, `created_at` and `updated_at` are 0 and the rest is the
    /// exchange's) or `database_only`; absent otherwise.
    #[serde(rename = "live", default, skip_serializing_if = "Option::is_none")]
    pub live: Option<String>,
}

/// One fill of an order (an entry of [`OrderView::fills`]); decimals as strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillView {
    /// Price, quote asset.
    #[serde(rename = "price", with = "decimal_str")]
    pub price: Decimal,
    /// Base-asset quantity.
    #[serde(rename = "qty", with = "decimal_str")]
    pub qty: Decimal,
    #[serde(rename = "commission", with = "decimal_str")]
    pub commission: Decimal,
    /// The asset the commission was paid in.
    #[serde(rename = "commission_asset")]
    pub commission_asset: String,
    #[serde(rename = "trade_id")]
    pub trade_id: i64,
}

/// One asset's balance as last reported (`balance.list`). Every member is named
/// explicitly, as for [`OrderView`]; decimals are strings, times ms since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// The asset, e.g. `BTC`.
    #[serde(rename = "asset")]
    pub asset: String,
    /// Available.
    #[serde(rename = "free", with = "decimal_str")]
    pub free: Decimal,
    /// Locked in open orders.
    #[serde(rename = "locked", with = "decimal_str")]
    pub locked: Decimal,
    /// The exchange's time of the account update the amounts come from, ms.
    #[serde(rename = "update_time")]
    pub update_time: i64,
    /// `stream` (outboundAccountPosition) or `rest` (account snapshot).
    #[serde(rename = "source")]
    pub source: String,
    /// When tradebeat last changed it (local clock), ms.
    #[serde(rename = "updated_at")]
    pub updated_at: i64,
}

/// `mark_price.list`: the stored `premiumIndex` snapshots of a futures symbol, one per
/// beat (`mark_prices`).
pub struct MarkPriceList;
impl Method for MarkPriceList {
    const NAME: &'static str = "mark_price.list";
    type Params = FuturesListParams;
    type Result = Vec<MarkPriceView>;
}

/// `funding_rate.list`: the stored funding events of a futures symbol (`funding_rates`).
pub struct FundingRateList;
impl Method for FundingRateList {
    const NAME: &'static str = "funding_rate.list";
    type Params = FuturesListParams;
    type Result = Vec<FundingRateView>;
}

/// `open_interest.list`: the stored open interest of a futures symbol at a period
/// (`open_interest`).
pub struct OpenInterestList;
impl Method for OpenInterestList {
    const NAME: &'static str = "open_interest.list";
    type Params = FuturesListParams;
    type Result = Vec<OpenInterestView>;
}

/// Parameters of `mark_price.list`, `funding_rate.list` and `open_interest.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FuturesListParams {
    /// A symbol registered on `market` (active or removed: its data stay).
    pub symbol: Symbol,
    /// `usdm` or `coinm`.
    pub market: Market,
    /// Oldest time, ms (inclusive); absent: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// Newest time, ms (inclusive); absent: no bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// 1..=[`KLINE_LIST_MAX_LIMIT`]; absent: [`KLINE_LIST_DEFAULT_LIMIT`]. The newest
    /// `limit` rows of the range, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `open_interest.list` only: `beat` (absent: the beats' readings) or an
    /// `openInterestHist` period (`5m` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// One stored mark-price snapshot; decimals as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkPriceView {
    /// The beat's time, ms.
    pub time: i64,
    pub mark_price: String,
    pub index_price: String,
    pub estimated_settle_price: Option<String>,
    /// `None` for delivery contracts.
    pub funding_rate: Option<String>,
    /// ms; `None` for delivery contracts.
    pub next_funding_time: Option<i64>,
}

/// One stored funding event; decimals as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FundingRateView {
    /// ms.
    pub funding_time: i64,
    pub funding_rate: String,
    pub mark_price: Option<String>,
}

/// One stored open-interest reading; decimals as strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenInterestView {
    /// `beat` or an `openInterestHist` period.
    pub period: String,
    /// ms.
    pub time: i64,
    /// Contracts on COIN-M, base asset on USDⓈ-M.
    pub open_interest: String,
    pub open_interest_value: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn line(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn code_of(bytes: &[u8]) -> i64 {
        decode_request(bytes).unwrap_err().error.code
    }

    #[test]
    fn requests_round_trip_through_the_decoder() {
        let params = KlineListParams {
            symbol: "btcusdt".parse().unwrap(),
            interval: Interval::H1,
            start: None,
            end: Some(5),
            limit: Some(24),
            market: None,
        };
        let request = Request::new::<KlineList>(Id::from(7), &params).unwrap();
        let bytes = serde_json::to_vec(&request).unwrap();
        let decoded = decode_request(&bytes).unwrap();
        assert_eq!(decoded, request);
        assert_eq!(
            decode_params::<KlineListParams>(decoded.params).unwrap(),
            params
        );
        // No params at all: the member is left out.
        let status = Request::new::<Status>(Id::String("a".into()), &NoParams {}).unwrap();
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"jsonrpc": "2.0", "id": "a", "method": "status"})
        );
    }

    #[test]
    fn envelope_errors_have_the_right_codes() {
        let cases: Vec<(Vec<u8>, i64, &str)> = vec![
            (b"{".to_vec(), code::PARSE_ERROR, "parse error"),
            (
                b"\xff\xfe\x00garbage".to_vec(),
                code::PARSE_ERROR,
                "parse error",
            ),
            (b"".to_vec(), code::PARSE_ERROR, "parse error"),
            (b"[]".to_vec(), code::INVALID_REQUEST, "batch"),
            (
                line(json!([{"jsonrpc": "2.0", "id": 1, "method": "status"}])),
                code::INVALID_REQUEST,
                "batch",
            ),
            (b"42".to_vec(), code::INVALID_REQUEST, "JSON object"),
            (b"\"status\"".to_vec(), code::INVALID_REQUEST, "JSON object"),
            (
                line(json!({"id": 1, "method": "status"})),
                code::INVALID_REQUEST,
                "`jsonrpc` is missing",
            ),
            (
                line(json!({"jsonrpc": "1.0", "id": 1, "method": "status"})),
                code::INVALID_REQUEST,
                "`jsonrpc` must be",
            ),
            (
                line(json!({"jsonrpc": "2.0", "method": "status"})),
                code::INVALID_REQUEST,
                "`id` is missing",
            ),
            (
                line(json!({"jsonrpc": "2.0", "id": [1], "method": "status"})),
                code::INVALID_REQUEST,
                "`id` must be",
            ),
            (
                line(json!({"jsonrpc": "2.0", "id": 1})),
                code::INVALID_REQUEST,
                "`method` is missing",
            ),
            (
                line(json!({"jsonrpc": "2.0", "id": 1, "method": 5})),
                code::INVALID_REQUEST,
                "`method` must be",
            ),
            (
                line(json!({"jsonrpc": "2.0", "id": 1, "method": "status", "params": [1]})),
                code::INVALID_PARAMS,
                "`params` must be an object",
            ),
        ];
        for (bytes, want, words) in cases {
            let err = decode_request(&bytes).unwrap_err();
            assert_eq!(err.error.code, want, "{}", String::from_utf8_lossy(&bytes));
            assert!(
                err.error.message.contains(words),
                "{:?} should contain {words:?}",
                err.error.message
            );
        }
        // The id is echoed when it could be read.
        let err = decode_request(&line(json!({"jsonrpc": "2.0", "id": "x"}))).unwrap_err();
        assert_eq!(err.id, Id::String("x".into()));
        assert_eq!(
            code_of(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":null}x"),
            code::PARSE_ERROR
        );
    }

    #[test]
    fn param_errors_name_the_param_and_say_why() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"interval": "1h"}),
                "symbol",
                "missing field `symbol`",
            ),
            (
                json!({"symbol": "BTCUSDT", "interval": "1h", "limit": "24"}),
                "limit",
                "invalid type: string \"24\"",
            ),
            (
                json!({"symbol": "BTCUSDT", "interval": "1h", "limit": -1}),
                "limit",
                "invalid value",
            ),
            (
                json!({"symbol": "BTC-USDT", "interval": "1h"}),
                "symbol",
                "invalid symbol",
            ),
            (
                json!({"symbol": "BTCUSDT", "interval": "2m"}),
                "interval",
                "unknown interval",
            ),
            (
                json!({"symbol": "BTCUSDT", "interval": "1h", "limt": 3}),
                "limt",
                "unknown field `limt`",
            ),
            (
                json!({"symbol": 5, "interval": "1h"}),
                "symbol",
                "invalid type",
            ),
        ];
        for (params, param, words) in cases {
            let err = decode_params::<KlineListParams>(Some(params.clone())).unwrap_err();
            assert_eq!(err.code, code::INVALID_PARAMS, "{params}");
            assert_eq!(
                err.data,
                Some(json!({"param": param})),
                "{params}: {}",
                err.message
            );
            assert!(err.message.contains(param), "{}", err.message);
            assert!(
                err.message.contains(words),
                "{} should contain {words}",
                err.message
            );
        }
        let err = decode_params::<SymbolAddParams>(Some(
            json!({"symbol": "BTCUSDT", "intervals": ["1m", 5]}),
        ))
        .unwrap_err();
        assert_eq!(err.data, Some(json!({"param": "intervals[1]"})));
        assert!(decode_params::<NoParams>(None).is_ok());
        assert!(decode_params::<NoParams>(Some(json!({"x": 1}))).is_err());
    }

    #[test]
    fn responses_carry_result_or_error() {
        let ok = Response::result(Id::from(1), json!({"a": 1}));
        let text = String::from_utf8(ok.to_line()).unwrap();
        assert_eq!(
            text,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":1}}\n"
        );
        let err = Response::error(Id::Null, ErrorObject::not_available("order.place"));
        let back: Response = serde_json::from_slice(&err.to_line()).unwrap();
        assert_eq!(back.into_result().unwrap_err().code, code::NOT_AVAILABLE);
        // A newline inside a string stays escaped: one response, one line.
        let nl = Response::result(Id::from(2), json!("a\nb")).to_line();
        assert_eq!(nl.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    /// Decodes a line and, when it is a request, its params for every method: never
    /// panics, and every error is one of the documented codes.
    fn decode_everything(bytes: &[u8]) {
        match decode_request(bytes) {
            Ok(request) => {
                let p = request.params;
                let _ = decode_params::<NoParams>(p.clone());
                let _ = decode_params::<SymbolAddParams>(p.clone());
                let _ = decode_params::<SymbolParams>(p.clone());
                let _ = decode_params::<SymbolListParams>(p.clone());
                let _ = decode_params::<SyncNowParams>(p.clone());
                let _ = decode_params::<BackfillStartParams>(p.clone());
                let _ = decode_params::<OrderRequest>(p.clone());
                let _ = decode_params::<OrderRefParams>(p.clone());
                let _ = decode_params::<OrderListParams>(p.clone());
                let _ = decode_params::<BalanceListParams>(p.clone());
                let _ = decode_params::<PnlListParams>(p.clone());
                if let Err(e) = decode_params::<KlineListParams>(p) {
                    assert_eq!(e.code, code::INVALID_PARAMS);
                }
            }
            Err(e) => assert!(
                [
                    code::PARSE_ERROR,
                    code::INVALID_REQUEST,
                    code::INVALID_PARAMS
                ]
                .contains(&e.error.code)
            ),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decoder_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            decode_everything(&bytes);
        }

        #[test]
        fn decoder_never_panics_on_strings(s in "\\PC{0,256}") {
            decode_everything(s.as_bytes());
        }

        #[test]
        fn decoder_never_panics_on_request_shaped_json(
            id in prop_oneof![Just(json!(1)), Just(json!("x")), Just(json!(null)), Just(json!(1.5)), Just(json!([]))],
            method in prop_oneof![Just("status".to_string()), Just("kline.list".to_string()), "[a-z.]{0,12}"],
            key in prop_oneof![Just("symbol"), Just("interval"), Just("limit"), Just("start"), Just("intervals"), Just("from"), Just("zzz")],
            value in prop_oneof![
                Just(json!(null)), Just(json!(-1)), Just(json!(u64::MAX)), Just(json!(1e300)),
                Just(json!("BTCUSDT")), Just(json!("1h")), Just(json!(["1m", "1m"])), Just(json!({"a": [1]})),
                "\\PC{0,24}".prop_map(Value::String),
                any::<i64>().prop_map(|n| json!(n)),
            ],
        ) {
            let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": {key: value}});
            decode_everything(&serde_json::to_vec(&request).unwrap());
        }
    }

    #[test]
    fn numeric_ids_are_echoed_exactly_however_large() {
        // Beyond u64 and i64, many digits, a fraction as written, an exponent.
        for id in [
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890123456789",
            "9007199254740993",
            "1.50",
            "-0",
            "1e400",
            "7",
        ] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"status"}}"#);
            let request = decode_request(text.as_bytes()).unwrap();
            assert_eq!(request.id.to_string(), id);
            let line = Response::result(request.id.clone(), json!(1)).to_line();
            let line = String::from_utf8(line).unwrap();
            assert_eq!(
                line,
                format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":1}}\n")
            );
            // The client reads it back as the same id.
            let back: Response = serde_json::from_str(&line).unwrap();
            assert_eq!(back.id, request.id);
            // An envelope error after the id was read echoes it too.
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id}}}"#);
            let error = decode_request(text.as_bytes()).unwrap_err().into_response();
            let line = String::from_utf8(error.to_line()).unwrap();
            assert!(line.contains(&format!("\"id\":{id},")), "{line}");
        }
        // Strings and null as before; anything else is not an id.
        let request = decode_request(br#"{"jsonrpc":"2.0","id":"x\"y","method":"m"}"#).unwrap();
        assert_eq!(request.id, Id::String("x\"y".into()));
        let request = decode_request(br#"{"jsonrpc":"2.0","id":null,"method":"m"}"#).unwrap();
        assert_eq!(request.id, Id::Null);
        for id in ["true", "{}", "[1]"] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"status"}}"#);
            assert_eq!(code_of(text.as_bytes()), code::INVALID_REQUEST, "{id}");
            assert!(serde_json::from_str::<Id>(id).is_err(), "{id}");
        }
        assert_eq!(Id::from(u64::MAX).to_string(), "18446744073709551615");
    }

    #[test]
    fn duplicate_keys_are_refused_naming_the_key() {
        // (line, code, words in the message, data.param)
        let cases: [(&str, i64, &str, Option<&str>); 7] = [
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"status","method":"symbol.remove"}"#,
                code::INVALID_REQUEST,
                "duplicate key `method`",
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"id":4,"method":"status"}"#,
                code::INVALID_REQUEST,
                "duplicate key `id`",
                None,
            ),
            (
                r#"{"id":3,"jsonrpc":"2.0","jsonrpc":"2.0","method":"status"}"#,
                code::INVALID_REQUEST,
                "duplicate key `jsonrpc`",
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"order.place","params":{"symbol":"BTCUSDT","side":"BUY","type":"MARKET","quantity":"1","side":"SELL"}}"#,
                code::INVALID_PARAMS,
                "duplicate key `side`",
                Some("side"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"symbol.add","params":{"symbol":"BTCUSDT","intervals":[{"a":1,"a":2}]}}"#,
                code::INVALID_PARAMS,
                "duplicate key `a` inside `intervals`",
                Some("intervals"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"status","meta":{"k":[{"z":1,"z":1}]}}"#,
                code::INVALID_REQUEST,
                "duplicate key `z` inside `meta`",
                None,
            ),
            (
                r#"[{"jsonrpc":"2.0","id":3,"method":"status","method":"status"}]"#,
                code::INVALID_REQUEST,
                "duplicate key `method`",
                None,
            ),
        ];
        for (text, want, words, param) in cases {
            let err = decode_request(text.as_bytes()).unwrap_err();
            assert_eq!(err.error.code, want, "{text}");
            assert!(
                err.error.message.contains(words),
                "{text}: {}",
                err.error.message
            );
            let data = err.error.data.as_ref().map(|d| d["param"].clone());
            assert_eq!(data, param.map(|p| json!(p)), "{text}");
            // The id is echoed when it was read before the second key.
            if text.starts_with('{') {
                assert_eq!(err.id, Id::from(3), "{text}");
            }
        }
        // A long key is quoted shortened; the same key in two objects is fine.
        let long = "k".repeat(10_000);
        let text = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","{long}":1,"{long}":2}}"#);
        let err = decode_request(text.as_bytes()).unwrap_err();
        assert!(err.error.message.len() < 200, "{}", err.error.message);
        let text = r#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":{"x":1},"b":{"x":1}}}"#;
        assert!(decode_request(text.as_bytes()).is_ok());
    }

    #[test]
    fn deeply_nested_json_is_a_parse_error_not_a_stack_overflow() {
        let deep = "[".repeat(MAX_LINE_BYTES);
        assert_eq!(code_of(deep.as_bytes()), code::PARSE_ERROR);
        let deep_params = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{{\"a\":{}}}}}",
            "[".repeat(10_000)
        );
        assert_eq!(code_of(deep_params.as_bytes()), code::PARSE_ERROR);
    }
}
