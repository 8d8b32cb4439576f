//! [`HttpInvoker`]: the engine's `call`/`send` over the gateway's pooled client.

use crate::proxy::{self, ClientBody, HttpClient, SendError};
use async_trait::async_trait;
use http_body_util::{Either, Full};
use std::time::Duration;
use synaptic_engine::{InboundResponse, InvokeError, Invoker, OutboundRequest};

/// Sends the engine's requests with the shared pooled client.
#[derive(Clone, Debug)]
pub struct HttpInvoker {
    client: HttpClient,
    /// Timeout when the request names none.
    default_timeout: Duration,
    /// Largest response body read.
    max_response: usize,
    wire: bool,
}

impl HttpInvoker {
    pub fn new(
        client: HttpClient,
        default_timeout: Duration,
        max_response: usize,
        wire: bool,
    ) -> Self {
        HttpInvoker {
            client,
            default_timeout,
            max_response,
            wire,
        }
    }
}

/// Build the hyper request for an engine request: hop-by-hop headers removed, `Host` from the
/// URL, `Content-Length` from the body.
pub fn build_request(req: OutboundRequest) -> Result<http::Request<ClientBody>, String> {
    // the URL's buffer becomes the URI's (no copy); a shared handle is kept for the errors
    let url = bytes::Bytes::from(req.url);
    let shown = || String::from_utf8_lossy(&url).into_owned();
    let uri = http::Uri::from_maybe_shared(url.clone())
        .map_err(|e| format!("invalid URL {:?}: {e}", shown()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("unsupported URL {:?}", shown())),
    }
    let host = uri
        .authority()
        .and_then(|a| http::HeaderValue::from_str(a.as_str()).ok())
        .ok_or_else(|| format!("no host in URL {:?}", shown()))?;
    let mut headers = req.headers;
    proxy::strip_hop_by_hop(&mut headers);
    headers.remove(http::header::CONTENT_LENGTH);
    headers.insert(http::header::HOST, host);
    let mut r = http::Request::new(Either::Right(Full::new(req.body)));
    *r.method_mut() = req.method;
    *r.uri_mut() = uri;
    *r.headers_mut() = headers;
    Ok(r)
}

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        let timeout = req.timeout.unwrap_or(self.default_timeout);
        let body = self.wire.then(|| req.body.clone());
        let r = build_request(req).map_err(InvokeError::Other)?;
        if let Some(body) = body {
            let path = r.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            crate::wire::log(
                "<<",
                "backend",
                &format!("{} {} HTTP/1.1", r.method(), crate::wire::redact_url(path)),
                r.headers(),
                &body,
            );
        }
        // the timeout covers the whole exchange, body included
        let exchange = async {
            let resp = proxy::send(&self.client, r, timeout).await;
            let resp = match resp {
                Ok(r) => r,
                Err(SendError::Timeout) => return Err(InvokeError::Timeout),
                Err(SendError::Connect(m)) => return Err(InvokeError::Connect(m)),
                Err(SendError::BodyTooLarge) => return Err(InvokeError::TooLarge),
                Err(SendError::Failed(m)) => return Err(InvokeError::Other(m)),
            };
            let (parts, body) = resp.into_parts();
            let body = proxy::read_limited(body, self.max_response)
                .await
                .map_err(|e| match e {
                    proxy::ReadError::TooLarge => InvokeError::TooLarge,
                    proxy::ReadError::Io(m) => InvokeError::Other(m),
                })?;
            let mut headers = parts.headers;
            proxy::strip_hop_by_hop(&mut headers);
            Ok(InboundResponse {
                status: parts.status.as_u16(),
                headers,
                body,
            })
        };
        let out = match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(InvokeError::Timeout),
        };
        if self.wire {
            if let Ok(r) = &out {
                crate::wire::log(
                    ">>",
                    "backend",
                    &format!(
                        "HTTP/1.1 {} {}",
                        r.status,
                        http::StatusCode::from_u16(r.status)
                            .ok()
                            .and_then(|s| s.canonical_reason())
                            .unwrap_or("")
                    ),
                    &r.headers,
                    &r.body,
                );
            }
        }
        out
    }
}
