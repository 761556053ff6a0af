//! `c10k bench`: every model at every point of a matrix, each served by its
//! own `c10k serve` process and loaded by the same engine as `c10k load`,
//! with the server's resources sampled from `/proc` throughout.
//!
//! Points run in the order repetition, matrix point, model, so that models
//! alternate (A B A B) and drift on a shared machine spreads over all of
//! them. A point that cannot be reached by design (the blocking server at
//! 1,000 connections) or a server that crashes or hangs is recorded as what
//! happened, and the matrix goes on.

pub(crate) mod results;

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use model::Model;

use crate::server_process::{self, ServerProcess, Stopped};
use load::machine;
use load::{Phase, Settings};
use process_stats::ProcSample;

use crate::code_size;
use results::{BenchResults, Loop, ModelInfo, Outcome, Plan, Point, ServerUse};

/// The grace period the bench gives servers (their connections are closed by then).
const GRACE: Duration = Duration::from_secs(2);

/// One point of the matrix, before it runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spec {
    pub(crate) mode: Loop,
    pub(crate) connections: usize,
    pub(crate) size: usize,
    pub(crate) rate: Option<f64>,
}

/// The points `plan` asks for, in run order (closed loop first).
pub(crate) fn specs(plan: &Plan) -> Vec<Spec> {
    let closed = plan.sizes.iter().flat_map(|&size| {
        plan.conns.iter().map(move |&connections| Spec {
            mode: Loop::Closed,
            connections,
            size,
            rate: None,
        })
    });
    let open = plan.rates.iter().map(|&rate| Spec {
        mode: Loop::Open,
        connections: plan.rate_conns,
        size: plan.sizes.iter().copied().min().unwrap_or(64),
        rate: Some(rate),
    });
    closed.chain(open).collect()
}

/// Runs the whole matrix.
pub(crate) fn run(
    plan: Plan,
    models: &[&'static Model],
    command: String,
    show_progress: bool,
) -> BenchResults {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let specs = specs(&plan);
    let total = specs.len() * models.len() * plan.repeat;
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
    let mut points = Vec::with_capacity(total);
    for repetition in 0..plan.repeat {
        for spec in &specs {
            for model in models {
                overall.set_message(format!(
                    "{} {:?} c={} s={}{}",
                    model.name,
                    spec.mode,
                    spec.connections,
                    spec.size,
                    spec.rate.map_or(String::new(), |r| format!(" rate={r}"))
                ));
                let hold = spec.mode == Loop::Closed && spec.connections == largest;
                let point = run_point(&plan, model, *spec, hold, repetition, &multi);
                points.push(point);
                overall.inc(1);
            }
        }
    }
    overall.finish_and_clear();
    let machine = machine::describe();
    BenchResults {
        schema: results::SCHEMA,
        command,
        date: today(),
        c10k_version: machine::VERSION.into(),
        git_revision: machine::GIT_REVISION.into(),
        limits: results::Limits {
            open_files: machine.open_file_limit,
            somaxconn: process_stats::sysctl_number("net/core/somaxconn"),
            local_port_range: process_stats::sysctl("net/ipv4/ip_local_port_range")
                .map(|text| text.split_whitespace().collect::<Vec<_>>().join("-")),
            max_map_count: process_stats::sysctl_number("vm/max_map_count"),
        },
        machine,
        models: models
            .iter()
            .map(|model| ModelInfo {
                name: model.name.into(),
                summary: model.summary.into(),
                code_lines: code_size::model_lines(model.name),
                shared_lines: code_size::shared_lines(model.name),
                bounded_because: match model.concurrency {
                    model::Concurrency::Unbounded => None,
                    model::Concurrency::Bounded { why, .. } => Some(why.into()),
                },
            })
            .collect(),
        plan,
        points,
    }
}

/// One model at one point: start its server, load it, sample it, stop it.
fn run_point(
    plan: &Plan,
    model: &Model,
    spec: Spec,
    hold: bool,
    repetition: usize,
    multi: &MultiProgress,
) -> Point {
    let mut point = Point {
        model: model.name.into(),
        mode: spec.mode,
        connections: spec.connections,
        size: spec.size,
        rate: spec.rate,
        repetition,
        outcome: Outcome::DidNotStart,
        note: None,
        load: None,
        histograms: None,
        server: None,
    };
    if let Err(why) = (model.available)() {
        point.outcome = Outcome::Unavailable;
        point.note = Some(why);
        return point;
    }
    let cores = model::config::cores();
    // The server starts on CPU 0 (its threads inherit that), the load runs on CPU 1.
    if plan.pin
        && cores >= 2
        && let Err(why) = server_process::pin_to(0)
    {
        point.note = Some(why);
        return point;
    }
    let started =
        ServerProcess::start(model.name, &["--grace".into(), GRACE.as_secs().to_string()]);
    if plan.pin && cores >= 2 {
        let _ = server_process::pin_to(1);
    }
    let mut server = match started {
        Ok(server) => server,
        Err(why) => {
            point.note = Some(why);
            unpin_after(plan, cores);
            return point;
        }
    };
    // Let the server finish starting (runtimes spawn their threads lazily).
    std::thread::sleep(Duration::from_millis(100));
    let mut usage = ServerUse {
        baseline: server.sample().unwrap_or_default(),
        ..ServerUse::default()
    };
    let settings = Settings {
        target: server.addr,
        handshake: true,
        connections: spec.connections,
        connect_rate: None,
        connect_timeout: Duration::from_secs_f64(plan.connect_timeout_s),
        warmup: Duration::from_secs_f64(plan.warmup_s),
        duration: Duration::from_secs_f64(plan.duration_s),
        hold: if hold {
            Duration::from_secs_f64(plan.hold_s)
        } else {
            Duration::ZERO
        },
        size: spec.size,
        threads: if plan.pin { 1 } else { cores }.min(spec.connections),
        rate: spec.rate,
        source_addrs: Vec::new(),
    };
    let sampler = Sampler::start(server.pid());
    let mut phases: Vec<(Phase, Option<ProcSample>)> = Vec::new();
    let report = load::run_observed(settings, Some(multi), &mut |phase| {
        phases.push((phase, server.sample()));
    });
    let peaks = sampler.stop();
    for (phase, sample) in phases {
        match phase {
            Phase::Warmup => usage.connected = sample,
            Phase::Measure => usage.measured = sample, // replaced below by the end sample
            Phase::Hold => {
                if let (Some(start), Some(end)) = (usage.measured, sample) {
                    usage.cpu_s = Some(end.cpu_s() - start.cpu_s());
                    usage.voluntary_switches = Some(
                        end.voluntary_switches
                            .saturating_sub(start.voluntary_switches),
                    );
                    usage.involuntary_switches = Some(
                        end.involuntary_switches
                            .saturating_sub(start.involuntary_switches),
                    );
                }
                usage.measured = sample;
            }
            Phase::Stop if hold => usage.held = sample,
            _ => {}
        }
    }
    usage.peak_rss_kib = peaks.rss_kib;
    usage.peak_threads = peaks.threads;
    usage.peak_fds = peaks.fds;
    let crashed = server.exited();
    let stopped = server.stop(GRACE);
    unpin_after(plan, cores);
    usage.exit = match &stopped {
        Stopped::Cleanly(summary) => summary.clone(),
        Stopped::Crashed(why) => why.clone(),
        Stopped::Hung => "did not stop within the grace period; killed".into(),
    };
    match report {
        Err(err) => {
            point.outcome = Outcome::NoTraffic;
            point.note = Some(format!("the load run failed: {err}"));
        }
        Ok(report) => {
            point.histograms = Some(report.histograms);
            let results = report.results;
            if let Some(cpu) = usage.cpu_s.filter(|_| results.messages > 0) {
                usage.cpu_us_per_message = Some(cpu * 1e6 / results.messages as f64);
            }
            point.outcome = if results.messages == 0 {
                Outcome::NoTraffic
            } else if results.connections_ready < spec.connections || results.errors.total() > 0 {
                Outcome::Partial
            } else {
                Outcome::Ok
            };
            if point.outcome != Outcome::Ok {
                point.note = Some(describe_shortfall(&results, spec.connections, model));
            }
            point.load = Some(results);
        }
    }
    match stopped {
        Stopped::Crashed(why) => {
            point.outcome = Outcome::Crashed;
            point.note = Some(crashed.unwrap_or(why));
        }
        Stopped::Hung => {
            point.outcome = Outcome::Hung;
            point.note = Some("the server did not stop after SIGTERM and was killed".into());
        }
        Stopped::Cleanly(_) => {}
    }
    point.server = Some(usage);
    point
}

fn unpin_after(plan: &Plan, cores: usize) {
    if plan.pin {
        server_process::unpin(cores);
    }
}

/// One sentence on what fell short at a point.
fn describe_shortfall(results: &load::report::Results, wanted: usize, model: &Model) -> String {
    let failures: Vec<String> = results
        .errors
        .by_kind()
        .iter()
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| format!("{count} {}", kind.replace('_', " ")))
        .collect();
    let mut note = format!(
        "{} of {wanted} connections served",
        results.connections_ready
    );
    if !failures.is_empty() {
        note += &format!("; {}", failures.join(", "));
    }
    if let model::Concurrency::Bounded { why, .. } = model.concurrency {
        note += &format!(" (by design: {why})");
    }
    note
}

/// Samples a process every 100 ms on its own thread and keeps the peaks.
struct Sampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<ProcSample>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let mut peak = ProcSample::default();
            loop {
                if let Some(now) = process_stats::sample(pid) {
                    peak.rss_kib = peak.rss_kib.max(now.rss_kib);
                    peak.threads = peak.threads.max(now.threads);
                    peak.fds = peak.fds.max(now.fds);
                }
                match stopped.recv_timeout(Duration::from_millis(100)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return peak,
                }
            }
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> ProcSample {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// Today's UTC date as YYYY-MM-DD.
pub(crate) fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// How long a plan takes at most, roughly, for the progress estimate and the README.
pub(crate) fn rough_duration(plan: &Plan, models: usize) -> Duration {
    let per_point = plan.warmup_s + plan.duration_s + 1.0;
    let points = specs(plan).len() * models * plan.repeat;
    Duration::from_secs_f64(per_point * points as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_is_a_plausible_date() {
        let date = today();
        assert_eq!(date.len(), 10);
        assert!(date.starts_with("20"));
    }

    #[test]
    fn specs_cover_sizes_times_conns_then_rates() {
        let plan = Plan {
            conns: vec![1, 10],
            sizes: vec![64, 4096],
            rates: vec![1000.0],
            rate_conns: 10,
            duration_s: 1.0,
            warmup_s: 0.0,
            hold_s: 0.0,
            connect_timeout_s: 1.0,
            repeat: 1,
            pin: false,
        };
        let specs = specs(&plan);
        assert_eq!(specs.len(), 5);
        assert_eq!(specs[4].mode, Loop::Open);
        assert_eq!(specs[4].size, 64);
    }
}
