//! A token bucket for upload (or download) rate limits, shared by every peer of an engine.
//!
//! `acquire(n)` takes `n` tokens at once and, when that leaves the bucket in debt, sleeps until
//! the debt is repaid at `rate` bytes per second. Reserving before sleeping keeps the order fair
//! and lets many peers share one limit without a central scheduler. The bucket holds at most
//! a tenth of a second of tokens (at least 64 KiB): after an idle spell a transfer may run
//! ahead by that much, not by a whole second (which was 3-10 % over the limit on a 10 s
//! transfer, `scripts/bench_limits.sh`).
//!
//! The rate can change while peers use the bucket ([`RateLimiter::set_rate`]), and a bucket
//! can be unlimited ([`RateLimiter::unlimited`], or `set_rate(None)`), so every torrent and the
//! engine keep one bucket each for their whole life and the user's limits change live.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most tokens a bucket of `rate` holds: a tenth of a second, at least 64 KiB (and never
/// more than the rate itself).
fn capacity(rate: f64) -> f64 {
    (rate / 10.0).max(65536.0).min(rate)
}

#[derive(Debug)]
pub struct RateLimiter {
    /// Tokens per second (0: unlimited), the tokens left (negative: debt), and when.
    state: Mutex<(f64, f64, Instant)>,
}

impl RateLimiter {
    /// A limiter of `rate` bytes per second (at least 1). It starts empty: a full bucket
    /// would let a second's worth through at once, 10 % over the limit on a 10 s transfer.
    pub fn new(rate: u64) -> RateLimiter {
        let rate = rate.max(1) as f64;
        RateLimiter {
            state: Mutex::new((rate, 0.0, Instant::now())),
        }
    }

    /// A limiter of `rate` that starts full: its first burst goes at once (the announce gate:
    /// a torrent's first announce must not wait behind an empty bucket).
    pub fn new_full(rate: u64) -> RateLimiter {
        let rate = rate.max(1) as f64;
        RateLimiter {
            state: Mutex::new((rate, capacity(rate), Instant::now())),
        }
    }

    /// A limiter that never waits, until [`RateLimiter::set_rate`] gives it a rate.
    pub fn unlimited() -> RateLimiter {
        RateLimiter {
            state: Mutex::new((0.0, 0.0, Instant::now())),
        }
    }

    /// A limiter of `rate` bytes per second, or unlimited.
    pub fn with_rate(rate: Option<u64>) -> RateLimiter {
        rate.map_or_else(RateLimiter::unlimited, RateLimiter::new)
    }

    /// Change the rate (`None`: unlimited). The tokens held are capped to a second of the
    /// new rate; a debt is forgiven, so a raised limit takes effect at once.
    pub fn set_rate(&self, rate: Option<u64>) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rate = rate.map_or(0.0, |r| r.max(1) as f64);
        st.0 = rate;
        st.1 = st.1.clamp(0.0, capacity(rate));
        st.2 = Instant::now();
    }

    /// The rate in bytes per second (`None`: unlimited).
    pub fn rate(&self) -> Option<u64> {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (st.0 > 0.0).then_some(st.0 as u64)
    }

    /// Reserve `n` tokens at `now`; returns how long the caller must wait before using them.
    pub fn reserve(&self, n: u64, now: Instant) -> Duration {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (rate, tokens, last) = *st;
        if rate == 0.0 {
            return Duration::ZERO;
        }
        let refilled =
            (tokens + now.saturating_duration_since(last).as_secs_f64() * rate).min(capacity(rate));
        let left = refilled - n as f64;
        *st = (rate, left, now.max(last));
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / rate)
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

/// A torrent's rate buckets and the engine's: a byte is paid for in both.
#[derive(Debug, Clone)]
pub(crate) struct Buckets {
    pub torrent: std::sync::Arc<RateLimiter>,
    pub global: std::sync::Arc<RateLimiter>,
}

impl Buckets {
    /// Wait until `n` bytes are allowed by the torrent's limit and the engine's.
    pub async fn acquire(&self, n: u64) {
        self.torrent.acquire(n).await;
        self.global.acquire(n).await;
    }

    /// Whether neither bucket limits anything (the fast path skips them).
    pub fn is_unlimited(&self) -> bool {
        self.torrent.rate().is_none() && self.global.rate().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debt_turns_into_waiting_time() {
        let l = RateLimiter::new(1000);
        // it starts empty; a second later it holds its burst (here the whole second: a
        // bucket holds at least 64 KiB or its rate)
        let t0 = Instant::now() + Duration::from_secs(1);
        assert_eq!(l.reserve(1000, t0), Duration::ZERO, "one second of burst");
        assert_eq!(l.reserve(500, t0), Duration::from_millis(500));
        // after the debt is repaid, the next reservation waits only for itself
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.reserve(100, t1), Duration::from_millis(100));
    }

    #[test]
    fn a_fast_bucket_holds_a_tenth_of_a_second() {
        let l = RateLimiter::new(10 << 20);
        let later = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            l.reserve(1 << 20, later),
            Duration::ZERO,
            "100 ms of 10 MiB/s"
        );
        assert!(l.reserve(1 << 20, later) >= Duration::from_millis(99));
    }

    #[test]
    fn bucket_never_holds_more_than_one_second() {
        let l = RateLimiter::new(100);
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(l.reserve(100, later), Duration::ZERO);
        assert!(l.reserve(1, later) > Duration::ZERO);
    }

    #[test]
    fn the_rate_changes_live_and_unlimited_never_waits() {
        let l = RateLimiter::unlimited();
        let t0 = Instant::now();
        assert_eq!(l.reserve(u64::MAX / 2, t0), Duration::ZERO);
        assert_eq!(l.rate(), None);
        l.set_rate(Some(1000));
        assert_eq!(l.rate(), Some(1000));
        let t1 = Instant::now();
        // a fresh limit starts with an empty bucket: no burst from the unlimited time
        assert!(l.reserve(1000, t1) >= Duration::from_millis(999));
        // raising it forgives the debt
        l.set_rate(Some(1_000_000));
        assert!(l.reserve(1000, Instant::now()) < Duration::from_millis(2));
        l.set_rate(None);
        assert_eq!(l.reserve(1 << 40, Instant::now()), Duration::ZERO);
    }
}
