//! DPoP proofs (RFC 9449): a JWS the client signs with its own key for each request, whose
//! header carries the public key. The token endpoint binds tokens to the key's thumbprint
//! (`cnf.jkt`); protected resources then require a proof with the same key for each request.
//! No I/O: the replay cache is [`ReplayCache`], time comes from the caller.

use super::jwt::{thumbprint, JwtError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;

/// Longest proof accepted, in bytes.
pub const MAX_PROOF_LEN: usize = 8 * 1024;
/// Longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;
/// Algorithms a proof may use (asymmetric only).
pub const ALGS: &str = "ES256 ES384 RS256 PS256 EdDSA";

/// What a proof must match.
#[derive(Clone)]
pub struct ProofExpect<'a> {
    /// The request method (`htm`).
    pub method: &'a str,
    /// Accepts the proof's `htu` (the request URL without query and fragment).
    pub htu: &'a dyn Fn(&str) -> bool,
    /// The access token the proof must name (`ath`), at protected resources.
    pub access_token: Option<&'a str>,
    pub now: i64,
    /// Seconds a proof is accepted after its `iat` (and before it, for clock skew).
    pub window: i64,
}

/// A valid proof: the key's thumbprint, and the `jti` (for the replay check).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The `nonce` claim, if any (checked by the caller against its [`NonceSource`]).
    pub nonce: Option<String>,
}

/// Longest `nonce` claim accepted.
pub const MAX_NONCE_LEN: usize = 256;

/// Server-provided nonces (RFC 9449 §8, §9): a nonce is an HMAC of the current time period
/// under a key of this process, so none is stored; one is accepted during its period and the
/// next (between `period` and twice `period` seconds).
pub struct NonceSource {
    key: ring::hmac::Key,
    period: i64,
}

impl std::fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSource")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl NonceSource {
    /// Nonces changing every `period` seconds, under a fresh random key.
    pub fn new(period: i64) -> NonceSource {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            // the system generator failing is not recoverable in any useful way; a key from
            // the thread generator keeps nonces unpredictable
            let bytes: [u8; 32] = rand::random();
            ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
        });
        NonceSource {
            key,
            period: period.max(1),
        }
    }

    fn of(&self, slot: i64) -> String {
        B64.encode(ring::hmac::sign(&self.key, &slot.to_be_bytes()).as_ref())
    }

    /// The nonce to hand out at `now`.
    pub fn current(&self, now: i64) -> String {
        self.of(now.div_euclid(self.period))
    }

    /// Whether `nonce` is the current or the previous period's.
    pub fn accepts(&self, nonce: &str, now: i64) -> bool {
        let slot = now.div_euclid(self.period);
        nonce.len() <= MAX_NONCE_LEN
            && [slot, slot - 1].iter().any(|s| {
                let want = self.of(*s);
                want.len() == nonce.len()
                    && subtle::ConstantTimeEq::ct_eq(want.as_bytes(), nonce.as_bytes()).into()
            })
    }
}

fn alg_of(s: &str) -> Option<Algorithm> {
    match s {
        "ES256" => Some(Algorithm::ES256),
        "ES384" => Some(Algorithm::ES384),
        "RS256" => Some(Algorithm::RS256),
        "PS256" => Some(Algorithm::PS256),
        "EdDSA" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// The base64url SHA-256 of an access token (`ath`).
pub fn ath(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

fn b64_json(part: &str) -> Result<Map<String, Value>, JwtError> {
    let raw = B64
        .decode(part)
        .map_err(|_| JwtError("malformed DPoP proof"))?;
    match serde_json::from_slice(&raw) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(JwtError("malformed DPoP proof")),
    }
}

/// Verify a proof: `typ` `dpop+jwt`, an asymmetric `alg`, a public `jwk` in the header that
/// verifies the signature, `jti`, `htm`, `htu`, `iat` within the window, and `ath` when an
/// access token is given. The replay check is the caller's ([`ReplayCache`]).
pub fn verify_proof(proof: &str, expect: &ProofExpect<'_>) -> Result<Proof, JwtError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(JwtError("DPoP proof too long"));
    }
    let parts: Vec<&str> = proof.split('.').collect();
    if parts.len() != 3 {
        return Err(JwtError("malformed DPoP proof"));
    }
    let header = b64_json(parts[0])?;
    if header.get("typ").and_then(Value::as_str) != Some("dpop+jwt") {
        return Err(JwtError("DPoP proof typ must be dpop+jwt"));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(alg_of)
        .ok_or(JwtError("unsupported DPoP proof algorithm"))?;
    let jwk_v = header
        .get("jwk")
        .filter(|j| j.is_object())
        .ok_or(JwtError("DPoP proof without jwk"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|m| jwk_v.get(*m).is_some())
    {
        return Err(JwtError("DPoP proof jwk holds a private key"));
    }
    let jwk: Jwk =
        serde_json::from_value(jwk_v.clone()).map_err(|_| JwtError("unusable DPoP jwk"))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| JwtError("unusable DPoP jwk"))?;
    let kty_ok = match (jwk_v["kty"].as_str(), alg) {
        (Some("EC"), Algorithm::ES256) => jwk_v["crv"] == "P-256",
        (Some("EC"), Algorithm::ES384) => jwk_v["crv"] == "P-384",
        (Some("RSA"), Algorithm::RS256 | Algorithm::PS256) => true,
        (Some("OKP"), Algorithm::EdDSA) => jwk_v["crv"] == "Ed25519",
        _ => false,
    };
    if !kty_ok {
        return Err(JwtError("DPoP jwk does not match alg"));
    }
    let jkt = thumbprint(jwk_v).ok_or(JwtError("unusable DPoP jwk"))?;
    let mut v = jsonwebtoken::Validation::new(alg);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Map<String, Value>>(proof, &key, &v)
        .map_err(|_| JwtError("DPoP proof signature invalid"))?
        .claims;
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
        .ok_or(JwtError("DPoP proof without a valid jti"))?;
    if claims.get("htm").and_then(Value::as_str) != Some(expect.method) {
        return Err(JwtError("DPoP proof htm does not match"));
    }
    let htu = claims
        .get("htu")
        .and_then(Value::as_str)
        .ok_or(JwtError("DPoP proof without htu"))?;
    let htu = htu.split(['?', '#']).next().unwrap_or("");
    if !(expect.htu)(htu) {
        return Err(JwtError("DPoP proof htu does not match"));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(JwtError("DPoP proof without iat"))?;
    if iat < expect.now - expect.window || iat > expect.now + expect.window {
        return Err(JwtError("DPoP proof iat outside the accepted window"));
    }
    if let Some(t) = expect.access_token {
        let want = ath(t);
        if claims.get("ath").and_then(Value::as_str) != Some(want.as_str()) {
            return Err(JwtError("DPoP proof ath does not match the access token"));
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) if n.len() <= MAX_NONCE_LEN => Some(n.clone()),
        Some(_) => return Err(JwtError("DPoP proof nonce is not a valid string")),
    };
    Ok(Proof {
        jkt,
        jti: jti.to_string(),
        iat,
        nonce,
    })
}

/// Seen proof `jti`s (with their key's thumbprint) until their window ends, bounded: when
/// full of unexpired entries, new proofs are refused (the client retries with a fresh one).
///
/// An entry is a 64-bit hash of thumbprint and `jti` (seeded per process, so a client cannot
/// aim at another's entry; a collision can only refuse a fresh proof, never accept a replay)
/// and its end in a queue kept in arrival order: expired entries leave from the front, a
/// constant cost per proof however full the cache is. Ends are not quite in arrival order
/// (`iat` varies within the window), so an entry may stay up to one window longer than it
/// must; a proof that old is refused by its `iat` anyway.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<Seen>,
    hasher: foldhash::fast::RandomState,
    max: usize,
}

#[derive(Debug, Default)]
struct Seen {
    keys: HashSet<u64, IdentityHash>,
    ends: VecDeque<(i64, u64)>,
}

/// The keys are hashes already.
#[derive(Debug, Default, Clone, Copy)]
struct IdentityHash;

impl BuildHasher for IdentityHash {
    type Hasher = Identity;
    fn build_hasher(&self) -> Identity {
        Identity(0)
    }
}

#[derive(Debug, Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl ReplayCache {
    pub fn new(max: usize) -> ReplayCache {
        ReplayCache {
            seen: Mutex::new(Seen::default()),
            hasher: foldhash::fast::RandomState::default(),
            max: max.max(1),
        }
    }

    /// Record a proof; `false` if it was seen before (a replay) or the cache is full.
    pub fn check(&self, p: &Proof, until: i64, now: i64) -> bool {
        let key = {
            let mut h = self.hasher.build_hasher();
            h.write(p.jkt.as_bytes());
            h.write_u8(b'.');
            h.write(p.jti.as_bytes());
            h.finish()
        };
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let Seen { keys, ends } = &mut *seen;
        while let Some(&(end, k)) = ends.front() {
            if end > now {
                break;
            }
            ends.pop_front();
            keys.remove(&k);
        }
        if keys.contains(&key) || keys.len() >= self.max {
            return false;
        }
        keys.insert(key);
        ends.push_back((until, key));
        true
    }

    /// Proofs remembered now.
    pub fn len(&self) -> usize {
        self.seen.lock().map(|s| s.keys.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether two URLs without query are the same resource: scheme and host case-insensitive,
/// default ports dropped, paths compared exactly.
pub fn same_url(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(x), Ok(y)) => {
            x.scheme() == y.scheme()
                && x.host_str() == y.host_str()
                && x.port_or_known_default() == y.port_or_known_default()
                && x.path() == y.path()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::jwt::{generate, LoadedKey, SigningAlg};
    use super::*;
    use serde_json::json;

    /// A proof with exactly this header `jwk` (private members kept), signed by `key`.
    fn proof_with(key: &LoadedKey, jwk: Value, typ: &str, claims: Value) -> String {
        let mut jwk = jwk;
        if let Value::Object(m) = &mut jwk {
            m.remove("kid");
            m.remove("use");
        }
        let header = json!({"typ": typ, "alg": "ES256", "jwk": jwk});
        let msg = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig =
            jsonwebtoken::crypto::sign(msg.as_bytes(), &key.encoding, Algorithm::ES256).unwrap();
        format!("{msg}.{sig}")
    }

    fn key() -> LoadedKey {
        LoadedKey::from_stored(&generate(SigningAlg::Es256, 0, 10).unwrap()).unwrap()
    }

    const URL: &str = "http://gw.test:8280/travels/1.0/bookings";

    fn expect<'a>(htu: &'a dyn Fn(&str) -> bool, token: Option<&'a str>) -> ProofExpect<'a> {
        ProofExpect {
            method: "GET",
            htu,
            access_token: token,
            now: 1000,
            window: 60,
        }
    }

    #[test]
    fn valid_and_invalid_proofs() {
        let k = key();
        let htu = |u: &str| same_url(u, URL);
        let good = json!({"jti": "j1", "htm": "GET", "htu": format!("{URL}?q=1"), "iat": 1000,
                          "ath": ath("tok")});
        let p = proof_with(&k, k.jwk.clone(), "dpop+jwt", good.clone());
        let ok = verify_proof(&p, &expect(&htu, Some("tok"))).unwrap();
        assert_eq!(ok.jkt, thumbprint(&k.jwk).unwrap());
        assert_eq!(ok.jti, "j1");

        let mutate = |f: &dyn Fn(&mut Value)| {
            let mut c = good.clone();
            f(&mut c);
            proof_with(&k, k.jwk.clone(), "dpop+jwt", c)
        };
        for (what, p) in [
            ("htm", mutate(&|c| c["htm"] = "POST".into())),
            (
                "htu",
                mutate(&|c| c["htu"] = "http://gw.test:8280/other".into()),
            ),
            ("old", mutate(&|c| c["iat"] = 900.into())),
            ("future", mutate(&|c| c["iat"] = 1100.into())),
            ("ath", mutate(&|c| c["ath"] = ath("other").into())),
            ("no jti", mutate(&|c| c["jti"] = "".into())),
            ("typ", proof_with(&k, k.jwk.clone(), "JWT", good.clone())),
        ] {
            assert!(
                verify_proof(&p, &expect(&htu, Some("tok"))).is_err(),
                "{what}"
            );
        }
        // a jwk with a private part, or another key than the signer's
        let mut private = k.jwk.clone();
        private["d"] = "AAAA".into();
        let p = proof_with(&k, private, "dpop+jwt", good.clone());
        assert!(verify_proof(&p, &expect(&htu, Some("tok"))).is_err());
        let other = key();
        let p = proof_with(&k, other.jwk.clone(), "dpop+jwt", good.clone());
        assert!(verify_proof(&p, &expect(&htu, Some("tok"))).is_err());
        // garbage
        assert!(verify_proof("a.b.c", &expect(&htu, None)).is_err());
        assert!(verify_proof(&"x".repeat(MAX_PROOF_LEN + 1), &expect(&htu, None)).is_err());
    }

    #[test]
    fn replays_are_refused_and_the_cache_is_bounded() {
        let c = ReplayCache::new(2);
        let p = |j: &str| Proof {
            jkt: "k".into(),
            jti: j.into(),
            iat: 0,
            nonce: None,
        };
        assert!(c.check(&p("a"), 60, 0));
        assert!(!c.check(&p("a"), 60, 10));
        assert!(c.check(&p("b"), 60, 10));
        // full of live entries: refused
        assert!(!c.check(&p("c"), 60, 20));
        // expired entries make room
        assert!(c.check(&p("c"), 200, 100));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_full_window_of_proofs_costs_one_step_each_and_leaves_in_time() {
        // many live proofs: every one still answered, replays still caught, and all of them
        // gone once their window has passed
        let c = ReplayCache::new(1_000_000);
        let p = |j: usize| Proof {
            jkt: "k".into(),
            jti: format!("jti-{j}"),
            iat: 0,
            nonce: None,
        };
        for j in 0..200_000 {
            assert!(c.check(&p(j), 60 + (j % 7) as i64, 1));
        }
        assert_eq!(c.len(), 200_000);
        for j in (0..200_000).step_by(997) {
            assert!(!c.check(&p(j), 60, 2), "replay {j}");
        }
        // a proof with another key's thumbprint and the same jti is another proof
        let other = Proof {
            jkt: "other".into(),
            ..p(5)
        };
        assert!(c.check(&other, 60, 2));
        // past every end: the queue empties as new proofs arrive
        assert!(c.check(&p(200_001), 200, 100));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn nonces_last_one_to_two_periods_and_are_unguessable() {
        let n = NonceSource::new(60);
        let first = n.current(1000);
        assert!(first.len() >= 40);
        assert_eq!(n.current(1019), first, "same period (960..1020)");
        assert!(n.accepts(&first, 1000));
        assert!(n.accepts(&first, 1079), "the next period still accepts it");
        assert!(!n.accepts(&first, 1080), "two periods later it is stale");
        assert_ne!(n.current(1020), first);
        // another process's nonces, garbage, an overlong value
        let other = NonceSource::new(60);
        assert!(!n.accepts(&other.current(1000), 1000));
        assert!(!n.accepts("", 1000));
        assert!(!n.accepts(&"A".repeat(MAX_NONCE_LEN + 1), 1000));
        let mut tampered = first.clone().into_bytes();
        tampered[0] ^= 1;
        assert!(!n.accepts(&String::from_utf8(tampered).unwrap(), 1000));
        // a negative clock does not panic
        let _ = n.current(-5);
    }

    #[test]
    fn the_nonce_claim_is_returned_and_must_be_a_short_string() {
        let k = key();
        let htu = |u: &str| same_url(u, URL);
        let claims = |nonce: Value| json!({"jti": "j", "htm": "GET", "htu": URL, "iat": 1000, "nonce": nonce});
        let p = proof_with(&k, k.jwk.clone(), "dpop+jwt", claims("abc".into()));
        assert_eq!(
            verify_proof(&p, &expect(&htu, None))
                .unwrap()
                .nonce
                .as_deref(),
            Some("abc")
        );
        for bad in [json!(5), json!("x".repeat(MAX_NONCE_LEN + 1))] {
            let p = proof_with(&k, k.jwk.clone(), "dpop+jwt", claims(bad));
            assert!(verify_proof(&p, &expect(&htu, None)).is_err());
        }
    }

    #[test]
    fn urls_compare_by_scheme_host_port_and_path() {
        assert!(same_url("http://A.test:80/x", "http://a.test/x"));
        assert!(!same_url("https://a.test/x", "http://a.test/x"));
        assert!(!same_url("http://a.test/x", "http://a.test/x/"));
        assert!(!same_url("http://a.test:81/x", "http://a.test/x"));
    }
}
