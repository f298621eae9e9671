//! The download engine (work in progress).
pub mod storage;
pub mod tracker;
