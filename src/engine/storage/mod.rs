//! Torrent data on disk: positioned reads and writes of pieces spread over the torrent's files.
//!
//! # Role
//!
//! BitTorrent (BEP 3) addresses data as pieces of `piece_length` bytes over the *concatenation* of
//! all files, in the order the metainfo lists them. [`Storage`] owns one [`std::fs::File`] per
//! torrent file and maps `(piece, begin, len)` onto `(file, offset, len)` spans, so a block that
//! straddles a file boundary becomes several positioned reads or writes.
//!
//! # File selection
//!
//! [`Storage::open_selected`] takes a file selection (issue 17). A skipped file is not created,
//! nor are folders for it; one that already exists is opened and used like any other. The
//! bytes of a skipped, absent file that share a piece with another file (such a piece is
//! downloaded whole when the other file is wanted) go to the hidden part file in the
//! torrent's root folder ([`crate::engine::parts`] describes its layout) and are read back
//! from there. [`Storage::want_file`] later creates the file and copies its bytes in from the
//! part file, so the pieces verified before stay valid; when no absent file has bytes there any
//! more the part file is deleted ([`Storage::remove_parts_if_unneeded`]). A file only ever
//! goes from absent to open, never back: deselecting an open file leaves it where it is.
//!
//! # Concurrency
//!
//! All I/O is positioned (`pread`/`pwrite` through [`FileExt`]), never seek-then-read, so every
//! method takes `&self` and `Storage` is `Send + Sync`: the engine can hash one piece on a blocking
//! thread while another thread writes blocks of a different piece. Writers of the *same* bytes are
//! the caller's business (the picker hands each block to one peer at a time). This relies on Unix
//! positioned I/O; the crate targets Unix only.
//!
//! A file that appears later ([`Storage::want_file`]) gets its handle in a [`OnceLock`] after
//! its bytes were copied from the part file, so a concurrent reader sees either no handle
//! (and reads the part file, which still holds every byte) or the complete copy. `want_file`
//! and [`Storage::remove_parts_if_unneeded`] must run on the thread that writes blocks,
//! between writes: a block of the file written during the copy could land in the part file
//! after its bytes were copied (and be lost), and one written while the part file is deleted
//! could be lost with it. The engine's disk thread runs its jobs one at a time, so a
//! `want_file` job queued there is safe; hasher threads may keep reading meanwhile.
//!
//! # Invariants
//!
//! - The span mapping ([`Storage::piece_file_spans`]) is the single source of truth: every read, write,
//!   hash and presence check goes through the same private span iterator (the `layout`
//!   submodule holds this geometry), which skips zero-length files and yields spans in torrent
//!   order, each non-empty, covering the range exactly once.
//! - The layout is validated at open: `piece_length > 0`, file offsets are contiguous and sum to
//!   `total_length`, and the piece-hash count equals `ceil(total_length / piece_length)`. After
//!   that, offset arithmetic cannot overflow and the mapping cannot index outside the file table.
//! - Files are opened **without truncation** and never preallocated with `set_len`: a completed
//!   file is never rewritten, resume reuses what is there, and sparse writes extend files as data
//!   arrives. A file that is still shorter than its torrent length reads as
//!   [`io::ErrorKind::UnexpectedEof`], never as made-up zeros, unless the part file holds the
//!   missing bytes (a copy from it cut short by a crash): they are read from there, and copied
//!   into the file before the part file is deleted. The bytes of a skipped, absent file read
//!   from the part file, and as `UnexpectedEof` where it does not hold them.
//! - Pad files (BEP 47) are never on disk: writes to them are dropped, reads give zeros.
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

use crate::engine::parts::{self, PartFile};
use crate::proto::metainfo::Info;
use layout::Layout;
use sha1::{Digest, Sha1};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

mod layout;

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
    /// A file on disk ends before the bytes we need (not downloaded yet, or truncated), or a
    /// skipped file that is not on disk has bytes there that the part file does not hold.
    #[error("{}: file ends before byte {needed}", path.display())]
    ShortFile { path: PathBuf, needed: u64 },
    /// A write was attempted on storage opened with [`Storage::open_read_only`].
    #[error("storage at {} is open read-only", root.display())]
    ReadOnly { root: PathBuf },
    /// A block of a skipped file that is not on disk, in a piece no other file shares (so
    /// the part file has no room for it): such pieces are not to be downloaded.
    #[error("{}: the file is skipped and piece {piece} has no room in the part file", path.display())]
    Skipped { path: PathBuf, piece: u32 },
    /// [`Storage::want_file`] of an index past the file table.
    #[error("file {index} out of range: torrent has {count} files")]
    NoSuchFile { index: usize, count: usize },
}

impl StorageError {
    /// The [`io::ErrorKind`] this error travels under.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            StorageError::PieceOutOfRange { .. }
            | StorageError::BlockOutOfRange { .. }
            | StorageError::UnsafeComponent { .. }
            | StorageError::Layout(_)
            | StorageError::Skipped { .. }
            | StorageError::NoSuchFile { .. } => io::ErrorKind::InvalidInput,
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

/// What an entry of the file table is on disk.
#[derive(Debug)]
enum Kind {
    /// A regular file with bytes; BEP 47 `x` sets its executable bit.
    Data { executable: bool },
    /// A BEP 47 pad file: all zeros, never on disk; writes to it are dropped, reads give zeros.
    Pad,
    /// A BEP 47 symlink (length 0, so no span reaches it) at `from` pointing at `to` (paths
    /// inside the torrent), made when the entry is wanted.
    Link { from: Vec<String>, to: Vec<String> },
}

/// One torrent file.
#[derive(Debug)]
struct OpenFile {
    path: PathBuf,
    kind: Kind,
    /// Set once the file is open: at start when it exists or is wanted, later by
    /// [`Storage::want_file`]; never unset. Pad files and links never have one; a data file
    /// without one is skipped and absent, and its bytes in multi-file pieces live in the part
    /// file.
    handle: OnceLock<File>,
    /// Bytes were copied into it from the part file: synced before the part file is deleted,
    /// which deletes the only other copy.
    filled: AtomicBool,
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
    /// The folder symlink targets are relative to (see [`link_base`]).
    link_base: PathBuf,
    /// The part file, for a multi-file torrent with multi-file pieces.
    parts: Option<PartFile>,
    /// Data files without a handle that have bytes in a multi-file piece: while one is left,
    /// the part file may hold bytes that exist nowhere else.
    absent_in_parts: AtomicUsize,
    had_existing_data: bool,
    writable: bool,
    /// Whether any pad file holds bytes: without one, [`Storage::pad_run`] is 0 at once (it
    /// is asked after every block the hasher takes in order).
    has_pads: bool,
}

impl Storage {
    /// Open (creating folders and files, never truncating) every file of `info`.
    pub fn open(info: &Info, target: &OutputTarget) -> io::Result<Storage> {
        Self::open_with(info, target, true, None)
    }

    /// Open the torrent with a file selection: `wanted[i]` for each entry of `info.files`.
    ///
    /// Wanted files are opened or created as by [`Storage::open`] (bytes of theirs that the
    /// part file holds are copied in). A skipped file that exists is opened (never created nor
    /// truncated) and used like any other; one that does not exist is not created, nor are
    /// folders for it, and its bytes in pieces shared with other files go to the part file.
    /// Skipped symlinks are not made. A leftover part file that no absent file needs is
    /// emptied into the files and deleted.
    pub fn open_selected(
        info: &Info,
        target: &OutputTarget,
        wanted: &[bool],
    ) -> io::Result<Storage> {
        Self::open_with(info, target, true, Some(wanted))
    }

    /// Open every file of `info` read-only, for seeding data that is already there.
    ///
    /// Fails with [`io::ErrorKind::NotFound`] if any file is missing; creates nothing.
    /// Writes through the result fail with [`StorageError::ReadOnly`].
    pub fn open_read_only(info: &Info, target: &OutputTarget) -> io::Result<Storage> {
        Self::open_with(info, target, false, None)
    }

    fn open_with(
        info: &Info,
        target: &OutputTarget,
        writable: bool,
        wanted: Option<&[bool]>,
    ) -> io::Result<Storage> {
        let layout = Layout::new(info)?;
        if let Some(w) = wanted
            && w.len() != info.files.len()
        {
            return Err(StorageError::Layout(format!(
                "a selection of {} files for a torrent of {}",
                w.len(),
                info.files.len()
            ))
            .into());
        }
        let wanted_at = |i: usize| wanted.is_none_or(|w| w.get(i).copied().unwrap_or(true));
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
        let root = torrent_root(info, target);
        // a single-file torrent has nothing to straddle (and its root is the file itself)
        let parts = match info.is_multi_file {
            true => PartFile::open(
                root.join(parts::file_name(info)),
                layout.piece_length,
                parts::multi_file_pieces(&layout.files, layout.piece_length),
                writable,
            )?,
            false => None,
        };
        let mut had_existing_data = match &parts {
            Some(p) => p.size()? > 0,
            None => false,
        };
        let mut files = Vec::with_capacity(paths.len());
        for (i, (path, entry)) in paths.into_iter().zip(&info.files).enumerate() {
            let kind = match &entry.attr.symlink {
                _ if entry.attr.pad => Kind::Pad,
                Some(to) => Kind::Link {
                    from: if info.is_multi_file {
                        entry.path.clone()
                    } else {
                        Vec::new()
                    },
                    to: to.clone(),
                },
                None => Kind::Data {
                    executable: entry.attr.executable,
                },
            };
            let file = OpenFile {
                path,
                kind,
                handle: OnceLock::new(),
                filled: AtomicBool::new(false),
            };
            if let Kind::Data { executable } = file.kind {
                // whatever the selection, a file that is there is used; a wanted one that is
                // not is created below (read-only: an error, as the OS reports it)
                let handle = if writable || !wanted_at(i) {
                    open_existing(&file.path, writable)?
                } else {
                    let h = File::open(&file.path).map_err(|e| with_path(e, "open", &file.path))?;
                    Some(h)
                };
                if let Some(h) = handle {
                    let len = h
                        .metadata()
                        .map_err(|e| with_path(e, "stat", &file.path))?
                        .len();
                    had_existing_data |= len > 0;
                    if writable && executable {
                        set_executable(&h).map_err(|e| with_path(e, "chmod", &file.path))?;
                    }
                    let _ = file.handle.set(h);
                }
            }
            files.push(file);
        }
        let storage = Storage {
            layout,
            files,
            root,
            link_base: link_base(info, target),
            parts,
            absent_in_parts: AtomicUsize::new(0),
            had_existing_data,
            writable,
            has_pads: info.files.iter().any(|f| f.attr.pad && f.length > 0),
        };
        for i in (0..storage.files.len()).filter(|i| wanted_at(*i)) {
            if let Kind::Data { .. } = storage.files[i].kind {
                storage.create_file(i)?;
            }
        }
        // links last: a link's folder may be one that a file above created
        for i in (0..storage.files.len()).filter(|i| wanted_at(*i)) {
            if let (true, Kind::Link { from, to }) = (writable, &storage.files[i].kind) {
                create_symlink(&storage.files[i].path, from, to, &storage.link_base)?;
            }
        }
        let absent = (0..storage.files.len())
            .filter(|i| storage.is_absent_in_parts(*i))
            .count();
        storage.absent_in_parts.store(absent, Ordering::SeqCst);
        storage.remove_parts_if_unneeded()?;
        Ok(storage)
    }

    /// Whether file `i` holds bytes, has no handle, and shares a piece with another file.
    fn is_absent_in_parts(&self, i: usize) -> bool {
        let f = &self.files[i];
        matches!(f.kind, Kind::Data { .. })
            && f.handle.get().is_none()
            && self
                .parts
                .as_ref()
                .is_some_and(|p| self.layout.edge_pieces(i).any(|x| p.has_slot(x)))
    }

    /// Create data file `i` (and its folders) unless it is open, copy in what the part file
    /// holds of it, and only then publish its handle: a reader meanwhile sees no handle and
    /// reads the part file, which still holds every byte. `true` when this call set the
    /// handle.
    fn create_file(&self, i: usize) -> io::Result<bool> {
        let f = &self.files[i];
        if f.handle.get().is_some() {
            return Ok(false);
        }
        if !self.writable {
            return Err(self.read_only());
        }
        if let Some(parent) = f.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| with_path(e, "create folder", parent))?;
        }
        let handle = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            // Never truncate: a finished file must survive a restart untouched.
            .truncate(false)
            .open(&f.path)
            .map_err(|e| with_path(e, "open", &f.path))?;
        if let Kind::Data { executable: true } = f.kind {
            set_executable(&handle).map_err(|e| with_path(e, "chmod", &f.path))?;
        }
        if self.fill_from_parts(i, &handle)? {
            f.filled.store(true, Ordering::SeqCst);
        }
        Ok(f.handle.set(handle).is_ok())
    }

    /// Copy into file `i` (open as `handle`) the bytes of it that the part file holds and the
    /// file lacks (from its current end on), head piece first so the file only ever lacks a
    /// tail. `true` when anything was written.
    fn fill_from_parts(&self, i: usize, handle: &File) -> io::Result<bool> {
        let Some(parts) = self.parts.as_ref().filter(|p| p.exists()) else {
            return Ok(false);
        };
        let path = &self.files[i].path;
        let (off, len) = self.layout.files[i];
        let mut buf = Vec::new();
        let mut wrote = false;
        for piece in self.layout.edge_pieces(i).filter(|p| parts.has_slot(*p)) {
            let p_start = self.layout.piece_start(piece);
            let p_end = p_start + u64::from(self.layout.piece_size(piece)?);
            // this file's bytes of the piece, as offsets in the file
            let (a, b) = (p_start.max(off) - off, p_end.min(off + len) - off);
            let on_disk = handle
                .metadata()
                .map_err(|e| with_path(e, "stat", path))?
                .len();
            let from = a.max(on_disk);
            if from >= b {
                continue;
            }
            let rel = off + from - p_start;
            let n = parts.held(piece, rel, b - from)?;
            let mut done = 0u64;
            while done < n {
                let k = (n - done).min(HASH_CHUNK as u64) as usize;
                buf.resize(k, 0);
                if !parts.read(piece, rel + done, &mut buf)? {
                    break; // it shrank meanwhile: what is copied is copied
                }
                handle
                    .write_all_at(&buf, from + done)
                    .map_err(|e| with_path(e, "write", path))?;
                done += k as u64;
                wrote = true;
            }
        }
        Ok(wrote)
    }

    /// Want file `index` from now on: create it (and its folders; a symlink entry: the link),
    /// then copy into it every byte of it that the part file holds, so pieces verified before
    /// stay valid. A file that is already open, or a pad file, needs nothing. When this was
    /// the last absent file with bytes in the part file, the part file is deleted
    /// ([`Storage::remove_parts_if_unneeded`]).
    ///
    /// Call it from the thread that writes blocks, between writes (see the module doc).
    pub fn want_file(&self, index: usize) -> io::Result<()> {
        let count = self.files.len();
        let f = self
            .files
            .get(index)
            .ok_or(StorageError::NoSuchFile { index, count })?;
        match &f.kind {
            Kind::Pad => Ok(()),
            Kind::Link { .. } if !self.writable => Err(self.read_only()),
            Kind::Link { from, to } => create_symlink(&f.path, from, to, &self.link_base),
            Kind::Data { .. } => {
                let counted = self.is_absent_in_parts(index);
                if self.create_file(index)?
                    && counted
                    && self.absent_in_parts.fetch_sub(1, Ordering::SeqCst) == 1
                {
                    self.remove_parts_if_unneeded()?;
                }
                Ok(())
            }
        }
    }

    /// Delete the part file when no absent file has bytes in it any more: first every open
    /// file gets the bytes of its own that it lacks and the part file holds (left over by a
    /// copy that was cut short), and files that got bytes from it are synced, so the part
    /// file never takes the only copy of a byte with it. `true` when it was deleted; nothing
    /// happens for read-only storage.
    pub fn remove_parts_if_unneeded(&self) -> io::Result<bool> {
        let Some(parts) = &self.parts else {
            return Ok(false);
        };
        if !self.writable || self.absent_in_parts.load(Ordering::SeqCst) > 0 || !parts.exists() {
            return Ok(false);
        }
        for (i, f) in self.files.iter().enumerate() {
            if let Some(h) = f.handle.get()
                && self.fill_from_parts(i, h)?
            {
                f.filled.store(true, Ordering::SeqCst);
            }
        }
        for f in self
            .files
            .iter()
            .filter(|f| f.filled.load(Ordering::SeqCst))
        {
            if let Some(h) = f.handle.get() {
                h.sync_data().map_err(|e| with_path(e, "sync", &f.path))?;
            }
        }
        parts.remove()?;
        Ok(true)
    }

    fn read_only(&self) -> io::Error {
        StorageError::ReadOnly {
            root: self.root.clone(),
        }
        .into()
    }

    /// Write `data` at `begin` inside piece `piece`, across file boundaries.
    ///
    /// Bytes of a skipped file that is not on disk go to the part file when the piece has a
    /// slot there, else fail with [`StorageError::Skipped`].
    pub fn write_block(&self, piece: u32, begin: u32, data: &[u8]) -> io::Result<()> {
        if !self.writable {
            return Err(self.read_only());
        }
        let start = self.layout.block_start(piece, begin, data.len())?;
        let piece_start = self.layout.piece_start(piece);
        let mut rest = data;
        for (i, off, len) in self.layout.spans(start, data.len() as u64) {
            // Spans sum to data.len(), so `len` fits in the remaining slice.
            let (chunk, tail) = rest.split_at(len as usize);
            let f = &self.files[i];
            match (f.handle.get(), &f.kind) {
                (Some(handle), _) => handle
                    .write_all_at(chunk, off)
                    .map_err(|e| with_path(e, "write", &f.path))?,
                (None, Kind::Data { .. }) => {
                    let rel = self.layout.files[i].0 + off - piece_start;
                    match self.parts.as_ref().filter(|p| p.has_slot(piece)) {
                        Some(parts) => parts.write(piece, rel, chunk)?,
                        None => {
                            return Err(StorageError::Skipped {
                                path: f.path.clone(),
                                piece,
                            }
                            .into());
                        }
                    }
                }
                (None, _) => {}
            }
            rest = tail;
        }
        Ok(())
    }

    /// Fill `buf` from `begin` inside piece `piece`.
    ///
    /// Bytes not yet on disk (the file is shorter, or it is skipped and absent and the part
    /// file does not hold them) give [`StorageError::ShortFile`]
    /// ([`io::ErrorKind::UnexpectedEof`]).
    pub fn read_block(&self, piece: u32, begin: u32, buf: &mut [u8]) -> io::Result<()> {
        self.layout.block_start(piece, begin, buf.len())?;
        self.read_at(piece, begin, buf)
    }

    /// Read `buf.len()` bytes from `begin` in `piece`, already bounds-checked.
    fn read_at(&self, piece: u32, begin: u32, buf: &mut [u8]) -> io::Result<()> {
        let piece_start = self.layout.piece_start(piece);
        let mut rest = buf;
        for (i, off, len) in self
            .layout
            .spans(piece_start + u64::from(begin), rest.len() as u64)
        {
            let (chunk, tail) = std::mem::take(&mut rest).split_at_mut(len as usize);
            let f = &self.files[i];
            let rel = self.layout.files[i].0 + off - piece_start;
            match (f.handle.get(), &f.kind) {
                (Some(handle), _) => self.read_file(f, handle, piece, rel, off, chunk)?,
                (None, Kind::Data { .. }) => {
                    let held = match self.parts.as_ref().filter(|p| p.has_slot(piece)) {
                        Some(parts) => parts.read(piece, rel, chunk)?,
                        None => false,
                    };
                    if !held {
                        return Err(short_file(f, off + len));
                    }
                }
                (None, _) => chunk.fill(0),
            }
            rest = tail;
        }
        Ok(())
    }

    /// Read `chunk` at `off` of open file `f` (byte `rel` of `piece`). Bytes past its end come
    /// from the part file when it holds them (a copy into the file that was cut short, or a
    /// file that appeared after they were written there).
    fn read_file(
        &self,
        f: &OpenFile,
        handle: &File,
        piece: u32,
        rel: u64,
        off: u64,
        chunk: &mut [u8],
    ) -> io::Result<()> {
        let needed = off + chunk.len() as u64;
        match handle.read_exact_at(chunk, off) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
                return Err(with_path(e, "read", &f.path));
            }
            Err(_) => {}
        }
        let Some(parts) = self.parts.as_ref().filter(|p| p.has_slot(piece)) else {
            return Err(short_file(f, needed));
        };
        let on_disk = handle
            .metadata()
            .map_err(|e| with_path(e, "stat", &f.path))?
            .len();
        let own = on_disk.saturating_sub(off).min(chunk.len() as u64);
        let (mine, theirs) = chunk.split_at_mut(own as usize);
        handle
            .read_exact_at(mine, off)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => short_file(f, needed),
                _ => with_path(e, "read", &f.path),
            })?;
        match parts.read(piece, rel + own, theirs)? {
            true => Ok(()),
            false => Err(short_file(f, needed)),
        }
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
        let mut hasher = Sha1::new();
        let mut done = 0u64;
        while done < size {
            let n = (size - done).min(chunk as u64) as usize;
            let part = &mut buf[..n];
            // done < size <= u32::MAX
            self.read_at(piece, done as u32, part)?;
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
            if let Kind::Data { .. } = self.files[i].kind {
                break;
            }
            run += len;
        }
        run as u32
    }

    /// Whether any of the files, or the part file, already existed (with data) when opened.
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

    /// Paths of the torrent's files that are open on disk, in torrent order: pad files,
    /// symlinks and skipped files that are not on disk have none. The part file is
    /// [`Storage::parts_path`].
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .filter(|f| f.handle.get().is_some())
            .map(|f| f.path.as_path())
    }

    /// Where the part file is (whether or not it exists now), for a torrent that can have one:
    /// a multi-file torrent with a piece shared by two files.
    pub fn parts_path(&self) -> Option<&Path> {
        self.parts.as_ref().map(PartFile::path)
    }

    /// Whether file `index` is open on disk (see [`Storage::paths`]).
    pub fn is_on_disk(&self, index: usize) -> bool {
        self.files
            .get(index)
            .is_some_and(|f| f.handle.get().is_some())
    }

    /// Current on-disk length of each file, in torrent order (0 for a skipped file that is not
    /// on disk, whatever the part file holds of it).
    pub fn file_lengths_on_disk(&self) -> io::Result<Vec<u64>> {
        self.files
            .iter()
            .zip(&self.layout.files)
            .map(|(f, &(_, length))| match (f.handle.get(), &f.kind) {
                (Some(h), _) => h
                    .metadata()
                    .map(|m| m.len())
                    .map_err(|e| with_path(e, "stat", &f.path)),
                (None, Kind::Data { .. }) => Ok(0),
                // a pad file is complete by definition
                (None, _) => Ok(length),
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
        let part_len = match &self.parts {
            Some(p) => p.size()?,
            None => 0,
        };
        // whether the bytes of span (i, off, len) are on disk: in the file, then the part file
        let held = |piece: u32, (i, off, len): (usize, u64, u64)| {
            let own = on_disk
                .get(i)
                .map_or(0, |&d| d.saturating_sub(off).min(len));
            let rel = self.layout.files[i].0 + off + own - self.layout.piece_start(piece);
            own == len
                || self
                    .parts
                    .as_ref()
                    .is_some_and(|p| p.held_within(piece, rel, len - own, part_len) == len - own)
        };
        let mut buf = Vec::new();
        let mut verified = vec![false; count as usize];
        for piece in pieces.into_iter().filter(|p| *p < count) {
            let size = u64::from(self.layout.piece_size(piece)?);
            let present = self
                .layout
                .spans(self.layout.piece_start(piece), size)
                .all(|span| held(piece, span));
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

/// Open `path` if it exists (never creating it); `None` when it, or a folder on its way, is
/// not there.
fn open_existing(path: &Path, writable: bool) -> io::Result<Option<File>> {
    match OpenOptions::new().read(true).write(writable).open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if parts::is_absent(&e) => Ok(None),
        Err(e) => Err(with_path(e, "open", path)),
    }
}

/// Bytes of file `f` up to `needed` are not on disk.
fn short_file(f: &OpenFile, needed: u64) -> io::Error {
    StorageError::ShortFile {
        path: f.path.clone(),
        needed,
    }
    .into()
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

    /// File selection and the part file.
    mod selection {
        use super::*;

        /// 8-byte pieces over f0 [0,10) f1 [10,30) f2 [30,36) f3 [36,49): piece 1 = f0+f1
        /// (slot 0), 2 = f1, 3 = f1+f2 (slot 1), 4 = f2+f3 (slot 2), 5 and 6 = f3.
        fn four_files() -> (Info, Vec<u8>) {
            multi(&[10, 20, 6, 13], 8, 5)
        }

        fn piece<'a>(info: &Info, data: &'a [u8], p: u32) -> &'a [u8] {
            let r = info.piece_range(p);
            &data[r.start as usize..r.end as usize]
        }

        /// Write piece `p` in 3-byte blocks, last block first.
        fn write_piece(s: &Storage, info: &Info, data: &[u8], p: u32) {
            let bytes = piece(info, data, p);
            let starts: Vec<usize> = (0..bytes.len()).step_by(3).collect();
            for &b in starts.iter().rev() {
                let end = (b + 3).min(bytes.len());
                s.write_block(p, b as u32, &bytes[b..end]).unwrap();
            }
        }

        fn hashes_right(s: &Storage, info: &Info, data: &[u8], p: u32) -> bool {
            s.hash_piece(p).ok() == Some(sha1(piece(info, data, p)))
        }

        fn eof(r: io::Result<impl Sized>) -> bool {
            r.is_err_and(|e| e.kind() == io::ErrorKind::UnexpectedEof)
        }

        fn parts_of(tmp: &Path) -> PathBuf {
            tmp.join("multi").join(parts::NAME)
        }

        /// f1 and f3 skipped; the pieces that touch f0 or f2 written.
        fn skipped_and_written(tmp: &Path) -> (Info, Vec<u8>, Storage) {
            let (info, data) = four_files();
            let target = OutputTarget::Dir(tmp.into());
            let s = Storage::open_selected(&info, &target, &[true, false, true, false]).unwrap();
            for p in [0, 1, 3, 4] {
                write_piece(&s, &info, &data, p);
            }
            (info, data, s)
        }

        #[test]
        fn skipped_files_are_not_created_and_shared_pieces_round_trip() {
            let tmp = tempfile::tempdir().unwrap();
            let (info, data, s) = skipped_and_written(tmp.path());
            let root = tmp.path().join("multi");
            // f1 is alone in d1, so no d1 either; f3 would be in d0 beside f0
            assert!(!root.join("d1").exists());
            assert!(!root.join("d0/f3.bin").exists());
            assert_eq!(std::fs::read(root.join("d0/f0.bin")).unwrap(), &data[..10]);
            assert_eq!(
                std::fs::read(root.join("d2/f2.bin")).unwrap(),
                &data[30..36]
            );
            assert_eq!(s.file_lengths_on_disk().unwrap(), vec![10, 0, 6, 0]);
            assert_eq!(s.paths().count(), 2);
            assert!(s.is_on_disk(0) && !s.is_on_disk(1) && !s.is_on_disk(9));
            // the skipped bytes are in the part file only, each at its offset in its slot
            assert_eq!(s.parts_path(), Some(parts_of(tmp.path()).as_path()));
            let part = std::fs::read(parts_of(tmp.path())).unwrap();
            assert_eq!(part.len(), 24);
            assert_eq!(&part[2..8], &data[10..16], "slot 0: f1's head");
            assert_eq!(&part[8..14], &data[24..30], "slot 1: f1's tail");
            assert_eq!(&part[20..24], &data[36..40], "slot 2: f3's head");
            assert_eq!(&part[..2], &[0, 0], "f0's share of piece 1 is in f0");
            // shared pieces read back whole and hash right
            for p in [0, 1, 3, 4] {
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            let mut buf = [0u8; 5];
            s.read_block(1, 1, &mut buf).unwrap();
            assert_eq!(buf, data[9..14]);
            // a piece of skipped files only has no place to go, and reads as short
            let err = s.write_block(2, 0, piece(&info, &data, 2)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(eof(s.read_block(2, 0, &mut buf)));
            assert!(eof(s.hash_piece(5)));
            assert_eq!(
                s.verify_existing(&info, |_, _| {}).unwrap(),
                [true, true, false, true, true, false, false]
            );
            assert!(!s.had_existing_data());
            drop(s);
            // reopened with the same selection, nothing more appears and the data is there
            let target = OutputTarget::Dir(tmp.path().into());
            let s = Storage::open_selected(&info, &target, &[true, false, true, false]).unwrap();
            assert!(s.had_existing_data());
            assert!(!root.join("d1").exists());
            assert_eq!(
                s.verify_existing(&info, |_, _| {}).unwrap(),
                [true, true, false, true, true, false, false]
            );
        }

        #[test]
        fn bytes_the_part_file_does_not_hold_read_as_errors_not_zeros() {
            let (info, data) = four_files();
            let tmp = tempfile::tempdir().unwrap();
            let target = OutputTarget::Dir(tmp.path().into());
            let s = Storage::open_selected(&info, &target, &[true, false, true, false]).unwrap();
            // no part file at all yet
            assert!(eof(s.hash_piece(1)));
            let mut buf = [0u8; 8];
            let err = s.read_block(1, 0, &mut buf).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
            assert!(!parts_of(tmp.path()).exists(), "reading creates nothing");
            // slot 1 written up to f1's tail: slot 2 (past the end) is still short
            write_piece(&s, &info, &data, 3);
            assert!(eof(s.hash_piece(4)));
            assert!(eof(s.read_block(4, 4, &mut buf[..4])));
            let inner = s.read_block(4, 4, &mut buf[..4]).unwrap_err();
            let inner = inner
                .get_ref()
                .and_then(|e| e.downcast_ref::<StorageError>());
            assert!(
                matches!(inner, Some(StorageError::ShortFile { .. })),
                "{inner:?}"
            );
            assert_eq!(
                s.verify_existing(&info, |_, _| {}).unwrap(),
                [false, false, false, true, false, false, false]
            );
        }

        #[test]
        fn want_file_moves_the_bytes_in_and_the_part_file_goes_when_unneeded() {
            let tmp = tempfile::tempdir().unwrap();
            let (info, data, s) = skipped_and_written(tmp.path());
            let root = tmp.path().join("multi");
            s.want_file(1).unwrap();
            let f1 = std::fs::read(root.join("d1/f1.bin")).unwrap();
            assert_eq!(f1.len(), 20);
            assert_eq!(&f1[..6], &data[10..16]);
            assert_eq!(&f1[14..], &data[24..30]);
            assert!(s.is_on_disk(1));
            for p in [0, 1, 3, 4] {
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            // f3 still lives partly in the part file
            assert!(parts_of(tmp.path()).exists());
            // wanting it again, or a file that is there, changes nothing
            s.want_file(1).unwrap();
            s.want_file(0).unwrap();
            assert!(!s.remove_parts_if_unneeded().unwrap());
            s.want_file(3).unwrap();
            assert!(!parts_of(tmp.path()).exists(), "nothing needs it now");
            assert_eq!(
                std::fs::read(root.join("d0/f3.bin")).unwrap(),
                &data[36..40]
            );
            for p in [0, 1, 3, 4] {
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            // the rest now goes to the files, and everything is whole
            for p in [2, 5, 6] {
                write_piece(&s, &info, &data, p);
            }
            assert_eq!(read_everything(&s, &info), data);
            check_files_on_disk(&s, &info, &data);
            assert!(!parts_of(tmp.path()).exists());
            let err = s.want_file(4).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }

        #[test]
        fn selecting_all_at_open_empties_the_part_file() {
            let tmp = tempfile::tempdir().unwrap();
            let (info, data, s) = skipped_and_written(tmp.path());
            drop(s);
            let s = Storage::open(&info, &OutputTarget::Dir(tmp.path().into())).unwrap();
            assert!(!parts_of(tmp.path()).exists());
            assert!(s.had_existing_data());
            assert_eq!(
                s.verify_existing(&info, |_, _| {}).unwrap(),
                [true, true, false, true, true, false, false]
            );
            let f3 = std::fs::read(tmp.path().join("multi/d0/f3.bin")).unwrap();
            assert_eq!(f3, &data[36..40]);
        }

        #[test]
        fn a_copy_cut_short_is_read_from_the_part_file_and_completed() {
            let tmp = tempfile::tempdir().unwrap();
            let (info, data, s) = skipped_and_written(tmp.path());
            drop(s);
            // as if a crash hit `want_file(1)` after creating f1, before copying into it
            let root = tmp.path().join("multi");
            std::fs::create_dir_all(root.join("d1")).unwrap();
            std::fs::write(root.join("d1/f1.bin"), &data[10..13]).unwrap();
            let target = OutputTarget::Dir(tmp.path().into());
            let s = Storage::open_selected(&info, &target, &[true, false, true, false]).unwrap();
            assert!(s.is_on_disk(1), "a skipped file that is there is used");
            for p in [1, 3] {
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            assert_eq!(
                s.verify_existing(&info, |_, _| {}).unwrap(),
                [true, true, false, true, true, false, false]
            );
            s.want_file(3).unwrap();
            assert!(!parts_of(tmp.path()).exists());
            let f1 = std::fs::read(root.join("d1/f1.bin")).unwrap();
            assert_eq!((&f1[..6], &f1[14..]), (&data[10..16], &data[24..30]));
            for p in [0, 1, 3, 4] {
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
        }

        #[test]
        fn a_skipped_file_that_exists_is_used_and_needs_no_part_file() {
            let (info, data) = four_files();
            let tmp = tempfile::tempdir().unwrap();
            let target = OutputTarget::Dir(tmp.path().into());
            write_all_shuffled(&Storage::open(&info, &target).unwrap(), &info, &data, 5, 3);
            let s = Storage::open_selected(&info, &target, &[false; 4]).unwrap();
            assert_eq!(s.paths().count(), 4);
            assert_eq!(s.verify_existing(&info, |_, _| {}).unwrap(), vec![true; 7]);
            write_piece(&s, &info, &data, 3);
            assert!(!parts_of(tmp.path()).exists());
        }

        #[test]
        fn zero_length_and_pad_files_around_shared_pieces() {
            // a [0,5) pad [5,8) e1 (empty) b [8,14) e2 (empty) c [14,24), 8-byte pieces:
            // piece 0 = a + pad (slot 0), piece 1 = b + c (slot 1), piece 2 = c
            let mut data = bytes(5, 1);
            data.extend([0u8; 3]);
            data.extend(bytes(16, 2));
            let paths = vec![
                vec!["a".to_string()],
                vec![".pad".to_string(), "3".to_string()],
                vec!["e1".to_string()],
                vec!["sub".to_string(), "b".to_string()],
                vec!["e2".to_string()],
                vec!["c".to_string()],
            ];
            let mut info = info_for("padded", paths, &[5, 3, 0, 6, 0, 10], 8, true, &data);
            info.files[1].attr.pad = true;
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("out");
            let target = OutputTarget::Exact(root.clone());
            let wanted = [false, false, true, true, false, false];
            let s = Storage::open_selected(&info, &target, &wanted).unwrap();
            assert!(root.join("e1").is_file() && root.join("sub/b").is_file());
            assert!(!root.join("e2").exists() && !root.join("a").exists());
            assert!(!root.join(".pad").exists());
            for p in 0..2 {
                write_piece(&s, &info, &data, p);
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            // pad bytes are known zeros, before and after the selection
            assert_eq!(s.pad_run(0, 5), 3);
            assert_eq!(s.pad_run(0, 0), 0);
            let part = std::fs::read(root.join(parts::NAME)).unwrap();
            assert_eq!(&part[..5], &data[..5]);
            assert_eq!(&part[14..16], &data[14..16], "c's head in slot 1");
            for i in 0..6 {
                s.want_file(i).unwrap();
            }
            assert!(!root.join(parts::NAME).exists());
            assert!(root.join("e2").is_file());
            assert!(!root.join(".pad").exists());
            write_piece(&s, &info, &data, 2);
            assert_eq!(read_everything(&s, &info), data);
            assert_eq!(s.verify_existing(&info, |_, _| {}).unwrap(), vec![true; 3]);
        }

        #[test]
        fn a_single_file_torrent_never_has_a_part_file() {
            let (info, data) = single(40, 16, 3);
            let tmp = tempfile::tempdir().unwrap();
            let target = OutputTarget::Dir(tmp.path().join("d"));
            let s = Storage::open_selected(&info, &target, &[false]).unwrap();
            assert_eq!(s.parts_path(), None);
            assert!(!tmp.path().join("d").exists(), "nothing is created");
            let err = s.write_block(0, 0, &data[..16]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(eof(s.hash_piece(0)));
            assert_eq!(s.verify_existing(&info, |_, _| {}).unwrap(), vec![false; 3]);
            s.want_file(0).unwrap();
            s.write_block(0, 0, &data[..16]).unwrap();
            assert!(hashes_right(&s, &info, &data, 0));
            assert_eq!(std::fs::read_dir(tmp.path().join("d")).unwrap().count(), 1);
        }

        #[test]
        fn bad_selections_and_names_are_handled() {
            let (mut info, data) = four_files();
            let tmp = tempfile::tempdir().unwrap();
            let target = OutputTarget::Dir(tmp.path().into());
            let err = Storage::open_selected(&info, &target, &[true; 3]).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(!tmp.path().join("multi").exists());
            // a torrent file already named like the part file keeps its bytes
            info.files[1].path = vec![parts::NAME.to_string()];
            let s = Storage::open_selected(&info, &target, &[true, true, true, false]).unwrap();
            let own = tmp.path().join("multi").join(parts::NAME);
            assert_eq!(
                s.parts_path(),
                Some(
                    tmp.path()
                        .join("multi")
                        .join(".fast-peer.parts.1")
                        .as_path()
                )
            );
            for p in 0..5 {
                write_piece(&s, &info, &data, p);
                assert!(hashes_right(&s, &info, &data, p), "piece {p}");
            }
            assert_eq!(std::fs::read(&own).unwrap(), &data[10..30]);
            // read-only storage creates nothing, even when asked to
            let ro = Storage::open_read_only(&info, &target);
            assert_eq!(ro.unwrap_err().kind(), io::ErrorKind::NotFound);
            s.want_file(3).unwrap();
            let ro = Storage::open_read_only(&info, &target).unwrap();
            assert!(ro.want_file(3).is_ok(), "already there");
            assert!(ro.remove_parts_if_unneeded().is_ok_and(|gone| !gone));
        }

        #[test]
        fn hashers_see_whole_pieces_while_files_are_wanted() {
            let tmp = tempfile::tempdir().unwrap();
            let (info, data, s) = skipped_and_written(tmp.path());
            let done = AtomicBool::new(false);
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    while !done.load(Ordering::SeqCst) {
                        for p in [1, 3, 4] {
                            assert!(hashes_right(&s, &info, &data, p), "piece {p}");
                        }
                    }
                });
                s.want_file(1).unwrap();
                s.want_file(3).unwrap();
                done.store(true, Ordering::SeqCst);
            });
            assert!(!parts_of(tmp.path()).exists());
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(32))]
            #[test]
            fn any_selection_round_trips_and_completes(
                lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..60], 1..7),
                piece_length in 1u32..40,
                wanted in prop::collection::vec(any::<bool>(), 7),
                pads in prop::collection::vec(prop::bool::weighted(0.25), 7),
                seed in any::<u64>(),
            ) {
                let (mut info, mut data) = multi(&lengths, piece_length, seed);
                let n = lengths.len();
                let (wanted, pads) = (&wanted[..n], &pads[..n]);
                for (f, _) in info.files.iter_mut().zip(pads).filter(|(_, pad)| **pad) {
                    f.attr.pad = true;
                    data[f.offset as usize..(f.offset + f.length) as usize].fill(0);
                }
                info.piece_hashes = data.chunks(piece_length as usize).map(sha1).collect();
                let tmp = tempfile::tempdir().unwrap();
                let target = OutputTarget::Dir(tmp.path().into());
                let s = Storage::open_selected(&info, &target, wanted).unwrap();
                // the pieces a picker fetches: those touching a wanted file (pads are no reason)
                let fetched: Vec<u32> = (0..info.piece_count())
                    .filter(|p| {
                        s.piece_file_spans(*p)
                            .iter()
                            .any(|(i, _, _)| wanted[*i] && !pads[*i])
                    })
                    .collect();
                for &p in &fetched {
                    write_piece(&s, &info, &data, p);
                }
                let paths = file_paths(&info, &target);
                for (i, path) in paths.iter().enumerate() {
                    prop_assert_eq!(path.exists(), wanted[i] && !pads[i], "file {}", i);
                }
                for &p in &fetched {
                    prop_assert!(hashes_right(&s, &info, &data, p));
                }
                let mut order: Vec<usize> = (0..lengths.len()).collect();
                shuffle(&mut order, seed);
                for i in order {
                    s.want_file(i).unwrap();
                    for &p in &fetched {
                        prop_assert!(hashes_right(&s, &info, &data, p));
                    }
                }
                prop_assert!(!parts_of(tmp.path()).exists());
                for p in (0..info.piece_count()).filter(|p| !fetched.contains(p)) {
                    write_piece(&s, &info, &data, p);
                }
                prop_assert_eq!(read_everything(&s, &info), data.clone());
                for (i, f) in info.files.iter().enumerate().filter(|(i, _)| !pads[*i]) {
                    let on_disk = std::fs::read(&paths[i]).unwrap();
                    prop_assert_eq!(
                        &on_disk[..],
                        &data[f.offset as usize..(f.offset + f.length) as usize]
                    );
                }
            }
        }
    }
}
