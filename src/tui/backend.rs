//! What the dashboard drives: the user's session (every torrent remembered, the control socket
//! served, see [`crate::session`]), the session of another instance it attached to over that
//! socket, or a bare engine (the demo, or no session). The app's [`Effect`]s are carried out
//! here, in the background; each outcome comes back as a one-line notice.
//!
//! A session takes changes (`set`, `limits`, `queue`) and applies them to what it has; a bare
//! engine takes whole values, so for it the change is applied here to the values the effect
//! brings (the dashboard's latest picture of them).

use super::action::Action;
use super::app::Effect;
use super::widgets::rate;
use crate::engine::event::TorrentId;
use crate::engine::queue::QueueLimits;
use crate::engine::settings::GlobalLimits;
use crate::engine::{AddMagnet, AddTorrent, EngineHandle};
use crate::proto::bitfield::Bitfield;
use crate::proto::id::InfoHash;
use crate::proto::magnet::{self, Magnet};
use crate::proto::metainfo::Metainfo;
use crate::session::SessionHandle;
use crate::session::control;
use crate::session::protocol::{
    AddSource, Command, LimitsChange, QueueMove, Response, SettingsChange, to_hex,
};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The dashboard's engine: its own (bare, or inside the session it owns), or another
/// instance's, reached over the control socket.
#[derive(Clone)]
pub enum Backend {
    Engine(EngineHandle),
    Session(SessionHandle),
    /// Attached to the instance answering on this control socket (a daemon, or another
    /// dashboard): its events come over a `watch` stream, commands as requests.
    Attached(PathBuf),
}

impl Backend {
    /// Run a session command, when there is a session (owned or attached).
    async fn call(&self, command: Command) -> Option<Response> {
        match self {
            Backend::Engine(_) => None,
            Backend::Session(s) => Some(s.call(command).await),
            Backend::Attached(socket) => Some(
                control::request(socket, command)
                    .await
                    .unwrap_or_else(|e| Response::error(e.to_string())),
            ),
        }
    }

    /// Stop what the dashboard owns (a session saves its state first). An attached dashboard
    /// owns nothing: the instance it watched keeps running.
    pub async fn shutdown(&self) {
        match self {
            Backend::Engine(h) => h.shutdown().await,
            Backend::Session(s) => s.shutdown().await,
            Backend::Attached(_) => {}
        }
    }
}

/// Read a .torrent (off the runtime's worker: the file may be large).
async fn read_torrent(path: PathBuf) -> Result<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        std::fs::read(&path).wrap_err_with(|| format!("read {}", path.display()))
    })
    .await
    .map_err(|e| eyre!("loader: {e}"))?
}

/// A session's answer as a notice, or its errors as one.
fn answered(r: Response, done: impl FnOnce(&Response) -> String) -> Result<String> {
    if let Some(e) = r.error {
        bail!("{e}");
    }
    if !r.errors.is_empty() {
        bail!("{}", r.errors.join("; "));
    }
    Ok(done(&r))
}

fn added(r: &Response) -> String {
    let names: Vec<&str> = r.added.iter().map(|a| a.name.as_str()).collect();
    format!("added {}", names.join(", "))
}

/// Add a .torrent file (paused when the user chooses its files first).
async fn add_file(backend: &Backend, path: PathBuf, dir: &Path, paused: bool) -> Result<String> {
    let bytes = read_torrent(path.clone()).await?;
    if let Backend::Engine(h) = backend {
        let m =
            Metainfo::from_bytes(&bytes).wrap_err_with(|| format!("parse {}", path.display()))?;
        let name = m.info.name.clone();
        h.add_torrent_with(AddTorrent::to_dir(Arc::new(m), dir), paused)
            .await?;
        return Ok(format!("added {name}"));
    }
    let source = AddSource::Torrent(to_hex(&bytes));
    let r = session_add(backend, source, dir, paused, false).await;
    answered(r, added)
}

/// Ask the session to add one source, saved in `dir`.
async fn session_add(
    backend: &Backend,
    source: AddSource,
    dir: &Path,
    paused: bool,
    pause_after_metadata: bool,
) -> Response {
    let add = Command::Add {
        sources: vec![source],
        dir: Some(dir.display().to_string()),
        paused,
        pause_after_metadata,
        settings: Default::default(),
    };
    backend
        .call(add)
        .await
        .unwrap_or_else(|| Response::error("no session"))
}

/// Add a magnet link (stopping once its metadata is known when the user chooses its files
/// first).
async fn add_magnet(backend: &Backend, m: Magnet, dir: &Path, choose: bool) -> Result<String> {
    let hash = m.info_hash;
    let done = if choose {
        format!("added magnet {hash}; its files open when its metadata arrives")
    } else {
        format!("added magnet {hash}")
    };
    if let Backend::Engine(h) = backend {
        let add = AddMagnet {
            pause_after_metadata: choose,
            ..AddMagnet::to_dir(m, dir)
        };
        h.add_magnet(add).await?;
        return Ok(done);
    }
    let r = session_add(backend, AddSource::Magnet(m.to_uri()), dir, false, choose).await;
    answered(r, |_| done)
}

/// Add a source given on the command line or in the add prompt.
pub async fn add_source(backend: &Backend, source: &str, dir: &Path) -> Result<String> {
    if source.to_ascii_lowercase().starts_with("magnet:") {
        let m = magnet::parse(source).wrap_err("parse the magnet link")?;
        add_magnet(backend, m, dir, false).await
    } else {
        add_file(backend, PathBuf::from(source), dir, false).await
    }
}

/// Pause, resume, remove, change or move one torrent in the session, which knows it by its
/// info hash.
async fn on_session(backend: &Backend, hash: Option<InfoHash>, effect: Effect) -> Result<String> {
    let Some(h) = hash else {
        bail!("that torrent is gone");
    };
    let hashes = vec![h.to_string()];
    let (command, done) = match effect {
        Effect::SetSettings { id, change, .. } => {
            let done = settings_done(id, &change);
            (Command::Set { hashes, change }, done)
        }
        Effect::QueueMove { id, to, .. } => (
            Command::Queue {
                hash: h.to_string(),
                to,
            },
            moved(id, to),
        ),
        Effect::Pause(id) => (Command::Pause { hashes }, format!("paused torrent {id}")),
        Effect::Resume(id) => (Command::Resume { hashes }, format!("resumed torrent {id}")),
        Effect::Remove { id, delete_data } => (
            Command::Remove {
                hashes,
                delete_data,
            },
            removed(id, delete_data),
        ),
        _ => bail!("not a torrent command"),
    };
    match backend.call(command).await {
        Some(r) => answered(r, |_| done),
        None => bail!("no session"),
    }
}

/// Pause, resume, remove, change or move one torrent of a bare engine.
async fn on_engine(h: &EngineHandle, effect: Effect) -> Result<String> {
    Ok(match effect {
        Effect::SetSettings { id, change, base } => {
            h.set_settings(id, change.apply(base));
            settings_done(id, &change)
        }
        Effect::QueueMove { id, to, order } => {
            h.set_queue_order(to.apply(&order, id));
            moved(id, to)
        }
        Effect::Pause(id) => {
            h.pause(id);
            format!("paused torrent {id}")
        }
        Effect::Resume(id) => {
            h.resume(id);
            format!("resumed torrent {id}")
        }
        Effect::Remove { id, delete_data } => {
            if delete_data {
                h.remove_with_data(id).await;
            } else {
                h.remove(id).await;
            }
            removed(id, delete_data)
        }
        _ => bail!("not a torrent command"),
    })
}

/// Change the engine-wide limits: the session's, or a bare engine's (`global` and `queue`
/// are the values in force).
async fn set_limits(
    backend: &Backend,
    change: LimitsChange,
    global: GlobalLimits,
    queue: QueueLimits,
) -> Result<String> {
    let done = limits_done(&change);
    if let Backend::Engine(h) = backend {
        let (g, q) = change.apply(global, queue);
        h.set_global_limits(g);
        h.set_queue_limits(q);
        return Ok(done);
    }
    match backend.call(Command::Limits { change }).await {
        Some(r) => answered(r, |_| done),
        None => bail!("no session"),
    }
}

fn on_off(v: bool) -> &'static str {
    if v { "on" } else { "off" }
}

fn moved(id: TorrentId, to: QueueMove) -> String {
    let to = match to {
        QueueMove::Up => "up",
        QueueMove::Down => "down",
        QueueMove::Top => "to the top",
        QueueMove::Bottom => "to the bottom",
    };
    format!("torrent {id}: moved {to} in the queue")
}

/// A rate limit as a notice says it (0: none).
fn limit(bps: u64) -> String {
    if bps == 0 {
        "none".into()
    } else {
        rate(bps as f64)
    }
}

/// What a settings change did, in a few words.
fn settings_done(id: TorrentId, c: &SettingsChange) -> String {
    let mut parts = Vec::new();
    if c.files.is_some() {
        parts.push("files chosen".to_string());
    }
    if let Some(v) = c.sequential {
        parts.push(format!("sequential {}", on_off(v)));
    }
    if let Some(v) = c.first_last {
        parts.push(format!("first-last {}", on_off(v)));
    }
    if let Some(v) = c.download_limit {
        parts.push(format!("download limit {}", limit(v)));
    }
    if let Some(v) = c.upload_limit {
        parts.push(format!("upload limit {}", limit(v)));
    }
    format!("torrent {id}: {}", parts.join(", "))
}

/// What a limits change did, in a few words.
fn limits_done(c: &LimitsChange) -> String {
    let count = |n: usize| {
        if n == 0 {
            "any number".to_string()
        } else {
            n.to_string()
        }
    };
    let mut parts = Vec::new();
    if let Some(v) = c.download_limit {
        parts.push(format!("download limit {}", limit(v)));
    }
    if let Some(v) = c.upload_limit {
        parts.push(format!("upload limit {}", limit(v)));
    }
    if let Some(v) = c.max_active_downloads {
        parts.push(format!("{} downloads at once", count(v)));
    }
    if let Some(v) = c.max_active_seeds {
        parts.push(format!("{} seeds at once", count(v)));
    }
    format!("engine: {}", parts.join(", "))
}

/// Carry out `effect` in the background; its outcome comes back on `notices`. `hashes` names
/// each torrent the engine reported (`TorrentAdded`).
pub fn run_effect(
    effect: Effect,
    backend: &Backend,
    hashes: &HashMap<TorrentId, InfoHash>,
    dir: &Path,
    notices: &mpsc::UnboundedSender<String>,
) {
    let hash = match &effect {
        Effect::Pause(id)
        | Effect::Resume(id)
        | Effect::Remove { id, .. }
        | Effect::SetSettings { id, .. }
        | Effect::QueueMove { id, .. } => hashes.get(id).copied(),
        _ => None,
    };
    let (backend, dir, notices) = (backend.clone(), dir.to_path_buf(), notices.clone());
    tokio::spawn(async move {
        let msg = match (effect, &backend) {
            (Effect::AddTorrentFile(p), _) => add_file(&backend, p, &dir, false).await,
            (Effect::AddTorrentFileToChoose(p), _) => add_file(&backend, p, &dir, true).await,
            (Effect::AddMagnet(m), _) => add_magnet(&backend, m, &dir, false).await,
            (Effect::AddMagnetToChoose(m), _) => add_magnet(&backend, m, &dir, true).await,
            (
                Effect::SetLimits {
                    change,
                    global,
                    queue,
                },
                _,
            ) => set_limits(&backend, change, global, queue).await,
            (effect, Backend::Engine(h)) => on_engine(h, effect).await,
            (effect, _) => on_session(&backend, hash, effect).await,
        };
        let _ = notices.send(match msg {
            Ok(m) => m,
            Err(e) => format!("error: {}", causes(&e)),
        });
    });
}

/// Ask which pieces a peer has, in the background; the answer comes back on `answers` as
/// [`Action::PeerPieces`] (`bits: None` when the peer or the torrent is gone, or the
/// instance did not answer). A question, not a command: no notice.
pub fn ask_peer_pieces(
    torrent: TorrentId,
    addr: SocketAddr,
    backend: &Backend,
    hashes: &HashMap<TorrentId, InfoHash>,
    answers: &mpsc::UnboundedSender<Action>,
) {
    let hash = hashes.get(&torrent).copied();
    let (backend, answers) = (backend.clone(), answers.clone());
    tokio::spawn(async move {
        let bits = peer_pieces(&backend, torrent, hash, addr).await;
        let _ = answers.send(Action::PeerPieces {
            torrent,
            addr,
            bits,
        });
    });
}

/// A peer's pieces from the engine, or from the session (which knows the torrent by its
/// info hash).
async fn peer_pieces(
    backend: &Backend,
    torrent: TorrentId,
    hash: Option<InfoHash>,
    addr: SocketAddr,
) -> Option<Bitfield> {
    if let Backend::Engine(h) = backend {
        return h.peer_pieces(torrent, addr).await;
    }
    let hash = hash?.to_string();
    let r = backend.call(Command::PeerPieces { hash, addr }).await?;
    match r.peer_pieces.map(|p| p.bitfield()) {
        Some(Ok(bits)) => Some(bits),
        Some(Err(e)) => {
            tracing::debug!("peer_pieces for {addr}: {e}");
            None
        }
        None => None,
    }
}

/// An error and its causes on one line.
pub fn causes(e: &color_eyre::Report) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

fn removed(id: TorrentId, delete_data: bool) -> String {
    if delete_data {
        format!("removed torrent {id} and deleted its data")
    } else {
        format!("removed torrent {id}; data kept")
    }
}
