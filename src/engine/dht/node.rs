//! The node's task: [`spawn`] binds the socket and starts it, and [`Node::run`] is one loop over
//! the socket, the handle's commands and a 100 ms tick. This file holds the node's state and
//! the dispatch: each datagram goes to the server side (`super::server`) or the client side
//! (`super::client`), and the tick times out queries, moves lookups on, publishes the snapshot
//! and, every minute, runs the upkeep (`super::bootstrap`).
//!
//! Everything runs on this one task, so the node's state needs no locks; only the snapshot
//! for the handle sits behind a mutex.

use super::handle::{Cmd, DhtConfig, DhtHandle, LookupEvent};
use super::lookup::Lookup;
use super::routing::{Contact, Insert, K, RoutingTable};
use super::server::{Answer, Server};
use super::state::SavedState;
use crate::engine::event::{DhtLookupSnapshot, DhtSnapshot};
use crate::proto::bencode::{self, Value};
use crate::proto::id::NodeId;
use crate::proto::krpc::{self, Body, CompactNode, Krpc, Query, code};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

/// Our client version in `v` (BEP 5: two letters and two bytes of version).
const VERSION: &[u8; 4] = b"FP\x01\x00";

/// Traffic counters for the snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counters {
    pub(super) queries_received: u64,
    pub(super) queries_sent: u64,
    pub(super) responses_received: u64,
    pub(super) timeouts: u64,
}

/// Why a lookup runs: bootstrap lookups mark the node bootstrapped when they finish, refresh
/// lookups stay out of the snapshot, user lookups report to a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Bootstrap,
    Refresh,
    User,
}

/// A lookup in progress.
pub(super) struct Active {
    pub(super) lookup: Lookup,
    pub(super) reply: Option<mpsc::UnboundedSender<LookupEvent>>,
    /// Some: an announce, `announce_peer` with this port once the lookup converged.
    pub(super) announce_port: Option<u16>,
    pub(super) purpose: Purpose,
}

/// What an answer to one of our queries is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum PendingKind {
    Ping,
    /// A query of lookup `id` (a key of [`Node::lookups`]).
    Lookup(u64),
    Announce,
}

/// One of our queries, waiting for its answer.
pub(super) struct Pending {
    /// Only this address may answer.
    pub(super) addr: SocketAddr,
    pub(super) sent: Instant,
    pub(super) kind: PendingKind,
}

/// The node's state, owned by its task.
pub(super) struct Node {
    pub(super) socket: Arc<UdpSocket>,
    pub(super) port: u16,
    pub(super) table: RoutingTable,
    pub(super) lookups: HashMap<u64, Active>,
    /// Finished lookups, newest last, for the snapshot.
    pub(super) recent: VecDeque<DhtLookupSnapshot>,
    pub(super) next_lookup: u64,
    /// Our queries in flight, by transaction id.
    pub(super) pending: HashMap<u16, Pending>,
    pub(super) next_tid: u16,
    pub(super) server: Server,
    /// The bootstrap routers, resolved.
    pub(super) bootstrap: Vec<SocketAddr>,
    /// The bootstrap routers as configured (`HOST:PORT`).
    pub(super) bootstrap_names: Vec<String>,
    /// The nodes from the state file.
    pub(super) saved_nodes: Vec<CompactNode>,
    pub(super) bootstrapped: bool,
    pub(super) bootstrap_waiters: Vec<oneshot::Sender<usize>>,
    pub(super) state_path: Option<PathBuf>,
    pub(super) latest: Arc<Mutex<Option<DhtSnapshot>>>,
    pub(super) counters: Counters,
    pub(super) last_saved: Instant,
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
        server: Server::new(now),
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

impl Node {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Cmd>) {
        self.resolve_bootstrap().await;
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

    /// Send `msg` with our version; a failed send is the same as a lost datagram.
    pub(super) async fn send(&self, msg: &Krpc, to: SocketAddr) {
        let mut m = msg.clone();
        m.v = Some(VERSION.to_vec());
        if let Err(e) = self.socket.send_to(&m.encode(), to).await {
            tracing::trace!("DHT send to {to}: {e}");
        }
    }

    async fn on_datagram(&mut self, buf: &[u8], from: SocketAddr) {
        let now = Instant::now();
        if from.port() == 0 || !self.server.allow(from.ip(), now) {
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
                self.on_error(&msg.t, code, &message, from, now).await;
            }
        }
    }

    async fn on_query(&mut self, t: Vec<u8>, q: Query, ro: bool, from: SocketAddr, now: Instant) {
        self.counters.queries_received += 1;
        let reply = match self.server.answer(t, &q, from, &self.table, now) {
            Answer::Reply(reply) => reply,
            Answer::Refuse(error) => {
                self.send(&error, from).await;
                return;
            }
        };
        self.send(&reply, from).await;
        // BEP 43: read-only nodes are not put into routing tables
        if !ro && let Some(id) = q.sender() {
            self.learn(id, from, Contact::Queried, now).await;
        }
    }

    /// Put a node into the table; ping the questionable nodes of a full bucket.
    pub(super) async fn learn(
        &mut self,
        id: NodeId,
        addr: SocketAddr,
        contact: Contact,
        now: Instant,
    ) {
        if let Insert::PingFirst(nodes) = self.table.heard_from(id, addr, contact, now) {
            let own = self.table.own_id();
            for (_, a) in nodes {
                self.send_query(a, Query::Ping { id: own }, PendingKind::Ping, now)
                    .await;
            }
        }
    }

    /// Refresh the handle's snapshot.
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
            stored_torrents: self.server.stored_torrents(),
            stored_peers: self.server.stored_peers(),
            queries_received: self.counters.queries_received,
            queries_sent: self.counters.queries_sent,
            responses_received: self.counters.responses_received,
            timeouts: self.counters.timeouts,
        };
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(snap);
    }
}

fn is_query(buf: &[u8]) -> bool {
    matches!(bencode::decode(buf), Ok(v) if v.get(b"y").and_then(Value::as_bytes) == Some(b"q"))
}
