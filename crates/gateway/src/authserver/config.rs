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
