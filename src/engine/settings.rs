//! The user's controls over one torrent and over the engine, which change while it runs:
//! what to download ([`Wants`]), rate and connection limits ([`TorrentLimits`],
//! [`GlobalLimits`]).
//!
//! The engine keeps each torrent's [`TorrentSettings`] in a `watch` channel: the torrent task
//! applies the latest value whenever it changes, and a magnet that is still fetching its
//! metadata simply finds the latest value when its files are known.

use serde::{Deserialize, Serialize};

pub use crate::engine::priority::{FilePriority, FileSelection, Wants};

/// Per-torrent limits (`None`: no limit of its own; the engine's still apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TorrentLimits {
    /// Bytes per second.
    #[serde(default)]
    pub download: Option<u64>,
    #[serde(default)]
    pub upload: Option<u64>,
    /// Connections at once (the engine's `max_peers_per_torrent` otherwise).
    #[serde(default)]
    pub max_peers: Option<usize>,
    /// Stop seeding at this upload ratio (the engine's `seed_ratio` otherwise).
    #[serde(default)]
    pub seed_ratio: Option<f64>,
    /// Stop seeding after this many seconds of seeding (the engine's `seed_time` otherwise).
    #[serde(default)]
    pub seed_time_secs: Option<u64>,
}

/// Everything the user controls about one torrent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TorrentSettings {
    #[serde(default)]
    pub wants: Wants,
    #[serde(default)]
    pub limits: TorrentLimits,
}

/// Engine-wide limits, changed live with `EngineHandle::set_global_limits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalLimits {
    /// Bytes per second over every torrent.
    #[serde(default)]
    pub download: Option<u64>,
    #[serde(default)]
    pub upload: Option<u64>,
    /// Peer connections over every torrent.
    #[serde(default)]
    pub max_connections: Option<usize>,
}
