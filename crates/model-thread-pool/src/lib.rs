//! `thread-pool`: a fixed set of threads, each serving one connection to its end.
//!
//! The accept thread blocks in `accept` and hands each connection to a
//! bounded crossbeam channel; `--workers` threads (default 4 x cores) take
//! connections from it and block in their `read` and `write`. Concurrency is
//! the number of workers: connection `workers + 1` waits in the queue, then
//! in the listen backlog once the queue is full, however idle the busy
//! workers are. The weakness: a few slow clients starve everyone else.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::connections::{Conn, Connections};
use model::{Concurrency, Config, Counters, Model, Shutdown, listener, session};

/// The `thread-pool` model.
pub const MODEL: Model = Model {
    name: "thread-pool",
    summary: "--workers threads (default 4 x cores) fed by a bounded crossbeam channel",
    serve,
    concurrency: Concurrency::Bounded {
        limit: Config::pool_workers,
        why: "each worker serves one connection to its end; connection workers+1 waits in the queue",
    },
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` with a fixed pool of workers; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let connections = Connections::new(&config, counters, &shutdown);
    let workers = config.pool_workers();
    // One waiting connection per worker: enough to keep workers busy, small
    // enough that a full pool pushes back on the listen backlog.
    let (queue, jobs) = crossbeam_channel::bounded::<Conn>(workers);
    let config = Arc::new(config);
    let mut threads = Vec::with_capacity(workers);
    for i in 0..workers {
        let jobs = jobs.clone();
        let config = config.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pool-worker-{i}"))
            .stack_size(config.stack_size)
            .spawn(move || {
                for conn in jobs {
                    let ending = session::serve(conn.stream(), &config);
                    conn.finish(ending);
                }
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(err) => {
                drop(queue);
                join(threads);
                return Err(err);
            }
        }
    }
    drop(jobs);
    let result = listener::accept_loop(&listener, &shutdown, |stream| {
        if let Some(conn) = connections.admit(stream) {
            // Blocks while every worker is busy and the queue is full. Workers
            // hold the receiving end until this function returns, so the send
            // cannot fail; if it did, the connection would be dropped unserved.
            let _ = queue.send(conn);
        }
    });
    shutdown.trigger();
    drop(queue);
    connections.drain();
    join(threads);
    result
}

fn join(threads: Vec<std::thread::JoinHandle<()>>) {
    for thread in threads {
        let _ = thread.join();
    }
}
