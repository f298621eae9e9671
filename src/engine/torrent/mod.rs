//! One torrent: the task that owns its peer table, trackers, disk worker and piece picker.
//!
//! A torrent's life, in the order of its files ([`params`] is what the engine passes in):
//! 1. [`startup`]: for a magnet, the [`metadata`] phase fetches the info dictionary from peers
//!    (BEP 9) on connections it then hands on; then storage opens and data already on disk is
//!    hashed (resume).
//! 2. [`task`]: the torrent task's loop. It alone decides about connections, bans, choking and
//!    completion; it starts one [`peer`] task per connection. Parts of it live beside it:
//!    [`connect`] (dialing and accepting), [`controls`] (the user's settings, pause, the
//!    queue), [`clock`] (its timers).
//! 3. [`shared`]: what the torrent task and its peer tasks share (the picker, the peer table)
//!    and the messages between them; [`snapshot`] turns that into what the dashboard shows.
//!
//! Imports point one way: `mod -> announce, task, startup`; `task -> peer, snapshot`;
//! `connect, controls -> task`; `startup -> metadata`; everything -> `shared`, `params`.

mod announce;
mod clock;
mod connect;
mod controls;
pub mod metadata;
mod params;
pub mod peer;
mod persist;
pub mod shared;
mod snapshot;
mod startup;
mod task;

pub use params::{Source, TorrentParams};
pub use shared::{TorrentMsg, TorrentRx, TorrentTx};

use crate::engine::conn::Dialer;
use crate::engine::error::TorrentError;
use crate::engine::event::EngineEvent;
use crate::engine::peerbook::PeerBook;
use crate::engine::tracker::AnnounceStats;
use announce::Announce;
use startup::Origin;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Start the torrent task; returns the sender that feeds it.
pub fn spawn_torrent(params: TorrentParams) -> TorrentTx {
    let (tx, rx) = mpsc::channel(shared::TORRENT_INBOX);
    let tx2 = tx.clone();
    tokio::spawn(async move {
        let id = params.id;
        let events = params.events.clone();
        if let Err(error) = run(params, tx2, rx).await {
            events.emit(EngineEvent::Failed {
                id,
                error: error.to_string(),
            });
        }
    });
    tx
}

async fn run(mut p: TorrentParams, tx: TorrentTx, mut rx: TorrentRx) -> Result<(), TorrentError> {
    let started = Instant::now();
    let origin = Origin::of(&p);
    // a magnet added paused contacts nobody, not even for its metadata, until resumed
    if matches!(p.source, Source::Magnet(_)) && p.start_paused {
        if let Some(done) = startup::wait_resumed(&p, &origin, started, &mut rx).await? {
            let _ = done.send(());
            return Ok(());
        }
        p.start_paused = false;
    }
    let (stats, _) = watch::channel(AnnounceStats {
        uploaded: 0,
        downloaded: 0,
        left: origin.left,
    });
    let mut announce = Announce {
        stats,
        handle: None,
    };
    // A magnet needs its trackers at once (the peers that have the metadata); a .torrent
    // announces only once its data is checked, so that a seed's `started` says left=0 (before
    // the check it would be listed as a leecher until its next re-announce, tens of minutes).
    if matches!(p.source, Source::Magnet(_)) {
        announce.start(&p, &origin, &tx);
    }
    let mut book = PeerBook::default();
    book.add(&origin.peers, Instant::now());
    // one per torrent: what it learns about a peer's handshake outlives the metadata phase
    let dialer = Arc::new(Dialer::new(p.encryption, p.transports.clone()));
    let mut next_key = 1;

    let fetched = startup::metainfo(
        &p,
        &origin,
        started,
        &dialer,
        &mut book,
        &mut next_key,
        &mut rx,
    )
    .await?;
    let (metainfo, handed) = match fetched {
        startup::Fetched::Ready(metainfo, handed) => (metainfo, handed),
        startup::Fetched::Shutdown(done) => {
            announce.stop().await;
            let _ = done.send(());
            return Ok(());
        }
    };
    let opened = startup::open(&p, &metainfo).await?;
    let mut t = task::Torrent::new(&p, &metainfo, opened, dialer, book, next_key, started, &tx);
    // A torrent that starts complete announces `started` with left=0, never `completed`:
    // BEP 3 keeps that event for a download that finished in this session.
    announce.report(t.announce_stats());
    if matches!(p.source, Source::Torrent(_)) {
        announce.start(&p, &origin, &tx);
    }
    for h in handed {
        t.adopt(h);
    }
    t.run(rx, announce).await
}
