//! How a load thread waits for its sockets until a given moment, to the
//! nanosecond, in one system call.
//!
//! `epoll_wait` takes its timeout in whole milliseconds. A thread that can
//! only wake on the millisecond has to send everything due within the next
//! one at once, and then the echoes of the first sends wait while the last
//! go out: at 6,000 msg/s on one thread that batching tripled the measured
//! p50. `epoll_pwait2` (Linux 5.11) takes its timeout as a `timespec`, so
//! the one call that waits for the sockets also ends at the next send.
//! On an older kernel a timerfd in the same epoll set ([`SendClock`]) ends
//! the wait instead, at the price of two more calls per wake: arming it
//! and reading it.
//!
//! The wait reads the epoll set that mio's `Poll` owns and registers into:
//! mio stores each source's token as the event's data, and the loop needs
//! nothing else from an event.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use super::send_clock::SendClock;

/// The fallback clock's token; connections are slab keys, far below it.
const SEND_CLOCK: Token = Token(usize::MAX);

pub(crate) struct SocketWait {
    events: Vec<libc::epoll_event>,
    /// Set where the kernel lacks `epoll_pwait2`.
    fallback: Option<Fallback>,
}

/// `epoll_wait`, to the millisecond, and where moments must be kept to
/// the microsecond (the open loop's sends), a timerfd.
struct Fallback {
    events: Events,
    clock: Option<SendClock>,
}

impl SocketWait {
    /// A wait for `poll`'s sockets, returning at most `capacity` at a time.
    /// Where the kernel lacks `epoll_pwait2`, `exact` asks for the timerfd
    /// (else moments are kept to the millisecond).
    pub(crate) fn new(poll: &Poll, capacity: usize, exact: bool) -> io::Result<SocketWait> {
        let mut wait = SocketWait {
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            fallback: None,
        };
        // Nothing is registered yet, so this consumes no event; it only
        // asks whether the kernel has the call (ENOSYS before 5.11), or a
        // seccomp filter older than the call refuses it (EPERM).
        match wait.pwait2(poll, Duration::ZERO) {
            Err(err) if matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {
                wait.fall_back(poll, exact)?
            }
            // A signal came: the call is there.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
            Ok(_) => {}
        }
        Ok(wait)
    }

    fn fall_back(&mut self, poll: &Poll, exact: bool) -> io::Result<()> {
        let clock = match exact {
            true => Some(SendClock::new(poll.registry(), SEND_CLOCK)?),
            false => None,
        };
        self.fallback = Some(Fallback {
            events: Events::with_capacity(self.events.len()),
            clock,
        });
        Ok(())
    }

    /// Waits until a socket is ready, `at` (to the nanosecond) or `coarse`
    /// from now (which may end up to a millisecond early), whichever comes
    /// first; puts the ready sockets' tokens in `ready`.
    pub(crate) fn wait(
        &mut self,
        poll: &mut Poll,
        now: Instant,
        at: Option<Instant>,
        coarse: Duration,
        ready: &mut Vec<Token>,
    ) -> io::Result<()> {
        ready.clear();
        let until_at = at.map_or(coarse, |at| at.saturating_duration_since(now).min(coarse));
        let Some(fallback) = &mut self.fallback else {
            let count = self.pwait2(poll, until_at)?;
            ready.extend(
                self.events[..count]
                    .iter()
                    .map(|event| Token(event.u64 as usize)),
            );
            return Ok(());
        };
        let rung = at.and_then(|at| fallback.clock.as_mut().map(|clock| clock.ring_at(at, now)));
        // Without the clock, the millisecond before the moment.
        let timeout = match rung {
            Some(Ok(())) => coarse,
            _ => until_at,
        };
        // Whole milliseconds, rounded down: mio would round up.
        let timeout = Duration::from_millis(timeout.as_millis() as u64);
        poll.poll(&mut fallback.events, Some(timeout))?;
        for event in fallback.events.iter() {
            match (event.token(), &mut fallback.clock) {
                (SEND_CLOCK, Some(clock)) => clock.rang(),
                (token, _) => ready.push(token),
            }
        }
        Ok(())
    }

    /// One `epoll_pwait2` on `poll`'s set; how many events it returned.
    fn pwait2(&mut self, poll: &Poll, timeout: Duration) -> io::Result<usize> {
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
            tv_nsec: timeout.subsec_nanos().into(),
        };
        let capacity = libc::c_int::try_from(self.events.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: the epoll descriptor is `poll`'s, open for the whole call;
        // the kernel writes at most `capacity` events into `self.events`,
        // which holds that many, and reads `timeout`, a live `timespec`. A
        // null signal mask leaves the thread's mask alone.
        let count = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                poll.as_raw_fd(),
                self.events.as_mut_ptr(),
                capacity,
                &raw const timeout,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if count < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(count as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::Interest;
    use mio::net::UdpSocket;

    /// The wait ends at its moment, not before and not a millisecond
    /// after, and returns a ready socket's token at once: with
    /// `epoll_pwait2`, and on the timerfd a kernel without it falls back on.
    #[test]
    fn ends_at_its_moment_or_when_a_socket_is_ready() {
        let poll = Poll::new().unwrap();
        let wait = SocketWait::new(&poll, 8, true).unwrap();
        keeps_moments_and_reports_sockets(poll, wait);

        let poll = Poll::new().unwrap();
        let mut wait = SocketWait::new(&poll, 8, true).unwrap();
        wait.fall_back(&poll, true).unwrap();
        keeps_moments_and_reports_sockets(poll, wait);
    }

    fn keeps_moments_and_reports_sockets(mut poll: Poll, mut wait: SocketWait) {
        let mut ready = Vec::new();
        for delay in [Duration::from_micros(300), Duration::from_millis(3)] {
            let now = Instant::now();
            wait.wait(
                &mut poll,
                now,
                Some(now + delay),
                Duration::from_secs(5),
                &mut ready,
            )
            .unwrap();
            let woke = now.elapsed();
            assert!(ready.is_empty(), "{ready:?}");
            assert!(woke >= delay, "woke after {woke:?}, asked for {delay:?}");
            assert!(
                woke < delay + Duration::from_millis(500),
                "woke after {woke:?}"
            );
        }
        // No moment: the coarse limit ends it.
        let now = Instant::now();
        wait.wait(&mut poll, now, None, Duration::from_millis(2), &mut ready)
            .unwrap();
        assert!(ready.is_empty());
        assert!(now.elapsed() >= Duration::from_millis(1));

        let mut socket = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        poll.registry()
            .register(&mut socket, Token(42), Interest::WRITABLE)
            .unwrap();
        let now = Instant::now();
        wait.wait(
            &mut poll,
            now,
            Some(now + Duration::from_secs(5)),
            Duration::from_secs(5),
            &mut ready,
        )
        .unwrap();
        assert_eq!(ready, [Token(42)]);
        assert!(now.elapsed() < Duration::from_secs(1));
    }
}
