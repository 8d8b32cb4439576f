//! Detached mediation work ([`synaptic_engine::Invoker::detach`], ADR 0497): the copies of a
//! `<foreach continue-without-aggregation="true">`, and the branches of a `continueParent="true"`
//! fan-out still running when its flow answered on its own, run after the message that made
//! them has gone on. Each work is a tokio task that runs it on the blocking pool (as sequences run,
//! ADR 0390) within `[limits] mediation_timeout`; at most `[limits] max_detached` run at once,
//! and a work that finds no place is given back to the engine, which runs it in place (the
//! message waits for it). Failures are logged and counted; none reaches a client.

use crate::metrics::{Counter, Gauge, Registry};
use opentelemetry::context::FutureExt as _;
use std::sync::Arc;
use std::time::Duration;
use synaptic_engine::DetachedWork;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The gateway's place for detached work: a bounded number at once, each within a budget.
#[derive(Clone, Debug)]
pub struct Detached {
    permits: Arc<Semaphore>,
    /// How many may run at once (the permits when none runs).
    limit: usize,
    budget: Duration,
    started: Counter,
    in_place: Counter,
    timed_out: Counter,
    failed: Counter,
    in_flight: Gauge,
}

/// Holds a work's place until the work ends (or its task is dropped).
struct Place {
    _permit: OwnedSemaphorePermit,
    in_flight: Gauge,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.in_flight.add(-1.0);
    }
}

impl Detached {
    /// At most `limit` works at once (at least one), each within `budget`; counted in
    /// `metrics`.
    pub fn new(limit: usize, budget: Duration, metrics: &Registry) -> Detached {
        let outcome = |what: &str| {
            metrics.counter(
                "synaptic_detached_total",
                "Detached mediation works (foreach continue-without-aggregation, continueParent fan-outs), by outcome",
                &[("outcome", what)],
            )
        };
        Detached {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            limit: limit.max(1),
            budget,
            started: outcome("started"),
            in_place: outcome("in_place"),
            timed_out: outcome("timed_out"),
            failed: outcome("failed"),
            in_flight: metrics.gauge(
                "synaptic_detached_in_flight",
                "Detached mediation works running now",
                &[],
            ),
        }
    }

    /// How many detached works are running now.
    pub fn running(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    /// Wait until no detached work runs, or until `deadline`; returns how many were still
    /// running then (abandoned: they end with the process). Used when the gateway shuts down,
    /// with the deadline of the requests' drain.
    pub async fn drain(&self, deadline: tokio::time::Instant) -> usize {
        let all = u32::try_from(self.limit).unwrap_or(u32::MAX);
        match tokio::time::timeout_at(deadline, self.permits.acquire_many(all)).await {
            Ok(Ok(_every_place)) => 0,
            _ => self.running(),
        }
    }

    /// Start `work` on its own, or give it back when every place is taken (or there is no
    /// runtime to run it on).
    pub fn spawn(&self, work: DetachedWork) -> Result<(), DetachedWork> {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return Err(work);
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.in_place.inc();
            tracing::debug!("every place for detached work is taken: it runs in place");
            return Err(work);
        };
        self.started.inc();
        self.in_flight.add(1.0);
        let place = Place {
            _permit: permit,
            in_flight: self.in_flight.clone(),
        };
        let (budget, timed_out, failed) =
            (self.budget, self.timed_out.clone(), self.failed.clone());
        let inner = handle.clone();
        // the trace context of the request that made it goes along: the spans of its calls are
        // children of that request's
        let work = work.with_context(opentelemetry::Context::current());
        handle.spawn(async move {
            let _place = place;
            let run = tokio::task::spawn_blocking(move || {
                inner.block_on(tokio::time::timeout(budget, work)).is_ok()
            });
            match run.await {
                Ok(true) => {}
                Ok(false) => {
                    timed_out.inc();
                    tracing::warn!(
                        "detached mediation work stopped: it took longer than \
                         [limits] mediation_timeout ({budget:?})"
                    );
                }
                Err(e) => {
                    failed.inc();
                    tracing::error!(
                        "detached mediation work failed: {}",
                        if e.is_panic() { "panic" } else { "cancelled" }
                    );
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn works_run_on_their_own_up_to_the_limit_and_the_rest_are_given_back() {
        let reg = Registry::new();
        let d = Detached::new(1, Duration::from_secs(5), &reg);
        rt().block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let done = Arc::new(AtomicUsize::new(0));
            let d2 = done.clone();
            let first: DetachedWork = Box::pin(async move {
                let _ = rx.await;
                d2.fetch_add(1, Ordering::SeqCst);
            });
            assert!(d.spawn(first).is_ok());
            // the only place is taken: the next work comes back
            let second: DetachedWork = Box::pin(async {});
            assert!(d.spawn(second).is_err());
            assert_eq!(d.in_flight.get(), 1.0);
            tx.send(()).unwrap();
            for _ in 0..200 {
                if d.in_flight.get() == 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(done.load(Ordering::SeqCst), 1);
            assert_eq!(d.in_flight.get(), 0.0);
            // the place is free again
            assert!(d.spawn(Box::pin(async {})).is_ok());
        });
        let text = reg.render();
        assert!(
            text.contains("synaptic_detached_total{outcome=\"in_place\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("synaptic_detached_total{outcome=\"started\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn a_work_over_its_budget_is_stopped_and_a_panicking_one_is_counted() {
        let reg = Registry::new();
        let d = Detached::new(4, Duration::from_millis(20), &reg);
        rt().block_on(async {
            assert!(d.spawn(Box::pin(std::future::pending::<()>())).is_ok());
            assert!(d
                .spawn(Box::pin(async { panic!("a detached work panics") }))
                .is_ok());
            for _ in 0..400 {
                if d.in_flight.get() == 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(d.in_flight.get(), 0.0);
        });
        assert_eq!(d.timed_out.get(), 1);
        assert_eq!(d.failed.get(), 1);
    }

    #[test]
    fn without_a_runtime_the_work_is_given_back() {
        let d = Detached::new(1, Duration::from_secs(1), &Registry::new());
        assert!(d.spawn(Box::pin(async {})).is_err());
    }

    #[test]
    fn drain_waits_for_running_works_up_to_its_deadline() {
        let d = Detached::new(4, Duration::from_secs(5), &Registry::new());
        rt().block_on(async {
            // nothing runs: at once
            let now = tokio::time::Instant::now();
            assert_eq!(d.drain(now + Duration::from_secs(5)).await, 0);
            assert!(now.elapsed() < Duration::from_secs(1));
            // a work that ends in 100 ms is waited for
            let done = Arc::new(AtomicUsize::new(0));
            let d2 = done.clone();
            d.spawn(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                d2.fetch_add(1, Ordering::SeqCst);
            }))
            .unwrap_or_else(|_| panic!("no place"));
            assert_eq!(d.running(), 1);
            let now = tokio::time::Instant::now();
            assert_eq!(d.drain(now + Duration::from_secs(5)).await, 0);
            assert_eq!(done.load(Ordering::SeqCst), 1);
            // one held past the deadline is counted as abandoned
            let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
            d.spawn(Box::pin(async move {
                let _ = rx.await;
            }))
            .unwrap_or_else(|_| panic!("no place"));
            let now = tokio::time::Instant::now();
            assert_eq!(d.drain(now + Duration::from_millis(100)).await, 1);
            assert!(now.elapsed() < Duration::from_secs(2));
        });
    }
}
