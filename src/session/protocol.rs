//! The control protocol between the CLI and the running instance: one JSON object per line
//! each way, a request and its response (version [`VERSION`]).
//!
//! Requests: `{"v":1,"cmd":"add","sources":[{"torrent":"<hex of the .torrent>"} |
//! {"magnet":"magnet:?..."}],"dir":"/abs/path"|null,"paused":false}`, `{"v":1,"cmd":"status"}`,
//! `{"v":1,"cmd":"pause"|"resume","hashes":["<hash or unique prefix>"]}`,
//! `{"v":1,"cmd":"remove","hashes":[...],"delete_data":false}`,
//! `{"v":1,"cmd":"peer_pieces","hash":"<hash or prefix>","addr":"1.2.3.4:6881"}` (the pieces a
//! connected peer has, answered as `"peer_pieces":{"pieces":N,"bits":"<hex>"}`: its BEP 3
//! bitfield, bit 7 of the first byte is piece 0).
//! `{"v":1,"cmd":"watch"}` turns the connection into the engine's event stream: after the
//! `{"ok":true}` response, every line the instance sends is one
//! [`EngineEvent`](crate::engine::event::EngineEvent) in serde's JSON form
//! (`{"TorrentAdded":{...}}`, `{"Snapshot":{...}}`): first the torrents as they are now, then
//! what happens, with a picture a few times a second. A dashboard attaches this way.
//! Responses: `{"ok":true,...}` with the command's fields, or `{"ok":false,"error":"..."}`.
//! A request line longer than [`MAX_REQUEST`] or that does not parse gets an error response;
//! nothing a client sends can stop the instance.

use crate::engine::queue::QueueLimits;
use crate::engine::settings::{FileSelection, GlobalLimits, TorrentSettings};
use crate::proto::bitfield::Bitfield;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const VERSION: u32 = 1;
/// Longest request line accepted: a .torrent of 10 MiB (libtorrent's limit) in hex, and room.
pub const MAX_REQUEST: usize = 24 * 1024 * 1024;

/// A torrent to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddSource {
    /// The .torrent file's bytes, hex-encoded.
    Torrent(String),
    /// A magnet link.
    Magnet(String),
}

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    Add {
        sources: Vec<AddSource>,
        /// Save folder (absolute); `None`: the configured download folder.
        #[serde(default)]
        dir: Option<String>,
        #[serde(default)]
        paused: bool,
        /// A magnet stops once its metadata is known.
        #[serde(default)]
        pause_after_metadata: bool,
        /// Files, order and limits.
        #[serde(default)]
        settings: TorrentSettings,
    },
    Status,
    Pause {
        hashes: Vec<String>,
    },
    Resume {
        hashes: Vec<String>,
    },
    Remove {
        hashes: Vec<String>,
        #[serde(default)]
        delete_data: bool,
    },
    /// Stream the engine's events on this connection from now on.
    Watch,
    /// Change torrents' settings: only what `change` names.
    Set {
        hashes: Vec<String>,
        change: SettingsChange,
    },
    /// Change the engine-wide limits and the queue: only what `change` names. Lasts until
    /// the instance stops (the config file holds the lasting values).
    Limits {
        change: LimitsChange,
    },
    /// Move a torrent in the queue.
    Queue {
        hash: String,
        to: QueueMove,
    },
    /// The pieces a connected peer of a torrent has (the dashboard's piece map shows them).
    PeerPieces {
        hash: String,
        addr: std::net::SocketAddr,
    },
}

/// A change to a torrent's settings; `None` leaves a setting as it is. For the limits, 0
/// means "none" (no limit of its own).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsChange {
    #[serde(default)]
    pub files: Option<FileSelection>,
    #[serde(default)]
    pub sequential: Option<bool>,
    #[serde(default)]
    pub first_last: Option<bool>,
    /// Bytes per second.
    #[serde(default)]
    pub download_limit: Option<u64>,
    #[serde(default)]
    pub upload_limit: Option<u64>,
    #[serde(default)]
    pub max_peers: Option<usize>,
    #[serde(default)]
    pub seed_ratio: Option<f64>,
    #[serde(default)]
    pub seed_time_secs: Option<u64>,
}

impl SettingsChange {
    /// `s` with this change applied.
    pub fn apply(&self, mut s: TorrentSettings) -> TorrentSettings {
        let limit = |v: u64| (v > 0).then_some(v);
        if let Some(f) = &self.files {
            s.wants.files = f.clone();
        }
        if let Some(v) = self.sequential {
            s.wants.sequential = v;
        }
        if let Some(v) = self.first_last {
            s.wants.first_last = v;
        }
        if let Some(v) = self.download_limit {
            s.limits.download = limit(v);
        }
        if let Some(v) = self.upload_limit {
            s.limits.upload = limit(v);
        }
        if let Some(v) = self.max_peers {
            s.limits.max_peers = (v > 0).then_some(v);
        }
        if let Some(v) = self.seed_ratio {
            s.limits.seed_ratio = (v > 0.0).then_some(v);
        }
        if let Some(v) = self.seed_time_secs {
            s.limits.seed_time_secs = limit(v);
        }
        s
    }
}

/// A change to the engine-wide limits and the queue; `None` leaves a value as it is, 0 means
/// "no limit".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LimitsChange {
    #[serde(default)]
    pub download_limit: Option<u64>,
    #[serde(default)]
    pub upload_limit: Option<u64>,
    #[serde(default)]
    pub max_connections: Option<usize>,
    #[serde(default)]
    pub max_active_downloads: Option<usize>,
    #[serde(default)]
    pub max_active_seeds: Option<usize>,
    #[serde(default)]
    pub seed_ratio: Option<f64>,
    #[serde(default)]
    pub seed_time_secs: Option<u64>,
}

impl LimitsChange {
    /// The limits with this change applied.
    pub fn apply(&self, mut g: GlobalLimits, mut q: QueueLimits) -> (GlobalLimits, QueueLimits) {
        let limit = |v: u64| (v > 0).then_some(v);
        let count = |v: usize| (v > 0).then_some(v);
        if let Some(v) = self.download_limit {
            g.download = limit(v);
        }
        if let Some(v) = self.upload_limit {
            g.upload = limit(v);
        }
        if let Some(v) = self.max_connections {
            g.max_connections = count(v);
        }
        if let Some(v) = self.max_active_downloads {
            q.max_active_downloads = count(v);
        }
        if let Some(v) = self.max_active_seeds {
            q.max_active_seeds = count(v);
        }
        if let Some(v) = self.seed_ratio {
            q.seed_ratio = (v > 0.0).then_some(v);
        }
        if let Some(v) = self.seed_time_secs {
            q.seed_time = limit(v).map(std::time::Duration::from_secs);
        }
        (g, q)
    }
}

/// Where a torrent moves in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueMove {
    Up,
    Down,
    Top,
    Bottom,
}

impl std::str::FromStr for QueueMove {
    type Err = String;
    fn from_str(s: &str) -> Result<QueueMove, String> {
        match s {
            "up" => Ok(QueueMove::Up),
            "down" => Ok(QueueMove::Down),
            "top" => Ok(QueueMove::Top),
            "bottom" => Ok(QueueMove::Bottom),
            _ => Err(format!("{s:?}: up, down, top or bottom")),
        }
    }
}

impl QueueMove {
    /// `order` with `item` moved; an item not in it is left out of the answer.
    pub fn apply<T: PartialEq + Copy>(self, order: &[T], item: T) -> Vec<T> {
        let mut v = order.to_vec();
        let Some(i) = v.iter().position(|x| *x == item) else {
            return v;
        };
        let x = v.remove(i);
        let to = match self {
            QueueMove::Up => i.saturating_sub(1),
            QueueMove::Down => (i + 1).min(v.len()),
            QueueMove::Top => 0,
            QueueMove::Bottom => v.len(),
        };
        v.insert(to, x);
        v
    }
}

/// A request: the version and the command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub v: u32,
    #[serde(flatten)]
    pub command: Command,
}

/// One torrent in `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorrentStatus {
    pub info_hash: String,
    pub name: String,
    /// `metadata`, `checking`, `queued`, `downloading`, `seeding`, `paused` or `error`.
    pub state: String,
    /// 0..1.
    pub progress: f64,
    /// Bytes (0 until a magnet's metadata arrived).
    pub size: u64,
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes per second.
    pub down_rate: f64,
    pub up_rate: f64,
    /// Connected peers.
    pub peers: usize,
    pub save_path: String,
    pub error: Option<String>,
    /// The bottleneck verdict, `bottleneck: ...` (see [`crate::engine::bottleneck`]); empty
    /// before the engine's first picture of the torrent.
    #[serde(default)]
    pub bottleneck: String,
}

/// One torrent `add` took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    pub info_hash: String,
    pub name: String,
}

/// The instance's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<Added>,
    /// Per source or hash that failed: why (the others were done).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torrents: Option<Vec<TorrentStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_pieces: Option<PeerPieces>,
}

/// A peer's pieces, as `peer_pieces` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerPieces {
    /// The torrent's piece count (the bitfield's length in bits).
    pub pieces: u32,
    /// The BEP 3 bitfield in hex: bit 7 of byte 0 is piece 0, spare bits zero.
    pub bits: String,
}

impl PeerPieces {
    pub fn new(bits: &Bitfield) -> PeerPieces {
        PeerPieces {
            pieces: bits.len(),
            bits: to_hex(bits.as_bytes()),
        }
    }

    /// The bitfield, or why it is not one.
    pub fn bitfield(&self) -> Result<Bitfield, String> {
        let bytes = from_hex(&self.bits).ok_or("the bitfield is not hex")?;
        Bitfield::from_bytes(&bytes, self.pieces).map_err(|e| e.to_string())
    }
}

impl Response {
    pub fn ok() -> Response {
        Response {
            ok: true,
            error: None,
            added: Vec::new(),
            errors: Vec::new(),
            torrents: None,
            peer_pieces: None,
        }
    }

    pub fn error(message: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(message.into()),
            ..Response::ok()
        }
    }
}

/// Parse one request line; a line that is not a request of this version is an error message
/// for the response.
pub fn parse_request(line: &[u8]) -> Result<Command, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!(
            "request of {} bytes (limit {MAX_REQUEST})",
            line.len()
        ));
    }
    // the version first, so a newer client gets a clear answer even if its commands differ
    #[derive(Deserialize)]
    struct Versioned {
        v: Option<u32>,
    }
    let v: Versioned =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON request: {e}"))?;
    match v.v {
        Some(VERSION) => {}
        Some(other) => {
            return Err(format!(
                "protocol version {other} not supported (this instance speaks {VERSION})"
            ));
        }
        None => return Err("request without a protocol version `v`".into()),
    }
    serde_json::from_slice::<Request>(line)
        .map(|r| r.command)
        .map_err(|e| format!("bad request: {e}"))
}

/// Hex of bytes (a .torrent inside JSON).
pub fn to_hex(bytes: &[u8]) -> String {
    crate::proto::id::to_hex(bytes)
}

/// Bytes of hex, or `None` when it is not hex.
pub use crate::proto::serial::from_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Command::Add {
                sources: vec![
                    AddSource::Torrent(to_hex(b"d4:infodee")),
                    AddSource::Magnet("magnet:?xt=urn:btih:00".into()),
                ],
                dir: Some("/srv".into()),
                paused: true,
                pause_after_metadata: true,
                settings: TorrentSettings::default(),
            },
            Command::Status,
            Command::Pause {
                hashes: vec!["ab".into()],
            },
            Command::Remove {
                hashes: vec!["ab".into()],
                delete_data: true,
            },
            Command::Watch,
            Command::Set {
                hashes: vec!["ab".into()],
                change: SettingsChange {
                    files: Some(FileSelection::Globs {
                        only: vec!["*.mkv".into()],
                        exclude: vec![],
                    }),
                    download_limit: Some(0),
                    seed_ratio: Some(1.5),
                    ..SettingsChange::default()
                },
            },
            Command::Limits {
                change: LimitsChange {
                    max_active_downloads: Some(3),
                    ..LimitsChange::default()
                },
            },
            Command::Queue {
                hash: "ab".into(),
                to: QueueMove::Top,
            },
            Command::PeerPieces {
                hash: "ab".into(),
                addr: "127.0.0.1:6881".parse().unwrap(),
            },
        ];
        for command in reqs {
            let line = serde_json::to_vec(&Request {
                v: VERSION,
                command: command.clone(),
            })
            .unwrap();
            assert_eq!(parse_request(&line).unwrap(), command);
        }
        assert_eq!(
            parse_request(br#"{"v":1,"cmd":"add","sources":[]}"#).unwrap(),
            Command::Add {
                sources: vec![],
                dir: None,
                paused: false,
                pause_after_metadata: false,
                settings: TorrentSettings::default(),
            }
        );
    }

    #[test]
    fn garbage_and_other_versions_get_an_error_message() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "not a JSON request"),
            (b"\xff\xfe", "not a JSON request"),
            (br#"{"cmd":"status"}"#, "without a protocol version"),
            (br#"{"v":2,"cmd":"status"}"#, "version 2 not supported"),
            (br#"{"v":1,"cmd":"explode"}"#, "bad request"),
            (br#"{"v":1,"cmd":"pause","hashes":7}"#, "bad request"),
        ];
        for (line, want) in cases {
            let e = parse_request(line).unwrap_err();
            assert!(e.contains(want), "{line:?}: {e}");
        }
        let big = vec![b' '; MAX_REQUEST + 1];
        assert!(parse_request(&big).unwrap_err().contains("limit"));
    }

    #[test]
    fn changes_touch_only_what_they_name_and_zero_means_none() {
        let mut s = TorrentSettings::default();
        s.limits.upload = Some(5);
        s.wants.sequential = true;
        let c = SettingsChange {
            download_limit: Some(1000),
            upload_limit: Some(0),
            ..SettingsChange::default()
        };
        let s = c.apply(s);
        assert_eq!((s.limits.download, s.limits.upload), (Some(1000), None));
        assert!(s.wants.sequential, "untouched");
        let (g, q) = LimitsChange {
            max_active_seeds: Some(2),
            download_limit: Some(0),
            ..LimitsChange::default()
        }
        .apply(
            GlobalLimits {
                download: Some(9),
                ..GlobalLimits::default()
            },
            QueueLimits::default(),
        );
        assert_eq!((g.download, q.max_active_seeds), (None, Some(2)));
    }

    #[test]
    fn queue_moves() {
        let o = [1, 2, 3, 4];
        assert_eq!(QueueMove::Up.apply(&o, 3), [1, 3, 2, 4]);
        assert_eq!(QueueMove::Up.apply(&o, 1), [1, 2, 3, 4]);
        assert_eq!(QueueMove::Down.apply(&o, 4), [1, 2, 3, 4]);
        assert_eq!(QueueMove::Down.apply(&o, 2), [1, 3, 2, 4]);
        assert_eq!(QueueMove::Top.apply(&o, 4), [4, 1, 2, 3]);
        assert_eq!(QueueMove::Bottom.apply(&o, 1), [2, 3, 4, 1]);
        assert_eq!(QueueMove::Top.apply(&o, 9), [1, 2, 3, 4]);
    }

    #[test]
    fn hex_round_trips_and_refuses_non_hex() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 0xfe, 0xff])),
            Some(vec![0, 1, 0xfe, 0xff])
        );
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }

    #[test]
    fn a_peers_pieces_travel_as_hex_and_come_back_whole() {
        let mut bits = Bitfield::new(11);
        for i in [0, 3, 10] {
            bits.set(i);
        }
        let r = Response {
            peer_pieces: Some(PeerPieces::new(&bits)),
            ..Response::ok()
        };
        let line = serde_json::to_string(&r).unwrap();
        assert!(
            line.contains(r#""peer_pieces":{"pieces":11,"bits":"9020"}"#),
            "{line}"
        );
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(back.peer_pieces.unwrap().bitfield().unwrap(), bits);
        // hostile answers are errors, not panics
        for (pieces, hex) in [(11, "zz20"), (11, "90"), (11, "903f"), (u32::MAX, "00")] {
            let p = PeerPieces {
                pieces,
                bits: hex.into(),
            };
            assert!(p.bitfield().is_err(), "{pieces} {hex}");
        }
    }

    #[test]
    fn an_error_response_is_one_json_line() {
        let r = serde_json::to_string(&Response::error("no such torrent")).unwrap();
        assert_eq!(r, r#"{"ok":false,"error":"no such torrent"}"#);
    }
}
