//! The spot user-data stream's wire format: one text frame in, a typed [`Frame`] out.
//!
//! Spot user data comes over the WebSocket API ("User Data Stream requests" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/user-data-stream-requests>):
//! a frame is either the answer to a request (`{"id","status","result"|"error","rateLimits"}`)
//! or an event. Three event shapes are accepted, as seen in recorded payloads:
//!
//! - WebSocket-API wrapped: `{"subscriptionId":0,"event":{"e":…}}`;
//! - combined stream: `{"stream":"…","data":{"e":…}}`;
//! - bare: `{"e":…}`.
//!
//! The events themselves are in [`events`]. Each typed event keeps the
//! event object's exact JSON text (`raw`), borrowed from the frame while parsing and
//! copied once, never re-serialized. A frame that is not JSON, or neither a response nor
//! an event, is a [`FrameError`]; a known event whose fields do not parse is
//! [`UserDataEvent::Invalid`] and an unknown type [`UserDataEvent::Unknown`], both kept raw
//! by the store. Nothing here panics on any input. Binance's event payloads:
//! <https://developers.binance.com/docs/binance-spot-api-docs/user-data-stream>.
//!
//! This module knows Binance's user-data JSON field names; `src/exchange/` knows the REST
//! ones. The store ([`crate::store::Store::apply_user_data`]) writes what is parsed here.

use super::user_events::{Head, parse_event};
use crate::domain::UserDataEvent;

use serde::Deserialize;
use serde_json::value::RawValue;

/// One frame of the WebSocket API connection.
// Events are the frequent, large case; responses are rare (see `UserDataEvent`).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The answer to a request of ours (subscribe, ping …).
    Response(WsResponse),
    /// A user-data event.
    Event(ParsedEvent),
}

/// The answer to a WebSocket API request:
/// `{"id","status","result"|"error","rateLimits"}`. `rateLimits` is not kept. Binance:
/// "Response format" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/response-format>.
#[derive(Debug, Clone, PartialEq)]
pub struct WsResponse {
    /// The request's id: a string as sent, a number as its decimal text; `None` when the
    /// server could not read it (`null`).
    pub id: Option<String>,
    /// HTTP-like status: 200 success, 4xx the request's fault (401 with `-2015` for a bad
    /// key), 5xx the server's.
    pub status: u16,
    /// The result, on success.
    pub result: Option<serde_json::Value>,
    /// Binance's error, on failure (`-2015`, `-2035` …;
    /// <https://developers.binance.com/docs/binance-spot-api-docs/errors>).
    pub error: Option<WsError>,
}

/// Binance's error object: `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WsError {
    pub code: i64,
    pub msg: String,
}

/// An event and the subscription it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// `subscriptionId` of a WebSocket-API wrapped event; `None` for the other shapes.
    pub subscription_id: Option<i64>,
    pub event: UserDataEvent,
}

/// A frame that cannot be read. The text is never echoed whole (it may be long); the
/// reason says what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not valid JSON, or a member of the wrong type (`status` not a number …).
    #[error("user-data frame is not valid JSON: {0}")]
    Json(String),
    /// Valid JSON, but neither a response nor an event.
    #[error("user-data frame is neither a response nor an event: {0}")]
    Shape(String),
}

/// The members of every frame shape, borrowed: one pass over the frame finds the shape
/// and the event object's exact text.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "subscriptionId", default)]
    subscription_id: Option<i64>,
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
    /// Present in a bare event.
    #[serde(borrow, default)]
    e: Option<&'a RawValue>,
}

/// Parses one text frame of the user-data connection.
///
/// Errors: [`FrameError::Json`] for text that is not a JSON object of the expected types
/// (truncated, garbled), [`FrameError::Shape`] for JSON that is neither a response nor an
/// event (an event object without `e`, a non-object event).
pub fn parse_frame(text: &str) -> Result<Frame, FrameError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| FrameError::Json(e.to_string()))?;
    let (raw, subscription_id) = if let Some(event) = envelope.event {
        (event.get(), envelope.subscription_id)
    } else if let Some(data) = envelope.data {
        (data.get(), None)
    } else if let Some(status) = envelope.status {
        return response(&envelope, status).map(Frame::Response);
    } else if envelope.e.is_some() {
        (text.trim(), None)
    } else {
        return Err(FrameError::Shape(
            "no `event`, `data`, `status` or `e` member".to_string(),
        ));
    };
    let head: Head<'_> = serde_json::from_str(raw).map_err(|e| {
        FrameError::Shape(format!("the event is not an object with a string `e`: {e}"))
    })?;
    Ok(Frame::Event(ParsedEvent {
        subscription_id,
        event: parse_event(head, raw),
    }))
}

fn response(envelope: &Envelope<'_>, status: u16) -> Result<WsResponse, FrameError> {
    let json = |e: serde_json::Error| FrameError::Json(e.to_string());
    let id = match envelope.id {
        None => None,
        Some(raw) if raw.get().starts_with('"') => {
            Some(serde_json::from_str::<String>(raw.get()).map_err(json)?)
        }
        Some(raw)
            if raw
                .get()
                .starts_with(|c: char| c == '-' || c.is_ascii_digit()) =>
        {
            Some(raw.get().to_string())
        }
        Some(_) => {
            return Err(FrameError::Shape(
                "response `id` is neither a string nor a number".to_string(),
            ));
        }
    };
    let result = envelope
        .result
        .map(|r| serde_json::from_str::<serde_json::Value>(r.get()))
        .transpose()
        .map_err(json)?;
    let error = envelope
        .error
        .map(|r| serde_json::from_str::<WsError>(r.get()))
        .transpose()
        .map_err(json)?;
    Ok(WsResponse {
        id,
        status,
        result,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(text: &str) -> ParsedEvent {
        match parse_frame(text) {
            Ok(Frame::Event(e)) => e,
            other => panic!("expected an event from {text}: {other:?}"),
        }
    }

    #[test]
    fn responses_keep_id_status_result_and_error() {
        let ok = parse_frame(
            r#"{"id":"d3df8a22","status":200,"result":{"subscriptionId":0},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","count":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            ok,
            Frame::Response(WsResponse {
                id: Some("d3df8a22".into()),
                status: 200,
                result: Some(serde_json::json!({"subscriptionId": 0})),
                error: None,
            })
        );
        let err = parse_frame(
            r#"{"id":7,"status":401,"error":{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}}"#,
        )
        .unwrap();
        let Frame::Response(r) = err else {
            panic!("{err:?}")
        };
        assert_eq!(r.id.as_deref(), Some("7"));
        assert_eq!(r.status, 401);
        assert_eq!(r.error.unwrap().code, -2015);
        let null_id = parse_frame(r#"{"id":null,"status":400,"error":{"code":-1102,"msg":"x"}}"#);
        assert!(matches!(
            null_id,
            Ok(Frame::Response(WsResponse { id: None, .. }))
        ));
    }

    #[test]
    fn the_three_event_shapes_give_the_same_event() {
        let inner = r#"{"e":"eventStreamTerminated","E":1728973001334}"#;
        for (text, sub) in [
            (
                format!(r#"{{"subscriptionId":3,"event":{inner}}}"#),
                Some(3),
            ),
            (format!(r#"{{"stream":"x","data":{inner}}}"#), None),
            (format!("  {inner}\n"), None),
        ] {
            let e = event(&text);
            assert_eq!(e.subscription_id, sub, "{text}");
            assert_eq!(
                e.event,
                UserDataEvent::StreamTerminated {
                    event_time: 1728973001334
                }
            );
        }
        let shutdown = event(r#"{"event":{"e":"serverShutdown","E":1770123456789}}"#);
        assert_eq!(
            shutdown.event,
            UserDataEvent::ServerShutdown {
                event_time: 1770123456789
            }
        );
    }

    #[test]
    fn unknown_types_are_kept_raw_and_bad_fields_make_an_invalid_event() {
        let raw = r#"{"e":"externalLockUpdate","E":1,"a":"BTC","d":"1.0","T":2}"#;
        let e = event(&format!(r#"{{"subscriptionId":0,"event":{raw}}}"#));
        assert_eq!(
            e.event,
            UserDataEvent::Unknown {
                event_type: "externalLockUpdate".into(),
                event_time: Some(1),
                raw: raw.into()
            }
        );
        // A float where a decimal string belongs: invalid, with the key named.
        let raw = r#"{"e":"balanceUpdate","E":5,"a":"BTC","d":0.1,"T":6}"#;
        let UserDataEvent::Invalid {
            event_type,
            event_time,
            raw: kept,
            error,
        } = event(raw).event
        else {
            panic!("expected invalid")
        };
        assert_eq!(
            (event_type.as_str(), event_time, kept.as_str()),
            ("balanceUpdate", Some(5), raw)
        );
        assert!(error.contains("invalid type"), "{error}");
        let raw = r#"{"e":"balanceUpdate","E":5,"a":"BTC","d":"1e5","T":6}"#;
        let UserDataEvent::Invalid { error, .. } = event(raw).event else {
            panic!("expected invalid")
        };
        assert!(error.contains("field `d`"), "{error}");
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for text in [
            "",
            "{",
            "not json",
            "42",
            "null",
            r#"{"subscriptionId":0,"event":{"e":"executionReport","E":1"#,
            r#"{"subscriptionId":"zero","event":{"e":"x"}}"#,
            r#"{"status":"ok"}"#,
        ] {
            assert!(
                matches!(parse_frame(text), Err(FrameError::Json(_))),
                "{text:?}: {:?}",
                parse_frame(text)
            );
        }
        for text in [
            "{}",
            "[]",
            r#"{"stream":"x"}"#,
            r#"{"event":5}"#,
            r#"{"event":{"E":1}}"#,
            r#"{"event":{"e":7}}"#,
            r#"{"id":true,"status":200}"#,
        ] {
            assert!(
                matches!(parse_frame(text), Err(FrameError::Shape(_))),
                "{text:?}: {:?}",
                parse_frame(text)
            );
        }
    }
}
