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
//! # Layout
//!
//! - `handshake.rs`: the extension handshake (BEP 10), [`ExtensionHandshake`], and the extension
//!   names and ids we announce in it ([`UT_METADATA`], [`OUR_UT_METADATA_ID`], ...).
//! - `metadata.rs`: metadata exchange (BEP 9), [`MetadataMessage`] and the download state
//!   machine [`MetadataAssembler`].
//! - `pex.rs`: peer exchange (BEP 11), [`PexMessage`] and the per-peer sender [`PexState`].
//! - this file: [`ExtensionError`] and the decoding helpers the three share. Every public item
//!   of the children is re-exported here, so it is named `crate::proto::extension::X`.
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

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::proto::bencode::{self, BencodeError, Value};
use crate::proto::id::InfoHash;

mod handshake;
mod metadata;
mod pex;

pub use handshake::{
    EXTENSION_HANDSHAKE_ID, ExtensionHandshake, OUR_UT_METADATA_ID, OUR_UT_PEX_ID, UT_METADATA,
    UT_PEX,
};
pub use metadata::{
    Check, METADATA_DATA, METADATA_PIECE_SIZE, METADATA_REJECT, METADATA_REQUEST,
    METADATA_REQUEST_TIMEOUT, MetadataAssembler, MetadataMessage, PieceStatus,
    metadata_piece_count, metadata_piece_len,
};
pub use pex::{PEX_INTERVAL, PEX_MAX_DECODE, PEX_MAX_PER_MESSAGE, PexMessage, PexState, pex_flags};

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

#[cfg(test)]
mod tests {
    //! Fixtures shared by the children's tests, and properties of all three decoders at once.

    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv6Addr, SocketAddr};

    pub(super) const LIBTORRENT_HS: &[u8] = b"d1:md11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei132e1:pi6881e4:reqqi500e1:v16:libtorrent 2.0.86:yourip4:\x7f\x00\x00\x01e";

    pub(super) fn v4(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    pub(super) fn arb_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
            (any::<[u8; 16]>(), any::<u16>())
                .prop_map(|(ip, p)| SocketAddr::from((Ipv6Addr::from(ip), p))),
        ]
    }

    proptest! {
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
    }
}
