//! The course's test tracker, copied check for check: the same checks in the same order, the
//! same bodies, and a record of every `left` it was sent.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The course's test tracker: the same checks in the same order, the same bodies.
pub struct Tracker {
    pub addr: SocketAddr,
    /// Every `left` it was sent, in order.
    pub lefts: Arc<Mutex<Vec<String>>>,
}

impl Tracker {
    pub fn start(info_hash: [u8; 20], file_length: u64, reply: Vec<u8>) -> Tracker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let lefts = Arc::new(Mutex::new(Vec::new()));
        let seen = lefts.clone();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let reply = reply.clone();
                let seen = seen.clone();
                thread::spawn(move || serve_announce(conn, info_hash, file_length, &reply, &seen));
            }
        });
        Tracker { addr, lefts }
    }

    pub fn url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }
}

/// A compact reply naming `peers`, as the course tracker builds it.
pub fn peers_reply(peers: &[SocketAddr]) -> Vec<u8> {
    let mut compact = Vec::new();
    for p in peers {
        let SocketAddr::V4(v4) = p else {
            panic!("IPv4 only")
        };
        compact.extend_from_slice(&v4.ip().octets());
        compact.extend_from_slice(&v4.port().to_be_bytes());
    }
    let mut r = format!(
        "d8:completei1e10:incompletei0e8:intervali60e12:min intervali60e5:peers{}:",
        compact.len()
    )
    .into_bytes();
    r.extend_from_slice(&compact);
    r.push(b'e');
    r
}

pub fn serve_announce(
    mut conn: TcpStream,
    info_hash: [u8; 20],
    file_length: u64,
    reply: &[u8],
    lefts: &Mutex<Vec<String>>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut parts = line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, body): (&str, Vec<u8>) = if path != "/announce" {
        ("404 Not Found", b"404 page not found".to_vec())
    } else if method != "GET" {
        (
            "405 Method Not Allowed",
            b"HTTP method GET expected".to_vec(),
        )
    } else {
        let q = parse_query(query);
        if let Some(left) = q.get("left") {
            lefts
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(left).into_owned());
        }
        ("200 OK", announce_body(&q, info_hash, file_length, reply))
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
}

/// The checks of the course tracker, in its order.
pub fn announce_body(
    q: &HashMap<String, Vec<u8>>,
    info_hash: [u8; 20],
    file_length: u64,
    reply: &[u8],
) -> Vec<u8> {
    let fail = |why: &str| format!("d14:failure reason{}:{why}e", why.len()).into_bytes();
    let int = |k: &str| {
        q.get(k)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|s| s.parse::<i64>().ok())
    };
    let Some(left) = int("left") else {
        return fail("failed to parse parameter: left");
    };
    if left == 0 {
        return b"d8:completei4e10:incompletei0e8:intervali60e12:min intervali60ee".to_vec();
    }
    if left < 0 || left as u64 > file_length {
        return fail("provided invalid left value");
    }
    if !int("port").is_some_and(|p| (0..=65536).contains(&p)) {
        return fail("failed to parse parameter: port");
    }
    for k in ["downloaded", "uploaded"] {
        if int(k).is_none() {
            return fail(&format!("failed to parse parameter: {k}"));
        }
    }
    if q.get("compact").map(Vec::as_slice) != Some(b"1") {
        return fail("failed to parse parameter: compact");
    }
    match q.get("peer_id") {
        None => return fail("failed to parse parameter: peer_id"),
        Some(id) if id.len() != 20 => return fail("failed to provide valid peer_id"),
        _ => {}
    }
    match q.get("info_hash") {
        None => fail("no info_hash parameter supplied"),
        Some(h) if h.as_slice() != info_hash => fail("provided invalid infohash"),
        _ => reply.to_vec(),
    }
}

/// Go's `url.ParseQuery` + `Get`: `+` is a space, a pair with a bad escape is dropped, the
/// first value wins.
pub fn parse_query(q: &str) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty() && !p.contains(';')) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if let (Some(k), Some(v)) = (unescape(k), unescape(v)) {
            out.entry(String::from_utf8_lossy(&k).into_owned())
                .or_insert(v);
        }
    }
    out
}

pub fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}
