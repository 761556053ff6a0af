//! `c10k check`: the conformance suite of `cargo test`, pointed at any
//! server, like h2spec for HTTP/2. Each case runs against a [`Target`] and
//! ends as pass, fail (with the reason), by design (a declared bound; the
//! degraded behaviour was checked instead) or not applicable (the target
//! cannot be configured or signalled as the case needs).
//!
//! ```text
//! c10k check 127.0.0.1:5566              # a server you started
//! c10k check --serve tokio,blocking      # c10k starts each model per case
//! c10k check --serve all --preset quick --json check.json --markdown matrix.md
//! ```
//!
//! The targets are here ([`targets`]): a model in a `c10k serve` child
//! process, a server of someone else's started from its command, and a
//! server at a fixed address. The cases are the `conformance` crate's, the
//! same that `cargo test` runs in-process against every model.

pub mod matrix;
pub mod targets;

use std::time::Instant;

use conformance::target::Target;
use conformance::{CASES, Case, Outcome, Scale};
use serde::Serialize;

use load::machine::{self, Machine};

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case's name.
    pub case: &'static str,
    /// What it checks.
    pub checks: &'static str,
    /// `pass`, `fail`, `by-design` or `not-applicable`.
    pub outcome: &'static str,
    /// Why, for every outcome but a pass; what was measured, for a pass
    /// that measured something.
    pub detail: Option<String>,
    /// Wall-clock time the case took.
    pub seconds: f64,
}

impl CaseReport {
    fn new(case: &Case, outcome: &Outcome, seconds: f64) -> CaseReport {
        CaseReport {
            case: case.name,
            checks: case.checks,
            outcome: outcome.kind(),
            detail: outcome.detail().map(str::to_string),
            seconds,
        }
    }

    /// The line `c10k check` prints for it.
    pub fn line(&self) -> String {
        let mut line = format!(
            "  {:<9} {:<32} {:>6.1} s",
            label(self.outcome),
            self.case,
            self.seconds
        );
        if let Some(detail) = &self.detail {
            line.push_str("  ");
            line.push_str(detail);
        }
        line
    }
}

/// How people see an outcome: `pass`, `FAIL`, `by design` or `n/a`.
pub fn label(outcome: &str) -> &'static str {
    match outcome {
        "pass" => "pass",
        "fail" => "FAIL",
        "by-design" => "by design",
        _ => "n/a",
    }
}

/// Every case's result against one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    /// A model's name or an address.
    pub target: String,
    /// How many cases passed, failed, passed in their degraded form, or did not apply.
    pub passed: usize,
    pub failed: usize,
    pub by_design: usize,
    pub not_applicable: usize,
    pub cases: Vec<CaseReport>,
    /// Why no case ran: the server did not start (every case counts as failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub did_not_start: Option<String>,
}

impl TargetReport {
    /// The report of `cases`, with their outcomes counted.
    fn new(target: String, cases: Vec<CaseReport>) -> TargetReport {
        let count = |outcome: &str| cases.iter().filter(|c| c.outcome == outcome).count();
        TargetReport {
            target,
            passed: count("pass"),
            failed: count("fail"),
            by_design: count("by-design"),
            not_applicable: count("not-applicable"),
            cases,
            did_not_start: None,
        }
    }

    /// A target whose server did not start, so that none of `cases` ran.
    pub fn did_not_start(target: String, cases: usize, why: String) -> TargetReport {
        TargetReport {
            failed: cases,
            did_not_start: Some(why),
            ..TargetReport::new(target, Vec::new())
        }
    }

    /// `N passed, M failed`, and the other two counts when not zero.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.did_not_start {
            return format!("did not start: {why}");
        }
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.by_design > 0 {
            line.push_str(&format!(", {} by design", self.by_design));
        }
        if self.not_applicable > 0 {
            line.push_str(&format!(", {} not applicable", self.not_applicable));
        }
        line
    }
}

/// Everything one `c10k check` found, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The command line that produced it.
    pub command: String,
    /// `quick` or `full`.
    pub preset: &'static str,
    pub c10k: &'static str,
    pub revision: &'static str,
    pub machine: Machine,
    pub targets: Vec<TargetReport>,
}

impl CheckReport {
    /// An empty report for the running command.
    pub fn new(scale: Scale, command: String) -> CheckReport {
        CheckReport {
            command,
            preset: preset_name(scale),
            c10k: machine::VERSION,
            revision: machine::GIT_REVISION,
            machine: machine::describe(),
            targets: Vec::new(),
        }
    }

    /// Whether no case failed against any target.
    pub fn all_passed(&self) -> bool {
        self.targets.iter().all(|target| target.failed == 0)
    }
}

/// The preset's name on the command line.
pub fn preset_name(scale: Scale) -> &'static str {
    match scale {
        Scale::Quick => "quick",
        Scale::Full => "full",
    }
}

/// `--only`/`--skip` names for PROTOCOL.md's cases and for the abuse cases.
pub const PROTOCOL: &str = "protocol";
pub const ABUSE: &str = "abuse";

/// The cases `only` and `skip` select, in suite order. Names were checked
/// by the command line already.
pub fn select(only: &[String], skip: &[String]) -> Vec<&'static Case> {
    let named = |names: &[String], case: &Case| {
        names.iter().any(|name| {
            name == case.name || (name == PROTOCOL && !case.abuse) || (name == ABUSE && case.abuse)
        })
    };
    CASES
        .iter()
        .filter(|case| only.is_empty() || named(only, case))
        .filter(|case| !named(skip, case))
        .collect()
}

/// Runs `cases` against `target` one after another, calling `done` as each
/// one ends.
pub fn run(
    target: &dyn Target,
    cases: &[&Case],
    scale: Scale,
    mut done: impl FnMut(&CaseReport),
) -> TargetReport {
    let cases = cases
        .iter()
        .map(|case| {
            let started = Instant::now();
            let outcome = conformance::run(case, target, scale);
            let report = CaseReport::new(case, &outcome, started.elapsed().as_secs_f64());
            done(&report);
            report
        })
        .collect();
    TargetReport::new(target.name(), cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_select_the_protocol_or_the_abuse_cases() {
        let names = |cases: Vec<&Case>| cases.iter().map(|case| case.name).collect::<Vec<_>>();
        let protocol = names(select(&[PROTOCOL.into()], &[]));
        let abuse = names(select(&[ABUSE.into()], &[]));
        assert_eq!(protocol.len() + abuse.len(), CASES.len());
        assert!(protocol.contains(&"basic_echo") && !protocol.contains(&"slowloris"));
        assert!(abuse.contains(&"slowloris") && !abuse.contains(&"basic_echo"));
        assert_eq!(names(select(&[], &[ABUSE.into()])), protocol);
        let mixed = names(select(
            &[PROTOCOL.into(), "churn".into()],
            &["basic_echo".into()],
        ));
        assert_eq!(mixed.len(), protocol.len());
        assert!(mixed.contains(&"churn") && !mixed.contains(&"basic_echo"));
    }
}
