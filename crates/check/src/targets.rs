//! The targets `c10k check` adds to the in-process one of `cargo test`: a
//! model in a `c10k serve` child process started per case with the flags
//! the case needs, a server of someone else's started the same way from
//! its command (`--server`), and a server someone else runs at a fixed
//! address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conformance::Fault;
use conformance::target::{Exit, Launched, Resources, Setup, Signal, Target, Timeouts};
use model::{Config, Model, Stats};
use process_stats::ProcSample;

use server_process::{ExternalServer, ServerProcess};

/// How long a server process gets to act on a signal before the case goes on.
const SIGNAL_LANDS: Duration = Duration::from_millis(100);

/// A model served by `c10k serve` in a process of its own, one per case.
#[derive(Debug, Clone, Copy)]
pub struct ServedModel(pub &'static Model);

impl Target for ServedModel {
    fn name(&self) -> String {
        self.0.name.to_string()
    }

    fn bound(&self, config: &Config) -> Option<(usize, &'static str)> {
        self.0.concurrency.bound(config)
    }

    fn launch(&self, setup: &Setup) -> Result<Box<dyn Launched>, Fault> {
        if let Err(why) = (self.0.available)() {
            return Err(Fault::NotApplicable(why));
        }
        let process = ServerProcess::start(self.0.name, &setup.serve_flags())?;
        ServerChild::launched(process, setup, &setup.config())
    }
}

/// A server that is not ours, started from its command per case with only
/// the flags the case asks for (PROTOCOL.md §3.1 names them). A command
/// that refuses them (exit status 2 before listening, as PROTOCOL.md and
/// argparse do) makes the case n/a; one that fails otherwise fails it.
#[derive(Debug)]
pub struct Commanded(pub ExternalServer);

/// Why a server that is not ours is bounded, when it says it is.
const DECLARED: &str = "the server declares concurrency=N in its listening line";

impl Target for Commanded {
    fn name(&self) -> String {
        self.0.name.clone()
    }

    fn handshake(&self) -> bool {
        self.0.handshake
    }

    /// Starts it once: whether it starts, and what its listening line
    /// declares ([`Target::bound`] needs that before the first case).
    fn preflight(&self) -> Result<(), String> {
        self.0.probe()
    }

    fn bound(&self, _config: &Config) -> Option<(usize, &'static str)> {
        self.0.declared_concurrency().map(|n| (n, DECLARED))
    }

    fn launch(&self, setup: &Setup) -> Result<Box<dyn Launched>, Fault> {
        let flags = setup.asked_flags();
        let process = match self.0.start(&flags) {
            Ok(process) => process,
            Err(failure) if failure.exit_code == Some(2) && !flags.is_empty() => {
                return Err(Fault::NotApplicable(format!(
                    "the command refuses `{}`: {}",
                    flags.join(" "),
                    failure.why
                )));
            }
            Err(failure) => return Err(Fault::Failed(failure.why)),
        };
        ServerChild::launched(process, setup, &setup.protocol_config())
    }
}

/// Lowers the server's soft open-file limit once it listens. Set from
/// outside (`prlimit(2)`), so the server computes its defaults as usual
/// and then meets EMFILE on accept, which is what the case is about.
fn lower_open_file_limit(process: &ServerProcess, soft: u64) -> Result<(), String> {
    use rustix::process::{Pid, Resource, Rlimit, getrlimit, prlimit};
    let pid = Pid::from_raw(process.pid() as i32).ok_or("the server has no pid")?;
    // The child inherited this process's hard limit; it stays.
    let maximum = getrlimit(Resource::Nofile).maximum;
    prlimit(
        Some(pid),
        Resource::Nofile,
        Rlimit {
            current: Some(soft),
            maximum,
        },
    )
    .map(drop)
    .map_err(|e| format!("lowering the server's open-file limit to {soft}: {e}"))
}

/// One `c10k serve` child.
#[derive(Debug)]
struct ServerChild {
    process: ServerProcess,
    grace: Duration,
    timeouts: Timeouts,
    /// Whether a signal was sent already: stopping must not send a second
    /// one, which would end the process at once.
    signalled: AtomicBool,
}

impl ServerChild {
    /// A started server, run as `setup` asks (under its open-file limit, if
    /// any) and held to `config`'s grace period and timeouts.
    fn launched(
        process: ServerProcess,
        setup: &Setup,
        config: &Config,
    ) -> Result<Box<dyn Launched>, Fault> {
        if let Some(limit) = setup.open_files {
            lower_open_file_limit(&process, limit)?;
        }
        Ok(Box::new(ServerChild {
            process,
            grace: config.grace,
            timeouts: Timeouts::of(config),
            signalled: AtomicBool::new(false),
        }))
    }
}

impl Launched for ServerChild {
    fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn stats(&self) -> Option<Stats> {
        None
    }

    fn resources(&self) -> Option<Resources> {
        let pid = self.process.pid();
        self.process
            .sample()
            .map(|sample| whole_process(pid, sample))
    }

    fn signal(&self, signal: Signal) -> Result<(), Fault> {
        self.signalled.store(true, Ordering::Relaxed);
        let signal = match signal {
            Signal::Terminate => rustix::process::Signal::TERM,
            Signal::Interrupt => rustix::process::Signal::INT,
        };
        self.process.signal(signal)?;
        // A signal is handled asynchronously (a signal thread wakes the
        // server's loops). Give it time to land, so that what the case does
        // next happens after the shutdown began, as it does in-process;
        // a signal that ends the process lands when it has exited.
        let sent = Instant::now();
        while sent.elapsed() < SIGNAL_LANDS && !self.process.has_exited() {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    fn stop(mut self: Box<Self>, slack: Duration) -> Result<Exit, String> {
        let started = Instant::now();
        if !self.signalled.load(Ordering::Relaxed) {
            // Unasked, it must still be serving.
            if let Some(crash) = self.process.exited() {
                return Err(format!("the server {crash}"));
            }
            self.process.signal(rustix::process::Signal::TERM)?;
        }
        let limit = self.grace + slack;
        let Some(status) = self.process.wait(limit) else {
            return Err(format!(
                "the server did not exit within {limit:?} of SIGTERM (grace {:?}); killed",
                self.grace
            ));
        };
        let took = started.elapsed();
        let Some(code) = status.code() else {
            return Err(format!("the server was {status}"));
        };
        let stats = match code {
            0 => Some(
                self.process
                    .summary()
                    .ok_or("the server exited without its summary line")?
                    .parse()?,
            ),
            _ => None,
        };
        Ok(Exit {
            stats,
            took,
            code: Some(code),
        })
    }
}

/// A server someone else started, at a fixed address; watched through
/// `/proc/<pid>` if its pid is given.
#[derive(Debug, Clone, Copy)]
pub struct Remote {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    /// The timeouts the server was started with, as its operator declares
    /// them (PROTOCOL.md's defaults unless told otherwise).
    pub timeouts: Timeouts,
    /// Speaks PROTOCOL.md's handshake; `false` for a plain echo server.
    pub handshake: bool,
}

impl Target for Remote {
    fn name(&self) -> String {
        self.addr.to_string()
    }

    fn handshake(&self) -> bool {
        self.handshake
    }

    fn bound(&self, _config: &Config) -> Option<(usize, &'static str)> {
        // Nothing is declared: the server is held to the whole protocol.
        None
    }

    fn launch(&self, setup: &Setup) -> Result<Box<dyn Launched>, Fault> {
        match setup.needs(&self.timeouts) {
            Some(needs) => Err(Fault::NotApplicable(format!(
                "needs {needs}, which only a server c10k starts can have (`c10k check --serve MODEL`)"
            ))),
            None => Ok(Box::new(*self)),
        }
    }
}

impl Launched for Remote {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn stats(&self) -> Option<Stats> {
        None
    }

    fn resources(&self) -> Option<Resources> {
        let pid = self.pid?;
        process_stats::sample(pid).map(|sample| whole_process(pid, sample))
    }

    fn signal(&self, _signal: Signal) -> Result<(), Fault> {
        Err(Fault::NotApplicable(
            "c10k does not signal a server it did not start".into(),
        ))
    }

    fn stop(self: Box<Self>, _slack: Duration) -> Result<Exit, String> {
        // Not ours to stop: it keeps running for the next case.
        Ok(Exit {
            stats: None,
            took: Duration::ZERO,
            code: None,
        })
    }
}

/// Resources of a process that is the server's alone. Its threads leave
/// out io_uring's kernel workers, which the kernel reaps on its own time.
fn whole_process(pid: u32, sample: ProcSample) -> Resources {
    let kernel_owned = process_stats::io_uring_threads(pid);
    Resources {
        fds: sample.fds,
        threads: Some(sample.threads.saturating_sub(kernel_owned)),
        rss_kib: sample.rss_kib,
        cpu_s: Some(sample.cpu_s()),
    }
}
