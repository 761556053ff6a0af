//! The accept loop and the connection handler.

use std::future::{Future, poll_fn};
use std::io;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Duration;

use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending};
use protocol::{REPLY, Reject};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Accepts until `stop`, a task per connection; then gives the tasks the
/// grace period. Those still running then are cancelled the tokio way, by
/// dropping the runtime (in [`crate::serve`]): each task's future is
/// dropped, which closes its socket and counts it as shut down.
pub(crate) async fn run(
    listener: std::net::TcpListener,
    config: Arc<Config>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let tasks = TaskTracker::new();
    let mut backoff = Backoff::new();
    let result = loop {
        let accepted = tokio::select! {
            // The shutdown first: `select!` otherwise picks a ready branch at
            // random, and a client queued as the shutdown began could be
            // accepted and served (the graceful_shutdown case caught it).
            biased;
            _ = stop.cancelled() => break Ok(()),
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) if is_resource_exhaustion(&err) => {
                tokio::select! {
                    _ = stop.cancelled() => break Ok(()),
                    _ = sleep(backoff.next_delay()) => continue,
                }
            }
            Err(err) if is_per_connection_accept_error(&err) => continue,
            Err(err) => break Err(err),
        };
        backoff.reset();
        let Some(admitted) = counters.admit(config.max_conns) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(connection_task(stream, config.clone(), admitted));
    };
    drop(listener);
    tasks.close();
    let _still_running = timeout(config.grace, tasks.wait()).await;
    result
}

/// A connection's task. It holds no cancellation token of its own: one
/// would cost every connection a waiter in its state, and dropping the
/// runtime cancels a task just as well (its [`Admitted`] then counts the
/// connection as shut down).
#[allow(clippy::manual_async_fn)] // an `async fn` would hold its arguments twice
fn connection_task(
    stream: TcpStream,
    config: Arc<Config>,
    admitted: Admitted,
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
    }
}

async fn session(stream: &TcpStream, config: &Config) -> Result<(), Ending> {
    let handshake_ends = Instant::from_std(deadline(
        std::time::Instant::now(),
        config.handshake_timeout,
    ));
    let leftover = match timeout_at(handshake_ends, handshake(stream)).await {
        Ok(result) => result?,
        Err(_elapsed) => return Err(Ending::rejected(Reject::Timeout)),
    };
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
    stream: &'a TcpStream,
    bytes: &'a [u8],
    idle: Option<Duration>,
) -> impl Future<Output = Result<(), Ending>> + 'a {
    let write = move |rest| within(idle, move || send(stream, rest));
    let now = |rest: &[u8]| model::idle::send_now(stream, rest);
    model::idle::write_all(bytes, write, now)
}

/// Waits until the socket takes some of `bytes`; returns how many it took.
///
/// Polls readiness rather than awaiting `writable()`: the readiness future
/// is a waiter node of some 200 bytes that every connection's task would
/// carry, while a poll keeps the waker in the socket's own registration.
fn send<'a>(
    stream: &'a TcpStream,
    bytes: &'a [u8],
) -> impl Future<Output = io::Result<usize>> + 'a {
    poll_fn(move |cx| {
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_write(bytes) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    })
}

/// Reads until the `hello` line is complete; returns the bytes after it.
fn handshake(stream: &TcpStream) -> impl Future<Output = Result<Vec<u8>, Ending>> + '_ {
    model::handshake::read_handshake(|max| recv(stream, max))
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding no buffer while it waits.
///
/// Polls readiness, like [`send`]; `poll_read_ready` spends tokio's
/// cooperative budget, so a socket that is always ready still makes its
/// task yield to the others on the worker.
fn recv(stream: &TcpStream, max: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
    poll_fn(move |cx| {
        loop {
            ready!(stream.poll_read_ready(cx))?;
            let read =
                model::scratch::with(max, |buf| stream.try_read(buf).map(|n| buf[..n].to_vec()));
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
/// timed operation is boxed, so that its timer (a `Sleep`, 112 bytes) is
/// paid only by a server run with `--idle-timeout`, one allocation per
/// wait, and not carried in every task's state by all the others.
async fn within<T, Operation>(
    idle: Option<Duration>,
    operation: impl FnOnce() -> Operation,
) -> Result<T, Ending>
where
    Operation: Future<Output = io::Result<T>>,
{
    let result = match idle {
        None => operation().await,
        Some(idle) => Box::pin(timeout(idle, operation()))
            .await
            .map_err(|_elapsed| Ending::IdleTimeout)?,
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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let counters = Arc::new(Counters::default());
            let admitted = counters.admit(usize::MAX).unwrap();
            let task = connection_task(stream, Arc::new(Config::default()), admitted);
            assert!(size_of_val(&task) <= 328, "{} bytes", size_of_val(&task));
            drop(client);
        });
    }
}
