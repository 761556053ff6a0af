//! The harness behind the `c10k` binary: the list of models and the
//! subcommands, as a library so that tests and benchmarks call the same code
//! the binary runs.
//!
//! ```text
//! c10k serve <MODEL> [--addr HOST:PORT] [--workers N] [--max-conns N]
//!                    [--handshake-timeout SECS] [--idle-timeout SECS]
//!                    [--buffer BYTES] [--grace SECS] [--stack-size BYTES]
//! c10k load HOST:PORT [-c N] [-d SECS] [-s BYTES] [--rate R] [--json FILE] ...
//! c10k check HOST:PORT | --serve MODEL,... [--only CASES] [--skip CASES] [--json FILE]
//! ```

pub mod bench;
pub mod bench_cli;
pub mod check;
pub mod check_cli;
pub mod cli;
pub mod code_size;
pub mod load;
pub mod load_cli;
pub mod machine;
pub mod models;
pub mod plot;
pub mod serve;
pub mod server_process;
pub mod signals;
pub mod units;
