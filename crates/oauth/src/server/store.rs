//! Storage of the authorization server behind a trait, and an in-memory implementation.
//!
//! Implementations must make `consume_code` and `consume_refresh` atomic: of any number of
//! concurrent calls with the same hash, exactly one sees `Fresh`.

use super::error::StoreError;
use super::jwt::{StoredKey, LEEWAY, MAX_JWT_LIFETIME};
use super::model::{Client, CodeRecord, Consume, Family, TokenRecord, User};
use super::Clock as _;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// Persistent state of the authorization server.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError>;
    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError>;
    async fn clients(&self) -> Result<Vec<Client>, StoreError>;
    /// Remove a client and revoke every token issued to it.
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError>;

    async fn upsert_user(&self, user: &User) -> Result<(), StoreError>;
    async fn user(&self, name: &str) -> Result<Option<User>, StoreError>;
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError>;

    /// Insert a family unless one with the same id exists (a family revoked before it was
    /// created stays revoked).
    async fn insert_family(&self, family: &Family) -> Result<(), StoreError>;
    async fn family(&self, id: &str) -> Result<Option<Family>, StoreError>;
    /// Revoke a family and all its tokens (creating a revoked marker if it does not exist yet),
    /// and record the revocation for [`revocations_since`](Store::revocations_since).
    async fn revoke_family(&self, id: &str, now: i64) -> Result<(), StoreError>;

    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError>;
    /// Atomically mark a code used.
    async fn consume_code(&self, hash: &str) -> Result<Consume<CodeRecord>, StoreError>;

    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// A token by hash; `revoked` includes its family's revocation.
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Atomically mark an unconsumed, unrevoked refresh token consumed.
    async fn consume_refresh(&self, hash: &str) -> Result<Consume<TokenRecord>, StoreError>;
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// Signing keys of JWT access tokens.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;
    /// Insert or replace a signing key (by `kid`).
    async fn put_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;
    /// Families revoked at or after `since` (id, when): JWT access tokens of these grants are
    /// refused without a lookup per request. Kept for [`MAX_JWT_LIFETIME`].
    async fn revocations_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError>;

    /// Delete expired and revoked tokens, expired codes, empty families, signing keys past
    /// their `keep_until` and revocations older than [`MAX_JWT_LIFETIME`]; returns how many
    /// tokens were removed. Consumed refresh tokens are kept until they expire (reuse detection).
    async fn purge(&self, now: i64) -> Result<u64, StoreError>;
}

/// In-memory store for tests and `enabled` servers without a database.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Mem>,
}

#[derive(Debug, Default)]
struct Mem {
    clients: HashMap<String, Client>,
    users: HashMap<String, User>,
    families: HashMap<String, Family>,
    codes: HashMap<String, (CodeRecord, bool)>,
    tokens: HashMap<String, TokenRecord>,
    keys: HashMap<String, StoredKey>,
    revocations: HashMap<String, i64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Mem>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::new("memory store lock poisoned"))
    }
}

impl Mem {
    fn with_family(&self, mut t: TokenRecord) -> TokenRecord {
        if self.families.get(&t.family_id).is_some_and(|f| f.revoked) {
            t.revoked = true;
        }
        t
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.lock()?
            .clients
            .insert(client.id.clone(), client.clone());
        Ok(())
    }
    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.lock()?.clients.get(id).cloned())
    }
    async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut v: Vec<Client> = self.lock()?.clients.values().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(v)
    }
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let mut m = self.lock()?;
        for t in m.tokens.values_mut() {
            if t.client_id == id {
                t.revoked = true;
            }
        }
        let now = super::SystemClock.now();
        let fams: Vec<String> = m
            .families
            .values_mut()
            .filter(|f| f.client_id == id)
            .map(|f| {
                f.revoked = true;
                f.id.clone()
            })
            .collect();
        for f in fams {
            m.revocations.insert(f, now);
        }
        Ok(m.clients.remove(id).is_some())
    }
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        self.lock()?.users.insert(user.name.clone(), user.clone());
        Ok(())
    }
    async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(name).cloned())
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut v: Vec<User> = self.lock()?.users.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.lock()?.users.remove(name).is_some())
    }
    async fn insert_family(&self, family: &Family) -> Result<(), StoreError> {
        self.lock()?
            .families
            .entry(family.id.clone())
            .or_insert_with(|| family.clone());
        Ok(())
    }
    async fn family(&self, id: &str) -> Result<Option<Family>, StoreError> {
        Ok(self.lock()?.families.get(id).cloned())
    }
    async fn revoke_family(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let mut m = self.lock()?;
        m.families
            .entry(id.to_string())
            .or_insert_with(|| Family {
                id: id.to_string(),
                client_id: String::new(),
                username: None,
                scopes: Vec::new(),
                created_at: now,
                revoked: true,
                jkt: None,
            })
            .revoked = true;
        m.revocations.insert(id.to_string(), now);
        for t in m.tokens.values_mut() {
            if t.family_id == id {
                t.revoked = true;
            }
        }
        Ok(())
    }
    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        self.lock()?
            .codes
            .insert(code.hash.clone(), (code.clone(), false));
        Ok(())
    }
    async fn consume_code(&self, hash: &str) -> Result<Consume<CodeRecord>, StoreError> {
        let mut m = self.lock()?;
        Ok(match m.codes.get_mut(hash) {
            None => Consume::Unknown,
            Some((rec, used)) if *used => Consume::Replayed(rec.clone()),
            Some((rec, used)) => {
                *used = true;
                Consume::Fresh(rec.clone())
            }
        })
    }
    async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.lock()?
            .tokens
            .insert(token.hash.clone(), token.clone());
        Ok(())
    }
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let m = self.lock()?;
        Ok(m.tokens.get(hash).cloned().map(|t| m.with_family(t)))
    }
    async fn consume_refresh(&self, hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let mut m = self.lock()?;
        let Some(t) = m.tokens.get(hash).cloned() else {
            return Ok(Consume::Unknown);
        };
        let t = m.with_family(t);
        if t.kind != super::model::TokenKind::Refresh {
            return Ok(Consume::Unknown);
        }
        if t.consumed || t.revoked {
            return Ok(Consume::Replayed(t));
        }
        if let Some(stored) = m.tokens.get_mut(hash) {
            stored.consumed = true;
        }
        Ok(Consume::Fresh(t))
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let m = self.lock()?;
        let mut v: Vec<TokenRecord> = m
            .tokens
            .values()
            .cloned()
            .map(|t| m.with_family(t))
            .collect();
        v.sort_by(|a, b| a.issued_at.cmp(&b.issued_at).then(a.hash.cmp(&b.hash)));
        Ok(v)
    }
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.lock()?.keys.values().cloned().collect())
    }
    async fn put_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.lock()?.keys.insert(key.kid.clone(), key.clone());
        Ok(())
    }
    async fn revocations_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .lock()?
            .revocations
            .iter()
            .filter(|(_, at)| **at >= since)
            .map(|(f, at)| (f.clone(), *at))
            .collect())
    }
    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut m = self.lock()?;
        m.keys.retain(|_, k| k.keep_until > now);
        m.revocations
            .retain(|_, at| *at > now - MAX_JWT_LIFETIME - LEEWAY);
        let revoked_families: Vec<String> = m
            .families
            .values()
            .filter(|f| f.revoked)
            .map(|f| f.id.clone())
            .collect();
        let before = m.tokens.len();
        m.tokens.retain(|_, t| {
            let expired = t.expires_at.is_some_and(|e| e <= now);
            !(t.revoked || expired || revoked_families.contains(&t.family_id))
        });
        let removed = (before - m.tokens.len()) as u64;
        m.codes.retain(|_, (c, _)| c.expires_at > now);
        let live: std::collections::HashSet<String> =
            m.tokens.values().map(|t| t.family_id.clone()).collect();
        let code_families: std::collections::HashSet<String> =
            m.codes.values().map(|(c, _)| c.family_id.clone()).collect();
        m.families
            .retain(|id, _| live.contains(id) || code_families.contains(id));
        Ok(removed)
    }
}
