//! `[auth_server]` configuration.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthServerConfig {
    #[serde(default)]
    pub enabled: bool,
    pub store: Option<String>,
    #[serde(default)]
    pub scope: Vec<ScopeConfig>,
    #[serde(default)]
    pub client: Vec<ClientConfig>,
    #[serde(default)]
    pub user: Vec<UserConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub id: String,
    pub name: Option<String>,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    #[serde(default)]
    pub grants: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub token_lifetime: Option<i64>,
    pub refresh_limit: Option<u32>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_hash: String,
}
