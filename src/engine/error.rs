//! Why a torrent stopped for good: [`TorrentError`], returned by the torrent task and shown
//! to the user as [`crate::engine::event::EngineEvent::Failed`]. A leaf module (it names
//! only other modules' error types), so any part of the engine can return it.

use crate::proto::metainfo::MetainfoError;

/// A torrent's unrecoverable failure. Each message names one cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TorrentError {
    /// The info dictionary fetched from peers (BEP 9) matched the info hash but is not a
    /// torrent we can load.
    #[error("the metadata is not a valid torrent: {0}")]
    BadMetadata(MetainfoError),
    /// A piece the caller asked for (`download_piece`) is past the end of the torrent.
    #[error("piece {piece} does not exist: the torrent has {count} pieces")]
    NoSuchPiece { piece: u32, count: u32 },
    #[error("open storage: {0}")]
    OpenStorage(std::io::Error),
    #[error("check existing data: {0}")]
    CheckExisting(std::io::Error),
    /// Writing or reading a piece failed (disk full, file removed...): the disk thread's
    /// message.
    #[error("{0}")]
    Disk(String),
    /// The engine shut down while the torrent was still starting.
    #[error("the engine stopped")]
    EngineStopped,
    /// A task of ours ended unexpectedly (a bug: it names the task).
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_is_one_line_that_names_its_cause() {
        let io = || std::io::Error::other("No space left on device");
        let cases = [
            (
                TorrentError::NoSuchPiece { piece: 9, count: 4 },
                "piece 9 does not exist",
            ),
            (TorrentError::OpenStorage(io()), "open storage: No space"),
            (
                TorrentError::CheckExisting(io()),
                "check existing data: No space",
            ),
            (
                TorrentError::Disk("write piece 3: No space".into()),
                "write piece 3",
            ),
            (
                TorrentError::BadMetadata(MetainfoError::EmptyTorrent),
                "not a valid torrent",
            ),
            (TorrentError::EngineStopped, "engine stopped"),
        ];
        for (e, cause) in cases {
            let text = e.to_string();
            assert!(text.contains(cause) && !text.contains('\n'), "{text:?}");
        }
    }
}
