//! End to end: the first screen of the real binary's dashboard (`fast-peer demo`) in a
//! detached 120x40 tmux session. While the demo torrent downloads from its rate-limited
//! seeders (about 1.7 MiB/s together, under the 16 MiB/s a saturated link gives), the cockpit
//! names their upload as the bottleneck and draws the speed chart with its scales; `/` then
//! narrows the list as the filter is typed, and Esc clears it. Everything runs on 127.0.0.1;
//! tmux runs on its own socket so no user session is touched (as in `tests/tui_e2e.rs`).
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::Tmux;

/// Whether a line of the screen holds a rate label of the chart's Y axis (`2 MiB/s│`).
fn has_rate_scale(s: &str) -> bool {
    s.lines()
        .any(|l| ["B/s│", "KiB/s│", "MiB/s│"].iter().any(|u| l.contains(u)))
}

#[test]
fn demo_first_screen_names_the_bottleneck_charts_the_speed_and_filters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let tmux = Tmux::demo("cockpit", dir.path(), (120, 40), "--size 32");
    // downloading, data flowing: the seeders' upload is what limits us
    let s = tmux.wait_for(90, "the bottleneck verdict while downloading", |s| {
        s.contains("downloading")
            && s.contains("bottleneck: peers' upload")
            && (s.contains("KiB/s total") || s.contains("MiB/s total"))
    });
    // a minute (or, past the first, five) up to now; the scale follows the rates
    assert!(
        (s.contains("-1m") || s.contains("-5m")) && s.contains("now"),
        "time scale: {s}"
    );
    assert!(has_rate_scale(&s), "rate scale: {s}");
    assert!(s.contains("↓ down") && s.contains("↑ up"), "{s}");
    assert!(
        s.contains("connected ·") && s.contains("known ·"),
        "peers: {s}"
    );
    assert!(s.contains("Torrents (1)"), "{s}");

    // `/` and a name that matches nothing: "0 of 1", the cockpit says why it is empty
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "zzz"]);
    let s = tmux.wait_for(10, "the filtered list", |s| s.contains("0 of 1"));
    assert!(s.contains("filter: zzz"), "{s}");
    assert!(s.contains("No torrent's name contains the filter"), "{s}");
    assert!(!s.contains("bottleneck:"), "{s}");
    // Esc clears it: the torrent and its cockpit are back
    tmux.keys(&["Escape"]);
    let s = tmux.wait_for(10, "the whole list", |s| {
        s.contains("Torrents (1)") && s.contains("bottleneck:")
    });
    assert!(!s.contains("filter: zzz"), "{s}");
    // a filter that matches keeps the row, case-insensitive
    tmux.keys(&["/"]);
    tmux.keys(&["-l", "DEMO"]);
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(10, "the matching row", |s| {
        s.contains("1 of 1") && s.contains("filter: DEMO")
    });
    assert!(s.contains("fast-peer-demo"), "{s}");
}
