//! The C10k load generator behind `c10k load HOST:PORT`: many connections
//! against any echo server, ours or not, in a closed loop (each connection
//! sends its next message when the last one is back) or an open loop (a
//! schedule of sends, latency measured from the scheduled time), with every
//! echo checked byte for byte.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! let settings = load::Settings {
//!     target: "127.0.0.1:7000".parse().unwrap(),
//!     handshake: true,
//!     connections: 100,
//!     connect_rate: None,
//!     connect_timeout: Duration::from_secs(5),
//!     warmup: Duration::from_secs(1),
//!     duration: Duration::from_secs(10),
//!     drain: load::settings::DEFAULT_DRAIN,
//!     hold: Duration::ZERO,
//!     size: 64,
//!     threads: 2,
//!     rate: None,
//!     burst: load::settings::DEFAULT_BURST,
//!     source_addrs: Vec::new(),
//!     segment: load::settings::Segment::WHOLE,
//!     start_at: None,
//! };
//! let report = load::run(settings, None)?;
//! print!("{}", report.table());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Implementation
//!
//! The coordinating thread starts `threads` load threads ([`engine`]), each
//! a mio event loop over its share of the connections, walks the run
//! through its phases (ramp, warm-up, measurement, stop) on the shared
//! [`control`], draws the progress bar, and merges what the threads measured
//! into a [`Report`]. It never reports a figure it did not measure: a run in
//! which connections fail still finishes and says what failed, by kind.
//!
//! This crate links no server model and no async runtime: it builds and
//! tests on its own, and the harness depends on it, never the reverse.

pub mod agents;
mod control;
mod engine;
mod kernel_timestamps;
pub mod limits;
pub mod machine;
pub mod message;
pub mod report;
mod send_clock;
mod send_order;
pub mod settings;
mod socket_wait;

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use control::Control;
pub use control::Phase;
use engine::{ThreadReport, Worker, latency_histogram};
pub use report::Report;
use report::{
    EncodedHistograms, Errors, Fairness, IntervalLog, Latencies, PerConnection, Results, Schedule,
    Summary, jain_index,
};
pub use settings::Settings;

/// Runs the load described by `settings` and returns what it measured.
/// With `progress`, its bar is drawn there.
pub fn run(settings: Settings, progress: Option<&MultiProgress>) -> io::Result<Report> {
    run_observed(settings, progress, &mut |_| {})
}

/// Like [`run`], calling `observe(phase)` just before the run enters each
/// phase after the ramp (for example to sample the server's resources).
pub fn run_observed(
    settings: Settings,
    progress: Option<&MultiProgress>,
    observe: &mut dyn FnMut(Phase),
) -> io::Result<Report> {
    let control = Control::default();
    let ramp_start = Instant::now();
    let workers = (0..settings.threads)
        .map(|index| Worker::new(index, &settings, &control, ramp_start))
        .collect::<io::Result<Vec<_>>>()?;
    let progress = Progress::new(progress, &settings);
    let (reports, window) = std::thread::scope(|scope| -> io::Result<_> {
        let handles = workers
            .into_iter()
            .enumerate()
            .map(|(i, worker)| {
                std::thread::Builder::new()
                    .name(format!("load-{i}"))
                    .spawn_scoped(scope, move || worker.run())
            })
            .collect::<io::Result<Vec<_>>>();
        let handles = match handles {
            Ok(handles) => handles,
            Err(err) => {
                control.enter(Phase::Stop, Instant::now());
                return Err(err);
            }
        };
        let measured = coordinate(&settings, &control, &progress, ramp_start, observe);
        let mut reports = Vec::with_capacity(handles.len());
        for handle in handles {
            let report = handle
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a load thread panicked")))?;
            reports.push(report);
        }
        Ok((reports, measured?))
    })?;
    progress.finish();
    Ok(merge(settings, reports, window))
}

/// The measured window as the coordinator saw it.
struct MeasuredWindow {
    /// Its length.
    length: Duration,
    /// When it began, by the wall clock (the interval log's StartTime).
    began: SystemTime,
    /// CPU seconds this process used during it.
    cpu: Option<f64>,
    /// Voluntary context switches of this process's threads during it.
    switches: Option<u64>,
}

/// Walks the run through its phases; returns the measured window.
fn coordinate(
    settings: &Settings,
    control: &Control,
    progress: &Progress,
    ramp_start: Instant,
    observe: &mut dyn FnMut(Phase),
) -> io::Result<MeasuredWindow> {
    let ramp_limit = ramp_start
        + settings.connect_rate.map_or(Duration::ZERO, |rate| {
            Duration::from_secs_f64(settings.connections as f64 / rate)
        })
        + 2 * settings.connect_timeout
        + Duration::from_secs(1);
    // With --start-at, the ramp must end by then.
    let before_start = || settings.start_at.is_none_or(|at| SystemTime::now() < at);
    while control.ramped.load(Ordering::Acquire) < settings.threads
        && Instant::now() < ramp_limit
        && before_start()
    {
        progress.ramp(control);
        std::thread::sleep(Duration::from_millis(50));
    }
    let traffic_start = match settings.start_at {
        None => Instant::now(),
        Some(at) => match wait_for_start(settings, control, at) {
            Ok(start) => start,
            Err(err) => {
                control.enter(Phase::Stop, Instant::now());
                return Err(err);
            }
        },
    };
    observe(Phase::Warmup);
    control.enter(Phase::Warmup, traffic_start);
    while traffic_start.elapsed() < settings.warmup {
        progress.traffic(control, traffic_start, settings, false);
        std::thread::sleep(Duration::from_millis(50).min(settings.warmup));
    }
    observe(Phase::Measure);
    let measure_start = Instant::now();
    let began = SystemTime::now();
    let cpu_start = process_stats::cpu_run_seconds(std::process::id())
        .or_else(|| process_stats::cpu_seconds(std::process::id()));
    let switches_start = process_stats::context_switches(std::process::id());
    control.enter(Phase::Measure, measure_start);
    while measure_start.elapsed() < settings.duration {
        progress.traffic(control, measure_start, settings, true);
        let left = settings.duration.saturating_sub(measure_start.elapsed());
        std::thread::sleep(Duration::from_millis(100).min(left));
    }
    observe(Phase::Drain);
    let measure_end = Instant::now();
    control.enter(Phase::Drain, measure_end);
    let cpu = process_stats::cpu_run_seconds(std::process::id())
        .or_else(|| process_stats::cpu_seconds(std::process::id()))
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    let switches = process_stats::context_switches(std::process::id())
        .zip(switches_start)
        .map(|((end, _), (start, _))| end.saturating_sub(start));
    while control.in_flight.load(Ordering::Relaxed) > 0 && measure_end.elapsed() < settings.drain {
        std::thread::sleep(Duration::from_millis(2));
    }
    observe(Phase::Hold);
    control.enter(Phase::Hold, Instant::now());
    if !settings.hold.is_zero() {
        progress.hold(control);
        std::thread::sleep(settings.hold);
    }
    observe(Phase::Stop);
    control.enter(Phase::Stop, Instant::now());
    Ok(MeasuredWindow {
        length: measure_end - measure_start,
        began,
        cpu,
        switches,
    })
}

/// `--start-at`: waits, with every connection ready, until the wall clock
/// reads `at`, and returns that moment on the monotonic clock (warm-up and
/// the open-loop schedule count from it). An agent whose connections are
/// not all ready by then fails instead: it would measure another window
/// than the other agents.
fn wait_for_start(settings: &Settings, control: &Control, at: SystemTime) -> io::Result<Instant> {
    let ready = control.ramped.load(Ordering::Acquire);
    let late = SystemTime::now().duration_since(at).ok();
    if ready < settings.threads || late.is_some() {
        return Err(io::Error::other(format!(
            "not ready by --start-at: {} (connections of {} of {} load threads ready)",
            late.map_or_else(
                || "the ramp did not finish".to_string(),
                |late| format!("ready {:.3} s late", late.as_secs_f64())
            ),
            ready,
            settings.threads
        )));
    }
    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
    let start = Instant::now() + wait;
    std::thread::sleep(start.saturating_duration_since(Instant::now()));
    Ok(start)
}

fn merge(settings: Settings, reports: Vec<ThreadReport>, window: MeasuredWindow) -> Report {
    let (measured, cpu) = (window.length, window.cpu);
    let mut connect = latency_histogram();
    let mut handshake = latency_histogram();
    let mut echo = latency_histogram();
    let mut echo_uncorrected = latency_histogram();
    let mut echo_user = latency_histogram();
    let mut echo_timing = Vec::new();
    let mut send_lag = latency_histogram();
    let mut wake_lateness = latency_histogram();
    let mut intervals = IntervalLog::new(window.began);
    let mut errors = Errors::default();
    let mut per_connection = Vec::new();
    let (mut messages, mut established, mut ready) = (0, 0, 0);
    let (mut drained, mut unfinished, mut sends) = (0, 0, 0);
    let mut first_connect: Option<Instant> = None;
    let mut last_ready: Option<Instant> = None;
    for report in reports {
        // Same bounds everywhere, so adding cannot fail.
        let _ = connect.add(&report.connect);
        let _ = handshake.add(&report.handshake);
        let _ = echo.add(&report.echo);
        let _ = echo_uncorrected.add(&report.echo_uncorrected);
        let _ = echo_user.add(&report.echo_user);
        echo_timing.push(report.echo_timing);
        let _ = send_lag.add(&report.send_lag);
        let _ = wake_lateness.add(&report.wake_lateness);
        intervals.add(report.intervals);
        drained += report.drained;
        unfinished += report.unfinished;
        sends += report.sends;
        errors.merge(&report.errors);
        per_connection.extend(report.per_connection);
        messages += report.messages;
        established += report.connected;
        ready += report.ready;
        first_connect = match (first_connect, report.first_connect) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last_ready = last_ready.max(report.last_ready);
    }
    let seconds = measured.as_secs_f64().max(f64::EPSILON);
    let slowest = per_connection.iter().min().map(|&min| min as f64 / seconds);
    let messages_per_s = messages as f64 / seconds;
    // Closed loop: every ready connection has one message out all the time,
    // so rate x mean latency should equal the connections (Little's law).
    // Each message is out until the thread reads its echo: the read time.
    let littles_law = report::littles_law(&settings, messages_per_s, &echo_user, ready);
    let schedule = settings.rate.map(|requested| {
        // The whole run's schedule, of which this agent's ready connections
        // carry their share.
        let scheduled = requested * ready as f64 / settings.connections.max(1) as f64;
        Schedule::check(requested, scheduled, sends as f64 / seconds, &send_lag)
            .with_wake_lateness(Some(&wake_lateness))
    });
    let results = Results {
        connections_requested: settings.own_connections(),
        connections_established: established,
        connections_ready: ready,
        ramp_s: first_connect
            .zip(last_ready)
            .map(|(first, last)| last.saturating_duration_since(first).as_secs_f64()),
        measured_s: measured.as_secs_f64(),
        messages,
        messages_per_s,
        drained,
        unfinished,
        littles_law,
        schedule,
        echo_timing: echo_timing.into_iter().sum(),
        p99_by_second_us: intervals.p99_by_second_us(),
        load_cpu_s: cpu,
        load_cpu_us_per_message: report::per_message(cpu.map(|cpu| cpu * 1e6), messages),
        load_voluntary_switches: window.switches,
        load_voluntary_switches_per_message: report::per_message(
            window.switches.map(|switches| switches as f64),
            messages,
        ),
        megabytes_per_s: (messages as f64 * settings.size as f64) / seconds / 1e6,
        latency: Latencies {
            connect: Summary::of(&connect),
            handshake: Summary::of(&handshake),
            echo: Summary::of(&echo),
            echo_uncorrected: Summary::of(&echo_uncorrected),
            echo_user: Summary::of(&echo_user),
        },
        fairness: Fairness {
            jain_index: jain_index(&per_connection),
            slowest_connection_msgs_per_s: slowest,
            per_connection: Some(PerConnection::of(&per_connection)),
        },
        errors,
    };
    let clock = settings.start_at.map(|_| machine::clock());
    let histograms = EncodedHistograms::encode(
        [&connect, &handshake, &echo, &echo_uncorrected],
        Some(&echo_user),
        settings.rate.map(|_| &send_lag),
    )
    .with_wake_lateness(settings.rate.map(|_| &wake_lateness));
    Report {
        c10k_version: machine::VERSION,
        git_revision: machine::GIT_REVISION,
        machine: machine::describe(),
        settings,
        results,
        histograms,
        clock,
        intervals,
    }
}

/// The progress bar: connections during the ramp, then time with the message rate.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(parent: Option<&MultiProgress>, settings: &Settings) -> Progress {
        let bar = match parent {
            Some(parent) => parent.add(ProgressBar::new(settings.own_connections() as u64)),
            None => ProgressBar::hidden(),
        };
        bar.set_style(
            ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix("ramp");
        Progress { bar }
    }

    fn ramp(&self, control: &Control) {
        self.bar
            .set_position(control.ready.load(Ordering::Relaxed) as u64);
        self.bar.set_message(format!(
            "connections ready, {} errors",
            control.errors.load(Ordering::Relaxed)
        ));
    }

    fn traffic(&self, control: &Control, since: Instant, settings: &Settings, measuring: bool) {
        let (total, prefix) = if measuring {
            (settings.duration, "measure")
        } else {
            (settings.warmup, "warm-up")
        };
        if self.bar.prefix() != prefix {
            self.bar.set_prefix(prefix);
            self.bar.set_length(total.as_millis() as u64);
            self.bar.set_position(0);
            self.bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>8} [{bar:30}] {elapsed_precise} ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
        let elapsed = since.elapsed();
        self.bar.set_position(elapsed.as_millis() as u64);
        let messages = control.messages.load(Ordering::Relaxed);
        let rate = if measuring {
            format!(
                "{:.0} msg/s, ",
                messages as f64 / elapsed.as_secs_f64().max(1e-3)
            )
        } else {
            String::new()
        };
        self.bar.set_message(format!(
            "{} open, {rate}{} errors",
            control.ready.load(Ordering::Relaxed),
            control.errors.load(Ordering::Relaxed)
        ));
    }

    fn hold(&self, control: &Control) {
        self.bar.set_prefix("hold");
        self.bar.set_message(format!(
            "{} idle connections open",
            control.ready.load(Ordering::Relaxed)
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
