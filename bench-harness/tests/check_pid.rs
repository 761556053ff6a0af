//! `c10k check HOST:PORT --pid PID` watches a server it did not start
//! through `/proc`: a server that leaks one descriptor per connection fails
//! every case it is asked, one that does not passes. The server is this
//! test process, so this file holds a single test (a process of its own).

mod common;

use common::C10K;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether the server keeps each finished connection's descriptor.
static LEAK: AtomicBool = AtomicBool::new(false);
/// Where leaked descriptors go.
static LEAKED: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());

/// A correct echo+handshake server, except for the leak when asked.
fn serve(stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream.try_clone().unwrap();
    let mut line = Vec::new();
    let _ = reader.by_ref().take(64).read_until(b'\n', &mut line);
    if line.trim_ascii() == b"hello"
        && line.ends_with(b"\n")
        && writer.write_all(b"hello\n").is_ok()
    {
        let _ = std::io::copy(&mut reader, &mut writer);
    }
    // The client sees its connection closed either way.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    if LEAK.load(Ordering::Relaxed) {
        LEAKED.lock().unwrap().push(stream);
    }
}

fn check(addr: SocketAddr) -> (Option<i32>, String) {
    let out = Command::new(C10K)
        .args(["check", &addr.to_string(), "--pid"])
        .arg(std::process::id().to_string())
        .args(["--only", "basic_echo,sequential_connections", "--quiet"])
        .output()
        .expect("c10k runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
    )
}

#[test]
fn a_server_watched_by_pid_fails_when_it_leaks_descriptors() {
    let addr = common::spawn_server(serve);

    let (status, stdout) = check(addr);
    assert_eq!(status, Some(0), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");

    LEAK.store(true, Ordering::Relaxed);
    let (status, stdout) = check(addr);
    assert_eq!(status, Some(1), "{stdout}");
    let failure = stdout
        .lines()
        .find(|line| line.contains("FAIL") && line.contains("sequential_connections"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(failure.contains("not back to baseline"), "{failure}");
}
