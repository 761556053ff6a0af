//! The shared conformance suite, run against the `thread-per-conn` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_thread_per_conn::MODEL)
}
