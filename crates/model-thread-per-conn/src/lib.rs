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
/// Mappings left for the binary, libraries, heap and the allocator's arenas.
const RESERVED_MAPS: usize = 4096;

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

/// How many connection threads this process can safely have: a margin below
/// `vm.max_map_count` (each thread maps [`MAPS_PER_THREAD`] regions) and
/// below half of `kernel.threads-max`.
pub fn thread_limit() -> usize {
    let setting = |name: &str| {
        process_stats::sysctl_number(name).and_then(|value| usize::try_from(value).ok())
    };
    let maps = setting("vm/max_map_count").unwrap_or(65_530);
    let threads = setting("kernel/threads-max").unwrap_or(usize::MAX);
    (maps.saturating_sub(RESERVED_MAPS) / MAPS_PER_THREAD)
        .min(threads / 2)
        .max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn thread_limit_stays_below_the_map_count() {
        let limit = super::thread_limit();
        let maps = process_stats::sysctl_number("vm/max_map_count").unwrap() as usize;
        assert!(limit >= 1);
        assert!(limit * super::MAPS_PER_THREAD < maps);
    }
}
