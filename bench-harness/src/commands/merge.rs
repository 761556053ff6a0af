//! `c10k merge AGENT.json...`: the agents of one run (`c10k load
//! --segment K/N --start-at TIME`, one per machine) as one report, their
//! histograms added exactly (see [`load::agents`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use load::agents::AgentRecord;
use load::report::IntervalLog;

use crate::bad_input::bad_input;
use crate::commands::load::write_record;
use crate::output::{out, outln};
use crate::units;

/// `c10k merge`: one report from the agents of one run.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The agents' `--json` records, one per segment K/N.
    #[arg(value_name = "AGENT.json", required = true)]
    pub(crate) files: Vec<PathBuf>,

    /// Also write the merged record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,

    /// Also write the merged interval log to FILE, from the agents' logs
    /// (each `AGENT.hlog` beside its `AGENT.json`).
    #[arg(long, value_name = "FILE")]
    pub(crate) hlog: Option<PathBuf>,
}

/// Prints the merged report, then a line per agent.
pub(crate) fn run(args: &MergeArgs) -> anyhow::Result<ExitCode> {
    let mut agents = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .map_err(|err| bad_input(format!("cannot read {}: {err}", file.display())))?;
        let agent: AgentRecord = serde_json::from_str(&text).map_err(|err| {
            bad_input(format!(
                "{} is not a `c10k load --json` record: {err}",
                file.display()
            ))
        })?;
        agents.push(agent);
    }
    let logs = interval_logs(&args.files)?;
    if args.hlog.is_some() && logs.is_none() {
        return Err(bad_input(
            "--hlog needs every agent's interval log beside its record (AGENT.hlog)",
        ));
    }
    let has_logs = logs.is_some();
    let report = load::agents::merge(&agents, logs).map_err(bad_input)?;
    out!("{}", report.table());
    for (file, agent) in args.files.iter().zip(&agents) {
        let results = &agent.results;
        let p99 = results
            .latency
            .echo
            .as_ref()
            .map_or("-".to_string(), |echo| format!("{:.1} us", echo.p99_us));
        outln!(
            "agent {}: {} of {} connections ready, {:.0} msg/s, echo p99 {p99}, {} errors  ({})",
            agent.settings.segment,
            results.connections_ready,
            results.connections_requested,
            results.messages_per_s,
            results.errors.total(),
            file.display()
        );
    }
    if has_logs {
        outln!(
            "per second from {} (the common start plus the warm-up), every agent's echoes added:",
            units::format_time(report.intervals.start)
        );
        out!("{}", report.intervals.table(report.results.measured_s));
    }
    write_record(&report, args.json.as_deref(), args.hlog.as_deref())?;
    Ok(ExitCode::SUCCESS)
}

/// Each agent's interval log, `AGENT.hlog` beside `AGENT.json`, if every
/// agent has one; `None` if none has.
fn interval_logs(files: &[PathBuf]) -> anyhow::Result<Option<Vec<IntervalLog>>> {
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|file| file.with_extension("hlog"))
        .collect();
    let present = paths.iter().filter(|path| path.exists()).count();
    if present == 0 {
        return Ok(None);
    }
    if present < paths.len() {
        return Err(bad_input(
            "some agents have an interval log beside their record and some not",
        ));
    }
    let mut logs = Vec::with_capacity(paths.len());
    for path in &paths {
        let bytes = std::fs::read(path)
            .map_err(|err| bad_input(format!("cannot read {}: {err}", path.display())))?;
        let log = IntervalLog::read(&bytes)
            .map_err(|err| bad_input(format!("{}: {err}", path.display())))?;
        logs.push(log);
    }
    Ok(Some(logs))
}
