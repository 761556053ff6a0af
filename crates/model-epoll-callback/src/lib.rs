//! `epoll-callback`: the article's selectors server, as a mio event loop.
//!
//! One thread per loop (`--workers`, default 1, each loop with its own
//! `SO_REUSEPORT` listener). The loop blocks only in `epoll_wait`, and calls
//! each ready connection's callback, which reads and writes until the socket
//! would block. Concurrency is bounded by `--max-conns` and descriptors, not
//! threads. The weakness is the article's: a connection's logic is a state
//! machine split across callbacks, and one slow callback stalls every
//! connection on its loop.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_epoll_callback::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! - [`event_loop`] is the article's `while True: sel.select()` loop; the
//!   listener and a waker for the shutdown are tokens beside the
//!   connections, which live in a `Slab` keyed by their token.
//! - [`connection`] holds what the article kept in `is_hello`: each
//!   connection's phase (handshaking, echoing, draining) and the echo bytes
//!   it still owes. Reads go into one scratch buffer per loop; a connection
//!   allocates only while the client is not reading its echo, and stops
//!   reading until that drains (backpressure).
//! - [`timers`] keeps the handshake and idle deadlines in a heap whose
//!   earliest entry is the `poll` timeout: no thread and no system timer per
//!   connection.
//! - Out of descriptors, the loop deregisters its listener and re-arms it
//!   after a back-off, instead of waking for the same failing accept.

mod connection;
mod event_loop;
mod timers;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::{Concurrency, Config, Counters, Model, Shutdown};

use event_loop::EventLoop;

/// The `epoll-callback` model.
pub const MODEL: Model = Model {
    name: "epoll-callback",
    summary: "mio event loop with per-connection state machines; --workers loops share the port",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` with `--workers` event loops (default
/// 1); see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let config = Arc::new(config);
    let workers = config.workers_or(1);
    model::listener::serve_shards(listener, workers, "event-loop", &shutdown, |listener| {
        EventLoop::new(listener, config.clone(), counters.clone(), shutdown.clone())?.run()
    })
}
