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
//!
//! A coroutine whose socket never blocks must give its worker back now and
//! then, and may's `yield_now` does not do it: it puts the coroutine back
//! on the worker's run queue, and a worker polls epoll only when that queue
//! is empty. Two clients streaming at full speed would keep every other
//! connection on the worker waiting, for as long as one of their sessions
//! is runnable. So a turn ends by waiting for an event only epoll delivers
//! ([`wait_for_the_event_loop`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::Duration;

use may::io::{CoIo, WaitIo};
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
            io: CoIo::new(Borrowed {
                socket,
                blocked: false,
            })?,
            budget: Budget::default(),
        })
    }
}

impl GreenSocket<'_> {
    /// A call that found the socket not ready parked the coroutine, which
    /// gave the worker back: the turn starts afresh, as tokio's budget does
    /// each time a task is polled anew.
    fn new_turn_if_parked(&mut self) {
        if std::mem::take(&mut self.io.inner_mut().blocked) {
            self.budget = Budget::default();
        }
    }
}

impl Read for GreenSocket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.io.read(buf);
        self.new_turn_if_parked();
        read
    }
}

impl Write for GreenSocket<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.io.write(buf);
        self.new_turn_if_parked();
        written
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

impl BlockingSocket for GreenSocket<'_> {
    fn socket(&self) -> &TcpStream {
        self.io.inner().socket
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.io.set_write_timeout(timeout)
    }

    /// A socket that is always ready never makes `read` or `write` park,
    /// and nothing preempts a coroutine: without this, one client streaming
    /// at full speed would keep its worker thread from every other
    /// connection on it.
    fn spend(&mut self, operations: u32) {
        if self.budget.turn_over(operations) {
            wait_for_the_event_loop();
        }
    }
}

/// Parks the coroutine until its worker's event loop has polled epoll once
/// more, so that every connection whose socket became ready meanwhile runs
/// first: the wake-up is a pipe made readable before it is registered,
/// which only epoll reports. Costs a pipe and its registration per turn
/// that ran out, which only a socket that stays ready for
/// [`OPERATIONS`](model::budget::OPERATIONS) operations in a row reaches.
/// Without a descriptor to spare (`EMFILE`), it yields as may does.
fn wait_for_the_event_loop() {
    let Ok((reader, mut writer)) = io::pipe() else {
        return may::coroutine::yield_now();
    };
    if writer.write_all(&[1]).is_err() {
        return may::coroutine::yield_now();
    }
    // `CoIo` closes what it owns before it leaves epoll, and another
    // thread may reuse the number in between and lose its registration: it
    // gets the descriptor lent, and `reader` is closed after it is dropped.
    match CoIo::new(reader.as_fd()) {
        Ok(readable) => {
            readable.wait_io();
        }
        Err(_) => may::coroutine::yield_now(),
    }
}

/// The registry's socket, lent to `CoIo` for the coroutine's lifetime, and
/// whether a call on it last found it not ready (and so parked).
#[derive(Debug)]
pub(crate) struct Borrowed<'a> {
    socket: &'a TcpStream,
    blocked: bool,
}

impl Borrowed<'_> {
    fn note_blocking<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if matches!(&result, Err(err) if err.kind() == io::ErrorKind::WouldBlock) {
            self.blocked = true;
        }
        result
    }
}

impl AsRawFd for Borrowed<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl Read for Borrowed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.socket.read(buf);
        self.note_blocking(read)
    }
}

impl Write for Borrowed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.socket.write(buf);
        self.note_blocking(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
