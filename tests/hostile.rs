//! Hostile peers (issue 9): a scripted fake peer on 127.0.0.1 speaks raw bytes to a fast-peer
//! leecher that also has one honest, rate-limited fast-peer seeder (the in-process demo swarm).
//! Each case states what must happen to the hostile peer (dropped with a reason naming the
//! offence, or ignored) and, every time, that the download completes from the honest seeder and
//! verifies byte for byte.
//!
//! The leecher dials the hostile peer itself (`add_peers`), so the fake peer answers the
//! handshake: normally, with a wrong info hash, with the leecher's own peer id, or not at all.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use bytes::BytesMut;
use fast_peer::demo::{DemoOptions, DemoSwarm, SeederProfile};
use fast_peer::engine::event::{EngineEvent, PeerCloseReason};
use fast_peer::proto::handshake::{Handshake, Reserved};
use fast_peer::proto::id::PeerId;
use fast_peer::proto::message::{BLOCK_SIZE, BlockRef, Message};
use fast_peer::proto::metainfo::Metainfo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const MIB: u64 = 1 << 20;
/// Content size and the honest seeder's upload rate: about two seconds of download, so the
/// hostile peer is in the swarm while pieces are still being fetched.
const SIZE: u64 = 6 * MIB;
const HONEST_RATE: u64 = 3 * MIB;

/// How the fake peer answers the leecher's handshake.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Answer {
    /// A correct handshake (no extension bits).
    Normal,
    /// A handshake naming another torrent.
    WrongInfoHash,
    /// A handshake carrying the leecher's own peer id.
    OwnPeerId,
    /// Accept the connection, never send a byte (slowloris).
    Silent,
}

/// What the script sees: the torrent, and what the leecher sent it so far.
#[derive(Clone)]
struct Ctx {
    meta: Arc<Metainfo>,
    seen: Arc<Mutex<Vec<Message>>>,
}

type Script = Arc<dyn Fn(TcpStream, Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn script<F, Fut>(f: F) -> Script
where
    F: Fn(TcpStream, Ctx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Arc::new(move |s, c| Box::pin(f(s, c)))
}

struct Hostile {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listen on 127.0.0.1:0; every connection gets the handshake `answer`, then `script`.
async fn hostile(meta: Arc<Metainfo>, answer: Answer, script: Script) -> Hostile {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let ctx = Ctx {
        meta: meta.clone(),
        seen: seen.clone(),
    };
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let (ctx, script) = (ctx.clone(), script.clone());
            tokio::spawn(async move {
                let mut theirs = [0u8; 68];
                if s.read_exact(&mut theirs).await.is_err() {
                    return;
                }
                let Ok(Some((hs, _))) = Handshake::decode(&theirs) else {
                    return;
                };
                let mut ours = Handshake {
                    reserved: Reserved::default(),
                    info_hash: ctx.meta.info_hash,
                    peer_id: PeerId(*b"-XX0000-hostilepeer1"),
                };
                match answer {
                    Answer::Normal => {}
                    Answer::WrongInfoHash => ours.info_hash.0[0] ^= 0xff,
                    Answer::OwnPeerId => ours.peer_id = hs.peer_id,
                    Answer::Silent => {
                        // hold the socket open and say nothing
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(s);
                        return;
                    }
                }
                if s.write_all(&ours.encode()).await.is_err() {
                    return;
                }
                script(s, ctx).await;
            });
        }
    });
    Hostile { addr, seen, task }
}

/// Read and record the leecher's messages until it closes the connection.
async fn listen(s: &mut TcpStream, ctx: &Ctx) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while let Ok(Some((m, n))) = Message::decode(&buf, 4 * MIB as u32) {
            let _ = buf.split_to(n);
            ctx.seen.lock().unwrap().push(m);
        }
        match s.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Send `bytes`, then listen until the leecher hangs up.
fn send_then_listen(bytes: impl Fn(&Metainfo) -> Vec<u8> + Send + Sync + 'static) -> Script {
    let bytes = Arc::new(bytes);
    script(move |mut s, ctx| {
        let bytes = bytes.clone();
        async move {
            if s.write_all(&bytes(&ctx.meta)).await.is_ok() {
                listen(&mut s, &ctx).await;
            }
        }
    })
}

fn full_bitfield(meta: &Metainfo) -> Message {
    let n = meta.info.piece_count();
    let mut b = vec![0u8; n.div_ceil(8) as usize];
    for i in 0..n {
        b[(i / 8) as usize] |= 0x80 >> (i % 8);
    }
    Message::Bitfield(b.into())
}

fn wire(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

/// What happened to the hostile peer while the leecher downloaded.
struct Outcome {
    /// Why each connection to the hostile peer ended (in order).
    closed: Vec<PeerCloseReason>,
    /// Everything the leecher sent the hostile peer.
    seen: Vec<Message>,
}

/// Run one case: honest seeder + hostile peer; the leecher must complete and verify. When
/// `wait_for_close`, also wait until the leecher has closed the hostile connection.
async fn run_case(answer: Answer, script: Script, wait_for_close: bool) -> Outcome {
    let honest = SeederProfile {
        label: "honest".into(),
        upload_limit: Some(HONEST_RATE),
        corrupt_piece_one_in: None,
        ..Default::default()
    };
    let swarm = DemoSwarm::start_with(
        DemoOptions {
            size: SIZE,
            seeders: 1,
            dir: None,
        },
        vec![honest],
    )
    .await
    .expect("demo swarm");
    let bad = hostile(swarm.metainfo().clone(), answer, script).await;
    let out = tempfile::tempdir().unwrap();
    let (leecher, mut events, id) = swarm.start_leecher(out.path()).await.unwrap();
    leecher.add_peers(id, vec![bad.addr]);
    let mut closed = Vec::new();
    let mut completed = false;
    while !(completed && (!wait_for_close || !closed.is_empty())) {
        match events.recv().await.expect("engine stopped") {
            EngineEvent::Completed { id: i } if i == id => completed = true,
            EngineEvent::Failed { error, .. } => panic!("the download failed: {error}"),
            EngineEvent::PeerDisconnected { addr, reason, .. } if addr == bad.addr => {
                closed.push(reason)
            }
            _ => {}
        }
    }
    leecher.shutdown().await;
    swarm
        .verify(out.path())
        .await
        .expect("the download verifies byte for byte");
    swarm.shutdown().await;
    let seen = bad.seen.lock().unwrap().clone();
    Outcome { closed, seen }
}

/// Run a case where the hostile peer answers the handshake normally, then sends `bytes`;
/// the leecher must drop it for a protocol violation, whose text is returned.
async fn drop_reason(bytes: impl Fn(&Metainfo) -> Vec<u8> + Send + Sync + 'static) -> String {
    within(60, async {
        protocol_reason(&run_case(Answer::Normal, send_then_listen(bytes), true).await)
    })
    .await
}

fn protocol_reason(o: &Outcome) -> String {
    match o.closed.first() {
        Some(PeerCloseReason::Protocol(why)) => why.clone(),
        other => panic!("expected a protocol drop, got {other:?}"),
    }
}

/// The leecher never dropped the hostile peer for a protocol violation (for `what`).
fn assert_not_dropped(o: &Outcome, what: &str) {
    assert!(
        !o.closed
            .iter()
            .any(|r| matches!(r, PeerCloseReason::Protocol(_))),
        "dropped for {what}: {:?}",
        o.closed
    );
}

async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    timeout(Duration::from_secs(secs), f)
        .await
        .expect("timed out")
}

/// The cases where the hostile peer answers the handshake normally, then sends some bytes,
/// and the leecher must drop it for a protocol violation whose text names the offence: one
/// row a case (its test's name, what the peer sends, what the reason must contain).
macro_rules! dropped_for {
    ($($(#[$doc:meta])* $name:ident: $bytes:expr => [$($want:expr),+ $(,)?];)+) => {$(
        $(#[$doc])*
        #[tokio::test(flavor = "multi_thread")]
        async fn $name() {
            let why = drop_reason($bytes).await;
            assert!([$($want),+].iter().all(|w| why.contains(w)), "{why}");
        }
    )+};
}

dropped_for! {
    /// A length prefix of 4 GiB - 1: dropped before a byte of payload is buffered.
    a_4_gib_length_prefix_is_dropped: |_| vec![0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0]
        => ["4294967295", "exceeds"];

    /// A bitfield one byte too long for the torrent: dropped.
    a_bitfield_of_the_wrong_length_is_dropped: |m| {
        let n = m.info.piece_count().div_ceil(8) as usize + 1;
        wire(&[Message::Bitfield(vec![0xff; n].into())])
    } => ["bitfield"];

    /// A bitfield with the spare bits past the last piece set: dropped (BEP 3).
    a_bitfield_with_spare_bits_set_is_dropped: |m| {
        let n = m.info.piece_count();
        assert!(
            n % 8 != 0,
            "the demo torrent needs spare bits for this case ({n} pieces)"
        );
        wire(&[Message::Bitfield(vec![0xff; n.div_ceil(8) as usize].into())])
    } => ["bit"];

    /// `have` for the piece one past the last: dropped.
    have_for_a_piece_that_does_not_exist_is_dropped: |m| {
        let index = m.info.piece_count();
        wire(&[full_bitfield(m), Message::Have { index }])
    } => ["have for piece"];

    /// A block at an offset that is not a block boundary (never requested): dropped.
    a_block_at_a_wrong_offset_is_dropped: |m| unrequested_block(m, 1, BLOCK_SIZE)
        => ["never requested", "offset 1"];

    /// A block of the wrong size (100 bytes at a block boundary): dropped.
    a_block_of_the_wrong_size_is_dropped: |m| unrequested_block(m, 0, 100)
        => ["never requested", "length 100"];

    /// A request for a piece past the end: dropped.
    a_request_out_of_range_is_dropped: |m| request(m.info.piece_count(), BLOCK_SIZE)
        => ["request for piece"];

    /// A request for a 128 KiB + 1 block: dropped (libtorrent refuses > 128 KiB too).
    a_request_larger_than_128_kib_is_dropped: |_| request(0, 128 * 1024 + 1)
        => ["131073"];
}

/// A full bitfield, an unchoke, and a block of piece 0 at `begin` with `len` zeros, which
/// nobody asked for.
fn unrequested_block(m: &Metainfo, begin: u32, len: u32) -> Vec<u8> {
    let block = vec![0u8; len as usize].into();
    wire(&[
        full_bitfield(m),
        Message::Unchoke,
        Message::Piece {
            index: 0,
            begin,
            block,
        },
    ])
}

/// `interested`, then a request for `length` bytes at the start of piece `index`.
fn request(index: u32, length: u32) -> Vec<u8> {
    let r = BlockRef {
        index,
        begin: 0,
        length,
    };
    wire(&[Message::Interested, Message::Request(r)])
}

/// The same (valid) bitfield twice: tolerated like aria2's late bitfield, the peer stays, and
/// the leecher says `interested` once.
#[tokio::test(flavor = "multi_thread")]
async fn a_bitfield_sent_twice_is_merged_not_fatal() {
    within(60, async {
        let o = run_case(
            Answer::Normal,
            send_then_listen(|m| wire(&[full_bitfield(m), full_bitfield(m)])),
            false,
        )
        .await;
        assert_not_dropped(&o, "a second bitfield");
        assert!(
            o.seen.contains(&Message::Interested),
            "the leecher wants the peer's pieces: {:?}",
            o.seen
        );
    })
    .await
}

/// Well-formed blocks nobody requested, full of garbage, for every block of the torrent: never
/// trusted. Where one lands in a piece in flight, the hash check fails and block comparison
/// bans the sender; the download still completes correctly.
#[tokio::test(flavor = "multi_thread")]
async fn unrequested_garbage_blocks_never_corrupt_the_download() {
    within(90, async {
        let o = run_case(
            Answer::Normal,
            script(|mut s, ctx| async move {
                let info = &ctx.meta.info;
                let mut out = wire(&[full_bitfield(&ctx.meta), Message::Unchoke]);
                for index in 0..info.piece_count() {
                    let size = info.piece_size(index);
                    for begin in (0..size).step_by(BLOCK_SIZE as usize) {
                        let len = (size - begin).min(BLOCK_SIZE);
                        Message::Piece {
                            index,
                            begin,
                            block: vec![0xa5; len as usize].into(),
                        }
                        .encode(&mut out);
                    }
                }
                // trickle them in, so some land while pieces are in flight
                for chunk in out.chunks(64 * 1024) {
                    if s.write_all(chunk).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                listen(&mut s, &ctx).await;
            }),
            false,
        )
        .await;
        for r in &o.closed {
            assert!(
                matches!(r, PeerCloseReason::Banned(_) | PeerCloseReason::Protocol(_)),
                "unexpected close: {r:?}"
            );
        }
    })
    .await
}

/// 20 000 valid requests and 100 000 keep-alives from a choked peer: ignored (nothing served
/// to a choked peer, bounded queues), the peer is not dropped for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_requests_and_keep_alives_is_ignored() {
    within(90, async {
        let o = run_case(
            Answer::Normal,
            script(|mut s, ctx| async move {
                let mut out = Vec::new();
                for _ in 0..100_000 {
                    Message::KeepAlive.encode(&mut out);
                }
                for i in 0..20_000u32 {
                    let index = i % ctx.meta.info.piece_count();
                    let length = ctx.meta.info.piece_size(index).min(BLOCK_SIZE);
                    let r = BlockRef {
                        index,
                        begin: 0,
                        length,
                    };
                    Message::Request(r).encode(&mut out);
                }
                if s.write_all(&out).await.is_ok() {
                    listen(&mut s, &ctx).await;
                }
            }),
            false,
        )
        .await;
        assert_not_dropped(&o, "a flood of valid messages");
        assert!(
            !o.seen.iter().any(|m| matches!(m, Message::Piece { .. })),
            "served blocks to a peer that was never unchoked"
        );
    })
    .await
}

/// A handshake for another torrent: dropped at once, nothing else is exchanged.
#[tokio::test(flavor = "multi_thread")]
async fn a_handshake_with_the_wrong_info_hash_is_dropped() {
    within(60, async {
        let o = run_case(
            Answer::WrongInfoHash,
            send_then_listen(|_| Vec::new()),
            true,
        )
        .await;
        let why = protocol_reason(&o);
        assert!(why.contains("wrong info hash"), "{why}");
        assert!(
            o.seen.is_empty(),
            "messages sent after a wrong handshake: {:?}",
            o.seen
        );
    })
    .await
}

/// A peer answering with our own peer id: recognised as a self-connection (never retried).
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_with_our_own_peer_id_is_a_self_connection() {
    within(60, async {
        let o = run_case(Answer::OwnPeerId, send_then_listen(|_| Vec::new()), true).await;
        assert_eq!(o.closed, vec![PeerCloseReason::SelfConnection]);
    })
    .await
}

/// Slowloris: accepts the connection and never speaks. The download does not wait for it, and
/// the connection is given up after the handshake timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_never_speaks_times_out() {
    within(60, async {
        let o = run_case(Answer::Silent, send_then_listen(|_| Vec::new()), true).await;
        match o.closed.first() {
            Some(PeerCloseReason::Io(why)) => assert!(why.contains("timed out"), "{why}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
    })
    .await
}

/// A peer that unchokes, then stops in the middle of the first block it sends: its requests
/// go to the honest seeder (endgame or request timeout) and the download completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_stops_mid_block_does_not_stall_the_download() {
    within(90, async {
        let o = run_case(
            Answer::Normal,
            script(|mut s, ctx| async move {
                let mut out = wire(&[full_bitfield(&ctx.meta), Message::Unchoke]);
                if s.write_all(&out).await.is_err() {
                    return;
                }
                // wait for the first request, then send half of the answer and go quiet
                let mut buf = BytesMut::new();
                let r = loop {
                    if let Ok(Some((m, n))) = Message::decode(&buf, 4 * MIB as u32) {
                        let _ = buf.split_to(n);
                        ctx.seen.lock().unwrap().push(m.clone());
                        if let Message::Request(r) = m {
                            break r;
                        }
                        continue;
                    }
                    match s.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                };
                out.clear();
                Message::Piece {
                    index: r.index,
                    begin: r.begin,
                    block: vec![0; r.length as usize].into(),
                }
                .encode(&mut out);
                out.truncate(out.len() / 2);
                let _ = s.write_all(&out).await;
                listen(&mut s, &ctx).await;
            }),
            false,
        )
        .await;
        assert!(
            o.seen.iter().any(|m| matches!(m, Message::Request(_))),
            "the peer was asked for blocks"
        );
    })
    .await
}

/// A peer that has everything but chokes forever: never asked for a block (BEP 3: no
/// requests while choked), and the download completes from the honest seeder.
#[tokio::test(flavor = "multi_thread")]
async fn a_peer_that_chokes_forever_gets_no_requests() {
    within(60, async {
        let o = run_case(
            Answer::Normal,
            send_then_listen(|m| wire(&[full_bitfield(m), Message::Choke])),
            false,
        )
        .await;
        assert!(o.seen.contains(&Message::Interested), "{:?}", o.seen);
        assert!(
            !o.seen.iter().any(|m| matches!(m, Message::Request(_))),
            "requests sent to a choking peer: {:?}",
            o.seen
        );
    })
    .await
}
