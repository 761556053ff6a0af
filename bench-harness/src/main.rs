//! `c10k`: serve a concurrency model, load or check any server, bench them
//! all. See the README for the tour.

use std::io::Write;
use std::process::ExitCode;

use bench_harness::Cli;
use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    match bench_harness::run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed standard error must not turn the failure into a panic.
            let _ = writeln!(std::io::stderr(), "c10k: {error:#}");
            bench_harness::exit_code(&error)
        }
    }
}

/// Help and version print as clap formats them; mistakes get one line and
/// exit status 2, as every other bad input does.
fn usage_error(error: &clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(error.exit_code() as u8)
        }
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "c10k: {} (see c10k --help)",
                bench_harness::usage_line(error)
            );
            ExitCode::from(2)
        }
    }
}
