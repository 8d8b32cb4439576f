//! The HTTPS listener end to end: certificates chosen by SNI, a certificate renewed on disk
//! while clients keep calling (no failed request), client certificates required or optional,
//! HTTP/2 by ALPN.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use synaptic_tests::authserver;
use synaptic_tests::gateway::{GatewayDir, TestGateway};
use synaptic_tests::peers::TestCa;

const HELLO: &str = r#"<sequence name="hello" xmlns="http://ws.apache.org/ns/synapse">
  <payloadFactory media-type="json"><format>{"hello":"tls"}</format></payloadFactory>
  <respond/>
</sequence>"#;

/// Answers with the verified client certificate's subject, as sequences see it.
const WHO: &str = r#"<sequence name="who" xmlns="http://ws.apache.org/ns/synapse">
  <payloadFactory media-type="text"><format>$1</format>
    <args><arg expression="get-property('SSL_CLIENT_SUBJECT')"/></args>
  </payloadFactory>
  <respond/>
</sequence>"#;

fn config(tls_extra: &str) -> String {
    format!(
        r#"[server]
listen_tls = "127.0.0.1:0"

[server.tls]
cert = "certs/default.pem"
key = "certs/default.key"
reload_interval = 0.2
{tls_extra}

[[api]]
name = "hello"
context = "/hello"
in_sequence = "hello"

[[api]]
name = "who"
context = "/who"
in_sequence = "who"
"#
    )
}

/// A client that trusts `pki`'s CA and resolves every name below to the gateway.
fn client(pki: &TestCa, tls: SocketAddr, names: &[&str]) -> reqwest::ClientBuilder {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.pem().as_bytes()).unwrap())
        .timeout(Duration::from_secs(10));
    for n in names {
        b = b.resolve(n, tls);
    }
    b
}

async fn start(pki: &TestCa, tls_extra: &str, files: &[(&str, String)]) -> TestGateway {
    let (cert, key) = pki.leaf(&["localhost", "default.test"], "default");
    let mut all: Vec<(&str, String)> = vec![
        ("sequences/hello.xml", HELLO.to_string()),
        ("sequences/who.xml", WHO.to_string()),
        ("certs/default.pem", cert),
        ("certs/default.key", key),
    ];
    all.extend(files.iter().cloned());
    let refs: Vec<(&str, &str)> = all.iter().map(|(a, b)| (*a, b.as_str())).collect();
    TestGateway::start(
        GatewayDir::new(&config(tls_extra), &refs),
        synaptic_gateway::ServeOptions::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_chooses_the_certificate_by_name() {
    let pki = TestCa::new();
    let (a_cert, a_key) = pki.leaf(&["a.test"], "a");
    let (b_cert, b_key) = pki.leaf(&["*.b.test"], "b");
    let gw = start(
        &pki,
        r#"
[[server.tls.sni]]
hosts = ["a.test"]
cert = "certs/a.pem"
key = "certs/a.key"

[[server.tls.sni]]
hosts = ["*.b.test"]
cert = "certs/b.pem"
key = "certs/b.key"
"#,
        &[
            ("certs/a.pem", a_cert),
            ("certs/a.key", a_key),
            ("certs/b.pem", b_cert),
            ("certs/b.key", b_key),
        ],
    )
    .await;
    let tls = gw.tls_addr().expect("an HTTPS listener");
    let c = client(
        &pki,
        tls,
        &["a.test", "x.b.test", "default.test", "other.test"],
    )
    .build()
    .unwrap();
    let port = tls.port();
    // hostname verification passes only when the gateway chose the certificate of that name
    for host in ["a.test", "x.b.test", "default.test"] {
        let r = c
            .get(format!("https://{host}:{port}/hello/x"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(r.status(), 200, "{host}");
        assert_eq!(r.text().await.unwrap(), r#"{"hello":"tls"}"#);
    }
    // a name no certificate carries gets the default one, which the client refuses
    assert!(c
        .get(format!("https://other.test:{port}/hello/x"))
        .send()
        .await
        .is_err());
    // the plain listener keeps answering
    let r = reqwest::get(gw.url("/hello/x")).await.unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn() {
    let pki = TestCa::new();
    let gw = start(&pki, "", &[]).await;
    let tls = gw.tls_addr().unwrap();
    let c = client(&pki, tls, &["default.test"]).build().unwrap();
    let r = c
        .get(format!("https://default.test:{}/hello/x", tls.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_failed_request() {
    let pki = TestCa::new();
    let gw = start(&pki, "", &[]).await;
    let tls = gw.tls_addr().unwrap();
    let port = tls.port();
    // clients hammering the listener with a new connection per request while the files change
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = client(&pki, tls, &["default.test"])
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let (stop, ok) = (stop.clone(), ok.clone());
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match c
                    .get(format!("https://default.test:{port}/hello/x"))
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failures.push(format!("status {}", r.status())),
                    Err(e) => failures.push(format!("{e:?}")),
                }
            }
            failures
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // renew: a certificate that also names renewed.test
    let (cert, key) = pki.leaf(&["localhost", "default.test", "renewed.test"], "renewed");
    gw.dir().write("certs/default.key", &key);
    gw.dir().write("certs/default.pem", &cert);
    let renewed = client(&pki, tls, &["renewed.test"]).build().unwrap();
    let mut served = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if renewed
            .get(format!("https://renewed.test:{port}/hello/x"))
            .send()
            .await
            .is_ok()
        {
            served = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    assert!(served, "the renewed certificate was never served");
    assert!(failures.is_empty(), "failed requests: {failures:?}");
    assert!(ok.load(Ordering::Relaxed) > 10, "too few requests ran");
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_required_and_optional() {
    let pki = TestCa::new();
    let client_pki = TestCa::new();
    let (ccert, ckey) = client_pki.leaf(&["client.test"], "trusted-client");
    let ca = client_pki.pem();
    for mode in ["required", "optional"] {
        let gw = start(
            &pki,
            &format!("client_ca = \"certs/clients.pem\"\nclient_auth = \"{mode}\""),
            &[("certs/clients.pem", ca.clone())],
        )
        .await;
        let tls = gw.tls_addr().unwrap();
        let url = format!("https://default.test:{}/hello/x", tls.port());
        let identity = reqwest::Identity::from_pem(format!("{ccert}{ckey}").as_bytes()).unwrap();
        let with = client(&pki, tls, &["default.test"])
            .identity(identity)
            .build()
            .unwrap();
        assert_eq!(with.get(&url).send().await.unwrap().status(), 200, "{mode}");
        // the verified subject is visible to sequences
        let who = format!("https://default.test:{}/who/x", tls.port());
        let r = with.get(&who).send().await.unwrap();
        assert_eq!(r.status(), 200, "{mode}");
        assert_eq!(r.text().await.unwrap(), "CN=trusted-client", "{mode}");
        let without = client(&pki, tls, &["default.test"]).build().unwrap();
        let r = without.get(&url).send().await;
        match mode {
            "required" => assert!(r.is_err(), "no client certificate must be refused"),
            _ => {
                assert_eq!(r.unwrap().status(), 200);
                // no certificate: no subject
                let r = without.get(&who).send().await.unwrap();
                assert_eq!(r.text().await.unwrap(), "");
            }
        }
        // a certificate of another CA is refused in both modes
        let stranger = TestCa::new();
        let (scert, skey) = stranger.leaf(&["x.test"], "stranger");
        let bad = client(&pki, tls, &["default.test"])
            .identity(reqwest::Identity::from_pem(format!("{scert}{skey}").as_bytes()).unwrap())
            .build()
            .unwrap();
        assert!(
            bad.get(&url).send().await.is_err(),
            "{mode}: untrusted client certificate"
        );
        gw.shutdown().await;
    }
}

// ===== the authorization server over HTTPS =====

async fn start_auth_server(pki: &TestCa, extra: &str) -> TestGateway {
    let (cert, key) = pki.leaf(&["localhost"], "localhost");
    let config =
        config("") + &authserver::with_client(extra, "svc", "svc-secret-0123456789", &["view"]);
    let files = [
        ("sequences/hello.xml", HELLO),
        ("sequences/who.xml", WHO),
        ("certs/default.pem", cert.as_str()),
        ("certs/default.key", key.as_str()),
    ];
    TestGateway::start(
        GatewayDir::new(&config, &files),
        synaptic_gateway::ServeOptions::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_server_over_https_sends_hsts_and_plain_http_is_redirected() {
    let pki = TestCa::new();
    let gw = start_auth_server(&pki, "").await;
    let tls = gw.tls_addr().expect("an HTTPS listener").port();
    let plain = gw.addr().port();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let no_redirects = client(&pki, local, &["localhost"])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // over TLS: pages and endpoints carry HSTS, one year by default
    let r = no_redirects
        .get(format!(
            "https://localhost:{tls}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = no_redirects
        .get(format!(
            "https://localhost:{tls}/oauth2/authorize?client_id=nobody"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an error page, still over TLS");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    // over plain HTTP: redirected to the HTTPS listener, path and query kept
    let r = no_redirects
        .get(format!(
            "http://localhost:{plain}/oauth2/authorize?client_id=a&state=s"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        format!("https://localhost:{tls}/oauth2/authorize?client_id=a&state=s").as_str()
    );
    assert!(r.headers().get("strict-transport-security").is_none());
    let form = [("grant_type", "client_credentials"), ("scope", "view")];
    let r = no_redirects
        .post(format!("http://localhost:{plain}/oauth2/token"))
        .basic_auth("svc", Some("svc-secret-0123456789"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308, "a POST keeps its method and body");
    assert_eq!(
        r.headers()["location"],
        format!("https://localhost:{tls}/oauth2/token").as_str()
    );
    // a client that follows redirects gets its token over TLS (credentials in the body: a
    // client drops `Authorization` when a redirect changes the origin)
    let follows = client(&pki, local, &["localhost"]).build().unwrap();
    let r = follows
        .post(format!("http://localhost:{plain}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "view"),
            ("client_id", "svc"),
            ("client_secret", "svc-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().scheme(), "https");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["access_token"].is_string(), "{v}");
    // APIs on the plain listener are not redirected
    let r = no_redirects
        .get(format!("http://localhost:{plain}/hello/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    gw.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsts_max_age_and_the_redirect_are_configurable() {
    let pki = TestCa::new();
    let gw = start_auth_server(&pki, "hsts_max_age = 600\nhttps_redirect = false").await;
    let tls = gw.tls_addr().expect("an HTTPS listener").port();
    let plain = gw.addr().port();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let c = client(&pki, local, &["localhost"])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let meta = "/.well-known/oauth-authorization-server";
    let r = c
        .get(format!("https://localhost:{tls}{meta}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=600");
    let r = c
        .get(format!("http://localhost:{plain}{meta}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "answered over plain HTTP");
    assert!(r.headers().get("strict-transport-security").is_none());
    gw.shutdown().await;
}

// ===== what Synapse's transport and dispatch set on a request =====

/// An `<api>` and two proxies that answer with `TRANSPORT_IN_NAME` and `OperationName`.
const DISPATCH_API: &str = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Seen" context="/seen">
  <resource methods="GET POST"><inSequence>
    <payloadFactory media-type="text"><format>$1 $2</format>
      <args><arg expression="get-property('TRANSPORT_IN_NAME')"/><arg expression="get-property('OperationName')"/></args>
    </payloadFactory>
    <respond/>
  </inSequence></resource>
</api>"#;

const DISPATCH_PROXIES: &str = r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
<proxy name="Plain"><target><inSequence>
    <payloadFactory media-type="text"><format>$1 $2</format>
      <args><arg expression="get-property('TRANSPORT_IN_NAME')"/><arg expression="get-property('OperationName')"/></args>
    </payloadFactory>
    <respond/>
</inSequence></target></proxy>
<proxy name="Stock"><target><inSequence>
    <payloadFactory media-type="text"><format>$1 $2</format>
      <args><arg expression="get-property('TRANSPORT_IN_NAME')"/><arg expression="get-property('OperationName')"/></args>
    </payloadFactory>
    <respond/>
  </inSequence></target>
  <publishWSDL><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
      xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:s" targetNamespace="urn:s">
    <wsdl:portType name="PT"><wsdl:operation name="getQuote"/><wsdl:operation name="placeOrder"/></wsdl:portType>
    <wsdl:binding name="B" type="tns:PT">
      <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
      <wsdl:operation name="placeOrder"><soap:operation soapAction="urn:placeOrder"/></wsdl:operation>
    </wsdl:binding>
  </wsdl:definitions></publishWSDL>
</proxy>
</definitions>"#;

/// `TRANSPORT_IN_NAME` is the listener's transport (`http`, `https`), and `OperationName` the
/// operation Micro Integrator dispatches to: `mediate` for an API and a proxy without a WSDL,
/// a published WSDL's operation by the SOAP action or the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequences_see_the_transport_and_the_operation_of_a_request() {
    let pki = TestCa::new();
    let gw = start(
        &pki,
        "",
        &[
            ("sequences/seen.xml", DISPATCH_API.to_string()),
            ("sequences/proxies.xml", DISPATCH_PROXIES.to_string()),
        ],
    )
    .await;
    let tls = gw.tls_addr().unwrap();
    let https = client(&pki, tls, &["default.test"]).build().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let on_https = |p: &str| format!("https://default.test:{}{p}", tls.port());
    let soap = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getQuote/></s:Body></s:Envelope>"#;
    let cases: Vec<(&reqwest::Client, String, Option<&str>, &str)> = vec![
        (&http, gw.url("/seen/x"), None, "http mediate"),
        (
            &https,
            on_https("/seen/x"),
            Some("urn:getQuote"),
            "https mediate",
        ),
        (
            &http,
            gw.url("/services/Plain"),
            Some("urn:getQuote"),
            "http mediate",
        ),
        (
            &https,
            on_https("/services/Stock"),
            Some("\"urn:getQuote\""),
            "https getQuote",
        ),
        (
            &http,
            gw.url("/services/Stock"),
            Some("urn:placeOrder"),
            "http placeOrder",
        ),
        (
            &http,
            gw.url("/services/Stock/placeOrder"),
            None,
            "http placeOrder",
        ),
        // the body does not choose: no envelope is built before Micro Integrator dispatches
        (&http, gw.url("/services/Stock"), None, "http mediate"),
    ];
    for (c, url, action, want) in cases {
        let mut rq = c
            .post(&url)
            .header("content-type", "text/xml")
            .body(soap.to_string());
        if let Some(a) = action {
            rq = rq.header("soapaction", a);
        }
        let r = rq.send().await.unwrap();
        assert_eq!(r.status(), 200, "{url} {action:?}");
        assert_eq!(r.text().await.unwrap(), want, "{url} {action:?}");
    }
    gw.shutdown().await;
}
