//! The client side of the node: our queries and the lookups they serve.
//!
//! Each query gets a fresh 2-byte transaction id and waits in [`Node::pending`] until its
//! answer (accepted only from the address asked), an error, or [`QUERY_TIMEOUT`]. Lookups
//! ([`super::lookup`] decides whom to ask) are driven from here: their queries are sent, the
//! answers fed back, and a converged lookup is finished: `announce_peer` for an announce, then
//! [`LookupEvent::Done`].

use super::handle::LookupEvent;
use super::lookup::Lookup;
use super::node::{Active, Node, Pending, PendingKind, Purpose};
use super::routing::Contact;
use super::{ALPHA, MAX_PENDING, QUERY_TIMEOUT};
use crate::engine::event::DhtLookupKind;
use crate::proto::id::{InfoHash, NodeId};
use crate::proto::krpc::{Krpc, Query, Response};
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc;

/// Finished lookups kept for the snapshot.
const RECENT_LOOKUPS: usize = 8;

impl Node {
    /// Register a lookup; it sends nothing until driven ([`Node::drive`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_lookup(
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

    fn alloc_tid(&mut self) -> Option<u16> {
        for _ in 0..8 {
            self.next_tid = self.next_tid.wrapping_add(1);
            if !self.pending.contains_key(&self.next_tid) {
                return Some(self.next_tid);
            }
        }
        None
    }

    /// Send a query; false when it could not be sent (too many pending).
    pub(super) async fn send_query(
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
    pub(super) async fn drive(&mut self, id: u64, now: Instant) {
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

    pub(super) async fn drive_all(&mut self, now: Instant) {
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
            self.bootstrap_done(now);
        }
    }

    /// The query that `t` answers, if `from` is the address it went to.
    fn take_pending(&mut self, t: &[u8], from: SocketAddr) -> Option<Pending> {
        let tid = u16::from_be_bytes(<[u8; 2]>::try_from(t).ok()?);
        // only the address we asked may answer (no spoofed answers from elsewhere)
        if self.pending.get(&tid)?.addr != from {
            return None;
        }
        self.pending.remove(&tid)
    }

    pub(super) async fn on_response(
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

    /// An error answer: for a lookup, the node counts as failed.
    pub(super) async fn on_error(
        &mut self,
        t: &[u8],
        code: i64,
        message: &[u8],
        from: SocketAddr,
        now: Instant,
    ) {
        let Some(p) = self.take_pending(t, from) else {
            return;
        };
        tracing::debug!(
            "DHT {from} error {code}: {}",
            String::from_utf8_lossy(message)
        );
        if let PendingKind::Lookup(l) = p.kind
            && let Some(a) = self.lookups.get_mut(&l)
        {
            a.lookup.on_failure(from, now);
            self.drive(l, now).await;
        }
    }

    /// Time out queries, and count the failures against their nodes.
    pub(super) async fn expire(&mut self, now: Instant) {
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
}
