//! One connection's state and its callback: what the article kept in the
//! `is_hello` dictionary and spread over `read` and `write` callbacks lives
//! here in one struct and one function, [`Connection::on_ready`].
//!
//! The connection owns no read buffer. Reads go into the event loop's
//! scratch buffer and are written straight back; only bytes the socket would
//! not take yet are copied into `pending`, which is the connection's only
//! allocation and is freed as soon as it drains. An idle connection is the
//! socket, its place under `--max-conns`, a phase, two deadlines and an
//! empty `pending` (one word): 72 bytes on x86-64, checked by a test.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::Interest;
use mio::net::TcpStream;
use model::config::deadline;
use model::{Admitted, Config, Ending};
use protocol::{Handshake, Progress, REPLY, Reject};

/// How many reads one readiness event may do before the connection yields
/// to the others: with edge-triggered readiness a client that sends without
/// pause would otherwise keep the loop to itself.
const READS_PER_TURN: usize = 16;

/// Where a connection is in the protocol.
#[derive(Debug)]
enum Phase {
    /// Waiting for the `hello` line.
    Handshaking(Handshake),
    /// Echoing until the client's end-of-stream.
    Echoing,
    /// The client half-closed: write what is still owed, then close.
    Draining,
}

/// What the event loop should do with the connection after a callback.
#[derive(Debug)]
pub(crate) enum Next {
    /// Wait for this readiness, then call [`Connection::on_ready`] again.
    Wait(Interest),
    /// Out of reads for this turn; call again after the other ready connections.
    Yield,
    /// Close it; this is how it ended.
    Close(Ending),
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    /// Its place under `--max-conns`; finished when the connection closes.
    pub(crate) admitted: Admitted,
    phase: Phase,
    /// Echo bytes the socket did not take yet; `None` (one word, nothing
    /// allocated) while idle, which is nearly always. The box is the point:
    /// an idle connection pays one word for it instead of a `Vec`'s three.
    #[allow(clippy::box_collection)]
    pending: Option<Box<Vec<u8>>>,
    /// When the connection expires: the absolute handshake deadline, then
    /// the last activity plus the idle timeout.
    pub(crate) deadline: Option<Instant>,
    /// The deadline of this connection's entry in the loop's timers, if any.
    pub(crate) scheduled: Option<Instant>,
    /// The readiness it is registered for.
    pub(crate) interest: Interest,
}

impl Connection {
    /// A connection that was just accepted at `now`.
    pub(crate) fn new(
        stream: TcpStream,
        admitted: Admitted,
        config: &Config,
        now: Instant,
    ) -> Connection {
        Connection {
            stream,
            admitted,
            phase: Phase::Handshaking(Handshake::new()),
            pending: None,
            deadline: Some(deadline(now, config.handshake_timeout)),
            scheduled: None,
            interest: Interest::READABLE,
        }
    }

    /// The callback: the socket may be ready, do all that can be done
    /// without blocking. `scratch` is the loop's shared read buffer, whose
    /// length is the `--buffer` bound.
    pub(crate) fn on_ready(&mut self, scratch: &mut [u8], config: &Config, now: Instant) -> Next {
        for _ in 0..READS_PER_TURN {
            // Backpressure: nothing is read while echo bytes are still owed.
            if self.pending.is_some() {
                match self.flush(config, now) {
                    Ok(true) => {}
                    Ok(false) => return Next::Wait(Interest::WRITABLE),
                    Err(err) => return Next::Close(Ending::Failed(err)),
                }
            }
            if let Phase::Draining = self.phase {
                return Next::Close(Ending::Completed);
            }
            let n = match (&self.stream).read(scratch) {
                Ok(n) => n,
                Err(err) if would_block(&err) => return Next::Wait(Interest::READABLE),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Next::Close(self.failed(err)),
            };
            if n == 0 {
                match self.phase {
                    Phase::Handshaking(_) => {
                        return Next::Close(Ending::rejected(Reject::EndOfStream));
                    }
                    _ => {
                        self.phase = Phase::Draining;
                        continue;
                    }
                }
            }
            self.touch(config, now);
            let received = &scratch[..n];
            let echo = match &mut self.phase {
                Phase::Handshaking(handshake) => match handshake.feed(received) {
                    Progress::NeedMore => continue,
                    Progress::Rejected(why) => return Next::Close(Ending::rejected(why)),
                    Progress::Accepted { leftover } => {
                        self.phase = Phase::Echoing;
                        self.deadline = config.idle_timeout.map(|idle| deadline(now, idle));
                        if let Err(err) = self.send(REPLY, config, now) {
                            return Next::Close(Ending::Failed(err));
                        }
                        leftover
                    }
                },
                _ => received,
            };
            if let Err(err) = self.send(echo, config, now) {
                return Next::Close(Ending::Failed(err));
            }
        }
        Next::Yield
    }

    /// How the connection ends on an I/O error: a failure once it was
    /// served, a rejection while its handshake was still being read.
    fn failed(&self, err: io::Error) -> Ending {
        match self.phase {
            Phase::Handshaking(_) => Ending::rejected(Reject::Broken),
            _ => Ending::Failed(err),
        }
    }

    /// Whether echo bytes are waiting for the socket to take them.
    pub(crate) fn owes_bytes(&self) -> bool {
        self.pending.is_some()
    }

    /// How the connection ends when its deadline passes.
    pub(crate) fn expired(&self) -> Ending {
        match self.phase {
            Phase::Handshaking(_) => Ending::rejected(Reject::Timeout),
            _ => Ending::IdleTimeout,
        }
    }

    /// Writes `bytes` now if nothing is queued before them; queues what the
    /// socket does not take.
    fn send(&mut self, mut bytes: &[u8], config: &Config, now: Instant) -> io::Result<()> {
        while self.pending.is_none() && !bytes.is_empty() {
            match (&self.stream).write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    bytes = &bytes[n..];
                    self.touch(config, now);
                }
                Err(err) if would_block(&err) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        if !bytes.is_empty() {
            self.pending
                .get_or_insert_with(Box::default)
                .extend_from_slice(bytes);
        }
        Ok(())
    }

    /// Writes queued bytes; true once none are left (and the queue's memory is freed).
    fn flush(&mut self, config: &Config, now: Instant) -> io::Result<bool> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(true);
        };
        let mut written = 0;
        let result = loop {
            if written == pending.len() {
                break Ok(true);
            }
            match (&self.stream).write(&pending[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(err) if would_block(&err) => break Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => break Err(err),
            }
        };
        if written == pending.len() {
            self.pending = None;
        } else {
            pending.drain(..written);
        }
        if written > 0 {
            self.touch(config, now);
        }
        result
    }

    /// Bytes moved: push the idle deadline back (the handshake deadline stays absolute).
    fn touch(&mut self, config: &Config, now: Instant) {
        if !matches!(self.phase, Phase::Handshaking(_)) {
            self.deadline = config.idle_timeout.map(|idle| deadline(now, idle));
        }
    }
}

/// True for "not ready yet": wait for the next readiness event.
pub(crate) fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_idle_connection_costs_its_budget() {
        assert!(std::mem::size_of::<super::Connection>() <= 72);
    }
}
