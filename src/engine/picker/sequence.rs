//! Sequential order (streaming): the next pieces in index order, for a player that reads the
//! file front to back while it downloads.
//!
//! Strict index order would make every sequential leecher of a swarm want the same piece from
//! the same few peers, and would leave a peer with only later pieces idle. So the front of the
//! order is a window of [`WINDOW`] pieces, fetched rarest first among themselves; past it,
//! pieces go in index order, so a peer that has nothing in the window still brings the next
//! pieces it has.

use super::{BlockRef, PeerKey, Picker, PieceState, Priority};
use crate::proto::bitfield::Bitfield;

/// Pieces at the front of the sequential order that are picked rarest first.
pub const WINDOW: usize = 16;

impl Picker {
    /// Sequential step 2 of [`Picker::pick`] for the pieces of priority `level`.
    pub(super) fn pick_in_order(
        &mut self,
        level: Priority,
        peer: PeerKey,
        have: &Bitfield,
        max: usize,
        start: usize,
        out: &mut Vec<BlockRef>,
    ) {
        let count = self.state.len();
        // everything before the cursor is done: skip it once, not on every pick
        while (self.cursor as usize) < count
            && matches!(
                self.state[self.cursor as usize],
                PieceState::Verified | PieceState::Unwanted
            )
        {
            self.cursor += 1;
        }
        let pickable = |p: &Picker, i: usize| {
            p.state[i] == PieceState::Missing
                && p.priority[i] == level
                && have.get(i as u32)
                && !p.failed_for(i as u32, peer)
        };
        // the window: the next WINDOW pieces of this priority still to be verified
        let mut window = Vec::with_capacity(WINDOW);
        let mut i = self.cursor as usize;
        while i < count && window.len() < WINDOW {
            if self.priority[i] == level && self.state[i] != PieceState::Verified {
                window.push(i as u32);
            }
            i += 1;
        }
        window.retain(|&w| pickable(self, w as usize));
        // stable: equal availability stays in index order
        window.sort_by_key(|&w| self.availability[w as usize]);
        for w in window {
            if out.len() - start >= max {
                return;
            }
            self.start_and_take(w, peer, max, start, out);
        }
        while i < count && out.len() - start < max {
            if pickable(self, i) {
                self.start_and_take(i as u32, peer, max, start, out);
            }
            i += 1;
        }
    }
}
