//! The engine's [`SharedState`] (rate counters of `<throttle>` and `rate_limit`, the response
//! cache of `<cache>`): in this process ([`MemoryState`], bounded), or in Redis when `[redis]` is
//! configured, so that every gateway using the same Redis shares the counters and the cache
//! (ADR 0400).
//!
//! * Keys: `<key_prefix>:state:<key>` (`throttle:…`, `rate:…`, `cache:<name>:<hash>`).
//! * A hit is one Lua script (`EVALSHA`, loaded on first use): read the window, step it, write
//!   it back with `PEXPIRE`, all atomic in Redis, so concurrent hits from any number of gateways
//!   are never lost. The script reads Redis's own clock (`TIME`), so gateways whose clocks
//!   differ still agree on the windows.
//! * Cache entries: `SET key value PX ttl`, `GET key`. A cache with `<implementation maxSize>`
//!   also keeps its entry keys in a sorted set by last use (`cache-lru:<name>`, ranked by the
//!   counter `cache-lru-tick:<name>`); storing and reading are each one script that keeps the
//!   cache within its size for every gateway of that Redis (ADR 0511).
//! * Message stores: one list per store, `<key_prefix>:state:queue:<store>`; a stored message
//!   is pushed on the left by a script that checks the length first (`LLEN`, `LPUSH`), the
//!   oldest is read with `LINDEX -1` and removed with `RPOP` (ADR 0480). Consumers of a
//!   processor with `member.count` above 1 claim messages: a script moves the oldest into the
//!   store's hash of claims (`queue-claims:<store>`) with a lease in a sorted set
//!   (`queue-leases:<store>`, Redis's clock); acknowledging deletes it, releasing or a lapsed
//!   lease puts it back at the oldest end (ADR 0510).
//! * Connected when the gateway starts; every operation has a 1 s timeout (3 s to connect); a
//!   failure drops the connection so the next one reconnects. Never `KEYS`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::ConnectionManager;
use synaptic_engine::{CacheEvent, Hit, MemoryState, SharedState, StateError, Window};

use crate::backend_auth::config::{redact_url, RedisSettings};
use crate::metrics;

/// One window step inside Redis: the same rule as the engine's in-memory step (a window from
/// the first hit admitting `max` hits; the hit over the limit blocks for `block` ms from it, or
/// until the window ends when `block` is 0; a hit after the block or the window starts anew).
/// Fields: `s` window start, `c` count, `b` blocked until (0: not blocked). Returns
/// `{allowed, count, reset_at_ms}`.
const HIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local block = tonumber(ARGV[3])
if max <= 0 then
  return {0, 0, now + win}
end
local v = redis.call('HMGET', KEYS[1], 's', 'c', 'b')
local s = tonumber(v[1])
local c = tonumber(v[2]) or 0
local b = tonumber(v[3]) or 0
local allowed = 1
if s == nil or (b > 0 and now >= b) or (b == 0 and now >= s + win) then
  s = now
  c = 1
  b = 0
elseif b > 0 then
  allowed = 0
elseif c < max then
  c = c + 1
else
  allowed = 0
  if block == 0 then b = s + win else b = now + block end
end
redis.call('HSET', KEYS[1], 's', s, 'c', c, 'b', b)
local reset = s + win
if b > 0 then reset = b end
redis.call('PEXPIRE', KEYS[1], math.max(reset - now, 1) + 1000)
return {allowed, c, reset}";

/// Append a message to a store's list unless it holds `ARGV[2]` messages already (newest at
/// the left: `LPUSH`, the oldest taken with `RPOP`). Returns 1 when stored, 0 when full.
/// Claimed messages count: `KEYS[2]` is the store's hash of claims.
const PUSH: &str = r"
if redis.call('LLEN', KEYS[1]) + redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1";

/// Lapsed claims back to the oldest end (`RPUSH`), at most 100 per call. `KEYS`: the list, the
/// hash of claims (claim → message), the sorted set of leases (claim → when it lapses, Redis's
/// clock in ms). Shared by the claim and release scripts.
const REQUEUE_LAPSED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)
for i = #lapsed, 1, -1 do
  local m = redis.call('HGET', KEYS[2], lapsed[i])
  if m then redis.call('RPUSH', KEYS[1], m) end
  redis.call('HDEL', KEYS[2], lapsed[i])
  redis.call('ZREM', KEYS[3], lapsed[i])
end
";

/// Claim the oldest message for `ARGV[1]` with a lease of `ARGV[2]` ms; nil when empty.
const CLAIM: &str = r"
local m = redis.call('RPOP', KEYS[1])
if not m then return false end
redis.call('HSET', KEYS[2], ARGV[1], m)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
return m";

/// Extend the lease of `ARGV[1]` by `ARGV[2]` ms from now; 0 when it is no longer held.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
return 1";

/// Acknowledge (`ARGV[2]` = 0: the message leaves the store) or release (1: back to the oldest
/// end) the claim `ARGV[1]`.
const SETTLE: &str = r"
local m = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if m and ARGV[2] == '1' then redis.call('RPUSH', KEYS[1], m) end
return 1";

/// Store an entry of a cache with an entry limit (`<implementation maxSize>`) and keep that
/// cache within it, atomically: `KEYS` the entry, the cache's sorted set of entry keys by last
/// use, its use counter; `ARGV` the value, the time to live (ms), the limit. The entry becomes
/// the most recently used; a key the cache did not hold then pushes out the least recently used
/// keys until the set holds the limit. Returns the entries evicted (a key whose entry had
/// already expired leaves the set without counting).
const PUT_BOUNDED: &str = r"
local tick = redis.call('INCR', KEYS[3])
local held = redis.call('ZSCORE', KEYS[2], KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tick, KEYS[1])
local evicted = 0
if not held then
  local max = tonumber(ARGV[3])
  local over = redis.call('ZCARD', KEYS[2]) - max
  if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, over - 1)
    for _, k in ipairs(oldest) do
      redis.call('ZREM', KEYS[2], k)
      evicted = evicted + redis.call('DEL', k)
    end
  end
end
return evicted";

/// Read an entry of a cache with an entry limit: a hit becomes the most recently used
/// (`ZADD XX`), a key whose entry expired leaves the set. `KEYS` as [`PUT_BOUNDED`]'s.
const GET_BOUNDED: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  local tick = redis.call('INCR', KEYS[3])
  redis.call('ZADD', KEYS[2], 'XX', tick, KEYS[1])
else
  redis.call('ZREM', KEYS[2], KEYS[1])
end
return v";

/// Cache hits, misses and stores, and evictions of the in-memory cache.
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    hits: metrics::Counter,
    misses: metrics::Counter,
    stores: metrics::Counter,
    /// Entries evicted from Redis to keep a cache within its `maxSize` (counted by the gateway
    /// whose store evicted them); in memory the store counts its own evictions.
    evictions: Option<metrics::Counter>,
}

impl CacheMetrics {
    pub fn new(m: &metrics::Registry) -> CacheMetrics {
        CacheMetrics {
            hits: m.counter(
                "synaptic_cache_hits_total",
                "Requests the <cache> mediator answered from the cache",
                &[],
            ),
            misses: m.counter(
                "synaptic_cache_misses_total",
                "Requests the <cache> mediator did not find in the cache",
                &[],
            ),
            stores: m.counter(
                "synaptic_cache_stores_total",
                "Responses a collector <cache> stored",
                &[],
            ),
            evictions: None,
        }
    }

    /// Count evictions here (the Redis store).
    fn with_evictions(mut self, m: &metrics::Registry) -> CacheMetrics {
        self.evictions = Some(m.counter(
            "synaptic_cache_evictions_total",
            "Entries this gateway evicted from the shared (Redis) response cache to keep a cache \
             within its maxSize",
            &[],
        ));
        self
    }

    pub fn record(&self, e: CacheEvent) {
        match e {
            CacheEvent::Hit => self.hits.inc(),
            CacheEvent::Miss => self.misses.inc(),
            CacheEvent::Store => self.stores.inc(),
        }
    }
}

/// Redis-backed [`SharedState`].
pub struct RedisState {
    redis: crate::redis_conn::RedisConn,
    prefix: String,
    redacted_url: String,
    hit: redis::Script,
    push: redis::Script,
    claim: redis::Script,
    renew: redis::Script,
    settle: redis::Script,
    put_bounded: redis::Script,
    get_bounded: redis::Script,
    metrics: CacheMetrics,
}

impl std::fmt::Debug for RedisState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisState")
            .field("url", &self.redacted_url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn err(e: impl std::fmt::Display) -> StateError {
    StateError(e.to_string())
}

impl RedisState {
    /// A store for `[redis]` (not connected yet: the first operation connects).
    pub fn new(r: &RedisSettings, metrics: CacheMetrics) -> Result<RedisState, StateError> {
        let client = redis::Client::open(r.url.as_str())
            .map_err(|_| StateError(format!("invalid redis url {}", redact_url(&r.url))))?;
        let prefix = r.key_prefix.clone().unwrap_or_else(|| "synaptic".into());
        Ok(RedisState {
            redis: crate::redis_conn::RedisConn::new(
                client,
                Duration::from_millis(1000),
                Duration::from_millis(3000),
            ),
            prefix: format!("{prefix}:state"),
            redacted_url: redact_url(&r.url),
            hit: redis::Script::new(HIT),
            push: redis::Script::new(PUSH),
            claim: redis::Script::new(&format!("{REQUEUE_LAPSED}{CLAIM}")),
            renew: redis::Script::new(RENEW),
            settle: redis::Script::new(SETTLE),
            put_bounded: redis::Script::new(PUT_BOUNDED),
            get_bounded: redis::Script::new(GET_BOUNDED),
            metrics,
        })
    }

    fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.prefix)
    }

    /// A bounded cache's entry, its sorted set of entry keys by last use and its use counter.
    fn cache_lru_keys(&self, cache: &str, key: &str) -> [String; 3] {
        [
            self.key(key),
            self.key(&format!("cache-lru:{cache}")),
            self.key(&format!("cache-lru-tick:{cache}")),
        ]
    }

    /// A store's list, its hash of claims and its sorted set of leases.
    fn queue_keys(&self, queue: &str) -> [String; 3] {
        [
            self.key(&format!("queue:{queue}")),
            self.key(&format!("queue-claims:{queue}")),
            self.key(&format!("queue-leases:{queue}")),
        ]
    }

    async fn settle(&self, queue: &str, claim: &str, release: bool) -> Result<(), StateError> {
        let _: i64 = self
            .claim_script(&self.settle, queue, claim, u64::from(release))
            .await?;
        Ok(())
    }

    /// One of the queue's claim scripts on its keys, with the claim and one number (a lease in
    /// milliseconds, or whether to release).
    async fn claim_script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        queue: &str,
        claim: &str,
        n: u64,
    ) -> Result<T, StateError> {
        let keys = self.queue_keys(queue);
        let claim = claim.to_string();
        self.run(|mut c| async move {
            script
                .key(&keys[..])
                .arg(claim)
                .arg(n)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StateError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.redis.run(op).await.map_err(err)
    }
}

#[async_trait]
impl SharedState for RedisState {
    async fn hit(&self, key: &str, w: Window, _now_ms: i64) -> Result<Hit, StateError> {
        let k = self.key(key);
        let script = &self.hit;
        let (allowed, count, reset): (i64, i64, i64) = self
            .run(|mut c| async move {
                script
                    .key(k)
                    .arg(w.max)
                    .arg(w.window_ms)
                    .arg(w.block_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(Hit {
            allowed: allowed == 1,
            count: count.max(0) as u64,
            reset_at_ms: reset,
        })
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Bytes>, StateError> {
        let k = self.key(key);
        let v: Option<Vec<u8>> = self
            .run(|mut c| async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn cache_put(&self, key: &str, value: Bytes, ttl_ms: u64) -> Result<(), StateError> {
        let k = self.key(key);
        let ms = ttl_ms.max(1);
        self.run(|mut c| async move {
            redis::cmd("SET")
                .arg(k)
                .arg(value.as_ref())
                .arg("PX")
                .arg(ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    async fn cache_put_bounded(
        &self,
        cache: &str,
        key: &str,
        value: Bytes,
        ttl_ms: u64,
        max_entries: u64,
    ) -> Result<(), StateError> {
        if max_entries == 0 {
            // a cache of no entries keeps nothing
            return Ok(());
        }
        let keys = self.cache_lru_keys(cache, key);
        let script = &self.put_bounded;
        let ms = ttl_ms.max(1);
        let evicted: u64 = self
            .run(|mut c| async move {
                script
                    .key(&keys[..])
                    .arg(value.as_ref())
                    .arg(ms)
                    .arg(max_entries)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if let (Some(c), true) = (&self.metrics.evictions, evicted > 0) {
            c.add(evicted);
        }
        Ok(())
    }

    async fn cache_get_bounded(&self, cache: &str, key: &str) -> Result<Option<Bytes>, StateError> {
        let keys = self.cache_lru_keys(cache, key);
        let script = &self.get_bounded;
        let v: Option<Vec<u8>> = self
            .run(|mut c| async move { script.key(&keys[..]).invoke_async(&mut c).await })
            .await?;
        Ok(v.map(Bytes::from))
    }

    fn cache_event(&self, e: CacheEvent) {
        self.metrics.record(e);
    }

    async fn queue_push(&self, queue: &str, msg: Bytes, max_len: u64) -> Result<bool, StateError> {
        let [list, claims, _] = self.queue_keys(queue);
        let script = &self.push;
        let stored: i64 = self
            .run(|mut c| async move {
                script
                    .key(list)
                    .key(claims)
                    .arg(msg.as_ref())
                    .arg(max_len)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(stored == 1)
    }

    async fn queue_peek(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        let k = self.key(&format!("queue:{queue}"));
        let v: Option<Vec<u8>> = self
            .run(|mut c| async move {
                redis::cmd("LINDEX")
                    .arg(k)
                    .arg(-1)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn queue_pop(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        let k = self.key(&format!("queue:{queue}"));
        let v: Option<Vec<u8>> = self
            .run(|mut c| async move { redis::cmd("RPOP").arg(k).query_async(&mut c).await })
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn queue_len(&self, queue: &str) -> Result<u64, StateError> {
        let [list, claims, _] = self.queue_keys(queue);
        let (l, h): (u64, u64) = self
            .run(|mut c| async move {
                redis::pipe()
                    .cmd("LLEN")
                    .arg(list)
                    .cmd("HLEN")
                    .arg(claims)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(l + h)
    }

    async fn queue_claim(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<Option<Bytes>, StateError> {
        let v: Option<Vec<u8>> = self
            .claim_script(&self.claim, queue, claim, lease_ms)
            .await?;
        Ok(v.map(Bytes::from))
    }

    async fn queue_renew(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<bool, StateError> {
        let held: i64 = self
            .claim_script(&self.renew, queue, claim, lease_ms)
            .await?;
        Ok(held == 1)
    }

    async fn queue_ack(&self, queue: &str, claim: &str) -> Result<(), StateError> {
        self.settle(queue, claim, false).await
    }

    async fn queue_release(&self, queue: &str, claim: &str) -> Result<(), StateError> {
        self.settle(queue, claim, true).await
    }
}

/// The shared state the configuration asks for: Redis with `[redis]`, else memory. Registers
/// the cache metrics (and, in memory, the evictions) in `m`.
pub fn build(
    redis: Option<&RedisSettings>,
    m: &metrics::Registry,
) -> Result<Arc<dyn SharedState>, StateError> {
    let cm = CacheMetrics::new(m);
    match redis {
        Some(r) => {
            let state = Arc::new(RedisState::new(r, cm.with_evictions(m))?);
            // connect now, not under the first burst of requests (a failure is retried then)
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let s = state.clone();
                rt.spawn(async move {
                    if let Err(e) = s.redis.connection().await {
                        tracing::warn!(error = %e, "redis (shared state) not reachable yet");
                    }
                });
            }
            Ok(state)
        }
        None => {
            let mem = Arc::new(MemoryState::default().with_events(Arc::new(move |e| cm.record(e))));
            let weak = Arc::downgrade(&mem);
            m.gauge_fn(
                "synaptic_cache_evictions_total",
                "Entries the in-memory response cache evicted to stay within its size",
                &[],
                move || weak.upgrade().map_or(0.0, |s| s.evictions() as f64),
            );
            Ok(mem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_state_counts_cache_events_in_metrics() {
        let m = metrics::Registry::new();
        let s = build(None, &m).unwrap();
        s.cache_event(CacheEvent::Hit);
        s.cache_event(CacheEvent::Miss);
        s.cache_event(CacheEvent::Miss);
        let text = m.render();
        assert!(text.contains("synaptic_cache_hits_total 1"), "{text}");
        assert!(text.contains("synaptic_cache_misses_total 2"), "{text}");
        assert!(text.contains("synaptic_cache_evictions_total 0"), "{text}");
    }
}
