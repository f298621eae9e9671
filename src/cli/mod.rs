//! One function per subcommand, grouped by file. What goes to stdout is a contract that
//! scripts and tests rely on (the formats are given in the issues); progress and diagnostics go
//! to stderr.
//!
//! - [`inspect`]: `decode`, `info`, `magnet_parse` (no network);
//! - [`peers`]: `peers`, `handshake`, `magnet_handshake`, `nhandshake` (one-shot connections);
//! - [`run`]: the engine on one torrent, shared by the commands below;
//! - [`download`]: `download_piece`, `download`, `magnet_info`, `magnet_download_piece`,
//!   `magnet_download`;
//! - [`dht`]: `dht` (download, `--lookup`, `--table`);
//! - [`seed`]: `seed` and `create`;
//! - [`demo`]: `demo --no-tui`, the printing of the demo swarm's events.
//!
//! Here: the options every engine command shares and the parsers they have in common.

pub mod demo;
pub mod dht;
pub mod download;
pub mod inspect;
pub mod peers;
pub mod run;
pub mod seed;
pub mod session;

use crate::engine::EngineConfig;
use crate::engine::dht::DhtConfig;
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::{MAX_TORRENT_FILE, Metainfo};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

/// Options shared by the commands that run the engine.
#[derive(Debug, Clone, Default)]
pub struct SwarmOptions {
    /// Listen port (0 = any free port).
    pub port: Option<u16>,
    /// Peers to connect to directly.
    pub peers: Vec<SocketAddr>,
    /// Upload cap in bytes per second.
    pub upload_limit: Option<u64>,
    /// Download cap in bytes per second.
    pub download_limit: Option<u64>,
    /// Regular upload slots (0 = the engine's default).
    pub upload_slots: usize,
    /// Connections per torrent (`None`: the engine's default).
    pub max_peers: Option<usize>,
    /// Connections over every torrent (`None`: no engine-wide cap).
    pub max_connections: Option<usize>,
    /// Keep seeding after the download completes.
    pub seed: bool,
    /// Largest metadata accepted for a magnet (bytes).
    pub max_metadata_size: Option<u32>,
    /// Ask no tracker (the `dht` command: peers from the DHT only).
    pub no_trackers: bool,
    /// The DHT node to run (`None`: `--no-dht`).
    pub dht: Option<DhtConfig>,
    /// Message Stream Encryption policy.
    pub encryption: crate::engine::conn::Encryption,
    /// No TCP peers (`--no-tcp`), no uTP peers (`--no-utp`).
    pub no_tcp: bool,
    pub no_utp: bool,
    /// Files, order and limits of the torrent (`--only`, `--sequential`...).
    pub settings: crate::engine::settings::TorrentSettings,
    /// A magnet stops once its metadata is known (`--pause-after-metadata`).
    pub pause_after_metadata: bool,
    /// The queue and the seeding limits (config).
    pub queue: crate::engine::queue::QueueLimits,
}

/// Read and parse a `.torrent` file (at most [`MAX_TORRENT_FILE`] bytes, libtorrent's limit).
pub fn load_torrent(path: &Path) -> Result<Metainfo> {
    let size = std::fs::metadata(path)
        .wrap_err_with(|| format!("read torrent file {}", path.display()))?
        .len();
    if size > MAX_TORRENT_FILE {
        bail!(
            "torrent file {} is {size} bytes, more than the {MAX_TORRENT_FILE} a torrent may have",
            path.display()
        );
    }
    let bytes =
        std::fs::read(path).wrap_err_with(|| format!("read torrent file {}", path.display()))?;
    Metainfo::from_bytes(&bytes).wrap_err_with(|| format!("parse torrent file {}", path.display()))
}

/// The engine configuration the swarm options describe (also used by the dashboard).
pub fn engine_config(opts: &SwarmOptions) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    if let Some(p) = opts.port {
        cfg.listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, p));
        cfg.listen_fallback = false;
    }
    cfg.upload_limit = opts.upload_limit;
    cfg.download_limit = opts.download_limit;
    cfg.max_connections = opts.max_connections;
    cfg.queue = opts.queue;
    cfg.dht = opts.dht.clone();
    cfg.encryption = opts.encryption;
    cfg.tcp = !opts.no_tcp;
    cfg.utp = !opts.no_utp;
    if opts.upload_slots > 0 {
        cfg.upload_slots = opts.upload_slots;
    }
    if let Some(n) = opts.max_peers {
        cfg.max_peers_per_torrent = n;
    }
    cfg
}

/// Parse a rate such as `500K`, `2M`, `1.5MiB/s` or `80000` into bytes per second
/// (K, M, G are binary multiples, as every BitTorrent client shows them).
pub fn parse_rate(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let lower = t.to_ascii_lowercase();
    let t = lower.trim_end_matches("ib").trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1024.0),
        Some('m') => (&t[..t.len() - 1], 1024.0 * 1024.0),
        Some('g') => (&t[..t.len() - 1], 1024.0 * 1024.0 * 1024.0),
        _ => (t, 1.0),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a rate: {s:?} (try 500K or 2M)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("a rate must be positive: {s:?}"));
    }
    Ok((n * mult).round().max(1.0) as u64)
}

pub fn parse_magnet(uri: &str) -> Result<Magnet> {
    uri.parse::<Magnet>()
        .map_err(|e| eyre!("{e}"))
        .wrap_err("parse magnet link")
}

#[cfg(test)]
mod tests {
    use super::parse_rate;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("80000"), Ok(80000));
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("1.5MiB/s"), Ok(1572864));
        assert_eq!(parse_rate("2m"), Ok(2 * 1024 * 1024));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1K").is_err());
        assert!(parse_rate("").is_err());
    }
}
