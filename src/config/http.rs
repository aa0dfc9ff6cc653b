//! `[http]`: the optional HTTP server (REST API, `/health`, `/metrics`, `/chart`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, SecretSource, non_empty_path};
use crate::domain::Secret;

/// `[http]`: off unless `listen` is set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The address to listen on (`"127.0.0.1:8787"`); absent: no HTTP server.
    pub listen: Option<SocketAddr>,
    /// The bearer token; prefer env `TRADEBEAT_HTTP__TOKEN` or `token_file`.
    pub token: Option<Secret>,
    /// A file holding the bearer token (systemd `LoadCredential=`), read like the api key
    /// files: a regular file of at most 4 KiB, surrounding whitespace trimmed.
    pub token_file: Option<PathBuf>,
    /// Serve without a token. Allowed only on a loopback address.
    pub allow_no_token: bool,
    /// `GET /chart` needs the token too.
    pub chart_requires_token: bool,
    /// `GET /metrics` needs the token too.
    pub metrics_requires_token: bool,
    /// Origins allowed by CORS (`["https://n8n.example.com"]`); empty (default): no CORS
    /// headers at all.
    pub cors_origins: Vec<String>,
    /// Time a request may take, body included, before it is answered 408, ms (> 0).
    /// Default 30000.
    pub request_timeout_ms: u64,
    /// Requests served at once; beyond it, requests wait for a slot (> 0). Default 64.
    pub max_concurrent_requests: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: None,
            token: None,
            token_file: None,
            allow_no_token: false,
            chart_requires_token: false,
            metrics_requires_token: false,
            cors_origins: Vec::new(),
            request_timeout_ms: 30_000,
            max_concurrent_requests: 64,
        }
    }
}

impl HttpConfig {
    /// Checks the limits, the token's sources and that a server without a token listens
    /// on a loopback address with `allow_no_token = true`. Reads no file.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.request_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "http.request_timeout_ms",
                "must be at least 1 (ms)",
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err(ConfigError::invalid(
                "http.max_concurrent_requests",
                "must be at least 1",
            ));
        }
        for origin in &self.cors_origins {
            let ok = url::Url::parse(origin)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .unwrap_or(false);
            if !ok {
                return Err(ConfigError::invalid(
                    "http.cors_origins",
                    format!("{origin:?} is not an origin such as \"https://host:port\""),
                ));
            }
        }
        let has_token = self.token_source()?.is_some();
        if let Some(listen) = self.listen
            && !has_token
        {
            if !listen.ip().is_loopback() {
                return Err(ConfigError::invalid(
                    "http.listen",
                    format!(
                        "{listen} is not a loopback address: set http.token_file (or env \
                         TRADEBEAT_HTTP__TOKEN) so that only holders of the token get in"
                    ),
                ));
            }
            if !self.allow_no_token {
                return Err(ConfigError::invalid(
                    "http.token_file",
                    "missing: set http.token_file (or env TRADEBEAT_HTTP__TOKEN), or \
                     allow_no_token = true to serve this loopback address without a token",
                ));
            }
        }
        Ok(())
    }

    fn token_source(&self) -> Result<Option<SecretSource<'_>>, ConfigError> {
        match (&self.token, &self.token_file) {
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                "http.token",
                "set either token or token_file, not both",
            )),
            (Some(token), None) if token.expose().trim().is_empty() => {
                Err(ConfigError::invalid("http.token", "is empty"))
            }
            (Some(token), None) => Ok(Some(SecretSource::Value(token))),
            (None, Some(path)) => {
                non_empty_path("http.token_file", path)?;
                Ok(Some(SecretSource::File(path)))
            }
            (None, None) => Ok(None),
        }
    }

    /// The bearer token, read from `token` or from `token_file`; `None` when neither is
    /// set (or when no server is configured).
    ///
    /// # Errors
    /// The file cannot be read, is not a regular file, is larger than 4 KiB or empty, or
    /// the token is not printable ASCII. Errors name the file, never its content.
    pub fn token(&self) -> Result<Option<Secret>, ConfigError> {
        if self.listen.is_none() {
            return Ok(None);
        }
        let Some(source) = self.token_source()? else {
            return Ok(None);
        };
        let token = source.read("http.token_file")?;
        if !token.expose().bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "http.token",
                "the token must be printable ascii without spaces (the value is not shown)",
            ));
        }
        Ok(Some(token))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::{Config, from_sources};
    use super::*;

    const TOKEN: &str = "T0KEN-never-shown-42";

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        from_sources(Some((Path::new("test.toml"), toml)), env.iter().copied())
    }

    #[test]
    fn a_non_loopback_listen_needs_a_token() {
        let e = load(
            "[http]\nlisten = \"0.0.0.0:8787\"\nallow_no_token = true",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`http.listen`") && e.contains("not a loopback"),
            "{e}"
        );
        let e = load("[http]\nlisten = \"127.0.0.1:8787\"", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("allow_no_token"), "{e}");
        load(
            "[http]\nlisten = \"127.0.0.1:8787\"\nallow_no_token = true",
            &[],
        )
        .unwrap();
        let c = load(
            "[http]\nlisten = \"0.0.0.0:8787\"",
            &[("TRADEBEAT_HTTP__TOKEN", TOKEN)],
        )
        .unwrap();
        assert_eq!(c.http.token().unwrap().unwrap().expose(), TOKEN);
        // No listen: no server, no token needed.
        assert!(load("", &[]).unwrap().http.listen.is_none());
        let e = load("[http]\nrequest_timeout_ms = 0", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`http.request_timeout_ms`"), "{e}");
        let e = load("[http]\ncors_origins = [\"not an origin\"]", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`http.cors_origins`"), "{e}");
    }

    #[test]
    fn the_token_is_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        let toml = format!(
            "[http]\nlisten = \"10.1.2.3:8787\"\ntoken_file = {:?}",
            file.display().to_string()
        );
        let c = load(&toml, &[]).unwrap();
        assert_eq!(c.http.token().unwrap().unwrap().expose(), TOKEN);
        assert!(!c.render_effective().contains(TOKEN));
        assert!(!format!("{c:?}").contains(TOKEN));
        let c = load(
            "[http]\nlisten = \"10.1.2.3:8787\"",
            &[("TRADEBEAT_HTTP__TOKEN", TOKEN)],
        )
        .unwrap();
        let shown = c.render_effective();
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        // Oversized and empty files are refused without showing their content.
        std::fs::write(&file, "x".repeat(5000)).unwrap();
        let e = load(&toml, &[])
            .unwrap()
            .http
            .token()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`http.token_file`") && e.contains("larger than"),
            "{e}"
        );
        std::fs::write(&file, "  \n").unwrap();
        let e = load(&toml, &[])
            .unwrap()
            .http
            .token()
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty"), "{e}");
        let e = load(
            "[http]\nlisten = \"10.1.2.3:8787\"\ntoken = \"a\"\ntoken_file = \"f\"",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not both"), "{e}");
    }
}
