//! One metadata session: a connection of the metadata phase, asking its peer for pieces of
//! the info dictionary (BEP 9) and keeping, unparsed, what else the peer says until the
//! download phase takes the connection over ([`HandedOver`]).

use crate::engine::conn::{Connection, Dialer, Transfer, our_extension_handshake};
use crate::engine::error::PeerError;
use crate::engine::event::PeerCloseReason;
use crate::engine::picker::PeerKey;
use crate::proto::extension::{
    ExtensionError, ExtensionHandshake, MetadataAssembler, MetadataMessage, OUR_UT_METADATA_ID,
    UT_METADATA,
};
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::message::{DEFAULT_MAX_MESSAGE_LEN, Message};
use bytes::Bytes;
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

/// A connection handed from the metadata phase to the download phase.
pub struct HandedOver {
    pub key: PeerKey,
    pub addr: SocketAddr,
    /// The connection, with what was read but not parsed yet in its read buffer.
    pub conn: Connection,
    pub handshake: Handshake,
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

    pub(super) fn progress(
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

struct Session {
    key: PeerKey,
    shared: Arc<MetaShared>,
    conn: Connection,
    theirs: Handshake,
    ext: Option<ExtensionHandshake>,
    pending: Vec<Message>,
    in_flight: Vec<(u32, Instant)>,
    /// The metadata size the peer claims (within the cap).
    claimed: Option<u32>,
}

/// Run a metadata session until it hands its connection over or fails.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    key: PeerKey,
    addr: SocketAddr,
    shared: Arc<MetaShared>,
    conn: Connection,
    theirs: Handshake,
    incoming: bool,
    mut commands: mpsc::UnboundedReceiver<MetaCommand>,
) -> Option<HandedOver> {
    if !conn.negotiated(&theirs, Reserved::EXTENSION) {
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
        conn,
        theirs,
        ext: None,
        pending: Vec::new(),
        in_flight: Vec::new(),
        claimed: None,
    };
    if s.conn.negotiated(&s.theirs, Reserved::FAST) {
        s.conn.send(&Message::HaveNone);
    }
    let ours = our_extension_handshake(None, true, None, Some(addr.ip()));
    s.conn.send(&Message::Extended {
        id: 0,
        payload: Bytes::from(ours.encode()),
    });
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result: Result<oneshot::Sender<HandedOver>, PeerError> = async {
        s.process()?;
        loop {
            tokio::select! {
                t = s.conn.transfer(true) => {
                    if let Transfer::Read(_) = t? {
                        s.process()?;
                    }
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
                conn: s.conn,
                handshake: s.theirs,
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
    fn process(&mut self) -> Result<(), PeerError> {
        while let Some(msg) = self.conn.next_message(DEFAULT_MAX_MESSAGE_LEN)? {
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
                            self.conn.send(&Message::Extended {
                                id,
                                payload: Bytes::from(reply),
                            });
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
            self.conn.send(&Message::Extended {
                id,
                payload: Bytes::from(req),
            });
        }
    }
}
