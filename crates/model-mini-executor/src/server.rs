//! The echo server on top of the executor: the article's `foo.py`, with
//! `main()` as [`accept_loop`] and `handler(conn)` as [`handler`]. It reads
//! like the blocking server; every `.await` is where the generator version
//! had a `yield from`.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending, Rejection, Shutdown};
use protocol::{REPLY, Reject};

use crate::executor::Executor;
use crate::io::Async;
use crate::reactor::Reactor;
use crate::time::{Elapsed, sleep_until, timeout_at};

/// Accepts until the shutdown, spawning a [`handler`] task per connection;
/// then waits up to the grace period for the handlers to finish.
pub(crate) async fn accept_loop(
    executor: Executor,
    listener: Async<TcpListener>,
    config: Rc<Config>,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> io::Result<()> {
    let reactor = executor.reactor().clone();
    let live = Rc::new(Live::default());
    let mut backoff = Backoff::new();
    loop {
        let Some(accepted) = unless_shutdown(&reactor, &shutdown, listener.accept()).await else {
            break;
        };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(err) if is_resource_exhaustion(&err) => {
                let resume = deadline(Instant::now(), backoff.next_delay());
                sleep_until(reactor.clone(), resume).await;
                continue;
            }
            Err(err) if is_per_connection_accept_error(&err) => continue,
            Err(err) => return Err(err),
        };
        backoff.reset();
        let Some(admitted) = counters.admit(config.max_conns) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = match Async::new(stream, reactor.clone()) {
            Ok(connection) => connection,
            Err(_) => {
                // Never served: rejected, for want of a reactor registration.
                admitted.finish(&Ending::Rejected(Rejection::NoResources));
                continue;
            }
        };
        let guard = LiveGuard::enter(&live, admitted);
        let config = config.clone();
        executor.spawn(connection_task(connection, config, guard));
    }
    drop(listener);
    let grace_ends = deadline(Instant::now(), config.grace);
    // Past the grace period `block_on` returns and drops the handlers left.
    let _ = timeout_at(&reactor, grace_ends, live.all_finished()).await;
    Ok(())
}

/// A connection's task: the article's `handler(conn)` and what counts it.
#[allow(clippy::manual_async_fn)] // an `async fn` would hold its arguments twice
fn connection_task(
    connection: Async<TcpStream>,
    config: Rc<Config>,
    guard: LiveGuard,
) -> impl Future<Output = ()> {
    // An `async` block rather than an `async fn`: an `async fn` moves each
    // argument into a local of its own, so the state would hold both.
    async move {
        let ending = match session(&connection, &config).await {
            Ok(()) => Ending::Completed,
            Err(ending) => ending,
        };
        guard.finish(ending);
    }
}

/// One connection, start to finish.
async fn session(conn: &Async<TcpStream>, config: &Config) -> Result<(), Ending> {
    let reactor = conn.reactor();
    let handshake_ends = deadline(Instant::now(), config.handshake_timeout);
    let leftover = match timeout_at(reactor, handshake_ends, handshake(conn)).await {
        Err(Elapsed) => return Err(Ending::rejected(Reject::Timeout)),
        Ok(result) => result?,
    };
    send_all(conn, REPLY, config.idle_timeout).await?;
    send_all(conn, &leftover, config.idle_timeout).await?;
    loop {
        let msg = within(reactor, config.idle_timeout, || conn.recv(config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        send_all(conn, &msg, config.idle_timeout).await?;
    }
}

/// Reads until the `hello` line is complete; returns the bytes after it.
fn handshake(conn: &Async<TcpStream>) -> impl Future<Output = Result<Vec<u8>, Ending>> + '_ {
    model::handshake::read_handshake(|max| conn.recv(max))
}

/// Writes all of `bytes`; idle only when no byte moves for the idle
/// timeout (see [`model::idle`]), not when the whole buffer takes longer.
///
/// A plain `fn` returning the future, not an `async fn`: another level of
/// `async` would keep its own copy of the arguments in every task's state.
fn send_all<'a>(
    conn: &'a Async<TcpStream>,
    bytes: &'a [u8],
    idle: Option<Duration>,
) -> impl Future<Output = Result<(), Ending>> + 'a {
    let write = move |rest| within(conn.reactor(), idle, move || conn.send(rest));
    let now = |rest: &[u8]| model::idle::send_now(conn.get_ref(), rest);
    model::idle::write_all(bytes, write, now)
}

/// Runs one I/O operation under the idle timeout, if there is one.
///
/// Takes the operation as a closure that makes its future: a future passed
/// in would be stored twice in this one's state, once as the argument and
/// once being awaited, and every connection's task would carry both. The
/// timed operation is boxed, so that its timer is paid only by a server run
/// with `--idle-timeout`, one allocation per wait, and not carried in every
/// task's state by all the others.
async fn within<T, Operation>(
    reactor: &Rc<Reactor>,
    idle: Option<Duration>,
    operation: impl FnOnce() -> Operation,
) -> Result<T, Ending>
where
    Operation: Future<Output = io::Result<T>>,
{
    let result = match idle {
        None => operation().await,
        Some(idle) => match Box::pin(timeout_at(
            reactor,
            deadline(Instant::now(), idle),
            operation(),
        ))
        .await
        {
            Ok(result) => result,
            Err(Elapsed) => return Err(Ending::IdleTimeout),
        },
    };
    result.map_err(Ending::Failed)
}

/// Runs `operation` unless the shutdown comes first (`None`).
async fn unless_shutdown<T>(
    reactor: &Reactor,
    shutdown: &Shutdown,
    operation: impl Future<Output = T>,
) -> Option<T> {
    let mut operation = pin!(operation);
    poll_fn(|cx| {
        if shutdown.is_triggered() {
            return Poll::Ready(None);
        }
        reactor.wait_notified(cx);
        operation.as_mut().poll(cx).map(Some)
    })
    .await
}

/// The handler tasks still running, so that the shutdown can wait for them.
#[derive(Debug, Default)]
struct Live {
    count: Cell<usize>,
    waiter: RefCell<Option<Waker>>,
}

impl Live {
    /// Completes when no handler is running.
    async fn all_finished(&self) {
        poll_fn(|cx| {
            if self.count.get() == 0 {
                return Poll::Ready(());
            }
            *self.waiter.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;
    }
}

/// Held by a handler task: counts it live for the grace period's wait, and
/// holds its admission, which records how it ended, or that it was dropped
/// unfinished at the end of the grace period.
#[derive(Debug)]
struct LiveGuard {
    live: Rc<Live>,
    admitted: Option<Admitted>,
}

impl LiveGuard {
    fn enter(live: &Rc<Live>, admitted: Admitted) -> LiveGuard {
        live.count.set(live.count.get() + 1);
        LiveGuard {
            live: live.clone(),
            admitted: Some(admitted),
        }
    }

    fn finish(mut self, ending: Ending) {
        if let Some(admitted) = self.admitted.take() {
            admitted.finish(&ending);
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        // Unfinished: dropped at the end of the grace period (counted as shut down).
        drop(self.admitted.take());
        self.live.count.set(self.live.count.get() - 1);
        if self.live.count.get() == 0
            && let Some(waiter) = self.live.waiter.borrow_mut().take()
        {
            waiter.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state every idle connection's task carries: the crate header
    /// documents it, and `tests/footprint.rs` weighs the whole connection.
    #[test]
    fn a_connection_task_is_no_larger_than_documented() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, _) = listener.accept().unwrap();
        stream.set_nonblocking(true).unwrap();
        let reactor = Rc::new(Reactor::new(64).unwrap());
        let connection = Async::new(TcpStream::from_std(stream), reactor).unwrap();
        let counters = Arc::new(Counters::default());
        let guard = LiveGuard::enter(&Rc::default(), counters.admit(usize::MAX).unwrap());
        let task = connection_task(connection, Rc::new(Config::default()), guard);
        assert!(size_of_val(&task) <= 352, "{} bytes", size_of_val(&task));
        drop(client);
    }
}
