//! A socket as a green thread sees it: the session's blocking `read` and
//! `write`, which park the coroutine instead of the thread.
//!
//! may's own `may::net::TcpStream` owns its descriptor, and its reads need
//! `&mut`, so it cannot share the socket with the registry that shuts every
//! straggler down when the grace period ends. [`may::io::CoIo`], may's
//! coroutine-aware wrapper for any descriptor, can wrap a borrowed
//! `&TcpStream` ([`Borrowed`]) instead: one descriptor per connection, the registry keeps
//! its handle, and the calls are the same ones `may::net::TcpStream` makes
//! (try the socket at once; on `EAGAIN`, register with may's epoll and
//! yield until it is ready or the timeout ends).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use may::io::CoIo;
use model::budget::Budget;
use model::session::BlockingSocket;

/// One connection's socket, registered with may's event loop while it lives.
#[derive(Debug)]
pub(crate) struct GreenSocket<'a> {
    io: CoIo<Borrowed<'a>>,
    budget: Budget,
}

impl<'a> GreenSocket<'a> {
    /// Registers `socket` with may's event loop (and makes it non-blocking).
    pub(crate) fn new(socket: &'a TcpStream) -> io::Result<Self> {
        Ok(GreenSocket {
            io: CoIo::new(Borrowed(socket))?,
            budget: Budget::default(),
        })
    }
}

impl Read for GreenSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }
}

impl Write for GreenSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

impl BlockingSocket for GreenSocket<'_> {
    fn socket(&self) -> &TcpStream {
        self.io.inner().0
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_write_timeout(timeout)
    }

    /// A socket that is always ready never makes `read` or `write` yield,
    /// and nothing preempts a coroutine: without this, one client streaming
    /// at full speed would keep its worker thread from every other
    /// connection on it.
    fn spend(&mut self, operations: u32) {
        if self.budget.turn_over(operations) {
            may::coroutine::yield_now();
        }
    }
}

/// The registry's socket, lent to `CoIo` for the coroutine's lifetime.
#[derive(Debug)]
pub(crate) struct Borrowed<'a>(&'a TcpStream);

impl AsRawFd for Borrowed<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Read for Borrowed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Borrowed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
