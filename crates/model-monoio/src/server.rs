//! The accept loop, the cancellers that end what connections wait in, and
//! a connection's session with owned buffers.

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use model::config::deadline;
use model::listener::{Backoff, is_per_connection_accept_error, is_resource_exhaustion};
use model::{Admitted, Config, Counters, Ending, Rejection, Shutdown};
use monoio::buf::{IoBuf, Slice};
use monoio::io::{CancelHandle, CancelableAsyncReadRent, CancelableAsyncWriteRent, Canceller};
use monoio::net::{TcpListener, TcpStream};
use monoio::time::sleep;
use protocol::{Handshake, Progress, REPLY, Reject};
use slab::Slab;

/// How often the end of the grace period looks whether connections remain.
const GRACE_POLL: Duration = Duration::from_millis(5);
/// How long cancelled connections may take to notice, after the grace period.
const CANCEL_SLACK: Duration = Duration::from_secs(5);

/// Accepts until the shutdown, a task per connection; then gives the tasks
/// the grace period and cancels what those still open wait in.
pub(crate) async fn run(
    listener: std::net::TcpListener,
    config: Config,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> io::Result<()> {
    // The epoll driver needs it; io_uring does not mind.
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let config = Rc::new(config);
    let live = Rc::new(Live::default());
    let mut backoff = Backoff::new();
    let result = loop {
        let accepted = listener.accept().await;
        if shutdown.is_triggered() {
            // `stop_listening` makes a pending accept fail: that is the shutdown.
            if accepted.is_ok() {
                counters.refuse(Rejection::ShuttingDown);
            }
            break Ok(());
        }
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) if is_resource_exhaustion(&err) => {
                sleep(backoff.next_delay()).await;
                continue;
            }
            Err(err) if is_per_connection_accept_error(&err) => continue,
            Err(err) => break Err(err),
        };
        backoff.reset();
        let Some(admitted) = counters.admit(config.max_conns) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn::enter(&live);
        monoio::spawn(connection_task(stream, config.clone(), admitted, conn));
    };
    drop(listener);
    live.wait_until_empty(config.grace).await;
    live.cancel_all();
    live.wait_until_empty(CANCEL_SLACK).await;
    result
}

/// A connection's task.
#[allow(clippy::manual_async_fn)] // an `async fn` would hold its arguments twice
fn connection_task(
    mut stream: TcpStream,
    config: Rc<Config>,
    admitted: Admitted,
    conn: Conn,
) -> impl Future<Output = ()> {
    async move {
        let ending = match session(&mut stream, &config, &conn).await {
            Ok(()) => Ending::Completed,
            Err(_) if conn.live.closing.get() => Ending::ShutDown,
            Err(ending) => ending,
        };
        // Free the connection's place under --max-conns before the client can
        // see the close: a client that connects again at once is admitted.
        admitted.finish(&ending);
        drop(stream);
    }
}

/// One connection, start to finish. The buffer is the connection's own:
/// it goes into each read and each write, and comes back with the result.
async fn session(stream: &mut TcpStream, config: &Config, conn: &Conn) -> Result<(), Ending> {
    let mut buf = Vec::with_capacity(config.buffer);
    let handshake_ends = deadline(Instant::now(), config.handshake_timeout);
    let mut parser = Handshake::new();
    let leftover_at = loop {
        let left = handshake_ends.saturating_duration_since(Instant::now());
        let (read, returned) = conn.read(stream, buf, Some(left)).await;
        buf = returned;
        match read {
            Ok(0) => return Err(Ending::rejected(Reject::EndOfStream)),
            Ok(_) => {}
            Err(Ending::IdleTimeout) => return Err(Ending::rejected(Reject::Timeout)),
            Err(_) => return Err(Ending::rejected(Reject::Broken)),
        }
        match parser.feed(&buf) {
            Progress::NeedMore => {}
            Progress::Accepted { leftover } => break buf.len() - leftover.len(),
            Progress::Rejected(why) => return Err(Ending::rejected(why)),
        }
    };
    conn.write_all(stream, REPLY, config.idle_timeout).await.0?;
    let (written, returned) = conn
        .write_all(stream, buf.slice(leftover_at..), config.idle_timeout)
        .await;
    buf = returned.into_inner();
    written?;
    loop {
        let (read, returned) = conn.read(stream, buf, config.idle_timeout).await;
        buf = returned;
        if read? == 0 {
            return Ok(());
        }
        let (written, returned) = conn.write_all(stream, buf, config.idle_timeout).await;
        buf = returned;
        written?;
    }
}

/// The connections of one worker, each with the `Canceller` its current
/// operation is registered with.
#[derive(Default)]
struct Live {
    cancellers: RefCell<Slab<Canceller>>,
    /// Set at the end of the grace period: connections start nothing more.
    closing: Cell<bool>,
}

impl Live {
    fn is_empty(&self) -> bool {
        self.cancellers.borrow().is_empty()
    }

    /// Waits until no connection is left, or `at_most` has passed.
    async fn wait_until_empty(&self, at_most: Duration) {
        let ends = deadline(Instant::now(), at_most);
        while !self.is_empty() && Instant::now() < ends {
            sleep(GRACE_POLL).await;
        }
    }

    /// Ends every operation that every connection waits in.
    fn cancel_all(&self) {
        self.closing.set(true);
        let keys: Vec<usize> = self
            .cancellers
            .borrow()
            .iter()
            .map(|(key, _)| key)
            .collect();
        for key in keys {
            self.cancel(key);
        }
    }

    /// Ends the operations registered with connection `key`'s canceller,
    /// and gives the connection a fresh one.
    fn cancel(&self, key: usize) {
        let mut cancellers = self.cancellers.borrow_mut();
        if let Some(canceller) = cancellers.get_mut(key) {
            *canceller = std::mem::take(canceller).cancel();
        }
    }
}

/// One connection's place in [`Live`]; leaving it (on drop) removes it.
struct Conn {
    live: Rc<Live>,
    key: usize,
}

impl Conn {
    fn enter(live: &Rc<Live>) -> Conn {
        let key = live.cancellers.borrow_mut().insert(Canceller::new());
        Conn {
            live: live.clone(),
            key,
        }
    }

    /// The handle to register the next operation with; `None` once the
    /// server is closing, so that nothing new starts.
    fn handle(&self) -> Option<CancelHandle> {
        if self.live.closing.get() {
            return None;
        }
        self.live
            .cancellers
            .borrow()
            .get(self.key)
            .map(Canceller::handle)
    }

    /// Reads into `buf` (from its start, up to its capacity). With `wait`,
    /// a read that gets nothing for that long is cancelled and ends as
    /// [`Ending::IdleTimeout`].
    async fn read(
        &self,
        stream: &mut TcpStream,
        buf: Vec<u8>,
        wait: Option<Duration>,
    ) -> (Result<usize, Ending>, Vec<u8>) {
        let Some(handle) = self.handle() else {
            return (Err(Ending::ShutDown), buf);
        };
        let ((read, buf), timed_out) = self.timed(stream.cancelable_read(buf, handle), wait).await;
        let read = match read {
            // Bytes that came as the timer ended are bytes all the same.
            Ok(n) => Ok(n),
            Err(_) if timed_out => Err(Ending::IdleTimeout),
            Err(err) => Err(Ending::Failed(err)),
        };
        (read, buf)
    }

    /// Writes all of `buf`; idle only when no byte moves for `idle` (see
    /// [`model::idle`]): a write the timer cancels with nothing taken is
    /// offered once more without waiting before the connection counts as
    /// idle.
    async fn write_all<T: IoBuf>(
        &self,
        stream: &mut TcpStream,
        mut buf: T,
        idle: Option<Duration>,
    ) -> (Result<(), Ending>, T) {
        let total = buf.bytes_init();
        let mut written = 0;
        while written < total {
            let Some(handle) = self.handle() else {
                return (Err(Ending::ShutDown), buf);
            };
            let write = stream.cancelable_write(buf.slice(written..), handle);
            let ((result, slice), timed_out) = self.timed(write, idle).await;
            buf = slice.into_inner();
            let taken = match result {
                Ok(0) => return (Err(Ending::Failed(io::ErrorKind::WriteZero.into())), buf),
                Ok(n) => n,
                Err(_) if timed_out => {
                    let (taken, returned) = self.write_now(stream, buf.slice(written..)).await;
                    buf = returned;
                    if taken == 0 {
                        return (Err(Ending::IdleTimeout), buf);
                    }
                    taken
                }
                Err(err) => return (Err(Ending::Failed(err)), buf),
            };
            written += taken;
        }
        (Ok(()), buf)
    }

    /// How many bytes of `buf` the socket takes right now: the write is
    /// issued and, unless it completes at once, cancelled. The kernel tries
    /// a send before it waits (io_uring on submission, ahead of the cancel
    /// queued behind it; the epoll driver in the first poll), so this is
    /// `send(MSG_DONTWAIT)` in monoio's owned-buffer terms.
    async fn write_now<T: IoBuf>(&self, stream: &mut TcpStream, buf: Slice<T>) -> (usize, T) {
        let Some(handle) = self.handle() else {
            return (0, buf.into_inner());
        };
        let mut write = pin!(stream.cancelable_write(buf, handle));
        let first = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        let (result, slice) = match first {
            Poll::Ready(done) => done,
            Poll::Pending => {
                self.live.cancel(self.key);
                write.await
            }
        };
        (result.unwrap_or(0), slice.into_inner())
    }

    /// Waits for `operation`; if `wait` passes first, cancels it and waits
    /// for what it completed with (the buffer comes back either way). The
    /// flag says whether the timer ended it.
    async fn timed<T>(
        &self,
        operation: impl Future<Output = T>,
        wait: Option<Duration>,
    ) -> (T, bool) {
        let mut operation = pin!(operation);
        let Some(wait) = wait else {
            return (operation.await, false);
        };
        monoio::select! {
            done = &mut operation => return (done, false),
            () = sleep(wait) => {}
        }
        self.live.cancel(self.key);
        (operation.await, true)
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.live.cancellers.borrow_mut().remove(self.key);
    }
}
