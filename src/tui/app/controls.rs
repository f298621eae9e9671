//! What the user changes about torrents and the engine: files (the Files pane's keys), order,
//! limits and the queue. Each change is shown at once in the model, held over the engine's
//! pictures until one shows it ([`crate::tui::held`]), and sent as an [`Effect`].

use super::{App, Effect};
use crate::engine::event::TorrentId;
use crate::engine::settings::FileSelection;
use crate::session::protocol::{LimitsChange, QueueMove, SettingsChange};
use crate::tui::action::Action;
use crate::tui::files;

impl App {
    /// Ask for `change` to torrent `id`'s settings, and show it at once.
    pub(super) fn change_settings(&mut self, id: TorrentId, change: SettingsChange) {
        let Some(t) = self.torrents.iter_mut().find(|t| t.id == id) else {
            return;
        };
        let base = t.settings.clone();
        let next = change.apply(base.clone());
        if next == base {
            return;
        }
        if let Some(m) = self.metainfo.get(&id) {
            t.files = next.wants.file_priorities(&m.info).into();
        }
        t.settings = next.clone();
        self.held.settings(id, next);
        self.effects.push(Effect::SetSettings { id, change, base });
    }

    /// Ask for `change` to the engine-wide limits, and show it at once.
    pub(super) fn change_limits(&mut self, change: LimitsChange) {
        let (global, queue) = (self.limits, self.queue_limits);
        let (g, q) = change.apply(global, queue);
        self.limits = g;
        self.queue_limits = q;
        self.held.limits(g, q);
        self.effects.push(Effect::SetLimits {
            change,
            global,
            queue,
        });
    }

    /// A Files pane key: the selected file's (or folder's) priorities, or every file's.
    pub(super) fn change_files(&mut self, action: &Action) {
        let Some(t) = self.torrent() else {
            return;
        };
        let Some(m) = self.metainfo.get(&t.id) else {
            return self.notify("the files are not known yet (waiting for metadata)", false);
        };
        let Some(tree) = self.file_tree.as_ref().filter(|tree| tree.id == t.id) else {
            return;
        };
        let current = files::priorities(t, &m.info);
        let next = match action {
            Action::ToggleFile => tree.toggled(&current),
            Action::RaisePriority => tree.stepped(&current, true),
            Action::LowerPriority => tree.stepped(&current, false),
            Action::WantAll => files::all(&m.info, &current),
            Action::WantNone => files::none(&m.info, &current),
            _ => return,
        };
        if next != current {
            let change = SettingsChange {
                files: Some(FileSelection::Priorities(next)),
                ..SettingsChange::default()
            };
            self.change_settings(t.id, change);
        }
    }

    /// Move the selected torrent in the queue (and show it moved at once).
    pub(super) fn queue_move(&mut self, to: QueueMove) {
        let Some(id) = self.torrent().map(|t| t.id) else {
            return;
        };
        let order = self.queue.clone();
        // not in the picture's queue (none yet): the engine knows where it is
        if order.contains(&id) {
            let next = to.apply(&order, id);
            if next == order {
                return;
            }
            self.queue = next.clone();
            self.held.queue(next);
        }
        self.effects.push(Effect::QueueMove { id, to, order });
    }

    /// The selected torrent's sequential order (or, with `first_last`, its first-last mode)
    /// on or off.
    pub(super) fn toggle_order(&mut self, first_last: bool) {
        let Some(t) = self.torrent() else {
            return;
        };
        let w = &t.settings.wants;
        let change = if first_last {
            SettingsChange {
                first_last: Some(!w.first_last),
                ..SettingsChange::default()
            }
        } else {
            SettingsChange {
                sequential: Some(!w.sequential),
                ..SettingsChange::default()
            }
        };
        self.change_settings(t.id, change);
    }
}
