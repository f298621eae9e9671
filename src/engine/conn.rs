//! The byte pipe to one peer and the handshakes that open it.
//!
//! A [`PeerStream`] is a TCP stream plus, when Message Stream Encryption selected RC4, the two
//! RC4 streams ([`Crypto`]). Every phase (handshake, metadata exchange, download) takes and
//! hands on a `PeerStream`, so a connection that started encrypted stays encrypted when it
//! moves from one to the next.
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
//! [`PeerStream::reserved`] records the bits we sent on each connection: a feature is in use
//! only when both sides set its bit.

use crate::engine::peer::{CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, PeerError, our_reserved};
use crate::proto::handshake::{Handshake, Reserved};
use crate::proto::id::{InfoHash, PeerId};
use crate::proto::mse::{
    self, CRYPTO_PLAINTEXT, CRYPTO_RC4, Ciphers, Initiator, MseError, Progress, Responder,
};
use bytes::{Buf, BytesMut};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// How a connection's bytes travel: snapshot data, so it lives in [`crate::engine::event`].
pub use crate::engine::event::Wire;

/// RC4 state of a connection (nothing for plaintext). Outgoing bytes are encrypted lazily,
/// just before they are written, so the session can keep appending messages to its output
/// buffer: `sealed` counts the bytes at the front of that buffer already encrypted.
#[derive(Debug, Default)]
pub struct Crypto {
    ciphers: Option<Ciphers>,
    sealed: usize,
}

impl Crypto {
    fn new(ciphers: Option<Ciphers>) -> Self {
        Crypto { ciphers, sealed: 0 }
    }

    /// Decrypt bytes just read.
    pub fn open(&mut self, fresh: &mut [u8]) {
        if let Some(c) = &mut self.ciphers {
            c.decrypt.apply(fresh);
        }
    }

    /// Encrypt what was appended to `out` since the last call.
    pub fn seal(&mut self, out: &mut [u8]) {
        if let Some(c) = &mut self.ciphers {
            c.encrypt.apply(&mut out[self.sealed..]);
        }
        self.sealed = out.len();
    }

    /// `n` bytes were written from the front of the output buffer.
    pub fn written(&mut self, n: usize) {
        self.sealed -= n;
    }
}

/// A peer's TCP stream, its encryption and the reserved bits we sent on it.
#[derive(Debug)]
pub struct PeerStream {
    pub tcp: TcpStream,
    pub crypto: Crypto,
    pub wire: Wire,
    /// The reserved bits of the handshake we sent (ours, not the peer's).
    pub reserved: Reserved,
}

impl PeerStream {
    pub fn plain(tcp: TcpStream) -> Self {
        PeerStream {
            tcp,
            crypto: Crypto::default(),
            wire: Wire::Plaintext,
            reserved: our_reserved(),
        }
    }

    /// Whether both sides set `bit`: the feature may be used on this connection.
    pub fn negotiated(&self, theirs: &Handshake, bit: (usize, u8)) -> bool {
        self.reserved.has(bit) && theirs.reserved.has(bit)
    }

    /// Read into `buf` and decrypt what arrived; cancel-safe like `TcpStream::read_buf`.
    pub async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        let before = buf.len();
        let n = self.tcp.read_buf(buf).await?;
        self.crypto.open(&mut buf[before..]);
        Ok(n)
    }

    /// Encrypt and write all of `out`, then clear it.
    pub async fn write_all(&mut self, out: &mut Vec<u8>) -> std::io::Result<()> {
        self.crypto.seal(out);
        self.tcp.write_all(out).await?;
        self.crypto.written(out.len());
        out.clear();
        Ok(())
    }
}

impl From<MseError> for PeerError {
    fn from(e: MseError) -> Self {
        PeerError::Protocol(e.to_string())
    }
}

/// Opens outgoing connections for one torrent: the encryption policy, and the peers that
/// accept only the BEP 10 reserved bit (see the module doc).
#[derive(Debug)]
pub struct Dialer {
    pub encryption: Encryption,
    extension_only: Mutex<HashSet<SocketAddr>>,
}

impl Dialer {
    pub fn new(encryption: Encryption) -> Dialer {
        Dialer {
            encryption,
            extension_only: Mutex::default(),
        }
    }

    fn extension_only(&self) -> std::sync::MutexGuard<'_, HashSet<SocketAddr>> {
        self.extension_only
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Connect to `addr` and exchange handshakes for `info_hash`. Their handshake must name
    /// the same torrent and must not be ourselves.
    pub async fn connect(
        &self,
        addr: SocketAddr,
        info_hash: InfoHash,
        peer_id: PeerId,
    ) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
        // plaintext with the BEP 10 bit alone (RC4-only never speaks plaintext)
        let may_strip = self.encryption != Encryption::Required;
        let extension_only = Handshake {
            reserved: Reserved::default().with(Reserved::EXTENSION),
            info_hash,
            peer_id,
        };
        let known = may_strip && self.extension_only().contains(&addr);
        let (stream, theirs, rest) = if known {
            open_outgoing(tcp_connect(addr).await?, &extension_only, None).await?
        } else {
            match connect_with_policy(addr, info_hash, peer_id, self.encryption).await {
                Err(e) if may_strip && hung_up(&e) => {
                    // a strict peer hangs up on reserved bits it does not expect
                    tracing::debug!(%addr, "handshake refused ({e}); retrying with only the extension bit");
                    let opened =
                        open_outgoing(tcp_connect(addr).await?, &extension_only, None).await?;
                    self.extension_only().insert(addr);
                    opened
                }
                attempt => attempt?,
            }
        };
        check(stream, theirs, rest, info_hash, peer_id)
    }
}

/// Connect with our full reserved bits under the `encryption` policy (with its fallback).
async fn connect_with_policy(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: PeerId,
    encryption: Encryption,
) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
    let ours = Handshake {
        reserved: our_reserved(),
        info_hash,
        peer_id,
    };
    let offer = match encryption {
        Encryption::Required | Encryption::Prefer => Some(CRYPTO_RC4),
        Encryption::Enabled | Encryption::Disabled => None,
    };
    match open_outgoing(tcp_connect(addr).await?, &ours, offer).await {
        Err(e) if encryption == Encryption::Enabled && hung_up(&e) => {
            // a peer that requires encryption hangs up on a plaintext handshake
            tracing::debug!(%addr, "plaintext refused ({e}); retrying with MSE");
            let both = Some(CRYPTO_PLAINTEXT | CRYPTO_RC4);
            open_outgoing(tcp_connect(addr).await?, &ours, both).await
        }
        Err(e)
            if encryption == Encryption::Prefer
                && (hung_up(&e) || matches!(e, PeerError::Timeout(_))) =>
        {
            // a peer without MSE reads our key as a bad handshake and hangs up (or waits)
            tracing::debug!(%addr, "MSE not answered ({e}); retrying in plaintext");
            open_outgoing(tcp_connect(addr).await?, &ours, None).await
        }
        attempt => attempt,
    }
}

/// Send our handshake `ours`, in plaintext or (`mse`: the methods to offer) as the initial
/// payload of an MSE handshake, and read theirs.
async fn open_outgoing(
    tcp: TcpStream,
    ours: &Handshake,
    mse: Option<u32>,
) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
    let bytes = ours.encode();
    let (mut stream, leftover) = match mse {
        None => {
            let mut stream = PeerStream::plain(tcp);
            stream.write_all(&mut bytes.to_vec()).await?;
            (stream, BytesMut::new())
        }
        Some(provide) => initiate_mse(tcp, ours.info_hash, &bytes, provide).await?,
    };
    stream.reserved = ours.reserved;
    let (theirs, rest) = read_handshake(&mut stream, leftover).await?;
    Ok((stream, theirs, rest))
}

fn check(
    stream: PeerStream,
    theirs: Handshake,
    rest: BytesMut,
    info_hash: InfoHash,
    peer_id: PeerId,
) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
    if theirs.info_hash != info_hash {
        return Err(PeerError::Protocol(format!(
            "wrong info hash {}",
            theirs.info_hash
        )));
    }
    if theirs.peer_id == peer_id {
        return Err(PeerError::SelfConnection);
    }
    Ok((stream, theirs, rest))
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

const CLOSED_DURING_HANDSHAKE: &str = "closed during handshake";
const CLOSED_DURING_MSE: &str = "closed during the encryption handshake";

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
    mut tcp: TcpStream,
    info_hash: InfoHash,
    ours: &[u8],
    provide: u32,
) -> Result<(PeerStream, BytesMut), PeerError> {
    let (mut mse, first) = Initiator::start(
        info_hash.0,
        provide,
        ours.to_vec(),
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
    Ok(established(tcp, done))
}

/// Drive an MSE handshake: send what the state machine produced, feed it what arrives,
/// until it is done (bounded by the handshake timeout).
async fn exchange_mse(
    tcp: &mut TcpStream,
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
/// hash of a torrent we serve. Returns the stream, their handshake and the bytes after it.
pub async fn open_incoming(
    tcp: TcpStream,
    encryption: Encryption,
    lookup: &(dyn Fn(&[u8; 20]) -> Option<[u8; 20]> + Sync),
) -> Result<(PeerStream, Handshake, BytesMut), PeerError> {
    tcp.set_nodelay(true)?;
    let mut stream = PeerStream::plain(tcp);
    let mut first = BytesMut::with_capacity(1024);
    let plain = read_until(&mut stream, &mut first, |b| {
        Ok(mse::is_plaintext_handshake(b))
    })
    .await?;
    if plain {
        if encryption == Encryption::Required {
            return Err(PeerError::Protocol(
                "plaintext handshake refused: encryption is required".into(),
            ));
        }
        let (hs, rest) = read_handshake(&mut stream, first).await?;
        return Ok((stream, hs, rest));
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
    let progress = mse.receive(&first, lookup)?;
    let mut tcp = stream.tcp;
    let done = exchange_mse(&mut tcp, progress, |data| mse.receive(data, lookup)).await?;
    let skey = done.info_hash;
    let (mut stream, rest) = established(tcp, done);
    let (hs, rest) = read_handshake(&mut stream, rest).await?;
    if hs.info_hash.0 != skey {
        return Err(PeerError::Protocol(
            "the handshake names another torrent than the encryption key".into(),
        ));
    }
    Ok((stream, hs, rest))
}

/// The stream after a completed MSE handshake, and the payload that came with it.
fn established(tcp: TcpStream, done: mse::Established) -> (PeerStream, BytesMut) {
    let wire = if done.ciphers.is_some() {
        Wire::Rc4
    } else {
        Wire::Obfuscated
    };
    let stream = PeerStream {
        tcp,
        crypto: Crypto::new(done.ciphers),
        wire,
        reserved: our_reserved(),
    };
    (stream, BytesMut::from(&done.payload[..]))
}

/// Read the 68-byte handshake after the bytes already in `buf`; returns it and any bytes
/// that followed it.
pub async fn read_handshake(
    stream: &mut PeerStream,
    mut buf: BytesMut,
) -> Result<(Handshake, BytesMut), PeerError> {
    let hs = read_until(stream, &mut buf, |b| {
        Ok(Handshake::decode(b)?.map(|(hs, n)| {
            b.advance(n);
            hs
        }))
    })
    .await?;
    Ok((hs, buf))
}

/// Read (and decrypt) into `buf` until `parse` finds what it waits for, within the
/// handshake timeout.
async fn read_until<T>(
    stream: &mut PeerStream,
    buf: &mut BytesMut,
    mut parse: impl FnMut(&mut BytesMut) -> Result<Option<T>, PeerError>,
) -> Result<T, PeerError> {
    let run = async {
        loop {
            if let Some(found) = parse(buf)? {
                return Ok(found);
            }
            if stream.read_buf(buf).await? == 0 {
                return Err(PeerError::Protocol(CLOSED_DURING_HANDSHAKE.into()));
            }
        }
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, run)
        .await
        .map_err(|_| PeerError::Timeout("waiting for the handshake"))?
}
