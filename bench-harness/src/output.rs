//! Printing that outlives its reader.
//!
//! `println!` panics when standard output is a pipe whose reader has gone
//! (`c10k serve tokio | head -1` closes it after the first line), because
//! Rust ignores SIGPIPE and every write then fails with EPIPE; `eprintln!`
//! does the same for standard error. What `c10k` prints is a report on work
//! that matters more than the report: a server keeps serving and ends with
//! its usual status, a bench still writes its files. So the binary prints
//! through [`out!`], [`outln!`] and [`errln!`], which drop a write that fails.

use std::fmt;
use std::io::{self, Write};

/// Writes `text` to standard output and flushes it, ignoring failure.
pub(crate) fn to_stdout(text: fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_fmt(text).and_then(|()| stdout.flush());
}

/// Writes `text` to standard error, ignoring failure.
pub(crate) fn to_stderr(text: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(text);
}

/// `print!` that does not panic when standard output has closed.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::to_stdout(format_args!($($arg)*)) };
}

/// `println!` that does not panic when standard output has closed.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::output::to_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that does not panic when standard error has closed.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::to_stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {errln, out, outln};
