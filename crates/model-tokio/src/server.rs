//! The accept loop and the connection handler.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Config, Counters, Ending};
use protocol::{REPLY, Reject};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

thread_local! {
    /// The read buffer of every task that runs on this worker thread; it is
    /// borrowed only inside a synchronous `try_read`, never across `.await`.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Accepts until `stop`, a task per connection; then gives the tasks the
/// grace period and cancels those still running.
pub(crate) async fn run(
    listener: std::net::TcpListener,
    config: Arc<Config>,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let tasks = TaskTracker::new();
    let abort = CancellationToken::new();
    let mut backoff = Backoff::new();
    let result = loop {
        let accepted = tokio::select! {
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
        let (config, abort) = (config.clone(), abort.clone());
        tasks.spawn(async move {
            let ending = tokio::select! {
                ending = handler(&stream, &config) => ending,
                _ = abort.cancelled() => Ending::ShutDown,
            };
            // Free the connection's place under --max-conns before the
            // client can see the close: a client that connects again at
            // once is admitted.
            admitted.finish(&ending);
            drop(stream);
        });
    };
    drop(listener);
    tasks.close();
    if timeout(config.grace, tasks.wait()).await.is_err() {
        abort.cancel();
        tasks.wait().await;
    }
    result
}

/// One connection, start to finish.
async fn handler(stream: &TcpStream, config: &Config) -> Ending {
    match session(stream, config).await {
        Ok(()) => Ending::Completed,
        Err(ending) => ending,
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
        let msg = within(config.idle_timeout, recv(stream, config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        write_all(stream, &msg, config.idle_timeout).await?;
    }
}

/// Writes all of `bytes`; idle only when no byte moves for the idle
/// timeout (see [`model::idle`]), not when the whole buffer takes longer.
async fn write_all(stream: &TcpStream, bytes: &[u8], idle: Option<Duration>) -> Result<(), Ending> {
    let now = |rest: &[u8]| model::idle::send_now(stream, rest);
    model::idle::write_all(bytes, |rest| within(idle, send(stream, rest)), now).await
}

/// Waits until the socket takes some of `bytes`; returns how many it took.
/// Spends the cooperative budget like [`recv`].
async fn send(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    stream
        .async_io(Interest::WRITABLE, || stream.try_write(bytes))
        .await
}

/// Reads until the `hello` line is complete; returns the bytes after it.
async fn handshake(stream: &TcpStream) -> Result<Vec<u8>, Ending> {
    model::handshake::read_handshake(|max| recv(stream, max)).await
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding no buffer while it waits.
///
/// `async_io` (not `readable` and then `try_read`) so that each read spends
/// tokio's cooperative budget: a socket that is always ready then still
/// makes its task yield to the others on the worker.
async fn recv(stream: &TcpStream, max: usize) -> io::Result<Vec<u8>> {
    stream
        .async_io(Interest::READABLE, || {
            SCRATCH.with_borrow_mut(|scratch| {
                if scratch.len() < max {
                    scratch.resize(max, 0);
                }
                stream
                    .try_read(&mut scratch[..max])
                    .map(|n| scratch[..n].to_vec())
            })
        })
        .await
}

/// Runs one I/O operation under the idle timeout, if there is one.
async fn within<T>(
    idle: Option<Duration>,
    operation: impl Future<Output = io::Result<T>>,
) -> Result<T, Ending> {
    let result = match idle {
        None => operation.await,
        Some(idle) => timeout(idle, operation)
            .await
            .map_err(|_elapsed| Ending::IdleTimeout)?,
    };
    result.map_err(Ending::Failed)
}
