//! `compile`: artifacts → arena IR with resolved references, checked expressions and semantic
//! diagnostics.

use crate::compiler::Compiler;
pub(crate) use crate::ir::{BlockId, EndpointIr, SeqId, ValueSrc};
use crate::mediators::{self, Node};
use crate::{CompileOptions, Program};
use std::collections::{HashMap, HashSet};
use synaptic_diag::{codes, Diagnostic, Span, Spanned};
use synaptic_expr::{CompiledExpr, Dialect, Scope, Value};
use synaptic_syntax::ast;

// ===== IR =====

#[derive(Debug)]
pub(crate) struct Ir {
    pub seqs: Vec<Seq>,
    pub seq_by_name: HashMap<String, SeqId>,
    pub blocks: Vec<Vec<Node>>,
    pub endpoints: HashMap<String, EndpointIr>,
}

#[derive(Debug)]
pub(crate) struct Seq {
    pub name: String,
    pub body: BlockId,
    pub on_error: Option<SeqId>,
}

#[derive(Debug)]
pub(crate) enum MediaType {
    Xml,
    Json,
    Text,
}

#[derive(Debug)]
pub(crate) enum FormatSrc {
    Inline(String),
    /// An inline format with `${…}` placeholders.
    Syn(synaptic_expr::synexpr::Template),
    Key(String),
}

#[derive(Debug)]
pub(crate) enum ArgSrc {
    Value(String),
    Expr { expr: CompiledExpr, json: bool },
}

#[derive(Debug)]
pub(crate) struct PfArg {
    pub src: ArgSrc,
    pub literal: bool,
}

#[derive(Debug)]
pub(crate) struct PayloadFactoryOp {
    pub media: MediaType,
    pub format: FormatSrc,
    pub args: Vec<PfArg>,
}

#[derive(Debug)]
pub(crate) enum HeaderTarget {
    Transport(http::HeaderName),
    /// WS-Addressing field (`To`, `Action`, …) of the SOAP header.
    Addressing(String),
    /// Header blocks written inline (`<header><m:block …/></header>`): added as they are, or
    /// with `action="remove"` every header block of their names removed.
    Embedded(Vec<synaptic_payload::Element>),
    /// A namespace-qualified SOAP header block.
    Soap {
        ns: String,
        prefix: String,
        local: String,
    },
}

#[derive(Debug)]
pub(crate) struct HeaderOp {
    pub target: HeaderTarget,
    pub remove: bool,
    pub value: ValueSrc,
}

#[derive(Debug)]
pub(crate) struct CallOp {
    pub blocking: bool,
    pub endpoint: Option<EndpointIr>,
}

#[derive(Debug)]
pub(crate) struct SendOp {
    pub endpoint: Option<EndpointIr>,
    pub receive: Option<SeqId>,
}

#[derive(Debug)]
pub(crate) enum LogLevel {
    Simple,
    Headers,
    Full,
    Custom,
}

#[derive(Debug)]
pub(crate) struct LogOp {
    pub level: LogLevel,
    pub category: Option<String>,
    pub separator: String,
    pub props: Vec<(String, ValueSrc)>,
    /// `<message>` with `${…}` inside.
    pub message: Option<synaptic_expr::synexpr::Template>,
}

/// An enrich path: XPath with node identity, another XPath evaluated as a value (sources
/// only), a definite JSONPath, or another JSONPath evaluated as a value (sources only).
#[derive(Clone, Debug)]
pub(crate) enum EnrichPath {
    Nodes(crate::xsel::Path),
    Value(CompiledExpr),
    Json(crate::jpath::JPath),
    JsonValue(CompiledExpr),
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultVersion {
    Soap11,
    Soap12,
    Pox,
}

#[derive(Debug)]
pub(crate) enum FaultCodeSrc {
    Value {
        ns: String,
        prefix: String,
        local: String,
    },
    Expr(CompiledExpr),
}

#[derive(Debug)]
pub(crate) enum FaultDetailSrc {
    Text(String),
    Expr(CompiledExpr),
    Elements(Vec<String>),
}

#[derive(Debug)]
pub(crate) struct MakeFaultOp {
    pub version: FaultVersion,
    pub response: bool,
    pub code: Option<FaultCodeSrc>,
    pub reason: Option<ValueSrc>,
    pub node: Option<String>,
    pub role: Option<String>,
    pub detail: Option<FaultDetailSrc>,
}

// ===== compile =====

const ADDRESSING: &[&str] = &[
    "To",
    "From",
    "Action",
    "FaultTo",
    "ReplyTo",
    "RelatesTo",
    "MessageID",
];

pub(crate) fn compile(
    artifacts: &[ast::Artifact],
    opts: &CompileOptions,
) -> (Option<Program>, Vec<Diagnostic>) {
    let mut ir = Ir {
        seqs: Vec::new(),
        seq_by_name: HashMap::new(),
        blocks: Vec::new(),
        endpoints: HashMap::new(),
    };
    let mut c = Compiler {
        opts,
        diags: Vec::new(),
        seq_by_name: HashMap::new(),
        set_names: HashSet::new(),
        dynamic_set: false,
        numeric_names: HashSet::new(),
        reads: Vec::new(),
        numeric_uses: Vec::new(),
        local_entries: HashMap::new(),
    };

    // pass 1: names
    let mut first_span: HashMap<String, Span> = HashMap::new();
    let mut order: Vec<&ast::Sequence> = Vec::new();
    let mut duplicates: Vec<&ast::Sequence> = Vec::new();
    for a in artifacts {
        for s in &a.sequences {
            let name = s.name.value.clone();
            if let Some(prev) = first_span.get(&name) {
                c.diags.push(
                    Diagnostic::error(
                        codes::E0307,
                        s.name.span,
                        format!("sequence `{name}` is defined more than once"),
                    )
                    .with_label(*prev, "first defined here"),
                );
                duplicates.push(s);
                continue;
            }
            first_span.insert(name.clone(), s.name.span);
            let id = ir.seqs.len() as SeqId;
            c.seq_by_name.insert(name.clone(), id);
            ir.seqs.push(Seq {
                name,
                body: 0,
                on_error: None,
            });
            order.push(s);
        }
        for e in &a.endpoints {
            if matches!(e.kind, ast::EndpointKind::Unsupported { .. }) {
                continue;
            }
            if let Some(n) = &e.name {
                if let Some(ep) = c.endpoint(e) {
                    ir.endpoints.insert(n.value.clone(), ep);
                }
            }
        }
    }
    for a in artifacts {
        for le in &a.local_entries {
            match &le.value {
                ast::LocalEntryValue::Text(t) => {
                    c.local_entries
                        .insert(le.key.value.clone(), t.value.clone());
                }
                ast::LocalEntryValue::Xml(x) => {
                    c.local_entries
                        .insert(le.key.value.clone(), x.value.clone());
                }
                ast::LocalEntryValue::Src(_) | ast::LocalEntryValue::Sequence(_) => {}
            }
        }
    }
    // pass 2: bodies
    for (i, s) in order.iter().enumerate() {
        let body = mediators::block(&mut c, &mut ir.blocks, &s.mediators);
        ir.seqs[i].body = body;
        if let Some(on_err) = &s.on_error {
            ir.seqs[i].on_error = c.resolve_seq(on_err);
        }
    }
    // duplicates are still checked
    for s in duplicates {
        mediators::block(&mut c, &mut ir.blocks, &s.mediators);
    }
    // flows named by APIs and proxies
    for a in artifacts {
        let mut refs: Vec<&ast::FlowRef> = Vec::new();
        for api in &a.apis {
            for r in &api.resources {
                refs.extend(
                    [&r.in_sequence, &r.out_sequence, &r.fault_sequence]
                        .into_iter()
                        .flatten(),
                );
            }
        }
        for p in &a.proxies {
            refs.extend(
                [&p.in_sequence, &p.out_sequence, &p.fault_sequence]
                    .into_iter()
                    .flatten(),
            );
        }
        for r in refs {
            if let ast::FlowRef::Key(k) = r {
                c.resolve_seq(k);
            }
        }
    }
    c.finish_checks();

    let mut diags = std::mem::take(&mut c.diags);
    synaptic_diag::sort(&mut diags);
    diags.dedup_by(|a, b| {
        a.code == b.code && a.primary_span() == b.primary_span() && a.message == b.message
    });
    let ok = !diags.iter().any(|d| d.is_error());
    ir.seq_by_name = std::mem::take(&mut c.seq_by_name);
    (ok.then_some(Program { ir }), diags)
}

impl Compiler<'_> {
    pub(crate) fn payload_factory(&mut self, p: &ast::PayloadFactory) -> Option<PayloadFactoryOp> {
        let media = match p.media_type {
            ast::MediaType::Xml => MediaType::Xml,
            ast::MediaType::Json => MediaType::Json,
            ast::MediaType::Text => MediaType::Text,
        };
        let format = match &p.format {
            ast::Format::Inline(s) if synaptic_expr::synexpr::has_expressions(&s.value) => {
                FormatSrc::Syn(crate::eval::compile_template(s, &mut self.diags)?)
            }
            ast::Format::Inline(s) => FormatSrc::Inline(s.value.clone()),
            ast::Format::Key(k) => match self.local_entries.get(&k.value) {
                Some(t) => FormatSrc::Inline(t.clone()),
                None => FormatSrc::Key(k.value.clone()),
            },
        };
        let mut args = Vec::new();
        let mut ok = true;
        for a in &p.args {
            let src = match &a.kind {
                ast::ArgKind::Value(v) => ArgSrc::Value(v.value.clone()),
                ast::ArgKind::Expression { expr, evaluator } => {
                    let json = match evaluator.as_ref().map(|e| e.value.as_str()) {
                        None | Some("xml") => false,
                        Some("json") => true,
                        Some(other) => {
                            let sp = evaluator.as_ref().map(|e| e.span).unwrap_or(a.span);
                            self.err(
                                codes::E0106,
                                sp,
                                format!("unknown evaluator `{other}` (expected `xml` or `json`)"),
                            );
                            ok = false;
                            continue;
                        }
                    };
                    // `json-eval(…)` is detected by expr whatever the evaluator says.
                    let dialect = if json && !expr.text.trim_start().starts_with("json-eval(") {
                        Dialect::JsonPath
                    } else {
                        Dialect::XPath
                    };
                    match self.expr(expr, dialect) {
                        Some(e) => ArgSrc::Expr { expr: e, json },
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            args.push(PfArg {
                src,
                literal: a.literal,
            });
        }
        ok.then_some(PayloadFactoryOp {
            media,
            format,
            args,
        })
    }

    pub(crate) fn header(&mut self, h: &ast::Header, span: Span) -> Option<HeaderOp> {
        let remove = h.action == ast::PropertyAction::Remove;
        let target = match h.scope {
            ast::HeaderScope::Transport => {
                match http::HeaderName::from_bytes(h.name.value.as_bytes()) {
                    Ok(n) => HeaderTarget::Transport(n),
                    Err(_) => {
                        self.err(
                            codes::E0106,
                            h.name.span,
                            format!("`{}` is not a valid HTTP header name", h.name.value),
                        );
                        return None;
                    }
                }
            }
            ast::HeaderScope::Soap if h.name.value.is_empty() => {
                let ast::PropertyValue::Inline(x) = &h.value else {
                    self.err(codes::E0105, span, "header needs `name`");
                    return None;
                };
                match synaptic_payload::xml::parse(&x.value) {
                    Ok(el) => HeaderTarget::Embedded(vec![el]),
                    Err(e) => {
                        self.err(
                            codes::E0106,
                            x.span,
                            format!("the embedded header block is not well-formed XML: {e}"),
                        );
                        return None;
                    }
                }
            }
            ast::HeaderScope::Soap => {
                let (prefix, local) = match h.name.value.split_once(':') {
                    Some((p, l)) => (p.to_string(), l.to_string()),
                    None => (String::new(), h.name.value.clone()),
                };
                if prefix.is_empty() && ADDRESSING.contains(&local.as_str()) {
                    HeaderTarget::Addressing(local)
                } else if let Some(ns) = h.namespace.clone().filter(|n| !n.is_empty()) {
                    HeaderTarget::Soap { ns, prefix, local }
                } else {
                    self.err(
                        codes::E0106,
                        h.name.span,
                        format!(
                            "SOAP header `{}` must be namespace-qualified (or use scope=\"transport\" for an HTTP header)",
                            h.name.value
                        ),
                    );
                    return None;
                }
            }
        };
        let value = match &h.value {
            _ if remove => ValueSrc::None,
            _ if matches!(target, HeaderTarget::Embedded(_)) => ValueSrc::None,
            ast::PropertyValue::Literal(l) => {
                self.placeholder_check(l);
                if let HeaderTarget::Transport(_) = target {
                    if http::HeaderValue::from_str(&l.value).is_err() {
                        self.err(
                            codes::E0106,
                            l.span,
                            "header value contains characters not allowed in HTTP",
                        );
                    }
                }
                ValueSrc::Literal(Value::String(l.value.clone()))
            }
            ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                ValueSrc::Syn(crate::eval::compile_syn(e, &mut self.diags)?)
            }
            ast::PropertyValue::Expression(e) => ValueSrc::Expr(self.expr(e, Dialect::XPath)?),
            ast::PropertyValue::Inline(x) => ValueSrc::Literal(Value::Xml(x.value.clone())),
            ast::PropertyValue::None => {
                self.err(codes::E0105, span, "header needs `value` or `expression`");
                return None;
            }
        };
        Some(HeaderOp {
            target,
            remove,
            value,
        })
    }

    pub(crate) fn log(&mut self, l: &ast::Log) -> Option<LogOp> {
        let level = match l.level {
            ast::LogLevel::Simple => LogLevel::Simple,
            ast::LogLevel::Headers => LogLevel::Headers,
            ast::LogLevel::Full => LogLevel::Full,
            ast::LogLevel::Custom => LogLevel::Custom,
        };
        let mut props = Vec::new();
        let mut ok = true;
        for p in &l.properties {
            let v = match &p.value {
                ast::PropertyValue::Literal(s) => ValueSrc::Literal(Value::String(s.value.clone())),
                ast::PropertyValue::Expression(e) if crate::eval::is_syn(e) => {
                    match crate::eval::compile_syn(e, &mut self.diags) {
                        Some(x) => ValueSrc::Syn(x),
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
                ast::PropertyValue::Expression(e) => match self.expr(e, Dialect::XPath) {
                    Some(c) => ValueSrc::Expr(c),
                    None => {
                        ok = false;
                        continue;
                    }
                },
                ast::PropertyValue::Inline(s) => ValueSrc::Literal(Value::Xml(s.value.clone())),
                ast::PropertyValue::None => ValueSrc::None,
            };
            props.push((p.name.value.clone(), v));
        }
        let message = match &l.message {
            Some(m) => match crate::eval::compile_template(m, &mut self.diags) {
                Some(t) => Some(t),
                None => return None,
            },
            None => None,
        };
        ok.then_some(LogOp {
            level,
            category: l.category.clone(),
            separator: l.separator.clone().unwrap_or_else(|| ",".into()),
            props,
            message,
        })
    }

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
        if let Some(inner) = crate::jpath::json_eval_inner(&x.text) {
            return match crate::jpath::parse(inner) {
                Ok(p) => Some(EnrichPath::Json(p)),
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

    pub(crate) fn makefault(&mut self, m: &ast::MakeFault) -> Option<MakeFaultOp> {
        let version = match m.version {
            ast::FaultVersion::Soap11 => FaultVersion::Soap11,
            ast::FaultVersion::Soap12 => FaultVersion::Soap12,
            ast::FaultVersion::Pox => FaultVersion::Pox,
        };
        let mut ok = true;
        let code = match &m.code {
            None => None,
            Some(ast::FaultCode::Value {
                ns, prefix, local, ..
            }) => Some(FaultCodeSrc::Value {
                ns: ns.clone(),
                prefix: prefix.clone(),
                local: local.clone(),
            }),
            Some(ast::FaultCode::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(FaultCodeSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let reason = match &m.reason {
            None => None,
            Some(ast::FaultText::Value(v)) => {
                Some(ValueSrc::Literal(Value::String(v.value.clone())))
            }
            Some(ast::FaultText::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(ValueSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        let detail = match &m.detail {
            None => None,
            Some(ast::FaultDetail::Text(t)) => Some(FaultDetailSrc::Text(t.value.clone())),
            Some(ast::FaultDetail::Elements(es)) => Some(FaultDetailSrc::Elements(
                es.iter().map(|e| e.value.clone()).collect(),
            )),
            Some(ast::FaultDetail::Expression(e)) => match self.expr(e, Dialect::XPath) {
                Some(c) => Some(FaultDetailSrc::Expr(c)),
                None => {
                    ok = false;
                    None
                }
            },
        };
        ok.then(|| MakeFaultOp {
            version,
            response: m.response,
            code,
            reason,
            node: m.node.as_ref().map(|n| n.value.clone()),
            role: m.role.as_ref().map(|r| r.value.clone()),
            detail,
        })
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
