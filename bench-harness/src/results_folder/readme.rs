//! The results folder's README: the command, the machine, the summary
//! table, the plots and the points that fell short.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::numbers::{seconds_text, short_number};
use crate::bench::results::{self, BenchResults, Loop, Outcome};

/// The per-model summary table.
fn summary_table(results: &BenchResults) -> String {
    let largest = results.plan.conns.iter().copied().max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| model | own code lines | shared code lines | peak msg/s (at conns) | p99 echo at {rc} conns | server CPU us/msg at {rc} | RSS per conn (slope) | RSS per idle conn at {largest} | time to {largest} handshaken | served at {largest} |",
        rc = results.reference_conns()
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for s in results.summaries() {
        let cell = |v: Option<f64>, unit: &str| {
            v.map_or("-".to_string(), |v| format!("{}{unit}", short_number(v)))
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.model,
            s.code_lines.map_or("-".into(), |n| n.to_string()),
            s.shared_lines.map_or("-".into(), |n| n.to_string()),
            s.peak_msgs_per_s
                .map_or("-".into(), |(rate, conns)| peak_cell(
                    results, &s.model, rate, conns
                )),
            cell(s.p99_us_at_rate_conns.map(|us| us / 1000.0), " ms"),
            cell(s.cpu_us_per_message, ""),
            cell(s.bytes_per_connection, " B"),
            cell(s.idle_bytes_per_connection, " B"),
            s.time_to_largest_s.map_or("-".into(), seconds_text),
            s.largest_served
                .map_or("-".into(), |(served, of)| format!("{served} of {of}")),
        );
    }
    out
}

/// The peak throughput, with its range over repetitions when there are several.
fn peak_cell(results: &BenchResults, model: &str, median: f64, conns: usize) -> String {
    let size = results.base_size();
    let spread = results.spread(model, Loop::Closed, conns, size, None, results::msgs_per_s);
    match spread {
        Some(spread) if results.plan.repeat > 1 => format!(
            "{} ({}-{}) ({conns})",
            short_number(median),
            short_number(spread.min),
            short_number(spread.max)
        ),
        _ => format!("{} ({conns})", short_number(median)),
    }
}

/// The results folder's README: the command, the machine, the summary
/// table, the plots and the points that fell short.
pub(crate) fn readme(results: &BenchResults, plots: &[PathBuf]) -> String {
    let m = &results.machine;
    let l = &results.limits;
    let p = &results.plan;
    let mut out = String::new();
    let _ = writeln!(out, "# c10k bench, {}\n", results.date);
    let _ = writeln!(out, "Produced by:\n\n```sh\n{}\n```\n", results.command);
    let _ = writeln!(
        out,
        "- revision `{}`, c10k {}, {}\n- CPU: {} ({} cores), kernel {}\n- limits: open files {}, somaxconn {}, local ports {}, vm.max_map_count {}\n- plan: closed loop at {:?} connections with {:?}-byte messages; open loop at {:?} msg/s over {} connections; {} s measured after {} s warm-up per point, {} s idle hold at the largest point, connect timeout {} s, {} repetition(s){}\n- regenerate the plots and this README from `results.json` alone: `c10k plot <this folder>`\n",
        results.git_revision,
        results.c10k_version,
        m.rustc,
        m.cpu,
        m.cores,
        m.kernel,
        l.open_files,
        l.somaxconn.map_or("?".into(), |v| v.to_string()),
        l.local_port_range.clone().unwrap_or_default(),
        l.max_map_count.map_or("?".into(), |v| v.to_string()),
        p.conns,
        p.sizes,
        p.rates,
        p.rate_conns,
        p.duration_s,
        p.warmup_s,
        p.hold_s,
        p.connect_timeout_s,
        p.repeat,
        if p.pin {
            ", server pinned to CPU 0 and load to CPU 1 (each server sees one core, so defaults that scale with cores, such as pool sizes and runtime workers, are sized for one)"
        } else {
            ", unpinned"
        },
    );
    out.push_str("## Summary\n\n");
    out.push_str(&summary_table(results));
    out.push_str("\nMedians over repetitions (with their range when there are several). Code lines: non-blank, non-comment lines (tests excluded) of the model crate itself (own) and of the `model` crate's shared serving code it runs on (shared: accept loop, connection registry, session, async handshake loop), since a reader of the model reads both. `-`: not measured, or not every connection was served.\n\n");
    let bounded: Vec<String> = results
        .models
        .iter()
        .filter_map(|m| {
            m.bounded_because
                .as_ref()
                .map(|why| format!("- `{}`: {why}", m.name))
        })
        .collect();
    if !bounded.is_empty() {
        out.push_str(
            "Bounded by design (their shortfalls below are the lesson, not a failure):\n\n",
        );
        out.push_str(&bounded.join("\n"));
        out.push_str("\n\n");
    }
    out.push_str("## Plots\n\n");
    for plot in plots {
        if let Some(name) = plot.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(out, "![{name}]({name})\n");
        }
    }
    let short: Vec<String> = results
        .points
        .iter()
        .filter(|point| point.outcome != Outcome::Ok)
        .map(|point| {
            format!(
                "- `{}` {:?} loop, {} connections, {} B{}: {:?}{}",
                point.model,
                point.mode,
                point.connections,
                point.size,
                point.rate.map_or(String::new(), |r| format!(", {r} msg/s")),
                point.outcome,
                point
                    .note
                    .as_ref()
                    .map_or(String::new(), |n| format!(" - {n}"))
            )
        })
        .collect();
    if !short.is_empty() {
        out.push_str("## Points that fell short\n\n");
        out.push_str(&short.join("\n"));
        out.push('\n');
    }
    out
}
