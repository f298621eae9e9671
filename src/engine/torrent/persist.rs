//! Saving a torrent's fast-resume data ([`crate::engine::resume`]): when pieces have verified
//! since the last save, at most every few seconds, off the runtime, and once more at shutdown.

use crate::engine::resume::{self, ResumeData};
use crate::proto::bitfield::Bitfield;
use crate::proto::id::InfoHash;
use crate::proto::metainfo::Info;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Saves one torrent's resume data.
pub(super) struct ResumeSaver {
    file: PathBuf,
    info_hash: InfoHash,
    info: Arc<Info>,
    /// Every file's path, in torrent order.
    paths: Arc<Vec<PathBuf>>,
    /// How many pieces were verified in the last save (`None`: not saved yet).
    saved: Option<u32>,
    /// The save in progress, if any: saves never overlap.
    running: Option<JoinHandle<()>>,
}

impl ResumeSaver {
    pub(super) fn new(
        file: PathBuf,
        info_hash: InfoHash,
        info: Arc<Info>,
        paths: Arc<Vec<PathBuf>>,
    ) -> ResumeSaver {
        ResumeSaver {
            file,
            info_hash,
            info,
            paths,
            saved: None,
            running: None,
        }
    }

    /// Start a save when the verified pieces changed since the last one and none is running.
    pub(super) fn maybe_save(&mut self, verified: &Bitfield) {
        if self.running.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let n = verified.count_ones();
        if self.saved == Some(n) {
            return;
        }
        self.saved = Some(n);
        let job = self.job(verified.clone());
        self.running = Some(tokio::task::spawn_blocking(job));
    }

    /// Save now and wait for it (at shutdown), after any save in progress.
    pub(super) async fn save_now(&mut self, verified: Bitfield) {
        if let Some(h) = self.running.take() {
            let _ = h.await;
        }
        self.saved = Some(verified.count_ones());
        let _ = tokio::task::spawn_blocking(self.job(verified)).await;
    }

    /// Forget the resume data (the torrent is removed).
    pub(super) async fn remove(mut self) {
        if let Some(h) = self.running.take() {
            let _ = h.await;
        }
        let _ = std::fs::remove_file(&self.file);
    }

    /// The save itself: `verified` was taken before the files' stamps are read, so a write
    /// after it changes a stamp and a restart re-checks that file instead of trusting it.
    fn job(&self, verified: Bitfield) -> impl FnOnce() + Send + 'static {
        let (file, info_hash) = (self.file.clone(), self.info_hash);
        let (info, paths) = (self.info.clone(), self.paths.clone());
        move || {
            let saved = resume::stamps(&info, &paths).and_then(|stamps| {
                ResumeData {
                    info_hash,
                    verified,
                    stamps,
                }
                .save(&file)
            });
            if let Err(e) = saved {
                tracing::warn!("save resume data {}: {e}", file.display());
            }
        }
    }
}
