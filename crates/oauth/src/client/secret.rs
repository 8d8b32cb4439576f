//! Secret wrapper types: their `Debug` and `Display` print `"…"`, and their memory is zeroized
//! when dropped (through `secrecy`).

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// A secret string (client secret, password, access or refresh token). Clones share one
/// zeroize-on-drop allocation.
#[derive(Clone)]
pub struct Secret(Arc<SecretString>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Arc::new(SecretString::from(value.into())))
    }

    /// The secret itself. Call sites are few and audited: request building and sealing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// A short, log-safe fingerprint: the first 12 hex digits of SHA-256.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.expose().as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"…\"")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        use subtle::ConstantTimeEq;
        self.expose()
            .as_bytes()
            .ct_eq(other.expose().as_bytes())
            .into()
    }
}
impl Eq for Secret {}

/// 32 bytes of key material (e.g. the AEAD key sealing tokens at rest), zeroized on drop.
#[derive(Clone)]
pub struct KeyBytes([u8; 32]);

impl KeyBytes {
    pub fn new(bytes: [u8; 32]) -> KeyBytes {
        KeyBytes(bytes)
    }
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for KeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"…\"")
    }
}

/// First 12 hex digits of SHA-256 of `bytes`: what logs and metrics may show of a token.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = hex::encode(digest);
    s.truncate(12);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"…\"");
        assert_eq!(format!("{s}"), "…");
        assert!(!format!("{:?}", KeyBytes::new([7; 32])).contains('7'));
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let s = Secret::new("abc");
        assert_eq!(s.fingerprint(), "ba7816bf8f01");
        assert_eq!(s.fingerprint().len(), 12);
    }
}
