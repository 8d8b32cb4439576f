//! Message stores and message processors (Synapse's guaranteed-delivery pattern): their
//! definitions compiled from `<messageStore>` / `<messageProcessor>` (classes and parameters
//! checked, references resolved), and the stored form of a message. The queues themselves live
//! in [`crate::SharedState`] (ADR 0480); the processors run in the gateway, one background task
//! each (ADR 0481).

use crate::compiler::{Compiler, Deploy};
use crate::context::mime_of;
use crate::convert::value_string;
use crate::{ErrorKind, MediationError, MessageContext, Value};
use base64::Engine as _;
use bytes::Bytes;
use std::collections::HashMap;
use synaptic_diag::{codes, Diagnostic, Span, Spanned};
use synaptic_syntax::ast;

/// Messages a store holds at most unless its `max.messages` parameter says otherwise.
pub const DEFAULT_MAX_MESSAGES: u64 = 10_000;

/// A message store of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreDef {
    pub name: String,
    /// Messages it holds at most; a `<store>` into a full store faults.
    pub max_messages: u64,
}

/// What a message processor does with the messages of its store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcessorKind {
    /// `ScheduledMessageForwardingProcessor`: deliver each message to an endpoint, in order.
    Forward(ForwardDef),
    /// `SamplingProcessor`: mediate messages through a sequence.
    Sample(SampleDef),
}

/// A `ScheduledMessageForwardingProcessor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardDef {
    /// `throttle` (default true): each firing goes on taking messages for about a second (else
    /// one message per firing).
    pub throttle: bool,
    /// `throttle.interval` when `cron.expression` is also given (Synapse's "running under a
    /// cron expression"): each firing takes messages until the store is empty, waiting this
    /// many ms after each one, whatever `throttle` says.
    pub drain_pause_ms: Option<u64>,
    /// `targetEndpoint` (a named endpoint); `None`: the message's `target.endpoint` property.
    pub endpoint: Option<String>,
    /// `client.retry.interval` (ms, default 1000): the wait before a failed message is sent
    /// again.
    pub retry_interval_ms: u64,
    /// `max.delivery.attempts` (default 4); `None` (0 or negative): no limit.
    pub max_attempts: Option<u32>,
    /// `max.delivery.drop` = `Enabled`: drop the message after the last attempt (else the
    /// processor deactivates).
    pub drop_on_max: bool,
    /// `message.processor.reply.sequence`: runs on each response.
    pub reply_sequence: Option<String>,
    /// `message.processor.fault.sequence`: runs on each failed attempt.
    pub fault_sequence: Option<String>,
    /// `message.processor.deactivate.sequence`: runs when the processor deactivates.
    pub deactivate_sequence: Option<String>,
    /// `non.retry.status.codes`: error statuses that count as delivered (no retry).
    pub non_retry_codes: Vec<u16>,
    /// `message.processor.failMessagesStore`: after the last attempt the message moves to this
    /// store and the processor goes on (unless `max.delivery.drop` drops it first).
    pub fail_store: Option<StoreDef>,
}

/// A `SamplingProcessor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleDef {
    /// `sequence`: the sequence each message is mediated through.
    pub sequence: String,
    /// `concurrency` (default 1): messages taken per interval.
    pub concurrency: u32,
}

/// A processor's `cronExpression`: Quartz's syntax (seconds, minutes, hours, day of month,
/// month, day of week, an optional year; `?`, `L`, `W`, `#`, `0/5` steps, names of days and
/// months), read by croner (ADR 0505). Times are the gateway's local time, as Quartz reads them
/// in the JVM's time zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronSchedule {
    /// The expression as written.
    pub text: String,
    cron: croner::Cron,
}

impl CronSchedule {
    /// Read a Quartz cron expression; the error says why it is not one.
    pub fn parse(text: &str) -> Result<CronSchedule, String> {
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .year(croner::parser::Year::Optional)
            // Quartz numbers the days of the week from 1 (Sunday) to 7 (Saturday)
            .alternative_weekdays(true)
            // Quartz's `0/15` (from 0, every 15)
            .sloppy_ranges(true)
            .build();
        let cron = parser.parse(text.trim()).map_err(|e| e.to_string())?;
        Ok(CronSchedule {
            text: text.trim().to_string(),
            cron,
        })
    }

    /// The first time after `now` the expression fires (`None`: never again).
    pub fn next_after<Tz: chrono::TimeZone>(
        &self,
        now: &chrono::DateTime<Tz>,
    ) -> Option<chrono::DateTime<Tz>>
    where
        chrono::DateTime<Tz>: croner::CronDateTime,
    {
        self.cron.find_next_occurrence(now, false).ok()
    }
}

/// Consumers a processor runs at most (`member.count`).
pub const MAX_MEMBERS: u32 = 64;

/// A message processor of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessorDef {
    pub name: String,
    /// The store it takes messages from.
    pub store: String,
    /// `interval` (ms, default 1000), as written: Synapse's task fires every `interval`, but at
    /// least 1000 ms apart ([`ProcessorDef::firing_period_ms`]); a forwarder with a shorter
    /// `interval` waits it between messages within a firing.
    pub interval_ms: u64,
    /// `cronExpression`: when set, the task fires when it fires, instead of every `interval`.
    pub cron: Option<CronSchedule>,
    /// `is.active` (default true): a deactivated processor does not start.
    pub active: bool,
    /// `pinnedServers`: the servers the processor starts on (empty: every server); on
    /// another, Synapse's `ScheduledMessageProcessor` leaves it deactivated.
    pub pinned_servers: Vec<String>,
    /// `member.count` (default 1, at most [`MAX_MEMBERS`]): consumers of the store run side by
    /// side, each its own task, as Synapse schedules one task per member.
    pub members: u32,
    /// `max.store.connection.attempts` and `store.connection.retry.interval`.
    pub store_retry: StoreRetry,
    pub kind: ProcessorKind,
}

impl ProcessorDef {
    /// How often the processor's task fires without a `cronExpression`: `interval`, at least
    /// 1000 ms (Synapse's task manager takes no shorter interval).
    pub fn firing_period_ms(&self) -> u64 {
        self.interval_ms.max(1000)
    }
}

/// How a processor reads a store that cannot be reached (Synapse's `fetch`): it tries
/// `attempts` times (`None`: without end, `max.store.connection.attempts` = -1, the default),
/// `interval_ms` apart (`store.connection.retry.interval`, default 1000); after the last
/// failed attempt the processor stops until the next reload (a forwarder deactivates).
/// `Some(0)` (a value of 0 or below other than -1): Synapse's loop never reads the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreRetry {
    pub attempts: Option<u32>,
    pub interval_ms: u64,
}

impl Default for StoreRetry {
    fn default() -> Self {
        StoreRetry {
            attempts: None,
            interval_ms: 1000,
        }
    }
}

const FORWARDERS: &[&str] = &[
    "org.apache.synapse.message.processor.impl.forwarder.ScheduledMessageForwardingProcessor",
    "org.apache.synapse.message.processors.forward.ScheduledMessageForwardingProcessor",
];
const SAMPLERS: &[&str] = &[
    "org.apache.synapse.message.processor.impl.sampler.SamplingProcessor",
    "org.apache.synapse.message.processors.sampler.SamplingProcessor",
];
/// Store classes synaptic's own store is: no warning.
const MEMORY_STORES: &[&str] = &[
    "org.apache.synapse.message.store.impl.memory.InMemoryStore",
    "org.apache.synapse.message.store.InMemoryMessageStore",
];
/// Parameters of Synapse's processors that synaptic reads nothing from (W0372).
const IGNORED_PROCESSOR_PARAMS: &[&str] = &[
    // a sampling processor's: Synapse's sampler does not read it either
    "throttle",
    "quartz.conf",
    "client.axis2.xml",
    "axis2.repo",
    "axis2.config",
    "max.delivery.attempts.store",
    "bind-processor-server",
    "message.target.endpoint",
    "dropMessageOnFailure",
];

/// Stores and processors compiled from the artifacts.
#[derive(Debug, Default)]
pub(crate) struct Defs {
    pub stores: HashMap<String, StoreDef>,
    pub processors: Vec<ProcessorDef>,
}

fn number(c: &mut Compiler<'_>, p: &ast::StoreParam) -> Option<i64> {
    match p.value.value.trim().parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            c.err(
                codes::E0371,
                p.value.span,
                format!(
                    "parameter `{}` = `{}`: expected a whole number",
                    p.name.value, p.value.value
                ),
            );
            None
        }
    }
}

fn positive(c: &mut Compiler<'_>, p: &ast::StoreParam) -> Option<u64> {
    let n = number(c, p)?;
    if n <= 0 {
        c.err(
            codes::E0371,
            p.value.span,
            format!(
                "parameter `{}` = `{n}`: expected a number greater than 0",
                p.name.value
            ),
        );
        return None;
    }
    Some(n as u64)
}

fn boolean(c: &mut Compiler<'_>, p: &ast::StoreParam) -> Option<bool> {
    match p.value.value.trim().to_ascii_lowercase().as_str() {
        "true" | "enabled" => Some(true),
        "false" | "disabled" => Some(false),
        _ => {
            c.err(
                codes::E0371,
                p.value.span,
                format!(
                    "parameter `{}` = `{}`: expected true or false (Enabled or Disabled)",
                    p.name.value, p.value.value
                ),
            );
            None
        }
    }
}

fn duplicate(c: &mut Compiler<'_>, what: &str, name: &Spanned<String>, first: Span) {
    c.diags.push(
        Diagnostic::error(
            codes::E0374,
            name.span,
            format!("{what} `{}` is defined more than once", name.value),
        )
        .with_label(first, "first defined here"),
    );
}

/// "; did you mean …?" among the program's message stores.
pub(crate) fn store_hint(c: &Compiler<'_>, name: &str) -> String {
    let names: Vec<&str> = c.stores.keys().map(String::as_str).collect();
    synaptic_diag::suggest::did_you_mean(name, &names)
}

/// Pass 1: the message stores (a `<store>` compiled later checks its store's name here).
pub(crate) fn compile_stores(c: &mut Compiler<'_>, artifacts: &[ast::Artifact]) {
    let mut first: HashMap<String, Span> = HashMap::new();
    for s in artifacts.iter().flat_map(|a| &a.message_stores) {
        if let Some(prev) = first.get(&s.name.value) {
            duplicate(c, "message store", &s.name, *prev);
            continue;
        }
        first.insert(s.name.value.clone(), s.name.span);
        let memory = match &s.class {
            None => true,
            Some(cl) => MEMORY_STORES.contains(&cl.value.trim()),
        };
        if let (false, Some(cl)) = (memory, &s.class) {
            c.warn(
                codes::W0370,
                cl.span,
                format!(
                    "message store `{}` ({}) is served by synaptic's own store: in memory, or \
                     in Redis when [redis] is configured; without Redis its messages do not \
                     survive a restart",
                    s.name.value,
                    cl.value.rsplit('.').next().unwrap_or(&cl.value)
                ),
            );
        }
        let mut max_messages = DEFAULT_MAX_MESSAGES;
        for p in &s.params {
            match p.name.value.as_str() {
                // a store's parameters take deploy-time parameters, as Micro Integrator's
                // `MessageStoreFactory` resolves them
                "max.messages" => {
                    let value = match c.deploy_param(&p.value) {
                        Some(Deploy::Literal) => Some(p.value.clone()),
                        Some(Deploy::Resolved(v)) => Some(Spanned::new(v, p.value.span)),
                        // E0403 reported, or left for deployment
                        Some(Deploy::Deferred) | None => None,
                    };
                    let resolved = value.map(|value| ast::StoreParam {
                        name: p.name.clone(),
                        value,
                    });
                    if let Some(n) = resolved.and_then(|p| positive(c, &p)) {
                        max_messages = n;
                    }
                }
                // a broker's or a database's settings: the class warning says they are unused
                _ if !memory => {}
                other => c.warn(
                    codes::W0371,
                    p.name.span,
                    format!(
                        "unknown parameter `{other}` of an in-memory message store (it takes \
                         max.messages)"
                    ),
                ),
            }
        }
        c.stores.insert(
            s.name.value.clone(),
            StoreDef {
                name: s.name.value.clone(),
                max_messages,
            },
        );
    }
}

/// After the bodies: the processors (their sequences and endpoints resolved).
pub(crate) fn compile_processors(
    c: &mut Compiler<'_>,
    artifacts: &[ast::Artifact],
    endpoints: &HashMap<String, crate::ir::EndpointIr>,
) -> Vec<ProcessorDef> {
    let mut out = Vec::new();
    let mut first: HashMap<String, Span> = HashMap::new();
    for p in artifacts.iter().flat_map(|a| &a.message_processors) {
        if let Some(prev) = first.get(&p.name.value) {
            duplicate(c, "message processor", &p.name, *prev);
            continue;
        }
        first.insert(p.name.value.clone(), p.name.span);
        if let Some(d) = processor(c, p, endpoints) {
            out.push(d);
        }
    }
    out
}

fn processor(
    c: &mut Compiler<'_>,
    p: &ast::MessageProcessor,
    endpoints: &HashMap<String, crate::ir::EndpointIr>,
) -> Option<ProcessorDef> {
    let class = p.class.value.trim();
    let forward = FORWARDERS.contains(&class);
    if !forward && !SAMPLERS.contains(&class) {
        c.err(
            codes::E0372,
            p.class.span,
            format!(
                "message processor class `{class}` is not supported: synaptic runs \
                 ScheduledMessageForwardingProcessor and SamplingProcessor"
            ),
        );
        return None;
    }
    let mut ok = true;
    if !c.stores.contains_key(&p.store.value) {
        c.err(
            codes::E0370,
            p.store.span,
            format!(
                "no message store named `{}`{}",
                p.store.value,
                store_hint(c, &p.store.value)
            ),
        );
        ok = false;
    }
    let mut interval_ms = 1000;
    let mut cron = None;
    let mut active = true;
    let mut pinned = Vec::new();
    let mut members = 1u32;
    let mut store_retry = StoreRetry::default();
    let mut cron_param: Option<Span> = None;
    let mut throttle_interval: Option<(i64, Span)> = None;
    let mut fwd = ForwardDef {
        throttle: true,
        drain_pause_ms: None,
        endpoint: p.target_endpoint.as_ref().map(|e| e.value.clone()),
        retry_interval_ms: 1000,
        max_attempts: Some(4),
        drop_on_max: false,
        reply_sequence: None,
        fault_sequence: None,
        deactivate_sequence: None,
        non_retry_codes: Vec::new(),
        fail_store: None,
    };
    let mut fail_store: Option<&Spanned<String>> = None;
    let mut drop_span: Option<Span> = None;
    let mut endpoint_span = p.target_endpoint.as_ref().map(|e| e.span);
    let mut sequence: Option<Spanned<String>> = None;
    let mut concurrency = 1u32;
    let seq_param = |c: &mut Compiler<'_>, v: &Spanned<String>| -> Option<String> {
        let name = Spanned::new(v.value.trim().to_string(), v.span);
        c.resolve_seq(&name).map(|_| name.value)
    };
    for prm in &p.params {
        let name = prm.name.value.as_str();
        let v = &prm.value;
        match (name, forward) {
            ("interval", _) => match positive(c, prm) {
                Some(n) => interval_ms = n,
                None => ok = false,
            },
            ("cronExpression", _) => match CronSchedule::parse(&v.value) {
                Ok(s) => cron = Some(s),
                Err(e) => {
                    c.err(
                        codes::E0375,
                        v.span,
                        format!(
                            "cronExpression `{}` is not a Quartz cron expression (seconds \
                             minutes hours day-of-month month day-of-week [year]): {e}",
                            v.value
                        ),
                    );
                    ok = false;
                }
            },
            // Boolean.parseBoolean, but a value other than true/false is a mistake here
            ("throttle", true) => match v.value.trim().to_ascii_lowercase().as_str() {
                "true" => fwd.throttle = true,
                "false" => fwd.throttle = false,
                _ => {
                    c.err(
                        codes::E0371,
                        v.span,
                        format!(
                            "parameter `throttle` = `{}`: expected true or false",
                            v.value
                        ),
                    );
                    ok = false;
                }
            },
            ("pinnedServers", _) => pinned = crate::pinned_servers(&v.value),
            // ForwardingService's own parameter (not the task's `cronExpression`): any value
            // turns on "running under a cron expression" together with `throttle.interval`
            ("cron.expression", true) => cron_param = Some(prm.name.span),
            ("throttle.interval", true) => match number(c, prm) {
                Some(n) => throttle_interval = Some((n, prm.name.span)),
                None => ok = false,
            },
            ("member.count", _) => match positive(c, prm) {
                Some(n) if n <= u64::from(MAX_MEMBERS) => members = n as u32,
                Some(n) => {
                    c.err(
                        codes::E0371,
                        v.span,
                        format!(
                            "parameter `member.count` = `{n}`: synaptic runs at most \
                             {MAX_MEMBERS} consumers per processor"
                        ),
                    );
                    ok = false;
                }
                None => ok = false,
            },
            ("max.store.connection.attempts", _) => match number(c, prm) {
                Some(-1) => store_retry.attempts = None,
                Some(n) if n > 0 => {
                    store_retry.attempts = Some(u32::try_from(n).unwrap_or(u32::MAX))
                }
                Some(n) => {
                    c.warn(
                        codes::W0301,
                        v.span,
                        format!(
                            "max.store.connection.attempts = `{n}`: the processor never reads \
                             its store (as in Synapse, whose loop makes no attempt); -1 tries \
                             without end"
                        ),
                    );
                    store_retry.attempts = Some(0);
                }
                None => ok = false,
            },
            ("store.connection.retry.interval", _) => match number(c, prm) {
                Some(n) if n >= 0 => store_retry.interval_ms = n as u64,
                Some(n) => {
                    c.err(
                        codes::E0371,
                        v.span,
                        format!(
                            "parameter `store.connection.retry.interval` = `{n}`: expected 0 \
                             or more milliseconds"
                        ),
                    );
                    ok = false;
                }
                None => ok = false,
            },
            ("is.active", _) => match boolean(c, prm) {
                Some(b) => active = b,
                None => ok = false,
            },
            ("client.retry.interval", true) => match positive(c, prm) {
                Some(n) => fwd.retry_interval_ms = n,
                None => ok = false,
            },
            ("max.delivery.attempts" | "max.deliver.attempts", true) => match number(c, prm) {
                Some(n) if n > 0 => fwd.max_attempts = Some(u32::try_from(n).unwrap_or(u32::MAX)),
                Some(_) => fwd.max_attempts = None,
                None => ok = false,
            },
            ("max.delivery.drop" | "max.deliver.drop", true) => match boolean(c, prm) {
                Some(b) => {
                    fwd.drop_on_max = b;
                    drop_span = Some(prm.name.span);
                }
                None => ok = false,
            },
            // an empty name is no store, as Synapse reads it
            ("message.processor.failMessagesStore", true) if !v.value.trim().is_empty() => {
                fail_store = Some(v)
            }
            ("message.processor.failMessagesStore", true) => {}
            ("message.processor.reply.sequence", true) => fwd.reply_sequence = seq_param(c, v),
            ("message.processor.fault.sequence", true) => fwd.fault_sequence = seq_param(c, v),
            ("message.processor.deactivate.sequence", true) => {
                fwd.deactivate_sequence = seq_param(c, v)
            }
            ("target.endpoint", true) => {
                fwd.endpoint = Some(v.value.trim().to_string());
                endpoint_span = Some(v.span);
            }
            ("non.retry.status.codes", true) => {
                for code in v.value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match code.parse::<u16>() {
                        Ok(n) if (100..=599).contains(&n) => fwd.non_retry_codes.push(n),
                        _ => {
                            c.err(
                                codes::E0371,
                                v.span,
                                format!(
                                    "non.retry.status.codes: `{code}` is not an HTTP status \
                                     code"
                                ),
                            );
                            ok = false;
                        }
                    }
                }
            }
            ("sequence", false) => sequence = Some(v.clone()),
            ("concurrency", false) => match positive(c, prm) {
                Some(n) => concurrency = u32::try_from(n).unwrap_or(u32::MAX),
                None => ok = false,
            },
            (n, _) if IGNORED_PROCESSOR_PARAMS.contains(&n) => c.warn(
                codes::W0372,
                prm.name.span,
                format!(
                    "parameter `{n}` of message processor `{}` is ignored by synaptic",
                    p.name.value
                ),
            ),
            (n, _) => c.warn(
                codes::W0371,
                prm.name.span,
                format!(
                    "unknown parameter `{n}` for a {} (it is ignored)",
                    if forward {
                        "ScheduledMessageForwardingProcessor"
                    } else {
                        "SamplingProcessor"
                    }
                ),
            ),
        }
    }
    if let Some(v) = fail_store {
        let name = v.value.trim();
        match c.stores.get(name) {
            Some(def) => fwd.fail_store = Some(def.clone()),
            None => {
                c.err(
                    codes::E0370,
                    v.span,
                    format!(
                        "message.processor.failMessagesStore: no message store named \
                         `{name}`{}",
                        store_hint(c, name)
                    ),
                );
                ok = false;
            }
        }
        if let (true, Some(at), Some(_)) = (fwd.drop_on_max, drop_span, fwd.max_attempts) {
            c.diags.push(
                Diagnostic::warning(
                    codes::W0301,
                    v.span,
                    format!(
                        "message.processor.failMessagesStore `{name}` is never used: \
                         max.delivery.drop is enabled, and Synapse drops the message after its \
                         last attempt before it looks at the fail store"
                    ),
                )
                .with_label(at, "drops the message"),
            );
        }
    }
    let mut kind = if forward {
        if let (Some(ep), Some(span)) = (&fwd.endpoint, endpoint_span) {
            if !endpoints.contains_key(ep) {
                c.err(
                    codes::E0373,
                    span,
                    format!(
                        "message processor `{}` forwards to `{ep}`, which is not a named \
                         endpoint{}",
                        p.name.value,
                        {
                            let names: Vec<&str> = endpoints.keys().map(String::as_str).collect();
                            synaptic_diag::suggest::did_you_mean(ep, &names)
                        }
                    ),
                );
                ok = false;
            }
        }
        ProcessorKind::Forward(fwd)
    } else {
        match sequence {
            None => {
                c.err(
                    codes::E0373,
                    p.name.span,
                    format!(
                        "sampling processor `{}` needs a `sequence` parameter (the sequence its \
                         messages are mediated through)",
                        p.name.value
                    ),
                );
                return None;
            }
            Some(s) => {
                let name = Spanned::new(s.value.trim().to_string(), s.span);
                c.resolve_seq(&name)?;
                ProcessorKind::Sample(SampleDef {
                    sequence: name.value,
                    concurrency,
                })
            }
        }
    };
    if let ProcessorKind::Forward(f) = &mut kind {
        // ForwardingService reads `throttle.interval` only when `cron.expression` is given, and
        // runs "under a cron expression" only when it is -1 or more
        match (cron_param, throttle_interval) {
            (Some(_), Some((n, _))) if n >= 0 => f.drain_pause_ms = Some(n as u64),
            (Some(_), Some(_)) => {}
            (Some(at), None) => c.warn(
                codes::W0301,
                at,
                "parameter `cron.expression` has no effect without `throttle.interval` (Synapse's \
                 forwarder then runs as without it; the schedule is `cronExpression`)",
            ),
            (None, Some((_, at))) => c.warn(
                codes::W0301,
                at,
                "parameter `throttle.interval` is not read without the parameter \
                 `cron.expression` (as in Synapse's forwarder)",
            ),
            (None, None) => {}
        }
    }
    ok.then(|| ProcessorDef {
        name: p.name.value.clone(),
        store: p.store.value.clone(),
        interval_ms,
        cron,
        active,
        pinned_servers: pinned,
        members,
        store_retry,
        kind,
    })
}

// ===== stored messages =====

/// The stored form of a message: method, URI, transport headers, the body as it would be sent
/// (formatted by `messageType`) with its content type, and the default- and axis2-scope
/// properties that hold a value with a text form (as text). JSON, one object.
pub(crate) fn encode(ctx: &mut MessageContext) -> Result<Bytes, MediationError> {
    let (body, ct) = ctx.body_bytes()?;
    let headers: Vec<serde_json::Value> = ctx
        .headers
        .iter()
        .filter(|(k, _)| *k != http::header::CONTENT_LENGTH)
        .map(|(k, v)| serde_json::json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let props = |m: &crate::PropMap| -> serde_json::Map<String, serde_json::Value> {
        m.iter()
            .filter_map(|(k, v)| {
                value_string(v).map(|s| (k.to_string(), serde_json::Value::String(s)))
            })
            .collect()
    };
    let doc = serde_json::json!({
        "v": 1,
        "method": ctx.method.as_str(),
        "uri": ctx.uri,
        "headers": headers,
        "content_type": ct,
        "body": base64::engine::general_purpose::STANDARD.encode(&body),
        "default": props(&ctx.properties.default),
        "axis2": props(&ctx.properties.axis2),
    });
    serde_json::to_vec(&doc).map(Bytes::from).map_err(|e| {
        MediationError::internal(
            ErrorKind::Conversion,
            format!("cannot store the message: {e}"),
        )
    })
}

/// A message taken from a store, ready to be sent or mediated.
pub fn decode(bytes: &[u8]) -> Result<MessageContext, String> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("stored message unreadable: {e}"))?;
    let s = |k: &str| doc.get(k).and_then(|v| v.as_str());
    let method = s("method")
        .and_then(|m| http::Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or(http::Method::POST);
    let uri = s("uri").unwrap_or("/");
    let mut headers = http::HeaderMap::new();
    for h in doc
        .get("headers")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(v)) = (
            h.get(0).and_then(|v| v.as_str()),
            h.get(1).and_then(|v| v.as_str()),
        ) {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(v),
            ) {
                headers.append(k, v);
            }
        }
    }
    let body = base64::engine::general_purpose::STANDARD
        .decode(s("body").unwrap_or(""))
        .map_err(|e| format!("stored message unreadable: {e}"))?;
    let ct = s("content_type").map(str::to_string);
    headers.remove(http::header::CONTENT_TYPE);
    if let Some(ct) = &ct {
        if let Ok(v) = http::HeaderValue::from_str(ct) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
    }
    let mut ctx = MessageContext::from_request(method, uri, headers, Bytes::from(body), None);
    for (scope, map) in [
        ("axis2", &mut ctx.properties.axis2),
        ("default", &mut ctx.properties.default),
    ] {
        for (k, v) in doc
            .get(scope)
            .and_then(|v| v.as_object())
            .into_iter()
            .flatten()
        {
            if let Some(v) = v.as_str() {
                map.insert(k.clone(), Value::String(v.to_string()));
            }
        }
    }
    // the body's own type wins over a stale one
    if let Some(ct) = &ct {
        ctx.properties
            .axis2
            .insert("messageType", Value::String(mime_of(ct).to_string()));
        ctx.properties
            .axis2
            .insert("ContentType", Value::String(ct.clone()));
    }
    Ok(ctx)
}
