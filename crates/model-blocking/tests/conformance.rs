//! The shared conformance suite, run against the `blocking` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_blocking::MODEL)
}
