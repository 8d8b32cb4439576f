//! Data-driven goldens for the engine and lint.
//!
//! * `tests/data/mediate/<mediator>/<case>.xml`: a sequence (or `<definitions>`) preceded by a
//!   header comment that gives the input; run through `Engine` with a scripted invoker, an
//!   in-memory registry and a fixed clock; the outcome is compared with `<case>.expected`.
//! * `tests/data/lint/ok/*.xml` lint without errors or warnings; `tests/data/lint/err/*.xml`
//!   lint to `<case>.stderr` (short format).
//!
//! Bless with `UPDATE_EXPECT=1 cargo test -p synaptic-tests --test all golden::`; a missing golden is
//! written on first run.
//!
//! Header comment lines (`key: value`, one per line):
//! `request: METHOD PATH` · `context: /api/1.0` · `header: Name: value` · `body: text` ·
//! `property: name = value` (default scope) · `axis2: name = value` · `registry: key = value` ·
//! `now: epoch-ms` · `response: STATUS CONTENT-TYPE BODY` | `response: connect-error` |
//! `response: timeout` (scripted answers of the endpoint, in order) · `sequence: name` (which
//! sequence runs; default the first) · `fault: name` (the API fault sequence).

use bytes::Bytes;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use synaptic_diag::SourceMap;
use synaptic_engine::{CompileOptions, MessageContext, Scope};
use synaptic_tests::mediate::{
    compile_text, describe_outbound, engine, Scripted, ScriptedInvoker, TestRegistry,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Compare with a golden file; write it when missing or when `UPDATE_EXPECT` is set.
fn check_golden(path: &Path, actual: &str) -> Result<(), String> {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    match std::fs::read_to_string(path) {
        Ok(expected) if !update => {
            if expected == actual {
                Ok(())
            } else {
                Err(format!(
                    "{} differs (bless with UPDATE_EXPECT=1)\n--- expected\n{expected}\n--- actual\n{actual}",
                    path.display()
                ))
            }
        }
        _ => std::fs::write(path, actual)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
    }
}

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_with_ext(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

// ===== mediate goldens =====

struct Case {
    method: http::Method,
    path: String,
    context: Option<String>,
    headers: http::HeaderMap,
    body: String,
    properties: Vec<(String, String)>,
    axis2: Vec<(String, String)>,
    registry: Vec<(String, String)>,
    now: i64,
    responses: Vec<Scripted>,
    sequence: Option<String>,
    fault: Option<String>,
}

fn parse_header(text: &str) -> Result<Case, String> {
    let start = text.find("<!--").ok_or("no header comment")?;
    let end = text[start..].find("-->").ok_or("unclosed header comment")? + start;
    let mut c = Case {
        method: http::Method::GET,
        path: "/".into(),
        context: None,
        headers: http::HeaderMap::new(),
        body: String::new(),
        properties: Vec::new(),
        axis2: Vec::new(),
        registry: Vec::new(),
        now: 1_700_003_600_001,
        responses: Vec::new(),
        sequence: None,
        fault: None,
    };
    let kv = |s: &str| -> Result<(String, String), String> {
        let (k, v) = s
            .split_once(" = ")
            .ok_or(format!("expected `name = value` in `{s}`"))?;
        Ok((k.trim().to_string(), v.to_string()))
    };
    for line in text[start + 4..end].lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (key, val) = line
            .split_once(':')
            .ok_or(format!("bad header line `{line}`"))?;
        let val = val.trim();
        match key {
            "request" => {
                let (m, p) = val.split_once(' ').ok_or("request: METHOD PATH")?;
                c.method = m.parse().map_err(|_| "bad method")?;
                c.path = p.to_string();
            }
            "context" => c.context = Some(val.to_string()),
            "header" => {
                let (n, v) = val.split_once(':').ok_or("header: Name: value")?;
                c.headers.append(
                    http::HeaderName::from_bytes(n.trim().as_bytes()).map_err(|e| e.to_string())?,
                    v.trim().parse().map_err(|_| "bad header value")?,
                );
            }
            "body" => c.body = val.to_string(),
            "property" => c.properties.push(kv(val)?),
            "axis2" => c.axis2.push(kv(val)?),
            "registry" => c.registry.push(kv(val)?),
            "now" => c.now = val.parse().map_err(|_| "bad now")?,
            "sequence" => c.sequence = Some(val.to_string()),
            "fault" => c.fault = Some(val.to_string()),
            "response" => c.responses.push(match val {
                "connect-error" => Scripted::ConnectError,
                "timeout" => Scripted::Timeout,
                _ => {
                    let mut it = val.splitn(3, ' ');
                    let st = it.next().unwrap_or("").parse().map_err(|_| "bad status")?;
                    let ct = it.next().unwrap_or("-").to_string();
                    Scripted::Answer(st, ct, it.next().unwrap_or("").to_string(), Vec::new())
                }
            }),
            "#" | "note" => {}
            other => return Err(format!("unknown header key `{other}`")),
        }
    }
    Ok(c)
}

fn run_case(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let case = parse_header(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let compiled = compile_text(&path.display().to_string(), &text);
    let mut out = String::new();
    if !compiled.parse_errors.is_empty() {
        for d in &compiled.parse_errors {
            let _ = writeln!(out, "parse: {d}");
        }
        return Ok(out);
    }
    let seq = case
        .sequence
        .clone()
        .or_else(|| compiled.sequences.first().cloned())
        .ok_or("no sequence")?;
    for d in &compiled.lint {
        let _ = writeln!(out, "lint: {d}");
    }
    let Some(program) = compiled.program else {
        return Ok(out);
    };
    let registry = Arc::new(TestRegistry::with(case.registry));
    let invoker = Arc::new(ScriptedInvoker::new(case.responses));
    let engine = engine(program, invoker.clone(), registry.clone(), case.now);
    let mut ctx = MessageContext::from_request(
        case.method,
        &case.path,
        case.headers,
        Bytes::from(case.body),
        case.context.as_deref(),
    );
    for (k, v) in case.properties {
        ctx.properties
            .default
            .insert(k, synaptic_engine::Value::String(v));
    }
    for (k, v) in case.axis2 {
        ctx.properties
            .axis2
            .insert(k, synaptic_engine::Value::String(v));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = rt.block_on(engine.mediate(&seq, case.fault.as_deref(), &mut ctx));
    out.push_str(&describe_outbound(&invoker.seen()));
    match result {
        Ok(flow) => {
            let _ = writeln!(out, "flow: {flow:?}");
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "fault: {:?} {:?} code={} message={}",
                e.kind, e.origin, e.code, e.message
            );
        }
    }
    let _ = writeln!(out, "status: {:?}", ctx.status);
    let mut hs: Vec<_> = ctx
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    hs.sort();
    for h in hs {
        let _ = writeln!(out, "header: {h}");
    }
    match ctx.body_bytes() {
        Ok((b, ct)) => {
            let _ = writeln!(out, "content_type: {}", ct.unwrap_or_default());
            let _ = writeln!(out, "body: {}", String::from_utf8_lossy(&b));
        }
        Err(e) => {
            let _ = writeln!(out, "body error: {e}");
        }
    }
    for (scope, name) in [(Scope::Default, "default"), (Scope::Axis2, "axis2")] {
        for (k, v) in ctx.scope_strings(scope) {
            let _ = writeln!(out, "{name}: {k} = {v}");
        }
    }
    for (k, v) in registry.map.lock().unwrap().iter() {
        let _ = writeln!(out, "registry: {k} = {v}");
    }
    Ok(out)
}

#[test]
fn mediate_goldens() {
    let dir = data_dir().join("mediate");
    let cases = files_with_ext(&dir, "xml");
    assert!(
        cases.len() >= 20,
        "expected mediation goldens under {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let golden = case.with_extension("expected");
        match run_case(case) {
            Ok(actual) => {
                if let Err(e) = check_golden(&golden, &actual) {
                    failures.push(e);
                }
            }
            Err(e) => failures.push(format!("{}: {e}", case.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ===== lint goldens =====

/// `synaptic lint FILE` in-process: (output with the workspace root stripped, errors, warnings).
fn lint_one(path: &Path) -> (String, usize, usize) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let _ = synaptic_cli::run(
        vec!["synaptic".into(), "lint".into(), path.display().to_string()],
        &mut out,
        &mut err,
    );
    let text = String::from_utf8_lossy(&out).replace(&format!("{}/", root.display()), "");
    let errors = text.lines().filter(|l| l.contains(": error[")).count();
    let warnings = text.lines().filter(|l| l.contains(": warning[")).count();
    (text, errors, warnings)
}

#[test]
fn lint_ok_files_are_clean() {
    let files = files_with_ext(&data_dir().join("lint/ok"), "xml");
    assert!(!files.is_empty());
    let mut bad = Vec::new();
    for f in files {
        let (out, errors, warnings) = lint_one(&f);
        if errors + warnings > 0 {
            bad.push(out);
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn lint_err_goldens() {
    let files = files_with_ext(&data_dir().join("lint/err"), "xml");
    assert!(files.len() >= 10);
    let mut failures = Vec::new();
    for f in files {
        let (out, errors, warnings) = lint_one(&f);
        if errors + warnings == 0 {
            failures.push(format!("{}: expected diagnostics, got none", f.display()));
        }
        if let Err(e) = check_golden(&f.with_extension("stderr"), &out) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every shipped sequence lints clean apart from W09xx portability notes (each folder is
/// compiled as one program, as `synaptic lint <folder>` does).
#[test]
fn shipped_sequences_lint_clean() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut folders = vec![root.join("sequences")];
    assert!(
        files_with_ext(&folders[0], "xml").len() >= 2,
        "sequences/ must ship both token-generation variants"
    );
    if let Ok(rd) = std::fs::read_dir(root.join("examples")) {
        // the sequences folder of each example, or its MI project's artifacts
        let mut ex: Vec<PathBuf> = rd
            .flatten()
            .flat_map(|e| {
                [
                    e.path().join("sequences"),
                    e.path().join("src/main/synapse-config"),
                ]
            })
            .collect();
        ex.sort();
        folders.extend(ex.into_iter().filter(|p| p.is_dir()));
    }
    let mut bad: Vec<String> = Vec::new();
    for folder in folders {
        let mut map = SourceMap::new();
        let mut arts = Vec::new();
        let mut diags = Vec::new();
        for f in files_with_ext(&folder, "xml") {
            let text = std::fs::read_to_string(&f).unwrap();
            let id = map.add(f.display().to_string(), text.clone());
            let p = synaptic_syntax::parse_artifact(id, &text);
            diags.extend(p.diagnostics);
            arts.push(p.tree);
        }
        let (_, d2) = synaptic_engine::compile(&arts, &CompileOptions::default());
        diags.extend(d2);
        diags.extend(synaptic_gateway::artifacts::check(&arts, &map));
        bad.extend(
            diags
                .iter()
                .filter(|d| !d.code.id.starts_with("W09"))
                .map(|d| synaptic_diag::render::short(&map, d)),
        );
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
