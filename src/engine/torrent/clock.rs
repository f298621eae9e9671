//! The torrent task's timers: a tick that is fast while peers are connected and slow (and
//! shared by every idle torrent) without, the slower duties that come due on some ticks, and
//! when a tick's picture is worth publishing ([`PictureGate`]).

use std::time::{Duration, Instant};

/// How often a torrent with peers refreshes its rates and its snapshot.
const TICK: Duration = Duration::from_millis(250);
/// ... and a torrent without any: a session of a thousand idle seeds must stay idle
/// (`scripts/bench_session.sh`: 1,000 idle torrents cost 0.5 % of a core). A whole number of
/// seconds.
const IDLE_TICK: Duration = Duration::from_secs(2);

/// The torrent task's timers: its tick (fast with peers, slow without), and the slower duties
/// that come due on some ticks.
pub(super) struct Clock {
    /// When the next tick is.
    pub(super) next: Instant,
    last_second: Instant,
    last_resume: Instant,
    last_pex: Instant,
}

/// What is due on this tick besides rates and the snapshot.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Due {
    /// Once a second: connections, choking, the announce numbers.
    pub(super) second: bool,
    /// Every 5 s: save resume data when pieces verified.
    pub(super) resume: bool,
    /// Every 15 s: BEP 11 peer exchange.
    pub(super) pex: bool,
}

impl Clock {
    pub(super) fn new(now: Instant) -> Clock {
        Clock {
            next: now + TICK,
            last_second: now,
            last_resume: now,
            last_pex: now,
        }
    }

    /// A tick at `now`: what is due, and when the next one is.
    pub(super) fn tick(&mut self, now: Instant, idle: bool) -> Due {
        let due_after = |last: &mut Instant, period: Duration| {
            // a little early counts: ticks drift by a few milliseconds
            let due = now + Duration::from_millis(20) >= *last + period;
            if due {
                *last = now;
            }
            due
        };
        let due = Due {
            second: due_after(&mut self.last_second, Duration::from_secs(1)),
            resume: due_after(&mut self.last_resume, Duration::from_secs(5)),
            pex: due_after(&mut self.last_pex, Duration::from_secs(15)),
        };
        self.next = if idle { idle_deadline(now) } else { now + TICK };
        due
    }
}

/// The few numbers that change a torrent's picture while it has no peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Picture {
    pub(super) paused: bool,
    pub(super) verified: u32,
    pub(super) downloaded: u64,
    pub(super) uploaded: u64,
    pub(super) hash_failures: u32,
    pub(super) known_peers: usize,
    pub(super) failed: usize,
}

/// An idle torrent whose picture did not change is pictured again after this long anyway (its
/// elapsed time moves on).
const IDLE_PICTURE: Duration = Duration::from_secs(10);

/// Whether a tick publishes a new picture: always while the torrent is busy (peers connected,
/// rates still decaying); when idle only if one of its numbers moved, or every
/// [`IDLE_PICTURE`]. A session of a thousand idle seeds then builds almost no pictures.
#[derive(Debug, Default)]
pub(super) struct PictureGate {
    /// What the last idle picture showed, and when it was taken.
    last: Option<(Picture, Instant)>,
}

impl PictureGate {
    pub(super) fn due(&mut self, busy: bool, picture: Picture, now: Instant) -> bool {
        if busy {
            self.last = None;
            return true;
        }
        match self.last {
            Some((p, at)) if p == picture && now.duration_since(at) < IDLE_PICTURE => false,
            _ => {
                self.last = Some((picture, now));
                true
            }
        }
    }
}

/// The next idle tick after `now`: on a multiple of [`IDLE_TICK`] of one clock shared by every
/// torrent, so that a thousand idle torrents wake the runtime together, not a thousand times
/// at scattered moments; at least half a tick away.
fn idle_deadline(now: Instant) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let since = now.saturating_duration_since(epoch);
    let period = IDLE_TICK.as_secs().max(1);
    let aligned = Duration::from_secs((since.as_secs() / period + 1) * period);
    epoch + aligned.max(since + IDLE_TICK / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_slows_down_when_idle_and_keeps_its_duties() {
        let t0 = Instant::now();
        let mut c = Clock::new(t0);
        assert_eq!(c.next, t0 + TICK);
        let mut seconds = 0;
        let mut at = t0;
        // four busy ticks make a second
        for _ in 0..4 {
            at += TICK;
            seconds += c.tick(at, false).second as u32;
        }
        assert_eq!(seconds, 1);
        assert_eq!(c.next, at + TICK);
        // idle: one tick per IDLE_TICK (on a multiple of it on the shared clock), and every
        // tick carries a second's duties
        let due = c.tick(at + IDLE_TICK, true);
        assert!(due.second);
        let wait = c.next - (at + IDLE_TICK);
        assert!(wait >= IDLE_TICK / 2 && wait <= IDLE_TICK, "{wait:?}");
        // resume data every 5 s, PEX every 15 s, whatever the tick
        let mut resumes = 0;
        let mut pexes = 0;
        let mut now = at + IDLE_TICK;
        for _ in 0..30 {
            now += Duration::from_secs(1);
            let d = c.tick(now, true);
            resumes += d.resume as u32;
            pexes += d.pex as u32;
        }
        assert_eq!((resumes, pexes), (6, 2));
    }

    fn picture(verified: u32) -> Picture {
        Picture {
            paused: false,
            verified,
            downloaded: 0,
            uploaded: 0,
            hash_failures: 0,
            known_peers: 0,
            failed: 0,
        }
    }

    #[test]
    fn an_idle_torrent_is_pictured_when_a_number_moves_or_every_idle_picture() {
        let t0 = Instant::now();
        let mut g = PictureGate::default();
        assert!(
            g.due(false, picture(3), t0),
            "the first idle picture is taken"
        );
        let s = Duration::from_secs(1);
        assert!(!g.due(false, picture(3), t0 + 2 * s), "nothing moved");
        assert!(!g.due(false, picture(3), t0 + 8 * s), "nothing moved");
        assert!(g.due(false, picture(4), t0 + 9 * s), "a piece verified");
        assert!(!g.due(false, picture(4), t0 + 10 * s));
        let paused = Picture {
            paused: true,
            ..picture(4)
        };
        assert!(g.due(false, paused, t0 + 11 * s), "paused");
        assert!(!g.due(false, paused, t0 + 20 * s));
        assert!(
            g.due(false, paused, t0 + 21 * s),
            "{IDLE_PICTURE:?} since the last"
        );
        // busy: every tick, and the next idle tick pictures again
        assert!(g.due(true, paused, t0 + 22 * s));
        assert!(g.due(true, paused, t0 + 22 * s));
        assert!(g.due(false, paused, t0 + 23 * s));
    }
}
