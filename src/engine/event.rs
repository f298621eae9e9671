//! What the engine tells its owner: discrete [`EngineEvent`]s, and periodic snapshots that carry
//! counters, piece states and peer tables (cheap to send, cheap to drop when the UI is slow).

use crate::proto::extension::ExtensionHandshake;
use crate::proto::id::{InfoHash, NodeId, PeerId};
use crate::proto::metainfo::Metainfo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Handle-side id of a torrent inside one engine.
pub type TorrentId = u64;

/// The lifecycle of a torrent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Stopped by an error (disk full, read-only folder...).
    Failed,
}

/// Why a peer connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Discrete happenings, in order.
#[derive(Debug, Clone)]
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
    Snapshot(EngineSnapshot),
}

/// The periodic picture of everything, for dashboards and progress lines.
#[derive(Debug, Clone, Default)]
pub struct EngineSnapshot {
    pub listen_port: u16,
    pub torrents: Vec<TorrentSnapshot>,
    /// The DHT node, when it runs (`None` with `--no-dht`).
    pub dht: Option<DhtSnapshot>,
}

/// The DHT node (BEP 5) as the dashboard shows it.
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhtNodeState {
    Good,
    Questionable,
    Bad,
}

#[derive(Debug, Clone)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhtLookupKind {
    FindNode,
    GetPeers,
    /// `get_peers` followed by `announce_peer` to the closest nodes.
    Announce,
}

/// An iterative lookup in progress (or just finished).
#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
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
    pub pieces: Arc<[PieceView]>,
    /// Per piece, how many connected peers have it (saturating), for the rarity overlay.
    pub availability: Arc<[u16]>,
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
        }
    }
}

/// A piece as the dashboard shows it (a coarser view of the picker's piece state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

/// Direction of a message on a peer connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Out,
    /// The peer sent it.
    In,
}

/// One message exchanged with a peer, for the handshake pane's "last messages".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLogEntry {
    pub direction: Direction,
    /// The BEP 3 / 6 / 10 name: `piece`, `request`, `have`, `extended`...
    pub kind: &'static str,
    /// Piece index, when the message names one.
    pub index: Option<u32>,
    /// Payload length in bytes (block length for `piece` / `request`).
    pub length: u32,
    /// Time since the message was sent or received, at snapshot time.
    pub age: Duration,
}

/// Progress of a BEP 9 metadata fetch.
#[derive(Debug, Clone, Default)]
pub struct MetadataSnapshot {
    /// Size being assembled (from the first peer that advertised one), if any.
    pub size: Option<u32>,
    /// Per metadata piece: received or not.
    pub pieces_received: Vec<bool>,
    /// Per metadata piece: the peer it was asked of or received from.
    pub piece_peers: Vec<Option<SocketAddr>>,
    pub peers: Vec<MetadataPeerSnapshot>,
}

#[derive(Debug, Clone)]
pub struct MetadataPeerSnapshot {
    pub addr: SocketAddr,
    /// The peer's extension handshake lists `ut_metadata`.
    pub advertises: bool,
    pub claimed_size: Option<u32>,
    pub requested: u32,
    pub received: u32,
    pub rejected: u32,
}

#[derive(Debug, Clone)]
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
    pub wire: crate::engine::conn::Wire,
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
