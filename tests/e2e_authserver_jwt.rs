//! JWT access tokens of the gateway's authorization server (RFC 9068): signed with keys the
//! gateway generates and keeps in its store, published at `/oauth2/jwks`, validated on secured
//! APIs without a store lookup, resource indicators (RFC 8707) as `aud`, revocation through the
//! revocation list, and trusted issuers: a second gateway that shares nothing with the first
//! but its JWKS URL, and oidc-provider's JWT access tokens. Authlib's JOSE implementation
//! verifies the tokens independently (`tests/py/verify_jwt.py`).

use base64::Engine as _;
use serde_json::{json, Value};
use std::process::Command;
use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::http::get_text;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::{authserver, peers, workspace_root};

const ISSUER: &str = "https://as.example.test";

fn issuer_config(backend: &str, extra: &str) -> String {
    jwt_config(backend, &format!("issuer = \"{ISSUER}\"\n{extra}"))
}

fn jwt_config(backend: &str, extra: &str) -> String {
    format!(
        r#"{}{}{}{}
[[api]]
name = "Other"
context = "/other/1.0"
endpoint = "{backend}"
security = "oauth2"
"#,
        authserver::enabled(&format!("access_token_format = \"jwt\"\n{extra}")),
        authserver::cc_client(
            "svc",
            "svc-secret",
            &["view", "book"],
            "token_lifetime = 600"
        ),
        authserver::cc_client("rs", "rs-secret", &[], "introspect_any = true"),
        authserver::time_travels(
            backend,
            &[("GET", "/bookings", "view"), ("POST", "/bookings", "book")]
        ),
    )
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn b64json(part: &str) -> Value {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// (header, claims) of a compact JWS, unverified.
fn parts(jwt: &str) -> (Value, Value) {
    let p: Vec<&str> = jwt.split('.').collect();
    assert_eq!(p.len(), 3, "not a JWS: {jwt}");
    (b64json(p[0]), b64json(p[1]))
}

async fn token(gw: &TestGateway, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = http()
        .post(gw.url("/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .form(form)
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    (s, resp.json().await.unwrap_or(Value::Null))
}

async fn cc_token(gw: &TestGateway, scope: &str) -> String {
    let (s, v) = token(
        gw,
        &[("grant_type", "client_credentials"), ("scope", scope)],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    v["access_token"].as_str().unwrap().to_string()
}

async fn call(gw: &TestGateway, method: &str, path: &str, token: &str) -> (u16, String) {
    let resp = http()
        .request(method.parse().unwrap(), gw.url(path))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (s, www)
}

async fn introspect(gw: &TestGateway, token: &str) -> Value {
    http()
        .post(gw.url("/oauth2/introspect"))
        .basic_auth("rs", Some("rs-secret"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs the script on a blocking thread: the gateway answers its JWKS request meanwhile.
async fn authlib_verify(jwks_url: &str, token: &str) -> Value {
    let (url, tok) = (jwks_url.to_string(), token.to_string());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(peers::python())
            .arg(workspace_root().join("tests/py/verify_jwt.py"))
            .arg(url)
            .arg(tok)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "verify_jwt.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn jwt_access_tokens_are_signed_published_and_validated_locally() {
    peers::ensure_installed();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"bookings": []}))).await;
    let gw = start_gateway(&issuer_config(&origin.url(), ""), &[]).await;

    // metadata names the key set; the key set has one ES256 key
    let meta: Value = http()
        .get(gw.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["jwks_uri"], format!("{ISSUER}/oauth2/jwks"));
    let jwks: Value = http()
        .get(gw.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["alg"], "ES256");
    assert!(keys[0].get("d").is_none(), "private part published: {jwks}");

    // an RFC 9068 token
    let at = cc_token(&gw, "view").await;
    let (h, c) = parts(&at);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["kid"], keys[0]["kid"]);
    assert_eq!(c["iss"], ISSUER);
    assert_eq!(c["aud"], ISSUER);
    assert_eq!(c["sub"], "svc");
    assert_eq!(c["client_id"], "svc");
    assert_eq!(c["scope"], "view");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert!(c["jti"].as_str().unwrap().len() > 16);

    // Authlib verifies the signature with the published key set
    let v = authlib_verify(&gw.url("/oauth2/jwks"), &at).await;
    assert_eq!(v["verified"], true, "{v}");
    assert_eq!(v["jwks_content_type"], "application/jwk-set+json");
    assert_eq!(v["claims"]["scope"], "view");

    // the API accepts it for GET (view) and refuses POST (book)
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 200);
    let (s, www) = call(&gw, "POST", "/travels/1.0/bookings", &at).await;
    assert_eq!(s, 403);
    assert!(www.contains("insufficient_scope"), "{www}");

    // a changed claim or signature is refused
    let mut p: Vec<String> = at.split('.').map(str::to_string).collect();
    let mut claims = c.clone();
    claims["scope"] = "view book".into();
    p[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = p.join(".");
    let (s, www) = call(&gw, "POST", "/travels/1.0/bookings", &forged).await;
    assert_eq!(s, 401);
    assert!(www.contains("invalid_token"), "{www}");
    let mut p: Vec<String> = at.split('.').map(str::to_string).collect();
    // another first character than the signature's own (always a different signature)
    let first = if p[2].starts_with('A') { 'B' } else { 'A' };
    p[2] = format!("{first}{}", &p[2][1..]);
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &p.join("."))
            .await
            .0,
        401
    );

    // resource indicator: the token is for that API only
    let res = format!("{ISSUER}/travels/1.0");
    let (s, v) = token(
        &gw,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "view"),
            ("resource", &res),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let scoped = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(parts(&scoped).1["aud"], res);
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &scoped).await.0,
        200
    );
    assert_eq!(call(&gw, "GET", "/other/1.0/x", &scoped).await.0, 401);
    // the default audience is accepted by every API
    assert_eq!(call(&gw, "GET", "/other/1.0/x", &at).await.0, 200);
    for bad in [
        "https://elsewhere.test/api",
        "not a uri",
        "https://as.example.test/x#f",
    ] {
        let (s, v) = token(
            &gw,
            &[("grant_type", "client_credentials"), ("resource", bad)],
        )
        .await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(v["error"], "invalid_target", "{bad}");
    }

    // introspection and revocation keep working
    let i = introspect(&gw, &at).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["scope"], "view");
    let r = http()
        .post(gw.url("/oauth2/revoke"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 401);
    assert_eq!(introspect(&gw, &at).await["active"], false);
    // other grants are not affected
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &scoped).await.0,
        200
    );

    // restart on the same store: same key, old tokens still valid
    let kid = keys[0]["kid"].clone();
    let dir = gw.shutdown().await;
    let gw = TestGateway::start(dir, Default::default()).await;
    let jwks: Value = http()
        .get(gw.url("/oauth2/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &scoped).await.0,
        200
    );
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 401);

    // revoked by the CLI (another connection to the store): refused within revocation_sync
    let id = &synaptic_oauth::server::secret::sha256_hex(&scoped)[..16];
    let config = gw.dir().config_path().display().to_string();
    let argv: Vec<String> = ["synaptic", "tokens", "revoke", id, "--config", &config]
        .iter()
        .map(|s| s.to_string())
        .collect();
    // the CLI runs its own runtime: on a blocking thread, as a separate process would
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = synaptic_cli::run(argv, &mut out, &mut err);
        (code, out, err)
    })
    .await
    .unwrap();
    assert!(
        code == std::process::ExitCode::SUCCESS,
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    let mut refused = false;
    for _ in 0..50 {
        if call(&gw, "GET", "/travels/1.0/bookings", &scoped).await.0 == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "a token revoked by the CLI is still accepted");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_second_gateway_trusts_the_first_through_its_jwks_url_only() {
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let a = start_gateway(&issuer_config(&origin.url(), ""), &[]).await;
    let b_config = |audience: &str| {
        authserver::trusting(ISSUER, &a.url("/oauth2/jwks"), audience)
            + &authserver::time_travels(&origin.url(), &[("GET", "/bookings", "view")])
    };
    let b = start_gateway(&b_config(""), &[]).await;
    let at = cc_token(&a, "view").await;
    assert_eq!(call(&b, "GET", "/travels/1.0/bookings", &at).await.0, 200);
    // scope is enforced from the token's claims
    let book = cc_token(&a, "book").await;
    assert_eq!(call(&b, "GET", "/travels/1.0/bookings", &book).await.0, 403);
    // b has no token endpoint of its own
    let r = http()
        .post(b.url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 200);
    // an opaque token, garbage, or a token for another audience: refused
    assert_eq!(
        call(&b, "GET", "/travels/1.0/bookings", "syn_at_abc")
            .await
            .0,
        401
    );
    let c = start_gateway(&b_config("audience = \"https://api.example.test\""), &[]).await;
    assert_eq!(call(&c, "GET", "/travels/1.0/bookings", &at).await.0, 401);

    // a gateway issuing with another key (same issuer name) is not trusted
    let impostor = start_gateway(&issuer_config(&origin.url(), ""), &[]).await;
    let fake = cc_token(&impostor, "view").await;
    assert_eq!(call(&b, "GET", "/travels/1.0/bookings", &fake).await.0, 401);
    impostor.shutdown().await;
    c.shutdown().await;
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn trusted_oidc_provider_jwt_access_tokens() {
    let peer = peers::oidc_jwt();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let gw = start_gateway(
        &(authserver::trusting(
            &peer.issuer(),
            &peer.jwks_url().unwrap(),
            "audience = \"urn:api:bookings\"",
        ) + &authserver::time_travels(
            &origin.url(),
            &[("GET", "/bookings", "view"), ("POST", "/bookings", "book")],
        )),
        &[],
    )
    .await;
    let creds = peer.client();
    let v: Value = http()
        .post(peer.token_url())
        .basic_auth(creds.id, Some(creds.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "view")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = v["access_token"].as_str().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(parts(at).0["typ"], "at+jwt");
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", at).await.0, 200);
    assert_eq!(call(&gw, "POST", "/travels/1.0/bookings", at).await.0, 403);
    gw.shutdown().await;
}

/// `tests/py/openid_client_dpop.mjs` (openid-client) as the client `svc` of the gateway's
/// authorization server, calling `/travels/1.0/bookings` with DPoP: the JSON it reports, once
/// it exited with success.
async fn openid_client_dpop(gw: &TestGateway) -> Value {
    let api = gw.url("/travels/1.0/bookings");
    let script =
        std::fs::read_to_string(workspace_root().join("tests/py/openid_client_dpop.mjs")).unwrap();
    let issuer = gw.url("");
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        peers::run_node_script(
            &script,
            &[
                ("AS", issuer.as_str()),
                ("CID", "svc"),
                ("CSEC", "svc-secret"),
                ("API", api.as_str()),
            ],
        )
    })
    .await
    .unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout}"))
}

#[tokio::test]
async fn dpop_bound_tokens_with_openid_client() {
    peers::ensure_installed();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let gw = start_gateway(&jwt_config(&origin.url(), ""), &[]).await;
    let api = gw.url("/travels/1.0/bookings");
    let v = openid_client_dpop(&gw).await;
    assert_eq!(v["ok"], true, "{v}");
    // (openid-client reports token_type in lower case)
    assert!(
        v["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop")),
        "{v}"
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["status2"], 200, "{v}");
    let at = v["access_token"].as_str().unwrap().to_string();
    let (_, claims) = parts(&at);
    let proofs = v["proofs"].as_array().unwrap();
    assert_eq!(proofs.len(), 3, "{v}");
    // the token is bound to the key of the proofs
    let (ph, _) = parts(proofs[0]["proof"].as_str().unwrap());
    assert_eq!(ph["typ"], "dpop+jwt");
    let jkt = synaptic_oauth::server::jwt::thumbprint(&ph["jwk"]).unwrap();
    assert_eq!(claims["cnf"]["jkt"], jkt);

    let send = |scheme: &str, proof: Option<&str>, url: &str| {
        let mut r = http()
            .get(url)
            .header("authorization", format!("{scheme} {at}"));
        if let Some(p) = proof {
            r = r.header("dpop", p);
        }
        r.send()
    };
    let www = |r: &reqwest::Response| {
        r.headers()
            .get("www-authenticate")
            .map(|h| h.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    // the bound token as a bearer token: refused
    let r = send("Bearer", None, &api).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        www(&r).starts_with("DPoP error=\"invalid_token\""),
        "{}",
        www(&r)
    );
    // without a proof, and replaying a proof already used: invalid_dpop_proof
    let r = send("DPoP", None, &api).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(www(&r).contains("invalid_dpop_proof"), "{}", www(&r));
    let used = proofs[1]["proof"].as_str().unwrap();
    let r = send("DPoP", Some(used), &api).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(www(&r).contains("invalid_dpop_proof"), "{}", www(&r));
    // the token endpoint's proof (htm POST, htu the token endpoint) is not valid here
    let token_proof = proofs[0]["proof"].as_str().unwrap();
    let r = send("DPoP", Some(token_proof), &api).await.unwrap();
    assert_eq!(r.status(), 401);
    // a replayed proof at the token endpoint is refused too
    let r = http()
        .post(gw.url("/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .header("dpop", token_proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_dpop_proof");
    gw.shutdown().await;
}

#[tokio::test]
async fn protected_resource_metadata_per_secured_api() {
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({}))).await;
    let gw = start_gateway(&issuer_config(&origin.url(), ""), &[]).await;
    let v: Value = http()
        .get(gw.url("/.well-known/oauth-protected-resource/travels/1.0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["resource"], format!("{ISSUER}/travels/1.0"));
    assert_eq!(v["authorization_servers"], json!([ISSUER]));
    assert_eq!(v["scopes_supported"], json!(["view", "book"]));
    assert_eq!(v["bearer_methods_supported"], json!(["header"]));
    assert_eq!(v["dpop_bound_access_tokens_required"], false);
    assert!(v["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("ES256")));
    let r = http()
        .get(gw.url("/.well-known/oauth-protected-resource/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

/// `serve --check` on a configuration; (exit code 0?, everything printed).
fn serve_check(config: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("synaptic.toml");
    std::fs::write(&path, config).unwrap();
    let argv: Vec<String> = ["synaptic", "serve", "--check", "--config"]
        .iter()
        .map(|s| s.to_string())
        .chain([path.display().to_string()])
        .collect();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = synaptic_cli::run(argv, &mut out, &mut err);
    (
        code == std::process::ExitCode::SUCCESS,
        format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&err)
        ),
    )
}

#[test]
fn serve_check_names_legacy_grants_and_jwt_lifetimes() {
    let client = |grants: &str, extra: &str| {
        format!(
            "[auth_server]\nenabled = true\n{extra}\n\n[[auth_server.client]]\nid = \"old-app\"\n\
             secret = \"s\"\ngrants = [{grants}]\nredirect_uris = [\"https://app.test/cb\"]\n"
        )
    };
    let (ok, out) = serve_check(&client("\"password\"", ""));
    assert!(!ok, "{out}");
    assert!(
        out.contains("E0402") && out.contains("old-app") && out.contains("password"),
        "{out}"
    );
    assert!(out.contains("legacy_grants"), "{out}");
    let (ok, out) = serve_check(&client("\"authorization_code\", \"implicit\"", ""));
    assert!(!ok && out.contains("implicit"), "{out}");
    let (ok, out) = serve_check(&client("\"password\"", "legacy_grants = true"));
    assert!(ok, "{out}");
    let (ok, out) = serve_check(&client(
        "\"client_credentials\"",
        "access_token_format = \"jwt\"",
    ));
    assert!(ok, "{out}");
    let (ok, out) = serve_check(
        &(client("\"client_credentials\"", "access_token_format = \"jwt\"")
            + "token_lifetime = -1\n"),
    );
    assert!(!ok && out.contains("30 days"), "{out}");
    let (ok, out) = serve_check(&client(
        "\"client_credentials\"",
        "signing_algorithm = \"HS256\"",
    ));
    assert!(!ok && out.contains("signing_algorithm"), "{out}");
}

#[tokio::test]
async fn gateways_sharing_redis_share_keys_and_revocations() {
    let redis = synaptic_tests::redis::RedisServer::start();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let cfg = format!(
        "{}\n[redis]\nurl = \"{}\"\nkey_prefix = \"jwt-e2e\"\n",
        issuer_config(&origin.url(), "revocation_sync = 0.2"),
        redis.url()
    );
    let a = start_gateway(&cfg, &[]).await;
    let b = start_gateway(&cfg, &[]).await;
    let jwks = |gw: &TestGateway| {
        let url = gw.url("/oauth2/jwks");
        async move {
            http()
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    // one key for both: b found a's key in the store instead of making its own
    assert_eq!(jwks(&a).await, jwks(&b).await);
    let at = cc_token(&a, "view").await;
    let other = cc_token(&b, "view").await;
    for gw in [&a, &b] {
        assert_eq!(call(gw, "GET", "/travels/1.0/bookings", &at).await.0, 200);
        assert_eq!(
            call(gw, "GET", "/travels/1.0/bookings", &other).await.0,
            200
        );
    }
    // revoked at a: b refuses it within its revocation_sync, without a lookup per request
    let r = http()
        .post(a.url("/oauth2/revoke"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(&a, "GET", "/travels/1.0/bookings", &at).await.0, 401);
    let mut refused = false;
    for _ in 0..50 {
        if call(&b, "GET", "/travels/1.0/bookings", &at).await.0 == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "b still accepts a token revoked at a");
    assert_eq!(
        call(&b, "GET", "/travels/1.0/bookings", &other).await.0,
        200
    );
    b.shutdown().await;
    a.shutdown().await;
}

#[tokio::test]
async fn a_dpop_proof_used_at_one_gateway_is_a_replay_at_another_sharing_redis() {
    peers::ensure_installed();
    let redis = synaptic_tests::redis::RedisServer::start();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let with_redis = |extra: &str| {
        format!(
            "{}\n[redis]\nurl = \"{}\"\nkey_prefix = \"dpop-e2e\"\n",
            jwt_config(&origin.url(), extra),
            redis.url()
        )
    };
    let a = start_gateway(&with_redis(""), &[]).await;
    // b is another instance of the same service: same issuer, same store
    let b = start_gateway(&with_redis(&format!("issuer = \"{}\"", a.url(""))), &[]).await;
    let v = openid_client_dpop(&a).await;
    assert_eq!(v["status"], 200, "{v}");
    let at = v["access_token"].as_str().unwrap();
    let used = v["proofs"][1]["proof"].as_str().unwrap();
    // the proof names a's URL; sent to b as a load balancer would (same Host)
    let r = http()
        .get(b.url("/travels/1.0/bookings"))
        .header("host", a.addr().to_string())
        .header("authorization", format!("DPoP {at}"))
        .header("dpop", used)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        www.contains("invalid_dpop_proof") && www.contains("replayed"),
        "{www}"
    );
    b.shutdown().await;
    a.shutdown().await;
}

async fn metric(gw: &TestGateway, line: &str) -> bool {
    let m = get_text(&http(), &gw.url("/metrics")).await;
    m.lines().any(|l| l == line)
}

#[tokio::test]
async fn validated_tokens_are_cached_while_scope_audience_and_revocation_apply_per_request() {
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let gw = start_gateway(&issuer_config(&origin.url(), "jwt_cache_entries = 2"), &[]).await;
    let at = cc_token(&gw, "view").await;
    // verified once, then taken from the cache
    for _ in 0..3 {
        assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 200);
    }
    assert!(
        metric(
            &gw,
            r#"synaptic_authserver_jwt_cache_total{result="miss"} 1"#
        )
        .await
    );
    assert!(
        metric(
            &gw,
            r#"synaptic_authserver_jwt_cache_total{result="hit"} 2"#
        )
        .await
    );
    // the resource's scopes are checked per request
    let (s, www) = call(&gw, "POST", "/travels/1.0/bookings", &at).await;
    assert_eq!(s, 403, "{www}");
    assert_eq!(call(&gw, "GET", "/other/1.0/x", &at).await.0, 200);
    // the audience too: a token for TimeTravels' resource, cached there, is refused at Other
    let (s, v) = token(
        &gw,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "view"),
            ("resource", &format!("{ISSUER}/travels/1.0")),
        ],
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let narrow = v["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &narrow).await.0,
        200
    );
    assert_eq!(call(&gw, "GET", "/other/1.0/x", &narrow).await.0, 401);
    assert!(
        metric(
            &gw,
            r#"synaptic_authserver_jwt_cache_total{result="miss"} 2"#
        )
        .await
    );
    assert!(
        metric(
            &gw,
            r#"synaptic_authserver_jwt_cache_total{result="hit"} 5"#
        )
        .await
    );
    // a forged signature over the same claims is another token: verified, refused
    let (body, sig) = at.rsplit_once('.').unwrap();
    let forged = format!("{body}.{}", sig.chars().rev().collect::<String>());
    assert_eq!(
        call(&gw, "GET", "/travels/1.0/bookings", &forged).await.0,
        401
    );
    // revoked while cached: refused at the next request
    let r = http()
        .post(gw.url("/oauth2/revoke"))
        .basic_auth("svc", Some("svc-secret"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 401);
    // the bound holds with more tokens than entries: each is still answered right
    let more: Vec<String> = view_tokens(&gw, 3).await;
    for t in more.iter().chain(more.iter()) {
        assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", t).await.0, 200);
    }
    assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 401);
    // a cached token decides without waiting, and the request goes on exactly as a checked
    // one: the client's token and a subject token of its choosing never reach the backend,
    // a method override is refused
    let cached = &more[0];
    let r = http()
        .get(gw.url("/travels/1.0/bookings?x=1"))
        .bearer_auth(cached)
        .header("X-Synaptic-Subject-Token", "chosen-by-the-client")
        .header("X-Trace", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .get(gw.url("/travels/1.0/bookings"))
        .bearer_auth(cached)
        .header("X-HTTP-Method-Override", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let seen = origin.requests();
    assert!(!seen.is_empty());
    for req in &seen {
        assert_eq!(req.header("authorization"), None, "{:?}", req.path());
        assert_ne!(
            req.header("x-synaptic-subject-token"),
            Some("chosen-by-the-client")
        );
    }
    let last = seen.last().unwrap();
    assert_eq!(last.path(), "/bookings");
    assert_eq!(last.query(), Some("x=1"));
    assert_eq!(last.header("x-trace"), Some("kept"));
    gw.shutdown().await;
}

async fn view_tokens(gw: &TestGateway, n: usize) -> Vec<String> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(cc_token(gw, "view").await);
    }
    v
}

#[tokio::test]
async fn rsa_and_eddsa_signing_keys_are_published_and_verified_by_authlib() {
    peers::ensure_installed();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    for (alg, kty) in [("RS256", "RSA"), ("PS256", "RSA"), ("EdDSA", "OKP")] {
        let gw = start_gateway(
            &issuer_config(&origin.url(), &format!("signing_algorithm = \"{alg}\"")),
            &[],
        )
        .await;
        let jwks: Value = http()
            .get(gw.url("/oauth2/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{jwks}");
        let k = &keys[0];
        assert_eq!(k["kty"], kty, "{jwks}");
        assert_eq!(k["alg"], alg, "{jwks}");
        assert_eq!(k["use"], "sig");
        if kty == "RSA" {
            assert_eq!(k["e"], "AQAB");
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(k["n"].as_str().unwrap())
                .unwrap();
            assert_eq!(n.len(), 256, "a 2048-bit modulus");
        } else {
            assert_eq!(k["crv"], "Ed25519");
        }
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "{alg} publishes {private}");
        }
        let at = cc_token(&gw, "view").await;
        let (h, _) = parts(&at);
        assert_eq!(h["alg"], alg);
        assert_eq!(h["kid"], k["kid"]);
        // an independent implementation verifies it with the published key set
        let v = authlib_verify(&gw.url("/oauth2/jwks"), &at).await;
        assert_eq!(v["verified"], true, "{alg}: {v}");
        assert_eq!(v["header"]["alg"], alg);
        assert_eq!(v["claims"]["scope"], "view");
        // and so does the gateway; a forged payload is refused
        assert_eq!(call(&gw, "GET", "/travels/1.0/bookings", &at).await.0, 200);
        let p: Vec<&str> = at.split('.').collect();
        let forged_claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            json!({"iss": ISSUER, "aud": ISSUER, "sub": "svc", "client_id": "svc",
                           "scope": "view book", "exp": 4_000_000_000i64, "jti": "x.y"})
            .to_string(),
        );
        let forged = format!("{}.{forged_claims}.{}", p[0], p[2]);
        assert_eq!(
            call(&gw, "POST", "/travels/1.0/bookings", &forged).await.0,
            401,
            "{alg}"
        );
        if alg == "RS256" {
            // another gateway trusting this one through its key set accepts the RSA token
            let b = start_gateway(
                &(authserver::trusting(ISSUER, &gw.url("/oauth2/jwks"), "")
                    + &authserver::time_travels(&origin.url(), &[])),
                &[],
            )
            .await;
            assert_eq!(call(&b, "GET", "/travels/1.0/bookings", &at).await.0, 200);
            assert_eq!(
                call(&b, "GET", "/travels/1.0/bookings", &forged).await.0,
                401
            );
            b.shutdown().await;
        }
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn openid_client_follows_dpop_nonces_at_the_token_endpoint_and_the_api() {
    peers::ensure_installed();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let gw = start_gateway(&jwt_config(&origin.url(), "dpop_nonce = true"), &[]).await;
    let api = gw.url("/travels/1.0/bookings");
    let v = openid_client_dpop(&gw).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["status2"], 200, "{v}");
    // each first proof went without a nonce and was answered use_dpop_nonce; openid-client
    // retried with the DPoP-Nonce it was given
    let proofs: Vec<(String, Value)> = v["proofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let proof = p["proof"].as_str().unwrap();
            (p["url"].as_str().unwrap().to_string(), parts(proof).1)
        })
        .collect();
    let token_proofs: Vec<&Value> = proofs
        .iter()
        .filter(|(u, _)| u.ends_with("/oauth2/token"))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(token_proofs.len(), 2, "{v}");
    assert!(token_proofs[0].get("nonce").is_none(), "{v}");
    let nonce = token_proofs[1]["nonce"]
        .as_str()
        .expect("a nonce")
        .to_string();
    let api_proofs: Vec<&Value> = proofs
        .iter()
        .filter(|(u, _)| !u.ends_with("/oauth2/token"))
        .map(|(_, c)| c)
        .collect();
    assert!(!api_proofs.is_empty(), "{v}");
    assert!(
        api_proofs.iter().all(|c| c["nonce"] == nonce.as_str()),
        "{v}"
    );

    // by hand: a proof without the nonce at the API is answered use_dpop_nonce, with one
    let key =
        synaptic_oauth::client::DpopKey::generate(synaptic_oauth::client::DpopAlgorithm::ES256)
            .unwrap();
    let t = http()
        .post(gw.url("/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .header(
            "dpop",
            key.proof("POST", &gw.url("/oauth2/token"), now(), None, None)
                .unwrap()
                .expose(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), 400);
    let fresh = t.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let e: Value = t.json().await.unwrap();
    assert_eq!(e["error"], "use_dpop_nonce");
    let t: Value = http()
        .post(gw.url("/oauth2/token"))
        .basic_auth("svc", Some("svc-secret"))
        .header(
            "dpop",
            key.proof("POST", &gw.url("/oauth2/token"), now(), None, Some(&fresh))
                .unwrap()
                .expose(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mine = synaptic_oauth::client::Secret::new(t["access_token"].as_str().unwrap());
    let r = http()
        .get(&api)
        .header("authorization", format!("DPoP {}", mine.expose()))
        .header(
            "dpop",
            key.proof("GET", &api, now(), Some(&mine), None)
                .unwrap()
                .expose(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("dpop-nonce"));
    let www = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(www.starts_with("DPoP error=\"use_dpop_nonce\""), "{www}");
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_string();
    let r = http()
        .get(&api)
        .header("authorization", format!("DPoP {}", mine.expose()))
        .header(
            "dpop",
            key.proof("GET", &api, now(), Some(&mine), Some(&nonce))
                .unwrap()
                .expose(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

fn now() -> i64 {
    synaptic_oauth::server::Clock::now(&synaptic_oauth::server::SystemClock)
}

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K8jbKFHeQNb0dNXv-gJsCe_5Mc";
const CHALLENGE: &str = "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiE";
const CB: &str = "http://127.0.0.1:9/cb";

/// alice approves `spa` on the approval page; the authorization code.
async fn spa_code(gw: &TestGateway) -> String {
    let q: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "spa"),
        ("redirect_uri", CB),
        ("scope", "view"),
        ("state", "s1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let page = http()
        .get(gw.url("/oauth2/authorize"))
        .query(&q)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = page.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let i = html.find(marker).expect("csrf field") + marker.len();
    let csrf = html[i..].split('"').next().unwrap().to_string();
    let r = http()
        .post(gw.url("/oauth2/authorize"))
        .header("cookie", cookie)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("action", "approve"),
            ("scope", "view"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = reqwest::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    loc.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code")
}

/// A public client's token request with a DPoP proof of `key` (if any): (status, body).
async fn spa_token(
    gw: &TestGateway,
    form: &[(&str, &str)],
    key: Option<&synaptic_oauth::client::DpopKey>,
) -> (u16, Value) {
    let url = gw.url("/oauth2/token");
    let mut r = http().post(&url).form(form);
    if let Some(k) = key {
        r = r.header(
            "dpop",
            k.proof("POST", &url, now(), None, None).unwrap().expose(),
        );
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The form refreshing `rt` as the public client `spa`.
fn spa_refresh(rt: &str) -> [(&str, &str); 3] {
    [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", "spa"),
    ]
}

/// The token response's access token is a DPoP token bound to `key`.
#[track_caller]
fn assert_bound_to(t: &Value, key: &synaptic_oauth::client::DpopKey) {
    assert_eq!(t["token_type"], "DPoP");
    assert_eq!(
        parts(t["access_token"].as_str().unwrap()).1["cnf"]["jkt"],
        key.thumbprint()
    );
}

/// The token request was refused with `invalid_grant`.
#[track_caller]
fn assert_invalid_grant(status: u16, e: &Value) {
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
}

#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_dpop_key() {
    use synaptic_oauth::client::{DpopAlgorithm, DpopKey};
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"ok": true}))).await;
    let hash = synaptic_oauth::server::secret::hash_password("wonderland").unwrap();
    let extra = format!(
        r#"
[[auth_server.client]]
id = "spa"
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["{CB}"]
scopes = ["view"]
token_lifetime = 600
refresh_limit = 5

[[auth_server.user]]
name = "alice"
password_hash = "{hash}"
"#
    );
    let config = format!("{}{extra}", issuer_config(&origin.url(), ""));
    let gw = start_gateway(&config, &[]).await;
    let key = DpopKey::generate(DpopAlgorithm::ES256).unwrap();
    let thief = DpopKey::generate(DpopAlgorithm::ES256).unwrap();
    let code = spa_code(&gw).await;
    let (s, t) = spa_token(
        &gw,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("client_id", "spa"),
            ("code_verifier", VERIFIER),
        ],
        Some(&key),
    )
    .await;
    assert_eq!(s, 200, "{t}");
    assert_bound_to(&t, &key);
    let refresh = spa_refresh(t["refresh_token"].as_str().unwrap());
    // a stolen refresh token is useless without the key: no proof, another key
    let (s, e) = spa_token(&gw, &refresh, None).await;
    assert_invalid_grant(s, &e);
    let (s, e) = spa_token(&gw, &refresh, Some(&thief)).await;
    assert_invalid_grant(s, &e);
    // the holder of the key refreshes (the refused attempts did not burn the token)
    let (s, t2) = spa_token(&gw, &refresh, Some(&key)).await;
    assert_eq!(s, 200, "{t2}");
    assert_bound_to(&t2, &key);
    // the next refresh token is bound as well
    let refresh2 = spa_refresh(t2["refresh_token"].as_str().unwrap());
    let (s, _) = spa_token(&gw, &refresh2, Some(&thief)).await;
    assert_eq!(s, 400);
    // the binding survives a restart (it is kept in the store)
    let dir = gw.shutdown().await;
    let gw = TestGateway::start(dir, Default::default()).await;
    let (s, e) = spa_token(&gw, &refresh2, None).await;
    assert_invalid_grant(s, &e);
    let (s, t3) = spa_token(&gw, &refresh2, Some(&key)).await;
    assert_eq!(s, 200, "{t3}");
    gw.shutdown().await;
}
