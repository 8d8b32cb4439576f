//! `<filter xpath=…>` or `<filter source=… regex=…>`, with `<then>`/`<else>` or its children.

use synaptic_diag::codes;

use crate::ast::*;
use crate::parse::{Cx, El};
use crate::SYNAPSE_NS;

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn filter(&mut self, el: El<'d, 'a>) -> Option<Filter> {
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
    pub(crate) fn filter_branch(&mut self, child: El<'d, 'a>) -> Vec<Mediator> {
        self.check_attrs(child, &["description", "sequence"]);
        let ms = self.mediators(child);
        match child.attr("sequence") {
            Some(key) => vec![Mediator {
                span: child.span,
                kind: MediatorKind::SequenceRef(SequenceKey::Static(self.spanned(key))),
            }],
            None => ms,
        }
    }
}
