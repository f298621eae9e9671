//! What the engine passes to start a torrent: its [`Source`] and its [`TorrentParams`].

use crate::engine::config::Faults;
use crate::engine::conn::Encryption;
use crate::engine::event::{EventSink, TorrentId, TorrentSnapshot};
use crate::engine::ratelimit::RateLimiter;
use crate::engine::settings::TorrentSettings;
use crate::engine::storage::OutputTarget;
use crate::proto::id::PeerId;
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// What a torrent starts from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A .torrent file: everything is known.
    Torrent(Arc<Metainfo>),
    /// A magnet link: the info dictionary comes from peers first (BEP 9).
    Magnet(Magnet),
}

/// What the engine passes to start a torrent.
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
    /// Our global IPv6 address when we take IPv6 peers (BEP 7 `ipv6=` in announces).
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub peer_id: PeerId,
    pub max_peers: usize,
    pub upload_slots: usize,
    /// The engine's rate buckets (unlimited unless the user set a limit).
    pub global_up: Arc<RateLimiter>,
    pub global_down: Arc<RateLimiter>,
    /// The engine's connection budget (`max_connections`).
    pub connections: Arc<crate::engine::budget::Connections>,
    /// The user's controls over this torrent; the latest value applies (see
    /// [`crate::engine::settings`]).
    pub settings: watch::Receiver<TorrentSettings>,
    /// A magnet stops (paused) once its metadata is known, so the user can pick files first.
    pub pause_after_metadata: bool,
    /// Shared by every torrent: announces per second across the engine.
    pub announce_gate: Arc<RateLimiter>,
    pub faults: Faults,
    pub encryption: Encryption,
    /// TCP and uTP, as the engine runs them.
    pub transports: crate::engine::conn::Transports,
    pub seed_only: bool,
    /// Start paused: no connections until resumed.
    pub start_paused: bool,
    /// Fast-resume data: read at start, written while running (see [`crate::engine::resume`]).
    pub resume_file: Option<std::path::PathBuf>,
    /// The engine's DHT node, for BEP 5 `Port` messages (`None`: no DHT, or a private torrent).
    pub dht: Option<crate::engine::dht::DhtHandle>,
    /// Cleared when the metadata says private: the engine's DHT feeder stops.
    pub dht_allowed: Arc<AtomicBool>,
    /// Evidence for the bottleneck verdict, shared with the DHT feeder and the disk threads.
    pub probe: Arc<crate::engine::probe::Probe>,
    pub events: EventSink,
    pub snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
}
