//! Authorization requests waiting for the resource owner, kept by the browser rather than the
//! server: the approval form carries the validated request sealed with ChaCha20-Poly1305 under
//! a key that never leaves the process. The server keeps nothing per pending approval, so no
//! number of anonymous `GET /oauth2/authorize` requests can push out a user who is logging in.
//!
//! The sealed value holds a random nonce; the approval page sets the same nonce in an
//! `HttpOnly`, `SameSite=Strict` cookie, and a form is accepted only with the matching cookie
//! (CSRF), within its lifetime, and once: accepted nonces are remembered until they expire
//! (bounded, oldest forgotten first — only forms that were really submitted enter the list).

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, OnceLock};
use synaptic_oauth::server::secret::ct_eq;
use synaptic_oauth::server::{AuthorizeRequest, ResponseType};

const AAD: &[u8] = b"synaptic-approval-v1";
/// Submitted forms remembered (single use) at most; the oldest are forgotten first.
const MAX_USED: usize = 100_000;

fn key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    })
}

/// The request as sealed in the form.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// nonce, also in the cookie
    n: String,
    /// issued at (seconds)
    at: i64,
    client: String,
    implicit: bool,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: Option<String>,
}

/// An opened form: the request's fields, to be checked again against the client as stored now.
#[derive(Debug)]
pub struct Opened {
    pub nonce: String,
    pub client_id: String,
    pub response_type: ResponseType,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Approvals {
    ttl: i64,
    used: Mutex<Used>,
}

#[derive(Debug, Default)]
struct Used {
    set: HashSet<String>,
    order: VecDeque<(String, i64)>,
}

impl Approvals {
    pub fn new(ttl: i64) -> Approvals {
        Approvals {
            ttl,
            used: Mutex::new(Used::default()),
        }
    }

    /// Seal a validated request: `(form value, cookie value)`.
    pub fn seal(&self, req: &AuthorizeRequest, now: i64) -> Option<(String, String)> {
        let nonce = synaptic_oauth::server::secret::random_token("")
            .expose()
            .to_string();
        let sealed = Sealed {
            n: nonce.clone(),
            at: now,
            client: req.client.id.clone(),
            implicit: req.response_type == ResponseType::Token,
            redirect_uri: req.redirect_uri.clone(),
            scopes: req.scopes.clone(),
            state: req.state.clone(),
            challenge: req.code_challenge.clone(),
        };
        let plain = serde_json::to_vec(&sealed).ok()?;
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key()));
        let mut n = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut n);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: &plain,
                    aad: AAD,
                },
            )
            .ok()?;
        let mut blob = Vec::with_capacity(12 + ct.len());
        blob.extend_from_slice(&n);
        blob.extend_from_slice(&ct);
        let form = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(blob);
        Some((form, nonce))
    }

    /// Open a submitted form: it must be sealed by this process, unexpired, and match the
    /// cookie. Does not consume it ([`Approvals::consume`]).
    pub fn open(&self, form: &str, cookie: &str, now: i64) -> Option<Opened> {
        let blob = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(form)
            .ok()?;
        if blob.len() < 12 + 16 {
            return None;
        }
        let (n, ct) = blob.split_at(12);
        let cipher = ChaCha20Poly1305::new(Key::from_slice(key()));
        let plain = cipher
            .decrypt(Nonce::from_slice(n), Payload { msg: ct, aad: AAD })
            .ok()?;
        let s: Sealed = serde_json::from_slice(&plain).ok()?;
        if cookie.is_empty() || !ct_eq(s.n.as_bytes(), cookie.as_bytes()) {
            return None;
        }
        if now < s.at || now - s.at >= self.ttl {
            return None;
        }
        Some(Opened {
            nonce: s.n,
            client_id: s.client,
            response_type: if s.implicit {
                ResponseType::Token
            } else {
                ResponseType::Code
            },
            redirect_uri: s.redirect_uri,
            scopes: s.scopes,
            state: s.state,
            code_challenge: s.challenge,
        })
    }

    /// Mark a form used; `false` when it was used before.
    pub fn consume(&self, nonce: &str, now: i64) -> bool {
        let Ok(mut u) = self.used.lock() else {
            return false;
        };
        let ttl = self.ttl;
        while let Some((n, t)) = u.order.front().cloned() {
            if now - t < ttl && u.order.len() < MAX_USED {
                break;
            }
            u.order.pop_front();
            u.set.remove(&n);
        }
        if !u.set.insert(nonce.to_string()) {
            return false;
        }
        u.order.push_back((nonce.to_string(), now));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synaptic_oauth::server::{Client, GrantType};

    fn req() -> AuthorizeRequest {
        AuthorizeRequest {
            client: Client {
                id: "c".into(),
                name: "C".into(),
                secret_hash: None,
                grants: vec![GrantType::AuthorizationCode],
                redirect_uris: vec!["http://x/cb".into()],
                scopes: vec!["a".into()],
                token_lifetime: 60,
                refresh_limit: 0,
                introspect_any: false,
            },
            response_type: ResponseType::Code,
            redirect_uri: "http://x/cb".into(),
            scopes: vec!["a".into()],
            state: Some("s\"<>".into()),
            code_challenge: Some("ch".into()),
        }
    }

    #[test]
    fn sealed_forms_open_once_with_their_cookie_within_the_lifetime() {
        let a = Approvals::new(600);
        let (form, cookie) = a.seal(&req(), 1000).unwrap();
        assert!(
            !form.contains(&cookie),
            "the nonce is not readable in the form"
        );
        assert!(a.open(&form, "other", 1000).is_none());
        assert!(a.open(&form, "", 1000).is_none());
        assert!(a.open(&form, &cookie, 1600).is_none());
        let o = a.open(&form, &cookie, 1599).unwrap();
        assert_eq!(o.client_id, "c");
        assert_eq!(o.state.as_deref(), Some("s\"<>"));
        assert_eq!(o.code_challenge.as_deref(), Some("ch"));
        assert!(a.consume(&o.nonce, 1100));
        assert!(!a.consume(&o.nonce, 1101));
        // tampering is detected
        let mut bytes = form.into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(a.open(&tampered, &cookie, 1000).is_none());
        assert!(a.open("forged", "forged", 1000).is_none());
    }

    #[test]
    fn many_pending_approvals_cost_the_server_nothing() {
        let a = Approvals::new(600);
        let (mine, my_cookie) = a.seal(&req(), 1000).unwrap();
        for _ in 0..10_000 {
            let _ = a.seal(&req(), 1000).unwrap();
        }
        assert!(a.used.lock().unwrap().order.is_empty());
        assert!(a.open(&mine, &my_cookie, 1001).is_some());
    }
}
