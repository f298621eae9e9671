//! The mouse: a click on a tab opens its pane, a click on a row of a list selects it, the
//! wheel moves the selection (or scrolls) of the pane under the pointer. Everything is
//! resolved against the last frame ([`crate::tui::hits`]); a point on nothing does nothing.
//! The keyboard does all of this too: the mouse is a shortcut, never the only way.

use super::App;
use crate::tui::action::{Action, Pane};
use crate::tui::hits::{Hit, List};

impl App {
    /// A click or a wheel turn (other actions are ignored).
    pub(super) fn on_mouse(&mut self, action: Action) {
        // a dialog has the keyboard; the help closes on anything
        if self.dialog.is_some() {
            return;
        }
        let (col, row, delta) = match action {
            Action::Click { col, row } => (col, row, None),
            Action::Scroll { col, row, delta } => (col, row, Some(delta)),
            _ => return,
        };
        if self.help {
            if delta.is_none() {
                self.help = false;
            }
            return;
        }
        match (self.hits.at(col, row), delta) {
            (Some(Hit::Tab(p)), None) => self.go(p),
            (Some(Hit::Row(list, i)), None) => self.select_row(list, i),
            (Some(Hit::Row(..) | Hit::Body), Some(d)) => self.move_by(i64::from(d)),
            _ => {}
        }
    }

    /// Select row `i` of `list`, when it is there.
    fn select_row(&mut self, list: List, i: usize) {
        match list {
            List::Torrents if self.pane == Pane::Torrents && i < self.visible().len() => {
                self.selected = i;
            }
            List::Peers if self.pane == Pane::Peers => {
                if let Some(p) = self.sorted_peers().get(i) {
                    self.peer = Some(p.addr);
                }
            }
            List::Files if self.pane == Pane::Files => {
                if let Some(t) = self.file_tree.as_mut()
                    && let Some(n) = t.visible().get(i)
                {
                    t.selected = *n;
                }
            }
            List::Decode if self.pane == Pane::Decode => {
                if let Some(n) = self.decode.visible().get(i) {
                    self.decode.selected = *n;
                }
            }
            _ => {}
        }
    }
}
