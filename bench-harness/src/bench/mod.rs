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
//!
//! Each point gets a verdict on what limited it ([`results::LimitedBy`]),
//! from both sides' CPU use during the window and, in the open loop, from
//! whether the load kept its schedule.

pub(crate) mod results;

use std::path::Path;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::contender::Contender;
use crate::server_process::{self, Stopped};
use load::machine;
use load::{Phase, Settings};
use process_stats::ProcSample;

use crate::code_size;
use results::{
    BenchResults, KernelUse, LimitedBy, Loop, ModelInfo, Outcome, Plan, Point, ServerUse,
};

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

/// The points `plan` asks for, in run order: the fixed-rate series first
/// (the headline), then the closed loop, then the open-loop latency series.
pub(crate) fn specs(plan: &Plan) -> Vec<Spec> {
    let size = plan.sizes.iter().copied().min().unwrap_or(64);
    let open = |connections: usize, rate: f64| Spec {
        mode: Loop::Open,
        connections,
        size,
        rate: Some(rate),
    };
    let efficiency = plan.efficiency_conns.iter().flat_map(|&connections| {
        plan.efficiency_rates
            .iter()
            .map(move |&rate| open(connections, rate))
    });
    let closed = plan.sizes.iter().flat_map(|&size| {
        plan.conns.iter().map(move |&connections| Spec {
            mode: Loop::Closed,
            connections,
            size,
            rate: None,
        })
    });
    let series = plan.rates.iter().map(|&rate| open(plan.rate_conns, rate));
    let mut specs: Vec<Spec> = Vec::new();
    for spec in efficiency.chain(closed).chain(series) {
        if !specs.contains(&spec) {
            specs.push(spec);
        }
    }
    specs
}

/// The models in the order repetition `repetition` runs them: forward, then
/// backward, then forward (ABBA).
pub(crate) fn abba<T>(models: &[T], repetition: usize) -> Vec<&T> {
    let mut order: Vec<&T> = models.iter().collect();
    if repetition % 2 == 1 {
        order.reverse();
    }
    order
}

/// Runs the whole matrix; interval logs go to `out/hlog/`.
pub(crate) fn run(
    plan: Plan,
    models: &[Contender],
    command: String,
    show_progress: bool,
    out: &Path,
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
            size: plan.sizes.iter().copied().min().unwrap_or(64),
            rate: None,
        };
        let _ = run_point(&warm, first, spec, false, 0, &multi, None);
    }
    let hlogs = out.join("hlog");
    let hlogs = std::fs::create_dir_all(&hlogs).ok().map(|()| hlogs);
    let mut points = Vec::with_capacity(total);
    for spec in &specs {
        for repetition in 0..plan.repeat {
            for model in abba(models, repetition) {
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

/// One model at one point: start its server, load it, sample it, stop it.
fn run_point(
    plan: &Plan,
    model: &Contender,
    spec: Spec,
    hold: bool,
    repetition: usize,
    multi: &MultiProgress,
    hlogs: Option<&Path>,
) -> Point {
    let mut point = Point {
        model: model.name().into(),
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
        limited_by: None,
        server_cpu_share: None,
        load_cpu_share: None,
        kernel: None,
        hlog: None,
    };
    if let Err(why) = model.available() {
        point.outcome = Outcome::Unavailable;
        point.note = Some(why);
        return point;
    }
    let cores = model::config::cores();
    // The server starts on its CPUs (its threads inherit them), the load runs on its own.
    if plan.pinned()
        && let Err(why) = server_process::pin_to(&plan.server_cpus)
    {
        point.note = Some(why);
        return point;
    }
    let started = model.start(GRACE.as_secs());
    if plan.pinned() {
        let _ = server_process::pin_to(&plan.load_cpus);
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
        handshake: model.handshake(),
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
        threads: if plan.pinned() {
            plan.load_cpus.len()
        } else {
            cores
        }
        .min(spec.connections),
        rate: spec.rate,
        source_addrs: Vec::new(),
        segment: load::settings::Segment::WHOLE,
        start_at: None,
    };
    let sampler = Sampler::start(server.pid());
    let mut phases: Vec<(Phase, Option<ProcSample>)> = Vec::new();
    let kernel_before = process_stats::kernel_memory();
    let mut kernel_connected = None;
    let report = load::run_observed(settings, Some(multi), &mut |phase| {
        if phase == Phase::Warmup {
            kernel_connected = process_stats::kernel_memory();
        }
        phases.push((phase, server.sample()));
    });
    let peaks = sampler.stop();
    if let (Some(before), Some(connected)) = (kernel_before, kernel_connected) {
        point.kernel = Some(KernelUse { before, connected });
    }
    for (phase, sample) in phases {
        match phase {
            Phase::Warmup => usage.connected = sample,
            Phase::Measure => usage.measured = sample, // replaced below by the end sample
            Phase::Drain => {
                if let (Some(start), Some(end)) = (usage.measured, sample) {
                    usage.cpu_s = Some(end.cpu_since(&start));
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
            if let Some(dir) = hlogs {
                point.hlog = write_hlog(dir, &point, &report.intervals);
            }
            point.histograms = Some(report.histograms);
            let results = report.results;
            if let Some(cpu) = usage.cpu_s.filter(|_| results.messages > 0) {
                usage.cpu_us_per_message = Some(cpu * 1e6 / results.messages as f64);
            }
            let (server_cpus, load_cpus) = if plan.pinned() {
                (plan.server_cpus.len(), plan.load_cpus.len())
            } else {
                (cores, cores)
            };
            let share = |cpu: f64, cpus: usize| cpu / (results.measured_s * cpus as f64).max(1e-9);
            point.server_cpu_share = usage.cpu_s.map(|cpu| share(cpu, server_cpus));
            point.load_cpu_share = results.load_cpu_s.map(|cpu| share(cpu, load_cpus));
            if let (Some(server_share), Some(load_share)) =
                (point.server_cpu_share, point.load_cpu_share)
            {
                let fell_behind = results.schedule.as_ref().is_some_and(|s| s.fell_behind);
                // Unpinned, both sides share every core: together they are the machine.
                point.limited_by = Some(if plan.pinned() {
                    LimitedBy::judge(server_share, load_share, fell_behind)
                } else if server_share + load_share >= LimitedBy::BUSY {
                    LimitedBy::Both
                } else {
                    LimitedBy::judge(server_share, load_share, fell_behind)
                });
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
    if plan.pinned() {
        server_process::unpin(cores);
    }
}

/// Writes a point's interval log into `dir`; returns its path relative to
/// the results folder.
fn write_hlog(dir: &Path, point: &Point, intervals: &load::report::IntervalLog) -> Option<String> {
    let name = format!(
        "{}-{}-{}c-{}B{}-r{}.hlog",
        point.model,
        match point.mode {
            Loop::Closed => "closed",
            Loop::Open => "open",
        },
        point.connections,
        point.size,
        point.rate.map_or(String::new(), |r| format!("-{r}mps")),
        point.repetition + 1
    );
    let mut log = Vec::new();
    intervals.write(&mut log).ok()?;
    std::fs::write(dir.join(&name), log).ok()?;
    Some(format!("hlog/{name}"))
}

/// One sentence on what fell short at a point.
fn describe_shortfall(results: &load::report::Results, wanted: usize, model: &Contender) -> String {
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
    if let Some(why) = model.bounded_because() {
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
                if let Some(now) = process_stats::footprint(pid) {
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
            efficiency_rates: vec![1000.0, 2000.0],
            efficiency_conns: vec![10, 100],
            server_cpus: Vec::new(),
            load_cpus: Vec::new(),
            machine_warmup_s: 0.0,
        };
        let specs = specs(&plan);
        // 4 fixed-rate + 4 closed + 1 open, the open one already among the fixed-rate ones.
        assert_eq!(specs.len(), 8);
        assert!(
            specs[..4]
                .iter()
                .all(|s| s.mode == Loop::Open && s.size == 64)
        );
        assert_eq!(specs[4].mode, Loop::Closed);
        assert_eq!(specs[7].connections, 10);
    }

    #[test]
    fn repetitions_alternate_the_order_of_models() {
        let models: Vec<&str> = crate::models::MODELS
            .iter()
            .take(3)
            .map(|m| m.name)
            .collect();
        let names = |r| abba(&models, r).into_iter().copied().collect::<Vec<_>>();
        assert_eq!(names(0), ["blocking", "thread-per-conn", "thread-pool"]);
        assert_eq!(names(1), ["thread-pool", "thread-per-conn", "blocking"]);
        assert_eq!(names(2), names(0));
    }
}
