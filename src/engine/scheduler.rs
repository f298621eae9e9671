//! The engine's queue keeper: it follows every torrent from its pictures, once a second
//! decides which may run ([`queue::decide`]) and which seeds reached their limit, and says
//! what to change. The engine actor owns one and carries out its [`Action`]s.

use crate::engine::event::{TorrentId, TorrentSnapshot, TorrentState};
use crate::engine::queue::{self, Entry, Kind, QueueLimits, SeedLimitAction};
use crate::engine::settings::TorrentLimits;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the engine must do to a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Hold it back (`true`) or let it run.
    Queue(TorrentId, bool),
    /// It reached its seeding limit: pause it as the user would.
    Pause(TorrentId),
    /// It reached its seeding limit: remove it (data kept).
    Remove(TorrentId),
}

/// What the scheduler remembers of one torrent.
#[derive(Debug, Clone)]
struct Tracked {
    /// Paused by the user (or by a seeding limit).
    paused: bool,
    /// What the scheduler last told it.
    queued: bool,
    /// Bytes downloaded, and when that number last grew (or the torrent started running).
    downloaded: u64,
    progress_at: Instant,
    /// When it was first seen seeding (while running), for the time limit.
    seeding_since: Option<Instant>,
}

/// The queue order and what the scheduler knows of each torrent.
#[derive(Debug, Default)]
pub struct Scheduler {
    pub limits: QueueLimits,
    /// Queue order: first is first served.
    order: Vec<TorrentId>,
    tracked: HashMap<TorrentId, Tracked>,
}

impl Scheduler {
    pub fn new(limits: QueueLimits) -> Scheduler {
        Scheduler {
            limits,
            ..Scheduler::default()
        }
    }

    /// A new torrent, last in the queue.
    pub fn added(&mut self, id: TorrentId, paused: bool, now: Instant) {
        self.order.push(id);
        self.tracked.insert(
            id,
            Tracked {
                paused,
                queued: false,
                downloaded: 0,
                progress_at: now,
                seeding_since: None,
            },
        );
    }

    pub fn removed(&mut self, id: TorrentId) {
        self.order.retain(|t| *t != id);
        self.tracked.remove(&id);
    }

    /// The user paused or resumed it.
    pub fn paused(&mut self, id: TorrentId, paused: bool, now: Instant) {
        if let Some(t) = self.tracked.get_mut(&id) {
            t.paused = paused;
            // a resumed download gets a fresh chance before it counts as stalled
            t.progress_at = now;
            t.seeding_since = None;
        }
    }

    /// A new queue order: these torrents first, in this order; the others after them, in
    /// their current order.
    pub fn reorder(&mut self, first: &[TorrentId]) {
        let mut order: Vec<TorrentId> = first
            .iter()
            .copied()
            .filter(|id| self.tracked.contains_key(id))
            .collect();
        order.dedup();
        for id in &self.order {
            if !order.contains(id) {
                order.push(*id);
            }
        }
        self.order = order;
    }

    /// The queue order.
    pub fn order(&self) -> &[TorrentId] {
        &self.order
    }

    /// Once a second: follow the pictures, and say what to change. `limits_of` gives a
    /// torrent's own limits (its seeding ratio and time override the engine's).
    pub fn tick(
        &mut self,
        pictures: &HashMap<TorrentId, TorrentSnapshot>,
        limits_of: impl Fn(TorrentId) -> TorrentLimits,
        now: Instant,
    ) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut entries = Vec::with_capacity(self.order.len());
        for id in &self.order {
            let (Some(t), pic) = (self.tracked.get_mut(id), pictures.get(id)) else {
                entries.push(Entry {
                    kind: Kind::Stopped,
                    stalled: false,
                });
                continue;
            };
            // what the torrent shows is what it does: a message may not have reached it yet, or
            // a magnet may have left its metadata phase (where the queue does not reach)
            // since it was told
            if let Some(p) = pic
                && matches!(
                    p.state,
                    TorrentState::Downloading | TorrentState::Seeding | TorrentState::Queued
                )
            {
                t.queued = p.state == TorrentState::Queued;
            }
            let kind = match pic.map(|p| (p.state, p.bytes_left, p.total_length)) {
                _ if t.paused => Kind::Stopped,
                Some((TorrentState::Failed | TorrentState::Paused, _, _)) => Kind::Stopped,
                // not pictured yet, fetching its metadata (the queue cannot hold that phase
                // back) or checking: it runs, and takes no slot
                None | Some((TorrentState::FetchingMetadata | TorrentState::Checking, _, _)) => {
                    Kind::Checking
                }
                Some((TorrentState::Seeding, _, _)) => Kind::Seed,
                Some((TorrentState::Downloading, _, _)) => Kind::Download,
                // queued: what it would do if it ran
                Some((TorrentState::Queued, left, total)) => {
                    if left == 0 && total > 0 {
                        Kind::Seed
                    } else {
                        Kind::Download
                    }
                }
            };
            let downloaded = pic.map_or(0, |p| p.downloaded);
            if downloaded > t.downloaded || t.queued {
                t.progress_at = now;
            }
            t.downloaded = downloaded;
            let stalled = now.duration_since(t.progress_at) >= self.limits.stall_after;
            if kind == Kind::Seed
                && !t.queued
                && let Some(p) = pic
            {
                let since = *t.seeding_since.get_or_insert(now);
                let own = limits_of(*id);
                let reached = queue::seed_limit_reached(
                    p.uploaded,
                    p.total_length,
                    now.duration_since(since),
                    own.seed_ratio.or(self.limits.seed_ratio),
                    own.seed_time_secs
                        .map(Duration::from_secs)
                        .or(self.limits.seed_time),
                );
                if reached {
                    t.paused = true;
                    actions.push(match self.limits.on_seed_limit {
                        SeedLimitAction::Pause => Action::Pause(*id),
                        SeedLimitAction::Remove => Action::Remove(*id),
                    });
                    entries.push(Entry {
                        kind: Kind::Stopped,
                        stalled: false,
                    });
                    continue;
                }
            } else if kind != Kind::Seed {
                t.seeding_since = None;
            }
            entries.push(Entry { kind, stalled });
        }
        let run = queue::decide(&entries, &self.limits);
        for ((id, entry), run) in self.order.iter().zip(&entries).zip(run) {
            let Some(t) = self.tracked.get_mut(id) else {
                continue;
            };
            // a stopped torrent keeps whatever it was told: it has no peers either way; a
            // checking one (or one fetching its metadata) is not held back
            if matches!(entry.kind, Kind::Stopped | Kind::Checking) {
                continue;
            }
            if t.queued == run {
                t.queued = !run;
                actions.push(Action::Queue(*id, !run));
            }
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::id::InfoHash;

    fn picture(
        id: TorrentId,
        state: TorrentState,
        downloaded: u64,
        uploaded: u64,
    ) -> TorrentSnapshot {
        let mut t = TorrentSnapshot::fetching_metadata(id, InfoHash::default(), format!("t{id}"));
        t.state = state;
        t.total_length = 1000;
        t.bytes_left = if state == TorrentState::Seeding {
            0
        } else {
            500
        };
        t.downloaded = downloaded;
        t.uploaded = uploaded;
        t
    }

    fn pictures(
        list: &[(TorrentId, TorrentState, u64, u64)],
    ) -> HashMap<TorrentId, TorrentSnapshot> {
        list.iter()
            .map(|&(id, s, d, u)| (id, picture(id, s, d, u)))
            .collect()
    }

    #[test]
    fn waiting_torrents_start_when_a_slot_frees() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(QueueLimits {
            max_active_downloads: Some(1),
            ..QueueLimits::default()
        });
        for id in 1..=3 {
            s.added(id, false, t0);
        }
        let dl = TorrentState::Downloading;
        let p = pictures(&[(1, dl, 0, 0), (2, dl, 0, 0), (3, dl, 0, 0)]);
        let a = s.tick(&p, |_| TorrentLimits::default(), t0);
        assert_eq!(a, [Action::Queue(2, true), Action::Queue(3, true)]);
        // once they show it, nothing more to say
        let q = TorrentState::Queued;
        let p = pictures(&[(1, dl, 0, 0), (2, q, 0, 0), (3, q, 0, 0)]);
        assert!(
            s.tick(&p, |_| TorrentLimits::default(), t0).is_empty(),
            "said once"
        );
        // the first completes: the second starts
        let p = pictures(&[
            (1, TorrentState::Seeding, 500, 0),
            (2, q, 0, 0),
            (3, q, 0, 0),
        ]);
        let a = s.tick(&p, |_| TorrentLimits::default(), t0);
        assert_eq!(a, [Action::Queue(2, false)]);
        // moved to the front, the third takes the slot
        s.reorder(&[3]);
        assert_eq!(s.order(), [3, 1, 2]);
        let p = pictures(&[
            (1, TorrentState::Seeding, 500, 0),
            (2, dl, 0, 0),
            (3, q, 0, 0),
        ]);
        let a = s.tick(&p, |_| TorrentLimits::default(), t0);
        assert_eq!(a, [Action::Queue(3, false), Action::Queue(2, true)]);
    }

    #[test]
    fn a_stalled_download_lets_the_next_one_start() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(QueueLimits {
            max_active_downloads: Some(1),
            stall_after: Duration::from_secs(60),
            ..QueueLimits::default()
        });
        s.added(1, false, t0);
        s.added(2, false, t0);
        let dl = TorrentState::Downloading;
        let p = pictures(&[(1, dl, 100, 0), (2, dl, 0, 0)]);
        assert_eq!(
            s.tick(&p, |_| TorrentLimits::default(), t0),
            [Action::Queue(2, true)]
        );
        let p = pictures(&[(1, dl, 100, 0), (2, TorrentState::Queued, 0, 0)]);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            s.tick(&p, |_| TorrentLimits::default(), later),
            [Action::Queue(2, false)],
            "no progress for a minute: the first no longer holds the slot"
        );
    }

    #[test]
    fn a_seed_stops_at_its_own_limit_or_the_engines() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(QueueLimits {
            seed_ratio: Some(2.0),
            ..QueueLimits::default()
        });
        s.added(1, false, t0);
        s.added(2, false, t0);
        let seed = TorrentState::Seeding;
        let own = |id| TorrentLimits {
            seed_ratio: (id == 2).then_some(0.5),
            ..TorrentLimits::default()
        };
        let p = pictures(&[(1, seed, 0, 1000), (2, seed, 0, 500)]);
        assert_eq!(
            s.tick(&p, own, t0),
            [Action::Pause(2)],
            "its own ratio: 0.5"
        );
        let p = pictures(&[(1, seed, 0, 2000), (2, TorrentState::Paused, 0, 500)]);
        assert_eq!(s.tick(&p, own, t0), [Action::Pause(1)], "the engine's: 2.0");
        // by time, removing
        let mut s = Scheduler::new(QueueLimits {
            seed_time: Some(Duration::from_secs(60)),
            on_seed_limit: SeedLimitAction::Remove,
            ..QueueLimits::default()
        });
        s.added(7, false, t0);
        let p = pictures(&[(7, seed, 0, 0)]);
        assert!(s.tick(&p, |_| TorrentLimits::default(), t0).is_empty());
        let a = s.tick(
            &p,
            |_| TorrentLimits::default(),
            t0 + Duration::from_secs(60),
        );
        assert_eq!(a, [Action::Remove(7)]);
    }

    #[test]
    fn a_magnet_that_got_its_metadata_while_told_to_wait_is_told_again() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(QueueLimits {
            max_active_downloads: Some(1),
            ..QueueLimits::default()
        });
        s.added(1, false, t0);
        s.added(2, false, t0);
        let dl = TorrentState::Downloading;
        // the magnet fetching its metadata takes no slot and is not held back
        let p = pictures(&[(1, dl, 0, 0), (2, TorrentState::FetchingMetadata, 0, 0)]);
        assert!(s.tick(&p, |_| TorrentLimits::default(), t0).is_empty());
        // its metadata came: now it downloads beside the first, over the limit, and waits
        let p = pictures(&[(1, dl, 0, 0), (2, dl, 0, 0)]);
        assert_eq!(
            s.tick(&p, |_| TorrentLimits::default(), t0),
            [Action::Queue(2, true)]
        );
        // a picture that still shows it downloading (the message not yet taken) repeats it
        assert_eq!(
            s.tick(&p, |_| TorrentLimits::default(), t0),
            [Action::Queue(2, true)]
        );
        let p = pictures(&[(1, dl, 0, 0), (2, TorrentState::Queued, 0, 0)]);
        assert!(s.tick(&p, |_| TorrentLimits::default(), t0).is_empty());
    }

    #[test]
    fn paused_torrents_are_left_alone() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(QueueLimits {
            max_active_downloads: Some(1),
            ..QueueLimits::default()
        });
        s.added(1, true, t0);
        s.added(2, false, t0);
        let p = pictures(&[
            (1, TorrentState::Paused, 0, 0),
            (2, TorrentState::Downloading, 0, 0),
        ]);
        assert!(s.tick(&p, |_| TorrentLimits::default(), t0).is_empty());
        s.paused(1, false, t0);
        let p = pictures(&[
            (1, TorrentState::Downloading, 0, 0),
            (2, TorrentState::Downloading, 0, 0),
        ]);
        assert_eq!(
            s.tick(&p, |_| TorrentLimits::default(), t0),
            [Action::Queue(2, true)],
            "resumed, it is first in the queue"
        );
    }
}
