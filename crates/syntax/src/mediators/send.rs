//! `<send receive=…>` with an optional `<endpoint>`.

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn send(&mut self, el: El<'d, 'a>) -> Send {
        self.check_attrs(el, &["receive", "description", "buildmessage"]);
        if let Some(a) = el.attr("buildmessage") {
            self.bool_value(a);
        }
        let receive = self.attr_s(el, "receive");
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
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Send { endpoint, receive }
    }
}
