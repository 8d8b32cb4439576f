//! What a token is requested with ([`ClientSpec`]), the cache key derived from it, and the form
//! requests built from it (always URL-encoded; RFC 6749 §2.3.1 for Basic client auth).

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::assertion::{self, PrivateKey, JWT_BEARER_ASSERTION};
use super::dpop::Dpop;
use super::secret::{KeyBytes, Secret};

/// The grant type URI of token exchange (RFC 8693).
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The token type of an OAuth 2.0 access token (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

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
    /// Token exchange (RFC 8693) on behalf of the caller: the caller's token is the subject.
    TokenExchange(Box<TokenExchange>),
}

/// The parameters of a token exchange. `subject_token` is the caller's token, set per request
/// (see [`Variant`]); an API's configured spec has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenExchange {
    pub subject_token: Option<Secret>,
    /// Default [`ACCESS_TOKEN_TYPE`].
    pub subject_token_type: String,
    /// A token of the party acting for the subject (RFC 8693 §1.1), sent as `actor_token`.
    pub actor_token: Option<Secret>,
    pub actor_token_type: String,
    pub requested_token_type: Option<String>,
}

impl Grant {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::TokenExchange(_) => TOKEN_EXCHANGE,
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `client_secret_basic`: `Authorization: Basic` with form-encoded id and secret.
    #[default]
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Body,
    /// `client_secret_jwt`: an HS256 assertion keyed with the client secret (RFC 7523).
    SecretJwt,
    /// `private_key_jwt`: an assertion signed with the client's private key (RFC 7523).
    PrivateKeyJwt(PrivateKey),
    /// `tls_client_auth`: the client certificate, presented to the token endpoint only
    /// (RFC 8705 §2.1); the form carries `client_id`.
    TlsClientAuth(ClientIdentity),
}

impl ClientAuth {
    pub fn name(&self) -> &'static str {
        match self {
            ClientAuth::Basic => "client_secret_basic",
            ClientAuth::Body => "client_secret_post",
            ClientAuth::SecretJwt => "client_secret_jwt",
            ClientAuth::PrivateKeyJwt(_) => "private_key_jwt",
            ClientAuth::TlsClientAuth(_) => "tls_client_auth",
        }
    }

    /// Whether the method authenticates with the client secret.
    pub fn uses_secret(&self) -> bool {
        matches!(
            self,
            ClientAuth::Basic | ClientAuth::Body | ClientAuth::SecretJwt
        )
    }
}

/// A client certificate chain and its private key (PEM), for mutual TLS with a token
/// endpoint. `Debug` shows neither.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate chain followed by the private key, as one PEM document.
    pem: Secret,
    digest: [u8; 32],
}

impl ClientIdentity {
    pub fn new(cert_pem: &str, key_pem: &str) -> ClientIdentity {
        let pem = Secret::new(format!("{}\n{}\n", cert_pem.trim_end(), key_pem.trim_end()));
        let mut h = Sha256::new();
        h.update(b"synaptic client identity v1\0");
        h.update(pem.expose().as_bytes());
        ClientIdentity {
            pem,
            digest: h.finalize().into(),
        }
    }

    /// The certificates and the key, as one PEM document (for the TLS client).
    pub fn pem(&self) -> &Secret {
        &self.pem
    }

    /// 12 hex digits identifying the identity (e.g. to pick a pooled TLS client).
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.digest[..6])
    }
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientIdentity({})", self.fingerprint())
    }
}

impl PartialEq for ClientIdentity {
    fn eq(&self, other: &ClientIdentity) -> bool {
        self.digest == other.digest
    }
}
impl Eq for ClientIdentity {}

/// What one request changes in its API's token request: the caller's token (token exchange)
/// and a scope or audience evaluated on the request. Each distinct variant is cached apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variant {
    pub subject_token: Option<Secret>,
    pub scope: Option<String>,
    pub audience: Option<String>,
}

impl Variant {
    pub fn is_empty(&self) -> bool {
        self.subject_token.is_none() && self.scope.is_none() && self.audience.is_none()
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
    /// DPoP (RFC 9449): the key proving possession at the token endpoint and the backend.
    pub dpop: Option<std::sync::Arc<Dpop>>,
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
    /// The client certificate to present (`tls_client_auth`).
    pub identity: Option<ClientIdentity>,
    /// The `DPoP` proof header (RFC 9449), when the client uses DPoP.
    pub dpop: Option<Secret>,
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
        match &self.grant {
            Grant::Password { username, .. } => field("username", username.as_bytes()),
            Grant::TokenExchange(x) => {
                // the caller's token only as a hash: a key never holds a token
                let subject = x
                    .subject_token
                    .as_ref()
                    .map(|t| Sha256::digest(t.expose().as_bytes()).to_vec())
                    .unwrap_or_default();
                field("subject", &subject);
                field("subject_type", x.subject_token_type.as_bytes());
                field("actor_type", x.actor_token_type.as_bytes());
                field(
                    "requested_type",
                    x.requested_token_type.as_deref().unwrap_or("").as_bytes(),
                );
            }
            Grant::ClientCredentials => {}
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
        s.update(self.extra_credentials());
        if let Grant::TokenExchange(x) = &self.grant {
            // only a holder of the caller's token can unseal what was exchanged for it
            if let Some(t) = &x.subject_token {
                s.update([0]);
                s.update(t.expose().as_bytes());
            }
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
        h.update(self.extra_credentials());
        h.finalize().into()
    }

    /// Digest of the credentials beyond secret and password (private key, client certificate,
    /// actor token); empty for the secret-based methods, so their keys stay as they were.
    fn extra_credentials(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        let mut any = false;
        match &self.auth {
            ClientAuth::PrivateKeyJwt(k) => {
                h.update(b"private_key_jwt\0");
                h.update(k.digest());
                h.update(k.key_id().unwrap_or("").as_bytes());
                any = true;
            }
            ClientAuth::TlsClientAuth(id) => {
                h.update(b"tls_client_auth\0");
                h.update(id.digest);
                any = true;
            }
            ClientAuth::Basic | ClientAuth::Body | ClientAuth::SecretJwt => {}
        }
        if let Some(d) = &self.dpop {
            // a DPoP-bound token is usable with its key only
            h.update(b"dpop\0");
            h.update(d.digest());
            any = true;
        }
        if let Grant::TokenExchange(x) = &self.grant {
            if let Some(a) = &x.actor_token {
                h.update(b"actor\0");
                h.update(a.expose().as_bytes());
                any = true;
            }
        }
        if any {
            h.finalize().to_vec()
        } else {
            Vec::new()
        }
    }

    /// This spec as one request needs it (see [`Variant`]).
    pub fn with_variant(&self, v: &Variant) -> ClientSpec {
        let mut spec = self.clone();
        if let (Some(t), Grant::TokenExchange(x)) = (&v.subject_token, &mut spec.grant) {
            x.subject_token = Some(t.clone());
        }
        if let Some(scope) = &v.scope {
            spec.scope = Some(scope.clone());
        }
        if let Some(aud) = &v.audience {
            spec.params.insert("audience".into(), aud.clone());
        }
        spec
    }

    /// The token request for the configured grant, or for a `refresh_token` grant, at
    /// `now_ms` (the issue time of a client assertion). Fails only when a client assertion
    /// cannot be signed.
    pub fn request(
        &self,
        refresh_token: Option<&Secret>,
        now_ms: i64,
    ) -> Result<TokenHttpRequest, String> {
        let mut form = form_urlencoded::Serializer::new(String::new());
        match refresh_token {
            Some(rt) => {
                form.append_pair("grant_type", "refresh_token");
                form.append_pair("refresh_token", rt.expose());
            }
            None => {
                form.append_pair("grant_type", self.grant.name());
                match &self.grant {
                    Grant::Password { username, password } => {
                        form.append_pair("username", username);
                        form.append_pair("password", password.expose());
                    }
                    Grant::TokenExchange(x) => {
                        if let Some(t) = &x.subject_token {
                            form.append_pair("subject_token", t.expose());
                        }
                        form.append_pair("subject_token_type", &x.subject_token_type);
                        if let Some(a) = &x.actor_token {
                            form.append_pair("actor_token", a.expose());
                            form.append_pair("actor_token_type", &x.actor_token_type);
                        }
                        if let Some(t) = &x.requested_token_type {
                            form.append_pair("requested_token_type", t);
                        }
                    }
                    Grant::ClientCredentials => {}
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
        let now_s = now_ms.div_euclid(1000);
        let mut identity = None;
        let authorization = match &self.auth {
            ClientAuth::Basic => Some(basic_authorization(
                &self.client_id,
                self.client_secret.expose(),
            )),
            ClientAuth::Body => {
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_secret", self.client_secret.expose());
                None
            }
            ClientAuth::SecretJwt | ClientAuth::PrivateKeyJwt(_) => {
                let jwt = match &self.auth {
                    ClientAuth::PrivateKeyJwt(key) => {
                        key.sign(&self.client_id, &self.token_url, now_s)?
                    }
                    _ => assertion::secret_jwt(
                        &self.client_secret,
                        &self.client_id,
                        &self.token_url,
                        now_s,
                    )?,
                };
                form.append_pair("client_id", &self.client_id);
                form.append_pair("client_assertion_type", JWT_BEARER_ASSERTION);
                form.append_pair("client_assertion", jwt.expose());
                None
            }
            ClientAuth::TlsClientAuth(id) => {
                form.append_pair("client_id", &self.client_id);
                identity = Some(id.clone());
                None
            }
        };
        let dpop = match &self.dpop {
            Some(d) => Some(d.proof("POST", &self.token_url, now_s, None)?),
            None => None,
        };
        Ok(TokenHttpRequest {
            url: self.token_url.clone(),
            authorization,
            body: Secret::new(form.finish()),
            identity,
            dpop,
        })
    }
}

/// Parameters the request builder sets itself; extra parameters may not override them.
pub fn is_reserved_param(name: &str) -> bool {
    matches!(
        name,
        "grant_type"
            | "refresh_token"
            | "username"
            | "password"
            | "client_id"
            | "client_secret"
            | "client_assertion"
            | "client_assertion_type"
            | "subject_token"
            | "subject_token_type"
            | "actor_token"
            | "actor_token_type"
            | "requested_token_type"
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
            dpop: None,
        }
    }

    #[test]
    fn basic_auth_form_encodes_id_and_secret() {
        let req = spec().request(None, 0).unwrap();
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
        let req = s.request(None, 0).unwrap();
        assert!(req.authorization.is_none());
        assert_eq!(
            req.body.expose(),
            "grant_type=password&username=al+ice&password=p%26w&scope=read+write\
             &audience=orders+%26+co&client_id=gw+client&client_secret=s%26e%2Bc%3Dr%25e%3At"
        );
        let refresh = s.request(Some(&Secret::new("r/t")), 0).unwrap();
        assert!(refresh
            .body
            .expose()
            .starts_with("grant_type=refresh_token&refresh_token=r%2Ft&audience="));
    }

    fn form(body: &str) -> BTreeMap<String, String> {
        form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn claims(jwt: &str) -> serde_json::Value {
        let payload = jwt.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn jwt_client_auth_sends_an_assertion_and_no_secret() {
        let key = PrivateKey::from_pem(
            include_bytes!("testdata/ec.pem"),
            assertion::SigningAlgorithm::ES256,
            Some("k1".into()),
        )
        .unwrap();
        for auth in [ClientAuth::SecretJwt, ClientAuth::PrivateKeyJwt(key)] {
            let mut s = spec();
            s.auth = auth;
            let req = s.request(None, 1_700_000_000_500).unwrap();
            assert!(req.authorization.is_none() && req.identity.is_none());
            let f = form(req.body.expose());
            assert_eq!(f["client_id"], "gw client");
            assert_eq!(f["client_assertion_type"], JWT_BEARER_ASSERTION);
            assert!(!f.contains_key("client_secret"));
            assert!(
                !req.body.expose().contains("s%26e"),
                "no secret in the form"
            );
            let c = claims(&f["client_assertion"]);
            assert_eq!(c["aud"], "https://idp.example/token");
            assert_eq!(c["iss"], "gw client");
            assert_eq!(c["iat"], 1_700_000_000);
            assert_eq!(c["exp"], 1_700_000_060);
        }
    }

    #[test]
    fn tls_client_auth_presents_the_certificate_and_sends_the_client_id() {
        let mut s = spec();
        let id = ClientIdentity::new(
            "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----",
            "KEY",
        );
        s.auth = ClientAuth::TlsClientAuth(id.clone());
        let req = s.request(None, 0).unwrap();
        assert!(req.authorization.is_none());
        assert_eq!(req.identity.as_ref(), Some(&id));
        let f = form(req.body.expose());
        assert_eq!(f["client_id"], "gw client");
        assert!(!f.contains_key("client_secret"));
        assert!(!format!("{id:?}").contains("KEY"));
        // another certificate or key is another cache entry
        let mut other = s.clone();
        other.auth = ClientAuth::TlsClientAuth(ClientIdentity::new("C", "OTHER"));
        assert_ne!(s.cache_key(), other.cache_key());
    }

    #[test]
    fn token_exchange_form_carries_subject_actor_and_audience() {
        let mut s = spec();
        s.grant = Grant::TokenExchange(Box::new(TokenExchange {
            subject_token: None,
            subject_token_type: ACCESS_TOKEN_TYPE.into(),
            actor_token: Some(Secret::new("actor-t")),
            actor_token_type: "urn:ietf:params:oauth:token-type:jwt".into(),
            requested_token_type: Some(ACCESS_TOKEN_TYPE.into()),
        }));
        let v = Variant {
            subject_token: Some(Secret::new("caller-t")),
            audience: Some("billing".into()),
            ..Variant::default()
        };
        let x = s.with_variant(&v);
        let f = form(x.request(None, 0).unwrap().body.expose());
        assert_eq!(f["grant_type"], TOKEN_EXCHANGE);
        assert_eq!(f["subject_token"], "caller-t");
        assert_eq!(f["subject_token_type"], ACCESS_TOKEN_TYPE);
        assert_eq!(f["actor_token"], "actor-t");
        assert_eq!(
            f["actor_token_type"],
            "urn:ietf:params:oauth:token-type:jwt"
        );
        assert_eq!(f["requested_token_type"], ACCESS_TOKEN_TYPE);
        assert_eq!(f["audience"], "billing");
        assert_eq!(f["scope"], "read write");
        // subjects are told apart by hash; the configured spec differs from both
        let y = s.with_variant(&Variant {
            subject_token: Some(Secret::new("other")),
            ..v.clone()
        });
        assert_ne!(x.cache_key(), y.cache_key());
        assert_ne!(x.cache_key(), s.cache_key());
        assert_ne!(
            x.cache_key().derived_seal_key().expose(),
            y.cache_key().derived_seal_key().expose()
        );
        assert!(!format!("{x:?}").contains("caller-t"));
    }

    #[test]
    fn dpop_adds_a_proof_for_the_token_endpoint_and_changes_the_key() {
        use super::super::dpop::{DpopAlgorithm, DpopKey};
        let mut s = spec();
        assert!(s.request(None, 0).unwrap().dpop.is_none());
        let plain = s.cache_key();
        let d = Dpop::new(DpopKey::generate(DpopAlgorithm::ES256).unwrap());
        d.set_nonce("https://idp.example/", "srv-nonce");
        s.dpop = Some(d);
        let req = s.request(None, 1_700_000_000_900).unwrap();
        let proof = req.dpop.expect("a DPoP proof");
        let c = claims(proof.expose());
        assert_eq!(c["htm"], "POST");
        assert_eq!(c["htu"], "https://idp.example/token");
        assert_eq!(c["iat"], 1_700_000_000);
        assert_eq!(c["nonce"], "srv-nonce");
        assert!(c.get("ath").is_none());
        assert_ne!(plain, s.cache_key(), "a bound token belongs to its key");
        let mut other = s.clone();
        other.dpop = Some(Dpop::new(DpopKey::generate(DpopAlgorithm::ES256).unwrap()));
        assert_ne!(s.cache_key(), other.cache_key());
    }

    #[test]
    fn reserved_parameters_cannot_be_overridden() {
        let mut s = spec();
        s.params.insert("grant_type".into(), "implicit".into());
        let req = s.request(None, 0).unwrap();
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
