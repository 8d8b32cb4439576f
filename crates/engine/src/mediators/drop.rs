//! `<drop>`: end the flow; the message goes nowhere.

use crate::exec::Step;
use crate::Flow;

pub(crate) fn run() -> Step {
    Step::End(Flow::Drop)
}
