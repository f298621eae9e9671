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
//!
//! # Layout
//! - this file: the tuning constants and the re-exports that make up the public API;
//! - `handle`: [`DhtConfig`], [`DhtHandle`] (commands into the running node) and
//!   [`LookupEvent`];
//! - `state`: the state file ([`SavedState`], [`default_state_path`]);
//! - `node`: [`spawn`], the node's state and its task: one loop over the socket, the commands
//!   and a 100 ms tick;
//! - `server`: answering queries, with the tokens, the peer store and the rate limit;
//! - `client`: our own queries (transaction ids, answers, timeouts) and the lookups they serve;
//! - `bootstrap`: bootstrap, bucket refresh and the periodic upkeep, saving the state file;
//! - [`routing`] and [`lookup`]: the pure routing table and lookup logic the node drives.

mod bootstrap;
mod client;
mod handle;
pub mod lookup;
mod node;
pub mod routing;
mod server;
mod state;

pub use handle::{DhtConfig, DhtHandle, LookupEvent};
pub use node::spawn;
pub use state::{SavedState, default_state_path};

use std::time::Duration;

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
/// Peers in one `get_peers` answer (keeps the datagram well under 1500 bytes).
pub const MAX_VALUES: usize = 100;
/// Datagrams per second accepted from one IP, and the burst allowed.
pub const RATE_PER_IP: f64 = 200.0;
pub const RATE_BURST: f64 = 400.0;
/// Queries we keep waiting for at once (beyond that, lookups wait).
pub const MAX_PENDING: usize = 512;

/// The whole node through its public API: both sides of the protocol, between twenty nodes.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::DhtLookupKind;
    use crate::proto::id::{InfoHash, NodeId};
    use crate::proto::krpc::{self, Body, Krpc, Query, Response};
    use std::net::SocketAddr;

    async fn node(ip: &str, bootstrap: Vec<String>) -> DhtHandle {
        let cfg = DhtConfig {
            bind: format!("{ip}:0").parse().unwrap(),
            port_fallback: false,
            bootstrap,
            state_path: None,
        };
        spawn(cfg).await.unwrap()
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
