//! The keep-alive pool of cleartext HTTP/1.1 backend connections and the HTTP/1.1 exchange
//! over them (ADR 0450, ADR 0523): a request is written and its response read by the
//! request's own task, with `httparse` for the response head, on a plain `TcpStream` taken
//! from a stack of idle connections per backend address behind one short lock.
//!
//! No connection task, request channel or dispatcher stands between the request and the
//! socket: the request's head (and a buffered body of up to 64 KiB) goes out in one write, the
//! response head is parsed from the first read, and the response body ([`H1Body`]) owns the
//! connection while it is read and puts it back in the pool the moment its last byte has been
//! read. A connection is only reused when its exchange ended cleanly: the whole request body
//! was written, the response was read to its end with nothing after it, and neither side asked
//! to close (`Connection: close`, HTTP/1.0 without keep-alive, a body delimited by the end of
//! the connection). Anything else closes it. A backend that answers before it has the whole
//! request body still gets the rest as the client sends it, while its response is read and,
//! when the response ends first, after it (within the exchange's timeout): the client's body
//! is read to its end, so the client's connection stays usable too.
//!
//! Framing follows RFC 9112 §6: a response to `HEAD`, a `1xx` (skipped, except `101`), `204`
//! and `304` have no body; `Transfer-Encoding` with `chunked` last is decoded (chunk sizes
//! parsed by `httparse`, trailers read and dropped), any other transfer coding is read to the
//! end of the connection; otherwise `Content-Length` (all values equal, digits only) or, without
//! one, the end of the connection. A request body is sent with its exact length when it is
//! known, with the client's `Content-Length` when that is all there is (a body that does not
//! match it fails the exchange), and chunked otherwise. A response head is at most 64 KiB and
//! 100 fields.
//!
//! A pooled connection the backend closed while it was idle is found out before anything is
//! written (the readiness the runtime saw for it), and the request goes out on another one. A
//! request that met a closed connection after it was written (the backend closed it at the same
//! moment) goes out once more on another connection only when its method is idempotent and its
//! body was buffered; a fresh connection is never retried. Idle connections are closed after
//! `pool_idle_timeout`, and at most `pool_max_idle_per_host` of them are kept per address.
//!
//! HTTPS and HTTP/2 backends go through hyper-util's pooled client ([`crate::proxy::Clients`]):
//! TLS, ALPN and HTTP/2 multiplexing are its business.

use crate::bodies::BoxError;
use crate::proxy::{display_chain, error_chain_has, ClientBody, SendError};
use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::Authority;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Either};
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest response head read from a backend.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a response head.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size line, and the longest trailer section, of a chunked response.
const MAX_CHUNK_LINE: usize = 4 * 1024;
const MAX_TRAILERS: usize = 16 * 1024;
/// A buffered request body up to this size goes out in the same write as its head.
const COALESCE: usize = 64 * 1024;
/// Room made in a connection's read buffer before each read.
const READ_ROOM: usize = 16 * 1024;

/// The pool (cheap to clone: one shared set of connections).
#[derive(Clone)]
pub struct H1Pool {
    inner: Arc<PoolInner>,
}

/// Idle connections per backend address, hashed with foldhash (seeded per process) rather than
/// SipHash: the map is looked up twice per request.
type IdleMap = HashMap<Key, Vec<Idle>, foldhash::fast::RandomState>;

/// A backend address as its URL spells it. Hashed and compared as one string: `Authority`'s
/// own `Hash` folds the case a byte at a time, which cost more than the rest of the checkout.
/// Two spellings of one host that differ in case keep separate stacks of connections.
#[derive(Clone, Debug)]
struct Key(Authority);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0.as_str().as_bytes());
    }
}

struct PoolInner {
    idle: Mutex<IdleMap>,
    max_idle: usize,
    idle_timeout: Duration,
    connector: HttpConnector,
    /// A task closes expired idle connections while there are any.
    reaping: AtomicBool,
}

/// One backend connection and what has been read from it and not consumed yet.
struct Conn {
    io: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Nothing has come on the idle connection since its last exchange: no end of stream, no
    /// stray bytes. Asks the socket only when the runtime saw it readable.
    fn quiet(&mut self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

impl std::fmt::Debug for H1Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Pool")
            .field("max_idle", &self.inner.max_idle)
            .field("idle_timeout", &self.inner.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// How a request body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    /// `Content-Length` (none written for an empty body of a method that takes none).
    Length(u64),
    Chunked,
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delimit {
    Length(u64),
    Chunked,
    /// Until the backend closes the connection.
    Close,
}

/// A request's body as it is sent: buffered (written with the head, and kept for a retry) or
/// streamed.
enum Payload {
    Buffered(Bytes),
    Stream(Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>),
}

/// Why an attempt on one connection failed.
enum Attempt {
    /// The connection was found closed with nothing of the response read: another connection
    /// may carry the request (when the request allows it).
    Closed(String),
    Failed(SendError),
}

impl H1Pool {
    pub fn new(connector: HttpConnector, max_idle: usize, idle_timeout: Duration) -> H1Pool {
        H1Pool {
            inner: Arc::new(PoolInner {
                idle: Mutex::new(IdleMap::default()),
                max_idle,
                idle_timeout,
                connector,
                reaping: AtomicBool::new(false),
            }),
        }
    }

    /// Idle connections kept for `authority` (tests).
    pub fn idle_count(&self, authority: &str) -> usize {
        let Ok(key) = authority.parse::<Authority>().map(Key) else {
            return 0;
        };
        let idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.get(&key).map_or(0, Vec::len)
    }

    /// Send a request to the `http://` URL of its URI (its `Host` header already set); its
    /// URI goes out in origin form. `timeout` bounds the time until the response head.
    pub async fn send(
        &self,
        req: Request<ClientBody>,
        timeout: Duration,
    ) -> Result<Response<H1Body>, SendError> {
        let (parts, body) = req.into_parts();
        self.send_head(&parts, body, timeout, false).await
    }

    /// [`send`](Self::send) for a request head the caller keeps (to send it again after a
    /// `401`). With `keep_hop_by_hop`, the response's head is the one the backend sent, its
    /// hop-by-hop fields kept (for the wire log).
    pub async fn send_head(
        &self,
        parts: &http::request::Parts,
        body: ClientBody,
        timeout: Duration,
        keep_hop_by_hop: bool,
    ) -> Result<Response<H1Body>, SendError> {
        let Some(key) = parts.uri.authority().cloned().map(Key) else {
            return Err(SendError::Failed("no host in the URL".into()));
        };
        let exchange = self
            .inner
            .clone()
            .exchange(key, parts, body, timeout, keep_hop_by_hop);
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(SendError::Timeout),
            Ok(r) => r,
        }
    }
}

impl PoolInner {
    async fn exchange(
        self: Arc<Self>,
        key: Key,
        parts: &http::request::Parts,
        body: ClientBody,
        timeout: Duration,
        keep_hop_by_hop: bool,
    ) -> Result<Response<H1Body>, SendError> {
        let mut payload = match body {
            Either::Right(mut full) => Payload::Buffered(match full.frame().await {
                Some(Ok(f)) => f.into_data().unwrap_or_default(),
                _ => Bytes::new(),
            }),
            Either::Left(s) if s.is_end_stream() => Payload::Buffered(Bytes::new()),
            Either::Left(s) => Payload::Stream(Box::pin(s)),
        };
        let sent = match &payload {
            Payload::Buffered(b) => Sent::Length(b.len() as u64),
            Payload::Stream(s) => match s.size_hint().exact() {
                Some(n) => Sent::Length(n),
                None => match content_length(&parts.headers) {
                    Ok(Some(n)) => Sent::Length(n),
                    _ => Sent::Chunked,
                },
            },
        };
        let mut wire = Vec::with_capacity(256);
        encode_head(parts, sent, &mut wire);
        if let Payload::Buffered(b) = &payload {
            if b.len() <= COALESCE {
                wire.extend_from_slice(b);
            }
        }
        let reading = Reading {
            head_only: parts.method == Method::HEAD,
            keep_hop_by_hop,
        };
        let retry = parts.method.is_idempotent() && matches!(payload, Payload::Buffered(_));
        loop {
            let (mut conn, reused) = match self.checkout(&key) {
                Some(c) => (c, true),
                // boxed: a new connection is rare, and its state (resolution, connect) would
                // otherwise enlarge every request's future
                None => (Box::pin(self.connect(&key)).await?, false),
            };
            match roundtrip(&mut conn, &wire, &mut payload, sent, reading).await {
                Ok(((resp, delimit, keep), upload)) => {
                    let mut body = H1Body::new(conn, delimit, keep, upload, self, key, timeout);
                    body.clean = !keep_hop_by_hop;
                    let (p, ()) = resp.into_parts();
                    return Ok(Response::from_parts(p, body));
                }
                Err(Attempt::Closed(m)) => {
                    if reused && retry {
                        continue;
                    }
                    return Err(SendError::Failed(m));
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
    }

    /// The most recently returned idle connection that is still open, quiet and not expired.
    fn checkout(&self, key: &Key) -> Option<Conn> {
        loop {
            // the socket is asked outside the lock
            let mut i = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.get_mut(key)?.pop()?
            };
            if i.since.elapsed() < self.idle_timeout && i.conn.quiet() {
                return Some(i.conn);
            }
        }
    }

    fn put(self: &Arc<Self>, key: Key, conn: Conn) {
        if self.max_idle == 0 {
            return;
        }
        {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let stack = idle.entry(key).or_default();
            if stack.len() >= self.max_idle {
                return;
            }
            stack.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
        if !self.reaping.swap(true, Ordering::AcqRel) {
            self.spawn_reaper();
        }
    }

    /// Close expired and closed idle connections every half idle timeout (at least every
    /// 30 s, at most every 100 ms) until none is left.
    fn spawn_reaper(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.reaping.store(false, Ordering::Release);
            return;
        };
        let weak: Weak<PoolInner> = Arc::downgrade(self);
        let period =
            (self.idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        rt.spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(pool) = weak.upgrade() else {
                    return;
                };
                let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.retain(|_, stack| {
                    stack.retain_mut(|i| i.since.elapsed() < pool.idle_timeout && i.conn.quiet());
                    !stack.is_empty()
                });
                if idle.is_empty() {
                    pool.reaping.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }

    /// A new connection: TCP (`TCP_NODELAY`, connect timeout, every resolved address tried).
    async fn connect(&self, key: &Key) -> Result<Conn, SendError> {
        use tower::ServiceExt as _;
        let uri = Uri::builder()
            .scheme("http")
            .authority(key.0.clone())
            .path_and_query("/")
            .build()
            .map_err(|e| SendError::Failed(e.to_string()))?;
        let io = self.connector.clone().oneshot(uri).await.map_err(|e| {
            SendError::Connect(format!("client error (Connect): {}", display_chain(&e)))
        })?;
        Ok(Conn {
            io: io.into_inner(),
            buf: BytesMut::with_capacity(8 * 1024),
        })
    }
}

/// What a response head says: the response (with an empty body), how its body is delimited,
/// whether the connection may be reused after it.
type Head = (Response<()>, Delimit, bool);

/// Write the request and read the response head on one connection. A streamed request body
/// is sent while the head is awaited; a backend that answers before the whole body has gone
/// out (a full-duplex backend streaming its answer, or one that answers without reading)
/// gets the rest of the body while its response is read ([`H1Body`]) and, when the response
/// ends first, after it (within the exchange's timeout), as the client sends it.
async fn roundtrip(
    conn: &mut Conn,
    wire: &[u8],
    payload: &mut Payload,
    sent: Sent,
    reading: Reading,
) -> Result<(Head, Option<Upload>), Attempt> {
    let closed = |e: std::io::Error| {
        Attempt::Closed(format!("client error (SendRequest): connection error: {e}"))
    };
    conn.io.write_all(wire).await.map_err(closed)?;
    let mut read_any = false;
    let mut upload = match payload {
        Payload::Buffered(b) => {
            if b.len() > COALESCE {
                conn.io.write_all(b).await.map_err(closed)?;
            }
            None
        }
        // a streamed body is sent once: the request is never retried
        Payload::Stream(_) => match std::mem::replace(payload, Payload::Buffered(Bytes::new())) {
            Payload::Stream(body) => Some(Upload::new(body, sent)),
            Payload::Buffered(_) => None,
        },
    };
    let mut broken = false;
    let head = std::future::poll_fn(|cx| {
        if let Some(up) = upload.as_mut() {
            match up.poll(&conn.io, cx) {
                Poll::Ready(Ok(())) => upload = None,
                Poll::Ready(Err(WriteError::Body(e))) => {
                    return Poll::Ready(Err(Attempt::Failed(body_error(&*e))))
                }
                // the backend may have answered before it stopped reading
                Poll::Ready(Err(WriteError::Io)) => {
                    upload = None;
                    broken = true;
                }
                Poll::Pending => {}
            }
        }
        poll_head(&conn.io, &mut conn.buf, reading, &mut read_any, cx)
    })
    .await?;
    let (resp, delimit, keep) = head;
    Ok(((resp, delimit, keep && !broken), upload))
}

/// Why writing a request body stopped.
enum WriteError {
    /// The request body itself failed (too large, malformed, too slow).
    Body(BoxError),
    /// The connection failed.
    Io,
}

/// A streamed request body on its way out, with its framing: written as its frames come and
/// the socket takes them.
struct Upload {
    body: Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>,
    /// Bytes still allowed by `Content-Length`; `None` when chunked.
    left: Option<u64>,
    /// Framed bytes not written yet.
    out: Bytes,
    ended: bool,
}

impl Upload {
    fn new(body: Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>>, sent: Sent) -> Upload {
        Upload {
            body,
            left: match sent {
                Sent::Length(n) => Some(n),
                Sent::Chunked => None,
            },
            out: Bytes::new(),
            ended: false,
        }
    }

    /// Ready once the whole body and its end have been written.
    fn poll(&mut self, io: &TcpStream, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        loop {
            while !self.out.is_empty() {
                if ready!(io.poll_write_ready(cx)).is_err() {
                    return Poll::Ready(Err(WriteError::Io));
                }
                match io.try_write(&self.out) {
                    Ok(n) => self.out.advance(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Err(WriteError::Io)),
                }
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            // a body that knows it is complete (its length reached) is not polled for its end:
            // that would wait for the client's connection to say so
            let end = self.body.is_end_stream();
            match if end {
                None
            } else {
                ready!(self.body.as_mut().poll_frame(cx))
            } {
                None => {
                    self.ended = true;
                    match self.left {
                        Some(0) => {}
                        Some(_) => {
                            return Poll::Ready(Err(WriteError::Body(
                                "request body shorter than its content-length".into(),
                            )))
                        }
                        None => self.out = Bytes::from_static(b"0\r\n\r\n"),
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(WriteError::Body(e))),
                Some(Ok(frame)) => {
                    // trailers are not sent over HTTP/1.1
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    if data.is_empty() {
                        continue;
                    }
                    match &mut self.left {
                        Some(l) => {
                            if data.len() as u64 > *l {
                                return Poll::Ready(Err(WriteError::Body(
                                    "request body longer than its content-length".into(),
                                )));
                            }
                            *l -= data.len() as u64;
                            self.out = data;
                        }
                        None => {
                            let mut chunk = Vec::with_capacity(data.len() + 20);
                            chunk.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                            chunk.extend_from_slice(&data);
                            chunk.extend_from_slice(b"\r\n");
                            self.out = chunk.into();
                        }
                    }
                }
            }
        }
    }
}

/// A request body's own failure, classified as the pooled client classifies it.
fn body_error(e: &(dyn std::error::Error + Send + Sync + 'static)) -> SendError {
    if error_chain_has::<http_body_util::LengthLimitError>(e)
        || error_chain_has::<crate::grpc::MessageTooLarge>(e)
    {
        SendError::BodyTooLarge
    } else {
        SendError::Failed(format!(
            "client error (SendRequest): error from user's Body stream: {}",
            display_chain(e)
        ))
    }
}

/// The request head: the request line in origin form, the fields (framing fields replaced by
/// the body's own), the empty line.
fn encode_head(parts: &http::request::Parts, sent: Sent, out: &mut Vec<u8>) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    match parts.uri.path_and_query().map(|p| p.as_str()) {
        Some(p) if p.starts_with('/') => out.extend_from_slice(p.as_bytes()),
        Some(p) if !p.is_empty() => {
            out.push(b'/');
            out.extend_from_slice(p.as_bytes());
        }
        _ => out.push(b'/'),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match sent {
        // as hyper's client: no `content-length: 0` on the methods that carry no body
        Sent::Length(0)
            if matches!(
                parts.method,
                Method::GET
                    | Method::HEAD
                    | Method::DELETE
                    | Method::OPTIONS
                    | Method::TRACE
                    | Method::CONNECT
            ) && !parts.headers.contains_key(header::CONTENT_LENGTH) => {}
        Sent::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Sent::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// `Content-Length`'s value: every field equal, digits only. `Err` when invalid.
fn content_length(h: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut n = None;
    for v in h.get_all(header::CONTENT_LENGTH) {
        length_of(v.as_bytes(), &mut n)?;
    }
    Ok(n)
}

/// One `Content-Length` field value into `n`: every element a decimal number, all equal.
fn length_of(v: &[u8], n: &mut Option<u64>) -> Result<(), ()> {
    for part in v.split(|&b| b == b',') {
        let part = part.trim_ascii();
        // at most 19 digits: always within a u64
        if part.is_empty() || part.len() > 19 {
            return Err(());
        }
        let mut v = 0u64;
        for &d in part {
            if !d.is_ascii_digit() {
                return Err(());
            }
            v = v * 10 + u64::from(d - b'0');
        }
        if n.is_some_and(|m| m != v) {
            return Err(());
        }
        *n = Some(v);
    }
    Ok(())
}

/// Read and parse the response head (informational responses skipped). `read_any`: whether
/// anything came on the connection for this request.
fn poll_head(
    io: &TcpStream,
    buf: &mut BytesMut,
    reading: Reading,
    read_any: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<Head, Attempt>> {
    loop {
        if !buf.is_empty() {
            match parse_head(buf, reading) {
                Ok(Some(Parsed::Final(r))) => return Poll::Ready(Ok(r)),
                Ok(Some(Parsed::Informational)) => continue,
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let fresh = !*read_any && buf.is_empty();
        let failed = |m: String| {
            Poll::Ready(Err(if fresh {
                Attempt::Closed(m)
            } else {
                Attempt::Failed(SendError::Failed(m))
            }))
        };
        match ready!(poll_fill(io, buf, cx)) {
            Ok(0) => {
                return failed(
                    "client error (SendRequest): connection closed before message completed".into(),
                )
            }
            Ok(_) => *read_any = true,
            Err(e) => return failed(format!("client error (SendRequest): connection error: {e}")),
        }
    }
}

/// Read more from a connection into its buffer; `Ok(0)` at the end of the connection.
fn poll_fill(
    io: &TcpStream,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<std::io::Result<usize>> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(READ_ROOM);
    }
    loop {
        ready!(io.poll_read_ready(cx))?;
        match io.try_read_buf(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

enum Parsed {
    Final(Head),
    Informational,
}

fn invalid(what: &str) -> Attempt {
    Attempt::Failed(SendError::Failed(format!(
        "client error (SendRequest): invalid HTTP response from the backend: {what}"
    )))
}

/// How a response head is read.
#[derive(Clone, Copy, Debug)]
struct Reading {
    /// The answer to a `HEAD` request: no body whatever its head says.
    head_only: bool,
    /// Pass the connection's own fields on (for the wire log) instead of dropping them.
    keep_hop_by_hop: bool,
}

/// What a response field is to the connection that reads it, by name (case-insensitive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Connection,
    TransferEncoding,
    ContentLength,
    /// The connection's alone (RFC 9110 §7.6.1): never passed on.
    HopByHop,
    /// End to end.
    Other,
}

fn classify(name: &[u8]) -> Field {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    // by length first: most names fall out without a comparison
    match name.len() {
        2 if is(b"te") => Field::HopByHop,
        6 if is(b"expect") => Field::HopByHop,
        7 if is(b"trailer") || is(b"upgrade") => Field::HopByHop,
        10 if is(b"connection") => Field::Connection,
        10 if is(b"keep-alive") => Field::HopByHop,
        14 if is(b"content-length") => Field::ContentLength,
        16 if is(b"proxy-connection") => Field::HopByHop,
        17 if is(b"transfer-encoding") => Field::TransferEncoding,
        18 if is(b"proxy-authenticate") => Field::HopByHop,
        19 if is(b"proxy-authorization") => Field::HopByHop,
        _ => Field::Other,
    }
}

/// The comma-separated elements of a field value, trimmed, empty ones skipped.
fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Parse a complete head at the start of `buf` (consumed), `None` when more is needed.
///
/// One pass over the fields reads what the connection needs (`Connection`, the framing) and,
/// unless `keep_hop_by_hop`, leaves the hop-by-hop fields out of the head, with the fields
/// `Connection` names: the head is then the one passed on.
fn parse_head(buf: &mut BytesMut, reading: Reading) -> Result<Option<Parsed>, Attempt> {
    // what has been read, frozen so that the field values can share its bytes
    let read = buf.split().freeze();
    let mut fields = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
    let mut r = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut r,
        &read,
        &mut fields,
    );
    let n = match parsed {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Partial) if read.len() <= MAX_HEAD => {
            // not all of it yet: the bytes go back in front of the buffer's free room
            let mut back = read
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            back.unsplit(std::mem::take(buf));
            *buf = back;
            return Ok(None);
        }
        Ok(_) => return Err(invalid("response head too large")),
        Err(httparse::Error::TooManyHeaders) => return Err(invalid("too many header fields")),
        Err(e) => return Err(invalid(&e.to_string())),
    };
    // what came after the head (the start of the body, or another head) stays to be read
    buf.extend_from_slice(&read[n..]);
    let code = r.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| invalid("status code"))?;
    if status.is_informational() && code != 101 {
        return Ok(Some(Parsed::Informational));
    }
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let (mut close, mut keep_alive) = (false, false);
    // `Content-Length`: absent, or its one value (`Err`: invalid or conflicting)
    let mut length: Result<Option<u64>, ()> = Ok(None);
    // the last transfer coding of the last Transfer-Encoding field
    let mut coding: Option<&[u8]> = None;
    // fields `Connection` names besides its own options (rare)
    let mut named: Vec<&[u8]> = Vec::new();
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    for f in r.headers.iter() {
        let kind = classify(f.name.as_bytes());
        match kind {
            Field::Connection => {
                for t in tokens(f.value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive = true;
                    } else {
                        named.push(t);
                    }
                }
            }
            Field::TransferEncoding => coding = Some(tokens(f.value).last().unwrap_or_default()),
            Field::ContentLength => {
                if let Ok(n) = &mut length {
                    if length_of(f.value, n).is_err() {
                        length = Err(());
                    }
                }
            }
            Field::HopByHop | Field::Other => {}
        }
        let end_to_end = matches!(kind, Field::Other | Field::ContentLength);
        if end_to_end || reading.keep_hop_by_hop {
            let name =
                HeaderName::from_bytes(f.name.as_bytes()).map_err(|_| invalid("field name"))?;
            let value = HeaderValue::from_maybe_shared(read.slice_ref(f.value))
                .map_err(|_| invalid("field value"))?;
            headers.append(name, value);
        }
    }
    if !reading.keep_hop_by_hop {
        for t in named {
            // never let Connection strip end-to-end essentials
            match HeaderName::from_bytes(t) {
                Ok(h) if h != header::HOST && h != header::CONTENT_LENGTH => {
                    headers.remove(h);
                }
                _ => {}
            }
        }
    }
    let close = close || (version == Version::HTTP_10 && !keep_alive);
    let (delimit, keep) = if reading.head_only
        || code == 101
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        (Delimit::Length(0), code != 101)
    } else if let Some(last) = coding {
        if length != Ok(None) && !reading.keep_hop_by_hop {
            // the transfer coding frames the body: a length beside it is not passed on
            // (RFC 9112 §6.3)
            headers.remove(header::CONTENT_LENGTH);
        }
        // both framings in one response: the connection is not trusted afterwards
        if last.eq_ignore_ascii_case(b"chunked") {
            (Delimit::Chunked, length == Ok(None))
        } else {
            (Delimit::Close, false)
        }
    } else {
        match length {
            Ok(Some(n)) => (Delimit::Length(n), true),
            Ok(None) => (Delimit::Close, false),
            Err(()) => return Err(invalid("content-length")),
        }
    };
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    *resp.version_mut() = version;
    *resp.headers_mut() = headers;
    Ok(Some(Parsed::Final((resp, delimit, keep && !close))))
}

/// Where a response body stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `n` bytes left (`Content-Length`).
    Length(u64),
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk, `n` bytes left.
    Chunk(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// After the last chunk: trailer fields, then an empty line.
    Trailers,
    /// Until the connection closes.
    Close,
    Done,
}

/// What the bytes read so far give next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// The next `n` bytes are body data.
    Data(usize),
    /// More must be read.
    More,
    /// The body is complete.
    End,
    Invalid(&'static str),
}

impl State {
    /// Where a body delimited so starts.
    fn start(delimit: Delimit) -> State {
        match delimit {
            Delimit::Length(0) => State::Done,
            Delimit::Length(n) => State::Length(n),
            Delimit::Chunked => State::Size,
            Delimit::Close => State::Close,
        }
    }

    /// Decode from the front of `buf`: framing bytes are consumed, data is left for the caller
    /// to take (`Step::Data`); the state moves on (to `Done` with the last data).
    fn step(&mut self, buf: &mut BytesMut) -> Step {
        loop {
            let buffered = buf.len();
            match *self {
                State::Done => return Step::End,
                _ if buffered == 0 => return Step::More,
                State::Length(left) => {
                    let n = left.min(buffered as u64);
                    *self = if n == left {
                        State::Done
                    } else {
                        State::Length(left - n)
                    };
                    return Step::Data(n as usize);
                }
                State::Chunk(left) => {
                    let n = left.min(buffered as u64);
                    *self = if n == left {
                        State::ChunkEnd
                    } else {
                        State::Chunk(left - n)
                    };
                    return Step::Data(n as usize);
                }
                State::Close => return Step::Data(buffered),
                State::Size => match httparse::parse_chunk_size(buf) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        buf.advance(used);
                        *self = if size == 0 {
                            State::Trailers
                        } else {
                            State::Chunk(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if buffered <= MAX_CHUNK_LINE => {
                        return Step::More
                    }
                    _ => return Step::Invalid("invalid chunk size in the backend's response"),
                },
                State::ChunkEnd if buffered < 2 => return Step::More,
                State::ChunkEnd => {
                    if &buf[..2] != b"\r\n" {
                        return Step::Invalid("invalid chunk end in the backend's response");
                    }
                    buf.advance(2);
                    *self = State::Size;
                }
                State::Trailers if buffered < 2 => return Step::More,
                State::Trailers => {
                    let end = if buf.starts_with(b"\r\n") {
                        Some(2)
                    } else {
                        buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
                    };
                    match end {
                        Some(n) => {
                            buf.advance(n);
                            *self = State::Done;
                            return Step::End;
                        }
                        None if buffered > MAX_TRAILERS => {
                            return Step::Invalid(
                                "trailer section too large in the backend's response",
                            )
                        }
                        None => return Step::More,
                    }
                }
            }
        }
    }

    /// The connection ended: complete only for a body delimited by the close.
    fn at_eof(&mut self) -> Step {
        match *self {
            State::Close | State::Done => {
                *self = State::Done;
                Step::End
            }
            _ => Step::Invalid("backend closed the connection before the end of its response body"),
        }
    }
}

/// A whole response (head and body) decoded from the bytes a backend sent before closing the
/// connection, as the pool reads it: the head, the body, whether the connection could have
/// carried another request. For tests and fuzzing.
#[doc(hidden)]
pub fn decode_response(
    bytes: &[u8],
    head_only: bool,
) -> Result<(Response<()>, Vec<u8>, bool), String> {
    let reading = Reading {
        head_only,
        keep_hop_by_hop: false,
    };
    let mut buf = BytesMut::from(bytes);
    let err = |a: Attempt| match a {
        Attempt::Closed(m) | Attempt::Failed(SendError::Failed(m)) => m,
        Attempt::Failed(e) => format!("{e:?}"),
    };
    let (resp, delimit, keep) = loop {
        match parse_head(&mut buf, reading).map_err(err)? {
            Some(Parsed::Final(h)) => break h,
            Some(Parsed::Informational) => continue,
            None => return Err("incomplete head".into()),
        }
    };
    let mut state = State::start(delimit);
    let mut body = Vec::new();
    loop {
        match state.step(&mut buf) {
            Step::Data(n) => body.extend_from_slice(&buf.split_to(n)),
            Step::End => break,
            Step::Invalid(m) => return Err(m.into()),
            Step::More => match state.at_eof() {
                Step::Invalid(m) => return Err(m.into()),
                _ => break,
            },
        }
    }
    Ok((resp, body, keep && buf.is_empty()))
}

/// A response body read from its backend connection; the connection goes back to the pool the
/// moment the body's last byte has been read (dropping the body before that closes it).
pub struct H1Body {
    conn: Option<Conn>,
    state: State,
    keep: bool,
    home: Option<(Arc<PoolInner>, Key)>,
    /// The rest of a request body the backend answered before it had all of it.
    upload: Option<Upload>,
    /// How long the rest of such a body may take once the response has ended.
    upload_timeout: Duration,
    /// The response's head holds no hop-by-hop field (they were left out as it was read).
    clean: bool,
}

impl std::fmt::Debug for H1Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Body")
            .field("state", &self.state)
            .field("keep", &self.keep)
            .finish_non_exhaustive()
    }
}

/// A response body that broke off.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct H1BodyError(String);

impl H1Body {
    fn new(
        conn: Conn,
        delimit: Delimit,
        keep: bool,
        upload: Option<Upload>,
        pool: Arc<PoolInner>,
        key: Key,
        upload_timeout: Duration,
    ) -> H1Body {
        let state = State::start(delimit);
        let mut b = H1Body {
            conn: Some(conn),
            state,
            keep,
            home: Some((pool, key)),
            upload,
            upload_timeout,
            clean: false,
        };
        if state == State::Done {
            b.finish();
        }
        b
    }

    /// Whether the response's head was read without its hop-by-hop fields (and those its
    /// `Connection` field names): nothing is left to remove before it is passed on.
    pub fn hop_by_hop_removed(&self) -> bool {
        self.clean
    }

    /// The whole body has been read: the connection goes back when nothing else came on it.
    /// The whole body has been read. A request body still on its way is sent to its end
    /// first (the client's connection stays usable only once its body has been read).
    fn finish(&mut self) {
        self.state = State::Done;
        let (Some(conn), Some((pool, key))) = (self.conn.take(), self.home.take()) else {
            return;
        };
        let keep = self.keep && conn.buf.is_empty();
        let Some(mut up) = self.upload.take() else {
            if keep {
                pool.put(key, conn);
            }
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let timeout = self.upload_timeout;
        rt.spawn(async move {
            let sent = std::future::poll_fn(|cx| up.poll(&conn.io, cx));
            if let Ok(Ok(())) = tokio::time::timeout(timeout, sent).await {
                if keep {
                    pool.put(key, conn);
                }
            }
        });
    }

    fn fail(&mut self, msg: impl Into<String>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = State::Done;
        self.upload = None;
        self.conn = None;
        Poll::Ready(Some(Err(Box::new(H1BodyError(msg.into())))))
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            if let Some(up) = this.upload.as_mut() {
                // whatever becomes of the rest of the request, the response is read on; a
                // connection whose request broke off is not reused
                if let Poll::Ready(r) = up.poll(&conn.io, cx) {
                    this.keep &= r.is_ok();
                    this.upload = None;
                }
            }
            let step = this.state.step(&mut conn.buf);
            match step {
                Step::Data(n) => {
                    let data = conn.buf.split_to(n).freeze();
                    if this.state == State::Done {
                        this.finish();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Step::End => {
                    this.finish();
                    return Poll::Ready(None);
                }
                Step::Invalid(m) => return this.fail(m),
                Step::More => {}
            }
            match ready!(poll_fill(&conn.io, &mut conn.buf, cx)) {
                Ok(0) => match this.state.at_eof() {
                    Step::End => {
                        this.finish();
                        return Poll::Ready(None);
                    }
                    _ => {
                        return this.fail(
                            "backend closed the connection before the end of its response body",
                        )
                    }
                },
                Ok(_) => {}
                Err(e) => {
                    return this.fail(format!("error reading the backend's response body: {e}"))
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Done => SizeHint::with_exact(0),
            State::Length(n) => SizeHint::with_exact(n),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::body::Incoming;
    use std::sync::atomic::AtomicUsize;

    /// A backend counting the connections it accepted; answers `hello` (keep-alive), and
    /// closes each connection after `per_conn` requests when given.
    async fn backend(per_conn: Option<usize>) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let served = Arc::new(AtomicUsize::new(0));
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let n = served.fetch_add(1, Ordering::SeqCst) + 1;
                        async move {
                            let path = req.uri().to_string();
                            let mut r =
                                Response::new(Full::new(Bytes::from(format!("hello {path}"))));
                            if per_conn.is_some_and(|m| n >= m) {
                                r.headers_mut()
                                    .insert(http::header::CONNECTION, "close".parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    fn pool() -> H1Pool {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        H1Pool::new(http, 8, Duration::from_secs(30))
    }

    fn get(addr: std::net::SocketAddr, path: &str) -> Request<ClientBody> {
        let mut r = Request::new(Either::Right(Full::new(Bytes::new())));
        *r.uri_mut() = format!("http://{addr}{path}").parse().unwrap();
        r.headers_mut()
            .insert(http::header::HOST, addr.to_string().parse().unwrap());
        r
    }

    async fn read(resp: Response<H1Body>) -> String {
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(b.to_vec()).unwrap()
    }

    use hyper_util::rt::TokioIo;

    #[tokio::test]
    async fn connections_are_reused_once_their_response_is_read() {
        let (addr, accepted) = backend(None).await;
        let p = pool();
        let t = Duration::from_secs(5);
        for i in 0..5 {
            let resp = p.send(get(addr, &format!("/a?i={i}")), t).await.unwrap();
            // the request line is in origin form
            assert_eq!(read(resp).await, format!("hello /a?i={i}"));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(p.idle_count(&addr.to_string()), 1);
        // two at once: two connections, both kept afterwards
        let r1 = p.send(get(addr, "/"), t).await.unwrap();
        let r2 = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(read(r1).await, "hello /");
        assert_eq!(read(r2).await, "hello /");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(p.idle_count(&addr.to_string()), 2);
    }

    #[tokio::test]
    async fn a_large_body_streams_and_its_connection_is_kept() {
        // a backend answering 4 MiB, more than the socket buffers hold
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req: Request<Incoming>| async {
                        let big = Bytes::from(vec![b'x'; 4 << 20]);
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(big)))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        let p = pool();
        let t = Duration::from_secs(5);
        for _ in 0..3 {
            let resp = p.send(get(addr, "/big"), t).await.unwrap();
            assert_eq!(read(resp).await.len(), 4 << 20);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
    }

    #[tokio::test]
    async fn a_connection_closed_while_idle_gives_its_request_back_to_another() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // answers one request with keep-alive, then closes the connection a moment later
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let _ = tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                });
            }
        });
        let p = pool();
        let t = Duration::from_secs(5);
        for _ in 0..3 {
            let resp = p.send(get(addr, "/"), t).await.unwrap();
            assert_eq!(read(resp).await, "ok");
            // the backend closes it while it is idle
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_response_dropped_unread_closes_its_connection() {
        let (addr, accepted) = backend(None).await;
        let p = pool();
        let t = Duration::from_secs(5);
        let resp = p.send(get(addr, "/"), t).await.unwrap();
        drop(resp);
        assert_eq!(p.idle_count(&addr.to_string()), 0);
        let resp = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(read(resp).await, "hello /");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_not_used_again() {
        // the backend closes every connection after one request
        let (addr, accepted) = backend(Some(1)).await;
        let p = pool();
        let t = Duration::from_secs(5);
        for _ in 0..3 {
            let resp = p.send(get(addr, "/x"), t).await.unwrap();
            assert_eq!(read(resp).await, "hello /x");
            // let the connection task see the close
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn idle_connections_expire() {
        let (addr, accepted) = backend(None).await;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        let p = H1Pool::new(http, 8, Duration::from_millis(200));
        let t = Duration::from_secs(5);
        let resp = p.send(get(addr, "/"), t).await.unwrap();
        read(resp).await;
        assert_eq!(p.idle_count(&addr.to_string()), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(p.idle_count(&addr.to_string()), 0, "closed by the reaper");
        let resp = p.send(get(addr, "/"), t).await.unwrap();
        read(resp).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unreachable_backends_are_connect_errors_and_slow_ones_time_out() {
        // a port nobody listens on
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let p = pool();
        match p.send(get(addr, "/"), Duration::from_secs(5)).await {
            Err(SendError::Connect(m)) => assert!(m.contains("tcp connect error"), "{m}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // a backend that accepts and never answers
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut v = Vec::new();
            while let Ok((s, _)) = silent.accept().await {
                v.push(s);
            }
        });
        let r = p.send(get(addr, "/"), Duration::from_millis(200)).await;
        assert!(matches!(r, Err(SendError::Timeout)));
        held.abort();
    }

    /// What a raw backend answers to the `n`th request on a connection.
    type Answer = fn(usize, &str) -> Option<Vec<u8>>;

    /// A backend speaking raw bytes: for each request on a connection (its head and a
    /// `content-length` body), `answer(n, request)` gives the bytes to send back (`n` counts
    /// from 1 on each connection), or `None` to close the connection without answering.
    async fn raw_backend(answer: Answer) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    for n in 1.. {
                        let end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            match tcp.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                        while buf.len() < end + len {
                            match tcp.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        let request = String::from_utf8_lossy(&buf[..end + len]).to_string();
                        buf.drain(..end + len);
                        let Some(out) = answer(n, &request) else {
                            return;
                        };
                        if tcp.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, accepted)
    }

    fn request(
        addr: std::net::SocketAddr,
        method: Method,
        body: &'static str,
    ) -> Request<ClientBody> {
        let mut r = get(addr, "/r");
        *r.method_mut() = method;
        *r.body_mut() = Either::Right(Full::new(Bytes::from_static(body.as_bytes())));
        r
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_their_connection_kept() {
        let (addr, accepted) = raw_backend(|_, _| {
            Some(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                  5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: t\r\n\r\n"
                    .to_vec(),
            )
        })
        .await;
        let p = pool();
        for _ in 0..3 {
            let resp = p
                .send(get(addr, "/"), Duration::from_secs(5))
                .await
                .unwrap();
            assert_eq!(read(resp).await, "hello, world");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
        assert_eq!(p.idle_count(&addr.to_string()), 1);
    }

    #[tokio::test]
    async fn informational_responses_are_skipped_and_bodiless_ones_have_no_body() {
        let (addr, accepted) = raw_backend(|n, req| {
            Some(match n {
                1 => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n\
                       HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok"
                    .to_vec(),
                // a HEAD's content-length describes the GET's body, none follows
                2 => {
                    assert!(req.starts_with("HEAD /r HTTP/1.1\r\n"), "{req}");
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n".to_vec()
                }
                3 => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                _ => b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n".to_vec(),
            })
        })
        .await;
        let p = pool();
        let t = Duration::from_secs(5);
        let r = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(read(r).await, "ok");
        let r = p.send(request(addr, Method::HEAD, ""), t).await.unwrap();
        assert_eq!(r.headers()["content-length"], "5");
        assert!(r.body().is_end_stream());
        assert_eq!(read(r).await, "");
        for status in [StatusCode::NO_CONTENT, StatusCode::NOT_MODIFIED] {
            let r = p.send(get(addr, "/"), t).await.unwrap();
            assert_eq!(r.status(), status);
            assert!(r.body().is_end_stream());
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "one connection for all four"
        );
    }

    #[tokio::test]
    async fn bodies_delimited_by_the_close_or_followed_by_more_are_not_reused() {
        let (addr, accepted) = raw_backend(|n, _| match n {
            1 => Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA".to_vec()),
            _ => None,
        })
        .await;
        let p = pool();
        let t = Duration::from_secs(5);
        for _ in 0..2 {
            let r = p.send(get(addr, "/"), t).await.unwrap();
            assert_eq!(read(r).await, "ok");
        }
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            2,
            "bytes after a response: closed"
        );
        assert_eq!(p.idle_count(&addr.to_string()), 0);

        // HTTP/1.0 without a length: the body ends with the connection
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = l.accept().await {
                let mut b = [0u8; 1024];
                let _ = tcp.read(&mut b).await;
                let _ = tcp.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil the end").await;
            }
        });
        let r = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(read(r).await, "until the end");
        assert_eq!(p.idle_count(&addr.to_string()), 0);
    }

    #[tokio::test]
    async fn invalid_responses_are_errors() {
        let cases: [Answer; 6] = [
            |_, _| Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2, 3\r\n\r\nok".to_vec()),
            |_, _| Some(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n".to_vec()),
            |_, _| Some(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n".to_vec()),
            |_, _| {
                let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..101 {
                    h.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
                }
                h.extend_from_slice(b"\r\n");
                Some(h)
            },
            |_, _| {
                let mut h = b"HTTP/1.1 200 OK\r\nx-big: ".to_vec();
                h.resize(70 * 1024, b'a');
                Some(h)
            },
            |_, _| Some(b"NOT HTTP AT ALL\r\n\r\n".to_vec()),
        ];
        let p = pool();
        for (i, answer) in cases.into_iter().enumerate() {
            let (addr, _) = raw_backend(answer).await;
            match p.send(get(addr, "/"), Duration::from_secs(5)).await {
                Err(SendError::Failed(m)) => {
                    assert!(m.contains("invalid HTTP response"), "case {i}: {m}")
                }
                other => panic!("case {i}: {:?}", other.map(|r| r.status())),
            }
        }
        // a chunked body with a broken chunk size fails when it is read
        let (addr, _) = raw_backend(|_, _| {
            Some(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec())
        })
        .await;
        let r = p
            .send(get(addr, "/"), Duration::from_secs(5))
            .await
            .unwrap();
        let e = r.into_body().collect().await.unwrap_err();
        assert!(e.to_string().contains("invalid chunk size"), "{e}");
        assert_eq!(p.idle_count(&addr.to_string()), 0);
    }

    #[tokio::test]
    async fn a_connection_closed_as_the_request_went_out_retries_only_idempotent_requests() {
        // answers the first request of each connection, closes on the second without answering
        let (addr, accepted) = raw_backend(|n, _| {
            (n == 1).then(|| b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec())
        })
        .await;
        let p = pool();
        let t = Duration::from_secs(5);
        assert_eq!(read(p.send(get(addr, "/"), t).await.unwrap()).await, "ok");
        // the kept connection is closed by the backend once this request is on it: a GET goes
        // out again on a new connection
        assert_eq!(read(p.send(get(addr, "/"), t).await.unwrap()).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        // a POST is not sent twice
        match p.send(request(addr, Method::POST, "x"), t).await {
            Err(SendError::Failed(m)) => assert!(m.contains("closed"), "{m}"),
            other => panic!("{:?}", other.map(|r| r.status())),
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn request_heads_carry_the_body_framing() {
        let head = |method: Method, uri: &str, headers: &[(&str, &str)], sent: Sent| {
            let mut r = Request::new(());
            *r.method_mut() = method;
            *r.uri_mut() = uri.parse().unwrap();
            for (k, v) in headers {
                r.headers_mut().append(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            let mut out = Vec::new();
            encode_head(&r.into_parts().0, sent, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            head(
                Method::GET,
                "http://b:1/a/b?q=1",
                &[("host", "b:1")],
                Sent::Length(0)
            ),
            "GET /a/b?q=1 HTTP/1.1\r\nhost: b:1\r\n\r\n"
        );
        assert_eq!(
            head(Method::GET, "http://b:1", &[], Sent::Length(0)),
            "GET / HTTP/1.1\r\n\r\n"
        );
        // an empty POST says so; a length the client sent is replaced by the body's own
        assert_eq!(
            head(Method::POST, "http://b/", &[], Sent::Length(0)),
            "POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
        );
        assert_eq!(
            head(
                Method::PUT,
                "http://b/",
                &[("content-length", "99"), ("transfer-encoding", "gzip")],
                Sent::Length(3)
            ),
            "PUT / HTTP/1.1\r\ncontent-length: 3\r\n\r\n"
        );
        assert_eq!(
            head(Method::POST, "http://b/", &[("x-a", "1")], Sent::Chunked),
            "POST / HTTP/1.1\r\nx-a: 1\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn streamed_bodies_are_framed_and_held_to_their_length() {
        use http_body_util::StreamBody;
        use tokio::io::AsyncReadExt;
        // what the other end of a connection receives from an upload, and how it ended
        async fn upload(parts: &'static [&'static str], sent: Sent) -> (Vec<u8>, bool) {
            let frames = parts
                .iter()
                .map(|p| Ok::<_, BoxError>(Frame::data(Bytes::from_static(p.as_bytes()))));
            let body: Pin<Box<dyn Body<Data = Bytes, Error = BoxError> + Send>> =
                Box::pin(StreamBody::new(futures::stream::iter(frames)));
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let io = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (mut peer, _) = l.accept().await.unwrap();
            let mut up = Upload::new(body, sent);
            let ok = std::future::poll_fn(|cx| up.poll(&io, cx)).await.is_ok();
            drop(io);
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            (got, ok)
        }
        let (got, ok) = upload(&["hello", "", ", world"], Sent::Chunked).await;
        assert!(ok);
        assert_eq!(got, b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
        let (got, ok) = upload(&["ab", "c"], Sent::Length(3)).await;
        assert!(ok);
        assert_eq!(got, b"abc");
        for parts in [&["abcd"][..], &["ab"][..]] {
            let (got, ok) = upload(parts, Sent::Length(3)).await;
            assert!(!ok, "{parts:?}");
            assert!(got.len() <= 3, "never more than the length is written");
        }
    }

    #[tokio::test]
    async fn a_head_that_comes_in_pieces_is_read_whole() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut tcp, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = tcp.read(&mut b).await;
            for piece in [
                &b"HTTP/1.1 200 OK\r\ncontent-le"[..],
                b"ngth: 5\r\nx-a: 1\r",
                b"\n\r\nhel",
                b"lo",
            ] {
                tcp.write_all(piece).await.unwrap();
                tcp.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let _ = tcp.read(&mut b).await;
        });
        let p = pool();
        let r = p
            .send(get(addr, "/"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(r.headers()["x-a"], "1");
        assert_eq!(read(r).await, "hello");
        assert_eq!(p.idle_count(&addr.to_string()), 1);
    }

    #[test]
    fn responses_are_framed_as_rfc_9112_says() {
        // (response bytes, HEAD?, expected body or error part, reusable afterwards)
        let cases: &[(&str, bool, Result<&str, &str>, bool)] = &[
            ("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc", false, Ok("abc"), true),
            ("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\nabc", false, Ok("abc"), true),
            ("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nab", false, Err("before the end"), false),
            ("HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\nabcd", false, Err("content-length"), false),
            ("HTTP/1.1 200 OK\r\ncontent-length: +3\r\n\r\nabc", false, Err("content-length"), false),
            ("HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n", false, Err("content-length"), false),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, Ok("abc"), true),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nt: 1\r\nu: 2\r\n\r\n", false, Ok("abc"), true),
            // both framings: chunked wins, the connection is not trusted afterwards
            ("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", false, Ok("abc"), false),
            // a transfer coding other than chunked last: until the close
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nxyz", false, Ok("xyz"), false),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", false, Err("chunk end"), false),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n", false, Err("chunk size"), false),
            ("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n", false, Err("before the end"), false),
            ("HTTP/1.1 200 OK\r\n\r\nto the end", false, Ok("to the end"), false),
            ("HTTP/1.1 200 OK\r\nconnection: keep-alive, close\r\ncontent-length: 0\r\n\r\n", false, Ok(""), false),
            ("HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", false, Ok("ok"), false),
            ("HTTP/1.0 200 OK\r\nconnection: Keep-Alive\r\ncontent-length: 2\r\n\r\nok", false, Ok("ok"), true),
            ("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", false, Ok("ok"), true),
            ("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", true, Ok(""), true),
            ("HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n", false, Ok(""), true),
            ("HTTP/1.1 101 Switching Protocols\r\n\r\n", false, Ok(""), false),
            ("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1", false, Ok("ok"), false),
            ("HTTP/1.1 999 Odd\r\ncontent-length: 0\r\n\r\n", false, Ok(""), true),
            ("HTTP/1.1 1000 Odd\r\n\r\n", false, Err("invalid HTTP response"), false),
            ("HTTP/1.1 200 OK\r\nx: a\x00b\r\n\r\n", false, Err("invalid HTTP response"), false),
        ];
        for (i, (bytes, head, want, keep)) in cases.iter().enumerate() {
            match (decode_response(bytes.as_bytes(), *head), want) {
                (Ok((_, body, k)), Ok(w)) => {
                    assert_eq!(String::from_utf8_lossy(&body), *w, "case {i}");
                    assert_eq!(k, *keep, "case {i}: reusable");
                }
                (Err(e), Err(w)) => assert!(e.contains(w), "case {i}: {e}"),
                (got, _) => panic!("case {i}: {:?}", got.map(|(r, b, k)| (r.status(), b, k))),
            }
        }
    }

    #[test]
    fn the_head_passed_on_has_no_hop_by_hop_fields() {
        let bytes = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop, Host, Content-Length\r\n\
                     Keep-Alive: timeout=5\r\nx-hop: 1\r\nX-End: 2\r\nTE: trailers\r\n\
                     Trailer: t\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\n\
                     Proxy-Authenticate: Basic\r\nContent-Length: 2\r\n\r\nok";
        let (resp, body, keep) = decode_response(bytes.as_bytes(), false).unwrap();
        assert_eq!((&body[..], keep), (&b"ok"[..], true));
        let mut names: Vec<&str> = resp.headers().keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        // what `Connection` names goes too, except the end-to-end essentials
        assert_eq!(names, ["content-length", "x-end"]);
        // for the wire log, the head as received
        let mut buf = BytesMut::from(bytes);
        let reading = Reading {
            head_only: false,
            keep_hop_by_hop: true,
        };
        let Ok(Some(Parsed::Final((resp, Delimit::Length(2), true)))) =
            parse_head(&mut buf, reading)
        else {
            panic!("not parsed");
        };
        assert_eq!(resp.headers().len(), 10);
        assert_eq!(resp.headers()["x-hop"], "1");
        // empty list elements are not transfer codings (RFC 9110 §5.6.1)
        let chunked =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\r\nTransfer-Encoding: chunked ,\r\n\r\n\
                       2\r\nok\r\n0\r\n\r\n";
        let (resp, body, keep) = decode_response(chunked.as_bytes(), false).unwrap();
        assert_eq!((&body[..], keep), (&b"ok"[..], true));
        assert!(resp.headers().is_empty());
        // a length beside a transfer coding is not the body's: not passed on
        let both = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n\
                    2\r\nok\r\n0\r\n\r\n";
        let (resp, body, keep) = decode_response(both.as_bytes(), false).unwrap();
        assert_eq!((&body[..], keep), (&b"ok"[..], false));
        assert!(resp.headers().is_empty());
    }
}
