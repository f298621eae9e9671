//! Torrents as the tests see them: a minimal bencode parser that keeps each value's span (so
//! the info hash is the SHA-1 of the bytes as they stand in the file), what the tests need to
//! know about a v1 torrent, and magnet links.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing

use std::fs;
use std::io::Read;
use std::path::Path;

use super::{hex, sha1_bytes};

/// A bencoded value; byte strings stay bytes. `Dict` keeps the raw span of each value so the
/// info hash is the SHA-1 of the bytes as they appear in the file.
#[derive(Debug, Clone)]
pub enum Bencode {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    Dict(Vec<(Vec<u8>, Bencode, std::ops::Range<usize>)>),
}

impl Bencode {
    pub fn parse(data: &[u8]) -> Bencode {
        let (v, end) = Self::parse_at(data, 0);
        assert_eq!(end, data.len(), "trailing bytes after bencode value");
        v
    }

    fn parse_at(d: &[u8], i: usize) -> (Bencode, usize) {
        match d[i] {
            b'i' => {
                let end = i + d[i..].iter().position(|&c| c == b'e').expect("int end");
                let n = std::str::from_utf8(&d[i + 1..end])
                    .expect("int utf8")
                    .parse()
                    .expect("int");
                (Bencode::Int(n), end + 1)
            }
            b'l' => {
                let mut j = i + 1;
                let mut items = Vec::new();
                while d[j] != b'e' {
                    let (v, next) = Self::parse_at(d, j);
                    items.push(v);
                    j = next;
                }
                (Bencode::List(items), j + 1)
            }
            b'd' => {
                let mut j = i + 1;
                let mut items = Vec::new();
                while d[j] != b'e' {
                    let (k, next) = Self::parse_at(d, j);
                    let Bencode::Bytes(k) = k else {
                        panic!("dict key is not a string")
                    };
                    let (v, end) = Self::parse_at(d, next);
                    items.push((k, v, next..end));
                    j = end;
                }
                (Bencode::Dict(items), j + 1)
            }
            b'0'..=b'9' => {
                let colon = i + d[i..]
                    .iter()
                    .position(|&c| c == b':')
                    .expect("string colon");
                let n: usize = std::str::from_utf8(&d[i..colon])
                    .expect("len utf8")
                    .parse()
                    .expect("len");
                (
                    Bencode::Bytes(d[colon + 1..colon + 1 + n].to_vec()),
                    colon + 1 + n,
                )
            }
            c => panic!("bad bencode byte {c:#x} at {i}"),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Bencode> {
        match self {
            Bencode::Dict(items) => items
                .iter()
                .find(|(k, _, _)| k == key.as_bytes())
                .map(|(_, v, _)| v),
            _ => None,
        }
    }

    pub fn span(&self, key: &str) -> Option<std::ops::Range<usize>> {
        match self {
            Bencode::Dict(items) => items
                .iter()
                .find(|(k, _, _)| k == key.as_bytes())
                .map(|(_, _, r)| r.clone()),
            _ => None,
        }
    }

    pub fn int(&self) -> i64 {
        match self {
            Bencode::Int(n) => *n,
            other => panic!("expected int, got {other:?}"),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            Bencode::Bytes(b) => b,
            other => panic!("expected string, got {other:?}"),
        }
    }

    pub fn str(&self) -> String {
        String::from_utf8(self.bytes().to_vec()).expect("utf8 string")
    }

    pub fn list(&self) -> &[Bencode] {
        match self {
            Bencode::List(l) => l,
            other => panic!("expected list, got {other:?}"),
        }
    }
}

/// How [`TorrentMeta::files`] marks a pad file (BEP 47): zeros, never on disk.
pub const PAD_PREFIX: &str = "<pad>";

/// What the tests need to know about a v1 torrent.
#[derive(Debug, Clone)]
pub struct TorrentMeta {
    pub info_hash: [u8; 20],
    pub announce: Option<String>,
    pub name: String,
    pub piece_length: u64,
    pub pieces: Vec<[u8; 20]>,
    /// In torrent order; paths relative to the save path, i.e. starting with `name` for
    /// multi-file torrents (and equal to `name` for single-file ones).
    pub files: Vec<(String, u64)>,
    pub multi_file: bool,
}

impl TorrentMeta {
    pub fn read(path: &Path) -> TorrentMeta {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
        let root = Bencode::parse(&data);
        let span = root.span("info").expect("info dict");
        let info = root.get("info").expect("info");
        let name = info.get("name").expect("name").str();
        let piece_length = info.get("piece length").expect("piece length").int() as u64;
        let pieces_raw = info.get("pieces").expect("pieces").bytes();
        assert_eq!(pieces_raw.len() % 20, 0, "pieces length");
        let pieces = pieces_raw
            .chunks(20)
            .map(|c| c.try_into().expect("20"))
            .collect();
        let (files, multi_file) = match info.get("files") {
            Some(list) => {
                let files = list
                    .list()
                    .iter()
                    .map(|f| {
                        let parts: Vec<String> = f
                            .get("path")
                            .expect("path")
                            .list()
                            .iter()
                            .map(Bencode::str)
                            .collect();
                        // a BEP 47 pad file (hybrid torrents) stays in the list: the pieces
                        // span it; its bytes are zeros that are never on disk
                        let pad = f.get("attr").is_some_and(|a| a.str().contains('p'));
                        let prefix = if pad { PAD_PREFIX } else { "" };
                        (
                            format!("{prefix}{name}/{}", parts.join("/")),
                            f.get("length").expect("length").int() as u64,
                        )
                    })
                    .collect();
                (files, true)
            }
            None => (
                vec![(
                    name.clone(),
                    info.get("length").expect("length").int() as u64,
                )],
                false,
            ),
        };
        TorrentMeta {
            info_hash: sha1_bytes(&data[span]),
            announce: root.get("announce").map(Bencode::str),
            name,
            piece_length,
            pieces,
            files,
            multi_file,
        }
    }

    pub fn info_hash_hex(&self) -> String {
        hex(&self.info_hash)
    }

    pub fn total_length(&self) -> u64 {
        self.files.iter().map(|(_, l)| l).sum()
    }

    pub fn num_pieces(&self) -> usize {
        self.pieces.len()
    }

    pub fn piece_size(&self, index: usize) -> u64 {
        let start = index as u64 * self.piece_length;
        (self.total_length() - start).min(self.piece_length)
    }

    /// Reads piece `index` from the files under `save_path`.
    pub fn read_piece(&self, save_path: &Path, index: usize) -> Vec<u8> {
        let start = index as u64 * self.piece_length;
        let end = start + self.piece_size(index);
        let mut out = Vec::with_capacity((end - start) as usize);
        let mut file_start = 0u64;
        for (rel, len) in &self.files {
            let file_end = file_start + len;
            if file_end > start && file_start < end {
                let from = start.max(file_start) - file_start;
                let to = end.min(file_end) - file_start;
                if rel.starts_with(PAD_PREFIX) {
                    out.resize(out.len() + (to - from) as usize, 0);
                    file_start = file_end;
                    continue;
                }
                let mut f = fs::File::open(save_path.join(rel)).expect("open content file");
                std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from)).expect("seek");
                let mut buf = vec![0u8; (to - from) as usize];
                f.read_exact(&mut buf).expect("read content file");
                out.extend_from_slice(&buf);
            }
            file_start = file_end;
        }
        out
    }

    /// Asserts that `got` is piece `index`: its length, its SHA-1, and the bytes of the
    /// content under `save_path`.
    pub fn assert_piece(&self, save_path: &Path, index: usize, got: &[u8]) {
        assert_eq!(
            got.len() as u64,
            self.piece_size(index),
            "length of piece {index}"
        );
        assert_eq!(
            sha1_bytes(got),
            self.pieces[index],
            "SHA-1 of piece {index}"
        );
        assert_eq!(
            got,
            self.read_piece(save_path, index),
            "bytes of piece {index}"
        );
    }

    /// Indices of the pieces whose data under `save_path` does not match the torrent.
    pub fn bad_pieces(&self, save_path: &Path) -> Vec<usize> {
        (0..self.num_pieces())
            .filter(|&i| sha1_bytes(&self.read_piece(save_path, i)) != self.pieces[i])
            .collect()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `magnet:?xt=urn:btih:HASH[&dn=NAME][&tr=URL]...[&x.pe=IP:PORT]...`, values percent-encoded
/// (`:` kept in `x.pe`: RFC 3986 allows it in a query, and libtorrent 2.0.8 does not
/// percent-decode `x.pe`).
pub fn magnet(hash_hex: &str, name: Option<&str>, trackers: &[String], peers: &[String]) -> String {
    let mut m = format!("magnet:?xt=urn:btih:{hash_hex}");
    if let Some(n) = name {
        m.push_str(&format!("&dn={}", pct(n)));
    }
    for t in trackers {
        m.push_str(&format!("&tr={}", pct(t)));
    }
    for p in peers {
        m.push_str(&format!("&x.pe={}", pct(p).replace("%3A", ":")));
    }
    m
}

/// The bencoded info dictionary of a torrent file, as it stands in the file.
pub fn info_dict_bytes(torrent: &Path) -> Vec<u8> {
    let data = fs::read(torrent).unwrap_or_else(|e| panic!("read {torrent:?}: {e}"));
    let span = Bencode::parse(&data).span("info").expect("info dict");
    data[span].to_vec()
}
