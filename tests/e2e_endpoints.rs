//! End-to-end tests of endpoint groups and endpoint states: `<failover>`, `<loadbalance>` (over
//! child endpoints and over static `<member>`s), `<recipientlist>` over real backends on
//! 127.0.0.1 (one refusing connections, one too slow), suspension and recovery, the states
//! in `/metrics`, and `<endpoint key-expression>` choosing a named endpoint per request.

use std::net::SocketAddr;
use std::time::Duration;
use synaptic_gateway::reload::LoadReport;
use synaptic_gateway::{Running, ServeOptions, StartError};
use synaptic_tests::gateway::GatewayDir;
use synaptic_tests::http::{client, get_text};
use synaptic_tests::origin::{MockOrigin, MockResponse};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// On 127.0.0.1, an ephemeral port, without watching the files.
fn options() -> ServeOptions {
    ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: Some(false),
        ..Default::default()
    }
}

async fn start(dir: &GatewayDir) -> Running {
    synaptic_tests::gateway::start_running(dir, options()).await
}

/// A gateway serving what deploys, and the report of its load (the files left out, and why).
async fn start_partly(dir: &GatewayDir) -> (Running, LoadReport) {
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("config loads");
    synaptic_gateway::start(loaded.config, options())
        .await
        .expect("what resolves is deployed")
}

/// A gateway serving [`api`] and `endpoint` (the endpoint `E`); the folder lives as long as
/// it is kept.
async fn serve_endpoint(endpoint: &str) -> (GatewayDir, Running) {
    let dir = GatewayDir::new(
        "",
        &[("sequences/T.xml", &api()), ("sequences/E.xml", endpoint)],
    );
    let gw = start(&dir).await;
    (dir, gw)
}

/// An API at `/t` sending every request to the endpoint `E`.
fn api() -> String {
    format!(
        r#"<api {NS} name="T" context="/t"><resource methods="GET POST" url-mapping="/*">
             <inSequence><send><endpoint key="E"/></send></inSequence></resource></api>"#
    )
}

async fn get(gw: &Running) -> (u16, String) {
    let r = client()
        .get(format!("http://{}/t/x", gw.addr()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The `synaptic_endpoint_state` series of `endpoint` that is 1.
async fn state(gw: &Running, endpoint: &str) -> String {
    let text = get_text(&client(), &format!("http://{}/metrics", gw.addr())).await;
    let prefix = format!("synaptic_endpoint_state{{endpoint=\"{endpoint}\",state=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .find_map(|l| l.strip_suffix("\"} 1"))
        .unwrap_or_else(|| panic!("no state for {endpoint} in:\n{text}"))
        .to_string()
}

fn named(text: &'static str) -> MockResponse {
    MockResponse::text(text)
}

#[tokio::test]
async fn a_registry_endpoints_states_are_in_the_metrics_under_its_key() {
    let down_port = synaptic_tests::free_port();
    let b = MockOrigin::start(|_| named("from-b")).await;
    let api = format!(
        r#"<api {NS} name="T" context="/t"><resource methods="GET" url-mapping="/*">
             <inSequence><send><endpoint key="gov:/endpoints/E.xml"/></send></inSequence></resource></api>"#
    );
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><failover>
             <endpoint name="Primary"><address uri="http://127.0.0.1:{down_port}/p"/></endpoint>
             <endpoint><address uri="{}/b"/></endpoint>
           </failover></endpoint>"#,
        b.url()
    );
    let dir = GatewayDir::new(
        "[server]\nregistry = \"registry\"\n",
        &[
            ("sequences/T.xml", &api),
            ("registry/gov/endpoints/E.xml", &endpoint),
        ],
    );
    let gw = start(&dir).await;
    // not read yet: no series
    let metrics = get_text(&client(), &format!("http://{}/metrics", gw.addr())).await;
    assert!(!metrics.contains("gov:/endpoints/E.xml"), "{metrics}");
    assert_eq!(get(&gw).await, (200, "from-b".into()));
    // the refusing child is suspended, the other active, each under the registry key
    assert_eq!(
        state(&gw, "gov:/endpoints/E.xml/Primary").await,
        "suspended"
    );
    assert_eq!(state(&gw, "gov:/endpoints/E.xml/1").await, "active");
    gw.shutdown().await;
}

#[tokio::test]
async fn failover_passes_a_refusing_backend_by_and_takes_it_back_when_it_recovers() {
    // nothing listens on this port yet: connections are refused
    let down_port = synaptic_tests::free_port();
    let b = MockOrigin::start(|_| named("from-b")).await;
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><failover>
             <endpoint name="Primary"><address uri="http://127.0.0.1:{down_port}/p">
               <suspendOnFailure><errorCodes>101503,101504</errorCodes>
                 <initialDuration>1500</initialDuration><progressionFactor>2</progressionFactor>
                 <maximumDuration>60000</maximumDuration></suspendOnFailure>
               <markForSuspension><retriesBeforeSuspension>0</retriesBeforeSuspension></markForSuspension>
             </address></endpoint>
             <endpoint name="Backup"><address uri="{}/b"/></endpoint>
           </failover></endpoint>"#,
        b.url()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    assert_eq!(state(&gw, "Primary").await, "active");
    assert_eq!(get(&gw).await, (200, "from-b".into()));
    assert_eq!(state(&gw, "Primary").await, "suspended");
    assert_eq!(state(&gw, "Backup").await, "active");

    // the primary comes back while it is suspended: not tried before its suspension ends
    let a = MockOrigin::start_on(
        Some(SocketAddr::from(([127, 0, 0, 1], down_port))),
        |_| async { named("from-a") },
    )
    .await;
    assert_eq!(get(&gw).await, (200, "from-b".into()));
    assert_eq!(a.count(), 0);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(get(&gw).await, (200, "from-a".into()));
    assert_eq!(state(&gw, "Primary").await, "active");
    assert_eq!(b.count(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn loadbalance_takes_turns_and_a_slow_backend_is_suspended() {
    let a = MockOrigin::start(|_| named("a")).await;
    let slow = MockOrigin::start(|_| named("slow").delay(Duration::from_secs(3))).await;
    let c = MockOrigin::start(|_| named("c")).await;
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><loadbalance algorithm="org.apache.synapse.endpoints.algorithms.RoundRobin">
             <endpoint name="A"><address uri="{}/"/></endpoint>
             <endpoint name="Slow"><address uri="{}/">
               <timeout><duration>300</duration><responseAction>fault</responseAction></timeout>
               <suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>
             </address></endpoint>
             <endpoint name="C"><address uri="{}/"/></endpoint>
           </loadbalance></endpoint>"#,
        a.url(),
        slow.url(),
        c.url()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    let mut answers = Vec::new();
    for _ in 0..6 {
        let (status, body) = get(&gw).await;
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    // the slow one's turn goes on to the next; then it is suspended and skipped
    assert_eq!(answers, ["a", "c", "c", "a", "c", "c"]);
    assert_eq!(slow.count(), 1);
    assert_eq!(state(&gw, "Slow").await, "suspended");
    assert_eq!(state(&gw, "A").await, "active");
    gw.shutdown().await;
}

#[tokio::test]
async fn loadbalance_over_members_sends_the_request_path_to_each_in_turn_and_fails_over() {
    let a = MockOrigin::start(|_| named("a")).await;
    let b = MockOrigin::start(|_| named("b")).await;
    // nothing listens on this port: connections are refused
    let down_port = synaptic_tests::free_port();
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><loadbalance algorithm="org.apache.synapse.endpoints.algorithms.RoundRobin">
             <member hostName="127.0.0.1" httpPort="{}" httpsPort="1"/>
             <member hostName="127.0.0.1" httpPort="{down_port}"/>
             <member hostName="127.0.0.1" httpPort="{}"/>
           </loadbalance></endpoint>"#,
        a.addr().port(),
        b.addr().port()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    let mut answers = Vec::new();
    for i in 0..4 {
        let r = client()
            .get(format!("http://{}/t/item/{i}?q=v", gw.addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        answers.push(r.text().await.unwrap());
    }
    // the refusing member's turn goes on to the next, and it is left out after that
    assert_eq!(answers, ["a", "b", "a", "b"]);
    // each member got the request's own path and query (the message's `To`)
    let uris =
        |o: &MockOrigin| -> Vec<String> { o.requests().into_iter().map(|r| r.uri).collect() };
    assert_eq!(uris(&a), ["/t/item/0?q=v", "/t/item/2?q=v"]);
    assert_eq!(uris(&b), ["/t/item/1?q=v", "/t/item/3?q=v"]);
    gw.shutdown().await;
}

/// A member whose backend is down is taken out (its state in `/metrics` says so); once the
/// backend listens, the gateway's probe connects to it and the member gets its turns again,
/// without a reload.
#[tokio::test]
async fn loadbalance_over_members_readmits_a_member_once_it_takes_connections() {
    let a = MockOrigin::start(|_| named("a")).await;
    // nothing listens on this port yet: connections are refused
    let down_port = synaptic_tests::free_port();
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><loadbalance>
             <member hostName="127.0.0.1" httpPort="{}"/>
             <member hostName="127.0.0.1" httpPort="{down_port}"/>
           </loadbalance></endpoint>"#,
        a.addr().port()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    assert_eq!(state(&gw, "E/1").await, "active");
    // the second member's turn fails over to the first, and it is taken out
    for _ in 0..4 {
        assert_eq!(get(&gw).await, (200, "a".into()));
    }
    assert_eq!(state(&gw, "E/0").await, "active");
    assert_eq!(state(&gw, "E/1").await, "suspended");
    // the backend comes up: within a few probes (every half second) the member is back
    let b = MockOrigin::start_on(
        Some(SocketAddr::from(([127, 0, 0, 1], down_port))),
        |_| async { named("b") },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state(&gw, "E/1").await != "active" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the member was not re-admitted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, body) = get(&gw).await;
        assert_eq!(status, 200);
        answers.push(body);
    }
    answers.sort();
    assert_eq!(answers, ["a", "a", "b", "b"]);
    // the probes only connected: the backend saw nothing but the requests
    assert_eq!(b.count(), 2);
    gw.shutdown().await;
}

/// The same with the load balancer read from the registry (an endpoint key no artifact
/// defines): its member taken out is probed and comes back, its state under the registry key.
#[tokio::test]
async fn a_registry_load_balancer_readmits_a_member_once_it_takes_connections() {
    let a = MockOrigin::start(|_| named("a")).await;
    let down_port = synaptic_tests::free_port();
    let api = format!(
        r#"<api {NS} name="T" context="/t"><resource methods="GET" url-mapping="/*">
             <inSequence><send><endpoint key="gov:/endpoints/E.xml"/></send></inSequence></resource></api>"#
    );
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><loadbalance>
             <member hostName="127.0.0.1" httpPort="{}"/>
             <member hostName="127.0.0.1" httpPort="{down_port}"/>
           </loadbalance></endpoint>"#,
        a.addr().port()
    );
    let dir = GatewayDir::new(
        "[server]\nregistry = \"registry\"\n",
        &[
            ("sequences/T.xml", &api),
            ("registry/gov/endpoints/E.xml", &endpoint),
        ],
    );
    let gw = start(&dir).await;
    for _ in 0..4 {
        assert_eq!(get(&gw).await, (200, "a".into()));
    }
    assert_eq!(state(&gw, "gov:/endpoints/E.xml/1").await, "suspended");
    let b = MockOrigin::start_on(
        Some(SocketAddr::from(([127, 0, 0, 1], down_port))),
        |_| async { named("b") },
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while state(&gw, "gov:/endpoints/E.xml/1").await != "active" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the member was not re-admitted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut answers = Vec::new();
    for _ in 0..4 {
        let (status, body) = get(&gw).await;
        assert_eq!(status, 200);
        answers.push(body);
    }
    answers.sort();
    assert_eq!(answers, ["a", "a", "b", "b"]);
    assert_eq!(b.count(), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn loadbalance_over_members_without_failover_answers_the_failure() {
    let a = MockOrigin::start(|_| named("a")).await;
    let down_port = synaptic_tests::free_port();
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><loadbalance failover="false">
             <member hostName="127.0.0.1" httpPort="{down_port}"/>
             <member hostName="127.0.0.1" httpPort="{}"/>
           </loadbalance></endpoint>"#,
        a.addr().port()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("101503"), "{body}");
    assert_eq!(get(&gw).await, (200, "a".into()));
    assert_eq!(a.count(), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn no_ready_endpoint_is_a_503_with_synapse_error_code_and_runs_the_fault_sequence() {
    let p1 = synaptic_tests::free_port();
    let p2 = synaptic_tests::free_port();
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><failover>
             <endpoint><address uri="http://127.0.0.1:{p1}/"/></endpoint>
             <endpoint><address uri="http://127.0.0.1:{p2}/"/></endpoint>
           </failover></endpoint>"#
    );
    let with_fault = format!(
        r#"<api {NS} name="F" context="/f"><resource methods="GET">
             <inSequence><send><endpoint key="E"/></send></inSequence>
             <faultSequence><payloadFactory media-type="json">
               <format>{{"code":$1}}</format>
               <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/></args>
             </payloadFactory><respond/></faultSequence></resource></api>"#
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/T.xml", &api()),
            ("sequences/F.xml", &with_fault),
            ("sequences/E.xml", &endpoint),
        ],
    );
    let gw = start(&dir).await;
    let (status, body) = get(&gw).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("303000"), "{body}");
    let r = client()
        .get(format!("http://{}/f", gw.addr()))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(v, serde_json::json!({"code": 303000}));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_key_expression_calls_the_named_endpoint_a_query_parameter_names() {
    let a = MockOrigin::start(|_| named("from-a")).await;
    let b = MockOrigin::start(|_| named("from-b")).await;
    let endpoints = format!(
        r#"<definitions {NS}>
             <endpoint name="A"><address uri="{}/a"/></endpoint>
             <endpoint name="B"><address uri="{}/b"/></endpoint>
           </definitions>"#,
        a.url(),
        b.url()
    );
    let api = format!(
        r#"<api {NS} name="K" context="/k"><resource methods="GET" url-mapping="/*">
             <inSequence><call><endpoint key-expression="$url:to"/></call><respond/></inSequence>
           </resource></api>"#
    );
    let dir = GatewayDir::new(
        "",
        &[("sequences/K.xml", &api), ("sequences/E.xml", &endpoints)],
    );
    let gw = start(&dir).await;
    let call = |to: &'static str| {
        let url = format!("http://{}/k/x?to={to}", gw.addr());
        async move {
            let r = client().get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(call("B").await, (200, "from-b".into()));
    assert_eq!(call("A").await, (200, "from-a".into()));
    assert_eq!(call("B").await, (200, "from-b".into()));
    assert_eq!((a.count(), b.count()), (1, 2));
    // a key naming no endpoint: Synapse's fault, nothing sent
    let (status, body) = call("C").await;
    assert_eq!(status, 503, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["fault"]["ERROR_CODE"], 305100, "{body}");
    assert_eq!(
        v["fault"]["ERROR_MESSAGE"],
        "Couldn't find the endpoint with the key : C"
    );
    // names that cannot be registry keys at all read as missing too
    for (to, key) in [("", ""), ("..", ".."), ("a%5Cb", "a\\b")] {
        let (status, body) = call(to).await;
        assert_eq!(status, 503, "{to:?}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["fault"]["ERROR_MESSAGE"],
            format!("Couldn't find the endpoint with the key : {key}"),
            "{to:?}"
        );
    }
    assert_eq!((a.count(), b.count()), (1, 2));
    gw.shutdown().await;
}

#[tokio::test]
async fn recipient_list_reaches_every_backend_and_answers_with_the_first() {
    let fast = MockOrigin::start(|_| named("fast")).await;
    let later = MockOrigin::start(|_| named("later").delay(Duration::from_millis(300))).await;
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><recipientlist>
             <endpoint><address uri="{}/"/></endpoint>
             <endpoint><address uri="{}/"/></endpoint>
           </recipientlist></endpoint>"#,
        later.url(),
        fast.url()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    let r = client()
        .post(format!("http://{}/t/x", gw.addr()))
        .header("content-type", "application/json")
        .body(r#"{"order":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "fast");
    assert_eq!(fast.requests()[0].body_str(), r#"{"order":1}"#);
    assert_eq!(later.requests()[0].body_str(), r#"{"order":1}"#);
    gw.shutdown().await;
}

/// A `<recipientlist>` over `<member>`s: every member gets a copy at `http://host:port` with
/// the request's path and query, and the first answer is the message; a member that refuses
/// connections does not keep the others from theirs.
#[tokio::test]
async fn a_recipient_list_of_members_sends_a_copy_to_each_member() {
    let fast = MockOrigin::start(|_| named("fast")).await;
    let later = MockOrigin::start(|_| named("later").delay(Duration::from_millis(300))).await;
    let down_port = synaptic_tests::free_port();
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><recipientlist>
             <member hostName="127.0.0.1" httpPort="{}"/>
             <member hostName="127.0.0.1" httpPort="{down_port}"/>
             <member hostName="127.0.0.1" httpPort="{}" httpsPort="1"/>
           </recipientlist></endpoint>"#,
        later.addr().port(),
        fast.addr().port()
    );
    let (_dir, gw) = serve_endpoint(&endpoint).await;
    for order in 1..=2 {
        let r = client()
            .post(format!("http://{}/t/orders/{order}?v=2", gw.addr()))
            .header("content-type", "application/json")
            .body(format!(r#"{{"order":{order}}}"#))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "fast");
    }
    for backend in [&fast, &later] {
        let seen = backend.requests();
        assert_eq!(seen.len(), 2);
        for (i, req) in seen.iter().enumerate() {
            assert_eq!(req.method, "POST");
            assert_eq!(req.uri, format!("/t/orders/{}?v=2", i + 1));
            assert_eq!(req.body_str(), format!(r#"{{"order":{}}}"#, i + 1));
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn template_endpoints_are_instantiated_with_their_name_uri_and_parameters() {
    // nothing listens here: the first instance fails and the failover takes the second
    let down_port = synaptic_tests::free_port();
    let b = MockOrigin::start(|r| MockResponse::text(format!("b saw {}", r.uri))).await;
    let template = format!(
        r#"<template {NS} name="Backend">
             <parameter name="name"/><parameter name="uri"/>
             <parameter name="suffix" defaultValue="/default"/>
             <parameter name="timeout" defaultValue="5000"/>
             <endpoint name="$name">
               <address uri="$uri$suffix">
                 <timeout><duration>$timeout</duration><responseAction>fault</responseAction></timeout>
                 <suspendOnFailure><initialDuration>60000</initialDuration></suspendOnFailure>
                 <markForSuspension><retriesBeforeSuspension>0</retriesBeforeSuspension></markForSuspension>
               </address>
             </endpoint>
           </template>"#
    );
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><failover>
             <endpoint name="Primary" template="Backend" uri="http://127.0.0.1:{down_port}"/>
             <endpoint name="Secondary" template="Backend" uri="{}">
               <parameter name="suffix" value="/given"/>
             </endpoint>
           </failover></endpoint>"#,
        b.url().trim_end_matches('/')
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/T.xml", &api()),
            ("sequences/E.xml", &endpoint),
            ("sequences/Backend.xml", &template),
        ],
    );
    let gw = start(&dir).await;
    // each instance is an endpoint of its own, named as the instance
    assert_eq!(state(&gw, "Primary").await, "active");
    let (status, body) = get(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("b saw /given"), "{body}");
    assert_eq!(state(&gw, "Primary").await, "suspended");
    assert_eq!(state(&gw, "Secondary").await, "active");
    gw.shutdown().await;
}

#[test]
fn template_endpoint_mistakes_are_diagnostics() {
    let xml = format!(
        r#"<definitions {NS}>
             <template name="Needs"><parameter name="uri"/><parameter name="x" isMandatory="true"/>
               <endpoint name="$name"><address uri="$uri/$x"/></endpoint></template>
             <template name="Seq"><sequence><log/></sequence></template>
             <endpoint name="A" template="Needs" uri="http://127.0.0.1:9/"><parameter name="typo" value="1"/></endpoint>
             <endpoint name="B" template="Missing" uri="http://127.0.0.1:9/"/>
             <endpoint name="C" template="Seq" uri="http://127.0.0.1:9/"/>
             <endpoint name="D" template="Needs"><parameter name="x" value="1"/></endpoint>
           </definitions>"#
    );
    let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &xml);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let (prog, diags) = synaptic_engine::compile(
        std::slice::from_ref(&p.tree),
        &synaptic_engine::CompileOptions::default(),
    );
    assert!(prog.is_none());
    let got: Vec<(&str, &str)> = diags
        .iter()
        .map(|d| (d.code.id, d.message.as_str()))
        .collect();
    let has = |code: &str, text: &str| got.iter().any(|(c, m)| *c == code && m.contains(text));
    assert!(has("W0341", "`typo`"), "{got:?}");
    assert!(has("E0341", "`x`"), "{got:?}");
    assert!(
        has("E0340", "no endpoint template named `Missing`"),
        "{got:?}"
    );
    assert!(has("E0340", "sequence template"), "{got:?}");
    assert!(has("E0341", "`uri`"), "{got:?}");
}

#[tokio::test]
async fn a_recipient_list_of_endpoints_value_sends_a_copy_to_each_address() {
    let a = MockOrigin::start(|_| named("a")).await;
    let b = MockOrigin::start(|_| named("b")).await;
    let api = format!(
        r#"<api {NS} name="T" context="/t">
             <resource methods="POST" uri-template="/dynamic">
               <inSequence>
                 <property name="to" expression="$trp:X-Recipients"/>
                 <call><endpoint name="Fan"><recipientlist>
                   <endpoints value="{{get-property('to')}}"/>
                 </recipientlist></endpoint></call>
                 <respond/>
               </inSequence></resource>
             <resource methods="POST" uri-template="/literal">
               <inSequence>
                 <call><endpoint><recipientlist>
                   <endpoints value="{}/one, {}/two"/>
                 </recipientlist></endpoint></call>
                 <respond/>
               </inSequence></resource>
           </api>"#,
        a.url().trim_end_matches('/'),
        b.url().trim_end_matches('/')
    );
    let dir = GatewayDir::new("", &[("sequences/T.xml", &api)]);
    let gw = start(&dir).await;
    let post = |path: &str, to: Option<String>| {
        let mut r = client()
            .post(format!("http://{}/t/{path}", gw.addr()))
            .header("content-type", "application/json")
            .body(r#"{"order":1}"#);
        if let Some(to) = to {
            r = r.header("x-recipients", to);
        }
        r.send()
    };
    let both = format!(
        "{}/x,{}/y",
        a.url().trim_end_matches('/'),
        b.url().trim_end_matches('/')
    );
    let r = post("dynamic", Some(both)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((a.count(), b.count()), (1, 1), "a copy to each recipient");
    assert_eq!(a.requests()[0].body.as_ref(), br#"{"order":1}"#);
    // the list is read per message: one recipient this time
    let r = post(
        "dynamic",
        Some(format!("{}/only", b.url().trim_end_matches('/'))),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((a.count(), b.count()), (1, 2));
    // a value that is not a list of URLs faults (no request goes out)
    let r = post("dynamic", Some("not a url".into())).await.unwrap();
    assert_eq!(r.status(), 500, "{}", r.text().await.unwrap());
    assert_eq!((a.count(), b.count()), (1, 2));
    let r = post("literal", None).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((a.count(), b.count()), (2, 3));
    gw.shutdown().await;
}

/// A WSDL 1.1 document whose service `Stock` has a SOAP 1.1 and a SOAP 1.2 port at `base`.
fn stock_wsdl(base: &str) -> String {
    format!(
        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
             xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
             xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
           <wsdl:service name="Stock">
             <wsdl:port name="Soap11" binding="tns:Soap11Binding">
               <soap:address location="{base}/services/Stock11"/>
             </wsdl:port>
             <wsdl:port name="Soap12" binding="tns:Soap12Binding">
               <soap12:address location="{base}/services/Stock12"/>
             </wsdl:port>
           </wsdl:service>
         </wsdl:definitions>"#
    )
}

#[tokio::test]
async fn wsdl_endpoints_send_to_the_port_address_in_the_port_soap_version() {
    let backend = MockOrigin::start(|_| {
        MockResponse::text(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ok/></soapenv:Body></soapenv:Envelope>"#,
        )
        .header("content-type", "text/xml")
    })
    .await;
    let wsdl = stock_wsdl(&backend.url());
    // one endpoint reads the document from a file of the project, one has it inline
    let from_file = format!(
        r#"<endpoint {NS} name="FromFile"><wsdl uri="wsdl/stock.wsdl" service="Stock" port="Soap12"/></endpoint>"#
    );
    let inline = format!(
        r#"<endpoint {NS} name="Inline"><wsdl service="Stock" port="Soap11">{wsdl}</wsdl></endpoint>"#
    );
    let api = format!(
        r#"<api {NS} name="T" context="/t">
             <resource methods="POST" uri-template="/twelve/*">
               <inSequence><header name="Action" value="urn:getQuote"/><call><endpoint key="FromFile"/></call><respond/></inSequence></resource>
             <resource methods="POST" uri-template="/eleven/*">
               <inSequence><header name="Action" value="urn:getQuote"/><call><endpoint key="Inline"/></call><respond/></inSequence></resource>
           </api>"#
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/T.xml", &api),
            ("sequences/FromFile.xml", &from_file),
            ("sequences/Inline.xml", &inline),
            ("sequences/wsdl/stock.wsdl", &wsdl),
        ],
    );
    let gw = start(&dir).await;
    let post = |path: &'static str| {
        client()
            .post(format!("http://{}{path}", gw.addr()))
            .header("content-type", "application/xml")
            .body(r#"<getQuote xmlns="http://services.samples"><symbol>WSO2</symbol></getQuote>"#)
            .send()
    };

    let r = post("/t/twelve/x").await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    // the port's address as it is: a SOAP port takes no REST postfix
    assert_eq!(req.method, "POST");
    assert_eq!(req.path(), "/services/Stock12");
    let ct = req.header("content-type").unwrap_or_default();
    assert!(
        ct.starts_with("application/soap+xml") && ct.contains(r#"action="urn:getQuote""#),
        "{ct}"
    );
    assert!(req.header("soapaction").is_none());
    let body = req.body_str();
    assert!(
        body.contains("http://www.w3.org/2003/05/soap-envelope")
            && body.contains("<symbol>WSO2</symbol>"),
        "{body}"
    );

    backend.clear();
    let r = post("/t/eleven/x").await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = backend.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.path(), "/services/Stock11");
    assert_eq!(req.header("content-type"), Some("text/xml"));
    assert_eq!(req.header("soapaction"), Some("\"urn:getQuote\""));
    let body = req.body_str();
    assert!(
        body.contains("http://schemas.xmlsoap.org/soap/envelope/")
            && body.contains("<symbol>WSO2</symbol>"),
        "{body}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_wsdl_endpoint_naming_a_port_the_document_lacks_is_not_deployed() {
    let wsdl = stock_wsdl("http://127.0.0.1:9");
    let endpoint = format!(
        r#"<endpoint {NS} name="E"><wsdl uri="file:wsdl/stock.wsdl" service="Stock" port="Soap13"/></endpoint>"#
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/T.xml", &api()),
            ("sequences/E.xml", &endpoint),
            ("sequences/wsdl/stock.wsdl", &wsdl),
        ],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("config loads");
    let opts = ServeOptions {
        strict: true,
        ..options()
    };
    match synaptic_gateway::start(loaded.config, opts).await {
        Err(StartError::Sequences(report)) => {
            let text = report.render().join("\n");
            assert!(
                text.contains("E0122") && text.contains("no port `Soap13`"),
                "{text}"
            );
        }
        Ok((gw, _)) => {
            gw.shutdown().await;
            panic!("a strict gateway started with an unresolved WSDL port")
        }
        Err(e) => panic!("unexpected start error: {e:?}"),
    }
}

/// A WSDL whose service and bindings are in the documents it imports (relative to the
/// importing one, in folders of their own), read by a plain endpoint and by an endpoint
/// template instantiated with the document and the port as parameters: each request reaches
/// the port's address in the port's format (a SOAP 1.1 or 1.2 POST, or a GET when the
/// imported binding says so). A WSDL importing an `http` document nobody serves is not
/// deployed.
#[tokio::test]
async fn wsdl_imports_and_endpoint_templates_reach_the_port_address() {
    let backend = MockOrigin::start(|_| {
        MockResponse::text(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ok/></soapenv:Body></soapenv:Envelope>"#,
        )
        .header("content-type", "text/xml")
    })
    .await;
    let base = backend.url();
    let main = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        targetNamespace="http://services.samples">
      <wsdl:import namespace="http://services.samples" location="parts/service.wsdl"/>
    </wsdl:definitions>"#;
    let service = format!(
        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
             xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
             xmlns:http="http://schemas.xmlsoap.org/wsdl/http/"
             xmlns:b="http://bindings.samples" targetNamespace="http://services.samples">
           <wsdl:import namespace="http://bindings.samples" location="../bindings/http.wsdl"/>
           <wsdl:service name="Stock">
             <wsdl:port name="Soap11" binding="b:Soap11Binding"><soap:address location="{base}/services/Stock11"/></wsdl:port>
             <wsdl:port name="Soap12" binding="b:Soap12Binding"><soap12:address location="{base}/services/Stock12"/></wsdl:port>
             <wsdl:port name="Get" binding="b:GetBinding"><http:address location="{base}/rest/stock"/></wsdl:port>
           </wsdl:service>
         </wsdl:definitions>"#
    );
    let bindings = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
        xmlns:http="http://schemas.xmlsoap.org/wsdl/http/" targetNamespace="http://bindings.samples">
      <wsdl:import namespace="http://services.samples" location="../main.wsdl"/>
      <wsdl:binding name="GetBinding" type="x:StockPortType"><http:binding verb="GET"/></wsdl:binding>
    </wsdl:definitions>"#;
    let remote = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:r">
      <wsdl:import namespace="urn:r" location="http://127.0.0.1:9/types?wsdl"/>
    </wsdl:definitions>"#;
    let endpoints = format!(
        r#"<definitions {NS}>
             <endpoint name="Imported"><wsdl uri="wsdl/main.wsdl" service="Stock" port="Soap11"/></endpoint>
             <endpoint name="ImportedGet"><wsdl uri="wsdl/main.wsdl" service="Stock" port="Get"/></endpoint>
           </definitions>"#
    );
    let template = format!(
        r#"<template {NS} name="StockTemplate">
             <parameter name="port"/>
             <endpoint name="$name"><wsdl uri="$uri" service="Stock" port="$port"/></endpoint>
           </template>"#
    );
    let instance = format!(
        r#"<endpoint {NS} name="FromTemplate" template="StockTemplate" uri="wsdl/main.wsdl">
             <parameter name="port" value="Soap12"/>
           </endpoint>"#
    );
    let remote_ep = format!(
        r#"<endpoint {NS} name="Remote"><wsdl uri="wsdl/remote.wsdl" service="S" port="P"/></endpoint>"#
    );
    let api = format!(
        r#"<api {NS} name="T" context="/t">
             <resource methods="POST" uri-template="/eleven/*">
               <inSequence><header name="Action" value="urn:getQuote"/><call><endpoint key="Imported"/></call><respond/></inSequence></resource>
             <resource methods="POST" uri-template="/get/*">
               <inSequence><call><endpoint key="ImportedGet"/></call><respond/></inSequence></resource>
             <resource methods="POST" uri-template="/twelve/*">
               <inSequence><header name="Action" value="urn:getQuote"/><call><endpoint key="FromTemplate"/></call><respond/></inSequence></resource>
           </api>"#
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/T.xml", &api),
            ("sequences/endpoints.xml", &endpoints),
            ("sequences/StockTemplate.xml", &template),
            ("sequences/FromTemplate.xml", &instance),
            ("sequences/Remote.xml", &remote_ep),
            ("sequences/wsdl/main.wsdl", main),
            ("sequences/wsdl/parts/service.wsdl", &service),
            ("sequences/wsdl/bindings/http.wsdl", bindings),
            ("sequences/wsdl/remote.wsdl", remote),
        ],
    );
    let (gw, report) = start_partly(&dir).await;
    // the http import nobody serves: that endpoint alone is left out, with the reason where
    // it is written
    assert_eq!(report.undeployed.len(), 1, "{report:?}");
    assert!(report.undeployed[0].ends_with("Remote.xml"), "{report:?}");
    let text = report.render().join("\n");
    assert!(
        text.contains("Remote.xml:1:")
            && text.contains("E0122")
            && text.contains("imports `http://127.0.0.1:9/types?wsdl`")
            && text.contains("cannot fetch the WSDL http://127.0.0.1:9/types?wsdl"),
        "{text}"
    );
    let post = |path: &'static str| {
        client()
            .post(format!("http://{}{path}", gw.addr()))
            .header("content-type", "application/xml")
            .body(r#"<getQuote xmlns="http://services.samples"><symbol>WSO2</symbol></getQuote>"#)
            .send()
    };
    for (path, method, seen_path, content_type) in [
        ("/t/eleven/x", "POST", "/services/Stock11", "text/xml"),
        ("/t/get/x", "GET", "/rest/stock/get/x", ""),
        (
            "/t/twelve/x",
            "POST",
            "/services/Stock12",
            "application/soap+xml",
        ),
    ] {
        backend.clear();
        let r = post(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let seen = backend.requests();
        assert_eq!(seen.len(), 1, "{path}");
        assert_eq!(seen[0].method, method, "{path}");
        assert_eq!(seen[0].path(), seen_path, "{path}");
        let ct = seen[0].header("content-type").unwrap_or_default();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
    }
    gw.shutdown().await;
}

/// The documents of a WSDL served over http on 127.0.0.1: `/ws/main.wsdl` imports
/// `parts/service.wsdl` (relative to its URL), whose service `Stock` has the port `Soap11` at
/// the address the test sets; both answer 401 without the Basic credentials `user:s3cret`.
struct WsdlServer {
    origin: MockOrigin,
    backend: std::sync::Arc<std::sync::Mutex<String>>,
}

impl WsdlServer {
    async fn start(backend: &str) -> WsdlServer {
        let at = std::sync::Arc::new(std::sync::Mutex::new(backend.to_string()));
        let port_at = at.clone();
        let origin = MockOrigin::start(move |req| {
            // user:s3cret
            if req.header("authorization") != Some("Basic dXNlcjpzM2NyZXQ=") {
                return MockResponse::new(401);
            }
            let body = match req.path() {
                "/ws/main.wsdl" => r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
                    targetNamespace="http://services.samples">
                  <wsdl:import namespace="http://services.samples" location="parts/service.wsdl"/>
                </wsdl:definitions>"#
                    .to_string(),
                "/ws/parts/service.wsdl" => {
                    let base = port_at.lock().unwrap().clone();
                    format!(
                        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
                             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
                             xmlns:tns="http://services.samples" targetNamespace="http://services.samples">
                           <wsdl:service name="Stock">
                             <wsdl:port name="Soap11" binding="tns:Soap11Binding">
                               <soap:address location="{base}/services/Stock11"/>
                             </wsdl:port>
                           </wsdl:service>
                         </wsdl:definitions>"#
                    )
                }
                _ => return MockResponse::new(404),
            };
            MockResponse::text(body).header("content-type", "text/xml")
        })
        .await;
        WsdlServer {
            origin,
            backend: at,
        }
    }

    /// `path` of this server with the credentials in the URL.
    fn url(&self, path: &str) -> String {
        format!("http://user:s3cret@{}{path}", self.origin.addr())
    }
}

/// A `<wsdl uri="http://…">` endpoint: the gateway fetches the document and the document it
/// imports (relative to its URL, with the URL's credentials) when it loads the project, and
/// again on every reload; a request reaches the port's address. A WSDL that cannot be fetched
/// leaves its endpoint undeployed, with the reason at the `uri`, the password masked.
#[tokio::test]
async fn an_http_wsdl_endpoint_and_its_import_are_fetched_at_each_load() {
    let soap_ok = || {
        MockResponse::text(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ok/></soapenv:Body></soapenv:Envelope>"#,
        )
        .header("content-type", "text/xml")
    };
    let first = MockOrigin::start(move |_| soap_ok()).await;
    let second = MockOrigin::start(move |_| soap_ok()).await;
    let server = WsdlServer::start(&first.url()).await;
    let fetched = format!(
        r#"<endpoint {NS} name="E"><wsdl uri="{}" service="Stock" port="Soap11"/></endpoint>"#,
        server.url("/ws/main.wsdl")
    );
    let nobody = format!(
        "http://user:s3cret@127.0.0.1:{}/ws/main.wsdl",
        synaptic_tests::free_port()
    );
    let unreachable = format!(
        r#"<endpoint {NS} name="Unreachable">
             <wsdl uri="{nobody}" service="Stock" port="Soap11"/></endpoint>"#
    );
    let dir = GatewayDir::new(
        "[limits]\nwsdl_fetch_timeout = 5.0\n",
        &[
            ("sequences/T.xml", &api()),
            ("sequences/E.xml", &fetched),
            ("sequences/Unreachable.xml", &unreachable),
        ],
    );
    let (gw, report) = start_partly(&dir).await;
    assert_eq!(report.undeployed.len(), 1, "{report:?}");
    assert!(
        report.undeployed[0].ends_with("Unreachable.xml"),
        "{report:?}"
    );
    let text = report.render().join("\n");
    // the column of the uri's value on the endpoint's second line
    let at = unreachable.find("uri=\"").unwrap() + "uri=\"".len();
    let at_uri = at - unreachable[..at].rfind('\n').unwrap();
    assert!(
        text.contains(&format!("Unreachable.xml:2:{at_uri}: error[E0122]"))
            && text.contains("cannot fetch the WSDL http://user:***@127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    // both documents were fetched, with the credentials
    let paths: Vec<String> = server
        .origin
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(paths, ["/ws/main.wsdl", "/ws/parts/service.wsdl"]);

    let post = || {
        client()
            .post(format!("http://{}/t/x", gw.addr()))
            .header("content-type", "application/xml")
            .body(r#"<getQuote xmlns="http://services.samples"><symbol>WSO2</symbol></getQuote>"#)
            .send()
    };
    let r = post().await.unwrap();
    assert_eq!(r.status(), 200);
    let seen = first.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path(), "/services/Stock11");
    assert_eq!(seen[0].header("content-type"), Some("text/xml"));

    // the service moves: a reload fetches the documents again
    *server.backend.lock().unwrap() = second.url();
    synaptic_tests::gateway::assert_reloaded(gw.gateway()).await;
    assert_eq!(server.origin.count(), 4);
    let r = post().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!((first.count(), second.count()), (1, 1));
    assert_eq!(second.requests()[0].path(), "/services/Stock11");
    gw.shutdown().await;
}
