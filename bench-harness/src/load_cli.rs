//! From `c10k load`'s command line to a run: resolving the target, the
//! pre-flight checks, and writing the JSON record.

use std::net::ToSocketAddrs;

use anyhow::{Context, bail};

use crate::cli::LoadArgs;
use crate::load::{self, Report, Settings, limits, settings::parse_source_addrs};

/// The settings a command line asks for.
pub fn settings(args: &LoadArgs) -> anyhow::Result<Settings> {
    let target = args
        .target
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {}", args.target))?
        .next()
        .with_context(|| format!("{} resolves to no address", args.target))?;
    let source_addrs = match &args.source_addrs {
        None => Vec::new(),
        Some(text) => parse_source_addrs(text).map_err(anyhow::Error::msg)?,
    };
    if args.duration.is_zero() {
        bail!("--duration must be more than 0");
    }
    Ok(Settings {
        target,
        handshake: args.handshake == "hello",
        connections: args.connections,
        connect_rate: args.connect_rate,
        connect_timeout: args.connect_timeout,
        warmup: args.warmup,
        duration: args.duration,
        hold: args.hold,
        size: args.size,
        threads: args
            .threads
            .map_or_else(model::config::cores, |n| n.get())
            .min(args.connections),
        rate: args.rate,
        source_addrs,
    })
}

/// Checks the limits, runs the load, and writes `--json` if asked.
pub fn run(settings: Settings, args: &LoadArgs) -> anyhow::Result<Report> {
    for warning in limits::check(&settings).map_err(anyhow::Error::msg)? {
        eprintln!("c10k: warning: {warning}");
    }
    let progress = (!args.quiet).then(indicatif::MultiProgress::new);
    let report = load::run(settings, progress.as_ref()).context("the load run failed")?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(report)
}
