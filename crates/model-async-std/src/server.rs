//! The accept loop and the connection handler.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use async_std::channel::{Receiver, Sender};
use async_std::io::{Read, Write, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use futures_lite::future;
use model::budget::Budget;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending};
use protocol::{REPLY, Reject};

thread_local! {
    /// The read buffer of every task that runs on this thread; borrowed only
    /// inside one synchronous poll, never across `.await`.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

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
async fn connection_task(
    stream: TcpStream,
    config: Arc<Config>,
    admitted: Admitted,
    done: Sender<()>,
    aborted: Receiver<()>,
) {
    let ending = future::or(handler(&stream, &config), async {
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

/// One connection, start to finish.
async fn handler(stream: &TcpStream, config: &Config) -> Ending {
    match session(stream, config).await {
        Ok(()) => Ending::Completed,
        Err(ending) => ending,
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
        let msg = within(config.idle_timeout, recv(stream, config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        write_all(stream, &msg, config.idle_timeout).await?;
        budget.spend(2).await;
    }
}

/// Writes all of `bytes`; idle only when no byte moves for the idle
/// timeout (see [`model::idle`]), not when the whole buffer takes longer.
async fn write_all(stream: &TcpStream, bytes: &[u8], idle: Option<Duration>) -> Result<(), Ending> {
    let write = |rest| {
        let mut socket = stream;
        within(idle, async move { socket.write(rest).await })
    };
    model::idle::write_all(bytes, write, |rest| write_now(stream, rest)).await
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
async fn handshake(stream: &TcpStream) -> Result<Vec<u8>, Ending> {
    model::handshake::read_handshake(|max| recv(stream, max)).await
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding one byte, not a buffer, while it waits.
async fn recv(stream: &TcpStream, max: usize) -> io::Result<Vec<u8>> {
    loop {
        // Readiness: async-std has no `readable()`, but a peek waits the same way.
        stream.peek(&mut [0u8; 1]).await?;
        let read = SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < max {
                scratch.resize(max, 0);
            }
            // Bytes are there, so one poll reads them; the no-op waker is
            // never needed (a spurious `Pending` just waits in `peek` again).
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(&mut &*stream).poll_read(&mut cx, &mut scratch[..max]) {
                Poll::Ready(result) => Some(result.map(|n| scratch[..n].to_vec())),
                Poll::Pending => None,
            }
        });
        if let Some(result) = read {
            return result;
        }
    }
}

/// Runs one I/O operation under the idle timeout, if there is one.
async fn within<T>(
    idle: Option<Duration>,
    operation: impl Future<Output = io::Result<T>>,
) -> Result<T, Ending> {
    let result = match idle {
        None => operation.await,
        Some(idle) => async_std::future::timeout(idle, operation)
            .await
            .map_err(|_elapsed| Ending::IdleTimeout)?,
    };
    result.map_err(Ending::Failed)
}
