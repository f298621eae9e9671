//! Where the last frame drew what the mouse can reach: the tabs, the rows of the lists, the
//! pane. The view records each area as it renders ([`Hits`] lives in the model behind a lock,
//! because rendering only borrows the model); a click or a wheel turn is resolved against
//! the last frame in `App::update` ([`Hits::at`]). A point outside every area is nothing.

use super::action::Pane;
use ratatui::layout::{Position, Rect};
use ratatui::widgets::Block;
use std::sync::Mutex;

/// A list whose rows can be clicked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Torrents,
    Peers,
    /// The Files pane's tree; rows count its visible nodes.
    Files,
    /// The decode pane's tree; rows count its visible nodes.
    Decode,
}

/// What is under a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Tab(Pane),
    /// Row `index` of a list, counted from the list's first row (not the first one shown).
    Row(List, usize),
    /// The pane, outside any row.
    Body,
}

#[derive(Debug, Clone, Copy)]
enum Region {
    Tab(Pane),
    /// Rows of `list`; the top one is row `first`.
    Rows {
        list: List,
        first: usize,
    },
    Body,
}

/// The areas of the last frame, in drawing order.
#[derive(Debug, Default)]
pub struct Hits {
    regions: Mutex<Vec<(Rect, Region)>>,
}

impl Hits {
    fn push(&self, area: Rect, region: Region) {
        if area.is_empty() {
            return;
        }
        if let Ok(mut r) = self.regions.lock() {
            r.push((area, region));
        }
    }

    /// Forget the last frame (a new one is drawn).
    pub fn clear(&self) {
        if let Ok(mut r) = self.regions.lock() {
            r.clear();
        }
    }

    /// Pane `pane`'s tab is drawn in `area`.
    pub fn tab(&self, area: Rect, pane: Pane) {
        self.push(area, Region::Tab(pane));
    }

    /// The current pane is drawn in `area`.
    pub fn body(&self, area: Rect) {
        self.push(area, Region::Body);
    }

    /// The rows of `list`, one a line, fill `area` from its top; the top one is row `first`.
    pub fn rows(&self, list: List, area: Rect, first: usize) {
        self.push(area, Region::Rows { list, first });
    }

    /// A table in a bordered block at `area` with a one-line header, scrolled to `offset`
    /// (ratatui's `TableState::offset` after rendering).
    pub fn table(&self, list: List, area: Rect, offset: usize) {
        let inner = Block::bordered().inner(area);
        let rows = Rect {
            y: inner.y.saturating_add(1),
            height: inner.height.saturating_sub(1),
            ..inner
        };
        self.rows(list, rows, offset);
    }

    /// What the last frame drew at column `col`, row `row` (the topmost of what overlaps).
    pub fn at(&self, col: u16, row: u16) -> Option<Hit> {
        let regions = self.regions.lock().ok()?;
        let at = Position::new(col, row);
        let (area, region) = regions.iter().rev().find(|(a, _)| a.contains(at))?;
        Some(match *region {
            Region::Tab(p) => Hit::Tab(p),
            Region::Rows { list, first } => {
                Hit::Row(list, first.saturating_add(usize::from(row - area.y)))
            }
            Region::Body => Hit::Body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_resolve_to_the_topmost_area_and_rows_count_from_the_offset() {
        let h = Hits::default();
        h.tab(Rect::new(10, 0, 8, 1), Pane::Peers);
        h.body(Rect::new(0, 1, 80, 20));
        h.table(List::Torrents, Rect::new(0, 1, 80, 10), 5);
        assert_eq!(h.at(10, 0), Some(Hit::Tab(Pane::Peers)));
        assert_eq!(h.at(17, 0), Some(Hit::Tab(Pane::Peers)));
        assert_eq!(h.at(18, 0), None);
        // the border and the header are the pane, not rows
        assert_eq!(h.at(5, 1), Some(Hit::Body));
        assert_eq!(h.at(5, 2), Some(Hit::Body));
        assert_eq!(h.at(5, 3), Some(Hit::Row(List::Torrents, 5)));
        assert_eq!(h.at(5, 5), Some(Hit::Row(List::Torrents, 7)));
        assert_eq!(h.at(0, 5), Some(Hit::Body), "the left border");
        assert_eq!(h.at(5, 15), Some(Hit::Body));
        for (c, r) in [(u16::MAX, u16::MAX), (0, u16::MAX), (u16::MAX, 3), (80, 5)] {
            assert_eq!(h.at(c, r), None);
        }
        h.clear();
        assert_eq!(h.at(10, 0), None);
        // an empty area is never hit; a table too small for rows has none
        h.table(List::Peers, Rect::new(0, 0, 10, 2), 0);
        h.rows(List::Files, Rect::new(0, 0, 0, 5), 0);
        assert_eq!(h.at(0, 0), None);
        assert_eq!(h.at(1, 1), None);
    }
}
