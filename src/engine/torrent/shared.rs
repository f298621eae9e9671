//! What a torrent's task and its peer tasks share, and the messages between them.
//!
//! Peer connections run as their own tasks ([`super::peer`]) and share [`Shared`]: the picker
//! sits behind a short-held `std::sync::Mutex` so a peer can pick blocks without a round trip
//! through the torrent task (at hundreds of MiB/s a round trip per block would be the
//! bottleneck); the peer table holds each peer's command channel and its [`PeerStats`], which
//! snapshots read lock-free. Everything else that happens to the torrent arrives at the torrent
//! task as a [`TorrentMsg`]; the torrent task gives orders to a peer as a [`PeerCommand`].

use crate::engine::config::Faults;
use crate::engine::conn::{Connection, Dialer};
use crate::engine::disk::{DiskJob, DiskResult};
use crate::engine::event::{Direction, PeerCloseReason};
use crate::engine::picker::{PeerKey, Picker};
use crate::engine::ratelimit::Buckets;
use crate::engine::storage::Storage;
use crate::engine::tracker::TrackerUpdate;
use crate::proto::bitfield::Bitfield;
use crate::proto::extension::ExtensionHandshake;
use crate::proto::handshake::Handshake;
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::message::{BlockRef, Message};
use crate::proto::metainfo::Info;
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Orders for one peer task.
#[derive(Debug, Clone)]
pub enum PeerCommand {
    /// We verified a piece: announce it.
    Have(u32),
    /// Another peer delivered this block first (endgame).
    Cancel(BlockRef),
    /// Blocks were released: try to request more.
    Refill,
    /// Close with this reason (ban).
    Close(String),
    /// The choker took the peer's upload slot away.
    Choke,
    /// The choker gave the peer an upload slot.
    Unchoke,
    /// Our current peers with their BEP 11 flags, for a PEX message (sent only when due).
    Pex(Arc<Vec<(SocketAddr, u8)>>),
    /// The wanted pieces changed (file priorities): cancel requests for pieces no longer
    /// wanted, reconsider interest, refill.
    Wanted,
    /// Send the pieces the peer has (its bitfield and `have`s) here, for the dashboard.
    /// (A channel of one, not a oneshot, so commands stay `Clone`.)
    Pieces(mpsc::Sender<Bitfield>),
    Shutdown,
}

/// Counters a peer task publishes for snapshots, lock-free.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub rate_bits: AtomicU64,
    pub up_rate_bits: AtomicU64,
    pub am_choking: AtomicBool,
    pub pieces: AtomicU32,
    pub requests: AtomicU32,
    pub am_interested: AtomicBool,
    pub peer_choking: AtomicBool,
    pub peer_interested: AtomicBool,
    pub snubbed: AtomicBool,
    pub fast: AtomicBool,
    pub pex: AtomicBool,
    /// How the connection's bytes travel, a [`Wire`](crate::engine::event::Wire) as `u8`.
    pub wire: AtomicU8,
    /// Whether the connection is uTP (else TCP).
    pub utp: AtomicBool,
    /// When the last block arrived: milliseconds since [`epoch`], plus one (0: never). One
    /// relaxed store per block, so the hot path takes no lock for it.
    last_block: AtomicU64,
    /// What the dashboard shows beyond counters; a short-held lock.
    detail: Mutex<PeerDetail>,
}

/// How many messages each peer keeps for the dashboard's "last messages".
pub const WIRE_LOG_LEN: usize = 16;

/// The parts of a peer's state the dashboard shows that do not fit in an atomic.
#[derive(Debug, Default)]
pub struct PeerDetail {
    pub reserved: [u8; 8],
    pub extension: Option<Arc<ExtensionHandshake>>,
    pub pieces_in_flight: Vec<u32>,
    /// The last [`WIRE_LOG_LEN`] messages: when, which way, name, piece index, length.
    pub recent: VecDeque<(Instant, Direction, &'static str, Option<u32>, u32)>,
}

impl PeerStats {
    pub fn detail(&self) -> MutexGuard<'_, PeerDetail> {
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remember a message for the dashboard (a bounded ring).
    pub fn note(&self, direction: Direction, msg: &Message) {
        let (index, length) = match msg {
            Message::Have { index }
            | Message::Suggest { index }
            | Message::AllowedFast { index } => (Some(*index), 4),
            Message::Request(r) | Message::Cancel(r) | Message::Reject(r) => {
                (Some(r.index), r.length)
            }
            Message::Piece { index, block, .. } => (Some(*index), block.len() as u32),
            Message::Bitfield(b) => (None, b.len() as u32),
            Message::Extended { payload, .. } => (None, payload.len() as u32),
            Message::Port(_) => (None, 2),
            _ => (None, 0),
        };
        let mut d = self.detail();
        if d.recent.len() >= WIRE_LOG_LEN {
            d.recent.pop_front();
        }
        d.recent
            .push_back((Instant::now(), direction, msg.name(), index, length));
    }

    /// A block arrived at `now`.
    pub fn note_block(&self, now: Instant) {
        let ms = now.saturating_duration_since(epoch()).as_millis() as u64;
        self.last_block.store(ms + 1, Ordering::Relaxed);
    }

    /// Time from the last block to `now`; `None` before the first.
    pub fn last_block_age(&self, now: Instant) -> Option<Duration> {
        let v = self.last_block.load(Ordering::Relaxed);
        let at = epoch() + Duration::from_millis(v.checked_sub(1)?);
        Some(now.saturating_duration_since(at))
    }

    pub fn set_rate(&self, rate: f64) {
        self.rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
    pub fn set_up_rate(&self, rate: f64) {
        self.up_rate_bits.store(rate.to_bits(), Ordering::Relaxed);
    }
    pub fn up_rate(&self) -> f64 {
        f64::from_bits(self.up_rate_bits.load(Ordering::Relaxed))
    }
}

/// The instant [`PeerStats`] count their times from (the first time anyone asks): atomics hold
/// integers, not `Instant`s.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// One connected peer in the torrent's peer table.
pub(crate) struct PeerSlot {
    pub tx: mpsc::UnboundedSender<PeerCommand>,
    pub stats: Arc<PeerStats>,
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub incoming: bool,
    pub connected_at: Instant,
}

/// Messages waiting for the torrent task, at most. What peers, trackers and the listener
/// report waits (or, for hints such as PEX addresses, is dropped) when the task falls behind,
/// instead of piling up in memory. Orders the other way ([`PeerCommand`]) are unbounded on
/// purpose: the torrent task never waits for a peer, and it sends a peer only what it decided
/// itself (one `have` per verified piece at most, a few choke changes).
pub const TORRENT_INBOX: usize = 4096;

/// The torrent task's inbox.
pub type TorrentTx = mpsc::Sender<TorrentMsg>;
/// The torrent task's end of its inbox.
pub type TorrentRx = mpsc::Receiver<TorrentMsg>;

/// State shared between the torrent task and its peer tasks.
pub struct Shared {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub listen_port: u16,
    pub info: Arc<Info>,
    /// The raw info dictionary, served to peers that ask for it (BEP 9).
    pub raw_info: Bytes,
    pub(super) picker: Mutex<Picker>,
    pub disk: mpsc::Sender<DiskJob>,
    pub storage: Arc<Storage>,
    /// What we send and what we receive is paid for in these (the torrent's and the
    /// engine's limits).
    pub(crate) upload: Buckets,
    pub(crate) download: Buckets,
    pub faults: Faults,
    /// Opens our connections (encryption policy, peers' reserved-bit needs).
    pub dialer: Arc<Dialer>,
    /// The DHT node: peers with the DHT bit get our `Port`, and theirs is added to it (BEP 5).
    pub dht: Option<crate::engine::dht::DhtHandle>,
    pub events: TorrentTx,
    pub(super) peers: Mutex<HashMap<PeerKey, PeerSlot>>,
    pub downloaded: AtomicU64,
    pub uploaded: AtomicU64,
    pub wasted: AtomicU64,
}

impl Shared {
    /// The picker; held only for short, non-async sections.
    pub fn picker(&self) -> MutexGuard<'_, Picker> {
        self.picker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peer table; held only for short, non-async sections.
    pub(crate) fn peers(&self) -> MutexGuard<'_, HashMap<PeerKey, PeerSlot>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn verified_bitfield(&self) -> Bitfield {
        self.picker().verified().clone()
    }

    pub fn send_to_peers(&self, keys: &[PeerKey], cmd: PeerCommand) {
        let peers = self.peers();
        for k in keys {
            if let Some(p) = peers.get(k) {
                let _ = p.tx.send(cmd.clone());
            }
        }
    }

    /// Ask every other peer to refill its pipeline (blocks were released).
    pub fn nudge_peers(&self, except: PeerKey) {
        for (k, p) in self.peers().iter() {
            if *k != except {
                let _ = p.tx.send(PeerCommand::Refill);
            }
        }
    }
}

/// Everything that reaches the torrent task.
pub enum TorrentMsg {
    PeerUp {
        key: PeerKey,
        addr: SocketAddr,
        peer_id: PeerId,
        incoming: bool,
    },
    PeerClosed {
        key: Option<PeerKey>,
        addr: SocketAddr,
        reason: PeerCloseReason,
    },
    /// The peer sent `interested` or `not interested`.
    PeerInterest {
        key: PeerKey,
        interested: bool,
    },
    Disk(DiskResult),
    Tracker(TrackerUpdate),
    /// An accepted connection for this torrent, its handshake read and answered.
    Incoming {
        conn: Connection,
        handshake: Handshake,
    },
    AddPeers(Vec<SocketAddr>),
    /// The pieces the peer connected from this address has, for the dashboard: answered
    /// by the peer's task on `reply`, or dropped (no such peer, metadata still unknown).
    PeerPieces {
        addr: SocketAddr,
        reply: mpsc::Sender<Bitfield>,
    },
    /// Pause (`true`: close every peer, connect to none, keep the piece state) or resume.
    /// Ignored while fetching metadata.
    Pause(bool),
    /// Queued (`true`: no peers, like paused, until the queue has a slot) or started.
    /// Ignored while fetching metadata.
    Queue(bool),
    /// Stop like [`TorrentMsg::Shutdown`], then delete the torrent's files.
    RemoveData(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_log_keeps_the_last_messages_only() {
        let stats = PeerStats::default();
        for index in 0..(WIRE_LOG_LEN as u32 + 5) {
            stats.note(Direction::In, &Message::Have { index });
        }
        stats.note(
            Direction::Out,
            &Message::Request(BlockRef {
                index: 9,
                begin: 0,
                length: 16384,
            }),
        );
        let d = stats.detail();
        assert_eq!(d.recent.len(), WIRE_LOG_LEN);
        let last = d.recent.back().unwrap();
        assert_eq!(
            (last.1, last.2, last.3, last.4),
            (Direction::Out, "request", Some(9), 16384)
        );
        // the oldest kept is the one WIRE_LOG_LEN - 1 messages before the last
        assert_eq!(d.recent.front().unwrap().3, Some(6));
    }

    #[test]
    fn the_last_block_age_counts_from_the_last_block() {
        let stats = PeerStats::default();
        let t0 = Instant::now();
        assert_eq!(stats.last_block_age(t0), None, "no block yet");
        stats.note_block(t0);
        stats.note_block(t0 + Duration::from_secs(2));
        let age = stats.last_block_age(t0 + Duration::from_secs(5)).unwrap();
        // millisecond precision: the stored instant is rounded down
        assert!(
            age >= Duration::from_secs(3) && age < Duration::from_millis(3002),
            "{age:?}"
        );
    }

    #[test]
    fn rates_survive_the_trip_through_their_atomics() {
        let stats = PeerStats::default();
        stats.set_rate(1234.5);
        stats.set_up_rate(0.25);
        assert_eq!(stats.rate(), 1234.5);
        assert_eq!(stats.up_rate(), 0.25);
    }
}
