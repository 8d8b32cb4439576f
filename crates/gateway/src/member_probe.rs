//! The members a `<loadbalance>` took out after a failure are probed and re-admitted, as
//! Synapse's `MemberActivatorTask` does (ADR 0514): one task per plan (started with it by the
//! supervisor of background tasks, stopped when a reload replaces the plan or the gateway
//! stops) first probes one second after the plan is loaded, then every half second; a member
//! whose every port (`httpPort`, `httpsPort`, each that is set) takes a TCP connection within
//! 10 s is put back in turn. The engine says which members are out; the probe's connection is
//! the invoker's (the engine does no I/O).

use synaptic_engine::{Engine, PROBE_CONNECT_TIMEOUT, PROBE_EVERY, PROBE_FIRST};

const TARGET: &str = "synaptic::endpoint";

/// Probe the members `engine`'s program takes out (its own `<loadbalance>`s' and those of the
/// registry endpoints it holds compiled), until the task is aborted. Returns at once when the
/// program has no `<member>`s and names no endpoint by a key.
pub(crate) async fn run(engine: Engine) {
    if !engine.program.has_members() {
        return;
    }
    tokio::time::sleep(PROBE_FIRST).await;
    let mut tick = tokio::time::interval(PROBE_EVERY);
    // a slow probe delays the next one rather than bunching them up
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for member in engine.probe_members() {
            let mut reached = true;
            for port in member.ports() {
                if let Err(why) = engine
                    .invoker
                    .connect(member.host(), port, PROBE_CONNECT_TIMEOUT)
                    .await
                {
                    tracing::debug!(target: TARGET, endpoint = %member.endpoint(), host = %member.host(), port, "member still unreachable: {why}");
                    reached = false;
                    break;
                }
            }
            if reached {
                member.readmit();
                tracing::info!(target: TARGET, endpoint = %member.endpoint(), host = %member.host(), "load-balance member is reachable again: back in turn");
            }
        }
    }
}
