#![allow(clippy::unwrap_used)]
//! The bottleneck verdict end to end (issue 18): each common cause provoked on loopback and
//! read back from the running instance's `status --json` (`"bottleneck"`):
//! rate-limited libtorrent seeders (the peers' upload), our own download limit, a seeder that
//! never unchokes us, a peer that has none of the pieces, and a tracker that refuses. Only
//! 127.0.0.0/8.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// The torrent's verdict as `status --json` gives it.
fn verdict_of(home: &Home, hash: &str) -> String {
    home.status()
        .iter()
        .find(|t| t["info_hash"] == hash)
        .map(|t| t["bottleneck"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// Wait until the verdict starts with `prefix`; returns it (fails with the last one seen).
fn wait_verdict(home: &Home, hash: &str, prefix: &str) -> String {
    wait_verdict_where(home, hash, prefix, |v| v.starts_with(prefix))
}

/// The first verdict for which `ok` holds (`what` names it in the failure message).
fn wait_verdict_where(home: &Home, hash: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(TEST_TIMEOUT_SECS);
    let mut seen = Vec::new();
    loop {
        let v = verdict_of(home, hash);
        if ok(&v) {
            eprintln!("{hash}: {v}");
            return v;
        }
        if seen.last() != Some(&v) {
            seen.push(v);
        }
        assert!(
            Instant::now() < deadline,
            "no verdict {what:?}; seen, in order: {seen:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rate_limited_seeders_are_the_peers_upload() {
    // two seeders at 96 KiB/s each: the 6.5 MB download takes about half a minute
    let swarm = Swarm::start(
        multi_file(),
        Tracker::None,
        &[Seed::limited(96 << 10), Seed::limited(96 << 10)],
    );
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let h = home.add(&swarm.magnet(&swarm.seeder_addrs()), &out, &[]);
    let v = wait_verdict(&home, &h, "bottleneck: peers' upload (2 peers unchoke us, ");
    assert!(v.contains("each under"), "{v}");
}

#[test]
fn our_download_limit_is_named_with_its_rate() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[GOOD]);
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let h = home.add(&swarm.magnet(&swarm.seeder_addrs()), &out, &["--paused"]);
    assert_success(
        "set --download-limit",
        &home.run(&["set", &h, "--download-limit", "64K"]),
    );
    assert_success("resume", &home.run(&["resume", &h]));
    wait_verdict(&home, &h, "bottleneck: our download limit (64 KiB/s)");
    // lifted: the download completes and the verdict says nothing holds it back
    assert_success(
        "set --download-limit 0",
        &home.run(&["set", &h, "--download-limit", "0"]),
    );
    wait_verdict(&home, &h, "bottleneck: none");
    swarm.assert_downloaded(&out);
}

/// A torrent announced to opentracker whose only peer is a harness peer that never unchokes
/// (`has_all`: with every piece, else with none).
fn swarm_with_choking_peer(has_all: bool) -> Swarm {
    let swarm = Swarm::new(multi_file(), Tracker::Http);
    let port = choking_peer(swarm.meta.info_hash, swarm.meta.pieces.len(), has_all);
    swarm
        .tracker
        .as_ref()
        .unwrap()
        .announce_peer(&swarm.hash(), port);
    swarm
}

#[test]
fn a_seeder_that_chokes_us() {
    let swarm = swarm_with_choking_peer(true);
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let h = home.add(swarm.torrent.to_str().unwrap(), &out, &[]);
    let v = wait_verdict(&home, &h, "bottleneck: choked by every peer");
    assert_eq!(
        v,
        "bottleneck: choked by every peer (1 peer has what we lack)"
    );
}

#[test]
fn nobody_has_the_pieces() {
    let swarm = swarm_with_choking_peer(false);
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let h = home.add(swarm.torrent.to_str().unwrap(), &out, &[]);
    let n = swarm.meta.pieces.len();
    wait_verdict(
        &home,
        &h,
        &format!("bottleneck: no peer has the missing pieces ({n} pieces, availability 0)"),
    );
}

#[test]
fn a_tracker_that_refuses_and_no_dht() {
    // the torrent announces to a closed port on 127.0.0.1; the daemon runs without a DHT
    let swarm = Swarm::new(multi_file(), Tracker::None);
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let h = home.add(swarm.torrent.to_str().unwrap(), &out, &[]);
    // before the announce fails the tracker part is "none"; wait for its answer
    let prefix = "bottleneck: no peers (tracker: ";
    let v = wait_verdict_where(&home, &h, "naming the refusing tracker", |v| {
        v.starts_with(prefix) && !v.starts_with("bottleneck: no peers (tracker: none")
    });
    assert!(v.ends_with("; DHT: off)"), "{v}");
    assert!(v.to_lowercase().contains("refused"), "{v}");
}

/// The hasher's busy share reaches the pictures: an in-process download from two demo
/// seeders sees it above zero while pieces are hashed, and every share stays in
/// 0..=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hashers_work_shows_in_the_pictures() {
    use fast_peer::demo::{DemoOptions, DemoSwarm, SeederProfile};
    use fast_peer::engine::event::EngineEvent;
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        dir: Some(dir.path().join("demo")),
        seeders: 2,
        size: 24 << 20,
    };
    // 8 MiB/s together: three seconds of pictures
    let seeder = |label: &str| SeederProfile {
        label: label.into(),
        upload_limit: Some(4 << 20),
        ..Default::default()
    };
    let swarm = DemoSwarm::start_with(opts, vec![seeder("a"), seeder("b")])
        .await
        .unwrap();
    let out = dir.path().join("download");
    let (handle, mut events, id) = swarm.start_leecher(&out).await.unwrap();
    let watch = async {
        let mut busiest = 0f32;
        loop {
            match events.recv().await {
                Some(EngineEvent::Snapshot(s)) => {
                    if let Some(t) = s.torrents.iter().find(|t| t.id == id) {
                        let d = &t.diagnostics;
                        assert!((0.0..=1.0).contains(&d.hash_busy), "{d:?}");
                        assert!((0.0..=1.0).contains(&d.disk_queue_full), "{d:?}");
                        busiest = busiest.max(d.hash_busy);
                    }
                }
                Some(EngineEvent::Completed { id: i }) if i == id => return busiest,
                None => panic!("the engine stopped"),
                _ => {}
            }
        }
    };
    let busiest = tokio::time::timeout(Duration::from_secs(120), watch)
        .await
        .expect("the download completes");
    assert!(busiest > 0.0, "no hashing time was seen");
    handle.shutdown().await;
    swarm.shutdown().await;
}
