//! The dashboard's mouse, themes and completion notices, in ratatui's `TestBackend`: a click
//! on a tab opens that pane, a click on a row selects what the row shows (also when the list
//! is scrolled), the wheel moves the selection of the pane under the pointer, clicks on
//! borders, headers and hostile coordinates do nothing; every theme draws every pane, the
//! light theme never puts pale text on the terminal's own background and the high-contrast
//! one uses only black, white and bright colours; a download that finishes here is queued
//! for the bell once, one that was already complete is not.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use fast_peer::engine::event::{
    EngineEvent, PeerSnapshot, PieceView, TorrentSnapshot, TorrentState,
};
use fast_peer::proto::bencode::{Value, encode};
use fast_peer::proto::id::PeerId;
use fast_peer::proto::metainfo::Metainfo;
use fast_peer::tui::action::{Action, Pane};
use fast_peer::tui::app::{App, Dialog};
use fast_peer::tui::decode::DecodeState;
use fast_peer::tui::theme::{self, Theme};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{Event, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::style::Color;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

fn torrent(id: u64) -> TorrentSnapshot {
    let mut t = TorrentSnapshot::fetching_metadata(id, HASH.parse().unwrap(), format!("t{id:02}"));
    t.state = TorrentState::Downloading;
    t.total_length = 1 << 20;
    t.bytes_left = 1 << 19;
    t.piece_count = 8;
    use PieceView::*;
    t.pieces = vec![
        Verified, Verified, Missing, Requested, Failed, Missing, Verified, Missing,
    ]
    .into();
    t.availability = vec![0, 1, 2, 3, 4, 5, 6, 7].into();
    t.peers = (0..12u16)
        .map(|i| {
            let addr = SocketAddr::from(([127, 0, 0, 1], 7000 + i));
            let mut p = PeerSnapshot::new(addr, PeerId([b'a' + i as u8; 20]));
            p.download_rate = f64::from(1000 - i);
            p
        })
        .collect();
    t
}

fn snapshot(torrents: Vec<TorrentSnapshot>) -> Action {
    common::screen::picture(torrents, Vec::new(), None)
}

fn app(n: u64) -> App {
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot((1..=n).map(torrent).collect()));
    app
}

/// Draw `app` at `w` x `h` in theme `t`; returns the buffer.
fn draw_in(app: &App, w: u16, h: u16, t: Theme) -> Buffer {
    theme::scoped(t, || common::screen::draw(app, w, h))
}

fn draw(app: &App, w: u16, h: u16) -> Buffer {
    draw_in(app, w, h, Theme::Dark)
}

fn line(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_string())
        .collect()
}

/// Column and row of the first cell where `text` starts on screen.
fn find(buf: &Buffer, text: &str) -> (u16, u16) {
    for y in 0..buf.area.height {
        let l = line(buf, y);
        if let Some(i) = l.find(text) {
            return (l[..i].chars().count() as u16, y);
        }
    }
    panic!("{text:?} not on screen");
}

fn click(app: &mut App, col: u16, row: u16) {
    app.update(Action::Click { col, row });
}

fn wheel(app: &mut App, col: u16, row: u16, delta: i8) {
    app.update(Action::Scroll { col, row, delta });
}

#[test]
fn terminal_mouse_events_become_clicks_and_wheel_turns_and_nothing_else() {
    let app = app(1);
    let ev = |kind| {
        Event::Mouse(MouseEvent {
            kind,
            column: 7,
            row: 3,
            modifiers: KeyModifiers::NONE,
        })
    };
    let act = |kind| fast_peer::tui::action_for_event(&app, ev(kind));
    assert!(matches!(
        act(MouseEventKind::Down(MouseButton::Left)),
        Some(Action::Click { col: 7, row: 3 })
    ));
    assert!(matches!(
        act(MouseEventKind::ScrollDown),
        Some(Action::Scroll {
            col: 7,
            row: 3,
            delta: 1
        })
    ));
    assert!(matches!(
        act(MouseEventKind::ScrollUp),
        Some(Action::Scroll {
            col: 7,
            row: 3,
            delta: -1
        })
    ));
    for kind in [
        MouseEventKind::Up(MouseButton::Left),
        MouseEventKind::Down(MouseButton::Right),
        MouseEventKind::Moved,
        MouseEventKind::Drag(MouseButton::Left),
    ] {
        assert!(act(kind).is_none(), "{kind:?}");
    }
}

#[test]
fn a_click_on_each_tab_opens_its_pane_at_any_width() {
    for w in [120u16, 80] {
        let mut app = app(2);
        for (i, p) in Pane::ALL.iter().enumerate().rev() {
            let buf = draw(&app, w, 30);
            let label = format!("{} {}", i + 1, p.title());
            let l = line(&buf, 0);
            let Some(at) = l.find(&label) else {
                continue; // clipped at this width
            };
            let col = l[..at].chars().count() as u16;
            // the label's last cell, and the padding space before it
            click(&mut app, col + label.chars().count() as u16 - 1, 0);
            assert_eq!(app.pane, *p, "{label} at {w} columns");
            click(&mut app, 0, 0); // the title is no tab
            assert_eq!(app.pane, *p);
        }
        assert_eq!(app.pane, Pane::Torrents);
    }
}

#[test]
fn a_click_on_a_torrent_row_selects_that_torrent_even_scrolled() {
    let mut app = app(40);
    // the last one selected: the table scrolls
    app.update(Action::Bottom);
    let buf = draw(&app, 120, 30);
    // (the list shares the pane with the cockpit: a dozen rows at this size)
    let (col, row) = find(&buf, "t37");
    click(&mut app, col, row);
    assert_eq!(app.torrent().unwrap().name, "t37");
    // the row shown first, at the far right of the row
    let buf = draw(&app, 120, 30);
    let (col, header) = find(&buf, "name");
    let first = line(&buf, header + 1);
    let name = first[first.find('t').unwrap()..][..3].to_string();
    assert_ne!(name, "t01", "the table scrolled: {first}");
    click(&mut app, 118, header + 1);
    assert_eq!(app.torrent().unwrap().name, name);
    // the header and the border are no rows
    click(&mut app, col, header);
    click(&mut app, col, header - 1);
    click(&mut app, 0, header + 2);
    assert_eq!(app.torrent().unwrap().name, name);
}

#[test]
fn clicks_on_nothing_hostile_coordinates_dialogs_and_help_change_nothing_but_the_help() {
    let mut app = app(3);
    // before any frame: nothing is anywhere
    click(&mut app, 5, 3);
    assert_eq!(app.selected, 0);
    let buf = draw(&app, 100, 30);
    for (c, r) in [
        (u16::MAX, u16::MAX),
        (0, u16::MAX),
        (u16::MAX, 0),
        (100, 0),
        (5, 29),
    ] {
        click(&mut app, c, r);
        wheel(&mut app, c, r, 1);
        wheel(&mut app, c, r, i8::MIN);
    }
    assert_eq!((app.pane, app.selected), (Pane::Torrents, 0));
    // a dialog has the keyboard: clicks go nowhere
    app.dialog = Some(Dialog::ConfirmQuit);
    let (col, row) = find(&buf, "t03");
    click(&mut app, col, row);
    assert_eq!(app.selected, 0);
    app.dialog = None;
    // the help closes on a click, and the click does nothing else
    app.update(Action::ToggleHelp);
    assert!(app.help);
    let buf = draw(&app, 100, 30);
    assert!(
        line(&buf, 28).contains("mouse: click a tab or a row") || {
            (0..30).any(|y| line(&buf, y).contains("mouse: click a tab or a row"))
        }
    );
    wheel(&mut app, col, row, 1);
    assert!(app.help, "the wheel leaves the help open");
    click(&mut app, col, row);
    assert!(!app.help);
    assert_eq!(app.selected, 0);
}

#[test]
fn a_click_on_a_peer_row_selects_that_peer() {
    let mut app = app(1);
    app.update(Action::GoTo(Pane::Peers));
    let buf = draw(&app, 120, 12);
    let (col, row) = find(&buf, "127.0.0.1:7003");
    click(&mut app, col + 30, row);
    assert_eq!(app.peer, Some(SocketAddr::from(([127, 0, 0, 1], 7003))));
    // scrolled: the last peer selected, then a click on the row shown at the top
    app.update(Action::Bottom);
    let buf = draw(&app, 120, 12);
    let top = line(&buf, 3);
    let shown = top
        .trim_start_matches(['│', ' '])
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_ne!(shown, "127.0.0.1:7000", "the table scrolled: {top}");
    click(&mut app, 2, 3);
    assert_eq!(app.peer.map(|a| a.to_string()), Some(shown));
}

#[test]
fn the_wheel_moves_the_selection_of_the_pane_under_the_pointer() {
    let mut app = app(5);
    let buf = draw(&app, 120, 30);
    let (col, row) = find(&buf, "t02");
    wheel(&mut app, col, row, 1);
    wheel(&mut app, col, row, 1);
    assert_eq!(app.selected, 2);
    wheel(&mut app, col, row, -1);
    assert_eq!(app.selected, 1);
    // below the list, in the details: still the pane
    wheel(&mut app, 5, 27, 1);
    assert_eq!(app.selected, 2);
    // on the tab bar or the status bar: nothing
    wheel(&mut app, 5, 0, 1);
    wheel(&mut app, 5, 29, 1);
    assert_eq!(app.selected, 2);
    app.update(Action::GoTo(Pane::Peers));
    let buf = draw(&app, 120, 30);
    let (col, row) = find(&buf, "127.0.0.1:7000");
    wheel(&mut app, col, row, 1);
    assert_eq!(app.peer, Some(SocketAddr::from(([127, 0, 0, 1], 7001))));
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A .torrent of three files in two folders.
fn torrent_file() -> Vec<u8> {
    let file = |path: &[&str], len: i64| {
        dict(vec![
            ("length", Value::Int(len)),
            (
                "path",
                Value::List(
                    path.iter()
                        .map(|p| Value::Bytes(p.as_bytes().to_vec()))
                        .collect(),
                ),
            ),
        ])
    };
    let info = dict(vec![
        ("name", Value::Bytes(b"album".to_vec())),
        ("piece length", Value::Int(16384)),
        ("pieces", Value::Bytes(vec![7; 20 * 3])),
        (
            "files",
            Value::List(vec![
                file(&["cd1", "intro.flac"], 20_000),
                file(&["cd1", "song.flac"], 20_000),
                file(&["cover.jpg"], 5_000),
            ]),
        ),
    ]);
    encode(&dict(vec![("info", info)]))
}

#[test]
fn a_click_on_a_tree_row_selects_that_node_in_files_and_decode() {
    let mut app = app(1);
    let m = Arc::new(Metainfo::from_bytes(&torrent_file()).unwrap());
    app.update(Action::Engine(Box::new(EngineEvent::MetadataReady {
        id: 1,
        metainfo: m,
    })));
    app.update(Action::GoTo(Pane::Files));
    let buf = draw(&app, 120, 30);
    let (col, row) = find(&buf, "song.flac");
    click(&mut app, col, row);
    let tree = app.file_tree.as_ref().unwrap();
    assert_eq!(tree.nodes[tree.selected].name, "song.flac");
    // below the last row: nothing
    click(&mut app, col, 26);
    let tree = app.file_tree.as_ref().unwrap();
    assert_eq!(tree.nodes[tree.selected].name, "song.flac");

    app.decode = DecodeState::from_bytes(&torrent_file(), "album.torrent".into());
    app.update(Action::GoTo(Pane::Decode));
    let buf = draw(&app, 120, 40);
    let (col, row) = find(&buf, "piece length");
    click(&mut app, col, row);
    let d = &app.decode;
    assert_eq!(d.nodes[d.selected].key.as_deref(), Some("piece length"));
}

/// Text colours that do not read on a white background.
fn pale(c: Color) -> bool {
    matches!(
        c,
        Color::White | Color::Gray | Color::Yellow | Color::LightYellow
    )
}

#[test]
fn every_theme_draws_every_pane_and_light_and_high_contrast_keep_their_promises() {
    let mut app = app(3);
    app.update(Action::ToggleRarity);
    for p in Pane::ALL {
        app.update(Action::GoTo(p));
        for t in Theme::ALL {
            for (w, h) in [(120, 40), (80, 24), (3, 2), (0, 0)] {
                let buf = draw_in(&app, w, h, t);
                for cell in buf.content() {
                    let own_bg = cell.bg != Color::Reset;
                    if t == Theme::Light {
                        assert!(
                            own_bg || !pale(cell.fg) || cell.symbol().trim().is_empty(),
                            "{p:?} light: {:?} on white",
                            cell
                        );
                    }
                    if t == Theme::HighContrast {
                        for c in [cell.fg, cell.bg] {
                            assert!(
                                matches!(
                                    c,
                                    Color::Reset
                                        | Color::Black
                                        | Color::White
                                        | Color::LightRed
                                        | Color::LightGreen
                                        | Color::LightYellow
                                        | Color::LightBlue
                                        | Color::LightMagenta
                                        | Color::LightCyan
                                ),
                                "{p:?} high contrast: {c:?}"
                            );
                        }
                    }
                }
            }
        }
    }
    // the themes do look different
    app.update(Action::GoTo(Pane::Torrents));
    let dark = draw_in(&app, 120, 40, Theme::Dark);
    let light = draw_in(&app, 120, 40, Theme::Light);
    assert_ne!(dark, light);
}

#[test]
fn a_download_finished_here_is_announced_once_and_an_old_one_never() {
    let mut app = app(2);
    // torrent 3 arrives complete (resumed, or attached to a daemon that finished it)
    let mut old = torrent(3);
    old.state = TorrentState::Seeding;
    app.update(snapshot(vec![torrent(1), torrent(2), old]));
    let done = |id| Action::Engine(Box::new(EngineEvent::Completed { id }));
    app.update(done(3));
    assert!(app.completions.queued.is_empty());
    app.update(done(1));
    app.update(done(1));
    assert_eq!(app.completions.queued, vec!["t01".to_string()]);
    assert!(app.notices.back().unwrap().text.contains("complete: t01"));
}
