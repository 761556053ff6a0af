//! `c10k check`: PROTOCOL.md as cases, against any server. Which targets,
//! which cases, one line per case as it ends, a summary per target, the
//! files asked for.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};
use conformance::Scale;
use conformance::target::{Target, Timeouts};
use indicatif::{ProgressBar, ProgressStyle};

use crate::bad_input::bad_input;
use check::targets::{Commanded, Remote, ServedModel};
use check::{CheckReport, TargetReport, matrix};

use crate::models::{self, MODELS};
use crate::output::{out, outln};
use crate::units;

/// `c10k check`: PROTOCOL.md as cases, against any server.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// A running server to check (a loopback address: the abuse cases are abuse).
    #[arg(value_name = "HOST:PORT", required_unless_present_any = ["serve", "server", "list"], conflicts_with_all = ["serve", "server"])]
    pub(crate) target: Option<String>,

    /// Start these models, one `c10k serve` process per case with the flags
    /// the case needs: names, comma-separated, or `all`.
    #[arg(long, value_name = "MODEL,MODEL", value_delimiter = ',', value_parser = serve_names())]
    pub(crate) serve: Vec<String>,

    /// A server that is not ours, started per case like a model:
    /// NAME='COMMAND ...', with `{addr}` replaced (or `--addr 127.0.0.1:0`
    /// appended) and the flags the case needs after it. Repeatable.
    #[arg(long, value_name = "NAME='COMMAND'")]
    pub(crate) server: Vec<String>,

    /// `none`: the server at HOST:PORT, or every --server, is a plain echo
    /// server without PROTOCOL.md's hello handshake; the handshake cases do
    /// not apply, every other case runs as it is.
    #[arg(long, value_name = "MODE", default_value = "hello", value_parser = ["hello", "none"], conflicts_with = "serve")]
    pub(crate) handshake: String,

    /// The pid of the server at HOST:PORT, to check its descriptors,
    /// threads and memory through /proc.
    #[arg(long, value_name = "PID", conflicts_with = "serve")]
    pub(crate) pid: Option<u32>,

    /// The handshake timeout the server at HOST:PORT was started with
    /// (the timeout cases are checked against it).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration, conflicts_with = "serve")]
    pub(crate) handshake_timeout: Duration,

    /// The idle timeout the server at HOST:PORT was started with, if it has
    /// one [default: none, and the idle-timeout case does not apply].
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration, conflicts_with = "serve")]
    pub(crate) idle_timeout: Option<Duration>,

    /// Run only these cases, comma-separated; `protocol` names PROTOCOL.md's
    /// cases, `abuse` the abuse cases.
    #[arg(long, value_name = "CASE,CASE", value_delimiter = ',', value_parser = case_names())]
    pub(crate) only: Vec<String>,

    /// Leave out these cases (or `protocol`, `abuse`), comma-separated.
    #[arg(long, value_name = "CASE,CASE", value_delimiter = ',', value_parser = case_names())]
    pub(crate) skip: Vec<String>,

    /// `full`: the abuse cases at the counts of record (1,000 slowloris
    /// clients, 20,000 churned connections); `quick`: reduced counts.
    #[arg(long, default_value = "full", value_parser = ["quick", "full"])]
    pub(crate) preset: String,

    /// Also write every result as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<std::path::PathBuf>,

    /// Also write the targets x cases matrix as Markdown to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) markdown: Option<std::path::PathBuf>,

    /// List the cases and what each checks, then exit.
    #[arg(long)]
    pub(crate) list: bool,

    /// No progress bar.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
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

/// Every conformance case, and the two groups.
fn case_names() -> PossibleValuesParser {
    PossibleValuesParser::new(
        conformance::CASES
            .iter()
            .map(|case| PossibleValue::new(case.name).help(case.checks))
            .chain([
                PossibleValue::new(check::PROTOCOL).help("every case of PROTOCOL.md's promises"),
                PossibleValue::new(check::ABUSE).help("every abuse case"),
            ]),
    )
}

/// Runs the check; exit status 1 if any case failed.
pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let cases = check::select(&args.only, &args.skip);
    if args.list {
        for case in conformance::CASES {
            outln!("{:<32} {}", case.name, case.checks);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if cases.is_empty() {
        return Err(bad_input("--only and --skip leave no case to run"));
    }
    let scale = match args.preset.as_str() {
        "quick" => Scale::Quick,
        _ => Scale::Full,
    };
    let targets = targets(args)?;
    // A path that cannot be written fails now, not after the run.
    for path in args.json.iter().chain(&args.markdown) {
        std::fs::File::create(path)
            .map_err(|err| bad_input(format!("cannot write {}: {err}", path.display())))?;
    }
    let mut report = CheckReport::new(scale, crate::invocation::command_line());
    let bar = progress(args.quiet, targets.len() * cases.len());
    for target in &targets {
        bar.set_prefix(target.name());
        if let Err(why) = target.preflight() {
            say(&bar, &format!("{}: did not start: {why}\n", target.name()));
            bar.inc(cases.len() as u64);
            let failed = TargetReport::did_not_start(target.name(), cases.len(), why);
            report.targets.push(failed);
            continue;
        }
        say(
            &bar,
            &format!(
                "check {} ({} preset, {} cases)",
                target.name(),
                args.preset,
                cases.len()
            ),
        );
        let result = check::run(target.as_ref(), &cases, scale, |case| {
            say(&bar, &case.line());
            bar.inc(1);
        });
        say(&bar, &format!("{}: {}\n", result.target, result.summary()));
        report.targets.push(result);
    }
    bar.finish_and_clear();
    if report.targets.len() > 1 {
        out!("{}", matrix::table(&report));
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, matrix::markdown(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.all_passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The targets the command line names, in the models' tour order.
fn targets(args: &CheckArgs) -> anyhow::Result<Vec<Box<dyn Target>>> {
    if let Some(text) = &args.target {
        let addr = loopback(text)?;
        return Ok(vec![Box::new(Remote {
            addr,
            pid: args.pid,
            timeouts: Timeouts {
                handshake: args.handshake_timeout,
                idle: args.idle_timeout.filter(|idle| !idle.is_zero()),
            },
            handshake: speaks_hello(args),
        })]);
    }
    let all = args.serve.iter().any(|name| name == "all");
    let mut targets: Vec<Box<dyn Target>> = MODELS
        .iter()
        .filter(|model| all || args.serve.iter().any(|name| name == model.name))
        .map(|model| Box::new(ServedModel(model)) as Box<dyn Target>)
        .collect();
    for spec in &args.server {
        let server = models::commanded(spec, speaks_hello(args))?;
        if targets.iter().any(|target| target.name() == server.name) {
            return Err(bad_input(format!(
                "--server {} is given twice",
                server.name
            )));
        }
        targets.push(Box::new(Commanded(server)));
    }
    Ok(targets)
}

/// Whether the servers given by address or command speak the handshake.
fn speaks_hello(args: &CheckArgs) -> bool {
    args.handshake != "none"
}

/// Resolves `text` to a loopback address: slowloris and reset storms are
/// not traffic to send to a host one does not own.
fn loopback(text: &str) -> anyhow::Result<SocketAddr> {
    let addr = units::resolve(text).map_err(bad_input)?;
    if !addr.ip().is_loopback() {
        return Err(bad_input(format!(
            "c10k check sends abuse traffic, so it only checks loopback servers, not {addr}"
        )));
    }
    Ok(addr)
}

/// A bar over every case of every target, with the rate and the time left.
fn progress(quiet: bool, cases: usize) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(cases as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "  {prefix:>15} {bar:30} {pos}/{len} cases  {per_sec:1}  {elapsed_precise} elapsed, ~{eta} left",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Prints `line` above the bar; a bar not drawn (no terminal, or `--quiet`)
/// prints nothing itself.
fn say(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        outln!("{line}");
    } else {
        bar.println(line);
    }
}
