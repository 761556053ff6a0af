//! The command line, and the one-line errors it gives when it is wrong.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser};
use clap::{Args, Parser, Subcommand};
use model::Flavor;

use crate::models::MODELS;
use crate::units;

/// Concurrency models side by side on one echo protocol, under C10k load.
#[derive(Debug, Parser)]
#[command(name = "c10k", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the echo+handshake protocol with one concurrency model.
    Serve(ServeArgs),
    /// Drive C10k-style load against any echo server and measure it.
    Load(LoadArgs),
    /// Measure every model across a matrix of loads; write results and plots.
    Bench(BenchArgs),
    /// Redraw the plots of a bench run from its results.json.
    Plot(PlotArgs),
    /// Run the conformance and abuse cases against a server; exit 1 if any fails.
    Check(CheckArgs),
}

/// `c10k check`: PROTOCOL.md as cases, against any server.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A running server to check (a loopback address: the abuse cases are abuse).
    #[arg(value_name = "HOST:PORT", required_unless_present_any = ["serve", "list"], conflicts_with = "serve")]
    pub target: Option<String>,

    /// Start these models, one `c10k serve` process per case with the flags
    /// the case needs: names, comma-separated, or `all`.
    #[arg(long, value_name = "MODEL,MODEL", value_delimiter = ',', value_parser = serve_names())]
    pub serve: Vec<String>,

    /// The pid of the server at HOST:PORT, to check its descriptors,
    /// threads and memory through /proc.
    #[arg(long, value_name = "PID", conflicts_with = "serve")]
    pub pid: Option<u32>,

    /// The handshake timeout the server at HOST:PORT was started with
    /// (the timeout cases are checked against it).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration, conflicts_with = "serve")]
    pub handshake_timeout: Duration,

    /// The idle timeout the server at HOST:PORT was started with, if it has
    /// one [default: none, and the idle-timeout case does not apply].
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration, conflicts_with = "serve")]
    pub idle_timeout: Option<Duration>,

    /// Run only these cases, comma-separated.
    #[arg(long, value_name = "CASE,CASE", value_delimiter = ',', value_parser = case_names())]
    pub only: Vec<String>,

    /// Leave out these cases, comma-separated.
    #[arg(long, value_name = "CASE,CASE", value_delimiter = ',', value_parser = case_names())]
    pub skip: Vec<String>,

    /// `full`: the abuse cases at the counts of record (1,000 slowloris
    /// clients, 20,000 churned connections); `quick`: reduced counts.
    #[arg(long, default_value = "full", value_parser = ["quick", "full"])]
    pub preset: String,

    /// Also write every result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,

    /// Also write the targets x cases matrix as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<std::path::PathBuf>,

    /// List the cases and what each checks, then exit.
    #[arg(long)]
    pub list: bool,

    /// No progress bar.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// Every model, and `all`.
fn serve_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        MODELS
            .iter()
            .map(|model| PossibleValue::new(model.name))
            .chain([PossibleValue::new("all").help("every model")]),
    )
}

/// Every conformance case.
fn case_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        conformance::CASES
            .iter()
            .map(|case| PossibleValue::new(case.name).help(case.checks)),
    )
}

/// `c10k bench`: the model matrix.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// `quick` (a few minutes on two cores) or `full` (the committed run).
    #[arg(long, default_value = "quick", value_parser = ["quick", "full"])]
    pub preset: String,

    /// Models to run, comma-separated [default: all].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub models: Vec<String>,

    /// Connection counts, closed loop [default: the preset's].
    #[arg(long, value_name = "N,N", value_delimiter = ',', value_parser = positive_count)]
    pub conns: Vec<usize>,

    /// Message sizes in bytes [default: the preset's].
    #[arg(long, value_name = "B,B", value_delimiter = ',', value_parser = positive_bytes)]
    pub sizes: Vec<usize>,

    /// Offered rates for the open-loop latency series [default: the preset's].
    #[arg(long, value_name = "R,R", value_delimiter = ',', value_parser = positive_rate)]
    pub rates: Vec<f64>,

    /// Connections for the open-loop series.
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub rate_conns: Option<usize>,

    /// Measured seconds per point.
    #[arg(short = 'd', long, value_name = "SECS", value_parser = units::parse_duration)]
    pub duration: Option<Duration>,

    /// Unmeasured traffic before each point.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub warmup: Option<Duration>,

    /// Idle hold after the largest point, for memory per idle connection.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub hold: Option<Duration>,

    /// Per-connection limit on connecting and on the handshake.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub connect_timeout: Option<Duration>,

    /// Runs of every point; tables and plots show the median.
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub repeat: Option<usize>,

    /// Server on CPU 0, load on CPU 1, so that models get equal CPU.
    #[arg(long)]
    pub pin: bool,

    /// Output folder [default: results/<date>-<host>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,

    /// No progress bars.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

/// `c10k plot DIR`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// A folder written by `c10k bench` (it must hold results.json).
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
}

/// `c10k load`: load against a running server, ours or anyone's.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The server to load (traffic goes to this address only).
    #[arg(value_name = "HOST:PORT")]
    pub target: String,

    /// `hello` for PROTOCOL.md servers, `none` for plain echo servers.
    #[arg(long, value_name = "MODE", default_value = "hello", value_parser = ["hello", "none"])]
    pub handshake: String,

    /// Connections to open (units: 10k).
    #[arg(short = 'c', long, value_name = "N", default_value = "100", value_parser = positive_count)]
    pub connections: usize,

    /// New connections per second during the ramp [default: all at once].
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub connect_rate: Option<f64>,

    /// Limit on connecting, then on the handshake, per connection.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub connect_timeout: Duration,

    /// How long to measure.
    #[arg(short = 'd', long, value_name = "SECS", default_value = "10", value_parser = units::parse_duration)]
    pub duration: Duration,

    /// Traffic before measuring, not counted.
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = units::parse_duration)]
    pub warmup: Duration,

    /// After measuring, keep the connections open and idle this long.
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = units::parse_duration)]
    pub hold: Duration,

    /// Bytes per message (units: KiB).
    #[arg(short = 's', long, value_name = "BYTES", default_value = "64", value_parser = positive_bytes)]
    pub size: usize,

    /// Load threads [default: cores].
    #[arg(short = 't', long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Open loop: messages per second in total, on a schedule, with latency
    /// measured from the scheduled time [default: closed loop].
    #[arg(long, value_name = "R", value_parser = positive_rate)]
    pub rate: Option<f64>,

    /// Connect from these local addresses in turn: 127.0.0.1-127.0.0.8 or a,b,c.
    #[arg(long, value_name = "ADDRS")]
    pub source_addrs: Option<String>,

    /// Also write the full record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,

    /// No progress bar.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    let (number, multiplier) = match text.strip_suffix(['k', 'K']) {
        Some(number) => (number, 1e3),
        None => (text, 1.0),
    };
    match number.parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate * multiplier),
        _ => Err(format!("'{text}' is not a positive rate")),
    }
}

/// `c10k serve`: the flags of PROTOCOL.md section 3, plus model-specific knobs.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The concurrency model to serve with.
    #[arg(value_parser = model_names())]
    pub model: String,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = protocol::DEFAULT_ADDR)]
    pub addr: SocketAddr,

    /// Worker threads or event loops [default: the model's own].
    #[arg(long, value_name = "N")]
    pub workers: Option<NonZeroUsize>,

    /// Connections beyond this many open ones are closed at once [default:
    /// the open-file limit less a reserve].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub max_conns: Option<usize>,

    /// The handshake line must be complete this long after the connection is served.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub handshake_timeout: Duration,

    /// Close connections with no traffic for this long; 0 never does.
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = units::parse_duration)]
    pub idle_timeout: Duration,

    /// Most not-yet-echoed bytes held per connection (units: KiB, MiB).
    #[arg(long, value_name = "BYTES", default_value = "16KiB", value_parser = positive_bytes)]
    pub buffer: usize,

    /// After SIGINT/SIGTERM, how long open connections may still finish.
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub grace: Duration,

    /// Stack size of each connection thread (thread-per-conn only) [default: 64KiB].
    #[arg(long, value_name = "BYTES", value_parser = positive_bytes)]
    pub stack_size: Option<usize>,

    /// Scheduler (tokio only) [default: multi-thread].
    #[arg(long, value_name = "FLAVOR", value_parser = flavor)]
    pub flavor: Option<Flavor>,
}

fn flavor(text: &str) -> Result<Flavor, String> {
    [Flavor::MultiThread, Flavor::CurrentThread]
        .into_iter()
        .find(|flavor| flavor.as_str() == text)
        .ok_or_else(|| "expected multi-thread or current-thread".to_string())
}

/// Every model, with its summary shown by `--help`.
fn model_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        MODELS
            .iter()
            .map(|model| PossibleValue::new(model.name).help(model.summary)),
    )
}

fn positive_count(text: &str) -> Result<usize, String> {
    match units::parse_count(text)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn positive_bytes(text: &str) -> Result<usize, String> {
    match units::parse_bytes(text)? {
        0 => Err("must be at least 1 byte".into()),
        n => Ok(n),
    }
}

/// Squeezes a clap error into one line: its message and any hint that
/// follows it, without the usage block.
pub fn one_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_fit_on_one_line() {
        for argv in [
            &["c10k", "serve", "nosuchmodel"][..],
            &["c10k", "serve", "blocking", "--workers", "many"],
            &["c10k", "serve", "blocking", "--bogus"],
            &["c10k", "serve"],
        ] {
            let error = Cli::try_parse_from(argv).unwrap_err();
            let line = one_line(&error);
            assert!(!line.is_empty() && !line.contains('\n'), "{argv:?}: {line}");
        }
        for argv in [
            &["c10k", "check"][..],
            &["c10k", "check", "127.0.0.1:1", "--serve", "tokio"],
            &["c10k", "check", "--serve", "nosuchmodel"],
            &["c10k", "check", "--serve", "tokio", "--only", "nosuchcase"],
            &["c10k", "check", "--serve", "tokio", "--pid", "1"],
        ] {
            let error = Cli::try_parse_from(argv).unwrap_err();
            let line = one_line(&error);
            assert!(!line.is_empty() && !line.contains('\n'), "{argv:?}: {line}");
        }
        let error = Cli::try_parse_from(["c10k", "serve", "nosuchmodel"]).unwrap_err();
        assert!(one_line(&error).contains("possible values: blocking"));
    }
}
