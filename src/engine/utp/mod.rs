//! uTP at the edge: one UDP socket, the clock, and every uTP connection on it ([`Utp`]).
//!
//! The sans-IO connections ([`crate::proto::utp::Socket`]) live in one table behind a mutex,
//! keyed by the peer's address and the connection id its packets carry. A driver task owns
//! the receiving side of the UDP socket: it feeds each datagram to its connection (or accepts
//! a SYN), and after each batch of datagrams (all that the socket has ready) it sends what
//! the connections want to send, one ack per connection per batch. Streams
//! ([`UtpStream`], tokio's `AsyncRead`/`AsyncWrite`) read and write the connection's buffers
//! under the same mutex and poke the driver to transmit. Timers: the driver sleeps until the
//! earliest connection deadline.
//!
//! The socket binds the TCP listener's port (libtorrent's convention, so a peer that learns
//! one port reaches us both ways). It is read and written through `quinn-udp`, which batches
//! reads (`recvmmsg`) and reports each datagram's destination address: when the socket is
//! bound to the unspecified address, the replies of an accepted connection leave from the
//! address the peer dialled (`IP_PKTINFO`), or a peer that dialled 127.0.0.5 would see
//! answers from 127.0.0.1 and drop them. The DHT keeps its own socket: its traffic is small, and a
//! separate socket keeps its failures and its bind options apart.
//!
//! # Bounds
//! At most [`MAX_CONNECTIONS`] connections, of which at most [`MAX_HALF_OPEN`] accepted ones
//! that have not yet sent a byte (a SYN flood fills that and no more); beyond it SYNs are
//! dropped unanswered. A stream's connection is closed (FIN) when the stream is dropped and
//! forgotten once the FIN is acked, the peer resets, or [`LINGER`] passes.

mod stream;

pub use stream::UtpStream;

use crate::proto::utp::{Failure, Header, Socket, State, Type};
use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use std::collections::HashMap;
use std::io;
use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};

/// Connections held at most.
pub const MAX_CONNECTIONS: usize = 2048;
/// Accepted connections that have not sent a byte yet, at most.
pub const MAX_HALF_OPEN: usize = 64;
/// A closed stream's connection is dropped after this even if its FIN is not acked.
pub const LINGER: Duration = Duration::from_secs(10);
/// Datagrams read per batch before the driver transmits.
const BATCH: usize = 256;
/// Datagrams read per system call (`recvmmsg`), each into its own buffer.
const READS: usize = 16;
/// One read buffer: the largest datagram, or a GRO train of equal ones (at most 64 KiB).
const READ_BUFFER: usize = 65_536;
/// The UDP socket's kernel buffers, asked for (the kernel may give less).
const SOCKET_BUFFER: usize = 8 << 20;

type Key = (SocketAddr, u16);

/// One connection in the table, with the wakers of the stream's two halves.
struct Entry {
    sock: Socket,
    read: Option<Waker>,
    write: Option<Waker>,
    /// The stream was dropped: close and forget.
    dropped: Option<Instant>,
    /// Accepted and no byte received yet.
    half_open: bool,
    /// The state the stream last saw (a change wakes both halves).
    seen: State,
    /// Our address the peer sends to, for accepted connections (replies leave from it).
    local: Option<IpAddr>,
}

impl Entry {
    fn new(sock: Socket, half_open: bool, local: Option<IpAddr>) -> Entry {
        let seen = sock.state();
        Entry {
            sock,
            read: None,
            write: None,
            dropped: None,
            half_open,
            seen,
            local,
        }
    }

    fn wake(&mut self) {
        if self.sock.state() != self.seen {
            self.seen = self.sock.state();
            if let Some(w) = self.read.take() {
                w.wake();
            }
            if let Some(w) = self.write.take() {
                w.wake();
            }
            return;
        }
        if self.sock.read_ready()
            && let Some(w) = self.read.take()
        {
            w.wake();
        }
        if self.sock.writable()
            && let Some(w) = self.write.take()
        {
            w.wake();
        }
    }
}

#[derive(Default)]
struct Table {
    conns: HashMap<Key, Entry>,
    /// Connections that may have something to send.
    dirty: Vec<Key>,
    half_open: usize,
}

struct Shared {
    udp: UdpSocket,
    state: UdpSocketState,
    table: Mutex<Table>,
    poke: Notify,
    epoch: Instant,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A stream changed its connection: transmit soon.
    fn touched(&self, t: &mut Table, key: Key) {
        t.dirty.push(key);
        self.poke.notify_one();
    }
}

/// The largest datagram a path to `ip` could carry: the loopback interface takes 64 KiB; other
/// paths are assumed to be Ethernet (path MTU discovery searches below it).
pub fn path_ceiling(ip: IpAddr) -> usize {
    if ip.is_loopback() {
        65_507
    } else if ip.is_ipv4() {
        1500 - 20 - 8
    } else {
        1500 - 40 - 8
    }
}

/// The uTP endpoint: connect out, and receive the streams peers open to us.
#[derive(Clone)]
pub struct Utp {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Utp {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Utp")
            .field("local", &self.shared.udp.local_addr().ok())
            .finish()
    }
}

impl Utp {
    /// Bind `addr` and start the driver. Streams peers open arrive on the returned receiver
    /// (if nobody takes them they are refused when the queue is full).
    pub async fn bind(addr: SocketAddr) -> io::Result<(Utp, mpsc::Receiver<UtpStream>)> {
        let (tx, rx) = mpsc::channel(64);
        Ok((Utp::bind_into(addr, tx).await?, rx))
    }

    /// [`Utp::bind`], handing accepted streams to `accepted` (two endpoints, IPv4 and IPv6,
    /// may share one receiver). An IPv6 address binds an IPv6-only socket: IPv4 peers have
    /// the IPv4 endpoint, so no address is ever seen in its IPv4-mapped form.
    pub async fn bind_into(addr: SocketAddr, accepted: mpsc::Sender<UtpStream>) -> io::Result<Utp> {
        let sock = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        // best effort: a smaller buffer only costs throughput
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        let udp = UdpSocket::from_std(sock.into())?;
        let state = UdpSocketState::new((&udp).into())?;
        let shared = Arc::new(Shared {
            udp,
            state,
            table: Mutex::new(Table::default()),
            poke: Notify::new(),
            epoch: Instant::now(),
        });
        tokio::spawn(drive(Arc::downgrade(&shared), accepted));
        Ok(Utp { shared })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.udp.local_addr()
    }

    /// Open a connection to `addr`; resolves once the peer answers the SYN (or fails:
    /// refused after three unanswered SYNs, about 7 s).
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<UtpStream> {
        let key = {
            let mut t = self.shared.table();
            if t.conns.len() >= MAX_CONNECTIONS {
                return Err(io::Error::other("too many uTP connections"));
            }
            let mut id: u16 = rand::random();
            // both our id and the one after it (the peer's) must be free for this address
            while t.conns.contains_key(&(addr, id)) || t.conns.contains_key(&(addr, id ^ 1)) {
                id = rand::random();
            }
            let now = Instant::now();
            let sock = Socket::connect(id, rand::random(), path_ceiling(addr.ip()), now);
            t.conns.insert((addr, id), Entry::new(sock, false, None));
            self.shared.touched(&mut t, (addr, id));
            (addr, id)
        };
        let stream = UtpStream::new(self.shared.clone(), key);
        stream.established().await?;
        Ok(stream)
    }
}

/// The driver: datagrams in, connections fed, datagrams out, timers run. Ends when every
/// [`Utp`] handle and stream is gone.
async fn drive(shared: std::sync::Weak<Shared>, accepted: mpsc::Sender<UtpStream>) {
    let mut bufs = vec![vec![0u8; READ_BUFFER]; READS];
    let mut out = Vec::new();
    loop {
        let Some(s) = shared.upgrade() else { return };
        let next = next_deadline(&s);
        tokio::select! {
            r = s.udp.readable() => if r.is_ok() { receive(&s, &mut bufs, &accepted) },
            _ = s.poke.notified() => {}
            _ = sleep_until(next) => run_timers(&s),
        }
        transmit(&s, &mut out).await;
    }
}

/// Read what the socket has ready, up to [`BATCH`] datagrams, and hand each to its connection.
fn receive(s: &Arc<Shared>, bufs: &mut [Vec<u8>], accepted: &mpsc::Sender<UtpStream>) {
    let mut meta = [RecvMeta::default(); READS];
    let mut n = 0;
    while n < BATCH {
        let mut slices: Vec<IoSliceMut> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let got = s.udp.try_io(Interest::READABLE, || {
            s.state.recv((&s.udp).into(), &mut slices, &mut meta)
        });
        let Ok(got) = got else { return }; // would block (readiness cleared), or an error
        for (m, buf) in meta.iter().zip(bufs.iter()).take(got) {
            // a GRO train holds equal datagrams `stride` bytes apart
            let stride = m.stride.max(1);
            for d in buf[..m.len.min(buf.len())].chunks(stride) {
                on_datagram(s, d, m.addr, m.dst_ip, accepted);
                n += 1;
            }
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

fn next_deadline(s: &Shared) -> Option<Instant> {
    let t = s.table();
    t.conns
        .values()
        .filter_map(|e| {
            let linger = e.dropped.map(|d| d + LINGER);
            [e.sock.deadline(), linger].into_iter().flatten().min()
        })
        .min()
}

fn on_datagram(
    s: &Arc<Shared>,
    bytes: &[u8],
    from: SocketAddr,
    to: Option<IpAddr>,
    accepted: &mpsc::Sender<UtpStream>,
) {
    let Ok((h, payload)) = Header::decode(bytes) else {
        return; // not uTP
    };
    let now = Instant::now();
    let mut t = s.table();
    let t = &mut *t;
    let key = (from, h.connection_id);
    if let Some(e) = t.conns.get_mut(&key) {
        e.sock.handle(&h, payload, now);
        if e.half_open && !payload.is_empty() {
            e.half_open = false;
            t.half_open -= 1;
        }
        e.wake();
        t.dirty.push(key);
        return;
    }
    match h.ty {
        Type::Syn => {
            let key = (from, h.connection_id.wrapping_add(1));
            if t.half_open >= MAX_HALF_OPEN
                || t.conns.len() >= MAX_CONNECTIONS
                || t.conns.contains_key(&key)
            {
                return; // a flood, or an id clash: the peer retries or gives up
            }
            let Ok(permit) = accepted.try_reserve() else {
                return; // nobody accepts: the SYN goes unanswered
            };
            let sock = Socket::accept(&h, rand::random(), path_ceiling(from.ip()), now);
            t.conns.insert(key, Entry::new(sock, true, to));
            t.half_open += 1;
            t.dirty.push(key);
            permit.send(UtpStream::new(s.clone(), key));
        }
        Type::Data | Type::Fin => reset(s, &h, from, to),
        Type::State | Type::Reset => {}
    }
}

/// Tell a peer that sends data on a connection we do not know that it is gone.
fn reset(s: &Shared, h: &Header, to: SocketAddr, from: Option<IpAddr>) {
    let mut r = Header::new(Type::Reset, h.connection_id);
    r.seq_nr = rand::random();
    r.ack_nr = h.seq_nr;
    r.timestamp_us = s.epoch.elapsed().as_micros() as u32;
    let mut out = Vec::with_capacity(20);
    r.encode(&mut out);
    let _ = s.udp.try_io(Interest::WRITABLE, || {
        s.state.try_send((&s.udp).into(), &datagram(to, from, &out))
    });
}

/// A datagram for quinn-udp: to `to`, from our address `from` where it matters.
fn datagram<'a>(to: SocketAddr, from: Option<IpAddr>, contents: &'a [u8]) -> Transmit<'a> {
    Transmit {
        destination: to,
        ecn: None,
        contents,
        segment_size: None,
        src_ip: from,
    }
}

fn run_timers(s: &Shared) {
    let now = Instant::now();
    let mut t = s.table();
    let t = &mut *t;
    for (key, e) in t.conns.iter_mut() {
        if e.sock.deadline().is_some_and(|d| d <= now) {
            e.sock.handle_timeout(now);
            e.wake();
            t.dirty.push(*key);
        }
    }
    forget_finished(t, now);
}

/// Drop connections whose stream is gone and that are done (or lingered long enough).
fn forget_finished(t: &mut Table, now: Instant) {
    let mut gone = 0;
    t.conns.retain(|_, e| {
        let keep = match e.dropped {
            // a half-open connection (accepted, never a byte from the peer: a flood, or a
            // peer that gave up) frees its slot at once; the rest flush their FIN first
            Some(_) if e.half_open => false,
            Some(d) => e.sock.state() != State::Closed && !e.sock.flushed() && now < d + LINGER,
            None => true,
        };
        if !keep && e.half_open {
            gone += 1;
        }
        keep
    });
    t.half_open -= gone;
}

/// Send what the touched connections want to send.
async fn transmit(s: &Shared, out: &mut Vec<(SocketAddr, Option<IpAddr>, Vec<u8>)>) {
    loop {
        {
            let now = Instant::now();
            let mut t = s.table();
            let t = &mut *t;
            let mut dirty = std::mem::take(&mut t.dirty);
            dirty.sort_unstable();
            dirty.dedup();
            let mut more = Vec::new();
            let mut spare: Vec<Vec<u8>> = Vec::new();
            for key in dirty {
                let Some(e) = t.conns.get_mut(&key) else {
                    continue;
                };
                let mut sent = 0;
                loop {
                    let mut buf = spare.pop().unwrap_or_default();
                    if !e.sock.poll_transmit(now, &mut buf) {
                        spare.push(buf);
                        break;
                    }
                    out.push((key.0, e.local, buf));
                    sent += 1;
                    if sent == 64 {
                        more.push(key); // others get their turn first
                        break;
                    }
                }
                e.wake();
            }
            t.dirty.extend(more);
            forget_finished(t, now);
        }
        if out.is_empty() {
            return;
        }
        for (to, from, d) in out.drain(..) {
            let sent = s
                .udp
                .async_io(Interest::WRITABLE, || {
                    s.state.try_send((&s.udp).into(), &datagram(to, from, &d))
                })
                .await;
            if let Err(e) = sent {
                // EMSGSIZE for a probe beyond the interface's MTU: the probe is lost
                tracing::debug!("uTP send to {to}: {e}");
            }
        }
    }
}

impl From<Failure> for io::Error {
    fn from(f: Failure) -> io::Error {
        io::Error::new(f.kind(), format!("uTP: {f:?}"))
    }
}

#[cfg(test)]
mod tests;
