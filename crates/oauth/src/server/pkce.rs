//! RFC 7636 PKCE, `S256` only.

use super::secret::ct_eq;
use base64::Engine as _;
use sha2::{Digest, Sha256};

fn unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// A `code_verifier` of 43–128 unreserved characters (RFC 7636 §4.1).
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && unreserved(v)
}

/// A `code_challenge` for `S256`: base64url of a SHA-256, 43 characters without padding.
pub fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` matches `challenge`, compared in constant time.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    valid_verifier(verifier) && ct_eq(s256(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_known_vector() {
        let v = "dBjftJeZ4CVP-mJ92K8jbKFHeQNb0dNXv-gJsCe_5Mc";
        assert_eq!(s256(v), "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiE");
        assert!(verify(v, "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiE"));
        assert!(!verify(v, "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiF"));
    }

    #[test]
    fn length_and_charset() {
        assert!(!valid_verifier(&"a".repeat(42)));
        assert!(valid_verifier(&"a".repeat(43)));
        assert!(valid_verifier(&"a".repeat(128)));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
        assert!(!valid_verifier(&format!("{} ", "a".repeat(43))));
        assert!(!valid_challenge("short"));
        assert!(!valid_challenge(&format!("{}=", "a".repeat(42))));
    }
}
