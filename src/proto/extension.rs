//! The extension protocol (BEP 10) and the two extensions carried on it: metadata exchange
//! `ut_metadata` (BEP 9) and peer exchange `ut_pex` (BEP 11).
//!
//! # Role
//!
//! Payloads of [`Message::Extended`](crate::proto::message::Message::Extended) in, typed values
//! out, and back. The framing (`<len><20><extended id><payload>`) belongs to `message.rs`; every
//! `decode` here takes the payload *after* the extended-id byte and every `encode` returns it.
//! Because a whole message has already been framed, "incomplete" is an error here
//! ([`ExtensionError::Truncated`]) rather than `Ok(None)`.
//!
//! # Ids (BEP 10, "handshake message")
//!
//! Extended id 0 is the [`ExtensionHandshake`]. In it each side lists, under `m`, the id it wants
//! to *receive* each extension on. So a peer sends us `ut_metadata` with [`OUR_UT_METADATA_ID`]
//! and we send to it with the id from *its* `m` ([`ExtensionHandshake::id_of`]). Id 0 in `m`
//! means "disabled"; a later handshake may update only some entries ([`ExtensionHandshake::merge`]).
//!
//! # Tolerance
//!
//! The payload must be one canonical bencoded dict (the crate's bencode decoder is strict, so a
//! client that sends unsorted keys is refused; libtorrent, qBittorrent, Transmission and aria2
//! all sort). Inside it we are lenient: unknown keys are kept in [`ExtensionHandshake::other`],
//! a known optional key with the wrong type or an out-of-range value is moved there too rather
//! than failing, and `m` entries that are not UTF-8 or not in `0..=255` are dropped.
//!
//! # ut_metadata (BEP 9)
//!
//! The info dict is split in [`METADATA_PIECE_SIZE`] pieces; every piece but the last is full.
//! [`MetadataMessage::decode`] checks a `data` message against its own `total_size` (piece in
//! range, exactly the piece's length, never over 16 KiB), so a truncated message is an error.
//! [`MetadataAssembler`] is the pure state machine of a download: which piece to ask whom, when
//! a request has timed out ([`METADATA_REQUEST_TIMEOUT`]), and the SHA-1 check at the end.
//!
//! # ut_pex (BEP 11)
//!
//! [`PexMessage`] merges IPv4 (`added`, 6-byte compact) and IPv6 (`added6`, 18-byte compact)
//! entries into one list of [`SocketAddr`]. Decoding is strict about compact lengths and refuses
//! (does not truncate) a message with more than [`PEX_MAX_DECODE`] added or dropped peers.
//! [`PexState`] computes what to send one peer: the diff since the last message, at most
//! [`PEX_MAX_PER_MESSAGE`] added and dropped, and at most one message per [`PEX_INTERVAL`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::proto::bencode::{self, BencodeError, Value};
use crate::proto::id::InfoHash;

/// Extended message id of the extension handshake (BEP 10).
pub const EXTENSION_HANDSHAKE_ID: u8 = 0;
/// BEP 9 metadata exchange.
pub const UT_METADATA: &str = "ut_metadata";
/// BEP 11 peer exchange.
pub const UT_PEX: &str = "ut_pex";
/// The id we ask peers to use when sending us `ut_metadata`.
pub const OUR_UT_METADATA_ID: u8 = 1;
/// The id we ask peers to use when sending us `ut_pex`.
pub const OUR_UT_PEX_ID: u8 = 2;

/// Size of every metadata piece but the last (BEP 9).
pub const METADATA_PIECE_SIZE: usize = 16384;
/// How long a metadata request may stay unanswered before the piece is offered to another peer.
pub const METADATA_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// At most one PEX message per peer per this interval (BEP 11).
pub const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// Most added (and most dropped) peers [`PexState`] puts in one message (BEP 11).
pub const PEX_MAX_PER_MESSAGE: usize = 50;
/// Most added (and most dropped) peers [`PexMessage::decode`] accepts; more is an error.
pub const PEX_MAX_DECODE: usize = 200;

/// Why an extension payload or a metadata download is invalid. Every variant is about one peer
/// or one attempt and is recoverable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// The payload is not valid bencode.
    #[error("invalid bencode in extension payload: {0}")]
    Bencode(#[from] BencodeError),
    /// The payload ends inside its bencoded dict.
    #[error("extension payload truncated: {len} bytes end inside the bencoded dict")]
    Truncated { len: usize },
    /// The payload's bencoded value is not a dict.
    #[error("{msg}: payload is not a bencoded dict")]
    NotADict { msg: &'static str },
    /// A required key is absent or has the wrong type / range.
    #[error("{msg}: missing or invalid {key:?}")]
    BadField {
        msg: &'static str,
        key: &'static str,
    },
    /// Bytes after the dict of a message that carries none.
    #[error("{msg}: {extra} unexpected bytes after the dict")]
    TrailingData { msg: &'static str, extra: usize },
    /// A `ut_metadata` `msg_type` other than 0, 1, 2.
    #[error("ut_metadata: unknown msg_type {0}")]
    UnknownMetadataMsgType(i64),
    /// `total_size` is 0 or over the caller's cap.
    #[error("metadata size {size} bytes is outside 1..={max}")]
    MetadataSize { size: u64, max: u32 },
    /// A metadata piece index past the end.
    #[error(
        "metadata piece {piece} out of range: metadata of {total_size} bytes has {count} pieces"
    )]
    PieceOutOfRange {
        piece: u32,
        total_size: u32,
        count: u32,
    },
    /// A metadata piece of the wrong length.
    #[error("metadata piece {piece}: expected {expected} bytes, received {received}")]
    WrongPieceLength {
        piece: u32,
        expected: u32,
        received: usize,
    },
    /// A `data` message whose `total_size` disagrees with the one we are assembling.
    #[error("metadata total_size {received} differs from the expected {expected}")]
    TotalSizeMismatch { expected: u32, received: u32 },
    /// [`MetadataAssembler::finish`] before every piece arrived.
    #[error("metadata incomplete: {missing} of {count} pieces missing")]
    MetadataIncomplete { missing: u32, count: u32 },
    /// The assembled metadata does not hash to the info hash: start over.
    #[error("metadata hash mismatch: expected {expected}, got {actual}")]
    MetadataHashMismatch {
        expected: InfoHash,
        actual: InfoHash,
    },
    /// A PEX compact field whose length is not a multiple of its entry size.
    #[error("ut_pex: {key:?} is {len} bytes, not a multiple of {unit}")]
    PexCompactLength {
        key: &'static str,
        len: usize,
        unit: usize,
    },
    /// A PEX message with more entries than [`PEX_MAX_DECODE`].
    #[error("ut_pex: {count} {what} peers in one message, limit {max}")]
    PexTooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
}

/// Decode `payload` as exactly one bencoded dict.
fn decode_dict(
    payload: &[u8],
    msg: &'static str,
) -> Result<BTreeMap<Vec<u8>, Value>, ExtensionError> {
    match bencode::decode_prefix(payload)? {
        None => Err(ExtensionError::Truncated { len: payload.len() }),
        Some((_, n)) if n != payload.len() => Err(ExtensionError::TrailingData {
            msg,
            extra: payload.len() - n,
        }),
        Some((Value::Dict(d), _)) => Ok(d),
        Some(_) => Err(ExtensionError::NotADict { msg }),
    }
}

fn int_in<T: TryFrom<i64>>(v: &Value) -> Option<T> {
    v.as_int().and_then(|i| T::try_from(i).ok())
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(a))
    } else if let Ok(a) = <[u8; 16]>::try_from(b) {
        Some(IpAddr::from(a))
    } else {
        None
    }
}

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

// ---------------------------------------------------------------------------------------------
// BEP 10 handshake

/// The extension handshake (extended id 0, BEP 10). Every field is optional on the wire.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ExtensionHandshake {
    /// `m`: extension name -> the id the sender wants to receive it on; 0 = disabled.
    pub m: BTreeMap<String, u8>,
    /// `v`: client name and version, e.g. `"libtorrent 2.0.8"`.
    pub v: Option<String>,
    /// `p`: the sender's listen (TCP) port.
    pub p: Option<u16>,
    /// `reqq`: how many outstanding requests the sender queues.
    pub reqq: Option<u32>,
    /// `yourip`: our address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<IpAddr>,
    /// `metadata_size`: size of the info dict in bytes (BEP 9); only values > 0 are kept.
    /// Untrusted: the caller caps it before allocating.
    pub metadata_size: Option<u32>,
    /// `upload_only` (BEP 21): the sender is a seed / partial seed and will not download.
    pub upload_only: Option<bool>,
    /// `ipv4`: the sender's own IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// `ipv6`: the sender's own IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Every other key (and any known key with a wrong type), kept for display and re-encoding.
    pub other: BTreeMap<Vec<u8>, Value>,
}

impl ExtensionHandshake {
    /// Our handshake: `ut_metadata` and `ut_pex` on our ids, and `v`. The caller adds `p`,
    /// `reqq`, `yourip` and (when it has the info dict) `metadata_size`.
    pub fn ours(client: &str) -> ExtensionHandshake {
        ExtensionHandshake {
            m: BTreeMap::from([
                (UT_METADATA.to_owned(), OUR_UT_METADATA_ID),
                (UT_PEX.to_owned(), OUR_UT_PEX_ID),
            ]),
            v: Some(client.to_owned()),
            ..ExtensionHandshake::default()
        }
    }

    /// The id to use when sending extension `name` to this peer; `None` if absent or disabled.
    pub fn id_of(&self, name: &str) -> Option<u8> {
        self.m.get(name).copied().filter(|&id| id != 0)
    }

    /// Apply a later handshake from the same peer (BEP 10: it may carry only the changes).
    /// `m` entries are merged (id 0 disables), other present fields replace.
    pub fn merge(&mut self, later: ExtensionHandshake) {
        self.m.extend(later.m);
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(v, p, reqq, yourip, metadata_size, upload_only, ipv4, ipv6);
        self.other.extend(later.other);
    }

    /// The bencoded payload (without the extended-id byte).
    pub fn encode(&self) -> Vec<u8> {
        let mut d = self.other.clone();
        if !self.m.is_empty() {
            let m = self
                .m
                .iter()
                .map(|(k, id)| (k.as_bytes().to_vec(), Value::Int(i64::from(*id))))
                .collect();
            d.insert(b"m".to_vec(), Value::Dict(m));
        }
        let mut put = |k: &[u8], v: Option<Value>| {
            if let Some(v) = v {
                d.insert(k.to_vec(), v);
            }
        };
        put(
            b"v",
            self.v.as_ref().map(|s| Value::Bytes(s.as_bytes().to_vec())),
        );
        put(b"p", self.p.map(|p| Value::Int(p.into())));
        put(b"reqq", self.reqq.map(|r| Value::Int(r.into())));
        put(
            b"yourip",
            self.yourip.as_ref().map(|ip| Value::Bytes(ip_bytes(ip))),
        );
        put(
            b"metadata_size",
            self.metadata_size.map(|s| Value::Int(s.into())),
        );
        put(
            b"upload_only",
            self.upload_only.map(|u| Value::Int(u.into())),
        );
        put(
            b"ipv4",
            self.ipv4.map(|a| Value::Bytes(a.octets().to_vec())),
        );
        put(
            b"ipv6",
            self.ipv6.map(|a| Value::Bytes(a.octets().to_vec())),
        );
        bencode::encode(&Value::Dict(d))
    }

    /// Decode a handshake payload (lenient inside the dict, see the module doc).
    pub fn decode(payload: &[u8]) -> Result<ExtensionHandshake, ExtensionError> {
        let dict = decode_dict(payload, "extension handshake")?;
        let mut h = ExtensionHandshake::default();
        for (key, value) in dict {
            // `true` = understood; otherwise the pair is kept in `other`.
            let understood = match key.as_slice() {
                b"m" => match value.as_dict() {
                    Some(m) => {
                        for (name, id) in m {
                            if let (Ok(name), Some(id)) =
                                (std::str::from_utf8(name), int_in::<u8>(id))
                            {
                                h.m.insert(name.to_owned(), id);
                            }
                        }
                        true
                    }
                    None => false,
                },
                b"v" => value.as_str().map(|s| h.v = Some(s.to_owned())).is_some(),
                b"p" => int_in::<u16>(&value).map(|p| h.p = Some(p)).is_some(),
                b"reqq" => int_in::<u32>(&value).map(|r| h.reqq = Some(r)).is_some(),
                b"yourip" => value
                    .as_bytes()
                    .and_then(ip_from_bytes)
                    .map(|ip| h.yourip = Some(ip))
                    .is_some(),
                b"metadata_size" => int_in::<u32>(&value)
                    .filter(|&s| s > 0)
                    .map(|s| h.metadata_size = Some(s))
                    .is_some(),
                b"upload_only" => value
                    .as_int()
                    .map(|u| h.upload_only = Some(u != 0))
                    .is_some(),
                b"ipv4" => value
                    .as_bytes()
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(|a| h.ipv4 = Some(a.into()))
                    .is_some(),
                b"ipv6" => value
                    .as_bytes()
                    .and_then(|b| <[u8; 16]>::try_from(b).ok())
                    .map(|a| h.ipv6 = Some(a.into()))
                    .is_some(),
                _ => false,
            };
            if !understood {
                h.other.insert(key, value);
            }
        }
        Ok(h)
    }
}

// ---------------------------------------------------------------------------------------------
// BEP 9 ut_metadata

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

// ---------------------------------------------------------------------------------------------
// BEP 11 ut_pex

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
    use proptest::prelude::*;

    const LIBTORRENT_HS: &[u8] = b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei132e1:pi6881e4:reqqi500e1:v16:libtorrent 2.0.86:yourip4:\x7f\x00\x00\x01e";

    #[test]
    fn our_handshake_golden() {
        let h = ExtensionHandshake::ours("fast-peer 0.1.0");
        assert_eq!(
            h.encode(),
            b"d1:md11:ut_metadatai1e6:ut_pexi2ee1:v15:fast-peer 0.1.0e".to_vec()
        );
        let mut full = h.clone();
        full.p = Some(6881);
        full.reqq = Some(250);
        full.metadata_size = Some(132);
        full.yourip = Some(IpAddr::from([10, 0, 0, 2]));
        let bytes = full.encode();
        assert_eq!(
            bytes,
            b"d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei132e1:pi6881e4:reqqi250e\
              1:v15:fast-peer 0.1.06:yourip4:\x0a\x00\x00\x02e"
                .to_vec()
        );
        assert_eq!(ExtensionHandshake::decode(&bytes), Ok(full));
    }

    #[test]
    fn libtorrent_handshake() {
        let h = ExtensionHandshake::decode(LIBTORRENT_HS).unwrap();
        assert_eq!(h.id_of(UT_METADATA), Some(2));
        assert_eq!(h.id_of(UT_PEX), Some(1));
        assert_eq!(h.metadata_size, Some(132));
        assert_eq!(h.p, Some(6881));
        assert_eq!(h.reqq, Some(500));
        assert_eq!(h.v.as_deref(), Some("libtorrent 2.0.8"));
        assert_eq!(h.yourip, Some(IpAddr::from([127, 0, 0, 1])));
        assert!(h.other.is_empty());
        assert_eq!(h.encode(), LIBTORRENT_HS.to_vec());
        // The same bytes as written in the issue (`17:` swallows the `e`): still one valid dict.
        let issue = b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei132e1:pi6881e4:reqqi500e1:v17:libtorrent 2.0.8e6:yourip4:\x7f\x00\x00\x01e";
        let h2 = ExtensionHandshake::decode(issue).unwrap();
        assert_eq!(h2.v.as_deref(), Some("libtorrent 2.0.8e"));
        assert_eq!((h2.yourip, h2.metadata_size), (h.yourip, h.metadata_size));
    }

    #[test]
    fn handshake_is_lenient_inside_the_dict() {
        // m: a disabled entry, an out-of-range id, a negative id, a non-int id;
        // p out of range, metadata_size 0, yourip of 5 bytes, unknown keys, ipv6 + upload_only.
        let mut d = BTreeMap::new();
        let m: BTreeMap<Vec<u8>, Value> = [
            (b"lt_donthave".to_vec(), Value::Int(0)),
            (b"ut_metadata".to_vec(), Value::Int(300)),
            (b"ut_pex".to_vec(), Value::Int(-1)),
            (b"x".to_vec(), Value::Bytes(b"3".to_vec())),
            (b"ut_holepunch".to_vec(), Value::Int(4)),
        ]
        .into();
        d.insert(b"m".to_vec(), Value::Dict(m));
        d.insert(b"p".to_vec(), Value::Int(70000));
        d.insert(b"metadata_size".to_vec(), Value::Int(0));
        d.insert(b"yourip".to_vec(), Value::Bytes(vec![1, 2, 3, 4, 5]));
        d.insert(b"e".to_vec(), Value::Int(1));
        d.insert(b"upload_only".to_vec(), Value::Int(1));
        d.insert(b"ipv6".to_vec(), Value::Bytes(vec![0; 16]));
        d.insert(b"complete_ago".to_vec(), Value::Int(-1));
        let bytes = bencode::encode(&Value::Dict(d));
        let h = ExtensionHandshake::decode(&bytes).unwrap();
        assert_eq!(
            h.m,
            BTreeMap::from([("lt_donthave".into(), 0), ("ut_holepunch".into(), 4)])
        );
        assert_eq!(h.id_of("lt_donthave"), None);
        assert_eq!(h.id_of(UT_METADATA), None);
        assert_eq!((h.p, h.metadata_size, h.yourip), (None, None, None));
        assert_eq!(h.upload_only, Some(true));
        assert_eq!(h.ipv6, Some(Ipv6Addr::UNSPECIFIED));
        let other: Vec<&[u8]> = h.other.keys().map(Vec::as_slice).collect();
        assert_eq!(
            other,
            vec![
                &b"complete_ago"[..],
                b"e",
                b"metadata_size",
                b"p",
                b"yourip"
            ]
        );
        // Wrongly typed fields kept in `other` survive re-encoding.
        assert_eq!(ExtensionHandshake::decode(&h.encode()), Ok(h));
        // But the payload must be a dict, complete, and alone.
        assert_eq!(
            ExtensionHandshake::decode(b"li1ee"),
            Err(ExtensionError::NotADict {
                msg: "extension handshake"
            })
        );
        assert_eq!(
            ExtensionHandshake::decode(b"d1:pi1e"),
            Err(ExtensionError::Truncated { len: 7 })
        );
        assert!(ExtensionHandshake::decode(b"").is_err());
        // bytes after the dict are refused; keys may come in any order (as in libtorrent)
        assert!(ExtensionHandshake::decode(b"dex").is_err());
        assert_eq!(
            ExtensionHandshake::decode(b"d1:pi1e1:ai1ee").map(|h| h.p),
            Ok(Some(1))
        );
    }

    #[test]
    fn handshake_merge() {
        let mut h = ExtensionHandshake::decode(LIBTORRENT_HS).unwrap();
        let later = ExtensionHandshake::decode(b"d1:md6:ut_pexi0eee").unwrap();
        h.merge(later);
        assert_eq!(h.id_of(UT_PEX), None);
        assert_eq!(h.id_of(UT_METADATA), Some(2));
        assert_eq!(h.p, Some(6881));
    }

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

    fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

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

    fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::from((Ipv6Addr::from(ip), p))),
        ]
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
        fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = ExtensionHandshake::decode(&bytes);
            let _ = MetadataMessage::decode(&bytes);
            let _ = PexMessage::decode(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(
            which in 0..4usize,
            idx in any::<proptest::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut b = match which {
                0 => LIBTORRENT_HS.to_vec(),
                1 => b"d8:msg_typei1e5:piecei0e10:total_sizei3ee\x01\x02\x03".to_vec(),
                2 => b"d8:msg_typei2e5:piecei0ee".to_vec(),
                _ => PexMessage { added: vec![v4("1.2.3.4:5")], added_flags: vec![2],
                                  dropped: vec![v4("[::2]:7")] }.encode(),
            };
            let i = idx.index(b.len());
            b[i] = byte;
            let _ = ExtensionHandshake::decode(&b);
            let _ = MetadataMessage::decode(&b);
            let _ = PexMessage::decode(&b);
        }

        #[test]
        fn handshake_round_trip(
            m in proptest::collection::btree_map("[a-z_]{1,12}", any::<u8>(), 0..5),
            v in proptest::option::of(".{0,20}"),
            p in proptest::option::of(any::<u16>()),
            reqq in proptest::option::of(any::<u32>()),
            yourip in proptest::option::of(arb_addr().prop_map(|a| a.ip())),
            metadata_size in proptest::option::of(1..=u32::MAX),
            upload_only in proptest::option::of(any::<bool>()),
            ipv4 in proptest::option::of(any::<[u8; 4]>().prop_map(Ipv4Addr::from)),
            ipv6 in proptest::option::of(any::<[u8; 16]>().prop_map(Ipv6Addr::from)),
        ) {
            let h = ExtensionHandshake { m, v, p, reqq, yourip, metadata_size, upload_only,
                                         ipv4, ipv6, other: BTreeMap::new() };
            prop_assert_eq!(ExtensionHandshake::decode(&h.encode()), Ok(h));
        }

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
