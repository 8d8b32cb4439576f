//! `<dbreport [useTransaction]>`: SQL statements that change a database, run in order (the
//! connection and statements are read in `db.rs`, shared with `<dblookup>`).

use crate::ast::MediatorKind;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn dbreport(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        Some(MediatorKind::DbReport(Box::new(
            self.db_mediator(el, true)?,
        )))
    }
}
