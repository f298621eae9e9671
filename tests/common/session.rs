//! One user's session for the session tests: its XDG folders, `fast-peer` run as that user,
//! the daemon, `status --json`.
#![allow(clippy::unwrap_used)]

use super::{
    Daemon, TEST_TIMEOUT_SECS, assert_success, fast_peer, free_port, run_with_timeout, wait_until,
};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The XDG folders of one user's session.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `fast-peer ARGS` as this user.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = fast_peer();
        for (var, sub) in [
            ("XDG_RUNTIME_DIR", "run"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CONFIG_HOME", "config"),
        ] {
            let p = self.dir.path().join(sub);
            std::fs::create_dir_all(&p).unwrap();
            c.env(var, p);
        }
        c.args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_with_timeout(&mut self.cmd(args), TEST_TIMEOUT_SECS)
    }

    /// Start the daemon (no DHT, a free port) and wait until it answers `status`.
    pub fn daemon(&self) -> Daemon {
        let port = free_port().to_string();
        let mut d = Daemon::spawn(&mut self.cmd(&["daemon", "--port", &port, "-v"]), false);
        wait_until(30, "the daemon's control socket", || {
            if let Some(st) = d.child.try_wait().unwrap() {
                panic!("the daemon exited ({st}):\n{}", d.log());
            }
            self.run(&["status"]).status.success()
        });
        d
    }

    /// `add ARGS... SOURCE` (a .torrent path or a magnet) saving into `dir`; returns the
    /// info hash the instance printed.
    pub fn add(&self, source: &str, dir: &std::path::Path, args: &[&str]) -> String {
        let mut all = vec!["add", "--dir", dir.to_str().unwrap()];
        all.extend_from_slice(args);
        all.push(source);
        let o = self.run(&all);
        assert_success("add", &o);
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }

    pub fn status(&self) -> Vec<Value> {
        let o = self.run(&["status", "--json"]);
        assert_success("status --json", &o);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v["torrents"].as_array().unwrap().clone()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run/fast-peer/control.sock")
    }
}
