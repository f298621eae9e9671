//! The disk workers: per torrent, one thread writes received blocks and another hashes
//! pieces (from the written blocks while they arrive in order, else by reading the piece
//! back), so file I/O and SHA-1 never run on the peer tasks.
//!
//! Jobs run in FIFO order, which is what makes `Verify` safe: by the time a piece's `Verify`
//! job runs, every `Write` of its blocks that was queued before it has hit the file. Blocks go
//! to disk as they arrive (not kept in memory until the piece completes), so memory is bounded
//! by the queue length, not by piece size.

use crate::engine::probe::Probe;
use crate::engine::storage::Storage;
use crate::proto::message::BLOCK_SIZE;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Work for the disk thread.
#[derive(Debug)]
pub enum DiskJob {
    Write {
        piece: u32,
        begin: u32,
        data: Bytes,
    },
    /// Hash `piece` and compare with `expected`. On a mismatch, or when `block_hashes` is set,
    /// also hash each 16 KiB block (see [`DiskResult::Verified`]).
    Verify {
        piece: u32,
        expected: [u8; 20],
        block_hashes: bool,
    },
    /// These files became wanted: create them and move their bytes out of the part file
    /// ([`Storage::want_file`]), before any write of theirs that is queued after this job.
    WantFiles(Vec<usize>),
}

/// What the disk thread reports back.
#[derive(Debug)]
pub enum DiskResult {
    /// `blocks`: SHA-1 of each 16 KiB block of the stored piece, computed in the same job
    /// (before any later write can touch it) when the piece failed or when asked. Comparing
    /// the blocks of a failed copy with those of the good copy names the peer that sent the
    /// bad block.
    Verified {
        piece: u32,
        ok: bool,
        blocks: Option<Vec<[u8; 20]>>,
    },
    Error(String),
}

/// Queue depth: at 16 KiB per block, 4 MiB of blocks; with the hasher's queue, what bounds the
/// memory of data in flight to disk (a deeper queue only raised peak RSS).
pub const DISK_QUEUE: usize = 256;

/// SHA-1 of each 16 KiB block of `piece` as stored.
fn hash_blocks(storage: &Storage, piece: u32) -> std::io::Result<Vec<[u8; 20]>> {
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

/// Bytes from the block boundary `begin` on that lie in whole pad-only blocks: those the
/// picker never requests. (A block partly of pad bytes arrives whole, zeros included.)
fn pad_blocks(storage: &Storage, piece: u32, begin: u32) -> u32 {
    let run = storage.pad_run(piece, begin);
    if begin + run == storage.piece_size(piece) {
        run
    } else {
        run / BLOCK_SIZE * BLOCK_SIZE
    }
}

/// Hash `n` zero bytes (pad files).
fn feed_zeros(sha: &mut Sha1, mut n: u32) {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u32);
        sha.update(&ZEROS[..k as usize]);
        n -= k;
    }
}

/// What the writer hands the hasher, in write order.
enum HashJob {
    /// A block that is now in the page cache; hashed from memory when it extends the piece's
    /// in-order prefix, so most pieces are never read back.
    Written { piece: u32, begin: u32, data: Bytes },
    Verify {
        piece: u32,
        expected: [u8; 20],
        block_hashes: bool,
    },
}

/// Batches of written blocks waiting for the hasher. The writer hands over everything it
/// wrote since its last hand-over as one batch (at most [`HASH_BATCH`] jobs), so the hasher is
/// woken once per batch instead of once per 16 KiB block; up to 4 x 16 blocks = 1 MiB wait.
const HASH_QUEUE: usize = 4;
/// Largest batch of jobs handed to the hasher at once.
const HASH_BATCH: usize = 16;

/// Out-of-order blocks kept for the in-order hash, across all pieces; beyond this a piece is
/// hashed by reading it back instead (correct either way, just slower).
const PENDING_LIMIT: usize = 4 * 1024 * 1024;

/// SHA-1 of a piece fed with its blocks as they are written.
struct Progress {
    sha: Sha1,
    /// Bytes `0..next` of the piece are in `sha`.
    next: u32,
    /// Blocks past `next`, waiting for the gap to fill.
    pending: BTreeMap<u32, Bytes>,
    /// Gave up (too much waiting): hash from disk at verify time.
    abandoned: bool,
}

/// The hasher thread's state: in-order progress per piece, and a buffer for read-backs.
struct Hasher {
    storage: Arc<Storage>,
    progress: HashMap<u32, Progress>,
    pending_bytes: usize,
    buf: Vec<u8>,
}

impl Hasher {
    fn new(storage: Arc<Storage>) -> Hasher {
        Hasher {
            storage,
            progress: HashMap::new(),
            pending_bytes: 0,
            buf: Vec::new(),
        }
    }

    fn written(&mut self, piece: u32, begin: u32, data: Bytes) {
        let storage = &self.storage;
        let p = self.progress.entry(piece).or_insert_with(|| {
            // a piece may open with pad-file bytes, which never arrive
            let mut sha = Sha1::new();
            let next = pad_blocks(storage, piece, 0);
            feed_zeros(&mut sha, next);
            Progress {
                sha,
                next,
                pending: BTreeMap::new(),
                abandoned: false,
            }
        });
        if p.abandoned {
            return;
        }
        if begin != p.next {
            if begin < p.next || self.pending_bytes + data.len() > PENDING_LIMIT {
                // rewritten or too far ahead: not worth memory; read back at verify time
                p.abandoned = true;
                self.pending_bytes -= p.pending.values().map(Bytes::len).sum::<usize>();
                p.pending.clear();
            } else {
                self.pending_bytes += data.len();
                p.pending.insert(begin, data);
            }
            return;
        }
        p.sha.update(&data);
        p.next += data.len() as u32;
        loop {
            // pad-file bytes never arrive (never requested): they are zeros
            let pad = pad_blocks(&self.storage, piece, p.next);
            if pad > 0 {
                feed_zeros(&mut p.sha, pad);
                p.next += pad;
            }
            let Some(block) = p.pending.remove(&p.next) else {
                break;
            };
            self.pending_bytes -= block.len();
            p.sha.update(&block);
            p.next += block.len() as u32;
        }
    }

    fn verify(&mut self, piece: u32, expected: [u8; 20], block_hashes: bool) -> DiskResult {
        let progress = self.progress.remove(&piece);
        if let Some(p) = &progress {
            self.pending_bytes -= p.pending.values().map(Bytes::len).sum::<usize>();
        }
        let size = self.storage.piece_size(piece);
        let digest = match progress {
            Some(p) if !p.abandoned && p.next == size => Ok(p.sha.finalize().into()),
            _ => self.storage.hash_piece_with(piece, &mut self.buf),
        };
        let checked = digest.and_then(|h: [u8; 20]| {
            let ok = h == expected;
            let blocks = if !ok || block_hashes {
                Some(hash_blocks(&self.storage, piece)?)
            } else {
                None
            };
            Ok(DiskResult::Verified { piece, ok, blocks })
        });
        checked
            .unwrap_or_else(|e| DiskResult::Error(format!("read piece {piece} for hashing: {e}")))
    }

    fn run(&mut self, job: HashJob) -> Option<DiskResult> {
        match job {
            HashJob::Written { piece, begin, data } => {
                self.written(piece, begin, data);
                None
            }
            HashJob::Verify {
                piece,
                expected,
                block_hashes,
            } => Some(self.verify(piece, expected, block_hashes)),
        }
    }
}

/// Start the disk thread and its hasher; both end when every sender is dropped.
///
/// The disk thread writes blocks in arrival order and passes each written block (shared, not
/// copied) and each `Verify` to the hasher thread in that same order, so by the time a piece's
/// `Verify` reaches the hasher every block of it is on disk and was offered to the hash. Blocks
/// that arrived in order are hashed from memory as they come; a piece with gaps falls back to
/// reading itself back. Hashing runs on the other core while writes go on. (Nothing can write
/// the piece again before its result is in: it is `Verifying` in the picker.)
pub fn spawn_disk(
    storage: Arc<Storage>,
    results: mpsc::UnboundedSender<DiskResult>,
    probe: Arc<Probe>,
) -> mpsc::Sender<DiskJob> {
    let (tx, mut rx) = mpsc::channel::<DiskJob>(DISK_QUEUE);
    // bounded, so a hasher that falls behind slows the writer (and through the disk queue the
    // peers) instead of piling up blocks in memory
    let (hash_tx, hash_rx) = std::sync::mpsc::sync_channel::<Vec<HashJob>>(HASH_QUEUE);
    let mut hasher = Hasher::new(storage.clone());
    let results_h = results.clone();
    let hasher_thread = std::thread::Builder::new()
        .name("fast-peer-hash".into())
        .spawn(move || {
            'batches: while let Ok(batch) = hash_rx.recv() {
                // time spent hashing, for the verdict (one clock read pair per batch)
                let began = std::time::Instant::now();
                for job in batch {
                    if let Some(r) = hasher.run(job)
                        && results_h.send(r).is_err()
                    {
                        break 'batches;
                    }
                }
                let ns = began.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                probe.hash_busy_ns.fetch_add(ns, Ordering::Relaxed);
            }
        });
    if let Err(e) = hasher_thread {
        tracing::error!("cannot start hasher thread: {e}");
    }
    let mut inline: Option<Hasher> = None;
    let spawned = std::thread::Builder::new()
        .name("fast-peer-disk".into())
        .spawn(move || {
            let mut failed = false;
            let mut batch: Vec<HashJob> = Vec::with_capacity(HASH_BATCH);
            while let Some(first) = rx.blocking_recv() {
                // take what else is queued (up to a batch) so the hasher wakes once for all of it
                let mut next = Some(first);
                while let Some(job) = next.take() {
                    if failed {
                        break; // drain; the torrent is already stopping
                    }
                    match job {
                        DiskJob::Write { piece, begin, data } => {
                            match storage.write_block(piece, begin, &data) {
                                Ok(()) => batch.push(HashJob::Written { piece, begin, data }),
                                Err(e) => {
                                    failed = true;
                                    let _ = results.send(DiskResult::Error(format!(
                                        "write piece {piece} at {begin}: {e}"
                                    )));
                                }
                            }
                        }
                        DiskJob::Verify {
                            piece,
                            expected,
                            block_hashes,
                        } => batch.push(HashJob::Verify {
                            piece,
                            expected,
                            block_hashes,
                        }),
                        DiskJob::WantFiles(files) => {
                            for f in files {
                                if let Err(e) = storage.want_file(f) {
                                    failed = true;
                                    let _ = results
                                        .send(DiskResult::Error(format!("create file {f}: {e}")));
                                    break;
                                }
                            }
                        }
                    }
                    if batch.len() < HASH_BATCH {
                        next = rx.try_recv().ok();
                    }
                }
                if batch.is_empty() {
                    continue;
                }
                let jobs = match hash_tx.send(std::mem::replace(
                    &mut batch,
                    Vec::with_capacity(HASH_BATCH),
                )) {
                    Ok(()) => continue,
                    Err(std::sync::mpsc::SendError(jobs)) => jobs, // the hasher thread is gone
                };
                // no hasher thread (it could not start): hash here
                let hasher = inline.get_or_insert_with(|| Hasher::new(storage.clone()));
                for job in jobs {
                    if let Some(r) = hasher.run(job)
                        && results.send(r).is_err()
                    {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start disk thread: {e}");
    }
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::storage::OutputTarget;

    const PL: u32 = 4 * BLOCK_SIZE;

    /// A 2.5-piece torrent and an open storage for it in a temp dir.
    fn setup() -> (
        tempfile::TempDir,
        crate::proto::metainfo::Info,
        Vec<u8>,
        Arc<Storage>,
    ) {
        let (info, data) =
            crate::engine::storage::tests::single(2 * PL as u64 + PL as u64 / 2, PL, 11);
        let tmp = tempfile::tempdir().unwrap();
        let storage =
            Arc::new(Storage::open(&info, &OutputTarget::Exact(tmp.path().join("f"))).unwrap());
        (tmp, info, data, storage)
    }

    fn block(data: &[u8], piece: u32, begin: u32, size: u32) -> Bytes {
        let start = (piece * PL + begin) as usize;
        let end = (start + BLOCK_SIZE as usize).min((piece * PL + size) as usize);
        Bytes::copy_from_slice(&data[start..end])
    }

    /// Write `order` blocks of `piece` to storage and feed the hasher, then verify.
    fn write_and_verify(
        h: &mut Hasher,
        info: &crate::proto::metainfo::Info,
        data: &[u8],
        piece: u32,
        order: &[u32],
    ) -> bool {
        let size = info.piece_size(piece);
        for &b in order {
            let d = block(data, piece, b * BLOCK_SIZE, size);
            h.storage.write_block(piece, b * BLOCK_SIZE, &d).unwrap();
            h.written(piece, b * BLOCK_SIZE, d);
        }
        let expected = info.piece_hashes[piece as usize];
        matches!(
            h.verify(piece, expected, false),
            DiskResult::Verified { ok: true, .. }
        )
    }

    #[test]
    fn in_order_and_shuffled_blocks_hash_to_the_piece() {
        let (_tmp, info, data, storage) = setup();
        let mut h = Hasher::new(storage);
        assert!(write_and_verify(&mut h, &info, &data, 0, &[0, 1, 2, 3]));
        assert!(write_and_verify(&mut h, &info, &data, 1, &[2, 0, 3, 1]));
        assert!(write_and_verify(&mut h, &info, &data, 2, &[1, 0])); // short last piece
        assert!(h.progress.is_empty() && h.pending_bytes == 0);
    }

    #[test]
    fn hashing_from_memory_does_not_need_the_disk_copy() {
        // Proof that the in-order path hashes the blocks themselves: piece 0's blocks are fed
        // to the hasher but never written to the file, yet it verifies; piece 1 has a gap
        // (block 1 never offered), so it is read back from the file, which lacks it.
        let (_tmp, info, data, storage) = setup();
        let mut h = Hasher::new(storage.clone());
        for b in 0..4 {
            h.written(0, b * BLOCK_SIZE, block(&data, 0, b * BLOCK_SIZE, PL));
        }
        let expected = info.piece_hashes[0];
        assert!(matches!(
            h.verify(0, expected, false),
            DiskResult::Verified { ok: true, .. }
        ));
        for b in [0, 2, 3] {
            h.written(1, b * BLOCK_SIZE, block(&data, 1, b * BLOCK_SIZE, PL));
        }
        let expected = info.piece_hashes[1];
        assert!(matches!(
            h.verify(1, expected, false),
            DiskResult::Verified { ok: false, .. } | DiskResult::Error(_)
        ));
        assert_eq!(
            h.pending_bytes, 0,
            "pending blocks of a verified piece are released"
        );
    }

    #[test]
    fn pad_bytes_that_never_arrive_hash_as_zeros() {
        // files: pad (1.5 blocks), a (3 blocks), pad (1.5 blocks), b (2 blocks); pieces of 4
        // blocks. Only blocks holding real bytes are fed, none is written to disk: every
        // piece still verifies from memory, pad bytes counted as zeros.
        let b = BLOCK_SIZE as u64;
        let lengths = [3 * b / 2, 3 * b, 3 * b / 2, 2 * b];
        let pads = [true, false, true, false];
        let mut data = Vec::new();
        for (len, pad) in lengths.iter().zip(pads) {
            data.extend((0..*len).map(|i| if pad { 0 } else { (i % 251) as u8 + 1 }));
        }
        let paths = ["p1", "a", "p2", "b"]
            .iter()
            .map(|n| vec![n.to_string()])
            .collect();
        let mut info =
            crate::engine::storage::tests::info_for("t", paths, &lengths, PL, true, &data);
        for (f, pad) in info.files.iter_mut().zip(pads) {
            f.attr.pad = pad;
        }
        let tmp = tempfile::tempdir().unwrap();
        let storage =
            Arc::new(Storage::open(&info, &OutputTarget::Exact(tmp.path().join("t"))).unwrap());
        let mut h = Hasher::new(storage);
        // piece 0: block 0 is pad only; block 1 is half pad, half `a`
        for blk in [1, 2, 3] {
            h.written(0, blk * BLOCK_SIZE, block(&data, 0, blk * BLOCK_SIZE, PL));
        }
        // piece 1: block 0 is `a` then pad; block 1 is pad only; blocks 2, 3 are `b`
        for blk in [3, 0, 2] {
            h.written(1, blk * BLOCK_SIZE, block(&data, 1, blk * BLOCK_SIZE, PL));
        }
        for piece in 0..2 {
            let r = h.verify(piece, info.piece_hashes[piece as usize], false);
            assert!(
                matches!(r, DiskResult::Verified { ok: true, .. }),
                "piece {piece}: {r:?}"
            );
        }
    }

    #[test]
    fn a_corrupt_block_fails_and_names_its_block() {
        let (_tmp, info, data, storage) = setup();
        let mut h = Hasher::new(storage);
        let mut bad = data.clone();
        bad[(PL + BLOCK_SIZE + 5) as usize] ^= 0xff;
        for b in 0..4 {
            let d = block(&bad, 1, b * BLOCK_SIZE, PL);
            h.storage.write_block(1, b * BLOCK_SIZE, &d).unwrap();
            h.written(1, b * BLOCK_SIZE, d);
        }
        let expected = info.piece_hashes[1];
        let DiskResult::Verified {
            ok,
            blocks: Some(blocks),
            ..
        } = h.verify(1, expected, false)
        else {
            panic!("expected a failed verify with block hashes")
        };
        assert!(!ok);
        let good: [u8; 20] =
            Sha1::digest(&data[(PL + BLOCK_SIZE) as usize..(PL + 2 * BLOCK_SIZE) as usize]).into();
        assert_ne!(blocks[1], good);
        let good0: [u8; 20] = Sha1::digest(&data[PL as usize..(PL + BLOCK_SIZE) as usize]).into();
        assert_eq!(blocks[0], good0);
    }

    #[test]
    fn too_many_waiting_blocks_fall_back_to_reading_back() {
        let (_tmp, info, data, storage) = setup();
        let mut h = Hasher::new(storage);
        h.pending_bytes = PENDING_LIMIT; // as if other pieces filled the budget
        assert!(write_and_verify(&mut h, &info, &data, 0, &[3, 2, 1, 0]));
        assert!(h.progress.is_empty());
        assert_eq!(h.pending_bytes, PENDING_LIMIT);
    }
}
