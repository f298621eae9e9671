//! The public face of a running node: [`DhtConfig`] to start it, [`DhtHandle`] to talk to it,
//! [`LookupEvent`] for what a lookup reports. The handle only sends commands (`Cmd`) over a
//! channel into the node's task (`super::node`) and reads the snapshot the task publishes, so it
//! is cheap to clone and never blocks on the network.

use crate::engine::event::{DhtLookupKind, DhtSnapshot};
use crate::proto::id::{InfoHash, NodeId};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

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

/// What the handle asks of the node's task.
pub(super) enum Cmd {
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
    pub(super) tx: mpsc::UnboundedSender<Cmd>,
    pub(super) port: u16,
    pub(super) id: NodeId,
    /// Written by the node's task (`publish`), read by [`DhtHandle::snapshot`].
    pub(super) latest: Arc<Mutex<Option<DhtSnapshot>>>,
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
