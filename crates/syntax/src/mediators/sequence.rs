//! `<sequence key="…"/>` in a mediator list: a reference to a named sequence, or, written
//! `key="{expression}"`, a dynamic key whose value names the sequence when a message gets
//! there (an inline anonymous `<sequence>` is not supported yet).

use synaptic_diag::codes;

use crate::ast::{MediatorKind, SequenceKey};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn sequence_ref(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        Some(if el.attr("key").is_none() {
            self.err(
                codes::E0108,
                el.name_span,
                "mediator <sequence> without key= (an inline anonymous sequence) is not \
                     supported yet",
            );
            MediatorKind::Unsupported {
                name: "sequence".into(),
            }
        } else {
            self.leaf(el, &["key", "description"]);
            let a = el.attr("key")?;
            match self.dynamic_key(el, a) {
                Some(e) => MediatorKind::SequenceRef(SequenceKey::Dynamic(e)),
                None => MediatorKind::SequenceRef(SequenceKey::Static(self.static_key(a))),
            }
        })
    }
}
