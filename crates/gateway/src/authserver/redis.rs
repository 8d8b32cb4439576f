//! The authorization server's store on Redis (`[redis]` configured): every gateway pointing at
//! the same Redis accepts the tokens any of them issued, and sees revocations at once (no
//! local cache). Single use is `SET … NX` on a marker key, atomic in Redis. Only SHA-256
//! hashes of tokens and codes and hashes of secrets are written.
//!
//! Keys under `<prefix>:as:` — `client:<id>`, `clients` (set), `user:<name>`, `users` (set),
//! `family:<id>`, `family:<id>:revoked`, `client:<id>:families` (set), `code:<hash>`,
//! `code:<hash>:used`, `token:<hash>`, `token:<hash>:consumed`, `tokens` (set),
//! `signing_keys` (hash by `kid`), `revocations` (sorted set of family ids by revocation time).
//! Codes and tokens expire with Redis TTLs at their own expiry.

use super::AdminStore;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};
use std::time::Duration;
use synaptic_oauth::server::jwt::{StoredKey, LEEWAY, MAX_JWT_LIFETIME};
use synaptic_oauth::server::{
    Client, CodeRecord, Consume, Family, GrantType, Secret, Store, StoreError, TokenKind,
    TokenRecord, User,
};

pub struct RedisStore {
    redis: crate::redis_conn::RedisConn,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn err(e: redis::RedisError) -> StoreError {
    StoreError::with("redis", e)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn client_json(c: &Client, source: &str) -> String {
    json!({
        "id": c.id, "name": c.name, "secret_hash": c.secret_hash,
        "grants": c.grants.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "redirect_uris": c.redirect_uris, "scopes": c.scopes,
        "token_lifetime": c.token_lifetime, "refresh_limit": c.refresh_limit,
        "introspect_any": c.introspect_any, "source": source,
    })
    .to_string()
}

fn client_from(s: &str) -> Option<(Client, String)> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some((
        Client {
            id: v["id"].as_str()?.to_string(),
            name: v["name"].as_str().unwrap_or_default().to_string(),
            secret_hash: v["secret_hash"].as_str().map(str::to_string),
            grants: strs(&v["grants"])
                .iter()
                .filter_map(|g| GrantType::parse(g))
                .collect(),
            redirect_uris: strs(&v["redirect_uris"]),
            scopes: strs(&v["scopes"]),
            token_lifetime: v["token_lifetime"].as_i64().unwrap_or(3600),
            refresh_limit: v["refresh_limit"]
                .as_u64()
                .unwrap_or(0)
                .min(u32::MAX as u64) as u32,
            introspect_any: v["introspect_any"].as_bool().unwrap_or(false),
        },
        v["source"].as_str().unwrap_or("cli").to_string(),
    ))
}

fn token_json(t: &TokenRecord) -> String {
    json!({
        "hash": t.hash, "kind": t.kind.as_str(), "client_id": t.client_id,
        "username": t.username, "scopes": t.scopes, "family_id": t.family_id,
        "issued_at": t.issued_at, "expires_at": t.expires_at, "revoked": t.revoked,
        "generation": t.generation,
    })
    .to_string()
}

fn token_from(s: &str) -> Option<TokenRecord> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(TokenRecord {
        hash: v["hash"].as_str()?.to_string(),
        kind: TokenKind::parse(v["kind"].as_str()?)?,
        client_id: v["client_id"].as_str()?.to_string(),
        username: v["username"].as_str().map(str::to_string),
        scopes: strs(&v["scopes"]),
        family_id: v["family_id"].as_str()?.to_string(),
        issued_at: v["issued_at"].as_i64().unwrap_or(0),
        expires_at: v["expires_at"].as_i64(),
        revoked: v["revoked"].as_bool().unwrap_or(false),
        consumed: false,
        generation: v["generation"].as_u64().unwrap_or(0).min(u32::MAX as u64) as u32,
    })
}

fn code_json(c: &CodeRecord) -> String {
    json!({
        "hash": c.hash, "client_id": c.client_id, "redirect_uri": c.redirect_uri,
        "username": c.username, "scopes": c.scopes, "code_challenge": c.code_challenge,
        "family_id": c.family_id, "expires_at": c.expires_at,
    })
    .to_string()
}

fn code_from(s: &str) -> Option<CodeRecord> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(CodeRecord {
        hash: v["hash"].as_str()?.to_string(),
        client_id: v["client_id"].as_str()?.to_string(),
        redirect_uri: v["redirect_uri"].as_str()?.to_string(),
        username: v["username"].as_str()?.to_string(),
        scopes: strs(&v["scopes"]),
        code_challenge: v["code_challenge"].as_str().map(str::to_string),
        family_id: v["family_id"].as_str()?.to_string(),
        expires_at: v["expires_at"].as_i64().unwrap_or(0),
    })
}

fn family_json(f: &Family) -> String {
    json!({
        "id": f.id, "client_id": f.client_id, "username": f.username, "scopes": f.scopes,
        "created_at": f.created_at, "jkt": f.jkt,
    })
    .to_string()
}

fn family_from(s: &str, revoked: bool) -> Option<Family> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(Family {
        id: v["id"].as_str()?.to_string(),
        client_id: v["client_id"].as_str().unwrap_or_default().to_string(),
        username: v["username"].as_str().map(str::to_string),
        scopes: strs(&v["scopes"]),
        created_at: v["created_at"].as_i64().unwrap_or(0),
        revoked,
        jkt: v["jkt"].as_str().map(str::to_string),
    })
}

fn key_json(k: &StoredKey) -> String {
    json!({
        "kid": k.kid, "alg": k.alg, "private_pkcs8": k.private_pkcs8.expose(),
        "created_at": k.created_at, "retires_at": k.retires_at, "keep_until": k.keep_until,
    })
    .to_string()
}

fn key_from(s: &str) -> Option<StoredKey> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(StoredKey {
        kid: v["kid"].as_str()?.to_string(),
        alg: v["alg"].as_str()?.to_string(),
        private_pkcs8: Secret::new(v["private_pkcs8"].as_str()?),
        created_at: v["created_at"].as_i64()?,
        retires_at: v["retires_at"].as_i64()?,
        keep_until: v["keep_until"].as_i64()?,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Revocation markers outlive every token they can concern.
const REVOKED_TTL: u64 = 60 * 24 * 3600;

impl RedisStore {
    pub fn new(url: &str, prefix: Option<&str>) -> Result<RedisStore, StoreError> {
        let client =
            redis::Client::open(url).map_err(|_| StoreError::new("invalid [redis] url"))?;
        Ok(RedisStore {
            redis: crate::redis_conn::RedisConn::new(
                client,
                Duration::from_secs(2),
                Duration::from_secs(4),
            ),
            prefix: format!("{}:as", prefix.unwrap_or("synaptic")),
        })
    }

    fn k(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    async fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.redis
            .connection()
            .await
            .map_err(|e| StoreError::with("redis", e))
    }

    /// Record a one-time id (a DPoP proof's) for `ttl` seconds; `false` when it was recorded
    /// before (a replay). Only the id's SHA-256 is written.
    pub async fn first_use(&self, id: &str, ttl: u64) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let key = self.k(&format!(
            "dpop:{}",
            synaptic_oauth::server::secret::sha256_hex(id)
        ));
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg("1")
            .arg("NX")
            .arg("EX")
            .arg(ttl.max(1))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(set.is_some())
    }

    async fn get(&self, key: String) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    async fn smembers(&self, key: String) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        redis::cmd("SMEMBERS")
            .arg(key)
            .query_async(&mut c)
            .await
            .map_err(err)
    }

    /// `SET key 1 NX` (+ optional expiry): true for the first caller only.
    async fn set_nx(&self, key: String, expire_at: Option<i64>) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg("1").arg("NX");
        if let Some(t) = expire_at {
            cmd.arg("EXAT").arg(t.max(now() + 1));
        }
        let r: Option<String> = cmd.query_async(&mut c).await.map_err(err)?;
        Ok(r.is_some())
    }

    async fn family_revoked(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .get(self.k(&format!("family:{id}:revoked")))
            .await?
            .is_some())
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.put_client_from(client, super::sqlite::SOURCE_CLI)
            .await
    }
    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self
            .get(self.k(&format!("client:{id}")))
            .await?
            .and_then(|s| client_from(&s))
            .map(|(c, _)| c))
    }
    async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut ids = self.smembers(self.k("clients")).await?;
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            if let Some(c) = self.client(&id).await? {
                out.push(c);
            }
        }
        Ok(out)
    }
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        let now = now();
        for f in self
            .smembers(self.k(&format!("client:{id}:families")))
            .await?
        {
            self.revoke_family(&f, now).await?;
        }
        let mut c = self.conn().await?;
        let n: i64 = redis::cmd("DEL")
            .arg(self.k(&format!("client:{id}")))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: i64 = redis::cmd("SREM")
            .arg(self.k("clients"))
            .arg(id)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(n > 0)
    }
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        self.put_user_from(user, super::sqlite::SOURCE_CLI).await
    }
    async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .get(self.k(&format!("user:{name}")))
            .await?
            .and_then(|s| {
                let v: Value = serde_json::from_str(&s).ok()?;
                Some(User {
                    name: name.to_string(),
                    password_hash: v["password_hash"].as_str()?.to_string(),
                })
            }))
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut names = self.smembers(self.k("users")).await?;
        names.sort();
        let mut out = Vec::new();
        for n in names {
            if let Some(u) = self.user(&n).await? {
                out.push(u);
            }
        }
        Ok(out)
    }
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let n: i64 = redis::cmd("DEL")
            .arg(self.k(&format!("user:{name}")))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: i64 = redis::cmd("SREM")
            .arg(self.k("users"))
            .arg(name)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(n > 0)
    }
    async fn insert_family(&self, f: &Family) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: Option<String> = redis::cmd("SET")
            .arg(self.k(&format!("family:{}", f.id)))
            .arg(family_json(f))
            .arg("NX")
            .arg("EX")
            .arg(REVOKED_TTL)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: i64 = redis::cmd("SADD")
            .arg(self.k(&format!("client:{}:families", f.client_id)))
            .arg(&f.id)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        if f.revoked {
            self.revoke_family(&f.id, f.created_at).await?;
        }
        Ok(())
    }
    async fn family(&self, id: &str) -> Result<Option<Family>, StoreError> {
        let revoked = self.family_revoked(id).await?;
        Ok(self
            .get(self.k(&format!("family:{id}")))
            .await?
            .and_then(|s| family_from(&s, revoked)))
    }
    async fn revoke_family(&self, id: &str, now: i64) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: i64 = redis::cmd("ZADD")
            .arg(self.k("revocations"))
            .arg("NX")
            .arg(now)
            .arg(id)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: () = redis::cmd("SET")
            .arg(self.k(&format!("family:{id}:revoked")))
            .arg("1")
            .arg("EX")
            .arg(REVOKED_TTL)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn insert_code(&self, code: &CodeRecord) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        // kept a while after expiry so a late replay is still recognised
        let _: () = redis::cmd("SET")
            .arg(self.k(&format!("code:{}", code.hash)))
            .arg(code_json(code))
            .arg("EXAT")
            .arg(code.expires_at.max(now()) + 3600)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn consume_code(&self, hash: &str) -> Result<Consume<CodeRecord>, StoreError> {
        let Some(rec) = self
            .get(self.k(&format!("code:{hash}")))
            .await?
            .and_then(|s| code_from(&s))
        else {
            return Ok(Consume::Unknown);
        };
        let first = self
            .set_nx(
                self.k(&format!("code:{hash}:used")),
                Some(rec.expires_at + 3600),
            )
            .await?;
        Ok(if first {
            Consume::Fresh(rec)
        } else {
            Consume::Replayed(rec)
        })
    }
    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.k(&format!("token:{}", t.hash)))
            .arg(token_json(t));
        if let Some(e) = t.expires_at {
            cmd.arg("EXAT").arg(e.max(now() + 1));
        }
        let _: () = cmd.query_async(&mut c).await.map_err(err)?;
        let _: i64 = redis::cmd("SADD")
            .arg(self.k("tokens"))
            .arg(&t.hash)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let mut c = self.conn().await?;
        let (tok, consumed): (Option<String>, Option<String>) = redis::cmd("MGET")
            .arg(self.k(&format!("token:{hash}")))
            .arg(self.k(&format!("token:{hash}:consumed")))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let Some(mut t) = tok.and_then(|s| token_from(&s)) else {
            return Ok(None);
        };
        t.consumed = consumed.is_some();
        if self.family_revoked(&t.family_id).await? {
            t.revoked = true;
        }
        Ok(Some(t))
    }
    async fn consume_refresh(&self, hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        let Some(t) = self.token(hash).await? else {
            return Ok(Consume::Unknown);
        };
        if t.kind != TokenKind::Refresh {
            return Ok(Consume::Unknown);
        }
        let first = !t.consumed
            && self
                .set_nx(self.k(&format!("token:{hash}:consumed")), t.expires_at)
                .await?;
        if !first || t.revoked || self.family_revoked(&t.family_id).await? {
            let mut r = t;
            r.consumed = true;
            return Ok(Consume::Replayed(r));
        }
        Ok(Consume::Fresh(t))
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut out = Vec::new();
        for h in self.smembers(self.k("tokens")).await? {
            if let Some(t) = self.token(&h).await? {
                out.push(t);
            }
        }
        out.sort_by(|a, b| a.issued_at.cmp(&b.issued_at).then(a.hash.cmp(&b.hash)));
        Ok(out)
    }
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut c = self.conn().await?;
        let all: Vec<String> = redis::cmd("HVALS")
            .arg(self.k("signing_keys"))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(all.iter().filter_map(|s| key_from(s)).collect())
    }
    async fn put_signing_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let prev: Option<String> = redis::cmd("HGET")
            .arg(self.k("signing_keys"))
            .arg(&k.kid)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let mut k = k.clone();
        if let Some(p) = prev.as_deref().and_then(key_from) {
            k.keep_until = k.keep_until.max(p.keep_until);
        }
        let _: i64 = redis::cmd("HSET")
            .arg(self.k("signing_keys"))
            .arg(&k.kid)
            .arg(key_json(&k))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn revocations_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut c = self.conn().await?;
        let rows: Vec<(String, i64)> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.k("revocations"))
            .arg(since)
            .arg("+inf")
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(rows)
    }
    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        let mut removed = 0;
        let mut c = self.conn().await?;
        let _: i64 = redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.k("revocations"))
            .arg("-inf")
            .arg(now - MAX_JWT_LIFETIME - LEEWAY)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        for k in self.signing_keys().await? {
            if k.keep_until <= now {
                let _: i64 = redis::cmd("HDEL")
                    .arg(self.k("signing_keys"))
                    .arg(&k.kid)
                    .query_async(&mut c)
                    .await
                    .map_err(err)?;
            }
        }
        for h in self.smembers(self.k("tokens")).await? {
            let t = self.token(&h).await?;
            let gone = match &t {
                None => true,
                Some(t) => t.revoked || t.expires_at.is_some_and(|e| e <= now),
            };
            if gone {
                if t.is_some() {
                    removed += 1;
                }
                let _: i64 = redis::cmd("DEL")
                    .arg(self.k(&format!("token:{h}")))
                    .arg(self.k(&format!("token:{h}:consumed")))
                    .query_async(&mut c)
                    .await
                    .map_err(err)?;
                let _: i64 = redis::cmd("SREM")
                    .arg(self.k("tokens"))
                    .arg(&h)
                    .query_async(&mut c)
                    .await
                    .map_err(err)?;
            }
        }
        Ok(removed)
    }
}

#[async_trait]
impl AdminStore for RedisStore {
    async fn put_client_from(&self, client: &Client, source: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.k(&format!("client:{}", client.id)))
            .arg(client_json(client, source))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: i64 = redis::cmd("SADD")
            .arg(self.k("clients"))
            .arg(&client.id)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn client_ids_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for id in self.smembers(self.k("clients")).await? {
            if let Some((_, s)) = self
                .get(self.k(&format!("client:{id}")))
                .await?
                .and_then(|s| client_from(&s))
            {
                if s == source {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
    async fn put_user_from(&self, user: &User, source: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let _: () = redis::cmd("SET")
            .arg(self.k(&format!("user:{}", user.name)))
            .arg(json!({"password_hash": user.password_hash, "source": source}).to_string())
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let _: i64 = redis::cmd("SADD")
            .arg(self.k("users"))
            .arg(&user.name)
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }
    async fn user_names_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for n in self.smembers(self.k("users")).await? {
            if let Some(s) = self.get(self.k(&format!("user:{n}"))).await? {
                let v: Value = serde_json::from_str(&s).unwrap_or(Value::Null);
                if v["source"].as_str() == Some(source) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
    async fn revoke_prefix(&self, prefix: &str, now: i64) -> Result<u64, StoreError> {
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::new("a token id is at least 8 hex digits"));
        }
        let prefix = prefix.to_ascii_lowercase();
        let mut fams = std::collections::BTreeSet::new();
        for h in self.smembers(self.k("tokens")).await? {
            if h.starts_with(&prefix) {
                if let Some(t) = self.token(&h).await? {
                    fams.insert(t.family_id);
                }
            }
        }
        for f in &fams {
            self.revoke_family(f, now).await?;
        }
        Ok(fams.len() as u64)
    }
    fn into_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn Store> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_familys_dpop_key_round_trips_and_old_records_have_none() {
        let f = Family {
            id: "fam".into(),
            client_id: "spa".into(),
            username: Some("alice".into()),
            scopes: vec!["view".into()],
            created_at: 7,
            revoked: false,
            jkt: Some("thumb".into()),
        };
        assert_eq!(family_from(&family_json(&f), false), Some(f.clone()));
        let unbound = Family { jkt: None, ..f };
        assert_eq!(
            family_from(&family_json(&unbound), true),
            Some(Family {
                revoked: true,
                ..unbound
            })
        );
        // a record written before keys were kept
        let old = r#"{"id":"o","client_id":"c","username":null,"scopes":["view"],"created_at":1}"#;
        assert_eq!(family_from(old, false).unwrap().jkt, None);
    }
}
