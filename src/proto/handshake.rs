//! The BEP 3 handshake: `<19>"BitTorrent protocol"<reserved:8><info_hash:20><peer_id:20>`, 68 bytes.
//!
//! The reserved bits we understand are named here: BEP 10 extension protocol (byte 5, 0x10),
//! BEP 5 DHT (byte 7, 0x01) and BEP 6 Fast extension (byte 7, 0x04).

use crate::proto::id::{InfoHash, PeerId};
use crate::proto::message::WireError;

pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";
pub const HANDSHAKE_LEN: usize = 68;

/// The eight reserved bytes with named feature bits.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// (byte, mask) of the BEP 10 extension protocol bit.
    pub const EXTENSION: (usize, u8) = (5, 0x10);
    /// (byte, mask) of the BEP 5 DHT bit.
    pub const DHT: (usize, u8) = (7, 0x01);
    /// (byte, mask) of the BEP 6 Fast extension bit.
    pub const FAST: (usize, u8) = (7, 0x04);

    pub fn has(&self, bit: (usize, u8)) -> bool {
        self.0[bit.0] & bit.1 != 0
    }
    pub fn with(mut self, bit: (usize, u8)) -> Reserved {
        self.0[bit.0] |= bit.1;
        self
    }
    /// Names of the bits set that we know, e.g. `["extension protocol", "fast"]`.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (bit, name) in [
            (Self::EXTENSION, "extension protocol"),
            (Self::DHT, "dht"),
            (Self::FAST, "fast"),
        ] {
            if self.has(bit) {
                v.push(name);
            }
        }
        v
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Handshake {
    pub reserved: Reserved,
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
}

impl Handshake {
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(&self.info_hash.0);
        out[48..68].copy_from_slice(&self.peer_id.0);
        out
    }

    /// `Ok(None)` until 68 bytes are there; an error as soon as the prefix is not BitTorrent's.
    pub fn decode(buf: &[u8]) -> Result<Option<(Handshake, usize)>, WireError> {
        let check = buf.len().min(20);
        let mut expected = [0u8; 20];
        expected[0] = 19;
        expected[1..].copy_from_slice(PROTOCOL);
        if buf[..check] != expected[..check] {
            return Err(WireError::BadHandshake);
        }
        if buf.len() < HANDSHAKE_LEN {
            return Ok(None);
        }
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&buf[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&buf[28..48]);
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&buf[48..68]);
        Ok(Some((
            Handshake {
                reserved: Reserved(reserved),
                info_hash: InfoHash(info_hash),
                peer_id: PeerId(peer_id),
            },
            HANDSHAKE_LEN,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Handshake {
        Handshake {
            reserved: Reserved::default()
                .with(Reserved::EXTENSION)
                .with(Reserved::FAST),
            info_hash: InfoHash([0xab; 20]),
            peer_id: PeerId(*b"-FP0100-abcdefghijkl"),
        }
    }

    #[test]
    fn golden_bytes() {
        let b = sample().encode();
        assert_eq!(b[0], 19);
        assert_eq!(&b[1..20], b"BitTorrent protocol");
        assert_eq!(&b[20..28], &[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert_eq!(&b[28..48], &[0xab; 20]);
        assert_eq!(&b[48..68], b"-FP0100-abcdefghijkl");
    }

    #[test]
    fn prefixes_are_incomplete_and_full_decodes() {
        let b = sample().encode();
        for n in 0..HANDSHAKE_LEN {
            assert_eq!(Handshake::decode(&b[..n]).unwrap(), None, "prefix {n}");
        }
        let mut more = b.to_vec();
        more.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Handshake::decode(&more).unwrap(), Some((sample(), 68)));
        assert_eq!(
            sample().reserved.names(),
            vec!["extension protocol", "fast"]
        );
    }

    #[test]
    fn wrong_protocol_is_rejected_early() {
        assert!(Handshake::decode(b"\x13BitTorrent prot0").is_err());
        assert!(Handshake::decode(b"GET / HTTP/1.1").is_err());
    }
}
