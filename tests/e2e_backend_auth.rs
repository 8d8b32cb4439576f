//! Native OAuth2 endpoint security against REAL peers: a real OAuth2 server package (Authlib,
//! django-oauth-toolkit) as the token endpoint and protected resource, a real `redis-server` as
//! the shared cache, token requests counted by a recording proxy in front of the peer.
//!
//! Each test drives the gateway's endpoint security (`synaptic_gateway::backend_auth`) the way
//! the proxy core does: `authorize` the outbound request, send it, and on a backend 401 call
//! `unauthorized` and replay once. "Two gateways" are two independent `BackendAuth` instances
//! built from two configurations (own memory cache, own Redis connection).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use synaptic_engine::OutboundRequest;
use synaptic_gateway::backend_auth::upstream::OAuthUpstream;
use synaptic_gateway::backend_auth::BackendAuth;
use synaptic_gateway::config::Config;
use synaptic_gateway::hooks::UpstreamAuth;
use synaptic_tests::http::get_text;
use synaptic_tests::origin::{MockOrigin, MockResponse, RecordingProxy};
use synaptic_tests::peers::{self, Peer, PeerKind, PeerOptions};
use synaptic_tests::redis::RedisServer;

// === harness ===

use synaptic_tests::logs::{capture_global as logs, global_text as log_text};

/// Parse a synaptic.toml text (paths relative to a temp dir).
fn config(text: &str) -> Arc<Config> {
    let dir = std::env::temp_dir();
    match synaptic_gateway::config::from_str(synaptic_diag::SourceId(0), text, dir) {
        Ok(c) => Arc::new(c),
        Err(d) => panic!("config does not load: {d:?}\n{text}"),
    }
}

struct Es<'a> {
    grant: &'a str,
    token_url: String,
    client: (&'a str, &'a str),
    user: Option<(&'a str, &'a str)>,
    scope: &'a str,
    extra_oauth: &'a str,
    redis: Option<String>,
}

fn config_text(es: &Es<'_>) -> String {
    let mut t = format!(
        r#"
[[api]]
name = "bookings"
context = "/bookings"
endpoint = "http://127.0.0.1:9/"

[api.endpoint_security]
type = "oauth2"
grant_type = "{grant}"
token_url = "{url}"
client_id = "{id}"
client_secret = "{secret}"
scope = "{scope}"
"#,
        grant = es.grant,
        url = es.token_url,
        id = es.client.0,
        secret = es.client.1,
        scope = es.scope,
    );
    if let Some((u, p)) = es.user {
        t.push_str(&format!("username = \"{u}\"\npassword = \"{p}\"\n"));
    }
    t.push_str(&format!("\n[oauth]\n{}\n", es.extra_oauth));
    if let Some(r) = &es.redis {
        t.push_str(&format!(
            "\n[redis]\nurl = \"{r}\"\nkey_prefix = \"t{}\"\n",
            std::process::id()
        ));
    }
    t
}

/// One gateway's endpoint security for the API "bookings".
struct Gw {
    auth: Arc<OAuthUpstream>,
    registry: synaptic_gateway::metrics::Registry,
    client: reqwest::Client,
    _backend: Arc<BackendAuth>,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: String,
    /// Backend statuses seen, in order (a replay adds one).
    backend: Vec<u16>,
}

impl Gw {
    fn new(es: &Es<'_>) -> Gw {
        logs();
        let cfg = config(&config_text(es));
        let registry = synaptic_gateway::metrics::Registry::new();
        let backend =
            Arc::new(BackendAuth::new(&cfg, &registry).expect("endpoint security builds"));
        let auth = backend.api(&cfg.api[0]).expect("api builds");
        Gw {
            auth,
            registry,
            client: reqwest::Client::new(),
            _backend: backend,
        }
    }

    /// A 401 from the backend for the token the gateway holds now (whether it will replay).
    async fn unauthorized_now(&self) -> bool {
        let fp = self.auth.handle().current_fingerprint().unwrap();
        let ticket = synaptic_gateway::hooks::AuthTicket {
            fingerprint: fp.into(),
            generation: 0,
            dpop_url: None,
        };
        self.auth
            .unauthorized(&ticket, &http::HeaderMap::new())
            .await
    }

    async fn send(&self, req: &OutboundRequest) -> (u16, http::HeaderMap, String) {
        let mut rb = self
            .client
            .request(req.method.clone(), &req.url)
            .body(req.body.clone());
        for (k, v) in &req.headers {
            rb = rb.header(k, v);
        }
        let r = rb.send().await.expect("backend answers");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.unwrap_or_default())
    }

    /// What the proxy core does for one client request.
    async fn call(&self, method: http::Method, url: &str, body: &str) -> Answer {
        let original = OutboundRequest {
            method,
            url: url.to_string(),
            headers: http::HeaderMap::new(),
            body: Bytes::from(body.to_string()),
            timeout: Some(Duration::from_secs(10)),
        };
        let mut req = original.clone();
        let ticket = match self.auth.authorize(&mut req).await {
            Ok(t) => t,
            Err(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = String::from_utf8_lossy(
                    &http_body_util::BodyExt::collect(resp.into_body())
                        .await
                        .map(|b| b.to_bytes())
                        .unwrap_or_default(),
                )
                .into_owned();
                return Answer {
                    status,
                    headers,
                    body,
                    backend: vec![],
                };
            }
        };
        let (mut status, mut headers, mut text) = self.send(&req).await;
        let mut backend = vec![status];
        if status == 401 && self.auth.unauthorized(&ticket, &headers).await {
            let mut again = original.clone();
            if let Err(resp) = self.auth.authorize(&mut again).await {
                return Answer {
                    status: resp.status().as_u16(),
                    headers: resp.headers().clone(),
                    body: String::new(),
                    backend,
                };
            }
            (status, headers, text) = self.send(&again).await;
            backend.push(status);
        }
        Answer {
            status,
            headers,
            body: text,
            backend,
        }
    }

    async fn get(&self, url: &str) -> Answer {
        self.call(http::Method::GET, url, "").await
    }

    fn metric(&self, name_and_labels: &str) -> f64 {
        let text = self.registry.render();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name_and_labels)
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0.0)
    }
}

fn authlib_es(proxy: &RecordingProxy, redis: Option<String>) -> Es<'static> {
    Es {
        grant: "client_credentials",
        token_url: proxy.url_for("/oauth/token"),
        client: ("gw-client", "gw-secret"),
        user: None,
        scope: "view",
        extra_oauth: "",
        redis,
    }
}

fn token_requests(proxy: &RecordingProxy, path: &str) -> usize {
    proxy.count_path(path)
}

// === scenarios ===

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_requests_one_token_request() {
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let gw = Gw::new(&authlib_es(&proxy, None));
    let resource = peer.resource_url().expect("authlib has a resource");
    for _ in 0..50 {
        let a = gw.get(&resource).await;
        assert_eq!(a.status, 200, "{a:?}");
    }
    assert_eq!(token_requests(&proxy, "/oauth/token"), 1);
    assert_eq!(
        gw.metric("synaptic_backend_token_fetches_total{api=\"bookings\"}"),
        1.0
    );
    assert_eq!(
        gw.metric("synaptic_backend_token_cache_hits_total{api=\"bookings\"}"),
        49.0
    );
    let left = gw.metric("synaptic_backend_token_seconds_left{api=\"bookings\"}");
    assert!(left > 3000.0 && left <= 3600.0, "{left}");
    // the form body was URL-encoded, client auth in a Basic header
    let req = &proxy.requests()[0];
    assert!(req
        .header("authorization")
        .is_some_and(|a| a.starts_with("Basic ")));
    assert!(req.body_str().contains("grant_type=client_credentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_cold_requests_one_token_request() {
    // its own peer: the shared one may be busy with other tests under `cargo test`
    let (_peer, proxy) = peers::counted_authlib().await;
    let backend = MockOrigin::bearer().await;
    let gw = Arc::new(Gw::new(&authlib_es(&proxy, None)));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let gw = gw.clone();
            let url = backend.url();
            tokio::spawn(async move { gw.get(&format!("{url}/x")).await })
        })
        .collect();
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200, "{a:?}");
    }
    assert_eq!(token_requests(&proxy, "/oauth/token"), 1);
    let tokens: HashSet<String> = backend
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(tokens.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateways_sharing_redis_make_one_token_request() {
    let redis = RedisServer::start();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::bearer().await;
    let a = Arc::new(Gw::new(&authlib_es(&proxy, Some(redis.url()))));
    let b = Arc::new(Gw::new(&authlib_es(&proxy, Some(redis.url()))));
    let tasks: Vec<_> = (0..100)
        .flat_map(|_| [a.clone(), b.clone()])
        .map(|gw| {
            let url = backend.url();
            tokio::spawn(async move { gw.get(&format!("{url}/x")).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 200);
    }
    assert_eq!(token_requests(&proxy, "/oauth/token"), 1);
    let shared = a.metric("synaptic_backend_token_shared_hits_total{api=\"bookings\"}")
        + b.metric("synaptic_backend_token_shared_hits_total{api=\"bookings\"}");
    assert_eq!(
        shared, 1.0,
        "one gateway fetched, the other took the token from Redis"
    );

    // the token at rest in Redis is sealed: neither token nor secret in plaintext
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let store_key = format!(
        "t{}:oauth:v1:{}",
        std::process::id(),
        a.auth.handle().key().as_str()
    );
    let value: String = redis::cmd("GET")
        .arg(&store_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let token = backend.requests()[0].header("authorization").unwrap()[7..].to_string();
    assert!(value.starts_with("v1."), "{value}");
    assert!(!value.contains(&token) && !value.contains("gw-secret"));
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&store_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 3_000_000 && ttl <= 3_570_000,
        "TTL = expires_in - skew: {ttl}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn short_lived_tokens_are_refreshed_ahead_and_no_401_reaches_clients() {
    let peer = authlib_with_token_ttl(3);
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let gw = Gw::new(&authlib_es(&proxy, None));
    let resource = peer.resource_url().unwrap();
    let start = tokio::time::Instant::now();
    let mut calls = 0;
    while start.elapsed() < Duration::from_secs(10) {
        let a = gw.get(&resource).await;
        assert_eq!(a.status, 200, "after {:?}: {a:?}", start.elapsed());
        calls += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fetches = token_requests(&proxy, "/oauth/token");
    assert!(
        (4..=8).contains(&fetches),
        "{fetches} token requests for 10 s of 3 s tokens"
    );
    assert!(gw.metric("synaptic_backend_token_refreshes_total{api=\"bookings\"}") >= 3.0);
    assert!(calls > 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoked_token_is_replaced_once_and_the_client_sees_200() {
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let gw = Gw::new(&authlib_es(&proxy, None));
    let resource = peer.resource_url().unwrap();
    assert_eq!(gw.get(&resource).await.status, 200);
    assert_eq!(token_requests(&proxy, "/oauth/token"), 1);

    // revoke the cached token at the server (RFC 7009)
    let fp = gw.auth.handle().current_fingerprint().unwrap();
    let token = {
        // the token the gateway uses, as a backend request would carry it
        let mut req = OutboundRequest {
            method: http::Method::GET,
            url: resource.clone(),
            headers: http::HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        };
        gw.auth.authorize(&mut req).await.unwrap();
        req.headers["authorization"].to_str().unwrap()[7..].to_string()
    };
    let revoke = reqwest::Client::new()
        .post(peer.revocation_url())
        .basic_auth("gw-client", Some("gw-secret"))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 200);

    // concurrent clients: all see 200, exactly one new token request
    let gw = Arc::new(gw);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let gw = gw.clone();
            let r = resource.clone();
            tokio::spawn(async move { gw.get(&r).await })
        })
        .collect();
    let mut replayed = 0;
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, 200, "{a:?}");
        if a.backend == [401, 200] {
            replayed += 1;
        }
    }
    assert!(replayed >= 1);
    assert_eq!(token_requests(&proxy, "/oauth/token"), 2);
    assert_ne!(gw.auth.handle().current_fingerprint().unwrap(), fp);
    assert!(gw.metric("synaptic_backend_401_replays_total{api=\"bookings\"}") >= 1.0);
    assert_eq!(
        gw.metric("synaptic_backend_token_invalidations_total{api=\"bookings\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_on_401_false_lets_the_401_through_but_drops_the_token() {
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let mut es = authlib_es(&proxy, None);
    es.extra_oauth = "retry_on_401 = false";
    let gw = Gw::new(&es);
    let backend = MockOrigin::start(|_| {
        MockResponse::new(401).header("www-authenticate", "Bearer error=\"invalid_token\"")
    })
    .await;
    let a = gw.get(&format!("{}/x", backend.url())).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.backend, [401]);
    assert_eq!(
        gw.metric("synaptic_backend_401_replays_skipped_total{api=\"bookings\"}"),
        1.0
    );
    // insufficient_scope: no refresh either
    let mut es = authlib_es(&proxy, None);
    es.extra_oauth = "retry_on_401 = true";
    let gw2 = Gw::new(&es);
    let scope = MockOrigin::start(|_| {
        MockResponse::new(403).header("www-authenticate", "Bearer error=\"insufficient_scope\"")
    })
    .await;
    let fetches = token_requests(&proxy, "/oauth/token");
    let a = gw2.get(&format!("{}/x", scope.url())).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        token_requests(&proxy, "/oauth/token"),
        fetches + 1,
        "one cold fetch, no refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_endpoint_failing_keeps_a_valid_token_else_503_with_retry_after() {
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::bearer().await;
    let url = format!("{}/x", backend.url());
    let warm = Gw::new(&authlib_es(&proxy, None));
    assert_eq!(warm.get(&url).await.status, 200);

    for failure in [
        MockResponse::new(500).body("internal"),
        MockResponse::new(200).body(""),
        MockResponse::new(200).body("<html>not json</html>"),
        MockResponse::json(400, &serde_json::json!({"error": "invalid_client"})),
        MockResponse::aborted(),
    ] {
        proxy.fail_with(failure);
        // a gateway with a still-valid token keeps serving
        assert_eq!(warm.get(&url).await.status, 200);
        // a cold gateway answers 503 + Retry-After + JSON fault
        let cold = Gw::new(&authlib_es(&proxy, None));
        let a = cold.get(&url).await;
        assert_eq!(a.status, 503, "{a:?}");
        let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
        let fault: serde_json::Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(fault["fault"]["code"], 303003);
        assert!(a.body.contains("could not obtain an access token"));
        // backoff: an immediate retry does not reach the token endpoint again
        let before = proxy.count();
        assert_eq!(cold.get(&url).await.status, 503);
        assert_eq!(proxy.count(), before);
    }
    // slow token endpoint: bounded by [oauth] wait_timeout
    proxy.fail_with(MockResponse::text("{}").delay(Duration::from_secs(30)));
    let mut es = authlib_es(&proxy, None);
    es.extra_oauth = "wait_timeout = 1\ntoken_timeout = 2";
    let slow = Gw::new(&es);
    let t0 = tokio::time::Instant::now();
    assert_eq!(slow.get(&url).await.status, 503);
    assert!(t0.elapsed() < Duration::from_secs(3));
    proxy.pass();
    assert_eq!(
        warm.metric("synaptic_backend_token_cache_misses_total{api=\"bookings\"}"),
        1.0,
        "the warm gateway never waited for a token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_stopped_and_restarted_mid_run() {
    let mut redis = RedisServer::start();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::bearer().await;
    let url = format!("{}/x", backend.url());
    let a = Gw::new(&authlib_es(&proxy, Some(redis.url())));
    assert_eq!(a.get(&url).await.status, 200);

    redis.stop();
    for _ in 0..20 {
        assert_eq!(
            a.get(&url).await.status,
            200,
            "memory cache while Redis is down"
        );
    }
    // a cold gateway while Redis is down still gets a token (local single flight)
    let b = Gw::new(&authlib_es(&proxy, Some(redis.url())));
    let t0 = tokio::time::Instant::now();
    assert_eq!(b.get(&url).await.status, 200);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "Redis down must not hang requests"
    );
    assert_eq!(token_requests(&proxy, "/oauth/token"), 2);
    assert!(log_text().matches("shared token store unavailable").count() >= 1);

    redis.restart();
    // after the outage the gateway rejoins Redis: a 401 makes it fetch and store a new token,
    // which a third gateway takes from Redis instead of fetching
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(b.unauthorized_now().await);
    assert_eq!(b.get(&url).await.status, 200);
    assert_eq!(token_requests(&proxy, "/oauth/token"), 3);
    let c = Gw::new(&authlib_es(&proxy, Some(redis.url())));
    assert_eq!(c.get(&url).await.status, 200);
    assert_eq!(
        token_requests(&proxy, "/oauth/token"),
        3,
        "third gateway used the shared token"
    );
    assert_eq!(b.metric("synaptic_backend_token_store_up"), 1.0);
}

/// Password grant against Authlib (rotating refresh tokens; the old pair is revoked on refresh,
/// so a request still in flight with the old token gets 401 `invalid_token` and is replayed
/// with the new one). django-oauth-toolkit answers 403 without `WWW-Authenticate` for a revoked
/// token, which no gateway can tell from a real authorization failure; see docs/CONFIG.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn password_grant_with_refresh_tokens() {
    let peer = authlib_with_token_ttl(3);
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let es = Es {
        grant: "password",
        token_url: proxy.url_for("/oauth/token"),
        client: ("gw-client", "gw-secret"),
        user: Some(peers::USER),
        scope: "view",
        extra_oauth: "",
        redis: None,
    };
    let gw = Gw::new(&es);
    let resource = peer.resource_url().unwrap();
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        let a = gw.get(&resource).await;
        assert_eq!(a.status, 200, "after {:?}: {a:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grants: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| r.path() == "/oauth/token")
        .filter_map(|r| {
            r.form()
                .into_iter()
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v)
        })
        .collect();
    assert_eq!(grants.first().map(String::as_str), Some("password"));
    assert!(
        grants.iter().filter(|g| *g == "refresh_token").count() >= 2,
        "{grants:?}"
    );
    // the password is sent only with the password grant
    for r in proxy
        .requests()
        .iter()
        .filter(|r| r.body_str().contains("grant_type=refresh_token"))
    {
        assert!(!r.body_str().contains("wonderland"));
    }

    // a refused refresh token falls back to the password grant
    proxy.intercept(|r| {
        r.body_str()
            .contains("grant_type=refresh_token")
            .then(|| MockResponse::json(400, &serde_json::json!({"error": "invalid_grant"})))
    });
    let before = grants.len();
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        assert_eq!(gw.get(&resource).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after: Vec<String> = proxy
        .requests()
        .iter()
        .skip(before)
        .filter_map(|r| {
            r.form()
                .into_iter()
                .find(|(k, _)| k == "grant_type")
                .map(|(_, v)| v)
        })
        .collect();
    assert!(
        after
            .windows(2)
            .any(|w| w[0] == "refresh_token" && w[1] == "password"),
        "{after:?}"
    );
    assert!(gw.metric("synaptic_backend_refresh_grant_refused_total{api=\"bookings\"}") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn secrets_and_tokens_never_reach_logs_or_fault_bodies() {
    let redis = RedisServer::start();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::bearer().await;
    let url = format!("{}/x", backend.url());
    let es = Es {
        grant: "password",
        token_url: proxy.url_for("/oauth/token"),
        client: ("gw-client", "gw-secret"),
        user: Some(("alice", "wonderland")),
        scope: "view",
        extra_oauth: "",
        redis: Some(redis.url()),
    };
    let gw = Gw::new(&es);
    assert_eq!(gw.get(&url).await.status, 200);
    // a 401 (invalidate + replay), then an IdP error and a cold 503
    assert!(gw.unauthorized_now().await);
    assert_eq!(gw.get(&url).await.status, 200);
    proxy.fail_with(MockResponse::json(
        401,
        &serde_json::json!({"error": "invalid_client", "error_description": "bad client"}),
    ));
    let mut cold_es = es;
    cold_es.client = ("gw-client", "gw-secret-rotated");
    let cold = Gw::new(&cold_es);
    let a = cold.get(&url).await;
    assert_eq!(a.status, 503);

    let mut secrets: Vec<String> = vec![
        "gw-secret".into(),
        "wonderland".into(),
        "Z3ctY2xpZW50Omd3LXNlY3JldA".into(), // base64 of gw-client:gw-secret
    ];
    secrets.extend(
        backend
            .requests()
            .iter()
            .filter_map(|r| r.header("authorization").map(|a| a[7..].to_string())),
    );
    let logs = log_text();
    assert!(
        logs.contains("token fetched"),
        "logging is captured:\n{logs}"
    );
    for s in &secrets {
        assert!(!logs.contains(s.as_str()), "secret {s:?} in logs:\n{logs}");
        assert!(!a.body.contains(s.as_str()));
    }
    let dbg = format!("{:?}", gw.auth);
    for s in &secrets {
        assert!(!dbg.contains(s.as_str()), "secret in Debug: {dbg}");
    }
}

// === through the real gateway (hyper server, routing, proxy core) ===

fn gateway_config(backend: &str, token_url: &str, scope: &str, extra: &str) -> String {
    let api = peers::authlib_bookings_api(backend, token_url, "SYNAPTIC_TEST_GW_SECRET", scope);
    format!("\n{api}{extra}\n")
}

fn set_secret_env() {
    // the same value for every test of this process
    std::env::set_var("SYNAPTIC_TEST_GW_SECRET", "gw-secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_revoked_token_replays_once_and_metrics_are_exposed() {
    set_secret_env();
    let peer = peers::authlib();
    // one recording proxy in front of the peer: token endpoint and protected resource
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let gw = synaptic_tests::gateway::start_gateway(
        &gateway_config(
            &proxy.url(),
            &proxy.url_for("/oauth/token"),
            "view book",
            "",
        ),
        &[],
    )
    .await;
    let http = reqwest::Client::new();
    let r = http
        .get(gw.url("/bookings/api/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("gw-client"));

    // revoke the gateway's token at the server (RFC 7009)
    let token = proxy
        .requests()
        .iter()
        .find(|r| r.path() == "/api/bookings")
        .and_then(|r| r.header("authorization").map(|a| a[7..].to_string()))
        .expect("the backend saw a bearer token");
    let revoked = reqwest::Client::new()
        .post(peer.revocation_url())
        .basic_auth("gw-client", Some("gw-secret"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status().as_u16(), 200);

    // the client still sees 200: backend 401, one new token, one replay
    let r = http
        .get(gw.url("/bookings/api/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(token_requests(&proxy, "/oauth/token"), 2);
    assert_eq!(
        proxy.count_path("/api/bookings"),
        3,
        "first call, refused call, replay"
    );

    let metrics = get_text(&http, &gw.url("/metrics")).await;
    for line in [
        "synaptic_backend_token_fetches_total{api=\"bookings\"} 2",
        "synaptic_backend_401_replays_total{api=\"bookings\"} 1",
        "synaptic_backend_token_invalidations_total{api=\"bookings\"} 1",
        "synaptic_backend_token_seconds_left{api=\"bookings\"} ",
    ] {
        assert!(metrics.contains(line), "{line} missing in\n{metrics}");
    }
    assert!(!metrics.contains("gw-secret") && !metrics.contains(&token));

    // POST with a body and the `book` scope
    let r = http
        .post(gw.url("/bookings/api/bookings"))
        .json(&serde_json::json!({"when": "tomorrow"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gateway_replays_a_post_body_once_after_a_401_for_the_failed_token_only() {
    set_secret_env();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    // a backend that refuses the first token it sees (as if revoked), accepts later ones
    let first: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let f = first.clone();
    let backend = MockOrigin::start(move |r| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let mut g = f.lock().unwrap();
        let refused = g.get_or_insert_with(|| auth.clone());
        if *refused == auth {
            MockResponse::new(401).header("www-authenticate", "Bearer error=\"invalid_token\"")
        } else {
            MockResponse::text(format!("got {}", r.body_str()))
        }
    })
    .await;
    let gw = synaptic_tests::gateway::start_gateway(
        &gateway_config(&backend.url(), &proxy.url_for("/oauth/token"), "view", ""),
        &[],
    )
    .await;
    let r = reqwest::Client::new()
        .post(gw.url("/bookings/orders"))
        .header("content-type", "application/json")
        .body(r#"{"pizza":"margherita"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), r#"got {"pizza":"margherita"}"#);
    assert_eq!(backend.count(), 2, "one 401, one replay");
    assert_eq!(token_requests(&proxy, "/oauth/token"), 2);
    let reqs = backend.requests();
    assert_ne!(
        reqs[0].header("authorization"),
        reqs[1].header("authorization")
    );
    assert_eq!(reqs[1].body_str(), r#"{"pizza":"margherita"}"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_gateway_servers_share_redis_and_a_dead_token_endpoint_gives_503() {
    set_secret_env();
    let redis = RedisServer::start();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    let backend = MockOrigin::bearer().await;
    let cfg = gateway_config(
        &backend.url(),
        &proxy.url_for("/oauth/token"),
        "view",
        &format!("\n[redis]\nurl = \"{}\"\n", redis.url()),
    );
    let a = synaptic_tests::gateway::start_gateway(&cfg, &[]).await;
    let b = synaptic_tests::gateway::start_gateway(&cfg, &[]).await;
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..50)
        .flat_map(|i| {
            [
                a.url(&format!("/bookings/x{i}")),
                b.url(&format!("/bookings/y{i}")),
            ]
        })
        .map(|u| {
            let http = http.clone();
            tokio::spawn(async move { http.get(u).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(token_requests(&proxy, "/oauth/token"), 1);

    // a third gateway with other credentials while the token endpoint is down: 503 JSON fault
    proxy.fail_with(MockResponse::aborted());
    let cold_cfg = cfg.replace("scope = \"view\"", "scope = \"book\"");
    let c = synaptic_tests::gateway::start_gateway(&cold_cfg, &[]).await;
    let r = http.get(c.url("/bookings/z")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["fault"]["code"], 303003);
    // the gateways that have a token keep working
    assert_eq!(
        http.get(a.url("/bookings/again"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

// === the Redis store's primitives against a real redis-server ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_lock_compare_and_delete_and_sealing() {
    use synaptic_gateway::backend_auth::redis_store::RedisTokenStore;
    use synaptic_gateway::backend_auth::seal::Sealer;
    use synaptic_oauth::client::{ClientAuth, ClientSpec, Grant, Secret, StoredToken, TokenStore};

    let redis = RedisServer::start();
    let spec = |secret: &str| ClientSpec {
        token_url: "http://idp/token".into(),
        client_id: "c".into(),
        client_secret: Secret::new(secret),
        grant: Grant::ClientCredentials,
        scope: None,
        auth: ClientAuth::Basic,
        params: Default::default(),
        dpop: None,
    };
    let key = spec("s1").cache_key();
    let store = RedisTokenStore::new(&redis.url(), "prim", Sealer::new(None)).unwrap();
    let lease = Duration::from_millis(800);

    // SET NX PX: one owner at a time; renew and release only by the owner
    assert!(store.try_lock(&key, "a", lease).await.unwrap());
    assert!(!store.try_lock(&key, "b", lease).await.unwrap());
    assert!(!store.renew_lock(&key, "b", lease).await.unwrap());
    store.unlock(&key, "b").await.unwrap();
    assert!(
        !store.try_lock(&key, "b", lease).await.unwrap(),
        "b cannot release a's lock"
    );
    assert!(store.renew_lock(&key, "a", lease).await.unwrap());
    store.unlock(&key, "a").await.unwrap();
    assert!(store.try_lock(&key, "b", lease).await.unwrap());
    // an abandoned lock expires with its lease
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(store.try_lock(&key, "c", lease).await.unwrap());

    // tokens: sealed, TTL, compare-and-delete by fingerprint
    let token = StoredToken {
        access_token: Secret::new("at-123"),
        token_type: "Bearer".into(),
        issued_at_ms: 1,
        expires_at_ms: 2,
        refresh_token: Some(Secret::new("rt-456")),
    };
    store
        .save(&key, &token, Duration::from_secs(60))
        .await
        .unwrap();
    let back = store.load(&key).await.unwrap().unwrap();
    assert_eq!(back.access_token, token.access_token);
    assert_eq!(back.refresh_token, token.refresh_token);
    assert!(!store.remove_if(&key, "000000000000").await.unwrap());
    assert!(store.load(&key).await.unwrap().is_some());
    assert!(store.remove_if(&key, &token.fingerprint()).await.unwrap());
    assert!(store.load(&key).await.unwrap().is_none());

    // a value sealed for other credentials (or tampered) reads as absent, not as an error
    let other = spec("s2").cache_key();
    store
        .save(&other, &token, Duration::from_secs(60))
        .await
        .unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let raw: String = redis::cmd("GET")
        .arg(store.token_key(&other))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(store.token_key(&key))
        .arg(&raw)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(store.load(&key).await.unwrap().is_none());
    assert!(!raw.contains("at-123") && !raw.contains("rt-456"));

    // Redis gone: errors, quickly, no hang
    let mut redis = redis;
    redis.stop();
    let t0 = tokio::time::Instant::now();
    assert!(store.load(&key).await.is_err());
    assert!(store.try_lock(&key, "d", lease).await.is_err());
    assert!(t0.elapsed() < Duration::from_secs(3));
    // and back
    redis.restart();
    let mut ok = false;
    for _ in 0..20 {
        if store.load(&other).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the store reconnects after a restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_methods_limit_replays_to_idempotent_requests_or_idempotency_keys() {
    set_secret_env();
    let peer = peers::authlib();
    let proxy = RecordingProxy::start(&peer.base_url()).await;
    // a backend that refuses the tokens the test revoked
    let revoked: Arc<Mutex<HashSet<String>>> = Arc::new(Mutex::new(HashSet::new()));
    let r2 = revoked.clone();
    let backend = MockOrigin::start(move |r| {
        let auth = r.header("authorization").unwrap_or_default().to_string();
        if r2.lock().unwrap().contains(&auth) {
            MockResponse::new(401).header("www-authenticate", "Bearer error=\"invalid_token\"")
        } else {
            MockResponse::text("done")
        }
    })
    .await;
    let revoke_last = || {
        let last = backend
            .requests()
            .last()
            .and_then(|r| r.header("authorization").map(str::to_string));
        revoked
            .lock()
            .unwrap()
            .insert(last.expect("a request was made"));
    };
    let cfg = gateway_config(&backend.url(), &proxy.url_for("/oauth/token"), "view", "")
        + "\n[oauth]\nreplay_methods = [\"GET\", \"PUT\"]\n";
    let gw = synaptic_tests::gateway::start_gateway(&cfg, &[]).await;
    let http = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status().as_u16();

    assert_eq!(
        status(http.get(gw.url("/bookings/o")).send().await.unwrap()),
        200
    );
    revoke_last();
    // POST without an Idempotency-Key: not replayed, the 401 reaches the client
    let r = http
        .post(gw.url("/bookings/o"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    assert_eq!(backend.count(), 2);

    // the refused token was dropped: the next request gets a new one
    assert_eq!(
        status(http.get(gw.url("/bookings/o")).send().await.unwrap()),
        200
    );
    revoke_last();
    // POST with an Idempotency-Key: replayed
    let r = http
        .post(gw.url("/bookings/o"))
        .header("idempotency-key", "k-1")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    assert_eq!(backend.count(), 5);

    revoke_last();
    // GET (listed): replayed
    assert_eq!(
        status(http.get(gw.url("/bookings/o")).send().await.unwrap()),
        200
    );
    assert_eq!(backend.count(), 7);
    assert_eq!(token_requests(&proxy, "/oauth/token"), 4);
}

/// The real Authlib peer issuing tokens that live `secs` seconds.
fn authlib_with_token_ttl(secs: u64) -> Peer {
    Peer::start(
        PeerKind::Authlib,
        PeerOptions {
            token_ttl: Some(secs),
            ..PeerOptions::default()
        },
    )
}
