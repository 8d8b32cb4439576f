//! `synaptic lint` and `synaptic run`, driven in-process through `synaptic_cli::run`.

use std::path::{Path, PathBuf};
use synaptic_tests::origin::{MockOrigin, MockResponse};
use synaptic_tests::{run_cli as cli, workspace_root as root};

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn lint_shipped_sequences_exit_0_with_portability_notes_only() {
    let (code, out, _) = cli(&["lint", &p(&root().join("sequences"))]);
    assert_eq!(code, 0, "{out}");
    assert!(out.lines().all(|l| l.contains("warning[W09")), "{out}");
    assert!(out.contains("simple-token-gen.xml:4:"), "{out}");
}

#[test]
fn deny_warnings_fails() {
    let (code, _, _) = cli(&["lint", "--deny", "warnings", &p(&root().join("sequences"))]);
    assert_eq!(code, 1);
}

#[test]
fn missing_path_cannot_run() {
    let (code, out, err) = cli(&["lint", "/definitely/not/here"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.contains("cannot read /definitely/not/here"), "{err}");
}

#[test]
fn short_format_is_path_line_col() {
    let f = root().join("tests/data/lint/err/scopes-and-types.xml");
    let (code, out, err) = cli(&["lint", &p(&f)]);
    assert_eq!(code, 1);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{}:2:41: error[E0301]: unknown property scope `axis3`; did you mean `axis2`? \
             (the scopes are: default, transport, axis2, axis2-client, operation, registry, \
             system, env, file, func, trace, analytics)",
            p(&f)
        )
    );
    assert!(err.contains("1 file checked"), "{err}");
}

#[test]
fn json_format_has_the_documented_fields() {
    let f = root().join("tests/data/lint/err/scopes-and-types.xml");
    let (code, out, _) = cli(&["lint", "--format", "json", &p(&f)]);
    assert_eq!(code, 1);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(lines.len() >= 5);
    let d = &lines[0];
    assert_eq!(d["file"], p(&f));
    assert_eq!(d["line"], 2);
    assert_eq!(d["column"], 41);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E0301");
    assert!(d["message"].as_str().unwrap().contains("axis3"));
}

#[test]
fn rich_format_shows_a_snippet() {
    let f = root().join("tests/data/lint/err/scopes-and-types.xml");
    let (code, out, _) = cli(&["lint", "--format", "rich", &p(&f)]);
    assert_eq!(code, 1);
    assert!(
        out.contains("error[E0301]: unknown property scope `axis3`"),
        "{out}"
    );
    assert!(out.contains("scope=\"axis3\""), "{out}");
    assert!(out.contains('^'), "{out}");
}

#[test]
fn sequence_refs_resolve_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let ns = r#"xmlns="http://ws.apache.org/ns/synapse""#;
    std::fs::write(
        dir.path().join("a.xml"),
        format!(r#"<sequence {ns} name="a"><sequence key="b"/></sequence>"#),
    )
    .unwrap();
    // linted alone, `b` is resolved when a message gets there, as in Synapse
    let (code, out, _) = cli(&["lint", &p(&dir.path().join("a.xml"))]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning[W0304]: no sequence named `b` is deployed"),
        "{out}"
    );
    std::fs::write(
        dir.path().join("b.xml"),
        format!(r#"<sequence {ns} name="b"><drop/></sequence>"#),
    )
    .unwrap();
    let (code, out, _) = cli(&["lint", &p(dir.path())]);
    assert_eq!(code, 0, "{out}");
    assert!(out.is_empty());
}

fn request_file(dir: &Path, text: &str) -> PathBuf {
    let f = dir.join("req.http");
    std::fs::write(&f, text).unwrap();
    f
}

/// The shipped non-caching sequence with its token URL pointed at `token_url`.
fn nocache_with(dir: &Path, token_url: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("sequences/simple-token-gen-nocache.xml"))
        .unwrap()
        .replace("http://127.0.0.1:8280/oauth2/token", token_url);
    let f = dir.join("seq.xml");
    std::fs::write(&f, text).unwrap();
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_prints_the_mediated_message() {
    let token = MockOrigin::start(|_| {
        MockResponse::json(
            200,
            &serde_json::json!({"access_token": "tok-cli", "expires_in": 60}),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let seq = nocache_with(dir.path(), &format!("{}/oauth2/token", token.url()));
    let req = request_file(
        dir.path(),
        "POST /pizzashack/1.0.0/order?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
    );
    let args = [
        "run".to_string(),
        p(&seq),
        "--request".into(),
        p(&req),
        "--api-context".into(),
        "/pizzashack/1.0.0".into(),
    ];
    let (code, out, err) = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        cli(&a)
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["flow"], "continue");
    assert_eq!(v["status"], serde_json::Value::Null);
    assert_eq!(v["headers"]["authorization"], "Bearer tok-cli");
    assert_eq!(v["content_type"], "application/json");
    assert_eq!(v["body"], "{\"a\":1}");
    assert_eq!(v["properties"]["axis2"]["REST_URL_POSTFIX"], "/order?x=1");
    assert_eq!(v["properties"]["axis2"]["HTTP_SC"], "200");
    assert_eq!(
        v["properties"]["default"]["generated-access-token"],
        "tok-cli"
    );
    let r = &token.requests()[0];
    assert_eq!(r.uri, "/oauth2/token");
    assert_eq!(r.body_str(), "grant_type=client_credentials");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_registry_folder_caches_the_token() {
    let token = MockOrigin::start(|_| {
        MockResponse::json(200, &serde_json::json!({"access_token": "tok-reg"}))
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("sequences/simple-token-gen.xml"))
        .unwrap()
        .replace(
            "http://127.0.0.1:8280/oauth2/token",
            &format!("{}/oauth2/token", token.url()),
        );
    let seq = dir.path().join("seq.xml");
    std::fs::write(&seq, text).unwrap();
    let req = request_file(
        dir.path(),
        "GET /pizzashack/1.0.0/menu HTTP/1.1\nHost: gw\n\n",
    );
    let reg = dir.path().join("registry");
    let args = vec![
        "run".to_string(),
        p(&seq),
        "--request".into(),
        p(&req),
        "--registry".into(),
        p(&reg),
        "--api-context".into(),
        "/pizzashack/1.0.0".into(),
    ];
    for round in 0..2 {
        let a = args.clone();
        let (code, out, err) = tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
            cli(&a)
        })
        .await
        .unwrap();
        assert_eq!(code, 0, "round {round}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["headers"]["authorization"], "Bearer tok-reg");
        assert_eq!(v["properties"]["axis2"]["REST_URL_POSTFIX"], "/menu");
    }
    assert_eq!(token.count(), 1, "the second run used the registry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reports_a_fault_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let port = synaptic_tests::free_port();
    let seq = nocache_with(dir.path(), &format!("http://127.0.0.1:{port}/token"));
    let req = request_file(dir.path(), "GET /menu HTTP/1.1\n\n");
    let args = ["run".to_string(), p(&seq), "--request".into(), p(&req)];
    let (code, out, _) = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        cli(&a)
    })
    .await
    .unwrap();
    assert_eq!(code, 1, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["fault"]["code"], 101503);
    assert_eq!(v["properties"]["default"]["ERROR_CODE"], "101503");
}

#[test]
fn run_refuses_a_sequence_with_errors() {
    let dir = tempfile::tempdir().unwrap();
    let seq = root().join("tests/data/lint/err/token-gen-placeholders.xml");
    let req = request_file(dir.path(), "GET /menu HTTP/1.1\n\n");
    let (code, _, err) = cli(&["run", &p(&seq), "--request", &p(&req)]);
    assert_eq!(code, 2);
    assert!(err.contains("E0112"), "{err}");
}

/// A WSDL endpoint whose document is at an http URL: `lint` leaves it for deployment, `run`
/// (which fetches nothing) refuses it where it is written, without the URL's password.
#[test]
fn an_http_wsdl_endpoint_is_left_by_lint_and_refused_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let seq = dir.path().join("main.xml");
    std::fs::write(
        &seq,
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="main">
  <call><endpoint><wsdl uri="http://u:s3cret@127.0.0.1:9/stock?wsdl" service="Stock" port="Soap11"/></endpoint></call>
  <respond/>
</sequence>"#,
    )
    .unwrap();
    let (code, out, err) = cli(&["lint", &p(&seq)]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("E0122"), "{out}");
    let req = request_file(dir.path(), "GET /x HTTP/1.1\n\n");
    let (code, _, err) = cli(&["run", &p(&seq), "--request", &p(&req)]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("main.xml:2:")
            && err.contains("E0122")
            && err.contains("is fetched over http(s) only when the project is served"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn run_resolves_sequence_keys_from_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ns = r#"xmlns="http://ws.apache.org/ns/synapse""#;
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::write(
        lib.join("cors.xml"),
        format!(
            r#"<sequence {ns} name="cors"><header name="Access-Control-Allow-Origin" scope="transport" value="*"/></sequence>"#
        ),
    )
    .unwrap();
    let main = dir.path().join("main.xml");
    std::fs::write(
        &main,
        format!(
            r#"<sequence {ns} name="main"><sequence key="cors"/><property name="HTTP_SC" value="204" scope="axis2"/><respond/></sequence>"#
        ),
    )
    .unwrap();
    let req = request_file(
        dir.path(),
        "OPTIONS /api/x HTTP/1.1\nOrigin: http://a.example\n\n",
    );
    let (code, out, err) = cli(&["run", &p(&main), "--request", &p(&req)]);
    assert_eq!(
        code, 1,
        "without --sequences the key faults when it is reached: {out}{err}"
    );
    assert!(
        out.contains("Sequence named Value {name ='null', keyValue ='cors'} cannot be found"),
        "{out}"
    );
    let (code, out2, err) = cli(&[
        "run",
        &p(&main),
        "--request",
        &p(&req),
        "--sequences",
        &p(&lib),
    ]);
    assert_eq!(code, 0, "{out}{out2}{err}");
    let v: serde_json::Value = serde_json::from_str(&out2).unwrap();
    assert_eq!(v["flow"], "respond");
    assert_eq!(v["status"], 204);
    assert_eq!(v["headers"]["access-control-allow-origin"], "*");
    assert_eq!(v["properties"]["axis2"]["REST_URL_POSTFIX"], "/api/x");
}

/// The reference caching sequence exactly as WSO2's documentation prints it (placeholders unfilled,
/// from `SYNAPTIC_REFERENCE_DOCS_DIR`, see README) fails lint with E0112 on
/// both placeholders and nothing else but the portability notes.
#[test]
fn unfilled_reference_sequence_fails_with_placeholder_errors() {
    let dir = synaptic_tests::reference_docs_dir();
    let doc = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("002"))
        })
        .expect("the caching simple-token-gen document (002…) in SYNAPTIC_REFERENCE_DOCS_DIR");
    let text = std::fs::read_to_string(doc).unwrap();
    let start = text.find("<?xml").unwrap();
    let end = start + text[start..].find("```").unwrap();
    let xml: String = text[start..end]
        .lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("simple-token-gen.xml");
    std::fs::write(&f, xml).unwrap();
    let (code, out, _) = cli(&["lint", &p(&f)]);
    assert_eq!(code, 1);
    let errors: Vec<&str> = out.lines().filter(|l| l.contains(": error[")).collect();
    assert_eq!(errors.len(), 2, "{out}");
    assert!(errors.iter().all(|l| l.contains("error[E0112]")), "{out}");
    assert!(out.contains("{base64encoded(clientKey:clientSecret)}"));
    assert!(out.contains("{token-endpoint-url}"));
    assert!(out
        .lines()
        .filter(|l| l.contains(": warning["))
        .all(|l| l.contains("warning[W09")));
}

/// Write `body` as the sequence file `name` in `dir` (inside a Synapse `<sequence>` root).
fn sequence_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let f = dir.join(format!("{name}.xml"));
    std::fs::write(
        &f,
        format!(
            "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"{name}\">\n{body}</sequence>\n"
        ),
    )
    .unwrap();
    f
}

fn run_json(seq: &Path, req: &Path, extra: &[&str]) -> (u8, serde_json::Value, String) {
    let mut args = vec!["run", "--request"];
    let (s, r) = (p(seq), p(req));
    args.push(&r);
    args.push(&s);
    args.extend_from_slice(extra);
    let (code, out, err) = cli(&args);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, v, err)
}

#[test]
fn run_lists_log_lines_in_order_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let seq = sequence_file(
        dir.path(),
        "logs",
        r#"  <log level="custom"><property name="step" value="one"/></log>
  <property name="access_token" value="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc123def"/>
  <log level="custom" category="WARN"><property name="token" expression="get-property('access_token')"/></log>
  <log level="headers"/>
"#,
    );
    let req = request_file(
        dir.path(),
        "GET /menu HTTP/1.1\nAuthorization: Bearer s3cr3t-value\nX-Plain: visible\n\n",
    );
    let (code, v, err) = run_json(&seq, &req, &[]);
    assert_eq!(code, 0, "{v}{err}");
    let logs = v["logs"].as_array().expect("a logs array");
    assert_eq!(logs.len(), 3, "{v}");
    assert_eq!(logs[0]["level"], "INFO");
    assert_eq!(logs[0]["message"], "step = one");
    assert!(
        logs[0]["at"].as_str().unwrap().ends_with("logs.xml:2:3"),
        "{v}"
    );
    assert_eq!(logs[1]["level"], "WARN");
    assert_eq!(logs[1]["message"], "token = ***");
    let headers = logs[2]["message"].as_str().unwrap();
    assert!(headers.contains("authorization: Bearer ***"), "{headers}");
    assert!(headers.contains("x-plain: visible"), "{headers}");
    let logs_text = v["logs"].to_string();
    assert!(!logs_text.contains("s3cr3t-value"), "{logs_text}");
    assert!(!logs_text.contains("abc123def"), "{logs_text}");
    assert_eq!(v["faulted"], false);
}

#[test]
fn run_names_the_failing_mediator_and_exits_1_when_unhandled() {
    let dir = tempfile::tempdir().unwrap();
    let seq = sequence_file(
        dir.path(),
        "broken",
        r#"  <log level="custom"><property name="before" value="fault"/></log>
  <property name="greeting" value="hello"/>
  <property name="n" expression="get-property('greeting')" type="INTEGER"/>
  <log level="custom"><property name="never" value="reached"/></log>
"#,
    );
    let req = request_file(dir.path(), "GET /x HTTP/1.1\n\n");
    let (code, v, err) = run_json(&seq, &req, &["--trace"]);
    assert_eq!(code, 1, "{v}{err}");
    assert!(err.contains("broken.xml:4:3 <property> failed"), "{err}");
    assert!(err.contains("broken.xml:4:3: property `n`"), "{err}");
    assert!(err.contains("(not handled)"), "{err}");
    let at = v["fault"]["at"].as_str().expect("a location");
    assert!(at.ends_with("broken.xml:4:3"), "{at}");
    assert_eq!(v["fault"]["mediator"], "property");
    assert_eq!(v["fault"]["handled_by"], serde_json::Value::Null);
    assert_eq!(v["faulted"], true);
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "the log after the fault never ran: {v}");
    assert_eq!(logs[0]["message"], "before = fault");
}

#[test]
fn run_treats_a_handled_fault_as_a_normal_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    sequence_file(
        &lib,
        "on-fault",
        r#"  <log level="custom"><property name="error" expression="get-property('ERROR_CODE')"/></log>
  <payloadFactory media-type="json"><format>{"error": true}</format><args/></payloadFactory>
  <property name="HTTP_SC" value="500" scope="axis2"/>
  <respond/>
"#,
    );
    let main = dir.path().join("main.xml");
    std::fs::write(
        &main,
        r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="main" onError="on-fault">
  <call><endpoint><http method="get" uri-template="http://127.0.0.1:9/unreachable"/></endpoint></call>
</sequence>
"#,
    )
    .unwrap();
    let req = request_file(dir.path(), "GET /x HTTP/1.1\n\n");
    let (code, v, err) = run_json(&main, &req, &["--sequences", &p(&lib)]);
    assert_eq!(code, 0, "{v}{err}");
    assert_eq!(v["faulted"], true);
    assert_eq!(v["flow"], "respond");
    assert_eq!(v["status"], 500);
    assert_eq!(v["body"], "{\"error\": true}");
    assert_eq!(v["fault"]["code"], 101503);
    assert_eq!(v["fault"]["handled_by"], "on-fault");
    assert!(
        v["fault"]["at"].as_str().unwrap().ends_with("main.xml:2:3"),
        "{v}"
    );
    assert_eq!(v["logs"][0]["message"], "error = 101503");
}

#[test]
fn run_trace_prints_each_mediator_with_its_changes() {
    let dir = tempfile::tempdir().unwrap();
    let seq = sequence_file(
        dir.path(),
        "traced",
        r#"  <property name="a" value="1"/>
  <filter xpath="get-property('a') = '1'">
    <then>
      <property name="a" value="2"/>
      <property name="Authorization" value="Bearer abc" scope="transport"/>
    </then>
  </filter>
  <property name="a" action="remove"/>
  <log level="custom"><property name="done" value="yes"/></log>
"#,
    );
    let req = request_file(dir.path(), "GET /x HTTP/1.1\n\n");
    let (code, v, err) = run_json(&seq, &req, &["--trace"]);
    assert_eq!(code, 0, "{v}{err}");
    let err = err.replace(&format!("{}/", dir.path().display()), "");
    let lines: Vec<&str> = err.lines().collect();
    let expect = [
        "traced.xml:2:3 <property>",
        "    set default.a = \"1\"",
        "traced.xml:3:3 <filter>",
        "  traced.xml:5:7 <property>",
        "      changed default.a = \"2\" (was \"1\")",
        "  traced.xml:6:7 <property>",
        "      set transport.authorization = \"Bearer ***\"",
        "traced.xml:9:3 <property>",
        "    removed default.a (was \"2\")",
        "traced.xml:10:3 <log>",
        "    log INFO: done = yes",
    ];
    assert_eq!(lines.len(), expect.len(), "{err}");
    for (line, want) in lines.iter().zip(expect) {
        assert_eq!(line.strip_prefix("trace: "), Some(want), "{err}");
    }
    // without --trace nothing is printed
    let (_, _, quiet) = run_json(&seq, &req, &[]);
    assert!(quiet.is_empty(), "{quiet}");
}

// ===== docs/DIAGNOSTICS.md =====

/// The rows of the tables in docs/DIAGNOSTICS.md: (code, example cell).
fn documented_examples() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(root().join("docs/DIAGNOSTICS.md")).unwrap();
    let mut rows = Vec::new();
    for line in doc.lines() {
        // `| code | name | meaning | example | fix |`; `\|` is a `|` inside a cell
        let line = line.replace("\\|", "\u{1}");
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 7
            && cells[1].len() == 5
            && cells[1][1..].bytes().all(|b| b.is_ascii_digit())
        {
            rows.push((cells[1].to_string(), cells[4].replace('\u{1}', "|")));
        }
    }
    rows
}

/// The backticked snippets of a cell that are XML (they start with `<`).
fn xml_snippets(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('<'))
        .map(str::to_string)
        .collect()
}

/// Every XML example in the tables of docs/DIAGNOSTICS.md, linted on its own (mediators inside
/// a `<sequence>`), produces the code of its row, and so does every configuration example
/// (`serve --check`); every code has at least one example.
#[test]
fn every_documented_example_produces_its_code() {
    let dir = tempfile::tempdir().unwrap();
    let rows = documented_examples();
    assert!(rows.len() > 40, "the tables were not found: {}", rows.len());
    let mut failures = Vec::new();
    for (i, (code, cell)) in rows.iter().enumerate() {
        let snippets = xml_snippets(cell);
        if code == "E0382" {
            // data sources are the configuration's: a sequence in the sequences folder,
            // checked by `serve --check` against a configuration that defines none
            for (j, xml) in snippets.iter().enumerate() {
                let sub = dir.path().join(format!("datasource-{i}-{j}"));
                std::fs::create_dir_all(sub.join("sequences")).unwrap();
                std::fs::write(
                    sub.join("sequences/s.xml"),
                    format!(
                        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"s\">{xml}</sequence>\n"
                    ),
                )
                .unwrap();
                let f = sub.join("synaptic.toml");
                std::fs::write(&f, "").unwrap();
                let (_, out, err) = cli(&["serve", "--check", "--config", &p(&f)]);
                if !format!("{out}{err}").contains("error[E0382]") {
                    failures.push(format!("{code}: `{xml}` gives\n{out}{err}"));
                }
            }
            continue;
        }
        if code == "E0403" || code == "W0403" {
            // deploy-time parameters are resolved when artifacts are deployed: an endpoint
            // artifact in the sequences folder, checked by `serve --check`
            assert!(!snippets.is_empty(), "{code}: no example");
            let severity = if code.starts_with('E') {
                "error"
            } else {
                "warning"
            };
            for (j, xml) in snippets.iter().enumerate() {
                let sub = dir.path().join(format!("deploy-{i}-{j}"));
                std::fs::create_dir_all(sub.join("sequences")).unwrap();
                std::fs::write(
                    sub.join("sequences/ep.xml"),
                    format!(
                        "<endpoint xmlns=\"http://ws.apache.org/ns/synapse\" name=\"E\">{xml}</endpoint>\n"
                    ),
                )
                .unwrap();
                let f = sub.join("synaptic.toml");
                std::fs::write(&f, "").unwrap();
                let (_, out, err) = cli(&["serve", "--check", "--config", &p(&f)]);
                if !format!("{out}{err}").contains(&format!("{severity}[{code}]")) {
                    failures.push(format!("{code}: `{xml}` gives\n{out}{err}"));
                }
            }
            continue;
        }
        if code.starts_with("E04") || code.starts_with("W04") {
            // lines of synaptic.toml's `[server]` table, or a whole file when the example
            // starts with a table header (its lines then go together)
            let lines: Vec<&str> = cell.split('`').skip(1).step_by(2).collect();
            assert!(!lines.is_empty(), "{code}: no example");
            let files: Vec<String> = if lines[0].starts_with('[') {
                vec![lines.join("\n")]
            } else {
                lines.iter().map(|l| format!("[server]\n{l}")).collect()
            };
            let severity = if code.starts_with('E') {
                "error"
            } else {
                "warning"
            };
            for (j, text) in files.iter().enumerate() {
                let sub = dir.path().join(format!("config-{i}-{j}"));
                std::fs::create_dir_all(&sub).unwrap();
                if code == "W0402" {
                    // the MI project whose config.properties the example's folder names
                    let conf = sub.join("proj/src/main/wso2mi/resources/conf");
                    std::fs::create_dir_all(&conf).unwrap();
                    std::fs::write(conf.join("config.properties"), "msg:string\n").unwrap();
                }
                let f = sub.join("synaptic.toml");
                std::fs::write(&f, format!("{text}\n")).unwrap();
                let (_, out, err) = cli(&["serve", "--check", "--config", &p(&f)]);
                if !format!("{out}{err}").contains(&format!("{severity}[{code}]")) {
                    failures.push(format!("{code}: `{text}` gives\n{out}{err}"));
                }
            }
            continue;
        }
        if code == "E0113" {
            // too long for the table: 201 nested `<in>`
            let f = dir.path().join("deep.xml");
            let text = format!(
                "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"deep\">{}{}</sequence>",
                "<in>".repeat(201),
                "</in>".repeat(201)
            );
            std::fs::write(&f, text).unwrap();
            // with the main thread's stack size, as the binary runs it (a debug build needs
            // more than a test thread's 2 MiB for 200 levels)
            let path = p(&f);
            let out = std::thread::Builder::new()
                .stack_size(8 << 20)
                .spawn(move || cli(&["lint", &path]).1)
                .unwrap()
                .join()
                .unwrap();
            assert!(out.contains("error[E0113]"), "{out}");
            continue;
        }
        if snippets.is_empty() {
            failures.push(format!("{code}: no XML example in `{cell}`"));
        }
        for (j, s) in snippets.iter().enumerate() {
            // a whole file when it declares its own default namespace (or is a DOCTYPE)
            let first_tag = s.split('>').next().unwrap_or("");
            let whole_file = s.starts_with("<!DOCTYPE") || first_tag.contains("xmlns=");
            let text = if whole_file {
                s.clone()
            } else {
                format!("<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"example\">{s}</sequence>")
            };
            let f = dir.path().join(format!("example-{i}-{j}.xml"));
            std::fs::write(&f, &text).unwrap();
            let (_, out, err) = cli(&["lint", &p(&f)]);
            let tag = if code.starts_with('E') {
                format!("error[{code}]")
            } else {
                format!("warning[{code}]")
            };
            if !out.contains(&tag) {
                failures.push(format!("{code}: `{s}` gives\n{out}{err}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn run_exit_codes_follow_whether_a_fault_sequence_took_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    // a handler that only logs: handled, the server answers with a fault response
    sequence_file(
        &lib,
        "note-it",
        "  <log level=\"custom\"><property name=\"handled\" value=\"yes\"/></log>\n",
    );
    // a handler that fails itself: nothing handles that second fault
    sequence_file(
        &lib,
        "fails-too",
        "  <property name=\"n\" expression=\"concat('x', 'y')\" type=\"INTEGER\"/>\n",
    );
    let req = request_file(dir.path(), "GET /x HTTP/1.1\n\n");
    let bad = r#"<property name="n" expression="'abc'" type="INTEGER"/>"#;
    for (handler, want_code) in [("note-it", 0), ("fails-too", 1)] {
        let main = dir.path().join(format!("main-{handler}.xml"));
        std::fs::write(
            &main,
            format!(
                "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"main\" onError=\"{handler}\">\n  {bad}\n</sequence>\n"
            ),
        )
        .unwrap();
        let (code, v, err) = run_json(&main, &req, &["--sequences", &p(&lib)]);
        assert_eq!(code, want_code, "{handler}: {v}{err}");
        assert_eq!(v["faulted"], true, "{v}");
        if want_code == 0 {
            assert_eq!(v["flow"], "fault", "{v}");
            assert_eq!(v["fault"]["handled_by"], "note-it");
            assert!(v["fault"]["at"]
                .as_str()
                .unwrap()
                .ends_with("main-note-it.xml:2:3"));
            assert_eq!(v["logs"][0]["message"], "handled = yes");
        } else {
            assert_eq!(v["fault"]["handled_by"], serde_json::Value::Null, "{v}");
            assert!(
                v["fault"]["at"]
                    .as_str()
                    .unwrap()
                    .contains("fails-too.xml:2:"),
                "the second fault, in the handler: {v}"
            );
        }
    }
}

#[test]
fn run_continues_a_proxy_in_its_out_sequence_after_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = dir.path().join("proxy.xml");
    std::fs::write(
        &proxy,
        r#"<proxy xmlns="http://ws.apache.org/ns/synapse" name="Looped"><target>
    <inSequence><property name="in" value="ran"/><loopback/></inSequence>
    <outSequence><property name="out" value="ran"/><log level="custom"><property name="at" value="out"/></log><send/></outSequence>
</target></proxy>"#,
    )
    .unwrap();
    let req = request_file(
        dir.path(),
        "POST /services/Looped HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
    );
    let (code, out, err) = cli(&["run", &p(&proxy), "--request", &p(&req)]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["flow"], "respond");
    assert_eq!(v["properties"]["default"]["in"], "ran");
    assert_eq!(v["properties"]["default"]["out"], "ran", "{v}");
    assert_eq!(v["logs"][0]["message"], "at = out", "{v}");
}
