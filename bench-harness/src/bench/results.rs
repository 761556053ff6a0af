//! The schema of `results.json`, and the figures derived from it (medians
//! over repetitions, per-model summaries). The views (plots, CSV, README)
//! live in [`crate::results_folder`] and read only this.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use load::machine::Machine;
use load::report::{EncodedHistograms, Results};
use process_stats::ProcSample;

/// Bumped when a field changes meaning.
pub(crate) const SCHEMA: u32 = 1;

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
    /// Slope of server RSS against open connections, across the closed-loop points.
    pub(crate) bytes_per_connection: Option<f64>,
    /// RSS per idle connection after the hold at the largest point.
    pub(crate) idle_bytes_per_connection: Option<f64>,
    /// Seconds from the first connect to the last handshake at the largest point, if all were served.
    pub(crate) time_to_largest_s: Option<f64>,
    /// Connections served at the largest point.
    pub(crate) largest_served: Option<(usize, usize)>,
}

/// The key repetitions share.
type PointKey = (String, Loop, usize, usize, Option<u64>);

fn key(point: &Point) -> PointKey {
    (
        point.model.clone(),
        point.mode,
        point.connections,
        point.size,
        point.rate.map(|r| r.to_bits()),
    )
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
    /// Points grouped by everything but the repetition.
    pub(crate) fn grouped(&self) -> BTreeMap<PointKey, Vec<&Point>> {
        let mut groups: BTreeMap<PointKey, Vec<&Point>> = BTreeMap::new();
        for point in &self.points {
            groups.entry(key(point)).or_default().push(point);
        }
        groups
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
        let key = (
            model.to_string(),
            mode,
            connections,
            size,
            rate.map(|r| r.to_bits()),
        );
        let group = self.grouped().remove(&key)?;
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
                let throughput = |conns: usize| {
                    self.spread(name, Loop::Closed, conns, size, None, msgs_per_s)
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
                ModelSummary {
                    model: name.to_string(),
                    code_lines: info.code_lines,
                    shared_lines: info.shared_lines,
                    peak_msgs_per_s: peak,
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
