//! A model served by `c10k serve` in a child process: started on a free
//! port, watched from `/proc`, stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::procfs::{self, ProcSample};

/// How long a server may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// The grace period the bench gives servers (their connections are closed by then).
pub const GRACE: Duration = Duration::from_secs(2);

/// A running `c10k serve`.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// The `stopped ...` summary line, once printed.
    summary: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// How a server ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Exited with status 0 after SIGTERM; its summary line.
    Cleanly(String),
    /// Exited on its own before it was asked to, or with a failure status.
    Crashed(String),
    /// Did not exit within the grace period plus slack; it was killed.
    Hung,
}

impl ServerProcess {
    /// Starts `c10k serve <model> --addr 127.0.0.1:0`.
    pub fn start(model: &str) -> Result<ServerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find c10k itself: {e}"))?;
        let mut child = Command::new(exe)
            .args(["serve", model, "--addr", "127.0.0.1:0", "--grace"])
            .arg(GRACE.as_secs().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let errors = Arc::new(Mutex::new(Vec::new()));
        let collected = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut errors) = collected.lock() {
                    errors.push(line);
                }
            }
        });
        let line = received.recv_timeout(START_TIMEOUT).map_err(|_| {
            let _ = child.kill();
            let _ = child.wait();
            let why = errors.lock().map(|e| e.join(" ")).unwrap_or_default();
            format!("no listening line within {START_TIMEOUT:?}: {why}")
        })?;
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("unexpected first line {line:?}"))?;
        Ok(ServerProcess {
            child,
            addr,
            summary: received,
            stderr: errors,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resources now.
    pub fn sample(&self) -> Option<ProcSample> {
        procfs::sample(self.pid())
    }

    /// `Some(reason)` if the server has exited already.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited by itself ({status}){}", self.stderr_tail())),
            _ => None,
        }
    }

    /// SIGTERM, then waits up to the grace period plus slack.
    pub fn stop(mut self) -> Stopped {
        if let Some(crash) = self.exited() {
            return Stopped::Crashed(crash);
        }
        let pid = rustix::process::Pid::from_raw(self.pid() as i32);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + GRACE + Duration::from_secs(5);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => {
                    let summary = self
                        .summary
                        .recv_timeout(Duration::from_secs(1))
                        .unwrap_or_default();
                    return Stopped::Cleanly(summary);
                }
                Ok(Some(status)) => {
                    return Stopped::Crashed(format!("exited with {status}{}", self.stderr_tail()));
                }
                _ if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Stopped::Hung;
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    fn stderr_tail(&self) -> String {
        let errors = self.stderr.lock().map(|e| e.clone()).unwrap_or_default();
        match errors.last() {
            Some(last) => format!(": {last}"),
            None => String::new(),
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the calling thread (and the threads and processes it starts
/// afterwards) on CPU `cpu` only.
pub fn pin_to(cpu: usize) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))
}

/// Lets the calling thread run on every CPU again.
pub fn unpin(cores: usize) {
    let mut set = rustix::thread::CpuSet::new();
    for cpu in 0..cores {
        set.set(cpu);
    }
    let _ = rustix::thread::sched_setaffinity(None, &set);
}
