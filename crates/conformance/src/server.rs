//! The server a case talks to, whatever launched it: warmed up, with its
//! resources at rest recorded, so that stopping it can check that every
//! connection the case opened has left nothing behind.

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use model::Stats;

use crate::client::Client;
use crate::target::{Exit, Launched, Resources, Setup, Signal, Target, Timeouts};
use crate::{Check, Fault};

/// How long past its grace period a stopping server may take to end.
const STOP_SLACK: Duration = Duration::from_secs(3);
/// How long descriptors and threads may take to return to baseline.
const SETTLE: Duration = Duration::from_secs(3);

/// A running server. Dropping it stops it (best effort); [`Server::stop`]
/// checks that it stopped properly.
pub struct Server {
    launched: Box<dyn Launched>,
    /// Resources once warmed up and at rest; `None` if `/proc` is out of reach.
    baseline: Option<Resources>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.launched.addr())
            .field("baseline", &self.baseline)
            .finish_non_exhaustive()
    }
}

/// The warm-up connection every server serves first, which the counters
/// reported to cases leave out.
const WARM_UP: Stats = Stats {
    accepted: 1,
    rejected: 0,
    completed: 1,
    errors: 0,
    open: 0,
};

impl Server {
    /// Launches a server from `target` and serves one connection, so that
    /// what a runtime creates on first use (worker threads, a reactor's
    /// descriptors) is part of the baseline and not counted as a leak.
    pub fn start(target: &dyn Target, setup: &Setup) -> Result<Server, Fault> {
        let launched = target.launch(setup)?;
        let mut warm = Client::handshaken(launched.addr()).map_err(|e| format!("warm-up: {e}"))?;
        warm.echo(b"warm-up")
            .and_then(|()| warm.half_close())
            .and_then(|()| warm.expect_closed().map(drop))
            .map_err(|e| format!("warm-up: {e}"))?;
        drop(warm);
        if launched.stats().is_some() {
            wait_for(
                || launched.stats().is_some_and(|stats| stats.open == 0),
                "the warm-up connection to be counted closed",
            )?;
        }
        let baseline = at_rest(&*launched);
        Ok(Server { launched, baseline })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.launched.addr()
    }

    /// The timeouts the server applies (for a fixed server, the declared ones).
    pub fn timeouts(&self) -> Timeouts {
        self.launched.timeouts()
    }

    /// The live counters, without the warm-up connection, where visible.
    pub fn stats(&self) -> Option<Stats> {
        self.launched.stats().map(without_warm_up)
    }

    /// The connections open now: the counters' figure where visible, else
    /// the descriptors opened since the baseline.
    pub fn open_connections(&self) -> Option<u64> {
        match self.launched.stats() {
            Some(stats) => Some(stats.open),
            None => {
                let now = self.launched.resources()?;
                Some(now.fds.saturating_sub(self.baseline?.fds))
            }
        }
    }

    /// The resources now, and as they were at rest after the warm-up.
    pub fn resources(&self) -> Option<(Resources, Resources)> {
        Some((self.launched.resources()?, self.baseline?))
    }

    /// Delivers `signal` to the server.
    pub fn signal(&self, signal: Signal) -> Result<(), Fault> {
        self.launched.signal(signal)
    }

    /// Checks that the server is back to its baseline (every client of the
    /// case is gone by now), stops it and checks that it exited cleanly.
    pub fn stop(self) -> Result<Exit, Fault> {
        self.back_to_baseline()?;
        exited_cleanly(self.stop_busy()?)
    }

    /// Stops the server with connections still open; the caller judges how
    /// it ended.
    pub fn stop_busy(self) -> Result<Exit, Fault> {
        let mut exit = self.launched.stop(STOP_SLACK)?;
        exit.stats = exit.stats.map(without_warm_up);
        Ok(exit)
    }

    /// Waits (briefly) for descriptors and threads to return to the baseline.
    fn back_to_baseline(&self) -> Check {
        let Some(baseline) = self.baseline else {
            return Ok(());
        };
        let deadline = Instant::now() + SETTLE;
        loop {
            let Some(now) = self.launched.resources() else {
                return Ok(());
            };
            let threads_back = match (now.threads, baseline.threads) {
                (Some(now), Some(before)) => now <= before,
                _ => true,
            };
            if now.fds <= baseline.fds && threads_back {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "not back to baseline {SETTLE:?} after the case's clients left: \
                     {} descriptors (at rest {}), {} threads (at rest {})",
                    now.fds,
                    baseline.fds,
                    count(now.threads),
                    count(baseline.threads),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// An exit with status 0 (or a server left running).
pub(crate) fn exited_cleanly(exit: Exit) -> Result<Exit, Fault> {
    match exit.code {
        Some(0) | None => Ok(exit),
        Some(code) => Err(format!("the server exited with status {code}").into()),
    }
}

fn count(threads: Option<u64>) -> String {
    threads.map_or_else(|| "?".into(), |n| n.to_string())
}

fn without_warm_up(stats: Stats) -> Stats {
    Stats {
        accepted: stats.accepted.saturating_sub(WARM_UP.accepted),
        completed: stats.completed.saturating_sub(WARM_UP.completed),
        ..stats
    }
}

/// The resources once two readings 20 ms apart agree (at most a second):
/// the warm-up connection's descriptor and thread are gone by then.
fn at_rest(launched: &dyn Launched) -> Option<Resources> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut last = launched.resources()?;
    loop {
        thread::sleep(Duration::from_millis(20));
        let now = launched.resources()?;
        if (now.fds, now.threads) == (last.fds, last.threads) || Instant::now() >= deadline {
            return Some(now);
        }
        last = now;
    }
}

/// Polls `condition` for up to two seconds.
pub(crate) fn wait_for(condition: impl Fn() -> bool, what: &str) -> Check {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !condition() {
        if Instant::now() >= deadline {
            return Err(format!("timed out waiting for {what}"));
        }
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
