//! Message Stream Encryption (MSE, also called Protocol Encryption or PE): the obfuscated
//! handshake that libtorrent, Transmission, aria2, qBittorrent and Vuze speak before the
//! BitTorrent handshake. A Diffie-Hellman exchange over a 768-bit prime gives both sides a
//! shared secret `S`; the info hash (`SKEY`) is never sent in the clear, only
//! `HASH('req2', SKEY) xor HASH('req3', S)`; the rest of the handshake is RC4-encrypted and
//! the two sides agree on either RC4 or plaintext for the payload that follows.
//!
//! ```text
//! 1 A->B: Ya, PadA
//! 2 B->A: Yb, PadB
//! 3 A->B: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
//!         ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
//! 4 B->A: ENCRYPT(VC, crypto_select, len(padD), padD), ENCRYPT2(payload)
//! 5 A->B: ENCRYPT2(payload)
//! ```
//! `ENCRYPT` is RC4 keyed with `HASH('keyA', S, SKEY)` (A to B) or `HASH('keyB', S, SKEY)`
//! (B to A), the first 1024 bytes of keystream discarded; `ENCRYPT2` is the same cipher when
//! RC4 was selected, else the identity.
//!
//! Sans-IO: [`Initiator`] and [`Responder`] are fed the bytes that arrive and return the bytes
//! to send; randomness (private keys, padding) is passed in by the caller. Every length and
//! pad is bounded, so hostile input ends in an [`MseError`], never a panic or unbounded
//! buffering.

use num_bigint::BigUint;
use rc4::{KeyInit, Rc4, StreamCipher};
use sha1::{Digest, Sha1};

/// The MSE prime P (768 bits); the generator G is 2.
const PRIME: [u8; KEY_LEN] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC9, 0x0F, 0xDA, 0xA2, 0x21, 0x68, 0xC2, 0x34,
    0xC4, 0xC6, 0x62, 0x8B, 0x80, 0xDC, 0x1C, 0xD1, 0x29, 0x02, 0x4E, 0x08, 0x8A, 0x67, 0xCC, 0x74,
    0x02, 0x0B, 0xBE, 0xA6, 0x3B, 0x13, 0x9B, 0x22, 0x51, 0x4A, 0x08, 0x79, 0x8E, 0x34, 0x04, 0xDD,
    0xEF, 0x95, 0x19, 0xB3, 0xCD, 0x3A, 0x43, 0x1B, 0x30, 0x2B, 0x0A, 0x6D, 0xF2, 0x5F, 0x14, 0x37,
    0x4F, 0xE1, 0x35, 0x6D, 0x6D, 0x51, 0xC2, 0x45, 0xE4, 0x85, 0xB5, 0x76, 0x62, 0x5E, 0x7E, 0xC6,
    0xF4, 0x4C, 0x42, 0xE9, 0xA6, 0x3A, 0x36, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x05, 0x63,
];
/// Length of a public key and of the shared secret: 768 bits.
pub const KEY_LEN: usize = 96;
/// Largest PadA / PadB / PadC / PadD.
pub const MAX_PAD: usize = 512;
/// The verification constant: eight zero bytes.
const VC: [u8; 8] = [0; 8];
/// `crypto_provide` / `crypto_select` bit: the payload stays in plaintext.
pub const CRYPTO_PLAINTEXT: u32 = 0x01;
/// `crypto_provide` / `crypto_select` bit: the payload is RC4-encrypted.
pub const CRYPTO_RC4: u32 = 0x02;
/// Largest initial payload we accept: a BitTorrent handshake is 68 bytes, a little more
/// leaves room for the messages some clients send right behind it.
pub const MAX_INITIAL_PAYLOAD: usize = 4096;
/// Keystream bytes thrown away before use (RC4-drop1024).
const DISCARD: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MseError {
    #[error("MSE: public key out of range")]
    BadPublicKey,
    #[error("MSE: no synchronisation within {0} bytes of padding")]
    NoSync(&'static str),
    #[error("MSE: the peer asks for a torrent we do not have")]
    UnknownTorrent,
    #[error("MSE: verification constant mismatch")]
    BadVerification,
    #[error("MSE: padding of {0} bytes (at most 512)")]
    PadTooLong(usize),
    #[error("MSE: initial payload of {0} bytes is too long")]
    PayloadTooLong(usize),
    #[error("MSE: no common crypto method (offered {offered:#x}, allowed {allowed:#x})")]
    NoCommonMethod { offered: u32, allowed: u32 },
    #[error("MSE: the peer selected {0:#x}, which we did not offer")]
    BadSelect(u32),
}

/// One direction's RC4 stream (keystream already advanced past the discarded 1024 bytes);
/// boxed, as the state is 258 bytes and moves through handshake states and channels.
pub struct Rc4Stream(Box<Rc4>);

impl Rc4Stream {
    fn new(key: &[u8; 20]) -> Self {
        let mut rc4 = Rc4::new_from_slice(key).expect("RC4 takes 20-byte keys");
        let mut drop = [0u8; DISCARD];
        rc4.apply_keystream(&mut drop);
        Rc4Stream(Box::new(rc4))
    }

    /// Encrypt or decrypt `data` in place (RC4 is its own inverse).
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl std::fmt::Debug for Rc4Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rc4Stream")
    }
}

/// The two RC4 streams of an encrypted connection.
#[derive(Debug)]
pub struct Ciphers {
    /// Applied to what we send.
    pub encrypt: Rc4Stream,
    /// Applied to what we receive.
    pub decrypt: Rc4Stream,
}

impl Ciphers {
    /// A's streams encrypt with keyA and decrypt with keyB; B's the other way round.
    fn derive(secret: &[u8; KEY_LEN], skey: &[u8; 20], initiator: bool) -> Self {
        let key_a = Rc4Stream::new(&hash(&[b"keyA", secret, skey]));
        let key_b = Rc4Stream::new(&hash(&[b"keyB", secret, skey]));
        if initiator {
            Ciphers {
                encrypt: key_a,
                decrypt: key_b,
            }
        } else {
            Ciphers {
                encrypt: key_b,
                decrypt: key_a,
            }
        }
    }
}

fn hash(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// `HASH('req2', SKEY)`: how a responder recognises which of its torrents a peer asks for.
pub fn req2_hash(skey: &[u8; 20]) -> [u8; 20] {
    hash(&[b"req2", skey])
}

fn xor20(a: &[u8; 20], b: &[u8; 20]) -> [u8; 20] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// A Diffie-Hellman key pair over the MSE prime.
struct KeyPair {
    private: BigUint,
    public: [u8; KEY_LEN],
}

impl KeyPair {
    /// `private` is 160 random bits (the spec asks for at least 128).
    fn new(private: &[u8; 20]) -> Self {
        let p = BigUint::from_bytes_be(&PRIME);
        let x = BigUint::from_bytes_be(private);
        let y = BigUint::from(2u32).modpow(&x, &p);
        KeyPair {
            private: x,
            public: to_fixed(&y),
        }
    }

    /// `S = Y^x mod P`; a peer key of 0, 1 or P-1 (or above) would force a known secret.
    fn shared_secret(&self, theirs: &[u8]) -> Result<[u8; KEY_LEN], MseError> {
        let p = BigUint::from_bytes_be(&PRIME);
        let y = BigUint::from_bytes_be(theirs);
        if y <= BigUint::from(1u32) || y >= &p - 1u32 {
            return Err(MseError::BadPublicKey);
        }
        Ok(to_fixed(&y.modpow(&self.private, &p)))
    }
}

/// Big-endian, left-padded with zeros to 96 bytes.
fn to_fixed(n: &BigUint) -> [u8; KEY_LEN] {
    let bytes = n.to_bytes_be();
    let mut out = [0u8; KEY_LEN];
    out[KEY_LEN - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// How the handshake ended.
#[derive(Debug)]
pub struct Established {
    /// The torrent (SKEY) the connection is for.
    pub info_hash: [u8; 20],
    /// `Some` when RC4 was selected for the payload, `None` for plaintext.
    pub ciphers: Option<Ciphers>,
    /// Payload bytes that arrived with the handshake, already decrypted: the initiator's IA
    /// (for a responder) followed by whatever came after.
    pub payload: Vec<u8>,
}

/// What feeding bytes produced.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes to send to the peer now (possibly empty).
    pub send: Vec<u8>,
    /// The handshake is complete.
    pub done: Option<Established>,
}

/// Find `needle` behind at most [`MAX_PAD`] bytes of padding at the start of `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let window = &hay[..hay.len().min(MAX_PAD + needle.len())];
    window.windows(needle.len()).position(|w| w == needle)
}

/// The connecting side (A).
pub struct Initiator {
    keys: KeyPair,
    skey: [u8; 20],
    provide: u32,
    /// Our BitTorrent handshake (and anything else), sent encrypted inside step 3.
    initial_payload: Vec<u8>,
    buf: Vec<u8>,
    state: InitState,
}

enum InitState {
    /// Waiting for Yb.
    PeerKey,
    /// Step 3 sent; searching for B's encrypted VC within PadB.
    FindVc {
        ciphers: Ciphers,
        vc: [u8; 8],
    },
    /// VC found and consumed: reading crypto_select and len(padD), then padD.
    Select {
        ciphers: Ciphers,
        select: Option<(u32, usize)>,
    },
    Done,
}

impl Initiator {
    /// Start a handshake for the torrent `skey`, offering `provide` (a mask of
    /// [`CRYPTO_PLAINTEXT`] and [`CRYPTO_RC4`]). Returns the initiator and step 1 (Ya, PadA).
    pub fn start(
        skey: [u8; 20],
        provide: u32,
        initial_payload: Vec<u8>,
        private: &[u8; 20],
        pad: &[u8],
    ) -> (Self, Vec<u8>) {
        let keys = KeyPair::new(private);
        let mut first = keys.public.to_vec();
        first.extend_from_slice(&pad[..pad.len().min(MAX_PAD)]);
        let me = Initiator {
            keys,
            skey,
            provide,
            initial_payload,
            buf: Vec::new(),
            state: InitState::PeerKey,
        };
        (me, first)
    }

    /// Feed bytes from the peer.
    pub fn receive(&mut self, data: &[u8]) -> Result<Progress, MseError> {
        self.buf.extend_from_slice(data);
        let mut progress = Progress::default();
        loop {
            match std::mem::replace(&mut self.state, InitState::Done) {
                InitState::PeerKey => {
                    if self.buf.len() < KEY_LEN {
                        self.state = InitState::PeerKey;
                        return Ok(progress);
                    }
                    let secret = self.keys.shared_secret(&self.buf[..KEY_LEN])?;
                    self.buf.drain(..KEY_LEN);
                    let mut ciphers = Ciphers::derive(&secret, &self.skey, true);
                    progress.send.extend_from_slice(&hash(&[b"req1", &secret]));
                    progress.send.extend_from_slice(&xor20(
                        &req2_hash(&self.skey),
                        &hash(&[b"req3", &secret]),
                    ));
                    let mut tail = Vec::with_capacity(16 + self.initial_payload.len());
                    tail.extend_from_slice(&VC);
                    tail.extend_from_slice(&self.provide.to_be_bytes());
                    tail.extend_from_slice(&0u16.to_be_bytes()); // len(PadC)
                    tail.extend_from_slice(&(self.initial_payload.len() as u16).to_be_bytes());
                    tail.extend_from_slice(&self.initial_payload);
                    ciphers.encrypt.apply(&mut tail);
                    progress.send.extend_from_slice(&tail);
                    // B's VC is the first 8 bytes of B's keystream: compute it on a copy
                    let mut vc = VC;
                    Rc4Stream::new(&hash(&[b"keyB", &secret, &self.skey])).apply(&mut vc);
                    self.state = InitState::FindVc { ciphers, vc };
                }
                InitState::FindVc { mut ciphers, vc } => match find(&self.buf, &vc) {
                    Some(at) => {
                        self.buf.drain(..at);
                        let mut got: [u8; 8] = self.buf[..8].try_into().expect("found 8 bytes");
                        self.buf.drain(..8);
                        ciphers.decrypt.apply(&mut got);
                        self.state = InitState::Select {
                            ciphers,
                            select: None,
                        };
                    }
                    None if self.buf.len() >= MAX_PAD + VC.len() => {
                        return Err(MseError::NoSync("PadB"));
                    }
                    None => {
                        self.state = InitState::FindVc { ciphers, vc };
                        return Ok(progress);
                    }
                },
                InitState::Select {
                    mut ciphers,
                    select: None,
                } => {
                    if self.buf.len() < 6 {
                        self.state = InitState::Select {
                            ciphers,
                            select: None,
                        };
                        return Ok(progress);
                    }
                    let mut head: [u8; 6] = self.buf[..6].try_into().expect("6 bytes");
                    self.buf.drain(..6);
                    ciphers.decrypt.apply(&mut head);
                    let select = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
                    let pad = u16::from_be_bytes([head[4], head[5]]) as usize;
                    if select.count_ones() != 1 || select & self.provide == 0 {
                        return Err(MseError::BadSelect(select));
                    }
                    if pad > MAX_PAD {
                        return Err(MseError::PadTooLong(pad));
                    }
                    self.state = InitState::Select {
                        ciphers,
                        select: Some((select, pad)),
                    };
                }
                InitState::Select {
                    mut ciphers,
                    select: Some((select, pad)),
                } => {
                    if self.buf.len() < pad {
                        self.state = InitState::Select {
                            ciphers,
                            select: Some((select, pad)),
                        };
                        return Ok(progress);
                    }
                    let mut pad_d = self.buf[..pad].to_vec();
                    self.buf.drain(..pad);
                    ciphers.decrypt.apply(&mut pad_d);
                    let mut payload = std::mem::take(&mut self.buf);
                    let ciphers = if select == CRYPTO_RC4 {
                        ciphers.decrypt.apply(&mut payload);
                        Some(ciphers)
                    } else {
                        None
                    };
                    progress.done = Some(Established {
                        info_hash: self.skey,
                        ciphers,
                        payload,
                    });
                    return Ok(progress);
                }
                InitState::Done => return Ok(progress),
            }
        }
    }
}

/// The accepting side (B).
pub struct Responder {
    keys: KeyPair,
    allowed: u32,
    prefer_rc4: bool,
    pad: Vec<u8>,
    buf: Vec<u8>,
    state: RespState,
}

enum RespState {
    /// Waiting for Ya.
    PeerKey,
    /// Yb sent; searching for HASH('req1', S) within PadA.
    FindReq1 {
        secret: Box<[u8; KEY_LEN]>,
    },
    /// Reading HASH('req2', SKEY) xor HASH('req3', S).
    Skey {
        secret: Box<[u8; KEY_LEN]>,
    },
    /// Reading VC, crypto_provide, len(PadC); then PadC and len(IA); then IA.
    Header {
        skey: [u8; 20],
        ciphers: Ciphers,
        stage: HeaderStage,
    },
    Done,
}

#[derive(Clone, Copy)]
enum HeaderStage {
    Fixed,
    PadC { provide: u32, pad: usize },
    Payload { provide: u32, len: usize },
}

impl Responder {
    /// Accept handshakes selecting among `allowed` (a mask of [`CRYPTO_PLAINTEXT`] and
    /// [`CRYPTO_RC4`]); plaintext is chosen whenever both sides allow it, as libtorrent does,
    /// because RC4 costs CPU and the handshake already hides the protocol (see
    /// [`Self::preferring_rc4`]).
    pub fn new(allowed: u32, private: &[u8; 20], pad: &[u8]) -> Self {
        Responder {
            keys: KeyPair::new(private),
            allowed,
            prefer_rc4: false,
            pad: pad[..pad.len().min(MAX_PAD)].to_vec(),
            buf: Vec::new(),
            state: RespState::PeerKey,
        }
    }

    /// Choose RC4 whenever the peer offers it, plaintext only when it offers nothing else.
    pub fn preferring_rc4(mut self) -> Self {
        self.prefer_rc4 = true;
        self
    }

    /// Feed bytes from the peer; `lookup` maps `HASH('req2', SKEY)` to the info hash of a
    /// torrent we serve (see [`req2_hash`]).
    pub fn receive(
        &mut self,
        data: &[u8],
        lookup: &dyn Fn(&[u8; 20]) -> Option<[u8; 20]>,
    ) -> Result<Progress, MseError> {
        self.buf.extend_from_slice(data);
        let mut progress = Progress::default();
        loop {
            match std::mem::replace(&mut self.state, RespState::Done) {
                RespState::PeerKey => {
                    if self.buf.len() < KEY_LEN {
                        self.state = RespState::PeerKey;
                        return Ok(progress);
                    }
                    let secret = self.keys.shared_secret(&self.buf[..KEY_LEN])?;
                    self.buf.drain(..KEY_LEN);
                    progress.send.extend_from_slice(&self.keys.public);
                    progress.send.extend_from_slice(&self.pad);
                    self.state = RespState::FindReq1 {
                        secret: Box::new(secret),
                    };
                }
                RespState::FindReq1 { secret } => {
                    let req1 = hash(&[b"req1", &secret[..]]);
                    match find(&self.buf, &req1) {
                        Some(at) => {
                            self.buf.drain(..at + req1.len());
                            self.state = RespState::Skey { secret };
                        }
                        None if self.buf.len() >= MAX_PAD + req1.len() => {
                            return Err(MseError::NoSync("PadA"));
                        }
                        None => {
                            self.state = RespState::FindReq1 { secret };
                            return Ok(progress);
                        }
                    }
                }
                RespState::Skey { secret } => {
                    if self.buf.len() < 20 {
                        self.state = RespState::Skey { secret };
                        return Ok(progress);
                    }
                    let x: [u8; 20] = self.buf[..20].try_into().expect("20 bytes");
                    self.buf.drain(..20);
                    let req2 = xor20(&x, &hash(&[b"req3", &secret[..]]));
                    let skey = lookup(&req2).ok_or(MseError::UnknownTorrent)?;
                    let ciphers = Ciphers::derive(&secret, &skey, false);
                    self.state = RespState::Header {
                        skey,
                        ciphers,
                        stage: HeaderStage::Fixed,
                    };
                }
                RespState::Header {
                    skey,
                    mut ciphers,
                    stage,
                } => {
                    let need = match stage {
                        HeaderStage::Fixed => 14,
                        HeaderStage::PadC { pad, .. } => pad + 2,
                        HeaderStage::Payload { len, .. } => len,
                    };
                    if self.buf.len() < need {
                        self.state = RespState::Header {
                            skey,
                            ciphers,
                            stage,
                        };
                        return Ok(progress);
                    }
                    let mut chunk: Vec<u8> = self.buf.drain(..need).collect();
                    ciphers.decrypt.apply(&mut chunk);
                    let next = match stage {
                        HeaderStage::Fixed => {
                            if chunk[..8] != VC {
                                return Err(MseError::BadVerification);
                            }
                            let provide =
                                u32::from_be_bytes(chunk[8..12].try_into().expect("4 bytes"));
                            let pad = u16::from_be_bytes([chunk[12], chunk[13]]) as usize;
                            if pad > MAX_PAD {
                                return Err(MseError::PadTooLong(pad));
                            }
                            HeaderStage::PadC { provide, pad }
                        }
                        HeaderStage::PadC { provide, pad } => {
                            let len = u16::from_be_bytes([chunk[pad], chunk[pad + 1]]) as usize;
                            if len > MAX_INITIAL_PAYLOAD {
                                return Err(MseError::PayloadTooLong(len));
                            }
                            HeaderStage::Payload { provide, len }
                        }
                        HeaderStage::Payload { provide, .. } => {
                            let common = provide & self.allowed;
                            let select = if self.prefer_rc4 && common & CRYPTO_RC4 != 0 {
                                CRYPTO_RC4
                            } else if common & CRYPTO_PLAINTEXT != 0 {
                                CRYPTO_PLAINTEXT
                            } else if common & CRYPTO_RC4 != 0 {
                                CRYPTO_RC4
                            } else {
                                return Err(MseError::NoCommonMethod {
                                    offered: provide,
                                    allowed: self.allowed,
                                });
                            };
                            let mut reply = Vec::with_capacity(14);
                            reply.extend_from_slice(&VC);
                            reply.extend_from_slice(&select.to_be_bytes());
                            reply.extend_from_slice(&0u16.to_be_bytes()); // len(padD)
                            ciphers.encrypt.apply(&mut reply);
                            progress.send.extend_from_slice(&reply);
                            let mut payload = chunk;
                            let mut rest = std::mem::take(&mut self.buf);
                            let ciphers = if select == CRYPTO_RC4 {
                                ciphers.decrypt.apply(&mut rest);
                                Some(ciphers)
                            } else {
                                None
                            };
                            payload.extend_from_slice(&rest);
                            progress.done = Some(Established {
                                info_hash: skey,
                                ciphers,
                                payload,
                            });
                            return Ok(progress);
                        }
                    };
                    self.state = RespState::Header {
                        skey,
                        ciphers,
                        stage: next,
                    };
                }
                RespState::Done => return Ok(progress),
            }
        }
    }
}

/// Does `prefix` (the first bytes of an incoming connection) look like a plaintext
/// BitTorrent handshake rather than an MSE public key? `None` until enough bytes are in.
pub fn is_plaintext_handshake(prefix: &[u8]) -> Option<bool> {
    const PSTR: &[u8] = b"\x13BitTorrent protocol";
    let n = prefix.len().min(PSTR.len());
    if prefix[..n] != PSTR[..n] {
        return Some(false);
    }
    if n == PSTR.len() { Some(true) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IH: [u8; 20] = [7u8; 20];

    fn lookup(req2: &[u8; 20]) -> Option<[u8; 20]> {
        (*req2 == req2_hash(&IH)).then_some(IH)
    }

    /// Run a whole handshake in memory, delivering bytes in chunks of `chunk`.
    fn run(
        provide: u32,
        allowed: u32,
        pads: (usize, usize),
        chunk: usize,
    ) -> (Result<Established, MseError>, Result<Established, MseError>) {
        run_with(
            provide,
            Responder::new(allowed, &[0x22; 20], &vec![0xBB; pads.1]),
            pads.0,
            chunk,
        )
    }

    /// [`run`] against a given responder.
    fn run_with(
        provide: u32,
        mut b: Responder,
        pad_a: usize,
        chunk: usize,
    ) -> (Result<Established, MseError>, Result<Established, MseError>) {
        let (mut a, mut to_b) = Initiator::start(
            IH,
            provide,
            b"HELLO-FROM-A".to_vec(),
            &[0x11; 20],
            &vec![0xAA; pad_a],
        );
        let (mut a_done, mut b_done) = (None, None);
        let mut to_a: Vec<u8> = Vec::new();
        for _ in 0..10_000 {
            if a_done.is_some() && b_done.is_some() {
                break;
            }
            if !to_b.is_empty() {
                let n = chunk.min(to_b.len());
                let part: Vec<u8> = to_b.drain(..n).collect();
                match b.receive(&part, &lookup) {
                    Ok(p) => {
                        to_a.extend(p.send);
                        if let Some(d) = p.done {
                            b_done = Some(Ok(d));
                        }
                    }
                    Err(e) => return (Err(e.clone()), Err(e)),
                }
            } else if !to_a.is_empty() {
                let n = chunk.min(to_a.len());
                let part: Vec<u8> = to_a.drain(..n).collect();
                match a.receive(&part) {
                    Ok(p) => {
                        to_b.extend(p.send);
                        if let Some(d) = p.done {
                            a_done = Some(Ok(d));
                        }
                    }
                    Err(e) => return (Err(e.clone()), Err(e)),
                }
            } else {
                break;
            }
        }
        (
            a_done.expect("initiator finished"),
            b_done.expect("responder finished"),
        )
    }

    #[test]
    fn rc4_matches_the_published_test_vector() {
        // RC4 with key "Key" encrypts "Plaintext" to BBF316E8D940AF0AD3 (no drop)
        let mut rc4 = Rc4::new_from_slice(b"Key").unwrap();
        let mut data = *b"Plaintext";
        rc4.apply_keystream(&mut data);
        assert_eq!(data, [0xBB, 0xF3, 0x16, 0xE8, 0xD9, 0x40, 0xAF, 0x0A, 0xD3]);
    }

    #[test]
    fn both_sides_derive_the_same_secret() {
        let a = KeyPair::new(&[3; 20]);
        let b = KeyPair::new(&[5; 20]);
        assert_eq!(
            a.shared_secret(&b.public).unwrap(),
            b.shared_secret(&a.public).unwrap()
        );
        assert_ne!(a.public, b.public);
    }

    #[test]
    fn degenerate_public_keys_are_refused() {
        let a = KeyPair::new(&[3; 20]);
        let mut one = [0u8; KEY_LEN];
        one[KEY_LEN - 1] = 1;
        assert_eq!(
            a.shared_secret(&[0u8; KEY_LEN]),
            Err(MseError::BadPublicKey)
        );
        assert_eq!(a.shared_secret(&one), Err(MseError::BadPublicKey));
        assert_eq!(a.shared_secret(&PRIME), Err(MseError::BadPublicKey));
        assert_eq!(
            a.shared_secret(&[0xFF; KEY_LEN]),
            Err(MseError::BadPublicKey)
        );
    }

    #[test]
    fn plaintext_is_selected_when_both_allow_it() {
        let (a, b) = run(
            CRYPTO_PLAINTEXT | CRYPTO_RC4,
            CRYPTO_PLAINTEXT | CRYPTO_RC4,
            (17, 300),
            1000,
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(a.ciphers.is_none() && b.ciphers.is_none());
        assert_eq!(b.info_hash, IH);
        assert_eq!(b.payload, b"HELLO-FROM-A");
        assert!(a.payload.is_empty());
    }

    #[test]
    fn a_responder_preferring_rc4_selects_it_when_offered() {
        let both = CRYPTO_PLAINTEXT | CRYPTO_RC4;
        let (a, b) = run_with(
            both,
            Responder::new(both, &[0x22; 20], &[]).preferring_rc4(),
            0,
            1000,
        );
        assert!(a.unwrap().ciphers.is_some() && b.unwrap().ciphers.is_some());
        // plaintext is still accepted from a peer that offers nothing else
        let (a, b) = run_with(
            CRYPTO_PLAINTEXT,
            Responder::new(both, &[0x22; 20], &[]).preferring_rc4(),
            0,
            1000,
        );
        assert!(a.unwrap().ciphers.is_none() && b.unwrap().ciphers.is_none());
    }

    #[test]
    fn rc4_is_selected_when_required_and_the_streams_match() {
        let (a, b) = run(CRYPTO_PLAINTEXT | CRYPTO_RC4, CRYPTO_RC4, (0, 0), 7);
        let (mut a, mut b) = (a.unwrap(), b.unwrap());
        assert_eq!(b.payload, b"HELLO-FROM-A");
        let (ac, bc) = (a.ciphers.as_mut().unwrap(), b.ciphers.as_mut().unwrap());
        let mut msg = b"a block of data".to_vec();
        ac.encrypt.apply(&mut msg);
        assert_ne!(msg, b"a block of data");
        bc.decrypt.apply(&mut msg);
        assert_eq!(msg, b"a block of data");
        let mut back = b"reply".to_vec();
        bc.encrypt.apply(&mut back);
        ac.decrypt.apply(&mut back);
        assert_eq!(back, b"reply");
    }

    #[test]
    fn no_common_method_is_an_error() {
        let (a, _) = run(CRYPTO_RC4, CRYPTO_PLAINTEXT, (0, 0), 1000);
        assert!(matches!(a, Err(MseError::NoCommonMethod { .. })));
    }

    #[test]
    fn an_unknown_torrent_is_refused() {
        let (_, first) = Initiator::start([9; 20], CRYPTO_RC4, Vec::new(), &[1; 20], &[]);
        let mut a = Initiator::start([9; 20], CRYPTO_RC4, Vec::new(), &[1; 20], &[]).0;
        let mut b = Responder::new(CRYPTO_RC4, &[2; 20], &[]);
        let yb = b.receive(&first, &lookup).unwrap().send;
        let step3 = a.receive(&yb).unwrap().send;
        assert_eq!(
            b.receive(&step3, &lookup).unwrap_err(),
            MseError::UnknownTorrent
        );
    }

    #[test]
    fn padding_without_sync_is_an_error_not_a_hang() {
        let mut b = Responder::new(CRYPTO_RC4, &[2; 20], &[]);
        let a = KeyPair::new(&[1; 20]);
        b.receive(&a.public, &lookup).unwrap();
        assert!(b.receive(&[0u8; 600], &lookup).is_err());
        let (mut a, _) = Initiator::start(IH, CRYPTO_RC4, Vec::new(), &[1; 20], &[]);
        a.receive(&KeyPair::new(&[2; 20]).public).unwrap();
        assert_eq!(
            a.receive(&[0u8; 600]).unwrap_err(),
            MseError::NoSync("PadB")
        );
    }

    #[test]
    fn plaintext_handshakes_are_told_apart() {
        assert_eq!(
            is_plaintext_handshake(b"\x13BitTorrent protocol\0\0"),
            Some(true)
        );
        assert_eq!(is_plaintext_handshake(b"\x13BitTor"), None);
        assert_eq!(is_plaintext_handshake(b"\x13BitTox"), Some(false));
        assert_eq!(is_plaintext_handshake(&[0x42]), Some(false));
        assert_eq!(is_plaintext_handshake(&[]), None);
    }

    proptest! {
        /// Any chunking and padding: both sides finish with the same choice and the payload.
        #[test]
        fn handshake_completes_for_any_chunking(
            chunk in 1usize..200, pad_a in 0usize..=512, pad_b in 0usize..=512, rc4_only in any::<bool>()
        ) {
            let allowed = if rc4_only { CRYPTO_RC4 } else { CRYPTO_PLAINTEXT | CRYPTO_RC4 };
            let (a, b) = run(CRYPTO_PLAINTEXT | CRYPTO_RC4, allowed, (pad_a, pad_b), chunk);
            let (a, b) = (a.unwrap(), b.unwrap());
            prop_assert_eq!(a.ciphers.is_some(), rc4_only);
            prop_assert_eq!(b.ciphers.is_some(), rc4_only);
            prop_assert_eq!(b.payload, b"HELLO-FROM-A".to_vec());
        }

        /// Random bytes never panic either side.
        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut b = Responder::new(CRYPTO_PLAINTEXT | CRYPTO_RC4, &[2; 20], &[]);
            let _ = b.receive(&data, &lookup);
            let (mut a, _) = Initiator::start(IH, CRYPTO_RC4, Vec::new(), &[1; 20], &[]);
            let _ = a.receive(&data);
        }
    }
}
