//! IPv6 peers (BEP 7) against libtorrent 2.0.8 on `::1`: seeders and leechers that listen and
//! dial on IPv6 only, over TCP and over uTP, reached from `--peer [::1]:P`, a magnet's
//! `x.pe=[::1]:P` and a tracker's `peers6`. fast-peer listens on IPv6 beside IPv4 (a socket of
//! each per transport, same port). Every download is checked byte for byte.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::*;
use std::process::Command;

/// A libtorrent seeder of the swarm's torrent on `::1` only (`transport`: tcp or utp).
fn v6_seeder(swarm: &Swarm, transport: &'static str) -> LtPeer {
    LtPeer::seed(
        &swarm.torrent,
        &swarm.content.save_path,
        "::1",
        SeedOpts {
            wait_tracker: false,
            transport,
            ..SeedOpts::default()
        },
    )
}

#[test]
fn downloads_from_an_ipv6_only_seeder_over_tcp() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seeder = v6_seeder(&swarm, "tcp");
    assert!(seeder.socket_addr().is_ipv6());
    let args = peer_args(&[seeder.addr()]);
    swarm.check_client(
        "fast-peer download --peer [::1]:P",
        "out",
        || seeder.stderr(),
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

#[test]
fn downloads_from_an_ipv6_only_seeder_over_utp() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seeder = v6_seeder(&swarm, "utp");
    let mut args = peer_args(&[seeder.addr()]);
    args.push("--no-tcp".into());
    swarm.check_client(
        "fast-peer --no-tcp download --peer [::1]:P (uTP over IPv6)",
        "out",
        || seeder.stderr(),
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

/// A magnet whose only peer is `x.pe=[::1]:P`: metadata and pieces over IPv6.
#[test]
fn magnet_with_an_ipv6_peer_downloads() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seeder = v6_seeder(&swarm, "tcp");
    let magnet = swarm.magnet(&[seeder.addr()]);
    assert!(magnet.contains("x.pe=%5B::1%5D:"), "{magnet}");
    swarm.check_client(
        "fast-peer magnet_download (x.pe=[::1]:P)",
        "out",
        || seeder.stderr(),
        |_, t| magnet_download_cmd(&magnet, t, &[]),
    );
}

/// A tracker on `[::1]` that lists the seeder in `peers6` (BEP 7) and nothing in `peers`.
#[test]
fn a_trackers_peers6_are_dialled() {
    let work = tempfile::tempdir().unwrap();
    let content = create_content(&work.path().join("seed"), multi_file_layout());
    let port = free_port();
    let url = format!("http://[::1]:{port}/announce");
    let (torrent, _) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &url);
    let seeder = LtPeer::seed(
        &torrent,
        &content.save_path,
        "::1",
        SeedOpts {
            wait_tracker: false,
            ..SeedOpts::default()
        },
    );
    let mut t = Command::new(LT_PYTHON);
    t.arg(repo_root().join("scripts/link_tools.py")).args([
        "tracker",
        &port.to_string(),
        &seeder.addr(),
    ]);
    let tracker = Daemon::spawn(&mut t, false);
    read_lines_until(&tracker.lines, 30, |l| l == "listening").expect("link_tools.py tracker");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let target = out.join("multi");
    run_ok(
        "fast-peer download (peers6 from a tracker on [::1])",
        &mut download_cmd(&torrent, &target, &[]),
        || seeder.stderr(),
    );
    assert_downloaded(&content.path, &out, &target);
}

/// libtorrent on `::1` downloads from `fast-peer seed` at `[::1]:P` (`transport`: tcp or utp).
fn lt_leeches_over_ipv6(transport: &str) {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seed = FastSeed::start(&swarm.torrent, &swarm.content.save_path, &[]);
    seed.assert_complete(&swarm.meta);
    let out = swarm.out_dir("out");
    let peer = format!("[::1]:{}", seed.port);
    let o = if transport == "utp" {
        lt_leech_utp(&swarm.torrent, &out, "::1", &[peer], TEST_TIMEOUT_SECS)
    } else {
        lt_leech(&swarm.torrent, &out, "::1", &[peer], TEST_TIMEOUT_SECS)
    };
    let what = format!("lt_peer.py leech --ip ::1 --transport {transport}");
    assert_success_or_log(&what, &o, || seed.logs());
    swarm.assert_downloaded(&out);
}

#[test]
fn libtorrent_on_ipv6_downloads_from_seed_over_tcp() {
    lt_leeches_over_ipv6("tcp");
}

#[test]
fn libtorrent_on_ipv6_downloads_from_seed_over_utp() {
    lt_leeches_over_ipv6("utp");
}

/// BEP 7 `ipv6=`: a host with a global IPv6 address tells an HTTP tracker it reaches over IPv4
/// where IPv6 peers find it. fast-peer runs on host B of the test's own network namespaces,
/// where that address is on the link (`2001:db8::/32`, the documentation prefix: nothing
/// leaves the namespaces); the tracker on host A prints each announce.
#[test]
fn announces_carry_our_global_ipv6_address() {
    let link = Link::new("v6ann");
    link.add_ipv6(End::B, "2001:db8:77::2/64");
    let work = tempfile::tempdir().unwrap();
    let content = create_content(&work.path().join("seed"), multi_file_layout());
    let url = format!("http://{}:5004/announce", link.ip(End::A));
    let (torrent, _) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &url);
    let mut t = Command::new(LT_PYTHON);
    t.arg(repo_root().join("scripts/link_tools.py")).args([
        "tracker",
        "5004",
        &format!("{}:1", link.ip(End::A)),
    ]);
    let tracker = Daemon::spawn(&mut link.exec(End::A, &t), false);
    read_lines_until(&tracker.lines, 30, |l| l == "listening").expect("link_tools.py tracker");
    let out = work.path().join("out");
    let download = download_cmd(&torrent, &out.join("multi"), &[]);
    let _download = Daemon::spawn(&mut link.exec(End::B, &download), false);
    let mut announce = String::new();
    read_lines_until(&tracker.lines, 30, |l| {
        announce = l.to_string();
        l.starts_with("announce ")
    })
    .expect("an announce from fast-peer");
    assert!(
        announce.starts_with(&format!("announce {} ", link.ip(End::B))),
        "{announce}"
    );
    assert!(
        announce.contains("&ipv6=2001%3Adb8%3A77%3A%3A2"),
        "{announce}"
    );
}
