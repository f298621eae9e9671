//! The first screen (Torrents pane) as a cockpit, rendered into ratatui's `TestBackend` at
//! 80x24, 120x40 and 200x60: the speed chart with its rate and time scales, the one-line piece
//! bar, the peers line, the bottleneck verdict and no large empty area. And the list's sort,
//! filter and marks driven through `App::update` with key events, checked on screen and in
//! the `Effect`s they queue.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::screen::screen;
use fast_peer::engine::event::{
    EngineEvent, PeerSnapshot, PieceView, TorrentSnapshot, TorrentState,
};
use fast_peer::proto::id::PeerId;
use fast_peer::tui::action::{Action, KEYS, Pane};
use fast_peer::tui::app::{App, Dialog, Effect};
use fast_peer::tui::panes::overview::{piece_bar, scale_top};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";
const MIB: f64 = 1024.0 * 1024.0;

fn peer(port: u16, pieces: u32, rate: f64) -> PeerSnapshot {
    PeerSnapshot {
        pieces,
        download_rate: rate,
        peer_choking: false,
        am_interested: true,
        ..PeerSnapshot::new(
            SocketAddr::from(([127, 0, 0, 1], port)),
            PeerId(*b"-LT2080-abcdefghijkl"),
        )
    }
}

/// A torrent of `n` pieces named `name`: the second half verified, piece 3 failed, pieces
/// 5..8 requested, three peers (two seeds) sending 1.2 MiB/s together.
fn torrent(id: u64, name: &str, n: u32) -> TorrentSnapshot {
    let mut pieces = vec![PieceView::Missing; n as usize];
    for (i, p) in pieces.iter_mut().enumerate() {
        if i >= n as usize / 2 {
            *p = PieceView::Verified;
        }
    }
    for p in pieces.iter_mut().take(8).skip(5) {
        *p = PieceView::Requested;
    }
    if n > 3 {
        pieces[3] = PieceView::Failed;
    }
    let mut t = TorrentSnapshot::fetching_metadata(id, HASH.parse().unwrap(), name.into());
    t.state = TorrentState::Downloading;
    t.total_length = n as u64 * 262_144;
    t.piece_count = n;
    t.pieces_verified = n / 2;
    t.bytes_left = (n as u64 - n as u64 / 2) * 262_144;
    t.downloaded = 4 << 20;
    t.uploaded = 1 << 20;
    t.download_rate = 1.2 * MIB;
    t.upload_rate = 100.0 * 1024.0;
    t.hash_failures = 1;
    t.known_peers = 9;
    t.peers = vec![
        peer(7001, n, 0.6 * MIB),
        peer(7002, n, 0.4 * MIB),
        peer(7003, 5, 0.2 * MIB),
    ];
    t.elapsed = Duration::from_secs(75);
    t.pieces = pieces.into();
    t.availability = vec![3u16; n as usize].into();
    t
}

fn snapshot(torrents: Vec<TorrentSnapshot>, queue: Vec<u64>) -> Action {
    common::screen::picture(torrents, queue, None)
}

fn app_with(torrents: Vec<TorrentSnapshot>) -> App {
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot(torrents, Vec::new()));
    app
}

/// An app whose first torrent has two minutes of rates behind it (a ramp up to 1.2 MiB/s).
fn cockpit_app() -> App {
    let mut app = app_with(vec![torrent(1, "debian-1.iso", 400)]);
    let t0 = Instant::now();
    for i in 0..120u64 {
        let mut t = torrent(1, "debian-1.iso", 400);
        t.download_rate = 1.2 * MIB * (i as f64 / 120.0);
        t.upload_rate = 50.0 * 1024.0;
        app.history
            .record(t0 + Duration::from_secs(i + 1), std::slice::from_ref(&t));
    }
    app
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// The longest run of rows blank between the outer borders (a chart's rows hold its axis).
fn longest_blank_run(s: &str) -> usize {
    let blank = |l: &str| {
        let inner: Vec<char> = l.chars().collect();
        let n = inner.len();
        n < 2 || inner[1..n - 1].iter().all(|c| *c == ' ')
    };
    let mut best = 0;
    let mut run = 0;
    for l in s.lines() {
        run = if blank(l) { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// The names of the list's rows, top to bottom (the list is on top of the screen).
fn row_order(s: &str, names: &[&str]) -> Vec<usize> {
    let mut found: Vec<(usize, usize)> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| s.find(n).map(|pos| (pos, i)))
        .collect();
    found.sort();
    found.into_iter().map(|(_, i)| i).collect()
}

#[test]
fn first_screen_is_a_cockpit_at_every_size() {
    let app = cockpit_app();
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let s = screen(&app, w, h);
        let at = format!("at {w}x{h}:\n{s}");
        assert_eq!(s.lines().count(), h as usize);
        // the list
        assert!(
            s.contains("debian-1.iso") && s.contains("downloading"),
            "{at}"
        );
        // the chart: rates on Y (a round scale above the peak), time on X
        assert!(
            s.contains("2 MiB/s") && s.contains("1 MiB/s"),
            "Y scale {at}"
        );
        assert!(s.contains("-5m") && s.contains("now"), "X scale {at}");
        assert!(
            s.contains('⣿') || s.contains('⡀') || s.contains('⠁'),
            "a braille plot {at}"
        );
        assert!(s.contains("↓ down") && s.contains("↑ up"), "{at}");
        // the piece bar: failed, requested, missing and verified cells on one line
        let bar = s
            .lines()
            .find(|l| l.contains('X') && l.contains('▒') && l.contains('█'))
            .unwrap_or_else(|| panic!("a piece bar {at}"));
        assert!(bar.contains('·'), "missing pieces in the bar {at}");
        // peers, seeds, ratio, ETA
        assert!(s.contains("3 connected · 9 known · 2 seeds"), "{at}");
        assert!(
            s.contains("50.0% of 100 MiB · ratio 0.25 · ETA 41s"),
            "{at}"
        );
        assert!(
            s.contains("↓ down 1.20 MiB/s") && s.contains("↑ up 100 KiB/s"),
            "{at}"
        );
        // the verdict: three unchoking peers under 16 MiB/s
        assert!(
            s.contains("bottleneck: peers' upload (3 peers unchoke us, 1.2 MiB/s total"),
            "{at}"
        );
        // the details stay
        assert!(s.contains("200/400 verified, 1 hash failures"), "{at}");
        if h >= 40 {
            assert!(s.contains(HASH), "{at}");
            assert!(s.contains("limits: ↓ none ↑ none"), "{at}");
        }
        assert!(
            longest_blank_run(&s) <= 2,
            "no large empty area (longest blank run {}) {at}",
            longest_blank_run(&s)
        );
    }
}

#[test]
fn a_young_history_spans_a_minute_and_the_scale_follows_the_rates() {
    let app = app_with(vec![torrent(1, "debian-1.iso", 400)]);
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("-1m") && !s.contains("-5m") && s.contains("now"),
        "{s}"
    );
    // 1.2 MiB/s now: a scale of 2 MiB/s
    assert!(s.contains("2 MiB/s│") && s.contains("1 MiB/s│"), "{s}");
    let mut slow = torrent(1, "debian-1.iso", 400);
    slow.download_rate = 300.0 * 1024.0;
    slow.upload_rate = 0.0;
    let app = app_with(vec![slow]);
    let s = screen(&app, 120, 40);
    assert!(s.contains("300 KiB/s│") && s.contains("150 KiB/s│"), "{s}");
}

#[test]
fn verdict_is_a_warning_when_something_holds_the_download_back_and_none_when_done() {
    let app = cockpit_app();
    let t = app.torrent().unwrap();
    assert!(!app.verdict(t).is_none());
    // the engine-wide limit counts every torrent's rate
    let mut app = app_with(vec![torrent(1, "a", 40), torrent(2, "b", 40)]);
    app.limits.download = Some(2 * 1024 * 1024);
    let v = app.verdict(app.torrent().unwrap()).to_string();
    assert!(v.starts_with("bottleneck: our download limit"), "{v}");
    // a torrent the engine reported failed reads "stopped on an error"
    app.update(Action::Engine(Box::new(EngineEvent::Failed {
        id: 1,
        error: "disk full".into(),
    })));
    let s = screen(&app, 120, 40);
    assert!(s.contains("bottleneck: stopped on an error"), "{s}");
    assert!(
        s.contains("✗ error") && s.contains("error: disk full"),
        "{s}"
    );
    let mut done = torrent(3, "done", 40);
    done.state = TorrentState::Seeding;
    done.bytes_left = 0;
    let app = app_with(vec![done]);
    assert!(app.verdict(app.torrent().unwrap()).is_none());
    assert!(screen(&app, 80, 24).contains("bottleneck: none"));
}

#[test]
fn piece_bar_sums_up_the_pieces_each_cell_covers() {
    use PieceView::*;
    let glyphs =
        |p: &[PieceView], w| -> String { piece_bar(p, w).iter().map(|(c, _)| *c).collect() };
    // two pieces a cell: failed wins, then requested, then all / some / none verified
    let p = [
        Failed, Verified, Requested, Missing, Verified, Verified, Verified, Missing, Missing,
        Missing, Unwanted, Unwanted,
    ];
    assert_eq!(glyphs(&p, 6), "X▒█▓· ");
    // fewer pieces than cells: each piece spreads over several
    assert_eq!(glyphs(&[Verified, Missing], 4), "██··");
    assert_eq!(glyphs(&[], 4), "");
    // any width, any count: one glyph per cell
    for n in [1usize, 7, 1000, 100_003] {
        for w in [1usize, 3, 80, 199] {
            assert_eq!(piece_bar(&vec![Missing; n], w).len(), w);
        }
    }
    assert_eq!(scale_top(0.0), 1024.0);
    assert_eq!(scale_top(1.2 * MIB), 2.0 * MIB);
    assert_eq!(scale_top(700.0 * 1024.0), 800.0 * 1024.0);
    assert_eq!(scale_top(2.2 * MIB), 3.0 * MIB);
    assert_eq!(scale_top(3.0 * MIB), 3.0 * MIB);
    assert_eq!(scale_top(3.1 * MIB), 4.0 * MIB);
}

#[test]
fn s_sorts_the_list_by_each_column_and_s_reverses() {
    let mut a = torrent(1, "charlie", 40);
    a.download_rate = 100.0;
    let mut b = torrent(2, "alpha", 80);
    b.download_rate = 3.0 * MIB;
    let mut c = torrent(3, "bravo", 20);
    c.download_rate = 1.0 * MIB;
    let mut app = app_with(vec![a, b, c]);
    let names = ["charlie", "alpha", "bravo"];
    assert_eq!(
        row_order(&screen(&app, 120, 40), &names),
        [0, 1, 2],
        "added order"
    );
    // the cursor is on charlie; it stays on charlie whatever the order
    assert_eq!(app.torrent().unwrap().name, "charlie");
    app.handle_key(key('s')); // queue place (none here: added order)
    app.handle_key(key('s')); // name
    let s = screen(&app, 120, 40);
    assert!(s.contains("sort: name ▲") && s.contains("name▲"), "{s}");
    assert_eq!(row_order(&s, &names), [1, 2, 0], "{s}");
    assert_eq!(app.torrent().unwrap().name, "charlie");
    assert_eq!(
        app.selected, 2,
        "the cursor followed charlie to the last row"
    );
    app.handle_key(key('S'));
    let s = screen(&app, 120, 40);
    assert!(s.contains("name▼"), "{s}");
    assert_eq!(row_order(&s, &names), [0, 2, 1], "{s}");
    assert_eq!(app.torrent().unwrap().name, "charlie");
    app.handle_key(key('S'));
    app.handle_key(key('s')); // size: largest first
    let s = screen(&app, 120, 40);
    assert!(s.contains("size▼"), "{s}");
    assert_eq!(row_order(&s, &names), [1, 0, 2], "{s}");
    for _ in 0..3 {
        app.handle_key(key('s')); // progress, state, down
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("sort: down ▼"), "{s}");
    assert_eq!(row_order(&s, &names), [1, 2, 0], "{s}");
    // a new picture changes the rates: the rows reorder, the cursor stays on charlie
    app.handle_key(code(KeyCode::Home));
    assert_eq!(app.torrent().unwrap().name, "alpha");
    let mut a = torrent(1, "charlie", 40);
    a.download_rate = 9.0 * MIB;
    let mut b = torrent(2, "alpha", 80);
    b.download_rate = 10.0;
    app.update(snapshot(vec![a, b, torrent(3, "bravo", 20)], Vec::new()));
    let s = screen(&app, 120, 40);
    assert_eq!(row_order(&s, &names), [0, 2, 1], "{s}");
    assert_eq!(app.torrent().unwrap().name, "alpha");
    // the cockpit shows the cursor's torrent
    assert!(s.contains(" alpha "), "{s}");
    // every column, both ways, at 80 columns too: no panic, every row shown
    for _ in 0..20 {
        app.handle_key(key('s'));
        app.handle_key(key('S'));
        let s = screen(&app, 80, 24);
        assert_eq!(row_order(&s, &names).len(), 3, "{s}");
    }
    // the keys are in the table the help shows
    for (k, help) in [('s', "sort by the next column"), ('S', "reverse the sort")] {
        assert!(
            KEYS.iter()
                .any(|b| b.help == help && b.keys.iter().any(|(c, _)| *c == KeyCode::Char(k)))
        );
    }
}

#[test]
fn slash_filters_as_you_type_and_esc_clears() {
    let mut app = app_with(vec![
        torrent(1, "Debian-12.iso", 40),
        torrent(2, "ubuntu-24.iso", 40),
        torrent(3, "debian-11.iso", 40),
    ]);
    app.handle_key(code(KeyCode::Down)); // the cursor on ubuntu
    app.handle_key(key('/'));
    assert!(app.typing());
    for c in "DEB".chars() {
        app.handle_key(key(c));
    }
    let s = screen(&app, 120, 40);
    assert!(s.contains("2 of 3") && s.contains("filter: DEB"), "{s}");
    assert!(
        s.contains("Debian-12.iso") && s.contains("debian-11.iso"),
        "case-insensitive {s}"
    );
    assert!(!s.contains("ubuntu"), "{s}");
    // the cursor's torrent went: the cursor is on a row that remains
    assert!(app.torrent().unwrap().name.to_lowercase().contains("deb"));
    // keys type: 'q' and 'p' do not quit or pause
    app.handle_key(key('q'));
    app.handle_key(key('p'));
    assert!(!app.should_quit && app.effects.is_empty());
    assert_eq!(app.list.filter.value(), "DEBqp");
    assert!(screen(&app, 120, 40).contains("0 of 3"));
    app.handle_key(code(KeyCode::Backspace));
    app.handle_key(code(KeyCode::Backspace));
    for c in "IAN-11".chars() {
        app.handle_key(key(c));
    }
    // Enter keeps the filter and gives the keys back
    app.handle_key(code(KeyCode::Enter));
    assert!(!app.typing());
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("1 of 3") && s.contains("filter: DEBIAN-11"),
        "{s}"
    );
    assert_eq!(app.torrent().unwrap().name, "debian-11.iso");
    // the other panes follow the torrent under the cursor
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::Pause(3)]
    );
    // Esc clears the filter; the cursor stays on debian-11
    app.handle_key(code(KeyCode::Esc));
    let s = screen(&app, 120, 40);
    assert!(s.contains("Torrents (3)") && !s.contains("filter:"), "{s}");
    assert_eq!(app.torrent().unwrap().name, "debian-11.iso");
    assert_eq!(app.selected, 2);
    // Esc while typing clears it too
    app.handle_key(key('/'));
    app.handle_key(key('u'));
    assert!(screen(&app, 120, 40).contains("1 of 3"));
    app.handle_key(code(KeyCode::Esc));
    assert!(!app.typing() && app.list.filter.value().is_empty());
    assert!(screen(&app, 120, 40).contains("Torrents (3)"));
}

#[test]
fn marks_make_p_and_d_act_on_every_marked_torrent() {
    let mut paused = torrent(4, "four", 40);
    paused.state = TorrentState::Paused;
    let mut app = app_with(vec![
        torrent(1, "one", 40),
        torrent(2, "two", 40),
        torrent(3, "three", 40),
        paused,
    ]);
    // no marks: p acts on the cursor's row as before
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::Pause(1)]
    );
    // Space marks the row (the cursor stays), j, Space marks the next
    app.handle_key(key(' '));
    app.handle_key(key('j'));
    app.handle_key(key('j'));
    app.handle_key(key(' '));
    let s = screen(&app, 120, 40);
    assert!(s.contains("2 marked"), "{s}");
    assert_eq!(s.matches('●').count(), 2, "a marker on each marked row {s}");
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::Pause(1), Effect::Pause(3)]
    );
    // d asks once for both
    app.handle_key(key('d'));
    assert!(matches!(
        &app.dialog,
        Some(Dialog::ConfirmRemove { ids, .. }) if ids == &[1, 3]
    ));
    let s = screen(&app, 120, 40);
    assert!(s.contains("Remove 2 torrents (one, three)?"), "{s}");
    app.handle_key(key('D'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [
            Effect::Remove {
                id: 1,
                delete_data: true
            },
            Effect::Remove {
                id: 3,
                delete_data: true
            }
        ]
    );
    let s = screen(&app, 120, 40);
    assert!(
        !s.contains(" one ") && !s.contains("three") && s.contains(" two "),
        "{s}"
    );
    assert!(!s.contains("marked"), "{s}");
    // V marks every visible row; with one of them paused, p pauses the others
    app.handle_key(key('V'));
    assert_eq!(app.marked().len(), 2);
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::Pause(2)]
    );
    // all paused: p resumes them all
    let mut two = torrent(2, "two", 40);
    two.state = TorrentState::Paused;
    let mut four = torrent(4, "four", 40);
    four.state = TorrentState::Paused;
    app.update(snapshot(vec![two, four], Vec::new()));
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::Resume(2), Effect::Resume(4)]
    );
    let s = screen(&app, 120, 40);
    assert!(s.contains("‖ paused"), "{s}");
    // Ctrl-A toggles: all marked, so it unmarks them
    app.handle_key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL));
    assert!(app.marked().is_empty() && app.dialog.is_none());
    // marks of rows the filter hides are not acted on
    app.handle_key(key('V'));
    app.handle_key(key('/'));
    app.handle_key(key('f'));
    app.handle_key(code(KeyCode::Enter));
    app.handle_key(key('d'));
    assert!(
        matches!(&app.dialog, Some(Dialog::ConfirmRemove { ids, name, .. }) if ids == &[4] && name == "four")
    );
    app.handle_key(code(KeyCode::Esc));
    assert!(app.dialog.is_none() && app.effects.is_empty());
    // in other panes p acts on the cursor's torrent, marks or not
    app.handle_key(code(KeyCode::Esc)); // clears the filter
    app.handle_key(code(KeyCode::Esc)); // then the marks
    assert!(app.list.marked.is_empty());
    app.handle_key(key('V'));
    app.update(Action::GoTo(Pane::Files));
    app.handle_key(key('p'));
    assert_eq!(app.effects.len(), 1, "{:?}", app.effects);
}

#[test]
fn queued_paused_and_failed_rows_read_without_colour() {
    let mut q = torrent(2, "waiting", 40);
    q.state = TorrentState::Queued;
    let mut p = torrent(3, "held", 40);
    p.state = TorrentState::Paused;
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot(
        vec![torrent(1, "running", 40), q, p],
        vec![1, 2, 3],
    ));
    app.update(Action::Engine(Box::new(EngineEvent::Failed {
        id: 1,
        error: "no space left".into(),
    })));
    for (w, h) in [(80, 24), (120, 40)] {
        let s = screen(&app, w, h);
        assert!(s.contains("… queued"), "{s}");
        assert!(s.contains("‖ paused"), "{s}");
        assert!(s.contains("✗ error"), "{s}");
    }
    // the queue column sorts by place
    app.handle_key(key('s'));
    app.handle_key(key('S'));
    let s = screen(&app, 120, 40);
    assert!(s.contains("#▼"), "{s}");
    assert_eq!(
        row_order(&s, &["running", "waiting", "held"]),
        [2, 1, 0],
        "{s}"
    );
}

#[test]
fn the_first_screen_renders_at_any_size_in_any_state() {
    let mut magnet = TorrentSnapshot::fetching_metadata(9, HASH.parse().unwrap(), "mag".into());
    magnet.known_peers = 2;
    let mut app = app_with(vec![torrent(1, "debian-1.iso", 100_003), magnet]);
    app.update(Action::Engine(Box::new(EngineEvent::Failed {
        id: 1,
        error: "x".repeat(500),
    })));
    app.handle_key(key('V'));
    for filter in [None, Some("mag"), Some("nothing")] {
        app.handle_key(code(KeyCode::Esc));
        if let Some(f) = filter {
            app.handle_key(key('/'));
            app.update(Action::Paste(format!("{f}\nsecond line")));
        }
        for (w, h) in [
            (0, 0),
            (1, 1),
            (3, 7),
            (10, 3),
            (20, 5),
            (40, 10),
            (60, 13),
            (80, 16),
            (80, 24),
            (99, 30),
            (100, 30),
            (120, 20),
            (120, 40),
            (200, 60),
            (300, 100),
        ] {
            let s = screen(&app, w, h);
            assert_eq!(s.lines().count(), h as usize);
        }
        let s = screen(&app, 120, 40);
        match filter {
            None => assert!(s.contains("bottleneck: stopped on an error"), "{s}"),
            Some("mag") => {
                assert!(
                    s.contains("filter: mag▏") && !s.contains("second line"),
                    "{s}"
                );
                assert!(
                    s.contains("bottleneck: waiting for metadata (0 peers)"),
                    "{s}"
                );
                assert!(s.contains("pieces: not known yet"), "{s}");
            }
            _ => assert!(s.contains("No torrent's name contains the filter"), "{s}"),
        }
    }
}

/// The status bar (last line) says why the selected torrent is slow, unless a fresh notice
/// (an error stays fresh longer) has it; a paused torrent is not "slow".
#[test]
fn the_status_bar_names_the_selected_torrents_bottleneck() {
    let last_line = |app: &App| screen(app, 120, 30).lines().last().unwrap().to_string();
    // the three peers send 1.2 MiB/s together: the peers' upload
    let mut app = app_with(vec![torrent(1, "slow.iso", 400)]);
    assert!(
        last_line(&app).contains("bottleneck: peers' upload (3 peers unchoke us"),
        "{}",
        last_line(&app)
    );
    // a fresh notice has the bar first
    app.notify("added something", false);
    assert!(last_line(&app).contains("added something"));
    // an old one gives way
    app.notices.back_mut().unwrap().at = Instant::now() - Duration::from_secs(60);
    assert!(last_line(&app).contains("bottleneck: peers' upload"));
    // an error keeps the bar for half a minute, then gives way too
    app.notify("error: disk full", true);
    app.notices.back_mut().unwrap().at = Instant::now() - Duration::from_secs(20);
    assert!(last_line(&app).contains("error: disk full"));
    app.notices.back_mut().unwrap().at = Instant::now() - Duration::from_secs(60);
    assert!(last_line(&app).contains("bottleneck: peers' upload"));
    // paused, or saturated: nothing to say
    let mut paused = torrent(1, "slow.iso", 400);
    paused.state = TorrentState::Paused;
    let app = app_with(vec![paused]);
    assert!(
        !last_line(&app).contains("bottleneck"),
        "{}",
        last_line(&app)
    );
    let mut fast = torrent(1, "fast.iso", 400);
    fast.download_rate = 100.0 * MIB;
    let app = app_with(vec![fast]);
    assert!(
        !last_line(&app).contains("bottleneck"),
        "{}",
        last_line(&app)
    );
}
