//! The Files pane's model: a torrent's files as a foldable tree ([`FileTree`]), each file's
//! verified bytes from the piece map ([`verified_bytes`]), and what the pane's keys make of
//! the per-file priority list ([`FileTree::toggled`], [`FileTree::stepped`], [`all`],
//! [`none`]). Pad files (BEP 47) are not in the tree and keep whatever priority they have.
//!
//! The tree depends only on the metainfo; priorities and progress come from the latest
//! snapshot when the pane is drawn. Changed only by `App::update`; the pane
//! (`panes::files`) reads it.

use super::tree;
use crate::engine::event::{PieceView, TorrentId, TorrentSnapshot};
use crate::engine::settings::FilePriority;
use crate::proto::metainfo::Info;
use std::collections::HashMap;

/// What a tree row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Folder,
    /// Index into `Info::files`.
    File(usize),
}

/// One row of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNode {
    pub depth: u16,
    pub name: String,
    pub kind: FileKind,
    /// Bytes: the file's length, or every file's under the folder.
    pub size: u64,
    /// Index just past this node's subtree.
    pub end: usize,
    pub parent: Option<usize>,
}

/// A torrent's files as a tree (folders before nothing: torrent order, each folder where its
/// first file is), which folders are collapsed, and the selected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTree {
    /// The torrent it shows.
    pub id: TorrentId,
    pub nodes: Vec<FileNode>,
    pub collapsed: Vec<bool>,
    /// Selected node (index into `nodes`).
    pub selected: usize,
}

/// A folder being built: its children in first-seen order.
#[derive(Default)]
struct Folder<'a> {
    children: Vec<Child<'a>>,
    by_name: HashMap<&'a str, usize>,
}

enum Child<'a> {
    Folder(&'a str, Folder<'a>),
    File(String, usize),
}

/// Folders deeper than this are shown as one name (`a/b/c`): the tree is built and drawn
/// recursively, and a hostile torrent may nest files thousands of folders deep.
const MAX_DEPTH: usize = 32;

impl<'a> Folder<'a> {
    /// File `index` at `folders` / `leaf`.
    fn insert(&mut self, folders: &'a [String], leaf: String, index: usize) {
        match folders {
            [] => self.children.push(Child::File(leaf, index)),
            [dir, rest @ ..] => {
                let at = match self.by_name.get(dir.as_str()) {
                    Some(&at) => at,
                    None => {
                        self.children.push(Child::Folder(dir, Folder::default()));
                        self.by_name.insert(dir, self.children.len() - 1);
                        self.children.len() - 1
                    }
                };
                if let Some(Child::Folder(_, f)) = self.children.get_mut(at) {
                    f.insert(rest, leaf, index);
                }
            }
        }
    }

    /// Push this folder's children (pre-order) at `depth`; returns their total size.
    fn flatten(
        &self,
        info: &Info,
        nodes: &mut Vec<FileNode>,
        depth: u16,
        parent: Option<usize>,
    ) -> u64 {
        let mut total = 0u64;
        for child in &self.children {
            let me = nodes.len();
            match child {
                Child::File(name, i) => {
                    let size = info.files.get(*i).map_or(0, |f| f.length);
                    nodes.push(FileNode {
                        depth,
                        name: name.to_string(),
                        kind: FileKind::File(*i),
                        size,
                        end: me + 1,
                        parent,
                    });
                    total = total.saturating_add(size);
                }
                Child::Folder(name, f) => {
                    nodes.push(FileNode {
                        depth,
                        name: format!("{name}/"),
                        kind: FileKind::Folder,
                        size: 0,
                        end: me + 1,
                        parent,
                    });
                    let size = f.flatten(info, nodes, depth.saturating_add(1), Some(me));
                    nodes[me].size = size;
                    nodes[me].end = nodes.len();
                    total = total.saturating_add(size);
                }
            }
        }
        total
    }
}

impl FileTree {
    /// The tree of `info`'s files (pad files left out), every folder open.
    pub fn new(id: TorrentId, info: &Info) -> FileTree {
        let mut root = Folder::default();
        for (i, f) in info.files.iter().enumerate() {
            if f.attr.pad {
                continue;
            }
            let cut = f.path.len().saturating_sub(1).min(MAX_DEPTH);
            let leaf = f.path.get(cut..).unwrap_or_default().join("/");
            root.insert(&f.path[..cut], leaf, i);
        }
        let mut nodes = Vec::new();
        root.flatten(info, &mut nodes, 0, None);
        FileTree {
            id,
            collapsed: vec![false; nodes.len()],
            nodes,
            selected: 0,
        }
    }

    /// Node indices shown, in order (collapsed folders' contents skipped).
    pub fn visible(&self) -> Vec<usize> {
        let mut v = Vec::new();
        let mut i = 0;
        while i < self.nodes.len() {
            v.push(i);
            i = if self.collapsed.get(i).copied().unwrap_or(false) {
                self.nodes[i].end.max(i + 1)
            } else {
                i + 1
            };
        }
        v
    }

    /// The files (indices into `Info::files`) under node `i`, or node `i` itself.
    pub fn files_under(&self, i: usize) -> Vec<usize> {
        let Some(n) = self.nodes.get(i) else {
            return Vec::new();
        };
        self.nodes[i..n.end.min(self.nodes.len())]
            .iter()
            .filter_map(|n| match n.kind {
                FileKind::File(f) => Some(f),
                FileKind::Folder => None,
            })
            .collect()
    }

    pub fn is_folder(&self, i: usize) -> bool {
        self.nodes
            .get(i)
            .is_some_and(|n| n.kind == FileKind::Folder)
    }

    pub fn move_by(&mut self, delta: i64) {
        self.selected = tree::moved(&self.visible(), self.selected, delta);
    }

    /// Fold or unfold the selected folder.
    pub fn toggle_fold(&mut self) {
        let branch = self.is_folder(self.selected);
        tree::toggle(&mut self.collapsed, self.selected, branch);
    }

    pub fn expand(&mut self) {
        tree::expand(&mut self.collapsed, self.selected);
    }

    /// Fold the selected folder, or go to its parent when it is folded already or a file.
    pub fn collapse(&mut self) {
        let parent = self.nodes.get(self.selected).and_then(|n| n.parent);
        let folder = self.is_folder(self.selected);
        self.selected = tree::collapse(&mut self.collapsed, self.selected, folder, parent);
    }

    /// `current` after Space on the selected row: a wanted file is skipped, a skipped one
    /// gets normal priority; a folder with any wanted file has all its files skipped, else
    /// all wanted at normal.
    pub fn toggled(&self, current: &[FilePriority]) -> Vec<FilePriority> {
        let files = self.files_under(self.selected);
        let any_wanted = files
            .iter()
            .any(|f| current.get(*f).is_some_and(|p| *p != FilePriority::Skip));
        let to = if any_wanted {
            FilePriority::Skip
        } else {
            FilePriority::Normal
        };
        let mut out = current.to_vec();
        for f in files {
            if let Some(p) = out.get_mut(f) {
                *p = to;
            }
        }
        out
    }

    /// `current` with every file of the selected row one step up (`up`) or down.
    pub fn stepped(&self, current: &[FilePriority], up: bool) -> Vec<FilePriority> {
        let mut out = current.to_vec();
        for f in self.files_under(self.selected) {
            if let Some(p) = out.get_mut(f) {
                *p = if up { p.raised() } else { p.lowered() };
            }
        }
        out
    }
}

/// `current` with every skipped file (pad files aside) at normal priority.
pub fn all(info: &Info, current: &[FilePriority]) -> Vec<FilePriority> {
    set_every(info, current, |p| {
        if p == FilePriority::Skip {
            FilePriority::Normal
        } else {
            p
        }
    })
}

/// `current` with every file (pad files aside) skipped.
pub fn none(info: &Info, current: &[FilePriority]) -> Vec<FilePriority> {
    set_every(info, current, |_| FilePriority::Skip)
}

fn set_every(
    info: &Info,
    current: &[FilePriority],
    f: impl Fn(FilePriority) -> FilePriority,
) -> Vec<FilePriority> {
    let mut out = current.to_vec();
    for (p, file) in out.iter_mut().zip(&info.files) {
        if !file.attr.pad {
            *p = f(*p);
        }
    }
    out
}

/// Each file's priority as the torrent has it: the snapshot's when it covers every file, else
/// what its settings resolve to (normal for files they do not name).
pub fn priorities(t: &TorrentSnapshot, info: &Info) -> Vec<FilePriority> {
    if t.files.len() == info.files.len() {
        t.files.to_vec()
    } else {
        t.settings.wants.file_priorities(info)
    }
}

/// Each file's verified bytes: the bytes of its pieces that `pieces` shows verified, clipped
/// to the file. Pieces the map does not have count as missing.
pub fn verified_bytes(info: &Info, pieces: &[PieceView]) -> Vec<u64> {
    let pl = u64::from(info.piece_length.max(1));
    info.files
        .iter()
        .map(|f| {
            if f.length == 0 || f.attr.pad {
                return 0;
            }
            let end = f.offset.saturating_add(f.length);
            let first = f.offset / pl;
            let last = (end - 1) / pl;
            (first..=last)
                .filter(|p| {
                    usize::try_from(*p)
                        .ok()
                        .and_then(|p| pieces.get(p))
                        .is_some_and(|v| *v == PieceView::Verified)
                })
                .map(|p| {
                    let (lo, hi) = (p * pl, p.saturating_add(1).saturating_mul(pl));
                    hi.min(end).saturating_sub(lo.max(f.offset))
                })
                .sum()
        })
        .collect()
}

/// The info hash of the .torrent file at `path` (read here: the add dialog needs it to open
/// the torrent's files once the engine has it).
pub fn info_hash_of_file(path: &std::path::Path) -> Result<crate::proto::id::InfoHash, String> {
    use crate::proto::metainfo::{MAX_TORRENT_FILE, Metainfo};
    let shown = path.display();
    let len = std::fs::metadata(path)
        .map_err(|e| format!("read {shown}: {e}"))?
        .len();
    if len > MAX_TORRENT_FILE {
        return Err(format!("{shown}: {len} bytes is too big for a .torrent"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("read {shown}: {e}"))?;
    Metainfo::from_bytes(&bytes)
        .map(|m| m.info_hash)
        .map_err(|e| format!("parse {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use FilePriority::*;

    /// Files of the given lengths (a path under `pad/` or `.pad/` is a pad file), 10-byte
    /// pieces.
    fn info(files: &[(&str, u64)]) -> Info {
        crate::proto::metainfo::test_info(files, 10)
    }

    #[test]
    fn the_tree_groups_folders_in_first_seen_order_without_pad_files() {
        let i = info(&[
            ("b/x", 5),
            (".pad/5", 5),
            ("a", 3),
            ("b/c/y", 4),
            ("b/z", 1),
        ]);
        let t = FileTree::new(1, &i);
        let rows: Vec<(u16, &str, u64)> = t
            .nodes
            .iter()
            .map(|n| (n.depth, n.name.as_str(), n.size))
            .collect();
        assert_eq!(
            rows,
            [
                (0, "b/", 10),
                (1, "x", 5),
                (1, "c/", 4),
                (2, "y", 4),
                (1, "z", 1),
                (0, "a", 3)
            ]
        );
        assert_eq!(t.files_under(0), [0, 3, 4]);
        let mut t = t;
        t.collapsed[0] = true;
        assert_eq!(t.visible(), [0, 5]);
    }

    #[test]
    fn keys_change_the_per_file_list() {
        let i = info(&[("d/a", 5), ("d/b", 5), (".pad/5", 5), ("c", 5)]);
        let mut t = FileTree::new(1, &i);
        let cur = [Normal, Skip, Normal, High];
        // the folder has a wanted file: all skipped; then all wanted
        assert_eq!(t.toggled(&cur), [Skip, Skip, Normal, High]);
        assert_eq!(
            t.toggled(&[Skip, Skip, Normal, High]),
            [Normal, Normal, Normal, High]
        );
        t.selected = 3; // c
        assert_eq!(t.toggled(&cur), [Normal, Skip, Normal, Skip]);
        assert_eq!(t.stepped(&cur, false), [Normal, Skip, Normal, Normal]);
        t.selected = 0;
        assert_eq!(t.stepped(&cur, true), [High, Low, Normal, High]);
        assert_eq!(all(&i, &cur), [Normal, Normal, Normal, High]);
        assert_eq!(
            none(&i, &cur),
            [Skip, Skip, Normal, Skip],
            "pad files untouched"
        );
        // a list shorter than the files (hostile) is not grown nor indexed out of range
        assert_eq!(t.toggled(&[Normal]), [Skip]);
    }

    #[test]
    fn verified_bytes_are_clipped_to_each_file() {
        // a: 0..15, b: 15..25, empty, c: 25..40; pieces of 10
        let i = info(&[("a", 15), ("b", 10), ("e", 0), ("c", 15)]);
        use PieceView::*;
        let v = verified_bytes(&i, &[Verified, Verified, Missing, Verified]);
        assert_eq!(v, [15, 5, 0, 10]);
        assert_eq!(
            verified_bytes(&i, &[]),
            [0, 0, 0, 0],
            "no map: nothing verified"
        );
    }
}
