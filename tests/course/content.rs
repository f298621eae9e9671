//! The course's torrents, generated here: single-file, 256 KiB pieces, a short last piece,
//! the info dict written as the course's Go encoder writes it.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::net::SocketAddr;
use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::common::hex;

pub const PIECE_LENGTH: usize = 262_144;

/// A single-file torrent shaped like the course's: its data, raw info dict and info hash.
pub struct Content {
    pub name: String,
    pub data: Vec<u8>,
    pub info: Vec<u8>,
    pub info_hash: [u8; 20],
}

impl Content {
    pub fn new(name: &str, len: usize) -> Content {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let mut pieces = Vec::new();
        for chunk in data.chunks(PIECE_LENGTH) {
            pieces.extend_from_slice(&Sha1::digest(chunk));
        }
        // sorted keys, as the course's Go encoder writes them
        let mut info = format!(
            "d6:lengthi{len}e4:name{}:{name}12:piece lengthi{PIECE_LENGTH}e6:pieces{}:",
            name.len(),
            pieces.len()
        )
        .into_bytes();
        info.extend_from_slice(&pieces);
        info.push(b'e');
        let info_hash = Sha1::digest(&info).into();
        Content {
            name: name.into(),
            data,
            info,
            info_hash,
        }
    }

    pub fn piece(&self, index: usize) -> &[u8] {
        let start = index * PIECE_LENGTH;
        &self.data[start..(start + PIECE_LENGTH).min(self.data.len())]
    }

    pub fn piece_count(&self) -> usize {
        self.data.len().div_ceil(PIECE_LENGTH)
    }

    pub fn hex(&self) -> String {
        hex(&self.info_hash)
    }

    pub fn torrent_file(&self, dir: &std::path::Path, announce: &str) -> String {
        let mut t = format!(
            "d8:announce{}:{announce}10:created by13:mktorrent 1.14:info",
            announce.len()
        )
        .into_bytes();
        t.extend_from_slice(&self.info);
        t.push(b'e');
        let path = dir.join(format!("{}.torrent", self.name));
        std::fs::write(&path, t).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// The course's magnet form: the tracker's `host:port` is not percent-encoded.
    pub fn magnet(&self, tracker: SocketAddr) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn={}&tr=http%3A%2F%2F{tracker}%2Fannounce",
            self.hex(),
            self.name
        )
    }
}

pub fn sha1_hex(b: &[u8]) -> String {
    hex(&Sha1::digest(b))
}

pub fn magnet_content(which: usize) -> Arc<Content> {
    // the lengths of the course's magnet1.gif, magnet2.gif and magnet3.gif
    let (name, len) = [
        ("magnet1.gif", 636_505),
        ("magnet2.gif", 79_752),
        ("magnet3.gif", 629_944),
    ][which];
    Arc::new(Content::new(name, len))
}
