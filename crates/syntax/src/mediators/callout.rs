//! `<callout>`: a blocking request to a service (`serviceURL`, `endpointKey` or an inline
//! `<endpoint>`) with the payload a `<source>` selects, whose answer goes where a `<target>`
//! says.

use synaptic_diag::{codes, Diagnostic};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn callout(&mut self, el: El<'d, 'a>) -> Option<Callout> {
        self.check_attrs(
            el,
            &[
                "serviceURL",
                "endpointKey",
                "action",
                "useServerConfig",
                "initAxis2ClientOptions",
                "description",
            ],
        );
        if let Some(a) = el.attr("initAxis2ClientOptions") {
            // Synapse compares ignoring case
            if !matches!(a.value.to_ascii_lowercase().as_str(), "true" | "false") {
                self.err(
                    codes::E0106,
                    a.value_span,
                    "initAxis2ClientOptions= takes true or false",
                );
            }
        }
        let service_url = self.attr_s(el, "serviceURL");
        let endpoint_key = self.attr_s(el, "endpointKey");
        let mut endpoint = None;
        let mut source = CalloutSource::Envelope;
        let mut target = CalloutTarget::Envelope;
        let (mut seen_source, mut seen_target, mut seen_endpoint) = (false, false, false);
        let mut complete = true;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("endpoint") if !seen_endpoint => {
                    seen_endpoint = true;
                    endpoint = self.endpoint(child);
                }
                Some("source") if !seen_source => {
                    seen_source = true;
                    match self.callout_source(child) {
                        Some(s) => source = s,
                        None => complete = false,
                    }
                }
                Some("target") if !seen_target => {
                    seen_target = true;
                    match self.callout_target(child) {
                        Some(t) => target = t,
                        None => complete = false,
                    }
                }
                Some("endpoint" | "source" | "target") => self.dup_element(child),
                Some("configuration") => {
                    self.check_attrs(child, &["axis2xml", "repository"]);
                    self.diags.push(Diagnostic::warning(
                        codes::W0360,
                        child.name_span,
                        "<configuration> names an Axis2 client configuration, which synaptic \
                         does not have: it is ignored",
                    ));
                }
                Some("enableSec") => self.err(
                    codes::E0360,
                    child.name_span,
                    "WS-Security in <callout> (<enableSec>) is not supported: the request \
                     would go out unsigned",
                ),
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if !complete {
            return None;
        }
        // Synapse: `serviceURL` first, then `endpointKey`, then the inline endpoint, then the
        // message's `To`
        let endpoint = match (service_url, endpoint_key, endpoint) {
            (Some(url), key, inline) => {
                self.overridden(key.as_ref().map(|k| k.span), "endpointKey=", "serviceURL=");
                self.overridden(inline.as_ref().map(|e| e.span), "<endpoint>", "serviceURL=");
                Some(Endpoint {
                    span: url.span,
                    name: None,
                    kind: EndpointKind::Address { uri: url },
                    timeout_ms: None,
                    qos: EndpointQos::default(),
                })
            }
            (None, Some(key), inline) => {
                self.overridden(
                    inline.as_ref().map(|e| e.span),
                    "<endpoint>",
                    "endpointKey=",
                );
                Some(Endpoint {
                    span: key.span,
                    name: None,
                    kind: EndpointKind::Key(key),
                    timeout_ms: None,
                    qos: EndpointQos::default(),
                })
            }
            (None, None, inline) => inline,
        };
        Some(Callout {
            endpoint,
            action: self.attr_s(el, "action"),
            source,
            target,
        })
    }

    /// W0361: `what` is not used because `winner` is given.
    fn overridden(&mut self, span: Option<synaptic_diag::Span>, what: &str, winner: &str) {
        if let Some(span) = span {
            self.diags.push(Diagnostic::warning(
                codes::W0361,
                span,
                format!("{what} is not used: {winner} takes precedence, as in Synapse"),
            ));
        }
    }

    fn callout_source(&mut self, el: El<'d, 'a>) -> Option<CalloutSource> {
        self.check_attrs(el, &["xpath", "key", "type"]);
        if el.attr("type").is_some_and(|t| &*t.value == "envelope") {
            return Some(CalloutSource::Envelope);
        }
        if let Some(a) = el.attr("xpath") {
            return Some(CalloutSource::XPath(self.expr(el, a)));
        }
        if let Some(k) = self.attr_s(el, "key") {
            return Some(CalloutSource::Key(k));
        }
        self.err(
            codes::E0105,
            el.name_span,
            "a callout <source> needs xpath=, key= or type=\"envelope\"",
        );
        None
    }

    fn callout_target(&mut self, el: El<'d, 'a>) -> Option<CalloutTarget> {
        self.check_attrs(el, &["xpath", "key"]);
        if let Some(a) = el.attr("xpath") {
            return Some(CalloutTarget::XPath(self.expr(el, a)));
        }
        if let Some(k) = self.attr_s(el, "key") {
            return Some(CalloutTarget::Key(k));
        }
        self.err(
            codes::E0105,
            el.name_span,
            "a callout <target> needs xpath= or key=",
        );
        None
    }
}
