//! End-to-end tests of Synapse projects served as written: `<api>`, `<endpoint>`,
//! `<localEntry>` and `<sequence>` files anywhere in the sequences folder (an MI project's
//! `src/main/synapse-config/`), next to the `[[api]]`s of `synaptic.toml`. Real gateways on
//! 127.0.0.1 in this process.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use synaptic_gateway::{Running, ServeOptions, StartError};
use synaptic_tests::gateway::{assert_reloaded, GatewayDir};
use synaptic_tests::http::{client, get_text, json, url};

/// Copy every file of `src` (recursively) into `dir`, replacing `from` by `to` in the text.
fn copy_tree(src: &Path, rel: &str, dir: &GatewayDir, from: &str, to: &str) {
    let mut entries: Vec<_> = std::fs::read_dir(src.join(rel))
        .unwrap()
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            copy_tree(src, &r, dir, from, to);
        } else {
            let text = std::fs::read_to_string(e.path()).unwrap();
            dir.write(&r, &text.replace(from, to));
        }
    }
}

async fn start_on(dir: &GatewayDir, port: u16) -> Result<Running, StartError> {
    let loaded = synaptic_gateway::load(&dir.config_path()).expect("config loads");
    let opts = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], port))),
        watch: Some(false),
        ..Default::default()
    };
    synaptic_gateway::start(loaded.config, opts)
        .await
        .map(|(r, _)| r)
}

fn started(r: Result<Running, StartError>) -> Running {
    match r {
        Ok(r) => r,
        Err(StartError::Sequences(report)) => {
            panic!("sequences do not load:\n{}", report.render().join("\n"))
        }
        Err(e) => panic!("gateway does not start: {e:?}"),
    }
}

/// The example MI project, on a free port (its endpoint calls the gateway itself).
async fn mi_project() -> (GatewayDir, Running) {
    let port = synaptic_tests::free_port();
    let src = synaptic_tests::workspace_root().join("examples/mi-project");
    let dir = GatewayDir::new("", &[]);
    copy_tree(
        &src,
        "",
        &dir,
        "127.0.0.1:8283",
        &format!("127.0.0.1:{port}"),
    );
    let gw = started(start_on(&dir, port).await);
    (dir, gw)
}

#[tokio::test]
async fn the_mi_project_example_is_served_as_written() {
    let (_dir, gw) = mi_project().await;
    let c = client();
    // GET resource: the in-flow sends to the named endpoint (another API of the project), the
    // out-flow adds a header from the local entry
    let r = c.get(url(&gw, "/orders/1.0/42")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-shop"], "PizzaShack Orders");
    assert_eq!(
        json(r).await,
        serde_json::json!({"id":"42","item":"Margherita","status":"baking"})
    );
    // POST resource: a referenced sequence answers, reading the local entry too
    let r = c
        .post(url(&gw, "/orders/1.0"))
        .header("content-type", "application/json")
        .body(r#"{"item":"Diavola"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        json(r).await,
        serde_json::json!({"accepted":true,"item":"Diavola","shop":"PizzaShack Orders"})
    );
    // no resource takes DELETE, and one matches the path: 405
    let r = c.delete(url(&gw, "/orders/1.0/42")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // GET takes no resource matching `/`: 404
    let r = c.get(url(&gw, "/orders/1.0")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // the version is part of the path
    let r = c.get(url(&gw, "/orders/42")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // the proxy service: the template stamps the order, the failover endpoint passes the
    // refusing main kitchen by and the backup kitchen answers; the out-sequence adds a header
    for _ in 0..2 {
        let r = c
            .post(url(&gw, "/services/KitchenProxy"))
            .header("content-type", "application/json")
            .body(r#"{"pizza":"Diavola"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-kitchen"], "served");
        assert_eq!(
            json(r).await,
            serde_json::json!({"kitchen":"backup","handledBy":"KitchenProxy",
                "shop":"PizzaShack Orders","order":{"pizza":"Diavola"}})
        );
    }
    // the main kitchen is suspended, the backup active
    let m = c.get(url(&gw, "/metrics")).send().await.unwrap();
    let m = m.text().await.unwrap();
    assert!(
        m.contains("synaptic_endpoint_state{endpoint=\"MainKitchenEP\",state=\"suspended\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("synaptic_endpoint_state{endpoint=\"BackupKitchenEP\",state=\"active\"} 1"),
        "{m}"
    );
    gw.shutdown().await;
}

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// An API whose every resource answers with its own name and `uri.var.*`.
fn dispatch_api() -> String {
    let res = |attrs: &str, name: &str| {
        format!(
            r#"<resource {attrs}><inSequence>
                <payloadFactory media-type="json">
                    <format>{{"r":"{name}","id":"$1","rest":"$2"}}</format>
                    <args>
                        <arg evaluator="xml" expression="get-property('uri.var.id')"/>
                        <arg evaluator="xml" expression="get-property('uri.var.rest')"/>
                    </args>
                </payloadFactory>
                <respond/>
            </inSequence></resource>"#
        )
    };
    format!(
        r#"<api {NS} name="Shop" context="/shop/{{version}}/v" version="2" version-type="context">
            {}{}{}{}{}{}
        </api>"#,
        res(r#"methods="GET" uri-template="/items/{id}""#, "item"),
        res(r#"methods="GET" url-mapping="/items/*""#, "items-prefix"),
        res(r#"methods="GET" url-mapping="/items/special""#, "special"),
        res(r#"methods="GET" url-mapping="*.png""#, "png"),
        res(r#"methods="POST" uri-template="/files/{+rest}""#, "files"),
        res(r#"methods="PUT""#, "default"),
    )
}

#[tokio::test]
async fn xml_api_resources_follow_synapse_dispatching_next_to_toml_apis() {
    let origin = "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"hello\">\
        <payloadFactory media-type=\"json\"><format>{\"from\":\"toml\"}</format><args/></payloadFactory>\
        <respond/></sequence>";
    let dir = GatewayDir::new(
        "[server]\nsequences = \"synapse-config\"\n\
         [[api]]\nname = \"Toml\"\ncontext = \"/toml\"\nin_sequence = \"hello\"\n",
        &[
            ("synapse-config/api/deep/Shop.xml", &dispatch_api()),
            ("synapse-config/sequences/hello.xml", origin),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    let get = |p: &str| c.get(url(&gw, p)).send();
    let r = get("/toml/x").await.unwrap();
    assert_eq!(json(r).await["from"], "toml");
    // an exact URL mapping wins over everything
    let v = json(get("/shop/2/v/items/special").await.unwrap()).await;
    assert_eq!(v["r"], "special", "{v}");
    // URL mappings are tried before URI templates: the prefix takes /items/7
    let v = json(get("/shop/2/v/items/7").await.unwrap()).await;
    assert_eq!(v["r"], "items-prefix", "{v}");
    // an extension mapping, when no prefix matches
    let v = json(get("/shop/2/v/pics/a.png").await.unwrap()).await;
    assert_eq!(v["r"], "png", "{v}");
    // a URI template binds uri.var.*
    let v = json(
        c.post(url(&gw, "/shop/2/v/files/a/b%20c"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((&v["r"], &v["rest"]), (&"files".into(), &"a/b c".into()));
    // a resource with neither mapping nor template takes what the others leave
    let v = json(c.put(url(&gw, "/shop/2/v/any/thing")).send().await.unwrap()).await;
    assert_eq!(v["r"], "default", "{v}");
    // a resource takes the method but none matches the path: 404, not 405
    let r = c.post(url(&gw, "/shop/2/v/items/7")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // no resource takes DELETE: 405
    let r = c
        .delete(url(&gw, "/shop/2/v/items/7"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // the version is in place of {version}
    assert_eq!(get("/shop/1/v/items/7").await.unwrap().status(), 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn a_context_served_twice_is_an_error_naming_both_places() {
    let api = format!(
        r#"<api {NS} name="Twice" context="/orders/"><resource><inSequence><respond/></inSequence></resource></api>"#
    );
    let dir = GatewayDir::new(
        "[[api]]\nname = \"Orders\"\ncontext = \"/orders\"\nendpoint = \"http://127.0.0.1:9/x\"\n",
        &[("sequences/api/Twice.xml", &api)],
    );
    let err = start_on(&dir, 0).await.expect_err("refused");
    let StartError::Plan(diags) = err else {
        panic!("expected plan errors, got {err:?}");
    };
    assert_eq!(diags.len(), 1, "{diags:?}");
    let m = &diags[0].message;
    assert_eq!(diags[0].code.id, "E0117");
    assert!(m.contains("\"Orders\"") && m.contains("`Twice`"), "{m}");
    assert!(m.contains("Twice.xml:1:"), "{m}");
}

#[tokio::test]
async fn an_api_without_its_backend_answers_from_its_fault_sequence() {
    let (dir, gw) = mi_project().await;
    // the endpoint now points where nothing listens
    let dead = synaptic_tests::free_port();
    let ep = std::fs::read_to_string(
        dir.path()
            .join("src/main/synapse-config/endpoints/OrderBackendEP.xml"),
    )
    .unwrap();
    let ep = ep.replace(
        &format!("127.0.0.1:{}", gw.addr().port()),
        &format!("127.0.0.1:{dead}"),
    );
    dir.write("src/main/synapse-config/endpoints/OrderBackendEP.xml", &ep);
    assert_reloaded(gw.gateway()).await;
    let r = client()
        .get(url(&gw, "/orders/1.0/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        json(r).await,
        serde_json::json!({"error":"the order service is unavailable","code":"101503"})
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn api_files_reload_and_a_broken_one_keeps_its_previous_version() {
    let api = |answer: &str| {
        format!(
            r#"<api {NS} name="Hot" context="/hot"><resource methods="GET" uri-template="/">
            <inSequence><payloadFactory media-type="json"><format>{{"v":"{answer}"}}</format><args/></payloadFactory>
            <respond/></inSequence></resource></api>"#
        )
    };
    let dir = GatewayDir::new("", &[("sequences/Hot.xml", &api("one"))]);
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    let v = json(c.get(url(&gw, "/hot")).send().await.unwrap()).await;
    assert_eq!(v["v"], "one");
    dir.write("sequences/Hot.xml", &api("two"));
    gw.gateway().reload().await;
    let v = json(c.get(url(&gw, "/hot/")).send().await.unwrap()).await;
    assert_eq!(v["v"], "two");
    // a broken file: the previous version keeps serving
    dir.write("sequences/Hot.xml", &api("three").replace("</api>", ""));
    gw.gateway().reload().await;
    let v = json(c.get(url(&gw, "/hot")).send().await.unwrap()).await;
    assert_eq!(v["v"], "two");
    // a new API file is served after a reload
    dir.write(
        "sequences/more/Cold.xml",
        &api("cold")
            .replace("\"Hot\"", "\"Cold\"")
            .replace("/hot", "/cold"),
    );
    gw.gateway().reload().await;
    let v = json(c.get(url(&gw, "/cold")).send().await.unwrap()).await;
    assert_eq!(v["v"], "cold");
    gw.shutdown().await;
}

#[tokio::test]
async fn the_main_sequence_takes_what_no_api_takes_in_both_directions() {
    let port = synaptic_tests::free_port();
    let main = format!(
        r#"<sequence {NS} name="main">
            <in><send><endpoint><address uri="http://127.0.0.1:{port}/backend"/></endpoint></send></in>
            <out><header name="X-Main" scope="transport" value="out"/><send/></out>
        </sequence>"#
    );
    let backend = format!(
        r#"<api {NS} name="Backend" context="/backend"><resource url-mapping="/*"><inSequence>
            <payloadFactory media-type="json"><format>{{"path":"$1"}}</format>
            <args><arg evaluator="xml" expression="get-property('REST_SUB_REQUEST_PATH')"/></args></payloadFactory>
            <respond/></inSequence></resource></api>"#
    );
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/main.xml", &main),
            ("sequences/Backend.xml", &backend),
        ],
    );
    let gw = started(start_on(&dir, port).await);
    let r = client().get(url(&gw, "/zzz/y")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-main"], "out");
    let v = json(r).await;
    assert!(v.get("path").is_some(), "{v}");
    // an API still takes its own requests
    let r = client().get(url(&gw, "/backend/q")).send().await.unwrap();
    assert!(r.headers().get("x-main").is_none());
    gw.shutdown().await;
}

#[tokio::test]
async fn api_and_resource_checks_choose_requests_as_synapse_does() {
    let port = synaptic_tests::free_port();
    let answer = |name: &str| {
        format!(
            r#"<inSequence><payloadFactory media-type="json"><format>{{"r":"{name}"}}</format><args/></payloadFactory><respond/></inSequence>"#
        )
    };
    let checks = format!(
        r#"<api {NS} name="Checks" context="/checks" hostname="localhost" port="{port}">
            <resource methods="POST" uri-template="/json" content-type="application/json">{}</resource>
            <resource methods="GET" uri-template="/agent" user-agent="synaptic-test/[0-9.]+">{}</resource>
            <resource methods="GET" uri-template="/secure" protocol="https">{}</resource>
        </api>"#,
        answer("json"),
        answer("agent"),
        answer("secure"),
    );
    let tls_only = format!(
        r#"<api {NS} name="TlsOnly" context="/tls" transports="https">
            <resource methods="GET" url-mapping="/*">{}</resource></api>"#,
        answer("tls")
    );
    let main = format!(
        r#"<sequence {NS} name="main">{}</sequence>"#,
        answer("main")
    )
    .replace("<inSequence>", "")
    .replace("</inSequence>", "");
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/Checks.xml", &checks),
            ("sequences/TlsOnly.xml", &tls_only),
            ("sequences/main.xml", &main),
        ],
    );
    let gw = started(start_on(&dir, port).await);
    let c = client();
    let local = |p: &str| format!("http://localhost:{port}{p}");
    let r = |resp: reqwest::Response| async move {
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().await.unwrap();
        (status, v["r"].as_str().map(str::to_string), v)
    };
    // the API's host and port: `localhost:{port}` only; another Host goes on to `main`
    let ok = c
        .post(local("/checks/json"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r(ok).await.1.as_deref(), Some("json"));
    let other = c
        .post(url(&gw, "/checks/json"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r(other).await.1.as_deref(), Some("main"));
    // a body of another content type: the resource takes POST, so 400
    let bad = c
        .post(local("/checks/json"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    let (status, _, v) = r(bad).await;
    assert_eq!(status, 400);
    assert_eq!(v["fault"]["code"], 400004, "{v}");
    // the whole user agent must match
    for (agent, want) in [("synaptic-test/1.2", 200), ("x synaptic-test/1.2", 400)] {
        let resp = c
            .get(local("/checks/agent"))
            .header("user-agent", agent)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), want, "{agent}");
    }
    // HTTPS only, on a plain listener
    let resp = c.get(local("/checks/secure")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    // an API for HTTPS only: a plain request goes on to `main`
    let resp = c.get(url(&gw, "/tls/x")).send().await.unwrap();
    assert_eq!(r(resp).await.1.as_deref(), Some("main"));
    gw.shutdown().await;
}

#[tokio::test]
async fn an_artifact_that_does_not_compile_is_not_deployed_unless_strict() {
    let good = format!(
        r#"<api {NS} name="Good" context="/good"><resource methods="GET"><inSequence>
            <payloadFactory media-type="json"><format>{{"ok":true}}</format><args/></payloadFactory>
            <respond/></inSequence></resource></api>"#
    );
    // does not compile (a scope Synapse does not have)
    let broken = format!(
        r#"<api {NS} name="Broken" context="/broken"><resource methods="GET"><inSequence>
            <property name="p" value="1" scope="axis3"/></inSequence></resource></api>"#
    );
    // depends on a file that does not parse
    let dependent = format!(
        r#"<api {NS} name="Dependent" context="/dep"><resource methods="GET" inSequence="half"/></api>"#
    );
    let half = format!(r#"<sequence {NS} name="half"><log/>"#);
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/api/Good.xml", &good),
            ("sequences/api/Broken.xml", &broken),
            ("sequences/api/Dependent.xml", &dependent),
            ("sequences/half.xml", &half),
        ],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap();
    let opts = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: Some(false),
        ..Default::default()
    };
    let (gw, report) = synaptic_gateway::start(loaded.config, opts.clone())
        .await
        .expect("the rest is deployed");
    let names: Vec<&str> = report
        .undeployed
        .iter()
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .collect();
    assert_eq!(
        names,
        ["Broken.xml", "Dependent.xml", "half.xml"],
        "{report:?}"
    );
    let rendered = report.render().join("\n");
    assert!(rendered.contains("Broken.xml:2:"), "{rendered}");
    let c = client();
    assert_eq!(c.get(url(&gw, "/good")).send().await.unwrap().status(), 200);
    assert_eq!(
        c.get(url(&gw, "/broken")).send().await.unwrap().status(),
        404
    );
    assert_eq!(c.get(url(&gw, "/dep")).send().await.unwrap().status(), 404);
    gw.shutdown().await;
    // --strict refuses
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap();
    let strict = ServeOptions {
        strict: true,
        ..opts
    };
    match synaptic_gateway::start(loaded.config, strict).await {
        Err(StartError::Sequences(report)) => assert!(report.has_errors()),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

/// As in Synapse, an artifact naming a sequence no file defines is deployed: a message that
/// reaches the name faults with Synapse's message (the fault sequence runs), and once a reload
/// deploys the sequence the same artifact runs it.
#[tokio::test]
async fn an_unresolved_sequence_faults_until_a_reload_deploys_it() {
    let api = format!(
        r#"<api {NS} name="Lazy" context="/lazy">
            <resource methods="GET" uri-template="/flow" inSequence="later" faultSequence="onFault"/>
            <resource methods="GET" uri-template="/key" faultSequence="notThere"><inSequence>
              <sequence key="later"/><respond/></inSequence></resource>
          </api>"#
    );
    let fault_seq = |name: &str, who: &str| {
        format!(
            r#"<sequence {NS} name="{name}">
            <payloadFactory media-type="json"><format>{{"by":"{who}","error":"$1"}}</format>
              <args><arg evaluator="xml" expression="get-property('ERROR_MESSAGE')"/></args></payloadFactory>
            <property name="HTTP_SC" value="500" scope="axis2"/><respond/></sequence>"#
        )
    };
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/api/Lazy.xml", &api),
            ("sequences/onFault.xml", &fault_seq("onFault", "onFault")),
            ("sequences/fault.xml", &fault_seq("fault", "fault")),
        ],
    );
    let loaded = synaptic_gateway::load(&dir.config_path()).unwrap();
    let opts = ServeOptions {
        listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: Some(false),
        // warnings do not stop a strict start
        strict: true,
        ..Default::default()
    };
    let (gw, report) = synaptic_gateway::start(loaded.config, opts)
        .await
        .expect("deployed");
    assert!(report.undeployed.is_empty(), "{report:?}");
    let rendered = report.render().join("\n");
    assert!(rendered.contains("warning[W0304]"), "{rendered}");
    let c = client();
    let r = c.get(url(&gw, "/lazy/flow")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        json(r).await,
        serde_json::json!({"by":"onFault","error":"Specified sequence: later cannot be found"})
    );
    // a fault sequence no file defines gives way to `fault`
    let r = c.get(url(&gw, "/lazy/key")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(
        json(r).await,
        serde_json::json!({
            "by":"fault",
            "error":"Sequence named Value {name ='null', keyValue ='later'} cannot be found"
        })
    );
    // the sequence arrives: both references run it, the API file untouched
    dir.write(
        "sequences/later.xml",
        &format!(
            r#"<sequence {NS} name="later">
            <payloadFactory media-type="json"><format>{{"v":"later"}}</format><args/></payloadFactory>
            <respond/></sequence>"#
        ),
    );
    assert_reloaded(gw.gateway()).await;
    for path in ["/lazy/flow", "/lazy/key"] {
        let r = c.get(url(&gw, path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(json(r).await, serde_json::json!({"v":"later"}), "{path}");
    }
    gw.shutdown().await;
}

/// A proxy service in front of an echoing backend: SOAP 1.1 and 1.2 clients and a REST client.
fn soap_proxy(backend: &str) -> String {
    format!(
        r#"<proxy {NS} name="StockQuote" transports="http https" startOnLoad="true">
            <target>
              <inSequence>
                <property name="action" expression="get-property('Action')"/>
                <header name="X-Action" scope="transport" expression="get-property('action')"/>
                <header name="X-Soap" scope="transport" expression="$axis2:messageType"/>
              </inSequence>
              <endpoint><address uri="{backend}/quotes"/></endpoint>
              <outSequence><header name="X-Out" scope="transport" value="yes"/><send/></outSequence>
              <faultSequence><payloadFactory media-type="json"><format>{{"fault":"$1"}}</format>
                <args><arg evaluator="xml" expression="get-property('ERROR_CODE')"/></args>
                </payloadFactory><respond/></faultSequence>
            </target>
            <publishWSDL><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" name="StockQuote"/></publishWSDL>
          </proxy>"#
    )
}

#[tokio::test]
async fn a_proxy_service_serves_soap_and_rest_clients_under_services() {
    let backend = synaptic_tests::origin::MockOrigin::echo().await;
    let dir = GatewayDir::new(
        "",
        &[(
            "sequences/proxy-services/StockQuote.xml",
            &soap_proxy(&backend.url()),
        )],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    let soap11 = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><getQuote><symbol>IBM</symbol></getQuote></soapenv:Body></soapenv:Envelope>"#;
    let r = c
        .post(url(&gw, "/services/StockQuote"))
        .header("content-type", "text/xml; charset=UTF-8")
        .header("SOAPAction", "\"urn:getQuote\"")
        .body(soap11)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-out"], "yes");
    let v = json(r).await;
    assert_eq!(v["method"], "POST");
    assert_eq!(v["uri"], "/quotes");
    assert_eq!(v["headers"]["x-action"], "urn:getQuote");
    assert_eq!(v["headers"]["x-soap"], "text/xml");
    assert!(
        v["body"].as_str().unwrap().contains("<symbol>IBM</symbol>"),
        "{v}"
    );
    // SOAP 1.2: the action is a parameter of the content type
    let soap12 = soap11.replace(
        "http://schemas.xmlsoap.org/soap/envelope/",
        "http://www.w3.org/2003/05/soap-envelope",
    );
    let r = c
        .post(url(&gw, "/services/StockQuote"))
        .header(
            "content-type",
            "application/soap+xml; charset=UTF-8; action=\"urn:getQuote12\"",
        )
        .body(soap12)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["headers"]["x-action"], "urn:getQuote12");
    assert_eq!(v["headers"]["x-soap"], "application/soap+xml");
    assert!(v["body"].as_str().unwrap().contains("soap-envelope"), "{v}");
    // a REST client below the service's path: the rest of the path follows
    let r = c
        .get(url(&gw, "/services/StockQuote/symbols/IBM?full=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r).await;
    assert_eq!(v["method"], "GET");
    assert_eq!(v["uri"], "/quotes/symbols/IBM?full=1");
    // the published WSDL
    let r = c
        .get(url(&gw, "/services/StockQuote?wsdl"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("name=\"StockQuote\""));
    assert_eq!(backend.count(), 3);
    // another service name: 404
    let r = c.get(url(&gw, "/services/Other")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn proxy_files_deploy_one_by_one_and_reload() {
    let proxy = |name: &str, answer: &str| {
        format!(
            r#"<proxy {NS} name="{name}"><target><inSequence>
                <payloadFactory media-type="json"><format>{{"v":"{answer}"}}</format><args/></payloadFactory>
                <respond/></inSequence></target></proxy>"#
        )
    };
    // a proxy naming an in-sequence no file defines is deployed and faults as Synapse's does
    let broken = format!(r#"<proxy {NS} name="Broken"><target inSequence="nowhere"/></proxy>"#);
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/A.xml", &proxy("A", "one")),
            ("sequences/Broken.xml", &broken),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    let v = json(c.get(url(&gw, "/services/A")).send().await.unwrap()).await;
    assert_eq!(v["v"], "one");
    let r = c.get(url(&gw, "/services/Broken")).send().await.unwrap();
    assert_eq!(r.status(), 500);
    let t = r.text().await.unwrap();
    assert!(t.contains("Unable to find in-sequence : nowhere"), "{t}");
    // no published WSDL: the one Axis2 generates, rather than a request to the in-sequence
    let r = c.get(url(&gw, "/services/A?wsdl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let t = r.text().await.unwrap();
    assert!(t.contains(r#"<wsdl:portType name="APortType">"#), "{t}");
    dir.write("sequences/A.xml", &proxy("A", "two"));
    dir.write("sequences/B.xml", &proxy("B", "bee"));
    gw.gateway().reload().await;
    let v = json(c.post(url(&gw, "/services/A")).send().await.unwrap()).await;
    assert_eq!(v["v"], "two");
    let v = json(c.get(url(&gw, "/services/B/x")).send().await.unwrap()).await;
    assert_eq!(v["v"], "bee");
    gw.shutdown().await;
}

/// The ports of a WSDL document: name and address location.
fn wsdl_ports(doc: &str) -> Vec<(String, String)> {
    let root = synaptic_payload::xml::parse(doc).unwrap_or_else(|e| panic!("{e:?}: {doc}"));
    let wsdl = "http://schemas.xmlsoap.org/wsdl/";
    let service = root.find(wsdl, "service").expect("a service");
    service
        .child_elements()
        .filter(|p| p.name.is(wsdl, "port"))
        .map(|p| {
            let address = p.first_child_element().expect("an address");
            (
                p.attribute("name").unwrap().to_string(),
                address.attribute("location").unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_without_a_wsdl_answers_the_wsdl_axis2_generates_with_working_ports() {
    let pki = synaptic_tests::peers::TestCa::new();
    let (cert, key) = pki.leaf(&["localhost"], "default");
    let config = r#"[server]
listen_tls = "127.0.0.1:0"

[server.tls]
cert = "certs/default.pem"
key = "certs/default.key"
"#;
    let echo = operation_proxy("Echo", "");
    let plain = operation_proxy(
        "Plain",
        r#"<parameter name="disableSOAP12">true</parameter><parameter name="disableREST">true</parameter>"#,
    )
    .replace(r#"name="Plain""#, r#"name="Plain" transports="http""#);
    let dir = GatewayDir::new(
        config,
        &[
            ("certs/default.pem", &cert),
            ("certs/default.key", &key),
            ("sequences/proxy-services/Echo.xml", &echo),
            ("sequences/proxy-services/Plain.xml", &plain),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let http = gw.addr().port();
    let tls = gw.tls_addr().expect("an HTTPS listener");
    let c = client();
    let r = c.get(url(&gw, "/services/Echo?wsdl")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
    let t = r.text().await.unwrap();
    assert!(
        t.contains(r#"targetNamespace="http://ws.apache.org/axis2""#),
        "{t}"
    );
    // one port per binding and listener, at the request's host and each listener's port
    let ports = wsdl_ports(&t);
    let expected: Vec<(String, String)> = [
        ("HttpSoap11", "http", http),
        ("HttpsSoap11", "https", tls.port()),
        ("HttpSoap12", "http", http),
        ("HttpsSoap12", "https", tls.port()),
        ("Http", "http", http),
        ("Https", "https", tls.port()),
    ]
    .iter()
    .map(|(e, scheme, port)| {
        (
            format!("Echo{e}Endpoint"),
            format!("{scheme}://127.0.0.1:{port}/services/Echo.Echo{e}Endpoint"),
        )
    })
    .collect();
    assert_eq!(ports, expected);
    // the WSDL 2.0 Axis2 generates: the same endpoints
    let t = get_text(&c, &url(&gw, "/services/Echo?wsdl2")).await;
    let root = synaptic_payload::xml::parse(&t).unwrap_or_else(|e| panic!("{e:?}: {t}"));
    let wsdl2 = "http://www.w3.org/ns/wsdl";
    assert!(root.name.is(wsdl2, "description"), "{t}");
    let endpoints: Vec<(String, String)> = root
        .find(wsdl2, "service")
        .unwrap()
        .child_elements()
        .map(|e| {
            let a = |n: &str| e.attribute(n).unwrap().to_string();
            (a("name"), a("address"))
        })
        .collect();
    assert_eq!(endpoints, expected);
    // each plain port's address reaches the proxy, dispatched to `mediate`
    let soap11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m/></s:Body></s:Envelope>"#;
    let soap12 = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><m/></s:Body></s:Envelope>"#;
    for (port, content_type, body) in [
        (&ports[0].1, "text/xml", soap11),
        (&ports[2].1, "application/soap+xml", soap12),
        (&ports[4].1, "application/xml", "<m/>"),
    ] {
        let r = c
            .post(port.as_str())
            .header("content-type", content_type)
            .header("SOAPAction", "urn:mediate")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{port}");
        let v = json(r).await;
        assert_eq!(v["op"], "mediate", "{port}");
    }
    // over HTTPS: the request's host and port for the HTTPS ports, the HTTP listener's port
    // for the others
    let tls_client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pki.pem().as_bytes()).unwrap())
        .resolve("localhost", tls)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let at = format!("https://localhost:{}/services/Echo?wsdl", tls.port());
    let t = get_text(&tls_client, &at).await;
    let ports = wsdl_ports(&t);
    assert_eq!(
        ports[0].1,
        format!("http://localhost:{http}/services/Echo.EchoHttpSoap11Endpoint")
    );
    assert_eq!(
        ports[1].1,
        format!(
            "https://localhost:{}/services/Echo.EchoHttpsSoap11Endpoint",
            tls.port()
        )
    );
    let r = tls_client
        .post(ports[1].1.as_str())
        .header("content-type", "text/xml")
        .body(soap11)
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["op"], "mediate");
    // the bindings the parameters disable, and the transports the proxy is not exposed on,
    // have no ports (nor addresses the proxy answers at)
    let t = get_text(&c, &url(&gw, "/services/Plain?wsdl")).await;
    assert_eq!(
        wsdl_ports(&t),
        [(
            "PlainHttpSoap11Endpoint".to_string(),
            format!("http://127.0.0.1:{http}/services/Plain.PlainHttpSoap11Endpoint")
        )]
    );
    let r = c
        .post(url(&gw, "/services/Plain.PlainHttpSoap12Endpoint"))
        .header("content-type", "text/xml")
        .body(soap11)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    gw.shutdown().await;
}

/// A WSDL 1.1 document of the port type `PT` in the namespace `tns`, with `getQuote` (SOAP
/// action `urn:getQuote`) and `placeOrder`, importing the schema `common.xsd`.
fn published_wsdl(tns: &str) -> String {
    format!(
        r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{tns}" targetNamespace="{tns}">
  <wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:import namespace="urn:common" schemaLocation="common.xsd"/></xsd:schema></wsdl:types>
  <wsdl:portType name="PT"><wsdl:operation name="getQuote"/><wsdl:operation name="placeOrder"/></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT">
    <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation>
  </wsdl:binding>
</wsdl:definitions>"#
    )
}

/// A proxy answering the operation it was dispatched to, publishing `publish`.
fn operation_proxy(name: &str, publish: &str) -> String {
    format!(
        r#"<proxy {NS} name="{name}"><target><inSequence>
            <payloadFactory media-type="json"><format>{{"op":"$1","ns":"$2"}}</format><args>
              <arg expression="get-property('OperationName')"/>
              <arg expression="get-property('OperationNamespace')"/>
            </args></payloadFactory>
            <respond/></inSequence></target>{publish}</proxy>"#
    )
}

#[tokio::test]
async fn a_proxy_publishes_the_wsdl_of_a_local_entry_a_registry_resource_or_a_file() {
    let quotes = format!(
        r#"<localEntry {NS} key="quotes.wsdl">{}</localEntry>"#,
        published_wsdl("urn:quotes")
    );
    let common = format!(
        r#"<localEntry {NS} key="common.xsd"><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:common"/></localEntry>"#
    );
    let keyed = operation_proxy(
        "Keyed",
        r#"<publishWSDL key="quotes.wsdl"><resource location="common.xsd" key="common.xsd"/></publishWSDL>"#,
    );
    let from_file = operation_proxy("FromFile", r#"<publishWSDL uri="file:wsdl/orders.wsdl"/>"#);
    let from_registry = operation_proxy(
        "FromRegistry",
        r#"<publishWSDL key="gov:/wsdl/registry.wsdl"/>"#,
    );
    // Synapse does not deploy a proxy whose WSDL key names nothing, and does not start one
    // whose WSDL file cannot be read in safe mode
    let missing = operation_proxy("Missing", r#"<publishWSDL key="gov:/wsdl/none.wsdl"/>"#);
    let safe = operation_proxy(
        "Safe",
        r#"<publishWSDL uri="wsdl/none.wsdl"/><parameter name="enablePublishWSDLSafeMode">true</parameter>"#,
    );
    let orders = published_wsdl("urn:orders");
    let registry = published_wsdl("urn:registry");
    let common_file = r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:common"/>"#;
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/local-entries/quotes.xml", &quotes),
            ("sequences/local-entries/common.xml", &common),
            ("sequences/proxy-services/Keyed.xml", &keyed),
            ("sequences/proxy-services/FromFile.xml", &from_file),
            ("sequences/proxy-services/FromRegistry.xml", &from_registry),
            ("sequences/proxy-services/Missing.xml", &missing),
            ("sequences/proxy-services/Safe.xml", &safe),
            ("sequences/wsdl/orders.wsdl", &orders),
            ("registry/gov/wsdl/registry.wsdl", &registry),
            // the schema the file's WSDL imports, relative to it, and the registry's,
            // relative to the project
            ("sequences/wsdl/common.xsd", common_file),
            ("sequences/common.xsd", common_file),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    let get = |path: &str| c.get(url(&gw, path)).send();
    // the published documents, and the schema the first one imports
    for (proxy, tns) in [
        ("Keyed", "urn:quotes"),
        ("FromFile", "urn:orders"),
        ("FromRegistry", "urn:registry"),
    ] {
        let r = get(&format!("/services/{proxy}?wsdl")).await.unwrap();
        assert_eq!(r.status(), 200, "{proxy}");
        assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
        let t = r.text().await.unwrap();
        assert!(t.contains(&format!("targetNamespace=\"{tns}\"")), "{t}");
        // the import points at the schema through the proxy, by Axis2's name for it
        assert!(
            t.contains(&format!(r#"schemaLocation="{proxy}?xsd=common.xsd""#)),
            "{t}"
        );
    }
    // `?xsd` without a name: the WSDL's one schema, its import pointing through the proxy
    let t = get_text(&c, &url(&gw, "/services/Keyed?xsd")).await;
    assert!(
        t.starts_with("<xsd:schema") && t.contains(r#"schemaLocation="Keyed?xsd=common.xsd""#),
        "{t}"
    );
    let r = get("/services/Keyed?xsd=common.xsd").await.unwrap();
    assert_eq!(r.status(), 200);
    let t = r.text().await.unwrap();
    assert!(t.contains("targetNamespace=\"urn:common\""), "{t}");
    assert_eq!(
        get("/services/Keyed?xsd=other.xsd").await.unwrap().status(),
        404
    );
    // requests are dispatched to the operations of the published document
    let soap = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getQuote/></s:Body></s:Envelope>"#;
    let post = |path: &str, action: Option<&str>| {
        let mut r = c
            .post(url(&gw, path))
            .header("content-type", "text/xml")
            .body(soap);
        if let Some(a) = action {
            r = r.header("SOAPAction", a);
        }
        r.send()
    };
    let v = json(
        post("/services/Keyed", Some("\"urn:getQuote\""))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (v["op"].as_str(), v["ns"].as_str()),
        (Some("getQuote"), Some("urn:quotes"))
    );
    let v = json(post("/services/FromFile/placeOrder", None).await.unwrap()).await;
    assert_eq!(
        (v["op"].as_str(), v["ns"].as_str()),
        (Some("placeOrder"), Some("urn:orders"))
    );
    let v = json(
        post("/services/FromRegistry", Some("urn:getQuote"))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (v["op"].as_str(), v["ns"].as_str()),
        (Some("getQuote"), Some("urn:registry"))
    );
    // no operation of that action: `mediate`, without a namespace
    let v = json(post("/services/Keyed", Some("urn:nothing")).await.unwrap()).await;
    assert_eq!(
        (v["op"].as_str(), v["ns"].as_str()),
        (Some("mediate"), Some(""))
    );
    // neither the proxy whose key names nothing nor the unstarted one is served
    for proxy in ["Missing", "Safe"] {
        let r = post(&format!("/services/{proxy}"), None).await.unwrap();
        assert_eq!(r.status(), 404, "{proxy}");
    }
    gw.shutdown().await;
}

/// The `schemaLocation`s written in `doc`, unescaped.
fn schema_locations(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("schemaLocation=") {
        rest = &rest[i + "schemaLocation=".len()..];
        let q = rest.chars().next().unwrap();
        let end = rest[1..].find(q).unwrap();
        out.push(rest[1..1 + end].replace("&amp;", "&"));
        rest = &rest[1 + end..];
    }
    out
}

#[tokio::test]
async fn a_client_fetches_a_published_wsdls_schemas_through_the_rewritten_locations() {
    let wsdl = published_wsdl("urn:chain").replace(
        r#"<xsd:import namespace="urn:common" schemaLocation="common.xsd"/>"#,
        r#"<xsd:import namespace="urn:common" schemaLocation="common.xsd"/><xsd:import namespace="urn:order" schemaLocation="types/order.xsd"/>"#,
    );
    let xs = |tns: &str, refs: &str| {
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{tns}">{refs}<xs:element name="e"/></xs:schema>"#
        )
    };
    let common = xs("urn:common", "");
    let order = xs(
        "urn:order",
        r#"<xs:include schemaLocation="order-lines.xsd"/><xs:import namespace="urn:ids" schemaLocation="../shared/ids"/><xs:import namespace="urn:common" schemaLocation="common.xsd"/>"#,
    );
    let lines = xs("urn:order", "");
    let ids = xs("urn:ids", "");
    let chained = operation_proxy(
        "Chained",
        r#"<publishWSDL uri="file:wsdl/chain.wsdl"><resource location="common.xsd" key="conf:/schemas/common.xsd"/></publishWSDL>"#,
    );
    let broken = operation_proxy("Broken", r#"<publishWSDL uri="file:wsdl/broken.wsdl"/>"#);
    let broken_wsdl = published_wsdl("urn:broken").replace("common.xsd", "nowhere.xsd");
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/proxy-services/Chained.xml", &chained),
            ("sequences/proxy-services/Broken.xml", &broken),
            ("sequences/wsdl/chain.wsdl", &wsdl),
            ("sequences/wsdl/broken.wsdl", &broken_wsdl),
            ("sequences/wsdl/types/order.xsd", &order),
            ("sequences/wsdl/types/order-lines.xsd", &lines),
            ("sequences/wsdl/shared/ids", &ids),
            ("registry/conf/schemas/common.xsd", &common),
        ],
    );
    let (gw, report) = start_reporting(&dir).await;
    // a schema that cannot be read: the proxy is not deployed, said where its WSDL is named
    assert_broken(&gw, &report, "`nowhere.xsd` of the WSDL cannot be read").await;
    let c = client();

    // follow every location from the WSDL, as a SOAP toolkit does
    let fetched = crawl(&c, &gw, "Chained").await;
    let mut schemas = Vec::new();
    for (q, t) in &fetched[1..] {
        assert!(
            q.starts_with("xsd=") && t.starts_with("<xs:schema"),
            "{q}: {t}"
        );
        schemas.push(q.as_str());
    }
    schemas.sort();
    // Axis2's names: a registry key's or a file's last segment, `xsd0` for one without
    // `.xsd`; each schema served once, whoever imports it
    assert_eq!(
        schemas,
        [
            "xsd=common.xsd",
            "xsd=order-lines.xsd",
            "xsd=order.xsd",
            "xsd=xsd0.xsd"
        ]
    );
    let ids = get_text(&c, &url(&gw, "/services/Chained?xsd=xsd0.xsd")).await;
    assert!(ids.contains(r#"targetNamespace="urn:ids""#), "{ids}");
    // a location as written is not a name
    for asked in ["types/order.xsd", "../shared/ids", "nothing.xsd"] {
        let r = c
            .get(url(&gw, &format!("/services/Chained?xsd={asked}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{asked}");
    }
    gw.shutdown().await;
}

/// The load `report` says the proxy `Broken` is not deployed (E0123 saying `says`), and it is
/// not served.
async fn assert_broken(gw: &Running, report: &[String], says: &str) {
    let report = report.join("\n");
    assert!(
        report.contains("E0123") && report.contains(says),
        "{report}"
    );
    let r = client()
        .get(url(gw, "/services/Broken?wsdl"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The queries of the documents [`crawl`] fetched, sorted.
fn sorted_queries(fetched: &[(String, String)]) -> Vec<&str> {
    let mut queries: Vec<&str> = fetched.iter().map(|(q, _)| q.as_str()).collect();
    queries.sort();
    queries
}

/// The document [`crawl`] fetched with the query `q`.
fn fetched_at<'f>(fetched: &'f [(String, String)], q: &str) -> &'f str {
    &fetched.iter().find(|(x, _)| x == q).unwrap().1
}

/// Every document a client reaches from `proxy`'s `?wsdl` by following the `wsdl:import`
/// and `schemaLocation`s (each must point through the proxy: `{proxy}?wsdl=` or
/// `{proxy}?xsd=`), each fetched once: its query and text, the WSDL first.
async fn crawl(c: &reqwest::Client, gw: &Running, proxy: &str) -> Vec<(String, String)> {
    let start = reqwest::Url::parse(&url(gw, &format!("/services/{proxy}?wsdl"))).unwrap();
    let mut todo = vec![start.clone()];
    let mut seen: Vec<String> = vec![start.to_string()];
    let mut fetched = Vec::new();
    while let Some(u) = todo.pop() {
        let r = c.get(u.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200, "{u}");
        assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
        let t = r.text().await.unwrap();
        let locations: Vec<String> = wsdl_import_locations(&t)
            .into_iter()
            .chain(schema_locations(&t))
            .collect();
        fetched.push((u.query().unwrap_or("").to_string(), t));
        for l in locations {
            let through = [format!("{proxy}?wsdl="), format!("{proxy}?xsd=")];
            assert!(
                through.iter().any(|p| l.starts_with(p.as_str())),
                "{u}: {l}"
            );
            let next = u.join(&l).unwrap();
            if !seen.contains(&next.to_string()) {
                seen.push(next.to_string());
                todo.push(next);
            }
        }
    }
    fetched
}

/// The `location`s of the `wsdl:import`s of a WSDL 1.1 document, or of the `import`s and
/// `include`s of a WSDL 2.0 one (none for a schema).
fn wsdl_import_locations(doc: &str) -> Vec<String> {
    let root = synaptic_payload::xml::parse(doc).unwrap_or_else(|e| panic!("{e:?}: {doc}"));
    let (wsdl11, wsdl20) = (
        "http://schemas.xmlsoap.org/wsdl/",
        "http://www.w3.org/ns/wsdl",
    );
    root.child_elements()
        .filter(|c| {
            c.name.is(wsdl11, "import")
                || c.name.is(wsdl20, "import")
                || c.name.is(wsdl20, "include")
        })
        .filter_map(|c| c.attribute("location").map(str::to_string))
        .collect()
}

#[tokio::test]
async fn a_client_follows_a_published_wsdls_imports_and_their_schemas_through_the_proxy() {
    let wsdl_doc = |tns: &str, imports: &str, types: &str, rest: &str| {
        format!(
            r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="{tns}" targetNamespace="{tns}">{imports}
  <wsdl:types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">{types}</xsd:schema></wsdl:types>{rest}
</wsdl:definitions>"#
        )
    };
    // the published WSDL binds the port type of the WSDL it imports, which imports another
    let main = wsdl_doc(
        "urn:main",
        r#"<wsdl:import namespace="urn:quotes" location="abstract/quotes.wsdl"/>"#,
        "",
        r#"<wsdl:binding name="B" type="q:PT" xmlns:q="urn:quotes">
    <wsdl:operation name="getQuote"><soap:operation soapAction="urn:getQuote"/></wsdl:operation></wsdl:binding>
  <wsdl:service name="Quotes"><wsdl:port name="QuotesPort" binding="tns:B"><soap:address location="http://backend.example:9000/quotes"/></wsdl:port></wsdl:service>"#,
    );
    let quotes = wsdl_doc(
        "urn:quotes",
        r#"<wsdl:import namespace="urn:base" location="../shared/base.wsdl"/>"#,
        r#"<xsd:import namespace="urn:types" schemaLocation="types.xsd"/>"#,
        r#"<wsdl:portType name="PT"><wsdl:operation name="getQuote"/></wsdl:portType>"#,
    );
    let base = wsdl_doc(
        "urn:base",
        "",
        r#"<xsd:import namespace="urn:common" schemaLocation="common.xsd"/>"#,
        r#"<wsdl:portType name="Base"><wsdl:operation name="ping"/></wsdl:portType>"#,
    );
    let xs = |tns: &str, refs: &str| {
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{tns}">{refs}<xs:element name="e"/></xs:schema>"#
        )
    };
    let types = xs(
        "urn:types",
        r#"<xs:import namespace="urn:common" schemaLocation="../shared/common.xsd"/>"#,
    );
    let common = xs("urn:common", "");
    let proxy = operation_proxy("Imports", r#"<publishWSDL uri="file:wsdl/main.wsdl"/>"#);
    let broken = operation_proxy("Broken", r#"<publishWSDL uri="file:wsdl/broken.wsdl"/>"#);
    let broken_wsdl = main.replace("abstract/quotes.wsdl", "abstract/nowhere.wsdl");
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/proxy-services/Imports.xml", &proxy),
            ("sequences/proxy-services/Broken.xml", &broken),
            ("sequences/wsdl/main.wsdl", &main),
            ("sequences/wsdl/broken.wsdl", &broken_wsdl),
            ("sequences/wsdl/abstract/quotes.wsdl", &quotes),
            ("sequences/wsdl/abstract/types.xsd", &types),
            ("sequences/wsdl/shared/base.wsdl", &base),
            ("sequences/wsdl/shared/common.xsd", &common),
        ],
    );
    let (gw, report) = start_reporting(&dir).await;
    // an import that cannot be read: the proxy is not deployed, as for a schema
    let says = "`abstract/nowhere.wsdl` that the WSDL imports cannot be read";
    assert_broken(&gw, &report, says).await;
    let c = client();

    // follow every import and schema location from the WSDL, as a SOAP toolkit does
    let fetched = crawl(&c, &gw, "Imports").await;
    assert_eq!(
        sorted_queries(&fetched),
        [
            "wsdl",
            "wsdl=../shared/base.wsdl",
            "wsdl=abstract/quotes.wsdl",
            "xsd=common.xsd",
            "xsd=types.xsd"
        ]
    );
    let doc = |q: &str| fetched_at(&fetched, q);
    assert!(doc("wsdl=abstract/quotes.wsdl").contains(r#"targetNamespace="urn:quotes""#));
    assert!(doc("wsdl=../shared/base.wsdl").contains(r#"targetNamespace="urn:base""#));
    assert!(doc("xsd=common.xsd").contains(r#"targetNamespace="urn:common""#));
    // looked up by the end of the location; a name no import ends with is not found
    let r = c
        .get(url(&gw, "/services/Imports?wsdl=base.wsdl"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("urn:base"));
    let r = c
        .get(url(&gw, "/services/Imports?wsdl=other.wsdl"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // the port's address is the proxy's, at the request's host
    let t = get_text(&c, &url(&gw, "/services/Imports?wsdl")).await;
    assert_eq!(
        wsdl_ports(&t),
        [(
            "QuotesPort".to_string(),
            format!("http://{}/services/Imports", gw.addr())
        )]
    );
    // `?xsd` without a name: the schemas of the documents' types are three, so nothing, as
    // Micro Integrator answers; `id` picks one
    let get = |q: &str| c.get(url(&gw, &format!("/services/Imports?{q}"))).send();
    let r = get("xsd").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "");
    let r = get("xsd&id=1").await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/xml; charset=utf-8");
    let t = r.text().await.unwrap();
    assert!(
        t.starts_with("<xsd:schema") && t.contains(r#"schemaLocation="Imports?xsd=types.xsd""#),
        "{t}"
    );
    let t = get("xsd&id=7").await.unwrap().text().await.unwrap();
    assert!(t.contains("Schema not found"), "{t}");
    // requests are dispatched to the operations of the imported port types
    assert_dispatched(
        &gw,
        &[
            (
                Some("urn:getQuote"),
                "/services/Imports",
                "getQuote",
                "urn:quotes",
            ),
            (None, "/services/Imports/ping", "ping", "urn:base"),
        ],
    )
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn a_client_follows_a_published_wsdl20_descriptions_imports_and_includes_through_the_proxy() {
    let description = |tns: &str, links: &str, types: &str, rest: &str| {
        format!(
            r#"<description xmlns="http://www.w3.org/ns/wsdl" xmlns:tns="{tns}" xmlns:q="urn:quotes"
    xmlns:base="urn:base" xmlns:wsaw="http://www.w3.org/2006/05/addressing/wsdl" targetNamespace="{tns}">{links}
  <types><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema">{types}</xsd:schema></types>{rest}
</description>"#
        )
    };
    // the published description's service uses the interface of the description it
    // imports, which extends one that imports in turn; an included description brings a
    // schema of its own
    let main = description(
        "urn:main",
        r#"<import namespace="urn:quotes" location="interfaces/quotes.wsdl"/><include location="main-types.wsdl"/>"#,
        "",
        r#"<binding name="B" interface="q:PT" type="http://www.w3.org/ns/wsdl/soap"/>
  <service name="Quotes" interface="q:PT"><endpoint name="QuotesEndpoint" binding="tns:B" address="http://backend.example:9000/quotes"/></service>"#,
    );
    let quotes = description(
        "urn:quotes",
        r#"<import namespace="urn:base" location="../shared/base.wsdl"/>"#,
        r#"<xsd:import namespace="urn:types" schemaLocation="types.xsd"/>"#,
        r##"<interface name="PT" extends="base:Base"><operation name="getQuote"><input element="#any" wsaw:Action="urn:getQuote"/></operation></interface>"##,
    );
    let base = description(
        "urn:base",
        "",
        "",
        r#"<interface name="Base"><operation name="ping"/></interface>"#,
    );
    let main_types = description(
        "urn:main",
        "",
        r#"<xsd:import namespace="urn:common" schemaLocation="shared/common.xsd"/>"#,
        "",
    );
    let xs = |tns: &str| {
        format!(
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{tns}"><xs:element name="e"/></xs:schema>"#
        )
    };
    let (types, common) = (xs("urn:types"), xs("urn:common"));
    let proxy = operation_proxy("Described", r#"<publishWSDL uri="file:wsdl/main.wsdl"/>"#);
    let broken = operation_proxy("Broken", r#"<publishWSDL uri="file:wsdl/broken.wsdl"/>"#);
    // a WSDL 2.0 description includes WSDL 2.0 descriptions only
    let wsdl11 = r#"<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:main"/>"#;
    let broken_wsdl = main.replace("main-types.wsdl", "wsdl11.wsdl");
    let dir = GatewayDir::new(
        "",
        &[
            ("sequences/proxy-services/Described.xml", &proxy),
            ("sequences/proxy-services/Broken.xml", &broken),
            ("sequences/wsdl/main.wsdl", &main),
            ("sequences/wsdl/broken.wsdl", &broken_wsdl),
            ("sequences/wsdl/wsdl11.wsdl", wsdl11),
            ("sequences/wsdl/main-types.wsdl", &main_types),
            ("sequences/wsdl/interfaces/quotes.wsdl", &quotes),
            ("sequences/wsdl/interfaces/types.xsd", &types),
            ("sequences/wsdl/shared/base.wsdl", &base),
            ("sequences/wsdl/shared/common.xsd", &common),
        ],
    );
    let (gw, report) = start_reporting(&dir).await;
    let says = "`wsdl11.wsdl` that the WSDL imports or includes is not a WSDL 2.0 <description>";
    assert_broken(&gw, &report, says).await;
    let c = client();

    // a plain HTTP client follows every import, include and schema location from the
    // description, each through the proxy
    let fetched = crawl(&c, &gw, "Described").await;
    assert_eq!(
        sorted_queries(&fetched),
        [
            "wsdl",
            "wsdl=../shared/base.wsdl",
            "wsdl=interfaces/quotes.wsdl",
            "wsdl=main-types.wsdl",
            "xsd=common.xsd",
            "xsd=types.xsd"
        ]
    );
    let doc = |q: &str| fetched_at(&fetched, q);
    assert!(doc("wsdl=interfaces/quotes.wsdl").contains(r#"targetNamespace="urn:quotes""#));
    assert!(doc("wsdl=../shared/base.wsdl").contains(r#"<interface name="Base">"#));
    assert!(doc("xsd=common.xsd").contains(r#"targetNamespace="urn:common""#));
    // `?wsdl2` answers the same description; its endpoint's address is the proxy's
    let t = get_text(&c, &url(&gw, "/services/Described?wsdl2")).await;
    assert_eq!(&t, doc("wsdl"));
    let root = synaptic_payload::xml::parse(&t).unwrap_or_else(|e| panic!("{e:?}: {t}"));
    let wsdl20 = "http://www.w3.org/ns/wsdl";
    let endpoint = root
        .find(wsdl20, "service")
        .and_then(|s| s.find(wsdl20, "endpoint"))
        .expect("an endpoint");
    assert_eq!(
        endpoint.attribute("address"),
        Some(format!("http://{}/services/Described", gw.addr()).as_str())
    );
    // requests are dispatched to the operations of the service's interface and of the one
    // it extends, each in the namespace of its description
    assert_dispatched(
        &gw,
        &[
            (
                Some("urn:getQuote"),
                "/services/Described",
                "getQuote",
                "urn:quotes",
            ),
            (None, "/services/Described/ping", "ping", "urn:base"),
            (Some("urn:other"), "/services/Described", "mediate", ""),
        ],
    )
    .await;
    gw.shutdown().await;
}

/// Each SOAP request (its `SOAPAction`, if any, and path) reaches an `operation_proxy` that
/// answers the operation and namespace given.
async fn assert_dispatched(gw: &Running, cases: &[(Option<&str>, &str, &str, &str)]) {
    let soap = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><getQuote/></s:Body></s:Envelope>"#;
    for (action, path, op, ns) in cases {
        let mut r = client()
            .post(url(gw, path))
            .header("content-type", "text/xml")
            .body(soap);
        if let Some(a) = action {
            r = r.header("SOAPAction", *a);
        }
        let v = json(r.send().await.unwrap()).await;
        assert_eq!(
            (v["op"].as_str(), v["ns"].as_str()),
            (Some(*op), Some(*ns)),
            "{path} {action:?}"
        );
    }
}

/// Start a gateway on the folder, keeping the load report (its diagnostics rendered).
async fn start_reporting(dir: &GatewayDir) -> (Running, Vec<String>) {
    let opts = ServeOptions {
        watch: Some(false),
        ..Default::default()
    };
    synaptic_tests::gateway::start_reporting(dir, opts).await
}

/// The one rendered diagnostic of `file` (`path:line:col: …`), which must carry `code`.
fn diagnostic_of<'a>(lines: &'a [String], file: &str, code: &str) -> &'a str {
    let of: Vec<&String> = lines.iter().filter(|l| l.contains(file)).collect();
    assert_eq!(of.len(), 1, "{file}: {lines:#?}");
    assert!(of[0].contains(code), "{}", of[0]);
    of[0]
}

#[tokio::test]
async fn a_proxy_publishes_the_wsdl_fetched_from_its_endpoint_or_an_http_uri_at_load() {
    // the WSDL is served by a real proxy of another gateway
    let origin_dir = GatewayDir::new(
        "",
        &[
            (
                "sequences/Origin.xml",
                &operation_proxy(
                    "Origin",
                    &format!(
                        "<publishWSDL>{}</publishWSDL>",
                        published_wsdl("urn:origin")
                    ),
                ),
            ),
            // the schema its WSDL imports, relative to the project
            (
                "sequences/common.xsd",
                r#"<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:common"/>"#,
            ),
        ],
    );
    let origin = started(start_on(&origin_dir, 0).await);
    let at = url(&origin, "/services/Origin");
    // a server answering text, and one answering a document larger than the limit
    let text = synaptic_tests::origin::MockOrigin::start(|_| {
        synaptic_tests::origin::MockResponse::text("hello, no WSDL here")
    })
    .await;
    let big = format!(
        "{}<!-- {} -->",
        published_wsdl("urn:big"),
        "x".repeat(8 * 1024)
    );
    let large = synaptic_tests::origin::MockOrigin::start(move |_| {
        synaptic_tests::origin::MockResponse::text(big.clone()).header("content-type", "text/xml")
    })
    .await;
    let nobody = format!("http://127.0.0.1:{}/none?wsdl", synaptic_tests::free_port());
    let safe = r#"<parameter name="enablePublishWSDLSafeMode">true</parameter>"#;
    let proxies = [
        // an endpoint's WSDL resolves its imports against the project (Synapse's home), so the
        // origin's relative location is mapped to a local entry, as Synapse users map it
        (
            "ByEndpoint",
            r#"<publishWSDL endpoint="OriginEP"><resource location="Origin?xsd=common.xsd" key="common.xsd"/></publishWSDL>"#.to_string(),
        ),
        ("ByUri", format!(r#"<publishWSDL uri="{at}?wsdl"/>"#)),
        ("Unreachable", format!(r#"<publishWSDL uri="{nobody}"/>"#)),
        (
            "UnreachableSafe",
            format!(r#"<publishWSDL uri="{nobody}"/>{safe}"#),
        ),
        (
            "NotXml",
            format!(r#"<publishWSDL uri="{}/text?wsdl"/>{safe}"#, text.url()),
        ),
        (
            "TooLarge",
            format!(r#"<publishWSDL uri="{}/big?wsdl"/>"#, large.url()),
        ),
    ];
    let endpoint = format!(r#"<endpoint {NS} name="OriginEP"><address uri="{at}"/></endpoint>"#);
    let mut files: Vec<(String, String)> = proxies
        .iter()
        .map(|(n, p)| {
            (
                format!("sequences/proxy-services/{n}.xml"),
                operation_proxy(n, p),
            )
        })
        .collect();
    files.push(("sequences/endpoints/OriginEP.xml".into(), endpoint));
    files.push((
        "sequences/local-entries/common.xml".into(),
        format!(
            r#"<localEntry {NS} key="common.xsd"><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:common-local"/></localEntry>"#
        ),
    ));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = GatewayDir::new(
        "[limits]\nwsdl_fetch_timeout = 5.0\nwsdl_fetch_max_size = 4096\n",
        &files,
    );
    let (gw, report) = start_reporting(&dir).await;
    // failures are positioned diagnostics of their files: fetch failures fail the deployment
    // (or, in safe mode, leave the proxy unstarted); a document that is not XML fails it in
    // safe mode too, as Synapse cannot build the service from it
    let d = diagnostic_of(&report, "Unreachable.xml", "E0123");
    assert!(d.contains("cannot fetch the WSDL"), "{d}");
    let d = diagnostic_of(&report, "UnreachableSafe.xml", "W0123");
    assert!(d.contains("is not started"), "{d}");
    let d = diagnostic_of(&report, "NotXml.xml", "E0123");
    assert!(d.contains("not well-formed"), "{d}");
    let d = diagnostic_of(&report, "TooLarge.xml", "E0123");
    assert!(d.contains("larger than 4096 bytes"), "{d}");
    // positions: the attribute value naming the WSDL
    let written = operation_proxy("TooLarge", &proxies[5].1);
    let at_value = written.find("uri=\"").unwrap() + "uri=\"".len();
    let line = written[..at_value].matches('\n').count() + 1;
    let col = at_value - written[..at_value].rfind('\n').map_or(0, |i| i + 1) + 1;
    assert!(
        diagnostic_of(&report, "TooLarge.xml", "E0123")
            .contains(&format!("TooLarge.xml:{line}:{col}: error[E0123]")),
        "{report:?}"
    );
    assert!(
        !report
            .iter()
            .any(|l| l.contains("ByEndpoint") || l.contains("ByUri")),
        "{report:?}"
    );
    // each document was fetched once, whatever the compile rounds
    assert_eq!(text.count(), 1);
    assert_eq!(text.requests()[0].query(), Some("wsdl"));
    assert_eq!(large.count(), 1);
    let c = client();
    for proxy in ["ByEndpoint", "ByUri"] {
        let r = c
            .get(url(&gw, &format!("/services/{proxy}?wsdl")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{proxy}");
        let t = r.text().await.unwrap();
        assert!(t.contains("targetNamespace=\"urn:origin\""), "{proxy}: {t}");
        // by `uri`, the schema the fetched WSDL imports is fetched relative to it (through
        // the origin's proxy) and named by its URL, as Axis2 names a schema read over http;
        // by `endpoint`, the `<resource>` for its location as written
        let (schema, tns) = match proxy {
            "ByUri" => (format!("{at}?xsd=common.xsd"), "urn:common"),
            _ => ("common.xsd".to_string(), "urn:common-local"),
        };
        assert!(
            t.contains(&format!(r#"schemaLocation="{proxy}?xsd={schema}""#)),
            "{proxy}: {t}"
        );
        let r = c
            .get(url(&gw, &format!("/services/{proxy}?xsd={schema}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{proxy}");
        let t = r.text().await.unwrap();
        assert!(
            t.contains(&format!("targetNamespace=\"{tns}\"")),
            "{proxy}: {t}"
        );
        // and requests are dispatched to its operations
        let v = json(
            c.post(url(&gw, &format!("/services/{proxy}")))
                .header("content-type", "text/xml")
                .header("SOAPAction", "urn:getQuote")
                .body("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (v["op"].as_str(), v["ns"].as_str()),
            (Some("getQuote"), Some("urn:origin")),
            "{proxy}"
        );
    }
    // the proxies whose WSDL could not be had answer as unknown services
    for proxy in ["Unreachable", "UnreachableSafe", "NotXml", "TooLarge"] {
        let r = c
            .post(url(&gw, &format!("/services/{proxy}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{proxy}");
    }
    gw.shutdown().await;
    origin.shutdown().await;
}

#[tokio::test]
async fn a_proxy_pinned_to_other_servers_is_not_deployed_on_this_one() {
    let logs = synaptic_tests::logs::capture_global();
    let pinned = |name: &str, servers: &str, extra: &str| {
        format!(
            r#"<proxy {NS} name="{name}" pinnedServers="{servers}"><target><inSequence>
            <payloadFactory media-type="json"><format>{{"proxy":"{name}"}}</format><args/></payloadFactory>
            <respond/></inSequence></target>{extra}</proxy>"#
        )
    };
    // pinned elsewhere, its WSDL would not even be fetchable: Synapse does not build it
    let nobody = format!("http://127.0.0.1:{}/none?wsdl", synaptic_tests::free_port());
    let dir = GatewayDir::new(
        "[server]\nname = \"gw-east\"\n",
        &[
            (
                "sequences/Here.xml",
                &pinned("Here", "gw-west, gw-east", ""),
            ),
            (
                "sequences/Elsewhere.xml",
                &pinned(
                    "Elsewhere",
                    "gw-west gw-north",
                    &format!(r#"<publishWSDL uri="{nobody}"/>"#),
                ),
            ),
            ("sequences/Anywhere.xml", &pinned("Anywhere", "", "")),
        ],
    );
    let (gw, report) = start_reporting(&dir).await;
    assert!(report.is_empty(), "{report:#?}");
    let c = client();
    for (proxy, status) in [("Here", 200), ("Anywhere", 200), ("Elsewhere", 404)] {
        let r = c
            .post(url(&gw, &format!("/services/{proxy}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{proxy}");
        // a deployed one answers the WSDL Axis2 generates for it
        let r = c
            .get(url(&gw, &format!("/services/{proxy}?wsdl")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{proxy}");
    }
    // as an unknown service
    let unknown = c.post(url(&gw, "/services/Nothing")).send().await.unwrap();
    let elsewhere = c
        .post(url(&gw, "/services/Elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        elsewhere.headers().get("content-type"),
        unknown.headers().get("content-type")
    );
    assert_eq!(
        elsewhere.text().await.unwrap(),
        unknown.text().await.unwrap()
    );
    let text = logs.text();
    assert!(
        text.lines().any(|l| l.contains("INFO")
            && l.contains("proxy service `Elsewhere` is pinned to gw-west, gw-north: not deployed on this server")
            && l.contains("server=gw-east")),
        "{text}"
    );
    gw.shutdown().await;

    // the server's name defaults to the machine's host name
    let host = synaptic_gateway::config::host_name();
    let dir = GatewayDir::new(
        "",
        &[(
            "sequences/Host.xml",
            &pinned("Host", &format!("other {host}"), ""),
        )],
    );
    let (gw, _) = start_reporting(&dir).await;
    let r = c.post(url(&gw, "/services/Host")).send().await.unwrap();
    assert_eq!(r.status(), 200, "host name {host}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_message_processor_pinned_to_other_servers_is_not_started_on_this_one() {
    use synaptic_tests::origin::{MockOrigin, MockResponse};
    let logs = synaptic_tests::logs::capture_global();
    let backend = MockOrigin::start(|_| MockResponse::new(200)).await;
    let defs = |servers: &str| {
        format!(
            r#"<definitions {NS}>
  <endpoint name="Backend"><address uri="{}/ingest"/></endpoint>
  <messageStore name="Orders"/>
  <messageProcessor name="Forwarder" messageStore="Orders" targetEndpoint="Backend"
      class="org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor">
    <parameter name="interval">50</parameter>
    <parameter name="pinnedServers">{servers}</parameter>
  </messageProcessor>
  <api name="Orders" context="/orders"><resource methods="POST" uri-template="/*"><inSequence>
    <property name="FORCE_SC_ACCEPTED" value="true" scope="axis2"/>
    <store messageStore="Orders"/>
  </inSequence></resource></api>
</definitions>"#,
            backend.url()
        )
    };
    let c = client();
    for (servers, delivered) in [("gw-west", false), ("gw-west,gw-east", true)] {
        let dir = GatewayDir::new(
            "[server]\nname = \"gw-east\"\n",
            &[("sequences/store.xml", &defs(servers))],
        );
        let gw = started(start_on(&dir, 0).await);
        let r = c
            .post(url(&gw, "/orders/o"))
            .header("content-type", "application/json")
            .body(r#"{"o":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let got = backend
            .wait_for(
                1,
                Duration::from_millis(if delivered { 20_000 } else { 1_000 }),
            )
            .await;
        assert_eq!(got, delivered, "{servers}");
        gw.shutdown().await;
    }
    let text = logs.text();
    assert!(
        text.contains(
            "message processor `Forwarder` is pinned to gw-west: not started on this server"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn an_endpoint_key_and_a_sequence_key_name_registry_resources_of_the_project() {
    let backend = synaptic_tests::origin::MockOrigin::echo().await;
    let api = format!(
        r#"<api {NS} name="Reg" context="/reg">
            <resource methods="POST" uri-template="/call"><inSequence>
              <sequence key="conf:/sequences/s.xml"/>
              <call><endpoint key="gov:/endpoints/backend.xml"/></call>
              <respond/>
            </inSequence></resource>
          </api>"#
    );
    let endpoint = format!(
        r#"<endpoint {NS} name="backend"><http method="post" uri-template="{}/from-registry"/></endpoint>"#,
        backend.url()
    );
    let sequence = format!(
        r#"<sequence {NS} name="s"><header name="X-Seq" scope="transport" value="registry"/></sequence>"#
    );
    let dir = GatewayDir::new(
        "[server]\nregistry = \"registry\"\n",
        &[
            ("sequences/api/Reg.xml", &api),
            ("registry/gov/endpoints/backend.xml", &endpoint),
            ("registry/conf/sequences/s.xml", &sequence),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    for _ in 0..2 {
        let r = c
            .post(url(&gw, "/reg/call"))
            .header("content-type", "application/json")
            .body(r#"{"n":1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v = json(r).await;
        // the registry's endpoint got the message, with what the registry's sequence set
        assert_eq!(v["method"], "POST");
        assert_eq!(v["uri"], "/from-registry");
        assert_eq!(v["headers"]["x-seq"], "registry", "{v}");
        assert!(v["body"].as_str().unwrap().contains(r#""n":1"#), "{v}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_fault_sequence_and_an_on_error_name_registry_resources_of_the_project() {
    // each resource faults (a sequence nothing defines); its handler is named by a key
    let api = format!(
        r#"<api {NS} name="Faults" context="/faults">
            <resource methods="GET" uri-template="/flow" faultSequence="gov:/sequences/on-fault.xml">
              <inSequence><sequence key="nowhere"/></inSequence></resource>
            <resource methods="GET" uri-template="/handler">
              <inSequence><sequence key="guarded"/></inSequence></resource>
            <resource methods="GET" uri-template="/absent" faultSequence="gov:/sequences/absent.xml">
              <inSequence><sequence key="nowhere"/></inSequence></resource>
          </api>"#
    );
    let guarded = format!(
        r#"<sequence {NS} name="guarded" onError="gov:/sequences/on-error.xml"><sequence key="nowhere"/></sequence>"#
    );
    let answer = |name: &str, by: &str| {
        format!(
            r#"<sequence {NS} name="{name}"><payloadFactory media-type="json"><format>{{"handled":"{by}"}}</format><args/></payloadFactory><property name="HTTP_SC" value="502" scope="axis2"/><respond/></sequence>"#
        )
    };
    let dir = GatewayDir::new(
        "[server]\nregistry = \"registry\"\n",
        &[
            ("sequences/api/Faults.xml", &api),
            ("sequences/guarded.xml", &guarded),
            ("sequences/fault.xml", &answer("fault", "fault")),
            (
                "registry/gov/sequences/on-fault.xml",
                &answer("on-fault", "registry fault sequence"),
            ),
            (
                "registry/gov/sequences/on-error.xml",
                &answer("on-error", "registry onError"),
            ),
        ],
    );
    let gw = started(start_on(&dir, 0).await);
    let c = client();
    for (path, by) in [
        ("/faults/flow", "registry fault sequence"),
        ("/faults/handler", "registry onError"),
        // nothing in the registry of that key: Synapse's `fault` sequence
        ("/faults/absent", "fault"),
    ] {
        for _ in 0..2 {
            let r = c.get(url(&gw, path)).send().await.unwrap();
            assert_eq!(r.status(), 502, "{path}");
            assert_eq!(json(r).await["handled"], by, "{path}");
        }
    }
    gw.shutdown().await;
}
