//! `<send>`: send the message to an endpoint and answer with the response (or run `receive=`
//! on it); without an endpoint, a response goes back to the client.

use crate::compiler::Compiler;
use crate::endpoints::{self, Sent};
use crate::exec::{respond_status, Step};
use crate::ir::{EndpointIr, SeqId};
use crate::{Engine, Flow, MediationError, MessageContext};
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct SendOp {
    pub endpoint: Option<EndpointIr>,
    pub receive: Option<SeqId>,
}

pub(crate) fn compile(c: &mut Compiler<'_>, s: &ast::Send) -> Option<SendOp> {
    let endpoint = match &s.endpoint {
        Some(e) => Some(c.endpoint(e)?),
        None => None,
    };
    let receive = match &s.receive {
        // Synapse logs it and injects the response nowhere
        Some(r) => Some(c.resolve_seq_lazy(
            r,
            crate::compiler::Unresolved::Drop(format!(
                "Cannot find a Sequence with name: {} for injecting the response message",
                r.value
            )),
        )?),
        None => None,
    };
    Some(SendOp { endpoint, receive })
}

pub(crate) async fn run(
    engine: &Engine,
    s: &SendOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    let mut endpoint = s.endpoint.clone();
    if endpoint.is_none() {
        if ctx.is_response() {
            respond_status(ctx);
            return Ok(Step::End(Flow::Respond));
        }
        // an address set with `<header name="To">` is where Synapse sends the message;
        // a client's own `wsa:To` is not followed (the client would pick the backend)
        if !ctx.st.addressing.contains_key("To") || ctx.st.inbound.contains("To") {
            return Ok(Step::End(Flow::Continue));
        }
        endpoint = Some(EndpointIr::Default);
    }
    if endpoints::send(engine, endpoint.as_ref(), false, "send", ctx).await? == Sent::Discarded {
        return Ok(Step::End(Flow::Drop));
    }
    Ok(match s.receive {
        Some(r) => Step::Receive(r),
        None => {
            ctx.st.sent = true;
            Step::End(Flow::Respond)
        }
    })
}
