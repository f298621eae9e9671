//! Twenty-byte identifiers: [`InfoHash`] (SHA-1 of the raw `info` dictionary, BEP 3), [`PeerId`]
//! (BEP 3 / BEP 20) and [`NodeId`] (BEP 5, with XOR distance).
//!
//! All three print as 40 lowercase hex characters and parse from the same form.

use std::fmt;
use std::str::FromStr;

/// Why a hex id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("expected 40 hex characters, got {0}")]
    Length(usize),
    #[error("invalid hex character {0:?}")]
    Char(char),
}

/// Decode 40 hex characters into 20 bytes.
pub fn parse_hex20(s: &str) -> Result<[u8; 20], IdParseError> {
    let bytes = s.as_bytes();
    if bytes.len() != 40 {
        return Err(IdParseError::Length(s.chars().count()));
    }
    let mut out = [0u8; 20];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_val(pair[0])?;
        let lo = hex_val(pair[1])?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_val(c: u8) -> Result<u8, IdParseError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(IdParseError::Char(c as char)),
    }
}

/// Lowercase hex of any byte slice.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

macro_rules! id20 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 20]);

        impl $name {
            /// The raw 20 bytes.
            pub fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }
            /// Build from a slice that must be exactly 20 bytes long.
            pub fn from_slice(s: &[u8]) -> Option<Self> {
                <[u8; 20]>::try_from(s).ok().map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&to_hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex20(s).map(Self)
            }
        }
    };
}

id20!(
    /// SHA-1 of the bencoded `info` dictionary exactly as it appeared on the wire.
    InfoHash
);
id20!(
    /// A peer's self-chosen 20-byte id (BEP 20 style: `-FP0100-` + 12 random bytes for us).
    PeerId
);
id20!(
    /// A DHT node id (BEP 5); compared by XOR distance.
    NodeId
);

impl NodeId {
    /// XOR distance to `other`, comparable as a big-endian number.
    pub fn distance(&self, other: &NodeId) -> [u8; 20] {
        let mut d = [0u8; 20];
        for (i, b) in d.iter_mut().enumerate() {
            *b = self.0[i] ^ other.0[i];
        }
        d
    }
}

/// Our client prefix in Azureus style (BEP 20): `-FP` + version `0100` + `-`.
pub const PEER_ID_PREFIX: &[u8; 8] = b"-FP0100-";

impl PeerId {
    /// A fresh random peer id with our Azureus-style prefix.
    pub fn generate() -> PeerId {
        let mut id = [0u8; 20];
        id[..8].copy_from_slice(PEER_ID_PREFIX);
        let tail: [u8; 12] = rand::random();
        id[8..].copy_from_slice(&tail);
        PeerId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let s = "d69f91e6b2ae4c542468d1073a71d4ea13879a7f";
        let h: InfoHash = s.parse().unwrap();
        assert_eq!(h.to_string(), s);
        assert_eq!(h.0[0], 0xd6);
        assert_eq!(format!("{h:?}"), format!("InfoHash({s})"));
    }

    #[test]
    fn hex_rejects_bad_input() {
        assert_eq!("abc".parse::<InfoHash>(), Err(IdParseError::Length(3)));
        let bad = "g69f91e6b2ae4c542468d1073a71d4ea13879a7f";
        assert_eq!(bad.parse::<InfoHash>(), Err(IdParseError::Char('g')));
        // multi-byte characters must not panic on slicing
        let wide = "é".repeat(20);
        assert!(wide.parse::<InfoHash>().is_err());
    }

    #[test]
    fn xor_distance() {
        let a = NodeId([0xff; 20]);
        let b = NodeId([0x0f; 20]);
        assert_eq!(a.distance(&b), [0xf0; 20]);
        assert_eq!(a.distance(&a), [0; 20]);
    }

    #[test]
    fn generated_peer_id_has_prefix() {
        let a = PeerId::generate();
        assert_eq!(&a.0[..8], PEER_ID_PREFIX);
        assert_ne!(a, PeerId::generate());
    }
}

/// Azureus-style client codes (BEP 20) we can name.
const AZUREUS_CLIENTS: &[(&str, &str)] = &[
    ("A2", "aria2"),
    ("AZ", "Vuze"),
    ("BC", "BitComet"),
    ("BI", "BiglyBT"),
    ("BT", "BitTorrent"),
    ("DE", "Deluge"),
    ("FP", "fast-peer"),
    ("KT", "KTorrent"),
    ("LT", "libtorrent (Rasterbar)"),
    ("lt", "libtorrent (rakshasa)"),
    ("qB", "qBittorrent"),
    ("RQ", "rqbit"),
    ("TR", "Transmission"),
    ("UT", "µTorrent"),
    ("UM", "µTorrent Mac"),
    ("WW", "WebTorrent"),
];

/// Shadow-style client letters (BEP 20).
const SHADOW_CLIENTS: &[(u8, &str)] = &[
    (b'A', "ABC"),
    (b'O', "Osprey Permaseed"),
    (b'Q', "BTQueue"),
    (b'R', "Tribler"),
    (b'S', "Shadow's client"),
    (b'T', "BitTornado"),
    (b'U', "UPnP NAT Bit Torrent"),
];

fn shadow_digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        b'a'..=b'z' => Some((c - b'a') as u32 + 36),
        b'.' => Some(62),
        b'-' => Some(63),
        _ => None,
    }
}

impl PeerId {
    /// The client this id identifies (BEP 20 Azureus style `-XXvvvv-`, Shadow style `Xvvv--`,
    /// or Mainline `M1-2-3--`), e.g. `libtorrent (Rasterbar) 2.0.8`.
    pub fn client(&self) -> Option<String> {
        let id = &self.0;
        if id[0] == b'-' && id[7] == b'-' {
            let code = std::str::from_utf8(&id[1..3]).ok()?;
            let version: String = id[3..7]
                .iter()
                .map(|c| *c as char)
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            let dotted = version
                .chars()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(".");
            let name = AZUREUS_CLIENTS
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, n)| n.to_string());
            return Some(match name {
                Some(n) => format!("{n} {dotted}"),
                None if code.chars().all(|c| c.is_ascii_alphanumeric()) => {
                    format!("unknown client {code} {dotted}")
                }
                None => return None,
            });
        }
        if id[0] == b'M' && id[2] == b'-' {
            let tail: String = id[1..8].iter().map(|c| *c as char).collect();
            let v: Vec<&str> = tail.split('-').filter(|p| !p.is_empty()).collect();
            if !v.is_empty() && v.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())) {
                return Some(format!("BitTorrent (Mainline) {}", v.join(".")));
            }
        }
        if let Some((_, name)) = SHADOW_CLIENTS.iter().find(|(c, _)| *c == id[0]) {
            // version characters, then at least one '-' before position 7
            let mut parts = Vec::new();
            let mut dashed = false;
            for &c in &id[1..7] {
                if c == b'-' {
                    dashed = true;
                    break;
                }
                parts.push(shadow_digit(c)?.to_string());
            }
            if !parts.is_empty() && dashed {
                return Some(format!("{name} {}", parts.join(".")));
            }
        }
        None
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;

    fn id(s: &[u8]) -> PeerId {
        let mut b = [b'x'; 20];
        b[..s.len()].copy_from_slice(s);
        PeerId(b)
    }

    #[test]
    fn names_clients() {
        assert_eq!(
            id(b"-LT2080-").client().as_deref(),
            Some("libtorrent (Rasterbar) 2.0.8.0")
        );
        assert_eq!(
            id(b"-FP0100-").client().as_deref(),
            Some("fast-peer 0.1.0.0")
        );
        assert_eq!(
            id(b"-ZZ1234-").client().as_deref(),
            Some("unknown client ZZ 1.2.3.4")
        );
        assert_eq!(
            id(b"M4-3-6--").client().as_deref(),
            Some("BitTorrent (Mainline) 4.3.6")
        );
        assert_eq!(
            id(b"S58B-----").client().as_deref(),
            Some("Shadow's client 5.8.11")
        );
        assert_eq!(id(b"T03I--").client().as_deref(), Some("BitTornado 0.3.18"));
        assert_eq!(PeerId([0; 20]).client(), None);
        assert_eq!(PeerId([0xff; 20]).client(), None);
    }
}
