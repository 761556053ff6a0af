//! One ring's loop: submit operations, wait for completions, act on each.
//!
//! Readiness loops ask "may I read?" and then read; here the read itself is
//! the request and its completion is the answer. Each connection always has
//! exactly one operation in flight (a receive, or a send of what the last
//! receive brought), usually with a timeout linked to it: the absolute
//! handshake deadline, then the idle timeout.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types};
use model::listener::Backoff;
use model::{Config, Counters, Ending, Shutdown};
use protocol::{Handshake, Progress, REPLY, Reject};
use slab::Slab;

use crate::buffers::{Buffers, GROUP};
use crate::connection::{Conn, Phase, Waiting};
use crate::ring::{Completion, Op, Ring};

/// Submission queue entries; the completion queue is twice as large.
const RING_ENTRIES: u32 = 4096;
/// Receive buffers per ring. They are lent only for the moment between a
/// receive completing and its bytes being copied out, so a few hundred
/// serve thousands of connections.
const BUFFERS: u16 = 512;
/// How long the end of a loop waits for cancelled operations to complete.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

pub(crate) struct EventLoop {
    ring: Ring,
    listener: std::net::TcpListener,
    accepting: bool,
    accept_in_flight: bool,
    /// Relative delay of the accept back-off timer (read by the kernel).
    retry_after: Box<types::Timespec>,
    backoff: Backoff,
    wake: Arc<OwnedFd>,
    /// Where the eventfd read lands (read by the kernel).
    wake_buffer: Box<[u8; 8]>,
    wake_in_flight: bool,
    buffers: Buffers,
    conns: Slab<Box<Conn>>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    grace_ends: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        listener: std::net::TcpListener,
        config: Arc<Config>,
        counters: Arc<Counters>,
        shutdown: Shutdown,
    ) -> io::Result<EventLoop> {
        let wake = Arc::new(rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC,
        )?);
        let notifier = wake.clone();
        shutdown.on_trigger(move || {
            // Failing means the loop is gone already.
            let _ = rustix::io::write(&*notifier, &1u64.to_ne_bytes());
        });
        Ok(EventLoop {
            ring: Ring::new(RING_ENTRIES)?,
            listener,
            accepting: true,
            accept_in_flight: false,
            retry_after: Box::new(types::Timespec::new()),
            backoff: Backoff::new(),
            wake,
            wake_buffer: Box::new([0; 8]),
            wake_in_flight: false,
            buffers: Buffers::new(config.buffer.max(protocol::MAX_LINE), BUFFERS),
            conns: Slab::new(),
            config,
            counters,
            shutdown,
            grace_ends: None,
        })
    }

    /// Runs until the shutdown's grace period is over.
    pub(crate) fn run(mut self) -> io::Result<()> {
        let result = self.serve();
        self.cancel_everything();
        if !self.drain() {
            // The kernel still holds pointers into our memory: leaking it is
            // the only safe choice left. It happens only if cancellation fails.
            std::mem::forget(self);
            return result.and(Err(io::Error::other("io_uring operations did not finish")));
        }
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        let entry = self.buffers.provide(0, self.buffers.count);
        self.submit(entry)?;
        self.arm_accept()?;
        self.arm_wake()?;
        let mut completions = Vec::new();
        loop {
            let timeout = self
                .grace_ends
                .map(|end| end.saturating_duration_since(Instant::now()));
            self.ring.submit_and_wait(timeout)?;
            self.ring.completions(&mut completions);
            for completion in completions.drain(..) {
                self.complete(completion)?;
            }
            if self.shutdown.is_triggered() && self.grace_ends.is_none() {
                self.accepting = false;
                if self.accept_in_flight {
                    self.cancel_loop_op(Op::Accept)?;
                }
                self.grace_ends = Some(Instant::now() + self.config.grace);
            }
            if let Some(grace_ends) = self.grace_ends
                && (self.conns.is_empty() || Instant::now() >= grace_ends)
            {
                return Ok(());
            }
        }
    }

    fn complete(&mut self, done: Completion) -> io::Result<()> {
        match done.op {
            Op::Accept => self.accepted(done.result),
            Op::AcceptRetry => self.arm_accept(),
            Op::Wake => {
                self.wake_in_flight = false;
                if !self.shutdown.is_triggered() {
                    self.arm_wake()?;
                }
                Ok(())
            }
            Op::Provide if done.result < 0 => Err(io::Error::from_raw_os_error(-done.result)),
            Op::Provide | Op::CancelLoop => Ok(()),
            Op::Recv(key) => self.received(key, done),
            Op::Send(key) => self.sent(key, done.result),
            Op::Timeout(key) | Op::Cancel(key) => {
                self.settle(key, |conn| conn.in_flight -= 1);
                Ok(())
            }
        }
    }

    fn accepted(&mut self, result: i32) -> io::Result<()> {
        self.accept_in_flight = false;
        if result < 0 {
            let err = io::Error::from_raw_os_error(-result);
            if result == -libc::ECANCELED || !self.accepting {
                return Ok(());
            }
            if model::listener::is_resource_exhaustion(&err) {
                *self.retry_after = types::Timespec::from(self.backoff.next_delay());
                let timer = opcode::Timeout::new(&*self.retry_after)
                    .build()
                    .user_data(Op::AcceptRetry.encode());
                return self.submit(timer);
            }
            if model::listener::is_per_connection_accept_error(&err) {
                return self.arm_accept();
            }
            return Err(err);
        }
        self.backoff.reset();
        // SAFETY: the kernel just created this descriptor for us, and nothing
        // else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(result) };
        // A refusal is counted before the close, so a client that sees the
        // close sees the count.
        if let Some(admitted) = self.counters.admit(self.config.max_conns) {
            let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
            let conn = Box::new(Conn {
                fd,
                admitted,
                phase: Phase::Handshaking(Handshake::new()),
                pending: Vec::new(),
                sent: 0,
                handshake_deadline: monotonic_after(self.config.handshake_timeout),
                idle: self.config.idle_timeout.map(types::Timespec::from),
                waiting: None,
                in_flight: 0,
                closing: None,
            });
            let key = self.conns.insert(conn);
            self.arm_recv(key)?;
        } else {
            drop(fd);
        }
        self.arm_accept()
    }

    fn received(&mut self, key: usize, done: Completion) -> io::Result<()> {
        let buffer = io_uring::cqueue::buffer_select(done.flags);
        let mut next: Result<Option<Vec<u8>>, Ending> = Ok(None);
        if let Some(conn) = self.conns.get_mut(key) {
            conn.in_flight -= 1;
            conn.waiting = None;
            next = match done.result {
                _ if conn.closing.is_some() => Ok(None),
                // No buffer was free this instant: ask again.
                r if r == -libc::ENOBUFS => Ok(Some(Vec::new())),
                // Cancelled while not closing: the linked timeout fired.
                r if r == -libc::ECANCELED => Err(expired(&conn.phase)),
                r if r < 0 => Err(Ending::Failed(io::Error::from_raw_os_error(-r))),
                0 => Err(match conn.phase {
                    Phase::Handshaking(_) => Ending::rejected(Reject::EndOfStream),
                    Phase::Echoing => Ending::Completed,
                }),
                n => {
                    let bytes = match buffer {
                        Some(id) => self.buffers.filled(id, n as usize),
                        None => &[],
                    };
                    take(conn, bytes).map(Some)
                }
            };
        }
        if let Some(id) = buffer {
            let entry = self.buffers.provide(id, 1);
            self.submit(entry)?;
        }
        match next {
            Ok(None) => {}
            // Nothing to send (a partial handshake, or no buffer): receive again.
            Ok(Some(echo)) if echo.is_empty() => self.arm_recv(key)?,
            Ok(Some(echo)) => {
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.pending = echo;
                    conn.sent = 0;
                }
                self.arm_send(key)?;
            }
            Err(ending) => self.close(key, ending)?,
        }
        self.settle(key, |_| {});
        Ok(())
    }

    fn sent(&mut self, key: usize, result: i32) -> io::Result<()> {
        let mut next = Ok(false);
        if let Some(conn) = self.conns.get_mut(key) {
            conn.in_flight -= 1;
            conn.waiting = None;
            next = match result {
                _ if conn.closing.is_some() => Ok(false),
                r if r == -libc::ECANCELED => Err(Ending::IdleTimeout),
                r if r < 0 => Err(Ending::Failed(io::Error::from_raw_os_error(-r))),
                n => {
                    conn.sent += n as usize;
                    if conn.sent >= conn.pending.len() {
                        conn.pending = Vec::new();
                        conn.sent = 0;
                        Ok(false)
                    } else {
                        Ok(true)
                    }
                }
            };
        }
        match next {
            Ok(true) => self.arm_send(key)?,
            Ok(false) => {
                if self.conns.get(key).is_some_and(|c| c.closing.is_none()) {
                    self.arm_recv(key)?;
                }
            }
            Err(ending) => self.close(key, ending)?,
        }
        self.settle(key, |_| {});
        Ok(())
    }

    /// Receives into the pool, with the connection's deadline linked.
    fn arm_recv(&mut self, key: usize) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        let fd = types::Fd(conn.fd.as_raw_fd());
        let receive = opcode::Recv::new(fd, std::ptr::null_mut(), self.buffers.size as u32)
            .buf_group(GROUP)
            .build()
            .flags(squeue::Flags::BUFFER_SELECT)
            .user_data(Op::Recv(key).encode());
        let timeout = match conn.phase {
            Phase::Handshaking(_) => Some(
                opcode::LinkTimeout::new(&conn.handshake_deadline)
                    .flags(types::TimeoutFlags::ABS)
                    .build(),
            ),
            Phase::Echoing => conn
                .idle
                .as_ref()
                .map(|idle| opcode::LinkTimeout::new(idle).build()),
        };
        conn.waiting = Some(Waiting::Recv);
        self.submit_linked(key, receive, timeout)
    }

    /// Sends what is left of the pending echo, with the idle timeout linked.
    fn arm_send(&mut self, key: usize) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        let rest = &conn.pending[conn.sent..];
        let send = opcode::Send::new(
            types::Fd(conn.fd.as_raw_fd()),
            rest.as_ptr(),
            rest.len() as u32,
        )
        .build()
        .user_data(Op::Send(key).encode());
        let timeout = conn
            .idle
            .as_ref()
            .map(|idle| opcode::LinkTimeout::new(idle).build());
        conn.waiting = Some(Waiting::Send);
        self.submit_linked(key, send, timeout)
    }

    fn submit_linked(
        &mut self,
        key: usize,
        op: squeue::Entry,
        timeout: Option<squeue::Entry>,
    ) -> io::Result<()> {
        let linked = timeout.is_some();
        let op = if linked {
            op.flags(squeue::Flags::IO_LINK)
        } else {
            op
        };
        self.submit(op)?;
        if let Some(timeout) = timeout {
            self.submit(timeout.user_data(Op::Timeout(key).encode()))?;
        }
        if let Some(conn) = self.conns.get_mut(key) {
            conn.in_flight += 1 + u32::from(linked);
        }
        Ok(())
    }

    /// Starts closing a connection: cancels its operation, if one is in flight.
    fn close(&mut self, key: usize, ending: Ending) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if conn.closing.is_some() {
            return Ok(());
        }
        conn.closing = Some(ending);
        let target = match conn.waiting {
            Some(Waiting::Recv) => Op::Recv(key),
            Some(Waiting::Send) => Op::Send(key),
            None => return Ok(()),
        };
        conn.in_flight += 1;
        let cancel = opcode::AsyncCancel::new(target.encode())
            .build()
            .user_data(Op::Cancel(key).encode());
        self.submit(cancel)
    }

    /// Accounts for one finished operation of `key` (via `update`), and
    /// removes the connection once it is closing and nothing of it is left.
    fn settle(&mut self, key: usize, update: impl FnOnce(&mut Conn)) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        update(conn);
        if conn.finished() {
            let conn = self.conns.remove(key);
            let Conn {
                fd,
                admitted,
                closing,
                ..
            } = *conn;
            drop(fd);
            admitted.finish(&closing.unwrap_or(Ending::ShutDown));
        }
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        if !self.accepting || self.accept_in_flight {
            return Ok(());
        }
        let accept = opcode::Accept::new(
            types::Fd(self.listener.as_raw_fd()),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
        .flags(libc::SOCK_CLOEXEC)
        .build()
        .user_data(Op::Accept.encode());
        self.accept_in_flight = true;
        self.submit(accept)
    }

    fn arm_wake(&mut self) -> io::Result<()> {
        let read = opcode::Read::new(
            types::Fd(self.wake.as_raw_fd()),
            self.wake_buffer.as_mut_ptr(),
            self.wake_buffer.len() as u32,
        )
        .build()
        .user_data(Op::Wake.encode());
        self.wake_in_flight = true;
        self.submit(read)
    }

    fn cancel_loop_op(&mut self, op: Op) -> io::Result<()> {
        let cancel = opcode::AsyncCancel::new(op.encode())
            .build()
            .user_data(Op::CancelLoop.encode());
        self.submit(cancel)
    }

    /// The end: stop accepting and close every connection.
    fn cancel_everything(&mut self) {
        self.accepting = false;
        if self.accept_in_flight {
            let _ = self.cancel_loop_op(Op::Accept);
        }
        if self.wake_in_flight {
            let _ = self.cancel_loop_op(Op::Wake);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let _ = self.close(key, Ending::ShutDown);
            self.settle(key, |_| {});
        }
    }

    /// Reaps completions until nothing is in flight; false if that takes too long.
    fn drain(&mut self) -> bool {
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut completions = Vec::new();
        while self.ring.in_flight > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.ring.submit_and_wait(Some(left)).is_err() {
                return false;
            }
            self.ring.completions(&mut completions);
            for done in completions.drain(..) {
                match done.op {
                    Op::Accept => self.accept_in_flight = false,
                    Op::Wake => self.wake_in_flight = false,
                    Op::Recv(key) | Op::Send(key) | Op::Timeout(key) | Op::Cancel(key) => {
                        self.settle(key, |conn| conn.in_flight -= 1);
                    }
                    _ => {}
                }
            }
        }
        true
    }

    /// Queues `entry`; see [`Ring::push`].
    fn submit(&mut self, entry: squeue::Entry) -> io::Result<()> {
        // SAFETY: every pointer an entry of this loop carries points into
        // memory the loop owns and does not move or free before the entry
        // completes: the buffer pool and the wake-up buffer and back-off
        // timespec are boxed fields of the loop; a connection's pending
        // bytes and timespecs live in its `Box<Conn>`, which is removed only
        // once it has no operation in flight (`Conn::finished`), and whose
        // pending bytes are not touched while a send is in flight. The loop
        // itself is leaked rather than dropped if operations remain.
        unsafe { self.ring.push(entry) }
    }
}

/// Copies what a receive brought out of the pool buffer, and decides what to
/// send: the handshake reply with any pipelined bytes, or the echo.
fn take(conn: &mut Conn, bytes: &[u8]) -> Result<Vec<u8>, Ending> {
    match &mut conn.phase {
        Phase::Echoing => Ok(bytes.to_vec()),
        Phase::Handshaking(parser) => match parser.feed(bytes) {
            Progress::NeedMore => Ok(Vec::new()),
            Progress::Rejected(why) => Err(Ending::rejected(why)),
            Progress::Accepted { leftover } => {
                let echo = [REPLY, leftover].concat();
                conn.phase = Phase::Echoing;
                Ok(echo)
            }
        },
    }
}

fn expired(phase: &Phase) -> Ending {
    match phase {
        Phase::Handshaking(_) => Ending::rejected(Reject::Timeout),
        Phase::Echoing => Ending::IdleTimeout,
    }
}

/// CLOCK_MONOTONIC now plus `after`, for an absolute timeout.
fn monotonic_after(after: Duration) -> types::Timespec {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let total = Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + after;
    types::Timespec::new()
        .sec(total.as_secs())
        .nsec(total.subsec_nanos())
}
