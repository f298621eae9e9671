#![allow(clippy::unwrap_used)]
//! The dashboard owns the session (issue 16): run in tmux, it remembers what it is given,
//! serves the control socket while it runs (`status`, `add` from another shell show up on its
//! screen), and a daemon started after it quits finds the same torrents. With a daemon already
//! owning the session, the dashboard still opens on a bare engine and says why. Every run gets
//! its own XDG folders and tmux socket; no peer is contacted.

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

#[test]
fn with_a_daemon_owning_the_session_the_dashboard_says_so_and_still_works() {
    let home = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let mut c = fast_peer();
    c.envs(xdg(home.path())).args(["daemon", "--port", &port]);
    let _d = Daemon::spawn(&mut c, false);
    wait_until(30, "the daemon", || {
        fp(home.path(), &["status"]).status.success()
    });
    let t = torrent(home.path(), "gamma.bin");
    let out = home.path().join("out");
    let tmux = dashboard(
        "shared",
        home.path(),
        &format!("{} --dir {}", t.display(), out.display()),
    );
    tmux.wait_for(30, "the dashboard", |s| s.contains("gamma.bin"));
    let log = std::fs::read_to_string(home.path().join("tui.log")).unwrap();
    assert!(
        log.contains("owns the session") && log.contains("not remembered"),
        "the dashboard says it is not the session's owner:\n{log}"
    );
    // the daemon's session did not get the dashboard's torrent
    assert!(status(home.path()).is_empty());
}
