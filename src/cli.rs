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
    /// Upload cap in bytes per second.
    pub upload_limit: Option<u64>,
    /// Keep seeding after the download completes.
    pub seed: bool,
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
    cfg.upload_limit = opts.upload_limit;
    cfg
}

/// When [`run_torrent`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// As soon as every wanted piece is verified.
    Complete,
    /// Keep serving after completion until Ctrl-C or SIGTERM.
    Interrupted,
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Run the engine on one torrent; `on_ready` runs once the data check is done and the torrent
/// is live. Returns the last snapshot.
async fn run_torrent(
    add: AddTorrent,
    opts: &SwarmOptions,
    until: Until,
    mut on_ready: impl FnMut(&crate::engine::EngineHandle, &TorrentSnapshot),
) -> Result<Option<TorrentSnapshot>> {
    let (engine, mut events) = spawn(engine_config(opts)).await.wrap_err("start the engine")?;
    let id = engine.add_torrent(add).await.wrap_err("add the torrent")?;
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
                Some(EngineEvent::Snapshot(s)) => {
                    if let Some(t) = s.torrents.into_iter().find(|t| t.id == id) {
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
            _ = interrupted() => {
                if progress {
                    eprintln!();
                }
                engine.shutdown().await;
                if until == Until::Interrupted {
                    return Ok(last);
                }
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

fn progress_line(t: &TorrentSnapshot, seeding: bool) -> String {
    let done = t.total_length - t.bytes_left.min(t.total_length);
    let pct = if t.total_length == 0 { 100.0 } else { done as f64 * 100.0 / t.total_length as f64 };
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
    let until = if opts.seed { Until::Interrupted } else { Until::Complete };
    run_torrent(add, &opts, until, |_, _| {}).await?;
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
    run_torrent(add, &opts, Until::Complete, |_, _| {}).await?;
    let storage = Storage::open(&m.info, &target).wrap_err("reopen the scratch data")?;
    let mut buf = vec![0u8; m.info.piece_size(index) as usize];
    storage.read_block(index, 0, &mut buf).wrap_err("read the piece back")?;
    let tmp: PathBuf = scratch.path().join(".piece");
    std::fs::write(&tmp, &buf).wrap_err("write the piece")?;
    std::fs::rename(&tmp, out).wrap_err_with(|| format!("write {}", out.display()))?;
    Ok(())
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
    let n: f64 = num.trim().parse().map_err(|_| format!("not a rate: {s:?} (try 500K or 2M)"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(format!("a rate must be positive: {s:?}"));
    }
    Ok((n * mult).round().max(1.0) as u64)
}

/// Where `--data PATH` points for `seed`: the file itself (single-file torrent) or the root
/// folder (multi-file), or a folder that contains the torrent's name, like a save path.
pub fn seed_target(m: &Metainfo, data: &Path) -> OutputTarget {
    let named = data.join(&m.info.name);
    if m.info.is_multi_file {
        let first = m.info.files.iter().find(|f| f.length > 0).map(|f| f.path.join("/"));
        let direct = first.as_ref().is_some_and(|p| data.join(p).exists());
        if !direct && named.is_dir() {
            return OutputTarget::Dir(data.to_path_buf());
        }
        OutputTarget::Exact(data.to_path_buf())
    } else if data.is_dir() {
        OutputTarget::Dir(data.to_path_buf())
    } else {
        OutputTarget::Exact(data.to_path_buf())
    }
}

/// `seed`: verify the data, announce, and serve until interrupted.
pub async fn seed(torrent: &Path, data: &Path, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let target = seed_target(&m, data);
    let add = AddTorrent {
        metainfo: m.clone(),
        target,
        peers: opts.peers.clone(),
        wanted_pieces: None,
        use_trackers: true,
        seed_only: true,
    };
    let info_hash = m.info_hash;
    let last = run_torrent(add, &opts, Until::Interrupted, |engine, t| {
        // stdout contract: these lines, then "Seeding" once the data is checked and served
        println!("Info Hash: {info_hash}");
        println!("Port: {}", engine.listen_port());
        println!("Pieces: {}/{}", t.pieces_verified, t.piece_count);
        println!("Seeding");
        if t.pieces_verified < t.piece_count {
            eprintln!(
                "warning: only {} of {} pieces verified; serving those",
                t.pieces_verified, t.piece_count
            );
        }
    })
    .await?;
    if let Some(t) = last {
        eprintln!("stopped after sending {} bytes", t.uploaded);
    }
    Ok(())
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
