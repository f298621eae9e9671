//! `fast-peer demo --no-tui`, without the printing: start the swarm and one leecher (into
//! `ROOT/download`), report what happens as a stream of [`DemoEvent`]s, and once the download
//! is complete check it byte for byte. The CLI (`cli::demo`) turns the events into lines on
//! stdout.

use super::{DemoOptions, DemoSwarm, SeederProfile, SwarmError};
use crate::engine::event::{EngineEvent, PeerCloseReason, TorrentId, TorrentSnapshot};
use std::cmp::Reverse;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long [`run`] may take in all.
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(300);

/// A peer of the demo's leecher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoPeer {
    pub addr: SocketAddr,
    /// The label of the demo seeder at `addr`; `None` when it is not one of them.
    pub seeder: Option<String>,
}

/// What a headless demo run reports, in this order: [`Swarm`](DemoEvent::Swarm),
/// [`Leecher`](DemoEvent::Leecher), then the download as it goes, then
/// [`Complete`](DemoEvent::Complete) and [`Verified`](DemoEvent::Verified).
#[derive(Debug, Clone)]
pub enum DemoEvent {
    /// The swarm is up: its content, torrent, tracker and seeders.
    Swarm {
        files: usize,
        /// Bytes of content.
        length: u64,
        pieces: u32,
        piece_length: u32,
        root: PathBuf,
        tracker: String,
        /// Each seeder and where it listens.
        seeders: Vec<(SeederProfile, SocketAddr)>,
    },
    /// The leecher listens on 127.0.0.1:`port` and downloads into `dir`.
    Leecher { port: u16, dir: PathBuf },
    /// The leecher connected to a peer.
    Connected(DemoPeer),
    /// Piece `index` failed its hash check; `from` sent its blocks.
    HashFailed { index: u32, from: Vec<DemoPeer> },
    /// The leecher banned a peer.
    Banned {
        reason: PeerCloseReason,
        peer: DemoPeer,
    },
    /// An announce failed.
    TrackerError(String),
    /// The leecher's torrent, at every engine snapshot; `last` marks the final one (the first
    /// taken after completion, with the final counters).
    Progress {
        torrent: Box<TorrentSnapshot>,
        last: bool,
    },
    /// The download is complete.
    Complete {
        /// Bytes downloaded (the whole content).
        length: u64,
        /// From the leecher's start to its shutdown.
        elapsed: Duration,
        hash_failures: u32,
        /// Bytes received from each peer that sent any, most first.
        sources: Vec<(DemoPeer, u64)>,
    },
    /// Every file matches the demo content, byte for byte.
    Verified { files: usize },
}

/// Start the swarm, download from it with one leecher and verify the download, sending what
/// happens to `events`. Bounded by [`DEMO_TIMEOUT`]; when `interrupt` resolves first the run
/// stops cleanly with `Err(Interrupted)`. Everything is shut down and the temporary folder
/// removed before this returns.
pub async fn run(
    opts: DemoOptions,
    events: mpsc::UnboundedSender<DemoEvent>,
    interrupt: impl Future<Output = ()>,
) -> Result<(), SwarmError> {
    let swarm = DemoSwarm::start(opts).await?;
    let result = tokio::select! {
        r = tokio::time::timeout(DEMO_TIMEOUT, download(&swarm, &events)) => r.unwrap_or_else(|_| Err(SwarmError::Timeout {
            after: DEMO_TIMEOUT,
            what: "the demo download".into(),
        })),
        () = interrupt => Err(SwarmError::Interrupted),
    };
    swarm.shutdown().await;
    result
}

async fn download(
    swarm: &DemoSwarm,
    report: &mpsc::UnboundedSender<DemoEvent>,
) -> Result<(), SwarmError> {
    // a dropped receiver only means nobody watches: the run goes on
    let report = |ev| {
        let _ = report.send(ev);
    };
    let m = swarm.metainfo();
    report(DemoEvent::Swarm {
        files: swarm.files().len(),
        length: m.info.total_length,
        pieces: m.info.piece_count(),
        piece_length: m.info.piece_length,
        root: swarm.root().to_path_buf(),
        tracker: swarm.announce_url().to_string(),
        seeders: swarm
            .seeders()
            .iter()
            .map(|s| (s.profile.clone(), s.addr))
            .collect(),
    });
    let out = swarm.download_dir()?;
    let started = Instant::now();
    let (leecher, events, id) = swarm.start_leecher(&out).await?;
    report(DemoEvent::Leecher {
        port: leecher.listen_port(),
        dir: out.clone(),
    });
    let result = follow(swarm, events, id, &report).await;
    leecher.shutdown().await;
    let last = result?;
    let mut sources: Vec<(DemoPeer, u64)> = last
        .as_ref()
        .map(|t| t.peers.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|p| p.downloaded > 0)
        .map(|p| (peer(swarm, p.addr), p.downloaded))
        .collect();
    sources.sort_by_key(|(_, downloaded)| Reverse(*downloaded));
    report(DemoEvent::Complete {
        length: m.info.total_length,
        elapsed: started.elapsed(),
        hash_failures: last.as_ref().map_or(0, |t| t.hash_failures),
        sources,
    });
    swarm.verify(&out).await?;
    report(DemoEvent::Verified {
        files: swarm.files().len(),
    });
    Ok(())
}

fn peer(swarm: &DemoSwarm, addr: SocketAddr) -> DemoPeer {
    DemoPeer {
        addr,
        seeder: swarm.seeder_at(addr).map(|s| s.profile.label.clone()),
    }
}

/// Report the leecher's events until it completes; returns its first snapshot taken after
/// completion, which carries the final counters (snapshots trail events a little, and the
/// engine sends one every snapshot interval, so it comes). `None` only if the engine stopped
/// after completing but before any snapshot.
async fn follow(
    swarm: &DemoSwarm,
    mut events: mpsc::Receiver<EngineEvent>,
    id: TorrentId,
    report: &impl Fn(DemoEvent),
) -> Result<Option<TorrentSnapshot>, SwarmError> {
    let mut last: Option<TorrentSnapshot> = None;
    let mut completed = false;
    while let Some(ev) = events.recv().await {
        match ev {
            EngineEvent::Snapshot(s) => {
                let Some(t) = s.torrents.into_iter().find(|t| t.id == id) else {
                    continue;
                };
                let done = completed && t.bytes_left == 0;
                report(DemoEvent::Progress {
                    torrent: Box::new(t.clone()),
                    last: done,
                });
                last = Some(t);
                if done {
                    return Ok(last);
                }
            }
            EngineEvent::HashFailed { index, peers, .. } => report(DemoEvent::HashFailed {
                index,
                from: peers.iter().map(|a| peer(swarm, *a)).collect(),
            }),
            EngineEvent::PeerConnected { addr, .. } => {
                report(DemoEvent::Connected(peer(swarm, addr)))
            }
            EngineEvent::PeerDisconnected {
                addr,
                reason: reason @ PeerCloseReason::Banned(_),
                ..
            } => report(DemoEvent::Banned {
                reason,
                peer: peer(swarm, addr),
            }),
            EngineEvent::TrackerError { message, .. } => report(DemoEvent::TrackerError(message)),
            EngineEvent::Failed { id: i, error } if i == id => {
                return Err(SwarmError::Failed(error));
            }
            EngineEvent::Completed { id: i } if i == id => completed = true,
            _ => {}
        }
    }
    if completed {
        Ok(last)
    } else {
        Err(SwarmError::Failed("the leecher's engine stopped".into()))
    }
}
