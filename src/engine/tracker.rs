//! STUB: replaced by the tracker helper.
use crate::proto::tracker::{AnnounceRequest, AnnounceResponse};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("{0}")]
    Other(String),
}

/// Announce once to the BEP 12 tiers, in order, returning the first success.
pub async fn announce_tiers(
    _tiers: &[Vec<String>],
    _req: &AnnounceRequest,
    _timeout: Duration,
) -> Result<(String, AnnounceResponse), AnnounceError> {
    todo!()
}

// ---- temporary stand-ins until the tracker helper lands ----
use crate::proto::id::{InfoHash, PeerId};
use std::net::SocketAddr;
pub struct AnnounceStats { pub uploaded: u64, pub downloaded: u64, pub left: u64 }
pub struct AnnouncerConfig { pub tiers: Vec<Vec<String>>, pub info_hash: InfoHash, pub peer_id: PeerId, pub port: u16, pub numwant: u32, pub timeout: Duration, pub min_interval: Duration }
pub enum TrackerUpdate { Peers { url: String, peers: Vec<SocketAddr>, seeders: Option<u32>, leechers: Option<u32>, interval: Duration }, Error { url: String, message: String }, Warning { url: String, message: String } }
pub struct AnnouncerHandle;
pub fn spawn_announcer(_c: AnnouncerConfig, _s: tokio::sync::watch::Receiver<AnnounceStats>, _u: tokio::sync::mpsc::Sender<TrackerUpdate>) -> AnnouncerHandle { AnnouncerHandle }
impl AnnouncerHandle { pub fn request_peers(&self) {} pub fn completed(&self) {} pub async fn stop(self) {} }
