//! `io-uring`: completion instead of readiness, the step Linux servers took
//! after epoll.
//!
//! One thread and one ring per worker (`--workers`, default 1, each with its
//! own `SO_REUSEPORT` listener). The thread blocks only in
//! `io_uring_enter`, waiting for operations it submitted (accept, receive,
//! send) to complete. Concurrency is bounded by `--max-conns`; memory for
//! data by a fixed pool of receive buffers the kernel picks from. The
//! weakness: every buffer handed to the kernel is a promise to keep it
//! alive until the operation completes, which is why this model has the
//! workspace's only `unsafe` submission path, and why a ring needs a kernel
//! (and a seccomp profile) that allow it.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_io_uring::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! - [`ring`]: `user_data` encoding and the one `unsafe` push, whose safety
//!   contract the event loop keeps. An operation and its linked timeout are
//!   pushed as one batch, so a full queue never sends the timeout alone;
//!   a kernel that refuses a submission for a moment (`EBUSY`, `EAGAIN`) is
//!   waited out, not fatal.
//! - [`buffers`]: a provided-buffer group. A receive names the group, not a
//!   buffer, so an idle connection holds none; the bytes are copied out and
//!   the buffer given back as soon as the receive completes. The pool is
//!   sized from an 8 MiB budget per ring, whatever `--buffer` is.
//! - [`connection`]: per-connection state, boxed so that the timeouts the
//!   kernel reads by address do not move.
//! - [`event_loop`]: one operation in flight per connection (backpressure:
//!   no receive while an echo is being sent), the handshake deadline as an
//!   absolute linked timeout, the idle timeout as a relative one, EMFILE
//!   back-off as a timer operation, and at the end every pending operation
//!   cancelled and reaped before any memory is freed.

mod buffers;
mod connection;
mod event_loop;
mod ring;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::{Concurrency, Config, Counters, Model, Shutdown};

use event_loop::{EventLoop, RING_ENTRIES};

/// The `io-uring` model.
pub const MODEL: Model = Model {
    name: "io-uring",
    summary: "io_uring completions: accept, recv and send as submitted operations, one ring per worker",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available,
};

/// Whether io_uring, with every operation this model uses, can be used here.
pub fn available() -> Result<(), String> {
    ring::check_available()
}

/// Serves `listener` until `shutdown` with `--workers` rings (default 1); see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    available().map_err(io::Error::other)?;
    let config = Arc::new(config);
    let workers = config.workers_or(1);
    model::listener::serve_shards(listener, workers, "ring", &shutdown, |listener| {
        let (config, counters) = (config.clone(), counters.clone());
        EventLoop::new(listener, config, counters, shutdown.clone(), RING_ENTRIES)?.run()
    })
}
