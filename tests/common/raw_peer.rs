//! A tiny BitTorrent client written here, for cross-checks that must not go through
//! fast-peer's engine: BEP 3 handshakes (with or without the BEP 10 bit), an extension
//! handshake, fetching one piece over a plain connection, and peers that only choke or only
//! listen for PEX.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use fast_peer::proto::extension::{ExtensionHandshake, PexMessage, UT_PEX};

use super::{HARNESS_PEER_ID, KIB, TorrentMeta};

/// Reserved bytes with nothing set.
pub const NO_EXTENSIONS: [u8; 8] = [0; 8];
/// Reserved bytes with only the BEP 10 extension protocol bit.
pub const EXTENSION_PROTOCOL: [u8; 8] = [0, 0, 0, 0, 0, 0x10, 0, 0];
/// Reserved bytes with only the BEP 6 Fast extension bit.
pub const FAST_EXTENSION: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 4];

/// A BEP 3 handshake (68 bytes).
pub fn handshake_bytes(reserved: [u8; 8], info_hash: &[u8; 20], peer_id: &[u8; 20]) -> Vec<u8> {
    let mut hs = Vec::with_capacity(68);
    hs.push(19u8);
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&reserved);
    hs.extend_from_slice(info_hash);
    hs.extend_from_slice(peer_id);
    hs
}

/// A `request` message (length prefix included).
pub fn request_bytes(index: u32, begin: u32, length: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(17);
    m.extend_from_slice(&13u32.to_be_bytes());
    m.push(6);
    m.extend_from_slice(&index.to_be_bytes());
    m.extend_from_slice(&begin.to_be_bytes());
    m.extend_from_slice(&length.to_be_bytes());
    m
}

/// Connects as [`HARNESS_PEER_ID`] and exchanges BEP 3 handshakes with `reserved`; checks the
/// answer names the torrent and returns the stream and the answer.
fn connect_with(addr: &str, reserved: [u8; 8], info_hash: &[u8; 20]) -> (TcpStream, [u8; 68]) {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let peer_id: [u8; 20] = HARNESS_PEER_ID.as_bytes().try_into().expect("20");
    s.write_all(&handshake_bytes(reserved, info_hash, &peer_id))
        .expect("send handshake");
    let mut resp = [0u8; 68];
    s.read_exact(&mut resp)
        .unwrap_or_else(|e| panic!("handshake reply from {addr}: {e}"));
    assert_eq!(
        &resp[..20],
        b"\x13BitTorrent protocol",
        "handshake from {addr}"
    );
    assert_eq!(&resp[28..48], info_hash, "info hash from {addr}");
    (s, resp)
}

/// Connects and exchanges a plain BitTorrent handshake (no extensions); returns the stream and
/// the remote peer id.
pub fn raw_handshake(addr: &str, info_hash: &[u8; 20]) -> (TcpStream, [u8; 20]) {
    let (s, resp) = connect_with(addr, NO_EXTENSIONS, info_hash);
    (s, resp[48..68].try_into().expect("20"))
}

/// Connects with the extension bit set, exchanges BEP 10 handshakes and returns the peer's
/// id and its extension handshake.
pub fn raw_extension_handshake(addr: &str, info_hash: &[u8; 20]) -> ([u8; 20], ExtensionHandshake) {
    let (mut s, resp) = connect_with(addr, EXTENSION_PROTOCOL, info_hash);
    assert_ne!(
        resp[25] & 0x10,
        0,
        "{addr} does not set the extension protocol bit"
    );
    let ours = ExtensionHandshake::ours("interop-magnet raw 0");
    write_extended(&mut s, 0, &ours.encode()).expect("send extension handshake");
    loop {
        let m = read_frame(&mut s).unwrap_or_else(|e| panic!("read from {addr}: {e}"));
        if m.len() >= 2 && m[0] == 20 && m[1] == 0 {
            let ext = ExtensionHandshake::decode(&m[2..]).expect("decode extension handshake");
            return (resp[48..68].try_into().expect("20"), ext);
        }
    }
}

/// One length-prefixed message (empty for a keep-alive); at most 2 MiB.
pub fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    assert!(n <= 1 << 21, "message of {n} bytes");
    let mut msg = vec![0u8; n];
    s.read_exact(&mut msg)?;
    Ok(msg)
}

/// Sends a BEP 10 extended message with the given extension id.
pub fn write_extended(s: &mut TcpStream, ext_id: u8, payload: &[u8]) -> std::io::Result<()> {
    let mut m = Vec::with_capacity(6 + payload.len());
    m.extend_from_slice(&(payload.len() as u32 + 2).to_be_bytes());
    m.push(20);
    m.push(ext_id);
    m.extend_from_slice(payload);
    s.write_all(&m)
}

/// Downloads piece `index` from the peer at `addr` over a plain connection and returns its
/// bytes unverified.
pub fn raw_fetch_piece(addr: &str, meta: &TorrentMeta, index: usize) -> Vec<u8> {
    const BLOCK: u64 = 16 * KIB;
    let (mut s, _) = raw_handshake(addr, &meta.info_hash);
    s.write_all(&[0, 0, 0, 1, 2]).expect("send interested");
    loop {
        let m = read_frame(&mut s).expect("read message");
        if m.first() == Some(&1) {
            break; // unchoke
        }
    }
    let size = meta.piece_size(index);
    let mut req = Vec::new();
    let mut begin = 0;
    while begin < size {
        let len = BLOCK.min(size - begin);
        req.extend(request_bytes(index as u32, begin as u32, len as u32));
        begin += len;
    }
    s.write_all(&req).expect("send requests");
    let mut piece = vec![0u8; size as usize];
    let mut got = 0u64;
    while got < size {
        let m = read_frame(&mut s).expect("read message");
        match m.first() {
            Some(7) => {
                let i = u32::from_be_bytes(m[1..5].try_into().expect("4")) as usize;
                let b = u32::from_be_bytes(m[5..9].try_into().expect("4")) as usize;
                assert_eq!(i, index, "piece message for another piece");
                piece[b..b + m.len() - 9].copy_from_slice(&m[9..]);
                got += (m.len() - 9) as u64;
            }
            Some(0) => panic!("{addr} choked us while fetching piece {index}"),
            _ => {}
        }
    }
    piece
}

/// A peer that never unchokes: it listens on 127.0.0.1 (the port is returned), answers every
/// handshake for `info_hash`, sends a bitfield of `piece_count` pieces (all set when
/// `has_all`, else none: a leecher with nothing) and then only reads what it is sent, until
/// the other side hangs up. Runs on its own threads for the rest of the test process.
pub fn choking_peer(info_hash: [u8; 20], piece_count: usize, has_all: bool) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                let mut hs = [0u8; 68];
                if s.read_exact(&mut hs).is_err() || hs[28..48] != info_hash {
                    return;
                }
                let peer_id: [u8; 20] = *b"-XX0001-chokechoke01";
                let mut out = handshake_bytes(NO_EXTENSIONS, &info_hash, &peer_id);
                let mut bits = vec![0u8; piece_count.div_ceil(8)];
                if has_all {
                    for i in 0..piece_count {
                        bits[i / 8] |= 0x80 >> (i % 8);
                    }
                }
                out.extend_from_slice(&(bits.len() as u32 + 1).to_be_bytes());
                out.push(5);
                out.extend_from_slice(&bits);
                if s.write_all(&out).is_err() {
                    return;
                }
                // read (and ignore) until the peer leaves; a keep-alive now and then
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => return,
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut =>
                        {
                            if s.write_all(&[0, 0, 0, 0]).is_err() {
                                return;
                            }
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    });
    port
}

/// A leecher with nothing that only listens for PEX: it listens on 127.0.0.1 (the port is
/// returned), answers one handshake for `info_hash` with the extension bit and a BEP 10
/// handshake naming `ut_pex`, and passes every `ut_pex` message it is sent down the channel
/// until the other side hangs up.
pub fn pex_listener(info_hash: [u8; 20]) -> (u16, std::sync::mpsc::Receiver<PexMessage>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut hs = [0u8; 68];
        if s.read_exact(&mut hs).is_err() || hs[28..48] != info_hash {
            return;
        }
        let peer_id: [u8; 20] = *b"-XX0001-pexlistener1";
        let ours = ExtensionHandshake::ours("pex listener");
        if s.write_all(&handshake_bytes(EXTENSION_PROTOCOL, &info_hash, &peer_id))
            .and_then(|_| write_extended(&mut s, 0, &ours.encode()))
            .is_err()
        {
            return;
        }
        while let Ok(m) = read_frame(&mut s) {
            if m.len() >= 2 && m[0] == 20 && Some(m[1]) == ours.id_of(UT_PEX) {
                let pex = PexMessage::decode(&m[2..]).expect("decode ut_pex");
                if tx.send(pex).is_err() {
                    return;
                }
            }
        }
    });
    (port, rx)
}
