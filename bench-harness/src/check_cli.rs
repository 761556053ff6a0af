//! From `c10k check`'s command line to a run: which targets, which cases,
//! one line per case as it ends, a summary per target, the files asked for.

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{Context, bail};
use conformance::Scale;
use conformance::target::{Target, Timeouts};
use indicatif::{ProgressBar, ProgressStyle};

use crate::check::targets::{Remote, ServedModel};
use crate::check::{self, CheckReport, matrix};
use crate::cli::CheckArgs;
use crate::models::MODELS;

/// Runs the check; `Ok(false)` if any case failed.
pub fn run(args: &CheckArgs) -> anyhow::Result<bool> {
    let cases = check::select(&args.only, &args.skip);
    if args.list {
        for case in conformance::CASES {
            println!("{:<32} {}", case.name, case.checks);
        }
        return Ok(true);
    }
    if cases.is_empty() {
        bail!("--only and --skip leave no case to run");
    }
    let scale = match args.preset.as_str() {
        "quick" => Scale::Quick,
        _ => Scale::Full,
    };
    let targets = targets(args)?;
    // A path that cannot be written fails now, not after the run.
    for path in args.json.iter().chain(&args.markdown) {
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut report = CheckReport::new(scale);
    let bar = progress(args.quiet, targets.len() * cases.len());
    for target in &targets {
        bar.set_prefix(target.name());
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
        print!("{}", matrix::table(&report));
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
    Ok(report.all_passed())
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
        })]);
    }
    let all = args.serve.iter().any(|name| name == "all");
    Ok(MODELS
        .iter()
        .filter(|model| all || args.serve.iter().any(|name| name == model.name))
        .map(|model| Box::new(ServedModel(model)) as Box<dyn Target>)
        .collect())
}

/// Resolves `text` to a loopback address: slowloris and reset storms are
/// not traffic to send to a host one does not own.
fn loopback(text: &str) -> anyhow::Result<SocketAddr> {
    let addr = text
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {text}"))?
        .next()
        .with_context(|| format!("{text} resolves to no address"))?;
    if !addr.ip().is_loopback() {
        bail!("c10k check sends abuse traffic, so it only checks loopback servers, not {addr}");
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
        println!("{line}");
    } else {
        bar.println(line);
    }
}
