//! The Torrents list's model: its sort column and direction, the filter typed after `/`, and
//! the marked rows (multi-select). A leaf: it orders and filters the engine's pictures and
//! knows nothing of the rest of the model (`App` passes what it knows: each torrent's state
//! and queue place).
//!
//! The list shows a *view* of `App::torrents` (which stay in id order): the torrents whose
//! name contains the filter (case-insensitive), in the sort order. The cursor is kept on a
//! torrent (by id), not on a row number, so it stays on the same torrent when a picture, the
//! sort or the filter reorders the rows.

use crate::engine::event::{TorrentId, TorrentSnapshot, TorrentState};
use std::cmp::Ordering;
use std::collections::HashSet;
use tui_input::Input;

/// The Torrents list's sort column (`Added`: id order, the order torrents were added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TorrentSort {
    Added,
    Queue,
    Name,
    Size,
    Progress,
    State,
    Down,
    Up,
    Peers,
    Eta,
}

impl TorrentSort {
    /// The order `s` cycles through.
    pub const ALL: [TorrentSort; 10] = [
        TorrentSort::Added,
        TorrentSort::Queue,
        TorrentSort::Name,
        TorrentSort::Size,
        TorrentSort::Progress,
        TorrentSort::State,
        TorrentSort::Down,
        TorrentSort::Up,
        TorrentSort::Peers,
        TorrentSort::Eta,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TorrentSort::Added => "added",
            TorrentSort::Queue => "#",
            TorrentSort::Name => "name",
            TorrentSort::Size => "size",
            TorrentSort::Progress => "progress",
            TorrentSort::State => "state",
            TorrentSort::Down => "down",
            TorrentSort::Up => "up",
            TorrentSort::Peers => "peers",
            TorrentSort::Eta => "eta",
        }
    }

    pub fn next(self) -> TorrentSort {
        let i = TorrentSort::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(0);
        TorrentSort::ALL[(i + 1) % TorrentSort::ALL.len()]
    }

    /// Whether the column reads best largest first (rates, sizes, progress, peers).
    pub fn descending(self) -> bool {
        matches!(
            self,
            TorrentSort::Size
                | TorrentSort::Progress
                | TorrentSort::Down
                | TorrentSort::Up
                | TorrentSort::Peers
        )
    }
}

/// What `App` knows of a torrent besides its picture, for sorting.
pub struct RowFacts {
    pub state: TorrentState,
    /// Place in the queue (1 is first), if in it.
    pub place: Option<usize>,
}

/// The list's state: sort, filter, marks, cursor.
#[derive(Debug, Clone)]
pub struct TorrentList {
    pub sort: TorrentSort,
    /// The sort's natural direction reversed (`S`).
    pub reverse: bool,
    /// The filter (rows whose name contains it, case-insensitive; empty: every row).
    pub filter: Input,
    /// The filter input has the keyboard.
    pub filtering: bool,
    /// Marked torrents (Space, `V`): `p` and `d` act on all of them.
    pub marked: HashSet<TorrentId>,
    /// The torrent under the cursor (the model's `selected` is its row in the view).
    pub cursor: Option<TorrentId>,
}

impl Default for TorrentList {
    fn default() -> Self {
        TorrentList {
            sort: TorrentSort::Added,
            reverse: false,
            filter: Input::default(),
            filtering: false,
            marked: HashSet::new(),
            cursor: None,
        }
    }
}

/// Seconds left at the current rate (`None`: not downloading, or no rate).
pub fn eta_secs(t: &TorrentSnapshot) -> Option<f64> {
    if t.bytes_left == 0 || t.state != TorrentState::Downloading || t.download_rate < 1.0 {
        return None;
    }
    Some((t.bytes_left as f64 / t.download_rate).min(1e9))
}

/// Fraction done, 0..=1.
pub fn progress(t: &TorrentSnapshot) -> f64 {
    if t.total_length == 0 {
        return if t.state == TorrentState::Seeding {
            1.0
        } else {
            0.0
        };
    }
    (t.total_length - t.bytes_left.min(t.total_length)) as f64 / t.total_length as f64
}

/// The order of states in the State column: what needs attention first.
fn state_rank(s: TorrentState) -> u8 {
    match s {
        TorrentState::Failed => 0,
        TorrentState::Downloading => 1,
        TorrentState::FetchingMetadata => 2,
        TorrentState::Checking => 3,
        TorrentState::Queued => 4,
        TorrentState::Paused => 5,
        TorrentState::Seeding => 6,
    }
}

impl TorrentList {
    /// Whether a torrent named `name` passes the filter.
    pub fn matches(&self, name: &str) -> bool {
        let f = self.filter.value().trim();
        f.is_empty() || name.to_lowercase().contains(&f.to_lowercase())
    }

    /// Whether a filter is set.
    pub fn filtered(&self) -> bool {
        !self.filter.value().trim().is_empty()
    }

    /// The rows to show: indices into `torrents` of those that pass the filter, in the sort
    /// order (ties by id, so the order is stable from one picture to the next).
    pub fn view(
        &self,
        torrents: &[TorrentSnapshot],
        facts: impl Fn(&TorrentSnapshot) -> RowFacts,
    ) -> Vec<usize> {
        let mut rows: Vec<(usize, RowFacts)> = torrents
            .iter()
            .enumerate()
            .filter(|(_, t)| self.matches(&t.name))
            .map(|(i, t)| (i, facts(t)))
            .collect();
        let sort = self.sort;
        let cmp = |a: &(usize, RowFacts), b: &(usize, RowFacts)| -> Ordering {
            let (ta, tb) = (&torrents[a.0], &torrents[b.0]);
            let by = match sort {
                TorrentSort::Added => Ordering::Equal,
                // torrents outside the queue after those in it
                TorrentSort::Queue => {
                    a.1.place
                        .unwrap_or(usize::MAX)
                        .cmp(&b.1.place.unwrap_or(usize::MAX))
                }
                TorrentSort::Name => ta.name.to_lowercase().cmp(&tb.name.to_lowercase()),
                TorrentSort::Size => ta.total_length.cmp(&tb.total_length),
                TorrentSort::Progress => progress(ta).total_cmp(&progress(tb)),
                TorrentSort::State => state_rank(a.1.state).cmp(&state_rank(b.1.state)),
                TorrentSort::Down => ta.download_rate.total_cmp(&tb.download_rate),
                TorrentSort::Up => ta.upload_rate.total_cmp(&tb.upload_rate),
                TorrentSort::Peers => ta.peers.len().cmp(&tb.peers.len()),
                // no estimate last
                TorrentSort::Eta => eta_secs(ta)
                    .unwrap_or(f64::INFINITY)
                    .total_cmp(&eta_secs(tb).unwrap_or(f64::INFINITY)),
            };
            let by = by.then(ta.id.cmp(&tb.id));
            if sort.descending() != self.reverse {
                by.reverse()
            } else {
                by
            }
        };
        rows.sort_by(cmp);
        rows.into_iter().map(|(i, _)| i).collect()
    }

    /// Whether the rows go largest first (for the header's ▼).
    pub fn shows_descending(&self) -> bool {
        self.sort.descending() != self.reverse
    }

    /// Mark or unmark one torrent.
    pub fn toggle_mark(&mut self, id: TorrentId) {
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
    }

    /// Mark every torrent of `ids` (the visible rows), or unmark them all when all are marked.
    pub fn toggle_all(&mut self, ids: &[TorrentId]) {
        if !ids.is_empty() && ids.iter().all(|id| self.marked.contains(id)) {
            for id in ids {
                self.marked.remove(id);
            }
        } else {
            self.marked.extend(ids.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::id::InfoHash;

    fn t(id: TorrentId, name: &str, down: f64) -> TorrentSnapshot {
        let mut t = TorrentSnapshot::fetching_metadata(id, InfoHash([id as u8; 20]), name.into());
        t.download_rate = down;
        t
    }

    fn facts(t: &TorrentSnapshot) -> RowFacts {
        RowFacts {
            state: t.state,
            place: (t.id != 2).then_some(t.id as usize),
        }
    }

    #[test]
    fn view_filters_case_insensitively_and_sorts_with_ties_by_id() {
        let all = [
            t(1, "Beta", 5.0),
            t(2, "alpha", 5.0),
            t(3, "GAMMA beta", 9.0),
        ];
        let mut l = TorrentList::default();
        assert_eq!(l.view(&all, facts), [0, 1, 2]);
        l.filter = Input::new(" BETA ".into());
        assert!(l.filtered());
        assert_eq!(l.view(&all, facts), [0, 2]);
        l.filter.reset();
        l.sort = TorrentSort::Down;
        assert!(l.shows_descending());
        // 9 first, then the tie (5, 5) by id, reversed with the rest
        assert_eq!(l.view(&all, facts), [2, 1, 0]);
        l.reverse = true;
        assert_eq!(l.view(&all, facts), [0, 1, 2]);
        l.reverse = false;
        // torrents outside the queue after those in it
        l.sort = TorrentSort::Queue;
        assert_eq!(l.view(&all, facts), [0, 2, 1]);
        l.sort = TorrentSort::Name;
        assert_eq!(l.view(&all, facts), [1, 0, 2]);
        // the cycle visits every column and comes back
        let mut s = TorrentSort::Added;
        for _ in 0..TorrentSort::ALL.len() {
            s = s.next();
        }
        assert_eq!(s, TorrentSort::Added);
    }

    #[test]
    fn toggle_all_marks_the_given_rows_or_unmarks_them_when_all_are_marked() {
        let mut l = TorrentList::default();
        l.toggle_mark(1);
        l.toggle_all(&[1, 2]);
        assert_eq!(l.marked, HashSet::from([1, 2]));
        l.toggle_all(&[1, 2]);
        assert!(l.marked.is_empty());
        l.toggle_all(&[]);
        assert!(l.marked.is_empty());
        l.toggle_mark(3);
        l.toggle_mark(3);
        assert!(l.marked.is_empty());
    }
}
