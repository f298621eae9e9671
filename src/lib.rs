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
//!   `EventSink`, and periodic snapshots).
//!   - per connection: [`engine::conn`] (dialing, MSE, the handshake fallback for strict
//!     peers), [`engine::pipeline`] (request queue depth), [`engine::ratelimit`];
//!   - the metadata phase of a magnet: [`engine::metadata`] (BEP 9 over many peers);
//!   - per torrent: [`engine::torrent`] (the torrent task), [`engine::peer`] (one task per
//!     peer), [`engine::peerbook`] (known peers and their history), [`engine::picker`]
//!     (rarest first, endgame, pad blocks), [`engine::choker`];
//!   - disk: [`engine::storage`] (positioned I/O over the files, pad files, symlinks) and
//!     [`engine::disk`] (writer and hasher threads);
//!   - finding peers: [`engine::tracker`] (HTTP, UDP, the announcer) and [`engine::dht`]
//!     (BEP 5 node: [`engine::dht::routing`], [`engine::dht::lookup`]);
//!   - [`engine::create`] (making .torrent files).
//! - [`demo`]: the embedded demo swarm on loopback, built on the engine and printing nothing:
//!   [`demo::content`] (deterministic files and their torrent), [`demo::tracker`] (an HTTP
//!   tracker), [`demo::seeders`], [`demo::headless`] (a run as a stream of events),
//!   [`demo::error`].
//! - [`cli`]: one function per subcommand; stdout is the machine-readable contract.
//!   [`cli::inspect`] (decode, info, magnet_parse), [`cli::peers`] (peers and handshakes),
//!   [`cli::run`] (the engine on one torrent), [`cli::download`], [`cli::dht`], [`cli::seed`]
//!   (seed, create), [`cli::demo`] (prints the demo's events).
//! - [`tui`]: the ratatui dashboard, model / update / view: [`tui::app`] (the model and its
//!   update) with [`tui::decode`] (the decode pane's model), [`tui::action`] (keys to
//!   actions), [`tui::view`] and [`tui::panes`] (drawing), [`tui::widgets`] (drawing helpers),
//!   [`tui::theme`].
//!
//! Dependencies point one way: `main -> cli, tui -> demo -> engine -> proto`; `cli, tui -> engine,
//! proto`. Inside `engine`, `event` and `error` sit at the bottom; `conn`, `peer`, `torrent`
//! and `metadata` still import each other in a cycle (the open part of issue 15).

pub mod cli;
pub mod demo;
pub mod engine;
pub mod proto;
pub mod tui;
