//! STUB: replaced by the tracker helper.
use crate::proto::tracker::{AnnounceRequest, AnnounceResponse};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    #[error("{0}")]
    Other(String),
}

/// Announce once to the BEP 12 tiers, in order, returning the first success.
pub async fn announce_tiers(
    _tiers: &[Vec<String>],
    _req: &AnnounceRequest,
    _timeout: Duration,
) -> Result<(String, AnnounceResponse), AnnounceError> {
    todo!()
}
