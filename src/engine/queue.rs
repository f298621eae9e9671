//! The queue: which torrents may run, and seeding limits (when a seed has given enough).
//!
//! Like libtorrent's auto-managed torrents: at most `max_active_downloads` torrents download
//! and `max_active_seeds` seed at once, the first ones in queue order; the others wait
//! (`Queued`) and start when a slot frees. A download that has made no progress for
//! [`QueueLimits::stall_after`] keeps running but no longer holds a slot (a dead torrent must
//! not block the queue forever), so the next one starts beside it. Torrents the user paused,
//! and failed ones, are outside the queue. Checking torrents always run (their data is read
//! once, and a queued torrent would otherwise never learn it is complete).
//!
//! [`decide`] is a pure function of the torrents' states; the engine calls it every second and
//! tells each torrent whose answer changed. [`seed_limit_reached`] says when a seed stops.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The engine's queue and seeding limits (config keys of the same names; `None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QueueLimits {
    #[serde(default)]
    pub max_active_downloads: Option<usize>,
    #[serde(default)]
    pub max_active_seeds: Option<usize>,
    /// A download without progress this long does not hold a slot.
    #[serde(default = "default_stall")]
    pub stall_after: Duration,
    /// A seed stops once it uploaded this many times its size...
    #[serde(default)]
    pub seed_ratio: Option<f64>,
    /// ... or seeded this long.
    #[serde(default)]
    pub seed_time: Option<Duration>,
    /// What stopping means.
    #[serde(default)]
    pub on_seed_limit: SeedLimitAction,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_active_downloads: None,
            max_active_seeds: None,
            stall_after: DEFAULT_STALL,
            seed_ratio: None,
            seed_time: None,
            on_seed_limit: SeedLimitAction::default(),
        }
    }
}

fn default_stall() -> Duration {
    DEFAULT_STALL
}

/// A download stalls after this long without a verified byte.
pub const DEFAULT_STALL: Duration = Duration::from_secs(5 * 60);

/// What happens to a torrent that reached its seeding limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedLimitAction {
    /// Paused, as if the user paused it (resuming it seeds again until the next limit).
    #[default]
    Pause,
    /// Removed from the session; its data stays.
    Remove,
}

/// What a torrent is doing, as the queue sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Fetching metadata or pieces.
    Download,
    Seed,
    /// Checking its data: runs whatever the queue says.
    Checking,
    /// Paused by the user, or failed: outside the queue.
    Stopped,
}

/// One torrent, in queue order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// A download with no progress for `stall_after`.
    pub stalled: bool,
}

/// Which of `torrents` (in queue order) may run now.
pub fn decide(torrents: &[Entry], limits: &QueueLimits) -> Vec<bool> {
    let mut downloads = 0;
    let mut seeds = 0;
    torrents
        .iter()
        .map(|t| match t.kind {
            Kind::Stopped => false,
            Kind::Checking => true,
            Kind::Download => {
                let room = limits.max_active_downloads.is_none_or(|m| downloads < m);
                // a stalled download runs if there is room, but its slot is not counted, so
                // the next download starts too
                if room && !t.stalled {
                    downloads += 1;
                }
                room
            }
            Kind::Seed => {
                let room = limits.max_active_seeds.is_none_or(|m| seeds < m);
                if room {
                    seeds += 1;
                }
                room
            }
        })
        .collect()
}

/// Whether a seed that uploaded `uploaded` bytes of a `size`-byte torrent, seeding for
/// `seeding`, reached a limit: its own (`ratio`, `time`) or else the engine's.
pub fn seed_limit_reached(
    uploaded: u64,
    size: u64,
    seeding: Duration,
    ratio: Option<f64>,
    time: Option<Duration>,
) -> bool {
    let by_ratio = ratio.is_some_and(|r| size > 0 && uploaded as f64 >= r * size as f64);
    let by_time = time.is_some_and(|t| seeding >= t);
    by_ratio || by_time
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(kind: Kind) -> Entry {
        Entry {
            kind,
            stalled: false,
        }
    }

    fn limits(downloads: usize, seeds: usize) -> QueueLimits {
        QueueLimits {
            max_active_downloads: Some(downloads),
            max_active_seeds: Some(seeds),
            ..QueueLimits::default()
        }
    }

    use Kind::*;

    #[test]
    fn the_first_in_queue_order_run_and_the_rest_wait() {
        let q = [
            e(Download),
            e(Seed),
            e(Download),
            e(Download),
            e(Seed),
            e(Seed),
        ];
        assert_eq!(
            decide(&q, &limits(2, 1)),
            [true, true, true, false, false, false]
        );
        assert_eq!(decide(&q, &QueueLimits::default()), [true; 6], "no limits");
    }

    #[test]
    fn paused_and_checking_torrents_take_no_slot() {
        let q = [e(Stopped), e(Checking), e(Download), e(Download)];
        assert_eq!(decide(&q, &limits(1, 1)), [false, true, true, false]);
    }

    #[test]
    fn a_stalled_download_keeps_running_without_holding_its_slot() {
        let stalled = Entry {
            kind: Download,
            stalled: true,
        };
        let q = [stalled, e(Download), e(Download)];
        assert_eq!(decide(&q, &limits(1, 0)), [true, true, false]);
        // a slot freed (the first finished): the waiting one starts
        let q = [e(Seed), e(Download), e(Download)];
        assert_eq!(decide(&q, &limits(1, 1)), [true, true, false]);
    }

    #[test]
    fn a_seed_stops_at_its_ratio_or_its_time() {
        let h = Duration::from_secs(3600);
        assert!(!seed_limit_reached(100, 100, h, None, None));
        assert!(seed_limit_reached(200, 100, h, Some(2.0), None));
        assert!(!seed_limit_reached(199, 100, h, Some(2.0), None));
        assert!(seed_limit_reached(0, 100, h, None, Some(h)));
        assert!(
            !seed_limit_reached(0, 0, h, Some(0.0), None),
            "an empty torrent has no ratio"
        );
    }
}
