//! The byte stream under a connection: TCP or a Unix domain socket, or TLS (rustls) on top of
//! either. Protocol code only sees `Read`/`Write`; registration with mio goes through here.

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};

pub enum Transport {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// SSLApp connections: plaintext in and out, ciphertext on the inner (Tcp or Unix) socket.
    Tls(Box<crate::tls::TlsStream>),
}

/// Who is on the other end: an IP address, or nothing to report (Unix sockets).
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    Ip(SocketAddr),
    Local,
}

impl Transport {
    /// `Shutdown::Write` on TLS sends close_notify first (the FIN follows once it is written).
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.shutdown(how),
            Transport::Unix(s) => s.shutdown(how),
            Transport::Tls(s) => s.shutdown(how),
        }
    }

    pub fn set_nodelay(&self) {
        match self {
            Transport::Tcp(s) => {
                let _ = s.set_nodelay(true);
            }
            Transport::Tls(s) => s.socket().set_nodelay(),
            Transport::Unix(_) => {}
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// TLS holds ciphertext the socket has not taken yet: wait for writable.
    pub fn tls_wants_write(&self) -> bool {
        match self {
            Transport::Tls(s) => s.wants_write(),
            _ => false,
        }
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Transport::Tcp(s) => s.as_raw_fd(),
            Transport::Unix(s) => s.as_raw_fd(),
            Transport::Tls(s) => s.socket().raw_fd(),
        }
    }

    /// Writes the ciphertext TLS holds (written plaintext, handshake, alerts) to the socket.
    /// Call on every writable event, whether or not the send queue is empty. No-op for plain.
    pub fn flush_tls(&mut self) -> io::Result<()> {
        match self {
            Transport::Tls(s) => s.flush_pending(),
            _ => Ok(()),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.read(buf),
            Transport::Unix(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write(buf),
            Transport::Unix(s) => s.write(buf),
            Transport::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Transport::Tcp(s) => s.write_vectored(bufs),
            Transport::Unix(s) => s.write_vectored(bufs),
            Transport::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Transport {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.register(r, t, i),
            Transport::Unix(s) => s.register(r, t, i),
            Transport::Tls(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.reregister(r, t, i),
            Transport::Unix(s) => s.reregister(r, t, i),
            Transport::Tls(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Transport::Tcp(s) => s.deregister(r),
            Transport::Unix(s) => s.deregister(r),
            Transport::Tls(s) => s.deregister(r),
        }
    }
}
