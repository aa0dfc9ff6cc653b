//! Binance-style error answers: an HTTP status plus `{"code":<int>,"msg":"<text>"}`.
//!
//! Codes and messages follow the Binance spot "Error codes" document
//! (<https://developers.binance.com/docs/binance-spot-api-docs/errors>).

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// `Content-Type` Binance uses for JSON answers.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json;charset=UTF-8";

/// Builds a response with a JSON body.
pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

/// An error answer such as HTTP 400 `{"code":-1121,"msg":"Invalid symbol."}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: i32,
    pub msg: Cow<'static, str>,
}

impl ApiError {
    /// HTTP 400 with the given code and message.
    pub(crate) fn bad_request(code: i32, msg: impl Into<Cow<'static, str>>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            msg: msg.into(),
        }
    }

    /// -1100 ILLEGAL_CHARS for one parameter.
    pub(crate) fn illegal(param: &str, legal: &str) -> ApiError {
        ApiError::bad_request(
            -1100,
            format!("Illegal characters found in parameter '{param}'; legal range is '{legal}'."),
        )
    }

    /// -1100 ILLEGAL_CHARS for an undecodable query string.
    pub(crate) fn illegal_chars() -> ApiError {
        ApiError::bad_request(-1100, "Illegal characters found in a parameter.")
    }

    /// -1101 TOO_MANY_PARAMETERS: a parameter was sent twice.
    pub(crate) fn duplicate_parameter() -> ApiError {
        ApiError::bad_request(-1101, "Duplicate values for a parameter detected.")
    }

    /// -1101 TOO_MANY_PARAMETERS: mutually exclusive parameters were combined.
    pub(crate) fn too_many_parameters() -> ApiError {
        ApiError::bad_request(-1101, "Too many parameters sent for this endpoint.")
    }

    /// -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED.
    pub(crate) fn mandatory(param: &str) -> ApiError {
        ApiError::bad_request(
            -1102,
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }

    /// -1105 PARAM_EMPTY.
    pub(crate) fn empty(param: &str) -> ApiError {
        ApiError::bad_request(-1105, format!("Parameter '{param}' was empty."))
    }

    /// -1120 BAD_INTERVAL.
    pub(crate) fn invalid_interval() -> ApiError {
        ApiError::bad_request(-1120, "Invalid interval.")
    }

    /// -1121 BAD_SYMBOL.
    pub(crate) fn invalid_symbol() -> ApiError {
        ApiError::bad_request(-1121, "Invalid symbol.")
    }

    /// -1139 INVALID_TICKER_TYPE.
    pub(crate) fn invalid_ticker_type() -> ApiError {
        ApiError::bad_request(-1139, "Invalid ticker type.")
    }

    /// -1151 DUPLICATE_SYMBOLS.
    pub(crate) fn duplicate_symbols() -> ApiError {
        ApiError::bad_request(-1151, "Symbol is present multiple times in the list.")
    }

    /// HTTP 503 -1001 DISCONNECTED, the answer to an injected internal failure.
    pub(crate) fn internal() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: -1001,
            msg: "Internal error; unable to process your request. Please try again.".into(),
        }
    }

    /// `(code, msg)`, the shape of the simulator's in-process helpers' errors.
    pub(crate) fn into_pair(self) -> (i32, String) {
        (self.code, self.msg.into_owned())
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> String {
        serde_json::json!({ "code": self.code, "msg": self.msg }).to_string()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, self.body())
    }
}
