//! How the engine is set up: [`EngineConfig`] and its defaults, and the deliberate
//! misbehaviour ([`Faults`]) the demo swarm and the tests switch on. A leaf: the engine's
//! parts read their settings from here.

use crate::engine::conn::Encryption;
use crate::engine::dht::DhtConfig;
use crate::proto::id::PeerId;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default cap on the info dictionary size a peer may claim for a magnet (large torrents have
/// 10+ MiB of metadata).
pub const DEFAULT_MAX_METADATA_SIZE: u32 = 32 * 1024 * 1024;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where to accept peers. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// When the port is taken, fall back to a free one instead of failing.
    pub listen_fallback: bool,
    pub peer_id: PeerId,
    pub max_peers_per_torrent: usize,
    pub snapshot_interval: Duration,
    /// Regular upload slots per torrent (peers unchoked by rate); one optimistic slot is extra.
    pub upload_slots: usize,
    /// Cap on upload bytes per second across all torrents; `None` = unlimited.
    pub upload_limit: Option<u64>,
    /// Cap on download bytes per second across all torrents; `None` = unlimited.
    pub download_limit: Option<u64>,
    /// Peer connections across all torrents; `None` = only the per-torrent cap.
    pub max_connections: Option<usize>,
    /// Active downloads and seeds at once, and the default seeding limits.
    pub queue: crate::engine::queue::QueueLimits,
    /// Deliberate misbehaviour for the demo swarm and tests; off by default.
    pub faults: Faults,
    /// Run a DHT node (BEP 5). `None` by default: a library user opts in, and chooses the
    /// bootstrap routers.
    pub dht: Option<DhtConfig>,
    /// Message Stream Encryption policy for outgoing and incoming connections.
    pub encryption: Encryption,
    /// Accept and dial peers over TCP (`--no-tcp` turns it off).
    pub tcp: bool,
    /// Run a uTP endpoint (BEP 29) on the listen port's UDP side, to accept and dial peers
    /// over uTP (`--no-utp` turns it off).
    pub utp: bool,
    /// Where each torrent keeps its fast-resume data (`<info hash>.resume`, see
    /// [`crate::engine::resume`]): loaded at start so unchanged files are not re-read, saved
    /// every few seconds while pieces verify and at shutdown. `None` (the default): no resume
    /// data, data already on disk is hashed in full.
    pub resume_dir: Option<std::path::PathBuf>,
}

/// Fault injection, so that the demo and the tests can show how peers cope with a bad seeder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Corrupt one byte of roughly one served piece in N.
    pub corrupt_piece_one_in: Option<u32>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 6881)),
            listen_fallback: true,
            peer_id: PeerId::generate(),
            max_peers_per_torrent: 50,
            snapshot_interval: Duration::from_millis(100),
            upload_slots: 4,
            upload_limit: None,
            download_limit: None,
            max_connections: None,
            queue: Default::default(),
            faults: Faults::default(),
            dht: None,
            encryption: Encryption::default(),
            tcp: true,
            utp: true,
            resume_dir: None,
        }
    }
}
