//! The shared conformance suite, run against the `may` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_may::MODEL)
}
