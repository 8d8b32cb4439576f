//! Signed client authentication at a token endpoint (RFC 7523 §2.2, OpenID Connect Core §9):
//! a short-lived JWT in `client_assertion`, signed with the client secret (`client_secret_jwt`,
//! HS256) or with the client's private key (`private_key_jwt`: RS256, PS256, ES256 or EdDSA).
//!
//! Claims: `iss` = `sub` = the client id, `aud` = the token endpoint URL, a random `jti`, `iat`
//! and `exp` = `iat` + [`ASSERTION_LIFETIME`]. The header carries `alg`, `typ = "JWT"` and the
//! configured `kid`. Signing is jsonwebtoken's (ring underneath).

use std::sync::Arc;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::secret::Secret;

/// Lifetime of one client assertion: long enough for a slow token endpoint, short enough that
/// a captured assertion is soon worthless (each one also has a unique `jti`).
pub const ASSERTION_LIFETIME_SECS: i64 = 60;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Algorithms of `private_key_jwt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    RS256,
    PS256,
    ES256,
    EdDSA,
}

impl SigningAlgorithm {
    /// The JOSE name (`"RS256"`, …); `None` for anything else.
    pub fn parse(name: &str) -> Option<SigningAlgorithm> {
        Some(match name {
            "RS256" => SigningAlgorithm::RS256,
            "PS256" => SigningAlgorithm::PS256,
            "ES256" => SigningAlgorithm::ES256,
            "EdDSA" => SigningAlgorithm::EdDSA,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::PS256 => "PS256",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::EdDSA => "EdDSA",
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            SigningAlgorithm::RS256 => Algorithm::RS256,
            SigningAlgorithm::PS256 => Algorithm::PS256,
            SigningAlgorithm::ES256 => Algorithm::ES256,
            SigningAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }

    /// What kind of key the algorithm signs with (for messages).
    pub fn key_kind(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 | SigningAlgorithm::PS256 => "an RSA private key",
            SigningAlgorithm::ES256 => "a P-256 EC private key in PKCS#8 form",
            SigningAlgorithm::EdDSA => "an Ed25519 private key",
        }
    }
}

/// Why a private key cannot sign. Messages say what is wrong with the file, never what is in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM private key")]
    NotPem,
    #[error("a SEC1 \"EC PRIVATE KEY\" cannot be used; convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt)")]
    Sec1,
    #[error("an encrypted private key cannot be used; store it unencrypted (PKCS#8)")]
    Encrypted,
    #[error("{alg} needs {kind}")]
    WrongKind {
        alg: &'static str,
        kind: &'static str,
    },
}

/// A private key for `private_key_jwt`, with its algorithm and key id. `Debug` hides the key.
#[derive(Clone)]
pub struct PrivateKey {
    alg: SigningAlgorithm,
    kid: Option<String>,
    key: Arc<EncodingKey>,
    digest: [u8; 32],
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"…")
            .finish()
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &PrivateKey) -> bool {
        self.alg == other.alg && self.kid == other.kid && self.digest == other.digest
    }
}
impl Eq for PrivateKey {}

impl PrivateKey {
    /// Parse a PEM private key for `alg`, and sign once to prove the key works (ring checks
    /// RSA keys, curves and lengths only when signing).
    pub fn from_pem(
        pem: &[u8],
        alg: SigningAlgorithm,
        kid: Option<String>,
    ) -> Result<PrivateKey, KeyError> {
        let text = String::from_utf8_lossy(pem);
        if !text.contains("-----BEGIN") {
            return Err(KeyError::NotPem);
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY") {
            return Err(KeyError::Encrypted);
        }
        if alg == SigningAlgorithm::ES256 && text.contains("-----BEGIN EC PRIVATE KEY") {
            return Err(KeyError::Sec1);
        }
        let wrong = KeyError::WrongKind {
            alg: alg.name(),
            kind: alg.key_kind(),
        };
        let key = match alg {
            SigningAlgorithm::RS256 | SigningAlgorithm::PS256 => EncodingKey::from_rsa_pem(pem),
            SigningAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
            SigningAlgorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        }
        .map_err(|_| wrong.clone())?;
        let digest = {
            let mut h = Sha256::new();
            h.update(b"synaptic client key v1\0");
            h.update(alg.name());
            h.update([0]);
            h.update(pem);
            h.finalize().into()
        };
        let key = PrivateKey {
            alg,
            kid,
            key: Arc::new(key),
            digest,
        };
        key.sign("probe", "https://probe.invalid/token", 0)
            .map_err(|_| wrong)?;
        Ok(key)
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// SHA-256 over the algorithm and the PEM text (part of the cache key; never shown).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// A `private_key_jwt` assertion for `client_id` at `token_url`, issued at `now_s`.
    pub fn sign(&self, client_id: &str, token_url: &str, now_s: i64) -> Result<Secret, String> {
        let mut header = Header::new(self.alg.jose());
        header.typ = Some("JWT".into());
        header.kid = self.kid.clone();
        encode(&header, client_id, token_url, now_s, &self.key)
    }
}

/// A `client_secret_jwt` assertion (HS256 keyed with the client secret).
pub fn secret_jwt(
    secret: &Secret,
    client_id: &str,
    token_url: &str,
    now_s: i64,
) -> Result<Secret, String> {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".into());
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    encode(&header, client_id, token_url, now_s, &key)
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: i64,
    exp: i64,
}

fn encode(
    header: &Header,
    client_id: &str,
    token_url: &str,
    now_s: i64,
    key: &EncodingKey,
) -> Result<Secret, String> {
    let jti = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(rand::thread_rng().gen::<[u8; 24]>());
    let claims = Claims {
        iss: client_id,
        sub: client_id,
        aud: token_url,
        jti,
        iat: now_s,
        exp: now_s + ASSERTION_LIFETIME_SECS,
    };
    // jsonwebtoken's errors name the failing step (e.g. "InvalidKeyFormat"), never key bytes
    jsonwebtoken::encode(header, &claims, key)
        .map(Secret::new)
        .map_err(|e| format!("cannot sign the client assertion: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    // Test keys made for these tests only (openssl genpkey).
    const RSA: &str = include_str!("testdata/rsa.pem");
    const RSA_PUB: &str = include_str!("testdata/rsa.pub.pem");
    const EC: &str = include_str!("testdata/ec.pem");
    const EC_PUB: &str = include_str!("testdata/ec.pub.pem");
    const EC_SEC1: &str = include_str!("testdata/ec-sec1.pem");
    const ED: &str = include_str!("testdata/ed25519.pem");
    const ED_PUB: &str = include_str!("testdata/ed25519.pub.pem");

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value) {
        let mut it = jwt.split('.');
        let dec = |s: &str| -> serde_json::Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s)
                    .unwrap(),
            )
            .unwrap()
        };
        let h = dec(it.next().unwrap());
        let c = dec(it.next().unwrap());
        (h, c)
    }

    fn verify(jwt: &str, alg: Algorithm, key: &DecodingKey) {
        let mut v = Validation::new(alg);
        v.set_audience(&["https://idp.example/token"]);
        v.set_issuer(&["gw"]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // the assertion is issued "now" in these tests
        jsonwebtoken::decode::<serde_json::Value>(jwt, key, &v).unwrap();
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn private_key_jwt_claims_header_and_signature_for_each_algorithm() {
        let cases: [(SigningAlgorithm, &str, DecodingKey, Algorithm); 4] = [
            (
                SigningAlgorithm::RS256,
                RSA,
                DecodingKey::from_rsa_pem(RSA_PUB.as_bytes()).unwrap(),
                Algorithm::RS256,
            ),
            (
                SigningAlgorithm::PS256,
                RSA,
                DecodingKey::from_rsa_pem(RSA_PUB.as_bytes()).unwrap(),
                Algorithm::PS256,
            ),
            (
                SigningAlgorithm::ES256,
                EC,
                DecodingKey::from_ec_pem(EC_PUB.as_bytes()).unwrap(),
                Algorithm::ES256,
            ),
            (
                SigningAlgorithm::EdDSA,
                ED,
                DecodingKey::from_ed_pem(ED_PUB.as_bytes()).unwrap(),
                Algorithm::EdDSA,
            ),
        ];
        for (alg, pem, public, jose) in cases {
            let key = PrivateKey::from_pem(pem.as_bytes(), alg, Some("k-1".into())).unwrap();
            let t = now();
            let a = key.sign("gw", "https://idp.example/token", t).unwrap();
            let (h, c) = parts(a.expose());
            assert_eq!(h["alg"], alg.name(), "{alg:?}");
            assert_eq!(h["typ"], "JWT");
            assert_eq!(h["kid"], "k-1");
            assert_eq!(c["iss"], "gw");
            assert_eq!(c["sub"], "gw");
            assert_eq!(c["aud"], "https://idp.example/token");
            assert_eq!(c["iat"], t);
            assert_eq!(c["exp"], t + ASSERTION_LIFETIME_SECS);
            assert!(c["jti"].as_str().unwrap().len() >= 32);
            verify(a.expose(), jose, &public);
            let b = key.sign("gw", "https://idp.example/token", t).unwrap();
            assert_ne!(parts(b.expose()).1["jti"], c["jti"], "jti is unique");
        }
    }

    #[test]
    fn no_kid_header_without_a_key_id() {
        let key = PrivateKey::from_pem(ED.as_bytes(), SigningAlgorithm::EdDSA, None).unwrap();
        let a = key.sign("gw", "https://idp.example/token", now()).unwrap();
        assert!(parts(a.expose()).0.get("kid").is_none());
    }

    #[test]
    fn client_secret_jwt_is_hs256_with_the_secret() {
        let secret = Secret::new("a-shared-secret-of-at-least-32-bytes!!");
        let a = secret_jwt(&secret, "gw", "https://idp.example/token", now()).unwrap();
        let (h, c) = parts(a.expose());
        assert_eq!(h["alg"], "HS256");
        assert_eq!(
            (c["iss"].as_str(), c["sub"].as_str()),
            (Some("gw"), Some("gw"))
        );
        verify(
            a.expose(),
            Algorithm::HS256,
            &DecodingKey::from_secret(secret.expose().as_bytes()),
        );
    }

    #[test]
    fn unusable_keys_are_refused_with_messages_that_hold_no_key_material() {
        let e = PrivateKey::from_pem(b"garbage", SigningAlgorithm::RS256, None).unwrap_err();
        assert_eq!(e, KeyError::NotPem);
        let e =
            PrivateKey::from_pem(EC_SEC1.as_bytes(), SigningAlgorithm::ES256, None).unwrap_err();
        assert_eq!(e, KeyError::Sec1);
        for (pem, alg) in [
            (EC, SigningAlgorithm::RS256),
            (RSA, SigningAlgorithm::ES256),
            (RSA, SigningAlgorithm::EdDSA),
            (ED, SigningAlgorithm::PS256),
        ] {
            let e = PrivateKey::from_pem(pem.as_bytes(), alg, None).unwrap_err();
            assert!(matches!(e, KeyError::WrongKind { .. }), "{alg:?}: {e:?}");
            let msg = e.to_string();
            let body_line = pem.lines().nth(1).unwrap();
            assert!(!msg.contains(&body_line[..16]), "{msg}");
        }
        // a truncated RSA key parses as PEM but cannot sign
        let truncated: String = RSA
            .lines()
            .take(6)
            .chain(RSA.lines().last())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(PrivateKey::from_pem(truncated.as_bytes(), SigningAlgorithm::RS256, None).is_err());
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = PrivateKey::from_pem(EC.as_bytes(), SigningAlgorithm::ES256, Some("kid".into()))
            .unwrap();
        let d = format!("{key:?}");
        assert!(
            d.contains("ES256") && d.contains("kid") && d.contains('…'),
            "{d}"
        );
        let body_line = EC.lines().nth(1).unwrap();
        assert!(!d.contains(&body_line[..16]), "{d}");
        // keys differing only in material compare unequal
        let other = PrivateKey::from_pem(ED.as_bytes(), SigningAlgorithm::EdDSA, None).unwrap();
        assert_ne!(key.digest(), other.digest());
    }
}
