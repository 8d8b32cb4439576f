//! Tokens at rest in Redis are sealed with ChaCha20-Poly1305 (docs/adr/0101-token-store-crypto.md).
//!
//! Stored value: `v1.<token fingerprint>.<key id>.<base64(nonce ‖ ciphertext)>`. The fingerprint
//! (12 hex of SHA-256 of the token, as in logs) lets a Lua script compare-and-delete without
//! the key. The associated data is the cache key, so a value cannot be moved to another key.
//! Key ids: `k1` = the configured `[redis] key`; `d1` = derived from the entry's credentials.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use synaptic_oauth::client::{CacheKey, KeyBytes};
use zeroize::Zeroizing;

/// Seals and opens stored tokens.
#[derive(Clone, Debug)]
pub struct Sealer {
    configured: Option<KeyBytes>,
}

/// Base64 (standard or URL-safe) of exactly 32 bytes.
pub fn parse_key(b64: &str) -> Option<[u8; 32]> {
    let b64 = b64.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64))
        .ok()?;
    bytes.try_into().ok()
}

impl Sealer {
    pub fn new(configured: Option<KeyBytes>) -> Sealer {
        Sealer { configured }
    }

    /// The prefix every value of a token with this fingerprint starts with.
    pub fn value_prefix(fingerprint: &str) -> String {
        format!("v1.{fingerprint}.")
    }

    fn key_for<'a>(&'a self, key: &'a CacheKey, kid: &str) -> Option<&'a KeyBytes> {
        match kid {
            "k1" => self.configured.as_ref(),
            "d1" => Some(key.derived_seal_key()),
            _ => None,
        }
    }

    pub fn seal(&self, key: &CacheKey, fingerprint: &str, plaintext: &[u8]) -> Option<String> {
        let kid = if self.configured.is_some() {
            "k1"
        } else {
            "d1"
        };
        let k = self.key_for(key, kid)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(k.expose()));
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: key.as_str().as_bytes(),
                },
            )
            .ok()?;
        let mut blob = Vec::with_capacity(12 + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Some(format!(
            "{}{kid}.{}",
            Sealer::value_prefix(fingerprint),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(blob)
        ))
    }

    /// The plaintext of a stored value, or `None` (wrong key, tampered, other format).
    pub fn open(&self, key: &CacheKey, value: &str) -> Option<Zeroizing<Vec<u8>>> {
        let mut parts = value.splitn(4, '.');
        if parts.next()? != "v1" {
            return None;
        }
        let _fp = parts.next()?;
        let kid = parts.next()?;
        let blob = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(parts.next()?)
            .ok()?;
        if blob.len() < 12 + 16 {
            return None;
        }
        let k = self.key_for(key, kid)?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(k.expose()));
        let (nonce, ct) = blob.split_at(12);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: key.as_str().as_bytes(),
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synaptic_oauth::client::{ClientAuth, ClientSpec, Grant, Secret};

    fn key(secret: &str) -> CacheKey {
        ClientSpec {
            token_url: "http://t".into(),
            client_id: "c".into(),
            client_secret: Secret::new(secret),
            grant: Grant::ClientCredentials,
            scope: None,
            auth: ClientAuth::Basic,
            params: Default::default(),
            dpop: None,
        }
        .cache_key()
    }

    #[test]
    fn round_trip_with_derived_and_configured_keys() {
        for sealer in [Sealer::new(None), Sealer::new(Some(KeyBytes::new([9; 32])))] {
            let k = key("s");
            let v = sealer.seal(&k, "abc123", b"plain token").unwrap();
            assert!(v.starts_with("v1.abc123."));
            assert!(!v.contains("plain"));
            assert_eq!(&sealer.open(&k, &v).unwrap()[..], b"plain token");
            // another key (other credentials) cannot open it
            assert!(sealer.open(&key("other"), &v).is_none());
            // tampering is detected
            let mut t = v.clone().into_bytes();
            let last = t.len() - 2;
            t[last] = if t[last] == b'A' { b'B' } else { b'A' };
            assert!(sealer.open(&k, &String::from_utf8(t).unwrap()).is_none());
        }
        assert!(parse_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 32])).is_some());
        assert!(parse_key("c2hvcnQ=").is_none());
    }
}
