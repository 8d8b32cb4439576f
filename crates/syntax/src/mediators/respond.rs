//! `<respond/>`.

use crate::ast::MediatorKind;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn respond(&mut self, el: El<'d, 'a>) -> MediatorKind {
        self.leaf(el, &["description"]);
        MediatorKind::Respond
    }
}
