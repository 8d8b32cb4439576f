//! The authorization server: clients, grants, codes, PKCE, refresh families, hashed token
//! store, scope policy and consent. No I/O: storage comes in through [`Store`], time through
//! [`Clock`]; the gateway's `authserver` module puts HTTP around it.

mod authorize;
mod error;
mod grants;
mod model;
pub mod pkce;
pub mod policy;
pub mod secret;
mod store;

#[cfg(test)]
mod tests;

pub use authorize::{AuthorizeError, AuthorizeRequest, ResponseType};
pub use error::{ErrorCode, OAuthError, StoreError};
pub use grants::{ClientCredentials, Introspection, TokenResponse};
pub use model::{
    parse_scope, scope_string, Client, CodeRecord, Consume, Family, GrantType, TokenKind,
    TokenRecord, User,
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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            code_lifetime: 600,
            refresh_token_lifetime: 14 * 24 * 3600,
            max_login_failures: 5,
            lockout_secs: 900,
            scopes: Vec::new(),
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
        AuthServer {
            store,
            clock,
            settings,
            failures: Mutex::new(HashMap::new()),
            verified: Mutex::new(Default::default()),
        }
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
    pub async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<bool, StoreError> {
        let now = self.now();
        let locked = self
            .failures
            .lock()
            .ok()
            .and_then(|m| m.get(username).copied())
            .is_some_and(|f| f.locked_until > now);
        let user = self.store.user(username).await?;
        let ok = match &user {
            Some(u) => secret::verify_secret_async(password, &u.password_hash).await,
            None => {
                secret::verify_dummy_async(password).await;
                false
            }
        };
        if locked {
            return Ok(false);
        }
        if let Ok(mut m) = self.failures.lock() {
            if ok {
                m.remove(username);
            } else {
                let e = m.entry(username.to_string()).or_insert(LoginFailures {
                    count: 0,
                    first: now,
                    locked_until: 0,
                });
                if now - e.first > self.settings.lockout_secs {
                    *e = LoginFailures {
                        count: 0,
                        first: now,
                        locked_until: 0,
                    };
                }
                e.count += 1;
                if e.count >= self.settings.max_login_failures {
                    e.locked_until = now + self.settings.lockout_secs;
                    tracing::warn!(user = %username, "password login locked after repeated failures");
                }
                if m.len() > 100_000 {
                    m.retain(|_, f| f.locked_until > now || now - f.first <= 900);
                }
            }
        }
        Ok(ok)
    }

    /// Verify a client secret against its stored hash (constant time, argon2 cached per
    /// correct secret).
    async fn verify_client_secret(&self, client: &Client, candidate: &str) -> bool {
        let Some(stored) = &client.secret_hash else {
            return false;
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
            return true;
        }
        let ok = secret::verify_secret_async(candidate, stored).await;
        if ok {
            if let Ok(mut s) = self.verified.lock() {
                if s.len() > 10_000 {
                    s.clear();
                }
                s.insert(key);
            }
        }
        ok
    }
}
