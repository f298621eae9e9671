//! LEDBAT congestion control (BEP 29, RFC 6817): a window that grows while the queueing delay
//! we add stays under the 100 ms target and shrinks when it goes over, so uTP yields to TCP
//! on a shared bottleneck; halved on loss, one packet after a timeout.
//!
//! The delay samples are the peer's `timestamp_difference` (its clock at arrival minus ours at
//! sending): one-way delay plus an unknown clock offset. The offset cancels against the base
//! delay, the smallest sample of the last two minutes (kept as two one-minute minima, so a
//! route change or clock drift ages out). The current delay is the smallest of the last three
//! samples, which filters out a single delayed packet.
//!
//! Until the first sign of congestion (a loss, or the delay reaching half the target) the
//! window grows by the bytes acked (slow start, as libtorrent does), so a fast link fills in a
//! few round trips; after that the LEDBAT rule applies:
//! `cwnd += GAIN * (target - delay) / target * acked / cwnd`.

use std::time::{Duration, Instant};

/// The queueing delay LEDBAT aims for.
pub const TARGET: Duration = Duration::from_millis(100);
/// Bytes the window grows per round trip at zero delay (libtorrent's `utp_gain_factor`).
const GAIN: f64 = 3000.0;
/// The window never exceeds this (the receive window bounds it further).
pub const MAX_CWND: usize = 16 << 20;
/// How long one base-delay bucket covers.
const BUCKET: Duration = Duration::from_secs(60);

/// Signed distance `a - b` between two wrapping microsecond clocks.
fn diff(a: u32, b: u32) -> i64 {
    a.wrapping_sub(b) as i32 as i64
}

/// The congestion window and what it is computed from.
#[derive(Debug, Clone)]
pub struct Ledbat {
    cwnd: usize,
    mss: usize,
    slow_start: bool,
    ssthresh: usize,
    /// Minima of the current and the previous one-minute bucket, and when the current began.
    base: [Option<u32>; 2],
    bucket_start: Option<Instant>,
    recent: [Option<u32>; 3],
    last_decrease: Option<Instant>,
    /// The last queueing delay computed, in microseconds.
    queueing_us: u32,
}

impl Ledbat {
    /// A window of two packets of `mss` bytes, in slow start.
    pub fn new(mss: usize) -> Ledbat {
        Ledbat {
            cwnd: 2 * mss,
            mss,
            slow_start: true,
            ssthresh: MAX_CWND,
            base: [None; 2],
            bucket_start: None,
            recent: [None; 3],
            last_decrease: None,
            queueing_us: 0,
        }
    }

    /// The congestion window in bytes.
    pub fn window(&self) -> usize {
        self.cwnd
    }

    /// The queueing delay measured last.
    pub fn queueing_delay(&self) -> Duration {
        Duration::from_micros(self.queueing_us as u64)
    }

    /// The packet size changed (path MTU discovery): the window keeps at least two packets.
    pub fn set_mss(&mut self, mss: usize) {
        self.mss = mss;
        self.cwnd = self.cwnd.max(2 * mss);
    }

    /// Record one delay sample (the peer's `timestamp_difference`; 0 means none).
    pub fn delay_sample(&mut self, sample_us: u32, now: Instant) {
        if sample_us == 0 {
            return;
        }
        let start = *self.bucket_start.get_or_insert(now);
        if now.duration_since(start) >= BUCKET {
            self.base = [None, self.base[0]];
            self.bucket_start = Some(now);
        }
        self.base[0] = match self.base[0] {
            Some(c) if diff(c, sample_us) <= 0 => Some(c),
            _ => Some(sample_us),
        };
        self.recent = [Some(sample_us), self.recent[0], self.recent[1]];
        let base = [self.base[0], self.base[1]]
            .into_iter()
            .flatten()
            .min_by_key(|&b| diff(b, sample_us))
            .unwrap_or(sample_us);
        let current = self
            .recent
            .into_iter()
            .flatten()
            .min_by_key(|&c| diff(c, base))
            .unwrap_or(sample_us);
        self.queueing_us = diff(current, base).clamp(0, u32::MAX as i64) as u32;
    }

    /// `acked` bytes were acknowledged (after the delay sample of the same ack).
    pub fn on_ack(&mut self, acked: usize) {
        if acked == 0 {
            return;
        }
        let target = TARGET.as_micros() as f64;
        let off_target = ((target - self.queueing_us as f64) / target).clamp(-1.0, 1.0);
        if self.slow_start {
            if self.queueing_us as f64 > target / 2.0 || self.cwnd >= self.ssthresh {
                self.slow_start = false;
            } else {
                self.cwnd = (self.cwnd + acked).min(MAX_CWND);
                return;
            }
        }
        let gain = GAIN * off_target * acked as f64 / self.cwnd.max(1) as f64;
        let next = (self.cwnd as f64 + gain).clamp(self.min_window() as f64, MAX_CWND as f64);
        self.cwnd = next as usize;
    }

    /// A packet was lost (fast retransmit): halve the window, at most once per round trip.
    pub fn on_loss(&mut self, now: Instant, rtt: Duration) {
        if self
            .last_decrease
            .is_some_and(|t| now.duration_since(t) < rtt)
        {
            return;
        }
        self.last_decrease = Some(now);
        self.slow_start = false;
        self.cwnd = (self.cwnd / 2).max(self.min_window());
        self.ssthresh = self.cwnd;
    }

    /// The retransmission timer fired: start again from one packet, slow start up to half the
    /// window we had.
    pub fn on_timeout(&mut self, now: Instant) {
        self.last_decrease = Some(now);
        self.ssthresh = (self.cwnd / 2).max(self.min_window());
        self.cwnd = self.mss;
        self.slow_start = true;
    }

    fn min_window(&self) -> usize {
        self.mss
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_growth_below_target_and_shrinking_above_it() {
        let now = Instant::now();
        let mut cc = Ledbat::new(1000);
        cc.delay_sample(5_000, now);
        cc.on_ack(2000);
        assert_eq!(cc.window(), 4000, "slow start adds what was acked");
        // the delay rises to 80 ms over the base: slow start ends, LEDBAT shrinks above target
        cc.delay_sample(85_000, now);
        cc.delay_sample(85_000, now);
        cc.delay_sample(85_000, now);
        assert_eq!(cc.queueing_delay(), Duration::from_millis(80));
        let before = cc.window();
        cc.on_ack(1000);
        assert!(
            cc.window() > before,
            "80 ms is under the target: still grows"
        );
        for _ in 0..3 {
            cc.delay_sample(205_000, now);
        }
        let before = cc.window();
        cc.on_ack(1000);
        assert!(cc.window() < before, "200 ms is over the target: shrinks");
    }

    #[test]
    fn one_late_packet_is_not_congestion_and_the_base_ages_out() {
        let now = Instant::now();
        let mut cc = Ledbat::new(1000);
        cc.delay_sample(1_000, now);
        cc.delay_sample(1_000, now);
        cc.delay_sample(500_000, now);
        assert_eq!(cc.queueing_delay(), Duration::ZERO, "min of the last three");
        // two minutes later the old base is gone: 50 ms is the new normal
        let later = now + Duration::from_secs(61);
        cc.delay_sample(50_000, later);
        let later = later + Duration::from_secs(61);
        for _ in 0..3 {
            cc.delay_sample(50_000, later);
        }
        assert_eq!(cc.queueing_delay(), Duration::ZERO);
    }

    #[test]
    fn wrapping_clocks_and_losses() {
        let now = Instant::now();
        let mut cc = Ledbat::new(1000);
        cc.delay_sample(u32::MAX - 10, now);
        for _ in 0..3 {
            cc.delay_sample(20_000 - 11, now); // 20 ms later, across the wrap
        }
        assert_eq!(cc.queueing_delay(), Duration::from_millis(20));
        for _ in 0..10 {
            cc.on_ack(100_000);
        }
        let w = cc.window();
        cc.on_loss(now, Duration::from_millis(10));
        assert_eq!(cc.window(), w / 2);
        cc.on_loss(now, Duration::from_millis(10));
        assert_eq!(cc.window(), w / 2, "once per round trip");
        cc.on_timeout(now);
        assert_eq!(cc.window(), 1000);
    }
}
