//! One model at one point of the matrix: its server started (pinned if the
//! plan says so), loaded, sampled from `/proc` throughout, stopped, and the
//! point's verdict given from both sides' CPU.

use std::path::Path;
use std::time::Duration;

use indicatif::MultiProgress;
use load::{Phase, Settings};
use process_stats::ProcSample;
use server_process::Stopped;

use crate::contender::Contender;
use crate::record::{KernelUse, LimitedBy, Loop, Outcome, Plan, Point, ServerUse};
use crate::sampling_priority::{at_lowest_priority, lower_this_thread};
use crate::{GRACE, Spec};

/// One model at one point: start its server, load it, sample it, stop it.
pub(crate) fn run_point(
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
        drain: load::settings::DEFAULT_DRAIN,
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
        burst: Duration::from_secs_f64(plan.burst_s),
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
        let pid = server.pid();
        phases.push((phase, at_lowest_priority(|| process_stats::sample(pid))));
    });
    let peaks = sampler.stop();
    if let (Some(before), Some(connected)) = (kernel_before, kernel_connected) {
        point.kernel = Some(KernelUse { before, connected });
    }
    // Descriptors are counted at the phases only: listing them every 100 ms
    // would take the load's CPU for milliseconds at 10,000 connections.
    usage.peak_fds = phases
        .iter()
        .filter_map(|(_, sample)| sample.map(|s| s.fds))
        .max()
        .unwrap_or(0);
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

/// Samples a process's RSS and threads every 100 ms on its own thread, at
/// the lowest priority, and keeps the peaks.
struct Sampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<ProcSample>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            lower_this_thread();
            let mut peak = ProcSample::default();
            loop {
                if let Some((rss_kib, threads)) = process_stats::rss_and_threads(pid) {
                    peak.rss_kib = peak.rss_kib.max(rss_kib);
                    peak.threads = peak.threads.max(threads);
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
