//! One synthetic picture per verdict, and the order in which the checks win.

use super::*;
use crate::engine::event::{
    DhtStatus, MetadataSnapshot, PeerSnapshot, PieceView, TorrentSnapshot, TrackerStatus,
};
use crate::proto::id::{InfoHash, PeerId};
use std::net::SocketAddr;

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// A downloading torrent of 10 pieces, 4 verified, 6 missing, every piece on two peers.
fn downloading() -> TorrentSnapshot {
    let mut t = TorrentSnapshot::fetching_metadata(1, InfoHash([1; 20]), "t".into());
    t.state = TorrentState::Downloading;
    t.piece_count = 10;
    t.total_length = 10 << 20;
    t.bytes_left = 6 << 20;
    let mut pieces = vec![PieceView::Verified; 4];
    pieces.extend([PieceView::Missing; 5]);
    pieces.push(PieceView::Requested);
    t.pieces = pieces.into();
    t.availability = vec![2; 10].into();
    t
}

/// A peer with pieces we lack that unchokes us (`choking`: it chokes us) at `rate`.
fn peer(port: u16, rate: f64, choking: bool) -> PeerSnapshot {
    PeerSnapshot {
        am_interested: true,
        peer_choking: choking,
        download_rate: rate,
        pieces: 10,
        ..PeerSnapshot::new(SocketAddr::from(([127, 0, 0, 1], port)), PeerId([0; 20]))
    }
}

fn line(t: &TorrentSnapshot) -> String {
    verdict(t, EngineLoad::default()).to_string()
}

#[test]
fn slow_uploaders_are_the_peers_upload() {
    let mut t = downloading();
    t.peers = (0..5).map(|i| peer(i, 360.0 * KIB, false)).collect();
    t.peers[0].download_rate = 497.0 * KIB;
    t.download_rate = 1.8 * MIB;
    assert_eq!(
        line(&t),
        "bottleneck: peers' upload (5 peers unchoke us, 1.8 MiB/s total, each under 512 KiB/s)"
    );
}

#[test]
fn a_saturated_download_is_none() {
    let mut t = downloading();
    t.peers = vec![peer(1, 200.0 * MIB, false), peer(2, 180.0 * MIB, false)];
    t.download_rate = 380.0 * MIB;
    assert_eq!(line(&t), "bottleneck: none");
    assert!(verdict(&t, EngineLoad::default()).is_none());
}

#[test]
fn choked_by_every_peer_that_has_what_we_lack() {
    let mut t = downloading();
    t.peers = vec![peer(1, 0.0, true), peer(2, 0.0, true)];
    // a peer with nothing we want does not count, choking or not
    let mut useless = peer(3, 0.0, false);
    useless.am_interested = false;
    useless.pieces = 2;
    t.peers.push(useless);
    assert_eq!(
        line(&t),
        "bottleneck: choked by every peer (2 peers have what we lack)"
    );
}

#[test]
fn nobody_has_the_missing_pieces() {
    let mut t = downloading();
    // the last piece was being fetched; now nothing is in flight and nobody has the rest
    let mut pieces = t.pieces.to_vec();
    pieces[9] = PieceView::Missing;
    pieces[8] = PieceView::Failed;
    t.pieces = pieces.into();
    let mut av = vec![1u16; 4];
    av.extend([0; 6]);
    t.availability = av.into();
    let mut p = peer(1, 0.0, false);
    p.am_interested = false;
    p.pieces = 4;
    t.peers = vec![p];
    assert_eq!(
        line(&t),
        "bottleneck: no peer has the missing pieces (6 pieces, availability 0)"
    );
}

#[test]
fn no_peers_says_what_the_sources_said() {
    let mut t = downloading();
    t.diagnostics.trackers = vec![TrackerStatus {
        url: "http://127.0.0.1:1/announce".into(),
        last: Some(Err("connection refused".into())),
    }];
    t.diagnostics.dht = Some(DhtStatus {
        lookups: 3,
        peers: 0,
    });
    assert_eq!(
        line(&t),
        "bottleneck: no peers (tracker: connection refused; DHT: 0 peers after 3 lookups)"
    );
    t.known_peers = 4;
    t.diagnostics.dht = None;
    t.diagnostics.trackers.push(TrackerStatus {
        url: "udp://127.0.0.1:2".into(),
        last: Some(Ok(4)),
    });
    assert_eq!(
        line(&t),
        "bottleneck: no peers (4 known, none connected; tracker: 4 peers from 1 of 2; DHT: off)"
    );
    t.diagnostics.trackers.clear();
    assert_eq!(
        line(&t),
        "bottleneck: no peers (4 known, none connected; tracker: none; DHT: off)"
    );
}

#[test]
fn our_limit_the_torrents_and_the_engines() {
    let mut t = downloading();
    t.peers = vec![peer(1, 2.0 * MIB, false)];
    t.download_rate = 1.95 * MIB;
    t.settings.limits.download = Some(2 << 20);
    assert_eq!(line(&t), "bottleneck: our download limit (2 MiB/s)");
    t.settings.limits.download = None;
    let engine = EngineLoad {
        download_limit: Some(3 << 20),
        download_rate: 2.9 * MIB,
    };
    assert_eq!(
        verdict(&t, engine).to_string(),
        "bottleneck: our download limit (3 MiB/s, every torrent)"
    );
    // a limit far above the rate is not the bottleneck
    t.settings.limits.download = Some(100 << 20);
    assert!(matches!(
        verdict(&t, EngineLoad::default()),
        Verdict::PeersUpload { .. }
    ));
}

#[test]
fn the_disk_and_the_hasher() {
    let mut t = downloading();
    t.peers = vec![peer(1, 3.0 * MIB, false)];
    t.download_rate = 3.0 * MIB;
    t.diagnostics.disk_queue_full = 0.8;
    assert_eq!(
        line(&t),
        "bottleneck: disk writes (queue full 80 % of the last 10 s)"
    );
    // a busy hasher backs the disk queue up: it is named first
    t.diagnostics.hash_busy = 0.97;
    assert_eq!(
        line(&t),
        "bottleneck: hashing (hasher busy 97 % of the last 10 s)"
    );
}

#[test]
fn states_that_are_not_downloading() {
    let mut t = downloading();
    for (state, text) in [
        (TorrentState::Paused, "bottleneck: paused"),
        (
            TorrentState::Queued,
            "bottleneck: queued (waiting for a download slot)",
        ),
        (
            TorrentState::Checking,
            "bottleneck: checking the data on disk",
        ),
        (TorrentState::Failed, "bottleneck: stopped on an error"),
        (TorrentState::Seeding, "bottleneck: none"),
    ] {
        t.state = state;
        assert_eq!(line(&t), text);
    }
    let mut m = TorrentSnapshot::fetching_metadata(2, InfoHash([2; 20]), "m".into());
    assert_eq!(line(&m), "bottleneck: waiting for metadata (0 peers)");
    m.peers = vec![peer(1, 0.0, true)];
    m.metadata = Some(MetadataSnapshot {
        size: Some(40_000),
        pieces_received: vec![true, false, false],
        piece_peers: vec![None; 3],
        peers: Vec::new(),
    });
    assert_eq!(
        line(&m),
        "bottleneck: waiting for metadata (1/3 pieces, 1 peers)"
    );
}

#[test]
fn the_first_check_that_holds_wins() {
    // no peers beats everything below it, even a full disk queue
    let mut t = downloading();
    t.diagnostics.disk_queue_full = 1.0;
    assert!(matches!(line(&t), s if s.starts_with("bottleneck: no peers")));
    // our limit beats a choking swarm
    t.peers = vec![peer(1, 1.0 * MIB, true)];
    t.download_rate = 1.0 * MIB;
    t.settings.limits.download = Some(1 << 20);
    assert!(matches!(
        verdict(&t, EngineLoad::default()),
        Verdict::OurLimit { .. }
    ));
    // the JSON form names the kind and its evidence
    let json = serde_json::to_string(&verdict(&t, EngineLoad::default())).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"our_limit","limit":1048576,"engine_wide":false}"#
    );
}

#[test]
fn round_ceilings() {
    assert_eq!(ceiling(0.0), 1024.0);
    assert_eq!(ceiling(497.0 * KIB), 512.0 * KIB);
    assert_eq!(ceiling(512.0 * KIB), 1024.0 * KIB);
}
