//! End-to-end tests of `<foreach>` over real HTTP on 127.0.0.1: Micro Integrator's form calling
//! a real backend per element (in parallel, results in the collection's order; one at a time
//! with a counter, results in a variable), Synapse's form rewriting each element in place
//! before the merged message goes to a real backend, and the element limit;
//! `continue-without-aggregation` answering the client while the copies' backend calls are
//! still pending; `<scatter-gather>` sending a copy to two real backends and answering with
//! what they said.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::origin::{MockOrigin, MockResponse};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// A backend answering `{"sku": <the sku it got>, "price": 10 × its length}`; the shorter the
/// sku, the later it answers (so the answers arrive in the reverse order of the requests). It
/// counts the requests in flight at once.
async fn prices() -> (MockOrigin, Arc<AtomicUsize>) {
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), max.clone());
    let origin = MockOrigin::start_async(move |r| {
        let (n, m) = (n.clone(), m.clone());
        async move {
            let cur = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(cur, Ordering::SeqCst);
            let item: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap_or_default();
            let sku = item["sku"].as_str().unwrap_or("?").to_string();
            let delay = 400u64.saturating_sub(100 * sku.len() as u64);
            tokio::time::sleep(Duration::from_millis(delay)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            MockResponse::json(
                200,
                &serde_json::json!({ "sku": sku, "price": sku.len() * 10 }),
            )
        }
    })
    .await;
    (origin, max)
}

/// A `POST` of `body`, of `content_type`, to `path` of the gateway.
async fn post(
    gw: &TestGateway,
    path: &str,
    content_type: &str,
    body: &str,
) -> reqwest::Result<reqwest::Response> {
    reqwest::Client::new()
        .post(gw.url(path))
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
}

const ITEMS: &str = r#"{"order":7,"items":[{"sku":"a"},{"sku":"bb"},{"sku":"ccc"}]}"#;

#[tokio::test]
async fn collection_form_prices_each_item_in_parallel_and_keeps_the_order() {
    let (origin, max_in_flight) = prices().await;
    let api = format!(
        r#"<api {NS} name="Prices" context="/prices">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <foreach collection="${{payload.items}}" parallel-execution="true">
        <sequence>
          <call><endpoint><http method="POST" uri-template="{backend}/price"/></endpoint></call>
        </sequence>
      </foreach>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Prices.xml", &api)]).await;
    let r = post(&gw, "/prices/all", "application/json", ITEMS)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        v,
        serde_json::json!({"order":7,"items":[
            {"sku":"a","price":10},{"sku":"bb","price":20},{"sku":"ccc","price":30}
        ]})
    );
    // one real call per item, each with that item alone, all at the backend together
    let mut sent: Vec<String> = origin.requests().iter().map(|r| r.body_str()).collect();
    sent.sort();
    assert_eq!(
        sent,
        [r#"{"sku":"a"}"#, r#"{"sku":"bb"}"#, r#"{"sku":"ccc"}"#]
    );
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 3);
    gw.shutdown().await;
}

#[tokio::test]
async fn collection_form_one_at_a_time_gathers_into_a_variable_with_a_counter() {
    let (origin, max_in_flight) = prices().await;
    let api = format!(
        r#"<api {NS} name="Seq" context="/seq">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <foreach collection="${{payload.items}}" parallel-execution="false" update-original="false"
               target-variable="priced" result-content-type="JSON" counter-variable="i">
        <sequence>
          <call><endpoint><http method="POST" uri-template="{backend}/price"/></endpoint></call>
          <payloadFactory media-type="json" template-type="default">
            <format>{{"at":${{vars.i}},"quote":${{payload}}}}</format>
          </payloadFactory>
        </sequence>
      </foreach>
      <payloadFactory media-type="json" template-type="default">
        <format>{{"original":${{payload}},"priced":${{vars.priced}}}}</format>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Seq.xml", &api)]).await;
    let r = post(&gw, "/seq/all", "application/json", ITEMS)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    let original: serde_json::Value = serde_json::from_str(ITEMS).unwrap();
    assert_eq!(v["original"], original);
    assert_eq!(
        v["priced"],
        serde_json::json!([
            {"at":0,"quote":{"sku":"a","price":10}},
            {"at":1,"quote":{"sku":"bb","price":20}},
            {"at":2,"quote":{"sku":"ccc","price":30}}
        ])
    );
    // one after another, in the collection's order
    let sent: Vec<String> = origin.requests().iter().map(|r| r.body_str()).collect();
    assert_eq!(
        sent,
        [r#"{"sku":"a"}"#, r#"{"sku":"bb"}"#, r#"{"sku":"ccc"}"#]
    );
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 1);
    gw.shutdown().await;
}

#[tokio::test]
async fn synapse_form_rewrites_each_element_in_place_then_the_merged_message_is_sent() {
    let origin = MockOrigin::echo().await;
    let api = format!(
        r#"<api {NS} name="Orders" context="/orders">
  <resource methods="POST" uri-template="/submit">
    <inSequence>
      <foreach id="lines" expression="//order/line">
        <sequence>
          <property name="LAST_SKU" expression="//line/@sku"/>
          <payloadFactory media-type="xml">
            <format><item xmlns="" sku="$1" n="$2"/></format>
            <args>
              <arg expression="//line/@sku"/>
              <arg expression="get-property('lines_FOREACH_COUNTER')"/>
            </args>
          </payloadFactory>
        </sequence>
      </foreach>
      <header name="X-Items" scope="transport" expression="get-property('lines_FOREACH_COUNTER')"/>
      <header name="X-Last" scope="transport" expression="get-property('LAST_SKU')"/>
      <call><endpoint><http method="POST" uri-template="{backend}/orders"/></endpoint></call>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Orders.xml", &api)]).await;
    let r = post(
        &gw,
        "/orders/submit",
        "application/xml",
        r#"<order id="9"><customer>c1</customer><line sku="x1"/><line sku="y2"/></order>"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // the backend got the merged message: the untouched parts, then the rewritten elements
    let reqs = origin.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].body_str(),
        r#"<order id="9"><customer>c1</customer><item sku="x1" n="0"/><item sku="y2" n="1"/></order>"#
    );
    // the loop ran in the request's own message: its properties are there after it
    assert_eq!(reqs[0].header("x-items"), Some("2"));
    assert_eq!(reqs[0].header("x-last"), Some("y2"));
    gw.shutdown().await;
}

#[tokio::test]
async fn synapse_form_over_json_continues_past_a_failing_member() {
    let origin = MockOrigin::echo().await;
    let api = format!(
        r#"<api {NS} name="Tags" context="/tags">
  <resource methods="POST" uri-template="/clean">
    <inSequence>
      <foreach expression="json-eval($.tags)" continueLoopOnFailure="true">
        <sequence>
          <script language="js"><![CDATA[
            var t = mc.getPayloadJSON();
            if (t.name.length == 0) {{ throw new Error('empty tag'); }}
            mc.setPayloadJSON({{"tag": t.name.toUpperCase()}});
          ]]></script>
        </sequence>
      </foreach>
      <call><endpoint><http method="POST" uri-template="{backend}/tags"/></endpoint></call>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Tags.xml", &api)]).await;
    let r = post(
        &gw,
        "/tags/clean",
        "application/json",
        r#"{"id":1,"tags":[{"name":"a"},{"name":""},{"name":"b"}]}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let reqs = origin.requests();
    assert_eq!(reqs.len(), 1);
    let sent: serde_json::Value = serde_json::from_str(&reqs[0].body_str()).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({"id":1,"tags":[{"tag":"A"},{"tag":"B"}]})
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn more_elements_than_the_limit_fail_before_any_call() {
    let (origin, _) = prices().await;
    let api = format!(
        r#"<api {NS} name="Many" context="/many">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <foreach collection="${{payload.items}}">
        <sequence>
          <call><endpoint><http method="POST" uri-template="{backend}/price"/></endpoint></call>
        </sequence>
      </foreach>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway(
        "[limits]\neip_max_branches = 2\n",
        &[("sequences/Many.xml", &api)],
    )
    .await;
    let r = post(&gw, "/many/all", "application/json", ITEMS)
        .await
        .unwrap();
    assert!(r.status().is_server_error(), "{}", r.status());
    assert_eq!(origin.count(), 0);
    gw.shutdown().await;
}

#[tokio::test]
async fn scatter_gather_asks_two_backends_and_answers_with_both() {
    let (quotes, max_in_flight) = prices().await;
    let stock = MockOrigin::start_async(|r| async move {
        let item: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap_or_default();
        tokio::time::sleep(Duration::from_millis(50)).await;
        MockResponse::json(
            200,
            &serde_json::json!({ "sku": item["sku"], "in_stock": true }),
        )
    })
    .await;
    let api = format!(
        r#"<api {NS} name="Both" context="/both">
  <resource methods="POST" uri-template="/item">
    <inSequence>
      <scatter-gather parallel-execution="true" target="body" result-content-type="JSON">
        <aggregation expression="${{payload}}" timeout="5000"/>
        <sequence>
          <call><endpoint><http method="POST" uri-template="{q}/price"/></endpoint></call>
        </sequence>
        <sequence>
          <call><endpoint><http method="POST" uri-template="{s}/stock"/></endpoint></call>
        </sequence>
      </scatter-gather>
      <respond/>
    </inSequence>
  </resource>
  <resource methods="POST" uri-template="/xml">
    <inSequence>
      <scatter-gather parallel-execution="false" target="variable" target-variable="answers"
                      result-content-type="XML" result-enclosing-element="answers">
        <aggregation expression="${{xpath('$body/*')}}"/>
        <sequence>
          <call><endpoint><http method="POST" uri-template="{q}/price"/></endpoint></call>
        </sequence>
        <sequence>
          <call><endpoint><http method="POST" uri-template="{s}/stock"/></endpoint></call>
        </sequence>
      </scatter-gather>
      <payloadFactory media-type="xml" template-type="default">
        <format><out xmlns="">${{vars.answers}}</out></format>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        q = quotes.url(),
        s = stock.url()
    );
    let gw = start_gateway("", &[("sequences/Both.xml", &api)]).await;
    let r = post(&gw, "/both/item", "application/json", r#"{"sku":"bb"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("application/json")));
    let v: serde_json::Value = r.json().await.unwrap();
    // gathered as they came back: the price (200 ms) after the stock (50 ms)
    assert_eq!(
        v,
        serde_json::json!([
            {"sku":"bb","in_stock":true},
            {"sku":"bb","price":20}
        ])
    );
    assert_eq!(quotes.requests()[0].body_str(), r#"{"sku":"bb"}"#);
    assert_eq!(stock.requests()[0].body_str(), r#"{"sku":"bb"}"#);
    assert_eq!(max_in_flight.load(Ordering::SeqCst), 1);

    // one after another, into a variable, as XML
    let r = post(&gw, "/both/xml", "application/json", r#"{"sku":"a"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert_eq!(
        text,
        "<out><answers><jsonObject><sku>a</sku><price>10</price></jsonObject>\
         <jsonObject><sku>a</sku><in_stock>true</in_stock></jsonObject></answers></out>"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn continue_without_aggregation_answers_before_the_copies_calls_end() {
    // a backend that holds every request until the test opens the gate
    let (origin, gate, answered) =
        MockOrigin::held(|r| MockResponse::json(200, &serde_json::json!({ "got": r.body_str() })))
            .await;
    let api = format!(
        r#"<api {NS} name="Notify" context="/notify">
  <resource methods="POST" uri-template="/all">
    <inSequence>
      <foreach collection="${{payload.items}}" continue-without-aggregation="true">
        <sequence>
          <call><endpoint><http method="POST" uri-template="{backend}/notify"/></endpoint></call>
        </sequence>
      </foreach>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        backend = origin.url()
    );
    let gw = start_gateway("", &[("sequences/Notify.xml", &api)]).await;
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        post(&gw, "/notify/all", "application/json", ITEMS),
    )
    .await
    .expect("the client is answered while the copies' calls are held")
    .unwrap();
    assert_eq!(r.status(), 200);
    // the original message, unchanged
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v, serde_json::from_str::<serde_json::Value>(ITEMS).unwrap());
    assert_eq!(
        answered.load(Ordering::SeqCst),
        0,
        "no backend call has ended"
    );
    // the copies' calls all reach the backend, and end once it answers
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while origin.count() < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sent: Vec<String> = origin.requests().iter().map(|r| r.body_str()).collect();
    sent.sort();
    assert_eq!(
        sent,
        [r#"{"sku":"a"}"#, r#"{"sku":"bb"}"#, r#"{"sku":"ccc"}"#]
    );
    gate.add_permits(3);
    while answered.load(Ordering::SeqCst) < 3 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(answered.load(Ordering::SeqCst), 3);
    let metrics = gw.gateway().metrics().render();
    assert!(
        metrics.contains("synaptic_detached_total{outcome=\"started\"} 1"),
        "{metrics}"
    );
    gw.shutdown().await;
}

/// A gateway whose `/notify/one` answers at once while a detached copy calls `held` (which
/// waits for `gate`), then `after`; stopped by a real SIGTERM, with `grace` seconds to drain.
async fn notify_gateway_stopped_by_sigterm(
    held: &MockOrigin,
    after: &MockOrigin,
    grace: f64,
) -> (
    synaptic_tests::gateway::GatewayDir,
    tokio::task::JoinHandle<()>,
    std::net::SocketAddr,
) {
    let api = format!(
        r#"<api {NS} name="Notify" context="/notify">
  <resource methods="POST" uri-template="/one">
    <inSequence>
      <foreach collection="${{payload.items}}" continue-without-aggregation="true">
        <sequence>
          <call><endpoint><http method="POST" uri-template="{held}/held"/></endpoint></call>
          <call><endpoint><http method="POST" uri-template="{after}/after"/></endpoint></call>
        </sequence>
      </foreach>
      <respond/>
    </inSequence>
  </resource>
</api>"#,
        held = held.url(),
        after = after.url()
    );
    let dir = synaptic_tests::gateway::GatewayDir::new(
        &format!("[server]\nshutdown_grace = {grace}\n"),
        &[("sequences/Notify.xml", &api)],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("config loads");
    let opts = synaptic_gateway::ServeOptions {
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: Some(false),
        ..Default::default()
    };
    // the signal `synaptic serve` stops on, installed before it is sent
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    let signal = async move {
        term.recv().await;
    };
    let (running, _) = synaptic_gateway::start_with_signal(loaded.config, opts, signal)
        .await
        .expect("gateway starts");
    let addr = running.addr();
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/notify/one"))
        .header("content-type", "application/json")
        .body(r#"{"items":[{"sku":"a"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "the client is answered while the copy runs"
    );
    // the copy's first call is held by the backend
    assert!(held.wait_for(1, Duration::from_secs(10)).await);
    assert_eq!(after.count(), 0);
    synaptic_tests::process::signal(std::process::id(), "TERM");
    (dir, tokio::spawn(running.wait()), addr)
}

#[tokio::test]
async fn sigterm_waits_for_a_detached_copy_within_the_grace_period() {
    let (held, gate, _) =
        MockOrigin::held(|_| MockResponse::json(200, &serde_json::json!({ "ok": true }))).await;
    let after = MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({}))).await;
    let (_dir, stopped, addr) = notify_gateway_stopped_by_sigterm(&held, &after, 10.0).await;
    // the listener stops taking connections, but the gateway has not stopped: the copy runs
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !stopped.is_finished(),
        "stopped before its detached copy ended"
    );
    // the held call ends: the copy goes on to its second backend before the gateway stops
    gate.add_permits(1);
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the gateway stops once the copy ended")
        .unwrap();
    assert_eq!(
        after.count(),
        1,
        "the copy's second call reached its backend"
    );
}

#[tokio::test]
async fn sigterm_abandons_a_detached_copy_still_running_when_the_grace_period_ends() {
    let (logs, _guard) = synaptic_tests::logs::capture();
    // never answers within the test
    let held = MockOrigin::start(|_| {
        MockResponse::json(200, &serde_json::json!({})).delay(Duration::from_secs(30))
    })
    .await;
    let after = MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({}))).await;
    let started = tokio::time::Instant::now();
    let (_dir, stopped, _) = notify_gateway_stopped_by_sigterm(&held, &after, 0.5).await;
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("the gateway stops when the grace period ends")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(after.count(), 0);
    let text = logs.text();
    assert!(
        text.contains("1 detached mediation work(s) still running") && text.contains("abandoned"),
        "{text}"
    );
}
