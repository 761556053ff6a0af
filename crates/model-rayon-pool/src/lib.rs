//! `rayon-pool`: connections as jobs on rayon's work-stealing thread pool.
//!
//! The accept thread blocks in `accept` and `spawn`s each connection onto a
//! `rayon::ThreadPool` of `--workers` threads (default 4 x cores); a worker
//! runs the blocking session to its end. Concurrency is the number of
//! workers. The weakness is a category error: rayon is built for CPU work
//! that finishes, and work stealing balances CPU, not waiting. A worker
//! blocked in `read` is lost to the pool, so with every worker parked on an
//! idle client, connection `workers + 1` waits in rayon's unbounded queue
//! while the CPU sits idle.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::connections::Connections;
use model::{Concurrency, Config, Counters, Model, Shutdown, listener, session};

/// The `rayon-pool` model.
pub const MODEL: Model = Model {
    name: "rayon-pool",
    summary: "connections spawned as jobs on a rayon work-stealing pool of --workers threads",
    serve,
    concurrency: Concurrency::Bounded {
        limit: Config::pool_workers,
        why: "a rayon worker blocked in read() is lost to the pool; job workers+1 waits in rayon's queue",
    },
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` on a rayon pool; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let connections = Connections::new(&config, counters, &shutdown);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.pool_workers())
        .stack_size(config.stack_size)
        .thread_name(|i| format!("rayon-worker-{i}"))
        // rayon aborts the process when a job panics; one connection must
        // never be able to do that.
        .panic_handler(|_| {})
        .build()
        .map_err(io::Error::other)?;
    let config = Arc::new(config);
    let result = listener::accept_loop(&listener, &shutdown, |stream| {
        if let Some(conn) = connections.admit(stream) {
            let config = config.clone();
            pool.spawn(move || {
                let ending = session::serve(conn.stream(), &config);
                conn.finish(ending);
            });
        }
    });
    shutdown.trigger();
    connections.drain();
    result
}
