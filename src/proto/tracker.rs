//! Tracker codecs, sans-IO: announce requests become URLs or datagrams, tracker answers become
//! an [`AnnounceResponse`]. The engine (`engine::tracker`) owns the sockets, timers, retries and
//! the BEP 12 tier logic; nothing here blocks, allocates a socket or reads a clock.
//!
//! # What is implemented
//! - **BEP 3** HTTP announce: the query string ([`http_announce_url`]) and the bencoded answer
//!   ([`parse_http_response`]): `failure reason`, `warning message`, `interval`, `min interval`,
//!   `tracker id`, `complete`, `incomplete`, and `peers` in the original list-of-dicts form.
//! - **BEP 23** compact `peers` (6 bytes per IPv4 peer). We always ask for `compact=1`, but the
//!   dictionary form is still parsed because some trackers ignore the flag.
//! - **BEP 7** `peers6` (18 bytes per IPv6 peer) in HTTP answers, and 18-byte peers in UDP answers
//!   received over IPv6.
//! - **BEP 15** UDP tracker protocol: connect and announce requests ([`udp_connect_request`],
//!   [`udp_announce_request`]) and the connect/announce/error answers ([`parse_udp_response`]).
//!   Scrape (action 2) is not used by the client and is reported as [`TrackerError::Invalid`].
//!
//! # Invariants and hostile input
//! Everything a tracker sends is untrusted: parsers return [`TrackerError::Invalid`] instead of
//! panicking, and property tests feed them random bytes. Peers with port 0 are dropped (nobody can
//! connect to them). A tracker-chosen `interval` is clamped to [`MIN_INTERVAL_SECS`]..=
//! [`MAX_INTERVAL_SECS`] so a buggy or malicious tracker can neither make us hammer it nor
//! silence itself for years; the engine applies its own floor on top.

use crate::proto::bencode::{self, Value};
use crate::proto::id::{InfoHash, PeerId};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The `event` of an announce (BEP 3); `None` is a regular periodic announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// A periodic re-announce; no `event` key is sent over HTTP, code 0 over UDP.
    #[default]
    None,
    /// The first announce of a download (`started`, UDP code 2).
    Started,
    /// The download just finished (`completed`, UDP code 1); sent once, not when starting as a seed.
    Completed,
    /// We are leaving the swarm (`stopped`, UDP code 3).
    Stopped,
}

impl Event {
    /// The HTTP query value, or `None` for a periodic announce (the key is then omitted).
    pub fn as_query(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 event code (note the order differs from the enum: completed=1, started=2).
    pub fn udp_code(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }
}

/// Everything one announce says about us; shared by the HTTP and UDP encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// The port our peer listener accepts on.
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    /// Bytes still missing; 0 marks us as a seed.
    pub left: u64,
    pub event: Event,
    /// How many peers we want; `None` lets the tracker choose (UDP sends -1).
    pub numwant: Option<u32>,
    /// A random value stable for the session so the tracker can recognise us across IP changes.
    pub key: u32,
    /// The `tracker id` the tracker gave in a previous answer (HTTP only), sent back verbatim.
    pub tracker_id: Option<Vec<u8>>,
    /// BEP 7 `ipv6` (HTTP only): our global IPv6 address, so that a tracker we reach over
    /// IPv4 can also list us to IPv6 peers.
    pub ipv6: Option<Ipv6Addr>,
}

/// A successful announce answer, the same shape for HTTP and UDP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds until the next regular announce, clamped to
    /// [`MIN_INTERVAL_SECS`]..=[`MAX_INTERVAL_SECS`].
    pub interval: u32,
    /// Seconds the tracker wants at least between announces, clamped like `interval`.
    pub min_interval: Option<u32>,
    /// To be echoed back as `trackerid` on the next HTTP announce to the same tracker.
    pub tracker_id: Option<Vec<u8>>,
    /// Seeders (UDP: `seeders`).
    pub complete: Option<u32>,
    /// Leechers (UDP: `leechers`).
    pub incomplete: Option<u32>,
    /// IPv4 and IPv6 peers in the order the tracker gave them; port-0 entries removed.
    pub peers: Vec<SocketAddr>,
    /// A `warning message`: the announce worked but the tracker has something to say.
    pub warning: Option<String>,
}

/// Why an announce answer is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    /// The tracker answered, and refused: its `failure reason` (HTTP) or error message (UDP).
    #[error("tracker failure: {0}")]
    Failure(String),
    /// The answer is malformed; the string says where.
    #[error("invalid tracker response: {0}")]
    Invalid(String),
}

/// Lower clamp for tracker intervals, in seconds; 0 would mean "announce in a busy loop".
pub const MIN_INTERVAL_SECS: u32 = 1;
/// Upper clamp for tracker intervals (one day): beyond that the swarm has long changed.
pub const MAX_INTERVAL_SECS: u32 = 24 * 60 * 60;

/// Clamp a tracker-supplied interval (any integer) into the accepted range.
pub fn clamp_interval(secs: i64) -> u32 {
    // The clamp keeps the value within u32, so the cast cannot truncate.
    secs.clamp(i64::from(MIN_INTERVAL_SECS), i64::from(MAX_INTERVAL_SECS)) as u32
}

// ---------------------------------------------------------------------------------------------
// HTTP (BEP 3, BEP 23, BEP 7)
// ---------------------------------------------------------------------------------------------

/// Append RFC 3986 percent-encoding of raw bytes: unreserved characters stay, all else is `%XX`.
///
/// The info hash and peer id are binary, so this works byte-wise rather than on UTF-8.
pub fn percent_encode_into(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// The full announce URL for `req` on the tracker at `base` (BEP 3 query, `compact=1`).
///
/// `base` may already carry a query (private trackers put a passkey there); we then continue it
/// with `&`. The `key` goes out as 8 hex digits, the common convention.
pub fn http_announce_url(base: &str, req: &AnnounceRequest) -> String {
    let mut url = String::with_capacity(base.len() + 256);
    url.push_str(base);
    if !base.contains('?') {
        url.push('?');
    } else if !(base.ends_with('?') || base.ends_with('&')) {
        url.push('&');
    }
    url.push_str("info_hash=");
    percent_encode_into(&mut url, req.info_hash.as_bytes());
    url.push_str("&peer_id=");
    percent_encode_into(&mut url, req.peer_id.as_bytes());
    url.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact=1",
        req.port, req.uploaded, req.downloaded, req.left
    ));
    if let Some(event) = req.event.as_query() {
        url.push_str("&event=");
        url.push_str(event);
    }
    if let Some(n) = req.numwant {
        url.push_str(&format!("&numwant={n}"));
    }
    url.push_str(&format!("&key={:08x}", req.key));
    if let Some(id) = &req.tracker_id {
        url.push_str("&trackerid=");
        percent_encode_into(&mut url, id);
    }
    if let Some(ip) = req.ipv6 {
        url.push_str("&ipv6=");
        percent_encode_into(&mut url, ip.to_string().as_bytes());
    }
    url
}

fn invalid(msg: impl Into<String>) -> TrackerError {
    TrackerError::Invalid(msg.into())
}

/// Parse the bencoded body of an HTTP announce answer.
///
/// A `failure reason` wins over everything else (BEP 3: "no other keys need be present").
pub fn parse_http_response(body: &[u8]) -> Result<AnnounceResponse, TrackerError> {
    let root = bencode::decode(body).map_err(|e| invalid(format!("body is not bencode: {e}")))?;
    if root.as_dict().is_none() {
        return Err(invalid("body is not a dictionary"));
    }
    if let Some(reason) = root.get(b"failure reason") {
        let text = reason
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_else(|| "(failure reason is not a string)".to_string());
        return Err(TrackerError::Failure(text));
    }

    let interval = match root.get(b"interval") {
        Some(v) => clamp_interval(
            v.as_int()
                .ok_or_else(|| invalid("interval is not an integer"))?,
        ),
        None => return Err(invalid("missing interval")),
    };
    let min_interval = match root.get(b"min interval") {
        Some(v) => Some(clamp_interval(
            v.as_int()
                .ok_or_else(|| invalid("min interval is not an integer"))?,
        )),
        None => None,
    };
    let warning = root
        .get(b"warning message")
        .and_then(Value::as_bytes)
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let tracker_id = root
        .get(b"tracker id")
        .and_then(Value::as_bytes)
        .map(<[u8]>::to_vec);
    // Counts are informational: a non-integer count is dropped and an out-of-range one clamped,
    // neither is fatal.
    let count = |key: &[u8]| {
        root.get(key)
            .and_then(Value::as_int)
            .map(|n| n.clamp(0, i64::from(u32::MAX)) as u32)
    };
    let complete = count(b"complete");
    let incomplete = count(b"incomplete");

    let mut peers = Vec::new();
    match root.get(b"peers") {
        // Some trackers omit `peers` when the swarm is empty or they only have `peers6`.
        None => {}
        Some(Value::Bytes(b)) => parse_compact_v4(b, &mut peers)?,
        Some(Value::List(list)) => parse_dict_peers(list, &mut peers)?,
        Some(_) => return Err(invalid("peers is neither a string nor a list")),
    }
    match root.get(b"peers6") {
        None => {}
        Some(Value::Bytes(b)) => parse_compact_v6(b, &mut peers)?,
        Some(_) => return Err(invalid("peers6 is not a string")),
    }

    Ok(AnnounceResponse {
        interval,
        min_interval,
        tracker_id,
        complete,
        incomplete,
        peers,
        warning,
    })
}

/// BEP 23: 4 bytes IPv4 + 2 bytes port, big-endian, concatenated.
fn parse_compact_v4(b: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if !b.len().is_multiple_of(6) {
        return Err(invalid(format!(
            "compact peers: {} bytes is not a multiple of 6",
            b.len()
        )));
    }
    for c in b.chunks_exact(6) {
        let ip = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
        let port = u16::from_be_bytes([c[4], c[5]]);
        if port != 0 {
            out.push(SocketAddr::V4(SocketAddrV4::new(ip, port)));
        }
    }
    Ok(())
}

/// BEP 7: 16 bytes IPv6 + 2 bytes port, big-endian, concatenated.
fn parse_compact_v6(b: &[u8], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    if !b.len().is_multiple_of(18) {
        return Err(invalid(format!(
            "compact peers6: {} bytes is not a multiple of 18",
            b.len()
        )));
    }
    for c in b.chunks_exact(18) {
        let mut octets = [0u8; 16];
        octets.copy_from_slice(&c[..16]);
        let port = u16::from_be_bytes([c[16], c[17]]);
        if port != 0 {
            out.push(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                0,
                0,
            )));
        }
    }
    Ok(())
}

/// BEP 3 original form: a list of `{peer id, ip, port}` dictionaries.
///
/// `ip` may legally be a DNS name; resolving is I/O, so such entries (and any entry we cannot
/// read) are skipped rather than failing the whole answer.
fn parse_dict_peers(list: &[Value], out: &mut Vec<SocketAddr>) -> Result<(), TrackerError> {
    for entry in list {
        if entry.as_dict().is_none() {
            return Err(invalid("peers list entry is not a dictionary"));
        }
        let ip = entry
            .get(b"ip")
            .and_then(Value::as_str)
            .and_then(|s| s.trim().parse::<IpAddr>().ok());
        let port = entry
            .get(b"port")
            .and_then(Value::as_int)
            .and_then(|p| u16::try_from(p).ok());
        if let (Some(ip), Some(port)) = (ip, port)
            && port != 0
        {
            out.push(SocketAddr::new(ip, port));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// UDP (BEP 15)
// ---------------------------------------------------------------------------------------------

/// The magic `protocol_id` of a BEP 15 connect request.
pub const UDP_PROTOCOL_ID: u64 = 0x41727101980;
/// BEP 15 action: obtain a connection id.
pub const ACTION_CONNECT: u32 = 0;
/// BEP 15 action: announce.
pub const ACTION_ANNOUNCE: u32 = 1;
/// BEP 15 action: scrape (not used by this client).
pub const ACTION_SCRAPE: u32 = 2;
/// BEP 15 action: error answer carrying a message.
pub const ACTION_ERROR: u32 = 3;
/// Size of a connect response.
pub const UDP_CONNECT_RESPONSE_LEN: usize = 16;
/// Size of the fixed part of an announce response; peers follow.
pub const UDP_ANNOUNCE_RESPONSE_HEADER_LEN: usize = 20;

/// The 16-byte connect request: protocol id, action 0, transaction id.
pub fn udp_connect_request(transaction_id: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&UDP_PROTOCOL_ID.to_be_bytes());
    b[8..12].copy_from_slice(&ACTION_CONNECT.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b
}

/// The 98-byte IPv4-layout announce request (BEP 15). The `ip` field is 0 ("use the sender's
/// address"); `num_want` is -1 ("tracker's default") when `req.numwant` is `None`. The HTTP-only
/// `tracker_id` has no place here.
pub fn udp_announce_request(
    connection_id: u64,
    transaction_id: u32,
    req: &AnnounceRequest,
) -> [u8; 98] {
    let mut b = [0u8; 98];
    b[0..8].copy_from_slice(&connection_id.to_be_bytes());
    b[8..12].copy_from_slice(&ACTION_ANNOUNCE.to_be_bytes());
    b[12..16].copy_from_slice(&transaction_id.to_be_bytes());
    b[16..36].copy_from_slice(req.info_hash.as_bytes());
    b[36..56].copy_from_slice(req.peer_id.as_bytes());
    b[56..64].copy_from_slice(&req.downloaded.to_be_bytes());
    b[64..72].copy_from_slice(&req.left.to_be_bytes());
    b[72..80].copy_from_slice(&req.uploaded.to_be_bytes());
    b[80..84].copy_from_slice(&req.event.udp_code().to_be_bytes());
    // 84..88: ip = 0
    b[88..92].copy_from_slice(&req.key.to_be_bytes());
    // A wanted count above i32::MAX is meaningless; saturate rather than wrap to negative.
    let num_want: i32 = match req.numwant {
        Some(n) => i32::try_from(n).unwrap_or(i32::MAX),
        None => -1,
    };
    b[92..96].copy_from_slice(&num_want.to_be_bytes());
    b[96..98].copy_from_slice(&req.port.to_be_bytes());
    b
}

/// A decoded BEP 15 answer. The caller matches `transaction_id` against what it sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpResponse {
    /// Action 0: a connection id valid for about a minute.
    Connect {
        transaction_id: u32,
        connection_id: u64,
    },
    /// Action 1: the swarm. `interval` is the raw value; clamp with [`clamp_interval`].
    Announce {
        transaction_id: u32,
        interval: u32,
        leechers: u32,
        seeders: u32,
        peers: Vec<SocketAddr>,
    },
    /// Action 3: the tracker refused; `message` is its (lossily decoded) text.
    Error {
        transaction_id: u32,
        message: String,
    },
}

impl UdpResponse {
    /// The transaction id every answer carries.
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, TrackerError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| invalid(format!("udp packet of {} bytes too short", b.len())))
}

/// Decode one datagram from a UDP tracker. `ipv6` says whether the announce went over IPv6,
/// in which case peers are 18 bytes each (BEP 15 "IPv6" section) instead of 6.
pub fn parse_udp_response(buf: &[u8], ipv6: bool) -> Result<UdpResponse, TrackerError> {
    let action = be_u32(buf, 0)?;
    let transaction_id = be_u32(buf, 4)?;
    match action {
        ACTION_CONNECT => {
            let id = buf
                .get(8..UDP_CONNECT_RESPONSE_LEN)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| {
                    invalid(format!(
                        "udp connect response of {} bytes, expected 16",
                        buf.len()
                    ))
                })?;
            Ok(UdpResponse::Connect {
                transaction_id,
                connection_id: id,
            })
        }
        ACTION_ANNOUNCE => {
            if buf.len() < UDP_ANNOUNCE_RESPONSE_HEADER_LEN {
                return Err(invalid(format!(
                    "udp announce response of {} bytes, expected at least 20",
                    buf.len()
                )));
            }
            let interval = be_u32(buf, 8)?;
            let leechers = be_u32(buf, 12)?;
            let seeders = be_u32(buf, 16)?;
            let mut peers = Vec::new();
            let rest = &buf[UDP_ANNOUNCE_RESPONSE_HEADER_LEN..];
            if ipv6 {
                parse_compact_v6(rest, &mut peers)?;
            } else {
                parse_compact_v4(rest, &mut peers)?;
            }
            Ok(UdpResponse::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            })
        }
        ACTION_ERROR => {
            let message = String::from_utf8_lossy(&buf[8..])
                .trim_end_matches('\0')
                .to_string();
            Ok(UdpResponse::Error {
                transaction_id,
                message,
            })
        }
        other => Err(invalid(format!("unexpected udp action {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn request() -> AnnounceRequest {
        let mut ih = [0u8; 20];
        for (i, b) in ih.iter_mut().enumerate() {
            *b = (i as u8) * 13;
        }
        AnnounceRequest {
            info_hash: InfoHash(ih),
            peer_id: PeerId(*b"-FP0100-abc~.~ ef/gh"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: 3,
            event: Event::Started,
            numwant: Some(50),
            key: 0xdead_beef,
            tracker_id: None,
            ipv6: None,
        }
    }

    fn dict(pairs: Vec<(&[u8], Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }

    #[test]
    fn percent_encoding_is_bytewise() {
        let mut s = String::new();
        percent_encode_into(&mut s, b"aZ09-._~ /%\x00\xff");
        assert_eq!(s, "aZ09-._~%20%2F%25%00%FF");
    }

    #[test]
    fn announce_url_golden() {
        let url = http_announce_url("http://t.example/announce", &request());
        assert_eq!(
            url,
            "http://t.example/announce?info_hash=%00%0D%1A%274AN%5Bhu%82%8F%9C%A9%B6%C3%D0%DD%EA%F7\
             &peer_id=-FP0100-abc~.~%20ef%2Fgh&port=6881&uploaded=1&downloaded=2&left=3&compact=1\
             &event=started&numwant=50&key=deadbeef"
        );
    }

    #[test]
    fn announce_url_continues_existing_query_and_omits_none_event() {
        let mut req = request();
        req.event = Event::None;
        req.numwant = None;
        req.tracker_id = Some(b"x y".to_vec());
        req.key = 7;
        let url = http_announce_url("http://t/announce?passkey=abc", &req);
        assert!(
            url.starts_with("http://t/announce?passkey=abc&info_hash="),
            "{url}"
        );
        assert!(!url.contains("event="));
        assert!(!url.contains("numwant="));
        assert!(
            url.ends_with("&compact=1&key=00000007&trackerid=x%20y"),
            "{url}"
        );
        let url = http_announce_url("http://t/announce?", &req);
        assert!(url.starts_with("http://t/announce?info_hash="), "{url}");
        req.ipv6 = Some("2001:db8::7".parse().unwrap());
        let url = http_announce_url("http://t/announce", &req);
        assert!(
            url.ends_with("&trackerid=x%20y&ipv6=2001%3Adb8%3A%3A7"),
            "{url}"
        );
        for (ev, word) in [(Event::Completed, "completed"), (Event::Stopped, "stopped")] {
            req.event = ev;
            assert!(http_announce_url("http://t/a", &req).contains(&format!("&event={word}&")));
        }
    }

    /// The three real compact responses captured by the codecrafters course, with their
    /// expected peers. Paths resolve from the crate root both here and in the main crate.
    #[test]
    fn real_compact_responses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracker/");
        let cases: [(&str, &[&str]); 3] = [
            (
                "response.txt",
                &[
                    "188.119.61.177:6881",
                    "71.224.0.29:51414",
                    "62.153.208.98:3652",
                    "37.48.74.20:44697",
                    "82.149.227.229:6890",
                    "195.90.215.221:45682",
                    "66.55.206.70:60000",
                    "69.53.20.159:60000",
                    "216.195.129.27:60000",
                ],
            ),
            (
                "response1.txt",
                &[
                    "106.72.196.0:41485",
                    "188.119.61.177:6881",
                    "2.7.245.20:51413",
                    "71.224.0.29:51414",
                    "37.48.74.20:44697",
                    "82.149.227.229:6890",
                    "72.175.28.2:58966",
                    "45.67.229.74:60007",
                    "195.90.215.221:45682",
                    "66.55.206.70:60000",
                    "69.53.20.159:60000",
                    "216.195.129.27:60000",
                ],
            ),
            (
                "response2.txt",
                &[
                    "188.119.61.177:6881",
                    "185.107.13.235:54542",
                    "88.99.2.101:6881",
                ],
            ),
        ];
        for (file, expected) in cases {
            let body = std::fs::read(format!("{dir}{file}")).unwrap();
            let resp = parse_http_response(&body).unwrap();
            let got: Vec<String> = resp.peers.iter().map(ToString::to_string).collect();
            assert_eq!(got, expected, "{file}");
            assert!(resp.interval > 0 && resp.min_interval.is_some());
            assert!(resp.complete.is_some() && resp.incomplete.is_some());
        }
        let body = std::fs::read(format!("{dir}response2.txt")).unwrap();
        let resp = parse_http_response(&body).unwrap();
        assert_eq!((resp.interval, resp.min_interval), (1921, Some(960)));
        assert_eq!((resp.complete, resp.incomplete), (Some(2), Some(1)));
    }

    #[test]
    fn failure_reason_wins() {
        let body = bencode::encode(&dict(vec![(
            b"failure reason",
            bytes(b"unregistered torrent"),
        )]));
        assert_eq!(
            parse_http_response(&body),
            Err(TrackerError::Failure("unregistered torrent".into()))
        );
        // Even alongside an interval and peers.
        let body = bencode::encode(&dict(vec![
            (b"failure reason", bytes(b"nope")),
            (b"interval", Value::Int(10)),
        ]));
        assert_eq!(
            parse_http_response(&body),
            Err(TrackerError::Failure("nope".into()))
        );
    }

    #[test]
    fn full_response_with_dict_peers_and_peers6() {
        let mut v6 = vec![0u8; 16];
        v6[15] = 1;
        v6.extend_from_slice(&51413u16.to_be_bytes());
        v6.extend_from_slice(&[0u8; 18]); // port 0: skipped
        let peer = |ip: &[u8], port: i64| {
            dict(vec![
                (b"ip", bytes(ip)),
                (b"port", Value::Int(port)),
                (b"peer id", bytes(&[1; 20])),
            ])
        };
        let body = bencode::encode(&dict(vec![
            (b"interval", Value::Int(900)),
            (b"min interval", Value::Int(60)),
            (b"tracker id", bytes(b"tid\x00")),
            (b"warning message", bytes(b"be nice")),
            (b"complete", Value::Int(5)),
            (b"incomplete", Value::Int(-3)),
            (
                b"peers",
                Value::List(vec![
                    peer(b"10.0.0.1", 6881),
                    peer(b"::1", 7000),
                    peer(b"tracker.example", 6881), // DNS name: skipped
                    peer(b"10.0.0.2", 0),           // port 0: skipped
                    peer(b"10.0.0.3", 70000),       // out of range: skipped
                ]),
            ),
            (b"peers6", Value::Bytes(v6)),
        ]));
        let resp = parse_http_response(&body).unwrap();
        assert_eq!(
            resp,
            AnnounceResponse {
                interval: 900,
                min_interval: Some(60),
                tracker_id: Some(b"tid\x00".to_vec()),
                complete: Some(5),
                incomplete: Some(0),
                peers: vec![
                    "10.0.0.1:6881".parse().unwrap(),
                    "[::1]:7000".parse().unwrap(),
                    "[::1]:51413".parse().unwrap(),
                ],
                warning: Some("be nice".into()),
            }
        );
    }

    #[test]
    fn bad_responses() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::List(vec![]), "not a dictionary"),
            (dict(vec![(b"peers", bytes(b""))]), "missing interval"),
            (
                dict(vec![(b"interval", bytes(b"10"))]),
                "interval is not an integer",
            ),
            (
                dict(vec![
                    (b"interval", Value::Int(10)),
                    (b"peers", bytes(&[1; 7])),
                ]),
                "7 bytes is not a multiple of 6",
            ),
            (
                dict(vec![
                    (b"interval", Value::Int(10)),
                    (b"peers6", bytes(&[1; 6])),
                ]),
                "multiple of 18",
            ),
            (
                dict(vec![
                    (b"interval", Value::Int(10)),
                    (b"peers", Value::Int(1)),
                ]),
                "neither",
            ),
            (
                dict(vec![
                    (b"interval", Value::Int(10)),
                    (b"peers", Value::List(vec![Value::Int(1)])),
                ]),
                "entry",
            ),
        ];
        for (v, want) in cases {
            match parse_http_response(&bencode::encode(&v)) {
                Err(TrackerError::Invalid(msg)) => {
                    assert!(msg.contains(want), "{msg:?} vs {want:?}")
                }
                other => panic!("expected Invalid({want}), got {other:?}"),
            }
        }
        assert!(matches!(
            parse_http_response(b"<html>502</html>"),
            Err(TrackerError::Invalid(_))
        ));
        assert!(matches!(
            parse_http_response(b""),
            Err(TrackerError::Invalid(_))
        ));
    }

    #[test]
    fn intervals_are_clamped() {
        let body = |i: i64| {
            bencode::encode(&dict(vec![
                (b"interval", Value::Int(i)),
                (b"min interval", Value::Int(i)),
            ]))
        };
        let r = parse_http_response(&body(0)).unwrap();
        assert_eq!(
            (r.interval, r.min_interval),
            (MIN_INTERVAL_SECS, Some(MIN_INTERVAL_SECS))
        );
        let r = parse_http_response(&body(-5)).unwrap();
        assert_eq!(r.interval, MIN_INTERVAL_SECS);
        let r = parse_http_response(&body(i64::MAX)).unwrap();
        assert_eq!(
            (r.interval, r.min_interval),
            (MAX_INTERVAL_SECS, Some(MAX_INTERVAL_SECS))
        );
        assert!(r.peers.is_empty());
    }

    #[test]
    fn udp_connect_golden() {
        assert_eq!(
            udp_connect_request(0x0102_0304),
            [
                0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4
            ]
        );
    }

    #[test]
    fn udp_announce_golden() {
        let req = request();
        let b = udp_announce_request(0x1122_3344_5566_7788, 0xaabb_ccdd, &req);
        let mut want = Vec::new();
        want.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(&[0xaa, 0xbb, 0xcc, 0xdd]);
        want.extend_from_slice(req.info_hash.as_bytes());
        want.extend_from_slice(req.peer_id.as_bytes());
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]); // downloaded
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]); // left
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // uploaded
        want.extend_from_slice(&[0, 0, 0, 2]); // started
        want.extend_from_slice(&[0, 0, 0, 0]); // ip
        want.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]); // key
        want.extend_from_slice(&[0, 0, 0, 50]); // num_want
        want.extend_from_slice(&[0x1a, 0xe1]); // 6881
        assert_eq!(b.as_slice(), want.as_slice());

        let mut req = req;
        req.numwant = None;
        for (ev, code) in [
            (Event::None, 0u8),
            (Event::Completed, 1),
            (Event::Started, 2),
            (Event::Stopped, 3),
        ] {
            req.event = ev;
            let b = udp_announce_request(0, 0, &req);
            assert_eq!(&b[80..84], &[0, 0, 0, code]);
            assert_eq!(&b[92..96], &[0xff; 4]);
        }
    }

    #[test]
    fn udp_responses() {
        let mut c = vec![0, 0, 0, 0, 0, 0, 0, 9];
        c.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
        assert_eq!(
            parse_udp_response(&c, false),
            Ok(UdpResponse::Connect {
                transaction_id: 9,
                connection_id: 0x0123_4567_89ab_cdef
            })
        );

        let mut a = vec![0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3];
        a.extend_from_slice(&[127, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 1, 0, 0]);
        let r = parse_udp_response(&a, false).unwrap();
        assert_eq!(
            r,
            UdpResponse::Announce {
                transaction_id: 7,
                interval: 1800,
                leechers: 2,
                seeders: 3,
                peers: vec!["127.0.0.1:6881".parse().unwrap()],
            }
        );
        assert_eq!(r.transaction_id(), 7);
        // Same 12 peer bytes read as IPv6 is not a multiple of 18.
        assert!(matches!(
            parse_udp_response(&a, true),
            Err(TrackerError::Invalid(_))
        ));
        let mut a6 = a[..20].to_vec();
        a6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        a6.extend_from_slice(&[0x1a, 0xe1]);
        match parse_udp_response(&a6, true).unwrap() {
            UdpResponse::Announce { peers, .. } => {
                assert_eq!(peers, vec!["[::1]:6881".parse().unwrap()])
            }
            other => panic!("{other:?}"),
        }

        let mut e = vec![0, 0, 0, 3, 0, 0, 0, 5];
        e.extend_from_slice(b"torrent not found\0");
        assert_eq!(
            parse_udp_response(&e, false),
            Ok(UdpResponse::Error {
                transaction_id: 5,
                message: "torrent not found".into()
            })
        );
    }

    #[test]
    fn udp_short_and_unknown() {
        for n in 0..8 {
            assert!(matches!(
                parse_udp_response(&[0; 8][..n], false),
                Err(TrackerError::Invalid(_))
            ));
        }
        assert!(parse_udp_response(&[0; 15], false).is_err()); // connect needs 16
        assert!(parse_udp_response(&[0, 0, 0, 1, 0, 0, 0, 0, 0], false).is_err()); // announce needs 20
        assert!(parse_udp_response(&[0, 0, 0, 2, 0, 0, 0, 0], false).is_err()); // scrape unsupported
        assert!(parse_udp_response(&[0, 0, 0, 9, 0, 0, 0, 0], false).is_err());
        assert_eq!(
            parse_udp_response(&[0, 0, 0, 3, 0, 0, 0, 1], false),
            Ok(UdpResponse::Error {
                transaction_id: 1,
                message: String::new()
            })
        );
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn http_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = parse_http_response(&body);
            }

            /// Random bytes rarely form bencode; also try bodies that are valid dictionaries
            /// with random `peers`/`peers6` strings and interval values.
            #[test]
            fn http_parser_handles_random_fields(
                peers in proptest::collection::vec(any::<u8>(), 0..200),
                peers6 in proptest::collection::vec(any::<u8>(), 0..200),
                interval in any::<i64>(),
                cut in 0usize..400,
            ) {
                let mut body = format!("d8:intervali{interval}e5:peers{}:", peers.len()).into_bytes();
                body.extend_from_slice(&peers);
                body.extend_from_slice(format!("6:peers6{}:", peers6.len()).as_bytes());
                body.extend_from_slice(&peers6);
                body.push(b'e');
                let full = parse_http_response(&body);
                if peers.len().is_multiple_of(6) && peers6.len().is_multiple_of(18) {
                    let r = full.unwrap();
                    prop_assert!(r.interval >= MIN_INTERVAL_SECS && r.interval <= MAX_INTERVAL_SECS);
                } else {
                    prop_assert!(full.is_err());
                }
                let _ = parse_http_response(&body[..cut.min(body.len())]);
            }

            /// Mutations of a real tracker answer: flipped bytes and truncations.
            #[test]
            fn http_parser_survives_mutated_real_response(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
                cut in any::<usize>(),
            ) {
                let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tracker/response1.txt");
                let mut body = std::fs::read(path).unwrap();
                for (at, byte) in edits {
                    let i = at % body.len();
                    body[i] = byte;
                }
                body.truncate(cut % (body.len() + 1));
                let _ = parse_http_response(&body);
            }

            #[test]
            fn udp_parser_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..256), v6 in any::<bool>()) {
                let _ = parse_udp_response(&buf, v6);
            }

            #[test]
            fn udp_announce_peer_count(action_ok in any::<bool>(), n in 0usize..40, extra in 0usize..6) {
                let mut buf = vec![0, 0, 0, u8::from(action_ok), 0, 0, 0, 1];
                buf.extend_from_slice(&[0; 12]);
                buf.extend(std::iter::repeat_n(1u8, n * 6 + extra));
                let r = parse_udp_response(&buf, false);
                if !action_ok {
                    let is_connect = matches!(r, Ok(UdpResponse::Connect { .. }));
                    prop_assert!(is_connect);
                } else if extra == 0 {
                    let count = match r {
                        Ok(UdpResponse::Announce { ref peers, .. }) => Some(peers.len()),
                        _ => None,
                    };
                    prop_assert_eq!(count, Some(n));
                } else {
                    prop_assert!(r.is_err());
                }
            }
        }
    }
}
