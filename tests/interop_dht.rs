//! The DHT (BEP 5) against libtorrent: a private DHT of 8 libtorrent nodes on a loopback network
//! (`scripts/lt_dht.py swarm`), libtorrent seeders announced into it with no tracker.
//!
//! - `fast-peer dht` given one node as bootstrap downloads a 64 MiB and a multi-file torrent;
//! - `fast-peer dht --lookup` prints the seeder, `--table` the libtorrent nodes;
//! - a libtorrent client finds a `fast-peer seed` through the DHT alone (our `announce_peer`
//!   is stored by libtorrent nodes, and our answers lead it there);
//! - garbage datagrams, a flood and a lying bootstrap node neither crash nor stall our node.
//!
//! Every fast-peer here runs with a loopback `--bootstrap` (never the public routers) and its
//! state file in a temporary folder. Each test has its own loopback network (`common::net`).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn lt_dht_script() -> PathBuf {
    repo_root().join("scripts").join("lt_dht.py")
}

/// A private libtorrent DHT: 8 nodes on hosts 1..=8 of the test's network, seeders on 100,
/// 101, ... Killed on drop (and it exits when its stdin closes).
struct LtDht {
    nodes: Vec<String>,
    /// (address, info hash hex) of each seeder.
    seeders: Vec<(String, String)>,
    daemon: Daemon,
}

impl LtDht {
    fn start(net: &Net, seeds: &[(&Path, &Path)]) -> LtDht {
        let mut cmd = Command::new(LT_PYTHON);
        cmd.arg(lt_dht_script()).arg("swarm").args([
            "--ip-prefix",
            &net.prefix(),
            "--nodes",
            "8",
            "--port",
            &free_port().to_string(),
        ]);
        for (t, d) in seeds {
            cmd.arg("--seed").arg(t).arg(d);
        }
        let daemon = Daemon::spawn(&mut cmd, true);
        let (mut nodes, mut seeders) = (Vec::new(), Vec::new());
        let ready = read_lines_until(&daemon.lines, 150, |line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                ["NODE", a] => nodes.push(a.to_string()),
                ["SEEDER", a, h] => seeders.push((a.to_string(), h.to_string())),
                ["READY"] => return true,
                _ => {}
            }
            false
        });
        if let Err(why) = ready {
            panic!("lt_dht.py not ready ({why}): {}", daemon.log());
        }
        assert_eq!(nodes.len(), 8);
        LtDht {
            nodes,
            seeders,
            daemon,
        }
    }

    fn log(&self) -> String {
        self.daemon.log()
    }
}

/// `fast-peer` with the DHT on, bootstrapping from `node` only, its state in `state_dir`.
fn fp_dht(node: &str, state_dir: &Path) -> Command {
    let mut cmd = fast_peer_dht();
    cmd.args(["--bootstrap", node, "--dht-port", "0"])
        .arg("--dht-state")
        .arg(state_dir.join("dht.dat"));
    cmd
}

fn bare_magnet(hash: &str) -> String {
    magnet(hash, None, &[], &[])
}

/// `fast-peer dht -o OUT MAGNET` with peers from the DHT only; the result equals the content.
fn dht_download((layout, piece_length): Shape) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let content = create_content(&data, layout);
    // the tracker in the torrent is closed, and the seeder's trackers are removed anyway
    let (torrent, hash) = make_torrent(&content.path, piece_length, &unreachable_tracker());
    let net = Net::new();
    let dht = LtDht::start(&net, &[(&torrent, &data)]);
    assert_eq!(dht.seeders.len(), 1);
    let out = tmp.path().join("out");
    let o = run_with_timeout(
        fp_dht(&dht.nodes[0], tmp.path())
            .args(["dht", "--port", "0", "-o"])
            .arg(&out)
            .arg(bare_magnet(&hash)),
        TEST_TIMEOUT_SECS,
    );
    assert_success(&format!("fast-peer dht (lt_dht log:\n{})", dht.log()), &o);
    assert_same_content(&content.path, &out);
    // our node id and the nodes that answered were saved
    assert!(tmp.path().join("dht.dat").is_file());
}

#[test]
fn dht_downloads_64_mib_through_a_private_libtorrent_dht() {
    dht_download(single_file());
}

#[test]
fn dht_downloads_a_multi_file_torrent_through_a_private_libtorrent_dht() {
    dht_download(multi_file());
}

#[test]
fn dht_lookup_prints_the_seeder_and_table_the_nodes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let content = create_content(&data, vec![("small.bin".into(), 300_000)]);
    let (torrent, hash) = make_torrent(&content.path, 16 * KIB, &unreachable_tracker());
    let net = Net::new();
    let dht = LtDht::start(&net, &[(&torrent, &data)]);
    let o = run_with_timeout(
        fp_dht(&dht.nodes[3], tmp.path()).args(["dht", "--lookup", &hash]),
        60,
    );
    assert_success("fast-peer dht --lookup", &o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let peers: Vec<&str> = stdout.lines().collect();
    assert!(
        peers.contains(&dht.seeders[0].0.as_str()),
        "seeder {} not in {peers:?}",
        dht.seeders[0].0
    );
    assert!(
        peers.iter().all(|l| l.parse::<SocketAddr>().is_ok()),
        "stdout is one IP:PORT a line: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("queried") && stderr.contains(" s"),
        "stderr tells nodes and time: {stderr}"
    );

    let o = run_with_timeout(
        fp_dht(&dht.nodes[0], tmp.path()).args(["dht", "--table"]),
        60,
    );
    assert_success("fast-peer dht --table", &o);
    let table = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.contains(&net.prefix()))
        .collect();
    // a full bucket's worth of the libtorrent nodes (8 nodes and the seeder's node exist; the
    // lookups need not ask every one), each of them good (it answered), each a real one
    assert!(rows.len() >= 8, "{table}");
    let known: Vec<&str> = dht
        .nodes
        .iter()
        .chain(dht.seeders.iter().map(|s| &s.0))
        .map(String::as_str)
        .collect();
    for r in &rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "bucket, id, address, state, last seen: {r}");
        assert_eq!(cols[1].len(), 40, "{r}");
        assert!(known.contains(&cols[2]), "{r} is not one of {known:?}");
        assert_eq!(cols[3], "good", "{r}");
    }
    // the node id is kept in the state file: a second run has the same one
    let id_of = |t: &str| {
        t.lines()
            .find_map(|l| l.strip_prefix("Node ID: ").map(str::to_string))
    };
    let o2 = run_with_timeout(
        fp_dht(&dht.nodes[1], tmp.path()).args(["dht", "--table"]),
        60,
    );
    assert_success("fast-peer dht --table (again)", &o2);
    let first = id_of(&table);
    assert!(first.is_some(), "{table}");
    assert_eq!(id_of(&String::from_utf8_lossy(&o2.stdout)), first);
}

#[test]
fn libtorrent_finds_a_fast_peer_seeder_through_the_dht() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let content = create_content(&data, vec![("seeded.bin".into(), 5 * MIB + 77)]);
    let (torrent, hash) = make_torrent(&content.path, 256 * KIB, &unreachable_tracker());
    let net = Net::new();
    let dht = LtDht::start(&net, &[]);
    let state = tmp.path().join("seed-state");
    std::fs::create_dir_all(&state).expect("mkdir");
    let seed_dht_port = free_port();
    let mut seed = Running::start(
        fast_peer_dht()
            .args([
                "--bootstrap",
                &dht.nodes[0],
                "--dht-port",
                &seed_dht_port.to_string(),
            ])
            .arg("--dht-state")
            .arg(state.join("dht.dat"))
            .args(["seed", "--port", "0"])
            .arg(&torrent)
            .arg("--data")
            .arg(&data),
    );
    // our announce_peer reached libtorrent nodes when a lookup through them finds us
    let lookup_state = tmp.path().join("lookup-state");
    std::fs::create_dir_all(&lookup_state).expect("mkdir");
    let mut found = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !found && Instant::now() < deadline {
        assert!(
            seed.try_wait().is_none(),
            "fast-peer seed exited: {:?}",
            seed.kill()
        );
        let o = run_with_timeout(
            fp_dht(&dht.nodes[5], &lookup_state).args(["dht", "--lookup", &hash]),
            60,
        );
        found = !String::from_utf8_lossy(&o.stdout).trim().is_empty();
        if !found {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(found, "the seeder never appeared in the DHT");
    // a libtorrent client with no tracker and no peer, whose only DHT contact is our node,
    // downloads from us: it found the libtorrent nodes through our find_node/get_peers answers
    let out = tmp.path().join("lt-out");
    let mut cmd = Command::new(LT_PYTHON);
    cmd.arg(lt_dht_script())
        .args([
            "leech",
            "--magnet",
            &bare_magnet(&hash),
            "--ip",
            &net.ip(200),
            "--port",
            &free_port().to_string(),
        ])
        .arg("--out")
        .arg(&out)
        .args([
            "--node",
            &format!("127.0.0.1:{seed_dht_port}"),
            "--timeout",
            "90",
        ]);
    let o = run_with_timeout(&mut cmd, 120);
    assert_success("libtorrent DHT-only leech", &o);
    assert_same_content(&content.path, &out.join("seeded.bin"));
    seed.kill();
}

/// A fake bootstrap node that lies: it answers every query with garbage (nodes with port 0,
/// thousands of bogus nodes, wrong transaction ids, truncated bencode, values for nobody).
fn lying_node(sock: UdpSocket, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        let mut answered = 0;
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            // the transaction id: our node sends 2-byte ids, "1:t2:XX"
            let msg = &buf[..n];
            let t = msg
                .windows(4)
                .position(|w| w == b"1:t2")
                .map(|i| msg[i + 5..i + 7].to_vec())
                .unwrap_or_default();
            let mut nodes = Vec::new();
            for i in 0..40u32 {
                nodes.extend_from_slice(&[(i * 7) as u8; 20]);
                nodes.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // 0.0.0.0:0
            }
            let mut lies = Vec::new();
            let mut r = b"d1:rd2:id20:LLLLLLLLLLLLLLLLLLLL5:nodes".to_vec();
            r.extend_from_slice(format!("{}:", nodes.len()).as_bytes());
            r.extend_from_slice(&nodes);
            r.extend_from_slice(
                b"5:token2:tk6:valuesl6:\x00\x00\x00\x00\x00\x006:\xff\xff\xff\xff\x00\x01ee1:t2:",
            );
            r.extend_from_slice(&t);
            r.extend_from_slice(b"1:y1:re");
            lies.push(r);
            lies.push(b"d1:rd2:id20:LLLLLLLLLLLLLLLLLLLL5:nodes7:garbagee1:t2:zz1:y1:re".to_vec());
            lies.push(b"d1:rd2:id20:LLLLLLLLLLLLLLL".to_vec());
            lies.push(vec![b'l'; 1000]);
            lies.push(
                b"d1:eli201e3:boo1:t2:"
                    .iter()
                    .copied()
                    .chain(t.iter().copied())
                    .chain(*b"1:y1:ee")
                    .collect(),
            );
            for l in &lies {
                let _ = sock.send_to(l, from);
            }
            answered += 1;
        }
        answered
    })
}

#[test]
fn garbage_floods_and_lying_nodes_neither_crash_nor_stall_the_node() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let net = Net::new();
    let liar = UdpSocket::bind((net.ip(60), 0)).expect("bind liar");
    let liar_addr = liar.local_addr().expect("addr");
    let stop = Arc::new(AtomicBool::new(false));
    let liar_thread = lying_node(liar, stop.clone());
    let dht_port = free_port();
    // a magnet nobody has: the node keeps looking (through the liar) until killed
    let mut node = Running::start(
        fast_peer_dht()
            .args([
                "--bootstrap",
                &liar_addr.to_string(),
                "--dht-port",
                &dht_port.to_string(),
            ])
            .arg("--dht-state")
            .arg(tmp.path().join("dht.dat"))
            .args(["dht", "--port", "0", "--dir"])
            .arg(tmp.path().join("out"))
            .arg(bare_magnet(&"ab".repeat(20))),
    );
    let target: SocketAddr = format!("127.0.0.1:{dht_port}").parse().expect("addr");
    // one ping, re-sent every 200 ms for 3 s like a real client (UDP may drop it: right after
    // a flood the node's socket buffer can be full for a moment)
    let ping = |from: &UdpSocket, t: &[u8; 2]| -> bool {
        let mut q = b"d1:ad2:id20:PPPPPPPPPPPPPPPPPPPPe1:q4:ping1:t2:".to_vec();
        q.extend_from_slice(t);
        q.extend_from_slice(b"1:y1:qe");
        let mut buf = [0u8; 1500];
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            from.send_to(&q, target).expect("send");
            if let Ok((n, _)) = from.recv_from(&mut buf) {
                let r = &buf[..n];
                if r.windows(4).any(|w| w == b"1:y1")
                    && r.windows(2).any(|w| w == t)
                    && r.windows(5).any(|w| w == b"1:rd2")
                {
                    return true;
                }
            }
        }
        false
    };
    let probe = UdpSocket::bind((net.ip(2), 0)).expect("bind probe");
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    wait_until(30, "the node answers a ping", || ping(&probe, b"p0"));

    // garbage: random bytes, truncated and deeply nested bencode, wrong types, huge strings
    let junk = UdpSocket::bind((net.ip(3), 0)).expect("bind junk");
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut samples: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"d".to_vec(),
        vec![b'l'; 1400],
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q".to_vec(),
        b"d1:ai5e1:q4:ping1:t2:aa1:y1:qe".to_vec(),
        b"d1:ad2:id3:abce1:q9:find_node1:t2:aa1:y1:qe".to_vec(),
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti-1e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe".to_vec(),
        b"d1:rd2:id20:abcdefghij0123456789e1:t2:\xff\xff1:y1:re".to_vec(),
        b"99999999999:x".to_vec(),
        b"d1:t2:aa1:y1:e1:eli999999999999999999999999ee".to_vec(),
    ];
    for _ in 0..300 {
        let len = (seed % 1400) as usize;
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            v.push(seed as u8);
        }
        samples.push(v);
    }
    for s in &samples {
        let _ = junk.send_to(s, target);
    }
    // a flood: 20000 queries from one address as fast as we can send them
    let flood = UdpSocket::bind((net.ip(4), 0)).expect("bind flood");
    let q = b"d1:ad2:id20:FFFFFFFFFFFFFFFFFFFF6:target20:FFFFFFFFFFFFFFFFFFFFe1:q9:find_node1:t2:ff1:y1:qe";
    for _ in 0..20_000 {
        let _ = flood.send_to(q, target);
    }
    // still alive, and still answering others promptly
    assert!(
        node.try_wait().is_none(),
        "the node died: {:?}",
        node.kill()
    );
    for i in 0..5u8 {
        assert!(
            ping(&probe, &[b'q', b'0' + i]),
            "ping {i} after the flood went unanswered"
        );
    }
    // the liar was asked (it is our only bootstrap node), and we survived its answers
    stop.store(true, Ordering::Relaxed);
    let answered = liar_thread.join().expect("liar thread");
    assert!(answered > 0, "the lying node was never queried");
    assert!(
        node.try_wait().is_none(),
        "the node died: {:?}",
        node.kill()
    );
    assert!(ping(&probe, b"zz"));
    node.kill();
}

#[test]
fn dht_command_errors() {
    // --no-dht (what fast_peer() passes) leaves the dht command nothing to work with
    let o = run_with_timeout(fast_peer().args(["dht", "--lookup", &"ab".repeat(20)]), 30);
    let err = assert_fails_with_message("dht --lookup with --no-dht", &o);
    assert!(err.contains("needs the DHT"), "{o:?}");
    // neither a magnet nor --lookup nor --table
    let o = run_with_timeout(fast_peer().arg("dht"), 30);
    assert!(!o.status.success());
    // a bad info hash is reported before anything starts
    let o = run_with_timeout(
        fast_peer_dht()
            .args(["--bootstrap", &format!("127.0.0.1:{}", closed_port())])
            .args(["dht", "--lookup", "xyz"]),
        30,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("info hash"),
        "{o:?}"
    );
}
