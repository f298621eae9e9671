//! fast-peer as the only seeder (and as a torrent maker) against real, independently written
//! software: libtorrent 2.0.8 leechers (`scripts/lt_peer.py leech`), aria2 1.36 and
//! opentracker, all on 127.0.0.0/8. Every download is checked byte for byte by hash.
//!
//! CLI contract under test (errors go to stderr with a non-zero exit):
//! - `fast-peer seed FILE.torrent --data PATH [--port N] [--upload-limit RATE]` prints
//!   `Info Hash: <hex>`, `Port: <n>`, `Pieces: <verified>/<total>` and then `Seeding` once its
//!   data is checked and it serves; it runs until SIGINT, then announces `stopped` and exits 0.
//!   PATH is the file (single-file torrent), the root folder (multi-file), or the folder that
//!   contains the torrent's name.
//! - `fast-peer create PATH -o FILE.torrent --tracker URL --piece-length N [--private]` prints
//!   `Info Hash: <hex>`; the torrent equals libtorrent's for the same content and settings.
//! - `fast-peer demo --no-tui` runs an in-process swarm on loopback and prints `verified: ...`.
//!
//! Each test uses its own loopback network 127.0.NET.x (NET = 21..=40, unique per test) for
//! the clients it starts, and ports from `free_port`, so tests run in parallel. The seeder listens
//! on every local address, so `--peer 127.0.NET.11:PORT` reaches it. Every process is bounded
//! by a timeout: a hang fails the test instead of blocking CI.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::fs;
use std::io::Read;

use std::path::{Path, PathBuf};
use std::process::Command;

use std::thread;
use std::time::{Duration, Instant};

use common::*;

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Which `--data` form the seeder gets.
#[derive(Clone, Copy, Debug)]
enum DataArg {
    /// The file (single-file torrent) or the root folder (multi-file).
    Content,
    /// The folder that contains the torrent's name.
    SavePath,
}

/// Content and a libtorrent-made torrent in a temp folder; with a tracker, an opentracker
/// that accepts the torrent.
struct Setup {
    content: Content,
    torrent: PathBuf,
    meta: TorrentMeta,
    tracker: Option<Opentracker>,
    work: tempfile::TempDir,
}

impl Setup {
    fn new(layout: Layout, piece_length: u64, with_tracker: bool) -> Setup {
        let work = tempfile::tempdir().expect("tempdir");
        let content = create_content(&work.path().join("seed"), layout);
        let tracker = with_tracker.then(Opentracker::start);
        let url = match &tracker {
            Some(t) => t.http_announce(),
            None => format!("http://127.0.0.1:{}/announce", closed_port()),
        };
        let (torrent, hash) = make_torrent(&content.path, piece_length, &url);
        if let Some(t) = &tracker {
            t.allow(&hash);
        }
        let meta = TorrentMeta::read(&torrent);
        Setup {
            content,
            torrent,
            meta,
            tracker,
            work,
        }
    }

    fn single() -> (Layout, u64) {
        (single_file_layout(), SINGLE_PIECE_LENGTH)
    }

    fn multi() -> (Layout, u64) {
        (multi_file_layout(), MULTI_PIECE_LENGTH)
    }

    fn data_path(&self, arg: DataArg) -> PathBuf {
        match arg {
            DataArg::Content => self.content.path.clone(),
            DataArg::SavePath => self.content.save_path.clone(),
        }
    }

    /// Starts `fast-peer seed` and checks that it verified all of the data.
    fn seed(&self, arg: DataArg, extra: &[&str]) -> FastSeed {
        let s = FastSeed::start(&self.torrent, &self.data_path(arg), extra);
        s.assert_complete(&self.meta);
        s
    }

    /// With a tracker: waits until the seeder is in the tracker's peer list, so a client
    /// started afterwards certainly learns about it from its first announce.
    fn wait_announced(&self, seed: &FastSeed) {
        let t = self.tracker.as_ref().expect("tracker");
        let hash = self.meta.info_hash_hex();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let peers = t.peers(&hash);
            if peers.iter().any(|a| a.port() == seed.port) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fast-peer seed (port {}) not in the tracker's peers after 30 s: {peers:?}\n\
                 --- seed stderr ---\n{}",
                seed.port,
                seed.stderr()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn out_dir(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        fs::create_dir_all(&dir).expect("create out dir");
        dir
    }

    /// Asserts that `out_dir` holds exactly the torrent's content under its name.
    fn assert_downloaded(&self, out_dir: &Path) {
        let target = out_dir.join(&self.meta.name);
        assert_same_content(&self.content.path, &target);
        let extra: Vec<_> = fs::read_dir(out_dir)
            .expect("read out dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p != &target && !is_aria2_dht_file(p))
            .collect();
        assert!(
            extra.is_empty(),
            "unexpected files next to the download: {extra:?}"
        );
    }
}

fn is_aria2_dht_file(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".aria2-dht.dat")
}

/// Runs a client against `seed` for at most `secs`; fails (with the client's output and the
/// seeder's log) unless it exits successfully.
fn run_client(what: &str, cmd: &mut Command, secs: u64, seed: &FastSeed) {
    let mut run = Running::start(cmd);
    let (o, timed_out) = match run.wait_for(secs) {
        Some(o) => (o, false),
        None => (run.kill(), true),
    };
    if timed_out || !o.status.success() {
        eprintln!(
            "--- fast-peer seed stdout ---\n{}\n--- fast-peer seed stderr ---\n{}",
            seed.stdout.join("\n"),
            seed.stderr()
        );
    }
    assert!(
        !timed_out,
        "{what} timed out after {secs} s (killed)\n--- stdout ---\n{}\n--- stderr ---\n{}",
        tail(&o.stdout),
        tail(&o.stderr)
    );
    assert_success(what, &o);
}

/// The last 8 KiB of a captured stream (aria2's progress lines are long).
fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let cut = s.len().saturating_sub(8 * 1024);
    let cut = (cut..s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len());
    s[cut..].to_string()
}

/// Fails (with the seeder's log) unless a client that ran against `seed` succeeded.
fn fail_with_seed_log(what: &str, o: &std::process::Output, seed: &FastSeed) {
    if !o.status.success() {
        eprintln!(
            "--- fast-peer seed stdout ---\n{}\n--- fast-peer seed stderr ---\n{}",
            seed.stdout.join("\n"),
            seed.stderr()
        );
    }
    assert_success(what, o);
}

/// libtorrent downloads from `fast-peer seed` alone, given the seeder with `--peer` (the
/// torrent's tracker is unreachable).
fn lt_from_seed_via_peer(net: u8, (layout, piece_length): (Layout, u64), arg: DataArg) {
    let setup = Setup::new(layout, piece_length, false);
    let seed = setup.seed(arg, &[]);
    let out = setup.out_dir("out");
    let o = lt_leech(
        &setup.torrent,
        &out,
        &test_ip(net, 20),
        &[seed.addr_on(net)],
        TEST_TIMEOUT_SECS,
    );
    fail_with_seed_log("lt_peer.py leech --peer <fast-peer seed>", &o, &seed);
    setup.assert_downloaded(&out);
}

/// libtorrent downloads from `fast-peer seed` alone, which it learns about from opentracker.
fn lt_from_seed_via_tracker(net: u8, (layout, piece_length): (Layout, u64), arg: DataArg) {
    let setup = Setup::new(layout, piece_length, true);
    let seed = setup.seed(arg, &[]);
    setup.wait_announced(&seed);
    let out = setup.out_dir("out");
    let o = lt_leech(
        &setup.torrent,
        &out,
        &test_ip(net, 20),
        &[],
        TEST_TIMEOUT_SECS,
    );
    fail_with_seed_log("lt_peer.py leech (tracker)", &o, &seed);
    setup.assert_downloaded(&out);
}

/// aria2 downloads from `fast-peer seed` alone, which it learns about from opentracker (HTTP).
/// aria2 1.36 sends its bitfield a second time, after its allowed-fast messages (BEP 6): a
/// seeder that drops it for that serves nothing.
fn aria2_from_seed(net: u8, (layout, piece_length): (Layout, u64), arg: DataArg) {
    let setup = Setup::new(layout, piece_length, true);
    let seed = setup.seed(arg, &[]);
    setup.wait_announced(&seed);
    let out = setup.out_dir("out");
    run_client(
        "aria2c",
        &mut aria2c(&setup.torrent, &out, &test_ip(net, 20)),
        TEST_TIMEOUT_SECS,
        &seed,
    );
    setup.assert_downloaded(&out);
}

/// `fast-peer download --peer` from `fast-peer seed` alone (the tracker is unreachable).
fn fast_peer_from_seed(net: u8, (layout, piece_length): (Layout, u64), arg: DataArg) {
    let setup = Setup::new(layout, piece_length, false);
    let seed = setup.seed(arg, &[]);
    fast_peer_downloads_from(
        &setup,
        &seed,
        net,
        &[],
        "out",
        "fast-peer download --peer <fast-peer seed>",
    );
}

/// `fast-peer GLOBAL... download --peer <seed>` into the fresh folder `out_name`, which must
/// then hold the whole content.
fn fast_peer_downloads_from(
    setup: &Setup,
    seed: &FastSeed,
    net: u8,
    global: &[&str],
    out_name: &str,
    what: &str,
) {
    let out = setup.out_dir(out_name);
    let mut cmd = fast_peer();
    cmd.args(global)
        .arg("download")
        .arg("-o")
        .arg(out.join(&setup.meta.name))
        .arg(&setup.torrent)
        .args(["--port", &free_port().to_string()])
        .args(["--peer", &seed.addr_on(net)]);
    run_client(what, &mut cmd, TEST_TIMEOUT_SECS, seed);
    setup.assert_downloaded(&out);
}

/// libtorrent that requires RC4 (Message Stream Encryption, plaintext refused) downloads
/// from `fast-peer seed` with the default policy: the seeder answers the MSE handshake and
/// encrypts every byte.
#[test]
fn libtorrent_requiring_rc4_downloads_from_seed() {
    let net = 29;
    let setup = Setup::new(multi_file_layout(), MULTI_PIECE_LENGTH, false);
    let seed = setup.seed(DataArg::Content, &[]);
    let out = setup.out_dir("out");
    let o = lt_leech_rc4(
        &setup.torrent,
        &out,
        &test_ip(net, 20),
        &[seed.addr_on(net)],
        TEST_TIMEOUT_SECS,
    );
    fail_with_seed_log("lt_peer.py leech --encryption rc4", &o, &seed);
    setup.assert_downloaded(&out);
}

/// aria2 with `--bt-require-crypto --bt-min-crypto-level=arc4` (RC4 only) downloads from
/// `fast-peer seed`.
#[test]
fn aria2_requiring_rc4_downloads_from_seed() {
    let net = 30;
    let setup = Setup::new(single_file_layout(), SINGLE_PIECE_LENGTH, true);
    let seed = setup.seed(DataArg::Content, &[]);
    setup.wait_announced(&seed);
    let out = setup.out_dir("out");
    let mut cmd = aria2c(&setup.torrent, &out, &test_ip(net, 20));
    cmd.args(["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"]);
    run_client("aria2c (RC4 required)", &mut cmd, TEST_TIMEOUT_SECS, &seed);
    setup.assert_downloaded(&out);
}

/// `--encryption required` on both sides: `fast-peer download` offers RC4 only and the
/// seeder accepts nothing else; a plaintext handshake (`fast-peer --encryption disabled
/// handshake`) is refused.
#[test]
fn required_encryption_downloads_over_rc4_and_refuses_plaintext() {
    let net = 31;
    let setup = Setup::new(multi_file_layout(), MULTI_PIECE_LENGTH, false);
    let seed = setup.seed(DataArg::Content, &["--encryption", "required"]);
    let o = fast_peer()
        .args(["--encryption", "disabled", "handshake"])
        .arg(&setup.torrent)
        .arg(seed.addr_on(net))
        .output()
        .expect("run fast-peer handshake");
    assert!(
        !o.status.success(),
        "a plaintext handshake must be refused: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let what = "fast-peer --encryption required download";
    fast_peer_downloads_from(
        &setup,
        &seed,
        net,
        &["--encryption", "required"],
        "out",
        what,
    );
}

/// `--encryption prefer`: an outgoing connection opens with an MSE handshake, and a peer
/// without MSE gets a plaintext retry. A scripted listener shows both: the first connection's
/// first bytes are a Diffie-Hellman key, not `\x13BitTorrent protocol`, and when it hangs up
/// (as a peer without MSE does) the next connection is a plaintext handshake for the torrent.
/// Then real downloads: from `fast-peer seed --encryption disabled` (no MSE at all: the
/// fallback) and from a seeder that requires RC4 (MSE at once).
#[test]
fn prefer_encryption_tries_mse_first_then_plaintext() {
    let net = 37;
    let setup = Setup::new(multi_file_layout(), MULTI_PIECE_LENGTH, false);
    let listener = std::net::TcpListener::bind(test_ip(net, 40) + ":0").expect("bind listener");
    let fake = listener.local_addr().expect("addr").to_string();
    let out = setup.out_dir("scripted");
    let mut child = fast_peer()
        .args(["--encryption", "prefer", "download", "-o"])
        .arg(out.join(&setup.meta.name))
        .arg(&setup.torrent)
        .args(["--port", &free_port().to_string()])
        .args(["--peer", &fake])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start fast-peer download");
    let first_bytes = |conn: &mut std::net::TcpStream, want: usize| -> Vec<u8> {
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while got.len() < want {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got
    };
    listener.set_nonblocking(true).expect("nonblocking");
    let accept = |what: &str| -> Option<std::net::TcpStream> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok((conn, _)) = listener.accept() {
                conn.set_nonblocking(false).expect("blocking");
                return Some(conn);
            }
            thread::sleep(Duration::from_millis(10));
        }
        eprintln!("no {what} connection within 30 s");
        None
    };
    let key = accept("first").map(|mut first| first_bytes(&mut first, 96)); // then hang up, like a peer without MSE
    let plain = accept("second").map(|mut second| first_bytes(&mut second, 68));
    let _ = child.kill();
    let _ = child.wait();
    let (key, plain) = (
        key.expect("no first connection"),
        plain.expect("no retry after the hang-up"),
    );
    assert!(
        key.len() >= 96,
        "the first connection sent {} bytes, not a 96-byte MSE key",
        key.len()
    );
    assert!(
        !key.starts_with(b"\x13BitTorrent protocol"),
        "the first connection was plaintext"
    );
    assert!(
        plain.starts_with(b"\x13BitTorrent protocol"),
        "the retry was not a plaintext handshake"
    );
    assert_eq!(
        plain[28..48],
        setup.meta.info_hash[..],
        "the retry names another torrent"
    );

    for (what, seed_policy) in [("no MSE", "disabled"), ("RC4 required", "required")] {
        let seed = setup.seed(DataArg::Content, &["--encryption", seed_policy]);
        let what = format!("fast-peer --encryption prefer download from a seeder with {what}");
        fast_peer_downloads_from(
            &setup,
            &seed,
            net,
            &["--encryption", "prefer"],
            seed_policy,
            &what,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. libtorrent leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

/// `--data` is the file itself.
#[test]
fn libtorrent_downloads_single_file_from_seed_via_peer() {
    lt_from_seed_via_peer(21, Setup::single(), DataArg::Content);
}

/// `--data` is the root folder.
#[test]
fn libtorrent_downloads_multi_file_from_seed_via_peer() {
    lt_from_seed_via_peer(22, Setup::multi(), DataArg::Content);
}

/// `--data` is the folder that contains the file.
#[test]
fn libtorrent_downloads_single_file_from_seed_via_tracker() {
    lt_from_seed_via_tracker(23, Setup::single(), DataArg::SavePath);
}

/// `--data` is the folder that contains the root folder.
#[test]
fn libtorrent_downloads_multi_file_from_seed_via_tracker() {
    lt_from_seed_via_tracker(24, Setup::multi(), DataArg::SavePath);
}

// ---------------------------------------------------------------------------------------------
// 2. aria2 leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

#[test]
fn aria2_downloads_single_file_from_seed_via_tracker() {
    aria2_from_seed(25, Setup::single(), DataArg::Content);
}

#[test]
fn aria2_downloads_multi_file_from_seed_via_tracker() {
    aria2_from_seed(26, Setup::multi(), DataArg::SavePath);
}

// ---------------------------------------------------------------------------------------------
// 3. fast-peer leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

#[test]
fn fast_peer_downloads_multi_file_from_fast_peer_seed() {
    fast_peer_from_seed(27, Setup::multi(), DataArg::Content);
}

#[test]
fn fast_peer_downloads_single_file_from_fast_peer_seed() {
    fast_peer_from_seed(28, Setup::single(), DataArg::SavePath);
}

// ---------------------------------------------------------------------------------------------
// 4. SIGINT
// ---------------------------------------------------------------------------------------------

/// Ctrl-C: exit status 0, and the `stopped` announce removes the seeder from the tracker.
#[test]
fn seed_stops_cleanly_on_sigint_and_announces_stopped() {
    let setup = Setup::new(multi_file_layout(), MULTI_PIECE_LENGTH, true);
    let mut seed = setup.seed(DataArg::Content, &[]);
    setup.wait_announced(&seed);

    seed.interrupt();
    let st = seed.wait_exit(30);
    assert_eq!(
        st.code(),
        Some(0),
        "fast-peer seed after SIGINT: {st}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        seed.stdout.join("\n"),
        seed.stderr()
    );

    let tracker = setup.tracker.as_ref().expect("tracker");
    let peers = tracker.peers(&setup.meta.info_hash_hex());
    assert!(
        peers.iter().all(|a| a.port() != seed.port),
        "the tracker still lists the seeder (port {}) after it stopped: {peers:?} \
         (no `stopped` announce?)\n--- stderr ---\n{}",
        seed.port,
        seed.stderr()
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Missing data
// ---------------------------------------------------------------------------------------------

/// `--data` that does not exist: non-zero exit, a message on stderr, never `Seeding`.
#[test]
fn seed_refuses_data_that_does_not_exist() {
    // NET 30 reserved; nothing listens or connects: the seeder must refuse before serving.
    for (layout, piece_length) in [Setup::single(), Setup::multi()] {
        let setup = Setup::new(layout, piece_length, false);
        let missing = setup.work.path().join("no such data");
        let cases = [
            missing.clone(),
            missing.join(&setup.meta.name),
            // A folder that exists but holds nothing of the torrent.
            setup.out_dir("empty"),
        ];
        for data in cases {
            let o = run_with_timeout(&mut seed_cmd(&setup.torrent, &data, &[]), 60);
            let stdout = String::from_utf8_lossy(&o.stdout);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                !o.status.success(),
                "fast-peer seed --data {data:?} ({}) succeeded\n--- stdout ---\n{stdout}",
                setup.meta.name
            );
            assert!(
                !stdout.lines().any(|l| l == "Seeding"),
                "fast-peer seed --data {data:?} claims to be seeding:\n{stdout}"
            );
            assert!(
                !stderr.trim().is_empty(),
                "no error message on stderr for --data {data:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. create
// ---------------------------------------------------------------------------------------------

/// `fast-peer create` on `path` into `out`; returns the info hash it printed.
fn fast_peer_create(
    path: &Path,
    out: &Path,
    tracker: &str,
    piece_length: u64,
    extra: &[&str],
) -> String {
    let mut cmd = fast_peer();
    cmd.arg("create")
        .arg(path)
        .arg("-o")
        .arg(out)
        .args(["--tracker", tracker])
        .args(["--piece-length", &piece_length.to_string()])
        .args(extra);
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer create", &o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Info Hash: "))
        .unwrap_or_else(|| panic!("no `Info Hash:` line in create's stdout:\n{stdout}"))
        .trim()
        .to_string();
    assert_eq!(hash.len(), 40, "create printed {hash:?}");
    hash
}

/// `fast-peer info` on `torrent`: its lines.
fn fast_peer_info(torrent: &Path) -> Vec<String> {
    let mut cmd = fast_peer();
    cmd.arg("info").arg(torrent);
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer info", &o);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `fast-peer decode @FILE` parsed as JSON.
fn fast_peer_decode(torrent: &Path) -> serde_json::Value {
    let mut cmd = fast_peer();
    cmd.arg("decode").arg(format!("@{}", torrent.display()));
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer decode", &o);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "decode output is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

/// `fast-peer create` gives libtorrent's info hash for the same content and piece length, and
/// the torrent reads back (harness parser and `fast-peer info`) as the same torrent.
fn create_matches_libtorrent((layout, piece_length): (Layout, u64)) {
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("data"), layout);
    let tracker = format!("http://127.0.0.1:{}/announce", closed_port());
    let (lt_torrent, lt_hash) = make_torrent(&content.path, piece_length, &tracker);
    let ours = work.path().join("ours.torrent");
    let hash = fast_peer_create(&content.path, &ours, &tracker, piece_length, &[]);
    assert_eq!(hash, lt_hash, "info hash of fast-peer create vs libtorrent");

    let meta = TorrentMeta::read(&ours);
    let lt_meta = TorrentMeta::read(&lt_torrent);
    assert_eq!(
        meta.info_hash_hex(),
        hash,
        "printed hash vs the written torrent"
    );
    assert_eq!(meta.files, lt_meta.files, "files (and their order)");
    assert_eq!(meta.announce.as_deref(), Some(tracker.as_str()), "announce");
    assert_eq!(meta.piece_length, piece_length);
    assert!(
        meta.bad_pieces(&content.save_path).is_empty(),
        "piece hashes"
    );

    let info = fast_peer_info(&ours);
    for want in [
        format!("Tracker URL: {tracker}"),
        format!("Length: {}", lt_meta.total_length()),
        format!("Info Hash: {lt_hash}"),
        format!("Piece Length: {piece_length}"),
    ] {
        assert!(
            info.contains(&want),
            "`{want}` missing from fast-peer info: {info:?}"
        );
    }
    let private = &fast_peer_decode(&ours)["info"]["private"];
    assert!(
        private.is_null(),
        "not private by default, got info.private = {private}"
    );
}

#[test]
fn create_multi_file_matches_libtorrent_info_hash() {
    // NET 31 reserved; no network: torrent files only.
    create_matches_libtorrent(Setup::multi());
}

#[test]
fn create_single_file_matches_libtorrent_info_hash() {
    // NET 32 reserved; no network: torrent files only.
    create_matches_libtorrent(Setup::single());
}

/// `--private` sets info.private = 1 (so the info hash differs from the public torrent's).
#[test]
fn create_private_sets_private_flag() {
    // NET 33 reserved; no network: torrent files only.
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("data"), multi_file_layout());
    let tracker = format!("http://127.0.0.1:{}/announce", closed_port());
    let (_, lt_hash) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &tracker);
    let ours = work.path().join("private.torrent");
    let hash = fast_peer_create(
        &content.path,
        &ours,
        &tracker,
        MULTI_PIECE_LENGTH,
        &["--private"],
    );
    assert_eq!(
        TorrentMeta::read(&ours).info_hash_hex(),
        hash,
        "printed hash"
    );
    assert_ne!(
        hash, lt_hash,
        "private torrent has the public torrent's info hash"
    );
    let json = fast_peer_decode(&ours);
    assert_eq!(
        json["info"]["private"],
        serde_json::json!(1),
        "info.private of a --private torrent: {}",
        json["info"]["private"]
    );
}

// ---------------------------------------------------------------------------------------------
// 7. demo
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_no_tui_verifies_its_download() {
    // NET 34 reserved; the demo binds its own swarm on loopback.
    let mut cmd = fast_peer();
    cmd.args(["demo", "--no-tui"]);
    let o = run_with_timeout(&mut cmd, 120);
    assert_success("fast-peer demo --no-tui", &o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("verified:")),
        "no `verified:` line in demo's stdout:\n{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. --upload-limit
// ---------------------------------------------------------------------------------------------

/// A rate-limited seeder still serves a complete, correct download (libtorrent leecher).
#[test]
fn seed_with_upload_limit_serves_full_download() {
    let net = 35;
    let setup = Setup::new(multi_file_layout(), MULTI_PIECE_LENGTH, false);
    let seed = setup.seed(DataArg::Content, &["--upload-limit", "2M"]);
    let out = setup.out_dir("out");
    let o = lt_leech(
        &setup.torrent,
        &out,
        &test_ip(net, 20),
        &[seed.addr_on(net)],
        TEST_TIMEOUT_SECS,
    );
    fail_with_seed_log("lt_peer.py leech from a rate-limited seed", &o, &seed);
    setup.assert_downloaded(&out);
}

/// `complete` and `incomplete` from opentracker's scrape of `info_hash_hex` (raw HTTP).
fn scrape_counts(tracker: &Opentracker, info_hash_hex: &str) -> Option<(i64, i64)> {
    use std::io::{Read, Write};
    let escaped: String = (0..20)
        .map(|i| format!("%{}", &info_hash_hex[2 * i..2 * i + 2]))
        .collect();
    let addr = tracker
        .http_announce()
        .trim_start_matches("http://")
        .trim_end_matches("/announce")
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /scrape?info_hash={escaped} HTTP/1.0\r\nHost: {addr}\r\n\r\n"
    )
    .ok()?;
    let mut body = Vec::new();
    let _ = s.read_to_end(&mut body);
    let count = |key: &str| -> Option<i64> {
        let pat = format!("{}:{key}i", key.len());
        let at = body.windows(pat.len()).position(|w| w == pat.as_bytes())? + pat.len();
        let end = body[at..].iter().position(|b| *b == b'e')? + at;
        std::str::from_utf8(&body[at..end]).ok()?.parse().ok()
    };
    Some((
        count("complete").unwrap_or(0),
        count("incomplete").unwrap_or(0),
    ))
}

#[test]
fn a_seed_is_listed_as_a_seeder_from_its_first_announce() {
    // regression: the announcer started before the data check, so `started` said left=<total>
    // and the tracker listed the seed as a leecher until its next re-announce (tens of minutes)
    let (layout, pl) = Setup::single();
    let setup = Setup::new(layout, pl, true);
    let tracker = setup.tracker.as_ref().expect("tracker");
    let hash = setup.meta.info_hash_hex();
    let s = FastSeed::start(&setup.torrent, &setup.data_path(DataArg::Content), &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = None;
    while Instant::now() < deadline {
        if let Some((complete, incomplete)) = scrape_counts(tracker, &hash) {
            assert_eq!(
                incomplete, 0,
                "the seed was listed as a leecher (complete {complete})"
            );
            if complete == 1 {
                seen = Some(complete);
                break;
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        seen,
        Some(1),
        "the tracker never listed the seed as a seeder"
    );
    drop(s);
}
