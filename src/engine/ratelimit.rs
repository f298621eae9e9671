//! A token bucket for upload (or download) rate limits, shared by every peer of an engine.
//!
//! `acquire(n)` takes `n` tokens at once and, when that leaves the bucket in debt, sleeps until
//! the debt is repaid at `rate` bytes per second. Reserving before sleeping keeps the order fair
//! and lets many peers share one limit without a central scheduler. The bucket holds at most
//! one second of tokens, which bounds bursts.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter of `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> RateLimiter {
        let rate = rate.max(1) as f64;
        RateLimiter {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    /// Reserve `n` tokens at `now`; returns how long the caller must wait before using them.
    pub fn reserve(&self, n: u64, now: Instant) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *st;
        let refilled =
            (tokens + now.saturating_duration_since(last).as_secs_f64() * self.rate).min(self.rate);
        let left = refilled - n as f64;
        *st = (left, now.max(last));
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate)
        }
    }

    /// Reserve `n` tokens and wait until they are paid for.
    pub async fn acquire(&self, n: u64) {
        let wait = self.reserve(n, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_turns_into_waiting_time() {
        let l = RateLimiter::new(1000);
        let t0 = Instant::now();
        assert_eq!(l.reserve(1000, t0), Duration::ZERO, "one second of burst");
        assert_eq!(l.reserve(500, t0), Duration::from_millis(500));
        // after the debt is repaid, the next reservation waits only for itself
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.reserve(100, t1), Duration::from_millis(100));
    }

    #[test]
    fn bucket_never_holds_more_than_one_second() {
        let l = RateLimiter::new(100);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(l.reserve(100, later), Duration::ZERO);
        assert!(l.reserve(1, later) > Duration::ZERO);
    }
}
