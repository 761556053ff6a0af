//! The size of a model's server code: the article's other axis. Counted as
//! non-blank, non-comment lines of the model crate's `src/`, tests excluded.

use std::path::{Path, PathBuf};

/// Where the model crates live, if this binary runs from its source tree.
pub fn crates_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    dir.is_dir().then_some(dir)
}

/// Lines of code of model `name` (crate `model-<name>`), if its source is here.
pub fn model_lines(name: &str) -> Option<usize> {
    let src = crates_dir()?.join(format!("model-{name}")).join("src");
    let mut total = 0;
    for entry in std::fs::read_dir(src).ok()? {
        let path = entry.ok()?.path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            total += code_lines(&std::fs::read_to_string(path).ok()?);
        }
    }
    Some(total)
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
    fn every_model_crate_is_counted() {
        for model in crate::models::MODELS {
            assert!(
                super::model_lines(model.name).is_some_and(|n| n > 10),
                "{}",
                model.name
            );
        }
    }
}
