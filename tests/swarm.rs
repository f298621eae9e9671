//! In-process swarms on 127.0.0.1: fast-peer seeders and leechers found through the demo
//! tracker, every download checked byte for byte, each test under an overall timeout.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::cli::demo::run_demo_no_tui;
use fast_peer::demo::{DemoOptions, DemoSwarm, SeederProfile, Tracker};
use fast_peer::engine::EngineHandle;
use fast_peer::engine::event::{EngineEvent, TorrentId, TorrentSnapshot};
use fast_peer::engine::tracker::announce;
use fast_peer::proto::id::{InfoHash, PeerId};
use fast_peer::proto::tracker::{AnnounceRequest, Event};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;

const MIB: u64 = 1 << 20;

fn options(size: u64) -> DemoOptions {
    DemoOptions {
        size,
        ..DemoOptions::default()
    }
}

/// A leecher's events drained in the background: its latest snapshot and whether it completed.
#[derive(Clone)]
struct Watch {
    last: Arc<Mutex<Option<TorrentSnapshot>>>,
    completed: Arc<AtomicBool>,
    /// A moment before the torrent was added: a snapshot was taken at the earliest at
    /// `added_before + snapshot.elapsed` (`elapsed` counts from when the torrent was added).
    added_before: Instant,
}

impl Watch {
    /// Drains `events` of torrent `id`, which was added after `added_before`.
    fn start(
        mut events: mpsc::Receiver<EngineEvent>,
        id: TorrentId,
        added_before: Instant,
    ) -> Watch {
        let w = Watch {
            last: Arc::default(),
            completed: Arc::default(),
            added_before,
        };
        let out = w.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    EngineEvent::Completed { id: i } if i == id => {
                        w.completed.store(true, Ordering::SeqCst)
                    }
                    EngineEvent::Failed { id: i, error } if i == id => {
                        panic!("leecher failed: {error}")
                    }
                    EngineEvent::Snapshot(s) => {
                        if let Some(t) = s.torrents.into_iter().find(|t| t.id == id) {
                            *w.last.lock().unwrap() = Some(t);
                        }
                    }
                    _ => {}
                }
            }
        });
        out
    }

    fn done(&self) -> bool {
        self.completed.load(Ordering::SeqCst)
    }

    fn uploaded(&self) -> u64 {
        self.last.lock().unwrap().as_ref().map_or(0, |t| t.uploaded)
    }

    /// The latest snapshot was certainly taken after `t`.
    fn snapshot_after(&self, t: Instant) -> bool {
        let last = self.last.lock().unwrap();
        last.as_ref()
            .is_some_and(|s| self.added_before + s.elapsed >= t)
    }
}

/// A demo swarm of `size` bytes with one seeder.
async fn one_seeder(size: u64) -> DemoSwarm {
    let opts = DemoOptions {
        seeders: 1,
        ..options(size)
    };
    DemoSwarm::start(opts).await.unwrap()
}

async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leecher_downloads_from_one_seeder() {
    timeout(Duration::from_secs(120), async {
        let swarm = one_seeder(6 * MIB).await;
        let out = tempfile::tempdir().unwrap();
        let before = Instant::now();
        let (leecher, events, id) = swarm.start_leecher(out.path()).await.unwrap();
        let watch = Watch::start(events, id, before);
        until(|| watch.done()).await;
        leecher.shutdown().await;
        swarm.verify(out.path()).await.unwrap();
        // the seeder's counters arrive with its next snapshot
        let total = swarm.metainfo().info.total_length;
        until(|| {
            swarm.seeders()[0]
                .snapshot()
                .is_some_and(|t| t.uploaded >= total)
        })
        .await;
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_leechers_trade_pieces() {
    timeout(Duration::from_secs(180), async {
        // one seeder at 1 MiB/s: the leechers can only finish quickly by trading with each other
        let seeder = SeederProfile {
            label: "capped".into(),
            upload_limit: Some(MIB),
            corrupt_piece_one_in: None,
            ..Default::default()
        };
        let swarm = DemoSwarm::start_with(options(8 * MIB), vec![seeder])
            .await
            .unwrap();
        let mut leechers: Vec<(EngineHandle, Watch, tempfile::TempDir)> = Vec::new();
        for _ in 0..3 {
            let out = tempfile::tempdir().unwrap();
            let before = Instant::now();
            let (handle, events, id) = swarm.start_leecher(out.path()).await.unwrap();
            leechers.push((handle, Watch::start(events, id, before), out));
        }
        until(|| leechers.iter().all(|(_, w, _)| w.done())).await;
        // every upload between the leechers happened before the last of them completed: wait
        // for a snapshot of each taken after that (they are sent every 100 ms)
        let all_done = Instant::now();
        until(|| leechers.iter().all(|(_, w, _)| w.snapshot_after(all_done))).await;
        let total = swarm.metainfo().info.total_length;
        let uploads: Vec<u64> = leechers.iter().map(|(_, w, _)| w.uploaded()).collect();
        let seeder_sent = swarm.seeders()[0].snapshot().map_or(0, |t| t.uploaded);
        eprintln!("content {total} bytes; seeder sent {seeder_sent}; leechers sent {uploads:?}");
        for (handle, _, out) in &leechers {
            handle.shutdown().await;
            swarm.verify(out.path()).await.unwrap();
        }
        assert!(
            uploads.iter().sum::<u64>() > 0,
            "the leechers never uploaded to each other"
        );
        assert!(
            uploads.iter().all(|&u| u > 0),
            "every leecher uploads: {uploads:?}"
        );
        assert!(
            seeder_sent < 3 * total,
            "the seeder sent {seeder_sent} bytes, three copies are {}",
            3 * total
        );
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_no_tui_completes() {
    timeout(Duration::from_secs(200), run_demo_no_tui(options(4 * MIB)))
        .await
        .expect("timed out")
        .expect("demo failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_keeps_dir_when_given() {
    timeout(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let opts = DemoOptions {
            dir: Some(dir.path().to_path_buf()),
            seeders: 2,
            size: MIB,
        };
        run_demo_no_tui(opts.clone()).await.expect("first run");
        // a second run over the same folder downloads again and still verifies
        run_demo_no_tui(opts).await.expect("second run");
        assert!(dir.path().join("fast-peer-demo.torrent").is_file());
        assert!(
            dir.path()
                .join("download/fast-peer-demo/README.txt")
                .is_file()
        );
    })
    .await
    .expect("timed out");
}

/// Send raw bytes, then read whatever comes back until the tracker closes.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    // the tracker may close (or reset) before taking everything: that is an answer too
    let _ = s.write_all(request).await;
    let _ = s.shutdown().await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn tracker_survives_garbage() {
    timeout(Duration::from_secs(60), async {
        let tracker = Tracker::start().await.unwrap();
        let addr = tracker.local_addr();
        let big = vec![b'A'; 64 * 1024];
        let garbage: Vec<&[u8]> = vec![
            b"\x00\x01\x02\xff\r\n\r\n",
            b"GET /scrape HTTP/1.1\r\n\r\n",
            b"GET /announce?info_hash=%zz&port=1 HTTP/1.1\r\n\r\n",
            b"GET /announce?info_hash=short HTTP/1.1\r\n\r\n",
            b"DELETE / HTTP/1.1\r\n\r\n",
            b"GET /announce HTTP/1.1", // never finished
            &big,
        ];
        for g in garbage {
            let answer = raw(addr, g).await;
            let text = String::from_utf8_lossy(&answer);
            assert!(
                answer.is_empty()
                    || (text.starts_with("HTTP/1.1 4") && text.contains("failure reason")),
                "{text}"
            );
        }
        // and still answers a real announce, through the engine's own tracker client
        let req = AnnounceRequest {
            info_hash: InfoHash([7; 20]),
            peer_id: PeerId::generate(),
            port: 4242,
            uploaded: 0,
            downloaded: 0,
            left: 10,
            event: Event::Started,
            numwant: Some(50),
            key: 1,
            tracker_id: None,
            ipv6: None,
        };
        let resp = announce(tracker.announce_url(), &req, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!((resp.incomplete, resp.complete), (Some(1), Some(0)));
        let other = AnnounceRequest {
            peer_id: PeerId::generate(),
            port: 4343,
            left: 0,
            ..req.clone()
        };
        let resp = announce(tracker.announce_url(), &other, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(resp.peers, vec!["127.0.0.1:4242".parse().unwrap()]);
        assert_eq!((resp.incomplete, resp.complete), (Some(1), Some(1)));
    })
    .await
    .expect("timed out");
}

/// A seeder that corrupts every piece it serves and an honest one: the download completes and
/// verifies, the corrupt seeder is banned, and the honest one never is, even though they
/// shared pieces (parole and block comparison put the blame on the right peer).
#[tokio::test(flavor = "multi_thread")]
async fn corrupt_seeder_is_banned_and_honest_one_is_not() {
    use fast_peer::engine::event::PeerCloseReason;
    timeout(Duration::from_secs(120), async {
        let profiles = vec![
            // The honest seeder is rate-limited so that it cannot serve all 8 MiB before the
            // leecher has asked the corrupt one for pieces (unlimited, it sometimes did, and
            // the test saw no hash failure at all).
            SeederProfile {
                label: "honest".into(),
                upload_limit: Some(2 * MIB),
                corrupt_piece_one_in: None,
                ..Default::default()
            },
            SeederProfile {
                label: "corrupt".into(),
                upload_limit: None,
                corrupt_piece_one_in: Some(1),
                ..Default::default()
            },
        ];
        let swarm = DemoSwarm::start_with(options(8 * MIB), profiles)
            .await
            .unwrap();
        let honest = swarm.seeders()[0].addr;
        let corrupt = swarm.seeders()[1].addr;
        let out = tempfile::tempdir().unwrap();
        let (leecher, mut events, id) = swarm.start_leecher(out.path()).await.unwrap();
        let mut banned = Vec::new();
        let mut failures = 0;
        loop {
            match events.recv().await.expect("engine stopped") {
                EngineEvent::Completed { id: i } if i == id => break,
                EngineEvent::Failed { error, .. } => panic!("leecher failed: {error}"),
                EngineEvent::HashFailed { .. } => failures += 1,
                EngineEvent::PeerDisconnected {
                    addr,
                    reason: PeerCloseReason::Banned(why),
                    ..
                } => banned.push((addr, why)),
                EngineEvent::PeerDisconnected {
                    addr,
                    reason: PeerCloseReason::Protocol(why),
                    ..
                } if why.contains("corrupt") || why.contains("banned") => banned.push((addr, why)),
                _ => {}
            }
        }
        leecher.shutdown().await;
        swarm.verify(out.path()).await.unwrap();
        assert!(
            failures > 0,
            "the corrupt seeder's pieces must fail their hash check"
        );
        assert!(
            banned.iter().any(|(a, _)| *a == corrupt),
            "corrupt seeder not banned: {banned:?}"
        );
        assert!(
            banned.iter().all(|(a, _)| *a != honest),
            "honest seeder banned: {banned:?}"
        );
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}

/// BEP 6 against a fast-peer seeder, from a raw peer that never says `interested` (so it stays
/// choked): the seeder grants the canonical allowed-fast set, serves a request for an allowed
/// piece while choking, and rejects a request for any other piece.
#[tokio::test(flavor = "multi_thread")]
async fn allowed_fast_pieces_are_served_while_choked_and_others_rejected() {
    use bytes::BytesMut;
    use fast_peer::proto::handshake::{Handshake, Reserved};
    use fast_peer::proto::message::{BlockRef, DEFAULT_MAX_MESSAGE_LEN, Message, allowed_fast_set};
    timeout(Duration::from_secs(60), async {
        let swarm = one_seeder(4 * MIB).await;
        let meta = swarm.metainfo().clone();
        let seeder = swarm.seeders()[0].addr;
        let mut s = tokio::net::TcpStream::connect(seeder).await.unwrap();
        let ours = Handshake {
            reserved: Reserved::default().with(Reserved::FAST),
            info_hash: meta.info_hash,
            peer_id: PeerId(*b"-XX0000-rawfastpeer1"),
        };
        s.write_all(&ours.encode()).await.unwrap();
        let mut buf = BytesMut::new();
        let mut got_handshake = false;
        let mut allowed = Vec::new();
        let next = |buf: &mut BytesMut| -> Option<Message> {
            let (m, n) = Message::decode(buf, DEFAULT_MAX_MESSAGE_LEN).unwrap()?;
            let _ = buf.split_to(n);
            Some(m)
        };
        let expected = allowed_fast_set(
            std::net::Ipv4Addr::LOCALHOST,
            &meta.info_hash,
            meta.info.piece_count(),
            10,
        );
        // read until the whole allowed-fast set has arrived
        while allowed.len() < expected.len() {
            let n = s.read_buf(&mut buf).await.unwrap();
            assert!(n > 0, "seeder closed the connection");
            if !got_handshake && buf.len() >= 68 {
                let _ = buf.split_to(68);
                got_handshake = true;
            }
            while got_handshake && let Some(m) = next(&mut buf) {
                if let Message::AllowedFast { index } = m {
                    allowed.push(index);
                }
            }
        }
        assert_eq!(allowed, expected, "the canonical BEP 6 set");
        let not_allowed = (0..meta.info.piece_count())
            .find(|i| !allowed.contains(i))
            .unwrap();
        let ok = BlockRef {
            index: allowed[0],
            begin: 0,
            length: 16384,
        };
        let refused = BlockRef {
            index: not_allowed,
            begin: 0,
            length: 16384,
        };
        let mut out = Vec::new();
        Message::HaveNone.encode(&mut out);
        Message::Request(ok).encode(&mut out);
        Message::Request(refused).encode(&mut out);
        s.write_all(&out).await.unwrap();
        let (mut served, mut rejected) = (false, false);
        while !(served && rejected) {
            while let Some(m) = next(&mut buf) {
                match m {
                    Message::Piece {
                        index,
                        begin,
                        block,
                    } => {
                        assert_eq!((index, begin, block.len()), (ok.index, 0, 16384));
                        served = true;
                    }
                    Message::Reject(r) => {
                        assert_eq!(r, refused);
                        rejected = true;
                    }
                    Message::Unchoke => panic!("a peer that is not interested must stay choked"),
                    _ => {}
                }
            }
            if !(served && rejected) {
                assert!(
                    s.read_buf(&mut buf).await.unwrap() > 0,
                    "seeder closed the connection"
                );
            }
        }
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}

/// A peer list that contains our own address: the dialling side sees its own peer id in the
/// answer and records a self-connection (so that address is never tried again), instead of
/// a dropped handshake it would retry forever.
#[tokio::test(flavor = "multi_thread")]
async fn dialling_ourselves_is_recognised() {
    use fast_peer::engine::event::PeerCloseReason;
    timeout(Duration::from_secs(60), async {
        let swarm = one_seeder(2 * MIB).await;
        let out = tempfile::tempdir().unwrap();
        let (leecher, mut events, id) = swarm.start_leecher(out.path()).await.unwrap();
        let me = std::net::SocketAddr::from(([127, 0, 0, 1], leecher.listen_port()));
        leecher.add_peers(id, vec![me]);
        loop {
            match events.recv().await.expect("engine stopped") {
                EngineEvent::PeerDisconnected { addr, reason, .. } if addr == me => {
                    assert_eq!(reason, PeerCloseReason::SelfConnection);
                    break;
                }
                _ => {}
            }
        }
        leecher.shutdown().await;
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}

/// Message Stream Encryption against a fast-peer seeder, from raw connections: a public key
/// out of range, a key followed by padding that never synchronises, and a correct handshake
/// for a torrent the seeder does not have are each dropped; a correct handshake for its
/// torrent gets an (RC4-encrypted) BitTorrent handshake back; and the seeder still serves a
/// whole download afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_encrypted_handshakes_are_dropped_and_a_real_one_is_answered() {
    use fast_peer::proto::handshake::Handshake;
    use fast_peer::proto::mse::{CRYPTO_RC4, Initiator};
    use tokio::net::TcpStream;
    timeout(Duration::from_secs(120), async {
        let swarm = DemoSwarm::start_with(
            options(4 * MIB),
            vec![SeederProfile {
                label: "s".into(),
                ..Default::default()
            }],
        )
        .await
        .unwrap();
        let seeder = swarm.seeders()[0].addr;
        let info_hash = swarm.metainfo().info_hash;
        /// The seeder closes the connection (read gives 0 or an error) within 15 s.
        async fn closed(s: &mut TcpStream) -> bool {
            let mut buf = [0u8; 4096];
            loop {
                match timeout(Duration::from_secs(15), s.read(&mut buf)).await {
                    Err(_) => return false,
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    Ok(Ok(_)) => {}
                }
            }
        }
        // a public key of all ones (above the prime)
        let mut s = TcpStream::connect(seeder).await.unwrap();
        s.write_all(&[0xFF; 96]).await.unwrap();
        assert!(
            closed(&mut s).await,
            "an out-of-range public key was not dropped"
        );
        // a valid key, then 1000 bytes of padding without the req1 hash
        let (_, first) = Initiator::start(info_hash.0, CRYPTO_RC4, Vec::new(), &[7; 20], &[]);
        let mut s = TcpStream::connect(seeder).await.unwrap();
        s.write_all(&first).await.unwrap();
        s.write_all(&[0x5A; 1000]).await.unwrap();
        assert!(
            closed(&mut s).await,
            "padding that never synchronises was not dropped"
        );
        // a correct handshake for another torrent; then one for ours
        for (skey, known) in [([0xAB; 20], false), (info_hash.0, true)] {
            let ours = Handshake {
                reserved: Default::default(),
                info_hash: InfoHash(skey),
                peer_id: PeerId([1; 20]),
            };
            let (mut mse, first) =
                Initiator::start(skey, CRYPTO_RC4, ours.encode().to_vec(), &[9; 20], &[3; 40]);
            let mut s = TcpStream::connect(seeder).await.unwrap();
            s.write_all(&first).await.unwrap();
            let mut buf = [0u8; 4096];
            let done = loop {
                let n = timeout(Duration::from_secs(15), s.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap_or(0);
                if n == 0 {
                    break None;
                }
                let p = mse
                    .receive(&buf[..n])
                    .expect("the seeder's MSE bytes parse");
                s.write_all(&p.send).await.unwrap();
                if p.done.is_some() {
                    break p.done;
                }
            };
            if !known {
                assert!(
                    done.is_none(),
                    "an MSE handshake for an unknown torrent was answered"
                );
                continue;
            }
            let mut done = done.expect("the seeder completes the MSE handshake for its torrent");
            let ciphers = done
                .ciphers
                .as_mut()
                .expect("RC4 was the only method offered");
            let mut got = done.payload.clone();
            while got.len() < 68 {
                let n = timeout(Duration::from_secs(15), s.read(&mut buf))
                    .await
                    .unwrap()
                    .unwrap();
                assert!(n > 0, "closed before the BitTorrent handshake");
                let mut fresh = buf[..n].to_vec();
                ciphers.decrypt.apply(&mut fresh);
                got.extend_from_slice(&fresh);
            }
            let (theirs, _) = Handshake::decode(&got).unwrap().expect("a whole handshake");
            assert_eq!(theirs.info_hash, info_hash);
        }
        let out = tempfile::tempdir().unwrap();
        let before = Instant::now();
        let (leecher, events, id) = swarm.start_leecher(out.path()).await.unwrap();
        let watch = Watch::start(events, id, before);
        until(|| watch.done()).await;
        leecher.shutdown().await;
        swarm.verify(out.path()).await.unwrap();
        swarm.shutdown().await;
    })
    .await
    .expect("timed out");
}
