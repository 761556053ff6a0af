//! From `c10k bench`'s command line to a results folder: presets, the
//! output folder's name, and the files written into it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use model::Model;

use crate::bench::results::{self, BenchResults, Loop, Outcome, Plan};
use crate::cli::BenchArgs;
use crate::plot::short_number;
use crate::{bench, models, plot};

/// The plan a command line asks for: the preset, with explicit flags on top.
pub fn plan(args: &BenchArgs) -> Plan {
    let full = args.preset == "full";
    let pick = |given: &[usize], preset: &[usize]| {
        if given.is_empty() {
            preset.to_vec()
        } else {
            given.to_vec()
        }
    };
    let seconds = |given: Option<Duration>, quick: f64, full_value: f64| {
        given.map_or(if full { full_value } else { quick }, |d| d.as_secs_f64())
    };
    Plan {
        conns: pick(
            &args.conns,
            if full {
                &[1, 10, 100, 1000, 10_000]
            } else {
                &[10, 100, 1000]
            },
        ),
        sizes: pick(&args.sizes, if full { &[64, 4096] } else { &[64] }),
        rates: if !args.rates.is_empty() {
            args.rates.clone()
        } else if full {
            vec![1_000.0, 5_000.0, 20_000.0, 50_000.0, 100_000.0]
        } else {
            vec![2_000.0, 10_000.0, 40_000.0]
        },
        rate_conns: args.rate_conns.unwrap_or(100),
        duration_s: seconds(args.duration, 2.0, 5.0),
        warmup_s: seconds(args.warmup, 0.5, 1.0),
        hold_s: seconds(args.hold, 1.0, 2.0),
        connect_timeout_s: seconds(args.connect_timeout, 3.0, 5.0),
        repeat: args.repeat.unwrap_or(1),
        pin: args.pin,
    }
}

/// The models a command line names (all by default).
pub fn chosen_models(args: &BenchArgs) -> anyhow::Result<Vec<&'static Model>> {
    if args.models.is_empty() {
        return Ok(models::MODELS.iter().collect());
    }
    args.models
        .iter()
        .map(|name| {
            models::find(name).with_context(|| {
                let known: Vec<&str> = models::MODELS.iter().map(|m| m.name).collect();
                format!("unknown model '{name}' (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// Runs the bench and writes its folder; returns the folder.
pub fn run(args: &BenchArgs) -> anyhow::Result<PathBuf> {
    let plan = plan(args);
    let models = chosen_models(args)?;
    if plan.pin && model::config::cores() < 2 {
        bail!("--pin needs two cores, this machine has one");
    }
    let command = std::iter::once("c10k".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let estimate = bench::rough_duration(&plan, models.len());
    eprintln!(
        "c10k bench: {} models x {} points x {} repetition(s), at least {} min",
        models.len(),
        bench::specs(&plan).len(),
        plan.repeat,
        (estimate.as_secs() / 60).max(1)
    );
    let results = bench::run(plan, &models, command, !args.quiet);
    let dir = match &args.out {
        Some(dir) => dir.clone(),
        None => unused(default_dir(&results)),
    };
    write(&dir, &results)?;
    Ok(dir)
}

/// `results/<date>-<cores>core-<cpu>`.
fn default_dir(results: &BenchResults) -> PathBuf {
    let cpu: String = results
        .machine
        .cpu
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cpu = cpu
        .split('-')
        .filter(|part| !part.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    PathBuf::from("results").join(format!(
        "{}-{}core-{cpu}",
        results.date, results.machine.cores
    ))
}

/// `dir`, or `dir-2`, `dir-3`, ... if it exists: a default folder never
/// overwrites an earlier run (a committed one, say) of the same day; `--out`
/// does what it is told.
fn unused(dir: PathBuf) -> PathBuf {
    if !dir.exists() {
        return dir;
    }
    let numbered = |n: u32| PathBuf::from(format!("{}-{n}", dir.display()));
    (2..)
        .map(numbered)
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| dir.clone())
}

/// Writes results.json, results.csv, the plots and README.md into `dir`.
pub fn write(dir: &Path, results: &BenchResults) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(results)? + "\n",
    )?;
    std::fs::write(dir.join("results.csv"), results.csv())?;
    let plots = plot::render(dir, results)?;
    std::fs::write(dir.join("README.md"), readme(results, &plots))?;
    Ok(())
}

/// The summary table, for the results README and the top-level one.
pub fn summary_table(results: &BenchResults) -> String {
    let largest = results.plan.conns.iter().copied().max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| model | code lines | peak msg/s (at conns) | p99 echo at {rc} conns | server CPU us/msg at {rc} | RSS per conn (slope) | RSS per idle conn at {largest} | time to {largest} handshaken | served at {largest} |",
        rc = results.reference_conns()
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for s in results.summaries() {
        let cell = |v: Option<f64>, unit: &str| {
            v.map_or("-".to_string(), |v| format!("{}{unit}", short_number(v)))
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} |",
            s.model,
            s.code_lines.map_or("-".into(), |n| n.to_string()),
            s.peak_msgs_per_s
                .map_or("-".into(), |(rate, conns)| peak_cell(
                    results, &s.model, rate, conns
                )),
            cell(s.p99_us_at_rate_conns.map(|us| us / 1000.0), " ms"),
            cell(s.cpu_us_per_message, ""),
            cell(s.bytes_per_connection, " B"),
            cell(s.idle_bytes_per_connection, " B"),
            s.time_to_largest_s.map_or("-".into(), plot::seconds_text),
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
    out.push_str("\nMedians over repetitions (with their range when there are several). Code lines: non-blank, non-comment lines of the model crate (tests excluded). `-`: not measured, or not every connection was served.\n\n");
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

#[cfg(test)]
mod tests {
    use super::unused;

    #[test]
    fn a_default_folder_never_overwrites_an_earlier_run() {
        let base = std::env::temp_dir().join(format!("c10k-unused-{}", std::process::id()));
        assert_eq!(unused(base.clone()), base);
        std::fs::create_dir_all(&base).unwrap();
        let second = unused(base.clone());
        assert_eq!(
            second,
            base.with_file_name(format!("c10k-unused-{}-2", std::process::id()))
        );
        std::fs::create_dir_all(&second).unwrap();
        assert!(unused(base.clone()).to_string_lossy().ends_with("-3"));
        let _ = std::fs::remove_dir_all(&base);
        let _ = std::fs::remove_dir_all(&second);
    }
}
