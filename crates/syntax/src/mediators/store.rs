//! `<store messageStore="name" [sequence="key"]/>`: a copy of the message into a message store
//! (a dynamic store name, `messageStore="{xpath}"`, is not supported yet).

use synaptic_diag::codes;

use crate::ast::{MediatorKind, Store};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn store(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        self.leaf(el, &["messageStore", "sequence", "description"]);
        let store = self.required(el, "messageStore")?;
        let v = store.value.trim();
        if v.starts_with('{') && v.ends_with('}') {
            self.err(
                codes::E0108,
                store.span,
                "<store> with a dynamic message store (messageStore=\"{xpath}\") is not \
                 supported yet: name the store",
            );
            return Some(MediatorKind::Unsupported {
                name: "store".into(),
            });
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
            sequence: self.attr_s(el, "sequence"),
        }))
    }
}
