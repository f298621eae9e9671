//! Making and taking connections: how many more to dial (the torrent's cap, the engine's
//! budget, the half-open limit), taking over the metadata phase's connections, and accepting
//! incoming ones (replacing an idle peer when full).

use super::metadata::HandedOver;
use super::peer::PeerInit;
use super::shared::{PeerCommand, TorrentMsg};
use super::task::{MAX_HALF_OPEN, Torrent, run_peer};
use crate::engine::conn::Connection;
use crate::proto::handshake::Handshake;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc;

impl Torrent {
    fn connected_count(&self) -> (usize, usize) {
        let (connected, connecting) = self.book.counts();
        (
            connected + self.shared.peers().values().filter(|p| p.incoming).count(),
            connecting,
        )
    }

    pub(super) fn connect_more(&mut self) {
        if self.paused || self.queued {
            return;
        }
        let (connected, connecting) = self.connected_count();
        let budget = self
            .max_peers
            .saturating_sub(connected + connecting)
            .min(MAX_HALF_OPEN.saturating_sub(connecting))
            .min(self.connections.available());
        for addr in self.book.take_candidates(budget, Instant::now()) {
            tracing::debug!(%addr, "connecting");
            let key = self.next_key;
            self.next_key += 1;
            let shared = self.shared.clone();
            let tx = self.tx.clone();
            let slot = self.connections.take();
            tokio::spawn(async move {
                // counted in the engine's budget from the dial to the end of the session
                let _slot = slot;
                let dialed = shared
                    .dialer
                    .connect(addr, shared.info_hash, shared.peer_id)
                    .await;
                match dialed {
                    Ok((conn, handshake)) => {
                        let init = PeerInit {
                            handshake,
                            ..PeerInit::default()
                        };
                        run_peer(key, addr, shared, conn, init, false, tx).await;
                    }
                    Err(e) => {
                        tracing::debug!(%addr, "connect failed: {e}");
                        let _ = tx
                            .send(TorrentMsg::PeerClosed {
                                key: None,
                                addr,
                                reason: e.into(),
                            })
                            .await;
                    }
                }
            });
        }
    }

    /// Continue a connection from the metadata phase as a download session.
    pub(super) fn adopt(&mut self, h: HandedOver) {
        let init = PeerInit {
            handshake: h.handshake,
            ext: h.ext,
            pending: h.pending,
            resumed: true,
        };
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        if !h.incoming {
            self.book.connected(h.addr, h.key);
        }
        let slot = self.connections.take();
        tokio::spawn(async move {
            run_peer(h.key, h.addr, shared, h.conn, init, h.incoming, tx).await;
            drop(slot);
        });
    }

    /// The peer to close for a newcomer when full: no data flowing either way (both rates
    /// under 1 KiB/s), connected the longest. `None` when every peer is exchanging data.
    fn idlest_peer(&self) -> Option<(mpsc::UnboundedSender<PeerCommand>, SocketAddr)> {
        const IDLE_RATE: f64 = 1024.0;
        self.shared
            .peers()
            .values()
            .filter(|p| p.stats.rate() < IDLE_RATE && p.stats.up_rate() < IDLE_RATE)
            .min_by_key(|p| p.connected_at)
            .map(|p| (p.tx.clone(), p.addr))
    }

    pub(super) fn on_incoming(&mut self, conn: Connection, hs: Handshake) {
        let addr = conn.remote();
        let (connected, _) = self.connected_count();
        if self.paused || self.queued || hs.peer_id == self.shared.peer_id {
            return;
        }
        if connected >= self.max_peers || self.connections.available() == 0 {
            // Full. Make room by closing the longest-connected peer that exchanges no data in
            // either direction: otherwise connections that merely sit there (a connection
            // flood, a stalled reader) would lock every newcomer out until they time out.
            let Some((victim, slot)) = self.idlest_peer() else {
                return;
            };
            tracing::debug!(%addr, victim = %slot, "full: replacing an idle peer");
            let _ = victim.send(PeerCommand::Close(
                "idle, replaced by a new connection".into(),
            ));
        }
        if self
            .shared
            .peers()
            .values()
            .any(|p| p.peer_id == hs.peer_id)
        {
            return; // already connected to this peer the other way
        }
        let key = self.next_key;
        self.next_key += 1;
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        let init = PeerInit {
            handshake: hs,
            ..PeerInit::default()
        };
        let slot = self.connections.take();
        tokio::spawn(async move {
            run_peer(key, addr, shared, conn, init, true, tx).await;
            drop(slot);
        });
    }
}
