//! `c10k plot DIR`: redraws a results folder's views (plots, report.html, CSV, README)
//! from its `results.json` alone.

use std::process::ExitCode;

use clap::Args;

use crate::bad_input::bad_input;
use crate::models;
use crate::output::outln;

/// `c10k plot DIR`.
#[derive(Debug, Args)]
pub(crate) struct PlotArgs {
    /// A folder written by `c10k bench` (it must hold results.json).
    #[arg(value_name = "DIR")]
    pub(crate) dir: std::path::PathBuf,
}

/// Redraws the views and prints the plots written.
pub(crate) fn run(args: &PlotArgs) -> anyhow::Result<ExitCode> {
    let results = bench::record::read(&args.dir).map_err(|err| bad_input(err.to_string()))?;
    for plot in bench_views::draw(&args.dir, &results, &models::palette())? {
        outln!("{}", plot.display());
    }
    Ok(ExitCode::SUCCESS)
}
