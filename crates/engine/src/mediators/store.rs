//! `<store messageStore [sequence]>`: run the optional sequence on the message, then append a
//! copy of it to the message store (through [`crate::SharedState`]); the flow goes on after
//! the mediator, as in Synapse. A full store, or a store that cannot be reached, is a fault.

use crate::compiler::Compiler;
use crate::exec::Step;
use crate::ir::BlockId;
use crate::mediators::{sequence, Node, Op};
use crate::{Engine, ErrorKind, MediationError, MessageContext, Origin};
use synaptic_diag::{codes, Span};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct StoreOp {
    pub store: String,
    pub max_messages: u64,
    /// With `sequence=`: a block running that sequence, then this store without it.
    pub then: Option<BlockId>,
}

/// Synapse's error code for a message the store refused.
pub(crate) const STORE_FAILED: i64 = 101400;

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    s: &ast::Store,
    span: Span,
) -> Option<StoreOp> {
    let Some(def) = c.stores.get(&s.store.value).cloned() else {
        c.err(
            codes::E0370,
            s.store.span,
            format!(
                "no message store named `{}`{}",
                s.store.value,
                crate::store::store_hint(c, &s.store.value)
            ),
        );
        return None;
    };
    let then = match &s.sequence {
        None => None,
        // Synapse's `MessageStoreMediator` runs the sequence only when it finds it
        Some(name)
            if !c.seq_by_name.contains_key(&name.value)
                && !c.opts.external_sequences.contains(&name.value) =>
        {
            if c.is_unavailable(&name.value) {
                c.unavailable_seq(name);
                return None;
            }
            c.diags.push(
                synaptic_diag::Diagnostic::warning(
                    codes::W0304,
                    name.span,
                    format!(
                        "no sequence named `{}` is deployed; as in Synapse, the message is \
                         stored without running it until one is",
                        name.value
                    ),
                )
                .with_note("deploy the sequence (hot reload picks it up) or fix the name"),
            );
            None
        }
        Some(name) => {
            let seq = sequence::compile(c, name)?;
            let id = blocks.len() as BlockId;
            let node = |op| Node {
                op,
                span,
                registry_keys: Box::new([]),
                touches_body: false,
                raw_json_ok: false,
                reads_addressing: false,
            };
            blocks.push(vec![
                node(Op::Sequence(seq)),
                node(Op::Store(Box::new(StoreOp {
                    store: def.name.clone(),
                    max_messages: def.max_messages,
                    then: None,
                }))),
            ]);
            Some(id)
        }
    };
    Some(StoreOp {
        store: def.name,
        max_messages: def.max_messages,
        then,
    })
}

pub(crate) async fn run(
    engine: &Engine,
    s: &StoreOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    if let Some(b) = s.then {
        return Ok(Step::Push(b));
    }
    let msg = crate::store::encode(ctx)?;
    let fail =
        |m: String| MediationError::new(ErrorKind::SharedState, Origin::Internal, STORE_FAILED, m);
    match engine.state.queue_push(&s.store, msg, s.max_messages).await {
        Ok(true) => Ok(Step::Next),
        Ok(false) => Err(fail(format!(
            "message store `{}` is full ({} messages): the message was not stored",
            s.store, s.max_messages
        ))),
        Err(e) => Err(fail(format!(
            "message store `{}`: the message was not stored: {e}",
            s.store
        ))),
    }
}
