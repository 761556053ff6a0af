//! `c10k serve` as a user runs it: a separate process, a listening line,
//! signals, one-line errors, and survival when descriptors run out.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use bench_harness::models::MODELS;
use common::{C10K, Served};

/// Every model's name, in the tour's order.
fn model_names() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|model| model.name)
}

fn handshaken(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"hello\n").unwrap();
    let mut reply = [0; 6];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"hello\n");
    stream
}

/// Sends `bytes` and checks that exactly they come back.
fn assert_echo(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).unwrap();
    let mut echo = vec![0; bytes.len()];
    stream.read_exact(&mut echo).unwrap();
    assert_eq!(echo, bytes);
}

/// Runs `c10k` to completion, or kills it after 10 s (a command line that
/// should have been refused must not hang the test).
fn c10k(args: &[&str]) -> Output {
    let mut child = Command::new(C10K)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("c10k {args:?} was still running after 10 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn every_model_serves_and_stops_gracefully_on_sigterm() {
    for model in model_names() {
        let served = Served::start(&[model]);
        let mut client = handshaken(served.addr);
        assert_echo(&mut client, b"ping");
        drop(client);
        served.signal("TERM");
        let (status, rest) = served.wait(Duration::from_secs(10));
        assert!(status.success(), "{model}: {status}");
        let line = rest.trim();
        let counts = format!("stopped model={model} accepted=1 rejected=0 completed=1 errors=0");
        let detail = line
            .strip_prefix(&counts)
            .unwrap_or_else(|| panic!("{model}: {line:?}"));
        // Only monoio says more: which of its drivers served.
        match model {
            "monoio" => assert!(
                matches!(detail, " driver=io_uring" | " driver=legacy"),
                "{line}"
            ),
            _ => assert_eq!(detail, "", "{line}"),
        }
    }
}

#[test]
fn resets_before_the_handshake_count_as_rejected_not_errors() {
    for model in model_names() {
        let served = Served::start(&[model]);
        for partial in [&b""[..], b"hel", b"hello", b"hel", b""] {
            let mut client = TcpStream::connect(served.addr).unwrap();
            client.write_all(partial).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            // A zero linger makes the close a reset.
            socket2::SockRef::from(&client)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        let mut client = handshaken(served.addr);
        assert_echo(&mut client, b"after the resets");
        drop(client);
        served.signal("TERM");
        let (status, rest) = served.wait(Duration::from_secs(10));
        assert!(status.success(), "{model}: {status}");
        let stats: model::Stats = rest.trim().parse().unwrap();
        assert_eq!(
            (stats.errors, stats.completed, stats.rejected + 1),
            (0, 1, stats.accepted),
            "{model}: errors counts only handshaken connections: {rest}"
        );
    }
}

#[test]
fn tokio_serves_with_the_current_thread_flavor() {
    let served = Served::start(&["tokio", "--flavor", "current-thread"]);
    let mut client = handshaken(served.addr);
    assert_echo(&mut client, b"one thread");
    drop(client);
    served.signal("TERM");
    let (status, _) = served.wait(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[test]
fn sigint_waits_for_an_open_connection_within_the_grace_period() {
    let served = Served::start(&["thread-per-conn", "--grace", "30"]);
    let mut client = handshaken(served.addr);
    served.signal("INT");
    std::thread::sleep(Duration::from_millis(200));
    assert_echo(&mut client, b"still here");
    drop(client);
    let (status, rest) = served.wait(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(rest.contains("completed=1"), "{rest}");
}

#[test]
fn a_second_signal_exits_at_once() {
    let served = Served::start(&["thread-per-conn", "--grace", "60"]);
    let _client = handshaken(served.addr);
    served.signal("TERM");
    std::thread::sleep(Duration::from_millis(200));
    served.signal("TERM");
    let (status, _) = served.wait(Duration::from_secs(5));
    assert_eq!(status.code(), Some(128 + 15));
}

#[test]
fn bad_command_lines_get_one_line_and_a_failure_status() {
    for args in [
        &["serve", "nosuchmodel"][..],
        &["serve", "tokio-but-misspelled", "--addr", "127.0.0.1:0"],
        &["serve", "blocking", "--workers", "0"],
        &["serve", "may", "--workers", "100000"],
        &["serve", "blocking", "--buffer", "lots"],
        &["serve", "blocking", "--grace", "-1"],
        // Out of bounds: would overflow a deadline, or truncate a length.
        &[
            "serve",
            "blocking",
            "--handshake-timeout",
            "10000000000000000000",
        ],
        &["serve", "epoll-callback", "--idle-timeout", "25h"],
        &["serve", "tokio", "--grace", "86401"],
        &["serve", "smol", "--handshake-timeout", "0"],
        &["serve", "io-uring", "--buffer", "3GiB"],
        &["serve", "blocking", "--buffer", "63"],
        &["serve", "blocking", "--addr", "nowhere"],
        &["serve", "blocking", "--stack-size", "64KiB"],
        &["serve", "may", "--stack-size", "65MiB"],
        &["serve", "smol", "--flavor", "current-thread"],
        &["serve", "tokio", "--flavor", "sideways"],
        &["serve", "blocking", "--no-such-flag"],
        &["frobnicate"],
    ] {
        let output = c10k(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("c10k: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn help_lists_every_model_with_its_summary() {
    let output = c10k(&["serve", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for model in model_names() {
        assert!(
            help.contains(&format!("- {model}:")),
            "{model} missing from:\n{help}"
        );
    }
}

#[test]
fn running_out_of_descriptors_backs_off_without_crashing_or_spinning() {
    // 64 descriptors, and --max-conns far above them, so accept hits EMFILE.
    for model in [
        "thread-per-conn",
        "rayon-pool",
        "epoll-callback",
        "mini-executor",
        "tokio",
        "async-std",
        "smol",
        "io-uring",
        "may",
        "monoio",
    ] {
        let served = Served::with_open_file_limit(&[model, "--max-conns", "1000"], Some(64));
        let mut clients: Vec<TcpStream> = (0..120)
            .map(|_| TcpStream::connect(served.addr).unwrap())
            .collect();
        for client in &mut clients {
            let _ = client.write_all(b"hello\n");
        }
        // Saturated: the backlog holds connections it cannot accept.
        std::thread::sleep(Duration::from_millis(300));
        let before = served.cpu_seconds();
        std::thread::sleep(Duration::from_secs(1));
        let used = served.cpu_seconds() - before;
        // A spinning accept loop would use the whole second.
        assert!(
            used < 0.5,
            "{model}: {used:.2} s of CPU in 1 s while out of descriptors"
        );
        drop(clients);

        // Descriptors free again: a new client is served.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut client = loop {
            let mut stream = TcpStream::connect(served.addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            stream.write_all(b"hello\n").unwrap();
            let mut reply = [0; 6];
            if stream.read_exact(&mut reply).is_ok() && &reply == b"hello\n" {
                break stream;
            }
            assert!(
                Instant::now() < deadline,
                "{model}: not serving after descriptors were freed"
            );
        };
        assert_echo(&mut client, b"back");
        drop(client);
        served.signal("TERM");
        let (status, rest) = served.wait(Duration::from_secs(10));
        assert!(status.success(), "{model}: {status}: {rest}");
    }
}
