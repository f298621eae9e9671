//! Torrent data on disk: positioned reads and writes of pieces spread over the torrent's files.
//!
//! # Role
//!
//! BitTorrent (BEP 3) addresses data as pieces of `piece_length` bytes over the *concatenation* of
//! all files, in the order the metainfo lists them. [`Storage`] owns one [`std::fs::File`] per
//! torrent file and maps `(piece, begin, len)` onto `(file, offset, len)` spans, so a block that
//! straddles a file boundary becomes several positioned reads or writes.
//!
//! All I/O is positioned (`pread`/`pwrite` through [`FileExt`]), never seek-then-read, so every
//! method takes `&self` and `Storage` is `Send + Sync`: the engine can hash one piece on a blocking
//! thread while another thread writes blocks of a different piece. Writers of the *same* bytes are
//! the caller's business (the picker hands each block to one peer at a time). This relies on Unix
//! positioned I/O; the crate targets Unix only.
//!
//! # Invariants
//!
//! - The span mapping ([`Storage::piece_file_spans`]) is the single source of truth: every read, write,
//!   hash and presence check goes through the same private span iterator, which skips zero-length
//!   files and yields spans in torrent order, each non-empty, covering the range exactly once.
//! - The layout is validated at open: `piece_length > 0`, file offsets are contiguous and sum to
//!   `total_length`, and the piece-hash count equals `ceil(total_length / piece_length)`. After
//!   that, offset arithmetic cannot overflow and the mapping cannot index outside the file table.
//! - Files are opened **without truncation** and never preallocated with `set_len`: a completed
//!   file is never rewritten, resume reuses what is there, and sparse writes extend files as data
//!   arrives. A file that is still shorter than its torrent length reads as
//!   [`io::ErrorKind::UnexpectedEof`], never as made-up zeros.
//! - Path components are checked again here (defence in depth behind the metainfo parser): an
//!   empty component, `.`, `..`, or one containing `/`, `\` or NUL is refused with
//!   [`io::ErrorKind::InvalidInput`] before anything is created, so nothing lands outside the root.
//!   Symlinks that already exist under the user's chosen folder are followed; that folder is the
//!   user's to control.
//!
//! # Errors
//!
//! The public methods keep `io::Result` (callers mostly bubble these up next to other file
//! errors), but every failure this module detects itself is a typed [`StorageError`] wrapped in
//! the `io::Error`, reachable with `err.get_ref()` / `downcast`, and carrying the numbers.

use crate::proto::metainfo::Info;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Pieces are hashed through a buffer of at most this many bytes, so a 128 MiB piece never needs
/// a 128 MiB allocation.
const HASH_CHUNK: usize = 1 << 20;

/// Where the user asked the torrent to be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// `-o PATH`: the file itself for a single-file torrent, the root folder for a multi-file one.
    Exact(PathBuf),
    /// `--dir DIR`: `DIR/<name>` (single) or `DIR/<name>/<path...>` (multi).
    Dir(PathBuf),
}

/// A failure detected by this module (as opposed to one reported by the OS).
///
/// Wrapped in an [`io::Error`] whose kind is [`StorageError::kind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The piece index is not below the piece count.
    #[error("piece {piece} out of range: torrent has {count} pieces")]
    PieceOutOfRange { piece: u32, count: u32 },
    /// `begin + len` runs past the end of the piece.
    #[error("piece {piece}: block at {begin} of {len} bytes exceeds piece size {piece_size}")]
    BlockOutOfRange {
        piece: u32,
        begin: u32,
        len: u64,
        piece_size: u32,
    },
    /// A path component could escape the root or is not a plain name.
    #[error("refusing unsafe path component {component:?}")]
    UnsafeComponent { component: String },
    /// The metainfo's file table, lengths and piece count do not agree.
    #[error("inconsistent torrent layout: {0}")]
    Layout(String),
    /// A file on disk ends before the bytes we need (not downloaded yet, or truncated).
    #[error("{}: file ends before byte {needed}", path.display())]
    ShortFile { path: PathBuf, needed: u64 },
    /// A write was attempted on storage opened with [`Storage::open_read_only`].
    #[error("storage at {} is open read-only", root.display())]
    ReadOnly { root: PathBuf },
}

impl StorageError {
    /// The [`io::ErrorKind`] this error travels under.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            StorageError::PieceOutOfRange { .. }
            | StorageError::BlockOutOfRange { .. }
            | StorageError::UnsafeComponent { .. }
            | StorageError::Layout(_) => io::ErrorKind::InvalidInput,
            StorageError::ShortFile { .. } => io::ErrorKind::UnexpectedEof,
            StorageError::ReadOnly { .. } => io::ErrorKind::PermissionDenied,
        }
    }
}

impl From<StorageError> for io::Error {
    fn from(e: StorageError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The absolute path of every file of `info` under `target`, in torrent order.
///
/// This only joins paths; it does not check them. [`Storage::open`] and [`checked_file_paths`]
/// refuse unsafe components before touching the disk.
pub fn file_paths(info: &Info, target: &OutputTarget) -> Vec<PathBuf> {
    if info.is_multi_file {
        let root = torrent_root(info, target);
        info.files
            .iter()
            .map(|f| f.path.iter().fold(root.clone(), |p, c| p.join(c)))
            .collect()
    } else {
        // A single-file torrent has exactly one file (checked at open); its on-disk name comes
        // from the target, not from `files[0].path`.
        let path = torrent_root(info, target);
        info.files.iter().map(|_| path.clone()).collect()
    }
}

/// [`file_paths`], after refusing any component that could escape the root (see the module doc).
pub fn checked_file_paths(info: &Info, target: &OutputTarget) -> io::Result<Vec<PathBuf>> {
    if let OutputTarget::Dir(_) = target {
        check_component(&info.name)?;
    }
    if info.is_multi_file {
        for (i, f) in info.files.iter().enumerate() {
            if f.path.is_empty() {
                return Err(StorageError::Layout(format!("file {i} has an empty path")).into());
            }
            for c in &f.path {
                check_component(c)?;
            }
        }
    }
    Ok(file_paths(info, target))
}

/// The single file (single-file torrent) or the root folder (multi-file torrent).
fn torrent_root(info: &Info, target: &OutputTarget) -> PathBuf {
    match target {
        OutputTarget::Exact(p) => p.clone(),
        OutputTarget::Dir(d) => d.join(&info.name),
    }
}

/// BEP 47 `x`: whoever may read the file may run it (`chmod +x` within the umask'd mode).
fn set_executable(file: &File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = file.metadata()?.permissions();
    let mode = perms.mode();
    perms.set_mode(mode | ((mode & 0o444) >> 2));
    file.set_permissions(perms)
}

/// The folder symlink targets are relative to: the root folder of a multi-file torrent, the
/// folder holding a single-file torrent's file.
fn link_base(info: &Info, target: &OutputTarget) -> PathBuf {
    let root = torrent_root(info, target);
    if info.is_multi_file {
        root
    } else {
        root.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Make the BEP 47 symlink at `link` (path `from` inside the torrent) point at `to` (a path
/// inside the torrent, already made safe by the parser), as a relative link, the way
/// libtorrent does. The parser keeps every target inside the torrent *as written*; on disk a
/// folder on the way may itself be a symlink, so the link is made only when its `..` steps,
/// taken from the real folder the link lands in, stay inside `base`. A link already there with
/// the same target is kept (a resumed download); anything else at that path is an error.
fn create_symlink(link: &Path, from: &[String], to: &[String], base: &Path) -> io::Result<()> {
    let folder = &from[..from.len().saturating_sub(1)];
    let common = folder.iter().zip(to).take_while(|(a, b)| a == b).count();
    let ups = folder.len() - common;
    let mut relative = PathBuf::new();
    (0..ups).for_each(|_| relative.push(".."));
    to[common..].iter().for_each(|c| relative.push(c));
    if relative.as_os_str().is_empty() {
        relative.push(".");
    }
    let parent = link.parent().unwrap_or(base);
    std::fs::create_dir_all(parent).map_err(|e| with_path(e, "create folder", parent))?;
    let real_parent = parent
        .canonicalize()
        .map_err(|e| with_path(e, "resolve", parent))?;
    let real_base = base
        .canonicalize()
        .map_err(|e| with_path(e, "resolve", base))?;
    let depth = real_parent
        .strip_prefix(&real_base)
        .map(|p| p.components().count());
    if !depth.is_ok_and(|d| d >= ups) {
        return Err(StorageError::Layout(format!(
            "symlink {} -> {} would point outside {}",
            link.display(),
            relative.display(),
            base.display()
        ))
        .into());
    }
    match std::os::unix::fs::symlink(&relative, link) {
        Ok(()) => Ok(()),
        Err(e)
            if e.kind() == io::ErrorKind::AlreadyExists
                && std::fs::read_link(link).is_ok_and(|t| t == relative) =>
        {
            Ok(())
        }
        Err(e) => Err(with_path(e, "create symlink", link)),
    }
}

fn check_component(c: &str) -> Result<(), StorageError> {
    // defence in depth: the same rule the metainfo parser applied
    if crate::proto::metainfo::unsafe_component_reason(c).is_some() {
        Err(StorageError::UnsafeComponent {
            component: c.to_owned(),
        })
    } else {
        Ok(())
    }
}

/// The pure geometry of a torrent: where each file sits in the concatenated data.
///
/// Invariant (checked by [`Layout::new`]): offsets are contiguous from 0, they sum to
/// `total_length`, and `piece_count == ceil(total_length / piece_length)`.
#[derive(Debug, Clone)]
struct Layout {
    piece_length: u32,
    total_length: u64,
    piece_count: u32,
    /// `(offset, length)` of each file in torrent order.
    files: Vec<(u64, u64)>,
}

impl Layout {
    fn new(info: &Info) -> Result<Layout, StorageError> {
        if info.piece_length == 0 {
            return Err(StorageError::Layout("piece length is 0".into()));
        }
        if !info.is_multi_file && info.files.len() != 1 {
            return Err(StorageError::Layout(format!(
                "single-file torrent lists {} files",
                info.files.len()
            )));
        }
        let mut next = 0u64;
        let mut files = Vec::with_capacity(info.files.len());
        for (i, f) in info.files.iter().enumerate() {
            if f.offset != next {
                return Err(StorageError::Layout(format!(
                    "file {i} starts at {} but the previous files end at {next}",
                    f.offset
                )));
            }
            next = next
                .checked_add(f.length)
                .ok_or_else(|| StorageError::Layout(format!("file {i}: total length overflows")))?;
            files.push((f.offset, f.length));
        }
        if next != info.total_length {
            return Err(StorageError::Layout(format!(
                "files add up to {next} bytes but total length is {}",
                info.total_length
            )));
        }
        let expected = info.total_length.div_ceil(u64::from(info.piece_length));
        if expected != info.piece_hashes.len() as u64 {
            return Err(StorageError::Layout(format!(
                "{} bytes in pieces of {} need {expected} hashes, metainfo has {}",
                info.total_length,
                info.piece_length,
                info.piece_hashes.len()
            )));
        }
        // `expected` fits u32 because it equals a Vec length that `piece_count()` already casts;
        // refuse rather than wrap if it ever does not.
        let piece_count = u32::try_from(expected)
            .map_err(|_| StorageError::Layout(format!("{expected} pieces is too many")))?;
        Ok(Layout {
            piece_length: info.piece_length,
            total_length: info.total_length,
            piece_count,
            files,
        })
    }

    fn piece_start(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    /// Size of an in-range piece (the last one may be short).
    fn piece_size(&self, piece: u32) -> Result<u32, StorageError> {
        if piece >= self.piece_count {
            return Err(StorageError::PieceOutOfRange {
                piece,
                count: self.piece_count,
            });
        }
        let left = self.total_length - self.piece_start(piece);
        // min() with a u32 always fits in u32.
        Ok(left.min(u64::from(self.piece_length)) as u32)
    }

    /// Absolute start of `len` bytes at `begin` in `piece`, after bounds checks.
    fn block_start(&self, piece: u32, begin: u32, len: usize) -> Result<u64, StorageError> {
        let piece_size = self.piece_size(piece)?;
        let len = len as u64;
        if u64::from(begin) + len > u64::from(piece_size) {
            return Err(StorageError::BlockOutOfRange {
                piece,
                begin,
                len,
                piece_size,
            });
        }
        Ok(self.piece_start(piece) + u64::from(begin))
    }

    /// The spans covering absolute bytes `start..start + len`, which the caller has bounds-checked
    /// to lie within `total_length`.
    fn spans(&self, start: u64, len: u64) -> Spans<'_> {
        // Ends are non-decreasing, so this is a valid binary search; it lands on the first file
        // holding byte `start` (zero-length files there end at `start` and are passed over).
        let idx = self.files.partition_point(|&(off, l)| off + l <= start);
        Spans {
            files: &self.files,
            idx,
            pos: start,
            end: start + len,
        }
    }
}

/// Iterator of `(file index, offset in file, len)` over a byte range; see [`Layout::spans`].
struct Spans<'a> {
    files: &'a [(u64, u64)],
    idx: usize,
    pos: u64,
    end: u64,
}

impl Iterator for Spans<'_> {
    type Item = (usize, u64, u64);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.end {
            let i = self.idx;
            let &(off, len) = self.files.get(i)?;
            self.idx += 1;
            let file_end = off + len;
            if len == 0 || file_end <= self.pos {
                continue;
            }
            let n = file_end.min(self.end) - self.pos;
            let span = (i, self.pos - off, n);
            self.pos += n;
            return Some(span);
        }
        None
    }
}

/// One open torrent file.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    /// `None` for a file that holds no bytes on disk: a BEP 47 pad file (all zeros, never
    /// created; writes to it are dropped and reads give zeros) or a BEP 47 symlink (length 0,
    /// so no span ever reaches it; the link itself is made at open).
    handle: Option<File>,
}

/// Positioned reads and writes of torrent data spread over its files.
///
/// `Send + Sync`: all methods take `&self` and use positioned I/O (see the module doc).
#[derive(Debug)]
pub struct Storage {
    layout: Layout,
    /// Same length and order as `layout.files`.
    files: Vec<OpenFile>,
    root: PathBuf,
    had_existing_data: bool,
    writable: bool,
    /// Whether any pad file holds bytes: without one, [`Storage::pad_run`] is 0 at once (it
    /// is asked after every block the hasher takes in order).
    has_pads: bool,
}

impl Storage {
    /// Open (creating folders and zero-length files, never truncating) every file of `info`.
    pub fn open(info: &Info, target: &OutputTarget) -> io::Result<Storage> {
        Self::open_with(info, target, true)
    }

    /// Open every file of `info` read-only, for seeding data that is already there.
    ///
    /// Fails with [`io::ErrorKind::NotFound`] if any file is missing; creates nothing.
    /// Writes through the result fail with [`StorageError::ReadOnly`].
    pub fn open_read_only(info: &Info, target: &OutputTarget) -> io::Result<Storage> {
        Self::open_with(info, target, false)
    }

    fn open_with(info: &Info, target: &OutputTarget, writable: bool) -> io::Result<Storage> {
        let layout = Layout::new(info)?;
        let paths = checked_file_paths(info, target)?;
        // Two entries on one path would silently overwrite each other's bytes (pad files,
        // which are never written, may share one).
        let mut seen = HashSet::with_capacity(paths.len());
        for (p, _) in paths.iter().zip(&info.files).filter(|(_, f)| !f.attr.pad) {
            if !seen.insert(p) {
                return Err(
                    StorageError::Layout(format!("two files map to {}", p.display())).into(),
                );
            }
        }
        let mut files = Vec::with_capacity(paths.len());
        let mut had_existing_data = false;
        for (path, entry) in paths.into_iter().zip(&info.files) {
            // pad files hold no bytes on disk; symlinks are made once the files exist
            if entry.attr.pad || entry.attr.symlink.is_some() {
                files.push(OpenFile { path, handle: None });
                continue;
            }
            if writable && let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| with_path(e, "create folder", parent))?;
            }
            let handle = OpenOptions::new()
                .read(true)
                .write(writable)
                .create(writable)
                // Never truncate: a finished file must survive a restart untouched.
                .truncate(false)
                .open(&path)
                .map_err(|e| with_path(e, "open", &path))?;
            let len = handle
                .metadata()
                .map_err(|e| with_path(e, "stat", &path))?
                .len();
            had_existing_data |= len > 0;
            if writable && entry.attr.executable {
                set_executable(&handle).map_err(|e| with_path(e, "chmod", &path))?;
            }
            files.push(OpenFile {
                path,
                handle: Some(handle),
            });
        }
        if writable {
            let base = link_base(info, target);
            for (f, entry) in files.iter().zip(&info.files) {
                if let Some(to) = &entry.attr.symlink {
                    let from = if info.is_multi_file {
                        &entry.path[..]
                    } else {
                        &[]
                    };
                    create_symlink(&f.path, from, to, &base)?;
                }
            }
        }
        Ok(Storage {
            layout,
            files,
            root: torrent_root(info, target),
            had_existing_data,
            writable,
            has_pads: info.files.iter().any(|f| f.attr.pad && f.length > 0),
        })
    }

    /// Write `data` at `begin` inside piece `piece`, across file boundaries.
    pub fn write_block(&self, piece: u32, begin: u32, data: &[u8]) -> io::Result<()> {
        if !self.writable {
            return Err(StorageError::ReadOnly {
                root: self.root.clone(),
            }
            .into());
        }
        let start = self.layout.block_start(piece, begin, data.len())?;
        let mut rest = data;
        for (i, off, len) in self.layout.spans(start, data.len() as u64) {
            // Spans sum to data.len(), so `len` fits in the remaining slice.
            let (chunk, tail) = rest.split_at(len as usize);
            let f = &self.files[i];
            if let Some(handle) = &f.handle {
                handle
                    .write_all_at(chunk, off)
                    .map_err(|e| with_path(e, "write", &f.path))?;
            }
            rest = tail;
        }
        Ok(())
    }

    /// Fill `buf` from `begin` inside piece `piece`.
    ///
    /// Bytes not yet on disk (the file is shorter) give [`StorageError::ShortFile`]
    /// ([`io::ErrorKind::UnexpectedEof`]).
    pub fn read_block(&self, piece: u32, begin: u32, buf: &mut [u8]) -> io::Result<()> {
        let start = self.layout.block_start(piece, begin, buf.len())?;
        self.read_at(start, buf)
    }

    /// Read absolute bytes `start..start + buf.len()`, already bounds-checked.
    fn read_at(&self, start: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut rest = buf;
        for (i, off, len) in self.layout.spans(start, rest.len() as u64) {
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
            let f = &self.files[i];
            let Some(handle) = &f.handle else {
                chunk.fill(0);
                rest = tail;
                continue;
            };
            handle.read_exact_at(chunk, off).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    StorageError::ShortFile {
                        path: f.path.clone(),
                        needed: off + len,
                    }
                    .into()
                } else {
                    with_path(e, "read", &f.path)
                }
            })?;
            rest = tail;
        }
        Ok(())
    }

    /// SHA-1 of the whole piece as stored on disk.
    ///
    /// Reads through a buffer of at most 1 MiB; see [`Storage::hash_piece_with`] to reuse one.
    pub fn hash_piece(&self, piece: u32) -> io::Result<[u8; 20]> {
        self.hash_piece_with(piece, &mut Vec::new())
    }

    /// [`Storage::hash_piece`] reading through `buf`, which is grown to at most 1 MiB and can be
    /// passed again for the next piece to save the allocation.
    pub fn hash_piece_with(&self, piece: u32, buf: &mut Vec<u8>) -> io::Result<[u8; 20]> {
        self.hash_piece_chunked(piece, buf, HASH_CHUNK)
    }

    fn hash_piece_chunked(
        &self,
        piece: u32,
        buf: &mut Vec<u8>,
        chunk: usize,
    ) -> io::Result<[u8; 20]> {
        let size = u64::from(self.layout.piece_size(piece)?);
        let chunk = chunk.min(size as usize).max(1);
        if buf.len() < chunk {
            buf.resize(chunk, 0);
        }
        let start = self.layout.piece_start(piece);
        let mut hasher = Sha1::new();
        let mut done = 0u64;
        while done < size {
            let n = (size - done).min(chunk as u64) as usize;
            let part = &mut buf[..n];
            self.read_at(start + done, part)?;
            hasher.update(&*part);
            done += n as u64;
        }
        Ok(hasher.finalize().into())
    }

    /// How many bytes of `piece` from `begin` on belong to pad files, without a gap: known
    /// zeros that no peer sends (the picker never requests pad-only blocks).
    pub fn pad_run(&self, piece: u32, begin: u32) -> u32 {
        if !self.has_pads {
            return 0;
        }
        let Ok(size) = self.layout.piece_size(piece) else {
            return 0;
        };
        let start = self.layout.piece_start(piece) + u64::from(begin);
        let mut run = 0u64;
        for (i, _, len) in self
            .layout
            .spans(start, u64::from(size.saturating_sub(begin)))
        {
            if self.files[i].handle.is_some() {
                break;
            }
            run += len;
        }
        run as u32
    }

    /// Whether any of the files already existed (with data) when opened.
    pub fn had_existing_data(&self) -> bool {
        self.had_existing_data
    }

    /// The root path, for messages: the file itself for a single-file torrent (whatever the
    /// target), the root folder for a multi-file one.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.layout.piece_count
    }

    /// Size of `piece` in bytes (the last one may be short); 0 past the end.
    pub fn piece_size(&self, piece: u32) -> u32 {
        self.layout.piece_size(piece).unwrap_or(0)
    }

    /// Paths of the torrent's files on disk, in torrent order (pad files have none).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(|f| f.handle.is_some())
            .map(|f| f.path.as_path())
    }

    /// Current on-disk length of each file, in torrent order.
    pub fn file_lengths_on_disk(&self) -> io::Result<Vec<u64>> {
        self.files
            .iter()
            .zip(&self.layout.files)
            .map(|(f, &(_, length))| match &f.handle {
                Some(h) => h
                    .metadata()
                    .map(|m| m.len())
                    .map_err(|e| with_path(e, "stat", &f.path)),
                // a pad file is complete by definition
                None => Ok(length),
            })
            .collect()
    }

    /// Where piece `piece` lives: `(file index, offset in that file, length)` in torrent order.
    ///
    /// Spans are non-empty, skip zero-length files, and together cover the piece exactly once.
    /// Empty for an out-of-range piece.
    pub fn piece_file_spans(&self, piece: u32) -> Vec<(usize, u64, u64)> {
        match self.layout.piece_size(piece) {
            Ok(size) => self
                .layout
                .spans(self.layout.piece_start(piece), u64::from(size))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Resume check: which pieces are already on disk with the right SHA-1.
    ///
    /// Pieces whose bytes are not all present (some covering file is too short) are `false`
    /// without being read; the rest are hashed and compared with `info.piece_hashes`.
    /// `progress(piece, ok)` is called once per piece, in order. `info` must be the one this
    /// storage was opened with.
    pub fn verify_existing(
        &self,
        info: &Info,
        progress: impl FnMut(u32, bool),
    ) -> io::Result<Vec<bool>> {
        self.verify_pieces(info, 0..self.layout.piece_count, progress)
    }

    /// [`Storage::verify_existing`] for the given pieces only (in the order given); the
    /// others are `false` in the result.
    pub fn verify_pieces(
        &self,
        info: &Info,
        pieces: impl IntoIterator<Item = u32>,
        mut progress: impl FnMut(u32, bool),
    ) -> io::Result<Vec<bool>> {
        let count = self.layout.piece_count;
        if info.piece_hashes.len() as u64 != u64::from(count) {
            return Err(StorageError::Layout(format!(
                "verify with {} hashes, storage has {count} pieces",
                info.piece_hashes.len()
            ))
            .into());
        }
        let on_disk = self.file_lengths_on_disk()?;
        let mut buf = Vec::new();
        let mut verified = vec![false; count as usize];
        for piece in pieces.into_iter().filter(|p| *p < count) {
            let size = u64::from(self.layout.piece_size(piece)?);
            let present = self
                .layout
                .spans(self.layout.piece_start(piece), size)
                .all(|(i, off, len)| on_disk.get(i).is_some_and(|&d| d >= off + len));
            let ok = present
                && match self.hash_piece_with(piece, &mut buf) {
                    Ok(h) => info.piece_hashes.get(piece as usize) == Some(&h),
                    // A file shrank since we looked: simply not verified.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => false,
                    Err(e) => return Err(e),
                };
            progress(piece, ok);
            verified[piece as usize] = ok;
        }
        Ok(verified)
    }
}

/// Keep the OS error's kind but say which file and what we were doing.
fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::proto::metainfo::FileEntry;
    use proptest::prelude::*;

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    fn shuffle<T>(v: &mut [T], seed: u64) {
        let mut x = seed | 1;
        for i in (1..v.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.swap(i, (x % (i as u64 + 1)) as usize);
        }
    }

    fn sha1(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    /// An `Info` for files of `lengths` (named by `paths`) with correct hashes of `data`.
    pub(crate) fn info_for(
        name: &str,
        paths: Vec<Vec<String>>,
        lengths: &[u64],
        piece_length: u32,
        multi: bool,
        data: &[u8],
    ) -> Info {
        let mut offset = 0;
        let files = paths
            .into_iter()
            .zip(lengths)
            .map(|(path, &length)| {
                let f = FileEntry {
                    path,
                    length,
                    offset,
                    ..FileEntry::default()
                };
                offset += length;
                f
            })
            .collect();
        Info {
            name: name.into(),
            piece_length,
            piece_hashes: data.chunks(piece_length as usize).map(sha1).collect(),
            files,
            total_length: offset,
            private: false,
            is_multi_file: multi,
        }
    }

    pub(crate) fn multi(lengths: &[u64], piece_length: u32, seed: u64) -> (Info, Vec<u8>) {
        let total: u64 = lengths.iter().sum();
        let data = bytes(total as usize, seed);
        let paths = (0..lengths.len())
            .map(|i| vec![format!("d{}", i % 3), format!("f{i}.bin")])
            .collect();
        (
            info_for("multi", paths, lengths, piece_length, true, &data),
            data,
        )
    }

    /// A one-file torrent of `len` pseudo-random bytes (also used by the disk tests).
    pub(crate) fn single(len: u64, piece_length: u32, seed: u64) -> (Info, Vec<u8>) {
        let data = bytes(len as usize, seed);
        (
            info_for(
                "one.bin",
                vec![vec!["one.bin".into()]],
                &[len],
                piece_length,
                false,
                &data,
            ),
            data,
        )
    }

    /// Write every piece as `block`-byte blocks in shuffled order.
    fn write_all_shuffled(s: &Storage, info: &Info, data: &[u8], block: u32, seed: u64) {
        let mut blocks = Vec::new();
        for p in 0..info.piece_count() {
            let size = info.piece_size(p);
            let mut b = 0;
            while b < size {
                blocks.push((p, b, block.min(size - b)));
                b += block;
            }
        }
        shuffle(&mut blocks, seed);
        for (p, b, n) in blocks {
            let at = (p as usize) * info.piece_length as usize + b as usize;
            s.write_block(p, b, &data[at..at + n as usize]).unwrap();
        }
    }

    fn read_everything(s: &Storage, info: &Info) -> Vec<u8> {
        let mut out = Vec::new();
        for p in 0..info.piece_count() {
            let mut buf = vec![0; info.piece_size(p) as usize];
            // Read in odd-sized blocks to cross file boundaries at arbitrary points.
            let mut b = 0;
            while b < buf.len() {
                let n = 5.min(buf.len() - b);
                s.read_block(p, b as u32, &mut buf[b..b + n]).unwrap();
                b += n;
            }
            out.extend_from_slice(&buf);
        }
        out
    }

    fn check_files_on_disk(s: &Storage, info: &Info, data: &[u8]) {
        for (path, f) in s.paths().zip(&info.files) {
            let on_disk = std::fs::read(path).unwrap();
            let range = f.offset as usize..(f.offset + f.length) as usize;
            assert_eq!(on_disk.len() as u64, f.length, "{}", path.display());
            assert_eq!(on_disk, &data[range], "{}", path.display());
        }
    }

    fn full_round_trip(info: &Info, data: &[u8], target: &OutputTarget, block: u32) {
        let s = Storage::open(info, target).unwrap();
        assert!(!s.had_existing_data());
        write_all_shuffled(&s, info, data, block, 42);
        assert_eq!(read_everything(&s, info), data);
        check_files_on_disk(&s, info, data);
        for p in 0..info.piece_count() {
            let a = (p * info.piece_length) as usize;
            let expect = sha1(&data[a..a + info.piece_size(p) as usize]);
            assert_eq!(s.hash_piece(p).unwrap(), expect, "piece {p}");
            assert_eq!(s.hash_piece_chunked(p, &mut Vec::new(), 3).unwrap(), expect);
        }
        let all = s.verify_existing(info, |_, _| {}).unwrap();
        assert!(all.iter().all(|&ok| ok));
    }

    #[test]
    fn storage_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Storage>();
    }

    #[test]
    fn file_paths_for_every_target() {
        let (one, _) = single(10, 4, 1);
        let (many, _) = multi(&[3, 0, 4], 4, 1);
        let exact = OutputTarget::Exact("/x/out".into());
        let dir = OutputTarget::Dir("/x/dir".into());
        assert_eq!(file_paths(&one, &exact), vec![PathBuf::from("/x/out")]);
        assert_eq!(
            file_paths(&one, &dir),
            vec![PathBuf::from("/x/dir/one.bin")]
        );
        assert_eq!(
            file_paths(&many, &exact),
            ["/x/out/d0/f0.bin", "/x/out/d1/f1.bin", "/x/out/d2/f2.bin"].map(PathBuf::from)
        );
        assert_eq!(
            file_paths(&many, &dir),
            [
                "/x/dir/multi/d0/f0.bin",
                "/x/dir/multi/d1/f1.bin",
                "/x/dir/multi/d2/f2.bin"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn single_file_round_trip_both_targets() {
        // 100 bytes in pieces of 16: the last piece is 4 bytes.
        let (info, data) = single(100, 16, 7);
        let tmp = tempfile::tempdir().unwrap();
        let exact = tmp.path().join("exact.bin");
        full_round_trip(&info, &data, &OutputTarget::Exact(exact.clone()), 7);
        assert_eq!(std::fs::read(&exact).unwrap(), data);

        let dir = tmp.path().join("d");
        full_round_trip(&info, &data, &OutputTarget::Dir(dir.clone()), 16);
        assert_eq!(std::fs::read(dir.join("one.bin")).unwrap(), data);
        let s = Storage::open(&info, &OutputTarget::Dir(dir.clone())).unwrap();
        assert_eq!(s.root(), dir.join("one.bin"));
    }

    #[test]
    fn multi_file_round_trip_with_zero_length_and_mid_piece_files() {
        // Zero-length files first, between and last; files starting and ending mid-piece; a file
        // inside one piece; a file spanning several pieces; a short last piece (113 % 16 = 1).
        let lengths = [0, 10, 0, 0, 33, 1, 0, 50, 19, 0];
        let (info, data) = multi(&lengths, 16, 3);
        let tmp = tempfile::tempdir().unwrap();
        for block in [1, 5, 16] {
            let root = tmp.path().join(format!("b{block}"));
            full_round_trip(&info, &data, &OutputTarget::Exact(root.clone()), block);
            let s = Storage::open(&info, &OutputTarget::Exact(root.clone())).unwrap();
            assert_eq!(s.root(), root);
            assert!(root.join("d0/f0.bin").is_file());
            assert_eq!(std::fs::metadata(root.join("d0/f9.bin")).unwrap().len(), 0);
        }
        let dir = tmp.path().join("dir");
        full_round_trip(&info, &data, &OutputTarget::Dir(dir.clone()), 16);
        assert!(dir.join("multi/d1/f4.bin").is_file());
    }

    #[test]
    fn pad_files_are_never_on_disk_and_read_as_zeros() {
        // a, pad (zeros), b, pad of the same length at the same path
        let mut data = bytes(10, 1);
        data.extend([0u8; 6]);
        data.extend(bytes(16, 2));
        let pad = || vec![".pad".to_string(), "6".to_string()];
        let paths = vec![vec!["a".to_string()], pad(), vec!["b".to_string()], pad()];
        data.extend([0u8; 6]);
        let mut info = info_for("padded", paths, &[10, 6, 16, 6], 16, true, &data);
        info.files[1].attr.pad = true;
        info.files[3].attr.pad = true;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("out");
        let s = Storage::open(&info, &OutputTarget::Exact(root.clone())).unwrap();
        // whatever arrives for the pad bytes is dropped; they read as zeros
        let mut sent = data.clone();
        sent[12] = 0xff;
        for piece in 0..info.piece_count() {
            let r = info.piece_range(piece);
            s.write_block(piece, 0, &sent[r.start as usize..r.end as usize])
                .unwrap();
        }
        let mut back = vec![0u8; data.len()];
        for piece in 0..info.piece_count() {
            let r = info.piece_range(piece);
            s.read_block(piece, 0, &mut back[r.start as usize..r.end as usize])
                .unwrap();
        }
        assert_eq!(back, data);
        assert!(!root.join(".pad").exists());
        assert_eq!(s.paths().count(), 2);
        assert_eq!(s.file_lengths_on_disk().unwrap(), vec![10, 6, 16, 6]);
    }

    fn strings(p: &[&str]) -> Vec<String> {
        p.iter().map(|c| c.to_string()).collect()
    }

    /// A multi-file torrent `t` of these files (`(path, length, symlink target)`).
    fn with_links(files: &[(&str, u64, Option<&str>)]) -> Info {
        let lengths: Vec<u64> = files.iter().map(|f| f.1).collect();
        let data = bytes(lengths.iter().sum::<u64>() as usize, 7);
        let paths = files
            .iter()
            .map(|f| strings(&f.0.split('/').collect::<Vec<_>>()))
            .collect();
        let mut info = info_for("t", paths, &lengths, 16, true, &data);
        for (entry, f) in info.files.iter_mut().zip(files) {
            entry.attr.symlink = f.2.map(|t| strings(&t.split('/').collect::<Vec<_>>()));
        }
        info
    }

    #[test]
    fn executable_files_get_the_x_bit() {
        use std::os::unix::fs::PermissionsExt;
        let mut info = with_links(&[("run.sh", 10, None), ("data", 10, None)]);
        info.files[0].attr.executable = true;
        let tmp = tempfile::tempdir().unwrap();
        Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
        let mode = |n: &str| {
            std::fs::metadata(tmp.path().join("t").join(n))
                .unwrap()
                .permissions()
                .mode()
        };
        assert_eq!(mode("run.sh") & 0o100, 0o100, "owner may run it");
        assert_eq!(mode("data") & 0o111, 0, "no one may run a plain file");
    }

    #[test]
    fn symlinks_are_relative_links_inside_the_torrent() {
        let info = with_links(&[
            ("docs/readme", 10, None),
            ("docs/latest", 0, Some("docs/readme")),
            ("top", 0, Some("docs")),
            ("deep/er/up", 0, Some("docs/readme")),
            ("self", 0, Some("self")),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        let s = Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
        s.write_block(0, 0, &bytes(10, 7)).unwrap();
        let link = |n: &str| std::fs::read_link(root.join(n)).unwrap();
        assert_eq!(link("docs/latest"), Path::new("readme"));
        assert_eq!(link("top"), Path::new("docs"));
        assert_eq!(link("deep/er/up"), Path::new("../../docs/readme"));
        assert_eq!(link("self"), Path::new("self"));
        assert_eq!(
            std::fs::read(root.join("deep/er/up")).unwrap(),
            bytes(10, 7)
        );
        assert_eq!(
            std::fs::read(root.join("top/readme")).unwrap(),
            bytes(10, 7)
        );
        // links hold no torrent bytes; opening again (resume) keeps them
        assert_eq!(s.paths().count(), 1);
        drop(s);
        Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
        assert_eq!(link("deep/er/up"), Path::new("../../docs/readme"));
        // something else at a link's path is an error, not silently replaced
        std::fs::remove_file(root.join("top")).unwrap();
        std::fs::write(root.join("top"), b"mine").unwrap();
        assert!(Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).is_err());
        assert_eq!(std::fs::read(root.join("top")).unwrap(), b"mine");
    }

    #[test]
    fn a_symlink_that_would_leave_the_output_folder_through_another_is_refused() {
        // Each target is inside the torrent as written, but `p/q/a` is a link to `c`, so
        // `p/q/a/b/L` really lives in `c/b/`, where its `../../../../x` climbs two folders
        // above the torrent's root.
        let info = with_links(&[
            ("x", 10, None),
            ("c/b/keep", 10, None),
            ("p/q/a", 0, Some("c")),
            ("p/q/a/b/L", 0, Some("x")),
        ]);
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let err = Storage::open(&info, &OutputTarget::Dir(out.clone())).unwrap_err();
        assert!(err.to_string().contains("would point outside"), "{err}");
        assert!(
            std::fs::symlink_metadata(out.join("t/c/b/L")).is_err(),
            "no escaping link was made"
        );
    }

    #[test]
    fn piece_file_spans_of_a_known_layout() {
        let (info, _) = multi(&[0, 10, 0, 33, 1, 0], 16, 3);
        let tmp = tempfile::tempdir().unwrap();
        let s = Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
        assert_eq!(s.piece_count(), 3);
        assert_eq!(s.piece_file_spans(0), vec![(1, 0, 10), (3, 0, 6)]);
        assert_eq!(s.piece_file_spans(1), vec![(3, 6, 16)]);
        assert_eq!(s.piece_file_spans(2), vec![(3, 22, 11), (4, 0, 1)]);
        assert_eq!(s.piece_file_spans(3), vec![]);
    }

    #[test]
    fn verify_existing_finds_exactly_the_written_pieces() {
        let (info, data) = multi(&[20, 0, 45, 7, 30], 8, 11);
        let tmp = tempfile::tempdir().unwrap();
        let target = OutputTarget::Dir(tmp.path().into());
        let s = Storage::open(&info, &target).unwrap();
        let written = [0u32, 3, 5, 6, info.piece_count() - 1];
        for &p in &written {
            let a = (p * info.piece_length) as usize;
            s.write_block(p, 0, &data[a..a + info.piece_size(p) as usize])
                .unwrap();
        }
        let mut seen = Vec::new();
        let v = s
            .verify_existing(&info, |p, ok| seen.push((p, ok)))
            .unwrap();
        let expect: Vec<bool> = (0..info.piece_count())
            .map(|p| written.contains(&p))
            .collect();
        assert_eq!(v, expect);
        assert_eq!(
            seen,
            (0..info.piece_count())
                .zip(expect.iter().copied())
                .collect::<Vec<_>>()
        );
        // Unwritten pieces below the high-water mark of a file read as holes, not errors, but do
        // not verify; those past the end of a file are short reads.
        let mut buf = [0u8; 8];
        assert_eq!(
            s.read_block(1, 0, &mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn short_file_reads_are_unexpected_eof() {
        let (info, data) = single(100, 16, 5);
        let tmp = tempfile::tempdir().unwrap();
        let s = Storage::open(&info, &OutputTarget::Exact(tmp.path().join("f"))).unwrap();
        s.write_block(0, 0, &data[..16]).unwrap();
        let mut buf = [0u8; 4];
        let err = s.read_block(6, 0, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<StorageError>());
        assert!(
            matches!(inner, Some(StorageError::ShortFile { needed: 100, .. })),
            "{err}"
        );
        assert_eq!(
            s.hash_piece(3).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        // A block partly on disk is also an error, not half garbage.
        let mut buf = [0u8; 16];
        s.write_block(1, 0, &data[16..20]).unwrap();
        assert_eq!(
            s.read_block(1, 0, &mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn reopening_never_truncates() {
        let (info, data) = multi(&[5, 0, 40, 3], 16, 9);
        let tmp = tempfile::tempdir().unwrap();
        let target = OutputTarget::Dir(tmp.path().into());
        {
            let s = Storage::open(&info, &target).unwrap();
            write_all_shuffled(&s, &info, &data, 16, 1);
        }
        let s = Storage::open(&info, &target).unwrap();
        assert!(s.had_existing_data());
        assert_eq!(s.file_lengths_on_disk().unwrap(), vec![5, 0, 40, 3]);
        check_files_on_disk(&s, &info, &data);
        assert_eq!(s.verify_existing(&info, |_, _| {}).unwrap(), vec![true; 3]);

        // Partial data survives a reopen too.
        let (info, data) = single(50, 16, 2);
        let target = OutputTarget::Exact(tmp.path().join("partial"));
        Storage::open(&info, &target)
            .unwrap()
            .write_block(1, 0, &data[16..32])
            .unwrap();
        let s = Storage::open(&info, &target).unwrap();
        assert!(s.had_existing_data());
        assert_eq!(s.file_lengths_on_disk().unwrap(), vec![32]);
        assert_eq!(
            s.verify_existing(&info, |_, _| {}).unwrap(),
            vec![false, true, false, false]
        );
    }

    #[test]
    fn read_only_storage() {
        let (info, data) = multi(&[5, 0, 20], 8, 4);
        let tmp = tempfile::tempdir().unwrap();
        let target = OutputTarget::Dir(tmp.path().into());
        let err = Storage::open_read_only(&info, &target).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(
            !tmp.path().join("multi").exists(),
            "read-only open must create nothing"
        );
        write_all_shuffled(&Storage::open(&info, &target).unwrap(), &info, &data, 3, 8);
        let s = Storage::open_read_only(&info, &target).unwrap();
        assert_eq!(read_everything(&s, &info), data);
        assert_eq!(
            s.write_block(0, 0, b"x").unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
        assert_eq!(s.verify_existing(&info, |_, _| {}).unwrap(), vec![true; 4]);
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let (info, _) = single(100, 16, 5);
        let tmp = tempfile::tempdir().unwrap();
        let s = Storage::open(&info, &OutputTarget::Exact(tmp.path().join("f"))).unwrap();
        let invalid = io::ErrorKind::InvalidInput;
        let mut buf = [0u8; 16];
        assert_eq!(s.write_block(7, 0, &[1]).unwrap_err().kind(), invalid);
        assert_eq!(
            s.write_block(u32::MAX, 0, &[1]).unwrap_err().kind(),
            invalid
        );
        assert_eq!(s.read_block(7, 0, &mut buf).unwrap_err().kind(), invalid);
        assert_eq!(s.hash_piece(7).unwrap_err().kind(), invalid);
        assert_eq!(s.write_block(0, 1, &[0; 16]).unwrap_err().kind(), invalid);
        assert_eq!(s.write_block(0, 17, &[]).unwrap_err().kind(), invalid);
        assert_eq!(
            s.write_block(0, u32::MAX, &[0; 2]).unwrap_err().kind(),
            invalid
        );
        // The last piece is 4 bytes long.
        assert_eq!(
            s.read_block(6, 0, &mut buf[..5]).unwrap_err().kind(),
            invalid
        );
        assert_eq!(
            s.read_block(6, 4, &mut buf[..1]).unwrap_err().kind(),
            invalid
        );
        s.write_block(6, 0, &[1, 2, 3, 4]).unwrap();
        s.write_block(6, 4, &[]).unwrap();
        let err = s.read_block(6, 2, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "piece 6: block at 2 of 16 bytes exceeds piece size 4"
        );
        // Nothing out of range reached the disk.
        assert_eq!(s.file_lengths_on_disk().unwrap(), vec![100]);
    }

    #[test]
    fn inconsistent_layouts_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = OutputTarget::Dir(tmp.path().into());
        let (good, _) = multi(&[5, 10], 4, 1);
        let mut bad = good.clone();
        bad.piece_length = 0;
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good.clone();
        bad.piece_hashes.pop();
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good.clone();
        bad.files[1].offset = 4;
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good.clone();
        bad.total_length += 1;
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good.clone();
        bad.files[1].path = bad.files[0].path.clone();
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good.clone();
        bad.is_multi_file = false;
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let mut bad = good;
        bad.files[1].path.clear();
        assert_eq!(
            Storage::open(&bad, &target).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
    }

    #[test]
    fn malicious_path_components_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        let bad = ["..", ".", "", "a/b", "/etc", "a\\b", "a\0b"];
        for c in bad {
            let (mut info, _) = multi(&[3, 4], 4, 1);
            info.files[1].path = vec!["ok".into(), c.into(), "evil".into()];
            for target in [
                OutputTarget::Dir(inner.clone()),
                OutputTarget::Exact(inner.join("r")),
            ] {
                let err = Storage::open(&info, &target).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{c:?}");
            }
            // The name is a component too when it is joined under a folder.
            let (mut info, _) = single(10, 4, 1);
            info.name = c.into();
            let err = Storage::open(&info, &OutputTarget::Dir(inner.clone())).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{c:?}");
        }
        // Nothing was created anywhere, inside or outside the root.
        assert_eq!(std::fs::read_dir(&inner).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
        // With Exact the single-file name is not used, so a strange name is fine there.
        let (mut info, _) = single(10, 4, 1);
        info.name = "..".into();
        Storage::open(&info, &OutputTarget::Exact(inner.join("file"))).unwrap();
    }

    #[test]
    fn concurrent_writers_and_hashers() {
        let (info, data) = multi(&[1000, 0, 3000, 7, 2000], 64, 6);
        let tmp = tempfile::tempdir().unwrap();
        let s = Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
        let (s, info, data) = (&s, &info, &data);
        std::thread::scope(|scope| {
            for t in 0..4u32 {
                scope.spawn(move || {
                    for p in (t..info.piece_count()).step_by(4) {
                        let a = (p * info.piece_length) as usize;
                        let piece = &data[a..a + info.piece_size(p) as usize];
                        s.write_block(p, 0, piece).unwrap();
                        assert_eq!(s.hash_piece(p).unwrap(), sha1(piece));
                    }
                });
            }
        });
        check_files_on_disk(s, info, data);
    }

    fn layout_of(lengths: &[u64], piece_length: u32) -> Layout {
        let (info, _) = multi(lengths, piece_length, 0);
        Layout::new(&info).unwrap()
    }

    proptest! {
        #[test]
        fn spans_cover_each_piece_exactly_once_in_order(
            lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..300], 1..10),
            piece_length in prop_oneof![1u32..70, Just(16 * 1024)],
        ) {
            let layout = layout_of(&lengths, piece_length);
            let mut covered = 0u64;
            let mut last_file = None;
            for p in 0..layout.piece_count {
                let size = u64::from(layout.piece_size(p).unwrap());
                prop_assert!(size > 0);
                let mut pos = layout.piece_start(p);
                prop_assert_eq!(pos, covered);
                for (i, off, len) in layout.spans(pos, size) {
                    prop_assert!(len > 0);
                    let (f_off, f_len) = layout.files[i];
                    prop_assert!(off + len <= f_len);
                    // Spans are contiguous in absolute terms and move forward through the files.
                    prop_assert_eq!(f_off + off, pos);
                    if let Some(prev) = last_file {
                        prop_assert!(i >= prev);
                    }
                    last_file = Some(i);
                    pos += len;
                }
                prop_assert_eq!(pos, layout.piece_start(p) + size);
                covered = pos;
            }
            prop_assert_eq!(covered, layout.total_length);
        }

        #[test]
        fn block_spans_match_byte_arithmetic(
            lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..100], 1..8),
            piece_length in 1u32..40,
            pick in any::<u64>(),
        ) {
            let layout = layout_of(&lengths, piece_length);
            prop_assume!(layout.piece_count > 0);
            let p = (pick % u64::from(layout.piece_count)) as u32;
            let size = layout.piece_size(p).unwrap();
            let begin = ((pick >> 32) % u64::from(size)) as u32;
            let len = (size - begin) as usize;
            let start = layout.block_start(p, begin, len).unwrap();
            // Each byte lands in the one file whose range holds it.
            let mut byte = start;
            for (i, off, n) in layout.spans(start, len as u64) {
                for k in 0..n {
                    let (f_off, f_len) = layout.files[i];
                    prop_assert!(f_off <= byte && byte < f_off + f_len);
                    prop_assert_eq!(f_off + off + k, byte);
                    byte += 1;
                }
            }
            prop_assert_eq!(byte, start + len as u64);
            prop_assert!(layout.block_start(p, begin, len + 1).is_err());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn random_layouts_round_trip_on_disk(
            lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..200], 1..7),
            piece_length in 1u32..50,
            block in 1u32..20,
            seed in any::<u64>(),
        ) {
            let (info, data) = multi(&lengths, piece_length, seed);
            let tmp = tempfile::tempdir().unwrap();
            let s = Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
            write_all_shuffled(&s, &info, &data, block, seed);
            prop_assert_eq!(read_everything(&s, &info), data.clone());
            check_files_on_disk(&s, &info, &data);
            let v = s.verify_existing(&info, |_, _| {}).unwrap();
            prop_assert!(v.iter().all(|&ok| ok));
        }
    }
}
