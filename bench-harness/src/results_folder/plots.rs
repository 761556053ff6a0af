//! The SVG plots of a bench run, drawn from its results alone. Text is left
//! to the SVG viewer's fonts, so no font files are needed to draw them.
//!
//! Every model keeps its colour in every plot (its place in the run's model
//! list), legends sit beside the plot area rather than on it. Lines join
//! medians over repetitions, with a bar from the smallest to the largest; a
//! hollow marker is a point where not every connection was served, a cross
//! one the load generator limited too (load-bound, or both sides busy).

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use super::numbers::short_number;
use crate::bench::results::{self, BenchResults, Loop, ModelSummary, Outcome, Point, Spread};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const LEGEND_WIDTH: u32 = 200;

/// One colour per model, in model-list order (Okabe-Ito, then extras).
const COLOURS: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(136, 34, 85),
    RGBColor(68, 170, 153),
];

/// One model's line: its place in the model list (its colour) and its points.
struct Line {
    model: usize,
    points: Vec<Dot>,
}

/// One point of a line: the median over repetitions and how it was limited.
#[derive(Clone, Copy)]
struct Dot {
    x: f64,
    y: f64,
    /// The smallest and largest value over repetitions.
    range: (f64, f64),
    /// Every connection was served.
    complete: bool,
    /// The load generator limited the point too.
    load_bound: bool,
}

/// A bar chart of one per-model figure.
struct Bars {
    file: &'static str,
    title: &'static str,
    unit: &'static str,
    figure: fn(&ModelSummary) -> Option<f64>,
}

/// Where a line's points are: their x value and the matrix point behind it.
struct At {
    x: f64,
    mode: Loop,
    connections: usize,
    size: usize,
    rate: Option<f64>,
}

/// Draws every plot of `results` into `dir`; returns the files written, in
/// the order the README shows them.
pub(crate) fn render(dir: &Path, results: &BenchResults) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    // The headline first: what a message costs each server at fixed rates.
    for &conns in &results.plan.efficiency_conns {
        let file = dir.join(format!("efficiency-{conns}c.svg"));
        efficiency(&file, results, conns)?;
        written.push(file);
    }
    for &size in &results.plan.sizes {
        let file = dir.join(format!("throughput-{size}B.svg"));
        connection_series(&file, results, size, Figure::Throughput)?;
        written.push(file);
    }
    let size = results.base_size();
    for (figure, name) in [
        (Figure::P50, "latency-p50.svg"),
        (Figure::P99, "latency-p99.svg"),
    ] {
        let file = dir.join(name);
        connection_series(&file, results, size, figure)?;
        written.push(file);
    }
    if !results.plan.rates.is_empty() {
        let file = dir.join("latency-vs-rate.svg");
        knee(&file, results)?;
        written.push(file);
    }
    if results.points.iter().any(|p| {
        p.load
            .as_ref()
            .is_some_and(|l| !l.p99_by_second_us.is_empty())
    }) {
        let file = dir.join("p99-over-time.svg");
        over_time(&file, results)?;
        written.push(file);
    }
    let summaries = results.summaries();
    let bars = [
        Bars {
            file: "memory-per-connection.svg",
            title: "Server user-space RSS per idle connection",
            unit: "bytes per connection",
            figure: |s| s.idle_bytes_per_connection.or(s.bytes_per_connection),
        },
        Bars {
            file: "cpu-per-message.svg",
            title: "Server CPU per echoed message",
            unit: "CPU microseconds per message",
            figure: |s| s.cpu_us_per_message,
        },
        Bars {
            file: "time-to-largest.svg",
            title: "Time to connect and handshake every connection",
            unit: "seconds",
            figure: |s| s.time_to_largest_s,
        },
    ];
    for bars in bars {
        let file = dir.join(bars.file);
        bar_chart(&file, results, &summaries, &bars)?;
        written.push(file);
    }
    Ok(written)
}

#[derive(Clone, Copy)]
enum Figure {
    Throughput,
    P50,
    P99,
}

impl Figure {
    fn of(self, point: &Point) -> Option<f64> {
        match self {
            Figure::Throughput => results::msgs_per_s(point),
            Figure::P50 => results::p50_us(point),
            Figure::P99 => results::p99_us(point),
        }
    }
}

/// A figure against connections (log x), one line per model.
fn connection_series(
    file: &Path,
    results: &BenchResults,
    size: usize,
    figure: Figure,
) -> anyhow::Result<()> {
    let (title, unit) = match figure {
        Figure::Throughput => (
            format!("Closed-loop throughput, {size}-byte messages"),
            "messages per second",
        ),
        Figure::P50 => (
            format!("Median echo latency, closed loop, {size}-byte messages"),
            "p50 latency (microseconds)",
        ),
        Figure::P99 => (
            format!("p99 echo latency, closed loop, {size}-byte messages"),
            "p99 latency (microseconds)",
        ),
    };
    let at: Vec<At> = results
        .plan
        .conns
        .iter()
        .map(|&connections| At {
            x: connections as f64,
            mode: Loop::Closed,
            connections,
            size,
            rate: None,
        })
        .collect();
    let lines = lines(results, &at, |p| figure.of(p));
    let log_y = !matches!(figure, Figure::Throughput);
    line_chart(
        file,
        results,
        &title,
        "connections (log scale)",
        unit,
        &lines,
        (true, log_y),
    )
}

/// p99 latency against the rate the load actually offered (open loop):
/// where the knee is. A point whose load fell behind sits left of where it
/// was asked to be, and is crossed.
fn knee(file: &Path, results: &BenchResults) -> anyhow::Result<()> {
    let (connections, size) = (results.plan.rate_conns, results.base_size());
    let at = open_loop(&results.plan.rates, connections, size);
    let mut lines = lines(results, &at, results::p99_us);
    for line in &mut lines {
        let name = &results.models[line.model].name;
        for (dot, a) in line.points.iter_mut().zip(&at) {
            if let Some(achieved) = results.spread(
                name,
                a.mode,
                a.connections,
                a.size,
                a.rate,
                results::achieved_rate,
            ) {
                dot.x = achieved.median.max(1.0);
            }
        }
    }
    let title = format!(
        "p99 latency against offered load ({connections} connections, corrected for coordinated omission)"
    );
    line_chart(
        file,
        results,
        &title,
        "offered messages per second, as achieved (log scale)",
        "p99 latency (microseconds)",
        &lines,
        (true, true),
    )
}

/// Server CPU per message against the fixed offered rates, over `conns` connections.
fn efficiency(file: &Path, results: &BenchResults, conns: usize) -> anyhow::Result<()> {
    let size = results.base_size();
    let at = open_loop(&results.plan.efficiency_rates, conns, size);
    let lines = lines(results, &at, results::cpu_us_per_message);
    let title =
        format!("Server CPU per message at fixed offered rates, {conns} connections, {size} B");
    line_chart(
        file,
        results,
        &title,
        "offered messages per second",
        "server CPU microseconds per message",
        &lines,
        (false, false),
    )
}

/// The corrected p99 of each second at the largest closed-loop point, per
/// model (first repetition): stalls and warm-up drift show as spikes and slopes.
fn over_time(file: &Path, results: &BenchResults) -> anyhow::Result<()> {
    let largest = results.plan.conns.iter().copied().max().unwrap_or(0);
    let size = results.base_size();
    let lines: Vec<Line> = results
        .models
        .iter()
        .enumerate()
        .map(|(model, info)| {
            let first = results
                .repetitions(&info.name, Loop::Closed, largest, size, None)
                .into_iter()
                .find(|p| p.repetition == 0);
            let complete = first.is_some_and(results::fully_served);
            let load_bound = first
                .and_then(|p| p.limited_by)
                .is_some_and(|v| v.involves_load());
            let seconds = first
                .and_then(|p| p.load.as_ref())
                .map_or(&[][..], |l| l.p99_by_second_us.as_slice());
            Line {
                model,
                points: seconds
                    .iter()
                    .enumerate()
                    .filter(|(_, p99)| **p99 > 0.0)
                    .map(|(second, &p99)| Dot {
                        x: second as f64 + 1.0,
                        y: p99,
                        range: (p99, p99),
                        complete,
                        load_bound,
                    })
                    .collect(),
            }
        })
        .collect();
    let title =
        format!("p99 echo latency per second, {largest} connections, closed loop, {size} B");
    line_chart(
        file,
        results,
        &title,
        "second of the measured window (the last point includes the drain after it)",
        "p99 latency (microseconds, log scale)",
        &lines,
        (false, true),
    )
}

/// The open-loop points at `rates` over `connections`, placed at their rate.
fn open_loop(rates: &[f64], connections: usize, size: usize) -> Vec<At> {
    rates
        .iter()
        .map(|&rate| At {
            x: rate,
            mode: Loop::Open,
            connections,
            size,
            rate: Some(rate),
        })
        .collect()
}

/// Each model's median `figure` at each of `at`, with its range.
fn lines(results: &BenchResults, at: &[At], figure: impl Fn(&Point) -> Option<f64>) -> Vec<Line> {
    results
        .models
        .iter()
        .enumerate()
        .map(|(model, info)| Line {
            model,
            points: at
                .iter()
                .filter_map(|a| {
                    let group =
                        results.repetitions(&info.name, a.mode, a.connections, a.size, a.rate);
                    let spread = Spread::of(group.iter().filter_map(|p| figure(p)).collect())?;
                    Some(Dot {
                        x: a.x,
                        y: spread.median,
                        range: (spread.min, spread.max),
                        complete: group.iter().all(|p| p.outcome == Outcome::Ok),
                        load_bound: group
                            .iter()
                            .any(|p| p.limited_by.is_some_and(|v| v.involves_load())),
                    })
                })
                .collect(),
        })
        .collect()
}

/// Lines on a log-x plot; `(x, y, complete)` per point.
fn line_chart(
    file: &Path,
    results: &BenchResults,
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
    (log_x, log_y): (bool, bool),
) -> anyhow::Result<()> {
    let root = SVGBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let all: Vec<(f64, f64)> = lines
        .iter()
        .flat_map(|line| {
            line.points
                .iter()
                .flat_map(|d| [(d.x, d.range.0), (d.x, d.range.1)])
        })
        .collect();
    let (x_min, x_max) = bounds(all.iter().map(|p| p.0), log_x);
    let (y_min, y_max) = bounds(all.iter().map(|p| p.1), log_y);
    let labels = (title, x_label, y_label);
    let (x, y) = (x_min..x_max, y_min..y_max);
    match (log_x, log_y) {
        (true, true) => draw_lines(&plot_area, labels, lines, x.log_scale(), y.log_scale())?,
        (true, false) => draw_lines(&plot_area, labels, lines, x.log_scale(), y)?,
        (false, true) => draw_lines(&plot_area, labels, lines, x, y.log_scale())?,
        (false, false) => draw_lines(&plot_area, labels, lines, x, y)?,
    }
    let shown = lines.iter().filter(|line| !line.points.is_empty());
    legend(&legend_area, results, shown.map(|line| line.model))?;
    root.present()?;
    Ok(())
}

fn draw_lines<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    (title, x_label, y_label): (&str, &str, &str),
    lines: &[Line],
    x: X,
    y: Y,
) -> anyhow::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .x_label_formatter(&|x| short_number(*x))
        .y_label_formatter(&|y| short_number(*y))
        .draw()?;
    for line in lines {
        let colour = COLOURS[line.model % COLOURS.len()];
        chart.draw_series(LineSeries::new(
            line.points.iter().map(|d| (d.x, d.y)),
            colour.stroke_width(2),
        ))?;
        chart.draw_series(
            line.points
                .iter()
                .filter(|d| d.range.0 < d.range.1)
                .map(|d| {
                    PathElement::new([(d.x, d.range.0), (d.x, d.range.1)], colour.stroke_width(1))
                }),
        )?;
        for dot in &line.points {
            let style = if dot.complete {
                colour.filled()
            } else {
                colour.stroke_width(2)
            };
            if dot.load_bound {
                chart.draw_series(std::iter::once(Cross::new(
                    (dot.x, dot.y),
                    6,
                    colour.stroke_width(2),
                )))?;
            } else {
                chart.draw_series(std::iter::once(Circle::new((dot.x, dot.y), 4, style)))?;
            }
        }
    }
    Ok(())
}

/// One bar per model.
fn bar_chart(
    file: &Path,
    results: &BenchResults,
    summaries: &[ModelSummary],
    bars: &Bars,
) -> anyhow::Result<()> {
    let (title, unit, figure) = (bars.title, bars.unit, bars.figure);
    let root = SVGBackend::new(file, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot_area, legend_area) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let values: Vec<(usize, f64)> = summaries
        .iter()
        .enumerate()
        .filter_map(|(i, s)| figure(s).map(|v| (i, v)))
        .collect();
    let max = values
        .iter()
        .map(|v| v.1)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.15;
    let n = summaries.len().max(1);
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..n as f64, 0f64..max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(unit)
        .y_label_formatter(&|y| short_number(*y))
        .draw()?;
    for &(i, value) in &values {
        let colour = COLOURS[i % COLOURS.len()];
        let x = i as f64;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(x + 0.15, 0.0), (x + 0.85, value)],
            colour.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            short_number(value),
            (x + 0.2, value + max * 0.06),
            ("sans-serif", 12),
        )))?;
    }
    if values.is_empty() {
        chart.draw_series(std::iter::once(Text::new(
            "no model reached this point",
            (0.2, max / 2.0),
            ("sans-serif", 14),
        )))?;
    }
    legend(&legend_area, results, values.iter().map(|v| v.0))?;
    root.present()?;
    Ok(())
}

/// Model names with their colours, beside the plot.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    results: &BenchResults,
    shown: impl Iterator<Item = usize>,
) -> anyhow::Result<()> {
    let mut rows = 0;
    for (row, index) in shown.enumerate() {
        let y = 50 + row as i32 * 22;
        let colour = COLOURS[index % COLOURS.len()];
        area.draw(&Rectangle::new([(10, y - 6), (30, y + 6)], colour.filled()))?;
        let name = results.models.get(index).map_or("?", |m| m.name.as_str());
        area.draw(&Text::new(
            name.to_string(),
            (38, y - 7),
            ("sans-serif", 14),
        ))?;
        rows = row + 1;
    }
    let y = 50 + rows as i32 * 22 + 10;
    let notes = [
        "median of repetitions;",
        "bar: smallest to largest",
        "hollow: not every",
        "connection was served",
        "cross: the load generator",
        "limited the point too",
    ];
    for (i, note) in notes.iter().enumerate() {
        area.draw(&Text::new(
            *note,
            (10, y + 14 * i as i32),
            ("sans-serif", 11),
        ))?;
    }
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        low = low.min(v);
        high = high.max(v);
    }
    if !low.is_finite() {
        return (1.0, 10.0);
    }
    if log {
        (low / 1.5, high * 1.5)
    } else {
        (0.0, high * 1.1 + f64::MIN_POSITIVE)
    }
}
