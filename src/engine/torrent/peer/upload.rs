//! Serving a peer: its requests (validated, queued, rejected per BEP 6 when choked), the
//! choke state we give it, and the disk reads that feed our `piece` messages, a few at once
//! and never more than [`UPLOAD_HIGH_WATER`] waiting to be written.

use super::{MAX_QUEUED_REQUESTS, Session, UPLOAD_HIGH_WATER, UPLOAD_READ_MAX, UploadRead};
use crate::engine::error::PeerError;
use crate::proto::message::{BlockRef, MAX_REQUEST_LEN, Message};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use tokio::task::JoinSet;

impl Session {
    pub(super) fn on_request(&mut self, r: BlockRef) -> Result<(), PeerError> {
        let piece_count = self.have.len();
        if r.length > MAX_REQUEST_LEN || r.length == 0 {
            return self.protocol(format!(
                "request of {} bytes (allowed 1..={MAX_REQUEST_LEN})",
                r.length
            ));
        }
        if r.index >= piece_count {
            return self.protocol(format!("request for piece {} of {piece_count}", r.index));
        }
        let size = self.shared.info.piece_size(r.index);
        if r.begin as u64 + r.length as u64 > size as u64 {
            return self.protocol(format!(
                "request beyond piece {}: offset {} length {} (piece is {size} bytes)",
                r.index, r.begin, r.length
            ));
        }
        let serve = (!self.am_choking || self.allowed_out.contains(&r.index))
            && self.upload_queue.len() < MAX_QUEUED_REQUESTS
            && self.shared.picker().verified().get(r.index);
        if serve {
            self.upload_queue.push_back(r);
        } else if self.fast {
            // BEP 6: refuse explicitly instead of dropping silently
            self.send(Message::Reject(r));
        }
        Ok(())
    }

    pub(super) fn set_choking(&mut self, choke: bool) {
        if choke == self.am_choking {
            return;
        }
        self.am_choking = choke;
        self.stats.am_choking.store(choke, Ordering::Relaxed);
        if choke {
            self.send(Message::Choke);
            // BEP 3: choking drops the peer's requests; BEP 6 makes that explicit, and keeps
            // the ones for allowed-fast pieces
            let allowed = std::mem::take(&mut self.allowed_out);
            let (keep, drop): (VecDeque<BlockRef>, VecDeque<BlockRef>) = self
                .upload_queue
                .drain(..)
                .partition(|r| allowed.contains(&r.index));
            self.upload_queue = keep;
            self.allowed_out = allowed;
            for r in drop {
                if self.fast {
                    self.send(Message::Reject(r));
                }
            }
        } else {
            self.send(Message::Unchoke);
        }
    }

    /// Start reading the next requested blocks from disk, when there is room for them.
    /// Requests for consecutive blocks of one piece (the usual pattern) are read with one
    /// positioned read of up to [`UPLOAD_READ_MAX`] bytes.
    pub(super) fn start_upload_read(&mut self, reading: &mut JoinSet<UploadRead>) -> bool {
        if self.conn.pending_out() >= UPLOAD_HIGH_WATER {
            return false;
        }
        let Some(first) = self.upload_queue.pop_front() else {
            return false;
        };
        let mut run = vec![first];
        let mut total = first.length;
        while let Some(next) = self.upload_queue.front().copied() {
            let last = run[run.len() - 1];
            if next.index != last.index
                || next.begin != last.begin + last.length
                || total + next.length > UPLOAD_READ_MAX
            {
                break;
            }
            self.upload_queue.pop_front();
            total += next.length;
            run.push(next);
        }
        let storage = self.shared.storage.clone();
        let limiter = (!self.shared.upload.is_unlimited()).then(|| self.shared.upload.clone());
        let corrupt = self.shared.faults.corrupt_piece_one_in;
        reading.spawn(async move {
            if let Some(l) = limiter {
                l.acquire(total as u64).await;
            }
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0u8; total as usize];
                storage
                    .read_block(first.index, first.begin, &mut buf)
                    .map(|_| buf)
            });
            let mut buf = read
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            if let Some(n) = corrupt
                && n > 0
                && first.begin == 0
                && rand::random::<u32>().is_multiple_of(n)
            {
                // fault injection for the demo swarm: a wrong byte makes the piece fail its hash
                buf[0] ^= 0xff;
            }
            let data = Bytes::from(buf);
            let mut at = 0usize;
            Ok(run
                .into_iter()
                .map(|r| {
                    let block = data.slice(at..at + r.length as usize);
                    at += r.length as usize;
                    (r, block)
                })
                .collect())
        });
        true
    }

    pub(super) fn queue_piece(&mut self, r: BlockRef, block: Bytes) {
        if self.am_choking && !self.allowed_out.contains(&r.index) {
            return; // choked while reading: the request is gone
        }
        let len = block.len() as u64;
        self.send(Message::Piece {
            index: r.index,
            begin: r.begin,
            block,
        });
        self.up_bytes_this_tick += len;
        self.stats.uploaded.fetch_add(len, Ordering::Relaxed);
        self.shared.uploaded.fetch_add(len, Ordering::Relaxed);
    }
}
