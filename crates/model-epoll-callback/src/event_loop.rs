//! One event loop: a `mio::Poll`, its listener, a slab of connections and
//! their deadlines. Read it top to bottom: [`EventLoop::run`] is the
//! article's `while True: events = sel.select(); for e in events: cb(...)`.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Config, Counters, Ending, Rejection, Shutdown};
use slab::Slab;

use crate::connection::{Connection, Next, would_block};
use crate::timers::Timers;

/// The listener's token; connections use their slab keys, which stay far below.
const LISTENER: Token = Token(usize::MAX - 1);
/// The token of the waker a shutdown fires from another thread.
const SHUTDOWN: Token = Token(usize::MAX);
/// Readiness events taken per `poll`.
const EVENTS_PER_POLL: usize = 1024;

/// One loop's state; everything it touches is owned by its thread.
pub(crate) struct EventLoop {
    poll: Poll,
    _waker: Arc<Waker>,
    listener: TcpListener,
    /// Whether the listener is registered: not while backing off from
    /// EMFILE, nor after the shutdown.
    accepting: bool,
    connections: Slab<Connection>,
    timers: Timers,
    /// Connections that used up their turn with bytes still to read.
    yielded: VecDeque<Token>,
    /// The one read buffer, shared by every connection of this loop.
    scratch: Box<[u8]>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    backoff: Backoff,
    /// While out of descriptors: when to try accepting again.
    resume_accepting: Option<Instant>,
    /// After the shutdown: when the grace period ends.
    grace_ends: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        listener: std::net::TcpListener,
        config: Arc<Config>,
        counters: Arc<Counters>,
        shutdown: Shutdown,
    ) -> io::Result<EventLoop> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        // The loop keeps a handle too: dropping the last one closes the
        // eventfd, and epoll forgets a closed descriptor's pending event.
        let waker = Arc::new(Waker::new(poll.registry(), SHUTDOWN)?);
        let wake = waker.clone();
        shutdown.on_trigger(move || {
            // Failing means the loop is gone already.
            let _ = wake.wake();
        });
        Ok(EventLoop {
            poll,
            _waker: waker,
            listener,
            accepting: true,
            connections: Slab::new(),
            timers: Timers::default(),
            yielded: VecDeque::new(),
            scratch: vec![0; config.buffer.max(protocol::MAX_LINE)].into_boxed_slice(),
            config,
            counters,
            shutdown,
            backoff: Backoff::new(),
            resume_accepting: None,
            grace_ends: None,
        })
    }

    /// Runs until the shutdown's grace period is over; returns only for an
    /// error of the loop itself (never of a connection).
    pub(crate) fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept()?,
                    SHUTDOWN => {}
                    token => self.ready(token),
                }
            }
            for _ in 0..self.yielded.len() {
                if let Some(token) = self.yielded.pop_front() {
                    self.ready(token);
                }
            }
            let now = Instant::now();
            self.expire(now);
            if self.shutdown.is_triggered() && self.grace_ends.is_none() {
                self.stop_accepting()?;
                self.grace_ends = Some(deadline(now, self.config.grace));
            }
            if let Some(grace_ends) = self.grace_ends
                && (self.connections.is_empty() || now >= grace_ends)
            {
                self.close_all();
                return Ok(());
            }
            if self.resume_accepting.is_some_and(|at| now >= at) {
                self.resume_accepting = None;
                self.poll
                    .registry()
                    .register(&mut self.listener, LISTENER, Interest::READABLE)?;
                self.accepting = true;
            }
        }
    }

    /// The earliest of: a connection's deadline, the end of an accept
    /// back-off, the end of the grace period; zero if connections yielded.
    fn poll_timeout(&self, now: Instant) -> Option<std::time::Duration> {
        if !self.yielded.is_empty() {
            return Some(std::time::Duration::ZERO);
        }
        [self.resume_accepting, self.grace_ends]
            .into_iter()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .chain(self.timers.poll_timeout(now))
            .min()
    }

    /// The listener is readable: accept until the queue is empty.
    fn accept(&mut self) -> io::Result<()> {
        while self.accepting {
            let stream = match self.listener.accept() {
                Ok((stream, _peer)) => stream,
                Err(err) if would_block(&err) => return Ok(()),
                Err(err) if is_resource_exhaustion(&err) => {
                    // The pending connection stays queued and the listener
                    // stays readable: stop listening for a while, or spin.
                    self.poll.registry().deregister(&mut self.listener)?;
                    self.accepting = false;
                    self.resume_accepting =
                        Some(deadline(Instant::now(), self.backoff.next_delay()));
                    return Ok(());
                }
                Err(err) if is_per_connection_accept_error(&err) => continue,
                Err(err) => return Err(err),
            };
            self.backoff.reset();
            let Some(admitted) = self.counters.admit(self.config.max_conns) else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let now = Instant::now();
            let entry = self.connections.vacant_entry();
            let token = Token(entry.key());
            let mut connection = Connection::new(stream, admitted, &self.config, now);
            if self
                .poll
                .registry()
                .register(&mut connection.stream, token, Interest::READABLE)
                .is_err()
            {
                // Never served: it is rejected, for want of an epoll registration.
                connection
                    .admitted
                    .finish(&Ending::Rejected(Rejection::NoResources));
                continue;
            }
            entry.insert(connection);
            self.schedule(token);
        }
        Ok(())
    }

    /// A connection may be ready: run its callback and act on the answer.
    fn ready(&mut self, token: Token) {
        let now = Instant::now();
        let Some(connection) = self.connections.get_mut(token.0) else {
            return; // closed earlier in this batch of events
        };
        match connection.on_ready(&mut self.scratch, &self.config, now) {
            Next::Wait(interest) => {
                if interest != connection.interest {
                    connection.interest = interest;
                    if let Err(err) =
                        self.poll
                            .registry()
                            .reregister(&mut connection.stream, token, interest)
                    {
                        self.close(token, Ending::Failed(err));
                        return;
                    }
                }
                self.schedule(token);
            }
            Next::Yield => {
                self.yielded.push_back(token);
                self.schedule(token);
            }
            Next::Close(ending) => self.close(token, ending),
        }
    }

    /// Makes sure the timers will look at `token` by its deadline.
    fn schedule(&mut self, token: Token) {
        let Some(connection) = self.connections.get_mut(token.0) else {
            return;
        };
        if let Some(deadline) = connection.deadline
            && connection.scheduled.is_none_or(|at| deadline < at)
        {
            connection.scheduled = Some(deadline);
            self.timers.schedule(deadline, token);
        }
    }

    /// Closes connections whose deadline passed; re-checks the others later.
    fn expire(&mut self, now: Instant) {
        while let Some((due, token)) = self.timers.pop_due(now) {
            let Some(connection) = self.connections.get_mut(token.0) else {
                continue;
            };
            if connection.scheduled != Some(due) {
                continue; // a stale entry: superseded, or an earlier connection's
            }
            connection.scheduled = None;
            if connection.deadline.is_some_and(|deadline| deadline <= now)
                && connection.owes_bytes()
            {
                // Idle only if the socket takes none of what is owed now: a
                // slow reader frees room without waking us (see `model::idle`).
                // The callback writes what it can, which moves the deadline.
                self.ready(token);
            }
            let Some(connection) = self.connections.get_mut(token.0) else {
                continue;
            };
            match connection.deadline {
                Some(deadline) if deadline <= now => {
                    let ending = connection.expired();
                    self.close(token, ending);
                }
                _ => self.schedule(token),
            }
        }
    }

    fn close(&mut self, token: Token, ending: Ending) {
        if let Some(mut connection) = self.connections.try_remove(token.0) {
            let _ = self.poll.registry().deregister(&mut connection.stream);
            let Connection {
                stream, admitted, ..
            } = connection;
            // Its place is free before the client can see the close (see
            // ARCHITECTURE.md): with --workers 2, another loop may accept
            // the client's next connection at once.
            admitted.finish(&ending);
            drop(stream);
        }
    }

    /// The shutdown began: refuse new connections at once. Deregistering
    /// alone would leave the socket listening, and the kernel would keep
    /// completing connections that wait unserved until the grace period ends.
    fn stop_accepting(&mut self) -> io::Result<()> {
        if self.accepting {
            self.poll.registry().deregister(&mut self.listener)?;
            self.accepting = false;
        }
        model::listener::stop_listening(&self.listener);
        self.resume_accepting = None;
        Ok(())
    }

    /// The grace period is over (or nothing is left): close what remains.
    fn close_all(&mut self) {
        let tokens: Vec<usize> = self.connections.iter().map(|(key, _)| key).collect();
        for key in tokens {
            self.close(Token(key), Ending::ShutDown);
        }
    }
}
