//! The modal dialogs' keys (`App::update` hands them every action while one is open): quit
//! and remove confirmations (of one torrent, or of every marked one), the add dialog (a path
//! or a magnet, and "choose files first"), and the limits dialog.

use super::{App, Dialog, Effect};
use crate::proto::magnet;
use crate::tui::action::Action;
use crate::tui::files;
use crate::tui::limits::LimitsForm;
use ratatui::crossterm::event::KeyCode;
use std::path::PathBuf;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

impl App {
    /// An action while a dialog is open.
    pub(super) fn update_dialog(&mut self, action: Action) {
        let Some(dialog) = self.dialog.take() else {
            return;
        };
        match dialog {
            Dialog::ConfirmQuit => match action {
                Action::Key(k) if matches!(k.code, KeyCode::Char('y' | 'Y' | 'q')) => {
                    self.should_quit = true
                }
                Action::Key(k) if matches!(k.code, KeyCode::Enter) => self.should_quit = true,
                _ => {}
            },
            Dialog::ConfirmRemove { id, name, ids } => match action {
                Action::Key(k) if matches!(k.code, KeyCode::Char('k' | 'K' | 'y' | 'Y')) => {
                    self.remove_now(&ids, false)
                }
                Action::Key(k) if matches!(k.code, KeyCode::Char('D')) => {
                    self.remove_now(&ids, true)
                }
                Action::Cancel => {}
                Action::Key(k) if matches!(k.code, KeyCode::Char('n' | 'N')) => {}
                _ => self.dialog = Some(Dialog::ConfirmRemove { id, name, ids }),
            },
            Dialog::AddPath {
                mut input,
                mut choose_files,
            } => match action {
                Action::Cancel => {}
                Action::Select => self.add(input.value().trim(), choose_files),
                Action::Key(k) => {
                    if matches!(k.code, KeyCode::Tab | KeyCode::BackTab) {
                        choose_files = !choose_files;
                    } else {
                        input.handle_event(&ratatui::crossterm::event::Event::Key(k));
                    }
                    self.dialog = Some(Dialog::AddPath {
                        input,
                        choose_files,
                    });
                }
                Action::Paste(t) => {
                    let v = format!("{}{}", input.value(), t.trim());
                    self.dialog = Some(Dialog::AddPath {
                        input: Input::new(v),
                        choose_files,
                    });
                }
                _ => {
                    self.dialog = Some(Dialog::AddPath {
                        input,
                        choose_files,
                    })
                }
            },
            Dialog::Limits(form) => self.update_limits(form, action),
        }
    }

    /// Removal confirmed: ask the engine to remove each torrent, and drop their rows now.
    fn remove_now(&mut self, ids: &[crate::engine::event::TorrentId], delete_data: bool) {
        for id in ids {
            self.effects.push(Effect::Remove {
                id: *id,
                delete_data,
            });
            self.removed_now(*id);
        }
    }

    /// Enter in the add dialog: a magnet or a .torrent path, to choose its files first or not.
    fn add(&mut self, text: &str, choose_files: bool) {
        if text.is_empty() {
            return;
        }
        if text.to_ascii_lowercase().starts_with("magnet:") {
            match magnet::parse(text) {
                Ok(m) if choose_files => {
                    self.choose_hashes.insert(m.info_hash);
                    self.effects.push(Effect::AddMagnetToChoose(m));
                }
                Ok(m) => self.effects.push(Effect::AddMagnet(m)),
                Err(e) => self.notify(format!("error: {e}"), true),
            }
        } else if choose_files {
            // its info hash, to open its files when the engine has it
            match files::info_hash_of_file(std::path::Path::new(text)) {
                Ok(h) => {
                    self.choose_hashes.insert(h);
                    self.effects
                        .push(Effect::AddTorrentFileToChoose(PathBuf::from(text)));
                }
                Err(e) => self.notify(format!("error: {e}"), true),
            }
        } else {
            self.effects
                .push(Effect::AddTorrentFile(PathBuf::from(text)));
        }
    }

    /// A key in the limits dialog: Tab and the arrows move between fields, Enter applies
    /// (or shows what does not read, and stays), Esc closes.
    fn update_limits(&mut self, mut form: LimitsForm, action: Action) {
        match action {
            Action::Cancel => return,
            // an error stays in the form, shown under the fields
            Action::Select => {
                if let Ok((torrent, engine)) = form.submit() {
                    if let (Some(change), Some((id, _))) = (torrent, &form.torrent) {
                        self.change_settings(*id, change);
                    }
                    if let Some(change) = engine {
                        self.change_limits(change);
                    }
                    return;
                }
            }
            Action::Key(k) => match k.code {
                KeyCode::Tab | KeyCode::Down => form.move_focus(true),
                KeyCode::BackTab | KeyCode::Up => form.move_focus(false),
                _ => {
                    if let Some(i) = form.focused() {
                        i.handle_event(&ratatui::crossterm::event::Event::Key(k));
                    }
                }
            },
            Action::Paste(t) => {
                if let Some(i) = form.focused() {
                    *i = Input::new(format!("{}{}", i.value(), t.trim()));
                }
            }
            _ => {}
        }
        self.dialog = Some(Dialog::Limits(form));
    }
}
