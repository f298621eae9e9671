//! What the dashboard sees of a downloading torrent: the peer table and the piece map, read
//! from the [`Shared`] state (peer counters are atomics, the picker a short-held lock).

use super::shared::{PeerSlot, Shared};
use crate::engine::event::{PeerSnapshot, PieceView, Transport, Wire, WireLogEntry};
use crate::engine::picker::{Picker, PieceState};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One row of the peers pane.
fn peer(p: &PeerSlot, now: Instant) -> PeerSnapshot {
    let s = &p.stats;
    let d = s.detail();
    PeerSnapshot {
        addr: p.addr,
        peer_id: p.peer_id,
        incoming: p.incoming,
        am_choking: s.am_choking.load(Ordering::Relaxed),
        am_interested: s.am_interested.load(Ordering::Relaxed),
        peer_choking: s.peer_choking.load(Ordering::Relaxed),
        peer_interested: s.peer_interested.load(Ordering::Relaxed),
        snubbed: s.snubbed.load(Ordering::Relaxed),
        fast: s.fast.load(Ordering::Relaxed),
        wire: Wire::from_u8(s.wire.load(Ordering::Relaxed)),
        transport: if s.utp.load(Ordering::Relaxed) {
            Transport::Utp
        } else {
            Transport::Tcp
        },
        last_block: s.last_block_age(now),
        pieces: s.pieces.load(Ordering::Relaxed),
        downloaded: s.downloaded.load(Ordering::Relaxed),
        uploaded: s.uploaded.load(Ordering::Relaxed),
        download_rate: s.rate(),
        upload_rate: s.up_rate(),
        requests_in_flight: s.requests.load(Ordering::Relaxed),
        pieces_in_flight: d.pieces_in_flight.clone(),
        reserved: d.reserved,
        extension: d.extension.clone(),
        recent: d
            .recent
            .iter()
            .map(|(at, direction, kind, index, length)| WireLogEntry {
                direction: *direction,
                kind,
                index: *index,
                length: *length,
                age: now.saturating_duration_since(*at),
            })
            .collect(),
    }
}

/// Every connected peer, for the peers pane.
pub(super) fn peers(shared: &Shared) -> Vec<PeerSnapshot> {
    let now = Instant::now();
    shared.peers().values().map(|p| peer(p, now)).collect()
}

/// The picker's view of the torrent, for the piece map and the status line.
pub(super) struct Pieces {
    pub verified: u32,
    pub bytes_left: u64,
    pub in_endgame: bool,
    pub complete: bool,
    pub map: Arc<[PieceView]>,
    /// How many connected peers have each piece (capped at `u16::MAX`).
    pub availability: Arc<[u16]>,
}

/// Read the piece map from the picker; `failed` are pieces whose last copy failed its hash.
pub(super) fn pieces(picker: &Picker, failed: &HashSet<u32>) -> Pieces {
    let n = picker.piece_count();
    Pieces {
        verified: picker.verified().count_ones(),
        bytes_left: picker.bytes_left(),
        in_endgame: picker.in_endgame(),
        complete: picker.is_complete(),
        map: (0..n)
            .map(|i| match picker.state(i) {
                Some(PieceState::Verified) => PieceView::Verified,
                Some(PieceState::InFlight | PieceState::Verifying) => PieceView::Requested,
                Some(PieceState::Unwanted) => PieceView::Unwanted,
                _ if failed.contains(&i) => PieceView::Failed,
                _ => PieceView::Missing,
            })
            .collect(),
        availability: (0..n)
            .map(|i| picker.availability(i).min(u16::MAX as u32) as u16)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::bitfield::Bitfield;

    #[test]
    fn the_piece_map_shows_each_state() {
        // 4 pieces of 16 KiB; piece 3 unwanted
        let mut picker = Picker::new(16384, 4 * 16384, Some(&[0, 1, 2]), 7);
        picker.mark_verified(0);
        let mut seed = Bitfield::new(4);
        for i in 0..4 {
            seed.set(i);
        }
        picker.peer_bitfield(&seed);
        picker.peer_bitfield(&seed);
        let mut picked = Vec::new();
        picker.pick(1, &seed, 1, &mut picked);
        assert_eq!(picked.len(), 1, "one block requested");
        let requested = picked[0].index;
        let failed: HashSet<u32> = (1..3).filter(|i| *i != requested).take(1).collect();
        let p = pieces(&picker, &failed);
        assert_eq!(p.verified, 1);
        assert!(!p.complete);
        assert_eq!(p.map[0], PieceView::Verified);
        assert_eq!(p.map[requested as usize], PieceView::Requested);
        let f = *failed.iter().next().unwrap();
        assert_eq!(p.map[f as usize], PieceView::Failed);
        assert_eq!(p.map[3], PieceView::Unwanted);
        assert_eq!(&p.availability[..], &[2, 2, 2, 2]);
        assert_eq!(p.bytes_left, 2 * 16384);
    }
}
