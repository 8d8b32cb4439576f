//! `OPTIONS` and CORS on `<api>` resources, end to end: a real gateway on 127.0.0.1, a real
//! backend, and headless Chromium making cross-origin requests that need a preflight.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use synaptic_gateway::{Running, ServeOptions};
use synaptic_tests::gateway::GatewayDir;
use synaptic_tests::http::{client, url};
use synaptic_tests::origin::{MockOrigin, MockResponse};

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// An `<api>` at `/shop`: `/items` takes GET and POST and sends to `backend` (its out-flow
/// copies the CORS origin it sees into `X-Seen-Origin`); `/ping` lists OPTIONS and answers it
/// from its in-flow.
fn shop(backend: &str) -> String {
    format!(
        r#"<api {NS} name="Shop" context="/shop">
            <resource methods="GET POST" uri-template="/items">
                <inSequence><send><endpoint><address uri="{backend}/stock"/></endpoint></send></inSequence>
                <outSequence>
                    <header name="X-Seen-Origin" scope="transport"
                            expression="$trp:Access-Control-Allow-Origin"/>
                    <send/>
                </outSequence>
            </resource>
            <resource methods="OPTIONS GET" uri-template="/ping">
                <inSequence>
                    <payloadFactory media-type="json"><format>{{"mediated":true}}</format><args/></payloadFactory>
                    <respond/>
                </inSequence>
            </resource>
        </api>"#
    )
}

async fn start(dir: &GatewayDir) -> Running {
    synaptic_tests::gateway::start_running(dir, ServeOptions::default()).await
}

fn project(cors: &str, backend: &str) -> GatewayDir {
    GatewayDir::new(
        &format!(
            "[server]\nsequences = \"synapse-config\"\n{cors}\n\
             [[api]]\nname = \"Plain\"\ncontext = \"/plain\"\nendpoint = \"{backend}\"\n"
        ),
        &[("synapse-config/api/Shop.xml", &shop(backend))],
    )
}

async fn options(gw: &Running, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut r = client().request(reqwest::Method::OPTIONS, url(gw, path));
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

/// `GET path` from a page of `origin`.
async fn get_from(gw: &Running, path: &str, origin: &str) -> reqwest::Response {
    client()
        .get(url(gw, path))
        .header("Origin", origin)
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn an_api_resource_answers_options_itself_unless_it_lists_it() {
    let backend = MockOrigin::echo().await;
    let dir = project("", &backend.url());
    let gw = start(&dir).await;
    // not listed: answered by the resource, Allow in Synapse's order, nothing sent on
    let r = options(&gw, "/shop/items", &[("Origin", "https://app.example")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "allow"), Some("POST, GET"));
    // CORS is off by default: no CORS headers
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(backend.count(), 0);
    // listed: its in-flow mediates it
    let r = options(&gw, "/shop/ping", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), r#"{"mediated":true}"#);
    let r = options(&gw, "/shop/ping", &[("Max-Forwards", "2")]).await;
    assert_eq!(r.text().await.unwrap(), r#"{"mediated":true}"#);
    // ... unless Max-Forwards says this hop is the last one
    let r = options(&gw, "/shop/ping", &[("Max-Forwards", "0")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "allow"), Some("GET"));
    assert_eq!(r.text().await.unwrap(), "");
    // a path no resource matches stays 404
    assert_eq!(options(&gw, "/shop/nothing", &[]).await.status(), 404);
    // an [[api]] of synaptic.toml passes OPTIONS to its backend as any method
    let r = options(&gw, "/plain/x", &[]).await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["method"], "OPTIONS");
    gw.shutdown().await;
}

#[tokio::test]
async fn cors_headers_follow_the_allowed_origins() {
    let backend = MockOrigin::start(|_| {
        MockResponse::json(200, &serde_json::json!({"stock": 3}))
            // a backend's own CORS header is replaced by the gateway's
            .header("Access-Control-Allow-Origin", "*")
    })
    .await;
    let cors = "[cors]\nenabled = true\nallow_origins = [\"https://app.example\"]\n\
                allow_headers = \"content-type, authorization\"\n";
    let dir = project(cors, &backend.url());
    let gw = start(&dir).await;
    // a preflight from an allowed origin
    let r = options(
        &gw,
        "/shop/items",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("POST, GET")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers"),
        Some("content-type, authorization")
    );
    // from another origin: refused
    let r = options(&gw, "/shop/items", &[("Origin", "https://evil.example")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(""));
    // a request the resource mediates: the headers are on the backend's response before the
    // out-flow runs (it sees them), and on what the client gets
    let r = get_from(&gw, "/shop/items", "https://app.example").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&r, "x-seen-origin"), Some("https://app.example"));
    assert_eq!(header(&r, "origin"), Some("https://app.example"));
    // an answer of the in-flow carries them too
    let r = get_from(&gw, "/shop/ping", "https://evil.example").await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(""));
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET"));
    // an [[api]] of synaptic.toml is not an <api>: nothing added
    let r = get_from(&gw, "/plain/x", "https://app.example").await;
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&r, "access-control-allow-methods"), None);
    gw.shutdown().await;
}

/// A page of `page_origin` that PUTs JSON to the gateway (a request that needs a preflight)
/// and writes what happened into its body; Chromium prints the DOM once the network is idle.
fn cross_origin_put(gw: &Running) -> String {
    let target = url(gw, "/shop/items");
    format!(
        r#"<!doctype html><html><body><pre id="out">pending</pre><script>
        fetch({target:?}, {{method: "POST", headers: {{"content-type": "application/json"}},
                           body: JSON.stringify({{"n": 1}})}})
          .then(r => r.json()).then(v => document.getElementById("out").textContent = "ok " + JSON.stringify(v))
          .catch(e => document.getElementById("out").textContent = "blocked " + e.name);
        </script></body></html>"#
    )
}

fn chromium_dom(page: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(synaptic_tests::chromium())
        .args(synaptic_tests::CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--virtual-time-budget=10000")
        .arg("--dump-dom")
        .arg(page)
        .env("TMPDIR", profile.path())
        .output()
        .expect("chromium runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_calls_an_api_cross_origin_only_from_an_allowed_origin() {
    let backend =
        MockOrigin::start(|_| MockResponse::json(200, &serde_json::json!({"stock": 3}))).await;
    // two pages on two origins (two ports of 127.0.0.1)
    let allowed = synaptic_tests::free_port();
    let cors = format!(
        "[cors]\nenabled = true\nallow_origins = [\"http://127.0.0.1:{allowed}\"]\n\
         allow_headers = \"content-type\"\n"
    );
    let dir = project(&cors, &backend.url());
    let gw = start(&dir).await;
    let html = cross_origin_put(&gw);
    let serve = |html: String| {
        move |_: &synaptic_tests::origin::RecordedRequest| {
            MockResponse::new(200)
                .header("content-type", "text/html")
                .body(html.clone())
        }
    };
    let good = MockOrigin::start_on(Some(SocketAddr::from(([127, 0, 0, 1], allowed))), {
        let f = serve(html.clone());
        move |r| {
            let resp = f(&r);
            async move { resp }
        }
    })
    .await;
    let other = MockOrigin::start(serve(html)).await;
    let (good_url, other_url) = (
        format!("{}/page", good.url()),
        format!("{}/page", other.url()),
    );
    let dom =
        tokio::task::spawn_blocking(move || (chromium_dom(&good_url), chromium_dom(&other_url)));
    let (from_allowed, from_other) = tokio::time::timeout(Duration::from_secs(120), dom)
        .await
        .expect("chromium finishes")
        .unwrap();
    assert!(
        from_allowed.contains(r#"ok {"stock":3}"#),
        "allowed origin: {from_allowed}"
    );
    assert!(
        from_other.contains("blocked TypeError"),
        "other origin: {from_other}"
    );
    // the browser's preflight reached the resource, the POST only from the allowed origin
    assert_eq!(backend.count(), 1);
    gw.shutdown().await;
}
