//! OpenTelemetry traces end to end: the gateway exports to a real OTLP receiver
//! (`synaptic_tests::otlp`, the protocol's own gRPC service and its HTTP/protobuf endpoint,
//! decoding what arrives) and the spans of a request have the right names, attributes and
//! parent/child structure; the client's `traceparent` is continued and sent on to the backend,
//! to a `<call>` target and to the token endpoint of endpoint security.

use std::time::Duration;
use synaptic_tests::authserver;
use synaptic_tests::gateway::start_gateway;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::otlp::{OtlpReceiver, ReceivedSpan};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn one<'a>(spans: &'a [ReceivedSpan], name: &str) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one span {name:?} in {spans:#?}");
    found[0]
}

/// `00-<trace>-<parent>-01` sent to a server: the parent is `span`.
fn continues(traceparent: Option<&str>, span: &ReceivedSpan) {
    assert_eq!(
        traceparent,
        Some(format!("00-{}-{}-01", span.trace_id, span.span_id).as_str()),
        "traceparent sent under {:?}",
        span.name
    );
}

#[tokio::test]
async fn a_request_is_one_trace_with_a_span_per_phase_over_grpc() {
    let receiver = OtlpReceiver::start().await;
    let backend =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"id": 7}))).await;
    let stock = MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"n": 3}))).await;
    let idp = MockOrigin::start(|_| {
        MockResponse::json(
            200,
            &serde_json::json!({"access_token": "backend-token", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await;
    let config = format!(
        r#"
[telemetry]
otlp_endpoint = "{otlp}"
service_name = "orders-gateway"
export_interval = 0.2
{server}
[[api]]
name = "Orders"
context = "/orders"
endpoint = "{backend}"
security = "oauth2"
in_sequence = "orders_in"
out_sequence = "orders_out"

[[api.resource]]
uri_template = "/{{id}}"
scopes = ["orders"]

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{idp}/token"
client_id = "gw"
client_secret = "gw-secret"
"#,
        otlp = receiver.endpoint(),
        server = authserver::with_client("", "svc", "svc-secret-0123456789", &["orders"]),
        backend = backend.url(),
        idp = idp.url(),
    );
    let inseq = r#"<sequence name="orders_in" xmlns="http://ws.apache.org/ns/synapse">
  <sequence key="stock_check"/>
</sequence>"#;
    let stock_check = format!(
        r#"<sequence name="stock_check" xmlns="http://ws.apache.org/ns/synapse">
  <call blocking="true"><endpoint><address uri="{}/stock"/></endpoint></call>
</sequence>"#,
        stock.url()
    );
    let outseq = r#"<sequence name="orders_out" xmlns="http://ws.apache.org/ns/synapse">
  <property name="seen" value="1"/>
</sequence>"#;
    let (logs, _guard) = synaptic_tests::logs::capture();
    let gw = start_gateway(
        &config,
        &[
            ("sequences/orders_in.xml", inseq),
            ("sequences/stock_check.xml", &stock_check),
            ("sequences/orders_out.xml", outseq),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(gw.url("/oauth2/token"))
        .basic_auth("svc", Some("svc-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("scope", "orders")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let r = http
        .get(gw.url("/orders/7"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let names = [
        "GET /orders/{id}",
        "inbound authorization",
        "sequence orders_in",
        "sequence stock_check",
        "call",
        "backend",
        "token fetch",
        "sequence orders_out",
    ];
    let spans = receiver
        .wait_for(Duration::from_secs(20), |s| {
            names
                .iter()
                .all(|n| s.iter().any(|x| x.trace_id == TRACE && x.name == *n))
        })
        .await;
    let spans: Vec<ReceivedSpan> = spans.into_iter().filter(|s| s.trace_id == TRACE).collect();
    // named after the resource's template, not the path
    let root = one(&spans, "GET /orders/{id}");
    assert_eq!(
        root.parent_span_id, CLIENT_SPAN,
        "the client's trace continues"
    );
    assert_eq!(root.kind, 2, "server");
    assert_eq!(root.service, "orders-gateway");
    assert_eq!(root.via, "grpc");
    assert_eq!(root.attr("http.request.method"), Some("GET"));
    assert_eq!(root.attr("http.route"), Some("/orders/{id}"));
    assert_eq!(root.attr("url.path"), Some("/orders/7"));
    assert_eq!(root.attr("http.response.status_code"), Some("200"));
    let auth = one(&spans, "inbound authorization");
    let inflow = one(&spans, "sequence orders_in");
    let nested = one(&spans, "sequence stock_check");
    let call = one(&spans, "call");
    let exchange = one(&spans, "backend");
    let fetch = one(&spans, "token fetch");
    let outflow = one(&spans, "sequence orders_out");
    for child in [auth, inflow, exchange, outflow] {
        assert_eq!(
            child.parent_span_id, root.span_id,
            "{} under the request",
            child.name
        );
    }
    assert_eq!(inflow.attr("synaptic.flow"), Some("in"));
    assert_eq!(outflow.attr("synaptic.flow"), Some("out"));
    assert_eq!(
        nested.parent_span_id, inflow.span_id,
        "a sequence called by another under its caller"
    );
    assert_eq!(nested.attr("synaptic.sequence"), Some("stock_check"));
    assert_eq!(
        call.parent_span_id, nested.span_id,
        "the call under its sequence"
    );
    assert_eq!(call.kind, 3, "client");
    assert_eq!(call.attr("http.response.status_code"), Some("200"));
    assert_eq!(
        fetch.parent_span_id, exchange.span_id,
        "the token fetch inside the exchange"
    );
    assert_eq!(exchange.kind, 3);
    assert_eq!(exchange.attr("http.request.method"), Some("GET"));
    assert_eq!(exchange.attr("http.response.status_code"), Some("200"));
    // the trace context went on to every server the request reached
    continues(backend.requests()[0].header("traceparent"), exchange);
    continues(stock.requests()[0].header("traceparent"), call);
    continues(idp.requests()[0].header("traceparent"), fetch);
    assert_eq!(
        backend.requests()[0].header("authorization"),
        Some("Bearer backend-token")
    );
    // the access-log line names the trace
    let access: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("synaptic::access") && l.contains("path=/orders/7"))
        .map(String::from)
        .collect();
    assert_eq!(access.len(), 1, "{}", logs.text());
    assert!(
        access[0].contains(&format!("trace_id={TRACE}")),
        "{}",
        access[0]
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_go_over_http_protobuf_and_new_traces_start_at_the_gateway() {
    let receiver = OtlpReceiver::start().await;
    let backend = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let config = format!(
        r#"
[telemetry]
otlp_endpoint = "{otlp}"
otlp_protocol = "http/protobuf"
export_interval = 0.2

[[api]]
name = "Plain"
context = "/plain"
endpoint = "{backend}"

[[api]]
name = "Down"
context = "/down"
endpoint = "http://127.0.0.1:{closed}/"
fault_sequence = "sorry"
"#,
        otlp = receiver.endpoint(),
        backend = backend.url(),
        closed = synaptic_tests::free_port(),
    );
    let sorry = r#"<sequence name="sorry" xmlns="http://ws.apache.org/ns/synapse">
  <payloadFactory media-type="json"><format>{"sorry":true}</format></payloadFactory>
  <property name="HTTP_SC" value="503" scope="axis2"/>
  <respond/>
</sequence>"#;
    let gw = start_gateway(&config, &[("sequences/sorry.xml", sorry)]).await;
    let r = reqwest::get(gw.url("/plain/x?q=1")).await.unwrap();
    assert_eq!(r.status(), 200);
    let spans = receiver
        .wait_for(Duration::from_secs(20), |s| {
            s.iter().any(|x| x.name == "GET /plain") && s.iter().any(|x| x.name == "backend")
        })
        .await;
    let root = one(&spans, "GET /plain");
    assert_eq!(root.via, "http");
    assert_eq!(root.parent_span_id, "", "no traceparent: a new trace");
    assert_eq!(root.service, "synaptic");
    let exchange = one(&spans, "backend");
    assert_eq!(exchange.parent_span_id, root.span_id);
    assert_eq!(exchange.trace_id, root.trace_id);
    assert_eq!(
        exchange.attr("url.full").map(|u| u.contains('?')),
        Some(false),
        "no query in span attributes"
    );
    continues(backend.requests()[0].header("traceparent"), exchange);
    // an unreachable backend: a failed exchange, then the fault sequence, in the same trace
    let r = reqwest::get(gw.url("/down/x")).await.unwrap();
    assert_eq!(r.status(), 503);
    let spans = receiver
        .wait_for(Duration::from_secs(20), |s| {
            s.iter().any(|x| x.name == "GET /down") && s.iter().any(|x| x.name == "sequence sorry")
        })
        .await;
    let root = one(&spans, "GET /down");
    assert_eq!(root.attr("http.response.status_code"), Some("503"));
    assert_eq!(root.status_code, 2, "a 5xx answer is an error span");
    let failed: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.name == "backend" && s.trace_id == root.trace_id)
        .collect();
    assert_eq!(failed.len(), 1, "{spans:#?}");
    assert_eq!(
        failed[0].status_code, 2,
        "the failed exchange is an error span"
    );
    let fault = one(&spans, "sequence sorry");
    assert_eq!(fault.trace_id, root.trace_id);
    assert_eq!(fault.attr("synaptic.flow"), Some("fault"));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_sampling_ratio_exports_only_traces_a_client_sampled() {
    let receiver = OtlpReceiver::start().await;
    let backend = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let config = format!(
        r#"
[telemetry]
otlp_endpoint = "{otlp}"
sampling_ratio = 0.0
export_interval = 0.2

[[api]]
name = "Plain"
context = "/plain"
endpoint = "{backend}"
"#,
        otlp = receiver.endpoint(),
        backend = backend.url(),
    );
    let gw = start_gateway(&config, &[]).await;
    let client = reqwest::Client::new();
    // no traceparent: a new trace, not sampled at a ratio of 0
    let r = client.get(gw.url("/plain/first")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // a client that sampled its trace: the gateway's spans follow its decision
    let r = client
        .get(gw.url("/plain/second"))
        .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // a client that did not sample: nothing exported either
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let r = client
        .get(gw.url("/plain/third"))
        .header("traceparent", format!("00-{unsampled}-b7ad6b7169203331-00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    receiver
        .wait_for(Duration::from_secs(20), |s| {
            s.iter().any(|x| x.name == "GET /plain") && s.iter().any(|x| x.name == "backend")
        })
        .await;
    // a later batch would hold the others: give it time to arrive
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans = receiver.spans();
    assert!(
        spans.iter().all(|s| s.trace_id == TRACE),
        "only the client-sampled trace is exported: {spans:#?}"
    );
    let root = one(&spans, "GET /plain");
    assert_eq!(root.parent_span_id, CLIENT_SPAN);
    let exchange = one(&spans, "backend");
    continues(backend.requests()[1].header("traceparent"), exchange);
    // the unsampled trace still reaches the backend, marked unsampled, so that services behind
    // the gateway keep one trace id
    let third = backend.requests()[2]
        .header("traceparent")
        .map(str::to_string);
    let third = third.expect("traceparent sent on an unsampled trace");
    assert!(
        third.starts_with(&format!("00-{unsampled}-")) && third.ends_with("-00"),
        "{third}"
    );
    gw.shutdown().await;
}
