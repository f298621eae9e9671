//! End to end: the real binary's dashboard (`fast-peer demo`) in a detached tmux session of a
//! fixed size. Waits until the demo torrent shows as complete, switches to the magnet pane,
//! pastes a magnet with bracketed paste (tmux `paste-buffer -p`), checks the parsed fields on
//! screen, adds it, quits through the confirmation, and checks the terminal is restored
//! (alternate screen off, canonical mode back on). Everything runs on 127.0.0.1; tmux runs on
//! its own socket so no user session is touched.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::Tmux;
use std::path::Path;

const HASH: &str = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

/// `fast-peer demo --size 8` (rate-limited seeders: a few seconds of download) with its files
/// in `dir` and its log in `dir/tui.log`, in a detached 120x40 session. `env` goes before the
/// command, `redirect` after it; when the demo exits the shell prints `EXIT=<status>` and the
/// tty's canonical-mode flag, then idles. Returns once the dashboard shows the demo torrent,
/// and that screen.
fn demo(name: &str, dir: &Path, env: &str, redirect: &str) -> (Tmux, String) {
    let command = format!(
        "{env}{} demo --size 8 --dir {} --log {}{redirect}; echo EXIT=$?; \
         stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 120",
        common::fast_peer_bin().display(),
        dir.join("demo").display(),
        dir.join("tui.log").display(),
    );
    let tmux = Tmux::start(name, 120, 40, &command);
    let s = tmux.wait_for(60, "the dashboard", |s| {
        s.contains("1 Torrents") && s.contains("fast-peer-demo")
    });
    (tmux, s)
}

/// After the dashboard quit: waits for the exit line and the tty mode (`stty` prints after
/// `EXIT=`, the screen may show one before the other), then asserts the terminal is restored:
/// the dashboard left the screen, the shell's screen is back (not the alternate one) and the
/// tty is in canonical mode. Returns the screen.
fn wait_restored(tmux: &Tmux) -> String {
    let s = tmux.wait_for(30, "the exit and the tty mode", |s| {
        s.contains("EXIT=") && s.lines().any(|l| matches!(l.trim(), "icanon" | "-icanon"))
    });
    assert!(
        !s.contains("1 Torrents"),
        "the dashboard left the screen: {s}"
    );
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "raw mode was switched off: {s}"
    );
    s
}

#[test]
fn demo_dashboard_completes_takes_a_pasted_magnet_and_restores_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tmux, s) = demo("paste", dir.path(), "", "");
    assert!(s.contains("? help"), "{s}");
    let s = tmux.wait_for(180, "the demo torrent to complete", |s| {
        s.contains("seeding") && s.contains("100.0%")
    });
    assert!(s.contains("fast-peer-demo"), "{s}");

    // the DHT pane: the demo's loopback DHT, with the seeders in the table and our announce
    tmux.keys(&["4"]);
    let s = tmux.wait_for(30, "the demo DHT", |s| {
        s.contains("node id:") && s.contains("announce") && !s.contains("DHT off")
    });
    assert!(s.contains("routing table"), "{s}");

    // the magnet pane, and a bracketed paste of a long magnet
    tmux.keys(&["7"]);
    tmux.wait_for(10, "the magnet pane", |s| {
        s.contains("Magnet: type or paste")
    });
    let magnet = format!(
        "magnet:?xt=urn:btih:{HASH}&dn=e2e-pasted&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce&x.pe=127.0.0.1:9"
    );
    assert!(
        tmux.cmd(&["set-buffer", "-b", "m", &magnet])
            .status
            .success()
    );
    assert!(
        tmux.cmd(&["paste-buffer", "-p", "-b", "m", "-t", "e2e"])
            .status
            .success()
    );
    let s = tmux.wait_for(10, "the parsed magnet", |s| s.contains("valid magnet link"));
    assert!(s.contains(HASH), "{s}");
    assert!(s.contains("e2e-pasted"), "{s}");
    assert!(s.contains("http://127.0.0.1:9/announce"), "{s}");
    assert!(s.contains("127.0.0.1:9"), "{s}");

    // Enter adds it: back on the torrents pane, fetching metadata
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(20, "the magnet torrent", |s| {
        s.contains("e2e-pasted") && s.contains("fetching metadata")
    });
    assert!(s.contains("fast-peer-demo"), "{s}");

    // q asks while the magnet is fetching; y quits
    tmux.keys(&["q"]);
    tmux.wait_for(10, "the quit question", |s| s.contains("Quit?"));
    tmux.keys(&["y"]);
    let s = wait_restored(&tmux);
    assert!(s.contains("EXIT=0"), "{s}");
    // logs went to the file, not to the screen
    let log = dir.path().join("tui.log");
    assert!(std::fs::metadata(&log).is_ok(), "log file written");
}

#[test]
fn demo_dashboard_redraws_on_resize_and_ctrl_c_restores_the_terminal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tmux, _) = demo("resize", dir.path(), "", "");

    // smaller: the frame is redrawn at the new size (the status bar's help hint moves)
    assert!(
        tmux.cmd(&["resize-window", "-t", "e2e", "-x", "80", "-y", "24"])
            .status
            .success()
    );
    let s = tmux.wait_for(10, "a redraw at 80x24", |s| {
        s.lines().count() == 24
            && s.lines()
                .any(|l| l.trim_end().ends_with("? help") && l.chars().count() <= 80)
    });
    assert!(s.contains("fast-peer-demo"), "{s}");
    // tiny, then back: no crash, the dashboard comes back
    for (w, h) in [("4", "2"), ("1", "1"), ("100", "30")] {
        assert!(
            tmux.cmd(&["resize-window", "-t", "e2e", "-x", w, "-y", h])
                .status
                .success()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    tmux.wait_for(10, "the dashboard after tiny sizes", |s| {
        s.contains("1 Torrents") && s.contains("fast-peer-demo")
    });

    // Ctrl-C quits at once, even while downloading, and the terminal is restored
    tmux.keys(&["C-c"]);
    let s = wait_restored(&tmux);
    assert!(s.contains("EXIT=0"), "{s}");
}

#[test]
fn a_panic_in_the_dashboard_restores_the_terminal_and_reports() {
    let dir = tempfile::tempdir().expect("temp dir");
    // the test seam: this key panics inside the event loop (see tui::panic_if_test_key)
    let stderr_file = dir.path().join("stderr.txt");
    let redirect = format!(" 2>{}", stderr_file.display());
    let (tmux, _) = demo("panic", dir.path(), "FAST_PEER_TUI_PANIC_KEY=% ", &redirect);
    tmux.keys(&["%"]);
    let s = wait_restored(&tmux);
    assert!(!s.contains("EXIT=0"), "a panic must exit non-zero: {s}");
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    assert!(
        stderr.contains("a deliberate panic"),
        "the panic report reaches stderr: {stderr}"
    );
}

#[test]
fn demo_dashboard_files_pane_lists_the_files_and_skips_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tmux, s) = demo("files", dir.path(), "", "");
    assert!(s.contains("#"), "the queue column: {s}");

    // the Files pane: the demo's seven files (pad files aside) in folders, every one wanted
    tmux.keys(&["9"]);
    let s = tmux.wait_for(20, "the demo's files", |s| {
        s.contains("Files of fast-peer-demo") && s.contains("7 of 7 files wanted")
    });
    for name in [
        "README.txt",
        "video/",
        "big buck demo.bin",
        "empty file.txt",
        "tail.bin",
    ] {
        assert!(s.contains(name), "{name}: {s}");
    }
    // a row's priority is its last word
    let skipped = |s: &str| {
        s.lines().any(|l| {
            l.contains(".bin")
                && l.trim_end()
                    .trim_end_matches('│')
                    .trim_end()
                    .ends_with("skip")
        })
    };
    assert!(s.contains("normal") && !skipped(&s), "{s}");

    // the last row is a file: Space skips it, and the engine's pictures keep showing it
    // skipped after the dashboard stops holding its own word (three seconds)
    tmux.keys(&["G", "Space"]);
    tmux.wait_for(10, "a skipped file", |s| {
        s.contains("6 of 7 files wanted") && skipped(s)
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    let s = tmux.screen();
    assert!(
        s.contains("6 of 7 files wanted") && skipped(&s),
        "the engine applied it: {s}"
    );

    // sequential order, and a download limit through the limits dialog
    tmux.keys(&["s"]);
    tmux.wait_for(10, "sequential on", |s| s.contains("sequential on"));
    tmux.keys(&["L"]);
    tmux.wait_for(10, "the limits dialog", |s| s.contains("downloads at once"));
    tmux.keys(&["500K", "Enter"]);
    tmux.wait_for(10, "the torrent's limit", |s| {
        s.contains("limits ↓ 500 KiB/s")
    });

    // Ctrl-C quits, the terminal is restored
    tmux.keys(&["C-c"]);
    let s = wait_restored(&tmux);
    assert!(s.contains("EXIT=0"), "{s}");
}
