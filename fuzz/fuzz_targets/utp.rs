//! A uTP connection (BEP 29) driven by a hostile peer: the input is a script of steps
//! (datagrams, both well-formed relative to the connection's own numbers and raw bytes; the
//! clock; the application's writes, reads and close). The connection must never panic, never
//! hold more than its buffers' caps, always stop when asked to transmit, and only ever send
//! datagrams that parse and fit its path.
#![no_main]
use fast_peer::proto::utp::packet::Sack;
use fast_peer::proto::utp::socket::RECV_BUFFER;
use fast_peer::proto::utp::{Header, Socket, State, Type};
use libfuzzer_sys::fuzz_target;
use std::time::{Duration, Instant};

/// The largest datagram the path may carry in this run.
const CEILING: usize = 9000;

/// Reads the script byte by byte; zeros once it runs out.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// What the peer has seen of us: our ids and the last sequence number we sent.
struct Peer {
    /// The id our packets carry (the peer sends with it + 0 or - 1 depending on the role).
    send_id: u16,
    /// The id the socket expects on arrivals.
    recv_id: u16,
    our_seq: u16,
    their_seq: u16,
}

fn transmit(s: &mut Socket, now: Instant, peer: &mut Peer) {
    let mut buf = Vec::new();
    for _ in 0..100_000 {
        buf.clear();
        if !s.poll_transmit(now, &mut buf) {
            return;
        }
        assert!(buf.len() <= CEILING, "a datagram of {} bytes", buf.len());
        let (h, _) = Header::decode(&buf).expect("what we send parses");
        // the SYN names the id we receive on (BEP 29); everything after, the one we send on
        let id = if h.ty == Type::Syn {
            peer.recv_id
        } else {
            peer.send_id
        };
        assert_eq!(h.connection_id, id, "the connection id of a {:?}", h.ty);
        peer.our_seq = h.seq_nr;
    }
    panic!("poll_transmit never said it was done");
}

fuzz_target!(|data: &[u8]| {
    let mut sc = Script(data);
    let t0 = Instant::now();
    let mut now = t0;
    let accept = sc.u8() & 1 == 1;
    let id = sc.u16();
    let (mut s, mut peer) = if accept {
        let mut syn = Header::new(Type::Syn, id);
        syn.seq_nr = sc.u16();
        syn.wnd_size = u32::from(sc.u16()) << 8;
        let s = Socket::accept(&syn, 1000, CEILING, now);
        let peer = Peer {
            send_id: id,
            recv_id: id.wrapping_add(1),
            our_seq: 1000,
            their_seq: syn.seq_nr,
        };
        (s, peer)
    } else {
        let s = Socket::connect(id, 1000, CEILING, now);
        let peer = Peer {
            send_id: id.wrapping_add(1),
            recv_id: id,
            our_seq: 1000,
            their_seq: sc.u16(),
        };
        (s, peer)
    };
    let pattern: Vec<u8> = (0..=255u8).cycle().take(64 << 10).collect();
    let mut read = bytes::BytesMut::new();
    let mut closed = false;
    for _ in 0..2000 {
        if sc.0.is_empty() {
            break;
        }
        match sc.u8() % 8 {
            0 => {
                // a packet made from the connection's own numbers, nudged by the script
                let flags = sc.u8();
                let ty = [Type::Data, Type::State, Type::Fin, Type::Reset, Type::Syn]
                    [flags as usize % 5];
                let mut h = Header::new(
                    ty,
                    if flags & 0x80 == 0 {
                        peer.recv_id
                    } else {
                        sc.u16()
                    },
                );
                h.ack_nr = peer.our_seq.wrapping_add(sc.u8() as i8 as u16);
                let step = sc.u8() as i8 as u16;
                h.seq_nr = peer.their_seq.wrapping_add(step);
                if ty == Type::Data && step == 1 {
                    peer.their_seq = h.seq_nr;
                }
                h.wnd_size = u32::from(sc.u16()) << (flags >> 3 & 7);
                h.timestamp_us = u32::from(sc.u16()) << 8;
                h.timestamp_difference_us = u32::from(sc.u16()) << 4;
                if flags & 0x40 != 0 {
                    let n = sc.u8() as usize % 40;
                    h.sack = Sack::from_bytes(sc.bytes(n));
                }
                let n = sc.u16() as usize % 3000;
                let mut pkt = Vec::new();
                h.encode(&mut pkt);
                pkt.extend_from_slice(sc.bytes(n));
                let (h2, payload) = Header::decode(&pkt).expect("an encoded header parses");
                assert!(h2 == h, "decode(encode(h)) == h");
                s.handle(&h2, payload, now);
            }
            1 => {
                // raw bytes as a datagram
                let n = sc.u16() as usize % 4000;
                let raw = sc.bytes(n).to_vec();
                if let Ok((h, payload)) = Header::decode(&raw) {
                    s.handle(&h, payload, now);
                }
            }
            2 => {
                now += Duration::from_millis(u64::from(sc.u8()) * 10);
                if s.deadline().is_some_and(|d| d <= now) {
                    s.handle_timeout(now);
                }
            }
            3 => {
                if let Some(d) = s.deadline() {
                    now = now.max(d);
                    s.handle_timeout(now);
                }
            }
            4 => {
                let n = sc.u16() as usize;
                let took = s.write(&pattern[..n.min(pattern.len())]);
                assert!(took <= n);
                assert!(!closed || took == 0, "a closed stream takes no bytes");
            }
            5 => {
                let max = sc.u16() as usize;
                let before = read.len();
                let got = s.read(&mut read, max);
                assert_eq!(read.len() - before, got);
                assert!(got <= max);
                read.clear();
            }
            6 => {
                s.close();
                closed = true;
            }
            _ => transmit(&mut s, now, &mut peer),
        }
        assert!(
            s.available() <= RECV_BUFFER,
            "{} bytes readable",
            s.available()
        );
        assert!(s.packet_size() <= CEILING);
        if s.state() == State::Closed {
            assert!(s.failure().is_some() || s.flushed() || s.at_eof() || closed);
        }
    }
    transmit(&mut s, now, &mut peer);
});
