//! Fixtures shared by the tracker tests of every child: a sample request, fake HTTP and
//! UDP (BEP 15) trackers on 127.0.0.1, and a port with nothing listening.

use super::UdpConfig;
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::tracker::{AnnounceRequest, Event};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub(super) const IH: [u8; 20] = *b"\x01\x02 abc~XYZ\xff\x00\x10\x7f.-_012";

pub(super) fn request() -> AnnounceRequest {
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
        ipv6: None,
    }
}

/// A compact answer with one peer, 127.0.0.1:6881, and a tracker id.
pub(super) fn ok_body(interval: u32) -> Vec<u8> {
    let mut b =
        format!("d8:completei3e10:incompletei2e8:intervali{interval}e5:peers6:").into_bytes();
    b.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
    b.extend_from_slice(b"10:tracker id2:T1e");
    b
}

pub(super) fn query_param<'a>(path: &'a str, key: &str) -> Option<&'a str> {
    let query = path.split_once('?')?.1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// A one-thread HTTP/1.1 server on 127.0.0.1:0. Each request's path-and-query goes to the
/// returned channel; `respond` builds `(status, body)` from it.
pub(super) fn fake_http(
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
pub(super) fn dead_http() -> (String, Arc<AtomicUsize>) {
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
pub(super) fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Default)]
pub(super) struct UdpFakeState {
    /// Every datagram received, in order (including dropped ones).
    pub(super) log: Vec<Vec<u8>>,
    /// Datagrams still to drop without answering.
    pub(super) drop_next: usize,
    /// Answer every announce with this error.
    pub(super) always_error: Option<String>,
    /// Send a datagram with a wrong transaction id before each real answer.
    pub(super) noise: bool,
    pub(super) issued: u64,
    /// The only connection id the tracker accepts (the last one issued).
    pub(super) valid: u64,
}

/// A BEP 15 tracker on 127.0.0.1:0 answering with one peer, 10.1.2.3:6881.
pub(super) async fn fake_udp(state: UdpFakeState) -> (String, Arc<Mutex<UdpFakeState>>) {
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

pub(super) fn fast_udp() -> UdpConfig {
    UdpConfig {
        base_timeout: Duration::from_millis(100),
        max_retries: 3,
    }
}

pub(super) const T: Duration = Duration::from_secs(5);
