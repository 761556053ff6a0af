//! The server configuration: every flag of PROTOCOL.md section 3.

use std::num::NonZeroUsize;
use std::time::Duration;

/// How a server behaves. The listen address is not here: `serve` receives an
/// already-bound listener, which carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `--workers N`: threads (or event loops) the model uses; `None` lets
    /// the model pick its own default. Models with a single thread by design
    /// ignore it.
    pub workers: Option<NonZeroUsize>,
    /// `--max-conns N`: a connection beyond this many open ones is accepted
    /// and closed at once, and counted as rejected.
    pub max_conns: usize,
    /// `--handshake-timeout SECS`: the handshake line must be complete this
    /// long after the connection is first served (an absolute deadline, not
    /// reset by each byte).
    pub handshake_timeout: Duration,
    /// `--idle-timeout SECS`: close a connection with no bytes in either
    /// direction for this long; `None` (the flag's `0`) never does.
    pub idle_timeout: Option<Duration>,
    /// `--buffer BYTES`: the most not-yet-written echo data held per connection.
    pub buffer: usize,
    /// `--grace SECS`: after shutdown, how long open connections may still finish.
    pub grace: Duration,
    /// `--stack-size BYTES`: the stack of each connection thread, for models
    /// that spawn one thread per connection.
    pub stack_size: usize,
    /// `--flavor`: the scheduler, for models whose runtime offers a choice (tokio).
    pub flavor: Flavor,
}

/// Which scheduler a runtime with a choice uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavor {
    /// Work-stealing worker threads (`--workers` of them).
    #[default]
    MultiThread,
    /// Everything on the thread that calls `serve`.
    CurrentThread,
}

impl Flavor {
    /// The flag's spelling: `multi-thread` or `current-thread`.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::MultiThread => "multi-thread",
            Flavor::CurrentThread => "current-thread",
        }
    }
}

/// Default `--buffer`: 16 KiB of echo data per connection.
pub const DEFAULT_BUFFER: usize = 16 * 1024;
/// Default `--stack-size`: 64 KiB, enough for a session that keeps its echo buffer on the heap.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: None,
            max_conns: default_max_conns(),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: None,
            buffer: DEFAULT_BUFFER,
            grace: Duration::from_secs(5),
            stack_size: DEFAULT_STACK_SIZE,
            flavor: Flavor::default(),
        }
    }
}

impl Config {
    /// The `--workers` value, or `default` when the flag was not given.
    pub fn workers_or(&self, default: usize) -> usize {
        self.workers.map_or(default, NonZeroUsize::get)
    }

    /// The `--workers` value for a pool of threads that block in I/O:
    /// 4 x cores by default, so that a few slow clients do not idle every core.
    pub fn pool_workers(&self) -> usize {
        self.workers_or(4 * cores())
    }
}

/// Default `--max-conns`: what the current open-file limit allows, leaving a
/// reserve for the listener, the runtime's own descriptors and logs.
///
/// A server holds one descriptor per connection, so `limit - reserve`
/// connections can be open before accept fails with EMFILE. The reserve is a
/// quarter of a small limit and 256 descriptors of a large one.
pub fn default_max_conns() -> usize {
    let limit = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _hard)| soft)
        .unwrap_or(1024);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let reserve = (limit / 4).clamp(16, 256);
    limit.saturating_sub(reserve).max(1)
}

/// The number of CPU cores available to this process (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}
