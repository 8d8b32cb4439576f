//! `<call blocking=…>` with an optional `<endpoint>`.

use synaptic_diag::codes;

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn call(&mut self, el: El<'d, 'a>) -> Call {
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
}
