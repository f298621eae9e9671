//! KRPC, the DHT's message format (BEP 5, "KRPC Protocol"): one bencoded dictionary per UDP
//! datagram, a query (`y` = `q`), a response (`y` = `r`) or an error (`y` = `e`), matched by
//! the transaction id `t` the querier chose.
//!
//! # Role
//! Sans-IO: [`decode`] turns one datagram into a [`Krpc`] or a typed [`KrpcError`];
//! [`Krpc::encode`] does the reverse. The four BEP 5 queries are typed ([`Query`]); any other
//! method decodes as [`Query::Unknown`] so the node can answer error 204 ("Method Unknown").
//!
//! # Strictness and leniency
//! - The datagram must be exactly one canonical bencode value (the crate's strict decoder); a
//!   dictionary at the top; `t` a byte string, `y` one of `q`/`r`/`e`.
//! - Ids and info hashes are exactly 20 bytes; `nodes` a multiple of 26 bytes (BEP 5 "Contact
//!   Encoding": 20-byte id + 4-byte IPv4 + 2-byte port); each `values` entry 6 bytes (IPv4) or
//!   18 (IPv6, BEP 32 style); `port` in 1..=65535 unless `implied_port` is set.
//! - Keys we do not know (`v` client version, `ip` BEP 42, `ro` BEP 43, `want`, `nodes6`, ...)
//!   are accepted and ignored, as real nodes send them. `v`, `ip` and `ro` are kept when
//!   readable because they are useful to show and cost nothing.
//!
//! A response does not say which query it answers: [`Response`] carries every optional field
//! and the node interprets it through the transaction it matched.

use crate::proto::bencode::{self, Value};
use crate::proto::id::{InfoHash, NodeId};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Length of one compact IPv4 node (BEP 5): id, IPv4 address, port.
pub const COMPACT_NODE_LEN: usize = 26;
/// Length of one compact IPv4 peer (BEP 5 / BEP 23): address, port.
pub const COMPACT_PEER_LEN: usize = 6;
/// Length of one compact IPv6 peer.
pub const COMPACT_PEER6_LEN: usize = 18;

/// BEP 5 error codes.
pub mod code {
    pub const GENERIC: i64 = 201;
    pub const SERVER: i64 = 202;
    pub const PROTOCOL: i64 = 203;
    pub const METHOD_UNKNOWN: i64 = 204;
}

/// A node as it travels in `nodes`: its id and IPv4 contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactNode {
    pub id: NodeId,
    pub addr: SocketAddrV4,
}

impl CompactNode {
    pub fn to_bytes(&self) -> [u8; COMPACT_NODE_LEN] {
        let mut b = [0u8; COMPACT_NODE_LEN];
        b[..20].copy_from_slice(&self.id.0);
        b[20..24].copy_from_slice(&self.addr.ip().octets());
        b[24..].copy_from_slice(&self.addr.port().to_be_bytes());
        b
    }
}

/// Decode a `nodes` string: consecutive 26-byte entries.
pub fn decode_nodes(b: &[u8]) -> Result<Vec<CompactNode>, KrpcError> {
    if !b.len().is_multiple_of(COMPACT_NODE_LEN) {
        return Err(KrpcError::BadLength {
            key: "nodes",
            len: b.len(),
            unit: COMPACT_NODE_LEN,
        });
    }
    Ok(b.chunks_exact(COMPACT_NODE_LEN)
        .map(|c| {
            let mut id = [0u8; 20];
            id.copy_from_slice(&c[..20]);
            CompactNode {
                id: NodeId(id),
                addr: SocketAddrV4::new(
                    Ipv4Addr::new(c[20], c[21], c[22], c[23]),
                    u16::from_be_bytes([c[24], c[25]]),
                ),
            }
        })
        .collect())
}

/// Encode a `nodes` string.
pub fn encode_nodes(nodes: &[CompactNode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * COMPACT_NODE_LEN);
    for n in nodes {
        out.extend_from_slice(&n.to_bytes());
    }
    out
}

/// Compact peer info: 6 bytes (IPv4) or 18 bytes (IPv6), address then big-endian port.
pub fn decode_peer(b: &[u8]) -> Option<SocketAddr> {
    match b.len() {
        COMPACT_PEER_LEN => {
            let ip = Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            Some(SocketAddr::new(
                IpAddr::V4(ip),
                u16::from_be_bytes([b[4], b[5]]),
            ))
        }
        COMPACT_PEER6_LEN => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&b[..16]);
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(o)),
                u16::from_be_bytes([b[16], b[17]]),
            ))
        }
        _ => None,
    }
}

/// Compact form of a peer address (6 or 18 bytes).
pub fn encode_peer(a: &SocketAddr) -> Vec<u8> {
    let mut v = match a.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    v.extend_from_slice(&a.port().to_be_bytes());
    v
}

/// The four BEP 5 queries, plus any other method (answered with error 204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Ping {
        id: NodeId,
    },
    FindNode {
        id: NodeId,
        target: NodeId,
    },
    GetPeers {
        id: NodeId,
        info_hash: InfoHash,
    },
    /// `implied_port`: use the UDP source port of the datagram instead of `port`.
    AnnouncePeer {
        id: NodeId,
        info_hash: InfoHash,
        port: u16,
        implied_port: bool,
        token: Vec<u8>,
    },
    /// A method we do not implement (BEP 44 `get`, `put`, `sample_infohashes`...).
    Unknown {
        method: Vec<u8>,
        id: Option<NodeId>,
    },
}

impl Query {
    /// The `q` method name.
    pub fn method(&self) -> &[u8] {
        match self {
            Query::Ping { .. } => b"ping",
            Query::FindNode { .. } => b"find_node",
            Query::GetPeers { .. } => b"get_peers",
            Query::AnnouncePeer { .. } => b"announce_peer",
            Query::Unknown { method, .. } => method,
        }
    }

    /// The querying node's id.
    pub fn sender(&self) -> Option<NodeId> {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. } => Some(*id),
            Query::Unknown { id, .. } => *id,
        }
    }
}

/// The `r` dictionary of any response. `ping` and `announce_peer` answers carry only `id`;
/// `find_node` carries `nodes`; `get_peers` carries `token` and `values` and/or `nodes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub id: NodeId,
    pub nodes: Option<Vec<CompactNode>>,
    pub values: Option<Vec<SocketAddr>>,
    pub token: Option<Vec<u8>>,
}

/// What a datagram carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Query(Query),
    Response(Response),
    /// `e`: `[code, message]`.
    Error {
        code: i64,
        message: Vec<u8>,
    },
}

/// One KRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Krpc {
    /// Transaction id chosen by the querier, echoed in the answer.
    pub t: Vec<u8>,
    pub body: Body,
    /// Client version (`v`), when sent.
    pub v: Option<Vec<u8>>,
    /// BEP 42 `ip`: the address the responder sees us at, when sent as 6 bytes.
    pub ip: Option<SocketAddr>,
    /// BEP 43 read-only node (`ro` = 1).
    pub ro: bool,
}

/// Why a datagram is not a valid KRPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrpcError {
    #[error("not bencode: {0}")]
    Bencode(#[from] bencode::BencodeError),
    #[error("the message is not a dictionary")]
    NotDict,
    #[error("missing key {0:?}")]
    Missing(&'static str),
    #[error("key {key:?} has the wrong type (expected {expected})")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },
    #[error("key {key:?}: {len} bytes, expected {expected}")]
    BadId {
        key: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("key {key:?}: {len} bytes is not a multiple of {unit}")]
    BadLength {
        key: &'static str,
        len: usize,
        unit: usize,
    },
    #[error("values entry {index}: {len} bytes (expected 6 or 18)")]
    BadPeer { index: usize, len: usize },
    #[error("unknown message type y={0:?}")]
    UnknownType(String),
    #[error("port {0} out of range 1..=65535")]
    BadPort(i64),
}

fn bytes_of<'a>(
    d: &'a BTreeMap<Vec<u8>, Value>,
    key: &'static str,
) -> Result<Option<&'a [u8]>, KrpcError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(Value::Bytes(b)) => Ok(Some(b)),
        Some(_) => Err(KrpcError::WrongType {
            key,
            expected: "byte string",
        }),
    }
}

fn req_bytes<'a>(
    d: &'a BTreeMap<Vec<u8>, Value>,
    key: &'static str,
) -> Result<&'a [u8], KrpcError> {
    bytes_of(d, key)?.ok_or(KrpcError::Missing(key))
}

fn id20(d: &BTreeMap<Vec<u8>, Value>, key: &'static str) -> Result<[u8; 20], KrpcError> {
    let b = req_bytes(d, key)?;
    <[u8; 20]>::try_from(b).map_err(|_| KrpcError::BadId {
        key,
        len: b.len(),
        expected: 20,
    })
}

fn dict_of<'a>(
    d: &'a BTreeMap<Vec<u8>, Value>,
    key: &'static str,
) -> Result<&'a BTreeMap<Vec<u8>, Value>, KrpcError> {
    match d.get(key.as_bytes()) {
        None => Err(KrpcError::Missing(key)),
        Some(Value::Dict(m)) => Ok(m),
        Some(_) => Err(KrpcError::WrongType {
            key,
            expected: "dictionary",
        }),
    }
}

fn int_of(d: &BTreeMap<Vec<u8>, Value>, key: &'static str) -> Result<Option<i64>, KrpcError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(Value::Int(i)) => Ok(Some(*i)),
        Some(_) => Err(KrpcError::WrongType {
            key,
            expected: "integer",
        }),
    }
}

/// The transaction id of a datagram, if it is a dictionary with a byte-string `t`: lets the
/// node answer "203 Protocol Error" to a malformed query it can still reply to.
pub fn transaction_id(buf: &[u8]) -> Option<Vec<u8>> {
    match bencode::decode(buf).ok()? {
        Value::Dict(d) => match d.get(b"t".as_slice()) {
            Some(Value::Bytes(t)) => Some(t.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Decode one datagram.
pub fn decode(buf: &[u8]) -> Result<Krpc, KrpcError> {
    let Value::Dict(top) = bencode::decode(buf)? else {
        return Err(KrpcError::NotDict);
    };
    let t = req_bytes(&top, "t")?.to_vec();
    let y = req_bytes(&top, "y")?;
    let v = bytes_of(&top, "v").ok().flatten().map(|b| b.to_vec());
    let ip = bytes_of(&top, "ip")
        .ok()
        .flatten()
        .filter(|b| b.len() == 6)
        .and_then(decode_peer);
    let ro = matches!(int_of(&top, "ro"), Ok(Some(1)));
    let body = match y {
        b"q" => Body::Query(decode_query(&top)?),
        b"r" => Body::Response(decode_response(dict_of(&top, "r")?)?),
        b"e" => {
            let list = match top.get(b"e".as_slice()) {
                None => return Err(KrpcError::Missing("e")),
                Some(Value::List(l)) => l,
                Some(_) => {
                    return Err(KrpcError::WrongType {
                        key: "e",
                        expected: "list",
                    });
                }
            };
            let code = list
                .first()
                .and_then(Value::as_int)
                .ok_or(KrpcError::WrongType {
                    key: "e",
                    expected: "[code, message]",
                })?;
            let message = list
                .get(1)
                .and_then(Value::as_bytes)
                .map(|b| b.to_vec())
                .unwrap_or_default();
            Body::Error { code, message }
        }
        other => {
            return Err(KrpcError::UnknownType(
                String::from_utf8_lossy(other).into_owned(),
            ));
        }
    };
    Ok(Krpc { t, body, v, ip, ro })
}

fn decode_query(top: &BTreeMap<Vec<u8>, Value>) -> Result<Query, KrpcError> {
    let method = req_bytes(top, "q")?;
    let a = dict_of(top, "a")?;
    let id = NodeId(id20(a, "id")?);
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode {
            id,
            target: NodeId(id20(a, "target")?),
        },
        b"get_peers" => Query::GetPeers {
            id,
            info_hash: InfoHash(id20(a, "info_hash")?),
        },
        b"announce_peer" => {
            let info_hash = InfoHash(id20(a, "info_hash")?);
            let implied_port = matches!(int_of(a, "implied_port")?, Some(i) if i != 0);
            let raw_port = int_of(a, "port")?;
            let port = match (raw_port, implied_port) {
                (Some(p), _) if (1..=65535).contains(&p) => p as u16,
                // the port is ignored with implied_port; a missing or odd one is tolerated
                (_, true) => 0,
                (Some(p), false) => return Err(KrpcError::BadPort(p)),
                (None, false) => return Err(KrpcError::Missing("port")),
            };
            let token = req_bytes(a, "token")?.to_vec();
            Query::AnnouncePeer {
                id,
                info_hash,
                port,
                implied_port,
                token,
            }
        }
        other => Query::Unknown {
            method: other.to_vec(),
            id: Some(id),
        },
    })
}

fn decode_response(r: &BTreeMap<Vec<u8>, Value>) -> Result<Response, KrpcError> {
    let id = NodeId(id20(r, "id")?);
    let nodes = bytes_of(r, "nodes")?.map(decode_nodes).transpose()?;
    let token = bytes_of(r, "token")?.map(|b| b.to_vec());
    let values = match r.get(b"values".as_slice()) {
        None => None,
        Some(Value::List(l)) => {
            let mut out = Vec::with_capacity(l.len());
            for (index, v) in l.iter().enumerate() {
                let b = v.as_bytes().ok_or(KrpcError::WrongType {
                    key: "values",
                    expected: "list of byte strings",
                })?;
                out.push(decode_peer(b).ok_or(KrpcError::BadPeer {
                    index,
                    len: b.len(),
                })?);
            }
            Some(out)
        }
        Some(_) => {
            return Err(KrpcError::WrongType {
                key: "values",
                expected: "list",
            });
        }
    };
    Ok(Response {
        id,
        nodes,
        values,
        token,
    })
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

impl Krpc {
    pub fn query(t: Vec<u8>, q: Query) -> Krpc {
        Krpc {
            t,
            body: Body::Query(q),
            v: None,
            ip: None,
            ro: false,
        }
    }

    pub fn response(t: Vec<u8>, r: Response) -> Krpc {
        Krpc {
            t,
            body: Body::Response(r),
            v: None,
            ip: None,
            ro: false,
        }
    }

    pub fn error(t: Vec<u8>, code: i64, message: &str) -> Krpc {
        Krpc {
            t,
            body: Body::Error {
                code,
                message: message.as_bytes().to_vec(),
            },
            v: None,
            ip: None,
            ro: false,
        }
    }

    /// The canonical bencoding of the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut top = BTreeMap::new();
        top.insert(b"t".to_vec(), bytes(&self.t));
        match &self.body {
            Body::Query(q) => {
                top.insert(b"y".to_vec(), bytes(b"q"));
                top.insert(b"q".to_vec(), bytes(q.method()));
                let mut a = BTreeMap::new();
                if let Some(id) = q.sender() {
                    a.insert(b"id".to_vec(), bytes(&id.0));
                }
                match q {
                    Query::Ping { .. } | Query::Unknown { .. } => {}
                    Query::FindNode { target, .. } => {
                        a.insert(b"target".to_vec(), bytes(&target.0));
                    }
                    Query::GetPeers { info_hash, .. } => {
                        a.insert(b"info_hash".to_vec(), bytes(&info_hash.0));
                    }
                    Query::AnnouncePeer {
                        info_hash,
                        port,
                        implied_port,
                        token,
                        ..
                    } => {
                        a.insert(b"info_hash".to_vec(), bytes(&info_hash.0));
                        a.insert(b"port".to_vec(), Value::Int(*port as i64));
                        if *implied_port {
                            a.insert(b"implied_port".to_vec(), Value::Int(1));
                        }
                        a.insert(b"token".to_vec(), bytes(token));
                    }
                }
                top.insert(b"a".to_vec(), Value::Dict(a));
            }
            Body::Response(r) => {
                top.insert(b"y".to_vec(), bytes(b"r"));
                let mut d = BTreeMap::new();
                d.insert(b"id".to_vec(), bytes(&r.id.0));
                if let Some(n) = &r.nodes {
                    d.insert(b"nodes".to_vec(), Value::Bytes(encode_nodes(n)));
                }
                if let Some(t) = &r.token {
                    d.insert(b"token".to_vec(), bytes(t));
                }
                if let Some(v) = &r.values {
                    d.insert(
                        b"values".to_vec(),
                        Value::List(v.iter().map(|a| Value::Bytes(encode_peer(a))).collect()),
                    );
                }
                top.insert(b"r".to_vec(), Value::Dict(d));
            }
            Body::Error { code, message } => {
                top.insert(b"y".to_vec(), bytes(b"e"));
                top.insert(
                    b"e".to_vec(),
                    Value::List(vec![Value::Int(*code), bytes(message)]),
                );
            }
        }
        if let Some(v) = &self.v {
            top.insert(b"v".to_vec(), bytes(v));
        }
        if let Some(ip) = &self.ip {
            top.insert(b"ip".to_vec(), Value::Bytes(encode_peer(ip)));
        }
        if self.ro {
            top.insert(b"ro".to_vec(), Value::Int(1));
        }
        bencode::encode(&Value::Dict(top))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nid(s: &[u8; 20]) -> NodeId {
        NodeId(*s)
    }

    /// encode == golden, decode(golden) == value, and every strict prefix is rejected.
    fn golden(msg: Krpc, wire: &[u8]) {
        assert_eq!(
            String::from_utf8_lossy(&msg.encode()),
            String::from_utf8_lossy(wire)
        );
        assert_eq!(decode(wire).unwrap(), msg);
        for n in 0..wire.len() {
            assert!(decode(&wire[..n]).is_err(), "prefix of {n} bytes accepted");
        }
    }

    // The examples of BEP 5, "KRPC Protocol".
    #[test]
    fn bep5_ping() {
        golden(
            Krpc::query(
                b"aa".to_vec(),
                Query::Ping {
                    id: nid(b"abcdefghij0123456789"),
                },
            ),
            b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
        );
        golden(
            Krpc::response(
                b"aa".to_vec(),
                Response {
                    id: nid(b"mnopqrstuvwxyz123456"),
                    ..Default::default()
                },
            ),
            b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        );
    }

    #[test]
    fn bep5_find_node() {
        golden(
            Krpc::query(
                b"aa".to_vec(),
                Query::FindNode { id: nid(b"abcdefghij0123456789"), target: nid(b"mnopqrstuvwxyz123456") },
            ),
            b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
        );
        // the BEP writes "def456..." for the nodes: here one real 26-byte entry
        let node = CompactNode {
            id: nid(b"def456def456def456de"),
            addr: "127.0.0.1:6881".parse().unwrap(),
        };
        let mut wire = b"d1:rd2:id20:0123456789abcdefghij5:nodes26:def456def456def456de".to_vec();
        wire.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1]);
        wire.extend_from_slice(b"e1:t2:aa1:y1:re");
        golden(
            Krpc::response(
                b"aa".to_vec(),
                Response {
                    id: nid(b"0123456789abcdefghij"),
                    nodes: Some(vec![node]),
                    ..Default::default()
                },
            ),
            &wire,
        );
    }

    #[test]
    fn bep5_get_peers() {
        golden(
            Krpc::query(
                b"aa".to_vec(),
                Query::GetPeers { id: nid(b"abcdefghij0123456789"), info_hash: InfoHash(*b"mnopqrstuvwxyz123456") },
            ),
            b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
        );
        // "axje.u" and "idhtnm" are the BEP's compact peers
        let values = vec![
            decode_peer(b"axje.u").unwrap(),
            decode_peer(b"idhtnm").unwrap(),
        ];
        assert_eq!(values[0], "97.120.106.101:11893".parse().unwrap());
        golden(
            Krpc::response(
                b"aa".to_vec(),
                Response {
                    id: nid(b"abcdefghij0123456789"),
                    token: Some(b"aoeusnth".to_vec()),
                    values: Some(values),
                    nodes: None,
                },
            ),
            b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
        );
    }

    #[test]
    fn bep5_announce_peer() {
        golden(
            Krpc::query(
                b"aa".to_vec(),
                Query::AnnouncePeer {
                    id: nid(b"abcdefghij0123456789"),
                    info_hash: InfoHash(*b"mnopqrstuvwxyz123456"),
                    port: 6881,
                    implied_port: true,
                    token: b"aoeusnth".to_vec(),
                },
            ),
            b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        );
    }

    #[test]
    fn bep5_error() {
        golden(
            Krpc::error(b"aa".to_vec(), 201, "A Generic Error Ocurred"),
            b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
        );
    }

    #[test]
    fn extra_keys_are_ignored_and_v_ip_ro_kept() {
        // libtorrent's ping answer: ip (BEP 42), and v; also an unknown key in r
        let wire = b"d2:ip6:\x7f\x00\x00\x01\x1a\xe11:rd2:id20:mnopqrstuvwxyz1234564:zzzzi3ee1:t2:aa1:v4:LT\x02\x081:y1:re";
        let m = decode(wire).unwrap();
        assert_eq!(m.ip, Some("127.0.0.1:6881".parse().unwrap()));
        assert_eq!(m.v.as_deref(), Some(&b"LT\x02\x08"[..]));
        assert!(
            matches!(m.body, Body::Response(Response { id, .. }) if id == nid(b"mnopqrstuvwxyz123456"))
        );
        let ro = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe";
        assert!(decode(ro).unwrap().ro);
    }

    #[test]
    fn unknown_method_decodes_for_a_204() {
        let wire = b"d1:ad2:id20:abcdefghij01234567893:key3:abce1:q3:get1:t2:xy1:y1:qe";
        let m = decode(wire).unwrap();
        assert_eq!(
            m.body,
            Body::Query(Query::Unknown {
                method: b"get".to_vec(),
                id: Some(nid(b"abcdefghij0123456789"))
            })
        );
    }

    #[test]
    fn typed_errors_carry_the_numbers() {
        assert_eq!(
            decode(b"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe"),
            Err(KrpcError::BadId {
                key: "id",
                len: 3,
                expected: 20
            })
        );
        assert_eq!(
            decode(b"d1:rd2:id20:abcdefghij01234567895:nodes3:abce1:t2:aa1:y1:re"),
            Err(KrpcError::BadLength {
                key: "nodes",
                len: 3,
                unit: 26
            })
        );
        assert_eq!(
            decode(b"d1:rd2:id20:abcdefghij01234567896:valuesl3:abcee1:t2:aa1:y1:re"),
            Err(KrpcError::BadPeer { index: 0, len: 3 })
        );
        assert_eq!(
            decode(b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234564:porti70000e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe"),
            Err(KrpcError::BadPort(70000))
        );
        assert_eq!(
            decode(b"d1:t2:aa1:y1:xe"),
            Err(KrpcError::UnknownType("x".into()))
        );
        assert_eq!(decode(b"le"), Err(KrpcError::NotDict));
        assert_eq!(decode(b"d1:y1:qe"), Err(KrpcError::Missing("t")));
        assert_eq!(transaction_id(b"d1:t2:zz1:y1:qe"), Some(b"zz".to_vec()));
    }

    #[test]
    fn nodes_round_trip_and_ipv6_values() {
        let n = CompactNode {
            id: NodeId([7; 20]),
            addr: "10.1.2.3:65535".parse().unwrap(),
        };
        assert_eq!(decode_nodes(&encode_nodes(&[n, n])).unwrap(), vec![n, n]);
        let v6: SocketAddr = "[::1]:6881".parse().unwrap();
        assert_eq!(decode_peer(&encode_peer(&v6)), Some(v6));
    }

    fn valid_messages() -> Vec<Vec<u8>> {
        let id = NodeId([1; 20]);
        let node = CompactNode {
            id,
            addr: "1.2.3.4:5".parse().unwrap(),
        };
        vec![
            Krpc::query(b"a".to_vec(), Query::Ping { id }).encode(),
            Krpc::query(
                b"bb".to_vec(),
                Query::FindNode {
                    id,
                    target: NodeId([2; 20]),
                },
            )
            .encode(),
            Krpc::query(
                b"cc".to_vec(),
                Query::GetPeers {
                    id,
                    info_hash: InfoHash([3; 20]),
                },
            )
            .encode(),
            Krpc::query(
                b"dd".to_vec(),
                Query::AnnouncePeer {
                    id,
                    info_hash: InfoHash([3; 20]),
                    port: 1,
                    implied_port: false,
                    token: vec![9; 8],
                },
            )
            .encode(),
            Krpc::response(
                b"ee".to_vec(),
                Response {
                    id,
                    nodes: Some(vec![node; 3]),
                    values: Some(vec!["9.9.9.9:99".parse().unwrap()]),
                    token: Some(vec![1, 2]),
                },
            )
            .encode(),
            Krpc::error(b"ff".to_vec(), 203, "bad").encode(),
        ]
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&b);
            let _ = transaction_id(&b);
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
            let mut m = valid_messages()[which].clone();
            for (pos, byte) in flips {
                let i = pos % m.len();
                m[i] = byte;
            }
            let _ = decode(&m);
            let n = cut % (m.len() + 1);
            let _ = decode(&m[..n]);
        }

        #[test]
        fn valid_messages_round_trip(which in 0usize..6) {
            let wire = valid_messages()[which].clone();
            let m = decode(&wire).unwrap();
            prop_assert_eq!(m.encode(), wire);
        }
    }
}
