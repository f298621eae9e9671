//! What the dashboard drives: the user's session (every torrent remembered, the control socket
//! served, see [`crate::session`]), the session of another instance it attached to over that
//! socket, or a bare engine (the demo, or no session). The app's [`Effect`]s are carried out
//! here, in the background; each outcome comes back as a one-line notice.

use super::app::Effect;
use crate::engine::event::TorrentId;
use crate::engine::{AddMagnet, AddTorrent, EngineHandle};
use crate::proto::id::InfoHash;
use crate::proto::magnet::{self, Magnet};
use crate::proto::metainfo::Metainfo;
use crate::session::SessionHandle;
use crate::session::control;
use crate::session::protocol::{AddSource, Command, Response, to_hex};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::collections::HashMap;
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

/// Add a .torrent file.
async fn add_file(backend: &Backend, path: PathBuf, dir: &Path) -> Result<String> {
    let bytes = read_torrent(path.clone()).await?;
    if let Backend::Engine(h) = backend {
        let m =
            Metainfo::from_bytes(&bytes).wrap_err_with(|| format!("parse {}", path.display()))?;
        let name = m.info.name.clone();
        h.add_torrent(AddTorrent::to_dir(Arc::new(m), dir)).await?;
        return Ok(format!("added {name}"));
    }
    let r = session_add(backend, AddSource::Torrent(to_hex(&bytes)), dir).await;
    answered(r, added)
}

/// Ask the session to add one source, saved in `dir`.
async fn session_add(backend: &Backend, source: AddSource, dir: &Path) -> Response {
    let add = Command::Add {
        sources: vec![source],
        dir: Some(dir.display().to_string()),
        paused: false,
        pause_after_metadata: false,
        settings: Default::default(),
    };
    backend
        .call(add)
        .await
        .unwrap_or_else(|| Response::error("no session"))
}

/// Add a magnet link.
async fn add_magnet(backend: &Backend, m: Magnet, dir: &Path) -> Result<String> {
    let hash = m.info_hash;
    if let Backend::Engine(h) = backend {
        h.add_magnet(AddMagnet::to_dir(m, dir)).await?;
        return Ok(format!("added magnet {hash}"));
    }
    let r = session_add(backend, AddSource::Magnet(m.to_uri()), dir).await;
    answered(r, |_| format!("added magnet {hash}"))
}

/// Add a source given on the command line or in the add prompt.
pub async fn add_source(backend: &Backend, source: &str, dir: &Path) -> Result<String> {
    if source.to_ascii_lowercase().starts_with("magnet:") {
        let m = magnet::parse(source).wrap_err("parse the magnet link")?;
        add_magnet(backend, m, dir).await
    } else {
        add_file(backend, PathBuf::from(source), dir).await
    }
}

/// Pause, resume or remove one torrent in the session, which knows it by its info hash.
async fn on_session(backend: &Backend, hash: Option<InfoHash>, effect: Effect) -> Result<String> {
    let Some(h) = hash else {
        bail!("that torrent is gone");
    };
    let hashes = vec![h.to_string()];
    let (command, done) = match effect {
        Effect::Pause(id) => (Command::Pause { hashes }, format!("paused torrent {id}")),
        Effect::Resume(id) => (Command::Resume { hashes }, format!("resumed torrent {id}")),
        Effect::Remove { id, delete_data } => (
            Command::Remove {
                hashes,
                delete_data,
            },
            removed(id, delete_data),
        ),
        Effect::AddTorrentFile(_) | Effect::AddMagnet(_) => bail!("not a torrent command"),
    };
    match backend.call(command).await {
        Some(r) => answered(r, |_| done),
        None => bail!("no session"),
    }
}

/// Pause, resume or remove one torrent of a bare engine.
async fn on_engine(h: &EngineHandle, effect: Effect) -> Result<String> {
    Ok(match effect {
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
        Effect::AddTorrentFile(_) | Effect::AddMagnet(_) => bail!("not a torrent command"),
    })
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
        Effect::Pause(id) | Effect::Resume(id) | Effect::Remove { id, .. } => {
            hashes.get(id).copied()
        }
        _ => None,
    };
    let (backend, dir, notices) = (backend.clone(), dir.to_path_buf(), notices.clone());
    tokio::spawn(async move {
        let msg = match (effect, &backend) {
            (Effect::AddTorrentFile(p), _) => add_file(&backend, p, &dir).await,
            (Effect::AddMagnet(m), _) => add_magnet(&backend, m, &dir).await,
            (effect, Backend::Engine(h)) => on_engine(h, effect).await,
            (effect, _) => on_session(&backend, hash, effect).await,
        };
        let _ = notices.send(match msg {
            Ok(m) => m,
            Err(e) => format!("error: {}", causes(&e)),
        });
    });
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
