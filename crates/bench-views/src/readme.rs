//! The results folder's README: the command and the machine, then the
//! fixed-rate efficiency tables (the headline: what a message costs each
//! server at a load every model keeps up with), the closed-loop and memory
//! summary with each figure's limit marked, what limited each point, the
//! plots and the points that fell short.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use bench::record::{BenchResults, LimitedBy, Outcome};
use load::report::EchoTiming;

use crate::figures::{At, Figure, Figures, Group, Spread, band_words};
use crate::numbers::{seconds_text, short_number};

/// Marks a figure that came from a point the load generator limited too.
const LOAD_MARK: &str = "†";
/// Marks a figure that came from a point where not every connection was served.
const PARTIAL_MARK: &str = "*";

/// The results folder's README.
pub(crate) fn readme(figures: &Figures<'_>, plots: &[PathBuf]) -> String {
    let results = figures.results;
    let mut out = String::new();
    let _ = writeln!(out, "# c10k bench, {}\n", results.date);
    let _ = writeln!(out, "Produced by:\n\n```sh\n{}\n```\n", results.command);
    out.push_str(&setting(results));
    if !figures.efficiency_points().is_empty() {
        out.push_str(&efficiency(figures));
    }
    out.push_str("## Closed loop and memory\n\n");
    out.push_str(&summary_table(figures));
    let _ = write!(
        out,
        "\nMedians over repetitions (with their range when there are several). \
         {LOAD_MARK}: the point was load-bound or both sides were busy, so the figure \
         describes the load generator as much as the server. Peak throughput counts \
         only points where every connection was served. RSS is user-space memory; \
         kernel memory is the machine-wide growth of kernel stacks, unreclaimable slab \
         and TCP buffers per connection with every connection open, and includes the \
         load's end of each connection. Code lines: non-blank, non-comment lines (tests \
         excluded) of the model crate itself (own) and of the `model` crate's shared \
         serving code it runs on (shared: accept loop, connection registry, session, \
         async handshake loop), since a reader of the model reads both. `-`: not \
         measured, or not every connection was served.\n\n"
    );
    out.push_str(&bounded(figures));
    out.push_str(&verdicts(results));
    out.push_str("## Plots\n\n");
    out.push_str(
        "The same charts with hover values, models that switch on and off, and every \
         point's detail: [`report.html`](report.html) (one self-contained file; download \
         it and open it in a browser, GitHub shows HTML as source). Each plot's caption \
         says which values are about the server and which are not.\n\n",
    );
    for plot in plots {
        if let Some(name) = plot.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(out, "![{name}]({name})\n");
        }
    }
    out.push_str(&shortfalls(results));
    out
}

/// The command's setting, as a Markdown list.
fn setting(results: &BenchResults) -> String {
    let mut out = String::new();
    for line in setting_lines(results) {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    out
}

/// The command's setting: revision, machine, limits, plan, pinning; one
/// Markdown line each.
pub(crate) fn setting_lines(results: &BenchResults) -> Vec<String> {
    let (m, l, p) = (&results.machine, &results.limits, &results.plan);
    let pinning = if p.pinned() {
        format!(
            "server on CPU {:?}, load on CPU {:?} (a server sees only its CPUs, so defaults that scale with cores, such as pool sizes and runtime workers, are sized for them)",
            p.server_cpus, p.load_cpus
        )
    } else if p.pin {
        "server pinned to CPU 0 and load to CPU 1".to_string()
    } else {
        "unpinned".to_string()
    };
    vec![
        format!(
            "revision `{}`, c10k {}, {}",
            results.git_revision, results.c10k_version, m.rustc
        ),
        format!("CPU: {} ({} cores), kernel {}", m.cpu, m.cores, m.kernel),
        format!(
            "limits: open files {}, somaxconn {}, local ports {}, vm.max_map_count {}",
            l.open_files,
            l.somaxconn.map_or("?".into(), |v| v.to_string()),
            l.local_port_range.clone().unwrap_or_default(),
            l.max_map_count.map_or("?".into(), |v| v.to_string()),
        ),
        format!(
            "plan: fixed rates {:?} msg/s over {:?} connections; closed loop at {:?} connections with {:?}-byte messages; open loop at {:?} msg/s over {} connections; {} s measured after {} s warm-up per point, {} s idle hold at the largest point, connect timeout {} s, {} repetition(s) of each fixed-rate point and {} of the others in ABBA order, {} s machine warm-up; the load's open-loop sends in bursts of {} µs; {pinning}",
            p.efficiency_rates,
            p.efficiency_conns,
            p.conns,
            p.sizes,
            p.rates,
            p.rate_conns,
            p.duration_s,
            p.warmup_s,
            p.hold_s,
            p.connect_timeout_s,
            p.efficiency_runs(),
            p.repeat,
            p.machine_warmup_s,
            p.burst_s * 1e6,
        ),
        results
            .points
            .iter()
            .filter_map(|point| Some(point.load.as_ref()?.echo_timing))
            .sum::<EchoTiming>()
            .describe(),
        "regenerate the plots, report.html and this README from `results.json` alone: `c10k plot <this folder>`".into(),
    ]
}

/// The headline: server CPU per message and latency at fixed offered rates.
fn efficiency(figures: &Figures<'_>) -> String {
    let results = figures.results;
    let points = figures.efficiency_points();
    let size = figures.base_size;
    let mut out = String::from("## Efficiency at fixed offered rates\n\n");
    let _ = writeln!(
        out,
        "The load offers a fixed rate of {size}-byte messages, on a schedule, that the \
         servers keep up with, so the figure that differs is what each message costs the \
         server. On one machine the load pays about the same kernel cost per message as \
         the server, so closed-loop saturation cannot rank fast servers; these points can.\n"
    );
    out.push_str("### Server CPU microseconds per message\n\n");
    out.push_str(&point_header(&points));
    for (model, info) in results.models.iter().enumerate() {
        let cells: Vec<String> = points
            .iter()
            .map(|&(rate, conns)| {
                let group = figures.group(model, At::open(rate, conns, size));
                let cpu = group.and_then(|g| Some((g, g.spread(Figure::CpuPerMessage)?)));
                cpu.map_or("-".into(), |(group, s)| {
                    format!("{}{}", range_text(&s), marks(group))
                })
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", info.name, cells.join(" | "));
    }
    let runs = results.plan.efficiency_runs();
    let _ = writeln!(
        out,
        "\nMedian (band) over {runs} repetition(s), the band {}; lower is better. \
         {LOAD_MARK}: the load fell behind its schedule or was as busy as the server at that \
         point; {PARTIAL_MARK}: not every connection was served (a bounded model).\n",
        band_words(runs)
    );
    out.push_str("Which differences exceed the spread (`<`: the bands do not overlap; `~`: they do, so the order is not established):\n\n");
    for &(rate, conns) in &points {
        let _ = writeln!(
            out,
            "- {} msg/s over {conns} connections: {}",
            short_number(rate),
            ranking(figures, rate, conns)
        );
    }
    out.push_str(
        "\n### Echo latency, corrected for coordinated omission (p50 / p99 / p99.9, ms)\n\n",
    );
    out.push_str(&point_header(&points));
    for (model, info) in results.models.iter().enumerate() {
        let cells: Vec<String> = points
            .iter()
            .map(|&(rate, conns)| {
                let group = figures.group(model, At::open(rate, conns, size));
                let median = |figure| Some(group?.spread(figure)?.median / 1000.0);
                match (
                    median(Figure::P50),
                    median(Figure::P99),
                    median(Figure::P99_9),
                ) {
                    (Some(p50), Some(p99), Some(p999)) => {
                        format!("{p50:.2} / {p99:.2} / {p999:.2}")
                    }
                    _ => "-".into(),
                }
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", info.name, cells.join(" | "));
    }
    out.push('\n');
    out
}

/// `| model | R msg/s over N conns | ... |` and its rule.
fn point_header(points: &[(f64, usize)]) -> String {
    let columns: Vec<String> = points
        .iter()
        .map(|&(rate, conns)| format!("{} msg/s, {conns} conns", short_number(rate)))
        .collect();
    format!(
        "| model | {} |\n| --- |{}\n",
        columns.join(" | "),
        " ---: |".repeat(points.len())
    )
}

/// `4.1 (3.9-4.4)`, the median and its band, or the median alone for a
/// single repetition.
fn range_text(spread: &Spread) -> String {
    if spread.runs > 1 {
        format!(
            "{} ({}-{})",
            short_number(spread.median),
            short_number(spread.low),
            short_number(spread.high)
        )
    } else {
        short_number(spread.median)
    }
}

/// The marks a figure from these repetitions carries.
fn marks(group: &Group<'_>) -> String {
    let mut marks = String::new();
    if group.involves_load {
        marks.push_str(LOAD_MARK);
    }
    if !group.all_served {
        marks.push_str(PARTIAL_MARK);
    }
    marks
}

/// The models at one fixed-rate point from cheapest to dearest, `<` where
/// the bands do not overlap and `~` where they do. Only models that served
/// every connection at every repetition are ranked.
fn ranking(figures: &Figures<'_>, rate: f64, conns: usize) -> String {
    let at = At::open(rate, conns, figures.base_size);
    let mut ranked: Vec<(&str, Spread)> = figures
        .results
        .models
        .iter()
        .enumerate()
        .filter_map(|(model, info)| {
            let group = figures.group(model, at).filter(|g| g.all_served)?;
            Some((info.name.as_str(), group.spread(Figure::CpuPerMessage)?))
        })
        .collect();
    ranked.sort_by(|a, b| a.1.median.total_cmp(&b.1.median));
    let mut text = String::new();
    for (i, (name, spread)) in ranked.iter().enumerate() {
        if i > 0 {
            let previous = &ranked[i - 1].1;
            text.push_str(if previous.high < spread.low {
                " < "
            } else {
                " ~ "
            });
        }
        let _ = write!(text, "`{name}`");
    }
    if text.is_empty() {
        "no model served every connection".into()
    } else {
        text
    }
}

/// The per-model closed-loop and memory table, as Markdown.
fn summary_table(figures: &Figures<'_>) -> String {
    let table = summary(figures);
    let mut out = format!("| {} |\n| --- |", table.columns.join(" | "));
    out.push_str(&" ---: |".repeat(table.columns.len() - 1));
    out.push('\n');
    for row in &table.rows {
        let cells: Vec<&str> = row[1..].iter().map(|c| c.text.as_str()).collect();
        let _ = writeln!(out, "| `{}` | {} |", row[0].text, cells.join(" | "));
    }
    out
}

/// A table cell: what it shows, and the number it sorts by.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cell {
    pub(crate) text: String,
    pub(crate) sort: Option<f64>,
}

/// A table for people: column heads and rows of cells.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Table {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

/// The per-model closed-loop and memory figures, for the README and report.html.
pub(crate) fn summary(figures: &Figures<'_>) -> Table {
    let (largest, rc) = (figures.largest, figures.reference_conns);
    let columns = vec![
        "model".to_string(),
        "own code lines".into(),
        "shared code lines".into(),
        "peak msg/s (at conns)".into(),
        format!("p99 echo at {rc} conns"),
        format!("server CPU us/msg at {rc}"),
        "user RSS per conn (slope)".into(),
        format!("user RSS per idle conn at {largest}"),
        format!("kernel memory per conn at {largest}"),
        format!("time to {largest} handshaken"),
        format!("served at {largest}"),
    ];
    let figure = |v: Option<f64>, unit: &str| Cell {
        text: v.map_or("-".to_string(), |v| format!("{}{unit}", short_number(v))),
        sort: v,
    };
    let count = |n: Option<usize>| Cell {
        text: n.map_or("-".into(), |n| n.to_string()),
        sort: n.map(|n| n as f64),
    };
    let rows = figures
        .summaries
        .iter()
        .enumerate()
        .map(|(model, s)| {
            vec![
                Cell {
                    text: s.model.clone(),
                    sort: None,
                },
                count(s.code_lines),
                count(s.shared_lines),
                Cell {
                    text: s.peak_msgs_per_s.map_or("-".into(), |(rate, conns)| {
                        let mark = if s.peak_involves_load { LOAD_MARK } else { "" };
                        format!("{}{mark}", peak_cell(figures, model, rate, conns))
                    }),
                    sort: s.peak_msgs_per_s.map(|(rate, _)| rate),
                },
                figure(s.p99_us_at_rate_conns.map(|us| us / 1000.0), " ms"),
                figure(s.cpu_us_per_message, ""),
                figure(s.bytes_per_connection, " B"),
                figure(s.idle_bytes_per_connection, " B"),
                figure(s.kernel_bytes_per_connection, " B"),
                Cell {
                    text: s.time_to_largest_s.map_or("-".into(), seconds_text),
                    sort: s.time_to_largest_s,
                },
                Cell {
                    text: s
                        .largest_served
                        .map_or("-".into(), |(served, of)| format!("{served} of {of}")),
                    sort: s.largest_served.map(|(served, _)| served as f64),
                },
            ]
        })
        .collect();
    Table { columns, rows }
}

/// The peak throughput, with its range over repetitions when there are several.
fn peak_cell(figures: &Figures<'_>, model: usize, median: f64, conns: usize) -> String {
    let group = figures.group(model, At::closed(conns, figures.base_size));
    match group.and_then(|g| g.spread(Figure::MsgsPerS)) {
        Some(spread) if spread.runs > 1 => {
            format!("{} ({conns})", range_text(&Spread { median, ..spread }))
        }
        _ => format!("{} ({conns})", short_number(median)),
    }
}

/// The models bounded by design, with why.
fn bounded(figures: &Figures<'_>) -> String {
    let bounded: Vec<String> = figures
        .results
        .models
        .iter()
        .filter_map(|m| {
            m.bounded_because
                .as_ref()
                .map(|why| format!("- `{}`: {why}", m.name))
        })
        .collect();
    if bounded.is_empty() {
        return String::new();
    }
    format!(
        "Bounded by design (their shortfalls below are the lesson, not a failure):\n\n{}\n\n{}",
        bounded.join("\n"),
        if figures.bounded_ran_once() {
            "Where one could not serve every connection in a point's first repetition, \
             it was not run there again: the shortfall is the same each time.\n\n"
        } else {
            ""
        }
    )
}

/// How many of each model's points each verdict got.
fn verdicts(results: &BenchResults) -> String {
    let kinds = [
        LimitedBy::ServerBound,
        LimitedBy::LoadBound,
        LimitedBy::Both,
        LimitedBy::NotSaturated,
    ];
    if results.points.iter().all(|p| p.limited_by.is_none()) {
        return String::new();
    }
    let mut out = String::from("## What limited each point\n\n");
    let _ = writeln!(
        out,
        "From both sides' CPU use during the window (busy: at least {:.0}% of its CPUs) \
         and, in the open loop, whether the load kept its schedule (p99 send lag at most \
         1 ms, at least 95% of the rate its ready connections were scheduled to send). Points per verdict:\n",
        LimitedBy::BUSY * 100.0
    );
    let labels: Vec<&str> = kinds.iter().map(|k| k.label()).collect();
    let _ = writeln!(
        out,
        "| model | {} |\n| --- |{}",
        labels.join(" | "),
        " ---: |".repeat(kinds.len())
    );
    for info in &results.models {
        let counts: Vec<String> = kinds
            .iter()
            .map(|kind| {
                results
                    .points
                    .iter()
                    .filter(|p| p.model == info.name && p.limited_by == Some(*kind))
                    .count()
                    .to_string()
            })
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", info.name, counts.join(" | "));
    }
    out.push('\n');
    out
}

/// Every point that did not go simply well, with what happened.
fn shortfalls(results: &BenchResults) -> String {
    let short: Vec<String> = results
        .points
        .iter()
        .filter(|point| point.outcome != Outcome::Ok)
        .map(|point| {
            format!(
                "- `{}` {:?} loop, {} connections, {} B{}, repetition {}: {:?}{}",
                point.model,
                point.mode,
                point.connections,
                point.size,
                point.rate.map_or(String::new(), |r| format!(", {r} msg/s")),
                point.repetition + 1,
                point.outcome,
                point
                    .note
                    .as_ref()
                    .map_or(String::new(), |n| format!(" - {n}"))
            )
        })
        .collect();
    if short.is_empty() {
        return String::new();
    }
    format!("## Points that fell short\n\n{}\n", short.join("\n"))
}
