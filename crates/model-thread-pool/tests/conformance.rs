//! The shared conformance suite, run against the `thread-pool` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_thread_pool::MODEL)
}
