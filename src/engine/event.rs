//! What the engine tells its owner: discrete [`EngineEvent`]s, and periodic snapshots that carry
//! counters, piece states and peer tables (cheap to send, cheap to drop when the UI is slow).

use crate::engine::queue::QueueLimits;
use crate::engine::settings::{FilePriority, GlobalLimits, TorrentSettings};
use crate::proto::extension::ExtensionHandshake;
use crate::proto::id::{InfoHash, NodeId, PeerId};
use crate::proto::metainfo::Metainfo;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Handle-side id of a torrent inside one engine.
pub type TorrentId = u64;

/// The lifecycle of a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TorrentState {
    /// Magnet link: waiting for the info dictionary from peers (BEP 9).
    FetchingMetadata,
    /// Hashing data already on disk (resume).
    Checking,
    /// Fetching pieces.
    Downloading,
    /// Every wanted piece is verified; serving others.
    Seeding,
    /// Stopped by the user.
    Paused,
    /// Waiting for a slot in the queue (see [`crate::engine::queue`]).
    Queued,
    /// Stopped by an error (disk full, read-only folder...).
    Failed,
}

/// Why a peer connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerCloseReason {
    ConnectFailed(String),
    Io(String),
    /// The peer broke the protocol (bad message, wrong info hash, bad bitfield...).
    Protocol(String),
    /// We are connected to ourselves.
    SelfConnection,
    /// Too much bad data: never again.
    Banned(String),
    /// Nothing to exchange (both seeds) or too slow.
    Useless(String),
    Shutdown,
}

impl std::fmt::Display for PeerCloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerCloseReason::ConnectFailed(e) => write!(f, "connect failed: {e}"),
            PeerCloseReason::Io(e) => write!(f, "i/o: {e}"),
            PeerCloseReason::Protocol(e) => write!(f, "protocol: {e}"),
            PeerCloseReason::SelfConnection => f.write_str("connected to ourselves"),
            PeerCloseReason::Banned(e) => write!(f, "banned: {e}"),
            PeerCloseReason::Useless(e) => write!(f, "dropped: {e}"),
            PeerCloseReason::Shutdown => f.write_str("shutdown"),
        }
    }
}

/// Discrete happenings, in order. New kinds will be added: match with a `_` arm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EngineEvent {
    TorrentAdded {
        id: TorrentId,
        info_hash: InfoHash,
        name: String,
    },
    /// The info dictionary is known (at once for a .torrent, after BEP 9 for a magnet).
    MetadataReady {
        id: TorrentId,
        metainfo: Arc<Metainfo>,
    },
    /// Resume check progress: `checked` of `total` pieces looked at, `valid` of them good.
    Checking {
        id: TorrentId,
        checked: u32,
        total: u32,
        valid: u32,
    },
    StateChanged {
        id: TorrentId,
        state: TorrentState,
    },
    PeerConnected {
        id: TorrentId,
        addr: SocketAddr,
        peer_id: PeerId,
        incoming: bool,
    },
    PeerDisconnected {
        id: TorrentId,
        addr: SocketAddr,
        reason: PeerCloseReason,
    },
    PieceVerified {
        id: TorrentId,
        index: u32,
    },
    HashFailed {
        id: TorrentId,
        index: u32,
        peers: Vec<SocketAddr>,
    },
    TrackerReply {
        id: TorrentId,
        url: String,
        peers: usize,
        seeders: Option<u32>,
        leechers: Option<u32>,
    },
    TrackerError {
        id: TorrentId,
        url: String,
        message: String,
    },
    /// Every wanted piece is verified on disk.
    Completed {
        id: TorrentId,
    },
    /// The torrent stopped on an error it cannot recover from.
    Failed {
        id: TorrentId,
        error: String,
    },
    /// The torrent left the engine (removed by its owner, or by its seeding limit).
    TorrentRemoved {
        id: TorrentId,
    },
    /// A seed reached its seeding limit (ratio or time) and was paused, or removed (then
    /// `TorrentRemoved` follows).
    SeedLimitReached {
        id: TorrentId,
        removed: bool,
    },
    Snapshot(Box<EngineSnapshot>),
}

/// The periodic picture of everything, for dashboards and progress lines.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EngineSnapshot {
    pub listen_port: u16,
    /// Our peer id (what the handshake pane shows as ours; an attached dashboard learns it here).
    pub peer_id: PeerId,
    pub torrents: Vec<TorrentSnapshot>,
    /// The DHT node, when it runs (`None` with `--no-dht`).
    pub dht: Option<DhtSnapshot>,
    /// The engine-wide limits in force.
    #[serde(default)]
    pub limits: GlobalLimits,
    /// The queue order (first is first served) and its limits.
    #[serde(default)]
    pub queue: Vec<TorrentId>,
    #[serde(default)]
    pub queue_limits: QueueLimits,
}

/// The DHT node (BEP 5) as the dashboard shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhtSnapshot {
    pub node_id: NodeId,
    /// UDP port the node listens on.
    pub port: u16,
    /// Routing-table buckets, from the one farthest from our id to the one holding it.
    pub buckets: Vec<DhtBucketSnapshot>,
    /// Lookups running now, and the last few that finished.
    pub lookups: Vec<DhtLookupSnapshot>,
    /// Info hashes and peers other nodes announced to us (server side).
    pub stored_torrents: usize,
    pub stored_peers: usize,
    /// KRPC counters since start.
    pub queries_received: u64,
    pub queries_sent: u64,
    pub responses_received: u64,
    pub timeouts: u64,
}

/// One k-bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhtBucketSnapshot {
    /// Number of leading bits the ids in this bucket share with our id.
    pub prefix_len: u8,
    pub nodes: Vec<DhtNodeSnapshot>,
    /// Nodes waiting in the replacement cache.
    pub replacements: usize,
    /// Time since a node in the bucket last answered or the bucket was refreshed.
    pub since_changed: Duration,
}

/// The state of a routing-table node (BEP 5: good if it answered within 15 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DhtNodeState {
    Good,
    Questionable,
    Bad,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhtNodeSnapshot {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub state: DhtNodeState,
    /// Round-trip time of its last answer.
    pub rtt: Option<Duration>,
    /// Time since it last answered us (or queried us).
    pub last_seen: Option<Duration>,
}

/// What a lookup is looking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DhtLookupKind {
    FindNode,
    GetPeers,
    /// `get_peers` followed by `announce_peer` to the closest nodes.
    Announce,
}

/// An iterative lookup in progress (or just finished).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DhtLookupSnapshot {
    pub kind: DhtLookupKind,
    pub target: NodeId,
    pub queried: u32,
    pub in_flight: u32,
    pub timed_out: u32,
    pub peers_found: u32,
    pub elapsed: Duration,
    pub done: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TorrentSnapshot {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    pub name: String,
    pub state: TorrentState,
    pub total_length: u64,
    pub piece_count: u32,
    pub pieces_verified: u32,
    pub bytes_left: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes per second, averaged over the last few seconds.
    pub download_rate: f64,
    pub upload_rate: f64,
    pub in_endgame: bool,
    pub hash_failures: u32,
    pub known_peers: usize,
    pub peers: Vec<PeerSnapshot>,
    pub elapsed: Duration,
    /// While fetching metadata for a magnet: its progress.
    pub metadata: Option<MetadataSnapshot>,
    /// Per piece, what the dashboard colours it by (empty until the metadata is known).
    #[serde(with = "piece_digits")]
    pub pieces: Arc<[PieceView]>,
    /// Per piece, how many connected peers have it (saturating), for the rarity overlay.
    pub availability: Arc<[u16]>,
    /// The user's controls: file selection, order, limits.
    #[serde(default)]
    pub settings: TorrentSettings,
    /// Each file's priority as applied (empty until the metadata is known).
    #[serde(default)]
    pub files: Arc<[FilePriority]>,
    /// What the engine measured for the bottleneck verdict (trackers, DHT, disk, hashing).
    #[serde(default)]
    pub diagnostics: Diagnostics,
}

/// Evidence for the bottleneck verdict ([`crate::engine::bottleneck`]) that only the engine
/// can measure: how peer sources fared and how busy the disk path was recently.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Each tracker's last answer.
    pub trackers: Vec<TrackerStatus>,
    /// The DHT's `get_peers` lookups for this torrent (`None`: the DHT is off for it).
    pub dht: Option<DhtStatus>,
    /// Share of the recent window (the last ten seconds) in which the disk write queue was
    /// full, 0..=1.
    pub disk_queue_full: f32,
    /// Share of the recent window in which the hasher was busy, 0..=1.
    pub hash_busy: f32,
}

/// A tracker's last answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackerStatus {
    pub url: String,
    /// Peers in its last reply, or the error of its last announce (`None` before the first).
    pub last: Option<Result<usize, String>>,
}

/// The DHT's work for one torrent so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhtStatus {
    /// `get_peers` lookups finished.
    pub lookups: u32,
    /// Peers they returned (with repeats).
    pub peers: u32,
}

impl TorrentSnapshot {
    /// A torrent known only by its info hash and name: a magnet before its metadata arrives
    /// (all counters zero, no pieces yet).
    pub fn fetching_metadata(id: TorrentId, info_hash: InfoHash, name: String) -> TorrentSnapshot {
        TorrentSnapshot {
            id,
            info_hash,
            name,
            state: TorrentState::FetchingMetadata,
            total_length: 0,
            piece_count: 0,
            pieces_verified: 0,
            bytes_left: 0,
            downloaded: 0,
            uploaded: 0,
            download_rate: 0.0,
            upload_rate: 0.0,
            in_endgame: false,
            hash_failures: 0,
            known_peers: 0,
            peers: Vec::new(),
            elapsed: Duration::ZERO,
            metadata: None,
            pieces: Arc::from(Vec::new()),
            availability: Arc::from(Vec::new()),
            settings: TorrentSettings::default(),
            files: Arc::from(Vec::new()),
            diagnostics: Diagnostics::default(),
        }
    }
}

/// A piece as the dashboard shows it (a coarser view of the picker's piece state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[repr(u8)]
pub enum PieceView {
    /// Wanted, nothing requested.
    #[default]
    Missing,
    /// Blocks requested or received, not yet verified.
    Requested,
    /// Hash checked and stored.
    Verified,
    /// The last copy failed its hash check; wanted again.
    Failed,
    /// Not selected for download.
    Unwanted,
}

/// Pieces as one digit each (`0` missing .. `4` unwanted, the [`PieceView`] order): a
/// torrent of 16 Ki pieces is 16 KiB in a picture, not ten times that.
mod piece_digits {
    use super::PieceView;
    use serde::{Deserialize, Deserializer, Serializer, de};
    use std::sync::Arc;

    const ORDER: [PieceView; 5] = [
        PieceView::Missing,
        PieceView::Requested,
        PieceView::Verified,
        PieceView::Failed,
        PieceView::Unwanted,
    ];

    pub fn serialize<S: Serializer>(pieces: &Arc<[PieceView]>, s: S) -> Result<S::Ok, S::Error> {
        let digits: String = pieces.iter().map(|p| (b'0' + *p as u8) as char).collect();
        s.serialize_str(&digits)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[PieceView]>, D::Error> {
        let digits = String::deserialize(d)?;
        digits
            .bytes()
            .map(|b| {
                ORDER
                    .get(b.wrapping_sub(b'0') as usize)
                    .copied()
                    .ok_or_else(|| de::Error::custom("a piece state is a digit 0..4"))
            })
            .collect()
    }
}

/// Direction of a message on a peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// We sent it.
    Out,
    /// The peer sent it.
    In,
}

/// A [`Message::name`](crate::proto::message::Message::name). (An alias, so serde does not take
/// the `&'static str` for a string borrowed from its input.)
pub type MessageName = &'static str;

/// One message exchanged with a peer, for the handshake pane's "last messages".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLogEntry {
    pub direction: Direction,
    /// The BEP 3 / 6 / 10 name: `piece`, `request`, `have`, `extended`...
    #[serde(deserialize_with = "crate::proto::serial::deserialize_message_name")]
    pub kind: MessageName,
    /// Piece index, when the message names one.
    pub index: Option<u32>,
    /// Payload length in bytes (block length for `piece` / `request`).
    pub length: u32,
    /// Time since the message was sent or received, at snapshot time.
    pub age: Duration,
}

/// Progress of a BEP 9 metadata fetch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetadataSnapshot {
    /// Size being assembled (from the first peer that advertised one), if any.
    pub size: Option<u32>,
    /// Per metadata piece: received or not.
    pub pieces_received: Vec<bool>,
    /// Per metadata piece: the peer it was asked of or received from.
    pub piece_peers: Vec<Option<SocketAddr>>,
    pub peers: Vec<MetadataPeerSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetadataPeerSnapshot {
    pub addr: SocketAddr,
    /// The peer's extension handshake lists `ut_metadata`.
    pub advertises: bool,
    pub claimed_size: Option<u32>,
    pub requested: u32,
    pub received: u32,
    pub rejected: u32,
}

/// How a connection's bytes travel, for the dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum Wire {
    /// A plain BitTorrent handshake.
    #[default]
    Plaintext = 0,
    /// An MSE handshake that selected plaintext for the payload (the handshake hides the
    /// protocol, the data is not encrypted).
    Obfuscated = 1,
    /// MSE with RC4 on every byte.
    Rc4 = 2,
}

impl Wire {
    /// How the dashboard names it.
    pub fn label(self) -> &'static str {
        match self {
            Wire::Plaintext => "plaintext",
            Wire::Obfuscated => "MSE handshake, plaintext data",
            Wire::Rc4 => "MSE, RC4-encrypted",
        }
    }

    /// A word for a narrow column: `plain`, `obfs` or `RC4`.
    pub fn short(self) -> &'static str {
        match self {
            Wire::Plaintext => "plain",
            Wire::Obfuscated => "obfs",
            Wire::Rc4 => "RC4",
        }
    }

    pub fn from_u8(v: u8) -> Wire {
        match v {
            1 => Wire::Obfuscated,
            2 => Wire::Rc4,
            _ => Wire::Plaintext,
        }
    }
}

/// What carries a peer connection: TCP, or uTP (BEP 29) over UDP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    #[default]
    Tcp,
    Utp,
}

impl Transport {
    /// How the dashboard names it.
    pub fn label(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Utp => "uTP",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerSnapshot {
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub incoming: bool,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    pub snubbed: bool,
    pub fast: bool,
    /// How the connection's bytes travel: plaintext, MSE-obfuscated or RC4.
    pub wire: Wire,
    /// What carries the connection (older pictures, without it, were all TCP).
    #[serde(default)]
    pub transport: Transport,
    /// Time since the peer's last block (a `piece` message) arrived, at snapshot time;
    /// `None` when it sent none yet.
    #[serde(default)]
    pub last_block: Option<Duration>,
    pub pieces: u32,
    pub downloaded: u64,
    pub uploaded: u64,
    pub download_rate: f64,
    pub upload_rate: f64,
    pub requests_in_flight: u32,
    /// Pieces with blocks requested from this peer (sorted, refreshed a few times a second).
    pub pieces_in_flight: Vec<u32>,
    /// The reserved bytes of the peer's handshake (BEP 3; bits of BEP 5, 6, 10).
    pub reserved: [u8; 8],
    /// The peer's BEP 10 extension handshake, once received.
    pub extension: Option<Arc<ExtensionHandshake>>,
    /// The last few messages exchanged, newest last.
    pub recent: Vec<WireLogEntry>,
}

impl PeerSnapshot {
    /// A peer just connected: nothing exchanged yet (for tests and placeholders).
    pub fn new(addr: SocketAddr, peer_id: PeerId) -> PeerSnapshot {
        PeerSnapshot {
            addr,
            peer_id,
            incoming: false,
            am_choking: true,
            am_interested: false,
            peer_choking: true,
            peer_interested: false,
            snubbed: false,
            fast: false,
            wire: Wire::Plaintext,
            transport: Transport::Tcp,
            last_block: None,
            pieces: 0,
            downloaded: 0,
            uploaded: 0,
            download_rate: 0.0,
            upload_rate: 0.0,
            requests_in_flight: 0,
            pieces_in_flight: Vec::new(),
            reserved: [0; 8],
            extension: None,
            recent: Vec::new(),
        }
    }
}

impl EngineEvent {
    /// Events an owner cannot do without: a torrent's life (added, metadata, state, done,
    /// failed). The sink never drops these; it may drop the others (counted) when the owner
    /// has fallen far behind, and drops a snapshot whenever the channel is full (the next one
    /// replaces it).
    fn is_lifecycle(&self) -> bool {
        matches!(
            self,
            EngineEvent::TorrentAdded { .. }
                | EngineEvent::TorrentRemoved { .. }
                | EngineEvent::MetadataReady { .. }
                | EngineEvent::StateChanged { .. }
                | EngineEvent::Completed { .. }
                | EngineEvent::Failed { .. }
        )
    }
}

/// Events that wait for room in the owner's channel, in order, at most this many before
/// the sink drops the ones that are not lifecycle events.
const BACKLOG_MAX: usize = 16 * 1024;

/// Where the engine's parts send [`EngineEvent`]s: never blocks the sender, never reorders.
///
/// While the owner's bounded channel has room an event goes straight in. When it is full,
/// events queue in a backlog (in order) that one forwarder task drains as room appears; while
/// that backlog is non-empty every new event joins its end, so the owner sees exactly the
/// order of `emit` calls. Snapshots are dropped instead of queued, and past `BACKLOG_MAX` (16 Ki)
/// queued events only lifecycle events are kept; [`EventSink::dropped`] counts the rest.
/// Callable from any thread inside the runtime (the resume check emits from a blocking one).
#[derive(Debug, Clone)]
pub struct EventSink {
    inner: Arc<SinkInner>,
}

#[derive(Debug)]
struct SinkInner {
    tx: tokio::sync::mpsc::Sender<EngineEvent>,
    runtime: tokio::runtime::Handle,
    /// The backlog, and whether a forwarder task is draining it.
    state: std::sync::Mutex<(std::collections::VecDeque<EngineEvent>, bool)>,
    dropped: std::sync::atomic::AtomicU64,
}

impl EventSink {
    /// A sink into `tx`. Must be called inside a tokio runtime (it keeps its handle).
    pub fn new(tx: tokio::sync::mpsc::Sender<EngineEvent>) -> EventSink {
        let inner = SinkInner {
            tx,
            runtime: tokio::runtime::Handle::current(),
            state: Default::default(),
            dropped: Default::default(),
        };
        EventSink {
            inner: Arc::new(inner),
        }
    }

    /// Hand `ev` to the owner (see the type's doc for what happens when it lags).
    pub fn emit(&self, ev: EngineEvent) {
        use tokio::sync::mpsc::error::TrySendError;
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let (backlog, forwarding) = &mut *state;
        let ev = if backlog.is_empty() && !*forwarding {
            match inner.tx.try_send(ev) {
                Ok(()) | Err(TrySendError::Closed(_)) => return,
                Err(TrySendError::Full(ev)) => ev,
            }
        } else {
            ev
        };
        let keep = !matches!(ev, EngineEvent::Snapshot(_))
            && (backlog.len() < BACKLOG_MAX || ev.is_lifecycle());
        if !keep {
            inner
                .dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        backlog.push_back(ev);
        if !*forwarding {
            *forwarding = true;
            let inner = self.inner.clone();
            self.inner
                .runtime
                .spawn(async move { inner.forward().await });
        }
    }

    /// The engine's last word before it stops: wait (up to `within`) for the backlog to drain,
    /// then send `ev` after it, waiting for room rather than dropping it.
    pub async fn send_last(&self, ev: EngineEvent, within: std::time::Duration) {
        let give_up = tokio::time::Instant::now() + within;
        let busy = || self.inner.state.lock().map(|s| s.1).unwrap_or(false);
        while busy() && tokio::time::Instant::now() < give_up {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let _ = tokio::time::timeout_at(give_up, self.inner.tx.send(ev)).await;
    }

    /// Events dropped so far because the owner lagged.
    pub fn dropped(&self) -> u64 {
        self.inner
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl SinkInner {
    /// Drain the backlog in order; ends (clearing the flag under the same lock) when it is
    /// empty, so an `emit` either sees the flag or finds the channel to itself.
    async fn forward(&self) {
        loop {
            let next = {
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                let next = state.0.pop_front();
                if next.is_none() {
                    state.1 = false;
                }
                next
            };
            let Some(ev) = next else { return };
            if self.tx.send(ev).await.is_err() {
                // the owner is gone: nothing will ever read these
                let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                state.0.clear();
                state.1 = false;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::id::{InfoHash, NodeId, PeerId};

    #[tokio::test]
    async fn a_lagging_owner_gets_every_lifecycle_event_in_order() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let sink = EventSink::new(tx);
        // far more than the channel holds, with snapshots mixed in, while nobody reads
        let n = 3 * BACKLOG_MAX as u32;
        for index in 0..n {
            sink.emit(EngineEvent::PieceVerified { id: 1, index });
            if index % 1000 == 0 {
                sink.emit(EngineEvent::Snapshot(Box::default()));
                sink.emit(EngineEvent::StateChanged {
                    id: 1,
                    state: TorrentState::Downloading,
                });
            }
        }
        sink.emit(EngineEvent::Completed { id: 1 });
        let mut pieces = Vec::new();
        let mut states = 0;
        loop {
            match rx.recv().await {
                Some(EngineEvent::PieceVerified { index, .. }) => pieces.push(index),
                Some(EngineEvent::StateChanged { .. }) => states += 1,
                Some(EngineEvent::Snapshot(_)) => {}
                Some(EngineEvent::Completed { .. }) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            pieces.windows(2).all(|w| w[0] < w[1]),
            "events were reordered"
        );
        assert_eq!(states, n.div_ceil(1000), "a lifecycle event was dropped");
        assert!(pieces.len() > BACKLOG_MAX / 2, "the backlog was not used");
        // the counter holds every piece that did not arrive, and some snapshots
        let snapshots = u64::from(n.div_ceil(1000));
        let lost = u64::from(n) - pieces.len() as u64;
        assert!(
            (lost..=lost + snapshots).contains(&sink.dropped()),
            "dropped {} with {lost} pieces lost",
            sink.dropped()
        );
        // once the owner has caught up, events go straight through again
        sink.emit(EngineEvent::PieceVerified { id: 1, index: n });
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
        assert!(matches!(got, Ok(Some(EngineEvent::PieceVerified { index, .. })) if index == n));
    }

    /// A picture with every part filled in, as the `watch` stream and recordings carry it.
    fn full_picture() -> EngineSnapshot {
        let addr: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let mut ext = ExtensionHandshake::ours("libtorrent 2.0.8");
        ext.metadata_size = Some(31_337);
        let peer = PeerSnapshot {
            addr,
            peer_id: PeerId([7; 20]),
            incoming: true,
            am_choking: false,
            am_interested: true,
            peer_choking: false,
            peer_interested: false,
            snubbed: false,
            fast: true,
            wire: Wire::Rc4,
            transport: Transport::Tcp,
            last_block: Some(Duration::from_millis(2500)),
            pieces: 3,
            downloaded: 1 << 20,
            uploaded: 5,
            download_rate: 1234.5,
            upload_rate: 0.0,
            requests_in_flight: 4,
            pieces_in_flight: vec![1, 2],
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 5],
            extension: Some(Arc::new(ext)),
            recent: vec![WireLogEntry {
                direction: Direction::In,
                kind: "piece",
                index: Some(2),
                length: 16384,
                age: Duration::from_millis(30),
            }],
        };
        let mut t = TorrentSnapshot::fetching_metadata(3, InfoHash([9; 20]), "x".into());
        t.state = TorrentState::Downloading;
        t.peers = vec![peer];
        t.pieces = Arc::from(vec![
            PieceView::Missing,
            PieceView::Requested,
            PieceView::Verified,
            PieceView::Failed,
            PieceView::Unwanted,
        ]);
        t.availability = Arc::from(vec![0, 1, 2, 3, u16::MAX]);
        t.files = Arc::from(vec![FilePriority::Skip, FilePriority::High]);
        t.settings.wants.sequential = true;
        t.settings.wants.files = crate::engine::settings::FileSelection::Globs {
            only: vec!["*.mkv".into()],
            exclude: vec![],
        };
        t.settings.limits.download = Some(300_000);
        t.metadata = Some(MetadataSnapshot {
            size: Some(100),
            pieces_received: vec![true],
            piece_peers: vec![Some(addr)],
            peers: vec![MetadataPeerSnapshot {
                addr,
                advertises: true,
                claimed_size: Some(100),
                requested: 1,
                received: 1,
                rejected: 0,
            }],
        });
        EngineSnapshot {
            queue: vec![3],
            queue_limits: QueueLimits {
                max_active_downloads: Some(2),
                seed_ratio: Some(1.5),
                ..QueueLimits::default()
            },
            limits: GlobalLimits {
                download: Some(1 << 20),
                upload: None,
                max_connections: Some(200),
            },
            listen_port: 6881,
            peer_id: PeerId([8; 20]),
            torrents: vec![t],
            dht: Some(DhtSnapshot {
                node_id: NodeId([1; 20]),
                port: 6881,
                buckets: vec![DhtBucketSnapshot {
                    prefix_len: 0,
                    nodes: vec![DhtNodeSnapshot {
                        id: NodeId([2; 20]),
                        addr,
                        state: DhtNodeState::Questionable,
                        rtt: Some(Duration::from_millis(3)),
                        last_seen: None,
                    }],
                    replacements: 1,
                    since_changed: Duration::from_secs(5),
                }],
                lookups: vec![DhtLookupSnapshot {
                    kind: DhtLookupKind::Announce,
                    target: NodeId([3; 20]),
                    queried: 8,
                    in_flight: 1,
                    timed_out: 2,
                    peers_found: 4,
                    elapsed: Duration::from_millis(900),
                    done: false,
                }],
                stored_torrents: 1,
                stored_peers: 2,
                queries_received: 3,
                queries_sent: 4,
                responses_received: 5,
                timeouts: 6,
            }),
        }
    }

    #[test]
    fn events_and_pictures_survive_json() {
        let addr: SocketAddr = "[::1]:51413".parse().unwrap();
        let events = vec![
            EngineEvent::TorrentAdded {
                id: 1,
                info_hash: InfoHash([0xab; 20]),
                name: "a \"name\"".into(),
            },
            EngineEvent::PeerDisconnected {
                id: 1,
                addr,
                reason: PeerCloseReason::Banned("3 hash failures".into()),
            },
            EngineEvent::HashFailed {
                id: 1,
                index: 4,
                peers: vec![addr],
            },
            EngineEvent::TorrentRemoved { id: 1 },
            EngineEvent::Snapshot(Box::new(full_picture())),
        ];
        for ev in events {
            let json = serde_json::to_string(&ev).unwrap();
            let back: EngineEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(format!("{back:?}"), format!("{ev:?}"), "{json}");
        }
    }

    #[test]
    fn piece_states_are_one_digit_each_and_checked() {
        let json = serde_json::to_string(&full_picture()).unwrap();
        assert!(json.contains(r#""pieces":"01234""#), "{json}");
        let bad = json.replace(r#""pieces":"01234""#, r#""pieces":"0125""#);
        assert!(serde_json::from_str::<EngineSnapshot>(&bad).is_err());
    }
}
