//! `<call>`: send the message to an endpoint (blocking: the response replaces the body and the
//! flow goes on; non-blocking: the response becomes the message). How endpoints and endpoint
//! groups are sent to: `crate::endpoints`.

use crate::compiler::Compiler;
use crate::endpoints::{self, Sent};
use crate::exec::Step;
use crate::ir::EndpointIr;
use crate::{Engine, Flow, MediationError, MessageContext};
use std::collections::HashMap;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct CallOp {
    pub blocking: bool,
    pub endpoint: Option<EndpointIr>,
}

pub(crate) fn compile(c: &mut Compiler<'_>, call: &ast::Call) -> Option<CallOp> {
    let endpoint = match &call.endpoint {
        Some(e) => Some(c.endpoint(e)?),
        None => None,
    };
    Some(CallOp {
        blocking: call.blocking,
        endpoint,
    })
}

/// Run a `<call>`: a discarded timeout (`<responseAction>discard</responseAction>`) drops the
/// message.
pub(crate) async fn run(
    engine: &Engine,
    c: &CallOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    match endpoints::send(engine, c.endpoint.as_ref(), c.blocking, "call", ctx).await? {
        Sent::Answered => {
            // in a fan-out branch, the flow goes on after the `iterate`/`clone` (Synapse's
            // continuation of a non-blocking call)
            if !c.blocking {
                ctx.st.resumed = true;
            }
            Ok(Step::Next)
        }
        Sent::Discarded => Ok(Step::End(Flow::Drop)),
    }
}

/// Send the message as `<call>` does (`mediator` names who sends, for observers), for
/// mediators that send on behalf of another. Named endpoints come from `endpoints` when the
/// call's endpoint is a key.
#[allow(dead_code)]
pub(crate) async fn call(
    engine: &Engine,
    endpoints: &HashMap<String, EndpointIr>,
    c: &CallOp,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let ep = match &c.endpoint {
        Some(EndpointIr::Key(k)) => endpoints.get(k).or(c.endpoint.as_ref()),
        other => other.as_ref(),
    };
    endpoints::send(engine, ep, c.blocking, mediator, ctx)
        .await
        .map(|_| ())
}
