//! Render benchmark: one dashboard frame with 100 000 pieces and 500 peers into ratatui's
//! `TestBackend` (200x60 and 80x24), for the piece map (also with the rarity view and with a
//! peer's pieces over it), the peers table (with five minutes of sparklines) and the torrents
//! pane (the cockpit, its speed chart full).
//! `cargo bench --bench render`.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use criterion::{Criterion, criterion_group, criterion_main};
use fast_peer::engine::event::{
    EngineEvent, EngineSnapshot, PeerSnapshot, PieceView, TorrentSnapshot, TorrentState,
};
use fast_peer::proto::bitfield::Bitfield;
use fast_peer::proto::id::{InfoHash, PeerId};
use fast_peer::tui::action::{Action, Pane};
use fast_peer::tui::app::App;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::net::SocketAddr;
use std::time::Duration;

const PIECES: u32 = 100_000;
const PEERS: u16 = 500;

fn torrent() -> TorrentSnapshot {
    let pieces: Vec<PieceView> = (0..PIECES)
        .map(|i| match i % 11 {
            0..=5 => PieceView::Verified,
            6 => PieceView::Requested,
            7 if i % 1000 == 7 => PieceView::Failed,
            _ => PieceView::Missing,
        })
        .collect();
    let availability: Vec<u16> = (0..PIECES).map(|i| (i % 13) as u16).collect();
    let peers = (0..PEERS)
        .map(|i| PeerSnapshot {
            incoming: i % 3 == 0,
            am_choking: i % 2 == 0,
            am_interested: true,
            peer_choking: i % 5 == 0,
            peer_interested: i % 7 == 0,
            snubbed: false,
            fast: true,
            wire: fast_peer::engine::conn::Wire::Rc4,
            pieces: (i as u32 * 199) % PIECES,
            downloaded: i as u64 * 1_000_000,
            uploaded: 0,
            download_rate: (i as f64 * 7919.0) % 3e6,
            upload_rate: 1000.0,
            requests_in_flight: (i % 64) as u32,
            pieces_in_flight: vec![i as u32 * 100, i as u32 * 100 + 1],
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 0x05],
            last_block: Some(std::time::Duration::from_millis(i as u64 * 37)),
            ..PeerSnapshot::new(
                SocketAddr::from(([127, 0, (i / 250) as u8, (i % 250) as u8 + 1], 6881 + i)),
                PeerId(*b"-LT2080-abcdefghijkl"),
            )
        })
        .collect();
    TorrentSnapshot {
        id: 1,
        info_hash: InfoHash([7; 20]),
        name: "big.iso".into(),
        state: TorrentState::Downloading,
        total_length: PIECES as u64 * 262_144,
        piece_count: PIECES,
        pieces_verified: PIECES / 2,
        bytes_left: PIECES as u64 * 131_072,
        downloaded: 1 << 30,
        uploaded: 0,
        download_rate: 300e6,
        upload_rate: 0.0,
        in_endgame: false,
        hash_failures: 3,
        known_peers: 800,
        peers,
        elapsed: Duration::from_secs(60),
        metadata: None,
        pieces: pieces.into(),
        availability: availability.into(),
        settings: Default::default(),
        files: Vec::new().into(),
        diagnostics: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let mut app = App::new(PeerId(*b"-FP0100-benchbenchbe"));
    app.update(Action::Engine(Box::new(EngineEvent::Snapshot(Box::new(
        EngineSnapshot {
            listen_port: 6881,
            peer_id: PeerId(*b"-FP0100-benchbenchbe"),
            torrents: vec![torrent()],
            dht: None,
            limits: Default::default(),
            queue: Vec::new(),
            queue_limits: Default::default(),
        },
    )))));
    // five minutes of rates behind the torrent and every peer: the cockpit's chart and the
    // peers' sparklines are full
    let t0 = std::time::Instant::now();
    for i in 0..300u64 {
        let mut t = torrent();
        t.download_rate = 300e6 * (1.0 + (i as f64 / 7.0).sin()) / 2.0;
        t.upload_rate = 1e6 * (i % 5) as f64;
        app.history
            .record(t0 + Duration::from_secs(i), std::slice::from_ref(&t));
    }
    for (pane, name) in [
        (Pane::Pieces, "pieces"),
        (Pane::Peers, "peers"),
        (Pane::Torrents, "torrents"),
    ] {
        app.update(Action::GoTo(pane));
        for (w, h) in [(200u16, 60u16), (80, 24)] {
            let mut term = Terminal::new(TestBackend::new(w, h)).expect("backend");
            c.bench_function(
                &format!("frame {name} {w}x{h} 100k pieces 500 peers"),
                |b| {
                    b.iter(|| {
                        term.draw(|f| f.render_widget(&app, f.area()))
                            .map(|_| ())
                            .expect("draw")
                    })
                },
            );
        }
    }
    app.update(Action::GoTo(Pane::Pieces));
    app.update(Action::ToggleRarity);
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("backend");
    c.bench_function("frame pieces+rarity 200x60 100k pieces 500 peers", |b| {
        b.iter(|| {
            term.draw(|f| f.render_widget(&app, f.area()))
                .map(|_| ())
                .expect("draw")
        })
    });
    app.update(Action::ToggleRarity);
    // a peer selected: the pieces it has (every third) over the map
    let addr = torrent().peers[7].addr;
    app.peer = Some(addr);
    let mut bits = Bitfield::new(PIECES);
    for i in (0..PIECES).step_by(3) {
        bits.set(i);
    }
    app.update(Action::PeerPieces {
        torrent: 1,
        addr,
        bits: Some(bits),
    });
    c.bench_function("frame pieces+peer 200x60 100k pieces 500 peers", |b| {
        b.iter(|| {
            term.draw(|f| f.render_widget(&app, f.area()))
                .map(|_| ())
                .expect("draw")
        })
    });
    // the model side of a frame: taking in one snapshot of that size
    let snap = torrent();
    c.bench_function("update with a 100k-piece 500-peer snapshot", |b| {
        b.iter(|| {
            app.update(Action::Engine(Box::new(EngineEvent::Snapshot(Box::new(
                EngineSnapshot {
                    listen_port: 6881,
                    peer_id: PeerId(*b"-FP0100-benchbenchbe"),
                    torrents: vec![snap.clone()],
                    dht: None,
                    limits: Default::default(),
                    queue: Vec::new(),
                    queue_limits: Default::default(),
                },
            )))))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
