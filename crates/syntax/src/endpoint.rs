//! `<endpoint>`: a key, or one definition (`<address>`, `<http>`, `<default>`; other kinds are
//! kept as unsupported), with its `<timeout>`. Used by `<call>`, `<send>`, proxies and
//! top-level endpoints.

use synaptic_diag::{codes, Spanned};

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
    pub(crate) fn endpoint_options(&mut self, el: El<'d, 'a>) -> Option<Spanned<u64>> {
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
