//! Deadlines for thousands of connections without a thread or a system
//! timer per connection: a min-heap of `(deadline, token)` whose earliest
//! entry becomes the `poll` timeout.
//!
//! Entries are never removed early. An idle deadline moves with every byte,
//! so instead of rescheduling on each read, the connection keeps its true
//! deadline and the heap keeps one entry per connection; when that entry
//! comes due, the loop compares it with the connection's current deadline
//! and either expires the connection or pushes the later deadline. Entries
//! for connections that are gone, or were replaced by a newer one on the same
//! token, are recognised by a deadline that no longer matches and dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use mio::Token;

/// The pending deadlines of one event loop.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

impl Timers {
    /// Schedules a check of `token` at `deadline`.
    pub(crate) fn schedule(&mut self, deadline: Instant, token: Token) {
        self.heap.push(Reverse((deadline, token.0)));
    }

    /// How long `poll` may sleep before the earliest deadline (`None`: no deadline).
    pub(crate) fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((deadline, _))| deadline.saturating_duration_since(now))
    }

    /// Removes and returns the next entry due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Token)> {
        match self.heap.peek() {
            Some(Reverse((deadline, _))) if *deadline <= now => {
                let Reverse((deadline, token)) = self.heap.pop()?;
                Some((deadline, Token(token)))
            }
            _ => None,
        }
    }

    /// How many entries are pending (live or stale).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(start + Duration::from_millis(30), Token(3));
        timers.schedule(start + Duration::from_millis(10), Token(1));
        timers.schedule(start + Duration::from_millis(20), Token(2));
        assert_eq!(timers.poll_timeout(start), Some(Duration::from_millis(10)));
        assert_eq!(timers.pop_due(start), None);
        let later = start + Duration::from_millis(25);
        assert_eq!(timers.pop_due(later).map(|(_, t)| t), Some(Token(1)));
        assert_eq!(timers.pop_due(later).map(|(_, t)| t), Some(Token(2)));
        assert_eq!(timers.pop_due(later), None);
        assert_eq!(timers.len(), 1);
    }
}
