//! Proves the interop harness (`tests/common`, `scripts/lt_peer.py`) works without fast-peer:
//! libtorrent makes the torrents and seeds them, opentracker introduces the peers, and aria2
//! (another independent client) downloads them; every byte is checked by hash. If one of these
//! fails, the fast-peer interop tests cannot be trusted either.
//!
//! Each swarm has its own loopback network (`common::net`), like the fast-peer tests'.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::*;

/// Content + torrent + tracker + seeders, then aria2 downloads and the result must match.
fn aria2_from_two_seeders(shape: Shape, tracker: Tracker) {
    let swarm = Swarm::start(shape, tracker, &[GOOD, GOOD]);

    // Both seeders registered (through the protocol in the torrent) under their own address.
    let peers = swarm
        .tracker
        .as_ref()
        .expect("tracker")
        .peers(&swarm.hash());
    for s in &swarm.seeders {
        assert!(
            peers.contains(&s.socket_addr()),
            "tracker peers {peers:?} lack {}",
            s.addr()
        );
    }

    let out = swarm.work.path().join("out");
    let o = run_with_timeout(
        &mut aria2c(&swarm.torrent, &out, &swarm.net.ip(20)),
        TEST_TIMEOUT_SECS,
    );
    assert_success("aria2c", &o);
    assert_same_content(&swarm.content.path, &swarm.target_in(&out));
}

#[test]
fn aria2_downloads_multi_file_layout_via_http_tracker() {
    aria2_from_two_seeders(multi_file(), Tracker::Http);
}

#[test]
fn aria2_downloads_single_file_via_udp_tracker() {
    aria2_from_two_seeders(single_file(), Tracker::Udp);
}

#[test]
fn aria2_downloads_16k_pieces() {
    aria2_from_two_seeders(small_pieces(), Tracker::Http);
}

/// The torrents libtorrent makes are what the tests assume: v1, no pad files, the layout's
/// files (zero-length ones and names with spaces included), our info hash == libtorrent's,
/// piece hashes match the content, the piece counts we rely on.
#[test]
fn torrents_match_layouts() {
    let work = tempfile::tempdir().expect("tempdir");
    let url = unreachable_tracker();
    for ((layout, piece_length), pieces) in [
        (single_file(), 64),
        (multi_file(), 25),
        (small_pieces(), 3072),
    ] {
        let content = create_content(&work.path().join("seed"), layout.clone());
        let (torrent, hash) = make_torrent(&content.path, piece_length, &url);
        let meta = TorrentMeta::read(&torrent);
        assert_eq!(meta.info_hash_hex(), hash, "info hash of {torrent:?}");
        assert_eq!(meta.announce.as_deref(), Some(url.as_str()));
        assert_eq!(meta.piece_length, piece_length);
        assert_eq!(meta.num_pieces(), pieces, "pieces of {torrent:?}");
        let mut want = layout.clone();
        want.sort();
        let mut got = meta.files.clone();
        got.sort();
        assert_eq!(got, want, "files of {torrent:?}");
        assert_eq!(meta.multi_file, layout.len() > 1);
        assert_eq!(meta.bad_pieces(&content.save_path), Vec::<usize>::new());
        // Content is a function of path and offset: regenerating gives the same bytes.
        let (rel, len) = &layout[layout.len() - 1];
        let mut buf = vec![0u8; (*len).min(1000) as usize];
        content_bytes(rel, len - buf.len() as u64, &mut buf);
        let file = std::fs::read(content.save_path.join(rel)).expect("read");
        assert_eq!(&file[file.len() - buf.len()..], &buf[..]);
    }
    // The multi-file layout's last piece is shorter than the others.
    let meta = TorrentMeta::read(&work.path().join("seed").join("multi.torrent"));
    let last = meta.num_pieces() - 1;
    assert!(meta.piece_size(last) < meta.piece_length);
}

/// A `--corrupt` seeder really serves bad data in the corrupted pieces (and good data in the
/// others), and the READY line's peer id is the one the seeder sends in its handshake.
#[test]
fn corrupt_seeder_serves_bad_pieces_and_ready_peer_id_is_real() {
    let corrupt = Seed {
        corrupt: true,
        ..GOOD
    };
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD, corrupt]);
    let (meta, content) = (&swarm.meta, &swarm.content);
    let (good, bad) = (&swarm.seeders[0], &swarm.seeders[1]);
    let corrupt_dir = swarm.work.path().join("corrupt-1");

    let expected_bad: Vec<usize> = (0..meta.num_pieces()).step_by(2).collect();
    assert_eq!(
        meta.bad_pieces(&corrupt_dir),
        expected_bad,
        "corrupted copy"
    );
    assert_eq!(
        meta.bad_pieces(&content.save_path),
        Vec::<usize>::new(),
        "original untouched"
    );

    for s in [good, bad] {
        let (_, peer_id) = raw_handshake(&s.addr(), &meta.info_hash);
        assert_eq!(hex(&peer_id), s.peer_id_hex, "peer id of {}", s.addr());
    }
    assert_ne!(good.peer_id_hex, bad.peer_id_hex);

    for index in [0, 1, meta.num_pieces() - 1] {
        let from_good = raw_fetch_piece(&good.addr(), meta, index);
        assert_eq!(
            sha1_bytes(&from_good),
            meta.pieces[index],
            "good seeder, piece {index}"
        );
        let from_bad = raw_fetch_piece(&bad.addr(), meta, index);
        assert_eq!(from_bad.len() as u64, meta.piece_size(index));
        if expected_bad.contains(&index) {
            assert_ne!(
                sha1_bytes(&from_bad),
                meta.pieces[index],
                "corrupt seeder, piece {index}"
            );
        } else {
            assert_eq!(
                sha1_bytes(&from_bad),
                meta.pieces[index],
                "corrupt seeder, piece {index}"
            );
        }
    }
    assert!(
        bad.stderr().contains("corrupted pieces: 0 2 4"),
        "lt_peer.py stderr: {}",
        bad.stderr()
    );
}

/// libtorrent as a leecher (used by the reverse-interop tests) downloads from a libtorrent
/// seeder given only `--peer` (the tracker in the torrent is unreachable), from the torrent
/// file and from a magnet link.
#[test]
fn lt_leech_downloads_from_peer_without_tracker() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[GOOD]);
    let (content, seeder) = (&swarm.content, swarm.seeder_addrs());
    let out = swarm.work.path().join("out");
    let o = lt_leech(&swarm.torrent, &out, &swarm.net.ip(20), &seeder, 90);
    assert_success("lt_peer.py leech", &o);
    assert_same_tree(&content.path, &out.join("multi"));

    let magnet = format!("magnet:?xt=urn:btih:{}&dn=multi", swarm.hash());
    let out = swarm.work.path().join("out-magnet");
    let o = lt_leech_magnet(&magnet, &out, &swarm.net.ip(21), &seeder, 90);
    assert_success("lt_peer.py leech --magnet", &o);
    assert_same_tree(&content.path, &out.join("multi"));
}

/// Loopback networks are never shared: the ones held at the same time differ, and while one
/// is held the bind that claims it fails, as it does for any other process (that bind is how
/// `Net::new` in another test binary sees the network taken).
#[test]
fn loopback_networks_are_never_shared() {
    let nets: Vec<Net> = (0..64).map(|_| Net::new()).collect();
    let mut prefixes: Vec<String> = nets.iter().map(Net::prefix).collect();
    prefixes.sort();
    prefixes.dedup();
    assert_eq!(prefixes.len(), nets.len(), "a network handed out twice");
    for net in &nets {
        assert!(!net.prefix().starts_with("127.0."), "{}", net.prefix());
        let claim = std::net::UdpSocket::bind((net.ip(0), NET_LOCK_PORT));
        assert!(claim.is_err(), "{} is not held", net.prefix());
    }
}
