//! The dashboard end-to-end tests' terminal: a detached tmux session of a fixed size on a
//! socket of its own (no user session is touched), keys sent with `send-keys`, the screen read
//! with `capture-pane`, and the server killed on drop.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::path::Path;
use std::process::{Command, Output};

use super::{fast_peer_bin, wait_until};

/// The session's name on its socket.
const SESSION: &str = "e2e";

/// One tmux server and its session `e2e`, killed on drop.
pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached `cols`x`rows` session running `command` (through the shell), on the socket
    /// `fast-peer-e2e-<name>-<pid>`.
    pub fn start(name: &str, cols: u16, rows: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("fast-peer-e2e-{name}-{}", std::process::id()),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            &x,
            "-y",
            &y,
            command,
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    /// `fast-peer demo ARGS` with its files in `dir/demo` and its log in `dir/tui.log`, in a
    /// `cols`x`rows` session; when the demo exits the shell prints `EXIT=<status>` and idles.
    /// Returns once the dashboard shows the demo torrent.
    pub fn demo(name: &str, dir: &Path, (cols, rows): (u16, u16), args: &str) -> Tmux {
        let command = format!(
            "{} demo {args} --dir {} --log {}; echo EXIT=$?; sleep 120",
            fast_peer_bin().display(),
            dir.join("demo").display(),
            dir.join("tui.log").display(),
        );
        let tmux = Tmux::start(name, cols, rows, &command);
        tmux.wait_for(60, "the dashboard", |s| {
            s.contains("1 Torrents") && s.contains("fast-peer-demo")
        });
        tmux
    }

    /// `tmux -L SOCKET ARGS`.
    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// What the session shows now.
    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", SESSION]).stdout)
            .into_owned()
    }

    /// A tmux format (`#{...}`) evaluated for the session.
    pub fn format(&self, f: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", SESSION, f]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `send-keys` (key names, or `-l TEXT`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", SESSION];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
    }

    /// Poll the screen until `cond` holds (fails after `secs` with the screen); returns it.
    pub fn wait_for(&self, secs: u64, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_until(secs, what, || cond(&self.screen()))
        }));
        if found.is_err() {
            panic!("timed out waiting for {what}; screen:\n{}", self.screen());
        }
        self.screen()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
