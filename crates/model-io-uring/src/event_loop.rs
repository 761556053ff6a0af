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
use model::config::deadline;
use model::listener::Backoff;
use model::{Config, Counters, Ending, Shutdown};
use protocol::{Handshake, Progress, REPLY, Reject};
use slab::Slab;

use crate::buffers::{Buffers, GROUP};
use crate::connection::{Conn, Phase, Waiting};
use crate::ring::{Completion, Op, Ring};

/// Submission queue entries; the completion queue is twice as large.
pub(crate) const RING_ENTRIES: u32 = 4096;
/// How soon buffers the kernel could not take back (`ENOMEM`) are offered again.
const PROVIDE_RETRY: Duration = Duration::from_millis(10);
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
    /// Receive buffers per ring. They are lent only for the moment between
    /// a receive completing and its bytes being copied out, so a few hundred
    /// serve thousands of connections.
    buffers: Buffers,
    /// Buffer ranges the kernel refused to take back; offered again soon.
    unprovided: Vec<(u16, u16)>,
    /// Connections whose receive found no free buffer: armed again once
    /// buffers are back, not at once (which would spin).
    starved: Vec<usize>,
    conns: Slab<Box<Conn>>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    grace_ends: Option<Instant>,
}

impl EventLoop {
    /// A loop on `listener` with a ring of `ring_entries` submissions
    /// ([`RING_ENTRIES`] in the server; tests pass a few, to fill it).
    pub(crate) fn new(
        listener: std::net::TcpListener,
        config: Arc<Config>,
        counters: Arc<Counters>,
        shutdown: Shutdown,
        ring_entries: u32,
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
            ring: Ring::new(ring_entries)?,
            listener,
            accepting: true,
            accept_in_flight: false,
            retry_after: Box::new(types::Timespec::new()),
            backoff: Backoff::new(),
            wake,
            wake_buffer: Box::new([0; 8]),
            wake_in_flight: false,
            buffers: Buffers::for_bound(config.buffer),
            unprovided: Vec::new(),
            starved: Vec::new(),
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
            let grace_left = self
                .grace_ends
                .map(|end| end.saturating_duration_since(Instant::now()));
            let retry = (!self.unprovided.is_empty()).then_some(PROVIDE_RETRY);
            let timeout = grace_left.into_iter().chain(retry).min();
            self.ring.submit_and_wait(timeout)?;
            self.ring.completions(&mut completions);
            for completion in completions.drain(..) {
                self.complete(completion)?;
            }
            self.provide_again()?;
            if self.shutdown.is_triggered() && self.grace_ends.is_none() {
                self.stop_accepting()?;
                self.grace_ends = Some(deadline(Instant::now(), self.config.grace));
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
            Op::Provide { first, count } if done.result < 0 => {
                // Out of kernel memory for the moment: keep serving, and
                // offer the buffers again shortly.
                self.unprovided.push((first, count));
                Ok(())
            }
            Op::Provide { .. } | Op::CancelLoop => Ok(()),
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
                // No buffer was free this instant: ask again once some are back.
                r if r == -libc::ENOBUFS => {
                    self.starved.push(key);
                    Ok(None)
                }
                // Cancelled while not closing: the linked timeout fired.
                r if r == -libc::ECANCELED => Err(expired(&conn.phase)),
                r if r < 0 => Err(match conn.phase {
                    Phase::Handshaking(_) => Ending::rejected(Reject::Broken),
                    Phase::Echoing => Ending::Failed(io::Error::from_raw_os_error(-r)),
                }),
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
            let result = match result {
                // The idle timeout cancelled the send. It is idle only if the
                // socket takes none of the rest now: a slow reader frees room
                // without the send being woken (see `model::idle`).
                r if r == -libc::ECANCELED && conn.closing.is_none() => {
                    match model::idle::send_now(&conn.fd, &conn.pending[conn.sent..]) {
                        0 => r,
                        taken => i32::try_from(taken).unwrap_or(i32::MAX),
                    }
                }
                r => r,
            };
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
        // A send may be partial anyway; one longer than u32 sends in parts.
        let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
        let send = opcode::Send::new(types::Fd(conn.fd.as_raw_fd()), rest.as_ptr(), len)
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
        match timeout {
            // One push for both, so they go to the kernel in one submission.
            Some(timeout) => self.submit_all(&[
                op.flags(squeue::Flags::IO_LINK),
                timeout.user_data(Op::Timeout(key).encode()),
            ])?,
            None => self.submit(op)?,
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
            // Its place is free before the client can see the close (see
            // ARCHITECTURE.md): another ring may accept its next connection.
            admitted.finish(&closing.unwrap_or(Ending::ShutDown));
            drop(fd);
        }
    }

    /// Offers refused buffers again, and re-arms the receives that waited
    /// for a buffer: after the buffers in the queue, so they find one.
    fn provide_again(&mut self) -> io::Result<()> {
        for (first, count) in std::mem::take(&mut self.unprovided) {
            let entry = self.buffers.provide(first, count);
            self.submit(entry)?;
        }
        for key in std::mem::take(&mut self.starved) {
            if self
                .conns
                .get(key)
                .is_some_and(|conn| conn.closing.is_none())
            {
                self.arm_recv(key)?;
            }
        }
        Ok(())
    }

    /// The shutdown began: refuse new connections at once. Cancelling the
    /// accept is not enough, the kernel would keep completing handshakes
    /// into the backlog; shutting the listening socket down closes it to
    /// new connections even while the cancelled accept still holds it.
    fn stop_accepting(&mut self) -> io::Result<()> {
        self.accepting = false;
        model::listener::stop_listening(&self.listener);
        if self.accept_in_flight {
            self.cancel_loop_op(Op::Accept)?;
        }
        Ok(())
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
        self.submit_all(std::slice::from_ref(&entry))
    }

    /// Queues `entries` in one batch; see [`Ring::push`].
    fn submit_all(&mut self, entries: &[squeue::Entry]) -> io::Result<()> {
        // SAFETY: every pointer an entry of this loop carries points into
        // memory the loop owns and does not move or free before the entry
        // completes: the buffer pool and the wake-up buffer and back-off
        // timespec are boxed fields of the loop; a connection's pending
        // bytes and timespecs live in its `Box<Conn>`, which is removed only
        // once it has no operation in flight (`Conn::finished`), and whose
        // pending bytes are not touched while a send is in flight. The loop
        // itself is leaked rather than dropped if operations remain.
        unsafe { self.ring.push(entries) }
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

/// CLOCK_MONOTONIC now plus `after`, for an absolute timeout. Like
/// [`deadline`], it cuts `after` to [`model::config::MAX_WAIT`] and cannot
/// overflow: the kernel refuses a timespec past `i64` seconds.
fn monotonic_after(after: Duration) -> types::Timespec {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let now = Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    );
    let total = now.saturating_add(after.min(model::config::MAX_WAIT));
    types::Timespec::new()
        .sec(total.as_secs())
        .nsec(total.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    /// The kernel short of memory when buffers are given back (`ENOMEM` on
    /// a provide) is a moment to wait out, not a reason to stop serving.
    #[test]
    fn buffers_the_kernel_refused_are_offered_again() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let listener = model::listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = Arc::new(Config::default());
        let shutdown = Shutdown::new();
        let mut event_loop =
            EventLoop::new(listener, config, Arc::default(), shutdown.clone(), 8).unwrap();
        let refused = Completion {
            op: Op::Provide { first: 3, count: 2 },
            result: -libc::ENOMEM,
            flags: 0,
        };
        event_loop.complete(refused).unwrap();
        assert_eq!(event_loop.unprovided, [(3, 2)]);
        let in_flight = event_loop.ring.in_flight;
        event_loop.provide_again().unwrap();
        assert!(event_loop.unprovided.is_empty());
        assert_eq!(event_loop.ring.in_flight, in_flight + 1);
        // The loop still runs, and stops, with the buffers given back.
        shutdown.trigger();
        event_loop.run().unwrap();
    }

    /// A 4-entry ring is full on every burst of accepts, and its 8-entry
    /// completion queue overflows: every client must still get its linked
    /// idle timeout, and no full queue may stop the server.
    #[test]
    fn a_ring_small_enough_to_fill_still_cuts_every_idle_client() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        const CLIENTS: usize = 40;
        let idle = Duration::from_millis(300);
        let listener = model::listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Arc::new(Config {
            idle_timeout: Some(idle),
            grace: Duration::from_millis(200),
            ..Config::default()
        });
        let counters = Arc::new(Counters::default());
        let shutdown = Shutdown::new();
        let serving = {
            let (counters, shutdown) = (counters.clone(), shutdown.clone());
            std::thread::spawn(move || {
                EventLoop::new(listener, config, counters, shutdown, 4)?.run()
            })
        };
        let mut clients: Vec<TcpStream> = (0..CLIENTS)
            .map(|_| TcpStream::connect(addr).unwrap())
            .collect();
        for client in &mut clients {
            client
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            client.write_all(b"hello\nping").unwrap();
        }
        for client in &mut clients {
            let mut echo = [0u8; 10];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"hello\nping");
        }
        let started = Instant::now();
        for (i, client) in clients.iter_mut().enumerate() {
            // In-process, the ring's task work can interrupt a blocked read.
            let cut = loop {
                match client.read(&mut [0u8; 8]) {
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(0) => break true,
                    Err(err) => break err.kind() == io::ErrorKind::ConnectionReset,
                    Ok(_) => break false,
                }
            };
            assert!(cut, "idle client {i} was not closed");
        }
        assert!(
            started.elapsed() < idle + Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let mut fresh = TcpStream::connect(addr).unwrap();
        fresh
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        fresh.write_all(b"hello\n").unwrap();
        let mut reply = [0u8; 6];
        fresh.read_exact(&mut reply).unwrap();
        drop(fresh);
        shutdown.trigger();
        serving.join().unwrap().unwrap();
        let stats = counters.snapshot();
        assert_eq!(
            (stats.accepted, stats.errors, stats.open),
            (CLIENTS as u64 + 1, 0, 0)
        );
    }
}
