//! The real OAuth2 peers of `tests/peers/real-peers.sh` (installed by `.ci/setup.sh`; each peer's
//! clients and users are in `docs/TESTING.md`), started on free loopback ports.
//!
//! * [`authlib()`], [`dot()`], [`oidc()`], [`oidc_jwt()`], [`mock()`]: one shared instance of each
//!   per test process, started on first use (about 0.4 s; DOT about 3 s the very first time
//!   on a machine, while it builds its seeded template database). Under nextest every test is
//!   its own process, so each test gets fresh peers; under `cargo test` tests in one binary
//!   share them — tests that count requests put a [`crate::origin::RecordingProxy`] in front, or
//!   start their own with [`Peer::start`].
//! * [`Peer::start`]: an instance owned by the test, with options (token lifetime, JWT access
//!   tokens), that can be stopped and restarted on the same port (token endpoint outages).
//!
//! Each peer runs under `tests/peers/supervise.sh`, so it dies with the test process however
//! that ends. `DOT_FAST_HASH=1` is always set. The peers must have been installed by
//! `bash .ci/setup.sh` (into `target/peers`, or `$PEERS_DIR` when set to an absolute path).

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::origin::RecordingProxy;
use crate::process::{http_get_status, ready_or_stopped, restart_retrying, wait_until, Supervised};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// Authlib 1.9.9 + Flask: AS and protected resource `/api/bookings`. Single-threaded.
    Authlib,
    /// django-oauth-toolkit 3.4.1 (403 for missing/invalid tokens at its resource).
    Dot,
    /// panva/oidc-provider 9.13.3 (opaque tokens, or RFC 9068 JWTs with `jwt_access_tokens`).
    Oidc,
    /// oauth2-mock-server 8.2.3: accepts anything; JWT plumbing only.
    Mock,
}

impl PeerKind {
    /// The name `tests/peers/peer.sh` knows it by.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Authlib => "authlib",
            PeerKind::Dot => "dot",
            PeerKind::Oidc => "oidc",
            PeerKind::Mock => "mock",
        }
    }

    fn health_path(self) -> &'static str {
        match self {
            PeerKind::Authlib => "/healthz",
            PeerKind::Dot => "/.well-known/oauth-authorization-server",
            PeerKind::Oidc | PeerKind::Mock => "/.well-known/openid-configuration",
        }
    }
}

/// Seeded client credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientCredentials {
    pub id: &'static str,
    pub secret: &'static str,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The seeded resource owner on every peer: `alice` / `wonderland`.
pub const USER: (&str, &str) = ("alice", "wonderland");

/// Options for [`Peer::start`].
#[derive(Clone, Debug, Default)]
pub struct PeerOptions {
    /// Access-token lifetime in seconds (`TOKEN_TTL`; default 3600). Authlib, DOT, oidc.
    pub token_ttl: Option<u64>,
    /// oidc-provider only: RFC 9068 `at+jwt` access tokens (`AT_FORMAT=jwt`); these cannot be
    /// introspected, validate them with the JWKS at [`Peer::jwks_url`].
    pub jwt_access_tokens: bool,
}

/// A running peer. Dropping it stops it.
#[derive(Debug)]
pub struct Peer {
    kind: PeerKind,
    options: PeerOptions,
    port: u16,
    run_dir: PathBuf,
    proc: Option<Supervised>,
}

/// Where `bash .ci/setup.sh` installed the peers: `$PEERS_DIR` if absolute, else
/// `<workspace>/target/peers`.
pub fn peers_dir() -> PathBuf {
    match std::env::var_os("PEERS_DIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => crate::workspace_root().join("target").join("peers"),
    }
}

/// Panics, naming the setup command, unless the peers are installed.
pub fn ensure_installed() -> PathBuf {
    let dir = peers_dir();
    let needed = [
        dir.join(".installed"),
        dir.join("venv/bin/python"),
        dir.join("authlib_server.py"),
        dir.join("dot/settings.py"),
        dir.join("node/oidc_server.mjs"),
        dir.join("node/node_modules/oidc-provider/package.json"),
        dir.join("node/node_modules/.bin/oauth2-mock-server"),
    ];
    if let Some(missing) = needed.iter().find(|p| !p.exists()) {
        crate::missing_prerequisite(&format!(
            "the real OAuth2 peers are not installed in {} ({} is missing)",
            dir.display(),
            missing.display()
        ));
    }
    dir
}

/// The peers' Python (a venv with Authlib 1.9.9, requests-oauthlib 2.0.0, oauthlib, requests,
/// httpx): for client-library tests (`tests/py/`).
pub fn python() -> PathBuf {
    ensure_installed().join("venv/bin/python")
}

/// The folder with `node_modules/` holding openid-client 6.8.9, oidc-provider and
/// oauth2-mock-server. ES modules resolve packages relative to the script's own location
/// (not `NODE_PATH`), so use [`run_node_script`] or put scripts in this folder.
pub fn node_dir() -> PathBuf {
    ensure_installed().join("node")
}

/// Run a Node ES module (`source`, e.g. `include_str!("py/strict_client.mjs")`) with the peers'
/// `node_modules` resolvable, with extra environment variables. Returns (status ok, stdout,
/// stderr). The script is written to a temporary file inside [`node_dir`] and removed after.
pub fn run_node_script(source: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = node_dir().join("tmp");
    let _ = std::fs::create_dir_all(&dir);
    let file = tempfile::Builder::new()
        .prefix("script-")
        .suffix(".mjs")
        .tempfile_in(&dir)
        .unwrap_or_else(|e| panic!("cannot create a script file in {}: {e}", dir.display()));
    std::fs::write(file.path(), source)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.path().display()));
    let mut cmd = Command::new("node");
    cmd.arg(file.path()).current_dir(node_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| crate::missing_prerequisite(&format!("cannot run node: {e}")));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Peer {
    /// Start a peer of this kind on a free port; panics (with the peer's log) if it cannot.
    pub fn start(kind: PeerKind, options: PeerOptions) -> Peer {
        let dir = ensure_installed();
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = crate::free_port();
            let run_dir =
                dir.join("run")
                    .join(format!("{}-{port}-{}", kind.name(), std::process::id()));
            let mut peer = Peer {
                kind,
                options: options.clone(),
                port,
                run_dir,
                proc: None,
            };
            match peer.spawn() {
                Ok(()) => return peer,
                Err(e) => last_err = e,
            }
        }
        panic!("{} peer did not start: {last_err}", kind.name())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let dir = peers_dir();
        std::fs::create_dir_all(&self.run_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.run_dir.display()))?;
        let log = self.run_dir.join("peer.log");
        let script = crate::workspace_root().join("tests/peers/peer.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg(self.kind.name())
            .env("PEERS_DIR", &dir)
            .env("PORT", self.port.to_string())
            .env("DOT_FAST_HASH", "1")
            .env("DOT_DB", self.run_dir.join("db.sqlite3"))
            .env("SUPERVISE_RM", &self.run_dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("AT_FORMAT")
            .env_remove("TOKEN_TTL");
        if let Some(ttl) = self.options.token_ttl {
            cmd.env("TOKEN_TTL", ttl.to_string());
        }
        if self.options.jwt_access_tokens {
            cmd.env("AT_FORMAT", "jwt");
        }
        let proc = Supervised::spawn(self.kind.name(), &log, &cmd)?;
        let (port, path) = (self.port, self.kind.health_path());
        // Up to 60 s: the first DOT start on a machine migrates its template database.
        let failure = format!(
            "{} on port {port} never answered 200 at {path}",
            self.kind.name()
        );
        let ready = || http_get_status(port, path) == Some(200);
        self.proc = Some(ready_or_stopped(proc, 1200, ready, 4000, &failure)?);
        Ok(())
    }

    /// Which server this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT` — also the issuer (except [`PeerKind::Mock`]: `http://localhost:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url() + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// The issuer the server puts in metadata and JWTs.
    pub fn issuer(&self) -> String {
        match self.kind {
            PeerKind::Mock => format!("http://localhost:{}", self.port),
            _ => self.base_url(),
        }
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        self.url(match self.kind {
            PeerKind::Authlib => "/oauth/token",
            PeerKind::Dot => "/o/token/",
            PeerKind::Oidc | PeerKind::Mock => "/token",
        })
    }

    /// The RFC 7662 introspection endpoint (authenticate as [`Peer::introspector`]).
    pub fn introspection_url(&self) -> String {
        self.url(match self.kind {
            PeerKind::Authlib => "/oauth/introspect",
            PeerKind::Dot => "/o/introspect/",
            PeerKind::Oidc => "/token/introspection",
            PeerKind::Mock => "/introspect",
        })
    }

    /// The RFC 7009 revocation endpoint.
    pub fn revocation_url(&self) -> String {
        self.url(match self.kind {
            PeerKind::Authlib => "/oauth/revoke",
            PeerKind::Dot => "/o/revoke_token/",
            PeerKind::Oidc => "/token/revocation",
            PeerKind::Mock => "/revoke",
        })
    }

    /// RFC 8414 (Authlib, DOT) or OpenID discovery (oidc, mock) metadata.
    pub fn metadata_url(&self) -> String {
        self.url(match self.kind {
            PeerKind::Authlib | PeerKind::Dot => "/.well-known/oauth-authorization-server",
            PeerKind::Oidc | PeerKind::Mock => "/.well-known/openid-configuration",
        })
    }

    /// The JWKS (oidc, mock). Authlib and DOT issue opaque tokens and have none.
    pub fn jwks_url(&self) -> Option<String> {
        match self.kind {
            PeerKind::Oidc | PeerKind::Mock => Some(self.url("/jwks")),
            PeerKind::Authlib | PeerKind::Dot => None,
        }
    }

    /// The protected resource `GET/POST /api/bookings` (Authlib: 401s, GET needs `view`, POST
    /// `book`; DOT: 403 for a missing or invalid token). None for oidc and mock.
    pub fn resource_url(&self) -> Option<String> {
        match self.kind {
            PeerKind::Authlib | PeerKind::Dot => Some(self.url("/api/bookings")),
            PeerKind::Oidc | PeerKind::Mock => None,
        }
    }

    /// The confidential client for the client-credentials grant (Basic auth).
    pub fn client(&self) -> ClientCredentials {
        match self.kind {
            PeerKind::Dot => ClientCredentials {
                id: "gw-cc",
                secret: "gw-cc-secret",
            },
            PeerKind::Authlib | PeerKind::Oidc | PeerKind::Mock => ClientCredentials {
                id: "gw-client",
                secret: "gw-secret",
            },
        }
    }

    /// The confidential client for the password grant (and refresh) with [`USER`].
    pub fn password_client(&self) -> ClientCredentials {
        match self.kind {
            PeerKind::Dot => ClientCredentials {
                id: "gw-pw",
                secret: "gw-pw-secret",
            },
            PeerKind::Authlib | PeerKind::Oidc | PeerKind::Mock => ClientCredentials {
                id: "gw-client",
                secret: "gw-secret",
            },
        }
    }

    /// The client that may call the introspection endpoint.
    pub fn introspector(&self) -> ClientCredentials {
        match self.kind {
            PeerKind::Dot => ClientCredentials {
                id: "rs-introspector",
                secret: "rs-secret",
            },
            PeerKind::Oidc => ClientCredentials {
                id: "rs-client",
                secret: "rs-secret",
            },
            PeerKind::Authlib | PeerKind::Mock => ClientCredentials {
                id: "gw-client",
                secret: "gw-secret",
            },
        }
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(Supervised::pid)
    }

    /// Whether it answers its health URL now.
    pub fn is_up(&self) -> bool {
        http_get_status(self.port, self.kind.health_path()) == Some(200)
    }

    /// The server's output so far (for failure messages).
    pub fn log(&self) -> String {
        crate::process::log_tail(&self.run_dir.join("peer.log"), 64 * 1024)
    }

    /// Stop it (token endpoint down). Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }

    /// Start it again on the same port, with freshly seeded state (all tokens forgotten).
    pub fn restart(&mut self) {
        self.stop();
        if let Err(last_err) = restart_retrying(|| self.spawn()) {
            panic!(
                "{} could not restart on port {}: {last_err}",
                self.kind.name(),
                self.port
            )
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn shared(cell: &'static OnceLock<Peer>, kind: PeerKind, options: PeerOptions) -> &'static Peer {
    cell.get_or_init(|| Peer::start(kind, options))
}

/// The shared Authlib peer of this test process.
pub fn authlib() -> &'static Peer {
    static CELL: OnceLock<Peer> = OnceLock::new();
    shared(&CELL, PeerKind::Authlib, PeerOptions::default())
}

/// The shared django-oauth-toolkit peer of this test process.
pub fn dot() -> &'static Peer {
    static CELL: OnceLock<Peer> = OnceLock::new();
    shared(&CELL, PeerKind::Dot, PeerOptions::default())
}

/// The shared oidc-provider peer (opaque access tokens) of this test process.
pub fn oidc() -> &'static Peer {
    static CELL: OnceLock<Peer> = OnceLock::new();
    shared(&CELL, PeerKind::Oidc, PeerOptions::default())
}

/// The shared oidc-provider peer issuing RFC 9068 JWT access tokens (`AT_FORMAT=jwt`).
pub fn oidc_jwt() -> &'static Peer {
    static CELL: OnceLock<Peer> = OnceLock::new();
    shared(
        &CELL,
        PeerKind::Oidc,
        PeerOptions {
            jwt_access_tokens: true,
            ..PeerOptions::default()
        },
    )
}

/// The shared oauth2-mock-server of this test process.
pub fn mock() -> &'static Peer {
    static CELL: OnceLock<Peer> = OnceLock::new();
    shared(&CELL, PeerKind::Mock, PeerOptions::default())
}

// === endpoint security against Authlib ===

/// A real Authlib peer of the test's own (a count sees nobody else's token requests) behind a
/// [`RecordingProxy`] that records them: configure `proxy.url_for("/oauth/token")` as the
/// token endpoint and count with `proxy.count_path("/oauth/token")`.
pub async fn counted_authlib() -> (Peer, RecordingProxy) {
    let peer = Peer::start(PeerKind::Authlib, PeerOptions::default());
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    (peer, proxy)
}

/// The `synaptic.toml` lines of the API `bookings` at `/bookings` in front of `backend`, with
/// OAuth2 endpoint security as the Authlib peer's `gw-client`: the client credentials grant at
/// `token_url`, the client secret read from the environment variable `secret_env`, client
/// authentication in a Basic header, `scope`.
pub fn authlib_bookings_api(
    backend: &str,
    token_url: &str,
    secret_env: &str,
    scope: &str,
) -> String {
    format!(
        r#"[[api]]
name = "bookings"
context = "/bookings"
endpoint = "{backend}"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{token_url}"
client_id = "gw-client"
client_secret_env = "{secret_env}"
scope = "{scope}"
client_auth = "basic"
"#
    )
}

// === signed and certificate client authentication, token exchange ===

/// `node` running `source` on `port`, written as `node/tmp/<stem>-<port>-<pid>.mjs` (ES modules
/// resolve packages from the script's folder, so it runs from there); `script` holds the
/// script's path, and the one of an earlier attempt is removed.
fn node_script(
    node: &std::path::Path,
    stem: &str,
    port: u16,
    source: &str,
    script: &std::cell::RefCell<PathBuf>,
) -> Result<Command, String> {
    let tmp = node.join("tmp");
    let _ = std::fs::create_dir_all(&tmp);
    let path = tmp.join(format!("{stem}-{port}-{}.mjs", std::process::id()));
    std::fs::write(&path, source).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut cmd = Command::new("node");
    cmd.arg(&path)
        .current_dir(node)
        .env("PORT", port.to_string());
    let old = script.replace(path);
    let _ = std::fs::remove_file(old);
    Ok(cmd)
}

/// The JSON a peer's statistics page at `url` answers.
async fn stats_at(url: String) -> serde_json::Value {
    reqwest::get(url)
        .await
        .expect("stats request")
        .json()
        .await
        .expect("stats response")
}

/// Start `cmd(port, folder)` under the supervisor on a free port with a fresh temporary folder
/// (for its log and generated files), up to three times, until `health` answers 200.
fn start_scripted(
    name: &str,
    health: &str,
    cmd: impl Fn(u16, &std::path::Path) -> Result<Command, String>,
) -> (u16, tempfile::TempDir, Supervised) {
    let mut last = String::new();
    for _ in 0..3 {
        let port = crate::free_port();
        let dir = tempfile::Builder::new()
            .prefix("synaptic-peer-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let log = dir.path().join("peer.log");
        let started = cmd(port, dir.path()).and_then(|c| Supervised::spawn(name, &log, &c));
        let mut proc = match started {
            Ok(p) => p,
            Err(e) => {
                last = e;
                continue;
            }
        };
        // generating RSA keys takes a few seconds on a busy machine
        if wait_until(&mut proc, 1200, || {
            http_get_status(port, health) == Some(200)
        }) {
            return (port, dir, proc);
        }
        last = proc.log_tail(4000);
        proc.stop();
    }
    panic!("{name} did not start: {last}")
}

/// A throwaway certificate authority (`CN=synaptic test CA`) and the leaf certificates it
/// signs, in memory.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    pub fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("CA key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "synaptic test CA");
        let cert = params.self_signed(&key).expect("CA certificate");
        TestCa { cert, key }
    }

    /// The CA's certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// (certificate PEM, private key PEM) of a leaf signed by the CA, with these subject
    /// alternative names (an IP address literal is an IP address name) and `cn` as its common
    /// name.
    pub fn leaf(&self, names: &[&str], cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("certificate");
        (cert.pem(), key.serialize_pem())
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// A throwaway PKI for mutual TLS with [`ClientAuthPeer`]: a CA, the peer's server certificate
/// for 127.0.0.1, the client certificate its `mtls-client` is registered with
/// (`CN=gw-mtls-client`), and one for another subject, all signed by the CA. PEM files in
/// [`TestPki::dir`].
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("synaptic-pki-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        let ca = TestCa::new();
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text)
                .unwrap_or_else(|e| panic!("cannot write {name}: {e}"))
        };
        write("ca.pem", &ca.pem());
        let leaf = |file: &str, names: &[&str], cn: &str| {
            let (cert, key) = ca.leaf(names, cn);
            write(&format!("{file}.pem"), &cert);
            write(&format!("{file}.key"), &key);
        };
        leaf("server", &["127.0.0.1"], "127.0.0.1");
        leaf("client", &[], "gw-mtls-client");
        leaf("intruder", &[], "intruder");
        TestPki { dir }
    }

    /// The folder with `ca.pem`, `server.{pem,key}`, `client.{pem,key}`, `intruder.{pem,key}`.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Default for TestPki {
    fn default() -> Self {
        TestPki::new()
    }
}

/// panva/oidc-provider (`tests/peers/oidc_client_auth.mjs`) requiring `private_key_jwt`
/// (clients `pkjwt-RS256`, `pkjwt-PS256`, `pkjwt-ES256`, `pkjwt-EdDSA`, key ids `kid-<alg>`),
/// `client_secret_jwt` (`secretjwt` / [`ClientAuthPeer::SECRET_JWT`]) or `tls_client_auth`
/// (`mtls-client`, over its HTTPS listener), and exchanging tokens (RFC 8693) for any of them.
/// `caller` / `caller-secret` (Basic) gets tokens to exchange; `rs-client` / `rs-secret`
/// introspects. The clients' private keys are generated at start into [`ClientAuthPeer::key`].
#[derive(Debug)]
pub struct ClientAuthPeer {
    port: u16,
    tls_port: u16,
    keys: tempfile::TempDir,
    script: PathBuf,
    proc: Option<Supervised>,
}

impl ClientAuthPeer {
    /// The `client_secret_jwt` client's secret.
    pub const SECRET_JWT: &'static str = "a-client-secret-for-hs256-that-is-long-enough";

    /// Start it on free ports, with the server certificate of `pki`.
    pub fn start(pki: &TestPki) -> ClientAuthPeer {
        let node = node_dir();
        let tls_port = crate::free_port();
        let script = std::cell::RefCell::new(PathBuf::new());
        let (port, keys, proc) = start_scripted("oidc-client-auth", "/test/stats", |port, dir| {
            let source = include_str!("../peers/oidc_client_auth.mjs");
            let mut cmd = node_script(&node, "client-auth", port, source, &script)?;
            cmd.env("TLS_PORT", tls_port.to_string())
                .env("TLS_CERT", pki.path("server.pem"))
                .env("TLS_KEY", pki.path("server.key"))
                .env("TLS_CA", pki.path("ca.pem"))
                .env("KEYS_DIR", dir);
            Ok(cmd)
        });
        ClientAuthPeer {
            port,
            tls_port,
            keys,
            script: script.into_inner(),
            proc: Some(proc),
        }
    }

    /// The issuer, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The token endpoint over plain HTTP (JWT client authentication).
    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The token endpoint over mutual TLS (the server certificate is [`TestPki`]'s).
    pub fn mtls_token_url(&self) -> String {
        format!("https://127.0.0.1:{}/token", self.tls_port)
    }

    /// A private key file the peer generated: `RS256.pem`, `PS256.pem`, `ES256.pem`,
    /// `EdDSA.pem` (registered for `pkjwt-<alg>`), or `wrong-RS256.pem` (registered nowhere).
    pub fn key(&self, file: &str) -> PathBuf {
        self.keys.path().join(file)
    }

    /// A client-credentials token of `caller` (to be exchanged).
    pub async fn caller_token(&self) -> String {
        let v: serde_json::Value = reqwest::Client::new()
            .post(self.token_url())
            .basic_auth("caller", Some("caller-secret"))
            .form(&[("grant_type", "client_credentials"), ("scope", "view")])
            .send()
            .await
            .expect("token request")
            .json()
            .await
            .expect("token response");
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {v}"))
            .to_string()
    }

    /// RFC 7662 introspection of `token` (as `rs-client`).
    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/token/introspection", self.base_url()))
            .basic_auth("rs-client", Some("rs-secret"))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspection request")
            .json()
            .await
            .expect("introspection response")
    }

    /// `{"exchanges": N, "client_credentials": {client_id: N}}`: grants the peer issued.
    pub async fn stats(&self) -> serde_json::Value {
        stats_at(format!("{}/test/stats", self.base_url())).await
    }

    /// The peer's output so far.
    pub fn log(&self) -> String {
        crate::process::log_tail(&self.keys.path().join("peer.log"), 64 * 1024)
    }
}

impl Drop for ClientAuthPeer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
        let _ = std::fs::remove_file(&self.script);
    }
}

/// Authlib (`tests/peers/authlib_jwt_client_auth.py`) accepting ONLY `private_key_jwt`
/// (`pk-rsa` RS256 kid `rsa-1`, `pk-ec` ES256 kid `ec-1`) and `client_secret_jwt` (`sj` /
/// [`AuthlibJwtPeer::SECRET_JWT`]) at its token endpoint, with a protected resource
/// `GET /api/whoami` answering the token's `client_id` and `scope`. The clients' private keys
/// are generated at start into [`AuthlibJwtPeer::key`] (`rsa.pem`, `ec.pem`, and `wrong.pem`,
/// registered nowhere).
#[derive(Debug)]
pub struct AuthlibJwtPeer {
    port: u16,
    keys: tempfile::TempDir,
    proc: Option<Supervised>,
}

impl AuthlibJwtPeer {
    pub const SECRET_JWT: &'static str = "authlib-client-secret-jwt-secret-0123456789";

    pub fn start() -> AuthlibJwtPeer {
        let python = python();
        let script = crate::workspace_root().join("tests/peers/authlib_jwt_client_auth.py");
        let (port, keys, proc) = start_scripted("authlib-jwt", "/healthz", |port, dir| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .env("PORT", port.to_string())
                .env("KEYS_DIR", dir)
                .env("PYTHONDONTWRITEBYTECODE", "1");
            Ok(cmd)
        });
        AuthlibJwtPeer {
            port,
            keys,
            proc: Some(proc),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// `rsa.pem`, `ec.pem` or `wrong.pem`.
    pub fn key(&self, file: &str) -> PathBuf {
        self.keys.path().join(file)
    }

    /// `{"ok": true, "tokens": {client_id: N}}`: tokens issued per client.
    pub async fn stats(&self) -> serde_json::Value {
        stats_at(format!("{}/healthz", self.base_url())).await
    }

    pub fn log(&self) -> String {
        crate::process::log_tail(&self.keys.path().join("peer.log"), 64 * 1024)
    }
}

impl Drop for AuthlibJwtPeer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
    }
}

/// panva/oidc-provider (`tests/peers/oidc_dpop.mjs`) issuing DPoP-bound tokens (RFC 9449) to
/// `dpop-client` / `dpop-secret` (a proof is required) and `plain-client` / `plain-secret`,
/// with a protected resource `/api/whoami` that accepts them only with a valid proof by the
/// bound key. With `require_nonce`, the token endpoint and the resource both demand
/// server-provided nonces.
#[derive(Debug)]
pub struct DpopPeer {
    port: u16,
    dir: tempfile::TempDir,
    script: PathBuf,
    proc: Option<Supervised>,
}

impl DpopPeer {
    pub fn start(require_nonce: bool) -> DpopPeer {
        let node = node_dir();
        let script = std::cell::RefCell::new(PathBuf::new());
        let (port, dir, proc) = start_scripted("oidc-dpop", "/test/stats", |port, _dir| {
            let source = include_str!("../peers/oidc_dpop.mjs");
            let mut cmd = node_script(&node, "dpop", port, source, &script)?;
            cmd.env("REQUIRE_NONCE", if require_nonce { "1" } else { "0" });
            Ok(cmd)
        });
        DpopPeer {
            port,
            dir,
            script: script.into_inner(),
            proc: Some(proc),
        }
    }

    /// The issuer, `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.base_url())
    }

    /// The protected resource (a backend for the gateway).
    pub fn resource_url(&self) -> String {
        format!("{}/api/whoami", self.base_url())
    }

    /// `{"tokens": N, "token_nonce_errors": N, "resource": {"ok", "nonce_challenges",
    /// "refused", "proofs_with_nonce"}}`.
    pub async fn stats(&self) -> serde_json::Value {
        stats_at(format!("{}/test/stats", self.base_url())).await
    }

    /// From now on the resource hands out (and wants) a new nonce.
    pub async fn rotate_resource_nonce(&self) {
        let r = reqwest::Client::new()
            .post(format!("{}/test/rotate-nonce", self.base_url()))
            .send()
            .await
            .expect("rotate request");
        assert!(r.status().is_success());
    }

    pub fn log(&self) -> String {
        crate::process::log_tail(&self.dir.path().join("peer.log"), 64 * 1024)
    }
}

impl Drop for DpopPeer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop();
        }
        let _ = std::fs::remove_file(&self.script);
    }
}
