//! TLS for the HTTPS listener (`[server] listen_tls`, `[server.tls]`): a default certificate and
//! more chosen by SNI, optional client-certificate verification, ALPN (`h2`, `http/1.1`), and
//! certificates reloaded when their files change without dropping a connection.
//!
//! rustls with the ring provider and its safe defaults: TLS 1.2 and 1.3, forward-secret AEAD
//! cipher suites only (no CBC, no RSA key exchange). A reload builds a whole new
//! `rustls::ServerConfig` and swaps it in; a handshake uses the configuration current when it
//! starts, so connections already open keep theirs.

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// `[server.tls]`
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The default certificate chain (PEM), used when no `[[server.tls.sni]]` entry matches.
    pub cert: String,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// More certificates, chosen by the name the client asks for (SNI).
    #[serde(default)]
    pub sni: Vec<SniCert>,
    /// CA certificates (PEM) that client certificates must chain to.
    pub client_ca: Option<String>,
    /// Whether clients present a certificate: `"none"` (default), `"optional"`, `"required"`.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Seconds between checks of the certificate files for changes (default 2).
    #[serde(default = "default_reload_interval")]
    pub reload_interval: f64,
    /// Seconds a client gets to finish the TLS handshake (default 10).
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: f64,
}

/// `[[server.tls.sni]]`
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SniCert {
    /// Host names this certificate serves: exact (`api.example.com`) or one wildcard label
    /// (`*.example.com`, which matches `a.example.com` but not `example.com`).
    pub hosts: Vec<String>,
    pub cert: String,
    pub key: String,
}

/// `[server.tls] client_auth`
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    None,
    Optional,
    Required,
}

fn default_reload_interval() -> f64 {
    2.0
}
fn default_handshake_timeout() -> f64 {
    10.0
}

/// Which key of `[server.tls]` a problem is about, for the diagnostic's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsField {
    Cert,
    Key,
    SniCert(usize),
    SniKey(usize),
    SniHosts(usize),
    ClientCa,
    ClientAuth,
}

/// A certificate, key or CA file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    pub field: TlsField,
    pub message: String,
}

impl TlsError {
    fn new(field: TlsField, message: impl Into<String>) -> Self {
        TlsError {
            field,
            message: message.into(),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(path: &Path, field: TlsField) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::new(field, format!("cannot read {}: {e}", path.display())))
}

fn load_chain(path: &Path, field: TlsField) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, field)?;
    let chain: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| {
            TlsError::new(
                field,
                format!("{} is not a PEM certificate file: {e}", path.display()),
            )
        })?;
    if chain.is_empty() {
        return Err(TlsError::new(
            field,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(chain)
}

fn load_key(path: &Path, field: TlsField) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, field)?;
    // the parser's own error could quote key material: say only what is wrong
    match rustls_pemfile::private_key(&mut pem.as_slice()) {
        Ok(Some(k)) => Ok(k),
        Ok(None) => Err(TlsError::new(
            field,
            format!("{} holds no PEM private key", path.display()),
        )),
        Err(_) => Err(TlsError::new(
            field,
            format!("{} is not a readable PEM private key", path.display()),
        )),
    }
}

fn certified(
    cert: &Path,
    key: &Path,
    (cert_field, key_field): (TlsField, TlsField),
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_chain(cert, cert_field)?;
    let key_der = load_key(key, key_field)?;
    CertifiedKey::from_der(chain, key_der, provider)
        .map(Arc::new)
        .map_err(|e| {
            TlsError::new(
                key_field,
                format!(
                    "the key {} does not fit the certificate {}: {e}",
                    key.display(),
                    cert.display()
                ),
            )
        })
}

/// The certificate for a client's SNI name: exact host, then one wildcard label, then the
/// default.
#[derive(Debug)]
struct SniResolver {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl SniResolver {
    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = name else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(c) = self.exact.get(&name) {
            return c.clone();
        }
        if let Some((_, parent)) = name.split_once('.') {
            if let Some(c) = self.wildcard.get(parent) {
                return c.clone();
            }
        }
        self.default.clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

/// The certificates of `settings`, by SNI name.
fn sni_resolver(
    settings: &TlsSettings,
    resolve: &dyn Fn(&str) -> PathBuf,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<SniResolver, TlsError> {
    let default = certified(
        &resolve(&settings.cert),
        &resolve(&settings.key),
        (TlsField::Cert, TlsField::Key),
        provider,
    )?;
    let mut resolver = SniResolver {
        default,
        exact: HashMap::new(),
        wildcard: HashMap::new(),
    };
    for (i, sni) in settings.sni.iter().enumerate() {
        if sni.hosts.is_empty() {
            return Err(TlsError::new(
                TlsField::SniHosts(i),
                "an SNI certificate needs at least one host name",
            ));
        }
        let ck = certified(
            &resolve(&sni.cert),
            &resolve(&sni.key),
            (TlsField::SniCert(i), TlsField::SniKey(i)),
            provider,
        )?;
        for h in &sni.hosts {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            let (map, name) = match h.strip_prefix("*.") {
                Some(parent) => (&mut resolver.wildcard, parent.to_string()),
                None => (&mut resolver.exact, h.clone()),
            };
            let valid = !name.is_empty()
                && name.split('.').all(|l| {
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if !valid {
                return Err(TlsError::new(
                    TlsField::SniHosts(i),
                    format!("{h:?} is not a host name (or `*.` and a host name)"),
                ));
            }
            map.insert(name, ck.clone());
        }
    }
    Ok(resolver)
}

/// Build the rustls configuration `settings` describe; relative paths go through `resolve`.
pub fn build(
    settings: &TlsSettings,
    resolve: &dyn Fn(&str) -> PathBuf,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = provider();
    let resolver = sni_resolver(settings, resolve, &provider)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(TlsField::Cert, e.to_string()))?;
    let builder = match (settings.client_auth, &settings.client_ca) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(TlsError::new(
                TlsField::ClientAuth,
                "client_auth needs client_ca: the CA certificates client certificates chain to",
            ))
        }
        (mode, Some(ca)) => {
            let path = resolve(ca);
            let mut roots = rustls::RootCertStore::empty();
            for c in load_chain(&path, TlsField::ClientCa)? {
                roots.add(c).map_err(|e| {
                    TlsError::new(
                        TlsField::ClientCa,
                        format!("{}: not a CA certificate: {e}", path.display()),
                    )
                })?;
            }
            let mut v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if mode == ClientAuth::Optional {
                v = v.allow_unauthenticated();
            }
            let verifier = v
                .build()
                .map_err(|e| TlsError::new(TlsField::ClientCa, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Every file `settings` name, resolved.
pub fn files(settings: &TlsSettings, resolve: &dyn Fn(&str) -> PathBuf) -> Vec<PathBuf> {
    let mut out = vec![resolve(&settings.cert), resolve(&settings.key)];
    for s in &settings.sni {
        out.push(resolve(&s.cert));
        out.push(resolve(&s.key));
    }
    if let Some(ca) = &settings.client_ca {
        out.push(resolve(ca));
    }
    out
}

/// What a file looked like at the last check: modification time and length.
type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
        })
        .collect()
}

/// The TLS configuration in force, replaced when the files change.
pub struct ReloadingTls {
    current: ArcSwap<rustls::ServerConfig>,
    settings: TlsSettings,
    base_dir: PathBuf,
    stamp: std::sync::Mutex<Stamp>,
    generation: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for ReloadingTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingTls")
            .field("settings", &self.settings)
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl ReloadingTls {
    /// Load the configuration once; relative paths resolve against `base_dir`.
    pub fn new(settings: TlsSettings, base_dir: PathBuf) -> Result<Arc<Self>, TlsError> {
        let (cfg, stamp) = {
            let resolve = resolver(&base_dir);
            (
                build(&settings, &resolve)?,
                stamp(&files(&settings, &resolve)),
            )
        };
        Ok(Arc::new(ReloadingTls {
            current: ArcSwap::new(cfg),
            settings,
            base_dir,
            stamp: std::sync::Mutex::new(stamp),
            generation: std::sync::atomic::AtomicU64::new(1),
        }))
    }

    /// The acceptor for the next handshake.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// How many configurations have been in force (1 after `new`).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn handshake_timeout(&self) -> Duration {
        crate::config::secs(self.settings.handshake_timeout).unwrap_or(Duration::from_secs(10))
    }

    /// Check the files once: when any changed, build a new configuration and swap it in.
    /// `Ok(true)`: reloaded; `Ok(false)`: nothing changed; `Err`: changed but unusable (the
    /// configuration in force stays, and the same files are not retried until they change again).
    pub fn check(&self) -> Result<bool, TlsError> {
        let resolve = resolver(&self.base_dir);
        let now = stamp(&files(&self.settings, &resolve));
        {
            let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if *last == now {
                return Ok(false);
            }
            *last = now;
        }
        let cfg = build(&self.settings, &resolve)?;
        self.current.store(cfg);
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// Check for changes every `reload_interval` seconds until the returned task is aborted.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let every =
            crate::config::secs(self.settings.reload_interval).unwrap_or(Duration::from_secs(2));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let me2 = me.clone();
                match tokio::task::spawn_blocking(move || me2.check()).await {
                    Ok(Ok(true)) => tracing::info!(
                        target: "synaptic::reload",
                        "reloaded: TLS certificates (generation {})",
                        me.generation()
                    ),
                    Ok(Ok(false)) => {}
                    Ok(Err(e)) => tracing::error!(
                        target: "synaptic::reload",
                        "rejected: TLS certificates: {e}; still serving generation {}",
                        me.generation()
                    ),
                    Err(_) => {}
                }
            }
        })
    }
}

/// `[server] listen_tls` and `[server.tls]` checks, certificate files loaded: every problem is
/// reported through `err` at the key it is about.
pub(crate) fn validate(
    config: &crate::config::Config,
    err: &mut dyn FnMut(&[crate::config::At<'_>], String),
) {
    use crate::config::At;
    let s = &config.server;
    if let Some(addr) = &s.listen_tls {
        if addr.parse::<std::net::SocketAddr>().is_err() {
            err(
                &[At::Key("server"), At::Key("listen_tls")],
                format!("listen_tls address {addr:?} is not IP:PORT"),
            );
        }
    }
    match (&s.listen_tls, &s.tls) {
        (Some(_), None) => err(
            &[At::Key("server"), At::Key("listen_tls")],
            "listen_tls needs a [server.tls] section with `cert` and `key`".into(),
        ),
        (None, Some(_)) => err(
            &[At::Key("server"), At::Key("tls")],
            "[server.tls] is set but no listen_tls address: add `listen_tls = \"0.0.0.0:8243\"`"
                .into(),
        ),
        _ => {}
    }
    let Some(tls) = &s.tls else { return };
    for (key, v) in [
        ("reload_interval", tls.reload_interval),
        ("handshake_timeout", tls.handshake_timeout),
    ] {
        if crate::config::secs(v).is_none() {
            err(
                &[At::Key("server"), At::Key("tls"), At::Key(key)],
                format!("{key} must be a positive number of seconds"),
            );
        }
    }
    if let Err(e) = build(tls, &|p| config.resolve_path(p)) {
        let path: Vec<At<'_>> = match e.field {
            TlsField::Cert => vec![At::Key("server"), At::Key("tls"), At::Key("cert")],
            TlsField::Key => vec![At::Key("server"), At::Key("tls"), At::Key("key")],
            TlsField::ClientCa => vec![At::Key("server"), At::Key("tls"), At::Key("client_ca")],
            TlsField::ClientAuth => {
                vec![At::Key("server"), At::Key("tls"), At::Key("client_auth")]
            }
            TlsField::SniCert(i) => sni_at(i, "cert"),
            TlsField::SniKey(i) => sni_at(i, "key"),
            TlsField::SniHosts(i) => sni_at(i, "hosts"),
        };
        err(&path, e.message);
    }
}

fn sni_at(i: usize, key: &'static str) -> Vec<crate::config::At<'static>> {
    use crate::config::At;
    vec![
        At::Key("server"),
        At::Key("tls"),
        At::Key("sni"),
        At::Index(i),
        At::Key(key),
    ]
}

/// The subject of a DER certificate as RFC 4514 text (`CN=client,O=Example`).
pub fn subject(der: &[u8]) -> Option<Arc<str>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(Arc::from(cert.subject().to_string().as_str()))
}

fn resolver(base: &Path) -> impl Fn(&str) -> PathBuf + '_ {
    move |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pki {
        dir: tempfile::TempDir,
        ca: rcgen::Certificate,
        ca_key: rcgen::KeyPair,
    }

    impl Pki {
        fn new() -> Self {
            let (ca, ca_key) = crate::test_pki::ca();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
            Pki { dir, ca, ca_key }
        }
        /// Writes `<stem>.pem` and `<stem>.key` for `names`; returns the certificate's DER.
        fn leaf(&self, stem: &str, names: &[&str]) -> Vec<u8> {
            let key = rcgen::KeyPair::generate().unwrap();
            let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
            let cert = rcgen::CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &self.ca, &self.ca_key)
                .unwrap();
            std::fs::write(self.dir.path().join(format!("{stem}.pem")), cert.pem()).unwrap();
            std::fs::write(
                self.dir.path().join(format!("{stem}.key")),
                key.serialize_pem(),
            )
            .unwrap();
            cert.der().to_vec()
        }
        fn settings(&self) -> TlsSettings {
            TlsSettings {
                cert: "default.pem".into(),
                key: "default.key".into(),
                sni: vec![],
                client_ca: None,
                client_auth: ClientAuth::None,
                reload_interval: 2.0,
                handshake_timeout: 10.0,
            }
        }
    }

    fn pick(cfg: &TlsSettings, pki: &Pki, name: Option<&str>) -> Vec<u8> {
        let r = sni_resolver(cfg, &resolver(pki.dir.path()), &provider()).unwrap();
        r.pick(name).cert[0].to_vec()
    }

    #[test]
    fn sni_picks_exact_then_wildcard_then_default() {
        let pki = Pki::new();
        let d = pki.leaf("default", &["localhost"]);
        let a = pki.leaf("a", &["a.example.test"]);
        let w = pki.leaf("w", &["*.w.example.test"]);
        let mut cfg = pki.settings();
        cfg.sni = vec![
            SniCert {
                hosts: vec!["a.example.test".into()],
                cert: "a.pem".into(),
                key: "a.key".into(),
            },
            SniCert {
                hosts: vec!["*.w.example.test".into()],
                cert: "w.pem".into(),
                key: "w.key".into(),
            },
        ];
        assert!(build(&cfg, &resolver(pki.dir.path())).is_ok());
        assert_eq!(pick(&cfg, &pki, Some("a.example.test")), a);
        assert_eq!(pick(&cfg, &pki, Some("A.Example.Test.")), a);
        assert_eq!(pick(&cfg, &pki, Some("x.w.example.test")), w);
        assert_eq!(pick(&cfg, &pki, Some("w.example.test")), d);
        assert_eq!(pick(&cfg, &pki, Some("other.test")), d);
        assert_eq!(pick(&cfg, &pki, None), d);
    }

    #[test]
    fn bad_files_name_the_field_and_the_file() {
        let pki = Pki::new();
        pki.leaf("default", &["localhost"]);
        pki.leaf("other", &["localhost"]);
        let resolve = resolver(pki.dir.path());
        let mut cfg = pki.settings();
        cfg.cert = "missing.pem".into();
        let e = build(&cfg, &resolve).unwrap_err();
        assert_eq!(e.field, TlsField::Cert);
        assert!(e.message.contains("missing.pem"), "{e}");

        let mut cfg = pki.settings();
        cfg.key = "default.pem".into(); // a certificate where the key should be
        let e = build(&cfg, &resolve).unwrap_err();
        assert_eq!(e.field, TlsField::Key);
        assert!(e.message.contains("no PEM private key"), "{e}");

        let mut cfg = pki.settings();
        cfg.key = "other.key".into(); // a key of another certificate
        let e = build(&cfg, &resolve).unwrap_err();
        assert_eq!(e.field, TlsField::Key);
        assert!(e.message.contains("does not fit"), "{e}");

        let mut cfg = pki.settings();
        cfg.client_auth = ClientAuth::Required;
        let e = build(&cfg, &resolve).unwrap_err();
        assert_eq!(e.field, TlsField::ClientAuth);

        let mut cfg = pki.settings();
        cfg.sni = vec![SniCert {
            hosts: vec!["bad host".into()],
            cert: "default.pem".into(),
            key: "default.key".into(),
        }];
        let e = build(&cfg, &resolve).unwrap_err();
        assert_eq!(e.field, TlsField::SniHosts(0));
    }

    #[test]
    fn errors_never_quote_key_material() {
        let pki = Pki::new();
        pki.leaf("default", &["localhost"]);
        let garbage =
            "-----BEGIN PRIVATE KEY-----\nU0VDUkVUU0VDUkVU!!\n-----END PRIVATE KEY-----\n";
        std::fs::write(pki.dir.path().join("default.key"), garbage).unwrap();
        let e = build(&pki.settings(), &resolver(pki.dir.path())).unwrap_err();
        assert!(!e.message.contains("U0VDUkVU"), "{e}");
        assert!(!format!("{e:?}").contains("U0VDUkVU"));
    }

    #[test]
    fn config_errors_point_at_the_key() {
        let pki = Pki::new();
        pki.leaf("default", &["localhost"]);
        let check = |extra: &str| -> Vec<String> {
            let text = format!("[server]\n{extra}");
            let mut map = synaptic_diag::SourceMap::new();
            let id = map.add("synaptic.toml".to_string(), text.clone());
            match crate::config::from_str(id, &text, pki.dir.path().to_path_buf()) {
                Ok(_) => vec![],
                Err(d) => d
                    .iter()
                    .map(|d| synaptic_diag::render::short(&map, d))
                    .collect(),
            }
        };
        let ok = "listen_tls = \"127.0.0.1:8243\"\n[server.tls]\ncert = \"default.pem\"\nkey = \"default.key\"\n";
        assert_eq!(check(ok), Vec::<String>::new());
        let e = check("listen_tls = \"127.0.0.1:8243\"\n[server.tls]\ncert = \"nope.pem\"\nkey = \"default.key\"\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("synaptic.toml:4:8: error[E0402]"), "{e:?}");
        assert!(e[0].contains("nope.pem"), "{e:?}");
        let e = check("listen_tls = \"127.0.0.1:8243\"\n");
        assert!(e[0].contains("needs a [server.tls]"), "{e:?}");
        let e = check("[server.tls]\ncert = \"default.pem\"\nkey = \"default.key\"\n");
        assert!(e[0].contains("no listen_tls"), "{e:?}");
    }

    #[test]
    fn reload_swaps_on_change_and_keeps_the_old_on_a_bad_file() {
        let pki = Pki::new();
        pki.leaf("default", &["localhost"]);
        let tls = ReloadingTls::new(pki.settings(), pki.dir.path().to_path_buf()).unwrap();
        assert_eq!(tls.check(), Ok(false));
        assert_eq!(tls.generation(), 1);
        // new certificate and key: swapped in
        std::thread::sleep(Duration::from_millis(20));
        pki.leaf("default", &["localhost", "renewed.test"]);
        assert_eq!(tls.check(), Ok(true));
        assert_eq!(tls.generation(), 2);
        // a broken key: rejected, generation 2 stays
        std::fs::write(pki.dir.path().join("default.key"), "not a key").unwrap();
        assert!(tls.check().is_err());
        assert_eq!(tls.generation(), 2);
        assert_eq!(tls.check(), Ok(false), "not retried until the files change");
    }
}
