//! Output that goes away: every subcommand that prints keeps working, and
//! ends with its usual status, when its standard output and error are pipes
//! whose reader has left (`c10k serve tokio | head -1`). Rust ignores
//! SIGPIPE, so each of their writes fails with EPIPE; a `println!` would
//! panic (exit status 101).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{C10K, Served, scratch_dir};

/// Runs `c10k args` with both output pipes closed before it writes, and
/// waits (at most a minute) for its exit status.
fn with_closed_output(args: &[&str]) -> ExitStatus {
    let mut child = Command::new(C10K)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    wait_at_most(&mut child, Duration::from_secs(60), args)
}

fn wait_at_most(child: &mut std::process::Child, limit: Duration, args: &[&str]) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("c10k {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_whose_output_closes_keeps_serving_and_exits_0() {
    for model in ["tokio", "may"] {
        let mut child = Command::new(C10K)
            .args(["serve", model, "--addr", "127.0.0.1:0", "--grace", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // `| head -1`: the first line is read, then the reader leaves.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        drop(child.stderr.take());
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();

        let mut client = TcpStream::connect(&addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"hello\nstill here").unwrap();
        let mut echo = [0; 16];
        client.read_exact(&mut echo).unwrap();
        assert_eq!(&echo, b"hello\nstill here", "{model}");
        drop(client);

        // The summary line at shutdown goes to the closed pipe.
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = wait_at_most(&mut child, Duration::from_secs(20), &[model]);
        assert_eq!(status.code(), Some(0), "{model}: {status}");
    }
}

#[test]
fn load_check_merge_plot_and_bench_finish_when_their_output_closes() {
    let served = Served::start(&["epoll-callback"]);
    let addr = served.addr.to_string();
    let dir = scratch_dir("closed-output");
    let record = dir.join("agent.json");
    let record = record.to_str().unwrap();
    let load = common::agent_load_args(&addr, record);
    let load: Vec<&str> = load.iter().map(String::as_str).collect();
    assert_eq!(with_closed_output(&load).code(), Some(0), "load");
    assert!(std::fs::metadata(record).is_ok(), "load wrote its record");
    assert_eq!(
        with_closed_output(&["merge", record]).code(),
        Some(0),
        "merge"
    );

    let check = ["check", &addr, "--only", "basic_echo,pipelined_data"];
    assert_eq!(with_closed_output(&check).code(), Some(0), "check");
    assert_eq!(
        with_closed_output(&["check", "--list"]).code(),
        Some(0),
        "check --list"
    );

    // bench prints its progress to standard error and the path to standard output.
    let run = dir.join("run");
    let run = run.to_str().unwrap();
    let bench = [
        "bench",
        "--models",
        "epoll-callback",
        "--conns",
        "2",
        "--sizes",
        "64",
        "--rates",
        "200",
        "--rate-conns",
        "2",
        "--efficiency-rates",
        "200",
        "--efficiency-conns",
        "2",
        "-d",
        "0.2",
        "--warmup",
        "0.1",
        "--hold",
        "0",
        "--connect-timeout",
        "1",
        "--out",
        run,
    ];
    assert_eq!(with_closed_output(&bench).code(), Some(0), "bench");
    assert!(std::fs::metadata(dir.join("run/results.json")).is_ok());
    assert_eq!(with_closed_output(&["plot", run]).code(), Some(0), "plot");
    let _ = std::fs::remove_dir_all(&dir);
}
