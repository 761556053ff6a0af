//! The accept loop and the connection handler.

use std::cell::RefCell;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending};
use protocol::{REPLY, Reject};
use smol::channel::{Receiver, Sender};
use smol::{Async, Executor, Timer, future};

thread_local! {
    /// The read buffer of every task that runs on this thread; borrowed only
    /// inside one non-blocking `read`, never across `.await`.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Accepts until `stopped` closes, a task per connection; then gives the
/// tasks the grace period and aborts those still running.
pub(crate) async fn run(
    executor: Arc<Executor<'static>>,
    listener: TcpListener,
    config: Arc<Config>,
    counters: Arc<Counters>,
    stopped: Receiver<()>,
) -> io::Result<()> {
    let listener = Async::new(listener)?;
    let (done, all_done) = smol::channel::bounded::<()>(1);
    let (abort, aborted) = smol::channel::bounded::<()>(1);
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
        let task = connection_task(
            stream,
            config.clone(),
            admitted,
            done.clone(),
            aborted.clone(),
        );
        executor.spawn(task).detach();
    };
    drop(listener);
    drop(done);
    let grace_ends = deadline(Instant::now(), config.grace);
    let grace = future::or(async { all_done.recv().await.is_err() }, async {
        Timer::at(grace_ends).await;
        false
    });
    if !grace.await {
        drop(abort);
        let _ = all_done.recv().await;
    }
    result
}

/// A connection's task: the handler, unless the abort comes first. The
/// `done` sender is dropped with the task, which is how `run` counts them.
async fn connection_task(
    stream: Async<TcpStream>,
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
async fn handler(stream: &Async<TcpStream>, config: &Config) -> Ending {
    match session(stream, config).await {
        Ok(()) => Ending::Completed,
        Err(ending) => ending,
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
        let msg = within(config.idle_timeout, recv(stream, config.buffer)).await?;
        if msg.is_empty() {
            return Ok(());
        }
        write_all(stream, &msg, config.idle_timeout).await?;
    }
}

/// Writes all of `bytes`; idle only when no byte moves for the idle
/// timeout (see [`model::idle`]), not when the whole buffer takes longer.
async fn write_all(
    stream: &Async<TcpStream>,
    bytes: &[u8],
    idle: Option<Duration>,
) -> Result<(), Ending> {
    let write = |rest| {
        within(
            idle,
            stream.write_with(move |mut socket| socket.write(rest)),
        )
    };
    let now = |rest: &[u8]| model::idle::send_now(stream.get_ref(), rest);
    model::idle::write_all(bytes, write, now).await
}

/// Reads until the `hello` line is complete; returns the bytes after it.
async fn handshake(stream: &Async<TcpStream>) -> Result<Vec<u8>, Ending> {
    model::handshake::read_handshake(|max| recv(stream, max)).await
}

/// Waits for bytes and returns up to `max` of them (empty at end-of-stream),
/// holding no buffer while it waits.
async fn recv(stream: &Async<TcpStream>, max: usize) -> io::Result<Vec<u8>> {
    loop {
        stream.readable().await?;
        let read = SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < max {
                scratch.resize(max, 0);
            }
            stream
                .get_ref()
                .read(&mut scratch[..max])
                .map(|n| scratch[..n].to_vec())
        });
        match read {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
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
        Some(idle) => future::or(async { Some(operation.await) }, async {
            Timer::after(idle).await;
            None
        })
        .await
        .ok_or(Ending::IdleTimeout)?,
    };
    result.map_err(Ending::Failed)
}
