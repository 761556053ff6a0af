//! `c10k`: serve a concurrency model, load or check any server, bench them
//! all. See the README for the tour.

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
        Command::Load(args) => load(&args),
        Command::Bench(args) => match bench_harness::bench_cli::run(&args) {
            Ok(dir) => {
                println!("results in {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("c10k: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Plot(args) => match bench_harness::plot::plot_dir(&args.dir) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("c10k: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Check(args) => match bench_harness::check_cli::run(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(error) => {
                eprintln!("c10k: {error:#}");
                ExitCode::from(2)
            }
        },
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

/// Runs `c10k load`: exit status 1 if nothing was measured or an echo was wrong.
fn load(args: &cli::LoadArgs) -> ExitCode {
    let outcome = (|| -> anyhow::Result<ExitCode> {
        let settings = bench_harness::load_cli::settings(args)?;
        let report = bench_harness::load_cli::run(settings, args)?;
        print!("{}", report.table());
        let results = &report.results;
        if results.errors.mismatch > 0 {
            eprintln!(
                "c10k: integrity check failed: {} echoes differed from what was sent",
                results.errors.mismatch
            );
            return Ok(ExitCode::FAILURE);
        }
        if results.messages == 0 {
            let errors = results.errors.total();
            eprintln!("c10k: nothing was measured ({errors} connection errors; see above)");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    })();
    outcome.unwrap_or_else(|error| {
        eprintln!("c10k: {error:#}");
        ExitCode::from(2)
    })
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
