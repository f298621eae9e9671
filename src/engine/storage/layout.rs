//! The pure geometry of a torrent's data: where each file sits in the concatenation of all
//! files, which bytes of which files a piece or block covers, and the checks that make that
//! arithmetic safe. No I/O; [`super::Storage`] does the reading and writing.

use super::StorageError;
use crate::proto::metainfo::Info;

/// The pure geometry of a torrent: where each file sits in the concatenated data.
///
/// Invariant (checked by [`Layout::new`]): offsets are contiguous from 0, they sum to
/// `total_length`, and `piece_count == ceil(total_length / piece_length)`.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub piece_length: u32,
    pub total_length: u64,
    pub piece_count: u32,
    /// `(offset, length)` of each file in torrent order.
    pub files: Vec<(u64, u64)>,
}

impl Layout {
    pub fn new(info: &Info) -> Result<Layout, StorageError> {
        if info.piece_length == 0 {
            return Err(StorageError::Layout("piece length is 0".into()));
        }
        if !info.is_multi_file && info.files.len() != 1 {
            return Err(StorageError::Layout(format!(
                "single-file torrent lists {} files",
                info.files.len()
            )));
        }
        let mut next = 0u64;
        let mut files = Vec::with_capacity(info.files.len());
        for (i, f) in info.files.iter().enumerate() {
            if f.offset != next {
                return Err(StorageError::Layout(format!(
                    "file {i} starts at {} but the previous files end at {next}",
                    f.offset
                )));
            }
            next = next
                .checked_add(f.length)
                .ok_or_else(|| StorageError::Layout(format!("file {i}: total length overflows")))?;
            files.push((f.offset, f.length));
        }
        if next != info.total_length {
            return Err(StorageError::Layout(format!(
                "files add up to {next} bytes but total length is {}",
                info.total_length
            )));
        }
        let expected = info.total_length.div_ceil(u64::from(info.piece_length));
        if expected != info.piece_hashes.len() as u64 {
            return Err(StorageError::Layout(format!(
                "{} bytes in pieces of {} need {expected} hashes, metainfo has {}",
                info.total_length,
                info.piece_length,
                info.piece_hashes.len()
            )));
        }
        // `expected` fits u32 because it equals a Vec length that `piece_count()` already casts;
        // refuse rather than wrap if it ever does not.
        let piece_count = u32::try_from(expected)
            .map_err(|_| StorageError::Layout(format!("{expected} pieces is too many")))?;
        Ok(Layout {
            piece_length: info.piece_length,
            total_length: info.total_length,
            piece_count,
            files,
        })
    }

    pub fn piece_start(&self, piece: u32) -> u64 {
        u64::from(piece) * u64::from(self.piece_length)
    }

    /// Size of an in-range piece (the last one may be short).
    pub fn piece_size(&self, piece: u32) -> Result<u32, StorageError> {
        if piece >= self.piece_count {
            return Err(StorageError::PieceOutOfRange {
                piece,
                count: self.piece_count,
            });
        }
        let left = self.total_length - self.piece_start(piece);
        // min() with a u32 always fits in u32.
        Ok(left.min(u64::from(self.piece_length)) as u32)
    }

    /// Absolute start of `len` bytes at `begin` in `piece`, after bounds checks.
    pub fn block_start(&self, piece: u32, begin: u32, len: usize) -> Result<u64, StorageError> {
        let piece_size = self.piece_size(piece)?;
        let len = len as u64;
        if u64::from(begin) + len > u64::from(piece_size) {
            return Err(StorageError::BlockOutOfRange {
                piece,
                begin,
                len,
                piece_size,
            });
        }
        Ok(self.piece_start(piece) + u64::from(begin))
    }

    /// The spans covering absolute bytes `start..start + len`, which the caller has bounds-checked
    /// to lie within `total_length`.
    pub fn spans(&self, start: u64, len: u64) -> Spans<'_> {
        // Ends are non-decreasing, so this is a valid binary search; it lands on the first file
        // holding byte `start` (zero-length files there end at `start` and are passed over).
        let idx = self.files.partition_point(|&(off, l)| off + l <= start);
        Spans {
            files: &self.files,
            idx,
            pos: start,
            end: start + len,
        }
    }

    /// The pieces holding the first and the last byte of file `i` (one when they are the same,
    /// none for a zero-length file): the only pieces it can share with other files.
    pub fn edge_pieces(&self, i: usize) -> impl Iterator<Item = u32> {
        let (off, len) = self.files.get(i).copied().unwrap_or((0, 0));
        let pl = u64::from(self.piece_length);
        // off + len <= total_length (checked in `new`), and piece indices fit u32
        let first = (len > 0).then(|| off / pl);
        let last = (len > 0)
            .then(|| (off + len - 1) / pl)
            .filter(|l| Some(*l) != first);
        first
            .into_iter()
            .chain(last)
            .filter_map(|p| u32::try_from(p).ok())
    }
}

/// Iterator of `(file index, offset in file, len)` over a byte range; see [`Layout::spans`].
pub(super) struct Spans<'a> {
    files: &'a [(u64, u64)],
    idx: usize,
    pos: u64,
    end: u64,
}

impl Iterator for Spans<'_> {
    type Item = (usize, u64, u64);

    fn next(&mut self) -> Option<Self::Item> {
        while self.pos < self.end {
            let i = self.idx;
            let &(off, len) = self.files.get(i)?;
            self.idx += 1;
            let file_end = off + len;
            if len == 0 || file_end <= self.pos {
                continue;
            }
            let n = file_end.min(self.end) - self.pos;
            let span = (i, self.pos - off, n);
            self.pos += n;
            return Some(span);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::storage::tests::multi;
    use proptest::prelude::*;

    fn layout_of(lengths: &[u64], piece_length: u32) -> Layout {
        let (info, _) = multi(lengths, piece_length, 0);
        Layout::new(&info).unwrap()
    }

    proptest! {
        #[test]
        fn spans_cover_each_piece_exactly_once_in_order(
            lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..300], 1..10),
            piece_length in prop_oneof![1u32..70, Just(16 * 1024)],
        ) {
            let layout = layout_of(&lengths, piece_length);
            let mut covered = 0u64;
            let mut last_file = None;
            for p in 0..layout.piece_count {
                let size = u64::from(layout.piece_size(p).unwrap());
                prop_assert!(size > 0);
                let mut pos = layout.piece_start(p);
                prop_assert_eq!(pos, covered);
                for (i, off, len) in layout.spans(pos, size) {
                    prop_assert!(len > 0);
                    let (f_off, f_len) = layout.files[i];
                    prop_assert!(off + len <= f_len);
                    // Spans are contiguous in absolute terms and move forward through the files.
                    prop_assert_eq!(f_off + off, pos);
                    if let Some(prev) = last_file {
                        prop_assert!(i >= prev);
                    }
                    last_file = Some(i);
                    pos += len;
                }
                prop_assert_eq!(pos, layout.piece_start(p) + size);
                covered = pos;
            }
            prop_assert_eq!(covered, layout.total_length);
        }

        #[test]
        fn block_spans_match_byte_arithmetic(
            lengths in prop::collection::vec(prop_oneof![Just(0u64), 0u64..100], 1..8),
            piece_length in 1u32..40,
            pick in any::<u64>(),
        ) {
            let layout = layout_of(&lengths, piece_length);
            prop_assume!(layout.piece_count > 0);
            let p = (pick % u64::from(layout.piece_count)) as u32;
            let size = layout.piece_size(p).unwrap();
            let begin = ((pick >> 32) % u64::from(size)) as u32;
            let len = (size - begin) as usize;
            let start = layout.block_start(p, begin, len).unwrap();
            // Each byte lands in the one file whose range holds it.
            let mut byte = start;
            for (i, off, n) in layout.spans(start, len as u64) {
                for k in 0..n {
                    let (f_off, f_len) = layout.files[i];
                    prop_assert!(f_off <= byte && byte < f_off + f_len);
                    prop_assert_eq!(f_off + off + k, byte);
                    byte += 1;
                }
            }
            prop_assert_eq!(byte, start + len as u64);
            prop_assert!(layout.block_start(p, begin, len + 1).is_err());
        }
    }
}
