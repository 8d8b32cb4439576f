//! What the EIP mediators share with the interpreter: a fan-out ([`Fork`], returned by
//! `iterate` and `clone` as a [`crate::exec::Step`] and run by the interpreter loop; a
//! `continueParent` one beside the parent's flow, ADR 0497), and the
//! aggregates of one request ([`Store`]), which the branches fill and `aggregate` completes
//! ([ADR 0430](../../../docs/adr/0430-eip-fan-out-in-the-interpreter.md)).

use crate::ir::{BlockId, SeqId};
use crate::MessageContext;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Synapse's `EIPConstants.AGGREGATE_CORRELATION` (sic).
pub(crate) const AGGREGATE_CORRELATION: &str = "aggregateCorelation";
/// Synapse's `EIPConstants.MESSAGE_SEQUENCE`: `"index/count"`.
pub(crate) const MESSAGE_SEQUENCE: &str = "messageSequence";
/// The prefix of the correlation value a fan-out gives its branches.
const FORK_PREFIX: &str = "urn:synaptic:fork:";

/// Where a branch goes: a compiled block (an inline `<sequence>`, or a `<send>` to the
/// target's endpoint) or a named sequence.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BranchTarget {
    Block(BlockId),
    Seq(SeqId),
}

/// A compiled `<target>`: where the branch runs, and the `to`/`soapAction` it sets.
#[derive(Clone, Debug)]
pub(crate) struct TargetIr {
    pub run: BranchTarget,
    pub to: Option<String>,
    pub soap_action: Option<String>,
}

impl TargetIr {
    /// Set the target's `to` and `soapAction` on a branch's message: the WS-Addressing fields a
    /// `<header name="To"|"Action">` sets, and the SOAP action goes out as the `SOAPAction`
    /// header (quoted, as Axis2 writes it).
    pub(crate) fn apply(&self, ctx: &mut MessageContext) {
        for (name, v) in [("To", &self.to), ("Action", &self.soap_action)] {
            if let Some(v) = v {
                ctx.st.addressing.insert(name.to_string(), v.clone());
                ctx.st.inbound.remove(name);
            }
        }
        if let Some(a) = &self.soap_action {
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{a}\"")) {
                ctx.headers.insert("soapaction", v);
            }
        }
    }
}

pub(crate) struct Branch {
    pub ctx: MessageContext,
    pub target: BranchTarget,
}

/// A fan-out asked for by `iterate` or `clone`.
pub(crate) struct Fork {
    pub id: u64,
    pub branches: Vec<Branch>,
    pub sequential: bool,
    pub continue_parent: bool,
}

/// A new fan-out from `ctx`: its id, and the correlation value its branches carry
/// (`aggregateCorelation[.id]`, the parent's message id in Synapse). The request's aggregate
/// store is made here, before the branches copy the message, so they all share it.
pub(crate) fn new_fork(ctx: &mut MessageContext) -> (u64, String) {
    ctx.st.eip.get_or_insert_with(Default::default);
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    (id, format!("{FORK_PREFIX}{id}"))
}

/// The fan-out a correlation value was made by, if a fan-out made it.
pub(crate) fn fork_of(correlation: &str) -> Option<u64> {
    correlation.strip_prefix(FORK_PREFIX)?.parse().ok()
}

/// Prepare a branch's message: the fan-out it belongs to, and the properties `aggregate`
/// reads (`aggregateCorelation`, `aggregateCorelation.<id>`, `messageSequence[.<id>]`).
pub(crate) fn mark_branch(
    ctx: &mut MessageContext,
    fork: u64,
    correlation: &str,
    id: Option<&str>,
    index: usize,
    count: usize,
) {
    use synaptic_expr::Value;
    let d = &mut ctx.properties.default;
    d.insert(
        AGGREGATE_CORRELATION,
        Value::String(correlation.to_string()),
    );
    let seq = Value::String(format!("{index}/{count}"));
    match id {
        Some(id) => {
            d.insert(
                format!("{AGGREGATE_CORRELATION}.{id}"),
                Value::String(correlation.to_string()),
            );
            d.insert(format!("{MESSAGE_SEQUENCE}.{id}"), seq);
        }
        None => {
            d.insert(MESSAGE_SEQUENCE, seq);
        }
    }
    ctx.st.fork = fork;
    ctx.st.fork_depth += 1;
}

/// Which aggregate: the `<aggregate>` element (its source and offset) and the correlation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AggKey {
    pub source: u32,
    pub at: u32,
    pub correlation: String,
}

/// The messages one aggregate collected so far.
#[derive(Default)]
pub(crate) struct Pending {
    pub messages: Vec<MessageContext>,
    /// Completed (on count or timeout): later messages are dropped, as Synapse drops them.
    pub completed: bool,
    /// The fan-out whose end completes it with what it has (as its timeout would).
    pub owner: u64,
    /// Epoch ms after which it completes with what it has (`completeCondition timeout`).
    pub deadline_ms: Option<i64>,
    /// `messageCount min`/`max` as evaluated on the first message (`-1`: none).
    pub min: i64,
    pub max: i64,
}

/// The aggregates of one request, shared by its branches. Dropped with the request: nothing
/// outlives the client's exchange.
#[derive(Default)]
pub(crate) struct Store {
    pub pending: Mutex<HashMap<AggKey, Pending>>,
}

impl Store {
    /// The aggregates a fan-out owns that are not complete, taken out (marked completed).
    pub(crate) fn take_owned(&self, fork: u64) -> Vec<(AggKey, Vec<MessageContext>)> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (k, p) in map.iter_mut() {
            if p.owner == fork && !p.completed && !p.messages.is_empty() {
                p.completed = true;
                out.push((k.clone(), std::mem::take(&mut p.messages)));
            }
        }
        out
    }

    /// The aggregates a fan-out owns whose timeout passed, taken out (marked completed).
    pub(crate) fn take_expired(&self, now_ms: i64) -> Vec<(AggKey, Vec<MessageContext>)> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (k, p) in map.iter_mut() {
            if !p.completed && p.deadline_ms.is_some_and(|d| now_ms >= d) {
                p.completed = true;
                out.push((k.clone(), std::mem::take(&mut p.messages)));
            }
        }
        out
    }

    /// The earliest deadline of an open aggregate.
    pub(crate) fn next_deadline(&self) -> Option<i64> {
        let map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter(|p| !p.completed)
            .filter_map(|p| p.deadline_ms)
            .min()
    }

    /// Forget a fan-out's finished aggregates (their keys are not reused).
    pub(crate) fn forget(&self, fork: u64) {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| p.owner != fork);
    }
}
