//! Test-only PKI: a throwaway CA, a TLS server configuration signed by it, and a TLS listener
//! serving with such a configuration.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// A throwaway CA: its certificate and its key.
pub(crate) fn ca() -> (rcgen::Certificate, rcgen::KeyPair) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    (ca, ca_key)
}

/// A CA (PEM) and a TLS server configuration whose certificate, signed by that CA, names `san`.
pub(crate) fn pki(san: &str) -> (String, rustls::ServerConfig) {
    let (ca, ca_key) = ca();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![san.to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let der = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], der.into())
    .unwrap();
    (ca.pem(), cfg)
}

/// A listener on 127.0.0.1 that completes the TLS handshake of each connection with `cfg` and
/// hands the connection to `serve` (a connection whose handshake fails is dropped).
pub(crate) async fn tls_listener<F, Fut>(cfg: rustls::ServerConfig, serve: F) -> SocketAddr
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, serve) = (acceptor.clone(), serve.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    serve(tls).await;
                }
            });
        }
    });
    addr
}
