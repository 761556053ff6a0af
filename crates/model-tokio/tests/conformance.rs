//! The shared conformance suite, run against the `tokio` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_tokio::MODEL)
}
