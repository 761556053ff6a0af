//! The contract between a concurrency model and everything that runs it.
//!
//! A model is a [`Model`] value: a name, a one-line summary and a `serve`
//! function that takes an already-bound [`TcpListener`], a [`Config`], a
//! [`Shutdown`] handle and shared [`Counters`], and blocks until the server
//! has stopped. The harness, the conformance suite and the benchmarks only
//! ever see this type, so adding a model is one crate plus one line in the
//! harness's model list.
//!
//! ```no_run
//! use std::sync::Arc;
//! use model::{Config, Counters, Model, Shutdown};
//!
//! fn run(model: &Model) -> std::io::Result<()> {
//!     let listener = model::listener::bind("127.0.0.1:0".parse().unwrap())?;
//!     let shutdown = Shutdown::new();
//!     let counters = Arc::new(Counters::default());
//!     // Elsewhere: `shutdown.trigger()` stops accepting and starts the grace period.
//!     (model.serve)(listener, Config::default(), shutdown, counters.clone())?;
//!     println!("{}", counters.snapshot());
//!     Ok(())
//! }
//! ```
//!
//! # Implementation
//!
//! The boundary is synchronous on purpose: a model that needs a runtime
//! builds it inside `serve` and blocks on it, so no runtime leaks into the
//! harness and models never depend on each other. Besides the contract, this
//! crate holds the serving pieces that several models share and that teach
//! nothing about any one of them: binding and accept back-off ([`listener`]),
//! the open-connection registry that enforces `--max-conns` and the grace
//! period for thread-based models ([`connections`]), and the blocking-I/O
//! session that thread-based models and green threads run per connection
//! ([`session`]).

pub mod budget;
pub mod config;
pub mod connections;
pub mod counters;
pub mod handshake;
pub mod idle;
pub mod listener;
pub mod scratch;
pub mod session;
pub mod shutdown;
pub mod stacks;

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

pub use config::{Config, Flavor};
pub use counters::{Admitted, Counters, Ending, Rejection, Stats};
pub use shutdown::Shutdown;

/// The signature every model's entry point has.
///
/// It serves `listener` until `shutdown` is triggered, lets open connections
/// finish for up to [`Config::grace`], closes the rest and returns. It
/// returns an error only if the server itself cannot go on (never because of
/// one connection).
pub type ServeFn = fn(TcpListener, Config, Shutdown, Arc<Counters>) -> io::Result<()>;

/// A concurrency model: what the CLI, benchmark ids, JSON and plot legends call it, and how to run it.
#[derive(Clone, Copy)]
pub struct Model {
    /// The model's name everywhere: `c10k serve <name>`, benchmark ids, JSON keys, plot legends.
    pub name: &'static str,
    /// One line for `--help` and the README's models table.
    pub summary: &'static str,
    /// Runs the server; see [`ServeFn`].
    pub serve: ServeFn,
    /// How many connections the model can serve at the same time.
    pub concurrency: Concurrency,
    /// Model-specific command-line flags this model reads (for example
    /// `--stack-size`); the harness refuses them for other models.
    pub extra_flags: &'static [&'static str],
    /// Whether the model can run on this machine at all (io_uring can be
    /// missing or forbidden); `Err` says why, in one line.
    pub available: fn() -> Result<(), String>,
}

/// [`Model::available`] for models that need nothing beyond what std offers.
pub fn always_available() -> Result<(), String> {
    Ok(())
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// How many connections a model serves at the same time: the one place where
/// a model declares that it cannot meet a conformance case by design.
#[derive(Debug, Clone, Copy)]
pub enum Concurrency {
    /// Every accepted connection is served at once, up to `--max-conns`.
    Unbounded,
    /// At most `limit(config)` connections are served at once. The others wait
    /// (in the listen backlog or a queue) and are served, in turn, when a
    /// served one ends. Conformance cases that need more simultaneous
    /// connections check exactly this degraded behaviour instead.
    Bounded {
        /// The number of connections served at once under `config`.
        limit: fn(&Config) -> usize,
        /// Why, in one sentence, for test output and the README.
        why: &'static str,
    },
}

impl Concurrency {
    /// The number of connections served at once under `config`, if bounded.
    pub fn limit(&self, config: &Config) -> Option<usize> {
        match self {
            Concurrency::Unbounded => None,
            Concurrency::Bounded { limit, .. } => Some(limit(config)),
        }
    }

    /// The number of connections served at once under `config` and why, if bounded.
    pub fn bound(&self, config: &Config) -> Option<(usize, &'static str)> {
        match self {
            Concurrency::Unbounded => None,
            Concurrency::Bounded { limit, why } => Some((limit(config), why)),
        }
    }
}
