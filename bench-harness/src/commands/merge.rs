//! `c10k merge AGENT.json...`: the agents of one run (`c10k load
//! --segment K/N --start-at TIME`, one per machine) as one report, their
//! histograms added exactly (see [`load::agents`]).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use load::agents::AgentRecord;

use crate::bad_input::bad_input;

/// `c10k merge`: one report from the agents of one run.
#[derive(Debug, Args)]
pub(crate) struct MergeArgs {
    /// The agents' `--json` records, one per segment K/N.
    #[arg(value_name = "AGENT.json", required = true)]
    pub(crate) files: Vec<PathBuf>,

    /// Also write the merged record as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
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
    let report = load::agents::merge(&agents).map_err(bad_input)?;
    print!("{}", report.table());
    for (file, agent) in args.files.iter().zip(&agents) {
        let results = &agent.results;
        let p99 = results
            .latency
            .echo
            .as_ref()
            .map_or("-".to_string(), |echo| format!("{:.1} us", echo.p99_us));
        println!(
            "agent {}: {} of {} connections ready, {:.0} msg/s, echo p99 {p99}, {} errors  ({})",
            agent.settings.segment,
            results.connections_ready,
            results.connections_requested,
            results.messages_per_s,
            results.errors.total(),
            file.display()
        );
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
