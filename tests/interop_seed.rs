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
//! Each test has its own loopback network (`common::net`) for the clients it starts, and ports
//! from `free_port`, so tests run in parallel. The seeder listens on every local address, so
//! `--peer <host 11 of the network>:PORT` reaches it. Every process is bounded by a timeout: a
//! hang fails the test instead of blocking CI.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
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

/// A swarm without libtorrent seeders: content and a libtorrent-made torrent; with a tracker,
/// an opentracker that accepts the torrent.
fn setup(shape: Shape, with_tracker: bool) -> Swarm {
    let tracker = if with_tracker {
        Tracker::Http
    } else {
        Tracker::None
    };
    Swarm::new(shape, tracker)
}

fn data_path(swarm: &Swarm, arg: DataArg) -> PathBuf {
    match arg {
        DataArg::Content => swarm.content.path.clone(),
        DataArg::SavePath => swarm.content.save_path.clone(),
    }
}

/// Starts `fast-peer seed` and checks that it verified all of the data.
fn seed(swarm: &Swarm, arg: DataArg, extra: &[&str]) -> FastSeed {
    let s = FastSeed::start(&swarm.torrent, &data_path(swarm, arg), extra);
    s.assert_complete(&swarm.meta);
    s
}

const LT_VIA_PEER: &str = "lt_peer.py leech --peer <fast-peer seed>";

/// libtorrent downloads from `fast-peer seed` alone, given the seeder with `--peer` (the
/// torrent's tracker is unreachable).
fn lt_from_seed_via_peer(shape: Shape, arg: DataArg, seed_extra: &[&str], what: &str) {
    let swarm = setup(shape, false);
    let seed = seed(&swarm, arg, seed_extra);
    let out = swarm.out_dir("out");
    let o = lt_leech(
        &swarm.torrent,
        &out,
        &swarm.net.ip(20),
        &[seed.addr_on(&swarm.net)],
        TEST_TIMEOUT_SECS,
    );
    assert_success_or_log(what, &o, || seed.logs());
    swarm.assert_downloaded(&out);
}

/// libtorrent downloads from `fast-peer seed` alone, which it learns about from opentracker.
fn lt_from_seed_via_tracker(shape: Shape, arg: DataArg) {
    let swarm = setup(shape, true);
    let seed = seed(&swarm, arg, &[]);
    swarm.wait_announced(&seed);
    let out = swarm.out_dir("out");
    let o = lt_leech(
        &swarm.torrent,
        &out,
        &swarm.net.ip(20),
        &[],
        TEST_TIMEOUT_SECS,
    );
    assert_success_or_log("lt_peer.py leech (tracker)", &o, || seed.logs());
    swarm.assert_downloaded(&out);
}

/// aria2 downloads from `fast-peer seed` alone, which it learns about from opentracker (HTTP).
/// aria2 1.36 sends its bitfield a second time, after its allowed-fast messages (BEP 6): a
/// seeder that drops it for that serves nothing.
fn aria2_from_seed(shape: Shape, arg: DataArg, extra: &[&str], what: &str) {
    let swarm = setup(shape, true);
    let seed = seed(&swarm, arg, &[]);
    swarm.wait_announced(&seed);
    swarm.check_client(
        what,
        "out",
        || seed.logs(),
        |out, _| {
            let mut cmd = aria2c(&swarm.torrent, out, &swarm.net.ip(20));
            cmd.args(extra);
            cmd
        },
    );
}

/// `fast-peer download --peer` from `fast-peer seed` alone (the tracker is unreachable).
fn fast_peer_from_seed(shape: Shape, arg: DataArg) {
    let swarm = setup(shape, false);
    let seed = seed(&swarm, arg, &[]);
    let what = "fast-peer download --peer <fast-peer seed>";
    fast_peer_downloads_from(&swarm, &seed, &[], "out", what);
}

/// `fast-peer GLOBAL... download --peer <seed>` into the fresh folder `out_name`, which must
/// then hold the whole content.
fn fast_peer_downloads_from(
    swarm: &Swarm,
    seed: &FastSeed,
    global: &[&str],
    out_name: &str,
    what: &str,
) {
    swarm.check_client(
        what,
        out_name,
        || seed.logs(),
        |_, target| {
            let mut cmd = download_cmd(
                &swarm.torrent,
                target,
                &peer_args(&[seed.addr_on(&swarm.net)]),
            );
            cmd.args(global);
            cmd
        },
    );
}

/// libtorrent that requires RC4 (Message Stream Encryption, plaintext refused) downloads
/// from `fast-peer seed` with the default policy: the seeder answers the MSE handshake and
/// encrypts every byte.
#[test]
fn libtorrent_requiring_rc4_downloads_from_seed() {
    let swarm = setup(multi_file(), false);
    let seed = seed(&swarm, DataArg::Content, &[]);
    let out = swarm.out_dir("out");
    let o = lt_leech_rc4(
        &swarm.torrent,
        &out,
        &swarm.net.ip(20),
        &[seed.addr_on(&swarm.net)],
        TEST_TIMEOUT_SECS,
    );
    assert_success_or_log("lt_peer.py leech --encryption rc4", &o, || seed.logs());
    swarm.assert_downloaded(&out);
}

/// aria2 with `--bt-require-crypto --bt-min-crypto-level=arc4` (RC4 only) downloads from
/// `fast-peer seed`.
#[test]
fn aria2_requiring_rc4_downloads_from_seed() {
    let rc4 = ["--bt-require-crypto=true", "--bt-min-crypto-level=arc4"];
    aria2_from_seed(
        single_file(),
        DataArg::Content,
        &rc4,
        "aria2c (RC4 required)",
    );
}

/// `--encryption required` on both sides: `fast-peer download` offers RC4 only and the
/// seeder accepts nothing else; a plaintext handshake (`fast-peer --encryption disabled
/// handshake`) is refused.
#[test]
fn required_encryption_downloads_over_rc4_and_refuses_plaintext() {
    let swarm = setup(multi_file(), false);
    let seed = seed(&swarm, DataArg::Content, &["--encryption", "required"]);
    let o = fast_peer()
        .args(["--encryption", "disabled", "handshake"])
        .arg(&swarm.torrent)
        .arg(seed.addr_on(&swarm.net))
        .output()
        .expect("run fast-peer handshake");
    assert!(
        !o.status.success(),
        "a plaintext handshake must be refused: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let what = "fast-peer --encryption required download";
    fast_peer_downloads_from(&swarm, &seed, &["--encryption", "required"], "out", what);
}

/// `--encryption prefer`: an outgoing connection opens with an MSE handshake, and a peer
/// without MSE gets a plaintext retry. A scripted listener shows both: the first connection's
/// first bytes are a Diffie-Hellman key, not `\x13BitTorrent protocol`, and when it hangs up
/// (as a peer without MSE does) the next connection is a plaintext handshake for the torrent.
/// Then real downloads: from `fast-peer seed --encryption disabled` (no MSE at all: the
/// fallback) and from a seeder that requires RC4 (MSE at once).
#[test]
fn prefer_encryption_tries_mse_first_then_plaintext() {
    let swarm = setup(multi_file(), false);
    let listener = TcpListener::bind((swarm.net.ip(40), 0)).expect("bind listener");
    let fake = listener.local_addr().expect("addr").to_string();
    let target = swarm.target_in(&swarm.out_dir("scripted"));
    let mut dl = download_cmd(&swarm.torrent, &target, &peer_args(&[fake]));
    let mut dl = Running::start(dl.args(["--encryption", "prefer"]));
    let first_bytes = |conn: &mut TcpStream, want: usize| -> Vec<u8> {
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
    let accept = |what: &str| -> Option<TcpStream> {
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
    dl.kill();
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
        swarm.meta.info_hash[..],
        "the retry names another torrent"
    );

    for (what, seed_policy) in [("no MSE", "disabled"), ("RC4 required", "required")] {
        let seed = seed(&swarm, DataArg::Content, &["--encryption", seed_policy]);
        let what = format!("fast-peer --encryption prefer download from a seeder with {what}");
        let prefer = ["--encryption", "prefer"];
        fast_peer_downloads_from(&swarm, &seed, &prefer, seed_policy, &what);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. libtorrent leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

/// `--data` is the file itself.
#[test]
fn libtorrent_downloads_single_file_from_seed_via_peer() {
    lt_from_seed_via_peer(single_file(), DataArg::Content, &[], LT_VIA_PEER);
}

/// `--data` is the root folder.
#[test]
fn libtorrent_downloads_multi_file_from_seed_via_peer() {
    lt_from_seed_via_peer(multi_file(), DataArg::Content, &[], LT_VIA_PEER);
}

/// `--data` is the folder that contains the file.
#[test]
fn libtorrent_downloads_single_file_from_seed_via_tracker() {
    lt_from_seed_via_tracker(single_file(), DataArg::SavePath);
}

/// `--data` is the folder that contains the root folder.
#[test]
fn libtorrent_downloads_multi_file_from_seed_via_tracker() {
    lt_from_seed_via_tracker(multi_file(), DataArg::SavePath);
}

// ---------------------------------------------------------------------------------------------
// 2. aria2 leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

#[test]
fn aria2_downloads_single_file_from_seed_via_tracker() {
    aria2_from_seed(single_file(), DataArg::Content, &[], "aria2c");
}

#[test]
fn aria2_downloads_multi_file_from_seed_via_tracker() {
    aria2_from_seed(multi_file(), DataArg::SavePath, &[], "aria2c");
}

// ---------------------------------------------------------------------------------------------
// 3. fast-peer leeches from fast-peer seed
// ---------------------------------------------------------------------------------------------

#[test]
fn fast_peer_downloads_multi_file_from_fast_peer_seed() {
    fast_peer_from_seed(multi_file(), DataArg::Content);
}

#[test]
fn fast_peer_downloads_single_file_from_fast_peer_seed() {
    fast_peer_from_seed(single_file(), DataArg::SavePath);
}

// ---------------------------------------------------------------------------------------------
// 4. SIGINT
// ---------------------------------------------------------------------------------------------

/// Ctrl-C: exit status 0, and the `stopped` announce removes the seeder from the tracker.
#[test]
fn seed_stops_cleanly_on_sigint_and_announces_stopped() {
    let swarm = setup(multi_file(), true);
    let mut seed = seed(&swarm, DataArg::Content, &[]);
    swarm.wait_announced(&seed);

    seed.interrupt();
    let st = seed.wait_exit(30);
    assert_eq!(
        st.code(),
        Some(0),
        "fast-peer seed after SIGINT: {st}\n{}",
        seed.logs()
    );

    let tracker = swarm.tracker.as_ref().expect("tracker");
    let peers = tracker.peers(&swarm.hash());
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
    // nothing listens or connects: the seeder must refuse before serving
    for shape in [single_file(), multi_file()] {
        let swarm = setup(shape, false);
        let missing = swarm.work.path().join("no such data");
        let cases = [
            missing.clone(),
            missing.join(&swarm.meta.name),
            // A folder that exists but holds nothing of the torrent.
            swarm.out_dir("empty"),
        ];
        for data in cases {
            let mut cmd = seed_cmd(&swarm.torrent, &data, free_port(), &[]);
            let o = run_with_timeout(&mut cmd, 60);
            let stdout = String::from_utf8_lossy(&o.stdout);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(
                !o.status.success(),
                "fast-peer seed --data {data:?} ({}) succeeded\n--- stdout ---\n{stdout}",
                swarm.meta.name
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
fn create_matches_libtorrent((layout, piece_length): Shape) {
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("data"), layout);
    let tracker = unreachable_tracker();
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
    // no network: torrent files only
    create_matches_libtorrent(multi_file());
}

#[test]
fn create_single_file_matches_libtorrent_info_hash() {
    // no network: torrent files only
    create_matches_libtorrent(single_file());
}

/// `--private` sets info.private = 1 (so the info hash differs from the public torrent's).
#[test]
fn create_private_sets_private_flag() {
    // no network: torrent files only
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("data"), multi_file_layout());
    let tracker = unreachable_tracker();
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
    // the demo binds its own swarm on 127.0.0.1, ports from the kernel
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
    lt_from_seed_via_peer(
        multi_file(),
        DataArg::Content,
        &["--upload-limit", "2M"],
        "lt_peer.py leech from a rate-limited seed",
    );
}

#[test]
fn a_seed_is_listed_as_a_seeder_from_its_first_announce() {
    // regression: the announcer started before the data check, so `started` said left=<total>
    // and the tracker listed the seed as a leecher until its next re-announce (tens of minutes)
    let swarm = setup(single_file(), true);
    let tracker = swarm.tracker.as_ref().expect("tracker");
    let s = FastSeed::start(&swarm.torrent, &data_path(&swarm, DataArg::Content), &[]);
    wait_until(30, "the tracker to list the seed as a seeder", || {
        let Some((complete, incomplete)) = tracker.scrape(&swarm.hash()) else {
            return false;
        };
        assert_eq!(
            incomplete, 0,
            "the seed was listed as a leecher (complete {complete})"
        );
        complete == 1
    });
    drop(s);
}
