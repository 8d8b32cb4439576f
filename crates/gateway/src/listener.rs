//! The accept loop and what every connection is held to, before and around the request
//! pipeline:
//!
//! - at most `[limits] max_connections` open client connections: when they are all taken the
//!   loop stops accepting (new connections wait in the kernel's backlog) while the open ones
//!   keep being served;
//! - a connection must deliver its first complete request head within `header_read_timeout`
//!   of being accepted (silent sockets, a single byte, a bare HTTP/2 preface are closed);
//! - a connection with no request in flight and no traffic for `idle_timeout` is closed
//!   (HTTP/1.1 keep-alive and HTTP/2 alike);
//! - a client that stops reading its response (its socket accepts no byte) for
//!   `write_timeout` is disconnected, which releases the backend connection streaming to it;
//! - request heads are bounded (`max_head_size`, `max_headers`; larger heads get `431`);
//! - HTTP/2 (ALPN `h2` over TLS, h2c with prior knowledge on the plain listener) bounds the
//!   header list by `max_head_size`, the streams open at once and the flow-control windows by
//!   `h2_max_concurrent_streams`, `h2_stream_window` and `h2_connection_window`;
//! - accept errors (`EMFILE`, …) are backed off exponentially up to one second, never spun on;
//! - every request passes the [`strict`](crate::strict) checks first, and every response the
//!   [`wire`](crate::wire) tap when the wire log is on.

use crate::config::Config;
use crate::strict::Front;
use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Deserialize;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// `[limits]`: connection limits and timeouts (docs/CONFIG.md).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Seconds from accept until the first request head is complete.
    pub header_read_timeout: f64,
    /// Seconds a connection with no request in flight may stay silent.
    pub idle_timeout: f64,
    /// Seconds a client may accept no byte of its response before it is disconnected.
    pub write_timeout: f64,
    /// Seconds a backend may stay silent in the middle of a response body streamed to a client.
    pub backend_read_timeout: f64,
    /// Open client connections at most.
    pub max_connections: usize,
    /// Largest request head (request line and headers) in bytes; at least 8192.
    pub max_head_size: usize,
    /// Most header fields in a request head.
    pub max_headers: usize,
    /// Bytes of each body the wire log shows.
    pub wire_body_limit: usize,
    /// Sequences (in-flow, out-flow, fault) running at once, each on a thread of its own.
    pub max_mediations: usize,
    /// Seconds one sequence run may take (and one detached work).
    pub mediation_timeout: f64,
    /// Detached mediation works (`<foreach continue-without-aggregation="true">`,
    /// `continueParent` fan-outs still running when their flow answered) running at once; one that finds no place runs in place (its
    /// message waits for it).
    pub max_detached: usize,
    /// A sequence whose message body is at most this many bytes (and not built yet) runs on
    /// the I/O thread that received it: its cost is bounded by so small a body, and the hand-off
    /// to the blocking pool would cost more than the run. `0`: every run goes to the pool.
    pub mediation_inline_body: usize,
    /// A message body's tree (built for mediation) may take at most this many times the
    /// body's size in memory (at least 4 MiB); larger ones are refused (413 for a request).
    pub max_tree_factor: usize,
    /// Seconds one `<script>` run may take before it is interrupted (a fault).
    pub script_timeout: f64,
    /// Bytes one `<script>` run may allocate in its JavaScript heap.
    pub script_memory: usize,
    /// HTTP/2: streams (requests) a client may have open at once on one connection.
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2: bytes of a request body a client may send ahead on one stream (its window).
    pub h2_stream_window: u32,
    /// HTTP/2: bytes of request bodies a client may send ahead on one connection, all
    /// streams together.
    pub h2_connection_window: u32,
    /// Branches of one `<iterate>`/`<clone>` running at the same time.
    pub eip_branches_in_flight: u32,
    /// Branches one `<iterate>`/`<clone>` may make (and messages one `<aggregate>` may hold).
    pub eip_max_branches: u32,
    /// Connections per `<dblookup>`/`<dbreport>` pool whose `<pool>` names no `maxactive`.
    pub db_max_connections: u32,
    /// Seconds a `<dblookup>`/`<dbreport>` may wait for a connection (unless its `<pool>`
    /// names a `maxwait`), and may run one batch of statements.
    pub db_timeout: f64,
    /// Seconds one fetch of a proxy's published WSDL over `http(s)` may take when the
    /// project is loaded (`<publishWSDL uri="http…">`, `<publishWSDL endpoint>`).
    pub wsdl_fetch_timeout: f64,
    /// Bytes a published WSDL fetched over `http(s)` may have.
    pub wsdl_fetch_max_size: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            header_read_timeout: 10.0,
            idle_timeout: 60.0,
            write_timeout: 30.0,
            backend_read_timeout: 30.0,
            max_connections: 512,
            max_head_size: 64 * 1024,
            max_headers: 100,
            wire_body_limit: crate::wire::DEFAULT_BODY_LIMIT,
            max_mediations: 64,
            mediation_timeout: 60.0,
            max_detached: 64,
            mediation_inline_body: 16 * 1024,
            max_tree_factor: synaptic_engine::Limits::DEFAULT_TREE_FACTOR,
            script_timeout: 0.1,
            script_memory: 16 << 20,
            h2_max_concurrent_streams: 100,
            h2_stream_window: 256 * 1024,
            h2_connection_window: 1024 * 1024,
            eip_branches_in_flight: 20,
            eip_max_branches: 1000,
            db_max_connections: crate::database::DEFAULT_MAX_CONNECTIONS,
            db_timeout: crate::database::DEFAULT_TIMEOUT.as_secs_f64(),
            wsdl_fetch_timeout: 20.0,
            wsdl_fetch_max_size: crate::wsdl::MAX_WSDL_BYTES,
        }
    }
}

/// `[admin]`: a second listener for `/metrics`, `/health` and `/oauth2/admin/…`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:PORT` of the admin listener (e.g. `127.0.0.1:9280`).
    pub listen: String,
}

impl AdminConfig {
    pub fn addr(&self) -> Option<SocketAddr> {
        self.listen.parse().ok()
    }
}

/// Problems of `[limits]` and `[admin]`, as (key path, message), for configuration
/// diagnostics.
pub fn config_problems(config: &Config) -> Vec<(&'static str, &'static str, String)> {
    let mut v: Vec<(&'static str, &'static str, String)> = config
        .limits
        .problems()
        .into_iter()
        .map(|(k, m)| ("limits", k, m))
        .collect();
    if let Some(a) = &config.admin {
        if a.addr().is_none() {
            v.push((
                "admin",
                "listen",
                format!("listen address {:?} is not IP:PORT", a.listen),
            ));
        }
    }
    v
}

/// hyper's smallest read buffer.
const MIN_HEAD_SIZE: usize = 8192;
const H2_MIN_WINDOW: u32 = 65_535;
const H2_MAX_WINDOW: u32 = (1 << 31) - 1;
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

impl LimitsConfig {
    fn header_read(&self) -> Duration {
        crate::config::secs(self.header_read_timeout).unwrap_or(Duration::from_secs(10))
    }
    fn idle(&self) -> Duration {
        crate::config::secs(self.idle_timeout).unwrap_or(Duration::from_secs(60))
    }
    fn write(&self) -> Duration {
        crate::config::secs(self.write_timeout).unwrap_or(Duration::from_secs(30))
    }
    /// The longest one sequence run may take.
    pub fn mediation_budget(&self) -> Duration {
        crate::config::secs(self.mediation_timeout).unwrap_or(Duration::from_secs(60))
    }
    /// The longest run of one `<script>`.
    pub fn script_budget(&self) -> Duration {
        crate::config::secs(self.script_timeout).unwrap_or(Duration::from_millis(100))
    }
    /// The longest a database statement may take (and wait for a connection).
    pub fn db_budget(&self) -> Duration {
        crate::config::secs(self.db_timeout).unwrap_or(crate::database::DEFAULT_TIMEOUT)
    }
    /// The longest one fetch of a published WSDL may take.
    pub fn wsdl_fetch_budget(&self) -> Duration {
        crate::config::secs(self.wsdl_fetch_timeout).unwrap_or(Duration::from_secs(20))
    }
    /// The longest silence of a backend in the middle of a streamed response body.
    pub fn backend_read(&self) -> Duration {
        crate::config::secs(self.backend_read_timeout).unwrap_or(Duration::from_secs(30))
    }
    /// Problems with the values: (key, message).
    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if crate::config::secs(self.header_read_timeout).is_none() {
            v.push((
                "header_read_timeout",
                "header_read_timeout must be a positive number of seconds".into(),
            ));
        }
        if crate::config::secs(self.idle_timeout).is_none() {
            v.push((
                "idle_timeout",
                "idle_timeout must be a positive number of seconds".into(),
            ));
        }
        for (key, secs) in [
            ("write_timeout", self.write_timeout),
            ("backend_read_timeout", self.backend_read_timeout),
            ("mediation_timeout", self.mediation_timeout),
            ("script_timeout", self.script_timeout),
            ("db_timeout", self.db_timeout),
            ("wsdl_fetch_timeout", self.wsdl_fetch_timeout),
        ] {
            if crate::config::secs(secs).is_none() {
                v.push((key, format!("{key} must be a positive number of seconds")));
            }
        }
        for (key, n) in [
            ("eip_branches_in_flight", self.eip_branches_in_flight),
            ("eip_max_branches", self.eip_max_branches),
            ("db_max_connections", self.db_max_connections),
        ] {
            if n == 0 {
                v.push((key, format!("{key} must be at least 1")));
            }
        }
        if self.max_connections == 0 {
            v.push((
                "max_connections",
                "max_connections must be at least 1".into(),
            ));
        }
        if self.max_head_size < MIN_HEAD_SIZE {
            v.push((
                "max_head_size",
                format!("max_head_size must be at least {MIN_HEAD_SIZE}"),
            ));
        }
        if self.max_tree_factor == 0 {
            v.push((
                "max_tree_factor",
                "max_tree_factor must be at least 1".into(),
            ));
        }
        if self.script_memory < 1 << 20 {
            v.push((
                "script_memory",
                "script_memory must be at least 1048576 (1 MiB)".into(),
            ));
        }
        if self.max_mediations == 0 {
            v.push(("max_mediations", "max_mediations must be at least 1".into()));
        }
        if self.max_detached == 0 {
            v.push(("max_detached", "max_detached must be at least 1".into()));
        }
        if self.max_headers == 0 {
            v.push(("max_headers", "max_headers must be at least 1".into()));
        }
        if self.wsdl_fetch_max_size == 0 {
            v.push((
                "wsdl_fetch_max_size",
                "wsdl_fetch_max_size must be at least 1".into(),
            ));
        }
        if self.h2_max_concurrent_streams == 0 {
            v.push((
                "h2_max_concurrent_streams",
                "h2_max_concurrent_streams must be at least 1".into(),
            ));
        }
        // RFC 9113 §6.9.2: a window is at least the default 65,535 and at most 2^31-1
        for (k, w) in [
            ("h2_stream_window", self.h2_stream_window),
            ("h2_connection_window", self.h2_connection_window),
        ] {
            if !(H2_MIN_WINDOW..=H2_MAX_WINDOW).contains(&w) {
                v.push((
                    k,
                    format!("{k} must be between {H2_MIN_WINDOW} and {H2_MAX_WINDOW} bytes"),
                ));
            }
        }
        v
    }
}

/// What the accept loop needs besides the handler.
#[derive(Clone, Debug)]
pub struct Settings {
    pub limits: LimitsConfig,
    pub front: Arc<Front>,
    /// Log every response to a client (`--wire`).
    pub wire: bool,
    /// TLS for an HTTPS listener; `None` for plain HTTP.
    pub tls: Option<Arc<crate::tls::ReloadingTls>>,
}

impl Settings {
    pub fn new(config: &Config, front: Front, wire: bool) -> Settings {
        let limits = config.limits.clone();
        crate::wire::set_body_limit(limits.wire_body_limit);
        Settings {
            limits,
            front: Arc::new(front),
            wire,
            tls: None,
        }
    }
}

/// Per-connection bookkeeping shared by the socket, the service and the watchdog.
#[derive(Debug)]
struct ConnState {
    start: tokio::time::Instant,
    /// Milliseconds since `start` of the last byte read or written.
    last: AtomicU64,
    /// Requests whose response has not been fully sent.
    in_flight: AtomicUsize,
    /// Requests received so far.
    requests: AtomicU64,
    /// 0, or 1 + milliseconds since `start` when a write first found the socket full (the
    /// client is not reading); cleared by the next byte written.
    write_blocked: AtomicU64,
}

impl ConnState {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }
    /// Note the outcome of a write on the socket.
    fn wrote(&self, r: &Poll<std::io::Result<usize>>) {
        match r {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.touch();
                self.write_blocked.store(0, Ordering::Relaxed);
            }
            Poll::Pending if self.write_blocked.load(Ordering::Relaxed) == 0 => {
                let ms = self.start.elapsed().as_millis() as u64;
                self.write_blocked.store(ms + 1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The socket, noting every byte that moves.
struct Tracked {
    io: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.state.wrote(&r);
        r
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.state.wrote(&r);
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that counts as "in flight" until it is sent or dropped, optionally tapped
/// by the wire log.
pub struct ConnBody<B> {
    inner: Inner<B>,
    state: Arc<ConnState>,
}

enum Inner<B> {
    Plain(B),
    Tapped(crate::wire::Tap<B>),
}

impl<B> Drop for ConnBody<B> {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.state.touch();
    }
}

impl<B> Body for ConnBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.inner {
            Inner::Plain(b) => Pin::new(b).poll_frame(cx),
            Inner::Tapped(t) => Pin::new(t).poll_frame(cx),
        }
    }
    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Plain(b) => b.is_end_stream(),
            Inner::Tapped(t) => t.is_end_stream(),
        }
    }
    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Plain(b) => b.size_hint(),
            Inner::Tapped(t) => t.size_hint(),
        }
    }
}

/// Serve `listener` until `stop` completes, then let connections drain for up to `grace`.
/// `handler` answers each request that passed the [`Front`] checks.
pub async fn serve<H, Fut, B>(
    listener: TcpListener,
    settings: Settings,
    handler: H,
    stop: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Fn(Request<Incoming>, Option<SocketAddr>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limits = &settings.limits;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read())
        .max_buf_size(limits.max_head_size.max(MIN_HEAD_SIZE))
        .max_headers(limits.max_headers.max(1))
        .keep_alive(true);
    // HTTP/2 (h2 by ALPN over TLS, h2c with prior knowledge on the plain listener): the
    // header list is bounded like an HTTP/1.1 head, streams and flow-control windows by
    // `[limits] h2_*`
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_head_size).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.h2_max_concurrent_streams.max(1))
        .initial_stream_window_size(limits.h2_stream_window.clamp(H2_MIN_WINDOW, H2_MAX_WINDOW))
        .initial_connection_window_size(
            limits
                .h2_connection_window
                .clamp(H2_MIN_WINDOW, H2_MAX_WINDOW),
        );
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let times = Times {
        header_read: limits.header_read(),
        idle: limits.idle(),
        write: limits.write(),
    };
    let mut backoff = Duration::ZERO;
    tokio::pin!(stop);
    loop {
        // a free connection slot first: when there is none, new connections wait
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let (stream, peer) = match accepted {
            Ok(x) => {
                backoff = Duration::ZERO;
                x
            }
            Err(e) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(5), MAX_ACCEPT_BACKOFF);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "accept failed");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = &mut stop => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::new(ConnState {
            start: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            write_blocked: AtomicU64::new(0),
        });
        let make_svc = {
            let (state, handler, front, wire) = (
                state.clone(),
                handler.clone(),
                settings.front.clone(),
                settings.wire,
            );
            move |info: Option<crate::server::ConnInfo>| {
                let (state, handler, front) = (state.clone(), handler.clone(), front.clone());
                hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    if let Some(info) = &info {
                        req.extensions_mut().insert(info.clone());
                    }
                    state.requests.fetch_add(1, Ordering::SeqCst);
                    state.in_flight.fetch_add(1, Ordering::SeqCst);
                    let (state, handler, front) = (state.clone(), handler.clone(), front.clone());
                    async move {
                        let method = req.method().clone();
                        let resp = match front.check(&mut req, Some(peer)).await {
                            // a gRPC call gets its refusal as a gRPC status
                            Err(r) if crate::grpc::is_grpc(req.headers()) => {
                                crate::grpc::from_answer(r)
                                    .await
                                    .map(crate::strict::FrontBody::Answer)
                            }
                            Err(r) => r.map(crate::strict::FrontBody::Answer),
                            Ok(()) => handler(req, Some(peer))
                                .await
                                .map(crate::strict::FrontBody::Handled),
                        };
                        let resp = crate::strict::fix_framing(&method, resp);
                        let (parts, body) = resp.into_parts();
                        let inner = if wire {
                            let line = crate::wire::status_line(parts.status);
                            Inner::Tapped(crate::wire::Tap::new(
                                "<<",
                                peer.to_string(),
                                &line,
                                &parts.headers,
                                body,
                            ))
                        } else {
                            Inner::Plain(body)
                        };
                        Ok::<_, Infallible>(Response::from_parts(parts, ConnBody { inner, state }))
                    }
                })
            }
        };
        let io = Tracked {
            io: stream,
            state: state.clone(),
        };
        match &settings.tls {
            None => {
                let svc = make_svc(None);
                let conn =
                    graceful.watch(builder.serve_connection(TokioIo::new(io), svc).into_owned());
                tokio::spawn(async move {
                    let _permit = permit;
                    watch(conn, &state, times).await;
                });
            }
            Some(tls) => {
                // the handshake runs in the connection's task, under its own deadline
                let (acceptor, limit) = (tls.acceptor(), tls.handshake_timeout());
                let (builder, watcher) = (builder.clone(), graceful.watcher());
                tokio::spawn(async move {
                    let _permit = permit;
                    let io = match tokio::time::timeout(limit, acceptor.accept(io)).await {
                        Ok(Ok(io)) => io,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %peer, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let info = crate::server::ConnInfo {
                        tls: true,
                        client_subject: io
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .and_then(|c| crate::tls::subject(c.as_ref())),
                    };
                    let svc = make_svc(Some(info));
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(io), svc).into_owned());
                    watch(conn, &state, times).await;
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// The per-connection deadlines.
#[derive(Clone, Copy, Debug)]
struct Times {
    header_read: Duration,
    idle: Duration,
    write: Duration,
}

/// Drive a connection; close it (by dropping it, and with it the response streaming to it and
/// the backend connection behind that) when it misses the header-read deadline, idles too long
/// with nothing in flight, or accepts no byte of a response for the write timeout.
async fn watch<C, E>(conn: C, state: &ConnState, times: Times)
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let Times {
        header_read,
        idle,
        write,
    } = times;
    tokio::pin!(conn);
    let period = (header_read.min(idle).min(write) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = &mut conn => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection error");
                }
                return;
            }
            _ = tick.tick() => {
                let blocked = state.write_blocked.load(Ordering::Relaxed);
                if blocked > 0 {
                    let since = Duration::from_millis(blocked - 1);
                    if state.start.elapsed().saturating_sub(since) >= write {
                        tracing::debug!("client accepts no byte of its response: closing");
                        return;
                    }
                }
                if state.in_flight.load(Ordering::SeqCst) > 0 {
                    continue;
                }
                let now = state.start.elapsed();
                if state.requests.load(Ordering::SeqCst) == 0 {
                    if now >= header_read {
                        tracing::debug!("no request head within the header-read timeout: closing");
                        return;
                    }
                    continue;
                }
                let last = Duration::from_millis(state.last.load(Ordering::Relaxed));
                if now.saturating_sub(last) >= idle {
                    tracing::debug!("idle connection closed");
                    return;
                }
            }
        }
    }
}
