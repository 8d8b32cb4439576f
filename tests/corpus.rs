//! The conformance corpus (268 Synapse files from real projects, in `SYNAPTIC_CORPUS_DIR`): every file
//! parses and lints without panicking, and the outcome of linting each file on its own is
//! pinned in `tests/data/lint/corpus.summary` (bless with `UPDATE_EXPECT=1`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use synaptic_diag::SourceMap;
use synaptic_engine::CompileOptions;

fn corpus_dir() -> PathBuf {
    let dir = synaptic_tests::corpus_dir();
    assert!(dir.is_dir(), "the corpus is missing at {}", dir.display());
    dir
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for e in entries {
        if e.is_dir() {
            xml_files(&e, out);
        } else if e.extension().is_some_and(|x| x == "xml") {
            out.push(e);
        }
    }
}

#[test]
fn corpus_lints_without_panic_to_a_golden_summary() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    xml_files(&dir, &mut files);
    assert_eq!(files.len(), 268, "corpus size");

    let mut clean = 0usize;
    let mut warnings_only = 0usize;
    let mut with_errors = 0usize;
    let mut compiled = 0usize;
    let mut codes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut unsupported: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_file = String::new();
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().display().to_string();
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut map = SourceMap::new();
        let id = map.add(rel.clone(), text.clone());
        let result = std::panic::catch_unwind(|| {
            let p = synaptic_syntax::parse_artifact(id, &text);
            // as the loader does: `<wsdl uri=…>` documents read beside the file
            let opts = CompileOptions {
                wsdl: Some(synaptic_gateway::wsdl::ProjectWsdl::new(f.parent().unwrap()).source()),
                ..Default::default()
            };
            let (program, d2) = synaptic_engine::compile(std::slice::from_ref(&p.tree), &opts);
            let mut all = p.diagnostics;
            all.extend(d2);
            all.extend(synaptic_gateway::artifacts::check(
                std::slice::from_ref(&p.tree),
                &map,
            ));
            (program.is_some(), all)
        });
        let (ok, mut diags) = match result {
            Ok(r) => r,
            Err(_) => panic!("parse or compile panicked on {rel}"),
        };
        // as `synaptic lint` does: the parser and the compiler may both report an unsupported
        // mediator on the same line
        synaptic_diag::sort(&mut diags);
        diags.dedup_by(|a, b| {
            a.code == b.code
                && (a.primary_span() == b.primary_span()
                    || (matches!(a.code.id, "E0108" | "E0112")
                        && map.line_col(a.primary_span()).0 == map.line_col(b.primary_span()).0))
        });
        if ok {
            compiled += 1;
        }
        let errors = diags.iter().filter(|d| d.is_error()).count();
        let warnings = diags.len() - errors;
        match (errors, warnings) {
            (0, 0) => clean += 1,
            (0, _) => warnings_only += 1,
            _ => with_errors += 1,
        }
        let mut file_codes: BTreeMap<&'static str, usize> = BTreeMap::new();
        for d in &diags {
            *codes.entry(d.code.id).or_default() += 1;
            *file_codes.entry(d.code.id).or_default() += 1;
            if d.code.id == "E0108" {
                // "mediator <enrich> is not supported yet" → enrich
                let name = d
                    .message
                    .split(['<', '>', '`'])
                    .nth(1)
                    .unwrap_or("?")
                    .to_string();
                *unsupported.entry(name).or_default() += 1;
            }
        }
        let summary: Vec<String> = file_codes.iter().map(|(c, n)| format!("{c}×{n}")).collect();
        let _ = writeln!(
            per_file,
            "{rel}: {}",
            if summary.is_empty() {
                "clean".to_string()
            } else {
                summary.join(" ")
            }
        );
    }
    let mut out = String::new();
    let _ = writeln!(out, "files: {}", files.len());
    let _ = writeln!(out, "clean: {clean}");
    let _ = writeln!(out, "warnings only: {warnings_only}");
    let _ = writeln!(out, "with errors: {with_errors}");
    let _ = writeln!(out, "compiled to a program: {compiled}");
    let _ = writeln!(out, "\ndiagnostics by code:");
    for (c, n) in &codes {
        let _ = writeln!(out, "  {c}: {n}");
    }
    let _ = writeln!(
        out,
        "\nunsupported mediators / endpoint types (E0108 occurrences):"
    );
    let mut unsup: Vec<_> = unsupported.into_iter().collect();
    unsup.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (m, n) in unsup {
        let _ = writeln!(out, "  {m}: {n}");
    }
    let _ = writeln!(out, "\nper file:");
    out.push_str(&per_file);

    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/lint/corpus.summary");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    match std::fs::read_to_string(&golden) {
        Ok(expected) if !update => assert!(
            expected == out,
            "{} differs (bless with UPDATE_EXPECT=1)\n--- actual\n{out}",
            golden.display()
        ),
        _ => std::fs::write(&golden, &out).unwrap(),
    }
}

/// Truncated and byte-flipped corpus files never make parse or compile panic.
#[test]
fn damaged_corpus_files_never_panic() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    xml_files(&dir, &mut files);
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for f in files.iter().step_by(3) {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let mut variants = Vec::new();
        for k in 1..6 {
            let mut cut = text.len() * k / 6;
            while cut > 0 && !text.is_char_boundary(cut) {
                cut -= 1;
            }
            variants.push(text[..cut].to_string());
        }
        for _ in 0..4 {
            let mut b = text.clone().into_bytes();
            if b.is_empty() {
                break;
            }
            for _ in 0..8 {
                let i = (next() as usize) % b.len();
                b[i] = b"<>/\"'=${}()[]&;: a"[(next() as usize) % 18];
            }
            variants.push(String::from_utf8_lossy(&b).into_owned());
        }
        for v in variants {
            let r = std::panic::catch_unwind(|| {
                let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &v);
                synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default())
                    .1
                    .len()
            });
            assert!(
                r.is_ok(),
                "panic on a damaged copy of {}:\n{v}",
                f.display()
            );
        }
    }
}

struct Canned;

#[async_trait::async_trait]
impl synaptic_engine::Invoker for Canned {
    async fn invoke(
        &self,
        req: synaptic_engine::OutboundRequest,
    ) -> Result<synaptic_engine::InboundResponse, synaptic_engine::InvokeError> {
        if req.url.contains("fail") {
            return Err(synaptic_engine::InvokeError::Connect("refused".into()));
        }
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        Ok(synaptic_engine::InboundResponse {
            status: 200,
            headers,
            body: bytes::Bytes::from_static(br#"{"ok":true,"items":[{"id":1},{"id":2}]}"#),
        })
    }
}

/// Every sequence of every corpus file that compiles runs without panicking, on a JSON POST,
/// an XML POST and a GET, against a canned backend.
#[test]
fn corpus_programs_run_without_panic() {
    let dir = corpus_dir();
    let mut files = Vec::new();
    xml_files(&dir, &mut files);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runs = 0usize;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &text);
        let (Some(program), _) =
            synaptic_engine::compile(std::slice::from_ref(&p.tree), &CompileOptions::default())
        else {
            continue;
        };
        let engine = synaptic_engine::Engine {
            configurables: std::sync::Arc::new(synaptic_engine::NoConfigurables),
            program: std::sync::Arc::new(program),
            invoker: std::sync::Arc::new(Canned),
            registry: std::sync::Arc::new(synaptic_registry::MemoryRegistry::new()),
            clock: std::sync::Arc::new(synaptic_engine::FixedClock(1_700_000_000_000)),
            state: std::sync::Arc::new(synaptic_engine::MemoryState::default()),
            db: std::sync::Arc::new(synaptic_engine::NoDatabase),
            limits: synaptic_engine::Limits::default(),
        };
        for name in engine.program.sequence_names() {
            for (method, ct, body) in [
                ("POST", "application/json", r#"{"symbol":"IBM","qty":3}"#),
                (
                    "POST",
                    "text/xml",
                    r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><getQuote><symbol>IBM</symbol></getQuote></soapenv:Body></soapenv:Envelope>"#,
                ),
                ("GET", "", ""),
            ] {
                let mut headers = http::HeaderMap::new();
                if !ct.is_empty() {
                    headers.insert("content-type", ct.parse().unwrap());
                }
                let mut ctx = synaptic_engine::MessageContext::from_request(
                    method.parse().unwrap(),
                    "/api/v1/orders/7?x=1",
                    headers,
                    bytes::Bytes::from(body),
                    Some("/api/v1"),
                );
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let _ = rt.block_on(engine.mediate(&name, None, &mut ctx));
                    let _ = ctx.body_bytes();
                }));
                assert!(
                    r.is_ok(),
                    "mediating {name} of {} ({method} {ct}) panicked",
                    f.display()
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 300, "only {runs} runs");
}
