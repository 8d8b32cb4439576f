//! Trusted issuers (`[[auth_server.trusted_issuer]]`): JWT access tokens of another
//! authorization server — another synaptic, any OpenID Connect provider — validated with its
//! published keys. The key set is fetched on first use, cached for `cache_seconds`, and fetched
//! again for an unknown `kid` at most every `min_refetch` seconds, one fetch at a time.

use super::config::TrustedIssuerConfig;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use synaptic_oauth::server::jwt::{self, Verified};
use tokio::time::Instant;

/// Largest key set accepted, in bytes.
const MAX_JWKS_BYTES: usize = 512 * 1024;
/// Most keys kept from one key set.
const MAX_KEYS: usize = 64;

struct Key {
    decoding: DecodingKey,
    /// The JWK's `alg`, if it names one.
    alg: Option<Algorithm>,
    kty: String,
    crv: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<Key>>,
    /// Keys without a `kid`, tried in order when a token names none.
    anonymous: Vec<Arc<Key>>,
    fetched_at: Option<Instant>,
}

/// One trusted issuer and its cached keys.
pub struct TrustedIssuer {
    pub issuer: String,
    audience: String,
    jwks_uri: String,
    cache_for: Duration,
    min_refetch: Duration,
    http: reqwest::Client,
    cache: RwLock<Cache>,
    /// Last fetch attempt; the lock makes fetches single flight.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.jwks_uri)
            .finish_non_exhaustive()
    }
}

fn secs(v: Option<f64>, default: f64) -> Duration {
    v.and_then(crate::config::secs)
        .unwrap_or(Duration::from_secs_f64(default))
}

impl TrustedIssuer {
    pub fn new(c: &TrustedIssuerConfig) -> Result<TrustedIssuer, String> {
        let timeout = secs(c.timeout, 5.0);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("trusted issuer {:?}: {e}", c.issuer))?;
        Ok(TrustedIssuer {
            issuer: c.issuer.clone(),
            audience: c.audience.clone().unwrap_or_else(|| c.issuer.clone()),
            jwks_uri: c.jwks_uri.clone(),
            cache_for: secs(c.cache_seconds, 3600.0),
            min_refetch: secs(c.min_refetch, 10.0),
            http,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// The accepted audiences: the configured one, and `extra` (the API's resource id).
    pub fn audiences(&self, extra: Option<String>) -> Vec<String> {
        let mut v = vec![self.audience.clone()];
        v.extend(extra);
        v
    }

    fn cached(&self, kid: Option<&str>) -> (Vec<Arc<Key>>, bool) {
        let Ok(c) = self.cache.read() else {
            return (Vec::new(), false);
        };
        let fresh = c.fetched_at.is_some_and(|t| t.elapsed() < self.cache_for);
        let keys = match kid {
            Some(k) => c.keys.get(k).cloned().into_iter().collect(),
            None => c.anonymous.clone(),
        };
        (keys, fresh)
    }

    /// Keys that may have signed a token with `kid`, fetching the set when needed.
    async fn keys(&self, kid: Option<&str>) -> Vec<Arc<Key>> {
        let (keys, fresh) = self.cached(kid);
        if !keys.is_empty() && fresh {
            return keys;
        }
        let mut last = self.fetching.lock().await;
        // another request may have fetched while this one waited
        let (keys, fresh) = self.cached(kid);
        if !keys.is_empty() && fresh {
            return keys;
        }
        if last.is_some_and(|t| t.elapsed() < self.min_refetch) {
            return keys;
        }
        *last = Some(Instant::now());
        match self.fetch().await {
            Ok(c) => {
                if let Ok(mut w) = self.cache.write() {
                    *w = c;
                }
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "cannot fetch the trusted issuer's keys")
            }
        }
        self.cached(kid).0
    }

    async fn fetch(&self) -> Result<Cache, String> {
        let mut resp = self
            .http
            .get(&self.jwks_uri)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("read failed: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err("key set too large".into());
            }
            body.extend_from_slice(&chunk);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| "the key set is not JSON".to_string())?;
        let list = v
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or("the key set has no `keys`")?;
        let mut c = Cache {
            fetched_at: Some(Instant::now()),
            ..Cache::default()
        };
        for raw in list.iter().take(MAX_KEYS) {
            if raw.get("use").and_then(|u| u.as_str()) == Some("enc") {
                continue;
            }
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw.clone()) else {
                continue;
            };
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            let alg = raw
                .get("alg")
                .and_then(|a| a.as_str())
                .and_then(|a| a.parse::<Algorithm>().ok());
            let key = Arc::new(Key {
                decoding,
                alg,
                kty: raw["kty"].as_str().unwrap_or_default().to_string(),
                crv: raw["crv"].as_str().map(str::to_string),
            });
            match raw.get("kid").and_then(|k| k.as_str()) {
                Some(kid) => {
                    c.keys.insert(kid.to_string(), key);
                }
                None => c.anonymous.push(key),
            }
        }
        Ok(c)
    }

    /// Validate `token` (whose header is `header`) against this issuer's keys.
    pub async fn verify(
        &self,
        token: &str,
        header: &Header,
        audiences: &[String],
        now: i64,
    ) -> Option<Verified> {
        let alg = header.alg;
        for key in self.keys(header.kid.as_deref()).await {
            if !compatible(&key, alg) {
                continue;
            }
            let expect = jwt::Expect {
                issuer: &self.issuer,
                audiences,
                now,
                at_jwt_typ: false,
            };
            if let Ok(v) = jwt::verify(token, &key.decoding, alg, &expect) {
                return Some(v);
            }
        }
        None
    }
}

/// Whether a key may verify `alg` (never an HMAC algorithm: the keys are public).
fn compatible(key: &Key, alg: Algorithm) -> bool {
    if key.alg.is_some_and(|a| a != alg) {
        return false;
    }
    match (key.kty.as_str(), key.crv.as_deref(), alg) {
        ("EC", Some("P-256"), Algorithm::ES256) => true,
        ("EC", Some("P-384"), Algorithm::ES384) => true,
        ("OKP", Some("Ed25519"), Algorithm::EdDSA) => true,
        ("RSA", _, a) => matches!(
            a,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ),
        _ => false,
    }
}
