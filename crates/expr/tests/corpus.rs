//! Every expression in the Synapse corpus (`SYNAPTIC_CORPUS_DIR`, see README) compiles without
//! panicking; the ones synaptic rejects are pinned in `tests/corpus_rejected.txt`.

use std::path::{Path, PathBuf};

use synaptic_diag::Span;
use synaptic_expr::compile;
use synaptic_payload::xml::{self, Element};

fn corpus_dir() -> PathBuf {
    // Not shipped with synaptic: `SYNAPTIC_CORPUS_DIR`, or where CI keeps it.
    std::env::var_os("SYNAPTIC_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/synapse")
        })
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "xml") {
            out.push(p);
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    XPath,
    JsonPath,
    Regex,
}

/// (expression or pattern, namespaces in scope, dialect)
type Found = (String, Vec<(String, String)>, Dialect);

fn expressions(e: &Element, scope: &mut Vec<(String, String)>, out: &mut Vec<Found>) {
    let mark = scope.len();
    scope.extend(e.namespaces.iter().cloned());
    for a in &e.attributes {
        let name = a.name.local.as_str();
        let is_expr = matches!(name, "expression" | "xpath")
            || (name == "source" && e.name.local == "filter");
        let is_regex = matches!(
            (name, e.name.local.as_str()),
            ("regex", "filter" | "case") | ("pattern", "property")
        );
        if is_regex && a.name.ns.is_empty() {
            out.push((a.value.clone(), Vec::new(), Dialect::Regex));
            continue;
        }
        if is_expr && a.name.ns.is_empty() {
            let dialect = if e.attribute("evaluator") == Some("json") {
                Dialect::JsonPath
            } else {
                Dialect::XPath
            };
            out.push((a.value.clone(), scope.clone(), dialect));
        }
    }
    for c in e.child_elements() {
        expressions(c, scope, out);
    }
    scope.truncate(mark);
}

#[test]
fn corpus_expressions_compile() {
    let dir = corpus_dir();
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    assert!(
        paths.len() > 200,
        "Synapse corpus not found at {} (set SYNAPTIC_CORPUS_DIR)",
        dir.display()
    );
    let envs = [
        Env(
            synaptic_payload::build(br#"{"a":{"b":[1,2]},"name":"x"}"#, Some("application/json"))
                .unwrap(),
        ),
        Env(synaptic_payload::build(
            b"<r xmlns='urn:r'><a>1</a><b c='2'/></r>",
            Some("application/xml"),
        )
        .unwrap()),
        Env(synaptic_payload::Payload::Empty),
    ];
    let mut total = 0;
    let mut rejected = Vec::new();
    for p in &paths {
        let Ok(text) = std::fs::read_to_string(p) else {
            continue;
        };
        let Ok(root) = xml::parse(&text) else {
            continue;
        };
        let mut exprs = Vec::new();
        expressions(&root, &mut Vec::new(), &mut exprs);
        for (expr, ns, dialect) in exprs {
            // `{…}` in a name is an XPath too, but only `expression`/`xpath`/`source` are collected
            total += 1;
            let d = match dialect {
                Dialect::Regex => synaptic_expr::compile_java_regex(&expr)
                    .map(|_| ())
                    .map_err(|e| format!("regex {e}")),
                Dialect::XPath | Dialect::JsonPath => {
                    let d = if dialect == Dialect::XPath {
                        synaptic_expr::Dialect::XPath
                    } else {
                        synaptic_expr::Dialect::JsonPath
                    };
                    compile(&expr, Span::detached(), &ns, d)
                        .map(|c| {
                            // evaluation never panics either (errors are fine: no properties set)
                            for env in &envs {
                                let _ = synaptic_expr::eval(&c, env);
                            }
                        })
                        .map_err(|d| {
                            d.iter()
                                .map(|d| format!("{} {}", d.code.id, d.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                }
            };
            if let Err(d) = d {
                let rel = p.strip_prefix(&dir).unwrap_or(p).display().to_string();
                rejected.push(format!("{rel}: {expr:?}: {d}"));
            }
        }
    }
    assert!(total > 500, "only {total} expressions found");
    let got = format!(
        "# {total} expressions, {} rejected\n{}\n",
        rejected.len(),
        rejected.join("\n")
    );
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus_rejected.txt");
    if std::env::var_os("UPDATE_EXPECT").is_some() || !golden.exists() {
        std::fs::write(&golden, &got).expect("write golden");
    }
    let want = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        got, want,
        "corpus results changed; rerun with UPDATE_EXPECT=1 to bless"
    );
}

struct Env(synaptic_payload::Payload);

impl synaptic_expr::ExprEnv for Env {
    fn property(&self, _: synaptic_expr::Scope, name: &str) -> Option<synaptic_expr::Value> {
        name.len()
            .is_multiple_of(2)
            .then(|| synaptic_expr::Value::String("1".into()))
    }
    fn registry(&self, _: &str) -> Option<String> {
        None
    }
    fn payload(&self) -> &synaptic_payload::Payload {
        &self.0
    }
    fn raw_json(&self) -> Option<&str> {
        None
    }
    fn url_param(&self, _: &str) -> Option<String> {
        None
    }
    fn now_ms(&self) -> i64 {
        1_700_003_600_001
    }
}
