//! Endpoint-security metrics on the gateway's registry (`GET /metrics`), labelled by API,
//! never by anything secret.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use synaptic_oauth::client::{Event, Observer};

use crate::metrics::{Counter, Registry};

/// Counters of one API.
#[derive(Clone, Debug)]
pub struct ApiCounters {
    pub fetches: Counter,
    pub refreshes: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub shared_hits: Counter,
    pub invalidations: Counter,
    pub replays: Counter,
    pub replays_skipped: Counter,
    pub refresh_grant_refused: Counter,
    reg: Registry,
    api: Arc<str>,
}

impl ApiCounters {
    fn new(reg: &Registry, api: &str) -> ApiCounters {
        let l = [("api", api)];
        let c = |name: &str, help: &str| reg.counter(name, help, &l);
        ApiCounters {
            fetches: c(
                "synaptic_backend_token_fetches_total",
                "Token requests to token endpoints that succeeded",
            ),
            refreshes: c(
                "synaptic_backend_token_refreshes_total",
                "Tokens refreshed in the background ahead of expiry",
            ),
            cache_hits: c(
                "synaptic_backend_token_cache_hits_total",
                "Backend requests served with a cached token",
            ),
            cache_misses: c(
                "synaptic_backend_token_cache_misses_total",
                "Backend requests that had to wait for a token",
            ),
            shared_hits: c(
                "synaptic_backend_token_shared_hits_total",
                "Tokens taken from the shared Redis cache",
            ),
            invalidations: c(
                "synaptic_backend_token_invalidations_total",
                "Cached tokens dropped after a backend 401",
            ),
            replays: c(
                "synaptic_backend_401_replays_total",
                "Backend requests replayed once after a 401 with a new token",
            ),
            replays_skipped: c(
                "synaptic_backend_401_replays_skipped_total",
                "Backend 401s not replayed (retry_on_401 off, replay_methods, insufficient_scope)",
            ),
            refresh_grant_refused: c(
                "synaptic_backend_refresh_grant_refused_total",
                "Refresh tokens refused by the token endpoint (original grant used)",
            ),
            reg: reg.clone(),
            api: Arc::from(api),
        }
    }

    fn failure(&self, reason: &str) -> Counter {
        self.reg.counter(
            "synaptic_backend_token_fetch_failures_total",
            "Token requests that failed, by reason",
            &[("api", &self.api), ("reason", reason)],
        )
    }
}

/// Turns token-manager events into counters.
#[derive(Debug)]
pub struct AuthMetrics {
    reg: Registry,
    /// By API name, hashed with foldhash (seeded per process): looked up on every token
    /// served, with names from the configuration only.
    apis: RwLock<HashMap<Arc<str>, Arc<ApiCounters>, foldhash::fast::RandomState>>,
    store_errors: Counter,
    store_down: Counter,
}

impl AuthMetrics {
    pub fn new(reg: &Registry) -> AuthMetrics {
        AuthMetrics {
            reg: reg.clone(),
            apis: RwLock::new(HashMap::default()),
            store_errors: reg.counter(
                "synaptic_backend_token_store_errors_total",
                "Failed operations on the shared Redis token cache",
                &[],
            ),
            store_down: reg.counter(
                "synaptic_backend_token_store_outages_total",
                "Times the shared Redis token cache became unavailable",
                &[],
            ),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.reg
    }

    /// The counters of `api` (created on first use).
    pub fn api(&self, api: &str) -> Arc<ApiCounters> {
        if let Some(c) = self.apis.read().unwrap_or_else(|e| e.into_inner()).get(api) {
            return c.clone();
        }
        let mut w = self.apis.write().unwrap_or_else(|e| e.into_inner());
        w.entry(Arc::from(api))
            .or_insert_with(|| Arc::new(ApiCounters::new(&self.reg, api)))
            .clone()
    }
}

impl Observer for AuthMetrics {
    fn event(&self, label: &str, event: Event<'_>) {
        match event {
            Event::StoreError => return self.store_errors.inc(),
            Event::StoreDown => return self.store_down.inc(),
            Event::StoreUp => return,
            _ => {}
        }
        let c = self.api(label);
        match event {
            Event::CacheHit => c.cache_hits.inc(),
            Event::CacheMiss => c.cache_misses.inc(),
            Event::SharedHit => c.shared_hits.inc(),
            Event::Fetched { refresh } => {
                c.fetches.inc();
                if refresh {
                    c.refreshes.inc();
                }
            }
            Event::FetchFailed(f) => c.failure(f.reason()).inc(),
            Event::RefreshGrantRefused => c.refresh_grant_refused.inc(),
            Event::Invalidated => c.invalidations.inc(),
            Event::RefreshStarted | Event::StoreDown | Event::StoreUp | Event::StoreError => {}
        }
    }
}
