// Draws report.html from the JSON beside this script: the summary table,
// every chart as SVG with hover values and switchable models, and a point's
// detail. No library and no network: the page must work from file://.
//
// The drawing follows the static plots: medians joined by lines with a band
// from the smallest to the largest repetition; a load-bound value is a hollow
// marker on a dashed segment; a partial value is a faded marker no line joins.
"use strict";

(function () {
  // A browser test reads these from the DOM: errors, and that every chart drew.
  const errors = [];
  function fail(message) {
    errors.push(String(message));
    const box = document.getElementById("errors");
    box.hidden = false;
    box.textContent = "This report hit an error while drawing:\n" + errors.join("\n");
    document.body.dataset.errors = String(errors.length);
  }
  window.addEventListener("error", (event) => fail(event.message));
  const consoleError = console.error.bind(console);
  console.error = (...args) => {
    fail(args.join(" "));
    consoleError(...args);
  };

  const data = JSON.parse(document.getElementById("data").textContent);
  const models = data.models;
  const hidden = new Set();
  const SVG = "http://www.w3.org/2000/svg";
  const W = 960, H = 440, MARGIN = { left: 78, right: 24, top: 16, bottom: 56 };
  const RADIUS = 5;

  function svg(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(name, attrs, text, parent) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined && text !== null) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // The same readings as the Rust side's numbers.rs.
  function shortNumber(v) {
    const abs = Math.abs(v);
    if (abs >= 1e6) return (v / 1e6).toFixed(3).replace(/\.000$/, "") + "M";
    if (abs >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (abs >= 1e3) return (v / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    if (abs >= 10 || Number.isInteger(v)) return v.toFixed(0);
    return v.toFixed(2);
  }

  function percentileLabel(position) {
    const p = 100 * (1 - 1 / Math.max(position, 1));
    const decimals = Math.max(Math.ceil(Math.log10(position)) - 2, 0);
    return p.toFixed(decimals) + "%";
  }

  function tickText(axis, v) {
    if (axis.percentile) return percentileLabel(v);
    if (axis.whole && !Number.isInteger(v)) return "";
    return shortNumber(v);
  }

  // Same padding as the static plots: log axes by 1.5x, linear ones from 0.
  function bounds(values, log) {
    const usable = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
    if (usable.length === 0) return [1, 10];
    const low = Math.min(...usable), high = Math.max(...usable);
    return log ? [low / 1.5, high * 1.5] : [0, high * 1.1 || 1];
  }

  function scale(axis, [low, high], [from, to]) {
    const f = axis.log ? Math.log10 : (v) => v;
    const a = f(low), b = f(high);
    const map = (v) => from + ((f(v) - a) / (b - a || 1)) * (to - from);
    let ticks;
    if (axis.log) {
      ticks = [];
      for (let e = Math.floor(a); e <= Math.ceil(b); e++) {
        for (const m of [1, 2, 5]) {
          const v = m * Math.pow(10, e);
          if (v >= low && v <= high) ticks.push({ v, major: m === 1 });
        }
      }
      // Few decades: label the 2s and 5s too; many: only powers of ten.
      const majors = ticks.filter((t) => t.major).length;
      ticks = ticks.filter((t) => t.major || majors < 3);
      if (ticks.length < 2) {
        // Within one step of 1-2-5: three ticks, evenly spaced, two digits.
        ticks = [0.2, 0.5, 0.8].map((share) => ({ v: Number(Math.pow(10, a + share * (b - a)).toPrecision(2)), major: true }));
      }
    } else {
      const raw = (high - low) / 6;
      const step = [1, 2, 5, 10].map((m) => m * Math.pow(10, Math.floor(Math.log10(raw || 1)))).find((s) => s >= raw);
      ticks = [];
      for (let v = Math.ceil(low / step) * step; v <= high; v += step) ticks.push({ v, major: true });
    }
    return { map, ticks };
  }

  function markerPath(model, cx, cy, radius) {
    const outline = models[model].marker;
    return outline.map(([x, y], i) => (i ? "L" : "M") + (cx + x * radius).toFixed(1) + "," + (cy + y * radius).toFixed(1)).join("") + "Z";
  }

  function markerIcon(model) {
    const icon = svg("svg", { width: 30, height: 14, viewBox: "0 0 30 14" });
    svg("line", { x1: 1, y1: 7, x2: 29, y2: 7, stroke: models[model].colour, "stroke-width": 2 }, icon);
    svg("path", { d: markerPath(model, 15, 7, RADIUS), fill: models[model].colour }, icon);
    return icon;
  }

  // Tooltip.
  const tooltip = document.getElementById("tooltip");
  function showTip(event, lines) {
    tooltip.textContent = "";
    lines.forEach((line, i) => html(i ? "div" : "strong", {}, line, tooltip));
    tooltip.hidden = false;
    tooltip.style.left = Math.min(event.clientX + 14, window.innerWidth - 380) + "px";
    tooltip.style.top = event.clientY + 14 + "px";
  }
  function hideTip() {
    tooltip.hidden = true;
  }

  const STATE_TEXT = {
    server: "about the server",
    "load-bound": "load-bound: the load generator was as busy as the server or behind its schedule",
    partial: "partial: not every connection was served",
  };

  function axes(root, chart, xs, ys, plot) {
    const grid = svg("g", { class: "grid" }, root);
    for (const t of xs.ticks) {
      const x = xs.map(t.v);
      svg("line", { x1: x, x2: x, y1: plot.top, y2: plot.bottom, stroke: "#eee" }, grid);
      svg("text", { x, y: plot.bottom + 16, "text-anchor": "middle", "font-size": 11 }, grid).textContent = tickText(chart.x, t.v);
    }
    for (const t of ys.ticks || []) {
      const y = ys.map(t.v);
      svg("line", { x1: plot.left, x2: plot.right, y1: y, y2: y, stroke: "#eee" }, grid);
      svg("text", { x: plot.left - 6, y: y + 4, "text-anchor": "end", "font-size": 11 }, grid).textContent = tickText(chart.y, t.v);
    }
    svg("rect", { x: plot.left, y: plot.top, width: plot.right - plot.left, height: plot.bottom - plot.top, fill: "none", stroke: "#999" }, root);
    svg("text", { x: (plot.left + plot.right) / 2, y: plot.bottom + 38, "text-anchor": "middle", "font-size": 12 }, root).textContent = chart.x.label;
  }

  // A value's marker, as the static plots draw it: filled (about the
  // server), hollow (load-bound) or faded (partial); hover for `lines`,
  // click for the point's detail.
  function valueMark(layer, model, [cx, cy], dot, lines) {
    const colour = models[model].colour;
    const filled = dot.state === "server";
    const mark = svg("path", {
      class: "mark",
      d: markerPath(model, cx, cy, RADIUS),
      fill: filled ? colour : "#fff",
      stroke: colour,
      "stroke-width": filled ? 0 : 2,
      "stroke-opacity": dot.state === "partial" ? 0.35 : 1,
    }, layer);
    const detail = dot.point === null ? [] : ["click for the point's detail"];
    mark.addEventListener("mousemove", (event) => showTip(event, [models[model].name, ...lines, STATE_TEXT[dot.state], ...detail]));
    mark.addEventListener("mouseleave", hideTip);
    if (dot.point !== null) mark.addEventListener("click", () => showDetail(dot.point, true));
    return mark;
  }

  function spread(dot) {
    return dot.low < dot.high ? `${dot.runs >= data.quartiles_from ? "middle half" : "range"} ${shortNumber(dot.low)} to ${shortNumber(dot.high)} of ${dot.runs}` : "no spread";
  }

  // An axis's label without its parenthesis, for tooltips.
  function axisName(axis) {
    return axis.label.replace(/ \(.*$/, "");
  }

  function drawLines(root, chart) {
    const series = chart.body.series.filter((s) => !hidden.has(s.model) && s.dots.length);
    const dots = series.flatMap((s) => s.dots);
    const plot = { left: MARGIN.left, right: W - MARGIN.right, top: MARGIN.top, bottom: H - MARGIN.bottom };
    const xs = scale(chart.x, bounds(dots.map((d) => d.x), chart.x.log), [plot.left, plot.right]);
    // As the SVG plots do: a partial value has no band, so only its median counts.
    const extent = (d) => (d.state === "partial" ? [d.y] : [d.low, d.high, d.y]);
    const ys = scale(chart.y, bounds(dots.flatMap(extent), chart.y.log), [plot.bottom, plot.top]);
    axes(root, chart, xs, ys, plot);
    svg("text", { transform: `translate(16,${(plot.top + plot.bottom) / 2}) rotate(-90)`, "text-anchor": "middle", "font-size": 12 }, root).textContent = chart.y.label;
    let marks = 0;
    for (const line of series) {
      const colour = models[line.model].colour;
      const layer = svg("g", { "data-model": models[line.model].name }, root);
      // Bands and joins stop at a partial value: it is not the same workload.
      const runs = [[]];
      for (const dot of line.dots) {
        if (dot.state === "partial") runs.push([]);
        else runs[runs.length - 1].push(dot);
      }
      for (const run of runs.filter((r) => r.length > 1)) {
        const edge = run.map((d) => `${xs.map(d.x)},${ys.map(d.high)}`).concat(run.slice().reverse().map((d) => `${xs.map(d.x)},${ys.map(d.low)}`));
        svg("polygon", { points: edge.join(" "), fill: colour, "fill-opacity": 0.16 }, layer);
        for (let i = 1; i < run.length; i++) {
          const [a, b] = [run[i - 1], run[i]];
          const dashed = a.state !== "server" || b.state !== "server";
          svg("line", {
            x1: xs.map(a.x), y1: ys.map(a.y), x2: xs.map(b.x), y2: ys.map(b.y),
            stroke: colour, "stroke-width": 2, "stroke-dasharray": dashed ? "6 5" : "none",
          }, layer);
        }
      }
      const every = Math.max(chart.marker_every, 1);
      line.dots.forEach((dot, i) => {
        if (i % every !== 0 && i !== line.dots.length - 1) return;
        valueMark(layer, line.model, [xs.map(dot.x), ys.map(dot.y)], dot, [
          `${axisName(chart.x)}: ${tickText(chart.x, dot.x)}`,
          `${axisName(chart.y)}: ${shortNumber(dot.y)} (median; ${spread(dot)})`,
        ]);
        marks += 1;
      });
    }
    return marks;
  }

  function drawBars(root, chart) {
    const bars = chart.body.bars.filter((b) => !hidden.has(b.model));
    const rowHeight = 30;
    root.setAttribute("viewBox", `0 0 ${W} ${MARGIN.top + MARGIN.bottom + rowHeight * Math.max(bars.length, 1)}`);
    const plot = { left: 170, right: W - 190, top: MARGIN.top, bottom: MARGIN.top + rowHeight * Math.max(bars.length, 1) };
    const xs = scale(chart.x, bounds(bars.filter((b) => b.value !== null).map((b) => b.value), chart.x.log), [plot.left, plot.right]);
    axes(root, chart, xs, { ticks: [] }, plot);
    let marks = 0;
    bars.forEach((bar, row) => {
      const y = plot.top + row * rowHeight + rowHeight / 2;
      const name = models[bar.model].name;
      svg("text", { x: plot.left - 8, y: y + 4, "text-anchor": "end", "font-size": 13 }, root).textContent = name;
      let end = plot.left;
      if (bar.value !== null) {
        end = xs.map(bar.value);
        const rect = svg("rect", {
          class: "mark", x: plot.left, y: y - 10, width: Math.max(end - plot.left, 1), height: 20,
          fill: models[bar.model].colour, "data-model": name,
        }, root);
        marks += 1;
        rect.addEventListener("mousemove", (event) => showTip(event, [name, `${axisName(chart.x)}: ${bar.note}`]));
        rect.addEventListener("mouseleave", hideTip);
      }
      svg("text", { x: end + 6, y: y + 4, "font-size": 12 }, root).textContent = bar.note;
    });
    return marks;
  }

  // A dot plot, as the static one: panels in a grid on one x axis, each
  // listing the models in its own order (cheapest first), a dot for the
  // median and a bar for the range; hidden models leave their panels.
  function drawDots(root, chart) {
    const { panels, columns, x_max } = chart.body;
    // The figure's heading names the chart: no title inside, unlike the SVG.
    const rowHeight = 22, title = 6, frame = { left: 112, right: 84, top: 30, bottom: 52 };
    const shown = panels.map((panel) => panel.rows.filter((row) => !hidden.has(row.model)));
    const rowsEach = Math.max(1, ...shown.map((rows) => rows.length));
    const panelHeight = frame.top + frame.bottom + rowHeight * rowsEach;
    const gridRows = Math.ceil(panels.length / columns);
    root.setAttribute("viewBox", `0 0 ${W} ${title + gridRows * panelHeight}`);
    // As the SVG plot: one axis for every panel, set by the complete values.
    const range = bounds([x_max], false);
    const width = W / columns;
    let marks = 0;
    panels.forEach((panel, i) => {
      const left = (i % columns) * width, top = title + Math.floor(i / columns) * panelHeight;
      const plot = { left: left + frame.left, right: left + width - frame.right, top: top + frame.top, bottom: top + frame.top + rowHeight * rowsEach };
      const xs = scale(chart.x, range, [plot.left, plot.right]);
      svg("text", { x: (plot.left + plot.right) / 2, y: top + 18, "text-anchor": "middle", "font-size": 13 }, root).textContent = panel.title;
      axes(root, chart, xs, { ticks: [] }, plot);
      shown[i].forEach((row, r) => {
        const y = plot.top + r * rowHeight + rowHeight / 2;
        const model = models[row.model];
        svg("text", { x: plot.left - 8, y: y + 4, "text-anchor": "end", "font-size": 12 }, root).textContent = model.name;
        svg("text", { x: plot.right + 8, y: y + 4, "font-size": 11 }, root).textContent = row.note;
        const dot = row.value;
        if (dot === null) return;
        const layer = svg("g", { "data-model": model.name }, root);
        if (dot.state !== "partial" && dot.high > dot.low) {
          svg("line", { x1: xs.map(dot.low), x2: xs.map(dot.high), y1: y, y2: y, stroke: model.colour, "stroke-width": 3 }, layer);
        }
        valueMark(layer, row.model, [xs.map(Math.min(dot.x, range[1])), y], dot, [
          panel.title,
          `${axisName(chart.x)}: ${shortNumber(dot.x)} (median; ${spread(dot)})`,
        ]);
        marks += 1;
      });
    });
    return marks;
  }

  const drawn = [];
  const DRAW = { lines: drawLines, bars: drawBars, dots: drawDots };
  function drawChart(chart) {
    const root = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": chart.title });
    const marks = DRAW[chart.body.kind](root, chart);
    root.dataset.marks = String(marks);
    return root;
  }

  function drawCharts() {
    const section = document.getElementById("charts");
    if (drawn.length === 0) {
      for (const chart of data.charts) {
        const figure = html("figure", { id: chart.file.replace(/\.svg$/, "") }, null, section);
        html("h2", {}, chart.title, figure);
        const holder = html("div", {}, null, figure);
        const caption = html("figcaption", {}, null, figure);
        for (const line of chart.caption) html("p", {}, line, caption);
        drawn.push({ chart, holder });
      }
    }
    for (const { chart, holder } of drawn) {
      holder.textContent = "";
      holder.appendChild(drawChart(chart));
    }
  }

  function toggles() {
    const bar = document.getElementById("toggles");
    html("span", { class: "hint" }, "Models (click to hide or show): ", bar);
    models.forEach((model, i) => {
      const button = html("button", { type: "button", "aria-pressed": "true", title: model.summary }, null, bar);
      button.appendChild(markerIcon(i));
      button.appendChild(document.createTextNode(model.name));
      button.addEventListener("click", () => {
        if (hidden.has(i)) hidden.delete(i);
        else hidden.add(i);
        button.setAttribute("aria-pressed", String(!hidden.has(i)));
        drawCharts();
      });
    });
  }

  function summaryTable() {
    const table = document.getElementById("summary-table");
    const head = html("tr", {}, null, html("thead", {}, null, table));
    const body = html("tbody", {}, null, table);
    let rows = data.summary.rows.slice();
    let order = { column: -1, descending: false };
    function fill() {
      body.textContent = "";
      for (const row of rows) {
        const tr = html("tr", {}, null, body);
        row.forEach((cell, i) => {
          const td = html("td", {}, null, tr);
          if (i === 0) {
            const index = models.findIndex((m) => m.name === cell.text);
            if (index >= 0) td.appendChild(markerIcon(index));
          }
          td.appendChild(document.createTextNode(cell.text));
        });
      }
    }
    data.summary.columns.forEach((column, i) => {
      const th = html("th", { scope: "col" }, column, head);
      th.addEventListener("click", () => {
        order = { column: i, descending: order.column === i ? !order.descending : i !== 0 };
        const key = (row) => (i === 0 ? row[0].text : row[i].sort);
        rows.sort((a, b) => {
          const [x, y] = [key(a), key(b)];
          // Missing figures last, whichever way.
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          const c = typeof x === "string" ? x.localeCompare(y) : x - y;
          return order.descending ? -c : c;
        });
        head.querySelectorAll("th").forEach((other) => other.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", order.descending ? "descending" : "ascending");
        fill();
      });
    });
    fill();
  }

  // A point is its model, loop, connections, size and rate; its repetitions share them.
  function pointKey(p) {
    return [p.model, p.loop, p.connections, p.size, p.rate].join("|");
  }
  function pointLabel(p) {
    const rate = p.rate === null ? "" : `${shortNumber(p.rate)} msg/s over `;
    return `${p.loop} loop, ${rate}${p.connections} connections, ${p.size} B`;
  }

  const modelSelect = document.getElementById("detail-model");
  const pointSelect = document.getElementById("detail-point");

  function fillPointSelect(model) {
    pointSelect.textContent = "";
    const seen = new Set();
    data.points.forEach((p, i) => {
      if (p.model !== model || seen.has(pointKey(p))) return;
      seen.add(pointKey(p));
      html("option", { value: String(i) }, pointLabel(p), pointSelect);
    });
  }

  const ROWS = [
    ["outcome", (p) => p.outcome + (p.note ? ` (${p.note})` : "")],
    ["what limited it", (p) => p.limited_by || "-"],
    ["server CPU busy", (p) => percent(p.server_cpu_share)],
    ["load CPU busy", (p) => percent(p.load_cpu_share)],
    ["connections ready", (p) => `${value(p.connections_ready)} of ${p.connections}`],
    ["messages per second", (p) => value(p.msgs_per_s)],
    ["echo p50 / p99 / p99.9 / max (µs)", (p) => [p.p50_us, p.p99_us, p.p99_9_us, p.max_us].map(value).join(" / ")],
    ["errors", (p) => value(p.errors)],
    ["send lag p99 (µs), fell behind", (p) => (p.fell_behind === null ? "- (closed loop)" : `${value(p.send_lag_p99_us)}, ${p.fell_behind ? "yes" : "no"}`)],
    ["latest end of a load's sleep (µs late)", (p) => (p.fell_behind === null ? "- (closed loop)" : value(p.wake_late_max_us))],
    ["server CPU µs per message", (p) => value(p.server_cpu_us_per_message)],
    ["load CPU µs per message", (p) => value(p.load_cpu_us_per_message)],
    ["time to connect and handshake", (p) => (p.ramp_s === null ? "-" : `${shortNumber(p.ramp_s * 1e3)} ms`)],
    ["server RSS KiB: before / connected / measured / held", (p) => p.rss_kib.map(value).join(" / ")],
    ["server peak RSS KiB, threads, descriptors", (p) => [p.peak_rss_kib, p.peak_threads, p.peak_fds].map(value).join(", ")],
    ["kernel memory KiB: before / connected", (p) => (p.kernel_kib ? p.kernel_kib.map(value).join(" / ") : "-")],
    ["server's last line", (p) => p.server_exit || "-"],
    ["interval log", (p) => p.hlog || "-"],
  ];
  function value(v) {
    return v === null || v === undefined ? "-" : shortNumber(v);
  }
  function percent(v) {
    return v === null || v === undefined ? "-" : `${(v * 100).toFixed(0)}%`;
  }

  function showDetail(index, scroll) {
    const point = data.points[index];
    if (!point) return;
    modelSelect.value = point.model;
    fillPointSelect(point.model);
    const key = pointKey(point);
    const first = data.points.findIndex((p) => pointKey(p) === key);
    pointSelect.value = String(first);
    const reps = data.points.filter((p) => pointKey(p) === key);
    const body = document.getElementById("detail-body");
    body.textContent = "";
    html("p", {}, `${point.model}: ${pointLabel(point)}, ${reps.length} repetition(s)`, body);
    const table = html("table", {}, null, body);
    const head = html("tr", {}, null, table);
    html("th", {}, "", head);
    for (const p of reps) html("th", { scope: "col" }, `repetition ${p.repetition}`, head);
    for (const [label, read] of ROWS) {
      const tr = html("tr", {}, null, table);
      html("th", { scope: "row" }, label, tr);
      for (const p of reps) html("td", {}, read(p), tr);
    }
    if (scroll) document.getElementById("detail").scrollIntoView({ behavior: "smooth" });
  }

  function detail() {
    for (const model of models) html("option", { value: model.name }, model.name, modelSelect);
    modelSelect.addEventListener("change", () => {
      const first = data.points.findIndex((p) => p.model === modelSelect.value);
      showDetail(first, false);
    });
    pointSelect.addEventListener("change", () => showDetail(Number(pointSelect.value), false));
    if (data.points.length) showDetail(0, false);
  }

  function header() {
    document.getElementById("command").textContent = data.command;
    const list = document.getElementById("setting");
    for (const line of data.setting) html("li", {}, line.replace(/`/g, ""), list);
    const nav = document.getElementById("contents");
    html("a", { href: "#summary" }, "per model", nav);
    for (const chart of data.charts) html("a", { href: "#" + chart.file.replace(/\.svg$/, "") }, chart.file.replace(/\.svg$/, ""), nav);
    html("a", { href: "#detail" }, "point detail", nav);
  }

  try {
    header();
    toggles();
    summaryTable();
    drawCharts();
    detail();
    document.body.dataset.charts = String(drawn.length);
    document.body.dataset.ready = "yes";
    // The figures did not exist when the browser looked for #fragment.
    const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) target.scrollIntoView();
  } catch (error) {
    fail(error && error.stack ? error.stack : error);
  }
})();
