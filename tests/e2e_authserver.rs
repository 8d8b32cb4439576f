//! The gateway as an OAuth2 authorization server (docs/AUTHSERVER.md): every grant driven by
//! real client libraries (requests-oauthlib, Authlib — `tests/py/as_client.py`), the approval
//! page clicked in headless Chromium (`tests/py/approve_in_chromium.mjs`), the security tests
//! of the authorization server (code replay, redirect and PKCE checks, token leaks), and the
//! TimeTravels bookings scenario.

use base64::Engine as _;
use serde_json::{json, Value};
use std::process::Command;
use std::sync::OnceLock;
use synaptic_tests::gateway::{start_gateway, GatewayDir, TestGateway};
use synaptic_tests::http::get_text;
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::{authserver, free_port, peers, workspace_root};

const SECRET: &str = "s3cret:%+x y";
const RP_SECRET: &str = "rp-secret-123";
const ADMIN_ENV: &str = "SYNAPTIC_E2E_ADMIN_TOKEN";
const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K8jbKFHeQNb0dNXv-gJsCe_5Mc";
const CHALLENGE: &str = "OQPuZhq9querLlZWwFwKCdDv5Zl4MlwdpAAllyEIKiE";

fn alice_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| synaptic_oauth::server::secret::hash_password("wonderland").unwrap())
}

fn config(backend: &str, cb: &str) -> String {
    // SAFETY of set_var: every test sets the same value before starting a gateway.
    std::env::set_var(ADMIN_ENV, ADMIN_TOKEN);
    let server = authserver::enabled(&format!(
        "admin_token_env = \"{ADMIN_ENV}\"\napproval_title = \"Synaptic <approval>\"\n\
         # several clients below list the password or implicit grant: opt in to them explicitly\n\
         legacy_grants = true"
    ));
    let api = authserver::time_travels(
        backend,
        &[
            ("GET", "/bookings", "view"),
            ("GET", "/bookings/{id}", "view"),
            ("POST", "/bookings", "book"),
            ("DELETE", "/bookings/{id}", "cancel"),
        ],
    );
    format!(
        r#"{server}
[[auth_server.scope]]
name = "view"
description = "View your bookings"
[[auth_server.scope]]
name = "book"
description = "Book <b>tickets</b>"
[[auth_server.scope]]
name = "cancel"
description = "Cancel bookings"

[[auth_server.client]]
id = "book-your-ticket"
name = "BookYourTicket <Ltd>"
secret = "{SECRET}"
grants = ["authorization_code", "refresh_token", "client_credentials", "password"]
redirect_uris = ["{cb}"]
scopes = ["view", "book", "cancel"]
token_lifetime = 3600
refresh_limit = 2

[[auth_server.client]]
id = "rp"
name = "Relying Party"
secret = "{RP_SECRET}"
grants = ["authorization_code", "refresh_token", "client_credentials", "password"]
redirect_uris = ["{cb}"]
scopes = ["view", "book", "cancel"]
token_lifetime = 3600
refresh_limit = 5

[[auth_server.client]]
id = "spa"
name = "Single Page App"
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["{cb}"]
scopes = ["view", "book"]
refresh_limit = 1

[[auth_server.client]]
id = "forever"
secret = "forever-secret"
grants = ["password", "client_credentials", "refresh_token"]
scopes = ["view"]
token_lifetime = -1
refresh_limit = 0

[[auth_server.client]]
id = "other"
secret = "other-secret"
grants = ["client_credentials"]
scopes = ["view", "book"]

[[auth_server.client]]
id = "legacy"
secret = "legacy-secret"
grants = ["implicit"]
redirect_uris = ["{cb}"]
scopes = ["view"]

[[auth_server.user]]
name = "alice"
password_hash = "{hash}"
{api}"#,
        hash = alice_hash()
    )
}

struct Env {
    gw: TestGateway,
    origin: MockOrigin,
    cb_port: u16,
    http: reqwest::Client,
}

impl Env {
    async fn new() -> Env {
        let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"bookings": []}))).await;
        let cb_port = free_port();
        let cfg = config(&origin.url(), &cb_uri(cb_port));
        let gw = start_gateway(&cfg, &[]).await;
        Env {
            gw,
            origin,
            cb_port,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn cb(&self) -> String {
        cb_uri(self.cb_port)
    }

    fn url(&self, p: &str) -> String {
        self.gw.url(p)
    }

    async fn post_form(
        &self,
        path: &str,
        auth: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode_form(form));
        if let Some((id, secret)) = auth {
            r = r.header("authorization", basic(id, secret));
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().await.unwrap())
    }

    async fn token(&self, auth: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
        let (s, _, b) = self.post_form("/oauth2/token", auth, form).await;
        (s, serde_json::from_str(&b).unwrap_or(Value::Null))
    }

    /// Redeem an authorization code for this environment's callback: a confidential client
    /// authenticates with Basic (`secret` given), a public one sends `client_id`; `verifier` is
    /// the PKCE `code_verifier`, if any.
    async fn redeem(
        &self,
        client: &str,
        secret: Option<&str>,
        code: &str,
        verifier: Option<&str>,
    ) -> (u16, Value) {
        let cb = self.cb();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", cb.as_str()),
        ];
        if secret.is_none() {
            form.push(("client_id", client));
        }
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.token(secret.map(|s| (client, s)), &form).await
    }

    async fn password_token(&self, client: &str, secret: &str, scope: &str) -> Value {
        let (s, v) = self
            .token(
                Some((client, secret)),
                &[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "wonderland"),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    async fn api(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut r = self.http.request(
            method.parse().unwrap(),
            self.url(&format!("/travels/1.0{path}")),
        );
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        let resp = r.send().await.unwrap();
        let s = resp.status().as_u16();
        let h = resp.headers().clone();
        (s, h, resp.text().await.unwrap())
    }

    /// The resource owner approves through the approval page (HTTP, no browser); returns the
    /// redirect Location.
    /// POST the approval form (with the page's CSRF cookie, if given).
    async fn post_approval(
        &self,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut r = self
            .http
            .post(self.url("/oauth2/authorize"))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.body(encode_form(form)).send().await.unwrap()
    }

    /// Open the approval page for `query`: (the CSRF cookie as `name=value`, the form's
    /// `csrf_token`).
    async fn open_approval(&self, query: &[(&str, &str)]) -> (String, String) {
        let page = self
            .http
            .get(format!(
                "{}?{}",
                self.url("/oauth2/authorize"),
                encode_form(query)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let cookie = page
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let html = page.text().await.unwrap();
        (cookie, extract_csrf(&html))
    }

    async fn approve(&self, query: &[(&str, &str)], grant: &[&str], action: &str) -> String {
        let (cookie, csrf) = self.open_approval(query).await;
        let mut form = vec![
            ("csrf_token", csrf.as_str()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("action", action),
        ];
        for g in grant {
            form.push(("scope", g));
        }
        let resp = self.post_approval(&form, Some(&cookie)).await;
        assert_eq!(resp.status(), 302);
        resp.headers()
            .get("location")
            .unwrap()
            .to_str()
            .unwrap()
            .to_string()
    }

    async fn code(&self, client: &str, scope: &str, pkce: bool) -> String {
        let cb = self.cb();
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", cb.as_str()),
            ("scope", scope),
            ("state", "st-1"),
        ];
        if pkce {
            q.push(("code_challenge", CHALLENGE));
            q.push(("code_challenge_method", "S256"));
        }
        let grant: Vec<&str> = scope.split(' ').collect();
        let loc = self.approve(&q, &grant, "approve").await;
        query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"))
    }
}

fn cb_uri(port: u16) -> String {
    format!("http://127.0.0.1:{port}/cb")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encode_form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
fn basic(id: &str, secret: &str) -> String {
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn extract_csrf(html: &str) -> String {
    let i = html
        .find("name=\"csrf_token\" value=\"")
        .expect("csrf field")
        + "name=\"csrf_token\" value=\"".len();
    html[i..].split('"').next().unwrap().to_string()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once(['?', '#'])?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            let mut out = Vec::new();
            let b = v.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

/// Run `tests/py/as_client.py` with the peers' Python.
async fn py(req: Value) -> Value {
    let python = peers::python();
    let script = workspace_root().join("tests/py/as_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(req.to_string())
            .env("OAUTHLIB_INSECURE_TRANSPORT", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "as_client.py: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ok(v: &Value) -> &Value {
    assert_eq!(v["ok"], true, "{v}");
    &v["result"]
}

const MISSING_CREDENTIALS_FAULT: &str = r#"{"fault":{"code":900902,"message":"Missing Credentials","description":"Required OAuth credentials not provided. Make sure your API invocation call has a header: \"Authorization: Bearer ACCESS_TOKEN\""}}"#;

// === TimeTravels bookings and enforcement ===

#[tokio::test]
async fn timetravels_view_token_gets_bookings_but_cannot_book() {
    let env = Env::new().await;
    // authorization code + PKCE through requests-oauthlib; the user grants only `view`
    let r = py(
        json!({"op": "code", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET,
        "redirect_uri": env.cb(), "scope": ["view", "book"], "username": "alice",
        "password": "wonderland", "grant_scopes": ["view"]}),
    )
    .await;
    let t = ok(&r);
    assert_eq!(t["scope"], json!(["view"]), "{t}");
    assert!(t["location"]
        .as_str()
        .unwrap()
        .contains(&format!("state={}", t["state_sent"].as_str().unwrap())));
    let at = t["access_token"].as_str().unwrap();
    let (s, _, _) = env.api("GET", "/bookings", Some(at)).await;
    assert_eq!(s, 200);
    let seen = env.origin.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].header("authorization").is_none(),
        "the client's token reached the backend"
    );
    let (s, h, b) = env.api("POST", "/bookings", Some(at)).await;
    assert_eq!(s, 403, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["fault"]["code"], 900910);
    assert_eq!(
        h["www-authenticate"].to_str().unwrap(),
        r#"Bearer realm="synaptic", error="insufficient_scope", scope="book""#
    );
    assert_eq!(
        env.origin.count(),
        1,
        "a refused request reached the backend"
    );
    let metrics = get_text(&env.http, &env.url("/metrics")).await;
    assert!(
        metrics.contains(r#"synaptic_authserver_inbound_total{result="allowed"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"synaptic_authserver_inbound_total{result="insufficient_scope"} 1"#));
    assert!(metrics.contains(r#"synaptic_authserver_token_requests_total{grant_type="authorization_code",outcome="issued"} 1"#));
}

#[tokio::test]
async fn missing_invalid_and_revoked_tokens() {
    let env = Env::new().await;
    let (s, h, b) = env.api("GET", "/bookings", None).await;
    assert_eq!(s, 401);
    assert_eq!(b, MISSING_CREDENTIALS_FAULT);
    // RFC 9728 §5.1: the challenge names the API's protected-resource metadata
    let metadata = env.url("/.well-known/oauth-protected-resource/travels/1.0");
    assert_eq!(
        h["www-authenticate"],
        format!(r#"Bearer realm="synaptic", resource_metadata="{metadata}""#)
    );
    let m: Value = env
        .http
        .get(&metadata)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["resource"], env.url("/travels/1.0"));
    let (s, h, b) = env.api("GET", "/bookings", Some("syn_at_notatoken")).await;
    assert_eq!(s, 401);
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["fault"]["code"],
        900901
    );
    assert_eq!(
        h["www-authenticate"],
        format!(
            r#"Bearer realm="synaptic", error="invalid_token", resource_metadata="{metadata}""#
        )
    );
    // a token in the query string is refused, with or without a valid header token, and
    // never reaches the backend
    let resp = env
        .http
        .get(env.url("/travels/1.0/bookings?access_token=syn_at_x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(r#"error="invalid_request""#));
    let t = env.password_token("rp", RP_SECRET, "view").await;
    let at = t["access_token"].as_str().unwrap();
    let resp = env
        .http
        .get(env.url(&format!("/travels/1.0/bookings?x=1&access_token={at}")))
        .header("authorization", format!("Bearer {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(!body.contains(at), "the fault body must not echo the token");
    assert_eq!(env.origin.count(), 0);
    // the same token in the header alone is fine
    let (s, _, _) = env.api("GET", "/bookings", Some(at)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn path_and_method_games_cannot_reach_book() {
    let env = Env::new().await;
    let t = env.password_token("rp", RP_SECRET, "view").await;
    let at = t["access_token"].as_str().unwrap();
    for path in [
        "/bookings",
        "/bookings/",
        "/Bookings",
        "//bookings",
        "/bookings%2F1",
        "/x/..%2fbookings",
        "/x/../bookings",
        "/bookings;param=x",
        "/bookings/%2e%2e/bookings",
    ] {
        let (s, _, b) = env.api("POST", path, Some(at)).await;
        assert!(s >= 400, "POST {path} → {s} {b}");
    }
    // HEAD is checked as GET; OPTIONS is not mapped
    let (s, _, _) = env.api("HEAD", "/bookings", Some(at)).await;
    assert_eq!(s, 200);
    let (s, _, _) = env.api("OPTIONS", "/bookings", Some(at)).await;
    assert!(s == 403 || s == 405, "OPTIONS → {s}");
    // method override: refused
    let resp = env
        .http
        .get(env.url("/travels/1.0/bookings"))
        .header("authorization", format!("Bearer {at}"))
        .header("x-http-method-override", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(env
        .origin
        .requests()
        .iter()
        .all(|r| r.method != http::Method::POST && r.header("x-http-method-override").is_none()));
}

// === grants through real client libraries ===

#[tokio::test]
async fn client_credentials_with_requests_oauthlib_and_authlib() {
    let env = Env::new().await;
    let r = py(json!({"op": "cc", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET, "scope": ["view"]})).await;
    let t = ok(&r);
    assert!(
        t.get("refresh_token").is_none(),
        "client credentials never get a refresh token"
    );
    assert_eq!(t["expires_in"], 3600);
    let (s, _, _) = env
        .api("GET", "/bookings", t["access_token"].as_str())
        .await;
    assert_eq!(s, 200);
    // Authlib (client_secret_basic): introspect, revoke with a wrong hint
    let r = py(json!({"op": "authlib", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET, "scope": "view"})).await;
    let a = ok(&r);
    assert_eq!(a["introspect"]["status"], 200);
    assert_eq!(a["introspect"]["body"]["active"], true);
    assert_eq!(a["introspect"]["body"]["client_id"], "rp");
    assert_eq!(a["introspect"]["cache_control"], "no-store");
    assert_eq!(
        a["revoke_status"], 200,
        "a wrong token_type_hint still revokes"
    );
    assert_eq!(a["introspect_after"], json!({"active": false}));
    let (s, _, _) = env
        .api("GET", "/bookings", a["token"]["access_token"].as_str())
        .await;
    assert_eq!(s, 401, "revocation is seen by the gateway at once");
}

#[tokio::test]
async fn password_and_refresh_with_requests_oauthlib() {
    let env = Env::new().await;
    let r = py(
        json!({"op": "password", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET,
        "username": "alice", "password": "wonderland", "scope": ["view", "book"]}),
    )
    .await;
    let t = ok(&r).clone();
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    // narrow on refresh
    let r = py(json!({"op": "refresh", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET, "refresh_token": rt1, "scope": ["view"]})).await;
    let t2 = ok(&r).clone();
    assert_eq!(t2["scope"], json!(["view"]));
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2, "refresh tokens rotate");
    // the refresh token keeps the family's scope
    let (s, v) = env
        .token(
            Some(("rp", RP_SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt2)],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["scope"], "view book");
    let at3 = v["access_token"].as_str().unwrap().to_string();
    // widening → invalid_scope
    let rt3 = v["refresh_token"].as_str().unwrap();
    let (s, v) = env
        .token(
            Some(("rp", RP_SECRET)),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt3),
                ("scope", "view cancel"),
            ],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_scope")));
    // reuse of a rotated token → invalid_grant and the family is revoked
    let (s, v) = env
        .token(
            Some(("rp", RP_SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = env.api("GET", "/bookings", Some(&at3)).await;
    assert_eq!(s, 401, "reuse revoked the whole family");
    // wrong password → invalid_grant (requests-oauthlib raises InvalidGrantError)
    let r = py(
        json!({"op": "password", "base": env.url(""), "client_id": "rp", "secret": RP_SECRET,
        "username": "alice", "password": "nope"}),
    )
    .await;
    assert_eq!(r["error"], "InvalidGrantError", "{r}");
}

#[tokio::test]
async fn twenty_parallel_refreshes_exactly_one_succeeds() {
    let env = Env::new().await;
    let t = env.password_token("rp", RP_SECRET, "view").await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let http = env.http.clone();
        let url = env.url("/oauth2/token");
        let body = encode_form(&[("grant_type", "refresh_token"), ("refresh_token", &rt)]);
        set.spawn(async move {
            http.post(url)
                .header("authorization", basic("rp", RP_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let mut codes = Vec::new();
    while let Some(c) = set.join_next().await {
        codes.push(c.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 400), "{codes:?}");
}

#[tokio::test]
async fn refresh_limit_and_never_expiring_tokens() {
    let env = Env::new().await;
    // lifetime -1, refresh limit 0
    let t = env
        .password_token("forever", "forever-secret", "view")
        .await;
    assert!(t.get("expires_in").is_none(), "{t}");
    assert!(t.get("refresh_token").is_none(), "{t}");
    let (_, _, b) = env
        .post_form(
            "/oauth2/introspect",
            Some(("forever", "forever-secret")),
            &[("token", t["access_token"].as_str().unwrap())],
        )
        .await;
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["active"], true);
    assert!(v.get("exp").is_none(), "{v}");
    // refresh limit 2 on book-your-ticket: two refreshes, then none
    let t = env.password_token("book-your-ticket", SECRET, "view").await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_string();
    let (s, v) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(s, 200);
    let old = rt.clone();
    rt = v["refresh_token"].as_str().unwrap().to_string();
    let (s, v) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(s, 200);
    assert!(
        v.get("refresh_token").is_none(),
        "the 2nd refresh is the last: {v}"
    );
    let (s, v) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", &old)],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn public_client_pkce_and_code_rules() {
    let env = Env::new().await;
    let cb = env.cb();
    // public client without PKCE → error redirect; `plain` refused
    for extra in [
        vec![],
        vec![
            ("code_challenge", VERIFIER),
            ("code_challenge_method", "plain"),
        ],
        vec![
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", cb.as_str()),
            ("state", "s"),
        ];
        q.extend(extra);
        let resp = env
            .http
            .get(format!(
                "{}?{}",
                env.url("/oauth2/authorize"),
                encode_form(&q)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 302);
        let loc = resp.headers()["location"].to_str().unwrap();
        assert!(
            loc.starts_with(&cb)
                && loc.contains("error=invalid_request")
                && loc.ends_with("state=s"),
            "{loc}"
        );
    }
    // public client with PKCE
    let code = env.code("spa", "view", true).await;
    let (s, v) = env.redeem("spa", None, &code, Some(VERIFIER)).await;
    assert_eq!(s, 200, "{v}");
    // replay → invalid_grant and the tokens issued from the code are revoked
    let (s, r) = env.redeem("spa", None, &code, Some(VERIFIER)).await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
    let (s, _, _) = env
        .api("GET", "/bookings", v["access_token"].as_str())
        .await;
    assert_eq!(s, 401, "code replay revokes its tokens");
    // a confidential client needs PKCE too (so no code without a challenge can be
    // downgraded)
    let q = [
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", cb.as_str()),
        ("state", "s"),
    ];
    let resp = env
        .http
        .get(format!(
            "{}?{}",
            env.url("/oauth2/authorize"),
            encode_form(&q)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&cb) && loc.contains("error=invalid_request"),
        "{loc}"
    );
    // challenge without verifier
    let code = env.code("rp", "view", true).await;
    let (s, r) = env.redeem("rp", Some(RP_SECRET), &code, None).await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
    // code bound to the client
    let code = env.code("rp", "view", true).await;
    let (s, r) = env
        .redeem("book-your-ticket", Some(SECRET), &code, Some(VERIFIER))
        .await;
    assert_eq!((s, r["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn redirect_uri_exact_match_never_redirects_on_mismatch() {
    let env = Env::new().await;
    let p = env.cb_port;
    let bad = [
        format!("http://127.0.0.1:{p}/cb/"),
        format!("http://127.0.0.1:{p}/CB"),
        format!("http://127.0.0.1:{p}/cb/../x"),
        format!("http://127.0.0.1:{p}/cb%2f.."),
        format!("http://127.0.0.1:{p}/cb?x=1"),
        format!("http://127.0.0.1:{p}/cb#f"),
        format!("http://127.0.0.1:{p}@evil.example/cb"),
        format!("http://127.0.0.1:{p}%40evil.example/cb"),
        format!("http://127.0.0.1:{p}@@evil.example/cb"),
        format!("http://127.0.0.1:{p}.evil.example/cb"),
        format!("http://127.0.0.1:{}/cb", p.wrapping_add(1)),
        format!("https://127.0.0.1:{p}/cb"),
        format!("HTTP://127.0.0.1:{p}/cb"),
        format!(" http://127.0.0.1:{p}/cb"),
        format!("http://127.0.0.1:{p}/cb%252f"),
    ];
    for uri in &bad {
        let q = encode_form(&[
            ("response_type", "code"),
            ("client_id", "rp"),
            ("redirect_uri", uri),
            ("state", "s"),
        ]);
        let resp = env
            .http
            .get(format!("{}?{q}", env.url("/oauth2/authorize")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{uri}");
        assert!(resp.headers().get("location").is_none(), "{uri}");
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
    }
    let q = encode_form(&[
        ("response_type", "code"),
        ("client_id", "attacker"),
        ("redirect_uri", "http://evil.example/cb"),
    ]);
    let resp = env
        .http
        .get(format!("{}?{q}", env.url("/oauth2/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[tokio::test]
async fn client_authentication_rules() {
    let env = Env::new().await;
    let cc = [("grant_type", "client_credentials")];
    // ':' '%' '+' and space in the secret, form-encoded in Basic
    let (s, v) = env.token(Some(("book-your-ticket", SECRET)), &cc).await;
    assert_eq!(s, 200, "{v}");
    // client_secret_post
    let (s, _) = env
        .token(
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "book-your-ticket"),
                ("client_secret", SECRET),
            ],
        )
        .await;
    assert_eq!(s, 200);
    // two methods → invalid_request
    let (s, v) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", SECRET),
            ],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_request")));
    // unknown client and wrong secret: same status, body and WWW-Authenticate
    let (s1, h1, b1) = env
        .post_form("/oauth2/token", Some(("nobody", "x")), &cc)
        .await;
    let (s2, h2, b2) = env
        .post_form("/oauth2/token", Some(("book-your-ticket", "wrong")), &cc)
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 401);
    assert_eq!(h1["www-authenticate"], r#"Basic realm="synaptic""#);
    assert_eq!(h2["www-authenticate"], r#"Basic realm="synaptic""#);
    assert_eq!(h1["cache-control"], "no-store");
    // and about the same time: both pay one argon2 verification (medians of 7, alternating)
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t0 = tokio::time::Instant::now();
        env.post_form("/oauth2/token", Some(("nobody", "x")), &cc)
            .await;
        unknown.push(t0.elapsed().as_secs_f64());
        let t0 = tokio::time::Instant::now();
        env.post_form("/oauth2/token", Some(("book-your-ticket", "wrong")), &cc)
            .await;
        wrong.push(t0.elapsed().as_secs_f64());
    }
    unknown.sort_by(f64::total_cmp);
    wrong.sort_by(f64::total_cmp);
    let (a, b) = (unknown[3], wrong[3]);
    assert!(
        a.max(b) < 3.0 * a.min(b) + 0.02,
        "timing differs: unknown {a:.4}s, wrong secret {b:.4}s"
    );
    // public clients: no client credentials or password
    let (s, v) = env
        .token(
            None,
            &[("grant_type", "client_credentials"), ("client_id", "spa")],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")));
    let (s, v) = env
        .token(
            None,
            &[
                ("grant_type", "password"),
                ("client_id", "spa"),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")));
    // grant not allowed for the client
    let (s, v) = env
        .token(
            Some(("other", "other-secret")),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "wonderland"),
            ],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("unauthorized_client")));
}

#[tokio::test]
async fn revocation_and_introspection_rules() {
    let env = Env::new().await;
    let t = env.password_token("rp", RP_SECRET, "view").await;
    let at = t["access_token"].as_str().unwrap();
    let rt = t["refresh_token"].as_str().unwrap();
    // introspection needs an authenticated caller
    let (s, _, _) = env
        .post_form("/oauth2/introspect", None, &[("token", at)])
        .await;
    assert_eq!(s, 401);
    let (s, _, _) = env
        .post_form(
            "/oauth2/introspect",
            None,
            &[("token", at), ("client_id", "spa")],
        )
        .await;
    assert_eq!(s, 401, "public clients cannot introspect");
    // another client sees nothing; refresh tokens are never reported as access tokens
    let (_, _, b) = env
        .post_form(
            "/oauth2/introspect",
            Some(("other", "other-secret")),
            &[("token", at)],
        )
        .await;
    assert_eq!(b, r#"{"active":false}"#);
    let (_, h, b) = env
        .post_form(
            "/oauth2/introspect",
            Some(("rp", RP_SECRET)),
            &[("token", rt)],
        )
        .await;
    assert_eq!(b, r#"{"active":false}"#);
    assert_eq!(h["cache-control"], "no-store");
    // another client's revocation: 200, token untouched
    let (s, _, _) = env
        .post_form(
            "/oauth2/revoke",
            Some(("other", "other-secret")),
            &[("token", at)],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(env.api("GET", "/bookings", Some(at)).await.0, 200);
    // unknown token → 200
    let (s, h, _) = env
        .post_form(
            "/oauth2/revoke",
            Some(("rp", RP_SECRET)),
            &[("token", "nope")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["cache-control"], "no-store");
    // revoking the refresh token (hint says access) revokes the access token, at once
    let (s, _, _) = env
        .post_form(
            "/oauth2/revoke",
            Some(("rp", RP_SECRET)),
            &[("token", rt), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(env.api("GET", "/bookings", Some(at)).await.0, 401);
    let (s, v) = env
        .token(
            Some(("rp", RP_SECRET)),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!((s, v["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn approval_page_security_headers_csrf_and_escaping() {
    let env = Env::new().await;
    let cb = env.cb();
    let q = encode_form(&[
        ("response_type", "code"),
        ("client_id", "book-your-ticket"),
        ("redirect_uri", &cb),
        ("scope", "view book"),
        ("state", "a b&c=<d>"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let resp = env
        .http
        .get(format!("{}?{q}", env.url("/oauth2/authorize")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = resp.text().await.unwrap();
    assert!(html.contains("BookYourTicket &lt;Ltd&gt;") && !html.contains("<Ltd>"));
    assert!(html.contains("Book &lt;b&gt;tickets&lt;/b&gt;"));
    assert!(html.contains("<title>Synaptic &lt;approval&gt;</title>"));
    let csrf = extract_csrf(&html);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "alice"),
        ("password", "wonderland"),
        ("action", "approve"),
        ("scope", "view"),
    ];
    // no cookie → refused, no redirect
    let r = env.post_approval(&form, None).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // wrong csrf → refused
    let bad = [
        ("csrf_token", "forged"),
        ("username", "alice"),
        ("password", "wonderland"),
        ("action", "approve"),
    ];
    let r = env.post_approval(&bad, Some("synaptic_csrf=forged")).await;
    assert_eq!(r.status(), 400);
    // deny → access_denied to the validated redirect URI, state unchanged
    let deny = [("csrf_token", csrf.as_str()), ("action", "deny")];
    let r = env.post_approval(&deny, Some(&cookie)).await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with(&format!("{cb}?error=access_denied")),
        "{loc}"
    );
    assert_eq!(query_param(loc, "state").as_deref(), Some("a b&c=<d>"));
    // the CSRF token is single use
    let r = env.post_approval(&form, Some(&cookie)).await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn implicit_only_for_enabled_clients_and_in_the_fragment() {
    let env = Env::new().await;
    let cb = env.cb();
    let loc = env
        .approve(
            &[
                ("response_type", "token"),
                ("client_id", "legacy"),
                ("redirect_uri", &cb),
                ("state", "s1"),
            ],
            &["view"],
            "approve",
        )
        .await;
    assert!(loc.starts_with(&format!("{cb}#access_token=")), "{loc}");
    assert!(!loc.contains('?'));
    let at = query_param(&loc, "access_token").unwrap();
    assert_eq!(env.api("GET", "/bookings", Some(&at)).await.0, 200);
    let q = encode_form(&[
        ("response_type", "token"),
        ("client_id", "rp"),
        ("redirect_uri", &cb),
        ("state", "s1"),
    ]);
    let r = env
        .http
        .get(format!("{}?{q}", env.url("/oauth2/authorize")))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("#error=unauthorized_client"), "{loc}");
}

#[tokio::test]
async fn approval_page_clicked_in_headless_chromium() {
    let env = Env::new().await;
    let cb = env.cb();
    let chromium = synaptic_tests::chromium();
    let q = encode_form(&[
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", &cb),
        ("scope", "view book"),
        ("state", "xyz-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let url = format!("{}?{q}", env.url("/oauth2/authorize"));
    let run = |action: &str| {
        let req = json!({"chromium": chromium, "flags": synaptic_tests::CHROMIUM_FLAGS, "url": url,
            "callback_port": env.cb_port, "username": "alice", "password": "wonderland",
            "uncheck": ["book"], "action": action});
        let script = workspace_root().join("tests/py/approve_in_chromium.mjs");
        async move {
            let out = tokio::task::spawn_blocking(move || {
                Command::new("node")
                    .arg("--experimental-websocket")
                    .arg("--no-warnings")
                    .arg(script)
                    .arg(req.to_string())
                    .output()
                    .unwrap()
            })
            .await
            .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
                panic!(
                    "chromium driver: {stdout} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            assert_eq!(v["ok"], true, "{v}");
            v
        }
    };
    let v = run("approve").await;
    assert_eq!(v["page"]["client"], "Relying Party");
    assert_eq!(v["page"]["scopes"], json!(["view", "book"]));
    // the page names where the user will be sent: the redirect URI's origin
    let origin = format!("http://127.0.0.1:{}", env.cb_port);
    assert_eq!(v["page"]["redirect_to"], origin.as_str(), "{v}");
    // Approve is the primary button: first, first in keyboard order, and filled
    assert_eq!(v["page"]["buttons"], json!(["approve", "deny"]), "{v}");
    assert_eq!(v["page"]["tab_after_scopes"], "approve", "{v}");
    assert_eq!(v["page"]["approve_background"], "rgb(26, 86, 219)", "{v}");
    assert_ne!(
        v["page"]["approve_background"], v["page"]["deny_background"],
        "{v}"
    );
    let cbu = v["callback"].as_str().unwrap();
    assert_eq!(query_param(cbu, "state").as_deref(), Some("xyz-1"));
    let code = query_param(cbu, "code").unwrap();
    let (s, t) = env
        .redeem("rp", Some(RP_SECRET), &code, Some(VERIFIER))
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["scope"], "view", "the unticked scope was not granted");
    let v = run("deny").await;
    let cbu = v["callback"].as_str().unwrap();
    assert_eq!(cbu, "/cb?error=access_denied&state=xyz-1");
}

#[tokio::test]
async fn metadata_rfc8414() {
    let env = Env::new().await;
    let v: Value = env
        .http
        .get(env.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let base = env.url("");
    assert_eq!(v["issuer"], base);
    assert_eq!(v["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(
        v["authorization_endpoint"],
        format!("{base}/oauth2/authorize")
    );
    assert_eq!(v["revocation_endpoint"], format!("{base}/oauth2/revoke"));
    assert_eq!(
        v["introspection_endpoint"],
        format!("{base}/oauth2/introspect")
    );
    assert_eq!(v["code_challenge_methods_supported"], json!(["S256"]));
}

#[tokio::test]
async fn tokens_survive_a_restart_and_the_store_holds_no_secrets() {
    let env = Env::new().await;
    let t = env.password_token("book-your-ticket", SECRET, "view").await;
    let at = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    let code = env.code("rp", "view", true).await;
    let Env {
        gw, origin, http, ..
    } = env;
    let dir: GatewayDir = gw.shutdown().await;
    let gw = TestGateway::start(dir, Default::default()).await;
    let r = http
        .get(gw.url("/travels/1.0/bookings"))
        .header("authorization", format!("Bearer {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a token issued before the restart is still valid"
    );
    assert!(origin.count() >= 1);
    // the database files: no raw token, code, secret or password
    let mut bytes = Vec::new();
    for f in ["data/auth.db", "data/auth.db-wal"] {
        if let Ok(b) = std::fs::read(gw.dir().path().join(f)) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 1000);
    let hay = String::from_utf8_lossy(&bytes);
    for needle in [
        at.as_str(),
        rt.as_str(),
        code.as_str(),
        SECRET,
        RP_SECRET,
        "forever-secret",
        "wonderland",
    ] {
        assert!(!hay.contains(needle), "the store contains {needle:?}");
    }
    // the stored forms are there instead
    assert!(hay.contains("$argon2id$"));
    gw.shutdown().await;
}

#[tokio::test]
async fn purge_by_admin_endpoint_and_cli() {
    let env = Env::new().await;
    let t = env.password_token("rp", RP_SECRET, "view").await;
    let live = env.password_token("rp", RP_SECRET, "view").await;
    let (s, _, _) = env
        .post_form(
            "/oauth2/revoke",
            Some(("rp", RP_SECRET)),
            &[("token", t["access_token"].as_str().unwrap())],
        )
        .await;
    assert_eq!(s, 200);
    // admin endpoint: token required
    let r = env
        .http
        .post(env.url("/oauth2/admin/purge"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = env
        .http
        .post(env.url("/oauth2/admin/purge"))
        .header("authorization", "Bearer wrong-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = env
        .http
        .post(env.url("/oauth2/admin/purge"))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["removed"], 2, "the revoked pair is removed: {v}");
    assert_eq!(
        env.api("GET", "/bookings", live["access_token"].as_str())
            .await
            .0,
        200,
        "live tokens are kept"
    );
    // the CLI on the same store
    let cfg = env.gw.dir().config_path().display().to_string();
    // the CLI runs its own runtime: call it off the test's runtime, as a separate process would
    let cli = |args: &[&str]| {
        let mut argv = vec!["synaptic".to_string()];
        argv.extend(args.iter().map(|s| s.to_string()));
        argv.push("--config".into());
        argv.push(cfg.clone());
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = synaptic_cli::run(argv, &mut out, &mut err);
            (
                code,
                String::from_utf8_lossy(&out).into_owned(),
                String::from_utf8_lossy(&err).into_owned(),
            )
        })
        .join()
        .unwrap()
    };
    let (code, out, err) = cli(&["tokens", "list"]);
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
    assert!(out.contains("rp") && out.contains("active"), "{out}");
    let id = out
        .lines()
        .find(|l| l.contains("access"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (code, _, err) = cli(&["tokens", "revoke", &id]);
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
    assert_eq!(
        env.api("GET", "/bookings", live["access_token"].as_str())
            .await
            .0,
        401,
        "CLI revocation is seen at once"
    );
    let (code, out, _) = cli(&["tokens", "purge"]);
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert!(out.contains("removed 2"), "{out}");
    let (code, out, err) = cli(&[
        "clients",
        "add",
        "cli-app",
        "--grant",
        "client_credentials",
        "--scope",
        "view",
    ]);
    assert_eq!(code, std::process::ExitCode::SUCCESS, "{err}");
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .to_string();
    let (s, v) = env
        .token(
            Some(("cli-app", &secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, out, _) = cli(&["clients", "list"]);
    assert!(out.contains("cli-app") && out.contains("book-your-ticket"));
    let (code, _, _) = cli(&["clients", "remove", "cli-app"]);
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!(
        env.api("GET", "/bookings", v["access_token"].as_str())
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn openid_client_consumes_the_metadata_and_endpoints() {
    let env = Env::new().await;
    let issuer = env.url("");
    let (_, stdout, stderr) = tokio::task::spawn_blocking(move || {
        peers::run_node_script(
            include_str!("py/openid_client_smoke.mjs"),
            &[("AS", issuer.as_str()), ("CID", "rp"), ("CSEC", RP_SECRET)],
        )
    })
    .await
    .unwrap();
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("openid-client: {stdout} {stderr}"));
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["issuer"], env.url(""));
    assert_eq!(
        v["cc"],
        json!({"token_type": "bearer", "expires_in": 3600, "scope": "view", "refresh": false})
    );
    assert_eq!(v["refresh"], json!({"scope": "view book", "rotated": true}));
    assert_eq!(v["introspect"], true);
    assert_eq!(v["after_revoke"], false);
    assert_eq!(v["bad_password"], "invalid_grant");
}

#[tokio::test]
async fn redis_store_is_shared_by_two_gateways() {
    let redis = synaptic_tests::redis::RedisServer::start();
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"bookings": []}))).await;
    let cb = cb_uri(free_port());
    let cfg = format!(
        "{}\n[redis]\nurl = \"{}\"\nkey_prefix = \"as-e2e\"\n",
        config(&origin.url(), &cb),
        redis.url()
    );
    let a = start_gateway(&cfg, &[]).await;
    let b = start_gateway(&cfg, &[]).await;
    let http = reqwest::Client::new();
    let token = |gw: &TestGateway, form: Vec<(&'static str, String)>| {
        let url = gw.url("/oauth2/token");
        let http = http.clone();
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = http
                .post(url)
                .header("authorization", basic("rp", RP_SECRET))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encode_form(&pairs))
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let get = |gw: &TestGateway, at: String| {
        let url = gw.url("/travels/1.0/bookings");
        let http = http.clone();
        async move {
            http.get(url)
                .header("authorization", format!("Bearer {at}"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // issued by A, accepted by B
    let (s, t) = token(
        &a,
        vec![
            ("grant_type", "password".into()),
            ("username", "alice".into()),
            ("password", "wonderland".into()),
            ("scope", "view".into()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t}");
    let at = t["access_token"].as_str().unwrap().to_string();
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(get(&b, at.clone()).await, 200);
    // refreshed on B; reusing the old refresh token on A revokes the family everywhere
    let (s, t2) = token(
        &b,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt.clone()),
        ],
    )
    .await;
    assert_eq!(s, 200, "{t2}");
    let at2 = t2["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(&a, at2.clone()).await, 200);
    let (s, _) = token(
        &a,
        vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(get(&a, at2.clone()).await, 401);
    assert_eq!(get(&b, at2).await, 401);
    // revocation on B is seen by A at once
    let (_, t3) = token(&a, vec![("grant_type", "client_credentials".into())]).await;
    let at3 = t3["access_token"].as_str().unwrap().to_string();
    assert_eq!(get(&a, at3.clone()).await, 200);
    let r = http
        .post(b.url("/oauth2/revoke"))
        .header("authorization", basic("rp", RP_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode_form(&[("token", &at3)]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(&a, at3).await, 401);
    // no raw token in Redis
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "--scan"])
        .output()
        .unwrap();
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(keys.contains("as-e2e:as:token:"), "{keys}");
    assert!(!keys.contains(&at) && !keys.contains("syn_"), "{keys}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn gateway_is_a_client_of_its_own_authorization_server() {
    // native endpoint security (client credentials) against this gateway's /oauth2/token, in
    // front of an API the same authorization server protects
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({"bookings": []}))).await;
    let port = free_port();
    let gw_url = format!("http://127.0.0.1:{port}");
    let cfg = format!(
        r#"{base}
[[auth_server.client]]
id = "gw-self"
secret = "gw-self-secret"
grants = ["client_credentials"]
scopes = ["view"]

[[api]]
name = "Front"
context = "/front"
endpoint = "{gw_url}/travels/1.0"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{gw_url}/oauth2/token"
client_id = "gw-self"
client_secret = "gw-self-secret"
scope = "view"
"#,
        base = config(&origin.url(), &cb_uri(free_port()))
    );
    let dir = GatewayDir::new(&cfg, &[]);
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap_or_else(|e| panic!("{e}"));
    let opts = synaptic_gateway::ServeOptions {
        listen: Some(format!("127.0.0.1:{port}").parse().unwrap()),
        ..Default::default()
    };
    let (running, _) = synaptic_gateway::start(loaded.config, opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let r = http
            .get(format!("{gw_url}/front/bookings"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let seen = origin.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    // the POST resource needs `book`, which gw-self does not have
    let r = http
        .post(format!("{gw_url}/front/bookings"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    running.shutdown().await;
}

#[tokio::test]
async fn approval_template_can_be_replaced_but_keeps_the_form() {
    let origin = MockOrigin::start(|_| MockResponse::json(200, &json!({}))).await;
    let cb = cb_uri(free_port());
    let cfg = config(&origin.url(), &cb).replace(
        "approval_title = \"Synaptic <approval>\"",
        "approval_title = \"Acme\"\napproval_template = \"pages/approve.html\"\napproval_footer = \"(c) Acme & Co\"",
    );
    let custom = "<!DOCTYPE html><html><head><title>{{title}}</title></head><body class=\"acme\">\
                  <h1>ACME-CUSTOM</h1>{{form}}<footer>{{footer}}</footer></body></html>";
    let gw = start_gateway(&cfg, &[("pages/approve.html", custom)]).await;
    let q = encode_form(&[
        ("response_type", "code"),
        ("client_id", "rp"),
        ("redirect_uri", &cb),
        ("scope", "view"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let r = reqwest::get(format!("{}?{q}", gw.url("/oauth2/authorize")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("ACME-CUSTOM") && html.contains("<title>Acme</title>"));
    assert!(html.contains("(c) Acme &amp; Co"));
    assert_eq!(html.matches("name=\"csrf_token\"").count(), 1);
    gw.shutdown().await;
    // a template without the {{form}} slot is refused at startup
    let dir = GatewayDir::new(
        &cfg,
        &[("pages/approve.html", "<html><body>{{title}}</body></html>")],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap_or_else(|e| panic!("{e}"));
    let opts = synaptic_gateway::ServeOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Default::default()
    };
    match synaptic_gateway::start(loaded.config, opts).await {
        Ok((running, _)) => {
            running.shutdown().await;
            panic!("a template without {{{{form}}}} was accepted");
        }
        Err(e) => assert!(
            format!("{e:#}").contains("form") || format!("{e:?}").contains("form"),
            "{e:?}"
        ),
    }
}

/// Refresh-token reuse, step by step: (status, error) of each request.
async fn reuse_story(token_url: &str, id: &str, secret: &str, scope: &str) -> Vec<(u16, String)> {
    let http = reqwest::Client::new();
    let post = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = token_url.to_string();
        let auth = basic(id, secret);
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = http
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(encode_form(&pairs))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut steps = Vec::new();
    let (s, t1) = post(vec![
        ("grant_type", "password".into()),
        ("username", "alice".into()),
        ("password", "wonderland".into()),
        ("scope", scope.into()),
    ])
    .await;
    steps.push((s, String::new()));
    let rt1 = t1["refresh_token"].as_str().unwrap_or_default().to_string();
    let (s, t2) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", rt1.clone()),
    ])
    .await;
    steps.push((s, String::new()));
    let rt2 = t2["refresh_token"].as_str().unwrap_or_default().to_string();
    steps.push((u16::from(rt1 != rt2), "rotated".into()));
    let (s, e) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", rt1),
    ])
    .await;
    steps.push((s, e["error"].as_str().unwrap_or_default().to_string()));
    let (s, e) = post(vec![
        ("grant_type", "refresh_token".into()),
        ("refresh_token", rt2),
    ])
    .await;
    steps.push((s, e["error"].as_str().unwrap_or_default().to_string()));
    steps
}

#[tokio::test]
async fn refresh_reuse_behaves_like_django_oauth_toolkit() {
    let dot = peers::dot();
    let c = dot.password_client();
    let oracle = reuse_story(&dot.token_url(), c.id, c.secret, "view").await;
    let env = Env::new().await;
    let ours = reuse_story(&env.url("/oauth2/token"), "rp", RP_SECRET, "view").await;
    assert_eq!(
        ours, oracle,
        "synaptic vs DOT (ROTATE_REFRESH_TOKEN + REFRESH_TOKEN_REUSE_PROTECTION)"
    );
    assert_eq!(
        ours,
        vec![
            (200, String::new()),
            (200, String::new()),
            (1, "rotated".into()),
            (400, "invalid_grant".into()),
            (400, "invalid_grant".into()),
        ]
    );
}

// ===== floods and hostile input =====

/// Peak resident memory of this process (the gateway runs in it), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_hundred_concurrent_wrong_client_secrets_are_hashed_a_few_at_a_time() {
    let env = Env::new().await;
    let before = peak_rss_kib();
    let form = [("grant_type", "client_credentials")];
    let answers = futures::future::join_all(
        (0..100)
            .map(|_| env.post_form("/oauth2/token", Some(("book-your-ticket", "wrong")), &form)),
    )
    .await;
    let grown_mib = peak_rss_kib().saturating_sub(before) / 1024;
    let mut busy = 0;
    for (status, headers, body) in &answers {
        match status {
            401 => assert!(body.contains("invalid_client"), "{body}"),
            503 => {
                busy += 1;
                assert!(body.contains("temporarily_unavailable"), "{body}");
                assert!(headers.get("retry-after").is_some());
            }
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert!(busy > 0, "a hundred argon2 checks ran at once");
    // each argon2 check works in 19 MiB: a hundred at once would be ~1.9 GB; the gate keeps
    // one working memory per permitted check (two by default), whatever the allocator does
    assert!(grown_mib < 100, "peak memory grew by {grown_mib} MiB");
    // the right secret still works afterwards
    let (s, v) = env.token(Some(("book-your-ticket", SECRET)), &form).await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_then_the_right_one_stays_locked_out() {
    let env = Env::new().await;
    // the client's own secret is checked (and remembered) once beforehand
    let (s, _) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(s, 200);
    let env = &env;
    let grant = |pw: &'static str| async move {
        env.token(
            Some(("book-your-ticket", SECRET)),
            &[
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", pw),
            ],
        )
        .await
    };
    let mut burst: Vec<_> = (0..30).map(|_| grant("nope")).collect();
    burst.push(grant("wonderland"));
    let answers = futures::future::join_all(burst).await;
    for (s, v) in &answers {
        assert_ne!(*s, 200, "logged in during the burst: {v}");
    }
    assert_eq!(answers[30].1["error"], "invalid_grant", "{}", answers[30].1);
    // locked: the right password alone is refused too
    let (s, v) = grant("wonderland").await;
    assert_eq!(s, 400, "{v}");
}

#[tokio::test]
async fn ten_thousand_anonymous_authorize_requests_do_not_expire_a_login_in_progress() {
    let env = Env::new().await;
    let cb = env.cb();
    let query = [
        ("response_type", "code"),
        ("client_id", "book-your-ticket"),
        ("redirect_uri", cb.as_str()),
        ("scope", "view"),
        ("state", "mine"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let (cookie, csrf) = env.open_approval(&query).await;
    let page_url = format!("{}?{}", env.url("/oauth2/authorize"), encode_form(&query));
    // the flood: the same public client and redirect URI, anonymous
    use futures::StreamExt as _;
    let ok = futures::stream::iter(0..10_000)
        .map(|_| {
            let (c, u) = (env.http.clone(), page_url.clone());
            async move { c.get(u).send().await.map(|r| r.status().as_u16()) }
        })
        .buffer_unordered(32)
        .filter(|r| std::future::ready(matches!(r, Ok(200))))
        .count()
        .await;
    assert_eq!(ok, 10_000);
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "alice"),
        ("password", "wonderland"),
        ("action", "approve"),
        ("scope", "view"),
    ];
    let r = env.post_approval(&form, Some(&cookie)).await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(query_param(loc, "code").is_some(), "{loc}");
    assert_eq!(query_param(loc, "state").as_deref(), Some("mine"));
}

#[tokio::test]
async fn a_token_request_with_120000_scope_words_is_refused_at_once() {
    let env = Env::new().await;
    let scope = vec!["view"; 120_000].join(" ");
    let t0 = tokio::time::Instant::now();
    let (s, v) = env
        .token(
            Some(("book-your-ticket", SECRET)),
            &[("grant_type", "client_credentials"), ("scope", &scope)],
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"], "invalid_scope");
    assert!(t0.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn discovery_metadata_never_takes_the_issuer_from_host() {
    let env = Env::new().await;
    let r = env
        .http
        .get(env.url("/.well-known/oauth-authorization-server"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let base = env.url("");
    assert_eq!(v["issuer"], base);
    assert_eq!(v["token_endpoint"], format!("{base}/oauth2/token"));
    assert!(!v.to_string().contains("evil.example"));
}

#[tokio::test]
async fn unauthenticated_requests_learn_nothing_about_paths_of_a_secured_api() {
    let env = Env::new().await;
    // unknown path and unmapped method: 401 first, like a mapped one
    for (m, p) in [
        ("GET", "/nothing-here"),
        ("PUT", "/bookings"),
        ("GET", "/bookings"),
    ] {
        let (s, _, b) = env.api(m, p, None).await;
        assert_eq!(s, 401, "{m} {p}: {b}");
        let (s, _, _) = env.api(m, p, Some("not-a-real-token")).await;
        assert_eq!(s, 401, "{m} {p} with an invalid token");
    }
    // with a valid token the answer is about the request, never 401
    let t = env.password_token("book-your-ticket", SECRET, "view").await;
    let tok = t["access_token"].as_str().unwrap();
    let (s, _, _) = env.api("GET", "/nothing-here", Some(tok)).await;
    assert_ne!(s, 401);
    let (s, _, _) = env.api("GET", "/bookings", Some(tok)).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_newline_in_a_user_name_cannot_forge_a_log_line() {
    let (logs, _guard) = synaptic_tests::logs::capture();
    let env = Env::new().await;
    let cb = env.cb();
    let forged = "mallory\n2026-12-02T10:00:00.000000Z  INFO synaptic: FORGED admin login";
    let query = [
        ("response_type", "code"),
        ("client_id", "book-your-ticket"),
        ("redirect_uri", cb.as_str()),
        ("scope", "view"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for _ in 0..7 {
        let (cookie, csrf) = env.open_approval(&query).await;
        let form = [
            ("csrf_token", csrf.as_str()),
            ("username", forged),
            ("password", "guess"),
            ("action", "approve"),
            ("scope", "view"),
        ];
        let r = env.post_approval(&form, Some(&cookie)).await;
        assert_eq!(r.status(), 200);
    }
    let text = logs.text();
    assert!(text.contains("locked"), "{text}");
    assert!(text.contains("mallory\\n2026"), "{text}");
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("2026-12-02T10:00:00.000000Z")),
        "a forged line:\n{text}"
    );
}
