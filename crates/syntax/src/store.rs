//! `<messageStore>` and `<messageProcessor>` definitions (root elements, as Micro Integrator
//! projects keep them in `message-stores/` and `message-processors/`, or in `<definitions>`).
//! Their classes and parameters are checked by `engine::compile`, which knows what each class
//! takes.

use synaptic_diag::Spanned;

use crate::ast::{MessageProcessor, MessageStore, StoreParam};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn message_store(&mut self, el: El<'d, 'a>) {
        self.check_attrs(el, &["name", "class", "description"]);
        let name = self.required(el, "name");
        let class = self.attr_s(el, "class");
        let params = self.store_params(el);
        if let Some(name) = name {
            self.art.message_stores.push(MessageStore {
                span: el.span,
                name,
                class,
                params,
            });
        }
    }

    pub(crate) fn message_processor(&mut self, el: El<'d, 'a>) {
        self.check_attrs(
            el,
            &[
                "name",
                "class",
                "messageStore",
                "targetEndpoint",
                "description",
            ],
        );
        let name = self.required(el, "name");
        let class = self.required(el, "class");
        let store = self.required(el, "messageStore");
        let target_endpoint = self.attr_s(el, "targetEndpoint");
        let params = self.store_params(el);
        if let (Some(name), Some(class), Some(store)) = (name, class, store) {
            self.art.message_processors.push(MessageProcessor {
                span: el.span,
                name,
                class,
                store,
                target_endpoint,
                params,
            });
        }
    }

    /// `<parameter name>text</parameter>` children (a repeated name: E0111, the first is used).
    fn store_params(&mut self, el: El<'d, 'a>) -> Vec<StoreParam> {
        let mut out: Vec<StoreParam> = Vec::new();
        for c in self.children(el) {
            match self.syn_name(c) {
                Some("parameter") => {}
                Some("description") => continue,
                _ => {
                    self.unknown_element(c, el);
                    continue;
                }
            }
            // `expression=` (an XPath, e.g. a resequencer's `seqNumXpath`) and `key=` are
            // kept as written, in place of the text
            self.check_attrs(c, &["name", "expression", "key"]);
            let Some(name) = self.required(c, "name") else {
                continue;
            };
            let (text, span) = match self.attr_s(c, "expression").or(self.attr_s(c, "key")) {
                Some(v) => (v.value, v.span),
                None => self.text_of(c),
            };
            if out.iter().any(|p| p.name.value == name.value) {
                self.dup_element(c);
                continue;
            }
            out.push(StoreParam {
                name,
                value: Spanned::new(text.trim().to_string(), span),
            });
        }
        out
    }
}
