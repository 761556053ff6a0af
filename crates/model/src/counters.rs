//! What a server counts, shared between its threads and whoever watches it,
//! and admission under `--max-conns` as a value: [`Counters::admit`] hands
//! out an [`Admitted`] guard, the connection's permit, in the way
//! mini-redis's server holds a semaphore permit per connection. The guard
//! records how the connection ended when it is finished or dropped, so every
//! model counts a connection's life the same way and exactly once.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::Reject;

/// Live counters of one server run. Updated with relaxed atomics: they are
/// statistics, not synchronisation.
#[derive(Debug, Default)]
pub struct Counters {
    accepted: AtomicU64,
    rejected: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    open: AtomicU64,
    /// What the model says about how it served, for its summary line
    /// (`monoio`'s driver, say); set once.
    detail: std::sync::OnceLock<&'static str>,
}

/// A point-in-time copy of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections returned by `accept`, including those rejected at once.
    pub accepted: u64,
    /// Connections closed without `hello\n`: over `--max-conns`, a bad,
    /// late or broken-off handshake (a reset before the line was complete),
    /// no thread to serve them, or shutting down.
    pub rejected: u64,
    /// Handshaken connections that ended cleanly: the client's end-of-stream
    /// with every byte echoed, the idle timeout, or the end of the grace period.
    pub completed: u64,
    /// Handshaken connections that ended on an I/O error (reset, broken pipe).
    pub errors: u64,
    /// Connections open right now.
    pub open: u64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepted={} rejected={} completed={} errors={}",
            self.accepted, self.rejected, self.completed, self.errors
        )
    }
}

impl std::str::FromStr for Stats {
    type Err = String;

    /// Reads the counters back from a line that contains their [`Display`]
    /// form (a server's `stopped ...` summary); other words are ignored.
    ///
    /// [`Display`]: std::fmt::Display
    fn from_str(line: &str) -> Result<Stats, String> {
        let field = |name: &str| -> Result<u64, String> {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| format!("no {name}=N in {line:?}"))
        };
        Ok(Stats {
            accepted: field("accepted")?,
            rejected: field("rejected")?,
            completed: field("completed")?,
            errors: field("errors")?,
            open: 0,
        })
    }
}

/// How one connection ended, as far as the counters care.
#[derive(Debug)]
pub enum Ending {
    /// Closed without a reply to the handshake.
    Rejected(Rejection),
    /// Echoed until the client's end-of-stream (every byte written back).
    Completed,
    /// Closed by the idle timeout.
    IdleTimeout,
    /// Closed by the server at the end of the grace period.
    ShutDown,
    /// Ended by an I/O error on this connection.
    Failed(io::Error),
}

/// Why a connection was closed without `hello\n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The handshake itself failed.
    Handshake(Reject),
    /// `--max-conns` connections were already open.
    OverCapacity,
    /// The server could not start a thread or task for it.
    NoResources,
    /// The server was shutting down.
    ShuttingDown,
}

impl Ending {
    /// A handshake that failed for `why`.
    pub fn rejected(why: Reject) -> Ending {
        Ending::Rejected(Rejection::Handshake(why))
    }
}

impl Counters {
    /// Records a word for the summary line, such as `driver=io_uring`; the
    /// first one set stays.
    pub fn set_detail(&self, detail: &'static str) {
        let _ = self.detail.set(detail);
    }

    /// The word [`Counters::set_detail`] recorded, if any.
    pub fn detail(&self) -> Option<&'static str> {
        self.detail.get().copied()
    }

    /// Copies the current values.
    pub fn snapshot(&self) -> Stats {
        Stats {
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            completed: self.completed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
        }
    }

    /// Counts a connection `accept` returned and admits it: `None` if `max`
    /// are open already (it is then counted as rejected, and the caller
    /// closes it). Lock-free, so event loops on several threads share one limit.
    pub fn admit(self: &Arc<Self>, max: usize) -> Option<Admitted> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let max = u64::try_from(max).unwrap_or(u64::MAX);
        let opened = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok();
        if !opened {
            self.ended(&Ending::Rejected(Rejection::OverCapacity));
            return None;
        }
        Some(Admitted {
            counters: Some(self.clone()),
        })
    }

    /// Counts a connection `accept` returned that is closed at once, unserved.
    pub fn refuse(&self, why: Rejection) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.ended(&Ending::Rejected(why));
    }

    fn ended(&self, ending: &Ending) {
        let counter = match ending {
            Ending::Rejected(_) => &self.rejected,
            Ending::Completed | Ending::IdleTimeout | Ending::ShutDown => &self.completed,
            Ending::Failed(_) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One admitted connection's place under `--max-conns`. Finishing it (or
/// dropping it, which counts as [`Ending::ShutDown`]: a connection dropped
/// unfinished was closed by the server, as at the end of the grace period)
/// frees the place and records how the connection ended.
#[derive(Debug)]
#[must_use = "dropping the guard closes the connection's place at once"]
pub struct Admitted {
    /// `None` once the ending is recorded. An `Option<Arc>` is one pointer,
    /// so the guard costs an event loop 8 bytes per connection.
    counters: Option<Arc<Counters>>,
}

impl Admitted {
    /// The connection ended like this: frees its place and counts it.
    pub fn finish(mut self, ending: &Ending) {
        self.record(ending);
    }

    fn record(&mut self, ending: &Ending) {
        if let Some(counters) = self.counters.take() {
            counters.open.fetch_sub(1, Ordering::Relaxed);
            counters.ended(ending);
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.record(&Ending::ShutDown);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_read_back_from_their_summary_line() {
        let stats = Stats {
            accepted: 7,
            rejected: 2,
            completed: 4,
            errors: 1,
            open: 0,
        };
        let line = format!("stopped model=tokio {stats}");
        assert_eq!(line.parse::<Stats>(), Ok(stats));
        assert!("stopped model=tokio accepted=1".parse::<Stats>().is_err());
        assert!(
            "accepted=x rejected=0 completed=0 errors=0"
                .parse::<Stats>()
                .is_err()
        );
    }

    #[test]
    fn admit_up_to_max_and_count_each_ending_once() {
        let counters = Arc::new(Counters::default());
        let first = counters.admit(2).expect("room for one");
        let second = counters.admit(2).expect("room for two");
        assert!(counters.admit(2).is_none());
        first.finish(&Ending::Completed);
        let third = counters.admit(2).expect("a place was freed");
        drop(second);
        third.finish(&Ending::Failed(io::ErrorKind::ConnectionReset.into()));
        counters.refuse(Rejection::ShuttingDown);
        let stats = counters.snapshot();
        assert_eq!(
            (
                stats.accepted,
                stats.open,
                stats.rejected,
                stats.completed,
                stats.errors
            ),
            (5, 0, 2, 2, 1)
        );
    }
}
