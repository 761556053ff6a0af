//! `monoio`: a production thread-per-core runtime on io_uring, the one a
//! Rust user would pick instead of both tokio and a hand-written ring.
//!
//! `--workers` threads (default: cores), each with a runtime of its own and
//! its own `SO_REUSEPORT` listener; nothing is shared or stolen between
//! them. A thread blocks only in `io_uring_enter` (or `epoll_wait`, on the
//! legacy driver). Each connection is a task that owns its buffer and hands
//! it to the kernel for every read and write. Concurrency is bounded by
//! `--max-conns`. The weakness: no work stealing, so one busy connection
//! slows only its own thread's others; and an owned-buffer API where a
//! connection's buffer is lent to the kernel while it waits.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_monoio::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! monoio's `FusionDriver` picks io_uring where the kernel allows it and
//! its epoll driver otherwise; the summary line says which served
//! (`driver=io_uring` or `driver=legacy`). The ring defers task work to
//! the thread that waits (`DEFER_TASKRUN`, `SINGLE_ISSUER`), a runtime
//! knob chosen for what it measured. Reads and writes are monoio's
//! own (`AsyncReadRent`, `AsyncWriteRent`): the buffer moves into the
//! operation and comes back with its result. Every operation a connection
//! waits in is registered with a `Canceller`, so that an idle timeout, or
//! the end of the grace period, takes the buffer back instead of leaving
//! an operation in the kernel. No `unsafe`.
//!
//! When the idle timer ends with echo bytes still owed, the write is
//! offered once more without waiting (see `model::idle`): issued, and
//! cancelled unless it completes at once. io_uring tries a send when it is
//! submitted, so this works there; monoio's epoll driver tries one only
//! after the socket was reported writable, so on that driver a client
//! that reads slowly but steadily is cut as idle (a conformance case it
//! misses by design, checked in `tests/legacy_driver.rs`). On that driver
//! `no_starvation` also fails in most runs of a debug build, though not of
//! a release build (the same file says what was measured).
//!
//! # What a connection costs
//!
//! An idle connection holds its buffer, lent to the kernel in a pending
//! read: `--buffer` bytes of heap (16 KiB by default, one page of it
//! resident), a 2,560-byte task and its canceller, about 19 KB of heap and
//! 7 KB of RSS at 10,000 (`tests/footprint.rs`, `scripts/rss-per-conn.sh`).
//! That is the owned-buffer model's price: a readiness model reads into a
//! buffer it borrows only once bytes are there.

mod server;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::listener::{self, Backoff, is_resource_exhaustion};
use model::{Concurrency, Config, Counters, Model, Shutdown, config::cores};
use monoio::{FusionDriver, FusionRuntime, LegacyDriver, RuntimeBuilder};

/// The `monoio` model.
pub const MODEL: Model = Model {
    name: "monoio",
    summary: "a monoio runtime per worker thread (thread-per-core, io_uring or epoll), each with its own listener",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available: model::always_available,
};

/// Which of monoio's drivers a runtime runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring where the kernel allows it, else epoll (monoio's `FusionDriver`).
    Fastest,
    /// epoll, always: the fallback, served on purpose (to test it).
    Legacy,
}

/// Serves `listener` until `shutdown` on `--workers` monoio runtimes; see
/// [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    serve_on(Driver::Fastest, listener, config, shutdown, counters)
}

/// [`serve`] on the given driver.
pub fn serve_on(
    driver: Driver,
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let workers = config.workers_or(cores());
    listener::serve_shards(listener, workers, "monoio-worker", &shutdown, |listener| {
        serve_one(driver, listener, &config, &shutdown, &counters)
    })
}

/// One worker: a runtime of its own on the calling thread, serving one shard.
fn serve_one(
    driver: Driver,
    listener: TcpListener,
    config: &Config,
    shutdown: &Shutdown,
    counters: &Arc<Counters>,
) -> io::Result<()> {
    // A handle the shutdown can reach from the signal thread: shutting the
    // listener down for reading makes the runtime's pending accept fail.
    let Some(stopper) = when_descriptors_allow(shutdown, || listener.try_clone())? else {
        return Ok(());
    };
    shutdown.on_trigger(move || listener::stop_listening(&stopper));
    let serving = server::run(listener, config.clone(), counters.clone(), shutdown.clone());
    match driver {
        Driver::Fastest => {
            let build = || {
                // Task work deferred to the thread that waits, as liburing
                // advises for a ring one thread owns: 18% less CPU per
                // message than monoio's default ring here (docs/models.md).
                // Kernels before 6.1 refuse it; they get the default ring.
                let mut ring = io_uring_06::IoUring::builder();
                ring.setup_coop_taskrun()
                    .setup_single_issuer()
                    .setup_defer_taskrun();
                let tuned = RuntimeBuilder::<FusionDriver>::new()
                    .uring_builder(ring)
                    .enable_timer()
                    .build();
                match tuned {
                    Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                        RuntimeBuilder::<FusionDriver>::new().enable_timer().build()
                    }
                    built => built,
                }
            };
            let Some(mut runtime) = when_descriptors_allow(shutdown, build)? else {
                return Ok(());
            };
            counters.set_detail(match runtime {
                FusionRuntime::Uring(_) => "driver=io_uring",
                FusionRuntime::Legacy(_) => "driver=legacy",
            });
            runtime.block_on(serving)
        }
        Driver::Legacy => {
            let build = || RuntimeBuilder::<LegacyDriver>::new().enable_timer().build();
            let Some(mut runtime) = when_descriptors_allow(shutdown, build)? else {
                return Ok(());
            };
            counters.set_detail("driver=legacy");
            runtime.block_on(serving)
        }
    }
}

/// Runs `setup` until it stops failing for want of descriptors; `None` if
/// the shutdown comes first. A worker makes its ring once it runs, and a
/// burst of connections that another worker accepts may have taken every
/// descriptor by then: this worker waits for one, as an accept would,
/// instead of ending the server.
fn when_descriptors_allow<T>(
    shutdown: &Shutdown,
    mut setup: impl FnMut() -> io::Result<T>,
) -> io::Result<Option<T>> {
    let mut backoff = Backoff::new();
    loop {
        if shutdown.is_triggered() {
            return Ok(None);
        }
        match setup() {
            Err(err) if is_resource_exhaustion(&err) => std::thread::sleep(backoff.next_delay()),
            result => return result.map(Some),
        }
    }
}
