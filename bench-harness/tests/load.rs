//! `c10k load` against real servers in separate processes or threads:
//! it measures, it notices wrong echoes, it corrects for coordinated
//! omission, it speaks plain echo, and it fails clearly.

mod common;

use common::C10K;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `c10k load` with `args` plus `--json`; returns the process output and the record.
fn load(target: SocketAddr, args: &[&str]) -> (Output, Option<Value>) {
    let json = std::env::temp_dir().join(format!(
        "c10k-load-test-{}-{}.json",
        std::process::id(),
        target.port()
    ));
    let _ = std::fs::remove_file(&json);
    let output = Command::new(C10K)
        .arg("load")
        .arg(target.to_string())
        .args(["-q", "--warmup", "0.2", "--json"])
        .arg(&json)
        .args(args)
        .output()
        .unwrap();
    let record = std::fs::read_to_string(&json)
        .ok()
        .map(|text| serde_json::from_str(&text).unwrap());
    let _ = std::fs::remove_file(&json);
    (output, record)
}

/// A thread-per-connection echo server for tests, with a twist applied to the echo.
fn test_server(handshake: bool, twist: fn(&mut [u8], &mut Twist)) -> SocketAddr {
    common::spawn_server(move |stream| serve_one(stream, handshake, twist))
}

/// Per-connection state a twist may use.
struct Twist {
    started: Instant,
    echoed: usize,
    stalled: bool,
}

fn serve_one(mut stream: TcpStream, handshake: bool, twist: fn(&mut [u8], &mut Twist)) {
    let _ = stream.set_nodelay(true);
    if handshake {
        let mut line = [0u8; 6];
        if stream.read_exact(&mut line).is_err() || &line != b"hello\n" {
            return;
        }
        let _ = stream.write_all(b"hello\n");
    }
    let mut state = Twist {
        started: Instant::now(),
        echoed: 0,
        stalled: false,
    };
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        twist(&mut buf[..n], &mut state);
        state.echoed += n;
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

fn faithful(_: &mut [u8], _: &mut Twist) {}

/// Flips one bit of the 1000th echoed byte.
fn corrupt_one_byte(bytes: &mut [u8], state: &mut Twist) {
    let target = 1000;
    if state.echoed <= target && target < state.echoed + bytes.len() {
        bytes[target - state.echoed] ^= 0x01;
    }
}

/// Takes 20 ms over every echo: a server that is slow, not busy.
fn slow_echo(_: &mut [u8], _: &mut Twist) {
    std::thread::sleep(Duration::from_millis(20));
}

/// Takes 500 ms over every echo: a link slower than a short drain allows for.
fn very_slow_echo(_: &mut [u8], _: &mut Twist) {
    std::thread::sleep(Duration::from_millis(500));
}

/// Stalls for 500 ms, once, a second into the connection.
fn stall_once(_: &mut [u8], state: &mut Twist) {
    if !state.stalled && state.started.elapsed() > Duration::from_secs(1) {
        state.stalled = true;
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn results(record: &Value) -> &Value {
    &record["results"]
}

#[test]
fn a_closed_loop_run_measures_messages_with_no_mismatch() {
    let served = common::Served::start(&["epoll-callback"]);
    let (output, record) = load(served.addr, &["-c", "20", "-d", "1"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.expect("a JSON record");
    let results = results(&record);
    assert!(results["messages"].as_u64().unwrap() > 0);
    assert_eq!(results["errors"]["mismatch"], 0);
    assert_eq!(results["connections_ready"], 20);
    assert!(results["latency"]["echo"]["p99_us"].as_f64().unwrap() > 0.0);
    assert!(record["histograms"]["echo"].as_str().unwrap().len() > 10);
    assert_eq!(
        record["machine"]["cores"].as_u64().unwrap() as usize,
        model::config::cores()
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(
        table.contains("msg/s") && table.contains("p99.99"),
        "{table}"
    );
}

#[test]
fn a_corrupted_byte_is_detected_and_fails_the_run() {
    let addr = test_server(true, corrupt_one_byte);
    let (output, record) = load(addr, &["-c", "2", "-d", "1", "-s", "256"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let record = record.expect("a JSON record even for a failed check");
    assert!(results(&record)["errors"]["mismatch"].as_u64().unwrap() >= 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("integrity check failed"), "{stderr}");
}

#[test]
fn the_open_loop_shows_a_stall_that_the_uncorrected_latency_hides() {
    let addr = test_server(true, stall_once);
    let (output, record) = load(addr, &["-c", "1", "-t", "1", "--rate", "100", "-d", "3"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    let latency = &results(&record)["latency"];
    let corrected = latency["echo"]["p99_us"].as_f64().unwrap();
    let uncorrected = latency["echo_uncorrected"]["p99_us"].as_f64().unwrap();
    // About 50 messages were due during the 500 ms stall: corrected, they
    // waited up to 500 ms. Uncorrected, only the one in flight did.
    assert!(corrected >= 300_000.0, "corrected p99 {corrected} us");
    assert!(uncorrected < 100_000.0, "uncorrected p99 {uncorrected} us");
}

#[test]
fn the_drain_waits_as_long_as_it_is_told_for_echoes_in_flight() {
    let addr = test_server(true, very_slow_echo);
    // Each connection sends at 0, 0.5 and 1.0 s after the warm-up began
    // (behind the schedule, as soon as the last echo is back); the window
    // is 0.2-1.2 s, so the third send is out when it ends and back at 1.5 s:
    // after a 0.1 s drain, within a 3 s one.
    let args = ["-c", "4", "-d", "1", "--rate", "100"];
    let (output, short) = load(addr, &[&args[..], &["--drain", "0.1"]].concat());
    assert!(output.status.success(), "{output:?}");
    let short = short.unwrap();
    assert_eq!(short["settings"]["drain"], 0.1);
    assert!(
        results(&short)["unfinished"].as_u64().unwrap() > 0,
        "{short}"
    );
    let (output, long) = load(addr, &[&args[..], &["--drain", "3"]].concat());
    assert!(output.status.success(), "{output:?}");
    let long = long.unwrap();
    assert_eq!(results(&long)["unfinished"], 0, "{long}");
    assert!(results(&long)["drained"].as_u64().unwrap() > 0, "{long}");
}

/// Five connections at 500 msg/s in all: each sends every 10 ms, their
/// times 2 ms apart. A 10 ms burst sends all five when the first is due,
/// four of them early, and an early send has no lag at all; with no burst
/// every send waits for its own time and goes out after it, however
/// little (waking up takes time).
#[test]
fn a_burst_sends_what_falls_due_within_it_together_and_the_record_says_so() {
    let addr = test_server(true, faithful);
    let args = ["-c", "5", "-d", "1", "--rate", "500"];
    let on_time = |record: &Value| {
        let lag = &results(record)["schedule"]["send_lag"];
        (
            lag["p50_us"].as_f64().unwrap(),
            lag["count"].as_u64().unwrap(),
        )
    };
    let (output, bursts) = load(addr, &[&args[..], &["--burst", "10ms"]].concat());
    assert!(output.status.success(), "{output:?}");
    let bursts = bursts.unwrap();
    assert_eq!(bursts["settings"]["burst"], 0.01);
    let (p50, sends) = on_time(&bursts);
    assert!(sends >= 250, "{bursts}");
    // Lag is recorded in whole nanoseconds, at least one.
    assert!(p50 <= 0.001, "most sends went early: p50 lag {p50} us");

    let (output, exact) = load(addr, &[&args[..], &["--burst", "0"]].concat());
    assert!(output.status.success(), "{output:?}");
    let exact = exact.unwrap();
    assert_eq!(exact["settings"]["burst"], 0.0);
    let (p50, _) = on_time(&exact);
    assert!(p50 > 0.001, "no send can go out early: p50 lag {p50} us");
    assert_eq!(results(&exact)["errors"]["mismatch"], 0);
    // Each send waits for its own wake-up, and the record says how late
    // each one ended; a burst of 10 ms needs far fewer.
    let wakes = |record: &Value| {
        let wake = &results(record)["schedule"]["wake_lateness"];
        assert!(
            wake["max_us"].as_f64().unwrap() >= wake["p50_us"].as_f64().unwrap(),
            "{wake}"
        );
        wake["count"].as_u64().unwrap()
    };
    let (exact_wakes, burst_wakes) = (wakes(&exact), wakes(&bursts));
    assert!(exact_wakes >= 250, "{exact_wakes} wake-ups for 500 sends");
    assert!(
        burst_wakes * 2 < exact_wakes,
        "bursts of 10 ms: {burst_wakes} wake-ups, exact spacing: {exact_wakes}"
    );

    let (output, _) = load(addr, &[&args[..], &["--burst", "5s"]].concat());
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("longest burst"), "{stderr}");
}

/// Echoes each message exactly 2 ms after it arrived: the thread polls its
/// socket and the clock without sleeping, so that no wake-up of its own
/// blurs the delay.
fn serve_after_2ms(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut line = [0u8; 6];
    if stream.read_exact(&mut line).is_err() || stream.write_all(b"hello\n").is_err() {
        return;
    }
    let _ = stream.set_nonblocking(true);
    let mut buf = [0u8; 4096];
    let give_up = Instant::now() + Duration::from_secs(30);
    while Instant::now() < give_up {
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        };
        let due = Instant::now() + Duration::from_millis(2);
        while Instant::now() < due {}
        let _ = stream.set_nonblocking(false);
        if stream.write_all(&buf[..n]).is_err() {
            return;
        }
        let _ = stream.set_nonblocking(true);
    }
}

/// One connection at 100 msg/s against a server that holds every echo 2 ms:
/// the kernel's arrival stamps time the echoes to within 50 us of that
/// (and never under it), while the load thread, which sleeps until its next
/// send 10 ms later rather than waking for the echo, reads them much later.
#[test]
fn kernel_timestamps_time_the_echo_not_the_load_threads_wake_up() {
    let addr = common::spawn_server(serve_after_2ms);
    let (output, record) = load(addr, &["-c", "1", "-t", "1", "--rate", "100", "-d", "2"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    let results = results(&record);
    let timing = &results["echo_timing"];
    let kernel_timed = timing["kernel"].as_u64().unwrap();
    assert!(kernel_timed >= 150, "{timing}");
    assert!(timing["read"].as_u64().unwrap() <= 1, "{timing}");
    let p50 = |name: &str| results["latency"][name]["p50_us"].as_f64().unwrap();
    let kernel = p50("echo_uncorrected");
    assert!(
        (2_000.0..2_050.0).contains(&kernel),
        "kernel-timed p50 {kernel} us for a 2,000 us echo"
    );
    let read = p50("echo_user");
    assert!(
        read > 5_000.0,
        "read {read} us after the send: the thread woke for the echo"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("echo latency to the kernel's receive timestamp"),
        "{stdout}"
    );
}

#[test]
fn plain_echo_servers_are_measured_without_a_handshake() {
    let addr = test_server(false, faithful);
    let (output, record) = load(addr, &["--handshake", "none", "-c", "4", "-d", "1"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    assert!(results(&record)["messages"].as_u64().unwrap() > 0);
    assert!(results(&record)["latency"]["handshake"].is_null());
}

#[test]
fn a_refused_target_gets_a_clear_error_not_a_panic() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (output, record) = load(port, &["-c", "5", "-d", "0.5"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nothing was measured"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(results(&record.unwrap())["errors"]["connect_refused"], 5);
}

#[test]
fn impossible_runs_are_refused_before_they_start() {
    let output = Command::new(C10K)
        .args(["load", "127.0.0.1:9", "-c", "1000000", "-q"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("open-file limit"), "{stderr}");
}

#[test]
fn a_load_that_cannot_keep_its_schedule_is_flagged_and_one_that_can_is_not() {
    // One connection, one message in flight, 20 ms per echo: at 200 msg/s
    // the load can send only every 20 ms, so its sends fall ever later.
    let addr = test_server(true, slow_echo);
    let (output, record) = load(addr, &["-c", "1", "-t", "1", "--rate", "200", "-d", "1"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    let schedule = &results(&record)["schedule"];
    assert_eq!(schedule["fell_behind"], true, "{schedule}");
    assert!(
        schedule["achieved_msgs_per_s"].as_f64().unwrap() < 100.0,
        "{schedule}"
    );
    assert!(
        schedule["send_lag"]["p99_us"].as_f64().unwrap() > 1_000.0,
        "{schedule}"
    );
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("fell behind its schedule"), "{table}");

    let addr = test_server(true, faithful);
    let (output, record) = load(addr, &["-c", "2", "-t", "1", "--rate", "200", "-d", "1"]);
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    let schedule = &results(&record)["schedule"];
    assert_eq!(schedule["fell_behind"], false, "{schedule}");
    let achieved = schedule["achieved_msgs_per_s"].as_f64().unwrap();
    assert!((190.0..=210.0).contains(&achieved), "{schedule}");
}

/// Messages over 4 KiB keep the thread waiting on its sockets rather than
/// sleeping through the echoes; the wait still ends at each send's moment
/// (no later than the burst allows), and the record counts those wake-ups
/// with how late each ended.
#[test]
fn a_load_waiting_on_its_sockets_still_wakes_for_each_send_on_time() {
    let addr = test_server(true, faithful);
    let (output, record) = load(
        addr,
        &[
            "-c", "4", "-t", "1", "-s", "16384", "--rate", "400", "-d", "1",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let record = record.unwrap();
    let results = results(&record);
    assert_eq!(results["errors"]["mismatch"], 0, "{results}");
    let schedule = &results["schedule"];
    let sends = schedule["send_lag"]["count"].as_u64().unwrap();
    assert!(sends >= 300, "{schedule}");
    // Woken early by the learned wake-ahead, most sends go on or before
    // their time; a wait rounded to the millisecond would not.
    let lag_p50 = schedule["send_lag"]["p50_us"].as_f64().unwrap();
    assert!(lag_p50 < 100.0, "send lag p50 {lag_p50} us: {schedule}");
    // Each send is 2.5 ms from the next, far more than the burst: a wait
    // ended by its moment, not by an echo, for nearly every one.
    let wakes = schedule["wake_lateness"]["count"].as_u64().unwrap();
    assert!(
        wakes * 2 >= sends,
        "{wakes} timed wake-ups for {sends} sends"
    );
}

#[test]
fn the_window_counts_by_completion_so_littles_law_holds_at_1000_connections() {
    let served = common::Served::start(&["epoll-callback"]);
    let (output, record) = load(served.addr, &["-c", "1000", "-d", "3"]);
    assert!(output.status.success(), "{output:?}");
    let results = results(record.as_ref().unwrap());
    assert_eq!(results["connections_ready"], 1000);
    // Every connection always has one message out: rate x mean latency = 1000.
    let ratio = results["littles_law"].as_f64().unwrap();
    assert!(
        (ratio - 1.0).abs() <= 0.015,
        "Little's law ratio {ratio}: {results}"
    );
    // The echoes still out when the window closed were awaited, not dropped.
    assert_eq!(results["unfinished"], 0, "{results}");
    assert!(results["drained"].as_u64().unwrap() > 0, "{results}");
}

#[test]
fn the_interval_log_holds_every_measured_echo_second_by_second() {
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    let addr = test_server(true, faithful);
    let hlog = std::env::temp_dir().join(format!("c10k-hlog-test-{}.hlog", std::process::id()));
    let hlog_arg = hlog.to_str().unwrap();
    let (output, record) = load(addr, &["-c", "4", "-d", "2", "--hlog", hlog_arg]);
    assert!(output.status.success(), "{output:?}");
    let text = std::fs::read(&hlog).expect("the interval log was written");
    let _ = std::fs::remove_file(&hlog);
    assert!(String::from_utf8_lossy(&text).contains("#[StartTime: "));
    let mut counts = [0u64; 2];
    let mut seconds = 0;
    for entry in IntervalLogIterator::new(&text) {
        let LogEntry::Interval(interval) = entry.expect("a well-formed log") else {
            continue;
        };
        let tag = interval.tag().map(|t| t.as_str().to_string());
        let slot = match tag.as_deref() {
            Some("corrected") => 0,
            Some("uncorrected") => 1,
            other => panic!("unexpected tag {other:?}"),
        };
        let bytes = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            interval.encoded_histogram(),
        )
        .unwrap();
        let histogram: hdrhistogram::Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .unwrap();
        counts[slot] += histogram.len();
        seconds += usize::from(slot == 0);
    }
    let echo = &results(record.as_ref().unwrap())["latency"]["echo"];
    assert_eq!(counts[0], echo["count"].as_u64().unwrap());
    assert_eq!(counts[0], counts[1]);
    assert!(seconds >= 2, "{seconds} intervals");
}

/// Three agents, each `--segment K/3` of one open-loop run, started apart but
/// told the same `--start-at`: each carries its third of the connections and
/// of the schedule, their measured windows begin together, and `c10k merge`
/// makes them one run or refuses a set that is not one.
#[test]
fn agents_split_one_run_and_measure_the_same_window() {
    use std::time::{SystemTime, UNIX_EPOCH};
    const AGENTS: usize = 3;
    let served = common::Served::start(&["epoll-callback"]);
    let start = SystemTime::now() + Duration::from_secs(2);
    let start_s = start.duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let dir = std::env::temp_dir().join(format!("c10k-agents-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let agents: Vec<_> = (0..AGENTS)
        .map(|k| {
            Command::new(C10K)
                .arg("load")
                .arg(served.addr.to_string())
                .args(["-q", "-c", "30", "-t", "1", "--rate", "3000", "-d", "1"])
                .args(["--warmup", "0.5", "--segment", &format!("{k}/{AGENTS}")])
                .args(["--start-at", &format!("{start_s:.3}")])
                .arg("--json")
                .arg(dir.join(format!("{k}.json")))
                .arg("--hlog")
                .arg(dir.join(format!("{k}.hlog")))
                .spawn()
                .unwrap()
        })
        .collect();
    let (mut messages, mut echo_count, mut sends) = (0, 0, 0);
    let mut kernel_timed = 0;
    let mut wakes = 0;
    let (mut counted, mut squares) = (0, 0);
    for (k, mut agent) in agents.into_iter().enumerate() {
        assert!(agent.wait().unwrap().success(), "agent {k}");
        let text = std::fs::read_to_string(dir.join(format!("{k}.json"))).unwrap();
        let record: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(record["settings"]["segment"], format!("{k}/{AGENTS}"));
        let results = results(&record);
        assert_eq!(results["connections_requested"], 10, "{results}");
        assert_eq!(results["connections_ready"], 10, "{results}");
        let scheduled = results["schedule"]["scheduled_msgs_per_s"]
            .as_f64()
            .unwrap();
        assert!((scheduled - 1000.0).abs() < 1.0, "agent {k}: {results}");
        messages += results["messages"].as_u64().unwrap();
        echo_count += results["latency"]["echo"]["count"].as_u64().unwrap();
        kernel_timed += results["echo_timing"]["kernel"].as_u64().unwrap();
        sends += results["schedule"]["send_lag"]["count"].as_u64().unwrap();
        wakes += results["schedule"]["wake_lateness"]["count"]
            .as_u64()
            .unwrap();
        let per_connection = &results["fairness"]["per_connection"];
        assert_eq!(per_connection["connections"], 10, "{results}");
        counted += per_connection["messages"].as_u64().unwrap();
        squares += per_connection["messages_squared"].as_u64().unwrap();
        // The window starts when warm-up, begun at --start-at, ends.
        let hlog = std::fs::read_to_string(dir.join(format!("{k}.hlog"))).unwrap();
        let began: f64 = hlog
            .lines()
            .find_map(|line| line.strip_prefix("#[StartTime: "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|seconds| seconds.parse().ok())
            .unwrap();
        let off = (began - (start_s + 0.5)).abs();
        assert!(
            off < 0.05,
            "agent {k} began its window {off:.3} s from the common start"
        );
    }
    assert!(
        (2700..=3300).contains(&messages),
        "3 agents at 1,000 msg/s each for 1 s: {messages}"
    );

    // Merged: the counts are the agents' sums, the histograms their sum.
    let files: Vec<_> = (0..AGENTS).map(|k| dir.join(format!("{k}.json"))).collect();
    let merged_json = dir.join("merged.json");
    let merged_hlog = dir.join("merged.hlog");
    let output = Command::new(C10K)
        .arg("merge")
        .args(&files)
        .arg("--json")
        .arg(&merged_json)
        .arg("--hlog")
        .arg(&merged_hlog)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout.matches("agent ").count(), AGENTS, "{stdout}");
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(&merged_json).unwrap()).unwrap();
    let merged = results(&merged);
    assert_eq!(merged["messages"].as_u64().unwrap(), messages, "{merged}");
    assert_eq!(merged["connections_ready"], 30, "{merged}");
    assert_eq!(merged["latency"]["echo"]["count"], echo_count, "{merged}");
    // The user-space timing is added like the kernel's, echo for echo.
    assert_eq!(
        merged["latency"]["echo_user"]["count"], echo_count,
        "{merged}"
    );
    assert_eq!(merged["echo_timing"]["kernel"], kernel_timed, "{merged}");
    let scheduled = merged["schedule"]["scheduled_msgs_per_s"].as_f64().unwrap();
    assert!((scheduled - 3000.0).abs() < 1.0, "{merged}");
    // The send lag and Jain's index of all 30 connections, from the agents' sums.
    assert_eq!(merged["schedule"]["send_lag"]["count"], sends, "{merged}");
    assert_eq!(
        merged["schedule"]["wake_lateness"]["count"], wakes,
        "{merged}"
    );
    let jain = (counted * counted) as f64 / (30 * squares) as f64;
    let merged_jain = merged["fairness"]["jain_index"].as_f64().unwrap();
    assert!((merged_jain - jain).abs() < 1e-12, "{jain}: {merged}");
    // The per-second series, added from the agents' interval logs.
    assert!(
        !merged["p99_by_second_us"].as_array().unwrap().is_empty(),
        "{merged}"
    );
    let log = load::report::IntervalLog::read(&std::fs::read(&merged_hlog).unwrap()).unwrap();
    let in_log: u64 = log.seconds.iter().map(|[with, _]| with.len()).sum();
    assert_eq!(in_log, echo_count);
    // ... and printed, second by second from the common start: every echo
    // once, the window's second first.
    let series = stdout
        .split_once("per second from ")
        .map(|(_, series)| series)
        .unwrap_or_else(|| panic!("no per-second series: {stdout}"));
    let rows: Vec<Vec<&str>> = series
        .lines()
        .skip(2)
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), log.seconds.len(), "{series}");
    assert_eq!(rows[0][0], "0-1", "{series}");
    let printed: u64 = rows
        .iter()
        .map(|row| row[row.len() - 4].parse::<u64>().unwrap())
        .sum();
    assert_eq!(printed, echo_count, "{series}");

    // Not one whole run: refused, one line each.
    let mut other_run: Value =
        serde_json::from_str(&std::fs::read_to_string(&files[2]).unwrap()).unwrap();
    other_run["settings"]["start_at"] = serde_json::json!(start_s + 60.0);
    let other_file = dir.join("other.json");
    std::fs::write(&other_file, other_run.to_string()).unwrap();
    std::fs::copy(dir.join("2.hlog"), dir.join("other.hlog")).unwrap();
    for (refused, why) in [
        (vec![&files[0], &files[1]], "missing"),
        (vec![&files[0], &files[1], &files[1]], "twice"),
        (vec![&files[0], &files[1], &other_file], "different runs"),
    ] {
        let output = Command::new(C10K)
            .arg("merge")
            .args(&refused)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{why}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{why}: {stderr}");
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_agent_not_ready_by_start_at_fails_with_one_line() {
    let served = common::Served::start(&["epoll-callback"]);
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    let output = Command::new(C10K)
        .arg("load")
        .arg(served.addr.to_string())
        .args(["-q", "-c", "4", "-d", "1", "--start-at", &past.to_string()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not ready by --start-at"), "{stderr}");
    for bad in [
        &["--segment", "3/3"][..],
        &["--segment", "4/5", "-c", "4"][..],
        &["--start-at", "soon"][..],
    ] {
        let output = Command::new(C10K)
            .arg("load")
            .arg(served.addr.to_string())
            .arg("-q")
            .args(bad)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad:?}: {stderr}");
    }
}

/// The ssh launcher with `local` hosts: N agents as processes on this
/// machine, started together, their records merged.
#[test]
fn the_launcher_runs_local_agents_and_merges_their_records() {
    let served = common::Served::start(&["epoll-callback"]);
    let out = std::env::temp_dir().join(format!("c10k-launcher-{}", std::process::id()));
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/distributed-load.sh"
    );
    let output = Command::new("bash")
        .arg(script)
        .arg("local local")
        .arg(served.addr.to_string())
        .args(["-c", "20", "-d", "1", "--warmup", "0.2", "-t", "1"])
        .env("C10K", C10K)
        .env("DELAY", "2")
        .env("OUT", &out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let merged: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("merged.json")).unwrap()).unwrap();
    assert_eq!(results(&merged)["connections_ready"], 20, "{merged}");
    let report = std::fs::read_to_string(out.join("report.txt")).unwrap();
    assert!(
        report.contains("agent 0/2") && report.contains("agent 1/2"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
