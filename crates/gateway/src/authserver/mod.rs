//! The gateway as an OAuth2 authorization server for its own APIs (docs/AUTHSERVER.md).
//!
//! `synaptic_oauth::server` holds the protocol logic; this module adds the SQLite store, the
//! HTTP endpoints ([`http::Endpoints`], a [`LocalService`]), enforcement on
//! `security = "oauth2"` APIs ([`inbound::Enforcer`], an [`InboundAuth`]), the periodic purge
//! job and the sync of `[auth_server]` clients and users into the store.

pub mod config;
pub mod http;
pub mod inbound;
pub mod page;
pub mod pending;
pub mod redis;
pub mod sqlite;
pub mod transport;
pub mod trusted;

use crate::config::Config;
use crate::hooks::{InboundAuth, LocalService};
use config::{AuthServerConfig, ClientConfig};
use sqlite::{SqliteStore, SOURCE_CONFIG};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use synaptic_oauth::server::gate::GateLimits;
use synaptic_oauth::server::jwt::{IssuerCell, SigningAlg, TokenFormat};
use synaptic_oauth::server::secret::{hash_password, is_valid_stored_hash, verify_secret};
use synaptic_oauth::server::{
    AuthServer, Client, GrantType, ScopeDef, Secret, Settings, Store, StoreError, SystemClock, User,
};
use trusted::TrustedIssuer;

/// Default store, relative to the config file's folder.
pub const DEFAULT_STORE: &str = "data/auth.db";

/// Why the authorization server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AuthServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("[auth_server] {0}")]
    Config(String),
    #[error("cannot read the approval template {path}")]
    Template {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    BadTemplate(#[from] page::TemplateError),
    #[error("[auth_server] signing keys: {0}")]
    Keys(String),
}

/// What administration needs beyond [`Store`]: where clients and users came from (the file or
/// the CLI) and revocation by token id. Implemented by the SQLite and the Redis store.
#[async_trait::async_trait]
pub trait AdminStore: Store {
    async fn put_client_from(&self, client: &Client, source: &str) -> Result<(), StoreError>;
    async fn client_ids_from(&self, source: &str) -> Result<Vec<String>, StoreError>;
    async fn put_user_from(&self, user: &User, source: &str) -> Result<(), StoreError>;
    async fn user_names_from(&self, source: &str) -> Result<Vec<String>, StoreError>;
    /// Revoke the grants of the tokens whose hash starts with `prefix` (≥ 8 hex digits).
    async fn revoke_prefix(&self, prefix: &str, now: i64) -> Result<u64, StoreError>;
    fn into_store(self: Arc<Self>) -> Arc<dyn Store>;
}

#[async_trait::async_trait]
impl AdminStore for SqliteStore {
    async fn put_client_from(&self, client: &Client, source: &str) -> Result<(), StoreError> {
        self.put_client(client, source)
    }
    async fn client_ids_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        SqliteStore::client_ids_from(self, source)
    }
    async fn put_user_from(&self, user: &User, source: &str) -> Result<(), StoreError> {
        self.put_user(user, source)
    }
    async fn user_names_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        SqliteStore::user_names_from(self, source)
    }
    async fn revoke_prefix(&self, prefix: &str, now: i64) -> Result<u64, StoreError> {
        SqliteStore::revoke_prefix(self, prefix, now)
    }
    fn into_store(self: Arc<Self>) -> Arc<dyn Store> {
        self
    }
}

/// Counters of the authorization server on `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct AuthMetrics {
    registry: crate::metrics::Registry,
    pub inbound_allowed: crate::metrics::Counter,
    pub inbound_missing: crate::metrics::Counter,
    pub inbound_invalid: crate::metrics::Counter,
    pub inbound_scope: crate::metrics::Counter,
    /// This server's JWT access tokens taken from the validated-token cache, or verified.
    pub jwt_cache_hit: crate::metrics::Counter,
    pub jwt_cache_miss: crate::metrics::Counter,
}

const INBOUND: &str = "synaptic_authserver_inbound_total";
const INBOUND_HELP: &str = "Requests to oauth2-secured APIs by outcome";
const JWT_CACHE: &str = "synaptic_authserver_jwt_cache_total";
const JWT_CACHE_HELP: &str =
    "This server's JWT access tokens found in the validated-token cache (hit) or verified (miss)";

impl AuthMetrics {
    pub fn new(registry: &crate::metrics::Registry) -> AuthMetrics {
        let c = |result: &str| registry.counter(INBOUND, INBOUND_HELP, &[("result", result)]);
        AuthMetrics {
            registry: registry.clone(),
            inbound_allowed: c("allowed"),
            inbound_missing: c("missing_credentials"),
            inbound_invalid: c("invalid_token"),
            inbound_scope: c("insufficient_scope"),
            jwt_cache_hit: registry.counter(JWT_CACHE, JWT_CACHE_HELP, &[("result", "hit")]),
            jwt_cache_miss: registry.counter(JWT_CACHE, JWT_CACHE_HELP, &[("result", "miss")]),
        }
    }

    /// A token-endpoint answer: `outcome` is `issued` or an RFC 6749 error code.
    pub fn token(&self, grant: &str, outcome: &str) {
        let grant = match GrantType::parse(grant) {
            Some(g) => g.as_str(),
            None => "other",
        };
        self.registry
            .counter(
                "synaptic_authserver_token_requests_total",
                "Token endpoint requests by grant type and outcome",
                &[("grant_type", grant), ("outcome", outcome)],
            )
            .inc();
    }
}

/// Everything the gateway core needs, plus the server itself (tests, CLI).
#[derive(Debug, Clone)]
pub struct Parts {
    pub server: Arc<AuthServer>,
    pub inbound: Arc<dyn InboundAuth>,
    pub endpoints: Arc<http::Endpoints>,
}

/// Build the authorization server of `config`: `(None, [])` when `[auth_server]` is off.
/// Called by the gateway core at startup and on reload. Opens the store, syncs configured
/// clients and users into it, and (inside a tokio runtime) starts the purge job.
pub async fn build(
    config: &Config,
    metrics: &crate::metrics::Registry,
) -> Result<(Option<Arc<dyn InboundAuth>>, Vec<Arc<dyn LocalService>>), AuthServerError> {
    let metrics = AuthMetrics::new(metrics);
    match build_parts_with(config, metrics.clone()).await? {
        None => {
            // `enabled = false`: only trusted issuers' tokens
            let trusted = trusted_issuers(config)?;
            if trusted.is_empty() {
                return Ok((None, Vec::new()));
            }
            let inbound: Arc<dyn InboundAuth> = Arc::new(
                inbound::Enforcer::new(None, trusted, &config.api, metrics)
                    .with_shared_replay(shared_replay(config)?),
            );
            Ok((Some(inbound), Vec::new()))
        }
        Some(p) => {
            let svc: Arc<dyn LocalService> = p.endpoints;
            Ok((Some(p.inbound), vec![svc]))
        }
    }
}

/// Like [`build`], returning the parts.
pub async fn build_parts(config: &Config) -> Result<Option<Parts>, AuthServerError> {
    build_parts_with(config, AuthMetrics::default()).await
}

async fn build_parts_with(
    config: &Config,
    metrics: AuthMetrics,
) -> Result<Option<Parts>, AuthServerError> {
    let Some(ac) = config.auth_server.as_ref().filter(|a| a.enabled) else {
        return Ok(None);
    };
    let store = open_store(config)?;
    sync_config(store.as_ref(), ac).await?;
    let server = Arc::new(AuthServer::new(
        store.into_store(),
        Arc::new(SystemClock),
        settings(config, ac),
    ));
    server
        .load_keys()
        .await
        .map_err(|e| AuthServerError::Keys(e.to_string()))?;
    let page = page_settings(config, ac)?;
    let admin_token = match &ac.admin_token_env {
        Some(var) => std::env::var(var)
            .ok()
            .filter(|v| v.len() >= 16)
            .map(Secret::new),
        None => None,
    };
    if ac.admin_token_env.is_some() && admin_token.is_none() {
        tracing::warn!("admin purge endpoint disabled: the admin token variable is unset or shorter than 16 characters");
    }
    let endpoints = Arc::new(http::Endpoints::new(
        server.clone(),
        page,
        admin_token,
        metrics.clone(),
        protected_resources(config),
    ));
    let inbound: Arc<dyn InboundAuth> = Arc::new(
        inbound::Enforcer::new(
            Some(server.clone()),
            trusted_issuers(config)?,
            &config.api,
            metrics,
        )
        .with_shared_replay(shared_replay(config)?),
    );
    spawn_purge(&server, ac.purge_interval.unwrap_or(3600));
    if server.settings().token_format == TokenFormat::Jwt {
        let every = ac
            .revocation_sync
            .and_then(crate::config::secs)
            .unwrap_or(std::time::Duration::from_secs(1));
        spawn_revocation_sync(&server, every);
    }
    Ok(Some(Parts {
        server,
        inbound,
        endpoints,
    }))
}

/// The store file of a configuration.
pub fn store_path(config: &Config) -> PathBuf {
    let p = config
        .auth_server
        .as_ref()
        .and_then(|a| a.store.as_deref())
        .unwrap_or(DEFAULT_STORE);
    config.resolve_path(p)
}

/// Open the store of a configuration: Redis when `[redis]` is configured (shared by every
/// gateway using it), else the SQLite file of `[auth_server] store`.
pub fn open_store(config: &Config) -> Result<Arc<dyn AdminStore>, AuthServerError> {
    if let Some(r) = &config.redis {
        return Ok(Arc::new(redis::RedisStore::new(
            &r.url,
            r.key_prefix.as_deref(),
        )?));
    }
    Ok(Arc::new(SqliteStore::open(&store_path(config))?))
}

/// The secured APIs, for their RFC 9728 metadata.
fn protected_resources(config: &Config) -> Vec<http::ProtectedResource> {
    config
        .api
        .iter()
        .filter(|a| a.is_oauth2_secured())
        .map(|a| {
            let mut scopes: Vec<String> = Vec::new();
            for s in a.resource.iter().flat_map(|r| r.scopes.iter()) {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
            http::ProtectedResource {
                name: a.name.clone(),
                context: a.context.clone(),
                scopes,
            }
        })
        .collect()
}

/// The Redis that shares DPoP proof ids between gateways, when `[redis]` is configured.
fn shared_replay(config: &Config) -> Result<Option<Arc<redis::RedisStore>>, AuthServerError> {
    match &config.redis {
        Some(r) => Ok(Some(Arc::new(redis::RedisStore::new(
            &r.url,
            r.key_prefix.as_deref(),
        )?))),
        None => Ok(None),
    }
}

/// The trusted issuers of a configuration.
pub fn trusted_issuers(config: &Config) -> Result<Vec<Arc<TrustedIssuer>>, AuthServerError> {
    let Some(ac) = &config.auth_server else {
        return Ok(Vec::new());
    };
    ac.trusted_issuer
        .iter()
        .map(|t| {
            trusted::TrustedIssuer::new(t)
                .map(Arc::new)
                .map_err(AuthServerError::Config)
        })
        .collect()
}

fn settings(config: &Config, ac: &AuthServerConfig) -> Settings {
    let d = Settings::default();
    Settings {
        token_format: match ac.access_token_format.as_deref() {
            Some("jwt") => TokenFormat::Jwt,
            _ => TokenFormat::Opaque,
        },
        signing_alg: ac
            .signing_algorithm
            .as_deref()
            .and_then(SigningAlg::parse)
            .unwrap_or_default(),
        key_rotation_secs: ac
            .key_rotation_days
            .filter(|d| d.is_finite() && *d > 0.0)
            .map(|d| (d * 86_400.0).min(3650.0 * 86_400.0) as i64)
            .unwrap_or(d.key_rotation_secs)
            .max(1),
        default_audience: ac.default_audience.clone(),
        resources: config
            .api
            .iter()
            .filter(|a| a.is_oauth2_secured())
            .map(|a| a.context.clone())
            .collect(),
        issuer: Arc::new(IssuerCell::new(ac.issuer.clone())),
        legacy_grants: ac.legacy_grants,
        dpop_window: ac
            .dpop_window
            .map(i64::from)
            .unwrap_or(d.dpop_window)
            .clamp(1, 3600),
        dpop_replay_max: d.dpop_replay_max,
        jwt_cache_entries: ac.jwt_cache_entries.unwrap_or(d.jwt_cache_entries),
        dpop_nonce: ac.dpop_nonce,
        code_lifetime: ac.code_lifetime.unwrap_or(d.code_lifetime).clamp(1, 600),
        refresh_token_lifetime: ac
            .refresh_token_lifetime
            .unwrap_or(d.refresh_token_lifetime),
        max_login_failures: ac.max_login_failures.unwrap_or(d.max_login_failures).max(1),
        lockout_secs: ac.lockout_seconds.unwrap_or(d.lockout_secs).max(1),
        scopes: ac
            .scope
            .iter()
            .map(|s| ScopeDef {
                name: s.name.clone(),
                description: s.description.clone().unwrap_or_else(|| s.name.clone()),
            })
            .collect(),
        hashing: GateLimits {
            concurrency: ac.hash_concurrency.unwrap_or(d.hashing.concurrency).max(1),
            queue: ac.hash_queue.unwrap_or(d.hashing.queue),
            max_wait: ac
                .hash_wait
                .and_then(crate::config::secs)
                .unwrap_or(d.hashing.max_wait),
        },
    }
}

fn page_settings(
    config: &Config,
    ac: &AuthServerConfig,
) -> Result<page::PageSettings, AuthServerError> {
    let mut p = page::PageSettings::default();
    if let Some(t) = &ac.approval_template {
        let path = config.resolve_path(t);
        p.template =
            std::fs::read_to_string(&path).map_err(|source| AuthServerError::Template {
                path: path.display().to_string(),
                source,
            })?;
    }
    page::check_template(&p.template)?;
    if let Some(t) = &ac.approval_title {
        p.title = t.clone();
    }
    if let Some(t) = &ac.approval_heading {
        p.heading = t.clone();
    }
    if let Some(t) = &ac.approval_footer {
        p.footer = t.clone();
    }
    p.logo = ac.approval_logo.clone();
    Ok(p)
}

fn spawn_revocation_sync(server: &Arc<AuthServer>, every: std::time::Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<AuthServer> = Arc::downgrade(server);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(server) = weak.upgrade() else { break };
            if let Err(e) = server.sync_revocations().await {
                tracing::warn!(error = %e, "cannot read the revocation list");
            }
        }
    });
}

fn spawn_purge(server: &Arc<AuthServer>, interval: u64) {
    if interval == 0 {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<AuthServer> = Arc::downgrade(server);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(interval));
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(server) = weak.upgrade() else { break };
            match server.purge().await {
                Ok(n) => tracing::info!(removed = n, "expired and revoked tokens removed"),
                Err(e) => tracing::warn!(error = %e, "token purge failed"),
            }
        }
    });
}

/// Check a configured client and turn it into a store record. `existing` is the stored
/// client of the same id: its hash is kept when it still verifies the configured secret.
pub fn client_from_config(
    c: &ClientConfig,
    existing: Option<&Client>,
) -> Result<Client, AuthServerError> {
    let bad = |m: String| AuthServerError::Config(format!("client {:?}: {m}", c.id));
    if c.id.is_empty() || c.id.contains(':') || c.id.chars().any(char::is_control) {
        return Err(bad(
            "the id must be non-empty, without ':' or control characters".into(),
        ));
    }
    let mut grants = Vec::new();
    for g in &c.grants {
        grants.push(GrantType::parse(g).ok_or_else(|| bad(format!("unknown grant {g:?}")))?);
    }
    if grants.is_empty() {
        grants.push(GrantType::ClientCredentials);
    }
    let plain = match (&c.secret, &c.secret_env) {
        (Some(s), None) => Some(s.clone()),
        (None, Some(var)) => Some(
            std::env::var(var)
                .map_err(|_| bad(format!("environment variable {var} is not set")))?,
        ),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(bad("secret and secret_env are exclusive".into())),
    };
    let secret_hash = match (plain, &c.secret_hash) {
        (Some(_), Some(_)) => return Err(bad("secret and secret_hash are exclusive".into())),
        (Some(p), None) => {
            if p.is_empty() {
                return Err(bad("empty secret".into()));
            }
            match existing.and_then(|e| e.secret_hash.clone()) {
                Some(h) if verify_secret(&p, &h) => Some(h),
                _ => Some(hash_password(&p).map_err(|_| bad("cannot hash the secret".into()))?),
            }
        }
        (None, Some(h)) => {
            if !is_valid_stored_hash(h) {
                return Err(bad("secret_hash is not an argon2 PHC string".into()));
            }
            Some(h.clone())
        }
        (None, None) => None,
    };
    let public = secret_hash.is_none();
    if public
        && grants
            .iter()
            .any(|g| matches!(g, GrantType::ClientCredentials | GrantType::Password))
    {
        return Err(bad(
            "public clients (no secret) may not use client_credentials or password".into(),
        ));
    }
    let needs_redirect = grants
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::Implicit));
    if needs_redirect && c.redirect_uris.is_empty() {
        return Err(bad(
            "authorization_code and implicit need at least one redirect_uri".into(),
        ));
    }
    for u in &c.redirect_uris {
        let ok = url::Url::parse(u).is_ok_and(|p| p.fragment().is_none() && p.has_host());
        if !ok || u.trim() != u {
            return Err(bad(format!(
                "redirect_uri {u:?} must be an absolute URL without fragment"
            )));
        }
    }
    let token_lifetime = c.token_lifetime.unwrap_or(3600);
    if token_lifetime != -1 && token_lifetime <= 0 {
        return Err(bad(
            "token_lifetime must be -1 (never expires) or positive".into()
        ));
    }
    Ok(Client {
        id: c.id.clone(),
        name: c.name.clone().unwrap_or_else(|| c.id.clone()),
        secret_hash,
        grants,
        redirect_uris: c.redirect_uris.clone(),
        scopes: c.scopes.clone(),
        token_lifetime,
        refresh_limit: c.refresh_limit.unwrap_or(0),
        introspect_any: c.introspect_any,
    })
}

/// Write `[auth_server]` clients and users into the store; configured rows that left the file
/// are removed.
pub async fn sync_config(
    store: &dyn AdminStore,
    ac: &AuthServerConfig,
) -> Result<(), AuthServerError> {
    let mut ids = Vec::new();
    for c in &ac.client {
        let existing = store.client(&c.id).await?;
        let client = client_from_config(c, existing.as_ref())?;
        store.put_client_from(&client, SOURCE_CONFIG).await?;
        ids.push(c.id.clone());
    }
    for id in store.client_ids_from(SOURCE_CONFIG).await? {
        if !ids.contains(&id) {
            store.remove_client(&id).await?;
        }
    }
    let mut names = Vec::new();
    for u in &ac.user {
        if !is_valid_stored_hash(&u.password_hash) {
            return Err(AuthServerError::Config(format!(
                "user {:?}: password_hash is not an argon2 PHC string (`synaptic users hash` prints one)",
                u.name
            )));
        }
        store
            .put_user_from(
                &User {
                    name: u.name.clone(),
                    password_hash: u.password_hash.clone(),
                },
                SOURCE_CONFIG,
            )
            .await?;
        names.push(u.name.clone());
    }
    for n in store.user_names_from(SOURCE_CONFIG).await? {
        if !names.contains(&n) {
            store.remove_user(&n).await?;
        }
    }
    Ok(())
}
