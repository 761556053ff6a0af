//! `c10k load HOST:PORT`: the load generator (the `load` crate) from the
//! command line: resolving the target, the pre-flight checks, the report
//! table and the JSON record.

use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;
use load::settings::{Segment, parse_source_addrs};
use load::{Report, Settings, limits};

use crate::bad_input::bad_input;
use crate::output::{errln, out};
use crate::units::{self, positive_bytes, positive_count, positive_rate};

/// `c10k load`: load against a running server, ours or anyone's.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// The server to load (traffic goes to this address only).
    #[arg(value_name = "HOST:PORT")]
    pub(crate) target: String,

    /// `hello` for PROTOCOL.md servers, `none` for plain echo servers.
    #[arg(long, value_name = "MODE", default_value = "hello", value_parser = ["hello", "none"])]
    pub(crate) handshake: String,

    /// Connections to open (units: 10k).
    #[arg(short = 'c', long, value_name = "N", default_value = "100", value_parser = positive_count)]
    pub(crate) connections: usize,

    /// New connections per second during the ramp [default: all at once].
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub(crate) connect_rate: Option<f64>,

    /// Limit on connecting, then on the handshake, per connection.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub(crate) connect_timeout: Duration,

    /// How long to measure.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "10", value_parser = units::parse_duration)]
    pub(crate) duration: Duration,

    /// Traffic before measuring, not counted.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = units::parse_duration)]
    pub(crate) warmup: Duration,

    /// After measuring, wait at most this long for echoes still in flight
    /// (more for a slow link); those not back count as unfinished.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = units::parse_duration)]
    pub(crate) drain: Duration,

    /// After measuring, keep the connections open and idle this long.
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = units::parse_duration)]
    pub(crate) hold: Duration,

    /// Bytes per message (units: KiB).
    #[arg(short = 's', long, value_name = "BYTES", default_value = "64", value_parser = positive_bytes)]
    pub(crate) size: usize,

    /// Load threads [default: cores].
    #[arg(short = 't', long, value_name = "N")]
    pub(crate) threads: Option<NonZeroUsize>,

    /// Open loop: messages per second in total, on a schedule, with latency
    /// measured from the scheduled time [default: closed loop].
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub(crate) rate: Option<f64>,

    /// Open loop: the sends that fall due within this long after the one
    /// the load woke for go out with it, each timed from when it went; 0:
    /// every send waits for its own time (more wake-ups, exact spacing).
    #[arg(long, value_name = "SECS", default_value = "200us", value_parser = units::burst)]
    pub(crate) burst: Duration,

    /// Run as agent K of N (K from 0): this agent's share of the connections
    /// and of the open-loop schedule; -c, --rate and --connect-rate stay the
    /// whole run's, so N agents together make the run one agent would.
    #[arg(long, value_name = "K/N", default_value = "0/1")]
    pub(crate) segment: Segment,

    /// Connect and handshake first, then start warm-up at this wall-clock
    /// time (RFC 3339, or Unix seconds), the same on every agent; an agent
    /// not ready by then fails.
    #[arg(long, value_name = "TIME", value_parser = units::parse_time)]
    pub(crate) start_at: Option<SystemTime>,

    /// Connect from these local addresses in turn: 127.0.0.1-127.0.0.8 or a,b,c.
    #[arg(long, value_name = "ADDRS")]
    pub(crate) source_addrs: Option<String>,

    /// Also write the full record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<std::path::PathBuf>,

    /// Also write the echo latency as an HdrHistogram interval log to FILE:
    /// one interval per second, tagged corrected and uncorrected.
    #[arg(long, value_name = "FILE")]
    pub(crate) hlog: Option<std::path::PathBuf>,

    /// No progress bar.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// The settings a command line asks for.
fn settings(args: &LoadArgs) -> anyhow::Result<Settings> {
    let target = units::resolve(&args.target).map_err(bad_input)?;
    let source_addrs = match &args.source_addrs {
        None => Vec::new(),
        Some(text) => parse_source_addrs(text).map_err(bad_input)?,
    };
    if args.duration.is_zero() {
        return Err(bad_input("--duration must be more than 0"));
    }
    let own = args.segment.share(args.connections);
    if own == 0 {
        return Err(bad_input(format!(
            "--segment {} leaves this agent none of the {} connections",
            args.segment, args.connections
        )));
    }
    Ok(Settings {
        target,
        handshake: args.handshake == "hello",
        connections: args.connections,
        connect_rate: args.connect_rate,
        connect_timeout: args.connect_timeout,
        warmup: args.warmup,
        duration: args.duration,
        drain: args.drain,
        hold: args.hold,
        size: args.size,
        threads: args
            .threads
            .map_or_else(load::machine::cores, |n| n.get())
            .min(own),
        rate: args.rate,
        burst: args.burst,
        source_addrs,
        segment: args.segment,
        start_at: args.start_at,
    })
}

/// Runs `c10k load`: exit status 1 if nothing was measured or an echo was wrong.
pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let report = measure(settings(args)?, args)?;
    out!("{}", report.table());
    let results = &report.results;
    if results.errors.mismatch > 0 {
        anyhow::bail!(
            "integrity check failed: {} echoes differed from what was sent",
            results.errors.mismatch
        );
    }
    if results.messages == 0 {
        let errors = results.errors.total();
        anyhow::bail!("nothing was measured ({errors} connection errors; see above)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the limits, runs the load, and writes `--json` if asked.
fn measure(settings: Settings, args: &LoadArgs) -> anyhow::Result<Report> {
    for warning in limits::check(&settings).map_err(bad_input)? {
        errln!("c10k: warning: {warning}");
    }
    let progress = (!args.quiet).then(indicatif::MultiProgress::new);
    let report = load::run(settings, progress.as_ref()).context("the load run failed")?;
    write_record(&report, args.json.as_deref(), args.hlog.as_deref())?;
    Ok(report)
}

/// Writes a report's JSON record and its interval log where asked: what
/// `c10k load` and `c10k merge` write alike.
pub(crate) fn write_record(
    report: &Report,
    json: Option<&std::path::Path>,
    hlog: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if let Some(path) = json {
        let json = serde_json::to_string_pretty(report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = hlog {
        let mut log = Vec::new();
        report.intervals.write(&mut log)?;
        std::fs::write(path, log).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
