//! End to end: the real binary's dashboard (`fast-peer demo`) in a detached tmux session. While
//! the demo downloads, the Peers pane shows each seeder's transport and encryption, the time
//! since its last block and a sparkline of its rate; a peer chosen there has its pieces marked
//! on the piece map (asked of the engine through the dashboard's loop), and `v` turns that
//! off. Everything runs on 127.0.0.1; tmux runs on its own socket.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::Tmux;

#[test]
fn demo_peers_show_wire_last_block_and_graph_and_their_pieces_on_the_map() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB at the watchable seeders' ~1.7 MiB/s: half a minute of download to look at
    let tmux = Tmux::demo("peers", dir.path(), (160, 40), "--size 64");

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
