//! The "Build your own BitTorrent" course's stages, run against fakes as strict as the
//! course tester's: a test peer that hangs up without a word when our reserved bytes are not
//! the ones it expects (`00..00` or only the BEP 10 bit for a .torrent, exactly the BEP 10 bit
//! for a magnet), and a tracker that refuses a missing, zero-peer or too large `left`. Each
//! stage runs the real binary with the course's time limit (10 s a stage, 20 s for
//! `download`, 90 s for `magnet_download`) as a guard against hangs, and checks what the
//! course checks: exit code, stdout, and the SHA-1 of what was written.
//!
//! The handshake and metadata stages copy the tester's own fake peers message for message
//! (one connection at a time, the extension handshake must be our first message, the
//! metadata request the next one, keep-alives are fatal). The download stages use a seeder
//! that behaves like the course's real seeders (the `rain` client): it serves only after
//! `interested`, drops requests while choking, closes on a request over 16 KiB or out of range
//! and on an extension message id it did not assign.
//!
//! Content is generated here with the shapes of the course's files (single-file torrents,
//! 256 KiB pieces, a short last piece); nothing outside the repository is read. No test
//! contacts anything but 127.0.0.1 (`--no-dht` on every command).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PIECE_LENGTH: usize = 262_144;
const BLOCK_MAX: u32 = 16_384;
const NONE: [u8; 8] = [0; 8];
const EXTENSION_ONLY: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0];
/// What rain seeders answer: the Fast bit, plus BEP 10 on magnet seeders.
const RAIN_TORRENT: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0x04];
const RAIN_MAGNET: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0x04];
const STAGE: Duration = Duration::from_secs(10);

// ---- content ------------------------------------------------------------------------------

/// A single-file torrent shaped like the course's: its data, raw info dict and info hash.
struct Content {
    name: String,
    data: Vec<u8>,
    info: Vec<u8>,
    info_hash: [u8; 20],
}

impl Content {
    fn new(name: &str, len: usize) -> Content {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut pieces = Vec::new();
        for chunk in data.chunks(PIECE_LENGTH) {
            pieces.extend_from_slice(&Sha1::digest(chunk));
        }
        // sorted keys, as the course's Go encoder writes them
        let mut info = format!(
            "d6:lengthi{len}e4:name{}:{name}12:piece lengthi{PIECE_LENGTH}e6:pieces{}:",
            name.len(),
            pieces.len()
        )
        .into_bytes();
        info.extend_from_slice(&pieces);
        info.push(b'e');
        let info_hash = Sha1::digest(&info).into();
        Content {
            name: name.into(),
            data,
            info,
            info_hash,
        }
    }

    fn piece(&self, index: usize) -> &[u8] {
        let start = index * PIECE_LENGTH;
        &self.data[start..(start + PIECE_LENGTH).min(self.data.len())]
    }

    fn piece_count(&self) -> usize {
        self.data.len().div_ceil(PIECE_LENGTH)
    }

    fn hex(&self) -> String {
        hex(&self.info_hash)
    }

    fn torrent_file(&self, dir: &std::path::Path, announce: &str) -> String {
        let mut t = format!(
            "d8:announce{}:{announce}10:created by13:mktorrent 1.14:info",
            announce.len()
        )
        .into_bytes();
        t.extend_from_slice(&self.info);
        t.push(b'e');
        let path = dir.join(format!("{}.torrent", self.name));
        std::fs::write(&path, t).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The course's magnet form: the tracker's `host:port` is not percent-encoded.
    fn magnet(&self, tracker: SocketAddr) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn={}&tr=http%3A%2F%2F{tracker}%2Fannounce",
            self.hex(),
            self.name
        )
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn sha1_hex(b: &[u8]) -> String {
    hex(&Sha1::digest(b))
}

// ---- running the binary -------------------------------------------------------------------

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Run `fast-peer --no-dht ARGS`, killed (and failed) after `limit`, as the tester does.
fn run(args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fast-peer"))
        .arg("--no-dht")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fast-peer");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{args:?}: execution timed out after {limit:?}\nstderr: {}",
                err_reader.join().unwrap()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Run {
        ok: status.success(),
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn succeeds(args: &[&str], limit: Duration) -> String {
    let r = run(args, limit);
    assert!(
        r.ok,
        "{args:?} failed\nstdout: {}\nstderr: {}",
        r.stdout, r.stderr
    );
    r.stdout
}

// ---- the fake tracker ---------------------------------------------------------------------

/// The course's test tracker: the same checks in the same order, the same bodies.
struct Tracker {
    addr: SocketAddr,
    /// Every `left` it was sent, in order.
    lefts: Arc<Mutex<Vec<String>>>,
}

impl Tracker {
    fn start(info_hash: [u8; 20], file_length: u64, reply: Vec<u8>) -> Tracker {
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

    fn url(&self) -> String {
        format!("http://{}/announce", self.addr)
    }
}

/// A compact reply naming `peers`, as the course tracker builds it.
fn peers_reply(peers: &[SocketAddr]) -> Vec<u8> {
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

fn serve_announce(
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
fn announce_body(
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
fn parse_query(q: &str) -> HashMap<String, Vec<u8>> {
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

fn unescape(s: &str) -> Option<Vec<u8>> {
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

// ---- the fake peers -----------------------------------------------------------------------

/// Which of the tester's peers to be.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    /// `handshake`: answer the handshake, close.
    Handshake,
    /// `magnet_handshake`, "advertise extension support": handshake, bitfield, extension
    /// handshake, 1 s, close; reads nothing after our handshake.
    Advertise,
    /// `magnet_handshake`, "send extension handshake": our first message must be our
    /// extension handshake; the connection stays open until we close it.
    ExpectExtension,
    /// `magnet_handshake`, "receive extension handshake": as above, then 1 s and close.
    ExtensionThenClose,
    /// `magnet_info`, "request metadata": then our next message must ask for metadata piece 0;
    /// the data is sent and the connection stays open.
    ExpectMetadataRequest,
    /// `magnet_info`, "receive metadata": as above, then close at once.
    SendMetadata,
    /// The download stages: a seeder like the course's real ones (rain).
    Seeder,
}

/// A fake peer for one torrent, and what it saw.
struct Peer {
    addr: SocketAddr,
    /// The reserved bytes of every handshake we sent it, in order.
    reserved_seen: Arc<Mutex<Vec<[u8; 8]>>>,
    /// The stage's own check passed (e.g. a valid extension handshake arrived first).
    passed: Arc<AtomicBool>,
    /// Its `ut_metadata` id (random 1..=255, as the tester picks).
    metadata_id: u8,
}

struct PeerSetup {
    role: Role,
    content: Arc<Content>,
    magnet: bool,
    metadata_id: u8,
    peer_id: [u8; 20],
    reserved_seen: Arc<Mutex<Vec<[u8; 8]>>>,
    passed: Arc<AtomicBool>,
}

impl Peer {
    fn start(role: Role, content: Arc<Content>, magnet: bool) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let metadata_id = (rand::random::<u8>() % 255) + 1;
        let setup = Arc::new(PeerSetup {
            role,
            content,
            magnet,
            metadata_id,
            peer_id: rand::random(),
            reserved_seen: Arc::default(),
            passed: Arc::default(),
        });
        let peer = Peer {
            addr,
            reserved_seen: setup.reserved_seen.clone(),
            passed: setup.passed.clone(),
            metadata_id,
        };
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let setup = setup.clone();
                if setup.role == Role::Seeder {
                    thread::spawn(move || serve(conn, &setup));
                } else {
                    // the tester's peers handle one connection at a time
                    serve(conn, &setup);
                }
            }
        });
        peer
    }
}

fn read_exact(c: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; n];
    c.read_exact(&mut b).ok()?;
    Some(b)
}

/// One length-prefixed message: `None` at EOF, `Some(empty)` for a keep-alive.
fn read_message(c: &mut TcpStream) -> Option<Vec<u8>> {
    let len = u32::from_be_bytes(read_exact(c, 4)?.try_into().ok()?) as usize;
    if len > 1 << 20 {
        return None;
    }
    read_exact(c, len)
}

fn send(c: &mut TcpStream, id: u8, payload: &[u8]) -> bool {
    let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    m.push(id);
    m.extend_from_slice(payload);
    c.write_all(&m).is_ok()
}

fn serve(mut c: TcpStream, s: &PeerSetup) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(30)));
    // the handshake: first byte 19, then 67 more; reserved bytes must be exactly as expected
    let Some(first) = read_exact(&mut c, 1) else {
        return;
    };
    if first[0] != 19 {
        return;
    }
    let Some(rest) = read_exact(&mut c, 67) else {
        return;
    };
    if &rest[..19] != b"BitTorrent protocol" {
        return;
    }
    let reserved: [u8; 8] = rest[19..27].try_into().unwrap();
    s.reserved_seen.lock().unwrap().push(reserved);
    let accepted: &[[u8; 8]] = if s.magnet {
        &[EXTENSION_ONLY]
    } else {
        &[NONE, EXTENSION_ONLY]
    };
    if !accepted.contains(&reserved) || rest[27..47] != s.content.info_hash {
        return; // closes without a word
    }
    let answer = match (s.role, s.magnet) {
        (Role::Seeder, true) => RAIN_MAGNET,
        (Role::Seeder, false) => RAIN_TORRENT,
        _ => accepted[0],
    };
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&answer);
    hs.extend_from_slice(&s.content.info_hash);
    hs.extend_from_slice(&s.peer_id);
    if c.write_all(&hs).is_err() {
        return;
    }
    match s.role {
        Role::Handshake => {}
        Role::Seeder => seed(c, s, reserved == EXTENSION_ONLY && s.magnet),
        role => metadata_stage(c, s, role),
    }
}

/// The tester's extension handshake: only `m.ut_metadata` and `metadata_size`.
fn their_extension_handshake(s: &PeerSetup) -> Vec<u8> {
    let mut p = vec![0u8];
    p.extend_from_slice(
        format!(
            "d1:md11:ut_metadatai{}ee13:metadata_sizei{}ee",
            s.metadata_id,
            s.content.info.len()
        )
        .as_bytes(),
    );
    p
}

fn bitfield(content: &Content) -> Vec<u8> {
    let n = content.piece_count();
    let mut b = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        b[i / 8] |= 0x80 >> (i % 8);
    }
    b
}

/// The magnet_handshake and magnet_info stages.
fn metadata_stage(mut c: TcpStream, s: &PeerSetup, role: Role) {
    if !send(&mut c, 5, &bitfield(&s.content)) || !send(&mut c, 20, &their_extension_handshake(s)) {
        return;
    }
    if role == Role::Advertise {
        thread::sleep(Duration::from_secs(1));
        return;
    }
    // our very next message must be our extension handshake with ut_metadata in 1..=255
    let Some(msg) = read_message(&mut c) else {
        return;
    };
    let Some(our_id) = our_metadata_id(&msg) else {
        return;
    };
    match role {
        Role::ExpectExtension => {
            s.passed.store(true, Ordering::SeqCst);
            wait_for_close(c);
        }
        Role::ExtensionThenClose => {
            s.passed.store(true, Ordering::SeqCst);
            thread::sleep(Duration::from_secs(1));
        }
        _ => {
            // the next message must request metadata piece 0
            let Some(req) = read_message(&mut c) else {
                return;
            };
            let Some(dict) = req
                .get(2..)
                .filter(|_| req.len() > 2 && req[0] == 20)
                .and_then(parse_flat_dict)
            else {
                return;
            };
            if dict.get("msg_type") != Some(&0) || dict.get("piece") != Some(&0) {
                return;
            }
            let mut data = vec![our_id];
            data.extend_from_slice(
                format!(
                    "d8:msg_typei1e5:piecei0e10:total_sizei{}ee",
                    s.content.info.len()
                )
                .as_bytes(),
            );
            data.extend_from_slice(&s.content.info);
            if send(&mut c, 20, &data) {
                s.passed.store(true, Ordering::SeqCst);
            }
            if role == Role::ExpectMetadataRequest {
                wait_for_close(c);
            }
        }
    }
}

fn wait_for_close(mut c: TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
}

/// `m.ut_metadata` of an extension handshake message (id 20, extension id 0), if valid.
fn our_metadata_id(msg: &[u8]) -> Option<u8> {
    if msg.len() < 3 || msg[0] != 20 || msg[1] != 0 {
        return None;
    }
    let body = &msg[2..];
    let key = b"11:ut_metadatai";
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let end = body[at..].iter().position(|&b| b == b'e')? + at;
    let id: i64 = std::str::from_utf8(&body[at..end]).ok()?.parse().ok()?;
    u8::try_from(id).ok().filter(|i| *i > 0)
}

/// The integer values of a flat bencoded dict (enough for BEP 9 headers).
fn parse_flat_dict(d: &[u8]) -> Option<HashMap<String, i64>> {
    let mut out = HashMap::new();
    let mut i = 1;
    if d.first() != Some(&b'd') {
        return None;
    }
    while d.get(i) != Some(&b'e') {
        let colon = d[i..].iter().position(|&b| b == b':')? + i;
        let len: usize = std::str::from_utf8(&d[i..colon]).ok()?.parse().ok()?;
        let key = String::from_utf8_lossy(d.get(colon + 1..colon + 1 + len)?).into_owned();
        i = colon + 1 + len;
        if d.get(i) != Some(&b'i') {
            return None;
        }
        let end = d[i..].iter().position(|&b| b == b'e')? + i;
        out.insert(key, std::str::from_utf8(&d[i + 1..end]).ok()?.parse().ok()?);
        i = end + 1;
    }
    Some(out)
}

/// A rain-like seeder: bitfield (plus its extension handshake when BEP 10 is on), unchoke on
/// `interested`, strict requests, BEP 9 metadata with its own ids (1: ut_metadata, 2: ut_pex).
fn seed(mut c: TcpStream, s: &PeerSetup, extensions: bool) {
    let content = &s.content;
    if !send(&mut c, 5, &bitfield(content)) {
        return;
    }
    if extensions {
        let mut p = vec![0u8];
        p.extend_from_slice(
            format!(
                "d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei{}e4:reqqi250e1:v8:Rain 1.0e",
                content.info.len()
            )
            .as_bytes(),
        );
        if !send(&mut c, 20, &p) {
            return;
        }
    }
    let mut choking = true;
    let mut their_metadata_id: Option<u8> = None;
    let n = content.piece_count();
    while let Some(msg) = read_message(&mut c) {
        let Some((&id, body)) = msg.split_first() else {
            continue;
        }; // keep-alive
        match id {
            2 if choking => {
                choking = false;
                if !send(&mut c, 1, &[]) {
                    return;
                }
            }
            4 if body.len() != 4 || u32::from_be_bytes(body.try_into().unwrap()) as usize >= n => {
                return;
            }
            5 if body.len() != n.div_ceil(8) => return,
            6 => {
                let Ok(r) = <[u8; 12]>::try_from(body) else {
                    return;
                };
                let field = |i: usize| u32::from_be_bytes(r[i..i + 4].try_into().unwrap());
                let (index, begin, length) = (field(0), field(4), field(8));
                if length > BLOCK_MAX || index as usize >= n {
                    return; // rain: block size error / invalid piece
                }
                let piece = content.piece(index as usize);
                if begin as usize + length as usize > piece.len() {
                    return;
                }
                if choking {
                    continue; // dropped silently
                }
                let mut p = r[..8].to_vec();
                p.extend_from_slice(&piece[begin as usize..(begin + length) as usize]);
                if !send(&mut c, 7, &p) {
                    return;
                }
            }
            20 if extensions => match body.first() {
                Some(0) => their_metadata_id = our_metadata_id(&msg),
                Some(1) => {
                    let Some(ours) = their_metadata_id else {
                        continue;
                    }; // ignored before our handshake
                    let Some(d) = parse_flat_dict(&body[1..]) else {
                        return;
                    };
                    let piece = d.get("piece").copied().unwrap_or(-1);
                    let reply = if d.get("msg_type") == Some(&0) && piece == 0 {
                        let mut r = format!(
                            "d8:msg_typei1e5:piecei0e10:total_sizei{}ee",
                            content.info.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(&content.info);
                        r
                    } else {
                        format!("d8:msg_typei2e5:piecei{piece}ee").into_bytes()
                    };
                    let mut p = vec![ours];
                    p.extend_from_slice(&reply);
                    if !send(&mut c, 20, &p) {
                        return;
                    }
                }
                Some(2) => {}
                _ => return, // "peer sent invalid extension message id"
            },
            20 => return,
            _ => {}
        }
    }
    let _ = c.shutdown(Shutdown::Both);
}

// ---- the stages ---------------------------------------------------------------------------

fn magnet_content(which: usize) -> Arc<Content> {
    // the lengths of the course's magnet1.gif, magnet2.gif and magnet3.gif
    let (name, len) = [
        ("magnet1.gif", 636_505),
        ("magnet2.gif", 79_752),
        ("magnet3.gif", 629_944),
    ][which];
    Arc::new(Content::new(name, len))
}

/// The handshakes we sent: the first carries our full bits (real peers get DHT and Fast),
/// and the one the strict peer accepted carries only the BEP 10 bit.
fn assert_fell_back(peer: &Peer) {
    let seen = peer.reserved_seen.lock().unwrap().clone();
    assert_eq!(
        seen.first(),
        Some(&[0, 0, 0, 0, 0, 0x10, 0, 0x05]),
        "first handshake: {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&EXTENSION_ONLY),
        "accepted handshake: {seen:?}"
    );
}

#[test]
fn peers_prints_every_peer_of_the_tracker_reply() {
    let dir = tempfile::tempdir().unwrap();
    let content = Content::new("faketorrent.iso", 2_097_152);
    // a canned reply from a real tracker: extra keys, peers that are never contacted
    let listed: Vec<SocketAddr> = [
        "192.0.2.17:6881",
        "198.51.100.4:51414",
        "203.0.113.250:60000",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let mut reply = peers_reply(&listed);
    // an extra key, out of order (trackers do not always sort)
    reply.splice(1..1, b"10:downloadedi7e".iter().copied());
    let tracker = Tracker::start(content.info_hash, content.data.len() as u64, reply);
    let torrent = content.torrent_file(dir.path(), &tracker.url());
    let out = succeeds(&["peers", &torrent], STAGE);
    for p in &listed {
        assert!(out.contains(&p.to_string()), "{p} missing from {out:?}");
    }
    assert_eq!(tracker.lefts.lock().unwrap().as_slice(), ["2097152"]);
}

#[test]
fn handshake_passes_a_strict_peer() {
    let dir = tempfile::tempdir().unwrap();
    let content = Arc::new(Content::new("fakefilename.iso", 2_097_152));
    let peer = Peer::start(Role::Handshake, content.clone(), false);
    let torrent = content.torrent_file(dir.path(), "http://127.0.0.1:1/announce");
    let out = succeeds(&["handshake", &torrent, &peer.addr.to_string()], STAGE);
    let id = out
        .strip_prefix("Peer ID: ")
        .and_then(|s| s.strip_suffix('\n'))
        .expect("Peer ID line");
    assert_eq!(id.len(), 40);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_fell_back(&peer);
}

#[test]
fn magnet_parse_takes_an_unencoded_tracker_port() {
    let content = magnet_content(0);
    let tracker: SocketAddr = "127.0.0.1:41234".parse().unwrap();
    let out = succeeds(&["magnet_parse", &content.magnet(tracker)], STAGE);
    assert!(
        out.contains("Tracker URL: http://127.0.0.1:41234/announce\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Info Hash: {}\n", content.hex())),
        "{out}"
    );
}

/// A fake tracker and a fake peer in `role` for magnet `which` (for `Role::Seeder`, a strict
/// rain-like seeder).
fn magnet_stage(role: Role, which: usize) -> (Arc<Content>, Tracker, Peer) {
    let content = magnet_content(which);
    let peer = Peer::start(role, content.clone(), true);
    let tracker = Tracker::start(
        content.info_hash,
        content.data.len() as u64,
        peers_reply(&[peer.addr]),
    );
    (content, tracker, peer)
}

#[test]
fn magnet_handshake_advertises_only_the_extension_bit() {
    let (content, tracker, peer) = magnet_stage(Role::Advertise, 1);
    let out = succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(out.starts_with("Peer ID: "), "{out}");
    assert_fell_back(&peer);
    // the size is unknown before the metadata: a small positive `left`, never above the size
    assert_eq!(tracker.lefts.lock().unwrap().as_slice(), ["1"]);
}

#[test]
fn magnet_handshake_sends_its_extension_handshake_first() {
    let (content, tracker, peer) = magnet_stage(Role::ExpectExtension, 0);
    succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(
        peer.passed.load(Ordering::SeqCst),
        "the peer did not get a valid extension handshake first"
    );
}

#[test]
fn magnet_handshake_prints_the_peers_metadata_extension_id() {
    let (content, tracker, peer) = magnet_stage(Role::ExtensionThenClose, 2);
    let out = succeeds(&["magnet_handshake", &content.magnet(tracker.addr)], STAGE);
    assert!(
        out.contains(&format!(
            "Peer Metadata Extension ID: {}\n",
            peer.metadata_id
        )),
        "{out}"
    );
    assert!(peer.passed.load(Ordering::SeqCst));
}

#[test]
fn magnet_info_requests_metadata_on_a_connection_that_stays_open() {
    let (content, tracker, peer) = magnet_stage(Role::ExpectMetadataRequest, 0);
    succeeds(&["magnet_info", &content.magnet(tracker.addr)], STAGE);
    assert!(
        peer.passed.load(Ordering::SeqCst),
        "no valid metadata request"
    );
}

#[test]
fn magnet_info_prints_the_fetched_metadata() {
    for which in 0..3 {
        let (content, tracker, peer) = magnet_stage(Role::SendMetadata, which);
        let out = succeeds(&["magnet_info", &content.magnet(tracker.addr)], STAGE);
        assert!(
            out.contains(&format!("Tracker URL: {}", tracker.url())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Length: {}", content.data.len())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Info Hash: {}", content.hex())),
            "{out}"
        );
        assert!(
            out.contains(&format!("Piece Length: {PIECE_LENGTH}")),
            "{out}"
        );
        for i in 0..content.piece_count() {
            assert!(
                out.contains(&sha1_hex(content.piece(i))),
                "piece {i} hash missing: {out}"
            );
        }
        assert_fell_back(&peer);
    }
}

/// A torrent with its tracker and one strict seeder.
fn torrent_stage(name: &str, len: usize, dir: &std::path::Path) -> (Arc<Content>, String, Peer) {
    let content = Arc::new(Content::new(name, len));
    let peer = Peer::start(Role::Seeder, content.clone(), false);
    let tracker = Tracker::start(content.info_hash, len as u64, peers_reply(&[peer.addr]));
    // (the tracker's thread serves until the test process ends)
    let torrent = content.torrent_file(dir, &tracker.url());
    (content, torrent, peer)
}

#[test]
fn download_piece_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    // congratulations.gif's shape: 4 pieces, the last 34460 bytes
    let (content, torrent, peer) = torrent_stage("congratulations.gif", 820_892, dir.path());
    let started = Instant::now();
    for index in [2usize, 3] {
        let out = dir.path().join(format!("piece-{index}"));
        let left = STAGE.saturating_sub(started.elapsed()); // both runs share one stage limit
        succeeds(
            &[
                "download_piece",
                "-o",
                out.to_str().unwrap(),
                &torrent,
                &index.to_string(),
            ],
            left,
        );
        assert_eq!(
            sha1_hex(&std::fs::read(&out).unwrap()),
            sha1_hex(content.piece(index)),
            "piece {index}"
        );
    }
    assert_fell_back(&peer);
}

#[test]
fn download_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (content, torrent, peer) = torrent_stage("codercat.gif", 2_994_120, dir.path());
    let out = dir.path().join("codercat.gif");
    succeeds(
        &["download", "-o", out.to_str().unwrap(), &torrent],
        Duration::from_secs(20),
    );
    assert_eq!(
        sha1_hex(&std::fs::read(&out).unwrap()),
        sha1_hex(&content.data)
    );
    assert_fell_back(&peer);
}

#[test]
fn magnet_download_piece_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    for (which, index) in [(0usize, 2usize), (1, 0)] {
        let (content, tracker, peer) = magnet_stage(Role::Seeder, which);
        let out = dir.path().join(format!("piece-{which}-{index}"));
        let left = STAGE.saturating_sub(started.elapsed());
        succeeds(
            &[
                "magnet_download_piece",
                "-o",
                out.to_str().unwrap(),
                &content.magnet(tracker.addr),
                &index.to_string(),
            ],
            left,
        );
        assert_eq!(
            sha1_hex(&std::fs::read(&out).unwrap()),
            sha1_hex(content.piece(index))
        );
        assert_fell_back(&peer);
    }
}

#[test]
fn magnet_download_from_a_strict_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let (content, tracker, peer) = magnet_stage(Role::Seeder, 2);
    let out = dir.path().join("magnet3.gif");
    succeeds(
        &[
            "magnet_download",
            "-o",
            out.to_str().unwrap(),
            &content.magnet(tracker.addr),
        ],
        Duration::from_secs(90),
    );
    assert_eq!(
        sha1_hex(&std::fs::read(&out).unwrap()),
        sha1_hex(&content.data)
    );
    assert_fell_back(&peer);
    // `left` was 1 until the metadata came, then never above the size
    let lefts = tracker.lefts.lock().unwrap().clone();
    assert_eq!(lefts.first().map(String::as_str), Some("1"), "{lefts:?}");
    assert!(
        lefts.iter().all(|l| l
            .parse::<u64>()
            .is_ok_and(|l| l <= content.data.len() as u64)),
        "{lefts:?}"
    );
}
