//! The authorization server's store in SQLite (rusqlite, bundled). Only SHA-256 hashes of
//! tokens and codes and hashes of secrets are written. Single-use consumes are one
//! `UPDATE … WHERE used = 0 RETURNING` statement, atomic across connections and processes.

use rusqlite::{params, Connection, OptionalExtension, Row};
use std::path::Path;
use std::sync::Mutex;
use synaptic_oauth::server::jwt::{StoredKey, LEEWAY, MAX_JWT_LIFETIME};
use synaptic_oauth::server::{
    Client, Clock as _, CodeRecord, Consume, Family, GrantType, Secret, Store, StoreError,
    SystemClock, TokenKind, TokenRecord, User,
};

/// Where a client or user row came from: `config` rows are replaced at every start.
pub const SOURCE_CONFIG: &str = "config";
pub const SOURCE_CLI: &str = "cli";

#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Access tokens by hash, valid while SQLite's `data_version` (changed by commits of
    /// *other* connections: the CLI, other gateways) is unchanged; cleared by every write of
    /// this connection that can revoke. Revocations of this process are seen by the very next
    /// lookup; `data_version` is re-read at most every [`RECHECK_MICROS`], so another
    /// process's revocation is seen within a millisecond.
    cache: std::sync::RwLock<TokenCache>,
    /// When `data_version` was last read (µs since the epoch).
    checked_at: std::sync::atomic::AtomicI64,
}

const RECHECK_MICROS: i64 = 1_000;

fn micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Default)]
struct TokenCache {
    data_version: i64,
    tokens: std::collections::HashMap<String, TokenRecord>,
}

const CACHE_MAX: usize = 100_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT, grants TEXT NOT NULL,
    redirect_uris TEXT NOT NULL, scopes TEXT NOT NULL, token_lifetime INTEGER NOT NULL,
    refresh_limit INTEGER NOT NULL, introspect_any INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'cli');
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'cli');
CREATE TABLE IF NOT EXISTS families (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT, scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, jkt TEXT);
CREATE TABLE IF NOT EXISTS codes (
    hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    username TEXT NOT NULL, scopes TEXT NOT NULL, code_challenge TEXT, family_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, username TEXT,
    scopes TEXT NOT NULL, family_id TEXT NOT NULL, issued_at INTEGER NOT NULL,
    expires_at INTEGER, revoked INTEGER NOT NULL DEFAULT 0, consumed INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS tokens_family ON tokens(family_id);
CREATE INDEX IF NOT EXISTS tokens_client ON tokens(client_id);
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pkcs8 TEXT NOT NULL,
    created_at INTEGER NOT NULL, retires_at INTEGER NOT NULL, keep_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revocations (
    family_id TEXT PRIMARY KEY, revoked_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS revocations_at ON revocations(revoked_at);
";

const TOKEN_COLS: &str = "t.hash, t.kind, t.client_id, t.username, t.scopes, t.family_id, \
     t.issued_at, t.expires_at, (t.revoked OR COALESCE(f.revoked, 0)), t.consumed, t.generation";

fn err(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| StoreError::with(what, e)
}

fn split(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let kind: String = r.get(1)?;
    Ok(TokenRecord {
        hash: r.get(0)?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Access),
        client_id: r.get(2)?,
        username: r.get(3)?,
        scopes: split(&r.get::<_, String>(4)?),
        family_id: r.get(5)?,
        issued_at: r.get(6)?,
        expires_at: r.get(7)?,
        revoked: r.get::<_, i64>(8)? != 0,
        consumed: r.get::<_, i64>(9)? != 0,
        generation: r.get::<_, i64>(10)?.clamp(0, u32::MAX as i64) as u32,
    })
}

fn client_from_row(r: &Row<'_>) -> rusqlite::Result<Client> {
    let grants: String = r.get(3)?;
    let uris: String = r.get(4)?;
    Ok(Client {
        id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        grants: split(&grants)
            .iter()
            .filter_map(|g| GrantType::parse(g))
            .collect(),
        redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
        scopes: split(&r.get::<_, String>(5)?),
        token_lifetime: r.get(6)?,
        refresh_limit: r.get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
        introspect_any: r.get::<_, i64>(8)? != 0,
    })
}

fn code_from_row(r: &Row<'_>) -> rusqlite::Result<CodeRecord> {
    Ok(CodeRecord {
        hash: r.get(0)?,
        client_id: r.get(1)?,
        redirect_uri: r.get(2)?,
        username: r.get(3)?,
        scopes: split(&r.get::<_, String>(4)?),
        code_challenge: r.get(5)?,
        family_id: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

const CODE_COLS: &str =
    "hash, client_id, redirect_uri, username, scopes, code_challenge, family_id, expires_at";
const CLIENT_COLS: &str = "id, name, secret_hash, grants, redirect_uris, scopes, token_lifetime, \
     refresh_limit, introspect_any";

impl SqliteStore {
    /// Open (creating folders, file and schema as needed).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::with(format!("cannot create {}", dir.display()), e))?;
            }
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::with(format!("cannot open {}", path.display()), e))?;
        Self::init(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory().map_err(err("cannot open sqlite"))?)
    }

    fn init(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err("busy_timeout"))?;
        // WAL lets the CLI and several gateways share the file; ignore failure (in-memory)
        let _ = conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()));
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(err("pragma"))?;
        conn.execute_batch(SCHEMA)
            .map_err(err("cannot create the schema"))?;
        // stores made before refresh tokens could be DPoP-bound
        let has_jkt = conn.prepare("SELECT jkt FROM families LIMIT 0").is_ok();
        if !has_jkt {
            conn.execute_batch("ALTER TABLE families ADD COLUMN jkt TEXT;")
                .map_err(err("cannot add the families.jkt column"))?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            cache: std::sync::RwLock::new(TokenCache::default()),
            checked_at: std::sync::atomic::AtomicI64::new(0),
        })
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.write() {
            c.tokens.clear();
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::new("sqlite connection lock poisoned"))?;
        f(&conn)
    }

    /// Insert or replace a client, remembering where it came from.
    pub fn put_client(&self, c: &Client, source: &str) -> Result<(), StoreError> {
        let grants: Vec<&str> = c.grants.iter().map(|g| g.as_str()).collect();
        let uris = serde_json::to_string(&c.redirect_uris).unwrap_or_else(|_| "[]".into());
        self.with(|db| {
            db.execute(
                "INSERT INTO clients (id, name, secret_hash, grants, redirect_uris, scopes, \
                 token_lifetime, refresh_limit, introspect_any, source) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
                 ON CONFLICT(id) DO UPDATE SET name = ?2, secret_hash = ?3, grants = ?4, \
                 redirect_uris = ?5, scopes = ?6, token_lifetime = ?7, refresh_limit = ?8, \
                 introspect_any = ?9, source = ?10",
                params![
                    c.id,
                    c.name,
                    c.secret_hash,
                    grants.join(" "),
                    uris,
                    c.scopes.join(" "),
                    c.token_lifetime,
                    c.refresh_limit as i64,
                    c.introspect_any as i64,
                    source
                ],
            )
            .map_err(err("cannot write a client"))?;
            Ok(())
        })
    }

    /// Client ids with the given source.
    pub fn client_ids_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare("SELECT id FROM clients WHERE source = ?1")
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([source], |r| r.get::<_, String>(0))
                .map_err(err("cannot list clients"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot list clients"))
        })
    }

    pub fn put_user(&self, u: &User, source: &str) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO users (name, password_hash, source) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(name) DO UPDATE SET password_hash = ?2, source = ?3",
                params![u.name, u.password_hash, source],
            )
            .map_err(err("cannot write a user"))?;
            Ok(())
        })
    }

    pub fn user_names_from(&self, source: &str) -> Result<Vec<String>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare("SELECT name FROM users WHERE source = ?1")
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([source], |r| r.get::<_, String>(0))
                .map_err(err("cannot list users"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot list users"))
        })
    }

    /// Revoke every token whose hash starts with `prefix` (hex); returns how many families.
    pub fn revoke_prefix(&self, prefix: &str, now: i64) -> Result<u64, StoreError> {
        if prefix.len() < 8 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::new("a token id is at least 8 hex digits"));
        }
        let like = format!("{}%", prefix.to_ascii_lowercase());
        self.with(|db| {
            let mut st = db
                .prepare("SELECT DISTINCT family_id FROM tokens WHERE hash LIKE ?1")
                .map_err(err("prepare"))?;
            let fams = st
                .query_map([like], |r| r.get::<_, String>(0))
                .map_err(err("cannot find tokens"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot find tokens"))?;
            for f in &fams {
                revoke_family_tx(db, f, now)?;
            }
            Ok(fams.len() as u64)
        })
        .inspect(|_| self.invalidate())
    }
}

fn revoke_family_tx(db: &Connection, id: &str, now: i64) -> Result<(), StoreError> {
    db.execute(
        "INSERT INTO families (id, client_id, username, scopes, created_at, revoked) \
         VALUES (?1, '', NULL, '', ?2, 1) ON CONFLICT(id) DO UPDATE SET revoked = 1",
        params![id, now],
    )
    .map_err(err("cannot revoke a family"))?;
    db.execute(
        "INSERT INTO revocations (family_id, revoked_at) VALUES (?1, ?2) \
         ON CONFLICT(family_id) DO NOTHING",
        params![id, now],
    )
    .map_err(err("cannot record a revocation"))?;
    db.execute("UPDATE tokens SET revoked = 1 WHERE family_id = ?1", [id])
        .map_err(err("cannot revoke tokens"))?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.put_client(client, SOURCE_CLI)
    }
    async fn client(&self, id: &str) -> Result<Option<Client>, StoreError> {
        self.with(|db| {
            db.query_row(
                &format!("SELECT {CLIENT_COLS} FROM clients WHERE id = ?1"),
                [id],
                client_from_row,
            )
            .optional()
            .map_err(err("cannot read a client"))
        })
    }
    async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare(&format!("SELECT {CLIENT_COLS} FROM clients ORDER BY id"))
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([], client_from_row)
                .map_err(err("cannot list clients"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot list clients"))
        })
    }
    async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        self.with(|db| {
            db.execute("UPDATE families SET revoked = 1 WHERE client_id = ?1", [id])
                .map_err(err("cannot revoke"))?;
            db.execute(
                "INSERT OR IGNORE INTO revocations (family_id, revoked_at) \
                 SELECT id, ?2 FROM families WHERE client_id = ?1",
                params![id, SystemClock.now()],
            )
            .map_err(err("cannot record a revocation"))?;
            db.execute("UPDATE tokens SET revoked = 1 WHERE client_id = ?1", [id])
                .map_err(err("cannot revoke"))?;
            let n = db
                .execute("DELETE FROM clients WHERE id = ?1", [id])
                .map_err(err("cannot remove a client"))?;
            Ok(n > 0)
        })
        .inspect(|_| self.invalidate())
    }
    async fn upsert_user(&self, user: &User) -> Result<(), StoreError> {
        self.put_user(user, SOURCE_CLI)
    }
    async fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.with(|db| {
            db.query_row(
                "SELECT name, password_hash FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(User {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(err("cannot read a user"))
        })
    }
    async fn users(&self) -> Result<Vec<User>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare("SELECT name, password_hash FROM users ORDER BY name")
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([], |r| {
                    Ok(User {
                        name: r.get(0)?,
                        password_hash: r.get(1)?,
                    })
                })
                .map_err(err("cannot list users"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot list users"))
        })
    }
    async fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.with(|db| {
            let n = db
                .execute("DELETE FROM users WHERE name = ?1", [name])
                .map_err(err("cannot remove a user"))?;
            Ok(n > 0)
        })
    }
    async fn insert_family(&self, f: &Family) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                "INSERT OR IGNORE INTO families (id, client_id, username, scopes, created_at, revoked, jkt) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![f.id, f.client_id, f.username, f.scopes.join(" "), f.created_at, f.revoked as i64, f.jkt],
            )
            .map_err(err("cannot write a family"))?;
            Ok(())
        })
    }
    async fn family(&self, id: &str) -> Result<Option<Family>, StoreError> {
        self.with(|db| {
            db.query_row(
                "SELECT id, client_id, username, scopes, created_at, revoked, jkt FROM families WHERE id = ?1",
                [id],
                |r| {
                    Ok(Family {
                        id: r.get(0)?,
                        client_id: r.get(1)?,
                        username: r.get(2)?,
                        scopes: split(&r.get::<_, String>(3)?),
                        created_at: r.get(4)?,
                        revoked: r.get::<_, i64>(5)? != 0,
                        jkt: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(err("cannot read a family"))
        })
    }
    async fn revoke_family(&self, id: &str, now: i64) -> Result<(), StoreError> {
        self.with(|db| {
            let tx = db.unchecked_transaction().map_err(err("begin"))?;
            revoke_family_tx(&tx, id, now)?;
            tx.commit().map_err(err("commit"))
        })
        .inspect(|_| self.invalidate())
    }
    async fn insert_code(&self, c: &CodeRecord) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                &format!("INSERT INTO codes ({CODE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    c.hash,
                    c.client_id,
                    c.redirect_uri,
                    c.username,
                    c.scopes.join(" "),
                    c.code_challenge,
                    c.family_id,
                    c.expires_at
                ],
            )
            .map_err(err("cannot write a code"))?;
            Ok(())
        })
    }
    async fn consume_code(&self, hash: &str) -> Result<Consume<CodeRecord>, StoreError> {
        self.with(|db| {
            let fresh = db
                .query_row(
                    &format!("UPDATE codes SET used = 1 WHERE hash = ?1 AND used = 0 RETURNING {CODE_COLS}"),
                    [hash],
                    code_from_row,
                )
                .optional()
                .map_err(err("cannot consume a code"))?;
            if let Some(c) = fresh {
                return Ok(Consume::Fresh(c));
            }
            let old = db
                .query_row(
                    &format!("SELECT {CODE_COLS} FROM codes WHERE hash = ?1"),
                    [hash],
                    code_from_row,
                )
                .optional()
                .map_err(err("cannot read a code"))?;
            Ok(old.map(Consume::Replayed).unwrap_or(Consume::Unknown))
        })
    }
    async fn insert_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO tokens (hash, kind, client_id, username, scopes, family_id, issued_at, \
                 expires_at, revoked, consumed, generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    t.hash,
                    t.kind.as_str(),
                    t.client_id,
                    t.username,
                    t.scopes.join(" "),
                    t.family_id,
                    t.issued_at,
                    t.expires_at,
                    t.revoked as i64,
                    t.consumed as i64,
                    t.generation as i64
                ],
            )
            .map_err(err("cannot write a token"))?;
            Ok(())
        })
    }
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        use std::sync::atomic::Ordering;
        let now = micros();
        if now - self.checked_at.load(Ordering::Relaxed) >= RECHECK_MICROS {
            self.with(|db| {
                let version: i64 = db
                    .prepare_cached("PRAGMA data_version")
                    .and_then(|mut st| st.query_row([], |r| r.get(0)))
                    .map_err(err("data_version"))?;
                if let Ok(mut c) = self.cache.write() {
                    if c.data_version != version {
                        c.data_version = version;
                        c.tokens.clear();
                    }
                }
                Ok(())
            })?;
            self.checked_at.store(now, Ordering::Relaxed);
        }
        if let Some(t) = self
            .cache
            .read()
            .ok()
            .and_then(|c| c.tokens.get(hash).cloned())
        {
            return Ok(Some(t));
        }
        // the lookup and the cache insert happen under the connection lock, like every write,
        // so a revocation cannot slip between them
        self.with(|db| {
            let mut st = db
                .prepare_cached(&format!(
                    "SELECT {TOKEN_COLS} FROM tokens t LEFT JOIN families f ON f.id = t.family_id \
                     WHERE t.hash = ?1"
                ))
                .map_err(err("prepare"))?;
            let found = st
                .query_row([hash], token_from_row)
                .optional()
                .map_err(err("cannot read a token"))?;
            if let Some(t) = &found {
                if t.kind == TokenKind::Access && !t.revoked {
                    if let Ok(mut c) = self.cache.write() {
                        if c.tokens.len() >= CACHE_MAX {
                            c.tokens.clear();
                        }
                        c.tokens.insert(hash.to_string(), t.clone());
                    }
                }
            }
            Ok(found)
        })
    }
    async fn consume_refresh(&self, hash: &str) -> Result<Consume<TokenRecord>, StoreError> {
        self.with(|db| {
            let n = db
                .execute(
                    "UPDATE tokens SET consumed = 1 WHERE hash = ?1 AND kind = 'refresh' \
                     AND consumed = 0 AND revoked = 0 AND NOT EXISTS \
                     (SELECT 1 FROM families f WHERE f.id = tokens.family_id AND f.revoked = 1)",
                    [hash],
                )
                .map_err(err("cannot consume a refresh token"))?;
            let rec = db
                .query_row(
                    &format!(
                        "SELECT {TOKEN_COLS} FROM tokens t LEFT JOIN families f ON f.id = t.family_id \
                         WHERE t.hash = ?1 AND t.kind = 'refresh'"
                    ),
                    [hash],
                    token_from_row,
                )
                .optional()
                .map_err(err("cannot read a token"))?;
            Ok(match (n, rec) {
                (_, None) => Consume::Unknown,
                (1, Some(mut r)) => {
                    r.consumed = false;
                    Consume::Fresh(r)
                }
                (_, Some(r)) => Consume::Replayed(r),
            })
        })
    }
    async fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare(&format!(
                    "SELECT {TOKEN_COLS} FROM tokens t LEFT JOIN families f ON f.id = t.family_id \
                     ORDER BY t.issued_at, t.hash"
                ))
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([], token_from_row)
                .map_err(err("cannot list tokens"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot list tokens"))
        })
    }
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare(
                    "SELECT kid, alg, private_pkcs8, created_at, retires_at, keep_until \
                     FROM signing_keys",
                )
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([], |r| {
                    Ok(StoredKey {
                        kid: r.get(0)?,
                        alg: r.get(1)?,
                        private_pkcs8: Secret::new(r.get::<_, String>(2)?),
                        created_at: r.get(3)?,
                        retires_at: r.get(4)?,
                        keep_until: r.get(5)?,
                    })
                })
                .map_err(err("cannot read signing keys"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot read signing keys"))
        })
    }
    async fn put_signing_key(&self, k: &StoredKey) -> Result<(), StoreError> {
        self.with(|db| {
            db.execute(
                "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, retires_at, \
                 keep_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(kid) DO UPDATE SET \
                 keep_until = MAX(keep_until, excluded.keep_until)",
                params![
                    k.kid,
                    k.alg,
                    k.private_pkcs8.expose(),
                    k.created_at,
                    k.retires_at,
                    k.keep_until
                ],
            )
            .map_err(err("cannot store a signing key"))?;
            Ok(())
        })
    }
    async fn revocations_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.with(|db| {
            let mut st = db
                .prepare("SELECT family_id, revoked_at FROM revocations WHERE revoked_at >= ?1")
                .map_err(err("prepare"))?;
            let rows = st
                .query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(err("cannot read revocations"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("cannot read revocations"))
        })
    }
    async fn purge(&self, now: i64) -> Result<u64, StoreError> {
        self.with(|db| {
            let tx = db.unchecked_transaction().map_err(err("begin"))?;
            tx.execute("DELETE FROM signing_keys WHERE keep_until <= ?1", [now])
                .map_err(err("cannot purge signing keys"))?;
            tx.execute(
                "DELETE FROM revocations WHERE revoked_at <= ?1",
                [now - MAX_JWT_LIFETIME - LEEWAY],
            )
            .map_err(err("cannot purge revocations"))?;
            let n = tx
                .execute(
                    "DELETE FROM tokens WHERE revoked = 1 \
                     OR (expires_at IS NOT NULL AND expires_at <= ?1) \
                     OR family_id IN (SELECT id FROM families WHERE revoked = 1)",
                    [now],
                )
                .map_err(err("cannot purge tokens"))?;
            tx.execute("DELETE FROM codes WHERE expires_at <= ?1", [now])
                .map_err(err("cannot purge codes"))?;
            tx.execute(
                "DELETE FROM families WHERE id NOT IN (SELECT family_id FROM tokens) \
                 AND id NOT IN (SELECT family_id FROM codes)",
                [],
            )
            .map_err(err("cannot purge families"))?;
            tx.commit().map_err(err("commit"))?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(hash: &str, kind: TokenKind) -> TokenRecord {
        TokenRecord {
            hash: hash.into(),
            kind,
            client_id: "c".into(),
            username: None,
            scopes: vec!["view".into()],
            family_id: "fam".into(),
            issued_at: 1,
            expires_at: Some(100),
            revoked: false,
            consumed: false,
            generation: 0,
        }
    }

    #[tokio::test]
    async fn revocation_by_another_connection_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        a.insert_token(&token("h1", TokenKind::Access))
            .await
            .unwrap();
        assert!(!a.token("h1").await.unwrap().unwrap().revoked);
        assert!(
            !a.token("h1").await.unwrap().unwrap().revoked,
            "served from the cache"
        );
        b.revoke_family("fam", 5).await.unwrap();
        // another process's commit is noticed within RECHECK_MICROS
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        assert!(a.token("h1").await.unwrap().unwrap().revoked);
        // this connection's own revocations at once
        a.insert_token(&TokenRecord {
            family_id: "fam2".into(),
            ..token("h2", TokenKind::Access)
        })
        .await
        .unwrap();
        assert!(!a.token("h2").await.unwrap().unwrap().revoked);
        a.revoke_family("fam2", 5).await.unwrap();
        assert!(a.token("h2").await.unwrap().unwrap().revoked);
    }

    #[tokio::test]
    async fn a_store_from_before_dpop_bound_refresh_tokens_gains_the_key_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.db");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch(
                "CREATE TABLE families (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, \
                 username TEXT, scopes TEXT NOT NULL, created_at INTEGER NOT NULL, \
                 revoked INTEGER NOT NULL DEFAULT 0); \
                 INSERT INTO families VALUES ('old', 'c', NULL, 'view', 1, 0);",
            )
            .unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        let old = s.family("old").await.unwrap().unwrap();
        assert_eq!(old.jkt, None);
        assert_eq!(old.scopes, vec!["view"]);
        s.insert_family(&Family {
            id: "bound".into(),
            client_id: "c".into(),
            username: Some("alice".into()),
            scopes: vec!["view".into()],
            created_at: 2,
            revoked: false,
            jkt: Some("thumb".into()),
        })
        .await
        .unwrap();
        // opening again (the column exists now) keeps it
        drop(s);
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            s.family("bound").await.unwrap().unwrap().jkt.as_deref(),
            Some("thumb")
        );
    }

    #[tokio::test]
    async fn refresh_consume_is_single_use_across_connections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        a.insert_token(&token("r1", TokenKind::Refresh))
            .await
            .unwrap();
        assert!(matches!(
            b.consume_refresh("r1").await.unwrap(),
            Consume::Fresh(_)
        ));
        assert!(matches!(
            a.consume_refresh("r1").await.unwrap(),
            Consume::Replayed(_)
        ));
        assert!(matches!(
            a.consume_refresh("nope").await.unwrap(),
            Consume::Unknown
        ));
        assert_eq!(a.purge(1000).await.unwrap(), 1);
        assert!(a.token("r1").await.unwrap().is_none());
    }
}
