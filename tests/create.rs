//! Torrent creation against the reference: for the same content and settings, the info hash of
//! `engine::create` equals the one libtorrent 2.0 computes (`scripts/lt_peer.py create`, which
//! uses `add_files` + `create_torrent(..., v1_only)`), the file order is the same, the output
//! parses, and every piece hash verifies against the content.
//!
//! The CLI (`fast-peer create`) is not called here: these tests pin the library behaviour.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::fs;
use std::num::NonZeroUsize;
use std::path::Path;

use common::*;
use fast_peer::engine::create::{CreateOptions, FileOrder, create_torrent, default_piece_length};
use fast_peer::proto::bencode::{self, Value};
use fast_peer::proto::metainfo::Metainfo;

const TRACKER: &str = "http://127.0.0.1:6969/announce";

/// Runs a libtorrent snippet (`lt` imported, `args` = the extra arguments) and returns stdout.
fn lt_python(script: &str, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(LT_PYTHON);
    cmd.arg("-c")
        .arg(format!(
            "import sys\nimport libtorrent as lt\nargs = sys.argv[1:]\n{script}"
        ))
        .args(args);
    let o = run_with_timeout(&mut cmd, 120);
    assert_success("libtorrent snippet", &o);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// The `info` dict of a torrent without `pieces`, for readable mismatch reports.
fn info_summary(torrent: &[u8]) -> String {
    let root = bencode::decode(torrent).expect("bencode");
    let mut info = root.get(b"info").expect("info").clone();
    if let Value::Dict(d) = &mut info {
        d.remove(b"pieces".as_slice());
    }
    bencode::to_json(&info)
}

/// Our torrent of `content.path`, checked against libtorrent's for the same settings.
fn compare_with_libtorrent(content: &Content, piece_length: u64) {
    let (lt_path, lt_hash) = make_torrent(&content.path, piece_length, TRACKER);
    let lt_meta = TorrentMeta::read(&lt_path);

    let mut opts = CreateOptions::new(&content.path);
    opts.trackers = vec![vec![TRACKER.to_string()]];
    opts.piece_length = Some(piece_length as u32);
    let mut last = (0, 0);
    let ours = create_torrent(&opts, |done, total| last = (done, total)).expect("create");
    let pieces = content
        .layout
        .iter()
        .map(|(_, l)| l)
        .sum::<u64>()
        .div_ceil(piece_length) as u32;
    assert_eq!(last, (pieces, pieces), "final progress report");

    // Written to disk and read back by both our parser and the harness's.
    let ours_path = content
        .save_path
        .join(format!("ours-{piece_length}.torrent"));
    fs::write(&ours_path, &ours.bytes).expect("write torrent");
    let parsed = Metainfo::from_bytes(&fs::read(&ours_path).expect("read")).expect("parses");
    assert_eq!(parsed.info_hash, ours.metainfo.info_hash);
    assert_eq!(parsed.announce.as_deref(), Some(TRACKER));
    let meta = TorrentMeta::read(&ours_path);

    // Same files in the same order (libtorrent lists them in read_dir order, unsorted).
    assert_eq!(
        meta.files, lt_meta.files,
        "file order differs from libtorrent"
    );
    let mut layout = content.layout.clone();
    layout.sort();
    let mut listed = meta.files.clone();
    listed.sort();
    assert_eq!(
        listed, layout,
        "every file of the layout, zero-length ones included"
    );

    assert_eq!(
        meta.info_hash_hex(),
        lt_hash,
        "info hash differs from libtorrent's at piece length {piece_length}\n ours: {}\n   lt: {}",
        info_summary(&ours.bytes),
        info_summary(&fs::read(&lt_path).expect("read lt torrent")),
    );
    assert_eq!(parsed.info_hash.to_string(), lt_hash);
    assert_eq!(meta.pieces, lt_meta.pieces);
    assert!(
        meta.bad_pieces(&content.save_path).is_empty(),
        "piece hashes verify"
    );
}

#[test]
fn single_file_matches_libtorrent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = create_content(dir.path(), single_file_layout());
    for piece_length in [16 * KIB, 256 * KIB] {
        compare_with_libtorrent(&content, piece_length);
    }
}

#[test]
fn multi_file_matches_libtorrent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = create_content(dir.path(), multi_file_layout());
    for piece_length in [16 * KIB, 256 * KIB] {
        compare_with_libtorrent(&content, piece_length);
    }
}

/// A larger, flatter folder: many siblings make any ordering difference show.
#[test]
fn many_files_match_libtorrent_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut layout: Layout = (0..40)
        .map(|i| (format!("many/f{:02}-{}", (i * 17) % 40, i), 1_000 + i * 777))
        .collect();
    layout.push(("many/sub b/x".into(), 0));
    layout.push(("many/Sub A/y.bin".into(), 50_000));
    layout.push(("many/.dot".into(), 3));
    let content = create_content(dir.path(), layout);
    compare_with_libtorrent(&content, 16 * KIB);

    // Sorted order is a different, reproducible torrent over the same files.
    let mut opts = CreateOptions::new(&content.path);
    opts.piece_length = Some(16 * 1024);
    opts.order = FileOrder::Sorted;
    opts.threads = NonZeroUsize::new(3);
    let sorted = create_torrent(&opts, |_, _| {}).expect("create sorted");
    let paths: Vec<&Vec<String>> = sorted.metainfo.info.files.iter().map(|f| &f.path).collect();
    let mut want = paths.clone();
    want.sort();
    assert_eq!(paths, want);
    let path = content.save_path.join("sorted.torrent");
    fs::write(&path, &sorted.bytes).expect("write");
    assert!(
        TorrentMeta::read(&path)
            .bad_pieces(&content.save_path)
            .is_empty()
    );
}

/// libtorrent marks files with the owner's execute bit `attr = "x"` (BEP 47); so do we.
#[test]
fn executable_attr_matches_libtorrent() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let content = create_content(
        dir.path(),
        vec![
            ("exec/run.sh".into(), 100),
            ("exec/data.bin".into(), 70_000),
        ],
    );
    fs::set_permissions(
        content.path.join("run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    compare_with_libtorrent(&content, 16 * KIB);

    let single = Content {
        save_path: content.path.clone(),
        path: content.path.join("run.sh"),
        layout: vec![("run.sh".into(), 100)],
    };
    compare_with_libtorrent(&single, 16 * KIB);
}

/// BEP 27: `private = 1` in info, the same info hash as libtorrent's `set_priv(True)`.
#[test]
fn private_matches_libtorrent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = create_content(dir.path(), multi_file_layout());
    let lt_hash = lt_python(
        "fs = lt.file_storage()\n\
         lt.add_files(fs, args[0])\n\
         ct = lt.create_torrent(fs, int(args[1]), lt.create_torrent.v1_only)\n\
         ct.add_tracker(args[2])\n\
         ct.set_priv(True)\n\
         import os\n\
         lt.set_piece_hashes(ct, os.path.dirname(args[0]))\n\
         ti = lt.torrent_info(lt.bencode(ct.generate()))\n\
         print(ti.priv(), ti.info_hashes().v1)",
        &[
            content.path.to_str().expect("utf-8 path"),
            "262144",
            TRACKER,
        ],
    );
    let mut opts = CreateOptions::new(&content.path);
    opts.trackers = vec![vec![TRACKER.into()]];
    opts.piece_length = Some(256 * 1024);
    opts.private = true;
    let ours = create_torrent(&opts, |_, _| {}).expect("create");
    assert!(ours.metainfo.info.private);
    let info = bencode::decode(&ours.metainfo.raw_info).expect("info");
    assert_eq!(info.get(b"private"), Some(&Value::Int(1)));
    assert_eq!(lt_hash, format!("True {}", ours.metainfo.info_hash));

    // The public torrent of the same content has another hash.
    opts.private = false;
    let public = create_torrent(&opts, |_, _| {}).expect("create");
    assert_ne!(public.metainfo.info_hash, ours.metainfo.info_hash);
}

/// Without `--piece-length` both pick the same size (libtorrent's `create_torrent(fs, 0)`;
/// libtorrent refuses files of 2^44 bytes or so, so the sizes stop there).
#[test]
fn default_piece_length_matches_libtorrent() {
    let mut sizes: Vec<u64> = vec![1, 16_384, 100 * MIB, 1 << 40, 1 << 43];
    for b in [
        2_684_355u64,
        10_737_418,
        42_949_673,
        171_798_692,
        687_194_767,
        2_748_779_069,
        10_995_116_278,
        43_980_465_111,
        175_921_860_444,
        703_687_441_777,
    ] {
        sizes.extend([b, b + 1]);
    }
    let arg: Vec<String> = sizes.iter().map(u64::to_string).collect();
    let out = lt_python(
        "for s in args:\n\
         \x20   fs = lt.file_storage()\n\
         \x20   fs.add_file('x/a', int(s))\n\
         \x20   print(lt.create_torrent(fs, 0, lt.create_torrent.v1_only).piece_length())",
        &arg.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let lt: Vec<u32> = out.lines().map(|l| l.parse().expect("number")).collect();
    let ours: Vec<u32> = sizes.iter().map(|&s| default_piece_length(s)).collect();
    assert_eq!(ours, lt, "sizes {sizes:?}");
}

/// With no piece length given, the whole torrent still matches libtorrent's.
#[test]
fn unspecified_piece_length_matches_libtorrent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let content = create_content(dir.path(), multi_file_layout());
    let lt_hash = lt_python(
        "import os\n\
         fs = lt.file_storage()\n\
         lt.add_files(fs, args[0])\n\
         ct = lt.create_torrent(fs, 0, lt.create_torrent.v1_only)\n\
         lt.set_piece_hashes(ct, os.path.dirname(args[0]))\n\
         print(lt.torrent_info(lt.bencode(ct.generate())).info_hashes().v1)",
        &[content.path.to_str().expect("utf-8 path")],
    );
    let ours = create_torrent(&CreateOptions::new(&content.path), |_, _| {}).expect("create");
    assert_eq!(ours.metainfo.info_hash.to_string(), lt_hash);
    assert!(Path::new(&content.path).is_dir());
}
