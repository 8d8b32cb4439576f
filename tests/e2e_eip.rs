//! End-to-end tests of the EIP mediators over real HTTP on 127.0.0.1: an `<api>` that splits a
//! request with `<iterate>`, sends each part to a real backend, and answers with what
//! `<aggregate>` gathered in the out-sequence; the same with `call` in the branches and the
//! aggregate after the iterate; the branches run concurrently and at most
//! `[limits] eip_branches_in_flight` at a time; `<clone>`/`<iterate continueParent="true">`
//! (parallel and sequential) whose parent makes its own call and answers while its copies'
//! calls are still held.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synaptic_tests::gateway::start_gateway;
use synaptic_tests::origin::{MockOrigin, MockResponse};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// A backend answering `{"sku": <the sku it got>, "price": …}` after `delay`, counting the
/// requests in flight at once.
async fn prices(delay: Duration) -> (MockOrigin, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), max.clone());
    let origin = MockOrigin::start_async(move |r| {
        let (n, m) = (n.clone(), m.clone());
        async move {
            let cur = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(cur, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            n.fetch_sub(1, Ordering::SeqCst);
            let item: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap_or_default();
            let sku = item["sku"].as_str().unwrap_or("?").to_string();
            MockResponse::json(
                200,
                &serde_json::json!({ "sku": sku, "price": sku.len() * 10 }),
            )
        }
    })
    .await;
    (origin, max)
}

fn send_api(backend: &str) -> String {
    format!(
        r#"<api {NS} name="Quotes" context="/quotes">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <iterate id="items" expression="json-eval($.items)">
        <target><sequence><send><endpoint><http method="POST" uri-template="{backend}/price"/></endpoint></send></sequence></target>
      </iterate>
    </inSequence>
    <outSequence>
      <aggregate id="items">
        <completeCondition timeout="10"><messageCount min="-1" max="-1"/></completeCondition>
        <onComplete expression="json-eval($)"><send/></onComplete>
      </aggregate>
    </outSequence>
  </resource>
</api>"#
    )
}

fn call_api(backend: &str) -> String {
    format!(
        r#"<api {NS} name="Quotes2" context="/quotes2">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <iterate expression="json-eval($.items)">
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/price"/></endpoint></call></sequence></target>
      </iterate>
      <aggregate>
        <onComplete expression="json-eval($)"><respond/></onComplete>
      </aggregate>
    </inSequence>
  </resource>
</api>"#
    )
}

fn skus(v: &serde_json::Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x["sku"].as_str().unwrap().to_string())
        .collect();
    s.sort();
    s
}

#[tokio::test]
async fn iterate_send_and_out_flow_aggregate_answer_with_three_backend_calls() {
    let delay = Duration::from_millis(300);
    let (origin, max_in_flight) = prices(delay).await;
    let gw = start_gateway(
        "",
        &[
            ("sequences/Quotes.xml", &send_api(&origin.url())),
            ("sequences/Quotes2.xml", &call_api(&origin.url())),
        ],
    )
    .await;
    let c = reqwest::Client::new();
    for path in ["/quotes/all", "/quotes2/all"] {
        origin.clear();
        let r = c
            .post(gw.url(path))
            .header("content-type", "application/json")
            .body(r#"{"items":[{"sku":"a"},{"sku":"bb"},{"sku":"ccc"}]}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(skus(&v), ["a", "bb", "ccc"], "{path}: {v}");
        for x in v.as_array().unwrap() {
            let sku = x["sku"].as_str().unwrap();
            assert_eq!(x["price"].as_u64().unwrap() as usize, sku.len() * 10);
        }
        // three real calls, each with one item, made at the same time
        assert_eq!(origin.count(), 3, "{path}");
        let mut sent: Vec<String> = origin.requests().iter().map(|r| r.body_str()).collect();
        sent.sort();
        assert_eq!(
            sent,
            [r#"{"sku":"a"}"#, r#"{"sku":"bb"}"#, r#"{"sku":"ccc"}"#],
            "{path}"
        );
    }
    // the three calls were at the backend at the same time
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 3);
    gw.shutdown().await;
}

#[tokio::test]
async fn branches_in_flight_follow_the_limit() {
    let (origin, max_in_flight) = prices(Duration::from_millis(100)).await;
    let gw = start_gateway(
        "[limits]\neip_branches_in_flight = 2\n",
        &[("sequences/Quotes.xml", &send_api(&origin.url()))],
    )
    .await;
    let items: Vec<serde_json::Value> = (0..7)
        .map(|i| serde_json::json!({ "sku": format!("s{i}") }))
        .collect();
    let r = reqwest::Client::new()
        .post(gw.url("/quotes/all"))
        .json(&serde_json::json!({ "items": items }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(skus(&v).len(), 7);
    assert_eq!(origin.count(), 7);
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 2);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_backend_down_for_one_branch_still_answers_with_the_others() {
    let (origin, _) = prices(Duration::from_millis(10)).await;
    let dead = format!("http://127.0.0.1:{}", synaptic_tests::free_port());
    let api = format!(
        r#"<api {NS} name="Mix" context="/mix">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <clone id="c">
        <target><endpoint><http method="POST" uri-template="{ok}/price"/></endpoint></target>
        <target><endpoint><http method="POST" uri-template="{dead}/price"/></endpoint></target>
        <target><endpoint><http method="POST" uri-template="{ok}/price"/></endpoint></target>
      </clone>
    </inSequence>
    <outSequence>
      <aggregate id="c"><onComplete expression="json-eval($)"><send/></onComplete></aggregate>
    </outSequence>
  </resource>
</api>"#,
        ok = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Mix.xml", &api)]).await;
    let r = reqwest::Client::new()
        .post(gw.url("/mix/all"))
        .header("content-type", "application/json")
        .body(r#"{"sku":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(skus(&v), ["x", "x"]);
    gw.shutdown().await;
}

#[tokio::test]
async fn clone_continue_parent_answers_while_the_branches_calls_are_pending() {
    // a backend that holds every request until the test opens the gate
    let (origin, gate, answered) = MockOrigin::held(|_| MockResponse::text("audited")).await;
    let api = format!(
        r#"<api {NS} name="Audit" context="/audit">
  <resource methods="POST" uri-template="/order">
    <inSequence>
      <clone continueParent="true">
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/audit"/></endpoint></call></sequence></target>
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/archive"/></endpoint></call></sequence></target>
      </clone>
      <payloadFactory media-type="json"><format>{{"accepted":true}}</format><args/></payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Audit.xml", &api)]).await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        reqwest::Client::new()
            .post(gw.url("/audit/order"))
            .header("content-type", "application/json")
            .body(r#"{"order":7}"#)
            .send(),
    )
    .await
    .expect("the client is answered while the branches' calls are held")
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"accepted":true}"#);
    assert_eq!(answered.load(Ordering::SeqCst), 0);
    // both branches' calls reach the backend with the order, and end once it answers
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while origin.count() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut paths: Vec<String> = origin
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/archive", "/audit"]);
    assert!(origin
        .requests()
        .iter()
        .all(|r| r.body_str() == r#"{"order":7}"#));
    gate.add_permits(2);
    while answered.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answered.load(Ordering::SeqCst), 2);
    gw.shutdown().await;
}

/// A backend whose `/held/…` requests wait until the test adds permits to the gate (each
/// then answers `copy` and counts in `ended`); any other path answers `answer` at once.
async fn held_origin(
    answer: serde_json::Value,
) -> (MockOrigin, Arc<tokio::sync::Semaphore>, Arc<AtomicUsize>) {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let ended = Arc::new(AtomicUsize::new(0));
    let (g, a) = (gate.clone(), ended.clone());
    let origin = MockOrigin::start_async(move |r| {
        let (g, a, answer) = (g.clone(), a.clone(), answer.clone());
        async move {
            if r.path().starts_with("/held") {
                if let Ok(p) = g.acquire().await {
                    p.forget();
                }
                a.fetch_add(1, Ordering::SeqCst);
                return MockResponse::text("copy");
            }
            MockResponse::json(200, &answer)
        }
    })
    .await;
    (origin, gate, ended)
}

#[tokio::test]
async fn continue_parent_fan_outs_answer_while_a_copys_call_is_held() {
    // `/held/…` waits until the test opens the gate; `/parent` answers at once
    let (origin, gate, ended) = held_origin(serde_json::json!({ "checked": true })).await;
    let backend = origin.url();
    let resource = |name: &str, fan_out: &str| {
        format!(
            r#"<resource methods="POST" uri-template="/{name}">
    <inSequence>
      {fan_out}
      <call><endpoint><http method="POST" uri-template="{backend}/parent"/></endpoint></call>
      <payloadFactory media-type="json"><format>{{"accepted":$1}}</format><args><arg evaluator="json" expression="$.checked"/></args></payloadFactory>
      <respond/>
    </inSequence>
  </resource>"#
        )
    };
    let mut resources = String::new();
    for sequential in [false, true] {
        resources.push_str(&resource(
            &format!("clone-{sequential}"),
            &format!(
                r#"<clone continueParent="true" sequential="{sequential}">
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/held/audit"/></endpoint></call></sequence></target>
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/held/archive"/></endpoint></call></sequence></target>
      </clone>"#
            ),
        ));
        resources.push_str(&resource(
            &format!("iterate-{sequential}"),
            &format!(
                r#"<iterate continueParent="true" sequential="{sequential}" expression="json-eval($.lines)">
        <target><sequence><call><endpoint><http method="POST" uri-template="{backend}/held/line"/></endpoint></call><respond/></sequence></target>
      </iterate>"#
            ),
        ));
    }
    let api = format!(r#"<api {NS} name="Orders" context="/orders">{resources}</api>"#);
    let gw = start_gateway("", &[("sequences/Orders.xml", &api)]).await;
    let client = reqwest::Client::new();
    for mediator in ["clone", "iterate"] {
        for sequential in [false, true] {
            let what = format!("{mediator} sequential={sequential}");
            origin.clear();
            ended.store(0, Ordering::SeqCst);
            let r = tokio::time::timeout(
                Duration::from_secs(10),
                client
                    .post(gw.url(&format!("/orders/{mediator}-{sequential}")))
                    .header("content-type", "application/json")
                    .body(r#"{"lines":[{"n":1},{"n":2}]}"#)
                    .send(),
            )
            .await
            .unwrap_or_else(|_| panic!("{what}: the client waited for the copies' held calls"))
            .unwrap();
            // the parent's own call and answer, while no copy's call has ended
            assert_eq!(r.status(), 200, "{what}");
            assert_eq!(r.text().await.unwrap(), r#"{"accepted":true}"#, "{what}");
            assert_eq!(ended.load(Ordering::SeqCst), 0, "{what}");
            let parent_calls = origin
                .requests()
                .iter()
                .filter(|r| r.path() == "/parent")
                .count();
            assert_eq!(parent_calls, 1, "{what}");
            // the copies' calls all reach the backend and end once it answers (one after the
            // other when sequential)
            gate.add_permits(2);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while ended.load(Ordering::SeqCst) < 2 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(ended.load(Ordering::SeqCst), 2, "{what}");
            let held = origin
                .requests()
                .iter()
                .filter(|r| r.path().starts_with("/held"))
                .count();
            assert_eq!(held, 2, "{what}");
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_flow_going_on_to_its_endpoint_does_not_wait_for_a_copys_held_call() {
    // `/held/…` waits until the test opens the gate; `/quotes` answers at once
    let (origin, gate, ended) = held_origin(serde_json::json!({ "quote": 42 })).await;
    let backend = origin.url();
    let clone = format!(
        r#"<clone continueParent="true" sequential="true">
        <target><endpoint><http method="POST" uri-template="{backend}/held/audit"/></endpoint></target>
      </clone>"#
    );
    // a proxy: its in-sequence, then its endpoint
    let proxy = format!(
        r#"<proxy {NS} name="Quote" transports="http">
  <target>
    <inSequence>{clone}</inSequence>
    <endpoint><http method="POST" uri-template="{backend}/quotes"/></endpoint>
    <outSequence><send/></outSequence>
  </target>
</proxy>"#
    );
    // a configured API: its in-flow, then its endpoint
    let config = format!(
        r#"
[[api]]
name = "Tee"
context = "/tee"
endpoint = "{backend}/quotes"
in_sequence = "tee-in"
"#
    );
    let tee = format!(r#"<sequence {NS} name="tee-in">{clone}</sequence>"#);
    let gw = start_gateway(
        &config,
        &[("sequences/Quote.xml", &proxy), ("sequences/tee.xml", &tee)],
    )
    .await;
    for path in ["/services/Quote", "/tee"] {
        origin.clear();
        ended.store(0, Ordering::SeqCst);
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            reqwest::Client::new()
                .post(gw.url(path))
                .header("content-type", "application/json")
                .body(r#"{"sym":"X"}"#)
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: the flow waited for the copy's call"))
        .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["quote"], 42, "{path}");
        assert_eq!(ended.load(Ordering::SeqCst), 0, "{path}");
        // the copy's call reached the backend with the message, and ends once it answers
        assert!(origin.wait_for(2, Duration::from_secs(10)).await, "{path}");
        let held: Vec<String> = origin
            .requests()
            .iter()
            .filter(|r| r.path() == "/held/audit")
            .map(|r| r.body_str())
            .collect();
        assert_eq!(held, [r#"{"sym":"X"}"#], "{path}");
        gate.add_permits(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ended.load(Ordering::SeqCst) < 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(ended.load(Ordering::SeqCst), 1, "{path}");
    }
    gw.shutdown().await;
}
