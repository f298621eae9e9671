//! End to end: the real binary's dashboard (`fast-peer demo`) in a detached tmux session. While
//! the demo downloads, the Peers pane shows each seeder's transport and encryption, the time
//! since its last block and a sparkline of its rate; a peer chosen there has its pieces marked
//! on the piece map (asked of the engine through the dashboard's loop), and `v` turns that
//! off. Everything runs on 127.0.0.1; tmux runs on its own socket.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use std::process::Command;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
    }

    fn wait_for(&self, secs: u64, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            common::wait_until(secs, what, || cond(&self.screen()))
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

#[test]
fn demo_peers_show_wire_last_block_and_graph_and_their_pieces_on_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux {
        socket: format!("fast-peer-e2e-peers-{}", std::process::id()),
    };
    // 64 MiB at the watchable seeders' ~1.7 MiB/s: half a minute of download to look at
    let command = format!(
        "{} demo --size 64 --dir {} --log {}; sleep 60",
        common::fast_peer_bin().display(),
        dir.path().join("demo").display(),
        dir.path().join("tui.log").display(),
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "160",
        "-y",
        "40",
        &command,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tmux.wait_for(60, "the dashboard", |s| {
        s.contains("1 Torrents") && s.contains("fast-peer-demo")
    });

    tmux.keys(&["3"]);
    let s = tmux.wait_for(60, "peers with a block received and a graph", |s| {
        s.contains("TCP ")
            && s.lines()
                .any(|l| l.contains("127.0.0.1:") && l.chars().any(|c| "▂▃▄▅▆▇█".contains(c)))
    });
    assert!(s.contains("wire") && s.contains("last"), "{s}");
    // one demo seeder insists on RC4
    tmux.wait_for(30, "the RC4 seeder", |s| s.contains("TCP RC4"));

    // choose the second peer, then the piece map marks its pieces
    tmux.keys(&["j"]);
    tmux.keys(&["2"]);
    let s = tmux.wait_for(30, "the chosen peer's pieces", |s| {
        s.contains("pieces of 127.0.0.1:")
    });
    assert!(s.contains("v: the peer's pieces"), "{s}");
    tmux.keys(&["v"]);
    tmux.wait_for(10, "the overlay off", |s| {
        !s.contains("pieces of 127.0.0.1:") && s.contains("Pieces: fast-peer-demo")
    });
    tmux.keys(&["C-c"]);
}
