//! Where peers reach us: the TCP listener and the uTP endpoint on the same port number, for
//! IPv4 and, beside it, IPv6 (BEP 7).
//!
//! Each address family has sockets of its own rather than one dual-stack socket: an IPv4 peer
//! is then never seen in its IPv4-mapped IPv6 form (which would key the same peer two ways),
//! and a system without IPv6 only loses the IPv6 sockets. The IPv6 ones are opened when we
//! listen on every IPv4 address (the default); binding them is best effort.
//!
//! With IPv6 sockets up, our global IPv6 address (read from the system's address list, no
//! packet sent) goes to HTTP trackers as BEP 7 `ipv6=`, so a tracker we reach over IPv4 can
//! list us to IPv6 peers too.

use crate::engine::EngineError;
use crate::engine::config::EngineConfig;
use crate::engine::utp::{Utp, UtpStream};
use std::net::{Ipv6Addr, SocketAddr};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Every listening socket of the engine.
pub(crate) struct Listeners {
    /// The port they share.
    pub port: u16,
    pub tcp: TcpListener,
    /// IPv6 peers over TCP (`None`: not asked for, TCP off, or no IPv6 here).
    pub tcp6: Option<TcpListener>,
    /// The uTP endpoints for IPv4 and IPv6 peers (`None`: turned off, or cannot bind).
    pub utp: Option<Utp>,
    pub utp6: Option<Utp>,
    /// Streams peers open over either uTP endpoint (`None` when there is none).
    pub utp_incoming: Option<mpsc::Receiver<UtpStream>>,
    /// Our global IPv6 address, when an IPv6 socket is up and the system has one.
    pub ipv6: Option<Ipv6Addr>,
}

impl Listeners {
    /// Bind `config.listen` (a free port instead when it is taken and `listen_fallback`
    /// allows), then the rest on the same port.
    pub async fn bind(config: &EngineConfig) -> Result<Listeners, EngineError> {
        let tcp = match TcpListener::bind(config.listen).await {
            Ok(l) => l,
            Err(e) if config.listen_fallback && config.listen.port() != 0 => {
                let any = SocketAddr::new(config.listen.ip(), 0);
                tracing::warn!(
                    "port {} unavailable ({e}); using a free port",
                    config.listen.port()
                );
                TcpListener::bind(any)
                    .await
                    .map_err(|source| EngineError::Listen { addr: any, source })?
            }
            Err(source) => {
                return Err(EngineError::Listen {
                    addr: config.listen,
                    source,
                });
            }
        };
        let port = tcp.local_addr().map(|a| a.port()).unwrap_or(0);
        let listen6 = (config.listen.is_ipv4() && config.listen.ip().is_unspecified())
            .then(|| SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)));
        let tcp6 = match listen6 {
            Some(addr) if config.tcp => match bind_tcp_v6(addr) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!("no IPv6 peers over TCP: bind {addr}: {e}");
                    None
                }
            },
            _ => None,
        };
        // uTP on the same port's UDP side (libtorrent's convention); without it, TCP only
        let (utp_tx, utp_incoming) = mpsc::channel(64);
        let (mut utp, mut utp6) = (None, None);
        if config.utp {
            let addr = SocketAddr::new(config.listen.ip(), port);
            match Utp::bind_into(addr, utp_tx.clone()).await {
                Ok(u) => utp = Some(u),
                Err(e) => tracing::warn!("uTP disabled: bind UDP {addr}: {e}"),
            }
            if let Some(addr) = listen6 {
                match Utp::bind_into(addr, utp_tx).await {
                    Ok(u) => utp6 = Some(u),
                    Err(e) => tracing::warn!("no IPv6 peers over uTP: bind UDP {addr}: {e}"),
                }
            }
        }
        if config.listen.is_ipv6() {
            // an IPv6 listen address: its endpoint is the one for IPv6 peers
            (utp, utp6) = (None, utp);
        }
        if !config.tcp && utp.is_none() && utp6.is_none() {
            return Err(EngineError::Listen {
                addr: config.listen,
                source: std::io::Error::other("TCP is turned off and uTP could not start"),
            });
        }
        let utp_incoming = (utp.is_some() || utp6.is_some()).then_some(utp_incoming);
        let ipv6 = if tcp6.is_some() || utp6.is_some() {
            std::fs::read_to_string("/proc/net/if_inet6")
                .ok()
                .and_then(|list| global_ipv6(&list))
        } else {
            None
        };
        Ok(Listeners {
            port,
            tcp,
            tcp6,
            utp,
            utp6,
            utp_incoming,
            ipv6,
        })
    }
}

/// The next peer on the IPv6 TCP listener, if there is one (else never).
pub(crate) async fn accept6(
    listener: &Option<TcpListener>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// A TCP listener on the IPv6 address `addr`, IPv6 only.
fn bind_tcp_v6(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV6,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.set_only_v6(true)?;
    sock.set_reuse_address(true)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(1024)?;
    TcpListener::from_std(sock.into())
}

/// The address to announce from Linux's `/proc/net/if_inet6` (one address a line: 32 hex
/// digits, interface index, prefix length, scope, flags, interface name): global scope, not
/// unique-local (fc00::/7, useless to peers elsewhere), neither tentative, deprecated nor
/// failed; a permanent one before a temporary (privacy) one, which changes every day.
fn global_ipv6(list: &str) -> Option<Ipv6Addr> {
    const TEMPORARY: u32 = 0x01;
    const UNUSABLE: u32 = 0x08 | 0x20 | 0x40; // DAD failed, deprecated, tentative
    let mut best: Option<(bool, Ipv6Addr)> = None;
    for line in list.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [hex, _index, _prefix, scope, flags, ..] = f.as_slice() else {
            continue;
        };
        let (Ok(bits), Ok(scope), Ok(flags)) = (
            u128::from_str_radix(hex, 16),
            u32::from_str_radix(scope, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        let ip = Ipv6Addr::from(bits);
        let unique_local = ip.segments()[0] & 0xfe00 == 0xfc00;
        if hex.len() != 32 || scope != 0 || unique_local || flags & UNUSABLE != 0 {
            continue;
        }
        let temporary = flags & TEMPORARY != 0;
        if best.is_none_or(|(t, _)| t && !temporary) {
            best = Some((temporary, ip));
        }
    }
    best.map(|(_, ip)| ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_ipv6_address_is_the_permanent_global_one() {
        let list = "\
00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000021122fffe334455 02 40 20 80     eth0
fd000000000000000000000000000001 02 40 00 80     eth0
20010db8000000000000000000000bad 02 40 00 e0     eth0
20010db80000000000000000000000aa 02 40 00 81     eth0
20010db80000000000000000000000bb 02 40 00 80     eth0
";
        assert_eq!(global_ipv6(list), Some("2001:db8::bb".parse().unwrap()));
        // only a temporary one: better than none
        let temporary = "20010db80000000000000000000000aa 02 40 00 81 eth0\n";
        assert_eq!(
            global_ipv6(temporary),
            Some("2001:db8::aa".parse().unwrap())
        );
        for none in [
            "",
            "00000000000000000000000000000001 01 80 10 80 lo\n",
            "junk\n",
            "zz 1 2 3 4 x\n",
        ] {
            assert_eq!(global_ipv6(none), None, "{none:?}");
        }
    }
}
