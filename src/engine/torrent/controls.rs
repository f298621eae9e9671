//! The user's controls applied to a running torrent ([`TorrentSettings`]): which files and
//! in which order (piece priorities in the picker, files created on disk when they become
//! wanted), and its rate and connection limits.

use super::shared::PeerCommand;
use super::task::Torrent;
use crate::engine::disk::DiskJob;
use crate::engine::event::{EngineEvent, TorrentState};
use crate::engine::settings::{FilePriority, TorrentSettings, Wants};

impl Torrent {
    /// Apply new settings: limits at once; wants to the disk, the picker and every peer.
    pub(super) async fn apply_settings(&mut self, s: TorrentSettings) {
        self.shared.upload.torrent.set_rate(s.limits.upload);
        self.shared.download.torrent.set_rate(s.limits.download);
        self.max_peers = s.limits.max_peers.unwrap_or(self.default_max_peers).max(1);
        if s.wants != self.settings.wants && self.wanted_pieces.is_none() {
            self.apply_wants(&s.wants).await;
        }
        self.settings = s;
        self.publish_snapshot();
    }

    async fn apply_wants(&mut self, wants: &Wants) {
        let files = wants.file_priorities(&self.shared.info);
        // files wanted now and not before exist on disk before any block of theirs is
        // written: the disk thread takes this job before the writes the new picks cause
        let newly: Vec<usize> = files
            .iter()
            .enumerate()
            .filter(|(i, p)| {
                **p != FilePriority::Skip
                    && !self.shared.info.files[*i].attr.pad
                    && self
                        .files
                        .get(*i)
                        .is_none_or(|old| *old == FilePriority::Skip)
                    && !self.shared.storage.is_on_disk(*i)
            })
            .map(|(i, _)| i)
            .collect();
        if !newly.is_empty()
            && self
                .shared
                .disk
                .send(DiskJob::WantFiles(newly))
                .await
                .is_err()
        {
            return;
        }
        let complete = {
            let mut picker = self.shared.picker();
            picker.set_wants(&self.shared.info, &files, wants);
            picker.is_complete()
        };
        self.files = files;
        let keys: Vec<_> = self.shared.peers().keys().copied().collect();
        self.shared.send_to_peers(&keys, PeerCommand::Wanted);
        // more wanted than before, or less: the torrent may start or finish downloading
        if complete && !self.completed_sent {
            self.completed_sent = true;
            self.emit_state(TorrentState::Seeding);
            self.events.emit(EngineEvent::Completed { id: self.id });
        } else if !complete && self.completed_sent {
            self.completed_sent = false;
            self.emit_state(TorrentState::Downloading);
            self.connect_more();
        }
    }

    /// Paused by the user (no peers, the piece state kept) or resumed.
    pub(super) fn set_paused(&mut self, pause: bool) {
        if pause != self.paused {
            self.paused = pause;
            self.held_changed(pause);
        }
    }

    /// The engine's queue holds the torrent back (no peers) or lets it run.
    pub(super) fn set_queued(&mut self, queued: bool) {
        if queued != self.queued {
            self.queued = queued;
            self.held_changed(queued);
        }
    }

    /// Paused or queued changed: peers go (when now held), the state is told, peers come back
    /// (when nothing holds it any more).
    fn held_changed(&mut self, held: bool) {
        if held {
            self.shutdown_peers();
        }
        self.events.emit(EngineEvent::StateChanged {
            id: self.id,
            state: self.state(),
        });
        self.connect_more();
        self.publish_snapshot();
    }

    /// What the torrent is doing, as the dashboard names it.
    pub(super) fn state(&self) -> TorrentState {
        if self.paused {
            TorrentState::Paused
        } else if self.queued {
            TorrentState::Queued
        } else if self.shared.picker().is_complete() {
            TorrentState::Seeding
        } else {
            TorrentState::Downloading
        }
    }

    fn emit_state(&self, state: TorrentState) {
        if !self.paused && !self.queued {
            self.events
                .emit(EngineEvent::StateChanged { id: self.id, state });
        }
    }
}
