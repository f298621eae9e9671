//! The download engine: a tokio actor that owns every socket, timer and file.
//!
//! [`spawn`] binds the listening socket and starts the actor; it returns an [`EngineHandle`]
//! for commands and a receiver of [`EngineEvent`]s. Each torrent runs as its own task
//! (`torrent`), each peer connection as another (`torrent::peer`); blocks go to disk and
//! pieces are hashed on a per-torrent disk thread (`disk`). Incoming connections are
//! accepted here, their handshake read, our handshake answered, and the [`conn::Connection`]
//! handed to the torrent whose info hash they asked for.
//!
//! # Layers
//! Imports point down this list, never up (`tests/layout.rs` checks it):
//! 1. values: [`priority`] and [`settings`] (what the user asks of a torrent), [`event`]
//!    (what comes out: events and snapshots) and [`bottleneck`] (the verdict read from them),
//!    `error`, [`config`];
//! 2. state machines and data: [`picker`], `choker`, `pipeline`, `peerbook`,
//!    `ratelimit`, [`probe`] (evidence for the verdict); disk: [`storage`] (with [`parts`],
//!    its part file), `disk`; [`create`];
//! 3. [`conn`]: one peer connection (dialing, MSE, handshakes, framing);
//! 4. peer sources: [`tracker`], [`dht`];
//! 5. `torrent`: one torrent (its shared state, the metadata phase, peer sessions, the
//!    task's loop);
//! 6. this module: the engine actor, its handle and the listener.
//!
//! DHT (BEP 5): with [`EngineConfig::dht`] set, the engine runs one [`dht`] node. Every torrent
//! that is not private (and every magnet) gets a companion task that asks the DHT for peers
//! (`get_peers`, then `announce_peer` with our TCP port) and feeds them to the torrent beside
//! the trackers' peers: again after [`DHT_RETRY_SHORT`] while the torrent has fewer than
//! [`DHT_ENOUGH_PEERS`] connections and is not seeding, else every [`DHT_REANNOUNCE`]. The
//! library default has no DHT, so nothing contacts the public routers unless a caller asks.
//!
//! Snapshots: each torrent task refreshes its [`event::TorrentSnapshot`] a few times a second
//! in a shared map; this actor sends the whole [`event::EngineSnapshot`] every
//! `snapshot_interval` with `try_send`, so a slow consumer only misses pictures.

pub mod bottleneck;
pub mod budget;
pub(crate) mod choker;
pub mod config;
pub mod conn;
pub mod create;
pub mod dht;
pub(crate) mod disk;
pub(crate) mod error;
pub mod event;
pub(crate) mod listen;
pub mod parts;
pub(crate) mod peerbook;
pub mod picker;
pub(crate) mod pipeline;
pub mod priority;
pub mod probe;
pub mod queue;
pub(crate) mod ratelimit;
pub mod resume;
pub mod scheduler;
pub mod settings;
pub mod storage;
pub(crate) mod torrent;
pub mod tracker;
pub mod utp;

pub use crate::engine::config::{DEFAULT_MAX_METADATA_SIZE, EngineConfig, Faults};
use crate::engine::conn::{Encryption, Stream, Transports, our_reserved};
use crate::engine::dht::{DhtHandle, LookupEvent};
use crate::engine::error::PeerError;
use crate::engine::event::EventSink;
use crate::engine::event::{EngineEvent, EngineSnapshot, TorrentId, TorrentSnapshot, TorrentState};
use crate::engine::queue::QueueLimits;
use crate::engine::ratelimit::RateLimiter;
use crate::engine::scheduler::{Action, Scheduler};
use crate::engine::settings::{GlobalLimits, TorrentSettings};
use crate::engine::storage::OutputTarget;
use crate::engine::torrent::{Source, TorrentMsg, TorrentParams, TorrentTx, spawn_torrent};
use crate::engine::utp::{Utp, UtpStream};
use crate::proto::bitfield::Bitfield;
use crate::proto::handshake::Handshake;
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::magnet::Magnet;
use crate::proto::metainfo::Metainfo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// The DHT is asked again this soon while a torrent is short of peers.
pub const DHT_RETRY_SHORT: Duration = Duration::from_secs(15);
/// Connections below which a downloading torrent counts as short of peers.
pub const DHT_ENOUGH_PEERS: usize = 10;
/// Otherwise the DHT is asked (and we re-announce) this often.
pub const DHT_REANNOUNCE: Duration = Duration::from_secs(5 * 60);

/// Tracker announces per second across the engine: a session restoring a thousand torrents
/// spreads their first announces over about twenty seconds instead of sending them at once
/// (a burst of one second's worth is allowed, so a handful of torrents announce at once).
pub const ANNOUNCES_PER_SECOND: u64 = 50;
/// How long [`EngineHandle::peer_pieces`] waits for a peer's answer.
pub const PEER_PIECES_TIMEOUT: Duration = Duration::from_secs(2);

/// A torrent to add.
#[derive(Debug, Clone)]
pub struct AddTorrent {
    pub metainfo: Arc<Metainfo>,
    pub target: OutputTarget,
    /// Peers to try besides those the trackers return.
    pub peers: Vec<SocketAddr>,
    /// Download only these pieces (`download_piece`); `None` = all.
    pub wanted_pieces: Option<Vec<u32>>,
    pub use_trackers: bool,
    /// Serve existing data only: files are opened read-only and never written.
    pub seed_only: bool,
    /// Files, order and limits (see [`settings`]); changed later with
    /// [`EngineHandle::set_settings`].
    pub settings: TorrentSettings,
}

impl AddTorrent {
    /// An everyday download: saved as `dir/<name>`, peers from the trackers (and the DHT),
    /// every piece.
    pub fn to_dir(metainfo: Arc<Metainfo>, dir: &std::path::Path) -> AddTorrent {
        AddTorrent {
            metainfo,
            target: OutputTarget::Dir(dir.to_path_buf()),
            peers: Vec::new(),
            wanted_pieces: None,
            use_trackers: true,
            seed_only: false,
            settings: TorrentSettings::default(),
        }
    }
}

impl AddMagnet {
    /// [`AddTorrent::to_dir`] for a magnet link, with the default metadata size cap.
    pub fn to_dir(magnet: Magnet, dir: &std::path::Path) -> AddMagnet {
        AddMagnet {
            magnet,
            target: OutputTarget::Dir(dir.to_path_buf()),
            peers: Vec::new(),
            wanted_pieces: None,
            use_trackers: true,
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            settings: TorrentSettings::default(),
            pause_after_metadata: false,
        }
    }
}

/// A magnet link to add: the metadata is fetched from peers first (BEP 9).
#[derive(Debug, Clone)]
pub struct AddMagnet {
    pub magnet: Magnet,
    pub target: OutputTarget,
    pub peers: Vec<SocketAddr>,
    pub wanted_pieces: Option<Vec<u32>>,
    pub use_trackers: bool,
    /// Largest info dictionary accepted from peers.
    pub max_metadata_size: u32,
    pub settings: TorrentSettings,
    /// Stop (paused) once the metadata is known, before any data is fetched, so the user can
    /// choose files first.
    pub pause_after_metadata: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the engine has stopped")]
    Stopped,
    #[error("torrent {0} is already added")]
    Duplicate(InfoHash),
}

/// Everything needed to start a torrent, from either a .torrent or a magnet.
struct NewTorrent {
    source: Source,
    name: String,
    target: OutputTarget,
    peers: Vec<SocketAddr>,
    wanted_pieces: Option<Vec<u32>>,
    use_trackers: bool,
    seed_only: bool,
    max_metadata_size: u32,
    paused: bool,
    settings: TorrentSettings,
    pause_after_metadata: bool,
}

enum Command {
    Add(
        Box<NewTorrent>,
        oneshot::Sender<Result<TorrentId, EngineError>>,
    ),
    AddPeers(TorrentId, Vec<SocketAddr>),
    Pause(TorrentId, bool),
    Remove {
        id: TorrentId,
        delete_data: bool,
        done: oneshot::Sender<()>,
    },
    Shutdown(oneshot::Sender<()>),
    /// A picture now, whatever the snapshot interval.
    Snapshot(oneshot::Sender<EngineSnapshot>),
    Settings(TorrentId, TorrentSettings),
    GlobalLimits(GlobalLimits),
    QueueLimits(QueueLimits),
    /// These torrents first in the queue, in this order.
    QueueOrder(Vec<TorrentId>),
    /// The pieces a connected peer has, for the dashboard.
    PeerPieces(TorrentId, SocketAddr, mpsc::Sender<Bitfield>),
}

/// Commands into a running engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Command>,
    listen_port: u16,
    dht: Option<DhtHandle>,
}

impl EngineHandle {
    /// The TCP port peers can reach us on.
    pub fn listen_port(&self) -> u16 {
        self.listen_port
    }

    /// The DHT node, when the engine runs one.
    pub fn dht(&self) -> Option<&DhtHandle> {
        self.dht.as_ref()
    }

    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentId, EngineError> {
        self.add_torrent_with(add, false).await
    }

    /// [`EngineHandle::add_torrent`], starting paused when `paused` (storage is opened and
    /// checked, no peer is contacted until [`EngineHandle::resume`]).
    pub async fn add_torrent_with(
        &self,
        add: AddTorrent,
        paused: bool,
    ) -> Result<TorrentId, EngineError> {
        self.add(NewTorrent {
            paused,
            name: add.metainfo.info.name.clone(),
            source: Source::Torrent(add.metainfo),
            target: add.target,
            peers: add.peers,
            wanted_pieces: add.wanted_pieces,
            use_trackers: add.use_trackers,
            seed_only: add.seed_only,
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            settings: add.settings,
            pause_after_metadata: false,
        })
        .await
    }

    /// Add a magnet link; watch for [`EngineEvent::MetadataReady`].
    pub async fn add_magnet(&self, add: AddMagnet) -> Result<TorrentId, EngineError> {
        self.add_magnet_with(add, false).await
    }

    /// [`EngineHandle::add_magnet`], pausing the download once the metadata is known when
    /// `paused` (the metadata itself is fetched: it is what the user needs to choose).
    pub async fn add_magnet_with(
        &self,
        add: AddMagnet,
        paused: bool,
    ) -> Result<TorrentId, EngineError> {
        self.add(NewTorrent {
            paused,
            name: add
                .magnet
                .name
                .clone()
                .unwrap_or_else(|| add.magnet.info_hash.to_string()),
            source: Source::Magnet(add.magnet),
            target: add.target,
            peers: add.peers,
            wanted_pieces: add.wanted_pieces,
            use_trackers: add.use_trackers,
            seed_only: false,
            max_metadata_size: add.max_metadata_size,
            settings: add.settings,
            pause_after_metadata: add.pause_after_metadata,
        })
        .await
    }

    async fn add(&self, new: NewTorrent) -> Result<TorrentId, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Add(Box::new(new), tx))
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    pub fn add_peers(&self, id: TorrentId, peers: Vec<SocketAddr>) {
        let _ = self.tx.send(Command::AddPeers(id, peers));
    }

    /// Stop one torrent (peers closed, `stopped` announced). Data stays on disk.
    pub async fn remove(&self, id: TorrentId) {
        self.remove_inner(id, false).await
    }

    /// Stop one torrent and delete its files (and the folders that became empty).
    pub async fn remove_with_data(&self, id: TorrentId) {
        self.remove_inner(id, true).await
    }

    async fn remove_inner(&self, id: TorrentId, delete_data: bool) {
        let (done, rx) = oneshot::channel();
        if self
            .tx
            .send(Command::Remove {
                id,
                delete_data,
                done,
            })
            .is_ok()
        {
            let _ = rx.await;
        }
    }

    /// Pause a torrent: its peers are closed and no new ones connected; verified pieces,
    /// trackers and the torrent itself stay. Emits `StateChanged(Paused)`.
    pub fn pause(&self, id: TorrentId) {
        let _ = self.tx.send(Command::Pause(id, true));
    }

    /// Resume a paused torrent.
    pub fn resume(&self, id: TorrentId) {
        let _ = self.tx.send(Command::Pause(id, false));
    }

    /// Change a torrent's files, order or limits (the whole settings: the caller keeps them).
    pub fn set_settings(&self, id: TorrentId, settings: TorrentSettings) {
        let _ = self.tx.send(Command::Settings(id, settings));
    }

    /// Change the queue and the default seeding limits.
    pub fn set_queue_limits(&self, limits: QueueLimits) {
        let _ = self.tx.send(Command::QueueLimits(limits));
    }

    /// Put these torrents first in the queue, in this order (the others follow in theirs).
    pub fn set_queue_order(&self, first: Vec<TorrentId>) {
        let _ = self.tx.send(Command::QueueOrder(first));
    }

    /// Change the engine-wide rate and connection limits.
    pub fn set_global_limits(&self, limits: GlobalLimits) {
        let _ = self.tx.send(Command::GlobalLimits(limits));
    }

    /// The pieces the peer connected from `addr` to torrent `id` has (its bitfield and the
    /// `have`s since), asked of the peer's task. `None` when there is no such torrent or
    /// peer, the torrent still fetches its metadata, or the answer takes longer than
    /// [`PEER_PIECES_TIMEOUT`] (a peer task waiting for the disk or a rate limit).
    /// Pictures do not carry bitfields (hundreds of peers times 100 000 pieces, ten times a
    /// second): a dashboard asks for the one peer it shows.
    pub async fn peer_pieces(&self, id: TorrentId, addr: SocketAddr) -> Option<Bitfield> {
        let (tx, mut rx) = mpsc::channel(1);
        self.tx.send(Command::PeerPieces(id, addr, tx)).ok()?;
        tokio::time::timeout(PEER_PIECES_TIMEOUT, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The engine's picture now (what the periodic [`EngineEvent::Snapshot`] carries), for an
    /// owner that asks rarely and so needs no periodic pictures.
    pub async fn snapshot(&self) -> Option<EngineSnapshot> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Snapshot(tx)).ok()?;
        rx.await.ok()
    }

    /// Stop everything cleanly and wait for it.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

type Routes = Arc<Mutex<HashMap<InfoHash, TorrentTx>>>;

/// Bind the listener and start the engine.
pub async fn spawn(
    config: EngineConfig,
) -> Result<(EngineHandle, mpsc::Receiver<EngineEvent>), EngineError> {
    let listen::Listeners {
        port: listen_port,
        tcp: listener,
        tcp6: listener6,
        utp,
        utp6,
        utp_incoming,
        ipv6,
    } = listen::Listeners::bind(&config).await?;
    let dht = match &config.dht {
        Some(cfg) => match dht::spawn(cfg.clone()).await {
            Ok(h) => Some(h),
            Err(e) => {
                // peers still come from trackers and PEX: a DHT that cannot bind is not fatal
                tracing::warn!("DHT disabled: bind {}: {e}", cfg.bind);
                None
            }
        },
        None => None,
    };
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (ev_tx, ev_rx) = mpsc::channel(4096);
    let actor = Actor {
        listen_port,
        events: EventSink::new(ev_tx),
        routes: Arc::new(Mutex::new(HashMap::new())),
        torrents: HashMap::new(),
        snapshots: Arc::new(Mutex::new(HashMap::new())),
        next_id: 1,
        global_up: Arc::new(RateLimiter::with_rate(config.upload_limit)),
        global_down: Arc::new(RateLimiter::with_rate(config.download_limit)),
        settings: HashMap::new(),
        connections: budget::Connections::new(config.max_connections),
        scheduler: Scheduler::new(config.queue),
        announce_gate: Arc::new(RateLimiter::new_full(ANNOUNCES_PER_SECOND)),
        config,
        dht: dht.clone(),
        feeders: HashMap::new(),
        utp,
        utp6,
        ipv6,
    };
    tokio::spawn(actor.run(listener, listener6, utp_incoming, cmd_rx));
    Ok((
        EngineHandle {
            tx: cmd_tx,
            listen_port,
            dht,
        },
        ev_rx,
    ))
}

struct Actor {
    /// The uTP endpoint (`None`: turned off, or its port could not be bound).
    utp: Option<Utp>,
    /// The uTP endpoint for IPv6 peers, likewise.
    utp6: Option<Utp>,
    /// Our global IPv6 address, when we take IPv6 peers (announced as BEP 7 `ipv6=`).
    ipv6: Option<std::net::Ipv6Addr>,
    config: EngineConfig,
    listen_port: u16,
    events: EventSink,
    routes: Routes,
    torrents: HashMap<TorrentId, (InfoHash, TorrentTx)>,
    snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
    next_id: TorrentId,
    /// The engine's rate buckets, shared by every torrent.
    global_up: Arc<RateLimiter>,
    global_down: Arc<RateLimiter>,
    /// The queue and the seeding limits.
    scheduler: Scheduler,
    /// Peer connections across every torrent, and their cap.
    connections: Arc<budget::Connections>,
    /// Per torrent: where its settings go (see [`settings`]).
    settings: HashMap<TorrentId, watch::Sender<TorrentSettings>>,
    /// Announces per second across every torrent (see `AnnouncerConfig::gate`).
    announce_gate: Arc<RateLimiter>,
    dht: Option<DhtHandle>,
    /// Per torrent: the task feeding it peers from the DHT.
    feeders: HashMap<TorrentId, tokio::task::JoinHandle<()>>,
}

impl Actor {
    async fn run(
        mut self,
        listener: TcpListener,
        listener6: Option<TcpListener>,
        mut utp_incoming: Option<mpsc::Receiver<UtpStream>>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut snap = tokio::time::interval(self.config.snapshot_interval);
        let mut queue = tokio::time::interval(Duration::from_secs(1));
        queue.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        snap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => { self.stop_all().await; return; }
                    Some(Command::Shutdown(done)) => {
                        self.stop_all().await;
                        // one last picture with the torrents' final counters
                        let last = self.snapshot_event();
                        self.events.send_last(last, Duration::from_millis(200)).await;
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c).await,
                },
                acc = listener.accept(), if self.config.tcp => {
                    if let Ok((stream, _)) = acc {
                        self.incoming(Stream::Tcp(stream));
                    }
                }
                Ok((stream, _)) = listen::accept6(&listener6), if self.config.tcp => {
                    self.incoming(Stream::Tcp(stream));
                }
                Some(stream) = recv_utp(&mut utp_incoming) => self.incoming(Stream::Utp(stream)),
                _ = queue.tick() => self.schedule().await,
                _ = snap.tick() => {
                    self.events.emit(self.snapshot_event());
                }
            }
        }
    }

    /// Read an incoming peer's handshake and hand it to its torrent, on a task of its own.
    fn incoming(&self, stream: Stream) {
        let routes = self.routes.clone();
        let peer_id = self.config.peer_id;
        let encryption = self.config.encryption;
        let addr = stream.peer_addr().ok();
        tokio::spawn(async move {
            if let Err(e) = accept(stream, routes, peer_id, encryption).await {
                tracing::debug!("incoming {addr:?}: {e}");
            }
        });
    }

    /// The transports torrents dial over.
    fn transports(&self) -> Transports {
        Transports {
            tcp: self.config.tcp,
            utp: self.utp.clone(),
            utp6: self.utp6.clone(),
        }
    }

    fn snapshot_event(&self) -> EngineEvent {
        EngineEvent::Snapshot(Box::new(self.picture()))
    }

    /// Every torrent's latest picture, and the engine's.
    fn picture(&self) -> EngineSnapshot {
        let torrents: Vec<TorrentSnapshot> = {
            let map = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            let mut v: Vec<_> = map.values().cloned().collect();
            v.sort_by_key(|t| t.id);
            v
        };
        EngineSnapshot {
            listen_port: self.listen_port,
            peer_id: self.config.peer_id,
            queue: self.scheduler.order().to_vec(),
            queue_limits: self.scheduler.limits,
            limits: GlobalLimits {
                download: self.config.download_limit,
                upload: self.config.upload_limit,
                max_connections: self.config.max_connections,
            },
            torrents,
            dht: self.dht.as_ref().and_then(|d| d.snapshot()),
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Snapshot(reply) => {
                let _ = reply.send(self.picture());
            }
            Command::Add(add, reply) => {
                let (info_hash, private) = match &add.source {
                    Source::Torrent(m) => (m.info_hash, m.info.private),
                    Source::Magnet(m) => (m.info_hash, false),
                };
                // BEP 27: a private torrent gets its peers from its trackers only
                let dht = self.dht.clone().filter(|_| !private);
                let dht_allowed = Arc::new(AtomicBool::new(true));
                let probe = Arc::new(probe::Probe::new(dht.is_some()));
                if self.torrents.values().any(|(h, _)| *h == info_hash) {
                    let _ = reply.send(Err(EngineError::Duplicate(info_hash)));
                    return;
                }
                let id = self.next_id;
                self.next_id += 1;
                self.events.emit(EngineEvent::TorrentAdded {
                    id,
                    info_hash,
                    name: add.name.clone(),
                });
                let (settings_tx, settings_rx) = watch::channel(add.settings);
                self.scheduler
                    .added(id, add.paused, std::time::Instant::now());
                self.settings.insert(id, settings_tx);
                let tx = spawn_torrent(TorrentParams {
                    id,
                    source: add.source,
                    max_metadata_size: add.max_metadata_size,
                    target: add.target,
                    peers: add.peers,
                    wanted: add.wanted_pieces,
                    use_trackers: add.use_trackers,
                    listen_port: self.listen_port,
                    ipv6: self.ipv6,
                    peer_id: self.config.peer_id,
                    max_peers: self.config.max_peers_per_torrent,
                    upload_slots: self.config.upload_slots,
                    global_up: self.global_up.clone(),
                    global_down: self.global_down.clone(),
                    connections: self.connections.clone(),
                    settings: settings_rx,
                    pause_after_metadata: add.pause_after_metadata,
                    announce_gate: self.announce_gate.clone(),
                    faults: self.config.faults,
                    encryption: self.config.encryption,
                    transports: self.transports(),
                    seed_only: add.seed_only,
                    start_paused: add.paused,
                    resume_file: self
                        .config
                        .resume_dir
                        .as_ref()
                        .map(|d| d.join(format!("{info_hash}.resume"))),
                    dht: dht.clone(),
                    dht_allowed: dht_allowed.clone(),
                    probe: probe.clone(),
                    events: self.events.clone(),
                    snapshots: self.snapshots.clone(),
                });
                self.routes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(info_hash, tx.clone());
                if let Some(dht) = dht {
                    let feeder = dht_feeder(
                        dht,
                        (id, info_hash),
                        self.listen_port,
                        tx.clone(),
                        self.snapshots.clone(),
                        dht_allowed,
                        probe,
                    );
                    self.feeders.insert(id, tokio::spawn(feeder));
                }
                self.torrents.insert(id, (info_hash, tx));
                let _ = reply.send(Ok(id));
            }
            Command::AddPeers(id, peers) => {
                if let Some((_, tx)) = self.torrents.get(&id) {
                    // a hint: dropped when the torrent is far behind, never waited for
                    let _ = tx.try_send(TorrentMsg::AddPeers(peers));
                }
            }
            Command::Pause(id, pause) => {
                self.scheduler.paused(id, pause, std::time::Instant::now());
                if let Some((_, tx)) = self.torrents.get(&id) {
                    let _ = tx.send(TorrentMsg::Pause(pause)).await;
                }
            }
            Command::Remove {
                id,
                delete_data,
                done,
            } => {
                self.remove(id, delete_data).await;
                let _ = done.send(());
            }
            Command::QueueLimits(l) => self.scheduler.limits = l,
            Command::QueueOrder(first) => self.scheduler.reorder(&first),
            Command::Settings(id, s) => {
                if let Some(tx) = self.settings.get(&id) {
                    tx.send_replace(s);
                }
            }
            Command::GlobalLimits(l) => {
                self.global_up.set_rate(l.upload);
                self.global_down.set_rate(l.download);
                self.config.upload_limit = l.upload;
                self.config.download_limit = l.download;
                self.config.max_connections = l.max_connections;
                self.connections.set_max(l.max_connections);
            }
            Command::PeerPieces(id, addr, reply) => {
                if let Some((_, tx)) = self.torrents.get(&id) {
                    // never waited for: a torrent far behind drops it, and the asker asks again
                    let _ = tx.try_send(TorrentMsg::PeerPieces { addr, reply });
                }
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Stop a torrent and forget it (deleting its data when asked).
    async fn remove(&mut self, id: TorrentId, delete_data: bool) {
        if let Some(f) = self.feeders.remove(&id) {
            f.abort();
        }
        self.settings.remove(&id);
        self.scheduler.removed(id);
        let Some((hash, tx)) = self.torrents.remove(&id) else {
            return;
        };
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&hash);
        if delete_data {
            let (done_tx, done_rx) = oneshot::channel();
            if tx.send(TorrentMsg::RemoveData(done_tx)).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(10), done_rx).await;
            }
        }
        // a torrent still fetching metadata ignores RemoveData (no files yet)
        stop_torrent(&tx).await;
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        self.events.emit(EngineEvent::TorrentRemoved { id });
    }

    /// The queue's second: start and hold back torrents, stop seeds at their limits.
    async fn schedule(&mut self) {
        let now = std::time::Instant::now();
        let actions = {
            let pictures = self.snapshots.lock().unwrap_or_else(|e| e.into_inner());
            let settings = &self.settings;
            self.scheduler.tick(
                &pictures,
                |id| {
                    settings
                        .get(&id)
                        .map(|s| s.borrow().limits)
                        .unwrap_or_default()
                },
                now,
            )
        };
        for a in actions {
            match a {
                Action::Queue(id, queued) => {
                    if let Some((_, tx)) = self.torrents.get(&id) {
                        let _ = tx.try_send(TorrentMsg::Queue(queued));
                    }
                }
                Action::Pause(id) => {
                    self.events
                        .emit(EngineEvent::SeedLimitReached { id, removed: false });
                    if let Some((_, tx)) = self.torrents.get(&id) {
                        let _ = tx.try_send(TorrentMsg::Pause(true));
                    }
                }
                Action::Remove(id) => {
                    self.events
                        .emit(EngineEvent::SeedLimitReached { id, removed: true });
                    self.remove(id, false).await;
                }
            }
        }
    }

    async fn stop_all(&mut self) {
        for (_, f) in self.feeders.drain() {
            f.abort();
        }
        if let Some(d) = &self.dht {
            d.shutdown().await;
        }
        let stops = self
            .torrents
            .drain()
            .map(|(_, (_, tx))| async move { stop_torrent(&tx).await });
        for s in stops.collect::<Vec<_>>() {
            s.await;
        }
    }
}

/// Feed a torrent with peers from the DHT and announce it there, for as long as it runs.
async fn dht_feeder(
    dht: DhtHandle,
    (id, info_hash): (TorrentId, InfoHash),
    listen_port: u16,
    tx: TorrentTx,
    snapshots: Arc<Mutex<HashMap<TorrentId, TorrentSnapshot>>>,
    allowed: Arc<AtomicBool>,
    probe: Arc<probe::Probe>,
) {
    loop {
        if !allowed.load(Ordering::Relaxed) {
            return;
        }
        let mut found = dht.announce(info_hash, listen_port);
        while let Some(ev) = found.recv().await {
            match ev {
                LookupEvent::Peer(p) => {
                    probe.dht_peer();
                    if tx.send(TorrentMsg::AddPeers(vec![p])).await.is_err() {
                        return;
                    }
                }
                LookupEvent::Done {
                    queried,
                    timed_out,
                    elapsed,
                    announced,
                } => {
                    probe.dht_lookup_done();
                    tracing::debug!(
                        "DHT lookup for {info_hash}: {queried} nodes asked, {timed_out} timed out, announced to {announced}, {:.1} s",
                        elapsed.as_secs_f64()
                    );
                }
            }
        }
        let started = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tx.is_closed() {
                return;
            }
            let short = snapshots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&id)
                .is_none_or(|t| {
                    t.state != TorrentState::Seeding && t.peers.len() < DHT_ENOUGH_PEERS
                });
            let waited = started.elapsed();
            if waited >= DHT_REANNOUNCE || (short && waited >= DHT_RETRY_SHORT) {
                break;
            }
        }
    }
}

async fn stop_torrent(tx: &TorrentTx) {
    let (done_tx, done_rx) = oneshot::channel();
    if tx.send(TorrentMsg::Shutdown(done_tx)).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), done_rx).await;
    }
}

/// Read an incoming handshake, answer it, and route the connection to its torrent.
/// The next peer that opened a uTP connection to us (never, without uTP).
async fn recv_utp(rx: &mut Option<mpsc::Receiver<UtpStream>>) -> Option<UtpStream> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn accept(
    stream: Stream,
    routes: Routes,
    peer_id: PeerId,
    encryption: Encryption,
) -> Result<(), PeerError> {
    // MSE names the torrent only as HASH('req2', info hash): find which one we serve
    let lookup = |req2: &[u8; 20]| {
        let routes = routes.lock().unwrap_or_else(|e| e.into_inner());
        routes
            .keys()
            .find(|ih| crate::proto::mse::req2_hash(&ih.0) == *req2)
            .map(|ih| ih.0)
    };
    let (mut conn, hs) = conn::open_incoming(stream, encryption, &lookup).await?;
    let route = routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&hs.info_hash)
        .cloned();
    let Some(tx) = route else {
        return Err(PeerError::Protocol(format!(
            "unknown info hash {}",
            hs.info_hash
        )));
    };
    let ours = Handshake {
        reserved: our_reserved(),
        info_hash: hs.info_hash,
        peer_id,
    };
    conn.send_raw(&ours.encode());
    conn.flush().await?;
    if hs.peer_id == peer_id {
        // we dialled ourselves: the answer above lets the dialling side see its own id and
        // never try this address again
        return Err(PeerError::SelfConnection);
    }
    let _ = tx
        .send(TorrentMsg::Incoming {
            conn,
            handshake: hs,
        })
        .await;
    Ok(())
}
