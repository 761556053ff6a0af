//! A timerfd that ends a load thread's wait on its sockets at the
//! microsecond its next send falls due, for kernels without `epoll_pwait2`
//! ([`super::socket_wait`] says why the moment matters): in the same epoll
//! set as the sockets, it makes the set ready at the send's own time.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};

pub(crate) struct SendClock {
    fd: OwnedFd,
    /// When the timer will fire, if it is set.
    armed: Option<Instant>,
}

impl SendClock {
    /// A disarmed clock, registered with `registry` under `token`.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<SendClock> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(SendClock { fd, armed: None })
    }

    /// Sets the clock to ring at `at` (at once if that has passed), unless
    /// it is already set for then.
    pub(crate) fn ring_at(&mut self, at: Instant, now: Instant) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        // A zero it_value would disarm the timer: the earliest is 1 ns.
        let after = at
            .saturating_duration_since(now)
            .max(Duration::from_nanos(1));
        let zero = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = Itimerspec {
            it_interval: zero,
            it_value: Timespec {
                tv_sec: after.as_secs() as i64,
                tv_nsec: i64::from(after.subsec_nanos()),
            },
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        self.armed = Some(at);
        Ok(())
    }

    /// After it rang: takes the expiry count, so that the next ring is a new edge.
    pub(crate) fn rang(&mut self) {
        let mut count = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut count);
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    /// It rings once at the time it was set for, not before, and can be set
    /// again after ringing; a sleep far longer than that is cut short.
    #[test]
    fn rings_at_its_time_and_again_after_it_rang() {
        let mut poll = Poll::new().unwrap();
        let mut clock = SendClock::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        for delay in [Duration::from_millis(3), Duration::from_micros(300)] {
            let set = Instant::now();
            clock.ring_at(set + delay, set).unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            let woke = set.elapsed();
            let tokens: Vec<Token> = events.iter().map(|event| event.token()).collect();
            assert_eq!(tokens, [Token(7)]);
            assert!(woke >= delay, "rang after {woke:?}, set for {delay:?}");
            assert!(woke < Duration::from_secs(1), "rang after {woke:?}");
            clock.rang();
        }
        // Rung and read: nothing more until it is set again.
        poll.poll(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert!(events.is_empty());
    }
}
