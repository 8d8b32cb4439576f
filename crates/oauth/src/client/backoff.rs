//! Exponential backoff with jitter for token endpoints.

use std::time::Duration;

use rand::Rng;

/// Backoff state: after `n` consecutive failures the next attempt waits a random time in
/// `[d/2, d]` where `d = min(max, initial · 2^(n-1))`.
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    failures: u32,
    next_attempt_ms: i64,
}

impl Backoff {
    /// Record a failure at `now_ms`; returns the chosen delay.
    pub fn fail(
        &mut self,
        now_ms: i64,
        initial: Duration,
        max: Duration,
        hint: Option<Duration>,
    ) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exp = self.failures.saturating_sub(1).min(20);
        let d = initial
            .saturating_mul(1u32 << exp)
            .min(max)
            .max(Duration::from_millis(1));
        let lo = d.as_millis() as u64 / 2;
        let hi = d.as_millis() as u64;
        let mut ms = rand::thread_rng().gen_range(lo..=hi);
        if let Some(h) = hint {
            // a server's Retry-After is honoured, within the same bound
            ms = ms.max(h.min(max).as_millis() as u64);
        }
        self.next_attempt_ms = now_ms + ms as i64;
        Duration::from_millis(ms)
    }

    pub fn succeed(&mut self) {
        self.failures = 0;
        self.next_attempt_ms = 0;
    }

    /// Time to wait before the next attempt, if any.
    pub fn remaining(&self, now_ms: i64) -> Option<Duration> {
        (self.next_attempt_ms > now_ms)
            .then(|| Duration::from_millis((self.next_attempt_ms - now_ms) as u64))
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_bounds() {
        let mut b = Backoff::default();
        let init = Duration::from_secs(1);
        let max = Duration::from_secs(8);
        let mut prev_hi = 0;
        for n in 1..=6u32 {
            let d = b.fail(0, init, max, None).as_millis() as u64;
            let hi = (1000u64 << (n - 1)).min(8000);
            assert!(d >= hi / 2 && d <= hi, "attempt {n}: {d}ms");
            assert!(hi >= prev_hi);
            prev_hi = hi;
            assert_eq!(b.remaining(0), Some(Duration::from_millis(d)));
        }
        b.succeed();
        assert_eq!(b.remaining(0), None);
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn honours_retry_after_hint() {
        let mut b = Backoff::default();
        let d = b.fail(
            0,
            Duration::from_secs(1),
            Duration::from_secs(60),
            Some(Duration::from_secs(30)),
        );
        assert_eq!(d, Duration::from_secs(30));
    }
}
