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

use crate::engine::conn::{Dialer, PeerStream};
use crate::engine::error::TorrentError;
use crate::engine::event::EventSink;
use crate::engine::event::{
    EngineEvent, MetadataPeerSnapshot, MetadataSnapshot, PeerCloseReason, TorrentId,
    TorrentSnapshot,
};
use crate::engine::peer::PeerError;
use crate::engine::peerbook::PeerBook;
use crate::engine::picker::PeerKey;
use crate::engine::torrent::TorrentMsg;
use crate::engine::tracker::TrackerUpdate;
use crate::proto::extension::{
    Check, ExtensionError, ExtensionHandshake, MetadataAssembler, MetadataMessage,
    OUR_UT_METADATA_ID, PieceStatus, UT_METADATA,
};
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::message::{DEFAULT_MAX_MESSAGE_LEN, Message};
use bytes::{Buf, Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Metadata requests in flight per peer.
const REQUESTS_PER_PEER: usize = 2;
/// Messages kept per peer before the metadata arrives (a `have` per piece at most).
const MAX_PENDING: usize = 1 << 20;
/// A metadata size that makes no progress for this long gives way to another peer's claim.
const STALE_SIZE: Duration = Duration::from_secs(10);
/// Default cap on the info dictionary size (large torrents have 10+ MiB of metadata).
pub const DEFAULT_MAX_METADATA_SIZE: u32 = 32 * 1024 * 1024;

/// A connection handed from the metadata phase to the download phase.
pub struct HandedOver {
    pub key: PeerKey,
    pub addr: SocketAddr,
    pub stream: PeerStream,
    pub handshake: Handshake,
    pub leftover: BytesMut,
    pub ext: Option<ExtensionHandshake>,
    /// Messages received before the metadata was known, in order.
    pub pending: Vec<Message>,
    pub incoming: bool,
}

/// What one peer did for the metadata, for the dashboard.
#[derive(Debug, Clone, Default)]
pub struct MetaPeerProgress {
    pub advertises: bool,
    pub claimed_size: Option<u32>,
    pub requested: u32,
    pub received: u32,
    pub rejected: u32,
}

/// State shared by the metadata sessions of one torrent.
pub struct MetaShared {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub max_size: u32,
    /// Opens our connections (encryption policy, peers' reserved-bit needs).
    pub dialer: Arc<Dialer>,
    assembler: Mutex<Option<MetadataAssembler>>,
    /// When a metadata piece last arrived (or the assembler last started).
    last_progress: Mutex<Instant>,
    progress: Mutex<std::collections::HashMap<PeerKey, (SocketAddr, MetaPeerProgress)>>,
    /// Where sessions report.
    pub events: mpsc::UnboundedSender<MetaEvent>,
}

/// Reports from metadata sessions to the torrent task.
pub enum MetaEvent {
    /// Every piece is in: the torrent should check the hash.
    Complete,
    Closed {
        key: PeerKey,
        addr: SocketAddr,
        reason: PeerCloseReason,
    },
    /// Peers learned from the peer (PEX) — reserved for when PEX runs in this phase.
    Peers(Vec<SocketAddr>),
}

/// Orders for a metadata session.
pub enum MetaCommand {
    /// Give the connection back for the download phase.
    HandOver(oneshot::Sender<HandedOver>),
    /// The assembler was reset (bad hash): ask for pieces again.
    Refill,
    Close(String),
}

impl MetaShared {
    pub fn new(
        info_hash: InfoHash,
        peer_id: PeerId,
        max_size: u32,
        dialer: Arc<Dialer>,
        events: mpsc::UnboundedSender<MetaEvent>,
    ) -> MetaShared {
        MetaShared {
            info_hash,
            peer_id,
            max_size,
            dialer,
            assembler: Mutex::new(None),
            last_progress: Mutex::new(Instant::now()),
            progress: Mutex::new(Default::default()),
            events,
        }
    }

    fn last_progress(&self) -> MutexGuard<'_, Instant> {
        self.last_progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn assembler(&self) -> MutexGuard<'_, Option<MetadataAssembler>> {
        self.assembler.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn progress(
        &self,
    ) -> MutexGuard<'_, std::collections::HashMap<PeerKey, (SocketAddr, MetaPeerProgress)>> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Per-peer progress, for snapshots.
    pub fn peer_progress(&self) -> Vec<(SocketAddr, MetaPeerProgress)> {
        self.progress().values().cloned().collect()
    }

    pub fn forget(&self, key: PeerKey) {
        self.progress().remove(&key);
        if let Some(a) = self.assembler().as_mut() {
            a.peer_gone(key);
        }
    }
}

/// Connect to `addr` for the metadata phase.
pub async fn connect(
    addr: SocketAddr,
    shared: &MetaShared,
) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
    shared
        .dialer
        .connect(addr, shared.info_hash, shared.peer_id)
        .await
}

struct Session {
    key: PeerKey,
    shared: Arc<MetaShared>,
    theirs: Handshake,
    ext: Option<ExtensionHandshake>,
    pending: Vec<Message>,
    in_flight: Vec<(u32, Instant)>,
    out: Vec<u8>,
    /// The metadata size the peer claims (within the cap).
    claimed: Option<u32>,
}

/// Run a metadata session until it hands its connection over or fails.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    key: PeerKey,
    addr: SocketAddr,
    shared: Arc<MetaShared>,
    mut stream: PeerStream,
    theirs: Handshake,
    mut inbuf: BytesMut,
    incoming: bool,
    mut commands: mpsc::UnboundedReceiver<MetaCommand>,
) -> Option<HandedOver> {
    if !stream.negotiated(&theirs, Reserved::EXTENSION) {
        let _ = shared.events.send(MetaEvent::Closed {
            key,
            addr,
            reason: PeerCloseReason::Useless("no extension protocol: cannot send metadata".into()),
        });
        return None;
    }
    shared
        .progress()
        .insert(key, (addr, MetaPeerProgress::default()));
    let mut s = Session {
        key,
        shared: shared.clone(),
        theirs,
        ext: None,
        pending: Vec::new(),
        in_flight: Vec::new(),
        out: Vec::new(),
        claimed: None,
    };
    if stream.negotiated(&s.theirs, Reserved::FAST) {
        Message::HaveNone.encode(&mut s.out);
    }
    let ours = crate::engine::peer::our_extension_handshake(None, true, None, Some(addr.ip()));
    Message::Extended {
        id: 0,
        payload: Bytes::from(ours.encode()),
    }
    .encode(&mut s.out);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result: Result<oneshot::Sender<HandedOver>, PeerError> = async {
        s.process(&mut inbuf)?;
        loop {
            if !s.out.is_empty() {
                stream.write_all(&mut s.out).await?;
            }
            tokio::select! {
                r = stream.read_buf(&mut inbuf) => {
                    if r? == 0 {
                        return Err(PeerError::Protocol("connection closed by peer".into()));
                    }
                    s.process(&mut inbuf)?;
                }
                cmd = commands.recv() => match cmd {
                    Some(MetaCommand::HandOver(reply)) => return Ok(reply),
                    Some(MetaCommand::Refill) => {
                        s.in_flight.clear();
                        s.request_more();
                    }
                    Some(MetaCommand::Close(why)) => return Err(PeerError::Protocol(why)),
                    None => return Err(PeerError::Shutdown),
                },
                _ = tick.tick() => s.request_more(),
            }
        }
    }
    .await;
    match result {
        Ok(reply) => {
            shared.forget(key);
            let _ = reply.send(HandedOver {
                key,
                addr,
                stream,
                handshake: s.theirs,
                leftover: inbuf,
                ext: s.ext,
                pending: s.pending,
                incoming,
            });
            None
        }
        Err(e) => {
            shared.forget(key);
            let _ = shared.events.send(MetaEvent::Closed {
                key,
                addr,
                reason: e.into(),
            });
            None
        }
    }
}

impl Session {
    fn process(&mut self, inbuf: &mut BytesMut) -> Result<(), PeerError> {
        while let Some((msg, n)) = Message::decode(inbuf, DEFAULT_MAX_MESSAGE_LEN)? {
            inbuf.advance(n);
            self.handle(msg)?;
        }
        Ok(())
    }

    fn handle(&mut self, msg: Message) -> Result<(), PeerError> {
        match msg {
            Message::Extended { id: 0, payload } => {
                let ext = ExtensionHandshake::decode(&payload)
                    .map_err(|e| PeerError::Protocol(format!("extension handshake: {e}")))?;
                let size = ext.metadata_size;
                let advertises = ext.m.get(UT_METADATA).is_some_and(|id| *id != 0);
                if let Some((_, p)) = self.shared.progress().get_mut(&self.key) {
                    p.advertises = advertises;
                    p.claimed_size = size;
                }
                self.ext = Some(ext);
                if advertises && let Some(size) = size {
                    if size == 0 || size > self.shared.max_size {
                        return Err(PeerError::Protocol(format!(
                            "metadata size {size} outside 1..={}",
                            self.shared.max_size
                        )));
                    }
                    self.claimed = Some(size);
                }
                self.request_more();
            }
            Message::Extended {
                id: OUR_UT_METADATA_ID,
                payload,
            } => {
                let m = MetadataMessage::decode(&payload)
                    .map_err(|e| PeerError::Protocol(format!("ut_metadata: {e}")))?;
                match m {
                    MetadataMessage::Data {
                        piece,
                        total_size,
                        data,
                    } => {
                        self.in_flight.retain(|(p, _)| *p != piece);
                        let complete = {
                            let mut a = self.shared.assembler();
                            let Some(a) = a.as_mut() else { return Ok(()) };
                            match a.on_data(self.key, piece, total_size, &data) {
                                Ok(()) => {}
                                // data for a size we are no longer assembling: not an offence
                                Err(ExtensionError::TotalSizeMismatch { .. }) => return Ok(()),
                                Err(e) => {
                                    return Err(PeerError::Protocol(format!(
                                        "metadata piece {piece}: {e}"
                                    )));
                                }
                            }
                            *self.shared.last_progress() = Instant::now();
                            a.is_complete()
                        };
                        if let Some((_, p)) = self.shared.progress().get_mut(&self.key) {
                            p.received += 1;
                        }
                        if complete {
                            let _ = self.shared.events.send(MetaEvent::Complete);
                        }
                        self.request_more();
                    }
                    MetadataMessage::Reject { piece } => {
                        self.in_flight.retain(|(p, _)| *p != piece);
                        if let Some(a) = self.shared.assembler().as_mut() {
                            a.on_reject(self.key, piece);
                        }
                        if let Some((_, p)) = self.shared.progress().get_mut(&self.key) {
                            p.rejected += 1;
                        }
                    }
                    MetadataMessage::Request { piece } => {
                        // we have no metadata yet
                        if let Some(id) = self.their_metadata_id() {
                            let reply = MetadataMessage::Reject { piece }.encode();
                            Message::Extended {
                                id,
                                payload: Bytes::from(reply),
                            }
                            .encode(&mut self.out);
                        }
                    }
                }
            }
            Message::Piece { index, .. } => {
                return Err(PeerError::Protocol(format!(
                    "block of piece {index} never requested"
                )));
            }
            Message::KeepAlive => {}
            other => {
                if self.pending.len() >= MAX_PENDING {
                    return Err(PeerError::Protocol(
                        "too many messages before metadata".into(),
                    ));
                }
                self.pending.push(other);
            }
        }
        Ok(())
    }

    fn their_metadata_id(&self) -> Option<u8> {
        self.ext
            .as_ref()
            .and_then(|e| e.m.get(UT_METADATA).copied())
            .filter(|id| *id != 0)
    }

    /// Ask for more metadata pieces. A peer is only asked when the size it claims is the
    /// size being assembled: a peer that lies about the size cannot poison the pieces of the
    /// honest ones. When the current size makes no progress for [`STALE_SIZE`], the next peer
    /// with another claim starts over with its size.
    fn request_more(&mut self) {
        let (Some(id), Some(size)) = (self.their_metadata_id(), self.claimed) else {
            return;
        };
        let now = Instant::now();
        self.in_flight
            .retain(|(_, at)| now.duration_since(*at) < Duration::from_secs(10));
        while self.in_flight.len() < REQUESTS_PER_PEER {
            let next = {
                let mut a = self.shared.assembler();
                let stale = now.duration_since(*self.shared.last_progress()) > STALE_SIZE;
                let start_over = match a.as_ref() {
                    None => true,
                    Some(cur) => cur.total_size() != size && stale,
                };
                if start_over {
                    *a = MetadataAssembler::new(self.shared.info_hash, size, self.shared.max_size)
                        .ok();
                    *self.shared.last_progress() = now;
                }
                let Some(a) = a.as_mut().filter(|a| a.total_size() == size) else {
                    return;
                };
                a.next_request(self.key, now)
            };
            let Some(piece) = next else { return };
            self.in_flight.push((piece, now));
            if let Some((_, p)) = self.shared.progress().get_mut(&self.key) {
                p.requested += 1;
            }
            let req = MetadataMessage::Request { piece }.encode();
            Message::Extended {
                id,
                payload: Bytes::from(req),
            }
            .encode(&mut self.out);
        }
    }
}

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
    pub started: Instant,
}

impl MetadataPhase {
    /// Connect to peers from `book` (and those the trackers or incoming connections bring)
    /// until the metadata is complete and verified.
    pub async fn run(
        &self,
        book: &mut PeerBook,
        next_key: &mut PeerKey,
        rx: &mut mpsc::UnboundedReceiver<TorrentMsg>,
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
                    match connect(addr, &shared).await {
                        Ok((stream, hs, rest)) => {
                            run(key, addr, shared, stream, hs, rest, false, cmd_rx).await;
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
                        self.events.emit(EngineEvent::TrackerReply { id: self.id, url, peers: peers.len(), seeders, leechers });
                        book.add(&peers, Instant::now());
                    }
                    Some(TorrentMsg::Tracker(TrackerUpdate::Error { url, message } | TrackerUpdate::Warning { url, message })) => {
                        self.events.emit(EngineEvent::TrackerError { id: self.id, url, message });
                    }
                    Some(TorrentMsg::AddPeers(peers)) => book.add(&peers, Instant::now()),
                    Some(TorrentMsg::Incoming { stream, addr, handshake, leftover }) => {
                        if sessions.len() < self.max_peers {
                            let key = *next_key;
                            *next_key += 1;
                            let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
                            sessions.insert(key, (addr, true, cmd_tx));
                            tokio::spawn(run(key, addr, shared.clone(), stream, handshake, leftover, true, cmd_rx));
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
                    Some(MetaEvent::Peers(peers)) => book.add(&peers, Instant::now()),
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
