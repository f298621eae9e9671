//! Piece picking: which blocks to request from which peer.
//!
//! # Piece states
//! Every piece is in exactly one [`PieceState`]: `Missing` (nothing requested), `InFlight`
//! (some blocks requested or received), `Verifying` (every block received, hash check pending),
//! `Verified`, or `Unwanted` (outside the pieces the user asked for). A failed hash check sends a
//! piece back to `Missing` and records the peers that sent it, which never get it again (so a
//! corrupt peer cannot stall that piece) and are reported to the caller to lose trust.
//!
//! # Order
//! Rarest first: `order` holds every piece sorted by availability (number of connected peers
//! that have it), in a random order within the same availability; `bucket_start[a]` is where
//! availability `a` begins. A change of one piece's availability is O(1): it swaps with the edge
//! of its bucket and the edge moves (the same trick as libtorrent's piece picker). Pieces already
//! in flight are finished first, so few pieces are partial at once and memory stays bounded.
//!
//! # Priorities and sequential order
//! Each piece has a priority ([`Priority`]): 0 means not wanted (`Unwanted`), and a higher
//! priority is always picked before a lower one, rarest first within a priority (the engine
//! derives piece priorities from file priorities, see [`crate::engine::priority`]). The usual
//! case, every wanted piece at one priority, costs nothing more than plain rarest-first: the
//! picker keeps the set of priorities in use and walks `order` once per priority present.
//! In sequential mode ([`Picker::set_sequential`], see `sequence.rs`) pieces come in index order
//! instead, rarest first inside a small window at the front so the swarm is not starved.
//!
//! # Endgame
//! When every wanted block is requested or received, a peer with free request slots may request
//! blocks already requested from someone else (at most [`ENDGAME_MAX_REQUESTERS`] at once); the
//! first copy to arrive wins and the others are cancelled.
//!
//! # Pad blocks
//! Blocks made only of BEP 47 pad-file bytes are known zeros: they start out received (by
//! nobody) and are never requested. A piece made only of pad blocks keeps its last block
//! requestable, so its hash check still has an arrival to hang on.

mod sequence;

use crate::proto::bitfield::Bitfield;
use crate::proto::message::{BLOCK_SIZE, BlockRef};
use std::collections::HashMap;
use std::ops::Range;

use crate::engine::priority::{FilePriority, Wants, piece_priorities};
pub use crate::engine::priority::{NORMAL, Priority, TOP};
use crate::proto::metainfo::Info;

/// Identifies one peer connection inside a torrent.
pub type PeerKey = u64;

/// How many peers may have the same block requested at once in endgame.
pub const ENDGAME_MAX_REQUESTERS: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceState {
    /// Wanted, nothing requested yet.
    Missing,
    /// Some blocks requested or received.
    InFlight,
    /// All blocks received; waiting for the hash check.
    Verifying,
    /// Hash checked and stored.
    Verified,
    /// Not selected for download.
    Unwanted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Block {
    Missing,
    Requested(Vec<PeerKey>),
    Received(PeerKey),
    /// Only pad-file bytes (zeros): never requested, counts as received, blames nobody.
    Pad,
}

#[derive(Debug)]
struct Partial {
    blocks: Vec<Block>,
    received: u32,
    /// Blocks still `Missing` (not requested by anyone).
    unrequested: u32,
    /// Parole: a piece that failed with data from several peers is fetched whole from one
    /// peer, so the next failure (if any) names the culprit.
    owner: Option<PeerKey>,
}

/// What happened to a received block.
#[derive(Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// New data: write it. `cancel` lists other peers that had it requested (endgame).
    New {
        cancel: Vec<PeerKey>,
        piece_complete: bool,
    },
    /// Duplicate or unrequested data: drop it.
    Ignored,
}

#[derive(Debug)]
pub struct Picker {
    piece_length: u32,
    total_length: u64,
    state: Vec<PieceState>,
    availability: Vec<u32>,
    order: Vec<u32>,
    pos: Vec<u32>,
    bucket_start: Vec<u32>,
    partial: HashMap<u32, Partial>,
    failed_by: HashMap<u32, Vec<PeerKey>>,
    /// Pieces that failed with blocks from several peers (see [`Partial::owner`]).
    parole: std::collections::HashSet<u32>,
    wanted_left: u32,
    /// Number of pieces in state `Missing` (kept so endgame detection is O(partial pieces)).
    missing: u32,
    verified: Bitfield,
    /// Byte ranges of pad files in the torrent's data, sorted, adjacent ones merged.
    pad: Vec<Range<u64>>,
    /// Per piece (0: not wanted).
    priority: Vec<Priority>,
    /// Bit `p` set: some wanted piece has priority `p`.
    levels: u16,
    /// Pieces in index order (a window at the front rarest first) instead of rarest first.
    sequential: bool,
    /// Sequential mode: every piece before this one is verified or unwanted.
    cursor: u32,
}

impl Picker {
    /// A picker for `piece_count` pieces, all wanted unless `wanted` says otherwise.
    /// `seed` drives the random order within equal availability.
    pub fn new(piece_length: u32, total_length: u64, wanted: Option<&[u32]>, seed: u64) -> Picker {
        let count = total_length.div_ceil(piece_length as u64) as u32;
        let mut state = vec![PieceState::Missing; count as usize];
        if let Some(w) = wanted {
            state.iter_mut().for_each(|s| *s = PieceState::Unwanted);
            for &i in w {
                if let Some(s) = state.get_mut(i as usize) {
                    *s = PieceState::Missing;
                }
            }
        }
        let wanted_left = state.iter().filter(|s| **s == PieceState::Missing).count() as u32;
        let priority: Vec<Priority> = state
            .iter()
            .map(|s| if *s == PieceState::Missing { NORMAL } else { 0 })
            .collect();
        // random permutation (xorshift; no dependency on a global RNG keeps this pure)
        let mut order: Vec<u32> = (0..count).collect();
        let mut x = seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut pos = vec![0u32; count as usize];
        for (i, &p) in order.iter().enumerate() {
            pos[p as usize] = i as u32;
        }
        Picker {
            piece_length,
            total_length,
            state,
            availability: vec![0; count as usize],
            order,
            pos,
            bucket_start: vec![0, count],
            partial: HashMap::new(),
            failed_by: HashMap::new(),
            parole: Default::default(),
            wanted_left,
            missing: wanted_left,
            verified: Bitfield::new(count),
            pad: Vec::new(),
            levels: if wanted_left > 0 { 1 << NORMAL } else { 0 },
            priority,
            sequential: false,
            cursor: 0,
        }
    }

    /// Set every piece's priority (one per piece; shorter slices leave the rest as they
    /// are). A piece that becomes unwanted is dropped, with what arrived of it, unless it is
    /// being verified; blocks still requested for it are ignored when they arrive. A piece
    /// that becomes wanted is fetched (a verified piece stays verified).
    pub fn set_priorities(&mut self, priorities: &[Priority]) {
        for (i, &p) in priorities.iter().enumerate().take(self.state.len()) {
            let p = p.min(TOP);
            self.priority[i] = p;
            let s = &mut self.state[i];
            match (*s, p) {
                (PieceState::Unwanted, 1..) => {
                    *s = PieceState::Missing;
                    self.missing += 1;
                    self.wanted_left += 1;
                }
                (PieceState::Missing, 0) => {
                    *s = PieceState::Unwanted;
                    self.missing -= 1;
                    self.wanted_left -= 1;
                }
                (PieceState::InFlight, 0) => {
                    *s = PieceState::Unwanted;
                    self.wanted_left -= 1;
                    self.partial.remove(&(i as u32));
                    self.parole.remove(&(i as u32));
                }
                _ => {}
            }
        }
        self.levels = self
            .priority
            .iter()
            .zip(&self.state)
            .filter(|(p, s)| **p > 0 && **s != PieceState::Verified)
            .fold(0, |acc, (p, _)| acc | 1 << p);
        // a piece before the cursor may be wanted again
        self.cursor = 0;
    }

    /// Piece priorities and order for a torrent's file priorities (`files`, from
    /// [`Wants::file_priorities`]) and the user's wants.
    pub fn set_wants(&mut self, info: &Info, files: &[FilePriority], wants: &Wants) {
        self.set_priorities(&piece_priorities(info, files, wants.first_last));
        self.set_sequential(wants.sequential);
    }

    /// A piece's priority (0: not wanted).
    pub fn priority(&self, index: u32) -> Priority {
        self.priority.get(index as usize).copied().unwrap_or(0)
    }

    /// Pieces in index order (streaming) or rarest first (the default).
    pub fn set_sequential(&mut self, on: bool) {
        self.sequential = on;
        self.cursor = 0;
    }

    /// The byte ranges of the torrent's pad files (BEP 47): blocks inside them are never
    /// requested. Call before picking starts.
    pub fn set_pad_ranges(&mut self, mut ranges: Vec<Range<u64>>) {
        ranges.retain(|r| !r.is_empty());
        ranges.sort_unstable_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.pad = merged;
    }

    /// Whether every byte of block `block` of piece `index` lies in a pad file.
    fn is_pad_block(&self, index: u32, block: u32) -> bool {
        if self.pad.is_empty() {
            return false;
        }
        let r = self.block_ref(index, block);
        let start = index as u64 * self.piece_length as u64 + r.begin as u64;
        let end = start + r.length as u64;
        // the last pad range starting at or before `start` is the only one that can hold it
        let i = self.pad.partition_point(|p| p.start <= start);
        i > 0 && self.pad[i - 1].end >= end
    }

    pub fn piece_count(&self) -> u32 {
        self.state.len() as u32
    }

    pub fn piece_size(&self, index: u32) -> u32 {
        let start = index as u64 * self.piece_length as u64;
        self.total_length
            .saturating_sub(start)
            .min(self.piece_length as u64) as u32
    }

    fn block_count(&self, index: u32) -> u32 {
        self.piece_size(index).div_ceil(BLOCK_SIZE)
    }

    fn block_ref(&self, index: u32, block: u32) -> BlockRef {
        let begin = block * BLOCK_SIZE;
        BlockRef {
            index,
            begin,
            length: (self.piece_size(index) - begin).min(BLOCK_SIZE),
        }
    }

    pub fn state(&self, index: u32) -> Option<PieceState> {
        self.state.get(index as usize).copied()
    }

    pub fn verified(&self) -> &Bitfield {
        &self.verified
    }

    pub fn availability(&self, index: u32) -> u32 {
        self.availability.get(index as usize).copied().unwrap_or(0)
    }

    /// True when every wanted piece is verified.
    pub fn is_complete(&self) -> bool {
        self.wanted_left == 0
    }

    /// Wanted pieces not yet verified.
    pub fn wanted_left(&self) -> u32 {
        self.wanted_left
    }

    /// Bytes of wanted pieces not yet verified.
    pub fn bytes_left(&self) -> u64 {
        (0..self.piece_count())
            .filter(|&i| {
                !matches!(
                    self.state[i as usize],
                    PieceState::Verified | PieceState::Unwanted
                )
            })
            .map(|i| self.piece_size(i) as u64)
            .sum()
    }

    /// Mark a piece verified at start-up (resume) or after a hash check passed.
    pub fn mark_verified(&mut self, index: u32) {
        self.parole.remove(&index);
        let Some(s) = self.state.get_mut(index as usize) else {
            return;
        };
        if *s == PieceState::Verified {
            return;
        }
        if *s == PieceState::Missing {
            self.missing -= 1;
        }
        if *s != PieceState::Unwanted {
            self.wanted_left -= 1;
        }
        *s = PieceState::Verified;
        self.partial.remove(&index);
        self.verified.set(index);
    }

    /// A hash check failed: the piece goes back to `Missing`. Returns the peers that sent its
    /// blocks. A sole sender is never asked for this piece again; when several peers sent
    /// blocks, the piece goes on parole: it is fetched whole from a single peer next time.
    pub fn mark_failed(&mut self, index: u32) -> Vec<PeerKey> {
        let mut senders = Vec::new();
        if let Some(p) = self.partial.remove(&index) {
            for b in p.blocks {
                if let Block::Received(k) = b
                    && !senders.contains(&k)
                {
                    senders.push(k);
                }
            }
        }
        if let Some(s) = self.state.get_mut(index as usize)
            && *s == PieceState::Verifying
        {
            if self.priority[index as usize] == 0 {
                // unwanted while it was being verified: not fetched again
                *s = PieceState::Unwanted;
                self.wanted_left -= 1;
            } else {
                self.back_to_missing(index);
            }
        }
        if let [only] = senders[..] {
            self.failed_by.entry(index).or_default().push(only);
        } else {
            self.parole.insert(index);
        }
        senders
    }

    // ---- availability -------------------------------------------------------------------

    fn bump(&mut self, index: u32, up: bool) {
        let i = index as usize;
        let a = self.availability[i] as usize;
        if up {
            if self.bucket_start.len() < a + 3 {
                let n = self.order.len() as u32;
                self.bucket_start.resize(a + 3, n);
            }
            // move to the last slot of bucket a, then shrink bucket a by one from the right
            let last = self.bucket_start[a + 1] as usize - 1;
            self.swap_slots(self.pos[i] as usize, last);
            self.bucket_start[a + 1] -= 1;
            self.availability[i] += 1;
        } else {
            if a == 0 {
                return;
            }
            // move to the first slot of bucket a, then grow bucket a-1 by one to the right
            let first = self.bucket_start[a] as usize;
            self.swap_slots(self.pos[i] as usize, first);
            self.bucket_start[a] += 1;
            self.availability[i] -= 1;
        }
    }

    fn swap_slots(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.order.swap(a, b);
        self.pos[self.order[a] as usize] = a as u32;
        self.pos[self.order[b] as usize] = b as u32;
    }

    pub fn peer_has(&mut self, index: u32) {
        if index < self.piece_count() {
            self.bump(index, true);
        }
    }

    /// A peer's bitfield (or HaveAll) arrived: its pieces count towards availability.
    pub fn peer_bitfield(&mut self, have: &Bitfield) {
        // Walk the slots right to left: each piece then moves to the right edge of its bucket in
        // turn, so pieces that gain availability together keep their random relative order. In
        // index order, a seeder's full bitfield would leave every leecher with the same order
        // (reversed indices), and all leechers of a new swarm would fetch the same pieces.
        for slot in (0..self.order.len()).rev() {
            let i = self.order[slot];
            if have.get(i) {
                self.bump(i, true);
            }
        }
    }

    /// A peer left: its pieces no longer count towards availability.
    pub fn peer_gone(&mut self, have: &Bitfield) {
        // left to right, for the same reason as in `peer_bitfield`
        for slot in 0..self.order.len() {
            let i = self.order[slot];
            if have.get(i) {
                self.bump(i, false);
            }
        }
    }

    // ---- requests -----------------------------------------------------------------------

    /// Whether `have` holds any piece we still need (drives `interested`).
    pub fn is_interesting(&self, have: &Bitfield) -> bool {
        if have.is_full() && self.wanted_left > 0 {
            return true;
        }
        have.iter_ones().any(|i| {
            matches!(
                self.state[i as usize],
                PieceState::Missing | PieceState::InFlight
            )
        })
    }

    /// Pick up to `max` blocks for `peer` (which has `have`), appending to `out`.
    /// `allowed` limits the choice to some pieces (BEP 6 allowed-fast while choked).
    pub fn pick(&mut self, peer: PeerKey, have: &Bitfield, max: usize, out: &mut Vec<BlockRef>) {
        let start = out.len();
        // 1. finish pieces already in flight
        let mut partial_pieces: Vec<u32> = self
            .partial
            .iter()
            .filter(|(i, p)| {
                p.unrequested > 0
                    && have.get(**i)
                    && !self.failed_for(**i, peer)
                    && p.owner.is_none_or(|o| o == peer)
            })
            .map(|(i, _)| *i)
            .collect();
        partial_pieces.sort_unstable_by_key(|i| {
            let i = *i as usize;
            (std::cmp::Reverse(self.priority[i]), self.availability[i])
        });
        for index in partial_pieces {
            if out.len() - start >= max {
                return;
            }
            self.take_blocks(index, peer, max - (out.len() - start), out);
        }
        // 2. new pieces: by priority, then rarest first (or in order)
        for level in (1..=TOP).rev() {
            if out.len() - start >= max {
                break;
            }
            if self.levels & (1 << level) == 0 {
                continue;
            }
            // one priority in use (the usual case): no need to look at priorities at all
            let only = self.levels == 1 << level;
            if self.sequential {
                self.pick_in_order(level, peer, have, max, start, out);
                continue;
            }
            let mut slot = 0;
            // whether any piece of this priority is still to be started
            let mut seen = false;
            while out.len() - start < max && slot < self.order.len() {
                let index = self.order[slot];
                slot += 1;
                if self.state[index as usize] == PieceState::Missing
                    && (only || self.priority[index as usize] == level)
                {
                    seen = true;
                    if have.get(index) && !self.failed_for(index, peer) {
                        self.start_and_take(index, peer, max, start, out);
                    }
                }
            }
            if !seen && slot == self.order.len() {
                // a piece going back to `Missing` sets the bit again (`back_to_missing`)
                self.levels &= !(1 << level);
            }
        }
        if out.len() - start >= max || self.has_missing_blocks() {
            return;
        }
        // 3. endgame: duplicate requests of blocks others have outstanding
        let mut dups: Vec<(u32, u32)> = Vec::new();
        let room = max - (out.len() - start);
        for (&index, p) in self.partial.iter_mut() {
            if !have.get(index) || p.owner.is_some() {
                continue;
            }
            for (b, block) in p.blocks.iter_mut().enumerate() {
                if dups.len() >= room {
                    break;
                }
                if let Block::Requested(peers) = block
                    && peers.len() < ENDGAME_MAX_REQUESTERS
                    && !peers.contains(&peer)
                {
                    peers.push(peer);
                    dups.push((index, b as u32));
                }
            }
        }
        out.extend(dups.into_iter().map(|(index, b)| self.block_ref(index, b)));
    }

    /// A piece that was started goes back to `Missing`, to be picked again.
    fn back_to_missing(&mut self, index: u32) {
        let p = self.priority[index as usize];
        if p == 0 {
            self.state[index as usize] = PieceState::Unwanted;
            self.wanted_left -= 1;
            return;
        }
        self.state[index as usize] = PieceState::Missing;
        self.missing += 1;
        self.levels |= 1 << p;
    }

    /// Start a new piece for `peer` and take its blocks, up to `max` since `start` in `out`
    /// (a parole piece goes to the peer whole).
    fn start_and_take(
        &mut self,
        index: u32,
        peer: PeerKey,
        max: usize,
        start: usize,
        out: &mut Vec<BlockRef>,
    ) {
        self.start_piece(index);
        if self.parole.contains(&index) {
            // the whole piece goes to this peer, whatever its pipeline says
            if let Some(p) = self.partial.get_mut(&index) {
                p.owner = Some(peer);
            }
            self.take_blocks(index, peer, usize::MAX, out);
        } else {
            self.take_blocks(index, peer, max - (out.len() - start), out);
        }
    }

    /// True when some wanted block is neither requested nor received.
    fn has_missing_blocks(&self) -> bool {
        self.missing > 0 || self.partial.values().any(|p| p.unrequested > 0)
    }

    /// Whether we are in endgame: nothing left to request for the first time.
    pub fn in_endgame(&self) -> bool {
        self.wanted_left > 0 && !self.has_missing_blocks()
    }

    fn failed_for(&self, index: u32, peer: PeerKey) -> bool {
        self.failed_by
            .get(&index)
            .is_some_and(|v| v.contains(&peer))
    }

    fn start_piece(&mut self, index: u32) {
        let n = self.block_count(index);
        self.state[index as usize] = PieceState::InFlight;
        self.missing -= 1;
        let mut blocks: Vec<Block> = (0..n)
            .map(|b| {
                if self.is_pad_block(index, b) {
                    Block::Pad
                } else {
                    Block::Missing
                }
            })
            .collect();
        if !blocks.contains(&Block::Missing)
            && let Some(last) = blocks.last_mut()
        {
            *last = Block::Missing;
        }
        let pads = blocks.iter().filter(|b| **b == Block::Pad).count() as u32;
        self.partial.insert(
            index,
            Partial {
                blocks,
                received: pads,
                unrequested: n - pads,
                owner: None,
            },
        );
    }

    fn take_blocks(&mut self, index: u32, peer: PeerKey, max: usize, out: &mut Vec<BlockRef>) {
        let mut taken = Vec::new();
        if let Some(p) = self.partial.get_mut(&index) {
            for (b, block) in p.blocks.iter_mut().enumerate() {
                if taken.len() >= max {
                    break;
                }
                if *block == Block::Missing {
                    *block = Block::Requested(vec![peer]);
                    p.unrequested -= 1;
                    taken.push(b as u32);
                }
            }
        }
        out.extend(taken.into_iter().map(|b| self.block_ref(index, b)));
    }

    /// `peer` will not deliver `r` (choked, rejected, timed out or disconnected): the block can
    /// be requested again.
    pub fn release(&mut self, peer: PeerKey, r: &BlockRef) {
        let b = (r.begin / BLOCK_SIZE) as usize;
        let Some(p) = self.partial.get_mut(&r.index) else {
            return;
        };
        let Some(block) = p.blocks.get_mut(b) else {
            return;
        };
        if let Block::Requested(peers) = block {
            peers.retain(|k| *k != peer);
            if peers.is_empty() {
                *block = Block::Missing;
                p.unrequested += 1;
            }
        }
        let owner_holds_none = |p: &Partial| {
            !p.blocks
                .iter()
                .any(|b| matches!(b, Block::Requested(ps) if ps.contains(&peer)))
        };
        if p.owner == Some(peer) && owner_holds_none(p) {
            // The parole owner let go of the piece (choked, timed out or disconnected). Its
            // blocks so far are dropped: the piece must still come whole from one peer, and
            // nobody else may pick a piece with an owner, so keeping it would stall the download.
            self.partial.remove(&r.index);
            self.back_to_missing(r.index);
        }
    }

    /// Record the arrival of block `r` from `peer`. The caller checked that `r` has the exact
    /// coordinates of a block (begin aligned, length right).
    pub fn block_received(&mut self, peer: PeerKey, r: &BlockRef) -> BlockOutcome {
        let b = (r.begin / BLOCK_SIZE) as usize;
        let Some(p) = self.partial.get_mut(&r.index) else {
            return BlockOutcome::Ignored;
        };
        if p.owner.is_some_and(|o| o != peer) {
            // a parole piece takes data from its owner only (late data from someone else would
            // mix senders again and spoil the blame)
            return BlockOutcome::Ignored;
        }
        let Some(block) = p.blocks.get_mut(b) else {
            return BlockOutcome::Ignored;
        };
        let cancel = match block {
            Block::Received(_) | Block::Pad => return BlockOutcome::Ignored,
            Block::Missing => {
                // late data after a timeout released it: still useful
                p.unrequested -= 1;
                Vec::new()
            }
            Block::Requested(peers) => peers.iter().copied().filter(|k| *k != peer).collect(),
        };
        *block = Block::Received(peer);
        p.received += 1;
        let piece_complete = p.received as usize == p.blocks.len();
        if piece_complete {
            self.state[r.index as usize] = PieceState::Verifying;
        }
        BlockOutcome::New {
            cancel,
            piece_complete,
        }
    }

    /// `peer` disconnected (after releasing its requests): a parole piece it owned and had not
    /// finished starts over, to be fetched whole by someone else. Without this, a piece whose
    /// owner left with no request outstanding would keep an owner nobody can replace.
    pub fn peer_left(&mut self, peer: PeerKey) {
        let owned: Vec<u32> = self
            .partial
            .iter()
            .filter(|(i, p)| {
                p.owner == Some(peer) && self.state[**i as usize] == PieceState::InFlight
            })
            .map(|(i, _)| *i)
            .collect();
        for index in owned {
            self.partial.remove(&index);
            self.back_to_missing(index);
        }
    }

    /// Whether the piece failed before with blocks from several peers (see parole).
    pub fn on_parole(&self, index: u32) -> bool {
        self.parole.contains(&index)
    }

    /// Who sent each block of a piece in flight (`None`: not received), for blame.
    pub fn block_senders(&self, index: u32) -> Vec<Option<PeerKey>> {
        self.partial
            .get(&index)
            .map(|p| {
                p.blocks
                    .iter()
                    .map(|b| {
                        if let Block::Received(k) = b {
                            Some(*k)
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `r` names exactly one block of a piece of this torrent.
    pub fn is_valid_block(&self, r: &BlockRef) -> bool {
        r.index < self.piece_count()
            && r.begin.is_multiple_of(BLOCK_SIZE)
            && r.begin < self.piece_size(r.index)
            && r.length == self.block_ref(r.index, r.begin / BLOCK_SIZE).length
    }

    /// Pieces currently partially downloaded, for the dashboard.
    pub fn in_flight(&self) -> impl Iterator<Item = u32> + '_ {
        self.partial.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PL: u32 = 4 * BLOCK_SIZE;

    fn full(n: u32) -> Bitfield {
        Bitfield::full(n)
    }

    /// The pieces one pick of `max` blocks starts, in order.
    fn picked(p: &mut Picker, peer: PeerKey, have: &Bitfield, max: usize) -> Vec<u32> {
        let mut out = Vec::new();
        p.pick(peer, have, max, &mut out);
        let mut pieces: Vec<u32> = Vec::new();
        for r in out {
            if pieces.last() != Some(&r.index) {
                pieces.push(r.index);
            }
        }
        pieces
    }

    #[test]
    fn higher_priorities_first_and_skipped_pieces_never() {
        let mut p = Picker::new(PL, 8 * PL as u64, None, 3);
        p.peer_bitfield(&full(8));
        // pieces 0-1 skipped, 2-3 low, 4-5 high, 6-7 normal
        p.set_priorities(&[0, 0, 1, 1, 7, 7, NORMAL, NORMAL]);
        assert_eq!(p.wanted_left(), 6);
        let order = picked(&mut p, 1, &full(8), 6 * 4);
        assert_eq!(order.len(), 6);
        let mut first: Vec<u32> = order[..2].to_vec();
        first.sort();
        assert_eq!(first, [4, 5], "high first: {order:?}");
        let mut next: Vec<u32> = order[2..4].to_vec();
        next.sort();
        assert_eq!(next, [6, 7], "then normal: {order:?}");
        assert!(!order.contains(&0) && !order.contains(&1));
        // wanting everything again: the skipped pieces come back, verified ones stay
        p.mark_verified(4);
        p.set_priorities(&[NORMAL; 8]);
        assert_eq!(p.wanted_left(), 7);
        assert_eq!(p.state(0), Some(PieceState::Missing));
        assert_eq!(p.state(4), Some(PieceState::Verified));
    }

    #[test]
    fn within_a_priority_the_rarest_piece_first() {
        let mut p = Picker::new(PL, 4 * PL as u64, None, 5);
        p.peer_bitfield(&full(4));
        let mut lacks1 = full(4);
        lacks1.clear(1);
        p.peer_bitfield(&lacks1);
        let mut only2 = Bitfield::new(4);
        only2.set(2);
        p.peer_bitfield(&only2);
        // availability 2, 1, 3, 2: piece 1 is the rarest of the normal ones, piece 2 (low)
        // would be the most common anyway
        p.set_priorities(&[NORMAL, NORMAL, 1, NORMAL]);
        let order = picked(&mut p, 9, &full(4), 4);
        assert_eq!(order, [1], "the rarest of the higher priority: {order:?}");
    }

    #[test]
    fn an_unwanted_piece_in_flight_is_dropped_and_one_being_verified_finishes() {
        let mut p = Picker::new(PL, 3 * PL as u64, None, 1);
        p.peer_bitfield(&full(3));
        let mut out = Vec::new();
        p.pick(1, &full(3), 12, &mut out);
        // piece 0 arrives whole (verifying), piece 1 half
        for r in out.iter().filter(|r| r.index == 0) {
            p.block_received(1, r);
        }
        let half: Vec<BlockRef> = out
            .iter()
            .filter(|r| r.index == 1)
            .take(2)
            .copied()
            .collect();
        for r in &half {
            p.block_received(1, r);
        }
        assert_eq!(p.state(0), Some(PieceState::Verifying));
        p.set_priorities(&[0, 0, NORMAL]);
        assert_eq!(p.state(1), Some(PieceState::Unwanted));
        assert_eq!(p.state(0), Some(PieceState::Verifying));
        // late blocks of the dropped piece are ignored
        let late = out
            .iter()
            .find(|r| r.index == 1 && !half.contains(r))
            .unwrap();
        assert_eq!(p.block_received(1, late), BlockOutcome::Ignored);
        // the verifying piece fails: unwanted now, not fetched again
        p.mark_failed(0);
        assert_eq!(p.state(0), Some(PieceState::Unwanted));
        assert_eq!(p.wanted_left(), 1);
    }

    #[test]
    fn sequential_goes_in_order_with_the_rarest_first_inside_the_window() {
        let n = 40;
        let mut p = Picker::new(PL, n as u64 * PL as u64, None, 11);
        p.set_sequential(true);
        p.peer_bitfield(&full(n));
        p.peer_bitfield(&full(n));
        // piece 5 is rarer than the rest (one peer lacks it)
        let mut lacks5 = full(n);
        lacks5.clear(5);
        p.peer_gone(&full(n));
        p.peer_bitfield(&lacks5);
        let mut order = Vec::new();
        // one block at a time, as a slow pipeline would ask
        for _ in 0..n {
            order.extend(picked(&mut p, 1, &full(n), 4));
        }
        assert_eq!(order[0], 5, "the rarest piece of the window first");
        let rest: Vec<u32> = order[1..].to_vec();
        let mut sorted = rest.clone();
        sorted.sort();
        assert_eq!(rest, sorted, "then index order: {order:?}");
        // a peer with nothing in the window still gets the next pieces it has
        let mut q = Picker::new(PL, n as u64 * PL as u64, None, 11);
        q.set_sequential(true);
        let mut late = Bitfield::new(n);
        for i in 30..n {
            late.set(i);
        }
        q.peer_bitfield(&late);
        assert_eq!(picked(&mut q, 2, &late, 8), [30, 31]);
    }

    #[test]
    fn picks_whole_pieces_in_flight_first() {
        let mut p = Picker::new(PL, 10 * PL as u64, None, 7);
        p.peer_bitfield(&full(10));
        let mut out = Vec::new();
        p.pick(1, &full(10), 2, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].index, out[1].index);
        let first = out[0].index;
        out.clear();
        p.pick(2, &full(10), 3, &mut out);
        // two remaining blocks of the same piece come first
        assert_eq!(out[0].index, first);
        assert_eq!(out[1].index, first);
        assert_ne!(out[2].index, first);
    }

    #[test]
    fn pad_blocks_are_never_requested() {
        // 3 pieces of 4 blocks. Pad bytes: the last 2.5 blocks of piece 0 (a partly padded
        // block stays requested) and all of piece 1 plus the first block of piece 2, given as
        // two adjacent ranges.
        let b = BLOCK_SIZE as u64;
        let pl = PL as u64;
        let mut p = Picker::new(PL, 3 * pl, None, 1);
        p.set_pad_ranges(vec![pl + 2 * b..2 * pl + b, pl - 5 * b / 2..pl + 2 * b]);
        p.peer_bitfield(&full(3));
        let mut out = Vec::new();
        p.pick(1, &full(3), 100, &mut out);
        let mut got: Vec<(u32, u32)> = out
            .iter()
            .map(|r| (r.index, r.begin / BLOCK_SIZE))
            .collect();
        got.sort_unstable();
        // piece 0: blocks 0 and 1 (block 1 is half data); piece 1 is all pad: only its last
        // block is asked for, so the piece still completes; piece 2: blocks 1..4
        assert_eq!(got, vec![(0, 0), (0, 1), (1, 3), (2, 1), (2, 2), (2, 3)]);
        // nothing is left to ask for: endgame duplicates only real requests
        assert!(p.in_endgame());
        // pad blocks are no one's: data for them is dropped and blames nobody
        let pad_block = BlockRef {
            index: 0,
            begin: 3 * BLOCK_SIZE,
            length: BLOCK_SIZE,
        };
        assert_eq!(p.block_received(1, &pad_block), BlockOutcome::Ignored);
        for r in &out {
            p.block_received(1, r);
        }
        for piece in 0..3 {
            assert_eq!(p.state(piece), Some(PieceState::Verifying));
        }
        assert_eq!(p.block_senders(0), vec![Some(1), Some(1), None, None]);
        // a failed piece restarts with its pad blocks still skipped
        assert_eq!(p.mark_failed(0), vec![1]);
        let mut again = Vec::new();
        p.pick(2, &full(3), 100, &mut again);
        let again: Vec<u32> = again.iter().map(|r| r.begin / BLOCK_SIZE).collect();
        assert_eq!(again, vec![0, 1]);
    }

    #[test]
    fn rarest_first() {
        let mut p = Picker::new(PL, 4 * PL as u64, None, 3);
        let mut a = Bitfield::new(4);
        for i in 0..4 {
            a.set(i);
        }
        p.peer_bitfield(&a);
        p.peer_bitfield(&a);
        let mut b = Bitfield::new(4);
        b.set(2);
        p.peer_bitfield(&b);
        // pieces 0,1,3 have availability 2, piece 2 has 3: take one of the rare ones first
        let mut out = Vec::new();
        p.pick(1, &full(4), 1, &mut out);
        assert_ne!(out[0].index, 2);
        // lower availability of piece 2 below the others: now it is the rarest
        for _ in 0..2 {
            p.peer_gone(&b);
        }
        let mut q = Picker::new(PL, 4 * PL as u64, None, 3);
        q.peer_bitfield(&a);
        q.peer_has(0);
        q.peer_has(1);
        q.peer_has(3);
        out.clear();
        q.pick(1, &full(4), 1, &mut out);
        assert_eq!(out[0].index, 2);
    }

    #[test]
    fn full_bitfields_keep_the_random_order() {
        // two leechers of one seeder must not fetch pieces in the same order
        let orders: Vec<Vec<u32>> = [1u64, 2]
            .iter()
            .map(|&seed| {
                let mut p = Picker::new(PL, 64 * PL as u64, None, seed);
                let before = p.order.clone();
                p.peer_bitfield(&full(64));
                assert_eq!(p.order, before, "a full bitfield keeps the order");
                p.peer_bitfield(&full(64));
                p.peer_gone(&full(64));
                assert_eq!(p.order, before, "and so does a peer leaving");
                p.order
            })
            .collect();
        assert_ne!(orders[0], orders[1]);
    }

    #[test]
    fn bucket_invariants_hold_under_random_changes() {
        let n = 50;
        let mut p = Picker::new(PL, n as u64 * PL as u64, None, 11);
        let mut x: u64 = 12345;
        let mut counts = vec![0u32; n];
        for _ in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = ((x >> 33) % n as u64) as u32;
            if (x >> 20) & 1 == 0 {
                p.peer_has(i);
                counts[i as usize] += 1;
            } else if counts[i as usize] > 0 {
                let mut b = Bitfield::new(n as u32);
                b.set(i);
                p.peer_gone(&b);
                counts[i as usize] -= 1;
            }
            // order sorted by availability, pos consistent
            for (slot, &piece) in p.order.iter().enumerate() {
                assert_eq!(p.pos[piece as usize] as usize, slot);
            }
            let av: Vec<u32> = p
                .order
                .iter()
                .map(|&i| p.availability[i as usize])
                .collect();
            assert!(av.windows(2).all(|w| w[0] <= w[1]));
        }
        assert_eq!(p.availability, counts);
    }

    #[test]
    fn block_never_requested_twice_outside_endgame_and_completion() {
        let n = 3;
        let total = n as u64 * PL as u64 - 100; // short last piece
        let mut p = Picker::new(PL, total, None, 5);
        let have = full(n);
        p.peer_bitfield(&have);
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        p.pick(1, &have, 5, &mut out);
        assert!(!p.in_endgame());
        p.pick(2, &have, 7, &mut out);
        for r in &out {
            assert!(seen.insert((r.index, r.begin)), "duplicate {r:?}");
            assert!(p.is_valid_block(r));
        }
        assert_eq!(out.len(), 12);
        let last = out
            .iter()
            .find(|r| r.index == 2 && r.begin == 3 * BLOCK_SIZE)
            .unwrap();
        assert_eq!(last.length, BLOCK_SIZE - 100);
        assert!(p.in_endgame());
        let mut complete = 0;
        for r in &out {
            let peer = if seen.len() % 2 == 0 { 1 } else { 2 };
            if let BlockOutcome::New {
                piece_complete: true,
                ..
            } = p.block_received(peer, r)
            {
                complete += 1;
                p.mark_verified(r.index);
            }
        }
        assert_eq!(complete, 3);
        assert!(p.is_complete());
        assert_eq!(p.bytes_left(), 0);
    }

    #[test]
    fn endgame_duplicates_and_cancels() {
        let mut p = Picker::new(PL, PL as u64, None, 1);
        let have = full(1);
        let mut a = Vec::new();
        p.pick(1, &have, 10, &mut a);
        assert_eq!(a.len(), 4);
        let mut b = Vec::new();
        p.pick(2, &have, 10, &mut b);
        assert_eq!(b.len(), 4, "endgame lets peer 2 duplicate");
        assert_eq!(a, b, "duplicates carry the real block coordinates");
        let mut partial = Vec::new();
        p.pick(4, &have, 1, &mut partial);
        assert_eq!(partial.len(), 0, "blocks already have two requesters");
        let mut c = Vec::new();
        p.pick(3, &have, 10, &mut c);
        assert!(c.is_empty(), "at most {ENDGAME_MAX_REQUESTERS} requesters");
        assert_eq!(
            p.block_received(2, &b[0]),
            BlockOutcome::New {
                cancel: vec![1],
                piece_complete: false
            }
        );
        assert_eq!(p.block_received(1, &a[0]), BlockOutcome::Ignored);
    }

    #[test]
    fn endgame_requests_have_real_lengths_when_the_pipeline_fills() {
        // regression: endgame picks that filled `max` were sent with length 0
        let mut p = Picker::new(PL, PL as u64 - 5, None, 1);
        let have = full(1);
        let mut a = Vec::new();
        p.pick(1, &have, 10, &mut a);
        let mut b = Vec::new();
        p.pick(2, &have, 2, &mut b);
        assert_eq!(b.len(), 2);
        for r in &b {
            assert!(p.is_valid_block(r), "{r:?}");
        }
    }

    #[test]
    fn released_blocks_are_picked_again_and_failed_peers_avoided() {
        let mut p = Picker::new(PL, PL as u64, None, 1);
        let have = full(1);
        let mut a = Vec::new();
        p.pick(1, &have, 10, &mut a);
        for r in &a {
            p.release(1, r);
        }
        let mut b = Vec::new();
        p.pick(2, &have, 10, &mut b);
        assert_eq!(a, b);
        for r in &b {
            p.block_received(2, r);
        }
        assert_eq!(p.state(0), Some(PieceState::Verifying));
        assert_eq!(p.mark_failed(0), vec![2]);
        assert_eq!(p.state(0), Some(PieceState::Missing));
        let mut c = Vec::new();
        p.pick(2, &have, 10, &mut c);
        assert!(c.is_empty(), "peer 2 sent bad data for piece 0");
        p.pick(3, &have, 10, &mut c);
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn a_piece_failed_by_several_peers_is_fetched_whole_from_one() {
        let mut p = Picker::new(PL, PL as u64, None, 1);
        let have = full(1);
        let mut a = Vec::new();
        p.pick(1, &have, 2, &mut a);
        let mut b = Vec::new();
        p.pick(2, &have, 2, &mut b);
        for r in &a {
            p.block_received(1, r);
        }
        for r in &b {
            p.block_received(2, r);
        }
        let mut senders = p.mark_failed(0);
        senders.sort();
        assert_eq!(senders, vec![1, 2]);
        // neither is excluded (either may be innocent), but the next attempt is exclusive
        let mut c = Vec::new();
        p.pick(2, &have, 1, &mut c);
        assert_eq!(c.len(), 4, "parole takes the whole piece");
        let mut d = Vec::new();
        p.pick(1, &have, 10, &mut d);
        assert!(d.is_empty(), "no sharing, not even in endgame");
        // the owner lets go: another peer can take it whole
        for r in &c {
            p.release(2, r);
        }
        p.pick(1, &have, 1, &mut d);
        assert_eq!(d.len(), 4);
        for r in &d {
            p.block_received(1, r);
        }
        assert_eq!(p.mark_failed(0), vec![1]);
        let mut e = Vec::new();
        p.pick(1, &have, 10, &mut e);
        assert!(
            e.is_empty(),
            "a sole sender of bad data never gets the piece again"
        );
    }

    /// A one-piece torrent whose piece, half from peer 1 and half from peer 2, failed its
    /// hash; peer 2 then picked it on parole. Returns the picker, the full bitfield and the
    /// blocks peer 2 was given.
    fn parole_for_peer_2() -> (Picker, Bitfield, Vec<BlockRef>) {
        let mut p = Picker::new(PL, PL as u64, None, 1);
        let have = full(1);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        p.pick(1, &have, 2, &mut a);
        p.pick(2, &have, 2, &mut b);
        a.iter()
            .for_each(|r| assert!(matches!(p.block_received(1, r), BlockOutcome::New { .. })));
        b.iter()
            .for_each(|r| assert!(matches!(p.block_received(2, r), BlockOutcome::New { .. })));
        p.mark_failed(0);
        let mut c = Vec::new();
        p.pick(2, &have, 1, &mut c);
        (p, have, c)
    }

    #[test]
    fn a_parole_piece_is_not_stuck_when_its_owner_leaves_mid_piece() {
        // regression: the parole owner received some blocks, then disconnected; the piece kept
        // its departed owner, so no other peer could ever pick it and the download stalled
        let (mut p, have, c) = parole_for_peer_2();
        assert_eq!(c.len(), 4, "parole takes the whole piece");
        p.block_received(2, &c[0]);
        // peer 2 disconnects: its other requests are released
        for r in &c[1..] {
            p.release(2, r);
        }
        p.peer_gone(&have);
        let mut d = Vec::new();
        p.pick(3, &have, 10, &mut d);
        assert_eq!(d.len(), 4, "a new peer takes the whole piece again: {d:?}");
        for r in &d {
            p.block_received(3, r);
        }
        assert_eq!(p.state(0), Some(PieceState::Verifying));
        assert_eq!(
            p.block_senders(0),
            vec![Some(3); 4],
            "every block of the parole piece from one peer"
        );
    }

    #[test]
    fn a_parole_piece_is_not_stuck_when_its_owner_leaves_with_nothing_outstanding() {
        // regression (found by random_events): the owner's third block was released while
        // it still had another outstanding, both others arrived, then it left with no request
        // outstanding, so no release could reset the piece
        let (mut p, have, c) = parole_for_peer_2();
        assert_eq!(c.len(), 4);
        p.release(2, &c[3]);
        for r in &c[..3] {
            p.block_received(2, r);
        }
        p.peer_left(2);
        p.peer_gone(&have);
        let mut d = Vec::new();
        p.pick(3, &have, 10, &mut d);
        assert_eq!(d.len(), 4, "a new peer takes the whole piece again: {d:?}");
    }

    #[test]
    fn wanted_subset_and_interest() {
        let mut p = Picker::new(PL, 4 * PL as u64, Some(&[2]), 1);
        assert_eq!(p.wanted_left(), 1);
        let mut b = Bitfield::new(4);
        b.set(1);
        assert!(!p.is_interesting(&b));
        b.set(2);
        assert!(p.is_interesting(&b));
        let mut out = Vec::new();
        p.pick(1, &full(4), 100, &mut out);
        assert!(out.iter().all(|r| r.index == 2));
        assert!(!p.is_valid_block(&BlockRef {
            index: 2,
            begin: 1,
            length: BLOCK_SIZE
        }));
        assert!(!p.is_valid_block(&BlockRef {
            index: 9,
            begin: 0,
            length: BLOCK_SIZE
        }));
    }
}

/// Random sequences of peer events against the picker, checked after every step against a
/// model of what the peer sessions hold (their outstanding requests).
#[cfg(test)]
mod random_events {
    use super::*;
    use proptest::prelude::*;

    const PEERS: u64 = 4;

    #[derive(Debug, Clone)]
    enum Op {
        /// A peer connects with a bitfield (bit i set when seed bit i is set; full when `full`).
        Connect {
            peer: u64,
            seed: u64,
            full: bool,
        },
        Have {
            peer: u64,
            index: u32,
        },
        Pick {
            peer: u64,
            max: usize,
        },
        /// The peer delivers its `k`-th outstanding request.
        Deliver {
            peer: u64,
            k: usize,
        },
        /// The peer rejects / times out on its `k`-th outstanding request.
        Release {
            peer: u64,
            k: usize,
        },
        /// A valid block nobody asked this peer for (late data after a timeout).
        Unrequested {
            peer: u64,
            index: u32,
            block: u32,
        },
        Gone {
            peer: u64,
        },
        /// The hash check of the `k`-th piece awaiting it ends.
        Verify {
            k: usize,
            pass: bool,
        },
        /// New priorities: piece i gets one of 0 (skip), 1, 4, 7, 8 from `seed`; the
        /// requests of pieces that became unwanted are cancelled (as the engine does).
        Prioritize {
            seed: u64,
        },
        Sequential(bool),
    }

    fn priority_from(seed: u64, i: u32) -> Priority {
        [0, 1, NORMAL, 7, TOP, NORMAL, NORMAL, 1][((seed >> ((3 * i) % 60)) & 7) as usize]
    }

    fn op() -> impl Strategy<Value = Op> {
        let peer = 1..=PEERS;
        prop_oneof![
            1 => (peer.clone(), any::<u64>(), any::<bool>()).prop_map(|(peer, seed, full)| Op::Connect { peer, seed, full }),
            1 => (peer.clone(), 0..40u32).prop_map(|(peer, index)| Op::Have { peer, index }),
            3 => (peer.clone(), 1..20usize).prop_map(|(peer, max)| Op::Pick { peer, max }),
            4 => (peer.clone(), any::<usize>()).prop_map(|(peer, k)| Op::Deliver { peer, k }),
            1 => (peer.clone(), any::<usize>()).prop_map(|(peer, k)| Op::Release { peer, k }),
            1 => (peer.clone(), 0..40u32, 0..4u32).prop_map(|(peer, index, block)| Op::Unrequested { peer, index, block }),
            1 => (peer).prop_map(|peer| Op::Gone { peer }),
            2 => (any::<usize>(), prop::bool::weighted(0.6)).prop_map(|(k, pass)| Op::Verify { k, pass }),
            1 => any::<u64>().prop_map(|seed| Op::Prioritize { seed }),
            1 => any::<bool>().prop_map(Op::Sequential),
        ]
    }

    #[derive(Default, Clone)]
    struct PeerModel {
        have: Option<Bitfield>,
        outstanding: Vec<BlockRef>,
    }

    struct World {
        p: Picker,
        peers: Vec<PeerModel>,
    }

    impl World {
        fn remove_outstanding(&mut self, peer: u64, r: &BlockRef) {
            let o = &mut self.peers[peer as usize].outstanding;
            if let Some(pos) = o.iter().position(|x| x == r) {
                o.remove(pos);
            }
        }

        /// What a peer session does with a received block (see `peer::Session::on_block`).
        fn receive(&mut self, peer: u64, r: BlockRef) {
            self.remove_outstanding(peer, &r);
            if let BlockOutcome::New {
                cancel,
                piece_complete,
            } = self.p.block_received(peer, &r)
            {
                for other in cancel {
                    assert_ne!(other, peer);
                    self.remove_outstanding(other, &r);
                }
                assert_eq!(
                    piece_complete,
                    self.p.state(r.index) == Some(PieceState::Verifying)
                );
            }
        }

        fn apply(&mut self, op: Op) {
            let n = self.p.piece_count();
            match op {
                Op::Connect { peer, seed, full } => {
                    if self.peers[peer as usize].have.is_some() {
                        return;
                    }
                    let mut have = Bitfield::new(n);
                    for i in 0..n {
                        if full || (seed >> (i % 64)) & 1 == 1 {
                            have.set(i);
                        }
                    }
                    self.p.peer_bitfield(&have);
                    self.peers[peer as usize].have = Some(have);
                }
                Op::Have { peer, index } => {
                    let index = index % n;
                    if let Some(have) = &mut self.peers[peer as usize].have
                        && have.set(index)
                    {
                        self.p.peer_has(index);
                    }
                }
                Op::Pick { peer, max } => {
                    let Some(have) = self.peers[peer as usize].have.clone() else {
                        return;
                    };
                    let mut out = Vec::new();
                    let before: Vec<Option<PieceState>> = (0..n).map(|i| self.p.state(i)).collect();
                    self.p.pick(peer, &have, max, &mut out);
                    // a parole piece goes whole to one peer, whatever `max` says (it may
                    // follow blocks of other pieces in the same pick)
                    let regular = out.iter().filter(|r| !self.p.on_parole(r.index)).count();
                    assert!(
                        regular <= max,
                        "{regular} blocks of non-parole pieces for max {max}"
                    );
                    let mut seen = std::collections::HashSet::new();
                    for r in &out {
                        assert!(seen.insert(*r), "{r:?} twice in one pick");
                        assert!(self.p.is_valid_block(r), "{r:?} is not a block");
                        assert!(have.get(r.index), "{r:?} from a peer without the piece");
                        assert!(
                            !self.peers[peer as usize].outstanding.contains(r),
                            "{r:?} re-requested from the same peer"
                        );
                        let elsewhere = self
                            .peers
                            .iter()
                            .filter(|m| m.outstanding.contains(r))
                            .count();
                        if elsewhere > 0 {
                            assert!(self.p.in_endgame(), "{r:?} requested twice outside endgame");
                            assert!(elsewhere < ENDGAME_MAX_REQUESTERS);
                        }
                    }
                    // no piece started while one of a higher priority this peer could have
                    // started is left untouched
                    let lowest_new = out
                        .iter()
                        .filter(|r| before[r.index as usize] == Some(PieceState::Missing))
                        .map(|r| self.p.priority(r.index))
                        .min();
                    if let Some(lowest) = lowest_new {
                        for i in 0..n {
                            if self.p.state(i) == Some(PieceState::Missing)
                                && have.get(i)
                                && !self.p.failed_for(i, peer)
                            {
                                assert!(
                                    self.p.priority(i) <= lowest,
                                    "piece {i} of priority {} left for one of {lowest}",
                                    self.p.priority(i)
                                );
                            }
                        }
                    }
                    assert!(
                        out.iter().all(|r| self.p.priority(r.index) > 0),
                        "an unwanted piece requested"
                    );
                    self.peers[peer as usize].outstanding.extend(out);
                }
                Op::Prioritize { seed } => {
                    let prios: Vec<Priority> = (0..n).map(|i| priority_from(seed, i)).collect();
                    self.p.set_priorities(&prios);
                    for k in 0..self.peers.len() {
                        let dropped: Vec<BlockRef> = self.peers[k]
                            .outstanding
                            .iter()
                            .filter(|r| !self.p.partial.contains_key(&r.index))
                            .copied()
                            .collect();
                        for r in dropped {
                            self.remove_outstanding(k as u64, &r);
                        }
                    }
                }
                Op::Sequential(on) => self.p.set_sequential(on),
                Op::Deliver { peer, k } => {
                    let o = &self.peers[peer as usize].outstanding;
                    if o.is_empty() {
                        return;
                    }
                    let r = o[k % o.len()];
                    self.receive(peer, r);
                }
                Op::Release { peer, k } => {
                    let o = &mut self.peers[peer as usize].outstanding;
                    if o.is_empty() {
                        return;
                    }
                    let r = o.remove(k % o.len());
                    self.p.release(peer, &r);
                }
                Op::Unrequested { peer, index, block } => {
                    if self.peers[peer as usize].have.is_none() {
                        return;
                    }
                    let index = index % n;
                    let r = self.p.block_ref(index, block % self.p.block_count(index));
                    if self.peers[peer as usize].outstanding.contains(&r) {
                        return;
                    }
                    assert!(self.p.is_valid_block(&r));
                    self.receive(peer, r);
                }
                Op::Gone { peer } => {
                    let m = std::mem::take(&mut self.peers[peer as usize]);
                    for r in &m.outstanding {
                        self.p.release(peer, r);
                    }
                    self.p.peer_left(peer);
                    if let Some(have) = m.have {
                        self.p.peer_gone(&have);
                    }
                }
                Op::Verify { k, pass } => {
                    let verifying: Vec<u32> = (0..n)
                        .filter(|i| self.p.state(*i) == Some(PieceState::Verifying))
                        .collect();
                    if verifying.is_empty() {
                        return;
                    }
                    let index = verifying[k % verifying.len()];
                    if pass {
                        self.p.mark_verified(index);
                    } else {
                        self.p.mark_failed(index);
                    }
                }
            }
        }

        /// The picker's bookkeeping agrees with itself and with the peers' requests.
        fn check(&self) {
            let p = &self.p;
            let n = p.piece_count();
            let mut missing = 0;
            let mut wanted_left = 0;
            for i in 0..n {
                let s = p.state[i as usize];
                assert_eq!(
                    s == PieceState::Verified,
                    p.verified.get(i),
                    "piece {i}: {s:?} vs verified bit"
                );
                let partial = p.partial.get(&i);
                assert_eq!(
                    partial.is_some(),
                    matches!(s, PieceState::InFlight | PieceState::Verifying),
                    "piece {i}: {s:?} vs partial"
                );
                missing += u32::from(s == PieceState::Missing);
                wanted_left += u32::from(!matches!(s, PieceState::Verified | PieceState::Unwanted));
                if let Some(part) = partial {
                    let received = part
                        .blocks
                        .iter()
                        .filter(|b| matches!(b, Block::Received(_) | Block::Pad))
                        .count();
                    let unrequested = part.blocks.iter().filter(|b| **b == Block::Missing).count();
                    assert_eq!(part.received as usize, received);
                    assert_eq!(part.unrequested as usize, unrequested);
                    assert_eq!(s == PieceState::Verifying, received == part.blocks.len());
                    for (b, block) in part.blocks.iter().enumerate() {
                        if let Block::Requested(peers) = block {
                            assert!(!peers.is_empty() && peers.len() <= ENDGAME_MAX_REQUESTERS);
                            let r = p.block_ref(i, b as u32);
                            for k in peers {
                                assert!(
                                    self.peers[*k as usize].outstanding.contains(&r),
                                    "picker thinks peer {k} has {r:?} outstanding"
                                );
                            }
                        }
                    }
                }
            }
            assert_eq!(p.missing, missing);
            assert_eq!(p.wanted_left, wanted_left);
            for (k, m) in self.peers.iter().enumerate() {
                for r in &m.outstanding {
                    let b = (r.begin / BLOCK_SIZE) as usize;
                    let requested = p.partial.get(&r.index).map(|part| &part.blocks[b]);
                    assert!(
                        matches!(requested, Some(Block::Requested(ps)) if ps.contains(&(k as u64))),
                        "peer {k} waits for {r:?}, picker says {requested:?}"
                    );
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        #[test]
        fn invariants_hold_and_a_seed_finishes_the_job(
            pieces in 1..8u32,
            short in 0..BLOCK_SIZE,
            blocks_per_piece in 1..4u32,
            ops in proptest::collection::vec(op(), 0..120),
            seed in any::<u64>(),
            pads in proptest::collection::vec((any::<u64>(), 0..3 * BLOCK_SIZE as u64), 0..4),
        ) {
            let pl = blocks_per_piece * BLOCK_SIZE;
            let total = (pieces as u64 * pl as u64).saturating_sub(short as u64).max(1);
            let mut p = Picker::new(pl, total, None, seed);
            // pad files anywhere, of any length, even covering whole pieces
            p.set_pad_ranges(pads.iter().map(|&(at, len)| (at % total)..(at % total + len).min(total)).collect());
            let mut w = World { p, peers: vec![PeerModel::default(); PEERS as usize + 2] };
            for op in ops {
                w.apply(op);
                w.check();
            }
            // Liveness: everyone leaves, a fresh seed arrives; it alone must be able to finish
            // every piece (no piece stuck with a departed owner, no block stuck as requested).
            for peer in 1..=PEERS {
                w.apply(Op::Gone { peer });
            }
            let seed_peer = PEERS + 1;
            w.apply(Op::Connect { peer: seed_peer, seed: 0, full: true });
            for _ in 0..200 {
                if w.p.is_complete() {
                    break;
                }
                w.apply(Op::Pick { peer: seed_peer, max: 64 });
                while !w.peers[seed_peer as usize].outstanding.is_empty() {
                    w.apply(Op::Deliver { peer: seed_peer, k: 0 });
                }
                while (0..w.p.piece_count()).any(|i| w.p.state(i) == Some(PieceState::Verifying)) {
                    w.apply(Op::Verify { k: 0, pass: true });
                }
                w.check();
            }
            prop_assert!(w.p.is_complete(), "a seed could not finish: states {:?}", w.p.state);
        }
    }
}
