//! The repository as a reader and a contributor meet it: every relative
//! link and image in its Markdown resolves (headings included, as GitHub
//! names them), and the code stays split by concern, with no crate folder
//! holding more than a quarter of the lines and the binary thin.

use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every Markdown file a reader can open: the front page, the book, the
/// protocol and architecture, and every committed run's README.
fn markdown_files() -> Vec<PathBuf> {
    let root = root();
    let mut files: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "PROTOCOL.md"]
        .iter()
        .map(|name| root.join(name))
        .collect();
    for dir in ["docs", "results", "crates", "peers", "deploy"] {
        walk(&root.join(dir), &mut |path| {
            if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path.to_path_buf());
            }
        });
    }
    files
}

/// Calls `visit` for every file under `dir`.
fn walk(dir: &Path, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, visit);
        } else {
            visit(&path);
        }
    }
}

/// The targets of the inline links and images of `text`, outside code
/// blocks and code spans: `[text](target)` and `![alt](target)`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Code spans hold examples, not links: drop them.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else {
                break;
            };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped,
/// spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(anchor(line.trim_start_matches('#')));
        }
    }
    found
}

/// Why `target`, linked from `file`, does not resolve, if it does not.
fn broken(file: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent()?.join(path)
    };
    if !resolved.exists() {
        return Some(format!("{target}: no such file"));
    }
    let fragment = fragment?;
    if resolved.extension().is_some_and(|ext| ext == "md") {
        let text = std::fs::read_to_string(&resolved).ok()?;
        if !anchors(&text).iter().any(|a| a == fragment) {
            return Some(format!("{target}: no heading #{fragment}"));
        }
    }
    None
}

#[test]
fn the_link_checker_sees_links_headings_and_what_is_missing() {
    let text = "See [a](docs/a.md#two-words) and ![p](x.svg), not `[c](d)`.\n\
                ```\n[e](f)\n```\n## Two words: `flag`\n";
    assert_eq!(link_targets(text), ["docs/a.md#two-words", "x.svg"]);
    assert_eq!(anchors(text), ["two-words-flag"]);
    assert_eq!(
        anchor(" Servers that are not ours: `--server NAME='COMMAND'`"),
        "servers-that-are-not-ours---server-namecommand"
    );
    let readme = root().join("README.md");
    assert!(broken(&readme, "docs/no-such-page.md").is_some());
    assert!(broken(&readme, "#no-such-heading").is_some());
    assert!(broken(&readme, "#the-two-commands").is_none());
    assert!(broken(&readme, "https://example.invalid/").is_none());
}

#[test]
fn every_relative_link_and_image_in_the_markdown_resolves() {
    let files = markdown_files();
    assert!(files.len() > 10, "found {} Markdown files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for target in link_targets(&text) {
            if let Some(why) = broken(file, &target) {
                problems.push(format!("{}: {why}", file.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_front_page_is_a_front_page() {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(lines <= 300, "README.md has {lines} lines");
    // It opens with the two commands, before any other section.
    let first_section = text.lines().find(|l| l.starts_with("## "));
    assert_eq!(first_section, Some("## The two commands"));
    assert!(text.contains("cargo run --release -- bench\n"));
    assert!(text.contains("cargo test --workspace\n"));
}

/// Lines of source (code, scripts, the report's page) under `dir`, tests
/// left out.
fn source_lines(dir: &Path) -> usize {
    let mut lines = 0;
    walk(dir, &mut |path| {
        let in_tests = path.components().any(|c| c.as_os_str() == "tests");
        let source = path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| ["rs", "js", "css", "html", "py", "sh"].contains(&ext));
        if source && !in_tests {
            lines += std::fs::read_to_string(path).map_or(0, |t| t.lines().count());
        }
    });
    lines
}

#[test]
fn the_code_is_split_by_concern() {
    let root = root();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .filter_map(|e| Some(e.ok()?.path()))
        .collect();
    folders.extend(["bench-harness", "peers", "scripts"].map(|f| root.join(f)));
    let sizes: Vec<(String, usize)> = folders
        .iter()
        .map(|f| (f.display().to_string(), source_lines(f)))
        .collect();
    let total: usize = sizes.iter().map(|(_, n)| n).sum();
    for (folder, lines) in &sizes {
        assert!(
            lines * 4 <= total,
            "{folder} holds {lines} of {total} lines, over a quarter"
        );
    }
    let binary = source_lines(&root.join("bench-harness/src"));
    assert!(binary < 2500, "bench-harness/src has {binary} lines");
    assert!(
        binary > 500,
        "bench-harness/src has {binary} lines: not found?"
    );
}
