//! Tracker I/O: one-shot announces over HTTP(S) and UDP, BEP 12 tier fallback, and the announcer
//! task ([`spawn_announcer`] / [`AnnouncerHandle`]) that keeps one torrent announced all its life.
//!
//! The byte formats live in [`crate::proto::tracker`]; this module owns sockets, timers and
//! retries.
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

use crate::proto::id::{InfoHash, PeerId};
use crate::proto::tracker::{
    AnnounceRequest, AnnounceResponse, Event, TrackerError, UdpResponse, clamp_interval,
    http_announce_url, parse_http_response, parse_udp_response, udp_announce_request,
    udp_connect_request,
};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

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

/// BEP 15 retransmission settings: request `n` waits `base_timeout * 2^n` before being resent,
/// at most `max_retries` resends per announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpConfig {
    pub base_timeout: Duration,
    pub max_retries: u32,
}

impl Default for UdpConfig {
    /// Exactly BEP 15: 15 s, doubling up to 8 times (3840 s).
    fn default() -> Self {
        UdpConfig {
            base_timeout: Duration::from_secs(15),
            max_retries: 8,
        }
    }
}

impl UdpConfig {
    /// Scale BEP 15's schedule so roughly three sends fit in `timeout` (at `0`, `t/4` and
    /// `3t/4`), never waiting less than 250 ms nor more than 15 s for the first answer.
    pub fn for_timeout(timeout: Duration) -> Self {
        let base = (timeout / 4).clamp(Duration::from_millis(250), Duration::from_secs(15));
        UdpConfig {
            base_timeout: base,
            max_retries: 8,
        }
    }

    /// The wait before retransmitting request number `n` (0-based).
    pub fn wait(&self, n: u32) -> Duration {
        self.base_timeout
            .saturating_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
    }
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

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// One agent for the process so keep-alive connections to a tracker can be reused.
static HTTP_AGENT: LazyLock<ureq::Agent> = LazyLock::new(|| {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .build()
        .into()
});

async fn announce_http(
    base: &str,
    req: &AnnounceRequest,
    timeout: Duration,
) -> Result<AnnounceResponse, AnnounceError> {
    let url = http_announce_url(base, req);
    let task = tokio::task::spawn_blocking(move || http_get(&url, timeout));
    // ureq enforces `timeout` itself; the outer bound (with slack) only guards against a stuck
    // blocking thread, which we then abandon: it ends at ureq's own deadline.
    match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(AnnounceError::Http(format!("announce task failed: {join}"))),
        Err(_) => Err(AnnounceError::Timeout(timeout)),
    }
}

fn http_get(url: &str, timeout: Duration) -> Result<AnnounceResponse, AnnounceError> {
    let map_err = |e: ureq::Error| match e {
        ureq::Error::Timeout(_) => AnnounceError::Timeout(timeout),
        other => AnnounceError::Http(other.to_string()),
    };
    let mut resp = HTTP_AGENT
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(map_err)?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(MAX_HTTP_BODY)
        .read_to_vec()
        .map_err(map_err)?;
    match parse_http_response(&body) {
        Ok(r) if status == 200 => Ok(r),
        Err(TrackerError::Failure(reason)) => Err(TrackerError::Failure(reason).into()),
        Err(e) if status == 200 => Err(e.into()),
        _ => Err(AnnounceError::HttpStatus { status }),
    }
}

// ---------------------------------------------------------------------------------------------
// UDP
// ---------------------------------------------------------------------------------------------

/// Connection ids per tracker address, with the instant each was obtained.
#[derive(Debug, Default)]
struct ConnectionCache {
    ids: HashMap<SocketAddr, (u64, Instant)>,
}

impl ConnectionCache {
    /// A still-valid id and when it was obtained.
    fn get(&self, addr: SocketAddr, now: Instant) -> Option<(u64, Instant)> {
        self.ids
            .get(&addr)
            .copied()
            .filter(|(_, at)| now.saturating_duration_since(*at) < CONNECTION_ID_TTL)
    }

    fn insert(&mut self, addr: SocketAddr, id: u64, now: Instant) {
        // Expired entries are dropped here so the map stays as small as the live tracker set.
        self.ids
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < CONNECTION_ID_TTL);
        self.ids.insert(addr, (id, now));
    }

    fn remove(&mut self, addr: SocketAddr) {
        self.ids.remove(&addr);
    }
}

static CONNECTIONS: LazyLock<Mutex<ConnectionCache>> = LazyLock::new(Default::default);

/// Run `f` on the process-wide cache. A poisoned lock only means another thread panicked
/// mid-update of a plain map; its contents are still usable.
fn with_cache<T>(f: impl FnOnce(&mut ConnectionCache) -> T) -> T {
    let mut guard = CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut guard)
}

/// Split `udp://host:port[/path]` into host and port. IPv6 literals come in brackets.
fn parse_udp_url(url: &str) -> Result<(String, u16), AnnounceError> {
    let bad = |reason: &str| AnnounceError::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| bad("missing scheme"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        (
            host,
            after.strip_prefix(':').ok_or_else(|| bad("missing port"))?,
        )
    } else {
        authority
            .rsplit_once(':')
            .ok_or_else(|| bad("missing port"))?
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port: u16 = port.parse().map_err(|_| bad("invalid port"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok((host.to_string(), port))
}

async fn announce_udp(
    url: &str,
    req: &AnnounceRequest,
    cfg: &UdpConfig,
) -> Result<AnnounceResponse, AnnounceError> {
    let (host, port) = parse_udp_url(url)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| AnnounceError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?
        .collect();
    // Prefer IPv4 when a name has both: `localhost` often resolves to ::1 first while trackers
    // (and our peer listener) commonly listen on IPv4 only.
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| AnnounceError::BadUrl {
            url: url.to_string(),
            reason: "no address".into(),
        })?;
    let bind: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).await?;
    sock.connect(addr).await?;
    let mut exchange = UdpExchange {
        sock,
        ipv6: addr.is_ipv6(),
        cfg: *cfg,
        sends: 0,
        buf: vec![0; 65_536],
    };

    // One retry with a fresh id when a cached id is refused: it has most likely expired on the
    // tracker's side even though our clock still trusts it.
    let mut may_refresh = true;
    loop {
        let cached = with_cache(|c| c.get(addr, Instant::now()));
        let (connection_id, obtained) = match cached {
            Some(hit) => hit,
            None => {
                let tid: u32 = rand::random();
                let now = Instant::now();
                match exchange
                    .request(&udp_connect_request(tid), tid, None)
                    .await?
                {
                    Some(UdpResponse::Connect { connection_id, .. }) => {
                        with_cache(|c| c.insert(addr, connection_id, now));
                        may_refresh = false;
                        (connection_id, now)
                    }
                    Some(UdpResponse::Error { message, .. }) => {
                        return Err(TrackerError::Failure(message).into());
                    }
                    Some(UdpResponse::Announce { .. }) | None => {
                        return Err(TrackerError::Invalid(
                            "announce answer to a connect request".into(),
                        )
                        .into());
                    }
                }
            }
        };
        let tid: u32 = rand::random();
        let packet = udp_announce_request(connection_id, tid, req);
        match exchange
            .request(&packet, tid, Some(obtained + CONNECTION_ID_TTL))
            .await?
        {
            Some(UdpResponse::Announce {
                interval,
                leechers,
                seeders,
                peers,
                ..
            }) => {
                return Ok(AnnounceResponse {
                    interval: clamp_interval(i64::from(interval)),
                    min_interval: None,
                    tracker_id: None,
                    complete: Some(seeders),
                    incomplete: Some(leechers),
                    peers,
                    warning: None,
                });
            }
            Some(UdpResponse::Error { message, .. }) => {
                with_cache(|c| c.remove(addr));
                if may_refresh {
                    debug!(%url, %message, "udp announce refused with a cached connection id; reconnecting");
                    may_refresh = false;
                    continue;
                }
                return Err(TrackerError::Failure(message).into());
            }
            Some(UdpResponse::Connect { .. }) => {
                return Err(
                    TrackerError::Invalid("connect answer to an announce request".into()).into(),
                );
            }
            // The id expired while we were retransmitting: fetch a new one and go on.
            None => with_cache(|c| c.remove(addr)),
        }
    }
}

/// One UDP conversation with a tracker; `sends` counts every transmission for the BEP 15 `n`.
struct UdpExchange {
    sock: UdpSocket,
    ipv6: bool,
    cfg: UdpConfig,
    sends: u32,
    buf: Vec<u8>,
}

impl UdpExchange {
    /// Send `packet` until an answer carrying `tid` arrives. `Ok(None)` means a retransmission
    /// would happen after `valid_until` (the connection id's expiry), so the caller must reconnect.
    async fn request(
        &mut self,
        packet: &[u8],
        tid: u32,
        valid_until: Option<Instant>,
    ) -> Result<Option<UdpResponse>, AnnounceError> {
        let mut first = true;
        loop {
            if !first && valid_until.is_some_and(|t| Instant::now() >= t) {
                return Ok(None);
            }
            let n = self.sends;
            if n > self.cfg.max_retries {
                let total = (0..n)
                    .map(|i| self.cfg.wait(i))
                    .fold(Duration::ZERO, Duration::saturating_add);
                return Err(AnnounceError::Timeout(total));
            }
            self.sends += 1;
            first = false;
            self.sock.send(packet).await?;
            let deadline = tokio::time::Instant::now() + self.cfg.wait(n);
            while let Ok(received) =
                tokio::time::timeout_at(deadline, self.sock.recv(&mut self.buf)).await
            {
                let len = received?;
                let datagram = self.buf.get(..len).unwrap_or_default();
                // Only a datagram with our transaction id is an answer; anything else is a late
                // reply to an earlier request (or noise) and is skipped.
                let their_tid = datagram
                    .get(4..8)
                    .and_then(|s| <[u8; 4]>::try_from(s).ok())
                    .map(u32::from_be_bytes);
                if their_tid != Some(tid) {
                    debug!(len, "ignoring udp datagram with another transaction id");
                    continue;
                }
                return Ok(Some(parse_udp_response(datagram, self.ipv6)?));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Announcer
// ---------------------------------------------------------------------------------------------

/// Transfer counters reported at each announce; the engine keeps them current in a `watch`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnnounceStats {
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
}

/// What an announcer needs to know about its torrent.
#[derive(Debug, Clone)]
pub struct AnnouncerConfig {
    /// BEP 12 tiers (the metainfo `announce-list`, or `[[announce]]`).
    pub tiers: Vec<Vec<String>>,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// Our peer listener port.
    pub port: u16,
    pub numwant: u32,
    /// Bound on each single announce attempt to one URL.
    pub timeout: Duration,
    /// Floor between two announces, whatever the tracker or the engine asks.
    pub min_interval: Duration,
}

/// What the announcer reports to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerUpdate {
    /// `url` answered; the next regular announce is in `interval`.
    Peers {
        url: String,
        peers: Vec<SocketAddr>,
        seeders: Option<u32>,
        leechers: Option<u32>,
        interval: Duration,
    },
    /// One announce to `url` failed (other URLs may still be tried in the same round).
    Error { url: String, message: String },
    /// `url` answered with a `warning message`.
    Warning { url: String, message: String },
}

enum Command {
    RequestPeers,
    Completed,
    Stop,
}

/// Control of a running announcer. Dropping it stops the task like [`AnnouncerHandle::stop`],
/// but without waiting for it.
#[derive(Debug)]
pub struct AnnouncerHandle {
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl AnnouncerHandle {
    /// Announce as soon as allowed (the swarm runs short of peers); still respects the floor and
    /// the tracker's `min interval`.
    pub fn request_peers(&self) {
        let _ = self.commands.send(Command::RequestPeers);
    }

    /// The download finished: send `event=completed` promptly (respecting only the floor).
    pub fn completed(&self) {
        let _ = self.commands.send(Command::Completed);
    }

    /// Send `event=stopped` to the tracker that answered last (bounded by [`STOP_TIMEOUT`]),
    /// then end the task.
    pub async fn stop(self) {
        let _ = self.commands.send(Command::Stop);
        let mut task = self.task;
        if tokio::time::timeout(STOP_TIMEOUT + Duration::from_secs(1), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }

    /// Whether the task has ended (e.g. because the update receiver was dropped).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Start the announce loop for one torrent on the current tokio runtime.
///
/// The task ends after [`AnnouncerHandle::stop`], when the handle is dropped, or as soon as
/// `updates` is closed.
pub fn spawn_announcer(
    config: AnnouncerConfig,
    stats: watch::Receiver<AnnounceStats>,
    updates: mpsc::Sender<TrackerUpdate>,
) -> AnnouncerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut rng = rand::rng();
    let state = AnnouncerState::new(config, Instant::now(), &mut rng, rand::random());
    let task = tokio::spawn(run(state, stats, updates, rx));
    AnnouncerHandle { commands: tx, task }
}

/// BEP 12 tier order with shuffle-once and move-to-front.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tiers {
    tiers: Vec<Vec<String>>,
}

impl Tiers {
    fn new(mut tiers: Vec<Vec<String>>, rng: &mut impl rand::Rng) -> Self {
        use rand::seq::SliceRandom;
        tiers.retain(|t| !t.is_empty());
        for tier in &mut tiers {
            tier.shuffle(rng);
        }
        Tiers { tiers }
    }

    fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// Every URL in the order to try them this round.
    fn order(&self) -> Vec<String> {
        self.tiers.iter().flatten().cloned().collect()
    }

    /// `url` answered: it goes to the front of its tier.
    fn promote(&mut self, url: &str) {
        for tier in &mut self.tiers {
            if let Some(i) = tier.iter().position(|u| u == url) {
                let u = tier.remove(i);
                tier.insert(0, u);
                return;
            }
        }
    }
}

/// When to announce next; pure logic on `Instant`s.
#[derive(Debug, Clone)]
struct Schedule {
    /// Our floor between announces ([`AnnouncerConfig::min_interval`]).
    floor: Duration,
    /// The tracker's `min interval` from its last answer.
    tracker_min: Duration,
    next: Instant,
    last: Option<Instant>,
    failures: u32,
}

impl Schedule {
    fn new(now: Instant, floor: Duration) -> Self {
        Schedule {
            floor,
            tracker_min: Duration::ZERO,
            next: now,
            last: None,
            failures: 0,
        }
    }

    /// A tracker answered; returns the wait until the next regular announce.
    fn on_success(
        &mut self,
        now: Instant,
        interval: Duration,
        min_interval: Option<Duration>,
    ) -> Duration {
        self.tracker_min = min_interval.unwrap_or(Duration::ZERO);
        let wait = interval.max(self.tracker_min).max(self.floor);
        self.last = Some(now);
        self.failures = 0;
        self.next = now + wait;
        wait
    }

    /// A whole round failed; returns the backoff.
    fn on_failure(&mut self, now: Instant) -> Duration {
        let shift = self.failures.min(16);
        let backoff = BACKOFF_BASE
            .saturating_mul(1 << shift)
            .min(BACKOFF_MAX)
            .max(self.floor);
        self.failures = self.failures.saturating_add(1);
        self.last = Some(now);
        self.next = now + backoff;
        backoff
    }

    /// Pull the next announce forward to the earliest allowed moment. A peer request
    /// (`respect_tracker_min`) also waits for the tracker's `min interval` and, while trackers
    /// are failing, for [`BACKOFF_BASE`], so a swarm short of peers cannot hammer a dead tracker.
    fn hurry(&mut self, now: Instant, respect_tracker_min: bool) {
        let gap = if !respect_tracker_min {
            self.floor
        } else if self.failures > 0 {
            self.floor.max(BACKOFF_BASE)
        } else {
            self.floor.max(self.tracker_min)
        };
        let earliest = self.last.map_or(now, |last| (last + gap).max(now));
        self.next = self.next.min(earliest);
    }
}

/// What we remember per tracker URL.
#[derive(Debug, Clone, Default)]
struct UrlState {
    tracker_id: Option<Vec<u8>>,
    /// This URL acknowledged our `started`.
    started: bool,
}

/// Everything the announce task owns except its channels.
#[derive(Debug)]
struct AnnouncerState {
    config: AnnouncerConfig,
    tiers: Tiers,
    schedule: Schedule,
    urls: HashMap<String, UrlState>,
    /// `completed()` was called and no tracker has acknowledged the event yet.
    completed_pending: bool,
    /// The URL that answered last; it receives `stopped`.
    last_url: Option<String>,
    key: u32,
}

impl AnnouncerState {
    fn new(config: AnnouncerConfig, now: Instant, rng: &mut impl rand::Rng, key: u32) -> Self {
        let tiers = Tiers::new(config.tiers.clone(), rng);
        let schedule = Schedule::new(now, config.min_interval);
        AnnouncerState {
            config,
            tiers,
            schedule,
            urls: HashMap::new(),
            completed_pending: false,
            last_url: None,
            key,
        }
    }

    fn event_for(&self, url: &str) -> Event {
        let state = self.urls.get(url);
        if !state.is_some_and(|s| s.started) {
            Event::Started
        } else if self.completed_pending {
            Event::Completed
        } else {
            Event::None
        }
    }

    fn request(&self, url: &str, event: Event, stats: AnnounceStats) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: self.config.info_hash,
            peer_id: self.config.peer_id,
            port: self.config.port,
            uploaded: stats.uploaded,
            downloaded: stats.downloaded,
            left: stats.left,
            event,
            numwant: Some(if event == Event::Stopped {
                0
            } else {
                self.config.numwant
            }),
            key: self.key,
            tracker_id: self.urls.get(url).and_then(|s| s.tracker_id.clone()),
        }
    }

    /// Book-keeping after `url` answered `resp` to an announce with `event`; returns the wait.
    fn on_success(
        &mut self,
        now: Instant,
        url: &str,
        event: Event,
        resp: &AnnounceResponse,
    ) -> Duration {
        let state = self.urls.entry(url.to_string()).or_default();
        state.started = true;
        if resp.tracker_id.is_some() {
            state.tracker_id.clone_from(&resp.tracker_id);
        }
        if event == Event::Completed {
            self.completed_pending = false;
        }
        self.tiers.promote(url);
        self.last_url = Some(url.to_string());
        let wait = self.schedule.on_success(
            now,
            Duration::from_secs(u64::from(resp.interval)),
            resp.min_interval.map(|s| Duration::from_secs(u64::from(s))),
        );
        // A completion reported while `started` was in flight still goes out promptly.
        if self.completed_pending {
            self.schedule.hurry(now, false);
        }
        wait
    }

    fn on_command(&mut self, now: Instant, cmd: &Command) {
        match cmd {
            Command::RequestPeers => self.schedule.hurry(now, true),
            Command::Completed => {
                self.completed_pending = true;
                self.schedule.hurry(now, false);
            }
            Command::Stop => {}
        }
    }
}

/// The update receiver is gone; the task has no one to work for.
struct Closed;

/// How an announce round running alongside the command channel ended.
enum RoundEnd {
    Done,
    Stop,
    Closed,
}

async fn run(
    mut state: AnnouncerState,
    stats: watch::Receiver<AnnounceStats>,
    updates: mpsc::Sender<TrackerUpdate>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    loop {
        let wake = tokio::time::Instant::from_std(state.schedule.next);
        let has_trackers = !state.tiers.is_empty();
        tokio::select! {
            biased;
            () = updates.closed() => return,
            cmd = commands.recv() => match cmd {
                Some(Command::Stop) | None => break,
                Some(cmd) => state.on_command(Instant::now(), &cmd),
            },
            () = tokio::time::sleep_until(wake), if has_trackers => {
                // A round may take several timeouts, so commands keep being read: a stop cancels
                // the round, a completion is applied after it. A peer request is already being
                // served by this very round and is dropped.
                let mut completed = false;
                let end = {
                    let round = announce_round(&mut state, &stats, &updates);
                    tokio::pin!(round);
                    loop {
                        tokio::select! {
                            biased;
                            () = updates.closed() => break RoundEnd::Closed,
                            cmd = commands.recv() => match cmd {
                                Some(Command::Stop) | None => break RoundEnd::Stop,
                                Some(Command::Completed) => completed = true,
                                Some(Command::RequestPeers) => {}
                            },
                            res = &mut round => break match res {
                                Ok(()) => RoundEnd::Done,
                                Err(Closed) => RoundEnd::Closed,
                            },
                        }
                    }
                };
                match end {
                    RoundEnd::Done => {}
                    RoundEnd::Stop => break,
                    RoundEnd::Closed => return,
                }
                if completed {
                    state.on_command(Instant::now(), &Command::Completed);
                }
            }
        }
    }
    send_stopped(&state, &stats).await;
}

/// Try every URL in tier order until one answers; report each failure and the success.
async fn announce_round(
    state: &mut AnnouncerState,
    stats: &watch::Receiver<AnnounceStats>,
    updates: &mpsc::Sender<TrackerUpdate>,
) -> Result<(), Closed> {
    for url in state.tiers.order() {
        let event = state.event_for(&url);
        let current = *stats.borrow();
        let req = state.request(&url, event, current);
        match announce(&url, &req, state.config.timeout).await {
            Ok(resp) => {
                let interval = state.on_success(Instant::now(), &url, event, &resp);
                debug!(%url, ?event, peers = resp.peers.len(), ?interval, "announced");
                if let Some(message) = resp.warning {
                    let update = TrackerUpdate::Warning {
                        url: url.clone(),
                        message,
                    };
                    updates.send(update).await.map_err(|_| Closed)?;
                }
                let update = TrackerUpdate::Peers {
                    url,
                    peers: resp.peers,
                    seeders: resp.complete,
                    leechers: resp.incomplete,
                    interval,
                };
                return updates.send(update).await.map_err(|_| Closed);
            }
            Err(e) => {
                debug!(%url, ?event, error = %e, "announce failed");
                let update = TrackerUpdate::Error {
                    url,
                    message: e.to_string(),
                };
                updates.send(update).await.map_err(|_| Closed)?;
            }
        }
    }
    let backoff = state.schedule.on_failure(Instant::now());
    warn!(?backoff, "every tracker failed; backing off");
    Ok(())
}

/// Tell the tracker that answered last that we leave; bounded by [`STOP_TIMEOUT`].
async fn send_stopped(state: &AnnouncerState, stats: &watch::Receiver<AnnounceStats>) {
    let Some(url) = &state.last_url else { return };
    let current = *stats.borrow();
    let req = state.request(url, Event::Stopped, current);
    let limit = state.config.timeout.min(STOP_TIMEOUT);
    match tokio::time::timeout(STOP_TIMEOUT, announce(url, &req, limit)).await {
        Ok(Ok(_)) => debug!(%url, "sent stopped"),
        Ok(Err(e)) => debug!(%url, error = %e, "stopped announce failed"),
        Err(_) => debug!(%url, "stopped announce timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const IH: [u8; 20] = *b"\x01\x02 abc~XYZ\xff\x00\x10\x7f.-_012";

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash(IH),
            peer_id: PeerId(*b"-FP0100-123456789012"),
            port: 6881,
            uploaded: 10,
            downloaded: 20,
            left: 30,
            event: Event::Started,
            numwant: Some(50),
            key: 42,
            tracker_id: None,
        }
    }

    /// A compact answer with one peer, 127.0.0.1:6881, and a tracker id.
    fn ok_body(interval: u32) -> Vec<u8> {
        let mut b =
            format!("d8:completei3e10:incompletei2e8:intervali{interval}e5:peers6:").into_bytes();
        b.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
        b.extend_from_slice(b"10:tracker id2:T1e");
        b
    }

    fn query_param<'a>(path: &'a str, key: &str) -> Option<&'a str> {
        let query = path.split_once('?')?.1;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// A one-thread HTTP/1.1 server on 127.0.0.1:0. Each request's path-and-query goes to the
    /// returned channel; `respond` builds `(status, body)` from it.
    fn fake_http(
        respond: impl Fn(&str) -> (u16, Vec<u8>) + Send + 'static,
    ) -> (String, mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/announce", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let (status, body) = respond(&path);
                let _ = tx.send(path);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        (base, rx)
    }

    /// A TCP port that accepts connections and drops them at once, counting them.
    fn dead_http() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                c.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (url, count)
    }

    /// A port with nothing listening (bound once, then released).
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[derive(Default)]
    struct UdpFakeState {
        /// Every datagram received, in order (including dropped ones).
        log: Vec<Vec<u8>>,
        /// Datagrams still to drop without answering.
        drop_next: usize,
        /// Answer every announce with this error.
        always_error: Option<String>,
        /// Send a datagram with a wrong transaction id before each real answer.
        noise: bool,
        issued: u64,
        /// The only connection id the tracker accepts (the last one issued).
        valid: u64,
    }

    /// A BEP 15 tracker on 127.0.0.1:0 answering with one peer, 10.1.2.3:6881.
    async fn fake_udp(state: UdpFakeState) -> (String, Arc<Mutex<UdpFakeState>>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let url = format!("udp://{}/announce", sock.local_addr().unwrap());
        let state = Arc::new(Mutex::new(state));
        let shared = state.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let pkt = buf[..n].to_vec();
                let replies = {
                    let mut s = shared.lock().unwrap();
                    s.log.push(pkt.clone());
                    if s.drop_next > 0 {
                        s.drop_next -= 1;
                        continue;
                    }
                    let tid = <[u8; 4]>::try_from(&pkt[12..16]).unwrap();
                    let mut reply = Vec::new();
                    if n == 16 && pkt[..8] == 0x41727101980u64.to_be_bytes() {
                        s.issued += 1;
                        s.valid = s.issued;
                        reply.extend_from_slice(&[0, 0, 0, 0]);
                        reply.extend_from_slice(&tid);
                        reply.extend_from_slice(&s.valid.to_be_bytes());
                    } else if n == 98 {
                        let conn = u64::from_be_bytes(pkt[..8].try_into().unwrap());
                        let error = s
                            .always_error
                            .clone()
                            .or_else(|| (conn != s.valid).then(|| "bad connection id".to_string()));
                        if let Some(msg) = error {
                            reply.extend_from_slice(&[0, 0, 0, 3]);
                            reply.extend_from_slice(&tid);
                            reply.extend_from_slice(msg.as_bytes());
                        } else {
                            reply.extend_from_slice(&[0, 0, 0, 1]);
                            reply.extend_from_slice(&tid);
                            reply.extend_from_slice(&1800u32.to_be_bytes());
                            reply.extend_from_slice(&2u32.to_be_bytes());
                            reply.extend_from_slice(&3u32.to_be_bytes());
                            reply.extend_from_slice(&[10, 1, 2, 3, 0x1a, 0xe1]);
                        }
                    }
                    let mut replies = Vec::new();
                    if s.noise {
                        let mut wrong = reply.clone();
                        wrong[7] ^= 0xff;
                        replies.push(wrong);
                    }
                    replies.push(reply);
                    replies
                };
                for r in replies {
                    let _ = sock.send_to(&r, from).await;
                }
            }
        });
        (url, state)
    }

    fn fast_udp() -> UdpConfig {
        UdpConfig {
            base_timeout: Duration::from_millis(100),
            max_retries: 3,
        }
    }

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn http_announce_sends_query_and_parses() {
        let (base, mut seen) = fake_http(|_| (200, ok_body(900)));
        let resp = announce(&base, &request(), T).await.unwrap();
        assert_eq!(resp.interval, 900);
        assert_eq!(resp.peers, vec!["127.0.0.1:6881".parse().unwrap()]);
        assert_eq!((resp.complete, resp.incomplete), (Some(3), Some(2)));
        assert_eq!(resp.tracker_id.as_deref(), Some(&b"T1"[..]));

        let path = seen.recv().await.unwrap();
        assert!(path.starts_with("/announce?"), "{path}");
        assert_eq!(
            query_param(&path, "info_hash"),
            Some("%01%02%20abc~XYZ%FF%00%10%7F.-_012")
        );
        assert_eq!(query_param(&path, "peer_id"), Some("-FP0100-123456789012"));
        for (k, v) in [
            ("port", "6881"),
            ("uploaded", "10"),
            ("downloaded", "20"),
            ("left", "30"),
            ("compact", "1"),
            ("event", "started"),
            ("numwant", "50"),
            ("key", "0000002a"),
        ] {
            assert_eq!(query_param(&path, k), Some(v), "{k} in {path}");
        }
        assert_eq!(query_param(&path, "trackerid"), None);
    }

    #[tokio::test]
    async fn http_failure_reason_surfaces_even_with_error_status() {
        for status in [200, 400] {
            let (base, _seen) =
                fake_http(move |_| (status, b"d14:failure reason7:go awaye".to_vec()));
            match announce(&base, &request(), T).await {
                Err(AnnounceError::Tracker(TrackerError::Failure(m))) => assert_eq!(m, "go away"),
                other => panic!("status {status}: {other:?}"),
            }
        }
        let (base, _seen) = fake_http(|_| (502, b"<html>bad gateway</html>".to_vec()));
        assert!(matches!(
            announce(&base, &request(), T).await,
            Err(AnnounceError::HttpStatus { status: 502 })
        ));
        let (base, _seen) = fake_http(|_| (200, b"<html>".to_vec()));
        assert!(matches!(
            announce(&base, &request(), T).await,
            Err(AnnounceError::Tracker(TrackerError::Invalid(_)))
        ));
    }

    #[tokio::test]
    async fn http_body_is_capped() {
        let (base, _seen) = fake_http(|_| (200, vec![b'x'; MAX_HTTP_BODY as usize + 10]));
        let err = announce(&base, &request(), T).await.unwrap_err();
        assert!(matches!(err, AnnounceError::Http(_)), "{err:?}");
    }

    #[tokio::test]
    async fn http_silent_tracker_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/announce", listener.local_addr().unwrap());
        // Accept and hold the connection without answering.
        std::thread::spawn(move || {
            let held: Vec<_> = listener.incoming().take(4).collect();
            std::thread::sleep(Duration::from_secs(10));
            drop(held);
        });
        let start = Instant::now();
        let err = announce(&url, &request(), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, AnnounceError::Timeout(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn udp_connect_then_announce() {
        let (url, fake) = fake_udp(UdpFakeState::default()).await;
        let resp = announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        assert_eq!(resp.interval, 1800);
        assert_eq!((resp.complete, resp.incomplete), (Some(3), Some(2)));
        assert_eq!(resp.peers, vec!["10.1.2.3:6881".parse().unwrap()]);

        let log = fake.lock().unwrap().log.clone();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].len(), 16);
        assert_eq!(
            &log[0][..12],
            &[0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0]
        );
        let a = &log[1];
        assert_eq!(a.len(), 98);
        assert_eq!(&a[..8], &1u64.to_be_bytes()); // the connection id just issued
        assert_eq!(&a[8..12], &[0, 0, 0, 1]);
        assert_eq!(&a[16..36], &IH);
        assert_eq!(
            &a[56..80],
            &[
                0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 30, 0, 0, 0, 0, 0, 0, 0, 10
            ]
        );
        assert_eq!(&a[80..84], &[0, 0, 0, 2]); // started
        assert_eq!(&a[88..92], &42u32.to_be_bytes());
        assert_eq!(&a[96..98], &6881u16.to_be_bytes());
    }

    #[tokio::test]
    async fn udp_retransmits_after_a_dropped_packet() {
        let (url, fake) = fake_udp(UdpFakeState {
            drop_next: 1,
            noise: true,
            ..Default::default()
        })
        .await;
        let start = Instant::now();
        let resp = announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(100));
        assert_eq!(resp.peers.len(), 1);
        let log = fake.lock().unwrap().log.clone();
        assert_eq!(log.len(), 3, "connect, connect again, announce");
        assert_eq!(log[0], log[1], "a retransmission repeats the same request");
    }

    #[tokio::test]
    async fn udp_gives_up_after_max_retries() {
        let (url, fake) = fake_udp(UdpFakeState {
            drop_next: usize::MAX,
            ..Default::default()
        })
        .await;
        let cfg = UdpConfig {
            base_timeout: Duration::from_millis(30),
            max_retries: 2,
        };
        let err = announce_with(&url, &request(), T, &cfg).await.unwrap_err();
        assert!(matches!(err, AnnounceError::Timeout(_)), "{err:?}");
        assert_eq!(
            fake.lock().unwrap().log.len(),
            3,
            "first send plus two retries"
        );
        // The overall timeout bounds BEP 15's long default schedule.
        let start = Instant::now();
        let err = announce(&url, &request(), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, AnnounceError::Timeout(_)), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn udp_reuses_and_refreshes_connection_ids() {
        let (url, fake) = fake_udp(UdpFakeState::default()).await;
        announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        let sizes = |f: &Arc<Mutex<UdpFakeState>>| {
            f.lock()
                .unwrap()
                .log
                .iter()
                .map(Vec::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            sizes(&fake),
            vec![16, 98, 98],
            "the second announce reuses the cached id"
        );

        // The tracker forgets our id: the refusal triggers a fresh connect and one retry.
        fake.lock().unwrap().valid = 0;
        announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        assert_eq!(sizes(&fake), vec![16, 98, 98, 98, 16, 98]);
    }

    #[tokio::test]
    async fn udp_error_is_a_failure() {
        let (url, fake) = fake_udp(UdpFakeState {
            always_error: Some("torrent not registered".into()),
            ..Default::default()
        })
        .await;
        match announce_with(&url, &request(), T, &fast_udp()).await {
            Err(AnnounceError::Tracker(TrackerError::Failure(m))) => {
                assert_eq!(m, "torrent not registered")
            }
            other => panic!("{other:?}"),
        }
        // A fresh id that is refused is not retried.
        assert_eq!(fake.lock().unwrap().log.len(), 2);
    }

    #[tokio::test]
    async fn udp_over_ipv6_reads_18_byte_peers() {
        // Skip quietly where the sandbox has no IPv6 loopback.
        let Ok(sock) = UdpSocket::bind("[::1]:0").await else {
            return;
        };
        let url = format!("udp://{}/announce", sock.local_addr().unwrap());
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            for _ in 0..2 {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                let mut reply = Vec::new();
                if n == 16 {
                    reply.extend_from_slice(&[0, 0, 0, 0]);
                    reply.extend_from_slice(&buf[12..16]);
                    reply.extend_from_slice(&99u64.to_be_bytes());
                } else {
                    reply.extend_from_slice(&[0, 0, 0, 1]);
                    reply.extend_from_slice(&buf[12..16]);
                    reply.extend_from_slice(&[0, 0, 0, 60, 0, 0, 0, 1, 0, 0, 0, 1]);
                    reply.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
                    reply.extend_from_slice(&6881u16.to_be_bytes());
                }
                let _ = sock.send_to(&reply, from).await;
            }
        });
        let resp = announce_with(&url, &request(), T, &fast_udp())
            .await
            .unwrap();
        assert_eq!(resp.peers, vec!["[::1]:6881".parse().unwrap()]);
        assert_eq!(resp.interval, 60);
    }

    #[tokio::test]
    async fn udp_refused_port_fails() {
        let url = format!("udp://127.0.0.1:{}", closed_port());
        assert!(
            announce(&url, &request(), Duration::from_secs(2))
                .await
                .is_err()
        );
    }

    #[test]
    fn udp_urls() {
        assert_eq!(
            parse_udp_url("udp://tracker.example:1337/announce").unwrap(),
            ("tracker.example".into(), 1337)
        );
        assert_eq!(
            parse_udp_url("udp://[::1]:6969").unwrap(),
            ("::1".into(), 6969)
        );
        assert_eq!(
            parse_udp_url("UDP://1.2.3.4:80?x=1").unwrap(),
            ("1.2.3.4".into(), 80)
        );
        for bad in [
            "udp://host",
            "udp://host:0",
            "udp://:80",
            "udp://[::1",
            "udp://[::1]80",
            "udp://h:99999",
            "udp",
        ] {
            assert!(
                matches!(parse_udp_url(bad), Err(AnnounceError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn udp_wait_doubles_without_overflow() {
        let cfg = UdpConfig::default();
        assert_eq!(cfg.wait(0), Duration::from_secs(15));
        assert_eq!(cfg.wait(8), Duration::from_secs(3840));
        let _ = cfg.wait(u32::MAX);
        assert_eq!(
            UdpConfig::for_timeout(Duration::from_secs(20)).base_timeout,
            Duration::from_secs(5)
        );
        assert_eq!(
            UdpConfig::for_timeout(Duration::ZERO).base_timeout,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn connection_cache_expires() {
        let mut c = ConnectionCache::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let t0 = Instant::now();
        c.insert(a, 7, t0);
        assert_eq!(c.get(a, t0 + Duration::from_secs(59)), Some((7, t0)));
        assert_eq!(c.get(a, t0 + CONNECTION_ID_TTL), None);
        c.remove(a);
        assert_eq!(c.get(a, t0), None);
    }

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

    #[test]
    fn tiers_shuffle_within_and_promote() {
        let urls = |n: usize, p: &str| (0..n).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
        let mut tiers = Tiers::new(vec![urls(5, "a"), vec![], urls(3, "b")], &mut rand::rng());
        assert_eq!(tiers.tiers.len(), 2, "empty tiers are dropped");
        let mut first = tiers.tiers[0].clone();
        first.sort();
        assert_eq!(first, urls(5, "a"), "shuffling stays within the tier");
        assert!(tiers.order()[5..].iter().all(|u| u.starts_with('b')));
        tiers.promote("b2");
        assert_eq!(tiers.tiers[1][0], "b2");
        tiers.promote("a3");
        assert_eq!(tiers.tiers[0][0], "a3");
        assert_eq!(tiers.order().len(), 8);
    }

    #[test]
    fn schedule_rules() {
        let t0 = Instant::now();
        let s10 = Duration::from_secs(10);
        let mut s = Schedule::new(t0, Duration::from_secs(5));
        assert_eq!(s.next, t0);
        // interval vs min interval vs floor: the largest wins.
        assert_eq!(
            s.on_success(t0, Duration::from_secs(1800), Some(Duration::from_secs(60))),
            Duration::from_secs(1800)
        );
        assert_eq!(s.next, t0 + Duration::from_secs(1800));
        // A peer request waits for the tracker's min interval; completion only for the floor.
        s.hurry(t0 + Duration::from_secs(1), true);
        assert_eq!(s.next, t0 + Duration::from_secs(60));
        s.hurry(t0 + Duration::from_secs(1), false);
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        s.hurry(t0 + s10, false);
        assert_eq!(
            s.next,
            t0 + Duration::from_secs(5),
            "never later than already planned"
        );
        assert_eq!(
            s.on_success(t0, Duration::from_secs(1), None),
            Duration::from_secs(5)
        );

        // Backoff doubles from 15 s to 30 min.
        let waits: Vec<u64> = (0..10).map(|_| s.on_failure(t0).as_secs()).collect();
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 1800, 1800, 1800]);
        s.on_success(t0, s10, None);
        assert_eq!(
            s.on_failure(t0).as_secs(),
            15,
            "a success resets the backoff"
        );
        // While failing, a peer request waits at least BACKOFF_BASE; a completion only the floor.
        s.on_failure(t0);
        s.hurry(t0, true);
        assert_eq!(s.next, t0 + BACKOFF_BASE);
        s.hurry(t0, false);
        assert_eq!(s.next, t0 + Duration::from_secs(5));
        let mut slow = Schedule::new(t0, Duration::from_secs(100));
        assert_eq!(
            slow.on_failure(t0).as_secs(),
            100,
            "never faster than the floor"
        );
        for _ in 0..100 {
            slow.on_failure(t0);
        }
        assert_eq!(slow.on_failure(t0), BACKOFF_MAX);
    }

    fn config(tiers: Vec<Vec<String>>) -> AnnouncerConfig {
        AnnouncerConfig {
            tiers,
            info_hash: InfoHash(IH),
            peer_id: PeerId(*b"-FP0100-123456789012"),
            port: 7000,
            numwant: 25,
            timeout: Duration::from_secs(2),
            min_interval: Duration::from_millis(100),
        }
    }

    #[test]
    fn events_per_url() {
        let t0 = Instant::now();
        let mut st = AnnouncerState::new(
            config(vec![vec!["a".into(), "b".into()]]),
            t0,
            &mut rand::rng(),
            1,
        );
        let ok = AnnounceResponse {
            interval: 60,
            tracker_id: Some(b"id".to_vec()),
            ..Default::default()
        };
        assert_eq!(st.event_for("a"), Event::Started);
        st.on_command(t0, &Command::Completed);
        assert_eq!(st.event_for("a"), Event::Started, "started comes first");
        st.on_success(t0, "a", Event::Started, &ok);
        assert_eq!(
            st.schedule.next,
            t0 + Duration::from_millis(100),
            "pending completion goes out promptly"
        );
        assert_eq!(st.event_for("a"), Event::Completed);
        assert_eq!(
            st.event_for("b"),
            Event::Started,
            "a fallback tracker still needs started"
        );
        let req = st.request("a", Event::Completed, AnnounceStats::default());
        assert_eq!(req.tracker_id.as_deref(), Some(&b"id"[..]));
        assert_eq!(req.numwant, Some(25));
        st.on_success(t0, "a", Event::Completed, &ok);
        assert_eq!(st.event_for("a"), Event::None);
        assert_eq!(
            st.request("a", Event::Stopped, AnnounceStats::default())
                .numwant,
            Some(0)
        );
        assert_eq!(st.last_url.as_deref(), Some("a"));
    }

    async fn next_update(rx: &mut mpsc::Receiver<TrackerUpdate>) -> TrackerUpdate {
        tokio::time::timeout(T, rx.recv())
            .await
            .expect("update in time")
            .expect("channel open")
    }

    async fn next_path(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(T, rx.recv())
            .await
            .expect("request in time")
            .expect("server alive")
    }

    #[tokio::test]
    async fn announcer_started_completed_stopped() {
        let (url, mut seen) = fake_http(|_| (200, ok_body(1800)));
        let (stats_tx, stats_rx) = watch::channel(AnnounceStats {
            uploaded: 0,
            downloaded: 0,
            left: 100,
        });
        let (tx, mut rx) = mpsc::channel(16);
        let handle = spawn_announcer(config(vec![vec![url.clone()]]), stats_rx, tx);

        let p = next_path(&mut seen).await;
        assert_eq!(query_param(&p, "event"), Some("started"));
        assert_eq!(query_param(&p, "left"), Some("100"));
        assert_eq!(query_param(&p, "port"), Some("7000"));
        assert_eq!(query_param(&p, "numwant"), Some("25"));
        assert_eq!(query_param(&p, "trackerid"), None);
        let TrackerUpdate::Peers {
            url: u,
            peers,
            seeders,
            leechers,
            interval,
        } = next_update(&mut rx).await
        else {
            panic!("expected peers")
        };
        assert_eq!(
            (u, peers.len(), seeders, leechers),
            (url.clone(), 1, Some(3), Some(2))
        );
        assert_eq!(interval, Duration::from_secs(1800));

        stats_tx.send_replace(AnnounceStats {
            uploaded: 5,
            downloaded: 100,
            left: 0,
        });
        let asked = Instant::now();
        handle.completed();
        let p = next_path(&mut seen).await;
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "completed goes out promptly"
        );
        assert_eq!(query_param(&p, "event"), Some("completed"));
        assert_eq!(query_param(&p, "left"), Some("0"));
        assert_eq!(query_param(&p, "downloaded"), Some("100"));
        assert_eq!(query_param(&p, "trackerid"), Some("T1"));
        assert!(matches!(
            next_update(&mut rx).await,
            TrackerUpdate::Peers { .. }
        ));

        // A peer request respects the floor but is honoured.
        handle.request_peers();
        let p = next_path(&mut seen).await;
        assert_eq!(query_param(&p, "event"), None);
        assert!(matches!(
            next_update(&mut rx).await,
            TrackerUpdate::Peers { .. }
        ));

        handle.stop().await;
        let p = next_path(&mut seen).await;
        assert_eq!(query_param(&p, "event"), Some("stopped"));
        assert_eq!(query_param(&p, "numwant"), Some("0"));
        assert_eq!(query_param(&p, "trackerid"), Some("T1"));
        assert!(seen.try_recv().is_err(), "nothing after stopped");
    }

    #[tokio::test]
    async fn announcer_over_udp_warns_and_falls_back() {
        let (dead, dead_hits) = dead_http();
        let (udp, fake) = fake_udp(UdpFakeState::default()).await;
        let (_stats_tx, stats_rx) = watch::channel(AnnounceStats::default());
        let (tx, mut rx) = mpsc::channel(16);
        let handle = spawn_announcer(config(vec![vec![dead.clone(), udp.clone()]]), stats_rx, tx);

        // Whatever the shuffle, the first round ends with the UDP tracker answering.
        loop {
            match next_update(&mut rx).await {
                TrackerUpdate::Error { url, .. } => assert_eq!(url, dead),
                TrackerUpdate::Peers { url, .. } => {
                    assert_eq!(url, udp);
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        // It moved to the front: later rounds go straight to it.
        for _ in 0..2 {
            handle.request_peers();
            match next_update(&mut rx).await {
                TrackerUpdate::Peers { url, .. } => assert_eq!(url, udp),
                other => panic!("{other:?}"),
            }
        }
        assert!(dead_hits.load(Ordering::SeqCst) <= 1);
        handle.stop().await;
        let events: Vec<u8> = fake
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|p| p.len() == 98)
            .map(|p| p[83])
            .collect();
        assert_eq!(events, vec![2, 0, 0, 3], "started, none, none, stopped");
    }

    #[tokio::test]
    async fn announcer_reports_warnings_and_ends_when_updates_close() {
        let (url, _seen) = fake_http(|_| {
            let mut body = ok_body(1800);
            body.pop();
            body.extend_from_slice(b"15:warning message4:slowe");
            (200, body)
        });
        let (_stats_tx, stats_rx) = watch::channel(AnnounceStats::default());
        let (tx, mut rx) = mpsc::channel(16);
        let handle = spawn_announcer(config(vec![vec![url.clone()]]), stats_rx, tx);
        assert_eq!(
            next_update(&mut rx).await,
            TrackerUpdate::Warning {
                url,
                message: "slow".into()
            }
        );
        assert!(matches!(
            next_update(&mut rx).await,
            TrackerUpdate::Peers { .. }
        ));
        drop(rx);
        tokio::time::timeout(T, async {
            while !handle.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("task ends once nobody listens");
    }

    #[tokio::test]
    async fn announcer_without_trackers_idles_and_stops() {
        let (_stats_tx, stats_rx) = watch::channel(AnnounceStats::default());
        let (tx, mut rx) = mpsc::channel(16);
        let handle = spawn_announcer(config(vec![]), stats_rx, tx);
        handle.request_peers();
        handle.completed();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(rx.try_recv().is_err());
        tokio::time::timeout(T, handle.stop()).await.unwrap();
    }
}
