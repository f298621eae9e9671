//! LEDBAT gives way (BEP 29): alone, a fast-peer uTP download fills a shaped link while the
//! queue it builds at the bottleneck stays near LEDBAT's 100 ms target; beside a bulk TCP
//! flow, TCP keeps most of the link.
//!
//! What tells LEDBAT from a delay-blind window here is the queue: the same build with the
//! target moved out of reach (100 s) measured 163 ms on this link (TCP still got 81 %, the
//! requests a download keeps in flight bound any window), against 100 ms with LEDBAT; the
//! bound is 135 ms.
//!
//! The network is the test's own: hosts A and B and a router between them, each a network
//! namespace (`common::netns`); the router's link toward B is shaped by `tbf` to 8 Mbit/s
//! with a 400 ms queue, so a flow that fills the queue raises the delay well past LEDBAT's
//! 100 ms target before anything is lost. `fast-peer seed --no-tcp` runs in A,
//! `fast-peer download --no-tcp` in B; the competitor is `scripts/link_tools.py send` (plain
//! TCP, the kernel's congestion control) from A to B, and the queue is read with UDP round
//! trips from B to an echo server in A (the echo crosses the bottleneck queue; the links'
//! own delay is well under a millisecond).
//!
//! The uTP download starts first and learns the empty link's delay; TCP starts later, as a
//! user's browsing starts beside a running download. Shares are byte counts on the link in
//! a window while both run (the receiver's count for TCP, B's interface counter for all), so
//! no timing is asserted, only who got how much of the link and how full the queue was, with
//! generous bounds; the exact numbers are printed (and `scripts/bench_utp.sh` reports them).
//! Needs root and iproute2.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The link: 8 Mbit/s from A to B (1,000,000 bytes/s), a queue of 400 ms: deep enough that
/// the requests a BitTorrent download keeps in flight (several hundred KiB) would queue far
/// past the target if uTP ignored the delay.
const KBIT: u64 = 8_000;
const QUEUE_MS: u64 = 400;
const TCP_PORT: &str = "5001";
const ECHO_PORT: &str = "5002";

/// The TCP receiver's running count.
struct Counter {
    daemon: Daemon,
    total: u64,
}

impl Counter {
    fn now(&mut self) -> u64 {
        while let Ok(line) = self.daemon.lines.try_recv() {
            if let Ok(n) = line.parse() {
                self.total = n;
            }
        }
        self.total
    }
}

fn link_tools(args: &[&str]) -> Command {
    let mut c = Command::new(LT_PYTHON);
    c.arg(repo_root().join("scripts/link_tools.py")).args(args);
    c
}

/// `link_tools.py ARGS` in `end`, running until it printed `listening`.
fn listening(link: &Link, end: End, args: &[&str]) -> Daemon {
    let d = Daemon::spawn(&mut link.exec(end, &link_tools(args)), false);
    read_lines_until(&d.lines, 30, |l| l == "listening")
        .unwrap_or_else(|e| panic!("link_tools.py {args:?}: {e}"));
    d
}

/// The median of `n` round trips from B to A's echo server, in milliseconds.
fn median_rtt_ms(link: &Link, n: usize) -> f64 {
    let ping = link_tools(&["ping", link.ip(End::A), ECHO_PORT, &n.to_string()]);
    let out = run_with_timeout(&mut link.exec(End::B, &ping), 60);
    let mut ms: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.parse().unwrap_or(2000.0)) // "lost": at least the 2 s it waited
        .collect();
    assert_eq!(
        ms.len(),
        n,
        "ping: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms.sort_by(f64::total_cmp);
    ms[n / 2]
}

/// Bytes B received in `secs` seconds from now.
fn received_in(link: &Link, secs: u64) -> u64 {
    let r0 = link.rx_bytes(End::B);
    thread::sleep(Duration::from_secs(secs));
    link.rx_bytes(End::B) - r0
}

#[test]
fn ledbat_gives_way_to_tcp_and_fills_the_link_alone() {
    let link = Link::new("ledbat");
    link.shape_toward(End::B, KBIT, QUEUE_MS);
    let link_rate = (KBIT * 1000 / 8) as f64;
    let _echo = listening(&link, End::A, &["echo", ECHO_PORT]);

    let work = tempfile::tempdir().unwrap();
    let layout = vec![("ledbat.bin".into(), 16 * MIB)];
    let content = create_content(&work.path().join("seed"), layout);
    let (torrent, _) = make_torrent(&content.path, 256 * KIB, "http://127.0.0.1:9/announce");
    let seed = FastSeed::start_via(&torrent, &content.path, &["--no-tcp"], |c| {
        link.exec(End::A, &c)
    });
    let target = work.path().join("out").join("ledbat.bin");
    let peer = format!("{}:{}", link.ip(End::A), seed.port);
    let args = ["--no-tcp".to_string(), "--peer".into(), peer];
    let download = download_cmd(&torrent, &target, &args);
    let mut leech = Running::start(&mut link.exec(End::B, &download));

    // the download runs: wait for its first MiB, then measure it alone
    let deadline = Instant::now() + Duration::from_secs(60);
    while link.rx_bytes(End::B) < MIB {
        let logs = seed.logs();
        assert!(
            Instant::now() < deadline,
            "no uTP transfer after 60 s\n{logs}"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let alone = received_in(&link, 2) as f64 / 2.0 / link_rate;
    let queue_ms = median_rtt_ms(&link, 12);

    // TCP joins
    let mut rx = Counter {
        daemon: listening(&link, End::B, &["recv", TCP_PORT]),
        total: 0,
    };
    let send = link_tools(&["send", link.ip(End::B), TCP_PORT, "12"]);
    let mut tx = Running::start(&mut link.exec(End::A, &send));
    thread::sleep(Duration::from_secs(3)); // TCP fills the queue, LEDBAT sees the delay
    let t0 = rx.now();
    let both = received_in(&link, 6);
    let tcp = rx.now() - t0;
    let tcp_share = tcp as f64 / both as f64;
    let sent = tx.wait_for(30).expect("link_tools.py send ends after 12 s");
    let err = String::from_utf8_lossy(&sent.stderr);
    assert!(sent.status.success(), "link_tools.py send: {err}");

    // and the download finishes once TCP is gone, every byte right
    let done = leech
        .wait_for(TEST_TIMEOUT_SECS)
        .unwrap_or_else(|| panic!("uTP download did not finish\n{}", seed.logs()));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "fast-peer download --no-tcp: {err}");
    assert_same_file(&content.path, &target);

    eprintln!(
        "ledbat: uTP alone {:.0} % of the link, queue {queue_ms:.0} ms (target 100, buffer \
         {QUEUE_MS}); with TCP: TCP {:.0} %, uTP {:.0} % (link {:.2} MB/s, window 6 s)",
        alone * 100.0,
        tcp_share * 100.0,
        (1.0 - tcp_share) * 100.0,
        link_rate / 1e6
    );
    assert!(
        alone > 0.6,
        "uTP alone used {:.0} % of the link",
        alone * 100.0
    );
    assert!(
        queue_ms < 135.0,
        "uTP alone keeps {queue_ms:.0} ms in the bottleneck's queue: LEDBAT aims at 100"
    );
    assert!(
        tcp_share > 0.5,
        "TCP got only {:.0} % of the link beside uTP (LEDBAT did not yield)",
        tcp_share * 100.0
    );
}
