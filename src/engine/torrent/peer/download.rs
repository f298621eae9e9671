//! Downloading from a peer: what it has, our interest, keeping the request pipeline full
//! from the shared picker, and taking its blocks to the disk writer (and the hasher when a
//! piece completes).

use super::Session;
use crate::engine::disk::DiskJob;
use crate::engine::error::PeerError;
use crate::engine::picker::{BlockOutcome, PieceState};
use crate::engine::pipeline::MIN_PIPELINE;
use crate::engine::torrent::shared::PeerCommand;
use crate::proto::bitfield::Bitfield;
use crate::proto::message::{BlockRef, Message};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Session {
    /// A bitfield or have all: the peer's first word, or (late) extra pieces to add.
    pub(super) fn merge_have(&mut self, bf: Bitfield, first: bool) {
        if first {
            return self.set_have(bf);
        }
        let mut changed = false;
        for index in bf.iter_ones() {
            if self.have.set(index) {
                self.shared.picker().peer_has(index);
                changed = true;
            }
        }
        if changed {
            self.stats
                .pieces
                .store(self.have.count_ones(), Ordering::Relaxed);
            self.update_interest();
        }
    }

    pub(super) fn set_have(&mut self, bf: Bitfield) {
        self.shared.picker().peer_bitfield(&bf);
        self.stats.pieces.store(bf.count_ones(), Ordering::Relaxed);
        self.have = bf;
        self.update_interest();
    }

    pub(super) fn update_interest(&mut self) {
        let interesting = self.shared.picker().is_interesting(&self.have);
        if interesting != self.am_interested {
            self.am_interested = interesting;
            self.stats
                .am_interested
                .store(interesting, Ordering::Relaxed);
            if interesting {
                self.send(Message::Interested);
            } else {
                self.send(Message::NotInterested);
            }
        }
        self.fill_requests();
    }

    pub(super) fn fill_requests(&mut self) {
        if !self.am_interested {
            return;
        }
        // choked: only the peer's allowed-fast pieces (BEP 6), a few at a time
        let choked_fast = self.peer_choking && self.fast && self.allowed_in.count_ones() > 0;
        if self.peer_choking && !choked_fast {
            return;
        }
        let target = self.pipeline.target(self.their_reqq);
        let target = if choked_fast {
            target.min(MIN_PIPELINE)
        } else {
            target
        };
        if self.outstanding.len() >= target {
            return;
        }
        let want = target - self.outstanding.len();
        self.scratch.clear();
        if choked_fast {
            let mut both = Bitfield::new(self.have.len());
            for i in self.allowed_in.iter_ones().filter(|i| self.have.get(*i)) {
                both.set(i);
            }
            self.shared
                .picker()
                .pick(self.key, &both, want, &mut self.scratch);
        } else {
            self.shared
                .picker()
                .pick(self.key, &self.have, want, &mut self.scratch);
        }
        let now = Instant::now();
        let mut picked = std::mem::take(&mut self.scratch);
        for r in picked.drain(..) {
            self.send(Message::Request(r));
            self.outstanding.push((r, now));
        }
        self.scratch = picked;
        self.stats
            .requests
            .store(self.outstanding.len() as u32, Ordering::Relaxed);
        self.publish_in_flight(now);
    }

    pub(super) async fn on_block(
        &mut self,
        r: BlockRef,
        data: bytes::Bytes,
    ) -> Result<(), PeerError> {
        let requested = self.outstanding.iter().position(|(o, _)| *o == r);
        if let Some(pos) = requested {
            self.outstanding.remove(pos);
        } else {
            tracing::debug!(peer = self.key, ?r, "unrequested block");
            let valid = self.shared.picker().is_valid_block(&r);
            if !valid {
                return self.protocol(format!(
                    "block never requested: piece {} offset {} length {}",
                    r.index, r.begin, r.length
                ));
            }
        }
        let len = data.len() as u64;
        if self.pipeline.is_snubbed() {
            self.stats.snubbed.store(false, Ordering::Relaxed);
        }
        self.pipeline.on_block(len);
        self.last_data = Instant::now();
        self.stats.note_block(self.last_data);
        self.stats.downloaded.fetch_add(len, Ordering::Relaxed);
        // Reserve room for the write (and a possible verify) *before* marking the block
        // received, then queue both inside the picker's critical section. Otherwise another
        // peer could complete the piece and queue its verify ahead of this write, and the
        // hash check would read the block before it is on disk.
        let disk = self.shared.disk.clone();
        let mut permits = disk
            .reserve_many(2)
            .await
            .map_err(|_| PeerError::Shutdown)?;
        let outcome = {
            let mut picker = self.shared.picker();
            let outcome = picker.block_received(self.key, &r);
            if let BlockOutcome::New { piece_complete, .. } = &outcome {
                if let Some(p) = permits.next() {
                    p.send(DiskJob::Write {
                        piece: r.index,
                        begin: r.begin,
                        data,
                    });
                }
                if *piece_complete && let Some(p) = permits.next() {
                    let expected = self.shared.info.piece_hashes[r.index as usize];
                    let block_hashes = picker.on_parole(r.index);
                    p.send(DiskJob::Verify {
                        piece: r.index,
                        expected,
                        block_hashes,
                    });
                }
            }
            outcome
        };
        drop(permits);
        match outcome {
            BlockOutcome::Ignored => {
                self.shared.wasted.fetch_add(len, Ordering::Relaxed);
            }
            BlockOutcome::New { cancel, .. } => {
                self.shared.downloaded.fetch_add(len, Ordering::Relaxed);
                if !cancel.is_empty() {
                    self.shared.send_to_peers(&cancel, PeerCommand::Cancel(r));
                }
            }
        }
        // a download limit: this peer reads nothing more until the bytes are paid for, so
        // TCP's window slows the sender down (and the pipeline, sized by the rate, shrinks)
        if !self.shared.download.is_unlimited() {
            self.shared.download.acquire(len).await;
        }
        self.fill_requests();
        Ok(())
    }

    /// The picker's wanted pieces changed: requests for pieces it dropped are cancelled (their
    /// blocks would be ignored), then interest and the pipeline follow the new wants.
    pub(super) fn on_wanted_changed(&mut self) {
        let dropped: Vec<BlockRef> = {
            let picker = self.shared.picker();
            self.outstanding
                .iter()
                .map(|(r, _)| *r)
                // a request outlives its piece only when the piece was dropped
                .filter(|r| {
                    !matches!(
                        picker.state(r.index),
                        Some(PieceState::InFlight | PieceState::Verifying)
                    )
                })
                .collect()
        };
        for r in dropped {
            if let Some(pos) = self.outstanding.iter().position(|(o, _)| *o == r) {
                self.outstanding.remove(pos);
                self.send(Message::Cancel(r));
            }
        }
        self.stats
            .requests
            .store(self.outstanding.len() as u32, Ordering::Relaxed);
        self.update_interest();
    }

    pub(super) fn release_all(&mut self) {
        if self.outstanding.is_empty() {
            return;
        }
        let mut picker = self.shared.picker();
        for (r, _) in self.outstanding.drain(..) {
            picker.release(self.key, &r);
        }
        drop(picker);
        self.stats.requests.store(0, Ordering::Relaxed);
        // others may now pick these blocks up
        self.shared.nudge_peers(self.key);
    }

    /// Publish the pieces we have requests in flight for, at most every 100 ms (the
    /// dashboard shows "requested by which peer").
    pub(super) fn publish_in_flight(&mut self, now: Instant) {
        if now.duration_since(self.in_flight_published) < Duration::from_millis(100) {
            return;
        }
        self.in_flight_published = now;
        let mut pieces: Vec<u32> = self.outstanding.iter().map(|(r, _)| r.index).collect();
        pieces.sort_unstable();
        pieces.dedup();
        self.stats.detail().pieces_in_flight = pieces;
    }
}
