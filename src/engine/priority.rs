//! What the user wants of a torrent's files, and what that makes of its pieces.
//!
//! Files get a [`FilePriority`]: skip, low, normal or high. A piece's priority is the highest
//! of the files it holds bytes of (pad files and empty files hold none), so a piece shared by a
//! wanted and a skipped file is fetched (its bytes of the skipped file go to the storage's
//! part file) and a piece of skipped files only is never requested. In first-last mode the
//! first and last piece of every wanted file come before everything else (a media player reads
//! both ends of a file before it plays).
//!
//! [`select`] turns `--only` / `--exclude` globs into file priorities: a glob is matched
//! against the file's `/`-separated path inside the torrent, without the torrent's name, and
//! `*` matches across folders (`*.mkv` finds `Season 1/e01.mkv`).

/// A piece's priority in the picker: 0 = not wanted, higher first. Files map to 1 (low), 4
/// (normal) and 7 (high); 8 is above every file priority (the first and last pieces of a file
/// in first-last mode).
pub type Priority = u8;

/// The priority of a wanted piece nobody said anything about.
pub const NORMAL: Priority = 4;
/// The highest priority.
pub const TOP: Priority = 8;
use crate::proto::metainfo::Info;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};

/// How much a file is wanted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FilePriority {
    /// Not downloaded (nothing created on disk for it).
    Skip,
    Low,
    #[default]
    Normal,
    High,
}

impl FilePriority {
    /// The picker's priority for pieces of this file (0: not wanted).
    pub fn level(self) -> Priority {
        match self {
            FilePriority::Skip => 0,
            FilePriority::Low => 1,
            FilePriority::Normal => NORMAL,
            FilePriority::High => 7,
        }
    }

    /// One step up (`+` in the dashboard); high stays high.
    pub fn raised(self) -> FilePriority {
        match self {
            FilePriority::Skip => FilePriority::Low,
            FilePriority::Low => FilePriority::Normal,
            FilePriority::Normal | FilePriority::High => FilePriority::High,
        }
    }

    /// One step down (`-`); skip stays skip.
    pub fn lowered(self) -> FilePriority {
        match self {
            FilePriority::High => FilePriority::Normal,
            FilePriority::Normal => FilePriority::Low,
            FilePriority::Low | FilePriority::Skip => FilePriority::Skip,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FilePriority::Skip => "skip",
            FilePriority::Low => "low",
            FilePriority::Normal => "normal",
            FilePriority::High => "high",
        }
    }
}

/// Which files, before the metadata is known (a magnet's files are not known at start).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSelection {
    /// Every file, at normal priority.
    #[default]
    All,
    /// `--only` and `--exclude` globs (see [`select`]).
    Globs {
        only: Vec<String>,
        exclude: Vec<String>,
    },
    /// One priority per file of the torrent, in torrent order.
    Priorities(Vec<FilePriority>),
}

impl FileSelection {
    /// The selection from `--only` / `--exclude` (all files without either).
    pub fn from_globs(only: Vec<String>, exclude: Vec<String>) -> FileSelection {
        if only.is_empty() && exclude.is_empty() {
            FileSelection::All
        } else {
            FileSelection::Globs { only, exclude }
        }
    }

    /// Check the globs parse (before a magnet's metadata makes them matter).
    pub fn validate(&self) -> Result<(), String> {
        match self {
            FileSelection::Globs { only, exclude } => {
                glob_set(only)?;
                glob_set(exclude).map(|_| ())
            }
            _ => Ok(()),
        }
    }

    /// One priority per file of `info`.
    pub fn resolve(&self, info: &Info) -> Result<Vec<FilePriority>, String> {
        let n = info.files.len();
        match self {
            FileSelection::All => Ok(vec![FilePriority::Normal; n]),
            FileSelection::Globs { only, exclude } => select(info, only, exclude),
            FileSelection::Priorities(p) => {
                let mut p = p.clone();
                p.resize(n, FilePriority::Normal);
                Ok(p)
            }
        }
    }
}

/// What the user wants of one torrent: which files, how much, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wants {
    #[serde(default)]
    pub files: FileSelection,
    /// Pieces in index order (streaming), see [`crate::engine::picker::Picker::set_sequential`].
    #[serde(default)]
    pub sequential: bool,
    /// The first and last piece of every wanted file before the rest.
    #[serde(default)]
    pub first_last: bool,
}

impl Wants {
    /// Each file's priority under these wants (a selection that does not apply, such as bad
    /// globs, wants every file: the CLI checks globs before they get here).
    pub fn file_priorities(&self, info: &Info) -> Vec<FilePriority> {
        self.files.resolve(info).unwrap_or_else(|e| {
            tracing::warn!("file selection: {e}; every file wanted");
            vec![FilePriority::Normal; info.files.len()]
        })
    }
}

/// Whether a file holds bytes that are stored (not a pad file, not empty).
fn holds_data(info: &Info, file: usize) -> bool {
    info.files
        .get(file)
        .is_some_and(|f| !f.attr.pad && f.length > 0)
}

/// Each piece's priority from the files' (`files[i]` for `info.files[i]`; missing entries are
/// normal). With `first_last`, the first and last piece of every wanted file get [`TOP`].
pub fn piece_priorities(info: &Info, files: &[FilePriority], first_last: bool) -> Vec<Priority> {
    let pl = u64::from(info.piece_length.max(1));
    let mut out = vec![0 as Priority; info.piece_hashes.len()];
    let last_piece = out.len().saturating_sub(1) as u64;
    for (i, f) in info.files.iter().enumerate() {
        if !holds_data(info, i) {
            continue;
        }
        let level = files.get(i).copied().unwrap_or_default().level();
        if level == 0 {
            continue;
        }
        let first = (f.offset / pl).min(last_piece);
        let last = ((f.offset + f.length - 1) / pl).min(last_piece);
        for p in &mut out[first as usize..=last as usize] {
            *p = (*p).max(level);
        }
        if first_last {
            out[first as usize] = TOP;
            out[last as usize] = TOP;
        }
    }
    out
}

/// A file's path inside the torrent as globs see it: its components joined with `/`.
pub fn glob_path(info: &Info, file: usize) -> String {
    info.files
        .get(file)
        .map(|f| f.path.join("/"))
        .unwrap_or_default()
}

/// A set of globs, or the glob that does not parse.
fn glob_set(globs: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(Glob::new(g).map_err(|e| format!("bad glob {g:?}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// File priorities from `--only` globs (when any, only matching files are wanted) and
/// `--exclude` globs (matching files are skipped). Normal for every wanted file.
pub fn select(
    info: &Info,
    only: &[String],
    exclude: &[String],
) -> Result<Vec<FilePriority>, String> {
    let only_set = glob_set(only)?;
    let exclude_set = glob_set(exclude)?;
    Ok((0..info.files.len())
        .map(|i| {
            let path = glob_path(info, i);
            let wanted =
                (only.is_empty() || only_set.is_match(&path)) && !exclude_set.is_match(&path);
            if wanted {
                FilePriority::Normal
            } else {
                FilePriority::Skip
            }
        })
        .collect())
}

/// Whether a selection wants nothing at all (every file with data skipped).
pub fn wants_nothing(info: &Info, files: &[FilePriority]) -> bool {
    (0..info.files.len())
        .filter(|&i| holds_data(info, i))
        .all(|i| files.get(i).copied().unwrap_or_default() == FilePriority::Skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Files of the given lengths (a path under `pad/` or `.pad/` is a pad file), 10-byte
    /// pieces.
    fn info(files: &[(&str, u64)]) -> Info {
        crate::proto::metainfo::test_info(files, 10)
    }

    use FilePriority::*;

    #[test]
    fn a_piece_takes_the_highest_priority_of_its_files() {
        // a: bytes 0..15 (pieces 0, 1), b: 15..25 (pieces 1, 2), c: 25..40 (pieces 2, 3)
        let i = info(&[("a", 15), ("b", 10), ("c", 15)]);
        assert_eq!(
            piece_priorities(&i, &[Skip, High, Skip], false),
            [0, 7, 7, 0],
            "pieces shared with a wanted file are fetched, the others never"
        );
        assert_eq!(
            piece_priorities(&i, &[Low, Skip, Normal], false),
            [1, 1, NORMAL, NORMAL]
        );
        assert_eq!(
            piece_priorities(&i, &[], false),
            [NORMAL; 4],
            "normal by default"
        );
    }

    #[test]
    fn pad_and_empty_files_want_nothing_and_first_last_tops_both_ends() {
        // a: 0..10, empty, pad 10..20, b: 20..45
        let i = info(&[("a", 10), ("e", 0), ("pad/1", 10), ("b", 25)]);
        assert_eq!(
            piece_priorities(&i, &[Skip, High, High, Low], false),
            [0, 0, 1, 1, 1]
        );
        assert_eq!(
            piece_priorities(&i, &[Normal, Skip, Skip, Low], true),
            [TOP, 0, TOP, 1, TOP]
        );
        assert!(wants_nothing(&i, &[Skip, High, High, Skip]));
        assert!(!wants_nothing(&i, &[Skip, Skip, Skip, Low]));
    }

    #[test]
    fn globs_match_paths_inside_the_torrent() {
        let i = info(&[
            ("Season 1/e01.mkv", 5),
            ("Season 1/e01.srt", 5),
            ("extras/x.mkv", 5),
        ]);
        let only = |g: &[&str], x: &[&str]| {
            let g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
            let x: Vec<String> = x.iter().map(|s| s.to_string()).collect();
            select(&i, &g, &x).unwrap()
        };
        assert_eq!(only(&["*.mkv"], &[]), [Normal, Skip, Normal]);
        assert_eq!(only(&["Season 1/*"], &["*.srt"]), [Normal, Skip, Skip]);
        assert_eq!(only(&[], &["extras/**"]), [Normal, Normal, Skip]);
        assert_eq!(only(&[], &[]), [Normal; 3]);
        assert!(
            select(&i, &["[".into()], &[])
                .unwrap_err()
                .contains("bad glob")
        );
    }

    #[test]
    fn priorities_step_up_and_down() {
        assert_eq!(Skip.raised().raised().raised().raised(), High);
        assert_eq!(High.lowered().lowered().lowered().lowered(), Skip);
    }
}
