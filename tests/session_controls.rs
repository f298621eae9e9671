#![allow(clippy::unwrap_used)]
//! The controls of an everyday client through the running instance (issue 17): the queue
//! (`max_active_downloads`, moves), per-torrent settings with `set` (remembered in the
//! record, back after a restart), seeding limits (a seed paused at its limit stays paused),
//! and a download limit that holds a download back until it is lifted. Only 127.0.0.0/8.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// A torrent of `size` bytes nobody seeds (its data is not where the session saves it).
fn lonely_torrent(home: &Home, name: &str, size: usize) -> std::path::PathBuf {
    let data = home.dir.path().join("src").join(name);
    std::fs::create_dir_all(data.parent().unwrap()).unwrap();
    std::fs::write(&data, vec![7u8; size]).unwrap();
    let t = home.dir.path().join(format!("{name}.torrent"));
    let o = run_fp(&["create", data.to_str().unwrap(), "-o", t.to_str().unwrap()]);
    assert_success("create", &o);
    t
}

fn state_of(home: &Home, hash: &str) -> String {
    home.status()
        .iter()
        .find(|t| t["info_hash"] == hash)
        .map(|t| t["state"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

fn wait_state(home: &Home, hash: &str, want: &str) {
    wait_until(TEST_TIMEOUT_SECS, &format!("{hash} {want}"), || {
        state_of(home, hash) == want
    });
}

/// One raw request line to the instance, and its answer.
fn raw(home: &Home, line: &str) -> Value {
    let mut s = UnixStream::connect(home.socket()).unwrap();
    s.write_all(line.as_bytes()).unwrap();
    s.write_all(b"\n").unwrap();
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

#[test]
fn the_queue_runs_one_download_at_a_time_and_moves() {
    let home = Home::new();
    std::fs::create_dir_all(home.dir.path().join("config/fast-peer")).unwrap();
    std::fs::write(
        home.dir.path().join("config/fast-peer/config.toml"),
        "max_active_downloads = 1\n",
    )
    .unwrap();
    let mut d = home.daemon();
    let out = home.dir.path().join("out");
    let a = home.add(
        lonely_torrent(&home, "a.bin", 100_000).to_str().unwrap(),
        &out,
        &[],
    );
    let b = home.add(
        lonely_torrent(&home, "b.bin", 100_000).to_str().unwrap(),
        &out,
        &[],
    );
    wait_state(&home, &a, "downloading");
    wait_state(&home, &b, "queued");
    // b first: it runs, a waits
    assert_success("queue b top", &home.run(&["queue", &b, "top"]));
    wait_state(&home, &b, "downloading");
    wait_state(&home, &a, "queued");
    // a paused leaves the queue; the limit lifted, everything runs
    assert_success(
        "limits",
        &home.run(&["limits", "--max-active-downloads", "0"]),
    );
    wait_state(&home, &a, "downloading");
    // the order is remembered: after a restart b is still first
    stop(&mut d);
    let _d = home.daemon();
    wait_state(&home, &b, "downloading");
    wait_state(&home, &a, "queued");
}

#[test]
fn settings_are_remembered_and_a_seed_stops_at_its_limit() {
    let home = Home::new();
    let mut d = home.daemon();
    // a complete torrent: its data is where the session saves it
    let t = lonely_torrent(&home, "seed.bin", 50_000);
    let h = home.add(t.to_str().unwrap(), &home.dir.path().join("src"), &[]);
    wait_state(&home, &h, "seeding");
    let o = home.run(&[
        "set",
        &h,
        "--sequential",
        "on",
        "--download-limit",
        "100K",
        "--only",
        "*.bin",
    ]);
    assert_success("set", &o);
    let record = home
        .dir
        .path()
        .join(format!("data/fast-peer/torrents/{h}.json"));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(saved["settings"]["wants"]["sequential"], true, "{saved}");
    assert_eq!(
        saved["settings"]["limits"]["download"],
        100 * 1024,
        "{saved}"
    );
    // a bad glob is refused, and changes nothing
    let o = home.run(&["set", &h, "--only", "["]);
    assert!(!o.status.success());
    // a seeding time of one second (in seconds over the socket; the CLI takes minutes)
    let r = raw(
        &home,
        &format!(r#"{{"v":1,"cmd":"set","hashes":["{h}"],"change":{{"seed_time_secs":1}}}}"#),
    );
    assert_eq!(r["ok"], true, "{r}");
    wait_state(&home, &h, "paused");
    // paused by its limit, it stays paused after a restart, its settings kept
    stop(&mut d);
    let _d = home.daemon();
    wait_state(&home, &h, "paused");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(saved["settings"]["limits"]["seed_time_secs"], 1);
    assert_eq!(saved["paused"], true);
}

#[test]
fn a_download_limit_holds_a_download_back_until_lifted() {
    let swarm = Swarm::start(multi_file(), Tracker::None, &[GOOD]);
    let home = Home::new();
    let _d = home.daemon();
    let out = swarm.out_dir("out");
    let magnet = swarm.magnet(&swarm.seeder_addrs());
    // added paused, limited to 64 KiB/s before any data comes (6.5 MB would take 100 s),
    // then started
    let o = home.run(&["add", "--paused", "--dir", out.to_str().unwrap(), &magnet]);
    assert_success("add", &o);
    let h = swarm.hash();
    let o = home.run(&["set", &h, "--download-limit", "64K"]);
    assert_success("set --download-limit", &o);
    assert_success("resume", &home.run(&["resume", &h]));
    std::thread::sleep(Duration::from_secs(3));
    let t = home
        .status()
        .into_iter()
        .find(|t| t["info_hash"] == h)
        .unwrap();
    let downloaded = t["downloaded"].as_u64().unwrap();
    // unlimited, loopback moves all of it in well under a second; held back, at most a
    // few seconds' worth (the bucket's burst included) by now
    assert!(
        downloaded < 2 << 20,
        "{downloaded} bytes in 3 s at 64 KiB/s: {t}"
    );
    assert_ne!(t["state"], "seeding");
    let o = home.run(&["set", &h, "--download-limit", "0"]);
    assert_success("set --download-limit 0", &o);
    wait_state(&home, &h, "seeding");
    swarm.assert_downloaded(&out);
}

fn stop(d: &mut Daemon) {
    send_signal(d.child.id(), "TERM");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while d.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
