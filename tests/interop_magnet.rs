//! fast-peer's magnet commands (BEP 9 metadata exchange over BEP 10) against real,
//! independently written software: libtorrent 2.0.8 seeders and leechers
//! (`scripts/lt_peer.py`), aria2 and opentracker, all on 127.0.0.0/8, plus scripted hostile
//! peers written here. Torrents are made by libtorrent; every download is checked byte for
//! byte by hash.
//!
//! CLI contract under test (stdout is exact; errors go to stderr with a non-zero exit):
//! - `fast-peer magnet_parse MAGNET` -> `Tracker URL: <first tr>` and `Info Hash: <40 hex>`
//! - `fast-peer magnet_handshake MAGNET [--peer IP:PORT]` -> `Peer ID: <40 hex>` and
//!   `Peer Metadata Extension ID: <the ut_metadata id the peer announced>`
//! - `fast-peer magnet_info MAGNET` -> the same lines as `fast-peer info FILE.torrent`
//! - `fast-peer magnet_download_piece -o OUT MAGNET INDEX` -> OUT holds exactly that piece
//! - `fast-peer magnet_download -o OUT MAGNET` (also `--dir DIR`, `--port N`, `--peer IP:PORT`,
//!   `--max-metadata-size BYTES`)
//! - `fast-peer nhandshake SOURCE [IP:PORT] [--json]`: both sides of the negotiated handshake
//! - `fast-peer seed T --data P --port N` prints `Port: N`, then `Seeding` once it serves
//!
//! Magnets carry `tr=` (trackers) and `x.pe=IP:PORT` (peers), percent-encoded. In `x.pe` the
//! `:` stays literal (RFC 3986 allows it in a query, fast-peer's own `Magnet::to_uri` writes it
//! so, and libtorrent 2.0.8 does not percent-decode `x.pe`); fast-peer is also given `%3A`.
//!
//! Each test uses its own loopback network 127.0.NET.x (NET 41..=60 in this file) and ports
//! from `free_port`, so tests run in parallel. Every process is bounded by a timeout: a hang
//! fails the test instead of blocking CI.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use fast_peer::proto::extension::{ExtensionHandshake, MetadataMessage, metadata_piece_len};

// ---------------------------------------------------------------------------------------------
// Magnet links
// ---------------------------------------------------------------------------------------------

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `magnet:?xt=urn:btih:HASH[&dn=NAME][&tr=URL]...[&x.pe=IP:PORT]...`, values percent-encoded
/// (`:` kept in `x.pe`).
fn magnet(hash_hex: &str, name: Option<&str>, trackers: &[String], peers: &[String]) -> String {
    let mut m = format!("magnet:?xt=urn:btih:{hash_hex}");
    if let Some(n) = name {
        m.push_str(&format!("&dn={}", pct(n)));
    }
    for t in trackers {
        m.push_str(&format!("&tr={}", pct(t)));
    }
    for p in peers {
        m.push_str(&format!("&x.pe={}", pct(p).replace("%3A", ":")));
    }
    m
}

/// RFC 4648 base32 (upper case, no padding: 20 bytes -> 32 characters).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A swarm of libtorrent seeders
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Tracker {
    /// opentracker over HTTP; magnets carry it as `tr=`.
    Http,
    /// No tracker at all in the magnet (the torrent file names a closed port): peers come from
    /// `x.pe` / `--peer` only.
    None,
}

/// Content, torrent, tracker and libtorrent seeders for one test; everything stops and is
/// removed on drop.
struct Swarm {
    content: Content,
    torrent: PathBuf,
    meta: TorrentMeta,
    seeders: Vec<LtPeer>,
    tracker: Option<Opentracker>,
    work: tempfile::TempDir,
}

impl Swarm {
    fn start(
        net: u8,
        layout: Layout,
        piece_length: u64,
        tracker: Tracker,
        seeders: usize,
    ) -> Swarm {
        let work = tempfile::tempdir().expect("tempdir");
        let content = create_content(&work.path().join("seed"), layout);
        let ot = (tracker == Tracker::Http).then(Opentracker::start);
        let url = match &ot {
            Some(t) => t.http_announce(),
            None => format!("http://127.0.0.1:{}/announce", closed_port()),
        };
        let (torrent, hash) = make_torrent(&content.path, piece_length, &url);
        if let Some(t) = &ot {
            t.allow(&hash);
        }
        let meta = TorrentMeta::read(&torrent);
        let seeders = (0..seeders)
            .map(|i| {
                let opts = SeedOpts {
                    wait_tracker: tracker == Tracker::Http,
                    ..SeedOpts::default()
                };
                LtPeer::seed(
                    &torrent,
                    &content.save_path,
                    &test_ip(net, 11 + i as u8),
                    opts,
                )
            })
            .collect();
        Swarm {
            content,
            torrent,
            meta,
            seeders,
            tracker: ot,
            work,
        }
    }

    fn hash(&self) -> String {
        self.meta.info_hash_hex()
    }

    /// The magnet's trackers: the opentracker, if any.
    fn trackers(&self) -> Vec<String> {
        self.tracker
            .iter()
            .map(Opentracker::http_announce)
            .collect()
    }

    fn seeder_addrs(&self) -> Vec<String> {
        self.seeders.iter().map(LtPeer::addr).collect()
    }

    /// A magnet with the tracker (if any) as `tr=` and `peers` as `x.pe=`.
    fn magnet(&self, peers: &[String]) -> String {
        magnet(&self.hash(), Some(&self.meta.name), &self.trackers(), peers)
    }

    fn out_dir(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        fs::create_dir_all(&dir).expect("create out dir");
        dir
    }

    fn seeder_logs(&self) -> String {
        self.seeders
            .iter()
            .map(|s| format!("--- seeder {} ---\n{}", s.addr(), s.stderr()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn port_args() -> Vec<String> {
    vec!["--port".into(), free_port().to_string()]
}

fn stdout_str(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

/// Runs `fast-peer ARGS...` to completion (bounded by `TEST_TIMEOUT_SECS`).
fn run_fp(args: &[&str]) -> Output {
    let mut cmd = fast_peer();
    cmd.args(args);
    run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS)
}

/// `fast-peer magnet_download -o OUT/<name> MAGNET --port P [extra]`, checked against the
/// content.
fn magnet_download_and_verify(swarm: &Swarm, magnet: &str, extra: &[String], what: &str) {
    let out = swarm.out_dir(what);
    let target = out.join(&swarm.meta.name);
    let mut cmd = fast_peer();
    cmd.arg("magnet_download")
        .arg("-o")
        .arg(&target)
        .arg(magnet)
        .args(port_args())
        .args(extra);
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    if !o.status.success() {
        eprintln!("{}", swarm.seeder_logs());
    }
    assert_success(&format!("fast-peer magnet_download ({what})"), &o);
    assert_same_content(&swarm.content.path, &target);
    assert_no_extra_files(&out, &target);
}

// ---------------------------------------------------------------------------------------------
// Raw BEP 3 + BEP 10 exchange (a cross-check that does not use fast-peer's engine)
// ---------------------------------------------------------------------------------------------

fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    assert!(n <= 1 << 21, "message of {n} bytes");
    let mut msg = vec![0u8; n];
    s.read_exact(&mut msg)?;
    Ok(msg)
}

fn write_extended(s: &mut TcpStream, ext_id: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut m = Vec::with_capacity(6 + payload.len());
    m.extend_from_slice(&(payload.len() as u32 + 2).to_be_bytes());
    m.push(20);
    m.push(ext_id);
    m.extend_from_slice(payload);
    s.write_all(&m)
}

fn handshake_bytes(info_hash: &[u8; 20], peer_id: &[u8; 20]) -> Vec<u8> {
    let mut hs = Vec::with_capacity(68);
    hs.push(19u8);
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]); // BEP 10 extension protocol bit
    hs.extend_from_slice(info_hash);
    hs.extend_from_slice(peer_id);
    hs
}

/// Connects with the extension bit set, exchanges BEP 10 handshakes and returns the peer's
/// id and its extension handshake.
fn raw_extension_handshake(addr: &str, info_hash: &[u8; 20]) -> ([u8; 20], ExtensionHandshake) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let peer_id: [u8; 20] = HARNESS_PEER_ID.as_bytes().try_into().expect("20");
    s.write_all(&handshake_bytes(info_hash, &peer_id))
        .expect("send handshake");
    let mut resp = [0u8; 68];
    s.read_exact(&mut resp)
        .unwrap_or_else(|e| panic!("handshake from {addr}: {e}"));
    assert_eq!(
        &resp[..20],
        b"\x13BitTorrent protocol",
        "handshake from {addr}"
    );
    assert_eq!(&resp[28..48], info_hash, "info hash from {addr}");
    assert_ne!(
        resp[25] & 0x10,
        0,
        "{addr} does not set the extension protocol bit"
    );
    let ours = ExtensionHandshake::ours("interop-magnet raw 0");
    write_extended(&mut s, 0, &ours.encode()).expect("send extension handshake");
    loop {
        let m = read_frame(&mut s).unwrap_or_else(|e| panic!("read from {addr}: {e}"));
        if m.len() >= 2 && m[0] == 20 && m[1] == 0 {
            let ext = ExtensionHandshake::decode(&m[2..]).expect("decode extension handshake");
            return (resp[48..68].try_into().expect("20"), ext);
        }
    }
}

/// The bencoded info dictionary of a torrent file, as it appears in the file.
fn info_dict_bytes(torrent: &Path) -> Vec<u8> {
    let data = fs::read(torrent).expect("read torrent");
    let span = Bencode::parse(&data).span("info").expect("info");
    data[span].to_vec()
}

// ---------------------------------------------------------------------------------------------
// fast-peer as a seeder
// ---------------------------------------------------------------------------------------------

/// `fast-peer seed TORRENT --data DATA --port N`, running and serving (it printed `Seeding`).
/// Killed on drop.
struct FpSeeder {
    port: u16,
    child: Child,
    stderr_path: PathBuf,
    _logdir: tempfile::TempDir,
}

impl FpSeeder {
    fn start(torrent: &Path, data: &Path) -> FpSeeder {
        let logdir = tempfile::tempdir().expect("tempdir");
        let stderr_path = logdir.path().join("stderr.log");
        let port = free_port();
        let mut cmd = fast_peer();
        cmd.arg("seed")
            .arg(torrent)
            .arg("--data")
            .arg(data)
            .args(["--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr_path).expect("stderr log"));
        let mut child = cmd.spawn().expect("spawn fast-peer seed");
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
        let mut seeder = FpSeeder {
            port,
            child,
            stderr_path,
            _logdir: logdir,
        };
        let deadline = Instant::now() + Duration::from_secs(TEST_TIMEOUT_SECS);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let done = line == "Seeding";
                    lines.push(line);
                    if done {
                        break;
                    }
                }
                Err(e) => {
                    let _ = seeder.child.kill();
                    panic!(
                        "fast-peer seed: no `Seeding` ({e:?}); stdout so far: {lines:?}\n\
                         --- stderr ---\n{}",
                        seeder.stderr()
                    );
                }
            }
        }
        assert!(
            lines.contains(&format!("Port: {port}")),
            "fast-peer seed --port {port} printed {lines:?}"
        );
        seeder
    }

    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for FpSeeder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Content, torrent and opentracker with a fast-peer seeder registered at the tracker.
struct FpSwarm {
    content: Content,
    meta: TorrentMeta,
    tracker: Opentracker,
    seeder: FpSeeder,
    work: tempfile::TempDir,
}

impl FpSwarm {
    fn start(layout: Layout, piece_length: u64) -> FpSwarm {
        let work = tempfile::tempdir().expect("tempdir");
        let content = create_content(&work.path().join("seed"), layout);
        let tracker = Opentracker::start();
        let (torrent, hash) = make_torrent(&content.path, piece_length, &tracker.http_announce());
        tracker.allow(&hash);
        let meta = TorrentMeta::read(&torrent);
        let seeder = FpSeeder::start(&torrent, &content.save_path);
        // Serving is not enough: clients that only know the tracker need the seeder's
        // announce to have arrived.
        wait_until(TEST_TIMEOUT_SECS, "the fast-peer seeder's announce", || {
            tracker.peers(&hash).iter().any(|a| a.port() == seeder.port)
        });
        FpSwarm {
            content,
            meta,
            tracker,
            seeder,
            work,
        }
    }

    fn magnet(&self, peers: &[String]) -> String {
        magnet(
            &self.meta.info_hash_hex(),
            Some(&self.meta.name),
            &[self.tracker.http_announce()],
            peers,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// 1. magnet_parse
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_parse_prints_tracker_and_info_hash() {
    let uri = "magnet:?xt=urn:btih:ad42ce8109f54c99613ce38f9b4d87e70f24a165&dn=magnet1.gif\
               &tr=http%3A%2F%2F127.0.0.1%3A8080%2Fannounce";
    let o = run_fp(&["magnet_parse", uri]);
    assert_success("fast-peer magnet_parse", &o);
    assert_eq!(
        stdout_str(&o),
        "Tracker URL: http://127.0.0.1:8080/announce\n\
         Info Hash: ad42ce8109f54c99613ce38f9b4d87e70f24a165\n"
    );

    // Built with the test's own encoder, upper-case hex in the URI.
    let hash = "0123456789abcdef0123456789abcdef01234567";
    let tr = "http://127.0.0.1:6969/announce";
    let uri = magnet(&hash.to_uppercase(), Some("a name"), &[tr.to_string()], &[]);
    let o = run_fp(&["magnet_parse", &uri]);
    assert_success("fast-peer magnet_parse (upper-case hex)", &o);
    assert_eq!(
        stdout_str(&o),
        format!("Tracker URL: {tr}\nInfo Hash: {hash}\n")
    );
}

#[test]
fn magnet_parse_base32_gives_the_same_hash() {
    let hash = "ad42ce8109f54c99613ce38f9b4d87e70f24a165";
    let raw: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let b32 = base32(&raw);
    assert_eq!(b32.len(), 32);
    let tr = "http://127.0.0.1:8080/announce".to_string();
    let want = format!("Tracker URL: {tr}\nInfo Hash: {hash}\n");
    for form in [b32.clone(), b32.to_lowercase()] {
        let uri = magnet(&form, Some("magnet1.gif"), std::slice::from_ref(&tr), &[]);
        let o = run_fp(&["magnet_parse", &uri]);
        assert_success(&format!("fast-peer magnet_parse {uri}"), &o);
        assert_eq!(stdout_str(&o), want, "{uri}");
    }
}

#[test]
fn magnet_parse_rejects_malformed_magnets() {
    let hash = "ad42ce8109f54c99613ce38f9b4d87e70f24a165";
    let tr = "&tr=http%3A%2F%2F127.0.0.1%3A8080%2Fannounce";
    let cases = [
        ("missing xt", format!("magnet:?dn=x{tr}")),
        ("empty magnet", "magnet:?".to_string()),
        (
            "39 hex digits",
            format!("magnet:?xt=urn:btih:{}{tr}", &hash[..39]),
        ),
        ("41 hex digits", format!("magnet:?xt=urn:btih:{hash}0{tr}")),
        (
            "non-hex character",
            format!("magnet:?xt=urn:btih:{}g{tr}", &hash[..39]),
        ),
        (
            "bad base32 character",
            format!("magnet:?xt=urn:btih:{}1{tr}", "A".repeat(31)),
        ),
        (
            "http URI",
            format!("http://127.0.0.1/?xt=urn:btih:{hash}{tr}"),
        ),
        (
            "urn:btmh only",
            format!("magnet:?xt=urn:btmh:1220{}{tr}", "ab".repeat(32)),
        ),
    ];
    for (what, uri) in cases {
        let o = run_fp(&["magnet_parse", &uri]);
        assert!(
            !o.status.success(),
            "{what}: magnet_parse {uri:?} succeeded with {:?}",
            stdout_str(&o)
        );
        assert!(o.stdout.is_empty(), "{what}: stdout {:?}", stdout_str(&o));
        assert!(
            !String::from_utf8_lossy(&o.stderr).trim().is_empty(),
            "{what}: no message on stderr"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. magnet_handshake
// ---------------------------------------------------------------------------------------------

fn magnet_handshake_lines(o: &Output) -> (String, u8) {
    let out = stdout_str(o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "magnet_handshake stdout: {out:?}");
    let id = lines[0]
        .strip_prefix("Peer ID: ")
        .unwrap_or_else(|| panic!("first line {:?}", lines[0]));
    let ext = lines[1]
        .strip_prefix("Peer Metadata Extension ID: ")
        .unwrap_or_else(|| panic!("second line {:?}", lines[1]))
        .parse()
        .expect("extension id is a number");
    (id.to_string(), ext)
}

#[test]
fn magnet_handshake_reports_peer_id_and_ut_metadata_id() {
    let swarm = Swarm::start(
        41,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::Http,
        2,
    );
    let mut ids = Vec::new();
    for s in &swarm.seeders {
        // What libtorrent announces, seen without fast-peer.
        let (raw_id, raw_ext) = raw_extension_handshake(&s.addr(), &swarm.meta.info_hash);
        assert_eq!(hex(&raw_id), s.peer_id_hex, "raw handshake peer id");
        let lt_id = raw_ext
            .id_of("ut_metadata")
            .expect("libtorrent announces ut_metadata");

        // --peer
        let o = run_fp(&["magnet_handshake", &swarm.magnet(&[]), "--peer", &s.addr()]);
        assert_success("fast-peer magnet_handshake --peer", &o);
        assert_eq!(
            stdout_str(&o),
            format!(
                "Peer ID: {}\nPeer Metadata Extension ID: {lt_id}\n",
                s.peer_id_hex
            ),
            "magnet_handshake with {}",
            s.addr()
        );

        // x.pe in the magnet (and no tracker), `:` percent-encoded too
        let only_pe = format!(
            "magnet:?xt=urn:btih:{}&x.pe={}",
            swarm.hash(),
            pct(&s.addr())
        );
        assert!(only_pe.contains("%3A"), "{only_pe}");
        let o = run_fp(&["magnet_handshake", &only_pe]);
        assert_success("fast-peer magnet_handshake (x.pe)", &o);
        assert_eq!(
            stdout_str(&o),
            format!(
                "Peer ID: {}\nPeer Metadata Extension ID: {lt_id}\n",
                s.peer_id_hex
            ),
            "magnet_handshake via x.pe={}",
            s.addr()
        );
        ids.push((s.peer_id_hex.clone(), lt_id));
    }

    // Only the tracker: the peer is one of the seeders.
    let o = run_fp(&["magnet_handshake", &swarm.magnet(&[])]);
    assert_success("fast-peer magnet_handshake (tracker)", &o);
    let got = magnet_handshake_lines(&o);
    assert!(ids.contains(&got), "{got:?} is none of the seeders {ids:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. magnet_info
// ---------------------------------------------------------------------------------------------

fn magnet_info_equals_info(net: u8, layout: Layout, piece_length: u64) {
    let swarm = Swarm::start(net, layout, piece_length, Tracker::Http, 2);
    let info = run_fp(&["info", swarm.torrent.to_str().expect("utf8 path")]);
    assert_success("fast-peer info", &info);
    let info = stdout_str(&info);
    assert!(
        info.contains(&format!("Info Hash: {}\n", swarm.hash())),
        "info output: {info}"
    );

    let mut args = vec!["magnet_info".to_string(), swarm.magnet(&[])];
    args.extend(port_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_fp(&args);
    if !o.status.success() {
        eprintln!("{}", swarm.seeder_logs());
    }
    assert_success("fast-peer magnet_info", &o);
    assert_eq!(stdout_str(&o), info, "magnet_info differs from info");
}

#[test]
fn magnet_info_equals_info_single_file() {
    magnet_info_equals_info(42, single_file_layout(), SINGLE_PIECE_LENGTH);
}

#[test]
fn magnet_info_equals_info_multi_file() {
    magnet_info_equals_info(43, multi_file_layout(), MULTI_PIECE_LENGTH);
}

// ---------------------------------------------------------------------------------------------
// 4. magnet_download_piece
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_download_piece_writes_exactly_that_piece() {
    let swarm = Swarm::start(
        44,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::Http,
        2,
    );
    let meta = &swarm.meta;
    let last = meta.num_pieces() - 1;
    assert!(
        meta.piece_size(last) < meta.piece_length,
        "the last piece is short"
    );
    for index in [meta.num_pieces() / 2, last] {
        let out = swarm.out_dir(&format!("piece-{index}"));
        let file = out.join(format!("piece-{index}.bin"));
        let mut cmd = fast_peer();
        cmd.arg("magnet_download_piece")
            .arg("-o")
            .arg(&file)
            .arg(swarm.magnet(&[]))
            .arg(index.to_string())
            .args(port_args());
        let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
        if !o.status.success() {
            eprintln!("{}", swarm.seeder_logs());
        }
        assert_success(&format!("fast-peer magnet_download_piece {index}"), &o);
        let got = fs::read(&file).expect("read piece file");
        assert_eq!(
            got.len() as u64,
            meta.piece_size(index),
            "length of piece {index}"
        );
        assert_eq!(
            sha1_bytes(&got),
            meta.pieces[index],
            "SHA-1 of piece {index}"
        );
        assert_eq!(
            got,
            meta.read_piece(&swarm.content.save_path, index),
            "bytes of piece {index}"
        );
        assert_no_extra_files(&out, &file);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. magnet_download from libtorrent seeders
// ---------------------------------------------------------------------------------------------

#[test]
fn magnet_download_single_file_via_tracker() {
    let swarm = Swarm::start(
        45,
        single_file_layout(),
        SINGLE_PIECE_LENGTH,
        Tracker::Http,
        2,
    );
    magnet_download_and_verify(&swarm, &swarm.magnet(&[]), &[], "tracker");
}

#[test]
fn magnet_download_multi_file_via_tracker() {
    let swarm = Swarm::start(
        46,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::Http,
        2,
    );
    magnet_download_and_verify(&swarm, &swarm.magnet(&[]), &[], "tracker");
}

/// No tracker anywhere: the magnet's `x.pe` peers are the only source of metadata and data.
#[test]
fn magnet_download_with_x_pe_peers_only() {
    let swarm = Swarm::start(
        47,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::None,
        2,
    );
    let m = swarm.magnet(&swarm.seeder_addrs());
    assert!(!m.contains("tr="), "{m}");
    magnet_download_and_verify(&swarm, &m, &[], "x-pe");

    // The same with the peers given as --peer and a bare magnet.
    let bare = magnet(&swarm.hash(), None, &[], &[]);
    let peers: Vec<String> = swarm
        .seeder_addrs()
        .into_iter()
        .flat_map(|a| ["--peer".to_string(), a])
        .collect();
    magnet_download_and_verify(&swarm, &bare, &peers, "peer-option");
}

/// `--dir DIR` saves as DIR/<name>, for a multi-file and a single-file torrent.
#[test]
fn magnet_download_with_dir_option() {
    let swarm = Swarm::start(
        48,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::Http,
        1,
    );
    let single = {
        let layout = vec![("one magnet file.bin".to_string(), 3 * MIB + 12_345)];
        let content = create_content(&swarm.work.path().join("seed2"), layout);
        let (torrent, hash) = make_torrent(
            &content.path,
            256 * KIB,
            &swarm.tracker.as_ref().expect("tracker").http_announce(),
        );
        swarm.tracker.as_ref().expect("tracker").allow(&hash);
        let seeder = LtPeer::seed(
            &torrent,
            &content.save_path,
            &test_ip(48, 12),
            SeedOpts::default(),
        );
        (content, TorrentMeta::read(&torrent), seeder)
    };

    let out = swarm.out_dir("out-multi");
    let mut cmd = fast_peer();
    cmd.arg("magnet_download")
        .arg("--dir")
        .arg(&out)
        .arg(swarm.magnet(&[]))
        .args(port_args());
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer magnet_download --dir (multi-file)", &o);
    let target = out.join(&swarm.meta.name);
    assert_same_tree(&swarm.content.path, &target);
    assert_no_extra_files(&out, &target);

    let (content, meta, _seeder) = single;
    let out = swarm.out_dir("out-single");
    let m = magnet(
        &meta.info_hash_hex(),
        Some(&meta.name),
        &swarm.trackers(),
        &[],
    );
    let mut cmd = fast_peer();
    cmd.arg("magnet_download")
        .arg("--dir")
        .arg(&out)
        .arg(&m)
        .args(port_args());
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer magnet_download --dir (single-file)", &o);
    let target = out.join(&meta.name);
    assert_same_file(&content.path, &target);
    assert_no_extra_files(&out, &target);
}

// ---------------------------------------------------------------------------------------------
// 6. fast-peer -> fast-peer
// ---------------------------------------------------------------------------------------------

/// A fast-peer seeder is the only peer: the metadata and the data both come from it, found
/// through the tracker, and then through `x.pe` alone.
#[test]
fn magnet_download_from_a_fast_peer_seeder() {
    let swarm = FpSwarm::start(multi_file_layout(), MULTI_PIECE_LENGTH);
    let seeder_addr = format!("{}:{}", test_ip(49, 11), swarm.seeder.port);
    let bare_pe = magnet(
        &swarm.meta.info_hash_hex(),
        Some(&swarm.meta.name),
        &[],
        std::slice::from_ref(&seeder_addr),
    );
    for (what, m) in [("tracker", swarm.magnet(&[])), ("x-pe", bare_pe)] {
        let out = swarm.work.path().join(format!("out-{what}"));
        fs::create_dir_all(&out).expect("out dir");
        let target = out.join(&swarm.meta.name);
        let mut cmd = fast_peer();
        cmd.arg("magnet_download")
            .arg("-o")
            .arg(&target)
            .arg(&m)
            .args(port_args());
        let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
        if !o.status.success() {
            eprintln!("--- fast-peer seeder ---\n{}", swarm.seeder.stderr());
        }
        assert_success(&format!("fast-peer magnet_download ({what})"), &o);
        assert_same_tree(&swarm.content.path, &target);
        assert_no_extra_files(&out, &target);
    }
}

// ---------------------------------------------------------------------------------------------
// 7. libtorrent and aria2 fetch a magnet from a fast-peer seeder
// ---------------------------------------------------------------------------------------------

#[test]
fn libtorrent_fetches_a_magnet_from_a_fast_peer_seeder() {
    let swarm = FpSwarm::start(single_file_layout(), SINGLE_PIECE_LENGTH);
    let out = swarm.work.path().join("out-lt");
    let seeder_addr = format!("{}:{}", test_ip(50, 11), swarm.seeder.port);
    let o = lt_leech_magnet(
        &swarm.magnet(&[]),
        &out,
        &test_ip(50, 21),
        &[seeder_addr],
        TEST_TIMEOUT_SECS,
    );
    if !o.status.success() {
        eprintln!("--- fast-peer seeder ---\n{}", swarm.seeder.stderr());
    }
    assert_success("lt_peer.py leech --magnet", &o);
    assert_same_content(&swarm.content.path, &out.join(&swarm.meta.name));
}

#[test]
fn libtorrent_fetches_a_multi_file_magnet_from_a_fast_peer_seeder_via_x_pe() {
    let swarm = FpSwarm::start(multi_file_layout(), MULTI_PIECE_LENGTH);
    let out = swarm.work.path().join("out-lt");
    let seeder_addr = format!("{}:{}", test_ip(51, 11), swarm.seeder.port);
    // No tracker: libtorrent learns the seeder from the magnet's x.pe only.
    let m = magnet(
        &swarm.meta.info_hash_hex(),
        Some(&swarm.meta.name),
        &[],
        &[seeder_addr],
    );
    let o = lt_leech_magnet(&m, &out, &test_ip(51, 21), &[], TEST_TIMEOUT_SECS);
    if !o.status.success() {
        eprintln!("--- fast-peer seeder ---\n{}", swarm.seeder.stderr());
    }
    assert_success("lt_peer.py leech --magnet (x.pe)", &o);
    assert_same_tree(&swarm.content.path, &out.join(&swarm.meta.name));
}

/// `aria2c` with a magnet: the harness's aria2 settings (`common::aria2c_base`) for an HTTP
/// tracker, the magnet as the last argument.
fn aria2c_magnet(magnet: &str, out: &Path, ip: &str) -> Command {
    let mut cmd = aria2c_base(out, ip);
    cmd.args(["--enable-dht=false", "--bt-save-metadata=false"])
        .arg(magnet);
    cmd
}

#[test]
fn aria2_fetches_a_magnet_from_a_fast_peer_seeder() {
    let swarm = FpSwarm::start(multi_file_layout(), MULTI_PIECE_LENGTH);
    let out = swarm.work.path().join("out-aria2");
    fs::create_dir_all(&out).expect("out dir");
    let m = format!(
        "magnet:?xt=urn:btih:{}&tr={}",
        swarm.meta.info_hash_hex(),
        swarm.tracker.http_announce()
    );
    let o = run_with_timeout(
        &mut aria2c_magnet(&m, &out, &test_ip(52, 21)),
        TEST_TIMEOUT_SECS,
    );
    if !o.status.success() {
        eprintln!("--- fast-peer seeder ---\n{}", swarm.seeder.stderr());
    }
    assert_success("aria2c (magnet)", &o);
    let target = out.join(&swarm.meta.name);
    assert_same_tree(&swarm.content.path, &target);
    assert_no_extra_files(&out, &target);
}

// ---------------------------------------------------------------------------------------------
// 8. Hostile metadata
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Hostility {
    /// Announces twice the real metadata_size and serves garbage.
    DoubleSize,
    /// Announces the real size, serves the real info dict with every byte flipped.
    WrongBytes,
    /// Announces 100 MiB and serves garbage if asked.
    Huge,
}

/// What the hostile peers and the relay to the good seeder saw, shared between them.
#[derive(Default)]
struct Scenario {
    /// Connections to a hostile peer whose BEP 3 handshake named our torrent.
    handshakes: AtomicUsize,
    /// BEP 10 handshakes the client sent to hostile peers.
    ext_handshakes: AtomicUsize,
    /// ut_metadata requests answered with bad data.
    served: AtomicUsize,
    /// The good seeder's BEP 10 handshake went through the relay to the client.
    good_ext_delivered: AtomicBool,
}

impl Scenario {
    fn report(&self) -> String {
        format!(
            "hostile peers: {} handshakes, {} extension handshakes from the client, {} metadata \
             pieces served; good seeder's extension handshake delivered: {}",
            self.handshakes.load(Ordering::Relaxed),
            self.ext_handshakes.load(Ordering::Relaxed),
            self.served.load(Ordering::Relaxed),
            self.good_ext_delivered.load(Ordering::Relaxed)
        )
    }
}

/// Longest a hostile peer or the relay holds something back to order the scenario; only a
/// fallback (it is never reached when the client behaves as expected).
const HOLD: Duration = Duration::from_secs(30);

/// A scripted peer: BEP 3 handshake with the extension bit, a BEP 10 handshake advertising
/// `ut_metadata` (on id 3) with a hostile `metadata_size`, hostile answers to metadata
/// requests, nothing else (no bitfield, never unchokes). After its first answer it holds
/// further answers until the good seeder's extension handshake has reached the client, so the
/// client knows the good peer before the bad metadata is complete and rejected.
struct FakePeer {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl FakePeer {
    const UT_METADATA_ID: u8 = 3;

    fn start(
        ip: &str,
        info_hash: [u8; 20],
        info: Arc<Vec<u8>>,
        mode: Hostility,
        scenario: Arc<Scenario>,
    ) -> FakePeer {
        let listener = TcpListener::bind((ip, 0)).expect("bind fake peer");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (sc, stop, info) = (scenario.clone(), stop.clone(), info.clone());
                            thread::spawn(move || {
                                let _ = serve_hostile(s, info_hash, &info, mode, &sc, &stop);
                            });
                        }
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        FakePeer { addr, stop }
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    content_bytes(&format!("garbage-{seed}"), 0, &mut buf);
    buf
}

fn serve_hostile(
    mut s: TcpStream,
    info_hash: [u8; 20],
    info: &[u8],
    mode: Hostility,
    sc: &Scenario,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut hs = [0u8; 68];
    let deadline = Instant::now() + HOLD;
    let mut got = 0;
    while got < 68 {
        match s.read(&mut hs[got..]) {
            Ok(0) => return Ok(()),
            Ok(n) => got += n,
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {}
            Err(e) => return Err(e),
        }
    }
    if &hs[..20] != b"\x13BitTorrent protocol" || hs[28..48] != info_hash {
        return Ok(());
    }
    s.write_all(&handshake_bytes(&info_hash, b"-FK0001-hostile-peer"))?;
    sc.handshakes.fetch_add(1, Ordering::Relaxed);
    let real = info.len() as u32;
    let claimed = match mode {
        Hostility::DoubleSize => 2 * real,
        Hostility::WrongBytes => real,
        Hostility::Huge => 100 * MIB as u32,
    };
    let ours = ExtensionHandshake {
        m: BTreeMap::from([("ut_metadata".to_string(), FakePeer::UT_METADATA_ID)]),
        v: Some(format!("hostile {mode:?}")),
        metadata_size: Some(claimed),
        ..ExtensionHandshake::default()
    };
    write_extended(&mut s, 0, &ours.encode())?;
    let mut their_ut_metadata = None;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().expect("4")) as usize;
            if len > 1 << 20 {
                return Ok(());
            }
            if buf.len() < 4 + len {
                break;
            }
            let msg: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
            if msg.len() < 2 || msg[0] != 20 {
                continue; // keep-alive, interested, have none, ...: ignored
            }
            if msg[1] == 0 {
                sc.ext_handshakes.fetch_add(1, Ordering::Relaxed);
                if let Ok(h) = ExtensionHandshake::decode(&msg[2..]) {
                    their_ut_metadata = h.id_of("ut_metadata");
                }
            } else if msg[1] == FakePeer::UT_METADATA_ID {
                let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(&msg[2..])
                else {
                    continue;
                };
                let (Some(len), Some(reply_id)) =
                    (metadata_piece_len(claimed, piece), their_ut_metadata)
                else {
                    continue;
                };
                if sc.served.load(Ordering::Relaxed) > 0 {
                    let until = Instant::now() + HOLD;
                    while !sc.good_ext_delivered.load(Ordering::Relaxed)
                        && Instant::now() < until
                        && !stop.load(Ordering::Relaxed)
                    {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
                let start = piece as usize * 16384;
                let data = match mode {
                    Hostility::WrongBytes => info[start..start + len as usize]
                        .iter()
                        .map(|b| b ^ 0x5a)
                        .collect(),
                    _ => garbage(u64::from(piece), len as usize),
                };
                let reply = MetadataMessage::Data {
                    piece,
                    total_size: claimed,
                    data: data.into(),
                };
                write_extended(&mut s, reply_id, &reply.encode())?;
                sc.served.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    Ok(())
}

/// A transparent TCP relay to the good seeder whose connections are held (accepted, nothing
/// forwarded) until `open()` is true (or `HOLD` passed). It records in the scenario when the
/// seeder's BEP 10 handshake has been passed on to the client.
struct GatedRelay {
    addr: String,
    stop: Arc<AtomicBool>,
}

impl GatedRelay {
    fn start(
        ip: &str,
        target: String,
        scenario: Arc<Scenario>,
        open: impl Fn(&Scenario) -> bool + Send + Sync + 'static,
    ) -> GatedRelay {
        let listener = TcpListener::bind((ip, 0)).expect("bind relay");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(open);
        {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((client, _)) = listener.accept() else {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let (open, stop, target, sc) =
                        (open.clone(), stop.clone(), target.clone(), scenario.clone());
                    thread::spawn(move || {
                        let until = Instant::now() + HOLD;
                        while !open(&sc) && Instant::now() < until {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            thread::sleep(Duration::from_millis(5));
                        }
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(&target) else {
                            return;
                        };
                        relay_both(client, server, &sc);
                    });
                }
            });
        }
        GatedRelay { addr, stop }
    }
}

impl Drop for GatedRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Pumps both ways until either side closes; watches the seeder's side for its BEP 10
/// handshake (after the 68-byte BEP 3 handshake, a message `20, 0, ...`).
fn relay_both(client: TcpStream, server: TcpStream, sc: &Scenario) {
    let (c2, s2) = (
        client.try_clone().expect("clone"),
        server.try_clone().expect("clone"),
    );
    let up = thread::spawn(move || {
        let (mut from, mut to) = (c2, s2);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
    let (mut from, mut to) = (server, client);
    let mut seen: Vec<u8> = Vec::new();
    let mut watching = true;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&chunk[..n]).is_err() {
            break;
        }
        if watching {
            seen.extend_from_slice(&chunk[..n]);
            let mut at = 68;
            while seen.len() >= at + 4 {
                let len = u32::from_be_bytes(seen[at..at + 4].try_into().expect("4")) as usize;
                if seen.len() < at + 4 + len {
                    break;
                }
                if len >= 2 && seen[at + 4] == 20 && seen[at + 5] == 0 {
                    sc.good_ext_delivered.store(true, Ordering::Relaxed);
                    watching = false;
                    break;
                }
                at += 4 + len;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = up.join();
}

/// 16 KiB pieces over ~14 MiB: the info dict (~18 KB) spans two metadata pieces.
fn hostile_layout() -> Layout {
    vec![
        ("hostile/a.bin".into(), 9 * MIB + 5),
        ("hostile/b.bin".into(), 0),
        ("hostile/sub/c.bin".into(), 5 * MIB + 77),
    ]
}

/// `fakes` hostile peers listed first in `x.pe`, then the good libtorrent seeder behind a
/// relay that opens once `open` holds; the torrent has `layout` in 16 KiB pieces. The download
/// must complete and verify. Returns what the scenario saw and fast-peer's stderr.
fn hostile_metadata_download(
    net: u8,
    mode: Hostility,
    fakes: u8,
    layout: Layout,
    open: impl Fn(&Scenario) -> bool + Send + Sync + 'static,
    extra: &[&str],
) -> (Arc<Scenario>, String) {
    let swarm = Swarm::start(net, layout, 16 * KIB, Tracker::None, 1);
    let info = Arc::new(info_dict_bytes(&swarm.torrent));
    assert!(
        info.len() > 16384,
        "the info dict spans several metadata pieces"
    );
    let scenario = Arc::new(Scenario::default());
    let fakes: Vec<FakePeer> = (0..fakes)
        .map(|i| {
            FakePeer::start(
                &test_ip(net, 20 + i),
                swarm.meta.info_hash,
                info.clone(),
                mode,
                scenario.clone(),
            )
        })
        .collect();
    let relay = GatedRelay::start(
        &test_ip(net, 30),
        swarm.seeders[0].addr(),
        scenario.clone(),
        open,
    );
    let mut peers: Vec<String> = fakes.iter().map(|f| f.addr.clone()).collect();
    peers.push(relay.addr.clone());
    let m = swarm.magnet(&peers);
    let what = format!("{mode:?}");
    let out = swarm.out_dir(&what);
    let target = out.join(&swarm.meta.name);
    let mut cmd = fast_peer();
    cmd.arg("magnet_download")
        .arg("-o")
        .arg(&target)
        .arg(&m)
        .args(port_args())
        .args(extra);
    let mut run = Running::start(&mut cmd);
    let o = run.wait_for(TEST_TIMEOUT_SECS);
    eprintln!("{}", scenario.report());
    let o = o.unwrap_or_else(|| {
        let o = run.kill();
        panic!(
            "fast-peer magnet_download with hostile peers ({what}) did not finish in {}s, \
             killed; {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            TEST_TIMEOUT_SECS,
            scenario.report(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    if !o.status.success() {
        eprintln!("{}", swarm.seeder_logs());
    }
    assert_success(
        &format!("fast-peer magnet_download with hostile peers ({what})"),
        &o,
    );
    assert_same_tree(&swarm.content.path, &target);
    assert_no_extra_files(&out, &target);
    (scenario, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// (a) metadata_size twice the real one, garbage content. The good seeder is reachable once a
/// hostile peer has served a piece, and its extension handshake reaches the client before the
/// hostile peers serve the rest.
#[test]
fn magnet_download_survives_a_peer_with_wrong_metadata_size() {
    let (sc, _) = hostile_metadata_download(
        53,
        Hostility::DoubleSize,
        2,
        hostile_layout(),
        |sc| sc.served.load(Ordering::Relaxed) > 0,
        &[],
    );
    assert!(sc.served.load(Ordering::Relaxed) > 0, "{}", sc.report());
    assert!(
        sc.good_ext_delivered.load(Ordering::Relaxed),
        "{}",
        sc.report()
    );
}

/// (b) The right metadata_size, wrong bytes (fails the info-hash check); ordered like (a).
#[test]
fn magnet_download_survives_a_peer_with_wrong_metadata_bytes() {
    let (sc, _) = hostile_metadata_download(
        54,
        Hostility::WrongBytes,
        2,
        hostile_layout(),
        |sc| sc.served.load(Ordering::Relaxed) > 0,
        &[],
    );
    assert!(sc.served.load(Ordering::Relaxed) > 0, "{}", sc.report());
    assert!(
        sc.good_ext_delivered.load(Ordering::Relaxed),
        "{}",
        sc.report()
    );
}

/// (c) Peers claiming 100 MiB of metadata, over `--max-metadata-size 1048576`: never asked
/// for it; the good seeder (reachable once a hostile peer was contacted) provides it.
#[test]
fn magnet_download_ignores_a_peer_claiming_huge_metadata() {
    let (sc, _) = hostile_metadata_download(
        55,
        Hostility::Huge,
        2,
        hostile_layout(),
        |sc| sc.handshakes.load(Ordering::Relaxed) > 0,
        &["--max-metadata-size", "1048576"],
    );
    assert!(sc.handshakes.load(Ordering::Relaxed) > 0, "{}", sc.report());
    assert_eq!(
        sc.served.load(Ordering::Relaxed),
        0,
        "fast-peer asked a peer claiming 100 MiB (over --max-metadata-size) for metadata: {}",
        sc.report()
    );
}

/// (d) One liar and one honest seeder serve pieces of the same copy, so the copy fails the
/// info-hash check and the hash alone cannot say who lied. The honest seeder must not pay for
/// it: it is the only source of good metadata here, so banning it would stall the download.
/// The info dict spans four metadata pieces; the liar answers its first request at once
/// (garbage), by then holds two more requests, and answers them only after the seeder's
/// extension handshake reached the client, so the seeder serves the fourth piece.
#[test]
fn magnet_liar_cannot_get_the_honest_seeder_banned() {
    let layout: Layout = vec![("mixed/big.bin".into(), 42 * MIB + 9)];
    let (sc, stderr) = hostile_metadata_download(
        57,
        Hostility::WrongBytes,
        1,
        layout,
        |sc| sc.served.load(Ordering::Relaxed) > 0,
        &["-v"],
    );
    assert!(sc.served.load(Ordering::Relaxed) >= 3, "{}", sc.report());
    assert!(
        stderr.contains("metadata from several peers failed the info-hash check"),
        "the first copy was not a mix of the liar's and the seeder's pieces, so this test did \
         not exercise what it names; {}\n{stderr}",
        sc.report()
    );
    assert!(
        stderr.contains("sent bad metadata"),
        "the liar was not named: {stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. nhandshake
// ---------------------------------------------------------------------------------------------

/// The `theirs` column of each row of `nhandshake`'s table, by row name.
fn nhandshake_rows(out: &str) -> BTreeMap<String, (String, String)> {
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("ours") && l.contains("theirs"))
        .unwrap_or_else(|| panic!("no `ours  theirs` header in:\n{out}"));
    let ours_col = lines[header].find("ours").expect("ours");
    let theirs_col = lines[header].find("theirs").expect("theirs");
    lines[header + 1..]
        .iter()
        .map(|l| {
            let name = l[..ours_col].trim().to_string();
            let ours = l.get(ours_col..theirs_col).unwrap_or("").trim().to_string();
            let theirs = l.get(theirs_col..).unwrap_or("").trim().to_string();
            (name, (ours, theirs))
        })
        .collect()
}

#[test]
fn nhandshake_shows_libtorrents_extension_dictionary() {
    let swarm = Swarm::start(
        56,
        multi_file_layout(),
        MULTI_PIECE_LENGTH,
        Tracker::Http,
        1,
    );
    let seeder = &swarm.seeders[0];
    let (_, raw_ext) = raw_extension_handshake(&seeder.addr(), &swarm.meta.info_hash);
    let lt_id = raw_ext.id_of("ut_metadata").expect("ut_metadata");
    let lt_pex = raw_ext
        .id_of("ut_pex")
        .expect("libtorrent announces ut_pex");

    // Text, from a magnet.
    let o = run_fp(&["nhandshake", &swarm.magnet(&[]), &seeder.addr()]);
    assert_success("fast-peer nhandshake (text)", &o);
    let text = stdout_str(&o);
    let rows = nhandshake_rows(&text);
    let theirs = |k: &str| -> &str {
        &rows
            .get(k)
            .unwrap_or_else(|| panic!("no row {k} in:\n{text}"))
            .1
    };
    assert_eq!(theirs("m.ut_metadata"), lt_id.to_string(), "\n{text}");
    assert_eq!(theirs("m.ut_pex"), lt_pex.to_string(), "\n{text}");
    assert!(theirs("v").contains("libtorrent"), "\n{text}");
    assert_eq!(theirs("Peer ID"), seeder.peer_id_hex, "\n{text}");
    assert_eq!(theirs("extension protocol"), "yes", "\n{text}");

    // JSON, from a magnet.
    let o = run_fp(&["nhandshake", &swarm.magnet(&[]), &seeder.addr(), "--json"]);
    assert_success("fast-peer nhandshake --json", &o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("nhandshake --json: {e}: {}", stdout_str(&o)));
    let theirs = &v["theirs"];
    assert_eq!(
        theirs["extension_handshake"]["m"]["ut_metadata"],
        serde_json::json!(lt_id),
        "{v:#}"
    );
    assert_eq!(
        theirs["extension_handshake"]["m"]["ut_pex"],
        serde_json::json!(lt_pex),
        "{v:#}"
    );
    assert!(
        theirs["client"]
            .as_str()
            .is_some_and(|c| c.contains("libtorrent")),
        "theirs.client: {v:#}"
    );
    assert!(
        theirs["extension_handshake"]["v"]
            .as_str()
            .is_some_and(|c| c.contains("libtorrent")),
        "theirs.extension_handshake.v: {v:#}"
    );
    assert_eq!(
        theirs["peer_id"],
        serde_json::json!(seeder.peer_id_hex),
        "{v:#}"
    );
    let bits = v["ours"]["reserved_bits"]
        .as_array()
        .expect("ours.reserved_bits");
    assert!(
        bits.iter()
            .any(|b| b.as_str() == Some("extension protocol")),
        "ours.reserved_bits: {v:#}"
    );
    assert_eq!(v["info_hash"], serde_json::json!(swarm.hash()), "{v:#}");

    // From the .torrent file, the peer found through the torrent's tracker.
    let o = run_fp(&[
        "nhandshake",
        swarm.torrent.to_str().expect("utf8"),
        "--json",
    ]);
    assert_success("fast-peer nhandshake FILE.torrent --json", &o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("nhandshake --json: {e}: {}", stdout_str(&o)));
    assert_eq!(v["peer"], serde_json::json!(seeder.addr()), "{v:#}");
    assert_eq!(
        v["theirs"]["extension_handshake"]["m"]["ut_metadata"],
        serde_json::json!(lt_id),
        "{v:#}"
    );
    // And as a table, with the peer given.
    let o = run_fp(&[
        "nhandshake",
        swarm.torrent.to_str().expect("utf8"),
        &seeder.addr(),
    ]);
    assert_success("fast-peer nhandshake FILE.torrent IP:PORT", &o);
    let text = stdout_str(&o);
    let rows = nhandshake_rows(&text);
    assert_eq!(
        rows.get("m.ut_metadata").map(|r| r.1.as_str()),
        Some(lt_id.to_string().as_str()),
        "\n{text}"
    );
}
