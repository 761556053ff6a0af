//! The figures every view shows, derived from the record once.
//!
//! A run records one [`Point`] per model, matrix point and repetition. The
//! views show medians over repetitions, the range beside them, and a state
//! that says whether the value is about the server at all. [`Figures`]
//! groups the repetitions once, computes each figure's [`Spread`] per group,
//! and each model's [`ModelSummary`]; the charts, the README, report.html
//! and the CSV read this table and never go back to the point list to
//! regroup it.

use std::collections::{BTreeSet, HashMap};

use bench::record::{BenchResults, Loop, Outcome, Point};
use serde::Serialize;

/// A figure one repetition of a point yields, if it was measured there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    /// Closed- or open-loop messages per second.
    MsgsPerS,
    /// p50 echo latency, microseconds.
    P50,
    /// p99 echo latency, microseconds.
    P99,
    /// p99.9 echo latency, microseconds.
    P99_9,
    /// Server CPU microseconds per message.
    CpuPerMessage,
    /// The rate the open loop actually offered (sends per second in the window).
    AchievedRate,
    /// User-space RSS per idle connection after the hold, bytes.
    IdleBytesPerConnection,
    /// Kernel memory per open connection, bytes (machine-wide).
    KernelBytesPerConnection,
    /// Seconds from the first connect to the last handshake.
    RampS,
    /// Connections that finished the handshake.
    ConnectionsReady,
}

impl Figure {
    const ALL: [Figure; 10] = [
        Figure::MsgsPerS,
        Figure::P50,
        Figure::P99,
        Figure::P99_9,
        Figure::CpuPerMessage,
        Figure::AchievedRate,
        Figure::IdleBytesPerConnection,
        Figure::KernelBytesPerConnection,
        Figure::RampS,
        Figure::ConnectionsReady,
    ];

    /// This figure at one repetition of a point.
    pub(crate) fn of(self, point: &Point) -> Option<f64> {
        let load = point.load.as_ref();
        let echo = || load?.latency.echo.as_ref();
        match self {
            Figure::MsgsPerS => load.filter(|l| l.messages > 0).map(|l| l.messages_per_s),
            Figure::P50 => Some(echo()?.p50_us),
            Figure::P99 => Some(echo()?.p99_us),
            Figure::P99_9 => Some(echo()?.p99_9_us),
            Figure::CpuPerMessage => point.server.as_ref()?.cpu_us_per_message,
            Figure::AchievedRate => Some(load?.schedule.as_ref()?.achieved_msgs_per_s),
            Figure::IdleBytesPerConnection => {
                let server = point.server.as_ref()?;
                let held = server.held?;
                let ready = load?.connections_ready;
                (ready > 0).then(|| {
                    (held.rss_kib as f64 - server.baseline.rss_kib as f64) * 1024.0 / ready as f64
                })
            }
            Figure::KernelBytesPerConnection => {
                let kernel = point.kernel?;
                let ready = load?.connections_ready;
                let grown = kernel.connected.total_kib() as f64 - kernel.before.total_kib() as f64;
                (ready > 0).then(|| grown * 1024.0 / ready as f64)
            }
            Figure::RampS => load?.ramp_s,
            Figure::ConnectionsReady => load.map(|l| l.connections_ready as f64),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whether every connection asked for was served at a point.
pub(crate) fn fully_served(point: &Point) -> bool {
    point
        .load
        .as_ref()
        .is_some_and(|l| l.connections_ready == point.connections)
}

/// From this many runs on, a band is the middle half of them (first to
/// third quartile), which one outlier on either side cannot move; with
/// fewer, quartiles would be guesses, and the band is the whole range.
pub(crate) const QUARTILES_FROM: usize = 5;

/// The median, range and band of a figure over repetitions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    /// The band views draw and rank by: the quartiles from
    /// [`QUARTILES_FROM`] values on, else `min` and `max`.
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// How many values it is made of.
    pub(crate) runs: usize,
}

impl Spread {
    /// The spread of the finite values among `values`, if there is one.
    pub(crate) fn of(mut values: Vec<f64>) -> Option<Spread> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let (min, max) = (values[0], values[values.len() - 1]);
        let quartiles = values.len() >= QUARTILES_FROM;
        Some(Spread {
            median: quantile(&values, 0.5),
            min,
            max,
            low: if quartiles {
                quantile(&values, 0.25)
            } else {
                min
            },
            high: if quartiles {
                quantile(&values, 0.75)
            } else {
                max
            },
            runs: values.len(),
        })
    }
}

/// The `q` quantile of sorted `values`, interpolating between neighbours
/// (the usual definition: the median of an even count is the mean of the two
/// middle values; the quartiles of 5 are the second and fourth).
fn quantile(values: &[f64], q: f64) -> f64 {
    let position = q * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(values.len() - 1);
    values[below] + (position - below as f64) * (values[above] - values[below])
}

/// What a band over `runs` repetitions covers, for captions and READMEs.
pub(crate) fn band_words(runs: usize) -> &'static str {
    if runs >= QUARTILES_FROM {
        "the middle half (first to third quartile)"
    } else {
        "the whole range (smallest to largest)"
    }
}

/// What a value says about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum State {
    /// Every connection served, and the load generator had room to spare:
    /// a figure about the server.
    Server,
    /// The load generator was as busy as the server, or behind its schedule:
    /// the value bounds the server, it does not measure it.
    LoadBound,
    /// Not every connection was served (a bounded model): the value
    /// describes only the connections that were.
    Partial,
}

impl State {
    /// The state of a value from these repetitions: the worst of them.
    pub(crate) fn of(group: &[&Point]) -> State {
        if group
            .iter()
            .any(|p| p.outcome != Outcome::Ok || !fully_served(p))
        {
            State::Partial
        } else if group
            .iter()
            .any(|p| p.limited_by.is_some_and(|v| v.involves_load()))
        {
            State::LoadBound
        } else {
            State::Server
        }
    }
}

/// A matrix point, the same for every model: which repetitions a value gathers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct At {
    pub(crate) mode: Loop,
    pub(crate) connections: usize,
    pub(crate) size: usize,
    /// The offered rate's bits (open loop): rates are compared exactly.
    rate: Option<u64>,
}

impl At {
    pub(crate) fn closed(connections: usize, size: usize) -> At {
        At::new(Loop::Closed, connections, size, None)
    }

    pub(crate) fn open(rate: f64, connections: usize, size: usize) -> At {
        At::new(Loop::Open, connections, size, Some(rate))
    }

    pub(crate) fn new(mode: Loop, connections: usize, size: usize, rate: Option<f64>) -> At {
        At {
            mode,
            connections,
            size,
            rate: rate.map(f64::to_bits),
        }
    }

    fn of(point: &Point) -> At {
        At::new(point.mode, point.connections, point.size, point.rate)
    }
}

/// One model's repetitions of one matrix point, and what they add up to.
#[derive(Debug)]
pub(crate) struct Group<'r> {
    /// The repetitions, in the record's order.
    pub(crate) points: Vec<&'r Point>,
    /// The first repetition's place in the record's point list.
    pub(crate) first: usize,
    pub(crate) state: State,
    /// Some repetition was load-bound, or both sides were busy.
    pub(crate) involves_load: bool,
    /// Every repetition served every connection.
    pub(crate) all_served: bool,
    /// Each [`Figure`]'s spread over every repetition.
    spreads: [Option<Spread>; Figure::ALL.len()],
    /// The same over the repetitions that served every connection.
    served: [Option<Spread>; Figure::ALL.len()],
}

impl Group<'_> {
    /// `figure` over every repetition.
    pub(crate) fn spread(&self, figure: Figure) -> Option<Spread> {
        self.spreads[figure.index()]
    }

    /// `figure` over the repetitions that served every connection: a bounded
    /// model serving 8 of 100 is not running the point's workload.
    pub(crate) fn served_spread(&self, figure: Figure) -> Option<Spread> {
        self.served[figure.index()]
    }

    fn of<'r>(points: Vec<&'r Point>, first: usize) -> Group<'r> {
        let spreads = |served_only: bool| {
            Figure::ALL.map(|figure| {
                Spread::of(
                    points
                        .iter()
                        .filter(|p| !served_only || fully_served(p))
                        .filter_map(|p| figure.of(p))
                        .collect(),
                )
            })
        };
        Group {
            first,
            state: State::of(&points),
            involves_load: points
                .iter()
                .any(|p| p.limited_by.is_some_and(|v| v.involves_load())),
            all_served: points.iter().all(|p| fully_served(p)),
            spreads: spreads(false),
            served: spreads(true),
            points,
        }
    }
}

/// A model's figures across the matrix, from the medians of repetitions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelSummary {
    pub(crate) model: String,
    pub(crate) code_lines: Option<usize>,
    pub(crate) shared_lines: Option<usize>,
    /// Best closed-loop messages/s and the connection count it came at.
    pub(crate) peak_msgs_per_s: Option<(f64, usize)>,
    /// Closed loop, [`Figures::reference_conns`] connections, smallest size: p99 echo latency.
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

/// The record with every figure the views show, derived once.
#[derive(Debug)]
pub(crate) struct Figures<'r> {
    pub(crate) results: &'r BenchResults,
    /// By the model's place in `results.models` and the matrix point.
    groups: HashMap<(usize, At), Group<'r>>,
    /// One per model, in `results.models` order.
    pub(crate) summaries: Vec<ModelSummary>,
    /// The smallest message size of the plan (the one most points use).
    pub(crate) base_size: usize,
    /// The largest closed-loop connection count.
    pub(crate) largest: usize,
    /// The closed-loop connection count that per-model latency and CPU
    /// figures are read at: the open-loop series' count if the matrix has
    /// it, else the nearest one it has.
    pub(crate) reference_conns: usize,
}

impl<'r> Figures<'r> {
    /// Groups `results`' repetitions and derives every figure.
    pub(crate) fn of(results: &'r BenchResults) -> Figures<'r> {
        let place: HashMap<&str, usize> = results
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.as_str(), i))
            .collect();
        let mut gathered: HashMap<(usize, At), (usize, Vec<&Point>)> = HashMap::new();
        for (index, point) in results.points.iter().enumerate() {
            let Some(&model) = place.get(point.model.as_str()) else {
                continue;
            };
            gathered
                .entry((model, At::of(point)))
                .or_insert_with(|| (index, Vec::new()))
                .1
                .push(point);
        }
        let groups = gathered
            .into_iter()
            .map(|(key, (first, points))| (key, Group::of(points, first)))
            .collect();
        let plan = &results.plan;
        let wanted = plan.rate_conns;
        let mut figures = Figures {
            results,
            groups,
            summaries: Vec::new(),
            base_size: plan.base_size(),
            largest: plan.conns.iter().copied().max().unwrap_or(0),
            reference_conns: plan
                .conns
                .iter()
                .copied()
                .min_by_key(|&conns| conns.abs_diff(wanted))
                .unwrap_or(wanted),
        };
        figures.summaries = (0..results.models.len())
            .map(|model| figures.summary(model))
            .collect();
        figures
    }

    /// Model `model`'s repetitions at `at`, if it ran there.
    pub(crate) fn group(&self, model: usize, at: At) -> Option<&Group<'r>> {
        self.groups.get(&(model, at))
    }

    /// Whether a bounded model ran some point fewer times than the plan
    /// gives it: the bench runs it once where it falls short by design.
    pub(crate) fn bounded_ran_once(&self) -> bool {
        let plan = &self.results.plan;
        self.groups.iter().any(|(&(model, at), group)| {
            self.results.models[model].bounded_because.is_some()
                && group.points.len()
                    < plan.repetitions(at.rate.map(f64::from_bits), at.connections, at.size)
        })
    }

    /// The fixed-rate points, `(rate, connections)`, in plan order.
    pub(crate) fn efficiency_points(&self) -> Vec<(f64, usize)> {
        self.results.plan.efficiency_points()
    }

    fn summary(&self, model: usize) -> ModelSummary {
        let info = &self.results.models[model];
        let plan = &self.results.plan;
        let closed = |conns| self.group(model, At::closed(conns, self.base_size));
        let peak = plan
            .conns
            .iter()
            .filter_map(|&conns| {
                let throughput = closed(conns)?.served_spread(Figure::MsgsPerS)?;
                Some((throughput.median, conns))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let reference = closed(self.reference_conns);
        let at_reference = |figure| Some(reference?.served_spread(figure)?.median);
        let largest = closed(self.largest);
        let at_largest = |figure| Some(largest?.spread(figure)?.median);
        let served = largest.and_then(|g| g.spread(Figure::ConnectionsReady));
        let all_served = served.is_some_and(|s| s.min as usize == self.largest);
        ModelSummary {
            model: info.name.clone(),
            code_lines: info.code_lines,
            shared_lines: info.shared_lines,
            peak_msgs_per_s: peak,
            peak_involves_load: peak
                .and_then(|(_, conns)| closed(conns))
                .is_some_and(|g| g.involves_load),
            p99_us_at_rate_conns: at_reference(Figure::P99),
            cpu_us_per_message: at_reference(Figure::CpuPerMessage),
            bytes_per_connection: self.rss_slope(&info.name),
            idle_bytes_per_connection: at_largest(Figure::IdleBytesPerConnection)
                .filter(|_| all_served),
            kernel_bytes_per_connection: at_largest(Figure::KernelBytesPerConnection)
                .filter(|_| all_served),
            time_to_largest_s: at_largest(Figure::RampS).filter(|_| all_served),
            largest_served: served.map(|s| (s.median as usize, self.largest)),
        }
    }

    /// Least-squares slope of RSS (with every connection open, before
    /// traffic) against open connections, in bytes per connection, over
    /// the closed-loop points where every connection was served.
    fn rss_slope(&self, model: &str) -> Option<f64> {
        let samples: Vec<(f64, f64)> = self
            .results
            .points
            .iter()
            .filter(|p| p.model == model && p.mode == Loop::Closed && p.size == self.base_size)
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
            .collect::<BTreeSet<_>>()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_the_median_and_range_of_finite_values() {
        let spread = Spread::of(vec![3.0, 1.0, f64::NAN, 2.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (2.0, 1.0, 3.0));
        // Too few runs for quartiles: the band is the range.
        assert_eq!((spread.low, spread.high, spread.runs), (1.0, 3.0, 3));
        assert_eq!(Spread::of(vec![1.0, 4.0]).unwrap().median, 2.5);
        assert!(Spread::of(vec![]).is_none());
    }

    #[test]
    fn from_five_runs_one_outlier_stays_outside_the_band() {
        let spread = Spread::of(vec![10.0, 11.0, 12.0, 13.0, 90.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (12.0, 10.0, 90.0));
        assert_eq!((spread.low, spread.high), (11.0, 13.0));
        // Six: the quartiles interpolate between neighbours.
        let six = Spread::of(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        assert_eq!((six.low, six.median, six.high), (2.25, 3.5, 4.75));
    }
}
