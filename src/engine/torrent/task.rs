//! The torrent task: its state ([`Torrent`]) and its loop, which alone decides about
//! connections, bans, choking and completion.
//!
//! # Connections
//! Known peers are `Idle` until connected (at most `max_peers` at once, at most
//! [`MAX_HALF_OPEN`] connecting), and go back to `Idle` with an exponential back-off after a
//! failure. A peer whose data fails hash checks loses trust; below
//! [`BAN_THRESHOLD`](crate::engine::peerbook::BAN_THRESHOLD) it is banned for the life of the
//! torrent. A piece that failed with blocks from several peers is kept as a suspect: once a
//! good copy passes, the blocks that differ name the peers that sent them ([`guilty`]).

use super::announce::Announce;
use super::clock::{Clock, Picture, PictureGate};
use super::params::TorrentParams;
use super::peer::{self, PeerInit};
use super::persist::ResumeSaver;
use super::shared::{PeerCommand, PeerSlot, PeerStats, Shared, TorrentMsg, TorrentRx, TorrentTx};
use super::snapshot;
use super::startup::Opened;
use crate::engine::budget::Connections;
use crate::engine::choker::{Choker, ChokerPeer};
use crate::engine::conn::{Connection, Dialer};
use crate::engine::disk::{DiskResult, spawn_disk};
use crate::engine::error::TorrentError;
use crate::engine::event::{
    EngineEvent, EventSink, PeerCloseReason, TorrentId, TorrentSnapshot, TorrentState,
};
use crate::engine::peerbook::PeerBook;
use crate::engine::picker::PeerKey;
use crate::engine::priority::FilePriority;
use crate::engine::ratelimit::{Buckets, RateLimiter};
use crate::engine::settings::TorrentSettings;
use crate::engine::storage::Storage;
use crate::engine::tracker::{AnnounceStats, TrackerUpdate};
use crate::proto::metainfo::Metainfo;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{mpsc, watch};

/// Connections being opened at once, per torrent.
pub const MAX_HALF_OPEN: usize = 16;

/// The senders of the blocks that differ between a good copy of a piece and a failed one
/// (block SHA-1s), each with the first such block: proof, not suspicion. A block whose sender
/// is unknown convicts no one.
fn guilty(
    good: &[[u8; 20]],
    bad: &[[u8; 20]],
    senders: &[Option<PeerKey>],
) -> Vec<(PeerKey, usize)> {
    let mut guilty: Vec<(PeerKey, usize)> = Vec::new();
    for (i, (g, b)) in good.iter().zip(bad).enumerate() {
        if g != b
            && let Some(Some(key)) = senders.get(i)
            && !guilty.iter().any(|(k, _)| k == key)
        {
            guilty.push((*key, i));
        }
    }
    guilty
}

/// An exponential moving average of a rate: `weight` of the new sample.
fn smooth(old: f64, sample: f64, weight: f64) -> f64 {
    old * (1.0 - weight) + sample * weight
}

/// A failed copy of a piece: the SHA-1 of each block and the peer that sent it.
type Suspect = (Vec<[u8; 20]>, Vec<Option<PeerKey>>);

pub(super) struct Torrent {
    pub(super) id: TorrentId,
    pub(super) shared: Arc<Shared>,
    pub(super) tx: TorrentTx,
    pub(super) events: EventSink,
    pub(super) book: PeerBook,
    /// Address of every peer key seen, kept after it closes so late hash failures can be
    /// attributed.
    pub(super) key_addrs: HashMap<PeerKey, SocketAddr>,
    pub(super) max_peers: usize,
    /// The engine's connection cap per torrent, when the torrent has none of its own.
    pub(super) default_max_peers: usize,
    /// The user's controls as applied, and where new ones come from.
    pub(super) settings: TorrentSettings,
    pub(super) settings_rx: watch::Receiver<TorrentSettings>,
    /// Each file's priority as applied (see [`super::controls`]).
    pub(super) files: Vec<FilePriority>,
    /// `download_piece`: only these pieces, whatever the file priorities say.
    pub(super) wanted_pieces: Option<Vec<u32>>,
    /// The engine's connection budget, shared by every torrent.
    pub(super) connections: Arc<Connections>,
    pub(super) next_key: PeerKey,
    pub(super) hash_failures: u32,
    pub(super) completed_sent: bool,
    pub(super) started: Instant,
    pub(super) last_down: u64,
    pub(super) down_rate: f64,
    pub(super) last_rate_at: Instant,
    pub(super) snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
    pub(super) choker: Choker,
    pub(super) last_unchoked: HashMap<PeerKey, Instant>,
    /// Pieces that failed with blocks from several peers: the bad copy's block hashes and
    /// who sent each block, kept until a good copy passes.
    pub(super) suspects: HashMap<u32, Suspect>,
    pub(super) up_rate: f64,
    pub(super) last_up: u64,
    /// Pieces whose last copy failed the hash check (until a good copy passes).
    pub(super) failed: HashSet<u32>,
    /// Paused by the user: no connections in or out.
    pub(super) paused: bool,
    /// Waiting in the engine's queue: no connections either (see [`crate::engine::queue`]).
    pub(super) queued: bool,
    /// Saves the fast-resume data, when the torrent has a resume file.
    pub(super) resume: Option<ResumeSaver>,
    /// When the torrent's picture is worth publishing again.
    pub(super) pictures: PictureGate,
    /// Evidence for the bottleneck verdict (see [`crate::engine::probe`]).
    pub(super) probe: Arc<crate::engine::probe::Probe>,
}

impl Torrent {
    /// The torrent task's state for a torrent whose storage is open: starts its disk thread
    /// and says whether it starts complete.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        p: &TorrentParams,
        metainfo: &Metainfo,
        opened: Opened,
        dialer: Arc<Dialer>,
        book: PeerBook,
        next_key: PeerKey,
        started: Instant,
        tx: &TorrentTx,
    ) -> Torrent {
        let (disk_res_tx, mut disk_res_rx) = mpsc::unbounded_channel();
        // the settings the picker was set up with (in `startup::open`) are the ones applied
        let mut settings_rx = p.settings.clone();
        let settings = settings_rx.borrow_and_update().clone();
        let disk = spawn_disk(opened.storage.clone(), disk_res_tx, p.probe.clone());
        let info = opened.info.clone();
        let shared = Arc::new(Shared {
            info_hash: metainfo.info_hash,
            peer_id: p.peer_id,
            listen_port: p.listen_port,
            info,
            raw_info: Bytes::from(metainfo.raw_info.clone()),
            picker: Mutex::new(opened.picker),
            disk,
            storage: opened.storage,
            upload: Buckets {
                torrent: Arc::new(RateLimiter::with_rate(settings.limits.upload)),
                global: p.global_up.clone(),
            },
            download: Buckets {
                torrent: Arc::new(RateLimiter::with_rate(settings.limits.download)),
                global: p.global_down.clone(),
            },
            faults: p.faults,
            dialer,
            dht: opened.dht,
            events: tx.clone(),
            peers: Mutex::new(HashMap::new()),
            downloaded: AtomicU64::new(0),
            uploaded: AtomicU64::new(0),
            wasted: AtomicU64::new(0),
        });
        // forward disk results into the main queue
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(r) = disk_res_rx.recv().await {
                    if tx.send(TorrentMsg::Disk(r)).await.is_err() {
                        break;
                    }
                }
            });
        }
        let mut t = Torrent {
            id: p.id,
            shared,
            tx: tx.clone(),
            events: p.events.clone(),
            book,
            key_addrs: HashMap::new(),
            max_peers: settings.limits.max_peers.unwrap_or(p.max_peers).max(1),
            default_max_peers: p.max_peers,
            files: opened.files,
            settings,
            settings_rx,
            wanted_pieces: p.wanted.clone(),
            connections: p.connections.clone(),
            next_key,
            hash_failures: 0,
            completed_sent: false,
            started,
            last_down: 0,
            down_rate: 0.0,
            last_rate_at: Instant::now(),
            snapshots: p.snapshots.clone(),
            probe: p.probe.clone(),
            choker: Choker::new(p.upload_slots, opened.seed ^ 0x9e37_79b9_7f4a_7c15),
            last_unchoked: HashMap::new(),
            suspects: HashMap::new(),
            up_rate: 0.0,
            last_up: 0,
            failed: HashSet::new(),
            paused: p.start_paused || p.pause_after_metadata,
            queued: false,
            pictures: PictureGate::default(),
            resume: p.resume_file.clone().map(|file| {
                ResumeSaver::new(file, metainfo.info_hash, opened.info.clone(), opened.paths)
            }),
        };
        let complete = t.shared.picker().is_complete();
        t.events.emit(EngineEvent::StateChanged {
            id: t.id,
            state: if t.paused {
                TorrentState::Paused
            } else if complete {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
        });
        if complete {
            t.completed_sent = true;
            t.events.emit(EngineEvent::Completed { id: t.id });
        }
        t
    }

    /// Run until shut down, removed or failed; `announce` reports to the trackers.
    pub(super) async fn run(
        mut self,
        mut rx: TorrentRx,
        announce: Announce,
    ) -> Result<(), TorrentError> {
        self.connect_more();
        // pictured from the start: a magnet whose metadata came before the metadata phase's
        // first picture would otherwise be missing from snapshots until the clock's next one
        self.publish_snapshot();
        let mut clock = Clock::new(Instant::now());
        let result = loop {
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break Ok(()) };
                    match msg {
                        TorrentMsg::Shutdown(done) => {
                            self.shutdown_peers();
                            // final numbers for the last snapshot (a seeder reports what it sent)
                            self.update_rates();
                            self.publish_snapshot();
                            announce.report(self.announce_stats());
                            if let Some(r) = self.resume.as_mut() {
                                r.save_now(self.shared.verified_bitfield()).await;
                            }
                            announce.stop().await;
                            let _ = done.send(());
                            return Ok(());
                        }
                        TorrentMsg::RemoveData(done) => {
                            self.shutdown_peers();
                            announce.report(self.announce_stats());
                            announce.stop().await;
                            let st = self.shared.storage.clone();
                            if let Some(r) = self.resume.take() {
                                r.remove().await;
                            }
                            drop(self);
                            let _ = tokio::task::spawn_blocking(move || delete_files(&st)).await;
                            let _ = done.send(());
                            return Ok(());
                        }
                        TorrentMsg::Disk(DiskResult::Error(e)) => {
                            self.shutdown_peers();
                            self.events.emit(EngineEvent::StateChanged {
                                id: self.id,
                                state: TorrentState::Failed,
                            });
                            break Err(TorrentError::Disk(e));
                        }
                        other => {
                            let was_complete = self.completed_sent;
                            self.handle(other);
                            if !was_complete && self.completed_sent {
                                announce.report(self.announce_stats());
                                announce.completed();
                            }
                        }
                    }
                }
                Ok(()) = self.settings_rx.changed() => {
                    let was_complete = self.completed_sent;
                    let s = self.settings_rx.borrow_and_update().clone();
                    self.apply_settings(s).await;
                    if !was_complete && self.completed_sent {
                        announce.report(self.announce_stats());
                        announce.completed();
                    }
                }
                _ = tokio::time::sleep_until(clock.next.into()) => {
                    let now = Instant::now();
                    let idle = self.shared.peers().is_empty();
                    let due = clock.tick(now, idle);
                    self.update_rates();
                    if self.picture_changed(idle, now) {
                        self.publish_snapshot();
                    }
                    if due.resume
                        && let Some(r) = self.resume.as_mut()
                    {
                        r.maybe_save(&self.shared.verified_bitfield());
                    }
                    if due.second {
                        self.connect_more();
                        self.choke_round();
                        announce.report(self.announce_stats());
                    }
                    if due.pex && !self.shared.info.private {
                        self.send_pex();
                    }
                }
            }
        };
        announce.stop().await;
        result
    }

    pub(super) fn announce_stats(&self) -> AnnounceStats {
        AnnounceStats {
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            downloaded: self.shared.downloaded.load(Ordering::Relaxed),
            left: self.shared.picker().bytes_left(),
        }
    }

    fn add_peers(&mut self, addrs: &[SocketAddr]) {
        self.book.add(addrs, Instant::now());
    }

    fn handle(&mut self, msg: TorrentMsg) {
        match msg {
            TorrentMsg::PeerUp {
                key,
                addr,
                peer_id,
                incoming,
            } => {
                self.events.emit(EngineEvent::PeerConnected {
                    id: self.id,
                    addr,
                    peer_id,
                    incoming,
                });
                self.key_addrs.insert(key, addr);
                self.book.connected(addr, key);
            }
            TorrentMsg::PeerClosed { key, addr, reason } => self.on_peer_closed(key, addr, reason),
            TorrentMsg::PeerInterest { key, interested } => {
                if interested {
                    // a free slot need not wait for the next 10 s round
                    if self.choker.unchoke_now(key) {
                        self.set_choke(key, false);
                    }
                } else if self.choker.is_unchoked(key) {
                    self.choker.remove(key);
                    self.set_choke(key, true);
                }
            }
            TorrentMsg::Disk(DiskResult::Verified { piece, ok, blocks }) => {
                self.on_verified(piece, ok, blocks)
            }
            TorrentMsg::Disk(DiskResult::Error(_)) => {}
            TorrentMsg::Tracker(u) => match u {
                TrackerUpdate::Peers {
                    url,
                    peers,
                    seeders,
                    leechers,
                    ..
                } => {
                    self.probe.tracker_reply(&url, peers.len());
                    self.events.emit(EngineEvent::TrackerReply {
                        id: self.id,
                        url,
                        peers: peers.len(),
                        seeders,
                        leechers,
                    });
                    self.add_peers(&peers);
                    self.connect_more();
                }
                TrackerUpdate::Error { url, message } | TrackerUpdate::Warning { url, message } => {
                    self.probe.tracker_error(&url, &message);
                    self.events.emit(EngineEvent::TrackerError {
                        id: self.id,
                        url,
                        message,
                    });
                }
            },
            TorrentMsg::Incoming { conn, handshake } => self.on_incoming(conn, handshake),
            TorrentMsg::AddPeers(addrs) => {
                self.add_peers(&addrs);
                self.connect_more();
            }
            TorrentMsg::Pause(pause) => self.set_paused(pause),
            TorrentMsg::Queue(queued) => self.set_queued(queued),
            TorrentMsg::PeerPieces { addr, reply } => {
                // the peer's task keeps its bitfield: it answers (a peer that is gone drops
                // `reply`, and the asker hears "no such peer")
                let peers = self.shared.peers();
                if let Some(p) = peers.values().find(|p| p.addr == addr) {
                    let _ = p.tx.send(PeerCommand::Pieces(reply));
                }
            }
            TorrentMsg::Shutdown(_) | TorrentMsg::RemoveData(_) => {}
        }
    }

    fn on_verified(&mut self, piece: u32, ok: bool, blocks: Option<Vec<[u8; 20]>>) {
        if ok {
            self.failed.remove(&piece);
            if let (Some(good), Some((bad, senders))) = (blocks, self.suspects.remove(&piece)) {
                self.convict(piece, &good, &bad, &senders);
            }
            let complete = {
                let mut picker = self.shared.picker();
                picker.mark_verified(piece);
                picker.is_complete()
            };
            let keys: Vec<PeerKey> = self.shared.peers().keys().copied().collect();
            self.shared.send_to_peers(&keys, PeerCommand::Have(piece));
            self.events.emit(EngineEvent::PieceVerified {
                id: self.id,
                index: piece,
            });
            if complete && !self.completed_sent {
                self.completed_sent = true;
                self.events.emit(EngineEvent::StateChanged {
                    id: self.id,
                    state: TorrentState::Seeding,
                });
                self.events.emit(EngineEvent::Completed { id: self.id });
            }
        } else {
            self.hash_failures += 1;
            self.failed.insert(piece);
            let (block_senders, senders) = {
                let mut picker = self.shared.picker();
                (picker.block_senders(piece), picker.mark_failed(piece))
            };
            if senders.len() > 1
                && let Some(bad) = blocks
            {
                // keep the bad copy's block hashes: once a good copy passes, the blocks that
                // differ name the peer that sent them
                self.suspects.insert(piece, (bad, block_senders));
            }
            let sole = senders.len() == 1;
            let mut addrs = Vec::new();
            let mut to_ban = Vec::new();
            for key in &senders {
                let Some(addr) = self.key_addrs.get(key).copied() else {
                    continue;
                };
                addrs.push(addr);
                if self.book.penalise(addr, sole) {
                    to_ban.push((*key, addr));
                }
            }
            self.events.emit(EngineEvent::HashFailed {
                id: self.id,
                index: piece,
                peers: addrs,
            });
            for (key, addr) in to_ban {
                tracing::info!("banning {addr} after hash failures");
                if let Some(slot) = self.shared.peers().get(&key) {
                    let _ = slot.tx.send(PeerCommand::Close(format!(
                        "banned after hash failures (piece {piece})"
                    )));
                }
            }
            // the piece is wanted again
            self.shared.nudge_peers(0);
        }
    }

    fn set_choke(&mut self, key: PeerKey, choke: bool) {
        if let Some(slot) = self.shared.peers().get(&key) {
            let _ = slot.tx.send(if choke {
                PeerCommand::Choke
            } else {
                PeerCommand::Unchoke
            });
        }
        if !choke {
            self.last_unchoked.insert(key, Instant::now());
        }
    }

    /// A regular choking round (every 10 s).
    fn choke_round(&mut self) {
        let now = Instant::now();
        if !self.choker.due(now) {
            return;
        }
        let peers: Vec<ChokerPeer> = self
            .shared
            .peers()
            .iter()
            .map(|(k, p)| ChokerPeer {
                key: *k,
                interested: p.stats.peer_interested.load(Ordering::Relaxed),
                download_rate: p.stats.rate(),
                upload_rate: p.stats.up_rate(),
                connected_at: p.connected_at,
                last_unchoked: self.last_unchoked.get(k).copied(),
            })
            .collect();
        let seeding = self.shared.picker().is_complete();
        let (unchoke, choke) = self.choker.round(&peers, seeding, now);
        for k in choke {
            self.set_choke(k, true);
        }
        for k in unchoke {
            self.set_choke(k, false);
        }
    }

    /// Compare a failed copy of `piece` with the good one and ban the senders of the blocks
    /// that differed: proof, not suspicion.
    fn convict(
        &mut self,
        piece: u32,
        good: &[[u8; 20]],
        bad: &[[u8; 20]],
        senders: &[Option<PeerKey>],
    ) {
        for (key, block) in guilty(good, bad, senders) {
            let Some(addr) = self.key_addrs.get(&key).copied() else {
                continue;
            };
            tracing::info!("banning {addr}: it sent a corrupt block {block} of piece {piece}");
            self.book.ban(addr);
            if let Some(slot) = self.shared.peers().get(&key) {
                let _ = slot.tx.send(PeerCommand::Close(format!(
                    "sent a corrupt block {block} of piece {piece}"
                )));
            }
        }
    }

    fn on_peer_closed(&mut self, key: Option<PeerKey>, addr: SocketAddr, reason: PeerCloseReason) {
        if let Some(key) = key {
            self.shared.peers().remove(&key);
            self.choker.remove(key);
            self.last_unchoked.remove(&key);
        }
        let reason = self.book.closed(addr, reason, Instant::now());
        self.events.emit(EngineEvent::PeerDisconnected {
            id: self.id,
            addr,
            reason,
        });
        self.connect_more();
    }

    /// Offer our outgoing peers' addresses to every peer that speaks ut_pex (BEP 11); each
    /// session sends only the difference since its last message, at most once a minute.
    /// Flags: reachable (we connected out to each), and uTP for those we reached over it.
    fn send_pex(&self) {
        use crate::proto::extension::pex_flags::{REACHABLE, UTP};
        let peers = self.shared.peers();
        let addrs: Arc<Vec<(SocketAddr, u8)>> = Arc::new(
            peers
                .values()
                .filter(|p| !p.incoming)
                .map(|p| {
                    let utp = if p.stats.utp.load(Ordering::Relaxed) {
                        UTP
                    } else {
                        0
                    };
                    (p.addr, REACHABLE | utp)
                })
                .collect(),
        );
        for p in peers.values() {
            if p.stats.pex.load(Ordering::Relaxed) {
                let _ = p.tx.send(PeerCommand::Pex(addrs.clone()));
            }
        }
    }

    pub(super) fn shutdown_peers(&mut self) {
        for p in self.shared.peers().values() {
            let _ = p.tx.send(PeerCommand::Shutdown);
        }
    }

    fn update_rates(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_rate_at).as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        let down = self.shared.downloaded.load(Ordering::Relaxed);
        self.down_rate = smooth(self.down_rate, (down - self.last_down) as f64 / dt, 0.3);
        self.last_down = down;
        let up = self.shared.uploaded.load(Ordering::Relaxed);
        self.up_rate = smooth(self.up_rate, (up - self.last_up) as f64 / dt, 0.3);
        self.last_up = up;
        self.last_rate_at = now;
    }

    /// Whether a tick should publish a new picture (see [`PictureGate`]).
    fn picture_changed(&mut self, idle: bool, now: Instant) -> bool {
        let busy = !idle || self.down_rate >= 1.0 || self.up_rate >= 1.0;
        let picture = Picture {
            paused: self.paused,
            verified: self.shared.picker().verified().count_ones(),
            downloaded: self.shared.downloaded.load(Ordering::Relaxed),
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            hash_failures: self.hash_failures,
            known_peers: self.book.len(),
            failed: self.failed.len(),
        };
        self.pictures.due(busy, picture, now)
    }

    pub(super) fn publish_snapshot(&self) {
        let peers = snapshot::peers(&self.shared);
        let pieces = snapshot::pieces(&self.shared.picker(), &self.failed);
        let snap = TorrentSnapshot {
            settings: self.settings.clone(),
            files: Arc::from(self.files.clone()),
            id: self.id,
            info_hash: self.shared.info_hash,
            name: self.shared.info.name.clone(),
            state: if self.paused {
                TorrentState::Paused
            } else if self.queued {
                TorrentState::Queued
            } else if pieces.complete {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            },
            total_length: self.shared.info.total_length,
            piece_count: self.shared.info.piece_count(),
            pieces_verified: pieces.verified,
            bytes_left: pieces.bytes_left,
            downloaded: self.shared.downloaded.load(Ordering::Relaxed),
            uploaded: self.shared.uploaded.load(Ordering::Relaxed),
            download_rate: self.down_rate,
            upload_rate: self.up_rate,
            in_endgame: pieces.in_endgame,
            hash_failures: self.hash_failures,
            known_peers: self.book.len(),
            peers,
            elapsed: self.started.elapsed(),
            metadata: None,
            pieces: pieces.map,
            availability: pieces.availability,
            diagnostics: self
                .probe
                .sample(Instant::now(), self.shared.disk.capacity() == 0),
        };
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.id, snap);
    }
}

/// Delete the torrent's files (after its peers and disk thread stopped), then the folders that
/// became empty, up to the storage root. Best effort: what cannot be removed is logged.
fn delete_files(storage: &Storage) {
    let root = storage.root().to_path_buf();
    let mut dirs = Vec::new();
    // the part file holds bytes of skipped files: it goes with the rest
    let parts = storage.parts_path().filter(|p| p.exists());
    for path in storage.paths().chain(parts) {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!("remove {}: {e}", path.display());
        }
        let mut dir = path.parent();
        while let Some(d) = dir {
            if !d.starts_with(&root) {
                break;
            }
            dirs.push(d.to_path_buf());
            if d == root {
                break;
            }
            dir = d.parent();
        }
    }
    // deepest first; remove_dir only removes empty folders
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    dirs.dedup();
    for d in dirs {
        let _ = std::fs::remove_dir(&d);
    }
}

/// Register a connected peer, run it, and report its end to the torrent.
pub(super) async fn run_peer(
    key: PeerKey,
    addr: SocketAddr,
    shared: Arc<Shared>,
    conn: Connection,
    init: PeerInit,
    incoming: bool,
    tx: TorrentTx,
) {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let stats = Arc::new(PeerStats::default());
    stats.peer_choking.store(true, Ordering::Relaxed);
    stats.am_choking.store(true, Ordering::Relaxed);
    let peer_id = init.handshake.peer_id;
    let registered = {
        let mut peers = shared.peers();
        // connected both ways at once: keep the first connection
        let duplicate = peers.values().any(|p| p.peer_id == peer_id);
        if !duplicate {
            peers.insert(
                key,
                PeerSlot {
                    tx: cmd_tx,
                    stats: stats.clone(),
                    addr,
                    peer_id,
                    incoming,
                    connected_at: Instant::now(),
                },
            );
        }
        !duplicate
    };
    if !registered {
        let reason = PeerCloseReason::Useless("already connected to this peer".into());
        let _ = tx
            .send(TorrentMsg::PeerClosed {
                key: None,
                addr,
                reason,
            })
            .await;
        return;
    }
    let _ = tx
        .send(TorrentMsg::PeerUp {
            key,
            addr,
            peer_id,
            incoming,
        })
        .await;
    let reason = peer::run(key, shared, stats, conn, init, cmd_rx).await;
    let _ = tx
        .send(TorrentMsg::PeerClosed {
            key: Some(key),
            addr,
            reason,
        })
        .await;
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_senders_of_differing_blocks_are_guilty() {
        let good = [[1; 20], [2; 20], [3; 20], [4; 20]];
        // blocks 1 and 3 differ; peer 7 sent both, so it is named once, with its first
        let bad = [[1; 20], [9; 20], [3; 20], [9; 20]];
        let senders = [Some(5), Some(7), Some(8), Some(7)];
        assert_eq!(guilty(&good, &bad, &senders), vec![(7, 1)]);
        // a differing block of unknown origin convicts no one
        assert!(guilty(&good, &bad, &[Some(5), None, Some(8), None]).is_empty());
        // a copy that matches convicts no one
        assert!(guilty(&good, &good, &senders).is_empty());
    }

    #[test]
    fn rates_are_smoothed_towards_new_samples() {
        assert_eq!(smooth(0.0, 1000.0, 0.3), 300.0);
        let mut r = 0.0;
        for _ in 0..50 {
            r = smooth(r, 1000.0, 0.3);
        }
        assert!((r - 1000.0).abs() < 1e-3, "{r}");
    }

    #[test]
    fn deleting_a_torrent_removes_its_files_and_emptied_folders_only() {
        use crate::engine::storage::OutputTarget;
        use crate::proto::metainfo::Info;
        let dir = tempfile::tempdir().unwrap();
        let raw = b"d5:filesld6:lengthi3e4:pathl3:sub1:aeed6:lengthi2e4:pathl1:beee4:name1:t12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let info = Info::from_bytes(raw).unwrap();
        let target = OutputTarget::Dir(dir.path().to_path_buf());
        let storage = Storage::open(&info, &target).unwrap();
        let keep = dir.path().join("t").join("sub").join("mine.txt");
        std::fs::write(&keep, b"not the torrent's").unwrap();
        delete_files(&storage);
        assert!(!dir.path().join("t/sub/a").exists());
        assert!(!dir.path().join("t/b").exists());
        assert!(keep.exists(), "a file the torrent does not own stays");
        std::fs::remove_file(&keep).unwrap();
        assert!(dir.path().exists());
    }
}
