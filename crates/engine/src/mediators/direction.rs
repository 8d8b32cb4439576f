//! `<in>` / `<out>` (legacy proxy flows): the children run only on the request (`in`) or only on
//! the response (`out`).

use crate::compiler::Compiler;
use crate::exec::Step;
use crate::ir::BlockId;
use crate::mediators::{block, Node};
use crate::MessageContext;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct DirectionOp {
    pub response: bool,
    pub body: BlockId,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    dir: ast::Dir,
    mediators: &[ast::Mediator],
) -> DirectionOp {
    let body = block(c, blocks, mediators);
    DirectionOp {
        response: dir == ast::Dir::Out,
        body,
    }
}

pub(crate) fn run(d: &DirectionOp, ctx: &MessageContext) -> Step {
    if d.response == ctx.is_response() {
        Step::Push(d.body)
    } else {
        Step::Next
    }
}
