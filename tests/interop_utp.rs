//! uTP (BEP 29) against libtorrent 2.0.8 on loopback: seeders and leechers with TCP switched
//! off both ways (`enable_incoming_tcp=False, enable_outgoing_tcp=False`), so every byte that
//! moves does so over fast-peer's uTP (Message Stream Encryption included). Every download is
//! checked byte for byte by hash.
//!
//! A libtorrent with TCP off still accepts a TCP connection and then hangs up at once; the
//! cases without `--no-tcp` check that fast-peer then falls back to uTP on its own.
//!
//! Transmission 3.00 (libutp) both ways: it seeds to `fast-peer --no-tcp`, and downloads from
//! `fast-peer seed --no-tcp` in network namespaces of the test's own (it will not dial
//! 127.0.0.0/8 peers).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::*;
use std::process::Command;

fn flags(peers: &[String], extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    v.extend(peer_args(peers));
    v
}

/// `fast-peer download` from two uTP-only libtorrent seeders given with `--peer`.
fn download_from_utp_seeders(shape: Shape, extra: &[&str], what: &str) {
    let swarm = Swarm::start(shape, Tracker::None, &[UTP_ONLY, UTP_ONLY]);
    let args = flags(&swarm.seeder_addrs(), extra);
    swarm.verify_download(what, "out", |_, target| {
        download_cmd(&swarm.torrent, target, &args)
    });
}

#[test]
fn single_file_from_utp_only_seeders_with_tcp_off() {
    download_from_utp_seeders(
        single_file(),
        &["--no-tcp"],
        "fast-peer --no-tcp download (uTP-only seeders)",
    );
}

/// Without `--no-tcp`: TCP is tried first, the seeders hang up, uTP carries the download.
#[test]
fn multi_file_from_utp_only_seeders_falls_back_from_tcp() {
    download_from_utp_seeders(
        multi_file(),
        &[],
        "fast-peer download (uTP-only seeders, TCP fallback)",
    );
}

/// Many small pieces: thousands of request/piece round trips over one uTP connection each.
#[test]
fn small_pieces_from_utp_only_seeders() {
    download_from_utp_seeders(
        small_pieces(),
        &["--no-tcp"],
        "fast-peer --no-tcp download (16 KiB pieces over uTP)",
    );
}

/// One uTP seeder corrupts every other piece, the honest one is slowed down so the corrupt
/// one is certainly asked: the download still completes and verifies.
#[test]
fn a_corrupt_utp_seeder_is_survived() {
    let corrupt = Seed {
        corrupt: true,
        ..UTP_ONLY
    };
    let slow_good = Seed {
        utp_only: true,
        ..Seed::limited(4 * MIB)
    };
    let swarm = Swarm::start(multi_file(), Tracker::None, &[corrupt, slow_good]);
    assert!(
        !swarm
            .meta
            .bad_pieces(&swarm.work.path().join("corrupt-0"))
            .is_empty()
    );
    let args = flags(&swarm.seeder_addrs(), &["--no-tcp"]);
    swarm.verify_download(
        "fast-peer download (a corrupt uTP seeder)",
        "out",
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

/// A magnet whose only peers (`x.pe`) speak uTP only: metadata and pieces both come over uTP.
#[test]
fn magnet_whose_only_peers_speak_utp() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[UTP_ONLY, UTP_ONLY]);
    let magnet = swarm.magnet(&swarm.seeder_addrs());
    swarm.verify_download(
        "fast-peer magnet_download (uTP-only x.pe)",
        "out",
        |_, t| magnet_download_cmd(&magnet, t, &["--no-tcp".to_string()]),
    );
}

/// libtorrent with TCP off (and `lt_extra` leech arguments) downloads from `fast-peer seed`:
/// our uTP listener accepts on the TCP port number and serves the whole torrent.
fn lt_leeches_over_utp(shape: Shape, seed_extra: &[&str], lt_extra: &[&str]) {
    let swarm = Swarm::new(shape, Tracker::None);
    let seed = FastSeed::start(&swarm.torrent, &swarm.content.save_path, seed_extra);
    seed.assert_complete(&swarm.meta);
    let out = swarm.out_dir("out");
    let o = lt_leech_utp_with(
        &swarm.torrent,
        lt_extra,
        &out,
        &swarm.net.ip(20),
        &[seed.addr_on(&swarm.net)],
        TEST_TIMEOUT_SECS,
    );
    let what = format!("lt_peer.py leech --transport utp {}", lt_extra.join(" "));
    assert_success_or_log(&what, &o, || seed.logs());
    swarm.assert_downloaded(&out);
}

#[test]
fn libtorrent_over_utp_downloads_single_file_from_seed() {
    lt_leeches_over_utp(single_file(), &[], &[]);
}

#[test]
fn libtorrent_over_utp_downloads_multi_file_from_seed_with_tcp_off() {
    lt_leeches_over_utp(multi_file(), &["--no-tcp"], &[]);
}

/// Message Stream Encryption over uTP: a libtorrent that requires RC4 downloads from a seeder
/// that requires it too.
#[test]
fn libtorrent_requiring_rc4_over_utp_downloads_from_a_seed_requiring_it() {
    let seed = ["--no-tcp", "--encryption", "required"];
    lt_leeches_over_utp(multi_file(), &seed, &["--encryption", "rc4"]);
}

/// fast-peer to fast-peer with TCP off on both sides.
#[test]
fn fast_peer_downloads_from_fast_peer_seed_over_utp() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seed = FastSeed::start(&swarm.torrent, &swarm.content.save_path, &["--no-tcp"]);
    seed.assert_complete(&swarm.meta);
    let args = flags(&[seed.addr_on(&swarm.net)], &["--no-tcp"]);
    swarm.check_client(
        "fast-peer --no-tcp download <- fast-peer --no-tcp seed",
        "out",
        || seed.logs(),
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

/// `--no-utp` really means TCP only: a uTP-only seeder (which accepts TCP and hangs up) is
/// never reached, so nothing is written in the seconds a uTP download would take to finish.
#[test]
fn no_utp_does_not_reach_a_utp_only_seeder() {
    let swarm = Swarm::start(single_file(), Tracker::None, &[UTP_ONLY]);
    let out = swarm.out_dir("out");
    let args = flags(&swarm.seeder_addrs(), &["--no-utp"]);
    let mut run = Running::start(&mut download_cmd(
        &swarm.torrent,
        &swarm.target_in(&out),
        &args,
    ));
    if let Some(o) = run.wait_for(10) {
        panic!(
            "download with --no-utp ended ({}) beside a uTP-only seeder:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
    }
    run.kill();
    assert_eq!(written_bytes(&out), 0, "--no-utp still got data");
}

/// `fast-peer --no-tcp download` from Transmission 3.00 (libutp) seeding: every byte over
/// Transmission's uTP.
#[test]
fn fast_peer_downloads_from_transmission_over_utp() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let tr = Transmission::start(&swarm.net.ip(40), &swarm.content.save_path);
    tr.add(&swarm.torrent, &swarm.content.save_path);
    if let Err(e) = tr.wait_complete(60) {
        panic!("transmission did not check its data: {e}\n{}", tr.log());
    }
    let args = flags(&[tr.addr()], &["--no-tcp"]);
    swarm.check_client(
        "fast-peer --no-tcp download <- transmission",
        "out",
        || tr.log(),
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

/// Transmission downloads from `fast-peer seed --no-tcp`: with no TCP listener to reach,
/// every byte comes over our uTP. Transmission will not dial 127.0.0.0/8 peers, so the two run
/// on hosts A and B of the test's own network namespaces (`common::netns`, no shaping), and a
/// one-line tracker in A (`link_tools.py tracker`) names the seeder.
///
/// Transmission reads what arrived with our handshake only when the next packet comes; the
/// seed's early keep-alive (`OPENING_NUDGE`) makes that 2 s instead of the 90 s keep-alive
/// interval, which the 60 s bound here would not survive.
#[test]
fn transmission_downloads_from_fast_peer_seed_over_utp() {
    let link = Link::new("trutp");
    let work = tempfile::tempdir().unwrap();
    let content = create_content(&work.path().join("seed"), multi_file_layout());
    let seed_port = free_port();
    let tracker = format!("http://{}:5003/announce", link.ip(End::A));
    let (torrent, _) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &tracker);
    let peer = format!("{}:{seed_port}", link.ip(End::A));
    let mut t = Command::new(LT_PYTHON);
    t.arg(repo_root().join("scripts/link_tools.py"))
        .args(["tracker", "5003", &peer]);
    let tracker = Daemon::spawn(&mut link.exec(End::A, &t), false);
    read_lines_until(&tracker.lines, 30, |l| l == "listening").expect("link_tools.py tracker");
    let seed = seed_cmd(&torrent, &content.save_path, seed_port, &["--no-tcp"]);
    let seed = Daemon::spawn(&mut link.exec(End::A, &seed), false);
    read_lines_until(&seed.lines, 60, |l| l == "Seeding").expect("fast-peer seed: Seeding");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let tr = Transmission::start_in(Some(link.ns(End::B)), link.ip(End::B), &out);
    tr.add(&torrent, &out);
    if let Err(e) = tr.wait_complete(60) {
        panic!(
            "transmission <- fast-peer seed over uTP: {e}\n{}\n{}",
            tr.log(),
            seed.log()
        );
    }
    // Transmission 3.00 does not create zero-length files: every other file, byte for byte
    for (path, len) in content.layout.iter().filter(|(_, len)| *len > 0) {
        let got = out.join(path);
        assert_eq!(
            std::fs::metadata(&got).map(|m| m.len()).ok(),
            Some(*len),
            "{path}"
        );
        assert_same_file(&content.save_path.join(path), &got);
    }
}

/// BEP 11 flags in our PEX: a peer we reached over uTP goes out with the uTP flag (0x04) and,
/// as we connected out to it, the reachable flag (0x10). A slow uTP-only libtorrent seeder
/// keeps the download going past the first PEX round (15 s); a raw peer beside it that only
/// listens for `ut_pex` reads what fast-peer says about the seeder.
#[test]
fn pex_flags_a_peer_reached_over_utp() {
    use fast_peer::proto::extension::pex_flags::{REACHABLE, UTP};
    let slow_utp = Seed {
        upload_limit: 150_000,
        ..UTP_ONLY
    };
    let swarm = Swarm::start(multi_file(), Tracker::None, &[slow_utp]);
    let (pex_port, pex) = pex_listener(swarm.meta.info_hash);
    let seeder = swarm.seeders[0].socket_addr();
    let out = swarm.work.path().join("out");
    let mut peers = swarm.seeder_addrs();
    peers.push(format!("127.0.0.1:{pex_port}"));
    // TCP stays on for the listener; the seeder is reached over uTP by the fallback
    let args = flags(&peers, &[]);
    let _download = Daemon::spawn(&mut download_cmd(&swarm.torrent, &out, &args), false);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let flags = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let msg = pex
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no PEX naming {seeder} within 60 s: {e}"));
        if let Some(i) = msg.added.iter().position(|a| *a == seeder) {
            break msg.added_flags.get(i).copied().unwrap_or(0);
        }
    };
    assert_eq!(
        flags & (UTP | REACHABLE),
        UTP | REACHABLE,
        "flags {flags:#04x} for the uTP seeder {seeder}"
    );
}
