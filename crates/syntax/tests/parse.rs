//! Data-driven parser goldens: every `tests/data/parse/{ok,err}/*.xml` is parsed; the tree goes
//! to `*.ast` (a compacted `Debug`), the diagnostics to `*.diag` (short format). `ok/` files must
//! have no error, `err/` files at least one. Bless with `UPDATE_EXPECT=1`.
//!
//! Also: every file of the conformance corpus parses without panic, and nesting depth is limited.

use std::path::{Path, PathBuf};

use synaptic_diag::{render, SourceMap};
use synaptic_syntax::{ast, parse_artifact};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `Debug` of the tree with spans written `start..end` and `Spanned` values as `value @ span`.
fn compact(tree: &ast::Artifact) -> String {
    let text = format!("{tree:#?}");
    let span = regex::Regex::new(
        r"Span \{\s*source: SourceId\(\s*\d+,?\s*\),\s*start: (\d+),\s*end: (\d+),\s*\}",
    )
    .unwrap();
    let text = span.replace_all(&text, "$1..$2");
    let spanned =
        regex::Regex::new(r"Spanned \{\s*value: (.*),\s*span: (\d+\.\.\d+),\s*\}").unwrap();
    let text = spanned.replace_all(&text, "$1 @ $2");
    let pair = regex::Regex::new(r#"\(\s*("[^"\n]*"),\s*("[^"\n]*"),\s*\)"#).unwrap();
    let text = pair.replace_all(&text, "($1, $2)");
    format!("{text}\n")
}

fn diags_of(name: &str, text: &str, parse: &synaptic_syntax::Parse<ast::Artifact>) -> String {
    let mut map = SourceMap::new();
    map.add(name, text);
    let mut out = String::new();
    for d in &parse.diagnostics {
        out.push_str(&render::short(&map, d));
        out.push('\n');
    }
    out
}

#[test]
fn goldens() {
    let root = workspace_root().join("tests/data/parse");
    let mut count = 0;
    for kind in ["ok", "err"] {
        let dir = root.join(kind);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        files.sort();
        for path in files {
            count += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let name = format!("{kind}/{}", path.file_name().unwrap().to_string_lossy());
            let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
            let diags = diags_of(&name, &text, &parse);
            match kind {
                "ok" => assert!(parse.is_ok(), "{name} has errors:\n{diags}"),
                _ => assert!(!parse.is_ok(), "{name} has no error"),
            }
            expect_test::expect_file![path.with_extension("ast")].assert_eq(&compact(&parse.tree));
            expect_test::expect_file![path.with_extension("diag")].assert_eq(&diags);
        }
    }
    assert!(count > 10, "only {count} golden files found");
}

#[test]
fn corpus_parses_without_panic() {
    // The corpus is not shipped with synaptic: `SYNAPTIC_CORPUS_DIR`, or where CI keeps it.
    let dir = std::env::var_os("SYNAPTIC_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/corpus/synapse"));
    let mut files = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "xml") {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 268, "corpus at {}", dir.display());
    let mut malformed = Vec::new();
    for p in &files {
        let text = std::fs::read_to_string(p).unwrap();
        let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
        // the corpus is well-formed XML taken from real projects
        if parse
            .diagnostics
            .iter()
            .any(|d| d.code.id == "E0101" || d.code.id == "E0109")
        {
            malformed.push(p.display().to_string());
        }
        assert!(!parse.tree.root.is_empty(), "{}", p.display());
    }
    assert!(malformed.is_empty(), "reported malformed: {malformed:#?}");
}

#[test]
fn nesting_depth_is_limited() {
    let depth = synaptic_syntax::MAX_DEPTH * 50;
    let mut text = String::from(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">"#);
    for _ in 0..depth {
        text.push_str("<in>");
    }
    for _ in 0..depth {
        text.push_str("</in>");
    }
    text.push_str("</sequence>");
    let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
    let deep: Vec<_> = parse
        .diagnostics
        .iter()
        .filter(|d| d.code.id == "E0113")
        .collect();
    assert_eq!(deep.len(), 1, "{:#?}", parse.diagnostics);
    // the part built before the limit is kept
    assert_eq!(parse.tree.sequences.len(), 1);
}

#[test]
fn spans_point_at_attribute_values() {
    let text = r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><property name="a&amp;b" expression="get-property('x')"/></sequence>"#;
    let parse = parse_artifact(synaptic_diag::SourceId(0), text);
    assert!(parse.is_ok(), "{:#?}", parse.diagnostics);
    let seq = &parse.tree.sequences[0];
    assert_eq!(&text[seq.name.span.range()], "s");
    let ast::MediatorKind::Property(p) = &seq.mediators[0].kind else {
        panic!("not a property: {:?}", seq.mediators[0]);
    };
    assert_eq!(p.name.value, "a&b");
    assert_eq!(&text[p.name.span.range()], "a&amp;b");
    let ast::PropertyValue::Expression(e) = &p.value else {
        panic!("not an expression: {:?}", p.value);
    };
    assert_eq!(&text[e.span.range()], "get-property('x')");
    assert_eq!(
        e.namespaces,
        vec![(String::new(), synaptic_syntax::SYNAPSE_NS.to_string())]
    );
    assert!(text[seq.mediators[0].span.range()].starts_with("<property"));
    assert!(text[seq.span.range()].ends_with("</sequence>"));
}

#[test]
fn namespace_declarations_are_limited() {
    let mut text = String::from(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">"#);
    for i in 0..100 {
        text.push_str("<in");
        for j in 0..20 {
            text.push_str(&format!(r#" xmlns:p{j}="urn:{i}:{j}""#));
        }
        text.push('>');
    }
    for _ in 0..100 {
        text.push_str("</in>");
    }
    text.push_str("</sequence>");
    let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
    let codes: Vec<_> = parse.diagnostics.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["E0113"], "{:#?}", parse.diagnostics);
}

#[test]
fn many_attributes_are_not_quadratic_and_duplicates_are_found() {
    let mut text =
        String::from(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><log"#);
    for i in 0..20_000 {
        text.push_str(&format!(r#" a{i}="x""#));
    }
    text.push_str(r#" a7="again"/></sequence>"#);
    let parse = parse_artifact(synaptic_diag::SourceId(0), &text);
    let dups = parse
        .diagnostics
        .iter()
        .filter(|d| d.code.id == "E0107")
        .count();
    assert_eq!(dups, 1);
    let unknown = parse
        .diagnostics
        .iter()
        .filter(|d| d.code.id == "E0104")
        .count();
    assert_eq!(unknown, 20_000);
}

#[test]
fn spans_are_on_char_boundaries() {
    // errors right after multi-byte characters
    for text in [
        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"é\"><lög/>ü &",
        "<é>ß",
        "ü<sequence/>",
        "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"s\" é=\"1\" é=\"2\"/>",
        "<sequence a=\"x\"b=\"ü\"/>",
    ] {
        let parse = parse_artifact(synaptic_diag::SourceId(0), text);
        assert!(!parse.diagnostics.is_empty(), "{text}");
        for d in &parse.diagnostics {
            for l in &d.labels {
                assert!(
                    text.is_char_boundary(l.span.start as usize),
                    "{text}: {d:?}"
                );
                assert!(text.is_char_boundary(l.span.end as usize), "{text}: {d:?}");
                assert!(l.span.start <= l.span.end);
            }
        }
    }
}
