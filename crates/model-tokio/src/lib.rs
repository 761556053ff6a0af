//! `tokio`: the article's conclusion, async/await on a production runtime.
//!
//! `--workers` threads (default: cores) run tokio's work-stealing scheduler,
//! or one with `--flavor current-thread`. Each connection is a task that
//! reads like the blocking server; tasks block only at `.await`, and the
//! threads block only in `epoll_wait`. Concurrency is bounded by
//! `--max-conns`. The weakness: a runtime is a large dependency and its
//! scheduling is invisible in the code; a task that computes without
//! awaiting still holds a worker hostage.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_tokio::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! The runtime is private: [`serve`] builds it and blocks on it. Shutdown
//! is the tokio way: the `Shutdown` handle cancels a `CancellationToken`,
//! which stops the accept loop; a `TaskTracker` waits for the connection
//! tasks for the grace period, then dropping the runtime cancels the rest.
//! `--max-conns` is the shared lock-free admission (`Counters::admit`)
//! rather than a semaphore, so every model counts and rejects the same way.
//! An idle connection holds no buffer: a task polls readiness
//! (`poll_read_ready`) and reads through a per-thread scratch buffer only
//! once bytes are there.
//!
//! # What a connection costs
//!
//! An idle connection is about 800 B of heap (`tests/footprint.rs`, 500
//! connections) and 1,170 B of RSS at 10,000: its task, 512 B (a
//! 328-byte future, checked by a test, in a task cell tokio aligns to 128
//! bytes), and the socket's `ScheduledIo`, 256 B (also aligned to 128).
//! glibc serves such aligned allocations by splitting larger chunks, which
//! is most of the gap between heap and RSS. The future keeps no
//! readiness waiter (polling readiness leaves the waker in the socket's
//! `ScheduledIo`), no cancellation token (dropping the runtime cancels),
//! and no timer unless `--idle-timeout` is set.

mod server;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::{Concurrency, Config, Counters, Flavor, Model, Shutdown, config::cores};
use tokio_util::sync::CancellationToken;

/// The `tokio` model.
pub const MODEL: Model = Model {
    name: "tokio",
    summary: "a tokio task per connection on --workers threads (or --flavor current-thread)",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &["--flavor"],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` on a tokio runtime; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let mut builder = match config.flavor {
        Flavor::MultiThread => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(config.workers_or(cores()));
            builder
        }
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    let runtime = builder.enable_all().thread_name("tokio-worker").build()?;
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    shutdown.on_trigger(move || cancel.cancel());
    let result = runtime.block_on(server::run(listener, Arc::new(config), counters, stop));
    // Cancels the tasks that outlived the grace period and joins the
    // worker threads.
    drop(runtime);
    shutdown.trigger();
    result
}
