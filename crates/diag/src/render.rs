//! Renderers: `short` (one line per diagnostic), `rich` (codespan-reporting snippets) and
//! `json` (one object per line).

use crate::{Diagnostic, Severity, SourceMap};
use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Short,
    Rich,
    Json,
}

/// `PATH:LINE:COL: error[CODE]: message`
pub fn short(map: &SourceMap, d: &Diagnostic) -> String {
    let span = d.primary_span();
    let (line, col) = map.line_col(span);
    format!(
        "{}:{}:{}: {}[{}]: {}",
        map.name(span.source),
        line,
        col,
        d.severity,
        d.code.id,
        d.message
    )
}

/// One JSON object: file, line, column, end_line, end_column, severity, code, name, message, notes.
pub fn json(map: &SourceMap, d: &Diagnostic) -> String {
    let span = d.primary_span();
    let (line, col) = map.line_col(span);
    let end = crate::Span {
        start: span.end,
        ..span
    };
    let (end_line, end_col) = map.line_col(end);
    serde_json::json!({
        "file": map.name(span.source),
        "line": line,
        "column": col,
        "end_line": end_line,
        "end_column": end_col,
        "severity": d.severity.to_string(),
        "code": d.code.id,
        "name": d.code.name,
        "message": d.message,
        "notes": d.notes,
    })
    .to_string()
}

/// A codespan-reporting snippet, trailing whitespace trimmed, no colour.
pub fn rich(map: &SourceMap, d: &Diagnostic) -> String {
    let mut files = SimpleFiles::new();
    let mut ids = Vec::new();
    for (_, f) in map.files() {
        ids.push(files.add(f.name.clone(), f.text.clone()));
    }
    let sev = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    let labels = d
        .labels
        .iter()
        .filter_map(|l| {
            let id = *ids.get(l.span.source.0 as usize)?;
            let style = if l.primary {
                cs::LabelStyle::Primary
            } else {
                cs::LabelStyle::Secondary
            };
            Some(cs::Label::new(style, id, l.span.range()).with_message(l.message.clone()))
        })
        .collect();
    let diag = cs::Diagnostic::new(sev)
        .with_code(d.code.id)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(d.notes.clone());
    let mut buf = term::termcolor::NoColor::new(Vec::new());
    let config = term::Config::default();
    if term::emit(&mut buf, &config, &files, &diag).is_err() {
        return short(map, d);
    }
    let text = String::from_utf8_lossy(&buf.into_inner()).into_owned();
    let mut out = String::new();
    for line in text.lines() {
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

pub fn render(map: &SourceMap, d: &Diagnostic, format: Format) -> String {
    match format {
        Format::Short => short(map, d),
        Format::Rich => rich(map, d),
        Format::Json => json(map, d),
    }
}
