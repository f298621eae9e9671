//! The sans-IO protocol core: bytes in, typed values out, and back. Nothing here touches a
//! socket, a file, a clock or a random source (except [`id::PeerId::generate`]).

pub mod bencode;
pub mod bitfield;
pub mod extension;
pub mod handshake;
pub mod id;
pub mod krpc;
pub mod magnet;
pub mod message;
pub mod metainfo;
pub mod mse;
pub mod serial;
pub mod tracker;
pub mod utp;
