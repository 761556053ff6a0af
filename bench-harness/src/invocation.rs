//! The command line a run was made with, as a shell reads it back: what
//! `results/` and `c10k check --json` record, so that pasting it reruns the
//! run, `--server NAME='COMMAND ...'` included.

/// `c10k` and this process's arguments, each quoted where a shell would
/// split or expand it.
pub(crate) fn command_line() -> String {
    std::iter::once("c10k".to_string())
        .chain(std::env::args().skip(1).map(|arg| quoted(&arg)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as is if a shell leaves it alone, else in single quotes (a single
/// quote inside as `'\''`). A `NAME=value` keeps its name outside the quotes.
fn quoted(arg: &str) -> String {
    let plain = |text: &str| {
        !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,=@%+".contains(c))
    };
    if plain(arg) {
        return arg.to_string();
    }
    let (name, value) = match arg.split_once('=') {
        Some((name, value)) if plain(name) && !name.starts_with('-') => (format!("{name}="), value),
        _ => (String::new(), arg),
    };
    format!("{name}'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn arguments_a_shell_would_split_are_quoted() {
        assert_eq!(quoted("--models"), "--models");
        assert_eq!(quoted("tokio,smol"), "tokio,smol");
        assert_eq!(
            quoted("py-asyncio=python3 peers/python/asyncio_server.py"),
            "py-asyncio='python3 peers/python/asyncio_server.py'"
        );
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }
}
