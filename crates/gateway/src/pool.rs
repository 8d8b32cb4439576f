//! The keep-alive pool of cleartext HTTP/1.1 backend connections (ADR 0450): hyper's
//! connection API (`hyper::client::conn::http1`) under a stack of idle connections per backend
//! address, behind one short lock.
//!
//! A request takes the most recently returned idle connection (or opens one), and the
//! connection comes back when its response body has been read to the end ([`Lease`]): nothing
//! is spawned per request and no checkout future or channel stands between the request and the
//! connection. A connection whose response was not read to the end, or whose exchange failed
//! or timed out, is closed, never reused. A pooled connection the backend closed while it was
//! idle is found out before anything is written, and the request goes out again on another one,
//! once per stale connection (a fresh connection is never retried). Idle connections are
//! closed after `pool_idle_timeout`, and at most `pool_max_idle_per_host` of them are kept per
//! address.
//!
//! HTTPS and HTTP/2 backends go through hyper-util's pooled client ([`crate::proxy::Clients`]):
//! TLS, ALPN and HTTP/2 multiplexing are its business.

use crate::proxy::{display_chain, error_chain_has, ClientBody, SendError};
use http::uri::Authority;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::client::legacy::connect::HttpConnector;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

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

struct Idle {
    tx: SendRequest<ClientBody>,
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

/// The connection a response came on, while its body is read. [`Lease::release`] once the
/// body has been read to the end returns it to the pool; dropping the lease closes it.
pub struct Lease {
    pool: Arc<PoolInner>,
    key: Key,
    tx: Option<SendRequest<ClientBody>>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("key", &self.key).finish()
    }
}

impl Lease {
    /// The response body was read to the end: the connection may carry the next request.
    pub fn release(mut self) {
        let Some(mut tx) = self.tx.take() else {
            return;
        };
        if tx.is_ready() {
            self.pool.put(self.key.clone(), tx);
        } else if !tx.is_closed() {
            // the connection task has not taken up the end of the exchange yet
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let (pool, key) = (self.pool.clone(), self.key.clone());
            rt.spawn(async move {
                if tx.ready().await.is_ok() {
                    pool.put(key, tx);
                }
            });
        }
    }
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
        mut req: Request<ClientBody>,
        timeout: Duration,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        let Some(key) = req.uri().authority().cloned().map(Key) else {
            return Err(SendError::Failed("no host in the URL".into()));
        };
        origin_form(req.uri_mut());
        match tokio::time::timeout(timeout, self.inner.clone().exchange(key, req)).await {
            Err(_) => Err(SendError::Timeout),
            Ok(r) => r,
        }
    }
}

impl PoolInner {
    async fn exchange(
        self: Arc<Self>,
        key: Key,
        mut req: Request<ClientBody>,
    ) -> Result<(Response<Incoming>, Lease), SendError> {
        loop {
            let (mut tx, reused) = match self.checkout(&key) {
                Some(tx) => (tx, true),
                // boxed: a new connection is rare, and its state (resolution, connect,
                // handshake) would otherwise enlarge every request's future
                None => (Box::pin(self.connect(&key)).await?, false),
            };
            match tx.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        pool: self,
                        key,
                        tx: Some(tx),
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match e.take_message() {
                    // a pooled connection closed before the request was written: the request
                    // never reached the backend, so another connection may carry it
                    Some(r) if reused => req = r,
                    _ => return Err(send_error(e.into_error())),
                },
            }
        }
    }

    /// The most recently returned idle connection that is still open and not expired.
    fn checkout(&self, key: &Key) -> Option<SendRequest<ClientBody>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let stack = idle.get_mut(key)?;
        while let Some(i) = stack.pop() {
            if i.tx.is_ready() && i.since.elapsed() < self.idle_timeout {
                return Some(i.tx);
            }
        }
        None
    }

    fn put(self: &Arc<Self>, key: Key, tx: SendRequest<ClientBody>) {
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
                tx,
                since: Instant::now(),
            });
        }
        if !self.reaping.swap(true, Ordering::AcqRel) {
            self.spawn_reaper();
        }
    }

    /// Close expired idle connections every half idle timeout (at least every 30 s, at most
    /// every 100 ms) until none is left.
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
                    stack.retain(|i| !i.tx.is_closed() && i.since.elapsed() < pool.idle_timeout);
                    !stack.is_empty()
                });
                if idle.is_empty() {
                    pool.reaping.store(false, Ordering::Release);
                    return;
                }
            }
        });
    }

    /// A new connection: TCP (`TCP_NODELAY`, connect timeout, every resolved address tried),
    /// the HTTP/1.1 handshake, its task spawned.
    async fn connect(&self, key: &Key) -> Result<SendRequest<ClientBody>, SendError> {
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
        let (tx, conn) = http1::Builder::new()
            .handshake::<_, ClientBody>(io)
            .await
            .map_err(|e| {
                SendError::Connect(format!("client error (Connect): {}", display_chain(&e)))
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "backend connection closed with an error");
            }
        });
        Ok(tx)
    }
}

/// A failed exchange, classified as hyper-util's client does it.
fn send_error(e: hyper::Error) -> SendError {
    if error_chain_has::<http_body_util::LengthLimitError>(&e)
        || error_chain_has::<crate::grpc::MessageTooLarge>(&e)
    {
        SendError::BodyTooLarge
    } else {
        SendError::Failed(format!("client error (SendRequest): {}", display_chain(&e)))
    }
}

/// `http://host/path?q` as `/path?q` (the request line's origin form).
fn origin_form(uri: &mut Uri) {
    *uri = match uri.path_and_query() {
        Some(p) if p.as_str() != "/" => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(p.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Either, Full};
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

    async fn read(resp: Response<Incoming>, lease: Lease) -> String {
        let b = resp.into_body().collect().await.unwrap().to_bytes();
        lease.release();
        String::from_utf8(b.to_vec()).unwrap()
    }

    use hyper_util::rt::TokioIo;

    #[tokio::test]
    async fn connections_are_reused_once_their_response_is_read() {
        let (addr, accepted) = backend(None).await;
        let p = pool();
        let t = Duration::from_secs(5);
        for i in 0..5 {
            let (resp, lease) = p.send(get(addr, &format!("/a?i={i}")), t).await.unwrap();
            // the request line is in origin form
            assert_eq!(read(resp, lease).await, format!("hello /a?i={i}"));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(p.idle_count(&addr.to_string()), 1);
        // two at once: two connections, both kept afterwards
        let (r1, l1) = p.send(get(addr, "/"), t).await.unwrap();
        let (r2, l2) = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(read(r1, l1).await, "hello /");
        assert_eq!(read(r2, l2).await, "hello /");
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
            let (resp, lease) = p.send(get(addr, "/big"), t).await.unwrap();
            assert_eq!(read(resp, lease).await.len(), 4 << 20);
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
            let (resp, lease) = p.send(get(addr, "/"), t).await.unwrap();
            assert_eq!(read(resp, lease).await, "ok");
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
        let (resp, lease) = p.send(get(addr, "/"), t).await.unwrap();
        drop((resp, lease));
        assert_eq!(p.idle_count(&addr.to_string()), 0);
        let (resp, lease) = p.send(get(addr, "/"), t).await.unwrap();
        assert_eq!(read(resp, lease).await, "hello /");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_backend_closed_is_not_used_again() {
        // the backend closes every connection after one request
        let (addr, accepted) = backend(Some(1)).await;
        let p = pool();
        let t = Duration::from_secs(5);
        for _ in 0..3 {
            let (resp, lease) = p.send(get(addr, "/x"), t).await.unwrap();
            assert_eq!(read(resp, lease).await, "hello /x");
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
        let (resp, lease) = p.send(get(addr, "/"), t).await.unwrap();
        read(resp, lease).await;
        assert_eq!(p.idle_count(&addr.to_string()), 1);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(p.idle_count(&addr.to_string()), 0, "closed by the reaper");
        let (resp, lease) = p.send(get(addr, "/"), t).await.unwrap();
        read(resp, lease).await;
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
}
