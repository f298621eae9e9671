//! fast-peer: a BitTorrent client with a live terminal dashboard.
//!
//! # Layout
//! - [`proto`]: the sans-IO protocol core (bencode, metainfo, peer wire, tracker codecs).
//! - [`engine`]: the tokio download engine that owns every socket, timer and file.
//! - [`cli`]: one function per subcommand; stdout is the machine-readable contract.

pub mod cli;
pub mod engine;
pub mod proto;
