//! A server in a child process: `c10k serve MODEL`, or any command given
//! with `--server NAME='COMMAND'`, started on a free port with the flags the
//! caller wants, watched from `/proc`, signalled, and waited for. The bench
//! measures servers this way; `c10k check --serve`/`--server` tests them
//! this way; `cargo bench` starts each model's server this way.
//!
//! ```no_run
//! use std::time::Duration;
//! use server_process::{ServerProcess, Stopped};
//!
//! // A plain echo server of anyone's, on a free port.
//! let server = ServerProcess::start_command("python3 echo.py", &[]).map_err(|f| f.why)?;
//! println!("listening on {}", server.addr);
//! assert!(matches!(server.stop(Duration::from_secs(2)), Stopped::Cleanly(_)));
//! # Ok::<(), String>(())
//! ```

mod commanded;

pub use commanded::ExternalServer;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use process_stats::ProcSample;
use rustix::process::{Pid, Signal};

/// How long a server may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long past its grace period a stopping server may take to exit.
pub const STOP_SLACK: Duration = Duration::from_secs(5);

/// A running `c10k serve`.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// How many connections the server says it serves at once, if it says
    /// (`concurrency=N` in its `listening` line).
    pub declared_concurrency: Option<usize>,
    /// Standard output after the `listening` line: the `stopped ...` summary.
    stdout: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// Why a server did not start: one line, and its exit status if it exited
/// by itself (2 is a refused command line, by PROTOCOL.md and by argparse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub why: String,
    pub exit_code: Option<i32>,
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
    /// Starts `c10k serve <model> --addr 127.0.0.1:0 <flags>`.
    pub fn start(model: &str, flags: &[String]) -> Result<ServerProcess, String> {
        ServerProcess::start_binary(&own_executable()?, model, flags)
    }

    /// Starts `<c10k> serve <model> --addr 127.0.0.1:0 <flags>`, where `c10k`
    /// is the path of the binary (for a caller that is not c10k itself).
    pub fn start_binary(
        c10k: &std::path::Path,
        model: &str,
        flags: &[String],
    ) -> Result<ServerProcess, String> {
        let mut command = Command::new(c10k);
        command
            .args(["serve", model, "--addr", "127.0.0.1:0"])
            .args(flags);
        ServerProcess::spawn(command).map_err(|failure| failure.why)
    }

    /// Starts a server that is not one of ours: `sh -c 'exec COMMAND'`, so
    /// that the process c10k watches is the server itself, with `{addr}`
    /// in it replaced by `127.0.0.1:0`, or `--addr 127.0.0.1:0` appended if
    /// it has none, and then `flags`.
    pub fn start_command(command: &str, flags: &[String]) -> Result<ServerProcess, StartFailure> {
        const ADDR: &str = "127.0.0.1:0";
        let mut line = if command.contains("{addr}") {
            command.replace("{addr}", ADDR)
        } else {
            format!("{command} --addr {ADDR}")
        };
        for flag in flags {
            line.push(' ');
            line.push_str(flag);
        }
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(format!("exec {line}"));
        ServerProcess::spawn(shell)
    }

    fn spawn(mut command: Command) -> Result<ServerProcess, StartFailure> {
        let failed = |why: String| StartFailure {
            why,
            exit_code: None,
        };
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("cannot start the server: {e}")))?;
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
        let stderr_reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut errors) = collected.lock() {
                    errors.push(line);
                }
            }
        });
        let line = match received.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(timeout) => {
                let exited = matches!(timeout, mpsc::RecvTimeoutError::Disconnected);
                if !exited {
                    let _ = child.kill();
                }
                let status = child.wait().ok();
                let _ = stderr_reader.join();
                let last = errors
                    .lock()
                    .ok()
                    .and_then(|errors| errors.last().cloned())
                    .unwrap_or_default();
                let why = match status {
                    Some(status) if exited => {
                        format!("exited before its listening line ({status})")
                    }
                    _ => format!("no listening line within {START_TIMEOUT:?}"),
                };
                let why = if last.is_empty() {
                    why
                } else {
                    format!("{why}: {last}")
                };
                return Err(StartFailure {
                    why,
                    exit_code: status.filter(|_| exited).and_then(|status| status.code()),
                });
            }
        };
        let mut words = line
            .strip_prefix("listening on ")
            .map(|rest| rest.split_whitespace());
        let addr = words
            .as_mut()
            .and_then(|words| words.next())
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| failed(format!("unexpected first line {line:?}")))?;
        let declared_concurrency = words
            .into_iter()
            .flatten()
            .find_map(|word| word.strip_prefix("concurrency="))
            .and_then(|n| n.parse().ok());
        Ok(ServerProcess {
            child,
            addr,
            declared_concurrency,
            stdout: received,
            stderr: errors,
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resources now.
    pub fn sample(&self) -> Option<ProcSample> {
        process_stats::sample(self.pid())
    }

    /// `Some(reason)` if the server has exited already.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited by itself ({status}){}", self.stderr_tail())),
            _ => None,
        }
    }

    /// Whether the server has exited, without reaping it: its status stays
    /// for [`wait`](Self::wait).
    pub fn has_exited(&self) -> bool {
        use rustix::process::{WaitId, WaitIdOptions, waitid};
        let Some(pid) = Pid::from_raw(self.pid() as i32) else {
            return true;
        };
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        matches!(waitid(WaitId::Pid(pid), options), Ok(Some(_)))
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) -> Result<(), String> {
        let pid = Pid::from_raw(self.pid() as i32).ok_or("the server has no pid")?;
        rustix::process::kill_process(pid, signal)
            .map_err(|e| format!("cannot signal the server: {e}"))
    }

    /// Waits up to `limit` for the server to exit; `None` if it is still running.
    pub fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Err(_) => return None,
                Ok(None) if Instant::now() >= deadline => return None,
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// The `stopped model=... accepted=...` line a server prints as it exits cleanly.
    pub fn summary(&self) -> Option<String> {
        self.stdout
            .recv_timeout(Duration::from_secs(1))
            .ok()
            .filter(|line| line.starts_with("stopped "))
    }

    /// SIGTERM, then waits up to `grace` plus slack; kills it if it hangs.
    pub fn stop(mut self, grace: Duration) -> Stopped {
        if let Some(crash) = self.exited() {
            return Stopped::Crashed(crash);
        }
        let _ = self.signal(Signal::TERM);
        match self.wait(grace + STOP_SLACK) {
            Some(status) if status.success() => {
                Stopped::Cleanly(self.summary().unwrap_or_default())
            }
            // A server with no handler of its own (a plain echo server,
            // say) ends by the signal's default action: it stopped as asked.
            // Ours exit 0, which the conformance suite holds them to.
            Some(status) if status.signal() == Some(Signal::TERM.as_raw()) => {
                Stopped::Cleanly("ended by SIGTERM".into())
            }
            Some(status) => Stopped::Crashed(format!("exited with {status}{}", self.stderr_tail())),
            None => Stopped::Hung,
        }
    }

    /// The last line the server wrote to standard error, as `: line`, if any.
    pub fn stderr_tail(&self) -> String {
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

/// This very binary. `/proc/self/exe` still runs it after `cargo build`
/// has replaced the file mid-run, which the path would not.
fn own_executable() -> Result<std::path::PathBuf, String> {
    let proc_self = std::path::PathBuf::from("/proc/self/exe");
    if proc_self.exists() {
        return Ok(proc_self);
    }
    std::env::current_exe().map_err(|e| format!("cannot find c10k itself: {e}"))
}

/// Runs the calling thread (and the threads and processes it starts
/// afterwards) on `cpus` only.
pub fn pin_to(cpus: &[usize]) -> Result<(), String> {
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    rustix::thread::sched_setaffinity(None, &set)
        .map_err(|e| format!("cannot pin to CPUs {cpus:?}: {e}"))
}

/// Lets the calling thread run on every CPU again.
pub fn unpin(cores: usize) {
    let mut set = rustix::thread::CpuSet::new();
    for cpu in 0..cores {
        set.set(cpu);
    }
    let _ = rustix::thread::sched_setaffinity(None, &set);
}
