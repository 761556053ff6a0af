//! `report.html`: one self-contained page per results folder, to open from
//! `file://` with no network: the summary table (sortable), every chart of
//! the README with hover values and models that switch on and off, and the
//! detail of any point (its settings, verdict and server samples).
//!
//! # Implementation
//!
//! The page is a template, a stylesheet and a script (`report.css`,
//! `report.js`, a few hundred hand-written lines that draw SVG: no charting
//! library to vendor), with the run's data inlined as JSON. The data is the
//! same [`Chart`]s the SVG plots are drawn from, the README's summary table
//! and a digest of each point, not `results.json` itself: that holds every
//! histogram and is several megabytes, where the page stays well under one.

use serde::Serialize;

use bench::record::{self, Point};

use crate::ViewError;
use crate::charts::Chart;
use crate::figures::{Figure, Figures};
use crate::palette::ModelStyle;
use crate::readme::{self, Table};

const TEMPLATE: &str = include_str!("report.html");
const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// What the page's script draws from.
#[derive(Serialize)]
struct Data<'a> {
    title: String,
    command: &'a str,
    /// The README's setting lines (revision, machine, limits, plan).
    setting: Vec<String>,
    models: Vec<ModelEntry<'a>>,
    summary: Table,
    charts: &'a [Chart],
    points: Vec<PointDigest<'a>>,
    /// From this many repetitions on, a band is the middle half.
    quartiles_from: usize,
}

#[derive(Serialize)]
struct ModelEntry<'a> {
    name: &'a str,
    summary: &'a str,
    colour: String,
    marker: &'static [(f64, f64)],
    bounded_because: Option<&'a str>,
}

/// One repetition of one point, as the detail view shows it.
#[derive(Serialize)]
struct PointDigest<'a> {
    model: &'a str,
    #[serde(rename = "loop")]
    mode: record::Loop,
    connections: usize,
    size: usize,
    rate: Option<f64>,
    repetition: usize,
    outcome: record::Outcome,
    note: Option<&'a str>,
    limited_by: Option<&'static str>,
    server_cpu_share: Option<f64>,
    load_cpu_share: Option<f64>,
    connections_ready: Option<usize>,
    msgs_per_s: Option<f64>,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    p99_9_us: Option<f64>,
    max_us: Option<f64>,
    errors: Option<u64>,
    send_lag_p99_us: Option<f64>,
    fell_behind: Option<bool>,
    /// How late the load's latest-ending sleep ended (absent before it was recorded).
    wake_late_max_us: Option<f64>,
    server_cpu_us_per_message: Option<f64>,
    load_cpu_us_per_message: Option<f64>,
    ramp_s: Option<f64>,
    /// `[baseline, connected, measured, held]` user-space RSS, KiB.
    rss_kib: [Option<u64>; 4],
    peak_rss_kib: Option<u64>,
    peak_threads: Option<u64>,
    peak_fds: Option<u64>,
    /// Kernel memory (stacks, unreclaimable slab, TCP buffers), KiB, before
    /// connecting and with every connection open.
    kernel_kib: Option<[u64; 2]>,
    server_exit: Option<&'a str>,
    hlog: Option<&'a str>,
}

impl<'a> PointDigest<'a> {
    fn of(point: &'a Point) -> PointDigest<'a> {
        let load = point.load.as_ref();
        let echo = load.and_then(|l| l.latency.echo.as_ref());
        let server = point.server.as_ref();
        let schedule = load.and_then(|l| l.schedule.as_ref());
        PointDigest {
            model: &point.model,
            mode: point.mode,
            connections: point.connections,
            size: point.size,
            rate: point.rate,
            repetition: point.repetition + 1,
            outcome: point.outcome,
            note: point.note.as_deref(),
            limited_by: point.limited_by.map(|v| v.label()),
            server_cpu_share: point.server_cpu_share,
            load_cpu_share: point.load_cpu_share,
            connections_ready: load.map(|l| l.connections_ready),
            msgs_per_s: Figure::MsgsPerS.of(point),
            p50_us: echo.map(|e| e.p50_us),
            p99_us: echo.map(|e| e.p99_us),
            p99_9_us: echo.map(|e| e.p99_9_us),
            max_us: echo.map(|e| e.max_us),
            errors: load.map(|l| l.errors.total()),
            send_lag_p99_us: schedule.and_then(|s| s.send_lag.as_ref()).map(|s| s.p99_us),
            fell_behind: schedule.map(|s| s.fell_behind),
            wake_late_max_us: schedule
                .and_then(|s| s.wake_lateness.as_ref())
                .map(|s| s.max_us),
            server_cpu_us_per_message: Figure::CpuPerMessage.of(point),
            load_cpu_us_per_message: load.and_then(|l| l.load_cpu_us_per_message),
            ramp_s: load.and_then(|l| l.ramp_s),
            rss_kib: [
                server.map(|s| s.baseline.rss_kib),
                server.and_then(|s| s.connected).map(|s| s.rss_kib),
                server.and_then(|s| s.measured).map(|s| s.rss_kib),
                server.and_then(|s| s.held).map(|s| s.rss_kib),
            ],
            peak_rss_kib: server.map(|s| s.peak_rss_kib),
            peak_threads: server.map(|s| s.peak_threads),
            peak_fds: server.map(|s| s.peak_fds),
            kernel_kib: point
                .kernel
                .map(|k| [k.before.total_kib(), k.connected.total_kib()]),
            server_exit: server.map(|s| s.exit.as_str()),
            hlog: point.hlog.as_deref(),
        }
    }
}

/// The page for `results`, drawn from `charts`.
pub(crate) fn report(
    figures: &Figures<'_>,
    charts: &[Chart],
    styles: &[ModelStyle],
) -> Result<String, ViewError> {
    let results = figures.results;
    let title = format!("c10k bench, {}", results.date);
    let data = Data {
        title: title.clone(),
        command: &results.command,
        setting: readme::setting_lines(results),
        models: results
            .models
            .iter()
            .zip(styles)
            .map(|(info, style)| ModelEntry {
                name: &info.name,
                summary: &info.summary,
                colour: style.hex(),
                marker: style.marker,
                bounded_because: info.bounded_because.as_deref(),
            })
            .collect(),
        summary: readme::summary(figures),
        charts,
        points: results.points.iter().map(PointDigest::of).collect(),
        quartiles_from: crate::figures::QUARTILES_FROM,
    };
    let json = serde_json::to_string(&data)?;
    Ok(TEMPLATE
        .replace("{{title}}", &escape_html(&title))
        .replace("{{style}}", STYLE)
        .replace("{{script}}", SCRIPT)
        // Last, so nothing in the data is taken for a placeholder. Inside
        // <script>, only "</" can end the element early.
        .replace("{{data}}", &json.replace("</", "<\\/")))
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_cannot_close_its_script_element() {
        let text = "</script><script>alert(1)</script>";
        let json = serde_json::to_string(text).unwrap().replace("</", "<\\/");
        assert!(!json.contains("</"));
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
        assert_eq!(escape_html("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
