//! `<endpoint>`: a key, a key expression, a template instance, or one definition (`<address>`, `<http>`,
//! `<default>`, the groups `<failover>`, `<loadbalance>` (over `<member>`s too: `members.rs`),
//! `<recipientlist>`; other kinds are kept
//! as unsupported), with its `<timeout>`, `<suspendOnFailure>` and `<markForSuspension>`. Used by
//! `<call>`, `<send>`, proxies, templates and top-level endpoints.

use synaptic_diag::{codes, Diagnostic, Span, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn endpoint(&mut self, el: El<'d, 'a>) -> Option<Endpoint> {
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
                qos: EndpointQos::default(),
            });
        }
        // after `key`, before `template`: the order Synapse's endpoint factory tries them in
        if let Some(a) = el.attr("key-expression") {
            for child in self.children(el) {
                match self.syn_name(child) {
                    Some("description" | "property") => {}
                    _ => self.err(
                        codes::E0115,
                        child.name_span,
                        "an <endpoint key-expression=…> names its endpoint per message and \
                         takes no definition",
                    ),
                }
            }
            return Some(Endpoint {
                span: el.span,
                name,
                kind: EndpointKind::KeyExpression(self.expr(el, a)),
                timeout_ms: None,
                qos: EndpointQos::default(),
            });
        }
        if let Some(target) = self.attr_s(el, "template") {
            let mut params = Vec::new();
            for child in self.children(el) {
                match self.syn_name(child) {
                    Some("parameter") => {
                        self.check_attrs(child, &["name", "value"]);
                        if let (Some(n), Some(v)) =
                            (self.required(child, "name"), self.required(child, "value"))
                        {
                            params.push((n, v));
                        }
                    }
                    Some("description" | "property") => {}
                    _ => self.unknown_element(child, el),
                }
            }
            return Some(Endpoint {
                span: el.span,
                name,
                kind: EndpointKind::Template {
                    target,
                    uri: self.attr_s(el, "uri"),
                    params,
                },
                timeout_ms: None,
                qos: EndpointQos::default(),
            });
        }
        let mut kind: Option<EndpointKind> = None;
        let mut timeout_ms = None;
        let mut qos = EndpointQos::default();
        let mut seen_kind = false;
        for child in self.children(el) {
            let Some(n) = self.syn_name(child) else {
                self.unknown_element(child, el);
                continue;
            };
            let dynamic = (n == "recipientlist")
                .then(|| {
                    child
                        .elements()
                        .find(|c| c.ns == crate::SYNAPSE_NS && c.local() == "endpoints")
                })
                .flatten();
            let this = match n {
                "recipientlist" if dynamic.is_some() => {
                    let ends = dynamic.expect("checked");
                    self.check_attrs(child, &["name"]);
                    self.check_attrs(ends, &["value", "max-cache"]);
                    if child.elements().count() > 1 {
                        self.err(
                            codes::E0115,
                            child.name_span,
                            "a <recipientlist> takes either <endpoints value=…> or child \
                             endpoints, not both",
                        );
                    }
                    self.required(ends, "value").map(|v| {
                        let t = v.value.trim();
                        let value = match ends.attr("value") {
                            Some(a) if t.starts_with('{') && t.ends_with('}') => {
                                let mut e = self.expr(ends, a);
                                e.text = t[1..t.len() - 1].to_string();
                                PropertyValue::Expression(e)
                            }
                            _ => PropertyValue::Literal(v.clone()),
                        };
                        EndpointKind::DynamicRecipientList {
                            value,
                            span: v.span,
                        }
                    })
                }
                "loadbalance"
                    if child
                        .elements()
                        .any(|c| c.ns == crate::SYNAPSE_NS && c.local() == "member") =>
                {
                    self.check_attrs(child, &["algorithm", "failover", "buildMessage", "policy"]);
                    self.member_loadbalance(child)
                }
                "recipientlist"
                    if child
                        .elements()
                        .any(|c| c.ns == crate::SYNAPSE_NS && c.local() == "member") =>
                {
                    self.check_attrs(child, &["name"]);
                    self.member_recipient_list(child)
                }
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
                    timeout_ms = timeout_ms.or(self.endpoint_options(child, &mut qos));
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
                    timeout_ms = timeout_ms.or(self.endpoint_options(child, &mut qos));
                    uri.map(|uri| EndpointKind::Address { uri })
                }
                "default" => {
                    self.check_attrs(
                        child,
                        &["format", "optimize", "encoding", "statistics", "trace"],
                    );
                    timeout_ms = timeout_ms.or(self.endpoint_options(child, &mut qos));
                    Some(EndpointKind::Default)
                }
                "failover" => {
                    self.check_attrs(child, &["dynamic", "buildMessage"]);
                    let dynamic = self.bool_attr(child, "dynamic").unwrap_or(true);
                    let _ = self.bool_attr(child, "buildMessage");
                    self.group_children(child)
                        .map(|children| EndpointKind::Failover { children, dynamic })
                }
                "loadbalance" => {
                    self.check_attrs(child, &["algorithm", "failover", "buildMessage", "policy"]);
                    if let Some(a) = self.attr_s(child, "algorithm") {
                        if a.value.trim() != "org.apache.synapse.endpoints.algorithms.RoundRobin" {
                            self.diags.push(Diagnostic::warning(
                                codes::W0340,
                                a.span,
                                format!(
                                    "load-balance algorithm `{}` is not run by synaptic: the \
                                     children take turns (round robin)",
                                    a.value.trim()
                                ),
                            ));
                        }
                    }
                    let failover = self.bool_attr(child, "failover").unwrap_or(true);
                    let _ = self.bool_attr(child, "buildMessage");
                    self.group_children(child)
                        .map(|children| EndpointKind::Loadbalance { children, failover })
                }
                "recipientlist" => {
                    self.check_attrs(child, &["name"]);
                    self.group_children(child)
                        .map(|children| EndpointKind::RecipientList { children })
                }
                "session" => {
                    self.diags.push(Diagnostic::warning(
                        codes::W0340,
                        child.name_span,
                        "session affinity is not kept by synaptic: every request is balanced \
                         on its own",
                    ));
                    continue;
                }
                "wsdl" => {
                    timeout_ms = timeout_ms.or(self.endpoint_options(child, &mut qos));
                    self.wsdl_endpoint(child)
                }
                "dynamicLoadbalance" => Some(EndpointKind::Unsupported {
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
            qos,
        })
    }

    /// The `<endpoint>` children of a group. A `<member>` of a `<failover>` (or an
    /// `<endpoints>` of a `<failover>` or `<loadbalance>`) is ignored, as Synapse's factories
    /// read only child `<endpoint>`s there (W0301). The same `<endpoint key>` twice is W0344.
    fn group_children(&mut self, el: El<'d, 'a>) -> Option<Vec<Endpoint>> {
        let mut out: Vec<Endpoint> = Vec::new();
        let mut ignored = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("endpoint") => {
                    let Some(e) = self.endpoint(child) else {
                        continue;
                    };
                    if let EndpointKind::Key(k) = &e.kind {
                        let twice = out
                            .iter()
                            .any(|o| matches!(&o.kind, EndpointKind::Key(o) if o.value == k.value));
                        if twice {
                            self.diags.push(Diagnostic::warning(
                                codes::W0344,
                                k.span,
                                format!(
                                    "<endpoint key=\"{}\"/> is already a child of this <{}>: \
                                     each copy is a child of its own (tried again, or given \
                                     another turn)",
                                    k.value,
                                    el.local()
                                ),
                            ));
                        }
                    }
                    out.push(e);
                }
                Some(n @ ("member" | "endpoints")) => {
                    ignored = true;
                    self.diags.push(Diagnostic::warning(
                        codes::W0301,
                        child.name_span,
                        format!(
                            "a <{n}> of a <{}> is ignored, as Synapse ignores it: the group \
                             chooses among its child <endpoint>s",
                            el.local()
                        ),
                    ));
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if out.is_empty() {
            let why = if ignored {
                " (its <member>s and <endpoints> are ignored)"
            } else {
                ""
            };
            self.err(
                codes::E0120,
                el.name_span,
                format!("<{}> needs at least one child <endpoint>{why}", el.local()),
            );
            return None;
        }
        Some(out)
    }

    /// Children of `<address>`/`<http>`/`<default>`: returns `<timeout><duration>` in ms and
    /// fills `qos` from `<timeout><responseAction>`, `<suspendOnFailure>` and
    /// `<markForSuspension>`.
    pub(crate) fn endpoint_options(
        &mut self,
        el: El<'d, 'a>,
        qos: &mut EndpointQos,
    ) -> Option<Spanned<u64>> {
        let mut out = None;
        for child in self.children(el) {
            // an inline WSDL document of a `<wsdl>` endpoint
            if matches!(
                child.ns.as_ref(),
                crate::wsdl::WSDL11_NS | crate::wsdl::WSDL20_NS
            ) {
                continue;
            }
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
                            Some("responseAction" | "action") => {
                                let (text, span) = self.text_of(t);
                                match text.trim() {
                                    "discard" => {
                                        qos.discard_on_timeout = true;
                                        qos.configured = true;
                                    }
                                    "fault" | "never" | "" => {}
                                    other => self.err(
                                        codes::E0121,
                                        span,
                                        format!(
                                            "timeout action `{other}` is not one of \"fault\", \
                                             \"discard\", \"never\""
                                        ),
                                    ),
                                }
                            }
                            _ => self.unknown_element(t, child),
                        }
                    }
                }
                Some("suspendOnFailure") => {
                    qos.configured = true;
                    for t in self.children(child) {
                        match self.syn_name(t) {
                            Some("errorCodes") => qos.suspend_codes = self.error_codes(t),
                            Some("initialDuration") => qos.initial_ms = self.number(t),
                            Some("progressionFactor") => {
                                let (text, span) = self.text_of(t);
                                match text.trim().parse::<f64>() {
                                    Ok(f) if f.is_finite() && f >= 0.0 => qos.progression = Some(f),
                                    _ => self.bad_number(&text, span),
                                }
                            }
                            Some("maximumDuration") => qos.maximum_ms = self.number(t),
                            _ => self.unknown_element(t, child),
                        }
                    }
                }
                Some("markForSuspension") => {
                    qos.configured = true;
                    for t in self.children(child) {
                        match self.syn_name(t) {
                            Some("errorCodes") => qos.timeout_codes = self.error_codes(t),
                            Some("retriesBeforeSuspension") => {
                                qos.retries = self.number(t).map(|n| n.clamp(0, 1000) as u32)
                            }
                            Some("retryDelay") => {
                                qos.retry_delay_ms = self.number(t).map(|n| n.max(0) as u64)
                            }
                            _ => self.unknown_element(t, child),
                        }
                    }
                }
                // QoS options synaptic does not interpret (yet)
                Some(
                    "retryConfig" | "enableSec" | "enableAddressing" | "enableRM"
                    | "authentication" | "description" | "property" | "parameter",
                ) => {}
                _ => self.unknown_element(child, el),
            }
        }
        out
    }

    /// `<wsdl service port (uri | <wsdl:definitions>)>`: the document (inline, or read through
    /// the host for a `uri`) is resolved by `engine::compile`.
    fn wsdl_endpoint(&mut self, el: El<'d, 'a>) -> Option<EndpointKind> {
        self.check_attrs(
            el,
            &[
                "uri",
                "service",
                "port",
                "format",
                "optimize",
                "encoding",
                "statistics",
                "trace",
                "description",
            ],
        );
        let service = self.required(el, "service");
        let port = self.required(el, "port");
        let uri = self.attr_s(el, "uri");
        let inline = el
            .elements()
            .find(|c| c.ns == crate::wsdl::WSDL11_NS && c.local() == "definitions");
        if let Some(d) = el
            .elements()
            .find(|c| c.ns == crate::wsdl::WSDL20_NS && c.local() == "description")
        {
            self.err(
                codes::E0108,
                d.name_span,
                "WSDL 2.0 endpoints are not supported (as in Synapse): describe the service in \
                 WSDL 1.1",
            );
            return None;
        }
        let inline = match (&uri, inline) {
            (Some(u), Some(d)) => {
                self.err(
                    codes::E0115,
                    d.name_span,
                    format!(
                        "a <wsdl> endpoint takes either uri=\"{}\" or an inline document, not both",
                        u.value
                    ),
                );
                return None;
            }
            (None, None) => {
                self.err(
                    codes::E0114,
                    el.name_span,
                    "a <wsdl> endpoint needs uri=\"…\" or an inline <wsdl:definitions>",
                );
                return None;
            }
            (Some(u), None) => {
                if u.value.trim().is_empty() {
                    self.err(codes::E0106, u.span, "the WSDL uri is empty");
                    return None;
                }
                None
            }
            (None, Some(d)) => Some(Spanned::new(crate::ser::element(self.doc, d), d.name_span)),
        };
        Some(EndpointKind::Wsdl(WsdlEndpoint {
            service: service?,
            port: port?,
            uri,
            inline,
        }))
    }

    fn bad_number(&mut self, text: &str, span: Span) {
        self.err(
            codes::E0121,
            span,
            format!("`{}` is not a number", text.trim()),
        );
    }

    /// A whole number (milliseconds, retries); `None` with E0121 when it is not one.
    fn number(&mut self, el: El<'d, 'a>) -> Option<i64> {
        let (text, span) = self.text_of(el);
        match text.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.bad_number(&text, span);
                None
            }
        }
    }

    /// `<errorCodes>101503, 101504</errorCodes>`.
    fn error_codes(&mut self, el: El<'d, 'a>) -> Vec<i64> {
        let (text, span) = self.text_of(el);
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<i64>() {
                Ok(n) => out.push(n),
                Err(_) => self.err(
                    codes::E0121,
                    span,
                    format!("error code `{part}` is not a number"),
                ),
            }
        }
        out
    }
}
