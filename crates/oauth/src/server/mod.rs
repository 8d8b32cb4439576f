//! The authorization server: clients, grants, codes, PKCE, refresh families, hashed token
//! store, scope policy and consent. No I/O: storage comes in through [`Store`], time through
//! [`Clock`]; the gateway's `authserver` module puts HTTP around it.

mod authorize;
pub mod dpop;
mod error;
pub mod gate;
mod grants;
pub mod jwt;
mod model;
pub mod pkce;
pub mod policy;
pub mod secret;
mod store;

#[cfg(test)]
mod tests;

pub use authorize::{AuthorizeError, AuthorizeRequest, ResponseType};
pub use error::{ErrorCode, OAuthError, StoreError};
pub use grants::{ClientCredentials, DpopRequest, Introspection, TokenResponse};
pub use model::{
    parse_scope, scope_string, Client, CodeRecord, Consume, Family, GrantType, TokenKind,
    TokenRecord, User, MAX_SCOPES, MAX_SCOPE_LEN,
};
pub use policy::{ApiPolicy, Decision, ResourceRule, UriTemplate};
pub use secret::Secret;
pub use store::{MemoryStore, Store};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(pub std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn new(t: i64) -> Self {
        ManualClock(std::sync::atomic::AtomicI64::new(t))
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A scope the server knows, with the description shown on the approval page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: String,
    pub description: String,
}

/// Server-wide settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Lifetime of authorization codes (≤ 600 s).
    pub code_lifetime: i64,
    /// Lifetime of refresh tokens; `-1` = never (refresh tokens of never-expiring clients never
    /// expire either).
    pub refresh_token_lifetime: i64,
    /// Failed password-grant logins of one user before a lockout.
    pub max_login_failures: u32,
    /// Lockout (and failure window) in seconds.
    pub lockout_secs: i64,
    /// Known scopes; an empty list accepts any scope a client is allowed.
    pub scopes: Vec<ScopeDef>,
    /// Bounds of the slow password hashes ([`gate::HashGate`]).
    pub hashing: gate::GateLimits,
    /// Opaque (default) or JWT access tokens.
    pub token_format: jwt::TokenFormat,
    /// Algorithm of generated signing keys.
    pub signing_alg: jwt::SigningAlg,
    /// Seconds a signing key signs before a new one replaces it.
    pub key_rotation_secs: i64,
    /// `aud` of tokens issued without a resource indicator; `None` = the issuer.
    pub default_audience: Option<String>,
    /// Contexts of the secured APIs: `issuer + context` is a resource identifier (RFC 8707).
    pub resources: Vec<String>,
    /// The issuer (shared with the HTTP endpoints, which learn the listen address).
    pub issuer: Arc<jwt::IssuerCell>,
    /// Allow the password and implicit grants (OAuth 2.1 removed them) for clients that list
    /// them.
    pub legacy_grants: bool,
    /// Seconds a DPoP proof is accepted around its `iat`.
    pub dpop_window: i64,
    /// DPoP proof `jti`s remembered at once (replay cache bound).
    pub dpop_replay_max: usize,
    /// JWT access tokens kept validated at once ([`jwt::ValidatedCache`]; `0` = no cache).
    pub jwt_cache_entries: usize,
    /// Require DPoP proofs to carry a server-provided nonce (RFC 9449 §8, §9), at the token
    /// endpoint and at secured APIs.
    pub dpop_nonce: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            code_lifetime: 600,
            refresh_token_lifetime: 14 * 24 * 3600,
            max_login_failures: 5,
            lockout_secs: 900,
            scopes: Vec::new(),
            hashing: gate::GateLimits::default(),
            token_format: jwt::TokenFormat::Opaque,
            signing_alg: jwt::SigningAlg::Es256,
            key_rotation_secs: 30 * 24 * 3600,
            default_audience: None,
            resources: Vec::new(),
            issuer: Arc::new(jwt::IssuerCell::default()),
            legacy_grants: false,
            dpop_window: 60,
            dpop_replay_max: 1_000_000,
            jwt_cache_entries: jwt::DEFAULT_CACHE_ENTRIES,
            dpop_nonce: false,
        }
    }
}

/// The authorization server.
#[derive(Debug)]
pub struct AuthServer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: Settings,
    failures: Mutex<HashMap<String, LoginFailures>>,
    /// SHA-256 of (client id, secret, stored hash) already verified with argon2, so a hot client
    /// does not pay a slow hash per token request. Only a correct secret can ever get in.
    verified: Mutex<std::collections::HashSet<[u8; 32]>>,
    gate: gate::HashGate,
    keyring: jwt::Keyring,
    revoked: jwt::RevokedGrants,
    jwt_cache: jwt::ValidatedCache,
    dpop_replay: dpop::ReplayCache,
    dpop_nonces: dpop::NonceSource,
}

#[derive(Debug, Clone, Copy)]
struct LoginFailures {
    count: u32,
    first: i64,
    locked_until: i64,
}

impl AuthServer {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        secret::warm_up();
        let dpop_replay = dpop::ReplayCache::new(settings.dpop_replay_max);
        AuthServer {
            store,
            clock,
            gate: gate::HashGate::new(settings.hashing),
            jwt_cache: jwt::ValidatedCache::new(settings.jwt_cache_entries),
            dpop_nonces: dpop::NonceSource::new(settings.dpop_window),
            settings,
            failures: Mutex::new(HashMap::new()),
            verified: Mutex::new(Default::default()),
            keyring: jwt::Keyring::default(),
            revoked: jwt::RevokedGrants::default(),
            dpop_replay,
        }
    }

    /// The issuer (`iss` of JWT access tokens and of the metadata).
    pub fn issuer(&self) -> String {
        self.settings.issuer.get()
    }
    /// [`issuer`](Self::issuer) without a copy.
    pub fn issuer_str(&self) -> &str {
        self.settings.issuer.as_str()
    }

    /// Whether `aud` is an audience of this server's tokens for the API at `context`: the
    /// default audience, or the API's resource identifier (compared without building either).
    pub fn accepts_audience(&self, aud: &str, context: Option<&str>) -> bool {
        let issuer = self.issuer_str();
        let default = self.settings.default_audience.as_deref().unwrap_or(issuer);
        aud == default
            || context.is_some_and(|c| {
                aud.len() == issuer.len() + c.len() && aud.starts_with(issuer) && aud.ends_with(c)
            })
    }

    /// `aud` of a token issued without a resource indicator.
    pub fn default_audience(&self) -> String {
        self.settings
            .default_audience
            .clone()
            .unwrap_or_else(|| self.issuer())
    }

    /// The resource identifier of an API context (RFC 8707): the issuer followed by it.
    pub fn resource_id(&self, context: &str) -> String {
        format!("{}{}", self.issuer(), context)
    }

    /// Load the signing keys from the store and, with JWT access tokens, make sure one signs.
    pub async fn load_keys(&self) -> Result<(), OAuthError> {
        let now = self.now();
        self.keyring.replace(&self.store.signing_keys().await?, now);
        if self.settings.token_format == jwt::TokenFormat::Jwt {
            self.signing_key().await?;
        }
        self.sync_revocations().await?;
        Ok(())
    }

    /// The key that signs now, generated (and stored) when none does.
    async fn signing_key(&self) -> Result<Arc<jwt::LoadedKey>, OAuthError> {
        let alg = self.settings.signing_alg;
        if let Some(k) = self.keyring.signing(alg, self.now()) {
            return Ok(k);
        }
        let _g = self.keyring.generating.lock().await;
        let now = self.now();
        // another gateway on the same store may have made one
        self.keyring.replace(&self.store.signing_keys().await?, now);
        if let Some(k) = self.keyring.signing(alg, now) {
            return Ok(k);
        }
        // RSA key generation takes a while (tens to hundreds of milliseconds): off the runtime
        let rotation = self.settings.key_rotation_secs;
        let k = tokio::task::spawn_blocking(move || jwt::generate(alg, now, rotation))
            .await
            .unwrap_or(Err(jwt::JwtError("key generation stopped")))
            .map_err(|e| {
                tracing::error!(error = %e, "cannot generate a signing key");
                OAuthError::server_error()
            })?;
        self.store.put_signing_key(&k).await?;
        tracing::info!(kid = %k.kid, alg = %k.alg, "new signing key for JWT access tokens");
        self.keyring.replace(&self.store.signing_keys().await?, now);
        self.keyring
            .signing(alg, now)
            .ok_or_else(OAuthError::server_error)
    }

    /// Sign an RFC 9068 access token; the key is kept at least until the token expires.
    pub(crate) async fn sign_access(
        &self,
        claims: &serde_json::Value,
        exp: i64,
    ) -> Result<String, OAuthError> {
        let key = self.signing_key().await?;
        if let Some(stored) = self.keyring.extend(&key, exp) {
            self.store.put_signing_key(&stored).await?;
        }
        key.sign(claims).map_err(|e| {
            tracing::error!(error = %e, "cannot sign an access token");
            OAuthError::server_error()
        })
    }

    /// The nonce DPoP proofs must carry now (`DPoP-Nonce`), when `dpop_nonce` is on.
    pub fn dpop_nonce(&self) -> Option<String> {
        self.settings
            .dpop_nonce
            .then(|| self.dpop_nonces.current(self.now()))
    }

    /// Whether a proof's `nonce` claim satisfies the nonce requirement (always, when off).
    pub fn dpop_nonce_ok(&self, nonce: Option<&str>) -> bool {
        !self.settings.dpop_nonce || nonce.is_some_and(|n| self.dpop_nonces.accepts(n, self.now()))
    }

    /// The published keys (RFC 7517 JWK Set).
    pub fn jwks(&self) -> serde_json::Value {
        self.keyring.jwks(self.now())
    }

    /// Read revocations recorded in the store (by this process, the CLI, other gateways)
    /// since the last read into the in-memory list JWT validation consults.
    pub async fn sync_revocations(&self) -> Result<(), StoreError> {
        let now = self.now();
        let rows = self.store.revocations_since(self.revoked.since()).await?;
        self.revoked.merge(&rows, now);
        Ok(())
    }

    /// Revoke a family in the store and in this process's revocation list.
    pub(crate) async fn revoke_family(&self, id: &str) -> Result<(), StoreError> {
        let now = self.now();
        self.store.revoke_family(id, now).await?;
        self.revoked.note(id, now);
        Ok(())
    }

    /// Validate one of this server's JWT access tokens with its keys (no store lookup unless
    /// the `kid` is unknown, at most every few seconds): signature, `typ`, `iss`, `exp`,
    /// `nbf`, an `aud` among `audiences`, and a grant not revoked. `None` when invalid.
    ///
    /// A token validated before is taken from the [`jwt::ValidatedCache`] without checking its
    /// signature again; its audience and revocation are checked on every call.
    pub async fn validate_jwt(
        &self,
        token: &str,
        kid: Option<&str>,
        audiences: &[String],
    ) -> Result<Option<jwt::Verified>, StoreError> {
        if let Some(answer) = self.cached_jwt(token, audiences) {
            return Ok(answer);
        }
        let now = self.now();
        let Some(kid) = kid else { return Ok(None) };
        let key = match self.keyring.find(kid, now) {
            Some(k) => k,
            None => {
                if !self.keyring.may_reload(now) {
                    return Ok(None);
                }
                self.keyring.replace(&self.store.signing_keys().await?, now);
                match self.keyring.find(kid, now) {
                    Some(k) => k,
                    None => return Ok(None),
                }
            }
        };
        let issuer = self.issuer();
        let expect = jwt::Expect {
            issuer: &issuer,
            audiences,
            now,
            at_jwt_typ: true,
        };
        let Ok(v) = jwt::verify(token, &key.decoding, key.alg, &expect) else {
            return Ok(None);
        };
        if self.is_revoked(&v) {
            return Ok(None);
        }
        self.jwt_cache.insert(
            jwt::ValidatedCache::key(token.as_bytes()),
            jwt::CachedToken {
                kid: key.kid.clone(),
                verified: v.clone(),
            },
            now,
        );
        Ok(Some(v))
    }

    /// The answer for a token found in the validated-token cache: `None` when it is not there
    /// (or no longer usable: expired, its signing key gone), `Some(None)` when it is refused
    /// for this request (another audience, revoked since), `Some(Some(_))` when accepted.
    pub fn cached_jwt(&self, token: &str, audiences: &[String]) -> Option<Option<jwt::Verified>> {
        let hit = self.cached_jwt_in(token.as_bytes(), |a| audiences.iter().any(|e| e == a))?;
        Some(hit.map(|h| h.verified.clone()))
    }

    /// [`cached_jwt`](Self::cached_jwt) with the accepted audiences as a test, the entry
    /// shared rather than copied: the request path's form. The token is taken as bytes: one found in the cache is, byte for byte, a token that
    /// passed every check, so a caller need not check its characters first.
    pub fn cached_jwt_in(
        &self,
        token: &[u8],
        accepts: impl Fn(&str) -> bool,
    ) -> Option<Option<Arc<jwt::CachedToken>>> {
        let now = self.now();
        let key = jwt::ValidatedCache::key(token);
        let hit = self.jwt_cache.get(&key, now)?;
        if !self.keyring.has(&hit.kid, now) || hit.verified.iss != self.issuer_str() {
            self.jwt_cache.remove(&key);
            return None;
        }
        let v = &hit.verified;
        if !v.has_audience_in(accepts) || self.is_revoked(v) {
            return Some(None);
        }
        Some(Some(hit))
    }

    /// Whether the grant of a JWT access token (`jti` = `<grant id>.<n>`) was revoked; a
    /// token without such a `jti` counts as revoked.
    fn is_revoked(&self, v: &jwt::Verified) -> bool {
        match v.jti.as_deref().and_then(|j| j.split_once('.')) {
            Some((family, _)) => self.revoked.is_revoked(family),
            None => true,
        }
    }

    /// The validated-token cache (its size, for tests and metrics).
    pub fn jwt_cache(&self) -> &jwt::ValidatedCache {
        &self.jwt_cache
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
    /// The gate of the slow password hashes.
    pub fn hash_gate(&self) -> &gate::HashGate {
        &self.gate
    }

    /// The description of a scope (its name when unknown).
    pub fn scope_description(&self, name: &str) -> String {
        self.settings
            .scopes
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.description.clone())
            .unwrap_or_else(|| name.to_string())
    }

    /// Validate an access token presented to a protected API. Refresh tokens, unknown, expired
    /// and revoked tokens are `None`.
    pub async fn validate_access(&self, raw: &str) -> Result<Option<TokenRecord>, StoreError> {
        let hash = secret::sha256_hex(raw);
        let now = self.now();
        Ok(self
            .store
            .token(&hash)
            .await?
            .filter(|t| t.kind == TokenKind::Access && t.is_active(now)))
    }

    /// Remove expired and revoked tokens and expired codes.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        self.store.purge(self.now()).await
    }

    /// Check a resource owner's password with lockout: after `max_login_failures` failures in
    /// `lockout_secs`, every attempt fails for `lockout_secs`. Unknown users cost the same time.
    ///
    /// An attempt is counted *before* its hash runs, under one lock: of any burst, at most
    /// `max_login_failures` attempts reach the hash, so a burst of wrong passwords followed by
    /// the right one cannot outrun the lockout. A locked account fails without hashing.
    /// `Err` is `temporarily_unavailable` when the hash gate is full, or a store failure.
    pub async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, OAuthError> {
        if !self.reserve_attempt(username) {
            return Ok(false);
        }
        let verdict = match self.store.user(username).await {
            Ok(Some(u)) => self.gate.verify(password, &u.password_hash).await,
            Ok(None) => self.gate.verify_dummy(password).await.map(|()| false),
            Err(e) => {
                self.release_attempt(username);
                return Err(e.into());
            }
        };
        let ok = match verdict {
            Ok(ok) => ok,
            Err(gate::Busy) => {
                // never checked: the attempt does not count
                self.release_attempt(username);
                return Err(busy());
            }
        };
        let now = self.now();
        if let Ok(mut m) = self.failures.lock() {
            if ok {
                m.remove(username);
            } else if let Some(e) = m.get_mut(username) {
                if e.count >= self.settings.max_login_failures && e.locked_until <= now {
                    e.locked_until = now + self.settings.lockout_secs;
                    tracing::warn!(user = %synaptic_logsafe::Escaped(username), "password login locked after repeated failures");
                }
            }
        }
        Ok(ok)
    }

    /// Count an attempt of `username` before it is checked; `false` when the account is locked
    /// or the attempts of the current window are used up (which locks it).
    fn reserve_attempt(&self, username: &str) -> bool {
        if username.len() > MAX_USERNAME_LEN {
            // no such user can exist; never tracked, so it cannot grow the records
            return false;
        }
        let now = self.now();
        let Ok(mut m) = self.failures.lock() else {
            return false;
        };
        if m.len() >= MAX_TRACKED_LOGINS && !m.contains_key(username) {
            let window = self.settings.lockout_secs;
            m.retain(|_, f| f.locked_until > now || now - f.first <= window);
            if m.len() >= MAX_TRACKED_LOGINS {
                // a spray of names: forget partial counts, keep the locks
                m.retain(|_, f| f.locked_until > now);
            }
            if m.len() >= MAX_TRACKED_LOGINS {
                // every tracked name is locked: refuse rather than check untracked
                return false;
            }
        }
        let e = m.entry(username.to_string()).or_insert(LoginFailures {
            count: 0,
            first: now,
            locked_until: 0,
        });
        if e.locked_until > now {
            return false;
        }
        if e.locked_until != 0 || now - e.first > self.settings.lockout_secs {
            *e = LoginFailures {
                count: 0,
                first: now,
                locked_until: 0,
            };
        }
        if e.count >= self.settings.max_login_failures {
            e.locked_until = now + self.settings.lockout_secs;
            tracing::warn!(user = %synaptic_logsafe::Escaped(username), "password login locked after repeated failures");
            return false;
        }
        e.count += 1;
        true
    }

    /// Give back an attempt that was never checked.
    fn release_attempt(&self, username: &str) {
        if let Ok(mut m) = self.failures.lock() {
            if let Some(e) = m.get_mut(username) {
                e.count = e.count.saturating_sub(1);
            }
        }
    }

    /// Verify a client secret against its stored hash (constant time, argon2 cached per
    /// correct secret).
    async fn verify_client_secret(
        &self,
        client: &Client,
        candidate: &str,
    ) -> Result<bool, gate::Busy> {
        let Some(stored) = &client.secret_hash else {
            return Ok(false);
        };
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(client.id.as_bytes());
        h.update([0]);
        h.update(candidate.as_bytes());
        h.update([0]);
        h.update(stored.as_bytes());
        let key: [u8; 32] = h.finalize().into();
        if self
            .verified
            .lock()
            .map(|s| s.contains(&key))
            .unwrap_or(false)
        {
            return Ok(true);
        }
        let ok = self.gate.verify(candidate, stored).await?;
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 10_000 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        Ok(ok)
    }
}

/// Failed-login records kept before old ones are dropped.
const MAX_TRACKED_LOGINS: usize = 100_000;
/// Longest user name a login is checked for.
pub const MAX_USERNAME_LEN: usize = 256;

/// The answer when the hash gate is full.
pub(crate) fn busy() -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "too many requests at once; retry later",
    )
}
