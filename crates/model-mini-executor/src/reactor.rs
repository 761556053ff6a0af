//! The reactor: the article's `DefaultSelector` plus its `polling` step.
//!
//! Every socket is registered once, for both readiness directions,
//! edge-triggered. A future that gets `WouldBlock` leaves its `Waker` in the
//! socket's slot; when `poll` reports the socket ready, the reactor wakes
//! whoever waits. There is no lost wake-up: a task always tries the system
//! call first and waits only after `WouldBlock`, and any byte that arrives
//! after that raises a new edge. Timers live here too, as an ordered map
//! from deadline to waker whose first entry bounds the `poll` timeout.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

/// The token of the waker that other threads use to interrupt `poll`.
pub(crate) const NOTIFY: Token = Token(usize::MAX);
const EVENTS_PER_POLL: usize = 1024;
/// I/O operations one poll of a task may complete before it must yield (see
/// [`model::budget`]): a socket that is always ready would otherwise never
/// make its task return `Pending`, and the accept loop, the shutdown and
/// every other connection on the thread would wait.
pub(crate) const BUDGET: u32 = model::budget::OPERATIONS;

/// Which way a task waits on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

/// The wakers of the tasks waiting on one socket.
#[derive(Debug, Default)]
struct Waiters {
    reader: Option<Waker>,
    writer: Option<Waker>,
}

/// Readiness and timers for one executor. Not `Sync`: it lives on its thread.
#[derive(Debug)]
pub struct Reactor {
    poll: RefCell<Poll>,
    events: RefCell<Events>,
    sources: RefCell<Slab<Waiters>>,
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
    /// Kept here so that its eventfd outlives every `wake`: epoll forgets a
    /// closed descriptor's pending event.
    notify: Arc<mio::Waker>,
    notify_waiter: RefCell<Option<Waker>>,
    /// One read buffer for every socket of this reactor: a task borrows it
    /// only inside a single non-blocking `read`, never across an `.await`.
    scratch: RefCell<Box<[u8]>>,
    /// What is left of the [`BUDGET`] of the task being polled.
    budget: Cell<u32>,
}

impl Reactor {
    /// A reactor whose sockets read through a `scratch_len`-byte buffer.
    pub fn new(scratch_len: usize) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let notify = Arc::new(mio::Waker::new(poll.registry(), NOTIFY)?);
        Ok(Reactor {
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(EVENTS_PER_POLL)),
            sources: RefCell::default(),
            timers: RefCell::default(),
            next_timer: Cell::new(0),
            notify,
            notify_waiter: RefCell::default(),
            scratch: RefCell::new(vec![0; scratch_len.max(1)].into_boxed_slice()),
            budget: Cell::new(BUDGET),
        })
    }

    /// A thread-safe handle that interrupts `poll` and wakes the task that
    /// called [`Reactor::wait_notified`] last.
    pub fn notifier(&self) -> Arc<mio::Waker> {
        self.notify.clone()
    }

    /// Registers `source` for both directions; returns its slot.
    pub(crate) fn register(&self, source: &mut impl Source) -> io::Result<usize> {
        let mut sources = self.sources.borrow_mut();
        let entry = sources.vacant_entry();
        let key = entry.key();
        self.poll.borrow().registry().register(
            source,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(Waiters::default());
        Ok(key)
    }

    /// Deregisters `source` and forgets its waiters.
    pub(crate) fn deregister(&self, key: usize, source: &mut impl Source) {
        let _ = self.poll.borrow().registry().deregister(source);
        self.sources.borrow_mut().try_remove(key);
    }

    /// The number of registered sockets.
    pub fn registered(&self) -> usize {
        self.sources.borrow().len()
    }

    /// Remembers that the task in `cx` waits for `key` to become ready in `direction`.
    pub(crate) fn wait(&self, key: usize, direction: Direction, cx: &Context<'_>) {
        if let Some(waiters) = self.sources.borrow_mut().get_mut(key) {
            let slot = match direction {
                Direction::Read => &mut waiters.reader,
                Direction::Write => &mut waiters.writer,
            };
            match slot {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
    }

    /// A fresh [`BUDGET`] for the task about to be polled.
    pub(crate) fn refill_budget(&self) {
        self.budget.set(BUDGET);
    }

    /// Spends one operation of the polled task's budget; false once it is
    /// used up, and the task must yield before it does more.
    pub(crate) fn spend_budget(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    /// Runs `read` with the shared scratch buffer.
    pub(crate) fn with_scratch<R>(&self, read: impl FnOnce(&mut [u8]) -> R) -> R {
        read(&mut self.scratch.borrow_mut())
    }

    /// Adds a timer; returns its key for [`Reactor::cancel_timer`].
    pub(crate) fn add_timer(&self, deadline: Instant, waker: Waker) -> (Instant, u64) {
        let key = (deadline, self.next_timer.get());
        self.next_timer.set(key.1 + 1);
        self.timers.borrow_mut().insert(key, waker);
        key
    }

    /// Replaces the waker of a pending timer.
    pub(crate) fn update_timer(&self, key: (Instant, u64), waker: &Waker) {
        if let Some(slot) = self.timers.borrow_mut().get_mut(&key)
            && !slot.will_wake(waker)
        {
            *slot = waker.clone();
        }
    }

    /// Removes a timer that is no longer wanted (its future was dropped or finished).
    pub(crate) fn cancel_timer(&self, key: (Instant, u64)) {
        self.timers.borrow_mut().remove(&key);
    }

    /// Wakes the task in `cx` the next time another thread uses the
    /// [`notifier`](Self::notifier). The task re-checks whatever state the
    /// other thread changed (for the shutdown: [`model::Shutdown::is_triggered`]).
    pub fn wait_notified(&self, cx: &Context<'_>) {
        *self.notify_waiter.borrow_mut() = Some(cx.waker().clone());
    }

    /// The article's `polling`: waits for readiness (at most until the next
    /// timer, or not at all if `block` is false) and wakes the tasks it concerns.
    pub(crate) fn poll(&self, block: bool) -> io::Result<()> {
        let timeout = if block {
            self.next_timeout(Instant::now())
        } else {
            Some(Duration::ZERO)
        };
        let mut events = self.events.borrow_mut();
        match self.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
        let mut wake = Vec::new();
        {
            let mut sources = self.sources.borrow_mut();
            for event in events.iter() {
                if event.token() == NOTIFY {
                    wake.extend(self.notify_waiter.borrow_mut().take());
                    continue;
                }
                let Some(waiters) = sources.get_mut(event.token().0) else {
                    continue;
                };
                // Errors and hang-ups wake both sides: the next system call reports them.
                let failed = event.is_error();
                if event.is_readable() || event.is_read_closed() || failed {
                    wake.extend(waiters.reader.take());
                }
                if event.is_writable() || event.is_write_closed() || failed {
                    wake.extend(waiters.writer.take());
                }
            }
        }
        let now = Instant::now();
        {
            let mut timers = self.timers.borrow_mut();
            while let Some(entry) = timers.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                wake.push(entry.remove());
            }
        }
        // Woken after every borrow is released: a waker may run arbitrary code.
        for waker in wake {
            waker.wake();
        }
        Ok(())
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        self.timers
            .borrow()
            .first_key_value()
            .map(|((deadline, _), _)| deadline.saturating_duration_since(now))
    }
}
