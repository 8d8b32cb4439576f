//! Phase 2: the element tree → the typed AST, with structural diagnostics. This module holds
//! the parse context ([`Cx`]) and the element-reading helpers every parser shares; artifact roots
//! are read in `artifact`, endpoints in `endpoint`, each mediator in `mediators/<name>.rs`.
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

/// The child elements an element takes (for "did you mean" on an unknown child).
pub(crate) fn known_children(parent: &str) -> &'static [&'static str] {
    match parent {
        "definitions" => &[
            "sequence",
            "api",
            "proxy",
            "template",
            "localEntry",
            "endpoint",
            "messageStore",
            "messageProcessor",
        ],
        "messageStore" | "messageProcessor" => &["parameter"],
        "api" => &["resource", "handlers"],
        "resource" | "target" => &[
            "inSequence",
            "outSequence",
            "faultSequence",
            "endpoint",
            "sequence",
        ],
        "iterate" | "clone" => &["target"],
        "aggregate" => &["correlateOn", "completeCondition", "onComplete"],
        "foreach" => &["sequence"],
        "scatter-gather" => &["aggregation", "sequence"],
        "template" => &["sequence", "parameter", "endpoint"],
        "payloadFactory" => &["format", "args"],
        "args" => &["arg"],
        "call" | "send" => &["endpoint"],
        "call-template" => &["with-param"],
        "log" => &["property"],
        "switch" => &["case", "default"],
        "filter" => &["then", "else"],
        "enrich" => &["source", "target"],
        "makefault" => &["code", "reason", "node", "role", "detail"],
        "rewrite" => &["rewriterule"],
        "rewriterule" => &["condition", "action"],
        "script" => &["include"],
        "dblookup" | "dbreport" => &["connection", "statement"],
        "connection" => &["pool"],
        "pool" => &[
            "driver", "url", "user", "password", "dsName", "icClass", "property",
        ],
        "statement" => &["sql", "parameter", "result"],
        "callout" => &["endpoint", "source", "target", "configuration", "enableSec"],
        "xslt" => &["property", "feature", "attribute", "resource"],
        "throttle" => &["policy", "onAccept", "onReject"],
        "cache" => &["protocol", "onCacheHit", "implementation"],
        "protocol" => &[
            "methods",
            "headersToExcludeInHash",
            "headersToIncludeInHash",
            "responseCodes",
            "enableCacheControl",
            "includeAgeHeader",
            "hashGenerator",
        ],
        "endpoint" => &[
            "address",
            "http",
            "default",
            "wsdl",
            "loadbalance",
            "failover",
            "recipientlist",
        ],
        "failover" | "loadbalance" | "recipientlist" => &["endpoint"],
        _ => &[],
    }
}

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

pub(crate) struct Cx<'d, 'a> {
    pub(crate) src: SourceId,
    pub(crate) doc: &'d Document<'a>,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) warned_ns: bool,
    pub(crate) art: Artifact,
}

pub(crate) type El<'d, 'a> = &'d Element<'a>;

// === impl Cx: attribute patterns several mediators share ===

impl<'d, 'a> Cx<'d, 'a> {
    /// `action=`: `remove`, else set (anything but `set` is a W0302 warning).
    pub(crate) fn action(&mut self, el: El<'d, 'a>) -> PropertyAction {
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
    pub(crate) fn value_or_expression(
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

    /// W0101 for `names` present on `el` but not in `used`.
    pub(crate) fn ignored_attrs(&mut self, el: El<'d, 'a>, names: &[&str], used: &[&str]) {
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
}

// === impl Cx: helpers ===

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn err(&mut self, code: Code, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::at(code, span, msg));
    }

    /// The local name of a Synapse element (also accepts no namespace, once warned), or None
    /// for a foreign namespace.
    pub(crate) fn syn_name(&mut self, el: El<'d, 'a>) -> Option<&'d str> {
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

    pub(crate) fn syn_name_quiet(&self, el: El<'d, 'a>) -> Option<&'d str> {
        if el.ns == SYNAPSE_NS || el.ns.is_empty() {
            Some(el.local())
        } else {
            None
        }
    }

    /// Child elements; non-blank text among them is ignored, as Synapse's factories read
    /// only child elements, with a warning (W0105, once).
    pub(crate) fn children(&mut self, el: El<'d, 'a>) -> Vec<El<'d, 'a>> {
        let mut out = Vec::new();
        let mut reported = false;
        for c in &el.children {
            match c {
                Node::Element(e) => out.push(e),
                Node::Pi(_) => {}
                Node::Text { text, span, cdata } => {
                    if !reported && (*cdata || !text.trim().is_empty()) {
                        reported = true;
                        self.ignored_text(el, *span, "");
                    }
                }
            }
        }
        out
    }

    /// W0105: text where only elements are read, ignored as Synapse ignores it.
    pub(crate) fn ignored_text(&mut self, el: El<'d, 'a>, span: Span, only: &str) {
        self.diags.push(Diagnostic::at(
            codes::W0105,
            span,
            format!(
                "text in <{}> is ignored{only}, as Synapse ignores it",
                el.qname
            ),
        ));
    }

    /// A mediator without content: allowed attributes only, no children.
    pub(crate) fn leaf(&mut self, el: El<'d, 'a>, allowed: &[&str]) {
        self.check_attrs(el, allowed);
        self.no_children(el);
    }

    pub(crate) fn no_children(&mut self, el: El<'d, 'a>) {
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

    pub(crate) fn unknown_element(&mut self, el: El<'d, 'a>, parent: El<'d, 'a>) {
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

    pub(crate) fn dup_element(&mut self, el: El<'d, 'a>) {
        self.err(
            codes::E0111,
            el.name_span,
            format!("duplicate <{}> (only the first one is used)", el.qname),
        );
    }

    /// E0104 for unprefixed attributes not in `allowed` (namespace declarations and namespaced
    /// attributes are left alone).
    pub(crate) fn check_attrs(&mut self, el: El<'d, 'a>, allowed: &[&str]) {
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

    pub(crate) fn spanned(&self, a: &Attr<'a>) -> Spanned<String> {
        Spanned::new(a.value.to_string(), a.value_span)
    }

    /// The attributes of `el` among `names`, as their names at their positions.
    pub(crate) fn attrs_named(&self, el: El<'d, 'a>, names: &[&str]) -> Vec<Spanned<String>> {
        names
            .iter()
            .filter_map(|n| {
                el.attr(n)
                    .map(|a| Spanned::new((*n).to_string(), a.name_span))
            })
            .collect()
    }

    pub(crate) fn attr_s(&self, el: El<'d, 'a>, name: &str) -> Option<Spanned<String>> {
        el.attr(name).map(|a| self.spanned(a))
    }

    pub(crate) fn required(&mut self, el: El<'d, 'a>, name: &str) -> Option<Spanned<String>> {
        let v = self.attr_s(el, name);
        if v.is_none() {
            self.missing_attr(el, name);
        }
        v
    }

    /// A required attribute whose absence is explained by `msg` (E0105).
    pub(crate) fn required_because(
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
    pub(crate) fn required_expr(&mut self, el: El<'d, 'a>, name: &str, msg: &str) -> Option<Expr> {
        let v = el.attr(name).map(|a| self.expr(el, a));
        if v.is_none() {
            self.err(codes::E0105, el.name_span, msg);
        }
        v
    }

    pub(crate) fn missing_attr(&mut self, el: El<'d, 'a>, name: &str) {
        self.err(
            codes::E0105,
            el.name_span,
            format!("<{}> is missing the required attribute `{name}`", el.qname),
        );
    }

    pub(crate) fn bool_attr(&mut self, el: El<'d, 'a>, name: &str) -> Option<bool> {
        let a = el.attr(name)?;
        self.bool_value(a)
    }

    pub(crate) fn bool_value(&mut self, a: &Attr<'a>) -> Option<bool> {
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

    /// A key attribute written `{expression}` (Synapse's `ValueFactory`: a dynamic key): the
    /// expression without its braces, its span narrowed to it when the value is written
    /// without entity references. `None` for a static key, and for an escaped one (`{{…}}`,
    /// the static key `{…}`).
    pub(crate) fn dynamic_key(&self, el: El<'d, 'a>, a: &Attr<'a>) -> Option<Expr> {
        let v: &str = &a.value;
        let escaped = {
            let t = v.trim();
            t.len() > 3 && t.starts_with("{{") && t.ends_with("}}")
        };
        if escaped {
            return None;
        }
        self.braced(el, a)
    }

    /// An attribute written `{…}`: the text between the braces as an expression, its span
    /// narrowed to it when the value is written without entity references. `None` when the
    /// value is not in braces.
    pub(crate) fn braced(&self, el: El<'d, 'a>, a: &Attr<'a>) -> Option<Expr> {
        let v: &str = &a.value;
        if v.len() < 2 || !v.starts_with('{') || !v.ends_with('}') {
            return None;
        }
        let r = a.value_span.range();
        let span = if r.len() == v.len() {
            Span::new(a.value_span.source, r.start + 1, r.end - 1)
        } else {
            a.value_span
        };
        Some(Expr {
            text: v[1..v.len() - 1].to_string(),
            span,
            namespaces: self.doc.in_scope(el.scope),
        })
    }

    /// A static key as Synapse reads it: an escaped `{{…}}` loses one pair of braces.
    pub(crate) fn static_key(&self, a: &Attr<'a>) -> Spanned<String> {
        let t = a.value.trim();
        if t.len() > 3 && t.starts_with("{{") && t.ends_with("}}") {
            return Spanned::new(t[1..t.len() - 1].to_string(), a.value_span);
        }
        self.spanned(a)
    }

    pub(crate) fn expr(&self, el: El<'d, 'a>, a: &Attr<'a>) -> Expr {
        Expr {
            text: a.value.to_string(),
            span: a.value_span,
            namespaces: self.doc.in_scope(el.scope),
        }
    }

    /// E0112 for the documentation placeholders left in a value.
    pub(crate) fn placeholder(&mut self, v: &Spanned<String>) {
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
    pub(crate) fn text_of(&mut self, el: El<'d, 'a>) -> (String, Span) {
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
    pub(crate) fn raw_content(&mut self, el: El<'d, 'a>) -> (String, Span) {
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

// === impl Cx: the `<target>` of `<iterate>` and `<clone>` ===

impl<'d, 'a> Cx<'d, 'a> {
    /// `<target sequence="key" endpoint="key">` with an optional inline `<sequence>` or
    /// `<endpoint>`: exactly one of the four says where the branch goes.
    pub(crate) fn eip_target(&mut self, el: El<'d, 'a>) -> Option<EipTarget> {
        self.check_attrs(
            el,
            &["sequence", "endpoint", "to", "soapAction", "description"],
        );
        // `sequence="anon"` is what Synapse's serializer writes for an inline sequence
        let mut sequence_key = self
            .attr_s(el, "sequence")
            .filter(|k| !(k.value == "anon" && has_child(el, "sequence")));
        let endpoint_key = self
            .attr_s(el, "endpoint")
            .filter(|k| !(k.value == "anon" && has_child(el, "endpoint")));
        let mut sequence = None;
        let mut endpoint = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                // `<sequence key="…"/>` in a target refers to a named sequence
                Some("sequence") if child.attr("key").is_some() && sequence_key.is_none() => {
                    self.check_attrs(child, &["key", "description"]);
                    sequence_key = self.attr_s(child, "key");
                }
                Some("sequence") => {
                    self.check_attrs(
                        child,
                        &["name", "description", "onError", "trace", "statistics"],
                    );
                    let ms = self.mediators(child);
                    if sequence.is_some() {
                        self.dup_element(child);
                    } else {
                        sequence = Some(ms);
                    }
                }
                Some("endpoint") => {
                    let e = self.endpoint(child);
                    if endpoint.is_some() {
                        self.dup_element(child);
                    } else {
                        endpoint = e;
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        let has_seq = sequence_key.is_some() || sequence.is_some();
        let has_ep = endpoint_key.is_some() || endpoint.is_some();
        if !has_seq && !has_ep {
            self.err(
                codes::E0350,
                el.name_span,
                "<target> needs a sequence or an endpoint (a `sequence=`/`endpoint=` key or an \
                 inline <sequence>/<endpoint>)",
            );
            return None;
        }
        if (has_seq && has_ep)
            || (sequence_key.is_some() && sequence.is_some())
            || (endpoint_key.is_some() && endpoint.is_some())
        {
            self.err(
                codes::E0350,
                el.name_span,
                "<target> takes one sequence or one endpoint (send from the sequence to reach an \
                 endpoint after it)",
            );
            return None;
        }
        Some(EipTarget {
            span: el.span,
            sequence_key,
            endpoint_key,
            sequence,
            endpoint,
            to: self.attr_s(el, "to"),
            soap_action: self.attr_s(el, "soapAction"),
        })
    }
}

fn has_child(el: El<'_, '_>, local: &str) -> bool {
    el.children
        .iter()
        .any(|c| matches!(c, Node::Element(e) if e.local() == local))
}
