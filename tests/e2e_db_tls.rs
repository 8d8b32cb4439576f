//! End-to-end tests of TLS between `<dblookup>` and a real PostgreSQL server the test starts
//! (`ssl=on` with a certificate of a CA the test makes, `synaptic_tests::peers::TestPki`):
//! each `sslmode` of a `jdbc:postgresql:` URL does what the PostgreSQL JDBC driver does with
//! it — `verify-full` checks the chain and the host name, `verify-ca` the chain only,
//! `require` and the default `prefer` encrypt without checking, `allow` falls back to TLS when
//! the server refuses plain text — a mode that requires TLS never connects in plain text, and a
//! client certificate (`sslcert`, `sslkey`) is sent when the server asks for one. Each resource
//! reads `pg_stat_ssl` of its own session: whether the server sees TLS.

use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::peers::TestPki;
use synaptic_tests::postgres::{self, PgOptions, PgServerTls, Postgres};

/// An API with one resource per case (`GET /tls/NAME`), each a `<dblookup>` through a pool of
/// its URL: `{"ssl": "t"}` when the session is encrypted, `{"fault", "detail"}` (status 500)
/// when it fails.
fn api(cases: &[(&str, String)]) -> String {
    let mut resources = String::new();
    for (name, url) in cases {
        let url = url.replace('&', "&amp;");
        resources.push_str(&format!(
            r#"<resource methods="GET" uri-template="/{name}">
    <inSequence>
      <dblookup>
        <connection><pool>
          <driver>org.postgresql.Driver</driver>
          <url>{url}</url>
          <user>{user}</user>
          <password>{password}</password>
          <property name="maxwait" value="5000"/>
        </pool></connection>
        <statement>
          <sql>select ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()</sql>
          <result name="ssl" column="ssl"/>
          <result name="dn" column="client_dn"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"ssl":"$1","dn":"$2"}}</format>
        <args><arg expression="$ctx:ssl"/><arg expression="$ctx:dn"/></args></payloadFactory>
      <respond/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"fault":"$1","detail":"$2"}}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/>
              <arg expression="get-property('ERROR_DETAIL')"/></args></payloadFactory>
      <property name="HTTP_SC" value="500" scope="axis2"/>
      <respond/>
    </faultSequence>
  </resource>
"#,
            user = postgres::USER,
            password = postgres::PASSWORD,
        ));
    }
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Tls" context="/tls">
{resources}</api>"#
    )
}

async fn get(gw: &TestGateway, name: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(gw.url(&format!("/tls/{name}"))).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(postgres::PASSWORD),
        "the password shows: {text}"
    );
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

/// The case reached the server over TLS.
async fn encrypted(gw: &TestGateway, name: &str) -> serde_json::Value {
    let (status, body) = get(gw, name).await;
    assert_eq!((status, &body["ssl"]), (200, &"t".into()), "{name}: {body}");
    body
}

/// The case failed to connect; its fault's detail.
async fn refused(gw: &TestGateway, name: &str) -> String {
    let (status, body) = get(gw, name).await;
    assert_eq!(status, 500, "{name}: {body}");
    assert!(
        body["fault"]
            .as_str()
            .unwrap()
            .starts_with("Error executing statement : select ssl"),
        "{name}: {body}"
    );
    body["detail"].as_str().unwrap().to_string()
}

/// A server with TLS (certificate for 127.0.0.1) that accepts TCP clients over TLS only.
fn tls_server(pki: &TestPki, client_cert: bool) -> Postgres {
    let auth = if client_cert {
        "scram-sha-256 clientcert=verify-ca"
    } else {
        "scram-sha-256"
    };
    Postgres::start_with(&PgOptions {
        tls: Some(PgServerTls {
            cert: pki.path("server.pem"),
            key: pki.path("server.key"),
            client_ca: client_cert.then(|| pki.path("ca.pem")),
        }),
        hba: Some(vec![format!("hostssl all all 127.0.0.1/32 {auth}")]),
    })
}

#[tokio::test]
async fn each_sslmode_verifies_what_the_jdbc_driver_verifies_and_never_falls_back_to_plain_text() {
    let (pki, other, server) = tokio::task::spawn_blocking(|| {
        let pki = TestPki::new();
        let server = tls_server(&pki, false);
        (pki, TestPki::new(), server)
    })
    .await
    .unwrap();
    let port = server.port();
    let at = |host: &str, settings: &str| format!("jdbc:postgresql://{host}:{port}/shop{settings}");
    let ca = pki.path("ca.pem").display().to_string();
    let cases = [
        // the certificate is for 127.0.0.1, signed by the CA of `sslrootcert` (a path relative
        // to the project folder)
        (
            "full",
            at("127.0.0.1", "?sslmode=verify-full&sslrootcert=certs/ca.pem"),
        ),
        (
            "ssl",
            at("127.0.0.1", &format!("?ssl=true&sslrootcert={ca}")),
        ),
        // verify-ca does not look at the name; verify-full does
        (
            "ca-other-name",
            at("localhost", &format!("?sslmode=verify-ca&sslrootcert={ca}")),
        ),
        (
            "full-other-name",
            at(
                "localhost",
                &format!("?sslmode=verify-full&sslrootcert={ca}"),
            ),
        ),
        // a CA that did not sign it, and the default roots (the Mozilla roots), refuse it
        (
            "unknown-ca",
            at(
                "127.0.0.1",
                &format!(
                    "?sslmode=verify-full&sslrootcert={}",
                    other.path("ca.pem").display()
                ),
            ),
        ),
        ("default-roots", at("127.0.0.1", "?sslmode=verify-full")),
        // encrypted, not verified
        ("require", at("localhost", "?sslmode=require")),
        ("prefer", at("localhost", "")),
        (
            "non-validating",
            at(
                "127.0.0.1",
                "?ssl=true&sslfactory=org.postgresql.ssl.NonValidatingFactory",
            ),
        ),
        // plain text first, refused by `hostssl`: again over TLS
        ("allow", at("127.0.0.1", "?sslmode=allow")),
        ("disable", at("127.0.0.1", "?sslmode=disable")),
    ];
    let gw = start_gateway(
        "",
        &[
            ("sequences/api.xml", &api(&cases)),
            (
                "sequences/certs/ca.pem",
                &std::fs::read_to_string(pki.path("ca.pem")).unwrap(),
            ),
        ],
    )
    .await;
    for ok in [
        "full",
        "ssl",
        "ca-other-name",
        "require",
        "prefer",
        "non-validating",
        "allow",
    ] {
        encrypted(&gw, ok).await;
    }
    let d = refused(&gw, "full-other-name").await;
    assert!(
        d.contains(&format!("cannot connect to localhost:{port}"))
            && d.contains("not valid for name"),
        "{d}"
    );
    // (the other CA has the same name as the one that signed: its signature does not verify)
    for (unknown, why) in [
        ("unknown-ca", "BadSignature"),
        ("default-roots", "UnknownIssuer"),
    ] {
        let d = refused(&gw, unknown).await;
        assert!(
            d.contains(&format!(
                "cannot connect to 127.0.0.1:{port}: error performing TLS handshake: invalid \
                 peer certificate: {why}"
            )),
            "{unknown}: {d}"
        );
    }
    // the server accepts TLS only: plain text is refused, and the fault says what to look at
    let d = refused(&gw, "disable").await;
    assert!(
        d.contains("no pg_hba.conf entry") && d.contains("sslmode=disable"),
        "{d}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_mode_that_requires_tls_refuses_a_server_without_it_and_the_others_connect_in_plain_text()
{
    let server = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let url = |settings: &str| format!("{}{settings}", server.jdbc_url());
    let cases = [
        ("require", url("?sslmode=require")),
        ("verify-ca", url("?sslmode=verify-ca")),
        ("ssl", url("?ssl=true")),
        ("prefer", url("?sslmode=prefer")),
        ("allow", url("?sslmode=allow")),
        ("default", url("")),
        ("bad-mode", url("?sslmode=required")),
    ];
    let gw = start_gateway("", &[("sequences/api.xml", &api(&cases))]).await;
    for tls in ["require", "verify-ca", "ssl"] {
        let d = refused(&gw, tls).await;
        assert!(d.contains("server does not support TLS"), "{tls}: {d}");
    }
    for plain in ["prefer", "allow", "default"] {
        let (status, body) = get(&gw, plain).await;
        assert_eq!(
            (status, &body["ssl"]),
            (200, &"f".into()),
            "{plain}: {body}"
        );
    }
    // an sslmode the JDBC driver does not know: the data source cannot be used, and says why
    let d = refused(&gw, "bad-mode").await;
    assert!(d.contains("sslmode=`required`"), "{d}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_certificate_is_sent_when_the_server_asks_for_one() {
    let (pki, server) = tokio::task::spawn_blocking(|| {
        let pki = TestPki::new();
        let server = tls_server(&pki, true);
        (pki, server)
    })
    .await
    .unwrap();
    let tls = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.jdbc_url(),
        pki.path("ca.pem").display()
    );
    let cases = [
        (
            "with-cert",
            format!(
                "{tls}&sslcert={}&sslkey={}",
                pki.path("client.pem").display(),
                pki.path("client.key").display()
            ),
        ),
        ("without-cert", tls.clone()),
    ];
    let gw = start_gateway("", &[("sequences/api.xml", &api(&cases))]).await;
    let body = encrypted(&gw, "with-cert").await;
    assert!(
        body["dn"].as_str().unwrap().contains("gw-mtls-client"),
        "{body}"
    );
    let d = refused(&gw, "without-cert").await;
    assert!(d.contains("certificate"), "{d}");
    gw.shutdown().await;
}
