//! The DHT routing table (BEP 5, "Routing Table"): k-buckets of [`K`] = 8 nodes over the
//! 160-bit id space. Pure: every method takes `now`, and nothing here sends a packet; the node
//! ([`super`]) acts on what the table returns.
//!
//! # Buckets
//! Bucket `i` (for `i < buckets.len() - 1`) holds nodes whose id shares exactly `i` leading bits
//! with ours; the last bucket holds every node sharing at least `buckets.len() - 1` bits, so it
//! is the one that covers our own id. Only that bucket is split when full (BEP 5: "when a bucket
//! is full and the new node's id would fall in the bucket containing our own id, split"), which
//! keeps the table fine-grained near us and coarse far away. At most 160 buckets.
//!
//! # Node states (BEP 5)
//! - good: answered one of our queries in the last 15 minutes, or answered us once and queried
//!   us in the last 15 minutes;
//! - bad: failed [`BAD_AFTER_FAILURES`] queries in a row;
//! - questionable: anything else (e.g. silent for 15 minutes).
//!
//! # Inserting into a full bucket
//! A bad node is replaced at once. Otherwise the newcomer waits in the bucket's replacement cache
//! (at most [`K`] entries, newest kept) and [`Insert::PingFirst`] names the questionable nodes the
//! caller should ping: when such a ping fails (see [`RoutingTable::failed`]) the node becomes
//! bad and the freshest replacement takes its place. Good nodes are never evicted.
//!
//! # Refresh
//! A bucket nobody in which answered for 15 minutes is due for a refresh: [`RoutingTable::refresh_due`]
//! returns random targets inside those buckets, for `find_node` lookups.

use crate::engine::event::{DhtBucketSnapshot, DhtNodeSnapshot, DhtNodeState};
use crate::proto::id::NodeId;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Nodes per bucket (BEP 5).
pub const K: usize = 8;
/// A node is good while it answered within this window (BEP 5).
pub const GOOD_WINDOW: Duration = Duration::from_secs(15 * 60);
/// A bucket untouched this long is refreshed (BEP 5).
pub const REFRESH_AFTER: Duration = Duration::from_secs(15 * 60);
/// Consecutive failed queries that make a node bad.
pub const BAD_AFTER_FAILURES: u32 = 2;
/// A questionable node is not pinged again within this time (one ping in flight is enough).
pub const PING_AGAIN_AFTER: Duration = Duration::from_secs(30);

/// Leading bits two ids share (160 when equal).
pub fn common_prefix_len(a: &NodeId, b: &NodeId) -> usize {
    let d = a.distance(b);
    for (i, byte) in d.iter().enumerate() {
        if *byte != 0 {
            return i * 8 + byte.leading_zeros() as usize;
        }
    }
    160
}

/// One node in the table.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: NodeId,
    pub addr: SocketAddr,
    /// Last time it answered one of our queries.
    pub last_response: Option<Instant>,
    /// Last time it queried us.
    pub last_query: Option<Instant>,
    /// Failed queries since its last answer.
    pub failures: u32,
    pub rtt: Option<Duration>,
    /// When we last pinged it to check it is alive.
    pub pinged_at: Option<Instant>,
}

impl Node {
    fn new(id: NodeId, addr: SocketAddr) -> Node {
        Node {
            id,
            addr,
            last_response: None,
            last_query: None,
            failures: 0,
            rtt: None,
            pinged_at: None,
        }
    }

    pub fn state(&self, now: Instant) -> DhtNodeState {
        if self.failures >= BAD_AFTER_FAILURES {
            return DhtNodeState::Bad;
        }
        let recent =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < GOOD_WINDOW);
        if recent(self.last_response) || (self.last_response.is_some() && recent(self.last_query)) {
            DhtNodeState::Good
        } else {
            DhtNodeState::Questionable
        }
    }

    fn last_seen(&self) -> Option<Instant> {
        match (self.last_response, self.last_query) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// How we heard from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact {
    /// It answered our query after `rtt`.
    Responded { rtt: Option<Duration> },
    /// It sent us a query (not proof that it answers: such nodes are inserted only into a
    /// bucket with room).
    Queried,
}

/// What [`RoutingTable::heard_from`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Insert {
    /// A new node entered a bucket.
    Added,
    /// A known node was refreshed.
    Updated,
    /// The bucket is full of good nodes: the newcomer waits in the replacement cache.
    Cached,
    /// The bucket is full; the newcomer waits in the cache, and these questionable nodes
    /// should be pinged (a failed ping lets the newcomer in).
    PingFirst(Vec<(NodeId, SocketAddr)>),
    /// Not taken (our own id, a conflicting address, or a querier with no room for it).
    Ignored,
}

#[derive(Debug, Clone)]
struct Bucket {
    nodes: Vec<Node>,
    replacements: Vec<Node>,
    last_changed: Instant,
}

impl Bucket {
    fn new(now: Instant) -> Bucket {
        Bucket {
            nodes: Vec::with_capacity(K),
            replacements: Vec::new(),
            last_changed: now,
        }
    }
}

/// The k-bucket table around our own id.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    own: NodeId,
    buckets: Vec<Bucket>,
}

impl RoutingTable {
    pub fn new(own: NodeId, now: Instant) -> RoutingTable {
        RoutingTable {
            own,
            buckets: vec![Bucket::new(now)],
        }
    }

    pub fn own_id(&self) -> NodeId {
        self.own
    }

    fn bucket_index(&self, id: &NodeId) -> usize {
        common_prefix_len(&self.own, id).min(self.buckets.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.nodes.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        self.buckets[self.bucket_index(id)]
            .nodes
            .iter()
            .find(|n| n.id == *id)
    }

    /// Every node (not the replacement caches).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.buckets.iter().flat_map(|b| b.nodes.iter())
    }

    /// Record that `id` at `addr` answered or queried us.
    pub fn heard_from(
        &mut self,
        id: NodeId,
        addr: SocketAddr,
        contact: Contact,
        now: Instant,
    ) -> Insert {
        if id == self.own || addr.port() == 0 {
            return Insert::Ignored;
        }
        loop {
            let bi = self.bucket_index(&id);
            let last = bi == self.buckets.len() - 1;
            let bucket = &mut self.buckets[bi];
            if let Some(n) = bucket.nodes.iter_mut().find(|n| n.id == id) {
                if n.addr != addr {
                    // an id seen at a new address: keep the old contact unless it stopped
                    // answering (a node cannot take over another's id by claiming it)
                    if n.state(now) != DhtNodeState::Bad {
                        return Insert::Ignored;
                    }
                    n.addr = addr;
                }
                apply(n, contact, now);
                if matches!(contact, Contact::Responded { .. }) {
                    bucket.last_changed = now;
                }
                return Insert::Updated;
            }
            if bucket.nodes.iter().any(|n| n.addr == addr) {
                // one address, two ids: keep the first
                return Insert::Ignored;
            }
            let mut node = Node::new(id, addr);
            apply(&mut node, contact, now);
            if bucket.nodes.len() < K {
                bucket.nodes.push(node);
                bucket.replacements.retain(|r| r.id != id);
                bucket.last_changed = now;
                return Insert::Added;
            }
            if contact == Contact::Queried {
                return Insert::Ignored;
            }
            if let Some(bad) = bucket
                .nodes
                .iter()
                .position(|n| n.state(now) == DhtNodeState::Bad)
            {
                bucket.nodes[bad] = node;
                bucket.last_changed = now;
                return Insert::Added;
            }
            if last && self.buckets.len() < 160 {
                self.split(now);
                continue;
            }
            let bucket = &mut self.buckets[bi];
            bucket.replacements.retain(|r| r.id != id && r.addr != addr);
            bucket.replacements.push(node);
            if bucket.replacements.len() > K {
                bucket.replacements.remove(0);
            }
            let ping: Vec<(NodeId, SocketAddr)> = bucket
                .nodes
                .iter_mut()
                .filter(|n| n.state(now) == DhtNodeState::Questionable)
                .filter(|n| {
                    n.pinged_at
                        .is_none_or(|t| now.saturating_duration_since(t) >= PING_AGAIN_AFTER)
                })
                .map(|n| {
                    n.pinged_at = Some(now);
                    (n.id, n.addr)
                })
                .collect();
            return if ping.is_empty() {
                Insert::Cached
            } else {
                Insert::PingFirst(ping)
            };
        }
    }

    /// Split the last bucket: nodes sharing one more bit with us move to a new last bucket.
    fn split(&mut self, now: Instant) {
        let depth = self.buckets.len(); // the new bucket's prefix length
        let own = self.own;
        let Some(old) = self.buckets.last_mut() else {
            return;
        };
        let mut new = Bucket::new(now);
        new.last_changed = old.last_changed;
        let (deeper, stay): (Vec<Node>, Vec<Node>) = old
            .nodes
            .drain(..)
            .partition(|n| common_prefix_len(&own, &n.id) >= depth);
        old.nodes = stay;
        let (rdeeper, rstay): (Vec<Node>, Vec<Node>) = old
            .replacements
            .drain(..)
            .partition(|n| common_prefix_len(&own, &n.id) >= depth);
        old.replacements = rstay;
        new.nodes = deeper;
        new.replacements = rdeeper;
        // refill the emptied slots from the replacement caches
        for b in [&mut *old, &mut new] {
            while b.nodes.len() < K
                && let Some(r) = b.replacements.pop()
            {
                b.nodes.push(r);
            }
        }
        self.buckets.push(new);
    }

    /// A query to `id` timed out or failed. A node that becomes bad gives its place to the
    /// freshest node of the replacement cache. Returns true when the node was replaced.
    pub fn failed(&mut self, id: &NodeId, now: Instant) -> bool {
        let bi = self.bucket_index(id);
        let bucket = &mut self.buckets[bi];
        let Some(pos) = bucket.nodes.iter().position(|n| n.id == *id) else {
            return false;
        };
        bucket.nodes[pos].failures += 1;
        if bucket.nodes[pos].state(now) == DhtNodeState::Bad
            && let Some(r) = bucket.replacements.pop()
        {
            bucket.nodes[pos] = r;
            return true;
        }
        false
    }

    /// Drop a node outright (e.g. it answered with another id than we expected).
    pub fn remove(&mut self, id: &NodeId) {
        let bi = self.bucket_index(id);
        let bucket = &mut self.buckets[bi];
        bucket.nodes.retain(|n| n.id != *id);
        if bucket.nodes.len() < K
            && let Some(r) = bucket.replacements.pop()
        {
            bucket.nodes.push(r);
        }
    }

    /// Up to `n` nodes closest to `target` by XOR distance, bad nodes excluded.
    pub fn closest(&self, target: &NodeId, n: usize, now: Instant) -> Vec<(NodeId, SocketAddr)> {
        let mut all: Vec<&Node> = self
            .nodes()
            .filter(|x| x.state(now) != DhtNodeState::Bad)
            .collect();
        all.sort_by_key(|x| x.id.distance(target));
        all.into_iter().take(n).map(|x| (x.id, x.addr)).collect()
    }

    /// Good nodes, to save across restarts.
    pub fn good_nodes(&self, now: Instant) -> Vec<(NodeId, SocketAddr)> {
        self.nodes()
            .filter(|n| n.state(now) == DhtNodeState::Good)
            .map(|n| (n.id, n.addr))
            .collect()
    }

    /// Buckets nothing answered in for [`REFRESH_AFTER`], each with a random target in its
    /// range (made from `random`, 20 random bytes per call), and marks them refreshed.
    pub fn refresh_due(&mut self, now: Instant, random: impl FnMut() -> [u8; 20]) -> Vec<NodeId> {
        self.refresh_targets(now, false, random)
    }

    /// A target in every bucket (right after bootstrap, to fill the far buckets too); marks
    /// them refreshed.
    pub fn refresh_all(&mut self, now: Instant, random: impl FnMut() -> [u8; 20]) -> Vec<NodeId> {
        self.refresh_targets(now, true, random)
    }

    fn refresh_targets(
        &mut self,
        now: Instant,
        all: bool,
        mut random: impl FnMut() -> [u8; 20],
    ) -> Vec<NodeId> {
        let own = self.own;
        let count = self.buckets.len();
        let mut out = Vec::new();
        for (i, b) in self.buckets.iter_mut().enumerate() {
            if all || now.saturating_duration_since(b.last_changed) >= REFRESH_AFTER {
                b.last_changed = now;
                out.push(random_id_in_bucket(&own, i, i == count - 1, random()));
            }
        }
        out
    }

    /// The picture for the dashboard, farthest bucket first.
    pub fn snapshot(&self, now: Instant) -> Vec<DhtBucketSnapshot> {
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| DhtBucketSnapshot {
                prefix_len: i as u8,
                nodes: b
                    .nodes
                    .iter()
                    .map(|n| DhtNodeSnapshot {
                        id: n.id,
                        addr: n.addr,
                        state: n.state(now),
                        rtt: n.rtt,
                        last_seen: n.last_seen().map(|t| now.saturating_duration_since(t)),
                    })
                    .collect(),
                replacements: b.replacements.len(),
                since_changed: now.saturating_duration_since(b.last_changed),
            })
            .collect()
    }
}

fn apply(n: &mut Node, contact: Contact, now: Instant) {
    match contact {
        Contact::Responded { rtt } => {
            n.last_response = Some(now);
            n.failures = 0;
            n.pinged_at = None;
            if rtt.is_some() {
                n.rtt = rtt;
            }
        }
        Contact::Queried => n.last_query = Some(now),
    }
}

/// An id sharing exactly `prefix` leading bits with `own` (or at least `prefix` for the last
/// bucket), the rest taken from `random`.
pub fn random_id_in_bucket(own: &NodeId, prefix: usize, last: bool, random: [u8; 20]) -> NodeId {
    let mut id = random;
    let prefix = prefix.min(160);
    for bit in 0..prefix {
        let (byte, mask) = (bit / 8, 0x80u8 >> (bit % 8));
        id[byte] = (id[byte] & !mask) | (own.0[byte] & mask);
    }
    if !last && prefix < 160 {
        let (byte, mask) = (prefix / 8, 0x80u8 >> (prefix % 8));
        id[byte] = (id[byte] & !mask) | (!own.0[byte] & mask);
    }
    NodeId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_with_prefix(own: &NodeId, prefix: usize, tail: u8) -> NodeId {
        let mut r = [tail; 20];
        r[19] = tail;
        random_id_in_bucket(own, prefix, false, r)
    }

    fn addr(i: u32) -> SocketAddr {
        SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 6881))
    }

    const RESP: Contact = Contact::Responded {
        rtt: Some(Duration::from_millis(5)),
    };

    #[test]
    fn prefix_lengths() {
        let a = NodeId([0; 20]);
        assert_eq!(common_prefix_len(&a, &a), 160);
        let mut b = [0u8; 20];
        b[0] = 0x80;
        assert_eq!(common_prefix_len(&a, &NodeId(b)), 0);
        b[0] = 0x01;
        assert_eq!(common_prefix_len(&a, &NodeId(b)), 7);
        let own = NodeId([0x5a; 20]);
        for p in [0, 1, 7, 8, 100, 159] {
            assert_eq!(
                common_prefix_len(&own, &random_id_in_bucket(&own, p, false, [0xff; 20])),
                p
            );
        }
    }

    #[test]
    fn splits_only_the_bucket_holding_our_id() {
        let now = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, now);
        // 8 far nodes (prefix 0) fill the only bucket
        for i in 0..8u32 {
            assert_eq!(
                t.heard_from(id_with_prefix(&own, 0, i as u8), addr(i), RESP, now),
                Insert::Added
            );
        }
        assert_eq!(t.bucket_count(), 1);
        // a 9th far node: the bucket splits (it holds our id), but the far half is still full
        let r = t.heard_from(id_with_prefix(&own, 0, 99), addr(99), RESP, now);
        assert_eq!(t.bucket_count(), 2, "one split");
        assert_eq!(r, Insert::Cached, "good nodes are never evicted");
        // near nodes go to the near bucket, which splits again as it fills
        for i in 0..8u32 {
            assert_eq!(
                t.heard_from(id_with_prefix(&own, 1, i as u8), addr(100 + i), RESP, now),
                Insert::Added
            );
        }
        assert_eq!(
            t.heard_from(id_with_prefix(&own, 3, 1), addr(200), RESP, now),
            Insert::Added
        );
        assert!(t.bucket_count() >= 3);
        assert_eq!(t.len(), 17);
        // the far bucket never split: still exactly 8 nodes with prefix 0
        assert_eq!(
            t.nodes()
                .filter(|n| common_prefix_len(&own, &n.id) == 0)
                .count(),
            8
        );
        assert_eq!(t.heard_from(own, addr(300), RESP, now), Insert::Ignored);
    }

    #[test]
    fn ping_before_evict_then_replace() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, t0);
        t.buckets.push(Bucket::new(t0)); // force bucket 0 to be a far, unsplittable one
        let far: Vec<NodeId> = (0..8).map(|i| id_with_prefix(&own, 0, i)).collect();
        for (i, id) in far.iter().enumerate() {
            t.heard_from(*id, addr(i as u32), RESP, t0);
        }
        // all good: a newcomer waits in the cache
        let newcomer = id_with_prefix(&own, 0, 200);
        assert_eq!(t.heard_from(newcomer, addr(50), RESP, t0), Insert::Cached);
        // 15 minutes later they are questionable: ping them first
        let t1 = t0 + GOOD_WINDOW + Duration::from_secs(1);
        let Insert::PingFirst(ping) = t.heard_from(newcomer, addr(50), RESP, t1) else {
            panic!("expected pings")
        };
        assert_eq!(ping.len(), 8);
        // pinged nodes are not pinged again at once
        assert_eq!(
            t.heard_from(id_with_prefix(&own, 0, 201), addr(51), RESP, t1),
            Insert::Cached
        );
        // one answers (good again), one fails twice: the freshest replacement takes its place
        t.heard_from(far[0], addr(0), RESP, t1);
        assert_eq!(
            t.get(&far[0]).map(|n| n.state(t1)),
            Some(DhtNodeState::Good)
        );
        assert!(!t.failed(&far[1], t1));
        assert_eq!(
            t.get(&far[1]).map(|n| n.state(t1)),
            Some(DhtNodeState::Questionable)
        );
        assert!(t.failed(&far[1], t1));
        assert!(t.get(&far[1]).is_none());
        assert!(t.get(&id_with_prefix(&own, 0, 201)).is_some());
        // a querier that is not known is not inserted into a full bucket
        assert_eq!(
            t.heard_from(id_with_prefix(&own, 0, 202), addr(52), Contact::Queried, t1),
            Insert::Ignored
        );
    }

    #[test]
    fn bad_node_is_replaced_directly() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, t0);
        t.buckets.push(Bucket::new(t0));
        let far: Vec<NodeId> = (0..8).map(|i| id_with_prefix(&own, 0, i)).collect();
        for (i, id) in far.iter().enumerate() {
            t.heard_from(*id, addr(i as u32), RESP, t0);
        }
        t.failed(&far[3], t0);
        t.failed(&far[3], t0);
        assert_eq!(t.get(&far[3]).map(|n| n.state(t0)), Some(DhtNodeState::Bad));
        assert_eq!(
            t.heard_from(id_with_prefix(&own, 0, 77), addr(77), RESP, t0),
            Insert::Added
        );
        assert!(t.get(&far[3]).is_none());
        assert!(t.closest(&own, 20, t0).len() == 8);
    }

    #[test]
    fn address_conflicts_do_not_hijack() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, t0);
        let a = NodeId([1; 20]);
        t.heard_from(a, addr(1), RESP, t0);
        assert_eq!(t.heard_from(a, addr(2), RESP, t0), Insert::Ignored);
        assert_eq!(t.get(&a).map(|n| n.addr), Some(addr(1)));
        assert_eq!(
            t.heard_from(NodeId([2; 20]), addr(1), RESP, t0),
            Insert::Ignored
        );
    }

    #[test]
    fn refresh_due_after_15_minutes() {
        let t0 = Instant::now();
        let own = NodeId([0x33; 20]);
        let mut t = RoutingTable::new(own, t0);
        for i in 0..40u32 {
            let mut r = [0u8; 20];
            r[..4].copy_from_slice(&i.wrapping_mul(2654435761).to_be_bytes());
            t.heard_from(NodeId(r), addr(i), RESP, t0);
        }
        let n = t.bucket_count();
        assert!(
            t.refresh_due(t0 + Duration::from_secs(60), || [7; 20])
                .is_empty()
        );
        let later = t0 + REFRESH_AFTER;
        let targets = t.refresh_due(later, || [7; 20]);
        assert_eq!(targets.len(), n);
        for (i, target) in targets.iter().enumerate() {
            let cpl = common_prefix_len(&own, target);
            if i == n - 1 {
                assert!(cpl >= i)
            } else {
                assert_eq!(cpl, i)
            }
        }
        // marked refreshed
        assert!(t.refresh_due(later, || [7; 20]).is_empty());
    }

    proptest::proptest! {
        /// Any sequence of contacts and failures keeps the table's invariants: at most K nodes
        /// and K replacements per bucket, every node in the bucket its prefix says, no
        /// duplicate ids, never our own id.
        #[test]
        fn invariants_hold(ops in proptest::collection::vec((proptest::prelude::any::<[u8; 3]>(), 0u8..4, 0u16..600), 1..400)) {
            let t0 = Instant::now();
            let own = NodeId([0x6c; 20]);
            let mut t = RoutingTable::new(own, t0);
            for (bytes, op, secs) in ops {
                let now = t0 + Duration::from_secs(secs as u64 * 5);
                // ids near and far from ours
                let mut id = own.0;
                id[(bytes[0] % 20) as usize] ^= bytes[1] | 1;
                id[19] ^= bytes[2];
                let id = NodeId(id);
                let a = addr(u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]));
                match op {
                    0 => { t.heard_from(id, a, RESP, now); }
                    1 => { t.heard_from(id, a, Contact::Queried, now); }
                    2 => { t.failed(&id, now); }
                    _ => { t.refresh_due(now, || [bytes[0]; 20]); }
                }
            }
            let n = t.buckets.len();
            let mut seen = std::collections::HashSet::new();
            for (i, b) in t.buckets.iter().enumerate() {
                proptest::prop_assert!(b.nodes.len() <= K && b.replacements.len() <= K);
                for node in &b.nodes {
                    let cpl = common_prefix_len(&own, &node.id);
                    let right_bucket = if i == n - 1 { cpl >= i } else { cpl == i };
                    proptest::prop_assert!(right_bucket, "bucket {} holds a node sharing {} bits", i, cpl);
                    proptest::prop_assert!(seen.insert(node.id));
                    proptest::prop_assert!(node.id != own);
                }
            }
        }
    }

    #[test]
    fn closest_is_sorted_by_distance() {
        let t0 = Instant::now();
        let own = NodeId([0; 20]);
        let mut t = RoutingTable::new(own, t0);
        for i in 1..=30u8 {
            t.heard_from(NodeId([i; 20]), addr(i as u32), RESP, t0);
        }
        let target = NodeId([5; 20]);
        let c = t.closest(&target, 8, t0);
        assert_eq!(c.len(), 8);
        for w in c.windows(2) {
            assert!(w[0].0.distance(&target) < w[1].0.distance(&target));
        }
        assert_eq!(c[0].0, target);
    }
}
