//! A connection's turn on a shared thread: after a fixed number of I/O
//! operations its task yields once, so that a socket which is always ready
//! cannot keep the thread from every other connection, the accept loop and
//! the shutdown.
//!
//! An executor polls a task until it returns `Pending`, and a task returns
//! `Pending` only when a socket would block. A client that streams at full
//! speed keeps its socket readable and writable, so without a budget its
//! task would never give the thread back. tokio builds this in (its
//! cooperative budget of 128 operations per poll); `mini-executor` builds
//! it into its reactor with the same number, [`OPERATIONS`]; models on a
//! runtime without one (async-std) spend a [`Budget`] in the connection's
//! loop.

use std::future::poll_fn;
use std::task::Poll;

/// I/O operations a task may complete before it yields, as tokio's budget.
pub const OPERATIONS: u32 = 128;

/// The operations left in the current turn of one connection's task.
#[derive(Debug, Clone)]
pub struct Budget {
    left: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { left: OPERATIONS }
    }
}

impl Budget {
    /// Counts `operations` done; true once the turn's [`OPERATIONS`] are
    /// used up, when the caller must yield (a new turn starts). For a
    /// runtime whose yield is a call, not an `.await` (`may`).
    pub fn turn_over(&mut self, operations: u32) -> bool {
        self.left = self.left.saturating_sub(operations);
        if self.left > 0 {
            return false;
        }
        self.left = OPERATIONS;
        true
    }

    /// Counts `operations` done; once the turn's [`OPERATIONS`] are used up,
    /// yields to the executor (one `Pending`, with the task woken at once,
    /// so it runs again after every task that is ready now).
    pub async fn spend(&mut self, operations: u32) {
        if !self.turn_over(operations) {
            return;
        }
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                return Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    #[test]
    fn yields_once_per_budget_spent() {
        let mut budget = Budget::default();
        let mut cx = Context::from_waker(Waker::noop());
        let mut pending = 0;
        for _ in 0..(OPERATIONS as usize * 3) {
            let mut spend = pin!(budget.spend(1));
            while spend.as_mut().poll(&mut cx).is_pending() {
                pending += 1;
            }
        }
        assert_eq!(pending, 3);
    }

    #[test]
    fn a_turn_ends_after_its_operations_and_the_next_starts_full() {
        let mut budget = Budget::default();
        let ends: Vec<usize> = (1..=OPERATIONS as usize)
            .filter(|_| budget.turn_over(2))
            .collect();
        assert_eq!(ends, [OPERATIONS as usize / 2, OPERATIONS as usize]);
    }
}
