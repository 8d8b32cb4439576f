//! The state of an endpoint between requests, as Synapse's `EndpointContext` keeps it: active,
//! timeout (marked for suspension, retried after `retryDelay` until `retriesBeforeSuspension`
//! run out) and suspended (for `initialDuration`, then each time `progressionFactor` times
//! longer, at most `maximumDuration`). A success makes it active again.
//!
//! Pure: every transition takes the time (`Clock::now_ms`) as an argument, so tests drive it
//! with a fake clock. The state lives in the compiled program: a reload starts every endpoint
//! active again, as a redeployment does in Synapse.

use crate::error_codes;
use std::sync::Mutex;
use synaptic_syntax::ast::EndpointQos;

/// Synapse's suspension when the configuration names none (`initialDuration` -1).
pub const DEFAULT_SUSPEND_MS: i64 = 30_000;

/// What an endpoint does on a failure (Synapse's `EndpointDefinition` values).
#[derive(Clone, Debug, PartialEq)]
pub struct SuspendPolicy {
    /// Codes that suspend; empty = every code that is not a timeout code.
    pub suspend_codes: Vec<i64>,
    /// `-1` (Synapse's default) reads as [`DEFAULT_SUSPEND_MS`].
    pub initial_ms: i64,
    pub progression: f64,
    pub maximum_ms: i64,
    /// Codes that mark for suspension; empty = 101504 (timeout) and 101505 (connection closed).
    pub timeout_codes: Vec<i64>,
    pub retries: u32,
    pub retry_delay_ms: u64,
}

impl Default for SuspendPolicy {
    fn default() -> Self {
        SuspendPolicy {
            suspend_codes: Vec::new(),
            initial_ms: -1,
            progression: 1.0,
            maximum_ms: i64::MAX,
            timeout_codes: Vec::new(),
            retries: 0,
            retry_delay_ms: 0,
        }
    }
}

impl SuspendPolicy {
    pub fn from_qos(q: &EndpointQos) -> SuspendPolicy {
        let d = SuspendPolicy::default();
        SuspendPolicy {
            suspend_codes: q.suspend_codes.clone(),
            initial_ms: q.initial_ms.unwrap_or(d.initial_ms),
            progression: q.progression.unwrap_or(d.progression),
            maximum_ms: q.maximum_ms.unwrap_or(d.maximum_ms),
            timeout_codes: q.timeout_codes.clone(),
            retries: q.retries.unwrap_or(d.retries),
            retry_delay_ms: q.retry_delay_ms.unwrap_or(d.retry_delay_ms),
        }
    }

    /// `AbstractEndpoint.isTimeout`.
    fn is_timeout(&self, code: i64) -> bool {
        if self.timeout_codes.is_empty() {
            code == error_codes::TIMEOUT || code == error_codes::CONNECTION_CLOSED
        } else {
            self.timeout_codes.contains(&code)
        }
    }

    /// `AbstractEndpoint.isSuspendFault`.
    fn is_suspend(&self, code: i64) -> bool {
        self.suspend_codes.is_empty() || self.suspend_codes.contains(&code)
    }
}

/// Where an endpoint is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointStatus {
    Active,
    /// Marked for suspension after a timeout-class error; retried after `retryDelay`.
    Timeout,
    Suspended,
}

impl EndpointStatus {
    pub const ALL: [EndpointStatus; 3] = [
        EndpointStatus::Active,
        EndpointStatus::Timeout,
        EndpointStatus::Suspended,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointStatus::Active => "active",
            EndpointStatus::Timeout => "timeout",
            EndpointStatus::Suspended => "suspended",
        }
    }
}

#[derive(Debug)]
struct Inner {
    status: EndpointStatus,
    /// Timeout-class failures left before suspension; `None` = not counting yet.
    remaining: Option<u32>,
    next_retry_ms: i64,
    /// The last suspension's length; `None` = not suspended since it was last active.
    last_suspend_ms: Option<i64>,
}

/// One endpoint's state, shared by every flow that sends to it.
#[derive(Debug)]
pub struct EndpointState {
    pub name: String,
    pub policy: SuspendPolicy,
    inner: Mutex<Inner>,
}

impl EndpointState {
    pub fn new(name: impl Into<String>, policy: SuspendPolicy) -> EndpointState {
        EndpointState {
            name: name.into(),
            policy,
            inner: Mutex::new(Inner {
                status: EndpointStatus::Active,
                remaining: None,
                next_retry_ms: 0,
                last_suspend_ms: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn status(&self) -> EndpointStatus {
        self.lock().status
    }

    /// When a timed-out or suspended endpoint may be tried again (epoch ms).
    pub fn next_retry_ms(&self) -> Option<i64> {
        let g = self.lock();
        (g.status != EndpointStatus::Active).then_some(g.next_retry_ms)
    }

    /// `readyToSend`: active, or its retry time has come.
    pub fn ready(&self, now_ms: i64) -> bool {
        let g = self.lock();
        g.status == EndpointStatus::Active || now_ms >= g.next_retry_ms
    }

    /// The endpoint answered: active again.
    pub fn on_success(&self) {
        let mut g = self.lock();
        if g.status != EndpointStatus::Active {
            g.status = EndpointStatus::Active;
            g.remaining = None;
            g.last_suspend_ms = None;
        }
    }

    /// Sending failed with Synapse error `code`: a timeout-class code marks the endpoint
    /// (suspended once its retries are used up), another suspending code suspends it, any other
    /// code leaves it as it is (`AddressEndpoint.onFault`).
    pub fn on_error(&self, code: i64, now_ms: i64) {
        let mut g = self.lock();
        if self.policy.is_timeout(code) {
            let retries = g.remaining.unwrap_or(self.policy.retries);
            if retries == 0 {
                self.suspend(&mut g, now_ms);
            } else {
                g.status = EndpointStatus::Timeout;
                g.remaining = Some(retries - 1);
                g.next_retry_ms = now_ms.saturating_add(self.policy.retry_delay_ms as i64);
            }
        } else if self.policy.is_suspend(code) {
            self.suspend(&mut g, now_ms);
        }
    }

    /// `computeNextRetryTimeForSuspended`.
    fn suspend(&self, g: &mut Inner, now_ms: i64) {
        let p = &self.policy;
        let mut next = match g.last_suspend_ms {
            Some(last) if last > 0 => (last as f64 * p.progression) as i64,
            _ => p.initial_ms,
        };
        if next > p.maximum_ms {
            next = p.maximum_ms;
        } else if next < 0 {
            next = DEFAULT_SUSPEND_MS;
        }
        g.status = EndpointStatus::Suspended;
        g.last_suspend_ms = Some(next);
        g.next_retry_ms = now_ms.saturating_add(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use error_codes::{CONNECTION_CLOSED, CONNECTION_FAILED, SEND_FAILED, TIMEOUT};

    fn policy(f: impl FnOnce(&mut SuspendPolicy)) -> SuspendPolicy {
        let mut p = SuspendPolicy::default();
        f(&mut p);
        p
    }

    #[test]
    fn any_error_suspends_for_thirty_seconds_by_default() {
        let s = EndpointState::new("e", SuspendPolicy::default());
        assert!(s.ready(0));
        s.on_error(CONNECTION_FAILED, 1_000);
        assert_eq!(s.status(), EndpointStatus::Suspended);
        assert!(!s.ready(1_000));
        assert!(!s.ready(30_999));
        assert!(s.ready(31_000));
        s.on_success();
        assert_eq!(s.status(), EndpointStatus::Active);
        assert!(s.ready(31_000));
    }

    #[test]
    fn suspension_grows_by_the_progression_factor_up_to_the_maximum() {
        // the values of Synapse's suspension tests: 1000 ms, factor 2, at most 6400 ms
        let s = EndpointState::new(
            "e",
            policy(|p| {
                p.initial_ms = 1000;
                p.progression = 2.0;
                p.maximum_ms = 6400;
            }),
        );
        let mut now = 0;
        let mut lengths = Vec::new();
        for _ in 0..6 {
            s.on_error(CONNECTION_FAILED, now);
            let next = s.next_retry_ms().unwrap();
            lengths.push(next - now);
            assert!(!s.ready(next - 1));
            assert!(s.ready(next));
            now = next;
        }
        assert_eq!(lengths, [1000, 2000, 4000, 6400, 6400, 6400]);
        // a success starts again from the initial duration
        s.on_success();
        s.on_error(CONNECTION_FAILED, now);
        assert_eq!(s.next_retry_ms(), Some(now + 1000));
    }

    #[test]
    fn only_listed_codes_suspend() {
        let s = EndpointState::new(
            "e",
            policy(|p| {
                p.suspend_codes = vec![CONNECTION_FAILED];
                p.initial_ms = 500;
            }),
        );
        s.on_error(SEND_FAILED, 0);
        assert_eq!(s.status(), EndpointStatus::Active);
        // a timeout is a timeout-class error (no retries left: suspended at once)
        s.on_error(TIMEOUT, 0);
        assert_eq!(s.status(), EndpointStatus::Suspended);
        s.on_success();
        s.on_error(CONNECTION_FAILED, 10);
        assert_eq!(s.status(), EndpointStatus::Suspended);
        assert_eq!(s.next_retry_ms(), Some(510));
        // `<errorCodes>-1</errorCodes>` (what tooling writes for "none"): nothing suspends
        let none = EndpointState::new("n", policy(|p| p.suspend_codes = vec![-1]));
        none.on_error(CONNECTION_FAILED, 0);
        assert_eq!(none.status(), EndpointStatus::Active);
    }

    #[test]
    fn timeouts_are_retried_before_the_endpoint_is_suspended() {
        let s = EndpointState::new(
            "e",
            policy(|p| {
                p.retries = 2;
                p.retry_delay_ms = 100;
                p.initial_ms = 1000;
            }),
        );
        s.on_error(TIMEOUT, 0);
        assert_eq!(s.status(), EndpointStatus::Timeout);
        assert!(!s.ready(99));
        assert!(s.ready(100));
        s.on_error(CONNECTION_CLOSED, 100);
        assert_eq!(s.status(), EndpointStatus::Timeout);
        assert_eq!(s.next_retry_ms(), Some(200));
        s.on_error(TIMEOUT, 200);
        assert_eq!(s.status(), EndpointStatus::Suspended);
        assert_eq!(s.next_retry_ms(), Some(1200));
        // active again: the retries count anew
        s.on_success();
        s.on_error(TIMEOUT, 2000);
        assert_eq!(s.status(), EndpointStatus::Timeout);
    }

    #[test]
    fn mark_for_suspension_codes_replace_the_timeout_defaults() {
        let s = EndpointState::new(
            "e",
            policy(|p| {
                p.timeout_codes = vec![CONNECTION_FAILED];
                p.retries = 1;
                p.suspend_codes = vec![SEND_FAILED];
            }),
        );
        // 101504 is no longer timeout-class, and not a suspend code: ignored
        s.on_error(TIMEOUT, 0);
        assert_eq!(s.status(), EndpointStatus::Active);
        s.on_error(CONNECTION_FAILED, 0);
        assert_eq!(s.status(), EndpointStatus::Timeout);
    }

    #[test]
    fn zero_durations_retry_at_once() {
        // what Integration Studio writes by default: 0 ms everywhere
        let s = EndpointState::new(
            "e",
            policy(|p| {
                p.initial_ms = 0;
                p.maximum_ms = 0;
            }),
        );
        s.on_error(CONNECTION_FAILED, 5);
        assert_eq!(s.status(), EndpointStatus::Suspended);
        assert!(s.ready(5));
    }
}
