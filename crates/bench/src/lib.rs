//! `c10k bench`: every model at every point of a matrix, each served by its
//! own `c10k serve` process and loaded by the same engine as `c10k load`,
//! with the server's resources sampled from `/proc` throughout.
//!
//! Points run in the order matrix point, repetition, model, with the models
//! in alternating order (A B C, then C B A: ABBA), so that drift on a shared
//! machine, and being first, spread over all of them; an unrecorded machine
//! warm-up runs before the first point. A point that cannot be reached by
//! design (the blocking server at 1,000 connections) or a server that
//! crashes or hangs is recorded as what happened, and the matrix goes on.
//! A bounded contender that could not serve every connection in a point's
//! first repetition is not run there again: its shortfall is by design and
//! the same each time, and waiting out the connect timeout again and again
//! took half of the full preset.
//!
//! Each point gets a verdict on what limited it ([`record::LimitedBy`]),
//! from both sides' CPU use during the window and, in the open loop, from
//! whether the load kept its schedule.
//!
//! `c10k bench` builds a [`record::Plan`] from its flags and the
//! contenders from the model list, calls [`run`], and writes what it
//! returns with [`record::write`]. Reading a run back:
//!
//! ```no_run
//! let dir = std::path::Path::new("results/2026-12-06-full-2core-intel-xeon");
//! let record = bench::record::read(dir)?;
//! println!("{} points, made by {}", record.points.len(), record.command);
//! # Ok::<(), bench::record::ReadError>(())
//! ```

pub mod code_size;
pub mod contender;
mod matrix;
mod point;
pub mod record;
mod sampling_priority;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use load::machine;

use contender::Contender;
pub use matrix::{Spec, abba, rough_duration, runs, specs};
use point::run_point;
use record::{BenchResults, Loop, ModelInfo, Outcome, Plan};

/// The grace period the bench gives servers (their connections are closed by then).
const GRACE: Duration = Duration::from_secs(2);

/// Runs the whole matrix; interval logs go to `out/hlog/`.
pub fn run(
    plan: Plan,
    models: &[Contender],
    command: String,
    show_progress: bool,
    out: &Path,
) -> BenchResults {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let specs = specs(&plan);
    let total = runs(&plan, models.len());
    let multi = if show_progress {
        MultiProgress::new()
    } else {
        MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
    };
    let overall = multi.add(ProgressBar::new(total as u64));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] point {pos}/{len} ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    overall.set_prefix("matrix");
    let largest = plan.conns.iter().copied().max().unwrap_or(0);
    if let Some(first) = models.first().filter(|_| plan.machine_warmup_s > 0.0) {
        overall.set_message(format!(
            "machine warm-up with {} (not recorded)",
            first.name()
        ));
        let warm = Plan {
            duration_s: plan.machine_warmup_s,
            warmup_s: 0.0,
            ..plan.clone()
        };
        let spec = Spec {
            mode: Loop::Closed,
            connections: 100,
            size: plan.base_size(),
            rate: None,
        };
        let _ = run_point(&warm, first, spec, false, 0, &multi, None);
    }
    let hlogs = out.join("hlog");
    let hlogs = std::fs::create_dir_all(&hlogs).ok().map(|()| hlogs);
    let mut points = Vec::with_capacity(total);
    for spec in &specs {
        let mut short_by_design: HashSet<&str> = HashSet::new();
        for repetition in 0..spec.repetitions(&plan) {
            for model in abba(models, repetition) {
                if short_by_design.contains(model.name()) {
                    overall.set_length(overall.length().unwrap_or(0).saturating_sub(1));
                    continue;
                }
                overall.set_message(format!(
                    "{} {:?} c={} s={}{}",
                    model.name(),
                    spec.mode,
                    spec.connections,
                    spec.size,
                    spec.rate.map_or(String::new(), |r| format!(" rate={r}"))
                ));
                let hold = spec.mode == Loop::Closed && spec.connections == largest;
                let point = run_point(
                    &plan,
                    model,
                    *spec,
                    hold,
                    repetition,
                    &multi,
                    hlogs.as_deref(),
                );
                if point.outcome == Outcome::Partial && model.bounded_because().is_some() {
                    short_by_design.insert(model.name());
                }
                points.push(point);
                overall.inc(1);
            }
        }
    }
    overall.finish_and_clear();
    let machine = machine::describe();
    BenchResults {
        schema: record::SCHEMA,
        command,
        date: today(),
        c10k_version: machine::VERSION.into(),
        git_revision: machine::GIT_REVISION.into(),
        limits: record::Limits {
            open_files: machine.open_file_limit,
            somaxconn: process_stats::sysctl_number("net/core/somaxconn"),
            local_port_range: process_stats::sysctl("net/ipv4/ip_local_port_range")
                .map(|text| text.split_whitespace().collect::<Vec<_>>().join("-")),
            max_map_count: process_stats::sysctl_number("vm/max_map_count"),
        },
        machine,
        models: models
            .iter()
            .map(|contender| match contender {
                Contender::Model(model) => ModelInfo {
                    name: model.name.into(),
                    summary: model.summary.into(),
                    code_lines: code_size::model_lines(model.name),
                    shared_lines: code_size::shared_lines(model.name),
                    bounded_because: contender.bounded_because(),
                },
                Contender::External(server) => ModelInfo {
                    name: server.name.clone(),
                    summary: format!("`{}`", server.command),
                    code_lines: server.code_lines(),
                    shared_lines: None,
                    bounded_because: contender.bounded_because(),
                },
            })
            .collect(),
        plan,
        points,
    }
}

/// Today's UTC date as YYYY-MM-DD.
pub fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn today_is_a_plausible_date() {
        let date = super::today();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"));
    }
}
