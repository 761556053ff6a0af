//! `c10k`: serve a concurrency model. See the README for the tour.

use std::process::ExitCode;

use bench_harness::cli::{self, Cli, Command};
use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    match cli.command {
        Command::Serve(args) => match bench_harness::serve::run(&args) {
            Ok(stats) => {
                println!("stopped model={} {stats}", args.model);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("c10k: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Help and version print as clap formats them; mistakes get one line.
fn usage_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(error.exit_code() as u8)
        }
        _ => {
            eprintln!("c10k: {} (see c10k --help)", cli::one_line(error));
            ExitCode::from(2)
        }
    }
}
