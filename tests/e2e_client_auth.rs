//! Endpoint security with signed and certificate client authentication, token exchange and
//! per-request scope and audience, against REAL authorization servers: panva/oidc-provider
//! configured to require `private_key_jwt` (RS256, PS256, ES256, EdDSA), `client_secret_jwt`
//! and `tls_client_auth` (mutual TLS on its HTTPS listener) and to exchange tokens (RFC 8693);
//! and Authlib accepting only `private_key_jwt` and `client_secret_jwt`, whose own protected
//! resource then accepts the token.
//!
//! Each test runs the whole gateway: a client calls an API, the gateway gets a token from the
//! peer and forwards it to a recording backend; the test then asks the peer (introspection)
//! who that token belongs to. Wrong keys, secrets and certificates are refused by the peer and
//! the client gets the gateway's 503, with no key material in any log.

use synaptic_tests::authserver;
use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::peers::{AuthlibJwtPeer, ClientAuthPeer, TestPki};

// === harness ===

use synaptic_tests::logs::{capture_global as logs, global_text as log_text};

/// Log capture, a PKI, the oidc-provider peer and a recording backend.
async fn setup() -> (TestPki, ClientAuthPeer, MockOrigin) {
    logs();
    let pki = TestPki::new();
    let peer = ClientAuthPeer::start(&pki);
    (pki, peer, MockOrigin::bearer().await)
}

/// One API `name` at `/<name>` in front of `backend`, with these endpoint-security lines.
fn api(name: &str, backend: &MockOrigin, security: &str) -> String {
    format!(
        r#"
[[api]]
name = "{name}"
context = "/{name}"
endpoint = "{url}"

[api.endpoint_security]
type = "oauth2"
{security}
"#,
        url = backend.url()
    )
}

/// Endpoint-security lines for `grant` as the client `pkjwt-<alg>` authenticating with
/// private_key_jwt (the peer's key `<alg>.pem`, its key id `kid-<alg>`), then `extra` lines.
fn private_key_jwt(peer: &ClientAuthPeer, grant: &str, alg: &str, extra: &str) -> String {
    format!(
        r#"grant_type = "{grant}"
token_url = "{url}"
client_id = "pkjwt-{alg}"
client_auth = "private_key_jwt"
private_key = "{key}"
key_id = "kid-{alg}"
algorithm = "{alg}"
{extra}"#,
        url = peer.token_url(),
        key = path(&peer.key(&format!("{alg}.pem"))),
    )
}

/// What the peer says of the last token the backend received.
async fn last_token_info(backend: &MockOrigin, peer: &ClientAuthPeer) -> serde_json::Value {
    let token = tokens_seen(backend).pop().expect("the backend got a token");
    peer.introspect(&token).await
}

fn path(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The bearer tokens the backend received, in order.
fn tokens_seen(backend: &MockOrigin) -> Vec<String> {
    backend
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization").map(|a| a[7..].to_string()))
        .collect()
}

async fn get(gw: &TestGateway, path: &str, bearer: Option<&str>) -> (u16, http::HeaderMap, String) {
    let mut rb = reqwest::Client::new().get(gw.url(path));
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.expect("the gateway answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap_or_default())
}

/// The key's PEM body lines (what must never be logged).
fn key_lines(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(String::from)
        .collect()
}

fn assert_not_logged(lines: &[String]) {
    let logs = log_text();
    for l in lines {
        assert!(!logs.contains(l.as_str()), "key material in the logs: {l}");
    }
}

// === scenarios ===

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_key_jwt_with_each_algorithm_gets_a_token_the_backend_receives() {
    let (_pki, peer, origin) = setup().await;
    let algs = ["RS256", "PS256", "ES256", "EdDSA"];
    let mut config = String::new();
    for alg in algs {
        config.push_str(&api(
            &alg.to_ascii_lowercase(),
            &origin,
            &private_key_jwt(&peer, "client_credentials", alg, "scope = \"view\""),
        ));
    }
    let gw = start_gateway(&config, &[]).await;
    for alg in algs {
        let (status, _, body) =
            get(&gw, &format!("/{}/orders", alg.to_ascii_lowercase()), None).await;
        assert_eq!(status, 200, "{alg}: {body}\npeer log:\n{}", peer.log());
        let info = last_token_info(&origin, &peer).await;
        assert_eq!(info["active"], true, "{alg}: {info}");
        assert_eq!(info["client_id"], format!("pkjwt-{alg}"), "{info}");
        assert_eq!(info["scope"], "view", "{info}");
    }
    // cached: more calls, no more token requests
    for alg in algs {
        let (status, _, _) = get(&gw, &format!("/{}/again", alg.to_ascii_lowercase()), None).await;
        assert_eq!(status, 200);
    }
    let stats = peer.stats().await;
    for alg in algs {
        assert_eq!(
            stats["client_credentials"][format!("pkjwt-{alg}")],
            1,
            "{stats}"
        );
    }
    for alg in algs {
        assert_not_logged(&key_lines(&peer.key(&format!("{alg}.pem"))));
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wrong_private_key_or_secret_is_refused_and_the_client_gets_503() {
    let (_pki, peer, origin) = setup().await;
    let wrong_key = peer.key("wrong-RS256.pem");
    // the right client id and key id, a key the peer does not know
    let mut config = api(
        "wrongkey",
        &origin,
        &format!(
            r#"grant_type = "client_credentials"
token_url = "{url}"
client_id = "pkjwt-RS256"
client_auth = "private_key_jwt"
private_key = "{key}"
key_id = "kid-RS256"
algorithm = "RS256""#,
            url = peer.token_url(),
            key = path(&wrong_key),
        ),
    );
    // the registered key, but the client registered for another algorithm
    config.push_str(&api(
        "wrongalg",
        &origin,
        &format!(
            r#"grant_type = "client_credentials"
token_url = "{url}"
client_id = "pkjwt-PS256"
client_auth = "private_key_jwt"
private_key = "{key}"
algorithm = "RS256""#,
            url = peer.token_url(),
            key = path(&peer.key("PS256.pem")),
        ),
    ));
    config.push_str(&api(
        "wrongsecret",
        &origin,
        &format!(
            r#"grant_type = "client_credentials"
token_url = "{url}"
client_id = "secretjwt"
client_secret = "not-the-secret-but-just-as-long-as-the-real-one"
client_auth = "client_secret_jwt""#,
            url = peer.token_url(),
        ),
    ));
    config.push_str(&api(
        "rightsecret",
        &origin,
        &format!(
            r#"grant_type = "client_credentials"
token_url = "{url}"
client_id = "secretjwt"
client_secret = "{secret}"
client_auth = "client_secret_jwt"
scope = "book""#,
            url = peer.token_url(),
            secret = ClientAuthPeer::SECRET_JWT,
        ),
    ));
    let gw = start_gateway(&config, &[]).await;
    for name in ["wrongkey", "wrongalg", "wrongsecret"] {
        let (status, headers, body) = get(&gw, &format!("/{name}/x"), None).await;
        assert_eq!(status, 503, "{name}: {body}");
        assert!(headers.contains_key("retry-after"), "{name}");
        assert!(body.contains("rejected"), "{name}: {body}");
    }
    assert_eq!(
        origin.count(),
        0,
        "nothing reached the backend without a token"
    );
    assert!(
        peer.log().is_empty() || !peer.log().contains("Error:"),
        "{}",
        peer.log()
    );

    // client_secret_jwt with the right secret works
    let (status, _, body) = get(&gw, "/rightsecret/x", None).await;
    assert_eq!(status, 200, "{body}");
    let info = last_token_info(&origin, &peer).await;
    assert_eq!(
        (info["client_id"].as_str(), info["scope"].as_str()),
        (Some("secretjwt"), Some("book")),
        "{info}"
    );

    let logs = log_text();
    assert!(logs.contains("invalid_client"), "the refusal is logged");
    assert!(!logs.contains(ClientAuthPeer::SECRET_JWT));
    assert!(!logs.contains("not-the-secret"));
    assert!(
        !logs.contains("client_assertion="),
        "no assertion in the logs"
    );
    assert_not_logged(&key_lines(&wrong_key));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_client_auth_presents_the_certificate_to_the_token_endpoint() {
    let (pki, peer, origin) = setup().await;
    let mtls = |name: &str, cert: &str| {
        api(
            name,
            &origin,
            &format!(
                r#"grant_type = "client_credentials"
token_url = "{url}"
client_id = "mtls-client"
client_auth = "tls_client_auth"
client_cert = "{cert}"
client_key = "{key}"
scope = "view book""#,
                url = peer.mtls_token_url(),
                cert = path(&pki.path(&format!("{cert}.pem"))),
                key = path(&pki.path(&format!("{cert}.key"))),
            ),
        )
    };
    let config = format!(
        "[oauth]\ntrust_store = \"{ca}\"\n{good}{bad}",
        ca = path(&pki.path("ca.pem")),
        good = mtls("mtls", "client"),
        bad = mtls("intruder", "intruder"),
    );
    let gw = start_gateway(&config, &[]).await;
    let (status, _, body) = get(&gw, "/mtls/orders", None).await;
    assert_eq!(status, 200, "{body}\npeer log:\n{}", peer.log());
    let info = last_token_info(&origin, &peer).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "mtls-client", "{info}");

    // a certificate of the same CA for another subject is refused
    let (status, _, body) = get(&gw, "/intruder/orders", None).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(origin.count(), 1);
    assert!(log_text().contains("invalid_client"));
    assert_not_logged(&key_lines(&pki.path("client.key")));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_exchange_on_behalf_of_each_caller_cached_per_caller_token() {
    let (_pki, peer, origin) = setup().await;
    let config = api(
        "orders",
        &origin,
        &private_key_jwt(
            &peer,
            "token_exchange",
            "ES256",
            "audience = \"urn:backend:orders\"\nresource = \"https://orders.example/\"\nscope = \"book\"",
        ),
    );
    let gw = start_gateway(&config, &[]).await;
    let alice = peer.caller_token().await;
    let bob = peer.caller_token().await;
    assert_ne!(alice, bob);

    // two calls with alice's token: one exchange, the same exchanged token both times
    for _ in 0..2 {
        let (status, _, body) = get(&gw, "/orders/list", Some(&alice)).await;
        assert_eq!(status, 200, "{body}\npeer log:\n{}", peer.log());
    }
    let seen = tokens_seen(&origin);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], seen[1]);
    assert_ne!(
        seen[0], alice,
        "the caller's token never reaches the backend"
    );
    assert_eq!(peer.stats().await["exchanges"], 1);
    let info = peer.introspect(&seen[0]).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "pkjwt-ES256", "{info}");
    assert_eq!(info["subject_client"], "caller", "{info}");
    assert_eq!(info["exchanged_aud"], "urn:backend:orders", "{info}");
    assert_eq!(
        info["exchanged_resource"], "https://orders.example/",
        "{info}"
    );
    assert_eq!(info["scope"], "book", "{info}");

    // bob's token is exchanged on its own
    let (status, _, _) = get(&gw, "/orders/list", Some(&bob)).await;
    assert_eq!(status, 200);
    let seen = tokens_seen(&origin);
    assert_ne!(seen[2], seen[0]);
    assert!(!seen.contains(&bob));
    assert_eq!(peer.stats().await["exchanges"], 2);

    // no bearer token: 401 challenge; a token the peer does not know: 401 invalid_token
    let (status, headers, _) = get(&gw, "/orders/list", None).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, headers, body) = get(&gw, "/orders/list", Some("not-a-real-token")).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        headers["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(origin.count(), 3);

    // the callers' tokens are not logged (a key holds only their hash)
    let logs = log_text();
    for t in [&alice, &bob, &seen[0]] {
        assert!(!logs.contains(t.as_str()), "a token in the logs");
    }
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scope_and_audience_evaluated_per_request_are_cache_entries_of_their_own() {
    let (_pki, peer, origin) = setup().await;
    // the in-flow decides the scope; the audience comes from a header of the request
    let mut config = api(
        "scoped",
        &origin,
        &private_key_jwt(
            &peer,
            "client_credentials",
            "EdDSA",
            "scope = \"{get-property('wanted-scope')}\"",
        ),
    )
    .replace("endpoint = ", "in_sequence = \"choose-scope\"\nendpoint = ");
    config.push_str(&api(
        "audiences",
        &origin,
        &format!(
            r#"grant_type = "token_exchange"
token_url = "{url}"
client_id = "secretjwt"
client_secret = "{secret}"
client_auth = "client_secret_jwt"
audience = "{{$trp:X-Audience}}""#,
            url = peer.token_url(),
            secret = ClientAuthPeer::SECRET_JWT,
        ),
    ));
    let sequence = r#"<sequence name="choose-scope" xmlns="http://ws.apache.org/ns/synapse">
  <property name="wanted-scope" expression="$trp:X-Want"/>
</sequence>"#;
    let gw = start_gateway(&config, &[("sequences/choose-scope.xml", sequence)]).await;
    let http = reqwest::Client::new();
    for want in ["view", "book", "view", "book", "view"] {
        let r = http
            .get(gw.url("/scoped/x"))
            .header("X-Want", want)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        let info = last_token_info(&origin, &peer).await;
        assert_eq!(info["scope"], want, "{info}");
        assert_eq!(info["client_id"], "pkjwt-EdDSA");
    }
    let stats = peer.stats().await;
    assert_eq!(
        stats["client_credentials"]["pkjwt-EdDSA"], 2,
        "one token per scope: {stats}"
    );

    let caller = peer.caller_token().await;
    for aud in ["urn:orders", "urn:billing", "urn:orders"] {
        let r = http
            .get(gw.url("/audiences/x"))
            .bearer_auth(&caller)
            .header("X-Audience", aud)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        let info = last_token_info(&origin, &peer).await;
        assert_eq!(info["exchanged_aud"], aud, "{info}");
        assert_eq!(info["subject_client"], "caller");
    }
    assert_eq!(
        peer.stats().await["exchanges"],
        2,
        "one exchange per audience"
    );
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authlib_accepts_the_gateways_jwt_client_authentication_and_its_resource_the_token() {
    logs();
    let peer = AuthlibJwtPeer::start();
    // private_key_jwt from a PEM in an environment variable, and from a file
    let pem = std::fs::read_to_string(peer.key("rsa.pem")).unwrap();
    std::env::set_var("SYNAPTIC_TEST_AUTHLIB_RSA_KEY", &pem);
    let resource = |name: &str, security: String| {
        format!(
            r#"
[[api]]
name = "{name}"
context = "/{name}"
endpoint = "{base}/api"

[api.endpoint_security]
type = "oauth2"
grant_type = "client_credentials"
token_url = "{token}"
{security}
"#,
            base = peer.base_url(),
            token = peer.token_url(),
        )
    };
    let config = [
        resource(
            "rsa",
            r#"client_id = "pk-rsa"
client_auth = "private_key_jwt"
private_key_env = "SYNAPTIC_TEST_AUTHLIB_RSA_KEY"
key_id = "rsa-1"
scope = "view""#
                .into(),
        ),
        resource(
            "ec",
            format!(
                r#"client_id = "pk-ec"
client_auth = "private_key_jwt"
private_key = "{}"
key_id = "ec-1"
algorithm = "ES256"
scope = "view book""#,
                path(&peer.key("ec.pem"))
            ),
        ),
        resource(
            "sj",
            format!(
                r#"client_id = "sj"
client_secret = "{}"
client_auth = "client_secret_jwt"
scope = "book""#,
                AuthlibJwtPeer::SECRET_JWT
            ),
        ),
        resource(
            "wrong",
            format!(
                r#"client_id = "pk-rsa"
client_auth = "private_key_jwt"
private_key = "{}"
key_id = "rsa-1""#,
                path(&peer.key("wrong.pem"))
            ),
        ),
        // a client registered for private_key_jwt that tries client_secret_jwt
        resource(
            "method",
            r#"client_id = "pk-ec"
client_secret = "guess-the-secret-guess-the-secret-guess"
client_auth = "client_secret_jwt""#
                .into(),
        ),
    ]
    .concat();
    let gw = start_gateway(&config, &[]).await;
    for (api, client, scope) in [
        ("rsa", "pk-rsa", "view"),
        ("ec", "pk-ec", "book view"),
        ("sj", "sj", "book"),
    ] {
        for _ in 0..2 {
            let (status, _, body) = get(&gw, &format!("/{api}/whoami"), None).await;
            assert_eq!(status, 200, "{api}: {body}\npeer log:\n{}", peer.log());
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["client_id"], client, "{body}");
            assert_eq!(v["scope"], scope, "{body}");
        }
    }
    let stats = peer.stats().await;
    for client in ["pk-rsa", "pk-ec", "sj"] {
        assert_eq!(stats["tokens"][client], 1, "one token per client: {stats}");
    }
    for api in ["wrong", "method"] {
        let (status, headers, body) = get(&gw, &format!("/{api}/whoami"), None).await;
        assert_eq!(status, 503, "{api}: {body}");
        assert!(headers.contains_key("retry-after"));
    }
    assert_eq!(peer.stats().await["tokens"]["pk-rsa"], 1);
    assert!(log_text().contains("invalid_client"));
    for f in ["rsa.pem", "ec.pem", "wrong.pem"] {
        assert_not_logged(&key_lines(&peer.key(f)));
    }
    assert!(!log_text().contains(AuthlibJwtPeer::SECRET_JWT));
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn token_exchange_on_a_secured_api_exchanges_the_checked_caller_token() {
    logs();
    const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    // a token endpoint that exchanges any subject token for `x-<its last 8 characters>`
    let idp = MockOrigin::start(|r| {
        let f: std::collections::HashMap<String, String> = r.form().into_iter().collect();
        match (f.get("grant_type"), f.get("subject_token")) {
            (Some(g), Some(t)) if g == EXCHANGE && t.len() > 8 => MockResponse::json(
                200,
                &serde_json::json!({
                    "access_token": format!("x-{}", &t[t.len() - 8..]),
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 300,
                }),
            ),
            _ => MockResponse::json(400, &serde_json::json!({"error": "invalid_request"})),
        }
    })
    .await;
    let origin = MockOrigin::start(|_| MockResponse::text("ok")).await;
    let gw = start_gateway(
        &format!(
            r#"{server}
[[api]]
name = "Ex"
context = "/ex"
endpoint = "{origin}"
security = "oauth2"

[api.endpoint_security]
type = "oauth2"
grant_type = "token_exchange"
token_url = "{idp}/token"
client_id = "gw"
client_secret = "gw-secret"
audience = "urn:backend"
"#,
            server = authserver::enabled("")
                + &authserver::cc_client("caller", "caller-secret", &["view"], ""),
            origin = origin.url(),
            idp = idp.url()
        ),
        &[],
    )
    .await;
    let v: serde_json::Value = reqwest::Client::new()
        .post(gw.url("/oauth2/token"))
        .basic_auth("caller", Some("caller-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "view")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let caller = v["access_token"].as_str().unwrap().to_string();

    // the checked token is the subject; a subject header the client sends is not
    let r = reqwest::Client::new()
        .get(gw.url("/ex/a"))
        .bearer_auth(&caller)
        .header("x-synaptic-subject-token", "forged-subject-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let asked = idp.requests();
    assert_eq!(asked.len(), 1);
    let form: std::collections::HashMap<String, String> = asked[0].form().into_iter().collect();
    assert_eq!(form["subject_token"], caller);
    assert_eq!(form["audience"], "urn:backend");
    let seen = origin.requests();
    let expected = format!("Bearer x-{}", &caller[caller.len() - 8..]);
    assert_eq!(seen[0].header("authorization"), Some(expected.as_str()));
    assert!(seen[0].header("x-synaptic-subject-token").is_none());
    for (name, value) in seen[0].headers.iter() {
        let value = value.to_str().unwrap_or_default();
        assert!(
            !value.contains(&caller),
            "the caller's token reached the backend in {name}"
        );
        assert!(!value.contains("forged"), "{name}");
    }

    // the same caller again: the exchanged token is cached
    let (status, _, _) = get(&gw, "/ex/b", Some(&caller)).await;
    assert_eq!(status, 200);
    assert_eq!(idp.count(), 1);
    // no or an invalid token: the authorization server answers, nothing is exchanged
    let (status, _, _) = get(&gw, "/ex/a", None).await;
    assert_eq!(status, 401);
    let (status, _, _) = get(&gw, "/ex/a", Some("syn_at_not-a-token")).await;
    assert_eq!(status, 401);
    assert_eq!(idp.count(), 1);
    assert_eq!(origin.count(), 2);
    assert!(
        !log_text().contains(&caller),
        "the caller's token is never logged"
    );
}
