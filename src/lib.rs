//! fast-peer: a BitTorrent client with a live terminal dashboard.
//!
//! # Layout
//! In data-flow order, from bytes on the wire to what the user sees:
//!
//! - [`proto`]: the sans-IO protocol core. [`proto::bencode`] (as lenient as libtorrent's,
//!   depth- and size-bounded), [`proto::metainfo`] (.torrent files accepted exactly when
//!   libtorrent accepts them, paths sanitised and duplicates renamed as it does, info hash from
//!   the raw span), [`proto::handshake`] and [`proto::message`] (BEP 3 peer wire, BEP 6 Fast),
//!   [`proto::bitfield`], [`proto::tracker`] (HTTP and UDP announce codecs), [`proto::krpc`]
//!   (DHT messages, BEP 5), [`proto::id`].
//! - [`engine`]: the tokio engine that owns every socket, timer and file.
//!   [`engine::spawn`] starts it; each torrent is a task ([`engine::torrent`]) with peer tasks
//!   ([`engine::peer`]), a piece picker ([`engine::picker`]), a choker ([`engine::choker`]),
//!   trackers ([`engine::tracker`]), a disk thread ([`engine::disk`]) over positioned-I/O
//!   storage ([`engine::storage`]). The DHT node ([`engine::dht`], BEP 5: routing table in
//!   [`engine::dht::routing`], iterative lookups in [`engine::dht::lookup`]) finds peers for
//!   every public torrent beside the trackers. Discrete events and periodic snapshots come out of it
//!   ([`engine::event`]).
//! - [`cli`]: one function per subcommand; stdout is the machine-readable contract.
//! - [`tui`]: the ratatui dashboard (model / update / view) over the same engine.
//!
//! Dependencies point one way: `main -> cli, tui`; `cli -> engine -> proto`; `tui -> engine,
//! proto`.

pub mod cli;
pub mod engine;
pub mod proto;
pub mod tui;
