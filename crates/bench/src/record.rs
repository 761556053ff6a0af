//! The record of a run, as `results.json` holds it: what was asked for
//! ([`Plan`]), the machine, and one [`Point`] per model, matrix point and
//! repetition, each with its verdict ([`LimitedBy`]). Nothing here is
//! derived for people: medians, summaries and every view are the
//! `bench-views` crate's, and read only this.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use load::machine::Machine;
use load::report::{EncodedHistograms, Results};
use process_stats::{KernelMemory, ProcSample};

/// Bumped when a field changes meaning. 2: the window counts echoes by
/// completion time, points carry a verdict, the plan fixed-rate points and
/// CPU sets. 3: echo latency runs to the kernel's receive timestamp (the
/// load record's `echo_timing` says how many echoes had one), with the
/// time the load read each echo beside it as `echo_user`; in the open loop
/// the load no longer wakes for echoes, so a server no longer pays for
/// waking it. Records of 2 read as they are: timed when read. 4: the plan
/// may run the fixed-rate efficiency points more often than the rest
/// (`efficiency_repeat`); records of 3 ran every point `repeat` times.
pub const SCHEMA: u32 = 4;

/// Everything one `c10k bench` run recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResults {
    pub schema: u32,
    /// The command line that produced this file.
    pub command: String,
    /// UTC date the run started (YYYY-MM-DD).
    pub date: String,
    pub c10k_version: String,
    pub git_revision: String,
    pub machine: Machine,
    pub limits: Limits,
    pub plan: Plan,
    pub models: Vec<ModelInfo>,
    pub points: Vec<Point>,
}

/// System limits that shape what a run can reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Limits {
    pub open_files: u64,
    pub somaxconn: Option<u64>,
    pub local_port_range: Option<String>,
    pub max_map_count: Option<u64>,
}

/// What was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub conns: Vec<usize>,
    pub sizes: Vec<usize>,
    pub rates: Vec<f64>,
    pub rate_conns: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub hold_s: f64,
    pub connect_timeout_s: f64,
    /// Runs of every point, but see `efficiency_repeat`.
    pub repeat: usize,
    pub pin: bool,
    /// The fixed-rate efficiency series: open-loop points at each of these
    /// offered rates over each of `efficiency_conns` connections.
    #[serde(default)]
    pub efficiency_rates: Vec<f64>,
    #[serde(default)]
    pub efficiency_conns: Vec<usize>,
    /// Runs of each fixed-rate efficiency point, the headline, so that its
    /// band is the middle half of enough runs (absent: `repeat`, as in
    /// records made before it was a setting).
    #[serde(default)]
    pub efficiency_repeat: Option<usize>,
    /// The CPUs the server runs on (empty: unpinned).
    #[serde(default)]
    pub server_cpus: Vec<usize>,
    /// The CPUs the load runs on (empty: unpinned).
    #[serde(default)]
    pub load_cpus: Vec<usize>,
    /// Unrecorded traffic before the first point, so that the first model
    /// measured does not pay for a cold machine.
    #[serde(default)]
    pub machine_warmup_s: f64,
    /// The open loop's bursts (`c10k load --burst`): sends due within this
    /// long of the one the load woke for go out with it. Records made
    /// before it was a setting used 200 µs.
    #[serde(default = "default_burst_s")]
    pub burst_s: f64,
}

fn default_burst_s() -> f64 {
    load::settings::DEFAULT_BURST.as_secs_f64()
}

impl Plan {
    /// The smallest message size of the plan (the one most points use).
    pub fn base_size(&self) -> usize {
        self.sizes.iter().copied().min().unwrap_or(64)
    }

    /// The fixed-rate points, `(rate, connections)`, in run order: each
    /// connection count, every rate over it.
    pub fn efficiency_points(&self) -> Vec<(f64, usize)> {
        self.efficiency_conns
            .iter()
            .flat_map(|&conns| self.efficiency_rates.iter().map(move |&rate| (rate, conns)))
            .collect()
    }

    /// Whether an open-loop point at `rate` over `connections` with
    /// `size`-byte messages is one of the fixed-rate efficiency points.
    pub fn is_efficiency_point(&self, rate: f64, connections: usize, size: usize) -> bool {
        size == self.base_size()
            && self.efficiency_rates.contains(&rate)
            && self.efficiency_conns.contains(&connections)
    }

    /// How many times the plan runs each fixed-rate efficiency point.
    pub fn efficiency_runs(&self) -> usize {
        self.efficiency_repeat.unwrap_or(self.repeat)
    }

    /// How many times the plan runs a point (`rate` is `None` in the closed
    /// loop): the efficiency points `efficiency_repeat` times, the rest `repeat`.
    pub fn repetitions(&self, rate: Option<f64>, connections: usize, size: usize) -> usize {
        match rate {
            Some(rate) if self.is_efficiency_point(rate, connections, size) => {
                self.efficiency_runs()
            }
            _ => self.repeat,
        }
    }

    /// Whether both sides run on CPUs of their own.
    pub fn pinned(&self) -> bool {
        !self.server_cpus.is_empty() && !self.load_cpus.is_empty()
    }
}

/// A model as it entered the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub summary: String,
    /// Non-blank, non-comment lines of the model crate (tests excluded).
    pub code_lines: Option<usize>,
    /// The same count for the shared serving code of the `model` crate that
    /// the model runs on (absent in records made before it was counted).
    #[serde(default)]
    pub shared_lines: Option<usize>,
    /// Why the model serves a bounded number of connections at once, if it does.
    pub bounded_because: Option<String>,
}

/// Closed loop (maximum throughput) or open loop (a fixed offered rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loop {
    Closed,
    Open,
}

/// How a point went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every connection served, no error.
    Ok,
    /// Measured, but some connections were not served or failed (see `note`).
    Partial,
    /// Nothing could be measured.
    NoTraffic,
    /// The server exited during the point.
    Crashed,
    /// The server did not stop after SIGTERM and was killed.
    Hung,
    /// The server never printed its listening line.
    DidNotStart,
    /// The model cannot run on this machine (for example, no io_uring).
    Unavailable,
}

/// One measurement: a model at one matrix point, one repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub model: String,
    #[serde(rename = "loop")]
    pub mode: Loop,
    pub connections: usize,
    pub size: usize,
    /// Offered messages per second (open loop).
    pub rate: Option<f64>,
    pub repetition: usize,
    pub outcome: Outcome,
    /// What happened, in a sentence, when it was not simply `ok`.
    pub note: Option<String>,
    /// What `c10k load --json` records as results.
    pub load: Option<Results>,
    /// The load's histograms, as `c10k load --json` encodes them.
    pub histograms: Option<EncodedHistograms>,
    pub server: Option<ServerUse>,
    /// What limited the point, from both sides' CPU use and the open loop's schedule.
    #[serde(default)]
    pub limited_by: Option<LimitedBy>,
    /// The share of the server's CPUs it kept busy during the window.
    #[serde(default)]
    pub server_cpu_share: Option<f64>,
    /// The share of the load's CPUs it kept busy during the window.
    #[serde(default)]
    pub load_cpu_share: Option<f64>,
    /// The kernel's memory, machine-wide, before connecting and with every
    /// connection open (both ends of each connection live on this machine).
    #[serde(default)]
    pub kernel: Option<KernelUse>,
    /// The point's HdrHistogram interval log, relative to the results folder.
    #[serde(default)]
    pub hlog: Option<String>,
}

/// What limited a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitedBy {
    /// The server kept its CPUs busy and the load did not: a figure about the server.
    ServerBound,
    /// The load kept its CPUs busy (or fell behind its schedule) and the
    /// server did not: a figure about the load generator.
    LoadBound,
    /// Both sides were busy: the figure ranks neither alone.
    Both,
    /// Neither side was busy: the offered load was met (fixed rates), or
    /// latency, not CPU, bounded the point (one connection, a bounded model).
    NotSaturated,
}

impl LimitedBy {
    /// A side whose CPU share reaches this is busy.
    pub const BUSY: f64 = 0.85;

    /// The verdict from each side's CPU share of its own CPUs, and for the
    /// open loop whether the load fell behind its schedule.
    pub fn judge(server_share: f64, load_share: f64, fell_behind: bool) -> LimitedBy {
        let server_busy = server_share >= Self::BUSY;
        let load_busy = load_share >= Self::BUSY || fell_behind;
        match (server_busy, load_busy) {
            (true, true) => LimitedBy::Both,
            (true, false) => LimitedBy::ServerBound,
            (false, true) => LimitedBy::LoadBound,
            (false, false) => LimitedBy::NotSaturated,
        }
    }

    /// Whether the figure says more about the load generator than the server.
    pub fn involves_load(self) -> bool {
        matches!(self, LimitedBy::LoadBound | LimitedBy::Both)
    }

    /// For tables.
    pub fn label(self) -> &'static str {
        match self {
            LimitedBy::ServerBound => "server-bound",
            LimitedBy::LoadBound => "load-bound",
            LimitedBy::Both => "both",
            LimitedBy::NotSaturated => "not saturated",
        }
    }
}

/// The kernel's memory around a point's ramp.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct KernelUse {
    pub before: KernelMemory,
    pub connected: KernelMemory,
}

/// The server's resources during a point.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerUse {
    /// Before any connection.
    pub baseline: ProcSample,
    /// Every connection open (end of the ramp), before traffic.
    pub connected: Option<ProcSample>,
    /// At the end of the measurement.
    pub measured: Option<ProcSample>,
    /// After the idle hold (largest point only).
    pub held: Option<ProcSample>,
    pub peak_rss_kib: u64,
    pub peak_threads: u64,
    pub peak_fds: u64,
    /// Server CPU seconds (user + system) during the measurement.
    pub cpu_s: Option<f64>,
    pub voluntary_switches: Option<u64>,
    pub involuntary_switches: Option<u64>,
    /// Server CPU microseconds per echoed message.
    pub cpu_us_per_message: Option<f64>,
    /// The server's `stopped ...` line, or what went wrong.
    pub exit: String,
}

/// The record's file name in a results folder.
pub const FILE: &str = "results.json";

/// Writes `results` as `dir/results.json`.
pub fn write(dir: &Path, results: &BenchResults) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(results).map_err(io::Error::other)?;
    std::fs::write(dir.join(FILE), json + "\n")
}

/// Why a folder's record could not be read back.
#[derive(Debug)]
pub enum ReadError {
    /// The file is missing or unreadable.
    Unreadable(PathBuf, io::Error),
    /// The file is not a bench record (or one of a schema this build cannot read).
    NotARecord(PathBuf, serde_json::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Unreadable(path, err) => write!(f, "cannot read {}: {err}", path.display()),
            ReadError::NotARecord(path, err) => {
                write!(f, "{} is not a c10k bench record: {err}", path.display())
            }
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads `dir/results.json` back.
pub fn read(dir: &Path) -> Result<BenchResults, ReadError> {
    let path = dir.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => return Err(ReadError::Unreadable(path, err)),
    };
    serde_json::from_str(&text).map_err(|err| ReadError::NotARecord(path, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_names_the_busy_side() {
        use LimitedBy::*;
        assert_eq!(LimitedBy::judge(0.99, 0.40, false), ServerBound);
        assert_eq!(LimitedBy::judge(0.50, 0.97, false), LoadBound);
        assert_eq!(LimitedBy::judge(0.95, 0.96, false), Both);
        assert_eq!(LimitedBy::judge(0.20, 0.25, false), NotSaturated);
        // A load that fell behind its schedule limited the point, busy or not.
        assert_eq!(LimitedBy::judge(0.20, 0.25, true), LoadBound);
        assert_eq!(LimitedBy::judge(0.90, 0.25, true), Both);
        // The threshold itself counts as busy.
        assert_eq!(LimitedBy::judge(LimitedBy::BUSY, 0.0, false), ServerBound);
        assert!(Both.involves_load() && LoadBound.involves_load());
        assert!(!ServerBound.involves_load() && !NotSaturated.involves_load());
    }
}
