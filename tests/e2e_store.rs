//! End-to-end tests of guaranteed delivery over real HTTP on 127.0.0.1: an API stores each
//! request with `<store>` and answers 202 at once; a forwarding message processor delivers the
//! stored messages to a backend in order, retries while the backend is down, drops a message
//! after its last attempt when told to; a sampling processor mediates stored messages through
//! its sequence; a full store is a fault. A processor's members deliver side by side, each
//! message once (also two gateways' members sharing Redis); a store unreachable for its
//! attempts stops a processor; firings deliver for a second (`throttle`), one message, or the
//! whole store (`cron.expression` with `throttle.interval`).
//!
//! Each scenario starts its gateway with [`StoreGateway`]: the API `Orders` of [`store_api`]
//! and the scenario's store, processor and endpoint artifacts, in memory or in a real Redis.

use std::net::SocketAddr;
use std::time::Duration;

use synaptic_tests::free_port;
use synaptic_tests::gateway::{assert_reloaded, start_gateway, TestGateway};
use synaptic_tests::http::get_text;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::redis::RedisServer;

// === harness ===

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;
const FORWARDER: &str =
    "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor";
const SAMPLER: &str = "org.apache.synapse.message.processor.impl.sampler.SamplingProcessor";
/// Long enough for a loaded machine; the tests end as soon as what they wait for happens.
const WAIT: Duration = Duration::from_secs(20);

/// An API at `/orders` whose POSTs go to the store `Orders` (answered 202); its fault sequence
/// answers 503 with the error message.
fn store_api() -> String {
    format!(
        r#"<api {NS} name="Orders" context="/orders">
  <resource methods="POST" uri-template="/*">
    <inSequence>
      <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
      <store messageStore="Orders"/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"fault":"$1"}}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
      <property name="HTTP_SC" value="503" scope="axis2"/>
      <respond/>
    </faultSequence>
  </resource>
</api>"#
    )
}

/// An API at `/others` whose POSTs go to the store `Others` (answered 202), to stand inside
/// `<definitions>` next to that store.
const OTHERS_API: &str = r#"<api name="Others" context="/others">
    <resource methods="POST" uri-template="/*">
      <inSequence>
        <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
        <store messageStore="Others"/>
      </inSequence>
    </resource>
  </api>"#;

/// The endpoint `Backend` (`{backend}/ingest`), the store `Orders` (with `store_params`) and
/// the forwarder `Forwarder` from one to the other, firing every 50 ms and retrying after
/// 50 ms, with `params`.
fn store_and_processor(backend: &str, params: &str, store_params: &str) -> String {
    format!(
        r#"<definitions {NS}>
  <endpoint name="Backend"><address uri="{backend}/ingest"/></endpoint>
  <messageStore name="Orders">{store_params}</messageStore>
  <messageProcessor name="Forwarder" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Backend">
    <parameter name="interval">50</parameter>
    <parameter name="client.retry.interval">50</parameter>
    {params}
  </messageProcessor>
</definitions>"#
    )
}

/// The files and configuration of a store scenario's gateway: the API of [`store_api`] at
/// `sequences/api.xml`, the store artifacts at `sequences/store.xml`, more files, and either an
/// empty `synaptic.toml` (stores in memory) or one whose stores are in a real Redis.
struct StoreGateway {
    config: String,
    files: Vec<(&'static str, String)>,
}

impl StoreGateway {
    /// The API `Orders` alone: no store artifacts (yet).
    fn api_only() -> StoreGateway {
        StoreGateway {
            config: String::new(),
            files: vec![("sequences/api.xml", store_api())],
        }
    }

    /// The API `Orders` and these store, processor and endpoint artifacts.
    fn with(definitions: String) -> StoreGateway {
        StoreGateway::api_only().file("sequences/store.xml", definitions)
    }

    /// The API `Orders` and [`store_and_processor`]: the store `Orders` forwarded to
    /// `{backend}/ingest`.
    fn forwarder(backend: &MockOrigin, params: &str, store_params: &str) -> StoreGateway {
        StoreGateway::with(store_and_processor(&backend.url(), params, store_params))
    }

    /// One more file (or another content for one already there).
    fn file(mut self, path: &'static str, content: String) -> StoreGateway {
        self.files.retain(|(p, _)| *p != path);
        self.files.push((path, content));
        self
    }

    /// Stores kept in this Redis, under this key prefix.
    fn redis(mut self, redis: &RedisServer, key_prefix: &str) -> StoreGateway {
        self.config = format!(
            "[server]\nsequences = \"sequences\"\n[redis]\nurl = \"{}\"\nkey_prefix = \"{key_prefix}\"\n",
            redis.url()
        );
        self
    }

    /// A gateway started from these files (each call a gateway of its own, in its own folder).
    async fn start(&self) -> TestGateway {
        let files: Vec<(&str, &str)> = self
            .files
            .iter()
            .map(|(path, content)| (*path, content.as_str()))
            .collect();
        start_gateway(&self.config, &files).await
    }
}

/// A backend answering 200 to everything.
async fn ok_backend() -> MockOrigin {
    MockOrigin::start(|_| MockResponse::new(200)).await
}

async fn post(url: &str, body: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POST `body` to `path` of the gateway; the status.
async fn post_status(gw: &TestGateway, path: &str, body: &str) -> u16 {
    post(&gw.url(path), body).await.0
}

/// `{"n":i}` POSTed to `path` for each `i`, each answered 202.
async fn store_numbered(gw: &TestGateway, path: &str, key: &str, n: impl Iterator<Item = u32>) {
    for i in n {
        assert_eq!(
            post_status(gw, path, &format!(r#"{{"{key}":{i}}}"#)).await,
            202
        );
    }
}

/// Waits (at most [`WAIT`]) for `n` requests at `origin`; fails with its count and `what`.
async fn wait_for(origin: &MockOrigin, n: usize, what: &str) {
    assert!(origin.wait_for(n, WAIT).await, "{} {what}", origin.count());
}

/// The bodies `origin` received, in order.
fn bodies(origin: &MockOrigin) -> Vec<String> {
    origin.requests().iter().map(|r| r.body_str()).collect()
}

/// Writes `store.xml` anew and reloads; the reload must succeed.
async fn reload_store(gw: &TestGateway, definitions: &str) {
    gw.dir().write("sequences/store.xml", definitions);
    assert_reloaded(gw.gateway()).await;
}

// === scenarios ===

#[tokio::test]
async fn stored_messages_are_answered_202_and_delivered_in_order() {
    let backend =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"ok": 1}))).await;
    let gw = StoreGateway::forwarder(&backend, "", "").start().await;
    for i in 0..5 {
        let (status, body) = post(&gw.url("/orders/new"), &format!(r#"{{"n":{i}}}"#)).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body, "");
    }
    wait_for(&backend, 5, "delivered").await;
    let sent = backend.requests();
    assert_eq!(
        bodies(&backend),
        (0..5)
            .map(|i| format!(r#"{{"n":{i}}}"#))
            .collect::<Vec<_>>()
    );
    // sent as the client sent it: method, content type, the path after the API's context
    assert_eq!(sent[0].method, http::Method::POST);
    assert_eq!(sent[0].path(), "/ingest/new");
    assert_eq!(sent[0].header("content-type"), Some("application/json"));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_backend_down_then_up_gets_the_message_after_retries() {
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // the fault sequence reports each failed attempt here
    let failures = ok_backend().await;
    let gw = StoreGateway::with(store_and_processor(
        &format!("http://{addr}"),
        r#"<parameter name="max.delivery.attempts">-1</parameter>
    <parameter name="message.processor.fault.sequence">failed</parameter>"#,
        "",
    ))
    .file(
        "sequences/failed.xml",
        format!(
            r#"<sequence {NS} name="failed">
  <property name="REST_URL_POSTFIX" scope="axis2" action="remove"/>
  <header name="x-error" scope="transport" expression="get-property('ERROR_CODE')"/>
  <call><endpoint><address uri="{}/failed"/></endpoint></call>
</sequence>"#,
            failures.url()
        ),
    )
    .start()
    .await;
    assert_eq!(
        post_status(&gw, "/orders/a", r#"{"first":true}"#).await,
        202
    );
    assert_eq!(
        post_status(&gw, "/orders/b", r#"{"second":true}"#).await,
        202
    );
    // the backend is down: each attempt fails and runs the fault sequence; no limit on attempts
    wait_for(&failures, 3, "failures").await;
    // connection refused: ERROR_CODE 101503
    assert_eq!(failures.requests()[0].header("x-error"), Some("101503"));
    let backend = MockOrigin::start_on(Some(addr), |r| async move {
        let _ = r;
        MockResponse::new(200)
    })
    .await;
    wait_for(&backend, 2, "delivered").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // the first message first, each once
    assert_eq!(
        bodies(&backend),
        [r#"{"first":true}"#, r#"{"second":true}"#]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn after_the_last_attempt_a_message_is_dropped_and_the_next_goes_on() {
    // the first message is refused (500) every time; the others are taken
    let backend = MockOrigin::start(|r| {
        if r.body_str().contains("poison") {
            MockResponse::new(500)
        } else {
            MockResponse::new(200)
        }
    })
    .await;
    let gw = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="max.delivery.attempts">3</parameter>
    <parameter name="max.delivery.drop">Enabled</parameter>"#,
        "",
    )
    .start()
    .await;
    assert_eq!(post_status(&gw, "/orders/x", r#"{"poison":1}"#).await, 202);
    assert_eq!(post_status(&gw, "/orders/x", r#"{"good":2}"#).await, 202);
    wait_for(&backend, 4, "requests").await;
    // give a fourth attempt of the dropped message the time to show up, if it ever would
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        bodies(&backend),
        [
            r#"{"poison":1}"#,
            r#"{"poison":1}"#,
            r#"{"poison":1}"#,
            r#"{"good":2}"#
        ]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn after_the_last_attempt_without_drop_the_processor_deactivates() {
    let backend = MockOrigin::start(|r| {
        if r.path().starts_with("/deactivated") {
            MockResponse::new(200)
        } else {
            MockResponse::new(503)
        }
    })
    .await;
    let deactivate = format!(
        r#"<sequence {NS} name="onDeactivate">
  <call><endpoint><address uri="{}/deactivated"/></endpoint></call>
</sequence>"#,
        backend.url()
    );
    let gw = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="max.delivery.attempts">2</parameter>
    <parameter name="message.processor.deactivate.sequence">onDeactivate</parameter>"#,
        "",
    )
    .file("sequences/deactivate.xml", deactivate)
    .start()
    .await;
    assert_eq!(post_status(&gw, "/orders/x", r#"{"a":1}"#).await, 202);
    assert_eq!(post_status(&gw, "/orders/x", r#"{"b":2}"#).await, 202);
    wait_for(&backend, 3, "requests").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let paths: Vec<String> = backend
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.path(), r.body_str()))
        .collect();
    // two attempts of the first message, then the deactivate sequence; the second message is
    // never sent
    assert_eq!(
        paths,
        [
            r#"/ingest/x {"a":1}"#,
            r#"/ingest/x {"a":1}"#,
            r#"/deactivated/x {"a":1}"#
        ]
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn the_sampling_processor_runs_its_sequence_on_stored_messages() {
    let backend = ok_backend().await;
    let gw = StoreGateway::with(format!(
        r#"<definitions {NS}>
  <messageStore name="Orders"/>
  <sequence name="audit">
    <property name="REST_URL_POSTFIX" scope="axis2" action="remove"/>
    <header name="x-sampled" scope="transport" value="yes"/>
    <call><endpoint><address uri="{}/audit"/></endpoint></call>
  </sequence>
  <messageProcessor name="Sampler" messageStore="Orders"
      class="{SAMPLER}">
    <parameter name="sequence">audit</parameter>
    <parameter name="interval">50</parameter>
    <parameter name="concurrency">2</parameter>
  </messageProcessor>
</definitions>"#,
        backend.url()
    ))
    .start()
    .await;
    store_numbered(&gw, "/orders/s", "s", 0..3).await;
    wait_for(&backend, 3, "sampled").await;
    let mut bodies = bodies(&backend);
    bodies.sort();
    assert_eq!(bodies, [r#"{"s":0}"#, r#"{"s":1}"#, r#"{"s":2}"#]);
    for r in backend.requests() {
        assert_eq!(r.path(), "/audit");
        assert_eq!(r.header("x-sampled"), Some("yes"));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_full_store_is_a_fault_and_the_message_is_not_taken() {
    // an inactive processor: the store only fills
    let backend = ok_backend().await;
    let gw = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="is.active">false</parameter>"#,
        r#"<parameter name="max.messages">2</parameter>"#,
    )
    .start()
    .await;
    assert_eq!(post_status(&gw, "/orders/1", "{}").await, 202);
    assert_eq!(post_status(&gw, "/orders/2", "{}").await, 202);
    let (status, body) = post(&gw.url("/orders/3"), "{}").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("message store `Orders` is full (2 messages)"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(backend.count(), 0);
    gw.shutdown().await;
}

async fn metrics(url: &str) -> String {
    get_text(&reqwest::Client::new(), url).await
}

#[tokio::test]
async fn metrics_count_the_messages_of_each_store() {
    let backend = ok_backend().await;
    let gw = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="is.active">false</parameter>"#,
        "",
    )
    .start()
    .await;
    for _ in 0..3 {
        assert_eq!(post_status(&gw, "/orders/m", "{}").await, 202);
    }
    let line = r#"synaptic_message_store_messages{store="Orders"} 3"#;
    let mut text = String::new();
    for _ in 0..100 {
        text = metrics(&gw.url("/metrics")).await;
        if text.contains(line) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(text.contains(line), "{text}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_reload_restarts_the_processors_with_the_new_configuration() {
    let old = ok_backend().await;
    let new = ok_backend().await;
    let gw = StoreGateway::forwarder(&old, "", "").start().await;
    assert_eq!(post_status(&gw, "/orders/1", r#"{"to":"old"}"#).await, 202);
    assert!(old.wait_for(1, WAIT).await);
    // the processor now forwards elsewhere: the running one stops, the new one takes over
    reload_store(&gw, &store_and_processor(&new.url(), "", "")).await;
    assert_eq!(post_status(&gw, "/orders/2", r#"{"to":"new"}"#).await, 202);
    let wanted = r#"{"to":"new"}"#;
    let mut bodies: Vec<String> = Vec::new();
    for n in 1..=2 {
        wait_for(&new, n, "at the new backend").await;
        bodies = self::bodies(&new);
        if bodies.last().map(String::as_str) == Some(wanted) {
            break;
        }
    }
    // delivery is at least once: when the reload stopped the old processor between the old
    // backend's answer and the removal, the new one sends that message again, first
    match bodies.as_slice() {
        [only] => assert_eq!(only, wanted),
        [again, last] => {
            assert_eq!(again, r#"{"to":"old"}"#);
            assert_eq!(last, wanted);
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // the old processor is gone
    assert_eq!(old.count(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn with_redis_stored_messages_outlive_the_gateway_that_stored_them() {
    let redis = RedisServer::start();
    let backend = ok_backend().await;
    // a JMS store (W0370) is served by Redis here; the first gateway's processor is inactive
    let defs = |active: bool| {
        format!(
            r#"<definitions {NS}>
  <endpoint name="Backend"><address uri="{}/ingest"/></endpoint>
  <messageStore name="Orders" class="org.apache.synapse.message.store.impl.jms.JmsStore">
    <parameter name="store.jms.destination">orders</parameter>
  </messageStore>
  <messageProcessor name="Forwarder" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Backend">
    <parameter name="interval">50</parameter>
    <parameter name="is.active">{active}</parameter>
  </messageProcessor>
</definitions>"#,
            backend.url()
        )
    };
    let first = StoreGateway::with(defs(false))
        .redis(&redis, "e2e-store")
        .start()
        .await;
    store_numbered(&first, "/orders/r", "r", 0..3).await;
    first.shutdown().await;
    assert_eq!(backend.count(), 0);
    let second = StoreGateway::with(defs(true))
        .redis(&redis, "e2e-store")
        .start()
        .await;
    wait_for(&backend, 3, "delivered").await;
    assert_eq!(bodies(&backend), [r#"{"r":0}"#, r#"{"r":1}"#, r#"{"r":2}"#]);
    second.shutdown().await;
}

#[tokio::test]
async fn the_older_forwarder_takes_its_endpoint_from_the_message() {
    // Synapse sample 705's form: the older package name and parameter spellings, no
    // targetEndpoint; the message names its endpoint in the property `target.endpoint`
    let backend = ok_backend().await;
    let defs = format!(
        r#"<definitions {NS}>
  <endpoint name="StockQuoteServiceEp"><address uri="{}/quotes"/></endpoint>
  <api name="Quotes" context="/quotes">
    <resource methods="POST" uri-template="/*">
      <inSequence>
        <property name="target.endpoint" value="StockQuoteServiceEp"/>
        <store messageStore="MyStore"/>
      </inSequence>
    </resource>
  </api>
  <messageStore name="MyStore"/>
  <messageProcessor class="org.apache.synapse.message.processors.forward.ScheduledMessageForwardingProcessor" name="ScheduledProcessor" messageStore="MyStore">
    <parameter name="interval">50</parameter>
    <parameter name="max.deliver.attempts">3</parameter>
    <parameter name="max.deliver.drop">true</parameter>
  </messageProcessor>
</definitions>"#,
        backend.url()
    );
    // its own API: no `Orders` API and no `store.xml`
    let gw = start_gateway("", &[("sequences/defs.xml", &defs)]).await;
    assert_eq!(
        post_status(&gw, "/quotes/ibm", r#"{"symbol":"IBM"}"#).await,
        202
    );
    wait_for(&backend, 1, "delivered").await;
    let sent = backend.requests();
    assert_eq!(sent[0].path(), "/quotes/ibm");
    assert_eq!(sent[0].body_str(), r#"{"symbol":"IBM"}"#);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_store_named_by_an_xpath_takes_each_message_to_its_own_store() {
    let backend = ok_backend().await;
    let b = backend.url();
    let api = format!(
        r#"<api {NS} name="Route" context="/route">
  <resource methods="POST">
    <inSequence>
      <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
      <store messageStore="{{$trp:X-Queue}}"/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"fault":"$1"}}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
      <property name="HTTP_SC" value="503" scope="axis2"/>
      <respond/>
    </faultSequence>
  </resource>
</api>"#
    );
    let stores = format!(
        r#"<definitions {NS}>
  <endpoint name="Eu"><address uri="{b}/eu"/></endpoint>
  <endpoint name="Us"><address uri="{b}/us"/></endpoint>
  <messageStore name="EuQueue"/>
  <messageStore name="UsQueue"/>
  <messageProcessor name="ToEu" class="{FORWARDER}" messageStore="EuQueue" targetEndpoint="Eu">
    <parameter name="interval">50</parameter>
  </messageProcessor>
  <messageProcessor name="ToUs" class="{FORWARDER}" messageStore="UsQueue" targetEndpoint="Us">
    <parameter name="interval">50</parameter>
  </messageProcessor>
</definitions>"#
    );
    // the API `Route` in the place of `Orders`
    let gw = StoreGateway::with(stores)
        .file("sequences/api.xml", api)
        .start()
        .await;
    let send = |queue: &'static str, n: u32| {
        let url = gw.url("/route");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-queue", queue)
                .body(format!(r#"{{"n":{n}}}"#))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(send("UsQueue", 1).await.0, 202);
    assert_eq!(send("EuQueue", 2).await.0, 202);
    assert_eq!(send("UsQueue", 3).await.0, 202);
    // a name no store has: Synapse's fault, and nothing is stored
    let (status, body) = send("AsiaQueue", 4).await;
    assert_eq!(status, 503);
    assert_eq!(body, r#"{"fault":"Message Store does not exist."}"#);
    wait_for(&backend, 3, "delivered").await;
    let mut sent: Vec<(String, String)> = backend
        .requests()
        .iter()
        .map(|r| (r.path().to_string(), r.body_str()))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            ("/eu".to_string(), r#"{"n":2}"#.to_string()),
            ("/us".to_string(), r#"{"n":1}"#.to_string()),
            ("/us".to_string(), r#"{"n":3}"#.to_string()),
        ]
    );
    gw.shutdown().await;
}

/// `cronExpression` (Quartz syntax, with seconds) instead of `interval`: a processor whose
/// expression fires every second delivers the stored messages, although its `interval` (ten
/// minutes) would have it wait; a sampling processor on a cron expression runs its sequence.
#[tokio::test]
async fn a_processor_with_a_cron_expression_of_every_second_delivers_stored_messages() {
    let backend = ok_backend().await;
    let sampled = ok_backend().await;
    let url = backend.url();
    let sampled_url = sampled.url();
    let gw = StoreGateway::with(format!(
        r#"<definitions {NS}>
  <endpoint name="Backend"><address uri="{url}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageProcessor name="Forwarder" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Backend">
    <parameter name="interval">600000</parameter>
    <parameter name="cronExpression">* * * * * ?</parameter>
  </messageProcessor>
  <messageStore name="Samples"/>
  <sequence name="sampler"><call><endpoint><address uri="{sampled_url}/sampled"/></endpoint></call></sequence>
  <messageProcessor name="Sampler" class="{SAMPLER}" messageStore="Samples">
    <parameter name="sequence">sampler</parameter>
    <parameter name="interval">600000</parameter>
    <parameter name="cronExpression">0/1 * * ? * *</parameter>
  </messageProcessor>
  <api name="Samples" context="/samples">
    <resource methods="POST" uri-template="/*">
      <inSequence>
        <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
        <store messageStore="Samples"/>
      </inSequence>
    </resource>
  </api>
</definitions>"#
    ))
    .start()
    .await;
    // let both processors find their stores empty and wait for their schedules
    tokio::time::sleep(Duration::from_millis(300)).await;
    store_numbered(&gw, "/orders/x", "n", 0..3).await;
    assert_eq!(post_status(&gw, "/samples/x", r#"{"s":1}"#).await, 202);
    assert_eq!(post_status(&gw, "/samples/x", r#"{"s":2}"#).await, 202);
    wait_for(&backend, 3, "delivered").await;
    assert_eq!(bodies(&backend), [r#"{"n":0}"#, r#"{"n":1}"#, r#"{"n":2}"#]);
    wait_for(&sampled, 2, "sampled").await;
    gw.shutdown().await;
}

/// `message.processor.failMessagesStore`: a backend that always fails; after its last attempt
/// each message moves, as it was stored, to the fail store and the forwarder goes on with the
/// next one (it does not deactivate). A sampling processor on the fail store shows what it
/// holds, in order.
#[tokio::test]
async fn after_the_last_attempt_a_message_moves_to_the_fail_store() {
    let backend = MockOrigin::start(|_| MockResponse::new(500)).await;
    let inspector = ok_backend().await;
    let url = backend.url();
    let inspected = inspector.url();
    let gw = StoreGateway::with(format!(
        r#"<definitions {NS}>
  <endpoint name="Backend"><address uri="{url}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageStore name="Failed"/>
  <messageProcessor name="Forwarder" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Backend">
    <parameter name="interval">50</parameter>
    <parameter name="client.retry.interval">50</parameter>
    <parameter name="max.delivery.attempts">2</parameter>
    <parameter name="message.processor.failMessagesStore">Failed</parameter>
  </messageProcessor>
  <sequence name="inspect"><call><endpoint><address uri="{inspected}/failed"/></endpoint></call></sequence>
  <messageProcessor name="Inspector" class="{SAMPLER}" messageStore="Failed">
    <parameter name="sequence">inspect</parameter>
    <parameter name="interval">50</parameter>
  </messageProcessor>
</definitions>"#
    ))
    .start()
    .await;
    assert_eq!(post_status(&gw, "/orders/a", r#"{"n":1}"#).await, 202);
    assert_eq!(post_status(&gw, "/orders/b", r#"{"n":2}"#).await, 202);
    assert!(
        inspector.wait_for(2, WAIT).await,
        "{} messages reached the fail store's processor ({} delivery attempts)",
        inspector.count(),
        backend.count()
    );
    let failed: Vec<(String, String)> = inspector
        .requests()
        .iter()
        .map(|r| (r.path().to_string(), r.body_str()))
        .collect();
    // the stored message as it was: its body and the path after the API's context
    assert_eq!(
        failed,
        [
            ("/failed/a".to_string(), r#"{"n":1}"#.to_string()),
            ("/failed/b".to_string(), r#"{"n":2}"#.to_string())
        ]
    );
    // two attempts each, and nothing after the move
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bodies(&backend),
        [r#"{"n":1}"#, r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":2}"#]
    );
    gw.shutdown().await;
}

/// `member.count`: that many consumers of the store deliver side by side, each message to one
/// of them. The first three deliveries hang at the backend: with three members all three are
/// at the backend at once, each a different message (a single consumer would send one and
/// wait). With fast answers every message is delivered exactly once.
#[tokio::test]
async fn members_deliver_side_by_side_each_message_once() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let backend = MockOrigin::start(move |_| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let r = MockResponse::new(200);
        if n < 3 {
            r.delay(Duration::from_secs(40))
        } else {
            r
        }
    })
    .await;
    let gw = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="member.count">3</parameter>"#,
        "",
    )
    .start()
    .await;
    store_numbered(&gw, "/orders/m", "n", 0..6).await;
    wait_for(&backend, 3, "at the backend").await;
    let mut bodies = bodies(&backend);
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 3, "three different messages: {bodies:?}");
    gw.shutdown().await;
}

/// Two gateways sharing one Redis, each running a forwarder of two members on the same store:
/// every stored message reaches the backend exactly once (claims, not peeks).
#[tokio::test]
async fn members_of_two_gateways_sharing_redis_deliver_each_message_once() {
    let redis = RedisServer::start();
    let backend =
        MockOrigin::start(|_| MockResponse::new(200).delay(Duration::from_millis(20))).await;
    let setup = StoreGateway::forwarder(
        &backend,
        r#"<parameter name="member.count">2</parameter>"#,
        "",
    )
    .redis(&redis, "e2e-members");
    let a = setup.start().await;
    let b = setup.start().await;
    for i in 0..40 {
        let gw = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            post_status(gw, "/orders/m", &format!(r#"{{"n":{i}}}"#)).await,
            202
        );
    }
    wait_for(&backend, 40, "delivered").await;
    // nothing more comes
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut bodies = bodies(&backend);
    bodies.sort();
    let mut expected: Vec<String> = (0..40).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    expected.sort();
    assert_eq!(bodies, expected);
    a.shutdown().await;
    b.shutdown().await;
}

/// `max.store.connection.attempts` and `store.connection.retry.interval`: with Redis down, the
/// processor reads its store that many times, that far apart, then stops until the next
/// reload (as Synapse deactivates it); Redis back, a stored message stays in the store. A
/// processor with the default (attempts without end) delivers once Redis is back.
#[tokio::test]
async fn a_store_unreachable_for_its_attempts_stops_the_processor() {
    let logs = synaptic_tests::logs::capture_global();
    let mut redis = RedisServer::start();
    let limited = ok_backend().await;
    let patient = ok_backend().await;
    let gw = StoreGateway::with(format!(
        r#"<definitions {NS}>
  <endpoint name="Limited"><address uri="{}/ingest"/></endpoint>
  <endpoint name="Patient"><address uri="{}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageStore name="Others"/>
  <messageProcessor name="StopsAfterThree" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Limited">
    <parameter name="max.store.connection.attempts">3</parameter>
    <parameter name="store.connection.retry.interval">100</parameter>
  </messageProcessor>
  <messageProcessor name="NeverStops" class="{FORWARDER}" messageStore="Others" targetEndpoint="Patient">
    <parameter name="store.connection.retry.interval">100</parameter>
  </messageProcessor>
  {OTHERS_API}
</definitions>"#,
        limited.url(),
        patient.url()
    ))
    .redis(&redis, "e2e-retries")
    .start()
    .await;
    // both processors read their (empty) stores
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.stop();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !logs
        .text()
        .contains("the message store was not reachable after max.store.connection.attempts")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the processor did not stop: {}",
            logs.text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = logs.text();
    let stopped = text
        .lines()
        .filter(|l| l.contains("max.store.connection.attempts"))
        .collect::<Vec<_>>();
    assert!(
        stopped.iter().all(|l| l.contains("StopsAfterThree")),
        "{stopped:?}"
    );
    redis.restart();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let a = post_status(&gw, "/orders/x", r#"{"n":1}"#).await;
        if a == 202 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "store: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(post_status(&gw, "/others/x", r#"{"n":2}"#).await, 202);
    assert!(
        patient.wait_for(1, WAIT).await,
        "the processor with attempts without end delivers once Redis is back"
    );
    // the stopped one has had time to deliver too, and did not
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(limited.count(), 0);
    gw.shutdown().await;
}

/// `cron.expression` with `throttle.interval` (Synapse's forwarder "running under a cron
/// expression"): each firing of the `cronExpression` delivers every stored message, one after
/// another, whatever `throttle` says; without them and `throttle` = false a firing delivers
/// one message.
#[tokio::test]
async fn under_a_cron_expression_with_a_throttle_interval_a_firing_empties_the_store() {
    let drained = ok_backend().await;
    let one_each = ok_backend().await;
    let defs = format!(
        r#"<definitions {NS}>
  <endpoint name="Drained"><address uri="{}/ingest"/></endpoint>
  <endpoint name="OneEach"><address uri="{}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageStore name="Others"/>
  <messageProcessor name="Drainer" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Drained">
    <parameter name="cronExpression">0/10 * * * * ?</parameter>
    <parameter name="cron.expression">0/10 * * * * ?</parameter>
    <parameter name="throttle.interval">10</parameter>
    <parameter name="throttle">false</parameter>
  </messageProcessor>
  <messageProcessor name="OneEach" class="{FORWARDER}" messageStore="Others" targetEndpoint="OneEach">
    <parameter name="cronExpression">0/10 * * * * ?</parameter>
    <parameter name="throttle">false</parameter>
  </messageProcessor>
  {OTHERS_API}
</definitions>"#,
        drained.url(),
        one_each.url()
    );
    // stored while no processor runs (the files deploy later), so the first firing finds all
    let gw = StoreGateway::api_only().start().await;
    gw.dir().write("sequences/store.xml", &defs);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if post_status(&gw, "/others/x", r#"{"n":0}"#).await == 202 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not deployed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // store the rest just after a firing (every ten seconds), so no firing comes between
    let secs = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
            % 10_000
    };
    while !(500..6000).contains(&secs()) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = one_each.count();
    store_numbered(&gw, "/others/x", "n", 1..4).await;
    store_numbered(&gw, "/orders/x", "n", 0..4).await;
    // the next firing sends all four to one and one to the other
    wait_for(&drained, 4, "delivered").await;
    assert_eq!(
        bodies(&drained),
        (0..4)
            .map(|i| format!(r#"{{"n":{i}}}"#))
            .collect::<Vec<_>>()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(one_each.count(), before + 1, "one message per firing");
    gw.shutdown().await;
}

/// The claims of several consumers in a real Redis, through the gateway's shared state: each
/// claim takes a message no other holds; claimed messages stay counted (and count against the
/// store's bound); a released claim goes back first; a claim whose lease lapsed (its consumer
/// died) is taken again by the next claim, and can no longer be renewed.
#[tokio::test]
async fn redis_claims_are_exclusive_counted_and_come_back() {
    use bytes::Bytes;
    let redis = RedisServer::start();
    let settings: synaptic_gateway::backend_auth::config::RedisSettings = toml::from_str(&format!(
        "url = \"{}\"\nkey_prefix = \"claims\"\n",
        redis.url()
    ))
    .unwrap();
    let m = synaptic_gateway::metrics::Registry::new();
    let s = synaptic_gateway::shared_state::build(Some(&settings), &m).unwrap();
    for i in 0..4u8 {
        assert!(s.queue_push("q", Bytes::from(vec![i]), 4).await.unwrap());
    }
    let a = s.queue_claim("q", "a", 60_000).await.unwrap().unwrap();
    let b = s.queue_claim("q", "b", 150).await.unwrap().unwrap();
    assert_eq!((a[0], b[0]), (0, 1));
    assert_eq!(s.queue_len("q").await.unwrap(), 4);
    assert!(!s
        .queue_push("q", Bytes::from_static(b"x"), 4)
        .await
        .unwrap());
    s.queue_ack("q", "a").await.unwrap();
    assert_eq!(s.queue_len("q").await.unwrap(), 3);
    // b's consumer died: after its lease the next claim takes its message first
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c = s.queue_claim("q", "c", 60_000).await.unwrap().unwrap();
    assert_eq!(c[0], 1, "the lapsed claim came back first");
    assert!(!s.queue_renew("q", "b", 60_000).await.unwrap());
    assert!(s.queue_renew("q", "c", 60_000).await.unwrap());
    // released: back at the oldest end, so the single consumer's peek sees it first
    s.queue_release("q", "c").await.unwrap();
    assert_eq!(s.queue_peek("q").await.unwrap().unwrap()[0], 1);
    let order: Vec<u8> = [
        s.queue_claim("q", "d", 60_000).await.unwrap(),
        s.queue_claim("q", "e", 60_000).await.unwrap(),
        s.queue_claim("q", "f", 60_000).await.unwrap(),
        s.queue_claim("q", "g", 60_000).await.unwrap(),
    ]
    .into_iter()
    .map(|m| m.map_or(255, |m| m[0]))
    .collect();
    assert_eq!(order, [1, 2, 3, 255]);
    for t in ["d", "e", "f"] {
        s.queue_ack("q", t).await.unwrap();
    }
    assert_eq!(s.queue_len("q").await.unwrap(), 0);
}

/// A reload while a member of a processor is delivering a message it claimed: the stopped
/// member gives the claim back, so the new generation delivers the message again at once
/// (well before the claim's lease of 30 s would have lapsed).
#[tokio::test]
async fn a_reload_gives_back_the_claims_of_stopped_members() {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let backend = MockOrigin::start(move |_| {
        let r = MockResponse::new(200);
        if counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            r.delay(Duration::from_secs(60))
        } else {
            r
        }
    })
    .await;
    // the second generation differs in `throttle` only
    let params = |throttle: bool| {
        format!(
            r#"<parameter name="member.count">2</parameter><parameter name="throttle">{throttle}</parameter>"#
        )
    };
    let gw = StoreGateway::forwarder(&backend, &params(true), "")
        .start()
        .await;
    assert_eq!(post_status(&gw, "/orders/1", r#"{"n":1}"#).await, 202);
    assert!(backend.wait_for(1, WAIT).await, "the first delivery hangs");
    reload_store(
        &gw,
        &store_and_processor(&backend.url(), &params(false), ""),
    )
    .await;
    wait_for(&backend, 2, "at the backend").await;
    assert_eq!(bodies(&backend), [r#"{"n":1}"#, r#"{"n":1}"#]);
    gw.shutdown().await;
}

/// `throttle` with an `interval` of a second or more: each firing delivers messages back to
/// back for about a second (all three stored ones here), as Synapse's forwarder does; with
/// `throttle` = `false` a firing delivers one. The messages are stored in Redis by a gateway
/// whose processors are inactive; a second gateway's processors start with three messages in
/// each store, and their next firing is thirty seconds away.
#[tokio::test]
async fn with_throttle_a_firing_delivers_for_a_second_and_without_it_one_message() {
    let burst = ok_backend().await;
    let single = ok_backend().await;
    let defs = |active: bool| {
        format!(
            r#"<definitions {NS}>
  <endpoint name="Burst"><address uri="{}/ingest"/></endpoint>
  <endpoint name="Single"><address uri="{}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageStore name="Others"/>
  <messageProcessor name="Burst" class="{FORWARDER}" messageStore="Orders" targetEndpoint="Burst">
    <parameter name="interval">30000</parameter>
    <parameter name="is.active">{active}</parameter>
  </messageProcessor>
  <messageProcessor name="Single" class="{FORWARDER}" messageStore="Others" targetEndpoint="Single">
    <parameter name="interval">30000</parameter>
    <parameter name="throttle">false</parameter>
    <parameter name="is.active">{active}</parameter>
  </messageProcessor>
  {OTHERS_API}
</definitions>"#,
            burst.url(),
            single.url()
        )
    };
    let redis = RedisServer::start();
    let first = StoreGateway::with(defs(false))
        .redis(&redis, "e2e-throttle")
        .start()
        .await;
    for i in 0..3 {
        let body = format!(r#"{{"n":{i}}}"#);
        assert_eq!(post_status(&first, "/orders/x", &body).await, 202);
        assert_eq!(post_status(&first, "/others/x", &body).await, 202);
    }
    first.shutdown().await;
    let gw = StoreGateway::with(defs(true))
        .redis(&redis, "e2e-throttle")
        .start()
        .await;
    wait_for(&burst, 3, "delivered by the first firing").await;
    assert!(single.wait_for(1, WAIT).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(single.count(), 1, "one message per firing");
    assert_eq!(burst.count(), 3);
    gw.shutdown().await;
}
