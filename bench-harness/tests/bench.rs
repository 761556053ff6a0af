//! `c10k bench` end to end on a tiny matrix, and `c10k plot` redrawing
//! the same plots from `results.json` alone.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const C10K: &str = env!("CARGO_BIN_EXE_c10k");
const PLOTS: [&str; 10] = [
    "efficiency.svg",
    "throughput-64B.svg",
    "latency-p50.svg",
    "latency-p99.svg",
    "latency-vs-rate.svg",
    "latency-spectrum.svg",
    "p99-over-time.svg",
    "memory-per-connection.svg",
    "cpu-per-message.svg",
    "time-to-largest.svg",
];

fn c10k(args: &[&str]) -> Output {
    Command::new(C10K).args(args).output().unwrap()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a_small_matrix_writes_results_csv_readme_and_plots_that_replot_identically() {
    let dir = std::env::temp_dir().join(format!("c10k-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let output = c10k(&[
        "bench",
        "--models",
        "epoll-callback,blocking",
        "--conns",
        "2,8",
        "--sizes",
        "64",
        "--rates",
        "500",
        "--rate-conns",
        "4",
        "--efficiency-rates",
        "500",
        "--efficiency-conns",
        "4",
        "--repeat",
        "2",
        "-d",
        "0.3",
        "--warmup",
        "0.1",
        "--hold",
        "0.2",
        "--connect-timeout",
        "1",
        "--out",
        out,
        "-q",
    ]);
    assert!(output.status.success(), "{output:?}");

    let record: Value = serde_json::from_str(&read(&dir, "results.json")).unwrap();
    let points = record["points"].as_array().unwrap();
    // `blocking` serves one connection at a time, so it falls short at every
    // point (2, 4 and 8 connections): run once there, as its shortfall is
    // the same each time; `epoll-callback` runs every repetition.
    assert_eq!(
        points.len(),
        3 * 2 + 3,
        "(1 fixed-rate, the open-loop series' own, + 2 closed) x 2 repetitions of epoll-callback, x 1 of blocking"
    );
    for point in points.iter().filter(|p| p["model"] == "blocking") {
        assert_eq!(point["repetition"], 0, "{point}");
    }
    // ABBA: each point's repetitions run the models in alternating order
    // (A B, then B A, with B not run again).
    let first_point: Vec<&str> = points[..3]
        .iter()
        .map(|p| p["model"].as_str().unwrap())
        .collect();
    assert_eq!(
        first_point,
        ["epoll-callback", "blocking", "epoll-callback"]
    );
    for point in points {
        let model = point["model"].as_str().unwrap();
        let connections = point["connections"].as_u64().unwrap();
        let outcome = point["outcome"].as_str().unwrap();
        assert!(point["limited_by"].is_string(), "{point}");
        let hlog = point["hlog"].as_str().unwrap();
        assert!(dir.join(hlog).is_file(), "{hlog}");
        if model == "epoll-callback" {
            assert_eq!(outcome, "ok", "{point}");
            if point["loop"] == "open" {
                // 500 msg/s over 4 connections is nothing for the server:
                // whatever limited the point, it was not the server. The
                // load may still fall behind its schedule on a busy shared
                // machine (the p99 of 150 sends is one 1 ms hiccup), but it
                // sends what was scheduled.
                let limited = point["limited_by"].as_str().unwrap();
                assert!(matches!(limited, "not-saturated" | "load-bound"), "{point}");
                let schedule = &point["load"]["schedule"];
                let achieved = schedule["achieved_msgs_per_s"].as_f64().unwrap();
                let scheduled = schedule["scheduled_msgs_per_s"].as_f64().unwrap();
                assert!(achieved >= 0.9 * scheduled, "{point}");
            }
            assert!(point["load"]["messages"].as_u64().unwrap() > 0);
            assert!(point["histograms"]["echo"].as_str().unwrap().len() > 10);
            if point["loop"] == "closed" {
                // CPU time is read in 10 ms ticks: enough at full speed.
                assert!(point["server"]["cpu_us_per_message"].as_f64().unwrap() > 0.0);
            }
            assert!(point["server"]["peak_rss_kib"].as_u64().unwrap() > 0);
        } else if connections == 8 {
            // One connection at a time, by design: recorded, not dropped.
            assert_eq!(outcome, "partial", "{point}");
            assert!(
                point["note"].as_str().unwrap().contains("by design"),
                "{point}"
            );
            assert_eq!(point["load"]["connections_ready"], 1);
        }
    }
    let largest_epoll = points
        .iter()
        .find(|p| p["model"] == "epoll-callback" && p["connections"] == 8 && p["loop"] == "closed")
        .unwrap();
    assert!(
        largest_epoll["server"]["held"]["rss_kib"].as_u64().unwrap() > 0,
        "held at the largest point"
    );
    assert!(record["models"][0]["code_lines"].as_u64().unwrap() > 50);
    // `blocking` is a screenful on top of the shared accept loop, registry and session.
    let blocking = &record["models"][1];
    assert_eq!(blocking["name"], "blocking");
    assert!(
        blocking["shared_lines"].as_u64().unwrap() > 3 * blocking["code_lines"].as_u64().unwrap()
    );

    // Notes are free text: real CSV quotes what needs it, every row has every column.
    let csv_text = read(&dir, "results.csv");
    let mut csv = csv::Reader::from_reader(csv_text.as_bytes());
    let columns = csv.headers().unwrap().len();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), points.len(), "a row per point");
    assert!(rows.iter().all(|row| row.len() == columns));
    // Both sides' cost per message, for scripts comparing the load with the server.
    let header = csv.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let measured = |row: &csv::StringRecord, name: &str| row[column(name)].parse::<f64>().is_ok();
    let served = rows.iter().filter(|row| &row[column("outcome")] == "Ok");
    for row in served {
        for name in [
            "load_cpu_us_per_msg",
            "load_switches_per_msg",
            "server_switches_per_msg",
        ] {
            assert!(measured(row, name), "{name} in {row:?}");
        }
    }
    assert!(
        rows.iter()
            .any(|row| row[columns - 1].contains("(by design: a single thread")),
        "{rows:?}"
    );
    let readme = read(&dir, "README.md");
    assert!(
        readme.contains("c10k bench --models epoll-callback,blocking"),
        "{readme}"
    );
    assert!(readme.contains("| `epoll-callback` |") && readme.contains("| `blocking` |"));
    assert!(
        readme.contains("| own code lines | shared code lines |"),
        "{readme}"
    );
    assert!(readme.contains("by design"));
    assert!(
        readme.contains("it was not run there again: the shortfall is the same each time"),
        "{readme}"
    );
    assert!(
        readme.find("## Efficiency at fixed offered rates") < readme.find("## Closed loop"),
        "the fixed-rate tables lead: {readme}"
    );
    assert!(readme.contains("500 msg/s, 4 conns"), "{readme}");
    assert!(readme.contains("## What limited each point"), "{readme}");

    let shown: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("!["))
        .filter_map(|line| line.split(']').next())
        .collect();
    assert_eq!(shown, PLOTS, "the README shows every plot, headline first");
    let drawn: Vec<String> = PLOTS.iter().map(|name| read(&dir, name)).collect();
    for (name, svg) in PLOTS.iter().zip(&drawn) {
        assert!(
            svg.starts_with("<svg") && svg.contains("epoll-callback"),
            "{name}"
        );
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    // Bars name their models; a bounded model keeps its row and says why it has no bar.
    let memory = &drawn[PLOTS
        .iter()
        .position(|p| *p == "memory-per-connection.svg")
        .unwrap()];
    assert!(
        memory.contains("\nblocking\n") && memory.contains("not measured: served 1 of 8"),
        "{memory}"
    );
    // blocking's 8-connection point served one: drawn faded, and the caption says why.
    let p99 = &drawn[PLOTS.iter().position(|p| *p == "latency-p99.svg").unwrap()];
    assert!(p99.contains("Faded markers, not joined ("), "{p99}");
    let report = read(&dir, "report.html");
    std::fs::remove_file(dir.join("report.html")).unwrap();
    let output = c10k(&["plot", out]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        read(&dir, "report.html"),
        report,
        "report.html redrawn differs"
    );
    for (name, svg) in PLOTS.iter().zip(&drawn) {
        assert_eq!(
            &read(&dir, name),
            svg,
            "{name} redrawn from results.json differs"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn plot_and_bench_refuse_bad_input_in_one_line() {
    for args in [
        &["plot", "/nonexistent/c10k"][..],
        &["bench", "--models", "nosuchmodel", "-q"],
        // Parsed as one CPU list each (a clap type mismatch once made these
        // a panic with a backtrace), then refused for what they ask.
        &["bench", "--server-cpus", "0", "--load-cpus", "0", "-q"],
        &["bench", "--server-cpus", "0-1", "--load-cpus", "4096", "-q"],
        &["bench", "--server-cpus", "1-0", "--load-cpus", "0", "-q"],
    ] {
        let output = c10k(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
