//! One ring's loop: submit what is queued and reap what is complete in one
//! `io_uring_enter` per turn, act on each completion, refill the buffer
//! ring, expire deadlines.
//!
//! Readiness loops ask "may I read?" and then read; here the read itself is
//! the request and its completion is the answer. A connection has a
//! multishot receive armed while it may take more bytes, so one submission
//! serves every message it sends; each completion names the buffer the
//! kernel filled, and the echo is sent straight from it. [`EventLoop::drive`]
//! is the one place that decides which operations a connection needs: a
//! send while it owes bytes, a receive while it owes less than `--buffer`
//! (backpressure: the receive is cancelled above that), nothing once it is
//! closing.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use io_uring::cqueue::{buffer_select, more};
use io_uring::{opcode, types};
use model::config::{MAX_WAIT, deadline};
use model::listener::Backoff;
use model::{Config, Counters, Shutdown};
use protocol::{Progress, REPLY, Reject};
use slab::Slab;

use crate::buffers::{Buffers, GROUP, NONE};
use crate::connection::{Close, Conn, Phase};
use crate::ring::{self, Completion, Op, Ring};
use crate::timers::Timers;

/// Submission queue entries; the completion queue is twice as large.
pub(crate) const RING_ENTRIES: u32 = 4096;
/// How long the end of a loop waits for cancelled operations to complete.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

pub(crate) struct EventLoop {
    ring: Ring,
    listener: std::net::TcpListener,
    accepting: bool,
    /// The multishot accept is armed (its last completion had `F_MORE`).
    accept_armed: bool,
    /// The back-off timer after EMFILE is running: accept again when it ends.
    accept_retry: bool,
    /// Relative delay of the accept back-off timer (read by the kernel).
    retry_after: Box<types::Timespec>,
    backoff: Backoff,
    wake: Arc<OwnedFd>,
    /// Where the eventfd read lands (read by the kernel).
    wake_buffer: Box<[u8; 8]>,
    wake_in_flight: bool,
    buffers: Buffers,
    /// The buffer ring is registered with the kernel.
    registered: bool,
    /// Connections whose receive ended for want of a buffer (`ENOBUFS`),
    /// oldest first: armed again as the ring has buffers for them, a few
    /// at a time, not all at once (they would only run it dry again).
    starved: VecDeque<usize>,
    conns: Slab<Conn>,
    timers: Timers,
    /// The loop's clock: milliseconds since here.
    started: Instant,
    /// Bytes a connection may owe before it stops receiving (`--buffer`).
    limit: u32,
    /// Receives are capped at the bytes a connection may still take (the
    /// kernel ends the multishot there); false once a kernel refused that.
    capped: bool,
    config: Arc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    grace_ends: Option<Instant>,
    #[cfg(test)]
    observed: Arc<Observed>,
}

/// What a loop saw, for tests that need to know a path was taken (kept
/// only in test builds: the server's hot path pays nothing for it).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Receives that ended for want of a buffer.
    pub(crate) starvations: AtomicUsize,
    /// The most bytes one connection owed at once.
    pub(crate) peak_owed: AtomicU32,
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
        // Accepted sockets inherit TCP_NODELAY from the listener (Linux
        // copies it when the connection is created), so one call here
        // serves every connection: a test holds the kernel to it.
        rustix::net::sockopt::set_tcp_nodelay(&listener, true)?;
        Ok(EventLoop {
            ring: Ring::new(ring_entries)?,
            listener,
            accepting: true,
            accept_armed: false,
            accept_retry: false,
            retry_after: Box::new(types::Timespec::new()),
            backoff: Backoff::new(),
            wake,
            wake_buffer: Box::new([0; 8]),
            wake_in_flight: false,
            buffers: Buffers::for_bound(config.buffer)?,
            registered: false,
            starved: VecDeque::new(),
            conns: Slab::new(),
            timers: Timers::default(),
            started: Instant::now(),
            limit: u32::try_from(config.buffer).unwrap_or(u32::MAX),
            capped: true,
            config,
            counters,
            shutdown,
            grace_ends: None,
            #[cfg(test)]
            observed: Arc::default(),
        })
    }

    /// The loop with another pool (tests use a tiny one, to run it dry).
    #[cfg(test)]
    pub(crate) fn with_buffers(mut self, buffers: Buffers) -> EventLoop {
        self.buffers = buffers;
        self
    }

    /// What the loop saw, shared.
    #[cfg(test)]
    pub(crate) fn observed(&self) -> Arc<Observed> {
        self.observed.clone()
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
        if self.registered {
            self.ring.unregister_buffers(GROUP)?;
        }
        result
    }

    fn serve(&mut self) -> io::Result<()> {
        self.ring.batch_completions(self.config.batch_wait);
        self.buffers.refill();
        self.ring.register_buffers(&self.buffers, GROUP)?;
        self.registered = true;
        self.arm_accept()?;
        self.arm_wake()?;
        let mut completions = Vec::new();
        loop {
            let now = self.now();
            let grace_left = self
                .grace_ends
                .map(|end| end.saturating_duration_since(Instant::now()));
            let timer = self
                .timers
                .next()
                .map(|at| Duration::from_millis(at.saturating_sub(now)));
            let timeout = grace_left.into_iter().chain(timer).min();
            self.ring.submit_and_wait(timeout)?;
            self.ring.completions(&mut completions);
            for completion in completions.drain(..) {
                self.complete(completion)?;
            }
            self.buffers.refill();
            self.feed_starved()?;
            self.expire_due()?;
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

    /// Milliseconds on the loop's clock.
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn complete(&mut self, done: Completion) -> io::Result<()> {
        match done.op {
            Op::Accept => self.accepted(done),
            Op::AcceptRetry => {
                self.accept_retry = false;
                self.arm_accept()
            }
            Op::Wake => {
                self.wake_in_flight = false;
                if !self.shutdown.is_triggered() {
                    self.arm_wake()?;
                }
                Ok(())
            }
            Op::CancelLoop => Ok(()),
            Op::Poll(key) => self.polled(key, done.result),
            Op::Recv(key) => self.received(key, done),
            Op::Send(key) => self.sent(key, done.result),
            Op::Cancel(key) => {
                if let Some(conn) = self.conns.get_mut(key) {
                    conn.cancels -= 1;
                }
                self.drive(key)
            }
        }
    }

    fn accepted(&mut self, done: Completion) -> io::Result<()> {
        if !more(done.flags) {
            self.accept_armed = false;
        }
        let result = done.result;
        if result < 0 {
            let err = io::Error::from_raw_os_error(-result);
            if result == -libc::ECANCELED || !self.accepting {
                return self.rearm_accept();
            }
            if model::listener::is_resource_exhaustion(&err) {
                // Out of descriptors: stop accepting for a while (a
                // multishot accept would fail again at once), then retry.
                if self.accept_armed {
                    self.cancel_loop_op(Op::Accept)?;
                }
                if !self.accept_retry {
                    self.accept_retry = true;
                    *self.retry_after = types::Timespec::from(self.backoff.next_delay());
                    let timer = opcode::Timeout::new(&*self.retry_after)
                        .build()
                        .user_data(Op::AcceptRetry.encode());
                    self.submit(timer)?;
                }
                return Ok(());
            }
            if model::listener::is_per_connection_accept_error(&err) {
                return self.rearm_accept();
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
            let ends = self.now() + millis(self.config.handshake_timeout);
            let key = self.conns.insert(Conn::new(fd, admitted, ends));
            self.drive(key)?;
        } else {
            drop(fd);
        }
        self.rearm_accept()
    }

    /// Arms the accept again if its multishot ended and nothing stops it.
    fn rearm_accept(&mut self) -> io::Result<()> {
        if self.accept_retry {
            return Ok(());
        }
        self.arm_accept()
    }

    /// Handshake bytes have arrived: they are read here, from the socket,
    /// not through the buffer ring, so that a connection costs no buffer
    /// (and touches no page of the pool) before it echoes.
    fn polled(&mut self, key: usize, result: i32) -> io::Result<()> {
        let now = self.now();
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        conn.receiving = false;
        conn.cancelling_recv = false;
        if conn.closing.is_some() {
            return self.drive(key);
        }
        let close = match result {
            r if r < 0 => Some(Close::Rejected(Reject::Broken)),
            _ => handshake(conn, now),
        };
        if let Some(why) = close {
            self.close(key, why)?;
        }
        self.drive(key)
    }

    fn received(&mut self, key: usize, done: Completion) -> io::Result<()> {
        let bid = buffer_select(done.flags);
        if let Some(bid) = bid {
            self.buffers
                .taken(bid, usize::try_from(done.result).unwrap_or(0));
        }
        let now = self.now();
        let Some(conn) = self.conns.get_mut(key) else {
            if let Some(bid) = bid {
                self.buffers.give_back(bid);
            }
            return Ok(());
        };
        if !more(done.flags) {
            conn.receiving = false;
            conn.cancelling_recv = false;
        }
        if conn.closing.is_some() {
            if let Some(bid) = bid {
                self.buffers.give_back(bid);
            }
            return self.drive(key);
        }
        let close = match (done.result, bid) {
            (n, Some(bid)) if n > 0 => {
                conn.since = now;
                let close = take(conn, &mut self.buffers, bid);
                #[cfg(test)]
                self.observed
                    .peak_owed
                    .fetch_max(conn.owed, Ordering::Relaxed);
                close
            }
            // Bytes without a buffer: the kernel broke the contract.
            (n, None) if n > 0 => Some(Close::Failed(libc::EIO)),
            (0, _) => match conn.phase {
                Phase::Handshaking(_) => Some(Close::Rejected(Reject::EndOfStream)),
                Phase::Echoing => {
                    conn.end_of_stream = true;
                    None
                }
            },
            (r, _) if r == -libc::ENOBUFS => {
                #[cfg(test)]
                self.observed.starvations.fetch_add(1, Ordering::Relaxed);
                if !conn.starved {
                    conn.starved = true;
                    self.starved.push_back(key);
                }
                None
            }
            // Our own cancellation (backpressure): `drive` arms it again.
            (r, _) if r == -libc::ECANCELED => None,
            // This kernel cannot cap a multishot receive's total (Linux
            // 6.16 can): fall back to cancelling it at the bound.
            (r, _) if r == -libc::EINVAL && self.capped => {
                self.capped = false;
                eprintln!(
                    "io-uring: this kernel cannot cap a multishot receive; holding --buffer by cancelling it instead"
                );
                None
            }
            (r, _) => Some(match conn.phase {
                Phase::Handshaking(_) => Close::Rejected(Reject::Broken),
                Phase::Echoing => Close::Failed(-r),
            }),
        };
        if let Some(why) = close {
            self.close(key, why)?;
        }
        self.drive(key)
    }

    fn sent(&mut self, key: usize, result: i32) -> io::Result<()> {
        let now = self.now();
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        conn.sending = false;
        let expiring = std::mem::take(&mut conn.expiring);
        if conn.closing.is_some() {
            return self.drive(key);
        }
        let moved = match result {
            n if n > 0 => n as usize,
            // The idle timer ended and cancelled the send. It is idle only
            // if the socket takes none of the rest now: a slow reader frees
            // room without the send being woken (see `model::idle`).
            r if r == -libc::ECANCELED && expiring => {
                match model::idle::send_now(&conn.fd, owed_now(conn, &self.buffers)) {
                    0 => return self.close(key, Close::IdleTimeout),
                    taken => taken,
                }
            }
            0 => return self.close(key, Close::Failed(libc::EPIPE)),
            r => return self.close(key, Close::Failed(-r)),
        };
        conn.since = now;
        advance(conn, &mut self.buffers, moved);
        self.drive(key)
    }

    /// Gives connection `key` the operations its state needs, or removes it
    /// once it is closing and nothing of it is left in the kernel.
    fn drive(&mut self, key: usize) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if conn.closing.is_some() {
            if conn.finished() {
                self.remove(key);
            }
            return Ok(());
        }
        if matches!(conn.phase, Phase::Handshaking(_)) {
            if !conn.receiving {
                let poll =
                    opcode::PollAdd::new(types::Fd(conn.fd.as_raw_fd()), libc::POLLIN as u32)
                        .build()
                        .user_data(Op::Poll(key).encode());
                conn.receiving = true;
                self.submit(poll)?;
            }
            self.schedule(key);
            return Ok(());
        }
        if !conn.sending {
            let rest = owed_now(conn, &self.buffers);
            let (pointer, len) = (rest.as_ptr(), rest.len());
            if len == 0 && conn.end_of_stream {
                return self.close(key, Close::Completed);
            }
            if len > 0 {
                let send = opcode::Send::new(types::Fd(conn.fd.as_raw_fd()), pointer, len as u32)
                    .build()
                    .user_data(Op::Send(key).encode());
                conn.sending = true;
                self.submit(send)?;
            }
        }
        let conn = &mut self.conns[key];
        // Receive again only once a whole buffer fits what it may still owe.
        let size = self.buffers.size as u32;
        let room = self.limit.saturating_sub(conn.owed);
        let wanted = !conn.end_of_stream && room >= size.min(self.limit);
        if wanted && !conn.receiving && !conn.starved {
            // Backpressure: the receive ends by itself once it has brought
            // what the connection may still owe, and is armed again as the
            // echo drains. The kernel checks the total between receives and
            // lets the last one take a whole `each`, so the total it is
            // given leaves room for that.
            let each = if room >= 2 * size {
                size
            } else {
                (room / 2).max(1)
            };
            let total = room - each + 1;
            let receive = opcode::RecvMulti::new(types::Fd(conn.fd.as_raw_fd()), GROUP);
            let receive = match self.capped {
                true => ring::cap_total(receive.len(each).build(), total),
                false => receive.build(),
            };
            conn.receiving = true;
            self.submit(receive.user_data(Op::Recv(key).encode()))?;
        } else if !wanted && conn.receiving && !conn.cancelling_recv && !self.capped {
            // Without a cap, backpressure cancels the receive instead.
            conn.cancelling_recv = true;
            self.cancel(key, Op::Recv(key))?;
        }
        self.schedule(key);
        Ok(())
    }

    /// Gives connection `key` a timer entry for its deadline, if it has a
    /// deadline and no entry (and no expiry is being decided).
    fn schedule(&mut self, key: usize) {
        let idle = self.config.idle_timeout.map(millis);
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        if conn.scheduled.is_some() || conn.expiring || conn.closing.is_some() {
            return;
        }
        if let Some(at) = deadline_of(conn, idle) {
            conn.scheduled = Some(at);
            self.timers.schedule(at, key);
        }
    }

    /// Expires the connections whose deadline has passed; pushes the later
    /// deadline of those that moved since their entry was made.
    fn expire_due(&mut self) -> io::Result<()> {
        let now = self.now();
        let idle = self.config.idle_timeout.map(millis);
        while let Some((at, key)) = self.timers.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            // An entry made for another deadline, or for an earlier
            // connection on the same key, is stale.
            if conn.scheduled != Some(at) {
                continue;
            }
            conn.scheduled = None;
            match deadline_of(conn, idle) {
                Some(due) if due <= now => self.expire(key)?,
                _ => self.schedule(key),
            }
        }
        Ok(())
    }

    /// A connection's deadline passed: a late handshake is rejected; an
    /// idle connection is closed, unless a send is in flight, which is
    /// cancelled so that its completion can tell whether the peer reads.
    fn expire(&mut self, key: usize) -> io::Result<()> {
        let conn = &mut self.conns[key];
        match conn.phase {
            Phase::Handshaking(_) => self.close(key, Close::Rejected(Reject::Timeout)),
            Phase::Echoing if conn.sending => {
                conn.expiring = true;
                self.cancel(key, Op::Send(key))
            }
            Phase::Echoing => self.close(key, Close::IdleTimeout),
        }
    }

    /// Starts closing a connection: cancels what it has in flight.
    fn close(&mut self, key: usize, why: Close) -> io::Result<()> {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if conn.closing.is_some() {
            return Ok(());
        }
        conn.closing = Some(why);
        let (receiving, sending) = (conn.receiving && !conn.cancelling_recv, conn.sending);
        let waiting = match conn.phase {
            Phase::Handshaking(_) => Op::Poll(key),
            Phase::Echoing => Op::Recv(key),
        };
        if receiving {
            conn.cancelling_recv = true;
            self.cancel(key, waiting)?;
        }
        if sending {
            self.cancel(key, Op::Send(key))?;
        }
        self.drive(key)
    }

    fn cancel(&mut self, key: usize, target: Op) -> io::Result<()> {
        let cancel = opcode::AsyncCancel::new(target.encode())
            .build()
            .user_data(Op::Cancel(key).encode());
        if let Some(conn) = self.conns.get_mut(key) {
            conn.cancels += 1;
        }
        self.submit(cancel)
    }

    /// Removes a finished connection: its buffers go back, its place under
    /// `--max-conns` is freed, then its socket is closed.
    fn remove(&mut self, key: usize) {
        let conn = self.conns.remove(key);
        let mut bid = conn.head;
        while bid != NONE {
            let next = self.buffers.next(bid);
            self.buffers.give_back(bid);
            bid = next;
        }
        let Conn {
            fd,
            admitted,
            closing,
            ..
        } = conn;
        // Its place is free before the client can see the close (see
        // ARCHITECTURE.md): another ring may accept its next connection.
        admitted.finish(&closing.unwrap_or(Close::ShutDown).ending());
        drop(fd);
    }

    /// Arms the receives that ended for want of a buffer, oldest first, as
    /// many as the ring has buffers for.
    fn feed_starved(&mut self) -> io::Result<()> {
        let mut fed = 0;
        while fed < self.buffers.in_ring() {
            let Some(key) = self.starved.pop_front() else {
                break;
            };
            if let Some(conn) = self.conns.get_mut(key) {
                conn.starved = false;
                self.drive(key)?;
                fed += 1;
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
        if self.accept_armed {
            self.cancel_loop_op(Op::Accept)?;
        }
        Ok(())
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        if !self.accepting || self.accept_armed {
            return Ok(());
        }
        let accept = opcode::AcceptMulti::new(types::Fd(self.listener.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(Op::Accept.encode());
        self.accept_armed = true;
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
        if self.accept_armed {
            let _ = self.cancel_loop_op(Op::Accept);
        }
        if self.wake_in_flight {
            let _ = self.cancel_loop_op(Op::Wake);
        }
        let keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in keys {
            let _ = self.close(key, Close::ShutDown);
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
                    Op::Accept if !more(done.flags) => self.accept_armed = false,
                    Op::Wake => self.wake_in_flight = false,
                    // Every connection is closing: its completions only
                    // give buffers back and remove it once nothing is left.
                    Op::Poll(_) | Op::Recv(_) | Op::Send(_) | Op::Cancel(_) => {
                        let _ = self.complete(done);
                    }
                    _ => {}
                }
            }
        }
        true
    }

    /// Queues `entry`; see [`Ring::push`].
    fn submit(&mut self, entry: io_uring::squeue::Entry) -> io::Result<()> {
        // SAFETY: every pointer an entry of this loop carries points into
        // memory the loop owns and does not move or free before the entry
        // completes: the buffer pool and ring (freed only after `drain`),
        // the wake-up buffer and back-off timespec (boxed fields of the
        // loop), and the protocol's constant reply. A send points into a
        // pool buffer its connection owes, which goes back to the ring only
        // once the send has completed. The loop itself is leaked rather than
        // dropped if operations remain.
        unsafe { self.ring.push(std::slice::from_ref(&entry)) }
    }
}

/// What a receive of `bid` brings a connection: echo bytes, queued to be
/// sent from the buffer. (A connection receives through the ring only once
/// its handshake is done; bytes before that are a protocol error.)
fn take(conn: &mut Conn, buffers: &mut Buffers, bid: u16) -> Option<Close> {
    match conn.phase {
        Phase::Echoing => {
            enqueue(conn, buffers, bid);
            None
        }
        Phase::Handshaking(_) => {
            buffers.give_back(bid);
            Some(Close::Rejected(Reject::Broken))
        }
    }
}

/// Reads what a handshaking connection has received: peeks at up to a
/// line's worth, feeds the parser, then takes from the socket only the
/// bytes of the line, so that bytes pipelined behind it stay there for
/// the ring's receive. Returns how to close it, if they end it.
fn handshake(conn: &mut Conn, now: u64) -> Option<Close> {
    use rustix::net::{RecvFlags, recv};
    let Phase::Handshaking(parser) = &mut conn.phase else {
        return None;
    };
    let mut line = [0u8; protocol::MAX_LINE];
    let peeked = match recv(
        &conn.fd,
        &mut line[..],
        RecvFlags::PEEK | RecvFlags::DONTWAIT,
    ) {
        Ok((0, _)) => return Some(Close::Rejected(Reject::EndOfStream)),
        Ok((n, _)) => n,
        Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => return None,
        Err(_) => return Some(Close::Rejected(Reject::Broken)),
    };
    let (taken, accepted) = match parser.feed(&line[..peeked]) {
        Progress::NeedMore => (peeked, false),
        Progress::Rejected(why) => return Some(Close::Rejected(why)),
        Progress::Accepted { leftover } => (peeked - leftover.len(), true),
    };
    // The peeked bytes are still the first in the socket: this takes them.
    match recv(&conn.fd, &mut line[..taken], RecvFlags::DONTWAIT) {
        Ok((n, _)) if n == taken => {}
        _ => return Some(Close::Rejected(Reject::Broken)),
    }
    if accepted {
        conn.phase = Phase::Echoing;
        conn.since = now;
        // The idle deadline may come before the handshake's: a new entry
        // is due (the old one is stale from now on).
        conn.scheduled = None;
    }
    None
}

/// Adds `bid` to the end of what `conn` owes: copied behind the bytes of
/// its last buffer if they fit there (a small piece), else linked after it.
fn enqueue(conn: &mut Conn, buffers: &mut Buffers, bid: u16) {
    conn.owed += buffers.owed(bid).len() as u32;
    if conn.tail == NONE {
        conn.head = bid;
    } else if buffers.append(conn.tail, bid) {
        return;
    } else {
        buffers.link(conn.tail, bid);
    }
    conn.tail = bid;
}

/// The bytes a connection's next send would carry.
fn owed_now<'b>(conn: &Conn, buffers: &'b Buffers) -> &'b [u8] {
    if matches!(conn.phase, Phase::Echoing) && usize::from(conn.reply_sent) < REPLY.len() {
        &REPLY[usize::from(conn.reply_sent)..]
    } else if conn.head != NONE {
        buffers.owed(conn.head)
    } else {
        &[]
    }
}

/// `n` bytes of what `conn` owed were sent: the reply first, then its
/// oldest buffer, which goes back to the pool once all of it is sent.
fn advance(conn: &mut Conn, buffers: &mut Buffers, n: usize) {
    if usize::from(conn.reply_sent) < REPLY.len() {
        conn.reply_sent += n.min(REPLY.len()) as u8;
        return;
    }
    if conn.head == NONE {
        return;
    }
    conn.owed -= n as u32;
    if buffers.consume(conn.head, n) {
        let done = conn.head;
        conn.head = buffers.next(done);
        if conn.head == NONE {
            conn.tail = NONE;
        }
        buffers.give_back(done);
    }
}

/// When a connection expires, on the loop's clock: the end of its
/// handshake, or its last activity plus the idle timeout (none without one).
fn deadline_of(conn: &Conn, idle: Option<u64>) -> Option<u64> {
    match conn.phase {
        Phase::Handshaking(_) => Some(conn.since),
        Phase::Echoing => idle.map(|idle| conn.since + idle),
    }
}

/// A wait in milliseconds, cut to [`MAX_WAIT`] (a day).
fn millis(wait: Duration) -> u64 {
    wait.min(MAX_WAIT).as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::thread::JoinHandle;

    /// A loop serving on a free port in a thread of its own, with `tune`
    /// applied before it runs.
    /// The loop is made on its own thread, as `serve` makes it: the pool's
    /// memory belongs to the thread whose ring lends it.
    fn serving(
        config: Config,
        ring_entries: u32,
        tune: impl FnOnce(EventLoop) -> EventLoop + Send + 'static,
    ) -> (
        SocketAddr,
        Arc<Counters>,
        Shutdown,
        Arc<Observed>,
        JoinHandle<io::Result<()>>,
    ) {
        let listener = model::listener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = Arc::new(Counters::default());
        let shutdown = Shutdown::new();
        let (made, observed) = std::sync::mpsc::channel();
        let thread = {
            let (counters, shutdown) = (counters.clone(), shutdown.clone());
            std::thread::spawn(move || {
                let event_loop =
                    EventLoop::new(listener, Arc::new(config), counters, shutdown, ring_entries)?;
                let event_loop = tune(event_loop);
                let _ = made.send(event_loop.observed());
                event_loop.run()
            })
        };
        let observed = observed.recv().unwrap();
        (addr, counters, shutdown, observed, thread)
    }

    fn client(addr: SocketAddr) -> TcpStream {
        let client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        client
    }

    /// Reads until end-of-stream or reset; false if bytes came instead.
    fn closed(client: &mut TcpStream) -> bool {
        let mut buf = [0u8; 64 << 10];
        loop {
            match client.read(&mut buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) => return true,
                Err(err) => return err.kind() == io::ErrorKind::ConnectionReset,
                Ok(_) => continue,
            }
        }
    }

    /// Accepted sockets inherit TCP_NODELAY from the listener, which is
    /// why the loop sets it once instead of once per connection.
    #[test]
    fn accepted_sockets_inherit_no_delay_from_the_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        rustix::net::sockopt::set_tcp_nodelay(&listener, true).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(rustix::net::sockopt::tcp_nodelay(&accepted).unwrap());
    }

    /// A ring of two buffers, and ten clients sending at once: receives run
    /// out of buffers (`ENOBUFS` ends their multishot), are armed again
    /// once buffers are back, and every byte is still echoed in order.
    #[test]
    fn a_buffer_ring_run_dry_loses_nothing() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let (addr, counters, shutdown, observed, thread) =
            serving(Config::default(), 64, |event_loop| {
                event_loop.with_buffers(Buffers::new(64, 4, 2).unwrap())
            });
        let mut clients: Vec<TcpStream> = (0..10).map(|_| client(addr)).collect();
        for client in &mut clients {
            client.write_all(b"hello\n").unwrap();
            let mut reply = [0u8; 6];
            client.read_exact(&mut reply).unwrap();
        }
        let message: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
        for round in 0..5 {
            for client in &mut clients {
                client.write_all(&message).unwrap();
            }
            for (i, client) in clients.iter_mut().enumerate() {
                let mut echo = vec![0u8; message.len()];
                client.read_exact(&mut echo).unwrap();
                assert!(echo == message, "round {round}, client {i}");
            }
        }
        assert!(observed.starvations.load(Ordering::Relaxed) > 0);
        drop(clients);
        shutdown.trigger();
        thread.join().unwrap().unwrap();
        let stats = counters.snapshot();
        assert_eq!((stats.accepted, stats.errors, stats.open), (10, 0, 0));
    }

    /// A send the socket takes only part of keeps the rest of its buffer,
    /// which is sent next; the buffer goes back once all of it is sent. A
    /// small piece is copied behind the last buffer's bytes instead of
    /// holding a buffer of its own.
    #[test]
    fn a_short_send_keeps_the_rest_of_its_buffer() {
        let mut buffers = Buffers::new(64, 4, 2).unwrap();
        buffers.refill();
        let counters = Arc::new(Counters::default());
        let admitted = counters.admit(10).unwrap();
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let mut conn = Conn::new(fd, admitted, 0);
        conn.phase = Phase::Echoing;
        conn.reply_sent = REPLY.len() as u8;
        buffers.taken(0, 60);
        buffers.taken(1, 10);
        enqueue(&mut conn, &mut buffers, 0);
        enqueue(&mut conn, &mut buffers, 1);
        assert_eq!((conn.owed, conn.head, conn.tail), (70, 0, 1));
        // Three more bytes fit behind buffer 1's ten: copied, and 2 is back.
        buffers.refill();
        buffers.taken(2, 3);
        enqueue(&mut conn, &mut buffers, 2);
        assert_eq!((conn.owed, conn.tail), (73, 1));
        advance(&mut conn, &mut buffers, 4);
        assert_eq!((conn.owed, conn.head), (69, 0));
        assert_eq!(owed_now(&conn, &buffers).len(), 56);
        advance(&mut conn, &mut buffers, 56);
        assert_eq!((conn.owed, conn.head, conn.tail), (13, 1, 1));
        assert_eq!(owed_now(&conn, &buffers).len(), 13);
        advance(&mut conn, &mut buffers, 13);
        assert_eq!((conn.owed, conn.head, conn.tail), (0, NONE, NONE));
        // Every buffer is back, and the ring takes them again.
        assert_eq!(buffers.refill(), 2);
        assert_eq!(buffers.free_len() + usize::from(buffers.in_ring()), 4);
        conn.admitted.finish(&model::Ending::Completed);
    }

    /// A client that sends and never reads: the server stops receiving
    /// (cancels its multishot receive) once it owes `--buffer` bytes, so
    /// what it holds stays near that bound however much the client pushes.
    #[test]
    fn a_client_that_never_reads_is_held_to_the_buffer_bound() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let limit = 4096;
        let config = Config {
            buffer: limit,
            ..Config::default()
        };
        let (addr, counters, shutdown, observed, thread) = serving(config, 64, |l| l);
        let mut pusher = client(addr);
        pusher.write_all(b"hello\n").unwrap();
        let mut reply = [0u8; 6];
        pusher.read_exact(&mut reply).unwrap();
        pusher.set_nonblocking(true).unwrap();
        let chunk = [7u8; 64 << 10];
        let (mut pushed, started) = (0usize, Instant::now());
        let mut stalled_since = Instant::now();
        while started.elapsed() < Duration::from_secs(10)
            && stalled_since.elapsed() < Duration::from_millis(300)
        {
            match pusher.write(&chunk) {
                Ok(n) => {
                    pushed += n;
                    stalled_since = Instant::now();
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(err) => panic!("{err}"),
            }
        }
        let peak = observed.peak_owed.load(Ordering::Relaxed) as usize;
        // The kernel ends each receive at what the connection may still owe.
        assert!(peak <= limit, "owed {peak} after {pushed} pushed");
        assert!(pushed > 4 * limit, "pushed only {pushed}");
        drop(pusher);
        shutdown.trigger();
        thread.join().unwrap().unwrap();
        assert_eq!(counters.snapshot().open, 0);
    }

    /// A client that drips its bytes one segment at a time while its echo
    /// is stuck: each receive brings a byte, and each lands behind the bytes
    /// of the connection's last buffer instead of pinning a buffer of its
    /// own, so it holds two buffers for a hundred bytes, not a hundred
    /// (which would run the pool dry for every other connection).
    #[test]
    fn a_client_dripping_bytes_holds_few_buffers() {
        let mut buffers = Buffers::new(64, 256, 128).unwrap();
        buffers.refill();
        let counters = Arc::new(Counters::default());
        let admitted = counters.admit(10).unwrap();
        let fd = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        let mut conn = Conn::new(fd, admitted, 0);
        conn.phase = Phase::Echoing;
        // The kernel fills the ring's buffers in order, a byte each.
        for bid in 0..100 {
            buffers.taken(bid, 1);
            enqueue(&mut conn, &mut buffers, bid);
        }
        assert_eq!(conn.owed, 100);
        assert_eq!(buffers.held(), 2, "64 bytes fill a buffer, then another");
        conn.admitted.finish(&model::Ending::Completed);
    }

    /// The idle timer ends while a send is blocked on a client that stopped
    /// reading: the send is cancelled, the socket takes nothing of the
    /// rest, and the connection is closed as idle, on time.
    #[test]
    fn idle_expiry_with_a_send_in_flight_closes_the_connection() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let idle = Duration::from_millis(300);
        let config = Config {
            idle_timeout: Some(idle),
            ..Config::default()
        };
        let (addr, counters, shutdown, _, thread) = serving(config, 64, |l| l);
        let mut stalled = client(addr);
        stalled.write_all(b"hello\n").unwrap();
        let mut reply = [0u8; 6];
        stalled.read_exact(&mut reply).unwrap();
        // Push until neither side takes more: the server's echo send is
        // then blocked on this client's full receive window.
        stalled.set_nonblocking(true).unwrap();
        let chunk = [1u8; 64 << 10];
        let started = Instant::now();
        let mut last_write = Instant::now();
        while last_write.elapsed() < Duration::from_millis(100)
            && started.elapsed() < Duration::from_secs(5)
        {
            match stalled.write(&chunk) {
                Ok(_) => last_write = Instant::now(),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(_) => break,
            }
        }
        let stopped_writing = Instant::now();
        stalled.set_nonblocking(false).unwrap();
        // Wait for the server to give up on it, then read what is left.
        while counters.snapshot().open > 0 && stopped_writing.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = stopped_writing.elapsed();
        assert_eq!(counters.snapshot().open, 0, "not closed after {took:?}");
        assert!(took < idle + Duration::from_secs(1), "{took:?}");
        assert!(closed(&mut stalled));
        shutdown.trigger();
        thread.join().unwrap().unwrap();
    }

    /// A 4-entry ring is full on every burst of accepts, and its 8-entry
    /// completion queue overflows: every idle client is still cut by its
    /// deadline, and no full queue stops the server.
    #[test]
    fn a_ring_small_enough_to_fill_still_cuts_every_idle_client() {
        if crate::available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        const CLIENTS: usize = 40;
        let idle = Duration::from_millis(300);
        let config = Config {
            idle_timeout: Some(idle),
            grace: Duration::from_millis(200),
            ..Config::default()
        };
        let (addr, counters, shutdown, _, thread) = serving(config, 4, |l| l);
        let mut clients: Vec<TcpStream> = (0..CLIENTS).map(|_| client(addr)).collect();
        for client in &mut clients {
            client.write_all(b"hello\nping").unwrap();
        }
        for client in &mut clients {
            let mut echo = [0u8; 10];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"hello\nping");
        }
        let started = Instant::now();
        for (i, client) in clients.iter_mut().enumerate() {
            assert!(closed(client), "idle client {i} was not closed");
        }
        assert!(
            started.elapsed() < idle + Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let mut fresh = client(addr);
        fresh.write_all(b"hello\n").unwrap();
        let mut reply = [0u8; 6];
        fresh.read_exact(&mut reply).unwrap();
        drop(fresh);
        shutdown.trigger();
        thread.join().unwrap().unwrap();
        let stats = counters.snapshot();
        assert_eq!(
            (stats.accepted, stats.errors, stats.open),
            (CLIENTS as u64 + 1, 0, 0)
        );
    }
}
