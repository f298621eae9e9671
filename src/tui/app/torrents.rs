//! The Torrents list's keys and what the rest of the dashboard asks of the list: the visible
//! rows (sorted, filtered: [`crate::tui::list`]), the cursor that follows its torrent when they
//! reorder, the marks that `p` and `d` act on, the filter input, and each torrent's
//! bottleneck verdict (for the cockpit and the status bar).

use super::{App, Dialog, Effect};
use crate::engine::bottleneck::{EngineLoad, Verdict, verdict};
use crate::engine::event::{TorrentId, TorrentSnapshot, TorrentState};
use crate::tui::action::{Action, Pane};
use crate::tui::list::RowFacts;
use tui_input::backend::crossterm::EventHandler;

/// How many names the "remove N torrents" question lists before "…".
const NAMES_SHOWN: usize = 3;

impl App {
    /// The Torrents list's rows: the torrents that pass the filter, in the sort order.
    pub fn visible(&self) -> Vec<&TorrentSnapshot> {
        self.list
            .view(&self.torrents, |t| RowFacts {
                state: self.state_of(t),
                place: self.queue_position(t.id),
            })
            .into_iter()
            .filter_map(|i| self.torrents.get(i))
            .collect()
    }

    /// The marked torrents among the visible rows (what `p` and `d` act on in the list).
    pub fn marked(&self) -> Vec<&TorrentSnapshot> {
        self.visible()
            .into_iter()
            .filter(|t| self.list.marked.contains(&t.id))
            .collect()
    }

    /// What limits torrent `t`'s download ("bottleneck: ..."): the engine's verdict, with the
    /// engine-wide limit and every torrent's download rate together.
    pub fn verdict(&self, t: &TorrentSnapshot) -> Verdict {
        if self.failed.contains_key(&t.id) {
            return Verdict::Failed;
        }
        let load = EngineLoad {
            download_limit: self.limits.download,
            download_rate: self.torrents.iter().map(|t| t.download_rate).sum(),
        };
        verdict(t, load)
    }

    /// After an action: when the cursor's row was moved (`selected` changed), the cursor
    /// takes the torrent now under it; otherwise the row follows the cursor's torrent through
    /// new pictures, sorts and filters (and moves to a neighbour when it went).
    pub(super) fn sync_cursor(&mut self, before: usize) {
        let ids: Vec<TorrentId> = self.visible().iter().map(|t| t.id).collect();
        let found = self
            .list
            .cursor
            .and_then(|c| ids.iter().position(|id| *id == c));
        match found {
            Some(pos) if self.selected == before => self.selected = pos,
            _ => {
                self.selected = self.selected.min(ids.len().saturating_sub(1));
                self.list.cursor = ids.get(self.selected).copied();
            }
        }
    }

    /// Put the cursor on torrent `id` (clearing a filter that hides it).
    pub(super) fn select_id(&mut self, id: TorrentId) {
        if !self.visible().iter().any(|t| t.id == id) {
            self.list.filter.reset();
        }
        self.list.cursor = Some(id);
        if let Some(pos) = self.visible().iter().position(|t| t.id == id) {
            self.selected = pos;
        }
    }

    /// `p`: in the list with marks, pause every marked torrent (resume them when all are
    /// paused); otherwise the torrent under the cursor.
    pub(super) fn toggle_pause(&mut self) {
        let targets: Vec<(TorrentId, bool)> = if self.pane == Pane::Torrents {
            self.marked()
                .iter()
                .map(|t| (t.id, t.state == TorrentState::Paused))
                .collect()
        } else {
            Vec::new()
        };
        if targets.is_empty() {
            if let Some(t) = self.torrent() {
                let id = t.id;
                let effect = if t.state == TorrentState::Paused {
                    Effect::Resume(id)
                } else {
                    Effect::Pause(id)
                };
                self.effects.push(effect);
            }
            return;
        }
        if targets.iter().all(|(_, paused)| *paused) {
            self.effects
                .extend(targets.iter().map(|(id, _)| Effect::Resume(*id)));
        } else {
            self.effects.extend(
                targets
                    .iter()
                    .filter(|(_, paused)| !paused)
                    .map(|(id, _)| Effect::Pause(*id)),
            );
        }
    }

    /// `d`: ask before removing the marked torrents (in the list), else the cursor's.
    pub(super) fn remove_prompt(&mut self) {
        let marked: Vec<(TorrentId, String)> = if self.pane == Pane::Torrents {
            self.marked()
                .iter()
                .map(|t| (t.id, t.name.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let dialog = match &marked[..] {
            [] => self.torrent().map(|t| Dialog::ConfirmRemove {
                id: t.id,
                name: t.name.clone(),
                ids: vec![t.id],
            }),
            [(id, name)] => Some(Dialog::ConfirmRemove {
                id: *id,
                name: name.clone(),
                ids: vec![*id],
            }),
            [(id, _), ..] => {
                let names: Vec<&str> = marked
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(|(_, n)| n.as_str())
                    .collect();
                let more = if marked.len() > NAMES_SHOWN {
                    ", …"
                } else {
                    ""
                };
                Some(Dialog::ConfirmRemove {
                    id: *id,
                    name: format!("{} torrents ({}{more})", marked.len(), names.join(", ")),
                    ids: marked.iter().map(|(id, _)| *id).collect(),
                })
            }
        };
        if dialog.is_some() {
            self.dialog = dialog;
        }
    }

    /// The list's own keys: marks, filter, sort; Esc clears the filter, then the marks.
    pub(super) fn list_key(&mut self, action: &Action) {
        match action {
            Action::ToggleMark => {
                if let Some(id) = self.torrent().map(|t| t.id) {
                    self.list.toggle_mark(id);
                }
            }
            Action::MarkAll => {
                let ids: Vec<TorrentId> = self.visible().iter().map(|t| t.id).collect();
                self.list.toggle_all(&ids);
            }
            Action::FilterPrompt => self.list.filtering = true,
            Action::SortNext => self.list.sort = self.list.sort.next(),
            Action::SortReverse => self.list.reverse = !self.list.reverse,
            Action::Cancel if self.list.filtered() => self.list.filter.reset(),
            Action::Cancel => self.list.marked.clear(),
            _ => {}
        }
    }

    /// Keys while the filter input has the keyboard: typing filters at once, Enter keeps the
    /// filter and leaves the input, Esc clears it.
    pub(super) fn update_filter(&mut self, action: Action) {
        match action {
            Action::Select => self.list.filtering = false,
            Action::Cancel => {
                self.list.filtering = false;
                self.list.filter.reset();
            }
            Action::NextPane | Action::PrevPane | Action::GoTo(_) => {
                self.list.filtering = false;
                self.apply(action);
            }
            Action::Paste(text) => {
                // one line: a pasted newline would not show in the title
                let line = text.lines().next().unwrap_or_default().trim().to_string();
                let v = format!("{}{line}", self.list.filter.value());
                self.list.filter = tui_input::Input::new(v);
            }
            Action::Key(k) => {
                self.list
                    .filter
                    .handle_event(&ratatui::crossterm::event::Event::Key(k));
            }
            _ => {}
        }
    }
}
