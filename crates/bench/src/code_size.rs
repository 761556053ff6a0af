//! The size of a model's server code: the article's other axis. Counted as
//! non-blank, non-comment lines, tests excluded, twice: the model crate's
//! own `src/`, and the shared serving code of the `model` crate that it runs
//! on (the accept loop, the connection registry, the session, the async
//! handshake loop), which a reader of the model has to read too.

use std::path::{Path, PathBuf};

/// Where the model crates live, if this binary runs from its source tree.
pub fn crates_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    dir.is_dir().then_some(dir)
}

/// Lines of code of model `name` (crate `model-<name>`), if its source is here.
pub fn model_lines(name: &str) -> Option<usize> {
    let src = crates_dir()?.join(format!("model-{name}")).join("src");
    Some(sources(&src)?.iter().map(|file| code_lines(file)).sum())
}

/// The `model` crate's modules that hold serving code a model may run on.
const SHARED: [&str; 4] = ["listener", "connections", "session", "handshake"];

/// Lines of the shared serving code model `name` uses: every module of
/// [`SHARED`] that its source names.
pub fn shared_lines(name: &str) -> Option<usize> {
    let crates = crates_dir()?;
    let own = sources(&crates.join(format!("model-{name}")).join("src"))?.join("\n");
    let mut total = 0;
    for module in SHARED {
        if uses_module(&own, module) {
            let path = crates.join("model/src").join(format!("{module}.rs"));
            total += code_lines(&std::fs::read_to_string(path).ok()?);
        }
    }
    Some(total)
}

/// Whether `source` names `model::<module>`, directly or in a `use model::{...}` list.
fn uses_module(source: &str, module: &str) -> bool {
    source.contains(&format!("model::{module}"))
        || source.lines().any(|line| {
            line.trim_start().starts_with("use model::{")
                && line
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| word == module)
        })
}

/// The text of every `.rs` file in `src`.
fn sources(src: &Path) -> Option<Vec<String>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src).ok()? {
        let path = entry.ok()?.path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(std::fs::read_to_string(path).ok()?);
        }
    }
    Some(files)
}

/// Non-blank lines that are not comments, up to a `#[cfg(test)]` module.
pub fn code_lines(source: &str) -> usize {
    source
        .lines()
        .map(str::trim)
        .take_while(|line| *line != "#[cfg(test)]")
        .filter(|line| !line.is_empty() && !line.starts_with("//"))
        .count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn comments_blanks_and_tests_do_not_count() {
        let source =
            "//! docs\n\nfn main() {\n    // why\n    run();\n}\n#[cfg(test)]\nmod tests {}\n";
        assert_eq!(super::code_lines(source), 3);
    }

    #[test]
    fn shared_modules_are_found_in_either_import_form() {
        assert!(super::uses_module(
            "use model::{Config, listener, session};",
            "session"
        ));
        assert!(super::uses_module(
            "model::handshake::read_handshake(s)",
            "handshake"
        ));
        assert!(!super::uses_module(
            "use model::{Config, sessions};",
            "session"
        ));
    }

    #[test]
    fn thread_models_run_on_the_shared_session_and_async_ones_on_the_handshake_loop() {
        let blocking = super::shared_lines("blocking").unwrap();
        let tokio = super::shared_lines("tokio").unwrap();
        let listener_only = super::shared_lines("epoll-callback").unwrap();
        assert!(blocking > tokio && tokio > listener_only && listener_only > 50);
    }
}
