//! `<loopback/>`.

use crate::ast::MediatorKind;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn loopback(&mut self, el: El<'d, 'a>) -> MediatorKind {
        self.leaf(el, &["description"]);
        MediatorKind::Loopback
    }
}
