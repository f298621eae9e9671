//! fast-peer's download commands against real, independently written software: libtorrent
//! 2.0.8 seeders (`scripts/lt_peer.py`) and opentracker, all on 127.0.0.0/8. Torrents are made
//! by libtorrent; every download is checked byte for byte by hash.
//!
//! CLI contract under test (stdout is exact; errors go to stderr with a non-zero exit):
//! - `fast-peer peers FILE.torrent` -> one `IP:PORT` per line
//! - `fast-peer handshake FILE.torrent IP:PORT` -> `Peer ID: <40 hex>`
//! - `fast-peer download_piece -o OUT FILE.torrent INDEX` -> OUT holds exactly that piece
//! - `fast-peer download -o OUT FILE.torrent [--dir DIR] [--port N] [--peer IP:PORT]...`,
//!   where OUT is the file (single-file torrent) or the root folder (multi-file torrent)
//!
//! Each swarm has its own loopback network (`common::net`) and ports from `free_port`, so the
//! tests run in parallel. Every fast-peer run is bounded by `TEST_TIMEOUT_SECS`: a hang fails
//! the test instead of blocking CI. The harness itself is checked without fast-peer in
//! `harness_selfcheck.rs`.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `fast-peer download` of the swarm's torrent into `out`, checked against the content.
fn download_and_verify(swarm: &Swarm, extra: &[String]) {
    swarm.verify_download("fast-peer download", "out", |_, target| {
        download_cmd(&swarm.torrent, target, extra)
    });
}

/// `fast-peer download --dir OUT`: the torrent is saved as OUT/<name>.
fn download_with_dir_option(swarm: &Swarm) {
    swarm.verify_download("fast-peer download --dir", "out", |out, _| {
        let mut cmd = fast_peer();
        cmd.arg("download")
            .arg("--dir")
            .arg(out)
            .arg(&swarm.torrent)
            .args(port_args());
        cmd
    });
}

fn stdout_lines(o: &std::process::Output) -> Vec<String> {
    stdout_str(o).lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------------------------
// peers
// ---------------------------------------------------------------------------------------------

fn peers_lists_both_seeders(tracker: Tracker) {
    let swarm = Swarm::start(multi_file(), tracker, &[GOOD, GOOD]);
    let o = run_with_timeout(
        fast_peer().arg("peers").arg(&swarm.torrent),
        TEST_TIMEOUT_SECS,
    );
    assert_success("fast-peer peers", &o);
    let lines = stdout_lines(&o);
    for line in &lines {
        assert!(
            line.parse::<std::net::SocketAddrV4>().is_ok(),
            "`{line}` is not IP:PORT; stdout: {lines:?}"
        );
    }
    for s in &swarm.seeders {
        assert!(
            lines.contains(&s.addr()),
            "{} missing from {lines:?}",
            s.addr()
        );
    }
}

#[test]
fn peers_from_http_tracker() {
    peers_lists_both_seeders(Tracker::Http);
}

#[test]
fn peers_from_udp_tracker() {
    peers_lists_both_seeders(Tracker::Udp);
}

// ---------------------------------------------------------------------------------------------
// handshake
// ---------------------------------------------------------------------------------------------

#[test]
fn handshake_prints_the_seeders_peer_id() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD, GOOD]);
    for s in &swarm.seeders {
        let mut cmd = fast_peer();
        cmd.arg("handshake").arg(&swarm.torrent).arg(s.addr());
        let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
        assert_success("fast-peer handshake", &o);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("Peer ID: {}\n", s.peer_id_hex),
            "handshake with {}",
            s.addr()
        );
    }
}

#[test]
fn handshake_with_closed_port_fails_on_stderr() {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let mut cmd = fast_peer();
    cmd.arg("handshake")
        .arg(&swarm.torrent)
        .arg(format!("{}:{}", swarm.net.ip(11), closed_port()));
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_fails_with_message("handshake with a closed port", &o);
}

// ---------------------------------------------------------------------------------------------
// download_piece
// ---------------------------------------------------------------------------------------------

#[test]
fn download_piece_writes_exactly_that_piece() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD, GOOD]);
    let meta = &swarm.meta;
    let last = meta.num_pieces() - 1;
    // First piece, one spanning several files (the small ones at the start of the torrent
    // order), a middle one, the short last one.
    for index in [0, 1, meta.num_pieces() / 2, last] {
        let out = swarm.out_dir(&format!("piece-{index}"));
        let file = out.join(format!("piece-{index}.bin"));
        let mut cmd = fast_peer();
        cmd.arg("download_piece")
            .arg("-o")
            .arg(&file)
            .arg(&swarm.torrent)
            .arg(index.to_string());
        let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
        assert_success(&format!("fast-peer download_piece {index}"), &o);
        let got = fs::read(&file).expect("read piece file");
        meta.assert_piece(&swarm.content.save_path, index, &got);
    }
}

#[test]
fn download_piece_out_of_range_fails_on_stderr() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD]);
    let out = swarm.out_dir("out");
    let file = out.join("piece.bin");
    let mut cmd = fast_peer();
    cmd.arg("download_piece")
        .arg("-o")
        .arg(&file)
        .arg(&swarm.torrent)
        .arg(swarm.meta.num_pieces().to_string());
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_fails_with_message("download_piece past the last piece", &o);
}

// ---------------------------------------------------------------------------------------------
// download
// ---------------------------------------------------------------------------------------------

/// (a) One 64 MiB file, peers from opentracker over HTTP, two libtorrent seeders.
#[test]
fn download_single_file_http_tracker_two_seeders() {
    let swarm = Swarm::start(single_file(), Tracker::Http, &[GOOD, GOOD]);
    download_and_verify(&swarm, &[]);
}

/// (b) Nested folders, zero-length files, spaces, files ending mid-piece, short last piece;
/// peers from the UDP tracker.
#[test]
fn download_multi_file_udp_tracker() {
    let swarm = Swarm::start(multi_file(), Tracker::Udp, &[GOOD, GOOD]);
    download_and_verify(&swarm, &[]);
}

/// `--dir DIR` saves as DIR/<torrent name>, like other clients.
#[test]
fn download_multi_file_with_dir_option() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD, GOOD]);
    download_with_dir_option(&swarm);
}

/// `--dir DIR` for a single-file torrent: DIR/<name>.
#[test]
fn download_single_file_with_dir_option() {
    let layout = vec![("one file.bin".to_string(), 3 * MIB + 12_345)];
    let swarm = Swarm::start((layout, 256 * KIB), Tracker::Http, &[GOOD]);
    download_with_dir_option(&swarm);
}

/// (c) 16 KiB pieces: 3072 pieces, one block each.
#[test]
fn download_16k_pieces() {
    let swarm = Swarm::start(small_pieces(), Tracker::Http, &[GOOD, GOOD]);
    download_and_verify(&swarm, &[]);
}

/// (d) One seeder serves corrupt data in every other piece; the good one is slowed down so the
/// corrupt one is certainly asked for pieces. The download must still complete and verify.
#[test]
fn download_survives_a_corrupt_seeder() {
    let corrupt = Seed {
        corrupt: true,
        ..GOOD
    };
    let slow_good = Seed::limited(4 * MIB);
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[corrupt, slow_good]);
    assert!(
        !swarm
            .meta
            .bad_pieces(&swarm.work.path().join("corrupt-0"))
            .is_empty()
    );
    download_and_verify(&swarm, &[]);
}

/// (e) One of two seeders is killed while the download runs; the other one finishes it. The
/// seeders are rate-limited so the download is still running when the kill happens.
#[test]
fn download_survives_a_seeder_killed_mid_download() {
    let limited = Seed::limited(6 * MIB);
    let mut swarm = Swarm::start(single_file(), Tracker::Http, &[limited, limited]);
    let out = swarm.out_dir("out");
    let target = swarm.target_in(&out);
    let mut dl = Running::start(&mut download_cmd(&swarm.torrent, &target, &[]));
    // The scenario's precondition: the seeders' upload limit keeps the download running.
    wait_written(&mut dl, &out, 4 * MIB, "the download");
    swarm.seeders[0].kill();
    let o = dl.wait_timeout(TEST_TIMEOUT_SECS);
    assert_success_or_log("fast-peer download", &o, || swarm.seeder_logs());
    assert_same_file(&swarm.content.path, &target);
}

/// (f) No tracker reachable: the peers come only from `--peer`.
#[test]
fn download_with_peer_option_only() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[GOOD, GOOD]);
    download_and_verify(&swarm, &swarm.peer_args());
}

/// (f) `--peer` only, single-file, one seeder.
#[test]
fn download_single_file_with_one_peer_option() {
    let layout = vec![("lonely.bin".to_string(), 10 * MIB + 1)];
    let swarm = Swarm::start((layout, 512 * KIB), Tracker::None, &[GOOD]);
    download_and_verify(&swarm, &swarm.peer_args());
}

/// (g) Resume: a download SIGKILLed once its output has grown is finished by a rerun; a rerun
/// on the completed file succeeds and leaves the file (content and mtime) untouched.
#[test]
fn download_resumes_after_sigkill_and_rerun_on_complete_file_is_a_no_op() {
    let limited = Seed::limited(8 * MIB);
    let swarm = Swarm::start(single_file(), Tracker::Http, &[limited, limited]);
    let out = swarm.out_dir("out");
    let target = swarm.target_in(&out);

    let mut first = Running::start(&mut download_cmd(&swarm.torrent, &target, &[]));
    wait_written(&mut first, &out, 8 * MIB, "the first run");
    let killed = first.kill();
    let partial = written_bytes(&out);
    eprintln!(
        "first run killed ({}) after {partial} bytes on disk",
        killed.status
    );

    run_ok(
        "fast-peer download (resumed)",
        &mut download_cmd(&swarm.torrent, &target, &[]),
        || swarm.seeder_logs(),
    );
    assert_downloaded(&swarm.content.path, &out, &target);

    let before = fs::metadata(&target)
        .expect("metadata")
        .modified()
        .expect("mtime");
    // Make a rewrite detectable even on filesystems with coarse timestamps: wait until a file
    // written now (beside the output folder, on the same file system) is newer.
    let probe = swarm.work.path().join("mtime-probe");
    wait_until(
        10,
        "the file system's clock to pass the file's mtime",
        || {
            let _ = fs::remove_file(&probe);
            fs::write(&probe, b"now").expect("write the probe");
            fs::metadata(&probe)
                .expect("probe")
                .modified()
                .expect("mtime")
                > before
        },
    );
    let o = run_with_timeout(
        &mut download_cmd(&swarm.torrent, &target, &[]),
        TEST_TIMEOUT_SECS,
    );
    assert_success("fast-peer download (already complete)", &o);
    let after = fs::metadata(&target)
        .expect("metadata")
        .modified()
        .expect("mtime");
    assert_eq!(after, before, "rerun on a complete file changed its mtime");
    assert_downloaded(&swarm.content.path, &out, &target);
}

/// A resumed multi-file download: part of the tree on disk, rerun completes it.
#[test]
fn download_multi_file_resumes_after_sigkill() {
    let limited = Seed::limited(2 * MIB);
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[limited]);
    let out = swarm.out_dir("out");
    let target = swarm.target_in(&out);
    let mut first = Running::start(&mut download_cmd(&swarm.torrent, &target, &[]));
    wait_written(&mut first, &out, MIB, "the first run");
    first.kill();
    run_ok(
        "fast-peer download (resumed)",
        &mut download_cmd(&swarm.torrent, &target, &[]),
        || swarm.seeder_logs(),
    );
    assert_downloaded(&swarm.content.path, &out, &target);
}

// ---------------------------------------------------------------------------------------------
// Message Stream Encryption against libtorrent seeders that refuse plaintext
// ---------------------------------------------------------------------------------------------

/// The default policy speaks plaintext first; libtorrent requiring RC4 hangs up on it, and
/// fast-peer reconnects with an MSE handshake and downloads everything over RC4.
#[test]
fn download_from_rc4_only_seeders_falls_back_to_encryption() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[RC4_ONLY, RC4_ONLY]);
    // the seeders really refuse plaintext: a plain handshake gets nowhere
    let plain = run_with_timeout(
        fast_peer()
            .args(["--encryption", "disabled", "handshake"])
            .arg(&swarm.torrent)
            .arg(swarm.seeders[0].addr()),
        TEST_TIMEOUT_SECS,
    );
    assert!(
        !plain.status.success(),
        "an RC4-only seeder answered a plaintext handshake"
    );
    download_and_verify(&swarm, &swarm.peer_args());
}

/// `--encryption required`: RC4 from the first byte, a single-file torrent.
#[test]
fn download_with_required_encryption_from_an_rc4_only_seeder() {
    let layout = vec![("secret.bin".to_string(), 6 * MIB + 5)];
    let swarm = Swarm::start((layout, 256 * KIB), Tracker::None, &[RC4_ONLY]);
    let mut extra = vec!["--encryption".to_string(), "required".to_string()];
    extra.extend(swarm.peer_args());
    download_and_verify(&swarm, &extra);
}

/// A magnet over RC4: the metadata is fetched on an encrypted connection, which is then
/// handed, with its cipher state, to the download.
#[test]
fn magnet_download_with_required_encryption_from_an_rc4_only_seeder() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[RC4_ONLY]);
    let what = "fast-peer --encryption required magnet_download";
    swarm.verify_download(what, "out", |_, target| {
        let magnet = magnet(&swarm.hash(), None, &[], &[]);
        let mut cmd = magnet_download_cmd(&magnet, target, &swarm.peer_args());
        cmd.args(["--encryption", "required"]);
        cmd
    });
}

// ---------------------------------------------------------------------------------------------
// A torrent as messy as real ones: libtorrent seeds it, fast-peer must read it the same way
// ---------------------------------------------------------------------------------------------

/// Unsorted keys in the info dictionary, bytes after the root, a piece length that is not a
/// multiple of 16 KiB, a duplicate path and a case-insensitive one (renamed `.1`), unsafe
/// elements (`..`, `\`) and a BEP 47 pad file: libtorrent seeds it from the paths it derives,
/// and fast-peer must download every byte to the same paths, never creating the pad file.
#[test]
fn download_a_messy_torrent_from_libtorrent() {
    const PIECE: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    // (raw path elements, length, where libtorrent and fast-peer put it)
    let files: Vec<(Vec<&[u8]>, u64, &str)> = vec![
        (vec![b"b", b"dup.txt"], 30_000, "b/dup.txt"),
        (vec![b"b", b"dup.txt"], 12_345, "b/dup.1.txt"),
        (vec![b"..", b"..", b"evil.bin"], 25_000, "evil.bin"),
        (vec![b"a\\b.txt"], 41_000, "ab.txt"),
        // `b/dup.1.txt` is taken (case is ignored), so `.2`
        (vec![b"B", b"DUP.TXT"], 9_999, "B/DUP.2.TXT"),
    ];
    let seed_dir = dir.path().join("seed");
    let mut data = Vec::new();
    let mut entries = Vec::new();
    let bstr = |b: &[u8]| {
        let mut v = format!("{}:", b.len()).into_bytes();
        v.extend_from_slice(b);
        v
    };
    for (i, (elems, len, on_disk)) in files.iter().enumerate() {
        let mut bytes = vec![0u8; *len as usize];
        content_bytes(on_disk, 0, &mut bytes);
        let path = seed_dir.join("messy").join(on_disk);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &bytes).unwrap();
        data.extend_from_slice(&bytes);
        let mut e = format!("d6:lengthi{len}e4:pathl").into_bytes();
        elems.iter().for_each(|c| e.extend(bstr(c)));
        e.extend_from_slice(b"ee");
        entries.push(e);
        if i == 2 {
            // align the next file to a piece with a pad file (zeros, never on disk)
            let pad = PIECE - data.len() as u64 % PIECE;
            data.extend(std::iter::repeat_n(0u8, pad as usize));
            let mut e = format!("d4:attr1:p6:lengthi{pad}e4:pathl4:.pad").into_bytes();
            e.extend(bstr(pad.to_string().as_bytes()));
            e.extend_from_slice(b"ee");
            entries.push(e);
        }
    }
    // BEP 47: `evil.bin` is executable, and `latest` is a symlink to `b/dup.txt` (libtorrent
    // makes it when it checks the seed's files; it may find ours)
    entries[2] = [b"d4:attr1:x".as_slice(), &entries[2][1..]].concat();
    entries.push(b"d4:attr1:l6:lengthi0e4:pathl6:lateste12:symlink pathl1:b7:dup.txtee".to_vec());
    std::os::unix::fs::symlink("b/dup.txt", seed_dir.join("messy/latest")).unwrap();
    let pieces: Vec<u8> = data.chunks(PIECE as usize).flat_map(sha1_bytes).collect();
    // keys deliberately unsorted: name, files, pieces, piece length
    let mut info = b"d4:name5:messy5:filesl".to_vec();
    entries.iter().for_each(|e| info.extend_from_slice(e));
    info.extend_from_slice(b"e6:pieces");
    info.extend(bstr(&pieces));
    info.extend_from_slice(format!("12:piece lengthi{PIECE}ee").as_bytes());
    let mut torrent = b"d4:info".to_vec();
    torrent.extend_from_slice(&info);
    torrent.extend_from_slice(b"8:announce27:http://127.0.0.1:1/announceeTRAILING BYTES");
    let torrent_path = dir.path().join("messy.torrent");
    fs::write(&torrent_path, &torrent).unwrap();

    let net = Net::new();
    let seeder = LtPeer::seed(
        &torrent_path,
        &seed_dir,
        &net.ip(11),
        SeedOpts {
            wait_tracker: false,
            ..SeedOpts::default()
        },
    );
    let out = dir.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let target = out.join("messy");
    let o = run_with_timeout(
        &mut download_cmd(&torrent_path, &target, &peer_args(&[seeder.addr()])),
        TEST_TIMEOUT_SECS,
    );
    assert_success("fast-peer download of a messy torrent", &o);
    let info_hash = sha1_bytes(&info);
    let printed = fast_peer().arg("info").arg(&torrent_path).output().unwrap();
    assert!(
        String::from_utf8_lossy(&printed.stdout)
            .contains(&format!("Info Hash: {}", hex(&info_hash)))
    );
    // every file where libtorrent keeps it, byte for byte; no pad file, nothing else
    let got = tree_digest(&target);
    let want = tree_digest(&seed_dir.join("messy"));
    assert_eq!(got, want);
    assert!(!target.join(".pad").exists(), "a pad file was created");
    assert_no_extra_files(&out, &target);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| fs::metadata(target.join(p)).unwrap().permissions().mode();
    assert_eq!(
        mode("evil.bin") & 0o100,
        0o100,
        "`x` makes a file executable"
    );
    assert_eq!(mode("ab.txt") & 0o111, 0);
    assert_eq!(
        fs::read_link(target.join("latest")).unwrap(),
        Path::new("b/dup.txt")
    );
}
