//! `[api.endpoint_security]`, `[oauth]` and `[redis]` configuration.

use serde::Deserialize;

/// `[api.endpoint_security]` of one API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSecurity {
    #[serde(rename = "type")]
    pub ty: String,
    pub grant_type: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub scope: Option<String>,
    pub client_auth: Option<String>,
    #[serde(default)]
    pub parameters: std::collections::BTreeMap<String, String>,
}

/// `[oauth]`: behaviour of endpoint security for every API.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    pub retry_on_401: Option<bool>,
    pub default_expires_in: Option<u64>,
    pub trust_store: Option<String>,
    /// Largest request body buffered for a replay after a backend 401 (bytes).
    pub replay_max_body: Option<usize>,
}

/// `[redis]`: shared token cache (and shared authorization-server store).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: Option<String>,
}
