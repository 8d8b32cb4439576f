//! `<store messageStore="name" [sequence="key"]/>`: a copy of the message into a message store
//! (or `messageStore="{xpath}"`: the store named by an XPath read on each message, as Synapse's
//! `MessageStoreMediatorFactory` reads a value in braces).

use synaptic_diag::{codes, Span};

use crate::ast::{Expr, MediatorKind, Store};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn store(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        self.leaf(el, &["messageStore", "sequence", "description"]);
        let store = self.required(el, "messageStore")?;
        // Synapse takes the value as written: braces first and last make it an XPath
        let dynamic = el.attr("messageStore").and_then(|a| {
            let v: &str = &a.value;
            if v.len() < 2 || !v.starts_with('{') || !v.ends_with('}') {
                return None;
            }
            let r = a.value_span.range();
            let span = if r.len() == v.len() {
                Span::new(a.value_span.source, r.start + 1, r.end - 1)
            } else {
                a.value_span
            };
            Some(Expr {
                text: v[1..v.len() - 1].to_string(),
                span,
                namespaces: self.doc.in_scope(el.scope),
            })
        });
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
