//! serde for the protocol's values, so the engine's events can leave the process (the control
//! socket's `watch` stream today, recordings later).
//!
//! Ids are hex strings. A torrent's metainfo travels as the bytes of its .torrent file and a
//! BEP 10 handshake as its bencoded payload: hex in human-readable formats (JSON), raw bytes in
//! binary ones. Reading them back parses and validates them like bytes from the wire, so a
//! hostile stream gets an error, never a value the rest of the code would not accept.

use super::extension::ExtensionHandshake;
use super::id::{InfoHash, NodeId, PeerId, to_hex};
use super::message::Message;
use super::metainfo::Metainfo;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;

/// Bytes as hex (human-readable formats) or as a byte string (binary formats).
fn serialize_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&to_hex(bytes))
    } else {
        s.serialize_bytes(bytes)
    }
}

/// The other way: hex, or bytes (or a sequence of numbers, which some binary formats use).
fn deserialize_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("hex or bytes")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            from_hex(v).ok_or_else(|| E::custom("not hex"))
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    if d.is_human_readable() {
        d.deserialize_str(Bytes)
    } else {
        d.deserialize_bytes(Bytes)
    }
}

/// Bytes of lowercase or uppercase hex; `None` when it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

macro_rules! serde_id20 {
    ($($name:ident),*) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_bytes(&self.0, s)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let b = deserialize_bytes(d)?;
                $name::from_slice(&b)
                    .ok_or_else(|| de::Error::custom(concat!(stringify!($name), ": not 20 bytes")))
            }
        }
    )*};
}

serde_id20!(InfoHash, PeerId, NodeId);

impl Serialize for Metainfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.to_torrent_file(), s)
    }
}

impl<'de> Deserialize<'de> for Metainfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = deserialize_bytes(d)?;
        Metainfo::from_bytes(&b).map_err(|e| de::Error::custom(format!("metainfo: {e}")))
    }
}

impl Serialize for ExtensionHandshake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.encode(), s)
    }
}

impl<'de> Deserialize<'de> for ExtensionHandshake {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = deserialize_bytes(d)?;
        ExtensionHandshake::decode(&b)
            .map_err(|e| de::Error::custom(format!("extension handshake: {e}")))
    }
}

/// A message name ([`Message::name`]) read back as the `'static` name this build uses; a name
/// this build does not know reads as `"unknown"`.
pub fn deserialize_message_name<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    let s = String::deserialize(d)?;
    Ok(Message::NAMES
        .iter()
        .copied()
        .find(|n| *n == s)
        .unwrap_or("unknown"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_hex_in_json_and_checked_when_read() {
        let h = InfoHash([0xab; 20]);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", "ab".repeat(20)));
        assert_eq!(serde_json::from_str::<InfoHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<PeerId>("\"abcd\"").is_err());
        assert!(serde_json::from_str::<NodeId>(&format!("\"{}\"", "zz".repeat(20))).is_err());
        assert!(serde_json::from_str::<NodeId>("7").is_err());
    }

    #[test]
    fn a_metainfo_travels_as_its_torrent_file() {
        let info = b"d6:lengthi5e4:name1:x12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaae";
        let mut bytes = b"d8:announce21:http://127.0.0.1:1/an4:info".to_vec();
        bytes.extend_from_slice(info);
        bytes.push(b'e');
        let m = Metainfo::from_bytes(&bytes).unwrap();
        let back: Metainfo = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back.info_hash, m.info_hash);
        assert_eq!(back.announce, m.announce);
        // bytes that are not a torrent are an error, not a value
        assert!(serde_json::from_str::<Metainfo>("\"6465\"").is_err());
    }

    #[test]
    fn an_extension_handshake_round_trips() {
        let mut h = ExtensionHandshake::ours("fast-peer test");
        h.p = Some(6881);
        h.metadata_size = Some(1234);
        let back: ExtensionHandshake =
            serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn message_names_read_back_as_known_names() {
        #[derive(Deserialize)]
        struct Named {
            #[serde(deserialize_with = "deserialize_message_name")]
            kind: &'static str,
        }
        let n: Named = serde_json::from_str(r#"{"kind":"piece"}"#).unwrap();
        assert_eq!(n.kind, "piece");
        let n: Named = serde_json::from_str(r#"{"kind":"<script>"}"#).unwrap();
        assert_eq!(n.kind, "unknown");
        assert_eq!(Message::NAMES.len(), 17);
    }
}
