//! What the cases run against: a [`Target`] launches servers, each a
//! [`Launched`] handle the cases talk to, watch and stop.
//!
//! Three targets exist. A model served in a thread of the test process
//! ([`crate::InProcess`], what `cargo test` runs); a model served by
//! `c10k serve` in a child process (the harness's, for `c10k check --serve`),
//! which can also be signalled and run under a low open-file limit; and a
//! server someone else started at a fixed address (`c10k check HOST:PORT`),
//! which can be neither configured nor stopped, so cases that need either
//! are not applicable to it.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use model::{Config, Stats};

use crate::Fault;

/// How the server a case talks to must be configured. `None` means "as it
/// is": a target that starts servers uses the defaults (with a short grace
/// period); a fixed server is used as it runs.
///
/// The two timeouts are what a server c10k starts gets; a fixed server has
/// the timeouts it was declared to have, and cases that ask for a timeout
/// adapt to the one the server reports ([`Launched::timeouts`]). Every
/// other field must be met exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    /// `--handshake-timeout`.
    pub handshake_timeout: Option<Duration>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--max-conns`.
    pub max_conns: Option<usize>,
    /// `--grace`; also set by every case that stops the server itself and
    /// checks how it went.
    pub grace: Option<Duration>,
    /// `--workers`.
    pub workers: Option<NonZeroUsize>,
    /// The server runs under this soft open-file limit (a process of its own only).
    pub open_files: Option<u64>,
}

/// The grace period of a server whose case does not care: short, so that
/// stopping it does not dominate the suite's run time.
const DEFAULT_GRACE: Duration = Duration::from_secs(1);

impl Setup {
    /// The configuration a server started for this setup gets.
    pub fn config(&self) -> Config {
        self.config_on(Config::default())
    }

    /// `defaults` with what this setup asks for, and a short grace period
    /// unless it asks for one.
    pub fn config_on(&self, defaults: Config) -> Config {
        Config {
            handshake_timeout: self.handshake_timeout.unwrap_or(defaults.handshake_timeout),
            idle_timeout: self.idle_timeout.or(defaults.idle_timeout),
            max_conns: self.max_conns.unwrap_or(defaults.max_conns),
            grace: self.grace.unwrap_or(DEFAULT_GRACE),
            workers: self.workers.or(defaults.workers),
            ..defaults
        }
    }

    /// The `c10k serve` flags for this setup, as `--flag value` pairs.
    pub fn serve_flags(&self) -> Vec<String> {
        let config = self.config();
        let mut flags = vec![
            "--handshake-timeout".into(),
            secs(config.handshake_timeout),
            "--idle-timeout".into(),
            secs(config.idle_timeout.unwrap_or(Duration::ZERO)),
            "--grace".into(),
            secs(config.grace),
        ];
        if let Some(max) = self.max_conns {
            flags.extend(["--max-conns".into(), max.to_string()]);
        }
        if let Some(workers) = self.workers {
            flags.extend(["--workers".into(), workers.to_string()]);
        }
        flags
    }

    /// Only the flags this setup asks for, as `--flag value` pairs: what a
    /// server that is not ours is started with. It keeps its own settings,
    /// PROTOCOL.md's defaults, for the rest ([`Setup::protocol_config`]).
    pub fn asked_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        let mut ask = |flag: &str, value: Option<String>| {
            if let Some(value) = value {
                flags.extend([flag.to_string(), value]);
            }
        };
        ask("--handshake-timeout", self.handshake_timeout.map(secs));
        ask("--idle-timeout", self.idle_timeout.map(secs));
        ask("--max-conns", self.max_conns.map(|n| n.to_string()));
        ask("--grace", self.grace.map(secs));
        ask("--workers", self.workers.map(|n| n.to_string()));
        flags
    }

    /// The configuration of a server started with [`Setup::asked_flags`]:
    /// this setup over PROTOCOL.md's defaults, its grace period included.
    pub fn protocol_config(&self) -> Config {
        let defaults = Config::default();
        Config {
            grace: self.grace.unwrap_or(defaults.grace),
            ..self.config_on(defaults)
        }
    }

    /// What a fixed server with timeouts `has` lacks for this setup, as
    /// flags, for a message that says why a case cannot use it.
    pub fn needs(&self, has: &Timeouts) -> Option<String> {
        let mut needs = Vec::new();
        if self.idle_timeout.is_some() && has.idle.is_none() {
            needs.push("an idle timeout (declare the server's with --idle-timeout)".to_string());
        }
        if let Some(max) = self.max_conns {
            needs.push(format!("--max-conns {max}"));
        }
        if let Some(workers) = self.workers {
            needs.push(format!("--workers {workers}"));
        }
        if let Some(grace) = self.grace {
            needs.push(format!("--grace {} and a shutdown", secs(grace)));
        }
        if let Some(limit) = self.open_files {
            needs.push(format!("an open-file limit of {limit}"));
        }
        (!needs.is_empty()).then(|| needs.join(", "))
    }
}

fn secs(duration: Duration) -> String {
    format!("{}", duration.as_secs_f64())
}

/// Something the suite can launch servers from.
pub trait Target {
    /// What the output calls it: a model's name or an address.
    fn name(&self) -> String;

    /// Checked once before any case: whether this target can provide a
    /// server at all (a command that does not start, say). `Err` is one
    /// line, and no case runs.
    fn preflight(&self) -> Result<(), String> {
        Ok(())
    }

    /// Whether the server speaks PROTOCOL.md's `hello` handshake; `false`
    /// for a plain echo server, to which the handshake cases do not apply.
    fn handshake(&self) -> bool {
        true
    }

    /// The number of connections the server serves at once under `config`
    /// and why, if it declares a bound; see [`model::Concurrency`].
    fn bound(&self, config: &Config) -> Option<(usize, &'static str)>;

    /// A server configured as `setup` says, ready for clients.
    /// [`Fault::NotApplicable`] if this target cannot provide one.
    fn launch(&self, setup: &Setup) -> Result<Box<dyn Launched>, Fault>;
}

/// The timeouts a running server applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// `--handshake-timeout`.
    pub handshake: Duration,
    /// `--idle-timeout`; `None` if connections may idle forever.
    pub idle: Option<Duration>,
}

impl Timeouts {
    /// The timeouts `config` sets.
    pub fn of(config: &Config) -> Timeouts {
        Timeouts {
            handshake: config.handshake_timeout,
            idle: config.idle_timeout,
        }
    }
}

/// A server's resources, where the suite can read them from `/proc`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resources {
    /// Open descriptors.
    pub fds: u64,
    /// Threads, when the process is the server's alone (not the test's).
    pub threads: Option<u64>,
    /// Resident memory.
    pub rss_kib: u64,
    /// User plus system CPU seconds, when the process is the server's alone.
    pub cpu_s: Option<f64>,
}

/// The signals a server takes from its operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: stop accepting, finish within the grace period, exit 0.
    Terminate,
    /// SIGINT: the same the first time; the second ends the process at once.
    Interrupt,
}

/// How a server ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    /// The server's final counters, where the suite can see them.
    pub stats: Option<Stats>,
    /// From the request to stop (or the call to wait) until it was gone.
    pub took: Duration,
    /// The exit status of a server process (0 for an in-process server
    /// whose `serve` returned `Ok`); `None` for a server left running.
    pub code: Option<i32>,
}

/// One running server, as a target launched it.
pub trait Launched {
    /// The address clients connect to.
    fn addr(&self) -> SocketAddr;

    /// The timeouts the server applies.
    fn timeouts(&self) -> Timeouts;

    /// The server's live counters, if the suite can see them.
    fn stats(&self) -> Option<Stats>;

    /// The server's resources now, if the suite can read them.
    fn resources(&self) -> Option<Resources>;

    /// Delivers `signal`. [`Fault::NotApplicable`] where the suite cannot.
    fn signal(&self, signal: Signal) -> Result<(), Fault>;

    /// Asks the server to stop (SIGTERM) unless a signal was already sent,
    /// then waits for it to end, for at most its grace period plus `slack`.
    /// `Err` if it failed, crashed or hung. A server the suite did not start
    /// is left running.
    fn stop(self: Box<Self>, slack: Duration) -> Result<Exit, String>;
}
