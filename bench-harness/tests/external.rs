//! Servers that are not ours: `--server NAME='COMMAND'` in `c10k bench` and
//! `c10k check`, the article's five Python servers through the protocol
//! cases, and commands that never start.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const C10K: &str = env!("CARGO_BIN_EXE_c10k");

/// The article's servers, as `peers/python` names them.
const PYTHON: [(&str, &str); 5] = [
    ("py-blocking", "blocking.py"),
    ("py-threads", "threads.py"),
    ("py-selectors", "selectors_callbacks.py"),
    ("py-generator-loop", "generator_loop.py"),
    ("py-asyncio", "asyncio_server.py"),
];

fn c10k(args: &[&str]) -> Output {
    Command::new(C10K).args(args).output().unwrap()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("c10k-external-{name}-{}", std::process::id()))
}

fn peers() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../peers/python")
}

fn python3() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// `c10k bench --models none` with `servers` (and their flags) at two
/// small points, one repetition, into `out`; its `results.json`.
fn tiny_bench(servers: &[&str], out: &Path) -> Value {
    let points = [
        "--conns",
        "4",
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
        "1",
        "-d",
        "0.3",
        "--warmup",
        "0.1",
        "--hold",
        "0.1",
        "-q",
    ];
    let output = c10k(
        &[
            &["bench", "--models", "none"][..],
            servers,
            &points,
            &["--out", out.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(output.status.success(), "{output:?}");
    serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap()
}

/// Every case of PROTOCOL.md's promises (`--only protocol`) against each of
/// the article's servers, one after another: all pass, except that the
/// blocking server, which declares `concurrency=1`, meets the cases that
/// need two connections at once in their degraded form.
#[test]
fn the_articles_python_servers_pass_the_protocol_cases() {
    if !python3() {
        eprintln!("skipped: python3 is not installed, so the article's servers cannot run");
        return;
    }
    for (name, file) in PYTHON {
        let json = temp(&format!("{name}.json"));
        let server = format!("{name}=python3 {}", peers().join(file).display());
        let output = c10k(&[
            "check",
            "--server",
            &server,
            "--only",
            "protocol",
            "--preset",
            "quick",
            "-q",
            "--json",
            json.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{name}: {stdout}");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let cases = report["targets"][0]["cases"].as_array().unwrap();
        let protocol = conformance::CASES.iter().filter(|case| !case.abuse).count();
        assert_eq!(cases.len(), protocol, "{name}");
        for case in cases {
            let outcome = case["outcome"].as_str().unwrap();
            let by_design_allowed = name == "py-blocking";
            assert!(
                outcome == "pass" || (outcome == "by-design" && by_design_allowed),
                "{name} {}: {outcome}: {}",
                case["case"],
                case["detail"]
            );
        }
        let _ = std::fs::remove_file(json);
    }
}

/// A command that exits at once and one that never prints its listening
/// line: one line each, the target failed, no case run.
#[test]
fn check_says_in_one_line_that_a_server_did_not_start() {
    let output = c10k(&[
        "check",
        "--server",
        "gone=false",
        // `#` comments out the address c10k appends: it never listens.
        "--server",
        "silent=sleep 60 #",
        "--only",
        "basic_echo",
        "-q",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("gone: did not start: exited before its listening line"),
        "{stdout}"
    );
    assert!(
        stdout.contains("silent: did not start: no listening line within"),
        "{stdout}"
    );
    assert!(!stdout.contains("  pass "), "no case ran: {stdout}");
}

/// `c10k bench --server`: a server given as a command is measured like a
/// model (here `c10k serve tokio` itself, so that the test needs nothing
/// else), one that exits at once is recorded as did-not-start, and
/// `--models none` leaves out the models.
#[test]
fn bench_measures_a_command_beside_the_models_and_records_one_that_did_not_start() {
    let dir = temp("bench");
    let _ = std::fs::remove_dir_all(&dir);
    let ours = format!("ours={C10K} serve tokio");
    let results = tiny_bench(&["--server", &ours, "--server", "gone=false"], &dir);
    let models: Vec<&str> = results["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["ours", "gone"]);
    // Quoted, so that the recorded command runs again as it is.
    let command = results["command"].as_str().unwrap();
    assert!(
        command.contains(&format!("'{C10K} serve tokio'")),
        "{command}"
    );
    for point in results["points"].as_array().unwrap() {
        let (model, outcome) = (point["model"].as_str().unwrap(), &point["outcome"]);
        match model {
            "ours" => {
                assert_eq!(outcome, "ok", "{point}");
                assert!(point["load"]["messages"].as_u64().unwrap() > 0, "{point}");
                assert!(
                    point["server"]["peak_threads"].as_u64().unwrap() > 1,
                    "{point}"
                );
            }
            _ => {
                assert_eq!(outcome, "did-not-start", "{point}");
                let note = point["note"].as_str().unwrap();
                assert!(note.contains("exited before its listening line"), "{note}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `--handshake none`: a plain echo server, which would close a connection
/// whose first line is not its business, is loaded without `hello`; one
/// that never listens costs its points, not the run.
#[test]
fn bench_loads_a_plain_echo_server_without_the_handshake() {
    if !python3() {
        eprintln!("skipped: python3 is not installed, so the plain echo server cannot run");
        return;
    }
    let dir = temp("plain");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Echoes, but answers a line `hello` with a close: with the handshake
    // on, nothing would be measured.
    let script = dir.join("plain_echo.py");
    std::fs::write(
        &script,
        r#"import socket, sys, threading
host, port = sys.argv[2].rsplit(":", 1)
s = socket.create_server((host, int(port)))
print("listening on %s:%d model=plain" % s.getsockname(), flush=True)
def echo(c):
    while (data := c.recv(65536)) and not data.startswith(b"hello"):
        c.sendall(data)
    c.close()
while True:
    threading.Thread(target=echo, args=(s.accept()[0],), daemon=True).start()
"#,
    )
    .unwrap();
    let plain = format!("plain=python3 {}", script.display());
    let out = dir.join("run");
    let servers = ["--server", &plain, "--server", "silent=sleep 60 #"];
    let results = tiny_bench(&[&servers[..], &["--handshake", "none"]].concat(), &out);
    for point in results["points"].as_array().unwrap() {
        match point["model"].as_str().unwrap() {
            "plain" => {
                assert_eq!(point["outcome"], "ok", "{point}");
                assert!(point["load"]["messages"].as_u64().unwrap() > 0, "{point}");
            }
            _ => {
                assert_eq!(point["outcome"], "did-not-start", "{point}");
                let note = point["note"].as_str().unwrap();
                assert!(note.contains("no listening line"), "{note}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}
