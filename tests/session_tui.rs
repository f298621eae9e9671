#![allow(clippy::unwrap_used)]
//! The dashboard owns the session (issue 16): run in tmux, it remembers what it is given,
//! serves the control socket while it runs (`status`, `add` from another shell show up on its
//! screen), and a daemon started after it quits finds the same torrents. With a daemon already
//! owning the session, the dashboard attaches to it over the control socket: the daemon's
//! torrents and peers on screen, a magnet pasted there added to the daemon, removals by other
//! clients shown, and quitting leaves the daemon running. When it can neither own nor attach,
//! it opens on a bare engine and says why. Every run gets its own XDG folders and tmux socket;
//! the only peers are libtorrent seeders on 127.0.0.0/8.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::thread;
use std::time::{Duration, Instant};

/// A detached tmux server of our own running one command.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("fast-peer-session-{name}-{}", std::process::id()),
        };
        let o = t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "s",
            "-x",
            "120",
            "-y",
            "30",
            command,
        ]);
        assert!(
            o.status.success(),
            "tmux: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        t
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "s"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "s", keys]);
    }

    fn wait_for(&self, secs: u64, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {what} after {secs} s:\n{s}");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// The XDG variables of a user whose folders are under `home`, as a shell prefix and for a
/// `Command`.
fn xdg(home: &Path) -> Vec<(&'static str, String)> {
    ["run", "data", "config"]
        .iter()
        .zip(["XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CONFIG_HOME"])
        .map(|(sub, var)| {
            let p = home.join(sub);
            std::fs::create_dir_all(&p).unwrap();
            (var, p.display().to_string())
        })
        .collect()
}

fn fp(home: &Path, args: &[&str]) -> Output {
    let mut c = fast_peer();
    c.envs(xdg(home)).args(args);
    run_with_timeout(&mut c, TEST_TIMEOUT_SECS)
}

fn status(home: &Path) -> Vec<Value> {
    let o = fp(home, &["status", "--json"]);
    assert_success("status --json", &o);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["torrents"].as_array().unwrap().clone()
}

/// The dashboard for `home`, adding `args`, in tmux.
fn dashboard(name: &str, home: &Path, args: &str) -> Tmux {
    let env: String = xdg(home).iter().map(|(k, v)| format!("{k}={v} ")).collect();
    let command = format!(
        "{env}{} --no-dht tui --port 0 --log {} {args}; echo EXIT=$?; sleep 60",
        fast_peer_bin().display(),
        home.join("tui.log").display()
    );
    Tmux::start(name, &command)
}

/// A small torrent (no peer will ever have it) in `dir`.
fn torrent(dir: &Path, name: &str) -> std::path::PathBuf {
    let data = dir.join(name);
    std::fs::write(&data, vec![9u8; 50_000]).unwrap();
    let t = dir.join(format!("{name}.torrent"));
    let o = fp(
        dir,
        &["create", data.to_str().unwrap(), "-o", t.to_str().unwrap()],
    );
    assert_success("create", &o);
    t
}

#[test]
fn the_dashboard_remembers_serves_the_socket_and_hands_over_to_a_daemon() {
    let home = tempfile::tempdir().unwrap();
    let t = torrent(home.path(), "alpha.bin");
    let out = home.path().join("out");
    let tmux = dashboard(
        "own",
        home.path(),
        &format!("{} --dir {}", t.display(), out.display()),
    );
    tmux.wait_for(30, "the torrent", |s| s.contains("alpha.bin"));
    let log = std::fs::read_to_string(home.path().join("tui.log")).unwrap();
    assert!(log.contains("session in"), "{log}");
    // another shell talks to the dashboard's instance
    let list = status(home.path());
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "alpha.bin");
    assert_eq!(list[0]["save_path"], out.to_str().unwrap());
    let o = fp(
        home.path(),
        &[
            "add",
            "--paused",
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=beta-from-cli",
        ],
    );
    assert_success("add to the dashboard", &o);
    tmux.wait_for(30, "the added magnet on the dashboard", |s| {
        s.contains("beta-from-cli")
    });
    // quit (confirming: something is downloading)
    tmux.keys("q");
    tmux.wait_for(10, "the quit question", |s| {
        s.contains("y") || s.contains("EXIT=")
    });
    tmux.keys("y");
    tmux.wait_for(30, "the dashboard's exit", |s| s.contains("EXIT=0"));
    // a daemon started afterwards has both
    let port = free_port().to_string();
    let mut c = fast_peer();
    c.envs(xdg(home.path())).args(["daemon", "--port", &port]);
    let mut d = Daemon::spawn(&mut c, false);
    wait_until(30, "the daemon", || {
        fp(home.path(), &["status"]).status.success()
    });
    let mut names: Vec<String> = status(home.path())
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["alpha.bin", "beta-from-cli"]);
    d.kill();
}

/// The daemon of `home` (no DHT), answering `status`.
fn daemon(home: &Path) -> Daemon {
    let port = free_port().to_string();
    let mut c = fast_peer();
    c.envs(xdg(home)).args(["daemon", "--port", &port]);
    let d = Daemon::spawn(&mut c, false);
    wait_until(30, "the daemon", || fp(home, &["status"]).status.success());
    d
}

#[test]
fn a_dashboard_attaches_to_the_daemon_and_quitting_leaves_it_running() {
    // a seeder slow enough that the download is still running while we look at it
    let swarm = Swarm::start(multi_file(), Tracker::Http, &[Seed::limited(768 << 10)]);
    let home = tempfile::tempdir().unwrap();
    let mut d = daemon(home.path());
    let out = home.path().join("out");
    let magnet = format!("{}&dn=attached-demo", swarm.magnet(&swarm.seeder_addrs()));
    let o = fp(
        home.path(),
        &["add", "--dir", out.to_str().unwrap(), &magnet],
    );
    assert_success("add", &o);
    // the dashboard, started while the daemon owns the session, shows the daemon's torrent
    let tmux = dashboard("attach", home.path(), "");
    tmux.wait_for(30, "the daemon's torrent", |s| s.contains("multi"));
    let log = std::fs::read_to_string(home.path().join("tui.log")).unwrap();
    assert!(log.contains("attached to the running instance"), "{log}");
    // the peers pane shows the daemon's peer, live
    tmux.keys("3");
    let seeder = swarm.seeder_addrs()[0].clone();
    tmux.wait_for(30, "the seeder in the peers pane", |s| s.contains(&seeder));
    // a magnet pasted into the dashboard goes to the daemon
    tmux.keys("1");
    tmux.keys("a");
    let pasted = "magnet:?xt=urn:btih:00112233445566778899aabbccddeeff00112233&dn=pasted-here";
    tmux.cmd(&["send-keys", "-t", "s", "-l", pasted]);
    tmux.keys("Enter");
    wait_until(30, "the pasted magnet in the daemon", || {
        status(home.path())
            .iter()
            .any(|t| t["name"] == "pasted-here")
    });
    tmux.wait_for(30, "the pasted magnet on screen", |s| {
        s.contains("pasted-here")
    });
    // removed by another client: it leaves the dashboard too
    let o = fp(
        home.path(),
        &["remove", "00112233445566778899aabbccddeeff00112233"],
    );
    assert_success("remove", &o);
    tmux.wait_for(30, "the removed magnet gone", |s| {
        !s.contains("pasted-here")
    });
    // the download completes in the daemon, and the dashboard sees it
    tmux.wait_for(120, "the torrent seeding", |s| s.contains("seeding"));
    swarm.assert_downloaded(&out);
    // quitting the attached dashboard leaves the daemon and its torrent
    tmux.keys("q");
    tmux.wait_for(10, "the quit", |s| s.contains("EXIT=") || s.contains("y"));
    if !tmux.screen().contains("EXIT=") {
        tmux.keys("y");
    }
    tmux.wait_for(30, "the dashboard's exit", |s| s.contains("EXIT=0"));
    let list = status(home.path());
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["state"], "seeding");
    d.kill();
}

#[test]
fn when_attaching_fails_the_dashboard_says_so_and_still_works() {
    // a lock held without a control socket: a session that cannot be attached to
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data/fast-peer");
    std::fs::create_dir_all(&data).unwrap();
    let _holder = Daemon::spawn(
        Command::new("flock")
            .arg(data.join("lock"))
            .args(["sleep", "300"]),
        false,
    );
    let t = torrent(home.path(), "gamma.bin");
    let out = home.path().join("out");
    wait_until(10, "the lock taken", || {
        Command::new("flock")
            .args(["-n", data.join("lock").to_str().unwrap(), "true"])
            .status()
            .is_ok_and(|s| !s.success())
    });
    let tmux = dashboard(
        "shared",
        home.path(),
        &format!("{} --dir {}", t.display(), out.display()),
    );
    tmux.wait_for(30, "the dashboard", |s| s.contains("gamma.bin"));
    let log = std::fs::read_to_string(home.path().join("tui.log")).unwrap();
    assert!(
        log.contains("attaching failed") && log.contains("not remembered"),
        "the dashboard says it could neither own nor attach to the session:\n{log}"
    );
}
