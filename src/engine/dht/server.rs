//! The server side of the node: answering `ping`, `find_node`, `get_peers` and `announce_peer`
//! from other nodes, with the write tokens, the store of announced peers and the per-IP rate
//! limit (see the module doc of [`super`] for the rules).
//!
//! [`Server`] owns only that state: the node's task passes in its routing table for the nodes
//! an answer names, sends what [`Server::answer`] returns, and decides whom to learn from.

use super::routing::{K, RoutingTable};
use super::{
    MAX_PEERS_PER_TORRENT, MAX_STORED_TORRENTS, MAX_VALUES, PEER_TTL, RATE_BURST, RATE_PER_IP,
    TOKEN_ROTATION,
};
use crate::proto::id::{InfoHash, NodeId};
use crate::proto::krpc::{CompactNode, Krpc, Query, Response, code};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Source addresses tracked by the rate limiter; beyond that (a spoofed flood) it starts over.
const MAX_RATE_ENTRIES: usize = 50_000;

/// Tokens, announced peers and rate buckets.
pub(super) struct Server {
    secret: [u8; 16],
    /// Still accepted for one more rotation, so a token lives 5-10 minutes.
    prev_secret: [u8; 16],
    rotated_at: Instant,
    /// Announced peers per info hash, with when each was last announced.
    store: HashMap<InfoHash, HashMap<SocketAddr, Instant>>,
    /// Per source IP: tokens left in the bucket, and when it was last topped up.
    rate: HashMap<IpAddr, (f64, Instant)>,
}

/// What to send back to a query.
pub(super) enum Answer {
    /// An answer (or an error such as "method unknown"): the querier may enter the routing table.
    Reply(Krpc),
    /// An `announce_peer` with a bad token: the error is sent, and the querier is not learnt.
    Refuse(Krpc),
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

/// The `nodes` of an answer: the [`K`] closest nodes of the table that are not bad, IPv4 only
/// (the compact node format has no room for IPv6).
fn compact_closest(table: &RoutingTable, target: &NodeId, now: Instant) -> Vec<CompactNode> {
    table
        .closest(target, K, now)
        .into_iter()
        .filter_map(|(id, a)| match a {
            SocketAddr::V4(a) => Some(CompactNode { id, addr: a }),
            _ => None,
        })
        .collect()
}

impl Server {
    pub(super) fn new(now: Instant) -> Server {
        Server {
            secret: rand::random(),
            prev_secret: rand::random(),
            rotated_at: now,
            store: HashMap::new(),
            rate: HashMap::new(),
        }
    }

    /// Token bucket per source IP; false: drop the datagram.
    pub(super) fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
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

    /// The answer to query `q` with transaction id `t` from `from`; an `announce_peer` with a
    /// valid token stores the peer.
    pub(super) fn answer(
        &mut self,
        t: Vec<u8>,
        q: &Query,
        from: SocketAddr,
        table: &RoutingTable,
        now: Instant,
    ) -> Answer {
        let own = table.own_id();
        let reply = match q {
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
                    nodes: Some(compact_closest(table, target, now)),
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
                        nodes: Some(compact_closest(table, &NodeId(info_hash.0), now)),
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
                    return Answer::Refuse(Krpc::error(t, code::PROTOCOL, "bad token"));
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
        Answer::Reply(reply)
    }

    /// The server's share of the node's upkeep: rotate the token secret, expire stored peers
    /// and rate buckets.
    pub(super) fn maintain(&mut self, now: Instant) {
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
    }

    /// Info hashes with stored peers.
    pub(super) fn stored_torrents(&self) -> usize {
        self.store.len()
    }

    /// Stored peers, over all info hashes.
    pub(super) fn stored_peers(&self) -> usize {
        self.store.values().map(|p| p.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_depend_on_secret_and_ip() {
        let a = token_for(&[1; 16], "127.0.0.1".parse().unwrap());
        assert_eq!(a.len(), 8);
        assert_ne!(a, token_for(&[2; 16], "127.0.0.1".parse().unwrap()));
        assert_ne!(a, token_for(&[1; 16], "127.0.0.2".parse().unwrap()));
    }
}
