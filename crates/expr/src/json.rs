//! `json-eval(path)` and payloadFactory `evaluator="json"`, on
//! `serde_json::Value` through jsonpath-rust.

use std::sync::Arc;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::Value as Json;

use crate::props::{self, EnvSource, Read, VarKind};
use crate::{EvalError, ExprEnv, Scope, Value};

#[derive(Clone, Debug)]
pub(crate) struct JsonExpr {
    source: Source,
    /// `$` alone: the whole document as text.
    whole: bool,
    /// No wildcard, filter, slice, union or deep scan: one value or nothing.
    definite: bool,
    query: Arc<JpQuery>,
    /// A path written with `{expression}` parts (`{$ctx:p}`, `$.{$ctx:p}.book[3]`): the path is
    /// put together from them at run time, then compiled and run on the body.
    dynamic: Option<Arc<[DynPart]>>,
}

#[derive(Clone, Debug)]
pub(crate) enum DynPart {
    Lit(String),
    Expr(crate::CompiledExpr),
}

#[derive(Clone, Debug)]
enum Source {
    Body,
    /// `$ctx:p.a`: the text of property `p`.
    Property(VarKind, String),
}

/// Split a path at its `{expression}` parts; `None` when it has none.
pub(crate) fn dynamic_parts(path: &str) -> Option<Vec<(bool, &str)>> {
    if !path.contains('{') {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}')? + open;
        if open > 0 {
            out.push((false, &rest[..open]));
        }
        out.push((true, &rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    Some(out)
}

/// A path with `{expression}` parts, checked once its parts are compiled.
pub(crate) fn compile_dynamic(parts: Vec<DynPart>) -> JsonExpr {
    JsonExpr {
        source: Source::Body,
        whole: false,
        definite: false,
        query: Arc::new(JpQuery::new(Vec::new())),
        dynamic: Some(parts.into()),
    }
}

/// Jayway also accepts a dot before a bracket (`$.[0]`, `$.a.['b']`): drop it.
fn jayway_forms(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains(".[") {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut quote: Option<char> = None;
    let mut chars = path.chars().peekable();
    let mut prev = '\0';
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            // `..[` is a deep scan, kept
            None if c == '.' && prev != '.' && chars.peek() == Some(&'[') => {
                prev = c;
                continue;
            }
            None => {}
        }
        prev = c;
        out.push(c);
    }
    std::borrow::Cow::Owned(out)
}

/// Jayway reads a dot member up to the next `.`, `[` or `(` whatever its characters
/// (`$.'$'` names the member `'$'`, `$.a-b` the member `a-b`): written in brackets, as
/// RFC 9535 takes them. Members of plain names, filters and brackets are left as they are.
fn bracket_members(path: &str) -> std::borrow::Cow<'_, str> {
    let plain = |t: &str| {
        t == "*"
            || t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
    };
    let mut out = String::new();
    let mut last = 0;
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = path.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' if depth > 0 => quote = Some(c),
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            '.' if depth == 0 => {
                let deep = path[i + 1..].starts_with('.');
                let start = i + 1 + usize::from(deep);
                let end = path[start..]
                    .find(['.', '[', '('])
                    .map_or(path.len(), |e| start + e);
                let token = &path[start..end];
                if token.is_empty()
                    || plain(token)
                    || token.contains(' ')
                    || path[end..].starts_with('(')
                {
                    if deep {
                        chars.next();
                    }
                    continue;
                }
                out.push_str(&path[last..i]);
                out.push_str(if deep { "..['" } else { "['" });
                out.push_str(&token.replace('\\', "\\\\").replace('\'', "\\'"));
                out.push_str("']");
                last = end;
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            _ => {}
        }
    }
    if last == 0 {
        return std::borrow::Cow::Borrowed(path);
    }
    out.push_str(&path[last..]);
    std::borrow::Cow::Owned(out)
}

pub(crate) fn compile(path: &str) -> Result<JsonExpr, String> {
    let path = jayway_forms(path.trim());
    let (source, rest) = split_source(&path);
    // Synapse's `SynapseJsonPath` drops one trailing `.` before Jayway compiles the path
    // (`$.` is the whole body)
    let rest = rest.trim();
    let rest = rest.strip_suffix('.').unwrap_or(rest);
    let norm = if rest.is_empty() {
        "$".to_string()
    } else if rest.starts_with('$') {
        rest.to_string()
    } else if rest.starts_with('.') || rest.starts_with('[') {
        format!("${rest}")
    } else {
        format!("$.{rest}")
    };
    let norm = bracket_members(&norm);
    let query = jsonpath_rust::parser::parse_json_path(&norm)
        .map_err(|e| format!("{norm:?}: {}", one_line(&e.to_string())))?;
    let definite = query.segments.iter().all(|s| match s {
        Segment::Selector(Selector::Name(_) | Selector::Index(_)) => true,
        Segment::Selectors(v) => {
            matches!(v.as_slice(), [Selector::Name(_) | Selector::Index(_)])
        }
        _ => false,
    });
    Ok(JsonExpr {
        source,
        whole: query.segments.is_empty(),
        definite,
        query: Arc::new(query),
        dynamic: None,
    })
}

/// `$ctx:name.rest` → (property source, `$.rest`); otherwise the body.
fn split_source(path: &str) -> (Source, &str) {
    for prefix in ["ctx", "trp", "axis2"] {
        if let Some(rest) = path
            .strip_prefix('$')
            .and_then(|r| r.strip_prefix(prefix))
            .and_then(|r| r.strip_prefix(':'))
        {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let kind = VarKind::parse(prefix).unwrap_or(VarKind::Ctx);
            return (
                Source::Property(kind, rest[..end].to_string()),
                &rest[end..],
            );
        }
    }
    (Source::Body, path)
}

impl JsonExpr {
    pub fn touches_body(&self) -> bool {
        matches!(self.source, Source::Body)
    }
    pub fn property(&self) -> Option<(Scope, &str)> {
        match &self.source {
            Source::Property(k, n) => k.scope().map(|s| (s, n.as_str())),
            Source::Body => None,
        }
    }
}

pub(crate) fn eval(j: &JsonExpr, env: &dyn ExprEnv) -> Result<Value, EvalError> {
    if let Some(parts) = &j.dynamic {
        let mut path = String::new();
        for p in parts.iter() {
            match p {
                DynPart::Lit(s) => path.push_str(s),
                DynPart::Expr(e) => {
                    path.push_str(&crate::eval(e, env)?.to_synapse_string().unwrap_or_default())
                }
            }
        }
        let resolved =
            compile(&path).map_err(|e| EvalError::Failed(format!("invalid JSONPath {e}")))?;
        return eval(&resolved, env);
    }
    let owned;
    let doc: &Json = match &j.source {
        Source::Body => {
            if j.whole {
                if let Some(raw) = env.raw_json() {
                    return Ok(Value::String(raw.to_string()));
                }
            }
            match env.payload() {
                synaptic_payload::Payload::Json(v) => v,
                other => match synaptic_payload::to_json(other) {
                    Some(v) => {
                        owned = v;
                        &owned
                    }
                    None => return Ok(Value::String(String::new())),
                },
            }
        }
        Source::Property(kind, name) => {
            let v = props::read(&Read::Var(*kind, name.clone()), &EnvSource(env));
            match v {
                Value::Json(v) => {
                    owned = v;
                    &owned
                }
                Value::Null => return Ok(Value::String(String::new())),
                other => {
                    let text = other.to_synapse_string().unwrap_or_default();
                    match serde_json::from_str::<Json>(&text) {
                        Ok(v) => {
                            owned = v;
                            &owned
                        }
                        Err(_) => return Ok(Value::String(String::new())),
                    }
                }
            }
        }
    };
    Ok(Value::String(query(j, doc)))
}

/// The normalized paths of the locations `path` matches in `doc`.
pub(crate) fn match_paths(path: &str, doc: &Json) -> Result<Vec<String>, String> {
    let path = jayway_forms(path.trim());
    let query = jsonpath_rust::parser::parse_json_path(&path)
        .map_err(|e| format!("{path:?}: {}", one_line(&e.to_string())))?;
    jsonpath_rust::query::js_path_process(&query, doc)
        .map(|refs| refs.into_iter().map(|r| r.path()).collect())
        .map_err(|e| one_line(&e.to_string()))
}

/// Run the query and stringify the result the Synapse way.
fn query(j: &JsonExpr, doc: &Json) -> String {
    if j.whole {
        return doc.to_string();
    }
    let found: Vec<&Json> = match jsonpath_rust::query::js_path_process(&j.query, doc) {
        Ok(refs) => refs.into_iter().map(|r| r.val()).collect(),
        Err(_) => return String::new(),
    };
    if j.definite {
        match found.first() {
            None => String::new(),
            Some(v) => scalar_text(v),
        }
    } else {
        Json::Array(found.into_iter().cloned().collect()).to_string()
    }
}

fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "null".into(),
        other => other.to_string(),
    }
}

/// pest errors span several lines; keep the expectation and the position.
fn one_line(msg: &str) -> String {
    let pos = msg
        .lines()
        .find_map(|l| l.split_once("-->").map(|(_, p)| p.trim().to_string()));
    let what = msg
        .lines()
        .find_map(|l| l.trim().strip_prefix("= "))
        .map(|w| w.trim().to_string());
    match (what, pos) {
        (Some(w), Some(p)) => format!("{w} at column {}", p.rsplit(':').next().unwrap_or(&p)),
        (Some(w), None) => w,
        _ => msg.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}
