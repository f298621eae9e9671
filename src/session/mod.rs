//! The session: the torrents that outlive a process, and the instance that owns them.
//!
//! - [`store`]: the session folder (each torrent's source, the user's choices, resume data);
//! - [`instance`]: where things live, and the lock that keeps one instance per session;
//! - [`protocol`] and [`control`]: the control socket the CLI talks to;
//! - [`watch`]: the dashboards attached over that socket;
//! - this module: [`Session`], which owns an engine and the store, restores every torrent at
//!   start (fast resume: unchanged data is not read again), remembers every change before it
//!   answers, and answers the control socket's commands.
//!
//! `fast-peer daemon` runs a session without a screen ([`run_daemon`]).

pub mod control;
mod controls;
pub mod instance;
pub mod protocol;
pub mod store;
pub mod watch;

use crate::engine::bottleneck::{EngineLoad, Verdict, verdict};
use crate::engine::event::{EngineEvent, EngineSnapshot, TorrentId, TorrentSnapshot, TorrentState};
use crate::engine::queue::QueueLimits;
use crate::engine::settings::GlobalLimits;
use crate::engine::{AddMagnet, AddTorrent, EngineConfig, EngineHandle, spawn};
use crate::proto::id::InfoHash;
use crate::proto::metainfo::Metainfo;
use control::Call;
use protocol::{AddSource, Added, Command, Response, TorrentStatus};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use store::{Record, Source, Store};
use tokio::sync::{mpsc, oneshot};

/// How to start a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub engine: EngineConfig,
    /// The session folder (see [`instance::default_session_dir`]).
    pub session_dir: PathBuf,
    /// Where added torrents are saved unless the request names a folder.
    pub download_dir: PathBuf,
    /// The control socket (see [`instance::socket_path`]).
    pub socket: PathBuf,
    /// A folder watched for .torrent files to add (then renamed `*.added`).
    pub watch_dir: Option<PathBuf>,
}

/// One torrent as the session knows it.
struct Entry {
    id: TorrentId,
    name: String,
    /// The info dictionary, once known (at once for a .torrent, later for a magnet).
    metainfo: Option<Arc<Metainfo>>,
    state: store::TorrentState,
    /// Why it stopped, when it failed.
    error: Option<String>,
}

/// A running session: the engine, the store and what each torrent is.
pub struct Session {
    engine: EngineHandle,
    store: Store,
    download_dir: PathBuf,
    torrents: HashMap<InfoHash, Entry>,
    /// The engine-wide limits and the queue as last set (the config's, then `limits`).
    global_limits: GlobalLimits,
    queue_limits: QueueLimits,
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{0}")]
    Lock(std::io::Error),
    #[error("session folder {path}: {source}")]
    Store {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control socket {path}: {source}")]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Engine(#[from] crate::engine::EngineError),
}

/// A running session's handle: the dashboard's way in (the CLI's is the control socket, and
/// both reach the same actor in order).
#[derive(Clone)]
pub struct SessionHandle {
    calls: mpsc::Sender<Call>,
    stop: mpsc::Sender<oneshot::Sender<()>>,
    /// The session's engine (for what only the engine knows: its port, its DHT).
    pub engine: EngineHandle,
}

impl SessionHandle {
    /// Run one command, as if it came over the control socket.
    pub async fn call(&self, command: Command) -> Response {
        let (reply, answer) = oneshot::channel();
        let call = Call {
            command,
            reply,
            watch: None,
        };
        if self.calls.send(call).await.is_err() {
            return Response::error("the session stopped");
        }
        answer
            .await
            .unwrap_or_else(|_| Response::error("the session stopped"))
    }

    /// Stop the session: the control socket goes, the engine stops cleanly (resume data
    /// saved, trackers told), the lock is released.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.stop.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Start a session: take the lock, bind the control socket, add every remembered torrent back
/// and run the session's actor. The engine's events come out of the returned receiver too (a
/// picture is dropped when its reader is behind; a dropped receiver is fine: the daemon has
/// none).
pub async fn spawn_session(
    opts: SessionOptions,
) -> Result<(SessionHandle, mpsc::Receiver<EngineEvent>), SessionError> {
    let lock = instance::Lock::take(&opts.session_dir).map_err(SessionError::Lock)?;
    let listener = control::bind(&opts.socket)
        .await
        .map_err(|source| SessionError::Socket {
            path: opts.socket.clone(),
            source,
        })?;
    let (session, events) = Session::start(&opts).await?;
    tracing::info!(
        "session in {} ({} torrents), control socket {}",
        opts.session_dir.display(),
        session.torrents.len(),
        opts.socket.display()
    );
    let engine = session.engine.clone();
    let (calls_tx, calls) = mpsc::channel(64);
    let (stop_tx, stop) = mpsc::channel(1);
    let (forward, forwarded) = mpsc::channel(1024);
    let server = tokio::spawn(control::serve(listener, calls_tx.clone()));
    let actor = Actor {
        session,
        events,
        calls,
        stop,
        forward,
        watchers: watch::Watchers::default(),
    };
    tokio::spawn(actor.run(server, lock, opts));
    Ok((
        SessionHandle {
            calls: calls_tx,
            stop: stop_tx,
            engine,
        },
        forwarded,
    ))
}

/// The session's one task: engine events, commands, the watch folder, in order.
struct Actor {
    session: Session,
    events: mpsc::Receiver<EngineEvent>,
    calls: mpsc::Receiver<Call>,
    stop: mpsc::Receiver<oneshot::Sender<()>>,
    forward: mpsc::Sender<EngineEvent>,
    /// Dashboards attached over the control socket.
    watchers: watch::Watchers,
}

impl Actor {
    async fn run(
        mut self,
        server: tokio::task::JoinHandle<()>,
        lock: instance::Lock,
        opts: SessionOptions,
    ) {
        let mut watch = tokio::time::interval(WATCH_INTERVAL);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pictures = tokio::time::interval(watch::PICTURE_INTERVAL);
        pictures.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let done = loop {
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => {
                        // a copy for the dashboard, when one listens (the daemon has none)
                        if !self.forward.is_closed() {
                            if matches!(ev, EngineEvent::Snapshot(_)) {
                                let _ = self.forward.try_send(ev.clone());
                            } else {
                                let _ = self.forward.send(ev.clone()).await;
                            }
                        }
                        // watchers get their own pictures (below), at their own pace
                        if !matches!(ev, EngineEvent::Snapshot(_)) {
                            self.watchers.publish(&ev);
                        }
                        self.session.on_event(ev);
                    }
                    None => break None,
                },
                Some(call) = self.calls.recv() => {
                    let Call { command, reply, watch } = call;
                    if let Command::PeerPieces { hash, addr } = &command {
                        let answer = self.session.peer_pieces(hash, *addr);
                        tokio::spawn(async move { let _ = reply.send(answer.await); });
                        continue;
                    }
                    let response = match (command, watch) {
                        (Command::Watch, Some(queue)) => {
                            let mut replay = self.session.replay();
                            if let Some(s) = self.session.engine.snapshot().await {
                                replay.push(EngineEvent::Snapshot(Box::new(s)));
                            }
                            self.watchers.attach(queue, &replay);
                            Response::ok()
                        }
                        (command, _) => self.session.handle(command).await,
                    };
                    let _ = reply.send(response);
                }
                _ = pictures.tick(), if !self.watchers.is_empty() => {
                    if let Some(s) = self.session.engine.snapshot().await {
                        self.watchers.publish(&EngineEvent::Snapshot(Box::new(s)));
                    }
                }
                _ = watch.tick(), if opts.watch_dir.is_some() => {
                    if let Some(dir) = &opts.watch_dir {
                        self.session.scan_watch_dir(dir).await;
                    }
                }
                done = self.stop.recv() => break done,
            }
        };
        server.abort();
        let _ = std::fs::remove_file(&opts.socket);
        self.session.engine.shutdown().await;
        drop(lock);
        if let Some(d) = done {
            let _ = d.send(());
        }
    }
}

/// Run a session headless until Ctrl-C or SIGTERM, then stop it cleanly. Problems with single
/// records are logged, not fatal.
pub async fn run_daemon(opts: SessionOptions) -> Result<(), SessionError> {
    let socket = opts.socket.clone();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| SessionError::Socket {
            path: socket.clone(),
            source,
        })?;
    // nobody watches: `status` asks the engine for a picture when it needs one
    let mut opts = opts;
    opts.engine.snapshot_interval = Duration::from_secs(3600);
    let (handle, events) = spawn_session(opts).await?;
    // headless: nobody reads the engine's events beyond the session itself
    drop(events);
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}

/// How often the watch folder is looked at.
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// A file in the watch folder is taken once it has not changed for this long (a copy in
/// progress is left alone).
const WATCH_SETTLE: Duration = Duration::from_secs(1);

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Session {
    /// Start the engine (resume data in the session folder) and add every torrent of the
    /// session back, in its remembered state.
    pub async fn start(
        opts: &SessionOptions,
    ) -> Result<(Session, mpsc::Receiver<EngineEvent>), SessionError> {
        let store_err = |source| SessionError::Store {
            path: opts.session_dir.clone(),
            source,
        };
        let store = Store::open(&opts.session_dir).map_err(store_err)?;
        let mut config = opts.engine.clone();
        config.resume_dir = Some(store.resume_dir().to_path_buf());
        let (engine, events) = spawn(config.clone()).await?;
        let mut session = Session {
            engine,
            store,
            download_dir: opts.download_dir.clone(),
            torrents: HashMap::new(),
            global_limits: GlobalLimits {
                download: config.download_limit,
                upload: config.upload_limit,
                max_connections: config.max_connections,
            },
            queue_limits: config.queue,
        };
        let (mut records, problems) = session.store.load().map_err(store_err)?;
        // back into the engine in queue order: the engine queues in the order of adding
        records.sort_by_key(|r| (r.state.queue, r.state.added_at));
        for p in problems {
            tracing::warn!("{p}");
        }
        for r in records {
            if let Err(e) = session.restore(r).await {
                tracing::warn!("{e}");
            }
        }
        Ok((session, events))
    }

    /// Add a remembered torrent to the engine.
    async fn restore(&mut self, r: Record) -> Result<(), String> {
        let (id, name, metainfo) = self.add_to_engine(&r.source, &r.state).await?;
        self.torrents.insert(
            r.info_hash,
            Entry {
                id,
                name,
                metainfo,
                state: r.state,
                error: None,
            },
        );
        Ok(())
    }

    async fn add_to_engine(
        &self,
        source: &Source,
        state: &store::TorrentState,
    ) -> Result<(TorrentId, String, Option<Arc<Metainfo>>), String> {
        let dir = &state.save_dir;
        match source {
            Source::Torrent(m, _) => {
                let m = Arc::new((**m).clone());
                let add = AddTorrent {
                    settings: state.settings.clone(),
                    ..AddTorrent::to_dir(m.clone(), dir)
                };
                let id = self
                    .engine
                    .add_torrent_with(add, state.paused)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((id, m.info.name.clone(), Some(m)))
            }
            Source::Magnet(mg) => {
                let add = AddMagnet {
                    settings: state.settings.clone(),
                    pause_after_metadata: state.pause_after_metadata,
                    ..AddMagnet::to_dir(mg.clone(), dir)
                };
                let id = self
                    .engine
                    .add_magnet_with(add, state.paused)
                    .await
                    .map_err(|e| e.to_string())?;
                let name = mg.name.clone().unwrap_or_else(|| mg.info_hash.to_string());
                Ok((id, name, None))
            }
        }
    }

    /// Keep the engine's news: snapshots, metadata (saved as a .torrent), failures.
    pub fn on_event(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::MetadataReady { id, metainfo } => {
                let h = metainfo.info_hash;
                if let Some(e) = self.torrents.get_mut(&h).filter(|e| e.id == id) {
                    e.name = metainfo.info.name.clone();
                    e.metainfo = Some(metainfo.clone());
                    // it stopped to let the user choose its files: paused from now on, also
                    // after a restart
                    if e.state.pause_after_metadata {
                        e.state.pause_after_metadata = false;
                        e.state.paused = true;
                        if let Err(err) = self.store.set_state(&h, &e.state) {
                            tracing::warn!("remember {h}: {err}");
                        }
                    }
                    if let Err(err) = self.store.metadata_arrived(&h, &metainfo.to_torrent_file()) {
                        tracing::warn!("save the metadata of {h}: {err}");
                    }
                }
            }
            EngineEvent::Failed { id, error } => {
                if let Some(e) = self.torrents.values_mut().find(|e| e.id == id) {
                    e.error = Some(error);
                }
            }
            // a seed that reached its limit stays paused, also after a restart
            EngineEvent::SeedLimitReached { id, removed: false } => {
                if let Some((h, e)) = self.torrents.iter_mut().find(|(_, e)| e.id == id) {
                    e.state.paused = true;
                    if let Err(err) = self.store.set_state(h, &e.state) {
                        tracing::warn!("remember {h}: {err}");
                    }
                }
            }
            // the engine removed it on its own (a seeding limit): the session forgets it too
            EngineEvent::TorrentRemoved { id } => {
                if let Some(h) = self
                    .torrents
                    .iter()
                    .find(|(_, e)| e.id == id)
                    .map(|(h, _)| *h)
                {
                    self.torrents.remove(&h);
                    if let Err(err) = self.store.remove(&h) {
                        tracing::warn!("forget {h}: {err}");
                    }
                }
            }
            _ => {}
        }
    }

    /// The session as events, for a dashboard that attaches: each torrent added, its metadata
    /// when known, its failure if it failed (its state and numbers come with the next picture).
    pub fn replay(&self) -> Vec<EngineEvent> {
        let mut entries: Vec<(&InfoHash, &Entry)> = self.torrents.iter().collect();
        entries.sort_by_key(|(_, e)| e.id);
        let mut out = Vec::new();
        for (h, e) in entries {
            out.push(EngineEvent::TorrentAdded {
                id: e.id,
                info_hash: *h,
                name: e.name.clone(),
            });
            if let Some(m) = &e.metainfo {
                out.push(EngineEvent::MetadataReady {
                    id: e.id,
                    metainfo: m.clone(),
                });
            }
            if let Some(error) = &e.error {
                out.push(EngineEvent::Failed {
                    id: e.id,
                    error: error.clone(),
                });
            }
        }
        out
    }

    /// Answer one control command.
    pub async fn handle(&mut self, command: Command) -> Response {
        match command {
            Command::Add {
                sources,
                dir,
                paused,
                pause_after_metadata,
                settings,
            } => {
                let how = store::TorrentState {
                    save_dir: dir.map_or_else(|| self.download_dir.clone(), PathBuf::from),
                    paused,
                    added_at: now_secs(),
                    settings,
                    pause_after_metadata,
                    queue: 0,
                };
                self.add(sources, how).await
            }
            Command::Status => {
                let picture = self.engine.snapshot().await;
                Response {
                    torrents: Some(self.status(picture.as_ref())),
                    ..Response::ok()
                }
            }
            // a stream needs a connection to stream on (the actor serves `watch` with one)
            Command::Watch => Response::error("watch is served on the control socket only"),
            Command::Set { hashes, change } => self.set(&hashes, &change),
            Command::Limits { change } => self.limits(&change),
            Command::Queue { hash, to } => self.queue(&hash, to).await,
            Command::PeerPieces { hash, addr } => self.peer_pieces(&hash, addr).await,
            Command::Pause { hashes } => self.for_each(&hashes, |s, h| s.set_paused(h, true)),
            Command::Resume { hashes } => self.for_each(&hashes, |s, h| s.set_paused(h, false)),
            Command::Remove {
                hashes,
                delete_data,
            } => {
                let mut r = Response::ok();
                for h in &hashes {
                    match self.find(h) {
                        Ok(h) => {
                            if let Err(e) = self.remove(&h, delete_data).await {
                                r.errors.push(e);
                            }
                        }
                        Err(e) => r.errors.push(e),
                    }
                }
                r.ok = r.errors.is_empty();
                r
            }
        }
    }

    /// Add every source, each with the state `how` (save folder, paused, settings).
    async fn add(&mut self, sources: Vec<AddSource>, how: store::TorrentState) -> Response {
        let mut r = Response::ok();
        for s in sources {
            match self.add_one(s, &how).await {
                Ok(a) => r.added.push(a),
                Err(e) => r.errors.push(e),
            }
        }
        r.ok = r.errors.is_empty();
        r
    }

    /// Parse one source of an `add` request and add it.
    async fn add_one(&mut self, s: AddSource, how: &store::TorrentState) -> Result<Added, String> {
        let source = match s {
            AddSource::Torrent(hex) => {
                torrent_source(protocol::from_hex(&hex).ok_or("the torrent is not hex")?)?
            }
            AddSource::Magnet(link) => Source::Magnet(
                crate::proto::magnet::parse(&link).map_err(|e| format!("bad magnet link: {e}"))?,
            ),
        };
        self.add_source(source, how.clone()).await
    }

    /// Remember (on disk, before answering), then start one parsed torrent.
    async fn add_source(
        &mut self,
        source: Source,
        mut state: store::TorrentState,
    ) -> Result<Added, String> {
        // last in the queue
        state.queue = self
            .torrents
            .values()
            .map(|e| e.state.queue + 1)
            .max()
            .unwrap_or(0);
        let save_dir = &state.save_dir;
        let h = match &source {
            Source::Torrent(m, _) => m.info_hash,
            Source::Magnet(m) => m.info_hash,
        };
        if self.torrents.contains_key(&h) {
            return Err(format!("{h} is already in the session"));
        }
        if !save_dir.is_absolute() {
            return Err(format!(
                "save folder {} is not absolute",
                save_dir.display()
            ));
        }
        state
            .settings
            .wants
            .files
            .validate()
            .map_err(|e| format!("{h}: {e}"))?;
        self.store
            .add(&h, &source, &state)
            .map_err(|e| format!("remember {h}: {e}"))?;
        let (id, name, metainfo) = match self.add_to_engine(&source, &state).await {
            Ok(x) => x,
            Err(e) => {
                let _ = self.store.remove(&h);
                return Err(e);
            }
        };
        self.torrents.insert(
            h,
            Entry {
                id,
                name: name.clone(),
                metainfo,
                state,
                error: None,
            },
        );
        Ok(Added {
            info_hash: h.to_string(),
            name,
        })
    }

    /// Add every settled `*.torrent` of the watch folder to the download folder; rename it
    /// `*.added` once the session has it (or had it), `*.invalid` when it is not a torrent.
    pub async fn scan_watch_dir(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "torrent"))
            .collect();
        files.sort();
        for path in files {
            let settled = std::fs::metadata(&path)
                .ok()
                .filter(|m| m.is_file())
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= WATCH_SETTLE);
            if !settled {
                continue;
            }
            let source = std::fs::read(&path)
                .map_err(|e| format!("read: {e}"))
                .and_then(torrent_source);
            let outcome = match source {
                Ok(s) => {
                    let dir = self.download_dir.clone();
                    let state = store::TorrentState {
                        save_dir: dir,
                        paused: false,
                        added_at: now_secs(),
                        settings: Default::default(),
                        pause_after_metadata: false,
                        queue: 0,
                    };
                    self.add_source(s, state).await
                }
                Err(e) => Err(e),
            };
            let suffix = match &outcome {
                Ok(a) => {
                    tracing::info!("watch folder: added {} ({})", a.name, path.display());
                    "added"
                }
                Err(e) if e.contains("already in the session") => "added",
                Err(e) => {
                    tracing::warn!("watch folder: {}: {e}", path.display());
                    "invalid"
                }
            };
            let mut to = path.as_os_str().to_owned();
            to.push(format!(".{suffix}"));
            if let Err(e) = std::fs::rename(&path, &to) {
                tracing::warn!("watch folder: rename {}: {e}", path.display());
            }
        }
    }

    /// The pieces a connected peer of a torrent has. The answer needs nothing of the session
    /// once the torrent is found, so the actor awaits it elsewhere (a peer's task may take a
    /// moment to answer; the actor keeps forwarding events meanwhile).
    pub fn peer_pieces(
        &self,
        hash: &str,
        addr: std::net::SocketAddr,
    ) -> impl std::future::Future<Output = Response> + Send + 'static {
        let id = self.find(hash).and_then(|h| {
            self.torrents
                .get(&h)
                .map(|e| e.id)
                .ok_or(format!("no torrent {h}"))
        });
        let (engine, hash) = (self.engine.clone(), hash.to_string());
        async move {
            let id = match id {
                Ok(id) => id,
                Err(e) => return Response::error(e),
            };
            match engine.peer_pieces(id, addr).await {
                Some(bits) => Response {
                    peer_pieces: Some(protocol::PeerPieces::new(&bits)),
                    ..Response::ok()
                },
                None => Response::error(format!("{addr} is not connected to {hash}")),
            }
        }
    }

    /// The torrent a hash or a unique prefix of one names.
    fn find(&self, text: &str) -> Result<InfoHash, String> {
        let t = text.to_ascii_lowercase();
        let mut found = self
            .torrents
            .keys()
            .filter(|h| !t.is_empty() && h.to_string().starts_with(&t));
        match (found.next(), found.next()) {
            (Some(h), None) => Ok(*h),
            (None, _) => Err(format!("no torrent {text} in the session")),
            (Some(_), Some(_)) => Err(format!("{text} names more than one torrent")),
        }
    }

    fn for_each(
        &mut self,
        hashes: &[String],
        mut f: impl FnMut(&mut Self, &InfoHash) -> Result<(), String>,
    ) -> Response {
        let mut r = Response::ok();
        for text in hashes {
            if let Err(e) = self.find(text).and_then(|h| f(self, &h)) {
                r.errors.push(e);
            }
        }
        r.ok = r.errors.is_empty();
        r
    }

    fn set_paused(&mut self, h: &InfoHash, paused: bool) -> Result<(), String> {
        let Some(e) = self.torrents.get_mut(h) else {
            return Err(format!("no torrent {h}"));
        };
        e.state.paused = paused;
        self.store
            .set_state(h, &e.state)
            .map_err(|err| format!("remember {h}: {err}"))?;
        if paused {
            self.engine.pause(e.id);
        } else {
            self.engine.resume(e.id);
        }
        Ok(())
    }

    async fn remove(&mut self, h: &InfoHash, delete_data: bool) -> Result<(), String> {
        let Some(e) = self.torrents.remove(h) else {
            return Err(format!("no torrent {h}"));
        };
        if delete_data {
            self.engine.remove_with_data(e.id).await;
        } else {
            self.engine.remove(e.id).await;
        }
        self.store
            .remove(h)
            .map_err(|err| format!("forget {h}: {err}"))
    }

    /// Every torrent, for `status`, as the engine's `picture` shows it.
    pub fn status(&self, picture: Option<&EngineSnapshot>) -> Vec<TorrentStatus> {
        let pictures: HashMap<InfoHash, &TorrentSnapshot> = picture
            .iter()
            .flat_map(|s| s.torrents.iter())
            .map(|t| (t.info_hash, t))
            .collect();
        let load = EngineLoad {
            download_limit: picture.and_then(|p| p.limits.download),
            download_rate: pictures.values().map(|t| t.download_rate).sum(),
        };
        let mut list: Vec<TorrentStatus> = self
            .torrents
            .iter()
            .map(|(h, e)| {
                // a picture of an earlier torrent under the same hash (removed, added again)
                // is not this one's
                let s = pictures.get(h).copied().filter(|s| s.id == e.id);
                status_of(h, e, s, load)
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name).then(a.info_hash.cmp(&b.info_hash)));
        list
    }
}

/// A .torrent file's bytes as a source to add.
fn torrent_source(bytes: Vec<u8>) -> Result<Source, String> {
    let m = Metainfo::from_bytes(&bytes).map_err(|e| format!("bad torrent: {e}"))?;
    Ok(Source::Torrent(Box::new(m), bytes))
}

/// One torrent's status line from what the session knows.
fn status_of(
    h: &InfoHash,
    e: &Entry,
    s: Option<&TorrentSnapshot>,
    load: EngineLoad,
) -> TorrentStatus {
    let state = if e.error.is_some() {
        "error"
    } else {
        match s.map(|s| s.state) {
            _ if e.state.paused => "paused",
            None | Some(TorrentState::FetchingMetadata) => "metadata",
            Some(TorrentState::Checking) => "checking",
            Some(TorrentState::Downloading) => "downloading",
            Some(TorrentState::Seeding) => "seeding",
            Some(TorrentState::Paused) => "paused",
            Some(TorrentState::Queued) => "queued",
            Some(TorrentState::Failed) => "error",
        }
    };
    let progress = s.map_or(0.0, |s| {
        if s.total_length == 0 {
            0.0
        } else {
            1.0 - s.bytes_left as f64 / s.total_length as f64
        }
    });
    TorrentStatus {
        info_hash: h.to_string(),
        name: e.name.clone(),
        state: state.into(),
        progress: progress.clamp(0.0, 1.0),
        size: s.map_or(0, |s| s.total_length),
        downloaded: s.map_or(0, |s| s.downloaded),
        uploaded: s.map_or(0, |s| s.uploaded),
        down_rate: s.map_or(0.0, |s| s.download_rate),
        up_rate: s.map_or(0.0, |s| s.upload_rate),
        peers: s.map_or(0, |s| s.peers.len()),
        save_path: e.state.save_dir.display().to_string(),
        error: e.error.clone(),
        bottleneck: s.map_or_else(String::new, |s| {
            if e.error.is_some() {
                Verdict::Failed.to_string()
            } else {
                verdict(s, load).to_string()
            }
        }),
    }
}
