//! Proves the interop harness (`tests/common`, `scripts/lt_peer.py`) works without fast-peer:
//! libtorrent makes the torrents and seeds them, opentracker introduces the peers, and aria2
//! (another independent client) downloads them; every byte is checked by hash. If one of these
//! fails, the fast-peer interop tests cannot be trusted either.
//!
//! Each test uses its own loopback network 127.0.1NN.x (the fast-peer tests use 127.0.1..99.x).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::*;

/// Content + torrent + tracker + seeders, then aria2 downloads and the result must match.
fn aria2_from_two_seeders(net: u8, layout: Layout, piece_length: u64, udp: bool) {
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("seed"), layout);
    let tracker = Opentracker::start();
    let url = if udp {
        tracker.udp_announce()
    } else {
        tracker.http_announce()
    };
    let (torrent, hash) = make_torrent(&content.path, piece_length, &url);
    tracker.allow(&hash);

    let s1 = LtPeer::seed(
        &torrent,
        &content.save_path,
        &test_ip(net, 11),
        SeedOpts::default(),
    );
    let s2 = LtPeer::seed(
        &torrent,
        &content.save_path,
        &test_ip(net, 12),
        SeedOpts::default(),
    );

    // Both seeders registered (through the protocol in the torrent) under their own address.
    let peers = tracker.peers(&hash);
    for s in [&s1, &s2] {
        assert!(
            peers.contains(&s.socket_addr()),
            "tracker peers {peers:?} lack {}",
            s.addr()
        );
    }

    let out = work.path().join("out");
    let o = run_with_timeout(
        &mut aria2c(&torrent, &out, &test_ip(net, 20)),
        TEST_TIMEOUT_SECS,
    );
    assert_success("aria2c", &o);
    assert_same_content(
        &content.path,
        &out.join(content.path.file_name().expect("name")),
    );
}

#[test]
fn aria2_downloads_multi_file_layout_via_http_tracker() {
    aria2_from_two_seeders(101, multi_file_layout(), MULTI_PIECE_LENGTH, false);
}

#[test]
fn aria2_downloads_single_file_via_udp_tracker() {
    aria2_from_two_seeders(102, single_file_layout(), SINGLE_PIECE_LENGTH, true);
}

#[test]
fn aria2_downloads_16k_pieces() {
    aria2_from_two_seeders(103, small_pieces_layout(), SMALL_PIECE_LENGTH, false);
}

/// The torrents libtorrent makes are what the tests assume: v1, no pad files, the layout's
/// files (zero-length ones and names with spaces included), our info hash == libtorrent's,
/// piece hashes match the content, the piece counts we rely on.
#[test]
fn torrents_match_layouts() {
    let work = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}/announce", closed_port());
    for (layout, piece_length, pieces) in [
        (single_file_layout(), SINGLE_PIECE_LENGTH, 64),
        (multi_file_layout(), MULTI_PIECE_LENGTH, 25),
        (small_pieces_layout(), SMALL_PIECE_LENGTH, 3072),
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
    let net = 104;
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("seed"), multi_file_layout());
    let tracker = Opentracker::start();
    let (torrent, hash) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &tracker.http_announce());
    tracker.allow(&hash);
    let meta = TorrentMeta::read(&torrent);

    let good = LtPeer::seed(
        &torrent,
        &content.save_path,
        &test_ip(net, 11),
        SeedOpts::default(),
    );
    let corrupt_dir = work.path().join("corrupt");
    let bad = LtPeer::seed(
        &torrent,
        &content.save_path,
        &test_ip(net, 12),
        SeedOpts {
            corrupt_dir: Some(corrupt_dir.clone()),
            ..SeedOpts::default()
        },
    );

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

    for s in [&good, &bad] {
        let (_, peer_id) = raw_handshake(&s.addr(), &meta.info_hash);
        assert_eq!(hex(&peer_id), s.peer_id_hex, "peer id of {}", s.addr());
    }
    assert_ne!(good.peer_id_hex, bad.peer_id_hex);

    for index in [0, 1, meta.num_pieces() - 1] {
        let from_good = raw_fetch_piece(&good.addr(), &meta, index);
        assert_eq!(
            sha1_bytes(&from_good),
            meta.pieces[index],
            "good seeder, piece {index}"
        );
        let from_bad = raw_fetch_piece(&bad.addr(), &meta, index);
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
    let net = 105;
    let work = tempfile::tempdir().expect("tempdir");
    let content = create_content(&work.path().join("seed"), multi_file_layout());
    let url = format!("http://127.0.0.1:{}/announce", closed_port());
    let (torrent, hash) = make_torrent(&content.path, MULTI_PIECE_LENGTH, &url);
    let seeder = LtPeer::seed(
        &torrent,
        &content.save_path,
        &test_ip(net, 11),
        SeedOpts {
            wait_tracker: false,
            ..SeedOpts::default()
        },
    );
    let out = work.path().join("out");
    let o = lt_leech(&torrent, &out, &test_ip(net, 20), &[seeder.addr()], 90);
    assert_success("lt_peer.py leech", &o);
    assert_same_tree(&content.path, &out.join("multi"));

    let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=multi");
    let out = work.path().join("out-magnet");
    let o = lt_leech_magnet(&magnet, &out, &test_ip(net, 21), &[seeder.addr()], 90);
    assert_success("lt_peer.py leech --magnet", &o);
    assert_same_tree(&content.path, &out.join("multi"));
}
