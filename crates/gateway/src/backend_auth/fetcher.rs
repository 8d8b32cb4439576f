//! The token HTTP call over reqwest + rustls, with its own client: a dedicated trust store
//! (`[oauth] trust_store`, a PEM bundle) replaces the built-in roots for token endpoints only;
//! hostname verification is always on; no redirects; bounded response size; pooled keep-alive.
//! A request with a client certificate (`tls_client_auth`) goes through a client of its own
//! per certificate, so the certificate is presented to token endpoints only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use synaptic_oauth::client::{
    ClientIdentity, TokenHttp, TokenHttpRequest, TokenHttpResponse, TransportError,
};

/// Largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Token endpoint client.
#[derive(Clone)]
pub struct ReqwestTokenHttp {
    client: reqwest::Client,
    /// Roots for token endpoints (None: the built-in ones) and the timeout, to build the
    /// clients that present a certificate.
    roots: Option<Arc<Vec<reqwest::Certificate>>>,
    timeout: Duration,
    /// One client per client certificate (by fingerprint).
    with_identity: Arc<Mutex<HashMap<String, reqwest::Client>>>,
}

impl std::fmt::Debug for ReqwestTokenHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReqwestTokenHttp")
    }
}

/// Why the token client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FetcherError {
    #[error("trust store {path}: {message}")]
    TrustStore { path: String, message: String },
    #[error("token HTTP client: {0}")]
    Client(String),
    #[error("client certificate or key cannot be used for TLS: {0}")]
    Identity(String),
}

impl ReqwestTokenHttp {
    /// `trust_store`: PEM bundle contents (and its path for messages). None: built-in roots.
    pub fn new(
        trust_store: Option<(&str, &[u8])>,
        timeout: Duration,
    ) -> Result<ReqwestTokenHttp, FetcherError> {
        let roots = match trust_store {
            Some((path, pem)) => {
                let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                    FetcherError::TrustStore {
                        path: path.to_string(),
                        message: e.to_string(),
                    }
                })?;
                if certs.is_empty() {
                    return Err(FetcherError::TrustStore {
                        path: path.to_string(),
                        message: "no certificate in the PEM bundle".into(),
                    });
                }
                Some(Arc::new(certs))
            }
            None => None,
        };
        let client = build(roots.as_deref(), timeout, None)?;
        Ok(ReqwestTokenHttp {
            client,
            roots,
            timeout,
            with_identity: Arc::default(),
        })
    }

    /// The client for requests presenting `identity` (built on first use), or the plain one.
    pub fn client_for(
        &self,
        identity: Option<&ClientIdentity>,
    ) -> Result<reqwest::Client, FetcherError> {
        let Some(id) = identity else {
            return Ok(self.client.clone());
        };
        let fp = id.fingerprint();
        let mut map = self.with_identity.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&fp) {
            return Ok(c.clone());
        }
        let ident = reqwest::Identity::from_pem(id.pem().expose().as_bytes())
            // reqwest's message says what failed to parse, not what the file holds
            .map_err(|e| FetcherError::Identity(e.to_string()))?;
        let c = build(self.roots.as_deref(), self.timeout, Some(ident))?;
        map.insert(fp, c.clone());
        Ok(c)
    }
}

fn build(
    roots: Option<&Vec<reqwest::Certificate>>,
    timeout: Duration,
    identity: Option<reqwest::Identity>,
) -> Result<reqwest::Client, FetcherError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(false)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .user_agent(concat!("synaptic/", env!("CARGO_PKG_VERSION")));
    if let Some(certs) = roots {
        b = b.tls_built_in_root_certs(false);
        for c in certs {
            b = b.add_root_certificate(c.clone());
        }
    }
    let with_identity = identity.is_some();
    if let Some(id) = identity {
        b = b.identity(id);
    }
    b.build().map_err(|e| {
        if with_identity {
            FetcherError::Identity(e.to_string())
        } else {
            FetcherError::Client(e.to_string())
        }
    })
}

fn transport(e: &reqwest::Error) -> TransportError {
    if e.is_timeout() {
        return TransportError::Timeout;
    }
    // The error chain may name the URL but never the body or headers.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    if msg.contains("certificate") || msg.contains("InvalidCertificate") || msg.contains("tls") {
        TransportError::Tls(msg)
    } else if e.is_connect() {
        TransportError::Connect(msg)
    } else {
        TransportError::Other(msg)
    }
}

#[async_trait]
impl TokenHttp for ReqwestTokenHttp {
    async fn post_form(&self, req: TokenHttpRequest) -> Result<TokenHttpResponse, TransportError> {
        let client = self
            .client_for(req.identity.as_ref())
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let mut rb = client
            .post(&req.url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(req.body.expose().to_string());
        if let Some(auth) = &req.authorization {
            let mut v = http::HeaderValue::from_str(auth.expose())
                .map_err(|_| TransportError::Other("invalid client credentials".into()))?;
            v.set_sensitive(true);
            rb = rb.header(http::header::AUTHORIZATION, v);
        }
        if let Some(proof) = &req.dpop {
            let mut v = http::HeaderValue::from_str(proof.expose())
                .map_err(|_| TransportError::Other("invalid DPoP proof".into()))?;
            v.set_sensitive(true);
            rb = rb.header("dpop", v);
        }
        // a traced request: the fetch is its child span, and the token endpoint continues it
        let span =
            crate::telemetry::Child::start_with(opentelemetry::trace::SpanKind::Client, || {
                (
                    "token fetch".into(),
                    vec![
                        opentelemetry::KeyValue::new("http.request.method", "POST"),
                        opentelemetry::KeyValue::new(
                            "url.full",
                            crate::telemetry::url_attr(&req.url),
                        ),
                    ],
                )
            });
        if span.is_traced() {
            let mut h = http::HeaderMap::new();
            span.inject(&mut h);
            rb = rb.headers(h);
        }
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                span.error("token endpoint unreachable");
                return Err(transport(&e));
            }
        };
        let status = resp.status().as_u16();
        span.status(status);
        if status >= 400 {
            span.error(format!("HTTP {status}"));
        }
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let dpop_nonce = resp
            .headers()
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string());
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(TransportError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(TokenHttpResponse {
            status,
            retry_after,
            dpop_nonce,
            body,
        })
    }

    fn fetch_task(
        &self,
        fetch: futures::future::BoxFuture<'static, ()>,
    ) -> futures::future::BoxFuture<'static, ()> {
        // a traced request's fetch stays in its trace
        crate::telemetry::carry_context(fetch)
    }
}

#[cfg(test)]
mod tests {
    use synaptic_oauth::client::Secret;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    use crate::test_pki::{pki, tls_listener};

    /// An HTTPS token endpoint on 127.0.0.1 answering every request with a token.
    async fn token_endpoint(cfg: rustls::ServerConfig) -> std::net::SocketAddr {
        tls_listener(cfg, |mut tls| async move {
            let mut buf = vec![0u8; 8192];
            let _ = tls.read(&mut buf).await;
            let body = r#"{"access_token":"t","token_type":"Bearer","expires_in":60}"#;
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        })
        .await
    }

    fn request(addr: std::net::SocketAddr) -> TokenHttpRequest {
        TokenHttpRequest {
            url: format!("https://127.0.0.1:{}/token", addr.port()),
            authorization: None,
            body: Secret::new("grant_type=client_credentials"),
            identity: None,
            dpop: None,
        }
    }

    #[tokio::test]
    async fn dedicated_trust_store_is_used_and_hostnames_are_verified() {
        let (ca, cfg) = pki("127.0.0.1");
        let addr = token_endpoint(cfg).await;
        let t = Duration::from_secs(5);

        let trusted = ReqwestTokenHttp::new(Some(("ca.pem", ca.as_bytes())), t).unwrap();
        let resp = trusted.post_form(request(addr)).await.unwrap();
        assert_eq!(resp.status, 200);
        assert!(String::from_utf8_lossy(&resp.body).contains("access_token"));

        // the built-in roots do not know this CA
        let default = ReqwestTokenHttp::new(None, t).unwrap();
        let e = default.post_form(request(addr)).await.unwrap_err();
        assert!(matches!(e, TransportError::Tls(_)), "{e:?}");

        // a trusted CA, but a certificate for another name: refused (hostname verification)
        let (ca2, cfg2) = pki("idp.example");
        let addr2 = token_endpoint(cfg2).await;
        let trusted2 = ReqwestTokenHttp::new(Some(("ca2.pem", ca2.as_bytes())), t).unwrap();
        let e = trusted2.post_form(request(addr2)).await.unwrap_err();
        assert!(matches!(e, TransportError::Tls(_)), "{e:?}");

        // the trust store replaces the built-in roots: another CA's server is refused
        let e = trusted.post_form(request(addr2)).await.unwrap_err();
        assert!(matches!(e, TransportError::Tls(_)), "{e:?}");
    }

    #[test]
    fn unusable_trust_store_is_a_build_error() {
        let e = ReqwestTokenHttp::new(Some(("x.pem", b"not a pem")), Duration::from_secs(1))
            .unwrap_err();
        assert!(e.to_string().starts_with("trust store x.pem"), "{e}");
    }
}
