//! `c10k bench` end to end on a tiny matrix, and `c10k plot` redrawing
//! the same plots from `results.json` alone.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const C10K: &str = env!("CARGO_BIN_EXE_c10k");
const PLOTS: [&str; 7] = [
    "throughput-64B.svg",
    "latency-p50.svg",
    "latency-p99.svg",
    "latency-vs-rate.svg",
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
    assert_eq!(points.len(), 2 * 3, "2 models x (2 closed + 1 open) points");
    for point in points {
        let model = point["model"].as_str().unwrap();
        let connections = point["connections"].as_u64().unwrap();
        let outcome = point["outcome"].as_str().unwrap();
        if model == "epoll-callback" {
            assert_eq!(outcome, "ok", "{point}");
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
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|row| row.len() == columns));
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

    let drawn: Vec<String> = PLOTS.iter().map(|name| read(&dir, name)).collect();
    for (name, svg) in PLOTS.iter().zip(&drawn) {
        assert!(
            svg.starts_with("<svg") && svg.contains("epoll-callback"),
            "{name}"
        );
        std::fs::remove_file(dir.join(name)).unwrap();
    }
    let output = c10k(&["plot", out]);
    assert!(output.status.success(), "{output:?}");
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
    ] {
        let output = c10k(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
