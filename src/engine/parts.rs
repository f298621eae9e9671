//! The part file: where the bytes of skipped files that share a piece with other files live.
//!
//! # Role
//!
//! With file selection (issue 17) a skipped file is not created on disk. A piece that holds
//! bytes of a wanted file and of a skipped one is still downloaded whole (its SHA-1 covers all
//! of it), so the skipped file's share of it needs a place: the hidden part file
//! `.fast-peer.parts` in the torrent's root folder (libtorrent keeps a `.parts` file for the
//! same reason). [`crate::engine::storage::Storage`] sends those bytes here and reads them back
//! from here; when the file is wanted later they are copied into it, and once no absent file
//! needs the part file any more it is deleted. A single-file torrent has nothing to straddle
//! and never has one.
//!
//! # Layout
//!
//! Only a piece holding bytes of two or more files (zero-length files ignored, pad files
//! counted like any other) can straddle a wanted and a skipped file. These *multi-file
//! pieces* are numbered in piece order, and multi-file piece `k` owns the slot at
//! `k * piece_length`; inside a slot a byte sits at its offset inside the piece. There is no
//! header and no index: the layout follows from the metainfo alone, never from the selection,
//! so a part file written under one selection reads the same under another, after a restart,
//! and for the resume judge ([`crate::engine::resume`]). A file boundary makes at most one
//! multi-file piece, so a torrent has at most as many slots as files.
//!
//! The file is written sparsely (positioned writes, created on the first write that needs
//! it): only bytes that were written take room. A byte past its end is "not there" (the
//! caller reports a short file, never made-up zeros); a hole inside reads as zeros, as a hole
//! in any torrent file does, and the piece hash catches it.
//!
//! # Name
//!
//! `.fast-peer.parts`, unless a top-level entry of the torrent already has that name (compared
//! ignoring ASCII case, for case-insensitive file systems): then `.fast-peer.parts.1`, `.2`,
//! ..., the first that is free. The name depends on the metainfo only, so it is the same on
//! every start.
//!
//! # Concurrency
//!
//! The handle sits behind a [`RwLock`]: positioned reads and writes share it (hasher threads
//! read while the disk thread writes), and only creating the file (first write) and deleting
//! it take it alone.

use crate::proto::metainfo::Info;
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

/// The part file's name when no entry of the torrent takes it.
pub const NAME: &str = ".fast-peer.parts";

/// The part file's name for `info` (see the module doc): [`NAME`], or with the first free
/// numeric suffix when a top-level entry of the torrent has that name.
pub fn file_name(info: &Info) -> String {
    let taken: HashSet<String> = info
        .files
        .iter()
        .filter_map(|f| f.path.first())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let mut name = NAME.to_string();
    let mut n = 0u64;
    // at most `files.len()` names are taken, so this ends within that many steps
    while taken.contains(&name) {
        n += 1;
        name = format!("{NAME}.{n}");
    }
    name
}

/// Where the part file of a multi-file torrent lives, found from its files' paths (`paths`
/// in torrent order, as [`crate::engine::storage::file_paths`] gives them): the root folder
/// is the first file's path without that file's components. `None` for a single-file torrent
/// (it never has one) and for paths that do not fit `info`.
pub fn path_among(info: &Info, paths: &[PathBuf]) -> Option<PathBuf> {
    if !info.is_multi_file {
        return None;
    }
    let (first, entry) = paths.first().zip(info.files.first())?;
    if entry.path.is_empty() {
        return None;
    }
    let root = first.ancestors().nth(entry.path.len())?;
    Some(root.join(file_name(info)))
}

/// The multi-file pieces of a torrent whose files sit at `files` (`(offset, length)`, laid end
/// to end in torrent order), in piece order: each piece that holds bytes of two or more files
/// of non-zero length.
pub fn multi_file_pieces(files: &[(u64, u64)], piece_length: u32) -> Vec<u32> {
    let pl = u64::from(piece_length);
    if pl == 0 {
        return Vec::new();
    }
    let mut out: Vec<u32> = Vec::new();
    // the piece holding the last byte of the previous file with bytes
    let mut last_piece: Option<u64> = None;
    for &(off, len) in files.iter().filter(|f| f.1 > 0) {
        let first = off / pl;
        if last_piece == Some(first)
            && let Ok(p) = u32::try_from(first)
            && out.last() != Some(&p)
        {
            out.push(p);
        }
        last_piece = off.checked_add(len - 1).map(|end| end / pl);
    }
    out
}

/// The part file of one torrent: its path, its slots, and its handle once it exists.
#[derive(Debug)]
pub(crate) struct PartFile {
    path: PathBuf,
    piece_length: u64,
    /// The multi-file pieces in piece order: slot `k` belongs to `multi[k]`.
    multi: Vec<u32>,
    writable: bool,
    /// `None` until the file exists (opened at start, or created by the first write) and
    /// again after [`PartFile::remove`].
    file: RwLock<Option<File>>,
}

impl PartFile {
    /// The part file at `path` for a torrent with these multi-file pieces (see
    /// [`multi_file_pieces`]), opened if it already exists, never created here. `None` when
    /// the torrent has no multi-file piece, so never needs one.
    pub fn open(
        path: PathBuf,
        piece_length: u32,
        multi: Vec<u32>,
        writable: bool,
    ) -> io::Result<Option<PartFile>> {
        if multi.is_empty() || piece_length == 0 {
            return Ok(None);
        }
        let file = match OpenOptions::new().read(true).write(writable).open(&path) {
            Ok(f) => Some(f),
            Err(e) if is_absent(&e) => None,
            Err(e) => return Err(with_path(e, "open", &path)),
        };
        Ok(Some(PartFile {
            path,
            piece_length: u64::from(piece_length),
            multi,
            writable,
            file: RwLock::new(file),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `piece` has a slot here (is a multi-file piece).
    pub fn has_slot(&self, piece: u32) -> bool {
        self.multi.binary_search(&piece).is_ok()
    }

    /// Where byte `rel` of `piece` sits in the file; `None` for a piece without a slot or a
    /// byte outside the piece.
    fn offset(&self, piece: u32, rel: u64) -> Option<u64> {
        let k = self.multi.binary_search(&piece).ok()?;
        if rel >= self.piece_length {
            return None;
        }
        (k as u64).checked_mul(self.piece_length)?.checked_add(rel)
    }

    fn handle(&self) -> RwLockReadGuard<'_, Option<File>> {
        // a panic elsewhere while holding the lock leaves the handle itself intact
        self.file.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write `data` at byte `rel` of `piece`'s slot, creating the file (and the torrent's root
    /// folder) on the first write.
    pub fn write(&self, piece: u32, rel: u64, data: &[u8]) -> io::Result<()> {
        let at = self.offset(piece, rel).ok_or_else(|| self.no_slot(piece))?;
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is open read-only", self.path.display()),
            ));
        }
        if self.handle().is_none() {
            let mut slot = self.file.write().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                if let Some(parent) = self.path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| with_path(e, "create folder", parent))?;
                }
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&self.path)
                    .map_err(|e| with_path(e, "create", &self.path))?;
                *slot = Some(f);
            }
        }
        match &*self.handle() {
            Some(f) => f
                .write_all_at(data, at)
                .map_err(|e| with_path(e, "write", &self.path)),
            // removed between the two locks: only when nothing needs it, so nothing writes
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} was removed", self.path.display()),
            )),
        }
    }

    /// Fill `buf` from byte `rel` of `piece`'s slot. `Ok(false)` when the file does not hold
    /// all of these bytes (it ends before them, or does not exist): the caller reports a short
    /// file.
    pub fn read(&self, piece: u32, rel: u64, buf: &mut [u8]) -> io::Result<bool> {
        let at = self.offset(piece, rel).ok_or_else(|| self.no_slot(piece))?;
        let guard = self.handle();
        let Some(f) = &*guard else {
            return Ok(false);
        };
        match f.read_exact_at(buf, at) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(with_path(e, "read", &self.path)),
        }
    }

    /// How many of the `len` bytes from byte `rel` of `piece`'s slot the file holds (those
    /// before its end); 0 for a piece without a slot or when the file does not exist.
    pub fn held(&self, piece: u32, rel: u64, len: u64) -> io::Result<u64> {
        Ok(self.held_within(piece, rel, len, self.size()?))
    }

    /// [`PartFile::held`] for a file of length `file_len` (asked once for many pieces).
    pub fn held_within(&self, piece: u32, rel: u64, len: u64, file_len: u64) -> u64 {
        match self.offset(piece, rel) {
            Some(at) => file_len.saturating_sub(at).min(len),
            None => 0,
        }
    }

    /// The file's length now; 0 when it does not exist.
    pub fn size(&self) -> io::Result<u64> {
        match &*self.handle() {
            Some(f) => Ok(f
                .metadata()
                .map_err(|e| with_path(e, "stat", &self.path))?
                .len()),
            None => Ok(0),
        }
    }

    /// Whether the file is open (it existed at start or was written since).
    pub fn exists(&self) -> bool {
        self.handle().is_some()
    }

    /// Close and delete the file (gone already is fine). Reads after this find nothing.
    pub fn remove(&self) -> io::Result<()> {
        let mut slot = self.file.write().unwrap_or_else(|e| e.into_inner());
        *slot = None;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(with_path(e, "remove", &self.path)),
        }
    }

    fn no_slot(&self, piece: u32) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "piece {piece} holds bytes of one file only: no slot in {}",
                self.path.display()
            ),
        )
    }
}

/// Whether an open failed because the file (or a folder on its way) is not there.
pub fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Keep the OS error's kind but say which file and what we were doing.
fn with_path(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::metainfo::FileEntry;

    fn info(paths: &[&str], multi: bool) -> Info {
        let files = paths
            .iter()
            .map(|p| FileEntry {
                path: p.split('/').map(str::to_string).collect(),
                length: 1,
                ..FileEntry::default()
            })
            .collect();
        Info {
            name: "t".into(),
            piece_length: 4,
            piece_hashes: Vec::new(),
            files,
            total_length: paths.len() as u64,
            private: false,
            is_multi_file: multi,
        }
    }

    #[test]
    fn multi_file_pieces_of_known_layouts() {
        // 8-byte pieces: f0 [0,10) f1 [10,10) f2 [10,18) f3 [18,26) f4 [26,32) f5 [32,40)
        let files = [(0, 10), (10, 0), (10, 8), (18, 8), (26, 6), (32, 8)];
        // piece 1 = f0+f2, piece 2 = f2+f3, piece 3 = f3+f4, piece 4 = f5 alone
        assert_eq!(multi_file_pieces(&files, 8), vec![1, 2, 3]);
        // three files inside one piece make one multi-file piece
        assert_eq!(multi_file_pieces(&[(0, 2), (2, 3), (5, 1)], 16), vec![0]);
        // piece-aligned files share no piece
        assert!(multi_file_pieces(&[(0, 8), (8, 16), (24, 3)], 8).is_empty());
        assert!(multi_file_pieces(&[(0, 5)], 0).is_empty());
        assert!(multi_file_pieces(&[], 4).is_empty());
    }

    #[test]
    fn the_name_avoids_the_torrents_own_entries() {
        assert_eq!(file_name(&info(&["a", "b/c"], true)), NAME);
        let i = info(&[".FAST-peer.parts/x", ".fast-peer.parts.1", "z"], true);
        assert_eq!(file_name(&i), ".fast-peer.parts.2");
    }

    #[test]
    fn the_path_is_found_from_the_files_paths() {
        let i = info(&["d/e/f", "g"], true);
        let paths = [PathBuf::from("/out/t/d/e/f"), PathBuf::from("/out/t/g")];
        assert_eq!(
            path_among(&i, &paths),
            Some(PathBuf::from("/out/t").join(NAME))
        );
        assert_eq!(path_among(&info(&["f"], false), &paths), None);
        assert_eq!(path_among(&i, &[]), None);
    }

    #[test]
    fn slots_are_written_sparsely_and_short_reads_say_so() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("root").join(NAME);
        assert!(
            PartFile::open(path.clone(), 8, vec![], true)
                .unwrap()
                .is_none()
        );
        let p = PartFile::open(path.clone(), 8, vec![3, 9], true)
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 2];
        assert!(!p.read(9, 0, &mut buf).unwrap(), "nothing there yet");
        assert!(!path.exists(), "reads create nothing");
        assert_eq!(p.size().unwrap(), 0);
        // piece 9 is slot 1: bytes 8.. of the file
        p.write(9, 2, b"xy").unwrap();
        assert_eq!(p.size().unwrap(), 12);
        assert!(p.read(9, 2, &mut buf).unwrap());
        assert_eq!(&buf, b"xy");
        assert!(!p.read(9, 3, &mut buf).unwrap(), "past the end");
        assert_eq!(p.held(9, 0, 8).unwrap(), 4);
        assert_eq!(p.held(3, 0, 8).unwrap(), 8);
        assert_eq!(p.held(4, 0, 8).unwrap(), 0);
        // a piece without a slot is the caller's mistake, not a panic
        assert_eq!(
            p.write(4, 0, b"z").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert!(p.write(3, 8, b"z").is_err(), "outside the piece");
        // reopened, it is found again; removed, it is gone
        drop(p);
        let p = PartFile::open(path.clone(), 8, vec![3, 9], false)
            .unwrap()
            .unwrap();
        assert!(p.exists());
        assert!(p.write(3, 0, b"z").is_err(), "read-only");
        p.remove().unwrap();
        assert!(!path.exists() && !p.exists());
        assert!(!p.read(9, 2, &mut buf).unwrap());
        p.remove().unwrap();
    }
}
