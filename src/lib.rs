//! fast-peer: a BitTorrent client with a live terminal dashboard.
//!
//! # Layout
//! In data-flow order, from bytes on the wire to what the user sees. Every module is listed.
//!
//! - [`proto`]: the sans-IO protocol core (bytes and state in, bytes and state out; no
//!   sockets, no clocks).
//!   - [`proto::id`] (info hashes, peer and node ids), [`proto::bencode`] (as lenient as
//!     libtorrent's, depth- and size-bounded), [`proto::bitfield`];
//!   - [`proto::metainfo`]: .torrent files accepted exactly when libtorrent accepts them
//!     (paths sanitised and duplicates renamed as it does, BEP 47 attributes, hybrid v1/v2
//!     consistency, info hash from the raw span); [`proto::magnet`] (BEP 9 links);
//!   - [`proto::handshake`], [`proto::message`] (BEP 3 peer wire, BEP 6 Fast),
//!     [`proto::mse`] (Message Stream Encryption), [`proto::extension`] (BEP 10 handshake,
//!     BEP 9 metadata, BEP 11 PEX);
//!   - [`proto::tracker`] (HTTP and UDP announce codecs), [`proto::krpc`] (DHT messages,
//!     BEP 5).
//! - [`engine`]: the tokio engine that owns every socket, timer and file. [`engine::spawn`]
//!   starts it; what comes out is [`engine::event`] (ordered discrete events through an
//!   `EventSink`, and periodic snapshots). Its layers, bottom up:
//!   - [`engine::event`], `engine::error` (typed peer and torrent failures),
//!     [`engine::config`];
//!   - state machines: [`engine::picker`] (rarest first, endgame, pad blocks), `choker`,
//!     `pipeline` (request queue depth), `peerbook` (known peers and their history),
//!     `ratelimit`; disk: [`engine::storage`] (positioned I/O, pad files, symlinks) and `disk`
//!     (writer and hasher threads); [`engine::resume`] (fast-resume data);
//!     [`engine::create`] (making .torrent files);
//!   - [`engine::conn`]: one peer [`engine::conn::Connection`] for every phase (dialing,
//!     MSE, the handshake fallback for strict peers, BEP 3 framing);
//!   - finding peers: [`engine::tracker`] (HTTP, UDP, the announcer) and [`engine::dht`]
//!     (BEP 5 node: [`engine::dht::routing`], [`engine::dht::lookup`]);
//!   - `engine::torrent`: one torrent: `params`, `startup` (the BEP 9 `metadata` phase of a
//!     magnet, storage, resume), `task` (the torrent task's loop), `shared` (the state its
//!     `peer` sessions share with it: `inbound`, `download`, `upload`), `snapshot`.
//! - [`demo`]: the embedded demo swarm on loopback, built on the engine and printing nothing:
//!   [`demo::content`] (deterministic files and their torrent), [`demo::tracker`] (an HTTP
//!   tracker), [`demo::seeders`], [`demo::headless`] (a run as a stream of events),
//!   [`demo::error`].
//! - [`session`]: the torrents that outlive a process: [`session::store`] (the session folder),
//!   [`session::instance`] (paths, the one-instance lock), [`session::protocol`] and
//!   [`session::control`] (the control socket), the session actor the daemon and the dashboard
//!   run.
//! - [`config`]: the user's config file under the command-line flags, with where each value
//!   came from.
//! - [`cli`]: one function per subcommand; stdout is the machine-readable contract.
//!   [`cli::inspect`] (decode, info, magnet_parse), [`cli::peers`] (peers and handshakes),
//!   [`cli::run`] (the engine on one torrent), [`cli::download`], [`cli::dht`], [`cli::seed`]
//!   (seed, create), [`cli::demo`] (prints the demo's events), [`cli::session`] (add, status,
//!   pause, resume, remove over the control socket).
//! - [`tui`]: the ratatui dashboard, model / update / view: [`tui::app`] (the model and its
//!   update) with [`tui::decode`] (the decode pane's model), [`tui::action`] (keys to
//!   actions), [`tui::view`] and [`tui::panes`] (drawing), [`tui::widgets`] (drawing helpers),
//!   [`tui::theme`], [`tui::backend`] (the session or a bare engine under the dashboard).
//!
//! Dependencies point one way: `main -> config -> cli`; `main -> tui`; `cli, tui -> session,
//! demo -> engine -> proto`. No two source files import each other, directly or through others; only a
//! folder's `mod.rs` and its own children may (`tests/layout.rs` checks both, and that no file
//! grows past 800 lines of code).

pub mod cli;
pub mod config;
pub mod demo;
pub mod engine;
pub mod proto;
pub mod session;
pub mod tui;
