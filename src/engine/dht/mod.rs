//! The DHT node (BEP 5): a tokio task that owns one UDP socket, answers every query from other
//! nodes, keeps the routing table ([`routing`]) and runs iterative lookups ([`lookup`]) for the
//! engine and the `dht` command.
//!
//! # Server side
//! - `ping`, `find_node`, `get_peers`, `announce_peer` are answered; any other method gets error
//!   204, a malformed query error 203.
//! - Tokens (BEP 5 "announce_peer"): `SHA-1(secret || querier IP)[..8]`. The secret changes every
//!   [`TOKEN_ROTATION`] and the previous one is still accepted, so a token lives 5-10 minutes and
//!   only works from the address it was given to.
//! - Announced peers are stored for [`PEER_TTL`], at most [`MAX_STORED_TORRENTS`] info hashes and
//!   [`MAX_PEERS_PER_TORRENT`] peers each; `get_peers` returns at most [`MAX_VALUES`] of them.
//! - Every datagram from one IP draws from a token bucket ([`RATE_PER_IP`] per second, burst
//!   [`RATE_BURST`]): a flood from one address is dropped without answers, and the node keeps
//!   serving everybody else.
//!
//! # Client side
//! Each query gets a fresh 2-byte transaction id; an answer is accepted only from the address the
//! query went to, and a query unanswered after [`QUERY_TIMEOUT`] counts as a failure of that
//! node. Lookups keep [`ALPHA`] queries in flight. `announce` is `get_peers` followed by
//! `announce_peer` to the closest nodes that returned tokens.
//!
//! # Bootstrap and persistence
//! At start a `find_node` lookup for our own id is seeded with the saved nodes and the bootstrap
//! routers (`HOST:PORT`, resolved here). Our node id and the good nodes are saved to a small
//! bencoded state file (`id`, `nodes` in compact form) at shutdown and every few minutes, so a
//! restart keeps its id and bootstraps from nodes that answered last time. Buckets idle for 15
//! minutes are refreshed with a `find_node` for a random id in their range.

pub mod lookup;
pub mod routing;

use crate::engine::event::{DhtLookupKind, DhtLookupSnapshot, DhtSnapshot};
use crate::proto::bencode::{self, Value};
use crate::proto::id::{InfoHash, NodeId};
use crate::proto::krpc::{self, Body, CompactNode, Krpc, Query, Response, code};
use lookup::Lookup;
use routing::{Contact, Insert, K, RoutingTable};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// The routers of BEP 5 and the big clients: the CLI's default bootstrap list. Never used by
/// the library default ([`crate::engine::EngineConfig::default`] has no DHT) nor by tests.
pub const PUBLIC_BOOTSTRAP: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.aelitis.com:6881",
    "dht.libtorrent.org:25401",
];
/// Default UDP port (BEP 5 suggests the BitTorrent port range; 6881 is customary).
pub const DEFAULT_PORT: u16 = 6881;
/// Queries in flight per lookup.
pub const ALPHA: usize = 6;
/// A query unanswered this long has failed.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Secret rotation for tokens (BEP 5: "tokens up to ten minutes old are accepted").
pub const TOKEN_ROTATION: Duration = Duration::from_secs(5 * 60);
/// How long an announced peer is kept.
pub const PEER_TTL: Duration = Duration::from_secs(30 * 60);
pub const MAX_STORED_TORRENTS: usize = 2000;
pub const MAX_PEERS_PER_TORRENT: usize = 200;
/// Source addresses tracked by the rate limiter; beyond that (a spoofed flood) it starts over.
const MAX_RATE_ENTRIES: usize = 50_000;
/// Peers in one `get_peers` answer (keeps the datagram well under 1500 bytes).
pub const MAX_VALUES: usize = 100;
/// Datagrams per second accepted from one IP, and the burst allowed.
pub const RATE_PER_IP: f64 = 200.0;
pub const RATE_BURST: f64 = 400.0;
/// Queries we keep waiting for at once (beyond that, lookups wait).
pub const MAX_PENDING: usize = 512;
/// Finished lookups kept for the snapshot.
const RECENT_LOOKUPS: usize = 8;
/// Our client version in `v` (BEP 5: two letters and two bytes of version).
const VERSION: &[u8; 4] = b"FP\x01\x00";

/// How to start the node.
#[derive(Debug, Clone)]
pub struct DhtConfig {
    /// UDP address to bind (port 0: any free port).
    pub bind: SocketAddr,
    /// When the port is taken, fall back to a free one.
    pub port_fallback: bool,
    /// Routers to bootstrap from, as `HOST:PORT`.
    pub bootstrap: Vec<String>,
    /// The state file (node id and good nodes); `None`: nothing is read or saved.
    pub state_path: Option<PathBuf>,
}

impl DhtConfig {
    /// A node on `0.0.0.0:port` bootstrapping from `bootstrap`, with no state file.
    pub fn new(port: u16, bootstrap: Vec<String>) -> DhtConfig {
        DhtConfig {
            bind: SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)),
            port_fallback: true,
            bootstrap,
            state_path: None,
        }
    }
}

/// `$XDG_DATA_HOME/fast-peer/dht.dat`, else `~/.local/share/fast-peer/dht.dat`.
pub fn default_state_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("share"))
        })?;
    Some(base.join("fast-peer").join("dht.dat"))
}

/// What a lookup started through the handle reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEvent {
    /// A peer for the info hash (each reported once per lookup).
    Peer(SocketAddr),
    /// The lookup converged: nodes asked, how many timed out, how long it took, and for an
    /// announce how many nodes were sent `announce_peer`.
    Done {
        queried: u32,
        timed_out: u32,
        elapsed: Duration,
        announced: usize,
    },
}

enum Cmd {
    Lookup {
        kind: DhtLookupKind,
        target: NodeId,
        announce_port: Option<u16>,
        reply: mpsc::UnboundedSender<LookupEvent>,
    },
    AddNode(SocketAddr),
    WaitBootstrap(oneshot::Sender<usize>),
    Shutdown(oneshot::Sender<()>),
}

/// Commands into a running node. Cheap to clone.
#[derive(Clone)]
pub struct DhtHandle {
    tx: mpsc::UnboundedSender<Cmd>,
    port: u16,
    id: NodeId,
    latest: Arc<Mutex<Option<DhtSnapshot>>>,
}

impl std::fmt::Debug for DhtHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DhtHandle(port {}, id {})", self.port, self.id)
    }
}

impl DhtHandle {
    /// The UDP port the node listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn node_id(&self) -> NodeId {
        self.id
    }

    fn lookup(
        &self,
        kind: DhtLookupKind,
        target: NodeId,
        announce_port: Option<u16>,
    ) -> mpsc::UnboundedReceiver<LookupEvent> {
        let (reply, rx) = mpsc::unbounded_channel();
        let _ = self.tx.send(Cmd::Lookup {
            kind,
            target,
            announce_port,
            reply,
        });
        rx
    }

    /// Look for peers of `info_hash`; the channel ends after [`LookupEvent::Done`].
    pub fn get_peers(&self, info_hash: InfoHash) -> mpsc::UnboundedReceiver<LookupEvent> {
        self.lookup(DhtLookupKind::GetPeers, NodeId(info_hash.0), None)
    }

    /// [`Self::get_peers`], then `announce_peer` with `port` (0: `implied_port`, the UDP port).
    pub fn announce(&self, info_hash: InfoHash, port: u16) -> mpsc::UnboundedReceiver<LookupEvent> {
        self.lookup(DhtLookupKind::Announce, NodeId(info_hash.0), Some(port))
    }

    /// A `find_node` lookup (fills the routing table around `target`).
    pub fn find_node(&self, target: NodeId) -> mpsc::UnboundedReceiver<LookupEvent> {
        self.lookup(DhtLookupKind::FindNode, target, None)
    }

    /// A node learnt elsewhere (a peer's BEP 5 `Port` message): pinged, and added if it answers.
    pub fn add_node(&self, addr: SocketAddr) {
        let _ = self.tx.send(Cmd::AddNode(addr));
    }

    /// Wait for the first bootstrap to finish; returns the number of nodes in the table.
    pub async fn bootstrapped(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::WaitBootstrap(tx)).is_err() {
            return 0;
        }
        rx.await.unwrap_or(0)
    }

    /// The latest picture of the node (refreshed a few times a second).
    pub fn snapshot(&self) -> Option<DhtSnapshot> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Save the state file and stop.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// The saved state: our id and the nodes worth trying first next time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SavedState {
    pub id: Option<NodeId>,
    pub nodes: Vec<CompactNode>,
}

impl SavedState {
    pub fn encode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        if let Some(id) = self.id {
            d.insert(b"id".to_vec(), Value::Bytes(id.0.to_vec()));
        }
        d.insert(
            b"nodes".to_vec(),
            Value::Bytes(krpc::encode_nodes(&self.nodes)),
        );
        bencode::encode(&Value::Dict(d))
    }

    /// Lenient on purpose: a damaged file only costs a fresh id or a slower bootstrap.
    pub fn decode(b: &[u8]) -> SavedState {
        let Ok(v) = bencode::decode(b) else {
            return SavedState::default();
        };
        let id = v
            .get(b"id")
            .and_then(Value::as_bytes)
            .and_then(NodeId::from_slice);
        let nodes = v
            .get(b"nodes")
            .and_then(Value::as_bytes)
            .and_then(|n| krpc::decode_nodes(n).ok())
            .unwrap_or_default();
        SavedState { id, nodes }
    }

    pub fn load(path: &Path) -> SavedState {
        std::fs::read(path)
            .map(|b| SavedState::decode(&b))
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.encode())?;
        std::fs::rename(&tmp, path)
    }
}

/// Bind the socket, load the state and start the node (bootstrap begins at once).
pub async fn spawn(config: DhtConfig) -> std::io::Result<DhtHandle> {
    let socket = match UdpSocket::bind(config.bind).await {
        Ok(s) => s,
        Err(e) if config.port_fallback && config.bind.port() != 0 => {
            tracing::warn!(
                "DHT port {} unavailable ({e}); using a free port",
                config.bind.port()
            );
            UdpSocket::bind(SocketAddr::new(config.bind.ip(), 0)).await?
        }
        Err(e) => return Err(e),
    };
    let port = socket.local_addr()?.port();
    let saved = config
        .state_path
        .as_deref()
        .map(SavedState::load)
        .unwrap_or_default();
    let id = saved.id.unwrap_or_else(|| NodeId(rand::random()));
    let now = Instant::now();
    let (tx, rx) = mpsc::unbounded_channel();
    let latest = Arc::new(Mutex::new(None));
    let node = Node {
        socket: Arc::new(socket),
        port,
        table: RoutingTable::new(id, now),
        lookups: HashMap::new(),
        recent: VecDeque::new(),
        next_lookup: 1,
        pending: HashMap::new(),
        next_tid: rand::random(),
        secret: rand::random(),
        prev_secret: rand::random(),
        rotated_at: now,
        store: HashMap::new(),
        rate: HashMap::new(),
        bootstrap: Vec::new(),
        bootstrap_names: config.bootstrap.clone(),
        saved_nodes: saved.nodes,
        bootstrapped: false,
        bootstrap_waiters: Vec::new(),
        state_path: config.state_path.clone(),
        latest: latest.clone(),
        counters: Counters::default(),
        last_saved: now,
    };
    tokio::spawn(node.run(rx));
    Ok(DhtHandle {
        tx,
        port,
        id,
        latest,
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    queries_received: u64,
    queries_sent: u64,
    responses_received: u64,
    timeouts: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Bootstrap,
    Refresh,
    User,
}

struct Active {
    lookup: Lookup,
    reply: Option<mpsc::UnboundedSender<LookupEvent>>,
    announce_port: Option<u16>,
    purpose: Purpose,
}

#[derive(Debug, Clone, Copy)]
enum PendingKind {
    Ping,
    Lookup(u64),
    Announce,
}

struct Pending {
    addr: SocketAddr,
    sent: Instant,
    kind: PendingKind,
}

struct Node {
    socket: Arc<UdpSocket>,
    port: u16,
    table: RoutingTable,
    lookups: HashMap<u64, Active>,
    recent: VecDeque<DhtLookupSnapshot>,
    next_lookup: u64,
    pending: HashMap<u16, Pending>,
    next_tid: u16,
    secret: [u8; 16],
    prev_secret: [u8; 16],
    rotated_at: Instant,
    store: HashMap<InfoHash, HashMap<SocketAddr, Instant>>,
    rate: HashMap<IpAddr, (f64, Instant)>,
    bootstrap: Vec<SocketAddr>,
    bootstrap_names: Vec<String>,
    saved_nodes: Vec<CompactNode>,
    bootstrapped: bool,
    bootstrap_waiters: Vec<oneshot::Sender<usize>>,
    state_path: Option<PathBuf>,
    latest: Arc<Mutex<Option<DhtSnapshot>>>,
    counters: Counters,
    last_saved: Instant,
}

fn token_for(secret: &[u8; 16], ip: IpAddr) -> Vec<u8> {
    let mut h = Sha1::new();
    h.update(secret);
    match ip {
        IpAddr::V4(v) => h.update(v.octets()),
        IpAddr::V6(v) => h.update(v.octets()),
    }
    h.finalize()[..8].to_vec()
}

/// Resolve `HOST:PORT` names, all at once (IPv4 only: our compact node format is IPv4).
async fn resolve(names: &[String]) -> Vec<SocketAddr> {
    let mut set = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let name = name.clone();
        set.spawn(async move {
            let r = tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host(name.clone()),
            )
            .await;
            let addrs: Vec<SocketAddr> = match r {
                Ok(Ok(addrs)) => addrs.filter(|a| a.is_ipv4()).collect(),
                Ok(Err(e)) => {
                    tracing::warn!("DHT bootstrap {name}: {e}");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!("DHT bootstrap {name}: name lookup timed out");
                    Vec::new()
                }
            };
            (i, addrs)
        });
    }
    let mut found: Vec<(usize, Vec<SocketAddr>)> = set.join_all().await;
    // keep the order given
    found.sort_by_key(|(i, _)| *i);
    let mut out: Vec<SocketAddr> = Vec::new();
    for a in found.into_iter().flat_map(|(_, a)| a) {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

impl Node {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Cmd>) {
        self.bootstrap = resolve(&self.bootstrap_names).await;
        self.start_bootstrap(Instant::now());
        let socket = self.socket.clone();
        let mut buf = vec![0u8; 65536];
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.on_datagram(&buf[..n], from).await,
                    // ICMP port unreachable surfaces here on some systems: not fatal
                    Err(e) => tracing::trace!("DHT recv: {e}"),
                },
                cmd = commands.recv() => match cmd {
                    None => { self.save(); return; }
                    Some(Cmd::Shutdown(done)) => {
                        self.save();
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c).await,
                },
                _ = tick.tick() => {
                    ticks += 1;
                    let now = Instant::now();
                    self.expire(now).await;
                    self.drive_all(now).await;
                    if ticks.is_multiple_of(3) {
                        self.publish(now);
                    }
                    if ticks.is_multiple_of(600) {
                        self.maintain(now).await;
                    }
                }
            }
        }
    }

    fn start_bootstrap(&mut self, now: Instant) {
        let own = self.table.own_id();
        let mut seeds: Vec<(Option<NodeId>, SocketAddr)> = self
            .saved_nodes
            .iter()
            .map(|n| (Some(n.id), SocketAddr::V4(n.addr)))
            .collect();
        seeds.extend(
            self.table
                .closest(&own, K, now)
                .into_iter()
                .map(|(id, a)| (Some(id), a)),
        );
        seeds.extend(self.bootstrap.iter().map(|a| (None, *a)));
        self.add_lookup(
            DhtLookupKind::FindNode,
            own,
            seeds,
            None,
            None,
            Purpose::Bootstrap,
            now,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn add_lookup(
        &mut self,
        kind: DhtLookupKind,
        target: NodeId,
        seeds: Vec<(Option<NodeId>, SocketAddr)>,
        reply: Option<mpsc::UnboundedSender<LookupEvent>>,
        announce_port: Option<u16>,
        purpose: Purpose,
        now: Instant,
    ) -> u64 {
        let id = self.next_lookup;
        self.next_lookup += 1;
        let lookup = Lookup::new(kind, target, ALPHA, seeds, now);
        self.lookups.insert(
            id,
            Active {
                lookup,
                reply,
                announce_port,
                purpose,
            },
        );
        id
    }

    async fn command(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Lookup {
                kind,
                target,
                announce_port,
                reply,
            } => {
                let mut seeds: Vec<(Option<NodeId>, SocketAddr)> = self
                    .table
                    .closest(&target, 2 * K, now)
                    .into_iter()
                    .map(|(id, a)| (Some(id), a))
                    .collect();
                if seeds.len() < K {
                    seeds.extend(self.bootstrap.iter().map(|a| (None, *a)));
                }
                let id = self.add_lookup(
                    kind,
                    target,
                    seeds,
                    Some(reply),
                    announce_port,
                    Purpose::User,
                    now,
                );
                self.drive(id, now).await;
            }
            Cmd::AddNode(addr) => {
                if addr.port() != 0 && !addr.ip().is_unspecified() {
                    self.send_query(
                        addr,
                        Query::Ping {
                            id: self.table.own_id(),
                        },
                        PendingKind::Ping,
                        now,
                    )
                    .await;
                }
            }
            Cmd::WaitBootstrap(w) => {
                if self.bootstrapped {
                    let _ = w.send(self.table.len());
                } else {
                    self.bootstrap_waiters.push(w);
                }
            }
            Cmd::Shutdown(_) => {}
        }
    }

    fn alloc_tid(&mut self) -> Option<u16> {
        for _ in 0..8 {
            self.next_tid = self.next_tid.wrapping_add(1);
            if !self.pending.contains_key(&self.next_tid) {
                return Some(self.next_tid);
            }
        }
        None
    }

    async fn send(&self, msg: &Krpc, to: SocketAddr) {
        let mut m = msg.clone();
        m.v = Some(VERSION.to_vec());
        if let Err(e) = self.socket.send_to(&m.encode(), to).await {
            tracing::trace!("DHT send to {to}: {e}");
        }
    }

    /// Send a query; false when it could not be sent (too many pending).
    async fn send_query(
        &mut self,
        to: SocketAddr,
        q: Query,
        kind: PendingKind,
        now: Instant,
    ) -> bool {
        if self.pending.len() >= MAX_PENDING {
            return false;
        }
        let Some(tid) = self.alloc_tid() else {
            return false;
        };
        self.pending.insert(
            tid,
            Pending {
                addr: to,
                sent: now,
                kind,
            },
        );
        self.counters.queries_sent += 1;
        self.send(&Krpc::query(tid.to_be_bytes().to_vec(), q), to)
            .await;
        true
    }

    /// Send what lookup `id` wants sent, and finish it when it converged.
    async fn drive(&mut self, id: u64, now: Instant) {
        let own = self.table.own_id();
        let Some(active) = self.lookups.get_mut(&id) else {
            return;
        };
        let target = active.lookup.target;
        let kind = active.lookup.kind;
        let room = MAX_PENDING.saturating_sub(self.pending.len());
        let queries = if room > 0 {
            active.lookup.next_queries(now)
        } else {
            Vec::new()
        };
        for addr in queries {
            let q = match kind {
                DhtLookupKind::FindNode => Query::FindNode { id: own, target },
                _ => Query::GetPeers {
                    id: own,
                    info_hash: InfoHash(target.0),
                },
            };
            if !self.send_query(addr, q, PendingKind::Lookup(id), now).await
                && let Some(a) = self.lookups.get_mut(&id)
            {
                a.lookup.on_failure(addr, now);
            }
        }
        let done = self.lookups.get(&id).is_some_and(|a| a.lookup.is_done());
        if done && let Some(active) = self.lookups.remove(&id) {
            self.finish(active, now).await;
        }
    }

    async fn drive_all(&mut self, now: Instant) {
        let ids: Vec<u64> = self.lookups.keys().copied().collect();
        for id in ids {
            self.drive(id, now).await;
        }
    }

    async fn finish(&mut self, active: Active, now: Instant) {
        let own = self.table.own_id();
        let mut announced = 0;
        if let Some(port) = active.announce_port {
            let info_hash = InfoHash(active.lookup.target.0);
            for (addr, token) in active.lookup.announce_targets() {
                let q = Query::AnnouncePeer {
                    id: own,
                    info_hash,
                    port,
                    implied_port: port == 0,
                    token,
                };
                if self.send_query(addr, q, PendingKind::Announce, now).await {
                    announced += 1;
                }
            }
        }
        let snap = active.lookup.snapshot(now);
        if let Some(reply) = &active.reply {
            let _ = reply.send(LookupEvent::Done {
                queried: snap.queried,
                timed_out: snap.timed_out,
                elapsed: snap.elapsed,
                announced,
            });
        }
        self.recent.push_back(snap);
        while self.recent.len() > RECENT_LOOKUPS {
            self.recent.pop_front();
        }
        if active.purpose == Purpose::Bootstrap {
            self.bootstrapped = true;
            let n = self.table.len();
            for w in self.bootstrap_waiters.drain(..) {
                let _ = w.send(n);
            }
            self.save();
            // fill the far buckets too: one refresh of every bucket, now that we know some nodes
            let targets = self.table.refresh_all(now, rand::random);
            for t in targets {
                let seeds = self
                    .table
                    .closest(&t, K, now)
                    .into_iter()
                    .map(|(id, a)| (Some(id), a))
                    .collect();
                self.add_lookup(
                    DhtLookupKind::FindNode,
                    t,
                    seeds,
                    None,
                    None,
                    Purpose::Refresh,
                    now,
                );
            }
        }
    }

    /// Time out queries, and count the failures against their nodes.
    async fn expire(&mut self, now: Instant) {
        let late: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.sent) >= QUERY_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        for tid in late {
            let Some(p) = self.pending.remove(&tid) else {
                continue;
            };
            self.counters.timeouts += 1;
            let known = self.table.nodes().find(|n| n.addr == p.addr).map(|n| n.id);
            if let Some(id) = known {
                self.table.failed(&id, now);
            }
            if let PendingKind::Lookup(l) = p.kind
                && let Some(a) = self.lookups.get_mut(&l)
            {
                a.lookup.on_failure(p.addr, now);
            }
        }
    }

    /// Every minute: rotate the token secret, expire stored peers and rate buckets, refresh
    /// idle buckets, re-bootstrap an empty table, save the state.
    async fn maintain(&mut self, now: Instant) {
        if now.saturating_duration_since(self.rotated_at) >= TOKEN_ROTATION {
            self.prev_secret = self.secret;
            self.secret = rand::random();
            self.rotated_at = now;
        }
        self.store.retain(|_, peers| {
            peers.retain(|_, t| now.saturating_duration_since(*t) < PEER_TTL);
            !peers.is_empty()
        });
        self.rate
            .retain(|_, (_, t)| now.saturating_duration_since(*t) < Duration::from_secs(10));
        if self.table.is_empty()
            && !self
                .lookups
                .values()
                .any(|a| a.purpose == Purpose::Bootstrap)
        {
            if self.bootstrap.is_empty() {
                self.bootstrap = resolve(&self.bootstrap_names).await;
            }
            self.start_bootstrap(now);
        } else {
            for t in self.table.refresh_due(now, rand::random) {
                let seeds = self
                    .table
                    .closest(&t, K, now)
                    .into_iter()
                    .map(|(id, a)| (Some(id), a))
                    .collect();
                self.add_lookup(
                    DhtLookupKind::FindNode,
                    t,
                    seeds,
                    None,
                    None,
                    Purpose::Refresh,
                    now,
                );
            }
        }
        if now.saturating_duration_since(self.last_saved) >= Duration::from_secs(300) {
            self.save();
        }
    }

    fn save(&mut self) {
        self.last_saved = Instant::now();
        let Some(path) = &self.state_path else { return };
        let now = Instant::now();
        let mut nodes: Vec<CompactNode> = self
            .table
            .good_nodes(now)
            .into_iter()
            .filter_map(|(id, a)| match a {
                SocketAddr::V4(a) => Some(CompactNode { id, addr: a }),
                _ => None,
            })
            .collect();
        if nodes.is_empty() {
            // keep what we had rather than forget every contact after a quiet run
            nodes = self.saved_nodes.clone();
        }
        nodes.truncate(200);
        let state = SavedState {
            id: Some(self.table.own_id()),
            nodes,
        };
        if let Err(e) = state.save(path) {
            tracing::warn!("save DHT state {}: {e}", path.display());
        }
    }

    fn publish(&self, now: Instant) {
        let mut lookups: Vec<DhtLookupSnapshot> = self.recent.iter().cloned().collect();
        let mut active: Vec<&Active> = self
            .lookups
            .values()
            .filter(|a| a.purpose != Purpose::Refresh)
            .collect();
        active.sort_by_key(|a| a.lookup.started());
        lookups.extend(active.iter().map(|a| a.lookup.snapshot(now)));
        let snap = DhtSnapshot {
            node_id: self.table.own_id(),
            port: self.port,
            buckets: self.table.snapshot(now),
            lookups,
            stored_torrents: self.store.len(),
            stored_peers: self.store.values().map(|p| p.len()).sum(),
            queries_received: self.counters.queries_received,
            queries_sent: self.counters.queries_sent,
            responses_received: self.counters.responses_received,
            timeouts: self.counters.timeouts,
        };
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(snap);
    }

    /// Token bucket per source IP; false: drop the datagram.
    fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.rate.len() >= MAX_RATE_ENTRIES && !self.rate.contains_key(&ip) {
            self.rate.clear();
        }
        let e = self.rate.entry(ip).or_insert((RATE_BURST, now));
        let dt = now.saturating_duration_since(e.1).as_secs_f64();
        e.0 = (e.0 + dt * RATE_PER_IP).min(RATE_BURST);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            true
        } else {
            false
        }
    }

    async fn on_datagram(&mut self, buf: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if from.port() == 0 || !self.allow(from.ip(), now) {
            return;
        }
        let msg = match krpc::decode(buf) {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("DHT {from}: {e}");
                // a query we cannot read still deserves an error, when we can address it
                if is_query(buf)
                    && let Some(t) = krpc::transaction_id(buf)
                {
                    self.send(&Krpc::error(t, code::PROTOCOL, &e.to_string()), from)
                        .await;
                }
                return;
            }
        };
        match msg.body {
            Body::Query(q) => self.on_query(msg.t, q, msg.ro, from, now).await,
            Body::Response(r) => self.on_response(&msg.t, r, msg.ro, from, now).await,
            Body::Error { code, message } => {
                let Some(p) = self.take_pending(&msg.t, from) else {
                    return;
                };
                tracing::debug!(
                    "DHT {from} error {code}: {}",
                    String::from_utf8_lossy(&message)
                );
                if let PendingKind::Lookup(l) = p.kind
                    && let Some(a) = self.lookups.get_mut(&l)
                {
                    a.lookup.on_failure(from, now);
                    self.drive(l, now).await;
                }
            }
        }
    }

    fn take_pending(&mut self, t: &[u8], from: SocketAddr) -> Option<Pending> {
        let tid = u16::from_be_bytes(<[u8; 2]>::try_from(t).ok()?);
        // only the address we asked may answer (no spoofed answers from elsewhere)
        if self.pending.get(&tid)?.addr != from {
            return None;
        }
        self.pending.remove(&tid)
    }

    async fn on_response(
        &mut self,
        t: &[u8],
        r: Response,
        ro: bool,
        from: SocketAddr,
        now: Instant,
    ) {
        let Some(p) = self.take_pending(t, from) else {
            return;
        };
        self.counters.responses_received += 1;
        if !ro {
            let rtt = Some(now.saturating_duration_since(p.sent));
            self.learn(r.id, from, Contact::Responded { rtt }, now)
                .await;
        }
        if let PendingKind::Lookup(l) = p.kind
            && let Some(a) = self.lookups.get_mut(&l)
        {
            let nodes = r.nodes.as_deref().unwrap_or_default();
            let values = r.values.as_deref().unwrap_or_default();
            let fresh = a
                .lookup
                .on_response(from, r.id, nodes, values, r.token, now);
            if let Some(reply) = &a.reply {
                for peer in fresh {
                    let _ = reply.send(LookupEvent::Peer(peer));
                }
            }
            self.drive(l, now).await;
        }
    }

    /// Put a node into the table; ping the questionable nodes of a full bucket.
    async fn learn(&mut self, id: NodeId, addr: SocketAddr, contact: Contact, now: Instant) {
        if let Insert::PingFirst(nodes) = self.table.heard_from(id, addr, contact, now) {
            let own = self.table.own_id();
            for (_, a) in nodes {
                self.send_query(a, Query::Ping { id: own }, PendingKind::Ping, now)
                    .await;
            }
        }
    }

    async fn on_query(&mut self, t: Vec<u8>, q: Query, ro: bool, from: SocketAddr, now: Instant) {
        self.counters.queries_received += 1;
        let own = self.table.own_id();
        let reply = match &q {
            Query::Ping { .. } => Krpc::response(
                t,
                Response {
                    id: own,
                    ..Default::default()
                },
            ),
            Query::FindNode { target, .. } => Krpc::response(
                t,
                Response {
                    id: own,
                    nodes: Some(self.compact_closest(target, now)),
                    ..Default::default()
                },
            ),
            Query::GetPeers { info_hash, .. } => {
                let values: Vec<SocketAddr> = self
                    .store
                    .get(info_hash)
                    .map(|p| {
                        p.keys()
                            .filter(|a| **a != from)
                            .take(MAX_VALUES)
                            .copied()
                            .collect()
                    })
                    .unwrap_or_default();
                Krpc::response(
                    t,
                    Response {
                        id: own,
                        nodes: Some(self.compact_closest(&NodeId(info_hash.0), now)),
                        values: if values.is_empty() {
                            None
                        } else {
                            Some(values)
                        },
                        token: Some(token_for(&self.secret, from.ip())),
                    },
                )
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
                ..
            } => {
                let valid = *token == token_for(&self.secret, from.ip())
                    || *token == token_for(&self.prev_secret, from.ip());
                if !valid {
                    self.send(&Krpc::error(t, code::PROTOCOL, "bad token"), from)
                        .await;
                    return;
                }
                let port = if *implied_port { from.port() } else { *port };
                let peer = SocketAddr::new(from.ip(), port);
                if self.store.len() < MAX_STORED_TORRENTS || self.store.contains_key(info_hash) {
                    let peers = self.store.entry(*info_hash).or_default();
                    if peers.len() < MAX_PEERS_PER_TORRENT || peers.contains_key(&peer) {
                        peers.insert(peer, now);
                    }
                }
                Krpc::response(
                    t,
                    Response {
                        id: own,
                        ..Default::default()
                    },
                )
            }
            Query::Unknown { method, .. } => {
                let m = String::from_utf8_lossy(method);
                Krpc::error(t, code::METHOD_UNKNOWN, &format!("Method Unknown: {m}"))
            }
        };
        self.send(&reply, from).await;
        // BEP 43: read-only nodes are not put into routing tables
        if !ro && let Some(id) = q.sender() {
            self.learn(id, from, Contact::Queried, now).await;
        }
    }

    fn compact_closest(&self, target: &NodeId, now: Instant) -> Vec<CompactNode> {
        self.table
            .closest(target, K, now)
            .into_iter()
            .filter_map(|(id, a)| match a {
                SocketAddr::V4(a) => Some(CompactNode { id, addr: a }),
                _ => None,
            })
            .collect()
    }
}

fn is_query(buf: &[u8]) -> bool {
    matches!(bencode::decode(buf), Ok(v) if v.get(b"y").and_then(Value::as_bytes) == Some(b"q"))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn node(ip: &str, bootstrap: Vec<String>) -> DhtHandle {
        let cfg = DhtConfig {
            bind: format!("{ip}:0").parse().unwrap(),
            port_fallback: false,
            bootstrap,
            state_path: None,
        };
        spawn(cfg).await.unwrap()
    }

    #[test]
    fn tokens_depend_on_secret_and_ip() {
        let a = token_for(&[1; 16], "127.0.0.1".parse().unwrap());
        assert_eq!(a.len(), 8);
        assert_ne!(a, token_for(&[2; 16], "127.0.0.1".parse().unwrap()));
        assert_ne!(a, token_for(&[1; 16], "127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn state_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("dht.dat");
        let s = SavedState {
            id: Some(NodeId([4; 20])),
            nodes: vec![CompactNode {
                id: NodeId([5; 20]),
                addr: "127.0.0.5:1234".parse().unwrap(),
            }],
        };
        s.save(&path).unwrap();
        assert_eq!(SavedState::load(&path), s);
        std::fs::write(&path, b"garbage").unwrap();
        assert_eq!(SavedState::load(&path), SavedState::default());
    }

    /// Twenty in-process nodes on loopback: each bootstraps from the first, one announces, another
    /// finds the announced peer; a raw socket gets answers to ping, an unknown method and garbage.
    #[tokio::test]
    async fn loopback_network_announce_and_find() {
        let first = node("127.0.3.1", vec![]).await;
        let boot = vec![format!("127.0.3.1:{}", first.port())];
        let mut nodes = vec![first.clone()];
        for i in 2..=20 {
            nodes.push(node(&format!("127.0.3.{i}"), boot.clone()).await);
        }
        for n in &nodes[1..] {
            n.bootstrapped().await;
        }
        let info_hash = InfoHash([0x42; 20]);
        let mut rx = nodes[5].announce(info_hash, 7777);
        let mut announced = 0;
        while let Some(ev) = rx.recv().await {
            if let LookupEvent::Done { announced: a, .. } = ev {
                announced = a;
            }
        }
        assert!(announced > 0, "announce_peer sent");
        // let the announce_peer queries land
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut rx = nodes[17].get_peers(info_hash);
        let mut peers = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let LookupEvent::Peer(p) = ev {
                peers.push(p);
            }
        }
        assert!(
            peers.contains(&"127.0.3.6:7777".parse().unwrap()),
            "{peers:?}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let snap = nodes[17].snapshot().unwrap();
        assert!(snap.buckets.iter().map(|b| b.nodes.len()).sum::<usize>() >= 8);
        assert!(
            snap.lookups
                .iter()
                .any(|l| l.kind == DhtLookupKind::GetPeers && l.done && l.peers_found >= 1)
        );

        // raw socket: ping, an unknown method (204), garbage (ignored), a bad token (203)
        let raw = tokio::net::UdpSocket::bind("127.0.3.99:0").await.unwrap();
        let to: SocketAddr = format!("127.0.3.1:{}", first.port()).parse().unwrap();
        let ask = |m: Vec<u8>| {
            let raw = &raw;
            async move {
                raw.send_to(&m, to).await.unwrap();
                let mut b = vec![0u8; 2048];
                let (n, _) = tokio::time::timeout(Duration::from_secs(2), raw.recv_from(&mut b))
                    .await
                    .unwrap()
                    .unwrap();
                krpc::decode(&b[..n]).unwrap()
            }
        };
        raw.send_to(b"\xff\x00garbage", to).await.unwrap();
        let r = ask(Krpc::query(
            b"p1".to_vec(),
            Query::Ping {
                id: NodeId([9; 20]),
            },
        )
        .encode())
        .await;
        assert_eq!(r.t, b"p1");
        assert!(matches!(r.body, Body::Response(Response { id, .. }) if id == first.node_id()));
        let r = ask(b"d1:ad2:id20:abcdefghij0123456789e1:q3:get1:t2:u11:y1:qe".to_vec()).await;
        assert!(matches!(r.body, Body::Error { code: 204, .. }), "{r:?}");
        let bad = Query::AnnouncePeer {
            id: NodeId([9; 20]),
            info_hash,
            port: 1,
            implied_port: false,
            token: b"nope".to_vec(),
        };
        let r = ask(Krpc::query(b"a1".to_vec(), bad).encode()).await;
        assert!(matches!(r.body, Body::Error { code: 203, .. }), "{r:?}");
        for n in &nodes {
            n.shutdown().await;
        }
    }
}
