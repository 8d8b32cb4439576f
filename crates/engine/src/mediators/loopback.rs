//! `<loopback>`: the message becomes the response and goes back to the client.

use crate::exec::{respond_status, Step};
use crate::{Flow, MessageContext};

pub(crate) fn run(ctx: &mut MessageContext) -> Step {
    ctx.response = true;
    respond_status(ctx);
    Step::End(Flow::Respond)
}
