//! JWT access tokens (RFC 9068): signing keys the server generates, rotates and keeps until
//! every token they signed has expired, signing, and validation without a store lookup.
//!
//! Keys live in the [`Store`](super::Store) (so a restart, or another gateway on the same
//! store, keeps validating); the [`Keyring`] holds them parsed in memory. Validation is pure:
//! [`verify`] checks a compact JWS against one key and the expected issuer, audiences and
//! time; the caller picks the key by `kid`.

use super::secret::Secret;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

/// Longest JWT accepted for validation, in bytes.
pub const MAX_JWT_LEN: usize = 16 * 1024;
/// Longest lifetime of a JWT access token (30 days): revocations are remembered this long.
pub const MAX_JWT_LIFETIME: i64 = 30 * 24 * 3600;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY: i64 = 30;
/// Unknown `kid`s reload the keys from the store at most this often (seconds).
pub const RELOAD_INTERVAL: i64 = 5;

/// The format of access tokens the server issues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// 256 random bits, validated by a store lookup.
    #[default]
    Opaque,
    /// RFC 9068 JWT, validated with the published keys.
    Jwt,
}

/// Signature algorithm of generated keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningAlg {
    /// ECDSA P-256 with SHA-256.
    #[default]
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys).
    Rs256,
    /// RSASSA-PSS with SHA-256 (2048-bit keys).
    Ps256,
    /// Ed25519.
    EdDsa,
}

/// Bits of generated RSA keys.
pub const RSA_BITS: usize = 2048;

impl SigningAlg {
    /// Every algorithm, as configured.
    pub const NAMES: &'static str = "\"ES256\", \"RS256\", \"PS256\" or \"EdDSA\"";

    pub fn parse(s: &str) -> Option<SigningAlg> {
        match s {
            "ES256" => Some(SigningAlg::Es256),
            "RS256" => Some(SigningAlg::Rs256),
            "PS256" => Some(SigningAlg::Ps256),
            "EdDSA" => Some(SigningAlg::EdDsa),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Es256 => "ES256",
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }
}

/// Why a JWT is not accepted, or a key cannot be used. Never carries token or key bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwtError(pub &'static str);

/// A signing key as the store keeps it. `private_pkcs8` is the base64 PKCS#8 DER.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_pkcs8: Secret,
    pub created_at: i64,
    /// No token is signed with it from then on.
    pub retires_at: i64,
    /// Published (and accepted) until then: the latest `exp` of a token it signed.
    pub keep_until: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retires_at", &self.retires_at)
            .field("keep_until", &self.keep_until)
            .finish_non_exhaustive()
    }
}

/// A key ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub alg: Algorithm,
    pub created_at: i64,
    pub retires_at: i64,
    keep_until: AtomicI64,
    pub(crate) encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
    stored: StoredKey,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl LoadedKey {
    pub fn keep_until(&self) -> i64 {
        self.keep_until.load(Ordering::SeqCst)
    }

    /// Parse a stored key (and check it signs).
    pub fn from_stored(k: &StoredKey) -> Result<LoadedKey, JwtError> {
        let der = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(k.private_pkcs8.expose())
                .map_err(|_| JwtError("a stored signing key is not base64"))?,
        );
        let (alg, jwk, decoding, encoding) = match k.alg.as_str() {
            "ES256" => {
                let rng = ring::rand::SystemRandom::new();
                let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                    &rng,
                )
                .map_err(|_| JwtError("a stored signing key is not a P-256 PKCS#8 key"))?;
                use ring::signature::KeyPair as _;
                let point = pair.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(JwtError("unexpected P-256 public key encoding"));
                }
                let x = B64.encode(&point[1..33]);
                let y = B64.encode(&point[33..65]);
                let decoding = DecodingKey::from_ec_components(&x, &y)
                    .map_err(|_| JwtError("cannot build the P-256 verification key"))?;
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
                (
                    Algorithm::ES256,
                    jwk,
                    decoding,
                    EncodingKey::from_ec_der(&der),
                )
            }
            "RS256" | "PS256" => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                use rsa::pkcs8::DecodePrivateKey as _;
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                    .map_err(|_| JwtError("a stored signing key is not an RSA PKCS#8 key"))?;
                let n = B64.encode(key.n().to_bytes_be());
                let e = B64.encode(key.e().to_bytes_be());
                let decoding = DecodingKey::from_rsa_components(&n, &e)
                    .map_err(|_| JwtError("cannot build the RSA verification key"))?;
                let pkcs1 = key
                    .to_pkcs1_der()
                    .map_err(|_| JwtError("cannot encode the RSA signing key"))?;
                // ring signs: it must accept the key (it refuses keys under 2048 bits)
                ring::signature::RsaKeyPair::from_der(pkcs1.as_bytes())
                    .map_err(|_| JwtError("a stored RSA signing key is not usable"))?;
                let alg = if k.alg == "PS256" {
                    Algorithm::PS256
                } else {
                    Algorithm::RS256
                };
                let jwk = json!({"kty": "RSA", "n": n, "e": e});
                (
                    alg,
                    jwk,
                    decoding,
                    EncodingKey::from_rsa_der(pkcs1.as_bytes()),
                )
            }
            "EdDSA" => {
                use ring::signature::KeyPair as _;
                let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                    .map_err(|_| JwtError("a stored signing key is not an Ed25519 PKCS#8 key"))?;
                let x = B64.encode(pair.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x)
                    .map_err(|_| JwtError("cannot build the Ed25519 verification key"))?;
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
                (
                    Algorithm::EdDSA,
                    jwk,
                    decoding,
                    EncodingKey::from_ed_der(&der),
                )
            }
            _ => return Err(JwtError("unsupported signing algorithm of a stored key")),
        };
        let mut jwk = jwk;
        if let Value::Object(m) = &mut jwk {
            m.insert("kid".into(), k.kid.clone().into());
            m.insert("alg".into(), k.alg.clone().into());
            m.insert("use".into(), "sig".into());
        }
        Ok(LoadedKey {
            kid: k.kid.clone(),
            alg,
            created_at: k.created_at,
            retires_at: k.retires_at,
            keep_until: AtomicI64::new(k.keep_until),
            encoding,
            decoding,
            jwk,
            stored: k.clone(),
        })
    }

    /// Sign `claims` as an RFC 9068 access token (`typ: at+jwt`).
    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let mut h = Header::new(self.alg);
        h.typ = Some("at+jwt".into());
        h.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&h, claims, &self.encoding).map_err(|_| JwtError("signing failed"))
    }
}

/// RFC 7638 thumbprint of a public JWK (the members it names, in order), base64url.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let members: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut s = String::from("{");
    for (i, m) in members.iter().enumerate() {
        let v = jwk.get(*m)?.as_str()?;
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("\"{m}\":{}", Value::String(v.to_string())));
    }
    s.push('}');
    Some(B64.encode(Sha256::digest(s.as_bytes())))
}

/// Generate a key of `alg`, signing from `now` for `rotation` seconds.
pub fn generate(alg: SigningAlg, now: i64, rotation: i64) -> Result<StoredKey, JwtError> {
    let rng = ring::rand::SystemRandom::new();
    let failed = |_| JwtError("cannot generate a signing key");
    let pkcs8: zeroize::Zeroizing<Vec<u8>> = match alg {
        SigningAlg::Es256 => ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .map_err(failed)?
        .as_ref()
        .to_vec()
        .into(),
        SigningAlg::EdDsa => ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(failed)?
            .as_ref()
            .to_vec()
            .into(),
        SigningAlg::Rs256 | SigningAlg::Ps256 => {
            // ring cannot generate RSA keys (docs/adr/0476-rsa-signing-keys.md)
            use rsa::pkcs8::EncodePrivateKey as _;
            let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
                .map_err(|_| JwtError("cannot generate a signing key"))?;
            key.to_pkcs8_der()
                .map_err(|_| JwtError("cannot encode a signing key"))?
                .as_bytes()
                .to_vec()
                .into()
        }
    };
    let mut k = StoredKey {
        kid: String::new(),
        alg: alg.as_str().to_string(),
        private_pkcs8: Secret::new(base64::engine::general_purpose::STANDARD.encode(&*pkcs8)),
        created_at: now,
        retires_at: now + rotation.max(1),
        keep_until: now + rotation.max(1),
    };
    let loaded = LoadedKey::from_stored(&k)?;
    k.kid = thumbprint(&loaded.jwk).ok_or(JwtError("cannot compute the key id"))?;
    Ok(k)
}

/// The issuer: the configured one, or `http://<listen address>` once the gateway listens.
#[derive(Debug, Default)]
pub struct IssuerCell {
    configured: Option<String>,
    listener: OnceLock<String>,
}

impl IssuerCell {
    pub fn new(configured: Option<String>) -> IssuerCell {
        IssuerCell {
            configured: configured.map(|i| i.trim_end_matches('/').to_string()),
            listener: OnceLock::new(),
        }
    }
    /// The gateway listens on `addr` (`host:port`); the first one given is kept.
    pub fn set_listener(&self, addr: impl std::fmt::Display) {
        let _ = self.listener.set(format!("http://{addr}"));
    }
    pub fn get(&self) -> String {
        self.as_str().to_string()
    }
    /// [`get`](Self::get) without a copy.
    pub fn as_str(&self) -> &str {
        match (&self.configured, self.listener.get()) {
            (Some(i), _) => i,
            (None, Some(l)) => l,
            (None, None) => "http://127.0.0.1",
        }
    }
}

/// The keys of this server, parsed.
#[derive(Debug, Default)]
pub struct Keyring {
    keys: RwLock<Arc<Vec<Arc<LoadedKey>>>>,
    last_reload: AtomicI64,
    /// Serialises key generation.
    pub(crate) generating: tokio::sync::Mutex<()>,
}

impl Keyring {
    /// Replace the keys with `stored` (those not expired at `now`). Unusable keys are skipped
    /// with a warning.
    pub fn replace(&self, stored: &[StoredKey], now: i64) {
        let mut v: Vec<Arc<LoadedKey>> = Vec::new();
        for k in stored.iter().filter(|k| k.keep_until > now) {
            match LoadedKey::from_stored(k) {
                Ok(l) => v.push(Arc::new(l)),
                Err(e) => tracing::warn!(kid = %k.kid, error = %e, "signing key skipped"),
            }
        }
        v.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        if let Ok(mut w) = self.keys.write() {
            *w = Arc::new(v);
        }
        self.last_reload.store(now, Ordering::SeqCst);
    }

    pub fn all(&self) -> Arc<Vec<Arc<LoadedKey>>> {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// The newest key of `alg` that may sign at `now`.
    pub fn signing(&self, alg: SigningAlg, now: i64) -> Option<Arc<LoadedKey>> {
        self.all()
            .iter()
            .find(|k| {
                k.stored.alg == alg.as_str() && k.created_at <= now + LEEWAY && k.retires_at > now
            })
            .cloned()
    }

    /// Whether the key `kid` is still usable at `now` (no copy of the keyring).
    pub fn has(&self, kid: &str, now: i64) -> bool {
        self.keys.read().is_ok_and(|k| {
            k.iter()
                .any(|k| k.kid == kid && k.keep_until() > now - LEEWAY)
        })
    }

    pub fn find(&self, kid: &str, now: i64) -> Option<Arc<LoadedKey>> {
        self.all()
            .iter()
            .find(|k| k.kid == kid && k.keep_until() > now - LEEWAY)
            .cloned()
    }

    /// Whether an unknown `kid` may trigger a reload now (at most every [`RELOAD_INTERVAL`]).
    pub fn may_reload(&self, now: i64) -> bool {
        let last = self.last_reload.load(Ordering::SeqCst);
        now - last >= RELOAD_INTERVAL
            && self
                .last_reload
                .compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }

    /// The stored form of a key whose `keep_until` must grow to `exp`, if it must.
    pub fn extend(&self, key: &LoadedKey, exp: i64) -> Option<StoredKey> {
        let prev = key.keep_until.fetch_max(exp, Ordering::SeqCst);
        (exp > prev).then(|| {
            let mut s = key.stored.clone();
            s.keep_until = exp;
            s
        })
    }

    /// RFC 7517 JWK Set of the keys still published at `now`.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .all()
            .iter()
            .filter(|k| k.keep_until() > now)
            .map(|k| k.jwk.clone())
            .collect();
        json!({ "keys": keys })
    }
}

/// Grants revoked recently, by id: a JWT whose `jti` starts with `<grant id>.` is refused.
/// Filled by this process's revocations at once and from the store's revocation list by
/// [`sync`](RevokedGrants::sync).
#[derive(Debug, Default)]
pub struct RevokedGrants {
    /// Hashed with foldhash (seeded per process): read on every request with a JWT.
    set: RwLock<HashMap<String, i64, foldhash::fast::RandomState>>,
    cursor: AtomicI64,
}

/// Revocations re-read from the store this many seconds before the cursor (late writers).
const SYNC_OVERLAP: i64 = 10;

impl RevokedGrants {
    pub fn note(&self, family: &str, at: i64) {
        if let Ok(mut s) = self.set.write() {
            s.insert(family.to_string(), at);
        }
    }
    pub fn is_revoked(&self, family: &str) -> bool {
        self.set.read().is_ok_and(|s| s.contains_key(family))
    }
    pub fn len(&self) -> usize {
        self.set.read().map(|s| s.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Where the next sync reads from.
    pub fn since(&self) -> i64 {
        self.cursor.load(Ordering::SeqCst) - SYNC_OVERLAP
    }
    /// Merge revocations read from the store, forget those older than [`MAX_JWT_LIFETIME`].
    pub fn merge(&self, rows: &[(String, i64)], now: i64) {
        if let Ok(mut s) = self.set.write() {
            for (f, at) in rows {
                s.insert(f.clone(), *at);
            }
            s.retain(|_, at| *at > now - MAX_JWT_LIFETIME - LEEWAY);
        }
        self.cursor.store(now, Ordering::SeqCst);
    }
}

/// Default bound of the [`ValidatedCache`], in entries.
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

/// Tokens whose signature and request-independent claims (`typ`, `iss`, `exp`, `nbf`, `iat`)
/// were verified, keyed by the SHA-256 of the token (the token itself is never kept), so a
/// token presented again skips the signature check.
///
/// An entry is used only while the token is accepted (until `exp` plus [`LEEWAY`]) and while
/// the key that signed it (by `kid`) is still in the keyring; what depends on the request (the
/// audience, the resource's scopes) and revocation are checked by the caller on every hit.
/// Bounded: when full, expired entries are dropped, then arbitrary ones.
#[derive(Debug)]
pub struct ValidatedCache {
    /// Keys are SHA-256 digests: a fast hash (foldhash, seeded per process) is enough.
    map: RwLock<HashMap<[u8; 32], Arc<CachedToken>, foldhash::fast::RandomState>>,
    max: usize,
}

/// A validated token: what it says, and the key that signed it.
#[derive(Debug)]
pub struct CachedToken {
    pub kid: String,
    pub verified: Verified,
}

impl ValidatedCache {
    /// A cache of at most `max` tokens (`0`: nothing is cached).
    pub fn new(max: usize) -> ValidatedCache {
        ValidatedCache {
            map: RwLock::new(HashMap::default()),
            max,
        }
    }

    /// The cache key of a token (its bytes as the request carried them).
    pub fn key(token: &[u8]) -> [u8; 32] {
        Sha256::digest(token).into()
    }

    /// The entry of `key` if the token is still accepted at `now`.
    pub fn get(&self, key: &[u8; 32], now: i64) -> Option<Arc<CachedToken>> {
        if self.max == 0 {
            return None;
        }
        let hit = self.map.read().ok()?.get(key).cloned()?;
        (hit.verified.exp + LEEWAY > now).then_some(hit)
    }

    /// Remember a validated token.
    pub fn insert(&self, key: [u8; 32], entry: CachedToken, now: i64) {
        if self.max == 0 {
            return;
        }
        let Ok(mut m) = self.map.write() else { return };
        if m.len() >= self.max && !m.contains_key(&key) {
            m.retain(|_, e| e.verified.exp + LEEWAY > now);
            while m.len() >= self.max {
                let Some(k) = m.keys().next().copied() else {
                    break;
                };
                m.remove(&k);
            }
        }
        m.insert(key, Arc::new(entry));
    }

    /// Forget a token (its key is gone, it was found revoked).
    pub fn remove(&self, key: &[u8; 32]) {
        if let Ok(mut m) = self.map.write() {
            m.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a validated access token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub iss: String,
    pub sub: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub jti: Option<String>,
    pub exp: i64,
    /// `cnf.jkt`: the DPoP key thumbprint the token is bound to.
    pub jkt: Option<String>,
    /// `aud`, as a list.
    pub aud: Vec<String>,
}

impl Verified {
    /// Whether the token's `aud` contains one of `audiences`.
    pub fn has_audience(&self, audiences: &[String]) -> bool {
        self.aud.iter().any(|a| audiences.iter().any(|e| e == a))
    }
    /// Whether one of its audiences is accepted.
    pub fn has_audience_in(&self, accepts: impl Fn(&str) -> bool) -> bool {
        self.aud.iter().any(|a| accepts(a))
    }
}

/// The unverified header and `iss` of a compact JWS, to pick the key set; `Err` when it is not
/// a JWT at all.
pub fn peek(token: &str) -> Result<(Header, String), JwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtError("token too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError("malformed JWT"))?;
    let payload = token.split('.').nth(1).ok_or(JwtError("malformed JWT"))?;
    let raw = B64.decode(payload).map_err(|_| JwtError("malformed JWT"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| JwtError("malformed JWT"))?;
    let iss = v
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(JwtError("no iss"))?;
    Ok((header, iss.to_string()))
}

/// What [`verify`] expects of a token.
#[derive(Clone, Debug)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// The token's `aud` must contain one of these.
    pub audiences: &'a [String],
    pub now: i64,
    /// Require `typ` `at+jwt` (RFC 9068); other issuers' tokens may be plain `JWT`.
    pub at_jwt_typ: bool,
}

fn scopes_of(claims: &Map<String, Value>) -> Vec<String> {
    let from = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => s
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    claims
        .get("scope")
        .or_else(|| claims.get("scp"))
        .map(from)
        .unwrap_or_default()
}

/// Verify the signature of `token` with `key` and check `typ`, `iss`, `aud`, `exp`, `nbf`.
pub fn verify(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    expect: &Expect<'_>,
) -> Result<Verified, JwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtError("token too long"));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError("malformed JWT"))?;
    if header.alg != alg {
        return Err(JwtError("unexpected algorithm"));
    }
    let typ_ok = match header
        .typ
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("at+jwt") | Some("application/at+jwt") => true,
        None | Some("jwt") => !expect.at_jwt_typ,
        _ => false,
    };
    if !typ_ok {
        return Err(JwtError("not an access token (typ)"));
    }
    let mut v = jsonwebtoken::Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &v)
        .map_err(|_| JwtError("bad signature"))?;
    let c = data.claims;
    let iss = c.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != expect.issuer {
        return Err(JwtError("wrong issuer"));
    }
    let exp = c
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(JwtError("no exp"))?;
    if exp + LEEWAY <= expect.now {
        return Err(JwtError("expired"));
    }
    if let Some(nbf) = c.get("nbf") {
        let nbf = nbf.as_i64().ok_or(JwtError("bad nbf"))?;
        if nbf - LEEWAY > expect.now {
            return Err(JwtError("not yet valid"));
        }
    }
    if let Some(iat) = c.get("iat").and_then(Value::as_i64) {
        if iat - LEEWAY > expect.now {
            return Err(JwtError("issued in the future"));
        }
    }
    let auds: Vec<&str> = match c.get("aud") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !auds.iter().any(|a| expect.audiences.iter().any(|e| e == a)) {
        return Err(JwtError("wrong audience"));
    }
    let sub = c
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let client_id = c
        .get("client_id")
        .or_else(|| c.get("azp"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Ok(Verified {
        iss: iss.to_string(),
        scopes: scopes_of(&c),
        sub,
        client_id,
        jti: c.get("jti").and_then(Value::as_str).map(str::to_string),
        exp,
        jkt: c
            .get("cnf")
            .and_then(|x| x.get("jkt"))
            .and_then(Value::as_str)
            .map(str::to_string),
        aud: auds.into_iter().map(str::to_string).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LoadedKey {
        LoadedKey::from_stored(&generate(SigningAlg::Es256, 1000, 100).unwrap()).unwrap()
    }

    fn claims(aud: &str, exp: i64) -> Value {
        json!({"iss": "http://as", "sub": "alice", "aud": aud, "exp": exp, "iat": 1000,
               "nbf": 1000, "jti": "fam.x", "client_id": "c", "scope": "view book"})
    }

    #[test]
    fn sign_and_verify() {
        let k = key();
        assert_eq!(k.kid, thumbprint(&k.jwk).unwrap());
        let t = k.sign(&claims("http://as", 2000)).unwrap();
        let auds = vec!["http://as".to_string()];
        let e = Expect {
            issuer: "http://as",
            audiences: &auds,
            now: 1500,
            at_jwt_typ: true,
        };
        let v = verify(&t, &k.decoding, k.alg, &e).unwrap();
        assert_eq!(v.scopes, vec!["view", "book"]);
        assert_eq!(v.client_id, "c");
        let (h, iss) = peek(&t).unwrap();
        assert_eq!(h.kid.as_deref(), Some(k.kid.as_str()));
        assert_eq!(iss, "http://as");
        // expired, wrong issuer, wrong audience, another key, tampered
        let late = Expect {
            now: 2100,
            ..e.clone()
        };
        assert_eq!(
            verify(&t, &k.decoding, k.alg, &late),
            Err(JwtError("expired"))
        );
        let other_iss = Expect {
            issuer: "http://x",
            ..e.clone()
        };
        assert!(verify(&t, &k.decoding, k.alg, &other_iss).is_err());
        let auds2 = vec!["http://as/api".to_string()];
        let other_aud = Expect {
            audiences: &auds2,
            ..e.clone()
        };
        assert_eq!(
            verify(&t, &k.decoding, k.alg, &other_aud),
            Err(JwtError("wrong audience"))
        );
        let k2 = key();
        assert_eq!(
            verify(&t, &k2.decoding, k2.alg, &e),
            Err(JwtError("bad signature"))
        );
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(claims("http://as", 9999).to_string());
        assert!(verify(&parts.join("."), &k.decoding, k.alg, &e).is_err());
    }

    #[test]
    fn every_signing_algorithm_signs_publishes_and_verifies() {
        let auds = vec!["http://as".to_string()];
        let e = Expect {
            issuer: "http://as",
            audiences: &auds,
            now: 1500,
            at_jwt_typ: true,
        };
        for (alg, jwk_alg, kty, members) in [
            (
                SigningAlg::Es256,
                Algorithm::ES256,
                "EC",
                &["crv", "x", "y"][..],
            ),
            (SigningAlg::Rs256, Algorithm::RS256, "RSA", &["n", "e"][..]),
            (SigningAlg::Ps256, Algorithm::PS256, "RSA", &["n", "e"][..]),
            (
                SigningAlg::EdDsa,
                Algorithm::EdDSA,
                "OKP",
                &["crv", "x"][..],
            ),
        ] {
            let name = alg.as_str();
            assert_eq!(SigningAlg::parse(name), Some(alg));
            let stored = generate(alg, 1000, 100).unwrap();
            assert_eq!(stored.alg, name);
            let k = LoadedKey::from_stored(&stored).unwrap();
            assert_eq!(k.alg, jwk_alg, "{name}");
            assert_eq!(k.kid, stored.kid);
            assert_eq!(k.kid, thumbprint(&k.jwk).unwrap(), "{name}");
            assert_eq!(k.jwk["kty"], kty, "{name}");
            assert_eq!(k.jwk["alg"], name);
            assert_eq!(k.jwk["use"], "sig");
            for m in members {
                assert!(
                    k.jwk[*m].as_str().is_some_and(|v| !v.is_empty()),
                    "{name} {m}"
                );
            }
            // the public JWK only
            for m in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(k.jwk.get(m).is_none(), "{name} publishes {m}");
            }
            if kty == "RSA" {
                let n = B64.decode(k.jwk["n"].as_str().unwrap()).unwrap();
                assert_eq!(n.len() * 8, RSA_BITS, "{name}");
                assert_eq!(k.jwk["e"], "AQAB");
            }
            let t = k.sign(&claims("http://as", 2000)).unwrap();
            let (h, _) = peek(&t).unwrap();
            assert_eq!(h.alg, jwk_alg);
            assert_eq!(h.kid.as_deref(), Some(k.kid.as_str()));
            let v = verify(&t, &k.decoding, k.alg, &e).unwrap();
            assert_eq!(v.sub, "alice", "{name}");
            // tampered claims, or the algorithm of another key, are refused
            let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
            parts[1] = B64.encode(claims("http://as", 9999).to_string());
            assert!(
                verify(&parts.join("."), &k.decoding, k.alg, &e).is_err(),
                "{name}"
            );
            let other = Algorithm::ES384;
            assert_eq!(
                verify(&t, &k.decoding, other, &e),
                Err(JwtError("unexpected algorithm"))
            );
            // the stored form parses again to the same key
            let again = LoadedKey::from_stored(&stored).unwrap();
            assert_eq!(again.jwk, k.jwk);
        }
        // a stored key whose algorithm does not match its bytes is refused, not a panic
        let mut wrong = generate(SigningAlg::Es256, 0, 10).unwrap();
        wrong.alg = "RS256".into();
        assert!(LoadedKey::from_stored(&wrong).is_err());
        wrong.alg = "EdDSA".into();
        assert!(LoadedKey::from_stored(&wrong).is_err());
        assert_eq!(SigningAlg::parse("HS256"), None);
        assert_eq!(SigningAlg::parse("rs256"), None);
    }

    #[test]
    fn keyring_rotation_and_keep() {
        let ring = Keyring::default();
        let old = generate(SigningAlg::Es256, 0, 100).unwrap();
        let new = generate(SigningAlg::Es256, 100, 100).unwrap();
        ring.replace(&[old.clone(), new.clone()], 50);
        assert_eq!(ring.signing(SigningAlg::Es256, 50).unwrap().kid, old.kid);
        assert_eq!(ring.signing(SigningAlg::Es256, 150).unwrap().kid, new.kid);
        // the old key (signing until 100) signed a token up to 180: kept, published
        let o = ring.find(&old.kid, 110).unwrap();
        assert!(ring.extend(&o, 180).is_some());
        assert!(ring.extend(&o, 170).is_none());
        assert_eq!(ring.jwks(170)["keys"].as_array().unwrap().len(), 2);
        assert_eq!(ring.jwks(190)["keys"].as_array().unwrap().len(), 1);
        // a stored key's Debug never shows the private key
        assert!(!format!("{old:?}").contains(old.private_pkcs8.expose()));
    }
}
