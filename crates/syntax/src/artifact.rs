//! Artifact roots: `<sequence>`, `<definitions>`, `<api>` (resources and their flows),
//! `<proxy>`, `<template>`, `<localEntry>` and top-level `<endpoint>`s.

use synaptic_diag::{codes, Diagnostic, SourceId, Span, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};
use crate::ser;
use crate::xml::{Document, Node};
use crate::SYNAPSE_NS;

/// The proxy `<parameter>`s synaptic acts on (the others are W0125): the safe mode of a
/// published WSDL, and those Axis2 reads when it prints a proxy's WSDL and schemas.
pub(crate) const HONOURED_PROXY_PARAMETERS: &[&str] = &[
    "enablePublishWSDLSafeMode",
    "useOriginalwsdl",
    "modifyUserWSDLPortAddress",
    "showAbsoluteSchemaURL",
    "showProxySchemaURL",
    "generateAbsoluteLocationURIs",
    "disableSOAP11",
    "disableSOAP12",
    "disableREST",
    "portTypeName",
    "soap11BindingName",
    "soap12BindingName",
    "restBindingName",
];

/// Top-level configuration kinds inside `<definitions>` that synaptic skips with W0103.
const SKIPPED_ARTIFACTS: &[&str] = &[
    "registry",
    "taskManager",
    "task",
    "import",
    "eventSource",
    "executor",
    "inboundEndpoint",
    "dataSource",
    "priorityExecutor",
    "sequenceTemplate",
    "unit-test",
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

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn root(&mut self, root: El<'d, 'a>) {
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
            "messageStore" => self.message_store(root),
            "messageProcessor" => self.message_processor(root),
            other => self.err(
                codes::E0109,
                root.name_span,
                format!(
                    "<{other}> cannot be the root: expected <sequence>, <definitions>, <api>, \
                     <proxy>, <template>, <localEntry>, <endpoint>, <messageStore> or \
                     <messageProcessor>"
                ),
            ),
        }
    }

    pub(crate) fn definitions(&mut self, el: El<'d, 'a>) {
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
                "messageStore" => self.message_store(child),
                "messageProcessor" => self.message_processor(child),
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
    pub(crate) fn named_sequence(&mut self, el: El<'d, 'a>, key: Option<&Spanned<String>>) {
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
    pub(crate) fn anonymous_sequence(&mut self, el: El<'d, 'a>, name: String) -> FlowRef {
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

    pub(crate) fn api(&mut self, el: El<'d, 'a>) {
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
        let mut other = self.attrs_named(el, &["binds-to"]);
        let mut resources = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("resource") => {
                    let i = resources.len();
                    resources.push(self.resource(child, &format!("api:{api_name}/resource[{i}]")));
                }
                Some("handlers") => other.push(Spanned::new("<handlers>".into(), child.name_span)),
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if let (Some(name), Some(context)) = (name, context) {
            self.art.apis.push(Api {
                span: el.span,
                name,
                context,
                version: self.attr_s(el, "version"),
                version_type: self.attr_s(el, "version-type"),
                resources,
                hostname: self.attr_s(el, "hostname"),
                port: self.attr_s(el, "port"),
                transports: self.attr_s(el, "transports"),
                other,
            });
        }
    }

    pub(crate) fn resource(&mut self, el: El<'d, 'a>, prefix: &str) -> Resource {
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
            protocol: self.attr_s(el, "protocol"),
            content_type: self.attr_s(el, "content-type"),
            user_agent: self.attr_s(el, "user-agent"),
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
    pub(crate) fn flows(
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

    /// A proxy's `<publishWSDL>`: which of `endpoint`, `key`, `uri` and an inline document
    /// Synapse's `ProxyServiceFactory` takes (in that order), and its `<resource>`s.
    fn publish_wsdl(&mut self, el: El<'d, 'a>) -> PublishWsdl {
        self.check_attrs(el, &["uri", "key", "endpoint", "preservePolicy"]);
        let mut resources = Vec::new();
        let mut inline = None;
        for c in el.elements() {
            if self.syn_name(c) == Some("resource") {
                self.check_attrs(c, &["location", "key"]);
                if let (Some(l), Some(k)) = (self.required(c, "location"), self.required(c, "key"))
                {
                    resources.push((l, k));
                }
                continue;
            }
            let wsdl = (c.ns == crate::wsdl::WSDL11_NS && c.local() == "definitions")
                || (c.ns == crate::wsdl::WSDL20_NS && c.local() == "description");
            if wsdl && inline.is_none() {
                inline = Some(Spanned::new(ser::element(self.doc, c), c.span));
            } else {
                self.diags.push(Diagnostic::warning(
                    codes::W0101,
                    c.name_span,
                    format!(
                        "<{}> in <publishWSDL> is ignored: it takes one WSDL 1.1 \
                         <wsdl:definitions> or WSDL 2.0 <description> and <resource>s",
                        c.qname
                    ),
                ));
            }
        }
        let attr = |n: &str| self.attr_s(el, n);
        let (endpoint, key, uri) = (attr("endpoint"), attr("key"), attr("uri"));
        let taken = endpoint.is_some() as u8 + key.is_some() as u8 + uri.is_some() as u8;
        let from = match (endpoint, key, uri) {
            (Some(e), _, _) => WsdlFrom::Endpoint(e),
            (None, Some(k), _) => WsdlFrom::Key(k),
            (None, None, Some(u)) => WsdlFrom::Uri(u),
            (None, None, None) => inline.take().map_or(WsdlFrom::Nothing, WsdlFrom::Inline),
        };
        let used = match &from {
            WsdlFrom::Endpoint(_) => "endpoint",
            WsdlFrom::Key(_) => "key",
            _ => "uri",
        };
        if taken > 1 || (taken == 1 && inline.is_some()) {
            self.diags.push(Diagnostic::warning(
                codes::W0101,
                el.name_span,
                format!(
                    "<publishWSDL> names its WSDL more than once: `{used}` is used, as in \
                     Synapse (endpoint, then key, then uri, then the inline document)"
                ),
            ));
        }
        if let Some(p) = self.attr_s(el, "preservePolicy") {
            if p.value.trim() == "false" {
                self.diags.push(Diagnostic::warning(
                    codes::W0101,
                    p.span,
                    "preservePolicy=\"false\" is ignored: the WSDL is published with its \
                     policies",
                ));
            }
        }
        PublishWsdl {
            span: el.name_span,
            from,
            resources,
        }
    }

    pub(crate) fn proxy(&mut self, el: El<'d, 'a>) {
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
            target: None,
            publish_wsdl: None,
            wsdl_safe_mode: false,
            use_original_wsdl: false,
            pinned_servers: self.attr_s(el, "pinnedServers"),
            transports: self.attr_s(el, "transports"),
            description: None,
            parameters: Vec::new(),
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
                        qos: EndpointQos::default(),
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
                Some("publishWSDL") => {
                    if proxy.publish_wsdl.is_some() {
                        self.dup_element(child);
                        continue;
                    }
                    proxy.publish_wsdl = Some(self.publish_wsdl(child));
                }
                Some("parameter") => {
                    // the text; a parameter holding elements (Synapse keeps the XML) has none
                    let text: String = child
                        .children
                        .iter()
                        .map(|c| match c {
                            Node::Text { text, .. } => text.as_ref(),
                            _ => "",
                        })
                        .collect();
                    match child.attr("name").map(|n| n.value.as_ref()) {
                        Some("enablePublishWSDLSafeMode") => {
                            proxy.wsdl_safe_mode = text.trim().eq_ignore_ascii_case("true");
                        }
                        Some("useOriginalwsdl") => {
                            proxy.use_original_wsdl = text.trim() == "true";
                        }
                        _ => {}
                    }
                    if let Some(name) = self.attr_s(child, "name") {
                        if !HONOURED_PROXY_PARAMETERS.contains(&name.value.as_str()) {
                            self.diags.push(Diagnostic::warning(
                                codes::W0125,
                                name.span,
                                format!(
                                    "proxy `{pname}`: the parameter `{}` is not honoured by \
                                     synaptic (it is kept, but changes nothing)",
                                    name.value
                                ),
                            ));
                        }
                        proxy.parameters.push(ProxyParameter {
                            name,
                            value: text.trim().to_string(),
                        });
                    }
                }
                Some("description") => {
                    let (text, _) = self.text_of(child);
                    proxy.description = Some(text.trim().to_string());
                }
                Some("policy" | "enableSec" | "enableRM" | "enableAddressing") => {}
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
        if let Some(t) = self.attr_s(el, "transports") {
            let served = t
                .value
                .split([' ', ','])
                .any(|x| matches!(x.trim(), "http" | "https"));
            if !served && !t.value.trim().is_empty() {
                self.diags.push(Diagnostic::warning(
                    codes::W0342,
                    t.span,
                    format!(
                        "proxy `{pname}`: transports `{}` are not served by synaptic; it is \
                         served over HTTP at /services/{pname}",
                        t.value.trim()
                    ),
                ));
            }
        }
        // the target's endpoint: after the in-sequence (when it goes on), the message is sent
        // there, as Synapse's proxy message receiver does
        if let Some(ep) = &proxy.endpoint {
            let name = format!("proxy:{pname}/target");
            let mut mediators = Vec::new();
            if let Some(i) = &proxy.in_sequence {
                let key = match i {
                    FlowRef::Inline(n) => Spanned::new(n.clone(), ep.span),
                    FlowRef::Key(k) => k.clone(),
                };
                mediators.push(Mediator {
                    span: ep.span,
                    kind: MediatorKind::SequenceRef(SequenceKey::Static(key)),
                });
            }
            mediators.push(Mediator {
                span: ep.span,
                kind: MediatorKind::Send(Send {
                    endpoint: Some(ep.clone()),
                    receive: None,
                }),
            });
            self.art.sequences.push(Sequence {
                name: Spanned::new(name.clone(), ep.span),
                anonymous: true,
                on_error: None,
                span: ep.span,
                mediators,
            });
            proxy.target = Some(name);
        }
        self.art.proxies.push(proxy);
    }

    pub(crate) fn template(&mut self, el: El<'d, 'a>) {
        self.check_attrs(
            el,
            &["name", "onError", "description", "trace", "statistics"],
        );
        let name = self.required(el, "name");
        let tname = name.as_ref().map(|n| n.value.clone()).unwrap_or_default();
        let mut seen = false;
        let mut params = Vec::new();
        let mut sequence = None;
        let mut endpoint = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("sequence") => {
                    if seen {
                        self.dup_element(child);
                        continue;
                    }
                    seen = true;
                    sequence = Some(format!("template:{tname}"));
                    self.anonymous_sequence(child, format!("template:{tname}"));
                }
                Some("parameter") => {
                    // `default` and `optional` are the older spellings (Synapse's EIP library)
                    self.check_attrs(
                        child,
                        &[
                            "name",
                            "defaultValue",
                            "isMandatory",
                            "description",
                            "default",
                            "optional",
                        ],
                    );
                    let mandatory = self.bool_attr(child, "isMandatory").unwrap_or(false)
                        || self.bool_attr(child, "optional") == Some(false);
                    if let Some(n) = self.required(child, "name") {
                        params.push(TemplateParam {
                            name: n,
                            default: self
                                .attr_s(child, "defaultValue")
                                .or_else(|| self.attr_s(child, "default")),
                            mandatory,
                        });
                    }
                }
                // an endpoint template: `$name`, `$uri` and the parameters are replaced where
                // an `<endpoint template>` instantiates it
                Some("endpoint") => {
                    if seen {
                        self.dup_element(child);
                        continue;
                    }
                    seen = true;
                    endpoint = Some(Spanned::new(ser::element(self.doc, child), child.span));
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if let Some(name) = name {
            self.art.templates.push(Template {
                span: el.span,
                name,
                params,
                sequence,
                endpoint,
            });
        }
    }

    pub(crate) fn local_entry(&mut self, el: El<'d, 'a>) {
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

    pub(crate) fn top_endpoint(&mut self, el: El<'d, 'a>) {
        if el.attr("name").is_none() && el.attr("key").is_none() {
            self.missing_attr(el, "name");
        }
        if let Some(ep) = self.endpoint(el) {
            self.art.endpoints.push(ep);
        }
    }
}
