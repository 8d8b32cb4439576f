//! One suite: read it and what it names, check the artifacts, start the mock services, run
//! each test case and check its assertions.

use super::mock::{self, Misses};
use super::{compare, CaseResult, Outcome, SuiteResult};
use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_diag::render::{render, Format};
use synaptic_diag::{codes, Diagnostic, SourceId, SourceMap};
use synaptic_engine::{MessageContext, Payload, Value};
use synaptic_syntax::ast::{Artifact, EndpointKind};
use synaptic_syntax::unit_test::{
    self as ut, AssertionKind, MockService, PropertyScope, Suite, TestCase,
};
use tokio::time::Instant;

/// What a suite names, read and parsed.
struct Prepared {
    map: SourceMap,
    suite: Suite,
    root: PathBuf,
    /// The test artifact first, then the supportive ones.
    artifacts: Vec<(String, SourceId, Artifact)>,
    mocks: Vec<MockService>,
    diags: Vec<Diagnostic>,
}

/// The folder the suite's paths are relative to: the nearest folder above the suite holding
/// the path of its first artifact; by layout when none does (`<root>/src/test/wso2mi/…`,
/// `<root>/test/…`).
fn project_root(suite_path: &Path, first: Option<&str>) -> PathBuf {
    let dir = suite_path
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .unwrap_or(Path::new("."));
    if let Some(rel) = first {
        for anc in dir.ancestors() {
            let base = if anc.as_os_str().is_empty() {
                Path::new(".")
            } else {
                anc
            };
            if base.join(rel).is_file() {
                return base.to_path_buf();
            }
        }
    }
    let comps: Vec<_> = dir.components().collect();
    let names: Vec<String> = comps
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if let Some(i) = names
        .windows(3)
        .rposition(|w| w[0] == "src" && w[1] == "test" && w[2] == "wso2mi")
    {
        return comps[..i].iter().collect::<PathBuf>();
    }
    if let Some(i) = names.iter().rposition(|n| n == "test") {
        return comps[..i].iter().collect::<PathBuf>();
    }
    dir.to_path_buf()
}

fn at_root(root: &Path, rel: &str) -> PathBuf {
    if root.as_os_str().is_empty() {
        PathBuf::from(rel)
    } else {
        root.join(rel)
    }
}

/// Every path a suite names, with where it is named.
fn named_files(suite: &Suite) -> Vec<&synaptic_diag::Spanned<String>> {
    let mut v: Vec<_> = suite.test_artifact.iter().collect();
    v.extend(suite.supportive.iter());
    v.extend(suite.registry.iter().map(|r| &r.artifact));
    v.extend(suite.mocks.iter());
    v
}

/// `synaptic lint` of a `<unit-test>` or `<mock-service>` file: its structure, and whether the
/// files it names exist.
pub fn lint_suite_file(path: &Path, source: SourceId, text: &str) -> Option<Vec<Diagnostic>> {
    match ut::root_name(text).as_deref() {
        Some("unit-test") => {
            let p = ut::parse_suite(source, text);
            let mut diags = p.diagnostics;
            diags.extend(suite_warnings(&p.tree));
            let root = project_root(
                path,
                p.tree.test_artifact.as_ref().map(|a| a.value.as_str()),
            );
            for f in named_files(&p.tree) {
                if !at_root(&root, &f.value).is_file() {
                    diags.push(missing(&root, f));
                }
            }
            Some(diags)
        }
        Some("mock-service") => Some(ut::parse_mock_service(source, text).diagnostics),
        _ => None,
    }
}

fn missing(root: &Path, f: &synaptic_diag::Spanned<String>) -> Diagnostic {
    Diagnostic::error(
        codes::E0131,
        f.span,
        format!(
            "`{}` is not a file (paths are relative to the project folder `{}`)",
            f.value,
            if root.as_os_str().is_empty() {
                ".".to_string()
            } else {
                root.display().to_string()
            }
        ),
    )
}

/// What the suite asks for that synaptic does not do.
fn suite_warnings(suite: &Suite) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for c in &suite.connectors {
        diags.push(Diagnostic::warning(
            codes::W0104,
            *c,
            "connector resources are not deployed by synaptic: connector operations do not run",
        ));
    }
    for c in &suite.cases {
        if let Some(p) = &c.request_protocol {
            if !p.value.eq_ignore_ascii_case("http") {
                diags.push(Diagnostic::warning(
                    codes::W0104,
                    p.span,
                    format!(
                        "request-protocol `{}`: synaptic calls the artifact over plain HTTP",
                        p.value
                    ),
                ));
            }
        }
    }
    diags
}

fn prepare(path: &Path) -> Result<Prepared, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the suite: {e}"))?;
    let mut map = SourceMap::new();
    let id = map.add(path.display().to_string(), text);
    let parsed = ut::parse_suite(id, map.text(id));
    let suite = parsed.tree;
    let mut diags = parsed.diagnostics;
    let root = project_root(path, suite.test_artifact.as_ref().map(|a| a.value.as_str()));
    let mut artifacts = Vec::new();
    for f in suite.test_artifact.iter().chain(suite.supportive.iter()) {
        let file = at_root(&root, &f.value);
        match std::fs::read(&file) {
            Ok(bytes) => {
                let aid = map.add(
                    file.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
                let p = synaptic_syntax::parse_artifact(aid, map.text(aid));
                diags.extend(p.diagnostics);
                artifacts.push((f.value.clone(), aid, p.tree));
            }
            Err(_) => diags.push(missing(&root, f)),
        }
    }
    let mut mocks = Vec::new();
    for f in &suite.mocks {
        let file = at_root(&root, &f.value);
        match std::fs::read(&file) {
            Ok(bytes) => {
                let mid = map.add(
                    file.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
                let p = ut::parse_mock_service(mid, map.text(mid));
                diags.extend(p.diagnostics);
                mocks.push(p.tree);
            }
            Err(_) => diags.push(missing(&root, f)),
        }
    }
    for r in &suite.registry {
        if !at_root(&root, &r.artifact.value).is_file() {
            diags.push(missing(&root, &r.artifact));
        }
        if registry_place(&r.registry_path.value).is_none() {
            diags.push(Diagnostic::error(
                codes::E0130,
                r.registry_path.span,
                format!(
                    "registry path `{}` is not under /_system/config, /_system/governance or /_system/local",
                    r.registry_path.value
                ),
            ));
        }
    }
    diags.extend(suite_warnings(&suite));
    Ok(Prepared {
        map,
        suite,
        root,
        artifacts,
        mocks,
        diags,
    })
}

/// Registry space and path of a registry-path (`/_system/config/a` → `conf`, `a`).
fn registry_place(path: &str) -> Option<(&'static str, String)> {
    let p = path.trim().trim_end_matches('/');
    for (prefix, space) in [
        ("/_system/config", "conf"),
        ("/_system/governance", "gov"),
        ("/_system/local", "local"),
    ] {
        if let Some(rest) = p.strip_prefix(prefix) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some((space, rest.trim_start_matches('/').to_string()));
            }
        }
    }
    None
}

/// What the suite tests.
#[derive(Clone, Debug)]
enum Target {
    Sequence(String),
    /// Name and `context` attribute (requests go to the context joined with `request-path`).
    Api(String, String),
    Proxy(String),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Sequence(n) => format!("sequence {n}"),
            Target::Api(n, _) => format!("api {n}"),
            Target::Proxy(n) => format!("proxy {n}"),
        }
    }
}

fn target_of(a: &Artifact) -> Option<Target> {
    match a.root.as_str() {
        "sequence" => a
            .sequences
            .iter()
            .find(|s| !s.anonymous)
            .map(|s| Target::Sequence(s.name.value.clone())),
        "api" => a
            .apis
            .first()
            .map(|api| Target::Api(api.name.value.clone(), api.context.value.clone())),
        "proxy" => a
            .proxies
            .first()
            .map(|p| Target::Proxy(p.name.value.clone())),
        _ => None,
    }
}

fn render_all(map: &SourceMap, diags: &[Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .map(|d| render(map, d, Format::Short))
        .collect()
}

pub async fn run_suite(path: &Path, timeout: Duration) -> SuiteResult {
    let start = Instant::now();
    let mut res = SuiteResult {
        path: path.display().to_string(),
        target: String::new(),
        notes: Vec::new(),
        error: None,
        cases: Vec::new(),
        time: Duration::ZERO,
    };
    match run_prepared(path, timeout, &mut res).await {
        Ok(()) => {}
        Err(e) => res.error = Some(e),
    }
    res.time = start.elapsed();
    res
}

async fn run_prepared(path: &Path, timeout: Duration, res: &mut SuiteResult) -> Result<(), String> {
    let mut p = prepare(path)?;
    // check the artifacts as `synaptic lint` does (positions in the project's own files)
    let trees: Vec<Artifact> = p.artifacts.iter().map(|a| a.2.clone()).collect();
    if !trees.is_empty() {
        let (_, cd) = synaptic_engine::compile(&trees, &synaptic_engine::CompileOptions::default());
        p.diags.extend(cd);
        p.diags
            .extend(synaptic_gateway::artifacts::check(&trees, &p.map));
    }
    let target = match (&p.suite.test_artifact, p.artifacts.first()) {
        (Some(t), Some((rel, _, a))) if rel == &t.value => match target_of(a) {
            Some(t) => Some(t),
            None => {
                p.diags.push(Diagnostic::error(
                    codes::E0131,
                    t.span,
                    format!(
                        "a <{}> cannot be the test artifact: it is a <sequence>, <api> or <proxy>",
                        if a.root.is_empty() { "?" } else { &a.root }
                    ),
                ));
                None
            }
        },
        _ => None,
    };
    synaptic_diag::sort(&mut p.diags);
    p.diags.dedup_by(|a, b| {
        a.code == b.code && a.primary_span() == b.primary_span() && a.message == b.message
    });
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        p.diags.iter().cloned().partition(|d| d.is_error());
    res.notes = render_all(&p.map, &warnings);
    if let Some(t) = &target {
        res.target = t.describe();
    }
    if !errors.is_empty() {
        let mut lines = vec![format!(
            "the suite cannot run: {} error{}",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        )];
        lines.extend(render_all(&p.map, &errors));
        return Err(lines.join("\n"));
    }
    let Some(target) = target else {
        return Err("the suite names no test artifact".into());
    };

    // mock services
    let misses: Misses = Arc::new(Mutex::new(Vec::new()));
    let mut servers = Vec::new();
    for m in &p.mocks {
        match mock::start(m, misses.clone()).await {
            Ok(s) => servers.push(s),
            Err(e) => {
                for s in servers {
                    s.stop().await;
                }
                return Err(format!("cannot start a mock service on 127.0.0.1: {e}"));
            }
        }
    }
    let outcome = run_with_mocks(&p, &target, &servers, &misses, timeout, res).await;
    for s in servers {
        s.stop().await;
    }
    outcome
}

/// The artifact texts with the endpoints that mock services replace pointed at them.
fn rewritten(
    p: &Prepared,
    servers: &[mock::MockServer],
    notes: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut used = vec![false; servers.len()];
    let mut out = Vec::new();
    for (rel, id, tree) in &p.artifacts {
        let text = p.map.text(*id);
        let mut edits: Vec<(usize, usize, String)> = Vec::new();
        for ep in &tree.endpoints {
            let Some(name) = &ep.name else { continue };
            let Some(i) = servers.iter().position(|s| s.name == name.value) else {
                continue;
            };
            let span = match &ep.kind {
                EndpointKind::Http { uri_template, .. } => uri_template.span,
                EndpointKind::Address { uri } => uri.span,
                _ => {
                    notes.push(format!(
                        "warning: mock service `{}`: endpoint `{}` is not an address or http endpoint; it is not replaced",
                        name.value, name.value
                    ));
                    continue;
                }
            };
            let (s, e) = (span.start as usize, span.end as usize);
            let Some(raw) = text.get(s..e) else { continue };
            // scheme and authority are replaced; the path, query and templates stay
            let auth_end = match raw.find("://") {
                Some(k) => {
                    let after = k + 3;
                    raw[after..]
                        .find(['/', '?', '#'])
                        .map_or(raw.len(), |j| after + j)
                }
                None => continue,
            };
            used[i] = true;
            edits.push((s, s + auth_end, format!("http://{}", servers[i].addr)));
        }
        let mut t = text.to_string();
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (s, e, new) in edits {
            t.replace_range(s..e, &new);
        }
        let base = Path::new(rel)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "artifact.xml".into());
        out.push((base, t));
    }
    for (i, s) in servers.iter().enumerate() {
        if !used[i] {
            notes.push(format!(
                "warning: mock service `{}` replaces no endpoint: no address or http <endpoint name=\"{}\"> among the suite's artifacts",
                s.name, s.name
            ));
        }
    }
    out
}

async fn run_with_mocks(
    p: &Prepared,
    target: &Target,
    servers: &[mock::MockServer],
    misses: &Misses,
    timeout: Duration,
    res: &mut SuiteResult,
) -> Result<(), String> {
    let texts = rewritten(p, servers, &mut res.notes);
    let tmp = tempfile::Builder::new()
        .prefix("synaptic-test-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary folder: {e}"))?;
    let seq_dir = tmp.path().join("artifacts");
    let reg_dir = tmp.path().join("registry");
    std::fs::create_dir_all(&seq_dir).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&reg_dir).map_err(|e| e.to_string())?;
    for (i, (name, text)) in texts.iter().enumerate() {
        std::fs::write(seq_dir.join(format!("{i:03}-{name}")), text).map_err(|e| e.to_string())?;
    }
    for r in &p.suite.registry {
        let Some((space, rest)) = registry_place(&r.registry_path.value) else {
            continue;
        };
        let mut dest = reg_dir.join(space);
        if !rest.is_empty() {
            dest = dest.join(rest);
        }
        std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
        std::fs::copy(
            at_root(&p.root, &r.artifact.value),
            dest.join(r.file_name.value.trim()),
        )
        .map_err(|e| format!("cannot copy registry resource `{}`: {e}", r.artifact.value))?;
    }
    match target {
        Target::Sequence(name) => {
            run_sequence_cases(p, name, &texts, &reg_dir, misses, timeout, res).await
        }
        Target::Api(_, context) => {
            let ctx = context.clone();
            run_http_cases(p, tmp.path(), misses, timeout, res, |case| {
                (
                    api_url(&ctx, case.request_path.as_ref().map(|r| r.value.as_str())),
                    case.request_method
                        .as_ref()
                        .map(|m| m.value.to_ascii_uppercase())
                        .unwrap_or_else(|| "GET".into()),
                )
            })
            .await
        }
        Target::Proxy(name) => {
            let path = format!("/services/{name}");
            run_http_cases(p, tmp.path(), misses, timeout, res, |_| {
                (path.clone(), "POST".to_string())
            })
            .await
        }
    }
}

/// The framework's request URL: the API's `context` attribute, then the request path (`/`
/// alone adds nothing; a path without a leading `/` gets one).
pub(crate) fn api_url(context: &str, request_path: Option<&str>) -> String {
    match request_path {
        None | Some("") | Some("/") => context.to_string(),
        Some(p) if p.starts_with('/') => format!("{context}{p}"),
        Some(p) => format!("{context}/{p}"),
    }
}

fn take_misses(misses: &Misses) -> Vec<String> {
    misses
        .lock()
        .map(|mut m| std::mem::take(&mut *m))
        .unwrap_or_default()
}

/// Payload and the content type the framework's message gets: XML in a SOAP 1.1 envelope's
/// body, JSON, or text.
fn input_body(payload: &str) -> (String, &'static str) {
    let t = payload.trim();
    if t.starts_with('<') && synaptic_payload::xml::parse(t).is_ok() {
        // the framework adds the payload as the child of a new SOAP 1.1 envelope's body
        let body = t
            .strip_prefix("<?xml")
            .and_then(|r| r.find("?>").map(|i| r[i + 2..].trim_start()))
            .unwrap_or(t);
        (
            format!(
                "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
            ),
            "text/xml",
        )
    } else if serde_json::from_str::<serde_json::Value>(t).is_ok() {
        (t.to_string(), "application/json")
    } else {
        (t.to_string(), "text/plain")
    }
}

async fn run_sequence_cases(
    p: &Prepared,
    seq: &str,
    texts: &[(String, String)],
    reg_dir: &Path,
    misses: &Misses,
    timeout: Duration,
    res: &mut SuiteResult,
) -> Result<(), String> {
    let mut map = SourceMap::new();
    let mut trees = Vec::new();
    for (name, text) in texts {
        let id = map.add(name.clone(), text.clone());
        trees.push(synaptic_syntax::parse_artifact(id, map.text(id)).tree);
    }
    let (opts, values) = synaptic_gateway::standalone::compile_options(&p.root);
    let (program, diags) = synaptic_engine::compile(&trees, &opts);
    let Some(program) = program.filter(|_| !diags.iter().any(|d| d.is_error())) else {
        return Err(render_all(&map, &diags).join("\n"));
    };
    let registry = synaptic_registry::FileRegistry::open(reg_dir)
        .map_err(|e| format!("cannot open the registry: {e}"))?;
    let program = Arc::new(program);
    // one suite's cases share counters and cache, as on one running server
    let engine = synaptic_gateway::standalone::engine(
        program.clone(),
        values,
        Arc::new(registry),
        &p.root,
        timeout,
    )
    .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    for case in &p.suite.cases {
        let t0 = Instant::now();
        take_misses(misses);
        let mut headers = http::HeaderMap::new();
        for prop in case
            .properties
            .iter()
            .filter(|p| p.scope == PropertyScope::Transport)
        {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::from_bytes(prop.name.as_bytes()),
                http::HeaderValue::from_str(&prop.value),
            ) {
                headers.insert(n, v);
            }
        }
        let body = match &case.payload {
            Some(pl) if !pl.trim().is_empty() => {
                let (b, ct) = input_body(pl);
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static(ct),
                    );
                }
                Bytes::from(b)
            }
            _ => Bytes::new(),
        };
        let mut ctx = MessageContext::from_request(http::Method::POST, "/", headers, body, None);
        for prop in &case.properties {
            let v = Value::String(prop.value.clone());
            match prop.scope {
                PropertyScope::Default => {
                    ctx.properties.default.insert(prop.name.clone(), v);
                }
                PropertyScope::Axis2 => {
                    ctx.properties.axis2.insert(prop.name.clone(), v);
                }
                PropertyScope::Transport => {}
            }
        }
        let outcome = match tokio::time::timeout(timeout, engine.mediate(seq, None, &mut ctx)).await
        {
            Err(_) => Outcome::Error(format!(
                "the sequence did not finish within {} s",
                timeout.as_secs()
            )),
            Ok(Err(e)) => {
                let mut why = vec![format!("sequence mediation failed: {e}")];
                why.extend(take_misses(misses));
                Outcome::Failed(why)
            }
            Ok(Ok(_)) => {
                let failures = check_sequence(case, &mut ctx);
                verdict(failures, misses)
            }
        };
        res.cases.push(CaseResult {
            name: case.name.clone(),
            outcome,
            time: t0.elapsed(),
        });
    }
    Ok(())
}

fn verdict(failures: Vec<String>, misses: &Misses) -> Outcome {
    if failures.is_empty() {
        take_misses(misses);
        Outcome::Passed
    } else {
        let mut f = failures;
        f.extend(take_misses(misses));
        Outcome::Failed(f)
    }
}

/// The message's body as the framework's `$body` reads it: JSON as JSON text, XML as the
/// body's first element, text as the text; `None` when there is no body.
fn sequence_body(ctx: &mut MessageContext) -> Option<String> {
    if let Payload::Raw(b) = &ctx.payload {
        let built = synaptic_payload::build(b, ctx.content_type.as_deref());
        if let Ok(p) = built {
            ctx.payload = p;
        }
    }
    match &ctx.payload {
        Payload::Empty => None,
        Payload::Raw(b) | Payload::Binary(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Payload::Json(v) => Some(v.to_string()),
        Payload::Text(t) => Some(t.clone()),
        Payload::Xml(env) => env.body.first().map(|e| e.to_xml()),
    }
}

fn clip(s: &str) -> String {
    const MAX: usize = 600;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &s[..end], s.len())
}

fn assertion_failure(kind: &str, actual_expr: &str, message: &str, detail: String) -> String {
    let head = if message.is_empty() {
        format!("{kind} {actual_expr}")
    } else {
        format!("{kind} {actual_expr}: {message}")
    };
    format!("{head}\n{detail}")
}

/// Check one value against an assertion; `None` when it holds.
fn check_value(a: &ut::Assertion, value: Result<Option<String>, String>) -> Option<String> {
    let actual_expr = &a.actual.value;
    match (&a.kind, value) {
        (_, Err(why)) => Some(assertion_failure(
            kind_name(&a.kind),
            actual_expr,
            &a.message,
            format!("  {why}"),
        )),
        (AssertionKind::NotNull, Ok(v)) => v.is_none().then(|| {
            assertion_failure(
                "assertNotNull",
                actual_expr,
                &a.message,
                "  actual: null".into(),
            )
        }),
        (AssertionKind::Equals { expected }, Ok(v)) => {
            let holds = v.as_deref().is_some_and(|v| compare::equal(expected, v));
            (!holds).then(|| {
                assertion_failure(
                    "assertEquals",
                    actual_expr,
                    &a.message,
                    format!(
                        "  expected: {}\n  actual:   {}",
                        clip(expected.trim()),
                        v.as_deref()
                            .map(|s| clip(s.trim()))
                            .unwrap_or_else(|| "null".into())
                    ),
                )
            })
        }
    }
}

fn kind_name(k: &AssertionKind) -> &'static str {
    match k {
        AssertionKind::Equals { .. } => "assertEquals",
        AssertionKind::NotNull => "assertNotNull",
    }
}

fn check_sequence(case: &TestCase, ctx: &mut MessageContext) -> Vec<String> {
    let mut failures = Vec::new();
    for a in &case.assertions {
        let e = a.actual.value.as_str();
        let value = if e == "$body" {
            Ok(sequence_body(ctx))
        } else if let Some(n) = e.strip_prefix("$ctx:") {
            Ok(ctx.scope_strings(synaptic_engine::Scope::Default).remove(n))
        } else if let Some(n) = e.strip_prefix("$axis2:") {
            Ok(ctx.scope_strings(synaptic_engine::Scope::Axis2).remove(n))
        } else if let Some(n) = e.strip_prefix("$trp:") {
            Ok(ctx
                .headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()))
        } else if e.starts_with("${") {
            Err("synaptic does not evaluate ${…} assertions yet".to_string())
        } else {
            Err(format!("`{e}` is not a valid assertion for sequences"))
        };
        if let Some(f) = check_value(a, value) {
            failures.push(f);
        }
    }
    failures
}

async fn run_http_cases(
    p: &Prepared,
    dir: &Path,
    misses: &Misses,
    timeout: Duration,
    res: &mut SuiteResult,
    request: impl Fn(&TestCase) -> (String, String),
) -> Result<(), String> {
    let toml = "[server]\nlisten = \"127.0.0.1:0\"\nsequences = \"artifacts\"\nregistry = \"registry\"\nwatch = false\naccess_log = false\n";
    let config =
        synaptic_gateway::config::from_str(SourceId(0), toml, dir.to_path_buf()).map_err(|d| {
            format!(
                "internal configuration refused: {:?}",
                d.iter().map(|d| &d.message).collect::<Vec<_>>()
            )
        })?;
    let opts = synaptic_gateway::ServeOptions {
        listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        watch: Some(false),
        ..Default::default()
    };
    let (running, _report) = synaptic_gateway::start(config, opts)
        .await
        .map_err(|e| match e {
            synaptic_gateway::StartError::Sequences(report) => {
                format!(
                    "the artifacts do not deploy:\n{}",
                    report.render().join("\n")
                )
            }
            other => format!("the gateway does not start: {other}"),
        })?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let base = format!("http://{}", running.addr());
    for case in &p.suite.cases {
        let t0 = Instant::now();
        take_misses(misses);
        let (path, method) = request(case);
        let outcome = match http::Method::from_bytes(method.as_bytes()) {
            Err(_) => Outcome::Error(format!("`{method}` is not an HTTP method")),
            Ok(m) => {
                let mut rb = client.request(m.clone(), format!("{base}{path}"));
                let mut has_ct = false;
                for prop in case
                    .properties
                    .iter()
                    .filter(|p| p.scope == PropertyScope::Transport)
                {
                    has_ct |= prop.name.eq_ignore_ascii_case("content-type");
                    rb = rb.header(prop.name.as_str(), prop.value.as_str());
                }
                let entity = !matches!(
                    m,
                    http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
                );
                if entity {
                    let payload = case
                        .payload
                        .as_deref()
                        .map(str::trim)
                        .unwrap_or("")
                        .to_string();
                    if !has_ct {
                        // the framework's client sends a string entity as text
                        rb = rb.header("content-type", "text/plain; charset=UTF-8");
                    }
                    rb = rb.body(payload);
                }
                match rb.send().await {
                    Err(e) => Outcome::Error(format!("{method} {path}: {e}")),
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let version = format!("{:?}", resp.version());
                        let headers = resp.headers().clone();
                        match resp.bytes().await {
                            Err(e) => Outcome::Error(format!(
                                "{method} {path}: reading the response: {e}"
                            )),
                            Ok(body) => {
                                let failures =
                                    check_response(case, status, &version, &headers, &body);
                                if failures.is_empty() {
                                    verdict(failures, misses)
                                } else {
                                    let mut f = failures;
                                    f.push(format!(
                                        "(the request was {method} {path}, answered {status})"
                                    ));
                                    verdict(f, misses)
                                }
                            }
                        }
                    }
                }
            }
        };
        res.cases.push(CaseResult {
            name: case.name.clone(),
            outcome,
            time: t0.elapsed(),
        });
    }
    running.shutdown().await;
    Ok(())
}

fn check_response(
    case: &TestCase,
    status: u16,
    version: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Vec<String> {
    let mut failures = Vec::new();
    for a in &case.assertions {
        let e = a.actual.value.as_str();
        let value = if e == "$body" {
            Ok((!body.is_empty()).then(|| String::from_utf8_lossy(body).into_owned()))
        } else if e == "$statusCode" {
            Ok(Some(status.to_string()))
        } else if e == "$httpVersion" {
            Ok(Some(version.to_string()))
        } else if let Some(n) = e.strip_prefix("$trp:") {
            Ok(headers
                .get(n)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()))
        } else {
            Err(format!(
                "`{e}` is not a valid assertion for an API or proxy ($body, $statusCode, $httpVersion, $trp:NAME)"
            ))
        };
        if let Some(f) = check_value(a, value) {
            failures.push(f);
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_path_is_relative_to_the_context() {
        assert_eq!(api_url("/orders", None), "/orders");
        assert_eq!(api_url("/orders", Some("/")), "/orders");
        assert_eq!(api_url("/orders", Some("/1.0/42")), "/orders/1.0/42");
        assert_eq!(api_url("/orders", Some("42?x=1")), "/orders/42?x=1");
    }

    #[test]
    fn project_root_by_layout() {
        assert_eq!(
            project_root(Path::new("p/src/test/wso2mi/S.xml"), None),
            PathBuf::from("p")
        );
        assert_eq!(
            project_root(Path::new("p/test/S.xml"), None),
            PathBuf::from("p")
        );
    }

    #[test]
    fn registry_paths() {
        assert_eq!(
            registry_place("/_system/config/xsl"),
            Some(("conf", "xsl".to_string()))
        );
        assert_eq!(
            registry_place("/_system/governance"),
            Some(("gov", String::new()))
        );
        assert_eq!(registry_place("/elsewhere"), None);
    }

    #[test]
    fn input_payloads_become_messages_like_the_framework_builds_them() {
        let (b, ct) = input_body(" <a>1</a> ");
        assert_eq!(ct, "text/xml");
        assert!(b.contains("<soapenv:Body><a>1</a></soapenv:Body>"));
        assert_eq!(input_body("{\"a\":1}").1, "application/json");
        assert_eq!(input_body("hello").1, "text/plain");
    }
}
