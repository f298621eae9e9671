//! What can go wrong while the demo swarm starts, downloads or checks its download.

use crate::engine::EngineError;
use std::io;
use std::time::Duration;

/// Why the demo swarm (or a headless demo run) stopped.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("demo torrent: {0}")]
    Metainfo(String),
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {} s: {what}", .after.as_secs())]
    Timeout { after: Duration, what: String },
    #[error("verification failed: {0}")]
    Verify(String),
    #[error("interrupted")]
    Interrupted,
}

/// Map an `io::Error` to [`SwarmError::Io`], saying what was being done.
pub(super) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> SwarmError {
    let what = what.into();
    move |source| SwarmError::Io { what, source }
}
