//! The download engine (work in progress).
pub mod picker;
pub mod storage;
pub mod tracker;
