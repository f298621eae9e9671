//! Metadata exchange `ut_metadata` (BEP 9): its messages and the download of the info dict
//! from peers.
//!
//! The info dict is split in [`METADATA_PIECE_SIZE`] pieces; every piece but the last is full.
//! [`MetadataMessage::decode`] checks a `data` message against its own `total_size` (piece in
//! range, exactly the piece's length, never over 16 KiB), so a truncated message is an error.
//! [`MetadataAssembler`] is the pure state machine of a download: which piece to ask whom, when
//! a request has timed out ([`METADATA_REQUEST_TIMEOUT`]), and the SHA-1 check at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::{ExtensionError, int_in};
use crate::proto::bencode::{self, Value};
use crate::proto::id::InfoHash;

/// Size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_SIZE: usize = 16384;
/// How long a metadata request may stay unanswered before the piece is offered to another peer.
pub const METADATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `ut_metadata` `msg_type` values (BEP 9).
pub const METADATA_REQUEST: i64 = 0;
pub const METADATA_DATA: i64 = 1;
pub const METADATA_REJECT: i64 = 2;

/// A `ut_metadata` message (BEP 9).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MetadataMessage {
    /// `msg_type` 0: please send metadata piece `piece`.
    Request { piece: u32 },
    /// `msg_type` 1: metadata piece `piece`, the raw bytes following the dict.
    Data {
        piece: u32,
        total_size: u32,
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send `piece`.
    Reject { piece: u32 },
}

/// Number of metadata pieces for an info dict of `total` bytes.
pub fn metadata_piece_count(total: u32) -> u32 {
    total.div_ceil(METADATA_PIECE_SIZE as u32)
}

/// Length of metadata piece `piece`; `None` if it is past the end.
pub fn metadata_piece_len(total: u32, piece: u32) -> Option<u32> {
    if piece >= metadata_piece_count(total) {
        return None;
    }
    let start = piece as u64 * METADATA_PIECE_SIZE as u64;
    Some((total as u64 - start).min(METADATA_PIECE_SIZE as u64) as u32)
}

impl MetadataMessage {
    /// The payload: a bencoded dict, followed by the raw piece for `Data`.
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, piece, total) = match self {
            MetadataMessage::Request { piece } => (METADATA_REQUEST, *piece, None),
            MetadataMessage::Data {
                piece, total_size, ..
            } => (METADATA_DATA, *piece, Some(*total_size)),
            MetadataMessage::Reject { piece } => (METADATA_REJECT, *piece, None),
        };
        let mut d = BTreeMap::new();
        d.insert(b"msg_type".to_vec(), Value::Int(msg_type));
        d.insert(b"piece".to_vec(), Value::Int(piece.into()));
        if let Some(t) = total {
            d.insert(b"total_size".to_vec(), Value::Int(t.into()));
        }
        let mut out = bencode::encode(&Value::Dict(d));
        if let MetadataMessage::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }

    /// Decode a payload (copies the piece bytes; see [`Self::decode_bytes`] to share them).
    pub fn decode(payload: &[u8]) -> Result<MetadataMessage, ExtensionError> {
        Self::decode_bytes(&Bytes::copy_from_slice(payload))
    }

    /// Decode a payload; a `Data` message's bytes are a slice of `payload`, not a copy.
    pub fn decode_bytes(payload: &Bytes) -> Result<MetadataMessage, ExtensionError> {
        const MSG: &str = "ut_metadata";
        let (value, n) = bencode::decode_prefix(payload)?
            .ok_or(ExtensionError::Truncated { len: payload.len() })?;
        let Value::Dict(d) = value else {
            return Err(ExtensionError::NotADict { msg: MSG });
        };
        let field = |key: &'static str| {
            d.get(key.as_bytes())
                .and_then(int_in::<u32>)
                .ok_or(ExtensionError::BadField { msg: MSG, key })
        };
        let msg_type =
            d.get(&b"msg_type"[..])
                .and_then(Value::as_int)
                .ok_or(ExtensionError::BadField {
                    msg: MSG,
                    key: "msg_type",
                })?;
        let piece = field("piece")?;
        let rest = payload.len() - n;
        let no_rest = || {
            if rest == 0 {
                Ok(())
            } else {
                Err(ExtensionError::TrailingData {
                    msg: MSG,
                    extra: rest,
                })
            }
        };
        match msg_type {
            METADATA_REQUEST => no_rest().map(|()| MetadataMessage::Request { piece }),
            METADATA_REJECT => no_rest().map(|()| MetadataMessage::Reject { piece }),
            METADATA_DATA => {
                let total_size = field("total_size")?;
                if total_size == 0 {
                    return Err(ExtensionError::BadField {
                        msg: MSG,
                        key: "total_size",
                    });
                }
                let expected = metadata_piece_len(total_size, piece).ok_or(
                    ExtensionError::PieceOutOfRange {
                        piece,
                        total_size,
                        count: metadata_piece_count(total_size),
                    },
                )?;
                // `expected` is at most METADATA_PIECE_SIZE, so this also refuses > 16 KiB.
                if rest != expected as usize {
                    return Err(ExtensionError::WrongPieceLength {
                        piece,
                        expected,
                        received: rest,
                    });
                }
                Ok(MetadataMessage::Data {
                    piece,
                    total_size,
                    data: payload.slice(n..),
                })
            }
            other => Err(ExtensionError::UnknownMetadataMsgType(other)),
        }
    }
}

/// Where one metadata piece stands in a [`MetadataAssembler`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PieceStatus {
    /// Not asked for (or its request was rejected / its peer left).
    Missing,
    /// Asked of `peer` at `at`; offered to someone else after the timeout.
    Requested { peer: u64, at: Instant },
    /// Bytes in hand, served by `peer` (unverified until [`MetadataAssembler::finish`]).
    Received { peer: u64 },
}

/// Assembles the info dict from `ut_metadata` pieces (BEP 9). Pure: peers are opaque `u64`
/// keys chosen by the caller, time is passed in.
///
/// Invariants: `pieces.len() == metadata_piece_count(total_size)`; `buf.len() == total_size`;
/// bytes of a `Received` piece are in `buf` at `piece * METADATA_PIECE_SIZE`. A peer that
/// rejected a piece is not offered it again until the copy starts over (a failed
/// [`Self::check`]).
///
/// Blame ([`Self::check`]): a copy that fails the info-hash check and came from one peer
/// convicts that peer. One that came from several peers convicts nobody, since the hash
/// cannot say whose piece was wrong: the failed copy is kept as a *suspect* and the next copy
/// is taken from one peer at a time (the *source*), so each later failure names its one
/// sender. Once a copy verifies, the suspect's pieces are compared with it and exactly the
/// senders of differing pieces are named. A liar can slow a fetch down this way, but never
/// get an honest peer blamed.
#[derive(Clone, Debug)]
pub struct MetadataAssembler {
    info_hash: InfoHash,
    total_size: u32,
    timeout: Duration,
    buf: Vec<u8>,
    pieces: Vec<PieceStatus>,
    rejected_by: Vec<BTreeSet<u64>>,
    /// A failed copy from several peers, waiting for a good copy to compare with.
    suspect: Option<FailedCopy>,
    /// While there is a suspect: the one peer the current copy is taken from.
    source: Option<u64>,
}

/// A copy of the metadata that failed the info-hash check, and who sent each piece.
#[derive(Clone, Debug)]
struct FailedCopy {
    buf: Vec<u8>,
    senders: Vec<u64>,
}

/// What [`MetadataAssembler::check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Not every piece is in yet.
    Incomplete,
    /// The info dict, verified. `liars`: peers whose pieces of an earlier failed copy differ
    /// from it (sorted, no repeats).
    Verified { raw: Vec<u8>, liars: Vec<u64> },
    /// The copy failed and came from this one peer: it sent bad bytes. The assembler starts
    /// over.
    Liar(u64),
    /// The copy failed and came from several peers: nobody can be blamed yet. The assembler
    /// keeps the copy and starts over, one source at a time.
    Ambiguous,
}

impl MetadataAssembler {
    /// Start assembling `total_size` bytes (from a peer's `metadata_size`), refusing 0 and
    /// anything over `max_size`.
    pub fn new(
        info_hash: InfoHash,
        total_size: u32,
        max_size: u32,
    ) -> Result<MetadataAssembler, ExtensionError> {
        if total_size == 0 || total_size > max_size {
            return Err(ExtensionError::MetadataSize {
                size: total_size.into(),
                max: max_size,
            });
        }
        let count = metadata_piece_count(total_size) as usize;
        Ok(MetadataAssembler {
            info_hash,
            total_size,
            timeout: METADATA_REQUEST_TIMEOUT,
            buf: vec![0; total_size as usize],
            pieces: vec![PieceStatus::Missing; count],
            rejected_by: vec![BTreeSet::new(); count],
            suspect: None,
            source: None,
        })
    }

    /// Use another request timeout than [`METADATA_REQUEST_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> MetadataAssembler {
        self.timeout = timeout;
        self
    }

    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }
    pub fn total_size(&self) -> u32 {
        self.total_size
    }
    pub fn piece_count(&self) -> u32 {
        self.pieces.len() as u32
    }
    /// Pieces received so far.
    pub fn received(&self) -> u32 {
        self.pieces
            .iter()
            .filter(|p| matches!(p, PieceStatus::Received { .. }))
            .count() as u32
    }
    /// Requests currently outstanding to `peer` (for a per-peer cap).
    pub fn in_flight(&self, peer: u64) -> usize {
        self.pieces
            .iter()
            .filter(|p| matches!(p, PieceStatus::Requested { peer: q, .. } if *q == peer))
            .count()
    }
    /// Every piece and its status, in order (for the dashboard).
    pub fn pieces(&self) -> impl Iterator<Item = (u32, PieceStatus)> + '_ {
        self.pieces.iter().enumerate().map(|(i, s)| (i as u32, *s))
    }
    pub fn is_complete(&self) -> bool {
        self.pieces
            .iter()
            .all(|p| matches!(p, PieceStatus::Received { .. }))
    }

    /// The next piece to request from `peer`, marked as requested by it at `now`: a missing
    /// piece first, else one requested from *another* peer at least the timeout ago. Pieces
    /// `peer` rejected are skipped. Call repeatedly to fill a pipeline. While a suspect copy
    /// waits, only the source is asked; a peer takes that role when there is none or when the
    /// source let a request time out, and the copy then starts over from that peer alone.
    pub fn next_request(&mut self, peer: u64, now: Instant) -> Option<u32> {
        if self.suspect.is_some() && self.source != Some(peer) {
            let rejected_some = self.rejected_by.iter().any(|r| r.contains(&peer));
            let source_stalled = self.pieces.iter().any(|p| {
                matches!(*p, PieceStatus::Requested { peer: q, at }
                    if Some(q) == self.source && now.saturating_duration_since(at) >= self.timeout)
            });
            if rejected_some || (self.source.is_some() && !source_stalled) {
                return None;
            }
            self.source = Some(peer);
            self.pieces.fill(PieceStatus::Missing);
        }
        let eligible = |i: usize| !self.rejected_by[i].contains(&peer);
        let missing =
            (0..self.pieces.len()).find(|&i| self.pieces[i] == PieceStatus::Missing && eligible(i));
        let pick = missing.or_else(|| {
            (0..self.pieces.len()).find(|&i| match self.pieces[i] {
                PieceStatus::Requested { peer: q, at } => {
                    q != peer && now.saturating_duration_since(at) >= self.timeout && eligible(i)
                }
                _ => false,
            })
        })?;
        self.pieces[pick] = PieceStatus::Requested { peer, at: now };
        Some(pick as u32)
    }

    /// A `data` message from `peer`. Checks `total_size`, the piece index and the exact length;
    /// a duplicate of a received piece is ignored. Unsolicited pieces are accepted (the hash
    /// check covers them), except from another peer than the source while a suspect copy
    /// waits: the copy must come from one peer.
    pub fn on_data(
        &mut self,
        peer: u64,
        piece: u32,
        total_size: u32,
        data: &[u8],
    ) -> Result<(), ExtensionError> {
        if total_size != self.total_size {
            return Err(ExtensionError::TotalSizeMismatch {
                expected: self.total_size,
                received: total_size,
            });
        }
        let expected =
            metadata_piece_len(self.total_size, piece).ok_or(ExtensionError::PieceOutOfRange {
                piece,
                total_size,
                count: self.piece_count(),
            })?;
        if data.len() != expected as usize {
            return Err(ExtensionError::WrongPieceLength {
                piece,
                expected,
                received: data.len(),
            });
        }
        let i = piece as usize;
        let from_other_than_source = self.suspect.is_some() && self.source != Some(peer);
        if matches!(self.pieces[i], PieceStatus::Received { .. }) || from_other_than_source {
            return Ok(());
        }
        let start = i * METADATA_PIECE_SIZE;
        self.buf[start..start + data.len()].copy_from_slice(data);
        self.pieces[i] = PieceStatus::Received { peer };
        Ok(())
    }

    /// `peer` rejected `piece`: it goes back to missing (if it was asked of `peer`) and is not
    /// offered to `peer` again.
    pub fn on_reject(&mut self, peer: u64, piece: u32) {
        let i = piece as usize;
        let Some(status) = self.pieces.get_mut(i) else {
            return;
        };
        if matches!(*status, PieceStatus::Requested { peer: q, .. } if q == peer) {
            *status = PieceStatus::Missing;
        }
        self.rejected_by[i].insert(peer);
        if self.source == Some(peer) {
            // it cannot give a whole copy alone: let another peer be the source
            self.source = None;
        }
    }

    /// `peer` disconnected: its outstanding requests go back to missing.
    pub fn peer_gone(&mut self, peer: u64) {
        for (status, rejected) in self.pieces.iter_mut().zip(&mut self.rejected_by) {
            if matches!(*status, PieceStatus::Requested { peer: q, .. } if q == peer) {
                *status = PieceStatus::Missing;
            }
            rejected.remove(&peer);
        }
        if self.source == Some(peer) {
            self.source = None;
        }
    }

    /// Forget what was received or requested for the current copy, and its source.
    fn start_over(&mut self) {
        self.pieces.fill(PieceStatus::Missing);
        self.rejected_by.iter_mut().for_each(BTreeSet::clear);
        self.source = None;
    }

    /// Check a complete copy and say who, if anyone, is to blame (see the type's docs). On
    /// [`Check::Verified`] the bytes are moved out and the assembler must not be used again.
    pub fn check(&mut self) -> Check {
        match self.verify() {
            Ok(()) => {}
            Err(ExtensionError::MetadataHashMismatch { .. }) => return self.blame(),
            Err(_) => return Check::Incomplete,
        }
        let mut liars: Vec<u64> = match self.suspect.take() {
            Some(failed) => failed
                .buf
                .chunks(METADATA_PIECE_SIZE)
                .zip(self.buf.chunks(METADATA_PIECE_SIZE))
                .zip(&failed.senders)
                .filter(|((theirs, good), _)| theirs != good)
                .map(|(_, sender)| *sender)
                .collect(),
            None => Vec::new(),
        };
        liars.sort_unstable();
        liars.dedup();
        Check::Verified {
            raw: std::mem::take(&mut self.buf),
            liars,
        }
    }

    /// A complete copy failed the info-hash check: name its sender if it had only one, else
    /// keep it as the suspect; either way start over.
    fn blame(&mut self) -> Check {
        let senders: Vec<u64> = self
            .pieces
            .iter()
            .filter_map(|p| match p {
                PieceStatus::Received { peer } => Some(*peer),
                _ => None, // none: the copy is complete
            })
            .collect();
        let verdict = if let Some(&first) = senders.first()
            && senders.iter().all(|s| *s == first)
        {
            Check::Liar(first)
        } else {
            if self.suspect.is_none() {
                self.suspect = Some(FailedCopy {
                    buf: self.buf.clone(),
                    senders,
                });
            }
            Check::Ambiguous
        };
        self.start_over();
        verdict
    }

    fn verify(&self) -> Result<(), ExtensionError> {
        if !self.is_complete() {
            return Err(ExtensionError::MetadataIncomplete {
                missing: self.piece_count() - self.received(),
                count: self.piece_count(),
            });
        }
        let actual = InfoHash(Sha1::digest(&self.buf).into());
        if actual != self.info_hash {
            return Err(ExtensionError::MetadataHashMismatch {
                expected: self.info_hash,
                actual,
            });
        }
        Ok(())
    }

    /// The verified info dict bytes. [`ExtensionError::MetadataHashMismatch`] means some peer
    /// sent garbage ([`Self::check`] says whose garbage and keeps the assembler going).
    pub fn finish(self) -> Result<Vec<u8>, ExtensionError> {
        self.verify()?;
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn metadata_golden() {
        assert_eq!(
            MetadataMessage::Request { piece: 0 }.encode(),
            b"d8:msg_typei0e5:piecei0ee".to_vec()
        );
        assert_eq!(
            MetadataMessage::Reject { piece: 3 }.encode(),
            b"d8:msg_typei2e5:piecei3ee".to_vec()
        );
        // Metadata of 16384 + 100 bytes: two pieces, the last one 100 bytes.
        let total = 16484;
        assert_eq!(metadata_piece_count(total), 2);
        assert_eq!(metadata_piece_len(total, 0), Some(16384));
        assert_eq!(metadata_piece_len(total, 1), Some(100));
        assert_eq!(metadata_piece_len(total, 2), None);
        let data = MetadataMessage::Data {
            piece: 1,
            total_size: total,
            data: Bytes::from(vec![0xaa; 100]),
        };
        let mut golden = b"d8:msg_typei1e5:piecei1e10:total_sizei16484ee".to_vec();
        golden.extend_from_slice(&[0xaa; 100]);
        assert_eq!(data.encode(), golden);
        assert_eq!(MetadataMessage::decode(&golden), Ok(data));
        for m in [
            MetadataMessage::Request { piece: 7 },
            MetadataMessage::Reject { piece: u32::MAX },
            MetadataMessage::Data {
                piece: 0,
                total_size: total,
                data: Bytes::from(vec![1; 16384]),
            },
        ] {
            assert_eq!(MetadataMessage::decode(&m.encode()), Ok(m));
        }
        assert_eq!(metadata_piece_count(1), 1);
        assert_eq!(metadata_piece_count(16384), 1);
        assert_eq!(metadata_piece_count(u32::MAX), 262144);
        assert_eq!(metadata_piece_len(u32::MAX, 262143), Some(16383));
    }

    #[test]
    fn metadata_every_strict_prefix_is_an_error() {
        let mut data = b"d8:msg_typei1e5:piecei1e10:total_sizei16484ee".to_vec();
        data.extend_from_slice(&[7; 100]);
        for msg in [&b"d8:msg_typei0e5:piecei0ee"[..], &data] {
            for cut in 0..msg.len() {
                assert!(MetadataMessage::decode(&msg[..cut]).is_err(), "cut {cut}");
            }
        }
    }

    #[test]
    fn metadata_invalid() {
        use ExtensionError as E;
        let d = |s: &[u8]| MetadataMessage::decode(s);
        assert_eq!(
            d(b"d8:msg_typei3e5:piecei0ee"),
            Err(E::UnknownMetadataMsgType(3))
        );
        assert_eq!(
            d(b"d5:piecei0ee"),
            Err(E::BadField {
                msg: "ut_metadata",
                key: "msg_type"
            })
        );
        assert_eq!(
            d(b"d8:msg_typei0e5:piecei-1ee"),
            Err(E::BadField {
                msg: "ut_metadata",
                key: "piece"
            })
        );
        assert_eq!(
            d(b"d8:msg_typei0e5:piecei0eexy"),
            Err(E::TrailingData {
                msg: "ut_metadata",
                extra: 2
            })
        );
        assert_eq!(
            d(b"d8:msg_typei1e5:piecei0ee"),
            Err(E::BadField {
                msg: "ut_metadata",
                key: "total_size"
            })
        );
        assert_eq!(
            d(b"d8:msg_typei1e5:piecei2e10:total_sizei16484ee"),
            Err(E::PieceOutOfRange {
                piece: 2,
                total_size: 16484,
                count: 2
            })
        );
        // A data block over 16 KiB is refused.
        let mut big = b"d8:msg_typei1e5:piecei0e10:total_sizei40000ee".to_vec();
        big.extend_from_slice(&[0; 16385]);
        assert_eq!(
            d(&big),
            Err(E::WrongPieceLength {
                piece: 0,
                expected: 16384,
                received: 16385
            })
        );
        assert_eq!(
            E::WrongPieceLength {
                piece: 7,
                expected: 16384,
                received: 100
            }
            .to_string(),
            "metadata piece 7: expected 16384 bytes, received 100"
        );
    }

    /// Metadata of `len` bytes and its hash.
    fn info(len: usize) -> (Vec<u8>, InfoHash) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let h = InfoHash(Sha1::digest(&bytes).into());
        (bytes, h)
    }

    fn piece(bytes: &[u8], p: u32) -> &[u8] {
        let s = p as usize * METADATA_PIECE_SIZE;
        &bytes[s..(s + METADATA_PIECE_SIZE).min(bytes.len())]
    }

    #[test]
    fn assembler_two_peers() {
        let (bytes, hash) = info(40_000);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 40_000, 1 << 20).unwrap();
        assert_eq!(a.piece_count(), 3);
        assert_eq!(a.next_request(1, t), Some(0));
        assert_eq!(a.next_request(2, t), Some(1));
        assert_eq!(a.next_request(2, t), Some(2));
        assert_eq!(a.next_request(1, t), None);
        assert_eq!(a.in_flight(2), 2);
        a.on_data(1, 0, 40_000, piece(&bytes, 0)).unwrap();
        a.on_data(2, 2, 40_000, piece(&bytes, 2)).unwrap();
        assert!(!a.is_complete());
        a.on_data(2, 1, 40_000, piece(&bytes, 1)).unwrap();
        // A duplicate is harmless.
        a.on_data(1, 1, 40_000, piece(&bytes, 1)).unwrap();
        assert!(a.is_complete());
        let served: Vec<_> = a.pieces().collect();
        assert_eq!(
            served,
            vec![
                (0, PieceStatus::Received { peer: 1 }),
                (1, PieceStatus::Received { peer: 2 }),
                (2, PieceStatus::Received { peer: 2 }),
            ]
        );
        assert_eq!(a.finish(), Ok(bytes));
    }

    #[test]
    fn assembler_reject_goes_elsewhere_and_peer_gone() {
        let (bytes, hash) = info(100);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 100, 1000).unwrap();
        assert_eq!(a.next_request(1, t), Some(0));
        a.on_reject(1, 0);
        assert_eq!(a.pieces().next(), Some((0, PieceStatus::Missing)));
        assert_eq!(
            a.next_request(1, t),
            None,
            "not back to the peer that rejected"
        );
        assert_eq!(a.next_request(2, t), Some(0));
        a.peer_gone(2);
        assert_eq!(a.next_request(3, t), Some(0));
        a.on_reject(1, 0); // a stray reject from someone else does not cancel peer 3's request
        assert_eq!(
            a.pieces().next(),
            Some((0, PieceStatus::Requested { peer: 3, at: t }))
        );
        a.on_reject(9, 99); // out of range: ignored
        a.on_data(3, 0, 100, &bytes).unwrap();
        assert_eq!(a.finish(), Ok(bytes));
    }

    #[test]
    fn assembler_timeout_reoffers_to_another_peer() {
        let (_, hash) = info(100);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 100, 1000).unwrap();
        assert_eq!(a.next_request(1, t), Some(0));
        assert_eq!(a.next_request(2, t + Duration::from_secs(9)), None);
        assert_eq!(
            a.next_request(1, t + Duration::from_secs(11)),
            None,
            "not to the same peer"
        );
        assert_eq!(a.next_request(2, t + Duration::from_secs(10)), Some(0));
        let mut short = MetadataAssembler::new(hash, 100, 1000)
            .unwrap()
            .with_timeout(Duration::from_secs(1));
        short.next_request(1, t);
        assert_eq!(short.next_request(2, t + Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn assembler_refuses_bad_pieces_and_sizes() {
        let (bytes, hash) = info(20_000);
        let mut a = MetadataAssembler::new(hash, 20_000, 1 << 20).unwrap();
        assert_eq!(
            a.on_data(1, 1, 20_000, &bytes[..100]),
            Err(ExtensionError::WrongPieceLength {
                piece: 1,
                expected: 3616,
                received: 100
            })
        );
        assert_eq!(
            a.on_data(1, 0, 20_001, piece(&bytes, 0)),
            Err(ExtensionError::TotalSizeMismatch {
                expected: 20_000,
                received: 20_001
            })
        );
        assert!(matches!(
            a.on_data(1, 2, 20_000, &[]),
            Err(ExtensionError::PieceOutOfRange { piece: 2, .. })
        ));
        assert_eq!(a.received(), 0);
        assert_eq!(
            a.clone().finish(),
            Err(ExtensionError::MetadataIncomplete {
                missing: 2,
                count: 2
            })
        );
        assert!(matches!(
            MetadataAssembler::new(hash, 0, 10),
            Err(ExtensionError::MetadataSize { size: 0, max: 10 })
        ));
        assert!(MetadataAssembler::new(hash, 11, 10).is_err());
        assert!(MetadataAssembler::new(hash, 10, 10).is_ok());
    }

    #[test]
    fn assembler_mixed_failure_blames_nobody_until_a_good_copy_names_the_liar() {
        // Peer 1 sends a good piece 0, peer 2 a bad piece 1: the hash cannot tell who lied.
        let (bytes, hash) = info(20_000);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 20_000, 1 << 20).unwrap();
        let mut bad = piece(&bytes, 1).to_vec();
        bad[0] ^= 1;
        a.on_data(1, 0, 20_000, piece(&bytes, 0)).unwrap();
        assert_eq!(a.check(), Check::Incomplete);
        a.on_data(2, 1, 20_000, &bad).unwrap();
        assert!(matches!(
            a.clone().finish(),
            Err(ExtensionError::MetadataHashMismatch { expected, .. }) if expected == hash
        ));
        assert_eq!(a.check(), Check::Ambiguous);
        assert_eq!(a.received(), 0, "started over");
        // One source at a time now: the first to ask (peer 1) gets every piece.
        assert_eq!(a.next_request(1, t), Some(0));
        assert_eq!(a.next_request(2, t), None, "only the source is asked");
        assert_eq!(a.next_request(1, t), Some(1));
        // Another peer's data is not mixed in.
        a.on_data(2, 0, 20_000, piece(&bytes, 0)).unwrap();
        assert_eq!(a.received(), 0);
        a.on_data(1, 0, 20_000, piece(&bytes, 0)).unwrap();
        a.on_data(1, 1, 20_000, piece(&bytes, 1)).unwrap();
        // The good copy names the sender of the bad piece, and only it.
        assert_eq!(
            a.check(),
            Check::Verified {
                raw: bytes,
                liars: vec![2]
            }
        );
    }

    #[test]
    fn assembler_single_source_failure_names_the_source_and_the_next_one_takes_over() {
        let (bytes, hash) = info(40_000);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 40_000, 1 << 20).unwrap();
        let flip = |p: u32| {
            let mut b = piece(&bytes, p).to_vec();
            b[7] ^= 0x80;
            b
        };
        // Liar 5 poisons piece 2 of a copy that honest peers 1 and 2 also served.
        a.on_data(1, 0, 40_000, piece(&bytes, 0)).unwrap();
        a.on_data(2, 1, 40_000, piece(&bytes, 1)).unwrap();
        a.on_data(5, 2, 40_000, &flip(2)).unwrap();
        assert_eq!(a.check(), Check::Ambiguous);
        // The liar is the first source: a copy from it alone convicts it.
        for p in 0..3 {
            assert_eq!(a.next_request(5, t), Some(p));
        }
        for p in 0..3 {
            a.on_data(5, p, 40_000, &flip(p)).unwrap();
        }
        assert_eq!(a.check(), Check::Liar(5));
        // Honest peer 2 is the next source; its copy verifies and names only the liar.
        assert_eq!(a.next_request(2, t), Some(0));
        assert_eq!(a.next_request(1, t), None);
        for p in 0..3 {
            a.on_data(2, p, 40_000, piece(&bytes, p)).unwrap();
        }
        assert_eq!(
            a.check(),
            Check::Verified {
                raw: bytes,
                liars: vec![5]
            }
        );
    }

    #[test]
    fn assembler_single_sender_failure_is_a_liar_at_once() {
        let (bytes, hash) = info(20_000);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 20_000, 1 << 20).unwrap();
        a.on_data(4, 0, 20_000, piece(&bytes, 0)).unwrap();
        a.on_data(4, 1, 20_000, &vec![0; 3616]).unwrap();
        assert_eq!(a.check(), Check::Liar(4));
        // No suspect was kept: any peer may serve any piece again.
        assert_eq!(a.next_request(3, t), Some(0));
        assert_eq!(a.next_request(6, t), Some(1));
        a.on_data(3, 0, 20_000, piece(&bytes, 0)).unwrap();
        a.on_data(6, 1, 20_000, piece(&bytes, 1)).unwrap();
        assert_eq!(
            a.check(),
            Check::Verified {
                raw: bytes,
                liars: vec![]
            }
        );
    }

    #[test]
    fn assembler_source_that_stalls_or_rejects_gives_way() {
        let (bytes, hash) = info(20_000);
        let t = Instant::now();
        let mut a = MetadataAssembler::new(hash, 20_000, 1 << 20).unwrap();
        a.on_data(1, 0, 20_000, piece(&bytes, 0)).unwrap();
        a.on_data(2, 1, 20_000, &vec![1; 3616]).unwrap();
        assert_eq!(a.check(), Check::Ambiguous);
        // Source 1 serves piece 0, then sits on piece 1.
        assert_eq!(a.next_request(1, t), Some(0));
        assert_eq!(a.next_request(1, t), Some(1));
        a.on_data(1, 0, 20_000, piece(&bytes, 0)).unwrap();
        assert_eq!(a.next_request(3, t + Duration::from_secs(9)), None);
        // Past the timeout peer 3 takes over and the copy starts over from it alone.
        assert_eq!(a.next_request(3, t + Duration::from_secs(10)), Some(0));
        assert_eq!(a.received(), 0);
        // Peer 3 rejects a piece: it cannot give a whole copy, peer 4 becomes the source and
        // peer 3 never again.
        a.on_reject(3, 0);
        assert_eq!(a.next_request(4, t), Some(0));
        assert_eq!(a.next_request(3, t + Duration::from_secs(60)), None);
        a.peer_gone(4);
        assert_eq!(
            a.next_request(3, t),
            None,
            "a peer that rejected never becomes the source"
        );
        assert_eq!(a.next_request(1, t), Some(0));
        assert_eq!(a.next_request(1, t), Some(1));
        a.on_data(1, 0, 20_000, piece(&bytes, 0)).unwrap();
        a.on_data(1, 1, 20_000, piece(&bytes, 1)).unwrap();
        assert_eq!(
            a.check(),
            Check::Verified {
                raw: bytes,
                liars: vec![2]
            }
        );
    }

    proptest! {
        /// Any mix of honest peers and liars, requests, answers (liars corrupt some),
        /// unsolicited pieces, rejects, departures and timeouts: the assembler only ever names
        /// liars, and what it verifies is the real info dict.
        #[test]
        fn assembler_never_blames_an_honest_peer(
            count in 1u32..5,
            liars in proptest::collection::btree_set(0u64..5, 0..5),
            ops in proptest::collection::vec((0u64..5, 0u8..5, 0u32..5, any::<bool>()), 1..400),
        ) {
            let size = count * METADATA_PIECE_SIZE as u32 - 77;
            let (bytes, hash) = info(size as usize);
            let mut a = MetadataAssembler::new(hash, size, 1 << 20).unwrap().with_timeout(Duration::from_secs(2));
            let mut t = Instant::now();
            let mut asked: Vec<(u64, u32)> = Vec::new();
            for (peer, action, p, corrupt) in ops {
                t += Duration::from_millis(500);
                match action {
                    0 | 1 => {
                        if let Some(got) = a.next_request(peer, t) {
                            asked.push((peer, got));
                        }
                    }
                    2 => {
                        // answer the peer's oldest request, or send an unsolicited piece
                        let piece_ix = match asked.iter().position(|(q, _)| *q == peer) {
                            Some(i) => asked.remove(i).1,
                            None => p % count,
                        };
                        let mut data = piece(&bytes, piece_ix).to_vec();
                        if corrupt && liars.contains(&peer) {
                            data[0] ^= 1;
                        }
                        prop_assert_eq!(a.on_data(peer, piece_ix, size, &data), Ok(()));
                    }
                    3 => {
                        if let Some(i) = asked.iter().position(|(q, _)| *q == peer) {
                            a.on_reject(peer, asked.remove(i).1);
                        }
                    }
                    _ => {
                        asked.retain(|(q, _)| *q != peer);
                        a.peer_gone(peer);
                    }
                }
                match a.check() {
                    Check::Incomplete | Check::Ambiguous => {}
                    Check::Liar(k) => prop_assert!(liars.contains(&k), "honest peer {} named", k),
                    Check::Verified { raw, liars: named } => {
                        prop_assert_eq!(&raw, &bytes);
                        prop_assert!(named.iter().all(|k| liars.contains(k)), "named {:?}, liars {:?}", named, liars);
                        break;
                    }
                }
            }
        }

        #[test]
        fn metadata_request_and_reject_round_trip(piece in any::<u32>(), reject in any::<bool>()) {
            let m = if reject { MetadataMessage::Reject { piece } } else { MetadataMessage::Request { piece } };
            prop_assert_eq!(MetadataMessage::decode(&m.encode()), Ok(m));
        }

        #[test]
        fn metadata_round_trip(total in 1..=100_000u32, pick in any::<proptest::sample::Index>()) {
            let piece = pick.index(metadata_piece_count(total) as usize) as u32;
            let len = metadata_piece_len(total, piece).unwrap() as usize;
            let m = MetadataMessage::Data { piece, total_size: total, data: Bytes::from(vec![9; len]) };
            let bytes = Bytes::from(m.encode());
            prop_assert_eq!(MetadataMessage::decode(&bytes), Ok(m));
            for cut in 0..bytes.len() {
                prop_assert!(MetadataMessage::decode_bytes(&bytes.slice(..cut)).is_err());
            }
        }
    }
}
