//! `smol`: async/await from small, separate pieces: `async-executor` for
//! tasks, `async-io` for readiness and timers.
//!
//! A `smol::Executor` runs on `--workers` threads (default: cores; `1` is
//! the single-threaded variant), and async-io's reactor blocks in
//! `epoll_wait`. Each connection is a task that reads like the blocking
//! server. Concurrency is bounded by `--max-conns`. The weakness: the
//! pieces are yours to assemble (threads, shutdown, cancellation), which is
//! more code than a batteries-included runtime asks for.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_smol::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! The executor is shared by the calling thread, which runs the accept loop
//! to completion, and `--workers - 1` helper threads, which run it until a
//! channel closes. Signals travel as closed channels, as in the
//! `async-std` model: `stop` ends the accept loop, and the `done` senders
//! held by tasks count them. After the grace period, dropping the executor
//! cancels the tasks left (smol's own way; a per-task abort signal would
//! cost every connection a listener). An idle task holds no buffer: it
//! polls readiness (`poll_readable`) and reads through a per-thread
//! scratch buffer.
//!
//! # What a connection costs
//!
//! An idle connection is 707 B of heap (`tests/footprint.rs`, 500
//! connections) and about 690 B of RSS at 10,000: its task, 392 B (a
//! 328-byte future, checked by a test, in async-task's header), async-io's `Source` for the socket, 216 B, and its
//! share of the reactor's and executor's tables. The future keeps no timer
//! unless `--idle-timeout` is set, and no buffer at all.

mod server;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::{Concurrency, Config, Counters, Model, Shutdown, config::cores};
use smol::Executor;

/// The `smol` model.
pub const MODEL: Model = Model {
    name: "smol",
    summary: "a smol::Executor on --workers threads with async-io (--workers 1: single-threaded)",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` on a smol executor; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let executor = Arc::new(Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    shutdown.on_trigger(move || drop(stop));
    let helpers = config.workers_or(cores()).saturating_sub(1);
    let (release, released) = smol::channel::bounded::<()>(1);
    let result = std::thread::scope(|scope| {
        for i in 0..helpers {
            let (executor, released) = (executor.clone(), released.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("smol-worker-{}", i + 1))
                .spawn_scoped(scope, move || {
                    smol::block_on(executor.run(async { released.recv().await.ok() }))
                });
            if let Err(err) = spawned {
                drop(release);
                return Err(err);
            }
        }
        let serving = server::run(
            executor.clone(),
            listener,
            Arc::new(config),
            counters,
            stopped,
        );
        let result = smol::block_on(executor.run(serving));
        drop(release);
        result
    });
    // The workers have returned; the last handle cancels the tasks that
    // outlived the grace period.
    drop(executor);
    shutdown.trigger();
    result
}
