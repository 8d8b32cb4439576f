//! `<dbreport [useTransaction]>`: each statement runs in order and is committed on its own;
//! `DBREPORT_MODIFIED_RAW_COUNT` gets the count of rows it changed. With
//! `useTransaction="true"` the statements run in one transaction (parameters evaluated first),
//! rolled back if one fails. A failure is a fault. The data source, parameters and execution
//! are shared with `<dblookup>` in `crate::db`.

use crate::compiler::Compiler;
use crate::db::{self, DbOp};
use crate::{Engine, MediationError, MessageContext};
use synaptic_diag::Span;
use synaptic_syntax::ast;

pub(crate) fn compile(c: &mut Compiler<'_>, m: &ast::DbMediator) -> Option<DbOp> {
    db::compile(c, m, false)
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
