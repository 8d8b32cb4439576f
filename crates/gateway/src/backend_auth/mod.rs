//! Native OAuth2 endpoint security (`[api.endpoint_security]`): tokens for OAuth2-protected
//! backends, over the I/O-free token client in `synaptic_oauth::client`.
//!
//! * [`fetcher`]: the token HTTP call (reqwest + rustls, dedicated trust store).
//! * [`redis_store`]: the shared token cache and distributed lock on Redis, values sealed by
//!   [`seal`].
//! * [`upstream`]: the [`UpstreamAuth`] of one API.
//! * [`per_request`]: token exchange on behalf of the caller (a cache entry per caller token).
//! * [`metrics`]: counters and gauges on the gateway's `/metrics` registry.
//!
//! Entry point: [`build`] (one call per API with endpoint security; APIs of one configuration
//! share one [`BackendAuth`]: one token cache, one Redis connection).

pub mod config;
pub mod fetcher;
pub mod metrics;
pub mod per_request;
pub mod redis_store;
pub mod seal;
pub mod upstream;

use std::sync::{Arc, Mutex, Weak};

use synaptic_oauth::client::spec::ACCESS_TOKEN_TYPE;
use synaptic_oauth::client::{
    ClientAuth, ClientSpec, Dpop, DpopAlgorithm, DpopKey, Grant, KeyBytes, Options, Secret,
    SystemClock, TokenExchange, TokenManager, TokenStore,
};

use crate::config::{ApiConfig, Config};
use crate::hooks::UpstreamAuth;
use config::{EndpointSecurity, OAuthSettings, RedisSettings};

/// A configuration mistake or missing input found while building endpoint security.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("API {api:?}: [api.endpoint_security] {key}: {message}")]
    Config {
        api: String,
        key: &'static str,
        message: String,
    },
    #[error("API {api:?}: environment variable {var} (for {key}) is not set")]
    MissingEnv {
        api: String,
        key: &'static str,
        var: String,
    },
    #[error("[oauth] {0}")]
    OAuth(String),
    #[error("[redis] {0}")]
    Redis(String),
}

/// Endpoint security for one gateway: the token manager (memory cache + optional Redis),
/// the token HTTP client and the metrics. Shared by its APIs.
#[derive(Debug)]
pub struct BackendAuth {
    manager: TokenManager,
    http: Arc<fetcher::ReqwestTokenHttp>,
    oauth: OAuthSettings,
    metrics: Arc<metrics::AuthMetrics>,
    /// Where relative key and certificate paths start (the configuration's folder).
    base_dir: std::path::PathBuf,
    /// The gateway's own DPoP keys (one per algorithm, generated on first use) for APIs with
    /// `dpop = true` and no `dpop_key` of their own.
    dpop_keys: Mutex<Vec<(DpopAlgorithm, Arc<Dpop>)>>,
}

impl BackendAuth {
    /// Build from `[oauth]` and `[redis]`. Redis is connected lazily (a Redis that is down at
    /// startup is not an error: the memory cache is used until it comes up).
    pub fn new(
        config: &Config,
        registry: &crate::metrics::Registry,
    ) -> Result<BackendAuth, BuildError> {
        Self::with_env(config, registry, &|k| std::env::var(k).ok())
    }

    /// As [`BackendAuth::new`], reading environment variables through `env`.
    pub fn with_env(
        config: &Config,
        registry: &crate::metrics::Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackendAuth, BuildError> {
        let oauth = config.oauth.clone();
        if let Some((k, m)) = config::check_oauth(&oauth).into_iter().next() {
            return Err(BuildError::OAuth(format!("{k}: {m}")));
        }
        let trust = match &oauth.trust_store {
            Some(p) => {
                let path = config.resolve_path(p);
                let pem = std::fs::read(&path).map_err(|e| {
                    BuildError::OAuth(format!("trust_store {}: {e}", path.display()))
                })?;
                Some((path.display().to_string(), pem))
            }
            None => None,
        };
        let http = fetcher::ReqwestTokenHttp::new(
            trust.as_ref().map(|(p, pem)| (p.as_str(), pem.as_slice())),
            oauth.token_timeout(),
        )
        .map_err(|e| BuildError::OAuth(e.to_string()))?;
        let http = Arc::new(http);
        let store: Option<Arc<dyn TokenStore>> = match &config.redis {
            Some(r) => Some(Arc::new(redis_store(r, env)?)),
            None => None,
        };
        let metrics = Arc::new(metrics::AuthMetrics::new(registry));
        let opts = Options {
            default_expires_in: oauth.default_expires_in(),
            skew: oauth.skew(),
            wait_timeout: oauth.wait_timeout(),
            fetch_timeout: oauth.token_timeout() + std::time::Duration::from_secs(1),
            ..Options::default()
        };
        let manager = TokenManager::new(
            http.clone(),
            store.clone(),
            Arc::new(SystemClock),
            opts,
            metrics.clone(),
        );
        if store.is_some() {
            let m = manager.clone();
            registry.gauge_fn(
                "synaptic_backend_token_store_up",
                "1 when the shared Redis token cache is in use, 0 while it is unavailable",
                &[],
                move || if m.store_down() { 0.0 } else { 1.0 },
            );
        }
        Ok(BackendAuth {
            manager,
            http,
            oauth,
            metrics,
            base_dir: config.base_dir.clone(),
            dpop_keys: Mutex::new(Vec::new()),
        })
    }

    /// The DPoP key of an API: its own (`dpop_key`), or the gateway's for the algorithm.
    fn dpop_for(
        &self,
        api: &str,
        es: &EndpointSecurity,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<Dpop>>, BuildError> {
        if !es.uses_dpop() {
            return Ok(None);
        }
        match config::load_dpop_key(es, &self.base_dir, env) {
            Ok(Some(k)) => return Ok(Some(Dpop::new(k))),
            Ok(None) => {}
            Err(e) => return Err(load_error(api, e)),
        }
        let alg = config::dpop_algorithm(es);
        let mut keys = self.dpop_keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, d)) = keys.iter().find(|(a, _)| *a == alg) {
            return Ok(Some(d.clone()));
        }
        let key = DpopKey::generate(alg).map_err(|e| BuildError::Config {
            api: api.to_string(),
            key: "dpop",
            message: e.to_string(),
        })?;
        tracing::info!(alg = alg.name(), jkt = %key.thumbprint(), "generated this gateway's DPoP key");
        let d = Dpop::new(key);
        keys.push((alg, d.clone()));
        Ok(Some(d))
    }

    pub fn manager(&self) -> &TokenManager {
        &self.manager
    }

    /// The endpoint security of one API (which must have `[api.endpoint_security]`).
    pub fn api(&self, api: &ApiConfig) -> Result<Arc<upstream::OAuthUpstream>, BuildError> {
        self.api_with_env(api, &|k| std::env::var(k).ok())
    }

    pub fn api_with_env(
        &self,
        api: &ApiConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<upstream::OAuthUpstream>, BuildError> {
        let es = api
            .endpoint_security
            .as_ref()
            .ok_or_else(|| BuildError::Config {
                api: api.name.clone(),
                key: "type",
                message: "missing".into(),
            })?;
        let mut spec = client_spec(&api.name, es, &self.base_dir, env)?;
        spec.dpop = self.dpop_for(&api.name, es, env)?;
        let dpop = spec.dpop.clone();
        if let ClientAuth::TlsClientAuth(id) = &spec.auth {
            // a certificate and key TLS cannot use fail here, not at the first request
            self.http
                .client_for(Some(id))
                .map_err(|e| BuildError::Config {
                    api: api.name.clone(),
                    key: "client_cert",
                    message: e.to_string(),
                })?;
        }
        if matches!(spec.grant, Grant::Password { .. }) {
            tracing::warn!(api = %api.name, "endpoint security uses the password grant, deprecated by OAuth 2.1 (RFC 9700)");
        }
        let handle = self.manager.register(spec, &api.name);
        let counters = self.metrics.api(&api.name);
        let h = handle.clone();
        self.metrics.registry().gauge_fn(
            "synaptic_backend_token_seconds_left",
            "Seconds until the cached backend token expires (0: none cached)",
            &[("api", &api.name)],
            move || h.seconds_left().unwrap_or(0.0),
        );
        Ok(Arc::new(upstream::OAuthUpstream {
            api: api.name.clone(),
            handle,
            retry_on_401: self.oauth.retry_on_401(),
            replay_methods: self.oauth.replay_methods.as_ref().map(|ms| {
                ms.iter()
                    .filter_map(|m| {
                        http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()
                    })
                    .collect()
            }),
            counters,
            header: std::sync::Mutex::new(None),
            per_request: per_request::PerRequest::new(es, api.is_oauth2_secured()),
            dpop,
        }))
    }
}

/// The [`ClientSpec`] of an API's endpoint security (secrets resolved from the environment,
/// key and certificate files from `base_dir`).
pub fn client_spec(
    api: &str,
    es: &EndpointSecurity,
    base_dir: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClientSpec, BuildError> {
    if let Some((key, message)) = config::check_endpoint_security(es).into_iter().next() {
        return Err(BuildError::Config {
            api: api.to_string(),
            key,
            message,
        });
    }
    let secret =
        |value: &Option<String>, var: &Option<String>, key: &'static str| match (value, var) {
            (Some(v), _) => Ok(Secret::new(v.clone())),
            (None, Some(var)) => env(var)
                .map(Secret::new)
                .ok_or_else(|| BuildError::MissingEnv {
                    api: api.to_string(),
                    key,
                    var: var.clone(),
                }),
            (None, None) => Err(BuildError::Config {
                api: api.to_string(),
                key,
                message: "missing".into(),
            }),
        };
    let auth = config::load_client_auth(es, base_dir, env).map_err(|e| load_error(api, e))?;
    let client_secret = if auth.uses_secret() {
        secret(&es.client_secret, &es.client_secret_env, "client_secret")?
    } else {
        Secret::new(String::new())
    };
    let grant = match es.grant_type.as_str() {
        "password" => Grant::Password {
            username: es.username.clone().unwrap_or_default(),
            password: secret(&es.password, &es.password_env, "password")?,
        },
        _ if es.is_token_exchange() => {
            let actor_token = match (&es.actor_token, &es.actor_token_env) {
                (None, None) => None,
                _ => Some(secret(&es.actor_token, &es.actor_token_env, "actor_token")?),
            };
            let ty = |t: &Option<String>| t.clone().unwrap_or_else(|| ACCESS_TOKEN_TYPE.into());
            Grant::TokenExchange(Box::new(TokenExchange {
                subject_token: None,
                subject_token_type: ty(&es.subject_token_type),
                actor_token,
                actor_token_type: ty(&es.actor_token_type),
                requested_token_type: es.requested_token_type.clone(),
            }))
        }
        _ => Grant::ClientCredentials,
    };
    // a scope or audience with inline expressions is set per request (per_request.rs)
    let fixed = |v: &Option<String>| v.clone().filter(|t| !t.contains('{'));
    let mut params = es.parameters.clone();
    for (k, v) in [
        ("audience", fixed(&es.audience)),
        ("resource", es.resource.clone()),
    ] {
        if let Some(v) = v {
            params.insert(k.to_string(), v);
        }
    }
    Ok(ClientSpec {
        token_url: es.token_url.clone(),
        client_id: es.client_id.clone(),
        client_secret,
        grant,
        scope: fixed(&es.scope),
        auth,
        params,
        dpop: None,
    })
}

fn load_error(api: &str, e: config::AuthLoadError) -> BuildError {
    match e {
        config::AuthLoadError::Config { key, message } => BuildError::Config {
            api: api.to_string(),
            key,
            message,
        },
        config::AuthLoadError::MissingEnv { key, var } => BuildError::MissingEnv {
            api: api.to_string(),
            key,
            var,
        },
    }
}

fn redis_store(
    r: &RedisSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<redis_store::RedisTokenStore, BuildError> {
    if let Some((k, m)) = config::check_redis(r).into_iter().next() {
        return Err(BuildError::Redis(format!("{k}: {m}")));
    }
    let key_text = match (&r.key, &r.key_env) {
        (Some(k), _) => Some(k.clone()),
        (None, Some(var)) => Some(env(var).ok_or_else(|| {
            BuildError::Redis(format!("environment variable {var} (for key) is not set"))
        })?),
        (None, None) => None,
    };
    let key = match key_text {
        Some(t) => Some(KeyBytes::new(seal::parse_key(&t).ok_or_else(|| {
            BuildError::Redis("key must be base64 of exactly 32 bytes".into())
        })?)),
        None => None,
    };
    let prefix = r.key_prefix.clone().unwrap_or_else(|| "synaptic".into());
    redis_store::RedisTokenStore::new(&r.url, &format!("{prefix}:oauth"), seal::Sealer::new(key))
        .map_err(|e| BuildError::Redis(e.to_string()))
}

/// Per configuration instance, the shared [`BackendAuth`] (APIs of one gateway share it;
/// two gateways in one process, with two configurations, do not).
static SHARED: Mutex<Vec<(Weak<Config>, Arc<BackendAuth>)>> = Mutex::new(Vec::new());

/// The endpoint security of `api` under `config` (the call site in `extensions.rs`).
pub async fn build(
    api: &ApiConfig,
    config: &Arc<Config>,
    registry: &crate::metrics::Registry,
) -> Result<Arc<dyn UpstreamAuth>, BuildError> {
    let shared = {
        let mut all = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|(w, _)| w.strong_count() > 0);
        match all
            .iter()
            .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(config)))
        {
            Some((_, b)) => b.clone(),
            None => {
                let b = Arc::new(BackendAuth::new(config, registry)?);
                all.push((Arc::downgrade(config), b.clone()));
                b
            }
        }
    };
    Ok(shared.api(api)? as Arc<dyn UpstreamAuth>)
}
