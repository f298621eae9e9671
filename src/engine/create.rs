//! Torrent creation (`fast-peer create`): a v1 (BEP 3) `.torrent` of a file or a folder.
//!
//! # Role
//!
//! [`create_torrent`] walks the content, hashes every piece on all cores and returns the bencoded
//! metainfo together with its parsed, validated form. It is blocking work (file I/O and SHA-1):
//! call it from a plain thread or `spawn_blocking`, never on the engine's runtime.
//!
//! # Compatibility with libtorrent
//!
//! For the same content and settings the info hash equals the one libtorrent 2.0
//! (`create_torrent(fs, piece_length, v1_only)` after `add_files`) computes. Everything below was
//! established by experiment against Debian's libtorrent 2.0.8 and is pinned by `tests/create.rs`:
//!
//! - **File order.** libtorrent does *not* sort a v1-only torrent's files: `add_files` lists a
//!   folder's entries in the order the file system returns them (`readdir`), depth first,
//!   descending into a subfolder where it appears. [`FileOrder::Filesystem`] (the default) does
//!   the same through [`std::fs::read_dir`], so both agree on the same machine and folder. That
//!   order differs between file systems (ext4 hashes names, tmpfs lists newest first), so
//!   [`FileOrder::Sorted`] is offered for a torrent that is reproducible anywhere: paths sorted
//!   by their components' bytes. The info hash of the two differs whenever the orders do.
//! - **Executable files** get `attr = "x"` (BEP 47) in their file entry (or in `info` for a
//!   single-file torrent), as libtorrent adds it for any file with the owner's execute bit.
//!   No other attribute is written: no pad files, no `mtime`, no symlink entries.
//! - **Hidden files** (dot files) are included; empty folders leave no trace; zero-length files
//!   are listed (they take no piece space: the pieces cover the concatenation of all files).
//! - **Piece length**: when none is given, [`default_piece_length`] reproduces libtorrent's
//!   choice (the same size table), so defaults agree too.
//! - `announce` is the first tracker; `announce-list` is written only when there is more than one
//!   tracker URL (as libtorrent does). Neither is part of the info hash.
//! - `private = 1` (BEP 27) when asked for, omitted otherwise.
//!
//! # Symlinks and special files
//!
//! The path given by the user is followed if it is a symlink (they named it). Inside a folder a
//! symlink, FIFO, socket or device is refused with [`CreateError::Symlink`] /
//! [`CreateError::NotRegularFile`] naming it: following links could loop or pull in data from
//! outside the folder, and silently skipping would make a torrent that quietly lacks files.
//! (libtorrent follows them; a folder with links is where the hashes may differ.)
//!
//! # Hashing
//!
//! Pieces are split into runs of contiguous pieces (about [`RUN_BYTES`] each) that worker threads
//! (one per core, [`std::thread::available_parallelism`]) take in turn, so each worker reads
//! sequentially and a slow disk region does not leave other cores idle. A piece that spans files
//! is read with positioned reads (`pread`) from each file in turn through one buffer of at most
//! [`HASH_CHUNK`] bytes per worker, so memory stays bounded whatever the piece length. Progress
//! is reported on the calling thread, in order.
//!
//! # Invariants and checks
//!
//! - Names follow the metainfo rules (valid UTF-8, non-empty, not `.`/`..`, no `/`, `\` or NUL),
//!   checked before any hashing (a copy of `metainfo`'s private check, kept in step by the
//!   parse-back below); the finished bytes are parsed back with
//!   [`Metainfo::from_bytes`] as a last check, so the output always loads.
//! - Sizes are taken once, at the walk. A file that is shorter when read, or has another length
//!   after hashing, fails with [`CreateError::SizeChanged`]; content rewritten in place without a
//!   size change is not detected (libtorrent does not either).
//! - Unix only, like [`crate::engine::storage`]: positioned reads and the owner's execute bit.

use std::fs::{self, File};
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use sha1::{Digest, Sha1};

use crate::proto::bencode::{self, Value};
use crate::proto::metainfo::{
    MAX_FILES, MAX_PIECE_LENGTH, MAX_TOTAL_LENGTH, MIN_PIECE_LENGTH, Metainfo, MetainfoError,
};

/// Bytes a worker takes per run of contiguous pieces (rounded to whole pieces, at least one).
pub const RUN_BYTES: u64 = 16 << 20;
/// Largest read into a worker's buffer: a 128 MiB piece never needs a 128 MiB allocation.
pub const HASH_CHUNK: usize = 1 << 20;

/// In which order a folder's files are listed (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileOrder {
    /// The file system's own order, depth first: what libtorrent's `add_files` produces.
    #[default]
    Filesystem,
    /// Sorted by path components (raw UTF-8 bytes): the same torrent on every file system.
    Sorted,
}

/// What to make a torrent of, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOptions {
    /// A file (single-file torrent) or a folder (multi-file torrent, recursively).
    pub path: PathBuf,
    /// Tracker tiers (BEP 12); the first URL becomes `announce`. Blank URLs and empty tiers are
    /// dropped. May be empty (a trackerless torrent).
    pub trackers: Vec<Vec<String>>,
    /// Bytes per piece: a multiple of 16 KiB in `16 KiB ..= 128 MiB`. `None`:
    /// [`default_piece_length`] of the total size.
    pub piece_length: Option<u32>,
    /// Write `private = 1` (BEP 27): no DHT, PEX or LSD for this torrent.
    pub private: bool,
    pub comment: Option<String>,
    /// `created by`; `None` writes `fast-peer/<version>`.
    pub created_by: Option<String>,
    /// `creation date` (Unix seconds); `None` omits it, for byte-for-byte reproducible output.
    pub creation_date: Option<i64>,
    /// The torrent's `name`; `None` uses the last component of `path`.
    pub name: Option<String>,
    pub order: FileOrder,
    /// Hashing threads; `None` uses every core.
    pub threads: Option<NonZeroUsize>,
}

impl CreateOptions {
    /// Options for `path` with every default: no trackers, automatic piece length, public,
    /// file-system order, all cores, no creation date.
    pub fn new(path: impl Into<PathBuf>) -> CreateOptions {
        CreateOptions {
            path: path.into(),
            trackers: Vec::new(),
            piece_length: None,
            private: false,
            comment: None,
            created_by: None,
            creation_date: None,
            name: None,
            order: FileOrder::default(),
            threads: None,
        }
    }
}

/// A finished torrent: the file's bytes and what they parse to.
#[derive(Debug, Clone)]
pub struct CreatedTorrent {
    /// The `.torrent` file, ready to be written.
    pub bytes: Vec<u8>,
    /// `bytes` parsed back (info hash, files in torrent order, piece hashes, ...).
    pub metainfo: Metainfo,
}

/// Why no torrent was made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{} is a symlink; symlinks inside the content are not followed (copy the target in)", path.display())]
    Symlink { path: PathBuf },
    #[error("{} is not a regular file or folder", path.display())]
    NotRegularFile { path: PathBuf },
    #[error("{}: name is not valid UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: name {component:?} is not allowed in a torrent ({reason})", path.display())]
    UnsafeName {
        path: PathBuf,
        component: String,
        reason: &'static str,
    },
    #[error("{} has no file name to use as the torrent's name; pass a name", path.display())]
    NoName { path: PathBuf },
    #[error("{} holds no data ({files} files, 0 bytes)", path.display())]
    Empty { path: PathBuf, files: usize },
    #[error("{count} files exceed the limit of {max}")]
    TooManyFiles { count: usize, max: usize },
    #[error("content is larger than {max} bytes (at {})", path.display())]
    TooLarge { path: PathBuf, max: u64 },
    #[error("piece length {0} is not a multiple of 16384 between 16384 and 134217728")]
    InvalidPieceLength(u32),
    #[error(
        "{total} bytes at piece length {piece_length} make {pieces} pieces, more than {max}; use a larger piece length"
    )]
    TooManyPieces {
        total: u64,
        piece_length: u32,
        pieces: u64,
        max: u64,
    },
    #[error("{} changed size while hashing: {expected} bytes when listed, {actual} now", path.display())]
    SizeChanged {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    /// A bug guard: the generated bytes did not pass our own metainfo parser.
    #[error("generated torrent does not validate: {0}")]
    Invalid(#[from] MetainfoError),
}

/// One file of the content, in torrent order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SourceFile {
    /// Where to read it.
    disk: PathBuf,
    /// Components relative to the root (empty for a single-file torrent).
    path: Vec<String>,
    length: u64,
    /// Offset in the concatenation of all files.
    offset: u64,
    executable: bool,
}

/// libtorrent 2.0's automatic piece length: the smallest power of two from 16 KiB up to 16 MiB
/// whose size bracket holds `total` (each bracket is 4x the last, so a torrent has from ~160 to
/// ~2600 pieces, and more above 11 TB). The same table as libtorrent's `create_torrent`, so an
/// unspecified piece length gives the same info hash there and here.
pub fn default_piece_length(total: u64) -> u32 {
    const BRACKETS: [u64; 10] = [
        2_684_355,       // -> 16 KiB
        10_737_418,      // -> 32 KiB
        42_949_673,      // -> 64 KiB
        171_798_692,     // -> 128 KiB
        687_194_767,     // -> 256 KiB
        2_748_779_069,   // -> 512 KiB
        10_995_116_278,  // -> 1 MiB
        43_980_465_111,  // -> 2 MiB
        175_921_860_444, // -> 4 MiB
        703_687_441_777, // -> 8 MiB
    ];
    let step = BRACKETS.iter().take_while(|&&b| b < total).count();
    MIN_PIECE_LENGTH << step
}

/// Make a v1 torrent of `opts.path` (see the module doc for the rules). `progress(done, total)`
/// is called on this thread as pieces are hashed, with `done` increasing, ending at `total`.
pub fn create_torrent(
    opts: &CreateOptions,
    mut progress: impl FnMut(u32, u32),
) -> Result<CreatedTorrent, CreateError> {
    let root_meta = fs::metadata(&opts.path).map_err(io_err("read", &opts.path))?;
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => default_name(&opts.path)?,
    };
    check_component(&name, &opts.path)?;

    let multi = root_meta.is_dir();
    let mut files = if multi {
        let mut files = Vec::new();
        walk(&opts.path, &mut Vec::new(), &mut files)?;
        if opts.order == FileOrder::Sorted {
            files.sort_by(|a, b| a.path.cmp(&b.path));
        }
        files
    } else if root_meta.is_file() {
        vec![SourceFile {
            disk: opts.path.clone(),
            path: Vec::new(),
            length: root_meta.len(),
            offset: 0,
            executable: is_executable(&root_meta),
        }]
    } else {
        return Err(CreateError::NotRegularFile {
            path: opts.path.clone(),
        });
    };
    if files.len() > MAX_FILES {
        return Err(CreateError::TooManyFiles {
            count: files.len(),
            max: MAX_FILES,
        });
    }
    let mut total = 0u64;
    for f in &mut files {
        f.offset = total;
        total = total
            .checked_add(f.length)
            .filter(|&t| t <= MAX_TOTAL_LENGTH)
            .ok_or_else(|| CreateError::TooLarge {
                path: f.disk.clone(),
                max: MAX_TOTAL_LENGTH,
            })?;
    }
    if total == 0 {
        return Err(CreateError::Empty {
            path: opts.path.clone(),
            files: files.len(),
        });
    }

    let piece_length = match opts.piece_length {
        None => default_piece_length(total),
        Some(pl)
            if (MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&pl)
                && pl.is_multiple_of(MIN_PIECE_LENGTH) =>
        {
            pl
        }
        Some(pl) => return Err(CreateError::InvalidPieceLength(pl)),
    };
    let pieces = total.div_ceil(u64::from(piece_length));
    let piece_count = u32::try_from(pieces).map_err(|_| CreateError::TooManyPieces {
        total,
        piece_length,
        pieces,
        max: u64::from(u32::MAX),
    })?;

    let threads = opts
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let hashes = hash_pieces(
        &files,
        total,
        piece_length,
        piece_count,
        threads,
        &mut progress,
    )?;

    // A file that grew (or shrank past the last piece read) since the walk.
    for f in &files {
        let now = fs::metadata(&f.disk)
            .map_err(io_err("read", &f.disk))?
            .len();
        if now != f.length {
            return Err(CreateError::SizeChanged {
                path: f.disk.clone(),
                expected: f.length,
                actual: now,
            });
        }
    }

    let info = info_dict(&name, &files, multi, piece_length, &hashes, opts.private);
    let bytes = bencode::encode(&torrent_dict(opts, info));
    let metainfo = Metainfo::from_bytes(&bytes)?;
    Ok(CreatedTorrent { bytes, metainfo })
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CreateError + 'a {
    move |source| CreateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// The last component of `path`, resolving `.`/`..`/`/`-style endings through the real path.
fn default_name(path: &Path) -> Result<String, CreateError> {
    let real;
    let last = match path.file_name() {
        Some(n) => n,
        None => {
            real = fs::canonicalize(path).map_err(io_err("resolve", path))?;
            real.file_name().ok_or_else(|| CreateError::NoName {
                path: path.to_path_buf(),
            })?
        }
    };
    last.to_str()
        .map(str::to_owned)
        .ok_or_else(|| CreateError::NotUtf8 {
            path: path.to_path_buf(),
        })
}

fn is_executable(meta: &fs::Metadata) -> bool {
    meta.permissions().mode() & 0o100 != 0
}

/// Depth-first walk in `read_dir` order (libtorrent's `add_files` order), appending regular
/// files; `rel` holds the components of `dir` below the root.
fn walk(dir: &Path, rel: &mut Vec<String>, out: &mut Vec<SourceFile>) -> Result<(), CreateError> {
    let entries = fs::read_dir(dir).map_err(io_err("read folder", dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err("read folder", dir))?;
        let disk = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| CreateError::NotUtf8 { path: disk.clone() })?;
        check_component(&name, &disk)?;
        let ty = entry.file_type().map_err(io_err("read", &disk))?;
        if ty.is_symlink() {
            return Err(CreateError::Symlink { path: disk });
        }
        if ty.is_dir() {
            rel.push(name);
            walk(&disk, rel, out)?;
            rel.pop();
        } else if ty.is_file() {
            let meta = entry.metadata().map_err(io_err("read", &disk))?;
            let mut path = rel.clone();
            path.push(name);
            out.push(SourceFile {
                disk,
                path,
                length: meta.len(),
                offset: 0,
                executable: is_executable(&meta),
            });
            if out.len() > MAX_FILES {
                return Err(CreateError::TooManyFiles {
                    count: out.len(),
                    max: MAX_FILES,
                });
            }
        } else {
            return Err(CreateError::NotRegularFile { path: disk });
        }
    }
    Ok(())
}

/// The metainfo path rules (`proto::metainfo`), applied before any work is done.
fn check_component(c: &str, path: &Path) -> Result<(), CreateError> {
    let Some(reason) = crate::proto::metainfo::unsafe_component_reason(c) else {
        return Ok(());
    };
    Err(CreateError::UnsafeName {
        path: path.to_path_buf(),
        component: c.to_owned(),
        reason,
    })
}

/// SHA-1 of every piece, on `threads` workers (see "Hashing" in the module doc).
fn hash_pieces(
    files: &[SourceFile],
    total: u64,
    piece_length: u32,
    piece_count: u32,
    threads: usize,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Vec<[u8; 20]>, CreateError> {
    let mut hashes = vec![[0u8; 20]; piece_count as usize];
    let run = usize::try_from((RUN_BYTES / u64::from(piece_length)).max(1)).unwrap_or(1);
    let runs = Mutex::new(hashes.chunks_mut(run).enumerate());
    let workers = threads.clamp(1, piece_count.div_ceil(run as u32).max(1) as usize);
    let abort = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<u32>();

    let result = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let tx = tx.clone();
                let (runs, abort) = (&runs, &abort);
                s.spawn(move || {
                    let mut reader = Reader::new(files, piece_length);
                    loop {
                        if abort.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        // A poisoned lock means another worker panicked; scope re-raises it.
                        let next = match runs.lock() {
                            Ok(mut it) => it.next(),
                            Err(_) => return Ok(()),
                        };
                        let Some((r, out)) = next else { return Ok(()) };
                        for (i, slot) in out.iter_mut().enumerate() {
                            if abort.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            let index = (r * run + i) as u64;
                            let start = index * u64::from(piece_length);
                            let end = (start + u64::from(piece_length)).min(total);
                            match reader.hash(start, end) {
                                Ok(h) => *slot = h,
                                Err(e) => {
                                    abort.store(true, Ordering::Relaxed);
                                    return Err(e);
                                }
                            }
                            let _ = tx.send(1);
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut done = 0u32;
        for n in rx {
            done += n;
            progress(done, piece_count);
        }
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first_err.map_or(Ok(()), Err)
    });
    result.map(|()| hashes)
}

/// One worker's reading state: a buffer and the file it read last (kept open, as runs are
/// sequential).
struct Reader<'a> {
    files: &'a [SourceFile],
    buf: Vec<u8>,
    open: Option<(usize, File)>,
}

impl<'a> Reader<'a> {
    fn new(files: &'a [SourceFile], piece_length: u32) -> Reader<'a> {
        Reader {
            files,
            buf: vec![0; (piece_length as usize).min(HASH_CHUNK)],
            open: None,
        }
    }

    /// SHA-1 of bytes `start..end` of the concatenated files.
    fn hash(&mut self, start: u64, end: u64) -> Result<[u8; 20], CreateError> {
        let mut h = Sha1::new();
        // First file that ends after `start` (zero-length files end where they start).
        let mut i = self.files.partition_point(|f| f.offset + f.length <= start);
        let mut pos = start;
        while pos < end {
            let Some(f) = self.files.get(i) else {
                // Cannot happen: the files' lengths sum to `total >= end`.
                break;
            };
            let file_end = f.offset + f.length;
            if file_end <= pos {
                i += 1;
                continue;
            }
            let span_end = end.min(file_end);
            let file = open_file(&mut self.open, self.files, i)?;
            let mut off = pos - f.offset;
            while off < span_end - f.offset {
                let n = ((span_end - f.offset - off) as usize).min(self.buf.len());
                let chunk = &mut self.buf[..n];
                file.read_exact_at(chunk, off).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        CreateError::SizeChanged {
                            path: f.disk.clone(),
                            expected: f.length,
                            actual: file.metadata().map_or(0, |m| m.len()),
                        }
                    } else {
                        CreateError::Io {
                            op: "read",
                            path: f.disk.clone(),
                            source: e,
                        }
                    }
                })?;
                h.update(&*chunk);
                off += n as u64;
            }
            pos = span_end;
            i += 1;
        }
        Ok(h.finalize().into())
    }
}

/// File `i`, opened once and kept in `open` until another file is needed.
fn open_file<'o>(
    open: &'o mut Option<(usize, File)>,
    files: &[SourceFile],
    i: usize,
) -> Result<&'o File, CreateError> {
    let handle = match open.take() {
        Some((j, f)) if j == i => f,
        _ => File::open(&files[i].disk).map_err(io_err("open", &files[i].disk))?,
    };
    Ok(&open.insert((i, handle)).1)
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

fn text(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn int(n: u64) -> Value {
    // Lengths are at most MAX_TOTAL_LENGTH (2^48), piece lengths at most 2^27.
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn info_dict(
    name: &str,
    files: &[SourceFile],
    multi: bool,
    piece_length: u32,
    hashes: &[[u8; 20]],
    private: bool,
) -> Value {
    let mut info = vec![
        ("name", text(name)),
        ("piece length", int(u64::from(piece_length))),
        ("pieces", Value::Bytes(hashes.concat())),
    ];
    if multi {
        let list = files
            .iter()
            .map(|f| {
                let mut e = vec![
                    ("length", int(f.length)),
                    (
                        "path",
                        Value::List(f.path.iter().map(|c| text(c)).collect()),
                    ),
                ];
                if f.executable {
                    e.push(("attr", text("x")));
                }
                dict(e)
            })
            .collect();
        info.push(("files", Value::List(list)));
    } else if let Some(f) = files.first() {
        info.push(("length", int(f.length)));
        if f.executable {
            info.push(("attr", text("x")));
        }
    }
    if private {
        info.push(("private", Value::Int(1)));
    }
    dict(info)
}

fn torrent_dict(opts: &CreateOptions, info: Value) -> Value {
    let tiers: Vec<Vec<&str>> = opts
        .trackers
        .iter()
        .map(|t| {
            t.iter()
                .map(|u| u.trim())
                .filter(|u| !u.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty())
        .collect();
    let mut root = vec![("info", info)];
    if let Some(first) = tiers.first().and_then(|t| t.first()) {
        root.push(("announce", text(first)));
    }
    if tiers.iter().map(Vec::len).sum::<usize>() > 1 {
        let list = tiers
            .iter()
            .map(|t| Value::List(t.iter().map(|u| text(u)).collect()))
            .collect();
        root.push(("announce-list", Value::List(list)));
    }
    if let Some(c) = &opts.comment {
        root.push(("comment", text(c)));
    }
    let created_by = opts
        .created_by
        .clone()
        .unwrap_or_else(|| format!("fast-peer/{}", env!("CARGO_PKG_VERSION")));
    root.push(("created by", text(&created_by)));
    if let Some(d) = opts.creation_date {
        root.push(("creation date", Value::Int(d)));
    }
    dict(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Deterministic bytes for file `seed` of length `len`.
    fn content(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
            .collect()
    }

    fn write(root: &Path, rel: &str, data: &[u8]) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::File::create(&p).unwrap().write_all(data).unwrap();
    }

    fn expected_hashes(data: &[u8], piece_length: usize) -> Vec<[u8; 20]> {
        data.chunks(piece_length)
            .map(|c| Sha1::digest(c).into())
            .collect()
    }

    fn opts(path: &Path, pl: u32) -> CreateOptions {
        let mut o = CreateOptions::new(path);
        o.piece_length = Some(pl);
        o.trackers = vec![vec!["http://127.0.0.1:6969/announce".into()]];
        o
    }

    #[test]
    fn single_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = content(1, 100_000);
        write(dir.path(), "one.bin", &data);
        let mut o = opts(&dir.path().join("one.bin"), 16384);
        o.comment = Some("hello".into());
        o.creation_date = Some(1_700_000_000);
        let mut calls = Vec::new();
        let t = create_torrent(&o, |d, n| calls.push((d, n))).unwrap();
        let m = &t.metainfo;
        assert!(!m.info.is_multi_file);
        assert_eq!(m.info.name, "one.bin");
        assert_eq!(m.info.total_length, 100_000);
        assert_eq!(m.info.piece_hashes, expected_hashes(&data, 16384));
        assert_eq!(
            m.announce.as_deref(),
            Some("http://127.0.0.1:6969/announce")
        );
        assert!(m.announce_list.is_empty());
        assert_eq!(m.comment.as_deref(), Some("hello"));
        assert_eq!(m.creation_date, Some(1_700_000_000));
        assert_eq!(
            m.created_by.as_deref(),
            Some(concat!("fast-peer/", env!("CARGO_PKG_VERSION")))
        );
        assert!(!m.info.private);
        let info = bencode::decode(&m.raw_info).unwrap();
        assert!(info.get(b"private").is_none() && info.get(b"attr").is_none());
        // Progress: one call per piece, in order, ending at the total.
        assert_eq!(calls, (1..=7).map(|d| (d, 7)).collect::<Vec<_>>());
        // Reproducible without a creation date.
        let mut o2 = o.clone();
        o2.threads = NonZeroUsize::new(1);
        assert_eq!(create_torrent(&o2, |_, _| {}).unwrap().bytes, t.bytes);
    }

    #[test]
    fn nested_folders_zero_length_files_and_piece_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        // Lengths chosen so pieces of 16 KiB start and end inside files and one piece spans
        // four files (two of them empty).
        let layout: &[(&str, usize)] = &[
            ("a.txt", 10_000),
            ("empty-first/x", 0),
            ("b/c/d.bin", 40_000),
            ("b/e", 0),
            ("b/f", 3),
            ("g with space", 16_384),
            (".hidden", 77),
            ("z", 1),
        ];
        for (i, (rel, len)) in layout.iter().enumerate() {
            write(&root, rel, &content(i as u8, *len));
        }
        fs::create_dir_all(root.join("empty-dir/deeper")).unwrap();
        for threads in [1, 2, 5] {
            let mut o = opts(&root, 16384);
            o.order = FileOrder::Sorted;
            o.threads = NonZeroUsize::new(threads);
            let t = create_torrent(&o, |_, _| {}).unwrap();
            let info = &t.metainfo.info;
            assert!(info.is_multi_file);
            assert_eq!(info.name, "root");
            let mut sorted: Vec<(Vec<String>, usize)> = layout
                .iter()
                .map(|(p, l)| (p.split('/').map(str::to_owned).collect(), *l))
                .collect();
            sorted.sort();
            let got: Vec<(Vec<String>, usize)> = info
                .files
                .iter()
                .map(|f| (f.path.clone(), f.length as usize))
                .collect();
            assert_eq!(got, sorted);
            let mut all = Vec::new();
            for (p, _) in &sorted {
                all.extend(fs::read(root.join(p.join("/"))).unwrap());
            }
            assert_eq!(info.total_length as usize, all.len());
            assert_eq!(
                info.piece_hashes,
                expected_hashes(&all, 16384),
                "{threads} threads"
            );
        }
        // File-system order lists the same files, in the order read_dir gives.
        let t = create_torrent(&opts(&root, 16384), |_, _| {}).unwrap();
        assert_eq!(t.metainfo.info.files.len(), layout.len());
        let mut all = Vec::new();
        for f in &t.metainfo.info.files {
            all.extend(fs::read(root.join(f.path.join("/"))).unwrap());
        }
        assert_eq!(t.metainfo.info.piece_hashes, expected_hashes(&all, 16384));
    }

    #[test]
    fn private_executable_trackers_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("d");
        write(&root, "run.sh", b"#!/bin/sh\n");
        write(&root, "data", &content(3, 5000));
        fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        let mut o = opts(&root, 32768);
        o.private = true;
        o.order = FileOrder::Sorted;
        o.name = Some("renamed".into());
        o.trackers = vec![
            vec!["http://a/announce".into(), " ".into()],
            vec![],
            vec!["udp://b:1".into(), "udp://c:2".into()],
        ];
        let t = create_torrent(&o, |_, _| {}).unwrap();
        let m = &t.metainfo;
        assert!(m.info.private);
        assert_eq!(m.info.name, "renamed");
        assert_eq!(m.announce.as_deref(), Some("http://a/announce"));
        assert_eq!(
            m.announce_list,
            vec![
                vec!["http://a/announce".to_owned()],
                vec!["udp://b:1".to_owned(), "udp://c:2".to_owned()]
            ]
        );
        let info = bencode::decode(&m.raw_info).unwrap();
        assert_eq!(info.get(b"private"), Some(&Value::Int(1)));
        let files = info.get(b"files").and_then(Value::as_list).unwrap();
        assert_eq!(files[0].get(b"attr"), None);
        assert_eq!(files[1].get(b"attr").and_then(Value::as_str), Some("x"));

        // Single executable file: attr sits in info. No trackers: no announce at all.
        let mut o = CreateOptions::new(root.join("run.sh"));
        o.piece_length = Some(16384);
        let t = create_torrent(&o, |_, _| {}).unwrap();
        let info = bencode::decode(&t.metainfo.raw_info).unwrap();
        assert_eq!(info.get(b"attr").and_then(Value::as_str), Some("x"));
        let top = bencode::decode(&t.bytes).unwrap();
        assert!(top.get(b"announce").is_none() && top.get(b"announce-list").is_none());
    }

    #[test]
    fn name_from_dot_path() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("named");
        write(&root, "f", b"x");
        let t = create_torrent(&opts(&root.join("."), 16384), |_, _| {}).unwrap();
        assert_eq!(t.metainfo.info.name, "named");
        let t = create_torrent(&opts(&root.join("sub/.."), 16384), |_, _| {});
        // `sub` does not exist: the error names the path.
        assert!(matches!(t, Err(CreateError::Io { .. })), "{t:?}");
    }

    #[test]
    fn rejections() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();

        // Empty folder, folder of empty files.
        fs::create_dir_all(base.join("empty/sub")).unwrap();
        let e = create_torrent(&opts(&base.join("empty"), 16384), |_, _| {}).unwrap_err();
        assert!(matches!(e, CreateError::Empty { files: 0, .. }), "{e}");
        write(base, "zeros/a", b"");
        write(base, "zeros/b/c", b"");
        let e = create_torrent(&opts(&base.join("zeros"), 16384), |_, _| {}).unwrap_err();
        assert!(matches!(e, CreateError::Empty { files: 2, .. }), "{e}");
        assert!(e.to_string().contains("2 files, 0 bytes"), "{e}");

        // Missing path.
        let e = create_torrent(&opts(&base.join("nope"), 16384), |_, _| {}).unwrap_err();
        assert!(matches!(e, CreateError::Io { op: "read", .. }), "{e}");
        assert!(e.to_string().contains("nope"), "{e}");

        // Piece lengths.
        write(base, "ok/f", b"data");
        for pl in [0, 1000, 16385, 16384 * 3 + 1, 256 << 20] {
            let e = create_torrent(&opts(&base.join("ok"), pl), |_, _| {}).unwrap_err();
            assert!(
                matches!(e, CreateError::InvalidPieceLength(p) if p == pl),
                "{e}"
            );
        }
        assert!(create_torrent(&opts(&base.join("ok"), 16384 * 3), |_, _| {}).is_ok());

        // Symlinks inside the folder; a FIFO.
        write(base, "links/f", b"data");
        std::os::unix::fs::symlink("f", base.join("links/l")).unwrap();
        let e = create_torrent(&opts(&base.join("links"), 16384), |_, _| {}).unwrap_err();
        assert!(matches!(e, CreateError::Symlink { .. }), "{e}");
        // ... but a symlink given as the path itself is followed.
        let t = create_torrent(&opts(&base.join("links/l"), 16384), |_, _| {}).unwrap();
        assert_eq!(t.metainfo.info.name, "l");

        // Unsafe names: a backslash, and a name override.
        write(base, "bs/a\\b", b"data");
        let e = create_torrent(&opts(&base.join("bs"), 16384), |_, _| {}).unwrap_err();
        assert!(
            matches!(&e, CreateError::UnsafeName { component, .. } if component == "a\\b"),
            "{e}"
        );
        let mut o = opts(&base.join("ok"), 16384);
        o.name = Some("..".into());
        assert!(matches!(
            create_torrent(&o, |_, _| {}),
            Err(CreateError::UnsafeName { .. })
        ));

        // Non-UTF-8 name.
        use std::os::unix::ffi::OsStrExt;
        let bad = base
            .join("latin1")
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
        fs::create_dir_all(bad.parent().unwrap()).unwrap();
        fs::write(&bad, b"x").unwrap();
        let e = create_torrent(&opts(&base.join("latin1"), 16384), |_, _| {}).unwrap_err();
        assert!(matches!(e, CreateError::NotUtf8 { .. }), "{e}");
    }

    #[test]
    fn file_shrinking_while_hashing_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        write(&root, "a", &content(1, 200_000));
        write(&root, "b", &content(2, 200_000));
        let o = opts(&root, 16384);
        // Truncate a file from the progress callback after the first piece.
        let mut first = true;
        let e = create_torrent(&o, |_, _| {
            if first {
                first = false;
                fs::File::options()
                    .write(true)
                    .open(root.join("b"))
                    .unwrap()
                    .set_len(10)
                    .unwrap();
            }
        })
        .unwrap_err();
        assert!(
            matches!(
                e,
                CreateError::SizeChanged {
                    expected: 200_000,
                    actual: 10,
                    ..
                }
            ),
            "{e}"
        );
        // Growth after hashing is caught by the final check.
        write(&root, "b", &content(2, 200_000));
        let mut first = true;
        let e = create_torrent(&o, |d, n| {
            if first && d == n {
                first = false;
                let mut f = fs::File::options()
                    .append(true)
                    .open(root.join("a"))
                    .unwrap();
                f.write_all(b"more").unwrap();
            }
        })
        .unwrap_err();
        assert!(
            matches!(
                e,
                CreateError::SizeChanged {
                    expected: 200_000,
                    actual: 200_004,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn default_piece_length_table() {
        // (total, expected), checked against libtorrent 2.0.8's `create_torrent(fs, 0)`.
        let table: &[(u64, u32)] = &[
            (1, 16 << 10),
            (2_097_152, 16 << 10),
            (2_684_355, 16 << 10),
            (2_684_356, 32 << 10),
            (31_457_280, 64 << 10),
            (41_943_040, 64 << 10),
            (42_991_616, 128 << 10),
            (104_857_600, 128 << 10),
            (1 << 30, 512 << 10),
            (2 << 30, 512 << 10),
            (4 << 30, 1 << 20),
            (8 << 30, 1 << 20),
            (16 << 30, 2 << 20),
            (64 << 30, 4 << 20),
            (703_687_441_777, 8 << 20),
            (703_687_441_778, 16 << 20),
            (1 << 40, 16 << 20),
            (MAX_TOTAL_LENGTH, 16 << 20),
        ];
        for &(total, want) in table {
            assert_eq!(default_piece_length(total), want, "total {total}");
        }
        // Always a valid piece length, and the count stays far below u32::MAX.
        for shift in 0..=48 {
            let pl = default_piece_length(1 << shift);
            assert!(pl.is_power_of_two() && (MIN_PIECE_LENGTH..=16 << 20).contains(&pl));
            assert!((1u64 << shift).div_ceil(u64::from(pl)) <= 1 << 24);
        }
    }
}
