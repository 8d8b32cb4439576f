//! HTTP/2 and gRPC end to end: tonic's client and tonic's server with the gateway between
//! them (unary, server, client and bidirectional streaming; trailers; the gateway's own faults
//! as `grpc-status`; an OAuth2-secured gRPC API; TLS with ALPN `h2` on both sides), and plain
//! HTTP over h2c and over HTTP/2 to backends by `backend_protocol`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rustls::pki_types::pem::PemObject;
use synaptic_tests::authserver;
use synaptic_tests::gateway::{start_gateway, GatewayDir, TestGateway};
use synaptic_tests::grpc::{Caller, EchoServer, Msg};
use synaptic_tests::peers::TestCa;
use tonic::{Code, Request};

/// `[[api]]` for the echo service at `backend` (`http://…` or `https://…`).
fn grpc_api(name: &str, backend: &str, extra: &str) -> String {
    format!(
        r#"
[[api]]
name = "{name}"
context = "/test.Echo"
endpoint = "{backend}/test.Echo"
{extra}
"#
    )
}

/// [`grpc_api`] `Echo` for the echo service `backend` over h2c.
fn echo_api(backend: &EchoServer, extra: &str) -> String {
    grpc_api("Echo", &format!("http://{}", backend.addr()), extra)
}

fn with_client_metadata(m: Msg) -> Request<Msg> {
    let mut r = Request::new(m);
    r.metadata_mut()
        .insert("x-client", "c1".parse().expect("metadata"));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_and_streaming_calls_pass_through_over_h2c() {
    let backend = EchoServer::start().await;
    let api = echo_api(&backend, "protocol = \"grpc\"");
    let gw = start_gateway(&api, &[]).await;
    let mut c = Caller::connect(gw.addr(), "").await;

    // unary: metadata both ways, `te: trailers` reaches the backend, grpc-status 0 in trailers
    let r = c
        .unary("Unary", with_client_metadata(Msg::new("hi", 7)))
        .await
        .expect("unary call");
    assert_eq!(r.metadata().get("x-backend").unwrap(), "tonic");
    let m = r.into_inner();
    assert_eq!(m.text, "echo:hi|te=trailers,x-client=c1");
    assert_eq!(m.n, 7);

    // server streaming, ending well
    let (got, end) = c.server_stream(Request::new(Msg::new("s", 5))).await;
    assert!(end.is_ok(), "{end:?}");
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["s-0", "s-1", "s-2", "s-3", "s-4"]);

    // server streaming ended by the backend's error: the messages, then its status, message and
    // custom metadata from the trailers
    let (got, end) = c.server_stream(Request::new(Msg::new("fail", 3))).await;
    assert_eq!(got.len(), 3);
    let st = end.expect_err("the backend's error status");
    assert_eq!(st.code(), Code::ResourceExhausted);
    assert_eq!(st.message(), "stream ended by the backend");
    assert_eq!(st.metadata().get("x-trailer").unwrap(), "kept");

    // client streaming
    let msgs = (1..=4).map(|i| Msg::new(&format!("m{i}"), i)).collect();
    let m = c.client_stream(msgs).await.expect("client streaming");
    assert_eq!(m.text, "m1+m2+m3+m4");
    assert_eq!(m.n, 10);

    // bidirectional: each reply arrives before the next message is sent (nothing is buffered
    // until the end of either stream)
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c.bidi(rx).await.expect("bidi call");
    for i in 0..3u32 {
        tx.send(Msg::new(&format!("b{i}"), i)).await.expect("send");
        let m = tokio::time::timeout(Duration::from_secs(5), replies.message())
            .await
            .expect("a reply while the request stream is still open")
            .expect("reply")
            .expect("a message");
        assert_eq!((m.text.as_str(), m.n), (format!("re:b{i}").as_str(), i * 2));
    }
    drop(tx);
    let end = tokio::time::timeout(Duration::from_secs(5), replies.message())
        .await
        .expect("the end of the response stream");
    assert!(matches!(end, Ok(None)), "{end:?}");

    // the backend's own statuses pass through untouched
    let st = c
        .unary("Nope", Request::new(Msg::new("x", 0)))
        .await
        .expect_err("an unknown method");
    assert_eq!(st.code(), Code::Unimplemented);
    assert_eq!(st.message(), "no such method");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_faults_are_grpc_statuses() {
    let backend = EchoServer::start().await;
    let closed = synaptic_tests::free_port();
    let config = format!(
        "{}{}",
        echo_api(&backend, "protocol = \"grpc\"\ntimeout = 0.5"),
        r#"
[[api]]
name = "Gone"
context = "/gone"
protocol = "grpc"
endpoint = "http://127.0.0.1:PORT/test.Echo"
"#
        .replace("PORT", &closed.to_string()),
    );
    let gw = start_gateway(&config, &[]).await;
    let mut c = Caller::connect(gw.addr(), "").await;

    // the backend does not answer within the API's timeout
    let st = c
        .unary("Slow", Request::new(Msg::new("late", 3000)))
        .await
        .expect_err("a timeout");
    assert_eq!(st.code(), Code::DeadlineExceeded, "{st:?}");
    assert_eq!(
        st.message(),
        "Backend timeout: The backend did not answer in time"
    );
    // in time, the same method answers
    let m = c
        .unary("Slow", Request::new(Msg::new("soon", 10)))
        .await
        .expect("in time");
    assert_eq!(m.into_inner().text, "soon");

    // no API for the path
    let mut other = Caller::connect(gw.addr(), "/nowhere").await;
    let st = other
        .unary("Unary", Request::new(Msg::new("x", 0)))
        .await
        .expect_err("no route");
    assert_eq!(st.code(), Code::Unimplemented, "{st:?}");
    assert!(st.message().starts_with("No matching API"), "{st:?}");

    // the backend cannot be reached
    let mut gone = Caller::connect(gw.addr(), "/gone").await;
    let st = gone
        .unary("Unary", Request::new(Msg::new("x", 0)))
        .await
        .expect_err("unreachable");
    assert_eq!(st.code(), Code::Unavailable, "{st:?}");
    assert!(st.message().starts_with("Backend unreachable"), "{st:?}");
    let (got, end) = gone.server_stream(Request::new(Msg::new("x", 2))).await;
    assert!(got.is_empty());
    assert_eq!(end.expect_err("unreachable").code(), Code::Unavailable);
    gw.shutdown().await;
}

/// `max_body_size` bounds each message of a gRPC call's request stream, not the whole stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_applies_to_each_message_of_a_stream() {
    let backend = EchoServer::start().await;
    let config = format!(
        "[server]\nmax_body_size = 1000\n{}",
        echo_api(&backend, "protocol = \"grpc\"")
    );
    let gw = start_gateway(&config, &[]).await;
    let mut c = Caller::connect(gw.addr(), "").await;
    // 50 messages of 200 bytes: 10 times the limit in all
    let text = "x".repeat(200);
    let msgs = (0..50).map(|_| Msg::new(&text, 1)).collect();
    let m = c.client_stream(msgs).await.expect("a long stream");
    assert_eq!((m.text.len(), m.n), (50 * 200 + 49, 50));
    // one message over the limit
    let msgs = vec![Msg::new("small", 1), Msg::new(&"y".repeat(2000), 1)];
    let st = c
        .client_stream(msgs)
        .await
        .expect_err("a message over the limit");
    assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
    assert!(st.message().starts_with("Request body too large"), "{st:?}");
    gw.shutdown().await;
}

/// Long-lived streams are normal in gRPC: a bidirectional call silent for longer than
/// `backend_read_timeout` between two messages, and lasting longer than the whole-body deadline
/// of a streamed request body (`[server] timeout`), is not cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_streams_outlive_the_read_timeout_and_the_body_deadline() {
    let backend = EchoServer::start().await;
    let config = format!(
        "[server]\ntimeout = 1\n[limits]\nbackend_read_timeout = 0.2\n{}",
        echo_api(&backend, "protocol = \"grpc\"")
    );
    let gw = start_gateway(&config, &[]).await;
    let mut c = Caller::connect(gw.addr(), "").await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c.bidi(rx).await.expect("bidi call");
    for i in 0..4u32 {
        // both streams silent for 0.5 s: over the read timeout each time, over the body
        // deadline in all
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(Msg::new(&format!("b{i}"), i)).await.expect("send");
        let m = tokio::time::timeout(Duration::from_secs(5), replies.message())
            .await
            .expect("a reply")
            .expect("the stream is not cut")
            .expect("a message");
        assert_eq!(m.text, format!("re:b{i}"));
    }
    drop(tx);
    let end = tokio::time::timeout(Duration::from_secs(5), replies.message())
        .await
        .expect("the end of the response stream");
    assert!(matches!(end, Ok(None)), "{end:?}");
    gw.shutdown().await;
}

/// With the wire log on, a gRPC call's heads are logged and its streams still flow both ways.
#[tokio::test]
async fn the_wire_log_shows_grpc_heads_without_holding_the_streams() {
    let (logs, _guard) = synaptic_tests::logs::capture();
    let backend = EchoServer::start().await;
    let api = echo_api(&backend, "protocol = \"grpc\"");
    let gw = TestGateway::start(
        GatewayDir::new(&api, &[]),
        synaptic_gateway::ServeOptions {
            wire: true,
            ..Default::default()
        },
    )
    .await;
    let mut c = Caller::connect(gw.addr(), "").await;
    let m = c
        .unary("Unary", with_client_metadata(Msg::new("w", 1)))
        .await
        .expect("unary")
        .into_inner();
    assert_eq!(m.text, "echo:w|te=trailers,x-client=c1");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c.bidi(rx).await.expect("bidi");
    for i in 0..2u32 {
        tx.send(Msg::new("w", i)).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), replies.message())
            .await
            .expect("a reply while the request stream is open");
        assert_eq!(r.expect("reply").expect("message").text, "re:w");
    }
    drop(tx);
    assert!(matches!(replies.message().await, Ok(None)));
    gw.shutdown().await;
    let text = logs.text();
    assert!(text.contains("POST /test.Echo/Unary"), "{text}");
    assert!(text.contains("x-client: c1"), "{text}");
    assert!(text.contains("POST /test.Echo/Bidi"), "{text}");
}

/// An HTTP API receives gRPC calls too (recognised by the content type); an API with sequences
/// refuses them, since sequences do not mediate gRPC messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_calls_are_recognised_by_their_content_type() {
    let backend = EchoServer::start().await;
    let noop = r#"<sequence name="noop" xmlns="http://ws.apache.org/ns/synapse"><log/></sequence>"#;
    let config = format!(
        "{}\n[[api]]\nname = \"Mediated\"\ncontext = \"/mediated\"\nendpoint = \"http://{}/test.Echo\"\nin_sequence = \"noop\"\n",
        echo_api(&backend, ""),
        backend.addr()
    );
    let gw = start_gateway(&config, &[("sequences/noop.xml", noop)]).await;
    let mut c = Caller::connect(gw.addr(), "").await;
    let m = c
        .unary("Unary", with_client_metadata(Msg::new("auto", 1)))
        .await
        .expect("unary over a backend reached by h2c (auto)")
        .into_inner();
    assert_eq!(m.text, "echo:auto|te=trailers,x-client=c1");
    let (got, end) = c.server_stream(Request::new(Msg::new("fail", 2))).await;
    assert_eq!(got.len(), 2);
    let st = end.expect_err("the backend's status");
    assert_eq!(st.metadata().get("x-trailer").unwrap(), "kept");

    let mut mediated = Caller::connect(gw.addr(), "/mediated").await;
    let st = mediated
        .unary("Unary", Request::new(Msg::new("x", 0)))
        .await
        .expect_err("refused");
    assert_eq!(st.code(), Code::Unimplemented);
    assert_eq!(
        st.message(),
        "the API's sequences do not mediate gRPC calls"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth2_secured_grpc_api_takes_the_bearer_token_from_the_metadata() {
    let backend = EchoServer::start().await;
    let config = format!(
        "{}{}",
        authserver::with_client("", "app-one", "app-one-secret", &["echo"]),
        echo_api(&backend, "protocol = \"grpc\"\nsecurity = \"oauth2\"\n\n[[api.resource]]\nurl_mapping = \"/*\"\nscopes = [\"echo\"]")
    );
    let gw = start_gateway(&config, &[]).await;
    let http = reqwest::Client::new();
    let r = http
        .post(gw.url("/oauth2/token"))
        .basic_auth("app-one", Some("app-one-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "echo")])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let token = v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();

    let mut c = Caller::connect(gw.addr(), "").await;
    // no token
    let st = c
        .unary("Unary", Request::new(Msg::new("x", 0)))
        .await
        .expect_err("unauthenticated");
    assert_eq!(st.code(), Code::Unauthenticated, "{st:?}");
    assert!(st.message().starts_with("Missing Credentials"), "{st:?}");
    // a wrong token
    let mut r = Request::new(Msg::new("x", 0));
    r.metadata_mut()
        .insert("authorization", "Bearer not-a-token".parse().unwrap());
    let st = c.unary("Unary", r).await.expect_err("unauthenticated");
    assert_eq!(st.code(), Code::Unauthenticated, "{st:?}");
    // the token in the metadata: the call passes, the token stays at the gateway
    let bearer: tonic::metadata::MetadataValue<_> =
        format!("Bearer {token}").parse().expect("metadata");
    let mut r = with_client_metadata(Msg::new("ok", 1));
    r.metadata_mut().insert("authorization", bearer.clone());
    let m = c.unary("Unary", r).await.expect("authorized").into_inner();
    assert_eq!(m.text, "echo:ok|te=trailers,x-client=c1");
    // streaming both ways on the secured API
    let mut r = Request::new(Msg::new("sec", 2));
    r.metadata_mut().insert("authorization", bearer);
    let (got, end) = c.server_stream(r).await;
    assert!(end.is_ok(), "{end:?}");
    assert_eq!(got.len(), 2);
    gw.shutdown().await;
}

/// Endpoint security on a gRPC API: the backend token goes into the call's metadata and the
/// client streams still stream (no body is kept for a replay).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_security_puts_the_backend_token_in_the_metadata() {
    let backend = EchoServer::start().await;
    let tokens = synaptic_tests::origin::MockOrigin::start(|_| {
        synaptic_tests::origin::MockResponse::json(
            200,
            &serde_json::json!({"access_token": "backend-token", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await;
    let security = format!(
        "protocol = \"grpc\"\n\n[api.endpoint_security]\ntype = \"oauth2\"\ngrant_type = \"client_credentials\"\ntoken_url = \"{}/token\"\nclient_id = \"gw\"\nclient_secret = \"gw-secret\"\n",
        tokens.url()
    );
    let config = echo_api(&backend, &security);
    let gw = start_gateway(&config, &[]).await;
    let mut c = Caller::connect(gw.addr(), "").await;
    let m = c
        .unary("Unary", with_client_metadata(Msg::new("es", 1)))
        .await
        .expect("unary with endpoint security")
        .into_inner();
    assert_eq!(
        m.text,
        "echo:es|authorization=Bearer backend-token,te=trailers,x-client=c1"
    );
    let msgs = (1..=3).map(|i| Msg::new("c", i)).collect();
    let m = c.client_stream(msgs).await.expect("client streaming");
    assert_eq!((m.text.as_str(), m.n), ("c+c+c", 6));
    assert_eq!(tokens.count(), 1, "one token, cached");
    gw.shutdown().await;
}

/// A throwaway CA and a certificate for `localhost` and 127.0.0.1 signed by it.
fn pki() -> (String, String, String) {
    let ca = TestCa::new();
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], "localhost");
    (ca.pem(), cert, key)
}

/// gRPC over TLS on both sides: the client reaches the HTTPS listener by ALPN `h2`, the gateway
/// reaches a TLS backend by ALPN `h2` (`backend_protocol = "auto"` and `"h2"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_tls_on_both_sides() {
    let (ca, cert, key) = pki();
    let backend = EchoServer::start_tls(&cert, &key).await;
    let port = backend.addr().port();
    let config = format!(
        r#"
[server]
listen_tls = "127.0.0.1:0"
ca_file = "certs/ca.pem"

[server.tls]
cert = "certs/gw.pem"
key = "certs/gw.key"
{}
[[api]]
name = "EchoH2"
context = "/h2"
protocol = "grpc"
backend_protocol = "h2"
endpoint = "https://127.0.0.1:{port}"
"#,
        grpc_api("Echo", &format!("https://127.0.0.1:{port}"), "")
    );
    let gw = start_gateway(
        &config,
        &[
            ("certs/ca.pem", ca.as_str()),
            ("certs/gw.pem", cert.as_str()),
            ("certs/gw.key", key.as_str()),
        ],
    )
    .await;
    let tls = gw.tls_addr().expect("an HTTPS listener");
    let mut c = Caller::connect_tls(tls, "localhost", &ca, "").await;
    let m = c
        .unary("Unary", with_client_metadata(Msg::new("tls", 3)))
        .await
        .expect("unary over TLS")
        .into_inner();
    assert_eq!(m.text, "echo:tls|te=trailers,x-client=c1");
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c.bidi(rx).await.expect("bidi over TLS");
    for i in 0..2u32 {
        tx.send(Msg::new("t", i)).await.unwrap();
        let m = replies.message().await.expect("reply").expect("message");
        assert_eq!(m.text, "re:t");
    }
    drop(tx);
    assert!(matches!(replies.message().await, Ok(None)));
    // the context `/h2` maps onto the service's path at the endpoint
    let mut h2 = Caller::connect_tls(tls, "localhost", &ca, "/h2").await;
    let (got, end) = h2.server_stream(Request::new(Msg::new("fail", 1))).await;
    assert_eq!(got.len(), 1);
    assert_eq!(end.expect_err("status").code(), Code::ResourceExhausted);
    gw.shutdown().await;
}

// ===== plain HTTP over HTTP/2 =====

/// An HTTP backend that answers with the HTTP version it received, and a trailer. `tls`: ALPN
/// `h2` and `http/1.1`.
async fn version_backend(tls: Option<(&str, &str)>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.map(|(cert, key)| {
        let certs = pem_certs(cert);
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let v = format!("{:?}", req.version());
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("x-checksum", "abc".parse().unwrap());
                        let body = http_body_util::StreamBody::new(futures::stream::iter(vec![
                            Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(
                                Bytes::from(v),
                            )),
                            Ok(hyper::body::Frame::trailers(trailers)),
                        ]));
                        Ok::<_, std::convert::Infallible>(http::Response::new(body))
                    },
                );
                let b = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                match acceptor {
                    Some(a) => {
                        if let Ok(io) = a.accept(tcp).await {
                            let _ = b
                                .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
                                .await;
                        }
                    }
                    None => {
                        let _ = b
                            .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                            .await;
                    }
                }
            });
        }
    });
    (addr, task)
}

fn pem_certs(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

/// A request over h2c (HTTP/2 with prior knowledge) to the gateway's plain listener: status,
/// version, body and trailers.
async fn h2c_get(
    gw: SocketAddr,
    path: &str,
) -> (
    http::StatusCode,
    http::Version,
    String,
    Option<http::HeaderMap>,
) {
    let tcp = tokio::net::TcpStream::connect(gw).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .uri(format!("http://{gw}{path}"))
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send.send_request(req).await.expect("h2c request");
    let (status, version) = (resp.status(), resp.version());
    let collected = resp.into_body().collect().await.expect("body");
    let trailers = collected.trailers().cloned();
    let body = String::from_utf8_lossy(&collected.to_bytes()).into_owned();
    (status, version, body, trailers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_clients_and_backends_by_protocol() {
    let (ca, cert, key) = pki();
    let (plain, _t1) = version_backend(None).await;
    let (tls, _t2) = version_backend(Some((&cert, &key))).await;
    let api = |name: &str, ctx: &str, url: String, proto: &str| {
        format!(
            "\n[[api]]\nname = \"{name}\"\ncontext = \"{ctx}\"\nendpoint = \"{url}\"\nbackend_protocol = \"{proto}\"\n"
        )
    };
    let config = [
        "[server]\nca_file = \"certs/ca.pem\"\n".to_string(),
        api("Plain", "/plain", format!("http://{plain}"), "auto"),
        api("H2c", "/h2c", format!("http://{plain}"), "h2c"),
        api(
            "Tls",
            "/tls",
            format!("https://127.0.0.1:{}", tls.port()),
            "auto",
        ),
        api(
            "TlsH1",
            "/tls-h1",
            format!("https://127.0.0.1:{}", tls.port()),
            "http1",
        ),
        api(
            "TlsH2",
            "/tls-h2",
            format!("https://127.0.0.1:{}", tls.port()),
            "h2",
        ),
    ]
    .concat();
    let gw = TestGateway::start(
        GatewayDir::new(&config, &[("certs/ca.pem", ca.as_str())]),
        synaptic_gateway::ServeOptions::default(),
    )
    .await;
    // the gateway's own endpoints over h2c
    let (status, version, body, _) = h2c_get(gw.addr(), "/health").await;
    assert_eq!(
        (status, version),
        (http::StatusCode::OK, http::Version::HTTP_2)
    );
    assert!(body.contains("UP"), "{body}");
    // the backend's answer by protocol: its body is the version it was spoken to in, and its
    // trailer reaches the HTTP/2 client
    for (path, expect) in [
        ("/plain/x", "HTTP/1.1"),
        ("/h2c/x", "HTTP/2.0"),
        ("/tls/x", "HTTP/2.0"),
        ("/tls-h1/x", "HTTP/1.1"),
        ("/tls-h2/x", "HTTP/2.0"),
    ] {
        let (status, version, body, trailers) = h2c_get(gw.addr(), path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(version, http::Version::HTTP_2, "{path}");
        assert_eq!(body, expect, "{path}");
        if expect == "HTTP/2.0" {
            let t = trailers.unwrap_or_else(|| panic!("{path}: no trailers"));
            assert_eq!(t["x-checksum"], "abc", "{path}");
        }
    }
    gw.shutdown().await;
}

/// The wire form of a gateway fault to a gRPC call, seen by a plain HTTP/2 client: a
/// trailers-only response, and the client's `grpc-timeout` as the deadline when it is shorter
/// than the API's timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shorter_grpc_timeout_is_the_deadline_and_faults_are_trailers_only() {
    use prost::Message;
    let backend = EchoServer::start().await;
    let api = echo_api(&backend, "protocol = \"grpc\"\ntimeout = 30");
    let gw = start_gateway(&api, &[]).await;
    let tcp = tokio::net::TcpStream::connect(gw.addr()).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    // one length-prefixed message: Slow, answering after 5 s
    let msg = Msg::new("late", 5000).encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(msg.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&msg);
    let req = http::Request::post(format!("http://{}/test.Echo/Slow", gw.addr()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", "300m")
        .body(Full::new(Bytes::from(frame)))
        .unwrap();
    let start = tokio::time::Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .expect("answered before the API's timeout")
        .expect("response");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    assert_eq!(resp.headers()["grpc-status"], "4");
    assert_eq!(
        resp.headers()["grpc-message"],
        "Backend timeout: The backend did not answer in time"
    );
    let body = resp.into_body().collect().await.expect("body");
    assert!(body.trailers().is_none());
    assert!(body.to_bytes().is_empty());
    gw.shutdown().await;
}

#[test]
fn protocol_mistakes_are_configuration_errors() {
    let check = |api: &str| -> String {
        let dir = GatewayDir::new(api, &[]);
        match synaptic_gateway::load(&dir.config_path()) {
            Ok(_) => "ok".into(),
            Err(synaptic_gateway::config::ConfigError::Invalid {
                diagnostics,
                sources,
            }) => diagnostics
                .iter()
                .map(|d| synaptic_diag::render::short(&sources, d))
                .map(|s| s.split_once(": ").map(|(_, m)| m.to_string()).unwrap_or(s))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => e.to_string(),
        }
    };
    let head = "[[api]]\nname = \"A\"\ncontext = \"/a\"\n";
    assert_eq!(
        check(&format!("{head}endpoint = \"http://127.0.0.1:1\"\nbackend_protocol = \"h2\"\n")),
        "error[E0402]: API \"A\": \"h2\" is HTTP/2 over TLS, negotiated by ALPN, but the endpoint is http (use \"h2c\" for HTTP/2 without TLS)"
    );
    assert_eq!(
        check(&format!("{head}endpoint = \"https://127.0.0.1:1\"\nbackend_protocol = \"h2c\"\n")),
        "error[E0402]: API \"A\": \"h2c\" is HTTP/2 without TLS, but the endpoint is https (use \"h2\" or \"auto\")"
    );
    assert_eq!(
        check(&format!("{head}endpoint = \"http://127.0.0.1:1\"\nprotocol = \"grpc\"\nbackend_protocol = \"http1\"\n")),
        "error[E0402]: API \"A\": gRPC needs HTTP/2 to the backend: backend_protocol = \"http1\" cannot carry it"
    );
    assert_eq!(
        check(&format!("{head}protocol = \"grpc\"\n")),
        "error[E0402]: API \"A\": a gRPC API (protocol = \"grpc\") needs an endpoint"
    );
    assert!(check(&format!(
        "{head}protocol = \"grpc\"\nendpoint = \"http://127.0.0.1:1\"\nin_sequence = \"s\"\n"
    ))
    .contains("sequences do not mediate gRPC calls (protocol = \"grpc\"): remove in_sequence"));
    assert!(check(&format!("{head}protocol = \"h3\"\n")).contains("unknown variant `h3`"));
    assert_eq!(
        check(&format!("{head}endpoint = \"http://127.0.0.1:1\"\nbackend_protocol = \"h2c\"\nprotocol = \"grpc\"\n")),
        "ok"
    );
}
