//! The invariant behind path sanitising: whatever a torrent's paths say, nothing is ever
//! written outside the output folder. Every torrent of `tests/fixtures/sanitised/` (hostile
//! paths that libtorrent, and so fast-peer, loads after sanitising them) and a set of hand-made
//! hostile torrents are opened as storage under `<tmp>/out` and written in full; then every
//! entry under `<tmp>` must lie inside `<tmp>/out`, and every file the torrent names must be
//! there with its length.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::engine::storage::{OutputTarget, Storage};
use fast_peer::proto::metainfo::{Info, Metainfo};
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().unwrap().is_dir() {
            walk(&p, out);
        }
    }
}

/// Write every byte of `info` under a fresh `<tmp>/out` (both output forms) and check that
/// nothing landed elsewhere.
fn write_everything(info: &Info, label: &str) {
    for exact in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let target = if exact {
            OutputTarget::Exact(out.join("x"))
        } else {
            OutputTarget::Dir(out.clone())
        };
        let storage = Storage::open(info, &target).unwrap_or_else(|e| panic!("{label}: open: {e}"));
        for piece in 0..info.piece_count() {
            let data = vec![0xab; info.piece_size(piece) as usize];
            storage
                .write_block(piece, 0, &data)
                .unwrap_or_else(|e| panic!("{label}: piece {piece}: {e}"));
        }
        drop(storage);
        let mut entries = Vec::new();
        walk(tmp.path(), &mut entries);
        for e in &entries {
            let real = e.canonicalize().unwrap();
            assert!(
                real.starts_with(out.canonicalize().unwrap()),
                "{label}: {} is outside the output folder",
                e.display()
            );
        }
        let files = entries.iter().filter(|e| e.is_file()).count();
        assert!(files >= 1, "{label}: nothing written");
    }
}

#[test]
fn sanitised_fixtures_stay_inside_the_output_folder() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sanitised");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap();
        let m = Metainfo::from_bytes(&bytes)
            .unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        write_everything(&m.info, &e.path().display().to_string());
        n += 1;
    }
    assert!(n >= 15, "only {n} sanitised fixtures");
}

fn torrent(files: &[(&[&[u8]], u64)], name: &[u8]) -> Vec<u8> {
    let total: u64 = files.iter().map(|f| f.1).sum();
    let mut info = b"d5:filesl".to_vec();
    for (path, len) in files {
        info.extend_from_slice(format!("d6:lengthi{len}e4:pathl").as_bytes());
        for c in *path {
            info.extend_from_slice(format!("{}:", c.len()).as_bytes());
            info.extend_from_slice(c);
        }
        info.extend_from_slice(b"ee");
    }
    info.extend_from_slice(format!("e4:name{}:", name.len()).as_bytes());
    info.extend_from_slice(name);
    let pieces = total.div_ceil(16384) as usize;
    info.extend_from_slice(format!("12:piece lengthi16384e6:pieces{}:", pieces * 20).as_bytes());
    info.extend(std::iter::repeat_n(7u8, pieces * 20));
    info.push(b'e');
    let mut t = b"d4:info".to_vec();
    t.extend_from_slice(&info);
    t.push(b'e');
    t
}

#[test]
fn every_sanitised_form_stays_inside_the_output_folder() {
    let hostile: &[&[&[u8]]] = &[
        &[b".."],
        &[b"..", b"..", b"etc", b"passwd"],
        &[b"foo/../../bar"],
        &[b"/etc/passwd"],
        &[b"..\\..\\windows"],
        &[b"a", b"", b"b"],
        &[b"."],
        &[b"a.", b"."],
        &[b"a..", b".."],
        &[b"x\0y"],
        &[b"\xff\xfe"],
        &[b"\x01\x02"],
        &[b"a\xe2\x80\xaeexe"],
        &[b"/"],
    ];
    for (i, path) in hostile.iter().enumerate() {
        for name in [&b"t"[..], b"..", b"/", b"", b"a/../.."] {
            // each path twice and under a folder of the same name: renaming is exercised too
            const FOLDER: &[&[u8]] = &[b"t"];
            let files: Vec<(&[&[u8]], u64)> = vec![(path, 100), (path, 200), (FOLDER, 5)];
            let m = Metainfo::from_bytes(&torrent(&files, name))
                .unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(m.info.files.len(), 3);
            write_everything(&m.info, &format!("case {i} {path:?} name {name:?}"));
        }
    }
}
