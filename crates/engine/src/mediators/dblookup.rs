//! `<dblookup>`: each statement's query runs in order; its `<result>`s set default-scope
//! properties (as text) from the first row, a NULL column or no row leaving them alone, as in
//! Synapse. A failure is a fault. The data source, parameters and execution are shared with
//! `<dbreport>` in `crate::db`.

use crate::compiler::Compiler;
use crate::db::{self, DbOp};
use crate::{Engine, MediationError, MessageContext};
use synaptic_diag::Span;
use synaptic_syntax::ast;

pub(crate) fn compile(c: &mut Compiler<'_>, m: &ast::DbMediator) -> Option<DbOp> {
    db::compile(c, m, true)
}

pub(crate) async fn run(
    engine: &Engine,
    op: &DbOp,
    ctx: &mut MessageContext,
    span: Span,
) -> Result<(), MediationError> {
    db::run(engine, op, ctx, span).await
}

/// Expressions of its parameters.
pub(crate) fn exprs(op: &DbOp, f: &mut dyn FnMut(&synaptic_expr::CompiledExpr)) {
    db::exprs(op, f)
}

pub(crate) fn syn_exprs<'a>(op: &'a DbOp, out: &mut Vec<&'a synaptic_expr::synexpr::SynExpr>) {
    db::syn_exprs(op, out)
}
