//! `report.html` in a real browser: headless Chromium (Debian's `chromium`
//! package) opens the page from `file://`, and every chart must draw with
//! no script error. Where no Chromium is installed, the browser half of
//! these tests says so in one line and is left out; `.ci/run` installs it.
//!
//! The page must also stand alone (nothing fetched: no `src`, no `<link>`,
//! no `url(...)`), stay under 1 MiB, and be exactly what `c10k plot`
//! draws today from the committed `results.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const C10K: &str = env!("CARGO_BIN_EXE_c10k");
const MIB: u64 = 1 << 20;

fn c10k(args: &[&str]) -> Output {
    Command::new(C10K).args(args).output().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("c10k-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Clicks through a report as a reader would and records what happened in
/// `<body data-interaction>`: the first model switched off, the summary
/// sorted by its second column (own code lines), the first marker left on
/// hovered and clicked.
const INTERACT: &str = r##"<script>
(function () {
  const marks = () => [...document.querySelectorAll("svg.chart")].map((s) => Number(s.dataset.marks));
  const before = marks();
  const button = document.querySelector("#toggles button");
  button.click();
  const after = marks();
  const th = document.querySelectorAll("#summary-table th")[1];
  th.click();
  const mark = document.querySelector("svg.chart .mark");
  mark.dispatchEvent(new MouseEvent("mousemove", { clientX: 20, clientY: 20, bubbles: true }));
  const tooltip = document.getElementById("tooltip");
  const tip = tooltip.hidden ? "" : tooltip.textContent;
  mark.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  document.body.dataset.interaction = JSON.stringify({
    pressed: button.getAttribute("aria-pressed"),
    fewer: after.every((m, i) => m <= before[i]) && after.some((m, i) => m < before[i]),
    sorted: th.getAttribute("aria-sort"),
    first_row: document.querySelector("#summary-table tbody td").textContent,
    tooltip: tip,
    detail: document.getElementById("detail-body").textContent,
  });
})();
</script>
</body>"##;

/// The browser, if this machine has one.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("C10K_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Runs headless Chromium on `page` with its network cut off; returns the
/// DOM after the page's script ran, and writes a screenshot if asked.
fn browse(browser: &Path, page: &Path, screenshot: Option<&Path>) -> String {
    let profile = temp_dir("profile");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let run = |extra: &[String]| {
        let output = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--hide-scrollbars",
                // Anything the page tried to fetch would fail: it must need nothing.
                "--proxy-server=127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--virtual-time-budget=10000",
                &format!("--user-data-dir={}", profile.display()),
            ])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(output.status.success(), "chromium on {url}: {output:?}");
        output
    };
    if let Some(png) = screenshot {
        run(&[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,2200".into(),
        ]);
    }
    let output = run(&["--dump-dom".into()]);
    let _ = std::fs::remove_dir_all(&profile);
    String::from_utf8(output.stdout).unwrap()
}

/// The value of `attribute` in the first tag that starts at `tag`.
fn attribute<'a>(dom: &'a str, tag: &str, attribute: &str) -> Option<&'a str> {
    let start = dom.find(tag)?;
    let end = start + dom[start..].find('>')?;
    let opening = &dom[start..end];
    let key = format!(" {attribute}=\"");
    let from = opening.find(&key)? + key.len();
    Some(&opening[from..from + opening[from..].find('"')?])
}

/// Checks what the browser drew: the script finished without an error,
/// one figure per chart (`expected` of them, in order), each SVG holding
/// marks, and the summary table a row per model.
fn assert_drew(dom: &str, expected: &[String], models: usize, page: &Path) {
    let body = attribute(dom, "<body", "data-ready");
    assert_eq!(
        body,
        Some("yes"),
        "{}: the script did not finish; errors: {:?}",
        page.display(),
        dom.find("id=\"errors\"")
            .map(|at| &dom[at..(at + 600).min(dom.len())])
    );
    assert_eq!(
        attribute(dom, "<body", "data-errors"),
        None,
        "{}",
        page.display()
    );
    let figures: Vec<&str> = dom
        .match_indices("<figure id=\"")
        .map(|(at, _)| {
            let from = at + "<figure id=\"".len();
            &dom[from..from + dom[from..].find('"').unwrap()]
        })
        .collect();
    let wanted: Vec<&str> = expected
        .iter()
        .map(|file| file.trim_end_matches(".svg"))
        .collect();
    assert_eq!(figures, wanted, "{}", page.display());
    let charts: Vec<&str> = dom.split("<svg class=\"chart\"").skip(1).collect();
    assert_eq!(charts.len(), expected.len(), "{}", page.display());
    let data = page_data(dom);
    let specs = data["charts"].as_array().unwrap();
    for ((chart, name), spec) in charts.iter().zip(expected).zip(specs) {
        let chart = &chart[..chart.find("</svg>").unwrap()];
        let marks = chart.matches("class=\"mark\"").count();
        let counted: usize = attribute(chart, "", "data-marks").unwrap().parse().unwrap();
        assert_eq!(counted, marks, "{name}");
        // A mark for what has a value; a chart where nothing has one (a
        // tiny run's memory, say) still draws its axes and every model's row.
        let has_values = spec["body"]["series"].as_array().is_some_and(|series| {
            series
                .iter()
                .any(|s| !s["dots"].as_array().unwrap().is_empty())
        }) || spec["body"]["bars"]
            .as_array()
            .is_some_and(|bars| bars.iter().any(|b| !b["value"].is_null()))
            || panel_rows(spec).iter().any(|row| !row["value"].is_null());
        assert_eq!(
            marks > 0,
            has_values,
            "{}: {name} drew {marks} marks",
            page.display()
        );
        assert!(
            chart.matches("<text").count() >= 3,
            "{}: {name} is empty",
            page.display()
        );
        let rows = spec["body"]["bars"].as_array().cloned().unwrap_or_default();
        for row in rows.iter().chain(&panel_rows(spec)) {
            let model = &data["models"][row["model"].as_u64().unwrap() as usize]["name"];
            let label = format!(">{}</text>", model.as_str().unwrap());
            assert!(chart.contains(&label), "{name}: no row for {model}");
        }
        // A dot plot's panels list the models cheapest first, as drawn.
        for panel in spec["body"]["panels"].as_array().into_iter().flatten() {
            let medians: Vec<f64> = panel["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|row| !row["value"].is_null() && row["value"]["state"] != "partial")
                .map(|row| row["value"]["x"].as_f64().unwrap())
                .collect();
            assert!(medians.is_sorted(), "{name}: {} unsorted", panel["title"]);
            let title = format!(">{}</text>", panel["title"].as_str().unwrap());
            assert!(chart.contains(&title), "{name}: no panel {title}");
        }
    }
    let table = &dom[dom.find("id=\"summary-table\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(
        table.matches("<tr>").count(),
        models + 1,
        "{}: a header and a row per model",
        page.display()
    );
}

/// Every row of every panel of a dot plot (none for other charts).
fn panel_rows(spec: &serde_json::Value) -> Vec<serde_json::Value> {
    spec["body"]["panels"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|panel| panel["rows"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The data a page carries, as its script reads it.
fn page_data(page: &str) -> serde_json::Value {
    const OPEN: &str = "<script type=\"application/json\" id=\"data\">";
    let from = page.find(OPEN).unwrap() + OPEN.len();
    let json = &page[from..from + page[from..].find("</script>").unwrap()];
    serde_json::from_str(&json.replace("<\\/", "</")).unwrap()
}

/// What a page needs beyond itself: nothing.
fn assert_self_contained(html: &str, page: &Path) {
    for fetches in ["src=", "<link", "url(", "@import", "https://"] {
        assert!(
            !html.contains(fetches),
            "{} fetches something: {fetches}",
            page.display()
        );
    }
}

/// The SVG plots of a results folder, in the order its README shows them.
fn plots_in_readme(dir: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|line| line.strip_prefix("!["))
        .filter_map(|line| Some(line[..line.find(']')?].to_string()))
        .filter(|name| name.ends_with(".svg"))
        .collect()
}

#[test]
fn a_small_run_s_report_stands_alone_and_draws_every_chart_in_a_browser() {
    let dir = temp_dir("small");
    let output = c10k(&[
        "bench",
        "--models",
        "epoll-callback,blocking",
        "--conns",
        "1,4",
        "--sizes",
        "64",
        "--rates",
        "300,600",
        "--rate-conns",
        "3",
        "--efficiency-rates",
        "400",
        "--efficiency-conns",
        "3",
        "--repeat",
        "2",
        "-d",
        "1",
        "--warmup",
        "0.1",
        "--hold",
        "0.1",
        "--connect-timeout",
        "1",
        "--out",
        dir.to_str().unwrap(),
        "-q",
    ]);
    assert!(output.status.success(), "{output:?}");
    let page = dir.join("report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert_self_contained(&html, &page);
    let plots = plots_in_readme(&dir);
    assert!(
        plots.contains(&"latency-spectrum.svg".to_string()),
        "{plots:?}"
    );
    for name in &plots {
        assert!(
            html.contains(&format!("\"file\":\"{name}\"")),
            "{name} is not in report.html"
        );
    }
    assert!(
        std::fs::read_to_string(dir.join("README.md"))
            .unwrap()
            .contains("(report.html)")
    );

    let Some(browser) = chromium() else {
        eprintln!(
            "report.html not opened in a browser: no chromium on PATH (apt-get install chromium)"
        );
        return;
    };
    let screenshot = dir.join("report.png");
    let dom = browse(&browser, &page, Some(&screenshot));
    assert_drew(&dom, &plots, 2, &page);
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    // The detail view starts at the first point and lists its repetitions.
    assert!(dom.contains("repetition 2"), "point detail");

    // What a reader does: hide a model, sort by a column, hover and click a marker.
    let acted = dir.join("acted.html");
    std::fs::write(&acted, html.replace("</body>", INTERACT)).unwrap();
    let dom = browse(&browser, &acted, None);
    let did = attribute(&dom, "<body", "data-interaction")
        .unwrap_or_else(|| panic!("the interaction script did not run: {dom}"))
        .replace("&quot;", "\"");
    let did: serde_json::Value = serde_json::from_str(&did).unwrap();
    assert_eq!(
        did["pressed"], "false",
        "the first model's button is off: {did}"
    );
    assert_eq!(
        did["fewer"], true,
        "hiding a model removes its marks: {did}"
    );
    assert_eq!(did["sorted"], "descending", "{did}");
    assert_eq!(
        did["first_row"], "epoll-callback",
        "most own code lines first: {did}"
    );
    assert!(
        did["tooltip"].as_str().unwrap().starts_with("blocking"),
        "{did}"
    );
    assert!(
        did["detail"].as_str().unwrap().starts_with("blocking: "),
        "{did}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_committed_report_is_current_small_and_draws_in_a_browser() {
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("../results");
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&results)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("report.html").is_file())
        .collect();
    folders.sort();
    assert!(
        !folders.is_empty(),
        "no committed report.html under results/"
    );
    let browser = chromium();
    if browser.is_none() {
        eprintln!(
            "committed reports not opened in a browser: no chromium on PATH (apt-get install chromium)"
        );
    }
    for dir in folders {
        let page = dir.join("report.html");
        let html = std::fs::read_to_string(&page).unwrap();
        let size = std::fs::metadata(&page).unwrap().len();
        assert!(size < MIB, "{}: {size} bytes", page.display());
        assert_self_contained(&html, &page);
        // Drawn by the code as committed: `c10k plot` on results.json alone gives the same page.
        let copy = temp_dir("replot");
        std::fs::copy(dir.join("results.json"), copy.join("results.json")).unwrap();
        let output = c10k(&["plot", copy.to_str().unwrap()]);
        assert!(output.status.success(), "{output:?}");
        let redrawn = std::fs::read_to_string(copy.join("report.html")).unwrap();
        assert!(
            redrawn == html,
            "{} is not what `c10k plot` draws now: run `c10k plot {}`",
            page.display(),
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&copy);
        if let Some(browser) = &browser {
            let record: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                    .unwrap();
            let models = record["models"].as_array().unwrap().len();
            let dom = browse(browser, &page, None);
            assert_drew(&dom, &plots_in_readme(&dir), models, &page);
        }
    }
}
