//! End-to-end: the real gateway on 127.0.0.1:0 in this process, in-process mock origins for
//! plain backends, the real Authlib server for the token-generation sequences.

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use synaptic_gateway::{Running, ServeOptions};
use synaptic_tests::gateway::GatewayDir;
use synaptic_tests::http::{dead_url, eventually, get_text, json, url};
use synaptic_tests::origin::{MockOrigin, MockResponse, RecordingProxy};
use synaptic_tests::run_cli as cli;

// ===== helpers =====

async fn start(dir: &GatewayDir) -> Running {
    start_with(dir, ServeOptions::default()).await
}

async fn start_with(dir: &GatewayDir, opts: ServeOptions) -> Running {
    synaptic_tests::gateway::start_running(dir, opts).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("reqwest client")
}

/// A gateway serving `config` and `files`, and its folder (kept as long as the gateway runs).
async fn serve(config: &str, files: &[(&str, &str)]) -> (GatewayDir, Running) {
    let dir = GatewayDir::new(config, files);
    let gw = start(&dir).await;
    (dir, gw)
}

fn simple_api(endpoint: &str, extra: &str) -> String {
    format!(
        r#"
[[api]]
name = "Shop"
context = "/shop/1.0"
endpoint = "{endpoint}"
{extra}
"#
    )
}

const MENU_V1: &str = r#"<sequence name="menu" xmlns="http://ws.apache.org/ns/synapse">
    <payloadFactory media-type="json">
        <format>{"version":1}</format>
        <args/>
    </payloadFactory>
    <respond/>
</sequence>"#;

const MENU_V2: &str = r#"<sequence name="menu" xmlns="http://ws.apache.org/ns/synapse">
    <payloadFactory media-type="json">
        <format>{"version":2}</format>
        <args/>
    </payloadFactory>
    <respond/>
</sequence>"#;

// ===== pass-through =====

#[tokio::test]
async fn post_with_json_body_reaches_the_backend_unchanged() {
    let origin = MockOrigin::echo().await;
    let (_dir, gw) = serve(&simple_api(&format!("{}/base", origin.url()), ""), &[]).await;
    let body = r#"{"pizza":"Margherita","qty":2,"notes":"é ünïcode \"quoted\""}"#;
    let resp = client()
        .post(url(&gw, "/shop/1.0/orders?x=1&y=%20z"))
        .header("content-type", "application/json")
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "must go")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let r = &origin.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.uri, "/base/orders?x=1&y=%20z");
    assert_eq!(r.body_str(), body, "body must arrive byte for byte");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-custom"), Some("kept"));
    assert_eq!(
        r.header("x-hop"),
        None,
        "headers named by Connection are hop-by-hop"
    );
    assert_eq!(r.header("host"), Some(origin.addr().to_string().as_str()));
    gw.shutdown().await;
}

#[tokio::test]
async fn paths_are_normalised_before_routing_and_forwarding() {
    let origin = MockOrigin::echo().await;
    let (_dir, gw) = serve(&simple_api(&format!("{}/base/", origin.url()), ""), &[]).await;
    let c = client();
    let r = c
        .get(url(&gw, "/shop//1.0/./x/../%6Denu;jsessionid=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(origin.requests()[0].uri, "/base/menu");
    let r = c.get(url(&gw, "/shop/1.0/a%2Fb")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["fault"]["code"], 400001);
    // the context root itself
    let r = c.get(url(&gw, "/shop/1.0?q=1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(origin.requests()[1].uri, "/base?q=1");
    gw.shutdown().await;
}

#[tokio::test]
async fn no_matching_api_is_404_json() {
    let (_dir, gw) = serve(&simple_api(&dead_url(), ""), &[]).await;
    let r = client().get(url(&gw, "/nope/menu")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let v = json(r).await;
    assert_eq!(v["fault"]["code"], 404001);
    // a context is matched on segment boundaries
    let r = client()
        .get(url(&gw, "/shop/1.01/menu"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn resources_select_methods_and_paths() {
    let origin = MockOrigin::echo().await;
    let extra = r#"
[[api.resource]]
methods = ["GET"]
uri_template = "/menu"

[[api.resource]]
methods = ["POST"]
uri_template = "/order/{id}"
"#;
    let (_dir, gw) = serve(&simple_api(&origin.url(), extra), &[]).await;
    let c = client();
    assert_eq!(
        c.get(url(&gw, "/shop/1.0/menu"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c.delete(url(&gw, "/shop/1.0/menu")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    assert_eq!(
        c.post(url(&gw, "/shop/1.0/order/7"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = c.get(url(&gw, "/shop/1.0/other")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json(r).await["fault"]["code"], 404002);
    gw.shutdown().await;
}

#[tokio::test]
async fn backend_down_is_502() {
    let (_dir, gw) = serve(&simple_api(&dead_url(), ""), &[]).await;
    let r = client()
        .get(url(&gw, "/shop/1.0/menu"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(json(r).await["fault"]["code"], 101503);
    gw.shutdown().await;
}

#[tokio::test]
async fn backend_timeout_is_504_within_the_api_timeout() {
    let origin =
        MockOrigin::start(|_| MockResponse::text("late").delay(Duration::from_secs(5))).await;
    let (_dir, gw) = serve(&simple_api(&origin.url(), "timeout = 0.3"), &[]).await;
    let t0 = tokio::time::Instant::now();
    let r = client()
        .get(url(&gw, "/shop/1.0/slow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(json(r).await["fault"]["code"], 101504);
    gw.shutdown().await;
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let origin = MockOrigin::echo().await;
    let config = format!(
        "[server]\nmax_body_size = 1000\n{}",
        simple_api(&origin.url(), "")
    );
    let (_dir, gw) = serve(&config, &[]).await;
    let c = client();
    // declared length
    let r = c
        .post(url(&gw, "/shop/1.0/upload"))
        .body(vec![b'a'; 2000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json(r).await["fault"]["code"], 413001);
    // chunked, no length: caught while streaming
    let chunks: Vec<Result<Bytes, Infallible>> =
        (0..10).map(|_| Ok(Bytes::from(vec![b'b'; 300]))).collect();
    let r = c
        .post(url(&gw, "/shop/1.0/upload"))
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // under the limit passes
    let r = c
        .post(url(&gw, "/shop/1.0/upload"))
        .body(vec![b'c'; 900])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

/// A backend that reports each request-body chunk as it arrives and streams its response in
/// two chunks, the second only when the test says so.
struct StreamingOrigin {
    addr: SocketAddr,
    seen: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    release: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

async fn streaming_origin() -> StreamingOrigin {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let rel = release.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let rel = rel.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let tx = tx.clone();
                        let rel = rel.clone();
                        async move {
                            let mut body = req.into_body();
                            while let Some(Ok(frame)) = body.frame().await {
                                if let Ok(d) = frame.into_data() {
                                    let _ = tx.send(d);
                                }
                            }
                            let (btx, brx) =
                                tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
                            tokio::spawn(async move {
                                let _ = btx
                                    .send(Ok(Frame::data(Bytes::from_static(b"first;"))))
                                    .await;
                                rel.notified().await;
                                let _ = btx
                                    .send(Ok(Frame::data(Bytes::from_static(b"second"))))
                                    .await;
                            });
                            let stream = tokio_stream_from(brx);
                            Ok::<_, Infallible>(hyper::Response::new(StreamBody::new(stream)))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    StreamingOrigin {
        addr,
        seen,
        release,
        task,
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test]
async fn pass_through_streams_both_directions() {
    let mut origin = streaming_origin().await;
    let (_dir, gw) = serve(&simple_api(&format!("http://{}", origin.addr), ""), &[]).await;
    // request: the backend sees the first chunk before the client sends the second
    let (ctx, crx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
    let c = client();
    let u = url(&gw, "/shop/1.0/stream");
    let req = tokio::spawn(async move {
        c.post(u)
            .body(reqwest::Body::wrap_stream(tokio_stream_from(crx)))
            .send()
            .await
    });
    ctx.send(Ok(Bytes::from_static(b"chunk-1"))).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), origin.seen.recv())
        .await
        .expect("the first chunk must reach the backend while the body is still open");
    assert_eq!(first.as_deref(), Some(&b"chunk-1"[..]));
    ctx.send(Ok(Bytes::from_static(b"chunk-2"))).await.unwrap();
    drop(ctx);
    let second = tokio::time::timeout(Duration::from_secs(5), origin.seen.recv())
        .await
        .unwrap();
    assert_eq!(second.as_deref(), Some(&b"chunk-2"[..]));
    // response: the client reads the first chunk before the backend sends the second
    let mut resp = req.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let c1 = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("the first response chunk must arrive before the backend finishes")
        .unwrap()
        .unwrap();
    assert_eq!(&c1[..], b"first;");
    origin.release.notify_one();
    let rest = resp.bytes().await.unwrap();
    assert_eq!(&rest[..], b"second");
    origin.task.abort();
    gw.shutdown().await;
}

/// A backend that answers before reading the request body and then reads it to its end (as
/// nginx's `return` does): the client's body still goes through whole, so both the client's
/// and the backend's connections stay usable.
#[tokio::test]
async fn a_backend_answering_before_the_body_still_gets_all_of_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (acc, rec) = (accepted.clone(), received.clone());
    let backend = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            acc.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let rec = rec.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    // the answer first, then the body is read and dropped
                    if tcp
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nseen")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    buf.drain(..end);
                    while buf.len() < len {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    rec.fetch_add(len, std::sync::atomic::Ordering::SeqCst);
                    buf.drain(..len);
                }
            });
        }
    });
    let (_dir, gw) = serve(&simple_api(&format!("http://{addr}"), ""), &[]).await;
    let c = client();
    let body = vec![b'x'; 1 << 20];
    for i in 1..=3usize {
        let r = c
            .post(url(&gw, "/shop/1.0/upload"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "seen");
        let whole = |n: usize| {
            let received = received.clone();
            async move { received.load(std::sync::atomic::Ordering::SeqCst) == n << 20 }
        };
        assert!(
            eventually(Duration::from_secs(5), || whole(i)).await,
            "the backend read body {i} whole: {} bytes in all",
            received.load(std::sync::atomic::Ordering::SeqCst)
        );
        // the connection goes back to the pool once its body is through
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one backend connection, reused after each body went through"
    );
    backend.abort();
}

/// A backend that answers at once and echoes the request body as it arrives (full duplex): its
/// response head comes before the request body is complete.
#[tokio::test]
async fn pass_through_keeps_sending_the_body_to_a_backend_that_answered_early() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let backend = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        Ok::<_, Infallible>(hyper::Response::new(req.into_body()))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    let (_dir, gw) = serve(&simple_api(&format!("http://{addr}"), ""), &[]).await;
    let (ctx, crx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
    let c = client();
    let u = url(&gw, "/shop/1.0/echo");
    let req = tokio::spawn(async move {
        c.post(u)
            .body(reqwest::Body::wrap_stream(tokio_stream_from(crx)))
            .send()
            .await
    });
    // each part is echoed back before the next is sent
    ctx.send(Ok(Bytes::from_static(b"part-1;"))).await.unwrap();
    let mut resp = tokio::time::timeout(Duration::from_secs(5), req)
        .await
        .expect("the backend's early answer reaches the client")
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut echoed = Vec::new();
    for part in [&b"part-2;"[..], b"part-3"] {
        let want = echoed.len() + 7;
        while echoed.len() < want {
            let c = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
                .await
                .expect("the echo of what was sent so far arrives")
                .unwrap()
                .unwrap();
            echoed.extend_from_slice(&c);
        }
        ctx.send(Ok(Bytes::copy_from_slice(part))).await.unwrap();
    }
    drop(ctx);
    while let Some(c) = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .expect("the rest of the echo and its end arrive")
        .unwrap()
    {
        echoed.extend_from_slice(&c);
    }
    assert_eq!(String::from_utf8_lossy(&echoed), "part-1;part-2;part-3");
    backend.abort();
}

#[tokio::test]
async fn two_hundred_concurrent_clients_without_error() {
    let origin = MockOrigin::start(|r| {
        MockResponse::json(200, &serde_json::json!({ "uri": r.uri }))
            .delay(Duration::from_millis(20))
    })
    .await;
    let (_dir, gw) = serve(&simple_api(&origin.url(), ""), &[]).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let u = url(&gw, &format!("/shop/1.0/item/{i}"));
        tasks.push(tokio::spawn(async move {
            // one client per task: 200 distinct connections
            let c = reqwest::Client::new();
            let r = c.get(u).send().await.map_err(|e| e.to_string())?;
            let status = r.status();
            let v: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
            if status != 200 || v["uri"] != format!("/item/{i}") {
                return Err(format!("request {i}: {status} {v}"));
            }
            Ok::<_, String>(())
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            errors.push(e);
        }
    }
    assert!(
        errors.is_empty(),
        "{} errors: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(origin.count(), 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_requests_in_flight_finish() {
    let origin =
        MockOrigin::start(|_| MockResponse::text("done").delay(Duration::from_millis(700))).await;
    let (_dir, gw) = serve(&simple_api(&origin.url(), ""), &[]).await;
    let u = url(&gw, "/shop/1.0/slow");
    let inflight = tokio::spawn(async move { client().get(u).send().await });
    assert!(origin.wait_for(1, Duration::from_secs(5)).await);
    let addr = gw.addr();
    let stopping = tokio::spawn(gw.shutdown());
    let r = inflight
        .await
        .unwrap()
        .expect("in-flight request must complete");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown must finish once the request is done")
        .unwrap();
    // no longer accepting
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn health_and_metrics() {
    let origin = MockOrigin::echo().await;
    let (_dir, gw) = serve(&simple_api(&origin.url(), ""), &[]).await;
    let c = client();
    let r = c.get(url(&gw, "/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["status"], "UP");
    c.get(url(&gw, "/shop/1.0/a")).send().await.unwrap();
    gw.gateway()
        .metrics()
        .counter(
            "test_extension_total",
            "Added by a test",
            &[("api", "Shop")],
        )
        .add(3);
    let text = get_text(&c, &url(&gw, "/metrics")).await;
    assert!(
        text.contains("# TYPE synaptic_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("test_extension_total{api=\"Shop\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("synaptic_api_responses_total{api=\"Shop\",class=\"2xx\"} 1"),
        "{text}"
    );
    gw.shutdown().await;
}

// ===== logs =====

#[tokio::test]
async fn access_log_and_wire_log_redact_credentials() {
    // current-thread runtime: the gateway's tasks log on this thread
    let logs = synaptic_tests::logs::CapturedLogs::default();
    let _guard = logs.install();
    let origin = MockOrigin::start(|_| {
        MockResponse::json(
            200,
            &serde_json::json!({"access_token": "tok-SECRET-1", "token_type": "Bearer"}),
        )
    })
    .await;
    let dir = GatewayDir::new(&simple_api(&origin.url(), ""), &[]);
    let gw = start_with(
        &dir,
        ServeOptions {
            wire: true,
            ..Default::default()
        },
    )
    .await;
    let r = client()
        .post(url(&gw, "/shop/1.0/token?access_token=qs-SECRET-2&x=1"))
        .header("authorization", "Bearer hdr-SECRET-3")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=password&username=bob&password=pw-SECRET-4&client_secret=cs-SECRET-5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await["access_token"],
        "tok-SECRET-1",
        "the client gets the real body"
    );
    let origin_req = &origin.requests()[0];
    assert_eq!(
        origin_req.header("authorization"),
        Some("Bearer hdr-SECRET-3")
    );
    gw.shutdown().await;
    let text = logs.text();
    assert!(
        !text.contains("SECRET"),
        "a secret reached the logs:\n{text}"
    );
    assert!(text.contains("synaptic::access"), "{text}");
    assert!(text.contains("status=200"), "{text}");
    assert!(text.contains("api=Shop"), "{text}");
    assert!(
        text.contains("method=POST path=/shop/1.0/token?access_token=…&x=…"),
        "{text}"
    );
    assert!(text.contains("Bearer ***"), "{text}");
    assert!(text.contains("password=***"), "{text}");
    assert!(text.contains(r#""access_token":"***""#), "{text}");
    assert!(text.contains("username=bob"), "{text}");
}

// ===== mediation =====

#[tokio::test]
async fn an_api_implemented_by_a_sequence_answers_without_a_backend() {
    let config = r#"
[[api]]
name = "Menu"
context = "/menu/1.0"
in_sequence = "menu"
"#;
    let (_dir, gw) = serve(config, &[("sequences/menu.xml", MENU_V1)]).await;
    let r = client()
        .get(url(&gw, "/menu/1.0/menu"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, serde_json::json!({"version": 1}));
    gw.shutdown().await;
}

#[tokio::test]
async fn hot_reload_add_change_remove_and_broken_file() {
    let config = r#"
[[api]]
name = "Menu"
context = "/menu/1.0"
in_sequence = "menu"
"#;
    let dir = GatewayDir::new(config, &[("sequences/menu.xml", MENU_V1)]);
    let gw = start(&dir).await;
    let c = client();
    let u = url(&gw, "/menu/1.0/x");
    let version = |c: reqwest::Client, u: String| async move {
        let r = c.get(u).send().await.ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        v["version"].as_i64()
    };
    assert_eq!(version(c.clone(), u.clone()).await, Some(1));

    // change: within 2 s, no request fails meanwhile
    let t0 = tokio::time::Instant::now();
    dir.write("sequences/menu.xml", MENU_V2);
    let mut seen_v2 = false;
    while t0.elapsed() < Duration::from_secs(2) {
        let v = version(c.clone(), u.clone()).await;
        assert!(
            v == Some(1) || v == Some(2),
            "a request failed during reload: {v:?}"
        );
        if v == Some(2) {
            seen_v2 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_v2, "the change did not take effect within 2 s");

    // a broken file is not loaded: the previous version keeps serving
    dir.write(
        "sequences/menu.xml",
        r#"<sequence name="menu" xmlns="http://ws.apache.org/ns/synapse"><payloadFactory media-type="json"><format>{"version":3}</format>"#,
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(version(c.clone(), u.clone()).await, Some(2));

    // add a new sequence file
    let store = gw.gateway().program_store().clone();
    dir.write(
        "sequences/extra.xml",
        r#"<sequence name="extra" xmlns="http://ws.apache.org/ns/synapse"><log level="simple"/></sequence>"#,
    );
    let s = store.clone();
    assert!(
        eventually(Duration::from_secs(2), || {
            let s = s.clone();
            async move { s.current().has_sequence("extra") }
        })
        .await,
        "added file not loaded within 2 s"
    );
    // …while the broken file's last good version keeps serving
    assert_eq!(version(c.clone(), u.clone()).await, Some(2));
    // fixing the broken file takes effect too
    dir.write("sequences/menu.xml", MENU_V1);
    let (c2, u2) = (c.clone(), u.clone());
    assert!(
        eventually(Duration::from_secs(2), || {
            let (c, u) = (c2.clone(), u2.clone());
            async move { version(c, u).await == Some(1) }
        })
        .await
    );
    // remove
    dir.remove("sequences/extra.xml");
    let s = store.clone();
    assert!(
        eventually(Duration::from_secs(2), || {
            let s = s.clone();
            async move { !s.current().has_sequence("extra") }
        })
        .await,
        "removed file still loaded after 2 s"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn drop_on_the_request_path_is_202() {
    let origin = MockOrigin::echo().await;
    let config = simple_api(&origin.url(), "in_sequence = \"dropper\"");
    let (_dir, gw) = serve(
        &config,
        &[(
            "sequences/dropper.xml",
            r#"<sequence name="dropper" xmlns="http://ws.apache.org/ns/synapse"><drop/></sequence>"#,
        )],
    )
    .await;
    let r = client()
        .post(url(&gw, "/shop/1.0/x"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(origin.count(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn in_flow_headers_reach_the_backend_and_out_flow_shapes_the_response() {
    let origin = MockOrigin::echo().await;
    let config = simple_api(
        &format!("{}/base", origin.url()),
        "in_sequence = \"add-header\"\nout_sequence = \"wrap\"",
    );
    let (_dir, gw) = serve(
        &config,
        &[
            (
                "sequences/add-header.xml",
                r#"<sequence name="add-header" xmlns="http://ws.apache.org/ns/synapse">
                    <header name="X-Added" scope="transport" value="by-sequence"/>
                </sequence>"#,
            ),
            (
                "sequences/wrap.xml",
                r#"<sequence name="wrap" xmlns="http://ws.apache.org/ns/synapse">
                    <property name="got" expression="json-eval($.method)"/>
                    <payloadFactory media-type="json">
                        <format>{"method":"$1","status":"$2"}</format>
                        <args>
                            <arg evaluator="xml" expression="get-property('got')"/>
                            <arg evaluator="xml" expression="get-property('axis2', 'HTTP_SC')"/>
                        </args>
                    </payloadFactory>
                </sequence>"#,
            ),
        ],
    )
    .await;
    let body = r#"{"a":1}"#;
    let r = client()
        .post(url(&gw, "/shop/1.0/orders?z=9"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let req = &origin.requests()[0];
    assert_eq!(req.uri, "/base/orders?z=9");
    assert_eq!(req.header("x-added"), Some("by-sequence"));
    let v: serde_json::Value = serde_json::from_str(&req.body_str()).unwrap();
    assert_eq!(v, serde_json::json!({"a": 1}));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v, serde_json::json!({"method": "POST", "status": "200"}));
    gw.shutdown().await;
}

#[tokio::test]
async fn mediation_fault_without_fault_sequence_is_500_with_error_code() {
    let origin = MockOrigin::echo().await;
    let config = simple_api(&origin.url(), "in_sequence = \"bad\"");
    let (_dir, gw) = serve(
        &config,
        &[(
            "sequences/bad.xml",
            // a blocking call to a dead endpoint faults
            &format!(
                r#"<sequence name="bad" xmlns="http://ws.apache.org/ns/synapse">
                    <call blocking="true"><endpoint><http method="post" uri-template="{}"/></endpoint></call>
                </sequence>"#,
                dead_url()
            ),
        )],
    )
    .await;
    let r = client().get(url(&gw, "/shop/1.0/x")).send().await.unwrap();
    let status = r.status();
    let v = json(r).await;
    assert!(status == 500 || status == 502, "{status} {v}");
    assert!(v["fault"]["ERROR_CODE"].is_number(), "{v}");
    assert!(v["fault"]["ERROR_MESSAGE"].is_string(), "{v}");
    assert_eq!(origin.count(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_fault_sequence_builds_its_own_response() {
    let config = simple_api(&dead_url(), "fault_sequence = \"custom-fault\"");
    let (_dir, gw) = serve(
        &config,
        &[(
            "sequences/custom-fault.xml",
            r#"<sequence name="custom-fault" xmlns="http://ws.apache.org/ns/synapse">
                <payloadFactory media-type="json">
                    <format>{"sorry":true,"code":"$1"}</format>
                    <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/></args>
                </payloadFactory>
                <property name="HTTP_SC" value="503" scope="axis2"/>
                <respond/>
            </sequence>"#,
        )],
    )
    .await;
    let r = client().get(url(&gw, "/shop/1.0/x")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        json(r).await,
        serde_json::json!({"sorry": true, "code": "101503"})
    );
    gw.shutdown().await;
}

// ===== the token-generation sequences with a real OAuth2 server =====

fn token_gen_sequence(name: &str, token_url: &str, basic: &str, caching: bool) -> String {
    let reg = format!("local:/api-backend-credentials/{name}");
    let fetch = format!(
        r#"
            <payloadFactory media-type="xml">
                <format>
                    <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
                        <soapenv:Body><root xmlns=""><grant_type>client_credentials</grant_type><scope>view</scope></root></soapenv:Body>
                    </soapenv:Envelope>
                </format>
                <args/>
            </payloadFactory>
            <header expression="fn:concat('Basic ', get-property('app-client-auth'))" name="Authorization" scope="transport"/>
            <header name="Content-Type" scope="transport" value="application/x-www-form-urlencoded"/>
            <property name="messageType" scope="axis2" type="STRING" value="application/x-www-form-urlencoded"/>
            <property name="REST_URL_POSTFIX" scope="axis2" type="STRING" value=""/>
            <call blocking="true">
                <endpoint name="token"><http method="post" uri-template="{token_url}"/></endpoint>
            </call>
            <property expression="get-property('resource')" name="REST_URL_POSTFIX" scope="axis2" type="STRING"/>
            {store}
            <property expression="json-eval($.access_token)" name="generated-access-token" scope="default" type="STRING"/>
            {store_token}
            <header expression="fn:concat('Bearer ', get-property('generated-access-token'))" name="Authorization" scope="transport"/>
            <payloadFactory media-type="json">
                <format>$1</format>
                <args><arg evaluator="xml" expression="get-property('message-body')"/></args>
            </payloadFactory>"#,
        store = if caching {
            format!(
                r#"<property expression="get-property('SYSTEM_TIME')" name="{reg}/generated_Time" scope="registry" type="LONG"/>"#
            )
        } else {
            String::new()
        },
        store_token = if caching {
            format!(
                r#"<property expression="get-property('generated-access-token')" name="{reg}/access_Token" scope="registry" type="STRING"/>"#
            )
        } else {
            String::new()
        },
    );
    let head = format!(
        r#"<property name="app-client-auth" scope="default" type="STRING" value="{basic}"/>
        <property expression="json-eval($)" name="message-body" scope="default" type="STRING"/>
        <property expression="get-property('axis2','REST_URL_POSTFIX')" name="resource" scope="default" type="STRING"/>"#
    );
    let body = if caching {
        format!(
            r#"<property expression="get-property('registry', '{reg}/access_Token')" name="access_token" scope="default" type="STRING"/>
        <property expression="get-property('registry','{reg}/generated_Time')" name="generated-time" scope="default" type="LONG"/>
        {head}
        <filter xpath="get-property('SYSTEM_TIME') - get-property('generated-time') > 3600000 or get-property('access_token') = ''">
            <then>{fetch}</then>
            <else><header expression="fn:concat('Bearer ', get-property('access_token'))" name="Authorization" scope="transport"/></else>
        </filter>"#
        )
    } else {
        format!("{head}{fetch}")
    };
    format!(r#"<sequence name="{name}" xmlns="http://ws.apache.org/ns/synapse">{body}</sequence>"#)
}

async fn token_gen_scenario(caching: bool) -> (usize, usize) {
    let peer = synaptic_tests::peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let creds = peer.client();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", creds.id, creds.secret),
    );
    let seq_name = if caching {
        "token-gen-cache"
    } else {
        "token-gen-nocache"
    };
    let seq = token_gen_sequence(seq_name, &proxy.url_for("/oauth/token"), &basic, caching);
    let config = format!(
        r#"
[[api]]
name = "Bookings"
context = "/bookings/1.0"
endpoint = "{}/api"
in_sequence = "{seq_name}"
"#,
        peer.base_url()
    );
    let (_dir, gw) = serve(&config, &[(&format!("sequences/{seq_name}.xml"), &seq)]).await;
    let c = client();
    let calls = 5;
    for i in 0..calls {
        let r = c
            .get(url(&gw, "/bookings/1.0/bookings"))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(
            status, 200,
            "call {i}: the backend must accept the token: {text}"
        );
    }
    gw.shutdown().await;
    (proxy.count_path("/oauth/token"), calls)
}

#[tokio::test]
async fn caching_token_gen_sequence_makes_one_token_request_for_many_calls() {
    let (token_requests, _) = token_gen_scenario(true).await;
    assert_eq!(token_requests, 1);
}

#[tokio::test]
async fn non_caching_token_gen_sequence_makes_one_token_request_per_call() {
    let (token_requests, calls) = token_gen_scenario(false).await;
    assert_eq!(token_requests, calls);
}

// ===== the repository's synaptic.toml and examples/ =====

/// A copy of a folder holding `synaptic.toml` and `sequences/`, with `127.0.0.1:8280` (the
/// default port, which the default configuration calls itself on) replaced by a free port.
fn copy_home(src: &std::path::Path) -> (GatewayDir, u16) {
    let port = synaptic_tests::free_port();
    let fix = |t: String| t.replace("127.0.0.1:8280", &format!("127.0.0.1:{port}"));
    let config = std::fs::read_to_string(src.join("synaptic.toml")).unwrap();
    let dir = GatewayDir::new(&fix(config), &[]);
    if let Ok(rd) = std::fs::read_dir(src.join("sequences")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".xml") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                dir.write(&format!("sequences/{name}"), &fix(text));
            }
        }
    }
    (dir, port)
}

async fn start_on_port(dir: &GatewayDir, port: u16) -> Running {
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("config loads");
    let opts = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        ..Default::default()
    };
    match synaptic_gateway::start(loaded.config, opts).await {
        Ok((r, _)) => r,
        Err(synaptic_gateway::StartError::Sequences(report)) => {
            panic!("sequences do not load:\n{}", report.render().join("\n"))
        }
        Err(e) => panic!("gateway does not start: {e}"),
    }
}

#[tokio::test]
async fn the_default_configuration_serves_the_pizza_menu() {
    let root = synaptic_tests::workspace_root();
    let (dir, port) = copy_home(&root);
    let gw = start_on_port(&dir, port).await;
    let c = client();
    let r = c
        .get(url(&gw, "/pizzashack/1.0.0/menu"))
        .send()
        .await
        .unwrap();
    // protected by the gateway's own authorization server once it is enabled
    if r.status() == 200 {
        let menu = json(r).await;
        assert_eq!(menu.as_array().map(|a| a.len()), Some(10), "{menu}");
    } else {
        assert_eq!(r.status(), 401);
    }
    let r = c.get(url(&gw, "/pizza/1.0/menu")).send().await.unwrap();
    let status = r.status();
    let menu = json(r).await;
    assert_eq!(status, 200, "{menu}");
    let items = menu.as_array().expect("the menu is a JSON array");
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["name"], "BBQ Chicken Bacon");
    assert_eq!(items[0]["price"], "14.99");
    gw.shutdown().await;
}

#[tokio::test]
async fn every_example_starts() {
    let root = synaptic_tests::workspace_root().join("examples");
    let mut seen = 0;
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        if !e.path().join("synaptic.toml").is_file() {
            continue;
        }
        seen += 1;
        let (dir, port) = copy_home(&e.path());
        let gw = start_on_port(&dir, port).await;
        let r = client().get(url(&gw, "/health")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", e.path().display());
        gw.shutdown().await;
    }
    assert!(seen >= 3, "examples/ has {seen} configurations");
}

#[tokio::test]
async fn example_menu_api_answers_from_sequences() {
    let (dir, port) = copy_home(&synaptic_tests::workspace_root().join("examples/menu-api"));
    let gw = start_on_port(&dir, port).await;
    let c = client();
    let r = c.get(url(&gw, "/menu/1.0/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-served-by"], "synaptic");
    assert_eq!(
        json(r).await,
        serde_json::json!({"id": "7", "name": "Pizza number 7"})
    );
    let r = c.post(url(&gw, "/menu/1.0/items")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    gw.shutdown().await;
}

#[tokio::test]
async fn example_fault_handling_answers_with_its_fault_sequence() {
    let (dir, port) = copy_home(&synaptic_tests::workspace_root().join("examples/fault-handling"));
    let gw = start_on_port(&dir, port).await;
    let r = client()
        .get(url(&gw, "/orders/1.0/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v = json(r).await;
    assert_eq!(v["code"], "101503", "{v}");
    gw.shutdown().await;
}

// ===== serve --check =====

fn check(dir: &GatewayDir) -> (u8, String, String) {
    let config = dir.config_path().display().to_string();
    cli(&["serve", "--check", "--config", &config])
}

#[test]
fn serve_check_reports_config_and_sequence_errors_with_positions() {
    let ok = GatewayDir::new(
        "[[api]]\nname = \"Menu\"\ncontext = \"/menu\"\nin_sequence = \"menu\"\n",
        &[("sequences/menu.xml", MENU_V1)],
    );
    let (code, out, err) = check(&ok);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("1 API(s), 1 sequence(s), 0 error(s)"), "{err}");

    let bad_toml = GatewayDir::new("[server]\nlisten = 8280\n", &[]);
    let (code, out, _) = check(&bad_toml);
    assert_eq!(code, 1);
    assert!(out.contains("synaptic.toml:2:10: error[E0401]"), "{out}");

    let unknown_seq = GatewayDir::new(
        "[[api]]\nname = \"Menu\"\ncontext = \"/menu\"\nin_sequence = \"nope\"\n",
        &[("sequences/menu.xml", MENU_V1)],
    );
    let (code, out, _) = check(&unknown_seq);
    assert_eq!(code, 1);
    assert!(
        out.contains("synaptic.toml:4:15: error[E0402]: API \"Menu\": no sequence named \"nope\""),
        "{out}"
    );

    let broken_seq = GatewayDir::new(
        "[[api]]\nname = \"Menu\"\ncontext = \"/menu\"\n",
        &[(
            "sequences/menu.xml",
            "<sequence name=\"menu\"><unknownThing/></sequence>",
        )],
    );
    let (code, out, _) = check(&broken_seq);
    assert_eq!(code, 1);
    assert!(out.contains("menu.xml:1:24: error[E0103]"), "{out}");

    // a sequence key no file defines yet: a warning, as Synapse resolves it when a message
    // reaches it; the check passes
    let later_seq = GatewayDir::new(
        "[[api]]\nname = \"Menu\"\ncontext = \"/menu\"\nin_sequence = \"menu\"\n",
        &[(
            "sequences/menu.xml",
            "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"menu\"><sequence key=\"later\"/></sequence>",
        )],
    );
    let (code, out, err) = check(&later_seq);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("warning[W0304]: no sequence named `later`"),
        "{out}"
    );
    assert!(err.contains("0 error(s), 1 warning(s)"), "{err}");
}

#[test]
fn serve_check_reports_every_stage_s_errors_at_once() {
    // a bad value in the configuration, an unknown in_sequence, and a broken sequence file
    let dir = GatewayDir::new(
        "[server]\ntimeout = -1\n\n[[api]]\nname = \"Menu\"\ncontext = \"/menu\"\nin_sequence = \"nope\"\nout_sequence = \"menu\"\n",
        &[(
            "sequences/menu.xml",
            "<sequence name=\"menu\"><unknownThing/></sequence>",
        )],
    );
    let (code, out, err) = check(&dir);
    assert_eq!(code, 1);
    assert!(
        out.contains("synaptic.toml:2:11: error[E0402]: timeout must be a positive number"),
        "{out}"
    );
    assert!(out.contains("menu.xml:1:24: error[E0103]"), "{out}");
    assert!(
        out.contains("synaptic.toml:7:15: error[E0402]: API \"Menu\": no sequence named \"nope\""),
        "the broken file must not hide the unknown name:\n{out}"
    );
    // the broken file declares `menu`: it is reported once, as broken, not as missing too
    assert!(!out.contains("named \"menu\""), "{out}");
    assert!(err.contains("3 error(s)"), "{err}");
    // what lint reports for the folder, exactly
    let folder = dir.path().join("sequences").display().to_string();
    let (_, lint_out, _) = cli(&["lint", &folder]);
    for line in lint_out.lines() {
        assert!(
            out.contains(line),
            "lint reports {line:?}, serve --check does not:\n{out}"
        );
    }
}

#[tokio::test]
async fn a_stalled_request_body_is_408_not_a_hang() {
    let origin = MockOrigin::echo().await;
    let config = format!(
        "[server]\ntimeout = 0.5\n{}",
        simple_api(&origin.url(), "in_sequence = \"menu\"")
    );
    let (_dir, gw) = serve(&config, &[("sequences/menu.xml", MENU_V1)]).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
    tx.send(Ok(Bytes::from_static(b"{\"a\":"))).await.unwrap();
    let t0 = tokio::time::Instant::now();
    let r = client()
        .post(url(&gw, "/shop/1.0/x"))
        .body(reqwest::Body::wrap_stream(tokio_stream_from(rx)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 408);
    assert!(t0.elapsed() < Duration::from_secs(3));
    assert_eq!(json(r).await["fault"]["code"], 408001);
    drop(tx);
    gw.shutdown().await;
}
