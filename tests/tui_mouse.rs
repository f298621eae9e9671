//! End to end: the real binary's dashboard (`fast-peer demo`) in a detached tmux session, fed
//! mouse reports as a terminal sends them (SGR: `ESC [ < button ; column ; row M`, `m` on
//! release, typed into the pane with `send-keys -l`). A click on the "3 Peers" tab opens the
//! Peers pane, a click on a row selects that peer, the wheel moves the selection; the
//! dashboard asked tmux for mouse reports and took the request back when it quit. When the
//! demo download completes the terminal hears the bell (tmux's bell flag) and reads an OSC 9
//! and an OSC 777 notification (the pane's raw output, through `pipe-pane`). With
//! `--no-mouse` the dashboard asks for no reports and ignores one typed at it. Everything runs
//! on 127.0.0.1; tmux runs on its own socket, and the config file is an empty folder's.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::Tmux;
use std::path::Path;

/// `fast-peer demo --size 32 <flags>` (with a config folder of its own) in a detached 120x40
/// session, its raw output copied to `dir/raw`. Returns once the dashboard shows the demo
/// torrent, and that screen.
fn demo(name: &str, dir: &Path, flags: &str) -> (Tmux, String) {
    // --size: long enough (tens of seconds) for the clicks to find peers connected
    let command = format!(
        "XDG_CONFIG_HOME={} {} demo --size 32 --dir {} --log {} {flags}; echo EXIT=$?; \
         sleep 120",
        dir.display(),
        common::fast_peer_bin().display(),
        dir.join("demo").display(),
        dir.join("tui.log").display(),
    );
    let tmux = Tmux::start(&format!("mouse-{name}"), 120, 40, &command);
    let raw = format!("cat > {}", dir.join("raw").display());
    assert!(
        tmux.cmd(&["pipe-pane", "-o", "-t", "e2e", &raw])
            .status
            .success()
    );
    let s = tmux.wait_for(60, "the dashboard", |s| {
        s.contains("1 Torrents") && s.contains("fast-peer-demo")
    });
    (tmux, s)
}

/// A left click at 0-based `col`, `row` (SGR reports are 1-based): press, release, typed into
/// the pane as a terminal sends them.
fn click(tmux: &Tmux, col: usize, row: usize) {
    tmux.keys(&["-l", &format!("\x1b[<0;{};{}M", col + 1, row + 1)]);
    tmux.keys(&["-l", &format!("\x1b[<0;{};{}m", col + 1, row + 1)]);
}

/// One wheel notch down at `col`, `row`.
fn wheel_down(tmux: &Tmux, col: usize, row: usize) {
    tmux.keys(&["-l", &format!("\x1b[<65;{};{}M", col + 1, row + 1)]);
}

/// Column and row (0-based) of the first place `text` is on `screen`.
fn find(screen: &str, text: &str) -> (usize, usize) {
    for (y, l) in screen.lines().enumerate() {
        if let Some(i) = l.find(text) {
            return (l[..i].chars().count(), y);
        }
    }
    panic!("{text:?} not on the screen:\n{screen}");
}

/// The peer address at the start of table row `row` of `screen`.
fn address_on(screen: &str, row: usize) -> String {
    let l = screen.lines().nth(row).unwrap();
    l.trim_start_matches(['│', ' '])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The address the Handshake pane is about.
fn handshake_with(screen: &str) -> String {
    let (_, y) = find(screen, "Handshake with ");
    let l = screen.lines().nth(y).unwrap();
    let rest = &l[l.find("Handshake with ").unwrap() + "Handshake with ".len()..];
    rest.split_whitespace().next().unwrap().to_string()
}

#[test]
fn clicks_open_tabs_and_select_rows_the_wheel_moves_and_completion_rings_the_bell() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tmux, s) = demo("click", dir.path(), "");
    assert_eq!(
        tmux.format("#{mouse_any_flag}"),
        "1",
        "mouse reports asked for"
    );
    assert_eq!(tmux.format("#{mouse_sgr_flag}"), "1", "in SGR form");

    // the "3 Peers" tab
    let (col, row) = find(&s, "3 Peers");
    click(&tmux, col + 2, row);
    tmux.wait_for(10, "the Peers pane", |s| {
        s.contains("Peers of fast-peer-demo")
    });
    // sorted by address, so rows stay put
    for _ in 0..4 {
        tmux.keys(&["s"]);
    }
    let s = tmux.wait_for(30, "the peers by address, 4 of them at least", |s| {
        s.contains("sort: address") && s.matches("│127.0.0.1:").count() >= 4
    });
    let (_, header) = find(&s, "address ");
    // a click on the third row selects that peer: Enter shows its handshake
    let third = address_on(&s, header + 3);
    click(&tmux, 30, header + 3);
    tmux.keys(&["Enter"]);
    let h = tmux.wait_for(10, "the handshake pane", |s| s.contains("Handshake with"));
    assert_eq!(handshake_with(&h), third, "{h}");
    // back (a click on the tab), one wheel notch down: the fourth peer
    let (col, row) = find(&h, "3 Peers");
    click(&tmux, col + 2, row);
    let s = tmux.wait_for(10, "the Peers pane again", |s| s.contains("sort: address"));
    let fourth = address_on(&s, header + 4);
    wheel_down(&tmux, 30, header + 2);
    tmux.keys(&["Enter"]);
    let h = tmux.wait_for(10, "the next handshake", |s| {
        s.contains("Handshake with") && !s.contains(&format!("Handshake with {third} "))
    });
    assert_eq!(handshake_with(&h), fourth, "{h}");

    // the download completes: the bell, and both desktop notifications
    tmux.keys(&["1"]);
    tmux.wait_for(180, "the demo torrent to complete", |s| {
        s.contains("seeding") && s.contains("100.0%")
    });
    let raw = dir.path().join("raw");
    common::wait_until(10, "the notification in the raw output", || {
        std::fs::read(&raw).is_ok_and(|b| {
            String::from_utf8_lossy(&b).contains("\x1b]777;notify;fast-peer;fast-peer-demo")
        })
    });
    let out = String::from_utf8_lossy(&std::fs::read(&raw).unwrap()).into_owned();
    assert!(
        out.contains("\x07\x1b]9;fast-peer: fast-peer-demo is complete\x07"),
        "bell and OSC 9"
    );
    assert!(out.contains("\x1b]777;notify;fast-peer;fast-peer-demo is complete\x07"));
    assert_eq!(
        out.matches("\x1b]9;").count(),
        1,
        "one notification per download"
    );
    assert_eq!(
        tmux.format("#{window_bell_flag}"),
        "1",
        "tmux heard the bell"
    );

    // quitting takes the mouse request back
    tmux.keys(&["q"]);
    tmux.wait_for(30, "the exit", |s| s.contains("EXIT=0"));
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "mouse reports off");
}

#[test]
fn no_mouse_asks_for_no_reports_and_ignores_a_typed_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (tmux, s) = demo("nomouse", dir.path(), "--no-mouse --theme light");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0");
    let (col, row) = find(&s, "3 Peers");
    click(&tmux, col + 2, row);
    // a key after the click: once it shows, the click was read before it
    tmux.keys(&["?"]);
    let s = tmux.wait_for(10, "the help", |s| s.contains("any key closes"));
    assert!(s.contains("Torrents (1)"), "still the Torrents pane: {s}");
    assert!(!s.contains("Peers of"), "{s}");
    tmux.keys(&["Escape"]);
    tmux.keys(&["C-c"]);
    tmux.wait_for(30, "the exit", |s| s.contains("EXIT=0"));
}
