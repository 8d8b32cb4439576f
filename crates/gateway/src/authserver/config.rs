//! `[auth_server]` configuration (docs/CONFIG.md, docs/AUTHSERVER.md).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthServerConfig {
    #[serde(default)]
    pub enabled: bool,
    /// SQLite database, relative to the config file's folder (default `data/auth.db`).
    pub store: Option<String>,
    /// `issuer` of the RFC 8414 metadata and introspection answers; default
    /// `http://<listen address>` (never the request's `Host`).
    pub issuer: Option<String>,
    /// Seconds between runs of the expired-token removal job (default 3600; 0 = off).
    pub purge_interval: Option<u64>,
    /// Authorization-code lifetime in seconds (default and maximum 600).
    pub code_lifetime: Option<i64>,
    /// Refresh-token lifetime in seconds (default 14 days; -1 = never expires).
    pub refresh_token_lifetime: Option<i64>,
    /// Failed password logins of one user before a lockout (default 5).
    pub max_login_failures: Option<u32>,
    /// Lockout duration in seconds (default 900).
    pub lockout_seconds: Option<i64>,
    /// Password and client-secret hashes (argon2, 19 MiB each) that may run at once
    /// (default 2).
    pub hash_concurrency: Option<usize>,
    /// Requests that may wait for a hash slot; more are answered `503` with `Retry-After`
    /// (default 32).
    pub hash_queue: Option<usize>,
    /// Longest wait for a hash slot in seconds before `503` (default 5).
    pub hash_wait: Option<f64>,
    /// Name of the environment variable holding the admin token of
    /// `POST /oauth2/admin/purge` (loopback only). No token: the endpoint is off.
    pub admin_token_env: Option<String>,
    /// Approval page template (HTML with `{{form}}` and optional `{{title}}`, `{{heading}}`,
    /// `{{logo}}`, `{{footer}}`, `{{client_name}}` slots), relative to the config folder.
    pub approval_template: Option<String>,
    pub approval_title: Option<String>,
    pub approval_heading: Option<String>,
    /// URL of a logo image.
    pub approval_logo: Option<String>,
    pub approval_footer: Option<String>,
    /// `opaque` (default) or `jwt` (RFC 9068, validated with the published keys).
    pub access_token_format: Option<String>,
    /// Algorithm of the generated signing keys: `ES256` (default), `RS256`, `PS256`, `EdDSA`.
    pub signing_algorithm: Option<String>,
    /// Days a signing key signs before a new one replaces it (default 30).
    pub key_rotation_days: Option<f64>,
    /// `aud` of JWT access tokens issued without a resource indicator (default: the issuer).
    pub default_audience: Option<String>,
    /// Seconds between reads of the revocation list from the store (default 1).
    pub revocation_sync: Option<f64>,
    /// Seconds a DPoP proof is accepted before or after its `iat` (default 60).
    pub dpop_window: Option<u32>,
    /// JWT access tokens kept validated at once, so a token presented again skips the
    /// signature check (default 10000; 0 = no cache).
    pub jwt_cache_entries: Option<usize>,
    /// Require DPoP proofs to carry a nonce the server provides (`DPoP-Nonce`), at the token
    /// endpoint and at secured APIs (default false).
    #[serde(default)]
    pub dpop_nonce: bool,
    /// Allow the implicit and password grants for clients that list them (default false).
    #[serde(default)]
    pub legacy_grants: bool,
    /// Issuers whose JWT access tokens secured APIs accept.
    #[serde(default)]
    pub trusted_issuer: Vec<TrustedIssuerConfig>,
    /// `Strict-Transport-Security: max-age=…` on the authorization server's pages and
    /// endpoints answered over HTTPS, in seconds (default one year, 31536000; 0 = no header).
    pub hsts_max_age: Option<u64>,
    /// With both listeners running, a plain-HTTP request to the authorization server's
    /// endpoints is redirected to the HTTPS listener (`301`; `308` for methods other than
    /// `GET`/`HEAD`) instead of being answered (default true).
    pub https_redirect: Option<bool>,
    #[serde(default)]
    pub scope: Vec<ScopeConfig>,
    #[serde(default)]
    pub client: Vec<ClientConfig>,
    #[serde(default)]
    pub user: Vec<UserConfig>,
}

/// `[[auth_server.trusted_issuer]]`: another authorization server (another synaptic, any
/// OpenID Connect provider) whose JWT access tokens are accepted.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The exact `iss` of its tokens.
    pub issuer: String,
    /// Where its keys are published (RFC 7517 JWK Set).
    pub jwks_uri: String,
    /// The `aud` its tokens must carry (default: the issuer).
    pub audience: Option<String>,
    /// Seconds to wait for the key set (default 5).
    pub timeout: Option<f64>,
    /// Least seconds between two fetches of the key set, for unknown `kid`s (default 10).
    pub min_refetch: Option<f64>,
    /// Seconds a fetched key set is used before it is fetched again (default 3600).
    pub cache_seconds: Option<f64>,
}

/// The default `hsts_max_age`: one year.
pub const DEFAULT_HSTS_MAX_AGE: u64 = 365 * 24 * 3600;

impl AuthServerConfig {
    /// The `Strict-Transport-Security` value for answers over HTTPS (`None`: no header).
    pub fn hsts(&self) -> Option<http::HeaderValue> {
        match self.hsts_max_age.unwrap_or(DEFAULT_HSTS_MAX_AGE) {
            0 => None,
            n => http::HeaderValue::from_str(&format!("max-age={n}")).ok(),
        }
    }
    /// Whether plain-HTTP requests are redirected to the HTTPS listener (when it runs).
    pub fn redirects_to_https(&self) -> bool {
        self.https_redirect.unwrap_or(true)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    pub name: Option<String>,
    /// Plain secret (hashed with argon2id before it is stored).
    pub secret: Option<String>,
    /// Environment variable holding the secret.
    pub secret_env: Option<String>,
    /// argon2 PHC string (`synaptic users hash` prints one).
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Seconds; -1 = never expires (default 3600).
    pub token_lifetime: Option<i64>,
    /// 0 = no refresh token (default); N = at most N refreshes.
    pub refresh_limit: Option<u32>,
    /// May introspect tokens of every client (resource servers).
    #[serde(default)]
    pub introspect_any: bool,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret", &self.secret.as_ref().map(|_| "…"))
            .field("secret_env", &self.secret_env)
            .field("grants", &self.grants)
            .field("redirect_uris", &self.redirect_uris)
            .field("scopes", &self.scopes)
            .field("token_lifetime", &self.token_lifetime)
            .field("refresh_limit", &self.refresh_limit)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_hash: String,
}

/// Configuration mistakes of `[auth_server]` that `serve --check` reports with their place.
pub(crate) fn validate(
    config: &crate::config::Config,
    err: &mut dyn FnMut(&[crate::config::At<'_>], String),
) {
    use crate::config::At;
    let Some(ac) = &config.auth_server else {
        return;
    };
    let at = |k: &'static str| [At::Key("auth_server"), At::Key(k)];
    match ac.access_token_format.as_deref() {
        None | Some("opaque") | Some("jwt") => {}
        Some(f) => err(
            &at("access_token_format"),
            format!("unknown access_token_format {f:?} (expected \"opaque\" or \"jwt\")"),
        ),
    }
    if let Some(a) = &ac.signing_algorithm {
        if synaptic_oauth::server::jwt::SigningAlg::parse(a).is_none() {
            err(
                &at("signing_algorithm"),
                format!(
                    "unsupported signing_algorithm {a:?} (expected {})",
                    synaptic_oauth::server::jwt::SigningAlg::NAMES
                ),
            );
        }
    }
    if let Some(d) = ac.key_rotation_days {
        if !(d.is_finite() && d > 0.0 && d <= 3650.0) {
            err(
                &at("key_rotation_days"),
                "key_rotation_days must be a positive number of days (at most 3650)".into(),
            );
        }
    }
    if let Some(s) = ac.revocation_sync {
        if crate::config::secs(s).is_none() {
            err(
                &at("revocation_sync"),
                "revocation_sync must be a positive number of seconds".into(),
            );
        }
    }
    if ac.dpop_window.is_some_and(|w| w == 0 || w > 3600) {
        err(
            &at("dpop_window"),
            "dpop_window must be between 1 and 3600 seconds".into(),
        );
    }
    let jwt = ac.access_token_format.as_deref() == Some("jwt");
    for (i, c) in ac.client.iter().enumerate() {
        let cat = |k: &'static str| {
            [
                At::Key("auth_server"),
                At::Key("client"),
                At::Index(i),
                At::Key(k),
            ]
        };
        let legacy: Vec<&str> = c
            .grants
            .iter()
            .map(String::as_str)
            .filter(|g| matches!(*g, "password" | "implicit"))
            .collect();
        if !legacy.is_empty() && !ac.legacy_grants {
            err(
                &cat("grants"),
                format!(
                    "client {:?} lists the {} grant, which OAuth 2.1 removed: set `[auth_server] legacy_grants = true` to allow it",
                    c.id,
                    legacy.join(" and ")
                ),
            );
        }
        if jwt {
            let l = c.token_lifetime.unwrap_or(3600);
            if l == -1 || l > synaptic_oauth::server::jwt::MAX_JWT_LIFETIME {
                err(
                    &cat("token_lifetime"),
                    format!(
                        "client {:?}: JWT access tokens must expire within 30 days (token_lifetime at most 2592000)",
                        c.id
                    ),
                );
            }
        }
    }
    for (i, t) in ac.trusted_issuer.iter().enumerate() {
        let tat = |k: &'static str| {
            [
                At::Key("auth_server"),
                At::Key("trusted_issuer"),
                At::Index(i),
                At::Key(k),
            ]
        };
        if url::Url::parse(&t.issuer).is_err() {
            err(
                &tat("issuer"),
                format!("issuer {:?} is not a URL", t.issuer),
            );
        }
        match url::Url::parse(&t.jwks_uri) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => err(
                &tat("jwks_uri"),
                format!("jwks_uri {:?} is not an http(s) URL", t.jwks_uri),
            ),
        }
        for (k, v) in [
            ("timeout", t.timeout),
            ("min_refetch", t.min_refetch),
            ("cache_seconds", t.cache_seconds),
        ] {
            if v.is_some_and(|v| crate::config::secs(v).is_none()) {
                err(&tat(k), format!("{k} must be a positive number of seconds"));
            }
        }
    }
}
