//! The torrent's side of its trackers: start the announcer when the torrent is ready for it,
//! report the numbers it announces, and stop it (BEP 3 `completed` and `stopped`).

use super::params::TorrentParams;
use super::shared::{TorrentMsg, TorrentTx};
use super::startup::Origin;
use crate::engine::tracker::{AnnounceStats, AnnouncerConfig, AnnouncerHandle, spawn_announcer};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The torrent's announcer (when it uses trackers): the stats it reports and its handle.
pub(super) struct Announce {
    pub stats: watch::Sender<AnnounceStats>,
    pub handle: Option<AnnouncerHandle>,
}

impl Announce {
    /// Start announcing to `tiers` (nothing when the torrent does not use trackers).
    pub(super) fn start(&mut self, p: &TorrentParams, origin: &Origin, tx: &TorrentTx) {
        if !p.use_trackers || origin.tiers.is_empty() || self.handle.is_some() {
            return;
        }
        let (up_tx, mut up_rx) = mpsc::channel(16);
        self.handle = Some(spawn_announcer(
            AnnouncerConfig {
                tiers: origin.tiers.clone(),
                info_hash: origin.info_hash,
                peer_id: p.peer_id,
                port: p.listen_port,
                ipv6: p.ipv6,
                numwant: 200,
                timeout: Duration::from_secs(15),
                min_interval: Duration::from_secs(5),
                gate: Some(p.announce_gate.clone()),
            },
            self.stats.subscribe(),
            up_tx,
        ));
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(u) = up_rx.recv().await {
                if tx.send(TorrentMsg::Tracker(u)).await.is_err() {
                    break;
                }
            }
        });
    }

    /// Report new numbers (sent with the next announce).
    pub(super) fn report(&self, stats: AnnounceStats) {
        // `send_replace`, not `send`: before the announcer starts nobody subscribes, and
        // `send` would then drop the numbers its first announce must carry (a seed's left=0)
        self.stats.send_replace(stats);
    }

    /// The download finished in this session: announce `completed` (BEP 3).
    pub(super) fn completed(&self) {
        if let Some(a) = &self.handle {
            a.completed();
        }
    }

    /// Announce `stopped` (bounded by the announcer's own timeout).
    pub(super) async fn stop(self) {
        if let Some(a) = self.handle {
            a.stop().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_reported_before_the_announcer_starts_are_the_ones_it_starts_with() {
        let (stats, _) = watch::channel(AnnounceStats {
            uploaded: 0,
            downloaded: 0,
            left: 1000,
        });
        let announce = Announce {
            stats,
            handle: None,
        };
        // a seed found complete by its resume check, before any announce
        announce.report(AnnounceStats {
            uploaded: 0,
            downloaded: 0,
            left: 0,
        });
        assert_eq!(announce.stats.subscribe().borrow().left, 0);
    }
}
