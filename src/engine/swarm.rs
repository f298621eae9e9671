//! The embedded demo swarm behind `fast-peer demo`: deterministic content, its torrent, a small
//! HTTP tracker and several seeders, all inside this process on 127.0.0.1, ready for a leecher.
//!
//! Everything here is the real engine: each seeder is an [`engine::spawn`](crate::engine::spawn)
//! with `seed_only`, each leecher a normal engine that finds the others through the tracker.
//! Nothing binds to anything but 127.0.0.1, every port comes from the kernel (`:0`), and the
//! temporary folder (unless the user gave `--dir`) is removed when the [`DemoSwarm`] goes away.
//!
//! # Pieces
//! - **Content** ([`DemoFile`]): a folder of files in nested folders (a zero-length one and a
//!   name with a space among them; files start and end mid-piece). Bytes come from a
//!   counter-based SplitMix64 stream seeded by the file's path, so any byte can be recomputed at
//!   any offset: every run is identical and verification needs no second copy.
//! - **Torrent**: made by [`create_torrent`] from the written folder (files in sorted order,
//!   256 KiB pieces, no creation date), so the info hash is the same on every run.
//! - **Tracker** ([`Tracker`], logic in [`TrackerState`]): `GET /announce` only (BEP 3), compact
//!   answers (BEP 23) with `complete`/`incomplete` and a short [`TRACKER_INTERVAL`] so late
//!   joiners are found quickly. The peer address is the connection's source IP and the `port`
//!   parameter; a seed is sent only leechers. Requests are bounded ([`MAX_REQUEST`] bytes, [`REQUEST_TIMEOUT`],
//!   [`MAX_CONNECTIONS`] at once); garbage gets a 4xx with a bencoded `failure reason`.
//! - **Seeders** ([`SeederProfile::demo`]): one unlimited, one steady (4 MiB/s), one slow
//!   (256 KiB/s) and one that corrupts about one piece in eight, so hash failures and the ban that
//!   follows them are visible.
//!
//! - **DHT**: a loopback DHT node (BEP 5) the seeders bootstrap from and announce the torrent
//!   into; [`DemoSwarm::dht_config`] lets a leecher join that little DHT (the dashboard's DHT
//!   pane then shows real buckets and lookups). Never the public bootstrap routers.
//!
//! [`run_demo_no_tui`] is `fast-peer demo --no-tui`: swarm, one leecher, progress lines on stdout,
//! byte-for-byte verification, cleanup.

use crate::engine::conn::Encryption;
use crate::engine::create::{CreateOptions, FileOrder, create_torrent};
use crate::engine::dht::{self, DhtConfig, DhtHandle};
use crate::engine::event::{EngineEvent, PeerCloseReason, TorrentId, TorrentSnapshot};
use crate::engine::storage::OutputTarget;
use crate::engine::{AddTorrent, EngineConfig, EngineError, EngineHandle, Faults, spawn};
use crate::proto::bencode::{self, Value};
use crate::proto::metainfo::Metainfo;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// The torrent's name (the top folder of the content).
pub const DEMO_NAME: &str = "fast-peer-demo";
/// Piece length of the demo torrent.
pub const PIECE_LENGTH: u32 = 256 * 1024;
/// Default content size.
pub const DEFAULT_SIZE: u64 = 48 * 1024 * 1024;
/// Smallest content size accepted (smaller requests are rounded up).
pub const MIN_SIZE: u64 = 64 * 1024;
/// How long [`run_demo_no_tui`] may take in all.
pub const DEMO_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the seeders may take to check their data and reach the tracker.
const SEEDER_READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("demo torrent: {0}")]
    Metainfo(String),
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {} s: {what}", .after.as_secs())]
    Timeout { after: Duration, what: String },
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("interrupted")]
    Interrupted,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SwarmError {
    let what = what.into();
    move |source| SwarmError::Io { what, source }
}

// ---------------------------------------------------------------------------------------------
// Content
// ---------------------------------------------------------------------------------------------

const README: &str = "fast-peer demo content\n\
\n\
Every byte of the other files comes from a SplitMix64 stream seeded by the file's path, so each\n\
run of `fast-peer demo` produces the same torrent and the download can be checked byte for byte.\n\
The swarm: an HTTP tracker and several fast-peer seeders on 127.0.0.1, one of them slow and one\n\
that corrupts a piece now and then.\n";

/// Where a demo file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Text(&'static str),
    Stream(u64),
}

/// One file of the demo content, path relative to the torrent's top folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFile {
    pub path: Vec<String>,
    pub length: u64,
    source: Source,
}

impl DemoFile {
    fn stream(path: &str, length: u64) -> DemoFile {
        // FNV-1a of the path: a stable seed per file
        let seed = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        DemoFile {
            path: path.split('/').map(String::from).collect(),
            length,
            source: Source::Stream(seed),
        }
    }

    /// The file's bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        match self.source {
            Source::Text(t) => {
                let start = (offset as usize).min(t.len());
                let end = (start + buf.len()).min(t.len());
                buf[..end - start].copy_from_slice(&t.as_bytes()[start..end]);
                buf[end - start..].fill(0);
            }
            Source::Stream(seed) => {
                let (mut pos, mut i) = (offset, 0);
                while i < buf.len() {
                    let word = splitmix64(seed ^ (pos / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .to_le_bytes();
                    let skip = (pos % 8) as usize;
                    let n = (8 - skip).min(buf.len() - i);
                    buf[i..i + n].copy_from_slice(&word[skip..skip + n]);
                    i += n;
                    pos += n as u64;
                }
            }
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The demo files for about `size` bytes of content, in torrent order.
pub fn demo_files(size: u64) -> Vec<DemoFile> {
    let size = size.max(MIN_SIZE);
    // (path, share of the size in per mille); the odd offsets make files end mid-piece
    let shares = [
        ("video/big buck demo.bin", 420),
        ("video/extras/trailer.bin", 180),
        ("data/set-a/part-1.bin", 150),
        ("data/set-a/part-2.bin", 120),
        ("data/set-b/deep/nested/tail.bin", 0), // the rest
    ];
    let mut files = vec![DemoFile {
        path: vec!["README.txt".into()],
        length: README.len() as u64,
        source: Source::Text(README),
    }];
    let mut used = 0;
    for (path, share) in shares {
        let length = if share == 0 {
            size - used
        } else {
            (size * share / 1000).saturating_sub(4099)
        };
        used += length;
        files.push(DemoFile::stream(path, length));
    }
    files.insert(2, DemoFile::stream("notes/empty file.txt", 0));
    files
}

/// Write `files` under `dir/DEMO_NAME/`, replacing whatever was there.
fn write_content(dir: &Path, files: &[DemoFile]) -> Result<(), SwarmError> {
    let top = dir.join(DEMO_NAME);
    if top.exists() {
        // a previous run under --dir: stray files would end up in the torrent
        std::fs::remove_dir_all(&top).map_err(io_err(format!("remove {}", top.display())))?;
    }
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let path = f.path.iter().fold(dir.join(DEMO_NAME), |p, c| p.join(c));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("create {}", parent.display())))?;
        }
        let mut out =
            std::fs::File::create(&path).map_err(io_err(format!("create {}", path.display())))?;
        let mut offset = 0;
        while offset < f.length {
            let n = (f.length - offset).min(buf.len() as u64) as usize;
            f.fill(offset, &mut buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io_err(format!("write {}", path.display())))?;
            offset += n as u64;
        }
    }
    Ok(())
}

/// Write the content under `dir` and make its torrent.
fn make_torrent(
    dir: &Path,
    files: &[DemoFile],
    announce: String,
) -> Result<(Vec<u8>, Metainfo), SwarmError> {
    write_content(dir, files)?;
    let mut opts = CreateOptions::new(dir.join(DEMO_NAME));
    opts.trackers = vec![vec![announce]];
    opts.piece_length = Some(PIECE_LENGTH);
    opts.order = FileOrder::Sorted;
    opts.comment = Some("fast-peer demo swarm (deterministic content)".into());
    let t = create_torrent(&opts, |_, _| {}).map_err(|e| SwarmError::Metainfo(e.to_string()))?;
    Ok((t.bytes, t.metainfo))
}

/// Compare the files under `target` with the demo content, byte for byte.
fn verify_files(files: &[DemoFile], target: &Path) -> Result<(), SwarmError> {
    let mut want = vec![0u8; 1 << 20];
    let mut got = vec![0u8; 1 << 20];
    for f in files {
        let path = f.path.iter().fold(target.join(DEMO_NAME), |p, c| p.join(c));
        let shown = path.display();
        let mut file = std::fs::File::open(&path)
            .map_err(|e| SwarmError::Verify(format!("open {shown}: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| SwarmError::Verify(format!("stat {shown}: {e}")))?
            .len();
        if len != f.length {
            return Err(SwarmError::Verify(format!(
                "{shown}: expected {} bytes, found {len}",
                f.length
            )));
        }
        let mut offset = 0;
        while offset < f.length {
            let n = (f.length - offset).min(want.len() as u64) as usize;
            f.fill(offset, &mut want[..n]);
            file.read_exact(&mut got[..n])
                .map_err(|e| SwarmError::Verify(format!("read {shown}: {e}")))?;
            if let Some(i) = (0..n).find(|&i| want[i] != got[i]) {
                return Err(SwarmError::Verify(format!(
                    "{shown}: differs at byte {}",
                    offset + i as u64
                )));
            }
            offset += n as u64;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tracker
// ---------------------------------------------------------------------------------------------

/// The re-announce interval the demo tracker asks for (also its `min interval`).
pub const TRACKER_INTERVAL: Duration = Duration::from_secs(5);
/// A peer that has not announced for this long is forgotten.
pub const PEER_TTL: Duration = Duration::from_secs(30);
/// Largest request head read; longer requests are refused.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Time allowed for one request to arrive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
const MAX_TORRENTS: usize = 256;
const MAX_PEERS_PER_TORRENT: usize = 1024;
const DEFAULT_NUMWANT: usize = 50;
const MAX_NUMWANT: usize = 200;

#[derive(Debug, Clone, Copy)]
struct PeerEntry {
    addr: SocketAddrV4,
    seed: bool,
    seen: Instant,
}

/// The tracker's memory: peers per info hash. Plain logic on `now`, no sockets.
#[derive(Debug, Default)]
pub struct TrackerState {
    torrents: HashMap<[u8; 20], HashMap<[u8; 20], PeerEntry>>,
}

/// Decode `%XX` escapes (RFC 3986); every other byte stands for itself.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
            match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(format!("bad percent escape at offset {i}")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn failure(reason: &str) -> Vec<u8> {
    let mut d = BTreeMap::new();
    d.insert(
        b"failure reason".to_vec(),
        Value::Bytes(reason.as_bytes().to_vec()),
    );
    bencode::encode(&Value::Dict(d))
}

impl TrackerState {
    /// Answer one announce whose query string (after `?`) is `query`, from source address `ip`.
    /// `Ok` is the bencoded answer, `Err` the failure reason.
    pub fn announce(&mut self, query: &str, ip: IpAddr, now: Instant) -> Result<Vec<u8>, String> {
        let mut params: HashMap<&str, Vec<u8>> = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(k, percent_decode(v).map_err(|e| format!("{k}: {e}"))?);
        }
        let id20 = |k: &str| -> Result<[u8; 20], String> {
            let v = params.get(k).ok_or(format!("missing {k}"))?;
            <[u8; 20]>::try_from(v.as_slice())
                .map_err(|_| format!("{k} must be 20 bytes, got {}", v.len()))
        };
        let number = |k: &str| -> Result<Option<u64>, String> {
            params
                .get(k)
                .map(|v| {
                    let n = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
                    n.ok_or(format!("{k} is not a number"))
                })
                .transpose()
        };
        let info_hash = id20("info_hash")?;
        let peer_id = id20("peer_id")?;
        let port = match number("port")? {
            Some(p @ 1..=65535) => p as u16,
            _ => return Err("missing or invalid port".into()),
        };
        let left = number("left")?.unwrap_or(1);
        let numwant = number("numwant")?.map_or(DEFAULT_NUMWANT, |n| (n as usize).min(MAX_NUMWANT));
        let ip = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .ok_or("this tracker serves IPv4 peers only")?,
        };
        let stopped = params
            .get("event")
            .is_some_and(|e| e.as_slice() == b"stopped");

        self.torrents.retain(|_, peers| {
            peers.retain(|_, p| now.duration_since(p.seen) < PEER_TTL);
            !peers.is_empty()
        });
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= MAX_TORRENTS {
            return Err("too many torrents".into());
        }
        let peers = self.torrents.entry(info_hash).or_default();
        if stopped {
            peers.remove(&peer_id);
        } else {
            if !peers.contains_key(&peer_id) && peers.len() >= MAX_PEERS_PER_TORRENT {
                return Err("too many peers".into());
            }
            peers.insert(
                peer_id,
                PeerEntry {
                    addr: SocketAddrV4::new(ip, port),
                    seed: left == 0,
                    seen: now,
                },
            );
        }
        let complete = peers.values().filter(|p| p.seed).count();
        let mut compact = Vec::new();
        if !stopped {
            let seed = left == 0;
            // a seed has nothing to gain from other seeds
            let wanted = |(id, p): &(&[u8; 20], &PeerEntry)| **id != peer_id && !(seed && p.seed);
            for (_, p) in peers.iter().filter(wanted).take(numwant) {
                compact.extend_from_slice(&p.addr.ip().octets());
                compact.extend_from_slice(&p.addr.port().to_be_bytes());
            }
        }
        let incomplete = peers.len() - complete;
        if peers.is_empty() {
            self.torrents.remove(&info_hash);
        }
        let secs = TRACKER_INTERVAL.as_secs() as i64;
        let mut d = BTreeMap::new();
        d.insert(b"complete".to_vec(), Value::Int(complete as i64));
        d.insert(b"incomplete".to_vec(), Value::Int(incomplete as i64));
        d.insert(b"interval".to_vec(), Value::Int(secs));
        d.insert(b"min interval".to_vec(), Value::Int(secs));
        d.insert(b"peers".to_vec(), Value::Bytes(compact));
        Ok(bencode::encode(&Value::Dict(d)))
    }

    /// Status and body for one raw request head (everything before the blank line).
    pub fn respond(&mut self, head: &[u8], from: IpAddr, now: Instant) -> (u16, Vec<u8>) {
        let line = head
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let Ok(line) = std::str::from_utf8(line) else {
            return (400, failure("request line is not text"));
        };
        let mut parts = line.split(' ');
        let (Some("GET"), Some(target), Some(v), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return (400, failure("expected GET /announce?... HTTP/1.1"));
        };
        if !v.starts_with("HTTP/1.") {
            return (400, failure("expected HTTP/1.x"));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != "/announce" {
            return (404, failure("only /announce is served here"));
        }
        match self.announce(query, from, now) {
            Ok(body) => (200, body),
            Err(reason) => (400, failure(&reason)),
        }
    }
}

/// The demo's HTTP tracker, serving until dropped.
pub struct Tracker {
    addr: SocketAddr,
    url: String,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // the accept loop owns the connection tasks (a JoinSet), so they end with it
        self.task.abort();
    }
}

impl Tracker {
    /// Bind 127.0.0.1:0 and serve.
    pub async fn start() -> io::Result<Tracker> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(TrackerState::default()));
        let task = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((stream, from)) = acc else { continue };
                        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
                        let state = state.clone();
                        conns.spawn(async move {
                            let _ = tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, from, &state)).await;
                            drop(permit);
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Tracker {
            addr,
            url: format!("http://{addr}/announce"),
            task,
        })
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn announce_url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Read one request head (bounded), answer it, close.
async fn serve(
    mut stream: TcpStream,
    from: SocketAddr,
    state: &Mutex<TrackerState>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (status, body) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            break st.respond(&buf[..end], from.ip(), Instant::now());
        }
        if buf.len() >= MAX_REQUEST {
            break (431, failure("request too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(()); // closed before a whole request
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

// ---------------------------------------------------------------------------------------------
// Seeders and the swarm
// ---------------------------------------------------------------------------------------------

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

    /// e.g. `slow seeder, 256 KiB/s`
    pub fn describe(&self) -> String {
        let rate = match self.upload_limit {
            None => "unlimited".to_string(),
            Some(r) if r >= 1 << 20 => format!("{:.0} MiB/s", r as f64 / (1 << 20) as f64),
            Some(r) => format!("{:.0} KiB/s", r as f64 / 1024.0),
        };
        let rc4 = if self.encryption == Encryption::Required {
            ", RC4 only"
        } else {
            ""
        };
        match self.corrupt_piece_one_in {
            Some(n) => format!(
                "{} seeder, {rate}{rc4}, corrupts ~1 piece in {n}",
                self.label
            ),
            None => format!("{} seeder, {rate}{rc4}", self.label),
        }
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

/// What `fast-peer demo` sets up.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep everything under this folder (kept afterwards); `None` = a temporary folder.
    pub dir: Option<PathBuf>,
    /// Number of seeders (see [`SeederProfile::demo`]).
    pub seeders: usize,
    /// Content size in bytes (about; at least [`MIN_SIZE`]).
    pub size: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            dir: None,
            seeders: 4,
            size: DEFAULT_SIZE,
        }
    }
}

/// Content, torrent, tracker and seeders, running. Layout of [`DemoSwarm::root`]:
/// `seed/fast-peer-demo/...` (the seeders' data), `fast-peer-demo.torrent`, and whatever
/// folders the leechers are given (the demo uses `download/`).
pub struct DemoSwarm {
    root: PathBuf,
    files: Vec<DemoFile>,
    metainfo: Arc<Metainfo>,
    torrent_path: PathBuf,
    seeders: Vec<Seeder>,
    tracker: Tracker,
    /// The node the seeders (and a leecher given [`DemoSwarm::dht_config`]) bootstrap from.
    dht_router: DhtHandle,
    // last, so the folder goes after everything that uses it
    _temp: Option<tempfile::TempDir>,
}

impl DemoSwarm {
    /// The demo swarm: `opts.seeders` seeders from [`SeederProfile::demo`].
    pub async fn start(opts: DemoOptions) -> Result<DemoSwarm, SwarmError> {
        let profiles = SeederProfile::demo(opts.seeders);
        DemoSwarm::start_with(opts, profiles).await
    }

    /// Write the content and torrent, start the tracker and one seeder per profile, and wait
    /// until every seeder has checked its data and announced.
    pub async fn start_with(
        opts: DemoOptions,
        profiles: Vec<SeederProfile>,
    ) -> Result<DemoSwarm, SwarmError> {
        let (root, temp) = match &opts.dir {
            Some(d) => {
                std::fs::create_dir_all(d).map_err(io_err(format!("create {}", d.display())))?;
                (d.clone(), None)
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("fast-peer-demo-")
                    .tempdir()
                    .map_err(io_err("create a temporary folder"))?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let tracker = Tracker::start()
            .await
            .map_err(io_err("start the demo tracker"))?;
        let files = demo_files(opts.size);
        let (seed_dir, list, url) = (
            root.join("seed"),
            files.clone(),
            tracker.announce_url().to_string(),
        );
        let (bytes, metainfo) =
            tokio::task::spawn_blocking(move || make_torrent(&seed_dir, &list, url))
                .await
                .map_err(|e| SwarmError::Failed(format!("content writer: {e}")))??;
        let torrent_path = root.join(format!("{DEMO_NAME}.torrent"));
        std::fs::write(&torrent_path, &bytes)
            .map_err(io_err(format!("write {}", torrent_path.display())))?;
        let metainfo = Arc::new(metainfo);
        let dht_router = dht::spawn(demo_dht_config(Vec::new()))
            .await
            .map_err(io_err("start the demo DHT node"))?;
        let router = SocketAddr::from((Ipv4Addr::LOCALHOST, dht_router.port())).to_string();

        let mut seeders = Vec::new();
        let mut ready = Vec::new();
        for profile in profiles {
            let dht = demo_dht_config(vec![router.clone()]);
            let (seeder, rx) = start_seeder(profile, &metainfo, &root.join("seed"), dht).await?;
            seeders.push(seeder);
            ready.push(rx);
        }
        let swarm = DemoSwarm {
            root,
            files,
            metainfo,
            torrent_path,
            seeders,
            tracker,
            dht_router,
            _temp: temp,
        };
        for (rx, s) in ready.into_iter().zip(&swarm.seeders) {
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
        Ok(swarm)
    }

    /// The folder holding the content, the torrent and the downloads.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.metainfo
    }

    pub fn torrent_path(&self) -> &Path {
        &self.torrent_path
    }

    pub fn files(&self) -> &[DemoFile] {
        &self.files
    }

    pub fn announce_url(&self) -> &str {
        self.tracker.announce_url()
    }

    pub fn seeders(&self) -> &[Seeder] {
        &self.seeders
    }

    /// The seeder listening on `addr`, if any (to label peers in output).
    pub fn seeder_at(&self, addr: SocketAddr) -> Option<&Seeder> {
        self.seeders.iter().find(|s| s.addr == addr)
    }

    /// A normal engine on 127.0.0.1:0 downloading the demo torrent into `out_dir` (as
    /// `out_dir/fast-peer-demo/...`), finding peers through the tracker.
    pub async fn start_leecher(
        &self,
        out_dir: &Path,
    ) -> Result<(EngineHandle, mpsc::Receiver<EngineEvent>, TorrentId), SwarmError> {
        self.start_leecher_with(out_dir, loopback_config()).await
    }

    /// [`start_leecher`](Self::start_leecher) with a chosen engine configuration.
    pub async fn start_leecher_with(
        &self,
        out_dir: &Path,
        config: EngineConfig,
    ) -> Result<(EngineHandle, mpsc::Receiver<EngineEvent>, TorrentId), SwarmError> {
        let (handle, events) = spawn(config).await?;
        let id = handle
            .add_torrent(AddTorrent {
                metainfo: self.metainfo.clone(),
                target: OutputTarget::Dir(out_dir.to_path_buf()),
                peers: Vec::new(),
                wanted_pieces: None,
                use_trackers: true,
                seed_only: false,
            })
            .await?;
        Ok((handle, events, id))
    }

    /// Check `out_dir/fast-peer-demo/...` against the demo content, byte for byte.
    pub async fn verify(&self, out_dir: &Path) -> Result<(), SwarmError> {
        let (files, dir) = (self.files.clone(), out_dir.to_path_buf());
        tokio::task::spawn_blocking(move || verify_files(&files, &dir))
            .await
            .map_err(|e| SwarmError::Failed(format!("verifier: {e}")))?
    }

    /// Stop the seeders (they announce `stopped`), then the tracker; remove the temporary folder.
    pub async fn shutdown(self) {
        for s in &self.seeders {
            s.handle.shutdown().await;
        }
        self.dht_router.shutdown().await;
    }

    /// DHT settings for a leecher that should join the demo's loopback DHT.
    pub fn dht_config(&self) -> DhtConfig {
        demo_dht_config(vec![
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.dht_router.port())).to_string(),
        ])
    }
}

/// A DHT node on 127.0.0.1 (free port, no state file) bootstrapping from `bootstrap` only.
fn demo_dht_config(bootstrap: Vec<String>) -> DhtConfig {
    DhtConfig {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        port_fallback: false,
        bootstrap,
        state_path: None,
    }
}

/// Engine settings for the demo: 127.0.0.1 only, a free port.
pub fn loopback_config() -> EngineConfig {
    EngineConfig {
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        listen_fallback: false,
        ..EngineConfig::default()
    }
}

/// Start one seeder; the receiver resolves once its data is checked and the tracker answered.
async fn start_seeder(
    profile: SeederProfile,
    metainfo: &Arc<Metainfo>,
    data: &Path,
    dht: DhtConfig,
) -> Result<(Seeder, oneshot::Receiver<Result<(), String>>), SwarmError> {
    let config = EngineConfig {
        upload_limit: profile.upload_limit,
        faults: Faults {
            corrupt_piece_one_in: profile.corrupt_piece_one_in,
        },
        encryption: profile.encryption,
        dht: Some(dht),
        ..loopback_config()
    };
    let (handle, mut events) = spawn(config).await?;
    handle
        .add_torrent(AddTorrent {
            metainfo: metainfo.clone(),
            target: OutputTarget::Dir(data.to_path_buf()),
            peers: Vec::new(),
            wanted_pieces: None,
            use_trackers: true,
            seed_only: true,
        })
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

// ---------------------------------------------------------------------------------------------
// `fast-peer demo --no-tui`
// ---------------------------------------------------------------------------------------------

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// `fast-peer demo --no-tui`: start the swarm and one leecher (into `ROOT/download`), print a
/// progress line about every 0.5 s and each hash failure and ban as it happens, and once the
/// download is complete check it byte for byte. Bounded by [`DEMO_TIMEOUT`]; Ctrl-C stops it
/// cleanly (`Err(Interrupted)`). Everything is shut down and the temporary folder removed
/// before this returns.
pub async fn run_demo_no_tui(opts: DemoOptions) -> Result<(), SwarmError> {
    let swarm = DemoSwarm::start(opts).await?;
    let result = tokio::select! {
        r = tokio::time::timeout(DEMO_TIMEOUT, download(&swarm)) => r.unwrap_or_else(|_| Err(SwarmError::Timeout {
            after: DEMO_TIMEOUT,
            what: "the demo download".into(),
        })),
        _ = tokio::signal::ctrl_c() => Err(SwarmError::Interrupted),
    };
    swarm.shutdown().await;
    result
}

async fn download(swarm: &DemoSwarm) -> Result<(), SwarmError> {
    let m = swarm.metainfo();
    println!(
        "demo: {} files, {:.1} MiB, {} pieces of {} KiB in {}",
        swarm.files().len(),
        mib(m.info.total_length as f64),
        m.info.piece_count(),
        m.info.piece_length / 1024,
        swarm.root().display()
    );
    println!("demo: tracker {}", swarm.announce_url());
    for s in swarm.seeders() {
        println!("demo: {} at {}", s.profile.describe(), s.addr);
    }
    let out = swarm.root().join("download");
    let stale = out.join(DEMO_NAME);
    if stale.exists() {
        // a previous run under --dir: start from nothing so the demo downloads again
        std::fs::remove_dir_all(&stale).map_err(io_err(format!("remove {}", stale.display())))?;
    }
    let started = Instant::now();
    let (leecher, events, id) = swarm.start_leecher(&out).await?;
    println!(
        "demo: leecher at 127.0.0.1:{} downloading into {}",
        leecher.listen_port(),
        out.display()
    );
    let result = follow(swarm, events, id).await;
    leecher.shutdown().await;
    let last = result?;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    println!(
        "complete: {:.1} MiB in {secs:.1} s ({:.1} MiB/s), {} hash failures",
        mib(m.info.total_length as f64),
        mib(m.info.total_length as f64) / secs,
        last.as_ref().map_or(0, |t| t.hash_failures)
    );
    let mut peers = last.map(|t| t.peers).unwrap_or_default();
    peers.sort_by_key(|p| std::cmp::Reverse(p.downloaded));
    for p in peers.iter().filter(|p| p.downloaded > 0) {
        println!(
            "  {:.1} MiB from {} ({})",
            mib(p.downloaded as f64),
            p.addr,
            label(swarm, p.addr)
        );
    }
    swarm.verify(&out).await?;
    println!(
        "verified: {} files match the demo content byte for byte",
        swarm.files().len()
    );
    Ok(())
}

fn label(swarm: &DemoSwarm, addr: SocketAddr) -> String {
    swarm.seeder_at(addr).map_or_else(
        || "peer".to_string(),
        |s| format!("{} seeder", s.profile.label),
    )
}

/// Print the leecher's progress until it completes; returns its first snapshot taken after
/// completion (or the last one before, if none comes within a second).
async fn follow(
    swarm: &DemoSwarm,
    mut events: mpsc::Receiver<EngineEvent>,
    id: TorrentId,
) -> Result<Option<TorrentSnapshot>, SwarmError> {
    let mut last: Option<TorrentSnapshot> = None;
    let mut printed = Instant::now();
    let mut completed: Option<Instant> = None;
    loop {
        let wait = match completed {
            // snapshots trail events a little: give the final one a moment to arrive
            Some(at) => Duration::from_secs(1).saturating_sub(at.elapsed()),
            None => Duration::MAX,
        };
        let ev = match tokio::time::timeout(wait, events.recv()).await {
            Ok(Some(ev)) => ev,
            Ok(None) if completed.is_none() => {
                return Err(SwarmError::Failed("the leecher's engine stopped".into()));
            }
            _ => return Ok(last),
        };
        match ev {
            EngineEvent::Snapshot(s) => {
                let Some(t) = s.torrents.into_iter().find(|t| t.id == id) else {
                    continue;
                };
                let done = completed.is_some() && t.bytes_left == 0;
                if done || printed.elapsed() >= Duration::from_millis(500) {
                    printed = Instant::now();
                    println!("{}", progress_line(&t));
                }
                last = Some(t);
                if done {
                    return Ok(last);
                }
            }
            EngineEvent::HashFailed { index, peers, .. } => {
                let from: Vec<String> = peers
                    .iter()
                    .map(|a| format!("{a} ({})", label(swarm, *a)))
                    .collect();
                println!("hash failure: piece {index} from {}", from.join(", "));
            }
            EngineEvent::PeerConnected { addr, .. } => {
                println!("connected: {addr} ({})", label(swarm, addr))
            }
            EngineEvent::PeerDisconnected {
                addr,
                reason: reason @ PeerCloseReason::Banned(_),
                ..
            } => {
                println!("{reason}: {addr} ({})", label(swarm, addr));
            }
            EngineEvent::TrackerError { message, .. } => println!("tracker: {message}"),
            EngineEvent::Failed { id: i, error } if i == id => {
                return Err(SwarmError::Failed(error));
            }
            EngineEvent::Completed { id: i } if i == id => completed = Some(Instant::now()),
            _ => {}
        }
    }
}

fn progress_line(t: &TorrentSnapshot) -> String {
    let done = t.total_length - t.bytes_left.min(t.total_length);
    let pct = if t.total_length == 0 {
        100.0
    } else {
        done as f64 * 100.0 / t.total_length as f64
    };
    format!(
        "{pct:5.1}%  {}/{} pieces  {:6.1} MiB/s  {} peers  {} hash failures",
        t.pieces_verified,
        t.piece_count,
        mib(t.download_rate),
        t.peers.len(),
        t.hash_failures
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u8, port: u16, extra: &str) -> String {
        let mut q = String::from("info_hash=");
        crate::proto::tracker::percent_encode_into(&mut q, &[0xaa; 20]);
        q.push_str("&peer_id=");
        crate::proto::tracker::percent_encode_into(&mut q, &[id; 20]);
        format!("{q}&port={port}{extra}")
    }

    fn peers_of(body: &[u8]) -> crate::proto::tracker::AnnounceResponse {
        crate::proto::tracker::parse_http_response(body).expect("valid answer")
    }

    #[test]
    fn tracker_lists_others_and_forgets() {
        let mut t = TrackerState::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let r = peers_of(
            &t.announce(&query(1, 1001, "&left=0&event=started"), ip, t0)
                .unwrap(),
        );
        assert!(r.peers.is_empty());
        assert_eq!(
            (r.complete, r.incomplete, r.interval),
            (Some(1), Some(0), 5)
        );
        let r = peers_of(&t.announce(&query(2, 1002, "&left=5"), ip, t0).unwrap());
        assert_eq!(r.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1001))]);
        assert_eq!((r.complete, r.incomplete), (Some(1), Some(1)));
        // a seed is sent leechers only
        let r = peers_of(&t.announce(&query(4, 1004, "&left=0"), ip, t0).unwrap());
        assert_eq!(r.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1002))]);
        t.announce(&query(4, 1004, "&event=stopped"), ip, t0)
            .unwrap();
        // stopped removes the peer
        t.announce(&query(1, 1001, "&event=stopped"), ip, t0)
            .unwrap();
        assert!(
            peers_of(&t.announce(&query(2, 1002, ""), ip, t0).unwrap())
                .peers
                .is_empty()
        );
        // silence expires
        t.announce(&query(3, 1003, ""), ip, t0).unwrap();
        let later = t0 + PEER_TTL + Duration::from_secs(1);
        assert!(
            peers_of(&t.announce(&query(2, 1002, ""), ip, later).unwrap())
                .peers
                .is_empty()
        );
    }

    #[test]
    fn tracker_refuses_bad_queries() {
        let mut t = TrackerState::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let now = Instant::now();
        for q in [
            "",
            "info_hash=abc",
            "info_hash=%zz",
            &query(1, 0, ""),
            &query(1, 1, "&numwant=x"),
        ] {
            assert!(t.announce(q, ip, now).is_err(), "{q}");
        }
        assert_eq!(t.respond(b"\xff\xfe", ip, now).0, 400);
        assert_eq!(t.respond(b"GET /scrape HTTP/1.1", ip, now).0, 404);
        assert_eq!(t.respond(b"POST /announce HTTP/1.1", ip, now).0, 400);
        let ok = format!("GET /announce?{} HTTP/1.1\r\nHost: x", query(1, 1, ""));
        assert_eq!(t.respond(ok.as_bytes(), ip, now).0, 200);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%ff+").unwrap(), b"a/b\xff+");
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%+1").is_err());
    }

    #[test]
    fn content_is_deterministic_and_seekable() {
        let files = demo_files(3 << 20);
        assert_eq!(
            files.iter().map(|f| f.length).sum::<u64>(),
            (3 << 20) + README.len() as u64
        );
        assert!(files.iter().any(|f| f.length == 0));
        let f = &files[1];
        let mut whole = vec![0u8; 100];
        f.fill(0, &mut whole);
        let mut part = vec![0u8; 37];
        f.fill(13, &mut part);
        assert_eq!(&whole[13..50], &part[..]);
        assert_eq!(demo_files(3 << 20), files);
    }
}
