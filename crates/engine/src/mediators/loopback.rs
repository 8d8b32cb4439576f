//! `<loopback>`: the message becomes the response and goes back to the client.

use crate::exec::{respond_status, Step};
use crate::{Flow, MessageContext};

pub(crate) fn run(ctx: &mut MessageContext) -> Step {
    // the message goes to the out-flow, as a `<send>`'s response does
    ctx.st.sent = true;
    ctx.response = true;
    respond_status(ctx);
    Step::End(Flow::Respond)
}
