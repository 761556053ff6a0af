//! Servers for the CLI tests to point `c10k` at: a throwaway one (a thread
//! per connection, accepting for at most a minute, so that no test leaves a
//! loop running) and `c10k serve` itself. Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) const C10K: &str = env!("CARGO_BIN_EXE_c10k");

/// `c10k serve <args> --addr 127.0.0.1:0`, killed when dropped.
pub(crate) struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub(crate) addr: SocketAddr,
}

impl Served {
    /// Starts it and waits for its `listening on ADDR model=MODEL` line.
    pub(crate) fn start(args: &[&str]) -> Served {
        Served::with_open_file_limit(args, None)
    }

    /// Like [`start`](Self::start), under `ulimit -n <nofile>` if given.
    pub(crate) fn with_open_file_limit(args: &[&str], nofile: Option<u32>) -> Served {
        let mut command = match nofile {
            None => Command::new(C10K),
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.args([
                    "-c",
                    &format!("ulimit -n {limit} && exec \"$0\" \"$@\""),
                    C10K,
                ]);
                sh
            }
        };
        let mut child = command
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("c10k serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a listening line");
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("expected `listening on ADDR`, got {line:?}"));
        assert!(
            line.trim_end().ends_with(&format!("model={}", args[0])),
            "{line:?}"
        );
        Served {
            child,
            stdout,
            addr,
        }
    }

    /// The server's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal `name` (`TERM`, `INT`).
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.child.id())])
            .status()
            .expect("sh runs kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; returns its status and the rest of stdout.
    pub(crate) fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                let mut rest = String::new();
                let _ = self.stdout.read_to_string(&mut rest);
                return (status, rest);
            }
            assert!(
                Instant::now() < deadline,
                "c10k did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// CPU seconds (user + system) the server has used so far.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        process_stats::cpu_seconds(self.pid()).expect("the server is running")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long a test server accepts connections.
const ACCEPTS_FOR: Duration = Duration::from_secs(60);

/// Serves every connection to `127.0.0.1:<free port>` with `serve`, on a
/// thread of its own.
pub(crate) fn spawn_server<F>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) + Clone + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + ACCEPTS_FOR;
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let serve = serve.clone();
                    std::thread::spawn(move || serve(stream));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    addr
}

/// An empty scratch folder for one test process, under the system's temp dir.
pub(crate) fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("c10k-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `c10k load` as one agent of a run starting in a second: 4 connections at
/// 400 msg/s for 0.3 s, its record written to `json`. What `c10k merge`
/// takes (it reads only agents that started together).
pub(crate) fn agent_load_args(addr: &str, json: &str) -> Vec<String> {
    let start = std::time::SystemTime::now() + Duration::from_secs(1);
    let start = start.duration_since(std::time::UNIX_EPOCH).unwrap();
    [
        "load",
        addr,
        "-c",
        "4",
        "-d",
        "0.3",
        "--warmup",
        "0.1",
        "--rate",
        "400",
        "--json",
        json,
        "--start-at",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .chain([format!("{:.3}", start.as_secs_f64())])
    .collect()
}
