//! Message processors (`<messageProcessor>`): one background task each, for the program of
//! the plan serving requests. A supervisor starts them when the gateway starts, stops and
//! starts them again when a reload installs a new plan, and stops them when the gateway stops
//! (ADR 0481). A message being delivered when its processor stops stays in its store (it is
//! removed only once delivered), so it is sent again by the next generation: delivery is at
//! least once.
//!
//! A processor runs `member.count` consumers side by side, each firing as Synapse's task
//! manager fires a processor's task (ADR 0510): at once, then every `interval` (at least
//! 1000 ms) or whenever the `cronExpression` fires.
//!
//! * `ScheduledMessageForwardingProcessor`: each firing runs as Synapse's `ForwardingService`
//!   does: the oldest message of the store goes to the target endpoint (through the engine, as
//!   a `<call>` sends). Delivered (an answer below 400, or a status of
//!   `non.retry.status.codes`): removed, and the reply sequence runs on the answer. Failed (no
//!   answer, or 400 and above): the fault sequence runs, and the same message is tried again
//!   after `client.retry.interval`; after `max.delivery.attempts` it is dropped
//!   (`max.delivery.drop`), moved to the `message.processor.failMessagesStore` (the processor
//!   goes on), or the processor deactivates (the deactivate sequence runs on the stored
//!   message; messages stay in the store until the next reload). Then the firing goes on: for
//!   about a second with `throttle` (waiting `interval` between messages when it is below
//!   1000 ms), until the store is empty "under a cron expression" (`cron.expression` and
//!   `throttle.interval`, waited after each message), else it ends. One consumer peeks and
//!   removes after delivery, which keeps the store's order; several claim (ADR 0510).
//! * `SamplingProcessor`: each firing takes up to `concurrency` messages from the store and
//!   mediates them through its sequence, at the same time.
//!
//! Reading the store follows `max.store.connection.attempts` and
//! `store.connection.retry.interval`: after that many failed reads in a row the processor
//! stops until the next reload.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use synaptic_engine::{
    decode_stored_message, Engine, ForwardDef, MessageContext, ProcessorDef, ProcessorKind,
    SampleDef, Value,
};
use tokio::task::JoinSet;

use crate::server::Gateway;

const TARGET: &str = "synaptic::processor";

/// How often the messages held by each store are counted for `/metrics`.
const GAUGE_EVERY: Duration = Duration::from_secs(1);

/// Run the processors of the current plan, and the prober of its load-balance members
/// (`member_probe`), until the task is aborted (the gateway stops): restarted whenever a
/// reload installs a new plan. Also counts the messages of each store for
/// the `synaptic_message_store_messages` gauge.
pub(crate) async fn supervise(gateway: Gateway) {
    let lengths: Arc<Mutex<Vec<(String, f64)>>> = Arc::default();
    let read = Arc::downgrade(&lengths);
    gateway.inner.metrics.gauge_collector(
        "synaptic_message_store_messages",
        "Messages held by each message store (counted every second)",
        move || {
            read.upgrade()
                .map(|l| {
                    l.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .map(|(n, v)| (vec![("store".to_string(), n.clone())], *v))
                        .collect()
                })
                .unwrap_or_default()
        },
    );
    // `pinnedServers`: a processor pinned to other servers is not started here
    let server = gateway.inner.started.server_name();
    let mut generation = 0u64;
    let mut running: JoinSet<()> = JoinSet::new();
    let mut engine: Option<Engine> = None;
    let mut tick = tokio::time::interval(GAUGE_EVERY);
    loop {
        let plan = gateway.inner.plan.load_full();
        if plan.generation != generation {
            generation = plan.generation;
            // every task of the previous generation stops
            running.abort_all();
            running = JoinSet::new();
            engine = gateway.engine_for(&plan);
            if let Some(engine) = &engine {
                // the plan's load-balance members taken out are probed while it serves
                running.spawn(crate::member_probe::run(engine.clone()));
                for p in engine.program.message_processors() {
                    if !p.active {
                        tracing::info!(target: TARGET, processor = %p.name, "message processor is not active (is.active = false)");
                        continue;
                    }
                    if !p.pinned_servers.is_empty() && !p.pinned_servers.contains(&server) {
                        tracing::info!(target: TARGET, processor = %p.name, server = %server, "message processor `{}` is pinned to {}: not started on this server", p.name, p.pinned_servers.join(", "));
                        continue;
                    }
                    tracing::info!(target: TARGET, processor = %p.name, store = %p.store, "message processor started");
                    running.spawn(run(engine.clone(), p.clone()));
                }
            }
        }
        tokio::select! {
            _ = gateway.inner.processors_changed.notified() => {}
            _ = tick.tick() => {
                let mut counted = Vec::new();
                if let Some(engine) = &engine {
                    for s in engine.program.message_stores() {
                        if let Ok(n) = engine.state.queue_len(&s.name).await {
                            counted.push((s.name.clone(), n as f64));
                        }
                    }
                }
                *lengths.lock().unwrap_or_else(|p| p.into_inner()) = counted;
            }
        }
    }
}

/// A processor: one consumer per member, side by side, as Synapse schedules one task per
/// member. A consumer returns only when the processor stops (deactivated, or its store not
/// reachable), and then every member stops, as Synapse pauses all the processor's tasks.
async fn run(engine: Engine, p: ProcessorDef) {
    let members: Vec<_> = (0..p.members.max(1))
        .map(|member| {
            let (engine, p) = (&engine, &p);
            Box::pin(async move {
                match &p.kind {
                    ProcessorKind::Forward(f) => forward(engine, p, f, member).await,
                    ProcessorKind::Sample(s) => sample(engine, p, s).await,
                }
            })
        })
        .collect();
    futures::future::select_all(members).await;
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// A firing of the processor's task: when it started (to schedule the next one).
#[derive(Clone, Copy)]
struct Firing {
    at: tokio::time::Instant,
    local: chrono::DateTime<chrono::Local>,
}

/// Wait for the task's next firing, as Synapse's task manager fires it: at once when the
/// processor starts, then every `interval` (at least 1000 ms) from the previous firing; with a
/// `cronExpression`, whenever it fires. A firing that came while the previous one still ran
/// happens as soon as that one ends (once). An expression that never fires again leaves the
/// processor waiting until the next reload.
async fn next_firing(p: &ProcessorDef, previous: Option<Firing>) -> Firing {
    let now = || Firing {
        at: tokio::time::Instant::now(),
        local: chrono::Local::now(),
    };
    match (&p.cron, previous) {
        (None, None) => {}
        (None, Some(prev)) => match prev.at.checked_add(millis(p.firing_period_ms())) {
            Some(at) => tokio::time::sleep_until(at).await,
            // an interval past any clock: the processor never fires again
            None => std::future::pending::<()>().await,
        },
        (Some(cron), prev) => {
            let from = prev.map_or_else(chrono::Local::now, |f| f.local);
            match cron.next_after(&from) {
                Some(at) => {
                    let wait = (at - chrono::Local::now())
                        .to_std()
                        .unwrap_or(Duration::ZERO);
                    tokio::time::sleep(wait).await;
                }
                None => {
                    tracing::warn!(target: TARGET, processor = %p.name, cron = %cron.text, "the cron expression fires no more: the processor waits for the next reload");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    now()
}

/// A lease on a claimed message lasts this long; it is renewed a third of it apart while the
/// message is being delivered, so only a consumer that died (a gateway killed) leaves a claim
/// to lapse, and its message goes back to the store after this long.
const LEASE: Duration = Duration::from_secs(30);

/// The store's oldest message as one consumer of the processor holds it: peeked (the only
/// consumer: it stays first until delivered, which keeps the order), or claimed (one of
/// `member.count` consumers: no other consumer takes it; given back if the task stops before
/// it is settled).
struct Held {
    raw: bytes::Bytes,
    claim: Option<Claim>,
}

struct Claim {
    state: std::sync::Arc<dyn synaptic_engine::SharedState>,
    store: String,
    token: String,
    renewer: tokio::task::JoinHandle<()>,
    settled: bool,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.renewer.abort();
        if !self.settled {
            // the task stopped mid-delivery (a reload, the gateway stopping): the message goes
            // back first in the store; if this cannot run, its lease lapses
            let (state, store, token) = (
                self.state.clone(),
                std::mem::take(&mut self.store),
                std::mem::take(&mut self.token),
            );
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = state.queue_release(&store, &token).await;
                });
            }
        }
    }
}

/// What an attempt to read the store gave.
enum Fetched {
    Message(Held),
    Empty,
    /// `max.store.connection.attempts` failed attempts in a row: the processor stops.
    Unreachable,
}

/// Read the store as Synapse's `fetch` does: on a failure, try again
/// `store.connection.retry.interval` later, up to `max.store.connection.attempts` attempts
/// (without end by default).
async fn fetch(engine: &Engine, p: &ProcessorDef, claiming: bool, pop: bool) -> Fetched {
    let mut attempt: u32 = 0;
    loop {
        if p.store_retry.attempts.is_some_and(|max| attempt >= max) {
            return if attempt == 0 {
                // 0 attempts: Synapse's loop never reads the store
                Fetched::Empty
            } else {
                Fetched::Unreachable
            };
        }
        attempt += 1;
        let token = claiming.then(|| format!("{}:{:016x}", p.name, rand::random::<u64>()));
        let got = match &token {
            Some(t) => {
                engine
                    .state
                    .queue_claim(&p.store, t, LEASE.as_millis() as u64)
                    .await
            }
            None if pop => engine.state.queue_pop(&p.store).await,
            None => engine.state.queue_peek(&p.store).await,
        };
        match got {
            Ok(Some(raw)) => {
                let claim = token.map(|token| {
                    let state = engine.state.clone();
                    let (store, t) = (p.store.clone(), token.clone());
                    let renewer = tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(LEASE / 3).await;
                            let _ = state
                                .queue_renew(&store, &t, LEASE.as_millis() as u64)
                                .await;
                        }
                    });
                    Claim {
                        state: engine.state.clone(),
                        store: p.store.clone(),
                        token,
                        renewer,
                        settled: false,
                    }
                });
                return Fetched::Message(Held { raw, claim });
            }
            Ok(None) => return Fetched::Empty,
            Err(e) => {
                tracing::warn!(target: TARGET, processor = %p.name, attempt, error = %e, "message store not reachable");
                if p.store_retry.attempts.is_some_and(|max| attempt >= max) {
                    tracing::error!(target: TARGET, processor = %p.name, attempts = attempt, "message processor stopped: the message store was not reachable after max.store.connection.attempts attempts; it starts again with the next reload");
                    return Fetched::Unreachable;
                }
                tokio::time::sleep(millis(p.store_retry.interval_ms)).await;
            }
        }
    }
}

/// How one delivery went.
enum Delivery {
    Delivered,
    Failed,
}

/// How a message's delivery (with its retries) ended.
enum Outcome {
    /// Delivered, dropped or moved to the fail store: the processor goes on.
    Settled,
    /// The processor deactivated.
    Deactivated,
}

/// One consumer of a forwarding processor: each firing of its task runs as Synapse's
/// `ForwardingService.execute` does.
async fn forward(engine: &Engine, p: &ProcessorDef, f: &ForwardDef, member: u32) {
    let mut last = None;
    loop {
        let firing = next_firing(p, last).await;
        last = Some(firing);
        if !forward_firing(engine, p, f, member, firing).await {
            return;
        }
    }
}

/// An empty store is read again this long after, within a firing that goes on (Synapse reads
/// it again at once).
const EMPTY_POLL: Duration = Duration::from_millis(100);

/// One firing: take a message and deliver it (with its retries); then, "under a cron
/// expression" (`cron.expression` with `throttle.interval`), go on until the store is empty,
/// waiting `throttle.interval` after each message; else with `throttle` go on for about a
/// second (waiting `interval` between messages when it is below 1000 ms), without it stop.
/// `false`: the processor stopped (deactivated, or its store unreachable).
async fn forward_firing(
    engine: &Engine,
    p: &ProcessorDef,
    f: &ForwardDef,
    member: u32,
    firing: Firing,
) -> bool {
    let claiming = p.members > 1;
    loop {
        let took = match fetch(engine, p, claiming, false).await {
            Fetched::Unreachable => return false,
            Fetched::Empty => {
                if f.drain_pause_ms.is_some() {
                    return true;
                }
                false
            }
            Fetched::Message(held) => {
                if let Outcome::Deactivated = forward_one(engine, p, f, member, held).await {
                    return false;
                }
                true
            }
        };
        if let Some(pause) = f.drain_pause_ms {
            tokio::time::sleep(millis(pause)).await;
            continue;
        }
        if p.interval_ms < 1000 {
            tokio::time::sleep(millis(p.interval_ms)).await;
        }
        let elapsed = firing.at.elapsed();
        if !f.throttle || elapsed > Duration::from_secs(1) {
            return true;
        }
        if !took && p.interval_ms >= 1000 {
            let left = Duration::from_millis(1001).saturating_sub(elapsed);
            tokio::time::sleep(left.min(EMPTY_POLL)).await;
        }
    }
}

/// Remove a delivered (or dropped, or moved) message from the store.
async fn settle(engine: &Engine, p: &ProcessorDef, held: &mut Held) {
    match &mut held.claim {
        Some(c) => {
            c.settled = true;
            if let Err(e) = engine.state.queue_ack(&p.store, &c.token).await {
                tracing::warn!(target: TARGET, processor = %p.name, error = %e, "could not remove the message from the store");
            }
        }
        None => remove(engine, p).await,
    }
}

/// Deliver one message, trying again after `client.retry.interval` until
/// `max.delivery.attempts`; then drop it, move it to the fail store, or deactivate.
async fn forward_one(
    engine: &Engine,
    p: &ProcessorDef,
    f: &ForwardDef,
    member: u32,
    mut held: Held,
) -> Outcome {
    let raw = held.raw.clone();
    let mut ctx = match decode_stored_message(&raw) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: TARGET, processor = %p.name, error = %e, "unreadable message removed from the store");
            settle(engine, p, &mut held).await;
            return Outcome::Settled;
        }
    };
    let endpoint =
        f.endpoint
            .clone()
            .or_else(|| match ctx.properties.default.get("target.endpoint") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
    let Some(endpoint) = endpoint else {
        tracing::warn!(target: TARGET, processor = %p.name, "the message names no target endpoint (property target.endpoint): removed from the store");
        settle(engine, p, &mut held).await;
        return Outcome::Settled;
    };
    let mut attempts: u32 = 0;
    loop {
        match deliver(engine, f, &endpoint, &mut ctx).await {
            Delivery::Delivered => {
                settle(engine, p, &mut held).await;
                if let Some(seq) = &f.reply_sequence {
                    mediate(engine, p, seq, &mut ctx).await;
                }
                return Outcome::Settled;
            }
            Delivery::Failed => {
                attempts = attempts.saturating_add(1);
                if let Some(seq) = &f.fault_sequence {
                    mediate(engine, p, seq, &mut ctx).await;
                }
                match f.max_attempts {
                    Some(max) if attempts >= max => {
                        if f.drop_on_max {
                            tracing::warn!(target: TARGET, processor = %p.name, attempts, "message dropped after its last delivery attempt");
                            settle(engine, p, &mut held).await;
                            return Outcome::Settled;
                        }
                        if move_to_fail_store(engine, p, f, &raw).await {
                            settle(engine, p, &mut held).await;
                            return Outcome::Settled;
                        }
                        tracing::error!(target: TARGET, processor = %p.name, member, attempts, "message processor deactivated after the last delivery attempt; the message stays in the store");
                        // on the stored message, as Synapse runs it
                        if let (Some(seq), Ok(mut stored)) =
                            (&f.deactivate_sequence, decode_stored_message(&raw))
                        {
                            mediate(engine, p, seq, &mut stored).await;
                        }
                        return Outcome::Deactivated;
                    }
                    _ => tokio::time::sleep(millis(f.retry_interval_ms)).await,
                }
                // the message as it was stored, for the next attempt
                if let Ok(fresh) = decode_stored_message(&raw) {
                    ctx = fresh;
                }
            }
        }
    }
}

async fn deliver(
    engine: &Engine,
    f: &ForwardDef,
    endpoint: &str,
    ctx: &mut MessageContext,
) -> Delivery {
    match engine.forward(endpoint, ctx).await {
        Ok(()) => {
            let status = ctx.status.unwrap_or(200);
            if status < 400 || f.non_retry_codes.contains(&status) {
                Delivery::Delivered
            } else {
                set_error(
                    ctx,
                    i64::from(status),
                    format!("endpoint `{endpoint}` answered HTTP {status}"),
                );
                tracing::warn!(target: TARGET, endpoint, status, "delivery failed");
                Delivery::Failed
            }
        }
        Err(e) => {
            tracing::warn!(target: TARGET, endpoint, error = %e, "delivery failed");
            set_error(ctx, e.code, e.message);
            Delivery::Failed
        }
    }
}

fn set_error(ctx: &mut MessageContext, code: i64, message: String) {
    let d = &mut ctx.properties.default;
    d.insert("ERROR_CODE", Value::Integer(code));
    d.insert("ERROR_MESSAGE", Value::String(message));
}

/// `message.processor.failMessagesStore`: the stored message, as it was, into the fail store
/// (within that store's `max.messages`). `false` when there is none or it cannot take the
/// message: then the processor deactivates, as Synapse's does.
async fn move_to_fail_store(
    engine: &Engine,
    p: &ProcessorDef,
    f: &ForwardDef,
    raw: &bytes::Bytes,
) -> bool {
    let Some(fail) = &f.fail_store else {
        return false;
    };
    match engine
        .state
        .queue_push(&fail.name, raw.clone(), fail.max_messages)
        .await
    {
        Ok(true) => {
            tracing::info!(target: TARGET, processor = %p.name, fail_store = %fail.name, "message moved to the fail-messages store after its last delivery attempt");
            true
        }
        Ok(false) => {
            tracing::error!(target: TARGET, processor = %p.name, fail_store = %fail.name, "the fail-messages store is full");
            false
        }
        Err(e) => {
            tracing::error!(target: TARGET, processor = %p.name, fail_store = %fail.name, error = %e, "the fail-messages store is not reachable");
            false
        }
    }
}

async fn remove(engine: &Engine, p: &ProcessorDef) {
    if let Err(e) = engine.state.queue_pop(&p.store).await {
        tracing::warn!(target: TARGET, processor = %p.name, error = %e, "could not remove the message from the store");
    }
}

async fn mediate(engine: &Engine, p: &ProcessorDef, seq: &str, ctx: &mut MessageContext) {
    if let Err(e) = engine.mediate(seq, None, ctx).await {
        tracing::warn!(target: TARGET, processor = %p.name, sequence = seq, error = %e, "sequence failed");
    }
}

/// One consumer of a sampling processor: each firing of its task takes up to `concurrency`
/// messages (removed at once, as Synapse's sampler acknowledges before it mediates) and
/// mediates them through its sequence, at the same time. A store that stays unreachable for
/// `max.store.connection.attempts` attempts stops it, as Synapse's sampler stops.
async fn sample(engine: &Engine, p: &ProcessorDef, s: &SampleDef) {
    let seq: Arc<str> = Arc::from(s.sequence.as_str());
    let mut last = None;
    loop {
        let firing = next_firing(p, last).await;
        last = Some(firing);
        let mut batch = Vec::new();
        for _ in 0..s.concurrency {
            match fetch(engine, p, false, true).await {
                Fetched::Message(held) => match decode_stored_message(&held.raw) {
                    Ok(ctx) => batch.push(ctx),
                    Err(e) => {
                        tracing::error!(target: TARGET, processor = %p.name, error = %e, "unreadable message removed from the store")
                    }
                },
                Fetched::Empty => break,
                Fetched::Unreachable => return,
            }
        }
        let runs = batch.into_iter().map(|mut ctx| {
            let seq = seq.clone();
            async move { mediate(engine, p, &seq, &mut ctx).await }
        });
        futures::future::join_all(runs).await;
    }
}
