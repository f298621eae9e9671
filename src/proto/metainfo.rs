//! `.torrent` metainfo (BEP 3 "Metainfo files", BEP 12 multitracker `announce-list`), parsed
//! and validated into [`Metainfo`] / [`Info`]. Magnet downloads (BEP 9) obtain only the raw info
//! dictionary and go through [`Info::from_bytes`].
//!
//! # Invariants of a parsed [`Info`]
//!
//! - `piece_length` is a multiple of 16 KiB in `16 KiB ..= 128 MiB` (a block is 16 KiB, so every
//!   piece splits into whole request blocks except the last).
//! - `total_length` is in `1 ..= 2^48`, equals the sum of `files[i].length`, and
//!   `piece_hashes.len() == ceil(total_length / piece_length)`, so every piece index below
//!   [`Info::piece_count`] maps to a non-empty byte range.
//! - `files[i].offset` is the running sum of the lengths before it (files are laid end to end).
//! - Every path component (and `name`) is valid UTF-8, non-empty, not `.` or `..`, and contains
//!   no `/`, `\` or NUL; no two files share a path and no file is also a directory of another.
//!   Joining `name` and a file's components under an output folder can therefore never leave it.
//!   (`path.utf-8` / `name.utf-8`, a common extension, win over `path` / `name` when present
//!   and valid UTF-8; the chosen one is what gets checked.)
//! - `private` (BEP 27) is true for any non-zero integer: erring towards "private" only
//!   disables DHT/PEX, erring the other way leaks a private swarm.
//!
//! # Info hash
//!
//! `info_hash` is SHA-1 of the raw bytes of the `info` value exactly as they appear in the file
//! ([`bencode::decode_with_info_span`]); `raw_info` keeps those bytes for serving BEP 9
//! metadata requests. Since the decoder is canonical-only, any input that parses re-encodes to
//! the same bytes anyway, but we still never hash a re-encoding.
//!
//! # Tolerance
//!
//! Everything that decides which bytes are written where (lengths, paths, pieces) is strict.
//! Descriptive fields (`comment`, `created by`, `creation date`, `announce`, `announce-list`
//! entries) are lenient: a wrong type or invalid UTF-8 is treated as absent, because real
//! torrents get these wrong and they cannot hurt anyone.

use std::collections::HashSet;
use std::ops::Range;

use sha1::{Digest, Sha1};

use crate::proto::bencode::{self, BencodeError, Value};
use crate::proto::id::InfoHash;

/// Smallest accepted piece length and the unit piece lengths must be a multiple of (one block).
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// Largest accepted piece length.
pub const MAX_PIECE_LENGTH: u32 = 128 * 1024 * 1024;
/// Largest accepted total size (256 TiB): keeps every offset comfortably inside `u64`/`i64`.
pub const MAX_TOTAL_LENGTH: u64 = 1 << 48;
/// Most files accepted in one torrent.
pub const MAX_FILES: usize = 1_000_000;

/// Why a torrent (or a raw info dictionary) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    #[error("invalid bencode: {0}")]
    Bencode(#[from] BencodeError),
    #[error("{what} is not a dictionary")]
    NotADict { what: &'static str },
    #[error("missing `{field}` in {within}")]
    MissingField {
        field: &'static str,
        within: &'static str,
    },
    #[error("`{field}` must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("piece length {0} is not a multiple of 16384 between 16384 and 134217728")]
    InvalidPieceLength(i64),
    #[error("pieces has {0} bytes, not a multiple of 20")]
    PiecesNotMultipleOf20(usize),
    #[error(
        "pieces has {actual} hashes but {total_length} bytes at piece length {piece_length} need {expected}"
    )]
    PieceCountMismatch {
        actual: usize,
        expected: u64,
        total_length: u64,
        piece_length: u32,
    },
    #[error("both `length` and `files` present in info")]
    BothLengthAndFiles,
    #[error("neither `length` nor `files` present in info")]
    NoLengthOrFiles,
    #[error("`files` is an empty list")]
    EmptyFileList,
    #[error("{count} files exceeds the limit of {max}")]
    TooManyFiles { count: usize, max: usize },
    #[error("{what} has negative length {length}")]
    NegativeLength { what: String, length: i64 },
    #[error("total length exceeds {max} bytes (at {what})")]
    TotalTooLarge { what: String, max: u64 },
    #[error("torrent has a total length of 0 bytes")]
    EmptyTorrent,
    #[error("{what}: path list is empty")]
    EmptyPath { what: String },
    #[error("{what}: {field} is not valid UTF-8")]
    NotUtf8 { what: String, field: &'static str },
    #[error("{what}: unsafe path component {component:?} ({reason})")]
    UnsafePathComponent {
        what: String,
        component: String,
        reason: &'static str,
    },
    #[error("file {index}: duplicate path {path:?}")]
    DuplicatePath { index: usize, path: String },
    #[error("file {index}: path {path:?} is both a file and a directory")]
    PathConflict { index: usize, path: String },
}

/// One file of the torrent, laid end to end with the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised path components relative to the torrent root (single-file: `[name]`).
    pub path: Vec<String>,
    pub length: u64,
    /// Byte offset of this file in the concatenated torrent data.
    pub offset: u64,
}

/// The validated `info` dictionary (see the module doc for its invariants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// Sanitised suggested name: the file name (single-file) or root folder (multi-file).
    pub name: String,
    pub piece_length: u32,
    pub piece_hashes: Vec<[u8; 20]>,
    /// Single-file torrents have one entry whose path is `[name]`; multi-file paths exclude `name`.
    pub files: Vec<FileEntry>,
    pub total_length: u64,
    pub private: bool,
    /// True for the `files` form, even with a single file (the data then lives under `name/`).
    pub is_multi_file: bool,
}

/// A parsed `.torrent` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    pub announce: Option<String>,
    /// `announce-list` as written (non-string entries dropped); use [`Metainfo::trackers`].
    pub announce_list: Vec<Vec<String>>,
    pub info: Info,
    pub info_hash: InfoHash,
    /// The `info` value's bytes exactly as in the file; SHA-1 of these is `info_hash`.
    pub raw_info: Vec<u8>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

/// SHA-1 of raw info bytes: the info hash (BEP 3). Also verifies BEP 9 metadata.
pub fn info_hash_of(raw_info: &[u8]) -> InfoHash {
    let h: [u8; 20] = Sha1::digest(raw_info).into();
    InfoHash(h)
}

impl Metainfo {
    /// Parse and validate a whole `.torrent` file.
    pub fn from_bytes(buf: &[u8]) -> Result<Metainfo, MetainfoError> {
        let (root, span) = bencode::decode_with_info_span(buf)?;
        if root.as_dict().is_none() {
            return Err(MetainfoError::NotADict { what: "torrent" });
        }
        let missing_info = MetainfoError::MissingField {
            field: "info",
            within: "torrent",
        };
        let info_value = root.get(b"info").ok_or(missing_info.clone())?;
        let raw_info = buf
            .get(span.ok_or(missing_info)?)
            .unwrap_or_default()
            .to_vec();
        let info = Info::from_value(info_value)?;

        let announce = root
            .get(b"announce")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let announce_list = root
            .get(b"announce-list")
            .and_then(Value::as_list)
            .map(|tiers| {
                tiers
                    .iter()
                    .filter_map(Value::as_list)
                    .map(|tier| {
                        tier.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let text = |key: &[u8]| root.get(key).and_then(Value::as_str).map(str::to_owned);
        Ok(Metainfo {
            announce,
            announce_list,
            info_hash: info_hash_of(&raw_info),
            raw_info,
            info,
            comment: text(b"comment"),
            created_by: text(b"created by"),
            creation_date: root.get(b"creation date").and_then(Value::as_int),
        })
    }

    /// Tracker tiers per BEP 12: `announce-list` if it names any tracker, else `[[announce]]`,
    /// else empty. Blank URLs and empty tiers are dropped; a URL repeated anywhere is kept only
    /// at its first position. BEP 12 asks for each tier to be shuffled once: that needs
    /// randomness, so it is the engine's job, not this sans-IO function's.
    pub fn trackers(&self) -> Vec<Vec<String>> {
        let mut seen = HashSet::new();
        let mut tiers: Vec<Vec<String>> = Vec::new();
        for tier in &self.announce_list {
            let t: Vec<String> = tier
                .iter()
                .map(|u| u.trim())
                .filter(|u| !u.is_empty() && seen.insert(u.to_string()))
                .map(str::to_owned)
                .collect();
            if !t.is_empty() {
                tiers.push(t);
            }
        }
        if tiers.is_empty()
            && let Some(url) = self.announce.as_deref().map(str::trim)
            && !url.is_empty()
        {
            tiers.push(vec![url.to_owned()]);
        }
        tiers
    }
}

impl Info {
    /// Parse and validate a raw bencoded info dictionary (e.g. assembled from BEP 9 metadata
    /// pieces; check it against the magnet's hash with [`info_hash_of`] first).
    pub fn from_bytes(raw: &[u8]) -> Result<Info, MetainfoError> {
        Info::from_value(&bencode::decode(raw)?)
    }

    /// Validate an already decoded info dictionary.
    pub fn from_value(v: &Value) -> Result<Info, MetainfoError> {
        if v.as_dict().is_none() {
            return Err(MetainfoError::NotADict { what: "info" });
        }
        let name = utf8_field(v, b"name.utf-8", b"name", "name", "info")?;
        check_component(&name, "name")?;

        let pl = int_field(v, b"piece length", "piece length")?;
        let piece_length = u32::try_from(pl)
            .ok()
            .filter(|n| {
                (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(n) && n % MIN_PIECE_LENGTH == 0
            })
            .ok_or(MetainfoError::InvalidPieceLength(pl))?;

        let pieces = v
            .get(b"pieces")
            .ok_or(MetainfoError::MissingField {
                field: "pieces",
                within: "info",
            })?
            .as_bytes()
            .ok_or_else(|| wrong("pieces", "a byte string"))?;
        if pieces.len() % 20 != 0 {
            return Err(MetainfoError::PiecesNotMultipleOf20(pieces.len()));
        }

        let private = match v.get(b"private") {
            None => false,
            Some(Value::Int(i)) => *i != 0,
            Some(_) => return Err(wrong("private", "an integer")),
        };

        let (files, is_multi_file) = match (v.get(b"length"), v.get(b"files")) {
            (Some(_), Some(_)) => return Err(MetainfoError::BothLengthAndFiles),
            (None, None) => return Err(MetainfoError::NoLengthOrFiles),
            (Some(_), None) => {
                let length = length_of(v, "single file")?;
                (
                    vec![FileEntry {
                        path: vec![name.clone()],
                        length,
                        offset: 0,
                    }],
                    false,
                )
            }
            (None, Some(list)) => {
                let list = list.as_list().ok_or_else(|| wrong("files", "a list"))?;
                (parse_files(list)?, true)
            }
        };
        let total_length = files.last().map_or(0, |f| f.offset + f.length);
        if total_length == 0 {
            return Err(MetainfoError::EmptyTorrent);
        }

        let expected = total_length.div_ceil(u64::from(piece_length));
        let actual = pieces.len() / 20;
        if actual as u64 != expected {
            return Err(MetainfoError::PieceCountMismatch {
                actual,
                expected,
                total_length,
                piece_length,
            });
        }
        let piece_hashes = pieces
            .chunks_exact(20)
            .map(|c| {
                let mut h = [0u8; 20];
                h.copy_from_slice(c);
                h
            })
            .collect();

        Ok(Info {
            name,
            piece_length,
            piece_hashes,
            files,
            total_length,
            private,
            is_multi_file,
        })
    }

    pub fn piece_count(&self) -> u32 {
        // Fits: the piece count is bounded by the input size / 20 and by 2^48 / 16 KiB = 2^34,
        // and in practice by the buffer that held the hashes; saturate rather than wrap.
        u32::try_from(self.piece_hashes.len()).unwrap_or(u32::MAX)
    }

    /// Length of piece `index`: `piece_length`, except the last piece; 0 past the end.
    pub fn piece_size(&self, index: u32) -> u32 {
        let start = index as u64 * self.piece_length as u64;
        (self.total_length.saturating_sub(start)).min(self.piece_length as u64) as u32
    }

    /// Byte range `[start, end)` of piece `index` in the concatenated data (empty past the end).
    pub fn piece_range(&self, index: u32) -> Range<u64> {
        let start = (index as u64 * self.piece_length as u64).min(self.total_length);
        start..start + u64::from(self.piece_size(index))
    }

    /// Pieces that hold at least one byte of file `file_index` (empty for a zero-length file or
    /// an index out of range).
    pub fn file_piece_range(&self, file_index: usize) -> Range<u32> {
        let Some(f) = self.files.get(file_index) else {
            return 0..0;
        };
        let pl = u64::from(self.piece_length);
        let first = f.offset / pl;
        if f.length == 0 {
            let p = u32::try_from(first).unwrap_or(u32::MAX);
            return p..p;
        }
        let end = (f.offset + f.length).div_ceil(pl);
        u32::try_from(first).unwrap_or(u32::MAX)..u32::try_from(end).unwrap_or(u32::MAX)
    }
}

fn wrong(field: &str, expected: &'static str) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.to_owned(),
        expected,
    }
}

fn int_field(v: &Value, key: &[u8], field: &'static str) -> Result<i64, MetainfoError> {
    v.get(key)
        .ok_or(MetainfoError::MissingField {
            field,
            within: "info",
        })?
        .as_int()
        .ok_or_else(|| wrong(field, "an integer"))
}

/// A file or torrent length: a non-negative integer no larger than [`MAX_TOTAL_LENGTH`].
fn length_of(v: &Value, what: &str) -> Result<u64, MetainfoError> {
    let n = v
        .get(b"length")
        .ok_or_else(|| wrong(&format!("{what} length"), "present"))?
        .as_int()
        .ok_or_else(|| wrong(&format!("{what} length"), "an integer"))?;
    let n = u64::try_from(n).map_err(|_| MetainfoError::NegativeLength {
        what: what.to_owned(),
        length: n,
    })?;
    if n > MAX_TOTAL_LENGTH {
        return Err(MetainfoError::TotalTooLarge {
            what: what.to_owned(),
            max: MAX_TOTAL_LENGTH,
        });
    }
    Ok(n)
}

/// The UTF-8 text of `preferred` if present and valid UTF-8, else of `key` (which must be).
fn utf8_field(
    v: &Value,
    preferred: &[u8],
    key: &[u8],
    field: &'static str,
    within: &'static str,
) -> Result<String, MetainfoError> {
    if let Some(s) = v.get(preferred).and_then(Value::as_str) {
        return Ok(s.to_owned());
    }
    let raw = v
        .get(key)
        .ok_or(MetainfoError::MissingField { field, within })?
        .as_bytes()
        .ok_or_else(|| wrong(field, "a byte string"))?;
    std::str::from_utf8(raw)
        .map(str::to_owned)
        .map_err(|_| MetainfoError::NotUtf8 {
            what: within.to_owned(),
            field,
        })
}

/// Why a path component could address outside the output folder or confuse a file system;
/// `None` when it is safe. The one rule shared by parsing, creating and storing torrents.
pub fn unsafe_component_reason(c: &str) -> Option<&'static str> {
    if c.is_empty() {
        Some("empty")
    } else if c == "." || c == ".." {
        Some("relative directory")
    } else if c.contains('/') || c.contains('\\') {
        Some("contains a path separator")
    } else if c.contains('\0') {
        Some("contains NUL")
    } else {
        None
    }
}

/// Reject anything that could address outside the output folder or confuse a file system.
fn check_component(c: &str, what: &str) -> Result<(), MetainfoError> {
    let Some(reason) = unsafe_component_reason(c) else { return Ok(()) };
    Err(MetainfoError::UnsafePathComponent {
        what: what.to_owned(),
        component: c.to_owned(),
        reason,
    })
}

fn parse_files(list: &[Value]) -> Result<Vec<FileEntry>, MetainfoError> {
    if list.is_empty() {
        return Err(MetainfoError::EmptyFileList);
    }
    if list.len() > MAX_FILES {
        return Err(MetainfoError::TooManyFiles {
            count: list.len(),
            max: MAX_FILES,
        });
    }
    let mut files = Vec::with_capacity(list.len());
    let mut offset = 0u64;
    for (index, entry) in list.iter().enumerate() {
        let what = format!("file {index}");
        if entry.as_dict().is_none() {
            return Err(wrong(&what, "a dictionary"));
        }
        let length = length_of(entry, &what)?;
        let path = file_path(entry, &what)?;
        let end = offset
            .checked_add(length)
            .filter(|&e| e <= MAX_TOTAL_LENGTH)
            .ok_or(MetainfoError::TotalTooLarge {
                what: what.clone(),
                max: MAX_TOTAL_LENGTH,
            })?;
        files.push(FileEntry {
            path,
            length,
            offset,
        });
        offset = end;
    }
    check_unique_paths(&files)?;
    Ok(files)
}

/// `path.utf-8` if present and every component is a UTF-8 string, else `path`.
fn file_path(entry: &Value, what: &str) -> Result<Vec<String>, MetainfoError> {
    let as_strings = |v: &Value| -> Option<Vec<String>> {
        v.as_list()?
            .iter()
            .map(|c| c.as_str().map(str::to_owned))
            .collect()
    };
    let path = match entry.get(b"path.utf-8").and_then(as_strings) {
        Some(p) => p,
        None => {
            let list = entry
                .get(b"path")
                .ok_or_else(|| wrong(&format!("{what} path"), "present"))?
                .as_list()
                .ok_or_else(|| wrong(&format!("{what} path"), "a list"))?;
            list.iter()
                .map(|c| match c {
                    Value::Bytes(b) => {
                        String::from_utf8(b.clone()).map_err(|_| MetainfoError::NotUtf8 {
                            what: what.to_owned(),
                            field: "path",
                        })
                    }
                    _ => Err(wrong(&format!("{what} path component"), "a byte string")),
                })
                .collect::<Result<_, _>>()?
        }
    };
    if path.is_empty() {
        return Err(MetainfoError::EmptyPath {
            what: what.to_owned(),
        });
    }
    for c in &path {
        check_component(c, what)?;
    }
    Ok(path)
}

/// No two files may share a path, and no file may sit where another needs a directory
/// (`a` and `a/b`): either would make storage overwrite or fail half way through.
fn check_unique_paths(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let mut file_paths: HashSet<&[String]> = HashSet::with_capacity(files.len());
    for (index, f) in files.iter().enumerate() {
        if !file_paths.insert(&f.path) {
            return Err(MetainfoError::DuplicatePath {
                index,
                path: f.path.join("/"),
            });
        }
    }
    let mut dirs: HashSet<&[String]> = HashSet::new();
    for f in files {
        for n in 1..f.path.len() {
            dirs.insert(&f.path[..n]);
        }
    }
    for (index, f) in files.iter().enumerate() {
        if dirs.contains(f.path.as_slice()) {
            return Err(MetainfoError::PathConflict {
                index,
                path: f.path.join("/"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Fixtures live in the repository (never read from outside it).
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

    fn fixture(name: &str) -> Vec<u8> {
        let p = format!("{FIXTURES}/{name}");
        std::fs::read(&p).unwrap_or_else(|e| panic!("read {p}: {e}"))
    }

    fn hex(s: &str) -> [u8; 20] {
        crate::proto::id::parse_hex20(s).unwrap()
    }

    const TRACKER: &str = "http://bittorrent-test-tracker.codecrafters.io/announce";

    // Expected values from the codecrafters test cases (infohash, length, and a few piece
    // hashes/lengths from DOWNLOAD_PIECE_TESTS).
    #[test]
    fn real_torrents() {
        /// (file, info hash, length, [(piece index, piece hash, piece size)])
        type Case = (
            &'static str,
            &'static str,
            u64,
            &'static [(u32, &'static str, u32)],
        );
        let cases: &[Case] = &[
            (
                "codercat.gif.torrent",
                "c77829d2a77d6516f88cd7a3de1a26abcbfab0db",
                2994120,
                &[
                    (0, "3c34309faebf01e49c0f63c90b7edcc2259b6ad0", 262144),
                    (11, "3d8db9e34db63b4ba1be27930911aa37b3f997dd", 110536),
                ],
            ),
            (
                "congratulations.gif.torrent",
                "1cad4a486798d952614c394eb15e75bec587fd08",
                820892,
                &[
                    (2, "76869e6c9c1f101f94f39de153e468be6a638f4f", 262144),
                    (3, "bded68d02de011a2b687f75b5833f46cce8e3e9c", 34460),
                ],
            ),
            (
                "itsworking.gif.torrent",
                "70edcac2611a8829ebf467a6849f5d8408d9d8f4",
                2549700,
                &[
                    (9, "7affc94f0985b985eb888a36ec92652821a21be4", 190404),
                    (1, "838f703cf7f6f08d1c497ed390df78f90d5f7566", 262144),
                ],
            ),
        ];
        for &(file, infohash, length, pieces) in cases {
            let buf = fixture(file);
            let m = Metainfo::from_bytes(&buf).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(m.info_hash.to_string(), infohash, "{file}");
            assert_eq!(info_hash_of(&m.raw_info), m.info_hash);
            assert_eq!(Info::from_bytes(&m.raw_info).unwrap(), m.info);
            assert_eq!(m.announce.as_deref(), Some(TRACKER));
            assert_eq!(m.trackers(), vec![vec![TRACKER.to_owned()]]);
            assert_eq!(m.created_by.as_deref(), Some("mktorrent 1.1"));
            let info = &m.info;
            assert_eq!(info.total_length, length);
            assert_eq!(info.piece_length, 262144);
            assert_eq!(info.name, file.trim_end_matches(".torrent"));
            assert!(!info.is_multi_file && !info.private);
            assert_eq!(
                info.files,
                vec![FileEntry {
                    path: vec![info.name.clone()],
                    length,
                    offset: 0
                }]
            );
            assert_eq!(
                u64::from(info.piece_count()),
                length.div_ceil(262144),
                "{file}"
            );
            for &(index, hash, size) in pieces {
                assert_eq!(
                    info.piece_hashes[index as usize],
                    hex(hash),
                    "{file} {index}"
                );
                assert_eq!(info.piece_size(index), size, "{file} {index}");
            }
            assert_eq!(info.piece_size(info.piece_count()), 0);
            assert_eq!(info.file_piece_range(0), 0..info.piece_count());
            let sum: u64 = (0..info.piece_count())
                .map(|i| u64::from(info.piece_size(i)))
                .sum();
            assert_eq!(sum, length);
        }
    }

    #[test]
    fn info_hash_is_over_raw_bytes() {
        let buf = fixture("codercat.gif.torrent");
        let m = Metainfo::from_bytes(&buf).unwrap();
        let span = bencode::info_span(&buf).unwrap().unwrap();
        assert_eq!(m.raw_info, &buf[span]);
        assert!(m.raw_info.starts_with(b"d6:length"));
    }

    // ---- hand-built torrents -------------------------------------------------------------

    fn bytes(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    fn dict(pairs: Vec<(&str, Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn file(len: i64, path: &[&str]) -> Value {
        dict(vec![
            ("length", Value::Int(len)),
            ("path", Value::List(path.iter().map(|c| bytes(c)).collect())),
        ])
    }

    fn pieces(n: usize) -> Value {
        Value::Bytes((0..n * 20).map(|i| i as u8).collect())
    }

    fn multi(files: Vec<Value>, piece_length: i64, n_pieces: usize) -> Value {
        dict(vec![
            ("files", Value::List(files)),
            ("name", bytes("root")),
            ("piece length", Value::Int(piece_length)),
            ("pieces", pieces(n_pieces)),
        ])
    }

    fn torrent(info: Value) -> Vec<u8> {
        bencode::encode(&dict(vec![
            ("announce", bytes("http://t/a")),
            ("info", info),
        ]))
    }

    fn parse_info(info: Value) -> Result<Info, MetainfoError> {
        let from_file = Metainfo::from_bytes(&torrent(info.clone())).map(|m| m.info);
        let from_raw = Info::from_bytes(&bencode::encode(&info));
        assert_eq!(from_file, from_raw);
        from_raw
    }

    #[test]
    fn multi_file_offsets() {
        let info = multi(
            vec![
                file(20000, &["a.bin"]),
                file(0, &["empty"]),
                file(30000, &["sub", "b.bin"]),
                file(5, &["sub", "deeper", "c"]),
            ],
            16384,
            4, // 50005 bytes / 16384 = 3.05 -> 4 pieces
        );
        let i = parse_info(info).unwrap();
        assert!(i.is_multi_file);
        assert_eq!(i.name, "root");
        assert_eq!(i.total_length, 50005);
        let offs: Vec<(u64, u64)> = i.files.iter().map(|f| (f.offset, f.length)).collect();
        assert_eq!(
            offs,
            vec![(0, 20000), (20000, 0), (20000, 30000), (50000, 5)]
        );
        assert_eq!(i.files[2].path, vec!["sub", "b.bin"]);
        assert_eq!(i.piece_count(), 4);
        assert_eq!(i.piece_size(3), 50005 - 3 * 16384);
        assert_eq!(i.piece_range(3), 49152..50005);
        assert_eq!(i.file_piece_range(0), 0..2);
        assert_eq!(i.file_piece_range(1), 1..1);
        assert_eq!(i.file_piece_range(2), 1..4);
        assert_eq!(i.file_piece_range(3), 3..4);
        assert_eq!(i.file_piece_range(4), 0..0);
    }

    #[test]
    fn single_file_in_files_form_is_multi() {
        let i = parse_info(multi(vec![file(10, &["x"])], 16384, 1)).unwrap();
        assert!(i.is_multi_file);
        assert_eq!(i.files[0].path, vec!["x"]);
    }

    #[test]
    fn utf8_variants_preferred() {
        let info = dict(vec![
            (
                "files",
                Value::List(vec![dict(vec![
                    ("length", Value::Int(1)),
                    ("path", Value::List(vec![Value::Bytes(vec![0xff])])),
                    ("path.utf-8", Value::List(vec![bytes("é.txt")])),
                ])]),
            ),
            ("name", Value::Bytes(vec![0xfe])),
            ("name.utf-8", bytes("racine")),
            ("piece length", Value::Int(16384)),
            ("pieces", pieces(1)),
        ]);
        let i = parse_info(info).unwrap();
        assert_eq!(i.name, "racine");
        assert_eq!(i.files[0].path, vec!["é.txt"]);
        // Without the utf-8 variants, invalid UTF-8 is rejected (name and path alike).
        let mut raw = bencode::encode(&multi(vec![file(1, &["ok"])], 16384, 1));
        corrupt(&mut raw, b"4:root");
        assert!(matches!(
            Info::from_bytes(&raw),
            Err(MetainfoError::NotUtf8 { field: "name", .. })
        ));
        let mut raw = bencode::encode(&multi(vec![file(1, &["ok"])], 16384, 1));
        corrupt(&mut raw, b"2:ok");
        assert!(matches!(
            Info::from_bytes(&raw),
            Err(MetainfoError::NotUtf8 { field: "path", .. })
        ));
    }

    /// Overwrite the string body of `needle` (`<len>:<body>`) with 0xff bytes.
    fn corrupt(raw: &mut [u8], needle: &[u8]) {
        let p = raw
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle present");
        let colon = needle.iter().position(|&b| b == b':').unwrap_or(0);
        for b in &mut raw[p + colon + 1..p + needle.len()] {
            *b = 0xff;
        }
    }

    #[test]
    fn private_flag() {
        let with = |p: Value| {
            dict(vec![
                ("length", Value::Int(1)),
                ("name", bytes("f")),
                ("piece length", Value::Int(16384)),
                ("pieces", pieces(1)),
                ("private", p),
            ])
        };
        assert!(parse_info(with(Value::Int(1))).unwrap().private);
        assert!(!parse_info(with(Value::Int(0))).unwrap().private);
        assert!(parse_info(with(bytes("1"))).is_err());
    }

    fn single(len: i64, piece_length: i64, n_pieces: usize) -> Value {
        dict(vec![
            ("length", Value::Int(len)),
            ("name", bytes("f")),
            ("piece length", Value::Int(piece_length)),
            ("pieces", pieces(n_pieces)),
        ])
    }

    #[test]
    fn piece_length_rules() {
        for bad in [
            0,
            -16384,
            1000,
            16383,
            16385,
            32768 + 1,
            256 * 1024 * 1024,
            i64::MAX,
        ] {
            assert_eq!(
                parse_info(single(1, bad, 1)),
                Err(MetainfoError::InvalidPieceLength(bad)),
                "{bad}"
            );
        }
        for good in [16384, 32768, 4 << 20, 128 << 20] {
            assert!(parse_info(single(1, good, 1)).is_ok(), "{good}");
        }
    }

    #[test]
    fn piece_count_rules() {
        assert!(parse_info(single(16384, 16384, 1)).is_ok());
        assert!(parse_info(single(16385, 16384, 2)).is_ok());
        let e = parse_info(single(16385, 16384, 1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pieces has 1 hashes but 16385 bytes at piece length 16384 need 2"
        );
        assert!(parse_info(single(1, 16384, 2)).is_err());
        assert_eq!(
            parse_info(single(0, 16384, 0)),
            Err(MetainfoError::EmptyTorrent)
        );
        assert_eq!(
            parse_info(single(0, 16384, 1)),
            Err(MetainfoError::EmptyTorrent)
        );
        let mut info = single(1, 16384, 1);
        if let Value::Dict(d) = &mut info {
            d.insert(b"pieces".to_vec(), Value::Bytes(vec![0; 37]));
        }
        let e = parse_info(info).unwrap_err();
        assert_eq!(e.to_string(), "pieces has 37 bytes, not a multiple of 20");
    }

    #[test]
    fn length_rules() {
        assert!(matches!(
            parse_info(single(-1, 16384, 1)),
            Err(MetainfoError::NegativeLength { length: -1, .. })
        ));
        assert!(matches!(
            parse_info(single((1 << 48) + 1, 16384, 1)),
            Err(MetainfoError::TotalTooLarge { .. })
        ));
        // Two files each under the limit, together over it.
        let info = multi(
            vec![file(1 << 47, &["a"]), file((1 << 47) + 1, &["b"])],
            16384,
            1,
        );
        assert!(matches!(
            parse_info(info),
            Err(MetainfoError::TotalTooLarge { .. })
        ));
        assert!(matches!(
            parse_info(multi(vec![file(-5, &["a"])], 16384, 1)),
            Err(MetainfoError::NegativeLength { length: -5, .. })
        ));
        assert_eq!(
            parse_info(multi(vec![], 16384, 1)),
            Err(MetainfoError::EmptyFileList)
        );
        let mut both = single(1, 16384, 1);
        if let Value::Dict(d) = &mut both {
            d.insert(b"files".to_vec(), Value::List(vec![file(1, &["a"])]));
        }
        assert_eq!(parse_info(both), Err(MetainfoError::BothLengthAndFiles));
        let mut neither = single(1, 16384, 1);
        if let Value::Dict(d) = &mut neither {
            d.remove(b"length".as_slice());
        }
        assert_eq!(parse_info(neither), Err(MetainfoError::NoLengthOrFiles));
    }

    #[test]
    fn path_sanitising() {
        let bad_paths: &[&[&str]] = &[
            &[".."],
            &["..", "etc", "passwd"],
            &["a", "..", "..", "b"],
            &["."],
            &[""],
            &["a", ""],
            &["/etc/passwd"],
            &["/", "etc"],
            &["a/b"],
            &["a\\..\\b"],
            &["C:\\Windows"],
            &["nul\0byte"],
            &[],
        ];
        for p in bad_paths {
            let r = parse_info(multi(vec![file(1, p)], 16384, 1));
            assert!(
                matches!(
                    r,
                    Err(MetainfoError::UnsafePathComponent { .. } | MetainfoError::EmptyPath { .. })
                ),
                "{p:?}: {r:?}"
            );
        }
        for name in ["..", ".", "", "a/b", "/", "a\\b", "x\0"] {
            let mut info = single(1, 16384, 1);
            if let Value::Dict(d) = &mut info {
                d.insert(b"name".to_vec(), bytes(name));
            }
            assert!(
                matches!(
                    parse_info(info),
                    Err(MetainfoError::UnsafePathComponent { .. })
                ),
                "{name:?}"
            );
        }
        // A hostile name.utf-8 is checked just the same (it is the one used).
        let mut info = single(1, 16384, 1);
        if let Value::Dict(d) = &mut info {
            d.insert(b"name.utf-8".to_vec(), bytes(".."));
        }
        assert!(parse_info(info).is_err());
        // Dots inside names are fine.
        assert!(parse_info(multi(vec![file(1, &["..a", "b..", ".hidden"])], 16384, 1)).is_ok());
        // Non-string components.
        let info = multi(
            vec![dict(vec![
                ("length", Value::Int(1)),
                ("path", Value::List(vec![Value::Int(1)])),
            ])],
            16384,
            1,
        );
        assert!(matches!(
            parse_info(info),
            Err(MetainfoError::WrongType { .. })
        ));
    }

    #[test]
    fn duplicate_and_conflicting_paths() {
        let dup = multi(vec![file(1, &["a", "b"]), file(1, &["a", "b"])], 16384, 1);
        assert_eq!(
            parse_info(dup),
            Err(MetainfoError::DuplicatePath {
                index: 1,
                path: "a/b".into()
            })
        );
        let conflict = multi(vec![file(1, &["a"]), file(1, &["a", "b"])], 16384, 1);
        assert!(matches!(
            parse_info(conflict),
            Err(MetainfoError::PathConflict { index: 0, .. })
        ));
        let fine = multi(vec![file(1, &["a", "b"]), file(1, &["ab"])], 16384, 1);
        assert!(parse_info(fine).is_ok());
    }

    #[test]
    fn too_many_files() {
        let files = vec![file(0, &["x"]); MAX_FILES + 1];
        assert!(matches!(
            parse_info(multi(files, 16384, 1)),
            Err(MetainfoError::TooManyFiles { .. })
        ));
    }

    #[test]
    fn trackers_bep12() {
        let m = |announce: Option<&str>, list: Vec<Vec<&str>>| Metainfo {
            announce: announce.map(str::to_owned),
            announce_list: list
                .into_iter()
                .map(|t| t.into_iter().map(str::to_owned).collect())
                .collect(),
            info: parse_info(single(1, 16384, 1)).unwrap(),
            info_hash: InfoHash::default(),
            raw_info: Vec::new(),
            comment: None,
            created_by: None,
            creation_date: None,
        };
        let s = |v: Vec<Vec<&str>>| -> Vec<Vec<String>> {
            v.into_iter()
                .map(|t| t.into_iter().map(str::to_owned).collect())
                .collect()
        };
        assert_eq!(
            m(Some("http://a"), vec![]).trackers(),
            s(vec![vec!["http://a"]])
        );
        assert_eq!(m(None, vec![]).trackers(), s(vec![]));
        assert_eq!(m(Some(" "), vec![]).trackers(), s(vec![]));
        assert_eq!(
            m(
                Some("http://a"),
                vec![
                    vec!["udp://b", "", "udp://c"],
                    vec![],
                    vec!["udp://b", "http://d"],
                    vec![""]
                ]
            )
            .trackers(),
            s(vec![vec!["udp://b", "udp://c"], vec!["http://d"]])
        );
        // An announce-list with nothing usable falls back to announce.
        assert_eq!(
            m(Some("http://a"), vec![vec![""], vec![]]).trackers(),
            s(vec![vec!["http://a"]])
        );
    }

    #[test]
    fn top_level_fields() {
        let root = dict(vec![
            ("announce", bytes("http://t/a")),
            (
                "announce-list",
                Value::List(vec![
                    Value::List(vec![bytes("udp://x"), Value::Int(3)]),
                    Value::Int(7),
                ]),
            ),
            ("comment", bytes("hi")),
            ("creation date", Value::Int(1_700_000_000)),
            ("created by", Value::Int(5)),
            ("info", single(1, 16384, 1)),
        ]);
        let m = Metainfo::from_bytes(&bencode::encode(&root)).unwrap();
        assert_eq!(m.announce_list, vec![vec!["udp://x".to_owned()]]);
        assert_eq!(m.trackers(), vec![vec!["udp://x".to_owned()]]);
        assert_eq!(m.comment.as_deref(), Some("hi"));
        assert_eq!(m.creation_date, Some(1_700_000_000));
        assert_eq!(m.created_by, None);
        assert_eq!(
            m.info_hash,
            info_hash_of(&bencode::encode(&single(1, 16384, 1)))
        );
    }

    #[test]
    fn structural_rejections() {
        assert_eq!(
            Metainfo::from_bytes(b"le"),
            Err(MetainfoError::NotADict { what: "torrent" })
        );
        assert!(matches!(
            Metainfo::from_bytes(b"d8:announce1:ae"),
            Err(MetainfoError::MissingField { field: "info", .. })
        ));
        assert_eq!(
            Metainfo::from_bytes(b"d4:infoi1ee"),
            Err(MetainfoError::NotADict { what: "info" })
        );
        assert!(matches!(
            Metainfo::from_bytes(b""),
            Err(MetainfoError::Bencode(_))
        ));
        assert!(matches!(
            Info::from_bytes(b"d4:name1:ae"),
            Err(MetainfoError::MissingField { .. })
        ));
    }

    /// Every file under tests/fixtures/malformed must be rejected, and nothing may panic.
    #[test]
    fn malformed_corpus_is_rejected() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/malformed");
        let mut n = 0;
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        // For the files written with this test, also pin the reason, so a fixture cannot pass
        // by failing for an unrelated reason. Files added later only need to be rejected.
        let reasons: &[(&str, &str)] = &[
            ("absolute_path", "contains a path separator"),
            ("backslash_component", "contains a path separator"),
            ("both_length_and_files", "both `length` and `files`"),
            ("deep_nesting", "nesting deeper than 64"),
            ("deep_nesting_inside_info", "nesting deeper than 64"),
            ("dot_component", "relative directory"),
            ("dotdot_name", "relative directory"),
            ("dotdot_path", "relative directory"),
            ("duplicate_keys", "duplicate dict key"),
            ("duplicate_paths", "duplicate path"),
            ("empty_component", "(empty)"),
            ("empty_file", "unexpected end of input"),
            ("empty_files_list", "empty list"),
            ("empty_name", "(empty)"),
            ("empty_path_list", "path list is empty"),
            ("file_and_dir_conflict", "both a file and a directory"),
            ("garbage", "syntax error"),
            ("huge_length", "total length exceeds"),
            ("info_not_dict", "info is not a dictionary"),
            ("leading_zero", "syntax error"),
            ("length_i64_overflow", "does not fit in i64"),
            ("missing_info", "missing `info`"),
            ("missing_length_and_files", "neither `length` nor `files`"),
            ("missing_name", "missing `name`"),
            ("missing_piece_length", "missing `piece length`"),
            ("missing_pieces", "missing `pieces`"),
            ("negative_file_length", "negative length -10"),
            ("negative_length", "negative length -1"),
            ("negative_zero", "syntax error"),
            ("non_string_key", "not a byte string"),
            ("non_utf8_name", "not valid UTF-8"),
            ("not_a_dict", "torrent is not a dictionary"),
            ("nul_in_name", "contains NUL"),
            ("nul_in_path", "contains NUL"),
            ("piece_length_negative", "piece length -16384"),
            ("piece_length_not_block_multiple", "piece length 20000"),
            ("piece_length_too_big", "piece length 268435456"),
            ("piece_length_zero", "piece length 0"),
            ("pieces_count_too_few", "pieces has 1 hashes"),
            ("pieces_count_too_many", "pieces has 3 hashes"),
            ("pieces_not_multiple_of_20", "pieces has 37 bytes"),
            ("private_not_int", "`private` must be an integer"),
            ("slash_component", "contains a path separator"),
            ("string_length_overflow", "syntax error"),
            ("string_length_past_end", "unexpected end of input"),
            ("trailing_garbage", "trailing data"),
            ("truncated", "unexpected end of input"),
            ("truncated_pieces", "unexpected end of input"),
            ("unsorted_keys", "not sorted"),
            ("zero_total_length", "total length of 0"),
            ("zero_pieces", "pieces has 0 hashes"),
            ("dotdot_last_component", "relative directory"),
        ];
        for path in entries {
            let buf = std::fs::read(&path).unwrap();
            let r = Metainfo::from_bytes(&buf);
            let Err(e) = r else {
                panic!("{} was accepted: {r:?}", path.display());
            };
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            if let Some((_, want)) = reasons.iter().find(|(name, _)| *name == stem) {
                let msg = e.to_string();
                assert!(msg.contains(want), "{stem}: {msg:?} lacks {want:?}");
            }
            n += 1;
        }
        assert!(n >= 14, "only {n} malformed fixtures");
    }

    /// Truncations and single-byte mutations of a real torrent never panic, and whatever still
    /// parses keeps the invariants.
    #[test]
    fn mutations_of_real_torrent_never_panic() {
        let buf = fixture("congratulations.gif.torrent");
        for cut in 0..buf.len() {
            assert!(Metainfo::from_bytes(&buf[..cut]).is_err());
        }
        for i in 0..buf.len() {
            for b in [0u8, b'0', b'9', b'e', b'd', b'l', b'i', b':', b'-', 0xff] {
                let mut m = buf.clone();
                m[i] = b;
                if let Ok(t) = Metainfo::from_bytes(&m) {
                    check_invariants(&t.info);
                }
            }
        }
    }

    fn check_invariants(i: &Info) {
        assert!(i.total_length > 0 && i.total_length <= MAX_TOTAL_LENGTH);
        assert_eq!(
            i.piece_hashes.len() as u64,
            i.total_length.div_ceil(u64::from(i.piece_length))
        );
        let mut off = 0;
        for f in &i.files {
            assert_eq!(f.offset, off);
            off += f.length;
            assert!(!f.path.is_empty());
            for c in &f.path {
                assert!(check_component(c, "").is_ok());
            }
        }
        assert_eq!(off, i.total_length);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = Metainfo::from_bytes(&bytes);
                let _ = Info::from_bytes(&bytes);
            }

            #[test]
            fn random_file_lists_keep_invariants(
                lens in proptest::collection::vec(0i64..100_000, 1..8),
                names in proptest::collection::vec("[a-c.]{0,3}", 1..8),
                pl_blocks in 1i64..4,
            ) {
                let files: Vec<Value> = lens
                    .iter()
                    .zip(names.iter().cycle())
                    .map(|(l, n)| file(*l, &[n.as_str()]))
                    .collect();
                let total: i64 = lens.iter().sum();
                let pl = pl_blocks * 16384;
                let n = (total as u64).div_ceil(pl as u64) as usize;
                if let Ok(i) = parse_info(multi(files, pl, n)) {
                    check_invariants(&i);
                }
            }
        }
    }
}
