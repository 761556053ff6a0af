//! What several cases check the same way: a clean stop, the final
//! counters, the by-design verdict, a prompt fresh client, timer slack, and
//! the bytes and drips the cases send. The protocol cases ([`crate::cases`])
//! and the abuse cases ([`crate::abuse`]) both build on these; neither
//! imports the other's cases.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::client::{Client, IO_TIMEOUT};
use crate::server::Server;
use crate::{CaseResult, Check, Verdict};

/// Fails the check with a formatted reason unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+).into());
        }
    };
}
pub(crate) use ensure;

/// How long a client waits to be sure the server is holding it back.
pub(crate) const HELD_BACK: Duration = Duration::from_millis(300);

/// Stops a server whose clients have all left: it must be back to its
/// baseline and exit cleanly.
pub(crate) fn passes(server: Server) -> CaseResult {
    server.stop()?;
    Ok(Verdict::Pass)
}

/// Checks the server's final counters where the suite can see them.
pub(crate) fn counted(
    stats: Option<model::Stats>,
    expected: &str,
    holds: impl Fn(&model::Stats) -> bool,
) -> CaseResult {
    if let Some(stats) = stats {
        ensure!(holds(&stats), "expected {expected}, counted {stats}");
    }
    Ok(Verdict::Pass)
}

/// Exactly `n` connections were accepted and every one completed (and so
/// none was rejected or failed), where the suite can see the counters.
pub(crate) fn all_completed(stats: Option<model::Stats>, n: usize) -> CaseResult {
    counted(stats, &format!("{n} accepted and {n} completed"), |stats| {
        stats.accepted == n as u64 && stats.completed == n as u64
    })
}

/// The verdict of a case whose degraded form was checked instead.
pub(crate) fn by_design(limit: usize, why: &str, checked: &str) -> Verdict {
    Verdict::ByDesign(format!(
        "serves {limit} connection{} at a time ({why}); checked instead: {checked}",
        if limit == 1 { "" } else { "s" }
    ))
}

/// Writes leading whitespace, a byte every `every`, to each of `writers`
/// until `stop` is set or `until` has passed: a handshake line that never
/// completes, which an absolute deadline cuts and a per-read timer never
/// would. Write errors (the server closed) are expected and ignored.
pub(crate) fn drip_whitespace(
    writers: &[TcpStream],
    every: Duration,
    until: Instant,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) && Instant::now() < until {
        for mut writer in writers {
            let _ = std::io::Write::write(&mut writer, b" ");
        }
        thread::sleep(every);
    }
}

/// How late after its deadline a timer may fire before the case fails.
pub(crate) const TIMER_SLACK: Duration = Duration::from_millis(1100);

/// Lets `client` wait for a close as long as `timeout` plus slack, however
/// long the timeout a fixed server was declared to have.
pub(crate) fn patient(client: &Client, timeout: Duration) -> Check {
    client
        .stream()
        .set_read_timeout(Some(timeout.max(IO_TIMEOUT) + TIMER_SLACK))
        .map_err(|e| format!("setting a read timeout: {e}"))
}

/// A fresh client is handshaken and echoed right away.
pub(crate) fn served_promptly(server: &Server, when: &str) -> Check {
    let mut client = Client::handshaken(server.addr()).map_err(|e| format!("{when}: {e}"))?;
    client
        .echo(b"are you still there?")
        .map_err(|e| format!("{when}: {e}"))
}

/// Deterministic, non-repeating-looking test bytes.
pub(crate) fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}
