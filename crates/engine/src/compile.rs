//! `compile`: artifacts → arena IR with resolved references, checked expressions and semantic
//! diagnostics.

use crate::convert::{convert_literal, PropertyType};
use crate::uri::parse_template;
use crate::{CompileOptions, Program};
use std::collections::{BTreeSet, HashMap, HashSet};
use synaptic_diag::{codes, Diagnostic, Span, Spanned};
use synaptic_expr::{CompiledExpr, Dialect, Scope, Value};
use synaptic_syntax::ast;

// ===== IR =====

/// The scopes a property mediator knows (`env`, `file` and `func` are read-only).
const PROPERTY_SCOPES: &[&str] = &[
    "default",
    "transport",
    "axis2",
    "axis2-client",
    "operation",
    "registry",
    "system",
    "env",
    "file",
    "func",
    "trace",
    "analytics",
];

/// The property `type` values Synapse has.
const PROPERTY_TYPES: &[&str] = &[
    "STRING", "BOOLEAN", "INTEGER", "LONG", "SHORT", "FLOAT", "DOUBLE", "OM", "JSON",
];

pub(crate) type BlockId = u32;
pub(crate) type SeqId = u32;

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

/// One compiled mediator with what the interpreter must do before it runs.
#[derive(Debug)]
pub(crate) struct Node {
    pub op: Op,
    pub span: Span,
    /// Literal registry keys read by this mediator's expressions (prefetched).
    pub registry_keys: Box<[String]>,
    /// Whether one of its expressions needs the body built.
    pub touches_body: bool,
    /// The only body access is `json-eval($)`, which reads the raw JSON text when the body is
    /// unbuilt JSON (no DOM needed).
    pub raw_json_ok: bool,
}

/// The closed set of compiled mediators.
#[derive(Debug)]
pub(crate) enum Op {
    Property(Box<PropertyOp>),
    Filter {
        cond: Cond,
        then: BlockId,
        otherwise: Option<BlockId>,
    },
    PayloadFactory(Box<PayloadFactoryOp>),
    Header(Box<HeaderOp>),
    Call(Box<CallOp>),
    Send(Box<SendOp>),
    Log(Box<LogOp>),
    Respond,
    Drop,
    Loopback,
    Sequence(SeqId),
    /// A sequence known to exist outside this program (`CompileOptions::external_sequences`).
    ExternalSequence(String),
    Switch(Box<SwitchOp>),
    Enrich(Box<EnrichOp>),
    MakeFault(Box<MakeFaultOp>),
    Variable(Box<crate::variable::VariableOp>),
    Validate(Box<crate::mediators::validate::ValidateOp>),
    Direction {
        response: bool,
        body: BlockId,
    },
}

#[derive(Debug)]
pub(crate) enum PropName {
    Literal(String),
    Dynamic(CompiledExpr),
}

#[derive(Debug)]
pub(crate) enum ValueSrc {
    /// Converted at compile time.
    Literal(Value),
    Expr(CompiledExpr),
    /// A Synapse Expression (`${…}`).
    Syn(synaptic_expr::synexpr::SynExpr),
    None,
}

#[derive(Debug)]
pub(crate) struct PropertyOp {
    pub name: PropName,
    pub remove: bool,
    pub scope: Scope,
    pub ty: Option<PropertyType>,
    pub value: ValueSrc,
    pub pattern: Option<(regex::Regex, usize)>,
}

#[derive(Debug)]
pub(crate) enum Cond {
    XPath(CompiledExpr),
    /// `xpath="${…}"`
    Syn(synaptic_expr::synexpr::SynExpr),
    Regex {
        /// An XPath/JSONPath expression or `${…}`.
        source: ValueSrc,
        regex: regex::Regex,
    },
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

#[derive(Clone, Debug)]
pub(crate) enum EndpointIr {
    Http {
        method: Option<http::Method>,
        template: String,
        timeout_ms: Option<u64>,
    },
    Address {
        uri: String,
        timeout_ms: Option<u64>,
    },
    Key(String),
    Default,
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

#[derive(Debug)]
pub(crate) struct SwitchOp {
    /// An XPath/JSONPath expression or `${…}`.
    pub source: ValueSrc,
    pub cases: Vec<(regex::Regex, BlockId)>,
    pub default: Option<BlockId>,
}

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

/// Default-scope names synaptic or the gateway provides without a property mediator.
const BUILTIN_DEFAULT_NAMES: &[&str] = &[
    "SYSTEM_TIME",
    "SYSTEM_DATE",
    "To",
    "From",
    "FaultTo",
    "ReplyTo",
    "Action",
    "RelatesTo",
    "MessageID",
    "FAULT",
    "MESSAGE_FORMAT",
    "OperationName",
    "ERROR_CODE",
    "ERROR_MESSAGE",
    "ERROR_DETAIL",
    "ERROR_EXCEPTION",
    "HTTP_SC",
    "REST_API_CONTEXT",
    "REST_FULL_REQUEST_PATH",
    "REST_SUB_REQUEST_PATH",
    "SYNAPSE_REST_API",
    "API_NAME",
    "api.ut.backendRequestTime",
    "TRANSPORT_IN_NAME",
    "RESPONSE",
    "axis2-client",
];

const BUILTIN_DEFAULT_PREFIXES: &[&str] =
    &["uri.var.", "query.param.", "oauth.", "api.ut.", "ERROR_"];

const ADDRESSING: &[&str] = &[
    "To",
    "From",
    "Action",
    "FaultTo",
    "ReplyTo",
    "RelatesTo",
    "MessageID",
];

struct Compiler<'a> {
    opts: &'a CompileOptions,
    diags: Vec<Diagnostic>,
    ir: Ir,
    /// default-scope property names set anywhere (literal names)
    set_names: HashSet<String>,
    dynamic_set: bool,
    /// default-scope names set with a numeric type
    numeric_names: HashSet<String>,
    /// (name, span) default-scope reads, checked after everything is compiled
    reads: Vec<(String, Span)>,
    /// (name, span) of operands used numerically
    numeric_uses: Vec<(String, Span)>,
    /// `<localEntry>` texts by key
    local_entries: HashMap<String, String>,
}

pub(crate) fn compile(
    artifacts: &[ast::Artifact],
    opts: &CompileOptions,
) -> (Option<Program>, Vec<Diagnostic>) {
    let mut c = Compiler {
        opts,
        diags: Vec::new(),
        ir: Ir {
            seqs: Vec::new(),
            seq_by_name: HashMap::new(),
            blocks: Vec::new(),
            endpoints: HashMap::new(),
        },
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
            let id = c.ir.seqs.len() as SeqId;
            c.ir.seq_by_name.insert(name.clone(), id);
            c.ir.seqs.push(Seq {
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
                if let Some(ir) = c.endpoint(e) {
                    c.ir.endpoints.insert(n.value.clone(), ir);
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
        let body = c.block(&s.mediators);
        c.ir.seqs[i].body = body;
        if let Some(on_err) = &s.on_error {
            c.ir.seqs[i].on_error = c.resolve_seq(on_err);
        }
    }
    // duplicates are still checked
    for s in duplicates {
        c.block(&s.mediators);
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
    (ok.then_some(Program { ir: c.ir }), diags)
}

impl Compiler<'_> {
    fn err(&mut self, code: synaptic_diag::Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(code, span, msg));
    }
    fn warn(&mut self, code: synaptic_diag::Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(code, span, msg));
    }

    fn resolve_seq(&mut self, name: &Spanned<String>) -> Option<SeqId> {
        match self.ir.seq_by_name.get(&name.value) {
            Some(id) => Some(*id),
            None => {
                if !self
                    .opts
                    .external_sequences
                    .iter()
                    .any(|n| n == &name.value)
                {
                    self.err(
                        codes::E0304,
                        name.span,
                        format!("no sequence named `{}`", name.value),
                    );
                }
                None
            }
        }
    }

    fn block(&mut self, ms: &[ast::Mediator]) -> BlockId {
        let id = self.ir.blocks.len() as BlockId;
        self.ir.blocks.push(Vec::new());
        let mut nodes = Vec::with_capacity(ms.len());
        for m in ms {
            if let Some(n) = self.mediator(m) {
                nodes.push(n);
            }
        }
        self.ir.blocks[id as usize] = nodes;
        id
    }

    fn expr(&mut self, e: &ast::Expr, dialect: Dialect) -> Option<CompiledExpr> {
        match synaptic_expr::compile(&e.text, e.span, &e.namespaces, dialect) {
            Ok(c) => {
                for (scope, name) in c.property_reads() {
                    if *scope == Scope::Default {
                        self.reads.push((name.clone(), e.span));
                    }
                }
                for n in c.numeric_property_uses() {
                    self.numeric_uses.push((n.clone(), e.span));
                }
                self.diags.extend(c.warnings().iter().cloned());
                Some(c)
            }
            Err(ds) => {
                self.diags.extend(ds);
                None
            }
        }
    }

    /// An attribute read as text (`switch`/`filter` `source=`): a Synapse Expression when it is
    /// `${…}` alone, else XPath (or `json-eval(…)`).
    fn text_source(&mut self, e: &ast::Expr) -> Option<ValueSrc> {
        if crate::variable::is_syn(e) {
            Some(ValueSrc::Syn(crate::variable::compile_syn(
                e,
                &mut self.diags,
            )?))
        } else {
            Some(ValueSrc::Expr(self.expr(e, Dialect::XPath)?))
        }
    }

    fn validate(&mut self, v: &ast::Validate) -> Option<crate::mediators::validate::ValidateOp> {
        use crate::mediators::validate::Source;
        let source = match &v.source {
            None => None,
            Some(e) if crate::variable::is_syn(e) => Some(Source::Syn(
                crate::variable::compile_syn(e, &mut self.diags)?,
            )),
            Some(e) if crate::jpath::json_eval_inner(&e.text).is_some() => {
                Some(Source::JsonPath(self.expr(e, Dialect::XPath)?))
            }
            Some(e) => {
                self.expr(e, Dialect::XPath)?;
                Some(Source::XPath(e.text.clone()))
            }
        };
        let on_fail = self.block(&v.on_fail);
        let entries = self.local_entries.clone();
        crate::mediators::validate::compile(
            v,
            source,
            &|k| entries.get(k).cloned(),
            on_fail,
            &mut self.diags,
        )
    }

    fn mediator(&mut self, m: &ast::Mediator) -> Option<Node> {
        let span = m.span;
        let op = match &m.kind {
            ast::MediatorKind::Property(p) => Op::Property(Box::new(self.property(p, span)?)),
            ast::MediatorKind::Filter(f) => {
                let cond = match &f.condition {
                    ast::Condition::XPath(e) if crate::variable::is_syn(e) => {
                        Cond::Syn(crate::variable::compile_syn(e, &mut self.diags)?)
                    }
                    ast::Condition::XPath(e) => Cond::XPath(self.expr(e, Dialect::XPath)?),
                    ast::Condition::Regex { source, regex } => {
                        let source = self.text_source(source);
                        let regex = self.regex(regex);
                        Cond::Regex {
                            source: source?,
                            regex: regex?,
                        }
                    }
                };
                let then = self.block(&f.then);
                let otherwise = f.otherwise.as_ref().map(|o| self.block(o));
                Op::Filter {
                    cond,
                    then,
                    otherwise,
                }
            }
            ast::MediatorKind::PayloadFactory(p) => {
                Op::PayloadFactory(Box::new(self.payload_factory(p)?))
            }
            ast::MediatorKind::Header(h) => Op::Header(Box::new(self.header(h, span)?)),
            ast::MediatorKind::Call(c) => {
                let endpoint = match &c.endpoint {
                    Some(e) => Some(self.endpoint(e)?),
                    None => None,
                };
                Op::Call(Box::new(CallOp {
                    blocking: c.blocking,
                    endpoint,
                }))
            }
            ast::MediatorKind::Send(s) => {
                let endpoint = match &s.endpoint {
                    Some(e) => Some(self.endpoint(e)?),
                    None => None,
                };
                let receive = match &s.receive {
                    Some(r) => Some(self.resolve_seq(r)?),
                    None => None,
                };
                Op::Send(Box::new(SendOp { endpoint, receive }))
            }
            ast::MediatorKind::Log(l) => Op::Log(Box::new(self.log(l)?)),
            ast::MediatorKind::Respond => Op::Respond,
            ast::MediatorKind::Drop => Op::Drop,
            ast::MediatorKind::Loopback => Op::Loopback,
            ast::MediatorKind::SequenceRef(name) => match self.ir.seq_by_name.get(&name.value) {
                Some(id) => Op::Sequence(*id),
                None if self
                    .opts
                    .external_sequences
                    .iter()
                    .any(|n| n == &name.value) =>
                {
                    Op::ExternalSequence(name.value.clone())
                }
                None => {
                    self.err(
                        codes::E0304,
                        name.span,
                        format!("no sequence named `{}`", name.value),
                    );
                    return None;
                }
            },
            ast::MediatorKind::Switch(s) => {
                let source = self.text_source(&s.source);
                let mut cases = Vec::new();
                for case in &s.cases {
                    let re = self.regex(&case.regex);
                    let body = self.block(&case.mediators);
                    if let Some(re) = re {
                        cases.push((re, body));
                    }
                }
                let default = s.default.as_ref().map(|d| self.block(d));
                Op::Switch(Box::new(SwitchOp {
                    source: source?,
                    cases,
                    default,
                }))
            }
            ast::MediatorKind::Enrich(e) => Op::Enrich(Box::new(self.enrich(e)?)),
            ast::MediatorKind::MakeFault(f) => Op::MakeFault(Box::new(self.makefault(f)?)),
            ast::MediatorKind::Variable(v) => {
                let mut diags = Vec::new();
                let op =
                    crate::variable::compile(v, &mut diags, &mut |e| self.expr(e, Dialect::XPath));
                self.diags.extend(diags);
                Op::Variable(Box::new(op?))
            }
            ast::MediatorKind::Validate(v) => Op::Validate(Box::new(self.validate(v)?)),
            ast::MediatorKind::Direction { dir, mediators } => {
                let body = self.block(mediators);
                Op::Direction {
                    response: *dir == ast::Dir::Out,
                    body,
                }
            }
            ast::MediatorKind::Unsupported { name } => {
                // The parser reports E0108; make sure no program contains it even if not.
                // at the element name, where the parser reports it too (so the two dedupe)
                let at = Span {
                    source: span.source,
                    start: span.start.saturating_add(1).min(span.end),
                    end: span
                        .start
                        .saturating_add(1)
                        .saturating_add(name.len() as u32)
                        .min(span.end),
                };
                self.diags.push(Diagnostic::error(
                    codes::E0108,
                    at,
                    format!("mediator <{name}> is not supported yet"),
                ));
                return None;
            }
        };
        let mut keys: BTreeSet<String> = BTreeSet::new();
        if let Op::PayloadFactory(pf) = &op {
            if let FormatSrc::Key(k) = &pf.format {
                keys.insert(k.clone());
            }
        }
        if let Op::Validate(v) = &op {
            keys.extend(v.registry_key().map(str::to_string));
        }
        if let Op::Enrich(e) = &op {
            if let EnrichSrc::InlineKey(k) = &e.source {
                keys.insert(k.clone());
            }
        }
        let mut touches = false;
        let mut needs_dom = false;
        visit_exprs(&op, &mut |e| {
            keys.extend(e.registry_keys().iter().cloned());
            if e.touches_body() {
                touches = true;
                let compact: String = e.text.chars().filter(|c| !c.is_whitespace()).collect();
                if compact != "json-eval($)" {
                    needs_dom = true;
                }
            }
        });
        if crate::variable::meta(&syn_exprs(&op), &mut keys) {
            touches = true;
            needs_dom = true;
        }
        Some(Node {
            op,
            span,
            registry_keys: keys.into_iter().collect(),
            touches_body: touches,
            raw_json_ok: touches && !needs_dom,
        })
    }

    fn regex(&mut self, r: &Spanned<String>) -> Option<regex::Regex> {
        match synaptic_expr::compile_java_regex(&r.value) {
            Ok(re) => Some(re),
            Err(msg) => {
                self.err(
                    codes::E0208,
                    r.span,
                    format!("invalid regular expression: {msg}"),
                );
                None
            }
        }
    }

    fn property(&mut self, p: &ast::Property, span: Span) -> Option<PropertyOp> {
        let remove = p.action == ast::PropertyAction::Remove;
        // every mistake on the element is reported: the scope, then the type, before giving up
        let scope = match &p.scope {
            None => Some(Scope::Default),
            Some(s) => {
                let sc = Scope::parse(&s.value);
                if sc.is_none() {
                    self.err(
                        codes::E0301,
                        s.span,
                        format!(
                            "unknown property scope `{}`{} (the scopes are: {})",
                            s.value,
                            synaptic_diag::suggest::did_you_mean(&s.value, PROPERTY_SCOPES),
                            PROPERTY_SCOPES.join(", ")
                        ),
                    );
                }
                sc
            }
        };
        let ty = match &p.ty {
            None => Some(None),
            Some(t) => match PropertyType::parse(&t.value) {
                Some(t) => Some(Some(t)),
                None => {
                    self.err(
                        codes::E0302,
                        t.span,
                        format!(
                            "unknown property type `{}`{} (the types are: {})",
                            t.value,
                            synaptic_diag::suggest::did_you_mean(&t.value, PROPERTY_TYPES),
                            PROPERTY_TYPES.join(", ")
                        ),
                    );
                    None
                }
            },
        };
        let scope_span = p.scope.as_ref().map(|s| s.span).unwrap_or(span);
        let scope = match (scope, ty) {
            (Some(sc), Some(_)) => sc,
            (Some(sc @ (Scope::Env | Scope::File | Scope::Func)), None) => {
                self.err(
                    codes::E0306,
                    scope_span,
                    format!("scope `{}` is read-only", sc.as_str()),
                );
                return None;
            }
            _ => return None,
        };
        let ty = ty?;
        match scope {
            Scope::Env | Scope::File | Scope::Func => {
                self.err(
                    codes::E0306,
                    scope_span,
                    format!("scope `{}` is read-only", scope.as_str()),
                );
                return None;
            }
            Scope::Registry | Scope::System if remove => {
                self.warn(
                    codes::W0301,
                    span,
                    format!(
                        "`action=\"remove\"` has no effect in scope `{}`",
                        scope.as_str()
                    ),
                );
            }
            _ => {}
        }
        let name = if p.name.value.len() > 2
            && p.name.value.starts_with('{')
            && p.name.value.ends_with('}')
        {
            let inner = &p.name.value[1..p.name.value.len() - 1];
            let e = ast::Expr {
                text: inner.to_string(),
                span: p.name.span,
                namespaces: Vec::new(),
            };
            self.dynamic_set = true;
            PropName::Dynamic(self.expr(&e, Dialect::XPath)?)
        } else {
            if matches!(scope, Scope::Default) && !remove {
                self.set_names.insert(p.name.value.clone());
                if ty.is_some_and(|t| t.is_numeric()) {
                    self.numeric_names.insert(p.name.value.clone());
                }
            }
            PropName::Literal(p.name.value.clone())
        };
        if scope == Scope::Transport && !remove {
            if let PropName::Literal(n) = &name {
                if http::HeaderName::from_bytes(n.as_bytes()).is_err() {
                    self.err(
                        codes::E0106,
                        p.name.span,
                        format!("`{n}` is not a valid HTTP header name"),
                    );
                }
            }
        }
        let value = match &p.value {
            _ if remove => ValueSrc::None,
            ast::PropertyValue::Literal(l) => {
                self.placeholder_check(l);
                match convert_literal(&l.value, ty) {
                    Ok(v) => ValueSrc::Literal(v),
                    Err(msg) => {
                        self.err(
                            codes::E0303,
                            l.span,
                            format!("value `{}` does not convert: {msg}", l.value),
                        );
                        return None;
                    }
                }
            }
            ast::PropertyValue::Expression(e) if crate::variable::is_syn(e) => {
                ValueSrc::Syn(crate::variable::compile_syn(e, &mut self.diags)?)
            }
            ast::PropertyValue::Expression(e) => {
                let c = self.expr(e, Dialect::XPath)?;
                let compact: String = e.text.chars().filter(|c| !c.is_whitespace()).collect();
                let never_empty = compact == "get-property('SYSTEM_TIME')"
                    || compact == "get-property(\"SYSTEM_TIME\")";
                if ty.is_some_and(|t| t.is_numeric()) && c.may_be_empty() && !never_empty {
                    self.diags.push(
                        Diagnostic::warning(
                            codes::W0901,
                            e.span,
                            format!(
                                "numeric type {} on a value that can be empty or missing: Synapse faults on an empty value here (e.g. the first run of a registry cache); synaptic leaves the property unset",
                                ty.map(|t| t.as_str()).unwrap_or("")
                            ),
                        ),
                    );
                }
                ValueSrc::Expr(c)
            }
            ast::PropertyValue::Inline(x) => match ty {
                Some(PropertyType::Json) => match serde_json::from_str(&x.value) {
                    Ok(j) => ValueSrc::Literal(Value::Json(j)),
                    Err(_) => {
                        ValueSrc::Literal(Value::Json(serde_json::Value::String(x.value.clone())))
                    }
                },
                _ => ValueSrc::Literal(Value::Xml(x.value.clone())),
            },
            ast::PropertyValue::None => ValueSrc::None,
        };
        let pattern = match (&p.pattern, &p.group) {
            (Some(pat), g) => {
                let re = self.regex(pat)?;
                let group = match g {
                    None => 0,
                    Some(g) => match g.value.trim().parse::<usize>() {
                        Ok(n) => n,
                        Err(_) => {
                            self.err(
                                codes::E0106,
                                g.span,
                                format!("group `{}` is not a number ≥ 0", g.value),
                            );
                            return None;
                        }
                    },
                };
                Some((re, group))
            }
            (None, Some(g)) => {
                self.err(codes::E0105, g.span, "`group` needs a `pattern`");
                return None;
            }
            (None, None) => None,
        };
        Some(PropertyOp {
            name,
            remove,
            scope,
            ty,
            value,
            pattern,
        })
    }

    /// The seed documents' unfilled placeholders.
    fn placeholder_check(&mut self, l: &Spanned<String>) {
        let v = l.value.trim();
        if v.starts_with("{base64encoded(") || v == "{token-endpoint-url}" {
            self.err(
                codes::E0112,
                l.span,
                format!("placeholder `{v}` is not filled in"),
            );
        }
    }

    fn payload_factory(&mut self, p: &ast::PayloadFactory) -> Option<PayloadFactoryOp> {
        let media = match p.media_type {
            ast::MediaType::Xml => MediaType::Xml,
            ast::MediaType::Json => MediaType::Json,
            ast::MediaType::Text => MediaType::Text,
        };
        let format = match &p.format {
            ast::Format::Inline(s) if synaptic_expr::synexpr::has_expressions(&s.value) => {
                FormatSrc::Syn(crate::variable::compile_template(s, &mut self.diags)?)
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

    fn header(&mut self, h: &ast::Header, span: Span) -> Option<HeaderOp> {
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
            ast::PropertyValue::Expression(e) if crate::variable::is_syn(e) => {
                ValueSrc::Syn(crate::variable::compile_syn(e, &mut self.diags)?)
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

    fn endpoint(&mut self, e: &ast::Endpoint) -> Option<EndpointIr> {
        let timeout_ms = e.timeout_ms.as_ref().map(|t| t.value);
        Some(match &e.kind {
            ast::EndpointKind::Http {
                method,
                uri_template,
            } => {
                let method = match method {
                    None => None,
                    Some(m) => {
                        match http::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
                            Ok(m) => Some(m),
                            Err(_) => {
                                self.err(
                                    codes::E0106,
                                    m.span,
                                    format!("`{}` is not an HTTP method", m.value),
                                );
                                return None;
                            }
                        }
                    }
                };
                self.check_template(uri_template)?;
                EndpointIr::Http {
                    method,
                    template: uri_template.value.clone(),
                    timeout_ms,
                }
            }
            ast::EndpointKind::Address { uri } => {
                let u = uri.value.trim();
                if u.starts_with('{') {
                    self.placeholder_check(uri);
                    return None;
                }
                if url::Url::parse(u).is_err() {
                    self.err(codes::E0308, uri.span, format!("`{u}` is not a valid URI"));
                    return None;
                }
                EndpointIr::Address {
                    uri: u.to_string(),
                    timeout_ms,
                }
            }
            ast::EndpointKind::Key(k) => EndpointIr::Key(k.value.clone()),
            ast::EndpointKind::Default => EndpointIr::Default,
            ast::EndpointKind::Unsupported { kind } => {
                self.err(
                    codes::E0108,
                    e.span,
                    format!("`{kind}` endpoints are not supported by synaptic yet"),
                );
                return None;
            }
        })
    }

    fn check_template(&mut self, t: &Spanned<String>) -> Option<()> {
        let exprs = match parse_template(&t.value) {
            Ok(e) => e,
            Err((_, msg)) => {
                self.err(codes::E0308, t.span, msg);
                return None;
            }
        };
        let mut ok = true;
        for e in &exprs {
            let text = &t.value[e.start..e.end];
            if text == "{token-endpoint-url}" || text.starts_with("{base64encoded(") {
                self.err(
                    codes::E0112,
                    t.span,
                    format!("placeholder `{text}` is not filled in"),
                );
                ok = false;
                continue;
            }
            for v in &e.vars {
                if !(v.name.starts_with("uri.var.") || v.name.starts_with("query.param.")) {
                    self.diags.push(
                        Diagnostic::error(
                            codes::E0305,
                            t.span,
                            format!(
                                "`{}` in a uri-template can never be bound (only `uri.var.*` and `query.param.*` are)",
                                text
                            ),
                        )
                        .with_note("an unbound variable expands to nothing"),
                    );
                    ok = false;
                }
            }
        }
        if ok && exprs.first().is_none_or(|e| e.start != 0) {
            let u = t.value.trim();
            let prefix = &u[..exprs
                .first()
                .map(|e| e.start)
                .unwrap_or(u.len())
                .min(u.len())];
            if !(prefix.starts_with("http://") || prefix.starts_with("https://")) {
                self.err(
                    codes::E0308,
                    t.span,
                    format!("`{u}` is not an absolute http(s) URI"),
                );
                ok = false;
            }
        }
        ok.then_some(())
    }

    fn log(&mut self, l: &ast::Log) -> Option<LogOp> {
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
                ast::PropertyValue::Expression(e) if crate::variable::is_syn(e) => {
                    match crate::variable::compile_syn(e, &mut self.diags) {
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
            Some(m) => match crate::variable::compile_template(m, &mut self.diags) {
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

    fn enrich(&mut self, e: &ast::Enrich) -> Option<EnrichOp> {
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
    fn inline_template(
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

    fn enrich_path(&mut self, x: &ast::Expr, target: bool) -> Option<EnrichPath> {
        let what = if target { "target" } else { "source" };
        if crate::variable::is_syn(x) {
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
            return Some(EnrichPath::Syn(crate::variable::compile_syn(
                x,
                &mut self.diags,
            )?));
        }
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

    fn makefault(&mut self, m: &ast::MakeFault) -> Option<MakeFaultOp> {
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

    fn finish_checks(&mut self) {
        // W0201: default-scope reads nothing sets
        if !self.dynamic_set {
            let mut seen = HashSet::new();
            let reads = std::mem::take(&mut self.reads);
            for (name, span) in reads {
                if name.is_empty()
                    || self.set_names.contains(&name)
                    || BUILTIN_DEFAULT_NAMES.contains(&name.as_str())
                    || BUILTIN_DEFAULT_PREFIXES.iter().any(|p| name.starts_with(p))
                {
                    continue;
                }
                if seen.insert((name.clone(), span.start, span.source)) {
                    self.warn(
                        codes::W0201,
                        span,
                        format!("property `{name}` is read but no property mediator sets it"),
                    );
                }
            }
        }
        // W0902: numeric use of numerically typed properties
        let uses = std::mem::take(&mut self.numeric_uses);
        for (name, span) in uses {
            if self.numeric_names.contains(&name) {
                self.warn(
                    codes::W0902,
                    span,
                    format!(
                        "arithmetic or a numeric comparison on `{name}`, which is set with a numeric type: NaN in Synapse; a number in synaptic"
                    ),
                );
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

/// Every Synapse Expression (`${…}`) of an op (not descending into blocks).
pub(crate) fn syn_exprs(op: &Op) -> Vec<&synaptic_expr::synexpr::SynExpr> {
    fn value(v: &ValueSrc) -> Option<&synaptic_expr::synexpr::SynExpr> {
        match v {
            ValueSrc::Syn(e) => Some(e),
            _ => None,
        }
    }
    let mut out = Vec::new();
    match op {
        Op::Property(p) => out.extend(value(&p.value)),
        Op::Header(h) => out.extend(value(&h.value)),
        Op::Log(l) => {
            out.extend(l.props.iter().filter_map(|(_, v)| value(v)));
            out.extend(l.message.iter().flat_map(|m| m.expressions()));
        }
        Op::MakeFault(m) => out.extend(m.reason.as_ref().and_then(value)),
        Op::Filter {
            cond: Cond::Syn(e), ..
        } => out.push(e),
        Op::Filter {
            cond: Cond::Regex { source, .. },
            ..
        } => out.extend(value(source)),
        Op::Switch(sw) => out.extend(value(&sw.source)),
        Op::Enrich(e) => {
            if let EnrichSrc::Custom(EnrichPath::Syn(x)) = &e.source {
                out.push(x);
            }
        }
        Op::PayloadFactory(p) => {
            if let FormatSrc::Syn(t) = &p.format {
                out.extend(t.expressions());
            }
        }
        Op::Variable(v) => {
            if let crate::variable::VarSrc::Syn(e) = &v.value {
                out.push(e);
            }
        }
        Op::Validate(v) => out.extend(v.source_syn()),
        _ => {}
    }
    out
}

/// Every expression of an op (not descending into blocks).
pub(crate) fn visit_exprs(op: &Op, f: &mut dyn FnMut(&CompiledExpr)) {
    let value = |v: &ValueSrc, f: &mut dyn FnMut(&CompiledExpr)| {
        if let ValueSrc::Expr(e) = v {
            f(e)
        }
    };
    match op {
        Op::Property(p) => {
            if let PropName::Dynamic(e) = &p.name {
                f(e);
            }
            value(&p.value, f);
        }
        Op::Filter { cond, .. } => match cond {
            Cond::XPath(e) => f(e),
            Cond::Regex { source, .. } => value(source, f),
            Cond::Syn(_) => {}
        },
        Op::Variable(v) => {
            if let crate::variable::VarSrc::XPath(e) = &v.value {
                f(e);
            }
        }
        Op::PayloadFactory(p) => {
            for a in &p.args {
                if let ArgSrc::Expr { expr, .. } = &a.src {
                    f(expr);
                }
            }
        }
        Op::Header(h) => value(&h.value, f),
        Op::Log(l) => {
            for (_, v) in &l.props {
                value(v, f);
            }
        }
        Op::Switch(s) => value(&s.source, f),
        Op::Enrich(e) => {
            if let EnrichSrc::InlineTemplate(parts) = &e.source {
                for part in parts {
                    if let TemplatePart::Expr { expr, .. } = part {
                        f(expr);
                    }
                }
            }
            let mut path = |p: &EnrichPath| match p {
                EnrichPath::Value(c) | EnrichPath::JsonValue(c) => f(c),
                EnrichPath::Nodes(_) | EnrichPath::Json(_) | EnrichPath::Syn(_) => {}
            };
            if let EnrichSrc::Custom(p) = &e.source {
                path(p);
            }
            if let EnrichTgt::Custom(p) = &e.target {
                path(p);
            }
        }
        Op::MakeFault(m) => {
            if let Some(FaultCodeSrc::Expr(c)) = &m.code {
                f(c);
            }
            if let Some(r) = &m.reason {
                value(r, f);
            }
            if let Some(FaultDetailSrc::Expr(c)) = &m.detail {
                f(c);
            }
        }
        Op::Validate(v) => {
            if let Some(c) = v.source_expr() {
                f(c);
            }
        }
        Op::Call(_)
        | Op::Send(_)
        | Op::Respond
        | Op::Drop
        | Op::Loopback
        | Op::Sequence(_)
        | Op::ExternalSequence(_)
        | Op::Direction { .. } => {}
    }
}
