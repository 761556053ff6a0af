//! A model served on `127.0.0.1:<free port>` in a thread of this process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::{Config, Counters, Model, Shutdown, Stats};

/// How long past its grace period a stopping server may take to return.
const STOP_SLACK: Duration = Duration::from_secs(3);

/// A running server. Dropping it stops it (best effort); call
/// [`Server::stop`] to check that it stopped properly.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    grace: Duration,
    shutdown: Shutdown,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `model` with `config` on a fresh loopback port.
    pub fn start(model: &Model, config: Config) -> Result<Server, String> {
        let listener = model::listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .map_err(|e| format!("binding a loopback port: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("reading the bound address: {e}"))?;
        let shutdown = Shutdown::new();
        let counters = Arc::new(Counters::default());
        let grace = config.grace;
        let serve = model.serve;
        let thread = std::thread::Builder::new()
            .name(format!("serve-{}", model.name))
            .spawn({
                let shutdown = shutdown.clone();
                let counters = counters.clone();
                move || serve(listener, config, shutdown, counters)
            })
            .map_err(|e| format!("spawning the server thread: {e}"))?;
        Ok(Server {
            addr,
            grace,
            shutdown,
            counters,
            thread: Some(thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's live counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Triggers the shutdown without waiting (the SIGTERM of an in-process server).
    pub fn trigger_shutdown(&self) {
        self.shutdown.trigger();
    }

    /// Shuts down and checks that `serve` returned `Ok` within the grace
    /// period plus slack. Returns the final counters and how long it took.
    pub fn stop(mut self) -> Result<(Stats, Duration), String> {
        let started = Instant::now();
        self.shutdown.trigger();
        let thread = self.thread.take().expect("stop is called once");
        let limit = self.grace + STOP_SLACK;
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
            Ok(Ok(())) => Ok((self.counters.snapshot(), took)),
            Ok(Err(e)) => Err(format!("serve returned an error: {e}")),
            Err(_) => Err("serve panicked".into()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shutdown.trigger();
            // Bounded: a model that hangs must fail its case, not the process.
            let deadline = Instant::now() + self.grace + STOP_SLACK;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}
