//! The engine's typed failures, a leaf module (it names only other modules' error and event
//! types), so any part of the engine can return them:
//! - [`PeerError`]: why one connection ends; a peer's misbehaviour drops (or bans) that peer,
//!   never the torrent. It becomes the [`PeerCloseReason`] the dashboard shows.
//! - [`TorrentError`]: why a torrent stopped for good, shown to the user as
//!   [`crate::engine::event::EngineEvent::Failed`].

use crate::engine::event::PeerCloseReason;
use crate::proto::message::WireError;
use crate::proto::metainfo::MetainfoError;
use crate::proto::mse::MseError;

/// Why a connection must end; becomes a [`PeerCloseReason`].
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Protocol(String),
    #[error("timed out {0}")]
    Timeout(&'static str),
    #[error("connected to ourselves")]
    SelfConnection,
    #[error("{0}")]
    Useless(&'static str),
    #[error("shutdown")]
    Shutdown,
}

impl From<MseError> for PeerError {
    fn from(e: MseError) -> Self {
        PeerError::Protocol(e.to_string())
    }
}

impl From<PeerError> for PeerCloseReason {
    fn from(e: PeerError) -> Self {
        match e {
            PeerError::Io(e) => PeerCloseReason::Io(e.to_string()),
            PeerError::Wire(e) => PeerCloseReason::Protocol(e.to_string()),
            PeerError::Protocol(e) => PeerCloseReason::Protocol(e),
            PeerError::Timeout(what) => PeerCloseReason::Io(format!("timed out {what}")),
            PeerError::SelfConnection => PeerCloseReason::SelfConnection,
            PeerError::Useless(why) => PeerCloseReason::Useless(why.to_string()),
            PeerError::Shutdown => PeerCloseReason::Shutdown,
        }
    }
}

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
    /// Files that held verified data (per the resume data) are gone: downloading over them
    /// could overwrite what the user put there instead.
    #[error("missing files with downloaded data: {}", .0.join(", "))]
    MissingFiles(Vec<String>),
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
