//! The shared conformance suite, run against the `io-uring` model in-process
//! (each case reports "not applicable" where io_uring is unavailable).

fn main() -> std::process::ExitCode {
    conformance::main(&model_io_uring::MODEL)
}
