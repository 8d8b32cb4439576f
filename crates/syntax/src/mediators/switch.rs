//! `<switch source=…>` with `<case regex=…>` children and a `<default>`.

use crate::ast::*;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn switch(&mut self, el: El<'d, 'a>) -> Option<Switch> {
        self.check_attrs(el, &["source", "description"]);
        let source = match el.attr("source") {
            Some(a) => Some(self.expr(el, a)),
            None => {
                self.missing_attr(el, "source");
                None
            }
        };
        let mut cases = Vec::new();
        let mut default: Option<Vec<Mediator>> = None;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("case") => {
                    self.check_attrs(child, &["regex", "description"]);
                    let regex = self.required(child, "regex");
                    let mediators = self.mediators(child);
                    if let Some(regex) = regex {
                        cases.push(Case { regex, mediators });
                    }
                }
                Some("default") => {
                    self.check_attrs(child, &["description"]);
                    let ms = self.mediators(child);
                    if default.is_some() {
                        self.dup_element(child);
                    } else {
                        default = Some(ms);
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        Some(Switch {
            source: source?,
            cases,
            default,
        })
    }
}
