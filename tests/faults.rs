//! Faults around a download (issue 9), with the real binary: `kill -9` in the middle and a
//! rerun, a full disk, a read-only output folder, trackers that are down, slow, answer garbage
//! or `failure reason`, a UDP tracker behind a lossy link, and 200 connections at once against
//! `fast-peer seed`. Every download that is expected to finish is checked byte for byte.
//!
//! The seeder is `fast-peer seed` (one per run, so its `stopped after sending N bytes` tells
//! what that run downloaded). Torrents are made by `fast-peer create`. The disk tests mount
//! small tmpfs folders, which needs root (CI runs as root).
//!
//! Everything runs on 127.0.0.1: the seeder, the fake trackers and the load connections get
//! their ports from the kernel or `free_port`, so the tests run in parallel.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// Content, a torrent made by `fast-peer create`, and a work folder.
struct Setup {
    work: tempfile::TempDir,
    content: PathBuf,
    torrent: PathBuf,
    meta: TorrentMeta,
}

fn setup(name: &str, len: u64, piece_length: u64, trackers: &[String]) -> Setup {
    let work = tempfile::tempdir().expect("tempdir");
    let seed_dir = work.path().join("seed");
    write_content(&seed_dir, &[(name.to_string(), len)]);
    let content = seed_dir.join(name);
    let torrent = work.path().join(format!("{name}.torrent"));
    let mut cmd = fast_peer();
    cmd.arg("create").arg(&content).arg("-o").arg(&torrent);
    cmd.args(["--piece-length", &piece_length.to_string()]);
    for t in trackers {
        cmd.args(["--tracker", t]);
    }
    assert_success(
        "fast-peer create",
        &run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS),
    );
    let meta = TorrentMeta::read(&torrent);
    Setup {
        work,
        content,
        torrent,
        meta,
    }
}

/// `fast-peer download -o TARGET TORRENT --port P --peer PEER...`, not started yet.
fn download_from(torrent: &Path, target: &Path, peers: &[String]) -> Command {
    download_cmd(torrent, target, &peer_args(peers))
}

/// Bytes of the pieces of the single file `target` that are absent or do not match their
/// hash (what a rerun must fetch). The file may be shorter than the torrent (not preallocated).
fn missing_bytes(meta: &TorrentMeta, target: &Path) -> u64 {
    use std::os::unix::fs::FileExt;
    let Ok(f) = fs::File::open(target) else {
        return meta.total_length();
    };
    let mut buf = vec![0u8; meta.piece_length as usize];
    (0..meta.num_pieces())
        .map(|i| {
            let size = meta.piece_size(i);
            let b = &mut buf[..size as usize];
            let good = f.read_exact_at(b, i as u64 * meta.piece_length).is_ok()
                && sha1_bytes(b) == meta.pieces[i];
            if good { 0 } else { size }
        })
        .sum()
}

/// A pseudo-random fraction in `lo..hi` (no RNG dependency in the tests; printed for reruns).
fn random_fraction(lo: f64, hi: f64, salt: u64) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(7);
    let x = (nanos ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)) % 10_000;
    lo + (hi - lo) * x as f64 / 10_000.0
}

// ---------------------------------------------------------------------------------------------
// kill -9
// ---------------------------------------------------------------------------------------------

/// A 256 MiB download is SIGKILLed twice at random moments and run again each time. Each rerun
/// downloads no more than the pieces that were not verified on disk when the previous run
/// died (checked by hashing the partial file, and against the seeder's byte count), and the
/// final file verifies byte for byte. Before the last run one finished piece is corrupted on
/// disk: the resume check catches it and that piece is fetched again.
#[test]
fn kill_9_twice_during_a_256_mib_download_then_resume() {
    let total = 256 * MIB;
    let s = setup("big.bin", total, MIB, &[unreachable_tracker()]);
    let out = s.work.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let target = out.join("big.bin");
    let seed_data = s.content.clone();
    // rate-limited so that the kills land mid-download (about 4 s per run)
    let limit = "64M";
    let mut missing = total;
    let mut sent_total = 0;
    let thresholds = [random_fraction(0.1, 0.45, 1), random_fraction(0.55, 0.9, 2)];
    for (run, frac) in thresholds.iter().enumerate() {
        let mut seed = FastSeed::start(&s.torrent, &seed_data, &["--upload-limit", limit]);
        let peer = seed.addr();
        let mut dl = Running::start(&mut download_from(&s.torrent, &target, &[peer]));
        let at = (*frac * total as f64) as u64;
        wait_written(&mut dl, &out, at, &format!("run {run}"));
        let killed = dl.kill(); // SIGKILL
        let sent = seed.stop_and_count_sent();
        sent_total += sent;
        let now_missing = missing_bytes(&s.meta, &target);
        eprintln!(
            "run {run}: killed ({}) at {:.0}% ({at} bytes on disk); seeder sent {sent}; {now_missing} bytes still to fetch",
            killed.status,
            frac * 100.0
        );
        assert!(
            sent <= missing,
            "run {run} received {sent} bytes but only {missing} were missing when it started"
        );
        assert!(now_missing < missing, "run {run} verified nothing");
        missing = now_missing;
    }
    // A byte of a finished piece goes bad on disk between runs: the resume check must find it
    // by hash and fetch that piece again rather than trust what an earlier run wrote.
    {
        use std::os::unix::fs::FileExt;
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&target)
            .expect("open partial file");
        let good = (0..s.meta.num_pieces())
            .find(|&i| {
                let mut b = vec![0u8; s.meta.piece_size(i) as usize];
                f.read_exact_at(&mut b, i as u64 * s.meta.piece_length)
                    .is_ok()
                    && sha1_bytes(&b) == s.meta.pieces[i]
            })
            .expect("a verified piece on disk");
        let at = good as u64 * s.meta.piece_length + 12_345;
        let mut byte = [0u8];
        f.read_exact_at(&mut byte, at).unwrap();
        f.write_all_at(&[byte[0] ^ 0x5a], at).unwrap();
        let before = missing;
        missing = missing_bytes(&s.meta, &target);
        assert_eq!(
            missing,
            before + s.meta.piece_size(good),
            "piece {good} now fails its hash"
        );
        eprintln!("corrupted piece {good} on disk between runs");
    }
    let mut seed = FastSeed::start(&s.torrent, &seed_data, &["--upload-limit", "1G"]);
    let peer = seed.addr();
    let o = run_with_timeout(
        &mut download_from(&s.torrent, &target, &[peer]),
        TEST_TIMEOUT_SECS,
    );
    let sent = seed.stop_and_count_sent();
    sent_total += sent;
    assert_success("fast-peer download (after two kills)", &o);
    eprintln!(
        "final run: seeder sent {sent}, {missing} were missing; {sent_total} bytes sent over all runs for {total}"
    );
    assert!(
        sent <= missing,
        "the final run received {sent} bytes but only {missing} were missing"
    );
    assert_same_file(&s.content, &target);
}

// ---------------------------------------------------------------------------------------------
// Disk full, read-only output
// ---------------------------------------------------------------------------------------------

/// A tmpfs mounted on a folder for the life of the value (root only); unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, options: &str) -> Tmpfs {
        fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            o.status.success(),
            "mount -t tmpfs -o {options} failed (the disk tests need root): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    fn remount(&self, options: &str) {
        let o = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .output()
            .expect("run mount");
        assert!(
            o.status.success(),
            "remount {options}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `fast-peer download` of `s` into `target` from a fresh `fast-peer seed`, which must fail
/// (non-zero exit, no panic). Returns the seeder, its address and the download's stderr.
fn failing_download(s: &Setup, target: &Path, what: &str) -> (FastSeed, String, String) {
    let seed = FastSeed::start(&s.torrent, &s.content, &[]);
    let peer = seed.addr();
    let o = run_with_timeout(
        &mut download_from(&s.torrent, target, std::slice::from_ref(&peer)),
        TEST_TIMEOUT_SECS,
    );
    let err = stderr_of(&o);
    eprintln!("{what}: {} / {err}", o.status);
    assert!(!o.status.success(), "{what} exited 0");
    assert!(!err.contains("panicked"), "{err}");
    (seed, peer, err)
}

/// Output on an 8 MiB tmpfs for a 24 MiB torrent: the download stops with a clear error
/// (no space left, naming the piece) and a non-zero exit instead of hanging or claiming
/// success. After the file system grows, the same command finishes, fetching only what is
/// missing, and the result verifies.
#[test]
fn disk_full_is_a_clear_error_and_the_download_resumes_after_space_is_freed() {
    let total = 24 * MIB;
    let s = setup("full.bin", total, 256 * KIB, &[unreachable_tracker()]);
    let mnt = Tmpfs::mount(&s.work.path().join("small"), "size=8m");
    let target = mnt.dir.join("full.bin");
    let (mut seed, _, err) = failing_download(&s, &target, "a download onto a full disk");
    assert!(
        err.contains("No space left on device"),
        "unclear error: {err}"
    );
    let missing = missing_bytes(&s.meta, &target);
    assert!(missing < total, "nothing verified before the disk filled");
    let sent_first = seed.stop_and_count_sent();

    mnt.remount("size=64m");
    let mut seed = FastSeed::start(&s.torrent, &s.content, &[]);
    let peer = seed.addr();
    let o = run_with_timeout(
        &mut download_from(&s.torrent, &target, &[peer]),
        TEST_TIMEOUT_SECS,
    );
    let sent = seed.stop_and_count_sent();
    assert_success("fast-peer download (after freeing space)", &o);
    eprintln!("disk full: first run got {sent_first}, rerun got {sent} of {missing} missing");
    assert!(
        sent <= missing,
        "the rerun fetched {sent} bytes, only {missing} were missing"
    );
    assert_same_file(&s.content, &target);
}

/// Output in a read-only folder: a clear error naming the path, non-zero exit, nothing
/// created. Once the folder is writable, the same command downloads everything.
#[test]
fn read_only_output_folder_is_a_clear_error_then_the_download_works() {
    let s = setup("ro.bin", 4 * MIB, 256 * KIB, &[unreachable_tracker()]);
    let mnt = Tmpfs::mount(&s.work.path().join("ro"), "size=16m,ro");
    let target = mnt.dir.join("ro.bin");
    let (mut seed, peer, err) = failing_download(&s, &target, "a download into a read-only folder");
    assert!(
        err.contains("Read-only file system"),
        "unclear error: {err}"
    );
    assert!(
        err.contains("ro.bin"),
        "the error does not name the file: {err}"
    );
    assert!(!target.exists());
    mnt.remount("rw");
    let o = run_with_timeout(
        &mut download_from(&s.torrent, &target, &[peer]),
        TEST_TIMEOUT_SECS,
    );
    assert_success("fast-peer download (folder writable again)", &o);
    // stopped right away: the seeder's final count includes the last blocks it sent
    let sent = seed.stop_and_count_sent();
    assert!(
        sent >= 4 * MIB,
        "the seeder's `stopped after sending` count {sent} misses the last blocks"
    );
    assert_same_file(&s.content, &target);
}

// ---------------------------------------------------------------------------------------------
// Trackers
// ---------------------------------------------------------------------------------------------

/// A one-thread HTTP "tracker" that answers every request with `reply` (or never, when
/// `None`), counting the requests.
struct BadTracker {
    port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl BadTracker {
    fn start(reply: Option<Vec<u8>>) -> BadTracker {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (hits.clone(), stop.clone());
        thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        c.set_nonblocking(false).ok();
                        c.set_read_timeout(Some(Duration::from_millis(500))).ok();
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf);
                        match &reply {
                            Some(body) => {
                                let head = format!(
                                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                    body.len()
                                );
                                let _ = c.write_all(head.as_bytes());
                                let _ = c.write_all(body);
                            }
                            None => held.push(c), // slow: never answers
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        BadTracker { port, hits, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }
}

impl Drop for BadTracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Every tracker of the torrent is useless: one answers garbage, one `failure reason`, one
/// never answers, one HTTP and one UDP port are closed. With the seeder given by `--peer`
/// the download still completes and verifies; the first tracker's garbage is reported (with -v).
#[test]
fn all_trackers_broken_but_a_peer_given_still_downloads() {
    let garbage = BadTracker::start(Some(b"<html>this is not bencode</html>".to_vec()));
    let failure = BadTracker::start(Some(
        b"d14:failure reason22:torrent not registerede".to_vec(),
    ));
    let slow = BadTracker::start(None);
    let trackers = vec![
        garbage.url(),
        failure.url(),
        slow.url(),
        unreachable_tracker(),
        format!("udp://127.0.0.1:{}/announce", closed_port()),
    ];
    let s = setup("trackers.bin", 8 * MIB, 256 * KIB, &trackers);
    let out = s.work.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let target = out.join("trackers.bin");
    // the seeder meets the same broken trackers
    let mut seed = FastSeed::start(&s.torrent, &s.content, &[]);
    let peer = seed.addr();
    let mut cmd = download_from(&s.torrent, &target, &[peer]);
    cmd.arg("-v");
    let o = run_with_timeout(&mut cmd, TEST_TIMEOUT_SECS);
    assert_success("fast-peer download with broken trackers", &o);
    seed.stop_and_count_sent();
    assert_same_file(&s.content, &target);
    let err = stderr_of(&o);
    assert!(
        garbage.hits.load(Ordering::SeqCst) > 0,
        "the first tracker was never asked"
    );
    assert!(
        err.contains("not bencode"),
        "the garbage answer is not reported:\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A UDP relay in front of opentracker that drops the first datagram of every client: the
/// announce must be retried (BEP 15), or the leecher never learns of the seeder.
struct LossyUdp {
    port: u16,
    dropped: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl LossyUdp {
    fn start(upstream: SocketAddr) -> LossyUdp {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let port = front.local_addr().unwrap().port();
        let dropped = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, st) = (dropped.clone(), stop.clone());
        thread::spawn(move || {
            // one upstream socket per client, with a thread relaying answers back
            let clients: Arc<Mutex<Vec<(SocketAddr, UdpSocket)>>> = Arc::default();
            let front = Arc::new(front);
            let mut buf = [0u8; 2048];
            while !st.load(Ordering::SeqCst) {
                let Ok((n, from)) = front.recv_from(&mut buf) else {
                    continue;
                };
                let mut list = clients.lock().unwrap();
                let known = list
                    .iter()
                    .find(|(a, _)| *a == from)
                    .map(|(_, s)| s.try_clone().unwrap());
                let up = match known {
                    Some(s) => s,
                    None => {
                        // first packet of this client: lost
                        d.fetch_add(1, Ordering::SeqCst);
                        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                        s.set_read_timeout(Some(Duration::from_millis(100)))
                            .unwrap();
                        let (back, f, st2) = (s.try_clone().unwrap(), front.clone(), st.clone());
                        thread::spawn(move || {
                            let mut b = [0u8; 2048];
                            while !st2.load(Ordering::SeqCst) {
                                if let Ok(n) = back.recv(&mut b) {
                                    let _ = f.send_to(&b[..n], from);
                                }
                            }
                        });
                        list.push((from, s));
                        continue;
                    }
                };
                drop(list);
                let _ = up.send_to(&buf[..n], upstream);
            }
        });
        LossyUdp {
            port,
            dropped,
            stop,
        }
    }
}

impl Drop for LossyUdp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The only way to the seeder is a UDP tracker behind a link that loses each client's first
/// packet: both the seeder and the leecher retry, and the download completes.
#[test]
fn udp_tracker_packets_lost_are_retried() {
    let ot = Opentracker::start();
    let upstream: SocketAddr = ot
        .udp_announce()
        .trim_start_matches("udp://")
        .trim_end_matches("/announce")
        .parse()
        .expect("opentracker udp address");
    let lossy = LossyUdp::start(upstream);
    let url = format!("udp://127.0.0.1:{}/announce", lossy.port);
    let s = setup("udp.bin", 4 * MIB, 256 * KIB, &[url]);
    ot.allow(&s.meta.info_hash_hex());
    let mut seed = FastSeed::start(&s.torrent, &s.content, &[]);
    // wait until the seeder got through to the tracker
    wait_until(
        TEST_TIMEOUT_SECS,
        "the seeder to announce through the lossy relay",
        || !ot.peers(&s.meta.info_hash_hex()).is_empty(),
    );
    let out = s.work.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let target = out.join("udp.bin");
    let o = run_with_timeout(
        &mut download_from(&s.torrent, &target, &[]),
        TEST_TIMEOUT_SECS,
    );
    assert_success("fast-peer download through a lossy UDP tracker", &o);
    seed.stop_and_count_sent();
    assert_same_file(&s.content, &target);
    assert!(
        lossy.dropped.load(Ordering::SeqCst) >= 2,
        "the relay dropped nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Many peers at once
// ---------------------------------------------------------------------------------------------

fn vm_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// The TCP sockets of /proc/net/tcp and /proc/net/tcp6 (every process's): local port, remote
/// port, send queue (bytes not yet acknowledged by the other side), receive queue (bytes
/// received and not yet read by the program).
fn tcp_sockets() -> Vec<(u16, u16, u64, u64)> {
    let port = |addr: &str| u16::from_str_radix(addr.rsplit(':').next()?, 16).ok();
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(remote), Some((tx, rx))) = (
                f.get(1).and_then(|a| port(a)),
                f.get(2).and_then(|a| port(a)),
                f.get(4).and_then(|q| q.split_once(':')),
            ) else {
                continue;
            };
            let hex = |q: &str| u64::from_str_radix(q, 16).unwrap_or(0);
            out.push((local, remote, hex(tx), hex(rx)));
        }
    }
    out
}

/// Bytes that connections from the local ports `ours` sent to the seeder on `seed_port` and
/// the seeder has not read: still in our send queues, or in its receive queues (also those
/// of connections it has not accepted yet). 0 once it read everything or closed them.
fn unread_by_seeder(seed_port: u16, ours: &[u16]) -> u64 {
    tcp_sockets()
        .into_iter()
        .filter_map(|(local, remote, tx, rx)| {
            if remote == seed_port && ours.contains(&local) {
                Some(tx)
            } else if local == seed_port && ours.contains(&remote) {
                Some(rx)
            } else {
                None
            }
        })
        .sum()
}

/// 200 connections at once against `fast-peer seed`, each a handshake, `have none` and 250
/// requests while choked, then silence (they never read): the seeder's memory stays bounded
/// (VmRSS under 256 MiB), and a real downloader arriving while they hold on (the seeder
/// is full: 50 peers) replaces an idle one and gets the whole torrent.
#[test]
fn two_hundred_connections_keep_the_seeder_bounded_and_serving() {
    let s = setup("load.bin", 16 * MIB, 256 * KIB, &[unreachable_tracker()]);
    let mut seed = FastSeed::start(&s.torrent, &s.content, &[]);
    let addr = seed.addr();
    let pid = seed.pid();
    let rss_before = vm_rss_kib(pid);
    let info_hash = s.meta.info_hash;
    let pieces = s.meta.num_pieces() as u32;
    let mut conns = Vec::new();
    for i in 0..200u32 {
        let Ok(mut c) = TcpStream::connect(&addr) else {
            continue;
        };
        let id: [u8; 20] = format!("-LOAD00-{i:012}").as_bytes().try_into().unwrap();
        let hs = handshake_bytes(FAST_EXTENSION, &info_hash, &id);
        let mut msgs = vec![0, 0, 0, 1, 0x0f]; // have none
        for k in 0..250u32 {
            msgs.extend(request_bytes(k % pieces, 0, 16 * 1024));
        }
        let _ = c.write_all(&hs);
        let _ = c.write_all(&msgs);
        conns.push(c);
    }
    let started = Instant::now();
    // the load has landed once the seeder has read every byte of it (or hung up)
    let ours: Vec<u16> = conns
        .iter()
        .map(|c| c.local_addr().unwrap().port())
        .collect();
    wait_until(
        60,
        "the seeder to read the load connections' requests",
        || unread_by_seeder(seed.port, &ours) == 0,
    );
    let settled = started.elapsed();
    let rss_loaded = vm_rss_kib(pid);
    let out = s.work.path().join("out");
    fs::create_dir_all(&out).unwrap();
    let target = out.join("load.bin");
    let o = run_with_timeout(
        &mut download_from(&s.torrent, &target, &[addr]),
        TEST_TIMEOUT_SECS,
    );
    let rss_after = vm_rss_kib(pid);
    eprintln!(
        "{} load connections open, read by the seeder after {:.1} s; seeder VmRSS {rss_before} KiB \
         idle, {rss_loaded} KiB loaded, {rss_after} KiB after serving ({:.1} s)",
        conns.len(),
        settled.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_success("fast-peer download beside 200 load connections", &o);
    assert!(seed.is_running(), "the seeder died under load");
    assert!(
        rss_loaded.max(rss_after) < 256 * 1024,
        "seeder VmRSS {rss_loaded}/{rss_after} KiB under load"
    );
    drop(conns);
    seed.stop_and_count_sent();
    assert_same_file(&s.content, &target);
}

/// Ctrl-C reaches a busy seeder: SIGINT in the middle of an upload (events flowing, the
/// command loop turning over all the time) stops it within seconds, three times in a row.
/// (A signal that arrived between two turns of the loop used to be lost.)
#[test]
fn sigint_stops_a_busy_seeder() {
    let s = setup("busy.bin", 32 * MIB, 256 * KIB, &[unreachable_tracker()]);
    for round in 0..3 {
        let mut seed = FastSeed::start(&s.torrent, &s.content, &["--upload-limit", "8M"]);
        let out = s.work.path().join(format!("out-{round}"));
        fs::create_dir_all(&out).unwrap();
        let peer = seed.addr();
        let mut dl = Running::start(&mut download_from(
            &s.torrent,
            &out.join("busy.bin"),
            &[peer],
        ));
        wait_until(TEST_TIMEOUT_SECS, "the upload to start", || {
            written_bytes(&out) >= MIB
        });
        seed.interrupt();
        let st = seed.wait_exit(20);
        assert!(
            st.success(),
            "round {round}: fast-peer seed after SIGINT: {st}"
        );
        dl.kill();
    }
}
