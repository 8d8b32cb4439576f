//! The shared (L2) token store on Redis (`redis` crate, `ConnectionManager`).
//!
//! * Keys: `<prefix>:v1:<cache key>` (the cache key is already SHA-256 over token URL, grant,
//!   client, credential digest, username, scopes, parameters, auth method) and `…:lock`.
//! * Values: sealed with ChaCha20-Poly1305 ([`Sealer`]); TTL = expires_in − skew (`PX`).
//! * Lock: `SET lock owner NX PX lease`; renewal and release compare the owner in Lua.
//! * Connection: made lazily and re-made after failures; every operation has a short timeout so
//!   a dead Redis costs a request at most that (the token manager then uses its memory cache).
//!   Never `KEYS`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::ConnectionManager;
use synaptic_oauth::client::{CacheKey, StoreError, StoredToken, TokenStore};

use super::seal::Sealer;

const REMOVE_IF: &str = r"
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

/// Redis-backed [`TokenStore`].
pub struct RedisTokenStore {
    redis: crate::redis_conn::RedisConn,
    prefix: String,
    sealer: Sealer,
    redacted_url: String,
    scripts: Arc<Scripts>,
}

struct Scripts {
    remove_if: redis::Script,
    renew: redis::Script,
    unlock: redis::Script,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("url", &self.redacted_url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl RedisTokenStore {
    /// A store for `url` (not connected yet: the first operation connects).
    pub fn new(url: &str, prefix: &str, sealer: Sealer) -> Result<RedisTokenStore, StoreError> {
        let client = redis::Client::open(url).map_err(|_| {
            StoreError(format!(
                "invalid redis url {}",
                super::config::redact_url(url)
            ))
        })?;
        Ok(RedisTokenStore {
            // a dead Redis costs a request at most this (the memory cache takes over)
            redis: crate::redis_conn::RedisConn::new(
                client,
                Duration::from_millis(500),
                Duration::from_millis(1000),
            ),
            prefix: prefix.to_string(),
            sealer,
            redacted_url: super::config::redact_url(url),
            scripts: Arc::new(Scripts {
                remove_if: redis::Script::new(REMOVE_IF),
                renew: redis::Script::new(RENEW),
                unlock: redis::Script::new(UNLOCK),
            }),
        })
    }

    pub fn token_key(&self, key: &CacheKey) -> String {
        format!("{}:v1:{}", self.prefix, key.as_str())
    }

    fn lock_key(&self, key: &CacheKey) -> String {
        format!("{}:v1:{}:lock", self.prefix, key.as_str())
    }

    /// Run one operation within the operation timeout.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.redis.run(op).await.map_err(err)
    }
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn load(&self, key: &CacheKey) -> Result<Option<StoredToken>, StoreError> {
        let k = self.token_key(key);
        let v: Option<String> = self
            .run(|mut c| async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await?;
        let Some(v) = v else { return Ok(None) };
        // A value that does not open (other key, tampered, other version) is no token.
        Ok(self
            .sealer
            .open(key, &v)
            .and_then(|plain| StoredToken::decode(&plain)))
    }

    async fn save(
        &self,
        key: &CacheKey,
        token: &StoredToken,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let plain = token.encode();
        let value = self
            .sealer
            .seal(key, &token.fingerprint(), &plain)
            .ok_or_else(|| StoreError("sealing failed".into()))?;
        let k = self.token_key(key);
        let ms = ttl.as_millis().max(1) as u64;
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(k)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn remove_if(&self, key: &CacheKey, fingerprint: &str) -> Result<bool, StoreError> {
        let k = self.token_key(key);
        let prefix = Sealer::value_prefix(fingerprint);
        let scripts = self.scripts.clone();
        let n: i64 = self
            .run(|mut c| async move {
                scripts
                    .remove_if
                    .key(k)
                    .arg(prefix)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(n > 0)
    }

    async fn try_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let k = self.lock_key(key);
        let owner = owner.to_string();
        let ms = lease.as_millis().max(1) as u64;
        let r: Option<String> = self
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(k)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(r.is_some())
    }

    async fn renew_lock(
        &self,
        key: &CacheKey,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let k = self.lock_key(key);
        let owner = owner.to_string();
        let ms = lease.as_millis().max(1) as u64;
        let scripts = self.scripts.clone();
        let n: i64 = self
            .run(|mut c| async move {
                scripts
                    .renew
                    .key(k)
                    .arg(owner)
                    .arg(ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(n > 0)
    }

    async fn unlock(&self, key: &CacheKey, owner: &str) -> Result<(), StoreError> {
        let k = self.lock_key(key);
        let owner = owner.to_string();
        let scripts = self.scripts.clone();
        let _: i64 = self
            .run(|mut c| async move { scripts.unlock.key(k).arg(owner).invoke_async(&mut c).await })
            .await?;
        Ok(())
    }
}
