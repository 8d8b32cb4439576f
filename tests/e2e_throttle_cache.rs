//! End-to-end tests of the shared state: `<throttle>` counters held by one real Redis for two
//! gateways (the limit holds under concurrent load), a response `<cache>`d by one gateway and
//! served by the other, the in-memory cache's metrics, and `rate_limit` (429, `Retry-After`,
//! the RateLimit headers, configuration errors with positions). Real gateways on 127.0.0.1:0 in
//! this process, a real `redis-server`, in-process origins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use synaptic_gateway::ServeOptions;
use synaptic_tests::gateway::{start_gateway, GatewayDir, TestGateway};
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::redis::RedisServer;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .expect("reqwest client")
}

/// A gateway serving the API `limited` at `/l` in front of `backend`, with these resources.
async fn limited(backend: &MockOrigin, resources: &str) -> TestGateway {
    let cfg = format!(
        "[server]\nsequences = \"sequences\"\n\n[[api]]\nname = \"limited\"\ncontext = \"/l\"\n\
         endpoint = \"{}\"\n{resources}",
        backend.url()
    );
    start_gateway(&cfg, &[("sequences/.keep", "")]).await
}

fn config(redis: Option<&str>) -> String {
    let mut c = String::from("[server]\nsequences = \"sequences\"\n");
    if let Some(url) = redis {
        c.push_str(&format!("[redis]\nurl = \"{url}\"\nkey_prefix = \"e2e\"\n"));
    }
    c
}

async fn metric(http: &reqwest::Client, gw: &TestGateway, name: &str) -> f64 {
    let text = http
        .get(gw.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

const THROTTLED_API: &str = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Throttled" context="/t">
  <resource methods="GET" uri-template="/x">
    <inSequence>
      <throttle id="shared">
        <policy>
          <wsp:Policy xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
                      xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle">
            <throttle:MediatorThrottleAssertion>
              <wsp:Policy>
                <throttle:ID throttle:type="IP">other</throttle:ID>
                <wsp:Policy><throttle:Control><wsp:Policy>
                  <throttle:MaximumCount>100</throttle:MaximumCount>
                  <throttle:UnitTime>600000</throttle:UnitTime>
                </wsp:Policy></throttle:Control></wsp:Policy>
              </wsp:Policy>
            </throttle:MediatorThrottleAssertion>
          </wsp:Policy>
        </policy>
        <onAccept>
          <payloadFactory media-type="json"><format>{"verdict":"accept"}</format></payloadFactory>
          <respond/>
        </onAccept>
        <onReject>
          <property name="HTTP_SC" value="429" scope="axis2"/>
          <payloadFactory media-type="json"><format>{"verdict":"reject"}</format></payloadFactory>
          <respond/>
        </onReject>
      </throttle>
    </inSequence>
  </resource>
</api>"#;

/// Two gateways, one Redis, 300 concurrent requests: exactly the policy's 100 pass (at most
/// 2 % more is the bound the counters promise; one Lua script per hit gives exactly 100).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttle_limit_holds_across_two_gateways_sharing_redis() {
    let redis = RedisServer::start();
    let files = [("sequences/api.xml", THROTTLED_API)];
    let a = Arc::new(start_gateway(&config(Some(&redis.url())), &files).await);
    let b = Arc::new(start_gateway(&config(Some(&redis.url())), &files).await);
    let http = client();
    // one request each first: both gateways are connected to Redis before the burst
    let mut accepted = 0;
    for gw in [&a, &b] {
        let r = http.get(gw.url("/t/x")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        accepted += 1;
    }
    let tasks: Vec<_> = (0..149)
        .flat_map(|_| [a.clone(), b.clone()])
        .map(|gw| {
            let http = http.clone();
            tokio::spawn(async move {
                let r = http.get(gw.url("/t/x")).send().await.expect("request");
                (r.status().as_u16(), r.text().await.unwrap_or_default())
            })
        })
        .collect();
    let mut rejected = 0;
    for t in tasks {
        match t.await.unwrap() {
            (200, body) if body.contains("accept") => accepted += 1,
            (429, body) if body.contains("reject") => rejected += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (100..=102).contains(&accepted),
        "{accepted} accepted, {rejected} rejected"
    );
    assert_eq!(accepted + rejected, 300);
    // both gateways counted into the same window: it stays closed for either
    for gw in [&a, &b] {
        let r = http.get(gw.url("/t/x")).send().await.unwrap();
        assert_eq!(r.status(), 429);
    }
}

fn cached_api(backend: &str) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Cached" context="/c">
  <resource methods="GET" uri-template="/item/{{id}}">
    <inSequence>
      <cache collector="false" timeout="60">
        <protocol type="HTTP"><methods>GET</methods><includeAgeHeader>true</includeAgeHeader></protocol>
      </cache>
      <call><endpoint><address uri="{backend}/origin"/></endpoint></call>
      <cache collector="true"/>
      <respond/>
    </inSequence>
  </resource>
</api>"#
    )
}

/// A backend answering `{"n": <call number>}` with a header of its own.
async fn counting_backend() -> (MockOrigin, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let origin = MockOrigin::start(move |_| {
        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
        MockResponse::json(200, &serde_json::json!({ "n": n })).header("x-origin", "yes")
    })
    .await;
    (origin, calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cached_by_one_gateway_is_served_by_the_other() {
    let redis = RedisServer::start();
    let (backend, calls) = counting_backend().await;
    let api = cached_api(&backend.url());
    let files = [("sequences/api.xml", api.as_str())];
    let a = start_gateway(&config(Some(&redis.url())), &files).await;
    let b = start_gateway(&config(Some(&redis.url())), &files).await;
    let http = client();
    let first = http.get(a.url("/c/item/7")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let first_body = first.text().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let second = http.get(b.url("/c/item/7")).send().await.unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["x-origin"], "yes");
    assert!(second.headers().contains_key("age"));
    assert!(second.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(second.text().await.unwrap(), first_body);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "B answered from the cache");
    // another id is another entry
    http.get(b.url("/c/item/8")).send().await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(metric(&http, &b, "synaptic_cache_hits_total").await, 1.0);
    assert_eq!(metric(&http, &b, "synaptic_cache_misses_total").await, 1.0);
    assert_eq!(metric(&http, &a, "synaptic_cache_stores_total").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_memory_cache_answers_and_counts_in_metrics() {
    let (backend, calls) = counting_backend().await;
    let api = cached_api(&backend.url());
    let gw = start_gateway(&config(None), &[("sequences/api.xml", api.as_str())]).await;
    let http = client();
    for _ in 0..3 {
        let r = http.get(gw.url("/c/item/1")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"n":1}"#);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(metric(&http, &gw, "synaptic_cache_hits_total").await, 2.0);
    assert_eq!(metric(&http, &gw, "synaptic_cache_misses_total").await, 1.0);
    assert_eq!(
        metric(&http, &gw, "synaptic_cache_evictions_total").await,
        0.0
    );
}

/// `<implementation type="memory" maxSize="2"/>` through the gateway: the third item stored
/// evicts the least recently used one (counted in `synaptic_cache_evictions_total`), the two
/// others are still answered from the cache, and a response stored again under a key the
/// cache holds evicts nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_with_max_size_evicts_its_least_recently_used_entry() {
    let (backend, calls) = counting_backend().await;
    let api = cached_api(&backend.url()).replace(
        r#"<cache collector="false" timeout="60">"#,
        r#"<cache id="two" collector="false" timeout="60">
        <implementation type="memory" maxSize="2"/>"#,
    );
    let gw = start_gateway(&config(None), &[("sequences/api.xml", api.as_str())]).await;
    let http = client();
    let get = |id: u32| {
        let http = http.clone();
        let url = gw.url(&format!("/c/item/{id}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    assert_eq!(get(1).await, r#"{"n":1}"#);
    assert_eq!(get(2).await, r#"{"n":2}"#);
    // item 1 read again (a hit): item 2 is now the least recently used
    assert_eq!(get(1).await, r#"{"n":1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        metric(&http, &gw, "synaptic_cache_evictions_total").await,
        0.0
    );
    assert_eq!(get(3).await, r#"{"n":3}"#);
    assert_eq!(
        metric(&http, &gw, "synaptic_cache_evictions_total").await,
        1.0
    );
    // 1 and 3 are held
    assert_eq!(get(1).await, r#"{"n":1}"#);
    assert_eq!(get(3).await, r#"{"n":3}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // 2 was evicted: the backend answers again, and storing it evicts item 1 (now the least
    // recently used)
    assert_eq!(get(2).await, r#"{"n":4}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        metric(&http, &gw, "synaptic_cache_evictions_total").await,
        2.0
    );
    assert_eq!(get(3).await, r#"{"n":3}"#);
    assert_eq!(get(1).await, r#"{"n":5}"#);
    assert_eq!(metric(&http, &gw, "synaptic_cache_hits_total").await, 4.0);
}

/// `<implementation maxSize="2"/>` with `[redis]`: two gateways sharing one Redis share one
/// bound. What either stores pushes out the cache's least recently used entry, whoever stored
/// or read it; a hit at either gateway makes an entry the most recently used; the evictions
/// are counted by the gateway that made them; Redis holds two entries of the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_with_max_size_holds_its_bound_across_gateways_sharing_redis() {
    let redis = RedisServer::start();
    let (backend, calls) = counting_backend().await;
    let api = cached_api(&backend.url()).replace(
        r#"<cache collector="false" timeout="60">"#,
        r#"<cache id="two" collector="false" timeout="60">
        <implementation type="memory" maxSize="2"/>"#,
    );
    let files = [("sequences/api.xml", api.as_str())];
    let a = start_gateway(&config(Some(&redis.url())), &files).await;
    let b = start_gateway(&config(Some(&redis.url())), &files).await;
    let http = client();
    let get = |gw: &TestGateway, id: u32| {
        let http = http.clone();
        let url = gw.url(&format!("/c/item/{id}"));
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let held = || async {
        let client = redis::Client::open(redis.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let n: u64 = redis::cmd("ZCARD")
            .arg("e2e:state:cache-lru:two")
            .query_async(&mut c)
            .await
            .unwrap();
        let mut keys: Vec<String> = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg("e2e:state:cache:two:*")
            .arg("COUNT")
            .arg(1000)
            .query_async::<(u64, Vec<String>)>(&mut c)
            .await
            .unwrap()
            .1;
        keys.sort();
        (n, keys.len())
    };
    assert_eq!(get(&a, 1).await, r#"{"n":1}"#);
    assert_eq!(get(&b, 2).await, r#"{"n":2}"#);
    // item 1 read at B (a hit): item 2 is now the least recently used
    assert_eq!(get(&b, 1).await, r#"{"n":1}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(held().await, (2, 2));
    // A stores item 3: item 2 goes, whoever stored it
    assert_eq!(get(&a, 3).await, r#"{"n":3}"#);
    assert_eq!(held().await, (2, 2));
    assert_eq!(
        metric(&http, &a, "synaptic_cache_evictions_total").await,
        1.0
    );
    assert_eq!(
        metric(&http, &b, "synaptic_cache_evictions_total").await,
        0.0
    );
    assert_eq!(get(&b, 1).await, r#"{"n":1}"#);
    assert_eq!(get(&b, 3).await, r#"{"n":3}"#);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // item 2 was evicted: the backend answers again, and B storing it evicts item 1
    assert_eq!(get(&b, 2).await, r#"{"n":4}"#);
    assert_eq!(
        metric(&http, &b, "synaptic_cache_evictions_total").await,
        1.0
    );
    assert_eq!(get(&a, 3).await, r#"{"n":3}"#);
    assert_eq!(get(&a, 1).await, r#"{"n":5}"#);
    assert_eq!(held().await, (2, 2));
    // many stores from both at once: the bound still holds
    let tasks: Vec<_> = (10..40)
        .map(|id| {
            let http = http.clone();
            let url = if id % 2 == 0 { &a } else { &b }.url(&format!("/c/item/{id}"));
            tokio::spawn(async move { http.get(url).send().await.unwrap().status() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(held().await, (2, 2));
    let evicted = metric(&http, &a, "synaptic_cache_evictions_total").await
        + metric(&http, &b, "synaptic_cache_evictions_total").await;
    assert_eq!(evicted, 3.0 + 30.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after_and_ratelimit_headers() {
    let backend = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let gw = limited(
        &backend,
        r#"
[[api.resource]]
uri_template = "/r"
rate_limit = { requests = 3, per = "1m", key = "header:x-api-key" }

[[api.resource]]
uri_template = "/free"
"#,
    )
    .await;
    let http = client();
    let keyed = |key: &'static str| http.get(gw.url("/l/r")).header("x-api-key", key).send();
    for left in [2, 1, 0] {
        let r = keyed("k1").await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-policy"], "\"default\";q=3;w=60");
        let rl = r.headers()["ratelimit"].to_str().unwrap().to_string();
        assert!(rl.starts_with(&format!("\"default\";r={left};t=")), "{rl}");
        assert!(r.headers().get("retry-after").is_none());
    }
    let r = keyed("k1").await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.headers()["ratelimit"]
        .to_str()
        .unwrap()
        .starts_with("\"default\";r=0;t="));
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["fault"]["code"], 429001);
    assert_eq!(
        backend.count(),
        3,
        "the refused request never reached the backend"
    );
    // another key is another caller; a resource without a limit is not counted
    let r = keyed("k2").await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(gw.url("/l/free")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("ratelimit").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synapse_expression_key_counts_each_tenant_and_item_apart() {
    let backend = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let gw = limited(
        &backend,
        r#"
[[api.resource]]
uri_template = "/items/{id}"
rate_limit = { requests = 2, per = "1m", key = '${headers["X-Tenant"] + ":" + string(params.pathParams.id)}' }
"#,
    )
    .await;
    let http = client();
    let get = |tenant: &'static str, id: &'static str| {
        let http = http.clone();
        let url = gw.url(&format!("/l/items/{id}"));
        async move {
            http.get(url)
                .header("x-tenant", tenant)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(get("acme", "1").await, 200);
    assert_eq!(get("acme", "1").await, 200);
    assert_eq!(get("acme", "1").await, 429, "acme:1 used its two requests");
    // another item of the same tenant, and the same item of another tenant, are other callers
    assert_eq!(get("acme", "2").await, 200);
    assert_eq!(get("globex", "1").await, 200);
    assert_eq!(get("globex", "1").await, 200);
    assert_eq!(get("globex", "1").await, 429);
    assert_eq!(backend.count(), 5);
}

#[tokio::test]
async fn rate_limit_mistakes_are_diagnostics_with_positions() {
    let cfg = r#"[server]
sequences = "sequences"

[[api]]
name = "limited"
context = "/l"
endpoint = "http://127.0.0.1:9/"
rate_limit = { requests = 10, per = "soon" }

[[api.resource]]
uri_template = "/r"
rate_limit = { requests = 10, per = "1s", key = "client_id" }

[[api.resource]]
uri_template = "/p"
rate_limit = { requests = 10, per = "1s", key = "${payload.user}" }
"#;
    let dir = GatewayDir::new(cfg, &[("sequences/.keep", "")]);
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("the TOML loads");
    let opts = ServeOptions {
        config_path: Some(dir.config_path()),
        ..ServeOptions::default()
    };
    let map = loaded.sources;
    let Err(err) = synaptic_gateway::Gateway::build(loaded.config, &opts).await else {
        panic!("the plan is refused");
    };
    let synaptic_gateway::StartError::Plan(diags) = err else {
        panic!("expected plan diagnostics, got {err}");
    };
    let text: Vec<String> = diags
        .iter()
        .map(|d| synaptic_diag::render::short(&map, d))
        .collect();
    let all = text.join("\n");
    assert_eq!(text.len(), 3, "{all}");
    assert!(
        all.contains("synaptic.toml:8:") && all.contains("E0402") && all.contains("\"soon\""),
        "{all}"
    );
    assert!(
        all.contains("synaptic.toml:12:") && all.contains("oauth2"),
        "{all}"
    );
    assert!(
        all.contains("synaptic.toml:16:") && all.contains("reads the body"),
        "{all}"
    );
}
