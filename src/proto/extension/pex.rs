//! Peer exchange `ut_pex` (BEP 11): the message and what to send each peer.
//!
//! [`PexMessage`] merges IPv4 (`added`, 6-byte compact) and IPv6 (`added6`, 18-byte compact)
//! entries into one list of [`SocketAddr`]. Decoding is strict about compact lengths and refuses
//! (does not truncate) a message with more than [`PEX_MAX_DECODE`] added or dropped peers.
//! [`PexState`] computes what to send one peer: the diff since the last message, at most
//! [`PEX_MAX_PER_MESSAGE`] added and dropped, and at most one message per [`PEX_INTERVAL`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::{ExtensionError, decode_dict, ip_from_bytes};
use crate::proto::bencode::{self, Value};

/// At most one PEX message per peer per this interval (BEP 11).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Most added (and most dropped) peers [`PexState`] puts in one message (BEP 11).
pub const PEX_MAX_PER_MESSAGE: usize = 50;
/// Most added (and most dropped) peers [`PexMessage::decode`] accepts; more is an error.
pub const PEX_MAX_DECODE: usize = 200;

/// Per-peer flags in `added.f` / `added6.f` (BEP 11).
pub mod pex_flags {
    /// The peer prefers encrypted connections.
    pub const PREFERS_ENCRYPTION: u8 = 0x01;
    /// The peer is a seed (or upload-only).
    pub const SEED: u8 = 0x02;
    /// The peer supports uTP.
    pub const UTP: u8 = 0x04;
    /// The peer supports `ut_holepunch`.
    pub const HOLEPUNCH: u8 = 0x08;
    /// The peer is reachable: we connected out to it.
    pub const REACHABLE: u8 = 0x10;
}

/// A `ut_pex` message (BEP 11). IPv4 and IPv6 entries share the lists; `added_flags[i]`
/// belongs to `added[i]` (missing flags encode as 0).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PexMessage {
    pub added: Vec<SocketAddr>,
    pub added_flags: Vec<u8>,
    pub dropped: Vec<SocketAddr>,
}

fn compact_v4(a: &std::net::SocketAddrV4, out: &mut Vec<u8>) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn compact_v6(a: &std::net::SocketAddrV6, out: &mut Vec<u8>) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

fn parse_compact(
    d: &BTreeMap<Vec<u8>, Value>,
    key: &'static str,
    unit: usize,
) -> Result<Vec<SocketAddr>, ExtensionError> {
    // A missing or non-string field is just "no peers" (lenient, as for the handshake).
    let Some(b) = d.get(key.as_bytes()).and_then(Value::as_bytes) else {
        return Ok(Vec::new());
    };
    if b.len() % unit != 0 {
        return Err(ExtensionError::PexCompactLength {
            key,
            len: b.len(),
            unit,
        });
    }
    Ok(b.chunks_exact(unit)
        .map(|c| {
            let ip = ip_from_bytes(&c[..unit - 2]).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            SocketAddr::new(ip, u16::from_be_bytes([c[unit - 2], c[unit - 1]]))
        })
        .collect())
}

impl PexMessage {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.dropped.is_empty()
    }

    /// `(address, flags)` for every added peer.
    pub fn added_with_flags(&self) -> impl Iterator<Item = (SocketAddr, u8)> + '_ {
        self.added
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, self.added_flags.get(i).copied().unwrap_or(0)))
    }

    /// The bencoded payload. All six keys are always present (libtorrent does the same).
    pub fn encode(&self) -> Vec<u8> {
        let (mut a4, mut f4, mut a6, mut f6, mut d4, mut d6) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (addr, flags) in self.added_with_flags() {
            match addr {
                SocketAddr::V4(a) => {
                    compact_v4(&a, &mut a4);
                    f4.push(flags);
                }
                SocketAddr::V6(a) => {
                    compact_v6(&a, &mut a6);
                    f6.push(flags);
                }
            }
        }
        for addr in &self.dropped {
            match addr {
                SocketAddr::V4(a) => compact_v4(a, &mut d4),
                SocketAddr::V6(a) => compact_v6(a, &mut d6),
            }
        }
        let d: BTreeMap<Vec<u8>, Value> = [
            ("added", a4),
            ("added.f", f4),
            ("added6", a6),
            ("added6.f", f6),
            ("dropped", d4),
            ("dropped6", d6),
        ]
        .into_iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), Value::Bytes(v)))
        .collect();
        bencode::encode(&Value::Dict(d))
    }

    /// Decode a payload: IPv4 entries first, then IPv6. Compact lengths must be exact; a flags
    /// string shorter than its peers is padded with 0, a longer one cut. More than
    /// [`PEX_MAX_DECODE`] added or dropped peers is an error.
    pub fn decode(payload: &[u8]) -> Result<PexMessage, ExtensionError> {
        let d = decode_dict(payload, "ut_pex")?;
        let mut added = parse_compact(&d, "added", 6)?;
        let added6 = parse_compact(&d, "added6", 18)?;
        let flags = |key: &str, n: usize| {
            let mut f = d
                .get(key.as_bytes())
                .and_then(Value::as_bytes)
                .unwrap_or_default()
                .to_vec();
            f.resize(n, 0);
            f
        };
        let mut added_flags = flags("added.f", added.len());
        added_flags.extend(flags("added6.f", added6.len()));
        added.extend(added6);
        let mut dropped = parse_compact(&d, "dropped", 6)?;
        dropped.extend(parse_compact(&d, "dropped6", 18)?);
        for (what, count) in [("added", added.len()), ("dropped", dropped.len())] {
            if count > PEX_MAX_DECODE {
                return Err(ExtensionError::PexTooMany {
                    what,
                    count,
                    max: PEX_MAX_DECODE,
                });
            }
        }
        Ok(PexMessage {
            added,
            added_flags,
            dropped,
        })
    }
}

/// What we have told one peer through PEX, and when. One per connected peer that supports
/// `ut_pex`.
///
/// Invariant: `sent` is exactly the set of addresses the peer has heard from us as added and
/// not since dropped.
#[derive(Clone, Debug, Default)]
pub struct PexState {
    sent: BTreeSet<SocketAddr>,
    last_sent: Option<Instant>,
}

impl PexState {
    pub fn new() -> PexState {
        PexState::default()
    }

    /// When the next message may go out (`None`: right away).
    pub fn next_due(&self) -> Option<Instant> {
        self.last_sent.map(|t| t + PEX_INTERVAL)
    }

    /// The message to send now, given every currently connected peer address and its flags
    /// (the caller leaves out the receiving peer itself and peers whose listen port is unknown).
    /// `None` if the last message was less than [`PEX_INTERVAL`] ago or nothing changed.
    /// At most [`PEX_MAX_PER_MESSAGE`] added and dropped go out; the rest wait for the next one.
    pub fn next_message(
        &mut self,
        connected: impl IntoIterator<Item = (SocketAddr, u8)>,
        now: Instant,
    ) -> Option<PexMessage> {
        if self.next_due().is_some_and(|due| now < due) {
            return None;
        }
        let current: BTreeMap<SocketAddr, u8> = connected.into_iter().collect();
        let mut msg = PexMessage::default();
        for (addr, flags) in &current {
            if msg.added.len() == PEX_MAX_PER_MESSAGE {
                break;
            }
            if !self.sent.contains(addr) {
                msg.added.push(*addr);
                msg.added_flags.push(*flags);
            }
        }
        msg.dropped = self
            .sent
            .iter()
            .filter(|a| !current.contains_key(a))
            .take(PEX_MAX_PER_MESSAGE)
            .copied()
            .collect();
        if msg.is_empty() {
            return None;
        }
        self.sent.extend(msg.added.iter().copied());
        for a in &msg.dropped {
            self.sent.remove(a);
        }
        self.last_sent = Some(now);
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::extension::tests::{arb_addr, v4};
    use proptest::prelude::*;
    use std::net::Ipv6Addr;

    #[test]
    fn pex_golden_and_round_trip() {
        let m = PexMessage {
            added: vec![v4("10.0.0.1:6881"), v4("[::1]:51413"), v4("1.2.3.4:80")],
            added_flags: vec![pex_flags::SEED | pex_flags::REACHABLE, pex_flags::UTP, 0],
            dropped: vec![v4("5.6.7.8:1")],
        };
        let bytes = m.encode();
        let mut golden = b"d5:added12:\x0a\x00\x00\x01\x1a\xe1\x01\x02\x03\x04\x00\x50\
                           7:added.f2:\x12\x00\
                           6:added618:"
            .to_vec();
        golden.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        golden.extend_from_slice(b"\xc8\xd5");
        golden.extend_from_slice(b"8:added6.f1:\x04");
        golden.extend_from_slice(b"7:dropped6:\x05\x06\x07\x08\x00\x01");
        golden.extend_from_slice(b"8:dropped60:e");
        assert_eq!(bytes, golden);
        // Decoding orders IPv4 first.
        let back = PexMessage::decode(&bytes).unwrap();
        assert_eq!(
            back.added,
            vec![v4("10.0.0.1:6881"), v4("1.2.3.4:80"), v4("[::1]:51413")]
        );
        assert_eq!(back.added_flags, vec![0x12, 0, 0x04]);
        assert_eq!(back.dropped, m.dropped);
        assert_eq!(PexMessage::decode(&back.encode()), Ok(back));
    }

    #[test]
    fn pex_strict_lengths_and_cap() {
        assert_eq!(
            PexMessage::decode(b"d5:added5:abcdee"),
            Err(ExtensionError::PexCompactLength {
                key: "added",
                len: 5,
                unit: 6
            })
        );
        assert!(matches!(
            PexMessage::decode(b"d8:dropped67:abcdefge"),
            Err(ExtensionError::PexCompactLength {
                key: "dropped6",
                ..
            })
        ));
        // Minimal messages (only `added`, no flags) decode with zero flags.
        let m = PexMessage::decode(b"d5:added6:\x01\x02\x03\x04\x00\x01e").unwrap();
        assert_eq!(
            m.added_with_flags().collect::<Vec<_>>(),
            vec![(v4("1.2.3.4:1"), 0)]
        );
        assert_eq!(PexMessage::decode(b"de"), Ok(PexMessage::default()));
        let many = PexMessage {
            added: (0..=PEX_MAX_DECODE as u16)
                .map(|p| SocketAddr::from(([1, 1, 1, 1], p)))
                .collect(),
            ..Default::default()
        };
        assert_eq!(
            PexMessage::decode(&many.encode()),
            Err(ExtensionError::PexTooMany {
                what: "added",
                count: 201,
                max: 200
            })
        );
    }

    #[test]
    fn pex_state_diff_cap_and_rate() {
        let t = Instant::now();
        let mut s = PexState::new();
        let peers: Vec<(SocketAddr, u8)> = (1..=60u16)
            .map(|p| (SocketAddr::from(([10, 0, 0, 1], p)), 0))
            .collect();
        assert_eq!(s.next_message(Vec::new(), t), None, "nothing to say");
        assert_eq!(s.next_due(), None);
        let first = s.next_message(peers.clone(), t).unwrap();
        assert_eq!(first.added.len(), PEX_MAX_PER_MESSAGE);
        assert!(first.dropped.is_empty());
        assert_eq!(s.next_due(), Some(t + PEX_INTERVAL));
        // 60 s rule.
        assert_eq!(
            s.next_message(peers.clone(), t + Duration::from_secs(59)),
            None
        );
        // Next round: the remaining 10 added, the first peer dropped.
        let t2 = t + PEX_INTERVAL;
        let second = s.next_message(peers[1..].to_vec(), t2).unwrap();
        assert_eq!(
            second.added,
            peers[50..].iter().map(|p| p.0).collect::<Vec<_>>()
        );
        assert_eq!(second.dropped, vec![peers[0].0]);
        // Nothing changed: no message, and the timer is not restarted.
        assert_eq!(s.next_message(peers[1..].to_vec(), t2 + PEX_INTERVAL), None);
        assert_eq!(s.next_due(), Some(t2 + PEX_INTERVAL));
        // A peer that comes back is added again.
        let third = s.next_message(peers.clone(), t2 + PEX_INTERVAL).unwrap();
        assert_eq!(third.added, vec![peers[0].0]);
        assert!(PexMessage::decode(&third.encode()).is_ok());
    }

    proptest! {
        #[test]
        fn pex_round_trip(
            added in proptest::collection::vec((arb_addr(), any::<u8>()), 0..60),
            dropped in proptest::collection::vec(arb_addr(), 0..60),
        ) {
            let mut v4s: Vec<_> = added.iter().filter(|a| a.0.is_ipv4()).copied().collect();
            v4s.extend(added.iter().filter(|a| a.0.is_ipv6()));
            let mut d: Vec<_> = dropped.iter().filter(|a| a.is_ipv4()).copied().collect();
            d.extend(dropped.iter().filter(|a| a.is_ipv6()));
            let m = PexMessage {
                added: v4s.iter().map(|a| a.0).collect(),
                added_flags: v4s.iter().map(|a| a.1).collect(),
                dropped: d,
            };
            prop_assert_eq!(PexMessage::decode(&m.encode()), Ok(m));
        }
    }
}
