//! `io-uring`: completion instead of readiness, the step Linux servers took
//! after epoll.
//!
//! One thread and one ring per worker (`--workers`, default 1, each with its
//! own `SO_REUSEPORT` listener). The thread blocks only in
//! `io_uring_enter`, once per turn, which submits what is queued and reaps
//! what is complete. Concurrency is bounded by `--max-conns`; memory for
//! data by a pool of receive buffers the kernel picks from. The weakness:
//! every buffer handed to the kernel is a promise to keep it alive until the
//! operation completes, which is why this model has the workspace's only
//! `unsafe` submission path, and why a ring needs a kernel (Linux 6.0 for
//! multishot receive; a seccomp profile that allows io_uring) to run at all.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_io_uring::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The kernel features it uses
//!
//! - A multishot accept: one submission accepts every connection.
//!   Accepted sockets inherit `TCP_NODELAY` from the listener.
//! - The handshake is read with a poll and a peek (`MSG_PEEK`, then a read
//!   of the line's bytes only), not through the ring: a connection touches
//!   no buffer before it echoes, and bytes pipelined behind the line stay
//!   in the socket for the ring's receive.
//! - A multishot receive per connection into a ring-mapped provided-buffer
//!   ring (`IORING_REGISTER_PBUF_RING`): one submission serves every message
//!   a connection sends, and the kernel picks the buffer. Its total is
//!   capped (`optlen`, Linux 6.16) at what the connection may still owe, so
//!   backpressure is the receive ending by itself; older kernels fall back
//!   to cancelling it, with one line on standard error.
//! - The echo is sent straight from the buffer the receive filled; the
//!   buffer goes back to the ring by a memory store once sent, no submission.
//! - No timer operations: handshake and idle deadlines are one lazy heap in
//!   user space (`timers`), and the wait is bounded by the next deadline.
//! - `DEFER_TASKRUN` and `SINGLE_ISSUER`: completions are processed only
//!   inside `io_uring_enter`, never by interrupting the thread.
//! - `--batch-wait SECS` (off by default): the kernel's minimum wait (Linux
//!   6.12) lets one wake-up take up to 64 completions. Measured below, it
//!   costs more than it saves on the machine of record.
//!
//! # What a connection costs
//!
//! An idle connection is its 64-byte state in the slab (`connection`) and
//! nothing else: no buffer, no timer entry without an idle timeout. The pool
//! (`buffers`) is 8 MiB of untouched memory: a buffer costs a page only
//! once the kernel writes it, the ring holds 128 at a time, and buffers come
//! back to it most recently used first, so its resident size follows the
//! bytes in flight, not the connections. When the ring runs dry, the
//! receives that ended for want of a buffer are armed again oldest first,
//! as many as it has buffers for.
//!
//! # What it gave, measured
//!
//! See the `io-uring` section of `docs/models.md`: server CPU per message
//! against `epoll-callback` in the same runs, before and after, and user
//! memory per idle connection at 10,000.
//!
//! # Implementation
//!
//! - `ring`: `user_data` encoding and the one `unsafe` push, whose safety
//!   contract the event loop keeps; a kernel that refuses a submission for
//!   a moment (`EBUSY`, `EAGAIN`) is waited out, not fatal.
//! - `event_loop`: one place (`EventLoop::drive`) decides
//!   a connection's operations from its state; at the end every pending
//!   operation is cancelled and reaped before any memory is freed.

mod buffers;
mod connection;
mod event_loop;
mod ring;
mod timers;

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
    extra_flags: &["--batch-wait"],
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
