//! The shared conformance suite, run against the `smol` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_smol::MODEL)
}
