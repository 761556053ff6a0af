//! `c10k bench`: the model matrix from the command line to a results
//! folder: presets, the output folder's name, and what is written into it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::bad_input::bad_input;
use bench::contender::Contender;
use bench::record::Plan;

use crate::models;
use crate::output::{errln, outln};
use crate::units::{self, positive_bytes, positive_count, positive_rate};

/// `c10k bench`: the model matrix.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// `quick` (a few minutes on two cores) or `full` (the committed run).
    #[arg(long, default_value = "quick", value_parser = ["quick", "full"])]
    pub(crate) preset: String,

    /// Models to run, comma-separated [default: all; `none` with --server].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub(crate) models: Vec<String>,

    /// Also measure a server that is not ours: NAME='COMMAND ...', run with
    /// `{addr}` replaced (or `--addr 127.0.0.1:0` appended); it must print
    /// `listening on HOST:PORT`. Repeatable.
    #[arg(long, value_name = "NAME='COMMAND'")]
    pub(crate) server: Vec<String>,

    /// `none`: the --server servers are plain echo servers, without the
    /// hello handshake.
    #[arg(long, default_value = "hello", value_parser = ["hello", "none"])]
    pub(crate) handshake: String,

    /// Connection counts, closed loop [default: the preset's].
    #[arg(long, value_name = "N,N", value_delimiter = ',', value_parser = positive_count)]
    pub(crate) conns: Vec<usize>,

    /// Message sizes in bytes [default: the preset's].
    #[arg(long, value_name = "B,B", value_delimiter = ',', value_parser = positive_bytes)]
    pub(crate) sizes: Vec<usize>,

    /// Offered rates for the open-loop latency series [default: the preset's].
    #[arg(long, value_name = "R,R", value_delimiter = ',', value_parser = positive_rate)]
    pub(crate) rates: Vec<f64>,

    /// Connections for the open-loop series.
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub(crate) rate_conns: Option<usize>,

    /// Measured seconds per point.
    #[arg(short = 'd', long, value_name = "SECS", value_parser = units::parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Unmeasured traffic before each point.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub(crate) warmup: Option<Duration>,

    /// Open loop: sends due within this long of the one the load woke for go
    /// out with it (`c10k load --burst`); 0: each at its own time.
    #[arg(long, value_name = "SECS", default_value = "200us", value_parser = units::burst)]
    pub(crate) burst: Duration,

    /// Idle hold after the largest point, for memory per idle connection.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub(crate) hold: Option<Duration>,

    /// Per-connection limit on connecting and on the handshake.
    #[arg(long, value_name = "SECS", value_parser = units::parse_duration)]
    pub(crate) connect_timeout: Option<Duration>,

    /// Runs of every point; tables and plots show the median.
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub(crate) repeat: Option<usize>,

    /// Runs of each fixed-rate efficiency point, the headline [default:
    /// 5 in the full preset, else --repeat].
    #[arg(long, value_name = "N", value_parser = positive_count)]
    pub(crate) efficiency_repeat: Option<usize>,

    /// Server on CPU 0, load on CPU 1, so that models get equal CPU
    /// (short for `--server-cpus 0 --load-cpus 1`).
    #[arg(long, conflicts_with_all = ["server_cpus", "load_cpus"])]
    pub(crate) pin: bool,

    /// The CPUs the server runs on: `0`, `0-3`, `0,2` (with --load-cpus).
    #[arg(long, value_name = "LIST", value_parser = units::parse_cpus, requires = "load_cpus")]
    pub(crate) server_cpus: Option<units::CpuList>,

    /// The CPUs the load runs on (with --server-cpus).
    #[arg(long, value_name = "LIST", value_parser = units::parse_cpus, requires = "server_cpus")]
    pub(crate) load_cpus: Option<units::CpuList>,

    /// Offered rates of the fixed-rate efficiency series [default: the preset's].
    #[arg(long, value_name = "R,R", value_delimiter = ',', value_parser = positive_rate)]
    pub(crate) efficiency_rates: Vec<f64>,

    /// Connection counts of the fixed-rate efficiency series [default: the preset's].
    #[arg(long, value_name = "N,N", value_delimiter = ',', value_parser = positive_count)]
    pub(crate) efficiency_conns: Vec<usize>,

    /// Output folder [default: results/<date>-<host>].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<std::path::PathBuf>,

    /// No progress bars.
    #[arg(short = 'q', long)]
    pub(crate) quiet: bool,
}

/// The plan a command line asks for: the preset, with explicit flags on top.
fn plan(args: &BenchArgs) -> Plan {
    let full = args.preset == "full";
    let pick = |given: &[usize], preset: &[usize]| {
        if given.is_empty() {
            preset.to_vec()
        } else {
            given.to_vec()
        }
    };
    let seconds = |given: Option<Duration>, quick: f64, full_value: f64| {
        given.map_or(if full { full_value } else { quick }, |d| d.as_secs_f64())
    };
    let rates = |given: &[f64], quick: &[f64], full_value: &[f64]| {
        if !given.is_empty() {
            given.to_vec()
        } else if full {
            full_value.to_vec()
        } else {
            quick.to_vec()
        }
    };
    let (server_cpus, load_cpus) = match (&args.server_cpus, &args.load_cpus) {
        (Some(server), Some(load)) => (server.0.clone(), load.0.clone()),
        _ if args.pin => (vec![0], vec![1]),
        _ => (Vec::new(), Vec::new()),
    };
    let repeat = args.repeat.unwrap_or(3);
    // The full preset is the committed run, about an hour on two cores: the
    // fixed-rate points (the headline, C10k's 10,000 connections among
    // them) run 5 times; the closed loop keeps only what it alone shows
    // (the most each model serves, and idle memory after the largest).
    Plan {
        conns: pick(
            &args.conns,
            if full { &[100, 10_000] } else { &[100, 1000] },
        ),
        sizes: pick(&args.sizes, &[64]),
        rates: rates(
            &args.rates,
            &[5_000.0, 20_000.0],
            &[10_000.0, 20_000.0, 50_000.0, 100_000.0],
        ),
        rate_conns: args.rate_conns.unwrap_or(100),
        efficiency_rates: rates(
            &args.efficiency_rates,
            &[20_000.0],
            &[10_000.0, 20_000.0, 50_000.0],
        ),
        efficiency_conns: pick(
            &args.efficiency_conns,
            if full { &[100, 1000, 10_000] } else { &[100] },
        ),
        efficiency_repeat: Some(args.efficiency_repeat.unwrap_or(
            if full && args.repeat.is_none() {
                5
            } else {
                repeat
            },
        )),
        duration_s: seconds(args.duration, 1.0, 3.0),
        warmup_s: seconds(args.warmup, 0.5, 1.0),
        hold_s: seconds(args.hold, 1.0, 2.0),
        // 10,000 connecting at once overflow a 4,096 listen backlog behind a
        // server that accepts slowly (a thread spawned per connection); the
        // kernel retries a dropped SYN after 1, 3 and 7 s, and 10 s lets the
        // third retry in, where 5 s lost up to 3% of the connections.
        connect_timeout_s: seconds(args.connect_timeout, 3.0, 10.0),
        repeat,
        pin: !server_cpus.is_empty(),
        server_cpus,
        load_cpus,
        machine_warmup_s: if full { 3.0 } else { 1.0 },
        burst_s: args.burst.as_secs_f64(),
    }
}

/// The models a command line names (all by default, none for `none`), then
/// its `--server` servers.
fn contenders(args: &BenchArgs) -> anyhow::Result<Vec<Contender>> {
    let mut chosen: Vec<Contender> = if args.models.is_empty() {
        models::MODELS.iter().map(Contender::Model).collect()
    } else if args.models == ["none"] {
        Vec::new()
    } else {
        args.models
            .iter()
            .map(|name| {
                models::find(name).map(Contender::Model).ok_or_else(|| {
                    let known: Vec<&str> = models::MODELS.iter().map(|m| m.name).collect();
                    bad_input(format!(
                        "unknown model '{name}' (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    for spec in &args.server {
        let server = models::commanded(spec, args.handshake == "hello")?;
        if chosen.iter().any(|other| other.name() == server.name) {
            return Err(bad_input(format!(
                "--server {} is given twice",
                server.name
            )));
        }
        chosen.push(Contender::External(server));
    }
    if chosen.is_empty() {
        return Err(bad_input(
            "--models none leaves nothing to run: add --server",
        ));
    }
    Ok(chosen)
}

/// Runs the bench and writes its folder.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let plan = plan(args);
    let models = contenders(args)?;
    let cores = model::config::cores();
    if args.pin && cores < 2 {
        return Err(bad_input("--pin needs two cores, this machine has one"));
    }
    if let Some(cpu) = plan
        .server_cpus
        .iter()
        .chain(&plan.load_cpus)
        .find(|&&cpu| cpu >= cores)
    {
        return Err(bad_input(format!(
            "there is no CPU {cpu}: this machine has {cores}"
        )));
    }
    if plan
        .server_cpus
        .iter()
        .any(|cpu| plan.load_cpus.contains(cpu))
    {
        return Err(bad_input(
            "--server-cpus and --load-cpus must not share a CPU",
        ));
    }
    let command = crate::invocation::command_line();
    let estimate = bench::rough_duration(&plan, models.len());
    errln!(
        "c10k bench: {} models x {} points, up to {} runs (a bounded model runs once where it falls short), roughly {} min",
        models.len(),
        bench::specs(&plan).len(),
        bench::runs(&plan, models.len()),
        (estimate.as_secs() / 60).max(1)
    );
    let dir = match &args.out {
        Some(dir) => dir.clone(),
        None => unused(default_dir(&bench::today(), &load::machine::describe())),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|err| bad_input(format!("cannot create {}: {err}", dir.display())))?;
    let results = bench::run(plan, &models, command, !args.quiet, &dir);
    bench::record::write(&dir, &results)
        .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", dir.display()))?;
    bench_views::draw(&dir, &results, &models::palette())?;
    outln!("results in {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// `results/<date>-<cores>core-<cpu>`.
fn default_dir(date: &str, machine: &load::machine::Machine) -> PathBuf {
    let cpu: String = machine
        .cpu
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let cpu = cpu
        .split('-')
        .filter(|part| !part.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    PathBuf::from("results").join(format!("{date}-{}core-{cpu}", machine.cores))
}

/// `dir`, or `dir-2`, `dir-3`, ... if it exists: a default folder never
/// overwrites an earlier run (a committed one, say) of the same day; `--out`
/// does what it is told.
fn unused(dir: PathBuf) -> PathBuf {
    if !dir.exists() {
        return dir;
    }
    let numbered = |n: u32| PathBuf::from(format!("{}-{n}", dir.display()));
    (2..)
        .map(numbered)
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| dir.clone())
}

#[cfg(test)]
mod tests {
    use super::unused;

    #[test]
    fn a_default_folder_never_overwrites_an_earlier_run() {
        let base = std::env::temp_dir().join(format!("c10k-unused-{}", std::process::id()));
        assert_eq!(unused(base.clone()), base);
        std::fs::create_dir_all(&base).unwrap();
        let second = unused(base.clone());
        assert_eq!(
            second,
            base.with_file_name(format!("c10k-unused-{}-2", std::process::id()))
        );
        std::fs::create_dir_all(&second).unwrap();
        assert!(unused(base.clone()).to_string_lossy().ends_with("-3"));
        let _ = std::fs::remove_dir_all(&base);
        let _ = std::fs::remove_dir_all(&second);
    }
}
