//! Shared helpers for the interop tests: deterministic content, an opentracker, libtorrent
//! peers (`scripts/lt_peer.py`), aria2, a tiny raw BitTorrent client for cross-checks, and
//! process handling with timeouts.
//!
//! Everything talks to 127.0.0.0/8 only. Each test gets its own loopback network
//! `127.0.NET.x` (see [`test_ip`]) and ports come from the kernel (`:0`), so tests can run in
//! parallel threads. Every child process is killed when its handle drops, also when a test
//! panics; libtorrent peers additionally exit when their stdin closes (the test process died).
//!
//! Uses std, `tempfile` and `sha1` only. Each test binary uses a subset, hence the
//! `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;

/// The only interpreter that can import Debian's python3-libtorrent.
pub const LT_PYTHON: &str = "/usr/bin/python3";

/// Overall bound for one command under test; a hang fails the test instead of blocking CI.
pub const TEST_TIMEOUT_SECS: u64 = 120;

/// The peer id of the harness's own tracker queries and raw connections (20 bytes).
pub const HARNESS_PEER_ID: &str = "-HARNESS-0123456789X";

// ---------------------------------------------------------------------------------------------
// Paths, addresses, ports
// ---------------------------------------------------------------------------------------------

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn lt_peer_script() -> PathBuf {
    repo_root().join("scripts").join("lt_peer.py")
}

/// `127.0.NET.HOST`: give every test its own NET (1..=254) so parallel tests never share an
/// address. Hosts 11, 12, ... are for seeders by convention.
pub fn test_ip(net: u8, host: u8) -> String {
    format!("127.0.{net}.{host}")
}

/// A port that is free for TCP and UDP on every local address, and that no other call in
/// this process returns.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`): a port chosen
/// by binding `:0` is released before the program under test binds it, and in the meantime
/// the kernel may give it to any `bind(:0)` or outgoing connection (libtorrent peers in a
/// parallel test, say). Below that range only explicit binds compete, and each call takes the
/// next port of a per-process sequence (starting at an offset derived from the pid, so two
/// test processes rarely overlap) after checking that it is free.
pub fn free_port() -> u16 {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static RANGE: OnceLock<(u32, u32, u32)> = OnceLock::new();
    let &(start, span, offset) = RANGE.get_or_init(|| {
        let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32768);
        let (start, end) = if low >= 12_000 {
            (10_000, low)
        } else {
            (61_000, 65_535)
        };
        let span = end - start;
        (
            start,
            span,
            std::process::id().wrapping_mul(2_654_435_761) % span,
        )
    });
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (start + (offset + n) % span) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_ok()
            && UdpSocket::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port in {start}..{}", start + span);
}

/// A port on 127.0.0.1 where nothing listens (for a tracker that must be unreachable).
pub fn closed_port() -> u16 {
    free_port()
}

// ---------------------------------------------------------------------------------------------
// Deterministic content
// ---------------------------------------------------------------------------------------------

/// A list of (relative path, length). Paths use `/`; all entries of one layout share their
/// first component, which is the torrent's name.
pub type Layout = Vec<(String, u64)>;

/// One 64 MiB file, meant for 1 MiB pieces.
pub fn single_file_layout() -> Layout {
    vec![("single.bin".into(), 64 * MIB)]
}
pub const SINGLE_PIECE_LENGTH: u64 = MIB;

/// Nested folders, zero-length files (also first in the folder and inside a folder), a name
/// with spaces, files that start and end mid-piece, files smaller than a piece, a last piece
/// shorter than the rest (6_524_534 bytes = 24 full 256 KiB pieces + 232_078 bytes).
pub fn multi_file_layout() -> Layout {
    let p = MULTI_PIECE_LENGTH;
    vec![
        ("multi/README.txt".into(), 1_000),
        ("multi/empty-first.dat".into(), 0),
        ("multi/docs/a file with spaces.txt".into(), 300_001),
        ("multi/docs/nested/deeper/data.bin".into(), 3 * p + 4_097),
        ("multi/docs/nested/empty.txt".into(), 0),
        ("multi/media/big.bin".into(), 5 * MIB + 123),
        ("multi/media/tiny.bin".into(), 1),
        ("multi/z-last.bin".into(), 190_000),
    ]
}
pub const MULTI_PIECE_LENGTH: u64 = 256 * KIB;

/// 48 MiB in 16 KiB pieces: 3072 pieces.
pub fn small_pieces_layout() -> Layout {
    vec![("small-pieces.bin".into(), 48 * MIB)]
}
pub const SMALL_PIECE_LENGTH: u64 = 16 * KIB;

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bytes of file `rel_path` at `offset..offset + buf.len()`. The byte at offset `o` is byte
/// `o % 8` of `splitmix64(seed + (o / 8) * golden)`, where `seed` comes from the SHA-1 of the
/// path: every byte depends on path and position, so misplaced data never matches.
pub fn content_bytes(rel_path: &str, offset: u64, buf: &mut [u8]) {
    let digest = Sha1::digest(rel_path.as_bytes());
    let seed = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    for (i, b) in buf.iter_mut().enumerate() {
        let o = offset + i as u64;
        let word = splitmix(seed.wrapping_add((o / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        *b = word.to_le_bytes()[(o % 8) as usize];
    }
}

fn fill_aligned(seed: u64, offset: u64, buf: &mut [u8]) {
    debug_assert!(offset.is_multiple_of(8));
    let mut k = offset / 8;
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let w = splitmix(seed.wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        c.copy_from_slice(&w.to_le_bytes());
        k += 1;
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        let w = splitmix(seed.wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        rest.copy_from_slice(&w.to_le_bytes()[..rest.len()]);
    }
}

/// Writes every file of `layout` under `dir` (creating folders), content from
/// [`content_bytes`].
pub fn write_content(dir: &Path, layout: &[(String, u64)]) {
    for (rel, len) in layout {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("create content dirs");
        let digest = Sha1::digest(rel.as_bytes());
        let seed = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        let mut f = fs::File::create(&path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
        let mut buf = vec![0u8; MIB as usize];
        let mut off = 0u64;
        while off < *len {
            let n = (*len - off).min(MIB) as usize;
            fill_aligned(seed, off, &mut buf[..n]);
            f.write_all(&buf[..n]).expect("write content");
            off += n as u64;
        }
    }
}

/// Content written for a layout: `save_path` is what a client is given as its download folder,
/// `path` is the torrent's file (single-file) or top folder (multi-file).
pub struct Content {
    pub save_path: PathBuf,
    pub path: PathBuf,
    pub layout: Layout,
}

/// Writes `layout` under `save_path` and returns where the torrent's content is.
pub fn create_content(save_path: &Path, layout: Layout) -> Content {
    let top = layout[0].0.split('/').next().expect("top").to_string();
    assert!(
        layout
            .iter()
            .all(|(p, _)| p.split('/').next() == Some(top.as_str())),
        "all entries of a layout share the first component"
    );
    write_content(save_path, &layout);
    Content {
        save_path: save_path.to_path_buf(),
        path: save_path.join(&top),
        layout,
    }
}

// ---------------------------------------------------------------------------------------------
// Hashing and tree comparison
// ---------------------------------------------------------------------------------------------

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha1_bytes(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).as_slice().try_into().expect("20 bytes")
}

/// SHA-1 of a file's contents, as 40 lowercase hex digits.
pub fn sha1_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let mut h = Sha1::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {path:?}: {e}"));
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(h.finalize().as_slice())
}

/// Every regular file under `root` (relative path -> (length, sha1)). Symlinks and other
/// non-regular files are reported as errors; empty folders are ignored.
pub fn tree_digest(root: &Path) -> BTreeMap<String, (u64, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, String)>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {dir:?}: {e}"));
        for entry in entries {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let ty = entry.file_type().expect("file type");
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if ty.is_dir() {
                walk(root, &path, out);
            } else if ty.is_symlink() {
                // a BEP 47 symlink: compared by where it points
                let target = fs::read_link(&path).expect("read_link");
                out.insert(rel, (0, format!("-> {}", target.display())));
            } else {
                assert!(ty.is_file(), "{path:?} is not a regular file");
                let len = entry.metadata().expect("metadata").len();
                out.insert(rel, (len, sha1_file(&path)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Nothing but the download itself may be left in its folder (no part or resume files once
/// complete).
pub fn assert_no_extra_files(out_dir: &Path, target: &Path) {
    let extra: Vec<_> = fs::read_dir(out_dir)
        .expect("read out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p != target)
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected files next to the download: {extra:?}"
    );
}

/// Asserts that `actual` holds exactly the files of `expected` (including zero-length ones),
/// byte for byte (by SHA-1), and no other files.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    assert!(actual.is_dir(), "{actual:?} is not a folder");
    let want = tree_digest(expected);
    let got = tree_digest(actual);
    let mut problems = Vec::new();
    for (rel, (len, sum)) in &want {
        match got.get(rel) {
            None => problems.push(format!("missing: {rel} ({len} bytes)")),
            Some((glen, gsum)) if glen != len || gsum != sum => problems.push(format!(
                "differs: {rel}: expected {len} bytes sha1 {sum}, got {glen} bytes sha1 {gsum}"
            )),
            Some(_) => {}
        }
    }
    for rel in got.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("extra file: {rel}"));
    }
    assert!(
        problems.is_empty(),
        "{actual:?} does not match {expected:?}:\n  {}",
        problems.join("\n  ")
    );
}

/// Asserts that file `actual` has the same bytes as file `expected`.
pub fn assert_same_file(expected: &Path, actual: &Path) {
    assert!(actual.is_file(), "{actual:?} is not a file");
    let (el, al) = (
        fs::metadata(expected).expect("meta").len(),
        fs::metadata(actual).expect("meta").len(),
    );
    assert_eq!(al, el, "{actual:?}: length differs from {expected:?}");
    assert_eq!(
        sha1_file(actual),
        sha1_file(expected),
        "{actual:?}: content differs from {expected:?}"
    );
}

/// Compares a download to the content: a file for single-file torrents, a tree otherwise.
pub fn assert_same_content(expected: &Path, actual: &Path) {
    if expected.is_dir() {
        assert_same_tree(expected, actual);
    } else {
        assert_same_file(expected, actual);
    }
}

// ---------------------------------------------------------------------------------------------
// Torrents: creation by libtorrent, reading by a minimal bencode parser
// ---------------------------------------------------------------------------------------------

/// Makes a v1 torrent of `content_path` (file or folder) with libtorrent (the reference) and
/// writes it next to it as `<content_path>.torrent`. Returns (torrent path, info hash hex).
pub fn make_torrent(
    content_path: &Path,
    piece_length: u64,
    tracker_url: &str,
) -> (PathBuf, String) {
    let mut name = content_path
        .file_name()
        .expect("content name")
        .to_os_string();
    name.push(".torrent");
    let out = content_path.with_file_name(name);
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(lt_peer_script())
        .arg("create")
        .arg("--path")
        .arg(content_path)
        .arg("--piece-length")
        .arg(piece_length.to_string())
        .arg("--tracker")
        .arg(tracker_url)
        .arg("--out")
        .arg(&out);
    let o = run_with_timeout(&mut cmd, 120);
    assert_success("lt_peer.py create", &o);
    let hash = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(hash.len(), 40, "lt_peer.py create printed {hash:?}");
    (out, hash)
}

/// A bencoded value; byte strings stay bytes. `Dict` keeps the raw span of each value so the
/// info hash is the SHA-1 of the bytes as they appear in the file.
#[derive(Debug, Clone)]
pub enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(Vec<(Vec<u8>, Bencode, std::ops::Range<usize>)>),
}

impl Bencode {
    pub fn parse(data: &[u8]) -> Bencode {
        let (v, end) = Self::parse_at(data, 0);
        assert_eq!(end, data.len(), "trailing bytes after bencode value");
        v
    }

    fn parse_at(d: &[u8], i: usize) -> (Bencode, usize) {
        match d[i] {
            b'i' => {
                let end = i + d[i..].iter().position(|&c| c == b'e').expect("int end");
                let n = std::str::from_utf8(&d[i + 1..end])
                    .expect("int utf8")
                    .parse()
                    .expect("int");
                (Bencode::Int(n), end + 1)
            }
            b'l' => {
                let mut j = i + 1;
                let mut items = Vec::new();
                while d[j] != b'e' {
                    let (v, next) = Self::parse_at(d, j);
                    items.push(v);
                    j = next;
                }
                (Bencode::List(items), j + 1)
            }
            b'd' => {
                let mut j = i + 1;
                let mut items = Vec::new();
                while d[j] != b'e' {
                    let (k, next) = Self::parse_at(d, j);
                    let Bencode::Bytes(k) = k else {
                        panic!("dict key is not a string")
                    };
                    let (v, end) = Self::parse_at(d, next);
                    items.push((k, v, next..end));
                    j = end;
                }
                (Bencode::Dict(items), j + 1)
            }
            b'0'..=b'9' => {
                let colon = i + d[i..]
                    .iter()
                    .position(|&c| c == b':')
                    .expect("string colon");
                let n: usize = std::str::from_utf8(&d[i..colon])
                    .expect("len utf8")
                    .parse()
                    .expect("len");
                (
                    Bencode::Bytes(d[colon + 1..colon + 1 + n].to_vec()),
                    colon + 1 + n,
                )
            }
            c => panic!("bad bencode byte {c:#x} at {i}"),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(items) => items
                .iter()
                .find(|(k, _, _)| k == key.as_bytes())
                .map(|(_, v, _)| v),
            _ => None,
        }
    }

    pub fn span(&self, key: &str) -> Option<std::ops::Range<usize>> {
        match self {
            Bencode::Dict(items) => items
                .iter()
                .find(|(k, _, _)| k == key.as_bytes())
                .map(|(_, _, r)| r.clone()),
            _ => None,
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Bencode::Int(n) => *n,
            other => panic!("expected int, got {other:?}"),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Bencode::Bytes(b) => b,
            other => panic!("expected string, got {other:?}"),
        }
    }

    pub fn str(&self) -> String {
        String::from_utf8(self.bytes().to_vec()).expect("utf8 string")
    }

    pub fn list(&self) -> &[Bencode] {
        match self {
            Bencode::List(l) => l,
            other => panic!("expected list, got {other:?}"),
        }
    }
}

/// What the tests need to know about a v1 torrent.
#[derive(Debug, Clone)]
pub struct TorrentMeta {
    pub info_hash: [u8; 20],
    pub announce: Option<String>,
    pub name: String,
    pub piece_length: u64,
    pub pieces: Vec<[u8; 20]>,
    /// In torrent order; paths relative to the save path, i.e. starting with `name` for
    /// multi-file torrents (and equal to `name` for single-file ones).
    pub files: Vec<(String, u64)>,
    pub multi_file: bool,
}

impl TorrentMeta {
    pub fn read(path: &Path) -> TorrentMeta {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
        let root = Bencode::parse(&data);
        let span = root.span("info").expect("info dict");
        let info = root.get("info").expect("info");
        let name = info.get("name").expect("name").str();
        let piece_length = info.get("piece length").expect("piece length").int() as u64;
        let pieces_raw = info.get("pieces").expect("pieces").bytes();
        assert_eq!(pieces_raw.len() % 20, 0, "pieces length");
        let pieces = pieces_raw
            .chunks(20)
            .map(|c| c.try_into().expect("20"))
            .collect();
        let (files, multi_file) = match info.get("files") {
            Some(list) => {
                let files = list
                    .list()
                    .iter()
                    .map(|f| {
                        let parts: Vec<String> = f
                            .get("path")
                            .expect("path")
                            .list()
                            .iter()
                            .map(Bencode::str)
                            .collect();
                        if let Some(attr) = f.get("attr") {
                            assert!(!attr.str().contains('p'), "unexpected pad file {parts:?}");
                        }
                        (
                            format!("{name}/{}", parts.join("/")),
                            f.get("length").expect("length").int() as u64,
                        )
                    })
                    .collect();
                (files, true)
            }
            None => (
                vec![(
                    name.clone(),
                    info.get("length").expect("length").int() as u64,
                )],
                false,
            ),
        };
        TorrentMeta {
            info_hash: sha1_bytes(&data[span]),
            announce: root.get("announce").map(Bencode::str),
            name,
            piece_length,
            pieces,
            files,
            multi_file,
        }
    }

    pub fn info_hash_hex(&self) -> String {
        hex(&self.info_hash)
    }

    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|(_, l)| l).sum()
    }

    pub fn num_pieces(&self) -> usize {
        self.pieces.len()
    }

    pub fn piece_size(&self, index: usize) -> u64 {
        let start = index as u64 * self.piece_length;
        (self.total_length() - start).min(self.piece_length)
    }

    /// Reads piece `index` from the files under `save_path`.
    pub fn read_piece(&self, save_path: &Path, index: usize) -> Vec<u8> {
        let start = index as u64 * self.piece_length;
        let end = start + self.piece_size(index);
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut file_start = 0u64;
        for (rel, len) in &self.files {
            let file_end = file_start + len;
            if file_end > start && file_start < end {
                let from = start.max(file_start) - file_start;
                let to = end.min(file_end) - file_start;
                let mut f = fs::File::open(save_path.join(rel)).expect("open content file");
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from)).expect("seek");
                let mut buf = vec![0u8; (to - from) as usize];
                f.read_exact(&mut buf).expect("read content file");
                out.extend_from_slice(&buf);
            }
            file_start = file_end;
        }
        out
    }

    /// Indices of the pieces whose data under `save_path` does not match the torrent.
    pub fn bad_pieces(&self, save_path: &Path) -> Vec<usize> {
        (0..self.num_pieces())
            .filter(|&i| sha1_bytes(&self.read_piece(save_path, i)) != self.pieces[i])
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Processes with timeouts
// ---------------------------------------------------------------------------------------------

/// A running child whose stdout and stderr are collected on background threads. Killed (and
/// reaped) on drop.
pub struct Running {
    pub child: Child,
    name: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

impl Running {
    /// Starts `cmd` with stdin closed and stdout/stderr captured.
    pub fn start(cmd: &mut Command) -> Running {
        let name = format!("{cmd:?}");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = child.stdout.take().map(drain);
        let stderr = child.stderr.take().map(drain);
        Running {
            child,
            name,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    fn collect(&mut self, status: ExitStatus) -> Output {
        let stdout = self
            .stdout
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Output {
            status,
            stdout,
            stderr,
        }
    }

    /// Waits up to `secs`; on timeout returns `None` and leaves the child running.
    pub fn wait_for(&mut self, secs: u64) -> Option<Output> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.try_wait() {
                return Some(self.collect(status));
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `secs` for the child to exit; on timeout kills it and panics with what it
    /// printed.
    pub fn wait_timeout(mut self, secs: u64) -> Output {
        if let Some(o) = self.wait_for(secs) {
            return o;
        }
        let o = self.kill();
        panic!(
            "timed out after {secs}s, killed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.name,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// SIGKILL, reap, and return what it printed.
    pub fn kill(&mut self) -> Output {
        let _ = self.child.kill();
        let status = self.child.wait().expect("wait after kill");
        self.collect(status)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `cmd` (stdin closed) for at most `secs`; kills it on timeout and fails the test with
/// its captured stdout and stderr. The exit status is not checked: see [`assert_success`].
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> Output {
    Running::start(cmd).wait_timeout(secs)
}

/// Fails with stdout and stderr unless `o` is a successful exit.
pub fn assert_success(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what} failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Polls `cond` every 20 ms for up to `secs`; panics with `what` on timeout.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Total size in bytes of the regular files under `path` (or of `path` if it is a file);
/// 0 if it does not exist. Uses allocated blocks where the length alone would lie (sparse or
/// preallocated files), so it grows with data actually written.
pub fn written_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        fs::read_dir(path)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .map(|e| written_bytes(&e.path()))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        (meta.blocks() * 512).min(meta.len())
    }
}

/// The fast-peer binary under test (the one cargo built for this test run).
///
/// Debugging aids, both unset in normal runs: `FAST_PEER_BIN=/path/to/fast-peer` tests another
/// build; `FAST_PEER_TEST_VERBOSE=1` (or `2`, `3`) passes `-v` (`-vv`, `-vvv`) so the engine's
/// log lands in stderr, which a failing test prints.
/// The binary with the DHT off (`--no-dht`): a test must never reach the public bootstrap
/// routers, which are the CLI's default. DHT tests use [`fast_peer_dht`] with a loopback
/// `--bootstrap`.
pub fn fast_peer() -> Command {
    let mut cmd = fast_peer_dht();
    cmd.arg("--no-dht");
    cmd
}

/// The binary with the DHT left on: the caller must pass `--bootstrap` with loopback nodes
/// (and `--dht-state` in a temporary folder, or none is used with `--bootstrap`).
pub fn fast_peer_dht() -> Command {
    let bin = std::env::var_os("FAST_PEER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_fast-peer")));
    let mut cmd = Command::new(bin);
    if let Ok(v) = std::env::var("FAST_PEER_TEST_VERBOSE") {
        let n = v.parse::<usize>().unwrap_or(1).clamp(1, 3);
        cmd.arg(format!("-{}", "v".repeat(n)));
    }
    cmd
}

// ---------------------------------------------------------------------------------------------
// opentracker
// ---------------------------------------------------------------------------------------------

/// An opentracker on 127.0.0.1 (HTTP and UDP on the same port), killed on drop.
///
/// Debian's opentracker is built with a whitelist: announces for info hashes not in it fail
/// with "Requested download is not authorized". Call [`Opentracker::allow`] for each torrent
/// before announcing. It chroots into its folder and drops root to `nobody`, so the folder
/// and the whitelist are made world-readable.
pub struct Opentracker {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Opentracker {
    pub fn start() -> Opentracker {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
        let wl = dir.path().join("whitelist");
        fs::write(&wl, "").expect("write whitelist");
        fs::set_permissions(&wl, fs::Permissions::from_mode(0o644)).expect("chmod whitelist");
        let log = fs::File::create(dir.path().join("opentracker.log")).expect("log file");
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = Command::new("opentracker")
                .current_dir(dir.path())
                .args([
                    "-i",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "-P",
                    &port.to_string(),
                ])
                .args(["-d", ".", "-w", "whitelist"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log"))
                .stderr(log.try_clone().expect("clone log"))
                .spawn()
                .expect("spawn opentracker (apt-get install opentracker)");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if child.try_wait().expect("try_wait").is_some() {
                    break; // port taken in the meantime, or a real failure: retry / report
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Opentracker { port, child, dir };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        let log = fs::read_to_string(dir.path().join("opentracker.log")).unwrap_or_default();
        panic!("opentracker did not start:\n{log}");
    }

    pub fn http_announce(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn udp_announce(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }

    /// Adds an info hash to the whitelist, reloads it (SIGHUP) and waits until the tracker
    /// accepts announces for it.
    pub fn allow(&self, info_hash_hex: &str) {
        assert_eq!(info_hash_hex.len(), 40, "info hash hex");
        let wl = self.dir.path().join("whitelist");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&wl)
            .expect("open whitelist");
        writeln!(f, "{info_hash_hex}").expect("append whitelist");
        drop(f);
        // The shell's builtin `kill`: minimal Debian images have no /usr/bin/kill (procps).
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -HUP {}", self.child.id()))
            .status()
            .expect("run sh -c 'kill -HUP'");
        assert!(st.success(), "kill -HUP opentracker failed");
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            // `stopped` does not leave a peer behind.
            last = self.http_get_announce(info_hash_hex, 1, "stopped");
            if !last.contains("failure reason") {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("opentracker did not accept {info_hash_hex} after reload: {last}");
    }

    /// The peers the tracker knows for an info hash (asks as a short-lived peer on
    /// 127.0.0.1:1, which is removed again with a `stopped` announce).
    pub fn peers(&self, info_hash_hex: &str) -> Vec<SocketAddr> {
        let body = self.http_get_announce_raw(info_hash_hex, 1, "started");
        self.http_get_announce(info_hash_hex, 1, "stopped");
        let root = Bencode::parse(&body);
        if let Some(f) = root.get("failure reason") {
            panic!("tracker failure: {}", f.str());
        }
        let peers = root.get("peers").expect("peers").bytes();
        peers
            .chunks(6)
            .map(|c| SocketAddr::from(([c[0], c[1], c[2], c[3]], u16::from_be_bytes([c[4], c[5]]))))
            .filter(|a| a.port() != 1)
            .collect()
    }

    fn http_get_announce(&self, info_hash_hex: &str, port: u16, event: &str) -> String {
        String::from_utf8_lossy(&self.http_get_announce_raw(info_hash_hex, port, event))
            .into_owned()
    }

    fn http_get_announce_raw(&self, info_hash_hex: &str, port: u16, event: &str) -> Vec<u8> {
        let ih: String = (0..20)
            .map(|i| format!("%{}", &info_hash_hex[2 * i..2 * i + 2]))
            .collect();
        let path = format!(
            "/announce?info_hash={ih}&peer_id={HARNESS_PEER_ID}&port={port}&uploaded=0\
             &downloaded=0&left=0&compact=1&numwant=200&event={event}"
        );
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect tracker");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).expect("read tracker reply");
        let body_at = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("http header end")
            + 4;
        resp[body_at..].to_vec()
    }
}

impl Drop for Opentracker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// libtorrent peers (scripts/lt_peer.py)
// ---------------------------------------------------------------------------------------------

/// Options for [`LtPeer::seed`].
#[derive(Debug, Clone)]
pub struct SeedOpts {
    /// Serve corrupt data: lt_peer.py copies the content to this folder, flips one byte in
    /// every `corrupt_every`-th piece (0, k, 2k, ...) and serves the copy without hash checks.
    pub corrupt_dir: Option<PathBuf>,
    pub corrupt_every: u32,
    /// Bytes per second, 0 = unlimited (also for loopback peers).
    pub upload_limit: u64,
    /// Wait for the first tracker announce reply before READY (off when the torrent's tracker
    /// is unreachable on purpose).
    pub wait_tracker: bool,
    /// Listen port, 0 = any.
    pub port: u16,
    /// Require RC4 Message Stream Encryption both ways (plaintext peers are refused).
    pub rc4_only: bool,
}

impl Default for SeedOpts {
    fn default() -> Self {
        SeedOpts {
            corrupt_dir: None,
            corrupt_every: 2,
            upload_limit: 0,
            wait_tracker: true,
            port: 0,
            rc4_only: false,
        }
    }
}

/// A libtorrent seeder in its own process on its own loopback IP, ready to serve (seeding,
/// first announce answered). Killed on drop.
pub struct LtPeer {
    pub ip: String,
    pub port: u16,
    /// The 20-byte peer id it sends in handshakes, as 40 hex digits.
    pub peer_id_hex: String,
    child: Child,
    _stdin: ChildStdin,
    stderr_path: PathBuf,
    _logdir: tempfile::TempDir,
}

impl LtPeer {
    /// Seeds `torrent` from `data_dir` (the save path: the folder containing the torrent's
    /// name) on `ip`. Returns once lt_peer.py prints READY (fails after 90 s).
    pub fn seed(torrent: &Path, data_dir: &Path, ip: &str, opts: SeedOpts) -> LtPeer {
        let logdir = tempfile::tempdir().expect("tempdir");
        let stderr_path = logdir.path().join("stderr.log");
        let mut cmd = Command::new(LT_PYTHON);
        cmd.arg(lt_peer_script())
            .arg("seed")
            .arg("--torrent")
            .arg(torrent)
            .arg("--data")
            .arg(data_dir)
            .args(["--ip", ip, "--port", &opts.port.to_string()])
            .args(["--upload-limit", &opts.upload_limit.to_string()])
            .args(["--ready-timeout", "80"]);
        if let Some(dir) = &opts.corrupt_dir {
            cmd.arg("--corrupt")
                .arg("--corrupt-dir")
                .arg(dir)
                .args(["--corrupt-every", &opts.corrupt_every.to_string()]);
        }
        if !opts.wait_tracker {
            cmd.arg("--no-tracker-wait");
        }
        if opts.rc4_only {
            cmd.args(["--encryption", "rc4"]);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).expect("stderr log"));
        let mut child = cmd.spawn().expect("spawn /usr/bin/python3 lt_peer.py");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        let fail = |child: &mut Child, why: String| -> ! {
            let _ = child.kill();
            let _ = child.wait();
            let err = fs::read_to_string(&stderr_path).unwrap_or_default();
            panic!("lt_peer.py seed on {ip}: {why}\n--- stderr ---\n{err}");
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    if parts.len() == 3 && parts[0] == "READY" {
                        let port = parts[1].parse().expect("READY port");
                        let peer_id_hex = parts[2].to_string();
                        assert_eq!(peer_id_hex.len(), 40, "READY peer id");
                        return LtPeer {
                            ip: ip.to_string(),
                            port,
                            peer_id_hex,
                            child,
                            _stdin: stdin,
                            stderr_path,
                            _logdir: logdir,
                        };
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = child.wait().ok();
                    fail(&mut child, format!("exited before READY ({st:?})"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                fail(&mut child, "no READY within 90 s".into());
            }
        }
    }

    /// `IP:PORT` as given to `--peer` and as printed by `fast-peer peers`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.addr().parse().expect("socket addr")
    }

    /// What the seeder logged so far (libtorrent alerts of interest).
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL now (e.g. mid-download) and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LtPeer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Downloads with libtorrent (`lt_peer.py leech`) into `out` from the torrent's tracker and
/// the given peers. Returns the output; fails the test on timeout.
pub fn lt_leech(torrent: &Path, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &["--torrent".as_ref(), torrent.as_os_str()],
        out,
        ip,
        peers,
        secs,
    )
}

/// Like [`lt_leech`], requiring RC4 Message Stream Encryption (plaintext peers refused).
pub fn lt_leech_rc4(torrent: &Path, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &[
            "--torrent".as_ref(),
            torrent.as_os_str(),
            "--encryption".as_ref(),
            "rc4".as_ref(),
        ],
        out,
        ip,
        peers,
        secs,
    )
}

/// Like [`lt_leech`] from a magnet link (metadata over BEP 9 from the peers; no DHT).
pub fn lt_leech_magnet(magnet: &str, out: &Path, ip: &str, peers: &[String], secs: u64) -> Output {
    lt_leech_source(
        &["--magnet".as_ref(), magnet.as_ref()],
        out,
        ip,
        peers,
        secs,
    )
}

fn lt_leech_source(
    source: &[&std::ffi::OsStr],
    out: &Path,
    ip: &str,
    peers: &[String],
    secs: u64,
) -> Output {
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(lt_peer_script())
        .arg("leech")
        .args(source)
        .arg("--out")
        .arg(out)
        .args(["--ip", ip, "--timeout", &secs.to_string()]);
    for p in peers {
        cmd.args(["--peer", p]);
    }
    run_with_timeout(&mut cmd, secs + 30)
}

// ---------------------------------------------------------------------------------------------
// aria2
// ---------------------------------------------------------------------------------------------

/// `aria2c` downloading `torrent` into folder `out` from the torrent's tracker, bound to `ip`.
/// Not started yet; use [`run_with_timeout`].
///
/// aria2 talks to UDP trackers through its DHT socket: with `--enable-dht=false` it silently
/// ignores them. For a `udp://` tracker DHT is therefore enabled, with an empty routing table
/// (a fresh `--dht-file-path`, no entry point), so it contacts nobody.
pub fn aria2c(torrent: &Path, out: &Path, ip: &str) -> Command {
    let udp = TorrentMeta::read(torrent)
        .announce
        .is_some_and(|a| a.starts_with("udp://"));
    let mut cmd = aria2c_base(out, ip);
    if udp {
        let mut dht_file = out.as_os_str().to_os_string();
        dht_file.push(".aria2-dht.dat");
        cmd.arg("--enable-dht=true")
            .arg(format!("--dht-listen-port={}", free_port()))
            .arg(format!(
                "--dht-file-path={}",
                Path::new(&dht_file).display()
            ));
    } else {
        cmd.arg("--enable-dht=false");
    }
    cmd.arg(torrent);
    cmd
}

/// The harness's aria2 settings (no LPD, PEX, IPv6 or config file; bound to `ip`, a free
/// listen port, saving into `out`); the caller adds the DHT choice and the source last.
pub fn aria2c_base(out: &Path, ip: &str) -> Command {
    let mut cmd = Command::new("aria2c");
    cmd.args([
        "--seed-time=0",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--disable-ipv6=true",
        "--no-conf=true",
        "--file-allocation=none",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--bt-tracker-connect-timeout=10",
        "--bt-tracker-timeout=10",
        "--bt-stop-timeout=60",
    ])
    .arg(format!("--interface={ip}"))
    .arg(format!("--listen-port={}", free_port()))
    .arg(format!("--dir={}", out.display()));
    cmd
}

// ---------------------------------------------------------------------------------------------
// A tiny raw BitTorrent client (for cross-checking peers without fast-peer)
// ---------------------------------------------------------------------------------------------

/// Connects and exchanges a plain BitTorrent handshake (no extensions); returns the stream and
/// the remote peer id.
pub fn raw_handshake(addr: &str, info_hash: &[u8; 20]) -> (TcpStream, [u8; 20]) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut hs = Vec::with_capacity(68);
    hs.push(19u8);
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0u8; 8]);
    hs.extend_from_slice(info_hash);
    hs.extend_from_slice(HARNESS_PEER_ID.as_bytes());
    s.write_all(&hs).expect("send handshake");
    let mut resp = [0u8; 68];
    s.read_exact(&mut resp)
        .unwrap_or_else(|e| panic!("handshake reply from {addr}: {e}"));
    assert_eq!(
        &resp[..20],
        b"\x13BitTorrent protocol",
        "handshake from {addr}"
    );
    assert_eq!(&resp[28..48], info_hash, "info hash from {addr}");
    (s, resp[48..68].try_into().expect("20"))
}

fn read_message(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("read message length");
    let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).expect("read message");
    msg
}

/// Downloads piece `index` from the peer at `addr` over a plain connection and returns its
/// bytes unverified.
pub fn raw_fetch_piece(addr: &str, meta: &TorrentMeta, index: usize) -> Vec<u8> {
    const BLOCK: u64 = 16 * KIB;
    let (mut s, _) = raw_handshake(addr, &meta.info_hash);
    s.write_all(&[0, 0, 0, 1, 2]).expect("send interested");
    loop {
        let m = read_message(&mut s);
        if m.first() == Some(&1) {
            break; // unchoke
        }
    }
    let size = meta.piece_size(index);
    let mut req = Vec::new();
    let mut begin = 0;
    while begin < size {
        let len = BLOCK.min(size - begin);
        req.extend_from_slice(&13u32.to_be_bytes());
        req.push(6);
        req.extend_from_slice(&(index as u32).to_be_bytes());
        req.extend_from_slice(&(begin as u32).to_be_bytes());
        req.extend_from_slice(&(len as u32).to_be_bytes());
        begin += len;
    }
    s.write_all(&req).expect("send requests");
    let mut piece = vec![0u8; size as usize];
    let mut got = 0u64;
    while got < size {
        let m = read_message(&mut s);
        match m.first() {
            Some(7) => {
                let i = u32::from_be_bytes(m[1..5].try_into().expect("4")) as usize;
                let b = u32::from_be_bytes(m[5..9].try_into().expect("4")) as usize;
                assert_eq!(i, index, "piece message for another piece");
                piece[b..b + m.len() - 9].copy_from_slice(&m[9..]);
                got += (m.len() - 9) as u64;
            }
            Some(0) => panic!("{addr} choked us while fetching piece {index}"),
            _ => {}
        }
    }
    piece
}

// ---------------------------------------------------------------------------------------------
// A `fast-peer seed` process
// ---------------------------------------------------------------------------------------------

/// How long a seeder may take to check its data and print `Seeding`.
pub const SEED_READY_SECS: u64 = 90;

// ---------------------------------------------------------------------------------------------
// A `fast-peer seed` process
// ---------------------------------------------------------------------------------------------

/// `fast-peer seed` running until it printed `Seeding`. Killed on drop.
pub struct FastSeed {
    pub child: Child,
    pub port: u16,
    pub info_hash: String,
    /// (verified, total) from the `Pieces:` line.
    pub pieces: (usize, usize),
    pub lines: mpsc::Receiver<String>,
    pub stdout: Vec<String>,
    pub stderr_path: PathBuf,
    _logdir: tempfile::TempDir,
}

/// The `fast-peer seed` command line, not started yet.
pub fn seed_cmd(torrent: &Path, data: &Path, extra: &[&str]) -> Command {
    let mut cmd = fast_peer();
    cmd.arg("seed")
        .arg(torrent)
        .arg("--data")
        .arg(data)
        .args(["--port", &free_port().to_string()])
        .args(extra);
    cmd
}

impl FastSeed {
    /// Starts `fast-peer seed` and reads its stdout until `Seeding` (fails the test if it
    /// exits or takes longer than [`SEED_READY_SECS`]).
    pub fn start(torrent: &Path, data: &Path, extra: &[&str]) -> FastSeed {
        let logdir = tempfile::tempdir().expect("tempdir");
        let stderr_path = logdir.path().join("stderr.log");
        let mut cmd = seed_cmd(torrent, data, extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).expect("stderr log"));
        let mut child = cmd.spawn().expect("spawn fast-peer seed");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seed = FastSeed {
            child,
            port: 0,
            info_hash: String::new(),
            pieces: (0, 0),
            lines: rx,
            stdout: Vec::new(),
            stderr_path,
            _logdir: logdir,
        };
        let deadline = Instant::now() + Duration::from_secs(SEED_READY_SECS);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match seed
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    seed.stdout.push(line.clone());
                    if line == "Seeding" {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Info Hash: ") {
                        seed.info_hash = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("Port: ") {
                        seed.port = v.trim().parse().expect("Port: <n>");
                    } else if let Some(v) = line.strip_prefix("Pieces: ") {
                        let (a, b) = v.trim().split_once('/').expect("Pieces: <v>/<total>");
                        seed.pieces = (a.parse().expect("verified"), b.parse().expect("total"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = seed.child.wait().ok();
                    seed.fail(&format!("exited before `Seeding` ({st:?})"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= deadline {
                seed.fail(&format!("no `Seeding` within {SEED_READY_SECS} s"));
            }
        }
        assert_eq!(
            seed.info_hash.len(),
            40,
            "no `Info Hash: <hex>` before `Seeding`: {:?}",
            seed.stdout
        );
        assert_ne!(
            seed.port, 0,
            "no `Port: <n>` before `Seeding`: {:?}",
            seed.stdout
        );
        assert_ne!(
            seed.pieces.1, 0,
            "no `Pieces: <v>/<total>` before `Seeding`: {:?}",
            seed.stdout
        );
        seed
    }

    pub fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!(
            "fast-peer seed: {why}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout.join("\n"),
            self.stderr()
        );
    }

    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Asserts that the seeder checked all of `meta`'s data and announced its info hash.
    pub fn assert_complete(&self, meta: &TorrentMeta) {
        assert_eq!(self.info_hash, meta.info_hash_hex(), "`Info Hash:` of seed");
        assert_eq!(
            self.pieces,
            (meta.num_pieces(), meta.num_pieces()),
            "`Pieces:` of seed (all pieces verified); stderr:\n{}",
            self.stderr()
        );
    }

    /// The address a test's clients use to reach the seeder (it listens on all addresses).
    pub fn addr_on(&self, net: u8) -> String {
        format!("{}:{}", test_ip(net, 11), self.port)
    }

    /// SIGINT (Ctrl-C) through the shell's builtin `kill` (no libc in the tests, no procps
    /// in minimal images).
    pub fn interrupt(&self) {
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -INT {}", self.child.id()))
            .status()
            .expect("run sh -c 'kill -INT'");
        assert!(st.success(), "kill -INT fast-peer seed failed");
    }

    /// Waits up to `secs` for the process to exit; kills it and fails on timeout.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.stdout.push(line);
                }
                return st;
            }
            if Instant::now() >= deadline {
                self.fail(&format!("still running {secs} s after SIGINT"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl FastSeed {
    /// SIGINT, wait for the exit, and return N from its `stopped after sending N bytes`.
    pub fn stop_and_count_sent(&mut self) -> u64 {
        self.interrupt();
        let st = self.wait_exit(60);
        assert!(st.success(), "fast-peer seed after SIGINT: {st}");
        let err = self.stderr();
        err.lines()
            .find_map(|l| {
                l.strip_prefix("stopped after sending ")?
                    .strip_suffix(" bytes")?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no `stopped after sending N bytes` on stderr:\n{err}"))
    }
}

impl Drop for FastSeed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
