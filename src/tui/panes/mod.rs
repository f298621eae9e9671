//! One module per pane; each has `render(&App, Rect, &mut Buffer)` and draws only inside its
//! area. [`overview`] is part of the Torrents pane: the cockpit of the torrent under its
//! cursor.

pub mod decode;
pub mod dht;
pub mod files;
pub mod handshake;
pub mod magnet;
pub mod metadata;
pub mod overview;
pub mod peers;
pub mod pieces;
pub mod torrents;
