//! `results.csv`: one row per point, for spreadsheets and scripts.

use bench::record::{BenchResults, Loop};

use crate::ViewError;
use crate::figures::Figure;

/// The header row.
const COLUMNS: [&str; 33] = [
    "model",
    "loop",
    "connections",
    "size",
    "rate",
    "repetition",
    "outcome",
    "connections_ready",
    "messages",
    "msgs_per_s",
    "mb_per_s",
    "p50_us",
    "p99_us",
    "p99_9_us",
    "max_us",
    "errors",
    "server_cpu_us_per_msg",
    "server_peak_rss_kib",
    "server_peak_threads",
    "server_peak_fds",
    "ramp_s",
    "limited_by",
    "server_cpu_share",
    "load_cpu_share",
    "achieved_msgs_per_s",
    "send_lag_p99_us",
    "drained",
    "unfinished",
    "littles_law",
    "load_cpu_us_per_msg",
    "load_switches_per_msg",
    "server_switches_per_msg",
    "note",
];

/// Every point of `results` as CSV text.
pub(crate) fn table(results: &BenchResults) -> Result<String, ViewError> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(COLUMNS)?;
    for p in &results.points {
        let load = p.load.as_ref();
        let echo = load.and_then(|l| l.latency.echo.as_ref());
        let server = p.server.as_ref();
        let mode = match p.mode {
            Loop::Closed => "closed",
            Loop::Open => "open",
        };
        writer.write_record([
            p.model.clone(),
            mode.to_string(),
            p.connections.to_string(),
            p.size.to_string(),
            opt(p.rate),
            p.repetition.to_string(),
            format!("{:?}", p.outcome),
            opt(load.map(|l| l.connections_ready)),
            opt(load.map(|l| l.messages)),
            opt(load.map(|l| l.messages_per_s.round())),
            opt(load.map(|l| (l.megabytes_per_s * 1000.0).round() / 1000.0)),
            opt(echo.map(|e| e.p50_us)),
            opt(echo.map(|e| e.p99_us)),
            opt(echo.map(|e| e.p99_9_us)),
            opt(echo.map(|e| e.max_us)),
            opt(load.map(|l| l.errors.total())),
            opt(server
                .and_then(|s| s.cpu_us_per_message)
                .map(|v| (v * 100.0).round() / 100.0)),
            opt(server.map(|s| s.peak_rss_kib)),
            opt(server.map(|s| s.peak_threads)),
            opt(server.map(|s| s.peak_fds)),
            opt(load.and_then(|l| l.ramp_s)),
            p.limited_by
                .map_or(String::new(), |v| v.label().to_string()),
            opt(p.server_cpu_share.map(|v| (v * 1000.0).round() / 1000.0)),
            opt(p.load_cpu_share.map(|v| (v * 1000.0).round() / 1000.0)),
            opt(Figure::AchievedRate.of(p).map(f64::round)),
            opt(load
                .and_then(|l| l.schedule.as_ref())
                .and_then(|s| s.send_lag.as_ref())
                .map(|lag| lag.p99_us)),
            opt(load.map(|l| l.drained)),
            opt(load.map(|l| l.unfinished)),
            opt(load
                .and_then(|l| l.littles_law)
                .map(|v| (v * 1000.0).round() / 1000.0)),
            opt(load
                .and_then(|l| l.load_cpu_us_per_message)
                .map(|v| (v * 100.0).round() / 100.0)),
            opt(load
                .and_then(|l| l.load_voluntary_switches_per_message)
                .map(|v| (v * 1000.0).round() / 1000.0)),
            opt(server
                .and_then(|s| s.voluntary_switches)
                .zip(load.map(|l| l.messages).filter(|&m| m > 0))
                .map(|(switches, messages)| {
                    (switches as f64 / messages as f64 * 1000.0).round() / 1000.0
                })),
            p.note.clone().unwrap_or_default(),
        ])?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|err| ViewError::Io(err.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// An empty cell for a figure not measured.
fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}
