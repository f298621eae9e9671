//! [`UtpStream`]: one uTP connection as a tokio byte stream.
//!
//! Reads and writes go straight to the connection's buffers in the driver's table; a read
//! that finds nothing (or a write that finds the send buffer full) leaves its waker there for
//! the driver. Clones share the connection: [`UtpStream::split`] gives a read half and a
//! write half that work at once, and the connection closes (FIN) when the last clone drops.

use super::{Key, Shared};
use crate::proto::utp::State;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Closes the connection when the last clone of its stream is dropped.
struct Handle {
    shared: Arc<Shared>,
    key: Key,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let mut t = self.shared.table();
        if let Some(e) = t.conns.get_mut(&self.key) {
            e.sock.close();
            e.dropped = Some(Instant::now());
            self.shared.touched(&mut t, self.key);
        }
    }
}

/// A uTP connection as `AsyncRead + AsyncWrite`.
#[derive(Clone)]
pub struct UtpStream {
    h: Arc<Handle>,
}

impl std::fmt::Debug for UtpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("UtpStream")
            .field("peer", &self.h.key.0)
            .finish()
    }
}

impl UtpStream {
    pub(super) fn new(shared: Arc<Shared>, key: Key) -> UtpStream {
        UtpStream {
            h: Arc::new(Handle { shared, key }),
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.h.key.0
    }

    /// A second handle on the same connection, to read with one and write with the other.
    pub fn split(self) -> (UtpStream, UtpStream) {
        (self.clone(), self)
    }

    /// Whether two halves are of one connection.
    pub fn same(&self, other: &UtpStream) -> bool {
        Arc::ptr_eq(&self.h, &other.h)
    }

    /// Wait until the SYN is answered (or the connection fails).
    pub(super) async fn established(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut t = self.h.shared.table();
            let Some(e) = t.conns.get_mut(&self.h.key) else {
                return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
            };
            match e.sock.state() {
                State::Connected => Poll::Ready(Ok(())),
                State::Closed => Poll::Ready(Err(e
                    .sock
                    .failure()
                    .map(io::Error::from)
                    .unwrap_or_else(|| io::ErrorKind::ConnectionAborted.into()))),
                State::SynSent => {
                    e.read = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl AsyncRead for UtpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let h = &self.h;
        let mut t = h.shared.table();
        let Some(e) = t.conns.get_mut(&h.key) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if e.sock.available() > 0 {
            let max = buf.remaining();
            let mut dst = &mut buf.initialize_unfilled()[..];
            let n = e.sock.read(&mut dst, max);
            buf.advance(n);
            if e.sock.ack_pending() {
                // the read opened the window the peer waits for
                h.shared.touched(&mut t, h.key);
            }
            return Poll::Ready(Ok(()));
        }
        if e.sock.at_eof() {
            return Poll::Ready(Ok(()));
        }
        if e.sock.state() == State::Closed {
            let err = e.sock.failure().map(io::Error::from);
            return Poll::Ready(Err(
                err.unwrap_or_else(|| io::ErrorKind::ConnectionAborted.into())
            ));
        }
        e.read = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl AsyncWrite for UtpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let h = &self.h;
        let mut t = h.shared.table();
        let Some(e) = t.conns.get_mut(&h.key) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if e.sock.state() == State::Closed {
            let err = e.sock.failure().map(io::Error::from);
            return Poll::Ready(Err(err.unwrap_or_else(|| io::ErrorKind::BrokenPipe.into())));
        }
        let n = e.sock.write(data);
        if n == 0 && !data.is_empty() {
            e.write = Some(cx.waker().clone());
            return Poll::Pending;
        }
        h.shared.touched(&mut t, h.key);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // written bytes are the connection's to deliver; there is no buffer of ours to flush
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let h = &self.h;
        let mut t = h.shared.table();
        if let Some(e) = t.conns.get_mut(&h.key) {
            e.sock.close();
            h.shared.touched(&mut t, h.key);
        }
        Poll::Ready(Ok(()))
    }
}
