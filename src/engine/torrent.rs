//! One torrent: the task that owns its peer table, trackers, disk worker and piece picker.
//!
//! # Shape
//! Peer connections run as their own tasks (see [`crate::engine::peer`]) and share the
//! [`Shared`] state: the picker sits behind a short-held `std::sync::Mutex` so a peer can pick
//! blocks without a round trip through this task (at hundreds of MiB/s a round trip per block
//! would be the bottleneck). Everything else that happens to the torrent (a peer closed, a
//! piece verified, a tracker answered, an incoming connection) arrives here as a
//! [`TorrentMsg`], and this task alone decides about connections, bans and completion.
//!
//! # Connections
//! Known peers are `Idle` until connected (at most `max_peers` at once, at most
//! [`MAX_HALF_OPEN`] connecting), and go back to `Idle` with an exponential back-off after a
//! failure. A peer whose data fails hash checks loses trust; below [`BAN_THRESHOLD`](crate::engine::peerbook::BAN_THRESHOLD) it is
//! banned for the life of the torrent.

use crate::engine::Faults;
use crate::engine::choker::{Choker, ChokerPeer};
use crate::engine::conn::{Dialer, Encryption, PeerStream};
use crate::engine::disk::{DiskJob, DiskResult, spawn_disk};
use crate::engine::error::TorrentError;
use crate::engine::event::EventSink;
use crate::engine::event::{
    Direction, EngineEvent, PeerCloseReason, PeerSnapshot, PieceView, TorrentId, TorrentSnapshot,
    TorrentState, WireLogEntry,
};
use crate::engine::metadata::{HandedOver, MetadataOutcome, MetadataPhase};
use crate::engine::peer;
use crate::engine::peer::PeerInit;
use crate::engine::peerbook::PeerBook;
use crate::engine::picker::PieceState;
use crate::engine::picker::{PeerKey, Picker};
use crate::engine::ratelimit::RateLimiter;
use crate::engine::storage::{OutputTarget, Storage};
use crate::engine::tracker::{
    AnnounceStats, AnnouncerConfig, AnnouncerHandle, TrackerUpdate, spawn_announcer,
};
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::ExtensionHandshake;
use crate::proto::handshake::Handshake;
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::magnet::Magnet;
use crate::proto::message::BlockRef;
use crate::proto::message::Message;
use crate::proto::metainfo::{Info, Metainfo};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Connections being opened at once, per torrent.
pub const MAX_HALF_OPEN: usize = 16;

/// Orders for one peer task.
#[derive(Debug, Clone)]
pub enum PeerCommand {
    /// We verified a piece: announce it.
    Have(u32),
    /// Another peer delivered this block first (endgame).
    Cancel(BlockRef),
    /// Blocks were released: try to request more.
    Refill,
    /// Close with this reason (ban).
    Close(String),
    /// The choker took the peer's upload slot away.
    Choke,
    /// The choker gave the peer an upload slot.
    Unchoke,
    /// Our current peers, for a BEP 11 PEX message (sent only when due).
    Pex(Arc<Vec<SocketAddr>>),
    Shutdown,
}

/// Counters a peer task publishes for snapshots, lock-free.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub rate_bits: AtomicU64,
    pub up_rate_bits: AtomicU64,
    pub am_choking: AtomicBool,
    pub pieces: AtomicU32,
    pub requests: AtomicU32,
    pub am_interested: AtomicBool,
    pub peer_choking: AtomicBool,
    pub peer_interested: AtomicBool,
    pub snubbed: AtomicBool,
    pub fast: AtomicBool,
    pub pex: AtomicBool,
    /// How the connection's bytes travel, a [`Wire`](crate::engine::event::Wire) as `u8`.
    pub wire: AtomicU8,
    /// What the dashboard shows beyond counters; a short-held lock.
    detail: Mutex<PeerDetail>,
}

/// How many messages each peer keeps for the dashboard's "last messages".
pub const WIRE_LOG_LEN: usize = 16;

/// The parts of a peer's state the dashboard shows that do not fit in an atomic.
#[derive(Debug, Default)]
pub struct PeerDetail {
    pub reserved: [u8; 8],
    pub extension: Option<Arc<ExtensionHandshake>>,
    pub pieces_in_flight: Vec<u32>,
    /// The last [`WIRE_LOG_LEN`] messages: when, which way, name, piece index, length.
    pub recent: VecDeque<(Instant, Direction, &'static str, Option<u32>, u32)>,
}

impl PeerStats {
    pub fn detail(&self) -> MutexGuard<'_, PeerDetail> {
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember a message for the dashboard (a bounded ring).
    pub fn note(&self, direction: Direction, msg: &Message) {
        let (index, length) = match msg {
            Message::Have { index }
            | Message::Suggest { index }
            | Message::AllowedFast { index } => (Some(*index), 4),
            Message::Request(r) | Message::Cancel(r) | Message::Reject(r) => {
                (Some(r.index), r.length)
            }
            Message::Piece { index, block, .. } => (Some(*index), block.len() as u32),
            Message::Bitfield(b) => (None, b.len() as u32),
            Message::Extended { payload, .. } => (None, payload.len() as u32),
            Message::Port(_) => (None, 2),
            _ => (None, 0),
        };
        let mut d = self.detail();
        if d.recent.len() >= WIRE_LOG_LEN {
            d.recent.pop_front();
        }
        d.recent
            .push_back((Instant::now(), direction, msg.name(), index, length));
    }

    pub fn set_rate(&self, rate: f64) {
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
    pub fn set_up_rate(&self, rate: f64) {
        self.up_rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }
    pub fn up_rate(&self) -> f64 {
        f64::from_bits(self.up_rate_bits.load(Ordering::Relaxed))
    }
}

struct PeerSlot {
    tx: mpsc::UnboundedSender<PeerCommand>,
    stats: Arc<PeerStats>,
    addr: SocketAddr,
    peer_id: PeerId,
    incoming: bool,
    connected_at: Instant,
}

/// State shared between the torrent task and its peer tasks.
pub struct Shared {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub listen_port: u16,
    pub info: Arc<Info>,
    /// The raw info dictionary, served to peers that ask for it (BEP 9).
    pub raw_info: Bytes,
    picker: Mutex<Picker>,
    pub disk: mpsc::Sender<DiskJob>,
    pub storage: Arc<Storage>,
    pub upload_limiter: Option<Arc<RateLimiter>>,
    pub faults: Faults,
    /// Opens our connections (encryption policy, peers' reserved-bit needs).
    pub dialer: Arc<Dialer>,
    /// The DHT node: peers with the DHT bit get our `Port`, and theirs is added to it (BEP 5).
    pub dht: Option<crate::engine::dht::DhtHandle>,
    pub events: mpsc::UnboundedSender<TorrentMsg>,
    peers: Mutex<HashMap<PeerKey, PeerSlot>>,
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub wasted: AtomicU64,
}

impl Shared {
    /// The picker; held only for short, non-async sections.
    pub fn picker(&self) -> MutexGuard<'_, Picker> {
        self.picker.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn peers(&self) -> MutexGuard<'_, HashMap<PeerKey, PeerSlot>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn verified_bitfield(&self) -> Bitfield {
        self.picker().verified().clone()
    }

    pub fn send_to_peers(&self, keys: &[PeerKey], cmd: PeerCommand) {
        let peers = self.peers();
        for k in keys {
            if let Some(p) = peers.get(k) {
                let _ = p.tx.send(cmd.clone());
            }
        }
    }

    /// Ask every other peer to refill its pipeline (blocks were released).
    pub fn nudge_peers(&self, except: PeerKey) {
        for (k, p) in self.peers().iter() {
            if *k != except {
                let _ = p.tx.send(PeerCommand::Refill);
            }
        }
    }
}

/// Everything that reaches the torrent task.
pub enum TorrentMsg {
    PeerUp {
        key: PeerKey,
        addr: SocketAddr,
        peer_id: PeerId,
        incoming: bool,
    },
    PeerClosed {
        key: Option<PeerKey>,
        addr: SocketAddr,
        reason: PeerCloseReason,
    },
    /// The peer sent `interested` or `not interested`.
    PeerInterest {
        key: PeerKey,
        interested: bool,
    },
    Disk(DiskResult),
    Tracker(TrackerUpdate),
    Incoming {
        stream: PeerStream,
        addr: SocketAddr,
        handshake: Handshake,
        leftover: BytesMut,
    },
    AddPeers(Vec<SocketAddr>),
    /// Something changed that may allow more connections.
    Nudge,
    /// Pause (`true`: close every peer, connect to none, keep the piece state) or resume.
    /// Ignored while fetching metadata.
    Pause(bool),
    /// Stop like [`TorrentMsg::Shutdown`], then delete the torrent's files.
    RemoveData(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// What the engine passes to start a torrent.
/// What a torrent starts from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A .torrent file: everything is known.
    Torrent(Arc<Metainfo>),
    /// A magnet link: the info dictionary comes from peers first (BEP 9).
    Magnet(Magnet),
}

pub struct TorrentParams {
    pub id: TorrentId,
    pub source: Source,
    /// Cap on the metadata size a peer may claim.
    pub max_metadata_size: u32,
    pub target: OutputTarget,
    pub peers: Vec<SocketAddr>,
    pub wanted: Option<Vec<u32>>,
    pub use_trackers: bool,
    pub listen_port: u16,
    pub peer_id: PeerId,
    pub max_peers: usize,
    pub upload_slots: usize,
    pub upload_limiter: Option<Arc<RateLimiter>>,
    pub faults: Faults,
    pub encryption: Encryption,
    pub seed_only: bool,
    /// The engine's DHT node, for BEP 5 `Port` messages (`None`: no DHT, or a private torrent).
    pub dht: Option<crate::engine::dht::DhtHandle>,
    /// Cleared when the metadata says private: the engine's DHT feeder stops.
    pub dht_allowed: Arc<AtomicBool>,
    pub events: EventSink,
    pub snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
}

/// Start the torrent task; returns the sender that feeds it.
pub fn spawn_torrent(params: TorrentParams) -> mpsc::UnboundedSender<TorrentMsg> {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    tokio::spawn(async move {
        let id = params.id;
        let events = params.events.clone();
        if let Err(error) = run(params, tx2, rx).await {
            events.emit(EngineEvent::Failed {
                id,
                error: error.to_string(),
            });
        }
    });
    tx
}

/// `left` we announce while the size is unknown (magnet, metadata not yet fetched). Not 0,
/// which says "seed" (trackers then list us as one and send no seeds), and small: some
/// trackers refuse a `left` larger than the torrent (the course's test tracker does), and 1
/// is never larger. Real trackers only look at whether it is 0.
const UNKNOWN_LEFT: u64 = 1;

fn start_announcer(
    p: &TorrentParams,
    info_hash: InfoHash,
    tiers: Vec<Vec<String>>,
    stats: watch::Receiver<AnnounceStats>,
    tx: &mpsc::UnboundedSender<TorrentMsg>,
) -> Option<AnnouncerHandle> {
    if !p.use_trackers || tiers.is_empty() {
        return None;
    }
    let (up_tx, mut up_rx) = mpsc::channel(16);
    let handle = spawn_announcer(
        AnnouncerConfig {
            tiers,
            info_hash,
            peer_id: p.peer_id,
            port: p.listen_port,
            numwant: 200,
            timeout: Duration::from_secs(15),
            min_interval: Duration::from_secs(5),
        },
        stats,
        up_tx,
    );
    let tx = tx.clone();
    tokio::spawn(async move {
        while let Some(u) = up_rx.recv().await {
            if tx.send(TorrentMsg::Tracker(u)).is_err() {
                break;
            }
        }
    });
    Some(handle)
}

async fn run(
    p: TorrentParams,
    tx: mpsc::UnboundedSender<TorrentMsg>,
    mut rx: mpsc::UnboundedReceiver<TorrentMsg>,
) -> Result<(), TorrentError> {
    let started = Instant::now();
    let id = p.id;
    let (info_hash, tiers, mut initial_peers, left) = match &p.source {
        Source::Torrent(m) => (m.info_hash, m.trackers(), Vec::new(), m.info.total_length),
        // BEP 12 reading of a magnet: each `tr` is its own tier
        Source::Magnet(mg) => (
            mg.info_hash,
            mg.trackers.iter().map(|t| vec![t.clone()]).collect(),
            mg.peers.clone(),
            UNKNOWN_LEFT,
        ),
    };
    initial_peers.extend(p.peers.iter().copied());
    let (stats_tx, stats_rx) = watch::channel(AnnounceStats {
        uploaded: 0,
        downloaded: 0,
        left,
    });
    // A magnet needs its trackers at once (the peers that have the metadata); a .torrent
    // announces only once its data is checked, so that a seed's `started` says left=0 (before
    // the check it would be listed as a leecher until its next re-announce, tens of minutes).
    let mut announcer = match &p.source {
        Source::Magnet(_) => start_announcer(&p, info_hash, tiers.clone(), stats_rx.clone(), &tx),
        Source::Torrent(_) => None,
    };
    let mut book = PeerBook::default();
    // one per torrent: what it learns about a peer's handshake outlives the metadata phase
    let dialer = Arc::new(Dialer::new(p.encryption));
    book.add(&initial_peers, Instant::now());
    let mut next_key: PeerKey = 1;

    let (metainfo, handed) = match &p.source {
        Source::Torrent(m) => (m.clone(), Vec::new()),
        Source::Magnet(mg) => {
            p.events.emit(EngineEvent::StateChanged {
                id,
                state: TorrentState::FetchingMetadata,
            });
            let phase = MetadataPhase {
                id,
                info_hash,
                name: mg.name.clone().unwrap_or_else(|| info_hash.to_string()),
                peer_id: p.peer_id,
                max_size: p.max_metadata_size,
                dialer: dialer.clone(),
                max_peers: p.max_peers,
                events: p.events.clone(),
                snapshots: p.snapshots.clone(),
                started,
            };
            match phase.run(&mut book, &mut next_key, &mut rx).await? {
                MetadataOutcome::Ready { raw, handed } => {
                    let info = Info::from_bytes(&raw).map_err(TorrentError::BadMetadata)?;
                    let m = Metainfo {
                        announce: tiers.first().and_then(|t| t.first()).cloned(),
                        announce_list: tiers.clone(),
                        info,
                        info_hash,
                        raw_info: raw,
                        comment: None,
                        created_by: None,
                        creation_date: None,
                    };
                    (Arc::new(m), handed)
                }
                MetadataOutcome::Shutdown(done) => {
                    if let Some(a) = announcer {
                        a.stop().await;
                    }
                    let _ = done.send(());
                    return Ok(());
                }
            }
        }
    };
    p.events.emit(EngineEvent::MetadataReady {
        id,
        metainfo: metainfo.clone(),
    });
    // BEP 27: a magnet whose metadata turns out private leaves the DHT (no more lookups, no
    // Port messages)
    let dht = if metainfo.info.private {
        p.dht_allowed.store(false, Ordering::Relaxed);
        None
    } else {
        p.dht.clone()
    };
    let info = Arc::new(metainfo.info.clone());
    if let Some(bad) = p
        .wanted
        .as_ref()
        .and_then(|w| w.iter().find(|i| **i >= info.piece_count()))
    {
        return Err(TorrentError::NoSuchPiece {
            piece: *bad,
            count: info.piece_count(),
        });
    }
    let storage = {
        let info = info.clone();
        let target = p.target.clone();
        let seed_only = p.seed_only;
        tokio::task::spawn_blocking(move || {
            if seed_only {
                Storage::open_read_only(&info, &target)
            } else {
                Storage::open(&info, &target)
            }
        })
        .await
        .map_err(|e| TorrentError::Internal(format!("storage task: {e}")))?
        .map_err(TorrentError::OpenStorage)?
    };
    let storage = Arc::new(storage);
    let seed: u64 = rand::random();
    let mut picker = Picker::new(
        info.piece_length,
        info.total_length,
        p.wanted.as_deref(),
        seed,
    );
    picker.set_pad_ranges(
        info.files
            .iter()
            .filter(|f| f.attr.pad)
            .map(|f| f.offset..f.offset + f.length)
            .collect(),
    );

    // Resume: hash what is already on disk.
    if storage.had_existing_data() {
        p.events.emit(EngineEvent::StateChanged {
            id,
            state: TorrentState::Checking,
        });
        let total = info.piece_count();
        let st = storage.clone();
        let inf = info.clone();
        let ev = p.events.clone();
        let valid = tokio::task::spawn_blocking(move || {
            let mut checked = 0u32;
            let mut good = 0u32;
            st.verify_existing(&inf, |_, ok| {
                checked += 1;
                good += ok as u32;
                if checked.is_multiple_of(64) || checked == total {
                    ev.emit(EngineEvent::Checking {
                        id,
                        checked,
                        total,
                        valid: good,
                    });
                }
            })
        })
        .await
        .map_err(|e| TorrentError::Internal(format!("resume check task: {e}")))?
        .map_err(TorrentError::CheckExisting)?;
        for (i, ok) in valid.iter().enumerate() {
            if *ok {
                picker.mark_verified(i as u32);
            }
        }
    }

    let (disk_res_tx, mut disk_res_rx) = mpsc::unbounded_channel();
    let disk = spawn_disk(storage.clone(), disk_res_tx);
    let shared = Arc::new(Shared {
        id,
        info_hash,
        peer_id: p.peer_id,
        listen_port: p.listen_port,
        info: info.clone(),
        raw_info: Bytes::from(metainfo.raw_info.clone()),
        picker: Mutex::new(picker),
        disk,
        storage: storage.clone(),
        upload_limiter: p.upload_limiter.clone(),
        faults: p.faults,
        dialer,
        dht,
        events: tx.clone(),
        peers: Mutex::new(HashMap::new()),
        downloaded: AtomicU64::new(0),
        uploaded: AtomicU64::new(0),
        wasted: AtomicU64::new(0),
    });
    let mut t = Torrent {
        id,
        shared: shared.clone(),
        tx: tx.clone(),
        events: p.events.clone(),
        book,
        key_addrs: HashMap::new(),
        max_peers: p.max_peers,
        next_key,
        hash_failures: 0,
        completed_sent: false,
        started,
        last_down: 0,
        down_rate: 0.0,
        last_rate_at: Instant::now(),
        snapshots: p.snapshots.clone(),
        choker: Choker::new(p.upload_slots, seed ^ 0x9e37_79b9_7f4a_7c15),
        last_unchoked: HashMap::new(),
        suspects: HashMap::new(),
        up_rate: 0.0,
        last_up: 0,
        failed: HashSet::new(),
        paused: false,
    };
    // forward disk results into the main queue
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(r) = disk_res_rx.recv().await {
                if tx.send(TorrentMsg::Disk(r)).is_err() {
                    break;
                }
            }
        });
    }

    let complete = shared.picker().is_complete();
    p.events.emit(EngineEvent::StateChanged {
        id,
        state: if complete {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        },
    });
    if complete {
        t.completed_sent = true;
        p.events.emit(EngineEvent::Completed { id });
    }

    // A torrent that starts complete announces `started` with left=0, never `completed`:
    // BEP 3 keeps that event for a download that finished in this session.
    let _ = stats_tx.send(t.announce_stats());
    if matches!(p.source, Source::Torrent(_)) {
        announcer = start_announcer(&p, info_hash, tiers.clone(), stats_rx, &tx);
    }
    for h in handed {
        t.adopt(h);
    }
    t.connect_more();

    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    let result = loop {
        tokio::select! {
            msg = rx.recv() => {
                let Some(msg) = msg else { break Ok(()) };
                match msg {
                    TorrentMsg::Shutdown(done) => {
                        t.shutdown_peers();
                        // final numbers for the last snapshot (a seeder reports what it sent)
                        t.update_rates();
                        t.publish_snapshot();
                        if let Some(a) = announcer {
                            let _ = stats_tx.send(t.announce_stats());
                            a.stop().await;
                        }
                        let _ = done.send(());
                        return Ok(());
                    }
                    TorrentMsg::RemoveData(done) => {
                        t.shutdown_peers();
                        if let Some(a) = announcer {
                            let _ = stats_tx.send(t.announce_stats());
                            a.stop().await;
                        }
                        let st = t.shared.storage.clone();
                        drop(t);
                        let _ = tokio::task::spawn_blocking(move || delete_files(&st)).await;
                        let _ = done.send(());
                        return Ok(());
                    }
                    TorrentMsg::Disk(DiskResult::Error(e)) => {
                        t.shutdown_peers();
                        t.events.emit(EngineEvent::StateChanged { id, state: TorrentState::Failed });
                        break Err(TorrentError::Disk(e));
                    }
                    other => {
                        let was_complete = t.completed_sent;
                        t.handle(other);
                        if !was_complete && t.completed_sent
                            && let Some(a) = &announcer
                        {
                            let _ = stats_tx.send(t.announce_stats());
                            a.completed();
                        }
                    }
                }
            }
            _ = tick.tick() => {
                ticks += 1;
                t.update_rates();
                t.publish_snapshot();
                if ticks.is_multiple_of(4) {
                    t.connect_more();
                    t.choke_round();
                    let _ = stats_tx.send(t.announce_stats());
                }
                if ticks.is_multiple_of(60) && !t.shared.info.private {
                    t.send_pex();
                }
            }
        }
    };
    if let Some(a) = announcer {
        a.stop().await;
    }
    result
}

/// A failed copy of a piece: the SHA-1 of each block and the peer that sent it.
type Suspect = (Vec<[u8; 20]>, Vec<Option<PeerKey>>);

struct Torrent {
    id: TorrentId,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<TorrentMsg>,
    events: EventSink,
    book: PeerBook,
    /// Address of every peer key seen, kept after it closes so late hash failures can be
    /// attributed.
    key_addrs: HashMap<PeerKey, SocketAddr>,
    max_peers: usize,
    next_key: PeerKey,
    hash_failures: u32,
    completed_sent: bool,
    started: Instant,
    last_down: u64,
    down_rate: f64,
    last_rate_at: Instant,
    snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
    choker: Choker,
    last_unchoked: HashMap<PeerKey, Instant>,
    /// Pieces that failed with blocks from several peers: the bad copy's block hashes and
    /// who sent each block, kept until a good copy passes.
    suspects: HashMap<u32, Suspect>,
    up_rate: f64,
    last_up: u64,
    /// Pieces whose last copy failed the hash check (until a good copy passes).
    failed: HashSet<u32>,
    /// Paused by the user: no connections in or out.
    paused: bool,
}

impl Torrent {
    fn announce_stats(&self) -> AnnounceStats {
        AnnounceStats {
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            downloaded: self.shared.downloaded.load(Ordering::Relaxed),
            left: self.shared.picker().bytes_left(),
        }
    }

    fn add_peers(&mut self, addrs: &[SocketAddr]) {
        self.book.add(addrs, Instant::now());
    }

    fn handle(&mut self, msg: TorrentMsg) {
        match msg {
            TorrentMsg::PeerUp {
                key,
                addr,
                peer_id,
                incoming,
            } => {
                self.events.emit(EngineEvent::PeerConnected {
                    id: self.id,
                    addr,
                    peer_id,
                    incoming,
                });
                self.key_addrs.insert(key, addr);
                self.book.connected(addr, key);
            }
            TorrentMsg::PeerClosed { key, addr, reason } => self.on_peer_closed(key, addr, reason),
            TorrentMsg::PeerInterest { key, interested } => {
                if interested {
                    // a free slot need not wait for the next 10 s round
                    if self.choker.unchoke_now(key) {
                        self.set_choke(key, false);
                    }
                } else if self.choker.is_unchoked(key) {
                    self.choker.remove(key);
                    self.set_choke(key, true);
                }
            }
            TorrentMsg::Disk(DiskResult::Verified { piece, ok, blocks }) => {
                self.on_verified(piece, ok, blocks)
            }
            TorrentMsg::Disk(DiskResult::Error(_)) => {}
            TorrentMsg::Tracker(u) => match u {
                TrackerUpdate::Peers {
                    url,
                    peers,
                    seeders,
                    leechers,
                    ..
                } => {
                    self.events.emit(EngineEvent::TrackerReply {
                        id: self.id,
                        url,
                        peers: peers.len(),
                        seeders,
                        leechers,
                    });
                    self.add_peers(&peers);
                    self.connect_more();
                }
                TrackerUpdate::Error { url, message } | TrackerUpdate::Warning { url, message } => {
                    self.events.emit(EngineEvent::TrackerError {
                        id: self.id,
                        url,
                        message,
                    });
                }
            },
            TorrentMsg::Incoming {
                stream,
                addr,
                handshake,
                leftover,
            } => self.on_incoming(stream, addr, handshake, leftover),
            TorrentMsg::AddPeers(addrs) => {
                self.add_peers(&addrs);
                self.connect_more();
            }
            TorrentMsg::Nudge => self.connect_more(),
            TorrentMsg::Pause(pause) => self.set_paused(pause),
            TorrentMsg::Shutdown(_) | TorrentMsg::RemoveData(_) => {}
        }
    }

    fn on_verified(&mut self, piece: u32, ok: bool, blocks: Option<Vec<[u8; 20]>>) {
        if ok {
            self.failed.remove(&piece);
            if let (Some(good), Some((bad, senders))) = (blocks, self.suspects.remove(&piece)) {
                self.convict(piece, &good, &bad, &senders);
            }
            let complete = {
                let mut picker = self.shared.picker();
                picker.mark_verified(piece);
                picker.is_complete()
            };
            let keys: Vec<PeerKey> = self.shared.peers().keys().copied().collect();
            self.shared.send_to_peers(&keys, PeerCommand::Have(piece));
            self.events.emit(EngineEvent::PieceVerified {
                id: self.id,
                index: piece,
            });
            if complete && !self.completed_sent {
                self.completed_sent = true;
                self.events.emit(EngineEvent::StateChanged {
                    id: self.id,
                    state: TorrentState::Seeding,
                });
                self.events.emit(EngineEvent::Completed { id: self.id });
            }
        } else {
            self.hash_failures += 1;
            self.failed.insert(piece);
            let (block_senders, senders) = {
                let mut picker = self.shared.picker();
                (picker.block_senders(piece), picker.mark_failed(piece))
            };
            if senders.len() > 1
                && let Some(bad) = blocks
            {
                // keep the bad copy's block hashes: once a good copy passes, the blocks that
                // differ name the peer that sent them
                self.suspects.insert(piece, (bad, block_senders));
            }
            let sole = senders.len() == 1;
            let mut addrs = Vec::new();
            let mut to_ban = Vec::new();
            for key in &senders {
                let Some(addr) = self.key_addrs.get(key).copied() else {
                    continue;
                };
                addrs.push(addr);
                if self.book.penalise(addr, sole) {
                    to_ban.push((*key, addr));
                }
            }
            self.events.emit(EngineEvent::HashFailed {
                id: self.id,
                index: piece,
                peers: addrs,
            });
            for (key, addr) in to_ban {
                tracing::info!("banning {addr} after hash failures");
                if let Some(slot) = self.shared.peers().get(&key) {
                    let _ = slot.tx.send(PeerCommand::Close(format!(
                        "banned after hash failures (piece {piece})"
                    )));
                }
            }
            // the piece is wanted again
            self.shared.nudge_peers(0);
        }
    }

    fn set_paused(&mut self, pause: bool) {
        if pause == self.paused {
            return;
        }
        self.paused = pause;
        let state = if pause {
            self.shutdown_peers();
            TorrentState::Paused
        } else if self.shared.picker().is_complete() {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        };
        self.events
            .emit(EngineEvent::StateChanged { id: self.id, state });
        if !pause {
            self.connect_more();
        }
        self.publish_snapshot();
    }

    fn set_choke(&mut self, key: PeerKey, choke: bool) {
        if let Some(slot) = self.shared.peers().get(&key) {
            let _ = slot.tx.send(if choke {
                PeerCommand::Choke
            } else {
                PeerCommand::Unchoke
            });
        }
        if !choke {
            self.last_unchoked.insert(key, Instant::now());
        }
    }

    /// A regular choking round (every 10 s).
    fn choke_round(&mut self) {
        let now = Instant::now();
        if !self.choker.due(now) {
            return;
        }
        let peers: Vec<ChokerPeer> = self
            .shared
            .peers()
            .iter()
            .map(|(k, p)| ChokerPeer {
                key: *k,
                interested: p.stats.peer_interested.load(Ordering::Relaxed),
                download_rate: p.stats.rate(),
                upload_rate: p.stats.up_rate(),
                connected_at: p.connected_at,
                last_unchoked: self.last_unchoked.get(k).copied(),
            })
            .collect();
        let seeding = self.shared.picker().is_complete();
        let (unchoke, choke) = self.choker.round(&peers, seeding, now);
        for k in choke {
            self.set_choke(k, true);
        }
        for k in unchoke {
            self.set_choke(k, false);
        }
    }

    /// Compare a failed copy of `piece` with the good one and ban the senders of the blocks
    /// that differed: proof, not suspicion.
    fn convict(
        &mut self,
        piece: u32,
        good: &[[u8; 20]],
        bad: &[[u8; 20]],
        senders: &[Option<PeerKey>],
    ) {
        let mut guilty: Vec<(PeerKey, usize)> = Vec::new();
        for (i, (g, b)) in good.iter().zip(bad).enumerate() {
            if g != b
                && let Some(Some(key)) = senders.get(i)
                && !guilty.iter().any(|(k, _)| k == key)
            {
                guilty.push((*key, i));
            }
        }
        for (key, block) in guilty {
            let Some(addr) = self.key_addrs.get(&key).copied() else {
                continue;
            };
            tracing::info!("banning {addr}: it sent a corrupt block {block} of piece {piece}");
            self.book.ban(addr);
            if let Some(slot) = self.shared.peers().get(&key) {
                let _ = slot.tx.send(PeerCommand::Close(format!(
                    "sent a corrupt block {block} of piece {piece}"
                )));
            }
        }
    }

    fn on_peer_closed(&mut self, key: Option<PeerKey>, addr: SocketAddr, reason: PeerCloseReason) {
        if let Some(key) = key {
            self.shared.peers().remove(&key);
            self.choker.remove(key);
            self.last_unchoked.remove(&key);
        }
        let reason = self.book.closed(addr, reason, Instant::now());
        self.events.emit(EngineEvent::PeerDisconnected {
            id: self.id,
            addr,
            reason,
        });
        self.connect_more();
    }

    fn connected_count(&self) -> (usize, usize) {
        let (connected, connecting) = self.book.counts();
        (
            connected + self.shared.peers().values().filter(|p| p.incoming).count(),
            connecting,
        )
    }

    fn connect_more(&mut self) {
        if self.paused {
            return;
        }
        let (connected, connecting) = self.connected_count();
        let budget = self
            .max_peers
            .saturating_sub(connected + connecting)
            .min(MAX_HALF_OPEN.saturating_sub(connecting));
        for addr in self.book.take_candidates(budget, Instant::now()) {
            tracing::debug!(%addr, "connecting");
            let key = self.next_key;
            self.next_key += 1;
            let shared = self.shared.clone();
            let tx = self.tx.clone();
            tokio::spawn(async move {
                match peer::connect(addr, &shared).await {
                    Ok((stream, hs, leftover)) => {
                        let init = PeerInit {
                            handshake: hs,
                            leftover,
                            ..PeerInit::default()
                        };
                        run_peer(key, addr, shared, stream, init, false, tx).await;
                    }
                    Err(e) => {
                        tracing::debug!(%addr, "connect failed: {e}");
                        let _ = tx.send(TorrentMsg::PeerClosed {
                            key: None,
                            addr,
                            reason: e.into(),
                        });
                    }
                }
            });
        }
    }

    /// Continue a connection from the metadata phase as a download session.
    fn adopt(&mut self, h: HandedOver) {
        let init = PeerInit {
            handshake: h.handshake,
            leftover: h.leftover,
            ext: h.ext,
            pending: h.pending,
            resumed: true,
        };
        let shared = self.shared.clone();
        let tx = self.tx.clone();
        if !h.incoming {
            self.book.connected(h.addr, h.key);
        }
        tokio::spawn(run_peer(
            h.key, h.addr, shared, h.stream, init, h.incoming, tx,
        ));
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

    fn on_incoming(
        &mut self,
        stream: PeerStream,
        addr: SocketAddr,
        hs: Handshake,
        leftover: BytesMut,
    ) {
        let (connected, _) = self.connected_count();
        if self.paused || hs.peer_id == self.shared.peer_id {
            return;
        }
        if connected >= self.max_peers {
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
            leftover,
            ..PeerInit::default()
        };
        tokio::spawn(run_peer(key, addr, shared, stream, init, true, tx));
    }

    /// Offer our outgoing peers' addresses to every peer that speaks ut_pex (BEP 11); each
    /// session sends only the difference since its last message, at most once a minute.
    fn send_pex(&self) {
        let peers = self.shared.peers();
        let addrs: Arc<Vec<SocketAddr>> = Arc::new(
            peers
                .values()
                .filter(|p| !p.incoming)
                .map(|p| p.addr)
                .collect(),
        );
        for p in peers.values() {
            if p.stats.pex.load(Ordering::Relaxed) {
                let _ = p.tx.send(PeerCommand::Pex(addrs.clone()));
            }
        }
    }

    fn shutdown_peers(&mut self) {
        for p in self.shared.peers().values() {
            let _ = p.tx.send(PeerCommand::Shutdown);
        }
    }

    fn update_rates(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_rate_at).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let down = self.shared.downloaded.load(Ordering::Relaxed);
        let inst = (down - self.last_down) as f64 / dt;
        self.down_rate = self.down_rate * 0.7 + inst * 0.3;
        self.last_down = down;
        let up = self.shared.uploaded.load(Ordering::Relaxed);
        self.up_rate = self.up_rate * 0.7 + (up - self.last_up) as f64 / dt * 0.3;
        self.last_up = up;
        self.last_rate_at = now;
    }

    fn publish_snapshot(&self) {
        let peers: Vec<PeerSnapshot> = self
            .shared
            .peers()
            .values()
            .map(|p| {
                let now = Instant::now();
                let d = p.stats.detail();
                PeerSnapshot {
                    addr: p.addr,
                    peer_id: p.peer_id,
                    incoming: p.incoming,
                    am_choking: p.stats.am_choking.load(Ordering::Relaxed),
                    am_interested: p.stats.am_interested.load(Ordering::Relaxed),
                    peer_choking: p.stats.peer_choking.load(Ordering::Relaxed),
                    peer_interested: p.stats.peer_interested.load(Ordering::Relaxed),
                    snubbed: p.stats.snubbed.load(Ordering::Relaxed),
                    fast: p.stats.fast.load(Ordering::Relaxed),
                    wire: crate::engine::event::Wire::from_u8(p.stats.wire.load(Ordering::Relaxed)),
                    pieces: p.stats.pieces.load(Ordering::Relaxed),
                    downloaded: p.stats.downloaded.load(Ordering::Relaxed),
                    uploaded: p.stats.uploaded.load(Ordering::Relaxed),
                    download_rate: p.stats.rate(),
                    upload_rate: p.stats.up_rate(),
                    requests_in_flight: p.stats.requests.load(Ordering::Relaxed),
                    pieces_in_flight: d.pieces_in_flight.clone(),
                    reserved: d.reserved,
                    extension: d.extension.clone(),
                    recent: d
                        .recent
                        .iter()
                        .map(|(at, direction, kind, index, length)| WireLogEntry {
                            direction: *direction,
                            kind,
                            index: *index,
                            length: *length,
                            age: now.saturating_duration_since(*at),
                        })
                        .collect(),
                }
            })
            .collect();
        let (pieces_verified, bytes_left, in_endgame, complete, pieces, availability) = {
            let picker = self.shared.picker();
            let n = picker.piece_count();
            let pieces: Arc<[PieceView]> = (0..n)
                .map(|i| match picker.state(i) {
                    Some(PieceState::Verified) => PieceView::Verified,
                    Some(PieceState::InFlight | PieceState::Verifying) => PieceView::Requested,
                    Some(PieceState::Unwanted) => PieceView::Unwanted,
                    _ if self.failed.contains(&i) => PieceView::Failed,
                    _ => PieceView::Missing,
                })
                .collect();
            let availability: Arc<[u16]> = (0..n)
                .map(|i| picker.availability(i).min(u16::MAX as u32) as u16)
                .collect();
            (
                picker.verified().count_ones(),
                picker.bytes_left(),
                picker.in_endgame(),
                picker.is_complete(),
                pieces,
                availability,
            )
        };
        let snap = TorrentSnapshot {
            id: self.id,
            info_hash: self.shared.info_hash,
            name: self.shared.info.name.clone(),
            state: if self.paused {
                TorrentState::Paused
            } else if complete {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
            total_length: self.shared.info.total_length,
            piece_count: self.shared.info.piece_count(),
            pieces_verified,
            bytes_left,
            downloaded: self.shared.downloaded.load(Ordering::Relaxed),
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            download_rate: self.down_rate,
            upload_rate: self.up_rate,
            in_endgame,
            hash_failures: self.hash_failures,
            known_peers: self.book.len(),
            peers,
            elapsed: self.started.elapsed(),
            metadata: None,
            pieces,
            availability,
        };
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, snap);
    }
}

/// Delete the torrent's files (after its peers and disk thread stopped), then the folders that
/// became empty, up to the storage root. Best effort: what cannot be removed is logged.
fn delete_files(storage: &Storage) {
    let root = storage.root().to_path_buf();
    let mut dirs = Vec::new();
    for path in storage.paths() {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("remove {}: {e}", path.display());
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if !d.starts_with(&root) {
                break;
            }
            dirs.push(d.to_path_buf());
            if d == root {
                break;
            }
            dir = d.parent();
        }
    }
    // deepest first; remove_dir only removes empty folders
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        let _ = std::fs::remove_dir(&d);
    }
}

/// Register a connected peer, run it, and report its end to the torrent.
async fn run_peer(
    key: PeerKey,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stream: PeerStream,
    init: PeerInit,
    incoming: bool,
    tx: mpsc::UnboundedSender<TorrentMsg>,
) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let stats = Arc::new(PeerStats::default());
    stats.peer_choking.store(true, Ordering::Relaxed);
    stats.am_choking.store(true, Ordering::Relaxed);
    let peer_id = init.handshake.peer_id;
    {
        let mut peers = shared.peers();
        if peers.values().any(|p| p.peer_id == peer_id) {
            // connected both ways at once: keep the first connection
            drop(peers);
            let reason = PeerCloseReason::Useless("already connected to this peer".into());
            let _ = tx.send(TorrentMsg::PeerClosed {
                key: None,
                addr,
                reason,
            });
            return;
        }
        peers.insert(
            key,
            PeerSlot {
                tx: cmd_tx,
                stats: stats.clone(),
                addr,
                peer_id,
                incoming,
                connected_at: Instant::now(),
            },
        );
    }
    let _ = tx.send(TorrentMsg::PeerUp {
        key,
        addr,
        peer_id,
        incoming,
    });
    let reason = peer::run(key, shared, stats, stream, init, cmd_rx).await;
    let _ = tx.send(TorrentMsg::PeerClosed {
        key: Some(key),
        addr,
        reason,
    });
}
