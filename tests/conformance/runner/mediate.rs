//! `kind = "mediate"`: a sequence run on a request, checked against what the source test asserts.
//!
//! Input fields (all optional except `sequence`):
//!
//! * `sequence` — configuration XML: a `<sequence>`, a `<definitions>` with several sequences,
//!   local entries and endpoints, … (parsed and compiled as one file).
//! * `run` — the sequence to run (default: the first); `fault` — the fault sequence. When `run`
//!   is an `<api>` resource's or a `<proxy>`'s in-sequence, its out-sequence runs on the
//!   response of a `<send>` to an endpoint (`Engine::mediate_flow`).
//! * `request` — `"METHOD PATH"` (default `"POST /"`, for a proxy's flow `"POST /services/<name>"`
//!   with that path as the context); `context` — the API context. The request is received as
//!   over HTTP (`TRANSPORT_IN_NAME` `http`, the operation Axis2 dispatches it to:
//!   `Program::receive`).
//! * `headers` — table of transport headers; `content_type` — shorthand for `Content-Type`.
//! * `body` — the request body; `soap_body` — XML placed in a SOAP 1.1 envelope (content
//!   type `text/xml` unless given).
//! * `properties` / `axis2` — default / axis2 properties (strings) set before the run;
//!   `registry` — registry entries; `now` — the clock (epoch ms).
//! * `out_flow = true` — run as a response path (the message is a response, `status` its HTTP
//!   status).
//! * `responses` — the backend's answers, in order: `{ status, content_type, body, headers }`
//!   or `"connect-error"` / `"timeout"` (a connection failure once they run out).
//!
//! Assertions (each optional; a mediation error fails the case unless `expect_fault` is given):
//!
//! * `expect_flow` — `"continue"`, `"respond"` or `"drop"`.
//! * `expect_fault` — `{ code, message, message_contains }`: the run ends in an unhandled fault.
//! * `expect_lint` — codes the configuration must report (e.g. `["E0106"]`); when the program
//!   is refused, nothing else is checked.
//! * `expect_status` — the response status (`HTTP_SC`).
//! * `expect_body` — the body as it would be sent (formatted by `messageType`), compared as
//!   `expect_body_as` says: `"xml"` (canonical: namespace URIs and local names, attributes in
//!   any order, comments and whitespace-only text between elements ignored), `"json"`
//!   (structurally) or `"text"` (after trimming); by default XML when it starts with `<`,
//!   JSON when it parses as JSON, else text.
//! * `expect_payload` — the elements of the SOAP body (the payload whatever its wire format),
//!   compared as canonical XML.
//! * `expect_body_contains` / `expect_body_lacks` — substrings of the sent body.
//! * `expect_content_type` — the body's media type (parameters ignored).
//! * `expect_header` — table of transport headers; `expect_no_header` — names that are absent.
//! * `expect_property` — `{ default = { name = "value" }, axis2 = {…}, operation = {…},
//!   "axis2-client" = {…}, transport = {…} }`: each property's string value.
//! * `expect_absent` — `{ default = ["name"], … }`: properties that are not set.
//! * `expect_xpath` — `[{ expr, value, namespaces }]`: an expression evaluated on the message
//!   after the run (as a `<property expression>` would read it); `absent = true` for null.
//! * `expect_log` — `[{ level, contains }]`: a `<log>` line (seen through the engine's
//!   `MediationObserver`, redacted as the server logs it) of that level (`INFO`, `WARN`,
//!   `ERROR`, `DEBUG`, `TRACE`; any when not given) whose message contains the text;
//!   `expect_no_log` — texts no line contains.
//! * `expect_outbound` — `[{ method, url, body, body_contains, payload, headers, content_type }]`:
//!   the requests sent to backends, in order (`payload`: the elements of the SOAP body, as
//!   `expect_payload`); `expect_outbound_count` for the number alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use synaptic_engine::{Flow, LogEntry, MediationObserver, MessageContext, Scope, Service, Value};
use synaptic_payload::xml::{Element, Node};
use synaptic_tests::mediate::{compile_text, engine, Scripted, ScriptedInvoker, TestRegistry};

use super::field;

const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

fn str_of<'a>(case: &'a toml::Table, name: &str) -> Option<&'a str> {
    case.get(name).and_then(|v| v.as_str())
}

fn table_of<'a>(case: &'a toml::Table, name: &str) -> Option<&'a toml::Table> {
    case.get(name).and_then(|v| v.as_table())
}

fn string_map(t: Option<&toml::Table>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (k, v) in t.into_iter().flatten() {
        let v = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("`{k}`: expected a string, got {other}")),
        };
        out.push((k.clone(), v));
    }
    Ok(out)
}

fn responses(case: &toml::Table) -> Result<Vec<Scripted>, String> {
    let Some(list) = case.get("responses") else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or("`responses` must be an array")?;
    list.iter()
        .map(|r| match r {
            toml::Value::String(s) if s == "connect-error" => Ok(Scripted::ConnectError),
            toml::Value::String(s) if s == "timeout" => Ok(Scripted::Timeout),
            toml::Value::Table(t) => Ok(Scripted::Answer(
                t.get("status")
                    .and_then(|v| v.as_integer())
                    .unwrap_or(200)
                    .try_into()
                    .map_err(|_| "bad status")?,
                str_of(t, "content_type").unwrap_or("").to_string(),
                str_of(t, "body").unwrap_or("").to_string(),
                string_map(table_of(t, "headers"))?,
            )),
            other => Err(format!("bad response {other}")),
        })
        .collect()
}

fn soap11(body: &str) -> String {
    format!(
        "<soapenv:Envelope xmlns:soapenv=\"{SOAP11}\"><soapenv:Header/><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

pub fn run(case: &toml::Table) -> Result<(), String> {
    let config = field(case, "sequence")?;
    let compiled = compile_text("case.xml", config);
    let mut problems = Vec::new();
    if let Some(want) = case.get("expect_lint").and_then(|v| v.as_array()) {
        for code in want.iter().filter_map(|c| c.as_str()) {
            if !compiled.codes.iter().any(|c| c == code) {
                problems.push(format!(
                    "expected diagnostic {code}, got {:?}\n{}",
                    compiled.codes,
                    compiled
                        .parse_errors
                        .iter()
                        .chain(&compiled.lint)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
        }
        if compiled.program.is_none() {
            return finish(problems);
        }
    }
    if !compiled.parse_errors.is_empty() {
        return Err(format!(
            "the configuration does not parse:\n{}",
            compiled.parse_errors.join("\n")
        ));
    }
    let Some(program) = compiled.program else {
        return Err(format!(
            "the configuration does not compile:\n{}",
            compiled.lint.join("\n")
        ));
    };
    let seq = match str_of(case, "run") {
        Some(s) => s.to_string(),
        None => compiled
            .sequences
            .first()
            .cloned()
            .ok_or("the configuration has no sequence")?,
    };

    // the request (a proxy service is invoked at /services/<name>)
    let proxy = seq
        .strip_prefix("proxy:")
        .and_then(|r| r.split_once('/'))
        .map(|(name, _)| format!("/services/{name}"));
    let default_request = format!("POST {}", proxy.as_deref().unwrap_or("/"));
    let (method, path) = str_of(case, "request")
        .unwrap_or(&default_request)
        .split_once(' ')
        .ok_or("`request` is `METHOD PATH`")?;
    let context = str_of(case, "context").or(proxy.as_deref());
    let method: http::Method = method.parse().map_err(|_| "bad method")?;
    let mut headers = http::HeaderMap::new();
    let mut body = str_of(case, "body").unwrap_or("").to_string();
    let mut content_type = str_of(case, "content_type").map(str::to_string);
    if let Some(sb) = str_of(case, "soap_body") {
        body = soap11(sb);
        content_type.get_or_insert_with(|| "text/xml".into());
    }
    if let Some(ct) = content_type {
        headers.insert(
            http::header::CONTENT_TYPE,
            ct.parse().map_err(|_| "bad content type")?,
        );
    }
    for (k, v) in string_map(table_of(case, "headers"))? {
        headers.append(
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
            v.parse().map_err(|_| format!("bad header value `{v}`"))?,
        );
    }
    let registry = Arc::new(TestRegistry::with(string_map(table_of(case, "registry"))?));
    let invoker = Arc::new(ScriptedInvoker::new(responses(case)?));
    let now = case
        .get("now")
        .and_then(|v| v.as_integer())
        .unwrap_or(1_700_003_600_001);
    let engine = engine(program, invoker.clone(), registry, now);
    let mut ctx = MessageContext::from_request(method, path, headers, Bytes::from(body), context);
    // what the transport and Axis2's dispatch set: the Java tests call over HTTP
    engine
        .program
        .receive(&mut ctx, Service::of_flow(&seq), "http");
    for (k, v) in string_map(table_of(case, "properties"))? {
        ctx.properties.default.insert(k, Value::String(v));
    }
    for (k, v) in string_map(table_of(case, "axis2"))? {
        ctx.properties.axis2.insert(k, Value::String(v));
    }
    if case.get("out_flow").and_then(|v| v.as_bool()) == Some(true) {
        ctx.response = true;
        ctx.status = case
            .get("status")
            .and_then(|v| v.as_integer())
            .map(|s| s as u16);
    }
    let logs = Arc::new(LogLines::default());
    ctx.set_observer(logs.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // an API resource's or a proxy's out-sequence runs on the response of a `<send>`
    let out_seq = engine.program.out_flow_of(&seq).map(str::to_string);
    let result =
        rt.block_on(engine.mediate_flow(&seq, out_seq.as_deref(), str_of(case, "fault"), &mut ctx));

    // the outcome
    match (&result, table_of(case, "expect_fault")) {
        (Ok(flow), None) => {
            if let Some(want) = str_of(case, "expect_flow") {
                let got = match flow {
                    Flow::Continue => "continue",
                    Flow::Respond => "respond",
                    Flow::Drop => "drop",
                };
                if got != want {
                    problems.push(format!("flow: expected {want}, got {got}"));
                }
            }
        }
        (Ok(flow), Some(_)) => problems.push(format!("expected a fault, the run ended {flow:?}")),
        (Err(e), None) => problems.push(format!(
            "unexpected fault: ERROR_CODE {} {} ({:?})",
            e.code, e.message, e.kind
        )),
        (Err(e), Some(want)) => {
            if let Some(code) = want.get("code").and_then(|v| v.as_integer()) {
                if e.code != code {
                    problems.push(format!("fault code: expected {code}, got {}", e.code));
                }
            }
            if let Some(m) = str_of(want, "message") {
                if e.message != m {
                    problems.push(format!(
                        "fault message: expected `{m}`, got `{}`",
                        e.message
                    ));
                }
            }
            if let Some(m) = str_of(want, "message_contains") {
                if !e.message.contains(m) {
                    problems.push(format!(
                        "fault message: expected it to contain `{m}`, got `{}`",
                        e.message
                    ));
                }
            }
        }
    }
    if let Some(st) = case.get("expect_status").and_then(|v| v.as_integer()) {
        if ctx.status.map(i64::from) != Some(st) {
            problems.push(format!("status: expected {st}, got {:?}", ctx.status));
        }
    }

    // the lines `<log>` wrote
    if let Some(want) = case.get("expect_log").and_then(|v| v.as_array()) {
        let seen = logs.0.lock().map(|l| l.clone()).unwrap_or_default();
        for w in want.iter().filter_map(|w| w.as_table()) {
            let level = str_of(w, "level");
            let text = str_of(w, "contains").unwrap_or("");
            let found = seen
                .iter()
                .any(|(l, m)| level.is_none_or(|want| want == l) && m.contains(text));
            if !found {
                problems.push(format!(
                    "log: expected a {} line containing `{text}`, got {seen:?}",
                    level.unwrap_or("log")
                ));
            }
        }
    }

    for text in strings(case, "expect_no_log") {
        let seen = logs.0.lock().map(|l| l.clone()).unwrap_or_default();
        if let Some((l, m)) = seen.iter().find(|(_, m)| m.contains(text)) {
            problems.push(format!(
                "log: expected no line containing `{text}`, got {l} `{m}`"
            ));
        }
    }

    // headers and properties (before the body is formatted)
    for (k, v) in string_map(table_of(case, "expect_header"))? {
        let got = ctx
            .headers
            .get(&k)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
        if got.as_deref() != Some(v.as_str()) {
            problems.push(format!("header {k}: expected `{v}`, got {got:?}"));
        }
    }
    for n in strings(case, "expect_no_header") {
        if let Some(h) = ctx.headers.get(n) {
            problems.push(format!("header {n}: expected none, got {h:?}"));
        }
    }
    if let Some(scopes) = table_of(case, "expect_property") {
        for (scope, props) in scopes {
            let map = scope_map(&ctx, scope)?;
            for (k, v) in string_map(props.as_table())? {
                let got = map.get(&k);
                if got != Some(&v) {
                    problems.push(format!("property {scope}:{k}: expected `{v}`, got {got:?}"));
                }
            }
        }
    }
    if let Some(scopes) = table_of(case, "expect_absent") {
        for (scope, names) in scopes {
            let map = scope_map(&ctx, scope)?;
            for n in names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n.as_str())
            {
                if let Some(v) = map.get(n) {
                    problems.push(format!("property {scope}:{n}: expected unset, got `{v}`"));
                }
            }
        }
    }
    if let Some(probes) = case.get("expect_xpath").and_then(|v| v.as_array()) {
        for p in probes.iter().filter_map(|p| p.as_table()) {
            let expr = field(p, "expr")?;
            let got = probe(&rt, &mut ctx, expr, table_of(p, "namespaces"), now)?;
            let absent = p.get("absent").and_then(|v| v.as_bool()) == Some(true);
            match (str_of(p, "value"), got) {
                (Some(v), Some(g)) if v == g => {}
                (None, None) if absent => {}
                (want, got) => problems.push(format!(
                    "{expr}: expected {}, got {got:?}",
                    want.map(|w| format!("`{w}`")).unwrap_or("null".into())
                )),
            }
        }
    }

    // the body
    let wants_body = [
        "expect_body",
        "expect_payload",
        "expect_body_contains",
        "expect_body_lacks",
        "expect_content_type",
    ]
    .iter()
    .any(|k| case.contains_key(*k));
    if wants_body {
        match ctx.body_bytes() {
            Err(e) => problems.push(format!("the body cannot be formatted: {e}")),
            Ok((bytes, ct)) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if let Some(want) = str_of(case, "expect_body") {
                    let how = str_of(case, "expect_body_as").unwrap_or_else(|| guess(want));
                    if let Err(e) = compare(how, &text, want) {
                        problems.push(format!("body: {e}"));
                    }
                }
                for s in strings(case, "expect_body_contains") {
                    if !text.contains(s) {
                        problems.push(format!("body: expected it to contain `{s}`, got `{text}`"));
                    }
                }
                for s in strings(case, "expect_body_lacks") {
                    if text.contains(s) {
                        problems.push(format!("body: expected no `{s}`, got `{text}`"));
                    }
                }
                if let Some(want) = str_of(case, "expect_content_type") {
                    let got = ct.as_deref().map(media).unwrap_or_default();
                    if !got.eq_ignore_ascii_case(want) {
                        problems.push(format!("content type: expected `{want}`, got `{got}`"));
                    }
                }
                if let Some(want) = str_of(case, "expect_payload") {
                    if let Err(e) = payload_is(&bytes, ct.as_deref(), want) {
                        problems.push(format!("payload: {e}"));
                    }
                }
            }
        }
    }

    // what went to backends
    let seen = invoker.seen();
    if let Some(n) = case
        .get("expect_outbound_count")
        .and_then(|v| v.as_integer())
    {
        if seen.len() as i64 != n {
            problems.push(format!(
                "outbound: expected {n} requests, got {}",
                seen.len()
            ));
        }
    }
    if let Some(want) = case.get("expect_outbound").and_then(|v| v.as_array()) {
        if want.len() != seen.len() {
            problems.push(format!(
                "outbound: expected {} requests, got {}",
                want.len(),
                seen.len()
            ));
        }
        for (i, (w, r)) in want.iter().zip(&seen).enumerate() {
            let Some(w) = w.as_table() else { continue };
            let body = String::from_utf8_lossy(&r.body).into_owned();
            if let Some(m) = str_of(w, "method") {
                if r.method.as_str() != m {
                    problems.push(format!(
                        "outbound[{i}] method: expected {m}, got {}",
                        r.method
                    ));
                }
            }
            if let Some(u) = str_of(w, "url") {
                if r.url != u {
                    problems.push(format!("outbound[{i}] url: expected {u}, got {}", r.url));
                }
            }
            if let Some(b) = str_of(w, "body") {
                let how = str_of(w, "body_as").unwrap_or_else(|| guess(b));
                if let Err(e) = compare(how, &body, b) {
                    problems.push(format!("outbound[{i}] body: {e}"));
                }
            }
            for s in strings(w, "body_contains") {
                if !body.contains(s) {
                    problems.push(format!(
                        "outbound[{i}] body: expected it to contain `{s}`, got `{body}`"
                    ));
                }
            }
            if let Some(want) = str_of(w, "payload") {
                let ct = r
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                if let Err(e) = payload_is(&r.body, ct, want) {
                    problems.push(format!("outbound[{i}] payload: {e}"));
                }
            }
            if let Some(want) = str_of(w, "content_type") {
                let got = r
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(media)
                    .unwrap_or_default();
                if !got.eq_ignore_ascii_case(want) {
                    problems.push(format!(
                        "outbound[{i}] content type: expected `{want}`, got `{got}`"
                    ));
                }
            }
            for (k, v) in string_map(table_of(w, "headers"))? {
                let got = r.headers.get(&k).and_then(|h| h.to_str().ok());
                if got != Some(v.as_str()) {
                    problems.push(format!(
                        "outbound[{i}] header {k}: expected `{v}`, got {got:?}"
                    ));
                }
            }
        }
    }
    finish(problems)
}

/// The elements of the SOAP body of `bytes` (the payload whatever its wire format) are `want`,
/// compared as canonical XML.
fn payload_is(bytes: &[u8], ct: Option<&str>, want: &str) -> Result<(), String> {
    let p = synaptic_payload::build(bytes, ct)
        .map_err(|e| format!("the sent body does not build: {e}"))?;
    let env = synaptic_payload::to_envelope(&p);
    let got: String = env.body.iter().map(canonical).collect();
    let w = canonical_fragment(want)?;
    if w == got {
        Ok(())
    } else {
        Err(format!(
            "expected\n  {w}\ngot\n  {got}\n(sent: {})",
            String::from_utf8_lossy(bytes)
        ))
    }
}

/// The `<log>` lines of a run: (level, message).
#[derive(Default)]
struct LogLines(std::sync::Mutex<Vec<(String, String)>>);

impl MediationObserver for LogLines {
    fn log(&self, entry: &LogEntry<'_>) {
        if let Ok(mut l) = self.0.lock() {
            l.push((entry.level.to_string(), entry.message.to_string()));
        }
    }
}

fn finish(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn strings<'a>(case: &'a toml::Table, name: &str) -> Vec<&'a str> {
    match case.get(name) {
        Some(toml::Value::String(s)) => vec![s.as_str()],
        Some(toml::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    }
}

fn media(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_string()
}

fn scope_map(ctx: &MessageContext, scope: &str) -> Result<BTreeMap<String, String>, String> {
    if scope == "transport" {
        return Ok(ctx
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect());
    }
    let s = Scope::parse(scope).ok_or(format!("unknown scope `{scope}`"))?;
    Ok(ctx.scope_strings(s))
}

/// Evaluate `expr` on the message after the run, as a `<property expression>` reads it.
fn probe(
    rt: &tokio::runtime::Runtime,
    ctx: &mut MessageContext,
    expr: &str,
    namespaces: Option<&toml::Table>,
    now: i64,
) -> Result<Option<String>, String> {
    const NAME: &str = "conformance.probe";
    let mut decls = String::new();
    for (p, uri) in string_map(namespaces)? {
        decls.push_str(&format!(" xmlns:{p}=\"{}\"", xml_attr(&uri)));
    }
    let config = format!(
        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"probe\"{decls}><property name=\"{NAME}\" expression=\"{}\"/></sequence>",
        xml_attr(expr)
    );
    let compiled = compile_text("probe.xml", &config);
    let program = compiled.program.ok_or_else(|| {
        format!(
            "probe `{expr}` does not compile:\n{}",
            compiled
                .parse_errors
                .iter()
                .chain(&compiled.lint)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let engine = engine(
        program,
        Arc::new(ScriptedInvoker::default()),
        Arc::new(TestRegistry::default()),
        now,
    );
    let before = ctx.properties.default.remove(NAME);
    rt.block_on(engine.mediate("probe", None, ctx))
        .map_err(|e| format!("probe `{expr}` faults: {e}"))?;
    let got = ctx.scope_strings(Scope::Default).get(NAME).cloned();
    ctx.properties.default.remove(NAME);
    if let Some(b) = before {
        ctx.properties.default.insert(NAME, b);
    }
    Ok(got)
}

fn xml_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

fn guess(want: &str) -> &'static str {
    let t = want.trim_start();
    if t.starts_with('<') {
        "xml"
    } else if serde_json::from_str::<serde_json::Value>(want).is_ok() {
        "json"
    } else {
        "text"
    }
}

fn compare(how: &str, got: &str, want: &str) -> Result<(), String> {
    match how {
        "xml" => {
            let g = canonical_fragment(got)?;
            let w = canonical_fragment(want)?;
            if g == w {
                Ok(())
            } else {
                Err(format!(
                    "expected (canonical)\n  {w}\ngot\n  {g}\n(as sent: {got})"
                ))
            }
        }
        "json" => {
            let g: serde_json::Value =
                serde_json::from_str(got).map_err(|e| format!("not JSON ({e}): `{got}`"))?;
            let w: serde_json::Value =
                serde_json::from_str(want).map_err(|e| format!("bad JSON in case: {e}"))?;
            if g == w {
                Ok(())
            } else {
                Err(format!("expected\n  {w}\ngot\n  {g}"))
            }
        }
        "text" => {
            if got.trim() == want.trim() {
                Ok(())
            } else {
                Err(format!(
                    "expected\n  `{}`\ngot\n  `{}`",
                    want.trim(),
                    got.trim()
                ))
            }
        }
        other => Err(format!("unknown comparison `{other}`")),
    }
}

/// Canonical text of the elements of an XML fragment.
fn canonical_fragment(text: &str) -> Result<String, String> {
    let t = text.trim();
    let t = if t.starts_with("<?xml") {
        t.split_once("?>").map(|(_, r)| r).unwrap_or(t)
    } else {
        t
    };
    let nodes = synaptic_payload::xml::parse_fragment(t, &[])
        .map_err(|e| format!("not well-formed XML ({e}): {text}"))?;
    Ok(nodes
        .iter()
        .filter_map(|n| match n {
            Node::Element(e) => Some(canonical(e)),
            _ => None,
        })
        .collect())
}

/// `{ns}local[@{ns}a="v" …](children)`: namespace URIs and local names, attributes sorted,
/// comments and whitespace-only text between elements dropped.
fn canonical(e: &Element) -> String {
    let mut out = format!("{{{}}}{}", e.name.ns, e.name.local);
    let mut attrs: Vec<String> = e
        .attributes
        .iter()
        .map(|a| format!("@{{{}}}{}={:?}", a.name.ns, a.name.local, a.value))
        .collect();
    attrs.sort();
    if !attrs.is_empty() {
        out.push('[');
        out.push_str(&attrs.join(" "));
        out.push(']');
    }
    let has_elements = e.children.iter().any(|c| matches!(c, Node::Element(_)));
    out.push('(');
    for c in &e.children {
        match c {
            Node::Element(c) => out.push_str(&canonical(c)),
            Node::Text(t) if has_elements && t.trim().is_empty() => {}
            Node::Text(t) => out.push_str(&format!("{t:?}")),
            Node::Comment(_) | Node::Pi { .. } => {}
        }
    }
    out.push(')');
    out
}
