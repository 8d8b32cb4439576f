//! `<sequence key="…"/>` in a mediator list: a reference to a named sequence (an inline
//! anonymous `<sequence>` is not supported yet).

use synaptic_diag::codes;

use crate::ast::MediatorKind;
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
            let key = self.attr_s(el, "key")?;
            MediatorKind::SequenceRef(key)
        })
    }
}
