//! The reference `simple-token-gen` sequences (the caching variant as WSO2's documentation
//! prints it, from `SYNAPTIC_REFERENCE_DOCS_DIR` (see README), and the non-caching
//! variant shipped in `sequences/`) run against a REAL OAuth2 token endpoint on loopback: the
//! Authlib peer (`gw-client`/`gw-secret`), behind a recording pass-through so the token
//! request's exact bytes can be checked. The backend is an in-process recording origin.
//!
//! Only the two documented placeholders are filled in; nothing else in the sequences changes.

use async_trait::async_trait;
use base64::Engine as _;
use bytes::Bytes;
use std::path::PathBuf;
use std::sync::Arc;
use synaptic_engine::{
    CompileOptions, Engine, Flow, InboundResponse, InvokeError, Invoker, Limits, MessageContext,
    OutboundRequest, SystemClock,
};
use synaptic_registry::{FileRegistry, Registry};
use synaptic_tests::origin::{MockOrigin, MockResponse, RecordingProxy};

const REG: &str = "local:/api-backend-credentials/pizzaOrderingAPI/";
const CONTEXT: &str = "/pizzashack/1.0.0";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The caching sequence exactly as WSO2's documentation prints it (the XML of its code block).
fn documented_caching_text() -> String {
    let dir = synaptic_tests::reference_docs_dir();
    let file = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("002"))
        })
        .expect("the caching simple-token-gen document (002…) in SYNAPTIC_REFERENCE_DOCS_DIR");
    let text = std::fs::read_to_string(file).unwrap();
    let start = text.find("<?xml").expect("the document holds XML");
    let end = start + text[start..].find("```").expect("end of the code block");
    text[start..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fill(text: &str, token_url: &str, id: &str, secret: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    text.replace("{token-endpoint-url}", token_url)
        .replace("{base64encoded(clientKey:clientSecret)}", &b64)
}

/// The shipped non-caching variant with its demo values swapped for the test's.
fn nocache_text(token_url: &str, id: &str, secret: &str) -> String {
    let shipped =
        std::fs::read_to_string(root().join("sequences/simple-token-gen-nocache.xml")).unwrap();
    let demo_b64 = base64::engine::general_purpose::STANDARD.encode("pizza-client:pizza-secret");
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    assert!(shipped.contains(&demo_b64) && shipped.contains("http://127.0.0.1:8280/oauth2/token"));
    shipped
        .replace(&demo_b64, &b64)
        .replace("http://127.0.0.1:8280/oauth2/token", token_url)
}

struct HttpInvoker(reqwest::Client);

#[async_trait]
impl Invoker for HttpInvoker {
    async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
        let mut rb = self
            .0
            .request(req.method, &req.url)
            .headers(req.headers)
            .body(req.body);
        if let Some(t) = req.timeout {
            rb = rb.timeout(t);
        }
        let r = rb.send().await.map_err(|e| {
            if e.is_timeout() {
                InvokeError::Timeout
            } else {
                InvokeError::Connect(e.to_string())
            }
        })?;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r
            .bytes()
            .await
            .map_err(|e| InvokeError::Other(e.to_string()))?;
        Ok(InboundResponse {
            status,
            headers,
            body,
        })
    }
}

fn make_engine(text: &str, registry: Arc<dyn Registry>) -> (Engine, String) {
    let mut map = synaptic_diag::SourceMap::new();
    let id = map.add("simple-token-gen.xml", text.to_string());
    let parse = synaptic_syntax::parse_artifact(id, text);
    let errors: Vec<String> = parse
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| synaptic_diag::render::short(&map, d))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let name = parse.tree.sequences[0].name.value.clone();
    let (program, diags) = synaptic_engine::compile(
        std::slice::from_ref(&parse.tree),
        &CompileOptions::default(),
    );
    let bad: Vec<String> = diags
        .iter()
        .filter(|d| !d.code.id.starts_with("W09"))
        .map(|d| synaptic_diag::render::short(&map, d))
        .collect();
    assert!(
        bad.is_empty(),
        "the sequence must lint clean apart from W09xx:\n{}",
        bad.join("\n")
    );
    let engine = Engine {
        configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
        program: Arc::new(program.expect("program")),
        invoker: Arc::new(HttpInvoker(reqwest::Client::new())),
        registry,
        clock: Arc::new(SystemClock),
        state: Arc::new(synaptic_engine::MemoryState::default()),
        db: std::sync::Arc::new(synaptic_engine::NoDatabase),
        limits: Limits::default(),
    };
    (engine, name)
}

/// Mediate one request and forward it to the backend as the gateway would.
async fn through(
    engine: &Engine,
    seq: &str,
    backend: &MockOrigin,
    method: http::Method,
    path: &str,
    json_body: Option<&str>,
) -> MessageContext {
    let mut headers = http::HeaderMap::new();
    headers.insert("accept", "application/json".parse().unwrap());
    if json_body.is_some() {
        headers.insert("content-type", "application/json".parse().unwrap());
    }
    let body = Bytes::from(json_body.unwrap_or("").to_string());
    let mut ctx = MessageContext::from_request(method, path, headers, body, Some(CONTEXT));
    let flow = engine
        .mediate(seq, None, &mut ctx)
        .await
        .expect("mediation");
    assert_eq!(flow, Flow::Continue);
    let out = ctx.to_outbound(&backend.url()).expect("outbound");
    HttpInvoker(reqwest::Client::new())
        .invoke(out)
        .await
        .expect("backend answers");
    ctx
}

fn check_token_request(proxy: &RecordingProxy, n: usize, id: &str, secret: &str) {
    let reqs = proxy.requests();
    assert_eq!(reqs.len(), n, "token requests so far");
    let r = &reqs[n - 1];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.path(), "/oauth/token");
    assert_eq!(r.body_str(), "grant_type=client_credentials");
    let ct = r.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/x-www-form-urlencoded"),
        "token request Content-Type {ct:?}"
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
}

async fn registry_value(reg: &dyn Registry, key: &str) -> String {
    reg.get(&format!("{REG}{key}"))
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sequence_against_real_token_endpoint() {
    let peer = synaptic_tests::peers::authlib();
    let creds = peer.client();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"ok": true}))).await;
    let text = fill(
        &documented_caching_text(),
        &proxy.url_for("/oauth/token"),
        creds.id,
        creds.secret,
    );
    assert!(!text.contains("{token-endpoint-url}") && !text.contains("{base64encoded"));
    let dir = tempfile::tempdir().unwrap();
    let registry: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.path()).unwrap());
    let (engine, seq) = make_engine(&text, registry.clone());

    // run 1: empty registry → token fetched, cached, body preserved, postfix restored
    let ctx = through(
        &engine,
        &seq,
        &backend,
        http::Method::POST,
        "/pizzashack/1.0.0/order?x=1",
        Some(r#"{"a":1,"b":[true,null]}"#),
    )
    .await;
    check_token_request(&proxy, 1, creds.id, creds.secret);
    let token = registry_value(registry.as_ref(), "access_Token").await;
    assert!(!token.is_empty(), "the token was written to the registry");
    let generated: i64 = registry_value(registry.as_ref(), "generated_Time")
        .await
        .parse()
        .expect("generated_Time is a number");
    assert!(generated > 1_600_000_000_000);
    let req = &backend.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(
        req.uri, "/order?x=1",
        "REST_URL_POSTFIX restored after the token call"
    );
    assert_eq!(
        req.body_str(),
        r#"{"a":1,"b":[true,null]}"#,
        "JSON body unchanged"
    );
    assert!(req
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json"));
    assert_eq!(
        ctx.properties.axis2.get("REST_URL_POSTFIX"),
        Some(&synaptic_engine::Value::String("/order?x=1".into()))
    );

    // run 2: within the hour → the cached token, no call to the token endpoint
    through(
        &engine,
        &seq,
        &backend,
        http::Method::GET,
        "/pizzashack/1.0.0/menu",
        None,
    )
    .await;
    assert_eq!(proxy.count(), 1, "second run must reuse the cached token");
    let req = &backend.requests()[1];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert_eq!(req.uri, "/menu");
    assert!(req.body.is_empty());

    // run 3: generated_Time older than an hour → a new token
    let old = generated - 3_700_000;
    registry
        .put(&format!("{REG}generated_Time"), &old.to_string())
        .await
        .unwrap();
    through(
        &engine,
        &seq,
        &backend,
        http::Method::GET,
        "/pizzashack/1.0.0/menu",
        None,
    )
    .await;
    check_token_request(&proxy, 2, creds.id, creds.secret);
    let token2 = registry_value(registry.as_ref(), "access_Token").await;
    assert_ne!(token2, token, "Authlib issues a new token");
    let req = &backend.requests()[2];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {token2}").as_str())
    );
    let regen: i64 = registry_value(registry.as_ref(), "generated_Time")
        .await
        .parse()
        .unwrap();
    assert!(regen >= generated);

    // a fresh registry on the same folder (a restart) still has the token: no new call
    let reopened: Arc<dyn Registry> = Arc::new(FileRegistry::open(dir.path()).unwrap());
    let (engine2, _) = make_engine(&text, reopened);
    through(
        &engine2,
        &seq,
        &backend,
        http::Method::GET,
        "/pizzashack/1.0.0/menu",
        None,
    )
    .await;
    assert_eq!(proxy.count(), 2);
    assert_eq!(
        backend.requests()[3].header("authorization"),
        Some(format!("Bearer {token2}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_caching_sequence_fetches_a_token_per_request() {
    let peer = synaptic_tests::peers::authlib();
    let creds = peer.client();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"ok": true}))).await;
    let text = nocache_text(&proxy.url_for("/oauth/token"), creds.id, creds.secret);
    let registry: Arc<dyn Registry> = Arc::new(synaptic_registry::MemoryRegistry::new());
    let (engine, seq) = make_engine(&text, registry);

    through(
        &engine,
        &seq,
        &backend,
        http::Method::POST,
        "/pizzashack/1.0.0/order",
        Some(r#"{"pizza":"margherita"}"#),
    )
    .await;
    check_token_request(&proxy, 1, creds.id, creds.secret);
    let req = &backend.requests()[0];
    let auth = req.header("authorization").unwrap_or("").to_string();
    assert!(auth.starts_with("Bearer ") && auth.len() > 12, "{auth}");
    assert_eq!(req.uri, "/order");
    assert_eq!(req.body_str(), r#"{"pizza":"margherita"}"#);

    through(
        &engine,
        &seq,
        &backend,
        http::Method::POST,
        "/pizzashack/1.0.0/order",
        Some(r#"{"n":2}"#),
    )
    .await;
    check_token_request(&proxy, 2, creds.id, creds.secret);
    let auth2 = backend.requests()[1]
        .header("authorization")
        .unwrap_or("")
        .to_string();
    assert_ne!(auth, auth2, "a new token per request");
}

/// Wrong client credentials: Authlib answers 401 with a JSON error; the sequence carries on
/// (a non-2xx answer is still a response) and the token is `""`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_are_a_response_not_a_fault() {
    let peer = synaptic_tests::peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({}))).await;
    let text = nocache_text(&proxy.url_for("/oauth/token"), "gw-client", "wrong");
    let registry: Arc<dyn Registry> = Arc::new(synaptic_registry::MemoryRegistry::new());
    let (engine, seq) = make_engine(&text, registry);
    let ctx = through(
        &engine,
        &seq,
        &backend,
        http::Method::GET,
        "/pizzashack/1.0.0/menu",
        None,
    )
    .await;
    assert_eq!(proxy.count(), 1);
    assert_eq!(
        ctx.properties.axis2.get("HTTP_SC"),
        Some(&synaptic_engine::Value::Integer(401))
    );
    // `Bearer ` with an empty token; the trailing space does not survive HTTP header parsing
    assert_eq!(
        backend.requests()[0].header("authorization").map(str::trim),
        Some("Bearer")
    );
}

/// The token endpoint is down: a fault with ERROR_CODE 101503.
#[tokio::test]
async fn token_endpoint_down_is_a_fault() {
    let port = synaptic_tests::free_port();
    let text = nocache_text(&format!("http://127.0.0.1:{port}/oauth/token"), "a", "b");
    let registry: Arc<dyn Registry> = Arc::new(synaptic_registry::MemoryRegistry::new());
    let (engine, seq) = make_engine(&text, registry);
    let mut ctx = menu_get();
    let e = engine
        .mediate(&seq, None, &mut ctx)
        .await
        .expect_err("fault");
    assert_eq!(e.code, 101503);
    assert_eq!(e.origin, synaptic_engine::Origin::Upstream);
    assert_eq!(
        ctx.properties.default.get("ERROR_CODE"),
        Some(&synaptic_engine::Value::Integer(101503))
    );
}

/// The cached path does no disk I/O: after the first request the file registry serves both
/// reads from memory.
#[tokio::test]
async fn cached_path_reads_the_file_registry_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Arc::new(FileRegistry::open(dir.path()).unwrap());
    let now = synaptic_engine::Clock::now_ms(&SystemClock);
    registry
        .put(&format!("{REG}access_Token"), "tok-cached")
        .await
        .unwrap();
    registry
        .put(&format!("{REG}generated_Time"), &(now - 60_000).to_string())
        .await
        .unwrap();
    registry.clear_cache();
    let text = fill(
        &documented_caching_text(),
        "http://127.0.0.1:9/never",
        "a",
        "b",
    );
    let (engine, seq) = make_engine(&text, registry.clone());
    let mut first_reads = None;
    for i in 0..50 {
        let mut ctx = menu_get();
        let flow = engine
            .mediate(&seq, None, &mut ctx)
            .await
            .expect("cached path");
        assert_eq!(flow, Flow::Continue);
        assert_eq!(ctx.headers["authorization"], "Bearer tok-cached");
        if i == 0 {
            first_reads = Some(registry.disk_reads());
        }
    }
    assert!(first_reads.unwrap() >= 1);
    assert_eq!(
        registry.disk_reads(),
        first_reads.unwrap(),
        "no disk reads after the first request"
    );
}

/// `GET /pizzashack/1.0.0/menu` without headers or body, as the API context sees it.
fn menu_get() -> MessageContext {
    MessageContext::from_request(
        http::Method::GET,
        "/pizzashack/1.0.0/menu",
        http::HeaderMap::new(),
        Bytes::new(),
        Some(CONTEXT),
    )
}
