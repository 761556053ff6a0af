//! A model served on `127.0.0.1:<free port>` in a thread of this process:
//! the target of `cargo test`, where the suite sees the server's counters.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::{Config, Counters, Model, Shutdown, Stats};

use crate::Fault;
use crate::target::{Exit, Launched, Resources, Setup, Signal, Target, Timeouts};

/// The [`Target`] that serves a model in this process.
#[derive(Debug, Clone)]
pub struct InProcess<'a> {
    model: &'a Model,
    /// What a case's [`Setup`] leaves as it is.
    base: Config,
}

impl<'a> InProcess<'a> {
    /// `model` with the default configuration.
    pub fn new(model: &'a Model) -> InProcess<'a> {
        InProcess::with_config(model, Config::default())
    }

    /// `model` with `base` wherever a case does not say otherwise (a
    /// runtime's flavour, say).
    pub fn with_config(model: &'a Model, base: Config) -> InProcess<'a> {
        InProcess { model, base }
    }
}

impl Target for InProcess<'_> {
    fn name(&self) -> String {
        self.model.name.to_string()
    }

    fn bound(&self, config: &Config) -> Option<(usize, &'static str)> {
        self.model.concurrency.bound(config)
    }

    fn launch(&self, setup: &Setup) -> Result<Box<dyn Launched>, Fault> {
        if setup.open_files.is_some() {
            return Err(Fault::NotApplicable(
                "an open-file limit would bind the test's own clients too; \
                 `c10k check --serve` runs this case against a server process"
                    .into(),
            ));
        }
        let config = setup.config_on(self.base.clone());
        Ok(Box::new(ServerThread::start(self.model, config)?))
    }
}

/// A model's `serve` running on a thread of its own.
#[derive(Debug)]
struct ServerThread {
    addr: SocketAddr,
    grace: Duration,
    timeouts: Timeouts,
    shutdown: Shutdown,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerThread {
    fn start(model: &Model, config: Config) -> Result<ServerThread, String> {
        let listener = model::listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(|e| format!("binding a loopback port: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("reading the bound address: {e}"))?;
        let shutdown = Shutdown::new();
        let counters = Arc::new(Counters::default());
        let grace = config.grace;
        let timeouts = Timeouts::of(&config);
        let serve = model.serve;
        let thread = std::thread::Builder::new()
            .name(format!("serve-{}", model.name))
            .spawn({
                let shutdown = shutdown.clone();
                let counters = counters.clone();
                move || serve(listener, config, shutdown, counters)
            })
            .map_err(|e| format!("spawning the server thread: {e}"))?;
        Ok(ServerThread {
            addr,
            grace,
            timeouts,
            shutdown,
            counters,
            thread: Some(thread),
        })
    }
}

impl Launched for ServerThread {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn stats(&self) -> Option<Stats> {
        Some(self.counters.snapshot())
    }

    fn resources(&self) -> Option<Resources> {
        // The whole test process: its descriptors are the server's plus the
        // case's clients, its threads and CPU time are not the server's alone.
        let me = process_stats::sample(std::process::id())?;
        Some(Resources {
            fds: me.fds,
            threads: None,
            rss_kib: me.rss_kib,
            cpu_s: None,
        })
    }

    fn signal(&self, signal: Signal) -> Result<(), Fault> {
        match signal {
            Signal::Terminate => {
                self.shutdown.trigger();
                Ok(())
            }
            Signal::Interrupt => Err(Fault::NotApplicable(
                "a second SIGINT ends the serving process; \
                 `c10k check --serve` runs this case against a server process"
                    .into(),
            )),
        }
    }

    fn stop(mut self: Box<Self>, slack: Duration) -> Result<Exit, String> {
        let started = Instant::now();
        self.shutdown.trigger();
        let thread = self.thread.take().expect("stop is called once");
        let limit = self.grace + slack;
        while !thread.is_finished() {
            if started.elapsed() > limit {
                return Err(format!(
                    "serve did not return within {limit:?} of the shutdown (grace {:?})",
                    self.grace
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let took = started.elapsed();
        match thread.join() {
            Ok(Ok(())) => Ok(Exit {
                stats: Some(self.counters.snapshot()),
                took,
                code: Some(0),
            }),
            Ok(Err(e)) => Err(format!("serve returned an error: {e}")),
            Err(_) => Err("serve panicked".into()),
        }
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown.trigger();
            // Bounded: a model that hangs must fail its case, not the process.
            let deadline = Instant::now() + self.grace + Duration::from_secs(3);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
