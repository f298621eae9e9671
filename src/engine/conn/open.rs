//! Opening a [`Connection`]: dialing or accepting, and the handshakes that start it.
//!
//! [`Dialer::connect`] opens an outgoing connection and exchanges BitTorrent handshakes, in plaintext
//! or inside an MSE handshake ([`crate::proto::mse`]) as the [`Encryption`] policy says;
//! [`open_incoming`] does the same for an accepted connection, telling a plaintext handshake
//! from an MSE public key by its first 20 bytes. The policies follow libtorrent's:
//! `enabled` (the default) speaks plaintext first and falls back to MSE when a peer hangs up
//! on it, and accepts both; `prefer` speaks RC4 first and falls back to plaintext, and accepts
//! both; `required` speaks and accepts only RC4; `disabled` never speaks MSE.
//!
//! # Reserved bits
//!
//! Our handshake sets the BEP 10, BEP 5 (DHT) and BEP 6 (Fast) bits. Some strict peers (the
//! test peers of the "Build your own BitTorrent" course among them) read our handshake and hang
//! up without answering when any bit but BEP 10's is set. A [`Dialer`] therefore tries once
//! more, in plaintext with only the BEP 10 bit, when every attempt the encryption policy allows
//! was hung up on, and remembers that address for the life of the torrent, so later
//! connections to it start there. Everyone else keeps getting the DHT and Fast bits.
//! [`Connection::reserved`] records the bits we sent on each connection: a feature is in use
//! only when both sides set its bit.

use super::{
    CONNECT_TIMEOUT, Connection, HANDSHAKE_TIMEOUT, Stream, Transport, Wire, our_reserved,
};
use crate::engine::error::PeerError;
use crate::engine::utp::Utp;
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::mse::{
    self, CRYPTO_PLAINTEXT, CRYPTO_RC4, Initiator, MseError, Progress, Responder,
};
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The transports a torrent dials peers over: TCP unless `--no-tcp`, uTP when the engine runs
/// a uTP endpoint for the peer's address family (not with `--no-utp`).
#[derive(Debug, Clone)]
pub struct Transports {
    pub tcp: bool,
    /// The uTP endpoint for IPv4 peers.
    pub utp: Option<Utp>,
    /// The uTP endpoint for IPv6 peers (its own socket, IPv6 only).
    pub utp6: Option<Utp>,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            tcp: true,
            utp: None,
            utp6: None,
        }
    }
}

impl Transports {
    /// The uTP endpoint that reaches `addr`, if any.
    pub fn utp_for(&self, addr: SocketAddr) -> Option<&Utp> {
        if addr.is_ipv4() {
            self.utp.as_ref()
        } else {
            self.utp6.as_ref()
        }
    }
}

/// When to use Message Stream Encryption.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Encryption {
    /// Plaintext only: MSE is neither offered nor accepted.
    Disabled,
    /// Plaintext first, MSE when a peer refuses plaintext; incoming peers may use either
    /// (and get plaintext after the MSE handshake when they offer it, like libtorrent).
    #[default]
    Enabled,
    /// RC4 first: outgoing connections start with an MSE handshake offering RC4 and fall back
    /// to plaintext when the peer does not answer it (libtorrent and aria2 also try MSE
    /// first); incoming peers may use either and get RC4 whenever they offer it.
    Prefer,
    /// RC4-encrypted connections only, both ways.
    Required,
}

impl std::str::FromStr for Encryption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "disabled" => Ok(Encryption::Disabled),
            "enabled" => Ok(Encryption::Enabled),
            "prefer" => Ok(Encryption::Prefer),
            "required" => Ok(Encryption::Required),
            _ => Err(format!(
                "unknown encryption policy {s:?} (disabled, enabled, prefer or required)"
            )),
        }
    }
}

impl Encryption {
    /// The MSE methods we accept from an incoming peer.
    fn accepted(self) -> u32 {
        match self {
            Encryption::Disabled => 0,
            Encryption::Enabled | Encryption::Prefer => CRYPTO_PLAINTEXT | CRYPTO_RC4,
            Encryption::Required => CRYPTO_RC4,
        }
    }
}

/// Peers remembered as uTP-first, at most.
pub const MAX_UTP_FIRST: usize = 4096;

/// Opens outgoing connections for one torrent: the encryption policy, and the peers that
/// accept only the BEP 10 reserved bit (see the module doc).
#[derive(Debug)]
pub struct Dialer {
    pub encryption: Encryption,
    transports: Transports,
    extension_only: Mutex<HashSet<SocketAddr>>,
    /// Peers to dial over uTP first: they advertised it (PEX) or TCP failed and uTP worked.
    utp_first: Mutex<HashSet<SocketAddr>>,
}

impl Dialer {
    pub fn new(encryption: Encryption, transports: Transports) -> Dialer {
        Dialer {
            encryption,
            transports,
            extension_only: Mutex::default(),
            utp_first: Mutex::default(),
        }
    }

    fn extension_only(&self) -> std::sync::MutexGuard<'_, HashSet<SocketAddr>> {
        self.extension_only
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn utp_first(&self) -> std::sync::MutexGuard<'_, HashSet<SocketAddr>> {
        self.utp_first.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `addr` speaks uTP (a PEX flag said so): dial it over uTP first. At most
    /// [`MAX_UTP_FIRST`] such hints are kept (peers' PEX messages are not to be trusted).
    pub fn prefer_utp(&self, addr: SocketAddr) {
        if self.transports.utp_for(addr).is_some() {
            let mut set = self.utp_first();
            if set.len() < MAX_UTP_FIRST {
                set.insert(addr);
            }
        }
    }

    /// Whether `addr` is dialled over uTP first.
    pub fn prefers_utp(&self, addr: SocketAddr) -> bool {
        self.utp_first().contains(&addr)
    }

    /// The transports to try for `addr`, in order: uTP first for the peers known to speak
    /// it, else TCP first and uTP when TCP fails; only what is enabled.
    fn order(&self, addr: SocketAddr) -> Vec<Transport> {
        let utp = self.transports.utp_for(addr).is_some();
        let tcp = self.transports.tcp;
        let mut order = Vec::with_capacity(2);
        if utp && self.utp_first().contains(&addr) {
            order.push(Transport::Utp);
        }
        if tcp {
            order.push(Transport::Tcp);
        }
        if utp && !order.contains(&Transport::Utp) {
            order.push(Transport::Utp);
        }
        order
    }

    /// Open a stream to `addr` over `t`.
    async fn dial(&self, addr: SocketAddr, t: Transport) -> Result<Stream, PeerError> {
        match (t, self.transports.utp_for(addr)) {
            (Transport::Utp, Some(u)) => utp_connect(u, addr).await,
            _ => Ok(Stream::Tcp(tcp_connect(addr).await?)),
        }
    }

    /// Connect to `addr` and exchange handshakes for `info_hash`. Their handshake must name
    /// the same torrent and must not be ourselves. The transports are tried in order (uTP
    /// first for a peer that prefers it) while one does not reach the peer: refused, or hung
    /// up before the handshake (a libtorrent with TCP off still accepts TCP, then hangs up).
    pub async fn connect(
        &self,
        addr: SocketAddr,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) -> Result<(Connection, Handshake), PeerError> {
        let mut failed: Option<PeerError> = None;
        for t in self.order(addr) {
            match self.connect_over(t, addr, info_hash, peer_id).await {
                Ok(done) => {
                    if t == Transport::Utp {
                        self.utp_first().insert(addr);
                    }
                    return Ok(done);
                }
                Err(e) => {
                    tracing::debug!(%addr, "over {}: {e}", t.label());
                    if t == Transport::Utp {
                        self.utp_first().remove(&addr);
                    }
                    // the other transport only when this one did not reach a BitTorrent
                    // peer (refused, unreachable, hung up before its handshake); a peer that
                    // answered wrongly, or not at all, is the same peer over either
                    let next = unreachable(&e);
                    // report what the peer did rather than that the fallback found nobody
                    if failed.is_none() || !next {
                        failed = Some(e);
                    }
                    if !next {
                        break;
                    }
                }
            }
        }
        Err(failed.unwrap_or_else(|| PeerError::Protocol("no transport enabled".into())))
    }

    /// [`Dialer::connect`] over one transport.
    async fn connect_over(
        &self,
        t: Transport,
        addr: SocketAddr,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) -> Result<(Connection, Handshake), PeerError> {
        // plaintext with the BEP 10 bit alone (RC4-only never speaks plaintext)
        let may_strip = self.encryption != Encryption::Required;
        let extension_only = Handshake {
            reserved: Reserved::default().with(Reserved::EXTENSION),
            info_hash,
            peer_id,
        };
        let known = may_strip && self.extension_only().contains(&addr);
        let (conn, theirs) = if known {
            open_outgoing(self.dial(addr, t).await?, &extension_only, None).await?
        } else {
            match self.connect_with_policy(t, addr, info_hash, peer_id).await {
                Err(e) if may_strip && hung_up(&e) => {
                    // a strict peer hangs up on reserved bits it does not expect
                    tracing::debug!(%addr, "handshake refused ({e}); retrying with only the extension bit");
                    let opened =
                        open_outgoing(self.dial(addr, t).await?, &extension_only, None).await?;
                    self.extension_only().insert(addr);
                    opened
                }
                attempt => attempt?,
            }
        };
        check(conn, theirs, info_hash, peer_id)
    }

    /// Connect with our full reserved bits under the encryption policy (with its fallback).
    async fn connect_with_policy(
        &self,
        t: Transport,
        addr: SocketAddr,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) -> Result<(Connection, Handshake), PeerError> {
        let encryption = self.encryption;
        let ours = Handshake {
            reserved: our_reserved(),
            info_hash,
            peer_id,
        };
        let offer = match encryption {
            Encryption::Required | Encryption::Prefer => Some(CRYPTO_RC4),
            Encryption::Enabled | Encryption::Disabled => None,
        };
        match open_outgoing(self.dial(addr, t).await?, &ours, offer).await {
            Err(e) if encryption == Encryption::Enabled && hung_up(&e) => {
                // a peer that requires encryption hangs up on a plaintext handshake
                tracing::debug!(%addr, "plaintext refused ({e}); retrying with MSE");
                let both = Some(CRYPTO_PLAINTEXT | CRYPTO_RC4);
                open_outgoing(self.dial(addr, t).await?, &ours, both).await
            }
            Err(e)
                if encryption == Encryption::Prefer
                    && (hung_up(&e) || matches!(e, PeerError::Timeout(_))) =>
            {
                // a peer without MSE reads our key as a bad handshake and hangs up (or waits)
                tracing::debug!(%addr, "MSE not answered ({e}); retrying in plaintext");
                open_outgoing(self.dial(addr, t).await?, &ours, None).await
            }
            attempt => attempt,
        }
    }
}

/// Send our handshake `ours`, in plaintext or (`mse`: the methods to offer) as the initial
/// payload of an MSE handshake, and read theirs.
async fn open_outgoing(
    tcp: Stream,
    ours: &Handshake,
    mse: Option<u32>,
) -> Result<(Connection, Handshake), PeerError> {
    let bytes = ours.encode();
    let mut conn = match mse {
        None => {
            let mut conn = plain(tcp, ours.reserved)?;
            conn.send_raw(&bytes);
            conn.flush().await?;
            conn
        }
        Some(provide) => initiate_mse(tcp, ours, &bytes, provide).await?,
    };
    let theirs = read_handshake(&mut conn).await?;
    Ok((conn, theirs))
}

/// A plaintext connection on which we send (or sent) `reserved`.
fn plain(tcp: Stream, reserved: Reserved) -> Result<Connection, PeerError> {
    Ok(Connection::new(
        tcp,
        None,
        Wire::Plaintext,
        reserved,
        BytesMut::with_capacity(1024),
    )?)
}

fn check(
    conn: Connection,
    theirs: Handshake,
    info_hash: InfoHash,
    peer_id: PeerId,
) -> Result<(Connection, Handshake), PeerError> {
    if theirs.info_hash != info_hash {
        return Err(PeerError::Protocol(format!(
            "wrong info hash {}",
            theirs.info_hash
        )));
    }
    if theirs.peer_id == peer_id {
        return Err(PeerError::SelfConnection);
    }
    Ok((conn, theirs))
}

/// The peer closed the connection (or reset it) before its handshake arrived.
fn hung_up(e: &PeerError) -> bool {
    use std::io::ErrorKind::*;
    match e {
        PeerError::Io(io) => matches!(
            io.kind(),
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
        ),
        PeerError::Protocol(why) => why == CLOSED_DURING_HANDSHAKE || why == CLOSED_DURING_MSE,
        _ => false,
    }
}

/// The transport did not reach a BitTorrent peer: worth trying the other one.
fn unreachable(e: &PeerError) -> bool {
    matches!(
        e,
        PeerError::Io(_) | PeerError::Timeout("connecting" | "connecting over uTP")
    ) || hung_up(e)
}

const CLOSED_DURING_HANDSHAKE: &str = "closed during handshake";
const CLOSED_DURING_MSE: &str = "closed during the encryption handshake";

async fn utp_connect(utp: &Utp, addr: SocketAddr) -> Result<Stream, PeerError> {
    let s = tokio::time::timeout(CONNECT_TIMEOUT, utp.connect(addr))
        .await
        .map_err(|_| PeerError::Timeout("connecting over uTP"))??;
    Ok(Stream::Utp(s))
}

async fn tcp_connect(addr: SocketAddr) -> Result<TcpStream, PeerError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| PeerError::Timeout("connecting"))??;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Random MSE padding: 0 to 512 bytes, as the spec allows.
fn random_pad() -> Vec<u8> {
    let len = rand::random_range(0..=mse::MAX_PAD);
    (0..len).map(|_| rand::random::<u8>()).collect()
}

/// Run the MSE handshake as the initiator, our BitTorrent handshake as its initial payload.
async fn initiate_mse(
    mut tcp: Stream,
    ours: &Handshake,
    bytes: &[u8],
    provide: u32,
) -> Result<Connection, PeerError> {
    let (mut mse, first) = Initiator::start(
        ours.info_hash.0,
        provide,
        bytes.to_vec(),
        &rand::random(),
        &random_pad(),
    );
    let done = exchange_mse(
        &mut tcp,
        Progress {
            send: first,
            done: None,
        },
        |data| mse.receive(data),
    )
    .await?;
    established(tcp, done, ours.reserved)
}

/// Drive an MSE handshake: send what the state machine produced, feed it what arrives,
/// until it is done (bounded by the handshake timeout).
async fn exchange_mse(
    tcp: &mut Stream,
    mut progress: Progress,
    mut feed: impl FnMut(&[u8]) -> Result<Progress, MseError>,
) -> Result<mse::Established, PeerError> {
    let run = async {
        let mut buf = vec![0u8; 4096];
        loop {
            tcp.write_all(&progress.send).await?;
            if let Some(done) = progress.done {
                return Ok(done);
            }
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                return Err(PeerError::Protocol(CLOSED_DURING_MSE.into()));
            }
            progress = feed(&buf[..n])?;
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .map_err(|_| PeerError::Timeout("in the encryption handshake"))?
}

/// Open an accepted connection: plaintext or MSE by its first bytes (per `encryption`),
/// then the peer's BitTorrent handshake. `lookup` maps `HASH('req2', SKEY)` to the info
/// hash of a torrent we serve. Returns the connection (with the bytes after the handshake in
/// its read buffer) and their handshake; our answer is the caller's, once it knows the
/// torrent.
pub async fn open_incoming(
    tcp: Stream,
    encryption: Encryption,
    lookup: &(dyn Fn(&[u8; 20]) -> Option<[u8; 20]> + Sync),
) -> Result<(Connection, Handshake), PeerError> {
    if let Stream::Tcp(t) = &tcp {
        t.set_nodelay(true)?;
    }
    let mut conn = plain(tcp, our_reserved())?;
    let plaintext = read_until(&mut conn, |b| Ok(mse::is_plaintext_handshake(b))).await?;
    if plaintext {
        if encryption == Encryption::Required {
            return Err(PeerError::Protocol(
                "plaintext handshake refused: encryption is required".into(),
            ));
        }
        let hs = read_handshake(&mut conn).await?;
        return Ok((conn, hs));
    }
    if encryption == Encryption::Disabled {
        return Err(PeerError::Protocol(
            "not a BitTorrent handshake (encryption is disabled)".into(),
        ));
    }
    let mut mse = Responder::new(encryption.accepted(), &rand::random(), &random_pad());
    if encryption == Encryption::Prefer {
        mse = mse.preferring_rc4();
    }
    let (mut tcp, first) = conn.into_parts()?;
    let progress = mse.receive(&first, lookup)?;
    let done = exchange_mse(&mut tcp, progress, |data| mse.receive(data, lookup)).await?;
    let skey = done.info_hash;
    let mut conn = established(tcp, done, our_reserved())?;
    let hs = read_handshake(&mut conn).await?;
    if hs.info_hash.0 != skey {
        return Err(PeerError::Protocol(
            "the handshake names another torrent than the encryption key".into(),
        ));
    }
    Ok((conn, hs))
}

/// The connection after a completed MSE handshake, the payload that came with it in its read
/// buffer.
fn established(
    tcp: Stream,
    done: mse::Established,
    reserved: Reserved,
) -> Result<Connection, PeerError> {
    let wire = if done.ciphers.is_some() {
        Wire::Rc4
    } else {
        Wire::Obfuscated
    };
    Ok(Connection::new(
        tcp,
        done.ciphers,
        wire,
        reserved,
        BytesMut::from(&done.payload[..]),
    )?)
}

/// Read the 68-byte handshake (after whatever the read buffer holds already); the bytes that
/// followed it stay in the read buffer.
async fn read_handshake(conn: &mut Connection) -> Result<Handshake, PeerError> {
    read_until(conn, |b| {
        Ok(Handshake::decode(b)?.map(|(hs, n)| {
            b.advance(n);
            hs
        }))
    })
    .await
}

/// Read into the connection's buffer until `parse` finds what it waits for, within the
/// handshake timeout.
async fn read_until<T>(
    conn: &mut Connection,
    parse: impl FnMut(&mut BytesMut) -> Result<Option<T>, PeerError>,
) -> Result<T, PeerError> {
    tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        conn.read_until(parse, CLOSED_DURING_HANDSHAKE),
    )
    .await
    .map_err(|_| PeerError::Timeout("waiting for the handshake"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pex_utp_hint_puts_utp_first_and_the_hints_are_capped() {
        let (utp, _incoming) = Utp::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let both = Transports {
            tcp: true,
            utp: Some(utp),
            utp6: None,
        };
        let d = Dialer::new(Encryption::Enabled, both);
        let a: SocketAddr = "10.0.0.1:6881".parse().unwrap();
        assert_eq!(d.order(a), [Transport::Tcp, Transport::Utp]);
        d.prefer_utp(a);
        assert_eq!(d.order(a), [Transport::Utp, Transport::Tcp]);
        for i in 0..2 * MAX_UTP_FIRST as u32 {
            d.prefer_utp(SocketAddr::from((i.to_be_bytes(), 1)));
        }
        assert_eq!(d.utp_first().len(), MAX_UTP_FIRST, "a PEX flood is capped");
        // without uTP the hint changes nothing
        let tcp_only = Dialer::new(Encryption::Enabled, Transports::default());
        tcp_only.prefer_utp(a);
        assert_eq!(tcp_only.order(a), [Transport::Tcp]);
        assert!(!tcp_only.prefers_utp(a));
    }
}
