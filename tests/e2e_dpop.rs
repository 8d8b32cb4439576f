//! Endpoint security with DPoP (RFC 9449): the gateway proves possession of its own key to a
//! backend's authorization server and to the backend, against REAL servers:
//!
//! * panva/oidc-provider (`tests/peers/oidc_dpop.mjs`) issuing DPoP-bound tokens to a client
//!   that must use DPoP, with a resource that accepts them only with a proof by the bound key
//!   (`htm`, `htu`, `ath`, fresh `jti`), and, configured to, demanding server nonces at the
//!   token endpoint (its own `requireNonce`) and at the resource;
//! * the gateway's own authorization server (JWT access tokens bound with `cnf.jkt`) and its
//!   DPoP enforcement on a `security = "oauth2"` API, reached through a second gateway.
//!
//! Neither proofs, tokens nor the DPoP key reach a log line or a fault body.

use base64::Engine as _;
use synaptic_tests::authserver;
use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::http::get_text;
use synaptic_tests::logs::{capture_global as logs, global_text as log_text};
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::peers::DpopPeer;

fn api(name: &str, endpoint: &str, security: &str) -> String {
    format!(
        r#"
[[api]]
name = "{name}"
context = "/{name}"
endpoint = "{endpoint}"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
{security}
"#
    )
}

fn dpop_client(peer: &DpopPeer, extra: &str) -> String {
    format!(
        r#"token_url = "{}"
client_id = "dpop-client"
client_secret = "dpop-secret"
scope = "view"
{extra}"#,
        peer.token_url()
    )
}

/// Gateway A: an authorization server issuing JWT access tokens (with these further
/// `[auth_server]` lines) to the client `gw-b`, and the API `Inner` at `/inner` in front of
/// `origin`, secured by them.
async fn authorization_server(origin: &MockOrigin, extra: &str) -> TestGateway {
    start_gateway(
        &format!(
            r#"{}{}
[[api]]
name = "Inner"
context = "/inner"
endpoint = "{}"
security = "oauth2"
"#,
            authserver::enabled(&format!("access_token_format = \"jwt\"\n{extra}")),
            authserver::cc_client("gw-b", "gw-b-secret", &["view"], "token_lifetime = 600"),
            origin.url()
        ),
        &[],
    )
    .await
}

/// Gateway B's endpoint-security lines: DPoP as `gw-b` at gateway A's token endpoint.
fn dpop_security(a: &TestGateway) -> String {
    format!(
        r#"token_url = "{}"
client_id = "gw-b"
client_secret = "gw-b-secret"
scope = "view"
dpop = true"#,
        a.url("/oauth2/token")
    )
}

async fn call(gw: &TestGateway, method: &str, path: &str, body: &str) -> (u16, String) {
    let m = http::Method::from_bytes(method.as_bytes()).unwrap();
    let r = reqwest::Client::new()
        .request(m, gw.url(path))
        .body(body.to_string())
        .send()
        .await
        .expect("the gateway answers");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn b64json(part: &str) -> serde_json::Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

fn assert_not_in_logs(what: &[String]) {
    let logs = log_text();
    for s in what {
        assert!(!s.is_empty());
        assert!(!logs.contains(s.as_str()), "{s:?} in the logs:\n{logs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dpop_bound_tokens_from_oidc_provider_reach_its_resource_with_a_fresh_proof_each() {
    logs();
    let peer = DpopPeer::start(false);
    let config = format!(
        "{}{}",
        api(
            "who",
            &peer.resource_url(),
            &dpop_client(&peer, "dpop = true")
        ),
        // the same client without DPoP: oidc-provider refuses it a token
        api("nodpop", &peer.resource_url(), &dpop_client(&peer, "")),
    );
    let gw = start_gateway(&config, &[]).await;
    let mut jkt = None;
    for (i, method) in ["GET", "POST", "GET", "DELETE"].iter().enumerate() {
        let (status, body) = call(&gw, method, "/who", "{\"a\":1}").await;
        assert_eq!(status, 200, "{method}: {body}\n{}", peer.log());
        let v = json(&body);
        assert_eq!(v["client_id"], "dpop-client");
        assert_eq!(v["method"], *method);
        // the same bound key every time
        let k = v["jkt"].as_str().unwrap().to_string();
        assert_eq!(jkt.get_or_insert(k.clone()), &k, "request {i}");
    }
    let s = peer.stats().await;
    assert_eq!(s["tokens"], 1, "one token for every request: {s}");
    assert_eq!(s["resource"]["ok"], 4, "{s}");
    assert_eq!(s["resource"]["refused"], 0, "{s}");

    let (status, body) = call(&gw, "GET", "/nodpop", "").await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains("dpop-secret"));
    assert_not_in_logs(&["dpop-secret".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nonces_of_the_token_endpoint_and_the_resource_are_answered_once_and_remembered() {
    logs();
    let peer = DpopPeer::start(true);
    let key_dir = tempfile::tempdir().unwrap();
    // an Ed25519 key of this API's own, from a file
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    let key_file = key_dir.path().join("dpop.pem");
    std::fs::write(&key_file, &pem).unwrap();
    let own = synaptic_oauth::client::DpopKey::from_pem(
        pem.as_bytes(),
        synaptic_oauth::client::DpopAlgorithm::EdDSA,
    )
    .unwrap();
    let config = api(
        "who",
        &peer.resource_url(),
        &dpop_client(
            &peer,
            &format!(
                "dpop = true\ndpop_key = \"{}\"\ndpop_algorithm = \"EdDSA\"",
                key_file.display()
            ),
        ),
    );
    let gw = start_gateway(&config, &[]).await;

    // token endpoint: use_dpop_nonce, then the token; resource: use_dpop_nonce, then 200
    let (status, body) = call(&gw, "GET", "/who", "").await;
    assert_eq!(status, 200, "{body}\n{}", peer.log());
    assert_eq!(json(&body)["jkt"], own.thumbprint(), "the configured key");
    let s = peer.stats().await;
    assert_eq!(s["token_nonce_errors"], 1, "{s}");
    assert_eq!(s["tokens"], 1, "{s}");
    assert_eq!(s["resource"]["nonce_challenges"], 1, "{s}");
    assert_eq!(s["resource"]["ok"], 1, "{s}");

    // the resource's nonce is remembered: no more challenges, bodies still arrive
    for _ in 0..3 {
        let (status, body) = call(&gw, "POST", "/who", "{\"x\":true}").await;
        assert_eq!(status, 200, "{body}");
    }
    let s = peer.stats().await;
    assert_eq!(s["resource"]["nonce_challenges"], 1, "{s}");
    assert_eq!(s["resource"]["ok"], 4, "{s}");
    // the token endpoint and the resource are one origin here: even the first proof sent to
    // the resource carried a nonce (the token endpoint's, which the resource did not want)
    assert_eq!(s["resource"]["proofs_with_nonce"], 5, "{s}");

    // a new nonce: one challenge, one replay with it (a POST with its body too)
    peer.rotate_resource_nonce().await;
    let (status, body) = call(&gw, "POST", "/who", "{\"y\":2}").await;
    assert_eq!(status, 200, "{body}");
    let s = peer.stats().await;
    assert_eq!(s["resource"]["nonce_challenges"], 2, "{s}");
    assert_eq!(s["resource"]["ok"], 5, "{s}");
    assert_eq!(
        s["tokens"], 1,
        "a nonce challenge is not a reason for a new token: {s}"
    );

    // the key's private part is never logged
    let lines: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(String::from)
        .collect();
    assert_not_in_logs(&lines);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateways_own_authorization_server_binds_and_enforces_the_gateways_dpop_key() {
    logs();
    // gateway A: authorization server with JWT access tokens and a secured API
    let origin = MockOrigin::start(|_| MockResponse::text("inner ok")).await;
    let a = authorization_server(&origin, "").await;
    // gateway B: endpoint security with DPoP against A; "peek" shows what B sends
    let peek = MockOrigin::start(|_| MockResponse::text("peek")).await;
    let security = dpop_security(&a);
    let b = start_gateway(
        &format!(
            "{}{}",
            api("outer", &a.url("/inner"), &security),
            api("peek", &peek.url(), &security)
        ),
        &[],
    )
    .await;
    for _ in 0..3 {
        let (status, body) = call(&b, "GET", "/outer/things?x=1", "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "inner ok");
    }
    assert_eq!(origin.count(), 3);

    // what B sends: `Authorization: DPoP <JWT bound to the key>` and a proof by that key
    let (status, _) = call(&b, "GET", "/peek/p", "").await;
    assert_eq!(status, 200);
    let seen = peek.requests();
    let r = seen.last().unwrap();
    let auth = r.header("authorization").unwrap().to_string();
    let token = auth.strip_prefix("DPoP ").expect("DPoP scheme").to_string();
    let proof = r.header("dpop").expect("a DPoP proof").to_string();
    let claims = b64json(token.split('.').nth(1).unwrap());
    let ph: Vec<&str> = proof.split('.').collect();
    let (header, pc) = (b64json(ph[0]), b64json(ph[1]));
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256", "the default algorithm");
    assert!(header["jwk"].get("d").is_none());
    assert_eq!(pc["htm"], "GET");
    assert_eq!(pc["htu"], format!("{}/p", peek.url()));
    assert!(claims["cnf"]["jkt"].is_string(), "{claims}");
    // ath is the token's hash
    assert_eq!(pc["ath"], synaptic_oauth::server::dpop::ath(&token));

    // A refuses that token as Bearer, and the proof made for another URL
    let client = reqwest::Client::new();
    let r = client
        .get(a.url("/inner/things"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .get(a.url("/inner/things"))
        .header("authorization", &auth)
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(origin.count(), 3);
    assert_not_in_logs(&[token, proof, "gw-b-secret".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateways_endpoint_security_answers_its_own_authorization_servers_nonces() {
    logs();
    // gateway A demands DPoP nonces; gateway B is its DPoP client
    let origin = MockOrigin::start(|_| MockResponse::text("inner ok")).await;
    let a = authorization_server(&origin, "dpop_nonce = true").await;
    let security = dpop_security(&a);
    let b = start_gateway(&api("outer", &a.url("/inner"), &security), &[]).await;
    for _ in 0..3 {
        let (status, body) = call(&b, "GET", "/outer/things", "").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, "inner ok");
    }
    assert_eq!(origin.count(), 3);
    // B's first token request was answered use_dpop_nonce, its retry with the nonce got the
    // token; the API accepted B's proofs (which carry the nonce)
    let metrics = get_text(&reqwest::Client::new(), &a.url("/metrics")).await;
    for line in [
        r#"synaptic_authserver_token_requests_total{grant_type="client_credentials",outcome="use_dpop_nonce"} 1"#,
        r#"synaptic_authserver_token_requests_total{grant_type="client_credentials",outcome="issued"} 1"#,
        r#"synaptic_authserver_inbound_total{result="allowed"} 3"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
}
