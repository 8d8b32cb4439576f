//! Hostile and careless peers against a running gateway, over raw sockets on 127.0.0.1:
//! silent and slow connections, connection floods, malformed and smuggling-prone request
//! heads, backends with conflicting framing, the admin listener, and what the wire log
//! shows of secrets and large bodies.

use std::time::Duration;
use synaptic_gateway::ServeOptions;
use synaptic_tests::free_port;
use synaptic_tests::gateway::{start_gateway, GatewayDir, TestGateway};
use synaptic_tests::http::post_body;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

fn api(backend: &str, extra: &str) -> String {
    format!(
        r#"
{extra}

[[api]]
name = "Shop"
context = "/shop"
endpoint = "{backend}"

[[api.resource]]
methods = ["GET", "POST", "PURGE"]
url_mapping = "/*"
"#
    )
}

async fn gateway(backend: &str, extra: &str) -> TestGateway {
    start_gateway(&api(backend, extra), &[]).await
}

/// Read until the peer closes; `None` when it is still open after `wait`.
async fn closed_within(s: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = Instant::now() + wait;
    loop {
        let mut buf = [0u8; 4096];
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send a raw request head (and body) on a new connection and read one response:
/// (status, head and body as text).
async fn raw(gw: &TestGateway, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(request).await.unwrap();
    read_response(&mut s).await
}

/// Read one response (up to its `Content-Length`, or until the peer closes).
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!(
                "no complete response in time: {:?}",
                String::from_utf8_lossy(&got)
            ),
        };
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if n == 0 {
            return (status, text);
        }
        if let Some(i) = text.find("\r\n\r\n") {
            let len = text[..i].lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if let Some(len) = len {
                if got.len() >= i + 4 + len {
                    return (status, text);
                }
            }
        }
    }
}

/// One request on a keep-alive connection; returns the status.
async fn request_on(s: &mut TcpStream, path: &str) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(s).await.0
}

#[tokio::test]
async fn silent_one_byte_and_bare_http2_preface_connections_are_closed() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "[limits]\nheader_read_timeout = 1.0\n").await;
    let mut silent = TcpStream::connect(gw.addr()).await.unwrap();
    let mut one = TcpStream::connect(gw.addr()).await.unwrap();
    one.write_all(b"G").await.unwrap();
    let mut h2 = TcpStream::connect(gw.addr()).await.unwrap();
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut partial = TcpStream::connect(gw.addr()).await.unwrap();
    partial
        .write_all(b"GET /shop/a HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    for (name, s) in [
        ("silent", &mut silent),
        ("one byte", &mut one),
        ("HTTP/2 preface", &mut h2),
        ("partial head", &mut partial),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(5)).await.is_some(),
            "{name} connection still open"
        );
    }
    // the gateway still answers
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(request_on(&mut s, "/health").await, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "[limits]\nidle_timeout = 1.0\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(request_on(&mut s, "/shop/a").await, 200);
    assert_eq!(request_on(&mut s, "/shop/b").await, 200);
    let t0 = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5))
        .await
        .is_some());
    assert!(t0.elapsed() >= Duration::from_millis(900));
    gw.shutdown().await;
}

#[tokio::test]
async fn idle_http2_connections_are_closed() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "[limits]\nidle_timeout = 1.0\n").await;
    let stream = TcpStream::connect(gw.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get(format!("http://{}/shop/a", gw.addr()))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    drop(resp);
    // nothing in flight, nothing sent: the gateway closes the connection
    let t0 = Instant::now();
    timeout(Duration::from_secs(5), conn)
        .await
        .expect("the idle HTTP/2 connection was closed")
        .unwrap()
        .ok();
    assert!(t0.elapsed() >= Duration::from_millis(500));
    gw.shutdown().await;
}

#[tokio::test]
async fn at_the_connection_limit_new_connections_wait_and_open_ones_are_served() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(
        &origin.url(),
        "[limits]\nmax_connections = 2\nheader_read_timeout = 30.0\n",
    )
    .await;
    let mut served = TcpStream::connect(gw.addr()).await.unwrap();
    assert_eq!(request_on(&mut served, "/shop/a").await, 200);
    let silent = TcpStream::connect(gw.addr()).await.unwrap();
    // both slots are taken: the third connection's request waits
    let mut waiting = TcpStream::connect(gw.addr()).await.unwrap();
    waiting
        .write_all(b"GET /shop/w HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        timeout(Duration::from_millis(700), waiting.read(&mut buf))
            .await
            .is_err(),
        "served beyond the connection limit"
    );
    // the open connection keeps being served
    assert_eq!(request_on(&mut served, "/shop/b").await, 200);
    // a slot frees: the waiting connection is served
    drop(silent);
    let n = timeout(Duration::from_secs(5), waiting.read(&mut buf))
        .await
        .expect("served once a slot freed")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_flood_of_silent_sockets_does_not_stop_the_gateway() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(
        &origin.url(),
        "[limits]\nmax_connections = 50\nheader_read_timeout = 1.0\n",
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..300 {
        if let Ok(s) = TcpStream::connect(gw.addr()).await {
            flood.push(s);
        }
    }
    // within a few header-read timeouts, a real client gets through
    let t0 = Instant::now();
    let c = reqwest::Client::new();
    let r = timeout(Duration::from_secs(20), c.get(gw.url("/shop/after")).send())
        .await
        .expect("answered while the flood sockets time out")
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() < Duration::from_secs(20));
    drop(flood);
    gw.shutdown().await;
}

#[tokio::test]
async fn request_heads_are_held_to_http_1_1() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "[limits]\nmax_head_size = 16384\n").await;
    // Host: missing, repeated
    let (s, _) = raw(&gw, b"GET /shop/a HTTP/1.1\r\n\r\n").await;
    assert_eq!(s, 400);
    let (s, _) = raw(&gw, b"GET /shop/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").await;
    assert_eq!(s, 400);
    // methods: TRACE refused, unknown tokens refused, a method an API lists passes
    let (s, _) = raw(&gw, b"TRACE /shop/a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(s, 405);
    let (s, _) = raw(&gw, b"FOOBAR /shop/a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(s, 501);
    let (s, _) = raw(
        &gw,
        b"PURGE /shop/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s, 200);
    // Transfer-Encoding other than plain chunked
    let (s, _) = raw(
        &gw,
        b"POST /shop/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(s, 400);
    // the head size limit
    let big = format!(
        "GET /shop/a HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let (s, _) = raw(&gw, big.as_bytes()).await;
    assert_eq!(s, 431);
    let fits = format!(
        "GET /shop/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(8_000)
    );
    let (s, _) = raw(&gw, fits.as_bytes()).await;
    assert_eq!(s, 200);
    let forwarded = origin.requests().len();
    assert_eq!(
        forwarded, 2,
        "only the accepted requests reached the backend"
    );
    // URL-rewriting headers never reach a backend
    let (s, _) = raw(
        &gw,
        b"GET /shop/a HTTP/1.1\r\nHost: x\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(s, 200);
    let last = origin.requests().pop().unwrap();
    assert!(last.header("x-original-url").is_none());
    assert!(last.header("x-rewrite-url").is_none());
    gw.shutdown().await;
}

/// The HTTP/1.1 `Upgrade: h2c` handshake is not taken up: the request is answered over
/// HTTP/1.1 (no `101`, no HTTP/2 frames after it) and the upgrade headers stop at the gateway.
#[tokio::test]
async fn an_h2c_upgrade_request_is_served_over_http_1_1() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "").await;
    let (status, text) = raw(
        &gw,
        b"GET /shop/up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let sent = origin.requests().pop().unwrap();
    assert_eq!(sent.path(), "/up");
    for h in ["upgrade", "http2-settings"] {
        assert!(sent.header(h).is_none(), "{h} forwarded");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn content_length_with_chunked_smuggles_nothing_past_the_gateway() {
    let origin = MockOrigin::echo().await;
    let gw = gateway(&origin.url(), "[limits]\nidle_timeout = 1.0\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(
        b"POST /shop/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /shop/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let got = closed_within(&mut s, Duration::from_secs(10))
        .await
        .expect("closed once idle");
    let text = String::from_utf8_lossy(&got);
    // chunked wins: the POST has an empty body; whatever follows is a request of its own that
    // the gateway answered itself, never bytes hidden inside another request to the backend
    let requests = origin.requests();
    let post = requests
        .iter()
        .find(|r| r.path() == "/a")
        .expect("the POST");
    assert!(post.body_str().is_empty());
    assert_eq!(text.matches("HTTP/1.1 ").count(), requests.len(), "{text}");
    gw.shutdown().await;
}

/// A backend that answers each connection's first request with `answer` and closes.
async fn hostile_backend(answer: &'static [u8]) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_backend_response_with_length_and_chunked_is_framed_by_chunked() {
    // both `Content-Length: 5` and a chunked body of "hello world"
    let backend = hostile_backend(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
    )
    .await;
    let gw = gateway(&backend, "").await;
    let r = reqwest::get(gw.url("/shop/a")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(r.text().await.unwrap(), "hello world");
    gw.shutdown().await;
}

#[tokio::test]
async fn metrics_and_health_details_move_to_the_admin_listener() {
    let origin = MockOrigin::echo().await;
    let admin = free_port();
    let gw = gateway(
        &origin.url(),
        &format!("[admin]\nlisten = \"127.0.0.1:{admin}\"\n"),
    )
    .await;
    let c = reqwest::Client::new();
    let public = |p: &str| gw.url(p);
    let r = c.get(public("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(public("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"status": "UP"}));
    let r = c.post(public("/oauth2/admin/purge")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(c.get(public("/shop/a")).send().await.unwrap().status(), 200);
    let a = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    let r = c.get(a("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("synaptic_requests_total"));
    let v: serde_json::Value = c
        .get(a("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v.get("generation").is_some(), "{v}");
    // APIs are not served on the admin port
    assert_eq!(c.get(a("/shop/a")).send().await.unwrap().status(), 404);
    gw.shutdown().await;
}

// ===== the wire log =====

#[tokio::test]
async fn the_wire_log_redacts_every_credential_form_and_shows_only_a_prefix_of_bodies() {
    let (logs, _guard) = synaptic_tests::logs::capture();
    let big = format!(
        "{{\"accessToken\":\"resp-SECRET-1\",\"data\":\"{}\"}}",
        "z".repeat(300_000)
    );
    let big_len = big.len();
    let origin = MockOrigin::start(move |_| {
        MockResponse::new(200)
            .header("content-type", "application/json")
            .header(
                "location",
                "https://app.example/cb?code=loc-SECRET-2&state=s#access_token=loc-SECRET-3",
            )
            .header("x-auth-token", "hdr-SECRET-4")
            .body(big.clone())
    })
    .await;
    let dir = GatewayDir::new(&api(&origin.url(), ""), &[]);
    let gw = TestGateway::start(
        dir,
        ServeOptions {
            wire: true,
            ..Default::default()
        },
    )
    .await;
    let body = concat!(
        r#"{"clientSecret":"body-SECRET-5","client_secret":"body-SECRET-6","#,
        r#""xml":"<a:password>body-SECRET-7</a:password><x password=\"body-SECRET-8\"/>","#,
        r#""form":"user=bob&password=body-SECRET-9", "password":"body-SECRET-10"#
    );
    let r = reqwest::Client::new()
        .post(gw.url("/shop/login?id_token=qs-SECRET-11&x=1"))
        .header("content-type", "text/plain")
        .header("x-access-token", "hdr-SECRET-12")
        .header("private-token", "hdr-SECRET-13")
        .header("x-user", "bob")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = r.text().await.unwrap();
    assert_eq!(got.len(), big_len, "the whole body reaches the client");
    gw.shutdown().await;
    let text = logs.text();
    assert!(
        !text.contains("SECRET"),
        "a secret reached the logs:\n{}",
        &text[..text.len().min(20_000)]
    );
    assert!(text.contains("x-user: bob"), "{text}");
    assert!(text.contains("more bytes not shown"), "{text}");
    let longest = text.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest < 4096 + 512,
        "a log line of {longest} bytes: bodies are not cut"
    );
}

// ===== timeouts after the response head =====

/// A backend that answers every request with a head announcing 100 bytes, sends 10 of them
/// and then stalls, holding the connection open.
async fn stalling_body_backend() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
                    .await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                drop(s);
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_backend_stalling_mid_body_ends_the_streamed_response_within_the_read_timeout() {
    let backend = stalling_body_backend().await;
    let gw = gateway(&backend, "[limits]\nbackend_read_timeout = 1.0\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"GET /shop/a HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    let got = closed_within(&mut s, Duration::from_secs(8))
        .await
        .expect("the response is aborted, not held open");
    let took = t0.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("0123456789"), "only the part sent: {text}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_backend_stalling_mid_body_through_an_out_flow_gets_a_504_within_the_timeout() {
    let backend = stalling_body_backend().await;
    let config = format!(
        "{}out_sequence = \"out\"\ntimeout = 1\n",
        api(&backend, "").replace("[[api.resource]]", "").replace(
            "methods = [\"GET\", \"POST\", \"PURGE\"]\nurl_mapping = \"/*\"\n",
            ""
        )
    );
    let out = r#"<sequence name="out" xmlns="http://ws.apache.org/ns/synapse">
        <property name="seen" value="yes"/>
    </sequence>"#;
    let gw = start_gateway(&config, &[("sequences/out.xml", out)]).await;
    let t0 = Instant::now();
    let (status, text) = raw(&gw, b"GET /shop/a HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 504, "{text}");
    assert!(text.contains("101504"), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_releases_the_backend_within_the_write_timeout() {
    // a backend streaming an endless body; it notes when its connection is released
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, mut released) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await;
                while s.write_all(chunk.as_bytes()).await.is_ok() {}
                let _ = tx.send(Instant::now());
            });
        }
    });
    let gw = gateway(&format!("http://{addr}"), "[limits]\nwrite_timeout = 1.0\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"GET /shop/big HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // never read: the socket buffers fill up and the gateway cannot write any more
    let t0 = Instant::now();
    let at = timeout(Duration::from_secs(15), released.recv())
        .await
        .expect("the backend connection is released")
        .unwrap();
    assert!(at.duration_since(t0) >= Duration::from_millis(900));
    // the gateway keeps serving others
    let (status, _) = raw(&gw, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status, 200);
    drop(s);
    gw.shutdown().await;
}

// ===== request bodies streamed to a backend =====

/// What a backend saw: requests whose body arrived complete, and connections accepted.
#[derive(Clone, Default)]
struct Seen {
    complete: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Seen {
    fn complete(&self) -> Vec<String> {
        self.complete.lock().unwrap().clone()
    }
    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A hyper backend that reads each request body whole before answering `200 ok`, and records
/// the requests it received complete.
async fn recording_backend() -> (String, Seen) {
    use http_body_util::BodyExt;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Seen::default();
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            s2.connections
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let seen = s2.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let seen = seen.clone();
                        async move {
                            let path = req.uri().path().to_string();
                            let body = req.into_body().collect().await?.to_bytes();
                            seen.complete
                                .lock()
                                .unwrap()
                                .push(format!("{path} {}", String::from_utf8_lossy(&body)));
                            Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(
                                bytes::Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_400_and_never_completes_a_request_upstream() {
    let (backend, seen) = recording_backend().await;
    let gw = gateway(&backend, "").await;
    // a good request first: its connection goes back to the pool
    let (status, _) = raw(
        &gw,
        b"POST /shop/good HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert_eq!(status, 200);
    // then a chunked body with a broken chunk size after a valid chunk
    let (status, text) = raw(
        &gw,
        b"POST /shop/bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nworld\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("400002"), "{text}");
    // the connection that carried the broken request was not reused
    let (status, _) = raw(
        &gw,
        b"POST /shop/after HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen.complete(), vec!["/good hi", "/after ok"]);
    assert_eq!(seen.connections(), 2, "the aborted connection is discarded");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_413_and_never_completes_a_request_upstream() {
    let (backend, seen) = recording_backend().await;
    let gw = gateway(&backend, "[server]\nmax_body_size = 1024\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"POST /shop/big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    for _ in 0..8 {
        let chunk = format!("200\r\n{}\r\n", "y".repeat(0x200));
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("413001"), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(seen.complete().is_empty(), "{:?}", seen.complete());
    gw.shutdown().await;
}

#[tokio::test]
async fn a_slow_streamed_body_is_a_408_and_never_completes_a_request_upstream() {
    let (backend, seen) = recording_backend().await;
    let gw = gateway(&backend, "[server]\ntimeout = 1\n").await;
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"POST /shop/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789")
        .await
        .unwrap();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("408001"), "{text}");
    // the rest arrives too late: it completes nothing upstream
    let _ = s.write_all(b"0123456789").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(seen.complete().is_empty(), "{:?}", seen.complete());
    gw.shutdown().await;
}

#[tokio::test]
async fn request_buffering_reads_the_body_before_the_backend_sees_anything() {
    let (backend, seen) = recording_backend().await;
    let config = format!(
        "{}request_buffering = true\n",
        api(&backend, "[server]\ntimeout = 1\n")
            .replace("[[api.resource]]", "")
            .replace(
                "methods = [\"GET\", \"POST\", \"PURGE\"]\nurl_mapping = \"/*\"\n",
                ""
            )
    );
    let gw = start_gateway(&config, &[]).await;
    // a slow body: 408, and the backend never even saw a connection
    let mut s = TcpStream::connect(gw.addr()).await.unwrap();
    s.write_all(b"POST /shop/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789")
        .await
        .unwrap();
    let (status, text) = read_response(&mut s).await;
    assert_eq!(status, 408, "{text}");
    assert_eq!(seen.connections(), 0);
    // a malformed chunked body: 400, and still nothing upstream
    let (status, text) = raw(
        &gw,
        b"POST /shop/bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n",
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(seen.connections(), 0);
    // a good chunked body arrives whole
    let (status, _) = raw(
        &gw,
        b"POST /shop/ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(seen.complete(), vec!["/ok hello"]);
    gw.shutdown().await;
}

// ===== mediation cost =====

const HEAVY: &str = r#"<sequence name="heavy" xmlns="http://ws.apache.org/ns/synapse">
    <property name="n" expression="count(//*)"/>
    <payloadFactory media-type="json">
        <format>{"n":"$1"}</format>
        <args><arg expression="get-property('n')"/></args>
    </payloadFactory>
    <respond/>
</sequence>"#;

fn heavy_api(extra: &str) -> String {
    format!(
        r#"
{extra}

[[api]]
name = "Heavy"
context = "/heavy"
in_sequence = "heavy"
"#
    )
}

async fn post(gw: &TestGateway, ct: &str, body: String) -> (u16, String, Duration) {
    let t0 = Instant::now();
    let r = post_body(&reqwest::Client::new(), &gw.url("/heavy/x"), ct, body).await;
    let status = r.status().as_u16();
    (status, r.text().await.unwrap(), t0.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_element_with_60000_attributes_costs_no_quadratic_time() {
    // a tree factor high enough to let the JSON form below be built
    let gw = start_gateway(
        &heavy_api("[limits]\nmax_tree_factor = 1000\n"),
        &[("sequences/heavy.xml", HEAVY)],
    )
    .await;
    let attrs: String = (0..60_000).map(|i| format!(" a{i}=\"v\"")).collect();
    let (status, text, took) = post(&gw, "application/xml", format!("<r{attrs}/>")).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("attributes"), "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // the same through JSON (`@` keys become attributes): converted up to the per-element
    // limit, answered at once
    let keys: Vec<String> = (0..60_000).map(|i| format!("\"@a{i}\":\"v\"")).collect();
    let json = format!("{{\"r\":{{{}}}}}", keys.join(","));
    let (status, text, took) = post(&gw, "application/json", json).await;
    assert_eq!(status, 200, "{text}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    gw.shutdown().await;
}

/// An XML body of `n` small elements.
fn many_elements(n: usize) -> String {
    let mut s = String::with_capacity(n * 8 + 8);
    s.push_str("<r>");
    for _ in 0..n {
        s.push_str("<a>1</a>");
    }
    s.push_str("</r>");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_stays_responsive_while_two_costly_mediations_run() {
    // a tree factor high enough to let these dense bodies be built
    let gw = start_gateway(
        &heavy_api("[limits]\nmax_tree_factor = 1000\n"),
        &[("sequences/heavy.xml", HEAVY)],
    )
    .await;
    // size the bodies from one timed request, so that each costly request lasts about two
    // seconds however fast this machine is (within the default body limit of 10 MiB)
    let (status, text, one) = post(&gw, "application/xml", many_elements(100_000)).await;
    assert_eq!(status, 200, "{text}");
    let scale = (2.0 / one.as_secs_f64().max(0.001)).clamp(1.0, 12.0);
    let body = many_elements((100_000.0 * scale) as usize);
    let started = Instant::now();
    let hostile = tokio::spawn({
        let (a, b) = (gw.url("/heavy/x"), gw.url("/heavy/y"));
        let body = body.clone();
        async move {
            let c = reqwest::Client::new();
            let send = |u: String| {
                c.post(u)
                    .header("content-type", "application/xml")
                    .body(body.clone())
                    .send()
            };
            let (x, y) = tokio::join!(send(a), send(b));
            let statuses = (x.unwrap().status().as_u16(), y.unwrap().status().as_u16());
            (statuses, started.elapsed())
        }
    });
    // probe /health on fresh connections while both run, noting the longest time between two
    // answers (the 100 ms pause included: the probing task shares the gateway's runtime, as
    // any other request would)
    let mut probes = 0;
    let mut slowest = Duration::ZERO;
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, _) = raw(&gw, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(status, 200);
        slowest = slowest.max(last.elapsed());
        last = Instant::now();
        probes += 1;
        if hostile.is_finished() || probes >= 50 {
            break;
        }
    }
    let (statuses, took) = hostile.await.unwrap();
    assert_eq!(statuses, (200, 200));
    assert!(
        probes >= 3,
        "the costly requests took only {took:?}: too cheap to tell anything"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "/health went unanswered for {slowest:?}"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mediation_over_its_time_budget_is_a_fault() {
    let gw = start_gateway(
        &heavy_api("[limits]\nmediation_timeout = 0.2\nmax_tree_factor = 1000\n"),
        &[("sequences/heavy.xml", HEAVY)],
    )
    .await;
    let (status, text, took) = post(&gw, "application/xml", many_elements(60_000)).await;
    assert_eq!(status, 500, "{text}");
    assert!(text.contains("500003"), "{text}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // a cheap request still gets through
    let (status, text, _) = post(&gw, "application/xml", many_elements(3)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"n\":\"7"), "{text}");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_whose_tree_would_outgrow_its_factor_is_a_413_before_it_is_built() {
    let gw = start_gateway(&heavy_api(""), &[("sequences/heavy.xml", HEAVY)]).await;
    // 1.6 MB of `<a>1</a>`: its tree and XPath view would take over 200 times its size
    let (status, text, _) = post(&gw, "application/xml", many_elements(200_000)).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("413002"), "{text}");
    assert!(text.contains("memory"), "{text}");
    // the same number of elements as JSON, by XPath: its XML form counts too
    let json = format!("[{}]", vec!["1"; 200_000].join(","));
    let (status, text, _) = post(&gw, "application/json", json).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("413002"), "{text}");
    // a smaller one is served (within the 8 MiB every body may take)
    let (status, text, _) = post(&gw, "application/xml", many_elements(4_000)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"n\":\"4004"), "{text}");
    gw.shutdown().await;

    // the factor is the operator's: raised, the dense body is built and counted
    let gw = start_gateway(
        &heavy_api("[limits]\nmax_tree_factor = 1000\n"),
        &[("sequences/heavy.xml", HEAVY)],
    )
    .await;
    let (status, text, _) = post(&gw, "application/xml", many_elements(200_000)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"n\":\"200004"), "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_backend_sending_no_valid_response_gets_a_502_and_its_bytes_go_nowhere() {
    let big_head: &'static [u8] = Box::leak(
        [
            &b"HTTP/1.1 200 OK\r\nx-big: "[..],
            &vec![b'a'; 70 * 1024],
            b"\r\n\r\nsecret-body",
        ]
        .concat()
        .into_boxed_slice(),
    );
    let cases: [(&str, &'static [u8]); 5] = [
        ("not HTTP", b"SSH-2.0-OpenSSH_9.6 secret-banner\r\n"),
        ("a head over 64 KiB", big_head),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nsecret",
        ),
        (
            "a status out of range",
            b"HTTP/1.1 1000 What\r\ncontent-length: 6\r\n\r\nsecret",
        ),
        ("nothing at all", b""),
    ];
    for (what, answer) in cases {
        let gw = gateway(&hostile_backend(answer).await, "").await;
        let (status, text) = raw(&gw, b"GET /shop/x HTTP/1.1\r\nhost: a\r\n\r\n").await;
        assert_eq!(status, 502, "{what}: {text}");
        assert!(
            !text.contains("secret"),
            "{what}: the backend's bytes reach nobody: {text}"
        );
        // and the gateway goes on serving
        let (status, _) = raw(&gw, b"GET /health HTTP/1.1\r\nhost: a\r\n\r\n").await;
        assert_eq!(status, 200, "{what}");
    }
}

#[tokio::test]
async fn a_backend_body_that_breaks_off_aborts_the_clients_response() {
    for (what, answer) in [
        (
            "shorter than its length",
            &b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this"[..],
        ),
        (
            "a broken chunk",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
        ),
    ] {
        let gw = gateway(&hostile_backend(answer).await, "").await;
        let mut s = TcpStream::connect(gw.addr()).await.unwrap();
        s.write_all(b"GET /shop/x HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        // the connection closes before a complete response (hyper may not even have flushed
        // the head): never a response the client could take for whole
        let got = closed_within(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{what}: the connection is closed"));
        let text = String::from_utf8_lossy(&got);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 200"),
            "{what}: {text}"
        );
        if let Some((_, body)) = text.split_once("\r\n\r\n") {
            if what == "a broken chunk" {
                assert!(!body.ends_with("0\r\n\r\n"), "{what}: {text}");
            } else {
                assert!(body.len() < 100, "{what}: {text}");
            }
        }
    }
}
