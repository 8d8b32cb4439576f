//! The compile context: what every mediator's compilation reads and reports into (diagnostics,
//! sequence names, local entries, the properties set and read anywhere, for the program-wide
//! checks), and the helpers mediators share: expressions, regular expressions, sequence
//! references, endpoints, documentation placeholders.

use crate::endpoint_state::{EndpointState, SuspendPolicy};
use crate::ir::{EndpointIr, Group, GroupKind, SeqId, Tracked};
use crate::uri::parse_template;
use crate::CompileOptions;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use synaptic_diag::{codes, Diagnostic, Span, Spanned};
use synaptic_expr::{CompiledExpr, Dialect, Scope};
use synaptic_syntax::ast;

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
    "OperationNamespace",
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

/// A sequence template as `call-template` sees it.
#[derive(Clone, Debug)]
pub(crate) struct TemplateDecl {
    /// The anonymous sequence of its body.
    pub sequence: String,
    pub params: Vec<ast::TemplateParam>,
}

/// An endpoint `<template>`: its parameters and its `<endpoint>` as XML, `$parameter`s in place.
pub(crate) struct EndpointTemplate {
    pub params: Vec<ast::TemplateParam>,
    pub xml: String,
}

pub(crate) struct Compiler<'a> {
    pub(crate) opts: &'a CompileOptions,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) seq_by_name: HashMap<String, SeqId>,
    /// default-scope property names set anywhere (literal names)
    pub(crate) set_names: HashSet<String>,
    pub(crate) dynamic_set: bool,
    /// default-scope names set with a numeric type
    pub(crate) numeric_names: HashSet<String>,
    /// (name, span) default-scope reads, checked after everything is compiled
    pub(crate) reads: Vec<(String, Span)>,
    /// (name, span) of operands used numerically
    pub(crate) numeric_uses: Vec<(String, Span)>,
    /// The states of named endpoints (and of the children of named groups), for metrics.
    pub(crate) endpoint_states: Vec<Arc<EndpointState>>,
    /// Every `<loadbalance>` over `<member>`s (their inactive members are probed).
    pub(crate) member_groups: Vec<Arc<crate::members::Members>>,
    /// Some endpoint is named by a key (static or computed), which may be a registry
    /// resource: a `<loadbalance>` read from the registry may take members out.
    pub(crate) endpoint_keys: bool,
    /// Sequence templates by name (`call-template`).
    pub(crate) templates: HashMap<String, TemplateDecl>,
    /// `<localEntry>` texts by key
    pub(crate) local_entries: HashMap<String, String>,
    /// The keys of the local entries that hold XML (the others hold text).
    pub(crate) local_xml: HashSet<String>,
    /// Message stores by name (`<store>` and the processors name them).
    pub(crate) stores: HashMap<String, crate::store::StoreDef>,
    /// Endpoint templates by name (`<endpoint template>`).
    pub(crate) endpoint_templates: HashMap<String, EndpointTemplate>,
    /// Template endpoints being expanded (a template that instantiates itself stops here).
    pub(crate) expanding: u32,
    /// The data sources of `<dblookup>`/`<dbreport>`, one per distinct `<pool>`.
    pub(crate) data_sources: Vec<Arc<crate::db::DataSourceDef>>,
    /// The sequences Synapse-form `<foreach sequence="key">`s run, checked once compiled.
    pub(crate) foreach_refs: Vec<(SeqId, Span)>,
    /// How many sequences the artifacts define (the ids past it are the stand-ins below).
    pub(crate) seq_count: usize,
    /// Stand-ins for the sequences references name but no artifact defines: Synapse looks a
    /// sequence up when a message reaches the reference, so each runs what Synapse does then.
    pub(crate) unresolved: Vec<(String, Unresolved, Span)>,
    /// The sequence whose body is being compiled (a proxy's target names its in-sequence).
    pub(crate) current_seq: String,
}

/// What a reference to a sequence no artifact defines does when a message reaches it, as
/// Synapse's lookup at that point does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Unresolved {
    /// `handleException`: a fault with this `ERROR_MESSAGE`, handled like any other.
    Fault(String),
    /// Logged as a warning, and the message goes no further (a `<send receive>` sequence).
    Drop(String),
    /// A sequence template no artifact defines: a fault with this `ERROR_MESSAGE` (a registry
    /// sequence of that key is no template).
    Template(String),
    /// An `onError`: a handler only when the registry holds the key (the run loop passes a
    /// fault on to the next handler otherwise, as Synapse pushes no handler then).
    Handler(String),
    /// A `faultSequence`: Synapse's `fault` sequence runs in its place.
    FaultFlow(String),
    /// A `<store sequence>`: the message is stored without it.
    Skip(String),
}

impl Unresolved {
    /// The `ERROR_MESSAGE` of a fault here (the message of the fault a registry resource of
    /// that key that is no valid sequence gives, its reason in `ERROR_DETAIL`).
    pub(crate) fn message(&self) -> &str {
        match self {
            Unresolved::Fault(m)
            | Unresolved::Drop(m)
            | Unresolved::Template(m)
            | Unresolved::Handler(m)
            | Unresolved::FaultFlow(m)
            | Unresolved::Skip(m) => m,
        }
    }
}

impl Compiler<'_> {
    pub(crate) fn err(&mut self, code: synaptic_diag::Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(code, span, msg));
    }
    pub(crate) fn warn(&mut self, code: synaptic_diag::Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::warning(code, span, msg));
    }

    /// A sequence reference that must resolve now (message processors' sequences): E0304.
    pub(crate) fn resolve_seq(&mut self, name: &Spanned<String>) -> Option<SeqId> {
        match self.seq_by_name.get(&name.value) {
            Some(id) => Some(*id),
            None => {
                if !self.is_external(&name.value) {
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

    fn is_external(&self, name: &str) -> bool {
        self.opts.external_sequences.iter().any(|n| n == name)
    }

    /// Whether `name` is a sequence or template of an artifact left out of the program
    /// because it does not compile: its referrers are left out too.
    pub(crate) fn is_unavailable(&self, name: &str) -> bool {
        self.opts.unavailable.iter().any(|n| n == name)
    }

    /// E0304 for a reference to a sequence whose artifact does not compile.
    pub(crate) fn unavailable_seq(&mut self, name: &Spanned<String>) {
        self.diags.push(
            Diagnostic::error(
                codes::E0304,
                name.span,
                format!(
                    "sequence `{}` is not deployed: the artifact that defines it has errors",
                    name.value
                ),
            )
            .with_note("fix that artifact; this one is deployed with it"),
        );
    }

    /// A sequence reference Synapse resolves when a message reaches it (`<sequence key>`,
    /// EIP targets, `receive`, `onAccept`, …): a sequence of the program, or, when no artifact
    /// defines the name, a stand-in that does what Synapse does then (`on_missing`), with a
    /// W0304 warning. A name whose artifact does not compile is E0304.
    pub(crate) fn resolve_seq_lazy(
        &mut self,
        name: &Spanned<String>,
        on_missing: Unresolved,
    ) -> Option<SeqId> {
        if let Some(id) = self.seq_by_name.get(&name.value) {
            return Some(*id);
        }
        if self.is_external(&name.value) {
            return None;
        }
        if self.is_unavailable(&name.value) {
            self.unavailable_seq(name);
            return None;
        }
        self.warn_unresolved(name, &on_missing);
        Some(self.stand_in(name, on_missing))
    }

    /// W0304 at a reference no artifact defines.
    pub(crate) fn warn_unresolved(&mut self, name: &Spanned<String>, on_missing: &Unresolved) {
        let registry = "a registry resource of that key holding a sequence runs";
        let then = match on_missing {
            Unresolved::Template(m) => format!("a message that gets here faults (`{m}`)"),
            Unresolved::Fault(m) => format!("{registry}, else the message faults (`{m}`)"),
            Unresolved::Drop(_) => {
                format!("{registry}, else a response that gets here is logged and goes no further")
            }
            Unresolved::Handler(_) => format!(
                "{registry} as the error handler, else the sequence runs without one (its \
                 faults go to the handler in force around it)"
            ),
            Unresolved::FaultFlow(_) => {
                format!("{registry} on a fault, else the `fault` sequence handles the faults here")
            }
            Unresolved::Skip(_) => {
                format!("{registry} before the message is stored, else the message is stored without it")
            }
        };
        self.diags.push(
            Diagnostic::warning(
                codes::W0304,
                name.span,
                format!(
                    "no sequence named `{}` is deployed; Synapse looks it up when a message \
                     gets here: {then}",
                    name.value
                ),
            )
            .with_note(
                "deploy the sequence (hot reload picks it up), add it to the registry \
                 (`[server] registry`), or fix the name",
            ),
        );
    }

    /// The id of the stand-in for `name` with this behaviour (one per pair).
    /// (Its faults point at the first reference.)
    pub(crate) fn stand_in(&mut self, name: &Spanned<String>, on_missing: Unresolved) -> SeqId {
        let i = match self
            .unresolved
            .iter()
            .position(|(n, u, _)| *n == name.value && *u == on_missing)
        {
            Some(i) => i,
            None => {
                self.unresolved
                    .push((name.value.clone(), on_missing, name.span));
                self.unresolved.len() - 1
            }
        };
        (self.seq_count + i) as SeqId
    }

    /// An `onError` sequence: when no artifact defines it, Synapse's lookup when the sequence
    /// starts falls back to the registry; a registry resource of that key holding a sequence
    /// handles the sequence's faults, else the sequence runs without an error handler (W0304).
    pub(crate) fn resolve_on_error(&mut self, name: &Spanned<String>) -> Option<SeqId> {
        let message = format!(
            "onError handler : {} for sequence : {} cannot be found",
            name.value, self.current_seq
        );
        self.resolve_seq_lazy(name, Unresolved::Handler(message))
    }

    pub(crate) fn expr(&mut self, e: &ast::Expr, dialect: Dialect) -> Option<CompiledExpr> {
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

    /// The warnings of a JSONPath read here rather than through [`Compiler::expr`] (W0210: a
    /// last character Jayway never reads).
    pub(crate) fn jsonpath_warnings(&mut self, e: &ast::Expr) {
        self.diags
            .extend(synaptic_expr::jsonpath_warnings(&e.text, e.span));
    }

    pub(crate) fn regex(&mut self, r: &Spanned<String>) -> Option<regex::Regex> {
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

    /// The placeholders WSO2's documentation prints in its `simple-token-gen` sequence, left unfilled.
    pub(crate) fn placeholder_check(&mut self, l: &Spanned<String>) {
        let v = l.value.trim();
        if v.starts_with("{base64encoded(") || v == "{token-endpoint-url}" {
            self.err(
                codes::E0112,
                l.span,
                format!("placeholder `{v}` is not filled in"),
            );
        }
    }

    pub(crate) fn endpoint(&mut self, e: &ast::Endpoint) -> Option<EndpointIr> {
        self.endpoint_in(e, None)
    }

    /// An endpoint; `group` names the group it is a child of (its children keep a state,
    /// named `group/index` when they have no name of their own).
    fn endpoint_in(
        &mut self,
        e: &ast::Endpoint,
        group: Option<(&str, usize)>,
    ) -> Option<EndpointIr> {
        if let ast::EndpointKind::Template {
            target,
            uri,
            params,
        } = &e.kind
        {
            let expanded = self.expand_template(e, target, uri.as_ref(), params)?;
            self.expanding += 1;
            let ir = self.endpoint_in(&expanded, group);
            self.expanding -= 1;
            return ir;
        }
        let name = match (&e.name, group) {
            (Some(n), _) => Some(n.value.clone()),
            (None, Some((g, i))) => Some(format!("{g}/{i}")),
            (None, None) => None,
        };
        if let ast::EndpointKind::DynamicRecipientList { value, span } = &e.kind {
            let value = match value {
                ast::PropertyValue::Expression(x) => {
                    crate::ir::ValueSrc::Expr(self.expr(x, synaptic_expr::Dialect::XPath)?)
                }
                ast::PropertyValue::Literal(l) => {
                    for u in l.value.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                        if url::Url::parse(u).is_err() {
                            self.err(codes::E0308, *span, format!("`{u}` is not a valid URI"));
                            return None;
                        }
                    }
                    crate::ir::ValueSrc::Literal(synaptic_expr::Value::String(l.value.clone()))
                }
                _ => return None,
            };
            return Some(EndpointIr::Recipients(Arc::new(crate::ir::Recipients {
                name: name.unwrap_or_else(|| "anonymous".to_string()),
                value,
            })));
        }
        if let ast::EndpointKind::MemberLoadbalance { members, failover } = &e.kind {
            let group = Arc::new(crate::members::Members::new(
                name.unwrap_or_else(|| "anonymous".to_string()),
                self.members(members)?,
                *failover,
            ));
            self.member_groups.push(group.clone());
            return Some(EndpointIr::Members(group));
        }
        if let ast::EndpointKind::MemberRecipientList { members } = &e.kind {
            // every member gets a copy; none is taken out, as Synapse's recipient list builds
            // a fresh address endpoint per member and message
            return Some(EndpointIr::MemberRecipients(Arc::new(
                crate::members::Members::new(
                    name.unwrap_or_else(|| "anonymous".to_string()),
                    self.members(members)?,
                    false,
                ),
            )));
        }
        if let Some(kind) = match &e.kind {
            ast::EndpointKind::Failover { dynamic, .. } => {
                Some(GroupKind::Failover { dynamic: *dynamic })
            }
            ast::EndpointKind::Loadbalance { failover, .. } => Some(GroupKind::Loadbalance {
                failover: *failover,
            }),
            ast::EndpointKind::RecipientList { .. } => Some(GroupKind::RecipientList),
            _ => None,
        } {
            let (ast::EndpointKind::Failover { children, .. }
            | ast::EndpointKind::Loadbalance { children, .. }
            | ast::EndpointKind::RecipientList { children }) = &e.kind
            else {
                return None;
            };
            let gname = name.unwrap_or_else(|| "anonymous".to_string());
            let mut out = Vec::with_capacity(children.len());
            let mut ok = true;
            for (i, c) in children.iter().enumerate() {
                match self.endpoint_in(c, Some((&gname, i))) {
                    Some(ir) => out.push(ir),
                    None => ok = false,
                }
            }
            if !ok || out.is_empty() {
                return None;
            }
            return Some(EndpointIr::Group(Arc::new(Group {
                name: gname,
                kind,
                children: out,
                cursor: AtomicUsize::new(0),
            })));
        }
        let leaf = self.leaf_endpoint(e)?;
        let tracked = group.is_some() || e.qos.configured;
        // a key expression keeps no state: the endpoint it names keeps its own, as in Synapse
        if !tracked || matches!(leaf, EndpointIr::Key(_) | EndpointIr::KeyExpr(_)) {
            return Some(leaf);
        }
        let state = Arc::new(EndpointState::new(
            name.clone().unwrap_or_else(|| "anonymous".to_string()),
            SuspendPolicy::from_qos(&e.qos),
        ));
        if name.is_some() && !state.name.starts_with("anonymous") {
            self.endpoint_states.push(state.clone());
        }
        Some(EndpointIr::Tracked(Arc::new(Tracked {
            leaf,
            state,
            discard_on_timeout: e.qos.discard_on_timeout,
        })))
    }

    /// A deploy-time parameter (`$SYSTEM:NAME`, `$FILE:KEY`, `${configs.NAME}`) as the value
    /// of an attribute Synapse resolves when the artifact is deployed (see
    /// [`crate::deploy_param`]). A value that is none of them is [`Deploy::Literal`]; one with
    /// no value is E0403 (`None`), as Synapse refuses to deploy the artifact.
    pub(crate) fn deploy_param(&mut self, v: &Spanned<String>) -> Option<Deploy> {
        let p = match crate::deploy_param(&v.value) {
            None => return Some(Deploy::Literal),
            Some(Ok(p)) => p,
            Some(Err(why)) => {
                self.err(codes::E0403, v.span, why);
                return None;
            }
        };
        if !p.rest.is_empty() {
            self.diags.push(
                Diagnostic::warning(
                    codes::W0403,
                    v.span,
                    format!(
                        "only `{}` is read: `{}` after it is dropped, as Synapse does",
                        p.written, p.rest
                    ),
                )
                .with_note("a deploy-time parameter is the attribute's whole value"),
            );
        }
        let Some(host) = &self.opts.deploy else {
            return Some(Deploy::Deferred);
        };
        match p.resolve(&*host.0) {
            Ok(value) => Some(Deploy::Resolved(value)),
            Err(why) => {
                self.err(codes::E0403, v.span, why);
                None
            }
        }
    }

    fn leaf_endpoint(&mut self, e: &ast::Endpoint) -> Option<EndpointIr> {
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
                let template = match self.deploy_param(uri_template)? {
                    Deploy::Literal => {
                        self.check_template(uri_template)?;
                        uri_template.value.clone()
                    }
                    Deploy::Resolved(v) => {
                        self.check_template(&Spanned {
                            value: v.clone(),
                            span: uri_template.span,
                        })?;
                        v
                    }
                    Deploy::Deferred => uri_template.value.clone(),
                };
                EndpointIr::Http {
                    method,
                    template,
                    timeout_ms,
                }
            }
            ast::EndpointKind::Address { uri } => {
                let resolved = match self.deploy_param(uri)? {
                    Deploy::Literal => None,
                    Deploy::Resolved(v) => Some(v),
                    Deploy::Deferred => {
                        return Some(EndpointIr::Address {
                            uri: uri.value.trim().to_string(),
                            timeout_ms,
                            format: None,
                        })
                    }
                };
                let u = resolved.as_deref().unwrap_or(&uri.value).trim();
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
                    format: None,
                }
            }
            ast::EndpointKind::Wsdl(w) => {
                let port = match self.wsdl_port(w)? {
                    WsdlTarget::Port(p) => p,
                    // a deploy-time parameter, left for deployment (lint)
                    WsdlTarget::Deferred(written) => {
                        return Some(EndpointIr::Address {
                            uri: written,
                            timeout_ms,
                            format: None,
                        })
                    }
                };
                if url::Url::parse(&port.address).is_err() {
                    let span = w
                        .uri
                        .as_ref()
                        .or(w.inline.as_ref())
                        .map(|u| u.span)
                        .unwrap_or(w.port.span);
                    self.err(
                        codes::E0122,
                        span,
                        format!(
                            "the address `{}` of port `{}` is not a valid URI",
                            port.address, w.port.value
                        ),
                    );
                    return None;
                }
                EndpointIr::Address {
                    uri: port.address,
                    timeout_ms,
                    format: Some(port.format),
                }
            }
            ast::EndpointKind::Key(k) => {
                self.endpoint_keys = true;
                EndpointIr::Key(k.value.clone())
            }
            ast::EndpointKind::KeyExpression(x) => {
                self.endpoint_keys = true;
                EndpointIr::KeyExpr(Arc::new(self.key_expression(x)?))
            }
            ast::EndpointKind::Default => EndpointIr::Default,
            ast::EndpointKind::Unsupported { kind } => {
                self.err(
                    codes::E0108,
                    e.span,
                    format!("`{kind}` endpoints are not supported by synaptic yet"),
                );
                return None;
            }
            // expanded by `endpoint_in` before a leaf is compiled
            ast::EndpointKind::Template { .. } => return None,
            ast::EndpointKind::Failover { .. }
            | ast::EndpointKind::Loadbalance { .. }
            | ast::EndpointKind::MemberLoadbalance { .. }
            | ast::EndpointKind::MemberRecipientList { .. }
            | ast::EndpointKind::RecipientList { .. }
            | ast::EndpointKind::DynamicRecipientList { .. } => return None,
        })
    }

    /// A `key-expression`: Synapse compiles it as an XPath alone, where `json-eval(…)` and a
    /// Synapse Expression (`${…}`) are syntax errors (E0201).
    fn key_expression(&mut self, x: &ast::Expr) -> Option<synaptic_expr::CompiledExpr> {
        let t = x.text.trim_start();
        if t.starts_with("json-eval(") || t.starts_with("${") {
            self.err(
                codes::E0201,
                x.span,
                "a key-expression is an XPath: Synapse compiles it as XPath only, where \
                 json-eval(…) and ${…} are syntax errors",
            );
            return None;
        }
        self.expr(x, synaptic_expr::Dialect::XPath)
    }

    /// A value Synapse resolves when it deploys the artifact: the value itself, or the
    /// deploy-time parameter's value (`None`: E0403 reported; `Some(None)`: left for
    /// deployment, as `synaptic lint` compiles without values).
    pub(crate) fn deployed(&mut self, v: &Spanned<String>) -> Option<Option<Spanned<String>>> {
        Some(match self.deploy_param(v)? {
            Deploy::Literal => Some(v.clone()),
            Deploy::Resolved(value) => Some(Spanned::new(value, v.span)),
            Deploy::Deferred => None,
        })
    }

    /// A group's `<member>`s, their `hostName` and ports resolved when they are deploy-time
    /// parameters, as Synapse's resolver gives them.
    fn members(&mut self, members: &[ast::Member]) -> Option<Vec<crate::members::Member>> {
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let host = match self.deployed(&m.host)? {
                Some(v) => v.value,
                None => m.host.value.clone(),
            };
            let http_port = self.member_port(m.http_port.as_ref(), "httpPort")?;
            let https_port = self.member_port(m.https_port.as_ref(), "httpsPort")?;
            out.push(crate::members::Member::new(host, http_port, https_port));
        }
        Some(out)
    }

    /// A `<member>`'s `httpPort` / `httpsPort`: a number, or a deploy-time parameter resolved
    /// (E0403 when it has no value) whose value must be a port (E0121); an empty `httpsPort`
    /// is none, as Synapse skips it. `Some(None)`: no port (or one left for deployment, lint).
    fn member_port(&mut self, port: Option<&Spanned<String>>, attr: &str) -> Option<Option<u16>> {
        let Some(port) = port else {
            return Some(None);
        };
        let Some(v) = self.deployed(port)? else {
            return Some(None);
        };
        let t = v.value.trim();
        if t.is_empty() && attr == "httpsPort" {
            return Some(None);
        }
        match synaptic_syntax::members::port_number(t) {
            Some(p) => Some(Some(p)),
            None => {
                self.err(
                    codes::E0121,
                    port.span,
                    format!(
                        "{attr}=\"{}\" is `{t}`, which is not a port number",
                        port.value
                    ),
                );
                None
            }
        }
    }

    /// The servers `p` is pinned to when its `pinnedServers` (deploy-time parameters
    /// resolved, as `ProxyServiceFactory` resolves them) does not name this server
    /// ([`CompileOptions::server_name`]): Synapse does not deploy it here. `None` when it is
    /// deployed (not pinned, pinned here, no server name given, or a parameter left for
    /// deployment; one without a value is reported, E0403, and the proxy is not deployed).
    pub(crate) fn pinned_elsewhere(&mut self, p: &ast::Proxy) -> Option<Vec<String>> {
        let v = p.pinned_servers.as_ref()?;
        let server = self.opts.server_name.clone()?;
        let servers = match self.deployed(v) {
            Some(Some(v)) => crate::pinned_servers(&v.value),
            // left for deployment, or without a value (E0403: the file is not deployed)
            _ => return None,
        };
        // an empty list pins nothing, as in Synapse
        (!servers.is_empty() && !servers.contains(&server)).then_some(servers)
    }

    /// The port a `<wsdl>` endpoint names, in its inline document or in the one its `uri`
    /// names (read through the host's [`crate::WsdlReader`]), with the documents they import.
    /// `service`, `port` and `uri` take deploy-time parameters, as Micro Integrator's
    /// `WSDLEndpointFactory` resolves them.
    fn wsdl_port(&mut self, w: &ast::WsdlEndpoint) -> Option<WsdlTarget> {
        let service = self.deployed(&w.service);
        let port = self.deployed(&w.port);
        let uri = w.uri.as_ref().map(|u| self.deployed(u));
        // a parameter without a value was reported (E0403)
        let (Some(service), Some(port)) = (service, port) else {
            return None;
        };
        let uri = match uri {
            None => None,
            Some(None) => return None,
            Some(Some(u)) => Some(u),
        };
        // each is `None` when left for deployment
        let (service, port, uri) = match (service, port, uri) {
            (Some(s), Some(p), None) => (s, p, None),
            (Some(s), Some(p), Some(Some(u))) => (s, p, Some(u)),
            _ => {
                let written = w.uri.as_ref().unwrap_or(&w.service).value.trim();
                return Some(WsdlTarget::Deferred(written.to_string()));
            }
        };
        let reader = self.opts.wsdl.clone();
        let (root_id, root_text, shown) = match (&uri, &w.inline) {
            (Some(uri), _) => {
                let u = uri.value.trim();
                let why = if u.starts_with('$') && self.expanding > 0 {
                    Some(format!(
                        "`{u}` is a parameter of the template with no value here: a WSDL is read \
                         when the project is loaded, so the template instance must name it \
                         (uri=\"…\" or <parameter name=\"…\" value=\"…\"/>)"
                    ))
                } else if u.starts_with('{') {
                    Some(format!(
                        "`{u}` is evaluated per message, but a WSDL is read when the project is \
                         loaded: name the file (or a deploy-time parameter holding its name)"
                    ))
                } else if reader.is_none() {
                    Some(format!(
                        "the WSDL `{u}` is not read here (no project folder)"
                    ))
                } else {
                    None
                };
                if let Some(why) = why {
                    self.err(codes::E0122, uri.span, why);
                    return None;
                }
                let reader = reader.as_ref()?;
                // an http(s) document is fetched by a serving host; `lint`, which fetches
                // nothing, leaves it for deployment
                if crate::publish_schemas::is_http(u) && self.lints_only(reader) {
                    return Some(WsdlTarget::Deferred(u.to_string()));
                }
                match reader.0.read(u, None) {
                    Ok(t) => (
                        Some(t.id),
                        t.text,
                        Some(crate::redact::url_passwords_masked(u)),
                    ),
                    Err(why) => {
                        let why = crate::redact::url_passwords_masked(&why);
                        self.err(codes::E0122, uri.span, why);
                        return None;
                    }
                }
            }
            (None, Some(inline)) => (None, Arc::from(inline.value.as_str()), None),
            // without either the parser reported the endpoint already
            (None, None) => return None,
        };
        let doc_span = uri
            .as_ref()
            .or(w.inline.as_ref())
            .map(|u| u.span)
            .unwrap_or(w.port.span);
        let lints_only = reader.as_ref().is_some_and(|r| self.lints_only(r));
        // an http(s) import `lint` leaves for deployment
        let mut left: Option<String> = None;
        let mut read = |location: &str, from: Option<&str>| match &reader {
            Some(_) if lints_only && crate::publish_schemas::is_http(location) => {
                left = Some(location.to_string());
                Err("fetched when deployed".to_string())
            }
            Some(r) => r.0.read(location, from),
            None => Err(format!("`{location}` is not read here (no project folder)")),
        };
        let resolved = synaptic_syntax::wsdl::resolve_port(
            root_id.as_deref(),
            &root_text,
            &service.value,
            &port.value,
            &mut read,
        );
        match resolved {
            Ok(p) => Some(WsdlTarget::Port(p)),
            Err(_) if left.is_some() => {
                // the endpoint's uri, or (an inline document) the import left for deployment
                let written = w.uri.as_ref().map(|u| u.value.trim().to_string());
                Some(WsdlTarget::Deferred(written.or(left).unwrap_or_default()))
            }
            Err(problem) => {
                let span = match &problem {
                    synaptic_syntax::wsdl::WsdlProblem::Service(_) => service.span,
                    synaptic_syntax::wsdl::WsdlProblem::Port(_) => port.span,
                    synaptic_syntax::wsdl::WsdlProblem::Document(_) => doc_span,
                };
                let message = crate::redact::url_passwords_masked(&match &shown {
                    Some(u) => format!("{problem} (in `{u}`)"),
                    None => problem.to_string(),
                });
                self.err(codes::E0122, span, message);
                None
            }
        }
    }

    /// Whether this compile is `synaptic lint`'s: a host that fetches nothing and no
    /// deploy-time values. Such a compile leaves an `http(s)` WSDL for deployment, where a
    /// host that runs without serving (`synaptic run`, `synaptic test`) cannot resolve it.
    fn lints_only(&self, reader: &crate::WsdlSource) -> bool {
        !reader.0.fetches() && self.opts.deploy.is_none()
    }

    /// The endpoint an `<endpoint template="T" [name] [uri]>` stands for: T's `<endpoint>`
    /// with `$name`, `$uri` and each `$parameter` replaced by the instance's values (a
    /// parameter's `defaultValue` when the instance gives none), named as the instance.
    fn expand_template(
        &mut self,
        e: &ast::Endpoint,
        target: &Spanned<String>,
        uri: Option<&Spanned<String>>,
        given: &[(Spanned<String>, Spanned<String>)],
    ) -> Option<ast::Endpoint> {
        // the instance's attributes and parameter values take deploy-time parameters, as
        // Micro Integrator's `TemplateEndpointFactory` resolves them
        if self.opts.deploy.is_none() && crate::deploy_param(&target.value).is_some() {
            // lint: which template is known only when deployed; an address left for
            // deployment stands in for it
            return Some(ast::Endpoint {
                span: e.span,
                name: e.name.clone(),
                kind: ast::EndpointKind::Address {
                    uri: target.clone(),
                },
                timeout_ms: None,
                qos: ast::EndpointQos::default(),
            });
        }
        let target = &self.instance_value(target)?;
        let name = match &e.name {
            Some(n) => Some(self.instance_value(n)?),
            None => None,
        };
        let uri = match uri {
            Some(u) => Some(self.instance_value(u)?),
            None => None,
        };
        let mut resolved = Vec::with_capacity(given.len());
        for (n, v) in given {
            resolved.push((n.clone(), self.instance_value(v)?));
        }
        let given = &resolved[..];
        if self.expanding >= 8 {
            self.err(
                codes::E0340,
                target.span,
                format!(
                    "template `{}` instantiates templates more than 8 deep (a template that \
                     names itself?)",
                    target.value
                ),
            );
            return None;
        }
        let Some(t) = self.endpoint_templates.get(&target.value) else {
            let other = if self.templates.contains_key(&target.value) {
                " (it is a sequence template: call it with <call-template>)"
            } else {
                ""
            };
            self.err(
                codes::E0340,
                target.span,
                format!("no endpoint template named `{}`{other}", target.value),
            );
            return None;
        };
        let mut values: Vec<(String, String)> = Vec::new();
        if let Some(n) = &name {
            values.push(("name".into(), n.value.clone()));
        }
        if let Some(u) = uri {
            values.push(("uri".into(), u.value.clone()));
        }
        for (n, v) in given {
            values.push((n.value.clone(), v.value.clone()));
        }
        let mut missing = Vec::new();
        let mut unknown = Vec::new();
        for p in &t.params {
            if values.iter().any(|(n, _)| *n == p.name.value) {
                continue;
            }
            match &p.default {
                Some(d) => values.push((p.name.value.clone(), d.value.clone())),
                None if p.mandatory || p.name.value == "uri" => missing.push(p.name.value.clone()),
                None => {}
            }
        }
        for (n, _) in given {
            if !t.params.iter().any(|p| p.name.value == n.value) {
                unknown.push(n.clone());
            }
        }
        // longer names first: `$uriPath` is not `$uri` followed by `Path`
        values.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
        let mut xml = t.xml.clone();
        for (n, v) in &values {
            xml = xml.replace(&format!("${n}"), &xml_escape(v));
        }
        for n in unknown {
            self.warn(
                codes::W0341,
                n.span,
                format!(
                    "template `{}` declares no parameter `{}`: nothing in it reads the value",
                    target.value, n.value
                ),
            );
        }
        if !missing.is_empty() {
            self.err(
                codes::E0341,
                e.span,
                format!(
                    "template `{}` needs {}",
                    target.value,
                    missing
                        .iter()
                        .map(|m| format!("`{m}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return None;
        }
        // the instance is parsed from the replaced text; what it says is reported at the
        // instance, which is where it can be fixed
        let parsed = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(u32::MAX), &xml);
        let here = |m: &str| format!("template `{}` instantiated here: {m}", target.value);
        for d in &parsed.diagnostics {
            let mut d = d.clone();
            d.message = here(&d.message);
            d.labels.iter_mut().for_each(|l| l.span = e.span);
            self.diags.push(d);
        }
        if parsed.diagnostics.iter().any(|d| d.is_error()) {
            return None;
        }
        let mut body = parsed.tree.endpoints.into_iter().next()?;
        respan_endpoint(&mut body, e.span);
        body.name = name;
        Some(body)
    }

    /// An attribute or parameter value of a template instance, its deploy-time parameter
    /// resolved when the host's values are there (else as written: the template's own
    /// attributes resolve what they take, or are left for deployment).
    fn instance_value(&mut self, v: &Spanned<String>) -> Option<Spanned<String>> {
        if self.opts.deploy.is_none() {
            return Some(v.clone());
        }
        Some(match self.deploy_param(v)? {
            Deploy::Resolved(value) => Spanned::new(value, v.span),
            Deploy::Literal | Deploy::Deferred => v.clone(),
        })
    }

    pub(crate) fn check_template(&mut self, t: &Spanned<String>) -> Option<()> {
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
                    // Synapse's `HTTPEndpoint` binds only these properties; the endpoint
                    // deploys, and the variable expands to nothing
                    self.diags.push(
                        Diagnostic::warning(
                            codes::W0305,
                            t.span,
                            format!(
                                "`{}` in a uri-template is never bound (only `uri.var.*` and `query.param.*` properties are)",
                                text
                            ),
                        )
                        .with_note(
                            "it expands to nothing; when the message has no `uri.var.*` or \
                             `query.param.*` property at all, the URL is the template as written",
                        ),
                    );
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

    pub(crate) fn finish_checks(&mut self) {
        // W0201: default-scope reads nothing sets
        if !self.dynamic_set {
            let mut seen = HashSet::new();
            let reads = std::mem::take(&mut self.reads);
            for (name, span) in reads {
                if name.is_empty()
                    || self.set_names.contains(&name)
                    || self.local_entries.contains_key(&name)
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

/// Point every span of an instantiated template endpoint at the instance.
fn respan_endpoint(e: &mut ast::Endpoint, span: Span) {
    e.span = span;
    if let Some(n) = &mut e.name {
        n.span = span;
    }
    if let Some(t) = &mut e.timeout_ms {
        t.span = span;
    }
    match &mut e.kind {
        ast::EndpointKind::Http {
            method,
            uri_template,
        } => {
            if let Some(m) = method {
                m.span = span;
            }
            uri_template.span = span;
        }
        ast::EndpointKind::Address { uri } => uri.span = span,
        ast::EndpointKind::Wsdl(w) => {
            w.service.span = span;
            w.port.span = span;
            if let Some(u) = &mut w.uri {
                u.span = span;
            }
        }
        ast::EndpointKind::Key(k) => k.span = span,
        ast::EndpointKind::KeyExpression(x) => x.span = span,
        ast::EndpointKind::DynamicRecipientList { value, span: s } => {
            *s = span;
            match value {
                ast::PropertyValue::Literal(l) => l.span = span,
                ast::PropertyValue::Expression(x) => x.span = span,
                _ => {}
            }
        }
        ast::EndpointKind::Failover { children, .. }
        | ast::EndpointKind::Loadbalance { children, .. }
        | ast::EndpointKind::RecipientList { children } => {
            for c in children {
                respan_endpoint(c, span);
            }
        }
        ast::EndpointKind::Template {
            target,
            uri,
            params,
        } => {
            target.span = span;
            if let Some(u) = uri {
                u.span = span;
            }
            for (n, v) in params {
                n.span = span;
                v.span = span;
            }
        }
        ast::EndpointKind::MemberLoadbalance { members, .. }
        | ast::EndpointKind::MemberRecipientList { members } => {
            for m in members {
                m.span = span;
                m.host.span = span;
                for p in [&mut m.http_port, &mut m.https_port].into_iter().flatten() {
                    p.span = span;
                }
            }
        }
        ast::EndpointKind::Default | ast::EndpointKind::Unsupported { .. } => {}
    }
}

/// A parameter value written into the template's XML text.
fn xml_escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// What [`Compiler::wsdl_port`] found.
enum WsdlTarget {
    Port(ast::WsdlPort),
    /// A deploy-time parameter left for deployment: the value as written.
    Deferred(String),
}

/// What [`Compiler::deploy_param`] made of a value.
pub(crate) enum Deploy {
    /// Not a deploy-time parameter: the value as written.
    Literal,
    /// The parameter's value.
    Resolved(String),
    /// No host to resolve it (lint): left as written, not checked further.
    Deferred,
}
