//! `<sequence key="…"/>`: run a named sequence (its `onError` handles its faults). A key no
//! artifact defines is looked up, as in Synapse, when a message reaches it: the mediator then
//! faults (W0304 at load); a deployed sequence of that name is used once a reload brings one.
//!
//! A dynamic key (`key="{expression}"`: XPath, `json-eval(…)` or `${…}`), as Synapse's
//! `SequenceMediator` with a dynamic `Value`: the expression is compiled at load and evaluated
//! on each message; its text names a sequence of the deployed program (a named sequence or a
//! local-entry sequence, never an API's or a proxy's own flow), which then runs; a name that
//! names none faults with Synapse's message.

use crate::compiler::{Compiler, Unresolved};
use crate::exec::Step;
use crate::ir::{SeqId, ValueSrc};
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};
use synaptic_diag::Spanned;
use synaptic_expr::synexpr::SynExpr;
use synaptic_expr::CompiledExpr;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) enum SequenceOp {
    /// A sequence of this program.
    Local(SeqId),
    /// A sequence known to exist outside this program (`CompileOptions::external_sequences`).
    External(String),
    /// A name no artifact defines: what Synapse does when a message gets here.
    Unresolved(Box<Unresolved>),
    /// `key="{…}"`: the sequence is named when a message gets here.
    Dynamic(Box<DynamicKey>),
}

#[derive(Debug)]
pub(crate) struct DynamicKey {
    pub key: ValueSrc,
    /// The fault's message when the name names no sequence (Synapse prints the key's
    /// `Value.toString()`).
    pub missing: String,
}

/// `key="{…}"`: compile the expression (its errors are diagnostics inside it).
pub(crate) fn compile_dynamic(c: &mut Compiler<'_>, e: &ast::Expr) -> Option<SequenceOp> {
    let key = crate::eval::compile_source(c, e)?;
    Some(SequenceOp::Dynamic(Box::new(DynamicKey {
        key,
        missing: format!(
            "Sequence named Value {{name ='null', expression ={}}} cannot be found",
            e.text.trim()
        ),
    })))
}

pub(crate) fn exprs(op: &SequenceOp, f: &mut dyn FnMut(&CompiledExpr)) {
    if let SequenceOp::Dynamic(d) = op {
        if let ValueSrc::Expr(e) = &d.key {
            f(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a SequenceOp, out: &mut Vec<&'a SynExpr>) {
    if let SequenceOp::Dynamic(d) = op {
        if let ValueSrc::Syn(e) = &d.key {
            out.push(e);
        }
    }
}

/// The proxy target the parser writes for a proxy with an endpoint runs the in-sequence
/// through a `<sequence key>` named `proxy:NAME/target`.
fn in_proxy_target(c: &Compiler<'_>) -> bool {
    c.current_seq.starts_with("proxy:") && c.current_seq.ends_with("/target")
}

pub(crate) fn compile(c: &mut Compiler<'_>, name: &Spanned<String>) -> Option<SequenceOp> {
    if let Some(id) = c.seq_by_name.get(&name.value) {
        return Some(SequenceOp::Local(*id));
    }
    if c.opts.external_sequences.iter().any(|n| n == &name.value) {
        return Some(SequenceOp::External(name.value.clone()));
    }
    // the messages of Synapse's `ProxyServiceMessageReceiver` and `SequenceMediator`
    // (`Value.toString()` of a static key)
    let message = if in_proxy_target(c) {
        format!("Unable to find in-sequence : {}", name.value)
    } else {
        format!(
            "Sequence named Value {{name ='null', keyValue ='{}'}} cannot be found",
            name.value
        )
    };
    if c.is_unavailable(&name.value) {
        c.unavailable_seq(name);
        return None;
    }
    let u = Unresolved::Fault(message);
    c.warn_unresolved(name, &u);
    Some(SequenceOp::Unresolved(Box::new(u)))
}

pub(crate) fn run(
    engine: &Engine,
    s: &SequenceOp,
    ctx: &MessageContext,
) -> Result<Step, MediationError> {
    match s {
        SequenceOp::Dynamic(d) => {
            let name = crate::eval::source_text(engine, ctx, &d.key)?.unwrap_or_default();
            match engine.program.ir.named_sequence(&name) {
                Some(id) => Ok(Step::PushSeq(id)),
                None => Err(MediationError::internal(
                    ErrorKind::Fault,
                    d.missing.clone(),
                )),
            }
        }
        SequenceOp::Local(s) => Ok(Step::PushSeq(*s)),
        SequenceOp::External(name) => Err(MediationError::internal(
            ErrorKind::Fault,
            format!("sequence `{name}` is not loaded"),
        )),
        SequenceOp::Unresolved(u) => match &**u {
            Unresolved::Fault(message) => {
                Err(MediationError::internal(ErrorKind::Fault, message.clone()))
            }
            Unresolved::Drop(message) => {
                tracing::warn!(target: "synaptic::mediation", "{message}");
                Ok(Step::End(Flow::Drop))
            }
        },
    }
}
