//! `c10k serve <MODEL>`: one model, one listener, until a signal.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::{PossibleValue, PossibleValuesParser};
use model::{Config, Counters, Flavor, Model, Shutdown};

use crate::bad_input::bad_input;
use crate::models::{self, MODELS};
use crate::output::outln;
use crate::signals;
use crate::units::{self, positive_bytes, positive_count};

/// `c10k serve`: the flags of PROTOCOL.md section 3, plus model-specific knobs.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The concurrency model to serve with.
    #[arg(value_parser = model_names())]
    pub(crate) model: String,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = protocol::DEFAULT_ADDR)]
    pub(crate) addr: SocketAddr,

    /// Worker threads or event loops, at most 1024 [default: the model's own].
    #[arg(long, value_name = "N")]
    pub(crate) workers: Option<NonZeroUsize>,

    /// Connections beyond this many open ones are closed at once [default:
    /// the open-file limit less a reserve].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub(crate) max_conns: Option<usize>,

    /// The handshake line must be complete this long after the connection is
    /// served (more than 0, at most a day).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub(crate) handshake_timeout: Duration,

    /// Close connections with no traffic for this long; 0 never does (at most a day).
    #[arg(long, value_name = "SECS", default_value = "0", value_parser = units::parse_duration)]
    pub(crate) idle_timeout: Duration,

    /// Most not-yet-echoed bytes held per connection (units: KiB, MiB; 64 B to 64 MiB).
    #[arg(long, value_name = "BYTES", default_value = "16KiB", value_parser = positive_bytes)]
    pub(crate) buffer: usize,

    /// After SIGINT/SIGTERM, how long open connections may still finish (at most a day).
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = units::parse_duration)]
    pub(crate) grace: Duration,

    /// Stack size of each connection's thread or coroutine (thread-per-conn,
    /// may; at most 64MiB) [default: 64KiB].
    #[arg(long, value_name = "BYTES", value_parser = positive_bytes)]
    pub(crate) stack_size: Option<usize>,

    /// Scheduler (tokio only) [default: multi-thread].
    #[arg(long, value_name = "FLAVOR", value_parser = flavor)]
    pub(crate) flavor: Option<Flavor>,

    /// Wait up to this long for more completions to come with the first,
    /// instead of waking for each (io-uring only; Linux 6.12): fewer
    /// wake-ups, more latency. At most 10ms [default: off].
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub(crate) batch_wait: Option<Duration>,
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

/// Serves until SIGINT or SIGTERM and the grace period, then prints the
/// final counters.
pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let model = models::find(&args.model).ok_or_else(|| bad_input("unknown model"))?;
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

    outln!("listening on {addr} model={}", model.name);

    (model.serve)(listener, config, shutdown, counters.clone())
        .with_context(|| format!("model {} stopped serving", model.name))?;
    let detail = counters
        .detail()
        .map(|d| format!(" {d}"))
        .unwrap_or_default();
    outln!(
        "stopped model={} {}{detail}",
        model.name,
        counters.snapshot()
    );
    Ok(ExitCode::SUCCESS)
}

/// The model's configuration from the command line.
fn config(model: &Model, args: &ServeArgs) -> anyhow::Result<Config> {
    for (flag, given) in [
        ("--stack-size", args.stack_size.is_some()),
        ("--flavor", args.flavor.is_some()),
        ("--batch-wait", args.batch_wait.is_some()),
    ] {
        if given && !model.extra_flags.contains(&flag) {
            let takers: Vec<&str> = models::MODELS
                .iter()
                .filter(|m| m.extra_flags.contains(&flag))
                .map(|m| m.name)
                .collect();
            return Err(bad_input(format!(
                "{flag} applies only to {}, not {}",
                takers.join(", "),
                model.name
            )));
        }
    }
    let defaults = Config::default();
    let config = Config {
        workers: args.workers,
        max_conns: args.max_conns.unwrap_or(defaults.max_conns),
        handshake_timeout: args.handshake_timeout,
        idle_timeout: Some(args.idle_timeout).filter(|idle| !idle.is_zero()),
        buffer: args.buffer,
        grace: args.grace,
        stack_size: args.stack_size.unwrap_or(defaults.stack_size),
        flavor: args.flavor.unwrap_or(defaults.flavor),
        batch_wait: args.batch_wait.filter(|wait| !wait.is_zero()),
    };
    config.check().map_err(bad_input)?;
    Ok(config)
}
