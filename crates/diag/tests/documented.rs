//! Tidy: every code in `codes::ALL` has a row in docs/DIAGNOSTICS.md (`| CODE | name |`), and
//! the document names no code that does not exist.

use std::collections::HashSet;

#[test]
fn every_code_is_documented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/DIAGNOSTICS.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut rows = HashSet::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // `| E0101 | malformed-xml | …` → ["", "E0101", "malformed-xml", …]
        if cells.len() > 3 && cells[0].is_empty() {
            rows.insert((cells[1].to_string(), cells[2].to_string()));
        }
    }
    let mut missing = Vec::new();
    for code in synaptic_diag::codes::ALL {
        if !rows.contains(&(code.id.to_string(), code.name.to_string())) {
            missing.push(format!("{} {}", code.id, code.name));
        }
    }
    assert!(
        missing.is_empty(),
        "codes without a `| CODE | name | … |` row in docs/DIAGNOSTICS.md: {missing:?}"
    );
    let known: HashSet<&str> = synaptic_diag::codes::ALL.iter().map(|c| c.id).collect();
    let unknown: Vec<_> = rows
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| {
            id.len() == 5
                && (id.starts_with('E') || id.starts_with('W'))
                && id[1..].bytes().all(|b| b.is_ascii_digit())
                && !known.contains(id)
        })
        .collect();
    assert!(
        unknown.is_empty(),
        "documented codes that do not exist: {unknown:?}"
    );
}

#[test]
fn codes_are_unique() {
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    for code in synaptic_diag::codes::ALL {
        assert!(ids.insert(code.id), "duplicate id {}", code.id);
        assert!(names.insert(code.name), "duplicate name {}", code.name);
    }
}
