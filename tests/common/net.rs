//! Loopback addresses and ports, handed out from this one place so that tests run in parallel:
//! the threads of one test binary, and several test binaries at once.
//!
//! - A test whose processes need addresses of their own (libtorrent accepts one connection per
//!   IP, trackers list peers by address, DHT nodes are told apart by address) takes a [`Net`]:
//!   a `127.A.B.0/24` nobody else holds while the value lives. By convention hosts 11, 12, ...
//!   are seeders, 20, 21, ... clients, 30 and up scripted peers and relays.
//! - Everything else shares 127.0.0.1 (trackers, listeners on kernel-chosen ports); a
//!   `fast-peer seed` listens on every address, so it is reached at `net.ip(11)` too.
//! - Ports for programs that must be told one come from [`free_port`]; a port nothing listens on
//!   from [`closed_port`].
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The UDP port a [`Net`] binds on its network's address `127.A.B.0` to hold it. Below the
/// range [`free_port`] hands out and below the kernel's ephemeral ports, so nothing else in
/// the tests binds it.
pub const NET_LOCK_PORT: u16 = 9_999;

/// Candidate networks: `127.1.0.0/24` to `127.254.255.0/24` (127.0.0.x is left to 127.0.0.1).
const NETS: u32 = 254 * 256;

/// A multiplier that spreads process ids over a range (Knuth's multiplicative hash).
const SPREAD: u32 = 2_654_435_761;

/// A loopback network `127.A.B.0/24` of one test's own.
///
/// Held by a UDP socket bound to `127.A.B.0:`[`NET_LOCK_PORT`]: a second bind there fails, in
/// this process or in any other, so [`Net::new`] probes candidates until a bind succeeds. The
/// first candidate is derived from the process id and each call moves a per-process counter
/// on, so parallel tests and parallel test binaries rarely even probe the same networks. The
/// network is free again once the value drops (keep it after the processes that use it).
#[derive(Debug)]
pub struct Net {
    a: u8,
    b: u8,
    _lock: UdpSocket,
}

impl Net {
    pub fn new() -> Net {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let offset = std::process::id().wrapping_mul(SPREAD) % NETS;
        for _ in 0..NETS {
            let i = (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % NETS;
            let (a, b) = ((1 + i / 256) as u8, (i % 256) as u8);
            if let Ok(lock) = UdpSocket::bind((Ipv4Addr::new(127, a, b, 0), NET_LOCK_PORT)) {
                return Net { a, b, _lock: lock };
            }
        }
        panic!("no free loopback network (is UDP port {NET_LOCK_PORT} taken on 0.0.0.0?)");
    }

    /// `127.A.B.HOST`.
    pub fn ip(&self, host: u8) -> String {
        format!("{}{host}", self.prefix())
    }

    /// `127.A.B.` (for tools that number the hosts themselves, and for matching output).
    pub fn prefix(&self) -> String {
        format!("127.{}.{}.", self.a, self.b)
    }
}

impl Default for Net {
    fn default() -> Self {
        Net::new()
    }
}

/// A port that is free for TCP and UDP on every local address, and that no other call in
/// this process returns.
///
/// Ports come from below the kernel's ephemeral range (`ip_local_port_range`): a port chosen
/// by binding `:0` is released before the program under test binds it, and in the meantime
/// the kernel may give it to any `bind(:0)` or outgoing connection (libtorrent peers in a
/// parallel test, say). Below that range only explicit binds compete, and each call takes the
/// next port of a per-process sequence (starting at an offset derived from the pid, so two
/// test processes rarely overlap) after checking that it is free.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static RANGE: OnceLock<(u32, u32, u32)> = OnceLock::new();
    let &(start, span, offset) = RANGE.get_or_init(|| {
        let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32768);
        let (start, end) = if low >= 12_000 {
            (10_000, low)
        } else {
            (61_000, 65_535)
        };
        let span = end - start;
        (start, span, std::process::id().wrapping_mul(SPREAD) % span)
    });
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (start + (offset + n) % span) as u16;
        if TcpListener::bind(("0.0.0.0", port)).is_ok()
            && UdpSocket::bind(("0.0.0.0", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port in {start}..{}", start + span);
}

/// A port on 127.0.0.1 where nothing listens (for a tracker that must be unreachable).
pub fn closed_port() -> u16 {
    free_port()
}

/// An HTTP announce URL on a closed port: a torrent's tracker that is down on purpose.
pub fn unreachable_tracker() -> String {
    format!("http://127.0.0.1:{}/announce", closed_port())
}
