//! `<enrich>` (Synapse `EnrichMediator`, `Source`, `Target`).
//!
//! enrich runs in one of two modes, as in Synapse: **JSON** when the mediator qualifies for
//! native JSON (decided at compile time) and the payload is JSON (and a property source does not
//! hold XML); **XML** otherwise, over the message's SOAP envelope (a JSON payload is enriched
//! in its XML view and formatted back by `messageType`).

use crate::compiler::Compiler;
use crate::context::mime_of;
use crate::convert::value_string;
use crate::eval::eval;
use crate::jpath::Missing;
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use serde_json::Value as Json;
use std::collections::BTreeSet;
use synaptic_diag::{codes, Spanned};
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::{CompiledExpr, Dialect};
use synaptic_expr::{Scope, Value};
use synaptic_payload::xml::QName;
use synaptic_payload::{Element, Envelope, Node, Payload, SOAP11_NS, SOAP12_NS};
use synaptic_syntax::ast;

/// An enrich path: XPath with node identity, another XPath evaluated as a value (sources
/// only), a definite JSONPath, or another JSONPath evaluated as a value (sources only).
#[derive(Clone, Debug)]
pub(crate) enum EnrichPath {
    Nodes(crate::xsel::Path),
    Value(CompiledExpr),
    Json(crate::jpath::JPath),
    JsonValue(CompiledExpr),
    /// `${…}` (sources only), evaluated as a value.
    Syn(synaptic_expr::synexpr::SynExpr),
}

/// One path of an `enrich` remove source.
#[derive(Debug)]
pub(crate) enum RemovePath {
    /// Names, indexes and `[*]`.
    Path(crate::jpath::JPath),
    /// Any other JSONPath (filters, unions, deep scans), matched when the mediator runs.
    Query(String),
}

#[derive(Debug)]
pub(crate) enum EnrichSrc {
    Custom(EnrichPath),
    Envelope,
    Body,
    Property(String),
    InlineXml(String),
    InlineText(String),
    /// Inline text with `{expression}` placeholders (`InlineExpressionUtil`).
    InlineTemplate(Vec<TemplatePart>),
    /// A registry key (local entries are resolved at compile time into the two above).
    InlineKey(String),
    /// `action="remove"` with a `json-eval(…)` source: the paths to delete (`,`-separated).
    RemovePaths(Vec<RemovePath>),
}

#[derive(Debug)]
pub(crate) enum TemplatePart {
    Lit(String),
    /// `{expr}`; `quoted` when written between double quotes (`"{$ctx:x}"`).
    Expr {
        expr: CompiledExpr,
        quoted: bool,
        json_eval: bool,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum EnrichTgt {
    Custom(EnrichPath),
    Envelope,
    Body,
    /// `type="property"` (default scope) or a custom `get-property('scope', 'name')` target.
    Property {
        scope: Scope,
        name: String,
    },
    /// `type="key"`: rename member `key` of the object at `parent`.
    Key {
        parent: crate::jpath::JPath,
        key: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnrichAction {
    Replace,
    Child,
    Sibling,
    Remove,
}

#[derive(Debug)]
pub(crate) struct EnrichOp {
    pub source: EnrichSrc,
    pub clone: bool,
    pub target: EnrichTgt,
    pub action: EnrichAction,
    /// Synapse's `isNativeJsonSupportEnabled`: JSON payloads are enriched as JSON.
    pub native_json: bool,
}

impl Compiler<'_> {
    pub(crate) fn enrich(&mut self, e: &ast::Enrich) -> Option<EnrichOp> {
        let s = &e.source;
        let t = &e.target;
        let source = match s.ty {
            ast::EnrichSourceType::Custom => {
                let x = s.xpath.as_ref()?;
                match crate::jpath::json_eval_inner(&x.text) {
                    Some(inner) if t.action == ast::EnrichAction::Remove => {
                        let mut paths = Vec::new();
                        for p in inner.split(',') {
                            match crate::jpath::parse_wildcards(p) {
                                Ok(jp) => paths.push(RemovePath::Path(jp)),
                                // filters and other indefinite forms: matched at run time
                                Err(_)
                                    if synaptic_expr::json_match_paths(
                                        p,
                                        &serde_json::Value::Null,
                                    )
                                    .is_ok() =>
                                {
                                    paths.push(RemovePath::Query(p.trim().to_string()))
                                }
                                Err(msg) => {
                                    self.err(
                                        codes::E0108,
                                        x.span,
                                        format!(
                                            "`enrich` remove of JSONPath {} is not supported: \
                                             {msg}",
                                            p.trim()
                                        ),
                                    );
                                    return None;
                                }
                            }
                        }
                        EnrichSrc::RemovePaths(paths)
                    }
                    _ => EnrichSrc::Custom(self.enrich_path(x, false)?),
                }
            }
            ast::EnrichSourceType::Envelope => EnrichSrc::Envelope,
            ast::EnrichSourceType::Body => EnrichSrc::Body,
            ast::EnrichSourceType::Property => {
                let p = s.property.as_ref()?;
                self.reads.push((p.value.clone(), p.span));
                EnrichSrc::Property(p.value.clone())
            }
            ast::EnrichSourceType::Inline => match s.inline.as_ref()? {
                ast::InlineSource::Xml(x) => EnrichSrc::InlineXml(x.value.clone()),
                ast::InlineSource::Text(x) => {
                    let spans = inline_expression_spans(&x.value);
                    if spans.is_empty() {
                        EnrichSrc::InlineText(x.value.clone())
                    } else {
                        EnrichSrc::InlineTemplate(self.inline_template(x, &spans)?)
                    }
                }
                ast::InlineSource::Key(k) => match self.local_entries.get(&k.value) {
                    Some(v) if v.trim_start().starts_with('<') => EnrichSrc::InlineXml(v.clone()),
                    Some(v) => EnrichSrc::InlineText(v.clone()),
                    None => EnrichSrc::InlineKey(k.value.clone()),
                },
            },
        };
        let target = match t.ty {
            ast::EnrichTargetType::Custom => {
                let x = t.xpath.as_ref()?;
                match get_property_target(&x.text) {
                    Some(Ok((scope, name))) => {
                        if scope == Scope::Default {
                            self.set_names.insert(name.clone());
                        }
                        EnrichTgt::Property { scope, name }
                    }
                    Some(Err(msg)) => {
                        self.err(codes::E0106, x.span, msg);
                        return None;
                    }
                    None => EnrichTgt::Custom(self.enrich_path(x, true)?),
                }
            }
            ast::EnrichTargetType::Key => {
                let x = t.xpath.as_ref()?;
                // Synapse: the text of json-eval(…) split at its last `.`
                let split = crate::jpath::json_eval_inner(&x.text)
                    .and_then(|inner| inner.rsplit_once('.'))
                    .filter(|(_, key)| !key.is_empty());
                let Some((parent, key)) = split else {
                    self.err(
                        codes::E0106,
                        x.span,
                        "a key target names the member to rename as json-eval($.path.to.member)",
                    );
                    return None;
                };
                match crate::jpath::parse(parent) {
                    Ok(parent) => EnrichTgt::Key {
                        parent,
                        key: key.to_string(),
                    },
                    Err(msg) => {
                        self.err(
                            codes::E0108,
                            x.span,
                            format!(
                                "`enrich` key target under JSONPath {parent} is not supported: \
                                 {msg} (only definite paths of names and indexes)"
                            ),
                        );
                        return None;
                    }
                }
            }
            ast::EnrichTargetType::Envelope => EnrichTgt::Envelope,
            ast::EnrichTargetType::Body => EnrichTgt::Body,
            ast::EnrichTargetType::Property => {
                let p = t.property.as_ref()?;
                self.set_names.insert(p.value.clone());
                EnrichTgt::Property {
                    scope: Scope::Default,
                    name: p.value.clone(),
                }
            }
        };
        let action = match t.action {
            ast::EnrichAction::Replace => EnrichAction::Replace,
            ast::EnrichAction::Child => EnrichAction::Child,
            ast::EnrichAction::Sibling => EnrichAction::Sibling,
            ast::EnrichAction::Remove => EnrichAction::Remove,
        };
        // EnrichMediatorFactory: JSON is enriched natively unless the inline source is XML, an
        // envelope is involved, or a custom path is an XPath
        let is_json_path =
            |p: &EnrichPath| matches!(p, EnrichPath::Json(_) | EnrichPath::JsonValue(_));
        let src_custom = match &source {
            EnrichSrc::Custom(p) => Some(is_json_path(p)),
            EnrichSrc::RemovePaths(_) => Some(true),
            _ => None,
        };
        let tgt_custom = match &target {
            EnrichTgt::Custom(p) => Some(is_json_path(p)),
            // a get-property target is a custom XPath in Synapse
            EnrichTgt::Property { .. } if t.ty == ast::EnrichTargetType::Custom => Some(false),
            _ => None,
        };
        let inline_xml = match &source {
            EnrichSrc::InlineXml(_) => true,
            EnrichSrc::InlineText(t) => !looks_json(t),
            EnrichSrc::InlineTemplate(parts) => {
                let text: String = parts
                    .iter()
                    .map(|p| match p {
                        TemplatePart::Lit(l) => l.as_str(),
                        TemplatePart::Expr { .. } => "\"\"",
                    })
                    .collect();
                !looks_json(&text)
            }
            _ => false,
        };
        let envelope =
            matches!(source, EnrichSrc::Envelope) || matches!(target, EnrichTgt::Envelope);
        // no custom path, or every custom path a JSONPath
        let paths_ok = src_custom != Some(false) && tgt_custom != Some(false);
        Some(EnrichOp {
            source,
            clone: s.clone,
            target,
            action,
            native_json: !inline_xml && !envelope && paths_ok,
        })
    }

    /// Split inline text at its `{expression}` placeholders and compile each expression.
    pub(crate) fn inline_template(
        &mut self,
        x: &Spanned<String>,
        spans: &[(usize, usize)],
    ) -> Option<Vec<TemplatePart>> {
        let t = &x.value;
        let mut parts = Vec::new();
        let mut at = 0;
        let mut ok = true;
        for &(start, end) in spans {
            if start > at {
                parts.push(TemplatePart::Lit(t[at..start].to_string()));
            }
            let inner = &t[start + 1..end - 1];
            let quoted = t[..start].ends_with('"') && t[end..].starts_with('"');
            let e = ast::Expr {
                text: inner.to_string(),
                span: x.span,
                namespaces: Vec::new(),
            };
            match self.expr(&e, Dialect::XPath) {
                Some(expr) => parts.push(TemplatePart::Expr {
                    expr,
                    quoted,
                    json_eval: inner.starts_with("json-eval("),
                }),
                None => ok = false,
            }
            at = end;
        }
        if at < t.len() {
            parts.push(TemplatePart::Lit(t[at..].to_string()));
        }
        ok.then_some(parts)
    }

    pub(crate) fn enrich_path(&mut self, x: &ast::Expr, target: bool) -> Option<EnrichPath> {
        let what = if target { "target" } else { "source" };
        if crate::eval::is_syn(x) {
            if target {
                // Synapse looks for the node to change with the target path; a Synapse
                // Expression gives a value, never a node of the message
                self.err(
                    codes::E0108,
                    x.span,
                    "an `enrich` target cannot be a Synapse Expression: it selects no node of \
                     the message to change (use an XPath location path or json-eval(…))",
                );
                return None;
            }
            return Some(EnrichPath::Syn(crate::eval::compile_syn(
                x,
                &mut self.diags,
            )?));
        }
        if let Some(inner) = crate::jpath::json_eval_inner(&x.text) {
            return match crate::jpath::parse(inner) {
                Ok(p) => {
                    self.jsonpath_warnings(x);
                    Some(EnrichPath::Json(p))
                }
                Err(msg) if target => {
                    self.err(
                        codes::E0108,
                        x.span,
                        format!(
                            "`enrich` target JSONPath {inner} is not supported: {msg} (only \
                             definite paths of names and indexes)"
                        ),
                    );
                    None
                }
                Err(_) => Some(EnrichPath::JsonValue(self.expr(x, Dialect::XPath)?)),
            };
        }
        let c = self.expr(x, Dialect::XPath)?;
        match crate::xsel::parse(&x.text, &x.namespaces) {
            Ok(p) => Some(EnrichPath::Nodes(p)),
            Err(_) if !target => Some(EnrichPath::Value(c)),
            Err(msg) => {
                self.err(
                    codes::E0108,
                    x.span,
                    format!(
                        "`enrich` {what} XPath {} is not supported: {msg} (a location path \
                         selecting the node to change is expected)",
                        x.text
                    ),
                );
                None
            }
        }
    }
}

/// Whether inline enrich text is JSON as Synapse's factory decides (gson parses it, or it is
/// braced like a JSON object with inline expressions).
fn looks_json(t: &str) -> bool {
    let s = t.trim();
    if serde_json::from_str::<serde_json::Value>(s).is_ok() {
        return true;
    }
    // gson's lenient parser also takes one bare word as a string
    (!s.is_empty() && !s.contains(char::is_whitespace) && !s.starts_with('<'))
        || (s.starts_with('{') && s.ends_with('}'))
}

/// `InlineExpressionUtil`'s placeholders: `{` + one or more characters other than whitespace,
/// `"`, `,`, `<`, `>`, `}`, `]` + `}` (byte ranges, braces included).
fn inline_expression_spans(t: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(k) = t[i..].find('{') {
        let start = i + k;
        let body = &t[start + 1..];
        let len = body
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | '<' | '>' | '}' | ']'))
            .unwrap_or(body.len());
        if len > 0 && body[len..].starts_with('}') {
            let end = start + 1 + len + 1;
            out.push((start, end));
            i = end;
        } else {
            i = start + 1;
        }
    }
    out
}

/// A custom enrich target `get-property('name')` / `get-property('scope', 'name')`: the
/// property it names (`None` when the XPath is something else).
fn get_property_target(text: &str) -> Option<Result<(Scope, String), String>> {
    let t = text.trim();
    if !t.starts_with("get-property(") {
        return None;
    }
    let lits: Vec<&str> = t.split('\'').skip(1).step_by(2).collect();
    Some(match lits.as_slice() {
        [name] => Ok((Scope::Default, name.to_string())),
        [scope, name, ..] => match *scope {
            "default" => Ok((Scope::Default, name.to_string())),
            "axis2" => Ok((Scope::Axis2, name.to_string())),
            "operation" => Ok((Scope::Operation, name.to_string())),
            other => Err(format!(
                "an enrich get-property target writes scope default, axis2 or operation, not `{other}`"
            )),
        },
        [] => Err("an enrich get-property target needs the property name in single quotes".into()),
    })
}

pub(crate) fn exprs(e: &EnrichOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let EnrichSrc::InlineTemplate(parts) = &e.source {
        for part in parts {
            if let TemplatePart::Expr { expr, .. } = part {
                visit(expr);
            }
        }
    }
    let mut path = |p: &EnrichPath| match p {
        EnrichPath::Value(c) | EnrichPath::JsonValue(c) => visit(c),
        EnrichPath::Nodes(_) | EnrichPath::Json(_) | EnrichPath::Syn(_) => {}
    };
    if let EnrichSrc::Custom(p) = &e.source {
        path(p);
    }
    if let EnrichTgt::Custom(p) = &e.target {
        path(p);
    }
}

pub(crate) fn syn_exprs<'a>(e: &'a EnrichOp, out: &mut Vec<&'a SynExpr>) {
    if let EnrichSrc::Custom(EnrichPath::Syn(x)) = &e.source {
        out.push(x);
    }
}

/// An inline source kept in the registry (`key=` that no local entry holds).
pub(crate) fn registry_keys(e: &EnrichOp, keys: &mut BTreeSet<String>) {
    if let EnrichSrc::InlineKey(k) = &e.source {
        keys.insert(k.clone());
    }
}

/// A node taken from the source.
#[derive(Clone, Debug)]
pub(crate) enum SrcNode {
    Elem(Element),
    Text(String),
    Envelope(Envelope),
}

pub(crate) fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

fn is_json_payload(ctx: &MessageContext) -> bool {
    match &ctx.payload {
        Payload::Json(_) => true,
        Payload::Raw(_) => ctx
            .content_type
            .as_deref()
            .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("json")),
        _ => false,
    }
}

fn read_prop(ctx: &MessageContext, scope: Scope, name: &str) -> Value {
    ctx.read_property(scope, name, &|| 0).unwrap_or(Value::Null)
}

fn write_prop(ctx: &mut MessageContext, scope: Scope, name: &str, v: Value) {
    match scope {
        Scope::Axis2 => {
            ctx.properties.axis2.insert(name.to_string(), v);
        }
        Scope::Operation => {
            ctx.properties.operation.insert(name.to_string(), v);
        }
        _ => {
            ctx.properties.default.insert(name.to_string(), v);
        }
    }
}

// === enrich ===

pub(crate) fn enrich(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    // inline `{expression}` placeholders are resolved first; XML after resolution means XML mode
    let resolved;
    let op = match &op.source {
        EnrichSrc::InlineTemplate(parts) => {
            let text = fill_template(engine, ctx, parts)?;
            let is_xml = synaptic_payload::xml::parse(text.trim()).is_ok();
            resolved = EnrichOp {
                source: if is_xml {
                    EnrichSrc::InlineXml(text)
                } else {
                    EnrichSrc::InlineText(text)
                },
                clone: op.clone,
                target: op.target.clone(),
                action: op.action,
                native_json: op.native_json && !is_xml,
            };
            &resolved
        }
        _ => op,
    };
    let source_prop_xml = match &op.source {
        EnrichSrc::Property(n) => property_is_xml(&read_prop(ctx, Scope::Default, n)),
        _ => false,
    };
    if op.native_json && is_json_payload(ctx) && !source_prop_xml {
        ctx.ensure_built()?;
        if let Payload::Json(_) = ctx.payload {
            enrich_json(engine, op, ctx)?;
            finish(op, ctx);
            return Ok(());
        }
    }
    enrich_xml(engine, op, ctx)?;
    finish(op, ctx);
    Ok(())
}

/// `InlineExpressionUtil.replaceDynamicValues`: each value goes in as is when it is XML or JSON
/// (gson-lenient) or written between quotes; otherwise (and an empty `json-eval` result) it is
/// wrapped in double quotes.
fn fill_template(
    engine: &Engine,
    ctx: &MessageContext,
    parts: &[TemplatePart],
) -> Result<String, MediationError> {
    let mut out = String::new();
    for p in parts {
        match p {
            TemplatePart::Lit(l) => out.push_str(l),
            TemplatePart::Expr {
                expr,
                quoted,
                json_eval,
            } => {
                let v = value_string(&eval(engine, ctx, expr)?).unwrap_or_default();
                let valid = synaptic_payload::xml::parse(v.trim()).is_ok()
                    || (!v.trim().is_empty() && parse_json_lenient(&v).is_some())
                    || v.trim() == "null";
                if (v.is_empty() && *json_eval) || (!valid && (v.is_empty() || !*quoted)) {
                    out.push('"');
                    out.push_str(&v);
                    out.push('"');
                } else {
                    out.push_str(&v);
                }
            }
        }
    }
    Ok(out)
}

fn finish(op: &EnrichOp, ctx: &mut MessageContext) {
    if matches!(op.target, EnrichTgt::Body | EnrichTgt::Envelope) {
        ctx.properties.axis2.remove("NO_ENTITY_BODY");
    }
}

/// `EnrichMediator`: a property source holds XML when it is an element (OM) or a string that
/// is not JSON (gson reads the empty string as JSON null).
fn property_is_xml(v: &Value) -> bool {
    match v {
        Value::Xml(_) => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// gson's lenient reading of a JSON text: strict JSON, else one bare word as a string.
fn parse_json_lenient(text: &str) -> Option<Json> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Json>(t) {
        return Some(v);
    }
    (!t.is_empty() && !t.contains(char::is_whitespace) && !t.starts_with(['{', '[', '<', '"']))
        .then(|| Json::String(t.to_string()))
}

fn path_text(p: &EnrichPath) -> String {
    match p {
        EnrichPath::Value(c) | EnrichPath::JsonValue(c) => c.text.clone(),
        EnrichPath::Syn(_) => "the Synapse Expression".into(),
        EnrichPath::Json(j) => format!("json-eval({})", jpath_text(j)),
        EnrichPath::Nodes(_) => "the target XPath".into(),
    }
}

fn jpath_text(j: &crate::jpath::JPath) -> String {
    let mut s = String::from("$");
    for seg in &j.segs {
        match seg {
            crate::jpath::Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            crate::jpath::Seg::Index(i) => s.push_str(&format!("[{i}]")),
            crate::jpath::Seg::Any => s.push_str("[*]"),
        }
    }
    s
}

// --- JSON mode ---

fn enrich_json(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let Payload::Json(mut doc) = std::mem::replace(&mut ctx.payload, Payload::Empty) else {
        return Err(fault("enrich: the payload is not JSON"));
    };
    let result = enrich_json_doc(engine, op, ctx, &mut doc);
    let ct = ctx.content_type.clone();
    match result {
        // `json-eval($)` removed: no body left
        Ok(true) => ctx.set_payload(Payload::Empty, ct),
        _ => ctx.set_payload(Payload::Json(doc), ct),
    }
    result.map(|_| ())
}

fn enrich_json_doc(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
    doc: &mut Json,
) -> Result<bool, MediationError> {
    if op.action == EnrichAction::Remove {
        return remove_json(op, ctx, doc);
    }
    let source: Json = match &op.source {
        EnrichSrc::Custom(EnrichPath::Json(p)) => {
            let v = p
                .read(doc)
                .map_err(|_| {
                    fault(format!(
                        "enrich source json-eval({}) matches nothing in the payload",
                        jpath_text(p)
                    ))
                })?
                .clone();
            if !op.clone {
                p.delete(doc);
            }
            v
        }
        EnrichSrc::Custom(EnrichPath::JsonValue(c)) => {
            let env_payload = Payload::Json(doc.clone());
            let saved = std::mem::replace(&mut ctx.payload, env_payload);
            let v = eval(engine, ctx, c);
            ctx.payload = saved;
            let s = value_string(&v?).unwrap_or_default();
            parse_json_lenient(&s).unwrap_or(Json::String(s))
        }
        EnrichSrc::Body => doc.clone(),
        EnrichSrc::InlineText(t) => parse_json_lenient(t)
            .ok_or_else(|| fault("enrich: the inline source is not valid JSON"))?,
        EnrichSrc::InlineKey(k) => {
            let text = ctx
                .registry_value(k)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    fault(format!(
                        "enrich: inline source `{k}` is not in the registry"
                    ))
                })?;
            parse_json_lenient(&text)
                .ok_or_else(|| fault(format!("enrich: inline source `{k}` is not valid JSON")))?
        }
        EnrichSrc::Property(n) => match read_prop(ctx, Scope::Default, n) {
            Value::String(s) => parse_json_lenient(&s).unwrap_or(Json::String(s)),
            Value::Json(j) => j,
            _ => {
                return Err(fault(format!(
                    "failed to get the source for enriching: property `{n}` holds no JSON value"
                )))
            }
        },
        EnrichSrc::Custom(_)
        | EnrichSrc::Envelope
        | EnrichSrc::InlineXml(_)
        | EnrichSrc::InlineTemplate(_)
        | EnrichSrc::RemovePaths(_) => {
            return Err(fault("enrich: this source cannot be enriched as JSON"))
        }
    };
    match &op.target {
        EnrichTgt::Custom(EnrichPath::Json(p)) => match op.action {
            EnrichAction::Replace => {
                if let Err(Missing::Intermediate) = p.set(doc, source) {
                    return Err(fault(format!(
                        "enrich target json-eval({}): missing property in path",
                        jpath_text(p)
                    )));
                }
            }
            EnrichAction::Child => {
                let recv = p.read_mut(doc).map_err(|_| {
                    fault(format!(
                        "enrich target json-eval({}) matches nothing in the payload",
                        jpath_text(p)
                    ))
                })?;
                add_json_child(recv, source);
            }
            EnrichAction::Sibling | EnrichAction::Remove => {
                tracing::warn!(
                    "enrich: action sibling is not supported for JSON targets; use child"
                );
            }
        },
        EnrichTgt::Key { parent, key } => {
            let new_key =
                match &source {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => return Err(fault(
                        "failed to get the new key name from source for enriching: key name must \
                         be a string",
                    )),
                };
            let missing = || {
                fault(format!(
                    "enrich: no member `{key}` at json-eval({}) to rename",
                    jpath_text(parent)
                ))
            };
            let Ok(Json::Object(map)) = parent.read_mut(doc) else {
                return Err(missing());
            };
            // Jayway renames by remove + put: the member moves to the end
            let v = map.shift_remove(key.as_str()).ok_or_else(missing)?;
            map.insert(new_key, v);
        }
        EnrichTgt::Body => match (op.action, &source) {
            (EnrichAction::Replace, Json::Object(_) | Json::Array(_)) => *doc = source,
            (EnrichAction::Replace, _) => tracing::warn!(
                "enrich: only a JSON object or array can replace the body; the body is unchanged"
            ),
            _ => tracing::warn!("enrich: only action replace is supported for a JSON body target"),
        },
        EnrichTgt::Property { scope, name } => match op.action {
            EnrichAction::Replace | EnrichAction::Remove => {
                write_prop(ctx, *scope, name, Value::String(source.to_string()));
            }
            EnrichAction::Child => {
                let existing = value_string(&read_prop(ctx, *scope, name));
                match existing.as_deref().and_then(parse_json_lenient) {
                    Some(Json::Array(mut a)) => {
                        a.push(source);
                        write_prop(ctx, *scope, name, Value::String(Json::Array(a).to_string()));
                    }
                    Some(_) => tracing::warn!(
                        property = %name,
                        "enrich: cannot add a child: the property is not a JSON array"
                    ),
                    None => tracing::warn!(
                        property = %name,
                        "enrich: cannot add a child: the property is not set"
                    ),
                }
            }
            EnrichAction::Sibling => tracing::warn!(
                "enrich: action sibling is not supported when enriching properties with JSON"
            ),
        },
        EnrichTgt::Custom(_) | EnrichTgt::Envelope => {
            return Err(fault("enrich: this target cannot be enriched as JSON"))
        }
    }
    Ok(false)
}

/// Returns whether the body is now empty.
/// `Target.removeJsonFromBody` / `removeJsonFromProperty`: delete each path (`$` empties the
/// document); a path that matches nothing faults, an empty array is left in place.
fn remove_json(
    op: &EnrichOp,
    ctx: &mut MessageContext,
    doc: &mut Json,
) -> Result<bool, MediationError> {
    let EnrichSrc::RemovePaths(paths) = &op.source else {
        return Err(fault(
            "enrich: a json-eval(…) source is mandatory for the remove action",
        ));
    };
    let remove_all = |text: &mut Option<Json>| -> Result<(), MediationError> {
        for p in paths {
            let Some(d) = text.as_mut() else { break };
            let p = match p {
                RemovePath::Path(p) => p,
                RemovePath::Query(q) => {
                    let found = synaptic_expr::json_match_paths(q, d)
                        .map_err(|e| fault(format!("enrich remove: {e}")))?;
                    for m in found.iter().rev() {
                        if let Ok(jp) = crate::jpath::parse(m) {
                            jp.delete(d);
                        }
                    }
                    continue;
                }
            };
            if p.segs.is_empty() {
                *text = None;
                break;
            }
            if p.has_wildcard() {
                // an indefinite path reads as a list: no match is an empty list, left alone;
                // deleting from the last match keeps earlier array indexes valid
                for m in p.matches(d).iter().rev() {
                    m.delete(d);
                }
                continue;
            }
            match p.read(d) {
                Ok(Json::Array(a)) if a.is_empty() => {}
                Ok(_) => p.delete(d),
                Err(_) => {
                    return Err(fault(format!(
                        "enrich remove: no results for path json-eval({})",
                        jpath_text(p)
                    )))
                }
            }
        }
        Ok(())
    };
    match &op.target {
        EnrichTgt::Body => {
            let mut d = Some(std::mem::replace(doc, Json::Null));
            let r = remove_all(&mut d);
            let empty = d.is_none();
            if let Some(v) = d {
                *doc = v;
            }
            r.map(|_| empty)
        }
        EnrichTgt::Property { scope, name } => {
            let text = match read_prop(ctx, *scope, name) {
                Value::String(s) => s,
                Value::Json(j) => j.to_string(),
                _ => {
                    return Err(fault(format!(
                        "cannot perform the remove operation: property `{name}` is not a string or JSON"
                    )))
                }
            };
            let mut d = Some(parse_json_lenient(&text).ok_or_else(|| {
                fault(format!(
                    "cannot perform the remove operation: property `{name}` is not JSON"
                ))
            })?);
            remove_all(&mut d)?;
            let out = d.map(|v| v.to_string()).unwrap_or_default();
            write_prop(ctx, *scope, name, Value::String(out));
            Ok(false)
        }
        _ => Err(fault(
            "enrich: the remove action works on a body or property target only",
        )),
    }
}

/// Jayway/`EIPUtils`: append to an array, merge an object into an object, else log.
fn add_json_child(recv: &mut Json, source: Json) {
    match (recv, source) {
        (Json::Array(a), s) => a.push(s),
        (Json::Object(o), Json::Object(s)) => {
            for (k, v) in s {
                o.insert(k, v);
            }
        }
        (r, _) => tracing::warn!(
            "enrich: cannot append since the target element is not a JSON array or object: {}",
            if r.is_string() {
                "a string"
            } else {
                "a scalar"
            }
        ),
    }
}

// --- XML mode ---

pub(crate) fn envelope_of(ctx: &mut MessageContext) -> Envelope {
    match std::mem::replace(&mut ctx.payload, Payload::Empty) {
        Payload::Xml(e) => e,
        other => {
            let e = synaptic_payload::to_envelope(&other);
            ctx.payload = other;
            e
        }
    }
}

fn enrich_xml(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    if let EnrichTgt::Key { .. } = op.target {
        return Err(fault(
            "enrich: a key target renames a JSON member and needs a JSON payload and source",
        ));
    }
    if op.action == EnrichAction::Remove {
        tracing::warn!("enrich: action remove only applies to JSON payloads; nothing removed");
        return Ok(());
    }
    let src_in_payload = matches!(
        op.source,
        EnrichSrc::Custom(_) | EnrichSrc::Body | EnrichSrc::Envelope
    );
    let tgt_in_payload = matches!(
        op.target,
        EnrichTgt::Custom(_) | EnrichTgt::Body | EnrichTgt::Envelope
    );
    if src_in_payload || tgt_in_payload {
        ctx.ensure_built()?;
    }
    // expressions that are evaluated as values see the payload as it is now
    let value_source = match &op.source {
        EnrichSrc::Custom(EnrichPath::Value(c)) => Some(eval(engine, ctx, c)?),
        EnrichSrc::Custom(EnrichPath::JsonValue(c)) => Some(eval(engine, ctx, c)?),
        EnrichSrc::Custom(EnrichPath::Syn(x)) => Some(crate::eval::eval_syn(engine, ctx, x)),
        _ => None,
    };
    if !(src_in_payload || tgt_in_payload) {
        let sources = collect_sources(op, ctx, None, value_source)?.0;
        return apply_target_outside(op, ctx, sources);
    }
    let was_xml = matches!(ctx.payload, Payload::Xml(_));
    let mut env = envelope_of(ctx);
    let result = (|| -> Result<Option<Json>, MediationError> {
        let (sources, moves) = collect_sources(op, ctx, Some(&mut env), value_source)?;
        if !tgt_in_payload {
            apply_target_outside(op, ctx, sources)?;
            return Ok(None);
        }
        // clone="false": the source nodes move (removed from where they were)
        let mut moves = moves;
        moves.sort_by(|a, b| b.1.cmp(&a.1));
        for (part, path) in &moves {
            remove_node(&mut env, *part, path);
        }
        apply_target_payload(op, &mut env, sources)
    })();
    match result {
        Ok(Some(json)) => {
            let ct = ctx.content_type.clone();
            ctx.set_payload(Payload::Json(json), ct);
            Ok(())
        }
        Ok(None) => {
            if tgt_in_payload {
                let ct = ctx.content_type.clone();
                ctx.set_payload(Payload::Xml(env), ct);
            } else if was_xml {
                ctx.payload = Payload::Xml(env);
            }
            Ok(())
        }
        Err(e) => {
            if was_xml {
                ctx.payload = Payload::Xml(env);
            }
            Err(e)
        }
    }
}

type Moves = Vec<(Part, Vec<usize>)>;

fn collect_sources(
    op: &EnrichOp,
    ctx: &MessageContext,
    env: Option<&mut Envelope>,
    value_source: Option<Value>,
) -> Result<(Vec<SrcNode>, Moves), MediationError> {
    let mut moves = Vec::new();
    let move_ok = !op.clone && !matches!(op.target, EnrichTgt::Property { .. });
    let nodes = match &op.source {
        EnrichSrc::Custom(EnrichPath::Nodes(path)) => {
            let Some(env) = env else {
                return Ok((Vec::new(), moves));
            };
            let mut out = Vec::new();
            for r in xsel::select(path, env) {
                match &r {
                    NodeRef::Elem(p, path) => {
                        if let Some(e) = xsel::element(env, *p, path) {
                            out.push(SrcNode::Elem(e.clone()));
                            if move_ok {
                                moves.push((*p, path.clone()));
                            }
                        }
                    }
                    NodeRef::Text(..) => out.push(SrcNode::Text(xsel::string_value(env, &r))),
                    NodeRef::Root | NodeRef::Envelope => out.push(SrcNode::Envelope(env.clone())),
                    NodeRef::Part(p) => out.push(SrcNode::Elem(part_element(env, *p))),
                    // attributes are not among the node kinds Synapse's enrich takes
                    NodeRef::Attr(..) => {}
                }
            }
            if out.is_empty() {
                tracing::warn!("enrich: the source XPath selects nothing");
            }
            out
        }
        EnrichSrc::Custom(EnrichPath::Value(_)) => match value_source {
            Some(Value::Xml(s)) => parse_fragment(&s),
            Some(Value::String(s)) => vec![SrcNode::Text(s)],
            _ => Vec::new(),
        },
        // a Synapse Expression: XML values as nodes, anything else as its text
        EnrichSrc::Custom(EnrichPath::Syn(_)) => match value_source {
            Some(Value::Xml(s)) => parse_fragment(&s),
            Some(v) => value_string(&v)
                .map(|s| vec![SrcNode::Text(s)])
                .unwrap_or_default(),
            None => Vec::new(),
        },
        EnrichSrc::Custom(EnrichPath::JsonValue(_)) => match value_source {
            Some(v) => value_string(&v)
                .map(|s| vec![SrcNode::Text(s)])
                .unwrap_or_default(),
            None => Vec::new(),
        },
        EnrichSrc::Custom(EnrichPath::Json(p)) => {
            let json = env
                .map(|e| synaptic_payload::to_json(&Payload::Xml(e.clone())).unwrap_or(Json::Null));
            match json.as_ref().map(|j| p.read(j)) {
                Some(Ok(Json::String(s))) => vec![SrcNode::Text(s.clone())],
                Some(Ok(v)) => vec![SrcNode::Text(v.to_string())],
                _ => Vec::new(),
            }
        }
        EnrichSrc::Envelope => match env {
            Some(e) => vec![SrcNode::Envelope(e.clone())],
            None => Vec::new(),
        },
        EnrichSrc::Body => match env {
            Some(e) => match e.body.first() {
                Some(first) => {
                    if move_ok {
                        moves.push((Part::Body, vec![0]));
                    }
                    vec![SrcNode::Elem(first.clone())]
                }
                None => Vec::new(),
            },
            None => Vec::new(),
        },
        EnrichSrc::Property(n) => match read_prop(ctx, Scope::Default, n) {
            Value::Xml(s) => parse_fragment(&s),
            Value::String(s) => vec![SrcNode::Text(s)],
            Value::Json(j) => vec![SrcNode::Text(j.to_string())],
            _ => {
                tracing::warn!(property = %n, "enrich: invalid source property type");
                Vec::new()
            }
        },
        EnrichSrc::InlineXml(s) => inline_xml(s),
        EnrichSrc::InlineText(t) => vec![SrcNode::Text(t.clone())],
        // resolved into InlineXml/InlineText before the mode is chosen; XML mode never removes
        EnrichSrc::InlineTemplate(_) | EnrichSrc::RemovePaths(_) => Vec::new(),
        EnrichSrc::InlineKey(k) => match ctx.registry_value(k) {
            Some(v) if v.trim_start().starts_with('<') => inline_xml(&v),
            Some(v) => vec![SrcNode::Text(v)],
            None => {
                tracing::warn!(key = %k, "enrich: the inline source resource is not valid");
                Vec::new()
            }
        },
    };
    Ok((nodes, moves))
}

/// An inline XML source: a SOAP `Envelope` root is an envelope, anything else an element.
fn inline_xml(s: &str) -> Vec<SrcNode> {
    match synaptic_payload::xml::parse(s.trim()) {
        Ok(root) if root.name.local == "Envelope" => {
            if root.name.ns == SOAP11_NS || root.name.ns == SOAP12_NS {
                vec![SrcNode::Envelope(Envelope::from_root(root))]
            } else {
                tracing::warn!("enrich: the inline source is not a valid SOAP envelope");
                Vec::new()
            }
        }
        Ok(root) => vec![SrcNode::Elem(root)],
        Err(_) => vec![SrcNode::Text(s.to_string())],
    }
}

/// Serialized nodes (an OM property, an earlier enrich into a property) back into nodes.
pub(crate) fn parse_fragment(s: &str) -> Vec<SrcNode> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let wrapped = format!("<synaptic-fragment>{s}</synaptic-fragment>");
    match synaptic_payload::xml::parse(&wrapped) {
        Ok(root) => root
            .children
            .into_iter()
            .filter_map(|n| match n {
                Node::Element(e)
                    if e.name.local == "Envelope"
                        && (e.name.ns == SOAP11_NS || e.name.ns == SOAP12_NS) =>
                {
                    Some(SrcNode::Envelope(Envelope::from_root(e)))
                }
                Node::Element(e) => Some(SrcNode::Elem(e)),
                Node::Text(t) if !t.trim().is_empty() => Some(SrcNode::Text(t)),
                _ => None,
            })
            .collect(),
        Err(_) => vec![SrcNode::Text(s.to_string())],
    }
}

fn part_element(env: &Envelope, p: Part) -> Element {
    let ns = env.namespace();
    let (name, list) = match p {
        Part::Header => ("Header", &env.header),
        Part::Body => ("Body", &env.body),
    };
    let mut e = Element::new(QName::new(ns, "soapenv", name));
    e.namespaces.push(("soapenv".into(), ns.into()));
    for c in list {
        e.push(c.clone());
    }
    e
}

pub(crate) fn src_element(s: SrcNode) -> Option<Element> {
    match s {
        SrcNode::Elem(e) => Some(e),
        SrcNode::Envelope(e) => Some(e.to_element()),
        SrcNode::Text(_) => None,
    }
}

/// What a property holds after enriching it with nodes (Synapse keeps the node list).
fn nodes_value(nodes: Vec<SrcNode>) -> Value {
    match nodes.as_slice() {
        [] => Value::Xml(String::new()),
        [SrcNode::Text(t)] => Value::String(t.clone()),
        _ => {
            let mut s = String::new();
            for n in nodes {
                match n {
                    SrcNode::Elem(e) => s.push_str(&e.to_xml()),
                    SrcNode::Envelope(e) => s.push_str(&e.to_element().to_xml()),
                    SrcNode::Text(t) => s.push_str(&t),
                }
            }
            Value::Xml(s)
        }
    }
}

/// A property target (XML mode).
fn apply_target_outside(
    op: &EnrichOp,
    ctx: &mut MessageContext,
    sources: Vec<SrcNode>,
) -> Result<(), MediationError> {
    let EnrichTgt::Property { scope, name } = &op.target else {
        return Err(fault("enrich: the target is in the payload"));
    };
    if op.action == EnrichAction::Child {
        let existing = read_prop(ctx, *scope, name);
        let (text, keep_xml) = match &existing {
            Value::Xml(s) => (Some(s.clone()), true),
            Value::String(s) => (Some(s.clone()), false),
            _ => (None, false),
        };
        if let Some(Ok(mut el)) = text.map(|t| synaptic_payload::xml::parse(t.trim())) {
            for s in sources {
                if let Some(e) = src_element(s) {
                    el.push(e);
                }
            }
            // Synapse stores the element back, or for a string property the element's text
            let v = if keep_xml {
                Value::Xml(el.to_xml())
            } else {
                Value::String(el.direct_text())
            };
            write_prop(ctx, *scope, name, v);
            return Ok(());
        }
    }
    write_prop(ctx, *scope, name, nodes_value(sources));
    Ok(())
}

/// A body, envelope or custom target. `Some(json)` when the body becomes a JSON payload.
fn apply_target_payload(
    op: &EnrichOp,
    env: &mut Envelope,
    sources: Vec<SrcNode>,
) -> Result<Option<Json>, MediationError> {
    match &op.target {
        EnrichTgt::Envelope => match sources.into_iter().next() {
            Some(SrcNode::Envelope(e)) => {
                *env = e;
                Ok(None)
            }
            _ => Err(fault(
                "enrich: a SOAP envelope is expected as the source of an envelope target",
            )),
        },
        EnrichTgt::Body => {
            if env.body.is_empty() {
                for s in sources {
                    match src_element(s) {
                        Some(e) => env.body.push(e),
                        None => {
                            tracing::warn!("enrich: text cannot be inserted into an empty body")
                        }
                    }
                }
                return Ok(None);
            }
            if op.action == EnrichAction::Replace {
                if let Some(SrcNode::Text(t)) = sources.first() {
                    if let Ok(j @ (Json::Object(_) | Json::Array(_))) =
                        serde_json::from_str::<Json>(t.trim())
                    {
                        return Ok(Some(j));
                    }
                }
            }
            insert_element(env, Part::Body, vec![0], sources, op.action);
            Ok(None)
        }
        EnrichTgt::Custom(EnrichPath::Nodes(path)) => {
            if sources.is_empty() {
                tracing::warn!("enrich: cannot enrich the message from an empty source");
                return Ok(None);
            }
            let Some(target) = xsel::select(path, env).into_iter().next() else {
                return Err(fault("enrich: the target XPath selects no node to enrich"));
            };
            insert_at(env, target, sources, op.action)?;
            Ok(None)
        }
        EnrichTgt::Custom(p) => Err(fault(format!(
            "enrich: target {} needs a JSON payload and a JSON source",
            path_text(p)
        ))),
        EnrichTgt::Property { .. } | EnrichTgt::Key { .. } => {
            Err(fault("enrich: the target is not in the payload"))
        }
    }
}

fn insert_at(
    env: &mut Envelope,
    target: NodeRef,
    sources: Vec<SrcNode>,
    action: EnrichAction,
) -> Result<(), MediationError> {
    match target {
        NodeRef::Elem(part, path) => {
            insert_element(env, part, path, sources, action);
            Ok(())
        }
        NodeRef::Text(part, path, i) => {
            let Some(parent) = xsel::element_mut(env, part, &path) else {
                return Ok(());
            };
            match sources.into_iter().next() {
                Some(SrcNode::Text(t)) => set_text(parent, t),
                Some(s) => {
                    if i < parent.children.len() {
                        parent.children.remove(i);
                    }
                    if let Some(e) = src_element(s) {
                        parent.push(e);
                    }
                }
                None => {}
            }
            Ok(())
        }
        NodeRef::Attr(part, path, i) => match sources.into_iter().next() {
            Some(SrcNode::Text(t)) => {
                if let Some(a) =
                    xsel::element_mut(env, part, &path).and_then(|e| e.attributes.get_mut(i))
                {
                    a.value = t;
                }
                Ok(())
            }
            _ => Err(fault("enrich: only text can be enriched into an attribute")),
        },
        NodeRef::Part(p) if action == EnrichAction::Child => {
            for s in sources {
                if let Some(e) = src_element(s) {
                    match p {
                        Part::Header => env.header.push(e),
                        Part::Body => env.body.push(e),
                    }
                }
            }
            Ok(())
        }
        NodeRef::Part(_) | NodeRef::Envelope | NodeRef::Root => Err(fault(
            "enrich: the SOAP envelope, header or body element can only be given children with \
             a custom target (use type=\"body\" or type=\"envelope\")",
        )),
    }
}

/// `OMElement.setText`: all children replaced by one text node.
fn set_text(e: &mut Element, t: String) {
    e.children.clear();
    if !t.is_empty() {
        e.children.push(Node::Text(t));
    }
}

/// `Target.insertElement` on the element at `path`.
fn insert_element(
    env: &mut Envelope,
    part: Part,
    mut path: Vec<usize>,
    sources: Vec<SrcNode>,
    action: EnrichAction,
) {
    match action {
        EnrichAction::Replace => {
            let mut inserted = false;
            for s in sources {
                match s {
                    SrcNode::Text(t) => {
                        if let Some(e) = xsel::element_mut(env, part, &path) {
                            set_text(e, t);
                        }
                    }
                    other => {
                        if let Some(e) = src_element(other) {
                            insert_node(env, part, &path, e);
                            if let Some(last) = path.last_mut() {
                                *last += 1;
                            }
                            inserted = true;
                        }
                    }
                }
            }
            if inserted {
                remove_node(env, part, &path);
            }
        }
        EnrichAction::Child => {
            if let Some(t) = xsel::element_mut(env, part, &path) {
                for s in sources {
                    if let Some(e) = src_element(s) {
                        t.push(e);
                    }
                }
            }
        }
        // Synapse does not implement remove for XML
        EnrichAction::Remove => {}
        EnrichAction::Sibling => {
            // each one right after the target (so they end up in reverse order, as in Axiom)
            let mut after = path.clone();
            if let Some(last) = after.last_mut() {
                *last += 1;
            }
            for s in sources {
                if let Some(e) = src_element(s) {
                    insert_node(env, part, &after, e);
                }
            }
        }
    }
}

/// Insert an element at a position (before what is there now).
fn insert_node(env: &mut Envelope, part: Part, path: &[usize], e: Element) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if parent.is_empty() {
        let list = match part {
            Part::Header => &mut env.header,
            Part::Body => &mut env.body,
        };
        let at = (*last).min(list.len());
        list.insert(at, e);
    } else if let Some(p) = xsel::element_mut(env, part, parent) {
        let at = (*last).min(p.children.len());
        p.children.insert(at, Node::Element(e));
    }
}

fn remove_node(env: &mut Envelope, part: Part, path: &[usize]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if parent.is_empty() {
        let list = match part {
            Part::Header => &mut env.header,
            Part::Body => &mut env.body,
        };
        if *last < list.len() {
            list.remove(*last);
        }
    } else if let Some(p) = xsel::element_mut(env, part, parent) {
        if *last < p.children.len() {
            p.children.remove(*last);
        }
    }
}
