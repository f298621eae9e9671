//! Magnet links: fetching the info dictionary from peers (BEP 9) before any storage exists.
//!
//! A torrent added from a magnet starts in `FetchingMetadata`. Its connections run as
//! *metadata sessions*: handshake with the extension bit, exchange BEP 10 extension
//! handshakes, and ask every peer that advertises `ut_metadata` for 16 KiB pieces of the info
//! dictionary, several peers in parallel (the shared [`MetadataAssembler`] hands each piece to
//! one peer and re-offers it elsewhere after a reject or a timeout). Everything else a peer
//! says meanwhile (`bitfield`, `have`...) is kept, unparsed, because its meaning depends on
//! the piece count we do not know yet.
//!
//! When the assembled bytes hash to the info hash, the torrent asks every session to hand
//! over its connection ([`HandedOver`]): the same TCP stream, the bytes already read and the
//! kept messages, which the download session replays. So a magnet continues on the
//! connections that fetched its metadata. A peer that claims an absurd size (above the cap) is
//! dropped. A copy that does not hash right bans its sender when one peer sent it all; a mixed
//! copy bans nobody until a copy fetched from one peer at a time verifies and shows whose
//! pieces were wrong (see [`MetadataAssembler::check`]), so a liar cannot get honest peers
//! banned.

mod session;

pub use session::{HandedOver, MetaCommand, MetaEvent, MetaShared};

use super::shared::{TorrentMsg, TorrentRx};
use crate::engine::conn::Dialer;
use crate::engine::error::TorrentError;
use crate::engine::event::{
    EngineEvent, EventSink, MetadataPeerSnapshot, MetadataSnapshot, PeerCloseReason, TorrentId,
    TorrentSnapshot,
};
use crate::engine::peerbook::PeerBook;
use crate::engine::picker::PeerKey;
use crate::engine::tracker::TrackerUpdate;
use crate::proto::extension::{Check, PieceStatus};
use crate::proto::id::{InfoHash, PeerId};
use session::run;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How the metadata phase ended.
pub enum MetadataOutcome {
    /// The info dictionary, verified against the info hash, and the live connections.
    Ready {
        raw: Vec<u8>,
        handed: Vec<HandedOver>,
    },
    /// The torrent was stopped first.
    Shutdown(oneshot::Sender<()>),
}

/// The metadata sessions of one torrent: address, incoming, and the session's command channel.
type Sessions =
    std::collections::HashMap<PeerKey, (SocketAddr, bool, mpsc::UnboundedSender<MetaCommand>)>;

/// The metadata phase of one magnet torrent, run inside its torrent task.
pub struct MetadataPhase {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub name: String,
    pub peer_id: PeerId,
    pub max_size: u32,
    pub dialer: Arc<Dialer>,
    pub max_peers: usize,
    pub events: EventSink,
    pub snapshots: Arc<std::sync::Mutex<std::collections::HashMap<TorrentId, TorrentSnapshot>>>,
    pub probe: Arc<crate::engine::probe::Probe>,
    pub started: Instant,
}

impl MetadataPhase {
    /// Connect to peers from `book` (and those the trackers or incoming connections bring)
    /// until the metadata is complete and verified.
    pub async fn run(
        &self,
        book: &mut PeerBook,
        next_key: &mut PeerKey,
        rx: &mut TorrentRx,
    ) -> Result<MetadataOutcome, TorrentError> {
        let (mev_tx, mut mev_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(MetaShared::new(
            self.info_hash,
            self.peer_id,
            self.max_size,
            self.dialer.clone(),
            mev_tx,
        ));
        let mut sessions: Sessions = Default::default();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            // connect to more peers
            let outgoing = sessions
                .values()
                .filter(|(_, incoming, _)| !incoming)
                .count();
            let budget = self
                .max_peers
                .saturating_sub(sessions.len())
                .min(16usize.saturating_sub(outgoing));
            for addr in book.take_candidates(budget, Instant::now()) {
                let key = *next_key;
                *next_key += 1;
                let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                sessions.insert(key, (addr, false, cmd_tx));
                let shared = shared.clone();
                tokio::spawn(async move {
                    let dialed = shared
                        .dialer
                        .connect(addr, shared.info_hash, shared.peer_id)
                        .await;
                    match dialed {
                        Ok((conn, hs)) => {
                            run(key, addr, shared, conn, hs, false, cmd_rx).await;
                        }
                        Err(e) => {
                            let _ = shared.events.send(MetaEvent::Closed {
                                key,
                                addr,
                                reason: e.into(),
                            });
                        }
                    }
                });
            }
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => return Err(TorrentError::EngineStopped),
                    Some(TorrentMsg::Shutdown(done)) => {
                        for (_, _, cmd) in sessions.values() {
                            let _ = cmd.send(MetaCommand::Close("shutdown".into()));
                        }
                        return Ok(MetadataOutcome::Shutdown(done));
                    }
                    Some(TorrentMsg::Tracker(TrackerUpdate::Peers { url, peers, seeders, leechers, .. })) => {
                        self.probe.tracker_reply(&url, peers.len());
                        self.events.emit(EngineEvent::TrackerReply { id: self.id, url, peers: peers.len(), seeders, leechers });
                        book.add(&peers, Instant::now());
                    }
                    Some(TorrentMsg::Tracker(TrackerUpdate::Error { url, message } | TrackerUpdate::Warning { url, message })) => {
                        self.probe.tracker_error(&url, &message);
                        self.events.emit(EngineEvent::TrackerError { id: self.id, url, message });
                    }
                    Some(TorrentMsg::AddPeers(peers)) => book.add(&peers, Instant::now()),
                    Some(TorrentMsg::Incoming { conn, handshake }) => {
                        if sessions.len() < self.max_peers {
                            let addr = conn.remote();
                            let key = *next_key;
                            *next_key += 1;
                            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                            sessions.insert(key, (addr, true, cmd_tx));
                            tokio::spawn(run(key, addr, shared.clone(), conn, handshake, true, cmd_rx));
                        }
                    }
                    Some(_) => {}
                },
                ev = mev_rx.recv() => match ev {
                    None => return Err(TorrentError::Internal("metadata sessions ended".into())),
                    Some(MetaEvent::Closed { key, addr, reason }) => {
                        if let Some((_, incoming, _)) = sessions.remove(&key) {
                            let reason = if incoming { reason } else { book.closed(addr, reason, Instant::now()) };
                            self.events.emit(EngineEvent::PeerDisconnected { id: self.id, addr, reason });
                        }
                    }
                    Some(MetaEvent::Complete) => {
                        let checked = match shared.assembler().as_mut() {
                            Some(a) => a.check(),
                            None => continue,
                        };
                        let mut ban = |key: PeerKey, sessions: &mut Sessions| {
                            if let Some((addr, _, cmd)) = sessions.remove(&key) {
                                tracing::warn!("{addr} sent bad metadata: banned");
                                book.ban(addr);
                                let _ = cmd.send(MetaCommand::Close("sent bad metadata".into()));
                                let reason = PeerCloseReason::Protocol("sent bad metadata".into());
                                self.events.emit(EngineEvent::PeerDisconnected { id: self.id, addr, reason });
                            }
                        };
                        match checked {
                            Check::Incomplete => continue,
                            Check::Verified { raw, liars } => {
                                for key in liars {
                                    ban(key, &mut sessions);
                                }
                                *shared.assembler() = None;
                                let handed = hand_over(&sessions).await;
                                return Ok(MetadataOutcome::Ready { raw, handed });
                            }
                            Check::Liar(key) => ban(key, &mut sessions),
                            Check::Ambiguous => tracing::warn!(
                                "metadata from several peers failed the info-hash check; \
                                 fetching it again from one peer at a time to find who lied"
                            ),
                        }
                        for (_, _, cmd) in sessions.values() {
                            let _ = cmd.send(MetaCommand::Refill);
                        }
                    }
                },
                _ = tick.tick() => self.publish(&shared, sessions.len(), book.len()),
            }
        }
    }

    fn publish(&self, shared: &MetaShared, peers: usize, known: usize) {
        let addrs: std::collections::HashMap<PeerKey, SocketAddr> = shared
            .progress()
            .iter()
            .map(|(k, (a, _))| (*k, *a))
            .collect();
        let (size, pieces_received, piece_peers) = match shared.assembler().as_ref() {
            Some(a) => (
                Some(a.total_size()),
                a.pieces()
                    .map(|(_, st)| matches!(st, PieceStatus::Received { .. }))
                    .collect(),
                a.pieces()
                    .map(|(_, st)| match st {
                        PieceStatus::Requested { peer, .. } | PieceStatus::Received { peer } => {
                            addrs.get(&peer).copied()
                        }
                        PieceStatus::Missing => None,
                    })
                    .collect(),
            ),
            None => (None, Vec::new(), Vec::new()),
        };
        let meta = MetadataSnapshot {
            size,
            pieces_received,
            piece_peers,
            peers: shared
                .peer_progress()
                .into_iter()
                .map(|(addr, p)| MetadataPeerSnapshot {
                    addr,
                    advertises: p.advertises,
                    claimed_size: p.claimed_size,
                    requested: p.requested,
                    received: p.received,
                    rejected: p.rejected,
                })
                .collect(),
        };
        let _ = peers;
        let snap = TorrentSnapshot {
            known_peers: known,
            elapsed: self.started.elapsed(),
            metadata: Some(meta),
            diagnostics: self.probe.sample(Instant::now(), false),
            ..TorrentSnapshot::fetching_metadata(self.id, self.info_hash, self.name.clone())
        };
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, snap);
    }
}

/// Ask every session for its connection, waiting a little for each.
async fn hand_over(sessions: &Sessions) -> Vec<HandedOver> {
    let mut waiting = Vec::new();
    for (_, _, cmd) in sessions.values() {
        let (tx, rx) = oneshot::channel();
        if cmd.send(MetaCommand::HandOver(tx)).is_ok() {
            waiting.push(rx);
        }
    }
    let mut handed = Vec::new();
    for rx in waiting {
        if let Ok(Ok(h)) = tokio::time::timeout(Duration::from_secs(2), rx).await {
            handed.push(h);
        }
    }
    handed
}
