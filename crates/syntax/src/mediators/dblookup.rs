//! `<dblookup>`: SQL queries run in order; each `<result name column>` sets a message property
//! from the first row of its statement (the connection and statements are read in `db.rs`,
//! shared with `<dbreport>`).

use crate::ast::MediatorKind;
use crate::parse::{Cx, El};

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn dblookup(&mut self, el: El<'d, 'a>) -> Option<MediatorKind> {
        Some(MediatorKind::DbLookup(Box::new(
            self.db_mediator(el, false)?,
        )))
    }
}
