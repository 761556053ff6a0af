//! The shared conformance suite, run against the `monoio` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_monoio::MODEL)
}
