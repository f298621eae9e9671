//! The integration tests' one harness, shared by every test binary that says `mod common;`.
//!
//! - [`net`]: loopback networks and ports, handed out from one place (parallel-safe);
//! - [`process`]: child processes with timeouts, waiting on conditions, exit-status checks;
//! - [`content`]: deterministic content, layouts, byte-for-byte comparison of downloads;
//! - [`torrent`]: reading `.torrent` files (a minimal bencode parser) and writing magnets;
//! - [`opentracker`], [`libtorrent`] (`scripts/lt_peer.py`), [`aria2`], [`transmission`]: the
//!   reference software;
//! - [`raw_peer`]: a tiny BitTorrent client for cross-checks that do not use fast-peer;
//! - [`binary`]: the fast-peer binary under test, its commands and `fast-peer seed` as a seeder;
//! - [`session`]: one user's session folders and the daemon, for the session tests;
//! - [`swarm`]: the swarm builder (content, torrent, tracker, seeders) of the interop tests;
//! - [`netns`]: two hosts and a router in network namespaces, a shaped link (the LEDBAT test);
//! - [`tmux`]: the dashboard in a detached tmux session (end-to-end tests), [`screen`]: the
//!   dashboard drawn into ratatui's `TestBackend` (pane tests).
//!
//! Everything talks to 127.0.0.0/8 only, or inside the network namespaces a test creates. Every child process is killed when its handle drops,
//! also when a test panics; libtorrent peers additionally exit when their stdin closes (the
//! test process died). Each test binary uses a subset, hence the `dead_code` allowance.
#![allow(clippy::unwrap_used)] // a test harness may unwrap: a failure is the test failing
#![allow(dead_code, unused_imports)]

pub mod aria2;
pub mod binary;
pub mod content;
pub mod libtorrent;
pub mod net;
pub mod netns;
pub mod opentracker;
pub mod process;
pub mod raw_peer;
pub mod screen;
pub mod session;
pub mod swarm;
pub mod tmux;
pub mod torrent;
pub mod transmission;

pub use aria2::*;
pub use binary::*;
pub use content::*;
pub use libtorrent::*;
pub use net::*;
pub use netns::*;
pub use opentracker::*;
pub use process::*;
pub use raw_peer::*;
pub use session::*;
pub use swarm::*;
pub use tmux::*;
pub use torrent::*;
pub use transmission::*;

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;

/// Overall bound for one command under test; a hang fails the test instead of blocking CI.
pub const TEST_TIMEOUT_SECS: u64 = 120;

/// The peer id of the harness's own tracker queries and raw connections (20 bytes).
pub const HARNESS_PEER_ID: &str = "-HARNESS-0123456789X";

pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
