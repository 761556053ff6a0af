//! The models x cases matrix as Markdown: one row per case, one column per
//! target, and below it the reason for every cell that is not a plain pass.

use std::fmt::Write;

use crate::{CheckReport, TargetReport, label};

/// The matrix for `report`, headed by the command and the machine it ran on.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::new();
    let machine = &report.machine;
    let _ = writeln!(out, "# Conformance matrix\n");
    let _ = writeln!(
        out,
        "Made by `{}` (c10k {} at {}) on {} ({} cores, Linux {}, open-file limit {}), built with {}.\n",
        report.command,
        report.c10k,
        report.revision,
        machine.cpu,
        machine.cores,
        machine.kernel,
        machine.open_file_limit,
        machine.rustc,
    );
    let _ = writeln!(out, "{}", table(report));
    let _ = writeln!(
        out,
        "`pass`: every check of the case holds. `by design`: the model declares a bound on the \
         connections it serves at once that makes the case impossible; the degraded behaviour it \
         promises instead was checked and holds. `n/a`: the case cannot run against that target. \
         `FAIL`: the server broke the protocol.\n"
    );
    let notes: Vec<String> = report
        .targets
        .iter()
        .flat_map(|target| {
            target.cases.iter().filter_map(move |case| {
                let why = case.detail.as_deref().filter(|_| case.outcome != "pass")?;
                Some(format!(
                    "- **{} / {}** ({}): {why}",
                    target.target,
                    case.case,
                    label(case.outcome)
                ))
            })
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "## Why each cell that is not a pass\n");
        for note in notes {
            let _ = writeln!(out, "{note}");
        }
        let _ = writeln!(out);
    }
    let measured = observations(report);
    if !measured.is_empty() {
        let _ = writeln!(out, "## What the passing cases measured\n");
        let _ = writeln!(out, "{measured}");
    }
    out
}

/// One row per case whose passes measured something, one column per target.
fn observations(report: &CheckReport) -> String {
    let Some(first) = rows(report) else {
        return String::new();
    };
    let mut out = String::new();
    for (row, case) in first.cases.iter().enumerate() {
        let cells: Vec<String> = report
            .targets
            .iter()
            .map(|target| match target.cases.get(row) {
                Some(c) if c.outcome == "pass" => c.detail.clone().unwrap_or_default(),
                Some(c) => format!("({})", label(c.outcome)),
                None => String::new(),
            })
            .collect();
        if cells
            .iter()
            .all(|cell| cell.is_empty() || cell.starts_with('('))
        {
            continue;
        }
        if out.is_empty() {
            let names: Vec<&str> = report.targets.iter().map(|t| t.target.as_str()).collect();
            let _ = writeln!(out, "| case | {} |", names.join(" | "));
            let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
        }
        let _ = writeln!(out, "| `{}` | {} |", case.case, cells.join(" | "));
    }
    out
}

/// Just the table: cases down, targets across, totals at the foot.
pub fn table(report: &CheckReport) -> String {
    let mut out = String::new();
    let names: Vec<&str> = report.targets.iter().map(|t| t.target.as_str()).collect();
    let _ = writeln!(out, "| case | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(names.len()));
    let Some(first) = rows(report) else {
        return out;
    };
    for (row, case) in first.cases.iter().enumerate() {
        let cells: Vec<&str> = report
            .targets
            .iter()
            .map(|target| target.cases.get(row).map_or("", |c| cell(c.outcome)))
            .collect();
        let _ = writeln!(out, "| `{}` | {} |", case.case, cells.join(" | "));
    }
    let totals: Vec<String> = report
        .targets
        .iter()
        .map(|t| match t.did_not_start {
            Some(_) => "did not start".to_string(),
            None => format!("{}/{}", t.passed + t.by_design, t.cases.len()),
        })
        .collect();
    let _ = writeln!(
        out,
        "| **met (pass or by design)** | {} |",
        totals.join(" | ")
    );
    out
}

/// The target whose cases make the rows: one that ran them (a server that
/// did not start ran none).
fn rows(report: &CheckReport) -> Option<&TargetReport> {
    report
        .targets
        .iter()
        .max_by_key(|target| target.cases.len())
}

/// A table cell: the label, with a failure in bold.
fn cell(outcome: &str) -> &'static str {
    match outcome {
        "fail" => "**FAIL**",
        other => label(other),
    }
}
