//! One function per subcommand. What goes to stdout is a contract that scripts and tests rely
//! on (the formats are given in the issues); progress and diagnostics go to stderr.

use crate::engine::dht::{DhtConfig, LookupEvent};
use crate::engine::event::DhtNodeState;
use crate::engine::event::{EngineEvent, TorrentSnapshot};
use crate::engine::storage::{OutputTarget, Storage};
use crate::engine::tracker::announce_tiers;
use crate::engine::{AddMagnet, AddTorrent, EngineConfig, spawn};
use crate::proto::bencode;
use crate::proto::extension::ExtensionHandshake;
use crate::proto::handshake::Handshake;
use crate::proto::handshake::Reserved;
use crate::proto::id::InfoHash;
use crate::proto::id::{PeerId, to_hex};
use crate::proto::magnet::Magnet;
use crate::proto::message::{DEFAULT_MAX_MESSAGE_LEN, Message};
use crate::proto::metainfo::{MAX_TORRENT_FILE, Metainfo};
use crate::proto::tracker::{AnnounceRequest, Event};
use color_eyre::Result;
use color_eyre::eyre::{WrapErr, bail, eyre};
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
    /// Regular upload slots (0 = the engine's default).
    pub upload_slots: usize,
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
}

/// `decode`: a bencoded value (literal, `-` for stdin, `@FILE`) as compact JSON.
pub fn decode(arg: &str) -> Result<()> {
    let bytes = if arg == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .wrap_err("read stdin")?;
        v
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read(path).wrap_err_with(|| format!("read {path}"))?
    } else {
        arg.as_bytes().to_vec()
    };
    let (value, used) = bencode::decode_prefix(&bytes)
        .and_then(|v| {
            v.ok_or(bencode::BencodeError::UnexpectedEof {
                offset: bytes.len(),
            })
        })
        .wrap_err("decode bencode")?;
    // like libtorrent, what follows the value is ignored; say so
    if used < bytes.len() {
        eprintln!(
            "fast-peer: ignored {} bytes after the value",
            bytes.len() - used
        );
    }
    println!("{}", bencode::to_json(&value));
    Ok(())
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

fn first_tracker(m: &Metainfo) -> String {
    m.announce
        .clone()
        .or_else(|| m.trackers().into_iter().flatten().next())
        .unwrap_or_default()
}

/// `info`: the torrent's key facts.
pub fn info(path: &Path) -> Result<()> {
    let m = load_torrent(path)?;
    std::io::stdout().write_all(format_info(&m).as_bytes())?;
    Ok(())
}

/// The `info` / `magnet_info` text: tracker, length, info hash, piece length, piece hashes,
/// then (multi-file) the name and the files.
pub fn format_info(m: &Metainfo) -> String {
    let mut out = String::new();
    out.push_str(&format!("Tracker URL: {}\n", first_tracker(m)));
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
    out
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
pub async fn handshake(
    path: &Path,
    peer: SocketAddr,
    encryption: crate::engine::conn::Encryption,
) -> Result<()> {
    let m = load_torrent(path)?;
    // the engine's dialer: our full reserved bits, and only the BEP 10 bit for a peer that
    // hangs up on them (the course's test peers)
    let dialer = crate::engine::conn::Dialer::new(encryption);
    let (_, theirs) = dialer
        .connect(peer, m.info_hash, PeerId::generate())
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err_with(|| format!("handshake with {peer}"))?;
    println!("Peer ID: {}", theirs.peer_id);
    Ok(())
}

/// The engine configuration the swarm options describe (also used by the dashboard).
pub fn engine_config(opts: &SwarmOptions) -> EngineConfig {
    let mut cfg = EngineConfig::default();
    if let Some(p) = opts.port {
        cfg.listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, p));
        cfg.listen_fallback = false;
    }
    cfg.upload_limit = opts.upload_limit;
    cfg.dht = opts.dht.clone();
    cfg.encryption = opts.encryption;
    if opts.upload_slots > 0 {
        cfg.upload_slots = opts.upload_slots;
    }
    cfg
}

/// When [`run_torrent`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
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
async fn run_torrent(
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

/// `download`: the whole torrent to `target`.
pub async fn download(torrent: &Path, target: OutputTarget, opts: SwarmOptions) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let started = Instant::now();
    let until = if opts.seed {
        Until::Interrupted
    } else {
        Until::Complete
    };
    run_torrent(
        torrent_job(&m, target, &opts, None, false),
        &opts,
        until,
        |_, _| {},
    )
    .await?;
    report_done(&m, started);
    Ok(())
}

fn report_done(m: &Metainfo, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "downloaded {} ({} bytes) in {:.1} s ({:.1} MiB/s)",
        m.info.name,
        m.info.total_length,
        secs,
        m.info.total_length as f64 / (1024.0 * 1024.0) / secs.max(0.001)
    );
}

/// `download_piece`: one verified piece to the file `out`.
pub async fn download_piece(
    torrent: &Path,
    index: u32,
    out: &Path,
    opts: SwarmOptions,
) -> Result<()> {
    let m = Arc::new(load_torrent(torrent)?);
    let count = m.info.piece_count();
    if index >= count {
        bail!(
            "piece {index} does not exist: the torrent has {count} pieces (0..={})",
            count.saturating_sub(1)
        );
    }
    fetch_piece(index, out, &opts, |target| {
        torrent_job(&m, target, &opts, Some(vec![index]), false)
    })
    .await
}

/// Download piece `index` into a scratch folder beside `out` (the engine needs a layout to
/// write to), then copy the verified piece to `out`.
async fn fetch_piece(
    index: u32,
    out: &Path,
    opts: &SwarmOptions,
    job: impl FnOnce(OutputTarget) -> Job,
) -> Result<()> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).wrap_err_with(|| format!("create {}", parent.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".fast-peer-piece-")
        .tempdir_in(parent)
        .wrap_err("create a scratch folder")?;
    let target = OutputTarget::Dir(scratch.path().to_path_buf());
    let run = run_torrent(job(target.clone()), opts, Until::Complete, |_, _| {}).await?;
    let m = run
        .metainfo
        .ok_or_else(|| eyre!("the engine finished without metadata"))?;
    let storage = Storage::open_read_only(&m.info, &target).wrap_err("reopen the scratch data")?;
    let mut buf = vec![0u8; m.info.piece_size(index) as usize];
    storage
        .read_block(index, 0, &mut buf)
        .wrap_err("read the piece back")?;
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
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a rate: {s:?} (try 500K or 2M)"))?;
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
        let first = m
            .info
            .files
            .iter()
            .find(|f| f.length > 0)
            .map(|f| f.path.join("/"));
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
    let info_hash = m.info_hash;
    let last = run_torrent(
        torrent_job(&m, target, &opts, None, true),
        &opts,
        Until::Interrupted,
        |engine, t| {
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
        },
    )
    .await?
    .last;
    if let Some(t) = last {
        eprintln!("stopped after sending {} bytes", t.uploaded);
    }
    Ok(())
}

// ---- magnet links (BEP 9) ---------------------------------------------------------------

pub fn parse_magnet(uri: &str) -> Result<Magnet> {
    uri.parse::<Magnet>()
        .map_err(|e| eyre!("{e}"))
        .wrap_err("parse magnet link")
}

/// `magnet_parse`: the tracker and info hash of a magnet link.
pub fn magnet_parse(uri: &str) -> Result<()> {
    let m = parse_magnet(uri)?;
    let mut out = format!(
        "Tracker URL: {}\n",
        m.trackers.first().cloned().unwrap_or_default()
    );
    out.push_str(&format!("Info Hash: {}\n", m.info_hash));
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

fn torrent_job(
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
    })
}

fn magnet_job(
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
    })
}

/// `magnet_info`: fetch the metadata from peers and print it like `info`.
pub async fn magnet_info(uri: &str, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let scratch = tempfile::Builder::new()
        .prefix("fast-peer-magnet-")
        .tempdir()
        .wrap_err("create a scratch folder")?;
    let job = magnet_job(
        &m,
        OutputTarget::Dir(scratch.path().to_path_buf()),
        &opts,
        Some(Vec::new()),
    );
    let run = run_torrent(job, &opts, Until::Metadata, |_, _| {}).await?;
    let meta = run.metainfo.ok_or_else(|| eyre!("no metadata received"))?;
    std::io::stdout().write_all(format_info(&meta).as_bytes())?;
    Ok(())
}

/// `magnet_download_piece`: one verified piece of a magnet's torrent.
pub async fn magnet_download_piece(
    uri: &str,
    index: u32,
    out: &Path,
    opts: SwarmOptions,
) -> Result<()> {
    let m = parse_magnet(uri)?;
    fetch_piece(index, out, &opts, |target| {
        magnet_job(&m, target, &opts, Some(vec![index]))
    })
    .await
}

/// `magnet_download`: metadata first, then the whole torrent on the same connections.
pub async fn magnet_download(uri: &str, target: OutputTarget, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let started = Instant::now();
    let until = if opts.seed {
        Until::Interrupted
    } else {
        Until::Complete
    };
    let run = run_torrent(magnet_job(&m, target, &opts, None), &opts, until, |_, _| {}).await?;
    if let Some(meta) = run.metainfo {
        report_done(&meta, started);
    }
    Ok(())
}

/// Peers to try for a one-shot connection: `--peer`, then `x.pe`, then the trackers.
async fn candidate_peers(
    info_hash: InfoHash,
    tiers: &[Vec<String>],
    given: &[SocketAddr],
    left: u64,
) -> Result<Vec<SocketAddr>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if tiers.is_empty() {
        bail!("no peer given and no tracker to ask");
    }
    let req = AnnounceRequest {
        info_hash,
        peer_id: PeerId::generate(),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left,
        event: Event::Started,
        numwant: Some(50),
        key: rand::random(),
        tracker_id: None,
    };
    let (_url, resp) = announce_tiers(tiers, &req, Duration::from_secs(15))
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("announce to the trackers")?;
    if resp.peers.is_empty() {
        bail!("the trackers know no peers for {info_hash}");
    }
    Ok(resp.peers)
}

/// Both sides of a negotiated handshake (BEP 3 + BEP 10).
pub struct Negotiated {
    pub addr: SocketAddr,
    pub ours: Handshake,
    pub theirs: Handshake,
    pub our_ext: ExtensionHandshake,
    pub their_ext: Option<ExtensionHandshake>,
}

/// Connect, exchange BEP 3 handshakes, then BEP 10 extension handshakes (when the peer sets
/// the extension bit), skipping any other message the peer sends first.
pub async fn negotiate(
    addr: SocketAddr,
    info_hash: InfoHash,
    encryption: crate::engine::conn::Encryption,
) -> Result<Negotiated> {
    let peer_id = PeerId::generate();
    let fut = async {
        let dialer = crate::engine::conn::Dialer::new(encryption);
        let (mut conn, theirs) = dialer
            .connect(addr, info_hash, peer_id)
            .await
            .map_err(|e| eyre!("{e}"))
            .wrap_err_with(|| format!("handshake with {addr}"))?;
        let ours = Handshake {
            reserved: conn.reserved(),
            info_hash,
            peer_id,
        };
        let our_ext =
            crate::engine::conn::our_extension_handshake(None, true, None, Some(addr.ip()));
        if !conn.negotiated(&theirs, Reserved::EXTENSION) {
            return Ok(Negotiated {
                addr,
                ours,
                theirs,
                our_ext,
                their_ext: None,
            });
        }
        // our extension handshake is the first message after the handshake (strict peers
        // expect nothing else first)
        conn.send(&Message::Extended {
            id: 0,
            payload: bytes::Bytes::from(our_ext.encode()),
        });
        conn.flush().await.wrap_err("send extension handshake")?;
        loop {
            while let Some(m) = conn
                .next_message(DEFAULT_MAX_MESSAGE_LEN)
                .map_err(|e| eyre!("{e}"))?
            {
                if let Message::Extended { id: 0, payload } = m {
                    let ext = ExtensionHandshake::decode(&payload)
                        .map_err(|e| eyre!("{e}"))
                        .wrap_err("decode the peer's extension handshake")?;
                    return Ok(Negotiated {
                        addr,
                        ours,
                        theirs,
                        our_ext,
                        their_ext: Some(ext),
                    });
                }
            }
            match conn.transfer(true).await {
                Ok(_) => {}
                Err(crate::engine::error::PeerError::Protocol(_)) => {
                    bail!("{addr} closed the connection before its extension handshake")
                }
                Err(e) => return Err(eyre!("{e}")),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(15), fut)
        .await
        .map_err(|_| eyre!("{addr}: timed out"))?
}

/// Try peers in order until one negotiates.
async fn negotiate_any(
    peers: &[SocketAddr],
    info_hash: InfoHash,
    encryption: crate::engine::conn::Encryption,
) -> Result<Negotiated> {
    let mut errors = Vec::new();
    for p in peers {
        match negotiate(*p, info_hash, encryption).await {
            Ok(n) => return Ok(n),
            Err(e) => errors.push(format!("{p}: {e:#}")),
        }
    }
    bail!("no peer answered: {}", errors.join("; "))
}

/// `magnet_handshake`: the peer's id and the id it gave `ut_metadata`.
pub async fn magnet_handshake(uri: &str, opts: SwarmOptions) -> Result<()> {
    let m = parse_magnet(uri)?;
    let mut given = opts.peers.clone();
    given.extend(m.peers.iter().copied());
    let tiers: Vec<Vec<String>> = m.trackers.iter().map(|t| vec![t.clone()]).collect();
    let peers = candidate_peers(m.info_hash, &tiers, &given, 1).await?;
    let n = negotiate_any(&peers, m.info_hash, opts.encryption).await?;
    let id = n
        .their_ext
        .as_ref()
        .and_then(|e| e.m.get(crate::proto::extension::UT_METADATA).copied())
        .ok_or_else(|| eyre!("{} does not support ut_metadata", n.addr))?;
    println!("Peer ID: {}", n.theirs.peer_id);
    println!("Peer Metadata Extension ID: {id}");
    Ok(())
}

fn reserved_names(r: &Reserved) -> Vec<&'static str> {
    r.names()
}

fn side_json(h: &Handshake, ext: Option<&ExtensionHandshake>) -> serde_json::Value {
    use serde_json::json;
    let ext = ext.map(|e| {
        json!({
            "m": e.m,
            "v": e.v,
            "p": e.p,
            "reqq": e.reqq,
            "yourip": e.yourip.map(|ip| ip.to_string()),
            "metadata_size": e.metadata_size,
            "upload_only": e.upload_only,
        })
    });
    json!({
        "peer_id": h.peer_id.to_string(),
        "client": h.peer_id.client(),
        "reserved": to_hex(&h.reserved.0),
        "reserved_bits": reserved_names(&h.reserved),
        "extension_handshake": ext,
    })
}

/// The text form of `nhandshake`: one row per field, ours next to theirs.
pub fn format_negotiated(n: &Negotiated) -> String {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    rows.push((
        "Peer ID".into(),
        n.ours.peer_id.to_string(),
        n.theirs.peer_id.to_string(),
    ));
    rows.push((
        "Client".into(),
        opt(n.ours.peer_id.client()),
        opt(n.theirs.peer_id.client()),
    ));
    rows.push((
        "Reserved".into(),
        to_hex(&n.ours.reserved.0),
        to_hex(&n.theirs.reserved.0),
    ));
    for (bit, name) in [
        (Reserved::EXTENSION, "extension protocol"),
        (Reserved::DHT, "dht"),
        (Reserved::FAST, "fast"),
    ] {
        let yn = |r: &Reserved| {
            if r.has(bit) {
                "yes".to_string()
            } else {
                "no".to_string()
            }
        };
        rows.push((
            format!("  {name}"),
            yn(&n.ours.reserved),
            yn(&n.theirs.reserved),
        ));
    }
    let theirs = n.their_ext.as_ref();
    let mut names: Vec<&String> = n.our_ext.m.keys().collect();
    if let Some(t) = theirs {
        names.extend(t.m.keys());
    }
    names.sort();
    names.dedup();
    for name in names {
        let get = |e: Option<&ExtensionHandshake>| {
            opt(e.and_then(|e| e.m.get(name)).map(|v| v.to_string()))
        };
        rows.push((format!("m.{name}"), get(Some(&n.our_ext)), get(theirs)));
    }
    let field = |f: &dyn Fn(&ExtensionHandshake) -> Option<String>| {
        (opt(f(&n.our_ext)), opt(theirs.and_then(f)))
    };
    for (name, (a, b)) in [
        ("v", field(&|e| e.v.clone())),
        ("p", field(&|e| e.p.map(|v| v.to_string()))),
        ("reqq", field(&|e| e.reqq.map(|v| v.to_string()))),
        ("yourip", field(&|e| e.yourip.map(|v| v.to_string()))),
        (
            "metadata_size",
            field(&|e| e.metadata_size.map(|v| v.to_string())),
        ),
        (
            "upload_only",
            field(&|e| e.upload_only.map(|v| v.to_string())),
        ),
    ] {
        rows.push((name.to_string(), a, b));
    }
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let w1 = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let mut out = format!("Peer: {}\n", n.addr);
    if theirs.is_none() {
        out.push_str("The peer does not support the extension protocol (BEP 10).\n");
    }
    out.push_str(&format!("{:w0$}  {:w1$}  {}\n", "", "ours", "theirs"));
    for (a, b, c) in rows {
        out.push_str(&format!("{a:w0$}  {b:w1$}  {c}\n"));
    }
    out
}

/// `nhandshake`: the full negotiated handshake with one peer, both sides.
pub async fn nhandshake(
    source: &str,
    peer: Option<SocketAddr>,
    json: bool,
    opts: SwarmOptions,
) -> Result<()> {
    let (info_hash, tiers, mut given, left) = if source.starts_with("magnet:") {
        let m = parse_magnet(source)?;
        (
            m.info_hash,
            m.trackers
                .iter()
                .map(|t| vec![t.clone()])
                .collect::<Vec<_>>(),
            m.peers.clone(),
            1,
        )
    } else {
        let m = load_torrent(Path::new(source))?;
        (m.info_hash, m.trackers(), Vec::new(), m.info.total_length)
    };
    given.extend(opts.peers.iter().copied());
    let peers = match peer {
        Some(p) => vec![p],
        None => candidate_peers(info_hash, &tiers, &given, left).await?,
    };
    let n = negotiate_any(&peers, info_hash, opts.encryption).await?;
    if json {
        let v = serde_json::json!({
            "peer": n.addr.to_string(),
            "info_hash": info_hash.to_string(),
            "ours": side_json(&n.ours, Some(&n.our_ext)),
            "theirs": side_json(&n.theirs, n.their_ext.as_ref()),
        });
        println!("{v}");
    } else {
        std::io::stdout().write_all(format_negotiated(&n).as_bytes())?;
    }
    Ok(())
}

// ---- the DHT (BEP 5) ----------------------------------------------------------------------

fn need_dht(opts: &SwarmOptions) -> Result<DhtConfig> {
    opts.dht
        .clone()
        .ok_or_else(|| eyre!("the dht command needs the DHT: drop --no-dht"))
}

/// `dht MAGNET`: peers from the DHT only (no tracker), metadata, download, verify; the engine
/// announces us to the DHT as it goes.
pub async fn dht_download(uri: &str, target: OutputTarget, mut opts: SwarmOptions) -> Result<()> {
    need_dht(&opts)?;
    opts.no_trackers = true;
    magnet_download(uri, target, opts).await
}

/// `dht --lookup HASH`: stdout one `IP:PORT` per peer; stderr nodes asked and time taken.
pub async fn dht_lookup(hash: &str, opts: &SwarmOptions) -> Result<()> {
    let info_hash: InfoHash = hash
        .trim()
        .parse()
        .map_err(|e| eyre!("{e}"))
        .wrap_err("parse the info hash")?;
    let node = crate::engine::dht::spawn(need_dht(opts)?)
        .await
        .wrap_err("start the DHT node")?;
    let started = Instant::now();
    let table = node.bootstrapped().await;
    eprintln!(
        "bootstrapped: {table} nodes in the routing table after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut found = node.get_peers(info_hash);
    let mut peers = 0usize;
    let mut stdout = std::io::stdout();
    while let Some(ev) = found.recv().await {
        match ev {
            LookupEvent::Peer(p) => {
                peers += 1;
                writeln!(stdout, "{p}")?;
                stdout.flush()?;
            }
            LookupEvent::Done {
                queried,
                timed_out,
                elapsed,
                ..
            } => {
                eprintln!(
                    "queried {queried} nodes ({timed_out} timed out) in {:.2} s; {peers} peers",
                    elapsed.as_secs_f64()
                );
            }
        }
    }
    node.shutdown().await;
    Ok(())
}

/// `dht --table`: bootstrap, let the bucket refreshes run, print the routing table.
pub async fn dht_table(opts: &SwarmOptions) -> Result<()> {
    let node = crate::engine::dht::spawn(need_dht(opts)?)
        .await
        .wrap_err("start the DHT node")?;
    node.bootstrapped().await;
    // the refresh lookups that follow the bootstrap fill the far buckets: give them a moment
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let busy = node
            .snapshot()
            .is_some_and(|s| s.lookups.iter().any(|l| !l.done));
        if !busy || Instant::now() > deadline {
            break;
        }
    }
    let snap = node
        .snapshot()
        .ok_or_else(|| eyre!("the DHT node did not start"))?;
    let mut out = format!("Node ID: {}\nPort: {}\n", snap.node_id, snap.port);
    out.push_str(&format!(
        "{:<6}  {:<40}  {:<21}  {:<12}  {}\n",
        "bucket", "node id", "address", "state", "last seen"
    ));
    for b in &snap.buckets {
        for n in &b.nodes {
            let state = match n.state {
                DhtNodeState::Good => "good",
                DhtNodeState::Questionable => "questionable",
                DhtNodeState::Bad => "bad",
            };
            let seen = n
                .last_seen
                .map(|d| format!("{:.1}s ago", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into());
            out.push_str(&format!(
                "{:<6}  {}  {:<21}  {:<12}  {}\n",
                b.prefix_len,
                n.id,
                n.addr.to_string(),
                state,
                seen
            ));
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    node.shutdown().await;
    Ok(())
}

/// `create`: a v1 .torrent of a file or a folder, hashed on every core.
pub fn create(opts: crate::engine::create::CreateOptions, out: &Path) -> Result<()> {
    let progress = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let created = crate::engine::create::create_torrent(&opts, |done, total| {
        if progress && (last.elapsed() > Duration::from_millis(200) || done == total) {
            last = Instant::now();
            eprint!("\rhashing {done}/{total} pieces   ");
        }
    })
    .wrap_err_with(|| format!("create a torrent of {}", opts.path.display()))?;
    if progress {
        eprintln!();
    }
    std::fs::write(out, &created.bytes).wrap_err_with(|| format!("write {}", out.display()))?;
    let m = &created.metainfo;
    println!("Info Hash: {}", m.info_hash);
    println!(
        "Pieces: {} x {} bytes",
        m.info.piece_count(),
        m.info.piece_length
    );
    println!("Length: {}", m.info.total_length);
    Ok(())
}

/// `demo`: the embedded swarm on loopback and a download from it.
pub async fn demo(dir: Option<PathBuf>) -> Result<()> {
    let opts = crate::engine::swarm::DemoOptions {
        dir,
        ..Default::default()
    };
    crate::engine::swarm::run_demo_no_tui(opts)
        .await
        .map_err(|e| eyre!("{e}"))
        .wrap_err("demo swarm")
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
