//! `<sequence key="…"/>`: run a named sequence (its `onError` handles its faults).

use crate::compiler::Compiler;
use crate::exec::Step;
use crate::ir::SeqId;
use crate::{ErrorKind, MediationError};
use synaptic_diag::{codes, Spanned};

#[derive(Debug)]
pub(crate) enum SequenceOp {
    /// A sequence of this program.
    Local(SeqId),
    /// A sequence known to exist outside this program (`CompileOptions::external_sequences`).
    External(String),
}

pub(crate) fn compile(c: &mut Compiler<'_>, name: &Spanned<String>) -> Option<SequenceOp> {
    Some(match c.seq_by_name.get(&name.value) {
        Some(id) => SequenceOp::Local(*id),
        None if c.opts.external_sequences.iter().any(|n| n == &name.value) => {
            SequenceOp::External(name.value.clone())
        }
        None => {
            c.err(
                codes::E0304,
                name.span,
                format!("no sequence named `{}`", name.value),
            );
            return None;
        }
    })
}

pub(crate) fn run(s: &SequenceOp) -> Result<Step, MediationError> {
    match s {
        SequenceOp::Local(s) => Ok(Step::PushSeq(*s)),
        SequenceOp::External(name) => Err(MediationError::internal(
            ErrorKind::Fault,
            format!("sequence `{name}` is not loaded"),
        )),
    }
}
