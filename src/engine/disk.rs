//! The disk workers: per torrent, one thread writes received blocks and another hashes
//! completed pieces, so file I/O and SHA-1 never run on the peer tasks.
//!
//! Jobs run in FIFO order, which is what makes `Verify` safe: by the time a piece's `Verify`
//! job runs, every `Write` of its blocks that was queued before it has hit the file. Blocks go
//! to disk as they arrive (not kept in memory until the piece completes), so memory is bounded
//! by the queue length, not by piece size.

use crate::engine::storage::Storage;
use crate::proto::message::BLOCK_SIZE;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Work for the disk thread.
#[derive(Debug)]
pub enum DiskJob {
    Write { piece: u32, begin: u32, data: Bytes },
    /// Hash `piece` and compare with `expected`. On a mismatch, or when `block_hashes` is set,
    /// also hash each 16 KiB block (see [`DiskResult::Verified`]).
    Verify { piece: u32, expected: [u8; 20], block_hashes: bool },
}

/// What the disk thread reports back.
#[derive(Debug)]
pub enum DiskResult {
    /// `blocks`: SHA-1 of each 16 KiB block of the stored piece, computed in the same job
    /// (before any later write can touch it) when the piece failed or when asked. Comparing
    /// the blocks of a failed copy with those of the good copy names the peer that sent the
    /// bad block.
    Verified { piece: u32, ok: bool, blocks: Option<Vec<[u8; 20]>> },
    Error(String),
}

/// Queue depth: at 16 KiB per block this bounds queued data at 16 MiB.
pub const DISK_QUEUE: usize = 1024;

/// SHA-1 of each 16 KiB block of `piece` as stored.
fn hash_blocks(storage: &Storage, piece: u32) -> std::io::Result<Vec<[u8; 20]>> {
    use sha1::{Digest, Sha1};
    let size = storage.piece_size(piece);
    let mut out = Vec::new();
    let mut buf = vec![0u8; BLOCK_SIZE as usize];
    let mut begin = 0u32;
    while begin < size {
        let len = (size - begin).min(BLOCK_SIZE) as usize;
        storage.read_block(piece, begin, &mut buf[..len])?;
        out.push(Sha1::digest(&buf[..len]).into());
        begin += BLOCK_SIZE;
    }
    Ok(out)
}

/// Hash `piece` as stored; on a mismatch or when asked, also each block.
fn verify(storage: &Storage, piece: u32, expected: [u8; 20], block_hashes: bool) -> DiskResult {
    let checked = storage.hash_piece(piece).and_then(|h| {
        let ok = h == expected;
        let blocks = if !ok || block_hashes { Some(hash_blocks(storage, piece)?) } else { None };
        Ok(DiskResult::Verified { piece, ok, blocks })
    });
    checked.unwrap_or_else(|e| DiskResult::Error(format!("read piece {piece} for hashing: {e}")))
}

/// Start the disk thread and its hasher; both end when every sender is dropped.
///
/// The disk thread writes blocks in arrival order. A `Verify` job is handed to the hasher
/// thread only when the disk thread reaches it, i.e. after every earlier write of that piece
/// is in the page cache; hashing then runs on the other core while writes go on. (Nothing can
/// write the piece again before its result is in: it is `Verifying` in the picker.)
pub fn spawn_disk(
    storage: Arc<Storage>,
    results: mpsc::UnboundedSender<DiskResult>,
) -> mpsc::Sender<DiskJob> {
    let (tx, mut rx) = mpsc::channel::<DiskJob>(DISK_QUEUE);
    let (hash_tx, hash_rx) = std::sync::mpsc::channel::<(u32, [u8; 20], bool)>();
    {
        let storage = storage.clone();
        let results = results.clone();
        let spawned = std::thread::Builder::new().name("fast-peer-hash".into()).spawn(move || {
            while let Ok((piece, expected, block_hashes)) = hash_rx.recv() {
                if results.send(verify(&storage, piece, expected, block_hashes)).is_err() {
                    break;
                }
            }
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start hasher thread: {e}");
        }
    }
    let spawned = std::thread::Builder::new().name("fast-peer-disk".into()).spawn(move || {
        let mut failed = false;
        while let Some(job) = rx.blocking_recv() {
            if failed {
                continue; // drain; the torrent is already stopping
            }
            match job {
                DiskJob::Write { piece, begin, data } => {
                    if let Err(e) = storage.write_block(piece, begin, &data) {
                        failed = true;
                        if results.send(DiskResult::Error(format!("write piece {piece} at {begin}: {e}"))).is_err() {
                            break;
                        }
                    }
                }
                DiskJob::Verify { piece, expected, block_hashes } => {
                    if let Err(std::sync::mpsc::SendError((piece, expected, block_hashes))) =
                        hash_tx.send((piece, expected, block_hashes))
                    {
                        // no hasher thread: hash here
                        if results.send(verify(&storage, piece, expected, block_hashes)).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start disk thread: {e}");
    }
    tx
}
