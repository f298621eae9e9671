//! The dashboard's controls (issue 17) in ratatui's `TestBackend`: the Files pane of a
//! multi-file torrent (the tree, sizes, progress from the piece map, priorities, pad files
//! hidden, "waiting for metadata"), and the effects its keys, the queue keys, the limits
//! dialog and the add dialog's "choose files first" produce; every new view at sizes from 0x0
//! up without a panic.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::screen::screen;
use fast_peer::engine::event::{EngineEvent, PieceView, TorrentId, TorrentSnapshot, TorrentState};
use fast_peer::engine::settings::{FilePriority, FileSelection};
use fast_peer::proto::bencode::{Value, encode};
use fast_peer::proto::id::{InfoHash, PeerId};
use fast_peer::proto::metainfo::Metainfo;
use fast_peer::session::protocol::{QueueMove, SettingsChange};
use fast_peer::tui::action::{Action, Pane};
use fast_peer::tui::app::{App, Dialog, Effect};
use fast_peer::tui::widgets::size;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::sync::Arc;

use FilePriority::*;

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";
const PIECE: u64 = 16384;

/// The album: `(path, length, pad)` in torrent order (a pad file after the first file).
const FILES: [(&str, u64, bool); 6] = [
    ("cd1/01 intro.flac", 20_000, false),
    (".pad/12768", 12_768, true),
    ("cd1/02 song.flac", 16_384, false),
    ("cover.jpg", 5_000, false),
    ("empty.txt", 0, false),
    ("cd2/03 outro.flac", 30_000, false),
];

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

fn dict(entries: Vec<(&str, Value)>) -> Value {
    Value::Dict(
        entries
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// The .torrent of [`FILES`], 16 KiB pieces.
fn torrent_file() -> Vec<u8> {
    let total: u64 = FILES.iter().map(|f| f.1).sum();
    let files = FILES
        .iter()
        .map(|(path, length, pad)| {
            let mut e = vec![
                ("length", Value::Int(*length as i64)),
                ("path", Value::List(path.split('/').map(bytes).collect())),
            ];
            if *pad {
                e.push(("attr", bytes("p")));
            }
            dict(e)
        })
        .collect();
    let info = dict(vec![
        ("name", bytes("album")),
        ("piece length", Value::Int(PIECE as i64)),
        (
            "pieces",
            Value::Bytes(vec![7; 20 * total.div_ceil(PIECE) as usize]),
        ),
        ("files", Value::List(files)),
    ]);
    encode(&dict(vec![("info", info)]))
}

fn metainfo() -> Arc<Metainfo> {
    Arc::new(Metainfo::from_bytes(&torrent_file()).unwrap())
}

/// The album's priorities at start: one per file, the pad file's included.
const START: [FilePriority; 6] = [Normal, Normal, High, Skip, Normal, Low];

/// Torrent `id`: the album, pieces 0, 2 and 3 verified, priorities [`START`].
fn album(id: TorrentId) -> TorrentSnapshot {
    let mut t = TorrentSnapshot::fetching_metadata(id, HASH.parse().unwrap(), "album".into());
    t.state = TorrentState::Downloading;
    t.total_length = FILES.iter().map(|f| f.1).sum();
    t.piece_count = 6;
    use PieceView::*;
    t.pieces = vec![Verified, Missing, Verified, Verified, Missing, Requested].into();
    t.availability = vec![1; 6].into();
    t.settings.wants.files = FileSelection::Priorities(START.to_vec());
    t.files = START.to_vec().into();
    t
}

fn snapshot(torrents: Vec<TorrentSnapshot>, queue: Vec<TorrentId>) -> Action {
    common::screen::picture(torrents, queue, None)
}

fn metadata(id: TorrentId) -> Action {
    Action::Engine(Box::new(EngineEvent::MetadataReady {
        id,
        metainfo: metainfo(),
    }))
}

/// The album as torrent 1, its metadata known, on the Files pane.
fn files_app() -> App {
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot(vec![album(1)], vec![1]));
    app.update(metadata(1));
    app.handle_key(key('9'));
    assert_eq!(app.pane, Pane::Files);
    app
}

/// The screen line holding `text`.
fn line_of<'a>(s: &'a str, text: &str) -> &'a str {
    s.lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with {text:?}:\n{s}"))
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// The one effect queued since the last call: a `SetSettings` of torrent 1; its change.
fn settings_change(app: &mut App) -> SettingsChange {
    let effects: Vec<Effect> = app.effects.drain(..).collect();
    match &effects[..] {
        [Effect::SetSettings { id: 1, change, .. }] => change.clone(),
        other => panic!("expected one SetSettings of torrent 1: {other:?}"),
    }
}

fn files_of(change: &SettingsChange) -> Vec<FilePriority> {
    match &change.files {
        Some(FileSelection::Priorities(p)) => p.clone(),
        other => panic!("expected a per-file list: {other:?}"),
    }
}

#[test]
fn files_pane_shows_the_tree_sizes_progress_and_priorities_without_pad_files() {
    let app = files_app();
    for (w, h) in [(120, 40), (80, 24)] {
        let s = screen(&app, w, h);
        assert!(
            !s.contains(".pad") && !s.contains("12768"),
            "pad files hidden: {s}"
        );
        // folders, then their files indented, in torrent order
        let rows = [
            "cd1/",
            "01 intro.flac",
            "02 song.flac",
            "cover.jpg",
            "empty.txt",
            "cd2/",
            "03 outro.flac",
        ];
        let at: Vec<usize> = rows
            .iter()
            .map(|r| s.find(r).unwrap_or_else(|| panic!("{r}: {s}")))
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "tree order at {w}x{h}: {s}"
        );
        // size, progress from the piece map (clipped to the file), priority on each row
        let intro = line_of(&s, "01 intro.flac");
        assert!(
            intro.contains(&size(20_000)) && intro.contains("81.9%") && intro.contains("normal"),
            "{intro}"
        );
        let song = line_of(&s, "02 song.flac");
        assert!(song.contains("100.0%") && song.contains("high"), "{song}");
        let cover = line_of(&s, "cover.jpg");
        assert!(
            cover.contains("100.0%") && cover.contains("skip"),
            "{cover}"
        );
        let empty = line_of(&s, "empty.txt");
        assert!(
            empty.contains("0 B") && empty.contains("100.0%"),
            "a wanted empty file is done: {empty}"
        );
        // piece 3 ends 11384 bytes into the outro: 37.9 %
        let outro = line_of(&s, "03 outro.flac");
        assert!(outro.contains("37.9%") && outro.contains("low"), "{outro}");
        // a folder sums its files and says "mixed" when their priorities differ
        let cd1 = line_of(&s, "cd1/");
        assert!(
            cd1.contains(&size(36_384)) && cd1.contains("mixed"),
            "{cd1}"
        );
        assert!(line_of(&s, "cd2/").contains("low"), "{s}");
        // the header: what is wanted, the order and the limits
        assert!(s.contains("4 of 5 files wanted"), "{s}");
        assert!(
            s.contains("sequential off") && s.contains("first-last off"),
            "{s}"
        );
        assert!(s.contains("limits ↓ none ↑ none"), "{s}");
        assert!(s.contains(" 9 Files ") || w < 100, "the tab: {s}");
    }
    // folding: Enter on cd1/ hides its files, Right opens it again
    let mut app = app;
    app.handle_key(code(KeyCode::Enter));
    let s = screen(&app, 100, 30);
    assert!(s.contains("▸ cd1/") && !s.contains("01 intro.flac"), "{s}");
    app.handle_key(key('l'));
    assert!(screen(&app, 100, 30).contains("01 intro.flac"));
}

#[test]
fn files_pane_waits_for_metadata() {
    let mut app = App::new(PeerId::default());
    app.update(Action::GoTo(Pane::Files));
    assert!(screen(&app, 80, 24).contains("No torrents"));
    let mut t = TorrentSnapshot::fetching_metadata(1, HASH.parse().unwrap(), "ubuntu.iso".into());
    t.state = TorrentState::FetchingMetadata;
    app.update(snapshot(vec![t], vec![1]));
    let s = screen(&app, 80, 24);
    assert!(s.contains("waiting for metadata"), "{s}");
    // the keys have nothing to change yet
    for c in [' ', '+', '-', 'A', 'N'] {
        app.handle_key(key(c));
    }
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    // the metadata arrives: the tree appears
    app.update(metadata(1));
    assert!(screen(&app, 80, 24).contains("01 intro.flac"));
}

#[test]
fn space_plus_minus_and_all_none_send_the_per_file_list() {
    let mut app = files_app();
    // Space on a file: normal -> skip, shown at once
    app.handle_key(key('j'));
    app.handle_key(key(' '));
    let after = [Skip, Normal, High, Skip, Normal, Low];
    assert_eq!(files_of(&settings_change(&mut app)), after);
    assert!(line_of(&screen(&app, 100, 30), "01 intro.flac").contains("skip"));
    // a picture taken before the engine applied it does not undo it on screen...
    app.update(snapshot(vec![album(1)], vec![1]));
    assert!(line_of(&screen(&app, 100, 30), "01 intro.flac").contains("skip"));
    // ...so a second Space starts from the change: back to normal
    app.handle_key(key(' '));
    assert_eq!(files_of(&settings_change(&mut app)), START);
    app.handle_key(key(' '));
    assert_eq!(files_of(&settings_change(&mut app)), after);

    // Space on a folder with a wanted file: all its files skipped; again: all normal
    app.handle_key(key('k'));
    app.handle_key(key(' '));
    assert_eq!(
        files_of(&settings_change(&mut app)),
        [Skip, Normal, Skip, Skip, Normal, Low]
    );
    app.handle_key(key(' '));
    assert_eq!(
        files_of(&settings_change(&mut app)),
        [Normal, Normal, Normal, Skip, Normal, Low]
    );

    // + and - step the selected row; high stays high, skip stays skip
    app.handle_key(key('j'));
    app.handle_key(key('j')); // 02 song.flac
    app.handle_key(key('+'));
    assert_eq!(files_of(&settings_change(&mut app))[2], High);
    app.handle_key(key('+'));
    assert!(app.effects.is_empty(), "already high: nothing to send");
    app.handle_key(key('-'));
    app.handle_key(key('-'));
    app.handle_key(key('-'));
    assert_eq!(app.effects.len(), 3);
    app.effects.clear();
    assert!(line_of(&screen(&app, 100, 30), "02 song.flac").contains("skip"));
    app.handle_key(key('-'));
    assert!(app.effects.is_empty(), "already skipped");

    // A wants every file (skipped ones at normal, others kept); N skips every one
    app.handle_key(key('A'));
    assert_eq!(
        files_of(&settings_change(&mut app)),
        [Normal, Normal, Normal, Normal, Normal, Low]
    );
    app.handle_key(key('N'));
    let none = files_of(&settings_change(&mut app));
    assert_eq!(
        none,
        [Skip, Normal, Skip, Skip, Skip, Skip],
        "pad files untouched"
    );
    assert!(screen(&app, 100, 30).contains("0 of 5 files wanted"));

    // the engine shows the last change: the hold ends and the engine's word stands again
    let mut shown = album(1);
    shown.settings.wants.files = FileSelection::Priorities(none.clone());
    shown.files = none.into();
    app.update(snapshot(vec![shown], vec![1]));
    app.update(snapshot(vec![album(1)], vec![1]));
    assert!(screen(&app, 100, 30).contains("4 of 5 files wanted"));
}

#[test]
fn order_keys_toggle_sequential_and_first_last() {
    let mut app = files_app();
    app.handle_key(key('s'));
    let c = settings_change(&mut app);
    assert_eq!(
        (c.sequential, c.first_last, c.files.is_none()),
        (Some(true), None, true)
    );
    app.handle_key(key('f'));
    assert_eq!(settings_change(&mut app).first_last, Some(true));
    let s = screen(&app, 100, 30);
    assert!(
        s.contains("sequential on") && s.contains("first-last on"),
        "{s}"
    );
    app.handle_key(key('s'));
    assert_eq!(settings_change(&mut app).sequential, Some(false));
}

#[test]
fn queue_keys_move_the_selected_torrent_and_the_list_shows_places() {
    let mut app = App::new(PeerId::default());
    let named = |id: TorrentId| {
        let mut t = album(id);
        t.name = format!("t{id}");
        t
    };
    app.update(snapshot(vec![named(1), named(2), named(3)], vec![1, 2, 3]));
    app.handle_key(key('j')); // t2
    app.handle_key(key('K'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::QueueMove {
            id: 2,
            to: QueueMove::Up,
            order: vec![1, 2, 3]
        }]
    );
    assert_eq!(app.queue, [2, 1, 3], "shown at once");
    let s = screen(&app, 120, 30);
    assert!(
        line_of(&s, "t2")
            .trim_start_matches('│')
            .trim_start()
            .starts_with('1'),
        "{s}"
    );
    assert!(
        line_of(&s, "t1")
            .trim_start_matches('│')
            .trim_start()
            .starts_with('2'),
        "{s}"
    );
    app.handle_key(key('K'));
    assert!(app.effects.is_empty(), "first already");
    app.handle_key(key('B'));
    assert_eq!(app.queue, [1, 3, 2]);
    app.handle_key(key('T'));
    app.handle_key(key('J'));
    assert_eq!(app.queue, [1, 2, 3]);
    assert_eq!(app.effects.len(), 3);
    // the keys move torrents in the Torrents pane only
    app.effects.clear();
    app.handle_key(key('2'));
    app.handle_key(key('K'));
    assert!(app.effects.is_empty());
}

#[test]
fn limits_dialog_sets_the_torrents_and_the_engines_limits_and_keeps_bad_input() {
    let mut app = files_app();
    app.handle_key(key('L'));
    assert!(matches!(app.dialog, Some(Dialog::Limits(_))));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("torrent album") && s.contains("downloads at once"),
        "{s}"
    );
    // torrent download 500K; engine upload "fast" (bad); downloads at once 2
    for c in "500K".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(code(KeyCode::Down));
    for c in "fast".chars() {
        app.handle_key(key(c)); // 'f', 'a', 's', 't': typed, not keys of the table
    }
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(key('2'));
    app.handle_key(code(KeyCode::Enter));
    assert!(app.effects.is_empty(), "{:?}", app.effects);
    let Some(Dialog::Limits(form)) = &app.dialog else {
        panic!("bad input stays in the dialog");
    };
    assert_eq!(form.focus, 3, "the bad field has the keyboard");
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("error:") && s.contains("engine upload") && s.contains("not a rate"),
        "{s}"
    );
    // fix it: Ctrl-U clears the field
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in "2M".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert!(app.dialog.is_none());
    let effects: Vec<Effect> = app.effects.drain(..).collect();
    match &effects[..] {
        [
            Effect::SetSettings { id: 1, change, .. },
            Effect::SetLimits { change: l, .. },
        ] => {
            assert_eq!(change.download_limit, Some(500 << 10));
            assert_eq!(change.upload_limit, None, "unchanged fields are not sent");
            assert_eq!((l.upload_limit, l.download_limit), (Some(2 << 20), None));
            assert_eq!(
                (l.max_active_downloads, l.max_active_seeds),
                (Some(2), None)
            );
        }
        other => panic!("{other:?}"),
    }
    // shown at once: the pane's header and the engine's limits
    assert!(screen(&app, 100, 30).contains("limits ↓ 500 KiB/s ↑ none"));
    assert_eq!(app.limits.upload, Some(2 << 20));
    assert_eq!(app.queue_limits.max_active_downloads, Some(2));
    // reopened: the fields hold the values; Esc changes nothing
    app.handle_key(key('L'));
    let Some(Dialog::Limits(form)) = &app.dialog else {
        panic!("dialog");
    };
    let values: Vec<&str> = form.fields.iter().map(|f| f.input.value()).collect();
    assert_eq!(values, ["500K", "", "", "2M", "2", ""]);
    app.handle_key(code(KeyCode::Esc));
    assert!(app.dialog.is_none() && app.effects.is_empty());
    // 0 lifts a limit
    app.handle_key(key('L'));
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    app.handle_key(key('0'));
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(settings_change(&mut app).download_limit, Some(0));
}

#[test]
fn add_dialog_chooses_files_first_and_opens_them_when_the_metadata_arrives() {
    let mut app = App::new(PeerId::default());
    app.handle_key(key('a'));
    app.handle_key(code(KeyCode::Tab));
    assert!(screen(&app, 100, 30).contains("[x] choose files first"));
    let magnet = format!("magnet:?xt=urn:btih:{HASH}&dn=album");
    app.update(Action::Paste(magnet));
    app.handle_key(code(KeyCode::Enter));
    let effects: Vec<Effect> = app.effects.drain(..).collect();
    assert!(
        matches!(&effects[..], [Effect::AddMagnetToChoose(m)] if m.info_hash.to_string() == HASH),
        "{effects:?}"
    );
    // another torrent's metadata does not open anything
    app.update(snapshot(vec![album(3)], vec![3]));
    app.update(metadata(3));
    assert_eq!(app.pane, Pane::Torrents);
    // the engine adds it, fetches its metadata and stops: its files open
    app.update(Action::Engine(Box::new(EngineEvent::TorrentAdded {
        id: 7,
        info_hash: HASH.parse::<InfoHash>().unwrap(),
        name: "album".into(),
    })));
    app.update(metadata(7));
    assert_eq!(app.pane, Pane::Files);
    assert_eq!(app.torrent().map(|t| t.id), Some(7));
    let mut t = album(7);
    t.state = TorrentState::Paused;
    app.update(snapshot(vec![album(3), t], vec![3, 7]));
    let s = screen(&app, 120, 30);
    assert!(
        s.contains("Files of album") && s.contains("p starts it"),
        "{s}"
    );
    // choose, then p starts it
    app.handle_key(key('N'));
    assert!(matches!(
        &app.effects[..],
        [Effect::SetSettings { id: 7, .. }]
    ));
    app.effects.clear();
    app.handle_key(key('p'));
    assert_eq!(app.effects, [Effect::Resume(7)]);

    // a .torrent file: its info hash is read at once; Tab off adds it as usual
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("album.torrent");
    std::fs::write(&path, torrent_file()).unwrap();
    let mut app = App::new(PeerId::default());
    app.handle_key(key('a'));
    app.handle_key(code(KeyCode::Tab));
    app.update(Action::Paste(path.display().to_string()));
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        [Effect::AddTorrentFileToChoose(path.clone())]
    );
    app.update(Action::Engine(Box::new(EngineEvent::TorrentAdded {
        id: 1,
        info_hash: metainfo().info_hash,
        name: "album".into(),
    })));
    app.update(metadata(1));
    assert_eq!(app.pane, Pane::Files);
    // a path that is not a .torrent: an error, nothing added
    app.handle_key(key('a'));
    app.handle_key(code(KeyCode::BackTab));
    app.update(Action::Paste(
        dir.path().join("missing.torrent").display().to_string(),
    ));
    app.handle_key(code(KeyCode::Enter));
    assert!(app.effects.is_empty());
    assert!(
        app.notices.back().is_some_and(|n| n.error),
        "{:?}",
        app.notices.back()
    );
    app.handle_key(key('a'));
    app.handle_key(code(KeyCode::Tab));
    app.handle_key(code(KeyCode::Tab));
    app.update(Action::Paste(path.display().to_string()));
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(app.effects, [Effect::AddTorrentFile(path)]);
}

#[test]
fn new_views_render_at_any_size_and_hostile_pictures_do_not_panic() {
    let mut app = files_app();
    // a picture whose lists do not match the files (an attached instance may send anything)
    let mut odd = album(1);
    odd.files = vec![High; 2].into();
    odd.pieces = vec![PieceView::Verified; 50].into();
    odd.settings.wants.files = FileSelection::Priorities(vec![]);
    app.update(snapshot(vec![odd, album(2)], vec![2, 9, 1]));
    for c in [' ', '+', '-', 'A', 'N', 's', 'f', 'j', 'h', 'l', 'G', 'g'] {
        app.handle_key(key(c));
    }
    let dialogs = [None, Some(Action::LimitsPrompt), Some(Action::AddPrompt)];
    for d in dialogs {
        app.dialog = None;
        if let Some(a) = d {
            app.update(a);
        }
        for pane in [Pane::Files, Pane::Torrents] {
            app.pane = pane;
            for (w, h) in [
                (0, 0),
                (1, 1),
                (3, 7),
                (10, 3),
                (20, 5),
                (40, 10),
                (80, 24),
                (120, 40),
                (200, 60),
            ] {
                let s = screen(&app, w, h);
                assert_eq!(s.lines().count(), h as usize);
            }
        }
    }
    // hostile keys in the limits dialog
    app.dialog = None;
    app.update(Action::LimitsPrompt);
    for c in ['\u{0}', '€', '9', 'e', '9', '9', 'G'] {
        app.handle_key(key(c));
    }
    app.update(Action::Paste("\u{1b}[31m99999999999999999999999G".into()));
    app.handle_key(code(KeyCode::Enter));
    assert!(
        matches!(app.dialog, Some(Dialog::Limits(_))),
        "bad input stays"
    );
    let _ = screen(&app, 80, 24);
}
