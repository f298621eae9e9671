//! The engine with its DHT node (BEP 5), in process on loopback: a seeder and a leecher that
//! know nothing of each other (no tracker, no peer given) meet through a third DHT node; the
//! engine snapshot shows the node; peers with the DHT bit exchange `Port` messages. The three
//! nodes have three addresses of the test's own loopback network (`common::net`).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::Net;

use fast_peer::engine::dht::{self, DhtConfig, DhtHandle};
use fast_peer::engine::event::EngineEvent;
use fast_peer::engine::storage::OutputTarget;
use fast_peer::engine::{AddTorrent, EngineConfig, EngineHandle, spawn};
use fast_peer::proto::handshake::{Handshake, Reserved};
use fast_peer::proto::id::PeerId;
use fast_peer::proto::message::Message;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Peers and DHT node on one loopback address: the DHT stores the address our `announce_peer`
/// comes from, with our TCP port.
fn config(ip: &str, bootstrap: &DhtHandle, boot_ip: &str) -> EngineConfig {
    EngineConfig {
        listen: SocketAddr::new(ip.parse().unwrap(), 0),
        listen_fallback: false,
        dht: Some(DhtConfig {
            bind: format!("{ip}:0").parse().unwrap(),
            port_fallback: false,
            bootstrap: vec![format!("{boot_ip}:{}", bootstrap.port())],
            state_path: None,
        }),
        ..EngineConfig::default()
    }
}

fn write_content(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("content.bin");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, data).unwrap();
    path
}

async fn wait_for(
    what: &str,
    events: &mut mpsc::Receiver<EngineEvent>,
    mut f: impl FnMut(&EngineEvent) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ev) = events.recv().await {
            if let EngineEvent::Failed { error, .. } = &ev {
                panic!("torrent failed: {error}");
            }
            if f(&ev) {
                return;
            }
        }
        panic!("engine stopped");
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeder_and_leecher_meet_through_the_dht() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write_content(tmp.path());
    let mut opts = fast_peer::engine::create::CreateOptions::new(&src);
    opts.piece_length = Some(64 * 1024);
    let created = fast_peer::engine::create::create_torrent(&opts, |_, _| {}).unwrap();
    let metainfo = Arc::new(created.metainfo);
    let net = Net::new();
    let (hub_ip, seeder_ip, leecher_ip) = (net.ip(1), net.ip(2), net.ip(3));

    // the meeting point: a bare DHT node that knows nobody
    let hub = dht::spawn(DhtConfig {
        bind: SocketAddr::new(hub_ip.parse().unwrap(), 0),
        port_fallback: false,
        bootstrap: vec![],
        state_path: None,
    })
    .await
    .unwrap();

    let (seeder, mut seeder_events) = spawn(config(&seeder_ip, &hub, &hub_ip)).await.unwrap();
    seeder
        .add_torrent(AddTorrent {
            settings: Default::default(),
            metainfo: metainfo.clone(),
            target: OutputTarget::Exact(src.clone()),
            peers: vec![],
            wanted_pieces: None,
            use_trackers: false,
            seed_only: true,
        })
        .await
        .unwrap();
    wait_for("the seeder's check", &mut seeder_events, |e| {
        matches!(e, EngineEvent::Completed { .. })
    })
    .await;
    // the seeder's DHT shows up in its snapshots
    wait_for("a DHT snapshot with nodes", &mut seeder_events, |e| matches!(e, EngineEvent::Snapshot(s) if s.dht.as_ref().is_some_and(|d| d.buckets.iter().any(|b| !b.nodes.is_empty())))).await;
    // the announce reached the hub
    tokio::time::timeout(Duration::from_secs(30), async {
        while hub.snapshot().is_none_or(|s| s.stored_peers == 0) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the seeder never announced to the hub");

    let (leecher, mut leecher_events) = spawn(config(&leecher_ip, &hub, &hub_ip)).await.unwrap();
    let out = tmp.path().join("out.bin");
    leecher
        .add_torrent(AddTorrent {
            settings: Default::default(),
            metainfo: metainfo.clone(),
            target: OutputTarget::Exact(out.clone()),
            peers: vec![],
            wanted_pieces: None,
            use_trackers: false,
            seed_only: false,
        })
        .await
        .unwrap();
    wait_for("the download", &mut leecher_events, |e| {
        matches!(e, EngineEvent::Completed { .. })
    })
    .await;
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&src).unwrap());

    port_messages(&seeder, &seeder_ip, metainfo.info_hash).await;
    leecher.shutdown().await;
    seeder.shutdown().await;
    hub.shutdown().await;
}

/// A raw peer with the DHT bit: the seeder sends its DHT port in a `Port` message, and pings
/// the DHT port we announce in ours.
async fn port_messages(
    seeder: &EngineHandle,
    seeder_ip: &str,
    info_hash: fast_peer::proto::id::InfoHash,
) {
    let our_udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut s = tokio::net::TcpStream::connect((seeder_ip, seeder.listen_port()))
        .await
        .unwrap();
    let hs = Handshake {
        reserved: Reserved::default().with(Reserved::DHT),
        info_hash,
        peer_id: PeerId::generate(),
    };
    s.write_all(&hs.encode()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let theirs_port = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "seeder closed the connection");
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() < 68 {
                continue;
            }
            let (theirs, _) = Handshake::decode(&buf[..68]).unwrap().unwrap();
            assert!(theirs.reserved.has(Reserved::DHT), "the DHT bit is set");
            let mut rest = &buf[68..];
            while let Ok(Some((m, used))) = Message::decode(rest, 1 << 20) {
                if let Message::Port(p) = m {
                    return p;
                }
                rest = &rest[used..];
            }
        }
    })
    .await
    .expect("no Port message");
    assert_eq!(Some(theirs_port), seeder.dht().map(|d| d.port()));
    // our Port: the seeder's DHT node pings that UDP port
    let mut out = Vec::new();
    Message::Port(our_udp.local_addr().unwrap().port()).encode(&mut out);
    s.write_all(&out).await.unwrap();
    let mut b = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), our_udp.recv_from(&mut b))
        .await
        .expect("no ping")
        .unwrap();
    let q = fast_peer::proto::krpc::decode(&b[..n]).unwrap();
    assert!(matches!(
        q.body,
        fast_peer::proto::krpc::Body::Query(fast_peer::proto::krpc::Query::Ping { .. })
    ));
}
