//! `blocking`: the article's first server, one connection at a time.
//!
//! One thread. It blocks in `accept`, then in `read` and `write` of the one
//! connection it is serving, and accepts the next only when that one ends.
//! Concurrency is exactly one: every other client waits in the listen
//! backlog, so one slow or idle client stalls everyone (only the handshake
//! and idle timeouts bound how long). Its virtue is that nothing is shared.
//!
//! ```no_run
//! let listener = model::listener::bind("127.0.0.1:5566".parse().unwrap())?;
//! let shutdown = model::Shutdown::new();
//! model_blocking::serve(listener, model::Config::default(), shutdown, Default::default())?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use model::connections::Connections;
use model::{Concurrency, Config, Counters, Model, Shutdown, listener, session};

/// The `blocking` model.
pub const MODEL: Model = Model {
    name: "blocking",
    summary: "one thread serves one connection at a time (the article's first server)",
    serve,
    concurrency: Concurrency::Bounded {
        limit: one_at_a_time,
        why: "a single thread serves one connection at a time; the others wait in the listen backlog",
    },
    extra_flags: &[],
    available: model::always_available,
};

fn one_at_a_time(_: &Config) -> usize {
    1
}

/// Serves `listener` on the calling thread until `shutdown`; see [`MODEL`].
pub fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let connections = Connections::new(&config, counters, &shutdown);
    let result = listener::accept_loop(&listener, &shutdown, |stream| {
        if let Some(conn) = connections.admit(stream) {
            let ending = session::serve(conn.stream(), &config);
            conn.finish(ending);
        }
    });
    shutdown.trigger();
    connections.drain();
    result
}
