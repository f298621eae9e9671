//! Getting into the network and staying there: the bootstrap lookup (a `find_node` for our own
//! id, seeded with the saved nodes and the resolved routers), the bucket refreshes, the
//! minute-by-minute upkeep and saving the state file (`super::state`).
//!
//! The first bootstrap is followed by a refresh of every bucket, so the far buckets fill too;
//! after that only buckets idle for 15 minutes are refreshed, and an empty table bootstraps
//! again (resolving the routers again if they did not resolve the first time).

use super::node::{Node, Purpose};
use super::routing::K;
use super::state::SavedState;
use crate::engine::event::DhtLookupKind;
use crate::proto::id::NodeId;
use crate::proto::krpc::CompactNode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
    /// Resolve the configured routers into [`Node::bootstrap`].
    pub(super) async fn resolve_bootstrap(&mut self) {
        self.bootstrap = resolve(&self.bootstrap_names).await;
    }

    pub(super) fn start_bootstrap(&mut self, now: Instant) {
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

    /// A bootstrap lookup finished: wake the waiters, save, and refresh every bucket.
    pub(super) fn bootstrap_done(&mut self, now: Instant) {
        self.bootstrapped = true;
        let n = self.table.len();
        for w in self.bootstrap_waiters.drain(..) {
            let _ = w.send(n);
        }
        self.save();
        // fill the far buckets too: one refresh of every bucket, now that we know some nodes
        let targets = self.table.refresh_all(now, rand::random);
        self.refresh(targets, now);
    }

    /// A `find_node` lookup for each target, seeded from the table.
    fn refresh(&mut self, targets: Vec<NodeId>, now: Instant) {
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

    /// Every minute: rotate the token secret, expire stored peers and rate buckets, refresh
    /// idle buckets, re-bootstrap an empty table, save the state.
    pub(super) async fn maintain(&mut self, now: Instant) {
        self.server.maintain(now);
        if self.table.is_empty()
            && !self
                .lookups
                .values()
                .any(|a| a.purpose == Purpose::Bootstrap)
        {
            if self.bootstrap.is_empty() {
                self.resolve_bootstrap().await;
            }
            self.start_bootstrap(now);
        } else {
            let targets = self.table.refresh_due(now, rand::random);
            self.refresh(targets, now);
        }
        if now.saturating_duration_since(self.last_saved) >= Duration::from_secs(300) {
            self.save();
        }
    }

    /// Write our id and up to 200 good nodes to the state file, when there is one.
    pub(super) fn save(&mut self) {
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
}
