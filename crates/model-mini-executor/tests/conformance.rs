//! The shared conformance suite, run against the `mini-executor` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_mini_executor::MODEL)
}
