//! `[api.endpoint_security]`, `[oauth]` and `[redis]` configuration (docs/CONFIG.md), and its
//! validation: [`check_endpoint_security`], [`check_oauth`] and [`check_redis`] return
//! `(key, message)` pairs that the config loader turns into `E0402` diagnostics at that key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use synaptic_oauth::client::{
    ClientAuth, ClientIdentity, DpopAlgorithm, DpopKey, PrivateKey, SigningAlgorithm,
};

/// `[api.endpoint_security]` of one API.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSecurity {
    /// Only `"oauth2"`.
    #[serde(rename = "type")]
    pub ty: String,
    /// `"client_credentials"`, `"password"` or `"token_exchange"`.
    pub grant_type: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// Name of an environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// `"basic"` (default, `client_secret_basic`), `"body"` (`client_secret_post`),
    /// `"client_secret_jwt"`, `"private_key_jwt"` or `"tls_client_auth"`.
    pub client_auth: Option<String>,
    /// `audience` of the token request.
    pub audience: Option<String>,
    /// `resource` of the token request (RFC 8707).
    pub resource: Option<String>,
    /// `private_key_jwt`: PEM file of the signing key.
    pub private_key: Option<String>,
    /// `private_key_jwt`: name of an environment variable holding the PEM text.
    pub private_key_env: Option<String>,
    /// `private_key_jwt`: the `kid` header of assertions.
    pub key_id: Option<String>,
    /// `private_key_jwt`: `RS256` (default), `PS256`, `ES256` or `EdDSA`.
    pub algorithm: Option<String>,
    /// `tls_client_auth`: PEM file of the client certificate (chain).
    pub client_cert: Option<String>,
    /// `tls_client_auth`: PEM file of the certificate's private key.
    pub client_key: Option<String>,
    /// Token exchange: type of the caller's token (default: access token).
    pub subject_token_type: Option<String>,
    /// Token exchange: a static actor token, or the variable holding it.
    pub actor_token: Option<String>,
    pub actor_token_env: Option<String>,
    /// Token exchange: type of the actor token (default: access token).
    pub actor_token_type: Option<String>,
    /// Token exchange: `requested_token_type`.
    pub requested_token_type: Option<String>,
    /// DPoP (RFC 9449): prove possession of a key at the token endpoint and to the backend.
    pub dpop: Option<bool>,
    /// DPoP: PEM file (PKCS#8) of this API's DPoP key; default: one key per gateway, generated
    /// at start.
    pub dpop_key: Option<String>,
    /// DPoP: name of an environment variable holding the PEM text of the key.
    pub dpop_key_env: Option<String>,
    /// DPoP: `ES256` (default) or `EdDSA`.
    pub dpop_algorithm: Option<String>,
    /// Extra token-request parameters (`audience`, `resource`, …).
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// Client authentication methods of `client_auth`.
pub const CLIENT_AUTH_METHODS: [&str; 7] = [
    "basic",
    "body",
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "tls_client_auth",
];

/// Grant types of `grant_type`.
pub const GRANT_TYPES: [&str; 4] = [
    "client_credentials",
    "password",
    "token_exchange",
    synaptic_oauth::client::spec::TOKEN_EXCHANGE,
];

impl std::fmt::Debug for EndpointSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |o: &Option<String>| o.as_ref().map(|_| "…");
        f.debug_struct("EndpointSecurity")
            .field("ty", &self.ty)
            .field("grant_type", &self.grant_type)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("client_secret_env", &self.client_secret_env)
            .field("username", &self.username)
            .field("password", &redacted(&self.password))
            .field("password_env", &self.password_env)
            .field("scope", &self.scope)
            .field("client_auth", &self.client_auth)
            .field("audience", &self.audience)
            .field("resource", &self.resource)
            .field("private_key", &self.private_key)
            .field("private_key_env", &self.private_key_env)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("subject_token_type", &self.subject_token_type)
            .field("actor_token", &redacted(&self.actor_token))
            .field("actor_token_env", &self.actor_token_env)
            .field("actor_token_type", &self.actor_token_type)
            .field("requested_token_type", &self.requested_token_type)
            .field("dpop", &self.dpop)
            .field("dpop_key", &self.dpop_key)
            .field("dpop_key_env", &self.dpop_key_env)
            .field("dpop_algorithm", &self.dpop_algorithm)
            .field("parameters", &self.parameters)
            .finish()
    }
}

/// `[oauth]`: behaviour of endpoint security for every API.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// After a backend 401, fetch a new token and replay the request once (default true).
    /// false: proactive refresh only, the 401 reaches the client.
    pub retry_on_401: Option<bool>,
    /// Token lifetime in seconds when a response has no `expires_in` (default 3600).
    pub default_expires_in: Option<u64>,
    /// PEM bundle of the CAs trusted for token endpoints (replaces the built-in roots for
    /// token endpoint connections only).
    pub trust_store: Option<String>,
    /// Largest request body buffered for a replay after a backend 401 (bytes, default 1 MiB).
    pub replay_max_body: Option<usize>,
    /// Safety margin before expiry in seconds (default 30; at most a quarter of the lifetime).
    pub skew: Option<u64>,
    /// Timeout of one token request in seconds (default 10).
    pub token_timeout: Option<f64>,
    /// How long a request waits for a token when none is cached, in seconds (default 10).
    pub wait_timeout: Option<f64>,
    /// Methods replayed after a backend 401 (default: every method; a 401 means the backend
    /// refused the token before acting). When set, other methods are replayed only when the
    /// request carries an `Idempotency-Key` header.
    pub replay_methods: Option<Vec<String>>,
}

/// `[redis]`: shared token cache (and shared authorization-server store).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port/db` or `rediss://` for TLS.
    pub url: String,
    /// Namespace of every key (default `synaptic`).
    pub key_prefix: Option<String>,
    /// Base64 of 32 bytes: the key sealing tokens at rest (ChaCha20-Poly1305). Without it a key
    /// is derived per cache entry from the credentials (docs/adr/0101-token-store-crypto.md).
    pub key: Option<String>,
    /// Name of an environment variable holding `key`.
    pub key_env: Option<String>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSettings")
            .field("url", &redact_url(&self.url))
            .field("key_prefix", &self.key_prefix)
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("key_env", &self.key_env)
            .finish()
    }
}

/// A Redis URL with any password replaced by `…` (for logs).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("…"));
            }
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

/// Default of `[oauth] replay_max_body`.
pub const DEFAULT_REPLAY_MAX_BODY: usize = 1024 * 1024;

// === impl OAuthSettings ===

impl OAuthSettings {
    pub fn retry_on_401(&self) -> bool {
        self.retry_on_401.unwrap_or(true)
    }
    /// Largest body the core buffers to replay a request after a backend 401.
    pub fn replay_max_body(&self) -> usize {
        self.replay_max_body.unwrap_or(DEFAULT_REPLAY_MAX_BODY)
    }
    pub fn default_expires_in(&self) -> Duration {
        Duration::from_secs(self.default_expires_in.unwrap_or(3600).max(1))
    }
    pub fn skew(&self) -> Duration {
        Duration::from_secs(self.skew.unwrap_or(30))
    }
    pub fn token_timeout(&self) -> Duration {
        secs(self.token_timeout).unwrap_or(Duration::from_secs(10))
    }
    pub fn wait_timeout(&self) -> Duration {
        secs(self.wait_timeout).unwrap_or(Duration::from_secs(10))
    }
}

fn secs(v: Option<f64>) -> Option<Duration> {
    v.filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

// === validation ===

impl EndpointSecurity {
    /// The client authentication method's canonical name.
    pub fn auth_method(&self) -> &str {
        match self.client_auth.as_deref() {
            None | Some("basic") => "client_secret_basic",
            Some("body") => "client_secret_post",
            Some(other) => other,
        }
    }

    pub fn uses_dpop(&self) -> bool {
        self.dpop == Some(true)
    }

    pub fn is_token_exchange(&self) -> bool {
        matches!(
            self.grant_type.as_str(),
            "token_exchange" | synaptic_oauth::client::spec::TOKEN_EXCHANGE
        )
    }
}

/// Problems of one `[api.endpoint_security]`, as `(key, message)` (no file is read).
pub fn check_endpoint_security(es: &EndpointSecurity) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !es.ty.eq_ignore_ascii_case("oauth2") {
        out.push((
            "type",
            format!(
                "unknown endpoint security type {:?} (expected \"oauth2\")",
                es.ty
            ),
        ));
    }
    if !GRANT_TYPES.contains(&es.grant_type.as_str()) {
        out.push((
            "grant_type",
            format!(
                "unknown grant_type {:?} (expected \"client_credentials\", \"password\" or \"token_exchange\")",
                es.grant_type
            ),
        ));
    }
    let password_grant = es.grant_type == "password";
    match url::Url::parse(&es.token_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => out.push((
            "token_url",
            format!("token_url {:?} is not an http(s) URL", es.token_url),
        )),
    }
    if es.client_id.is_empty() {
        out.push(("client_id", "client_id must not be empty".into()));
    }
    let method = es.auth_method();
    if !CLIENT_AUTH_METHODS.contains(&es.client_auth.as_deref().unwrap_or("basic")) {
        out.push((
            "client_auth",
            format!(
                "unknown client_auth {method:?} (expected \"basic\", \"body\", \"client_secret_jwt\", \"private_key_jwt\" or \"tls_client_auth\")"
            ),
        ));
    }
    let uses_secret = !matches!(method, "private_key_jwt" | "tls_client_auth");
    match (&es.client_secret, &es.client_secret_env) {
        (None, None) if uses_secret => out.push((
            "client_id",
            "endpoint security needs client_secret or client_secret_env".into(),
        )),
        (Some(_), _) | (_, Some(_)) if !uses_secret => out.push((
            if es.client_secret.is_some() {
                "client_secret"
            } else {
                "client_secret_env"
            },
            format!("client_auth = {method:?} does not use a client secret; remove it"),
        )),
        (Some(_), Some(_)) => out.push((
            "client_secret_env",
            "set either client_secret or client_secret_env, not both".into(),
        )),
        (None, Some(var)) if var.is_empty() => out.push((
            "client_secret_env",
            "client_secret_env must name a variable".into(),
        )),
        _ => {}
    }
    // private_key_jwt
    let pk = method == "private_key_jwt";
    match (&es.private_key, &es.private_key_env) {
        (None, None) if pk => out.push((
            "client_auth",
            "private_key_jwt needs private_key (a PEM file) or private_key_env".into(),
        )),
        (Some(_), Some(_)) => out.push((
            "private_key_env",
            "set either private_key or private_key_env, not both".into(),
        )),
        _ => {}
    }
    if let Some(a) = &es.algorithm {
        if SigningAlgorithm::parse(a).is_none() {
            out.push((
                "algorithm",
                format!("unknown algorithm {a:?} (expected \"RS256\", \"PS256\", \"ES256\" or \"EdDSA\")"),
            ));
        }
    }
    for (k, set) in [
        ("private_key", es.private_key.is_some()),
        ("private_key_env", es.private_key_env.is_some()),
        ("key_id", es.key_id.is_some()),
        ("algorithm", es.algorithm.is_some()),
    ] {
        if set && !pk {
            out.push((
                k,
                format!("{k} is only used by client_auth = \"private_key_jwt\""),
            ));
        }
    }
    // tls_client_auth
    let tls = method == "tls_client_auth";
    for (k, v) in [
        ("client_cert", &es.client_cert),
        ("client_key", &es.client_key),
    ] {
        match v {
            None if tls => out.push((
                "client_auth",
                format!("tls_client_auth needs {k} (a PEM file)"),
            )),
            Some(_) if !tls => out.push((
                k,
                format!("{k} is only used by client_auth = \"tls_client_auth\""),
            )),
            _ => {}
        }
    }
    if tls && es.token_url.starts_with("http:") {
        out.push((
            "token_url",
            "tls_client_auth needs an https token_url".into(),
        ));
    }
    if password_grant {
        if es.username.as_deref().is_none_or(str::is_empty) {
            out.push(("grant_type", "the password grant needs username".into()));
        }
        match (&es.password, &es.password_env) {
            (None, None) => out.push((
                "grant_type",
                "the password grant needs password or password_env".into(),
            )),
            (Some(_), Some(_)) => out.push((
                "password_env",
                "set either password or password_env, not both".into(),
            )),
            _ => {}
        }
    } else if es.username.is_some() || es.password.is_some() || es.password_env.is_some() {
        out.push((
            "grant_type",
            "username and password are only used by grant_type = \"password\"".into(),
        ));
    }
    // inline expressions of scope and audience
    for (k, v) in [("scope", &es.scope), ("audience", &es.audience)] {
        if let Some(Err(m)) = v.as_deref().map(super::per_request::Template::parse) {
            out.push((k, m));
        }
    }
    // token exchange
    if es.is_token_exchange() {
        if es.actor_token.is_some() && es.actor_token_env.is_some() {
            out.push((
                "actor_token_env",
                "set either actor_token or actor_token_env, not both".into(),
            ));
        }
        if es.actor_token_type.is_some() && es.actor_token.is_none() && es.actor_token_env.is_none()
        {
            out.push((
                "actor_token_type",
                "actor_token_type needs actor_token or actor_token_env".into(),
            ));
        }
    } else {
        for (k, set) in [
            ("subject_token_type", es.subject_token_type.is_some()),
            ("actor_token", es.actor_token.is_some()),
            ("actor_token_env", es.actor_token_env.is_some()),
            ("actor_token_type", es.actor_token_type.is_some()),
            ("requested_token_type", es.requested_token_type.is_some()),
        ] {
            if set {
                out.push((
                    k,
                    format!("{k} is only used by grant_type = \"token_exchange\""),
                ));
            }
        }
    }
    // DPoP
    if let Some(a) = &es.dpop_algorithm {
        if DpopAlgorithm::parse(a).is_none() {
            out.push((
                "dpop_algorithm",
                format!("unknown dpop_algorithm {a:?} (expected \"ES256\" or \"EdDSA\")"),
            ));
        }
    }
    if es.dpop_key.is_some() && es.dpop_key_env.is_some() {
        out.push((
            "dpop_key_env",
            "set either dpop_key or dpop_key_env, not both".into(),
        ));
    }
    for (k, set) in [
        ("dpop_key", es.dpop_key.is_some()),
        ("dpop_key_env", es.dpop_key_env.is_some()),
        ("dpop_algorithm", es.dpop_algorithm.is_some()),
    ] {
        if set && !es.uses_dpop() {
            out.push((k, format!("{k} is only used with dpop = true")));
        }
    }
    for k in es.parameters.keys() {
        if synaptic_oauth::client::spec::is_reserved_param(k) || k == "scope" {
            out.push((
                "parameters",
                format!("parameter {k:?} is set by the gateway; use the dedicated key"),
            ));
        }
        if (k == "audience" && es.audience.is_some()) || (k == "resource" && es.resource.is_some())
        {
            out.push((
                "parameters",
                format!("{k} is set both as a key and in parameters; keep one"),
            ));
        }
    }
    out
}

/// [`check_endpoint_security`], then the key and certificate files it names (relative paths
/// from `base_dir`), and a private key held in a set environment variable: a file that cannot
/// be read or used is a problem naming the file.
pub fn check_endpoint_security_files(
    es: &EndpointSecurity,
    base_dir: &Path,
) -> Vec<(&'static str, String)> {
    let mut out = check_endpoint_security(es);
    if !out.is_empty() {
        return out;
    }
    match load_client_auth(es, base_dir, &|k| std::env::var(k).ok()) {
        Ok(_) | Err(AuthLoadError::MissingEnv { .. }) => {}
        Err(AuthLoadError::Config { key, message }) => out.push((key, message)),
    }
    match load_dpop_key(es, base_dir, &|k| std::env::var(k).ok()) {
        Ok(_) | Err(AuthLoadError::MissingEnv { .. }) => {}
        Err(AuthLoadError::Config { key, message }) => out.push((key, message)),
    }
    out
}

/// The algorithm of an API's DPoP proofs (`dpop_algorithm`, default ES256).
pub fn dpop_algorithm(es: &EndpointSecurity) -> DpopAlgorithm {
    es.dpop_algorithm
        .as_deref()
        .and_then(DpopAlgorithm::parse)
        .unwrap_or(DpopAlgorithm::ES256)
}

/// The DPoP key an API configures (`dpop_key` file or `dpop_key_env`), if any. Messages name
/// the file or variable and what is wrong, never the content.
pub fn load_dpop_key(
    es: &EndpointSecurity,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<DpopKey>, AuthLoadError> {
    if !es.uses_dpop() {
        return Ok(None);
    }
    let alg = dpop_algorithm(es);
    let (key, what, pem) = match (&es.dpop_key, &es.dpop_key_env) {
        (Some(p), _) => {
            let path = if Path::new(p).is_absolute() {
                PathBuf::from(p)
            } else {
                base_dir.join(p)
            };
            let pem = std::fs::read(&path).map_err(|e| AuthLoadError::Config {
                key: "dpop_key",
                message: format!("dpop_key {}: cannot read: {e}", path.display()),
            })?;
            (
                "dpop_key",
                format!("dpop_key {}", path.display()),
                zeroize::Zeroizing::new(pem),
            )
        }
        (None, Some(var)) => {
            let text = env(var).ok_or_else(|| AuthLoadError::MissingEnv {
                key: "dpop_key_env",
                var: var.clone(),
            })?;
            (
                "dpop_key_env",
                format!("dpop_key_env (environment variable {var})"),
                zeroize::Zeroizing::new(text.into_bytes()),
            )
        }
        (None, None) => return Ok(None),
    };
    DpopKey::from_pem(&pem, alg)
        .map(Some)
        .map_err(|e| AuthLoadError::Config {
            key,
            message: format!("{what}: {e}"),
        })
}

/// Why the client authentication material of an API could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthLoadError {
    Config { key: &'static str, message: String },
    MissingEnv { key: &'static str, var: String },
}

/// Read the key and certificate files of `private_key_jwt` and `tls_client_auth` and build
/// the method (the secret-based methods need no file). Messages name the file and what is
/// wrong with it, never its content.
pub fn load_client_auth(
    es: &EndpointSecurity,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ClientAuth, AuthLoadError> {
    let resolve = |p: &str| -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let read = |key: &'static str,
                p: &str|
     -> Result<(PathBuf, zeroize::Zeroizing<Vec<u8>>), AuthLoadError> {
        let path = resolve(p);
        std::fs::read(&path)
            .map(|b| (path.clone(), zeroize::Zeroizing::new(b)))
            .map_err(|e| AuthLoadError::Config {
                key,
                message: format!("{key} {}: cannot read: {e}", path.display()),
            })
    };
    Ok(match es.auth_method() {
        "client_secret_post" => ClientAuth::Body,
        "client_secret_jwt" => ClientAuth::SecretJwt,
        "private_key_jwt" => {
            let alg = es
                .algorithm
                .as_deref()
                .map_or(Some(SigningAlgorithm::RS256), SigningAlgorithm::parse)
                .ok_or_else(|| AuthLoadError::Config {
                    key: "algorithm",
                    message: "unknown algorithm".into(),
                })?;
            let (key, what, pem) = match (&es.private_key, &es.private_key_env) {
                (Some(p), _) => {
                    let (path, pem) = read("private_key", p)?;
                    ("private_key", path.display().to_string(), pem)
                }
                (None, Some(var)) => {
                    let text = env(var).ok_or_else(|| AuthLoadError::MissingEnv {
                        key: "private_key_env",
                        var: var.clone(),
                    })?;
                    (
                        "private_key_env",
                        format!("environment variable {var}"),
                        zeroize::Zeroizing::new(text.into_bytes()),
                    )
                }
                (None, None) => {
                    return Err(AuthLoadError::Config {
                        key: "client_auth",
                        message: "private_key_jwt needs private_key or private_key_env".into(),
                    })
                }
            };
            let k = PrivateKey::from_pem(&pem, alg, es.key_id.clone()).map_err(|e| {
                AuthLoadError::Config {
                    key,
                    message: format!("{key} {what}: {e}"),
                }
            })?;
            ClientAuth::PrivateKeyJwt(k)
        }
        "tls_client_auth" => {
            let (cert_path, cert) = read("client_cert", es.client_cert.as_deref().unwrap_or(""))?;
            let (key_path, key) = read("client_key", es.client_key.as_deref().unwrap_or(""))?;
            let certs: Vec<_> = rustls_pemfile::certs(&mut cert.as_slice())
                .collect::<Result<_, _>>()
                .unwrap_or_default();
            if certs.is_empty() {
                return Err(AuthLoadError::Config {
                    key: "client_cert",
                    message: format!(
                        "client_cert {}: no PEM certificate in the file",
                        cert_path.display()
                    ),
                });
            }
            if !matches!(
                rustls_pemfile::private_key(&mut key.as_slice()),
                Ok(Some(_))
            ) {
                return Err(AuthLoadError::Config {
                    key: "client_key",
                    message: format!(
                        "client_key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in the file",
                        key_path.display()
                    ),
                });
            }
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            ClientAuth::TlsClientAuth(ClientIdentity::new(&text(&cert), &text(&key)))
        }
        _ => ClientAuth::Basic,
    })
}

/// Problems of `[oauth]`, as `(key, message)`.
pub fn check_oauth(o: &OAuthSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if o.default_expires_in == Some(0) {
        out.push((
            "default_expires_in",
            "default_expires_in must be at least 1 second".into(),
        ));
    }
    for m in o.replay_methods.iter().flatten() {
        if http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err() {
            out.push(("replay_methods", format!("invalid HTTP method {m:?}")));
        }
    }
    for (k, v) in [
        ("token_timeout", o.token_timeout),
        ("wait_timeout", o.wait_timeout),
    ] {
        if v.is_some() && secs(v).is_none() {
            out.push((k, format!("{k} must be a positive number of seconds")));
        }
    }
    out
}

/// Problems of `[redis]`, as `(key, message)`.
pub fn check_redis(r: &RedisSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match url::Url::parse(&r.url) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {}
        _ => out.push((
            "url",
            format!("{} is not a redis:// URL", redact_url(&r.url)),
        )),
    }
    if let Some(p) = &r.key_prefix {
        if p.is_empty() || p.contains(char::is_whitespace) {
            out.push((
                "key_prefix",
                "key_prefix must be non-empty without spaces".into(),
            ));
        }
    }
    if r.key.is_some() && r.key_env.is_some() {
        out.push(("key_env", "set either key or key_env, not both".into()));
    }
    if let Some(k) = &r.key {
        if super::seal::parse_key(k).is_none() {
            out.push(("key", "key must be base64 of exactly 32 bytes".into()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es(toml_text: &str) -> EndpointSecurity {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn valid_client_credentials_has_no_problems() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "client_credentials"
            token_url = "https://idp.example/token"
            client_id = "id"
            client_secret_env = "SECRET"
            client_auth = "body"
            parameters = { audience = "orders" }
        "#);
        assert!(check_endpoint_security(&e).is_empty());
    }

    #[test]
    fn clear_errors_for_common_mistakes() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "password"
            token_url = "idp/token"
            client_id = "id"
            username = "alice"
        "#);
        let msgs: Vec<String> = check_endpoint_security(&e)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("client_secret or client_secret_env")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("password or password_env")),
            "{msgs:?}"
        );
        assert!(
            msgs.iter().any(|m| m.contains("not an http(s) URL")),
            "{msgs:?}"
        );

        let e = es(r#"
            type = "oauth2"
            grant_type = "implicit"
            token_url = "http://x/t"
            client_id = "id"
            client_secret = "s"
            client_auth = "jwt"
        "#);
        let keys: Vec<&str> = check_endpoint_security(&e)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["grant_type", "client_auth"]);
    }

    #[test]
    fn config_loader_reports_problems_at_their_keys() {
        let text = r#"
[[api]]
name = "a"
context = "/a"
endpoint = "http://127.0.0.1:9/"

[api.endpoint_security]
type = "oauth2"
grant_type = "saml"
token_url = "http://idp/token"
client_id = "id"

[redis]
url = "http://not-redis"
"#;
        let diags = crate::config::from_str(
            synaptic_diag::SourceId(0),
            text,
            std::path::PathBuf::from("."),
        )
        .unwrap_err();
        let at = |needle: &str| {
            diags
                .iter()
                .find(|d| d.message.contains(needle))
                .map(|d| &text[d.primary_span().range()])
                .unwrap_or_else(|| panic!("no diagnostic with {needle:?}: {diags:?}"))
        };
        assert_eq!(at("unknown grant_type"), "\"saml\"");
        assert_eq!(at("client_secret or client_secret_env"), "\"id\"");
        assert_eq!(at("not a redis:// URL"), "\"http://not-redis\"");
    }

    #[test]
    fn signed_client_auth_and_token_exchange_rules() {
        let ok = es(r#"
            type = "oauth2"
            grant_type = "token_exchange"
            token_url = "https://idp.example/token"
            client_id = "id"
            client_auth = "private_key_jwt"
            private_key_env = "GW_KEY"
            algorithm = "ES256"
            key_id = "k1"
            audience = "orders"
            actor_token_env = "ACTOR"
        "#);
        assert!(
            check_endpoint_security(&ok).is_empty(),
            "{:?}",
            check_endpoint_security(&ok)
        );
        let keys = |t: &str| -> Vec<&'static str> {
            check_endpoint_security(&es(t))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        // no key for private_key_jwt; a secret it does not use; an unknown algorithm
        assert_eq!(
            keys(
                r#"
                type = "oauth2"
                grant_type = "client_credentials"
                token_url = "https://idp/t"
                client_id = "id"
                client_secret = "s"
                client_auth = "private_key_jwt"
                algorithm = "HS512"
            "#
            ),
            ["client_secret", "client_auth", "algorithm"]
        );
        // tls_client_auth needs both files and https; key options of another method
        assert_eq!(
            keys(
                r#"
                type = "oauth2"
                grant_type = "client_credentials"
                token_url = "http://idp/t"
                client_id = "id"
                client_auth = "tls_client_auth"
                client_cert = "c.pem"
                key_id = "k"
            "#
            ),
            ["key_id", "client_auth", "token_url"]
        );
        // exchange options without the exchange grant; audience twice
        assert_eq!(
            keys(
                r#"
                type = "oauth2"
                grant_type = "client_credentials"
                token_url = "https://idp/t"
                client_id = "id"
                client_secret = "s"
                client_auth = "client_secret_jwt"
                actor_token = "a"
                audience = "x"
                parameters = { audience = "y" }
            "#
            ),
            ["actor_token", "parameters"]
        );
    }

    #[test]
    fn key_and_certificate_files_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let base = |extra: &str| {
            es(&format!(
                r#"
                type = "oauth2"
                grant_type = "client_credentials"
                token_url = "https://idp.example/token"
                client_id = "id"
                {extra}
            "#
            ))
        };
        let msgs = |e: &EndpointSecurity| -> Vec<String> {
            check_endpoint_security_files(e, dir.path())
                .into_iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect()
        };
        let missing = base("client_auth = \"private_key_jwt\"\nprivate_key = \"nope.pem\"");
        let m = msgs(&missing);
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].starts_with("private_key: private_key ") && m[0].contains("nope.pem"),
            "{m:?}"
        );
        assert!(m[0].contains("cannot read"), "{m:?}");

        let secret_line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        std::fs::write(
            dir.path().join("bad.pem"),
            format!("-----BEGIN PRIVATE KEY-----\n{secret_line}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        let bad = base(
            "client_auth = \"private_key_jwt\"\nprivate_key = \"bad.pem\"\nalgorithm = \"PS256\"",
        );
        let m = msgs(&bad);
        assert!(
            m[0].contains("bad.pem") && m[0].contains("PS256 needs an RSA private key"),
            "{m:?}"
        );
        assert!(!m[0].contains(secret_line), "{m:?}");

        let tls = base("client_auth = \"tls_client_auth\"\nclient_cert = \"bad.pem\"\nclient_key = \"bad.pem\"");
        let m = msgs(&tls);
        assert!(
            m[0].starts_with("client_cert: client_cert ") && m[0].contains("no PEM certificate"),
            "{m:?}"
        );

        // a good key passes; a key in an unset variable is left to start-up
        std::fs::write(
            dir.path().join("ed.pem"),
            include_str!("../../../oauth/src/client/testdata/ed25519.pem"),
        )
        .unwrap();
        let good = base(
            "client_auth = \"private_key_jwt\"\nprivate_key = \"ed.pem\"\nalgorithm = \"EdDSA\"",
        );
        assert!(msgs(&good).is_empty(), "{:?}", msgs(&good));
        let env = base(
            "client_auth = \"private_key_jwt\"\nprivate_key_env = \"SYNAPTIC_TEST_UNSET_KEY_VAR\"",
        );
        assert!(msgs(&env).is_empty());
        let e = load_client_auth(&env, dir.path(), &|_| None).unwrap_err();
        assert!(matches!(e, AuthLoadError::MissingEnv { .. }), "{e:?}");
        let e = load_client_auth(&env, dir.path(), &|_| Some("junk".into())).unwrap_err();
        assert!(
            matches!(&e, AuthLoadError::Config { message, .. } if message.contains("environment variable SYNAPTIC_TEST_UNSET_KEY_VAR: not a PEM private key")),
            "{e:?}"
        );
    }

    #[test]
    fn dpop_keys_are_checked_and_named_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let base = |extra: &str| {
            es(&format!(
                r#"
                type = "oauth2"
                grant_type = "client_credentials"
                token_url = "https://idp.example/token"
                client_id = "id"
                client_secret = "s"
                {extra}
            "#
            ))
        };
        let keys = |e: &EndpointSecurity| -> Vec<&'static str> {
            check_endpoint_security(e)
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert!(keys(&base("dpop = true")).is_empty());
        // key options without dpop; both a file and a variable; an unknown algorithm
        assert_eq!(
            keys(&base("dpop_key = \"k.pem\"\ndpop_algorithm = \"ES256\"")),
            ["dpop_key", "dpop_algorithm"]
        );
        assert_eq!(
            keys(&base(
                "dpop = true\ndpop_key = \"k.pem\"\ndpop_key_env = \"V\"\ndpop_algorithm = \"RS256\""
            )),
            ["dpop_algorithm", "dpop_key_env"]
        );
        // files: unreadable, wrong kind (an RSA key for ES256), good; the content never shown
        let msgs = |e: &EndpointSecurity| -> Vec<String> {
            check_endpoint_security_files(e, dir.path())
                .into_iter()
                .map(|(k, m)| format!("{k}: {m}"))
                .collect()
        };
        let m = msgs(&base("dpop = true\ndpop_key = \"nope.pem\""));
        assert!(
            m.len() == 1 && m[0].starts_with("dpop_key: dpop_key ") && m[0].contains("nope.pem"),
            "{m:?}"
        );
        let rsa = include_str!("../../../oauth/src/client/testdata/rsa.pem");
        std::fs::write(dir.path().join("rsa.pem"), rsa).unwrap();
        let m = msgs(&base("dpop = true\ndpop_key = \"rsa.pem\""));
        assert!(
            m.len() == 1 && m[0].contains("rsa.pem") && m[0].contains("ES256 needs"),
            "{m:?}"
        );
        for line in rsa.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!m[0].contains(line), "{m:?}");
        }
        std::fs::write(
            dir.path().join("ed.pem"),
            include_str!("../../../oauth/src/client/testdata/ed25519.pem"),
        )
        .unwrap();
        let good = base("dpop = true\ndpop_key = \"ed.pem\"\ndpop_algorithm = \"EdDSA\"");
        assert!(msgs(&good).is_empty(), "{:?}", msgs(&good));
        let k = load_dpop_key(&good, dir.path(), &|_| None)
            .unwrap()
            .unwrap();
        assert!(!format!("{k:?}").contains("BEGIN"));
        // a variable: unset is left to start-up, junk is named
        let env = base("dpop = true\ndpop_key_env = \"SYNAPTIC_TEST_UNSET_DPOP\"");
        assert!(msgs(&env).is_empty());
        assert!(matches!(
            load_dpop_key(&env, dir.path(), &|_| None),
            Err(AuthLoadError::MissingEnv { .. })
        ));
        let e = load_dpop_key(&env, dir.path(), &|_| Some("junk".into())).unwrap_err();
        assert!(
            matches!(&e, AuthLoadError::Config { key: "dpop_key_env", message } if message.contains("SYNAPTIC_TEST_UNSET_DPOP") && message.contains("not a PEM")),
            "{e:?}"
        );
        // without dpop no key is loaded
        assert!(load_dpop_key(&base(""), dir.path(), &|_| None)
            .unwrap()
            .is_none());
    }

    #[test]
    fn unusable_key_file_is_a_diagnostic_at_its_key_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), "not a key").unwrap();
        let text = r#"
[[api]]
name = "a"
context = "/a"
endpoint = "http://127.0.0.1:9/"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "https://idp/token"
client_id = "id"
client_auth = "private_key_jwt"
private_key = "k.pem"
scope = "{$body}"
"#;
        let diags =
            crate::config::from_str(synaptic_diag::SourceId(0), text, dir.path().to_path_buf())
                .unwrap_err();
        let d = diags
            .iter()
            .find(|d| d.message.contains("reads the message body"))
            .unwrap_or_else(|| panic!("{diags:?}"));
        assert_eq!(&text[d.primary_span().range()], "\"{$body}\"");
        // with the expression fixed, the key file is checked and named
        let text = text.replace("scope = \"{$body}\"", "scope = \"{$trp:X-Scope}\"");
        let diags =
            crate::config::from_str(synaptic_diag::SourceId(0), &text, dir.path().to_path_buf())
                .unwrap_err();
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(&text[diags[0].primary_span().range()], "\"k.pem\"");
        let msg = &diags[0].message;
        assert!(
            msg.contains(&dir.path().join("k.pem").display().to_string()),
            "{msg}"
        );
        assert!(msg.contains("not a PEM private key"), "{msg}");
    }

    #[test]
    fn debug_hides_secrets() {
        let e = es(r#"
            type = "oauth2"
            grant_type = "password"
            token_url = "http://x/t"
            client_id = "id"
            client_secret = "topsecret"
            username = "u"
            password = "pw-secret"
        "#);
        let d = format!("{e:?}");
        assert!(!d.contains("topsecret") && !d.contains("pw-secret"), "{d}");
        let e = es(r#"
            type = "oauth2"
            grant_type = "token_exchange"
            token_url = "http://x/t"
            client_id = "id"
            client_secret = "s"
            actor_token = "actor-secret"
        "#);
        assert!(!format!("{e:?}").contains("actor-secret"));
        let r = RedisSettings {
            url: "redis://user:hunter2@127.0.0.1:6379/0".into(),
            key_prefix: None,
            key: Some("k".into()),
            key_env: None,
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
