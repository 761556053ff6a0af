//! The SVG plots of a run, drawn from its [`Chart`]s. Text is left to the
//! SVG viewer's fonts, so no font files are needed, and GitHub renders the
//! files inline.
//!
//! Lines join the medians of values about the server, with a band around
//! them (the repetitions' middle half from five on, else their range). A value the load generator bounded is
//! a hollow marker on a dashed segment; a value from a model that did not
//! serve every connection is a faded marker that no line joins. The caption
//! under each plot says so, with counts. Bars are horizontal, one row per
//! model with its name beside it, so models without a figure still have a
//! row that says why.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use bench::record::BenchResults;

use crate::ViewError;
use crate::charts::{Axis, Bar, Body, Chart, Dot, Panel, Series};
use crate::figures::State;
use crate::numbers::{percentile_label, short_number};
use crate::palette::ModelStyle;

const WIDTH: u32 = 960;
const PLOT_HEIGHT: u32 = 520;
const LEGEND_WIDTH: u32 = 190;
const CAPTION_LINE: u32 = 16;
/// Bar rows, each this tall.
const BAR_ROW: u32 = 34;
/// A dot plot's title, above its panels.
const DOTS_TITLE: u32 = 34;
/// A dot plot panel's rows, each this tall, and what the panel adds to them
/// (its title, margins and x axis).
const DOT_ROW: u32 = 22;
const PANEL_FRAME: u32 = 92;
const MARKER_RADIUS: f64 = 5.0;
/// How strongly a partial value's marker is drawn.
const FADED: f64 = 0.35;
/// How strongly the spread band is drawn.
const BAND: f64 = 0.16;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// What every part of one plot draws with: the whole canvas (markers and
/// labels are placed on it in pixels), the chart and the run's models.
struct Canvas<'a, 'b> {
    root: &'a Area<'b>,
    results: &'a BenchResults,
    chart: &'a Chart,
    styles: &'a [ModelStyle],
}

/// Draws every chart into `dir`; returns the files written, in order.
pub(crate) fn render(
    dir: &Path,
    results: &BenchResults,
    charts: &[Chart],
    styles: &[ModelStyle],
) -> Result<Vec<PathBuf>, ViewError> {
    let mut written = Vec::new();
    for chart in charts {
        let file = dir.join(&chart.file);
        draw(&file, results, chart, styles)?;
        written.push(file);
    }
    Ok(written)
}

fn draw(
    file: &Path,
    results: &BenchResults,
    chart: &Chart,
    styles: &[ModelStyle],
) -> Result<(), ViewError> {
    let caption_height = CAPTION_LINE * chart.caption.len() as u32 + 12;
    let plot_height = match &chart.body {
        Body::Lines { .. } => PLOT_HEIGHT,
        Body::Bars { bars } => 90 + BAR_ROW * bars.len() as u32,
        Body::Dots {
            panels, columns, ..
        } => {
            let rows = panels.iter().map(|p| p.rows.len()).max().unwrap_or(0) as u32;
            let grid_rows = panels.len().div_ceil(*columns) as u32;
            DOTS_TITLE + grid_rows * (PANEL_FRAME + DOT_ROW * rows)
        }
    };
    let root = SVGBackend::new(file, (WIDTH, plot_height + caption_height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(plot_height);
    for (i, line) in chart.caption.iter().enumerate() {
        bottom.draw(&Text::new(
            line.clone(),
            (16, 4 + CAPTION_LINE as i32 * i as i32),
            ("sans-serif", 12),
        ))?;
    }
    let canvas = Canvas {
        root: &root,
        results,
        chart,
        styles,
    };
    match &chart.body {
        Body::Lines { series } => {
            let (plot, legend_area) = top.split_horizontally(WIDTH - LEGEND_WIDTH);
            lines(&canvas, &plot, series)?;
            let shown = series.iter().filter(|s| !s.dots.is_empty());
            legend(&canvas, &legend_area, shown.map(|s| s.model))?;
        }
        Body::Bars { bars } => self::bars(&canvas, &top, bars)?,
        Body::Dots {
            panels,
            columns,
            x_max,
        } => dots(&canvas, &top, panels, *columns, *x_max)?,
    }
    root.present()?;
    Ok(())
}

/// The line chart, on whichever mix of log and linear axes it asks for.
fn lines(canvas: &Canvas<'_, '_>, area: &Area<'_>, series: &[Series]) -> Result<(), ViewError> {
    let chart = canvas.chart;
    let dots = || series.iter().flat_map(|s| &s.dots);
    let (x_min, x_max) = bounds(dots().map(|d| d.x), chart.x.log);
    let (y_min, y_max) = bounds(dots().flat_map(Dot::extent), chart.y.log);
    let (x, y) = (x_min..x_max, y_min..y_max);
    match (chart.x.log, chart.y.log) {
        (true, true) => draw_lines(canvas, area, series, x.log_scale(), y.log_scale()),
        (true, false) => draw_lines(canvas, area, series, x.log_scale(), y),
        (false, true) => draw_lines(canvas, area, series, x, y.log_scale()),
        (false, false) => draw_lines(canvas, area, series, x, y),
    }
}

fn draw_lines<X, Y>(
    canvas: &Canvas<'_, '_>,
    area: &Area<'_>,
    series: &[Series],
    x: X,
    y: Y,
) -> Result<(), ViewError>
where
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let Canvas {
        root,
        chart,
        styles,
        ..
    } = *canvas;
    let mut plot = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)?;
    let x_format = tick_format(&chart.x);
    let y_format = tick_format(&chart.y);
    plot.configure_mesh()
        .x_desc(&chart.x.label)
        .y_desc(&chart.y.label)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for line in series {
        let colour = rgb(styles[line.model]);
        // The band and the joins stop at a partial value: it is not the same workload.
        for run in line
            .dots
            .split(|d| d.state == State::Partial)
            .filter(|run| !run.is_empty())
        {
            if run.len() > 1 {
                let band: Vec<(f64, f64)> = run
                    .iter()
                    .map(|d| (d.x, d.high))
                    .chain(run.iter().rev().map(|d| (d.x, d.low)))
                    .collect();
                plot.draw_series(std::iter::once(Polygon::new(
                    band,
                    colour.mix(BAND).filled(),
                )))?;
            }
            for pair in run.windows(2) {
                let ends = [(pair[0].x, pair[0].y), (pair[1].x, pair[1].y)];
                if pair.iter().all(|d| d.state == State::Server) {
                    plot.draw_series(LineSeries::new(ends, colour.stroke_width(2)))?;
                } else {
                    plot.draw_series(DashedLineSeries::new(ends, 6, 5, colour.stroke_width(2)))?;
                }
            }
        }
        let last = line.dots.len().saturating_sub(1);
        for (i, dot) in line.dots.iter().enumerate() {
            if i % chart.marker_every.max(1) == 0 || i == last {
                let centre = plot.backend_coord(&(dot.x, dot.y));
                marker(root, centre, dot.state, styles[line.model])?;
            }
        }
    }
    Ok(())
}

/// A value's marker at `centre` (pixels): filled (about the server),
/// hollow (load-bound) or faded (partial).
fn marker(
    root: &Area<'_>,
    centre: (i32, i32),
    state: State,
    style: ModelStyle,
) -> Result<(), ViewError> {
    let outline: Vec<(i32, i32)> = style
        .marker
        .iter()
        .map(|&(x, y)| {
            (
                centre.0 + (x * MARKER_RADIUS).round() as i32,
                centre.1 + (y * MARKER_RADIUS).round() as i32,
            )
        })
        .collect();
    let mut closed = outline.clone();
    closed.push(outline[0]);
    let colour = rgb(style);
    match state {
        State::Server => root.draw(&Polygon::new(outline, colour.filled()))?,
        State::LoadBound => {
            root.draw(&Polygon::new(outline, WHITE.filled()))?;
            root.draw(&PathElement::new(closed, colour.stroke_width(2)))?;
        }
        State::Partial => {
            root.draw(&Polygon::new(outline, WHITE.filled()))?;
            root.draw(&PathElement::new(closed, colour.mix(FADED).stroke_width(2)))?;
        }
    }
    Ok(())
}

/// Horizontal bars, one row per model, top to bottom in run order.
fn bars(canvas: &Canvas<'_, '_>, area: &Area<'_>, bars: &[Bar]) -> Result<(), ViewError> {
    let log = canvas.chart.x.log;
    let (x_min, x_max) = bounds(bars.iter().filter_map(|b| b.value), log);
    let rows = bars.len().max(1) as f64;
    let y = -0.5..rows - 0.5;
    if log {
        draw_bars(canvas, area, bars, (x_min..x_max).log_scale(), y)
    } else {
        draw_bars(canvas, area, bars, x_min..x_max, y)
    }
}

fn draw_bars<X>(
    canvas: &Canvas<'_, '_>,
    area: &Area<'_>,
    bars: &[Bar],
    x: X,
    y: std::ops::Range<f64>,
) -> Result<(), ViewError>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let Canvas {
        root,
        results,
        chart,
        styles,
    } = *canvas;
    let mut plot = ChartBuilder::on(area)
        .caption(&chart.title, ("sans-serif", 16))
        .margin(12)
        .margin_right(90)
        .x_label_area_size(40)
        .y_label_area_size(150)
        .build_cartesian_2d(x, y)?;
    let x_format = tick_format(&chart.x);
    plot.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc(&chart.x.label)
        .x_label_formatter(&x_format)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let rows = bars.len();
    let left = plot.x_range().start;
    for (row, bar) in bars.iter().enumerate() {
        // The run's first model at the top.
        let y = (rows - 1 - row) as f64;
        let name = results.models.get(bar.model).map_or("?", |m| &m.name);
        let (px, py) = plot.backend_coord(&(left, y));
        root.draw(&Text::new(
            name.to_string(),
            (px - 10, py),
            anchored(13, HPos::Right),
        ))?;
        let colour = rgb(styles[bar.model]);
        let end = bar.value.unwrap_or(left);
        if bar.value.is_some() {
            plot.draw_series(std::iter::once(Rectangle::new(
                [(left, y - 0.32), (end, y + 0.32)],
                colour.filled(),
            )))?;
        }
        let (ex, ey) = plot.backend_coord(&(end, y));
        root.draw(&Text::new(
            bar.note.clone(),
            (ex + 6, ey),
            anchored(12, HPos::Left),
        ))?;
    }
    Ok(())
}

/// A dot plot: the panels in a grid of `columns`, all on one x axis so that
/// panels compare, each listing its models in its own order.
fn dots(
    canvas: &Canvas<'_, '_>,
    area: &Area<'_>,
    panels: &[Panel],
    columns: usize,
    x_max: f64,
) -> Result<(), ViewError> {
    let area = area.titled(&canvas.chart.title, ("sans-serif", 16))?;
    let (low, high) = bounds(std::iter::once(x_max), false);
    let grid_rows = panels.len().div_ceil(columns.max(1));
    let cells = area.split_evenly((grid_rows, columns.max(1)));
    for (panel, cell) in panels.iter().zip(&cells) {
        dot_panel(canvas, cell, panel, low..high)?;
    }
    Ok(())
}

/// One panel: a row per model, first at the top, with its name on the
/// left, its range as a bar, its median as its marker, and the median (or
/// why there is none) on the right.
fn dot_panel(
    canvas: &Canvas<'_, '_>,
    area: &Area<'_>,
    panel: &Panel,
    x: std::ops::Range<f64>,
) -> Result<(), ViewError> {
    let Canvas {
        root,
        results,
        chart,
        styles,
    } = *canvas;
    let rows = panel.rows.len();
    let mut plot = ChartBuilder::on(area)
        .caption(&panel.title, ("sans-serif", 14))
        .margin(8)
        .margin_right(84)
        .x_label_area_size(40)
        .y_label_area_size(112)
        .build_cartesian_2d(x.clone(), -0.5..rows.max(1) as f64 - 0.5)?;
    let x_format = tick_format(&chart.x);
    plot.configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(6)
        .x_desc(&chart.x.label)
        .x_label_formatter(&x_format)
        .x_max_light_lines(1)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, row) in panel.rows.iter().enumerate() {
        let y = (rows - 1 - i) as f64;
        let style = styles[row.model];
        let name = results.models.get(row.model).map_or("?", |m| &m.name);
        let (left, middle) = plot.backend_coord(&(x.start, y));
        root.draw(&Text::new(
            name.to_string(),
            (left - 8, middle),
            anchored(12, HPos::Right),
        ))?;
        if let Some(dot) = &row.value {
            if dot.state != State::Partial && dot.high > dot.low {
                plot.draw_series(LineSeries::new(
                    [(dot.low, y), (dot.high, y)],
                    rgb(style).stroke_width(3),
                ))?;
            }
            let centre = plot.backend_coord(&(dot.x.min(x.end), y));
            marker(root, centre, dot.state, style)?;
        }
        let (right, _) = plot.backend_coord(&(x.end, y));
        root.draw(&Text::new(
            row.note.clone(),
            (right + 8, middle),
            anchored(11, HPos::Left),
        ))?;
    }
    Ok(())
}

/// Text anchored at its given side, centred vertically.
fn anchored(size: u32, side: HPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(side, VPos::Center))
}

/// Model names with their colours and markers, beside the plot.
fn legend(
    canvas: &Canvas<'_, '_>,
    area: &Area<'_>,
    shown: impl Iterator<Item = usize>,
) -> Result<(), ViewError> {
    let Canvas {
        root,
        results,
        styles,
        ..
    } = *canvas;
    let (left, top) = area.get_base_pixel();
    for (row, index) in shown.enumerate() {
        let y = top + 50 + row as i32 * 22;
        let style = styles[index];
        root.draw(&PathElement::new(
            [(left + 6, y), (left + 34, y)],
            rgb(style).stroke_width(2),
        ))?;
        marker(root, (left + 20, y), State::Server, style)?;
        let name = results.models.get(index).map_or("?", |m| m.name.as_str());
        root.draw(&Text::new(
            name.to_string(),
            (left + 42, y),
            anchored(14, HPos::Left),
        ))?;
    }
    Ok(())
}

fn rgb(style: ModelStyle) -> RGBColor {
    let (r, g, b) = style.colour;
    RGBColor(r, g, b)
}

/// How an axis's ticks read.
fn tick_format(axis: &Axis) -> fn(&f64) -> String {
    if axis.percentile {
        |v| percentile_label(*v)
    } else if axis.whole {
        |v| {
            if v.fract() == 0.0 {
                short_number(*v)
            } else {
                String::new()
            }
        }
    } else {
        |v| short_number(*v)
    }
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
        let (low, high) = (low / 1.5, high * 1.5);
        // plotters ticks a log axis from its first power of ten: a range
        // within one decade (20k and 50k msg/s) would have no tick at all.
        let decade = 10f64.powf(high.log10().floor());
        (if decade < low { decade } else { low }, high)
    } else {
        (0.0, high * 1.1 + f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::bounds;

    #[test]
    fn a_log_axis_within_one_decade_reaches_down_to_its_power_of_ten() {
        // Without a power of ten inside, plotters would draw no x tick.
        let (low, high) = bounds([20_000.0, 50_000.0].into_iter(), true);
        assert_eq!(low, 10_000.0);
        assert_eq!(high, 75_000.0);
        // A range that already holds one keeps its margins.
        assert_eq!(
            bounds([150.0, 9_000.0].into_iter(), true),
            (100.0, 13_500.0)
        );
        assert_eq!(
            bounds([2_000.0, 100_000.0].into_iter(), true).0,
            2_000.0 / 1.5
        );
        // Linear axes start at zero.
        assert_eq!(bounds([20.0, 50.0].into_iter(), false).0, 0.0);
    }
}
