//! `c10k check` as a user runs it: against a broken server it must fail
//! and say why; against our models it must pass, say what is by design,
//! and write the JSON and the matrix; bad command lines get one line.

mod common;

use common::C10K;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn c10k(args: &[&str]) -> Output {
    Command::new(C10K).args(args).output().expect("c10k runs")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("the JSON was written"))
        .expect("the JSON parses")
}

/// The outcome recorded for `case` against `target`.
fn outcome<'a>(report: &'a Value, target: &str, case: &str) -> &'a str {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == target)
        .unwrap_or_else(|| panic!("no target {target}"))["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["case"] == case)
        .unwrap_or_else(|| panic!("no case {case}"))["outcome"]
        .as_str()
        .unwrap()
}

/// Gets the protocol wrong in one way: answers `hello\n` to whatever
/// arrives first (a wrong line included), then echoes.
fn serve_leniently(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut first = [0u8; 4096];
    let Ok(n @ 1..) = stream.read(&mut first) else {
        return;
    };
    // Whatever followed a newline in the first read is echo data.
    let data = first[..n]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(&[][..], |at| &first[at + 1..n]);
    if stream.write_all(b"hello\n").is_err() || stream.write_all(data).is_err() {
        return;
    }
    let mut reader = stream.try_clone().unwrap();
    let _ = std::io::copy(&mut reader, &mut stream);
}

#[test]
fn a_server_that_accepts_any_handshake_fails_and_is_told_why() {
    let addr = common::spawn_server(serve_leniently).to_string();
    let dir = tempdir("lenient");
    let json = dir.join("check.json");
    let out = c10k(&[
        "check",
        &addr,
        "--only",
        "basic_echo,bad_handshake_closed_silently,garbage,idle_timeout",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("1 passed, 2 failed, 1 not applicable"),
        "{stdout}"
    );
    let failure = stdout
        .lines()
        .find(|line| line.contains("FAIL") && line.contains("bad_handshake_closed_silently"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(failure.contains("expected a close"), "{failure}");

    let report = read_json(&json);
    assert_eq!(outcome(&report, &addr, "basic_echo"), "pass");
    assert_eq!(
        outcome(&report, &addr, "bad_handshake_closed_silently"),
        "fail"
    );
    assert_eq!(outcome(&report, &addr, "garbage"), "fail");
    // Nobody declared an idle timeout for it (--idle-timeout).
    assert_eq!(outcome(&report, &addr, "idle_timeout"), "not-applicable");
}

#[test]
fn served_models_pass_their_own_process_cases_and_the_matrix_says_what_is_by_design() {
    let dir = tempdir("served");
    let json = dir.join("check.json");
    let markdown = dir.join("matrix.md");
    let out = c10k(&[
        "check",
        "--serve",
        "blocking,epoll-callback",
        "--only",
        "shutdown_under_load,descriptor_exhaustion,double_sigint",
        "--preset",
        "quick",
        "--json",
        json.to_str().unwrap(),
        "--markdown",
        markdown.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("epoll-callback: 3 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("blocking: 2 passed, 0 failed, 1 by design"),
        "{stdout}"
    );

    let report = read_json(&json);
    assert_eq!(report["preset"], "quick");
    for case in [
        "shutdown_under_load",
        "descriptor_exhaustion",
        "double_sigint",
    ] {
        assert_eq!(outcome(&report, "epoll-callback", case), "pass");
    }
    assert_eq!(
        outcome(&report, "blocking", "shutdown_under_load"),
        "by-design"
    );
    assert_eq!(outcome(&report, "blocking", "double_sigint"), "pass");

    let matrix = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        matrix.contains("| case | blocking | epoll-callback |"),
        "{matrix}"
    );
    assert!(
        matrix.contains("| `shutdown_under_load` | by design | pass |"),
        "{matrix}"
    );
    assert!(
        matrix.contains(
            "**blocking / shutdown_under_load** (by design): serves 1 connection at a time"
        ),
        "{matrix}"
    );
}

#[test]
fn a_fixed_server_is_held_to_the_timeouts_declared_for_it() {
    let server = common::Served::start(&[
        "epoll-callback",
        "--handshake-timeout",
        "0.5",
        "--idle-timeout",
        "0.5",
    ]);
    let only = ["--only", "handshake_timeout,idle_timeout", "--quiet"];
    let declared = ["--handshake-timeout", "0.5", "--idle-timeout", "0.5"];
    let addr = server.addr.to_string();
    let out = c10k(&[&["check", &addr][..], &declared, &only].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");

    // Declared wrong, the server closes a silent client too early for it.
    let out = c10k(&[&["check", &addr, "--handshake-timeout", "3"][..], &only].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("before the 3s handshake timeout"),
        "{stdout}"
    );
    assert!(stdout.contains("1 failed, 1 not applicable"), "{stdout}");
}

/// A plain echo server, as most echo servers are: no handshake, every byte
/// returned as it came.
fn serve_plain_echo(mut stream: TcpStream) {
    let mut reader = stream.try_clone().unwrap();
    let _ = std::io::copy(&mut reader, &mut stream);
}

#[test]
fn a_plain_echo_server_is_checked_with_handshake_none() {
    let addr = common::spawn_server(serve_plain_echo).to_string();
    let dir = std::env::temp_dir().join(format!("c10k-check-plain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("plain.json");
    let cases = "basic_echo,large_echo_half_close,binary_bytes,pipelined_data,garbage,reset_storm";
    let only = ["--only", cases, "--preset", "quick", "--quiet"];
    let out = c10k(
        &[
            &["check", &addr, "--handshake", "none", "--json"][..],
            &[json.to_str().unwrap()],
            &only,
        ]
        .concat(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let report = read_json(&json);
    for case in [
        "basic_echo",
        "large_echo_half_close",
        "binary_bytes",
        "reset_storm",
    ] {
        assert_eq!(outcome(&report, &addr, case), "pass", "{case}: {stdout}");
    }
    // The handshake cases say why they do not apply.
    for case in ["pipelined_data", "garbage"] {
        assert_eq!(
            outcome(&report, &addr, case),
            "not-applicable",
            "{case}: {stdout}"
        );
    }
    assert!(stdout.contains("has no handshake to check"), "{stdout}");

    // Held to the handshake, the same server fails the cases about it: an
    // echo of `hello\r\n` is not the reply, nor is an echo of garbage a close.
    let out = c10k(&[&["check", &addr][..], &only].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("2 failed"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_check_command_lines_get_one_line_and_status_2() {
    for args in [
        &["check", "192.0.2.1:5566"][..],
        &["check", "--serve", "tokio", "--only", "nosuchcase"],
        &["check"],
        &["check", "127.0.0.1:1", "--serve", "tokio"],
        // Our models all speak the handshake.
        &["check", "--serve", "tokio", "--handshake", "none"],
        &["check", "127.0.0.1:1", "--handshake", "sometimes"],
        &[
            "check",
            "--serve",
            "tokio",
            "--only",
            "basic_echo",
            "--skip",
            "basic_echo",
        ],
        &[
            "check",
            "--serve",
            "tokio",
            "--json",
            "/nonexistent/dir/check.json",
        ],
    ] {
        let out = c10k(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("c10k: "), "{args:?}: {stderr}");
    }
    let refused = c10k(&["check", "192.0.2.1:5566"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("only checks loopback"));
}

#[test]
fn list_names_every_case() {
    let out = c10k(&["check", "--list"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), conformance::CASES.len(), "{stdout}");
    assert!(stdout.contains("slowloris") && stdout.contains("double_sigint"));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("c10k-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
