//! The BitTorrent v2 `file tree` (BEP 52) read into a flat file list, and the consistency
//! check of hybrid torrents, both the way libtorrent 2.0 does them (`extract_files2`,
//! `add_file_borrow` and `files_compatible` in its `torrent_info.cpp` / `file_storage.cpp`).
//!
//! A hybrid torrent carries its files twice: v1 `files` (or `length`) and the v2 `file tree`.
//! Both must describe the same data at the same offsets, or a v1 peer and a v2 peer would
//! build different files from the same swarm: libtorrent refuses such a torrent, and so do we.
//! When they agree, the v2 list is the torrent's file list (its pad files are named
//! `.pad/<length>`), as in libtorrent.
//!
//! One deliberate difference: a top-level `file tree` name that sanitises to nothing (`..`)
//! makes libtorrent's file the root folder itself, a path no file can have; here it gets a
//! free name inside the root (`_`, or `_.1` and so on), after every other file is named.

use super::paths::{PendingFile, sanitize_component, sanitize_symlinks};
use super::{FileEntry, MAX_TOTAL_LENGTH, MetainfoError, check_leaf, length_and_attributes};
use crate::proto::bencode::Value;

/// libtorrent refuses folders nested deeper than this.
const MAX_DEPTH: usize = 100;

/// The files of a v2 `file tree`, in tree order, each followed by a pad file up to the next
/// piece boundary as BEP 52 lays them out. Paths are sanitised and relative to the torrent's
/// root folder; a single file at the top of a tree without v1 `files` has just its own name
/// (a single-file torrent). Symlinks are sanitised; duplicates are not yet renamed. A path is
/// empty when a top-level name sanitises to nothing (see the module doc); duplicate renaming
/// names it.
pub(super) fn files_of_tree(
    tree: &Value,
    has_files: bool,
    piece_length: u32,
) -> Result<Vec<PendingFile>, MetainfoError> {
    let mut walk = Walk {
        out: Vec::new(),
        total: 0,
        piece_length: u64::from(piece_length),
        single_file: false,
    };
    walk.folder(tree, &[], has_files, 0)?;
    let mut files = walk.out;
    sanitize_symlinks(&mut files);
    Ok(files)
}

struct Walk {
    out: Vec<PendingFile>,
    total: u64,
    piece_length: u64,
    /// The file being read is the torrent's only file, named by its key alone.
    single_file: bool,
}

fn bad(reason: &str) -> MetainfoError {
    MetainfoError::BadFileTree(reason.to_owned())
}

impl Walk {
    fn folder(
        &mut self,
        tree: &Value,
        root: &[String],
        has_files: bool,
        depth: usize,
    ) -> Result<(), MetainfoError> {
        let entries = tree
            .as_dict()
            .ok_or_else(|| bad("a folder is not a dictionary"))?;
        if depth > MAX_DEPTH {
            return Err(bad("folders nested too deep"));
        }
        for (key, value) in entries {
            let node = value
                .as_dict()
                .ok_or_else(|| bad("an entry is not a dictionary"))?;
            if key.is_empty() {
                return Err(bad("an empty name"));
            }
            let leaf = node.len() == 1 && node.keys().next().is_some_and(|k| k.is_empty());
            let single_file = leaf && !has_files && entries.len() == 1;
            self.single_file = single_file;
            let mut path = if single_file {
                Vec::new()
            } else {
                root.to_vec()
            };
            let name = &key[key.iter().take_while(|&&b| b == b'/').count()..];
            path.extend(sanitize_component(name));
            match node.get(&b""[..]) {
                Some(file) if leaf => self.file(file, path)?,
                _ => self.folder(value, &path, true, depth + 1)?,
            }
        }
        Ok(())
    }

    /// One file's leaf dictionary (the value of the empty key).
    fn file(&mut self, leaf: &Value, path: Vec<String>) -> Result<(), MetainfoError> {
        if leaf.as_dict().is_none() {
            return Err(bad("a file is not a dictionary"));
        }
        if path.is_empty() && self.single_file {
            return Err(bad("a file without a usable name"));
        }
        let what = format!("`file tree` entry {}", path.join("/"));
        let (length, attr) = length_and_attributes(leaf, &what)?;
        if attr.pad {
            return Err(bad("a pad file in the `file tree`"));
        }
        if attr.symlink.is_none() && length > 0 {
            let root = leaf.get(b"pieces root").and_then(Value::as_bytes);
            if !root.is_some_and(|r| r.len() == 32 && r.iter().any(|&b| b != 0)) {
                return Err(MetainfoError::MissingPiecesRoot(what));
            }
        }
        check_leaf(path.last().map_or("", String::as_str))?;
        let too_large = || MetainfoError::TotalTooLarge {
            what: what.clone(),
            max: MAX_TOTAL_LENGTH,
        };
        let offset = self.total;
        self.total = offset
            .checked_add(length)
            .filter(|&t| t <= MAX_TOTAL_LENGTH)
            .ok_or_else(too_large)?;
        self.out.push(PendingFile {
            entry: FileEntry {
                path,
                length,
                offset,
                attr,
            },
            pathless_pad: false,
        });
        // BEP 52: every file starts on a piece boundary, so pad up to the next one
        let fill = (self.piece_length - self.total % self.piece_length) % self.piece_length;
        if fill > 0 {
            let offset = self.total;
            self.total = offset
                .checked_add(fill)
                .filter(|&t| t <= MAX_TOTAL_LENGTH)
                .ok_or_else(too_large)?;
            let mut pad = FileEntry {
                path: vec![".pad".into(), fill.to_string()],
                length: fill,
                offset,
                ..FileEntry::default()
            };
            pad.attr.pad = true;
            self.out.push(PendingFile {
                entry: pad,
                pathless_pad: false,
            });
        }
        Ok(())
    }
}

/// Check that the v2 files of a hybrid torrent describe the v1 files: the same number of
/// files, the same total, and every file that holds data (not a pad file, not empty) at the
/// same index with the same path, length and offset. Attributes may differ (libtorrent
/// ignores them too). Hybrids made before libtorrent 2.0.8 have no pad file after the last v1
/// file; the v2 list's tail padding is dropped to match them.
pub(super) fn check_hybrid(
    v2: &mut Vec<PendingFile>,
    v1: &[FileEntry],
) -> Result<Hybrid, MetainfoError> {
    let removed_tail_pad = v2.len() == v1.len() + 1 && remove_tail_padding(v2);
    let differ = |why: String| Err(MetainfoError::InconsistentHybrid(why));
    if v2.len() != v1.len() {
        return differ(format!("{} files in v2, {} in v1", v2.len(), v1.len()));
    }
    let end = |f: &FileEntry| f.offset + f.length;
    let v2_total = v2.last().map_or(0, |f| end(&f.entry));
    let v1_total = v1.last().map_or(0, end);
    if v2_total != v1_total {
        return differ(format!("{v2_total} bytes in v2, {v1_total} in v1"));
    }
    let holds_data = |f: &FileEntry| !f.attr.pad && f.length > 0;
    for (i, (a, b)) in v2.iter().map(|p| &p.entry).zip(v1).enumerate() {
        if holds_data(a) != holds_data(b) {
            return differ(format!("file {i} holds data in one version only"));
        }
        if holds_data(a) && (a.path != b.path || a.length != b.length || a.offset != b.offset) {
            return differ(format!(
                "file {i} is {} ({} bytes at {}) in v2, {} ({} bytes at {}) in v1",
                a.path.join("/"),
                a.length,
                a.offset,
                b.path.join("/"),
                b.length,
                b.offset
            ));
        }
    }
    Ok(Hybrid { removed_tail_pad })
}

/// What [`check_hybrid`] did to the v2 file list.
pub(super) struct Hybrid {
    /// The pad file after the last file was dropped; libtorrent still counts its `.pad`
    /// folder when it renames duplicates.
    pub removed_tail_pad: bool,
}

/// Drop the pad file after the last file that holds bytes (empty files after it move back);
/// false when there is none.
fn remove_tail_padding(files: &mut Vec<PendingFile>) -> bool {
    let Some(last) = files.iter().rposition(|f| f.entry.length > 0) else {
        return false;
    };
    if !files[last].entry.attr.pad {
        return false;
    }
    let pad = files.remove(last).entry;
    for f in &mut files[last..] {
        f.entry.offset = pad.offset;
    }
    true
}
