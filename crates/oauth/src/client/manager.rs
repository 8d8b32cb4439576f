//! The token manager: an in-memory (L1) cache of tokens per [`CacheKey`], single flight per
//! key, background refresh-ahead, generation-aware invalidation, backoff, and an optional
//! shared (L2) store with a distributed lease lock.
//!
//! Lifetime of a token of lifetime `L` issued at `t0`, with `skew' = min(skew, L/4)`:
//!
//! ```text
//! t0 ──────── refresh_at ─────────────── usable_until ── expires
//!             t0 + r·(L − skew'),         t0 + L − skew'
//!             r random in [0.75, 0.80]
//! ```
//!
//! Requests use the token until `usable_until`, never later. From `refresh_at` on, one
//! background refresh runs (if the key was used since the token was installed) while requests
//! keep using the current token. Only a cold key (no usable token) makes a request wait, and
//! then all waiters share one fetch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use super::backoff::Backoff;
use super::io::{Clock, StoreError, StoredToken, TokenHttp, TokenStore};
use super::response::{parse_token_response, FetchFailure, ParsedToken};
use super::secret::Secret;
use super::spec::{CacheKey, ClientSpec, Variant};

/// Tuning of the token manager. `Default` gives production values.
#[derive(Clone, Debug)]
pub struct Options {
    /// Lifetime assumed when a response has no `expires_in`.
    pub default_expires_in: Duration,
    /// Safety margin before expiry (bounded by a quarter of the lifetime).
    pub skew: Duration,
    /// Refresh point as a fraction of the usable lifetime, chosen at random in this range.
    pub refresh_window: (f64, f64),
    /// How long a request waits for a token when none is usable (its deadline).
    pub wait_timeout: Duration,
    /// Bound on one token request (on top of the transport's own timeouts).
    pub fetch_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Lease of the distributed fetch lock (renewed every third of it while fetching).
    pub lock_lease: Duration,
    /// How often a gateway waiting on another gateway's fetch looks at the shared store.
    pub poll_interval: Duration,
    /// After a shared-store failure, how long to use only the memory cache before trying again.
    pub store_retry: Duration,
    /// Most per-request cache entries (token exchange subjects, evaluated scopes and
    /// audiences) kept at once; past it, entries without a usable token go first, then the
    /// least recently used.
    pub max_request_variants: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            default_expires_in: Duration::from_secs(3600),
            skew: Duration::from_secs(30),
            refresh_window: (0.75, 0.80),
            wait_timeout: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(15),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            lock_lease: Duration::from_secs(5),
            poll_interval: Duration::from_millis(50),
            store_retry: Duration::from_secs(1),
            max_request_variants: 10_000,
        }
    }
}

/// Something that happened, for metrics. `label` (the API name) comes with it.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A request was served from the memory cache.
    CacheHit,
    /// A request found no usable token and waited for one.
    CacheMiss,
    /// A token came from the shared store (another gateway fetched it).
    SharedHit,
    /// A token request succeeded (`refresh`: it ran ahead of expiry in the background).
    Fetched {
        refresh: bool,
    },
    FetchFailed(&'a FetchFailure),
    /// A background refresh started.
    RefreshStarted,
    /// The server refused a refresh token; the original grant was used instead.
    RefreshGrantRefused,
    /// A token was dropped after a backend 401.
    Invalidated,
    StoreDown,
    StoreUp,
    /// A store operation failed (counted every time; `StoreDown` only at the transition).
    StoreError,
}

/// Receives [`Event`]s. The gateway turns them into Prometheus counters.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn event(&self, label: &str, event: Event<'_>);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoopObserver;
impl Observer for NoopObserver {
    fn event(&self, _: &str, _: Event<'_>) {}
}

/// A token handed to a request.
#[derive(Clone, Debug)]
pub struct AccessToken {
    pub value: Secret,
    pub token_type: Arc<str>,
    /// Short SHA-256 fingerprint: what logs may show, and what [`TokenHandle::invalidate`] takes.
    pub fingerprint: Arc<str>,
    /// Local generation of the cached token (increments on every replacement).
    pub generation: u64,
    pub expires_at_ms: i64,
}

/// No token could be had for a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no access token: {cause}")]
    Unavailable {
        retry_after: Duration,
        cause: FetchFailure,
    },
    #[error("no access token within the request deadline")]
    Timeout { retry_after: Duration },
}

impl TokenError {
    /// How long a client should wait before trying again (at least one second).
    pub fn retry_after(&self) -> Duration {
        let d = match self {
            TokenError::Unavailable { retry_after, .. } | TokenError::Timeout { retry_after } => {
                *retry_after
            }
        };
        d.max(Duration::from_secs(1))
    }
}

/// The token manager; cheap to clone, shared by all APIs of a gateway (and across reloads,
/// so tokens of unchanged credentials survive a reload).
#[derive(Clone, Debug)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

/// One API's view of the manager: the key of its credentials.
#[derive(Clone, Debug)]
pub struct TokenHandle {
    inner: Arc<Inner>,
    entry: Arc<Entry>,
    label: Arc<str>,
}

// === internals ===

#[derive(Debug)]
struct Inner {
    http: Arc<dyn TokenHttp>,
    store: Option<Arc<dyn TokenStore>>,
    clock: Arc<dyn Clock>,
    opts: Options,
    observer: Arc<dyn Observer>,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Backoff per token endpoint (charged by endpoint failures: down, slow, 5xx, garbage).
    endpoints: Mutex<HashMap<String, Failing>>,
    store_down: AtomicBool,
    store_retry_at: AtomicI64,
}

#[derive(Debug)]
struct Entry {
    key: CacheKey,
    /// For a per-request entry, the key of the API's entry it varies.
    family: Option<String>,
    spec: Mutex<Arc<ClientSpec>>,
    label: Mutex<Arc<str>>,
    state: Mutex<State>,
    flight: Mutex<Option<FlightRx>>,
}

/// The outcome of a running fetch, `None` while it runs.
type FlightRx = watch::Receiver<Option<Result<(), TokenError>>>;

#[derive(Debug, Default)]
struct State {
    current: Option<Cached>,
    generation: u64,
    refresh_token: Option<Secret>,
    /// Fingerprint of a token a backend refused; never adopted again from the shared store.
    rejected_fp: Option<String>,
    last_used_ms: i64,
    /// Backoff of this key (charged by refusals of these credentials).
    failing: Failing,
}

#[derive(Debug, Default, Clone)]
struct Failing {
    backoff: Backoff,
    last: Option<FetchFailure>,
}

#[derive(Clone, Debug)]
struct Cached {
    token: Secret,
    token_type: Arc<str>,
    fp: Arc<str>,
    generation: u64,
    expires_ms: i64,
    usable_until_ms: i64,
    refresh_at_ms: i64,
    installed_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FlightKind {
    Cold,
    Refresh,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// === impl TokenManager ===

impl TokenManager {
    pub fn new(
        http: Arc<dyn TokenHttp>,
        store: Option<Arc<dyn TokenStore>>,
        clock: Arc<dyn Clock>,
        opts: Options,
        observer: Arc<dyn Observer>,
    ) -> TokenManager {
        TokenManager {
            inner: Arc::new(Inner {
                http,
                store,
                clock,
                opts,
                observer,
                entries: Mutex::new(HashMap::new()),
                endpoints: Mutex::new(HashMap::new()),
                store_down: AtomicBool::new(false),
                store_retry_at: AtomicI64::new(0),
            }),
        }
    }

    /// The handle for `spec`; APIs with identical credentials share one cached token.
    pub fn register(&self, spec: ClientSpec, label: &str) -> TokenHandle {
        let key = spec.cache_key();
        let label: Arc<str> = Arc::from(label);
        let spec = Arc::new(spec);
        let entry = {
            let mut entries = lock(&self.inner.entries);
            entries
                .entry(key.as_str().to_string())
                .or_insert_with(|| {
                    Arc::new(Entry {
                        key: key.clone(),
                        family: None,
                        spec: Mutex::new(spec.clone()),
                        label: Mutex::new(label.clone()),
                        state: Mutex::new(State::default()),
                        flight: Mutex::new(None),
                    })
                })
                .clone()
        };
        *lock(&entry.spec) = spec;
        *lock(&entry.label) = label.clone();
        TokenHandle {
            inner: self.inner.clone(),
            entry,
            label,
        }
    }

    /// Forget every key not in `keep` (after a reload), with the per-request entries of
    /// those that go.
    pub fn retain(&self, keep: &[&CacheKey]) {
        let kept = |k: &str| keep.iter().any(|c| c.as_str() == k);
        lock(&self.inner.entries).retain(|k, e| kept(k) || e.family.as_deref().is_some_and(kept));
    }

    /// How many cache entries there are (APIs' and per-request ones).
    pub fn entry_count(&self) -> usize {
        lock(&self.inner.entries).len()
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// Whether the shared store is currently considered down.
    pub fn store_down(&self) -> bool {
        self.inner.store_down.load(Ordering::SeqCst)
    }
}

// === impl TokenHandle ===

impl TokenHandle {
    pub fn key(&self) -> &CacheKey {
        &self.entry.key
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// A usable token: from the cache, or (cold key) from the single shared fetch.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        let now = inner.clock.now_ms();
        let hot = {
            let mut st = lock(&self.entry.state);
            st.last_used_ms = now;
            st.current
                .as_ref()
                .filter(|c| now < c.usable_until_ms)
                .map(|c| (c.access(), now >= c.refresh_at_ms))
        };
        if let Some((token, due)) = hot {
            inner.observer.event(&self.label, Event::CacheHit);
            if due {
                maybe_refresh(inner, &self.entry);
            }
            return Ok(token);
        }

        inner.observer.event(&self.label, Event::CacheMiss);
        let mut rx = start_or_join(inner, &self.entry, FlightKind::Cold);
        let waited = tokio::time::timeout(inner.opts.wait_timeout, rx.wait_for(|v| v.is_some()))
            .await
            .map(|r| r.map(|v| v.clone()));
        let outcome = match waited {
            Ok(Ok(Some(outcome))) => outcome,
            _ => Err(TokenError::Timeout {
                retry_after: Duration::from_secs(1),
            }),
        };
        let now = inner.clock.now_ms();
        let usable = lock(&self.entry.state)
            .current
            .as_ref()
            .filter(|c| now < c.usable_until_ms)
            .map(|c| c.access());
        match (usable, outcome) {
            (Some(token), _) => Ok(token),
            (None, Err(e)) => Err(e),
            (None, Ok(())) => Err(TokenError::Timeout {
                retry_after: Duration::from_secs(1),
            }),
        }
    }

    /// The handle of this API's token request as one request varies it (the caller's token
    /// for token exchange, an evaluated scope or audience): its own cache entry, single
    /// flight and shared-store key. An empty variant is this handle.
    pub fn variant(&self, v: &Variant) -> TokenHandle {
        if v.is_empty() {
            return self.clone();
        }
        let spec = lock(&self.entry.spec).with_variant(v);
        let key = spec.cache_key();
        if key == self.entry.key {
            return self.clone();
        }
        let inner = &self.inner;
        let entry = {
            let mut entries = lock(&inner.entries);
            if let Some(e) = entries.get(key.as_str()) {
                e.clone()
            } else {
                if entries.len() >= inner.opts.max_request_variants {
                    prune_variants(inner, &mut entries);
                }
                let e = Arc::new(Entry {
                    key: key.clone(),
                    family: Some(self.entry.key.as_str().to_string()),
                    spec: Mutex::new(Arc::new(spec)),
                    label: Mutex::new(self.label.clone()),
                    state: Mutex::new(State::default()),
                    flight: Mutex::new(None),
                });
                entries.insert(key.as_str().to_string(), e.clone());
                e
            }
        };
        TokenHandle {
            inner: inner.clone(),
            entry,
            label: self.label.clone(),
        }
    }

    /// A backend answered 401 to a request that used the token with `fingerprint`. Drops the
    /// cached token only if it is still that one (here and in the shared store), in this
    /// handle's entry or in one of its per-request entries. Returns whether it was dropped.
    pub async fn invalidate(&self, fingerprint: &str) -> bool {
        let holds = |e: &Entry| {
            lock(&e.state)
                .current
                .as_ref()
                .is_some_and(|c| &*c.fp == fingerprint)
        };
        if !holds(&self.entry) {
            let family: Vec<Arc<Entry>> = lock(&self.inner.entries)
                .values()
                .filter(|e| e.family.as_deref() == Some(self.entry.key.as_str()))
                .cloned()
                .collect();
            if let Some(e) = family.into_iter().find(|e| holds(e)) {
                let h = TokenHandle {
                    inner: self.inner.clone(),
                    entry: e,
                    label: self.label.clone(),
                };
                return h.invalidate_here(fingerprint).await;
            }
        }
        self.invalidate_here(fingerprint).await
    }

    async fn invalidate_here(&self, fingerprint: &str) -> bool {
        let inner = &self.inner;
        let dropped = {
            let mut st = lock(&self.entry.state);
            if st.current.as_ref().is_some_and(|c| &*c.fp == fingerprint) {
                st.current = None;
                st.rejected_fp = Some(fingerprint.to_string());
                true
            } else {
                false
            }
        };
        if dropped {
            inner.observer.event(&self.label, Event::Invalidated);
            tracing::info!(api = %self.label, token = %fingerprint, "backend refused the token; dropped it");
        }
        if let Some(store) = store_if_up(inner) {
            match store.remove_if(&self.entry.key, fingerprint).await {
                Ok(_) => store_ok(inner, &self.label),
                Err(e) => store_failed(inner, &self.label, &e),
            }
        }
        dropped
    }

    /// Seconds until the cached token expires (None when there is none).
    pub fn seconds_left(&self) -> Option<f64> {
        let now = self.inner.clock.now_ms();
        lock(&self.entry.state)
            .current
            .as_ref()
            .map(|c| ((c.expires_ms - now).max(0) as f64) / 1000.0)
    }

    /// Fingerprint of the cached token, if any.
    pub fn current_fingerprint(&self) -> Option<String> {
        lock(&self.entry.state)
            .current
            .as_ref()
            .map(|c| c.fp.to_string())
    }
}

/// Make room among the per-request entries: drop those with no usable token and no fetch
/// running; if that is not enough, the least recently used, down to 90 % of the bound.
fn prune_variants(inner: &Inner, entries: &mut HashMap<String, Arc<Entry>>) {
    let now = inner.clock.now_ms();
    let idle = |e: &Entry| {
        let running = lock(&e.flight)
            .as_ref()
            .is_some_and(|rx| rx.borrow().is_none());
        let usable = lock(&e.state)
            .current
            .as_ref()
            .is_some_and(|c| now < c.usable_until_ms);
        !running && !usable
    };
    entries.retain(|_, e| e.family.is_none() || !idle(e));
    let target = inner.opts.max_request_variants * 9 / 10;
    if entries.len() >= inner.opts.max_request_variants {
        let mut variants: Vec<(i64, String)> = entries
            .iter()
            .filter(|(_, e)| e.family.is_some())
            .map(|(k, e)| (lock(&e.state).last_used_ms, k.clone()))
            .collect();
        variants.sort_unstable();
        let excess = entries.len().saturating_sub(target);
        for (_, k) in variants.into_iter().take(excess) {
            entries.remove(&k);
        }
    }
}

// === impl Cached ===

impl Cached {
    fn access(&self) -> AccessToken {
        AccessToken {
            value: self.token.clone(),
            token_type: self.token_type.clone(),
            fingerprint: self.fp.clone(),
            generation: self.generation,
            expires_at_ms: self.expires_ms,
        }
    }
}

// === flights ===

fn label_of(entry: &Entry) -> Arc<str> {
    lock(&entry.label).clone()
}

/// Join the running fetch of this key, or start one.
fn start_or_join(inner: &Arc<Inner>, entry: &Arc<Entry>, kind: FlightKind) -> FlightRx {
    let mut slot = lock(&entry.flight);
    if let Some(rx) = slot.as_ref() {
        if rx.borrow().is_none() {
            return rx.clone();
        }
    }
    let (tx, rx) = watch::channel(None);
    *slot = Some(rx.clone());
    drop(slot);
    let (inner, entry) = (inner.clone(), entry.clone());
    // The fetch runs in its own task so that a waiter giving up does not cancel it.
    let http = inner.http.clone();
    tokio::spawn(http.fetch_task(Box::pin(async move {
        let outcome = flight(&inner, &entry, kind).await;
        let _ = tx.send(Some(outcome));
    })));
    rx
}

/// Start a background refresh unless one runs or the key is backing off.
fn maybe_refresh(inner: &Arc<Inner>, entry: &Arc<Entry>) {
    if lock(&entry.flight)
        .as_ref()
        .is_some_and(|rx| rx.borrow().is_none())
    {
        return;
    }
    let now = inner.clock.now_ms();
    if backoff_remaining(inner, entry, now).is_some() {
        return;
    }
    inner
        .observer
        .event(&label_of(entry), Event::RefreshStarted);
    drop(start_or_join(inner, entry, FlightKind::Refresh));
}

fn backoff_remaining(inner: &Inner, entry: &Entry, now: i64) -> Option<(Duration, FetchFailure)> {
    let spec = lock(&entry.spec).clone();
    let endpoint = lock(&inner.endpoints).get(&spec.token_url).cloned();
    let key = lock(&entry.state).failing.clone();
    [endpoint, Some(key)]
        .into_iter()
        .flatten()
        .filter_map(|f| {
            f.backoff
                .remaining(now)
                .map(|d| (d, f.last.clone().unwrap_or(FetchFailure::Timeout)))
        })
        .max_by_key(|(d, _)| *d)
}

async fn flight(
    inner: &Arc<Inner>,
    entry: &Arc<Entry>,
    kind: FlightKind,
) -> Result<(), TokenError> {
    let now = inner.clock.now_ms();
    if let Some((retry_after, cause)) = backoff_remaining(inner, entry, now) {
        return Err(TokenError::Unavailable { retry_after, cause });
    }
    let label = label_of(entry);
    if let Some(store) = store_if_up(inner) {
        match shared_flight(inner, entry, &store, kind, &label).await {
            Shared::Done(r) => return r,
            Shared::StoreFailed => {}
        }
    }
    fetch_and_install(inner, entry, kind).await.map(|_| ())
}

enum Shared {
    Done(Result<(), TokenError>),
    StoreFailed,
}

/// Whether a token from the shared store may replace what this gateway has.
fn acceptable(inner: &Inner, entry: &Entry, kind: FlightKind, t: &StoredToken) -> bool {
    let now = inner.clock.now_ms();
    let (_, usable_until) = timing(&inner.opts, t.issued_at_ms, t.expires_at_ms);
    if now >= usable_until {
        return false;
    }
    let fp = t.fingerprint();
    let st = lock(&entry.state);
    if st.rejected_fp.as_deref() == Some(fp.as_str()) {
        return false;
    }
    match (&st.current, kind) {
        (Some(c), FlightKind::Refresh) => t.expires_at_ms > c.expires_ms && *fp != *c.fp,
        (Some(_), FlightKind::Cold) | (None, _) => true,
    }
}

/// Distributed single flight: adopt a token another gateway stored, or take the lease lock and
/// fetch, or wait for the lock holder's token until the request deadline.
async fn shared_flight(
    inner: &Arc<Inner>,
    entry: &Arc<Entry>,
    store: &Arc<dyn TokenStore>,
    kind: FlightKind,
    label: &str,
) -> Shared {
    let key = &entry.key;
    let owner = hex::encode(rand::thread_rng().gen::<[u8; 16]>());
    let deadline = tokio::time::Instant::now() + inner.opts.wait_timeout;
    loop {
        match store.load(key).await {
            Ok(Some(t)) if acceptable(inner, entry, kind, &t) => {
                store_ok(inner, label);
                adopt(inner, entry, t, label);
                return Shared::Done(Ok(()));
            }
            Ok(_) => store_ok(inner, label),
            Err(e) => {
                store_failed(inner, label, &e);
                return Shared::StoreFailed;
            }
        }
        match store.try_lock(key, &owner, inner.opts.lock_lease).await {
            Ok(true) => {
                // Double-check: the previous holder may have stored a token just now.
                if let Ok(Some(t)) = store.load(key).await {
                    if acceptable(inner, entry, kind, &t) {
                        let _ = store.unlock(key, &owner).await;
                        adopt(inner, entry, t, label);
                        return Shared::Done(Ok(()));
                    }
                }
                let renewer = tokio::spawn(renew_lease(
                    store.clone(),
                    key.clone(),
                    owner.clone(),
                    inner.opts.lock_lease,
                ));
                let fetched = fetch_and_install(inner, entry, kind).await;
                renewer.abort();
                if let Ok(stored) = &fetched {
                    let ttl_ms = timing(&inner.opts, stored.issued_at_ms, stored.expires_at_ms).1
                        - inner.clock.now_ms();
                    if ttl_ms > 0 {
                        match store
                            .save(key, stored, Duration::from_millis(ttl_ms as u64))
                            .await
                        {
                            Ok(()) => store_ok(inner, label),
                            Err(e) => store_failed(inner, label, &e),
                        }
                    }
                }
                if let Err(e) = store.unlock(key, &owner).await {
                    store_failed(inner, label, &e);
                }
                return Shared::Done(fetched.map(|_| ()));
            }
            Ok(false) => {
                store_ok(inner, label);
                if tokio::time::Instant::now() >= deadline {
                    return Shared::Done(Err(TokenError::Timeout {
                        retry_after: Duration::from_secs(1),
                    }));
                }
                tokio::time::sleep(inner.opts.poll_interval).await;
            }
            Err(e) => {
                store_failed(inner, label, &e);
                return Shared::StoreFailed;
            }
        }
    }
}

async fn renew_lease(store: Arc<dyn TokenStore>, key: CacheKey, owner: String, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match store.renew_lock(&key, &owner, lease).await {
            Ok(true) => {}
            _ => return,
        }
    }
}

/// Request a token (refresh grant first when there is a refresh token), install it, charge or
/// clear backoff. Returns what to put in the shared store.
async fn fetch_and_install(
    inner: &Arc<Inner>,
    entry: &Arc<Entry>,
    kind: FlightKind,
) -> Result<StoredToken, TokenError> {
    let spec = lock(&entry.spec).clone();
    let label = label_of(entry);
    let refresh_token = lock(&entry.state).refresh_token.clone();
    let fetched = match tokio::time::timeout(
        inner.opts.fetch_timeout,
        fetch(inner, entry, &spec, refresh_token, &label),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err((FetchFailure::Timeout, None)),
    };
    let now = inner.clock.now_ms();
    match fetched {
        Ok(parsed) => {
            lock(&inner.endpoints).remove(&spec.token_url);
            let stored = StoredToken {
                access_token: parsed.access_token,
                token_type: parsed.token_type,
                issued_at_ms: now,
                expires_at_ms: now + parsed.expires_in.as_millis() as i64,
                refresh_token: parsed.refresh_token,
            };
            inner.observer.event(
                &label,
                Event::Fetched {
                    refresh: kind == FlightKind::Refresh,
                },
            );
            tracing::info!(
                api = %label,
                key = %entry.key.short(),
                token = %stored.fingerprint(),
                expires_in = parsed.expires_in.as_secs(),
                expires_in_from_server = parsed.expires_in_from_server,
                refresh = kind == FlightKind::Refresh,
                "token fetched"
            );
            install(inner, entry, &stored);
            Ok(stored)
        }
        Err((cause, hint)) => {
            inner.observer.event(&label, Event::FetchFailed(&cause));
            let opts = &inner.opts;
            let retry_after = if cause.is_endpoint_failure() {
                let mut eps = lock(&inner.endpoints);
                let f = eps.entry(spec.token_url.clone()).or_default();
                f.last = Some(cause.clone());
                f.backoff
                    .fail(now, opts.backoff_initial, opts.backoff_max, hint)
            } else {
                let mut st = lock(&entry.state);
                st.failing.last = Some(cause.clone());
                st.failing
                    .backoff
                    .fail(now, opts.backoff_initial, opts.backoff_max, hint)
            };
            let still_valid = lock(&entry.state)
                .current
                .as_ref()
                .is_some_and(|c| now < c.usable_until_ms);
            tracing::warn!(
                api = %label,
                key = %entry.key.short(),
                error = %cause,
                retry_in_ms = retry_after.as_millis() as u64,
                serving_cached_token = still_valid,
                "token request failed"
            );
            Err(TokenError::Unavailable { retry_after, cause })
        }
    }
}

async fn fetch(
    inner: &Inner,
    entry: &Entry,
    spec: &ClientSpec,
    refresh_token: Option<Secret>,
    label: &str,
) -> Result<ParsedToken, (FetchFailure, Option<Duration>)> {
    if let Some(rt) = refresh_token {
        match request(inner, spec, Some(&rt)).await {
            Ok(t) => return Ok(t),
            Err((FetchFailure::Rejected { error, .. }, _)) => {
                inner.observer.event(label, Event::RefreshGrantRefused);
                tracing::info!(api = %label, error = %error, "refresh token refused; using the original grant");
                let mut st = lock(&entry.state);
                if st.refresh_token.as_ref() == Some(&rt) {
                    st.refresh_token = None;
                }
            }
            Err(e) => return Err(e),
        }
    }
    request(inner, spec, None).await
}

async fn request(
    inner: &Inner,
    spec: &ClientSpec,
    refresh_token: Option<&Secret>,
) -> Result<ParsedToken, (FetchFailure, Option<Duration>)> {
    // A DPoP server may ask for a nonce (`use_dpop_nonce` with `DPoP-Nonce`, RFC 9449 §8):
    // the request is sent once more with it.
    let mut nonce_retry = spec.dpop.is_some();
    loop {
        let req = spec
            .request(refresh_token, inner.clock.now_ms())
            .map_err(|m| {
                (
                    FetchFailure::Rejected {
                        status: 0,
                        error: "invalid_client".into(),
                        description: Some(m),
                    },
                    None,
                )
            })?;
        let resp = inner.http.post_form(req).await.map_err(|e| match e {
            super::io::TransportError::Timeout => (FetchFailure::Timeout, None),
            other => (FetchFailure::Transport(other.to_string()), None),
        })?;
        let new_nonce = match (&spec.dpop, &resp.dpop_nonce) {
            (Some(d), Some(n)) => d.set_nonce(&spec.token_url, n),
            _ => false,
        };
        match parse_token_response(&resp, inner.opts.default_expires_in) {
            Err(FetchFailure::Rejected { ref error, .. })
                if error == super::dpop::USE_DPOP_NONCE && nonce_retry && new_nonce =>
            {
                nonce_retry = false;
                tracing::debug!(url = %spec.token_url, "token endpoint asked for a DPoP nonce; sending again with it");
            }
            Ok(t) if t.token_type == "DPoP" && spec.dpop.is_none() => {
                return Err((
                    FetchFailure::Garbage("a DPoP token without a DPoP key"),
                    None,
                ))
            }
            other => return other.map_err(|f| (f, resp.retry_after)),
        }
    }
}

/// `(refresh_at, usable_until)` of a token, without jitter at refresh_at's upper bound.
fn timing(opts: &Options, issued_ms: i64, expires_ms: i64) -> (i64, i64) {
    let lifetime = (expires_ms - issued_ms).max(0);
    let skew = (opts.skew.as_millis() as i64).min(lifetime / 4);
    let usable_until = expires_ms - skew;
    let refresh_at = issued_ms + ((usable_until - issued_ms) as f64 * opts.refresh_window.1) as i64;
    (refresh_at, usable_until)
}

fn adopt(inner: &Arc<Inner>, entry: &Arc<Entry>, t: StoredToken, label: &str) {
    inner.observer.event(label, Event::SharedHit);
    tracing::debug!(api = %label, token = %t.fingerprint(), "token taken from the shared store");
    install(inner, entry, &t);
}

/// Make `t` the current token of `entry` and schedule its refresh.
fn install(inner: &Arc<Inner>, entry: &Arc<Entry>, t: &StoredToken) {
    let now = inner.clock.now_ms();
    let (_, usable_until) = timing(&inner.opts, t.issued_at_ms, t.expires_at_ms);
    let (lo, hi) = inner.opts.refresh_window;
    let ratio = if hi > lo {
        rand::thread_rng().gen_range(lo..hi)
    } else {
        lo
    };
    let refresh_at = t.issued_at_ms + ((usable_until - t.issued_at_ms) as f64 * ratio) as i64;
    let (generation, installed) = {
        let mut st = lock(&entry.state);
        st.generation += 1;
        st.current = Some(Cached {
            token: t.access_token.clone(),
            token_type: Arc::from(t.token_type.as_str()),
            fp: Arc::from(t.fingerprint()),
            generation: st.generation,
            expires_ms: t.expires_at_ms,
            usable_until_ms: usable_until,
            refresh_at_ms: refresh_at,
            installed_ms: now,
        });
        st.rejected_fp = None;
        // a response without a refresh token keeps the old one valid (RFC 6749 §6)
        if let Some(rt) = &t.refresh_token {
            st.refresh_token = Some(rt.clone());
        }
        st.failing = Failing::default();
        (st.generation, now)
    };
    schedule_refresh(inner, entry, generation, refresh_at, installed);
}

/// At `refresh_at`, refresh in the background if the key was used since the token came.
fn schedule_refresh(
    inner: &Arc<Inner>,
    entry: &Arc<Entry>,
    generation: u64,
    refresh_at_ms: i64,
    installed_ms: i64,
) {
    let delay = (refresh_at_ms - inner.clock.now_ms()).max(0) as u64;
    let (wi, we): (Weak<Inner>, Weak<Entry>) = (Arc::downgrade(inner), Arc::downgrade(entry));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let (Some(inner), Some(entry)) = (wi.upgrade(), we.upgrade()) else {
            return;
        };
        let due = {
            let st = lock(&entry.state);
            st.current
                .as_ref()
                .is_some_and(|c| c.generation == generation && c.installed_ms == installed_ms)
                && st.last_used_ms > installed_ms
        };
        if due {
            maybe_refresh(&inner, &entry);
        }
    });
}

fn store_if_up(inner: &Inner) -> Option<Arc<dyn TokenStore>> {
    let store = inner.store.as_ref()?;
    if inner.store_down.load(Ordering::SeqCst)
        && inner.clock.now_ms() < inner.store_retry_at.load(Ordering::SeqCst)
    {
        return None;
    }
    Some(store.clone())
}

fn store_ok(inner: &Inner, label: &str) {
    if inner.store_down.swap(false, Ordering::SeqCst) {
        inner.observer.event(label, Event::StoreUp);
        tracing::info!("shared token store is reachable again; using it");
    }
}

fn store_failed(inner: &Inner, label: &str, e: &StoreError) {
    inner.observer.event(label, Event::StoreError);
    inner.store_retry_at.store(
        inner.clock.now_ms() + inner.opts.store_retry.as_millis() as i64,
        Ordering::SeqCst,
    );
    if !inner.store_down.swap(true, Ordering::SeqCst) {
        inner.observer.event(label, Event::StoreDown);
        tracing::warn!(error = %e, "shared token store unavailable; using the in-memory cache until it returns");
    }
}
