//! In-process HTTP servers for tests: [`MockOrigin`] (a scripted backend that records every
//! request) and [`RecordingProxy`] (a recording pass-through in front of a real server, e.g.
//! an OAuth2 peer's token endpoint, that can also be told to fail).
//!
//! Both run on the current tokio runtime, on `127.0.0.1:0`, HTTP/1.1 with keep-alive, and stop
//! when dropped (the accept loop and every connection task are aborted).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{AbortHandle, JoinSet};

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// Path and query, exactly as on the request line (`/api/x?a=1`).
    pub uri: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client's address (to tell connections apart: keep-alive reuse).
    pub peer: SocketAddr,
}

impl RecordedRequest {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or("")
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.split_once('?').map(|(_, q)| q)
    }

    /// A header as text (the first one of that name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as (lossy) UTF-8.
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as `application/x-www-form-urlencoded` pairs (percent-decoded).
    pub fn form(&self) -> Vec<(String, String)> {
        url_decode_pairs(&self.body)
    }
}

fn url_decode_pairs(body: &[u8]) -> Vec<(String, String)> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    fn dec(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'+' {
                out.push(b' ');
            } else if b == b'%' {
                match (
                    bytes.get(i + 1).and_then(|&h| hex(h)),
                    bytes.get(i + 2).and_then(|&l| hex(l)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            } else {
                out.push(b);
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// What a scripted server answers.
#[derive(Clone, Debug)]
pub struct MockResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Wait this long before answering (tokio time: follows a paused clock).
    pub delay: Option<Duration>,
    /// Close the connection without answering (a broken backend).
    pub abort: bool,
}

impl MockResponse {
    /// An empty response with this status.
    pub fn new(status: u16) -> MockResponse {
        MockResponse {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Bytes::new(),
            delay: None,
            abort: false,
        }
    }

    /// 200 with a text body.
    pub fn text(body: impl Into<String>) -> MockResponse {
        MockResponse::new(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.into())
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> MockResponse {
        MockResponse::new(status)
            .header("content-type", "application/json")
            .body(value.to_string())
    }

    /// Close the connection without an answer.
    pub fn aborted() -> MockResponse {
        MockResponse {
            abort: true,
            ..MockResponse::new(200)
        }
    }

    /// Add a header. Panics on an invalid name or value (a bug in the test).
    pub fn header(mut self, name: &str, value: &str) -> MockResponse {
        let n = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("bad header name {name:?}: {e}"));
        let v = HeaderValue::from_str(value)
            .unwrap_or_else(|e| panic!("bad header value {value:?}: {e}"));
        self.headers.push((n, v));
        self
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> MockResponse {
        self.body = body.into();
        self
    }

    /// Answer after `d`.
    pub fn delay(mut self, d: Duration) -> MockResponse {
        self.delay = Some(d);
        self
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(self.body));
        *resp.status_mut() = self.status;
        for (n, v) in self.headers {
            resp.headers_mut().append(n, v);
        }
        resp
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type AsyncHandler = Arc<dyn Fn(RecordedRequest) -> BoxFuture<MockResponse> + Send + Sync>;

#[derive(Debug)]
struct AbortConnection;

impl std::fmt::Display for AbortConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection aborted by the test server")
    }
}

impl std::error::Error for AbortConnection {}

/// Shared log of requests, with a notifier for waiters.
#[derive(Debug, Default)]
struct Log {
    entries: Mutex<Vec<RecordedRequest>>,
    changed: Notify,
}

impl Log {
    fn push(&self, r: RecordedRequest) {
        if let Ok(mut e) = self.entries.lock() {
            e.push(r);
        }
        self.changed.notify_waiters();
    }

    fn snapshot(&self) -> Vec<RecordedRequest> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    fn clear(&self) {
        if let Ok(mut e) = self.entries.lock() {
            e.clear();
        }
    }

    async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.changed.notified();
                if self.len() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Serve `handler` on `listener` until aborted. Each connection task lives in the JoinSet,
/// which is dropped (aborting them all) when the accept task is aborted.
fn serve(listener: TcpListener, log: Arc<Log>, handler: AsyncHandler) -> AbortHandle {
    let task = tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            // Reap finished connections so the set does not grow without bound.
            while conns.try_join_next().is_some() {}
            let log = log.clone();
            let handler = handler.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let log = log.clone();
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let rec = RecordedRequest {
                            method: parts.method,
                            uri: parts
                                .uri
                                .path_and_query()
                                .map(|p| p.as_str().to_string())
                                .unwrap_or_else(|| parts.uri.to_string()),
                            version: parts.version,
                            headers: parts.headers,
                            body,
                            peer,
                        };
                        log.push(rec.clone());
                        let answer = handler(rec).await;
                        if let Some(d) = answer.delay {
                            tokio::time::sleep(d).await;
                        }
                        if answer.abort {
                            return Err(AbortConnection);
                        }
                        Ok::<_, AbortConnection>(answer.into_response())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    task.abort_handle()
}

async fn bind(addr: Option<SocketAddr>) -> TcpListener {
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot bind a test server on {addr}: {e}"))
}

/// A scripted backend on 127.0.0.1 that records every request.
#[derive(Debug)]
pub struct MockOrigin {
    addr: SocketAddr,
    log: Arc<Log>,
    task: AbortHandle,
}

impl MockOrigin {
    /// Start a backend answering every request with `handler(&request)`.
    pub async fn start<F>(handler: F) -> MockOrigin
    where
        F: Fn(&RecordedRequest) -> MockResponse + Send + Sync + 'static,
    {
        let handler = Arc::new(handler);
        MockOrigin::start_async(move |req| {
            let h = handler.clone();
            async move { h(&req) }
        })
        .await
    }

    /// Start a backend whose handler is async (e.g. to wait on something the test controls).
    pub async fn start_async<F, Fut>(handler: F) -> MockOrigin
    where
        F: Fn(RecordedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = MockResponse> + Send + 'static,
    {
        MockOrigin::start_on(None, handler).await
    }

    /// Like [`MockOrigin::start_async`] on a given address (e.g. a port a test reserved).
    pub async fn start_on<F, Fut>(addr: Option<SocketAddr>, handler: F) -> MockOrigin
    where
        F: Fn(RecordedRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = MockResponse> + Send + 'static,
    {
        let listener = bind(addr).await;
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let log = Arc::new(Log::default());
        let handler: AsyncHandler = Arc::new(move |r| Box::pin(handler(r)));
        let task = serve(listener, log.clone(), handler);
        MockOrigin { addr, log, task }
    }

    /// A backend behind endpoint security: `ok` to a request with a bearer token, 401 to one
    /// without; it records the token it got.
    pub async fn bearer() -> MockOrigin {
        MockOrigin::start(|r| match r.header("authorization") {
            Some(a) if a.starts_with("Bearer ") && a.len() > 7 => MockResponse::text("ok"),
            _ => MockResponse::new(401),
        })
        .await
    }

    /// A backend that holds every request until the test adds permits to the gate (the
    /// semaphore), then answers `answer(&request)` and counts the request among those it ended.
    pub async fn held<F>(answer: F) -> (MockOrigin, Arc<tokio::sync::Semaphore>, Arc<AtomicUsize>)
    where
        F: Fn(&RecordedRequest) -> MockResponse + Send + Sync + 'static,
    {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let (g, e, answer) = (gate.clone(), ended.clone(), Arc::new(answer));
        let origin = MockOrigin::start_async(move |r| {
            let (g, e, answer) = (g.clone(), e.clone(), answer.clone());
            async move {
                if let Ok(p) = g.acquire().await {
                    p.forget();
                }
                e.fetch_add(1, Ordering::SeqCst);
                answer(&r)
            }
        })
        .await;
        (origin, gate, ended)
    }

    /// A backend that echoes the request back as JSON: `{"method","uri","headers":{..},"body"}`.
    pub async fn echo() -> MockOrigin {
        MockOrigin::start(|r| {
            let headers: serde_json::Map<String, serde_json::Value> = r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        serde_json::Value::String(String::from_utf8_lossy(v.as_bytes()).into()),
                    )
                })
                .collect();
            MockResponse::json(
                200,
                &serde_json::json!({
                    "method": r.method.as_str(),
                    "uri": r.uri,
                    "headers": headers,
                    "body": r.body_str(),
                }),
            )
        })
        .await
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.log.len()
    }

    /// Forget the requests recorded so far.
    pub fn clear(&self) {
        self.log.clear()
    }

    /// Wait until at least `n` requests arrived; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        self.log.wait_for(n, timeout).await
    }

    /// Stop serving (connections are dropped); the port is free again.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for MockOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Interceptor = Arc<dyn Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync>;

/// A recording reverse proxy on 127.0.0.1 in front of a real server (`target`, e.g.
/// `peers::authlib().base_url()`): every request is recorded byte for byte, then forwarded
/// with the same method, path, headers (`Host` rewritten) and body, and the real answer is
/// returned. [`RecordingProxy::fail_with`] makes it answer by itself instead (token endpoint
/// failing), [`RecordingProxy::pass`] restores forwarding.
pub struct RecordingProxy {
    addr: SocketAddr,
    log: Arc<Log>,
    override_response: Arc<Mutex<Option<Interceptor>>>,
    task: AbortHandle,
}

impl std::fmt::Debug for RecordingProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingProxy")
            .field("addr", &self.addr)
            .field("requests", &self.log.len())
            .finish()
    }
}

impl RecordingProxy {
    /// Start a proxy to `target` (`http://127.0.0.1:PORT`, no path).
    pub async fn start(target: &str) -> RecordingProxy {
        let target: http::Uri = target
            .parse()
            .unwrap_or_else(|e| panic!("bad proxy target {target:?}: {e}"));
        let authority = target
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_else(|| panic!("proxy target {target} has no host:port"));
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let override_response: Arc<Mutex<Option<Interceptor>>> = Arc::new(Mutex::new(None));
        let ov = override_response.clone();
        let handler: AsyncHandler = Arc::new(move |rec: RecordedRequest| {
            let client = client.clone();
            let authority = authority.clone();
            let intercept = ov.lock().ok().and_then(|g| g.clone());
            Box::pin(async move {
                if let Some(f) = intercept {
                    if let Some(answer) = f(&rec) {
                        return answer;
                    }
                }
                forward(&client, &authority, rec).await
            })
        });
        let listener = bind(None).await;
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local_addr: {e}"));
        let log = Arc::new(Log::default());
        let task = serve(listener, log.clone(), handler);
        RecordingProxy {
            addr,
            log,
            override_response,
            task,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` — use it in place of the target's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `url() + path`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url())
    }

    /// Every request so far (including those answered by an override).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.log.snapshot()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.log.len()
    }

    /// How many requests arrived for this path (without query).
    pub fn count_path(&self, path: &str) -> usize {
        self.log
            .snapshot()
            .iter()
            .filter(|r| r.path() == path)
            .count()
    }

    /// Forget the requests recorded so far.
    pub fn clear(&self) {
        self.log.clear()
    }

    /// Wait until at least `n` requests arrived; false on timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        self.log.wait_for(n, timeout).await
    }

    /// Answer every request with `response` instead of forwarding (until [`RecordingProxy::pass`]).
    pub fn fail_with(&self, response: MockResponse) {
        self.intercept(move |_| Some(response.clone()));
    }

    /// Decide per request: `Some` answers it, `None` forwards it.
    pub fn intercept<F>(&self, f: F)
    where
        F: Fn(&RecordedRequest) -> Option<MockResponse> + Send + Sync + 'static,
    {
        if let Ok(mut g) = self.override_response.lock() {
            *g = Some(Arc::new(f));
        }
    }

    /// Forward everything again.
    pub fn pass(&self) {
        if let Ok(mut g) = self.override_response.lock() {
            *g = None;
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

async fn forward<C>(
    client: &hyper_util::client::legacy::Client<C, Full<Bytes>>,
    authority: &str,
    rec: RecordedRequest,
) -> MockResponse
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let uri = format!("http://{authority}{}", rec.uri);
    let mut req = Request::new(Full::new(rec.body.clone()));
    *req.method_mut() = rec.method.clone();
    *req.uri_mut() = match uri.parse() {
        Ok(u) => u,
        Err(_) => return MockResponse::new(502).body("recording proxy: bad uri"),
    };
    for (k, v) in rec.headers.iter() {
        if HOP_BY_HOP.contains(&k.as_str()) || k == http::header::HOST {
            continue;
        }
        req.headers_mut().append(k.clone(), v.clone());
    }
    if let Ok(h) = HeaderValue::from_str(authority) {
        req.headers_mut().insert(http::header::HOST, h);
    }
    let resp = match client.request(req).await {
        Ok(r) => r,
        Err(e) => return MockResponse::new(502).body(format!("recording proxy: {e}")),
    };
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut answer = MockResponse::new(parts.status.as_u16()).body(body);
    for (k, v) in parts.headers.iter() {
        if HOP_BY_HOP.contains(&k.as_str()) || k == http::header::CONTENT_LENGTH {
            continue;
        }
        answer.headers.push((k.clone(), v.clone()));
    }
    answer
}
