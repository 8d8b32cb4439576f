//! DPoP (RFC 9449) on the client side: the gateway proves possession of a key of its own to a
//! backend's authorization server (a proof on every token request) and to the backend (a proof
//! on every request with a DPoP-bound token, carrying `ath`).
//!
//! * [`DpopKey`]: an ES256 (P-256) or EdDSA (Ed25519) private key, from PEM (PKCS#8) or
//!   generated; `Debug` shows only the algorithm and the public key's RFC 7638 thumbprint.
//! * [`Dpop`]: a key and the latest `DPoP-Nonce` each server gave (by origin), shared by every
//!   token request and backend request of the APIs using the key.
//!
//! Signing is ring's, directly (a proof is signed per backend request, so the header and the
//! claims are serialised by hand, once for the header).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use rand::Rng;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use sha2::{Digest, Sha256};

use super::assertion::KeyError;
use super::secret::Secret;

/// The `error` of a token endpoint or the `WWW-Authenticate` of a resource asking for a nonce.
pub const USE_DPOP_NONCE: &str = "use_dpop_nonce";
/// Longest `DPoP-Nonce` value kept (a longer one is ignored).
pub const MAX_NONCE_LEN: usize = 512;
/// Most servers (origins) whose nonce is remembered per key; past it the table starts over.
pub const MAX_NONCE_ORIGINS: usize = 1024;

/// Algorithms of DPoP proofs the gateway signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpopAlgorithm {
    ES256,
    EdDSA,
}

impl DpopAlgorithm {
    pub fn parse(name: &str) -> Option<DpopAlgorithm> {
        match name {
            "ES256" => Some(DpopAlgorithm::ES256),
            "EdDSA" => Some(DpopAlgorithm::EdDSA),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DpopAlgorithm::ES256 => "ES256",
            DpopAlgorithm::EdDSA => "EdDSA",
        }
    }
}

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A DPoP private key. `Debug` prints the algorithm and the thumbprint, never the key.
pub struct DpopKey {
    alg: DpopAlgorithm,
    pair: Pair,
    rng: ring::rand::SystemRandom,
    /// base64url of the proof header (`typ`, `alg`, `jwk`), the same for every proof.
    header_b64: String,
    jwk: serde_json::Value,
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.alg)
            .field("jkt", &self.jkt)
            .field("key", &"…")
            .finish()
    }
}

/// The DER body of the first PEM block labelled `label`.
fn pem_block(text: &str, label: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let b64: zeroize::Zeroizing<String> = zeroize::Zeroizing::new(
        text[start..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect(),
    );
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()
        .map(zeroize::Zeroizing::new)
}

impl DpopKey {
    /// A key from PEM: PKCS#8 `PRIVATE KEY` of a P-256 key (ES256) or an Ed25519 key (EdDSA).
    /// Messages say what is wrong, never what the text holds.
    pub fn from_pem(pem: &[u8], alg: DpopAlgorithm) -> Result<DpopKey, KeyError> {
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(pem).into_owned());
        if !text.contains("-----BEGIN") {
            return Err(KeyError::NotPem);
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY") {
            return Err(KeyError::Encrypted);
        }
        if text.contains("-----BEGIN EC PRIVATE KEY") {
            return Err(KeyError::Sec1);
        }
        let wrong = KeyError::WrongKind {
            alg: alg.name(),
            kind: match alg {
                DpopAlgorithm::ES256 => "a P-256 EC private key in PKCS#8 form",
                DpopAlgorithm::EdDSA => "an Ed25519 private key in PKCS#8 form",
            },
        };
        let der = pem_block(&text, "PRIVATE KEY").ok_or(wrong.clone())?;
        DpopKey::from_pkcs8(&der, alg).map_err(|_| wrong)
    }

    /// A new random key of `alg`.
    pub fn generate(alg: DpopAlgorithm) -> Result<DpopKey, KeyError> {
        let rng = ring::rand::SystemRandom::new();
        let failed = KeyError::WrongKind {
            alg: alg.name(),
            kind: "a key the system can generate",
        };
        let der = match alg {
            DpopAlgorithm::ES256 => EcdsaKeyPair::generate_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &rng,
            ),
            DpopAlgorithm::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng),
        }
        .map_err(|_| failed.clone())?;
        DpopKey::from_pkcs8(der.as_ref(), alg).map_err(|_| failed)
    }

    fn from_pkcs8(der: &[u8], alg: DpopAlgorithm) -> Result<DpopKey, ()> {
        let rng = ring::rand::SystemRandom::new();
        let (pair, jwk) = match alg {
            DpopAlgorithm::ES256 => {
                let p = EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|_| ())?;
                let point = p.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(());
                }
                let jwk = serde_json::json!({
                    "kty": "EC", "crv": "P-256",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
                });
                (Pair::Ec(p), jwk)
            }
            DpopAlgorithm::EdDSA => {
                let p = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| ())?;
                let jwk = serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": B64.encode(p.public_key().as_ref()),
                });
                (Pair::Ed(p), jwk)
            }
        };
        let jkt = thumbprint(&jwk).ok_or(())?;
        let header = serde_json::json!({"typ": "dpop+jwt", "alg": alg.name(), "jwk": jwk});
        let key = DpopKey {
            alg,
            pair,
            rng,
            header_b64: B64.encode(header.to_string()),
            jwk,
            jkt,
        };
        // prove the key signs
        key.sign_b64(b"probe").ok_or(())?;
        Ok(key)
    }

    pub fn algorithm(&self) -> DpopAlgorithm {
        self.alg
    }

    /// The public key as a JWK (`kty`, `crv`, `x`[, `y`]).
    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// RFC 7638 thumbprint of the public key (what a server binds tokens to, `cnf.jkt`).
    pub fn thumbprint(&self) -> &str {
        &self.jkt
    }

    fn sign_b64(&self, msg: &[u8]) -> Option<String> {
        match &self.pair {
            Pair::Ec(p) => p.sign(&self.rng, msg).ok().map(|s| B64.encode(s.as_ref())),
            Pair::Ed(p) => Some(B64.encode(p.sign(msg).as_ref())),
        }
    }

    /// A proof for `method` `url` (query and fragment dropped, as `htu`), issued at `now_s`,
    /// with `ath` for `access_token` and the server's `nonce`, if any.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        now_s: i64,
        access_token: Option<&Secret>,
        nonce: Option<&str>,
    ) -> Result<Secret, String> {
        let htu = htu(url);
        let jti = B64.encode(rand::thread_rng().gen::<[u8; 18]>());
        let mut claims = serde_json::json!({"jti": jti, "htm": method, "htu": htu, "iat": now_s});
        if let Some(t) = access_token {
            claims["ath"] = B64.encode(Sha256::digest(t.expose().as_bytes())).into();
        }
        if let Some(n) = nonce {
            claims["nonce"] = n.into();
        }
        let msg = format!("{}.{}", self.header_b64, B64.encode(claims.to_string()));
        let sig = self
            .sign_b64(msg.as_bytes())
            .ok_or_else(|| "DPoP proof could not be signed".to_string())?;
        Ok(Secret::new(format!("{msg}.{sig}")))
    }
}

/// RFC 7638 thumbprint of a public EC or OKP JWK.
fn thumbprint(jwk: &serde_json::Value) -> Option<String> {
    let s = match jwk.get("kty")?.as_str()? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.get("crv")?.as_str()?,
            jwk.get("x")?.as_str()?,
            jwk.get("y")?.as_str()?
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            jwk.get("crv")?.as_str()?,
            jwk.get("x")?.as_str()?
        ),
        _ => return None,
    };
    Some(B64.encode(Sha256::digest(s.as_bytes())))
}

/// `url` without query and fragment (the `htu` of a proof).
pub fn htu(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// The origin (`scheme://host[:port]`, lower case) of a URL: whose nonce a server's is.
pub fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.to_ascii_lowercase(),
    }
}

/// A DPoP key and the nonces servers gave for it. Shared (`Arc`) by the APIs using the key.
#[derive(Debug)]
pub struct Dpop {
    key: DpopKey,
    /// Latest `DPoP-Nonce` per origin.
    nonces: Mutex<HashMap<String, String>>,
    /// SHA-256 over the thumbprint (part of cache keys: a token is bound to this key).
    digest: [u8; 32],
}

impl Dpop {
    pub fn new(key: DpopKey) -> Arc<Dpop> {
        let mut h = Sha256::new();
        h.update(b"synaptic dpop key v1\0");
        h.update(key.thumbprint().as_bytes());
        Arc::new(Dpop {
            digest: h.finalize().into(),
            key,
            nonces: Mutex::new(HashMap::new()),
        })
    }

    pub fn key(&self) -> &DpopKey {
        &self.key
    }

    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The latest nonce of the server at `url`'s origin.
    pub fn nonce_for(&self, url: &str) -> Option<String> {
        let m = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        m.get(&origin(url)).cloned()
    }

    /// Remember the nonce the server at `url`'s origin sent (`DPoP-Nonce`). Values that are
    /// not visible ASCII or are too long are ignored. Returns whether it changed.
    pub fn set_nonce(&self, url: &str, nonce: &str) -> bool {
        if nonce.is_empty()
            || nonce.len() > MAX_NONCE_LEN
            || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b))
        {
            return false;
        }
        let mut m = self.nonces.lock().unwrap_or_else(|e| e.into_inner());
        let o = origin(url);
        if m.get(&o).map(String::as_str) == Some(nonce) {
            return false;
        }
        if m.len() >= MAX_NONCE_ORIGINS && !m.contains_key(&o) {
            m.clear();
        }
        m.insert(o, nonce.to_string());
        true
    }

    /// A proof for `method` `url` with the latest nonce of that server.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        now_s: i64,
        access_token: Option<&Secret>,
    ) -> Result<Secret, String> {
        let nonce = self.nonce_for(url);
        self.key
            .proof(method, url, now_s, access_token, nonce.as_deref())
    }
}

/// Whether a `WWW-Authenticate` value is a DPoP challenge with `error="use_dpop_nonce"`.
pub fn asks_for_nonce(www_authenticate: &str) -> bool {
    let v = www_authenticate.trim_start();
    v.len() > 4
        && v[..4].eq_ignore_ascii_case("dpop")
        && v.to_ascii_lowercase().contains(USE_DPOP_NONCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(jwt: &str) -> (serde_json::Value, serde_json::Value) {
        let p: Vec<&str> = jwt.split('.').collect();
        let j = |s: &str| serde_json::from_slice(&B64.decode(s).unwrap()).unwrap();
        (j(p[0]), j(p[1]))
    }

    #[test]
    fn proofs_verify_with_the_embedded_key_and_carry_the_claims() {
        for alg in [DpopAlgorithm::ES256, DpopAlgorithm::EdDSA] {
            let key = DpopKey::generate(alg).unwrap();
            let at = Secret::new("the-token");
            let p = key
                .proof(
                    "GET",
                    "https://api.test/x/y?q=1#f",
                    1_700_000_000,
                    Some(&at),
                    Some("n-1"),
                )
                .unwrap();
            let (h, c) = parts(p.expose());
            assert_eq!(h["typ"], "dpop+jwt");
            assert_eq!(h["alg"], alg.name());
            assert!(h["jwk"].get("d").is_none(), "no private part");
            assert_eq!(c["htm"], "GET");
            assert_eq!(c["htu"], "https://api.test/x/y");
            assert_eq!(c["iat"], 1_700_000_000);
            assert_eq!(c["nonce"], "n-1");
            assert_eq!(c["ath"], B64.encode(Sha256::digest(b"the-token")).as_str());
            // verified independently, with the key in the header
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(h["jwk"].clone()).unwrap();
            let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
            let ja = match alg {
                DpopAlgorithm::ES256 => jsonwebtoken::Algorithm::ES256,
                DpopAlgorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
            };
            let mut v = jsonwebtoken::Validation::new(ja);
            v.required_spec_claims.clear();
            v.validate_exp = false;
            jsonwebtoken::decode::<serde_json::Value>(p.expose(), &dk, &v).unwrap();
            // every proof has its own jti
            let q = key
                .proof("GET", "https://api.test/x", 0, None, None)
                .unwrap();
            let (_, c2) = parts(q.expose());
            assert_ne!(c["jti"], c2["jti"]);
            assert!(c2.get("ath").is_none() && c2.get("nonce").is_none());
            let x = h["jwk"]["x"].as_str().unwrap();
            assert!(
                !format!("{key:?}").contains(x),
                "Debug shows the thumbprint only"
            );
        }
    }

    #[test]
    fn pem_keys_load_and_bad_ones_are_explained() {
        let pem = include_bytes!("testdata/ec.pem");
        let k = DpopKey::from_pem(pem, DpopAlgorithm::ES256).unwrap();
        let again = DpopKey::from_pem(pem, DpopAlgorithm::ES256).unwrap();
        assert_eq!(k.thumbprint(), again.thumbprint());
        let ed = include_bytes!("testdata/ed25519.pem");
        DpopKey::from_pem(ed, DpopAlgorithm::EdDSA).unwrap();
        assert!(matches!(
            DpopKey::from_pem(ed, DpopAlgorithm::ES256),
            Err(KeyError::WrongKind { .. })
        ));
        assert!(matches!(
            DpopKey::from_pem(include_bytes!("testdata/rsa.pem"), DpopAlgorithm::ES256),
            Err(KeyError::WrongKind { .. })
        ));
        assert_eq!(
            DpopKey::from_pem(include_bytes!("testdata/ec-sec1.pem"), DpopAlgorithm::ES256)
                .unwrap_err(),
            KeyError::Sec1
        );
        assert_eq!(
            DpopKey::from_pem(b"nothing", DpopAlgorithm::ES256).unwrap_err(),
            KeyError::NotPem
        );
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.thumbprint()) && !dbg.contains("BEGIN"));
    }

    #[test]
    fn nonces_are_kept_per_origin_and_bounded() {
        let d = Dpop::new(DpopKey::generate(DpopAlgorithm::ES256).unwrap());
        assert!(d.set_nonce("https://AS.test/token", "n1"));
        assert!(
            !d.set_nonce("https://as.test:443/other", "n1"),
            "same origin, same nonce"
        );
        assert_eq!(d.nonce_for("https://as.test/x").as_deref(), Some("n1"));
        assert_eq!(d.nonce_for("https://rs.test/x"), None);
        assert!(!d.set_nonce("https://as.test/", "bad nonce"));
        assert!(!d.set_nonce("https://as.test/", &"x".repeat(MAX_NONCE_LEN + 1)));
        let p = d.proof("POST", "https://as.test/token", 5, None).unwrap();
        assert_eq!(parts(p.expose()).1["nonce"], "n1");
        for i in 0..MAX_NONCE_ORIGINS + 5 {
            d.set_nonce(&format!("https://h{i}.test/"), "n");
        }
        assert!(d.nonces.lock().unwrap().len() <= MAX_NONCE_ORIGINS);
    }

    #[test]
    fn nonce_challenges_are_recognised() {
        assert!(asks_for_nonce(
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#
        ));
        assert!(asks_for_nonce(
            r#"dpop algs="ES256", error="use_dpop_nonce""#
        ));
        assert!(!asks_for_nonce(r#"DPoP error="invalid_token""#));
        assert!(!asks_for_nonce(r#"Bearer error="use_dpop_nonce""#));
    }
}
