//! The book of known peer addresses for one torrent: where each came from, whether we are
//! connected, when to try again, and how much we trust it.
//!
//! States: `Idle -> Connecting -> Connected -> Idle (back-off) | Banned`. A failed attempt
//! doubles the wait before the next (5 s, 10 s, ... up to 160 s); a connection that worked
//! and then closed is retried after 5 s. Trust: a piece that fails its hash costs its sole
//! sender 3 points; at [`BAN_THRESHOLD`] (two bad pieces) the address is banned for the life
//! of the torrent. Pure logic with `now` passed in.

use crate::engine::event::PeerCloseReason;
use crate::engine::picker::PeerKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Trust points at or below which a peer is banned.
pub const BAN_THRESHOLD: i32 = -5;
/// Wait after a peer closed because both sides were seeds.
const USELESS_RETRY: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conn {
    Idle,
    Connecting,
    Connected(PeerKey),
    Banned,
}

#[derive(Debug)]
struct Known {
    conn: Conn,
    failures: u32,
    next_try: Instant,
    trust: i32,
}

#[derive(Debug, Default)]
pub struct PeerBook {
    known: HashMap<SocketAddr, Known>,
}

impl PeerBook {
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn add(&mut self, addrs: &[SocketAddr], now: Instant) {
        for a in addrs {
            if a.port() == 0 || a.ip().is_unspecified() {
                continue;
            }
            self.known.entry(*a).or_insert(Known {
                conn: Conn::Idle,
                failures: 0,
                next_try: now,
                trust: 0,
            });
        }
    }

    #[cfg(test)]
    pub fn state(&self, addr: &SocketAddr) -> Option<Conn> {
        self.known.get(addr).map(|k| k.conn)
    }

    #[cfg(test)]
    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.state(addr) == Some(Conn::Banned)
    }

    /// (connected, connecting) counts of outgoing connections.
    pub fn counts(&self) -> (usize, usize) {
        let mut connected = 0;
        let mut connecting = 0;
        for k in self.known.values() {
            match k.conn {
                Conn::Connected(_) => connected += 1,
                Conn::Connecting => connecting += 1,
                _ => {}
            }
        }
        (connected, connecting)
    }

    /// Up to `n` idle addresses whose back-off has passed; they are marked `Connecting`.
    pub fn take_candidates(&mut self, n: usize, now: Instant) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for (addr, k) in self.known.iter_mut() {
            if out.len() >= n {
                break;
            }
            if k.conn == Conn::Idle && k.next_try <= now {
                k.conn = Conn::Connecting;
                out.push(*addr);
            }
        }
        out
    }

    pub fn connected(&mut self, addr: SocketAddr, key: PeerKey) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.conn = Conn::Connected(key);
        }
    }

    /// A connection ended: schedule the next attempt. Returns the reason, turned into
    /// `Banned` when the address is banned.
    pub fn closed(
        &mut self,
        addr: SocketAddr,
        reason: PeerCloseReason,
        now: Instant,
    ) -> PeerCloseReason {
        let Some(k) = self.known.get_mut(&addr) else {
            return reason;
        };
        match (&reason, k.conn) {
            (_, Conn::Banned) => {}
            (PeerCloseReason::SelfConnection, _) => k.conn = Conn::Banned,
            (PeerCloseReason::Useless(_), _) => {
                k.conn = Conn::Idle;
                k.next_try = now + USELESS_RETRY;
            }
            _ => {
                let was_connected = matches!(k.conn, Conn::Connected(_));
                k.conn = Conn::Idle;
                k.failures = if was_connected { 1 } else { k.failures + 1 };
                k.next_try = now + Duration::from_secs(5u64 << k.failures.min(6).saturating_sub(1));
            }
        }
        if k.conn == Conn::Banned
            && !matches!(
                reason,
                PeerCloseReason::SelfConnection | PeerCloseReason::Banned(_)
            )
        {
            PeerCloseReason::Banned(reason.to_string())
        } else {
            reason
        }
    }

    /// The peer sent data of a piece that failed its hash check. Returns true when this bans it.
    /// Only a sole sender is blamed: with several senders the piece goes on parole (see the
    /// picker) and the next failure names the culprit, so an honest peer is never banned for
    /// sharing a piece with a corrupt one.
    pub fn penalise(&mut self, addr: SocketAddr, sole_sender: bool) -> bool {
        let Some(k) = self.known.get_mut(&addr) else {
            return false;
        };
        if k.conn == Conn::Banned || !sole_sender {
            return false;
        }
        k.trust -= 3;
        if k.trust <= BAN_THRESHOLD {
            k.conn = Conn::Banned;
            return true;
        }
        false
    }

    /// Ban outright (e.g. metadata that does not hash right).
    pub fn ban(&mut self, addr: SocketAddr) {
        if let Some(k) = self.known.get_mut(&addr) {
            k.conn = Conn::Banned;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn back_off_doubles_and_resets_after_a_working_connection() {
        let t0 = Instant::now();
        let mut b = PeerBook::default();
        b.add(&[a(1), a(0)], t0);
        assert_eq!(b.len(), 1, "port 0 is never a peer");
        assert_eq!(b.take_candidates(5, t0), vec![a(1)]);
        assert!(b.take_candidates(5, t0).is_empty(), "connecting");
        b.closed(a(1), PeerCloseReason::ConnectFailed("refused".into()), t0);
        assert!(b.take_candidates(5, t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(
            b.take_candidates(5, t0 + Duration::from_secs(5)),
            vec![a(1)]
        );
        b.closed(a(1), PeerCloseReason::ConnectFailed("refused".into()), t0);
        assert!(
            b.take_candidates(5, t0 + Duration::from_secs(9)).is_empty(),
            "10 s the second time"
        );
        assert_eq!(
            b.take_candidates(5, t0 + Duration::from_secs(10)),
            vec![a(1)]
        );
        b.connected(a(1), 7);
        assert_eq!(b.counts(), (1, 0));
        b.closed(a(1), PeerCloseReason::Io("reset".into()), t0);
        assert_eq!(
            b.take_candidates(5, t0 + Duration::from_secs(5)),
            vec![a(1)]
        );
    }

    #[test]
    fn repeated_bad_pieces_ban() {
        let t0 = Instant::now();
        let mut b = PeerBook::default();
        b.add(&[a(1)], t0);
        for _ in 0..10 {
            assert!(!b.penalise(a(1), false), "shared blame never bans");
        }
        assert!(!b.penalise(a(1), true), "-3");
        assert!(b.penalise(a(1), true), "-6 <= -5");
        assert!(b.is_banned(&a(1)));
        assert!(!b.penalise(a(1), true), "already banned");
        let r = b.closed(a(1), PeerCloseReason::Io("x".into()), t0);
        assert!(matches!(r, PeerCloseReason::Banned(_)));
        assert!(
            b.take_candidates(5, t0 + Duration::from_secs(9999))
                .is_empty()
        );
    }

    #[test]
    fn self_connections_are_never_retried() {
        let t0 = Instant::now();
        let mut b = PeerBook::default();
        b.add(&[a(1)], t0);
        b.take_candidates(1, t0);
        b.closed(a(1), PeerCloseReason::SelfConnection, t0);
        assert!(
            b.take_candidates(5, t0 + Duration::from_secs(9999))
                .is_empty()
        );
    }
}
