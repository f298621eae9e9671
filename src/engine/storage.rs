//! STUB: replaced by the storage helper.
use crate::proto::metainfo::Info;
use std::io;
use std::path::{Path, PathBuf};

/// Where the user asked the torrent to be saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// `-o PATH`: the file itself for a single-file torrent, the root folder for a multi-file one.
    Exact(PathBuf),
    /// `--dir DIR`: `DIR/<name>` (single) or `DIR/<name>/<path...>` (multi).
    Dir(PathBuf),
}

/// The absolute path of every file of `info` under `target`, in torrent order.
pub fn file_paths(_info: &Info, _target: &OutputTarget) -> Vec<PathBuf> {
    todo!()
}

/// Positioned reads and writes of torrent data spread over its files.
#[derive(Debug)]
pub struct Storage {}

impl Storage {
    /// Open (creating folders and zero-length files, never truncating) every file of `info`.
    pub fn open(_info: &Info, _target: &OutputTarget) -> io::Result<Storage> {
        todo!()
    }
    /// Write `data` at `begin` inside piece `piece`, across file boundaries.
    pub fn write_block(&self, _piece: u32, _begin: u32, _data: &[u8]) -> io::Result<()> {
        todo!()
    }
    /// Fill `buf` from `begin` inside piece `piece`.
    pub fn read_block(&self, _piece: u32, _begin: u32, _buf: &mut [u8]) -> io::Result<()> {
        todo!()
    }
    /// SHA-1 of the whole piece as stored on disk.
    pub fn hash_piece(&self, _piece: u32) -> io::Result<[u8; 20]> {
        todo!()
    }
    /// Whether any of the files already existed (with data) when opened.
    pub fn had_existing_data(&self) -> bool {
        todo!()
    }
    /// The root path, for messages.
    pub fn root(&self) -> &Path {
        todo!()
    }
}
