//! Servers that are not ours, in the matrix and in the suite:
//! `c10k bench --server NAME='COMMAND'` and `c10k check --server ...`.
//!
//! c10k runs the command with `sh -c 'exec COMMAND'`, so the process it
//! samples and signals is the server itself. `{addr}` in the command is
//! replaced by `127.0.0.1:0`; without it, `--addr 127.0.0.1:0` is
//! appended. The server prints `listening on HOST:PORT` once it accepts
//! (PROTOCOL.md §3.2), and may add `concurrency=N` to that line to declare
//! that it serves at most N connections at once by design, which makes the
//! cases and points beyond N "by design" rather than failures.

use std::sync::OnceLock;

use crate::{ServerProcess, StartFailure};

#[derive(Debug)]
pub struct ExternalServer {
    pub name: String,
    pub command: String,
    /// Speaks PROTOCOL.md's handshake; `false` for a plain echo server.
    pub handshake: bool,
    /// What its listening line declared, once it has been started.
    declared_concurrency: OnceLock<usize>,
}

impl ExternalServer {
    /// `NAME=COMMAND`, as `--server` takes it.
    pub fn parse(spec: &str, handshake: bool) -> Result<ExternalServer, String> {
        let Some((name, command)) = spec.split_once('=') else {
            return Err(format!("--server {spec:?}: expected NAME='COMMAND ...'"));
        };
        let (name, command) = (name.trim(), command.trim());
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || !name.chars().all(allowed) {
            return Err(format!(
                "--server {spec:?}: a name is letters, digits, '-', '_' or '.'"
            ));
        }
        if command.is_empty() {
            return Err(format!("--server {name}=: the command is empty"));
        }
        Ok(ExternalServer {
            name: name.into(),
            command: command.into(),
            handshake,
            declared_concurrency: OnceLock::new(),
        })
    }

    /// The server on a free port, with `flags` after its address.
    pub fn start(&self, flags: &[String]) -> Result<ServerProcess, StartFailure> {
        let server = ServerProcess::start_command(&self.command, flags)?;
        if let Some(n) = server.declared_concurrency {
            let _ = self.declared_concurrency.set(n);
        }
        Ok(server)
    }

    /// Starts it once and stops it: whether it starts at all, and what its
    /// listening line declares, before any case asks.
    pub fn probe(&self) -> Result<(), String> {
        let server = self.start(&[]).map_err(|failure| failure.why)?;
        let _ = server.stop(std::time::Duration::from_secs(5));
        Ok(())
    }

    /// How many connections it said it serves at once, if it has said so.
    pub fn declared_concurrency(&self) -> Option<usize> {
        self.declared_concurrency.get().copied()
    }

    /// Non-blank, non-comment lines of the program files the command names
    /// (a script, say), if it names any that exist.
    pub fn code_lines(&self) -> Option<usize> {
        let files: Vec<String> = self
            .command
            .split_whitespace()
            .filter(|word| std::path::Path::new(word).is_file())
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .collect();
        (!files.is_empty()).then(|| files.iter().map(|text| script_lines(text)).sum())
    }
}

/// Lines that are neither blank nor only a `#` or `//` comment.
fn script_lines(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && !line.starts_with("//"))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_a_name_and_a_command() {
        let server = ExternalServer::parse("py-echo=python3 echo.py --port 1", true).unwrap();
        assert_eq!(
            (server.name.as_str(), server.command.as_str()),
            ("py-echo", "python3 echo.py --port 1")
        );
        for bad in ["no-equals", "=cmd", "bad name=cmd", "empty= "] {
            assert!(ExternalServer::parse(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn script_lines_leave_out_blanks_and_comments() {
        assert_eq!(script_lines("# header\n\nimport os\n  # note\nx = 1\n"), 2);
    }
}
