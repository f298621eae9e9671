//! One uTP connection as a sans-IO state machine: datagrams and the clock in, datagrams and a
//! deadline out, stream bytes through [`Socket::write`] and [`Socket::read`].
//!
//! The driver (the engine's UDP socket) feeds every datagram for this connection to
//! [`Socket::handle`], calls [`Socket::poll_transmit`] until it returns nothing after each
//! batch of datagrams and each write, and calls [`Socket::handle_timeout`] at
//! [`Socket::deadline`]. Nothing here reads a clock: every call takes `now`.
//!
//! # Numbers (BEP 29)
//!
//! The initiator picks `recv_id` and sends with `recv_id + 1`; the SYN carries `recv_id` and
//! the first sequence number. The responder answers with a STATE carrying its own random
//! `seq_nr` (a STATE takes no sequence number), so the initiator's `ack_nr` starts at that
//! `seq_nr - 1`. DATA and FIN take one sequence number each. `ack_nr` is the last packet
//! received in order; out-of-order packets are kept (up to the receive window) and reported
//! in a selective ack, bit `i` for `ack_nr + 2 + i`.
//!
//! # Sending
//!
//! Bytes written wait in a send buffer and are cut into packets of the current packet size
//! when the window allows: the smaller of LEDBAT's congestion window ([`super::ledbat`]) and
//! the peer's advertised receive window. A packet is resent when three later packets were
//! selectively acked or three duplicate acks arrived (fast retransmit, the window halved), or
//! when the retransmission timer (RFC 6298, at least 500 ms, doubling) fires (the window back
//! to one packet). One ack goes out per batch of arrivals, not per packet.
//!
//! # Path MTU discovery
//!
//! Packets start at [`START_PACKET`] bytes. The driver gives the largest datagram the path
//! could carry (the link's: 64 KiB on loopback). We climb a ladder of common sizes
//! ([`PROBE_SIZES`]: tunnels, Ethernet for IPv6 and IPv4, jumbo frames, loopback) by sending
//! probes, DATA packets with an empty payload padded with an unknown extension (which
//! receivers skip) to the size tried. An acked probe raises the floor to its size; the first
//! lost one ends the climb (the ceiling drops below it) and is resent unpadded. A probe is
//! lost when three later packets are acked before it, or when it goes unanswered for twice
//! the round trip; neither counts as congestion nor as a timeout of the connection (a peer
//! that reads datagrams into a 1500-byte buffer, as libtorrent does, drops every larger one).
//! Because a probe carries no stream bytes, losing it never forces us to re-cut data that may
//! already have arrived, and data keeps flowing behind it.

use super::ledbat::Ledbat;
use super::packet::{HEADER_LEN, Header, Sack, Type};
use bytes::{Buf, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The first packet size (whole uTP packet, header included): fits any path with IPv6 and a
/// tunnel or two.
pub const START_PACKET: usize = 1232;
/// Receive buffer: the most bytes held for the application, in order or not, and the window
/// we advertise.
pub const RECV_BUFFER: usize = 4 << 20;
/// Send buffer: the most bytes [`Socket::write`] takes beyond those in flight.
pub const SEND_BUFFER: usize = 1 << 20;
/// Out-of-order packets held at most (beyond them a packet is dropped and resent later).
const MAX_OUT_OF_ORDER: usize = 4096;
const MIN_RTO: Duration = Duration::from_millis(500);
const MAX_RTO: Duration = Duration::from_secs(8);
const SYN_RTO: Duration = Duration::from_secs(1);
/// Timeouts in a row before the connection is given up (SYN: fewer).
const MAX_TIMEOUTS: u32 = 6;
const MAX_SYN_TIMEOUTS: u32 = 3;
/// An idle connection sends an ack this often, to keep NAT mappings open.
const KEEPALIVE: Duration = Duration::from_secs(29);
/// The packet sizes tried, in order (whole uTP packets): a tunnel's, Ethernet with IPv6 and
/// with IPv4 (1500 less the IP and UDP headers), jumbo frames likewise, then loopback sizes.
pub const PROBE_SIZES: [usize; 8] = [1400, 1452, 1472, 8952, 8972, 16384, 32768, 65507];
/// A probe unanswered this long (or twice the round trip, if longer) is lost.
const PROBE_TIMEOUT: Duration = Duration::from_millis(50);
/// The unknown extension type probes are padded with.
const EXT_PADDING: u8 = 0x7f;
/// The receive window we advertise may open this far before we send an update unprompted.
const WINDOW_UPDATE: usize = 64 << 10;

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// SYN sent, waiting for the answer.
    SynSent,
    /// Open both ways (a FIN may have come or gone).
    Connected,
    /// Done: both FINs acked, a RESET, or given up (see [`Socket::failure`]).
    Closed,
}

/// Why a connection ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The peer sent a RESET.
    Reset,
    /// The peer stopped answering.
    TimedOut,
    /// The peer never answered our SYN.
    Refused,
}

impl Failure {
    /// The matching I/O error kind.
    pub fn kind(self) -> std::io::ErrorKind {
        match self {
            Failure::Reset => std::io::ErrorKind::ConnectionReset,
            Failure::TimedOut => std::io::ErrorKind::TimedOut,
            Failure::Refused => std::io::ErrorKind::ConnectionRefused,
        }
    }
}

/// A packet sent and not yet acked.
#[derive(Debug)]
struct Sent {
    ty: Type,
    payload: Vec<u8>,
    /// Padding of an MTU probe (0 for others, and for a probe's resend).
    padding: usize,
    sent_at: Instant,
    transmissions: u32,
    /// Selectively acked: its bytes no longer count as in flight.
    sacked: bool,
    /// To be sent (again).
    resend: bool,
    /// Its bytes count in `bytes_in_flight` (not after a timeout declared it lost, until it
    /// is resent).
    counted: bool,
}

impl Sent {
    fn size(&self) -> usize {
        self.payload.len() + self.padding
    }
}

/// The climb of the packet size.
#[derive(Debug, Clone)]
struct Mtu {
    floor: usize,
    ceiling: usize,
    /// The outstanding probe: its sequence number and size.
    probe: Option<(u16, usize)>,
}

impl Mtu {
    fn next_probe(&self) -> Option<usize> {
        if self.probe.is_some() {
            return None;
        }
        PROBE_SIZES
            .into_iter()
            .find(|&size| size > self.floor && size <= self.ceiling)
    }
}

/// Round-trip time estimate (RFC 6298).
#[derive(Debug, Clone)]
struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
}

impl Rtt {
    fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let delta = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
        self.rto = (self.srtt.unwrap_or(r) + 4 * self.rttvar).clamp(MIN_RTO, MAX_RTO);
    }

    fn srtt(&self) -> Duration {
        self.srtt.unwrap_or(Duration::from_millis(100))
    }
}

/// Counters for the dashboard and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub packets_sent: u64,
    pub packets_received: u64,
    pub retransmits: u64,
    pub timeouts: u64,
}

/// One uTP connection (see the module doc).
#[derive(Debug)]
pub struct Socket {
    state: State,
    failure: Option<Failure>,
    recv_id: u16,
    send_id: u16,
    epoch: Instant,
    /// Next sequence number to assign.
    seq_nr: u16,
    /// Last sequence number received in order.
    ack_nr: u16,
    /// Our last `timestamp_difference` (their timestamp against our clock).
    reply_micro: u32,
    // ---- sending
    unsent: BytesMut,
    /// Sent and unacked packets; `in_flight[i]` has sequence number `first_unacked + i`.
    in_flight: VecDeque<Sent>,
    first_unacked: u16,
    bytes_in_flight: usize,
    peer_window: usize,
    cc: Ledbat,
    rtt: Rtt,
    rto_at: Option<Instant>,
    timeouts: u32,
    dup_acks: u32,
    mtu: Mtu,
    closing: bool,
    fin_sent: Option<u16>,
    last_sent: Instant,
    // ---- receiving
    readable: BytesMut,
    /// `out_of_order[k]` holds packet `ack_nr + 2 + k` when it arrived.
    out_of_order: VecDeque<Option<Vec<u8>>>,
    out_of_order_bytes: usize,
    /// The peer's FIN: the stream ends after this sequence number.
    eof_seq: Option<u16>,
    eof: bool,
    need_ack: bool,
    advertised: usize,
    stats: Stats,
}

impl Socket {
    fn new(recv_id: u16, send_id: u16, seq_nr: u16, ceiling: usize, now: Instant) -> Socket {
        let floor = START_PACKET.min(ceiling);
        Socket {
            state: State::SynSent,
            failure: None,
            recv_id,
            send_id,
            epoch: now,
            seq_nr,
            ack_nr: 0,
            reply_micro: 0,
            unsent: BytesMut::new(),
            in_flight: VecDeque::new(),
            first_unacked: seq_nr,
            bytes_in_flight: 0,
            peer_window: START_PACKET,
            cc: Ledbat::new(floor - HEADER_LEN),
            rtt: Rtt {
                srtt: None,
                rttvar: Duration::ZERO,
                rto: SYN_RTO,
            },
            rto_at: None,
            timeouts: 0,
            dup_acks: 0,
            mtu: Mtu {
                floor,
                ceiling: ceiling.max(floor),
                probe: None,
            },
            closing: false,
            fin_sent: None,
            last_sent: now,
            readable: BytesMut::new(),
            out_of_order: VecDeque::new(),
            out_of_order_bytes: 0,
            eof_seq: None,
            eof: false,
            need_ack: false,
            advertised: RECV_BUFFER,
            stats: Stats::default(),
        }
    }

    /// Open a connection: `recv_id` is ours (the peer sends with it), `seq_nr` our first
    /// sequence number, `ceiling` the largest datagram the path could carry. The SYN is the
    /// first thing [`Socket::poll_transmit`] returns.
    pub fn connect(recv_id: u16, seq_nr: u16, ceiling: usize, now: Instant) -> Socket {
        let mut s = Socket::new(recv_id, recv_id.wrapping_add(1), seq_nr, ceiling, now);
        s.push_packet(Type::Syn, Vec::new(), 0);
        s
    }

    /// Accept a connection from its SYN; the answer (a STATE) is the first thing
    /// [`Socket::poll_transmit`] returns.
    pub fn accept(syn: &Header, seq_nr: u16, ceiling: usize, now: Instant) -> Socket {
        let mut s = Socket::new(
            syn.connection_id.wrapping_add(1),
            syn.connection_id,
            seq_nr,
            ceiling,
            now,
        );
        s.state = State::Connected;
        s.ack_nr = syn.seq_nr;
        s.peer_window = syn.wnd_size as usize;
        s.note_timestamp(syn, now);
        s.need_ack = true;
        s
    }

    /// The connection id the peer's packets carry.
    pub fn recv_id(&self) -> u16 {
        self.recv_id
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Why the connection failed, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The current packet size (whole uTP packet).
    pub fn packet_size(&self) -> usize {
        self.mtu.floor
    }

    /// The congestion window in bytes.
    pub fn congestion_window(&self) -> usize {
        self.cc.window()
    }

    /// Smoothed round-trip time, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt.srtt
    }

    fn micros(&self, now: Instant) -> u32 {
        now.duration_since(self.epoch).as_micros() as u32
    }

    fn note_timestamp(&mut self, h: &Header, now: Instant) {
        if h.timestamp_us != 0 {
            self.reply_micro = self.micros(now).wrapping_sub(h.timestamp_us);
        }
    }

    // ------------------------------------------------------------------ the application side

    /// Queue stream bytes; returns how many were taken (0 when the send buffer is full, or
    /// the connection is closing or closed).
    pub fn write(&mut self, data: &[u8]) -> usize {
        if self.closing || self.state == State::Closed {
            return 0;
        }
        let n = data
            .len()
            .min(SEND_BUFFER.saturating_sub(self.unsent.len()));
        self.unsent.extend_from_slice(&data[..n]);
        n
    }

    /// Whether [`Socket::write`] would take bytes now (or fail: closed).
    pub fn writable(&self) -> bool {
        self.unsent.len() < SEND_BUFFER || self.state == State::Closed
    }

    /// Move received stream bytes into `out`, at most `max`; returns how many.
    pub fn read(&mut self, out: &mut impl bytes::BufMut, max: usize) -> usize {
        let n = self.readable.len().min(max).min(out.remaining_mut());
        out.put_slice(&self.readable[..n]);
        self.readable.advance(n);
        if self.advertised < RECV_BUFFER / 4
            && self.window().saturating_sub(self.advertised) >= WINDOW_UPDATE
            && self.state == State::Connected
        {
            self.need_ack = true; // tell a peer held back by our window that it opened
        }
        n
    }

    /// Whether an ack waits to go out (after a read opened the window, say).
    pub fn ack_pending(&self) -> bool {
        self.need_ack
    }

    /// Bytes waiting to be read.
    pub fn available(&self) -> usize {
        self.readable.len()
    }

    /// Whether the peer's stream has ended (its FIN arrived and everything before it was read).
    pub fn at_eof(&self) -> bool {
        self.eof && self.readable.is_empty()
    }

    /// Whether a read would return something now: bytes, the end, or a failure.
    pub fn read_ready(&self) -> bool {
        !self.readable.is_empty() || self.eof || self.state == State::Closed
    }

    /// End our side of the stream: a FIN follows the bytes already written.
    pub fn close(&mut self) {
        self.closing = true;
    }

    /// Whether everything we wrote (and our FIN, once closing) has been acked.
    pub fn flushed(&self) -> bool {
        self.unsent.is_empty() && self.in_flight.is_empty()
    }

    fn window(&self) -> usize {
        RECV_BUFFER.saturating_sub(self.readable.len() + self.out_of_order_bytes)
    }

    // ------------------------------------------------------------------ arrivals

    /// A datagram for this connection arrived: its header and payload.
    pub fn handle(&mut self, h: &Header, payload: &[u8], now: Instant) {
        if self.state == State::Closed {
            return;
        }
        self.stats.packets_received += 1;
        if h.ty == Type::Reset {
            self.fail(Failure::Reset);
            return;
        }
        if h.ty == Type::Syn {
            // our answer was lost: say it again
            if self.state == State::Connected && h.connection_id == self.send_id {
                self.need_ack = true;
            }
            return;
        }
        if self.state == State::SynSent {
            // the answer to our SYN: their sequence numbers start here
            self.state = State::Connected;
            self.ack_nr = h.seq_nr.wrapping_sub(1);
        }
        self.note_timestamp(h, now);
        self.peer_window = h.wnd_size as usize;
        self.process_ack(h, payload.is_empty(), now);
        match h.ty {
            Type::Data | Type::Fin => self.receive(h, payload),
            _ => {}
        }
        self.maybe_finished();
    }

    fn process_ack(&mut self, h: &Header, no_payload: bool, now: Instant) {
        let last_sent = self.seq_nr.wrapping_sub(1);
        // packets acked cumulatively: first_unacked ..= ack_nr, if ack_nr is one we sent
        let acked_count = h.ack_nr.wrapping_sub(self.first_unacked).wrapping_add(1) as usize;
        let mut acked_bytes = 0;
        let mut progress = false;
        if acked_count <= self.in_flight.len()
            && h.ack_nr.wrapping_sub(self.first_unacked)
                <= last_sent.wrapping_sub(self.first_unacked)
        {
            for _ in 0..acked_count {
                if let Some(p) = self.in_flight.pop_front()
                    && !p.sacked
                {
                    acked_bytes += self.account_ack(&p, self.first_unacked, now);
                }
                self.first_unacked = self.first_unacked.wrapping_add(1);
            }
            progress = acked_count > 0;
        }
        if !h.sack.is_empty() {
            let base = h.ack_nr.wrapping_add(2);
            for off in h.sack.offsets() {
                let idx = base.wrapping_add(off).wrapping_sub(self.first_unacked) as usize;
                let seq = base.wrapping_add(off);
                if let Some(p) = self.in_flight.get_mut(idx)
                    && !p.sacked
                    && p.transmissions > 0
                {
                    p.sacked = true;
                    p.resend = false;
                    let p = Sent {
                        payload: Vec::new(),
                        padding: p.size(),
                        ..*p
                    };
                    acked_bytes += self.account_ack(&p, seq, now);
                    progress = true;
                }
            }
            self.fast_retransmit(now);
        }
        if progress {
            self.dup_acks = 0;
            self.timeouts = 0;
            self.cc.delay_sample(h.timestamp_difference_us, now);
            self.cc.on_ack(acked_bytes);
            self.rto_at = (!self.in_flight.is_empty()).then(|| now + self.rtt.rto);
        } else if no_payload
            && h.ty == Type::State
            && h.ack_nr == self.first_unacked.wrapping_sub(1)
            && !self.in_flight.is_empty()
        {
            self.dup_acks += 1;
            if self.dup_acks == 3
                && let Some(p) = self.in_flight.front_mut()
                && !p.sacked
            {
                p.resend = true;
                if p.padding == 0 {
                    self.cc.on_loss(now, self.rtt.srtt());
                }
            }
        }
    }

    /// Bookkeeping for a packet acked (cumulatively or selectively); returns its size.
    fn account_ack(&mut self, p: &Sent, seq: u16, now: Instant) -> usize {
        if p.transmissions == 1 {
            self.rtt.sample(now.duration_since(p.sent_at));
        }
        if let Some((probe, size)) = self.mtu.probe
            && probe == seq
        {
            self.mtu.probe = None;
            if p.padding > 0 {
                self.mtu.floor = size;
                self.cc.set_mss(size - HEADER_LEN);
            }
        }
        if p.counted {
            self.bytes_in_flight -= p.size();
        }
        p.size()
    }

    /// Resend packets that three later packets overtook (selectively acked).
    fn fast_retransmit(&mut self, now: Instant) {
        let mut later_sacked = 0;
        let mut lost = false;
        for p in self.in_flight.iter_mut().rev() {
            if p.sacked {
                later_sacked += 1;
            } else if later_sacked >= 3
                && !p.resend
                && (p.transmissions == 1 || now.duration_since(p.sent_at) > self.rtt.srtt())
            {
                p.resend = true;
                // a lost probe says the packet was too large, not that the path is full
                lost |= p.padding == 0;
            }
        }
        if lost {
            self.cc.on_loss(now, self.rtt.srtt());
        }
    }

    fn receive(&mut self, h: &Header, payload: &[u8]) {
        self.need_ack = true;
        let distance = h.seq_nr.wrapping_sub(self.ack_nr.wrapping_add(1)) as usize;
        if distance >= 0x8000 {
            return; // a duplicate of something delivered: the ack above answers it
        }
        if self
            .eof_seq
            .is_some_and(|e| h.seq_nr.wrapping_sub(self.ack_nr) > e.wrapping_sub(self.ack_nr))
        {
            return; // past the end of their stream
        }
        if h.ty == Type::Fin {
            self.eof_seq = Some(h.seq_nr);
        }
        if distance == 0 {
            if payload.len() > self.window() {
                return; // no room: they will resend
            }
            self.readable.extend_from_slice(payload);
            self.ack_nr = h.seq_nr;
            self.drain_out_of_order();
        } else {
            let k = distance - 1;
            if k >= MAX_OUT_OF_ORDER || payload.len() > self.window() {
                return;
            }
            if self.out_of_order.len() <= k {
                self.out_of_order.resize(k + 1, None);
            }
            if self.out_of_order[k].is_none() {
                self.out_of_order_bytes += payload.len();
                self.out_of_order[k] = Some(payload.to_vec());
            }
        }
        if self.eof_seq == Some(self.ack_nr) {
            self.eof = true;
        }
    }

    fn drain_out_of_order(&mut self) {
        while let Some(Some(_)) = self.out_of_order.front() {
            if let Some(Some(p)) = self.out_of_order.pop_front() {
                self.out_of_order_bytes -= p.len();
                self.readable.extend_from_slice(&p);
                self.ack_nr = self.ack_nr.wrapping_add(1);
            }
        }
        // the slot for ack_nr + 1 is never stored: it is the next packet in order
        if self.out_of_order.front().is_some_and(|s| s.is_none()) {
            self.out_of_order.pop_front();
        }
    }

    fn maybe_finished(&mut self) {
        let fin_acked = self.fin_sent.is_some() && self.in_flight.is_empty();
        if fin_acked && self.eof {
            self.state = State::Closed;
        }
    }

    fn fail(&mut self, why: Failure) {
        self.failure = Some(why);
        self.state = State::Closed;
        self.in_flight.clear();
        self.bytes_in_flight = 0;
    }

    // ------------------------------------------------------------------ timers

    /// When [`Socket::handle_timeout`] wants to run next.
    pub fn deadline(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        let timer = match self.rto_at {
            Some(t) => t,
            None => self.last_sent + KEEPALIVE,
        };
        Some(match self.probe_deadline() {
            Some(p) => p.min(timer),
            None => timer,
        })
    }

    /// The outstanding probe, while it waits for its answer: its index in `in_flight`.
    fn pending_probe(&self) -> Option<usize> {
        let (seq, _) = self.mtu.probe?;
        let i = seq.wrapping_sub(self.first_unacked) as usize;
        let p = self.in_flight.get(i)?;
        (p.padding > 0 && p.transmissions > 0 && !p.resend && !p.sacked).then_some(i)
    }

    /// When the outstanding probe counts as lost.
    fn probe_deadline(&self) -> Option<Instant> {
        let i = self.pending_probe()?;
        let wait = PROBE_TIMEOUT.max(self.rtt.srtt() * 2);
        Some(self.in_flight[i].sent_at + wait)
    }

    /// Run the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if let Some(t) = self.probe_deadline()
            && now >= t
            && let Some(i) = self.pending_probe()
        {
            // too large for the path (or for the peer's buffer): resent unpadded, not a
            // timeout of the connection
            let p = &mut self.in_flight[i];
            p.resend = true;
            p.counted = false;
            self.bytes_in_flight -= p.size();
        }
        match self.rto_at {
            Some(t) if now >= t => {
                self.timeouts += 1;
                self.stats.timeouts += 1;
                let limit = if self.state == State::SynSent {
                    MAX_SYN_TIMEOUTS
                } else {
                    MAX_TIMEOUTS
                };
                if self.timeouts >= limit {
                    let why = if self.state == State::SynSent {
                        Failure::Refused
                    } else {
                        Failure::TimedOut
                    };
                    self.fail(why);
                    return;
                }
                self.rtt.rto = (self.rtt.rto * 2).min(MAX_RTO);
                if self.state == State::Connected {
                    self.cc.on_timeout(now);
                }
                // everything unacked is lost: resent as the window (one packet now) reopens
                for p in self.in_flight.iter_mut().filter(|p| !p.sacked) {
                    p.resend = true;
                    if p.counted {
                        p.counted = false;
                        self.bytes_in_flight -= p.size();
                    }
                }
                self.rto_at = Some(now + self.rtt.rto);
            }
            None if now >= self.last_sent + KEEPALIVE => self.need_ack = true,
            _ => {}
        }
    }

    // ------------------------------------------------------------------ sending

    fn push_packet(&mut self, ty: Type, payload: Vec<u8>, padding: usize) -> u16 {
        let seq = self.seq_nr;
        self.seq_nr = self.seq_nr.wrapping_add(1);
        self.bytes_in_flight += payload.len() + padding;
        self.in_flight.push_back(Sent {
            ty,
            payload,
            padding,
            sent_at: self.epoch,
            transmissions: 0,
            sacked: false,
            resend: true,
            counted: true,
        });
        seq
    }

    fn header(&mut self, ty: Type, seq_nr: u16, now: Instant) -> Header {
        let mut h = Header::new(
            ty,
            if ty == Type::Syn {
                self.recv_id
            } else {
                self.send_id
            },
        );
        h.timestamp_us = self.micros(now);
        h.timestamp_difference_us = self.reply_micro;
        let window = self.window();
        self.advertised = window;
        h.wnd_size = window as u32;
        h.seq_nr = seq_nr;
        h.ack_nr = self.ack_nr;
        if self.out_of_order.iter().any(|s| s.is_some()) {
            let mut sack = Sack::default();
            // out_of_order[k] is packet ack_nr + 2 + k: sack bit k
            for (k, s) in self.out_of_order.iter().enumerate() {
                if s.is_some() {
                    sack.set(k);
                }
            }
            h.sack = sack;
        }
        h
    }

    fn send_window(&self) -> usize {
        self.cc.window().min(self.peer_window)
    }

    /// The next datagram to send, written into `out` (cleared first); false when there is
    /// nothing to send now.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.state == State::Closed {
            return false;
        }
        if self.transmit_resend(now, out) || self.transmit_new(now, out) {
            self.need_ack = false;
            self.last_sent = now;
            self.stats.packets_sent += 1;
            if self.rto_at.is_none() {
                self.rto_at = Some(now + self.rtt.rto);
            }
            return true;
        }
        if self.need_ack && self.state == State::Connected {
            let h = self.header(Type::State, self.seq_nr, now);
            h.encode(out);
            self.need_ack = false;
            self.last_sent = now;
            self.stats.packets_sent += 1;
            return true;
        }
        false
    }

    fn transmit_resend(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let Some(i) = self.in_flight.iter().position(|p| p.resend && !p.sacked) else {
            return false;
        };
        if !self.in_flight[i].counted {
            // lost to a timeout: back in flight only as the window allows
            let size = self.in_flight[i].size();
            let room = self.send_window().saturating_sub(self.bytes_in_flight);
            if size > room && self.bytes_in_flight > 0 {
                return false;
            }
            self.in_flight[i].counted = true;
            self.bytes_in_flight += size;
        }
        let seq = self.first_unacked.wrapping_add(i as u16);
        let ty = self.in_flight[i].ty;
        let mut h = self.header(ty, seq, now);
        if ty == Type::Syn {
            h.ack_nr = 0;
        }
        let p = &mut self.in_flight[i];
        if p.transmissions > 0 && p.padding > 0 {
            // a lost probe goes again without its padding
            self.bytes_in_flight -= p.padding;
            p.padding = 0;
            if self.mtu.probe.is_some_and(|(seq_p, _)| seq_p == seq) {
                let (_, size) = self.mtu.probe.take().unwrap_or_default();
                self.mtu.ceiling = size - 1;
            }
        }
        h.encode(out);
        let p = &mut self.in_flight[i];
        pad(out, p.padding);
        out.extend_from_slice(&p.payload);
        if p.transmissions > 0 {
            self.stats.retransmits += 1;
        }
        p.transmissions += 1;
        p.sent_at = now;
        p.resend = false;
        true
    }

    fn transmit_new(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.state != State::Connected {
            return false;
        }
        let room = self.send_window().saturating_sub(self.bytes_in_flight);
        let may_send = |len: usize| len <= room || self.bytes_in_flight == 0;
        if !self.unsent.is_empty() {
            if let Some(size) = self.mtu.next_probe()
                && self.unsent.len() >= size
                && may_send(size)
            {
                let seq = self.push_packet(Type::Data, Vec::new(), size - HEADER_LEN);
                self.mtu.probe = Some((seq, size));
                return self.transmit_resend(now, out);
            }
            let len = self.unsent.len().min(self.mtu.floor - HEADER_LEN - 34);
            if !may_send(len) {
                return false;
            }
            let payload = self.unsent.split_to(len).to_vec();
            self.push_packet(Type::Data, payload, 0);
            return self.transmit_resend(now, out);
        }
        if self.closing && self.fin_sent.is_none() {
            let seq = self.push_packet(Type::Fin, Vec::new(), 0);
            self.fin_sent = Some(seq);
            return self.transmit_resend(now, out);
        }
        false
    }
}

/// Pad a packet to its probe size with links of an unknown extension type (255 bytes each
/// at most). `out` holds a header with no extension, or one whose chain ends in a SACK.
fn pad(out: &mut Vec<u8>, mut padding: usize) {
    if padding < 2 {
        return;
    }
    // point the last link of the chain at the padding
    if out[1] == 0 {
        out[1] = EXT_PADDING;
    } else {
        out[HEADER_LEN] = EXT_PADDING;
    }
    while padding > 0 {
        // each link costs 2 bytes of its own; never leave a remainder of 1
        let mut body = padding.saturating_sub(2).min(255);
        if padding - 2 - body == 1 {
            body -= 1;
        }
        let last = padding - 2 - body == 0;
        out.push(if last { 0 } else { EXT_PADDING });
        out.push(body as u8);
        out.resize(out.len() + body, 0);
        padding -= 2 + body;
    }
}

#[cfg(test)]
mod tests;
