//! The shared conformance suite, run against the `async-std` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_async_std::MODEL)
}
