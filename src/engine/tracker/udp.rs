//! UDP announces (BEP 15): connect, then announce, with retransmission per [`UdpConfig`],
//! and the process-wide cache of connection ids (each used for [`CONNECTION_ID_TTL`]).

use super::{AnnounceError, CONNECTION_ID_TTL};
use crate::proto::tracker::{
    AnnounceRequest, AnnounceResponse, TrackerError, UdpResponse, clamp_interval,
    parse_udp_response, udp_announce_request, udp_connect_request,
};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tracing::debug;

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

pub(super) async fn announce_udp(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tracker::test_support::*;
    use crate::engine::tracker::{announce, announce_with};
    use std::sync::Arc;

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
        // connect (dropped), connect again, announce; on a loaded machine an answer may come
        // after the next (100 ms) retransmission too, so count only what must be there
        assert!(log.len() >= 3, "connect, connect again, announce: {log:?}");
        let (announce, connects) = log.split_last().unwrap();
        assert!(
            connects.iter().all(|c| *c == log[0]),
            "a retransmission repeats the same request"
        );
        assert_eq!(log[0].len(), 16, "the first request is a connect");
        assert_eq!(announce.len(), 98, "then the announce");
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
}
