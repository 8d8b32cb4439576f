//! The token HTTP call over reqwest + rustls, with its own client: a dedicated trust store
//! (`[oauth] trust_store`, a PEM bundle) replaces the built-in roots for token endpoints only;
//! hostname verification is always on; no redirects; bounded response size; pooled keep-alive.

use std::time::Duration;

use async_trait::async_trait;
use synaptic_oauth::client::{TokenHttp, TokenHttpRequest, TokenHttpResponse, TransportError};

/// Largest token response read.
const MAX_RESPONSE: usize = 64 * 1024;

/// Token endpoint client.
#[derive(Clone)]
pub struct ReqwestTokenHttp {
    client: reqwest::Client,
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
}

impl ReqwestTokenHttp {
    /// `trust_store`: PEM bundle contents (and its path for messages). None: built-in roots.
    pub fn new(
        trust_store: Option<(&str, &[u8])>,
        timeout: Duration,
    ) -> Result<ReqwestTokenHttp, FetcherError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .https_only(false)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("synaptic/", env!("CARGO_PKG_VERSION")));
        if let Some((path, pem)) = trust_store {
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
            b = b.tls_built_in_root_certs(false);
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b.build().map_err(|e| FetcherError::Client(e.to_string()))?;
        Ok(ReqwestTokenHttp { client })
    }
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
        let mut rb = self
            .client
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
        let mut resp = rb.send().await.map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
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
            body,
        })
    }
}
