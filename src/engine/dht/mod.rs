//! The DHT node (BEP 5).

pub mod lookup;
pub mod routing;
