//! The "Build your own BitTorrent" course's stages, run against fakes as strict as the
//! course tester's: a test peer that hangs up without a word when our reserved bytes are not
//! the ones it expects (`00..00` or only the BEP 10 bit for a .torrent, exactly the BEP 10 bit
//! for a magnet), and a tracker that refuses a missing, zero-peer or too large `left`. Each
//! stage runs the real binary with the course's time limit (10 s a stage, 20 s for
//! `download`, 90 s for `magnet_download`) as a guard against hangs, and checks what the
//! course checks: exit code, stdout, and the SHA-1 of what was written.
//!
//! The handshake and metadata stages copy the tester's own fake peers message for message
//! (one connection at a time, the extension handshake must be our first message, the
//! metadata request the next one, keep-alives are fatal). The download stages use a seeder
//! that behaves like the course's real seeders (the `rain` client): it serves only after
//! `interested`, drops requests while choking, closes on a request over 16 KiB or out of range
//! and on an extension message id it did not assign.
//!
//! Content is generated here with the shapes of the course's files (single-file torrents,
//! 256 KiB pieces, a short last piece); nothing outside the repository is read. No test
//! contacts anything but 127.0.0.1 (`--no-dht` on every command). The fakes live in
//! `tests/course/`: `tracker.rs`, `peer.rs` and `content.rs`; this file holds the stages.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;
#[path = "course/content.rs"]
mod content;
#[path = "course/peer.rs"]
mod peer;
#[path = "course/tracker.rs"]
mod tracker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Running, fast_peer, stdout_str};
use content::{Content, PIECE_LENGTH, magnet_content, sha1_hex};
use peer::{EXTENSION_ONLY, Peer, Role};
use tracker::{Tracker, peers_reply};

const STAGE: Duration = Duration::from_secs(10);

// ---- running the binary -------------------------------------------------------------------

/// Run `fast-peer --no-dht ARGS`, killed (and failed) after `limit`, as the tester does; its
/// stdout, which it must have printed with a successful exit.
fn succeeds(args: &[&str], limit: Duration) -> String {
    let mut run = Running::start(fast_peer().args(args));
    let Some(o) = run.wait_within(limit) else {
        let o = run.kill();
        panic!(
            "{args:?}: execution timed out after {limit:?}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let (stdout, stderr) = (stdout_str(&o), String::from_utf8_lossy(&o.stderr));
    assert!(
        o.status.success(),
        "{args:?} failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

// ---- the stages ---------------------------------------------------------------------------

/// The handshakes we sent: the first carries our full bits (real peers get DHT and Fast),
/// and the one the strict peer accepted carries only the BEP 10 bit.
fn assert_fell_back(peer: &Peer) {
    let seen = peer.reserved_seen.lock().unwrap().clone();
    assert_eq!(
        seen.first(),
        Some(&[0, 0, 0, 0, 0, 0x10, 0, 0x05]),
        "first handshake: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&EXTENSION_ONLY),
        "accepted handshake: {seen:?}"
    );
}

#[test]
fn peers_prints_every_peer_of_the_tracker_reply() {
    let dir = tempfile::tempdir().unwrap();
    let content = Content::new("faketorrent.iso", 2_097_152);
    // a canned reply from a real tracker: extra keys, peers that are never contacted
    let listed: Vec<SocketAddr> = [
        "192.0.2.17:6881",
        "198.51.100.4:51414",
        "203.0.113.250:60000",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut reply = peers_reply(&listed);
    // an extra key, out of order (trackers do not always sort)
    reply.splice(1..1, b"10:downloadedi7e".iter().copied());
    let tracker = Tracker::start(content.info_hash, content.data.len() as u64, reply);
    let torrent = content.torrent_file(dir.path(), &tracker.url());
    let out = succeeds(&["peers", &torrent], STAGE);
    for p in &listed {
        assert!(out.contains(&p.to_string()), "{p} missing from {out:?}");
    }
    assert_eq!(tracker.lefts.lock().unwrap().as_slice(), ["2097152"]);
}

#[test]
fn handshake_passes_a_strict_peer() {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(Content::new("fakefilename.iso", 2_097_152));
    let peer = Peer::start(Role::Handshake, content.clone(), false);
    let torrent = content.torrent_file(dir.path(), "http://127.0.0.1:1/announce");
    let out = succeeds(&["handshake", &torrent, &peer.addr.to_string()], STAGE);
    let id = out
        .strip_prefix("Peer ID: ")
        .and_then(|s| s.strip_suffix('\n'))
        .expect("Peer ID line");
    assert_eq!(id.len(), 40);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_fell_back(&peer);
}

#[test]
fn magnet_parse_takes_an_unencoded_tracker_port() {
    let content = magnet_content(0);
    let tracker: SocketAddr = "127.0.0.1:41234".parse().unwrap();
    let out = succeeds(&["magnet_parse", &content.magnet(tracker)], STAGE);
    assert!(
        out.contains("Tracker URL: http://127.0.0.1:41234/announce\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Info Hash: {}\n", content.hex())),
        "{out}"
    );
}

/// A fake tracker and a fake peer in `role` for magnet `which` (for `Role::Seeder`, a strict
/// rain-like seeder).
fn magnet_stage(role: Role, which: usize) -> (Arc<Content>, Tracker, Peer) {
    let content = magnet_content(which);
    let peer = Peer::start(role, content.clone(), true);
    let tracker = Tracker::start(
        content.info_hash,
        content.data.len() as u64,
        peers_reply(&[peer.addr]),
    );
    (content, tracker, peer)
}

#[test]
fn magnet_handshake_advertises_only_the_extension_bit() {
    let (content, tracker, peer) = magnet_stage(Role::Advertise, 1);
    let out = succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(out.starts_with("Peer ID: "), "{out}");
    assert_fell_back(&peer);
    // the size is unknown before the metadata: a small positive `left`, never above the size
    assert_eq!(tracker.lefts.lock().unwrap().as_slice(), ["1"]);
}

#[test]
fn magnet_handshake_sends_its_extension_handshake_first() {
    let (content, tracker, peer) = magnet_stage(Role::ExpectExtension, 0);
    succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(
        peer.passed.load(Ordering::SeqCst),
        "the peer did not get a valid extension handshake first"
    );
}

#[test]
fn magnet_handshake_prints_the_peers_metadata_extension_id() {
    let (content, tracker, peer) = magnet_stage(Role::ExtensionThenClose, 2);
    let out = succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(
        out.contains(&format!(
            "Peer Metadata Extension ID: {}\n",
            peer.metadata_id
        )),
        "{out}"
    );
    assert!(peer.passed.load(Ordering::SeqCst));
}

#[test]
fn magnet_info_requests_metadata_on_a_connection_that_stays_open() {
    let (content, tracker, peer) = magnet_stage(Role::ExpectMetadataRequest, 0);
    succeeds(&["magnet_info", &content.magnet(tracker.addr)], STAGE);
    assert!(
        peer.passed.load(Ordering::SeqCst),
        "no valid metadata request"
    );
}

#[test]
fn magnet_info_prints_the_fetched_metadata() {
    for which in 0..3 {
        let (content, tracker, peer) = magnet_stage(Role::SendMetadata, which);
        let out = succeeds(&["magnet_info", &content.magnet(tracker.addr)], STAGE);
        assert!(
            out.contains(&format!("Tracker URL: {}", tracker.url())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Length: {}", content.data.len())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Info Hash: {}", content.hex())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Piece Length: {PIECE_LENGTH}")),
            "{out}"
        );
        for i in 0..content.piece_count() {
            assert!(
                out.contains(&sha1_hex(content.piece(i))),
                "piece {i} hash missing: {out}"
            );
        }
        assert_fell_back(&peer);
    }
}

/// A torrent with its tracker and one strict seeder.
fn torrent_stage(name: &str, len: usize, dir: &std::path::Path) -> (Arc<Content>, String, Peer) {
    let content = Arc::new(Content::new(name, len));
    let peer = Peer::start(Role::Seeder, content.clone(), false);
    let tracker = Tracker::start(content.info_hash, len as u64, peers_reply(&[peer.addr]));
    // (the tracker's thread serves until the test process ends)
    let torrent = content.torrent_file(dir, &tracker.url());
    (content, torrent, peer)
}

#[test]
fn download_piece_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    // congratulations.gif's shape: 4 pieces, the last 34460 bytes
    let (content, torrent, peer) = torrent_stage("congratulations.gif", 820_892, dir.path());
    let started = Instant::now();
    for index in [2usize, 3] {
        let out = dir.path().join(format!("piece-{index}"));
        let left = STAGE.saturating_sub(started.elapsed()); // both runs share one stage limit
        succeeds(
            &[
                "download_piece",
                "-o",
                out.to_str().unwrap(),
                &torrent,
                &index.to_string(),
            ],
            left,
        );
        assert_eq!(
            sha1_hex(&std::fs::read(&out).unwrap()),
            sha1_hex(content.piece(index)),
            "piece {index}"
        );
    }
    assert_fell_back(&peer);
}

#[test]
fn download_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent, peer) = torrent_stage("codercat.gif", 2_994_120, dir.path());
    let out = dir.path().join("codercat.gif");
    succeeds(
        &["download", "-o", out.to_str().unwrap(), &torrent],
        Duration::from_secs(20),
    );
    assert_eq!(
        sha1_hex(&std::fs::read(&out).unwrap()),
        sha1_hex(&content.data)
    );
    assert_fell_back(&peer);
}

#[test]
fn magnet_download_piece_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for (which, index) in [(0usize, 2usize), (1, 0)] {
        let (content, tracker, peer) = magnet_stage(Role::Seeder, which);
        let out = dir.path().join(format!("piece-{which}-{index}"));
        let left = STAGE.saturating_sub(started.elapsed());
        succeeds(
            &[
                "magnet_download_piece",
                "-o",
                out.to_str().unwrap(),
                &content.magnet(tracker.addr),
                &index.to_string(),
            ],
            left,
        );
        assert_eq!(
            sha1_hex(&std::fs::read(&out).unwrap()),
            sha1_hex(content.piece(index))
        );
        assert_fell_back(&peer);
    }
}

#[test]
fn magnet_download_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (content, tracker, peer) = magnet_stage(Role::Seeder, 2);
    let out = dir.path().join("magnet3.gif");
    succeeds(
        &[
            "magnet_download",
            "-o",
            out.to_str().unwrap(),
            &content.magnet(tracker.addr),
        ],
        Duration::from_secs(90),
    );
    assert_eq!(
        sha1_hex(&std::fs::read(&out).unwrap()),
        sha1_hex(&content.data)
    );
    assert_fell_back(&peer);
    // `left` was 1 until the metadata came, then never above the size
    let lefts = tracker.lefts.lock().unwrap().clone();
    assert_eq!(lefts.first().map(String::as_str), Some("1"), "{lefts:?}");
    assert!(
        lefts.iter().all(|l| l
            .parse::<u64>()
            .is_ok_and(|l| l <= content.data.len() as u64)),
        "{lefts:?}"
    );
}
