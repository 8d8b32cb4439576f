//! `json-eval(path)` and payloadFactory `evaluator="json"`, on
//! `serde_json::Value` through jsonpath-rust.

use std::sync::Arc;

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use serde_json::Value as Json;

use crate::jayway::Step;
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
    /// A last character Jayway never reads (its byte offset in the path, and itself).
    ignored: Option<(usize, char)>,
    /// A path ending in a function (`$.items.length()`), evaluated as Jayway does.
    function: Option<Arc<crate::jwfn::JwPath>>,
}

#[derive(Clone, Debug)]
pub(crate) enum DynPart {
    Lit(String),
    Expr(crate::CompiledExpr),
}

#[derive(Clone, Debug)]
pub(crate) enum Source {
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
        ignored: None,
        function: None,
    }
}

/// Jayway reads `.[` as `[` (`$.a.[0]`) in the paths inside a filter too: drop the dot,
/// outside strings (`..[` is a deep scan, kept). Each kept character with its byte offset.
pub(crate) fn jayway_forms(path: &str) -> Vec<(usize, char)> {
    let mut out = Vec::with_capacity(path.len());
    let mut quote: Option<char> = None;
    let mut chars = path.char_indices().peekable();
    let mut prev = '\0';
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '.' && prev != '.' && chars.peek().map(|p| p.1) == Some('[') => {
                prev = c;
                continue;
            }
            None => {}
        }
        prev = c;
        out.push((i, c));
    }
    out
}

/// A path as jsonpath-rust (RFC 9535) reads it, from the path as Synapse and Jayway read it.
#[derive(Debug)]
pub(crate) struct Rfc {
    pub source: Source,
    /// The path in RFC 9535 form (`$['a'][0][?(…)]`).
    pub text: String,
    /// For each byte of `text` (and its end), the byte offset in the path it comes from.
    pub map: Vec<usize>,
    /// A character Jayway leaves unread (the byte offset in the path, and the character).
    pub ignored: Option<(usize, char)>,
    /// A path that calls a function (`$.a.length()`, `$.a[?(@.b.length() > 1)]`): `text`
    /// holds the calls as written, which jsonpath-rust does not read.
    pub function: Option<FnPath>,
    /// The text Jayway reads, and how its offsets map to the path's (see [`Rfc::at`]).
    pub jw: String,
    base: usize,
    virtual_root: bool,
}

/// The steps of a path that calls a function (at its end, or in a filter).
#[derive(Debug)]
pub(crate) struct FnPath {
    pub steps: Vec<(Step, std::ops::Range<usize>)>,
}

impl Rfc {
    /// The byte offset in the user's path of byte `o` of the text Jayway reads.
    pub fn at(&self, o: usize) -> usize {
        if self.virtual_root {
            self.base + o.saturating_sub(1)
        } else {
            self.base + o
        }
    }
}

/// Synapse's `SynapseJsonPath` → Jayway's `PathCompiler` → RFC 9535: `$ctx:p`, `$trp:p`,
/// `$axis2:p` at the start name the property the path reads (its name: letters, digits, `_`
/// and `-`; the path is `$` and what follows), one trailing `.` is dropped (`$.` is the whole
/// document), and the rest is read as Jayway reads it ([`crate::jayway`]). `Err`: the byte
/// offset in `path` and why.
pub(crate) fn to_rfc(path: &str) -> Result<Rfc, (usize, String)> {
    let lead = path.len() - path.trim_start().len();
    let t = path.trim();
    let mut source = Source::Body;
    // the text Jayway reads, and the offset in `path` of its first byte (a `$` put before a
    // property's path stands at the end of the property's name)
    let (jw, base, virtual_root) = match ["ctx", "trp", "axis2"].iter().find(|p| {
        t.strip_prefix('$')
            .and_then(|r| r.strip_prefix(**p))
            .is_some_and(|r| r.starts_with(':'))
    }) {
        Some(prefix) => {
            let head = prefix.len() + 2;
            let rest = &t[head..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err((
                    lead + head,
                    format!("expected a property name after `${prefix}:`"),
                ));
            }
            let kind = VarKind::parse(prefix).unwrap_or(VarKind::Ctx);
            source = Source::Property(kind, rest[..end].to_string());
            (format!("${}", &rest[end..]), lead + head + end, true)
        }
        None => (t.to_string(), lead, false),
    };
    // Synapse drops one trailing `.` before Jayway compiles the path
    let jw = jw.strip_suffix('.').unwrap_or(&jw);
    let at = |o: usize| {
        if virtual_root {
            base + o.saturating_sub(1)
        } else {
            base + o
        }
    };
    let mut text = String::with_capacity(jw.len() + 8);
    let mut map = Vec::with_capacity(jw.len() + 8);
    let push = |text: &mut String, map: &mut Vec<usize>, s: &str, o: usize| {
        text.push_str(s);
        map.extend(std::iter::repeat_n(o, s.len()));
    };
    let ignored;
    let mut function = None;
    if jw.is_empty() || jw == "$" {
        push(&mut text, &mut map, "$", at(0));
        ignored = None;
    } else {
        let parsed = crate::jayway::parse(jw).map_err(|e| (at(e.at), e.message))?;
        ignored = parsed
            .ignored
            .and_then(|o| jw[o..].chars().next().map(|c| (at(o), c)));
        push(&mut text, &mut map, "$", at(0));
        render(jw, &parsed.steps, &at, &mut text, &mut map);
        let calls = parsed.steps.iter().any(|(s, _)| match s {
            Step::Function(_) => true,
            Step::Filter(cond) => !crate::jwfn::function_operands(cond).is_empty(),
            _ => false,
        });
        if calls {
            function = Some(FnPath {
                steps: parsed.steps.clone(),
            });
        }
    }
    map.push(at(jw.len()));
    Ok(Rfc {
        source,
        text,
        map,
        ignored,
        function,
        jw: jw.to_string(),
        base,
        virtual_root,
    })
}

/// Append the RFC 9535 form of `steps` (read from `jw`) to `text`, each byte's offset in the
/// user's path (through `at`) to `map`. A function (the last step) is not rendered.
pub(crate) fn render(
    jw: &str,
    steps: &[(Step, std::ops::Range<usize>)],
    at: &dyn Fn(usize) -> usize,
    text: &mut String,
    map: &mut Vec<usize>,
) {
    let push = |text: &mut String, map: &mut Vec<usize>, s: &str, o: usize| {
        text.push_str(s);
        map.extend(std::iter::repeat_n(o, s.len()));
    };
    let mut scan = false;
    for (step, range) in steps {
        let o = at(range.start);
        let dot = if scan { "" } else { "." };
        match step {
            Step::Scan => {
                push(text, map, "..", o);
                scan = true;
                continue;
            }
            Step::Names(names) => match names.as_slice() {
                [n] if plain(n) => push(text, map, &format!("{dot}{n}"), o),
                _ => {
                    let quoted: Vec<String> = names.iter().map(|n| quote(n)).collect();
                    push(text, map, &format!("[{}]", quoted.join(",")), o);
                }
            },
            Step::Indexes(v) => {
                let list: Vec<String> = v.iter().map(i64::to_string).collect();
                push(text, map, &format!("[{}]", list.join(",")), o);
            }
            Step::Slice(from, to) => {
                let n = |x: &Option<i64>| x.map(|v| v.to_string()).unwrap_or_default();
                push(text, map, &format!("[{}:{}]", n(from), n(to)), o);
            }
            Step::Wildcard => push(text, map, "[*]", o),
            Step::Filter(f) => {
                // the condition as written (its paths with Jayway's `.[` read as `[`)
                push(text, map, "[", o);
                let inner = range.start
                    + jw.get(range.clone())
                        .and_then(|r| r.find('['))
                        .map_or(0, |b| b + 1);
                for (i, c) in jayway_forms(f) {
                    let mut b = [0u8; 4];
                    push(text, map, c.encode_utf8(&mut b), at(inner + i));
                }
                push(text, map, "]", at(range.end.saturating_sub(1)));
            }
            // the last step, evaluated by `jwfn` on what the steps before it find
            Step::Function(_) => {}
        }
        scan = false;
    }
}

/// A member RFC 9535 takes after a dot (`.name`).
fn plain(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || !c.is_ascii())
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

/// A name as an RFC 9535 string literal.
pub(crate) fn quote(n: &str) -> String {
    let mut out = String::with_capacity(n.len() + 2);
    out.push('\'');
    for c in n.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub(crate) fn compile(path: &str) -> Result<JsonExpr, String> {
    let rfc = to_rfc(path).map_err(|(_, m)| format!("{:?}: {m}", path.trim()))?;
    if let Some(f) = &rfc.function {
        let jw = crate::jwfn::compile(&rfc.jw, &f.steps, &|o| rfc.at(o))
            .map_err(|e| format!("{:?}: {e}", path.trim()))?;
        return Ok(JsonExpr {
            source: rfc.source,
            whole: false,
            definite: false,
            query: Arc::new(JpQuery::new(Vec::new())),
            dynamic: None,
            ignored: rfc.ignored,
            function: Some(Arc::new(jw)),
        });
    }
    let query = jsonpath_rust::parser::parse_json_path(&rfc.text)
        .map_err(|e| format!("{:?}: {}", rfc.text, one_line(&e.to_string())))?;
    let definite = query.segments.iter().all(|s| match s {
        Segment::Selector(Selector::Name(_) | Selector::Index(_)) => true,
        Segment::Selectors(v) => {
            matches!(v.as_slice(), [Selector::Name(_) | Selector::Index(_)])
        }
        _ => false,
    });
    Ok(JsonExpr {
        source: rfc.source,
        whole: query.segments.is_empty(),
        definite,
        query: Arc::new(query),
        dynamic: None,
        ignored: rfc.ignored,
        function: None,
    })
}

impl JsonExpr {
    /// A last character Jayway never reads: its byte offset in the path, and itself.
    pub fn ignored(&self) -> Option<(usize, char)> {
        self.ignored
    }
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
    let rfc = to_rfc(path).map_err(|(_, m)| format!("{:?}: {m}", path.trim()))?;
    if rfc.function.is_some() {
        return Err(format!(
            "{:?}: a path that calls a function is not supported here",
            path.trim()
        ));
    }
    let query = jsonpath_rust::parser::parse_json_path(&rfc.text)
        .map_err(|e| format!("{:?}: {}", rfc.text, one_line(&e.to_string())))?;
    jsonpath_rust::query::js_path_process(&query, doc)
        .map(|refs| refs.into_iter().map(|r| r.path()).collect())
        .map_err(|e| one_line(&e.to_string()))
}

/// Run the query and stringify the result the Synapse way.
fn query(j: &JsonExpr, doc: &Json) -> String {
    if let Some(f) = &j.function {
        return crate::jwfn::print(f, doc);
    }
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

pub(crate) fn scalar_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => "null".into(),
        other => other.to_string(),
    }
}

/// pest errors span several lines; keep the expectation and the position.
pub(crate) fn one_line(msg: &str) -> String {
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
