#!/usr/bin/env bash
# Draws a soak's record (scripts/soak.sh's OUT) as OUT/soak.svg: the
# server's RSS and descriptors at each sample, and the load's echo p99 (the
# worst one-second p99 of each minute, from load.json), against minutes
# since the start. Plain SVG, which GitHub shows inline; nothing but awk.
#
#   scripts/soak-plot.sh OUT
set -euo pipefail
out=${1:?usage: scripts/soak-plot.sh OUT}
[ -s "$out/samples.csv" ] && [ -s "$out/load.json" ] || { echo "soak-plot: no soak record in $out" >&2; exit 2; }
# The p99 of each second of the window, one per line.
p99=$(sed -n '/"p99_by_second_us": \[/,/\]/p' "$out/load.json" | grep -Eo '[0-9]+(\.[0-9]+)?' || true)
{
    awk -F, 'NR > 1 { print "s", $1, $2, $3 }' "$out/samples.csv"
    echo "$p99" | awk 'NF { print "p", NR, $1 }'
} | awk -v title="$(head -n 1 "$out/report.txt" 2>/dev/null || echo soak)" '
    $1 == "s" { if (t0 == "") t0 = $2; n++; x[n] = ($2 - t0) / 60; rss[n] = $3 / 1024; fds[n] = $4 }
    $1 == "p" { m = int(($2 - 1) / 60); if (!(m in worst) || $3 > worst[m]) worst[m] = $3; if (m > lastm) lastm = m }
    function number(v) { return v >= 100 ? sprintf("%.0f", v) : sprintf("%.3g", v) }
    function panel(top, label, unit, count, xs, ys,   i, lo, hi, pts, sx, sy, xmax) {
        lo = ys[1]; hi = ys[1]; xmax = 0
        for (i = 1; i <= count; i++) { if (ys[i] < lo) lo = ys[i]; if (ys[i] > hi) hi = ys[i]; if (xs[i] > xmax) xmax = xs[i] }
        if (hi == lo) { hi = lo + 1 }
        if (xmax == 0) xmax = 1
        lo = lo > 0 ? 0 : lo
        pts = ""
        for (i = 1; i <= count; i++) {
            sx = 70 + 560 * xs[i] / xmax; sy = top + 130 - 110 * (ys[i] - lo) / (hi - lo)
            pts = pts sprintf("%.1f,%.1f ", sx, sy)
        }
        printf "<text x=\"70\" y=\"%d\" font-size=\"13\">%s</text>\n", top + 14, label
        printf "<line x1=\"70\" y1=\"%d\" x2=\"630\" y2=\"%d\" stroke=\"#888\"/>\n", top + 130, top + 130
        printf "<line x1=\"70\" y1=\"%d\" x2=\"70\" y2=\"%d\" stroke=\"#888\"/>\n", top + 20, top + 130
        printf "<text x=\"64\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s %s</text>\n", top + 24, number(hi), unit
        printf "<text x=\"64\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n", top + 134, number(lo)
        printf "<text x=\"630\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%.0f min</text>\n", top + 146, xmax
        printf "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"%s\"/>\n", pts
    }
    END {
        print "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"660\" height=\"520\" font-family=\"sans-serif\">"
        print "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        printf "<text x=\"10\" y=\"18\" font-size=\"12\">%s</text>\n", title
        panel(30, "server RSS (MiB), at each sample", "MiB", n, x, rss)
        panel(190, "server descriptors, at each sample", "", n, x, fds)
        for (m = 0; m <= lastm; m++) { px[m + 1] = m; py[m + 1] = (m in worst ? worst[m] : 0) / 1000 }
        panel(350, "echo p99 (ms), the worst second of each minute", "ms", lastm + 1, px, py)
        print "</svg>"
    }' >"$out/soak.svg"
echo "$out/soak.svg"
