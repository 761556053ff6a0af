//! The conformance suite: PROTOCOL.md, and what hostile clients do to a
//! server, as executable cases driven over real sockets.
//!
//! Every model crate runs the suite in-process from its `tests/` folder, a
//! test binary built with `harness = false` whose tests are generated from
//! [`CASES`], one per case:
//!
//! ```text
//! fn main() -> std::process::ExitCode {
//!     conformance::main(&model_blocking::MODEL)
//! }
//! ```
//!
//! The same cases run against any server through `c10k check`: a model that
//! `c10k` starts in a process of its own per case (`--serve MODEL`), or a
//! server someone else runs (`c10k check HOST:PORT`). What a case needs from
//! the server (a 400 ms handshake timeout, `--max-conns 3`, a shutdown, an
//! open-file limit of 64) is a [`target::Setup`]; a [`target::Target`] either
//! provides it or says why not, and the case is then "not applicable".
//!
//! Each case starts a fresh server, serves one warm-up connection, records
//! the server's descriptors and threads at rest, plays its clients, and on
//! stopping checks that the server is back to that baseline and exits
//! cleanly. In-process, it also checks that the whole test process holds no
//! more descriptors than before the case.
//!
//! # Outcomes
//!
//! A case passes, fails with a reason, is not applicable to its target, or
//! is met *by design*. A model declares its bound on simultaneous
//! connections in one place, its [`model::Concurrency`]. Cases that need
//! more connections served at once than that bound (1,000 concurrent
//! clients against the one-at-a-time `blocking` server) do not skip: they
//! check the documented degraded behaviour instead, namely that exactly
//! `limit` clients are served at once and that the next one is served, in
//! turn, as soon as one of them ends, and say so in their [`Verdict`].
//!
//! # Implementation
//!
//! In-process, cases run one at a time within a test binary (a process-wide
//! lock), so that counting `/proc/self/fd` measures only the case at hand;
//! different models are different test binaries. Cases that need a process
//! of their own (signals, an open-file limit) are marked in [`CASES`] and run
//! only through `c10k check --serve`. Every client socket has read and write
//! timeouts and every loop a bound, so a broken server fails a case instead
//! of hanging it. The abuse cases take their counts from a [`Scale`].

mod abuse;
mod cases;
mod checks;
pub mod client;
mod in_process;
pub mod server;
pub mod target;

use std::process::ExitCode;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use libtest_mimic::Trial;
use model::Model;

pub use cases::CASES;
pub use in_process::InProcess;
use server::Server;
use target::{Setup, Target};

/// The result of a check within a case: `Err` says what went wrong, for a person.
pub type Check = Result<(), String>;

/// One conformance case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// The case's name, also the name of its generated `#[test]`.
    pub name: &'static str,
    /// What it checks, in one line.
    pub checks: &'static str,
    /// Whether it needs the server in a process of its own (signals, an
    /// open-file limit): such cases are run by `c10k check --serve`, not by
    /// the in-process [`main`].
    pub own_process: bool,
    /// An abuse case (slowloris, resets, churn, ...) rather than one of
    /// the protocol's promises taken one at a time.
    pub abuse: bool,
    /// It checks the `hello` handshake itself (its parsing, rejection or
    /// deadline), so it does not apply to a plain echo server
    /// ([`Target::handshake`] false). Every other case runs there as it
    /// is: a client's `hello\n` comes back as the echo of itself.
    pub handshake: bool,
    /// Runs the case.
    pub run: fn(&Run<'_>) -> CaseResult,
}

/// What a case that ran to its end found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything the case checks holds.
    Pass,
    /// Everything the case checks holds; the text says what it measured on
    /// the way (a worst round trip, a CPU share), for comparing servers.
    Observed(String),
    /// The server declares a bound that makes the case impossible (see
    /// [`model::Concurrency`]); the degraded behaviour it promises instead
    /// was checked and holds. The text says which bound, why, and what was
    /// checked.
    ByDesign(String),
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The server broke the protocol; the text says how.
    Failed(String),
    /// The case cannot run against this target (a fixed server cannot be
    /// configured or signalled); the text says what it would need.
    NotApplicable(String),
}

impl From<String> for Fault {
    fn from(why: String) -> Fault {
        Fault::Failed(why)
    }
}

/// What a case returns.
pub type CaseResult = Result<Verdict, Fault>;

/// The outcome of one case against one target, for people and machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed, with what the case measured, if it measures anything.
    Passed(Option<String>),
    /// Cannot be met by design; the promised degraded behaviour holds.
    ByDesign(String),
    /// Could not run against this target.
    NotApplicable(String),
    /// Failed, with the reason.
    Failed(String),
}

impl Outcome {
    /// The outcome's name for machines: `pass`, `fail`, `by-design` or `not-applicable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Passed(_) => "pass",
            Outcome::Failed(_) => "fail",
            Outcome::ByDesign(_) => "by-design",
            Outcome::NotApplicable(_) => "not-applicable",
        }
    }

    /// Why, for every outcome but a pass; what was measured, for a pass
    /// that measured something.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Outcome::Passed(observed) => observed.as_deref(),
            Outcome::ByDesign(why) | Outcome::NotApplicable(why) | Outcome::Failed(why) => {
                Some(why)
            }
        }
    }
}

/// How hard the abuse cases push: [`Scale::Full`] is what the issue of
/// record asks for (1,000 slowloris clients, 20,000 churned connections);
/// [`Scale::Quick`] is the same cases at counts that keep `cargo test` and
/// CI fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Reduced counts.
    Quick,
    /// The counts of record.
    Full,
}

impl Scale {
    /// `count` at full scale, `quick` otherwise.
    fn pick(self, quick: usize, full: usize) -> usize {
        match self {
            Scale::Quick => quick,
            Scale::Full => full,
        }
    }
}

/// One case running against one target: what cases receive.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    /// Where servers come from.
    pub target: &'a dyn Target,
    /// How hard to push.
    pub scale: Scale,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("target", &self.target.name())
            .field("scale", &self.scale)
            .finish()
    }
}

impl Run<'_> {
    /// A warmed-up server configured as `setup` says.
    fn start(&self, setup: &Setup) -> Result<Server, Fault> {
        Server::start(self.target, setup)
    }

    /// `Some((limit, why))` if the server serves fewer than `needed`
    /// connections at once under `setup`.
    fn bounded_below(&self, setup: &Setup, needed: usize) -> Option<(usize, &'static str)> {
        self.target
            .bound(&setup.config())
            .filter(|&(limit, _)| limit < needed)
    }
}

/// Why a handshake case does not apply to a plain echo server.
pub const NO_HANDSHAKE: &str = "a plain echo server (--handshake none) has no handshake to check";

/// Runs `case` against `target`.
pub fn run(case: &Case, target: &dyn Target, scale: Scale) -> Outcome {
    if case.handshake && !target.handshake() {
        return Outcome::NotApplicable(NO_HANDSHAKE.into());
    }
    match (case.run)(&Run { target, scale }) {
        Ok(Verdict::Pass) => Outcome::Passed(None),
        Ok(Verdict::Observed(observed)) => Outcome::Passed(Some(observed)),
        Ok(Verdict::ByDesign(why)) => Outcome::ByDesign(why),
        Err(Fault::NotApplicable(why)) => Outcome::NotApplicable(why),
        Err(Fault::Failed(why)) => Outcome::Failed(why),
    }
}

/// The in-process test binary of a model: one test per case of [`CASES`],
/// generated from the list itself (a model crate's `tests/conformance.rs`,
/// built with `harness = false`, is `fn main` calling this). Cases that need
/// a process of their own are listed as ignored, with the reason as their
/// kind: `c10k check --serve` runs them.
pub fn main(model: &'static Model) -> ExitCode {
    let arguments = libtest_mimic::Arguments::from_args();
    let trials = CASES
        .iter()
        .map(|case| {
            let trial = Trial::test(case.name, move || run_case(model, case).map_err(Into::into));
            if case.own_process {
                trial
                    .with_kind("own process: run by c10k check --serve")
                    .with_ignored_flag(true)
            } else {
                trial
            }
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Serialises cases within one process, so descriptor counts are exact.
static ONE_CASE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long descriptors may take to return to baseline after a case.
const FD_SETTLE: Duration = Duration::from_secs(3);

/// Runs `case` against `model` in this process, then checks that the
/// process holds no more descriptors than before; `Err` says why it failed.
/// A by-design outcome passes and says so on stderr.
fn run_case(model: &Model, case: &Case) -> Result<(), String> {
    if let Err(why) = (model.available)() {
        // The one sanctioned way out: the model cannot run on this machine
        // at all (io_uring missing or forbidden). Said, not silent.
        eprintln!("{} / {}: not applicable: {why}", model.name, case.name);
        return Ok(());
    }
    let _serial = ONE_CASE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    warm_up(model)?;
    let baseline = open_descriptors();
    match run(case, &InProcess::new(model), Scale::Quick) {
        Outcome::Passed(_) => {}
        Outcome::ByDesign(why) => eprintln!("{} / {}: by design: {why}", model.name, case.name),
        Outcome::NotApplicable(why) | Outcome::Failed(why) => {
            return Err(format!("{} / {}: {why}", model.name, case.name));
        }
    }
    settle_descriptors(baseline).map_err(|why| format!("{} / {}: {why}", model.name, case.name))
}

/// Serves one connection once per process before any descriptor is counted.
///
/// Some runtimes create process-wide state on first use and keep it for
/// the life of the process (async-io's reactor: an epoll descriptor and an
/// eventfd). That is not a leak of the case that happens to run first, so
/// it is created before the first baseline is taken; every later case
/// still has to return to the count it started from.
fn warm_up(model: &Model) -> Result<(), String> {
    static WARMED_UP: OnceLock<Result<(), String>> = OnceLock::new();
    WARMED_UP
        .get_or_init(|| {
            let warm = || -> Result<(), Fault> {
                Server::start(&InProcess::new(model), &Setup::default())?.stop()?;
                Ok(())
            };
            warm().map_err(|why| format!("{}: warming up: {why:?}", model.name))
        })
        .clone()
}

/// The number of descriptors this process has open.
pub fn open_descriptors() -> usize {
    process_stats::open_fds(std::process::id()).map_or(0, |fds| fds as usize)
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
