//! The course tester's fake peers, message for message: a peer that hangs up without a word
//! when our reserved bytes are not the ones it expects, the handshake and metadata stages'
//! scripted peers (one connection at a time), and a seeder that behaves like the course's real
//! seeders (the `rain` client).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::content::Content;

pub const BLOCK_MAX: u32 = 16_384;
pub const NONE: [u8; 8] = [0; 8];
pub const EXTENSION_ONLY: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0];
/// What rain seeders answer: the Fast bit, plus BEP 10 on magnet seeders.
pub const RAIN_TORRENT: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 0x04];
pub const RAIN_MAGNET: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0x04];

/// Which of the tester's peers to be.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Role {
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
pub struct Peer {
    pub addr: SocketAddr,
    /// The reserved bytes of every handshake we sent it, in order.
    pub reserved_seen: Arc<Mutex<Vec<[u8; 8]>>>,
    /// The stage's own check passed (e.g. a valid extension handshake arrived first).
    pub passed: Arc<AtomicBool>,
    /// Its `ut_metadata` id (random 1..=255, as the tester picks).
    pub metadata_id: u8,
}

pub struct PeerSetup {
    pub role: Role,
    pub content: Arc<Content>,
    pub magnet: bool,
    pub metadata_id: u8,
    pub peer_id: [u8; 20],
    pub reserved_seen: Arc<Mutex<Vec<[u8; 8]>>>,
    pub passed: Arc<AtomicBool>,
}

impl Peer {
    pub fn start(role: Role, content: Arc<Content>, magnet: bool) -> Peer {
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

pub fn read_exact(c: &mut TcpStream, n: usize) -> Option<Vec<u8>> {
    let mut b = vec![0u8; n];
    c.read_exact(&mut b).ok()?;
    Some(b)
}

/// One length-prefixed message: `None` at EOF, `Some(empty)` for a keep-alive.
pub fn read_message(c: &mut TcpStream) -> Option<Vec<u8>> {
    let len = u32::from_be_bytes(read_exact(c, 4)?.try_into().ok()?) as usize;
    if len > 1 << 20 {
        return None;
    }
    read_exact(c, len)
}

pub fn send(c: &mut TcpStream, id: u8, payload: &[u8]) -> bool {
    let mut m = ((payload.len() + 1) as u32).to_be_bytes().to_vec();
    m.push(id);
    m.extend_from_slice(payload);
    c.write_all(&m).is_ok()
}

pub fn serve(mut c: TcpStream, s: &PeerSetup) {
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
pub fn their_extension_handshake(s: &PeerSetup) -> Vec<u8> {
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

pub fn bitfield(content: &Content) -> Vec<u8> {
    let n = content.piece_count();
    let mut b = vec![0u8; n.div_ceil(8)];
    for i in 0..n {
        b[i / 8] |= 0x80 >> (i % 8);
    }
    b
}

/// The magnet_handshake and magnet_info stages.
pub fn metadata_stage(mut c: TcpStream, s: &PeerSetup, role: Role) {
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

pub fn wait_for_close(mut c: TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
}

/// `m.ut_metadata` of an extension handshake message (id 20, extension id 0), if valid.
pub fn our_metadata_id(msg: &[u8]) -> Option<u8> {
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
pub fn parse_flat_dict(d: &[u8]) -> Option<HashMap<String, i64>> {
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
pub fn seed(mut c: TcpStream, s: &PeerSetup, extensions: bool) {
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
