//! Message processors (`<messageProcessor>`): one background task each, for the program of
//! the plan serving requests. A supervisor starts them when the gateway starts, stops and
//! starts them again when a reload installs a new plan, and stops them when the gateway stops
//! (ADR 0481). A message being delivered when its processor stops stays in its store (it is
//! removed only once delivered), so it is sent again by the next generation: delivery is at
//! least once.
//!
//! * `ScheduledMessageForwardingProcessor`: every `interval` ms (or whenever its
//!   `cronExpression` fires), the oldest message of the
//!   store goes to the target endpoint (through the engine, as a `<call>` sends). Delivered (an
//!   answer below 400, or a status of `non.retry.status.codes`): removed, and the reply
//!   sequence runs on the answer. Failed (no answer, or 400 and above): the fault sequence
//!   runs, and the same message is tried again after `client.retry.interval`; after
//!   `max.delivery.attempts` it is dropped (`max.delivery.drop`), moved to the
//!   `message.processor.failMessagesStore` (the processor goes on), or the processor deactivates
//!   (the deactivate sequence runs on the stored message; messages stay in the store until
//!   the next reload). The reply and fault sequences run on the answer (the stored message
//!   when there is none).
//! * `SamplingProcessor`: every `interval` ms (or whenever its `cronExpression` fires), up to `concurrency` messages are taken from the
//!   store and mediated through its sequence, at the same time.

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

/// Run the processors of the current plan until the task is aborted (the gateway stops):
/// restarted whenever a reload installs a new plan. Also counts the messages of each store for
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

async fn run(engine: Engine, p: ProcessorDef) {
    match &p.kind {
        ProcessorKind::Forward(f) => forward(&engine, &p, f).await,
        ProcessorKind::Sample(s) => sample(&engine, &p, s).await,
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The wait until the processor polls its store again: until its `cronExpression` next fires
/// (the gateway's local time, as Quartz reads it), else `interval`. An expression that never
/// fires again leaves the processor waiting until the next reload.
async fn next_poll(p: &ProcessorDef) {
    let Some(cron) = &p.cron else {
        tokio::time::sleep(millis(p.interval_ms)).await;
        return;
    };
    let now = chrono::Local::now();
    match cron.next_after(&now) {
        Some(at) => {
            let wait = (at - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
        }
        None => {
            tracing::warn!(target: TARGET, processor = %p.name, cron = %cron.text, "the cron expression fires no more: the processor waits for the next reload");
            std::future::pending::<()>().await;
        }
    }
}

/// How one delivery went.
enum Delivery {
    Delivered,
    Failed,
}

/// The forwarding processor: the oldest message, one at a time, in order.
async fn forward(engine: &Engine, p: &ProcessorDef, f: &ForwardDef) {
    let mut attempts: u32 = 0;
    loop {
        let raw = match engine.state.queue_peek(&p.store).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                next_poll(p).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(target: TARGET, processor = %p.name, error = %e, "message store not reachable");
                next_poll(p).await;
                continue;
            }
        };
        let mut ctx = match decode_stored_message(&raw) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(target: TARGET, processor = %p.name, error = %e, "unreadable message removed from the store");
                remove(engine, p).await;
                continue;
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
            remove(engine, p).await;
            continue;
        };
        match deliver(engine, f, &endpoint, &mut ctx).await {
            Delivery::Delivered => {
                remove(engine, p).await;
                attempts = 0;
                if let Some(seq) = &f.reply_sequence {
                    mediate(engine, p, seq, &mut ctx).await;
                }
                next_poll(p).await;
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
                            remove(engine, p).await;
                            attempts = 0;
                            next_poll(p).await;
                        } else if move_to_fail_store(engine, p, f, &raw).await {
                            remove(engine, p).await;
                            attempts = 0;
                            next_poll(p).await;
                        } else {
                            tracing::error!(target: TARGET, processor = %p.name, attempts, "message processor deactivated after the last delivery attempt; the message stays in the store");
                            // on the stored message, as Synapse runs it
                            if let (Some(seq), Ok(mut stored)) =
                                (&f.deactivate_sequence, decode_stored_message(&raw))
                            {
                                mediate(engine, p, seq, &mut stored).await;
                            }
                            return;
                        }
                    }
                    _ => tokio::time::sleep(millis(f.retry_interval_ms)).await,
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

/// The sampling processor: up to `concurrency` messages per interval through its sequence.
async fn sample(engine: &Engine, p: &ProcessorDef, s: &SampleDef) {
    let seq: Arc<str> = Arc::from(s.sequence.as_str());
    loop {
        next_poll(p).await;
        let mut batch = Vec::new();
        for _ in 0..s.concurrency {
            match engine.state.queue_pop(&p.store).await {
                Ok(Some(raw)) => match decode_stored_message(&raw) {
                    Ok(ctx) => batch.push(ctx),
                    Err(e) => {
                        tracing::error!(target: TARGET, processor = %p.name, error = %e, "unreadable message removed from the store")
                    }
                },
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(target: TARGET, processor = %p.name, error = %e, "message store not reachable");
                    break;
                }
            }
        }
        let runs = batch.into_iter().map(|mut ctx| {
            let seq = seq.clone();
            async move { mediate(engine, p, &seq, &mut ctx).await }
        });
        futures::future::join_all(runs).await;
    }
}
