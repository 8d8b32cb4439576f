//! What a token is requested with ([`ClientSpec`]), the cache key derived from it, and the form
//! requests built from it (always URL-encoded; RFC 6749 §2.3.1 for Basic client auth).

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::secret::{KeyBytes, Secret};

/// The grant used to obtain tokens (a `refresh_token` grant is used on top when the server
/// hands out refresh tokens).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    /// Resource owner password (deprecated by OAuth 2.1 / RFC 9700; supported for backends
    /// that still need it).
    Password {
        username: String,
        password: Secret,
    },
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_secret_basic`: `Authorization: Basic` with form-encoded id and secret.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Body,
}

impl ClientAuth {
    pub fn name(&self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Body => "client_secret_post",
        }
    }
}

/// Everything needed to request a token for one backend.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub grant: Grant,
    /// Space-separated scopes as configured (normalised in the cache key).
    pub scope: Option<String>,
    pub auth: ClientAuth,
    /// Extra token-request parameters (audience, resource, …).
    pub params: BTreeMap<String, String>,
}

/// The deterministic cache key of a [`ClientSpec`]: 64 hex digits of SHA-256 over every field
/// that changes which token is issued, including a digest of the credentials so that rotating
/// a secret takes effect at once. Holds the key that seals this entry's tokens at rest when no
/// store key is configured.
#[derive(Clone)]
pub struct CacheKey {
    hex: String,
    seal: KeyBytes,
}

impl CacheKey {
    pub fn as_str(&self) -> &str {
        &self.hex
    }
    /// A short form for logs.
    pub fn short(&self) -> &str {
        &self.hex[..12]
    }
    /// Key material derived from the credentials and the key (for sealing stored tokens).
    pub fn derived_seal_key(&self) -> &KeyBytes {
        &self.seal
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CacheKey({})", self.short())
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &CacheKey) -> bool {
        self.hex == other.hex
    }
}
impl Eq for CacheKey {}

/// The HTTP request for a token: a POST of `body` (form-urlencoded) to `url`.
#[derive(Clone, Debug)]
pub struct TokenHttpRequest {
    pub url: String,
    /// The `Authorization` header value, when client auth is Basic.
    pub authorization: Option<Secret>,
    /// `application/x-www-form-urlencoded` body (holds secrets).
    pub body: Secret,
}

/// Which grant a request uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Original,
    Refresh,
}

// === impl ClientSpec ===

impl ClientSpec {
    /// The normalised scope: whitespace-separated, sorted, deduplicated.
    pub fn normalized_scope(&self) -> Option<String> {
        let mut scopes: Vec<&str> = self
            .scope
            .as_deref()
            .unwrap_or("")
            .split_ascii_whitespace()
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        if scopes.is_empty() {
            None
        } else {
            Some(scopes.join(" "))
        }
    }

    pub fn cache_key(&self) -> CacheKey {
        let mut h = Sha256::new();
        let mut field = |name: &str, value: &[u8]| {
            h.update((name.len() as u64).to_be_bytes());
            h.update(name.as_bytes());
            h.update((value.len() as u64).to_be_bytes());
            h.update(value);
        };
        field("v", b"1");
        field("token_url", self.token_url.as_bytes());
        field("grant", self.grant.name().as_bytes());
        field("client_id", self.client_id.as_bytes());
        field("auth", self.auth.name().as_bytes());
        field("credentials", &self.credentials_digest());
        if let Grant::Password { username, .. } = &self.grant {
            field("username", username.as_bytes());
        }
        field(
            "scope",
            self.normalized_scope().unwrap_or_default().as_bytes(),
        );
        for (k, v) in &self.params {
            field("param", k.as_bytes());
            field("value", v.as_bytes());
        }
        let hex = hex::encode(h.finalize());

        let mut s = Sha256::new();
        s.update(b"synaptic token seal v1\0");
        s.update(hex.as_bytes());
        s.update([0]);
        s.update(self.client_secret.expose().as_bytes());
        if let Grant::Password { password, .. } = &self.grant {
            s.update([0]);
            s.update(password.expose().as_bytes());
        }
        let seal = KeyBytes::new(s.finalize().into());
        CacheKey { hex, seal }
    }

    /// SHA-256 over the secrets (never stored or logged as such; only inside the key hash).
    fn credentials_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"synaptic credentials v1\0");
        h.update(self.client_secret.expose().as_bytes());
        h.update([0]);
        if let Grant::Password { password, .. } = &self.grant {
            h.update(password.expose().as_bytes());
        }
        h.finalize().into()
    }

    /// The token request for the configured grant, or for a `refresh_token` grant.
    pub fn request(&self, refresh_token: Option<&Secret>) -> TokenHttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match refresh_token {
            Some(rt) => {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", rt.expose());
            }
            None => {
                form.append_pair("grant_type", self.grant.name());
                if let Grant::Password { username, password } = &self.grant {
                    form.append_pair("username", username);
                    form.append_pair("password", password.expose());
                }
                if let Some(scope) = self.normalized_scope() {
                    form.append_pair("scope", &scope);
                }
            }
        }
        for (k, v) in &self.params {
            if !is_reserved_param(k) {
                form.append_pair(k, v);
            }
        }
        let authorization = match self.auth {
            ClientAuth::Basic => Some(basic_authorization(
                &self.client_id,
                self.client_secret.expose(),
            )),
            ClientAuth::Body => {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", self.client_secret.expose());
                None
            }
        };
        TokenHttpRequest {
            url: self.token_url.clone(),
            authorization,
            body: Secret::new(form.finish()),
        }
    }
}

/// Parameters the request builder sets itself; extra parameters may not override them.
pub fn is_reserved_param(name: &str) -> bool {
    matches!(
        name,
        "grant_type" | "refresh_token" | "username" | "password" | "client_id" | "client_secret"
    )
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_authorization(client_id: &str, client_secret: &str) -> Secret {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    let raw = zeroize::Zeroizing::new(format!("{id}:{secret}"));
    Secret::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClientSpec {
        ClientSpec {
            token_url: "https://idp.example/token".into(),
            client_id: "gw client".into(),
            client_secret: Secret::new("s&e+c=r%e:t"),
            grant: Grant::ClientCredentials,
            scope: Some("write  read read".into()),
            auth: ClientAuth::Basic,
            params: BTreeMap::from([("audience".to_string(), "orders & co".to_string())]),
        }
    }

    #[test]
    fn basic_auth_form_encodes_id_and_secret() {
        let req = spec().request(None);
        let auth = req.authorization.unwrap();
        let b64 = auth.expose().strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "gw+client:s%26e%2Bc%3Dr%25e%3At"
        );
        assert_eq!(
            req.body.expose(),
            "grant_type=client_credentials&scope=read+write&audience=orders+%26+co"
        );
    }

    #[test]
    fn body_auth_and_password_grant_encode_everything() {
        let mut s = spec();
        s.auth = ClientAuth::Body;
        s.grant = Grant::Password {
            username: "al ice".into(),
            password: Secret::new("p&w"),
        };
        let req = s.request(None);
        assert!(req.authorization.is_none());
        assert_eq!(
            req.body.expose(),
            "grant_type=password&username=al+ice&password=p%26w&scope=read+write\
             &audience=orders+%26+co&client_id=gw+client&client_secret=s%26e%2Bc%3Dr%25e%3At"
        );
        let refresh = s.request(Some(&Secret::new("r/t")));
        assert!(refresh
            .body
            .expose()
            .starts_with("grant_type=refresh_token&refresh_token=r%2Ft&audience="));
    }

    #[test]
    fn reserved_parameters_cannot_be_overridden() {
        let mut s = spec();
        s.params.insert("grant_type".into(), "implicit".into());
        let req = s.request(None);
        assert_eq!(req.body.expose().matches("grant_type").count(), 1);
    }

    #[test]
    fn cache_key_covers_credentials_scope_and_params() {
        let base = spec().cache_key();
        assert_eq!(base, spec().cache_key());
        assert_eq!(base.as_str().len(), 64);

        let mut rotated = spec();
        rotated.client_secret = Secret::new("new");
        assert_ne!(base, rotated.cache_key());

        let mut reordered = spec();
        reordered.scope = Some("read write".into());
        assert_eq!(base, reordered.cache_key(), "scope order does not matter");

        let mut other_param = spec();
        other_param.params.insert("resource".into(), "x".into());
        assert_ne!(base, other_param.cache_key());

        let mut other_auth = spec();
        other_auth.auth = ClientAuth::Body;
        assert_ne!(base, other_auth.cache_key());

        let user = |u: &str, p: &str| {
            let mut s = spec();
            s.grant = Grant::Password {
                username: u.into(),
                password: Secret::new(p),
            };
            s.cache_key()
        };
        assert_ne!(user("a", "p"), user("b", "p"));
        assert_ne!(user("a", "p"), user("a", "q"));
        assert!(!format!("{base:?}").contains("s&e"));
    }
}
