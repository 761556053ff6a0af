//! What each plot of a run shows, computed once from its [`Figures`] and
//! drawn twice: as SVG for readers on GitHub ([`crate::plots`]) and
//! interactive in `report.html` ([`crate::report`]). A chart holds data,
//! not drawing.
//!
//! Every value a line passes through is the median over repetitions, with
//! its band beside it (the middle half from five repetitions on, else the
//! smallest to the largest: [`Spread`]). Each value also carries
//! its state, so that neither view can draw a figure about the load
//! generator, or about a model that served only some of its connections, as
//! ordinary data: see [`State`].

use std::cmp::Ordering;

use serde::Serialize;

use bench::record::Loop;
use load::report::EncodedHistograms;

use crate::figures::{
    At, Figure, Figures, Group, ModelSummary, QUARTILES_FROM, Spread, State, band_words,
};
use crate::numbers::short_number;

/// One plot.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chart {
    /// The SVG's file name; also the chart's id in report.html.
    pub(crate) file: String,
    pub(crate) title: String,
    pub(crate) x: Axis,
    pub(crate) y: Axis,
    pub(crate) body: Body,
    /// What the marks mean, one sentence per line, under the plot.
    pub(crate) caption: Vec<String>,
    /// Draw a marker on every n-th value of a line (and its last): lines
    /// with many values (the spectrum) would drown in markers.
    pub(crate) marker_every: usize,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Axis {
    pub(crate) label: String,
    pub(crate) log: bool,
    /// Values are 1/(1-p) and ticks read as percentiles (the spectrum's x).
    pub(crate) percentile: bool,
    /// Only whole values mean something (seconds of a window): no ticks between.
    pub(crate) whole: bool,
}

impl Axis {
    fn linear(label: impl Into<String>) -> Axis {
        Axis {
            label: label.into(),
            log: false,
            percentile: false,
            whole: false,
        }
    }

    fn log(label: impl Into<String>) -> Axis {
        Axis {
            log: true,
            ..Axis::linear(label)
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Body {
    /// One line per model.
    Lines { series: Vec<Series> },
    /// One horizontal bar per model, every model of the run listed.
    Bars { bars: Vec<Bar> },
    /// A dot plot: one panel per matrix point, in each a row per model
    /// with its median as a dot and the range as a bar, on one x axis.
    Dots {
        panels: Vec<Panel>,
        columns: usize,
        /// The largest value the x axis must hold: every complete value's
        /// range. A partial value beyond it (a bounded model's few
        /// connections) is drawn at the axis's end, its note saying so.
        x_max: f64,
    },
}

/// One matrix point of a dot plot.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Panel {
    pub(crate) title: String,
    /// Every model of the run, in the order the panel lists them.
    pub(crate) rows: Vec<Row>,
}

/// One model's row in a panel: its value (the median as `x`, the range as
/// `min`-`max`), or none, and the value as text or why there is none.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) model: usize,
    pub(crate) value: Option<Dot>,
    pub(crate) note: String,
    /// The value lies beyond the axis (a partial value only).
    pub(crate) off_scale: bool,
}

/// One model's line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Series {
    /// The model's place in `results.models` (its name and style).
    pub(crate) model: usize,
    pub(crate) dots: Vec<Dot>,
}

/// One value of a line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Dot {
    pub(crate) x: f64,
    /// The median over repetitions.
    pub(crate) y: f64,
    /// The band around it ([`Spread::low`], [`Spread::high`]).
    pub(crate) low: f64,
    pub(crate) high: f64,
    /// The repetitions it is made of.
    pub(crate) runs: usize,
    pub(crate) state: State,
    /// The matrix point behind the value (its place in the point list), if one is.
    pub(crate) point: Option<usize>,
}

impl Dot {
    /// The values the y axis must hold for this one: its band, except for a
    /// partial value, which has no band drawn and should not stretch the
    /// axis that the complete values are read on.
    pub(crate) fn extent(&self) -> [f64; 3] {
        match self.state {
            State::Partial => [self.y; 3],
            _ => [self.low, self.high, self.y],
        }
    }
}

/// One model's bar; no value means no bar, and `note` says why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Bar {
    pub(crate) model: usize,
    pub(crate) value: Option<f64>,
    pub(crate) note: String,
}

/// Every chart of a run, in the order the README shows them.
pub(crate) fn charts(figures: &Figures<'_>) -> Vec<Chart> {
    let results = figures.results;
    let mut charts = Vec::new();
    // The headline first: what a message costs each server at fixed rates.
    if !figures.efficiency_points().is_empty() {
        charts.push(efficiency(figures));
    }
    for &size in &results.plan.sizes {
        charts.push(connection_series(figures, size, Figure::MsgsPerS));
    }
    let size = figures.base_size;
    charts.push(connection_series(figures, size, Figure::P50));
    charts.push(connection_series(figures, size, Figure::P99));
    if !results.plan.rates.is_empty() {
        charts.push(knee(figures));
    }
    if results.points.iter().any(|p| p.histograms.is_some()) {
        charts.push(spectrum(figures));
    }
    if results.points.iter().any(|p| {
        p.load
            .as_ref()
            .is_some_and(|l| !l.p99_by_second_us.is_empty())
    }) {
        charts.push(over_time(figures));
    }
    charts.extend(bar_charts(figures));
    charts
}

/// The repetitions of each of the run's models at `at`, in model order
/// (none where a model did not run there).
fn each_model<'f, 'r>(
    figures: &'f Figures<'r>,
    at: At,
) -> impl Iterator<Item = (usize, &'f [&'r bench::record::Point])> {
    (0..figures.results.models.len()).map(move |model| {
        let points = figures.group(model, at).map_or(&[][..], |g| &g.points[..]);
        (model, points)
    })
}

/// A closed-loop figure against connections (log x), one line per model.
fn connection_series(figures: &Figures<'_>, size: usize, figure: Figure) -> Chart {
    let (file, title, y) = match figure {
        Figure::MsgsPerS => (
            format!("throughput-{size}B.svg"),
            format!("Closed-loop throughput, {size}-byte messages"),
            Axis::linear("messages per second"),
        ),
        Figure::P50 => (
            "latency-p50.svg".into(),
            format!("Median echo latency, closed loop, {size}-byte messages"),
            Axis::log("p50 latency (microseconds, log scale)"),
        ),
        _ => (
            "latency-p99.svg".into(),
            format!("p99 echo latency, closed loop, {size}-byte messages"),
            Axis::log("p99 latency (microseconds, log scale)"),
        ),
    };
    let at: Vec<(f64, At)> = figures
        .results
        .plan
        .conns
        .iter()
        .map(|&connections| (connections as f64, At::closed(connections, size)))
        .collect();
    let series = lines(figures, &at, |x, _| x, figure);
    line_chart(
        (file, title),
        (Axis::log("connections (log scale)"), y),
        series,
        Summary::Medians,
        vec![],
    )
}

/// p99 latency against the rate the load actually offered (open loop):
/// where the knee is.
fn knee(figures: &Figures<'_>) -> Chart {
    let (connections, size) = (figures.results.plan.rate_conns, figures.base_size);
    let at = open_loop(&figures.results.plan.rates, connections, size);
    // Placed at the rate the load achieved: one that fell behind sits left.
    let achieved = |x: f64, group: &Group<'_>| {
        group
            .spread(Figure::AchievedRate)
            .map_or(x, |s| s.median.max(1.0))
    };
    let series = lines(figures, &at, achieved, Figure::P99);
    line_chart(
        (
            "latency-vs-rate.svg".into(),
            format!(
                "p99 latency against offered load, {connections} connections, corrected for coordinated omission"
            ),
        ),
        (
            Axis::log("messages per second the load offered, as achieved (log scale)"),
            Axis::log("p99 latency (microseconds, log scale)"),
        ),
        series,
        Summary::Medians,
        vec![
            "A point whose load fell behind its schedule sits left of the rate it asked for."
                .into(),
        ],
    )
}

/// The headline: server CPU per message at each fixed offered rate and
/// connection count, one panel each, the models sorted cheapest first.
fn efficiency(figures: &Figures<'_>) -> Chart {
    let size = figures.base_size;
    let panels: Vec<Panel> = figures
        .efficiency_points()
        .into_iter()
        .map(|(rate, conns)| {
            let at = At::open(rate, conns, size);
            let mut rows: Vec<Row> = (0..figures.results.models.len())
                .map(|model| {
                    let group = figures.group(model, at);
                    let value = group.and_then(|group| {
                        let spread = group.spread(Figure::CpuPerMessage)?;
                        Some(Dot {
                            x: spread.median,
                            y: 0.0,
                            low: spread.low,
                            high: spread.high,
                            runs: spread.runs,
                            state: group.state,
                            point: Some(group.first),
                        })
                    });
                    let note = match (&value, group) {
                        (Some(dot), _) => short_number(dot.x),
                        (None, Some(_)) => "not measured".into(),
                        (None, None) => "not run".into(),
                    };
                    Row {
                        model,
                        value,
                        note,
                        off_scale: false,
                    }
                })
                .collect();
            rows.sort_by(|a, b| {
                sorting(a)
                    .partial_cmp(&sorting(b))
                    .unwrap_or(Ordering::Equal)
            });
            Panel {
                title: format!("{} msg/s over {conns} connections", short_number(rate)),
                rows,
            }
        })
        .collect();
    let mut panels = panels;
    let values = |panels: &[Panel]| -> Vec<Dot> {
        panels
            .iter()
            .flat_map(|p| &p.rows)
            .filter_map(|r| r.value.clone())
            .collect()
    };
    let complete = values(&panels)
        .iter()
        .filter(|dot| dot.state != State::Partial)
        .map(|dot| dot.high)
        .fold(f64::NEG_INFINITY, f64::max);
    // Only partial values: they set the axis, as nothing else would.
    let x_max = if complete.is_finite() {
        complete
    } else {
        values(&panels).iter().map(|dot| dot.x).fold(0.0, f64::max)
    };
    for row in panels.iter_mut().flat_map(|p| &mut p.rows) {
        if row.value.as_ref().is_some_and(|dot| dot.x > x_max) {
            row.off_scale = true;
            row.note.push_str(", off scale");
        }
    }
    let marks: Vec<(State, usize)> = values(&panels)
        .iter()
        .map(|dot| (dot.state, dot.runs))
        .collect();
    Chart {
        file: "efficiency.svg".into(),
        title: format!("Server CPU per message at fixed offered rates, {size} B"),
        x: Axis::linear("server CPU microseconds per message (lower is better)"),
        y: Axis::linear("model, cheapest first"),
        caption: caption(&marks, Summary::Dots, vec![
            "Each panel lists the models cheapest first; a value not about every connection, and a model without one, come last; a value off scale sits at the axis's end.".into(),
        ]),
        // A column per offered rate, a row per connection count.
        body: Body::Dots {
            panels,
            columns: figures.results.plan.efficiency_rates.len().clamp(1, 3),
            x_max,
        },
        marker_every: 1,
    }
}

/// Where a row goes in its panel: complete values by their median, then
/// partial ones (a bounded model), then models without a value.
fn sorting(row: &Row) -> (u8, f64) {
    match &row.value {
        Some(dot) if dot.state != State::Partial => (0, dot.x),
        Some(dot) => (1, dot.x),
        None => (2, 0.0),
    }
}

/// The point whose latency distribution the spectrum shows: the lowest
/// fixed rate over the most connections (every unbounded model keeps up
/// there, and the open loop's latency is corrected), else the first
/// open-loop point, else the closed loop at the reference connections.
fn spectrum_point(figures: &Figures<'_>) -> (Loop, usize, Option<f64>) {
    let plan = &figures.results.plan;
    let lowest = |rates: &[f64]| rates.iter().copied().min_by(f64::total_cmp);
    match (
        plan.efficiency_conns.iter().max(),
        lowest(&plan.efficiency_rates),
    ) {
        (Some(&conns), Some(rate)) => (Loop::Open, conns, Some(rate)),
        _ => match lowest(&plan.rates) {
            Some(rate) => (Loop::Open, plan.rate_conns, Some(rate)),
            None => (Loop::Closed, figures.reference_conns, None),
        },
    }
}

/// Spectrum positions: 1/(1-p) at ten steps per decade, up to 99.999%.
const SPECTRUM_STEPS: u32 = 50;

/// Echo latency by percentile at [`spectrum_point`], per model: the
/// repetitions' histograms added exactly, with each percentile's range
/// over the repetitions as the band.
fn spectrum(figures: &Figures<'_>) -> Chart {
    let (mode, connections, rate) = spectrum_point(figures);
    let size = figures.base_size;
    let series = each_model(figures, At::new(mode, connections, size, rate))
        .map(|(model, group)| {
            let state = State::of(group);
            let histograms: Vec<_> = group
                .iter()
                .filter_map(|p| EncodedHistograms::decode(&p.histograms.as_ref()?.echo).ok())
                .filter(|h| !h.is_empty())
                .collect();
            let mut all = histograms.first().cloned();
            if let Some(all) = &mut all {
                for h in &histograms[1..] {
                    // Histograms of one run share their bounds, so adding cannot fail.
                    let _ = all.add(h);
                }
            }
            let dots = all.map_or_else(Vec::new, |all| {
                (0..=SPECTRUM_STEPS)
                    .map(|step| 10f64.powf(f64::from(step) / 10.0))
                    // Beyond one sample per position the percentile says nothing.
                    .take_while(|&x| x <= all.len() as f64)
                    .map(|x| {
                        let quantile = 1.0 - 1.0 / x;
                        let us = |h: &hdrhistogram::Histogram<u64>| {
                            h.value_at_quantile(quantile) as f64 / 1e3
                        };
                        let each = Spread::of(histograms.iter().map(us).collect());
                        Dot {
                            x,
                            y: us(&all),
                            low: each.map_or(0.0, |s| s.low),
                            high: each.map_or(0.0, |s| s.high),
                            runs: each.map_or(0, |s| s.runs),
                            state,
                            point: None,
                        }
                    })
                    .collect()
            });
            Series { model, dots }
        })
        .collect();
    let place = match rate {
        Some(rate) => format!(
            "{} msg/s over {connections} connections",
            short_number(rate)
        ),
        None => format!("closed loop, {connections} connections"),
    };
    let mut chart = line_chart(
        (
            "latency-spectrum.svg".into(),
            format!("Echo latency by percentile, {place}, {size} B"),
        ),
        (
            Axis {
                percentile: true,
                ..Axis::log("percentile (spaced by 1/(1-p), so the tail gets room)")
            },
            Axis::log("echo latency (microseconds, log scale)"),
        ),
        series,
        Summary::Added {
            corrected: mode == Loop::Open,
        },
        vec!["Markers at 0%, 90%, 99%, 99.9%, ...: one per decade of 1/(1-p).".into()],
    );
    // One marker per decade of 1/(1-p).
    chart.marker_every = 10;
    chart
}

/// The corrected p99 of each second of the window at the largest
/// closed-loop point, per model: stalls and drift show as spikes and slopes.
fn over_time(figures: &Figures<'_>) -> Chart {
    let (largest, size) = (figures.largest, figures.base_size);
    let series = each_model(figures, At::closed(largest, size))
        .map(|(model, group)| {
            let state = State::of(group);
            let seconds: Vec<&[f64]> = group
                .iter()
                .filter_map(|p| Some(p.load.as_ref()?.p99_by_second_us.as_slice()))
                .collect();
            let longest = seconds.iter().map(|s| s.len()).max().unwrap_or(0);
            let dots = (0..longest)
                .filter_map(|second| {
                    let values = seconds
                        .iter()
                        .filter_map(|s| s.get(second).copied())
                        .filter(|&p99| p99 > 0.0)
                        .collect();
                    let spread = Spread::of(values)?;
                    Some(Dot {
                        x: second as f64 + 1.0,
                        y: spread.median,
                        low: spread.low,
                        high: spread.high,
                        runs: spread.runs,
                        state,
                        point: None,
                    })
                })
                .collect();
            Series { model, dots }
        })
        .collect();
    line_chart(
        (
            "p99-over-time.svg".into(),
            format!("p99 echo latency per second, {largest} connections, closed loop, {size} B"),
        ),
        (
            Axis {
                whole: true,
                ..Axis::linear(
                    "second of the measured window (the last includes the drain after it)",
                )
            },
            Axis::log("p99 latency (microseconds, log scale)"),
        ),
        series,
        Summary::Medians,
        vec![],
    )
}

/// The per-model bar charts.
fn bar_charts(figures: &Figures<'_>) -> Vec<Chart> {
    let summaries = &figures.summaries;
    let (largest, reference) = (figures.largest, figures.reference_conns);
    type Figure = fn(&ModelSummary) -> Option<f64>;
    let specs: [(&str, String, &str, Figure); 3] = [
        (
            "memory-per-connection.svg",
            format!("Server user-space memory per idle connection, {largest} connections"),
            "bytes per connection (log scale)",
            |s| s.idle_bytes_per_connection.or(s.bytes_per_connection),
        ),
        (
            "cpu-per-message.svg",
            format!("Server CPU per echoed message, closed loop, {reference} connections"),
            "CPU microseconds per message (lower is better)",
            |s| s.cpu_us_per_message,
        ),
        (
            "time-to-largest.svg",
            format!("Time to connect and handshake {largest} connections"),
            "seconds (log scale)",
            |s| s.time_to_largest_s,
        ),
    ];
    specs
        .into_iter()
        .map(|(file, title, unit, figure)| {
            let bars: Vec<Bar> = summaries
                .iter()
                .enumerate()
                .map(|(model, summary)| {
                    let value = figure(summary).filter(|v| v.is_finite() && *v > 0.0);
                    let note = match (value, summary.largest_served) {
                        (Some(v), _) => short_number(v),
                        (None, Some((served, of))) if served < of => {
                            format!("not measured: served {served} of {of} at once")
                        }
                        (None, _) => "not measured".into(),
                    };
                    Bar { model, value, note }
                })
                .collect();
            let values: Vec<f64> = bars.iter().filter_map(|b| b.value).collect();
            let span = values.iter().copied().fold(0.0, f64::max)
                / values.iter().copied().fold(f64::INFINITY, f64::min);
            // Only a figure spanning orders of magnitude needs a log axis.
            let x = if span > 20.0 {
                Axis::log(unit)
            } else {
                Axis::linear(unit.replace(" (log scale)", ""))
            };
            let mut caption = vec![format!(
                "Medians over {} repetition(s).",
                figures.results.plan.repeat
            )];
            if bars.iter().any(|b| b.value.is_none()) {
                caption.push(
                    "A model without a bar did not serve every connection (bounded by design), so the figure was not measured."
                        .into(),
                );
            }
            Chart {
                file: file.into(),
                title,
                x,
                y: Axis::linear("model"),
                body: Body::Bars { bars },
                caption,
                marker_every: 1,
            }
        })
        .collect()
}

/// The open-loop points at `rates` over `connections`, placed at their rate.
fn open_loop(rates: &[f64], connections: usize, size: usize) -> Vec<(f64, At)> {
    rates
        .iter()
        .map(|&rate| (rate, At::open(rate, connections, size)))
        .collect()
}

/// Each model's median `figure` at each of `at` (an x and its point),
/// with its range and state, placed on the x axis by `place` (the point's
/// own x, or what it achieved).
fn lines(
    figures: &Figures<'_>,
    at: &[(f64, At)],
    place: impl Fn(f64, &Group<'_>) -> f64,
    figure: Figure,
) -> Vec<Series> {
    (0..figures.results.models.len())
        .map(|model| Series {
            model,
            dots: at
                .iter()
                .filter_map(|&(x, at)| {
                    let group = figures.group(model, at)?;
                    let spread = group.spread(figure)?;
                    Some(Dot {
                        x: place(x, group),
                        y: spread.median,
                        low: spread.low,
                        high: spread.high,
                        runs: spread.runs,
                        state: group.state,
                        point: Some(group.first),
                    })
                })
                .collect(),
        })
        .collect()
}

/// How a chart's values were made from the repetitions, in the caption's words.
enum Summary {
    /// The median of the repetitions' values, the band their range.
    Medians,
    /// The same, drawn as dots with a bar for the range.
    Dots,
    /// The repetitions' histograms added, the band each percentile's range.
    Added { corrected: bool },
}

/// A line chart, its caption saying what its marks mean and how many
/// values are not about the server alone.
fn line_chart(
    (file, title): (String, String),
    (x, y): (Axis, Axis),
    series: Vec<Series>,
    summary: Summary,
    notes: Vec<String>,
) -> Chart {
    let marks: Vec<(State, usize)> = series
        .iter()
        .flat_map(|s| &s.dots)
        .map(|d| (d.state, d.runs))
        .collect();
    Chart {
        file,
        title,
        x,
        y,
        caption: caption(&marks, summary, notes),
        body: Body::Lines { series },
        marker_every: 1,
    }
}

/// What a chart's marks mean, counting the values of each state among
/// `marks` (each value's state and repetitions), then `notes`.
fn caption(marks: &[(State, usize)], summary: Summary, notes: Vec<String>) -> Vec<String> {
    let count = |state: State| marks.iter().filter(|&&(s, _)| s == state).count();
    let runs = marks.iter().map(|&(_, runs)| runs).filter(|&runs| runs > 0);
    let (fewest, most) = (runs.clone().min().unwrap_or(1), runs.max().unwrap_or(1));
    let (band, filled, hollow, faded) = match summary {
        Summary::Dots => (
            "the bar",
            "Filled dots",
            "Hollow dots",
            "Faded dots, without a bar",
        ),
        _ => (
            "the band",
            "Filled markers on solid lines",
            "Hollow markers, dashed lines",
            "Faded markers, not joined",
        ),
    };
    let covers = if band_words(fewest) == band_words(most) {
        band_words(most).to_string()
    } else {
        format!(
            "{} where there are {QUARTILES_FROM} or more, else {}",
            band_words(most),
            band_words(fewest)
        )
    };
    let repetitions = if fewest == most {
        format!("{most}")
    } else {
        format!("{fewest} to {most}")
    };
    let spread = if most > 1 {
        format!("medians of {repetitions} repetitions, {band} covering {covers}")
    } else {
        "one repetition, so no spread was measured".to_string()
    };
    let server = count(State::Server);
    let mut caption = vec![match summary {
        Summary::Added { corrected } => format!(
            "Solid lines: every repetition's echoes together{}, a figure about the server; at each percentile the band covers {covers} of the repetitions' values.",
            if corrected {
                ", corrected for coordinated omission"
            } else {
                ""
            }
        ),
        _ if server > 0 => format!(
            "{filled} ({}): figures about the server; {spread}.",
            values(server)
        ),
        _ => format!("No value in this plot is about the server alone; {spread}."),
    }];
    let load_bound = count(State::LoadBound);
    if load_bound > 0 {
        caption.push(format!(
            "{hollow} ({}): the load generator was as busy as the server or behind its schedule, so the value bounds the server rather than measures it.",
            values(load_bound)
        ));
    }
    let partial = count(State::Partial);
    if partial > 0 {
        caption.push(format!(
            "{faded} ({}): not every connection was served (a bounded model), so the value describes only the connections that were.",
            values(partial)
        ));
    }
    caption.extend(notes);
    caption
}

fn values(n: usize) -> String {
    if n == 1 {
        "1 value".into()
    } else {
        format!("{n} values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bench::record::Point;

    /// A closed-loop point at 4 connections, `ready` of them served.
    fn point(outcome: &str, ready: usize, limited_by: &str) -> Point {
        let json = serde_json::json!({
            "model": "m", "loop": "closed", "connections": 4, "size": 64, "rate": null,
            "repetition": 0, "outcome": outcome, "note": null, "histograms": null,
            "server": null, "limited_by": limited_by,
            "load": {
                "connections_requested": 4, "connections_established": ready,
                "connections_ready": ready, "measured_s": 1.0, "messages": 10,
                "messages_per_s": 10.0, "megabytes_per_s": 0.0, "load_cpu_s": null,
                "load_cpu_us_per_message": null, "latency": {}, "fairness": {},
                "errors": serde_json::to_value(load::report::Errors::default()).unwrap()
            }
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_value_is_as_bad_as_its_worst_repetition() {
        let server = point("ok", 4, "server-bound");
        let idle = point("ok", 4, "not-saturated");
        let both = point("ok", 4, "both");
        let load = point("ok", 4, "load-bound");
        let short = point("partial", 1, "not-saturated");
        assert_eq!(State::of(&[&server, &idle]), State::Server);
        assert_eq!(State::of(&[&server, &both]), State::LoadBound);
        assert_eq!(State::of(&[&load]), State::LoadBound);
        // Not every connection served outweighs who was busy.
        assert_eq!(State::of(&[&load, &short]), State::Partial);
        assert_eq!(
            State::of(&[&point("ok", 3, "server-bound")]),
            State::Partial
        );
    }

    /// The committed full run, as `c10k plot` reads it.
    fn committed_run() -> bench::record::BenchResults {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../results/2026-12-06-full-2core-intel-xeon");
        bench::record::read(&dir).unwrap()
    }

    #[test]
    fn the_headline_dot_plot_sorts_each_panel_and_keeps_every_model() {
        let results = committed_run();
        let figures = Figures::of(&results);
        let chart = efficiency(&figures);
        let Body::Dots {
            panels,
            columns,
            x_max,
        } = &chart.body
        else {
            panic!("the headline is a dot plot");
        };
        assert_eq!(panels.len(), figures.efficiency_points().len());
        assert_eq!(*columns, results.plan.efficiency_rates.len());
        for panel in panels {
            let mut models: Vec<usize> = panel.rows.iter().map(|r| r.model).collect();
            models.sort_unstable();
            assert_eq!(models, (0..results.models.len()).collect::<Vec<_>>());
            let keys: Vec<(u8, f64)> = panel.rows.iter().map(sorting).collect();
            assert!(
                keys.is_sorted_by(|a, b| a <= b),
                "{}: {keys:?}",
                panel.title
            );
            for row in &panel.rows {
                let dot = row.value.as_ref().unwrap();
                // The axis holds every complete value; only partial ones run off it.
                assert_eq!(row.off_scale, dot.x > *x_max, "{}", row.note);
                assert!(!row.off_scale || dot.state == State::Partial);
                if dot.state != State::Partial {
                    assert!(dot.high <= *x_max);
                }
            }
        }
        // The bounded models come last at 20k msg/s over 1,000 connections:
        // they served a few.
        let last = panels[4].rows.last().unwrap();
        assert_eq!(panels[4].title, "20k msg/s over 1000 connections");
        assert_eq!(results.models[last.model].name, "blocking");
        assert_eq!(last.value.as_ref().unwrap().state, State::Partial);
    }

    #[test]
    fn spectrum_positions_reach_99_999_percent_in_tenths_of_a_decade() {
        let last = 10f64.powf(f64::from(SPECTRUM_STEPS) / 10.0);
        assert!((1.0 - 1.0 / last - 0.99999).abs() < 1e-9);
        assert_eq!(values(1), "1 value");
        assert_eq!(values(3), "3 values");
    }
}
