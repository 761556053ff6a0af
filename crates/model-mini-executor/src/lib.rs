//! `mini-executor`: the article's generator-driven `Loop`, as a small
//! hand-written async executor and reactor, with no async runtime crate.
//!
//! One thread per executor (`--workers`, default 1, each with its own
//! `SO_REUSEPORT` listener). The thread blocks only in `epoll_wait`; each
//! connection is a task whose handler reads like the blocking server, and
//! every `.await` is a point where it yields to the loop. Concurrency is
//! bounded by `--max-conns` and descriptors. The weakness is shared with
//! every event loop: a task that computes instead of awaiting stalls all
//! the others, and nothing preempts it.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_mini_executor::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The article's `Loop`, piece by piece
//!
//! | `loop.py` | here |
//! | --- | --- |
//! | `self.queue` | the run queue of task ids in [`executor`]; a task's `Waker` pushes its id, once |
//! | `create_task(task)` | [`Executor::spawn`]: the future is boxed into a slab slot |
//! | `self.sel` and `register` | [`Reactor`]: each socket is registered once, and a future that gets `WouldBlock` leaves its `Waker` in the socket's slot |
//! | `polling()` | [`Reactor`]'s poll: `epoll_wait`, then wake the tasks whose sockets are ready and whose timers are due |
//! | `once()` | one round of [`Executor::block_on`]: poll every task queued before the round, then poll the reactor |
//! | `run()` | [`Executor::block_on`]: rounds until the main future (the accept loop) is done |
//! | `accept`, `recv`, `send` generators | [`io::Async`]'s `accept`, `recv`, `send`: try the system call, and on `WouldBlock` register and yield |
//! | `yield from loop.recv(conn)` | `conn.recv(n).await` in [`server`]'s handler |
//!
//! # What the state machine stores
//!
//! A Python generator keeps its whole frame alive between `yield`s: every
//! local, the instruction pointer, and a heap-allocated frame object. Rust
//! compiles an `async fn` into an enum with one variant per `.await` point,
//! holding exactly the locals that live across that point, sized at compile
//! time and boxed once when the task is spawned. The handler here keeps no
//! buffer across `.await` (reads go through the reactor's scratch buffer and
//! come back as a `Vec` of exactly the bytes read), so an idle connection's
//! task is the socket handle, the parser's two bytes and a few words of state.
//!
//! What that costs, measured (`tests/footprint.rs`, 500 connections): an
//! idle connection is 532 B of heap and about 470 B of RSS at 10,000. The
//! boxed future is 344 B (checked by a test); the `Arc` behind its waker 40 B; the rest is its
//! slots in the executor's and reactor's slabs. The future's largest state
//! is an echo being written; an idle-timeout timer is boxed only when
//! `--idle-timeout` is set.
//!
//! # Implementation
//!
//! Each poll of a task has a budget of [`model::budget::OPERATIONS`] I/O
//! operations, as tokio's does; a task that spends it yields, so a client
//! streaming at full speed cannot keep the thread from the others.
//!
//! `Waker`s must be `Send`, so the run queue is a `Mutex<VecDeque>`, but
//! only the executor's thread locks it in practice; a wake from another
//! thread also interrupts `epoll_wait` through a `mio::Waker`. There is no
//! `unsafe` code: `std::task::Wake` builds wakers from an `Arc`, and
//! `std::pin::pin!` pins futures on the stack.

pub mod executor;
pub mod io;
pub mod reactor;
mod server;
pub mod time;

use std::net::TcpListener;
use std::rc::Rc;
use std::sync::Arc;

use model::{Concurrency, Config, Counters, Model, Shutdown};

pub use executor::Executor;
pub use reactor::Reactor;

/// The `mini-executor` model.
pub const MODEL: Model = Model {
    name: "mini-executor",
    summary: "hand-written single-threaded executor and reactor (the article's generator Loop)",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &[],
    available: model::always_available,
};

/// Serves `listener` until `shutdown` with `--workers` executors (default 1);
/// see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let workers = config.workers_or(1);
    model::listener::serve_shards(listener, workers, "executor", &shutdown, |listener| {
        run_executor(listener, &config, counters.clone(), shutdown.clone())
    })
}

/// One executor on the calling thread, serving one listener.
fn run_executor(
    listener: TcpListener,
    config: &Config,
    counters: Arc<Counters>,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let executor = Executor::new(config.buffer)?;
    let notifier = executor.reactor().notifier();
    shutdown.on_trigger(move || {
        // Failing means the executor is gone already.
        let _ = notifier.wake();
    });
    let listener = io::Async::new(
        mio::net::TcpListener::from_std(listener),
        executor.reactor().clone(),
    )?;
    let accepting = server::accept_loop(
        executor.clone(),
        listener,
        Rc::new(config.clone()),
        counters,
        shutdown,
    );
    executor.block_on(accepting)?
}
