//! State shared by the messages of a gateway, or by several gateways: rate counters
//! (`<throttle>`, `rate_limit`) and the response cache (`<cache>`). The engine reaches it only
//! through [`SharedState`]; [`MemoryState`] keeps it in this process (bounded), the gateway
//! implements it over Redis when `[redis]` is configured (ADR 0400).

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A fixed-window rate, the way Synapse's throttle counts a caller: the window starts at a
/// caller's first hit and admits `max` hits; the hit over the limit blocks the caller for
/// `block_ms` from that hit (`0`: until the window ends). The first hit after a block or after
/// the window starts a new window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub max: u64,
    pub window_ms: u64,
    pub block_ms: u64,
}

/// The outcome of one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub allowed: bool,
    /// Hits counted in the current window (this one included when allowed).
    pub count: u64,
    /// Epoch milliseconds when the window ends (allowed) or the block ends (refused).
    pub reset_at_ms: i64,
}

impl Hit {
    /// Hits left in the window after this one.
    pub fn remaining(&self, w: &Window) -> u64 {
        if self.allowed {
            w.max.saturating_sub(self.count)
        } else {
            0
        }
    }
}

/// A failure of the shared store (Redis unreachable, …). Carries no secret.
#[derive(Clone, Debug, thiserror::Error)]
#[error("shared state: {0}")]
pub struct StateError(pub String);

/// What the cache mediator saw (for the gateway's metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheEvent {
    Hit,
    Miss,
    Store,
}

/// Counters and the response cache, shared by every message (and, over Redis, by every
/// gateway using the same store).
#[async_trait]
pub trait SharedState: Send + Sync {
    /// Count one hit on `key` (atomic: concurrent hits are never lost).
    async fn hit(&self, key: &str, window: Window, now_ms: i64) -> Result<Hit, StateError>;
    /// A cached entry, if present and not expired.
    async fn cache_get(&self, key: &str) -> Result<Option<Bytes>, StateError>;
    /// Store an entry for `ttl_ms` milliseconds.
    async fn cache_put(&self, key: &str, value: Bytes, ttl_ms: u64) -> Result<(), StateError>;
    /// Store an entry of the cache named `cache`, which keeps at most `max_entries` entries
    /// (`<implementation maxSize>`): a new key stored into a full cache first evicts that
    /// cache's least recently used entry (read or stored); storing a key the cache holds
    /// replaces it and evicts nothing. The default ignores the limit.
    async fn cache_put_bounded(
        &self,
        cache: &str,
        key: &str,
        value: Bytes,
        ttl_ms: u64,
        max_entries: u64,
    ) -> Result<(), StateError> {
        let _ = (cache, max_entries);
        self.cache_put(key, value, ttl_ms).await
    }
    /// A cached entry of the cache named `cache`, which keeps a bounded number of entries
    /// (`<implementation maxSize>`): a hit makes it that cache's most recently used entry. The
    /// default reads it as [`SharedState::cache_get`] does.
    async fn cache_get_bounded(&self, cache: &str, key: &str) -> Result<Option<Bytes>, StateError> {
        let _ = cache;
        self.cache_get(key).await
    }
    /// A cache hit, miss or store (counted by the gateway's metrics).
    fn cache_event(&self, _event: CacheEvent) {}
    /// Append a message to the message store `queue` (newest last) unless it already holds
    /// `max_len` messages: `Ok(false)` then, and nothing is stored.
    async fn queue_push(&self, queue: &str, msg: Bytes, max_len: u64) -> Result<bool, StateError>;
    /// The oldest message of `queue`, left in place (a forwarding processor removes it once it
    /// is delivered).
    async fn queue_peek(&self, queue: &str) -> Result<Option<Bytes>, StateError>;
    /// Remove and return the oldest message of `queue`.
    async fn queue_pop(&self, queue: &str) -> Result<Option<Bytes>, StateError>;
    /// Messages held in `queue` (claimed ones included).
    async fn queue_len(&self, queue: &str) -> Result<u64, StateError>;
    /// Take the oldest message of `queue` for one consumer of several (`member.count`): it
    /// leaves the queue's order but stays held (counted by `queue_len` and by the bound of
    /// `queue_push`) under `claim`, a token unique to this claim, until acknowledged
    /// (`queue_ack`), released (`queue_release`: back at the oldest end) or until its lease of
    /// `lease_ms` lapses without `queue_renew` (its consumer died): claims whose lease lapsed go
    /// back to the oldest end first, so a later claim takes them again.
    async fn queue_claim(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<Option<Bytes>, StateError>;
    /// Extend a claim's lease; `false` when the claim is no longer held (its lease lapsed).
    async fn queue_renew(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<bool, StateError>;
    /// The claimed message was delivered: it leaves the store.
    async fn queue_ack(&self, queue: &str, claim: &str) -> Result<(), StateError>;
    /// The claimed message was not delivered: it goes back to the oldest end of the queue.
    async fn queue_release(&self, queue: &str, claim: &str) -> Result<(), StateError>;
}

/// One window step, shared by [`MemoryState`] and documented next to the Redis script (which
/// runs the same rule inside Redis).
pub(crate) fn step(st: Option<(i64, u64, i64)>, w: Window, now: i64) -> ((i64, u64, i64), Hit) {
    let win = w.window_ms as i64;
    if w.max == 0 {
        let s = st.unwrap_or((now, 0, 0));
        return (
            s,
            Hit {
                allowed: false,
                count: 0,
                reset_at_ms: now + win,
            },
        );
    }
    let fresh = |now: i64| {
        (
            (now, 1, 0),
            Hit {
                allowed: true,
                count: 1,
                reset_at_ms: now + win,
            },
        )
    };
    match st {
        None => fresh(now),
        Some((_, _, b)) if b > 0 && now >= b => fresh(now),
        Some((s, c, b)) if b > 0 => (
            (s, c, b),
            Hit {
                allowed: false,
                count: c,
                reset_at_ms: b,
            },
        ),
        Some((s, _, _)) if now >= s + win => fresh(now),
        Some((s, c, _)) if c < w.max => (
            (s, c + 1, 0),
            Hit {
                allowed: true,
                count: c + 1,
                reset_at_ms: s + win,
            },
        ),
        Some((s, c, _)) => {
            let b = if w.block_ms == 0 {
                s + win
            } else {
                now + w.block_ms as i64
            };
            (
                (s, c, b),
                Hit {
                    allowed: false,
                    count: c,
                    reset_at_ms: b,
                },
            )
        }
    }
}

/// One counter: window start, count, blocked until (epoch ms; 0 = not blocked).
type Slot = Arc<Mutex<(i64, u64, i64)>>;

/// A cached entry and when it expires.
#[derive(Clone)]
struct Entry {
    value: Bytes,
    /// Epoch milliseconds (the store's clock).
    expires_at: i64,
}

#[derive(Clone)]
struct EntryWeight;

impl quick_cache::Weighter<String, Entry> for EntryWeight {
    fn weight(&self, key: &String, val: &Entry) -> u64 {
        (key.len() + val.value.len() + 64) as u64
    }
}

/// Collects the keys one insertion pushed out of the cache. quick_cache reports the entry an
/// insertion replaces (the same key) as evicted too: [`MemoryState::cache_put`] counts only
/// the other keys.
#[derive(Clone, Default)]
struct Evicted;

impl quick_cache::Lifecycle<String, Entry> for Evicted {
    type RequestState = Vec<String>;
    fn begin_request(&self) -> Self::RequestState {
        Vec::new()
    }
    fn on_evict(&self, state: &mut Vec<String>, key: String, _val: Entry) {
        state.push(key);
    }
}

/// The entries of the caches with an entry limit (`<implementation maxSize>`), in the order
/// they were last used.
#[derive(Default)]
struct Lru {
    tick: u64,
    /// Entry key → its cache and its last use.
    keys: std::collections::HashMap<String, (Arc<str>, u64)>,
    /// Cache → last use → entry key (the first is the least recently used).
    order: std::collections::HashMap<Arc<str>, std::collections::BTreeMap<u64, String>>,
}

impl Lru {
    /// A read of `key`: it becomes the most recently used of its cache.
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((cache, last)) = self.keys.get_mut(key) {
            if let Some(o) = self.order.get_mut(cache) {
                o.remove(last);
                o.insert(tick, key.to_string());
            }
            *last = tick;
        }
    }

    /// `key` left the store (expired, or evicted to keep the store within its bytes).
    fn forget(&mut self, key: &str) {
        if let Some((cache, last)) = self.keys.remove(key) {
            if let Some(o) = self.order.get_mut(&cache) {
                o.remove(&last);
                if o.is_empty() {
                    self.order.remove(&cache);
                }
            }
        }
    }

    /// `key` is stored in `cache`: the keys to evict so that the cache holds at most `max`
    /// (its least recently used; none when `key` was already there).
    fn stored(&mut self, cache: &str, key: &str, max: u64) -> Vec<String> {
        if self.keys.get(key).is_some_and(|(c, _)| &**c == cache) {
            self.touch(key);
            return Vec::new();
        }
        self.forget(key);
        self.tick += 1;
        let name: Arc<str> = match self.order.get_key_value(cache) {
            Some((n, _)) => n.clone(),
            None => Arc::from(cache),
        };
        self.keys.insert(key.to_string(), (name.clone(), self.tick));
        let o = self.order.entry(name).or_default();
        o.insert(self.tick, key.to_string());
        let mut out = Vec::new();
        while o.len() as u64 > max {
            if let Some((_, k)) = o.pop_first() {
                self.keys.remove(&k);
                out.push(k);
            }
        }
        out
    }
}

/// A message store in memory: its messages in order, and those claimed by consumers (claim →
/// message and when its lease lapses).
#[derive(Default)]
struct Queue {
    items: std::collections::VecDeque<Bytes>,
    claims: std::collections::HashMap<String, (Bytes, i64)>,
}

impl Queue {
    fn len(&self) -> usize {
        self.items.len() + self.claims.len()
    }

    /// Claims whose lease lapsed go back to the oldest end.
    fn requeue_lapsed(&mut self, now: i64) {
        let lapsed: Vec<String> = self
            .claims
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in lapsed {
            if let Some((m, _)) = self.claims.remove(&k) {
                self.items.push_front(m);
            }
        }
    }
}

type EntryCache =
    quick_cache::sync::Cache<String, Entry, EntryWeight, quick_cache::DefaultHashBuilder, Evicted>;

/// Limits of [`MemoryState`].
#[derive(Clone, Copy, Debug)]
pub struct MemoryLimits {
    /// Counters kept at most (the least used go first; an evicted counter starts over).
    pub max_counters: usize,
    /// Bytes of cached responses kept at most (keys and bodies).
    pub max_cache_bytes: u64,
}

impl Default for MemoryLimits {
    fn default() -> Self {
        MemoryLimits {
            max_counters: 100_000,
            max_cache_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Counters and cache in this process, bounded (quick_cache: S3-FIFO eviction by weight);
/// expired entries are dropped when read, and pushed out by newer ones.
pub struct MemoryState {
    counters: quick_cache::sync::Cache<String, Slot>,
    /// Message stores: one FIFO per store, each bounded by the length its pushes give.
    queues: Mutex<std::collections::HashMap<String, Queue>>,
    cache: EntryCache,
    /// Entries evicted so far: to stay within the store's bytes, or within a cache's
    /// `maxSize`.
    evictions: AtomicU64,
    /// The caches with an entry limit.
    lru: Mutex<Lru>,
    events: Option<Arc<dyn Fn(CacheEvent) + Send + Sync>>,
    /// When cached entries expire.
    clock: Arc<dyn crate::Clock>,
}

impl std::fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryState")
            .field("counters", &self.counters.len())
            .field("cache_entries", &self.cache.len())
            .finish()
    }
}

impl Default for MemoryState {
    fn default() -> Self {
        MemoryState::new(MemoryLimits::default())
    }
}

impl MemoryState {
    pub fn new(limits: MemoryLimits) -> MemoryState {
        let items = (limits.max_cache_bytes / 4096).clamp(16, 1 << 20) as usize;
        MemoryState {
            counters: quick_cache::sync::Cache::new(limits.max_counters.max(16)),
            queues: Mutex::new(std::collections::HashMap::new()),
            cache: quick_cache::sync::Cache::with(
                items,
                limits.max_cache_bytes.max(1),
                EntryWeight,
                quick_cache::DefaultHashBuilder::default(),
                Evicted,
            ),
            evictions: AtomicU64::new(0),
            lru: Mutex::new(Lru::default()),
            events: None,
            clock: Arc::new(crate::SystemClock),
        }
    }

    /// Report cache hits, misses and stores to `f` (the gateway's metrics).
    pub fn with_events(mut self, f: Arc<dyn Fn(CacheEvent) + Send + Sync>) -> MemoryState {
        self.events = Some(f);
        self
    }

    /// Entries evicted from the cache so far, to keep it within its size or a cache within its
    /// `maxSize` (an entry replaced by a newer response for the same key is not one).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Queue>> {
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Insert, counting the other entries the insertion evicted.
    fn insert_entry(&self, key: &str, value: Bytes, ttl_ms: u64) {
        let expires_at = self
            .clock
            .now_ms()
            .saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX));
        let evicted = self
            .cache
            .insert_with_lifecycle(key.to_string(), Entry { value, expires_at });
        let others: Vec<&String> = evicted.iter().filter(|k| *k != key).collect();
        if !others.is_empty() {
            self.evictions
                .fetch_add(others.len() as u64, Ordering::Relaxed);
            let mut lru = self.lru();
            for k in others {
                lru.forget(k);
            }
        }
    }

    /// Counters held now.
    pub fn counters(&self) -> usize {
        self.counters.len()
    }

    /// Count one hit (synchronous: the lock is held for the step only).
    pub fn hit_now(&self, key: &str, window: Window, now_ms: i64) -> Hit {
        let slot = self
            .counters
            .get_or_insert_with(key, || {
                Ok::<_, std::convert::Infallible>(Arc::new(Mutex::new((0, 0, 0))))
            })
            .unwrap_or_else(|e| match e {});
        let mut g = slot.lock().unwrap_or_else(|p| p.into_inner());
        let prev = (g.0 != 0 || g.1 != 0 || g.2 != 0).then_some(*g);
        let (next, hit) = step(prev, window, now_ms);
        *g = next;
        hit
    }
}

#[async_trait]
impl SharedState for MemoryState {
    async fn hit(&self, key: &str, window: Window, now_ms: i64) -> Result<Hit, StateError> {
        Ok(self.hit_now(key, window, now_ms))
    }

    async fn cache_get(&self, key: &str) -> Result<Option<Bytes>, StateError> {
        match self.cache.get(key) {
            Some(e) if e.expires_at > self.clock.now_ms() => {
                self.lru().touch(key);
                Ok(Some(e.value))
            }
            Some(_) => {
                self.cache.remove(key);
                self.lru().forget(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn cache_put(&self, key: &str, value: Bytes, ttl_ms: u64) -> Result<(), StateError> {
        self.insert_entry(key, value, ttl_ms);
        Ok(())
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
        let out = self.lru().stored(cache, key, max_entries);
        for k in &out {
            if self.cache.remove(k.as_str()).is_some() {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.insert_entry(key, value, ttl_ms);
        Ok(())
    }

    fn cache_event(&self, event: CacheEvent) {
        if let Some(f) = &self.events {
            f(event);
        }
    }

    async fn queue_push(&self, queue: &str, msg: Bytes, max_len: u64) -> Result<bool, StateError> {
        let mut all = self.queues();
        let q = all.entry(queue.to_string()).or_default();
        if q.len() as u64 >= max_len {
            return Ok(false);
        }
        q.items.push_back(msg);
        Ok(true)
    }

    async fn queue_peek(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        let all = self.queues();
        Ok(all.get(queue).and_then(|q| q.items.front().cloned()))
    }

    async fn queue_pop(&self, queue: &str) -> Result<Option<Bytes>, StateError> {
        let mut all = self.queues();
        Ok(all.get_mut(queue).and_then(|q| q.items.pop_front()))
    }

    async fn queue_len(&self, queue: &str) -> Result<u64, StateError> {
        let all = self.queues();
        Ok(all.get(queue).map_or(0, |q| q.len() as u64))
    }

    async fn queue_claim(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<Option<Bytes>, StateError> {
        let now = self.clock.now_ms();
        let mut all = self.queues();
        let Some(q) = all.get_mut(queue) else {
            return Ok(None);
        };
        q.requeue_lapsed(now);
        let Some(m) = q.items.pop_front() else {
            return Ok(None);
        };
        let until = now.saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        q.claims.insert(claim.to_string(), (m.clone(), until));
        Ok(Some(m))
    }

    async fn queue_renew(
        &self,
        queue: &str,
        claim: &str,
        lease_ms: u64,
    ) -> Result<bool, StateError> {
        let until = self
            .clock
            .now_ms()
            .saturating_add(i64::try_from(lease_ms).unwrap_or(i64::MAX));
        let mut all = self.queues();
        Ok(
            match all.get_mut(queue).and_then(|q| q.claims.get_mut(claim)) {
                Some(c) => {
                    c.1 = until;
                    true
                }
                None => false,
            },
        )
    }

    async fn queue_ack(&self, queue: &str, claim: &str) -> Result<(), StateError> {
        if let Some(q) = self.queues().get_mut(queue) {
            q.claims.remove(claim);
        }
        Ok(())
    }

    async fn queue_release(&self, queue: &str, claim: &str) -> Result<(), StateError> {
        if let Some(q) = self.queues().get_mut(queue) {
            if let Some((m, _)) = q.claims.remove(claim) {
                q.items.push_front(m);
            }
        }
        Ok(())
    }
}

/// Messages in flight through the `<throttle>`s of one id (`MaximumConcurrentAccess`): local
/// to this process, as a permit held by the message until it is answered.
#[derive(Debug)]
pub(crate) struct Gate {
    limit: u64,
    in_use: AtomicU64,
}

/// A message's place in a [`Gate`]; dropping it (with the message) frees the place.
#[derive(Debug)]
pub(crate) struct Permit(Arc<Gate>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gate {
    /// The gate of `id` with `limit` places, shared by every `<throttle>` of that id (and kept
    /// across reloads while a message holds a permit).
    pub(crate) fn of(id: &str, limit: u64) -> Arc<Gate> {
        type Gates = Mutex<Vec<(String, u64, std::sync::Weak<Gate>)>>;
        static GATES: Gates = Mutex::new(Vec::new());
        let mut all = GATES.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|(_, _, w)| w.strong_count() > 0);
        if let Some(g) = all
            .iter()
            .find(|(i, l, _)| i == id && *l == limit)
            .and_then(|(_, _, w)| w.upgrade())
        {
            return g;
        }
        let g = Arc::new(Gate {
            limit,
            in_use: AtomicU64::new(0),
        });
        all.push((id.to_string(), limit, Arc::downgrade(&g)));
        g
    }

    /// A place, if one is free.
    pub(crate) fn try_acquire(self: &Arc<Gate>) -> Option<Permit> {
        let mut cur = self.in_use.load(Ordering::Acquire);
        loop {
            if cur >= self.limit {
                return None;
            }
            match self.in_use.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Permit(self.clone())),
                Err(now) => cur = now,
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn in_use(&self) -> u64 {
        self.in_use.load(Ordering::Acquire)
    }
}

/// What a `<cache collector="false">` leaves on a message it did not answer, for the
/// `<cache collector="true">` that stores the response.
#[derive(Debug)]
pub(crate) struct PendingStore {
    /// The store key (the cache's name and the request's hash).
    pub key: String,
    /// The cache's name (`id=`, else `default`).
    pub cache: String,
    /// `<implementation maxSize>`: entries the cache keeps at most.
    pub max_entries: Option<u64>,
    /// The request's method (only the listed methods' responses are stored).
    pub method: String,
    pub ttl_ms: u64,
    pub max_size: Option<u64>,
    pub methods: Arc<[String]>,
    pub codes: Option<Arc<regex::Regex>>,
    pub cache_control: bool,
    /// The stored response being revalidated (`no-cache` with an `ETag`): a `304` answers
    /// with it.
    pub revalidate: Option<Bytes>,
    pub age_header: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        max: 3,
        window_ms: 1000,
        block_ms: 0,
    };

    #[test]
    fn window_admits_max_then_blocks_until_its_end() {
        let m = MemoryState::default();
        let r: Vec<bool> = (0..5)
            .map(|i| m.hit_now("k", W, 10_000 + i).allowed)
            .collect();
        assert_eq!(r, [true, true, true, false, false]);
        let h = m.hit_now("k", W, 10_500);
        assert!(!h.allowed);
        assert_eq!(h.reset_at_ms, 11_000);
        // the window is over: a new one starts with this hit
        let h = m.hit_now("k", W, 11_000);
        assert!(h.allowed && h.count == 1 && h.reset_at_ms == 12_000);
        // other keys are counted apart
        assert!(m.hit_now("other", W, 10_100).allowed);
    }

    #[test]
    fn prohibit_period_blocks_from_the_refused_hit() {
        let w = Window {
            block_ms: 5000,
            ..W
        };
        let m = MemoryState::default();
        for i in 0..3 {
            assert!(m.hit_now("k", w, 1000 + i).allowed);
        }
        let h = m.hit_now("k", w, 1500);
        assert!(!h.allowed);
        assert_eq!(h.reset_at_ms, 6500);
        // past the window, still blocked
        assert!(!m.hit_now("k", w, 3000).allowed);
        // the block is over: a new window
        let h = m.hit_now("k", w, 6500);
        assert!(h.allowed && h.count == 1);
        // a shorter block than the window frees the caller early
        let w = Window {
            block_ms: 100,
            max: 1,
            window_ms: 10_000,
        };
        assert!(m.hit_now("s", w, 1).allowed);
        assert!(!m.hit_now("s", w, 2).allowed);
        assert!(m.hit_now("s", w, 102).allowed);
    }

    #[test]
    fn gate_admits_limit_and_frees_places_on_drop() {
        let g = Gate::of("gate-test", 2);
        let a = g.try_acquire().unwrap();
        let b = Gate::of("gate-test", 2).try_acquire().unwrap();
        assert!(g.try_acquire().is_none());
        drop(a);
        assert_eq!(g.in_use(), 1);
        let c = g.try_acquire();
        assert!(c.is_some());
        drop((b, c));
        assert_eq!(g.in_use(), 0);
    }

    #[test]
    fn zero_max_refuses_every_hit() {
        let m = MemoryState::default();
        let w = Window { max: 0, ..W };
        assert!(!m.hit_now("k", w, 5).allowed);
    }

    #[test]
    fn concurrent_hits_are_never_lost() {
        let m = Arc::new(MemoryState::default());
        let w = Window {
            max: 1000,
            window_ms: 60_000,
            block_ms: 0,
        };
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    (0..200)
                        .filter(|_| m.hit_now("k", w, 1_000).allowed)
                        .count()
                })
            })
            .collect();
        let allowed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(allowed, 1000);
    }

    #[test]
    fn counters_are_bounded() {
        let m = MemoryState::new(MemoryLimits {
            max_counters: 100,
            max_cache_bytes: 1 << 20,
        });
        for i in 0..10_000 {
            m.hit_now(&format!("k{i}"), W, 1);
        }
        assert!(m.counters() <= 200, "{} counters", m.counters());
    }

    /// Several consumers of one store: each claim takes a message no other claim holds; claimed
    /// messages stay counted until acknowledged; a released claim, or one whose lease lapsed,
    /// goes back to the oldest end.
    #[tokio::test]
    async fn claims_give_each_consumer_its_own_message_and_come_back_when_not_acknowledged() {
        let m = MemoryState::default();
        for i in 0..4u8 {
            assert!(m.queue_push("q", Bytes::from(vec![i]), 4).await.unwrap());
        }
        let a = m.queue_claim("q", "a", 60_000).await.unwrap().unwrap();
        let b = m.queue_claim("q", "b", 60_000).await.unwrap().unwrap();
        assert_eq!((a[0], b[0]), (0, 1));
        // still held: counted, and the bound counts them
        assert_eq!(m.queue_len("q").await.unwrap(), 4);
        assert!(!m
            .queue_push("q", Bytes::from_static(b"x"), 4)
            .await
            .unwrap());
        m.queue_ack("q", "a").await.unwrap();
        assert_eq!(m.queue_len("q").await.unwrap(), 3);
        // released: first again
        m.queue_release("q", "b").await.unwrap();
        assert_eq!(m.queue_peek("q").await.unwrap().unwrap()[0], 1);
        assert!(m.queue_renew("q", "c", 10).await.is_ok_and(|held| !held));
        // a lease that lapsed: the next claim takes the message back first
        let c = m.queue_claim("q", "c", 0).await.unwrap().unwrap();
        assert_eq!(c[0], 1);
        let d = m.queue_claim("q", "d", 60_000).await.unwrap().unwrap();
        assert_eq!(d[0], 1, "the lapsed claim came back first");
        assert!(!m.queue_renew("q", "c", 60_000).await.unwrap());
        assert!(m.queue_renew("q", "d", 60_000).await.unwrap());
        assert_eq!(
            m.queue_claim("q", "e", 60_000).await.unwrap().unwrap()[0],
            2
        );
        assert_eq!(
            m.queue_claim("q", "f", 60_000).await.unwrap().unwrap()[0],
            3
        );
        assert_eq!(m.queue_claim("q", "g", 60_000).await.unwrap(), None);
        assert_eq!(m.queue_claim("none", "g", 60_000).await.unwrap(), None);
    }

    #[tokio::test]
    async fn message_queues_are_fifo_per_store_and_bounded() {
        let m = MemoryState::default();
        for i in 0..3u8 {
            assert!(m.queue_push("a", Bytes::from(vec![i]), 3).await.unwrap());
        }
        // full: refused, nothing stored
        assert!(!m
            .queue_push("a", Bytes::from_static(b"x"), 3)
            .await
            .unwrap());
        assert!(m
            .queue_push("b", Bytes::from_static(b"b"), 3)
            .await
            .unwrap());
        assert_eq!(m.queue_len("a").await.unwrap(), 3);
        // peek leaves the oldest in place
        assert_eq!(
            m.queue_peek("a").await.unwrap().as_deref(),
            Some(&[0u8][..])
        );
        assert_eq!(m.queue_len("a").await.unwrap(), 3);
        let popped: Vec<u8> = [
            m.queue_pop("a").await.unwrap(),
            m.queue_pop("a").await.unwrap(),
            m.queue_pop("a").await.unwrap(),
        ]
        .into_iter()
        .map(|b| b.unwrap()[0])
        .collect();
        assert_eq!(popped, [0, 1, 2]);
        assert_eq!(m.queue_pop("a").await.unwrap(), None);
        assert_eq!(m.queue_len("b").await.unwrap(), 1);
        assert_eq!(m.queue_len("none").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn cache_expires_and_evicts_within_its_size() {
        let m = MemoryState::new(MemoryLimits {
            max_counters: 100,
            max_cache_bytes: 64 * 1024,
        });
        m.cache_put("a", Bytes::from_static(b"x"), 60_000)
            .await
            .unwrap();
        assert_eq!(m.cache_get("a").await.unwrap().as_deref(), Some(&b"x"[..]));
        m.cache_put("b", Bytes::from_static(b"y"), 0).await.unwrap();
        assert_eq!(m.cache_get("b").await.unwrap(), None);
        for i in 0..200 {
            m.cache_put(&format!("k{i}"), Bytes::from(vec![0u8; 1024]), 60_000)
                .await
                .unwrap();
        }
        assert!(m.evictions() > 0);
    }

    #[tokio::test]
    async fn a_bounded_cache_evicts_its_least_recently_used_entry() {
        let m = MemoryState::default();
        let put =
            |k: &'static str| m.cache_put_bounded("c", k, Bytes::from_static(b"v"), 60_000, 2);
        put("a").await.unwrap();
        put("b").await.unwrap();
        // a read makes `a` the most recently used: `b` goes first
        assert!(m.cache_get("a").await.unwrap().is_some());
        put("c").await.unwrap();
        assert!(m.cache_get("b").await.unwrap().is_none());
        assert!(m.cache_get("a").await.unwrap().is_some());
        assert!(m.cache_get("c").await.unwrap().is_some());
        assert_eq!(m.evictions(), 1);
        // storing a key the cache holds replaces it: nothing is evicted, nothing counted
        for _ in 0..5 {
            put("c").await.unwrap();
            put("a").await.unwrap();
        }
        assert_eq!(m.evictions(), 1);
        assert!(m.cache_get("a").await.unwrap().is_some());
        assert!(m.cache_get("c").await.unwrap().is_some());
        // another cache has its own limit; the unbounded store is not counted against it
        m.cache_put_bounded("other", "x", Bytes::from_static(b"v"), 60_000, 1)
            .await
            .unwrap();
        m.cache_put("free", Bytes::from_static(b"v"), 60_000)
            .await
            .unwrap();
        assert!(m.cache_get("a").await.unwrap().is_some());
        assert!(m.cache_get("x").await.unwrap().is_some());
        m.cache_put_bounded("other", "y", Bytes::from_static(b"v"), 60_000, 1)
            .await
            .unwrap();
        assert!(m.cache_get("x").await.unwrap().is_none());
        assert_eq!(m.evictions(), 2);
        // no entries at all
        m.cache_put_bounded("none", "z", Bytes::from_static(b"v"), 60_000, 0)
            .await
            .unwrap();
        assert!(m.cache_get("z").await.unwrap().is_none());
        assert_eq!(m.evictions(), 2);
    }

    #[tokio::test]
    async fn replacing_an_entry_is_not_an_eviction() {
        let m = MemoryState::default();
        for _ in 0..100 {
            m.cache_put("k", Bytes::from_static(b"v"), 60_000)
                .await
                .unwrap();
        }
        assert_eq!(m.evictions(), 0);
    }
}
