//! Peer wire messages after the handshake: BEP 3 (`choke` .. `port`), BEP 6 Fast extension
//! (`suggest`, `have all`, `have none`, `reject`, `allowed fast`) and the BEP 10 `extended`
//! envelope. Every message is `<length:u32 BE><id:u8><payload>`; length 0 is a keep-alive.
//!
//! Decoding is strict: each id has an exact payload length (or a bounded one), and a length
//! prefix above the caller's limit is an error before a single payload byte is buffered, so a
//! peer announcing a 4 GiB message is dropped rather than obeyed.

use bytes::Bytes;

pub const CHOKE: u8 = 0;
pub const UNCHOKE: u8 = 1;
pub const INTERESTED: u8 = 2;
pub const NOT_INTERESTED: u8 = 3;
pub const HAVE: u8 = 4;
pub const BITFIELD: u8 = 5;
pub const REQUEST: u8 = 6;
pub const PIECE: u8 = 7;
pub const CANCEL: u8 = 8;
pub const PORT: u8 = 9;
pub const SUGGEST: u8 = 0x0d;
pub const HAVE_ALL: u8 = 0x0e;
pub const HAVE_NONE: u8 = 0x0f;
pub const REJECT: u8 = 0x10;
pub const ALLOWED_FAST: u8 = 0x11;
pub const EXTENDED: u8 = 20;

/// The block size every client requests (BEP 3 recommends 2^14).
pub const BLOCK_SIZE: u32 = 16 * 1024;
/// Largest block we serve; larger requests get the peer dropped (as libtorrent does).
pub const MAX_REQUEST_LEN: u32 = 128 * 1024;

/// Default cap on a message length: a 128 KiB block plus room for a large extended message.
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 1024 * 1024;

/// Why bytes from a peer are not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("not a BitTorrent handshake")]
    BadHandshake,
    #[error("message length {len} exceeds the limit of {max} bytes")]
    TooLong { len: u32, max: u32 },
    #[error("message id {id} has payload length {len}, expected {expected}")]
    BadLength {
        id: u8,
        len: u32,
        expected: &'static str,
    },
    #[error("unknown message id {0}")]
    UnknownId(u8),
}

/// Block coordinates inside a piece, as in `request`, `cancel` and `reject`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct BlockRef {
    pub index: u32,
    pub begin: u32,
    pub length: u32,
}

#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have {
        index: u32,
    },
    Bitfield(Bytes),
    Request(BlockRef),
    Piece {
        index: u32,
        begin: u32,
        block: Bytes,
    },
    Cancel(BlockRef),
    Port(u16),
    Suggest {
        index: u32,
    },
    HaveAll,
    HaveNone,
    Reject(BlockRef),
    AllowedFast {
        index: u32,
    },
    Extended {
        id: u8,
        payload: Bytes,
    },
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Message::Bitfield(b) => write!(f, "Bitfield({} bytes)", b.len()),
            Message::Piece {
                index,
                begin,
                block,
            } => {
                write!(
                    f,
                    "Piece {{ index: {index}, begin: {begin}, len: {} }}",
                    block.len()
                )
            }
            Message::Extended { id, payload } => {
                write!(f, "Extended {{ id: {id}, len: {} }}", payload.len())
            }
            Message::KeepAlive => f.write_str("KeepAlive"),
            Message::Choke => f.write_str("Choke"),
            Message::Unchoke => f.write_str("Unchoke"),
            Message::Interested => f.write_str("Interested"),
            Message::NotInterested => f.write_str("NotInterested"),
            Message::Have { index } => write!(f, "Have({index})"),
            Message::Request(b) => write!(f, "Request({}, {}, {})", b.index, b.begin, b.length),
            Message::Cancel(b) => write!(f, "Cancel({}, {}, {})", b.index, b.begin, b.length),
            Message::Reject(b) => write!(f, "Reject({}, {}, {})", b.index, b.begin, b.length),
            Message::Port(p) => write!(f, "Port({p})"),
            Message::Suggest { index } => write!(f, "Suggest({index})"),
            Message::HaveAll => f.write_str("HaveAll"),
            Message::HaveNone => f.write_str("HaveNone"),
            Message::AllowedFast { index } => write!(f, "AllowedFast({index})"),
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Message {
    /// Every name [`Message::name`] gives.
    pub const NAMES: [&'static str; 17] = [
        "keep-alive",
        "choke",
        "unchoke",
        "interested",
        "not interested",
        "have",
        "bitfield",
        "request",
        "piece",
        "cancel",
        "port",
        "suggest",
        "have all",
        "have none",
        "reject",
        "allowed fast",
        "extended",
    ];

    /// The short BEP name, for logs and the dashboard.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have { .. } => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece { .. } => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest { .. } => "suggest",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::Reject(_) => "reject",
            Message::AllowedFast { .. } => "allowed fast",
            Message::Extended { .. } => "extended",
        }
    }

    /// Decode one message from the start of `buf`. `Ok(None)`: more bytes needed;
    /// `usize`: bytes consumed. Lengths above `max_len` are refused up front.
    pub fn decode(buf: &[u8], max_len: u32) -> Result<Option<(Message, usize)>, WireError> {
        if buf.len() < 4 {
            return Ok(None);
        }
        let len = be32(buf);
        if len > max_len {
            return Err(WireError::TooLong { len, max: max_len });
        }
        if len == 0 {
            return Ok(Some((Message::KeepAlive, 4)));
        }
        let total = 4 + len as usize;
        if buf.len() < total {
            return Ok(None);
        }
        let id = buf[4];
        let p = &buf[5..total];
        let exact = |n: usize, expected: &'static str| {
            if p.len() == n {
                Ok(())
            } else {
                Err(WireError::BadLength {
                    id,
                    len: p.len() as u32,
                    expected,
                })
            }
        };
        let block_ref = |p: &[u8]| BlockRef {
            index: be32(p),
            begin: be32(&p[4..]),
            length: be32(&p[8..]),
        };
        let msg = match id {
            CHOKE => exact(0, "0").map(|_| Message::Choke)?,
            UNCHOKE => exact(0, "0").map(|_| Message::Unchoke)?,
            INTERESTED => exact(0, "0").map(|_| Message::Interested)?,
            NOT_INTERESTED => exact(0, "0").map(|_| Message::NotInterested)?,
            HAVE => exact(4, "4").map(|_| Message::Have { index: be32(p) })?,
            BITFIELD => Message::Bitfield(Bytes::copy_from_slice(p)),
            REQUEST => exact(12, "12").map(|_| Message::Request(block_ref(p)))?,
            PIECE => {
                if p.len() < 8 {
                    return Err(WireError::BadLength {
                        id,
                        len: p.len() as u32,
                        expected: "at least 8",
                    });
                }
                Message::Piece {
                    index: be32(p),
                    begin: be32(&p[4..]),
                    block: Bytes::copy_from_slice(&p[8..]),
                }
            }
            CANCEL => exact(12, "12").map(|_| Message::Cancel(block_ref(p)))?,
            PORT => exact(2, "2").map(|_| Message::Port(u16::from_be_bytes([p[0], p[1]])))?,
            SUGGEST => exact(4, "4").map(|_| Message::Suggest { index: be32(p) })?,
            HAVE_ALL => exact(0, "0").map(|_| Message::HaveAll)?,
            HAVE_NONE => exact(0, "0").map(|_| Message::HaveNone)?,
            REJECT => exact(12, "12").map(|_| Message::Reject(block_ref(p)))?,
            ALLOWED_FAST => exact(4, "4").map(|_| Message::AllowedFast { index: be32(p) })?,
            EXTENDED => {
                if p.is_empty() {
                    return Err(WireError::BadLength {
                        id,
                        len: 0,
                        expected: "at least 1",
                    });
                }
                Message::Extended {
                    id: p[0],
                    payload: Bytes::copy_from_slice(&p[1..]),
                }
            }
            other => return Err(WireError::UnknownId(other)),
        };
        Ok(Some((msg, total)))
    }

    /// Append the wire form of this message to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put_u32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_be_bytes());
        let header = |out: &mut Vec<u8>, payload_len: usize, id: u8| {
            out.extend_from_slice(&(payload_len as u32 + 1).to_be_bytes());
            out.push(id);
        };
        match self {
            Message::KeepAlive => put_u32(out, 0),
            Message::Choke => header(out, 0, CHOKE),
            Message::Unchoke => header(out, 0, UNCHOKE),
            Message::Interested => header(out, 0, INTERESTED),
            Message::NotInterested => header(out, 0, NOT_INTERESTED),
            Message::HaveAll => header(out, 0, HAVE_ALL),
            Message::HaveNone => header(out, 0, HAVE_NONE),
            Message::Have { index } => {
                header(out, 4, HAVE);
                put_u32(out, *index);
            }
            Message::Suggest { index } => {
                header(out, 4, SUGGEST);
                put_u32(out, *index);
            }
            Message::AllowedFast { index } => {
                header(out, 4, ALLOWED_FAST);
                put_u32(out, *index);
            }
            Message::Bitfield(b) => {
                header(out, b.len(), BITFIELD);
                out.extend_from_slice(b);
            }
            Message::Request(r) | Message::Cancel(r) | Message::Reject(r) => {
                let id = match self {
                    Message::Request(_) => REQUEST,
                    Message::Cancel(_) => CANCEL,
                    _ => REJECT,
                };
                header(out, 12, id);
                put_u32(out, r.index);
                put_u32(out, r.begin);
                put_u32(out, r.length);
            }
            Message::Piece {
                index,
                begin,
                block,
            } => {
                header(out, 8 + block.len(), PIECE);
                put_u32(out, *index);
                put_u32(out, *begin);
                out.extend_from_slice(block);
            }
            Message::Port(p) => {
                header(out, 2, PORT);
                out.extend_from_slice(&p.to_be_bytes());
            }
            Message::Extended { id, payload } => {
                header(out, 1 + payload.len(), EXTENDED);
                out.push(*id);
                out.extend_from_slice(payload);
            }
        }
    }

    /// The wire form as a fresh buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

/// The BEP 6 allowed-fast set: `k` pieces a peer at `ip` may request from us while choked,
/// derived from its /24 network and the info hash so every client computes the same set.
pub fn allowed_fast_set(
    ip: std::net::Ipv4Addr,
    info_hash: &crate::proto::id::InfoHash,
    piece_count: u32,
    k: usize,
) -> Vec<u32> {
    use sha1::{Digest, Sha1};
    let mut set = Vec::new();
    if piece_count == 0 {
        return set;
    }
    let k = k.min(piece_count as usize);
    let mut x: Vec<u8> = (u32::from(ip) & 0xffff_ff00).to_be_bytes().to_vec();
    x.extend_from_slice(&info_hash.0);
    while set.len() < k {
        x = Sha1::digest(&x).to_vec();
        for i in 0..5 {
            if set.len() >= k {
                break;
            }
            let y = u32::from_be_bytes([x[i * 4], x[i * 4 + 1], x[i * 4 + 2], x[i * 4 + 3]]);
            let index = y % piece_count;
            if !set.contains(&index) {
                set.push(index);
            }
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn all_samples() -> Vec<Message> {
        let r = BlockRef {
            index: 1,
            begin: 16384,
            length: 16384,
        };
        vec![
            Message::KeepAlive,
            Message::Choke,
            Message::Unchoke,
            Message::Interested,
            Message::NotInterested,
            Message::Have { index: 7 },
            Message::Bitfield(Bytes::from_static(&[0xe0, 0x01])),
            Message::Request(r),
            Message::Piece {
                index: 2,
                begin: 0,
                block: Bytes::from_static(b"hello"),
            },
            Message::Cancel(r),
            Message::Port(6881),
            Message::Suggest { index: 3 },
            Message::HaveAll,
            Message::HaveNone,
            Message::Reject(r),
            Message::AllowedFast { index: 9 },
            Message::Extended {
                id: 0,
                payload: Bytes::from_static(b"d1:md11:ut_metadatai1eee"),
            },
        ]
    }

    #[test]
    fn allowed_fast_set_matches_the_bep_6_example() {
        let ip = std::net::Ipv4Addr::new(80, 4, 4, 200);
        let hash = crate::proto::id::InfoHash([0xaa; 20]);
        assert_eq!(
            allowed_fast_set(ip, &hash, 1313, 7),
            vec![1059, 431, 808, 1217, 287, 376, 1188]
        );
        assert_eq!(
            allowed_fast_set(ip, &hash, 1313, 9),
            vec![1059, 431, 808, 1217, 287, 376, 1188, 353, 508]
        );
        assert_eq!(
            allowed_fast_set(ip, &hash, 3, 10).len(),
            3,
            "never more than the pieces"
        );
        assert!(allowed_fast_set(ip, &hash, 0, 10).is_empty());
    }

    #[test]
    fn golden_bytes() {
        assert_eq!(Message::KeepAlive.to_bytes(), [0, 0, 0, 0]);
        assert_eq!(Message::Interested.to_bytes(), [0, 0, 0, 1, 2]);
        assert_eq!(
            Message::Have { index: 0x01020304 }.to_bytes(),
            [0, 0, 0, 5, 4, 1, 2, 3, 4]
        );
        assert_eq!(
            Message::Request(BlockRef {
                index: 1,
                begin: 2,
                length: 16384
            })
            .to_bytes(),
            [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0x40, 0]
        );
        assert_eq!(
            Message::Piece {
                index: 1,
                begin: 2,
                block: Bytes::from_static(b"ab")
            }
            .to_bytes(),
            [0, 0, 0, 11, 7, 0, 0, 0, 1, 0, 0, 0, 2, b'a', b'b']
        );
        assert_eq!(
            Message::Port(0x1ae1).to_bytes(),
            [0, 0, 0, 3, 9, 0x1a, 0xe1]
        );
        assert_eq!(Message::HaveAll.to_bytes(), [0, 0, 0, 1, 0x0e]);
        assert_eq!(
            Message::Extended {
                id: 3,
                payload: Bytes::from_static(b"x")
            }
            .to_bytes(),
            [0, 0, 0, 3, 20, 3, b'x']
        );
    }

    #[test]
    fn every_message_round_trips_and_every_prefix_is_incomplete() {
        for m in all_samples() {
            let b = m.to_bytes();
            for n in 0..b.len() {
                assert_eq!(
                    Message::decode(&b[..n], DEFAULT_MAX_MESSAGE_LEN),
                    Ok(None),
                    "{m:?} prefix {n}"
                );
            }
            assert_eq!(
                Message::decode(&b, DEFAULT_MAX_MESSAGE_LEN),
                Ok(Some((m.clone(), b.len())))
            );
        }
    }

    #[test]
    fn many_messages_in_one_buffer() {
        let mut buf = Vec::new();
        for m in all_samples() {
            m.encode(&mut buf);
        }
        let mut got = Vec::new();
        let mut at = 0;
        while let Some((m, n)) = Message::decode(&buf[at..], DEFAULT_MAX_MESSAGE_LEN).unwrap() {
            got.push(m);
            at += n;
        }
        assert_eq!(at, buf.len());
        assert_eq!(got, all_samples());
    }

    #[test]
    fn huge_length_is_refused_before_buffering() {
        let err = Message::decode(&[0xff, 0xff, 0xff, 0xff], DEFAULT_MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(
            err,
            WireError::TooLong {
                len: u32::MAX,
                max: DEFAULT_MAX_MESSAGE_LEN
            }
        );
    }

    #[test]
    fn wrong_payload_lengths_are_errors() {
        // have with 3 bytes
        assert!(matches!(
            Message::decode(&[0, 0, 0, 4, 4, 0, 0, 1], 100),
            Err(WireError::BadLength { id: 4, .. })
        ));
        // choke with a payload
        assert!(Message::decode(&[0, 0, 0, 2, 0, 9], 100).is_err());
        // piece shorter than its header
        assert!(Message::decode(&[0, 0, 0, 5, 7, 0, 0, 0, 1], 100).is_err());
        // extended without its id
        assert!(Message::decode(&[0, 0, 0, 1, 20], 100).is_err());
        assert_eq!(
            Message::decode(&[0, 0, 0, 1, 99], 100),
            Err(WireError::UnknownId(99))
        );
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let r = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(index, begin, length)| {
            BlockRef {
                index,
                begin,
                length,
            }
        });
        let bytes = proptest::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
        prop_oneof![
            Just(Message::KeepAlive),
            Just(Message::Choke),
            Just(Message::Unchoke),
            Just(Message::Interested),
            Just(Message::NotInterested),
            Just(Message::HaveAll),
            Just(Message::HaveNone),
            any::<u32>().prop_map(|index| Message::Have { index }),
            any::<u32>().prop_map(|index| Message::Suggest { index }),
            any::<u32>().prop_map(|index| Message::AllowedFast { index }),
            any::<u16>().prop_map(Message::Port),
            bytes.clone().prop_map(Message::Bitfield),
            r.clone().prop_map(Message::Request),
            r.clone().prop_map(Message::Cancel),
            r.prop_map(Message::Reject),
            (any::<u32>(), any::<u32>(), bytes.clone()).prop_map(|(index, begin, block)| {
                Message::Piece {
                    index,
                    begin,
                    block,
                }
            }),
            (any::<u8>(), bytes).prop_map(|(id, payload)| Message::Extended { id, payload }),
        ]
    }

    proptest! {
        #[test]
        fn decode_encode_round_trip(m in arb_message()) {
            let b = m.to_bytes();
            prop_assert_eq!(Message::decode(&b, DEFAULT_MAX_MESSAGE_LEN), Ok(Some((m, b.len()))));
        }

        #[test]
        fn decode_never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Message::decode(&b, 200);
        }

        #[test]
        fn split_stream_decodes_the_same(ms in proptest::collection::vec(arb_message(), 1..8), cut in any::<prop::sample::Index>()) {
            let mut buf = Vec::new();
            for m in &ms { m.encode(&mut buf); }
            let cut = cut.index(buf.len() + 1);
            // feed the stream in two reads, as a connection would
            let mut pending: Vec<u8> = Vec::new();
            let mut got = Vec::new();
            for chunk in [&buf[..cut], &buf[cut..]] {
                pending.extend_from_slice(chunk);
                while let Some((m, n)) = Message::decode(&pending, DEFAULT_MAX_MESSAGE_LEN).unwrap() {
                    got.push(m);
                    pending.drain(..n);
                }
            }
            prop_assert!(pending.is_empty());
            prop_assert_eq!(got, ms);
        }
    }
}
