//! `async-std`: async/await on async-std, the runtime that mirrors `std`'s API.
//!
//! async-std's global executor runs tasks on `--workers` threads (default:
//! cores), and its reactor thread blocks in `epoll_wait`. Each connection is
//! a task that reads like the blocking server. Concurrency is bounded by
//! `--max-conns`. The weakness: one runtime per process, configured once
//! (a second server in the same process shares the first one's threads),
//! and an API without readiness calls, so waiting without a buffer means
//! polling its `AsyncRead` by hand.
//!
//! async-std is discontinued upstream; its maintainers point to `smol`,
//! which shares its building blocks (`async-executor`, `async-io`). The
//! model stays because people still compare against it.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_async_std::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! Channels carry every signal: the `Shutdown` hook closes a `stop`
//! channel, which ends the accept loop; each connection task holds a sender
//! of a `done` channel, so that the channel closes when the last task ends;
//! and closing an `abort` channel after the grace period makes every task
//! drop its handler (the global executor cannot be dropped, so each task
//! waits on the channel too: a 40-byte listener per connection). An idle
//! task holds no buffer: its read is a `poll_read` into a per-thread
//! scratch buffer, borrowed only for that poll.
//!
//! # What a connection costs
//!
//! An idle connection is 883 B of heap (`tests/footprint.rs`, 500
//! connections) and about 870 B of RSS at 10,000: its task, 496 B (a
//! 392-byte future, checked by a test, in async-std's task header), async-io's `Source`, 216 B, the socket's
//! `Arc<Async<TcpStream>>`, 32 B, the abort listener, 40 B, and its share
//! of the runtime's tables. The future keeps no timer unless
//! `--idle-timeout` is set.

mod server;

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Once};

use model::{Concurrency, Config, Counters, Model, Shutdown, config::cores};

/// The `async-std` model.
pub const MODEL: Model = Model {
    name: "async-std",
    summary: "an async-std task per connection (async-std is discontinued upstream)",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` on async-std's runtime; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    configure_runtime(config.workers_or(cores()));
    let (stop, stopped) = async_std::channel::bounded::<()>(1);
    shutdown.on_trigger(move || drop(stop));
    let result =
        async_std::task::block_on(server::run(listener, Arc::new(config), counters, stopped));
    shutdown.trigger();
    result
}

/// Sizes async-std's global executor. It exists once per process, so only
/// the first server of a process decides its thread count.
fn configure_runtime(workers: usize) {
    static CONFIGURED: Once = Once::new();
    CONFIGURED.call_once(|| {
        async_global_executor::init_with_config(
            async_global_executor::GlobalExecutorConfig::default()
                .with_min_threads(workers)
                .with_max_threads(workers)
                .with_thread_name_fn(|| "async-std-worker".to_string()),
        );
    });
}
