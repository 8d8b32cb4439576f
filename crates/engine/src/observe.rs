//! Watching a mediation from outside: the lines `<log>` writes, each mediator as it runs with the
//! properties it changed, and every fault with the handler that took it.
//!
//! The engine only calls a [`MediationObserver`] attached to the [`MessageContext`]; printing,
//! collecting or forwarding is the caller's business (the engine does no I/O). Without an
//! observer nothing is computed; property snapshots are taken only while the observer
//! [traces](MediationObserver::traces).

use crate::redact::redact_header_value;
use crate::{InvokeError, MediationError, MessageContext, OutboundRequest};
use std::collections::BTreeMap;
use std::sync::Arc;
use synaptic_diag::Span;
use synaptic_expr::Scope;

/// Receives what a mediation does. Every method has an empty default.
pub trait MediationObserver: Send + Sync {
    /// A `<log>` mediator wrote `entry` (already redacted exactly like the server's log line).
    fn log(&self, _entry: &LogEntry<'_>) {}
    /// Whether [`MediationObserver::mediator`] is wanted (it costs a property snapshot per
    /// mediator).
    fn traces(&self) -> bool {
        false
    }
    /// A mediator ran (or failed); `changes` are the properties and headers it changed.
    fn mediator(&self, _step: &TraceStep<'_>) {}
    /// A mediator failed with `error`; `handler` names the sequence that handles it (`None`:
    /// nothing does, the mediation ends with the error).
    fn fault(&self, _error: &MediationError, _handler: Option<&str>) {}
    /// A `call` or `send` (`mediator`) is about to send `req`; the observer may add headers
    /// to it (a trace context).
    fn outbound(&self, _mediator: &'static str, _req: &mut OutboundRequest) {}
    /// The exchange announced by the last [`MediationObserver::outbound`] ended: the
    /// backend's status, or why it failed.
    fn outbound_done(&self, _result: Result<u16, &InvokeError>) {}
    /// A sequence called from another (`<sequence key>`, a switch or filter branch naming
    /// one, `call-template`'s body…) started.
    fn sequence_started(&self, _name: &str) {}
    /// The sequence of the last unended [`MediationObserver::sequence_started`] ended;
    /// `failed`: left by a fault.
    fn sequence_ended(&self, _failed: bool) {}
}

/// One `<log>` line.
#[derive(Clone, Copy, Debug)]
pub struct LogEntry<'a> {
    /// `INFO`, `WARN`, `ERROR`, `DEBUG` or `TRACE` (from the mediator's `category`).
    pub level: &'static str,
    /// The `<log>` element.
    pub at: Span,
    pub message: &'a str,
}

/// One mediator that ran.
#[derive(Clone, Copy, Debug)]
pub struct TraceStep<'a> {
    /// The mediator's element.
    pub at: Span,
    /// Frames open while it ran (1 = the sequence's own mediators).
    pub depth: usize,
    pub changes: &'a [Change],
    /// It failed (a [`MediationObserver::fault`] follows).
    pub failed: bool,
}

/// One property or header a mediator set, changed or removed. Values are redacted as in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `default`, `axis2`, `axis2-client`, `operation` or `transport` (a header).
    pub scope: &'static str,
    pub name: String,
    /// `None`: it was not set before.
    pub old: Option<String>,
    /// `None`: it was removed.
    pub new: Option<String>,
}

impl MessageContext {
    /// Report what mediations over this message do to `observer`.
    pub fn set_observer(&mut self, observer: Arc<dyn MediationObserver>) {
        self.st.observer = Some(observer);
    }
    /// Whether a fault happened during mediation (`get-property('FAULT')`), handled or not.
    pub fn faulted(&self) -> bool {
        self.st.fault
    }
    /// The transport headers, the values of a repeated header joined with `, ` (not redacted).
    pub fn header_strings(&self) -> BTreeMap<String, String> {
        let mut headers = BTreeMap::new();
        for name in self.headers.keys() {
            let joined = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            headers.insert(name.as_str().to_string(), joined);
        }
        headers
    }
}

/// The observed properties of a message before a mediator runs.
pub(crate) struct Snapshot(Vec<(&'static str, BTreeMap<String, String>)>);

const SCOPES: [(&str, Scope); 4] = [
    ("default", Scope::Default),
    ("axis2", Scope::Axis2),
    ("axis2-client", Scope::Axis2Client),
    ("operation", Scope::Operation),
];

fn snapshot(ctx: &MessageContext) -> Snapshot {
    let mut v: Vec<(&'static str, BTreeMap<String, String>)> = SCOPES
        .iter()
        .map(|(n, s)| (*n, ctx.scope_strings(*s)))
        .collect();
    v.push(("transport", ctx.header_strings()));
    Snapshot(v)
}

fn diff(before: &Snapshot, after: &Snapshot) -> Vec<Change> {
    let red = |name: &str, v: Option<&String>| v.map(|s| redact_header_value(name, s));
    let mut out = Vec::new();
    for ((scope, old), (_, new)) in before.0.iter().zip(after.0.iter()) {
        for (k, nv) in new {
            if old.get(k) != Some(nv) {
                out.push(Change {
                    scope,
                    name: k.clone(),
                    old: red(k, old.get(k)),
                    new: red(k, Some(nv)),
                });
            }
        }
        for (k, ov) in old {
            if !new.contains_key(k) {
                out.push(Change {
                    scope,
                    name: k.clone(),
                    old: red(k, Some(ov)),
                    new: None,
                });
            }
        }
    }
    out
}

/// Before a mediator runs: a snapshot when the observer traces.
pub(crate) fn before(ctx: &MessageContext) -> Option<Snapshot> {
    match &ctx.st.observer {
        Some(o) if o.traces() => Some(snapshot(ctx)),
        _ => None,
    }
}

/// After a mediator ran (or failed).
pub(crate) fn after(
    ctx: &MessageContext,
    at: Span,
    depth: usize,
    snap: Option<Snapshot>,
    failed: bool,
) {
    let (Some(o), Some(snap)) = (&ctx.st.observer, snap) else {
        return;
    };
    let changes = diff(&snap, &snapshot(ctx));
    o.mediator(&TraceStep {
        at,
        depth,
        changes: &changes,
        failed,
    });
}

pub(crate) fn log(ctx: &MessageContext, level: &'static str, at: Span, message: &str) {
    if let Some(o) = &ctx.st.observer {
        o.log(&LogEntry { level, at, message });
    }
}

pub(crate) fn outbound(ctx: &MessageContext, mediator: &'static str, req: &mut OutboundRequest) {
    if let Some(o) = &ctx.st.observer {
        o.outbound(mediator, req);
    }
}

pub(crate) fn outbound_done(ctx: &MessageContext, result: Result<u16, &InvokeError>) {
    if let Some(o) = &ctx.st.observer {
        o.outbound_done(result);
    }
}

pub(crate) fn sequence_started(ctx: &MessageContext, name: &str) {
    if let Some(o) = &ctx.st.observer {
        o.sequence_started(name);
    }
}

pub(crate) fn sequence_ended(ctx: &MessageContext, failed: bool) {
    if let Some(o) = &ctx.st.observer {
        o.sequence_ended(failed);
    }
}

pub(crate) fn fault(ctx: &MessageContext, error: &MediationError, handler: Option<&str>) {
    if let Some(o) = &ctx.st.observer {
        o.fault(error, handler);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synaptic_expr::Value;

    #[test]
    fn diff_reports_set_changed_and_removed_values_redacted() {
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            http::HeaderMap::new(),
            bytes::Bytes::new(),
            None,
        );
        ctx.properties
            .default
            .insert("keep", Value::String("1".into()));
        ctx.properties
            .default
            .insert("gone", Value::String("2".into()));
        ctx.properties
            .default
            .insert("changed", Value::String("a".into()));
        let before = snapshot(&ctx);
        ctx.properties.default.remove("gone");
        ctx.properties
            .default
            .insert("changed", Value::String("b".into()));
        ctx.properties
            .axis2
            .insert("access_token", Value::String("abc".into()));
        ctx.headers.insert("x-a", "v".parse().unwrap());
        let changes = diff(&before, &snapshot(&ctx));
        let c = |scope, name: &str, old: Option<&str>, new: Option<&str>| Change {
            scope,
            name: name.into(),
            old: old.map(Into::into),
            new: new.map(Into::into),
        };
        assert_eq!(
            changes,
            vec![
                c("default", "changed", Some("a"), Some("b")),
                c("default", "gone", Some("2"), None),
                c("axis2", "access_token", None, Some("***")),
                c("transport", "x-a", None, Some("v")),
            ]
        );
    }
}
