//! The schema of `results.json`, and the figures derived from it (medians
//! over repetitions, per-model summaries). The views (plots, CSV, README)
//! live in [`crate::results_folder`] and read only this.

use serde::{Deserialize, Serialize};

use load::machine::Machine;
use load::report::{EncodedHistograms, Results};
use process_stats::{KernelMemory, ProcSample};

/// Bumped when a field changes meaning. 2: the window counts echoes by
/// completion time, points carry a verdict, the plan fixed-rate points and CPU sets.
pub(crate) const SCHEMA: u32 = 2;

/// Everything one `c10k bench` run recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BenchResults {
    pub(crate) schema: u32,
    /// The command line that produced this file.
    pub(crate) command: String,
    /// UTC date the run started (YYYY-MM-DD).
    pub(crate) date: String,
    pub(crate) c10k_version: String,
    pub(crate) git_revision: String,
    pub(crate) machine: Machine,
    pub(crate) limits: Limits,
    pub(crate) plan: Plan,
    pub(crate) models: Vec<ModelInfo>,
    pub(crate) points: Vec<Point>,
}

/// System limits that shape what a run can reach.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Limits {
    pub(crate) open_files: u64,
    pub(crate) somaxconn: Option<u64>,
    pub(crate) local_port_range: Option<String>,
    pub(crate) max_map_count: Option<u64>,
}

/// What was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) conns: Vec<usize>,
    pub(crate) sizes: Vec<usize>,
    pub(crate) rates: Vec<f64>,
    pub(crate) rate_conns: usize,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) hold_s: f64,
    pub(crate) connect_timeout_s: f64,
    pub(crate) repeat: usize,
    pub(crate) pin: bool,
    /// The fixed-rate efficiency series: open-loop points at each of these
    /// offered rates over each of `efficiency_conns` connections.
    #[serde(default)]
    pub(crate) efficiency_rates: Vec<f64>,
    #[serde(default)]
    pub(crate) efficiency_conns: Vec<usize>,
    /// The CPUs the server runs on (empty: unpinned).
    #[serde(default)]
    pub(crate) server_cpus: Vec<usize>,
    /// The CPUs the load runs on (empty: unpinned).
    #[serde(default)]
    pub(crate) load_cpus: Vec<usize>,
    /// Unrecorded traffic before the first point, so that the first model
    /// measured does not pay for a cold machine.
    #[serde(default)]
    pub(crate) machine_warmup_s: f64,
}

impl Plan {
    /// Whether both sides run on CPUs of their own.
    pub(crate) fn pinned(&self) -> bool {
        !self.server_cpus.is_empty() && !self.load_cpus.is_empty()
    }
}

/// A model as it entered the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ModelInfo {
    pub(crate) name: String,
    pub(crate) summary: String,
    /// Non-blank, non-comment lines of the model crate (tests excluded).
    pub(crate) code_lines: Option<usize>,
    /// The same count for the shared serving code of the `model` crate that
    /// the model runs on (absent in records made before it was counted).
    #[serde(default)]
    pub(crate) shared_lines: Option<usize>,
    /// Why the model serves a bounded number of connections at once, if it does.
    pub(crate) bounded_because: Option<String>,
}

/// Closed loop (maximum throughput) or open loop (a fixed offered rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Loop {
    Closed,
    Open,
}

/// How a point went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Outcome {
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
pub(crate) struct Point {
    pub(crate) model: String,
    #[serde(rename = "loop")]
    pub(crate) mode: Loop,
    pub(crate) connections: usize,
    pub(crate) size: usize,
    /// Offered messages per second (open loop).
    pub(crate) rate: Option<f64>,
    pub(crate) repetition: usize,
    pub(crate) outcome: Outcome,
    /// What happened, in a sentence, when it was not simply `ok`.
    pub(crate) note: Option<String>,
    /// What `c10k load --json` records as results.
    pub(crate) load: Option<Results>,
    /// The load's histograms, as `c10k load --json` encodes them.
    pub(crate) histograms: Option<EncodedHistograms>,
    pub(crate) server: Option<ServerUse>,
    /// What limited the point, from both sides' CPU use and the open loop's schedule.
    #[serde(default)]
    pub(crate) limited_by: Option<LimitedBy>,
    /// The share of the server's CPUs it kept busy during the window.
    #[serde(default)]
    pub(crate) server_cpu_share: Option<f64>,
    /// The share of the load's CPUs it kept busy during the window.
    #[serde(default)]
    pub(crate) load_cpu_share: Option<f64>,
    /// The kernel's memory, machine-wide, before connecting and with every
    /// connection open (both ends of each connection live on this machine).
    #[serde(default)]
    pub(crate) kernel: Option<KernelUse>,
    /// The point's HdrHistogram interval log, relative to the results folder.
    #[serde(default)]
    pub(crate) hlog: Option<String>,
}

/// What limited a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum LimitedBy {
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
    pub(crate) const BUSY: f64 = 0.85;

    /// The verdict from each side's CPU share of its own CPUs, and for the
    /// open loop whether the load fell behind its schedule.
    pub(crate) fn judge(server_share: f64, load_share: f64, fell_behind: bool) -> LimitedBy {
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
    pub(crate) fn involves_load(self) -> bool {
        matches!(self, LimitedBy::LoadBound | LimitedBy::Both)
    }

    /// For tables.
    pub(crate) fn label(self) -> &'static str {
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
pub(crate) struct KernelUse {
    pub(crate) before: KernelMemory,
    pub(crate) connected: KernelMemory,
}

/// The server's resources during a point.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ServerUse {
    /// Before any connection.
    pub(crate) baseline: ProcSample,
    /// Every connection open (end of the ramp), before traffic.
    pub(crate) connected: Option<ProcSample>,
    /// At the end of the measurement.
    pub(crate) measured: Option<ProcSample>,
    /// After the idle hold (largest point only).
    pub(crate) held: Option<ProcSample>,
    pub(crate) peak_rss_kib: u64,
    pub(crate) peak_threads: u64,
    pub(crate) peak_fds: u64,
    /// Server CPU seconds (user + system) during the measurement.
    pub(crate) cpu_s: Option<f64>,
    pub(crate) voluntary_switches: Option<u64>,
    pub(crate) involuntary_switches: Option<u64>,
    /// Server CPU microseconds per echoed message.
    pub(crate) cpu_us_per_message: Option<f64>,
    /// The server's `stopped ...` line, or what went wrong.
    pub(crate) exit: String,
}

/// A model's figures across the matrix, from the medians of repetitions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct ModelSummary {
    pub(crate) model: String,
    pub(crate) code_lines: Option<usize>,
    pub(crate) shared_lines: Option<usize>,
    /// Best closed-loop messages/s and the connection count it came at.
    pub(crate) peak_msgs_per_s: Option<(f64, usize)>,
    /// Closed loop, [`BenchResults::reference_conns`] connections, smallest size: p99 echo latency.
    pub(crate) p99_us_at_rate_conns: Option<f64>,
    /// Server CPU microseconds per message at that point.
    pub(crate) cpu_us_per_message: Option<f64>,
    /// Whether the point the peak came from was limited by the load as well.
    pub(crate) peak_involves_load: bool,
    /// Slope of user-space RSS against open connections, across the closed-loop points.
    pub(crate) bytes_per_connection: Option<f64>,
    /// User-space RSS per idle connection after the hold at the largest point.
    pub(crate) idle_bytes_per_connection: Option<f64>,
    /// Kernel memory (stacks, unreclaimable slab, TCP buffers) per
    /// connection at the largest point: a machine-wide estimate that
    /// includes the load's end of each connection.
    pub(crate) kernel_bytes_per_connection: Option<f64>,
    /// Seconds from the first connect to the last handshake at the largest point, if all were served.
    pub(crate) time_to_largest_s: Option<f64>,
    /// Connections served at the largest point.
    pub(crate) largest_served: Option<(usize, usize)>,
}

/// The median and range of a figure over repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let mid = values.len() / 2;
        let median = if values.len() % 2 == 1 {
            values[mid]
        } else {
            (values[mid - 1] + values[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: values[0],
            max: values[values.len() - 1],
        })
    }
}

impl BenchResults {
    /// The repetitions of one point.
    pub(crate) fn repetitions(
        &self,
        model: &str,
        mode: Loop,
        connections: usize,
        size: usize,
        rate: Option<f64>,
    ) -> Vec<&Point> {
        let rate = rate.map(f64::to_bits);
        self.points
            .iter()
            .filter(|p| {
                p.model == model
                    && p.mode == mode
                    && p.connections == connections
                    && p.size == size
                    && p.rate.map(f64::to_bits) == rate
            })
            .collect()
    }

    /// The fixed-rate points, `(rate, connections)`, in plan order.
    pub(crate) fn efficiency_points(&self) -> Vec<(f64, usize)> {
        self.plan
            .efficiency_conns
            .iter()
            .flat_map(|&conns| {
                self.plan
                    .efficiency_rates
                    .iter()
                    .map(move |&rate| (rate, conns))
            })
            .collect()
    }

    /// The spread of `figure` over the repetitions of one point.
    pub(crate) fn spread(
        &self,
        model: &str,
        mode: Loop,
        connections: usize,
        size: usize,
        rate: Option<f64>,
        figure: impl Fn(&Point) -> Option<f64>,
    ) -> Option<Spread> {
        let group = self.repetitions(model, mode, connections, size, rate);
        Spread::of(group.into_iter().filter_map(figure).collect())
    }

    /// The smallest message size of the plan (the one most points use).
    pub(crate) fn base_size(&self) -> usize {
        self.plan.sizes.iter().copied().min().unwrap_or(64)
    }

    /// The closed-loop connection count that per-model latency and CPU
    /// figures are read at: the open-loop series' count if the matrix has
    /// it, else the nearest one it has.
    pub(crate) fn reference_conns(&self) -> usize {
        let wanted = self.plan.rate_conns;
        self.plan
            .conns
            .iter()
            .copied()
            .min_by_key(|&conns| conns.abs_diff(wanted))
            .unwrap_or(wanted)
    }

    /// Per-model figures for tables and plots.
    pub(crate) fn summaries(&self) -> Vec<ModelSummary> {
        let size = self.base_size();
        let largest = self.plan.conns.iter().copied().max().unwrap_or(0);
        self.models
            .iter()
            .map(|info| {
                let name = info.name.as_str();
                // Only where every connection was served: a bounded model
                // serving 8 of 100 is not running the point's workload.
                let throughput = |conns: usize| {
                    self.spread(name, Loop::Closed, conns, size, None, |p| {
                        fully_served(p).then(|| msgs_per_s(p)).flatten()
                    })
                    .map(|s| s.median)
                };
                let peak = self
                    .plan
                    .conns
                    .iter()
                    .filter_map(|&conns| throughput(conns).map(|t| (t, conns)))
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                let reference = self.reference_conns();
                // Only where every connection was served: a bounded model's
                // latency over the few it served would flatter it.
                let at_rate_conns = |figure: fn(&Point) -> Option<f64>| {
                    self.spread(name, Loop::Closed, reference, size, None, |p| {
                        let served = p.load.as_ref()?.connections_ready == p.connections;
                        served.then(|| figure(p)).flatten()
                    })
                    .map(|s| s.median)
                };
                let largest_point = self.spread(name, Loop::Closed, largest, size, None, |p| {
                    p.load.as_ref().map(|l| l.connections_ready as f64)
                });
                let all_served = largest_point.is_some_and(|s| s.min as usize == largest);
                let peak_involves_load = peak.is_some_and(|(_, conns)| {
                    self.repetitions(name, Loop::Closed, conns, size, None)
                        .iter()
                        .any(|p| p.limited_by.is_some_and(LimitedBy::involves_load))
                });
                let kernel_bytes_per_connection = all_served
                    .then(|| {
                        self.spread(
                            name,
                            Loop::Closed,
                            largest,
                            size,
                            None,
                            kernel_bytes_per_connection,
                        )
                    })
                    .flatten()
                    .map(|s| s.median);
                ModelSummary {
                    model: name.to_string(),
                    code_lines: info.code_lines,
                    shared_lines: info.shared_lines,
                    peak_msgs_per_s: peak,
                    peak_involves_load,
                    kernel_bytes_per_connection,
                    p99_us_at_rate_conns: at_rate_conns(p99_us),
                    cpu_us_per_message: at_rate_conns(|p| p.server.as_ref()?.cpu_us_per_message),
                    bytes_per_connection: self.rss_slope(name, size),
                    idle_bytes_per_connection: self
                        .spread(
                            name,
                            Loop::Closed,
                            largest,
                            size,
                            None,
                            idle_bytes_per_connection,
                        )
                        .map(|s| s.median)
                        .filter(|_| all_served),
                    time_to_largest_s: if all_served {
                        self.spread(name, Loop::Closed, largest, size, None, |p| {
                            p.load.as_ref()?.ramp_s
                        })
                        .map(|s| s.median)
                    } else {
                        None
                    },
                    largest_served: largest_point.map(|s| (s.median as usize, largest)),
                }
            })
            .collect()
    }

    /// Least-squares slope of RSS (with every connection open, before
    /// traffic) against open connections, in bytes per connection, over
    /// the points where every connection was served.
    fn rss_slope(&self, model: &str, size: usize) -> Option<f64> {
        let samples: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| p.model == model && p.mode == Loop::Closed && p.size == size)
            .filter_map(|p| {
                let load = p.load.as_ref()?;
                // Where connections waited unserved, RSS says little about what one costs.
                if load.connections_ready < p.connections {
                    return None;
                }
                let ready = load.connections_ready as f64;
                let rss = p.server.as_ref()?.connected?.rss_kib as f64 * 1024.0;
                Some((ready, rss))
            })
            .collect();
        let n = samples.len() as f64;
        let distinct = samples
            .iter()
            .map(|(x, _)| x.to_bits())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if distinct < 2 {
            return None;
        }
        let mean_x = samples.iter().map(|(x, _)| x).sum::<f64>() / n;
        let mean_y = samples.iter().map(|(_, y)| y).sum::<f64>() / n;
        let covariance: f64 = samples
            .iter()
            .map(|(x, y)| (x - mean_x) * (y - mean_y))
            .sum();
        let variance: f64 = samples.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
        (variance > 0.0).then(|| covariance / variance)
    }
}

/// Whether every connection asked for was served at a point.
pub(crate) fn fully_served(point: &Point) -> bool {
    point
        .load
        .as_ref()
        .is_some_and(|l| l.connections_ready == point.connections)
}

/// Kernel memory per open connection at a point, in bytes (machine-wide).
pub(crate) fn kernel_bytes_per_connection(point: &Point) -> Option<f64> {
    let kernel = point.kernel?;
    let ready = point.load.as_ref()?.connections_ready;
    let grown = kernel.connected.total_kib() as f64 - kernel.before.total_kib() as f64;
    (ready > 0).then(|| grown * 1024.0 / ready as f64)
}

/// Server CPU microseconds per message of a point.
pub(crate) fn cpu_us_per_message(point: &Point) -> Option<f64> {
    point.server.as_ref()?.cpu_us_per_message
}

/// p99.9 echo latency of a point, in microseconds.
pub(crate) fn p99_9_us(point: &Point) -> Option<f64> {
    Some(point.load.as_ref()?.latency.echo.as_ref()?.p99_9_us)
}

/// The rate the open loop actually offered (sends per second in the window).
pub(crate) fn achieved_rate(point: &Point) -> Option<f64> {
    Some(point.load.as_ref()?.schedule.as_ref()?.achieved_msgs_per_s)
}

/// Closed- or open-loop messages per second of a point.
pub(crate) fn msgs_per_s(point: &Point) -> Option<f64> {
    point
        .load
        .as_ref()
        .filter(|l| l.messages > 0)
        .map(|l| l.messages_per_s)
}

/// p99 echo latency of a point, in microseconds.
pub(crate) fn p99_us(point: &Point) -> Option<f64> {
    Some(point.load.as_ref()?.latency.echo.as_ref()?.p99_us)
}

/// p50 echo latency of a point, in microseconds.
pub(crate) fn p50_us(point: &Point) -> Option<f64> {
    Some(point.load.as_ref()?.latency.echo.as_ref()?.p50_us)
}

/// RSS per idle connection after the hold, in bytes.
pub(crate) fn idle_bytes_per_connection(point: &Point) -> Option<f64> {
    let server = point.server.as_ref()?;
    let held = server.held?;
    let ready = point.load.as_ref()?.connections_ready;
    (ready > 0)
        .then(|| (held.rss_kib as f64 - server.baseline.rss_kib as f64) * 1024.0 / ready as f64)
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

    #[test]
    fn the_spread_is_the_median_and_range_of_finite_values() {
        let spread = Spread::of(vec![3.0, 1.0, f64::NAN, 2.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (2.0, 1.0, 3.0));
        assert_eq!(Spread::of(vec![1.0, 4.0]).unwrap().median, 2.5);
        assert!(Spread::of(vec![]).is_none());
    }
}
