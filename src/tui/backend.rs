//! What the dashboard drives: the user's session (every torrent remembered, the control socket
//! served, see [`crate::session`]) or a bare engine (the demo, or when another instance owns
//! the session). The app's [`Effect`]s are carried out here, in the background; each outcome
//! comes back as a one-line notice.

use super::app::Effect;
use crate::engine::event::TorrentId;
use crate::engine::{AddMagnet, AddTorrent, EngineHandle};
use crate::proto::id::InfoHash;
use crate::proto::magnet::{self, Magnet};
use crate::proto::metainfo::Metainfo;
use crate::session::SessionHandle;
use crate::session::protocol::{AddSource, Command, Response, to_hex};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The dashboard's engine, with or without a session around it.
#[derive(Clone)]
pub enum Backend {
    Engine(EngineHandle),
    Session(SessionHandle),
}

impl Backend {
    /// The engine underneath.
    pub fn engine(&self) -> &EngineHandle {
        match self {
            Backend::Engine(h) => h,
            Backend::Session(s) => &s.engine,
        }
    }

    /// Stop it (a session saves its state first).
    pub async fn shutdown(&self) {
        match self {
            Backend::Engine(h) => h.shutdown().await,
            Backend::Session(s) => s.shutdown().await,
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
    match backend {
        Backend::Session(s) => {
            let r = session_add(s, AddSource::Torrent(to_hex(&bytes)), dir).await;
            answered(r, added)
        }
        Backend::Engine(h) => {
            let m = Metainfo::from_bytes(&bytes)
                .wrap_err_with(|| format!("parse {}", path.display()))?;
            let name = m.info.name.clone();
            h.add_torrent(AddTorrent::to_dir(Arc::new(m), dir)).await?;
            Ok(format!("added {name}"))
        }
    }
}

/// Ask the session to add one source, saved in `dir`.
async fn session_add(s: &SessionHandle, source: AddSource, dir: &Path) -> Response {
    s.call(Command::Add {
        sources: vec![source],
        dir: Some(dir.display().to_string()),
        paused: false,
    })
    .await
}

/// Add a magnet link.
async fn add_magnet(backend: &Backend, m: Magnet, dir: &Path) -> Result<String> {
    let hash = m.info_hash;
    match backend {
        Backend::Session(s) => {
            let r = session_add(s, AddSource::Magnet(m.to_uri()), dir).await;
            answered(r, |_| format!("added magnet {hash}"))
        }
        Backend::Engine(h) => {
            h.add_magnet(AddMagnet::to_dir(m, dir)).await?;
            Ok(format!("added magnet {hash}"))
        }
    }
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

/// A session command for one torrent, which the session knows by its info hash.
async fn on_session(
    s: &SessionHandle,
    hash: Option<InfoHash>,
    make: impl FnOnce(Vec<String>) -> Command,
    done: String,
) -> Result<String> {
    let Some(h) = hash else {
        bail!("that torrent is gone");
    };
    answered(s.call(make(vec![h.to_string()])).await, |_| done)
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
            (Effect::Pause(id), Backend::Session(s)) => {
                let done = format!("paused torrent {id}");
                on_session(s, hash, |hashes| Command::Pause { hashes }, done).await
            }
            (Effect::Resume(id), Backend::Session(s)) => {
                let done = format!("resumed torrent {id}");
                on_session(s, hash, |hashes| Command::Resume { hashes }, done).await
            }
            (Effect::Remove { id, delete_data }, Backend::Session(s)) => {
                let done = removed(id, delete_data);
                let make = |hashes| Command::Remove {
                    hashes,
                    delete_data,
                };
                on_session(s, hash, make, done).await
            }
            (Effect::Pause(id), Backend::Engine(h)) => {
                h.pause(id);
                Ok(format!("paused torrent {id}"))
            }
            (Effect::Resume(id), Backend::Engine(h)) => {
                h.resume(id);
                Ok(format!("resumed torrent {id}"))
            }
            (Effect::Remove { id, delete_data }, Backend::Engine(h)) => {
                if delete_data {
                    h.remove_with_data(id).await;
                } else {
                    h.remove(id).await;
                }
                Ok(removed(id, delete_data))
            }
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
