//! The dashboard's effects carried out (`tui::backend::run_effect`), on a bare engine (which
//! takes whole values: the change is applied to the values the effect brings) and on the
//! session the dashboard owns (which takes the change): a .torrent added to choose its files
//! (paused), a file selection with sequential order, the engine's limits and a queue move,
//! each seen in the engine's next pictures. Two torrents nobody seeds; no network at all (no
//! trackers, no DHT, listening on 127.0.0.1).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use fast_peer::demo::loopback_config;
use fast_peer::engine::event::{EngineEvent, EngineSnapshot, TorrentId, TorrentState};
use fast_peer::engine::settings::{FilePriority, FileSelection};
use fast_peer::engine::{EngineHandle, spawn};
use fast_peer::proto::bencode::{Value, encode};
use fast_peer::proto::id::InfoHash;
use fast_peer::proto::metainfo::Metainfo;
use fast_peer::session::protocol::{LimitsChange, QueueMove, SettingsChange};
use fast_peer::session::{SessionOptions, spawn_session};
use fast_peer::tui::app::Effect;
use fast_peer::tui::backend::{Backend, add_source, run_effect};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

use FilePriority::*;

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A .torrent `name` of three files (40 KiB in 16 KiB pieces), written in `dir`.
fn torrent(dir: &Path, name: &str) -> (PathBuf, InfoHash) {
    let files = [("a.bin", 20_000), ("b.bin", 10_000), ("c.bin", 10_960)]
        .iter()
        .map(|(p, l)| {
            dict(vec![
                ("length", Value::Int(*l)),
                ("path", Value::List(vec![bytes(p)])),
            ])
        })
        .collect();
    let info = dict(vec![
        ("name", bytes(name)),
        ("piece length", Value::Int(16384)),
        ("pieces", Value::Bytes(vec![9; 60])),
        ("files", Value::List(files)),
    ]);
    let raw = encode(&dict(vec![("info", info)]));
    let hash = Metainfo::from_bytes(&raw).unwrap().info_hash;
    let path = dir.join(format!("{name}.torrent"));
    std::fs::write(&path, raw).unwrap();
    (path, hash)
}

/// The engine's picture once `want` holds.
async fn picture(
    engine: &EngineHandle,
    what: &str,
    want: impl Fn(&EngineSnapshot) -> bool,
) -> EngineSnapshot {
    for _ in 0..400 {
        if let Some(s) = engine.snapshot().await
            && want(&s)
        {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no picture with {what}: {:?}",
        engine.snapshot().await.map(|s| s.torrents)
    );
}

/// Run `effect` and return its notice (which must not be an error).
async fn effect(
    effect: Effect,
    backend: &Backend,
    hashes: &Arc<Mutex<HashMap<TorrentId, InfoHash>>>,
    dir: &Path,
) -> String {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let known = hashes.lock().unwrap().clone();
    run_effect(effect, backend, &known, dir, &tx);
    let notice = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(!notice.starts_with("error"), "{notice}");
    notice
}

/// Every effect of the Files pane, the limits dialog and the queue keys on `backend`.
async fn drive(
    backend: Backend,
    engine: EngineHandle,
    mut events: mpsc::Receiver<EngineEvent>,
    dir: &Path,
) {
    // the engine's names for the torrents, as the dashboard's loop keeps them
    let hashes = Arc::new(Mutex::new(HashMap::new()));
    let seen = hashes.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let EngineEvent::TorrentAdded { id, info_hash, .. } = ev {
                seen.lock().unwrap().insert(id, info_hash);
            }
        }
    });
    let out = dir.join("out");
    let (one, one_hash) = torrent(dir, "one");
    let (two, two_hash) = torrent(dir, "two");
    add_source(&backend, one.to_str().unwrap(), &out)
        .await
        .unwrap();
    let notice = effect(Effect::AddTorrentFileToChoose(two), &backend, &hashes, &out).await;
    assert!(notice.contains("added two"), "{notice}");
    let s = picture(&engine, "two torrents, the second paused", |s| {
        s.torrents.len() == 2
            && s.torrents
                .iter()
                .any(|t| t.name == "two" && t.state == TorrentState::Paused)
    })
    .await;
    let id_of = |h: InfoHash| s.torrents.iter().find(|t| t.info_hash == h).unwrap().id;
    let (one_id, two_id) = (id_of(one_hash), id_of(two_hash));
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while hashes.lock().unwrap().len() < 2 {
        assert!(std::time::Instant::now() < until, "TorrentAdded events");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Space, +: one file skipped, one high; and sequential order
    let base = s
        .torrents
        .iter()
        .find(|t| t.id == one_id)
        .unwrap()
        .settings
        .clone();
    let change = SettingsChange {
        files: Some(FileSelection::Priorities(vec![Skip, Normal, High])),
        sequential: Some(true),
        ..SettingsChange::default()
    };
    let notice = effect(
        Effect::SetSettings {
            id: one_id,
            change,
            base,
        },
        &backend,
        &hashes,
        &out,
    )
    .await;
    assert!(
        notice.contains("files chosen") && notice.contains("sequential on"),
        "{notice}"
    );
    picture(&engine, "the files chosen", |s| {
        s.torrents.iter().any(|t| {
            t.id == one_id && t.settings.wants.sequential && t.files[..] == [Skip, Normal, High]
        })
    })
    .await;

    // the limits dialog: the engine's download limit and downloads at once
    let change = LimitsChange {
        download_limit: Some(1 << 20),
        max_active_downloads: Some(3),
        ..LimitsChange::default()
    };
    let (global, queue) = (s.limits, s.queue_limits);
    effect(
        Effect::SetLimits {
            change,
            global,
            queue,
        },
        &backend,
        &hashes,
        &out,
    )
    .await;
    picture(&engine, "the engine's limits", |s| {
        s.limits.download == Some(1 << 20) && s.queue_limits.max_active_downloads == Some(3)
    })
    .await;

    // K on the second torrent: first in the queue
    let s = picture(&engine, "both in the queue", |s| s.queue.len() == 2).await;
    let order = s.queue.clone();
    let notice = effect(
        Effect::QueueMove {
            id: two_id,
            to: QueueMove::Top,
            order,
        },
        &backend,
        &hashes,
        &out,
    )
    .await;
    assert!(notice.contains("to the top"), "{notice}");
    picture(&engine, "the second first", |s| s.queue == [two_id, one_id]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_on_a_bare_engine() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, events) = spawn(loopback_config()).await.unwrap();
    let backend = Backend::Engine(handle.clone());
    tokio::time::timeout(
        Duration::from_secs(120),
        drive(backend.clone(), handle, events, dir.path()),
    )
    .await
    .expect("in time");
    backend.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn effects_on_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SessionOptions {
        engine: loopback_config(),
        session_dir: dir.path().join("session"),
        download_dir: dir.path().join("downloads"),
        socket: dir.path().join("control.sock"),
        watch_dir: None,
    };
    let (handle, events) = spawn_session(opts).await.unwrap();
    let engine = handle.engine.clone();
    let backend = Backend::Session(handle);
    tokio::time::timeout(
        Duration::from_secs(120),
        drive(backend.clone(), engine, events, dir.path()),
    )
    .await
    .expect("in time");
    backend.shutdown().await;
}

/// The whole "choose files first" path on a bare engine: the add dialog's effect run, the
/// engine's events fed to the app, which opens the Files pane once the magnet's metadata is
/// in and the torrent stopped; the user keeps one file and presses `p`; only that file's
/// pieces come (from the demo's seeder on 127.0.0.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_to_choose_stops_after_its_metadata_and_gets_only_the_chosen_file() {
    use fast_peer::demo::{DemoOptions, DemoSwarm};
    use fast_peer::proto::id::PeerId;
    use fast_peer::tui::action::{Action, Pane};
    use fast_peer::tui::app::App;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |c: KeyCode| KeyEvent::new(c, KeyModifiers::NONE);

    let dir = tempfile::tempdir().unwrap();
    let demo = DemoOptions {
        dir: Some(dir.path().join("demo")),
        seeders: 1,
        size: 1 << 20,
    };
    let swarm = DemoSwarm::start(demo).await.unwrap();
    let hash = swarm.metainfo().info_hash;
    let seeder = swarm.seeders()[0].addr;
    let (engine, mut events) = spawn(loopback_config()).await.unwrap();
    let backend = Backend::Engine(engine.clone());
    let out = dir.path().join("out");
    let (tx, mut notices) = mpsc::unbounded_channel();
    let mut hashes = HashMap::new();

    // a, Tab (choose files first), the magnet, Enter
    let mut app = App::new(PeerId::default());
    app.handle_key(key(KeyCode::Char('a')));
    app.handle_key(key(KeyCode::Tab));
    app.update(Action::Paste(format!(
        "magnet:?xt=urn:btih:{hash}&dn=demo&x.pe={seeder}"
    )));
    app.handle_key(key(KeyCode::Enter));
    let run = async {
        let mut effects: Vec<Effect> = app.effects.drain(..).collect();
        assert!(
            matches!(&effects[..], [Effect::AddMagnetToChoose(_)]),
            "{effects:?}"
        );
        run_effect(effects.remove(0), &backend, &hashes, &out, &tx);
        let notice = notices.recv().await.unwrap();
        assert!(!notice.starts_with("error"), "{notice}");
        // the engine's events, as the dashboard's loop feeds them, until the files are open
        // on a stopped torrent
        let stopped = |app: &App| {
            app.pane == Pane::Files
                && app.file_tree.is_some()
                && app
                    .torrent()
                    .is_some_and(|t| t.state == TorrentState::Paused)
        };
        while !stopped(&app) {
            let ev = events.recv().await.unwrap();
            if let EngineEvent::TorrentAdded { id, info_hash, .. } = &ev {
                hashes.insert(*id, *info_hash);
            }
            app.update(Action::Engine(Box::new(ev)));
        }
        let t = app.torrent().unwrap();
        assert_eq!(
            t.pieces_verified, 0,
            "nothing fetched before the user chose"
        );
        let id = t.id;
        // N: nothing; Space on the first row (README.txt); p: start
        app.handle_key(key(KeyCode::Char('N')));
        app.handle_key(key(KeyCode::Char(' ')));
        app.handle_key(key(KeyCode::Char('p')));
        let effects: Vec<Effect> = app.effects.drain(..).collect();
        assert!(
            matches!(effects.last(), Some(Effect::Resume(i)) if *i == id),
            "{effects:?}"
        );
        for e in effects {
            run_effect(e, &backend, &hashes, &out, &tx);
            let notice = notices.recv().await.unwrap();
            assert!(!notice.starts_with("error"), "{notice}");
        }
        // done: seeding what was chosen (N alone made it "complete" for a moment: nothing
        // wanted)
        let t = loop {
            // keep reading the events: the engine waits for room for some
            let _ = tokio::time::timeout(Duration::from_millis(50), events.recv()).await;
            let s = engine.snapshot().await.unwrap();
            let ids: Vec<_> = s.torrents.iter().map(|t| (t.id, t.state)).collect();
            let t = s
                .torrents
                .into_iter()
                .find(|t| t.id == id)
                .unwrap_or_else(|| panic!("torrent {id:?} not in the snapshot: {ids:?}"));
            if t.state == TorrentState::Seeding && t.pieces_verified > 0 {
                break t;
            }
        };
        let wanted = t.files.iter().filter(|p| **p != FilePriority::Skip).count();
        assert_eq!(wanted, 1, "{:?}", t.files);
        assert!(
            t.pieces_verified < t.piece_count,
            "only the chosen file's pieces"
        );
    };
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("in time");
    let readme = swarm.metainfo().info.files[0].clone();
    assert_eq!(readme.path, ["README.txt"]);
    let got = std::fs::read(out.join("fast-peer-demo").join("README.txt")).unwrap();
    assert_eq!(got.len() as u64, readme.length);
    engine.shutdown().await;
    swarm.shutdown().await;
}
