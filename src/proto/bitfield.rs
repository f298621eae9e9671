//! Piece bitfield (work in progress).
