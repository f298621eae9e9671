//! The announcer task that keeps one torrent announced all its life ([`spawn_announcer`] /
//! [`AnnouncerHandle`]): BEP 12 tiers shuffled once with move-to-front (`Tiers`), the
//! announce timing and backoff (`Schedule`), and the `started` / `completed` / `stopped`
//! events and tracker ids kept per URL.

use super::{BACKOFF_BASE, BACKOFF_MAX, STOP_TIMEOUT, announce};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::tracker::{AnnounceRequest, AnnounceResponse, Event};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

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
    /// Our global IPv6 address, sent as BEP 7 `ipv6=` to HTTP trackers.
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub numwant: u32,
    /// Bound on each single announce attempt to one URL.
    pub timeout: Duration,
    /// Floor between two announces, whatever the tracker or the engine asks.
    pub min_interval: Duration,
    /// Announces per second across the engine (shared by every torrent's announcer), so that
    /// a session of a thousand torrents does not announce a thousand times at once when it
    /// starts. `stopped` is not held back. `None`: no limit.
    pub gate: Option<std::sync::Arc<crate::engine::ratelimit::RateLimiter>>,
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
            ipv6: self.config.ipv6,
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
        if let Some(gate) = &state.config.gate {
            gate.acquire(1).await;
        }
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
    use crate::engine::tracker::test_support::*;
    use std::sync::atomic::Ordering;

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
            ipv6: None,
            numwant: 25,
            timeout: Duration::from_secs(2),
            min_interval: Duration::from_millis(100),
            gate: None,
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

    /// The engine's gate (`ANNOUNCES_PER_SECOND`) holds announces: with the gate in debt no
    /// request reaches the tracker, and a stop still ends the announcer at once.
    #[tokio::test]
    async fn announces_wait_for_the_gate_and_a_stop_is_not_held_by_it() {
        let (url, mut seen) = fake_http(|_| (200, ok_body(1800)));
        let (_stats_tx, stats_rx) = watch::channel(AnnounceStats::default());
        let (tx, _rx) = mpsc::channel(16);
        let gate = std::sync::Arc::new(crate::engine::ratelimit::RateLimiter::new(1));
        // a hundred announces' worth of debt: the next one waits about 100 s
        gate.reserve(101, Instant::now());
        let cfg = AnnouncerConfig {
            gate: Some(gate.clone()),
            ..config(vec![vec![url]])
        };
        let handle = spawn_announcer(cfg, stats_rx, tx);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(seen.try_recv().is_err(), "an announce went past the gate");
        // `stop` gives up on a stuck task after STOP_TIMEOUT + 1 s; one that ends by itself
        // is done well before
        tokio::time::timeout(STOP_TIMEOUT / 2, handle.stop())
            .await
            .expect("a stop is not held back by the gate");
        assert!(
            seen.try_recv().is_err(),
            "nothing announced, so no `stopped`"
        );
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
