//! End-to-end tests of the request pipeline: the fault sequence's context on every path, the
//! deadline over a backend exchange including its body, the out-flow after an in-flow's `<send>`
//! or `<loopback/>`, `synaptic.toml` hot reload, the plan
//! refusing a bad endpoint at load time, and the per-API metrics. Real gateways on 127.0.0.1:0
//! in this process, in-process origins.

use std::time::Duration;
use synaptic_gateway::{Running, ServeOptions};
use synaptic_tests::authserver;
use synaptic_tests::gateway::GatewayDir;
use synaptic_tests::http::{client, dead_url, eventually, json, url};
use synaptic_tests::logs::CapturedLogs;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

// ===== the fault sequence's context =====

/// Answers with what a fault sequence sees: the URI variable, the API, the client of the
/// token, the error code and the method.
const CONTEXT_FAULT: &str = r#"<sequence name="ctx-fault" xmlns="http://ws.apache.org/ns/synapse">
    <payloadFactory media-type="json">
        <format>{"id":"$1","api":"$2","client":"$3","code":"$4","method":"$5"}</format>
        <args>
            <arg evaluator="xml" expression="get-property('uri.var.id')"/>
            <arg evaluator="xml" expression="get-property('SYNAPSE_REST_API')"/>
            <arg evaluator="xml" expression="get-property('oauth.client_id')"/>
            <arg evaluator="xml" expression="get-property('ERROR_CODE')"/>
            <arg evaluator="xml" expression="get-property('axis2', 'HTTP_METHOD')"/>
        </args>
    </payloadFactory>
    <property name="HTTP_SC" value="503" scope="axis2"/>
    <respond/>
</sequence>"#;

const NOOP_IN: &str = r#"<sequence name="noop-in" xmlns="http://ws.apache.org/ns/synapse">
    <property name="seen" value="yes"/>
</sequence>"#;

/// Four APIs on a dead backend, one per path through the pipeline: streamed, kept for a
/// replay (endpoint security), buffered into a message context (in-flow); all secured by the
/// gateway's own authorization server, all with the same fault sequence.
fn fault_context_config(dead: &str, token_url: &str) -> String {
    let api = |name: &str, ctx: &str, extra: &str| {
        format!(
            r#"
[[api]]
name = "{name}"
context = "{ctx}"
endpoint = "{dead}"
security = "oauth2"
fault_sequence = "ctx-fault"
{extra}
[[api.resource]]
methods = ["POST"]
uri_template = "/items/{{id}}"
scopes = ["view"]
"#
        )
    };
    let secured_backend = format!(
        r#"
[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{token_url}"
client_id = "gw"
client_secret = "gw-secret"
"#
    );
    format!(
        "{}{}{}{}",
        auth_server(&["view"]),
        api("Streamed", "/streamed", ""),
        api("Kept", "/kept", &secured_backend),
        api("Buffered", "/buffered", "in_sequence = \"noop-in\""),
    )
}

/// The gateway's own authorization server with these scopes and one client, `app-one`, allowed
/// all of them (client credentials).
fn auth_server(scopes: &[&str]) -> String {
    authserver::with_client("", "app-one", "app-one-secret", scopes)
}

/// A client-credentials token of `app-one` with the scope `view`.
async fn app_token(http: &reqwest::Client, gw: &Running) -> String {
    let r = http
        .post(url(gw, "/oauth2/token"))
        .basic_auth("app-one", Some("app-one-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "view")])
        .send()
        .await
        .expect("token request");
    assert_eq!(r.status(), 200);
    json(r).await["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

#[tokio::test]
async fn the_fault_sequence_sees_the_same_context_on_every_path() {
    let tokens = MockOrigin::start(|_| {
        MockResponse::json(
            200,
            &serde_json::json!({"access_token": "backend-token", "token_type": "Bearer", "expires_in": 3600}),
        )
    })
    .await;
    let dead = dead_url();
    let config = fault_context_config(&dead, &format!("{}/token", tokens.url()));
    let files = [
        ("sequences/ctx-fault.xml", CONTEXT_FAULT),
        ("sequences/noop-in.xml", NOOP_IN),
    ];
    let dir = GatewayDir::new(&config, &files);
    let http = client();
    // the wire log adds a fourth path: buffered without a message context
    for wire in [false, true] {
        let opts = ServeOptions {
            wire,
            ..Default::default()
        };
        let gw = synaptic_tests::gateway::start_running(&dir, opts).await;
        let token = app_token(&http, &gw).await;
        for (api, ctx) in [
            ("Streamed", "/streamed"),
            ("Kept", "/kept"),
            ("Buffered", "/buffered"),
        ] {
            let r = http
                .post(url(&gw, &format!("{ctx}/items/42")))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(r#"{"n":1}"#)
                .send()
                .await
                .expect("request");
            assert_eq!(r.status(), 503, "{api} (wire {wire})");
            let v = json(r).await;
            assert_eq!(
                v,
                serde_json::json!({
                    "id": "42",
                    "api": api,
                    "client": "app-one",
                    "code": "101503",
                    "method": "POST",
                }),
                "{api} (wire {wire})"
            );
        }
        gw.shutdown().await;
    }
    // the endpoint security path reached the token endpoint before the dead backend
    assert!(tokens.count() >= 1);
}

// ===== the deadline over the whole exchange =====

/// A backend on 127.0.0.1 that answers every request with a head announcing 1000 bytes, sends
/// ten of them and then stalls (holding the connection open).
async fn stalling_backend() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"partial\"")
                    .await;
                let _ = s.flush().await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn the_out_flow_reads_the_backend_body_under_the_api_timeout() {
    let (addr, backend) = stalling_backend().await;
    // `[server] timeout` bounds `<call>`, the API's `timeout` its endpoint
    let config = format!(
        r#"
[server]
timeout = 1

[[api]]
name = "Slow"
context = "/slow"
endpoint = "http://{addr}/x"
timeout = 1
out_sequence = "out"

[[api]]
name = "Called"
context = "/called"
timeout = 1
in_sequence = "caller"

[[api]]
name = "Plain"
context = "/plain"
endpoint = "http://{addr}/z"
timeout = 1
"#
    );
    let out = r#"<sequence name="out" xmlns="http://ws.apache.org/ns/synapse">
        <property name="seen" value="yes"/>
    </sequence>"#;
    let caller = format!(
        r#"<sequence name="caller" xmlns="http://ws.apache.org/ns/synapse">
        <call blocking="true"><endpoint><http method="get" uri-template="http://{addr}/y"/></endpoint></call>
        <respond/>
    </sequence>"#
    );
    let dir = GatewayDir::new(
        &config,
        &[
            ("sequences/out.xml", out),
            ("sequences/caller.xml", &caller),
        ],
    );
    let gw = synaptic_tests::gateway::start_running(&dir, ServeOptions::default()).await;
    let http = client();
    let t0 = Instant::now();
    let r = http.get(url(&gw, "/slow/a")).send().await.expect("answer");
    let took = t0.elapsed();
    assert_eq!(r.status(), 504, "the stalled body is a backend timeout");
    let v = json(r).await;
    assert_eq!(v["fault"]["code"], 101504, "{v}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "answered after {took:?}"
    );
    // `<call>` goes through the same stack: the same deadline over the body
    let t0 = Instant::now();
    let r = http
        .get(url(&gw, "/called/a"))
        .send()
        .await
        .expect("answer");
    let took = t0.elapsed();
    assert!(
        r.status().is_server_error(),
        "a stalled <call> body fails: {}",
        r.status()
    );
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    gw.shutdown().await;
    // with the wire log on, the gateway reads the plain API's response to log it: under the
    // same deadline
    let opts = ServeOptions {
        wire: true,
        ..Default::default()
    };
    let gw = synaptic_tests::gateway::start_running(&dir, opts).await;
    let t0 = Instant::now();
    let r = http.get(url(&gw, "/plain/a")).send().await.expect("answer");
    let took = t0.elapsed();
    assert_eq!(r.status(), 504);
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    gw.shutdown().await;
    backend.abort();
}

// ===== the out-flow after a send in the in-flow =====

#[tokio::test]
async fn a_send_or_loopback_in_the_in_flow_continues_in_the_out_flow() {
    let origin = MockOrigin::start(|_| {
        MockResponse::json(200, &serde_json::json!({"from": "backend"})).header("X-Backend", "1")
    })
    .await;
    let config = r#"
[[api]]
name = "Sent"
context = "/sent"
in_sequence = "send-in"
out_sequence = "mark-out"

[[api]]
name = "Looped"
context = "/looped"
in_sequence = "loop-in"
out_sequence = "mark-out"

[[api]]
name = "Answered"
context = "/answered"
in_sequence = "respond-in"
out_sequence = "mark-out"
"#;
    let send_in = format!(
        r#"<sequence name="send-in" xmlns="http://ws.apache.org/ns/synapse">
        <send><endpoint><http method="get" uri-template="{}/quote"/></endpoint></send>
    </sequence>"#,
        origin.url()
    );
    let loop_in = r#"<sequence name="loop-in" xmlns="http://ws.apache.org/ns/synapse">
        <payloadFactory media-type="json"><format>{"from": "client"}</format><args/></payloadFactory>
        <loopback/>
    </sequence>"#;
    let respond_in = r#"<sequence name="respond-in" xmlns="http://ws.apache.org/ns/synapse">
        <payloadFactory media-type="json"><format>{"from": "in-flow"}</format><args/></payloadFactory>
        <respond/>
    </sequence>"#;
    let mark_out = r#"<sequence name="mark-out" xmlns="http://ws.apache.org/ns/synapse">
        <enrich>
            <source type="inline" clone="true">{"out": "ran"}</source>
            <target action="child" xpath="json-eval($)"/>
        </enrich>
        <send/>
    </sequence>"#;
    let dir = GatewayDir::new(
        config,
        &[
            ("sequences/send-in.xml", send_in.as_str()),
            ("sequences/loop-in.xml", loop_in),
            ("sequences/respond-in.xml", respond_in),
            ("sequences/mark-out.xml", mark_out),
        ],
    );
    let gw = synaptic_tests::gateway::start_running(&dir, ServeOptions::default()).await;
    let http = client();
    // the backend's answer to the in-flow's <send> goes through the out-flow
    let r = http.get(url(&gw, "/sent/a")).send().await.expect("answer");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("x-backend").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(
        json(r).await,
        serde_json::json!({"from": "backend", "out": "ran"})
    );
    assert_eq!(origin.count(), 1);
    // <loopback/> hands the message itself to the out-flow, without a backend
    let r = http
        .get(url(&gw, "/looped/a"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    assert_eq!(
        json(r).await,
        serde_json::json!({"from": "client", "out": "ran"})
    );
    // <respond/> answers at once: the out-flow does not run
    let r = http
        .get(url(&gw, "/answered/a"))
        .send()
        .await
        .expect("answer");
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, serde_json::json!({"from": "in-flow"}));
    assert_eq!(
        origin.count(),
        1,
        "no request reached the backend after the first"
    );
    gw.shutdown().await;
}

// ===== configuration reload =====

fn api_block(name: &str, context: &str, endpoint: &str) -> String {
    format!("\n[[api]]\nname = \"{name}\"\ncontext = \"{context}\"\nendpoint = \"{endpoint}\"\n")
}

async fn generation(http: &reqwest::Client, gw: &Running) -> u64 {
    let r = http.get(url(gw, "/health")).send().await.expect("health");
    json(r).await["generation"].as_u64().expect("generation")
}

async fn status(http: &reqwest::Client, u: String) -> u16 {
    match http.get(u).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test]
async fn synaptic_toml_changes_are_swapped_in_and_bad_ones_rejected() {
    let logs = CapturedLogs::default();
    let _guard = logs.install();
    let fast = MockOrigin::start(|_| MockResponse::text("fast")).await;
    let slow =
        MockOrigin::start(|_| MockResponse::text("slow").delay(Duration::from_millis(1500))).await;
    let base = format!(
        "[server]\naccess_log = false\n{}{}",
        api_block("A", "/a", &fast.url()),
        api_block("Slow", "/slow", &slow.url())
    );
    let dir = GatewayDir::new(&base, &[]);
    let opts = ServeOptions {
        config_path: Some(dir.config_path()),
        ..Default::default()
    };
    let gw = synaptic_tests::gateway::start_running(&dir, opts).await;
    let http = client();
    assert_eq!(generation(&http, &gw).await, 1);
    assert_eq!(status(&http, url(&gw, "/b/x")).await, 404);

    // a request in flight when the plan changes finishes on the plan it started with
    let in_flight = tokio::spawn({
        let (http, u) = (http.clone(), url(&gw, "/slow/x"));
        async move {
            let r = http.get(u).send().await.expect("in flight");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // a good change: API B added, API Slow removed; swapped in within 2 s
    let t0 = Instant::now();
    let good = format!(
        "[server]\naccess_log = false\n{}{}",
        api_block("A", "/a", &fast.url()),
        api_block("B", "/b", &fast.url())
    );
    dir.write("synaptic.toml", &good);
    let (h, u) = (http.clone(), url(&gw, "/b/x"));
    assert!(
        eventually(Duration::from_secs(2), || {
            let (h, u) = (h.clone(), u.clone());
            async move { status(&h, u).await == 200 }
        })
        .await,
        "the new API did not answer within 2 s"
    );
    assert!(t0.elapsed() < Duration::from_millis(2500));
    assert_eq!(generation(&http, &gw).await, 2);
    assert_eq!(status(&http, url(&gw, "/slow/x")).await, 404);
    let (st, body) = in_flight.await.expect("in-flight task");
    assert_eq!((st, body.as_str()), (200, "slow"));
    assert!(
        logs.text().contains("reloaded: generation 2"),
        "{}",
        logs.text()
    );

    // a bad change is rejected with its position; the previous plan keeps serving
    dir.write(
        "synaptic.toml",
        &format!("{good}\n[[api]]\nname = \"C\"\ncontext = \"/c\"\nendpoint = \"ftp://x\"\n"),
    );
    let l = logs.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let l = l.clone();
            async move { l.text().contains("still serving generation 2") }
        })
        .await,
        "no rejection logged:\n{}",
        logs.text()
    );
    let text = logs.text();
    assert!(
        text.contains("rejected: 1 error(s), still serving generation 2"),
        "{text}"
    );
    assert!(
        text.contains("synaptic.toml:17:12: error[E0402]"),
        "the diagnostic names file:line:col:\n{text}"
    );
    assert_eq!(generation(&http, &gw).await, 2);
    assert_eq!(status(&http, url(&gw, "/b/x")).await, 200);
    assert_eq!(status(&http, url(&gw, "/c/x")).await, 404);

    // a sequence the configuration names but the folder lacks is rejected too
    dir.write(
        "synaptic.toml",
        &format!("{good}in_sequence = \"not-there\"\n"),
    );
    let l = logs.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let l = l.clone();
            async move { l.text().matches("still serving generation 2").count() >= 2 }
        })
        .await,
        "no second rejection logged:\n{}",
        logs.text()
    );
    assert_eq!(status(&http, url(&gw, "/b/x")).await, 200);

    // a change that needs a restart is named; the rest is applied
    let moved = good.replace(
        "access_log = false",
        "access_log = false\nlisten = \"127.0.0.1:1\"",
    );
    dir.write("synaptic.toml", &moved);
    let l = logs.clone();
    assert!(
        eventually(Duration::from_secs(3), || {
            let l = l.clone();
            async move { l.text().contains("reloaded: generation 3") }
        })
        .await,
        "{}",
        logs.text()
    );
    assert!(
        logs.text()
            .contains("[server] listen changed: it takes effect after a restart"),
        "{}",
        logs.text()
    );
    assert_eq!(status(&http, url(&gw, "/a/x")).await, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn reload_without_a_file_change_keeps_the_plan_and_counts_a_generation() {
    let fast = MockOrigin::start(|_| MockResponse::text("fast")).await;
    let dir = GatewayDir::new(&api_block("A", "/a", &fast.url()), &[]);
    let opts = ServeOptions {
        config_path: Some(dir.config_path()),
        watch: Some(false),
        ..Default::default()
    };
    let gw = synaptic_tests::gateway::start_running(&dir, opts).await;
    let outcome = gw.gateway().reload().await;
    assert_eq!(
        outcome,
        synaptic_gateway::reload::ReloadOutcome::Reloaded { generation: 2 }
    );
    dir.write("synaptic.toml", "[[api]\nname = ");
    let outcome = gw.gateway().reload().await;
    assert_eq!(
        outcome,
        synaptic_gateway::reload::ReloadOutcome::Rejected {
            errors: 1,
            generation: 2
        }
    );
    let http = client();
    assert_eq!(status(&http, url(&gw, "/a/x")).await, 200);
    gw.shutdown().await;
}

#[tokio::test]
async fn reloaded_scopes_apply_to_the_next_request() {
    let origin = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let config = |scope: &str| {
        format!(
            r#"{}
[[api]]
name = "Bookings"
context = "/bookings"
endpoint = "{}"
security = "oauth2"

[[api.resource]]
methods = ["GET"]
uri_template = "/items/{{id}}"
scopes = ["{scope}"]
"#,
            auth_server(&["view", "book"]),
            origin.url()
        )
    };
    let dir = GatewayDir::new(&config("view"), &[]);
    let opts = ServeOptions {
        config_path: Some(dir.config_path()),
        watch: Some(false),
        ..Default::default()
    };
    let gw = synaptic_tests::gateway::start_running(&dir, opts).await;
    let http = client();
    let token = app_token(&http, &gw).await;
    let get = || {
        http.get(url(&gw, "/bookings/items/1"))
            .bearer_auth(&token)
            .send()
    };
    assert_eq!(get().await.expect("get").status(), 200);
    dir.write("synaptic.toml", &config("book"));
    assert_eq!(
        gw.gateway().reload().await,
        synaptic_gateway::reload::ReloadOutcome::Reloaded { generation: 2 }
    );
    assert_eq!(
        get().await.expect("get").status(),
        403,
        "the token lacks the reloaded scope"
    );
    gw.shutdown().await;
}

// ===== the plan =====

#[tokio::test]
async fn a_bad_endpoint_url_is_refused_when_the_gateway_is_built() {
    let tmp = tempfile::tempdir().expect("tmp");
    let config = synaptic_gateway::Config {
        api: vec![synaptic_gateway::config::ApiConfig {
            name: "Bad".into(),
            context: "/bad".into(),
            endpoint: Some("http://exa mple/x".into()),
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
            timeout: None,
            security: None,
            resource: Vec::new(),
            endpoint_security: None,
            request_buffering: false,
            rate_limit: None,
            protocol: Default::default(),
            backend_protocol: Default::default(),
        }],
        base_dir: tmp.path().to_path_buf(),
        ..Default::default()
    };
    match synaptic_gateway::Gateway::build(config, &ServeOptions::default()).await {
        Err(synaptic_gateway::StartError::Plan(diags)) => {
            assert_eq!(diags.len(), 1, "{diags:?}");
            assert!(diags[0].message.contains("invalid endpoint"), "{diags:?}");
        }
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("a gateway with a bad endpoint URL was built"),
    }
}

// ===== metrics =====

#[tokio::test]
async fn metrics_have_per_api_latency_and_backend_histograms() {
    let fast = MockOrigin::start(|_| MockResponse::text("fast")).await;
    let dir = GatewayDir::new(&api_block("A", "/a", &fast.url()), &[]);
    let gw = synaptic_tests::gateway::start_running(&dir, ServeOptions::default()).await;
    let http = client();
    for _ in 0..3 {
        assert_eq!(status(&http, url(&gw, "/a/x")).await, 200);
    }
    let text = http
        .get(url(&gw, "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        "# TYPE synaptic_api_request_duration_seconds histogram",
        "synaptic_api_request_duration_seconds_bucket{api=\"A\",le=\"+Inf\"} 3",
        "synaptic_api_request_duration_seconds_count{api=\"A\"} 3",
        "# TYPE synaptic_api_backend_duration_seconds histogram",
        "synaptic_api_backend_duration_seconds_bucket{api=\"A\",le=\"+Inf\"} 3",
        "synaptic_api_backend_duration_seconds_count{api=\"A\"} 3",
        "synaptic_plan_generation 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    gw.shutdown().await;
}
