//! Deadlines in user space: one lazy min-heap per ring instead of a timer
//! operation linked to every receive and send.
//!
//! A connection keeps its true deadline (the handshake's end, or its last
//! activity plus the idle timeout) and at most one entry here, made for the
//! deadline it had then. Activity only moves the connection's own field;
//! when the entry comes due the loop compares, and either expires the
//! connection or pushes its later deadline. Times are milliseconds on the
//! loop's clock, so an entry is 16 bytes, and an idle connection without an
//! idle timeout has none.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(u64, u32)>>,
}

impl Timers {
    /// Schedules a check of connection `key` at `at`.
    pub(crate) fn schedule(&mut self, at: u64, key: usize) {
        // Slab keys stay below the open-file limit, far from u32::MAX.
        self.heap.push(Reverse((at, key as u32)));
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the next entry due at `now`, if any.
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<(u64, usize)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                let Reverse((at, key)) = self.heap.pop()?;
                Some((at, key as usize))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_due_in_order_and_only_when_due() {
        let mut timers = Timers::default();
        timers.schedule(30, 3);
        timers.schedule(10, 1);
        timers.schedule(20, 2);
        assert_eq!(timers.next(), Some(10));
        assert_eq!(timers.pop_due(9), None);
        assert_eq!(timers.pop_due(25), Some((10, 1)));
        assert_eq!(timers.pop_due(25), Some((20, 2)));
        assert_eq!(timers.pop_due(25), None);
        assert_eq!(timers.next(), Some(30));
    }
}
