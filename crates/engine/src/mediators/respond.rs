//! `<respond>`: end the flow; the message goes back to the client as it is.

use crate::exec::{respond_status, Step};
use crate::{Flow, MessageContext};

pub(crate) fn run(ctx: &mut MessageContext) -> Step {
    respond_status(ctx);
    Step::End(Flow::Respond)
}
