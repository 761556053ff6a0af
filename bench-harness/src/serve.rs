//! `c10k serve <MODEL>`: one model, one listener, until a signal.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};
use model::{Config, Counters, Model, Shutdown, Stats};

use crate::cli::ServeArgs;
use crate::{models, signals};

/// Serves until SIGINT or SIGTERM and the grace period; returns the final counters.
pub fn run(args: &ServeArgs) -> anyhow::Result<Stats> {
    let model = models::find(&args.model).context("unknown model")?;
    (model.available)().map_err(anyhow::Error::msg)?;
    // A server for thousands of connections needs the descriptors the hard
    // limit allows; the soft limit is often 1024.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let config = config(model, args)?;
    let listener = model::listener::bind(args.addr)
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let shutdown = Shutdown::new();
    signals::trigger_on_signals(shutdown.clone()).context("cannot install signal handlers")?;
    let counters = Arc::new(Counters::default());

    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {addr} model={}", model.name)?;
    stdout.flush()?;

    (model.serve)(listener, config, shutdown, counters.clone())
        .with_context(|| format!("model {} stopped serving", model.name))?;
    Ok(counters.snapshot())
}

/// The model's configuration from the command line.
pub fn config(model: &Model, args: &ServeArgs) -> anyhow::Result<Config> {
    for (flag, given) in [
        ("--stack-size", args.stack_size.is_some()),
        ("--flavor", args.flavor.is_some()),
    ] {
        if given && !model.extra_flags.contains(&flag) {
            let takers: Vec<&str> = models::MODELS
                .iter()
                .filter(|m| m.extra_flags.contains(&flag))
                .map(|m| m.name)
                .collect();
            bail!(
                "{flag} applies only to {}, not {}",
                takers.join(", "),
                model.name
            );
        }
    }
    let defaults = Config::default();
    Ok(Config {
        workers: args.workers,
        max_conns: args.max_conns.unwrap_or(defaults.max_conns),
        handshake_timeout: args.handshake_timeout,
        idle_timeout: Some(args.idle_timeout).filter(|idle| !idle.is_zero()),
        buffer: args.buffer,
        grace: args.grace,
        stack_size: args.stack_size.unwrap_or(defaults.stack_size),
        flavor: args.flavor.unwrap_or(defaults.flavor),
    })
}
