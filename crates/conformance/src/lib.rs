//! The conformance suite: PROTOCOL.md as executable cases, driven over real
//! sockets against a model served in this process.
//!
//! Every model crate runs the whole suite from its `tests/` folder with one
//! line, and gets one `#[test]` per case:
//!
//! ```text
//! conformance::tests!(model_blocking::MODEL);
//! ```
//!
//! Each case starts a fresh server with the configuration it needs (short
//! timeouts, a small `--max-conns`), plays one or more clients against it,
//! stops it, and then checks what every case must leave behind: `serve`
//! returned `Ok` within the grace period and the process holds exactly as
//! many descriptors as before the case.
//!
//! # Models that cannot meet a case by design
//!
//! A model declares its bound on simultaneous connections in one place, its
//! [`model::Concurrency`]. Cases that need more connections served at once
//! than that bound (1,000 concurrent clients against the one-at-a-time
//! `blocking` server) do not skip: they check the documented degraded
//! behaviour instead, namely that exactly `limit` clients are served at once
//! and that the next one is served, in turn, as soon as one of them ends.
//!
//! # Implementation
//!
//! Cases run one at a time within a test binary (a process-wide lock), so
//! that counting `/proc/self/fd` measures only the case at hand; different
//! models are different test binaries. Every client socket has read and
//! write timeouts, so a broken model fails a case instead of hanging it.

mod cases;
pub mod client;
pub mod server;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use model::Model;

pub use cases::CASES;

/// The result of a case or a check: `Err` says what went wrong, for a person.
pub type Check = Result<(), String>;

/// One conformance case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The case's name, also the name of its generated `#[test]`.
    pub name: &'static str,
    /// What it checks, in one line.
    pub checks: &'static str,
    /// Runs the case against `model`.
    pub run: fn(&Model) -> Check,
}

/// Generates one `#[test]` per conformance case for the given [`Model`].
#[macro_export]
macro_rules! tests {
    ($model:expr) => {
        $crate::__tests!($model;
            basic_echo,
            handshake_whitespace,
            handshake_split_byte_by_byte,
            pipelined_data,
            bad_handshake_closed_silently,
            handshake_line_limit,
            eof_before_handshake,
            large_echo_half_close,
            binary_bytes,
            sequential_connections,
            client_resets,
            concurrent_connections,
            handshake_timeout,
            slowloris,
            idle_timeout,
            max_conns,
            graceful_shutdown,
            never_reading_client,
            two_workers,
            descriptors_return_to_baseline,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __tests {
    ($model:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(&$model, stringify!($case));
            }
        )*

        #[test]
        fn every_case_has_a_test() {
            $crate::assert_covers_all_cases(&[$(stringify!($case)),*]);
        }
    };
}

/// Serialises cases within one process, so descriptor counts are exact.
static ONE_CASE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long descriptors may take to return to baseline after a case.
const FD_SETTLE: Duration = Duration::from_secs(3);

/// Runs the named case against `model`, then checks that the process holds
/// no more descriptors than before; panics with the reason on failure.
pub fn run_case(model: &Model, name: &str) {
    let case = CASES
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| panic!("no conformance case named {name}"));
    if let Err(why) = (model.available)() {
        // The one sanctioned way out: the model cannot run on this machine
        // at all (io_uring missing or forbidden). Said, not silent.
        eprintln!("{} / {}: not applicable: {why}", model.name, case.name);
        return;
    }
    let _serial = ONE_CASE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    warm_up(model);
    let baseline = open_descriptors();
    if let Err(why) = (case.run)(model) {
        panic!("{} / {}: {why}", model.name, case.name);
    }
    if let Err(why) = settle_descriptors(baseline) {
        panic!("{} / {}: {why}", model.name, case.name);
    }
}

/// Serves one connection once per process before any descriptor is counted.
///
/// Some runtimes create process-wide state on first use and keep it for
/// the life of the process (async-io's reactor: an epoll descriptor and an
/// eventfd). That is not a leak of the case that happens to run first, so
/// it is created before the first baseline is taken; every later case
/// still has to return to the count it started from.
fn warm_up(model: &Model) {
    static WARMED_UP: std::sync::Once = std::sync::Once::new();
    WARMED_UP.call_once(|| {
        let warm = || -> Check {
            let server = server::Server::start(model, model::Config::default())?;
            client::Client::handshaken(server.addr())?.echo(b"warm-up")?;
            server.stop().map(drop)
        };
        if let Err(why) = warm() {
            panic!("{}: warming up: {why}", model.name);
        }
    });
}

/// Panics unless `names` lists every case in [`CASES`], in order.
pub fn assert_covers_all_cases(names: &[&str]) {
    let all: Vec<&str> = CASES.iter().map(|case| case.name).collect();
    assert_eq!(names, all, "conformance::tests! must list every case");
}

/// The number of descriptors this process has open.
pub fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Waits (briefly) for the descriptor count to come back to `baseline`.
fn settle_descriptors(baseline: usize) -> Check {
    let deadline = Instant::now() + FD_SETTLE;
    loop {
        let now = open_descriptors();
        if now <= baseline {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "descriptors did not return to baseline: {now} open, {baseline} before the case"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
