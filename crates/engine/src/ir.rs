//! The vocabulary compiled mediators share: block and sequence ids, where a value comes from
//! (a literal, a classic expression or a Synapse Expression), and compiled endpoints.

use synaptic_expr::{CompiledExpr, Value};

pub(crate) type BlockId = u32;
pub(crate) type SeqId = u32;

#[derive(Debug)]
pub(crate) enum ValueSrc {
    /// Converted at compile time.
    Literal(Value),
    Expr(CompiledExpr),
    /// A Synapse Expression (`${…}`).
    Syn(synaptic_expr::synexpr::SynExpr),
    None,
}

#[derive(Clone, Debug)]
pub(crate) enum EndpointIr {
    Http {
        method: Option<http::Method>,
        template: String,
        timeout_ms: Option<u64>,
    },
    Address {
        uri: String,
        timeout_ms: Option<u64>,
    },
    Key(String),
    Default,
}
