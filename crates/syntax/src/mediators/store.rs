//! `<store messageStore="name" [sequence="key"]/>`: a copy of the message into a message store
//! (or `messageStore="{xpath}"`: the store named by an XPath read on each message, as Synapse's
//! `MessageStoreMediatorFactory` reads a value in braces).

use synaptic_diag::codes;

use crate::ast::{MediatorKind, Store};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn store(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        self.leaf(el, &["messageStore", "sequence", "description"]);
        let store = self.required(el, "messageStore")?;
        // Synapse takes the value as written: braces first and last make it an XPath
        let dynamic = el.attr("messageStore").and_then(|a| self.braced(el, a));
        let v = store.value.trim();
        if dynamic.as_ref().is_some_and(|e| e.text.trim().is_empty()) {
            self.err(
                codes::E0106,
                store.span,
                "messageStore=\"{}\": an XPath in the braces names the store",
            );
            return None;
        }
        if v.is_empty() {
            self.err(
                codes::E0106,
                store.span,
                "messageStore=\"\": name a message store",
            );
            return None;
        }
        Some(MediatorKind::Store(Store {
            store,
            dynamic,
            sequence: self.attr_s(el, "sequence"),
        }))
    }
}
