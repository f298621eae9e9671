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
//! Outgoing messages are encoded into the connection's write buffer and written from the same
//! loop ([`Connection::transfer`], cancel-safe), so a peer that stops reading never blocks our
//! reads; we stop reading from it only while [`MAX_OUT_BUFFER`] bytes wait for it.
//!
//! # Files
//! This file holds the session's state and loop; [`inbound`] handles what the peer says,
//! [`download`] what we ask of it, [`upload`] what we serve it.

mod download;
mod inbound;
mod upload;

use super::shared::{PeerCommand, PeerStats, Shared};
use crate::engine::conn::{Connection, MAX_QUEUED_REQUESTS, Transfer, our_extension_handshake};
use crate::engine::error::PeerError;
use crate::engine::event::{Direction, PeerCloseReason};
use crate::engine::picker::PeerKey;
use crate::engine::pipeline::{MAX_PIPELINE, Pipeline};
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::{ExtensionHandshake, PexState};
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
/// A peer that is not interested this long after our opening messages gets one early
/// keep-alive. Transmission 3.00 reads what came with our handshake over uTP only when the
/// next packet arrives: without it, our have-all sat unread until the first regular
/// keep-alive (90 s; from a libtorrent seeder, 60 s).
const OPENING_NUDGE: Duration = Duration::from_secs(2);
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
    /// When the session started, until the [`OPENING_NUDGE`] is due or moot.
    nudge_from: Option<Instant>,
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
    let utp = conn.transport() == crate::engine::event::Transport::Utp;
    stats.utp.store(utp, Ordering::Relaxed);
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
        nudge_from: Some(now),
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
                    Some(PeerCommand::Wanted) => self.on_wanted_changed(),
                    Some(PeerCommand::Choke) => self.set_choking(true),
                    Some(PeerCommand::Pex(peers)) => self.send_pex(&peers),
                    Some(PeerCommand::Unchoke) => self.set_choking(false),
                    Some(PeerCommand::Pieces(reply)) => {
                        let _ = reply.try_send(self.have.clone());
                    }
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
        if let Some(from) = self.nudge_from
            && now.duration_since(from) >= OPENING_NUDGE
        {
            self.nudge_from = None;
            if !self.peer_interested && self.shared.picker().verified().count_ones() > 0 {
                self.send(Message::KeepAlive);
            }
        }
        self.fill_requests();
        Ok(())
    }

    /// Queue `msg` for writing and note it for the dashboard.
    fn send(&mut self, msg: Message) {
        self.stats.note(Direction::Out, &msg);
        self.conn.send(&msg);
    }

    fn cleanup(&mut self) {
        let mut picker = self.shared.picker();
        for (r, _) in self.outstanding.drain(..) {
            picker.release(self.key, &r);
        }
        picker.peer_left(self.key);
        picker.peer_gone(&self.have);
        drop(picker);
        // the torrent task hears of the end as `PeerClosed` and connects more then
        self.shared.nudge_peers(self.key);
    }
}
