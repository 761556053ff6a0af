#!/usr/bin/env bash
# A screenshot of a results folder's report.html, as headless Chromium
# draws it from file:// with the network cut off: DIR/report.png.
#
#   scripts/report-screenshot.sh results/<run> [WIDTH,HEIGHT]
#
# Needs Debian's chromium (apt-get install chromium).
set -euo pipefail
dir=${1:?usage: scripts/report-screenshot.sh DIR [WIDTH,HEIGHT]}
size=${2:-1280,2200}
[ -f "$dir/report.html" ] || { echo "report-screenshot: no $dir/report.html (c10k plot $dir draws it)" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    { echo "report-screenshot: no chromium on PATH (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --proxy-server=127.0.0.1:9 '--host-resolver-rules=MAP * ~NOTFOUND' \
    --virtual-time-budget=10000 --user-data-dir="$profile" \
    --screenshot="$(realpath "$dir")/report.png" --window-size="$size" \
    "file://$(realpath "$dir/report.html")" 2>/dev/null
echo "$dir/report.png"
