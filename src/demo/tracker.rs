//! The demo's HTTP tracker on 127.0.0.1: `GET /announce` only (BEP 3), compact answers
//! (BEP 23) with `complete`/`incomplete` and a short [`TRACKER_INTERVAL`] so late joiners are
//! found quickly.
//!
//! The peer address is the connection's source IP and the `port` parameter; a seed is sent
//! only leechers. Requests are bounded ([`MAX_REQUEST`] bytes, [`REQUEST_TIMEOUT`],
//! [`MAX_CONNECTIONS`] at once); garbage gets a 4xx with a bencoded `failure reason`. The logic
//! is [`TrackerState`] (no sockets, time passed in); [`Tracker`] serves it.

use crate::proto::bencode::{self, Value};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

/// The re-announce interval the demo tracker asks for (also its `min interval`).
pub const TRACKER_INTERVAL: Duration = Duration::from_secs(5);
/// A peer that has not announced for this long is forgotten.
pub const PEER_TTL: Duration = Duration::from_secs(30);
/// Largest request head read; longer requests are refused.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Time allowed for one request to arrive.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
const MAX_TORRENTS: usize = 256;
const MAX_PEERS_PER_TORRENT: usize = 1024;
const DEFAULT_NUMWANT: usize = 50;
const MAX_NUMWANT: usize = 200;

#[derive(Debug, Clone, Copy)]
struct PeerEntry {
    addr: SocketAddrV4,
    seed: bool,
    seen: Instant,
}

/// The tracker's memory: peers per info hash. Plain logic on `now`, no sockets.
#[derive(Debug, Default)]
pub struct TrackerState {
    torrents: HashMap<[u8; 20], HashMap<[u8; 20], PeerEntry>>,
}

/// Decode `%XX` escapes (RFC 3986); every other byte stands for itself.
fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|&c| (c as char).to_digit(16));
            match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(format!("bad percent escape at offset {i}")),
            }
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn failure(reason: &str) -> Vec<u8> {
    let mut d = BTreeMap::new();
    d.insert(
        b"failure reason".to_vec(),
        Value::Bytes(reason.as_bytes().to_vec()),
    );
    bencode::encode(&Value::Dict(d))
}

impl TrackerState {
    /// Answer one announce whose query string (after `?`) is `query`, from source address `ip`.
    /// `Ok` is the bencoded answer, `Err` the failure reason.
    pub fn announce(&mut self, query: &str, ip: IpAddr, now: Instant) -> Result<Vec<u8>, String> {
        let mut params: HashMap<&str, Vec<u8>> = HashMap::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(k, percent_decode(v).map_err(|e| format!("{k}: {e}"))?);
        }
        let id20 = |k: &str| -> Result<[u8; 20], String> {
            let v = params.get(k).ok_or(format!("missing {k}"))?;
            <[u8; 20]>::try_from(v.as_slice())
                .map_err(|_| format!("{k} must be 20 bytes, got {}", v.len()))
        };
        let number = |k: &str| -> Result<Option<u64>, String> {
            params
                .get(k)
                .map(|v| {
                    let n = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok());
                    n.ok_or(format!("{k} is not a number"))
                })
                .transpose()
        };
        let info_hash = id20("info_hash")?;
        let peer_id = id20("peer_id")?;
        let port = match number("port")? {
            Some(p @ 1..=65535) => p as u16,
            _ => return Err("missing or invalid port".into()),
        };
        let left = number("left")?.unwrap_or(1);
        let numwant = number("numwant")?.map_or(DEFAULT_NUMWANT, |n| (n as usize).min(MAX_NUMWANT));
        let ip = match ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .ok_or("this tracker serves IPv4 peers only")?,
        };
        let stopped = params
            .get("event")
            .is_some_and(|e| e.as_slice() == b"stopped");

        self.torrents.retain(|_, peers| {
            peers.retain(|_, p| now.duration_since(p.seen) < PEER_TTL);
            !peers.is_empty()
        });
        if !self.torrents.contains_key(&info_hash) && self.torrents.len() >= MAX_TORRENTS {
            return Err("too many torrents".into());
        }
        let peers = self.torrents.entry(info_hash).or_default();
        if stopped {
            peers.remove(&peer_id);
        } else {
            if !peers.contains_key(&peer_id) && peers.len() >= MAX_PEERS_PER_TORRENT {
                return Err("too many peers".into());
            }
            peers.insert(
                peer_id,
                PeerEntry {
                    addr: SocketAddrV4::new(ip, port),
                    seed: left == 0,
                    seen: now,
                },
            );
        }
        let complete = peers.values().filter(|p| p.seed).count();
        let mut compact = Vec::new();
        if !stopped {
            let seed = left == 0;
            // a seed has nothing to gain from other seeds
            let wanted = |(id, p): &(&[u8; 20], &PeerEntry)| **id != peer_id && !(seed && p.seed);
            for (_, p) in peers.iter().filter(wanted).take(numwant) {
                compact.extend_from_slice(&p.addr.ip().octets());
                compact.extend_from_slice(&p.addr.port().to_be_bytes());
            }
        }
        let incomplete = peers.len() - complete;
        if peers.is_empty() {
            self.torrents.remove(&info_hash);
        }
        let secs = TRACKER_INTERVAL.as_secs() as i64;
        let mut d = BTreeMap::new();
        d.insert(b"complete".to_vec(), Value::Int(complete as i64));
        d.insert(b"incomplete".to_vec(), Value::Int(incomplete as i64));
        d.insert(b"interval".to_vec(), Value::Int(secs));
        d.insert(b"min interval".to_vec(), Value::Int(secs));
        d.insert(b"peers".to_vec(), Value::Bytes(compact));
        Ok(bencode::encode(&Value::Dict(d)))
    }

    /// Status and body for one raw request head (everything before the blank line).
    pub fn respond(&mut self, head: &[u8], from: IpAddr, now: Instant) -> (u16, Vec<u8>) {
        let line = head
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let Ok(line) = std::str::from_utf8(line) else {
            return (400, failure("request line is not text"));
        };
        let mut parts = line.split(' ');
        let (Some("GET"), Some(target), Some(v), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return (400, failure("expected GET /announce?... HTTP/1.1"));
        };
        if !v.starts_with("HTTP/1.") {
            return (400, failure("expected HTTP/1.x"));
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != "/announce" {
            return (404, failure("only /announce is served here"));
        }
        match self.announce(query, from, now) {
            Ok(body) => (200, body),
            Err(reason) => (400, failure(&reason)),
        }
    }
}

/// The demo's HTTP tracker, serving until dropped.
pub struct Tracker {
    addr: SocketAddr,
    url: String,
    task: JoinHandle<()>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // the accept loop owns the connection tasks (a JoinSet), so they end with it
        self.task.abort();
    }
}

impl Tracker {
    /// Bind 127.0.0.1:0 and serve.
    pub async fn start() -> io::Result<Tracker> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(TrackerState::default()));
        let task = tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => {
                        let Ok((stream, from)) = acc else { continue };
                        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
                        let state = state.clone();
                        conns.spawn(async move {
                            let _ = tokio::time::timeout(REQUEST_TIMEOUT, serve(stream, from, &state)).await;
                            drop(permit);
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Tracker {
            addr,
            url: format!("http://{addr}/announce"),
            task,
        })
    }

    /// `http://127.0.0.1:PORT/announce`
    pub fn announce_url(&self) -> &str {
        &self.url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Read one request head (bounded), answer it, close.
async fn serve(
    mut stream: TcpStream,
    from: SocketAddr,
    state: &Mutex<TrackerState>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (status, body) = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
            break st.respond(&buf[..end], from.ip(), Instant::now());
        }
        if buf.len() >= MAX_REQUEST {
            break (431, failure("request too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(()); // closed before a whole request
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        _ => "Bad Request",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(id: u8, port: u16, extra: &str) -> String {
        let mut q = String::from("info_hash=");
        crate::proto::tracker::percent_encode_into(&mut q, &[0xaa; 20]);
        q.push_str("&peer_id=");
        crate::proto::tracker::percent_encode_into(&mut q, &[id; 20]);
        format!("{q}&port={port}{extra}")
    }

    fn peers_of(body: &[u8]) -> crate::proto::tracker::AnnounceResponse {
        crate::proto::tracker::parse_http_response(body).expect("valid answer")
    }

    #[test]
    fn tracker_lists_others_and_forgets() {
        let mut t = TrackerState::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let r = peers_of(
            &t.announce(&query(1, 1001, "&left=0&event=started"), ip, t0)
                .unwrap(),
        );
        assert!(r.peers.is_empty());
        assert_eq!(
            (r.complete, r.incomplete, r.interval),
            (Some(1), Some(0), 5)
        );
        let r = peers_of(&t.announce(&query(2, 1002, "&left=5"), ip, t0).unwrap());
        assert_eq!(r.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1001))]);
        assert_eq!((r.complete, r.incomplete), (Some(1), Some(1)));
        // a seed is sent leechers only
        let r = peers_of(&t.announce(&query(4, 1004, "&left=0"), ip, t0).unwrap());
        assert_eq!(r.peers, vec![SocketAddr::from(([127, 0, 0, 1], 1002))]);
        t.announce(&query(4, 1004, "&event=stopped"), ip, t0)
            .unwrap();
        // stopped removes the peer
        t.announce(&query(1, 1001, "&event=stopped"), ip, t0)
            .unwrap();
        assert!(
            peers_of(&t.announce(&query(2, 1002, ""), ip, t0).unwrap())
                .peers
                .is_empty()
        );
        // silence expires
        t.announce(&query(3, 1003, ""), ip, t0).unwrap();
        let later = t0 + PEER_TTL + Duration::from_secs(1);
        assert!(
            peers_of(&t.announce(&query(2, 1002, ""), ip, later).unwrap())
                .peers
                .is_empty()
        );
    }

    #[test]
    fn tracker_refuses_bad_queries() {
        let mut t = TrackerState::default();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let now = Instant::now();
        for q in [
            "",
            "info_hash=abc",
            "info_hash=%zz",
            &query(1, 0, ""),
            &query(1, 1, "&numwant=x"),
        ] {
            assert!(t.announce(q, ip, now).is_err(), "{q}");
        }
        assert_eq!(t.respond(b"\xff\xfe", ip, now).0, 400);
        assert_eq!(t.respond(b"GET /scrape HTTP/1.1", ip, now).0, 404);
        assert_eq!(t.respond(b"POST /announce HTTP/1.1", ip, now).0, 400);
        let ok = format!("GET /announce?{} HTTP/1.1\r\nHost: x", query(1, 1, ""));
        assert_eq!(t.respond(ok.as_bytes(), ip, now).0, 200);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%ff+").unwrap(), b"a/b\xff+");
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%+1").is_err());
    }
}
