//! The engine on one torrent for the length of a command: add it, follow its events (progress
//! on stderr when it is a terminal), stop at completion, at the metadata or at a signal.

use super::{SwarmOptions, engine_config};
use crate::engine::event::{EngineEvent, TorrentSnapshot};
use crate::engine::storage::OutputTarget;
use crate::engine::{AddMagnet, AddTorrent, spawn};
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// When [`run_torrent`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Until {
    /// As soon as every wanted piece is verified.
    Complete,
    /// Keep serving after completion until Ctrl-C or SIGTERM.
    Interrupted,
    /// As soon as the metadata is known (magnet_info).
    Metadata,
}

/// What to add to the engine.
pub enum Job {
    Torrent(AddTorrent),
    Magnet(AddMagnet),
}

/// What a run of the engine leaves behind.
pub struct RunResult {
    pub last: Option<TorrentSnapshot>,
    pub metainfo: Option<Arc<Metainfo>>,
}

/// Ctrl-C (SIGINT) and SIGTERM, registered once for the life of a command. A fresh
/// `ctrl_c()` future per loop turn would miss a signal that arrives while the loop handles
/// another event (the handler is installed, nobody listens, the signal is gone).
struct Interrupt {
    int: Option<tokio::signal::unix::Signal>,
    term: Option<tokio::signal::unix::Signal>,
}

impl Interrupt {
    fn new() -> Interrupt {
        use tokio::signal::unix::{SignalKind, signal};
        Interrupt {
            int: signal(SignalKind::interrupt()).ok(),
            term: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves at the next signal (cancel safe: a signal is kept until received).
    async fn recv(&mut self) {
        async fn on(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            _ = on(&mut self.int) => {}
            _ = on(&mut self.term) => {}
        }
    }
}

/// Run the engine on one torrent; `on_ready` runs once the data check is done and the torrent
/// is live. Returns the last snapshot.
pub(super) async fn run_torrent(
    job: Job,
    opts: &SwarmOptions,
    until: Until,
    mut on_ready: impl FnMut(&crate::engine::EngineHandle, &TorrentSnapshot),
) -> Result<RunResult> {
    let mut interrupt = Interrupt::new();
    let (engine, mut events) = spawn(engine_config(opts))
        .await
        .wrap_err("start the engine")?;
    let id = match job {
        Job::Torrent(add) => engine.add_torrent(add).await,
        Job::Magnet(add) => engine.add_magnet(add).await,
    }
    .wrap_err("add the torrent")?;
    let mut metainfo: Option<Arc<Metainfo>> = None;
    let progress = std::io::stderr().is_terminal();
    let mut last: Option<TorrentSnapshot> = None;
    let mut last_print = Instant::now();
    let mut ready = false;
    let mut completed = false;
    let outcome: Result<()> = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                None => break Err(eyre!("the engine stopped unexpectedly")),
                Some(EngineEvent::Completed { id: i }) if i == id => {
                    completed = true;
                    if until == Until::Complete {
                        break Ok(());
                    }
                }
                Some(EngineEvent::Failed { id: i, error }) if i == id => break Err(eyre!(error)),
                Some(EngineEvent::MetadataReady { id: i, metainfo: m }) if i == id => {
                    metainfo = Some(m);
                    if until == Until::Metadata {
                        break Ok(());
                    }
                }
                Some(EngineEvent::Checking { checked, total, valid, .. }) => {
                    if progress {
                        eprint!("\rchecking {checked}/{total} pieces, {valid} valid   ");
                    }
                }
                Some(EngineEvent::HashFailed { index, peers, .. }) => {
                    tracing::warn!("piece {index} failed its hash check (from {peers:?})");
                }
                Some(EngineEvent::TrackerError { url, message, .. }) => {
                    tracing::warn!("tracker {url}: {message}");
                }
                Some(EngineEvent::PeerConnected { addr, peer_id, .. }) => {
                    tracing::info!("connected to {addr} ({})", peer_id.client().unwrap_or_else(|| peer_id.to_string()));
                }
                Some(EngineEvent::PeerDisconnected { addr, reason, .. }) => {
                    tracing::info!("{addr} disconnected: {reason}");
                }
                Some(EngineEvent::Snapshot(s)) => {
                    if let Some(t) = s.torrents.into_iter().find(|t| t.id == id) {
                        if t.metadata.is_some() {
                            if progress && last_print.elapsed() > Duration::from_millis(250) {
                                last_print = Instant::now();
                                eprint!("\r{}", metadata_line(&t));
                            }
                            continue;
                        }
                        if !ready {
                            ready = true;
                            if progress {
                                eprintln!();
                            }
                            on_ready(&engine, &t);
                        }
                        if progress && last_print.elapsed() > Duration::from_millis(250) {
                            last_print = Instant::now();
                            eprint!("\r{}", progress_line(&t, completed));
                        }
                        last = Some(t);
                    }
                }
                Some(_) => {}
            },
            _ = interrupt.recv() => {
                if progress {
                    eprintln!();
                }
                engine.shutdown().await;
                // the engine's last snapshot carries the final counters
                while let Ok(ev) = events.try_recv() {
                    if let EngineEvent::Snapshot(s) = ev
                        && let Some(t) = s.torrents.into_iter().find(|t| t.id == id)
                    {
                        last = Some(t);
                    }
                }
                if until == Until::Interrupted {
                    return Ok(RunResult { last, metainfo });
                }
                bail!("interrupted");
            }
        }
    };
    if progress {
        eprintln!();
    }
    engine.shutdown().await;
    outcome.map(|_| RunResult { last, metainfo })
}

fn metadata_line(t: &TorrentSnapshot) -> String {
    let Some(m) = &t.metadata else {
        return String::new();
    };
    let got = m.pieces_received.iter().filter(|r| **r).count();
    let advertising = m.peers.iter().filter(|p| p.advertises).count();
    format!(
        "fetching metadata: {got}/{} pieces{}, {} peers ({advertising} with ut_metadata)   ",
        m.pieces_received.len(),
        m.size.map(|s| format!(" of {s} bytes")).unwrap_or_default(),
        m.peers.len()
    )
}

fn progress_line(t: &TorrentSnapshot, seeding: bool) -> String {
    let done = t.total_length - t.bytes_left.min(t.total_length);
    let pct = if t.total_length == 0 {
        100.0
    } else {
        done as f64 * 100.0 / t.total_length as f64
    };
    if seeding {
        return format!(
            "seeding  {}/{} pieces  up {:7.1} MiB/s  {:.1} MiB sent  {} peers   ",
            t.pieces_verified,
            t.piece_count,
            t.upload_rate / (1024.0 * 1024.0),
            t.uploaded as f64 / (1024.0 * 1024.0),
            t.peers.len()
        );
    }
    format!(
        "{:5.1}%  {}/{} pieces  {:7.1} MiB/s  {} peers{}   ",
        pct,
        t.pieces_verified,
        t.piece_count,
        t.download_rate / (1024.0 * 1024.0),
        t.peers.len(),
        if t.in_endgame { "  endgame" } else { "" }
    )
}

pub(super) fn torrent_job(
    m: &Arc<Metainfo>,
    target: OutputTarget,
    opts: &SwarmOptions,
    wanted: Option<Vec<u32>>,
    seed_only: bool,
) -> Job {
    Job::Torrent(AddTorrent {
        metainfo: m.clone(),
        target,
        peers: opts.peers.clone(),
        wanted_pieces: wanted,
        use_trackers: !opts.no_trackers,
        seed_only,
        settings: opts.settings.clone(),
    })
}

pub(super) fn magnet_job(
    m: &Magnet,
    target: OutputTarget,
    opts: &SwarmOptions,
    wanted: Option<Vec<u32>>,
) -> Job {
    Job::Magnet(AddMagnet {
        magnet: m.clone(),
        target,
        peers: opts.peers.clone(),
        wanted_pieces: wanted,
        use_trackers: !opts.no_trackers,
        max_metadata_size: opts
            .max_metadata_size
            .unwrap_or(crate::engine::DEFAULT_MAX_METADATA_SIZE),
        settings: opts.settings.clone(),
        pause_after_metadata: opts.pause_after_metadata,
    })
}
