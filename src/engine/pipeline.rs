//! How many block requests to keep in flight to one peer: the request pipeline depth.
//!
//! Two regimes, like TCP's congestion window and libtorrent's request queue:
//! - **Slow start**, from the connection's start: each block received raises the depth by one,
//!   so it doubles every round trip, from [`MIN_PIPELINE`] up to [`MAX_PIPELINE`]. Without it
//!   the depth sat at the minimum until the first rate sample, one second in. At loopback or
//!   LAN speeds that second is a large share of a download: the first 100 MiB of a 1 GiB
//!   download from two libtorrent seeders took about twice as long as any later 100 MiB.
//! - **Steady**: about one second of data at the measured rate (`rate / 16 KiB`), within the
//!   same bounds. Slow start ends at the first one-second tick whose byte count did not grow
//!   by a tenth over the previous tick's (at the maximum the window just stops growing: the
//!   rate needs a tick or two to catch up).
//!
//! A snubbed peer (a request timed out) gets one block at a time until data flows again.
//! Pure: the peer task feeds it blocks and ticks.

use crate::proto::message::BLOCK_SIZE;

/// The smallest depth of a peer that is not snubbed (and where slow start begins).
pub const MIN_PIPELINE: usize = 16;
/// The largest depth (libtorrent's default `max_out_request_queue` is 500 too).
pub const MAX_PIPELINE: usize = 500;

/// The pipeline depth of one peer and the download rate it is based on.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Exponential moving average of the download rate, bytes per second.
    rate: f64,
    bytes_this_tick: u64,
    last_tick_bytes: u64,
    slow_start: bool,
    /// The slow-start depth: grows by one per block received.
    window: usize,
    snubbed: bool,
}

impl Default for Pipeline {
    fn default() -> Self {
        Pipeline {
            rate: 0.0,
            bytes_this_tick: 0,
            last_tick_bytes: 0,
            slow_start: true,
            window: MIN_PIPELINE,
            snubbed: false,
        }
    }
}

impl Pipeline {
    /// A block of `len` bytes arrived: data flows (no longer snubbed) and, in slow start, the
    /// depth grows by one.
    pub fn on_block(&mut self, len: u64) {
        self.bytes_this_tick += len;
        self.snubbed = false;
        if self.slow_start {
            self.window = (self.window + 1).min(MAX_PIPELINE);
        }
    }

    /// The one-second tick: update the rate (returned) and decide whether slow start is over.
    pub fn on_tick(&mut self) -> f64 {
        self.rate = self.rate * 0.6 + self.bytes_this_tick as f64 * 0.4;
        if self.slow_start
            && self.last_tick_bytes > 0
            && self.bytes_this_tick * 10 < self.last_tick_bytes * 11
        {
            self.slow_start = false;
        }
        self.last_tick_bytes = self.bytes_this_tick;
        self.bytes_this_tick = 0;
        self.rate
    }

    /// A request timed out: one block at a time until data flows again.
    pub fn snub(&mut self) {
        self.snubbed = true;
        self.slow_start = false;
    }

    pub fn is_snubbed(&self) -> bool {
        self.snubbed
    }

    /// Requests to keep in flight, never more than the peer's `reqq`.
    pub fn target(&self, their_reqq: usize) -> usize {
        if self.snubbed {
            return 1;
        }
        let by_rate = ((self.rate / BLOCK_SIZE as f64) as usize).clamp(MIN_PIPELINE, MAX_PIPELINE);
        let depth = if self.slow_start {
            by_rate.max(self.window)
        } else {
            by_rate
        };
        depth.min(their_reqq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = BLOCK_SIZE as u64;

    #[test]
    fn slow_start_doubles_per_round_trip_up_to_the_maximum() {
        let mut p = Pipeline::default();
        assert_eq!(p.target(MAX_PIPELINE), MIN_PIPELINE);
        // one round trip: the whole pipeline comes back, and the depth doubles
        for _ in 0..MIN_PIPELINE {
            p.on_block(B);
        }
        assert_eq!(p.target(MAX_PIPELINE), 2 * MIN_PIPELINE);
        for _ in 0..2 * MIN_PIPELINE {
            p.on_block(B);
        }
        assert_eq!(p.target(MAX_PIPELINE), 4 * MIN_PIPELINE);
        for _ in 0..1000 {
            p.on_block(B);
        }
        assert_eq!(p.target(MAX_PIPELINE), MAX_PIPELINE);
        assert_eq!(p.target(250), 250, "never above the peer's reqq");
    }

    #[test]
    fn slow_start_ends_when_a_tick_brings_no_growth_then_the_rate_rules() {
        let mut p = Pipeline::default();
        // 40 blocks in the first second, 60 in the second (+50 %), 62 in the third (+3 %)
        for _ in 0..40 {
            p.on_block(B);
        }
        p.on_tick();
        for _ in 0..60 {
            p.on_block(B);
        }
        p.on_tick();
        assert_eq!(
            p.target(MAX_PIPELINE),
            MIN_PIPELINE + 100,
            "still in slow start"
        );
        for _ in 0..62 {
            p.on_block(B);
        }
        let rate = p.on_tick();
        // steady: one second of data at the averaged rate, about 45 blocks here
        let by_rate = (rate / B as f64) as usize;
        assert_eq!(
            p.target(MAX_PIPELINE),
            by_rate.clamp(MIN_PIPELINE, MAX_PIPELINE)
        );
        assert!(
            by_rate < MIN_PIPELINE + 162,
            "the slow-start window no longer counts"
        );
        // and more blocks do not grow it any more
        for _ in 0..100 {
            p.on_block(B);
        }
        assert_eq!(
            p.target(MAX_PIPELINE),
            by_rate.clamp(MIN_PIPELINE, MAX_PIPELINE)
        );
    }

    #[test]
    fn a_slow_peer_gets_a_small_pipeline() {
        // 3 blocks a second: slow start grows the window by 3 a second and ends when the
        // rate stops growing; the depth stays near the minimum
        let mut p = Pipeline::default();
        for _ in 0..4 {
            for _ in 0..3 {
                p.on_block(B);
            }
            p.on_tick();
        }
        assert_eq!(p.target(MAX_PIPELINE), MIN_PIPELINE);
    }

    #[test]
    fn a_snubbed_peer_gets_one_block_until_data_flows() {
        let mut p = Pipeline::default();
        for _ in 0..100 {
            p.on_block(B);
        }
        p.snub();
        assert!(p.is_snubbed());
        assert_eq!(p.target(MAX_PIPELINE), 1);
        p.on_block(B);
        assert!(!p.is_snubbed());
        assert_eq!(
            p.target(MAX_PIPELINE),
            MIN_PIPELINE,
            "slow start does not come back"
        );
    }
}
