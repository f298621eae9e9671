//! "Why is it slow?": the bottleneck verdict, a pure function from a torrent's picture (and
//! the engine-wide limit) to one line that names the limiting factor with its evidence.
//!
//! The checks run from the torrent's own state, through what we control (our limit, the disk,
//! the hasher), to what the swarm does (no peers, no copy of the pieces we lack, choked, slow
//! uploaders), so the first that holds is the one the user can act on or must accept:
//!
//! 1. not downloading: done ([`Verdict::None`]), paused, queued, failed, checking, or waiting
//!    for metadata;
//! 2. no peer connected: what the trackers and the DHT said;
//! 3. our download limit (the torrent's or the engine's) is nearly used up;
//! 4. the hasher was busy most of the recent window, or the disk write queue was full;
//! 5. no connected peer has any piece we still lack;
//! 6. every peer that has pieces we lack chokes us;
//! 7. the peers that unchoke us upload slowly: under [`SATURATED`] together. A torrent that
//!    gets more than that with nothing of ours in the way is not held back by anything we can
//!    name: [`Verdict::None`] (the link or the swarm is saturated fairly).

use super::event::{PeerSnapshot, PieceView, TorrentSnapshot, TorrentState};
use serde::Serialize;
use std::fmt;

/// A download faster than this (bytes/s) with nothing of ours in the way is "none".
pub const SATURATED: f64 = 16.0 * 1024.0 * 1024.0;
/// Our limit counts as the bottleneck from this share of it.
const LIMIT_USED: f64 = 0.8;
/// The hasher counts as the bottleneck when busy this share of the window.
const HASH_BUSY: f32 = 0.9;
/// The disk counts as the bottleneck when its queue was full this share of the window.
const DISK_FULL: f32 = 0.5;

/// The engine-wide facts the verdict needs besides the torrent's picture.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineLoad {
    /// The engine's download limit (bytes/s), if any.
    pub download_limit: Option<u64>,
    /// Every torrent's download rate together (bytes/s).
    pub download_rate: f64,
}

/// The limiting factor of one torrent, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing holds it back: it is complete, or it gets at least [`SATURATED`] with nothing
    /// of ours in the way.
    None,
    Paused,
    /// Waiting for a download slot (`active` downloads run, the queue's limit).
    Queued,
    /// Stopped on an error (the torrent's error says which).
    Failed,
    /// Checking the data already on disk.
    Checking,
    /// A magnet still fetching its info dictionary (BEP 9).
    WaitingForMetadata {
        peers: usize,
        pieces: usize,
        received: usize,
    },
    /// Nobody connected; `known` addresses are known.
    NoPeers {
        known: usize,
        trackers: String,
        dht: String,
    },
    /// Our download limit (the torrent's or the engine's) is nearly used up.
    OurLimit {
        limit: u64,
        engine_wide: bool,
    },
    Hashing {
        busy: f32,
    },
    DiskWrites {
        full: f32,
    },
    /// No connected peer has any of the `pieces` we still lack.
    MissingPieces {
        pieces: u32,
    },
    /// Every one of the `peers` that has pieces we lack chokes us.
    ChokedByAll {
        peers: usize,
    },
    /// `unchoking` peers send us data, `rate` together, none faster than `fastest`.
    PeersUpload {
        unchoking: usize,
        rate: f64,
        fastest: f64,
    },
}

impl Verdict {
    /// Whether the verdict names something holding the download back.
    pub fn is_none(&self) -> bool {
        matches!(self, Verdict::None)
    }
}

/// `1.8 MiB/s`.
fn rate(bytes_per_s: f64) -> String {
    format!(
        "{}/s",
        humansize::format_size(
            bytes_per_s.max(0.0) as u64,
            humansize::BINARY.decimal_places(1)
        )
    )
}

fn percent(share: f32) -> u32 {
    (share.clamp(0.0, 1.0) * 100.0).round() as u32
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bottleneck: ")?;
        match self {
            Verdict::None => f.write_str("none"),
            Verdict::Paused => f.write_str("paused"),
            Verdict::Queued => f.write_str("queued (waiting for a download slot)"),
            Verdict::Failed => f.write_str("stopped on an error"),
            Verdict::Checking => f.write_str("checking the data on disk"),
            Verdict::WaitingForMetadata {
                peers,
                pieces,
                received,
            } => {
                f.write_str("waiting for metadata")?;
                if *pieces > 0 {
                    write!(f, " ({received}/{pieces} pieces, {peers} peers)")
                } else {
                    write!(f, " ({peers} peers)")
                }
            }
            Verdict::NoPeers {
                known,
                trackers,
                dht,
            } => {
                f.write_str("no peers (")?;
                if *known > 0 {
                    write!(f, "{known} known, none connected; ")?;
                }
                write!(f, "tracker: {trackers}; DHT: {dht})")
            }
            Verdict::OurLimit { limit, engine_wide } => write!(
                f,
                "our download limit ({}{})",
                rate(*limit as f64),
                if *engine_wide { ", every torrent" } else { "" }
            ),
            Verdict::Hashing { busy } => write!(
                f,
                "hashing (hasher busy {} % of the last 10 s)",
                percent(*busy)
            ),
            Verdict::DiskWrites { full } => write!(
                f,
                "disk writes (queue full {} % of the last 10 s)",
                percent(*full)
            ),
            Verdict::MissingPieces { pieces } => write!(
                f,
                "no peer has the missing pieces ({pieces} pieces, availability 0)"
            ),
            Verdict::ChokedByAll { peers } => write!(
                f,
                "choked by every peer ({peers} {} what we lack)",
                if *peers == 1 {
                    "peer has"
                } else {
                    "peers have"
                }
            ),
            Verdict::PeersUpload {
                unchoking,
                rate: total,
                fastest,
            } => write!(
                f,
                "peers' upload ({unchoking} peer{} unchoke us, {} total, each under {})",
                if *unchoking == 1 { "" } else { "s" },
                rate(*total),
                rate(ceiling(*fastest))
            ),
        }
    }
}

/// The next "round" rate above `r`: 1, 2 or 5 times a power of two's KiB/MiB (so the
/// evidence reads `each under 512 KiB/s`, not `each under 497.3 KiB/s`).
fn ceiling(r: f64) -> f64 {
    let mut step = 1024.0;
    while step <= r {
        step *= 2.0;
    }
    step
}

/// What the trackers said, in a few words.
fn trackers_text(t: &TorrentSnapshot) -> String {
    let list = &t.diagnostics.trackers;
    if list.is_empty() {
        return "none".into();
    }
    let errors: Vec<&str> = list
        .iter()
        .filter_map(|s| match &s.last {
            Some(Err(e)) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    let peers: usize = list
        .iter()
        .filter_map(|s| match &s.last {
            Some(Ok(n)) => Some(*n),
            _ => None,
        })
        .sum();
    let answered = list
        .iter()
        .filter(|s| matches!(s.last, Some(Ok(_))))
        .count();
    if answered > 0 {
        format!("{peers} peers from {answered} of {}", list.len())
    } else if let Some(e) = errors.first() {
        if list.len() == 1 {
            (*e).to_string()
        } else {
            format!("{} of {} failed, last: {e}", errors.len(), list.len())
        }
    } else {
        "no answer yet".into()
    }
}

fn dht_text(t: &TorrentSnapshot) -> String {
    match t.diagnostics.dht {
        None => "off".into(),
        Some(d) => format!(
            "{} peers after {} lookup{}",
            d.peers,
            d.lookups,
            if d.lookups == 1 { "" } else { "s" }
        ),
    }
}

/// Whether `p` has at least one piece we lack. The snapshot does not carry bitfields, so a
/// peer counts as having something when it is a seed, or when we are interested in it (the
/// engine is interested exactly when the peer has a piece we want).
fn has_what_we_lack(p: &PeerSnapshot, piece_count: u32) -> bool {
    p.am_interested || (piece_count > 0 && p.pieces >= piece_count)
}

/// The verdict for torrent `t`; `engine`: the engine-wide limit and load.
pub fn verdict(t: &TorrentSnapshot, engine: EngineLoad) -> Verdict {
    match t.state {
        TorrentState::Seeding => return Verdict::None,
        TorrentState::Paused => return Verdict::Paused,
        TorrentState::Queued => return Verdict::Queued,
        TorrentState::Checking => return Verdict::Checking,
        TorrentState::Failed => return Verdict::Failed,
        TorrentState::FetchingMetadata => {
            let m = t.metadata.as_ref();
            return Verdict::WaitingForMetadata {
                peers: t.peers.len(),
                pieces: m.map_or(0, |m| m.pieces_received.len()),
                received: m.map_or(0, |m| m.pieces_received.iter().filter(|r| **r).count()),
            };
        }
        TorrentState::Downloading => {}
    }
    if t.bytes_left == 0 {
        return Verdict::None;
    }
    if t.peers.is_empty() {
        return Verdict::NoPeers {
            known: t.known_peers,
            trackers: trackers_text(t),
            dht: dht_text(t),
        };
    }
    // our limits: the torrent's own, then the engine's (shared by every torrent)
    if let Some(limit) = t.settings.limits.download
        && limit > 0
        && t.download_rate >= limit as f64 * LIMIT_USED
    {
        return Verdict::OurLimit {
            limit,
            engine_wide: false,
        };
    }
    if let Some(limit) = engine.download_limit
        && limit > 0
        && engine.download_rate.max(t.download_rate) >= limit as f64 * LIMIT_USED
    {
        return Verdict::OurLimit {
            limit,
            engine_wide: true,
        };
    }
    let d = &t.diagnostics;
    if d.hash_busy >= HASH_BUSY {
        return Verdict::Hashing { busy: d.hash_busy };
    }
    if d.disk_queue_full >= DISK_FULL {
        return Verdict::DiskWrites {
            full: d.disk_queue_full,
        };
    }
    // the swarm: is there a copy of what we lack?
    let lacking: Vec<usize> = t
        .pieces
        .iter()
        .enumerate()
        .filter(|(_, v)| matches!(v, PieceView::Missing | PieceView::Failed))
        .map(|(i, _)| i)
        .collect();
    let holders: Vec<&PeerSnapshot> = t
        .peers
        .iter()
        .filter(|p| has_what_we_lack(p, t.piece_count))
        .collect();
    let in_flight = t.pieces.contains(&PieceView::Requested);
    if !in_flight && !lacking.is_empty() {
        let unavailable = lacking
            .iter()
            .filter(|i| t.availability.get(**i).copied().unwrap_or(0) == 0)
            .count();
        if unavailable == lacking.len() || holders.is_empty() {
            return Verdict::MissingPieces {
                pieces: lacking.len() as u32,
            };
        }
    }
    if !holders.is_empty() && holders.iter().all(|p| p.peer_choking) {
        return Verdict::ChokedByAll {
            peers: holders.len(),
        };
    }
    if t.download_rate >= SATURATED {
        return Verdict::None;
    }
    let senders: Vec<&PeerSnapshot> = t.peers.iter().filter(|p| !p.peer_choking).collect();
    Verdict::PeersUpload {
        unchoking: senders.len(),
        rate: t.download_rate,
        // a peer's rate is measured once a second, the torrent's more often: the fastest
        // sends at least an equal share of what arrives
        fastest: senders
            .iter()
            .map(|p| p.download_rate)
            .fold(t.download_rate / senders.len().max(1) as f64, f64::max),
    }
}

#[cfg(test)]
mod tests;
