//! The vocabulary compiled mediators share: block and sequence ids, where a value comes from
//! (a literal, a classic expression or a Synapse Expression), and compiled endpoints.

use crate::endpoint_state::EndpointState;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
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
        /// A `<wsdl>` endpoint's format (its port's address element): the message goes as
        /// SOAP 1.1 / 1.2 (POSTed), or as a GET; `None` keeps the message's own format.
        format: Option<synaptic_syntax::ast::WsdlFormat>,
    },
    Key(String),
    /// `<endpoint key-expression="xpath"/>`: the named endpoint whose key the XPath gives on
    /// each message.
    KeyExpr(Arc<CompiledExpr>),
    Default,
    /// A leaf endpoint with a state (suspension, timeouts): in a group, or configured with
    /// `<suspendOnFailure>` / `<markForSuspension>` / a discarding timeout.
    Tracked(Arc<Tracked>),
    /// `<failover>`, `<loadbalance>`, `<recipientlist>`.
    Group(Arc<Group>),
    /// `<recipientlist><endpoints value=…/>`: the recipients' addresses, a comma-separated
    /// list evaluated per message.
    Recipients(Arc<Recipients>),
    /// `<loadbalance>` over `<member>`s.
    Members(Arc<crate::members::Members>),
    /// `<recipientlist>` over `<member>`s: a copy to each (failover and turns unused).
    MemberRecipients(Arc<crate::members::Members>),
    /// A URL the message goes to as it is (a member of a load balancer, with its path).
    Url(String),
}

#[derive(Debug)]
pub(crate) struct Recipients {
    /// The endpoint's name, or `anonymous`.
    pub name: String,
    pub value: ValueSrc,
}

#[derive(Debug)]
pub(crate) struct Tracked {
    pub leaf: EndpointIr,
    pub state: Arc<EndpointState>,
    /// `<timeout><responseAction>discard</responseAction>`.
    pub discard_on_timeout: bool,
}

#[derive(Debug)]
pub(crate) struct Group {
    /// The endpoint's name, or `anonymous`.
    pub name: String,
    pub kind: GroupKind,
    pub children: Vec<EndpointIr>,
    /// Round robin's next child; static failover's current child.
    pub cursor: AtomicUsize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Failover { dynamic: bool },
    Loadbalance { failover: bool },
    RecipientList,
}
