//! Deterministic content (every byte a function of path and offset), the layouts the interop
//! tests use, hashing, and byte-for-byte comparison of what a client downloaded.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use super::{KIB, MIB};

/// A list of (relative path, length). Paths use `/`; all entries of one layout share their
/// first component, which is the torrent's name.
pub type Layout = Vec<(String, u64)>;

/// One 64 MiB file, meant for 1 MiB pieces.
pub fn single_file_layout() -> Layout {
    vec![("single.bin".into(), 64 * MIB)]
}
pub const SINGLE_PIECE_LENGTH: u64 = MIB;

/// Nested folders, zero-length files (also first in the folder and inside a folder), a name
/// with spaces, files that start and end mid-piece, files smaller than a piece, a last piece
/// shorter than the rest (6_524_534 bytes = 24 full 256 KiB pieces + 232_078 bytes).
pub fn multi_file_layout() -> Layout {
    let p = MULTI_PIECE_LENGTH;
    vec![
        ("multi/README.txt".into(), 1_000),
        ("multi/empty-first.dat".into(), 0),
        ("multi/docs/a file with spaces.txt".into(), 300_001),
        ("multi/docs/nested/deeper/data.bin".into(), 3 * p + 4_097),
        ("multi/docs/nested/empty.txt".into(), 0),
        ("multi/media/big.bin".into(), 5 * MIB + 123),
        ("multi/media/tiny.bin".into(), 1),
        ("multi/z-last.bin".into(), 190_000),
    ]
}
pub const MULTI_PIECE_LENGTH: u64 = 256 * KIB;

/// 48 MiB in 16 KiB pieces: 3072 pieces.
pub fn small_pieces_layout() -> Layout {
    vec![("small-pieces.bin".into(), 48 * MIB)]
}
pub const SMALL_PIECE_LENGTH: u64 = 16 * KIB;

/// A layout with the piece length its torrent is made with.
pub type Shape = (Layout, u64);

/// [`single_file_layout`] in 1 MiB pieces.
pub fn single_file() -> Shape {
    (single_file_layout(), SINGLE_PIECE_LENGTH)
}

/// [`multi_file_layout`] in 256 KiB pieces.
pub fn multi_file() -> Shape {
    (multi_file_layout(), MULTI_PIECE_LENGTH)
}

/// [`small_pieces_layout`] in 16 KiB pieces.
pub fn small_pieces() -> Shape {
    (small_pieces_layout(), SMALL_PIECE_LENGTH)
}

/// Word `k` of a file's content: `splitmix64(seed + k * golden)`.
fn word(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The bytes of file `rel_path` at `offset..offset + buf.len()`. The byte at offset `o` is byte
/// `o % 8` of `splitmix64(seed + (o / 8) * golden)`, where `seed` comes from the SHA-1 of the
/// path: every byte depends on path and position, so misplaced data never matches.
pub fn content_bytes(rel_path: &str, offset: u64, buf: &mut [u8]) {
    let seed = path_seed(rel_path);
    for (i, b) in buf.iter_mut().enumerate() {
        let o = offset + i as u64;
        *b = word(seed, o / 8).to_le_bytes()[(o % 8) as usize];
    }
}

/// The seed of a file's content: from the SHA-1 of its path.
fn path_seed(rel_path: &str) -> u64 {
    let digest = Sha1::digest(rel_path.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn fill_aligned(seed: u64, offset: u64, buf: &mut [u8]) {
    debug_assert!(offset.is_multiple_of(8));
    let mut k = offset / 8;
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        c.copy_from_slice(&word(seed, k).to_le_bytes());
        k += 1;
    }
    let rest = chunks.into_remainder();
    if !rest.is_empty() {
        rest.copy_from_slice(&word(seed, k).to_le_bytes()[..rest.len()]);
    }
}

/// Writes every file of `layout` under `dir` (creating folders), content from
/// [`content_bytes`].
pub fn write_content(dir: &Path, layout: &[(String, u64)]) {
    for (rel, len) in layout {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("create content dirs");
        let seed = path_seed(rel);
        let mut f = fs::File::create(&path).unwrap_or_else(|e| panic!("create {path:?}: {e}"));
        let mut buf = vec![0u8; MIB as usize];
        let mut off = 0u64;
        while off < *len {
            let n = (*len - off).min(MIB) as usize;
            fill_aligned(seed, off, &mut buf[..n]);
            f.write_all(&buf[..n]).expect("write content");
            off += n as u64;
        }
    }
}

/// Content written for a layout: `save_path` is what a client is given as its download folder,
/// `path` is the torrent's file (single-file) or top folder (multi-file).
pub struct Content {
    pub save_path: PathBuf,
    pub path: PathBuf,
    pub layout: Layout,
}

/// Writes `layout` under `save_path` and returns where the torrent's content is.
pub fn create_content(save_path: &Path, layout: Layout) -> Content {
    let top = layout[0].0.split('/').next().expect("top").to_string();
    assert!(
        layout
            .iter()
            .all(|(p, _)| p.split('/').next() == Some(top.as_str())),
        "all entries of a layout share the first component"
    );
    write_content(save_path, &layout);
    Content {
        save_path: save_path.to_path_buf(),
        path: save_path.join(&top),
        layout,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha1_bytes(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).as_slice().try_into().expect("20 bytes")
}

/// SHA-1 of a file's contents, as 40 lowercase hex digits.
pub fn sha1_file(path: &Path) -> String {
    let mut f = fs::File::open(path).unwrap_or_else(|e| panic!("open {path:?}: {e}"));
    let mut h = Sha1::new();
    let mut buf = vec![0u8; MIB as usize];
    loop {
        let n = f
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {path:?}: {e}"));
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex(h.finalize().as_slice())
}

/// Every regular file under `root` (relative path -> (length, sha1)). Symlinks and other
/// non-regular files are reported as errors; empty folders are ignored.
pub fn tree_digest(root: &Path) -> BTreeMap<String, (u64, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u64, String)>) {
        let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {dir:?}: {e}"));
        for entry in entries {
            let entry = entry.expect("dir entry");
            let path = entry.path();
            let ty = entry.file_type().expect("file type");
            let rel = path
                .strip_prefix(root)
                .expect("prefix")
                .to_string_lossy()
                .into_owned();
            if ty.is_dir() {
                walk(root, &path, out);
            } else if ty.is_symlink() {
                // a BEP 47 symlink: compared by where it points
                let target = fs::read_link(&path).expect("read_link");
                out.insert(rel, (0, format!("-> {}", target.display())));
            } else {
                assert!(ty.is_file(), "{path:?} is not a regular file");
                let len = entry.metadata().expect("metadata").len();
                out.insert(rel, (len, sha1_file(&path)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Nothing but the download itself may be left in its folder (no part or resume files once
/// complete).
pub fn assert_no_extra_files(out_dir: &Path, target: &Path) {
    let extra: Vec<_> = fs::read_dir(out_dir)
        .expect("read out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p != target)
        .collect();
    assert!(
        extra.is_empty(),
        "unexpected files next to the download: {extra:?}"
    );
}

/// Asserts that `actual` holds exactly the files of `expected` (including zero-length ones),
/// byte for byte (by SHA-1), and no other files.
pub fn assert_same_tree(expected: &Path, actual: &Path) {
    assert!(actual.is_dir(), "{actual:?} is not a folder");
    let want = tree_digest(expected);
    let got = tree_digest(actual);
    let mut problems = Vec::new();
    for (rel, (len, sum)) in &want {
        match got.get(rel) {
            None => problems.push(format!("missing: {rel} ({len} bytes)")),
            Some((glen, gsum)) if glen != len || gsum != sum => problems.push(format!(
                "differs: {rel}: expected {len} bytes sha1 {sum}, got {glen} bytes sha1 {gsum}"
            )),
            Some(_) => {}
        }
    }
    for rel in got.keys().filter(|k| !want.contains_key(*k)) {
        problems.push(format!("extra file: {rel}"));
    }
    assert!(
        problems.is_empty(),
        "{actual:?} does not match {expected:?}:\n  {}",
        problems.join("\n  ")
    );
}

/// Asserts that file `actual` has the same bytes as file `expected`.
pub fn assert_same_file(expected: &Path, actual: &Path) {
    assert!(actual.is_file(), "{actual:?} is not a file");
    let (el, al) = (
        fs::metadata(expected).expect("meta").len(),
        fs::metadata(actual).expect("meta").len(),
    );
    assert_eq!(al, el, "{actual:?}: length differs from {expected:?}");
    assert_eq!(
        sha1_file(actual),
        sha1_file(expected),
        "{actual:?}: content differs from {expected:?}"
    );
}

/// Compares a download to the content: a file for single-file torrents, a tree otherwise.
pub fn assert_same_content(expected: &Path, actual: &Path) {
    if expected.is_dir() {
        assert_same_tree(expected, actual);
    } else {
        assert_same_file(expected, actual);
    }
}

/// A finished download: `target` in `out_dir` holds exactly `expected` (file or tree), and
/// nothing else is in `out_dir`.
pub fn assert_downloaded(expected: &Path, out_dir: &Path, target: &Path) {
    assert_same_content(expected, target);
    assert_no_extra_files(out_dir, target);
}
