//! The control protocol between the CLI and the running instance: one JSON object per line
//! each way, a request and its response (version [`VERSION`]).
//!
//! Requests: `{"v":1,"cmd":"add","sources":[{"torrent":"<hex of the .torrent>"} |
//! {"magnet":"magnet:?..."}],"dir":"/abs/path"|null,"paused":false}`, `{"v":1,"cmd":"status"}`,
//! `{"v":1,"cmd":"pause"|"resume","hashes":["<hash or unique prefix>"]}`,
//! `{"v":1,"cmd":"remove","hashes":[...],"delete_data":false}`.
//! `{"v":1,"cmd":"watch"}` turns the connection into the engine's event stream: after the
//! `{"ok":true}` response, every line the instance sends is one
//! [`EngineEvent`](crate::engine::event::EngineEvent) in serde's JSON form
//! (`{"TorrentAdded":{...}}`, `{"Snapshot":{...}}`): first the torrents as they are now, then
//! what happens, with a picture a few times a second. A dashboard attaches this way.
//! Responses: `{"ok":true,...}` with the command's fields, or `{"ok":false,"error":"..."}`.
//! A request line longer than [`MAX_REQUEST`] or that does not parse gets an error response;
//! nothing a client sends can stop the instance.

use crate::engine::settings::TorrentSettings;
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
}

impl Response {
    pub fn ok() -> Response {
        Response {
            ok: true,
            error: None,
            added: Vec::new(),
            errors: Vec::new(),
            torrents: None,
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
    fn an_error_response_is_one_json_line() {
        let r = serde_json::to_string(&Response::error("no such torrent")).unwrap();
        assert_eq!(r, r#"{"ok":false,"error":"no such torrent"}"#);
    }
}
