//! Iterative lookups (BEP 5 "find_node" / "get_peers", Kademlia's node lookup). Pure: the node
//! ([`super`]) sends the queries this returns, and reports each answer or timeout back.
//!
//! # Algorithm
//! Candidates are kept sorted by XOR distance to the target. Up to `alpha` queries are in
//! flight, always to the closest candidates not yet asked. Each answer adds the nodes it names;
//! for `get_peers` it also yields peers (`values`) and a write token. The lookup has converged
//! when the [`K`] closest candidates that did not fail have all answered: nothing closer is
//! left to ask. Candidates with an unknown id (bootstrap routers given as `HOST:PORT`) sort
//! first, so they are asked before anything else.
//!
//! For an announce, the caller then sends `announce_peer` to [`Lookup::announce_targets`]: the
//! K closest nodes that answered with a token (BEP 5: "the querying node should use the token
//! received from the node in response to a get_peers query").
//!
//! # Hostile answers
//! A lying node can name many nodes: candidates are capped ([`MAX_CANDIDATES`], the farthest
//! dropped), addresses with port 0 or an unspecified IP are ignored, and an answer is accepted
//! only from an address with a query in flight.

use crate::engine::dht::routing::K;
use crate::engine::event::{DhtLookupKind, DhtLookupSnapshot};
use crate::proto::id::NodeId;
use crate::proto::krpc::CompactNode;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

/// Candidates kept per lookup.
pub const MAX_CANDIDATES: usize = 128;
/// Peers kept per lookup (more are still passed to the caller, just not remembered).
pub const MAX_PEERS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CState {
    Fresh,
    InFlight,
    Responded,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: Option<NodeId>,
    addr: SocketAddr,
    state: CState,
    token: Option<Vec<u8>>,
}

/// One iterative lookup.
#[derive(Debug, Clone)]
pub struct Lookup {
    pub kind: DhtLookupKind,
    pub target: NodeId,
    alpha: usize,
    candidates: Vec<Candidate>,
    seen: HashSet<SocketAddr>,
    peers: HashSet<SocketAddr>,
    queried: u32,
    timed_out: u32,
    started: Instant,
    finished: Option<Instant>,
}

fn key(c: &Candidate, target: &NodeId) -> (bool, [u8; 20]) {
    match c.id {
        None => (false, [0; 20]),
        Some(id) => (true, id.distance(target)),
    }
}

fn usable(addr: &SocketAddr) -> bool {
    addr.port() != 0 && !addr.ip().is_unspecified() && !addr.ip().is_multicast()
}

impl Lookup {
    pub fn new(
        kind: DhtLookupKind,
        target: NodeId,
        alpha: usize,
        seeds: impl IntoIterator<Item = (Option<NodeId>, SocketAddr)>,
        now: Instant,
    ) -> Lookup {
        let mut l = Lookup {
            kind,
            target,
            alpha: alpha.max(1),
            candidates: Vec::new(),
            seen: HashSet::new(),
            peers: HashSet::new(),
            queried: 0,
            timed_out: 0,
            started: now,
            finished: None,
        };
        for (id, addr) in seeds {
            l.add_candidate(id, addr);
        }
        l.sort();
        l
    }

    fn add_candidate(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        if !usable(&addr) || !self.seen.insert(addr) {
            return;
        }
        self.candidates.push(Candidate {
            id,
            addr,
            state: CState::Fresh,
            token: None,
        });
    }

    fn sort(&mut self) {
        let target = self.target;
        self.candidates.sort_by_key(|c| key(c, &target));
        if self.candidates.len() > MAX_CANDIDATES {
            // drop the farthest that are not in flight (those still get matched)
            let mut extra = self.candidates.len() - MAX_CANDIDATES;
            let mut i = self.candidates.len();
            while extra > 0 && i > 0 {
                i -= 1;
                if self.candidates[i].state != CState::InFlight {
                    self.candidates.remove(i);
                    extra -= 1;
                }
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.candidates
            .iter()
            .filter(|c| c.state == CState::InFlight)
            .count()
    }

    /// The next queries to send (marked in flight): the closest unasked candidates, up to
    /// `alpha` in flight. Empty once converged.
    pub fn next_queries(&mut self, now: Instant) -> Vec<SocketAddr> {
        if self.is_done() {
            if self.finished.is_none() {
                self.finished = Some(now);
            }
            return Vec::new();
        }
        let mut room = self.alpha.saturating_sub(self.in_flight());
        let mut out = Vec::new();
        // only the K closest live candidates and anything nearer are worth asking
        let mut live = 0;
        for c in self.candidates.iter_mut() {
            if room == 0 || live >= K {
                break;
            }
            match c.state {
                CState::Failed => continue,
                CState::Fresh => {
                    c.state = CState::InFlight;
                    self.queried += 1;
                    room -= 1;
                    out.push(c.addr);
                }
                _ => {}
            }
            live += 1;
        }
        if out.is_empty() && self.is_done() && self.finished.is_none() {
            self.finished = Some(now);
        }
        out
    }

    /// `addr` answered. `id` is the id it gave; `nodes` the nodes it named; `values` peers.
    /// Returns the peers not seen before in this lookup.
    pub fn on_response(
        &mut self,
        addr: SocketAddr,
        id: NodeId,
        nodes: &[CompactNode],
        values: &[SocketAddr],
        token: Option<Vec<u8>>,
        now: Instant,
    ) -> Vec<SocketAddr> {
        let Some(c) = self
            .candidates
            .iter_mut()
            .find(|c| c.addr == addr && c.state == CState::InFlight)
        else {
            return Vec::new();
        };
        c.state = CState::Responded;
        c.id = Some(id);
        c.token = token;
        for n in nodes {
            self.add_candidate(Some(n.id), SocketAddr::V4(n.addr));
        }
        self.sort();
        let mut fresh = Vec::new();
        for v in values {
            if usable(v) && self.peers.len() < MAX_PEERS && self.peers.insert(*v) {
                fresh.push(*v);
            }
        }
        if self.is_done() && self.finished.is_none() {
            self.finished = Some(now);
        }
        fresh
    }

    /// The query to `addr` timed out or was answered with an error.
    pub fn on_failure(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(c) = self
            .candidates
            .iter_mut()
            .find(|c| c.addr == addr && c.state == CState::InFlight)
        {
            c.state = CState::Failed;
            self.timed_out += 1;
        }
        if self.is_done() && self.finished.is_none() {
            self.finished = Some(now);
        }
    }

    /// Converged: the K closest candidates that did not fail have all answered (or there is
    /// nobody left to ask and nothing in flight).
    pub fn is_done(&self) -> bool {
        let mut live = 0;
        for c in &self.candidates {
            match c.state {
                CState::Failed => continue,
                CState::Fresh | CState::InFlight => return false,
                CState::Responded => {}
            }
            live += 1;
            if live >= K {
                break;
            }
        }
        true
    }

    /// The K closest nodes that answered, closest first.
    pub fn closest_responded(&self) -> Vec<(NodeId, SocketAddr)> {
        self.candidates
            .iter()
            .filter(|c| c.state == CState::Responded)
            .filter_map(|c| c.id.map(|id| (id, c.addr)))
            .take(K)
            .collect()
    }

    /// Where to send `announce_peer`: the K closest answering nodes that gave a token.
    pub fn announce_targets(&self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.candidates
            .iter()
            .filter(|c| c.state == CState::Responded && c.id.is_some())
            .filter_map(|c| c.token.clone().map(|t| (c.addr, t)))
            .take(K)
            .collect()
    }

    pub fn peers(&self) -> &HashSet<SocketAddr> {
        &self.peers
    }

    pub fn queried(&self) -> u32 {
        self.queried
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn snapshot(&self, now: Instant) -> DhtLookupSnapshot {
        let end = self.finished.unwrap_or(now);
        DhtLookupSnapshot {
            kind: self.kind,
            target: self.target,
            queried: self.queried,
            in_flight: self.in_flight() as u32,
            timed_out: self.timed_out,
            peers_found: self.peers.len() as u32,
            elapsed: end.saturating_duration_since(self.started),
            done: self.finished.is_some() || self.is_done(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! A simulated network: a few hundred in-process nodes, each with its own routing table,
    //! answering each other synchronously. No sockets, no clock.
    use super::*;
    use crate::engine::dht::routing::{Contact, RoutingTable};
    use crate::proto::id::InfoHash;
    use rand::{RngExt, SeedableRng};
    use std::collections::HashMap;
    use std::net::SocketAddrV4;

    struct SimNode {
        id: NodeId,
        addr: SocketAddrV4,
        table: RoutingTable,
        store: HashMap<NodeId, Vec<SocketAddr>>,
        /// Silent nodes never answer (to exercise timeouts).
        silent: bool,
    }

    struct Net {
        nodes: Vec<SimNode>,
        by_addr: HashMap<SocketAddr, usize>,
    }

    fn build(n: usize, silent_every: usize, seed: u64) -> Net {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let now = Instant::now();
        let mut nodes: Vec<SimNode> = (0..n)
            .map(|i| {
                let id = NodeId(rng.random());
                SimNode {
                    id,
                    addr: SocketAddrV4::new(
                        [10, 0, (i / 250) as u8, (i % 250) as u8 + 1].into(),
                        6881,
                    ),
                    table: RoutingTable::new(id, now),
                    store: HashMap::new(),
                    silent: silent_every > 0 && i % silent_every == silent_every - 1,
                }
            })
            .collect();
        // every node has heard of every other, in a random order: its k-buckets keep what a
        // long-running node would (all of its near neighbours, K per far bucket)
        let contacts: Vec<(NodeId, SocketAddrV4)> = nodes.iter().map(|x| (x.id, x.addr)).collect();
        for node in nodes.iter_mut() {
            let start = rng.random_range(0..n);
            for k in 0..n {
                let (id, addr) = contacts[(start + k * 7919) % n];
                node.table.heard_from(
                    id,
                    SocketAddr::V4(addr),
                    Contact::Responded { rtt: None },
                    now,
                );
            }
        }
        // live nodes have found out about half of the dead ones (their pings timed out); the
        // other half still look fine and cost the lookups a timeout
        let dead: Vec<NodeId> = nodes
            .iter()
            .filter(|x| x.silent)
            .map(|x| x.id)
            .step_by(2)
            .collect();
        for node in nodes.iter_mut().filter(|x| !x.silent) {
            for id in &dead {
                node.table.failed(id, now);
                node.table.failed(id, now);
            }
        }
        let by_addr = nodes
            .iter()
            .enumerate()
            .map(|(i, x)| (SocketAddr::V4(x.addr), i))
            .collect();
        Net { nodes, by_addr }
    }

    /// Run a lookup from node `from` to convergence. Returns it and the number of rounds.
    fn run(net: &mut Net, from: usize, kind: DhtLookupKind, target: NodeId) -> (Lookup, usize) {
        let now = Instant::now();
        let seeds: Vec<_> = net.nodes[from]
            .table
            .closest(&target, K, now)
            .into_iter()
            .map(|(id, a)| (Some(id), a))
            .collect();
        let mut l = Lookup::new(kind, target, 4, seeds, now);
        let mut rounds = 0;
        loop {
            let qs = l.next_queries(now);
            if qs.is_empty() {
                assert!(l.is_done() || l.in_flight() == 0);
                break;
            }
            rounds += 1;
            assert!(rounds < 500, "lookup does not converge");
            for a in qs {
                let Some(&i) = net.by_addr.get(&a) else {
                    l.on_failure(a, now);
                    continue;
                };
                if net.nodes[i].silent {
                    l.on_failure(a, now);
                    continue;
                }
                let callee = &net.nodes[i];
                let nodes: Vec<CompactNode> = callee
                    .table
                    .closest(&target, K, now)
                    .into_iter()
                    .filter_map(|(id, a)| match a {
                        SocketAddr::V4(a) => Some(CompactNode { id, addr: a }),
                        _ => None,
                    })
                    .collect();
                let values = callee.store.get(&target).cloned().unwrap_or_default();
                let token = Some(callee.id.0[..4].to_vec());
                let id = callee.id;
                l.on_response(a, id, &nodes, &values, token, now);
            }
        }
        (l, rounds)
    }

    /// The K closest nodes a lookup can possibly find: with `skip_silent`, live nodes that some
    /// live node's table names (silent nodes take slots in full buckets, so a live node can be
    /// known only to silent ones, and then nobody can tell of it).
    fn true_closest(net: &Net, target: &NodeId, skip_silent: bool) -> Vec<NodeId> {
        let named: HashSet<NodeId> = net
            .nodes
            .iter()
            .filter(|n| !n.silent)
            .flat_map(|n| n.table.nodes().map(|x| x.id).collect::<Vec<_>>())
            .collect();
        let mut ids: Vec<NodeId> = net
            .nodes
            .iter()
            .filter(|n| !(skip_silent && (n.silent || !named.contains(&n.id))))
            .map(|n| n.id)
            .collect();
        ids.sort_by_key(|id| id.distance(target));
        ids.truncate(K);
        ids
    }

    #[test]
    fn find_node_converges_to_the_true_closest() {
        let mut net = build(400, 0, 1);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        for round in 0..20 {
            let target = NodeId(rng.random());
            let from = rng.random_range(0..net.nodes.len());
            let (l, _) = run(&mut net, from, DhtLookupKind::FindNode, target);
            let got: Vec<NodeId> = l
                .closest_responded()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(got, true_closest(&net, &target, false), "lookup {round}");
            assert!(l.snapshot(Instant::now()).done);
        }
    }

    #[test]
    fn converges_despite_silent_nodes() {
        let mut net = build(300, 5, 3);
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut timeouts = 0;
        for _ in 0..10 {
            let target = NodeId(rng.random());
            let from = (0..net.nodes.len())
                .find(|i| !net.nodes[*i].silent && rng.random_bool(0.1))
                .unwrap_or(0);
            let (l, _) = run(&mut net, from, DhtLookupKind::FindNode, target);
            let got: Vec<NodeId> = l
                .closest_responded()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            let want = true_closest(&net, &target, true);
            // with dead nodes holding table slots, Kademlia is not exact at the edge of the
            // set: the closest live node is found, and nearly all of the K closest
            assert_eq!(
                got.len(),
                K,
                "{:?} candidates {}",
                l.snapshot(Instant::now()),
                l.candidates.len()
            );
            assert_eq!(got[0], want[0]);
            let overlap = got.iter().filter(|id| want.contains(id)).count();
            assert!(
                overlap >= K - 2,
                "only {overlap} of the {K} closest live nodes found"
            );
            timeouts += l.snapshot(Instant::now()).timed_out;
        }
        assert!(timeouts > 0, "silent nodes were asked and timed out");
    }

    #[test]
    fn announced_peers_are_found_by_another_node() {
        let mut net = build(300, 0, 5);
        let info_hash = InfoHash([0xab; 20]);
        let target = NodeId(info_hash.0);
        let seeder: SocketAddr = "192.0.2.7:51413".parse().unwrap();
        // node 10 announces: get_peers, then announce_peer to the nodes that gave tokens
        let (l, _) = run(&mut net, 10, DhtLookupKind::Announce, target);
        let targets = l.announce_targets();
        assert_eq!(targets.len(), K);
        for (addr, token) in targets {
            let i = net.by_addr[&addr];
            assert_eq!(
                token,
                net.nodes[i].id.0[..4].to_vec(),
                "the token of the node that issued it"
            );
            net.nodes[i].store.entry(target).or_default().push(seeder);
        }
        // node 200 looks up the same hash and finds the seeder
        let (l2, _) = run(&mut net, 200, DhtLookupKind::GetPeers, target);
        assert!(l2.peers().contains(&seeder));
        assert_eq!(l2.snapshot(Instant::now()).peers_found, 1);
    }

    #[test]
    fn bootstrap_seeds_with_unknown_ids_go_first_and_liars_are_capped() {
        let now = Instant::now();
        let boot: SocketAddr = "127.0.0.1:6881".parse().unwrap();
        let known: SocketAddr = "127.0.0.2:6881".parse().unwrap();
        let mut l = Lookup::new(
            DhtLookupKind::FindNode,
            NodeId([0; 20]),
            1,
            [(Some(NodeId([1; 20])), known), (None, boot)],
            now,
        );
        assert_eq!(l.next_queries(now), vec![boot]);
        // a liar names 1000 nodes, some with unusable addresses
        let lies: Vec<CompactNode> = (0..1000u32)
            .map(|i| CompactNode {
                id: NodeId([(i % 250) as u8 + 2; 20]),
                addr: SocketAddrV4::new([10, 1, (i >> 8) as u8, i as u8].into(), (i % 3) as u16),
            })
            .collect();
        l.on_response(boot, NodeId([9; 20]), &lies, &[], None, now);
        assert!(l.candidates.len() <= MAX_CANDIDATES);
        assert!(l.candidates.iter().all(|c| c.addr.port() != 0));
        // an answer from an address we did not ask is ignored
        assert!(
            l.on_response(
                "127.0.0.9:1".parse().unwrap(),
                NodeId([3; 20]),
                &[],
                &["1.1.1.1:1".parse().unwrap()],
                None,
                now
            )
            .is_empty()
        );
    }
}
