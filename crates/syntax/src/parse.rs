//! Phase 2: the element tree → the typed AST, with structural diagnostics.
//!
//! Cascade policy: a mediator whose required parts are missing is reported once and left out of
//! the tree (its children are still checked); a mediator synaptic does not run yet is reported
//! once (E0108) and its content is not looked at. A `<property>` stays in the tree with its
//! name or value missing (or with the first of conflicting values), so that every mistake on it
//! (scope, type, expression) is reported; a file with errors never runs.

use synaptic_diag::suggest::did_you_mean;
use synaptic_diag::{codes, Code, Diagnostic, SourceId, Span, Spanned};

use crate::ast::*;
use crate::ser;
use crate::xml::{Attr, Document, Element, Node};
use crate::SYNAPSE_NS;

/// The mediators synaptic runs (the names "did you mean" picks from, with [`UNSUPPORTED`]).
const SUPPORTED: &[&str] = &[
    "property",
    "filter",
    "payloadFactory",
    "header",
    "call",
    "send",
    "log",
    "respond",
    "drop",
    "loopback",
    "sequence",
    "switch",
    "enrich",
    "makefault",
    "validate",
    "in",
    "out",
];

/// The child elements an element takes (for "did you mean" on an unknown child).
fn known_children(parent: &str) -> &'static [&'static str] {
    match parent {
        "definitions" => &[
            "sequence",
            "api",
            "proxy",
            "template",
            "localEntry",
            "endpoint",
        ],
        "api" => &["resource", "handlers"],
        "resource" | "target" => &["inSequence", "outSequence", "faultSequence", "endpoint"],
        "template" => &["sequence", "parameter", "endpoint"],
        "payloadFactory" => &["format", "args"],
        "args" => &["arg"],
        "call" | "send" => &["endpoint"],
        "log" => &["property"],
        "switch" => &["case", "default"],
        "filter" => &["then", "else"],
        "enrich" => &["source", "target"],
        "makefault" => &["code", "reason", "node", "role", "detail"],
        "endpoint" => &[
            "address",
            "http",
            "default",
            "wsdl",
            "loadbalance",
            "failover",
        ],
        _ => &[],
    }
}

/// Synapse / Micro Integrator mediators we recognise but do not run yet (E0108).
const UNSUPPORTED: &[&str] = &[
    "aggregate",
    "bam",
    "bean",
    "builder",
    "cache",
    "call-template",
    "callout",
    "class",
    "clone",
    "conditionalRouter",
    "datamapper",
    "dblookup",
    "dbreport",
    "ejb",
    "enqueue",
    "entitlementService",
    "event",
    "fastXSLT",
    "foreach",
    "iterate",
    "jsontransform",
    "kill",
    "ntlm",
    "oauthService",
    "pojoCommand",
    "publishEvent",
    "rewrite",
    "router",
    "rule",
    "sampler",
    "scatter-gather",
    "script",
    "smooks",
    "spring",
    "store",
    "switch-case",
    "throttle",
    "throwError",
    "transaction",
    "xquery",
    "xslt",
];

/// Top-level configuration kinds inside `<definitions>` that synaptic skips with W0103.
const SKIPPED_ARTIFACTS: &[&str] = &[
    "registry",
    "taskManager",
    "task",
    "messageStore",
    "messageProcessor",
    "import",
    "eventSource",
    "executor",
    "inboundEndpoint",
    "dataSource",
    "priorityExecutor",
    "sequenceTemplate",
    "unit-test",
];

const PLACEHOLDERS: &[(&str, &str)] = &[
    (
        "{base64encoded(clientKey:clientSecret)}",
        "replace it with base64(client_id:client_secret)",
    ),
    (
        "{token-endpoint-url}",
        "replace it with the token endpoint URL of the authorization server",
    ),
];

pub(crate) fn artifact(src: SourceId, doc: &Document<'_>) -> (Artifact, Vec<Diagnostic>) {
    let mut cx = Cx {
        src,
        doc,
        diags: Vec::new(),
        warned_ns: false,
        art: Artifact::default(),
    };
    if let Some(root) = &doc.root {
        cx.root(root);
    }
    (cx.art, cx.diags)
}

struct Cx<'d, 'a> {
    src: SourceId,
    doc: &'d Document<'a>,
    diags: Vec<Diagnostic>,
    warned_ns: bool,
    art: Artifact,
}

type El<'d, 'a> = &'d Element<'a>;

#[path = "parse_variable.rs"]
mod parse_variable;
#[path = "mediators/validate.rs"]
pub(crate) mod validate;

// === impl Cx: roots and artifacts ===

impl<'d, 'a> Cx<'d, 'a> {
    fn root(&mut self, root: El<'d, 'a>) {
        self.art.root_span = root.span;
        let Some(name) = self.syn_name(root) else {
            self.art.root = root.local().to_string();
            self.err(
                codes::E0109,
                root.name_span,
                format!(
                    "root element <{}> is not in the Synapse namespace ({SYNAPSE_NS})",
                    root.qname
                ),
            );
            return;
        };
        self.art.root = name.to_string();
        match name {
            "sequence" => self.named_sequence(root, None),
            "definitions" => self.definitions(root),
            "api" => self.api(root),
            "proxy" => self.proxy(root),
            "template" => self.template(root),
            "localEntry" => self.local_entry(root),
            "endpoint" => self.top_endpoint(root),
            other => self.err(
                codes::E0109,
                root.name_span,
                format!(
                    "<{other}> cannot be the root: expected <sequence>, <definitions>, <api>, \
                     <proxy>, <template>, <localEntry> or <endpoint>"
                ),
            ),
        }
    }

    fn definitions(&mut self, el: El<'d, 'a>) {
        self.check_attrs(el, &[]);
        for child in self.children(el) {
            let Some(name) = self.syn_name(child) else {
                self.unknown_element(child, el);
                continue;
            };
            match name {
                "sequence" => self.named_sequence(child, None),
                "api" => self.api(child),
                "proxy" => self.proxy(child),
                "template" => self.template(child),
                "localEntry" => self.local_entry(child),
                "endpoint" => self.top_endpoint(child),
                "description" => {}
                n if SKIPPED_ARTIFACTS.contains(&n) => self.diags.push(Diagnostic::warning(
                    codes::W0103,
                    child.name_span,
                    format!("<{n}> is not supported by synaptic and is skipped"),
                )),
                _ => self.unknown_element(child, el),
            }
        }
    }

    /// A `<sequence name=…>` definition (root, in `<definitions>`, or in a `<localEntry>` whose
    /// key names it).
    fn named_sequence(&mut self, el: El<'d, 'a>, key: Option<&Spanned<String>>) {
        self.check_attrs(
            el,
            &[
                "name",
                "onError",
                "trace",
                "statistics",
                "description",
                "key",
            ],
        );
        let name = match (self.attr_s(el, "name"), key) {
            (Some(n), _) => n,
            (None, Some(k)) => k.clone(),
            (None, None) => {
                if let Some(k) = el.attr("key") {
                    self.err(
                        codes::E0105,
                        el.name_span,
                        "a <sequence> definition needs name= (key= only references a sequence \
                         inside a mediator list)",
                    );
                    let _ = k;
                } else {
                    self.missing_attr(el, "name");
                }
                Spanned::new(String::new(), el.name_span)
            }
        };
        let on_error = self.attr_s(el, "onError");
        let mediators = self.mediators(el);
        self.art.sequences.push(Sequence {
            name,
            anonymous: false,
            on_error,
            span: el.span,
            mediators,
        });
    }

    /// An inline flow (`<inSequence>`, a template's `<sequence>`…) → an anonymous sequence.
    fn anonymous_sequence(&mut self, el: El<'d, 'a>, name: String) -> FlowRef {
        self.check_attrs(el, &["onError", "trace", "statistics", "description"]);
        let on_error = self.attr_s(el, "onError");
        let mediators = self.mediators(el);
        self.art.sequences.push(Sequence {
            name: Spanned::new(name.clone(), el.name_span),
            anonymous: true,
            on_error,
            span: el.span,
            mediators,
        });
        FlowRef::Inline(name)
    }

    fn api(&mut self, el: El<'d, 'a>) {
        self.check_attrs(
            el,
            &[
                "name",
                "context",
                "hostname",
                "port",
                "version",
                "version-type",
                "statistics",
                "trace",
                "transports",
                "publishSwagger",
                "description",
                "binds-to",
            ],
        );
        let name = self.required(el, "name");
        let context = self.required(el, "context");
        let api_name = name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        let mut resources = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("resource") => {
                    let i = resources.len();
                    resources.push(self.resource(child, &format!("api:{api_name}/resource[{i}]")));
                }
                Some("handlers") | Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if let (Some(name), Some(context)) = (name, context) {
            self.art.apis.push(Api {
                span: el.span,
                name,
                context,
                resources,
            });
        }
    }

    fn resource(&mut self, el: El<'d, 'a>, prefix: &str) -> Resource {
        self.check_attrs(
            el,
            &[
                "methods",
                "uri-template",
                "url-mapping",
                "url-pattern",
                "inSequence",
                "outSequence",
                "faultSequence",
                "protocol",
                "content-type",
                "user-agent",
                "description",
            ],
        );
        let mut r = Resource {
            span: el.span,
            methods: self.attr_s(el, "methods"),
            uri_template: self.attr_s(el, "uri-template"),
            url_mapping: self
                .attr_s(el, "url-mapping")
                .or_else(|| self.attr_s(el, "url-pattern")),
            in_sequence: self.attr_s(el, "inSequence").map(FlowRef::Key),
            out_sequence: self.attr_s(el, "outSequence").map(FlowRef::Key),
            fault_sequence: self.attr_s(el, "faultSequence").map(FlowRef::Key),
        };
        self.flows(
            el,
            prefix,
            &mut r.in_sequence,
            &mut r.out_sequence,
            &mut r.fault_sequence,
            None,
        );
        r
    }

    /// `<inSequence>`/`<outSequence>`/`<faultSequence>` children of a resource or proxy target.
    fn flows(
        &mut self,
        el: El<'d, 'a>,
        prefix: &str,
        ins: &mut Option<FlowRef>,
        outs: &mut Option<FlowRef>,
        faults: &mut Option<FlowRef>,
        mut endpoint: Option<&mut Option<Endpoint>>,
    ) {
        for child in self.children(el) {
            let name = self.syn_name(child);
            let slot = match name {
                Some("inSequence") => &mut *ins,
                Some("outSequence") => &mut *outs,
                Some("faultSequence") => &mut *faults,
                Some("endpoint") if endpoint.is_some() => {
                    let ep = self.endpoint(child);
                    if let Some(slot) = endpoint.as_deref_mut() {
                        if slot.is_some() {
                            self.dup_element(child);
                        } else {
                            *slot = ep;
                        }
                    }
                    continue;
                }
                Some("description") => continue,
                _ => {
                    self.unknown_element(child, el);
                    continue;
                }
            };
            let flow = name.unwrap_or_default();
            if slot.is_some() {
                self.dup_element(child);
                continue;
            }
            *slot = Some(self.anonymous_sequence(child, format!("{prefix}/{flow}")));
        }
    }

    fn proxy(&mut self, el: El<'d, 'a>) {
        self.check_attrs(
            el,
            &[
                "name",
                "transports",
                "startOnLoad",
                "trace",
                "statistics",
                "serviceGroup",
                "pinnedServers",
                "description",
            ],
        );
        let name = self.required(el, "name");
        let pname = name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        let mut proxy = Proxy {
            span: el.span,
            name: name.unwrap_or_else(|| Spanned::new(String::new(), el.name_span)),
            in_sequence: None,
            out_sequence: None,
            fault_sequence: None,
            endpoint: None,
        };
        let mut seen_target = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("target") => {
                    if seen_target {
                        self.dup_element(child);
                        continue;
                    }
                    seen_target = true;
                    self.check_attrs(
                        child,
                        &["inSequence", "outSequence", "faultSequence", "endpoint"],
                    );
                    proxy.in_sequence = self.attr_s(child, "inSequence").map(FlowRef::Key);
                    proxy.out_sequence = self.attr_s(child, "outSequence").map(FlowRef::Key);
                    proxy.fault_sequence = self.attr_s(child, "faultSequence").map(FlowRef::Key);
                    proxy.endpoint = self.attr_s(child, "endpoint").map(|k| Endpoint {
                        span: k.span,
                        name: None,
                        kind: EndpointKind::Key(k),
                        timeout_ms: None,
                    });
                    let mut ep = proxy.endpoint.take();
                    self.flows(
                        child,
                        &format!("proxy:{pname}"),
                        &mut proxy.in_sequence,
                        &mut proxy.out_sequence,
                        &mut proxy.fault_sequence,
                        Some(&mut ep),
                    );
                    proxy.endpoint = ep;
                }
                Some(
                    "description" | "publishWSDL" | "policy" | "parameter" | "enableSec"
                    | "enableRM" | "enableAddressing",
                ) => {}
                _ => self.unknown_element(child, el),
            }
        }
        if !seen_target {
            self.err(
                codes::E0114,
                el.name_span,
                format!("proxy `{pname}` has no <target>"),
            );
        }
        self.art.proxies.push(proxy);
    }

    fn template(&mut self, el: El<'d, 'a>) {
        self.check_attrs(
            el,
            &["name", "onError", "description", "trace", "statistics"],
        );
        let name = self
            .required(el, "name")
            .map(|n| n.value)
            .unwrap_or_default();
        let mut seen = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("sequence") => {
                    if seen {
                        self.dup_element(child);
                        continue;
                    }
                    seen = true;
                    self.anonymous_sequence(child, format!("template:{name}"));
                }
                // endpoint templates are not run; their bodies hold $-parameters
                Some("parameter" | "description" | "endpoint") => {}
                _ => self.unknown_element(child, el),
            }
        }
    }

    fn local_entry(&mut self, el: El<'d, 'a>) {
        self.check_attrs(el, &["key", "src", "description"]);
        let Some(key) = self.required(el, "key") else {
            return;
        };
        let value = if let Some(src) = self.attr_s(el, "src") {
            LocalEntryValue::Src(src)
        } else {
            let elems: Vec<_> = el
                .elements()
                .filter(|e| !(e.ns == SYNAPSE_NS && e.local() == "description"))
                .collect();
            match elems.first() {
                Some(child) if child.ns == SYNAPSE_NS && child.local() == "sequence" => {
                    self.named_sequence(child, Some(&key));
                    LocalEntryValue::Sequence(key.value.clone())
                }
                Some(child) => {
                    LocalEntryValue::Xml(Spanned::new(ser::element(self.doc, child), child.span))
                }
                None => {
                    let mut text = String::new();
                    let mut span: Option<Span> = None;
                    for c in &el.children {
                        if let Node::Text {
                            text: t, span: s, ..
                        } = c
                        {
                            text.push_str(t);
                            span = Some(span.map_or(*s, |sp| Span { end: s.end, ..sp }));
                        }
                    }
                    LocalEntryValue::Text(Spanned::new(text, span.unwrap_or(el.span)))
                }
            }
        };
        self.art.local_entries.push(LocalEntry {
            span: el.span,
            key,
            value,
        });
    }

    fn top_endpoint(&mut self, el: El<'d, 'a>) {
        if el.attr("name").is_none() && el.attr("key").is_none() {
            self.missing_attr(el, "name");
        }
        if let Some(ep) = self.endpoint(el) {
            self.art.endpoints.push(ep);
        }
    }
}

// === impl Cx: mediators ===

impl<'d, 'a> Cx<'d, 'a> {
    fn mediators(&mut self, parent: El<'d, 'a>) -> Vec<Mediator> {
        self.mediators_of(parent, parent.children.iter())
    }

    fn mediators_of<'n>(
        &mut self,
        parent: El<'d, 'a>,
        nodes: impl Iterator<Item = &'n Node<'a>>,
    ) -> Vec<Mediator>
    where
        'a: 'n,
        'd: 'n,
        'n: 'd,
    {
        let mut out = Vec::new();
        let mut text_reported = false;
        for node in nodes {
            match node {
                Node::Element(el) => {
                    if let Some(m) = self.mediator(el, parent) {
                        out.push(m);
                    }
                }
                Node::Pi(_) => {}
                Node::Text { text, span, cdata } => {
                    if !text_reported && (*cdata || !text.trim().is_empty()) {
                        text_reported = true;
                        self.err(
                            codes::E0110,
                            *span,
                            format!(
                                "unexpected text in <{}>: only mediators go here",
                                parent.qname
                            ),
                        );
                    }
                }
            }
        }
        out
    }

    fn mediator(&mut self, el: El<'d, 'a>, parent: El<'d, 'a>) -> Option<Mediator> {
        let Some(name) = self.syn_name(el) else {
            self.err(
                codes::E0103,
                el.name_span,
                format!(
                    "unknown mediator <{}> (namespace `{}`, not Synapse)",
                    el.qname, el.ns
                ),
            );
            return None;
        };
        let kind = match name {
            "property" => MediatorKind::Property(self.property(el)?),
            "filter" => MediatorKind::Filter(self.filter(el)?),
            "payloadFactory" => MediatorKind::PayloadFactory(self.payload_factory(el)?),
            "header" => MediatorKind::Header(self.header(el)?),
            "call" => MediatorKind::Call(self.call(el)),
            "send" => MediatorKind::Send(self.send(el)),
            "log" => MediatorKind::Log(self.log(el)),
            "variable" => MediatorKind::Variable(self.variable(el)?),
            "validate" => MediatorKind::Validate(self.validate(el)?),
            "respond" => {
                self.leaf(el, &["description"]);
                MediatorKind::Respond
            }
            "drop" => {
                self.leaf(el, &["description"]);
                MediatorKind::Drop
            }
            "loopback" => {
                self.leaf(el, &["description"]);
                MediatorKind::Loopback
            }
            "sequence" => {
                if el.attr("key").is_none() {
                    self.err(
                        codes::E0108,
                        el.name_span,
                        "mediator <sequence> without key= (an inline anonymous sequence) is not \
                         supported yet",
                    );
                    MediatorKind::Unsupported {
                        name: "sequence".into(),
                    }
                } else {
                    self.leaf(el, &["key", "description"]);
                    let key = self.attr_s(el, "key")?;
                    MediatorKind::SequenceRef(key)
                }
            }
            "switch" => MediatorKind::Switch(self.switch(el)?),
            "enrich" => MediatorKind::Enrich(self.enrich(el)?),
            "makefault" => MediatorKind::MakeFault(self.makefault(el)?),
            "in" | "out" => {
                self.check_attrs(el, &["description"]);
                MediatorKind::Direction {
                    dir: if name == "in" { Dir::In } else { Dir::Out },
                    mediators: self.mediators(el),
                }
            }
            "description" => return None,
            n if UNSUPPORTED.contains(&n) || n.contains('.') => {
                self.err(
                    codes::E0108,
                    el.name_span,
                    format!("mediator <{n}> is not supported yet"),
                );
                MediatorKind::Unsupported {
                    name: n.to_string(),
                }
            }
            n => {
                let hint = [SUPPORTED, known_children(parent.local()), UNSUPPORTED]
                    .into_iter()
                    .map(|names| did_you_mean(n, names))
                    .find(|h| !h.is_empty())
                    .unwrap_or_default();
                self.err(
                    codes::E0103,
                    el.name_span,
                    format!("unknown mediator <{n}> in <{}>{hint}", parent.qname),
                );
                return None;
            }
        };
        Some(Mediator {
            span: el.span,
            kind,
        })
    }

    fn property(&mut self, el: El<'d, 'a>) -> Option<Property> {
        self.check_attrs(
            el,
            &[
                "name",
                "value",
                "expression",
                "scope",
                "type",
                "action",
                "pattern",
                "group",
                "description",
            ],
        );
        // a missing name is reported; the rest of the element is still checked (under an
        // empty name: a file with errors never runs)
        let name = self
            .required(el, "name")
            .or_else(|| Some(Spanned::new(String::new(), el.name_span)));
        let action = self.action(el);
        let value = self.value_or_expression(el, action == PropertyAction::Set, true);
        let pattern = self.attr_s(el, "pattern");
        let group = self.attr_s(el, "group");
        // `group` without `pattern` and a non-numeric `group` are checked by engine::compile
        if let Some(v) = self.attr_s(el, "value") {
            self.placeholder(&v);
        }
        Some(Property {
            name: name?,
            action,
            scope: self.attr_s(el, "scope"),
            ty: self.attr_s(el, "type"),
            // a missing value is reported; checking goes on as for `action="remove"`
            value: value.unwrap_or(PropertyValue::None),
            pattern,
            group,
            description: el.attr("description").map(|a| a.value.to_string()),
        })
    }

    /// `action=`: `remove`, else set (anything but `set` is a W0302 warning).
    fn action(&mut self, el: El<'d, 'a>) -> PropertyAction {
        match el.attr("action") {
            Some(a) if a.value == "remove" => PropertyAction::Remove,
            Some(a) if a.value == "set" => PropertyAction::Set,
            Some(a) => {
                self.diags.push(Diagnostic::warning(
                    codes::W0302,
                    a.value_span,
                    format!(
                        "action=\"{}\" is neither `set` nor `remove`; Synapse treats it as `set`",
                        a.value
                    ),
                ));
                PropertyAction::Set
            }
            None => PropertyAction::Set,
        }
    }

    /// Exactly one of `value=`, `expression=` or (if `inline`) an inline XML child. `None` when
    /// the mediator is unusable (already reported).
    fn value_or_expression(
        &mut self,
        el: El<'d, 'a>,
        required: bool,
        inline: bool,
    ) -> Option<PropertyValue> {
        let value = el.attr("value");
        let expr = el.attr("expression");
        let child = el.elements().next();
        if !inline {
            self.no_children(el);
        }
        let child = if inline { child } else { None };
        let given = value.is_some() as u8 + expr.is_some() as u8 + child.is_some() as u8;
        if given > 1 {
            let span = expr
                .map(|a| a.name_span)
                .or(value.map(|a| a.name_span))
                .unwrap_or(el.name_span);
            self.err(
                codes::E0115,
                span,
                format!(
                    "<{}> takes only one of value=, expression={}",
                    el.local(),
                    if inline {
                        " or an inline XML child"
                    } else {
                        ""
                    }
                ),
            );
            // go on with the first of them, so the rest of the element is checked too
        }
        if let Some(v) = value {
            return Some(PropertyValue::Literal(self.spanned(v)));
        }
        if let Some(e) = expr {
            return Some(PropertyValue::Expression(self.expr(el, e)));
        }
        if let Some(c) = child {
            return Some(PropertyValue::Inline(Spanned::new(
                ser::element(self.doc, c),
                c.span,
            )));
        }
        if required {
            self.err(
                codes::E0105,
                el.name_span,
                format!(
                    "<{}> needs value= or expression={}",
                    el.local(),
                    if inline {
                        " (or an inline XML child)"
                    } else {
                        ""
                    }
                ),
            );
            return None;
        }
        Some(PropertyValue::None)
    }

    fn filter(&mut self, el: El<'d, 'a>) -> Option<Filter> {
        self.check_attrs(el, &["xpath", "source", "regex", "description"]);
        let xpath = el.attr("xpath");
        let source = el.attr("source");
        let regex = el.attr("regex");
        let condition = match (xpath, source, regex) {
            (Some(x), None, None) => Some(Condition::XPath(self.expr(el, x))),
            (None, Some(s), Some(r)) => Some(Condition::Regex {
                source: self.expr(el, s),
                regex: self.spanned(r),
            }),
            (Some(x), _, _) => {
                self.err(
                    codes::E0115,
                    x.name_span,
                    "<filter> takes either xpath= or source= with regex=, not both",
                );
                None
            }
            (None, Some(_), None) => {
                self.missing_attr(el, "regex");
                None
            }
            (None, None, Some(_)) => {
                self.missing_attr(el, "source");
                None
            }
            (None, None, None) => {
                self.err(
                    codes::E0105,
                    el.name_span,
                    "<filter> needs xpath= or source= with regex=",
                );
                None
            }
        };
        let has_branches = el.elements().any(|c| c.ns == SYNAPSE_NS || c.ns.is_empty())
            && el
                .elements()
                .any(|c| matches!(self.syn_name_quiet(c), Some("then" | "else")));
        let (then, otherwise) = if has_branches {
            let mut then: Option<Vec<Mediator>> = None;
            let mut otherwise: Option<Vec<Mediator>> = None;
            for child in self.children(el) {
                match self.syn_name(child) {
                    Some("then") => {
                        let ms = self.filter_branch(child);
                        if then.is_some() {
                            self.dup_element(child);
                        } else {
                            then = Some(ms);
                        }
                    }
                    Some("else") => {
                        let ms = self.filter_branch(child);
                        if otherwise.is_some() {
                            self.dup_element(child);
                        } else {
                            otherwise = Some(ms);
                        }
                    }
                    Some("description") => {}
                    _ => {
                        self.err(
                            codes::E0103,
                            child.name_span,
                            format!(
                                "unexpected <{}> in a <filter> with <then>/<else>: put it inside \
                                 one of them",
                                child.qname
                            ),
                        );
                    }
                }
            }
            (then.unwrap_or_default(), otherwise)
        } else {
            (self.mediators(el), None)
        };
        Some(Filter {
            condition: condition?,
            then,
            otherwise,
        })
    }

    /// A `<then>`/`<else>` branch: its mediators, or with `sequence="key"` a reference to that
    /// sequence (Synapse then runs the named sequence instead of the children).
    fn filter_branch(&mut self, child: El<'d, 'a>) -> Vec<Mediator> {
        self.check_attrs(child, &["description", "sequence"]);
        let ms = self.mediators(child);
        match child.attr("sequence") {
            Some(key) => vec![Mediator {
                span: child.span,
                kind: MediatorKind::SequenceRef(self.spanned(key)),
            }],
            None => ms,
        }
    }

    fn payload_factory(&mut self, el: El<'d, 'a>) -> Option<PayloadFactory> {
        self.check_attrs(
            el,
            &[
                "media-type",
                "description",
                "escapeXmlChars",
                "template-type",
            ],
        );
        let (media_type, media_type_span) = match el.attr("media-type") {
            None => (Some(MediaType::Xml), None),
            Some(a) => {
                let mt = match &*a.value {
                    "xml" => Some(MediaType::Xml),
                    "json" => Some(MediaType::Json),
                    "text" => Some(MediaType::Text),
                    other => {
                        self.err(
                            codes::E0106,
                            a.value_span,
                            format!("media-type=\"{other}\": expected xml, json or text"),
                        );
                        None
                    }
                };
                (mt, Some(a.value_span))
            }
        };
        if let Some(t) = el.attr("template-type") {
            if t.value != "default" {
                self.err(
                    codes::E0108,
                    t.value_span,
                    format!(
                        "payloadFactory template-type=\"{}\" is not supported yet",
                        t.value
                    ),
                );
            }
        }
        let mut format: Option<Format> = None;
        let mut format_seen = false;
        let mut args: Vec<Arg> = Vec::new();
        let mut args_seen = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("format") => {
                    if format_seen {
                        self.dup_element(child);
                        continue;
                    }
                    format_seen = true;
                    format = self.format(child, media_type.as_ref());
                }
                Some("args") => {
                    if args_seen {
                        self.dup_element(child);
                        continue;
                    }
                    args_seen = true;
                    self.check_attrs(child, &[]);
                    for a in self.children(child) {
                        match self.syn_name(a) {
                            Some("arg") => {
                                if let Some(arg) = self.arg(a) {
                                    args.push(arg);
                                }
                            }
                            _ => self.unknown_element(a, child),
                        }
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if !format_seen {
            self.err(
                codes::E0114,
                el.name_span,
                "<payloadFactory> needs a <format> child",
            );
        }
        Some(PayloadFactory {
            media_type: media_type?,
            media_type_span,
            format: format?,
            args,
        })
    }

    fn format(&mut self, el: El<'d, 'a>, media_type: Option<&MediaType>) -> Option<Format> {
        self.check_attrs(el, &["key"]);
        if let Some(k) = el.attr("key") {
            if el.elements().next().is_some() {
                self.err(
                    codes::E0115,
                    k.name_span,
                    "<format> takes either key= or an inline template, not both",
                );
            }
            return Some(Format::Key(self.spanned(k)));
        }
        match media_type {
            Some(MediaType::Xml) | None => {
                let mut elems = el.elements();
                let Some(first) = elems.next() else {
                    if media_type.is_some() {
                        self.err(
                            codes::E0114,
                            el.name_span,
                            "an xml <format> needs an XML element as its template",
                        );
                    }
                    return None;
                };
                if let Some(second) = elems.next() {
                    self.err(
                        codes::E0110,
                        second.name_span,
                        "an xml <format> holds exactly one element (this one is ignored)",
                    );
                }
                Some(Format::Inline(Spanned::new(
                    ser::element(self.doc, first),
                    first.span,
                )))
            }
            Some(MediaType::Json | MediaType::Text) => {
                if let Some(first) = el.elements().next() {
                    // Synapse serializes XML inside a json/text format as text; we keep it
                    // verbatim as written.
                    let _ = first;
                }
                let (text, span) = self.raw_content(el);
                Some(Format::Inline(Spanned::new(text, span)))
            }
        }
    }

    fn arg(&mut self, el: El<'d, 'a>) -> Option<Arg> {
        self.check_attrs(
            el,
            &[
                "value",
                "expression",
                "evaluator",
                "literal",
                "deepCheck",
                "description",
            ],
        );
        self.no_children(el);
        let literal = self.bool_attr(el, "literal").unwrap_or(false);
        if let Some(a) = el.attr("deepCheck") {
            self.bool_value(a);
        }
        let value = el.attr("value");
        let expr = el.attr("expression");
        let evaluator = el.attr("evaluator");
        // the evaluator value (xml|json) is checked by engine::compile
        let kind = match (value, expr) {
            (Some(v), None) => {
                if let Some(ev) = evaluator {
                    self.diags.push(Diagnostic::warning(
                        codes::W0101,
                        ev.name_span,
                        "evaluator= is ignored on an <arg> with value=",
                    ));
                }
                ArgKind::Value(self.spanned(v))
            }
            (None, Some(e)) => ArgKind::Expression {
                expr: self.expr(el, e),
                evaluator: evaluator.map(|a| self.spanned(a)),
            },
            (Some(_), Some(e)) => {
                self.err(
                    codes::E0115,
                    e.name_span,
                    "<arg> takes either value= or expression=, not both",
                );
                return None;
            }
            (None, None) => {
                self.err(
                    codes::E0105,
                    el.name_span,
                    "<arg> needs value= or expression=",
                );
                return None;
            }
        };
        Some(Arg {
            span: el.span,
            kind,
            literal,
        })
    }

    fn header(&mut self, el: El<'d, 'a>) -> Option<Header> {
        self.check_attrs(
            el,
            &[
                "name",
                "value",
                "expression",
                "scope",
                "action",
                "description",
            ],
        );
        // without name=, an embedded XML child is a whole SOAP header block
        let embedded = el.attr("name").is_none() && el.elements().next().is_some();
        let name = if embedded {
            Some(Spanned {
                value: String::new(),
                span: el.name_span,
            })
        } else {
            self.required(el, "name")
        };
        let scope = match el.attr("scope") {
            None => Some(HeaderScope::Soap),
            Some(a) if a.value == "default" => Some(HeaderScope::Soap),
            Some(a) if a.value == "transport" => Some(HeaderScope::Transport),
            Some(a) => {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!(
                        "header scope=\"{}\": expected transport or default",
                        a.value
                    ),
                );
                None
            }
        };
        let action = self.action(el);
        let value = self.value_or_expression(el, action == PropertyAction::Set || embedded, true);
        if let Some(v) = self.attr_s(el, "value") {
            self.placeholder(&v);
        }
        let name = name?;
        let mut namespace = None;
        if let Some((prefix, _)) = name.value.split_once(':') {
            match self.doc.resolve(el.scope, prefix) {
                Some(uri) if !uri.is_empty() => namespace = Some(uri.to_string()),
                _ => {
                    self.err(
                        codes::E0106,
                        name.span,
                        format!(
                            "header name `{}`: namespace prefix `{prefix}` is not declared",
                            name.value
                        ),
                    );
                }
            }
        }
        Some(Header {
            name,
            namespace,
            scope: scope?,
            action,
            value: value?,
        })
    }

    fn call(&mut self, el: El<'d, 'a>) -> Call {
        self.check_attrs(el, &["blocking", "description", "initAxis2ClientOptions"]);
        let blocking = self.bool_attr(el, "blocking").unwrap_or(false);
        if let Some(a) = el.attr("initAxis2ClientOptions") {
            self.bool_value(a);
        }
        let mut endpoint = None;
        let mut seen = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("endpoint") => {
                    if seen {
                        self.dup_element(child);
                        continue;
                    }
                    seen = true;
                    endpoint = self.endpoint(child);
                }
                Some(n @ ("source" | "target")) => self.err(
                    codes::E0108,
                    child.name_span,
                    format!("<call> with a <{n}> child is not supported yet"),
                ),
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Call { blocking, endpoint }
    }

    fn send(&mut self, el: El<'d, 'a>) -> Send {
        self.check_attrs(el, &["receive", "description", "buildmessage"]);
        if let Some(a) = el.attr("buildmessage") {
            self.bool_value(a);
        }
        let receive = self.attr_s(el, "receive");
        let mut endpoint = None;
        let mut seen = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("endpoint") => {
                    if seen {
                        self.dup_element(child);
                        continue;
                    }
                    seen = true;
                    endpoint = self.endpoint(child);
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Send { endpoint, receive }
    }

    fn log(&mut self, el: El<'d, 'a>) -> Log {
        self.check_attrs(
            el,
            &[
                "level",
                "category",
                "separator",
                "description",
                "name",
                "logMessageID",
                "logFullPayload",
            ],
        );
        let level = match el.attr("level") {
            None => LogLevel::Simple,
            Some(a) => match &*a.value {
                "simple" => LogLevel::Simple,
                "headers" => LogLevel::Headers,
                "full" => LogLevel::Full,
                "custom" => LogLevel::Custom,
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!("log level=\"{other}\": expected simple, headers, full or custom"),
                    );
                    LogLevel::Simple
                }
            },
        };
        let category = el.attr("category").map(|a| {
            const CATS: &[&str] = &["INFO", "DEBUG", "WARN", "ERROR", "TRACE", "FATAL"];
            if !CATS.contains(&&*a.value) {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!(
                        "log category=\"{}\": expected INFO, DEBUG, WARN, ERROR, TRACE or FATAL",
                        a.value
                    ),
                );
            }
            a.value.to_string()
        });
        let separator = el.attr("separator").map(|a| a.value.to_string());
        let mut properties = Vec::new();
        let mut message = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("message") => {
                    self.check_attrs(child, &[]);
                    let (text, span) = self.text_of(child);
                    message = Some(Spanned::new(text, span));
                }
                Some("property") => {
                    self.check_attrs(child, &["name", "value", "expression", "description"]);
                    let name = self.required(child, "name");
                    let value = self.value_or_expression(child, true, true);
                    if let (Some(name), Some(value)) = (name, value) {
                        properties.push(LogProperty { name, value });
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Log {
            level,
            category,
            separator,
            properties,
            message,
        }
    }

    fn switch(&mut self, el: El<'d, 'a>) -> Option<Switch> {
        self.check_attrs(el, &["source", "description"]);
        let source = match el.attr("source") {
            Some(a) => Some(self.expr(el, a)),
            None => {
                self.missing_attr(el, "source");
                None
            }
        };
        let mut cases = Vec::new();
        let mut default: Option<Vec<Mediator>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("case") => {
                    self.check_attrs(child, &["regex", "description"]);
                    let regex = self.required(child, "regex");
                    let mediators = self.mediators(child);
                    if let Some(regex) = regex {
                        cases.push(Case { regex, mediators });
                    }
                }
                Some("default") => {
                    self.check_attrs(child, &["description"]);
                    let ms = self.mediators(child);
                    if default.is_some() {
                        self.dup_element(child);
                    } else {
                        default = Some(ms);
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Some(Switch {
            source: source?,
            cases,
            default,
        })
    }

    // === enrich ===

    fn enrich(&mut self, el: El<'d, 'a>) -> Option<Enrich> {
        self.check_attrs(el, &["description"]);
        let mut source_el: Option<El<'d, 'a>> = None;
        let mut target_el: Option<El<'d, 'a>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("source") if source_el.is_some() => self.dup_element(child),
                Some("source") => source_el = Some(child),
                Some("target") if target_el.is_some() => self.dup_element(child),
                Some("target") => target_el = Some(child),
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        for (name, found) in [
            ("source", source_el.is_some()),
            ("target", target_el.is_some()),
        ] {
            if !found {
                self.err(
                    codes::E0114,
                    el.name_span,
                    format!("<enrich> needs a <{name}> child"),
                );
            }
        }
        let source = source_el.and_then(|s| self.enrich_source(s));
        let target = target_el.and_then(|t| self.enrich_target(t));
        let (source, target) = (source?, target?);
        self.enrich_combination(&source, &target)?;
        Some(Enrich { source, target })
    }

    fn enrich_source(&mut self, el: El<'d, 'a>) -> Option<EnrichSource> {
        self.check_attrs(
            el,
            &["type", "clone", "xpath", "property", "key", "description"],
        );
        let ty = match el.attr("type") {
            None => Some(EnrichSourceType::Custom),
            Some(a) => match &*a.value {
                "custom" => Some(EnrichSourceType::Custom),
                "envelope" => Some(EnrichSourceType::Envelope),
                "body" => Some(EnrichSourceType::Body),
                "property" => Some(EnrichSourceType::Property),
                "inline" => Some(EnrichSourceType::Inline),
                "variable" => {
                    self.err(
                        codes::E0108,
                        a.value_span,
                        "`enrich` source type=\"variable\" is not supported yet",
                    );
                    None
                }
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich source type=\"{other}\": expected custom, envelope, body, \
                             property or inline"
                        ),
                    );
                    None
                }
            },
        };
        // Synapse reads clone= with Boolean.parseBoolean (case-insensitive)
        let clone = match el.attr("clone") {
            Some(a) if a.value.eq_ignore_ascii_case("true") => true,
            Some(a) if a.value.eq_ignore_ascii_case("false") => false,
            Some(a) => self.bool_value(a).unwrap_or(true),
            None => true,
        };
        let ty = ty?;
        let mut src = EnrichSource {
            span: el.span,
            ty,
            clone,
            xpath: None,
            property: None,
            inline: None,
        };
        let used: &[&str] = match ty {
            EnrichSourceType::Custom => {
                let msg = "an enrich <source> of type custom needs xpath=";
                src.xpath = Some(self.required_expr(el, "xpath", msg)?);
                self.no_children(el);
                &["xpath"]
            }
            EnrichSourceType::Property => {
                let msg = "an enrich <source> of type property needs property=";
                src.property = Some(self.required_because(el, "property", msg)?);
                self.no_children(el);
                &["property"]
            }
            EnrichSourceType::Inline => {
                let first = el
                    .elements()
                    .find(|e| !(e.ns == SYNAPSE_NS && e.local() == "description"));
                if let Some(first) = first {
                    src.inline = Some(InlineSource::Xml(Spanned::new(
                        ser::element(self.doc, first),
                        first.span,
                    )));
                } else {
                    let (text, span) = self.raw_content(el);
                    if !text.trim().is_empty() {
                        src.inline = Some(InlineSource::Text(Spanned::new(text, span)));
                    } else if let Some(k) = self.attr_s(el, "key") {
                        src.inline = Some(InlineSource::Key(k));
                    } else {
                        self.err(
                            codes::E0114,
                            el.name_span,
                            "an inline enrich <source> needs an XML element, text (JSON) or key=",
                        );
                        return None;
                    }
                }
                &["key"]
            }
            EnrichSourceType::Envelope | EnrichSourceType::Body => {
                self.no_children(el);
                &[]
            }
        };
        self.ignored_attrs(el, &["xpath", "property", "key"], used);
        Some(src)
    }

    fn enrich_target(&mut self, el: El<'d, 'a>) -> Option<EnrichTarget> {
        self.check_attrs(el, &["type", "action", "xpath", "property", "description"]);
        self.no_children(el);
        let ty = match el.attr("type") {
            None => Some(EnrichTargetType::Custom),
            Some(a) => match &*a.value {
                "custom" => Some(EnrichTargetType::Custom),
                "envelope" => Some(EnrichTargetType::Envelope),
                "body" => Some(EnrichTargetType::Body),
                "property" => Some(EnrichTargetType::Property),
                "key" => Some(EnrichTargetType::Key),
                "variable" => {
                    self.err(
                        codes::E0108,
                        a.value_span,
                        "`enrich` target type=\"variable\" is not supported yet",
                    );
                    None
                }
                "inline" => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        "inline is a source type only: a target cannot be inline",
                    );
                    None
                }
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich target type=\"{other}\": expected custom, envelope, body or \
                             property"
                        ),
                    );
                    None
                }
            },
        };
        let action = match el.attr("action") {
            None => Some(EnrichAction::Replace),
            Some(a) => match &*a.value {
                "replace" => Some(EnrichAction::Replace),
                "child" => Some(EnrichAction::Child),
                "sibling" => Some(EnrichAction::Sibling),
                "remove" => Some(EnrichAction::Remove),
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!(
                            "enrich target action=\"{other}\": expected replace, child, sibling or \
                             remove"
                        ),
                    );
                    None
                }
            },
        };
        let (ty, action) = (ty?, action?);
        let mut t = EnrichTarget {
            span: el.span,
            ty,
            action,
            xpath: None,
            property: None,
        };
        let used: &[&str] = match ty {
            EnrichTargetType::Custom => {
                let msg = "an enrich <target> of type custom needs xpath=";
                let x = t.xpath.insert(self.required_expr(el, "xpath", msg)?);
                if action == EnrichAction::Replace && is_json_root(&x.text) {
                    self.err(
                        codes::E0116,
                        x.span,
                        "action replace on the JSON root: use <target type=\"body\"/> instead",
                    );
                    return None;
                }
                &["xpath"]
            }
            EnrichTargetType::Key => {
                let msg = "an enrich <target> of type key needs xpath= (the JSON member to rename)";
                t.xpath = Some(self.required_expr(el, "xpath", msg)?);
                &["xpath"]
            }
            EnrichTargetType::Property => {
                let msg = "an enrich <target> of type property needs property=";
                t.property = Some(self.required_because(el, "property", msg)?);
                &["property"]
            }
            EnrichTargetType::Envelope | EnrichTargetType::Body => &[],
        };
        self.ignored_attrs(el, &["xpath", "property"], used);
        Some(t)
    }

    /// The source/target/action combinations Synapse refuses when it loads the mediator.
    fn enrich_combination(&mut self, s: &EnrichSource, t: &EnrichTarget) -> Option<()> {
        use EnrichSourceType as S;
        use EnrichTargetType as T;
        let bad = matches!(
            (s.ty, t.ty),
            (S::Envelope, T::Custom | T::Envelope | T::Body)
                | (S::Body, T::Envelope | T::Body)
                | (S::Custom, T::Envelope)
        );
        if bad {
            self.diags.push(
                Diagnostic::at(
                    codes::E0116,
                    t.span,
                    format!(
                        "enrich cannot copy a source of type {} into a target of type {}",
                        source_type_name(s.ty),
                        target_type_name(t.ty)
                    ),
                )
                .with_label(s.span, "source")
                .with_note(
                    "Synapse accepts an envelope target only from an inline or property \
                     envelope, and a body source only into a custom or property target",
                ),
            );
            return None;
        }
        if t.action == EnrichAction::Remove {
            let msg = if s.ty != S::Custom {
                Some("action=\"remove\" deletes the source's JSON paths: the source must be custom (xpath=)")
            } else if !matches!(t.ty, T::Body | T::Property) {
                Some("action=\"remove\" works on a body or property target only")
            } else {
                None
            };
            if let Some(msg) = msg {
                self.diags
                    .push(Diagnostic::at(codes::E0116, t.span, msg).with_label(s.span, "source"));
                return None;
            }
        }
        if t.ty == T::Key {
            if s.ty == S::Body {
                self.diags.push(
                    Diagnostic::at(
                        codes::E0116,
                        t.span,
                        "enrich cannot copy a source of type body into a target of type key",
                    )
                    .with_label(s.span, "source"),
                );
                return None;
            }
            if t.action != EnrichAction::Replace {
                self.err(
                    codes::E0116,
                    t.span,
                    "a key target only takes action=\"replace\"",
                );
                return None;
            }
        }
        if t.ty == T::Envelope && t.action != EnrichAction::Replace {
            self.err(
                codes::E0116,
                t.span,
                "an envelope target only takes action=\"replace\"",
            );
            return None;
        }
        Some(())
    }

    /// W0101 for `names` present on `el` but not in `used`.
    fn ignored_attrs(&mut self, el: El<'d, 'a>, names: &[&str], used: &[&str]) {
        for n in names {
            if used.contains(n) {
                continue;
            }
            if let Some(a) = el.attr(n) {
                self.diags.push(Diagnostic::warning(
                    codes::W0101,
                    a.name_span,
                    format!("{n}= is ignored on this <{}>", el.qname),
                ));
            }
        }
    }

    // === makefault ===

    fn makefault(&mut self, el: El<'d, 'a>) -> Option<MakeFault> {
        self.check_attrs(el, &["version", "response", "description"]);
        let version = match el.attr("version") {
            None => Some(FaultVersion::Soap11),
            Some(a) => match &*a.value {
                "soap11" => Some(FaultVersion::Soap11),
                "soap12" => Some(FaultVersion::Soap12),
                "pox" => Some(FaultVersion::Pox),
                other => {
                    self.err(
                        codes::E0106,
                        a.value_span,
                        format!("makefault version=\"{other}\": expected soap11, soap12 or pox"),
                    );
                    None
                }
            },
        };
        let response = self.bool_attr(el, "response").unwrap_or(false);
        let mut ok = version.is_some();
        let version = version.unwrap_or(FaultVersion::Soap11);
        let mut seen: Vec<&str> = Vec::new();
        let mut code = None;
        let mut reason = None;
        let mut node = None;
        let mut role = None;
        let mut detail = None;
        for child in self.children(el) {
            let name = self.syn_name(child);
            let Some(n @ ("code" | "reason" | "node" | "role" | "detail")) = name else {
                if name != Some("description") {
                    self.unknown_element(child, el);
                }
                continue;
            };
            if seen.contains(&n) {
                self.dup_element(child);
                continue;
            }
            seen.push(n);
            match n {
                "code" => {
                    code = self.fault_code(child, version);
                    ok &= code.is_some();
                }
                "reason" => {
                    reason = self.fault_text(child);
                    ok &= reason.is_some();
                }
                "node" | "role" => {
                    self.check_attrs(child, &[]);
                    let (text, span) = self.text_of(child);
                    let v = Spanned::new(text.trim().to_string(), span);
                    if n == "role" {
                        role = Some(v);
                    } else if version == FaultVersion::Soap11 {
                        self.diags.push(Diagnostic::warning(
                            codes::W0101,
                            child.name_span,
                            "<node> is ignored in a SOAP 1.1 fault",
                        ));
                    } else {
                        node = Some(v);
                    }
                }
                _ => detail = Some(self.fault_detail(child)),
            }
        }
        if version != FaultVersion::Pox {
            for (n, present) in [
                ("code", seen.contains(&"code")),
                ("reason", seen.contains(&"reason")),
            ] {
                if !present {
                    self.err(
                        codes::E0114,
                        el.name_span,
                        format!("<makefault> needs a <{n}> (only a pox fault may omit it)"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(MakeFault {
            version,
            response,
            code,
            reason,
            node,
            role,
            detail,
        })
    }

    fn fault_text(&mut self, el: El<'d, 'a>) -> Option<FaultText> {
        self.check_attrs(el, &["value", "expression"]);
        self.no_children(el);
        match (el.attr("value"), el.attr("expression")) {
            (Some(v), None) => Some(FaultText::Value(self.spanned(v))),
            (None, Some(e)) => Some(FaultText::Expression(self.expr(el, e))),
            (Some(_), Some(e)) => {
                self.err(
                    codes::E0115,
                    e.name_span,
                    format!(
                        "<{}> takes either value= or expression=, not both",
                        el.qname
                    ),
                );
                None
            }
            (None, None) => {
                self.err(
                    codes::E0105,
                    el.name_span,
                    format!("<{}> needs value= or expression=", el.qname),
                );
                None
            }
        }
    }

    fn fault_code(&mut self, el: El<'d, 'a>, version: FaultVersion) -> Option<FaultCode> {
        match self.fault_text(el)? {
            FaultText::Expression(e) => Some(FaultCode::Expression(e)),
            FaultText::Value(v) => {
                let Some((prefix, local)) = v.value.split_once(':') else {
                    self.err(
                        codes::E0106,
                        v.span,
                        format!(
                            "fault code `{}` must be a QName such as soap11Env:Server",
                            v.value
                        ),
                    );
                    return None;
                };
                let Some(ns) = self.doc.resolve(el.scope, prefix).filter(|u| !u.is_empty()) else {
                    self.err(
                        codes::E0106,
                        v.span,
                        format!(
                            "fault code `{}`: namespace prefix `{prefix}` is not declared",
                            v.value
                        ),
                    );
                    return None;
                };
                let ns = ns.to_string();
                let allowed: &[&str] = match version {
                    FaultVersion::Soap11 => {
                        &["VersionMismatch", "MustUnderstand", "Client", "Server"]
                    }
                    FaultVersion::Soap12 => &[
                        "VersionMismatch",
                        "MustUnderstand",
                        "DataEncodingUnknown",
                        "Sender",
                        "Receiver",
                    ],
                    FaultVersion::Pox => &[],
                };
                let env_ns = match version {
                    FaultVersion::Soap11 => SOAP11_ENV_NS,
                    _ => SOAP12_ENV_NS,
                };
                if version != FaultVersion::Pox {
                    if ns != env_ns {
                        self.err(
                            codes::E0106,
                            v.span,
                            format!(
                                "fault code `{}`: its namespace must be the SOAP envelope \
                                 namespace {env_ns}",
                                v.value
                            ),
                        );
                        return None;
                    }
                    if !allowed.contains(&local) {
                        self.err(
                            codes::E0106,
                            v.span,
                            format!(
                                "fault code `{}`: expected one of {}",
                                v.value,
                                allowed.join(", ")
                            ),
                        );
                        return None;
                    }
                }
                Some(FaultCode::Value {
                    ns,
                    prefix: prefix.to_string(),
                    local: local.to_string(),
                    span: v.span,
                })
            }
        }
    }

    fn fault_detail(&mut self, el: El<'d, 'a>) -> FaultDetail {
        self.check_attrs(el, &["expression"]);
        if let Some(e) = el.attr("expression") {
            self.no_children(el);
            return FaultDetail::Expression(self.expr(el, e));
        }
        let elems: Vec<Spanned<String>> = el
            .elements()
            .map(|c| Spanned::new(ser::element(self.doc, c), c.span))
            .collect();
        if !elems.is_empty() {
            return FaultDetail::Elements(elems);
        }
        let (text, span) = self.raw_content(el);
        FaultDetail::Text(Spanned::new(text, span))
    }

    // === endpoints ===

    fn endpoint(&mut self, el: El<'d, 'a>) -> Option<Endpoint> {
        self.check_attrs(
            el,
            &[
                "name",
                "key",
                "template",
                "uri",
                "description",
                "key-expression",
                "onError",
            ],
        );
        let name = self.attr_s(el, "name");
        if let Some(key) = self.attr_s(el, "key") {
            if let Some(c) = el.elements().next() {
                self.err(
                    codes::E0115,
                    c.name_span,
                    "an <endpoint key=…> references a named endpoint and takes no definition",
                );
            }
            return Some(Endpoint {
                span: el.span,
                name,
                kind: EndpointKind::Key(key),
                timeout_ms: None,
            });
        }
        if el.attr("template").is_some() || el.attr("key-expression").is_some() {
            let kind = if el.attr("template").is_some() {
                "template"
            } else {
                "key-expression"
            };
            return Some(Endpoint {
                span: el.span,
                name,
                kind: EndpointKind::Unsupported { kind: kind.into() },
                timeout_ms: None,
            });
        }
        let mut kind: Option<EndpointKind> = None;
        let mut timeout_ms = None;
        let mut seen_kind = false;
        for child in self.children(el) {
            let Some(n) = self.syn_name(child) else {
                self.unknown_element(child, el);
                continue;
            };
            let this = match n {
                "http" => {
                    self.check_attrs(
                        child,
                        &[
                            "method",
                            "uri-template",
                            "format",
                            "optimize",
                            "encoding",
                            "statistics",
                            "trace",
                            "description",
                        ],
                    );
                    let method = self.attr_s(child, "method");
                    // the method name is checked by engine::compile
                    let uri_template = self.required(child, "uri-template");
                    if let Some(u) = &uri_template {
                        self.placeholder(u);
                    }
                    timeout_ms = timeout_ms.or(self.endpoint_options(child));
                    uri_template.map(|uri_template| EndpointKind::Http {
                        method,
                        uri_template,
                    })
                }
                "address" => {
                    self.check_attrs(
                        child,
                        &[
                            "uri",
                            "format",
                            "optimize",
                            "encoding",
                            "statistics",
                            "trace",
                            "description",
                        ],
                    );
                    let uri = self.required(child, "uri");
                    if let Some(u) = &uri {
                        self.placeholder(u);
                    }
                    timeout_ms = timeout_ms.or(self.endpoint_options(child));
                    uri.map(|uri| EndpointKind::Address { uri })
                }
                "default" => {
                    self.check_attrs(
                        child,
                        &["format", "optimize", "encoding", "statistics", "trace"],
                    );
                    timeout_ms = timeout_ms.or(self.endpoint_options(child));
                    Some(EndpointKind::Default)
                }
                "wsdl" | "loadbalance" | "failover" | "recipientlist" | "session"
                | "dynamicLoadbalance" => Some(EndpointKind::Unsupported {
                    kind: n.to_string(),
                }),
                "property" | "parameter" | "description" => continue,
                _ => {
                    self.unknown_element(child, el);
                    continue;
                }
            };
            if seen_kind {
                self.err(
                    codes::E0111,
                    child.name_span,
                    "an <endpoint> has exactly one definition (address, http, default, …)",
                );
                continue;
            }
            seen_kind = true;
            kind = this;
        }
        if !seen_kind {
            self.err(
                codes::E0114,
                el.name_span,
                "<endpoint> needs key= or a definition such as <address uri=…/> or \
                 <http uri-template=…/>",
            );
        }
        Some(Endpoint {
            span: el.span,
            name,
            kind: kind?,
            timeout_ms,
        })
    }

    /// Children of `<address>`/`<http>`/`<default>`: returns `<timeout><duration>` in ms.
    fn endpoint_options(&mut self, el: El<'d, 'a>) -> Option<Spanned<u64>> {
        let mut out = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("timeout") => {
                    for t in self.children(child) {
                        match self.syn_name(t) {
                            Some("duration") => {
                                let (text, span) = self.text_of(t);
                                match text.trim().parse::<u64>() {
                                    Ok(ms) => out = Some(Spanned::new(ms, span)),
                                    Err(_) => self.err(
                                        codes::E0106,
                                        span,
                                        format!(
                                            "timeout duration `{}` is not a number of \
                                             milliseconds",
                                            text.trim()
                                        ),
                                    ),
                                }
                            }
                            Some("responseAction" | "action") => {}
                            _ => self.unknown_element(t, child),
                        }
                    }
                }
                // QoS and resilience options synaptic does not interpret (yet)
                Some(
                    "suspendOnFailure" | "markForSuspension" | "retryConfig" | "enableSec"
                    | "enableAddressing" | "enableRM" | "authentication" | "description"
                    | "property" | "parameter",
                ) => {}
                _ => self.unknown_element(child, el),
            }
        }
        out
    }
}

const SOAP11_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// `json-eval($)` / `json-eval($.)` (whitespace ignored).
fn is_json_root(text: &str) -> bool {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    t == "json-eval($)" || t == "json-eval($.)"
}

fn source_type_name(t: EnrichSourceType) -> &'static str {
    match t {
        EnrichSourceType::Custom => "custom",
        EnrichSourceType::Envelope => "envelope",
        EnrichSourceType::Body => "body",
        EnrichSourceType::Property => "property",
        EnrichSourceType::Inline => "inline",
    }
}

fn target_type_name(t: EnrichTargetType) -> &'static str {
    match t {
        EnrichTargetType::Custom => "custom",
        EnrichTargetType::Envelope => "envelope",
        EnrichTargetType::Body => "body",
        EnrichTargetType::Property => "property",
        EnrichTargetType::Key => "key",
    }
}

// === impl Cx: helpers ===

impl<'d, 'a> Cx<'d, 'a> {
    fn err(&mut self, code: Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::at(code, span, msg));
    }

    /// The local name of a Synapse element (also accepts no namespace, once warned), or None
    /// for a foreign namespace.
    fn syn_name(&mut self, el: El<'d, 'a>) -> Option<&'d str> {
        if el.ns == SYNAPSE_NS {
            return Some(el.local());
        }
        if el.ns.is_empty() {
            if !self.warned_ns {
                self.warned_ns = true;
                self.diags.push(
                    Diagnostic::warning(
                        codes::W0102,
                        el.name_span,
                        format!(
                            "<{}> is not in the Synapse namespace; synaptic accepts it, Synapse \
                             does not",
                            el.qname
                        ),
                    )
                    .with_note(format!(
                        "declare xmlns=\"{SYNAPSE_NS}\" on the root element"
                    )),
                );
            }
            return Some(el.local());
        }
        None
    }

    fn syn_name_quiet(&self, el: El<'d, 'a>) -> Option<&'d str> {
        if el.ns == SYNAPSE_NS || el.ns.is_empty() {
            Some(el.local())
        } else {
            None
        }
    }

    /// Child elements; non-blank text among them is E0110 (once).
    fn children(&mut self, el: El<'d, 'a>) -> Vec<El<'d, 'a>> {
        let mut out = Vec::new();
        let mut reported = false;
        for c in &el.children {
            match c {
                Node::Element(e) => out.push(e),
                Node::Pi(_) => {}
                Node::Text { text, span, cdata } => {
                    if !reported && (*cdata || !text.trim().is_empty()) {
                        reported = true;
                        self.err(
                            codes::E0110,
                            *span,
                            format!("unexpected text in <{}>", el.qname),
                        );
                    }
                }
            }
        }
        out
    }

    /// A mediator without content: allowed attributes only, no children.
    fn leaf(&mut self, el: El<'d, 'a>, allowed: &[&str]) {
        self.check_attrs(el, allowed);
        self.no_children(el);
    }

    fn no_children(&mut self, el: El<'d, 'a>) {
        for c in self.children(el) {
            if self.syn_name_quiet(c) == Some("description") {
                continue;
            }
            self.err(
                codes::E0103,
                c.name_span,
                format!("unexpected element <{}> in <{}>", c.qname, el.qname),
            );
        }
    }

    fn unknown_element(&mut self, el: El<'d, 'a>, parent: El<'d, 'a>) {
        let hint = if el.ns == SYNAPSE_NS || el.ns.is_empty() {
            did_you_mean(el.local(), known_children(parent.local()))
        } else {
            String::new()
        };
        self.err(
            codes::E0103,
            el.name_span,
            format!("unknown element <{}> in <{}>{hint}", el.qname, parent.qname),
        );
    }

    fn dup_element(&mut self, el: El<'d, 'a>) {
        self.err(
            codes::E0111,
            el.name_span,
            format!("duplicate <{}> (only the first one is used)", el.qname),
        );
    }

    /// E0104 for unprefixed attributes not in `allowed` (namespace declarations and namespaced
    /// attributes are left alone).
    fn check_attrs(&mut self, el: El<'d, 'a>, allowed: &[&str]) {
        for a in &el.attrs {
            if a.is_xmlns() || a.prefix().is_some() {
                continue;
            }
            if !allowed.contains(&&*a.qname) {
                let hint = if allowed.is_empty() {
                    String::from(" (it takes no attributes)")
                } else {
                    match did_you_mean(&a.qname, allowed) {
                        h if h.is_empty() => {
                            format!(" (expected one of: {})", allowed.join(", "))
                        }
                        h => h,
                    }
                };
                self.err(
                    codes::E0104,
                    a.name_span,
                    format!("unknown attribute `{}` on <{}>{hint}", a.qname, el.qname),
                );
            }
        }
    }

    fn spanned(&self, a: &Attr<'a>) -> Spanned<String> {
        Spanned::new(a.value.to_string(), a.value_span)
    }

    fn attr_s(&self, el: El<'d, 'a>, name: &str) -> Option<Spanned<String>> {
        el.attr(name).map(|a| self.spanned(a))
    }

    fn required(&mut self, el: El<'d, 'a>, name: &str) -> Option<Spanned<String>> {
        let v = self.attr_s(el, name);
        if v.is_none() {
            self.missing_attr(el, name);
        }
        v
    }

    /// A required attribute whose absence is explained by `msg` (E0105).
    fn required_because(
        &mut self,
        el: El<'d, 'a>,
        name: &str,
        msg: &str,
    ) -> Option<Spanned<String>> {
        let v = self.attr_s(el, name);
        if v.is_none() {
            self.err(codes::E0105, el.name_span, msg);
        }
        v
    }

    /// A required expression attribute whose absence is explained by `msg` (E0105).
    fn required_expr(&mut self, el: El<'d, 'a>, name: &str, msg: &str) -> Option<Expr> {
        let v = el.attr(name).map(|a| self.expr(el, a));
        if v.is_none() {
            self.err(codes::E0105, el.name_span, msg);
        }
        v
    }

    fn missing_attr(&mut self, el: El<'d, 'a>, name: &str) {
        self.err(
            codes::E0105,
            el.name_span,
            format!("<{}> is missing the required attribute `{name}`", el.qname),
        );
    }

    fn bool_attr(&mut self, el: El<'d, 'a>, name: &str) -> Option<bool> {
        let a = el.attr(name)?;
        self.bool_value(a)
    }

    fn bool_value(&mut self, a: &Attr<'a>) -> Option<bool> {
        match &*a.value {
            "true" => Some(true),
            "false" => Some(false),
            other => {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!("{}=\"{other}\": expected true or false", a.qname),
                );
                None
            }
        }
    }

    fn expr(&self, el: El<'d, 'a>, a: &Attr<'a>) -> Expr {
        Expr {
            text: a.value.to_string(),
            span: a.value_span,
            namespaces: self.doc.in_scope(el.scope),
        }
    }

    /// E0112 for the documentation placeholders left in a value.
    fn placeholder(&mut self, v: &Spanned<String>) {
        for (ph, fix) in PLACEHOLDERS {
            if let Some(i) = v.value.find(ph) {
                // exact span when the raw text has no references before the placeholder
                let raw_start = v.span.start as usize;
                let span = if v.value.is_char_boundary(i)
                    && (v.span.end - v.span.start) as usize == v.value.len()
                {
                    Span::new(self.src, raw_start + i, raw_start + i + ph.len())
                } else {
                    v.span
                };
                self.err(
                    codes::E0112,
                    span,
                    format!("unfilled documentation placeholder `{ph}`: {fix}"),
                );
            }
        }
    }

    /// Text content of an element (text and CDATA, entities resolved), and its span.
    fn text_of(&mut self, el: El<'d, 'a>) -> (String, Span) {
        let mut text = String::new();
        let mut span: Option<Span> = None;
        for c in &el.children {
            match c {
                Node::Text {
                    text: t, span: s, ..
                } => {
                    text.push_str(t);
                    span = Some(match span {
                        Some(sp) => Span { end: s.end, ..sp },
                        None => *s,
                    });
                }
                Node::Pi(_) => {}
                Node::Element(e) => {
                    self.err(
                        codes::E0103,
                        e.name_span,
                        format!(
                            "unexpected element <{}> in <{}>: text expected",
                            e.qname, el.qname
                        ),
                    );
                }
            }
        }
        (text, span.unwrap_or(el.span))
    }

    /// Content of a json/text `<format>`: text and CDATA as written, elements serialized.
    fn raw_content(&mut self, el: El<'d, 'a>) -> (String, Span) {
        let mut text = String::new();
        let mut span: Option<Span> = None;
        for c in &el.children {
            let s = match c {
                Node::Text {
                    text: t, span: s, ..
                } => {
                    text.push_str(t);
                    *s
                }
                Node::Element(e) => {
                    text.push_str(&ser::element(self.doc, e));
                    e.span
                }
                Node::Pi(_) => continue,
            };
            span = Some(match span {
                Some(sp) => Span { end: s.end, ..sp },
                None => s,
            });
        }
        (text, span.unwrap_or(el.span))
    }
}
