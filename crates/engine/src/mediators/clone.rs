//! `<clone>`: one copy of the message per `<target>`, each a branch of a fan-out the
//! interpreter runs ([`crate::eip::Fork`]). As Synapse's `CloneMediator`, each copy carries
//! `messageSequence[.id]` = `index/count` and `aggregateCorelation[.id]` for `<aggregate>`.

use crate::compiler::Compiler;
use crate::eip::{mark_branch, new_fork, Branch, Fork, TargetIr};
use crate::exec::Step;
use crate::mediators::{eip_target, Node};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct CloneOp {
    pub id: Option<String>,
    pub sequential: bool,
    pub continue_parent: bool,
    pub targets: Vec<TargetIr>,
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    cl: &ast::CloneM,
    span: synaptic_diag::Span,
) -> Option<CloneOp> {
    let mut targets = Vec::with_capacity(cl.targets.len());
    let mut ok = true;
    for t in &cl.targets {
        match eip_target(c, blocks, t, span) {
            Some(t) => targets.push(t),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(CloneOp {
        id: cl.id.as_ref().map(|s| s.value.clone()),
        sequential: cl.sequential,
        continue_parent: cl.continue_parent,
        targets,
    })
}

pub(crate) fn run(
    engine: &Engine,
    op: &CloneOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let limit = engine.limits.max_branches as usize;
    if op.targets.len() > limit {
        return Err(MediationError::internal(
            ErrorKind::Limit,
            format!(
                "<clone> has {} targets, more than the limit of {limit}",
                op.targets.len()
            ),
        ));
    }
    let (fork, correlation) = new_fork(ctx);
    let count = op.targets.len();
    let branches = op
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut b = ctx.fork_child();
            mark_branch(&mut b, fork, &correlation, op.id.as_deref(), i, count);
            t.apply(&mut b);
            Branch {
                ctx: b,
                target: t.run,
            }
        })
        .collect();
    Ok(Step::Fork(Box::new(Fork {
        id: fork,
        branches,
        sequential: op.sequential,
        continue_parent: op.continue_parent,
    })))
}
