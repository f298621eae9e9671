//! The extension handshake (BEP 10): extended message id 0, in which each side lists the
//! extensions it supports and the id it wants to receive each one on, plus optional facts
//! about itself (client, listen port, queue depth, our address as it sees it, metadata size).
//! How ids are used and how lenient decoding is: see the `proto::extension` module doc.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{ExtensionError, decode_dict, int_in, ip_from_bytes};
use crate::proto::bencode::{self, Value};

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

fn ip_bytes(ip: &IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

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

    /// Decode a handshake payload (lenient inside the dict, see the `proto::extension` module
    /// doc).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::extension::tests::{LIBTORRENT_HS, arb_addr};
    use proptest::prelude::*;

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

    proptest! {
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
    }
}
