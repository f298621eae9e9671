//! Rates over time, for the speed chart of the torrents pane and the peers' sparklines.
//!
//! The engine's pictures carry rates as they are now (already smoothed over a few seconds);
//! the dashboard keeps a short past of them: one sample per [`History::interval`] (a second) per
//! torrent, the last [`TORRENT_SAMPLES`] of them (five minutes), and per connected peer the last
//! [`PEER_SAMPLES`]. Pictures arrive several times a second; only the first of each interval is
//! kept, so the past does not depend on how fast pictures come (in process, or attached to a
//! daemon). A peer that leaves takes its past with it: memory stays bounded by the peers
//! connected now, never by the peers ever seen.

use crate::engine::event::{TorrentId, TorrentSnapshot};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Samples kept per torrent: five minutes at one a second.
pub const TORRENT_SAMPLES: usize = 300;
/// Samples kept per peer: one minute.
pub const PEER_SAMPLES: usize = 60;

/// Download and upload rates (bytes per second), oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub down: VecDeque<f64>,
    pub up: VecDeque<f64>,
}

impl Series {
    fn push(&mut self, down: f64, up: f64, cap: usize) {
        for (q, v) in [(&mut self.down, down), (&mut self.up, up)] {
            if q.len() == cap {
                q.pop_front();
            }
            q.push_back(if v.is_finite() { v.max(0.0) } else { 0.0 });
        }
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.down.len()
    }

    pub fn is_empty(&self) -> bool {
        self.down.is_empty()
    }

    /// The highest rate of either direction (0 when empty).
    pub fn peak(&self) -> f64 {
        self.down.iter().chain(&self.up).fold(0.0, |a, b| a.max(*b))
    }
}

/// The recent past of every torrent's and every connected peer's rates.
#[derive(Debug, Clone)]
pub struct History {
    torrents: HashMap<TorrentId, Series>,
    peers: HashMap<(TorrentId, SocketAddr), Series>,
    last: Option<Instant>,
    /// Time between two samples.
    pub interval: Duration,
}

impl Default for History {
    fn default() -> Self {
        History {
            torrents: HashMap::new(),
            peers: HashMap::new(),
            last: None,
            interval: Duration::from_secs(1),
        }
    }
}

impl History {
    /// A picture arrived at `now`: take a sample if an interval has passed since the last.
    /// Torrents and peers that are no longer in the picture are forgotten.
    pub fn record(&mut self, now: Instant, torrents: &[TorrentSnapshot]) {
        if self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) < self.interval)
        {
            return;
        }
        self.last = Some(now);
        self.torrents
            .retain(|id, _| torrents.iter().any(|t| t.id == *id));
        self.peers.retain(|(id, addr), _| {
            torrents
                .iter()
                .any(|t| t.id == *id && t.peers.iter().any(|p| p.addr == *addr))
        });
        for t in torrents {
            self.torrents.entry(t.id).or_default().push(
                t.download_rate,
                t.upload_rate,
                TORRENT_SAMPLES,
            );
            for p in &t.peers {
                self.peers.entry((t.id, p.addr)).or_default().push(
                    p.download_rate,
                    p.upload_rate,
                    PEER_SAMPLES,
                );
            }
        }
    }

    /// The torrent's past rates.
    pub fn torrent(&self, id: TorrentId) -> Option<&Series> {
        self.torrents.get(&id)
    }

    /// A connected peer's past rates.
    pub fn peer(&self, id: TorrentId, addr: SocketAddr) -> Option<&Series> {
        self.peers.get(&(id, addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::PeerSnapshot;
    use crate::proto::id::{InfoHash, PeerId};

    fn torrent(id: TorrentId, down: f64, peers: &[(u16, f64)]) -> TorrentSnapshot {
        let mut t = TorrentSnapshot::fetching_metadata(id, InfoHash([id as u8; 20]), "t".into());
        t.download_rate = down;
        t.upload_rate = down / 2.0;
        t.peers = peers
            .iter()
            .map(|(port, rate)| PeerSnapshot {
                download_rate: *rate,
                ..PeerSnapshot::new(SocketAddr::from(([127, 0, 0, 1], *port)), PeerId([0; 20]))
            })
            .collect();
        t
    }

    #[test]
    fn one_sample_per_interval_however_often_pictures_come() {
        let mut h = History::default();
        let t0 = Instant::now();
        for i in 0..50u64 {
            // ten pictures a second for five seconds
            h.record(
                t0 + Duration::from_millis(i * 100),
                &[torrent(1, i as f64, &[])],
            );
        }
        let s = h.torrent(1).unwrap();
        assert_eq!(s.len(), 5);
        assert_eq!(s.down, [0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(s.up, [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(s.peak(), 40.0);
    }

    #[test]
    fn bounded_and_forgets_what_left() {
        let mut h = History::default();
        let t0 = Instant::now();
        for i in 0..(TORRENT_SAMPLES as u64 + 20) {
            let t = torrent(1, i as f64, &[(1, 1.0), (2, f64::NAN)]);
            h.record(t0 + Duration::from_secs(i), &[t, torrent(2, 0.0, &[])]);
        }
        let s = h.torrent(1).unwrap();
        assert_eq!(s.len(), TORRENT_SAMPLES);
        assert_eq!(s.down.front(), Some(&20.0), "the oldest samples went first");
        let a = SocketAddr::from(([127, 0, 0, 1], 2));
        assert_eq!(h.peer(1, a).unwrap().len(), PEER_SAMPLES);
        assert!(
            h.peer(1, a).unwrap().down.iter().all(|v| *v == 0.0),
            "NaN is stored as 0"
        );
        // torrent 2 and peer 2 leave
        let later = t0 + Duration::from_secs(10_000);
        h.record(later, &[torrent(1, 1.0, &[(1, 1.0)])]);
        assert!(h.torrent(2).is_none());
        assert!(h.peer(1, a).is_none());
        assert!(h.peer(1, SocketAddr::from(([127, 0, 0, 1], 1))).is_some());
    }
}
