//! The disk worker: one thread per torrent that writes received blocks and hashes completed
//! pieces, so file I/O and SHA-1 never run on the peer tasks.
//!
//! Jobs run in FIFO order, which is what makes `Verify` safe: by the time a piece's `Verify`
//! job runs, every `Write` of its blocks that was queued before it has hit the file. Blocks go
//! to disk as they arrive (not kept in memory until the piece completes), so memory is bounded
//! by the queue length, not by piece size.

use crate::engine::storage::Storage;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Work for the disk thread.
#[derive(Debug)]
pub enum DiskJob {
    Write { piece: u32, begin: u32, data: Bytes },
    /// Hash `piece` and compare with `expected`.
    Verify { piece: u32, expected: [u8; 20] },
}

/// What the disk thread reports back.
#[derive(Debug)]
pub enum DiskResult {
    Verified { piece: u32, ok: bool },
    Error(String),
}

/// Queue depth: at 16 KiB per block this bounds queued data at 64 MiB.
pub const DISK_QUEUE: usize = 4096;

/// Start the disk thread; it ends when every sender is dropped.
pub fn spawn_disk(
    storage: Arc<Storage>,
    results: mpsc::UnboundedSender<DiskResult>,
) -> mpsc::Sender<DiskJob> {
    let (tx, mut rx) = mpsc::channel::<DiskJob>(DISK_QUEUE);
    let spawned = std::thread::Builder::new().name("fast-peer-disk".into()).spawn(move || {
        let mut failed = false;
        while let Some(job) = rx.blocking_recv() {
            if failed {
                continue; // drain; the torrent is already stopping
            }
            let res = match job {
                DiskJob::Write { piece, begin, data } => storage
                    .write_block(piece, begin, &data)
                    .map(|_| None)
                    .map_err(|e| format!("write piece {piece} at {begin}: {e}")),
                DiskJob::Verify { piece, expected } => storage
                    .hash_piece(piece)
                    .map(|h| Some(DiskResult::Verified { piece, ok: h == expected }))
                    .map_err(|e| format!("read piece {piece} for hashing: {e}")),
            };
            let msg = match res {
                Ok(None) => continue,
                Ok(Some(m)) => m,
                Err(e) => {
                    failed = true;
                    DiskResult::Error(e)
                }
            };
            if results.send(msg).is_err() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start disk thread: {e}");
    }
    tx
}
