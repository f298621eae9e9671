//! Tracker I/O: one-shot announces over HTTP(S) and UDP, BEP 12 tier fallback, and the announcer
//! task ([`spawn_announcer`] / [`AnnouncerHandle`]) that keeps one torrent announced all its life.
//!
//! The byte formats live in [`crate::proto::tracker`]; this module owns sockets, timers and
//! retries.
//!
//! # Layout
//! - this file: the shared constants, [`AnnounceError`] and the one-shot entry points
//!   [`announce`], [`announce_with`] and [`announce_tiers`], which dispatch on the URL scheme;
//! - `http`: HTTP(S) announces over one process-wide ureq agent;
//! - `udp`: BEP 15 announces, [`UdpConfig`] and the process-wide connection-id cache;
//! - `announcer`: the announcer task ([`spawn_announcer`], [`AnnouncerHandle`]) with its
//!   config, stats and updates, the BEP 12 `Tiers` and the `Schedule`.
//!
//! # HTTP (BEP 3, BEP 23)
//! ureq is blocking, so each request runs under `spawn_blocking` with a global ureq timeout
//! (DNS to last body byte) and a body cap of [`MAX_HTTP_BODY`]. Proxy settings come from the
//! usual environment variables (`HTTP_PROXY`, `NO_PROXY`, ...), as ureq reads them. A non-200
//! status whose body is a bencoded `failure reason` still reports that reason: trackers commonly
//! pair the two.
//!
//! # UDP (BEP 15)
//! Connect, then announce, on a fresh socket `connect()`ed to the tracker so the kernel drops
//! datagrams from any other address; answers with a transaction id other than the one in flight
//! are ignored. Request `n` (counted across connect and announce) is retransmitted after
//! `base_timeout * 2^n`, up to `max_retries` times; BEP 15 says 15 s and 8 ([`UdpConfig::default`]),
//! but a 15 s first wait leaves a single attempt inside a typical 15–30 s overall budget, so
//! [`announce`] scales the base to the caller's timeout ([`UdpConfig::for_timeout`]).
//! Connection ids are cached process-wide per tracker address for [`CONNECTION_ID_TTL`] (60 s,
//! BEP 15), dropped when the tracker answers an announce with an error (an expired id is the
//! usual cause; the announce is then retried once with a fresh id), and re-requested when they
//! would expire during retransmission. A port-unreachable ICMP surfaces as an I/O error at once
//! instead of waiting for every retransmission, which makes tier fallback fast.
//!
//! # Tiers (BEP 12)
//! [`announce_tiers`] is stateless: tiers in order, URLs in order, first success wins. The
//! announcer task keeps state: URLs are shuffled within each tier once at start (BEP 12 shuffles
//! inside tiers, never the tier order), and a URL that answers moves to the front of its tier.
//!
//! # The announce schedule
//! `Schedule` is plain logic on `Instant`s. After a success the next announce waits
//! `max(interval, min interval, config floor)`; after a failed round it backs off 15 s doubling
//! to 30 min, never below the floor. [`AnnouncerHandle::request_peers`] pulls the next announce
//! forward but never closer than `max(floor, tracker min interval)` to the previous one (and
//! never closer than [`BACKOFF_BASE`] while every tracker is failing);
//! [`AnnouncerHandle::completed`] only respects the floor, because the `completed` event is what
//! the tracker counts as a finished download.
//!
//! # Events per tracker
//! Each URL gets `started` on its first announce (a fallback tracker never saw the first one),
//! `completed` once the download finished (until some tracker acknowledges it), and on stop the
//! URL that answered last gets `stopped` with a bounded wait ([`STOP_TIMEOUT`]). The `tracker id`
//! is remembered per URL.

mod announcer;
mod http;
#[cfg(test)]
mod test_support;
mod udp;

pub use announcer::{
    AnnounceStats, AnnouncerConfig, AnnouncerHandle, TrackerUpdate, spawn_announcer,
};
pub use udp::UdpConfig;

use crate::proto::tracker::{AnnounceRequest, AnnounceResponse, TrackerError};
use http::announce_http;
use std::time::Duration;
use tracing::debug;
use udp::announce_udp;

/// Largest HTTP announce body we read: even 200 IPv6 peers fit in a few KiB.
pub const MAX_HTTP_BODY: u64 = 2 * 1024 * 1024;
/// How long a UDP connection id may be used (BEP 15: "up to one minute").
pub const CONNECTION_ID_TTL: Duration = Duration::from_secs(60);
/// Upper bound on the `stopped` announce when an announcer stops.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// First backoff after a round in which every tracker failed.
pub const BACKOFF_BASE: Duration = Duration::from_secs(15);
/// Largest backoff after repeated failed rounds.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30 * 60);
/// Sent as `User-Agent` on HTTP announces.
pub const USER_AGENT: &str = concat!("fast-peer/", env!("CARGO_PKG_VERSION"));

/// Why an announce did not produce peers.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// Not `http://`, `https://` or `udp://`.
    #[error("unsupported tracker url scheme: {0:?}")]
    UnsupportedScheme(String),
    /// The URL could not be understood or its host not resolved.
    #[error("invalid tracker url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// The tracker answered with a failure reason, or with something unparseable.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// The HTTP exchange itself failed (connect, TLS, body too large, ...).
    #[error("http: {0}")]
    Http(String),
    /// A non-200 status without a bencoded failure reason.
    #[error("http status {status}")]
    HttpStatus { status: u16 },
    /// A socket error (for UDP, including "connection refused" from an ICMP answer).
    #[error("udp: {0}")]
    Io(#[from] std::io::Error),
    /// No usable answer within the time budget.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The tier list holds no URL at all.
    #[error("no tracker urls")]
    NoTrackers,
    /// Every URL of every tier failed; each with its reason, in the order tried.
    #[error("all {} trackers failed: {}", .0.len(), join_failures(.0))]
    AllFailed(Vec<(String, AnnounceError)>),
}

fn join_failures(list: &[(String, AnnounceError)]) -> String {
    list.iter()
        .map(|(url, e)| format!("{url}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Announce once to one tracker URL, bounded by `timeout` overall.
///
/// UDP retransmissions follow [`UdpConfig::for_timeout`]; use [`announce_with`] to choose.
pub async fn announce(
    url: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, AnnounceError> {
    announce_with(url, req, timeout, &UdpConfig::for_timeout(timeout)).await
}

/// [`announce`] with explicit UDP retransmission settings (still bounded by `timeout`).
pub async fn announce_with(
    url: &str,
    req: &AnnounceRequest,
    timeout: Duration,
    udp: &UdpConfig,
) -> Result<AnnounceResponse, AnnounceError> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") => announce_http(url, req, timeout).await,
        Some("udp") => match tokio::time::timeout(timeout, announce_udp(url, req, udp)).await {
            Ok(result) => result,
            Err(_) => Err(AnnounceError::Timeout(timeout)),
        },
        _ => Err(AnnounceError::UnsupportedScheme(url.to_string())),
    }
}

/// Announce once to the BEP 12 tiers, in order, returning the first success and the URL that
/// gave it. `timeout` bounds each URL's attempt, not the whole walk.
pub async fn announce_tiers(
    tiers: &[Vec<String>],
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<(String, AnnounceResponse), AnnounceError> {
    let mut failures = Vec::new();
    for url in tiers.iter().flatten() {
        match announce(url, req, timeout).await {
            Ok(resp) => return Ok((url.clone(), resp)),
            Err(e) => {
                debug!(%url, error = %e, "announce failed");
                failures.push((url.clone(), e));
            }
        }
    }
    if failures.is_empty() {
        Err(AnnounceError::NoTrackers)
    } else {
        Err(AnnounceError::AllFailed(failures))
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;

    #[tokio::test]
    async fn tiers_fall_back_in_order() {
        let dead = format!("http://127.0.0.1:{}/announce", closed_port());
        let (live, _seen) = fake_http(|_| (200, ok_body(60)));
        let (udp, _fake) = fake_udp(UdpFakeState::default()).await;

        let tiers = vec![vec![dead.clone(), live.clone()], vec![udp.clone()]];
        let (url, resp) = announce_tiers(&tiers, &request(), T).await.unwrap();
        assert_eq!((url, resp.interval), (live, 60));

        let tiers = vec![vec![dead.clone()], vec![udp.clone()]];
        assert_eq!(announce_tiers(&tiers, &request(), T).await.unwrap().0, udp);

        let tiers = vec![vec![dead.clone()], vec!["wss://x/announce".to_string()]];
        let err = announce_tiers(&tiers, &request(), T).await.unwrap_err();
        let AnnounceError::AllFailed(list) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(list.len(), 2);
        assert!(matches!(list[1].1, AnnounceError::UnsupportedScheme(_)));
        let text = err.to_string();
        assert!(
            text.starts_with("all 2 trackers failed: ")
                && text.contains(&dead)
                && text.contains("wss://x"),
            "{text}"
        );

        assert!(matches!(
            announce_tiers(&[vec![]], &request(), T).await,
            Err(AnnounceError::NoTrackers)
        ));
    }
}
