//! End-to-end tests of `[configs]` and `[secrets]` (Micro Integrator 4.4's `${configs.name}`,
//! `wso2-vault(alias)` and `wso2:vault-lookup('alias')`) over real HTTP on 127.0.0.1: values
//! reach the backend and the response, an environment variable named as a configurable
//! overrides `[configs]`, a reload picks up a changed value, a database password written as
//! `{wso2:vault-lookup('alias')}` opens a real MariaDB server, and no secret shows in the
//! gateway's log output or in an error body.

use synaptic_gateway::ServeOptions;
use synaptic_tests::gateway::{assert_reloaded, start_running, GatewayDir};
use synaptic_tests::http::post_body;
use synaptic_tests::mariadb::{self, MariaDb};
use synaptic_tests::origin::MockOrigin;
use synaptic_tests::postgres::{self, Postgres};

const API_KEY: &str = "k-7f3a9c1e-api-key";
const TOKEN: &str = "tok-5b2d8e4f-from-env";

/// An `<api>` reading configurables and secrets every way a sequence can: Synapse
/// Expressions in a header and a payloadFactory, the XPath function in a property.
fn api(backend: &str) -> String {
    format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Cfg" context="/cfg">
  <resource methods="GET" uri-template="/hello">
    <inSequence>
      <header name="X-Api-Key" scope="transport" expression="${{wso2-vault('api')}}"/>
      <header name="X-Token" scope="transport" expression="wso2:vault-lookup('token')"/>
      <header name="X-Region" scope="transport" expression="${{configs.e2e_cfg_region}}"/>
      <log level="custom">
        <property name="greeting" expression="${{configs.greeting}}"/>
        <property name="key-length" expression="${{length(wso2-vault('api'))}}"/>
      </log>
      <call><endpoint><address uri="{backend}/backend"/></endpoint></call>
      <property name="seen" expression="json-eval($.headers.x-api-key)"/>
      <payloadFactory media-type="json">
        <format>{{"greeting":"${{configs.greeting}}","region":"${{configs.e2e_cfg_region}}","next":${{configs.port + 1}},"missing":"${{configs.not_declared}}","key_seen":"$1","token":"$2","env":"$3"}}</format>
        <args>
          <arg expression="$ctx:seen"/>
          <arg expression="wso2:vault-lookup('token')"/>
          <arg expression="get-property('env', 'e2e_cfg_region')"/>
        </args>
      </payloadFactory>
      <respond/>
    </inSequence>
  </resource>
</api>"#
    )
}

fn config(greeting: &str) -> String {
    format!(
        r#"[server]
access_log = true

[configs]
greeting = "{greeting}"
port = 8080
e2e_cfg_region = "from-toml"

[secrets]
api = {{ file = "secrets/api" }}
token = {{ env = "SYNAPTIC_E2E_CFG_TOKEN" }}
"#
    )
}

/// Start the gateway of `dir` on its `synaptic.toml`, reloaded from it, watching the files or not.
async fn serve(dir: &GatewayDir, watch: bool) -> synaptic_gateway::Running {
    let opts = ServeOptions {
        config_path: Some(dir.config_path()),
        watch: Some(watch),
        ..Default::default()
    };
    start_running(dir, opts).await
}

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_and_secrets_reach_the_backend_and_the_response_and_a_reload() {
    let logs = synaptic_tests::logs::capture_global();
    // the environment overrides `[configs]` for a name it declares; the token is a secret
    // read from the environment
    std::env::set_var("e2e_cfg_region", "from-env");
    std::env::set_var("SYNAPTIC_E2E_CFG_TOKEN", TOKEN);
    let backend = MockOrigin::echo().await;
    let dir = GatewayDir::new(
        &config("hello"),
        &[
            ("sequences/cfg.xml", &api(&backend.url())),
            // as a mounted secret file: a line break at the end
            ("secrets/api", &format!("{API_KEY}\n")),
        ],
    );
    let gw = serve(&dir, false).await;
    let url = format!("http://{}/cfg/hello", gw.addr());

    let (status, body) = get_json(&url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["greeting"], "hello");
    assert_eq!(body["region"], "from-env");
    // a configurable that looks like a number is a number
    assert_eq!(body["next"], 8081);
    // a name nothing declares: the expression fails and reads as "" (as in MI)
    assert_eq!(body["missing"], "");
    assert_eq!(body["key_seen"], API_KEY);
    assert_eq!(body["token"], TOKEN);
    // `get-property('env', …)` reads the gateway's process environment
    assert_eq!(body["env"], "from-env");
    let sent = backend.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-api-key"), Some(API_KEY));
    assert_eq!(sent[0].header("x-token"), Some(TOKEN));
    assert_eq!(sent[0].header("x-region"), Some("from-env"));

    // a changed `[configs]` value is picked up by a reload; the environment still wins
    dir.write("synaptic.toml", &config("good evening"));
    assert_reloaded(gw.gateway()).await;
    let (_, body) = get_json(&url).await;
    assert_eq!(body["greeting"], "good evening");
    assert_eq!(body["region"], "from-env");
    assert_eq!(body["token"], TOKEN);

    // a secret whose file disappeared: the reload is rejected with the file and key named,
    // and the previous plan keeps serving
    dir.remove("secrets/api");
    let outcome = gw.gateway().reload().await;
    assert!(
        matches!(
            outcome,
            synaptic_gateway::reload::ReloadOutcome::Rejected { .. }
        ),
        "{outcome:?}"
    );
    let (_, body) = get_json(&url).await;
    assert_eq!(body["key_seen"], API_KEY);

    gw.shutdown().await;
    let text = logs.text();
    assert!(
        text.contains("greeting = good evening") || text.contains("greeting = hello"),
        "the log mediator's lines are captured:\n{text}"
    );
    assert!(
        text.contains("synaptic.toml:10:16") && text.contains("secret `api`"),
        "the rejected reload names the key's position:\n{text}"
    );
    for secret in [API_KEY, TOKEN] {
        assert!(
            !text.contains(secret),
            "secret {secret:?} in the logs:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_lookup_password_opens_a_real_database() {
    let logs = synaptic_tests::logs::capture_global();
    let server = tokio::task::spawn_blocking(MariaDb::start).await.unwrap();
    server.sql(
        "create table company(id varchar(10), name varchar(40));
         insert into company values ('c2', 'WSO2');",
    );
    let pool = |password: &str| {
        format!(
            r#"<connection><pool><driver>com.mysql.cj.jdbc.Driver</driver><url>{}</url>
              <user>{}</user><password>{password}</password></pool></connection>"#,
            server.jdbc_url(),
            mariadb::USER
        )
    };
    let api = |password: &str| {
        format!(
            r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Db" context="/db">
  <resource methods="GET" uri-template="/company">
    <inSequence>
      <dblookup>{}
        <statement>
          <sql>select id from company where name = ?</sql>
          <parameter value="WSO2" type="VARCHAR"/>
          <result name="id" column="id"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"id":"$1"}}</format>
        <args><arg expression="$ctx:id"/></args></payloadFactory>
      <respond/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"error":"$1"}}</format>
        <args><arg expression="$ctx:ERROR_MESSAGE"/></args></payloadFactory>
      <property name="HTTP_SC" value="500" scope="axis2"/>
      <respond/>
    </faultSequence>
  </resource>
</api>"#,
            pool(password)
        )
    };
    let config = "[secrets]\ndb = { file = \"db-password\" }\n";
    let dir = GatewayDir::new(
        config,
        &[
            ("sequences/db.xml", &api("{wso2:vault-lookup('db')}")),
            ("db-password", mariadb::PASSWORD),
        ],
    );
    let gw = serve(&dir, false).await;
    let (status, body) = get_json(&format!("http://{}/db/company", gw.addr())).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"id": "c2"}));

    // an alias `[secrets]` lacks: the data source cannot be used, and the fault says why
    dir.write("sequences/db.xml", &api("{wso2:vault-lookup('other')}"));
    assert_reloaded(gw.gateway()).await;
    let (status, body) = get_json(&format!("http://{}/db/company", gw.addr())).await;
    assert_eq!(status, 500, "{body}");
    gw.shutdown().await;
    let text = logs.text();
    assert!(text.contains("no secret `other`"), "{text}");
    assert!(
        !text.contains(mariadb::PASSWORD) && !body.to_string().contains(mariadb::PASSWORD),
        "the password shows:\n{text}\n{body}"
    );
}

/// `[[datasource]]` with Micro Integrator's `deployment.toml` keys: a `<dsName>` naming it by
/// its id or its JNDI name (`jdbc/ID`) reaches a real PostgreSQL server with the password of
/// `[secrets]` (`$secret{alias}`), both names through one pool (one connection to the server);
/// faults name the data source as the `<dsName>` writes it; a `<dsName>` no `[[datasource]]`
/// defines is a load error, positioned, and the file's previous version keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_data_source_of_the_configuration_opens_a_real_database() {
    let logs = synaptic_tests::logs::capture_global();
    let server = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    server.sql(
        "create table company(id varchar(10), name varchar(40));
         insert into company values ('c2', 'WSO2');",
    );
    let api = |lookup: &str| {
        format!(
            r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Db" context="/db">
  <resource methods="POST" uri-template="/company">
    <inSequence>
      <dbreport>
        <connection><pool><dsName>jdbc/ShopDB</dsName></pool></connection>
        <statement>
          <sql>insert into company values (?, ?)</sql>
          <parameter expression="json-eval($.id)" type="VARCHAR"/>
          <parameter expression="json-eval($.name)" type="VARCHAR"/>
        </statement>
      </dbreport>
      <dblookup>
        <connection><pool><dsName>{lookup}</dsName></pool></connection>
        <statement>
          <sql>select id from company where name = ?</sql>
          <parameter expression="json-eval($.name)" type="VARCHAR"/>
          <result name="id" column="id"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"id":"$1","count":$2}}</format>
        <args><arg expression="$ctx:id"/>
              <arg expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/></args></payloadFactory>
      <respond/>
    </inSequence>
    <faultSequence>
      <payloadFactory media-type="json"><format>{{"error":"$1"}}</format>
        <args><arg expression="$ctx:ERROR_MESSAGE"/></args></payloadFactory>
      <property name="HTTP_SC" value="500" scope="axis2"/>
      <respond/>
    </faultSequence>
  </resource>
</api>"#
        )
    };
    let config = format!(
        r#"[secrets]
db = {{ file = "db-password" }}

[[datasource]]
id = "ShopDB"
url = "{}"
username = "{}"
password = "$secret{{db}}"
driver = "org.postgresql.Driver"
pool_options.maxActive = 2
pool_options.maxWait = 5000
pool_options.testOnBorrow = true
"#,
        server.jdbc_url(),
        postgres::USER
    );
    let dir = GatewayDir::new(
        &config,
        &[
            ("sequences/db.xml", &api("ShopDB")),
            ("db-password", postgres::PASSWORD),
        ],
    );
    let gw = serve(&dir, false).await;
    let url = format!("http://{}/db/company", gw.addr());
    let post = |body: serde_json::Value| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .post(&url)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, v)
        }
    };
    let (status, body) = post(serde_json::json!({"id": "c3", "name": "ACME"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"id": "c3", "count": 1}));
    assert_eq!(
        server
            .sql("select id from company where name = 'ACME'")
            .trim(),
        "c3"
    );
    // `jdbc/ShopDB` and `ShopDB` are one data source: one pool, whose one connection served
    // both mediators
    assert_eq!(
        server
            .sql("select count(*) from pg_stat_activity where application_name = 'synaptic'")
            .trim(),
        "1"
    );
    // a value too long for its column: the database refuses it, the fault names the data source
    let (status, body) = post(serde_json::json!({"id": "much-too-long-id", "name": "X"})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["error"],
        "SQL Error while executing insert statement : insert into company values (?, ?) \
         against DataSource : jdbc/ShopDB"
    );

    // a name no [[datasource]] defines: the file is not deployed, its last version serves
    dir.write("sequences/db.xml", &api("jdbc/ShopDV"));
    assert_reloaded(gw.gateway()).await;
    let (status, body) = post(serde_json::json!({"id": "c4", "name": "Initech"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "c4");
    gw.shutdown().await;
    let text = logs.text();
    assert!(
        text.contains("no data source `jdbc/ShopDV`") && text.contains("did you mean `ShopDB`"),
        "{text}"
    );
    assert!(
        !text.contains(postgres::PASSWORD) && !body.to_string().contains(postgres::PASSWORD),
        "the password shows:\n{text}"
    );
}

/// Deploy-time parameters, as Micro Integrator injects them into artifacts: an endpoint's
/// whole `uri` written as `$SYSTEM:NAME`, `${configs.NAME}` or `$FILE:KEY` (from
/// `[server] file_properties`) is the backend a request reaches, and a WSDL endpoint's
/// document, service and port are named the same ways; a changed properties file is
/// read by a reload; an endpoint whose parameter has no value is not deployed (the rest is),
/// with its position in the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_time_parameters_choose_the_backend() {
    let env_backend = MockOrigin::echo().await;
    let cfg_backend = MockOrigin::echo().await;
    let file_backend = MockOrigin::echo().await;
    let later_backend = MockOrigin::echo().await;
    let wsdl_backend = MockOrigin::echo().await;
    std::env::set_var(
        "SYNAPTIC_E2E_DEPLOY_EP",
        format!("{}/env", env_backend.url()),
    );
    let api = |ctx: &str, uri: &str| {
        format!(
            r#"<api xmlns="http://ws.apache.org/ns/synapse" name="{ctx}" context="/{ctx}">
  <resource methods="GET" uri-template="/*">
    <inSequence><call><endpoint><address uri="{uri}"/></endpoint></call><respond/></inSequence>
  </resource>
</api>"#
        )
    };
    let config = format!(
        r#"[server]
file_properties = "conf/file.properties"

[configs]
deploy_ep = "{}/cfg"
svc_wsdl = "wsdl/svc.wsdl"
svc_name = "Svc"
"#,
        cfg_backend.url()
    );
    // a WSDL endpoint whose document and service are named by configurables, its port by
    // the properties file
    let wsdl = format!(
        r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/">
  <service name="Svc"><port name="P" binding="B"><soap:address location="{}/wsdl"/></port></service>
</definitions>"#,
        wsdl_backend.url()
    );
    let wsdl_api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="w" context="/w">
  <resource methods="POST" uri-template="/*">
    <inSequence><call><endpoint><wsdl uri="${configs.svc_wsdl}" service="${configs.svc_name}" port="$FILE:svc_port"/></endpoint></call><respond/></inSequence>
  </resource>
</api>"#;
    let props =
        |url: &str| format!("# backends\nfile.ep = unused\nfile_ep = {url}/file\nsvc_port = P\n");
    let dir = GatewayDir::new(
        &config,
        &[
            (
                "sequences/env.xml",
                &api("env", "$SYSTEM:SYNAPTIC_E2E_DEPLOY_EP"),
            ),
            ("sequences/cfg.xml", &api("cfg", "${configs.deploy_ep}")),
            ("sequences/file.xml", &api("file", "$FILE:file_ep")),
            (
                "sequences/unset.xml",
                &api("unset", "$SYSTEM:SYNAPTIC_E2E_NEVER_SET"),
            ),
            ("conf/file.properties", &props(&file_backend.url())),
            ("sequences/w.xml", wsdl_api),
            ("sequences/wsdl/svc.wsdl", &wsdl),
        ],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap();
    let opts = ServeOptions {
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        config_path: Some(dir.config_path()),
        watch: Some(false),
        ..Default::default()
    };
    let (gw, report) = synaptic_gateway::start(loaded.config, opts)
        .await
        .expect("what resolves is deployed");
    assert_eq!(report.undeployed.len(), 1, "{report:?}");
    assert!(report.undeployed[0].ends_with("unset.xml"), "{report:?}");
    let rendered = report.render().join("\n");
    assert!(
        rendered.contains("E0403")
            && rendered.contains("unset.xml:3:")
            && rendered.contains("SYNAPTIC_E2E_NEVER_SET"),
        "{rendered}"
    );
    let get = |path: &str| {
        let url = format!("http://{}{path}", gw.addr());
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    for (path, backend, seen) in [
        ("/env/a", &env_backend, "/env/a"),
        ("/cfg/b", &cfg_backend, "/cfg/b"),
        ("/file/c", &file_backend, "/file/c"),
    ] {
        assert_eq!(get(path).await, 200, "{path}");
        let sent = backend.requests();
        assert_eq!(sent.len(), 1, "{path}");
        assert_eq!(sent[0].path(), seen);
    }
    assert_eq!(get("/unset/x").await, 404);
    let r = post_body(
        &reqwest::Client::new(),
        &format!("http://{}/w/q", gw.addr()),
        "application/xml",
        "<q/>",
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let sent = wsdl_backend.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path(), "/wsdl");

    // the properties file is read again by a reload
    dir.write("conf/file.properties", &props(&later_backend.url()));
    assert_reloaded(gw.gateway()).await;
    assert_eq!(get("/file/d").await, 200);
    assert_eq!(later_backend.requests().len(), 1);
    assert_eq!(file_backend.requests().len(), 1);
    gw.shutdown().await;
}

/// A secret kept only as Micro Integrator cipher text (here encrypted by openssl with the
/// vault key's public half, RSA OAEP/SHA-1, as the cipher tool does) reaches the backend in
/// clear through `wso2:vault-lookup('alias', 'ENV', 'true')`, and the gateway's logs never
/// show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_secret_is_decrypted_with_the_vault_key() {
    use base64::Engine as _;
    let logs = synaptic_tests::logs::capture_global();
    const PLAIN: &str = "pw-91c2e7-decrypted";
    let backend = MockOrigin::echo().await;
    let dir = GatewayDir::new("", &[]);
    let key = dir.path().join("vault.pem");
    let run = |args: &[&str], input: &[u8]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl (bash .ci/setup.sh installs it)");
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl {args:?}");
        out.stdout
    };
    let k = key.to_str().unwrap();
    run(
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            k,
        ],
        b"",
    );
    let cipher = base64::engine::general_purpose::STANDARD.encode(run(
        &[
            "pkeyutl",
            "-encrypt",
            "-inkey",
            k,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha1",
        ],
        PLAIN.as_bytes(),
    ));
    std::env::set_var("SYNAPTIC_E2E_ENC_SECRET", &cipher);
    let api = format!(
        r#"<api xmlns="http://ws.apache.org/ns/synapse" name="Enc" context="/enc">
  <resource methods="GET" uri-template="/*">
    <inSequence>
      <header name="X-Db-Password" scope="transport" expression="wso2:vault-lookup('db', 'ENV', 'true')"/>
      <call><endpoint><address uri="{}/b"/></endpoint></call><respond/>
    </inSequence>
  </resource>
</api>"#,
        backend.url()
    );
    dir.write("sequences/enc.xml", &api);
    dir.write(
        "synaptic.toml",
        "[secure_vault]\nprivate_key = \"vault.pem\"\n\n[secrets]\ndb = { env = \"SYNAPTIC_E2E_ENC_SECRET\", encrypted = true }\n",
    );
    let gw = serve(&dir, false).await;
    let r = reqwest::get(format!("http://{}/enc/x", gw.addr()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let sent = backend.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("x-db-password"), Some(PLAIN));
    gw.shutdown().await;
    let text = logs.text();
    assert!(!text.contains(PLAIN), "the secret in the logs:\n{text}");
}

/// The properties file of `$FILE:` parameters is watched like the configuration: a changed
/// value is served within seconds, without a signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_properties_file_is_picked_up_by_the_watcher() {
    let first = MockOrigin::echo().await;
    let second = MockOrigin::echo().await;
    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="f" context="/f">
  <resource methods="GET" uri-template="/*">
    <inSequence><call><endpoint><address uri="$FILE:ep"/></endpoint></call><respond/></inSequence>
  </resource>
</api>"#;
    let dir = GatewayDir::new(
        "[server]\nfile_properties = \"file.properties\"\n",
        &[
            ("sequences/f.xml", api),
            ("file.properties", &format!("ep={}/one\n", first.url())),
        ],
    );
    let gw = serve(&dir, true).await;
    let url = format!("http://{}/f/x", gw.addr());
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 200);
    assert_eq!(first.requests().len(), 1);
    dir.write("file.properties", &format!("ep={}/two\n", second.url()));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while second.requests().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the changed properties file was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let _ = reqwest::get(&url).await.unwrap();
    }
    assert_eq!(second.requests()[0].path(), "/two/x");
    gw.shutdown().await;
}

/// `POST <q/>` to `url`: the status.
async fn post_xml(url: &str) -> u16 {
    post_body(&reqwest::Client::new(), url, "application/xml", "<q/>")
        .await
        .status()
        .as_u16()
}

/// Posts to `url` every 200 ms until `done()`, for at most 10 s.
async fn post_until(url: &str, what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} was not picked up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let _ = post_xml(url).await;
    }
}

/// A WSDL file outside the sequences folder, and the documents it imports, are watched like
/// the artifacts: a changed port address in an imported document is served without a signal,
/// and so is a document the WSDL starts to import after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_wsdl_outside_the_sequences_folder_is_picked_up_by_the_watcher() {
    let first = MockOrigin::echo().await;
    let second = MockOrigin::echo().await;
    let third = MockOrigin::echo().await;
    let api = r#"<api xmlns="http://ws.apache.org/ns/synapse" name="w" context="/w">
  <resource methods="POST" uri-template="/*">
    <inSequence><call><endpoint><wsdl uri="../wsdl/main.wsdl" service="Svc" port="P"/></endpoint></call><respond/></inSequence>
  </resource>
</api>"#;
    let main = |imported: &str| {
        format!(
            r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:svc">
  <import namespace="urn:svc" location="{imported}"/>
</definitions>"#
        )
    };
    let service = |url: String| {
        format!(
            r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
             xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" targetNamespace="urn:svc">
  <service name="Svc"><port name="P" binding="B"><soap:address location="{url}"/></port></service>
</definitions>"#
        )
    };
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/w.xml", api),
            ("wsdl/main.wsdl", &main("svc.wsdl")),
            ("wsdl/svc.wsdl", &service(format!("{}/one", first.url()))),
        ],
    );
    let gw = serve(&dir, true).await;
    let url = format!("http://{}/w/x", gw.addr());
    assert_eq!(post_xml(&url).await, 200);
    assert_eq!(first.requests()[0].path(), "/one");
    // the imported document changes
    dir.write("wsdl/svc.wsdl", &service(format!("{}/two", second.url())));
    post_until(&url, "the changed imported WSDL", || {
        !second.requests().is_empty()
    })
    .await;
    assert_eq!(second.requests()[0].path(), "/two");
    // the WSDL imports another document, which is then watched too
    dir.write("wsdl/svc3.wsdl", &service(format!("{}/three", first.url())));
    dir.write("wsdl/main.wsdl", &main("svc3.wsdl"));
    post_until(&url, "the changed WSDL", || {
        first.requests().iter().any(|r| r.path() == "/three")
    })
    .await;
    dir.write("wsdl/svc3.wsdl", &service(format!("{}/four", third.url())));
    post_until(&url, "the newly imported WSDL", || {
        !third.requests().is_empty()
    })
    .await;
    assert_eq!(third.requests()[0].path(), "/four");
    gw.shutdown().await;
}
