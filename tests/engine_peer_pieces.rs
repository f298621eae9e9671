//! `EngineHandle::peer_pieces`: a peer's bitfield asked of its task, on a real connection (the
//! in-process demo swarm on 127.0.0.1), both ways; and the dashboard's question carried by
//! its backend (`tui::backend::ask_peer_pieces`) back into the piece map's model.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::demo::{DemoOptions, DemoSwarm, SeederProfile};
use fast_peer::engine::event::{EngineEvent, PieceView, Transport};
use fast_peer::proto::id::PeerId;
use fast_peer::tui::action::{Action, Pane};
use fast_peer::tui::app::{App, Effect};
use fast_peer::tui::backend::{Backend, ask_peer_pieces};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_pieces_are_answered_from_its_bitfield() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        dir: Some(dir.path().join("demo")),
        seeders: 1,
        size: 4 << 20,
    };
    // slow enough that the download is still going when we ask
    let slow = SeederProfile {
        label: "slow".into(),
        upload_limit: Some(256 << 10),
        ..Default::default()
    };
    let swarm = DemoSwarm::start_with(opts, vec![slow]).await.unwrap();
    let out = dir.path().join("download");
    let (handle, mut events, id) = swarm.start_leecher(&out).await.unwrap();
    let mut app = App::new(PeerId::default());
    let run = async {
        // a picture with the seeder connected and a few pieces in
        let (seeder, piece_count) = loop {
            let ev = events.recv().await.unwrap();
            let picture = match &ev {
                EngineEvent::Snapshot(s) => s.torrents.iter().find(|t| t.id == id).cloned(),
                _ => None,
            };
            app.update(Action::Engine(Box::new(ev)));
            if let Some(t) = picture
                && t.pieces_verified >= 2
                && let Some(p) = t.peers.first()
                && p.last_block.is_some()
            {
                assert_eq!(p.transport, Transport::Tcp);
                break (p.addr, t.piece_count);
            }
        };

        // the leecher's view of the seeder: everything
        let bits = handle
            .peer_pieces(id, seeder)
            .await
            .expect("the seeder's pieces");
        assert_eq!(bits.len(), piece_count);
        assert!(bits.is_full(), "a seeder has every piece: {bits:?}");

        // the seeder's view of the leecher: what it announced (`have` after each verified
        // piece), so only pieces the leecher verified
        let s = &swarm.seeders()[0];
        let theirs = s.snapshot().unwrap();
        let leecher = theirs
            .peers
            .first()
            .expect("the seeder sees the leecher")
            .addr;
        let has = s.handle.peer_pieces(theirs.id, leecher).await.unwrap();
        assert!(has.count_ones() > 0, "the leecher announced pieces");
        let now = handle.snapshot().await.unwrap();
        let mine = now.torrents.iter().find(|t| t.id == id).unwrap();
        for i in has.iter_ones() {
            assert_eq!(mine.pieces[i as usize], PieceView::Verified, "piece {i}");
        }

        // no such peer, no such torrent
        let nobody = SocketAddr::from(([127, 0, 0, 1], 9));
        assert!(handle.peer_pieces(id, nobody).await.is_none());
        assert!(handle.peer_pieces(id + 100, seeder).await.is_none());

        // the dashboard: a peer selected in the Peers pane is asked about ...
        app.update(Action::GoTo(Pane::Peers));
        app.peer = Some(seeder);
        app.update(Action::GoTo(Pane::Pieces));
        let asked: Vec<Effect> = app.effects.drain(..).collect();
        assert!(
            asked.contains(&Effect::PeerPieces {
                torrent: id,
                addr: seeder
            }),
            "{asked:?}"
        );
        // ... by the backend, whose answer the model keeps for the piece map
        let (tx, mut rx) = mpsc::unbounded_channel();
        ask_peer_pieces(
            id,
            seeder,
            &Backend::Engine(handle.clone()),
            &HashMap::new(),
            &tx,
        );
        let answer = rx.recv().await.unwrap();
        assert!(
            matches!(&answer, Action::PeerPieces { torrent, addr, bits: Some(b) }
                if *torrent == id && *addr == seeder && b.is_full()),
            "{answer:?}"
        );
        app.update(answer);
        let shown = app
            .shown_peer_pieces()
            .expect("the map shows the seeder's pieces");
        assert_eq!(shown.bits.count_ones(), piece_count);
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("in time");
    handle.shutdown().await;
    swarm.shutdown().await;
}

/// The same question through the user's session, in process and over its control socket (an
/// attached dashboard): the `peer_pieces` request, answered off the session's actor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_peer_pieces_in_process_and_attached() {
    use fast_peer::demo::loopback_config;
    use fast_peer::session::{SessionOptions, spawn_session};
    use fast_peer::tui::backend::add_source;
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        dir: Some(dir.path().join("demo")),
        seeders: 1,
        size: 4 << 20,
    };
    let slow = SeederProfile {
        label: "slow".into(),
        upload_limit: Some(256 << 10),
        ..Default::default()
    };
    let swarm = DemoSwarm::start_with(opts, vec![slow]).await.unwrap();
    let hash = swarm.metainfo().info_hash;
    let seeder_addr = swarm.seeders()[0].addr;
    let socket = dir.path().join("control.sock");
    let session = SessionOptions {
        engine: loopback_config(),
        session_dir: dir.path().join("session"),
        download_dir: dir.path().join("downloads"),
        socket: socket.clone(),
        watch_dir: None,
    };
    let (handle, mut events) = spawn_session(session).await.unwrap();
    let backend = Backend::Session(handle);
    let run = async {
        let magnet = format!("magnet:?xt=urn:btih:{hash}&dn=demo&x.pe={seeder_addr}");
        add_source(&backend, &magnet, &dir.path().join("downloads"))
            .await
            .unwrap();
        let (id, seeder) = loop {
            if let Some(EngineEvent::Snapshot(s)) = events.recv().await
                && let Some(t) = s.torrents.first()
                && t.piece_count > 0
                && let Some(p) = t.peers.first()
            {
                break (t.id, p.addr);
            }
        };
        let hashes = HashMap::from([(id, hash)]);
        let attached = Backend::Attached(socket.clone());
        for b in [&backend, &attached] {
            let (tx, mut rx) = mpsc::unbounded_channel();
            ask_peer_pieces(id, seeder, b, &hashes, &tx);
            let answer = rx.recv().await.unwrap();
            assert!(
                matches!(&answer, Action::PeerPieces { bits: Some(bits), .. } if bits.is_full()),
                "{answer:?}"
            );
            // no such peer; a torrent the dashboard cannot name
            let nobody = SocketAddr::from(([127, 0, 0, 1], 9));
            ask_peer_pieces(id, nobody, b, &hashes, &tx);
            let answer = rx.recv().await.unwrap();
            assert!(
                matches!(answer, Action::PeerPieces { bits: None, .. }),
                "{answer:?}"
            );
            ask_peer_pieces(id, seeder, b, &HashMap::new(), &tx);
            let answer = rx.recv().await.unwrap();
            assert!(
                matches!(answer, Action::PeerPieces { bits: None, .. }),
                "{answer:?}"
            );
        }
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("in time");
    backend.shutdown().await;
    swarm.shutdown().await;
}
