//! The harness behind the `c10k` binary: the list of models and the
//! subcommands, as a library so that the binary stays thin and benchmarks
//! use the same model list.
//!
//! ```text
//! c10k serve <MODEL> [--addr HOST:PORT] [--workers N] [--max-conns N] ...
//! c10k load HOST:PORT [-c N] [-d SECS] [-s BYTES] [--rate R] [--json FILE] ...
//! c10k merge AGENT.json... [--json FILE]
//! c10k bench [--preset quick|full] [--models A,B] [--pin] [--out DIR] ...
//! c10k check HOST:PORT | --serve MODEL,... [--only CASES] [--json FILE] ...
//! c10k plot DIR
//! ```
//!
//! Each subcommand is one file of `commands/`, its flags beside its `run`;
//! each is a thin layer over a library crate: `load` (the load generator),
//! `bench` (the matrix runner and its record), `bench-views` (the views
//! drawn from that record), `check` (the conformance suite pointed at any
//! server) and `server-process` (the child processes the last three start).
//! What stays here is what only a command line needs: flag parsing and
//! units, the exit-status policy, the signal handler and the model list.

mod bad_input;
mod commands;
mod invocation;
pub mod models;
mod output;
mod signals;
/// The unit strings of the command line (`16KiB`, `10k`, `500ms`, CPU
/// lists); public so that the fuzzer (`fuzz/`) can reach them.
pub mod units;

use std::process::ExitCode;

pub use bad_input::{BadInput, exit_code};
pub use commands::Cli;

/// Runs what the command line asks for: the exit status of a run that went
/// through, or the error that stopped it (see [`exit_code`]).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    commands::run(cli.command)
}

/// A clap error as one line, for `main`.
pub fn usage_line(error: &clap::Error) -> String {
    commands::one_line(error)
}
