//! The upstream stack: the one way a request reaches a backend, for the API's endpoint, the
//! engine's `<call>`/`<send>` ([`crate::invoker::HttpInvoker`]) and `synaptic run`:
//!
//! ```text
//! wire log ─▶ endpoint security (authorize; after a 401, replay once when the body was kept)
//!   ─▶ hop-by-hop headers and Host ─▶ one deadline over the whole exchange
//!   ─▶ HTTP client for the backend protocol (auto, HTTP/1.1, HTTP/2)
//! ```
//!
//! The deadline starts when a request is sent and bounds the response head and every body the
//! gateway reads itself ([`Upstream::read`]: the out-flow, `<call>`, the wire log). A response
//! streamed back to the client is bounded until its head. Failures are one type,
//! [`UpstreamError`], mapped once to the engine's [`InvokeError`] and once to a fault response
//! (`pipeline`).
//!
//! A response body streamed back to the client is bounded by `[limits] backend_read_timeout`
//! between two reads ([`BackendBody`]); a client body streamed to a backend by its size and
//! time limits ([`ClientStream`]): when it fails, the exchange is aborted and its connection
//! closed, and the failure is the client's (`400` / `413` / `408`), not the backend's. A gRPC
//! call is the exception to both time bounds: its request stream is bounded per message
//! ([`crate::grpc::PerMessage`]) and its response stream by no read timeout, since long-lived
//! streams are normal in gRPC.

use crate::bodies::{BackendBody, ClientBodyFailure, ClientStream, UpBody};
use crate::config::BackendProtocol;
use crate::hooks::{HookResponse, UpstreamAuth};
use crate::pool::H1Pool;
use crate::proxy::{self, ClientBody, Clients, HttpClient, SendError};
use crate::wire;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use std::time::Duration;
use synaptic_engine::{InvokeError, OutboundRequest};
use tokio::time::Instant;

/// The stack: the pooled clients and whether to write the wire log. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstream {
    clients: Clients,
    wire: bool,
    /// Longest silence of a backend in the middle of a body streamed back to a client.
    read_timeout: Duration,
}

/// A request on its way to a backend.
#[derive(Debug)]
pub struct Outgoing {
    /// Method, absolute URI, headers (hop-by-hop ones are removed by the stack).
    pub parts: http::request::Parts,
    pub body: OutBody,
    /// The backend's `Host` when known in advance (the API's endpoint); else from the URI.
    pub host: Option<HeaderValue>,
    pub timeout: Duration,
    /// How the backend is spoken to (`[[api]] backend_protocol`).
    pub protocol: BackendProtocol,
    /// A gRPC call: HTTP/2 to the backend, `te: trailers` kept.
    pub grpc: bool,
}

/// The body of an [`Outgoing`] request.
#[derive(Debug)]
pub enum OutBody {
    /// The client's body, streamed as it arrives, bounded in size and time.
    Stream(ClientStream),
    /// A gRPC call's request stream, passed on as it arrives, each message bounded in size
    /// (`max_body`); no deadline for the whole stream: long-lived streams are normal in gRPC.
    Grpc(Incoming, usize),
    /// A body in memory: it can be sent again after a 401.
    Kept(Bytes),
}

/// A backend's response head, its body not read yet, and the deadline of the exchange.
#[derive(Debug)]
pub struct Exchanged {
    /// On a pooled HTTP/1.1 connection, the body holds the connection: it goes back to the
    /// pool once the body has been read to the end (closed when the response is dropped
    /// before).
    pub response: Response<UpBody>,
    pub deadline: Instant,
    /// A gRPC call: its response streams are not bounded by the backend read timeout.
    pub grpc: bool,
}

/// How a request reaches its backend.
#[derive(Clone, Copy)]
enum Via<'a> {
    /// hyper-util's pooled client (TLS, HTTP/2).
    Client(&'a HttpClient),
    /// The lean HTTP/1.1 pool (cleartext).
    H1(&'a H1Pool),
}

/// Why a backend exchange failed, decided once here.
#[derive(Debug)]
pub enum UpstreamError {
    /// Answered instead: endpoint security refused (e.g. 503 when no token can be had), or the
    /// request could not be built (its answer).
    Refused(Box<HookResponse>),
    /// The URL is not an absolute `http`/`https` URL.
    BadUrl(String),
    /// Refused, unreachable, DNS or TLS failure before anything was sent.
    Connect(String),
    /// The deadline passed (before the response head, or while reading its body).
    Timeout,
    /// The client's streamed body went over the limit.
    RequestTooLarge,
    /// The client's streamed body was malformed, or the client left mid-body.
    RequestMalformed,
    /// The client's streamed body did not arrive within the body timeout.
    RequestTimeout,
    /// The backend's body went over the limit.
    ResponseTooLarge,
    /// The connection broke or the response was invalid.
    Failed(String),
}

impl UpstreamError {
    /// Whether the request may be sent again: nothing reached the backend.
    pub fn retry_allowed(&self) -> bool {
        matches!(self, UpstreamError::Connect(_) | UpstreamError::BadUrl(_))
    }
}

impl From<SendError> for UpstreamError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Connect(m) => UpstreamError::Connect(m),
            SendError::Timeout => UpstreamError::Timeout,
            SendError::BodyTooLarge => UpstreamError::RequestTooLarge,
            SendError::Failed(m) => UpstreamError::Failed(m),
        }
    }
}

impl From<UpstreamError> for InvokeError {
    fn from(e: UpstreamError) -> Self {
        match e {
            UpstreamError::Connect(m) => InvokeError::Connect(m),
            UpstreamError::Timeout => InvokeError::Timeout,
            UpstreamError::RequestTooLarge | UpstreamError::ResponseTooLarge => {
                InvokeError::TooLarge
            }
            UpstreamError::BadUrl(m) | UpstreamError::Failed(m) => InvokeError::Other(m),
            UpstreamError::RequestMalformed => InvokeError::Other("malformed request body".into()),
            UpstreamError::RequestTimeout => InvokeError::Timeout,
            UpstreamError::Refused(r) => InvokeError::Other(format!(
                "endpoint security refused the request ({})",
                r.status()
            )),
        }
    }
}

/// An engine request as an [`Outgoing`] one: the URL parsed (its buffer becomes the URI's),
/// `Content-Length` left to the client (the body may have changed).
pub fn from_engine(req: OutboundRequest, timeout: Duration) -> Result<Outgoing, UpstreamError> {
    let timeout = req.timeout.unwrap_or(timeout);
    let url = Bytes::from(req.url);
    let uri = http::Uri::from_maybe_shared(url.clone()).map_err(|e| {
        UpstreamError::BadUrl(format!(
            "invalid URL {:?}: {e}",
            String::from_utf8_lossy(&url)
        ))
    })?;
    let mut headers = req.headers;
    headers.remove(header::CONTENT_LENGTH);
    let mut r = http::Request::new(());
    *r.method_mut() = req.method;
    *r.uri_mut() = uri;
    *r.headers_mut() = headers;
    let (parts, ()) = r.into_parts();
    Ok(Outgoing {
        parts,
        body: OutBody::Kept(req.body),
        host: None,
        timeout,
        protocol: BackendProtocol::Auto,
        grpc: false,
    })
}

/// Hop-by-hop headers removed (a gRPC call keeps `te: trailers`), the backend's `Host`,
/// HTTP/1.1 (the client speaks HTTP/2 where the connection is HTTP/2).
fn prepare_head(
    parts: &mut http::request::Parts,
    host: Option<HeaderValue>,
    grpc: bool,
) -> Result<(), UpstreamError> {
    let shown = || parts.uri.to_string();
    match parts.uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(UpstreamError::BadUrl(format!(
                "unsupported URL {:?}",
                shown()
            )))
        }
    }
    let host = match host {
        Some(h) => h,
        None => parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .ok_or_else(|| UpstreamError::BadUrl(format!("no host in URL {:?}", shown())))?,
    };
    proxy::strip_hop_by_hop(&mut parts.headers);
    if grpc {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    parts.headers.insert(header::HOST, host);
    parts.version = http::Version::HTTP_11;
    Ok(())
}

/// The head of a request sent again after a 401 (`Parts` itself does not clone).
fn copy_head(p: &http::request::Parts) -> http::request::Parts {
    let mut r = http::Request::new(());
    *r.method_mut() = p.method.clone();
    *r.uri_mut() = p.uri.clone();
    *r.headers_mut() = p.headers.clone();
    *r.version_mut() = p.version;
    r.into_parts().0
}

impl Upstream {
    pub fn new(clients: Clients, wire: bool) -> Upstream {
        Upstream {
            clients,
            wire,
            read_timeout: Duration::from_secs(30),
        }
    }

    /// The longest silence of a backend in the middle of a body streamed to a client (a gRPC
    /// call's response streams are not bounded: long-lived streams are normal there).
    pub fn with_read_timeout(mut self, t: Duration) -> Upstream {
        self.read_timeout = t;
        self
    }

    /// The client of `backend_protocol = "auto"`.
    pub fn client(&self) -> &HttpClient {
        &self.clients.auto
    }

    /// The client for a request: `auto` speaks HTTP/2 to a cleartext backend only for a gRPC
    /// call (with prior knowledge); over TLS, ALPN decides. HTTP/1.1 without TLS goes through
    /// the lean pool ([`crate::pool`]).
    fn client_for(&self, protocol: BackendProtocol, grpc: bool, uri: &http::Uri) -> Via<'_> {
        let plain = uri.scheme_str() == Some("http");
        match protocol {
            BackendProtocol::Http1 if plain => Via::H1(&self.clients.h1),
            BackendProtocol::Http1 => Via::Client(&self.clients.http1),
            BackendProtocol::H2 | BackendProtocol::H2c => Via::Client(&self.clients.h2),
            BackendProtocol::Auto if grpc && plain => Via::Client(&self.clients.h2),
            BackendProtocol::Auto if plain => Via::H1(&self.clients.h1),
            BackendProtocol::Auto => Via::Client(&self.clients.auto),
        }
    }

    /// Send a request through the stack without endpoint security. Its future is that of one
    /// send: the plain pass-through awaits it inline.
    pub async fn exchange_plain(&self, mut out: Outgoing) -> Result<Exchanged, UpstreamError> {
        prepare_head(&mut out.parts, out.host.take(), out.grpc)?;
        let client = self.client_for(out.protocol, out.grpc, &out.parts.uri);
        self.send(client, out.parts, out.body, out.grpc, out.timeout)
            .await
            .map(|(ex, _)| ex)
    }

    /// Send a request through the stack. With endpoint security, a 401 the hook asks to replay
    /// is answered by sending once more with fresh credentials — when the body was kept and is
    /// at most `replay_max` bytes.
    /// `values` are what the hook evaluated on the mediated message (per-request scope or
    /// audience), passed back to it with each authorization.
    pub async fn exchange(
        &self,
        mut out: Outgoing,
        auth: Option<&dyn UpstreamAuth>,
        values: Option<&crate::hooks::RequestValues>,
        replay_max: usize,
    ) -> Result<Exchanged, UpstreamError> {
        let Some(auth) = auth else {
            return self.exchange_plain(out).await;
        };
        prepare_head(&mut out.parts, out.host.take(), out.grpc)?;
        let client = self.client_for(out.protocol, out.grpc, &out.parts.uri);
        // a replay needs the body kept, and the head: the one sent, authorized again, unless the
        // hook reads the caller's credentials in the head as it was before authorization (token
        // exchange) or the client consumes the head (hyper's); then a copy made now
        let again = match &out.body {
            OutBody::Kept(b) if b.len() <= replay_max => {
                let before = (auth.exchanges_caller_token() || matches!(client, Via::Client(_)))
                    .then(|| copy_head(&out.parts));
                Some((before, b.clone()))
            }
            _ => None,
        };
        let ticket = auth
            .authorize_head_with(
                &out.parts.method,
                &out.parts.uri,
                &mut out.parts.headers,
                values,
            )
            .await
            .map_err(|r| UpstreamError::Refused(Box::new(r)))?;
        let (first, sent) = self
            .send(client, out.parts, out.body, out.grpc, out.timeout)
            .await?;
        if first.response.status() != StatusCode::UNAUTHORIZED
            || !auth.unauthorized(&ticket, first.response.headers()).await
        {
            return Ok(first);
        }
        let Some((Some(mut parts), body)) = again.map(|(before, b)| (before.or(sent), b)) else {
            return Ok(first);
        };
        drop(first);
        auth.authorize_head_with(&parts.method, &parts.uri, &mut parts.headers, values)
            .await
            .map_err(|r| UpstreamError::Refused(Box::new(r)))?;
        self.send(client, parts, OutBody::Kept(body), out.grpc, out.timeout)
            .await
            .map(|(ex, _)| ex)
    }

    /// Wire log, deadline, client. A gRPC call's streamed body is bounded per message. The
    /// head comes back when the client did not consume it (the lean HTTP/1.1 pool).
    async fn send(
        &self,
        client: Via<'_>,
        parts: http::request::Parts,
        body: OutBody,
        grpc: bool,
        timeout: Duration,
    ) -> Result<(Exchanged, Option<http::request::Parts>), UpstreamError> {
        let (mut stream, mut over) = (None, None);
        let body: ClientBody = match body {
            OutBody::Stream(b) => {
                stream = Some(b.state());
                Either::Left(Either::Left(b))
            }
            OutBody::Grpc(b, limit) => {
                let b = crate::grpc::PerMessage::new(b, limit);
                over = Some(b.over_limit());
                Either::Left(Either::Right(b))
            }
            OutBody::Kept(b) => {
                if self.wire {
                    // as sent: hop-by-hop headers removed, the backend's Host, credentials
                    let line = request_line(&parts.method, &parts.uri);
                    wire::log("<<", "backend", &line, &parts.headers, &b);
                }
                Either::Right(Full::new(b))
            }
        };
        let deadline = Instant::now() + timeout;
        // the client's exchange boxed: its state (hyper's dispatch, the timeout) would otherwise
        // be part of every future that awaits a backend, and those are moved whole when they
        // are created (into hyper's slot for the service future, into the pipeline's box)
        let (response, head) = match client {
            Via::Client(c) => {
                let req = http::Request::from_parts(parts, body);
                let r = Box::pin(proxy::send(c, req, timeout)).await;
                (r.map(|r| r.map(UpBody::Hyper)), None)
            }
            Via::H1(pool) => {
                // the wire log shows the response head as received
                let r = Box::pin(pool.send_head(&parts, body, timeout, self.wire)).await;
                (r.map(|r| r.map(UpBody::H1)), Some(parts))
            }
        };
        let response = match (response, stream) {
            (Ok(r), _) => r,
            (Err(e), None) => {
                return Err(match &over {
                    // over HTTP/2 the body's error reaches the client only as a stream reset
                    Some(o) if o.load(std::sync::atomic::Ordering::SeqCst) => {
                        UpstreamError::RequestTooLarge
                    }
                    _ => UpstreamError::from(e),
                });
            }
            (Err(e), Some(st)) => {
                // never let the rest of the client's body complete an abandoned request
                st.abort();
                return Err(match st.failure() {
                    Some(ClientBodyFailure::Malformed) => UpstreamError::RequestMalformed,
                    Some(ClientBodyFailure::TooLarge) => UpstreamError::RequestTooLarge,
                    Some(ClientBodyFailure::Timeout) => UpstreamError::RequestTimeout,
                    None if e == SendError::Timeout && st.stalled_on_client() => {
                        UpstreamError::RequestTimeout
                    }
                    None => e.into(),
                });
            }
        };
        let ex = Exchanged {
            response,
            deadline,
            grpc,
        };
        Ok((ex, head))
    }

    /// The response to stream back: hop-by-hop headers removed (its head in the wire log).
    pub fn stream(&self, ex: Exchanged) -> Response<BackendBody> {
        let (mut p, b) = ex.response.into_parts();
        if self.wire {
            wire::log(">>", "backend", &status_line(p.status), &p.headers, b"");
        }
        if !b.hop_by_hop_removed() {
            proxy::strip_hop_by_hop(&mut p.headers);
        }
        let idle = (!ex.grpc).then_some(self.read_timeout);
        Response::from_parts(p, BackendBody::new(b, idle))
    }

    /// Read the response body under the exchange's deadline, up to `limit` bytes; hop-by-hop
    /// headers removed (the whole response in the wire log).
    pub async fn read(
        &self,
        ex: Exchanged,
        limit: usize,
    ) -> Result<(http::response::Parts, Bytes), UpstreamError> {
        let (mut p, b) = ex.response.into_parts();
        let clean = b.hop_by_hop_removed();
        let body = match tokio::time::timeout_at(ex.deadline, proxy::read_limited(b, limit)).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(proxy::ReadError::TooLarge)) => return Err(UpstreamError::ResponseTooLarge),
            Ok(Err(proxy::ReadError::Io(m))) => return Err(UpstreamError::Failed(m)),
            Ok(Ok(b)) => b,
        };
        if self.wire {
            wire::log(">>", "backend", &status_line(p.status), &p.headers, &body);
        }
        if !clean {
            proxy::strip_hop_by_hop(&mut p.headers);
        }
        Ok((p, body))
    }
}

/// `GET /path?query HTTP/1.1`, credentials in the query redacted.
pub fn request_line(m: &Method, uri: &http::Uri) -> String {
    match uri.query() {
        Some(q) => format!("{m} {}?{} HTTP/1.1", uri.path(), wire::redact_form(q)),
        None => format!("{m} {} HTTP/1.1", uri.path()),
    }
}

/// `HTTP/1.1 200 OK`
pub fn status_line(s: StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}",
        s.as_u16(),
        s.canonical_reason().unwrap_or("")
    )
}
