//! uTP packets (BEP 29): the 20-byte header, the extension chain and its selective ack.
//!
//! ```text
//! 0       4       8               16              24              32
//! +-------+-------+---------------+---------------+---------------+
//! | type  | ver   | extension     | connection_id                 |
//! | timestamp_microseconds                                        |
//! | timestamp_difference_microseconds                             |
//! | wnd_size                                                      |
//! | seq_nr                        | ack_nr                        |
//! +---------------------------------------------------------------+
//! ```
//!
//! Extensions follow the header as `(next extension type, length, bytes)` links; the only one
//! defined is the selective ack (type 1): a bitmask whose bit `i` (least significant bit of
//! each byte first) says packet `ack_nr + 2 + i` has arrived. BEP 29 asks for a length that is
//! a multiple of 4; libtorrent accepts any length, and so do we. Unknown extensions are
//! skipped. Everything after the chain is the payload.

use std::fmt;

/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// The protocol version this codec speaks.
pub const VERSION: u8 = 1;
/// Extension type of the selective ack.
pub const EXT_SACK: u8 = 1;
/// The longest selective ack we write (bits for 256 packets past `ack_nr + 1`).
pub const MAX_SACK_BYTES: usize = 32;

/// What a packet is for (BEP 29 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Payload: the next bytes of the stream.
    Data = 0,
    /// The last packet of the stream; its `seq_nr` ends the sequence.
    Fin = 1,
    /// An ack with no payload (it takes no sequence number).
    State = 2,
    /// The connection is refused or torn down.
    Reset = 3,
    /// Opens a connection.
    Syn = 4,
}

impl Type {
    fn from_u8(t: u8) -> Option<Type> {
        Some(match t {
            0 => Type::Data,
            1 => Type::Fin,
            2 => Type::State,
            3 => Type::Reset,
            4 => Type::Syn,
            _ => return None,
        })
    }
}

/// Why bytes are not a uTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("uTP packet of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("uTP version {0} is not 1")]
    Version(u8),
    #[error("unknown uTP packet type {0}")]
    Type(u8),
    #[error("uTP extension chain runs past the packet")]
    Extension,
}

/// A parsed header, with the selective ack when the packet carries one. The payload is the
/// caller's slice from [`Header::decode`].
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub ty: Type,
    pub connection_id: u16,
    pub timestamp_us: u32,
    pub timestamp_difference_us: u32,
    pub wnd_size: u32,
    pub seq_nr: u16,
    pub ack_nr: u16,
    /// The selective-ack bitmask, as it came (empty: none).
    pub sack: Sack,
}

/// A selective-ack bitmask (at most [`MAX_SACK_BYTES`] kept from what a peer sends).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sack {
    len: u8,
    bytes: [u8; MAX_SACK_BYTES],
}

impl Sack {
    /// A mask from `bytes` (longer masks are cut to [`MAX_SACK_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Sack {
        let mut s = Sack::default();
        let n = bytes.len().min(MAX_SACK_BYTES);
        s.bytes[..n].copy_from_slice(&bytes[..n]);
        s.len = n as u8;
        s
    }

    /// Whether there is a mask at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mask's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Bits set: offsets `i` such that packet `ack_nr + 2 + i` has arrived.
    pub fn offsets(&self) -> impl Iterator<Item = u16> + '_ {
        self.bytes().iter().enumerate().flat_map(|(byte, &b)| {
            (0..8u16).filter_map(move |bit| (b >> bit & 1 == 1).then_some(byte as u16 * 8 + bit))
        })
    }

    /// Set bit `i` (grows the mask by whole 4-byte words; bits past the maximum are dropped).
    pub fn set(&mut self, i: usize) {
        let byte = i / 8;
        if byte >= MAX_SACK_BYTES {
            return;
        }
        while (self.len as usize) <= byte {
            self.len += 4;
        }
        self.bytes[byte] |= 1 << (i % 8);
    }
}

impl fmt::Debug for Sack {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_list().entries(self.offsets()).finish()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut d = f.debug_struct("Header");
        d.field("ty", &self.ty)
            .field("connection_id", &self.connection_id)
            .field("seq_nr", &self.seq_nr)
            .field("ack_nr", &self.ack_nr)
            .field("wnd_size", &self.wnd_size);
        if !self.sack.is_empty() {
            d.field("sack", &self.sack);
        }
        d.finish()
    }
}

impl Header {
    /// A header of type `ty` with everything else zero.
    pub fn new(ty: Type, connection_id: u16) -> Header {
        Header {
            ty,
            connection_id,
            timestamp_us: 0,
            timestamp_difference_us: 0,
            wnd_size: 0,
            seq_nr: 0,
            ack_nr: 0,
            sack: Sack::default(),
        }
    }

    /// Parse a datagram: the header and the payload that follows it and its extensions.
    pub fn decode(buf: &[u8]) -> Result<(Header, &[u8]), PacketError> {
        if buf.len() < HEADER_LEN {
            return Err(PacketError::Short(buf.len()));
        }
        let version = buf[0] & 0x0f;
        if version != VERSION {
            return Err(PacketError::Version(version));
        }
        let ty = Type::from_u8(buf[0] >> 4).ok_or(PacketError::Type(buf[0] >> 4))?;
        let u16_at = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let mut h = Header {
            ty,
            connection_id: u16_at(2),
            timestamp_us: u32_at(4),
            timestamp_difference_us: u32_at(8),
            wnd_size: u32_at(12),
            seq_nr: u16_at(16),
            ack_nr: u16_at(18),
            sack: Sack::default(),
        };
        let mut next = buf[1];
        let mut at = HEADER_LEN;
        while next != 0 {
            let (Some(&kind), Some(&len)) = (buf.get(at), buf.get(at + 1)) else {
                return Err(PacketError::Extension);
            };
            let body = buf
                .get(at + 2..at + 2 + len as usize)
                .ok_or(PacketError::Extension)?;
            if next == EXT_SACK && h.sack.is_empty() {
                h.sack = Sack::from_bytes(body);
            }
            next = kind;
            at += 2 + len as usize;
        }
        Ok((h, &buf[at..]))
    }

    /// Append the header (and its selective ack, if any) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let ext = if self.sack.is_empty() { 0 } else { EXT_SACK };
        out.push((self.ty as u8) << 4 | VERSION);
        out.push(ext);
        out.extend_from_slice(&self.connection_id.to_be_bytes());
        out.extend_from_slice(&self.timestamp_us.to_be_bytes());
        out.extend_from_slice(&self.timestamp_difference_us.to_be_bytes());
        out.extend_from_slice(&self.wnd_size.to_be_bytes());
        out.extend_from_slice(&self.seq_nr.to_be_bytes());
        out.extend_from_slice(&self.ack_nr.to_be_bytes());
        if ext != 0 {
            out.push(0);
            out.push(self.sack.len);
            out.extend_from_slice(self.sack.bytes());
        }
    }

    /// Bytes [`Header::encode`] writes.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + if self.sack.is_empty() {
                0
            } else {
                2 + self.sack.len as usize
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_with_a_sack_round_trips_and_the_payload_follows() {
        let mut h = Header::new(Type::Data, 0xbeef);
        h.timestamp_us = 0x0102_0304;
        h.timestamp_difference_us = 77;
        h.wnd_size = 1 << 20;
        h.seq_nr = 65535;
        h.ack_nr = 3;
        h.sack.set(0);
        h.sack.set(9);
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), h.encoded_len());
        assert_eq!(out[0], 0x01, "type 0, version 1");
        assert_eq!(&out[20..22], &[0, 4], "last extension, four bytes");
        out.extend_from_slice(b"payload");
        let (back, payload) = Header::decode(&out).unwrap();
        assert_eq!(back, h);
        assert_eq!(payload, b"payload");
        assert_eq!(back.sack.offsets().collect::<Vec<_>>(), vec![0, 9]);
    }

    #[test]
    fn libtorrent_style_sack_bits_are_lsb_first() {
        // bit 0 of byte 0 = ack_nr + 2; bit 7 of byte 1 = ack_nr + 2 + 15
        let s = Sack::from_bytes(&[0b0000_0001, 0b1000_0000, 0, 0]);
        assert_eq!(s.offsets().collect::<Vec<_>>(), vec![0, 15]);
    }

    #[test]
    fn unknown_extensions_are_skipped_and_bad_chains_are_errors() {
        let mut out = Vec::new();
        Header::new(Type::State, 1).encode(&mut out);
        out[1] = 7; // an unknown extension first
        out.extend_from_slice(&[EXT_SACK, 2, 0xaa, 0xbb]); // then a sack of 2 bytes
        out.extend_from_slice(&[0, 4, 1, 0, 0, 0]);
        out.push(0x55);
        let (h, payload) = Header::decode(&out).unwrap();
        assert_eq!(h.sack.offsets().collect::<Vec<_>>(), vec![0]);
        assert_eq!(payload, &[0x55]);

        let mut cut = Vec::new();
        Header::new(Type::State, 1).encode(&mut cut);
        cut[1] = EXT_SACK;
        cut.extend_from_slice(&[0, 8, 1]);
        assert_eq!(Header::decode(&cut), Err(PacketError::Extension));
        cut.truncate(21);
        assert_eq!(Header::decode(&cut), Err(PacketError::Extension));
        assert_eq!(Header::decode(&cut[..5]), Err(PacketError::Short(5)));
        let mut v2 = cut.clone();
        v2[0] = 0x02;
        assert_eq!(Header::decode(&v2), Err(PacketError::Version(2)));
        v2[0] = 0x51;
        assert_eq!(Header::decode(&v2), Err(PacketError::Type(5)));
    }
}
