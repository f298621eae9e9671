//! The evidence a torrent gathers for the bottleneck verdict ([`super::bottleneck`]): what
//! its trackers and the DHT answered, how busy its hasher was and how often its disk write
//! queue was full over the recent window.
//!
//! One [`Probe`] per torrent, shared (`Arc`) by whoever learns something: the torrent task
//! (tracker answers, the disk queue it samples when it takes a picture), the engine's DHT
//! feeder (lookups) and the disk's hasher thread (time spent hashing, one relaxed atomic add
//! per batch of jobs, so the hot path does not notice). [`Probe::sample`] turns the counters
//! into the [`Diagnostics`] a picture carries.

use super::event::{DhtStatus, Diagnostics, TrackerStatus};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How far back the shares look ("of the last 10 s").
pub const WINDOW: Duration = Duration::from_secs(10);
/// Trackers remembered (a torrent may list hundreds; the verdict needs a summary).
const MAX_TRACKERS: usize = 64;

/// Cumulative counters at one instant.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    hash_ns: u64,
    full: u64,
    samples: u64,
}

#[derive(Debug, Default)]
struct Window {
    samples: VecDeque<Sample>,
    full: u64,
    count: u64,
}

/// One torrent's evidence; see the module docs.
#[derive(Debug)]
pub struct Probe {
    trackers: Mutex<Vec<TrackerStatus>>,
    dht: AtomicBool,
    dht_lookups: AtomicU32,
    dht_peers: AtomicU32,
    /// Nanoseconds the hasher thread spent hashing, ever.
    pub hash_busy_ns: AtomicU64,
    window: Mutex<Window>,
}

impl Probe {
    /// `dht`: whether the DHT looks for this torrent's peers.
    pub fn new(dht: bool) -> Probe {
        Probe {
            trackers: Mutex::new(Vec::new()),
            dht: AtomicBool::new(dht),
            dht_lookups: AtomicU32::new(0),
            dht_peers: AtomicU32::new(0),
            hash_busy_ns: AtomicU64::new(0),
            window: Mutex::new(Window::default()),
        }
    }

    fn tracker(&self, url: &str, last: Result<usize, String>) {
        let mut list = self.trackers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = list.iter_mut().find(|t| t.url == url) {
            t.last = Some(last);
        } else if list.len() < MAX_TRACKERS {
            list.push(TrackerStatus {
                url: url.to_string(),
                last: Some(last),
            });
        }
    }

    /// A tracker answered with `peers` addresses.
    pub fn tracker_reply(&self, url: &str, peers: usize) {
        self.tracker(url, Ok(peers));
    }

    /// A tracker's announce failed (or it answered with a failure reason).
    pub fn tracker_error(&self, url: &str, message: &str) {
        // a tracker's message is hostile input: keep the line short and printable
        let message: String = message
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        self.tracker(url, Err(message));
    }

    /// The torrent turned out private (BEP 27): the DHT no longer looks for it.
    pub fn dht_off(&self) {
        self.dht.store(false, Ordering::Relaxed);
    }

    /// A DHT lookup found a peer.
    pub fn dht_peer(&self) {
        self.dht_peers.fetch_add(1, Ordering::Relaxed);
    }

    /// A DHT lookup finished.
    pub fn dht_lookup_done(&self) {
        self.dht_lookups.fetch_add(1, Ordering::Relaxed);
    }

    /// Take a sample at `now` (`disk_full`: the disk write queue is full right now) and
    /// return the diagnostics over the last [`WINDOW`].
    pub fn sample(&self, now: Instant, disk_full: bool) -> Diagnostics {
        let hash_ns = self.hash_busy_ns.load(Ordering::Relaxed);
        let (hash_busy, disk_queue_full) = {
            let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
            w.count += 1;
            w.full += u64::from(disk_full);
            let s = Sample {
                at: now,
                hash_ns,
                full: w.full,
                samples: w.count,
            };
            w.samples.push_back(s);
            // keep one sample at or before the window's start, as its base
            while w.samples.len() > 2
                && w.samples
                    .get(1)
                    .is_some_and(|b| now.saturating_duration_since(b.at) >= WINDOW)
            {
                w.samples.pop_front();
            }
            match w.samples.front() {
                Some(base) if base.samples < s.samples => {
                    let span = now.saturating_duration_since(base.at).as_nanos() as f64;
                    let busy = if span > 0.0 {
                        (s.hash_ns.saturating_sub(base.hash_ns)) as f64 / span
                    } else {
                        0.0
                    };
                    // the share of the samples since the base that found the queue full
                    let full = (s.full - base.full) as f64 / (s.samples - base.samples) as f64;
                    (busy.clamp(0.0, 1.0) as f32, full.clamp(0.0, 1.0) as f32)
                }
                _ => (0.0, if disk_full { 1.0 } else { 0.0 }),
            }
        };
        Diagnostics {
            trackers: self
                .trackers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            dht: self.dht.load(Ordering::Relaxed).then(|| DhtStatus {
                lookups: self.dht_lookups.load(Ordering::Relaxed),
                peers: self.dht_peers.load(Ordering::Relaxed),
            }),
            disk_queue_full,
            hash_busy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trackers_keep_their_last_answer() {
        let p = Probe::new(false);
        p.tracker_error("http://a", "connection refused\n\x1b[2J");
        p.tracker_reply("udp://b", 3);
        p.tracker_reply("http://a", 5);
        p.tracker_error("udp://b", "timed out");
        let d = p.sample(Instant::now(), false);
        assert_eq!(d.trackers.len(), 2);
        assert_eq!(d.trackers[0].last, Some(Ok(5)));
        assert_eq!(d.trackers[1].last, Some(Err("timed out".into())));
        p.tracker_error("http://a", "refused\n\x1b[2J");
        let d = p.sample(Instant::now(), false);
        assert_eq!(
            d.trackers[0].last,
            Some(Err("refused[2J".into())),
            "control characters are dropped"
        );
        assert_eq!(d.dht, None);
        for i in 0..100 {
            p.tracker_reply(&format!("http://t{i}"), 1);
        }
        assert_eq!(p.sample(Instant::now(), false).trackers.len(), MAX_TRACKERS);
    }

    #[test]
    fn dht_counts_until_it_is_off() {
        let p = Probe::new(true);
        p.dht_peer();
        p.dht_peer();
        p.dht_lookup_done();
        let d = p.sample(Instant::now(), false);
        assert_eq!(
            d.dht,
            Some(DhtStatus {
                lookups: 1,
                peers: 2
            })
        );
        p.dht_off();
        assert_eq!(p.sample(Instant::now(), false).dht, None);
    }

    #[test]
    fn shares_over_the_window() {
        let p = Probe::new(false);
        let t0 = Instant::now();
        // 20 s of samples every 100 ms: hasher busy half the time, the queue full in the
        // last 8 s only
        for i in 0..=200u64 {
            let at = t0 + Duration::from_millis(i * 100);
            p.hash_busy_ns.fetch_add(50_000_000, Ordering::Relaxed);
            let d = p.sample(at, i > 120);
            if i == 200 {
                assert!((d.hash_busy - 0.5).abs() < 0.02, "{}", d.hash_busy);
                assert!(
                    (d.disk_queue_full - 0.8).abs() < 0.03,
                    "{}",
                    d.disk_queue_full
                );
            }
        }
        // a hasher busy all the time
        let p = Probe::new(false);
        for i in 0..=50u64 {
            p.hash_busy_ns.fetch_add(100_000_000, Ordering::Relaxed);
            let d = p.sample(t0 + Duration::from_millis(i * 100), true);
            if i == 50 {
                assert!(d.hash_busy > 0.97, "{}", d.hash_busy);
                assert_eq!(d.disk_queue_full, 1.0);
            }
        }
        // the first sample has no span yet
        let p = Probe::new(false);
        let d = p.sample(t0, false);
        assert_eq!((d.hash_busy, d.disk_queue_full), (0.0, 0.0));
    }
}
