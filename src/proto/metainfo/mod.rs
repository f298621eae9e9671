//! `.torrent` metainfo (BEP 3 "Metainfo files", BEP 12 multitracker `announce-list`, BEP 47
//! file attributes), parsed and validated into [`Metainfo`] / [`Info`]. Magnet downloads
//! (BEP 9) obtain only the raw info dictionary and go through [`Info::from_bytes`].
//!
//! # Accept what libtorrent accepts
//!
//! Real torrents are messier than the BEPs. A torrent is accepted exactly when libtorrent 2.0
//! accepts it, with the same info hash and, after sanitising and renaming, the same file list
//! (`tests/lt_differential.rs` checks this against libtorrent itself on thousands of generated
//! and mutated torrents):
//!
//! - bencode as lenient as libtorrent's (see [`bencode`]): unsorted and repeated keys (the first
//!   wins), leading zeros, bytes after the root dictionary; the info hash is the SHA-1 of the
//!   `info` value's raw bytes;
//! - any piece length from 1 to [`MAX_ANY_PIECE_LENGTH`] (BitTorrent v2: a power of two from
//!   16 KiB); `files` wins over `length` when both are present;
//! - every path element is sanitised ([`sanitize_component`]), never refused for being unsafe:
//!   `/`, `\` and NUL are removed, `.` and `..` dropped, empty elements become `_`, invalid
//!   UTF-8 and control characters become `_`; an unsafe multi-file name becomes the info hash;
//! - duplicate paths (ignoring ASCII case) and a file where a folder must be are renamed
//!   `bar.1.txt`, `bar.2.txt` (`paths::rename_duplicates` follows libtorrent's rule);
//! - BEP 47 `attr`: `p` pad files (also BitComet's `_____padding_file_` names), `x`, `h`, and
//!   `l` symlinks with their sanitised target;
//! - a BitTorrent v2-only torrent is refused with a message that says so; a hybrid loads
//!   through its v1 part.
//!
//! One deliberate difference: libtorrent can name a file `.` or `..` (a last element that is
//! dropped after one ending in dots, e.g. `["a.", "."]`); here such a file keeps its sanitised
//! name (`a.`), because `.` and `..` would address a folder, not a file.
//!
//! # Invariants of a parsed [`Info`]
//!
//! - `1 <= piece_length <= MAX_ANY_PIECE_LENGTH`.
//! - `total_length` is in `1 ..= MAX_TOTAL_LENGTH`, equals the sum of `files[i].length`, and
//!   `piece_hashes.len() == ceil(total_length / piece_length) <= MAX_PIECES`, so every piece
//!   index below [`Info::piece_count`] maps to a non-empty byte range.
//! - `files[i].offset` is the running sum of the lengths before it (files are laid end to end).
//! - Every path component (and `name`) is valid UTF-8 and passes [`unsafe_component_reason`]:
//!   non-empty, not `.` or `..`, no `/`, `\` or NUL. Joining `name` and a file's components
//!   under an output folder can therefore never leave it. No two files share a path (ignoring
//!   ASCII case) and no file is also a folder of another, except pad files of equal length.
//! - `private` (BEP 27) is true for any non-zero integer: erring towards "private" only
//!   disables DHT/PEX, erring the other way leaks a private swarm.
//!
//! # Tolerance of descriptive fields
//!
//! Descriptive fields (`comment`, `created by`, `creation date`, `announce`, `announce-list`
//! entries) are lenient: a wrong type or invalid UTF-8 is treated as absent, because real
//! torrents get these wrong and they cannot hurt anyone.

use std::collections::HashSet;
use std::ops::Range;

use sha1::{Digest, Sha1};

use crate::proto::bencode::{self, BencodeError, Value};
use crate::proto::id::InfoHash;

mod paths;
mod tree;

use paths::{PendingFile, rename_duplicates, sanitize_symlinks};
pub use paths::{sanitize_component, unsafe_component_reason};

/// Smallest piece length [`crate::engine::create`] makes, and the unit of the piece lengths it
/// chooses (one block). BitTorrent v2 piece lengths are powers of two from here.
pub const MIN_PIECE_LENGTH: u32 = 16 * 1024;
/// Largest piece length [`crate::engine::create`] makes.
pub const MAX_PIECE_LENGTH: u32 = 128 * 1024 * 1024;
/// Largest piece length a torrent may declare (libtorrent's limit; any positive length up to
/// here is valid in BitTorrent v1, even one that is not a multiple of a block).
pub const MAX_ANY_PIECE_LENGTH: u32 = (1 << 30) - 1;
/// Largest total size (libtorrent's limit, just under 256 TiB).
pub const MAX_TOTAL_LENGTH: u64 = (1 << 48) - 1;
/// Largest single file (libtorrent's limit).
pub const MAX_FILE_LENGTH: u64 = 17_592_186_028_031;
/// Most pieces in one torrent (libtorrent's limit).
pub const MAX_PIECES: u64 = 2_097_152;
/// Most files accepted in one torrent.
pub const MAX_FILES: usize = 1_000_000;
/// Largest `.torrent` file read from disk (libtorrent's limit; 2 million pieces need 40 MB of
/// hashes, far beyond any real torrent).
pub const MAX_TORRENT_FILE: u64 = 10_000_000;

/// Why a torrent (or a raw info dictionary) was rejected. Each message names one cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetainfoError {
    #[error("invalid bencode: {0}")]
    Bencode(BencodeError),
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
    #[error(
        "piece length {0} is not between 1 and 1073741823 (a power of two from 16384 in BitTorrent v2)"
    )]
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
    #[error("{count} pieces exceeds the limit of {max}")]
    TooManyPieces { count: u64, max: u64 },
    #[error("`files` is an empty list")]
    EmptyFileList,
    #[error("{count} files exceeds the limit of {max}")]
    TooManyFiles { count: usize, max: usize },
    #[error("{what} has negative length {length}")]
    NegativeLength { what: String, length: i64 },
    #[error("length exceeds {max} bytes (at {what})")]
    TotalTooLarge { what: String, max: u64 },
    #[error("torrent has a total length of 0 bytes")]
    EmptyTorrent,
    #[error("{what}: no path")]
    EmptyPath { what: String },
    #[error("{what}: missing `length`")]
    MissingLength { what: String },
    #[error("the name {0:?} is not a usable file name")]
    UnusableName(String),
    #[error("a file name of {0} bytes is too long")]
    NameTooLong(usize),
    #[error("BitTorrent v2-only torrent (no v1 `pieces`/`files`): v2 is not supported yet")]
    V2Only,
    #[error(
        "BitTorrent v2 info dictionary is not in canonical bencode (unsorted or repeated keys, or leading zeros)"
    )]
    NonCanonicalV2,
    #[error("unknown `meta version` {0}")]
    UnknownMetaVersion(i32),
    #[error("BitTorrent v2 torrent without a `file tree`")]
    V2WithoutFileTree,
    #[error("`file tree` (a BitTorrent v2 key) without `meta version` 2")]
    V2KeysWithoutMetaVersion,
    #[error("invalid BitTorrent v2 `file tree`: {0}")]
    BadFileTree(String),
    #[error("{0}: missing or invalid `pieces root`")]
    MissingPiecesRoot(String),
    #[error("hybrid torrent whose v1 and v2 file lists differ: {0}")]
    InconsistentHybrid(String),
}

impl From<BencodeError> for MetainfoError {
    fn from(e: BencodeError) -> Self {
        MetainfoError::Bencode(e)
    }
}

/// BEP 47 file attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttr {
    /// `p`: padding that aligns the next file to a piece; all zeros, never written to disk.
    pub pad: bool,
    /// `x`: set the executable bit.
    pub executable: bool,
    /// `h`: a hidden file.
    pub hidden: bool,
    /// `l`: a symbolic link (length 0) to this sanitised path relative to the torrent's root.
    pub symlink: Option<Vec<String>>,
}

/// One file of the torrent, laid end to end with the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised path components relative to the torrent root (single-file: `[name]`).
    pub path: Vec<String>,
    pub length: u64,
    /// Byte offset of this file in the concatenated torrent data.
    pub offset: u64,
    pub attr: FileAttr,
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
    /// The bytes of a .torrent file for this torrent: its trackers and its info dictionary
    /// exactly as received (so the info hash stays the same).
    pub fn to_torrent_file(&self) -> Vec<u8> {
        use crate::proto::bencode::{Value, encode};
        let mut out = b"d".to_vec();
        if let Some(a) = &self.announce {
            out.extend_from_slice(b"8:announce");
            out.extend_from_slice(&encode(&Value::Bytes(a.as_bytes().to_vec())));
        }
        if !self.announce_list.is_empty() {
            out.extend_from_slice(b"13:announce-list");
            let tiers = self
                .announce_list
                .iter()
                .map(|t| {
                    Value::List(
                        t.iter()
                            .map(|u| Value::Bytes(u.as_bytes().to_vec()))
                            .collect(),
                    )
                })
                .collect();
            out.extend_from_slice(&encode(&Value::List(tiers)));
        }
        out.extend_from_slice(b"4:info");
        out.extend_from_slice(&self.raw_info);
        out.push(b'e');
        out
    }

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
        let info = Info::from_value(info_value, &raw_info)?;

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
        Info::from_value(&bencode::decode(raw)?, raw)
    }

    /// Validate an already decoded info dictionary; `raw` is its bytes as they came (for the
    /// v2 canonical-form rule and the fallback name).
    pub fn from_value(v: &Value, raw: &[u8]) -> Result<Info, MetainfoError> {
        if v.as_dict().is_none() {
            return Err(MetainfoError::NotADict { what: "info" });
        }
        // libtorrent reads `meta version` as a 32-bit int; anything else means v1
        let version = v
            .get(b"meta version")
            .and_then(Value::as_int)
            .map_or(-1, |n| n as i32);
        if version > 0 && bencode::has_non_canonical_form(raw) {
            return Err(MetainfoError::NonCanonicalV2);
        }
        if version > 2 {
            return Err(MetainfoError::UnknownMetaVersion(version));
        }
        let pl = v.get(b"piece length").and_then(Value::as_int).unwrap_or(-1);
        let piece_length = u32::try_from(pl)
            .ok()
            .filter(|n| (1..=MAX_ANY_PIECE_LENGTH).contains(n))
            .filter(|n| version < 2 || (n.is_power_of_two() && *n >= MIN_PIECE_LENGTH))
            .ok_or(MetainfoError::InvalidPieceLength(pl))?;

        let name_raw = v
            .get(b"name.utf-8")
            .and_then(Value::as_bytes)
            .or_else(|| v.get(b"name").and_then(Value::as_bytes))
            .ok_or(MetainfoError::MissingField {
                field: "name",
                within: "info",
            })?;
        let has_tree = v.get(b"file tree").and_then(Value::as_dict).is_some();
        if version >= 2 && !has_tree {
            return Err(MetainfoError::V2WithoutFileTree);
        }
        if version < 2 && has_tree {
            return Err(MetainfoError::V2KeysWithoutMetaVersion);
        }
        let files_list = v.get(b"files").and_then(Value::as_list);
        let (name, mut files, is_multi_file) = match files_list {
            Some(list) => {
                // multi-file; an empty or unsafe name becomes the info hash, as in libtorrent
                let name =
                    sanitize_component(name_raw).unwrap_or_else(|| info_hash_of(raw).to_string());
                let files = parse_files(list, &name)?;
                (name, files, true)
            }
            None if version < 2 || v.get(b"length").is_some() => {
                let name = Some(name_raw)
                    .filter(|n| !n.is_empty())
                    .and_then(sanitize_component)
                    .ok_or_else(|| {
                        MetainfoError::UnusableName(String::from_utf8_lossy(name_raw).into_owned())
                    })?;
                check_leaf(&name)?;
                let (length, attr) = length_and_attributes(v, "single file")?;
                let entry = FileEntry {
                    path: vec![name.clone()],
                    length,
                    offset: 0,
                    attr,
                };
                (
                    name,
                    vec![PendingFile {
                        entry,
                        pathless_pad: false,
                    }],
                    false,
                )
            }
            // BEP 52 without a v1 part: not downloadable until v2 support lands
            None => return Err(MetainfoError::V2Only),
        };
        let mut ghost_dirs = Vec::new();
        if let Some(file_tree) = v.get(b"file tree").filter(|_| version >= 2) {
            // a hybrid: the v2 files must be the v1 files, and are the torrent's file list
            let mut v2 = tree::files_of_tree(file_tree, files_list.is_some(), piece_length)?;
            let v1: Vec<FileEntry> = files.into_iter().map(|p| p.entry).collect();
            if tree::check_hybrid(&mut v2, &v1)?.removed_tail_pad {
                ghost_dirs.push(".pad");
            }
            files = v2;
        }
        let files = rename_duplicates(files, &name, &ghost_dirs);

        let total_length = files.last().map_or(0, |f| f.offset + f.length);
        let expected = total_length.div_ceil(u64::from(piece_length));
        if expected > MAX_PIECES {
            return Err(MetainfoError::TooManyPieces {
                count: expected,
                max: MAX_PIECES,
            });
        }
        if version >= 2 && v.get(b"pieces").and_then(Value::as_bytes).is_none() {
            // a hybrid whose v1 half has no piece hashes: only v2 can download it
            return Err(MetainfoError::V2Only);
        }
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
        let actual = pieces.len() / 20;
        if actual as u64 != expected {
            return Err(MetainfoError::PieceCountMismatch {
                actual,
                expected,
                total_length,
                piece_length,
            });
        }
        let private = v
            .get(b"private")
            .and_then(Value::as_int)
            .is_some_and(|i| i != 0);
        if total_length == 0 {
            return Err(MetainfoError::EmptyTorrent);
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

/// A file or torrent length: a non-negative integer below libtorrent's per-file limit.
fn length_of(v: &Value, what: &str) -> Result<u64, MetainfoError> {
    let n = v
        .get(b"length")
        .ok_or_else(|| MetainfoError::MissingLength {
            what: what.to_owned(),
        })?
        .as_int()
        .ok_or_else(|| wrong(&format!("{what} length"), "an integer"))?;
    let n = u64::try_from(n).map_err(|_| MetainfoError::NegativeLength {
        what: what.to_owned(),
        length: n,
    })?;
    if n > MAX_FILE_LENGTH {
        return Err(MetainfoError::TotalTooLarge {
            what: what.to_owned(),
            max: MAX_FILE_LENGTH,
        });
    }
    Ok(n)
}

/// A file's length and its BEP 47 `attr` (a string of flags; unknown letters and other types
/// are ignored). A symlink (`l`) has length 0 whatever `length` says, and its sanitised
/// `symlink path` as target.
fn length_and_attributes(entry: &Value, what: &str) -> Result<(u64, FileAttr), MetainfoError> {
    let flags = entry
        .get(b"attr")
        .and_then(Value::as_bytes)
        .unwrap_or_default();
    let link = flags.contains(&b'l');
    let length = if link { 0 } else { length_of(entry, what)? };
    let attr = FileAttr {
        pad: flags.contains(&b'p'),
        executable: flags.contains(&b'x'),
        hidden: flags.contains(&b'h'),
        symlink: if link {
            symlink_target(entry, what)?
        } else {
            None
        },
    };
    Ok((length, attr))
}

/// Longest file name accepted after sanitising (libtorrent refuses from 4096 bytes on; only
/// names made of replaced bytes, which are never shortened, get that long).
const MAX_LEAF_BYTES: usize = 4095;

fn check_leaf(leaf: &str) -> Result<(), MetainfoError> {
    if leaf.len() > MAX_LEAF_BYTES {
        return Err(MetainfoError::NameTooLong(leaf.len()));
    }
    Ok(())
}

/// The v1 `files` list, sanitised (symlinks too), before duplicate names are renamed.
fn parse_files(list: &[Value], name: &str) -> Result<Vec<PendingFile>, MetainfoError> {
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
        let (length, mut attr) = length_and_attributes(entry, &what)?;
        let (path, pathless_pad) = match file_path(entry, &what)? {
            Some(path) => (path, false),
            None if attr.pad => (vec![".pad".to_owned(), length.to_string()], true),
            None => return Err(MetainfoError::EmptyPath { what }),
        };
        check_leaf(path.last().map_or("", String::as_str))?;
        // BitComet's padding files carry no flag, only this name
        if name.contains(PADDING_MARK) || path.iter().any(|c| c.contains(PADDING_MARK)) {
            attr.pad = true;
        }
        let end = offset
            .checked_add(length)
            .filter(|&e| e <= MAX_TOTAL_LENGTH)
            .ok_or(MetainfoError::TotalTooLarge {
                what: what.clone(),
                max: MAX_TOTAL_LENGTH,
            })?;
        files.push(PendingFile {
            entry: FileEntry {
                path,
                length,
                offset,
                attr,
            },
            pathless_pad,
        });
        offset = end;
    }
    sanitize_symlinks(&mut files);
    Ok(files)
}

/// What marks a BitComet padding file.
const PADDING_MARK: &str = "_____padding_file_";

/// The sanitised `path.utf-8` (when it is a list) or `path`; `None` when there is none (a list
/// of no elements, missing, or not a list). Every element must be a string; elements that
/// sanitise to nothing are dropped, and a path left empty becomes `_`.
fn file_path(entry: &Value, what: &str) -> Result<Option<Vec<String>>, MetainfoError> {
    let list = entry
        .get(b"path.utf-8")
        .and_then(Value::as_list)
        .or_else(|| entry.get(b"path").and_then(Value::as_list));
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let mut path = sanitized_elements(list, what)?;
    if path.is_empty() {
        path.push("_".into());
    }
    Ok(Some(path))
}

fn sanitized_elements(list: &[Value], what: &str) -> Result<Vec<String>, MetainfoError> {
    let mut out = Vec::with_capacity(list.len());
    for c in list {
        let raw = c
            .as_bytes()
            .ok_or_else(|| wrong(&format!("{what} path component"), "a byte string"))?;
        out.extend(sanitize_component(raw));
    }
    Ok(out)
}

/// A symlink's target (relative to the torrent's root), or `None` when the entry has no usable
/// `symlink path` and is therefore an empty regular file (libtorrent's reading).
fn symlink_target(entry: &Value, what: &str) -> Result<Option<Vec<String>>, MetainfoError> {
    let Some(list) = entry.get(b"symlink path").and_then(Value::as_list) else {
        return Ok(None);
    };
    let target = sanitized_elements(list, what)?;
    Ok(Some(target).filter(|t| !t.is_empty()))
}

/// A hand-made `Info` for other modules' unit tests: files of the given lengths in
/// `piece_length` pieces (a path whose first component is `.pad` or `pad` is a BEP 47 pad
/// file), no real hashes.
#[cfg(test)]
pub fn test_info(files: &[(&str, u64)], piece_length: u32) -> Info {
    let mut offset = 0;
    let entries: Vec<FileEntry> = files
        .iter()
        .map(|(name, length)| {
            let first = name.split('/').next().unwrap_or("");
            let e = FileEntry {
                path: name.split('/').map(String::from).collect(),
                length: *length,
                offset,
                attr: FileAttr {
                    pad: first == ".pad" || first == "pad",
                    ..Default::default()
                },
            };
            offset += length;
            e
        })
        .collect();
    Info {
        name: "t".into(),
        piece_length,
        piece_hashes: vec![[0; 20]; offset.div_ceil(u64::from(piece_length)) as usize],
        files: entries,
        total_length: offset,
        private: false,
        is_multi_file: true,
    }
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
                    offset: 0,
                    ..FileEntry::default()
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
        // Without the utf-8 variants, each invalid UTF-8 sequence becomes `_` (libtorrent).
        let mut raw = bencode::encode(&multi(vec![file(1, &["ok"])], 16384, 1));
        corrupt(&mut raw, b"4:root");
        assert_eq!(Info::from_bytes(&raw).unwrap().name, "____");
        let mut raw = bencode::encode(&multi(vec![file(1, &["ok"])], 16384, 1));
        corrupt(&mut raw, b"2:ok");
        assert_eq!(Info::from_bytes(&raw).unwrap().files[0].path, vec!["__"]);
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
        assert!(parse_info(with(Value::Int(-1))).unwrap().private);
        assert!(!parse_info(with(Value::Int(0))).unwrap().private);
        // libtorrent reads only an integer; anything else is "not private"
        assert!(!parse_info(with(bytes("1"))).unwrap().private);
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
        for bad in [0, -16384, 1 << 30, i64::MAX] {
            assert_eq!(
                parse_info(single(1, bad, 1)),
                Err(MetainfoError::InvalidPieceLength(bad)),
                "{bad}"
            );
        }
        // BitTorrent v1 allows any positive piece length (libtorrent loads them)
        for good in [
            1,
            1000,
            16383,
            16385,
            16384,
            4 << 20,
            128 << 20,
            (1 << 30) - 1,
        ] {
            assert!(parse_info(single(1, good, 1)).is_ok(), "{good}");
        }
        assert_eq!(
            parse_info(single(1000, 1, 1000)).unwrap().piece_count(),
            1000
        );
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
        // libtorrent checks the hash count first
        assert!(matches!(
            parse_info(single(0, 16384, 1)),
            Err(MetainfoError::PieceCountMismatch { .. })
        ));
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
            parse_info(single(MAX_FILE_LENGTH as i64 + 1, 16384, 1)),
            Err(MetainfoError::TotalTooLarge { .. })
        ));
        // Two files each under the limit, together over it.
        let info = multi(
            (0..16)
                .map(|i| file(MAX_FILE_LENGTH as i64, &[&i.to_string()]))
                .chain([file(1 << 20, &["b"])])
                .collect(),
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
        // `files` wins over `length`
        let mut both = single(1, 16384, 1);
        if let Value::Dict(d) = &mut both {
            d.insert(b"files".to_vec(), Value::List(vec![file(1, &["a"])]));
        }
        let i = parse_info(both).unwrap();
        assert!(i.is_multi_file);
        assert_eq!(i.files[0].path, vec!["a"]);
        // no `length` and no `files`: `length` is missing
        let mut neither = single(1, 16384, 1);
        if let Value::Dict(d) = &mut neither {
            d.remove(b"length".as_slice());
        }
        assert!(matches!(
            parse_info(neither),
            Err(MetainfoError::MissingLength { .. })
        ));
    }

    fn paths_of(files: Vec<Value>) -> Vec<String> {
        let n = 1;
        parse_info(multi(files, 16384, n))
            .unwrap()
            .files
            .iter()
            .map(|f| f.path.join("/"))
            .collect()
    }

    /// Each case and its result were measured with libtorrent 2.0.8 (`torrent_info.files()`).
    #[test]
    fn path_sanitising_like_libtorrent() {
        let cases: &[(&[&str], &str)] = &[
            (&[".."], "_"),
            (&["."], "_"),
            (&[""], "_"),
            (&["a", "..", "b"], "a/b"),
            (&["..", "..", "etc", "passwd"], "etc/passwd"),
            (&["foo/../../bar"], "foo....bar"),
            (&["/etc/passwd"], "etcpasswd"),
            (&["a", "", "b"], "a/_/b"),
            (&["", ""], "_/_"),
            (&["x", "/"], "x"),
            (&["a\\b"], "ab"),
            (&["a\0b"], "ab"),
            (&["\x01"], "_"),
            (&["a\tb\nc"], "a_b_c"),
            (&["..\\..\\x"], "....x"),
            (&["..."], "..."),
            (&[".a", "a.", "..a", "a.."], ".a/a./..a/a.."),
            (&["a\u{202e}gpj.exe"], "agpj.exe"),
            (&["é.txt"], "é.txt"),
            // libtorrent names this file `.`; here it keeps its sanitised name (module doc)
            (&["a.", "."], "a."),
        ];
        for (raw, want) in cases {
            assert_eq!(
                paths_of(vec![file(1, raw)]),
                vec![want.to_string()],
                "{raw:?}"
            );
        }
        let raw_path = |elems: Vec<Vec<u8>>| {
            dict(vec![
                ("length", Value::Int(1)),
                (
                    "path",
                    Value::List(elems.into_iter().map(Value::Bytes).collect()),
                ),
            ])
        };
        for (raw, want) in [
            (&b"caf\xe9"[..], "caf_"),
            (b"\xc0\xaf", "_"),
            (b"\xed\xa0\x80", "_"),
            (b"x\xc3Ay", "x_y"),
            (b"x\xf8\x88\x80\x80\x80y", "x_y"),
            (b"\xff\xfe", "__"),
        ] {
            assert_eq!(
                paths_of(vec![raw_path(vec![raw.to_vec()])]),
                vec![want.to_string()],
                "{raw:?}"
            );
        }
        // long elements: cut at 240 bytes, a short extension kept
        let long = |s: String| paths_of(vec![file(1, &[s.as_str()])])[0].clone();
        assert_eq!(long("a".repeat(300)), "a".repeat(240));
        assert_eq!(long("a".repeat(300) + ".txt"), "a".repeat(240) + ".txt");
        assert_eq!(long("a".repeat(300) + ".tar.gz"), "a".repeat(240) + ".gz");
        assert_eq!(long("a".repeat(300) + ".123456789"), "a".repeat(240));
        assert_eq!(long("a".repeat(237) + ".txt"), "a".repeat(237) + ".tx");
        assert_eq!(long("é".repeat(130)), "é".repeat(120));
        // replaced bytes are never cut; 4096 of them make a name too long
        assert_eq!(
            paths_of(vec![raw_path(vec![vec![0xff; 300]])]),
            vec!["_".repeat(300)]
        );
        assert!(parse_info(multi(vec![raw_path(vec![vec![0xff; 4095]])], 16384, 1)).is_ok());
        assert_eq!(
            parse_info(multi(vec![raw_path(vec![vec![0xff; 4096]])], 16384, 1)),
            Err(MetainfoError::NameTooLong(4096))
        );
        // names: multi-file unsafe names become the info hash, "" becomes "_"
        let named = |name: &str, multi_file: bool| {
            let mut info = if multi_file {
                multi(vec![file(1, &["f"])], 16384, 1)
            } else {
                single(1, 16384, 1)
            };
            if let Value::Dict(d) = &mut info {
                d.insert(b"name".to_vec(), bytes(name));
            }
            let raw = bencode::encode(&info);
            (
                Info::from_bytes(&raw).map(|i| i.name),
                info_hash_of(&raw).to_string(),
            )
        };
        for name in ["..", ".", "/"] {
            let (got, hash) = named(name, true);
            assert_eq!(got, Ok(hash), "{name:?}");
            assert!(
                matches!(named(name, false).0, Err(MetainfoError::UnusableName(_))),
                "{name:?}"
            );
        }
        assert_eq!(named("", true).0, Ok("_".into()));
        assert!(named("", false).0.is_err());
        assert_eq!(named("a/b", false).0, Ok("ab".into()));
        assert_eq!(named("/etc/passwd", true).0, Ok("etcpasswd".into()));
        // Non-string components are refused.
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
        // No path at all (not a pad file) is refused.
        assert!(matches!(
            parse_info(multi(vec![file(1, &[])], 16384, 1)),
            Err(MetainfoError::EmptyPath { .. })
        ));
    }

    /// Renaming measured with libtorrent 2.0.8.
    #[test]
    fn duplicates_are_renamed_like_libtorrent() {
        let case = |paths: &[&[&str]]| paths_of(paths.iter().map(|p| file(1, p)).collect());
        assert_eq!(
            case(&[&["a", "bar.txt"], &["a", "bar.txt"], &["a", "bar.txt"]]),
            ["a/bar.txt", "a/bar.1.txt", "a/bar.2.txt"]
        );
        assert_eq!(case(&[&["bar"], &["bar"]]), ["bar", "bar.1"]);
        assert_eq!(
            case(&[&["a.txt"], &["a.txt"], &["a.1.txt"]]),
            ["a.txt", "a.1.txt", "a.1.1.txt"]
        );
        assert_eq!(
            case(&[&["a.1.txt"], &["a.txt"], &["a.txt"]]),
            ["a.1.txt", "a.txt", "a.2.txt"]
        );
        assert_eq!(case(&[&["A.TXT"], &["a.txt"]]), ["A.TXT", "a.1.txt"]);
        assert_eq!(case(&[&["Dir", "x"], &["dir", "x"]]), ["Dir/x", "dir/x.1"]);
        assert_eq!(
            case(&[&[".hidden"], &[".hidden"]]),
            [".hidden", ".1.hidden"]
        );
        assert_eq!(
            case(&[&["d.x", "file"], &["d.x", "file"]]),
            ["d.x/file", "d.x/file.1"]
        );
        assert_eq!(
            case(&[&["a.tar.gz"], &["a.tar.gz"]]),
            ["a.tar.gz", "a.tar.1.gz"]
        );
        assert_eq!(case(&[&["a/b"], &["ab"]]), ["ab", "ab.1"]);
        assert_eq!(case(&[&[".."], &["_"]]), ["_", "_.1"]);
        // a file where a folder must be is renamed, whatever the order
        assert_eq!(case(&[&["a"], &["a", "b"]]), ["a.1", "a/b"]);
        assert_eq!(case(&[&["a", "b"], &["a"]]), ["a/b", "a.1"]);
        assert_eq!(case(&[&["a.d"], &["a.d", "b"]]), ["a.1.d", "a.d/b"]);
        assert_eq!(
            case(&[&["a"], &["a"], &["a.1", "x"]]),
            ["a", "a.2", "a.1/x"]
        );
        // distinct paths stay as they are
        assert_eq!(case(&[&["a", "b"], &["ab"]]), ["a/b", "ab"]);
    }

    #[test]
    fn file_attributes() {
        let with_attr = |attr: &str, len: i64, path: &[&str]| {
            dict(vec![
                ("attr", bytes(attr)),
                ("length", Value::Int(len)),
                ("path", Value::List(path.iter().map(|c| bytes(c)).collect())),
            ])
        };
        let i = parse_info(multi(
            vec![
                with_attr("x", 10, &["run.sh"]),
                with_attr("p", 16374, &[".pad", "16374"]),
                with_attr("hzq", 5, &["h"]),
            ],
            16384,
            2,
        ))
        .unwrap();
        assert!(i.files[0].attr.executable && !i.files[0].attr.pad);
        assert!(i.files[1].attr.pad);
        assert!(i.files[2].attr.hidden && !i.files[2].attr.executable);
        // a pad file without a path is `.pad/<length>`; equal pads may share a path
        let i = parse_info(multi(
            vec![
                file(5, &["a"]),
                dict(vec![("attr", bytes("p")), ("length", Value::Int(3))]),
                with_attr("p", 3, &[".pad", "3"]),
            ],
            16384,
            1,
        ))
        .unwrap();
        assert_eq!(i.files[1].path, vec![".pad", "3"]);
        assert!(i.files[1].attr.pad);
        // BitComet's padding files are pads by name
        assert!(
            parse_info(multi(
                vec![file(5, &["a"]), file(3, &["_____padding_file_0_"])],
                16384,
                1
            ))
            .unwrap()
            .files[1]
                .attr
                .pad
        );
        // a symlink has no length and a sanitised target; without `symlink path` it is an
        // empty regular file
        let mut link = with_attr("l", 100, &["d", "lnk"]);
        if let Value::Dict(d) = &mut link {
            d.insert(
                b"symlink path".to_vec(),
                Value::List(vec![bytes(".."), bytes("d"), bytes("a")]),
            );
        }
        let i = parse_info(multi(
            vec![file(5, &["d", "a"]), link, with_attr("l", 7, &["plain"])],
            16384,
            1,
        ))
        .unwrap();
        assert_eq!(
            (i.files[1].length, i.files[1].attr.symlink.clone()),
            (0, Some(vec!["d".to_string(), "a".to_string()]))
        );
        assert_eq!(
            (i.files[2].length, i.files[2].attr.symlink.clone()),
            (0, None)
        );
        assert_eq!(i.total_length, 5);
    }

    fn list(path: &[&str]) -> Value {
        Value::List(path.iter().map(|c| bytes(c)).collect())
    }

    #[test]
    fn symlinks_point_inside_the_torrent_or_at_themselves() {
        let link = |path: &[&str], target: &[&str]| {
            dict(vec![
                ("attr", bytes("l")),
                ("length", Value::Int(0)),
                ("path", list(path)),
                ("symlink path", list(target)),
            ])
        };
        let info = parse_info(multi(
            vec![
                file(10, &["docs", "readme"]),
                link(&["docs", "latest"], &["docs", "readme"]),
                link(&["up"], &["docs"]),
                link(&["docs", "sibling"], &["readme"]),
                link(&["via"], &["up", "readme"]),
                link(&["gone"], &["..", "..", "etc", "passwd"]),
                link(&["l1"], &["l2", "x"]),
                link(&["l2"], &["l1"]),
            ],
            16,
            1,
        ))
        .unwrap();
        let targets: Vec<(String, String)> = info
            .files
            .iter()
            .filter_map(|f| Some((f.path.join("/"), f.attr.symlink.as_ref()?.join("/"))))
            .collect();
        let expected = [
            ("docs/latest", "docs/readme"),  // a file of the torrent
            ("up", "docs"),                  // a folder of the torrent
            ("docs/sibling", "docs/readme"), // relative to its own folder, made relative to the root
            ("via", "up/readme"),            // through another link
            ("gone", "gone"),                // `..` dropped, `etc/passwd` is not in the torrent
            ("l1", "l1"),                    // a loop of links
            ("l2", "l1"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(targets, expected);
        assert!(
            info.files
                .iter()
                .filter(|f| f.attr.symlink.is_some())
                .all(|f| f.length == 0)
        );
    }

    /// A hybrid torrent: v1 `files` with pad files as libtorrent writes them, and the same
    /// files in the v2 `file tree`; `lengths` are the v2 lengths of `a` and `b`.
    fn hybrid(lengths: (i64, i64), tail_pad: bool, with_pieces: bool) -> Value {
        let pl = 32768i64;
        let pad = |n: i64| {
            dict(vec![
                ("attr", bytes("p")),
                ("length", Value::Int(n)),
                ("path", list(&[".pad", &n.to_string()])),
            ])
        };
        let mut files = vec![file(20000, &["a"]), pad(pl - 20000), file(100, &["d", "b"])];
        if tail_pad {
            files.push(pad(pl - 100));
        }
        let leaf = |n: i64| {
            dict(vec![(
                "",
                dict(vec![
                    ("length", Value::Int(n)),
                    ("pieces root", Value::Bytes(vec![9; 32])),
                ]),
            )])
        };
        let tree = dict(vec![
            ("a", leaf(lengths.0)),
            ("d", dict(vec![("b", leaf(lengths.1))])),
        ]);
        let mut info = vec![
            ("file tree", tree),
            ("files", Value::List(files)),
            ("meta version", Value::Int(2)),
            ("name", bytes("root")),
            ("piece length", Value::Int(pl)),
        ];
        if with_pieces {
            info.push(("pieces", pieces(2)));
        }
        dict(info)
    }

    #[test]
    fn hybrid_torrents_must_agree_with_themselves() {
        for tail_pad in [true, false] {
            let info = parse_info(hybrid((20000, 100), tail_pad, true)).unwrap();
            // the v2 list: each file padded to a piece, the tail padding as the v1 half has it
            let got: Vec<(String, u64, u64, bool)> = info
                .files
                .iter()
                .map(|f| (f.path.join("/"), f.offset, f.length, f.attr.pad))
                .collect();
            let mut want = vec![
                ("a".to_string(), 0, 20000, false),
                (".pad/12768".to_string(), 20000, 12768, true),
                ("d/b".to_string(), 32768, 100, false),
            ];
            if tail_pad {
                want.push((".pad/32668".to_string(), 32868, 32668, true));
            }
            assert_eq!(got, want);
        }
        let e = parse_info(hybrid((20000, 101), true, true)).unwrap_err();
        assert!(matches!(e, MetainfoError::InconsistentHybrid(_)), "{e}");
        assert!(
            e.to_string().contains("d/b (101 bytes at 32768) in v2"),
            "{e}"
        );
        // no v1 piece hashes: only v2 could fetch it
        assert_eq!(
            parse_info(hybrid((20000, 100), true, false)),
            Err(MetainfoError::V2Only)
        );
    }

    #[test]
    fn bittorrent_v2() {
        let mut v2 = single(1, 16384, 1);
        if let Value::Dict(d) = &mut v2 {
            d.remove(b"length".as_slice());
            d.insert(b"meta version".to_vec(), Value::Int(2));
            d.insert(b"file tree".to_vec(), dict(vec![]));
        }
        let e = parse_info(v2).unwrap_err();
        assert_eq!(e, MetainfoError::V2Only);
        assert!(e.to_string().contains("BitTorrent v2"));
        // a hybrid loads through its v1 part (when its v2 part agrees)
        let mut hybrid = single(1, 16384, 1);
        if let Value::Dict(d) = &mut hybrid {
            d.insert(b"meta version".to_vec(), Value::Int(2));
            let leaf = dict(vec![
                ("length", Value::Int(1)),
                ("pieces root", Value::Bytes(vec![1; 32])),
            ]);
            d.insert(
                b"file tree".to_vec(),
                dict(vec![("f", dict(vec![("", leaf)]))]),
            );
        }
        assert!(parse_info(hybrid.clone()).is_ok());
        let mut empty_tree = hybrid.clone();
        if let Value::Dict(d) = &mut empty_tree {
            d.insert(b"file tree".to_vec(), dict(vec![]));
        }
        assert!(matches!(
            parse_info(empty_tree),
            Err(MetainfoError::InconsistentHybrid(_))
        ));
        // ... but not with a non-canonical info dictionary, or a v2 piece length
        let mut raw = bencode::encode(&hybrid);
        let at = raw
            .windows(5)
            .position(|w| w == b"i16384e".get(..5).unwrap())
            .unwrap();
        raw.splice(at + 1..at + 1, *b"0");
        assert_eq!(Info::from_bytes(&raw), Err(MetainfoError::NonCanonicalV2));
        if let Value::Dict(d) = &mut hybrid {
            d.insert(b"piece length".to_vec(), Value::Int(20000));
        }
        assert!(matches!(
            parse_info(hybrid),
            Err(MetainfoError::InvalidPieceLength(20000))
        ));
        let mut tree_only = single(1, 16384, 1);
        if let Value::Dict(d) = &mut tree_only {
            d.insert(b"file tree".to_vec(), dict(vec![]));
        }
        assert_eq!(
            parse_info(tree_only),
            Err(MetainfoError::V2KeysWithoutMetaVersion)
        );
    }

    #[test]
    fn too_many_files() {
        // (bencode's token limit stops a real file long before this)
        let files = vec![file(0, &["x"]); MAX_FILES + 1];
        assert!(matches!(
            Info::from_value(&multi(files, 16384, 1), b""),
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
            Err(MetainfoError::InvalidPieceLength(-1))
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
            ("both_length_and_files", "pieces has 2 hashes"), // `files` wins, its length needs 1
            ("deep_nesting", "nesting deeper than 99"),
            ("dotdot_name", "not a usable file name"),
            ("empty_file", "unexpected end of input"),
            ("empty_files_list", "empty list"),
            ("empty_name", "not a usable file name"),
            ("empty_path_list", "no path"),
            ("garbage", "syntax error"),
            ("huge_length", "length exceeds"),
            ("info_not_dict", "info is not a dictionary"),
            ("length_i64_overflow", "need 0"), // an overflowing integer reads as 0
            ("missing_info", "missing `info`"),
            ("missing_length_and_files", "missing `length`"),
            ("missing_name", "missing `name`"),
            ("missing_piece_length", "piece length -1"),
            ("missing_pieces", "missing `pieces`"),
            ("negative_file_length", "negative length -10"),
            ("negative_length", "negative length -1"),
            ("non_string_key", "not a byte string"),
            ("not_a_dict", "torrent is not a dictionary"),
            ("piece_length_negative", "piece length -16384"),
            (
                "piece_length_not_block_multiple",
                "pieces has 2 hashes but 20000 bytes at piece length 20000 need 1",
            ),
            ("piece_length_zero", "piece length 0"),
            ("pieces_count_too_few", "pieces has 1 hashes"),
            ("pieces_count_too_many", "pieces has 3 hashes"),
            ("pieces_not_multiple_of_20", "pieces has 37 bytes"),
            ("string_length_overflow", "too many digits"),
            ("string_length_past_end", "unexpected end of input"),
            ("truncated", "unexpected end of input"),
            ("truncated_pieces", "unexpected end of input"),
            ("zero_total_length", "total length of 0"),
            ("zero_pieces", "pieces has 0 hashes"),
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
                assert_eq!(unsafe_component_reason(c), None, "{c:?}");
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
