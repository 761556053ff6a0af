//! `thread-per-conn`: the article's threaded server, one OS thread per connection.
//!
//! The accept thread blocks in `accept` and spawns a thread (with a small
//! `--stack-size` stack) for each connection, which blocks in its own `read`
//! and `write`. Concurrency is bounded by `--max-conns` and by how many
//! threads the kernel lets one process map. The weakness: every idle client
//! costs a whole thread (a stack, kernel scheduling state, a context switch
//! to wake it), and the cost is paid even when nothing happens.
//!
//! # Implementation
//!
//! Spawning can fail, and on Linux a thread that cannot map its signal stack
//! aborts the whole process, so the model never lets the number of live
//! connection threads reach the kernel's limit: it caps `--max-conns` at
//! [`thread_limit`], and a failed spawn becomes a rejected connection.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::connections::Connections;
use model::{Concurrency, Config, Counters, Model, Rejection, Shutdown, listener, session};

/// The `thread-per-conn` model.
pub const MODEL: Model = Model {
    name: "thread-per-conn",
    summary: "one OS thread per connection, with a small stack (--stack-size)",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &["--stack-size"],
    available: model::always_available,
};

/// Memory mappings a thread costs: its stack and guard page, and std's
/// signal stack and its guard page.
const MAPS_PER_THREAD: usize = 4;

/// Serves `listener` until `shutdown`, one thread per connection; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let capped = Config {
        max_conns: config.max_conns.min(thread_limit()),
        ..config
    };
    let connections = Connections::new(&capped, counters, &shutdown);
    let config = Arc::new(capped);
    let result = listener::accept_loop(&listener, &shutdown, |stream| {
        let Some(conn) = connections.admit(stream) else {
            return;
        };
        let conn = conn.if_unserved(Rejection::NoResources);
        let config = config.clone();
        // On failure the closure, and with it the connection, is dropped:
        // the client is closed without `hello\n` and counted as rejected.
        let _ = std::thread::Builder::new()
            .stack_size(config.stack_size)
            .spawn(move || {
                let ending = session::serve(conn.stream(), &config);
                conn.finish(ending);
            });
    });
    shutdown.trigger();
    connections.drain();
    result
}

/// How many connection threads this process can safely have: the stacks
/// that fit below `vm.max_map_count` (see [`model::stacks`]), and at most
/// half of `kernel.threads-max`.
pub fn thread_limit() -> usize {
    let threads = process_stats::sysctl_number("kernel/threads-max")
        .and_then(|value| usize::try_from(value).ok())
        .unwrap_or(usize::MAX);
    model::stacks::limit(MAPS_PER_THREAD)
        .min(threads / 2)
        .max(1)
}
