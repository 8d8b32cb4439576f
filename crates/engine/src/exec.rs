//! What running a mediator shares: the interpreter step a mediator asks for ([`Step`]), and how
//! a message turns into a response (`respond`, `loopback`, `send` without an endpoint, a fault
//! body).

use crate::convert::value_string;
use crate::ir::{BlockId, SeqId};
use crate::{Flow, MessageContext};
use synaptic_payload::{Payload, SoapVersion};

pub(crate) enum Step {
    Next,
    Push(BlockId),
    PushSeq(SeqId),
    End(Flow),
    /// Run a sequence on the response of a `send`, then answer.
    Receive(SeqId),
    /// Run a block instead of the rest of the flow, then answer (`<cache>`'s `onCacheHit`).
    ReceiveBlock(BlockId),
    /// Run a sequence template with its parameters (`call-template`).
    Template(
        SeqId,
        std::sync::Arc<std::collections::HashMap<String, synaptic_expr::Value>>,
        crate::mediators::FuncPaths,
    ),
    /// Run the branches of `iterate`/`clone` (the interpreter runs them; ADR 0430).
    Fork(Box<crate::eip::Fork>),
    /// Run a sequence on each element of a `foreach` (the interpreter runs it).
    Foreach(Box<crate::mediators::Loop>),
    /// Run the copies of a `scatter-gather` and gather them (the interpreter runs them).
    ScatterGather(Box<crate::mediators::Scatter>),
}

pub(crate) fn respond_status(ctx: &mut MessageContext) {
    if let Some(sc) = ctx
        .properties
        .axis2
        .get("HTTP_SC")
        .and_then(value_string)
        .and_then(|s| s.trim().parse::<u16>().ok())
    {
        ctx.status = Some(sc);
    } else if ctx.st.fault_response || body_has_fault(ctx) {
        // a SOAP fault body (or a POX makefault) goes out as 500, unless FAULTS_AS_HTTP_200
        let as_200 = ctx
            .axis2_string("FAULTS_AS_HTTP_200")
            .is_some_and(|s| s.trim().eq_ignore_ascii_case("true"));
        ctx.status = Some(if as_200 { 200 } else { 500 });
    }
    ctx.response = true;
}

/// The body is a SOAP fault (`SOAPBody.hasFault()`).
pub(crate) fn body_has_fault(ctx: &MessageContext) -> bool {
    match &ctx.payload {
        Payload::Xml(env) if env.version != SoapVersion::Pox => env
            .body
            .first()
            .is_some_and(|e| e.name.is(env.namespace(), "Fault")),
        _ => false,
    }
}
