#![allow(clippy::unwrap_used)]
//! The session end to end (issue 16): `fast-peer daemon` with `add`, `status --json`, `pause`,
//! `resume` and `remove` against libtorrent seeders found through opentracker; SIGKILL
//! mid-download and a restart without `add` (the torrent comes back and completes); a second
//! clean restart that is complete without reading the data again; one instance per session;
//! garbage on the control socket. Every instance gets its own XDG folders; only 127.0.0.0/8.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// The one torrent's status, waiting until `cond` holds for it.
fn wait_status(home: &Home, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    wait_until(TEST_TIMEOUT_SECS, what, || {
        let list = home.status();
        last = list.first().cloned().unwrap_or(Value::Null);
        cond(&last)
    });
    last
}

/// Bytes the process read through system calls so far (`rchar` of /proc/PID/io).
fn read_chars(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn stop(d: &mut Daemon) {
    send_signal(d.child.id(), "TERM");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while d.child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_killed_daemon_comes_back_completes_and_then_resumes_without_reading() {
    // ~6 MiB from one libtorrent seeder limited to 1 MiB/s: ~6 s, room to kill it midway
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[Seed::limited(MIB)]);
    let home = Home::new();
    let out = swarm.out_dir("session-out");
    let mut d = home.daemon();
    let o = home.run(&[
        "add",
        swarm.torrent.to_str().unwrap(),
        "--dir",
        out.to_str().unwrap(),
    ]);
    assert_success("add", &o);
    assert!(stdout_str(&o).starts_with(&format!("added {}", swarm.hash())));
    let t = wait_status(&home, "some progress", |t| {
        t["progress"].as_f64().unwrap_or(0.0) > 0.15
    });
    assert_eq!(t["info_hash"], swarm.hash());
    assert_eq!(t["state"], "downloading");
    assert_eq!(t["save_path"], out.to_str().unwrap());
    assert_eq!(t["size"].as_u64(), Some(swarm.meta.total_length()), "{t}");
    // SIGKILL mid-download
    d.kill();
    assert!(
        home.status_fails(),
        "nothing answers once the instance is gone"
    );

    // restart without add: the torrent comes back and completes
    let mut d = home.daemon();
    let t = wait_status(&home, "the torrent back and complete", |t| {
        t["state"] == "seeding"
    });
    assert_eq!(t["progress"].as_f64(), Some(1.0));
    stop(&mut d);
    swarm.assert_downloaded(&out);

    // a clean restart: complete within seconds, without reading the data again
    let d = home.daemon();
    wait_status(&home, "seeding after a clean restart", |t| {
        t["state"] == "seeding"
    });
    let read = read_chars(d.child.id());
    assert!(
        read < swarm.meta.total_length() / 2,
        "the restart read {read} bytes: the data ({} bytes) was read again",
        swarm.meta.total_length()
    );
}

impl Home {
    fn status_fails(&self) -> bool {
        let o = self.run(&["status"]);
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("no fast-peer instance is running")
    }
}

#[test]
fn pause_resume_remove_and_one_instance_per_session() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[Seed::limited(MIB)]);
    let home = Home::new();
    let out = swarm.out_dir("out");
    let _d = home.daemon();
    // a second instance is refused and names the first
    let o = home.run(&["daemon", "--port", "0"]);
    let err = assert_fails_with_message("a second daemon", &o);
    assert!(
        err.contains("owns the session") && err.contains("pid"),
        "{err}"
    );

    let hash = swarm.hash();
    let o = home.run(&[
        "add",
        "--paused",
        "--dir",
        out.to_str().unwrap(),
        swarm.torrent.to_str().unwrap(),
    ]);
    assert_success("add --paused", &o);
    let t = wait_status(&home, "paused", |t| t["state"] == "paused");
    assert_eq!(t["downloaded"], 0);
    // adding it again is refused, the first stays
    let o = home.run(&["add", swarm.torrent.to_str().unwrap()]);
    assert!(assert_fails_with_message("a duplicate add", &o).contains("already in the session"));
    // a unique prefix names it
    assert_success("resume", &home.run(&["resume", &hash[..6]]));
    wait_status(&home, "downloading", |t| {
        t["state"] == "downloading" && t["downloaded"].as_u64().unwrap_or(0) > 0
    });
    assert_success("pause", &home.run(&["pause", &hash]));
    wait_status(&home, "paused again", |t| t["state"] == "paused");
    let o = home.run(&["pause", "ffff"]);
    assert!(assert_fails_with_message("pause of an unknown hash", &o).contains("no torrent ffff"));
    assert_success(
        "remove --delete-data",
        &home.run(&["remove", &hash, "--delete-data"]),
    );
    assert!(home.status().is_empty());
    assert!(!swarm.target_in(&out).exists(), "the data is deleted");
    let torrents = home.dir.path().join("data/fast-peer/torrents");
    assert_eq!(
        std::fs::read_dir(&torrents).unwrap().count(),
        0,
        "the session forgot it"
    );
}

#[test]
fn garbage_on_the_control_socket_gets_errors_and_the_daemon_lives_on() {
    let home = Home::new();
    let _d = home.daemon();
    let mut s = UnixStream::connect(home.socket()).unwrap();
    s.write_all(b"not json\n{\"v\":1,\"cmd\":\"status\"}\n")
        .unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    rd.read_line(&mut line).unwrap();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["ok"], false, "{line}");
    line.clear();
    rd.read_line(&mut line).unwrap();
    let second: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(second["ok"], true, "{line}");
    drop(s);
    // still serving, and a torrent that is not one gets a clear error
    let bogus = home.dir.path().join("bogus.torrent");
    std::fs::write(&bogus, b"d4:infoi3ee").unwrap();
    let o = home.run(&["add", bogus.to_str().unwrap()]);
    assert!(assert_fails_with_message("a bad torrent", &o).contains("bad torrent"));
    assert!(home.status().is_empty());
}

#[test]
fn without_an_instance_commands_say_so() {
    let home = Home::new();
    let o = home.run(&["status"]);
    let err = assert_fails_with_message("status without an instance", &o);
    assert!(err.contains("no fast-peer instance is running"), "{err}");
    assert!(Path::new(&home.socket()).parent().is_some());
}

#[test]
fn torrents_dropped_in_the_watch_folder_are_added_and_marked() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD]);
    let home = Home::new();
    let watch = home.dir.path().join("watch");
    let downloads = home.dir.path().join("downloads");
    std::fs::create_dir_all(&watch).unwrap();
    std::fs::create_dir_all(home.dir.path().join("config/fast-peer")).unwrap();
    std::fs::write(
        home.dir.path().join("config/fast-peer/config.toml"),
        format!(
            "watch_dir = {:?}\ndownload_dir = {:?}\n",
            watch.display().to_string(),
            downloads.display().to_string()
        ),
    )
    .unwrap();
    let _d = home.daemon();
    std::fs::copy(&swarm.torrent, watch.join("good.torrent")).unwrap();
    std::fs::write(watch.join("junk.torrent"), b"not a torrent").unwrap();
    std::fs::write(watch.join("notes.txt"), b"left alone").unwrap();
    let t = wait_status(&home, "the watched torrent complete", |t| {
        t["state"] == "seeding"
    });
    assert_eq!(t["info_hash"], swarm.hash());
    assert_eq!(t["save_path"], downloads.to_str().unwrap());
    wait_until(30, "both files marked", || {
        watch.join("good.torrent.added").exists() && watch.join("junk.torrent.invalid").exists()
    });
    assert!(watch.join("notes.txt").exists());
    swarm.assert_downloaded(&downloads);
}

#[test]
fn a_magnet_added_paused_fetches_nothing_until_resumed() {
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[GOOD]);
    let home = Home::new();
    let out = swarm.out_dir("out");
    let _d = home.daemon();
    // the magnet names the seeder directly: unpaused, its metadata would arrive at once
    let magnet = swarm.magnet(&swarm.seeder_addrs());
    let o = home.run(&["add", "--paused", "--dir", out.to_str().unwrap(), &magnet]);
    assert_success("add --paused MAGNET", &o);
    wait_status(&home, "the paused magnet", |t| t["state"] == "paused");
    std::thread::sleep(std::time::Duration::from_secs(3));
    let t = &home.status()[0];
    assert_eq!(t["state"], "paused", "{t}");
    assert_eq!(t["size"], 0, "no metadata fetched while paused: {t}");
    assert!(
        !home
            .dir
            .path()
            .join(format!("data/fast-peer/torrents/{}.torrent", swarm.hash()))
            .exists()
    );
    assert_success("resume", &home.run(&["resume", &swarm.hash()]));
    wait_status(&home, "the magnet complete after resume", |t| {
        t["state"] == "seeding"
    });
    swarm.assert_downloaded(&out);
}
