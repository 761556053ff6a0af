//! The shared conformance suite, run against the `rayon-pool` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_rayon_pool::MODEL)
}
