//! STUB: replaced by the metainfo helper.
use crate::proto::id::InfoHash;

#[derive(Debug, thiserror::Error)]
pub enum MetainfoError {
    #[error("invalid torrent: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Sanitised path components relative to the torrent root (single-file: `[name]`).
    pub path: Vec<String>,
    pub length: u64,
    /// Byte offset of this file in the concatenated torrent data.
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub piece_length: u32,
    pub piece_hashes: Vec<[u8; 20]>,
    pub files: Vec<FileEntry>,
    pub total_length: u64,
    pub private: bool,
    pub is_multi_file: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    pub announce: Option<String>,
    pub announce_list: Vec<Vec<String>>,
    pub info: Info,
    pub info_hash: InfoHash,
    pub raw_info: Vec<u8>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
}

impl Metainfo {
    pub fn from_bytes(_buf: &[u8]) -> Result<Metainfo, MetainfoError> {
        todo!()
    }
    pub fn trackers(&self) -> Vec<Vec<String>> {
        todo!()
    }
}

impl Info {
    pub fn from_bytes(_raw: &[u8]) -> Result<Info, MetainfoError> {
        todo!()
    }
    pub fn piece_count(&self) -> u32 {
        self.piece_hashes.len() as u32
    }
    pub fn piece_size(&self, index: u32) -> u32 {
        let start = index as u64 * self.piece_length as u64;
        (self.total_length.saturating_sub(start)).min(self.piece_length as u64) as u32
    }
}
