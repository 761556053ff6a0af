//! One connection served start to finish with blocking I/O: the session
//! every thread-based model runs, whatever thread it runs on, and the one
//! `may`'s green threads run, whose blocking calls park a coroutine instead.
//!
//! Timeouts are socket timeouts. The handshake deadline is absolute, so each
//! read waits only for what is left of it; after the handshake both the read
//! and the write timeout are the idle timeout. A write that times out with
//! nothing taken is checked once more with [`idle::send_now`] before the
//! connection counts as idle: a blocked `send` is woken only when much of
//! its buffer is free, and a slow but steady reader frees it a little at a
//! time. Backpressure is free: the thread does not read again until the
//! last chunk is handed to the kernel, so at most one buffer of echo data is
//! ever held.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use protocol::{Handshake, MAX_LINE, Progress, REPLY, Reject};

use crate::{Config, Ending, idle};

/// A connected socket as the session sees it: a `read` and `write` that
/// block their caller, and the timeouts that bound how long.
///
/// A thread's socket is a `&TcpStream`. A green thread's wraps the same
/// socket in its runtime's type, whose calls park the coroutine and give
/// the thread to another.
pub trait BlockingSocket: Read + Write {
    /// The socket underneath, for its options and for a send that does not wait.
    fn socket(&self) -> &TcpStream;
    /// Bounds every following `read`; `None` waits for ever.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Bounds every following `write`; `None` waits for ever.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
    /// Called after every echoed chunk, with the number of I/O operations
    /// it took. A thread of its own needs nothing here (the kernel preempts
    /// it); a coroutine that shares its thread yields now and then (see
    /// [`Budget`](crate::budget::Budget)), since reads and writes that
    /// never block would otherwise never give the thread back.
    fn spend(&mut self, _operations: u32) {}
}

impl BlockingSocket for &TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }
}

/// Serves `stream` under `config`: the handshake, then echo until the client's
/// end-of-stream, the idle timeout or an error.
pub fn serve(mut stream: impl BlockingSocket, config: &Config) -> Ending {
    // Echo is request-sized writes where latency matters; Nagle would hold
    // them back for the peer's delayed ACK.
    let _ = stream.socket().set_nodelay(true);
    let leftover = match handshake(&mut stream, config.handshake_timeout) {
        Ok(leftover) => leftover,
        Err(ending) => return ending,
    };
    if let Err(err) = set_timeouts(&stream, config.idle_timeout) {
        return Ending::Failed(err);
    }
    let mut first = Vec::with_capacity(REPLY.len() + leftover.len());
    first.extend_from_slice(REPLY);
    first.extend_from_slice(&leftover);
    if let Err(ending) = write_all(&mut stream, &first) {
        return ending;
    }
    let mut buffer = vec![0; config.buffer.max(1)];
    loop {
        let n = match stream.read(&mut buffer) {
            Ok(0) => return Ending::Completed,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return io_ending(err),
        };
        if let Err(ending) = write_all(&mut stream, &buffer[..n]) {
            return ending;
        }
        // One read and (at least) one write.
        stream.spend(2);
    }
}

/// Writes all of `bytes`; idle only when the socket took no byte for the
/// idle timeout (see [`idle`]).
fn write_all(stream: &mut impl BlockingSocket, mut bytes: &[u8]) -> Result<(), Ending> {
    while !bytes.is_empty() {
        let written = match stream.write(bytes) {
            Ok(0) => return Err(Ending::Failed(io::ErrorKind::WriteZero.into())),
            Ok(written) => written,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) if is_timeout(&err) => match idle::send_now(stream.socket(), bytes) {
                0 => return Err(Ending::IdleTimeout),
                taken => taken,
            },
            Err(err) => return Err(io_ending(err)),
        };
        bytes = &bytes[written..];
    }
    Ok(())
}

/// Reads until the handshake line is complete; returns the pipelined bytes
/// that followed it, or how the connection ended instead.
fn handshake(stream: &mut impl BlockingSocket, timeout: Duration) -> Result<Vec<u8>, Ending> {
    let deadline = crate::config::deadline(Instant::now(), timeout);
    let mut parser = Handshake::new();
    // The line is at most MAX_LINE bytes, so a read never takes more than
    // MAX_LINE - 1 echo bytes with it.
    let mut chunk = [0u8; MAX_LINE];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Ending::rejected(Reject::Timeout));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|_| Ending::rejected(Reject::Broken))?;
        let n = match stream.read(&mut chunk) {
            Ok(0) => return Err(Ending::rejected(Reject::EndOfStream)),
            Ok(n) => n,
            Err(err) if is_timeout(&err) => return Err(Ending::rejected(Reject::Timeout)),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Ending::rejected(Reject::Broken)),
        };
        match parser.feed(&chunk[..n]) {
            Progress::NeedMore => {}
            Progress::Accepted { leftover } => return Ok(leftover.to_vec()),
            Progress::Rejected(why) => return Err(Ending::rejected(why)),
        }
    }
}

fn set_timeouts(stream: &impl BlockingSocket, idle: Option<Duration>) -> io::Result<()> {
    stream.set_read_timeout(idle)?;
    stream.set_write_timeout(idle)
}

/// A socket timeout surfaces as `WouldBlock` (EAGAIN) on Linux and `TimedOut` elsewhere.
fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn io_ending(err: io::Error) -> Ending {
    if is_timeout(&err) {
        Ending::IdleTimeout
    } else {
        Ending::Failed(err)
    }
}
