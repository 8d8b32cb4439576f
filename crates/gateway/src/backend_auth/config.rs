//! `[api.endpoint_security]`, `[oauth]` and `[redis]` configuration (docs/CONFIG.md), and its
//! validation: [`check_endpoint_security`], [`check_oauth`] and [`check_redis`] return
//! `(key, message)` pairs that the config loader turns into `E0402` diagnostics at that key.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// `[api.endpoint_security]` of one API.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSecurity {
    /// Only `"oauth2"`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `"client_credentials"` or `"password"`.
    pub grant_type: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Name of an environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// `"basic"` (default, `client_secret_basic`) or `"body"` (`client_secret_post`).
    pub client_auth: Option<String>,
    /// Extra token-request parameters (`audience`, `resource`, …).
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

impl std::fmt::Debug for EndpointSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "…");
        f.debug_struct("EndpointSecurity")
            .field("ty", &self.ty)
            .field("grant_type", &self.grant_type)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_secret_env", &self.client_secret_env)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("password_env", &self.password_env)
            .field("scope", &self.scope)
            .field("client_auth", &self.client_auth)
            .field("parameters", &self.parameters)
            .finish()
    }
}

/// `[oauth]`: behaviour of endpoint security for every API.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// After a backend 401, fetch a new token and replay the request once (default true).
    /// false: proactive refresh only, the 401 reaches the client.
    pub retry_on_401: Option<bool>,
    /// Token lifetime in seconds when a response has no `expires_in` (default 3600).
    pub default_expires_in: Option<u64>,
    /// PEM bundle of the CAs trusted for token endpoints (replaces the built-in roots for
    /// token endpoint connections only).
    pub trust_store: Option<String>,
    /// Largest request body buffered for a replay after a backend 401 (bytes, default 1 MiB).
    pub replay_max_body: Option<usize>,
    /// Safety margin before expiry in seconds (default 30; at most a quarter of the lifetime).
    pub skew: Option<u64>,
    /// Timeout of one token request in seconds (default 10).
    pub token_timeout: Option<f64>,
    /// How long a request waits for a token when none is cached, in seconds (default 10).
    pub wait_timeout: Option<f64>,
    /// Methods replayed after a backend 401 (default: every method; a 401 means the backend
    /// refused the token before acting). When set, other methods are replayed only when the
    /// request carries an `Idempotency-Key` header.
    pub replay_methods: Option<Vec<String>>,
}

/// `[redis]`: shared token cache (and shared authorization-server store).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db` or `rediss://` for TLS.
    pub url: String,
    /// Namespace of every key (default `synaptic`).
    pub key_prefix: Option<String>,
    /// Base64 of 32 bytes: the key sealing tokens at rest (ChaCha20-Poly1305). Without it a key
    /// is derived per cache entry from the credentials (docs/adr/0101-token-store-crypto.md).
    pub key: Option<String>,
    /// Name of an environment variable holding `key`.
    pub key_env: Option<String>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("key_env", &self.key_env)
            .finish()
    }
}

/// A Redis URL with any password replaced by `…` (for logs).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("…"));
            }
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

/// Default of `[oauth] replay_max_body`.
pub const DEFAULT_REPLAY_MAX_BODY: usize = 1024 * 1024;

// === impl OAuthSettings ===

impl OAuthSettings {
    pub fn retry_on_401(&self) -> bool {
        self.retry_on_401.unwrap_or(true)
    }
    /// Largest body the core buffers to replay a request after a backend 401.
    pub fn replay_max_body(&self) -> usize {
        self.replay_max_body.unwrap_or(DEFAULT_REPLAY_MAX_BODY)
    }
    pub fn default_expires_in(&self) -> Duration {
        Duration::from_secs(self.default_expires_in.unwrap_or(3600).max(1))
    }
    pub fn skew(&self) -> Duration {
        Duration::from_secs(self.skew.unwrap_or(30))
    }
    pub fn token_timeout(&self) -> Duration {
        secs(self.token_timeout).unwrap_or(Duration::from_secs(10))
    }
    pub fn wait_timeout(&self) -> Duration {
        secs(self.wait_timeout).unwrap_or(Duration::from_secs(10))
    }
}

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

// === validation ===

/// Problems of one `[api.endpoint_security]`, as `(key, message)`.
pub fn check_endpoint_security(es: &EndpointSecurity) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !es.ty.eq_ignore_ascii_case("oauth2") {
        out.push((
            "type",
            format!(
                "unknown endpoint security type {:?} (expected \"oauth2\")",
                es.ty
            ),
        ));
    }
    let password_grant = match es.grant_type.as_str() {
        "client_credentials" => false,
        "password" => true,
        other => {
            out.push((
                "grant_type",
                format!("unknown grant_type {other:?} (expected \"client_credentials\" or \"password\")"),
            ));
            false
        }
    };
    match url::Url::parse(&es.token_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => out.push((
            "token_url",
            format!("token_url {:?} is not an http(s) URL", es.token_url),
        )),
    }
    if es.client_id.is_empty() {
        out.push(("client_id", "client_id must not be empty".into()));
    }
    match (&es.client_secret, &es.client_secret_env) {
        (None, None) => out.push((
            "client_id",
            "endpoint security needs client_secret or client_secret_env".into(),
        )),
        (Some(_), Some(_)) => out.push((
            "client_secret_env",
            "set either client_secret or client_secret_env, not both".into(),
        )),
        (None, Some(var)) if var.is_empty() => out.push((
            "client_secret_env",
            "client_secret_env must name a variable".into(),
        )),
        _ => {}
    }
    if password_grant {
        if es.username.as_deref().is_none_or(str::is_empty) {
            out.push(("grant_type", "the password grant needs username".into()));
        }
        match (&es.password, &es.password_env) {
            (None, None) => out.push((
                "grant_type",
                "the password grant needs password or password_env".into(),
            )),
            (Some(_), Some(_)) => out.push((
                "password_env",
                "set either password or password_env, not both".into(),
            )),
            _ => {}
        }
    } else if es.username.is_some() || es.password.is_some() || es.password_env.is_some() {
        out.push((
            "grant_type",
            "username and password are only used by grant_type = \"password\"".into(),
        ));
    }
    if let Some(a) = &es.client_auth {
        if !matches!(a.as_str(), "basic" | "body") {
            out.push((
                "client_auth",
                format!("unknown client_auth {a:?} (expected \"basic\" or \"body\")"),
            ));
        }
    }
    for k in es.parameters.keys() {
        if synaptic_oauth::client::spec::is_reserved_param(k) || k == "scope" {
            out.push((
                "parameters",
                format!("parameter {k:?} is set by the gateway; use the dedicated key"),
            ));
        }
    }
    out
}

/// Problems of `[oauth]`, as `(key, message)`.
pub fn check_oauth(o: &OAuthSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if o.default_expires_in == Some(0) {
        out.push((
            "default_expires_in",
            "default_expires_in must be at least 1 second".into(),
        ));
    }
    for m in o.replay_methods.iter().flatten() {
        if http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err() {
            out.push(("replay_methods", format!("invalid HTTP method {m:?}")));
        }
    }
    for (k, v) in [
        ("token_timeout", o.token_timeout),
        ("wait_timeout", o.wait_timeout),
    ] {
        if v.is_some() && secs(v).is_none() {
            out.push((k, format!("{k} must be a positive number of seconds")));
        }
    }
    out
}

/// Problems of `[redis]`, as `(key, message)`.
pub fn check_redis(r: &RedisSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match url::Url::parse(&r.url) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {}
        _ => out.push((
            "url",
            format!("{} is not a redis:// URL", redact_url(&r.url)),
        )),
    }
    if let Some(p) = &r.key_prefix {
        if p.is_empty() || p.contains(char::is_whitespace) {
            out.push((
                "key_prefix",
                "key_prefix must be non-empty without spaces".into(),
            ));
        }
    }
    if r.key.is_some() && r.key_env.is_some() {
        out.push(("key_env", "set either key or key_env, not both".into()));
    }
    if let Some(k) = &r.key {
        if super::seal::parse_key(k).is_none() {
            out.push(("key", "key must be base64 of exactly 32 bytes".into()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(toml_text: &str) -> EndpointSecurity {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn valid_client_credentials_has_no_problems() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "client_credentials"
            token_url = "https://idp.example/token"
            client_id = "id"
            client_secret_env = "SECRET"
            client_auth = "body"
            parameters = { audience = "orders" }
        "#);
        assert!(check_endpoint_security(&e).is_empty());
    }

    #[test]
    fn clear_errors_for_common_mistakes() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "password"
            token_url = "idp/token"
            client_id = "id"
            username = "alice"
        "#);
        let msgs: Vec<String> = check_endpoint_security(&e)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("client_secret or client_secret_env")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("password or password_env")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("not an http(s) URL")),
            "{msgs:?}"
        );

        let e = es(r#"
            type = "oauth2"
            grant_type = "implicit"
            token_url = "http://x/t"
            client_id = "id"
            client_secret = "s"
            client_auth = "jwt"
        "#);
        let keys: Vec<&str> = check_endpoint_security(&e)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["grant_type", "client_auth"]);
    }

    #[test]
    fn config_loader_reports_problems_at_their_keys() {
        let text = r#"
[[api]]
name = "a"
context = "/a"
endpoint = "http://127.0.0.1:9/"

[api.endpoint_security]
type = "oauth2"
grant_type = "saml"
token_url = "http://idp/token"
client_id = "id"

[redis]
url = "http://not-redis"
"#;
        let diags = crate::config::from_str(
            synaptic_diag::SourceId(0),
            text,
            std::path::PathBuf::from("."),
        )
        .unwrap_err();
        let at = |needle: &str| {
            diags
                .iter()
                .find(|d| d.message.contains(needle))
                .map(|d| &text[d.primary_span().range()])
                .unwrap_or_else(|| panic!("no diagnostic with {needle:?}: {diags:?}"))
        };
        assert_eq!(at("unknown grant_type"), "\"saml\"");
        assert_eq!(at("client_secret or client_secret_env"), "\"id\"");
        assert_eq!(at("not a redis:// URL"), "\"http://not-redis\"");
    }

    #[test]
    fn debug_hides_secrets() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "password"
            token_url = "http://x/t"
            client_id = "id"
            client_secret = "topsecret"
            username = "u"
            password = "pw-secret"
        "#);
        let d = format!("{e:?}");
        assert!(!d.contains("topsecret") && !d.contains("pw-secret"), "{d}");
        let r = RedisSettings {
            url: "redis://user:hunter2@127.0.0.1:6379/0".into(),
            key_prefix: None,
            key: Some("k".into()),
            key_env: None,
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
