//! Secrets: an API key pair ([`Credentials`]) and the [`Secret`] string that never shows
//! itself in `Debug`, `Serialize`, a log line or an error message.

use serde::{Deserialize, Serialize};

/// The API key pair, from [`Config::credentials`]. `Debug` shows neither.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// Sent in the `X-MBX-APIKEY` header.
    pub api_key: Secret,
    /// Signs requests (HMAC-SHA256); never sent.
    pub api_secret: Secret,
}

/// A secret string (API key or secret). `Debug` and `Serialize` never show it.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Call only where it is sent or used for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}
