//! The dashboard rendered into ratatui's `TestBackend` from synthetic engine snapshots: each
//! pane's content, every pane at tiny sizes (0x0, 1x1...) without panics, the help overlay
//! generated from the key table, and a whole-app run fed keys, a bracketed paste of a magnet
//! and engine events.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

mod common;

use common::screen::screen;
use fast_peer::engine::conn::Wire;
use fast_peer::engine::event::{
    DhtBucketSnapshot, DhtLookupKind, DhtLookupSnapshot, DhtNodeSnapshot, DhtNodeState,
    DhtSnapshot, Direction, EngineEvent, MetadataPeerSnapshot, MetadataSnapshot, PeerSnapshot,
    PieceView, TorrentSnapshot, TorrentState, WireLogEntry,
};
use fast_peer::proto::extension::ExtensionHandshake;
use fast_peer::proto::id::{InfoHash, NodeId, PeerId};
use fast_peer::tui::action::{Action, KEYS, Pane};
use fast_peer::tui::app::{App, Dialog, Effect};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

const HASH: &str = "0123456789abcdef0123456789abcdef01234567";
/// A magnet with a bad (39-character) info hash: the error must point at it.
const BAD_MAGNET: &str = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef0123456&dn=oops";

fn good_magnet() -> String {
    format!(
        "magnet:?xt=urn:btih:{HASH}&dn=ubuntu.iso&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&x.pe=127.0.0.1:7000"
    )
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn peer(port: u16, id: &[u8; 20], rate: f64, in_flight: Vec<u32>) -> PeerSnapshot {
    let mut m = BTreeMap::new();
    m.insert("ut_metadata".to_string(), 3u8);
    m.insert("ut_pex".to_string(), 1u8);
    PeerSnapshot {
        addr: addr(port),
        peer_id: PeerId(*id),
        incoming: port.is_multiple_of(2),
        am_choking: true,
        am_interested: true,
        peer_choking: false,
        peer_interested: false,
        snubbed: false,
        fast: true,
        // odd ports: RC4 (MSE), even: plaintext
        wire: if port.is_multiple_of(2) {
            Wire::Plaintext
        } else {
            Wire::Rc4
        },
        transport: Default::default(),
        last_block: Some(Duration::from_secs(3)),
        pieces: 20,
        downloaded: 1 << 20,
        uploaded: 0,
        download_rate: rate,
        upload_rate: rate / 4.0,
        requests_in_flight: in_flight.len() as u32 * 4,
        pieces_in_flight: in_flight,
        reserved: [0, 0, 0, 0, 0, 0x10, 0, 0x05],
        extension: Some(Arc::new(ExtensionHandshake {
            m,
            v: Some("libtorrent 2.0.8".into()),
            reqq: Some(250),
            metadata_size: Some(31_337),
            ..ExtensionHandshake::default()
        })),
        recent: vec![
            WireLogEntry {
                direction: Direction::In,
                kind: "bitfield",
                index: None,
                length: 13,
                age: Duration::from_secs(3),
            },
            WireLogEntry {
                direction: Direction::Out,
                kind: "request",
                index: Some(7),
                length: 16384,
                age: Duration::from_millis(200),
            },
            WireLogEntry {
                direction: Direction::In,
                kind: "piece",
                index: Some(7),
                length: 16384,
                age: Duration::from_millis(100),
            },
        ],
    }
}

/// A torrent of `n` pieces: the first half verified, piece 3 failed, pieces 5..8 requested.
fn torrent(id: u64, n: u32) -> TorrentSnapshot {
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
    let availability: Vec<u16> = (0..n).map(|i| (i % 7) as u16).collect();
    TorrentSnapshot {
        id,
        info_hash: HASH.parse().expect("hash"),
        name: format!("debian-{id}.iso"),
        state: TorrentState::Downloading,
        total_length: n as u64 * 262_144,
        piece_count: n,
        pieces_verified: n / 2,
        bytes_left: (n as u64 - n as u64 / 2) * 262_144,
        downloaded: 5 << 20,
        uploaded: 1 << 20,
        download_rate: 2.0 * 1024.0 * 1024.0,
        upload_rate: 100.0 * 1024.0,
        in_endgame: false,
        hash_failures: 1,
        known_peers: 9,
        peers: vec![
            peer(7001, b"-LT2080-abcdefghijkl", 900_000.0, vec![5, 6]),
            peer(7002, b"-qB4500-abcdefghijkl", 100_000.0, vec![7]),
            peer(7003, b"M7-4-3--abcdefghijkl", 500_000.0, vec![]),
        ],
        elapsed: Duration::from_secs(75),
        metadata: None,
        pieces: pieces.into(),
        availability: availability.into(),
        settings: Default::default(),
        files: Vec::new().into(),
        diagnostics: Default::default(),
    }
}

fn magnet_torrent(id: u64) -> TorrentSnapshot {
    let mut t = torrent(id, 0);
    t.name = "ubuntu.iso".into();
    t.state = TorrentState::FetchingMetadata;
    t.total_length = 0;
    t.bytes_left = 0;
    t.peers.clear();
    t.metadata = Some(MetadataSnapshot {
        size: Some(40_000),
        pieces_received: vec![true, false, false],
        piece_peers: vec![Some(addr(7101)), Some(addr(7102)), None],
        peers: vec![
            MetadataPeerSnapshot {
                addr: addr(7101),
                advertises: true,
                claimed_size: Some(40_000),
                requested: 1,
                received: 1,
                rejected: 0,
            },
            MetadataPeerSnapshot {
                addr: addr(7102),
                advertises: true,
                claimed_size: Some(40_000),
                requested: 1,
                received: 0,
                rejected: 0,
            },
            MetadataPeerSnapshot {
                addr: addr(7103),
                advertises: false,
                claimed_size: None,
                requested: 0,
                received: 0,
                rejected: 0,
            },
        ],
    });
    t
}

fn dht() -> DhtSnapshot {
    let node = |i: u8, state| DhtNodeSnapshot {
        id: NodeId([i; 20]),
        addr: addr(6000 + i as u16),
        state,
        rtt: Some(Duration::from_millis(20)),
        last_seen: Some(Duration::from_secs(5)),
    };
    DhtSnapshot {
        node_id: NodeId([0xab; 20]),
        port: 6881,
        buckets: vec![
            DhtBucketSnapshot {
                prefix_len: 0,
                nodes: vec![
                    node(1, DhtNodeState::Good),
                    node(2, DhtNodeState::Questionable),
                    node(3, DhtNodeState::Bad),
                ],
                replacements: 2,
                since_changed: Duration::from_secs(65),
            },
            DhtBucketSnapshot {
                prefix_len: 1,
                nodes: vec![node(4, DhtNodeState::Good)],
                replacements: 0,
                since_changed: Duration::from_secs(3),
            },
        ],
        lookups: vec![DhtLookupSnapshot {
            kind: DhtLookupKind::GetPeers,
            target: NodeId([0x11; 20]),
            queried: 23,
            in_flight: 3,
            timed_out: 2,
            peers_found: 17,
            elapsed: Duration::from_secs(2),
            done: false,
        }],
        stored_torrents: 1,
        stored_peers: 4,
        queries_received: 10,
        queries_sent: 40,
        responses_received: 35,
        timeouts: 5,
    }
}

fn snapshot(torrents: Vec<TorrentSnapshot>, dht: Option<DhtSnapshot>) -> Action {
    common::screen::picture(torrents, Vec::new(), dht)
}

fn app_with(torrents: Vec<TorrentSnapshot>, dht: Option<DhtSnapshot>) -> App {
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    app.update(snapshot(torrents, dht));
    app
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn go(app: &mut App, pane: Pane) {
    app.update(Action::GoTo(pane));
    assert_eq!(app.pane, pane);
}

#[test]
fn torrents_pane_lists_name_size_progress_state_rates_peers() {
    let app = app_with(vec![torrent(1, 40), magnet_torrent(2)], None);
    let s = screen(&app, 120, 30);
    assert!(s.contains("debian-1.iso"), "{s}");
    assert!(s.contains("10 MiB"), "size: {s}");
    assert!(s.contains("50.0%"), "progress: {s}");
    assert!(s.contains("downloading"), "{s}");
    assert!(s.contains("2 MiB/s"), "down rate: {s}");
    assert!(s.contains("100 KiB/s"), "up rate: {s}");
    assert!(s.contains("3/9"), "peers connected/known: {s}");
    assert!(
        s.contains("ubuntu.iso") && s.contains("fetching metadata"),
        "{s}"
    );
    assert!(s.contains(HASH), "details show the info hash: {s}");
    assert!(s.contains("1 hash failures"), "{s}");
    // the status bar: total rates, DHT state and the port
    assert!(s.contains("DHT off") && s.contains("port 6881"), "{s}");
}

#[test]
fn torrents_pane_empty_explains_how_to_add() {
    let app = app_with(vec![], None);
    let s = screen(&app, 80, 24);
    assert!(s.contains("No torrents"), "{s}");
}

#[test]
fn piece_map_colours_states_and_lists_endgame_pieces() {
    let mut t = torrent(1, 40);
    t.in_endgame = true;
    let mut app = app_with(vec![t], None);
    go(&mut app, Pane::Pieces);
    let s = screen(&app, 100, 30);
    assert!(s.contains("40 pieces"), "{s}");
    // 40 pieces in a 64x27 map: each piece takes 4 cells
    assert!(s.contains("per piece: 4 cells"), "{s}");
    assert!(s.contains("verified 20"), "{s}");
    assert!(s.contains("requested 3"), "{s}");
    assert!(s.contains("failed hash 1"), "{s}");
    // glyphs: one cell per piece, in order
    let row = s.lines().nth(2).expect("map row");
    let cells: String = row.chars().skip(1).take(32).collect();
    assert_eq!(cells, "············XXXX····▒▒▒▒▒▒▒▒▒▒▒▒", "{row}");
    let last_row = s.lines().nth(4).expect("third map row");
    assert!(
        last_row.chars().skip(1).take(32).all(|c| c == '█'),
        "{last_row}"
    );
    // endgame: the last pieces and who fetches them
    assert!(s.contains("ENDGAME"), "{s}");
    assert!(s.contains("#5 ← 127.0.0.1:7001"), "{s}");
    assert!(s.contains("#7 ← 127.0.0.1:7002"), "{s}");
}

#[test]
fn piece_map_highlights_the_selected_peers_requests() {
    let mut app = app_with(vec![torrent(1, 40)], None);
    go(&mut app, Pane::Peers);
    app.update(Action::Top); // explicit selection: the fastest peer (7001) under the default sort
    go(&mut app, Pane::Pieces);
    let s = screen(&app, 100, 30);
    assert!(s.contains("in flight from 127.0.0.1:7001"), "{s}");
}

#[test]
fn piece_map_scales_100000_pieces_and_shows_rarity() {
    let mut app = app_with(vec![torrent(1, 100_000)], None);
    go(&mut app, Pane::Pieces);
    let s = screen(&app, 80, 24);
    assert!(s.contains("100000 pieces"), "{s}");
    // 80x24 leaves 44x20 = 880 map cells beside the legend: 114 pieces per cell
    assert!(s.contains("per cell: 114 pieces"), "{s}");
    app.update(Action::ToggleRarity);
    let s = screen(&app, 80, 24);
    assert!(s.contains("rarity"), "{s}");
    assert!(s.contains("no peer has it"), "{s}");
}

#[test]
fn peers_pane_shows_clients_flags_and_sorts() {
    let mut app = app_with(vec![torrent(1, 40)], None);
    go(&mut app, Pane::Peers);
    let s = screen(&app, 120, 20);
    let lt = PeerId(*b"-LT2080-abcdefghijkl")
        .client()
        .expect("libtorrent id");
    assert!(s.contains(&lt), "client from the peer id: {s}");
    assert!(s.contains("BitTorrent (Mainline) 7.4.3"), "{s}");
    assert!(
        s.contains("ci...FER>") && s.contains("ci...FE.<"),
        "flags: {s}"
    );
    assert!(s.contains("sort: down"), "{s}");
    let order = |s: &str| -> Vec<usize> {
        [7001, 7002, 7003]
            .iter()
            .map(|p| s.find(&format!("127.0.0.1:{p}")).expect("peer row"))
            .collect()
    };
    let o = order(&s);
    assert!(o[0] < o[2] && o[2] < o[1], "sorted by download rate: {s}");
    app.handle_key(key('s')); // up
    app.handle_key(key('s')); // progress
    app.handle_key(key('s')); // requests
    let s = screen(&app, 120, 20);
    assert!(s.contains("sort: requests"), "{s}");
    let o = order(&s);
    assert!(o[0] < o[1] && o[1] < o[2], "by requests in flight: {s}");
    app.handle_key(key('S'));
    let s = screen(&app, 120, 20);
    let o = order(&s);
    assert!(o[2] < o[1] && o[1] < o[0], "reversed: {s}");
}

#[test]
fn dht_pane_off_and_on() {
    let mut app = app_with(vec![], None);
    go(&mut app, Pane::Dht);
    assert!(screen(&app, 80, 24).contains("DHT off"));
    let mut app = app_with(vec![], Some(dht()));
    go(&mut app, Pane::Dht);
    let s = screen(&app, 120, 30);
    assert!(
        s.contains(&NodeId([0xab; 20]).to_string()),
        "our node id: {s}"
    );
    assert!(s.contains("nodes 4 in 2 buckets"), "{s}");
    assert!(s.contains("get_peers"), "{s}");
    assert!(s.contains("●◐○"), "node states: {s}");
    assert!(s.contains("DHT 4 nodes"), "status bar: {s}");
}

#[test]
fn metadata_pane_shows_pieces_peers_and_verified_hash() {
    let mut app = app_with(vec![magnet_torrent(1)], None);
    go(&mut app, Pane::Metadata);
    let s = screen(&app, 100, 30);
    assert!(s.contains("40000 bytes, 1/3 pieces"), "{s}");
    assert!(
        s.contains("received") && s.contains("requested") && s.contains("missing"),
        "{s}"
    );
    assert!(
        s.contains("127.0.0.1:7101") && s.contains("127.0.0.1:7103"),
        "{s}"
    );
    assert!(s.contains(HASH), "{s}");
}

#[test]
fn decode_pane_tree_offsets_piece_hashes_and_info_hash() {
    // a tiny torrent: info = {length: 5, name: "a", piece length: 16384, pieces: 20 bytes}
    let pieces = [0xaau8; 20];
    let mut raw =
        b"d8:announce9:http://x/4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:"
            .to_vec();
    raw.extend_from_slice(&pieces);
    raw.extend_from_slice(b"ee");
    let info_start = raw
        .windows(5)
        .position(|w| w == b"4:inf")
        .expect("info key")
        + 6;
    let expected = fast_peer::proto::metainfo::info_hash_of(&raw[info_start..raw.len() - 1]);
    let mut app = app_with(vec![], None);
    go(&mut app, Pane::Decode);
    app.update(Action::Paste(String::from_utf8_lossy(&raw).into_owned()));
    // pasting went through from_text: non-UTF-8 bytes would be replaced, so use the state directly too
    app.decode = fast_peer::tui::decode::DecodeState::from_bytes(&raw, "test".into());
    let s = screen(&app, 100, 30);
    assert!(
        s.contains(&expected.to_string()),
        "info hash from the raw span: {s}"
    );
    assert!(
        s.contains(&format!("bytes {}..{}", info_start, raw.len() - 1)),
        "{s}"
    );
    assert!(s.contains("announce: \"http://x/\""), "{s}");
    assert!(s.contains("▸ pieces"), "pieces start collapsed: {s}");
    // offsets: the announce value starts at byte 11
    assert!(
        s.lines()
            .any(|l| l.contains("      11") && l.contains("announce")),
        "{s}"
    );
    // open the pieces node: select it and press Enter
    let pos = app
        .decode
        .nodes
        .iter()
        .position(|n| n.key.as_deref() == Some("pieces"))
        .expect("pieces node");
    while app.decode.selected != pos {
        app.update(Action::Down);
    }
    app.update(Action::Select);
    let s = screen(&app, 100, 30);
    assert!(s.contains(&format!("piece 0: {}", "aa".repeat(20))), "{s}");
    // Left on an open node closes it; again moves to the parent
    app.update(Action::Left);
    assert!(screen(&app, 100, 30).contains("▸ pieces"));
    app.update(Action::Left);
    assert_eq!(
        app.decode.nodes[app.decode.selected].key.as_deref(),
        Some("info")
    );
}

#[test]
fn decode_pane_reports_bad_bencode_with_offset() {
    let mut app = app_with(vec![], None);
    go(&mut app, Pane::Decode);
    app.update(Action::Paste("d3:fooi12xe".into()));
    let s = screen(&app, 100, 20);
    assert!(s.contains("error:") && s.contains("offset"), "{s}");
}

#[test]
fn decode_pane_opens_a_torrent_file_by_path() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/codercat.gif.torrent"
    );
    let mut app = app_with(vec![], None);
    go(&mut app, Pane::Decode);
    app.handle_key(key('o'));
    assert!(app.decode_input.is_some());
    for c in path.chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    let bytes = std::fs::read(path).expect("fixture");
    let m = fast_peer::proto::metainfo::Metainfo::from_bytes(&bytes).expect("fixture parses");
    let s = screen(&app, 100, 30);
    assert!(s.contains(&m.info_hash.to_string()), "{s}");
}

#[test]
fn magnet_pane_parses_as_you_type_and_points_at_errors() {
    let mut app = app_with(vec![], None);
    app.handle_key(key('m'));
    assert_eq!(app.pane, Pane::Magnet);
    for c in good_magnet().chars() {
        app.handle_key(key(c));
    }
    let s = screen(&app, 120, 30);
    assert!(s.contains("valid magnet link"), "{s}");
    assert!(s.contains(HASH) && s.contains("ubuntu.iso"), "{s}");
    assert!(
        s.contains("http://127.0.0.1:6969/announce"),
        "trackers decoded: {s}"
    );
    assert!(s.contains("127.0.0.1:7000"), "peers: {s}");
    // clear it (Ctrl-U) and type a bad one
    app.handle_key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL));
    for c in BAD_MAGNET.chars() {
        app.handle_key(key(c));
    }
    let s = screen(&app, 120, 30);
    assert!(s.contains("error:") && s.contains("39 characters"), "{s}");
    assert!(
        s.contains("bad part: urn:btih:0123456789abcdef0123456789abcdef0123456"),
        "{s}"
    );
    // Enter on a bad magnet adds nothing
    app.handle_key(code(KeyCode::Enter));
    assert!(app.effects.is_empty());
}

#[test]
fn handshake_pane_side_by_side_with_reserved_bits_and_messages() {
    let mut app = app_with(vec![torrent(1, 40)], None);
    go(&mut app, Pane::Handshake);
    let s = screen(&app, 120, 34);
    assert!(s.contains("ours") && s.contains("theirs"), "{s}");
    let selected = app.selected_peer().expect("a selected peer");
    assert!(
        s.contains(&format!(
            "Handshake with {} · {}",
            selected.addr,
            selected.wire.label()
        )),
        "{s}"
    );
    // both sides set BEP 10, BEP 5 (DHT) and BEP 6 (Fast)
    assert_eq!(
        s.matches("bits: extension protocol, dht, fast").count(),
        2,
        "ours and theirs decoded: {s}"
    );
    assert!(s.contains("v: libtorrent 2.0.8"), "{s}");
    assert!(s.contains("ut_metadata=3 ut_pex=1"), "{s}");
    assert!(
        s.contains("reqq: 250") && s.contains("metadata_size: 31337"),
        "{s}"
    );
    assert!(s.contains("reqq: 500"), "ours: {s}");
    assert!(
        s.contains("→ out  request") && s.contains("← in   piece"),
        "{s}"
    );
}

#[test]
fn help_overlay_is_the_key_table() {
    let mut app = app_with(vec![], None);
    app.handle_key(key('?'));
    assert!(app.help);
    let s = screen(&app, 100, 45);
    for b in KEYS {
        assert!(s.contains(b.help), "help lists {:?}: {s}", b.help);
    }
    // at 80x24 the table goes into columns: every key is still there
    let s = screen(&app, 80, 24);
    for b in KEYS {
        assert!(
            s.contains(b.label),
            "help at 80x24 lists {:?}: {s}",
            b.label
        );
    }
    app.handle_key(key('x'));
    assert!(!app.help, "any key closes the help");
}

#[test]
fn every_pane_renders_at_any_size_without_panicking() {
    let mut app = app_with(vec![torrent(1, 100_000), magnet_torrent(2)], Some(dht()));
    app.update(Action::Paste("d1:ai1ee".into()));
    for pane in Pane::ALL {
        go(&mut app, pane);
        for (w, h) in [
            (0, 0),
            (1, 1),
            (0, 5),
            (5, 0),
            (2, 2),
            (3, 7),
            (10, 3),
            (20, 5),
            (40, 10),
            (80, 24),
            (200, 60),
        ] {
            let _ = screen(&app, w, h);
            app.help = true;
            let _ = screen(&app, w, h);
            app.help = false;
            app.dialog = Some(Dialog::ConfirmQuit);
            let _ = screen(&app, w, h);
            app.dialog = None;
        }
    }
    let s = screen(&app, 1, 1);
    assert_eq!(s.chars().filter(|c| *c != '\n').count(), 1);
}

#[test]
fn whole_app_keys_paste_and_engine_events() {
    let mut app = App::new(PeerId(*b"-FP0100-ourpeerid123"));
    // the engine reports a torrent, then a snapshot of it
    app.update(Action::Engine(Box::new(EngineEvent::TorrentAdded {
        id: 1,
        info_hash: HASH.parse::<InfoHash>().expect("hash"),
        name: "debian-1.iso".into(),
    })));
    assert!(screen(&app, 80, 24).contains("debian-1.iso"));
    app.update(snapshot(vec![torrent(1, 40)], None));
    let s = screen(&app, 80, 24);
    assert!(s.contains("50.0%"), "{s}");

    // Tab / Shift-Tab / number keys switch panes
    app.handle_key(code(KeyCode::Tab));
    assert_eq!(app.pane, Pane::Pieces);
    app.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(app.pane, Pane::Torrents);
    app.handle_key(key('3'));
    assert_eq!(app.pane, Pane::Peers);
    app.handle_key(key('j'));
    app.handle_key(key('j'));
    app.handle_key(key('k'));
    assert_eq!(
        app.peer,
        Some(addr(7003)),
        "hjkl move through the sorted peers"
    );
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(app.pane, Pane::Handshake);
    assert!(screen(&app, 100, 30).contains("Handshake with 127.0.0.1:7003"));

    // pause
    app.handle_key(key('1'));
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        vec![Effect::Pause(1)]
    );
    app.update(Action::Engine(Box::new(EngineEvent::StateChanged {
        id: 1,
        state: TorrentState::Paused,
    })));
    assert!(screen(&app, 100, 24).contains("paused"));
    app.handle_key(key('p'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        vec![Effect::Resume(1)]
    );

    // a bracketed paste of a magnet, from the torrents pane: lands in the magnet box
    app.update(Action::Paste(good_magnet()));
    assert_eq!(app.pane, Pane::Magnet);
    let s = screen(&app, 120, 30);
    assert!(s.contains("valid magnet link"), "{s}");
    app.handle_key(code(KeyCode::Enter));
    let effects: Vec<Effect> = app.effects.drain(..).collect();
    assert!(
        matches!(&effects[..], [Effect::AddMagnet(m)] if m.info_hash.to_string() == HASH && m.name.as_deref() == Some("ubuntu.iso")),
        "{effects:?}"
    );
    assert_eq!(
        app.pane,
        Pane::Torrents,
        "Enter adds and returns to the torrents"
    );
    // the engine answers with the new torrent and its metadata progress
    app.update(Action::Engine(Box::new(EngineEvent::TorrentAdded {
        id: 2,
        info_hash: HASH.parse::<InfoHash>().expect("hash"),
        name: "ubuntu.iso".into(),
    })));
    app.update(snapshot(vec![torrent(1, 40), magnet_torrent(2)], None));
    let s = screen(&app, 100, 24);
    assert!(
        s.contains("ubuntu.iso") && s.contains("fetching metadata"),
        "{s}"
    );

    // m then typing: keys go to the box, not to the key table ('q' does not quit)
    app.handle_key(key('m'));
    app.handle_key(key('q'));
    assert!(!app.should_quit);
    assert_eq!(app.magnet.value(), "q");
    app.handle_key(code(KeyCode::Esc));
    app.handle_key(key('1'));
    assert_eq!(app.pane, Pane::Torrents);

    // a hash failure and a ban reach the status bar
    app.update(Action::Engine(Box::new(EngineEvent::HashFailed {
        id: 1,
        index: 3,
        peers: vec![addr(7002)],
    })));
    assert!(screen(&app, 100, 24).contains("hash failure: piece 3 from 127.0.0.1:7002"));

    // remove: asks, k keeps the data
    app.handle_key(key('d'));
    assert!(matches!(
        app.dialog,
        Some(Dialog::ConfirmRemove { id: 1, .. })
    ));
    assert!(screen(&app, 100, 24).contains("Remove debian-1.iso?"));
    app.handle_key(key('k'));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        vec![Effect::Remove {
            id: 1,
            delete_data: false
        }]
    );
    assert!(
        !screen(&app, 100, 24).contains("debian-1.iso"),
        "the row goes at once"
    );
    // a late snapshot still listing it does not bring it back
    app.update(snapshot(vec![torrent(1, 40), magnet_torrent(2)], None));
    assert!(!screen(&app, 100, 24).contains("debian-1.iso"));

    // q while downloading asks; n stays; y quits
    app.handle_key(key('q'));
    assert!(matches!(app.dialog, Some(Dialog::ConfirmQuit)));
    assert!(screen(&app, 100, 24).contains("Quit?"));
    app.handle_key(key('n'));
    assert!(!app.should_quit && app.dialog.is_none());
    app.handle_key(key('q'));
    app.handle_key(key('y'));
    assert!(app.should_quit);
}

#[test]
fn quit_without_downloads_does_not_ask_and_ctrl_c_always_quits() {
    let mut t = torrent(1, 40);
    t.state = TorrentState::Seeding;
    let mut app = app_with(vec![t], None);
    app.handle_key(key('q'));
    assert!(app.should_quit && app.dialog.is_none());

    let mut app = app_with(vec![torrent(1, 40)], None);
    app.handle_key(key('m'));
    app.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.should_quit, "Ctrl-C quits even while typing");
}

#[test]
fn add_prompt_takes_a_path_or_a_magnet() {
    let mut app = app_with(vec![], None);
    app.handle_key(key('a'));
    for c in "/tmp/x.torrent".chars() {
        app.handle_key(key(c));
    }
    app.handle_key(code(KeyCode::Enter));
    assert_eq!(
        app.effects.drain(..).collect::<Vec<_>>(),
        vec![Effect::AddTorrentFile("/tmp/x.torrent".into())]
    );
    app.handle_key(key('a'));
    app.update(Action::Paste(good_magnet()));
    app.handle_key(code(KeyCode::Enter));
    assert!(matches!(&app.effects[..], [Effect::AddMagnet(_)]));
}
