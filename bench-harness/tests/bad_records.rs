//! The files `c10k merge` and `c10k plot` read back, broken the ways files
//! break (empty, cut short, another schema, garbage): each gets one line on
//! standard error and exit status 2, never a panic.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{C10K, Served, scratch_dir};

fn c10k(args: &[&str]) -> Output {
    Command::new(C10K).args(args).output().unwrap()
}

fn assert_refused_in_one_line(output: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{what}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("c10k: "), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

/// Ways a file breaks, made from a good one.
fn broken_versions(good: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", Vec::new()),
        ("cut short", good[..good.len() / 2].to_vec()),
        ("another schema", br#"{"schema": 99, "points": 7}"#.to_vec()),
        ("not JSON", b"\x00\xff garbage \n\n".to_vec()),
        ("a JSON array", b"[1, 2, 3]".to_vec()),
    ]
}

/// An agent's record and interval log, as `c10k load --json --hlog` writes them.
fn agent_record(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let served = Served::start(&["epoll-callback"]);
    let json = dir.join("good.json");
    let hlog = dir.join("good.hlog");
    let mut args = common::agent_load_args(&served.addr.to_string(), json.to_str().unwrap());
    args.extend(["-q", "--hlog", hlog.to_str().unwrap()].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = c10k(&args);
    assert!(output.status.success(), "{output:?}");
    (std::fs::read(json).unwrap(), std::fs::read(hlog).unwrap())
}

#[test]
fn merge_refuses_broken_records_and_interval_logs_in_one_line() {
    let dir = scratch_dir("bad-agent-records");
    let (json, hlog) = agent_record(&dir);
    let good = c10k(&["merge", dir.join("good.json").to_str().unwrap()]);
    assert!(good.status.success(), "{good:?}");

    for (how, bytes) in broken_versions(&json) {
        let path = dir.join("record/agent.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let output = c10k(&["merge", path.to_str().unwrap()]);
        assert_refused_in_one_line(&output, &format!("merge, record {how}"));
    }
    for (how, bytes) in broken_versions(&hlog) {
        let log = dir.join("log");
        std::fs::create_dir_all(&log).unwrap();
        std::fs::write(log.join("agent.json"), &json).unwrap();
        std::fs::write(log.join("agent.hlog"), bytes).unwrap();
        let output = c10k(&["merge", log.join("agent.json").to_str().unwrap()]);
        assert_refused_in_one_line(&output, &format!("merge, interval log {how}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_refuses_a_broken_results_json_in_one_line() {
    // Any committed run's record will do as the good file to break.
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results");
    let good = std::fs::read_dir(results)
        .unwrap()
        .find_map(|run| std::fs::read(run.ok()?.path().join("results.json")).ok())
        .expect("a committed results.json under results/");
    let dir = scratch_dir("bad-bench-records");
    for (how, bytes) in broken_versions(&good) {
        std::fs::write(dir.join("results.json"), bytes).unwrap();
        let output = c10k(&["plot", dir.to_str().unwrap()]);
        assert_refused_in_one_line(&output, &format!("plot, results.json {how}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
