//! The Peers pane's transport, last-block and sparkline columns, and the piece map's overlay of
//! the selected peer's pieces, rendered into ratatui's `TestBackend` at 80x24 and 200x60.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::screen::{draw as render, text};
use fast_peer::engine::conn::Wire;
use fast_peer::engine::event::{PeerSnapshot, PieceView, TorrentSnapshot, TorrentState, Transport};
use fast_peer::proto::bitfield::Bitfield;
use fast_peer::proto::id::PeerId;
use fast_peer::tui::action::{Action, Pane};
use fast_peer::tui::app::{App, Effect};
use fast_peer::tui::panes::peers::sparkline;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Modifier;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Three peers: 7001 RC4 over TCP with a block 3 s ago, 7002 plaintext over uTP that sent
/// none, 7003 obfuscated over TCP with a block 125 s ago.
fn peers(rate: f64) -> Vec<PeerSnapshot> {
    let p = |port, wire, last: Option<u64>, rate| PeerSnapshot {
        wire,
        last_block: last.map(Duration::from_secs),
        download_rate: rate,
        pieces: 10,
        ..PeerSnapshot::new(addr(port), PeerId(*b"-LT2080-abcdefghijkl"))
    };
    let mut v = vec![
        p(7001, Wire::Rc4, Some(3), rate),
        p(7002, Wire::Plaintext, None, 0.0),
        p(7003, Wire::Obfuscated, Some(125), rate / 2.0),
    ];
    v[1].transport = Transport::Utp;
    v
}

/// A torrent of `n` pieces, the first half missing and the second verified.
fn torrent(n: u32, rate: f64) -> TorrentSnapshot {
    let mut t = TorrentSnapshot::fetching_metadata(1, Default::default(), "debian.iso".into());
    t.state = TorrentState::Downloading;
    t.piece_count = n;
    t.pieces = (0..n)
        .map(|i| {
            if i < n / 2 {
                PieceView::Missing
            } else {
                PieceView::Verified
            }
        })
        .collect();
    t.availability = (0..n).map(|i| (i % 7) as u16).collect();
    t.peers = peers(rate);
    t
}

fn snapshot(t: TorrentSnapshot) -> Action {
    common::screen::picture(vec![t], Vec::new(), None)
}

fn row(s: &str, port: u16) -> &str {
    let a = format!("127.0.0.1:{port}");
    s.lines().find(|l| l.contains(&a)).unwrap()
}

fn underlined(buf: &Buffer, x: u16, y: u16) -> bool {
    buf.cell((x, y))
        .unwrap()
        .modifier
        .contains(Modifier::UNDERLINED)
}

/// An app on the Peers pane whose history holds 40 s of peer 7001 going 0, 1000, ... 7000
/// B/s and round again.
fn peers_app() -> App {
    let mut app = App::new(PeerId::default());
    app.update(snapshot(torrent(40, 0.0)));
    let t0 = Instant::now();
    for i in 0..40u64 {
        let t = torrent(40, (i % 8) as f64 * 1000.0);
        app.history.record(t0 + Duration::from_secs(i + 1), &[t]);
    }
    app.update(Action::GoTo(Pane::Peers));
    app
}

#[test]
fn sparkline_scales_to_the_peak_newest_on_the_right() {
    let v = [0.0, 1.0, 4.0, 8.0];
    assert_eq!(sparkline(v.iter(), 8.0, 4), " ▁▄█");
    // fewer samples than cells: blank on the left; more: the newest only
    assert_eq!(sparkline(v.iter(), 8.0, 6), "   ▁▄█");
    assert_eq!(sparkline(v.iter(), 8.0, 2), "▄█");
    // no peak, NaN, infinity: nothing to scale, never a panic
    assert_eq!(sparkline(v.iter(), 0.0, 2), "  ");
    assert_eq!(sparkline([f64::NAN, f64::INFINITY].iter(), 8.0, 2), " █");
}

#[test]
fn peers_pane_at_80x24_keeps_wire_last_block_and_graph() {
    let app = peers_app();
    let s = text(&render(&app, 80, 24));
    let header = s.lines().find(|l| l.contains("address")).unwrap();
    for h in ["client", "flags", "down", "wire", "last"] {
        assert!(header.contains(h), "{h}: {s}");
    }
    // narrow: up rate, progress and requests go
    for h in ["reqs", "have", " up "] {
        assert!(!header.contains(h), "{h} dropped: {s}");
    }
    let fast = row(&s, 7001);
    assert!(fast.contains("TCP RC4"), "{fast}");
    assert!(fast.contains(" 3s "), "{fast}");
    // the last 10 s of 0..7000 B/s: every height from ▂ to █
    assert!(fast.contains('█') && fast.contains('▂'), "{fast}");
    let idle = row(&s, 7002);
    assert!(idle.contains("uTP plain") && idle.contains(" - "), "{idle}");
    assert!(!idle.contains('█'), "never sent: a blank graph: {idle}");
    let obfs = row(&s, 7003);
    assert!(obfs.contains("TCP obfs") && obfs.contains(" 2m "), "{obfs}");
    assert!(s.lines().all(|l| l.chars().count() == 80));
}

#[test]
fn peers_pane_at_200x60_shows_every_column_and_a_longer_graph() {
    let app = peers_app();
    let s = text(&render(&app, 200, 60));
    let header = s.lines().find(|l| l.contains("address")).unwrap();
    for h in [
        "client", "flags", "wire", "down", "up", "have", "reqs", "last",
    ] {
        assert!(header.contains(h), "{h}: {s}");
    }
    let fast = row(&s, 7001);
    assert!(fast.contains("TCP RC4") && fast.contains(" 3s "), "{fast}");
    let bars = fast.chars().filter(|c| "▁▂▃▄▅▆▇█".contains(*c)).count();
    // 30 samples, of which one in eight is zero (a blank)
    assert!(bars >= 25, "{bars} bars: {fast}");
    let narrow = text(&render(&app, 80, 24));
    let narrow_bars = row(&narrow, 7001)
        .chars()
        .filter(|c| "▁▂▃▄▅▆▇█".contains(*c))
        .count();
    assert!(narrow_bars < bars, "{narrow_bars} vs {bars}");
}

#[test]
fn selecting_a_peer_asks_the_engine_for_its_pieces() {
    let mut app = App::new(PeerId::default());
    app.update(snapshot(torrent(40, 1000.0)));
    // nothing selected: no question, on any pane
    app.update(Action::GoTo(Pane::Pieces));
    app.update(Action::GoTo(Pane::Peers));
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    // chosen in the Peers pane, asked about once the piece map shows
    app.update(Action::Down);
    let asked = app.peer.unwrap();
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    app.update(Action::GoTo(Pane::Pieces));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::PeerPieces {
            torrent: 1,
            addr: asked
        }]
    );
    // another peer: asked about at once
    app.update(Action::GoTo(Pane::Peers));
    app.update(Action::Down);
    let next = app.peer.unwrap();
    assert_ne!(next, asked);
    app.update(Action::GoTo(Pane::Pieces));
    assert!(
        app.effects.contains(&Effect::PeerPieces {
            torrent: 1,
            addr: next
        }),
        "{:?}",
        app.effects
    );
    app.effects.clear();
    // other panes ask nothing
    app.update(Action::GoTo(Pane::Torrents));
    app.update(snapshot(torrent(40, 1000.0)));
    assert!(app.effects.is_empty(), "{:?}", app.effects);
}

/// The bitfield of `n` pieces with `ones` set.
fn bits(n: u32, ones: &[u32]) -> Bitfield {
    let mut b = Bitfield::new(n);
    for i in ones {
        b.set(*i);
    }
    b
}

#[test]
fn piece_map_marks_the_selected_peers_pieces_and_v_toggles_it() {
    let mut app = App::new(PeerId::default());
    app.update(snapshot(torrent(40, 1000.0)));
    app.update(Action::GoTo(Pane::Peers));
    app.update(Action::Top);
    let peer = app.peer.unwrap();
    app.update(Action::GoTo(Pane::Pieces));
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: peer,
        bits: Some(bits(40, &[0, 1, 2, 8])),
    });
    // 200x60: 40 pieces, 4 cells each, 16 pieces a row (x from 1, the first map row is 2)
    let buf = render(&app, 200, 60);
    let s = text(&buf);
    assert!(
        s.contains(&format!("pieces of {peer} (4 of 40)")),
        "title: {s}"
    );
    assert!(s.contains(&format!("{peer} has")), "legend: {s}");
    let at = |piece: u16| 1 + piece * 4;
    for k in 0..4 {
        assert!(underlined(&buf, at(0) + k, 2), "piece 0 cell {k}");
        assert!(underlined(&buf, at(8) + k, 2), "piece 8 cell {k}");
        assert!(
            !underlined(&buf, at(3) + k, 2),
            "piece 3: the peer lacks it"
        );
    }
    // the glyph still tells our state
    assert_eq!(buf.cell((at(0), 2)).unwrap().symbol(), "·");

    // over the rarity view too (piece 0: no peer has it, says the picture)
    app.update(Action::ToggleRarity);
    let buf = render(&app, 200, 60);
    assert_eq!(buf.cell((at(0), 2)).unwrap().symbol(), "0");
    assert!(underlined(&buf, at(0), 2) && !underlined(&buf, at(3), 2));
    app.update(Action::ToggleRarity);

    // v: off, then on again
    app.handle_key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE));
    let buf = render(&app, 200, 60);
    assert!(!underlined(&buf, at(0), 2));
    assert!(!text(&buf).contains("pieces of"));
    app.handle_key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE));
    assert!(underlined(&render(&app, 200, 60), at(0), 2));

    // answers about another peer, or of the wrong length, are not shown for this one
    let other = app
        .sorted_peers()
        .iter()
        .find(|p| p.addr != peer)
        .unwrap()
        .addr;
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: other,
        bits: Some(bits(40, &[3])),
    });
    assert!(!underlined(&render(&app, 200, 60), at(0), 2));
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: peer,
        bits: Some(bits(41, &[3])),
    });
    assert!(app.shown_peer_pieces().is_none());
    // the peer left: the overlay goes
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: peer,
        bits: Some(bits(40, &[0])),
    });
    assert!(app.shown_peer_pieces().is_some());
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: peer,
        bits: None,
    });
    assert!(app.shown_peer_pieces().is_none());
}

#[test]
fn v_with_no_peer_chosen_takes_the_first_row() {
    let mut app = App::new(PeerId::default());
    app.update(snapshot(torrent(40, 1000.0)));
    app.update(Action::GoTo(Pane::Pieces));
    assert!(app.peer.is_none());
    app.handle_key(KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE));
    let first = app.sorted_peers()[0].addr;
    assert_eq!(app.peer, Some(first));
    assert!(app.effects.contains(&Effect::PeerPieces {
        torrent: 1,
        addr: first
    }));
}

#[test]
fn the_overlay_scales_with_the_map_at_80x24() {
    let n = 100_000;
    let mut app = App::new(PeerId::default());
    app.update(snapshot(torrent(n, 1000.0)));
    app.update(Action::GoTo(Pane::Peers));
    app.update(Action::Top);
    let peer = app.peer.unwrap();
    app.update(Action::GoTo(Pane::Pieces));
    // the peer has the first 1000 pieces: 114 pieces a cell, so the first 9 cells
    let ones: Vec<u32> = (0..1000).collect();
    app.update(Action::PeerPieces {
        torrent: 1,
        addr: peer,
        bits: Some(bits(n, &ones)),
    });
    let buf = render(&app, 80, 24);
    let s = text(&buf);
    assert!(s.contains("per cell: 114 pieces"), "{s}");
    assert!(s.contains("(1000 of 100000)"), "{s}");
    let marked = (1..9).filter(|x| underlined(&buf, *x, 2)).count();
    assert_eq!(marked, 8, "cells 0..8 hold pieces 0..912");
    assert!(underlined(&buf, 9, 2), "cell 8 holds pieces 912..1026");
    assert!(!underlined(&buf, 10, 2), "cell 9 holds pieces 1026..1140");
}

/// With more peers than rows, the table shows the window around the selected peer (only
/// those rows are built), and a click lands on the peer drawn there.
#[test]
fn many_peers_scroll_to_the_selected_one_and_clicks_follow() {
    let mut t = torrent(100, 1000.0);
    t.peers = (0..200u16)
        .map(|i| PeerSnapshot::new(addr(10_000 + i), PeerId(*b"-LT2080-abcdefghijkl")))
        .collect();
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot(t));
    app.update(Action::GoTo(Pane::Peers));
    // sorted by address: peer 150 is the 151st row, far below a 30-row screen
    app.peer = Some(addr(10_150));
    let s = text(&render(&app, 120, 30));
    let row_of = |port: u16| s.lines().position(|l| l.contains(&format!(":{port} ")));
    let selected = row_of(10_150).expect("the selected peer is on screen");
    assert_eq!(row_of(10_000), None, "the first peers scrolled away");
    // the selected row is the last one of the table, the row above is its predecessor
    assert_eq!(row_of(10_149), Some(selected - 1));
    assert!(s.lines().nth(selected + 1).unwrap().starts_with('└'), "{s}");
    // a click on the row above selects that peer
    app.update(Action::Click {
        col: 5,
        row: (selected - 1) as u16,
    });
    assert_eq!(app.peer, Some(addr(10_149)));
}
