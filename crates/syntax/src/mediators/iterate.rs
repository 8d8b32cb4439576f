//! `<iterate>`: split the message by an XPath (or `json-eval(…)`) expression; each part goes to
//! the `<target>` in its own message.
//!
//! ```xml
//! <iterate id="it" expression="//m0:getQuote/m0:request" preservePayload="true"
//!          attachPath="//m0:getQuote">
//!   <target><sequence><send/></sequence></target>
//! </iterate>
//! ```

use synaptic_diag::codes;

use crate::ast::{EipTarget, Iterate};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn iterate(&mut self, el: El<'d, 'a>) -> Option<Iterate> {
        self.check_attrs(
            el,
            &[
                "id",
                "expression",
                "attachPath",
                "preservePayload",
                "sequential",
                "continueParent",
                "description",
            ],
        );
        let id = self.attr_s(el, "id");
        let expression = self.required_expr(
            el,
            "expression",
            "<iterate> needs `expression=` (the XPath or json-eval path of the parts)",
        );
        let attach_path = el.attr("attachPath").map(|a| self.expr(el, a));
        let preserve_payload = self.bool_attr(el, "preservePayload").unwrap_or(false);
        let sequential = self.bool_attr(el, "sequential").unwrap_or(false);
        let continue_parent = self.bool_attr(el, "continueParent").unwrap_or(false);
        if let (Some(a), false) = (el.attr("attachPath"), preserve_payload) {
            self.err(
                codes::E0115,
                a.name_span,
                "`attachPath` needs preservePayload=\"true\" (Synapse refuses it otherwise)",
            );
        }
        let target = self.eip_targets(el, "iterate");
        let mut target = target.into_iter();
        let first = target.next();
        if let Some(extra) = target.next() {
            self.err(
                codes::E0350,
                extra.span,
                "<iterate> takes one <target> (use <clone> for several)",
            );
        }
        let Some(target) = first else {
            self.err(codes::E0114, el.name_span, "<iterate> needs a <target>");
            return None;
        };
        Some(Iterate {
            id,
            expression: expression?,
            attach_path,
            preserve_payload,
            sequential,
            continue_parent,
            target,
        })
    }

    /// The `<target>` children of `<iterate>`/`<clone>`.
    pub(crate) fn eip_targets(&mut self, el: El<'d, 'a>, _mediator: &str) -> Vec<EipTarget> {
        let mut out = Vec::new();
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("target") => {
                    if let Some(t) = self.eip_target(child) {
                        out.push(t);
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        out
    }
}
