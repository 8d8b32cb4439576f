//! One module per mediator: compile and run.

pub(crate) mod validate;
