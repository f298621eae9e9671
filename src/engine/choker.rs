//! Choking (BEP 3 "Choking and optimistic unchoking"), as the reference clients do it.
//!
//! Every [`REGULAR_INTERVAL`] the interested peers are ranked and the best `slots` are
//! unchoked; every [`OPTIMISTIC_INTERVAL`] one more interested, choked peer is picked at random
//! as the optimistic unchoke, so newcomers get a chance to prove themselves (new connections
//! are three times as likely to be picked, as in the original client).
//!
//! Ranking: while downloading, by the rate at which the peer sends *to us* (tit-for-tat);
//! while seeding, by the rate at which we upload *to it*, which rotates slots towards peers
//! that can take data fast (libtorrent's `fastest_upload` seeding choker). Ties are broken by
//! who was unchoked most recently having lower priority, so slots rotate among equals.
//!
//! Pure logic: the torrent task feeds it peers and `now`, and applies the decisions.

use crate::engine::picker::PeerKey;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub const REGULAR_INTERVAL: Duration = Duration::from_secs(10);
pub const OPTIMISTIC_INTERVAL: Duration = Duration::from_secs(30);
/// A connection younger than this counts as new for the optimistic unchoke.
pub const NEW_PEER_AGE: Duration = Duration::from_secs(60);

/// What the choker needs to know about one connected peer.
#[derive(Debug, Clone)]
pub struct ChokerPeer {
    pub key: PeerKey,
    pub interested: bool,
    /// Bytes/s the peer sends us.
    pub download_rate: f64,
    /// Bytes/s we send the peer.
    pub upload_rate: f64,
    pub connected_at: Instant,
    /// When we last unchoked it (None = never).
    pub last_unchoked: Option<Instant>,
}

#[derive(Debug)]
pub struct Choker {
    slots: usize,
    unchoked: HashSet<PeerKey>,
    optimistic: Option<PeerKey>,
    next_regular: Option<Instant>,
    next_optimistic: Option<Instant>,
    rng: u64,
}

impl Choker {
    pub fn new(slots: usize, seed: u64) -> Choker {
        Choker {
            slots: slots.max(1),
            unchoked: HashSet::new(),
            optimistic: None,
            next_regular: None,
            next_optimistic: None,
            rng: seed | 1,
        }
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    pub fn is_unchoked(&self, key: PeerKey) -> bool {
        self.unchoked.contains(&key)
    }

    #[cfg(test)]
    pub fn unchoked_count(&self) -> usize {
        self.unchoked.len()
    }

    /// Whether a round is due (or `force`d, e.g. a peer became interested while slots are free).
    pub fn due(&self, now: Instant) -> bool {
        self.next_regular.is_none_or(|t| now >= t)
    }

    /// A peer left or lost interest: free its slot at once.
    pub fn remove(&mut self, key: PeerKey) {
        self.unchoked.remove(&key);
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }

    /// Whether a newly interested peer can be unchoked right away (a slot is free).
    pub fn has_free_slot(&self) -> bool {
        self.unchoked.len() < self.slots + 1
    }

    /// Take a free slot for `key` without waiting for the next round.
    pub fn unchoke_now(&mut self, key: PeerKey) -> bool {
        if self.has_free_slot() {
            self.unchoked.insert(key)
        } else {
            false
        }
    }

    /// Run a choking round. Returns the peers to unchoke and to choke (only changes).
    pub fn round(
        &mut self,
        peers: &[ChokerPeer],
        seeding: bool,
        now: Instant,
    ) -> (Vec<PeerKey>, Vec<PeerKey>) {
        self.next_regular = Some(now + REGULAR_INTERVAL);
        let present: HashSet<PeerKey> = peers.iter().map(|p| p.key).collect();
        self.unchoked.retain(|k| present.contains(k));
        if self.optimistic.is_some_and(|k| !present.contains(&k)) {
            self.optimistic = None;
        }

        let mut ranked: Vec<&ChokerPeer> = peers.iter().filter(|p| p.interested).collect();
        ranked.sort_by(|a, b| {
            let (ra, rb) = if seeding {
                (a.upload_rate, b.upload_rate)
            } else {
                (a.download_rate, b.download_rate)
            };
            rb.partial_cmp(&ra)
                .unwrap_or(std::cmp::Ordering::Equal)
                // among equals, the one unchoked longest ago (or never) goes first
                .then_with(|| a.last_unchoked.cmp(&b.last_unchoked))
        });
        let mut want: HashSet<PeerKey> = ranked.iter().take(self.slots).map(|p| p.key).collect();

        // optimistic unchoke: rotate every 30 s among interested peers not already chosen
        let rotate = self.next_optimistic.is_none_or(|t| now >= t)
            || self
                .optimistic
                .is_none_or(|k| want.contains(&k) || !ranked.iter().any(|p| p.key == k));
        if rotate {
            self.next_optimistic = Some(now + OPTIMISTIC_INTERVAL);
            let candidates: Vec<&ChokerPeer> = ranked
                .iter()
                .copied()
                .filter(|p| !want.contains(&p.key))
                .collect();
            let weight = |p: &ChokerPeer| {
                if now.duration_since(p.connected_at) < NEW_PEER_AGE {
                    3
                } else {
                    1
                }
            };
            let total: u64 = candidates.iter().map(|p| weight(p)).sum();
            self.optimistic = None;
            if total > 0 {
                let mut pick = self.random() % total;
                for p in candidates {
                    let w = weight(p);
                    if pick < w {
                        self.optimistic = Some(p.key);
                        break;
                    }
                    pick -= w;
                }
            }
        }
        if let Some(k) = self.optimistic {
            want.insert(k);
        }
        let unchoke: Vec<PeerKey> = want
            .iter()
            .copied()
            .filter(|k| !self.unchoked.contains(k))
            .collect();
        let choke: Vec<PeerKey> = self
            .unchoked
            .iter()
            .copied()
            .filter(|k| !want.contains(k))
            .collect();
        self.unchoked = want;
        (unchoke, choke)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(key: PeerKey, interested: bool, down: f64, up: f64, at: Instant) -> ChokerPeer {
        ChokerPeer {
            key,
            interested,
            download_rate: down,
            upload_rate: up,
            connected_at: at,
            last_unchoked: None,
        }
    }

    #[test]
    fn leeching_unchokes_the_fastest_senders_plus_one_optimistic() {
        let t0 = Instant::now();
        let mut c = Choker::new(2, 9);
        let peers: Vec<ChokerPeer> = (1..=6)
            .map(|k| peer(k, true, k as f64 * 100.0, 0.0, t0))
            .collect();
        let (unchoke, choke) = c.round(&peers, false, t0);
        assert!(choke.is_empty());
        assert_eq!(unchoke.len(), 3);
        assert!(
            c.is_unchoked(6) && c.is_unchoked(5),
            "the two fastest senders"
        );
        let optimistic = unchoke
            .iter()
            .copied()
            .find(|k| *k != 6 && *k != 5)
            .unwrap();
        assert!(optimistic <= 4);
    }

    #[test]
    fn seeding_ranks_by_upload_rate_and_ignores_uninterested() {
        let t0 = Instant::now();
        let mut c = Choker::new(1, 3);
        let peers = vec![
            peer(1, true, 0.0, 10.0, t0),
            peer(2, true, 0.0, 500.0, t0),
            peer(3, false, 0.0, 900.0, t0),
        ];
        c.round(&peers, true, t0);
        assert!(c.is_unchoked(2));
        assert!(!c.is_unchoked(3), "not interested");
        assert!(
            c.is_unchoked(1),
            "optimistic: the only other interested peer"
        );
    }

    #[test]
    fn optimistic_rotates_every_30_seconds_and_slots_follow_rates() {
        let t0 = Instant::now();
        let mut c = Choker::new(1, 5);
        let mut peers: Vec<ChokerPeer> = (1..=10).map(|k| peer(k, true, 0.0, 0.0, t0)).collect();
        peers[0].download_rate = 1000.0;
        let mut optimists = HashSet::new();
        let mut now = t0 + Duration::from_secs(120);
        for _ in 0..40 {
            c.round(&peers, false, now);
            assert!(c.is_unchoked(1));
            assert_eq!(c.unchoked_count(), 2);
            optimists.extend(c.unchoked.iter().copied().filter(|k| *k != 1));
            now += OPTIMISTIC_INTERVAL;
        }
        assert!(
            optimists.len() > 3,
            "optimistic unchoke rotates: {optimists:?}"
        );
        // a faster peer takes the regular slot at the next round and the old one is choked
        peers[4].download_rate = 5000.0;
        let (unchoke, _choke) = c.round(&peers, false, now);
        assert!(c.is_unchoked(5));
        assert!(unchoke.contains(&5) || c.optimistic != Some(5));
    }

    #[test]
    fn departed_peers_free_their_slots() {
        let t0 = Instant::now();
        let mut c = Choker::new(1, 1);
        c.round(
            &[peer(1, true, 1.0, 0.0, t0), peer(2, true, 0.0, 0.0, t0)],
            false,
            t0,
        );
        assert_eq!(c.unchoked_count(), 2);
        c.remove(1);
        assert!(c.has_free_slot());
        assert!(c.unchoke_now(3));
        assert!(!c.unchoke_now(4), "slots + 1 at most");
    }
}
