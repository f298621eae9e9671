//! One peer connection: handshake, then a single task that reads messages, keeps the request
//! pipeline full and writes queued bytes, all from one `select!` loop.
//!
//! # States
//! `Connecting -> Handshaking -> Connected -> Closed`. Connecting and handshaking are bounded
//! by timeouts; a connected peer is dropped on any protocol violation ([`PeerError`]) and the
//! torrent decides whether to reconnect later.
//!
//! # Requests
//! The pipeline depth ([`Pipeline`]) starts in slow start (one more request per block
//! received) and then follows the peer's measured rate: about one second of data in flight,
//! within bounds and the peer's `reqq`. A request unanswered for [`REQUEST_TIMEOUT`] marks the
//! peer snubbed: its blocks are
//! released for other peers and its pipeline drops to one block until data flows again.
//!
//! # Writing
//! Outgoing messages are encoded into `out` and written from the same loop with a
//! cancel-safe `write`, so a peer that stops reading never blocks our reads.

use super::shared::{PeerCommand, PeerStats, Shared, TorrentMsg};
use crate::engine::conn::{Connection, MAX_QUEUED_REQUESTS, Transfer, our_extension_handshake};
use crate::engine::disk::DiskJob;
use crate::engine::error::PeerError;
use crate::engine::event::{Direction, PeerCloseReason};
use crate::engine::picker::{BlockOutcome, PeerKey};
use crate::engine::pipeline::{MAX_PIPELINE, MIN_PIPELINE, Pipeline};
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::{
    ExtensionHandshake, METADATA_PIECE_SIZE, MetadataMessage, OUR_UT_METADATA_ID, OUR_UT_PEX_ID,
    PexMessage, PexState, UT_METADATA, UT_PEX,
};
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::message::{BlockRef, MAX_REQUEST_LEN, Message, allowed_fast_set};
use bytes::Bytes;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// A peer that sends nothing at all for this long is dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(90);
/// BEP 6 allowed-fast set size we grant (libtorrent grants 5, the BEP suggests 10).
pub const ALLOWED_FAST_SET_SIZE: usize = 10;
/// Stop reading from a peer while this much data waits to be written to it.
const MAX_OUT_BUFFER: usize = 4 * 1024 * 1024;
/// Read the next block to upload only while less than this is waiting in `out`, so a slow
/// reader holds at most this much of our memory.
const UPLOAD_HIGH_WATER: usize = 512 * 1024;

/// Consecutive blocks read from disk for upload.
type UploadRead = Result<Vec<(BlockRef, Bytes)>, String>;
/// Largest single disk read for uploads.
const UPLOAD_READ_MAX: u32 = 256 * 1024;
/// Disk reads in flight per peer.
const UPLOAD_READS_IN_FLIGHT: usize = 4;

/// How a download session starts: the handshake just exchanged, and for a connection that
/// fetched metadata first, what it learnt then.
#[derive(Default)]
pub struct PeerInit {
    pub handshake: Handshake,
    /// The peer's extension handshake, if it already sent one.
    pub ext: Option<ExtensionHandshake>,
    /// Messages received before the metadata was known, replayed in order.
    pub pending: Vec<Message>,
    /// The connection comes from the metadata phase: our first message was already sent.
    pub resumed: bool,
}

/// A connected peer's session state.
struct Session {
    key: PeerKey,
    /// The peer set the BEP 5 DHT bit.
    dht_peer: bool,
    shared: Arc<Shared>,
    stats: Arc<PeerStats>,
    fast: bool,
    have: Bitfield,
    am_choking: bool,
    peer_interested: bool,
    /// Requests from the peer we accepted and will serve, oldest first.
    upload_queue: VecDeque<BlockRef>,
    up_bytes_this_tick: u64,
    up_rate: f64,
    got_first_message: bool,
    am_interested: bool,
    peer_choking: bool,
    /// Our requests in flight, oldest first.
    outstanding: Vec<(BlockRef, Instant)>,
    pipeline: Pipeline,
    last_data: Instant,
    last_recv: Instant,
    last_send: Instant,
    /// The stream, its buffers and its encryption.
    conn: Connection,
    scratch: Vec<BlockRef>,
    max_message_len: u32,
    /// The peer set the BEP 10 bit.
    extensions: bool,
    /// Ids the peer chose for the extensions we speak (we send with these).
    their_metadata_id: Option<u8>,
    their_pex_id: Option<u8>,
    their_reqq: usize,
    pex: PexState,
    last_pex_in: Option<Instant>,
    /// The peer's address (not sent back to it in PEX).
    remote: SocketAddr,
    /// BEP 6: pieces the peer lets us request while it chokes us.
    allowed_in: Bitfield,
    /// When `pieces_in_flight` was last published to the stats.
    in_flight_published: Instant,
    /// BEP 6: pieces we let the peer request while we choke it.
    allowed_out: Vec<u32>,
}

/// Run a connected peer until it closes, then clean up its picker state.
pub async fn run(
    key: PeerKey,
    shared: Arc<Shared>,
    stats: Arc<PeerStats>,
    conn: Connection,
    init: PeerInit,
    commands: mpsc::UnboundedReceiver<PeerCommand>,
) -> PeerCloseReason {
    let now = Instant::now();
    let piece_count = shared.info.piece_count();
    let theirs = init.handshake.clone();
    // a feature is on only when both handshakes set its bit (we may have sent fewer bits to
    // a strict peer, see conn::Dialer)
    let fast = conn.negotiated(&theirs, Reserved::FAST);
    let extensions = conn.negotiated(&theirs, Reserved::EXTENSION);
    let dht_peer = conn.negotiated(&theirs, Reserved::DHT);
    let remote = conn.remote();
    stats.fast.store(fast, Ordering::Relaxed);
    stats.wire.store(conn.wire() as u8, Ordering::Relaxed);
    stats.detail().reserved = theirs.reserved.0;
    let mut s = Session {
        key,
        stats,
        fast,
        have: Bitfield::new(piece_count),
        am_choking: true,
        peer_interested: false,
        upload_queue: VecDeque::new(),
        up_bytes_this_tick: 0,
        up_rate: 0.0,
        got_first_message: false,
        am_interested: false,
        peer_choking: true,
        outstanding: Vec::new(),
        pipeline: Pipeline::default(),
        last_data: now,
        last_recv: now,
        last_send: now,
        conn,
        scratch: Vec::new(),
        // bitfield of the whole torrent plus headroom for a 128 KiB block or extended message
        max_message_len: (piece_count / 8 + 16).max(MAX_REQUEST_LEN + 64 * 1024),
        extensions,
        dht_peer,
        their_metadata_id: None,
        their_pex_id: None,
        their_reqq: MAX_PIPELINE,
        pex: PexState::default(),
        last_pex_in: None,
        remote,
        allowed_in: Bitfield::new(piece_count),
        allowed_out: Vec::new(),
        in_flight_published: now,
        shared,
    };
    if let Some(ext) = &init.ext {
        s.apply_extension_handshake(ext);
    }
    let result = s.run_loop(init, commands).await;
    s.cleanup();
    match result {
        Ok(()) => PeerCloseReason::Shutdown,
        Err(e) => e.into(),
    }
}

impl Session {
    async fn run_loop(
        &mut self,
        init: PeerInit,
        mut commands: mpsc::UnboundedReceiver<PeerCommand>,
    ) -> Result<(), PeerError> {
        self.send_initial(init.resumed);
        if self.fast
            && let std::net::IpAddr::V4(ip) = self.remote.ip()
        {
            // BEP 6: let a choked peer start on a few pieces we have
            let set = allowed_fast_set(
                ip,
                &self.shared.info_hash,
                self.have.len(),
                ALLOWED_FAST_SET_SIZE,
            );
            let verified = self.shared.verified_bitfield();
            for index in set.into_iter().filter(|i| verified.get(*i)) {
                self.send(Message::AllowedFast { index });
                self.allowed_out.push(index);
            }
        }
        if self.extensions {
            let ours = our_extension_handshake(
                u32::try_from(self.shared.raw_info.len())
                    .ok()
                    .filter(|n| *n > 0),
                !self.shared.info.private,
                Some(self.shared.listen_port),
                Some(self.remote.ip()),
            );
            self.send(Message::Extended {
                id: 0,
                payload: Bytes::from(ours.encode()),
            });
        }
        for msg in init.pending {
            self.handle(msg).await?;
        }
        self.process_input().await?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // blocks being read from disk for this peer, a few at once so the disk and the
        // socket overlap
        let mut reading: JoinSet<UploadRead> = JoinSet::new();
        loop {
            while reading.len() < UPLOAD_READS_IN_FLIGHT && self.start_upload_read(&mut reading) {}
            // stop reading from a peer that does not read what we send
            let read = self.conn.pending_out() < MAX_OUT_BUFFER;
            tokio::select! {
                Some(done) = reading.join_next(), if !reading.is_empty() => {
                    match done {
                        Ok(Ok(blocks)) => {
                            for (r, block) in blocks {
                                self.queue_piece(r, block);
                            }
                        }
                        Ok(Err(e)) => return Err(PeerError::Protocol(format!("cannot serve: {e}"))),
                        Err(_) => return Err(PeerError::Shutdown),
                    }
                }
                t = self.conn.transfer(read) => match t? {
                    Transfer::Read(_) => {
                        self.last_recv = Instant::now();
                        self.process_input().await?;
                    }
                    Transfer::Wrote(_) => self.last_send = Instant::now(),
                },
                cmd = commands.recv() => match cmd {
                    Some(PeerCommand::Have(index)) => {
                        self.send(Message::Have { index });
                        self.update_interest();
                    }
                    Some(PeerCommand::Cancel(r)) => {
                        if let Some(pos) = self.outstanding.iter().position(|(o, _)| *o == r) {
                            self.outstanding.remove(pos);
                            self.send(Message::Cancel(r));
                        }
                        self.fill_requests();
                    }
                    Some(PeerCommand::Refill) => self.fill_requests(),
                    Some(PeerCommand::Choke) => self.set_choking(true),
                    Some(PeerCommand::Pex(peers)) => self.send_pex(&peers),
                    Some(PeerCommand::Unchoke) => self.set_choking(false),
                    Some(PeerCommand::Close(reason)) => return Err(PeerError::Protocol(reason)),
                    None | Some(PeerCommand::Shutdown) => {
                        // flush what we have (e.g. cancels), bounded
                        let _ = tokio::time::timeout(Duration::from_millis(200), self.conn.flush()).await;
                        return Ok(());
                    }
                },
                _ = tick.tick() => self.on_tick()?,
            }
        }
    }

    fn send_initial(&mut self, resumed: bool) {
        self.send_initial_pieces(resumed);
        // BEP 5: tell a DHT-capable peer our node's UDP port (after the bitfield, which must
        // be the first message)
        if self.dht_peer
            && let Some(dht) = &self.shared.dht
        {
            self.conn.send(&Message::Port(dht.port()));
        }
    }

    fn send_initial_pieces(&mut self, resumed: bool) {
        let verified = self.shared.verified_bitfield();
        if resumed {
            // our first message (have none) went out during the metadata phase
            for index in verified.iter_ones() {
                self.send(Message::Have { index });
            }
            return;
        }
        if self.fast && verified.count_ones() == 0 {
            self.send(Message::HaveNone);
        } else if self.fast && verified.is_full() {
            self.send(Message::HaveAll);
        } else if verified.count_ones() > 0 {
            self.send(Message::Bitfield(bytes::Bytes::copy_from_slice(
                verified.as_bytes(),
            )));
        }
    }

    /// Handle every whole message that arrived.
    async fn process_input(&mut self) -> Result<(), PeerError> {
        while let Some(msg) = self.conn.next_message(self.max_message_len)? {
            self.handle(msg).await?;
        }
        Ok(())
    }

    fn protocol<T>(&self, what: String) -> Result<T, PeerError> {
        Err(PeerError::Protocol(what))
    }

    async fn handle(&mut self, msg: Message) -> Result<(), PeerError> {
        self.stats.note(Direction::In, &msg);
        let first = !self.got_first_message;
        // Bitfield / have all / have none must come first, but the BEP 10 extension handshake
        // (libtorrent sends it before its bitfield) and the DHT port may precede them.
        if !matches!(
            msg,
            Message::KeepAlive | Message::Extended { .. } | Message::Port(_)
        ) {
            self.got_first_message = true;
        }
        let piece_count = self.have.len();
        match msg {
            Message::KeepAlive => {}
            Message::Choke => {
                tracing::debug!(
                    peer = self.key,
                    outstanding = self.outstanding.len(),
                    "choked"
                );
                self.peer_choking = true;
                self.stats.peer_choking.store(true, Ordering::Relaxed);
                if !self.fast {
                    // BEP 3: choking discards our pending requests
                    self.release_all();
                }
            }
            Message::Unchoke => {
                tracing::debug!(peer = self.key, "unchoked");
                self.peer_choking = false;
                self.stats.peer_choking.store(false, Ordering::Relaxed);
                self.fill_requests();
            }
            Message::Interested | Message::NotInterested => {
                let interested = matches!(msg, Message::Interested);
                if interested != self.peer_interested {
                    self.peer_interested = interested;
                    self.stats
                        .peer_interested
                        .store(interested, Ordering::Relaxed);
                    let _ = self.shared.events.send(TorrentMsg::PeerInterest {
                        key: self.key,
                        interested,
                    });
                }
            }
            Message::Have { index } => {
                if index >= piece_count {
                    return self.protocol(format!("have for piece {index} of {piece_count}"));
                }
                if self.have.set(index) {
                    self.shared.picker().peer_has(index);
                    self.stats
                        .pieces
                        .store(self.have.count_ones(), Ordering::Relaxed);
                    self.update_interest();
                }
            }
            Message::Bitfield(bytes) => {
                let bf = Bitfield::from_bytes(&bytes, piece_count)
                    .map_err(|e| PeerError::Protocol(e.to_string()))?;
                self.merge_have(bf, first);
            }
            Message::HaveAll | Message::HaveNone if !self.fast => {
                return self.protocol("fast extension message without the fast bit".into());
            }
            // aria2 1.36 sends its bitfield again after its allowed-fast set and a have all
            // when it completes: a late one adds pieces like a run of `have`s
            Message::HaveAll => self.merge_have(Bitfield::full(piece_count), first),
            Message::HaveNone => {}
            Message::Request(r) => self.on_request(r)?,
            Message::Piece {
                index,
                begin,
                block,
            } => {
                let r = BlockRef {
                    index,
                    begin,
                    length: block.len() as u32,
                };
                self.on_block(r, block).await?;
            }
            Message::Cancel(r) => {
                if let Some(pos) = self.upload_queue.iter().position(|q| *q == r) {
                    self.upload_queue.remove(pos);
                    // BEP 6: with the Fast extension every request gets a piece or a reject
                    if self.fast {
                        self.send(Message::Reject(r));
                    }
                }
            }
            Message::Reject(r) => {
                if !self.fast {
                    return self.protocol("reject without the fast extension".into());
                }
                tracing::debug!(peer = self.key, ?r, "rejected");
                if let Some(pos) = self.outstanding.iter().position(|(o, _)| *o == r) {
                    self.outstanding.remove(pos);
                    self.shared.picker().release(self.key, &r);
                    self.fill_requests();
                }
            }
            Message::AllowedFast { index } => {
                if !self.fast {
                    return self.protocol("allowed fast without the fast extension".into());
                }
                // an index out of range is ignored, as BEP 6 allows sets computed for the swarm
                if self.allowed_in.set(index) && self.peer_choking {
                    self.fill_requests();
                }
            }
            Message::Port(port) => {
                // BEP 5: the peer runs a DHT node on this UDP port; it is pinged and added
                // to the routing table if it answers
                if let Some(dht) = &self.shared.dht
                    && port != 0
                {
                    dht.add_node(SocketAddr::new(self.remote.ip(), port));
                }
            }
            Message::Suggest { .. } => {}
            Message::Extended { id, payload } => self.on_extended(id, &payload)?,
        }
        Ok(())
    }

    fn apply_extension_handshake(&mut self, ext: &ExtensionHandshake) {
        self.stats.detail().extension = Some(Arc::new(ext.clone()));
        let id = |name: &str| ext.m.get(name).copied().filter(|id| *id != 0);
        self.their_metadata_id = id(UT_METADATA);
        self.their_pex_id = if self.shared.info.private {
            None
        } else {
            id(UT_PEX)
        };
        if let Some(q) = ext.reqq {
            self.their_reqq = (q as usize).clamp(1, MAX_PIPELINE);
        }
        self.stats
            .pex
            .store(self.their_pex_id.is_some(), Ordering::Relaxed);
    }

    /// BEP 10 messages: the extension handshake, BEP 9 metadata requests, BEP 11 PEX.
    fn on_extended(&mut self, id: u8, payload: &[u8]) -> Result<(), PeerError> {
        match id {
            0 => {
                let ext = ExtensionHandshake::decode(payload)
                    .map_err(|e| PeerError::Protocol(format!("extension handshake: {e}")))?;
                self.apply_extension_handshake(&ext);
            }
            OUR_UT_METADATA_ID => {
                let msg = MetadataMessage::decode(payload)
                    .map_err(|e| PeerError::Protocol(format!("ut_metadata: {e}")))?;
                if let (MetadataMessage::Request { piece }, Some(their_id)) =
                    (msg, self.their_metadata_id)
                {
                    let raw = &self.shared.raw_info;
                    let start = piece as usize * METADATA_PIECE_SIZE;
                    let reply = if raw.is_empty() || start >= raw.len() {
                        MetadataMessage::Reject { piece }
                    } else {
                        let end = (start + METADATA_PIECE_SIZE).min(raw.len());
                        MetadataMessage::Data {
                            piece,
                            total_size: raw.len() as u32,
                            data: raw.slice(start..end),
                        }
                    };
                    self.send(Message::Extended {
                        id: their_id,
                        payload: Bytes::from(reply.encode()),
                    });
                }
            }
            OUR_UT_PEX_ID => {
                if self.shared.info.private {
                    return Ok(()); // BEP 27: no peer exchange for private torrents
                }
                let now = Instant::now();
                // BEP 11 allows one message a minute; ignore a peer that floods
                if self
                    .last_pex_in
                    .is_some_and(|t| now.duration_since(t) < Duration::from_secs(30))
                {
                    return Ok(());
                }
                self.last_pex_in = Some(now);
                if let Ok(msg) = PexMessage::decode(payload)
                    && !msg.added.is_empty()
                {
                    let _ = self.shared.events.send(TorrentMsg::AddPeers(msg.added));
                }
            }
            _ => {} // an extension we did not announce: ignore
        }
        Ok(())
    }

    fn send_pex(&mut self, peers: &[std::net::SocketAddr]) {
        let Some(id) = self.their_pex_id else { return };
        let others = peers
            .iter()
            .filter(|a| **a != self.remote)
            .map(|a| (*a, 0u8));
        if let Some(msg) = self.pex.next_message(others, Instant::now()) {
            self.send(Message::Extended {
                id,
                payload: Bytes::from(msg.encode()),
            });
        }
    }

    fn on_request(&mut self, r: BlockRef) -> Result<(), PeerError> {
        let piece_count = self.have.len();
        if r.length > MAX_REQUEST_LEN || r.length == 0 {
            return self.protocol(format!(
                "request of {} bytes (allowed 1..={MAX_REQUEST_LEN})",
                r.length
            ));
        }
        if r.index >= piece_count {
            return self.protocol(format!("request for piece {} of {piece_count}", r.index));
        }
        let size = self.shared.info.piece_size(r.index);
        if r.begin as u64 + r.length as u64 > size as u64 {
            return self.protocol(format!(
                "request beyond piece {}: offset {} length {} (piece is {size} bytes)",
                r.index, r.begin, r.length
            ));
        }
        let serve = (!self.am_choking || self.allowed_out.contains(&r.index))
            && self.upload_queue.len() < MAX_QUEUED_REQUESTS
            && self.shared.picker().verified().get(r.index);
        if serve {
            self.upload_queue.push_back(r);
        } else if self.fast {
            // BEP 6: refuse explicitly instead of dropping silently
            self.send(Message::Reject(r));
        }
        Ok(())
    }

    fn set_choking(&mut self, choke: bool) {
        if choke == self.am_choking {
            return;
        }
        self.am_choking = choke;
        self.stats.am_choking.store(choke, Ordering::Relaxed);
        if choke {
            self.send(Message::Choke);
            // BEP 3: choking drops the peer's requests; BEP 6 makes that explicit, and keeps
            // the ones for allowed-fast pieces
            let allowed = std::mem::take(&mut self.allowed_out);
            let (keep, drop): (VecDeque<BlockRef>, VecDeque<BlockRef>) = self
                .upload_queue
                .drain(..)
                .partition(|r| allowed.contains(&r.index));
            self.upload_queue = keep;
            self.allowed_out = allowed;
            for r in drop {
                if self.fast {
                    self.send(Message::Reject(r));
                }
            }
        } else {
            self.send(Message::Unchoke);
        }
    }

    /// Start reading the next requested blocks from disk, when there is room for them.
    /// Requests for consecutive blocks of one piece (the usual pattern) are read with one
    /// positioned read of up to [`UPLOAD_READ_MAX`] bytes.
    fn start_upload_read(&mut self, reading: &mut JoinSet<UploadRead>) -> bool {
        if self.conn.pending_out() >= UPLOAD_HIGH_WATER {
            return false;
        }
        let Some(first) = self.upload_queue.pop_front() else {
            return false;
        };
        let mut run = vec![first];
        let mut total = first.length;
        while let Some(next) = self.upload_queue.front().copied() {
            let last = run[run.len() - 1];
            if next.index != last.index
                || next.begin != last.begin + last.length
                || total + next.length > UPLOAD_READ_MAX
            {
                break;
            }
            self.upload_queue.pop_front();
            total += next.length;
            run.push(next);
        }
        let storage = self.shared.storage.clone();
        let limiter = self.shared.upload_limiter.clone();
        let corrupt = self.shared.faults.corrupt_piece_one_in;
        reading.spawn(async move {
            if let Some(l) = limiter {
                l.acquire(total as u64).await;
            }
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; total as usize];
                storage
                    .read_block(first.index, first.begin, &mut buf)
                    .map(|_| buf)
            });
            let mut buf = read
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if let Some(n) = corrupt
                && n > 0
                && first.begin == 0
                && rand::random::<u32>().is_multiple_of(n)
            {
                // fault injection for the demo swarm: a wrong byte makes the piece fail its hash
                buf[0] ^= 0xff;
            }
            let data = Bytes::from(buf);
            let mut at = 0usize;
            Ok(run
                .into_iter()
                .map(|r| {
                    let block = data.slice(at..at + r.length as usize);
                    at += r.length as usize;
                    (r, block)
                })
                .collect())
        });
        true
    }

    fn queue_piece(&mut self, r: BlockRef, block: Bytes) {
        if self.am_choking && !self.allowed_out.contains(&r.index) {
            return; // choked while reading: the request is gone
        }
        let len = block.len() as u64;
        self.send(Message::Piece {
            index: r.index,
            begin: r.begin,
            block,
        });
        self.up_bytes_this_tick += len;
        self.stats.uploaded.fetch_add(len, Ordering::Relaxed);
        self.shared.uploaded.fetch_add(len, Ordering::Relaxed);
    }

    /// A bitfield or have all: the peer's first word, or (late) extra pieces to add.
    fn merge_have(&mut self, bf: Bitfield, first: bool) {
        if first {
            return self.set_have(bf);
        }
        let mut changed = false;
        for index in bf.iter_ones() {
            if self.have.set(index) {
                self.shared.picker().peer_has(index);
                changed = true;
            }
        }
        if changed {
            self.stats
                .pieces
                .store(self.have.count_ones(), Ordering::Relaxed);
            self.update_interest();
        }
    }

    fn set_have(&mut self, bf: Bitfield) {
        self.shared.picker().peer_bitfield(&bf);
        self.stats.pieces.store(bf.count_ones(), Ordering::Relaxed);
        self.have = bf;
        self.update_interest();
    }

    fn update_interest(&mut self) {
        let interesting = self.shared.picker().is_interesting(&self.have);
        if interesting != self.am_interested {
            self.am_interested = interesting;
            self.stats
                .am_interested
                .store(interesting, Ordering::Relaxed);
            if interesting {
                self.send(Message::Interested);
            } else {
                self.send(Message::NotInterested);
            }
        }
        self.fill_requests();
    }

    fn fill_requests(&mut self) {
        if !self.am_interested {
            return;
        }
        // choked: only the peer's allowed-fast pieces (BEP 6), a few at a time
        let choked_fast = self.peer_choking && self.fast && self.allowed_in.count_ones() > 0;
        if self.peer_choking && !choked_fast {
            return;
        }
        let target = self.pipeline.target(self.their_reqq);
        let target = if choked_fast {
            target.min(MIN_PIPELINE)
        } else {
            target
        };
        if self.outstanding.len() >= target {
            return;
        }
        let want = target - self.outstanding.len();
        self.scratch.clear();
        if choked_fast {
            let mut both = Bitfield::new(self.have.len());
            for i in self.allowed_in.iter_ones().filter(|i| self.have.get(*i)) {
                both.set(i);
            }
            self.shared
                .picker()
                .pick(self.key, &both, want, &mut self.scratch);
        } else {
            self.shared
                .picker()
                .pick(self.key, &self.have, want, &mut self.scratch);
        }
        let now = Instant::now();
        let mut picked = std::mem::take(&mut self.scratch);
        for r in picked.drain(..) {
            self.send(Message::Request(r));
            self.outstanding.push((r, now));
        }
        self.scratch = picked;
        self.stats
            .requests
            .store(self.outstanding.len() as u32, Ordering::Relaxed);
        self.publish_in_flight(now);
    }

    async fn on_block(&mut self, r: BlockRef, data: bytes::Bytes) -> Result<(), PeerError> {
        let requested = self.outstanding.iter().position(|(o, _)| *o == r);
        if let Some(pos) = requested {
            self.outstanding.remove(pos);
        } else {
            tracing::debug!(peer = self.key, ?r, "unrequested block");
            let valid = self.shared.picker().is_valid_block(&r);
            if !valid {
                return self.protocol(format!(
                    "block never requested: piece {} offset {} length {}",
                    r.index, r.begin, r.length
                ));
            }
        }
        let len = data.len() as u64;
        if self.pipeline.is_snubbed() {
            self.stats.snubbed.store(false, Ordering::Relaxed);
        }
        self.pipeline.on_block(len);
        self.last_data = Instant::now();
        self.stats.downloaded.fetch_add(len, Ordering::Relaxed);
        // Reserve room for the write (and a possible verify) *before* marking the block
        // received, then queue both inside the picker's critical section. Otherwise another
        // peer could complete the piece and queue its verify ahead of this write, and the
        // hash check would read the block before it is on disk.
        let disk = self.shared.disk.clone();
        let mut permits = disk
            .reserve_many(2)
            .await
            .map_err(|_| PeerError::Shutdown)?;
        let outcome = {
            let mut picker = self.shared.picker();
            let outcome = picker.block_received(self.key, &r);
            if let BlockOutcome::New { piece_complete, .. } = &outcome {
                if let Some(p) = permits.next() {
                    p.send(DiskJob::Write {
                        piece: r.index,
                        begin: r.begin,
                        data,
                    });
                }
                if *piece_complete && let Some(p) = permits.next() {
                    let expected = self.shared.info.piece_hashes[r.index as usize];
                    let block_hashes = picker.on_parole(r.index);
                    p.send(DiskJob::Verify {
                        piece: r.index,
                        expected,
                        block_hashes,
                    });
                }
            }
            outcome
        };
        drop(permits);
        match outcome {
            BlockOutcome::Ignored => {
                self.shared.wasted.fetch_add(len, Ordering::Relaxed);
            }
            BlockOutcome::New { cancel, .. } => {
                self.shared.downloaded.fetch_add(len, Ordering::Relaxed);
                if !cancel.is_empty() {
                    self.shared.send_to_peers(&cancel, PeerCommand::Cancel(r));
                }
            }
        }
        self.fill_requests();
        Ok(())
    }

    fn release_all(&mut self) {
        if self.outstanding.is_empty() {
            return;
        }
        let mut picker = self.shared.picker();
        for (r, _) in self.outstanding.drain(..) {
            picker.release(self.key, &r);
        }
        drop(picker);
        self.stats.requests.store(0, Ordering::Relaxed);
        // others may now pick these blocks up
        self.shared.nudge_peers(self.key);
    }

    fn on_tick(&mut self) -> Result<(), PeerError> {
        let now = Instant::now();
        // exponential moving average of the download rate (bytes/s)
        self.stats.set_rate(self.pipeline.on_tick());
        self.up_rate = self.up_rate * 0.6 + self.up_bytes_this_tick as f64 * 0.4;
        self.up_bytes_this_tick = 0;
        self.stats.set_up_rate(self.up_rate);
        if let Some((_, sent)) = self.outstanding.first()
            && now.duration_since(*sent) > REQUEST_TIMEOUT
        {
            tracing::debug!(
                peer = self.key,
                outstanding = self.outstanding.len(),
                "request timed out: snubbed"
            );
            self.pipeline.snub();
            self.stats.snubbed.store(true, Ordering::Relaxed);
            self.release_all();
        }
        if now.duration_since(self.last_recv) > IDLE_TIMEOUT {
            return Err(PeerError::Timeout("waiting for any message"));
        }
        if self.have.is_full() && !self.have.is_empty() && self.shared.picker().verified().is_full()
        {
            return Err(PeerError::Useless("both sides are seeds"));
        }
        if now.duration_since(self.last_send) > KEEPALIVE_INTERVAL && self.conn.pending_out() == 0 {
            self.send(Message::KeepAlive);
        }
        self.fill_requests();
        Ok(())
    }

    /// Queue `msg` for writing and note it for the dashboard.
    fn send(&mut self, msg: Message) {
        self.stats.note(Direction::Out, &msg);
        self.conn.send(&msg);
    }

    /// Publish the pieces we have requests in flight for, at most every 100 ms (the
    /// dashboard shows "requested by which peer").
    fn publish_in_flight(&mut self, now: Instant) {
        if now.duration_since(self.in_flight_published) < Duration::from_millis(100) {
            return;
        }
        self.in_flight_published = now;
        let mut pieces: Vec<u32> = self.outstanding.iter().map(|(r, _)| r.index).collect();
        pieces.sort_unstable();
        pieces.dedup();
        self.stats.detail().pieces_in_flight = pieces;
    }

    fn cleanup(&mut self) {
        let mut picker = self.shared.picker();
        for (r, _) in self.outstanding.drain(..) {
            picker.release(self.key, &r);
        }
        picker.peer_left(self.key);
        picker.peer_gone(&self.have);
        drop(picker);
        self.shared.nudge_peers(self.key);
        let _ = self.shared.events.send(TorrentMsg::Nudge);
    }
}
