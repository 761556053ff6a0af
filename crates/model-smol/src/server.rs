//! The accept loop and the connection handler.

use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::{Duration, Instant};

use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending};
use protocol::{REPLY, Reject};
use smol::channel::{Receiver, Sender};
use smol::{Async, Executor, Timer, future};

/// Accepts until `stopped` closes, a task per connection; then gives the
/// tasks the grace period. Those still running then are cancelled the smol
/// way, when [`crate::serve`] drops the executor: each task's future is
/// dropped, which closes its socket and counts it as shut down.
pub(crate) async fn run(
    executor: Arc<Executor<'static>>,
    listener: TcpListener,
    config: Arc<Config>,
    counters: Arc<Counters>,
    stopped: Receiver<()>,
) -> io::Result<()> {
    let listener = Async::new(listener)?;
    let (done, all_done) = smol::channel::bounded::<()>(1);
    let mut backoff = Backoff::new();
    let result = loop {
        let accepted = future::or(
            async {
                let _ = stopped.recv().await;
                None
            },
            async { Some(listener.accept().await) },
        )
        .await;
        let stream = match accepted {
            None => break Ok(()),
            Some(Ok((stream, _peer))) => stream,
            Some(Err(err)) if is_resource_exhaustion(&err) => {
                Timer::after(backoff.next_delay()).await;
                continue;
            }
            Some(Err(err)) if is_per_connection_accept_error(&err) => continue,
            Some(Err(err)) => break Err(err),
        };
        backoff.reset();
        let Some(admitted) = counters.admit(config.max_conns) else {
            continue;
        };
        let _ = stream.get_ref().set_nodelay(true);
        let task = connection_task(stream, config.clone(), admitted, done.clone());
        executor.spawn(task).detach();
    };
    drop(listener);
    drop(done);
    let grace_ends = deadline(Instant::now(), config.grace);
    let _all_done = future::or(async { all_done.recv().await.is_err() }, async {
        Timer::at(grace_ends).await;
        false
    })
    .await;
    result
}

/// A connection's task. The `done` sender is dropped with the task, which
/// is how `run` counts them. It holds no abort signal of its own: waiting
/// on one would cost every connection a listener, and dropping the
/// executor cancels a task just as well (its [`Admitted`] then counts the
/// connection as shut down).
#[allow(clippy::manual_async_fn)] // an `async fn` would hold its arguments twice
fn connection_task(
    stream: Async<TcpStream>,
    config: Arc<Config>,
    admitted: Admitted,
    done: Sender<()>,
) -> impl Future<Output = ()> {
    // An `async` block rather than an `async fn`: an `async fn` moves each
    // argument into a local of its own, so the state would hold both.
    async move {
        let ending = match session(&stream, &config).await {
            Ok(()) => Ending::Completed,
            Err(ending) => ending,
        };
        // Free the connection's place under --max-conns before the client can
        // see the close: a client that connects again at once is admitted.
        admitted.finish(&ending);
        drop(stream);
        drop(done);
    }
}

async fn session(stream: &Async<TcpStream>, config: &Config) -> Result<(), Ending> {
    let handshake_ends = deadline(Instant::now(), config.handshake_timeout);
    let leftover = future::or(async { Some(handshake(stream).await) }, async {
        Timer::at(handshake_ends).await;
        None
    })
    .await
    .ok_or_else(|| Ending::rejected(Reject::Timeout))??;
    write_all(stream, REPLY, config.idle_timeout).await?;
    write_all(stream, &leftover, config.idle_timeout).await?;
    loop {
        let msg = within(config.idle_timeout, || recv(stream, config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        write_all(stream, &msg, config.idle_timeout).await?;
    }
}

/// Writes all of `bytes`; idle only when no byte moves for the idle
/// timeout (see [`model::idle`]), not when the whole buffer takes longer.
///
/// A plain `fn` returning the future, not an `async fn`: another level of
/// `async` would keep its own copy of the arguments in every task's state.
fn write_all<'a>(
    stream: &'a Async<TcpStream>,
    bytes: &'a [u8],
    idle: Option<Duration>,
) -> impl Future<Output = Result<(), Ending>> + 'a {
    let write = move |rest| within(idle, move || send(stream, rest));
    let now = |rest: &[u8]| model::idle::send_now(stream.get_ref(), rest);
    model::idle::write_all(bytes, write, now)
}

/// Reads until the `hello` line is complete; returns the bytes after it.
fn handshake(stream: &Async<TcpStream>) -> impl Future<Output = Result<Vec<u8>, Ending>> + '_ {
    model::handshake::read_handshake(|max| recv(stream, max))
}

/// Waits until the socket takes some of `bytes`; returns how many it took.
///
/// Polls readiness (`poll_writable`) rather than awaiting `writable()`:
/// the socket keeps one waker per direction for a poller, while each
/// `writable()` future takes a place in a list of waiters that grows.
fn send<'a>(
    stream: &'a Async<TcpStream>,
    bytes: &'a [u8],
) -> impl Future<Output = io::Result<usize>> + 'a {
    poll_fn(move |cx| {
        loop {
            match stream.get_ref().write(bytes) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    ready!(stream.poll_writable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    })
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding no buffer while it waits. Polls readiness, like [`send`].
fn recv(stream: &Async<TcpStream>, max: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
    poll_fn(move |cx| {
        loop {
            ready!(stream.poll_readable(cx))?;
            let read = model::scratch::with(max, |buf| {
                stream.get_ref().read(buf).map(|n| buf[..n].to_vec())
            });
            match read {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    })
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
    idle: Option<Duration>,
    operation: impl FnOnce() -> Operation,
) -> Result<T, Ending>
where
    Operation: Future<Output = io::Result<T>>,
{
    let result = match idle {
        None => operation().await,
        Some(idle) => Box::pin(future::or(async { Some(operation().await) }, async {
            Timer::after(idle).await;
            None
        }))
        .await
        .ok_or(Ending::IdleTimeout)?,
    };
    result.map_err(Ending::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state every idle connection's task carries: the crate header
    /// documents it, and `tests/footprint.rs` weighs the whole connection.
    #[test]
    fn a_connection_task_is_no_larger_than_documented() {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let client = TcpStream::connect(listener.get_ref().local_addr().unwrap()).unwrap();
        let (stream, _) = future::block_on(listener.accept()).unwrap();
        let counters = Arc::new(Counters::default());
        let admitted = counters.admit(usize::MAX).unwrap();
        let (done, _all_done) = smol::channel::bounded(1);
        let task = connection_task(stream, Arc::new(Config::default()), admitted, done);
        assert!(size_of_val(&task) <= 328, "{} bytes", size_of_val(&task));
        drop(client);
    }
}
