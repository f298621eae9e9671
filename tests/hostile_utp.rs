//! Hostile uTP (BEP 29) traffic at `fast-peer seed`'s UDP port, from raw sockets on the
//! test's loopback network: garbage and malformed headers, stray data for connections that do
//! not exist, a SYN flood, and a connection that lies in its acks, closes its window and
//! sends far outside it. Each case checks what the seeder must answer (a RESET, a capped
//! number of accepted SYNs, no data into a closed window) and, every time, that the seeder is
//! still alive and serves a real uTP download (`fast-peer --no-tcp download`) byte for byte.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use common::*;

const ST_DATA: u8 = 0;
const ST_FIN: u8 = 1;
const ST_STATE: u8 = 2;
const ST_RESET: u8 = 3;
const ST_SYN: u8 = 4;

/// A uTP header (version 1), without extensions.
fn header(ty: u8, conn_id: u16, seq: u16, ack: u16, wnd: u32) -> Vec<u8> {
    let mut h = vec![ty << 4 | 1, 0];
    h.extend_from_slice(&conn_id.to_be_bytes());
    h.extend_from_slice(&1_000u32.to_be_bytes()); // timestamp
    h.extend_from_slice(&0u32.to_be_bytes()); // timestamp difference
    h.extend_from_slice(&wnd.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&ack.to_be_bytes());
    h
}

/// A parsed reply: (type, connection id, seq_nr, ack_nr, payload length).
fn parse(d: &[u8]) -> Option<(u8, u16, u16, u16, usize)> {
    if d.len() < 20 || d[0] & 0x0f != 1 {
        return None;
    }
    let u16_at = |i: usize| u16::from_be_bytes([d[i], d[i + 1]]);
    // skip extensions to find the payload
    let (mut next, mut at) = (d[1], 20);
    while next != 0 {
        next = *d.get(at)?;
        at += 2 + *d.get(at + 1)? as usize;
    }
    Some((
        d[0] >> 4,
        u16_at(2),
        u16_at(16),
        u16_at(18),
        d.len().checked_sub(at)?,
    ))
}

/// A raw socket on the test's network.
fn raw(net: &Net) -> UdpSocket {
    let s = UdpSocket::bind((net.ip(30).as_str(), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Every datagram that arrives within `secs`.
fn replies(s: &UdpSocket, secs: f64) -> Vec<Vec<u8>> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut out = Vec::new();
    let mut buf = [0u8; 65_536];
    while Instant::now() < end {
        if let Ok(n) = s.recv(&mut buf) {
            out.push(buf[..n].to_vec());
        }
    }
    out
}

/// A uTP-only seeder on the test's network; its UDP address.
fn seeder() -> (Swarm, FastSeed, String) {
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let seed = FastSeed::start(&swarm.torrent, &swarm.content.save_path, &["--no-tcp"]);
    seed.assert_complete(&swarm.meta);
    let addr = seed.addr_on(&swarm.net);
    (swarm, seed, addr)
}

/// The seeder is alive and a real uTP download from it completes and verifies.
fn still_serves(swarm: &Swarm, seed: &mut FastSeed, what: &str) {
    assert!(
        seed.is_running(),
        "fast-peer seed died after {what}:\n{}",
        seed.logs()
    );
    let args = vec![
        "--no-tcp".to_string(),
        "--peer".into(),
        seed.addr_on(&swarm.net),
    ];
    swarm.check_client(
        &format!("fast-peer --no-tcp download after {what}"),
        "out",
        || seed.logs(),
        |_, t| download_cmd(&swarm.torrent, t, &args),
    );
}

#[test]
fn garbage_and_malformed_headers_are_ignored() {
    let (swarm, mut seed, addr) = seeder();
    let s = raw(&swarm.net);
    let mut junk: Vec<Vec<u8>> = vec![vec![], vec![0x41], vec![0xff; 19], vec![0; 2000]];
    for v in [0u8, 2, 15] {
        junk.push(
            header(ST_SYN, 7, 1, 0, 1 << 20)
                .into_iter()
                .enumerate()
                .map(|(i, b)| if i == 0 { ST_SYN << 4 | v } else { b })
                .collect(),
        );
    }
    for ty in 5u8..16 {
        junk.push(header(ty, 9, 1, 0, 1 << 20));
    }
    // extension chains: cut short, longer than the datagram, a zero-length selective ack, a loop
    for ext in [
        vec![1u8],
        vec![1, 255],
        vec![0, 0],
        vec![1, 2, 0xff],
        vec![1, 0, 1, 0, 1, 0],
    ] {
        let mut h = header(ST_STATE, 11, 1, 0, 1 << 20);
        h[1] = 1;
        h.extend_from_slice(&ext);
        junk.push(h);
    }
    let mut x = 0x9e37_79b9_u32;
    for len in 0..400 {
        junk.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect(),
        );
    }
    for d in &junk {
        s.send_to(d, &addr).unwrap();
    }
    still_serves(&swarm, &mut seed, "garbage datagrams");
}

#[test]
fn stray_data_and_fins_are_reset_and_stray_states_ignored() {
    let (swarm, mut seed, addr) = seeder();
    let s = raw(&swarm.net);
    s.send_to(&header(ST_DATA, 4242, 77, 0, 1 << 20), &addr)
        .unwrap();
    s.send_to(&header(ST_FIN, 4343, 78, 0, 1 << 20), &addr)
        .unwrap();
    s.send_to(&header(ST_STATE, 4444, 79, 0, 1 << 20), &addr)
        .unwrap();
    s.send_to(&header(ST_RESET, 4545, 80, 0, 1 << 20), &addr)
        .unwrap();
    let got: Vec<_> = replies(&s, 1.0).iter().filter_map(|d| parse(d)).collect();
    let resets: Vec<_> = got
        .iter()
        .filter(|r| r.0 == ST_RESET)
        .map(|r| (r.1, r.3))
        .collect();
    assert!(
        resets.contains(&(4242, 77)),
        "a RESET for the stray DATA acks its seq: {got:?}"
    );
    assert!(
        resets.contains(&(4343, 78)),
        "a RESET for the stray FIN: {got:?}"
    );
    assert_eq!(
        got.len(),
        2,
        "nothing answers a stray STATE or RESET: {got:?}"
    );
    still_serves(&swarm, &mut seed, "stray packets");
}

#[test]
fn a_syn_flood_is_capped_and_the_seeder_serves_after_it() {
    let (swarm, mut seed, addr) = seeder();
    let s = raw(&swarm.net);
    let mut answered = std::collections::HashSet::new();
    for id in 0..3000u16 {
        s.send_to(&header(ST_SYN, id.wrapping_mul(2), 1, 0, 1 << 20), &addr)
            .unwrap();
        if id % 100 == 99 {
            // drain as we go so the kernel buffer does not drop answers
            for d in replies(&s, 0.01) {
                if let Some((ST_STATE, id, ..)) = parse(&d) {
                    answered.insert(id);
                }
            }
        }
    }
    for d in replies(&s, 1.0) {
        if let Some((ST_STATE, id, ..)) = parse(&d) {
            answered.insert(id);
        }
    }
    eprintln!("SYN flood: 3000 SYNs, {} answered", answered.len());
    assert!(!answered.is_empty(), "no SYN answered at all");
    assert!(
        answered.len() <= 64,
        "{} half-open connections accepted (cap 64)",
        answered.len()
    );
    still_serves(&swarm, &mut seed, "a SYN flood");
}

#[test]
fn lying_acks_a_closed_window_and_far_data_do_not_break_the_seeder() {
    let (swarm, mut seed, addr) = seeder();
    let s = raw(&swarm.net);
    let id = 1000u16;
    s.send_to(&header(ST_SYN, id, 500, 0, 1 << 20), &addr)
        .unwrap();
    let (their_seq, send_id) = replies(&s, 1.0)
        .iter()
        .filter_map(|d| parse(d))
        .find(|r| r.0 == ST_STATE)
        .map(|r| (r.2, r.1))
        .expect("the SYN is answered");
    assert_eq!(send_id, id, "the answer carries the SYN's connection id");
    let our = id + 1; // the id the seeder expects on our packets
    // the BitTorrent handshake, then interested, with an open window
    let ih: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&seed.info_hash[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut hs = vec![19u8];
    hs.extend_from_slice(b"BitTorrent protocol");
    hs.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
    hs.extend_from_slice(&ih);
    hs.extend_from_slice(b"-XX0000-hostile-utp!");
    let mut pkt = header(ST_DATA, our, 501, their_seq.wrapping_sub(1), 1 << 20);
    pkt.extend_from_slice(&hs);
    s.send_to(&pkt, &addr).unwrap();
    let got = replies(&s, 1.0);
    let data: Vec<_> = got
        .iter()
        .filter_map(|d| parse(d))
        .filter(|r| r.0 == ST_DATA)
        .collect();
    assert!(
        !data.is_empty(),
        "the seeder answers the handshake over uTP: {} datagrams",
        got.len()
    );
    let last_seq = data.iter().map(|r| r.2).max().unwrap();
    // close the window, then ask for data: nothing beyond a probe may come
    let mut msgs = Vec::new();
    msgs.extend_from_slice(&[0, 0, 0, 1, 2]); // interested
    for i in 0..8u32 {
        msgs.extend_from_slice(&13u32.to_be_bytes());
        msgs.push(6);
        msgs.extend_from_slice(&i.to_be_bytes());
        msgs.extend_from_slice(&0u32.to_be_bytes());
        msgs.extend_from_slice(&16_384u32.to_be_bytes());
    }
    let mut pkt = header(ST_DATA, our, 502, last_seq, 0);
    pkt.extend_from_slice(&msgs);
    s.send_to(&pkt, &addr).unwrap();
    let sent: usize = replies(&s, 1.5)
        .iter()
        .filter_map(|d| parse(d))
        .map(|r| r.4)
        .sum();
    eprintln!("zero window: {sent} payload bytes sent into it");
    assert!(
        sent < 16_384,
        "{sent} payload bytes into a zero window: a block went through"
    );
    // acks of packets never sent, a selective ack of everything, data far outside the window
    for ack in [
        last_seq.wrapping_add(30_000),
        last_seq.wrapping_sub(30_000),
        0xffff,
    ] {
        s.send_to(&header(ST_STATE, our, 503, ack, 1 << 20), &addr)
            .unwrap();
    }
    let mut sack = header(ST_STATE, our, 503, last_seq, 1 << 20);
    sack[1] = 1;
    sack.extend_from_slice(&[0, 32]);
    sack.extend_from_slice(&[0xff; 32]);
    s.send_to(&sack, &addr).unwrap();
    for seq in [30_000u16, 503 + 4096, 502] {
        let mut far = header(ST_DATA, our, seq, last_seq, 1 << 20);
        far.extend_from_slice(&[0u8; 1000]);
        s.send_to(&far, &addr).unwrap();
    }
    let _ = replies(&s, 0.5);
    still_serves(&swarm, &mut seed, "lying acks, a zero window and far data");
}
