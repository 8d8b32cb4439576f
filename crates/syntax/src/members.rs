//! `<loadbalance>` and `<recipientlist>` over static `<member hostName httpPort httpsPort/>`s,
//! as Synapse's `LoadbalanceEndpointFactory` and `RecipientListEndpointFactory` read them:
//! members only (not beside child `<endpoint>`s), each with a host and the port for http and
//! for https.

use synaptic_diag::{codes, Diagnostic, Spanned};

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    /// `<loadbalance failover="…">` whose children are `<member>`s.
    pub(crate) fn member_loadbalance(&mut self, el: El<'d, 'a>) -> Option<EndpointKind> {
        if let Some(a) = self.attr_s(el, "algorithm") {
            if a.value.trim() != "org.apache.synapse.endpoints.algorithms.RoundRobin" {
                self.diags.push(Diagnostic::warning(
                    codes::W0340,
                    a.span,
                    format!(
                        "load-balance algorithm `{}` is not run by synaptic: the members take \
                         turns (round robin)",
                        a.value.trim()
                    ),
                ));
            }
        }
        let failover = self.bool_attr(el, "failover").unwrap_or(true);
        let _ = self.bool_attr(el, "buildMessage");
        let members = self.members(el)?;
        Some(EndpointKind::MemberLoadbalance { members, failover })
    }

    /// `<recipientlist>` whose children are `<member>`s.
    pub(crate) fn member_recipient_list(&mut self, el: El<'d, 'a>) -> Option<EndpointKind> {
        let members = self.members(el)?;
        Some(EndpointKind::MemberRecipientList { members })
    }

    /// The `<member>`s of a group; a child `<endpoint>` beside them is E0115, as Synapse's
    /// factories refuse "both member & endpoint child elements".
    fn members(&mut self, el: El<'d, 'a>) -> Option<Vec<Member>> {
        let mut members = Vec::new();
        let mut ok = true;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("member") => match self.member(child) {
                    Some(m) => members.push(m),
                    None => ok = false,
                },
                Some("endpoint") => {
                    self.err(
                        codes::E0115,
                        child.name_span,
                        format!(
                            "a <{}> takes either <member>s or child <endpoint>s, not both",
                            el.local()
                        ),
                    );
                    ok = false;
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        (ok && !members.is_empty()).then_some(members)
    }

    fn member(&mut self, el: El<'d, 'a>) -> Option<Member> {
        self.check_attrs(el, &["hostName", "httpPort", "httpsPort"]);
        let host = self.required(el, "hostName")?;
        if host.value.trim().is_empty() {
            self.err(codes::E0121, host.span, "a <member> needs a hostName");
            return None;
        }
        let http_port = self.port(el, "httpPort")?;
        let https_port = self.port(el, "httpsPort")?;
        if http_port.is_none() && https_port.is_none() {
            self.err(
                codes::E0105,
                el.name_span,
                "a <member> needs an httpPort or an httpsPort (the port of the transport the \
                 message came in on)",
            );
            return None;
        }
        Some(Member {
            span: el.span,
            host: Spanned::new(host.value.trim().to_string(), host.span),
            http_port,
            https_port,
        })
    }

    /// A port attribute: absent (or an empty `httpsPort`, as Synapse skips it) is `Some(None)`;
    /// a deploy-time parameter (`$…`) is kept for the compiler, which resolves and checks it;
    /// anything else that is not a port number is E0121 and `None`.
    fn port(&mut self, el: El<'d, 'a>, name: &str) -> Option<Option<Spanned<String>>> {
        let Some(a) = self.attr_s(el, name) else {
            return Some(None);
        };
        let t = a.value.trim();
        if t.is_empty() && name == "httpsPort" {
            return Some(None);
        }
        if t.starts_with('$') || port_number(t).is_some() {
            return Some(Some(Spanned::new(t.to_string(), a.span)));
        }
        self.err(
            codes::E0121,
            a.span,
            format!("{name}=\"{t}\" is not a port number"),
        );
        None
    }
}

/// `text` as a member's port: a number from 1 to 65535.
pub fn port_number(text: &str) -> Option<u16> {
    text.trim().parse::<u16>().ok().filter(|p| *p > 0)
}
