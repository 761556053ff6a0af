//! The shared conformance suite, run against the `epoll-callback` model in-process.

fn main() -> std::process::ExitCode {
    conformance::main(&model_epoll_callback::MODEL)
}
