//! The accept loop and the connection handler.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_std::channel::{Receiver, Sender};
use async_std::io::{Read, Write};
use async_std::net::{TcpListener, TcpStream};
use futures_lite::future;
use model::budget::Budget;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending};
use protocol::{REPLY, Reject};

/// Accepts until `stopped` closes, a task per connection; then gives the
/// tasks the grace period and aborts those still running.
pub(crate) async fn run(
    listener: std::net::TcpListener,
    config: Arc<Config>,
    counters: Arc<Counters>,
    stopped: Receiver<()>,
) -> io::Result<()> {
    let listener = TcpListener::from(listener);
    let (done, all_done) = async_std::channel::bounded::<()>(1);
    let (abort, aborted) = async_std::channel::bounded::<()>(1);
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
                async_std::task::sleep(backoff.next_delay()).await;
                continue;
            }
            Some(Err(err)) if is_per_connection_accept_error(&err) => continue,
            Some(Err(err)) => break Err(err),
        };
        backoff.reset();
        let Some(admitted) = counters.admit(config.max_conns) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let task = connection_task(
            stream,
            config.clone(),
            admitted,
            done.clone(),
            aborted.clone(),
        );
        async_std::task::spawn(task);
    };
    drop(listener);
    drop(done);
    let grace = async_std::future::timeout(config.grace, all_done.recv()).await;
    if grace.is_err() {
        drop(abort);
        let _ = all_done.recv().await;
    }
    result
}

/// A connection's task: the handler, unless the abort comes first. The
/// `done` sender is dropped with the task, which is how `run` counts them.
#[allow(clippy::manual_async_fn)] // an `async fn` would hold its arguments twice
fn connection_task(
    stream: TcpStream,
    config: Arc<Config>,
    admitted: Admitted,
    done: Sender<()>,
    aborted: Receiver<()>,
) -> impl Future<Output = ()> {
    // An `async` block rather than an `async fn`: an `async fn` moves each
    // argument into a local of its own, so the state would hold both.
    async move {
        let session = async {
            match session(&stream, &config).await {
                Ok(()) => Ending::Completed,
                Err(ending) => ending,
            }
        };
        let ending = future::or(session, async {
            let _ = aborted.recv().await;
            Ending::ShutDown
        })
        .await;
        // Free the connection's place under --max-conns before the client can
        // see the close: a client that connects again at once is admitted.
        admitted.finish(&ending);
        drop(stream);
        drop(done);
    }
}

async fn session(stream: &TcpStream, config: &Config) -> Result<(), Ending> {
    // One timeout around the whole handshake: an absolute deadline.
    let leftover =
        match async_std::future::timeout(config.handshake_timeout, handshake(stream)).await {
            Ok(result) => result?,
            Err(_elapsed) => return Err(Ending::rejected(Reject::Timeout)),
        };
    write_all(stream, REPLY, config.idle_timeout).await?;
    write_all(stream, &leftover, config.idle_timeout).await?;
    // async-std's executor has no cooperative budget of its own, and its
    // sockets try the system call before they wait: without one, a client
    // streaming at full speed would keep a worker thread to itself.
    let mut budget = Budget::default();
    loop {
        let msg = within(config.idle_timeout, || recv(stream, config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        write_all(stream, &msg, config.idle_timeout).await?;
        budget.spend(2).await;
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
    model::idle::write_all(bytes, write, |rest| write_now(stream, rest))
}

/// How many of `bytes` the socket takes without waiting. async-std lends no
/// descriptor, so this is one poll of its write with a waker that is never
/// needed: the write tries the system call before it would wait.
fn write_now(mut stream: &TcpStream, bytes: &[u8]) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut stream).poll_write(&mut cx, bytes) {
        Poll::Ready(Ok(written)) => written,
        _ => 0,
    }
}

/// Reads until the `hello` line is complete; returns the bytes after it.
fn handshake(stream: &TcpStream) -> impl Future<Output = Result<Vec<u8>, Ending>> + '_ {
    model::handshake::read_handshake(|max| recv(stream, max))
}

/// Waits until the socket takes some of `bytes`; returns how many it took.
///
/// The socket's own `poll_write` in a `poll_fn`: the future is two
/// references, where `write(..)` would be a future of its own to keep.
fn send<'a>(
    stream: &'a TcpStream,
    bytes: &'a [u8],
) -> impl Future<Output = io::Result<usize>> + 'a {
    poll_fn(move |cx| Pin::new(&mut &*stream).poll_write(cx, bytes))
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding no buffer while it waits: each poll borrows the thread's scratch
/// buffer only for the read it makes, and a read that would block leaves
/// the waker with the socket, not a buffer with the task.
fn recv(stream: &TcpStream, max: usize) -> impl Future<Output = io::Result<Vec<u8>>> + '_ {
    poll_fn(move |cx| {
        model::scratch::with(max, |buf| {
            Pin::new(&mut &*stream)
                .poll_read(cx, buf)
                .map_ok(|n| buf[..n].to_vec())
        })
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
        Some(idle) => Box::pin(async_std::future::timeout(idle, operation()))
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
        async_std::task::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let counters = Arc::new(Counters::default());
            let admitted = counters.admit(usize::MAX).unwrap();
            let (done, _all_done) = async_std::channel::bounded(1);
            let (_abort, aborted) = async_std::channel::bounded(1);
            let config = Arc::new(Config::default());
            let task = connection_task(stream, config, admitted, done, aborted);
            assert!(size_of_val(&task) <= 392, "{} bytes", size_of_val(&task));
            drop(client);
        });
    }
}
