//! The torrent task's timers: a tick that is fast while peers are connected and slow (and
//! shared by every idle torrent) without, and the slower duties that come due on some ticks.

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
}
