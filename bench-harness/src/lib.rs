//! The harness behind the `c10k` binary: the list of models and the
//! subcommands, as a library so that tests and benchmarks call the same code
//! the binary runs.
//!
//! ```text
//! c10k serve <MODEL> [--addr HOST:PORT] [--workers N] [--max-conns N]
//!                    [--handshake-timeout SECS] [--idle-timeout SECS]
//!                    [--buffer BYTES] [--grace SECS] [--stack-size BYTES]
//! ```

pub mod cli;
pub mod models;
pub mod serve;
pub mod signals;
pub mod units;
