//! The commands that only read: `decode` (bencode as JSON), `info` (a .torrent file's key
//! facts) and `magnet_parse`.

use super::{load_torrent, parse_magnet};
use crate::proto::bencode;
use crate::proto::id::to_hex;
use crate::proto::metainfo::Metainfo;
use color_eyre::Result;
use color_eyre::eyre::WrapErr;
use std::io::{Read, Write};
use std::path::Path;

/// `decode`: a bencoded value (literal, `-` for stdin, `@FILE`) as compact JSON.
pub fn decode(arg: &str) -> Result<()> {
    let bytes = if arg == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .wrap_err("read stdin")?;
        v
    } else if let Some(path) = arg.strip_prefix('@') {
        std::fs::read(path).wrap_err_with(|| format!("read {path}"))?
    } else {
        arg.as_bytes().to_vec()
    };
    let (value, used) = bencode::decode_prefix(&bytes)
        .and_then(|v| {
            v.ok_or(bencode::BencodeError::UnexpectedEof {
                offset: bytes.len(),
            })
        })
        .wrap_err("decode bencode")?;
    // like libtorrent, what follows the value is ignored; say so
    if used < bytes.len() {
        eprintln!(
            "fast-peer: ignored {} bytes after the value",
            bytes.len() - used
        );
    }
    println!("{}", bencode::to_json(&value));
    Ok(())
}

fn first_tracker(m: &Metainfo) -> String {
    m.announce
        .clone()
        .or_else(|| m.trackers().into_iter().flatten().next())
        .unwrap_or_default()
}

/// `info`: the torrent's key facts.
pub fn info(path: &Path) -> Result<()> {
    let m = load_torrent(path)?;
    std::io::stdout().write_all(format_info(&m).as_bytes())?;
    Ok(())
}

/// The `info` / `magnet_info` text: tracker, length, info hash, piece length, piece hashes,
/// then (multi-file) the name and the files.
pub fn format_info(m: &Metainfo) -> String {
    let mut out = String::new();
    out.push_str(&format!("Tracker URL: {}\n", first_tracker(m)));
    out.push_str(&format!("Length: {}\n", m.info.total_length));
    out.push_str(&format!("Info Hash: {}\n", m.info_hash));
    out.push_str(&format!("Piece Length: {}\n", m.info.piece_length));
    out.push_str("Piece Hashes:\n");
    for h in &m.info.piece_hashes {
        out.push_str(&to_hex(h));
        out.push('\n');
    }
    if m.info.is_multi_file {
        out.push_str(&format!("Name: {}\n", m.info.name));
        out.push_str(&format!("Files: {}\n", m.info.files.len()));
        for f in &m.info.files {
            out.push_str(&format!("{} {}\n", f.length, f.path.join("/")));
        }
    }
    out
}

/// `magnet_parse`: the tracker and info hash of a magnet link.
pub fn magnet_parse(uri: &str) -> Result<()> {
    let m = parse_magnet(uri)?;
    let mut out = format!(
        "Tracker URL: {}\n",
        m.trackers.first().cloned().unwrap_or_default()
    );
    out.push_str(&format!("Info Hash: {}\n", m.info_hash));
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}
