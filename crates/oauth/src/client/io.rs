//! The outside world of the token client, as traits: the token HTTP call, the shared (L2)
//! token store and the clock. The gateway implements them with reqwest and Redis; tests use
//! the in-memory [`MemoryStore`] and scripted fetchers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::response::TokenHttpResponse;
use super::secret::Secret;
use super::spec::{CacheKey, TokenHttpRequest};

/// Sends a token request (a form POST). Implementations must not log bodies or headers.
#[async_trait]
pub trait TokenHttp: Send + Sync + std::fmt::Debug {
    async fn post_form(&self, req: TokenHttpRequest) -> Result<TokenHttpResponse, TransportError>;
    /// Wrap a token fetch that runs in its own task on behalf of the calling task (called in
    /// the caller, before the task starts): e.g. to carry the caller's trace context into it.
    /// Default: unchanged.
    fn fetch_task(
        &self,
        fetch: futures::future::BoxFuture<'static, ()>,
    ) -> futures::future::BoxFuture<'static, ()> {
        fetch
    }
}

/// A token request that got no HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("timed out")]
    Timeout,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("response too large")]
    TooLarge,
    #[error("{0}")]
    Other(String),
}

/// Epoch milliseconds. Absolute times are shared through the L2 store between gateways, so
/// they are wall-clock based; tests use [`TokioClock`] so `tokio::time::pause()` controls them.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

/// The system wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Wall-clock time at creation plus tokio's monotonic time since: follows
/// `tokio::time::pause()`/`advance()` in tests.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    base_ms: i64,
    base: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        TokioClock {
            base_ms: SystemClock.now_ms(),
            base: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + self.base.elapsed().as_millis() as i64
    }
}

/// A token as kept in the shared store.
#[derive(Clone, Debug)]
pub struct StoredToken {
    pub access_token: Secret,
    pub token_type: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
    pub refresh_token: Option<Secret>,
}

impl StoredToken {
    /// Short SHA-256 fingerprint of the access token (what compare-and-delete compares).
    pub fn fingerprint(&self) -> String {
        self.access_token.fingerprint()
    }

    /// The plaintext record (JSON) to seal before storing. Zeroized on drop.
    pub fn encode(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let v = serde_json::json!({
            "at": self.access_token.expose(),
            "tt": self.token_type,
            "iat": self.issued_at_ms,
            "exp": self.expires_at_ms,
            "rt": self.refresh_token.as_ref().map(|r| r.expose()),
        });
        zeroize::Zeroizing::new(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// Inverse of [`StoredToken::encode`]; `None` for anything malformed.
    pub fn decode(bytes: &[u8]) -> Option<StoredToken> {
        let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let at = v.get("at")?.as_str()?;
        if at.is_empty() {
            return None;
        }
        Some(StoredToken {
            access_token: Secret::new(at),
            token_type: v.get("tt")?.as_str()?.to_string(),
            issued_at_ms: v.get("iat")?.as_i64()?,
            expires_at_ms: v.get("exp")?.as_i64()?,
            refresh_token: v
                .get("rt")
                .and_then(|r| r.as_str())
                .filter(|r| !r.is_empty())
                .map(Secret::new),
        })
    }
}

/// A shared-store failure (connection lost, timeout, bad data).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("token store: {0}")]
pub struct StoreError(pub String);

/// The shared (L2) token store, with a lease lock for distributed single flight.
#[async_trait]
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    async fn load(&self, key: &CacheKey) -> Result<Option<StoredToken>, StoreError>;
    /// Store `token` for `ttl` (the store drops it afterwards).
    async fn save(
        &self,
        key: &CacheKey,
        token: &StoredToken,
        ttl: Duration,
    ) -> Result<(), StoreError>;
    /// Delete the stored token only if its fingerprint is `fingerprint`.
    async fn remove_if(&self, key: &CacheKey, fingerprint: &str) -> Result<bool, StoreError>;
    /// Take the fetch lock for `lease` if nobody holds it (`SET NX PX`).
    async fn try_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Extend a lock this owner still holds.
    async fn renew_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError>;
    /// Release a lock this owner still holds (compare-and-delete).
    async fn unlock(&self, key: &CacheKey, owner: &str) -> Result<(), StoreError>;
}

// === impl MemoryStore ===

/// An in-memory [`TokenStore`] (one process; tests share one between two managers to stand in
/// for two gateways on one Redis). It can be switched "down" to test degradation.
#[derive(Debug)]
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    inner: Mutex<MemoryInner>,
    down: AtomicBool,
    pub saves: AtomicU64,
    pub lock_grants: AtomicU64,
}

#[derive(Debug, Default)]
struct MemoryInner {
    tokens: HashMap<String, (StoredToken, i64)>,
    locks: HashMap<String, (String, i64)>,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> MemoryStore {
        MemoryStore {
            clock,
            inner: Mutex::new(MemoryInner::default()),
            down: AtomicBool::new(false),
            saves: AtomicU64::new(0),
            lock_grants: AtomicU64::new(0),
        }
    }

    /// Make every operation fail (true) or work again (false).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn guard(&self) -> Result<std::sync::MutexGuard<'_, MemoryInner>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError("connection refused".into()));
        }
        Ok(self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn load(&self, key: &CacheKey) -> Result<Option<StoredToken>, StoreError> {
        let now = self.clock.now_ms();
        let g = self.guard()?;
        Ok(g.tokens
            .get(key.as_str())
            .filter(|(_, until)| *until > now)
            .map(|(t, _)| t.clone()))
    }

    async fn save(
        &self,
        key: &CacheKey,
        token: &StoredToken,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let until = self.clock.now_ms() + ttl.as_millis() as i64;
        self.guard()?
            .tokens
            .insert(key.as_str().to_string(), (token.clone(), until));
        self.saves.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn remove_if(&self, key: &CacheKey, fingerprint: &str) -> Result<bool, StoreError> {
        let mut g = self.guard()?;
        let matches = g
            .tokens
            .get(key.as_str())
            .is_some_and(|(t, _)| t.fingerprint() == fingerprint);
        if matches {
            g.tokens.remove(key.as_str());
        }
        Ok(matches)
    }

    async fn try_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.guard()?;
        if g.locks
            .get(key.as_str())
            .is_some_and(|(_, until)| *until > now)
        {
            return Ok(false);
        }
        g.locks.insert(
            key.as_str().to_string(),
            (owner.to_string(), now + lease.as_millis() as i64),
        );
        self.lock_grants.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }

    async fn renew_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let mut g = self.guard()?;
        match g.locks.get_mut(key.as_str()) {
            Some((o, until)) if o == owner && *until > now => {
                *until = now + lease.as_millis() as i64;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, key: &CacheKey, owner: &str) -> Result<(), StoreError> {
        let mut g = self.guard()?;
        if g.locks.get(key.as_str()).is_some_and(|(o, _)| o == owner) {
            g.locks.remove(key.as_str());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_token_round_trips_and_rejects_garbage() {
        let t = StoredToken {
            access_token: Secret::new("at"),
            token_type: "Bearer".into(),
            issued_at_ms: 1,
            expires_at_ms: 2,
            refresh_token: Some(Secret::new("rt")),
        };
        let back = StoredToken::decode(&t.encode()).unwrap();
        assert_eq!(back.access_token, t.access_token);
        assert_eq!(back.refresh_token, t.refresh_token);
        assert_eq!((back.issued_at_ms, back.expires_at_ms), (1, 2));
        assert!(StoredToken::decode(b"{}").is_none());
        assert!(StoredToken::decode(b"\xff").is_none());
        assert!(!format!("{t:?}").contains("\"at\""));
    }
}
