//! uTP, the Micro Transport Protocol (BEP 29): BitTorrent's stream transport over UDP, with
//! LEDBAT congestion control so it yields to other traffic.
//!
//! Sans-IO like the rest of `proto/`: [`packet`] parses and writes datagrams, [`socket`] is
//! one connection's state machine (datagrams and `now` in, datagrams and a deadline out),
//! [`ledbat`] its congestion window. The UDP socket, the clock and the demultiplexing of
//! connections live in the engine (`engine::utp`).

pub mod ledbat;
pub mod packet;
pub mod socket;

pub use packet::{Header, PacketError, Type};
pub use socket::{Failure, Socket, State};
