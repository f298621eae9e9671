//! The demo's content and torrent: a folder of files whose bytes can be recomputed at any
//! offset, so every run makes the same torrent and a download is checked without a second copy.
//!
//! The files sit in nested folders (a zero-length one and a name with a space among them;
//! files start and end mid-piece). Bytes come from a counter-based SplitMix64 stream seeded by
//! the file's path. The torrent is made by [`create_torrent`] from the written folder (files in
//! sorted order, [`PIECE_LENGTH`] pieces, no creation date), so the info hash is the same on
//! every run.

use super::error::{SwarmError, io_err};
use crate::engine::AddTorrent;
use crate::engine::create::{CreateOptions, FileOrder, create_torrent};
use crate::engine::storage::OutputTarget;
use crate::proto::metainfo::Metainfo;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// The torrent's name (the top folder of the content).
pub const DEMO_NAME: &str = "fast-peer-demo";
/// Piece length of the demo torrent.
pub const PIECE_LENGTH: u32 = 256 * 1024;
/// Default content size.
pub const DEFAULT_SIZE: u64 = 48 * 1024 * 1024;
/// Smallest content size accepted (smaller requests are rounded up).
pub const MIN_SIZE: u64 = 64 * 1024;

const README: &str = "fast-peer demo content\n\
\n\
Every byte of the other files comes from a SplitMix64 stream seeded by the file's path, so each\n\
run of `fast-peer demo` produces the same torrent and the download can be checked byte for byte.\n\
The swarm: an HTTP tracker and several fast-peer seeders on 127.0.0.1, one of them slow and one\n\
that corrupts a piece now and then.\n";

/// Where a demo file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Text(&'static str),
    Stream(u64),
}

/// One file of the demo content, path relative to the torrent's top folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFile {
    pub path: Vec<String>,
    pub length: u64,
    source: Source,
}

impl DemoFile {
    fn stream(path: &str, length: u64) -> DemoFile {
        // FNV-1a of the path: a stable seed per file
        let seed = path.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        DemoFile {
            path: path.split('/').map(String::from).collect(),
            length,
            source: Source::Stream(seed),
        }
    }

    /// The file's bytes at `offset..offset + buf.len()`.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        match self.source {
            Source::Text(t) => {
                let start = (offset as usize).min(t.len());
                let end = (start + buf.len()).min(t.len());
                buf[..end - start].copy_from_slice(&t.as_bytes()[start..end]);
                buf[end - start..].fill(0);
            }
            Source::Stream(seed) => {
                let (mut pos, mut i) = (offset, 0);
                while i < buf.len() {
                    let word = splitmix64(seed ^ (pos / 8).wrapping_mul(0x9e37_79b9_7f4a_7c15))
                        .to_le_bytes();
                    let skip = (pos % 8) as usize;
                    let n = (8 - skip).min(buf.len() - i);
                    buf[i..i + n].copy_from_slice(&word[skip..skip + n]);
                    i += n;
                    pos += n as u64;
                }
            }
        }
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The demo files for about `size` bytes of content, in torrent order.
pub fn demo_files(size: u64) -> Vec<DemoFile> {
    let size = size.max(MIN_SIZE);
    // (path, share of the size in per mille); the odd offsets make files end mid-piece
    let shares = [
        ("video/big buck demo.bin", 420),
        ("video/extras/trailer.bin", 180),
        ("data/set-a/part-1.bin", 150),
        ("data/set-a/part-2.bin", 120),
        ("data/set-b/deep/nested/tail.bin", 0), // the rest
    ];
    let mut files = vec![DemoFile {
        path: vec!["README.txt".into()],
        length: README.len() as u64,
        source: Source::Text(README),
    }];
    let mut used = 0;
    for (path, share) in shares {
        let length = if share == 0 {
            size - used
        } else {
            (size * share / 1000).saturating_sub(4099)
        };
        used += length;
        files.push(DemoFile::stream(path, length));
    }
    files.insert(2, DemoFile::stream("notes/empty file.txt", 0));
    files
}

/// Write `files` under `dir/DEMO_NAME/`, replacing whatever was there.
fn write_content(dir: &Path, files: &[DemoFile]) -> Result<(), SwarmError> {
    let top = dir.join(DEMO_NAME);
    if top.exists() {
        // a previous run under --dir: stray files would end up in the torrent
        std::fs::remove_dir_all(&top).map_err(io_err(format!("remove {}", top.display())))?;
    }
    let mut buf = vec![0u8; 1 << 20];
    for f in files {
        let path = f.path.iter().fold(dir.join(DEMO_NAME), |p, c| p.join(c));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(io_err(format!("create {}", parent.display())))?;
        }
        let mut out =
            std::fs::File::create(&path).map_err(io_err(format!("create {}", path.display())))?;
        let mut offset = 0;
        while offset < f.length {
            let n = (f.length - offset).min(buf.len() as u64) as usize;
            f.fill(offset, &mut buf[..n]);
            out.write_all(&buf[..n])
                .map_err(io_err(format!("write {}", path.display())))?;
            offset += n as u64;
        }
    }
    Ok(())
}

/// Write the content under `dir` and make its torrent.
pub(super) fn make_torrent(
    dir: &Path,
    files: &[DemoFile],
    announce: String,
) -> Result<(Vec<u8>, Metainfo), SwarmError> {
    write_content(dir, files)?;
    let mut opts = CreateOptions::new(dir.join(DEMO_NAME));
    opts.trackers = vec![vec![announce]];
    opts.piece_length = Some(PIECE_LENGTH);
    opts.order = FileOrder::Sorted;
    opts.comment = Some("fast-peer demo swarm (deterministic content)".into());
    let t = create_torrent(&opts, |_, _| {}).map_err(|e| SwarmError::Metainfo(e.to_string()))?;
    Ok((t.bytes, t.metainfo))
}

/// The demo torrent for an engine: data under `dir/fast-peer-demo/`, peers from the tracker;
/// `seed_only` for a seeder.
pub(super) fn add_torrent(metainfo: &Arc<Metainfo>, dir: &Path, seed_only: bool) -> AddTorrent {
    AddTorrent {
        metainfo: metainfo.clone(),
        target: OutputTarget::Dir(dir.to_path_buf()),
        peers: Vec::new(),
        wanted_pieces: None,
        use_trackers: true,
        seed_only,
        settings: Default::default(),
    }
}

/// Compare the files under `target` with the demo content, byte for byte.
pub(super) fn verify_files(files: &[DemoFile], target: &Path) -> Result<(), SwarmError> {
    let mut want = vec![0u8; 1 << 20];
    let mut got = vec![0u8; 1 << 20];
    for f in files {
        let path = f.path.iter().fold(target.join(DEMO_NAME), |p, c| p.join(c));
        let shown = path.display();
        let mut file = std::fs::File::open(&path)
            .map_err(|e| SwarmError::Verify(format!("open {shown}: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| SwarmError::Verify(format!("stat {shown}: {e}")))?
            .len();
        if len != f.length {
            return Err(SwarmError::Verify(format!(
                "{shown}: expected {} bytes, found {len}",
                f.length
            )));
        }
        let mut offset = 0;
        while offset < f.length {
            let n = (f.length - offset).min(want.len() as u64) as usize;
            f.fill(offset, &mut want[..n]);
            file.read_exact(&mut got[..n])
                .map_err(|e| SwarmError::Verify(format!("read {shown}: {e}")))?;
            if let Some(i) = (0..n).find(|&i| want[i] != got[i]) {
                return Err(SwarmError::Verify(format!(
                    "{shown}: differs at byte {}",
                    offset + i as u64
                )));
            }
            offset += n as u64;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_deterministic_and_seekable() {
        let files = demo_files(3 << 20);
        assert_eq!(
            files.iter().map(|f| f.length).sum::<u64>(),
            (3 << 20) + README.len() as u64
        );
        assert!(files.iter().any(|f| f.length == 0));
        let f = &files[1];
        let mut whole = vec![0u8; 100];
        f.fill(0, &mut whole);
        let mut part = vec![0u8; 37];
        f.fill(13, &mut part);
        assert_eq!(&whole[13..50], &part[..]);
        assert_eq!(demo_files(3 << 20), files);
    }
}
