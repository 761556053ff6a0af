//! The server configuration: every flag of PROTOCOL.md section 3.

use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

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
    /// `--buffer BYTES`: the most not-yet-written echo data held per
    /// connection, within [`MIN_BUFFER`]..=[`MAX_BUFFER`].
    pub buffer: usize,
    /// `--grace SECS`: after shutdown, how long open connections may still finish.
    pub grace: Duration,
    /// `--stack-size BYTES`: the stack of each connection thread, for models
    /// that spawn one thread per connection.
    pub stack_size: usize,
    /// `--flavor`: the scheduler, for models whose runtime offers a choice (tokio).
    pub flavor: Flavor,
    /// `--batch-wait`: how long a completion-based loop may wait for more
    /// completions to come with the first (io-uring's minimum wait); `None`
    /// wakes for each, as every other model does.
    pub batch_wait: Option<Duration>,
}

/// The longest `--batch-wait`: a batch that waits longer is a stall.
pub const MAX_BATCH_WAIT: Duration = Duration::from_millis(10);

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

/// The longest timeout or grace period a server accepts: one day. A wait
/// longer than that is a typo, not a setting, and near the limits of
/// `Instant` it would overflow; the command line refuses it.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);
/// The smallest `--buffer`: one handshake line. Models read at least that
/// much at a time, so a smaller bound could not be kept.
pub const MIN_BUFFER: usize = protocol::MAX_LINE;
/// The largest `--buffer`: 64 MiB per connection. Beyond it a few thousand
/// connections could pin the machine's memory, and sizes stop fitting the
/// 32-bit lengths io_uring operations carry.
pub const MAX_BUFFER: usize = 64 << 20;

/// Default `--buffer`: 16 KiB of echo data per connection.
pub const DEFAULT_BUFFER: usize = 16 * 1024;
/// Default `--stack-size`: 64 KiB, enough for a session that keeps its echo buffer on the heap.
pub const DEFAULT_STACK_SIZE: usize = 64 * 1024;
/// The most `--workers`: 1,024 threads or event loops, far more than any
/// machine's cores. Runtimes start every worker up front, and a thread
/// the kernel refuses would stop the server (tokio and may panic then).
pub const MAX_WORKERS: usize = 1024;
/// The largest `--stack-size`: 64 MiB, eight times a main thread's. A
/// stack is mapped whole for every connection, so a larger one is a typo,
/// and it could make the mapping fail (which `may`'s spawn turns into a panic).
pub const MAX_STACK_SIZE: usize = 64 << 20;

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
            batch_wait: None,
        }
    }
}

impl Config {
    /// Checks every bound a server relies on: timeouts and grace at most
    /// [`MAX_WAIT`] (and a handshake timeout above zero), `--buffer` within
    /// [`MIN_BUFFER`]..=[`MAX_BUFFER`], `--workers` at most [`MAX_WORKERS`],
    /// `--stack-size` at most [`MAX_STACK_SIZE`]. The error names the flag, in one line.
    pub fn check(&self) -> Result<(), String> {
        let waits = [
            ("--handshake-timeout", Some(self.handshake_timeout)),
            ("--idle-timeout", self.idle_timeout),
            ("--grace", Some(self.grace)),
        ];
        for (flag, wait) in waits {
            if let Some(wait) = wait.filter(|wait| *wait > MAX_WAIT) {
                return Err(format!(
                    "{flag} {wait:?} is longer than the most a server waits ({} s)",
                    MAX_WAIT.as_secs()
                ));
            }
        }
        if let Some(wait) = self.batch_wait.filter(|wait| *wait > MAX_BATCH_WAIT) {
            return Err(format!(
                "--batch-wait {wait:?} is longer than {MAX_BATCH_WAIT:?}: a batch that waits longer is a stall"
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err("--handshake-timeout must be more than 0".into());
        }
        if !(MIN_BUFFER..=MAX_BUFFER).contains(&self.buffer) {
            return Err(format!(
                "--buffer {} is outside {MIN_BUFFER} B..={} MiB",
                self.buffer,
                MAX_BUFFER >> 20
            ));
        }
        if let Some(workers) = self.workers.filter(|w| w.get() > MAX_WORKERS) {
            return Err(format!("--workers {workers} is more than {MAX_WORKERS}"));
        }
        if self.stack_size > MAX_STACK_SIZE {
            return Err(format!(
                "--stack-size {} is more than {} MiB",
                self.stack_size,
                MAX_STACK_SIZE >> 20
            ));
        }
        Ok(())
    }

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

/// `now + wait`, for a deadline, without the panic `Instant + Duration`
/// has on overflow: a wait is cut to [`MAX_WAIT`] first (a checked config
/// never exceeds it), and a clock too close to its end to hold even that
/// gives `now`, a deadline already due, rather than a crash.
pub fn deadline(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait.min(MAX_WAIT)).unwrap_or(now)
}

/// The number of CPU cores available to this process (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_waits_over_a_day_and_buffers_and_stacks_out_of_bounds() {
        assert_eq!(Config::default().check(), Ok(()));
        let too_long = MAX_WAIT + Duration::from_secs(1);
        let refused = [
            Config {
                handshake_timeout: too_long,
                ..Config::default()
            },
            Config {
                handshake_timeout: Duration::ZERO,
                ..Config::default()
            },
            Config {
                idle_timeout: Some(too_long),
                ..Config::default()
            },
            Config {
                grace: too_long,
                ..Config::default()
            },
            Config {
                buffer: MIN_BUFFER - 1,
                ..Config::default()
            },
            Config {
                buffer: MAX_BUFFER + 1,
                ..Config::default()
            },
            Config {
                stack_size: MAX_STACK_SIZE + 1,
                ..Config::default()
            },
            Config {
                workers: NonZeroUsize::new(MAX_WORKERS + 1),
                ..Config::default()
            },
        ];
        for config in refused {
            let why = config.check().expect_err("out of bounds");
            assert!(why.starts_with("--") && !why.contains('\n'), "{why}");
        }
        let edges = Config {
            handshake_timeout: MAX_WAIT,
            idle_timeout: Some(MAX_WAIT),
            grace: Duration::ZERO,
            buffer: MIN_BUFFER,
            stack_size: MAX_STACK_SIZE,
            workers: NonZeroUsize::new(MAX_WORKERS),
            ..Config::default()
        };
        assert_eq!(edges.check(), Ok(()));
    }

    #[test]
    fn deadlines_never_overflow() {
        let now = Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + MAX_WAIT);
    }
}
