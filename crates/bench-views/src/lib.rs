//! The views of a `c10k bench` record: what a results folder shows people.
//! `results.json` is the record ([`bench::record`]); from it this crate
//! draws `results.csv`, the SVG plots, `report.html` and `README.md`.
//! Views read the record and nothing else, so `c10k plot DIR` redraws them
//! all from `results.json` alone.
//!
//! The record's repetitions are grouped and every figure derived once
//! ([`figures`]); the charts are computed once from that ([`charts`]) and
//! drawn twice, as SVG ([`plots`]) and in `report.html` ([`report`]).
//!
//! ```no_run
//! use std::path::Path;
//! use bench_views::Palette;
//!
//! let dir = Path::new("results/2026-12-06-full-2core-intel-xeon");
//! let record = bench::record::read(dir)?;
//! for view in bench_views::draw(dir, &record, &Palette::new(&["blocking", "tokio"]))? {
//!     println!("{}", view.display());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod charts;
mod csv;
mod figures;
mod numbers;
mod palette;
mod plots;
mod readme;
mod report;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use bench::record::BenchResults;

pub use palette::Palette;

/// The interactive report's file name in a results folder.
pub const REPORT: &str = "report.html";

/// Writes every view of `results` (CSV, plots, report.html, README) into
/// `dir`, each model drawn as `palette` says; returns the plots and the
/// report, in the order the README shows them.
pub fn draw(
    dir: &Path,
    results: &BenchResults,
    palette: &Palette,
) -> Result<Vec<PathBuf>, ViewError> {
    let figures = figures::Figures::of(results);
    std::fs::write(dir.join("results.csv"), csv::table(results)?)?;
    let charts = charts::charts(&figures);
    let styles = palette.styles(results);
    let mut written = plots::render(dir, results, &charts, &styles)?;
    std::fs::write(dir.join("README.md"), readme::readme(&figures, &written))?;
    let report = dir.join(REPORT);
    std::fs::write(&report, report::report(&figures, &charts, &styles)?)?;
    written.push(report);
    Ok(written)
}

/// Why a view could not be written.
#[derive(Debug)]
pub enum ViewError {
    /// A file could not be written.
    Io(io::Error),
    /// The plotting library refused a chart.
    Plot(String),
    /// The CSV writer failed.
    Csv(::csv::Error),
    /// The report's data could not be serialized.
    Json(serde_json::Error),
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::Io(err) => write!(f, "{err}"),
            ViewError::Plot(why) => write!(f, "drawing a plot: {why}"),
            ViewError::Csv(err) => write!(f, "writing results.csv: {err}"),
            ViewError::Json(err) => write!(f, "serializing report.html's data: {err}"),
        }
    }
}

impl std::error::Error for ViewError {}

impl From<io::Error> for ViewError {
    fn from(err: io::Error) -> ViewError {
        ViewError::Io(err)
    }
}

impl From<::csv::Error> for ViewError {
    fn from(err: ::csv::Error) -> ViewError {
        ViewError::Csv(err)
    }
}

impl From<serde_json::Error> for ViewError {
    fn from(err: serde_json::Error) -> ViewError {
        ViewError::Json(err)
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for ViewError
{
    fn from(err: plotters::drawing::DrawingAreaErrorKind<E>) -> ViewError {
        ViewError::Plot(err.to_string())
    }
}
