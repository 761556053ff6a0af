//! The command line: its top level here, then one file per subcommand,
//! each holding its flags (a clap `Args`) and its `run`, as cargo's
//! `commands/` folder does. Every `run` returns the exit status of a run
//! that went through, and an error otherwise;
//! [`exit_code`](crate::bad_input::exit_code) is the one policy that turns
//! errors into statuses.

pub(crate) mod bench;
pub(crate) mod check;
pub(crate) mod load;
pub(crate) mod merge;
pub(crate) mod plot;
pub(crate) mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use bench::BenchArgs;
use check::CheckArgs;
use load::LoadArgs;
use merge::MergeArgs;
use plot::PlotArgs;
use serve::ServeArgs;

/// Concurrency models side by side on one echo protocol, under C10k load.
#[derive(Debug, Parser)]
#[command(name = "c10k", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve the echo+handshake protocol with one concurrency model.
    Serve(ServeArgs),
    /// Drive C10k-style load against any echo server and measure it.
    Load(LoadArgs),
    /// Merge the --json records of the agents of one run into one report.
    Merge(MergeArgs),
    /// Measure every model across a matrix of loads; write results and plots.
    Bench(BenchArgs),
    /// Redraw the plots of a bench run from its results.json.
    Plot(PlotArgs),
    /// Run the conformance and abuse cases against a server; exit 1 if any fails.
    Check(CheckArgs),
}

/// Squeezes a clap error into one line: its message and any hint that
/// follows it, without the usage block.
pub(crate) fn one_line(error: &clap::Error) -> String {
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

/// Runs one subcommand.
pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Check(args) => check::run(&args),
    }
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

    /// Every flag of every subcommand, given once: clap checks a field's
    /// type against its parser only when a value arrives, so a mismatch
    /// (it once made `--server-cpus` a panic) shows only here.
    #[test]
    fn every_flag_parses_into_its_field() {
        for line in [
            "serve tokio --addr 127.0.0.1:0 --workers 2 --max-conns 10 --handshake-timeout 1s",
            "serve tokio --idle-timeout 2 --buffer 4KiB --grace 1 --stack-size 64KiB",
            "serve tokio --flavor current-thread",
            "serve io-uring --batch-wait 50us",
            "load 127.0.0.1:1 --handshake none -c 10 --connect-rate 5k --connect-timeout 1",
            "load 127.0.0.1:1 -d 1 --warmup 0 --hold 1 -s 64 -t 2 --rate 1k",
            "load 127.0.0.1:1 --segment 0/2 --start-at 1795809600",
            "load 127.0.0.1:1 --source-addrs 127.0.0.1-127.0.0.2 --json a.json --hlog a.hlog -q",
            "merge a.json b.json --json m.json --hlog m.hlog",
            "bench --preset full --models tokio,smol --server py=python3 --handshake none",
            "bench --conns 10,100 --sizes 64,4KiB --rates 1k --rate-conns 10 -d 1 --warmup 1",
            "bench --hold 1 --connect-timeout 1 --repeat 2 --pin --out x -q",
            "bench --server-cpus 0 --load-cpus 1 --efficiency-rates 1k --efficiency-conns 10",
            "plot x",
            "check 127.0.0.1:1 --handshake-timeout 1 --idle-timeout 1",
            "check --serve tokio --only basic_echo --preset quick",
            "check --serve all --skip abuse --json c.json",
            "check --server py=python3 --markdown c.md -q",
            "check --pid 1 127.0.0.1:1",
            "check --list",
        ] {
            let argv = std::iter::once("c10k").chain(line.split_whitespace());
            if let Err(err) = Cli::try_parse_from(argv) {
                panic!("{line}: {}", one_line(&err));
            }
        }
    }
}
