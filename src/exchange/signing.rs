//! Request signing: the payload rules and the pluggable [`Signer`] ("SIGNED Endpoint
//! security" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>).
//!
//! A SIGNED REST request carries `timestamp` (and `recvWindow`) among its parameters, and a
//! `signature` computed over the **percent-encoded** payload: the query string followed by
//! the request body, with no separator between the two. Since 2026-01-15 a signature
//! over an un-encoded payload is refused with `-1022`, so [`encode_params`] is the one way
//! parameters become bytes, both for signing and for sending: what is signed is exactly
//! what is sent.
//!
//! The WebSocket API signs differently: every parameter except `signature`, sorted by name,
//! joined as `k=v&…` over raw UTF-8 ([`ws_api_payload`]); the user-data stream subscription
//! will need it ("SIGNED request security" in
//! <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/request-security>).
//!
//! Key types: HMAC-SHA256 ([`HmacSha256`], hex output) today; Ed25519 (base64, then
//! percent-encoded) can be added as another [`Signer`] without touching the callers.
//! Secrets never leave a signer: `Debug` shows none, and nothing here logs.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Signs request payloads with an API secret ("SIGNED Endpoint security" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>).
///
/// Implementations must be cheap to call concurrently and must not reveal the secret in
/// `Debug`.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The value of the `signature` parameter for `payload` (the percent-encoded query
    /// string followed by the body), ready to be appended as `&signature=<value>`: already
    /// percent-encoded if the scheme's output needs it (hex does not).
    fn sign(&self, payload: &[u8]) -> String;

    /// The key type, for logs and errors: `"hmac-sha256"`, later `"ed25519"`.
    fn kind(&self) -> &'static str;
}

/// HMAC-SHA256 over the payload, lower-case hex ("HMAC Keys" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>).
///
/// The keyed state is computed once; each signature clones it, so signing costs two SHA-256
/// compressions per 64 bytes of payload and no allocation beyond the output.
#[derive(Clone)]
pub struct HmacSha256 {
    keyed: Hmac<Sha256>,
}

impl HmacSha256 {
    /// A signer for the API secret `secret` (used as given: case-sensitive, not trimmed).
    pub fn new(secret: &str) -> HmacSha256 {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for it. Should a
        // future `hmac` refuse, an empty-key signer would only produce -1022 rejections.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        HmacSha256 { keyed }
    }
}

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSha256(<redacted>)")
    }
}

impl Signer for HmacSha256 {
    fn sign(&self, payload: &[u8]) -> String {
        let mut mac = self.keyed.clone();
        mac.update(payload);
        hex_lower(&mac.finalize().into_bytes())
    }

    fn kind(&self) -> &'static str {
        "hmac-sha256"
    }
}

/// `bytes` as lower-case hex.
fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parameters as an `application/x-www-form-urlencoded` string, in the order given:
/// `name=value` pairs joined with `&`, every byte outside `A-Z a-z 0-9 * - . _`
/// percent-encoded with upper-case hex (`１` → `%EF%BC%91`, a space → `+`). This is both
/// the signed payload and the query string sent: Binance refuses a signature over an
/// un-encoded payload ("SIGNED Endpoint security" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security>).
pub fn encode_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The WebSocket API signature payload: every parameter except `signature`, sorted by
/// name, as raw UTF-8 `k=v` joined with `&` (not percent-encoded). Binance: "SIGNED request
/// security" in
/// <https://developers.binance.com/docs/binance-spot-api-docs/websocket-api/request-security>.
pub fn ws_api_payload(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().filter(|(k, _)| *k != "signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (i, (k, v)) in sorted.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spot REST example key pair: "SIGNED Endpoint Examples for POST /api/v3/order" in
    // https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security
    const API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
    const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

    fn order_params(symbol: &str) -> Vec<(&str, &str)> {
        vec![
            ("symbol", symbol),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
            ("recvWindow", "5000"),
            ("timestamp", "1499827319559"),
        ]
    }

    #[test]
    fn vector_a_ascii_query_string() {
        let payload = encode_params(order_params("LTCBTC"));
        assert_eq!(
            payload,
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            HmacSha256::new(SECRET).sign(payload.as_bytes()),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn vector_b_non_ascii_is_percent_encoded_before_signing() {
        let payload = encode_params(order_params("１２３４５６"));
        assert_eq!(
            payload,
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        assert_eq!(
            HmacSha256::new(SECRET).sign(payload.as_bytes()),
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
        );
    }

    #[test]
    fn vector_c_query_then_body_without_separator() {
        let params = order_params("LTCBTC");
        let query = encode_params(params[..4].iter().copied());
        let body = encode_params(params[4..].iter().copied());
        assert_eq!(query, "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC");
        assert_eq!(
            body,
            "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
        );
        let payload = format!("{query}{body}");
        assert_eq!(
            HmacSha256::new(SECRET).sign(payload.as_bytes()),
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
        );
    }

    #[test]
    fn ws_api_vectors_sort_parameters_by_name() {
        let params = [
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01000000"),
            ("price", "52000.00"),
            ("recvWindow", "100"),
            ("timestamp", "1645423376532"),
            ("apiKey", API_KEY),
            ("signature", "ignored"),
        ];
        let payload = ws_api_payload(&params);
        assert_eq!(
            payload,
            format!(
                "apiKey={API_KEY}&price=52000.00&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
            )
        );
        assert_eq!(
            HmacSha256::new(SECRET).sign(payload.as_bytes()),
            "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
        );

        // Non-ASCII: signed over raw UTF-8, not percent-encoded.
        let params = [
            ("apiKey", API_KEY),
            ("price", "0.10000000"),
            ("quantity", "1.00000000"),
            ("recvWindow", "5000"),
            ("side", "BUY"),
            ("symbol", "１２３４５６"),
            ("timeInForce", "GTC"),
            ("timestamp", "1645423376532"),
            ("type", "LIMIT"),
        ];
        let payload = ws_api_payload(&params);
        assert!(payload.contains("symbol=１２３４５６&"), "{payload}");
        assert_eq!(
            HmacSha256::new(SECRET).sign(payload.as_bytes()),
            "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"
        );
    }

    #[test]
    fn futures_vector_shows_the_scheme_is_the_same() {
        let secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(
            HmacSha256::new(secret).sign(payload.as_bytes()),
            "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
    }

    #[test]
    fn reserved_characters_are_encoded_and_debug_hides_the_secret() {
        assert_eq!(
            encode_params([("symbols", "[\"BTCUSDT\",\"ETHUSDT\"]"), ("a b", "x&y=z")]),
            "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D&a+b=x%26y%3Dz"
        );
        let signer = HmacSha256::new(SECRET);
        let shown = format!("{signer:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("NhqP"),
            "{shown}"
        );
        assert_eq!(signer.kind(), "hmac-sha256");
        // Signing is a pure function of key and payload.
        assert_eq!(signer.sign(b"x"), signer.clone().sign(b"x"));
        assert_ne!(signer.sign(b"x"), HmacSha256::new("other").sign(b"x"));
    }
}
