//! The byte stream under a [`super::Connection`]: TCP or uTP ([`Stream`]), and its two halves
//! so reading and writing proceed at once.

use crate::engine::event::Transport;
use crate::engine::utp::UtpStream;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// A peer's byte stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Utp(UtpStream),
}

/// The reading half of a [`Stream`].
#[derive(Debug)]
pub enum ReadHalf {
    Tcp(OwnedReadHalf),
    Utp(UtpStream),
}

/// The writing half of a [`Stream`].
#[derive(Debug)]
pub enum WriteHalf {
    Tcp(OwnedWriteHalf),
    Utp(UtpStream),
}

impl Stream {
    pub fn transport(&self) -> Transport {
        match self {
            Stream::Tcp(_) => Transport::Tcp,
            Stream::Utp(_) => Transport::Utp,
        }
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Tcp(t) => t.peer_addr(),
            Stream::Utp(u) => Ok(u.peer_addr()),
        }
    }

    pub fn into_split(self) -> (ReadHalf, WriteHalf) {
        match self {
            Stream::Tcp(t) => {
                let (r, w) = t.into_split();
                (ReadHalf::Tcp(r), WriteHalf::Tcp(w))
            }
            Stream::Utp(u) => {
                let (r, w) = u.split();
                (ReadHalf::Utp(r), WriteHalf::Utp(w))
            }
        }
    }

    /// Put two halves of one stream back together.
    pub fn reunite(r: ReadHalf, w: WriteHalf) -> io::Result<Stream> {
        let mismatch = || io::Error::other("stream halves do not match");
        match (r, w) {
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w)) => {
                r.reunite(w).map(Stream::Tcp).map_err(|_| mismatch())
            }
            (ReadHalf::Utp(r), WriteHalf::Utp(w)) if r.same(&w) => {
                drop(w);
                Ok(Stream::Utp(r))
            }
            _ => Err(mismatch()),
        }
    }
}

macro_rules! delegate_read {
    ($t:ty) => {
        impl AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
                    Self::Utp(s) => Pin::new(s).poll_read(cx, buf),
                }
            }
        }
    };
}

macro_rules! delegate_write {
    ($t:ty) => {
        impl AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                data: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_write(cx, data),
                    Self::Utp(s) => Pin::new(s).poll_write(cx, data),
                }
            }
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_flush(cx),
                    Self::Utp(s) => Pin::new(s).poll_flush(cx),
                }
            }
            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
                    Self::Utp(s) => Pin::new(s).poll_shutdown(cx),
                }
            }
        }
    };
}

delegate_read!(Stream);
delegate_read!(ReadHalf);
delegate_write!(Stream);
delegate_write!(WriteHalf);
