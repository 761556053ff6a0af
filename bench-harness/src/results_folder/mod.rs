//! What a results folder holds, and the views drawn from its data:
//! `results.json` (the record, [`crate::bench::results`]), `results.csv`,
//! the SVG plots, `report.html` and `README.md`. Views read the record and
//! nothing else, so `c10k plot DIR` redraws them all from `results.json`
//! alone. The plots and the report draw the same [`charts`].

mod charts;
mod csv;
mod numbers;
mod palette;
mod plots;
mod readme;
mod report;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::bad_input::bad_input;
use crate::bench::results::BenchResults;

/// Writes results.json and every view of it into `dir`; returns the plots.
pub(crate) fn write(dir: &Path, results: &BenchResults) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(results)? + "\n",
    )?;
    draw(dir, results)
}

/// Writes every view of `results` (CSV, plots, report.html, README) into
/// `dir`; returns the plots and the report.
pub(crate) fn draw(dir: &Path, results: &BenchResults) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::write(dir.join("results.csv"), csv::table(results)?)?;
    let charts = charts::charts(results);
    let styles = palette::styles(results);
    let mut written = plots::render(dir, results, &charts, &styles)?;
    std::fs::write(dir.join("README.md"), readme::readme(results, &written))?;
    let report = dir.join(REPORT);
    std::fs::write(&report, report::report(results, &charts, &styles)?)?;
    written.push(report);
    Ok(written)
}

/// The interactive report's file name in a results folder.
pub(crate) const REPORT: &str = "report.html";

/// Reads `dir/results.json`; a folder without one is bad input.
pub(crate) fn read(dir: &Path) -> anyhow::Result<BenchResults> {
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|err| bad_input(format!("cannot read {}: {err}", path.display())))?;
    serde_json::from_str(&text).map_err(|err| {
        bad_input(format!(
            "{} is not a c10k bench record: {err}",
            path.display()
        ))
    })
}
