//! `<sequence key="…"/>`: run a named sequence (its `onError` handles its faults). A key no
//! artifact defines is looked up, as in Synapse, when a message reaches it: the mediator then
//! faults (W0304 at load); a deployed sequence of that name is used once a reload brings one.

use crate::compiler::{Compiler, Unresolved};
use crate::exec::Step;
use crate::ir::SeqId;
use crate::{ErrorKind, Flow, MediationError};
use synaptic_diag::Spanned;

#[derive(Debug)]
pub(crate) enum SequenceOp {
    /// A sequence of this program.
    Local(SeqId),
    /// A sequence known to exist outside this program (`CompileOptions::external_sequences`).
    External(String),
    /// A name no artifact defines: what Synapse does when a message gets here.
    Unresolved(Box<Unresolved>),
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
    if name.value.trim_start().starts_with('{') {
        // a dynamic key (`{xpath}`) is not evaluated by synaptic
        c.err(
            synaptic_diag::codes::E0304,
            name.span,
            format!("no sequence named `{}`", name.value),
        );
        return None;
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

pub(crate) fn run(s: &SequenceOp) -> Result<Step, MediationError> {
    match s {
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
