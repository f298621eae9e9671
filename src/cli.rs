//! One function per subcommand. What goes to stdout is a contract that scripts and tests rely
//! on (the formats are given in the issues); progress and diagnostics go to stderr.

use crate::engine::event::{EngineEvent, TorrentSnapshot};
use crate::engine::storage::{OutputTarget, Storage};
use crate::engine::tracker::announce_tiers;
use crate::engine::{AddTorrent, EngineConfig, spawn};
use crate::proto::bencode;
use crate::proto::handshake::Handshake;
use crate::proto::id::{PeerId, to_hex};
use crate::proto::metainfo::Metainfo;
use crate::proto::tracker::{AnnounceRequest, Event};
use color_eyre::eyre::{WrapErr, bail, eyre};
use color_eyre::Result;
use std::io::{IsTerminal, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options shared by the commands that run the engine.
#[derive(Debug, Clone, Default)]
pub struct SwarmOptions {
    /// Listen port (0 = any free port).
    pub port: Option<u16>,
    /// Peers to connect to directly.
    pub peers: Vec<SocketAddr>,
}

/// `decode`: a bencoded value (literal, `-` for stdin, `@FILE`) as compact JSON.
pub fn decode(arg: &str) -> Result<()> {
    let bytes = if arg == "-" {
        let mut v = Vec::new();
        std::io::stdin().read_to_end(&mut v).wrap_err("read stdin")?;
        v
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read(path).wrap_err_with(|| format!("read {path}"))?
    } else {
        arg.as_bytes().to_vec()
    };
    let value = bencode::decode(&bytes).wrap_err("decode bencode")?;
    println!("{}", bencode::to_json(&value));
    Ok(())
}

pub fn load_torrent(path: &Path) -> Result<Metainfo> {
    let bytes = std::fs::read(path).wrap_err_with(|| format!("read torrent file {}", path.display()))?;
    Metainfo::from_bytes(&bytes).wrap_err_with(|| format!("parse torrent file {}", path.display()))
}

fn first_tracker(m: &Metainfo) -> String {
    m.announce
        .clone()
        .or_else(|| m.trackers().into_iter().flatten().next())
        .unwrap_or_default()
}

/// `info`: the torrent's key facts.
pub fn info(path: &Path) -> Result<()> {
    let m = load_torrent(path)?;
    let mut out = String::new();
    out.push_str(&format!("Tracker URL: {}\n", first_tracker(&m)));
    out.push_str(&format!("Length: {}\n", m.info.total_length));
    out.push_str(&format!("Info Hash: {}\n", m.info_hash));
    out.push_str(&format!("Piece Length: {}\n", m.info.piece_length));
    out.push_str("Piece Hashes:\n");
    for h in &m.info.piece_hashes {
        out.push_str(&to_hex(h));
        out.push('\n');
    }
    if m.info.is_multi_file {
        out.push_str(&format!("Name: {}\n", m.info.name));
        out.push_str(&format!("Files: {}\n", m.info.files.len()));
        for f in &m.info.files {
            out.push_str(&format!("{} {}\n", f.length, f.path.join("/")));
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// `peers`: ask the trackers (BEP 12 order) once and print the peers, one `IP:PORT` a line.
pub async fn peers(path: &Path, port: Option<u16>) -> Result<()> {
    let m = load_torrent(path)?;
    let tiers = m.trackers();
    if tiers.is_empty() {
        bail!("the torrent names no tracker");
    }
    let req = AnnounceRequest {
        info_hash: m.info_hash,
        peer_id: PeerId::generate(),
        port: port.unwrap_or(6881),
        uploaded: 0,
        downloaded: 0,
        left: m.info.total_length,
        event: Event::Started,
        numwant: Some(200),
        key: rand::random(),
        tracker_id: None,
    };
    let (_url, resp) = announce_tiers(&tiers, &req, Duration::from_secs(15))
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("announce to the trackers")?;
    let mut out = String::new();
    for p in resp.peers {
        out.push_str(&format!("{p}\n"));
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// `handshake`: exchange BEP 3 handshakes with one peer and print its id.
pub async fn handshake(path: &Path, peer: SocketAddr) -> Result<()> {
    let m = load_torrent(path)?;
    let ours = Handshake {
        reserved: crate::engine::peer::our_reserved(),
        info_hash: m.info_hash,
        peer_id: PeerId::generate(),
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(peer))
        .await
        .map_err(|_| eyre!("connect to {peer}: timed out"))?
        .wrap_err_with(|| format!("connect to {peer}"))?;
    tokio::io::AsyncWriteExt::write_all(&mut stream, &ours.encode()).await.wrap_err("send handshake")?;
    let (theirs, _) = crate::engine::peer::read_handshake(&mut stream)
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err_with(|| format!("handshake with {peer}"))?;
    if theirs.info_hash != m.info_hash {
        bail!("peer answered for another torrent ({})", theirs.info_hash);
    }
    println!("Peer ID: {}", theirs.peer_id);
    Ok(())
}

fn engine_config(opts: &SwarmOptions) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    if let Some(p) = opts.port {
        cfg.listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, p));
        cfg.listen_fallback = false;
    }
    cfg
}

/// Run the engine on one torrent until it completes; returns the last snapshot.
async fn run_to_completion(add: AddTorrent, opts: &SwarmOptions) -> Result<Option<TorrentSnapshot>> {
    let (engine, mut events) = spawn(engine_config(opts)).await.wrap_err("start the engine")?;
    let id = engine.add_torrent(add).await.wrap_err("add the torrent")?;
    let progress = std::io::stderr().is_terminal();
    let mut last: Option<TorrentSnapshot> = None;
    let mut last_print = Instant::now();
    let outcome: Result<()> = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                None => break Err(eyre!("the engine stopped unexpectedly")),
                Some(EngineEvent::Completed { id: i }) if i == id => break Ok(()),
                Some(EngineEvent::Failed { id: i, error }) if i == id => break Err(eyre!(error)),
                Some(EngineEvent::HashFailed { index, peers, .. }) => {
                    tracing::warn!("piece {index} failed its hash check (from {peers:?})");
                }
                Some(EngineEvent::TrackerError { url, message, .. }) => {
                    tracing::warn!("tracker {url}: {message}");
                }
                Some(EngineEvent::Snapshot(s)) => {
                    if let Some(t) = s.torrents.into_iter().find(|t| t.id == id) {
                        if progress && last_print.elapsed() > Duration::from_millis(250) {
                            last_print = Instant::now();
                            eprint!("\r{}", progress_line(&t));
                        }
                        last = Some(t);
                    }
                }
                Some(_) => {}
            },
            _ = tokio::signal::ctrl_c() => {
                engine.shutdown().await;
                bail!("interrupted");
            }
        }
    };
    if progress {
        eprintln!();
    }
    engine.shutdown().await;
    outcome.map(|_| last)
}

fn progress_line(t: &TorrentSnapshot) -> String {
    let done = t.total_length - t.bytes_left.min(t.total_length);
    let pct = if t.total_length == 0 { 100.0 } else { done as f64 * 100.0 / t.total_length as f64 };
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

/// `download`: the whole torrent to `target`.
pub async fn download(torrent: &Path, target: OutputTarget, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let started = Instant::now();
    let add = AddTorrent {
        metainfo: m.clone(),
        target,
        peers: opts.peers.clone(),
        wanted_pieces: None,
        use_trackers: true,
        seed_only: false,
    };
    run_to_completion(add, &opts).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "downloaded {} ({} bytes) in {:.1} s ({:.1} MiB/s)",
        m.info.name,
        m.info.total_length,
        secs,
        m.info.total_length as f64 / (1024.0 * 1024.0) / secs.max(0.001)
    );
    Ok(())
}

/// `download_piece`: one verified piece to the file `out`.
pub async fn download_piece(torrent: &Path, index: u32, out: &Path, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let count = m.info.piece_count();
    if index >= count {
        bail!("piece {index} does not exist: the torrent has {count} pieces (0..={})", count.saturating_sub(1));
    }
    // The engine downloads into a scratch folder beside the output; the piece is then copied out.
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).wrap_err_with(|| format!("create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".fast-peer-piece-")
        .tempdir_in(parent)
        .wrap_err("create a scratch folder")?;
    let target = OutputTarget::Dir(scratch.path().to_path_buf());
    let add = AddTorrent {
        metainfo: m.clone(),
        target: target.clone(),
        peers: opts.peers.clone(),
        wanted_pieces: Some(vec![index]),
        use_trackers: true,
        seed_only: false,
    };
    run_to_completion(add, &opts).await?;
    let storage = Storage::open(&m.info, &target).wrap_err("reopen the scratch data")?;
    let mut buf = vec![0u8; m.info.piece_size(index) as usize];
    storage.read_block(index, 0, &mut buf).wrap_err("read the piece back")?;
    let tmp: PathBuf = scratch.path().join(".piece");
    std::fs::write(&tmp, &buf).wrap_err("write the piece")?;
    std::fs::rename(&tmp, out).wrap_err_with(|| format!("write {}", out.display()))?;
    Ok(())
}
