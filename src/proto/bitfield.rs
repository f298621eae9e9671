//! A piece bitfield as sent in the BEP 3 `bitfield` message: bit 7 of byte 0 is piece 0.
//!
//! Invariant: the spare bits after the last piece are always zero, and `ones` always equals
//! the number of set bits, so `is_full` and `count_ones` are O(1).

/// Why a received bitfield was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitfieldError {
    #[error("bitfield has {got} bytes, expected {expected} for {pieces} pieces")]
    Length {
        got: usize,
        expected: usize,
        pieces: u32,
    },
    #[error("bitfield sets spare bits past piece {pieces}")]
    SpareBits { pieces: u32 },
}

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.ones, self.len)
    }
}

impl Bitfield {
    /// An all-zero bitfield for `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; (len as usize).div_ceil(8)],
            len,
            ones: 0,
        }
    }

    /// An all-one bitfield for `len` pieces (BEP 6 `HaveAll`).
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield::new(len);
        b.bytes.iter_mut().for_each(|x| *x = 0xff);
        b.clear_spare();
        b.ones = len;
        b
    }

    /// Parse a received bitfield for a torrent of `len` pieces; strict about length and spare bits.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Bitfield, BitfieldError> {
        let expected = (len as usize).div_ceil(8);
        if bytes.len() != expected {
            return Err(BitfieldError::Length {
                got: bytes.len(),
                expected,
                pieces: len,
            });
        }
        let mut b = Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones: 0,
        };
        let before: u32 = b.bytes.iter().map(|x| x.count_ones()).sum();
        b.clear_spare();
        let ones: u32 = b.bytes.iter().map(|x| x.count_ones()).sum();
        if ones != before {
            return Err(BitfieldError::SpareBits { pieces: len });
        }
        b.ones = ones;
        Ok(b)
    }

    fn clear_spare(&mut self) {
        let rem = self.len % 8;
        if rem != 0
            && let Some(last) = self.bytes.last_mut()
        {
            *last &= 0xffu8 << (8 - rem);
        }
    }

    pub fn len(&self) -> u32 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `i` is set; out-of-range indices read as unset.
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Set piece `i`; returns true if it was not set before. Out of range is ignored.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
        self.ones += 1;
        true
    }

    /// Clear piece `i`; returns true if it was set before.
    pub fn clear(&mut self, i: u32) -> bool {
        if !self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] &= !(0x80 >> (i % 8));
        self.ones -= 1;
        true
    }

    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Indices of set pieces in ascending order.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear_count() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0));
        assert!(!b.set(0));
        assert!(b.set(9));
        assert!(!b.set(10));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert!(b.clear(0));
        assert!(!b.clear(0));
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn full_has_no_spare_bits() {
        let b = Bitfield::full(10);
        assert_eq!(b.as_bytes(), &[0xff, 0xc0]);
        assert!(b.is_full());
    }

    #[test]
    fn strict_parse() {
        assert_eq!(Bitfield::from_bytes(&[0xe0], 3).unwrap().count_ones(), 3);
        assert!(matches!(
            Bitfield::from_bytes(&[0xff], 3),
            Err(BitfieldError::SpareBits { .. })
        ));
        assert!(matches!(
            Bitfield::from_bytes(&[0, 0], 3),
            Err(BitfieldError::Length { .. })
        ));
        assert!(Bitfield::from_bytes(&[], 0).unwrap().is_full());
    }
}
