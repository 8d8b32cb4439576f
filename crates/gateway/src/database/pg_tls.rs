//! TLS to PostgreSQL with the settings of a `jdbc:postgresql:` URL, as the PostgreSQL JDBC
//! driver reads them (docs/SECURITY.md, "PostgreSQL"): `sslmode` (`disable`, `allow`,
//! `prefer` — the default —, `require`, `verify-ca`, `verify-full`; `ssl=true` without
//! `sslmode` is `verify-full`), `sslrootcert`, `sslcert` / `sslkey` and `sslfactory`
//! (`NonValidatingFactory`). The handshake is rustls's (ring), through tokio-postgres-rustls
//! (ADR 0503).
//!
//! A mode that requires TLS never falls back to plain text. The certificate is verified only
//! by `verify-ca` (its chain, up to `sslrootcert`'s certificates or, without it, the Mozilla
//! roots the HTTP client trusts) and `verify-full` (the chain and the host name), as the JDBC
//! driver's default factory does; `allow`, `prefer` and `require` encrypt without verifying.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// `sslmode`, as the JDBC driver names its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text; TLS when the server refuses a plain connection.
    Allow,
    /// TLS when the server offers it; plain text when it does not, or when it refuses the
    /// TLS connection's authentication.
    Prefer,
    /// TLS only, the certificate not verified.
    Require,
    /// TLS only, the certificate's chain verified (not the host name).
    VerifyCa,
    /// TLS only, the chain and the host name verified.
    VerifyFull,
}

impl SslMode {
    const NAMES: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];
}

/// The TLS settings of a URL, as written (percent-decoded).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct TlsSettings {
    pub ssl: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    /// Given at all (its value is never kept).
    pub sslpassword: bool,
    pub sslfactory: Option<String>,
}

impl TlsSettings {
    /// Reads one `key=value` of the URL; false when the key is not a TLS setting.
    pub(super) fn set(&mut self, key: &str, value: String) -> bool {
        let slot = match key {
            "ssl" => &mut self.ssl,
            "sslmode" => &mut self.sslmode,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            "sslkey" => &mut self.sslkey,
            "sslfactory" => &mut self.sslfactory,
            "sslpassword" => {
                self.sslpassword = !value.is_empty();
                return true;
            }
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// The mode, as the JDBC driver decides it: `sslmode` when given (an unknown value is an
    /// error), else `verify-full` for `ssl` (`ssl`, `ssl=`, `ssl=true`), else `prefer`.
    pub(super) fn mode(&self) -> Result<SslMode, String> {
        match &self.sslmode {
            Some(m) => SslMode::NAMES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(m.trim()))
                .map(|(_, mode)| *mode)
                .ok_or_else(|| {
                    format!(
                        "sslmode=`{m}` is not a PostgreSQL TLS mode (disable, allow, prefer, \
                         require, verify-ca, verify-full)"
                    )
                }),
            None => Ok(match self.ssl.as_deref() {
                Some(v) if v.is_empty() || v.eq_ignore_ascii_case("true") => SslMode::VerifyFull,
                _ => SslMode::Prefer,
            }),
        }
    }
}

/// What a connection of the pool does about TLS.
pub(super) struct PgTls {
    pub mode: SslMode,
    /// The handshake (unused by `disable`).
    pub connector: MakeRustlsConnect,
}

impl std::fmt::Debug for PgTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTls").field("mode", &self.mode).finish()
    }
}

/// `sslfactory`: the JDBC driver's default (`LibPQFactory`) or `NonValidatingFactory`; the
/// JDBC driver's other factories are Java classes synaptic does not run.
fn validates(factory: Option<&str>) -> Result<bool, String> {
    match factory.map(str::trim) {
        None | Some("") => Ok(true),
        Some("org.postgresql.ssl.LibPQFactory" | "org.postgresql.ssl.jdbc4.LibPQFactory") => {
            Ok(true)
        }
        Some("org.postgresql.ssl.NonValidatingFactory") => Ok(false),
        Some(other) => Err(format!(
            "sslfactory=`{other}` is a Java class synaptic does not run: leave it out (and give \
             sslrootcert for a private CA) or use org.postgresql.ssl.NonValidatingFactory"
        )),
    }
}

impl PgTls {
    /// The pool's TLS from the URL's settings; relative file paths resolve against `base`.
    /// Files are read now: one missing or not PEM is an error that names it.
    pub(super) fn new(s: &TlsSettings, base: &Path) -> Result<PgTls, String> {
        let mode = s.mode()?;
        let chain_checked = validates(s.sslfactory.as_deref())?;
        if s.sslpassword {
            return Err(
                "sslpassword (an encrypted client key) is not supported: give sslkey as an \
                 unencrypted PEM or PKCS#8 file, readable by synaptic only"
                    .into(),
            );
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verify_chain = chain_checked && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
        let roots = if verify_chain {
            Some(Arc::new(match &s.sslrootcert {
                Some(p) => root_store(&resolve(base, p))?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            }))
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            roots,
            check_name: mode == SslMode::VerifyFull,
            provider: provider.clone(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match (&s.sslcert, &s.sslkey) {
            _ if mode == SslMode::Disable => builder.with_no_client_auth(),
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = cert_chain(&resolve(base, cert))?;
                let key_path = resolve(base, key);
                let key = private_key(&key_path)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| match e {
                        rustls::Error::InconsistentKeys(_) => format!(
                            "sslkey {} is not the key of the certificate sslcert names",
                            key_path.display()
                        ),
                        _ => format!(
                            "sslkey {} is not a private key synaptic can sign with",
                            key_path.display()
                        ),
                    })?
            }
            (Some(_), None) => {
                return Err("sslcert is given without sslkey: give both (PEM files)".into())
            }
            (None, Some(_)) => {
                return Err("sslkey is given without sslcert: give both (PEM files)".into())
            }
        };
        Ok(PgTls {
            mode,
            connector: MakeRustlsConnect::new(config),
        })
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {} cannot be read: {e}", path.display()))
}

fn pem_certs(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|c| !c.is_empty())
}

/// `sslrootcert`: the CA certificates (PEM) a chain may end at.
fn root_store(path: &Path) -> Result<RootCertStore, String> {
    let pem = read(path, "sslrootcert")?;
    let certs = pem_certs(&pem)
        .ok_or_else(|| format!("sslrootcert {} holds no PEM certificate", path.display()))?;
    let mut roots = RootCertStore::empty();
    for c in certs {
        roots.add(c).map_err(|e| {
            format!(
                "sslrootcert {} holds a certificate that is not a usable CA: {e}",
                path.display()
            )
        })?;
    }
    Ok(roots)
}

/// `sslcert`: the client's certificate (and its intermediates), PEM, or one DER certificate.
fn cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read(path, "sslcert")?;
    match pem_certs(&bytes) {
        Some(c) => Ok(c),
        // DER, as the JDBC driver also reads it: a SEQUENCE
        None if bytes.first() == Some(&0x30) => Ok(vec![CertificateDer::from(bytes)]),
        None => Err(format!(
            "sslcert {} holds no PEM certificate",
            path.display()
        )),
    }
}

/// `sslkey`: PEM (PKCS#8, PKCS#1 or SEC1), or PKCS#8 DER (the JDBC driver's `.pk8`). Errors
/// never quote the file.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read(path, "sslkey")?;
    if bytes.starts_with(b"-----") || bytes.first() != Some(&0x30) {
        return match rustls_pemfile::private_key(&mut &bytes[..]) {
            Ok(Some(k)) => Ok(k),
            _ => Err(format!(
                "sslkey {} holds no readable unencrypted private key (PEM or PKCS#8 DER)",
                path.display()
            )),
        };
    }
    Ok(PrivateKeyDer::Pkcs8(bytes.into()))
}

/// The server certificate check of a mode: the chain up to `roots` (when given), then the
/// host name (when asked); the handshake's signatures are always checked.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.roots.is_none() && !self.check_name {
            return Ok(ServerCertVerified::assertion());
        }
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        if let Some(roots) = &self.roots {
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        if self.check_name {
            rustls::client::verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> TlsSettings {
        let mut s = TlsSettings::default();
        for (k, v) in pairs {
            assert!(s.set(k, v.to_string()), "{k}");
        }
        s
    }

    #[test]
    fn the_mode_is_the_jdbc_drivers() {
        let mode = |pairs: &[(&str, &str)]| settings(pairs).mode();
        assert_eq!(mode(&[]), Ok(SslMode::Prefer));
        assert_eq!(mode(&[("ssl", "true")]), Ok(SslMode::VerifyFull));
        assert_eq!(mode(&[("ssl", "")]), Ok(SslMode::VerifyFull));
        assert_eq!(mode(&[("ssl", "TRUE")]), Ok(SslMode::VerifyFull));
        // ssl=false is the default, not `disable`
        assert_eq!(mode(&[("ssl", "false")]), Ok(SslMode::Prefer));
        // sslmode wins over ssl
        assert_eq!(
            mode(&[("ssl", "true"), ("sslmode", "require")]),
            Ok(SslMode::Require)
        );
        assert_eq!(mode(&[("sslmode", "Verify-CA")]), Ok(SslMode::VerifyCa));
        for (name, m) in SslMode::NAMES {
            assert_eq!(mode(&[("sslmode", name)]), Ok(m));
        }
        let e = mode(&[("sslmode", "required")]).unwrap_err();
        assert!(e.contains("`required`") && e.contains("verify-full"), "{e}");
        assert!(!settings(&[]).set("user", "x".into()));
    }

    #[test]
    fn files_and_factories_are_checked_when_the_pool_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        let err = |pairs: &[(&str, &str)]| PgTls::new(&settings(pairs), base).unwrap_err();
        // a relative path resolves against the folder given
        let e = err(&[("sslmode", "verify-full"), ("sslrootcert", "ca.pem")]);
        assert!(
            e.starts_with("sslrootcert ") && e.contains(&base.join("ca.pem").display().to_string()),
            "{e}"
        );
        std::fs::write(base.join("ca.pem"), "not a certificate").unwrap();
        let e = err(&[("sslmode", "verify-ca"), ("sslrootcert", "ca.pem")]);
        assert!(e.contains("holds no PEM certificate"), "{e}");
        // the root certificate is not read where nothing is verified
        assert!(PgTls::new(
            &settings(&[("sslmode", "require"), ("sslrootcert", "ca.pem")]),
            base
        )
        .is_ok());
        let e = err(&[
            ("sslmode", "require"),
            ("sslfactory", "com.example.Factory"),
        ]);
        assert!(e.contains("com.example.Factory"), "{e}");
        let e = err(&[("sslmode", "require"), ("sslcert", "c.pem")]);
        assert!(e.contains("without sslkey"), "{e}");
        let e = err(&[("sslmode", "require"), ("sslpassword", "hunter2")]);
        assert!(!e.contains("hunter2"), "{e}");
        // a key file that is no key: the error does not quote it
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["synapse".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(base.join("c.pem"), cert.pem()).unwrap();
        std::fs::write(
            base.join("k.pem"),
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n",
        )
        .unwrap();
        let e = err(&[
            ("sslmode", "require"),
            ("sslcert", "c.pem"),
            ("sslkey", "k.pem"),
        ]);
        assert!(e.contains("no readable") && !e.contains("c2VjcmV0"), "{e}");
        // PEM, and PKCS#8 DER as the JDBC driver's .pk8
        std::fs::write(base.join("k.pem"), key.serialize_pem()).unwrap();
        std::fs::write(base.join("k.pk8"), key.serialize_der()).unwrap();
        for k in ["k.pem", "k.pk8"] {
            let t = PgTls::new(
                &settings(&[
                    ("sslmode", "verify-full"),
                    ("sslcert", "c.pem"),
                    ("sslkey", k),
                ]),
                base,
            )
            .unwrap();
            assert_eq!(t.mode, SslMode::VerifyFull);
        }
        // another certificate's key is refused
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(base.join("o.pem"), other.serialize_pem()).unwrap();
        let e = err(&[
            ("sslmode", "require"),
            ("sslcert", "c.pem"),
            ("sslkey", "o.pem"),
        ]);
        assert!(e.contains("not the key"), "{e}");
    }
}
