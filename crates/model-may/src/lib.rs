//! `may`: green threads, one stackful coroutine per connection.
//!
//! The accept thread blocks in `accept` and spawns a coroutine with a
//! `--stack-size` stack for each connection. The coroutine runs the very
//! session `thread-per-conn` runs, blocking `read` and `write` and no
//! `.await`, but a call that would block parks the coroutine, and its
//! worker thread (`--workers`, one per core by default) runs another,
//! woken by may's epoll loop. Concurrency is bounded by `--max-conns` and
//! the stacks one process may map. The weakness: a stack per connection is
//! still mapped, sized once and for all at spawn (overflow kills the
//! process), and nothing preempts a coroutine that never blocks.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_may::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! may's scheduler is one per process, started on first use: `--workers`
//! takes effect the first time a process serves (the CLI serves once). The
//! route taken was `may` itself, not coroutines on `corosensei` over
//! `mini-executor`'s reactor: under the whole conformance suite it held,
//! given two precautions. Its workers would pin themselves to cores, which
//! would undo a benchmark's `taskset`, so pinning is off. And a coroutine
//! that is never parked keeps its worker, so the session spends a
//! [`Budget`](model::budget::Budget) and, when it runs out, waits until
//! may's event loop has polled epoll again: may's own `yield_now` would
//! not let it (see [`green`]).

mod green;

use std::io;
use std::net::TcpListener;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use model::connections::Connections;
use model::{Concurrency, Config, Counters, Ending, Model, Rejection, Shutdown, listener, session};

use crate::green::GreenSocket;

/// The `may` model.
pub const MODEL: Model = Model {
    name: "may",
    summary: "green threads: a stackful coroutine per connection (may), blocking-style code on one worker per core",
    serve,
    concurrency: Concurrency::Unbounded,
    extra_flags: &["--stack-size"],
    available: model::always_available,
};

/// The smallest stack a coroutine gets: smaller `--stack-size` values are
/// raised to it, as glibc raises a thread's. The most any coroutine used
/// over the whole conformance suite was 2.1 KiB (6 KiB in a debug build),
/// measured with may's own stack tracking (an odd word count); the test
/// `tests/smallest_stack.rs` runs the suite on this floor.
pub const MIN_STACK_SIZE: usize = 16 * 1024;

/// Memory mappings a coroutine's stack costs: the stack and its guard page.
const MAPS_PER_STACK: usize = 2;

/// Serves `listener` until `shutdown`, one coroutine per connection; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let stack_words = stack_words(config.stack_size);
    may::config()
        .set_workers(config.workers_or(model::config::cores()))
        // Spawns with the scheduler's own stack size reuse pooled stacks.
        .set_stack_size(stack_words)
        .set_worker_pin(false);
    let capped = Config {
        max_conns: config.max_conns.min(model::stacks::limit(MAPS_PER_STACK)),
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
        let session = move || {
            let ending = match GreenSocket::new(conn.stream()) {
                // The socket leaves may's event loop before the connection
                // is counted closed.
                Ok(socket) => session::serve(socket, &config),
                Err(err) => Ending::Failed(err),
            };
            conn.finish(ending);
        };
        let builder = may::coroutine::Builder::new().stack_size(stack_words);
        // may panics when it cannot map a stack; the connection, dropped as
        // the panic unwinds, is then closed without `hello\n` and counted
        // as rejected, as when a thread cannot be spawned.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: may's two conditions for a coroutine. It must not
            // hold a thread-local across a call that parks it (it may
            // resume on another worker): the session keeps its buffer and
            // state on its own stack and heap, and the thread-locals its
            // calls touch (errno, the allocator's caches) are used and let
            // go within one call that does not park. And its stack must
            // suffice: the session's deepest call takes at most 6 KiB of
            // MIN_STACK_SIZE, the least `stack_words` gives, and a guard
            // page below the stack turns an overflow into a fault, not a
            // write into other memory.
            unsafe { builder.spawn(session) }
        }));
    });
    shutdown.trigger();
    connections.drain();
    result
}

/// `--stack-size` in what may counts, machine words: at least
/// [`MIN_STACK_SIZE`], and even (an odd count makes may track and print
/// every coroutine's stack use).
fn stack_words(bytes: usize) -> usize {
    let words = bytes.max(MIN_STACK_SIZE) / size_of::<usize>();
    words & !1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_are_even_words_and_never_below_the_floor() {
        let word = size_of::<usize>();
        assert_eq!(stack_words(1), MIN_STACK_SIZE / word);
        assert_eq!(stack_words(64 * 1024), 64 * 1024 / word);
        assert_eq!(stack_words(64 * 1024 + 3 * word) % 2, 0);
    }
}
