//! `<store messageStore [sequence]>`: run the optional sequence on the message, then append a
//! copy of it to the message store (through [`crate::SharedState`]); the flow goes on after
//! the mediator, as in Synapse. A full store, or a store that cannot be reached, is a fault.
//! `messageStore="{xpath}"` names the store per message (read before the sequence runs, as
//! Synapse looks the store up first); a name no store of the program has is a fault with
//! Synapse's message.

use crate::compiler::Compiler;
use crate::exec::Step;
use crate::ir::BlockId;
use crate::mediators::{sequence, Node, Op};
use crate::{Engine, ErrorKind, MediationError, MessageContext, Origin};
use std::collections::HashMap;
use std::sync::Arc;
use synaptic_diag::{codes, Span};
use synaptic_expr::{CompiledExpr, Dialect};
use synaptic_syntax::ast;

/// Which store a `<store>` appends to.
#[derive(Debug)]
pub(crate) enum Target {
    Named {
        store: String,
        max_messages: u64,
    },
    /// `messageStore="{xpath}"`: the store its value names, among the program's stores
    /// (name → `max.messages`).
    Dynamic {
        expr: CompiledExpr,
        stores: Arc<HashMap<String, u64>>,
    },
    /// After the `sequence=` of a dynamic `<store>`: the store it chose before the sequence.
    Chosen,
}

#[derive(Debug)]
pub(crate) struct StoreOp {
    pub target: Target,
    /// With `sequence=`: a block running that sequence, then this store without it.
    pub then: Option<BlockId>,
}

/// Synapse's `ERROR_MESSAGE` when the name matches no store.
pub(crate) const NO_SUCH_STORE: &str = "Message Store does not exist.";

pub(crate) fn exprs(op: &StoreOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    if let Target::Dynamic { expr, .. } = &op.target {
        visit(expr);
    }
}

/// Synapse's error code for a message the store refused.
pub(crate) const STORE_FAILED: i64 = 101400;

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    s: &ast::Store,
    span: Span,
) -> Option<StoreOp> {
    let (target, then_target) = match &s.dynamic {
        Some(e) if crate::eval::is_syn(e) => {
            c.err(
                codes::E0201,
                e.span,
                "messageStore=\"{${…}}\": Synapse reads the braces as an XPath, which a \
                 Synapse Expression is not (write an XPath such as `{$ctx:name}`)",
            );
            return None;
        }
        Some(e) => {
            let expr = c.expr(e, Dialect::XPath)?;
            let stores = c
                .stores
                .values()
                .map(|d| (d.name.clone(), d.max_messages))
                .collect();
            (
                Target::Dynamic {
                    expr,
                    stores: Arc::new(stores),
                },
                Target::Chosen,
            )
        }
        None => {
            let def = named(c, s)?;
            let t = || Target::Named {
                store: def.name.clone(),
                max_messages: def.max_messages,
            };
            (t(), t())
        }
    };
    let then = match &s.sequence {
        None => None,
        Some(name) => {
            // Synapse's `MessageStoreMediator` runs the sequence only when its lookup finds
            // one: a name no artifact defines is the registry's sequence of that key, else
            // the message is stored without it
            let seq = if c.seq_by_name.contains_key(&name.value)
                || c.opts.external_sequences.contains(&name.value)
            {
                sequence::compile(c, name)?
            } else {
                let message = format!(
                    "Cannot find the sequence {} to run before storing the message",
                    name.value
                );
                sequence::missing(c, name, crate::compiler::Unresolved::Skip(message))?
            };
            let id = blocks.len() as BlockId;
            let node = |op| Node {
                op,
                span,
                registry_keys: Box::new([]),
                touches_body: false,
                raw_json_ok: false,
                reads_addressing: false,
                sync: false,
            };
            blocks.push(vec![
                node(Op::Sequence(seq)),
                node(Op::Store(Box::new(StoreOp {
                    target: then_target,
                    then: None,
                }))),
            ]);
            Some(id)
        }
    };
    Some(StoreOp { target, then })
}

/// E0370: a store named as written must be one of the program's.
fn named(c: &mut Compiler<'_>, s: &ast::Store) -> Option<crate::store::StoreDef> {
    let def = c.stores.get(&s.store.value).cloned();
    if def.is_none() {
        c.err(
            codes::E0370,
            s.store.span,
            format!(
                "no message store named `{}`{}",
                s.store.value,
                crate::store::store_hint(c, &s.store.value)
            ),
        );
    }
    def
}

pub(crate) async fn run(
    engine: &Engine,
    s: &StoreOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let (store, max_messages) = match &s.target {
        Target::Named {
            store,
            max_messages,
        } => (store.clone(), *max_messages),
        Target::Dynamic { expr, stores } => {
            let v = crate::eval::eval(engine, ctx, expr)?;
            let name = crate::convert::value_string(&v).unwrap_or_default();
            let Some(max) = stores.get(&name) else {
                tracing::warn!(
                    expression = %expr.text,
                    "<store>: no message store is named `{}`",
                    name.chars().take(128).collect::<String>()
                );
                return Err(MediationError::internal(ErrorKind::Fault, NO_SUCH_STORE));
            };
            if s.then.is_some() {
                ctx.st.stores_chosen.push((name.clone(), *max));
            }
            (name, *max)
        }
        Target::Chosen => ctx
            .st
            .stores_chosen
            .pop()
            .ok_or_else(|| MediationError::internal(ErrorKind::Fault, NO_SUCH_STORE))?,
    };
    if let Some(b) = s.then {
        return Ok(Step::Push(b));
    }
    let msg = crate::store::encode(ctx)?;
    let fail =
        |m: String| MediationError::new(ErrorKind::SharedState, Origin::Internal, STORE_FAILED, m);
    match engine.state.queue_push(&store, msg, max_messages).await {
        Ok(true) => Ok(Step::Next),
        Ok(false) => Err(fail(format!(
            "message store `{store}` is full ({max_messages} messages): the message was not stored"
        ))),
        Err(e) => Err(fail(format!(
            "message store `{store}`: the message was not stored: {e}"
        ))),
    }
}
