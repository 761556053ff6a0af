//! Timers as futures: `sleep_until` and `timeout_at`, on the reactor's timer map.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::reactor::Reactor;

/// A future that completes at a deadline. Dropping it cancels its timer.
#[derive(Debug)]
pub struct Sleep {
    deadline: Instant,
    key: Option<(Instant, u64)>,
    reactor: Rc<Reactor>,
}

/// Completes at `deadline`.
pub fn sleep_until(reactor: Rc<Reactor>, deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        key: None,
        reactor,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            if let Some(key) = this.key.take() {
                this.reactor.cancel_timer(key);
            }
            return Poll::Ready(());
        }
        match this.key {
            None => this.key = Some(this.reactor.add_timer(this.deadline, cx.waker().clone())),
            Some(key) => this.reactor.update_timer(key, cx.waker()),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.reactor.cancel_timer(key);
        }
    }
}

/// The deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// Runs `future` until `deadline`; `Err(Elapsed)` if the deadline came first
/// (and `future` is dropped unfinished).
pub async fn timeout_at<F: Future>(
    reactor: &Rc<Reactor>,
    deadline: Instant,
    future: F,
) -> Result<F::Output, Elapsed> {
    let mut future = pin!(future);
    let mut sleep = sleep_until(reactor.clone(), deadline);
    poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
