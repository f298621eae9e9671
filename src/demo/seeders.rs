//! The demo's seeders: each one a real engine ([`engine::spawn`](crate::engine::spawn)) on
//! 127.0.0.1 with `seed_only`, set up by a [`SeederProfile`]: the default four are one
//! unlimited, one steady (4 MiB/s, RC4 only), one slow (256 KiB/s) and one that corrupts about
//! one piece in eight, so hash failures and the ban that follows them are visible.

use super::content::add_torrent;
use super::error::SwarmError;
use crate::engine::conn::Encryption;
use crate::engine::event::{EngineEvent, TorrentSnapshot};
use crate::engine::{EngineConfig, EngineHandle, Faults, spawn};
use crate::proto::metainfo::Metainfo;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the seeders may take to check their data and reach the tracker.
const SEEDER_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How one demo seeder behaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeederProfile {
    pub label: String,
    /// Upload cap in bytes per second; `None` = unlimited.
    pub upload_limit: Option<u64>,
    /// Corrupt about one served piece in N (see [`Faults`]).
    pub corrupt_piece_one_in: Option<u32>,
    /// Its Message Stream Encryption policy: a `Required` seeder hangs up on plaintext, so
    /// the leecher falls back to an RC4 connection (the peers pane shows `R`).
    pub encryption: Encryption,
}

impl SeederProfile {
    /// The first `n` demo seeders: fast (unlimited), steady (4 MiB/s, RC4 only), slow
    /// (256 KiB/s), corrupt (unlimited, one piece in 8 corrupted), then again from the start.
    pub fn demo(n: usize) -> Vec<SeederProfile> {
        let base = [
            ("fast", None, None, Encryption::Enabled),
            ("steady", Some(4 << 20), None, Encryption::Required),
            ("slow", Some(256 << 10), None, Encryption::Enabled),
            ("corrupt", None, Some(8), Encryption::Enabled),
        ];
        (0..n)
            .map(|i| {
                let (label, upload_limit, corrupt_piece_one_in, encryption) = base[i % base.len()];
                let round = i / base.len();
                let label = if round == 0 {
                    label.to_string()
                } else {
                    format!("{label}-{}", round + 1)
                };
                SeederProfile {
                    label,
                    upload_limit,
                    corrupt_piece_one_in,
                    encryption,
                }
            })
            .collect()
    }
}

/// A running demo seeder.
pub struct Seeder {
    pub profile: SeederProfile,
    /// Where peers reach it.
    pub addr: SocketAddr,
    pub handle: EngineHandle,
    last: Arc<Mutex<Option<TorrentSnapshot>>>,
}

impl Seeder {
    /// The seeder's latest torrent snapshot (uploaded bytes, peers...).
    pub fn snapshot(&self) -> Option<TorrentSnapshot> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Resolves once a seeder's data is checked and the tracker has answered (or with why not).
pub(super) type Ready = oneshot::Receiver<Result<(), String>>;

/// Start one seeder on `base` (the demo's loopback engine settings) with its profile's upload
/// cap, faults and encryption.
pub(super) async fn start_seeder(
    profile: SeederProfile,
    base: EngineConfig,
    metainfo: &Arc<Metainfo>,
    data: &Path,
) -> Result<(Seeder, Ready), SwarmError> {
    let config = EngineConfig {
        upload_limit: profile.upload_limit,
        faults: Faults {
            corrupt_piece_one_in: profile.corrupt_piece_one_in,
        },
        encryption: profile.encryption,
        ..base
    };
    let (handle, mut events) = spawn(config).await?;
    handle
        .add_torrent(add_torrent(metainfo, data, true))
        .await?;
    let last = Arc::new(Mutex::new(None));
    let (ready_tx, ready_rx) = oneshot::channel();
    let shared = last.clone();
    // Drain the seeder's events for as long as it runs: keep the latest snapshot, and report
    // ready once the data is checked (Completed) and the tracker has answered once.
    tokio::spawn(async move {
        let (mut ready_tx, mut complete, mut announced) = (Some(ready_tx), false, false);
        while let Some(ev) = events.recv().await {
            match ev {
                EngineEvent::Completed { .. } => complete = true,
                EngineEvent::TrackerReply { .. } => announced = true,
                EngineEvent::Failed { error, .. } => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(Err(error));
                    }
                }
                EngineEvent::Snapshot(s) => {
                    *shared.lock().unwrap_or_else(|e| e.into_inner()) =
                        s.torrents.into_iter().next();
                }
                _ => {}
            }
            if complete
                && announced
                && let Some(tx) = ready_tx.take()
            {
                let _ = tx.send(Ok(()));
            }
        }
    });
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, handle.listen_port()));
    Ok((
        Seeder {
            profile,
            addr,
            handle,
            last,
        },
        ready_rx,
    ))
}

/// Wait until every seeder is ready (`ready` in the order of `seeders`), each within
/// [`SEEDER_READY_TIMEOUT`].
pub(super) async fn wait_ready(seeders: &[Seeder], ready: Vec<Ready>) -> Result<(), SwarmError> {
    for (rx, s) in ready.into_iter().zip(seeders) {
        let what = format!("{} seeder getting ready", s.profile.label);
        match tokio::time::timeout(SEEDER_READY_TIMEOUT, rx).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(SwarmError::Failed(format!("{what}: {e}"))),
            Ok(Err(_)) => {
                return Err(SwarmError::Failed(format!("{what}: the engine stopped")));
            }
            Err(_) => {
                return Err(SwarmError::Timeout {
                    after: SEEDER_READY_TIMEOUT,
                    what,
                });
            }
        }
    }
    Ok(())
}
