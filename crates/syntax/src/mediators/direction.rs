//! `<in>` / `<out>` (legacy proxy flows): a mediator list for one direction.

use crate::ast::{Dir, MediatorKind};
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn direction(&mut self, el: El<'d, 'a>, name: &str) -> MediatorKind {
        self.check_attrs(el, &["description"]);
        MediatorKind::Direction {
            dir: if name == "in" { Dir::In } else { Dir::Out },
            mediators: self.mediators(el),
        }
    }
}
