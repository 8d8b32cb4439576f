//! `<aggregate>`: collect the messages of `<iterate>`/`<clone>` branches (or any messages with
//! the same `<correlateOn>` value) into one, and run `<onComplete>` on it.
//!
//! ```xml
//! <aggregate id="it">
//!   <completeCondition timeout="10"><messageCount min="-1" max="-1"/></completeCondition>
//!   <onComplete expression="//m0:getQuoteResponse"><respond/></onComplete>
//! </aggregate>
//! ```

use synaptic_diag::codes;

use crate::ast::{Aggregate, Expr, Mediator};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn aggregate(&mut self, el: El<'d, 'a>) -> Option<Aggregate> {
        self.check_attrs(el, &["id", "description"]);
        let id = self.attr_s(el, "id");
        let mut correlate: Option<Expr> = None;
        let mut timeout_s = None;
        let mut min = None;
        let mut max = None;
        let mut on_complete: Option<(Expr, Vec<Mediator>)> = None;
        let mut enclosing_property = None;
        let mut element_type = None;
        let mut sequence_key = None;
        let mut seen_oc = false;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("correlateOn") => {
                    self.check_attrs(child, &["expression"]);
                    self.no_children(child);
                    if let Some(a) = child.attr("expression") {
                        correlate = Some(self.expr(child, a));
                    } else {
                        self.missing_attr(child, "expression");
                    }
                }
                Some("completeCondition") => {
                    self.check_attrs(child, &["timeout"]);
                    timeout_s = self.attr_s(child, "timeout");
                    for mc in self.children(child) {
                        match self.syn_name(mc) {
                            Some("messageCount") => {
                                self.check_attrs(mc, &["min", "max"]);
                                self.no_children(mc);
                                min = self.attr_s(mc, "min");
                                max = self.attr_s(mc, "max");
                            }
                            _ => self.unknown_element(mc, child),
                        }
                    }
                }
                Some("onComplete") => {
                    if seen_oc {
                        self.dup_element(child);
                        continue;
                    }
                    seen_oc = true;
                    self.check_attrs(
                        child,
                        &[
                            "expression",
                            "sequence",
                            "enclosingElementProperty",
                            "aggregateElementType",
                        ],
                    );
                    enclosing_property = self.attr_s(child, "enclosingElementProperty");
                    element_type = self.attr_s(child, "aggregateElementType");
                    sequence_key = self.attr_s(child, "sequence");
                    let expr = self.required_expr(
                        child,
                        "expression",
                        "<onComplete> needs `expression=` (what is taken from each message)",
                    );
                    let ms = self.mediators(child);
                    if let Some(e) = expr {
                        on_complete = Some((e, ms));
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        if !seen_oc {
            self.err(
                codes::E0114,
                el.name_span,
                "<aggregate> needs an <onComplete>",
            );
            return None;
        }
        let (expression, on_complete) = on_complete?;
        if sequence_key.is_some() && !on_complete.is_empty() {
            self.err(
                codes::E0115,
                el.name_span,
                "<onComplete> takes `sequence=` or inline mediators, not both",
            );
        }
        Some(Aggregate {
            id,
            correlate,
            timeout_s,
            min,
            max,
            expression,
            enclosing_property,
            element_type,
            sequence_key,
            on_complete,
        })
    }
}
