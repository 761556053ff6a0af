//! The shared conformance suite against `may` with the smallest stack it
//! gives a coroutine (`--stack-size 1`, raised to `MIN_STACK_SIZE`), so
//! that the floor is shown to hold the session's deepest call: an overflow
//! would hit the guard page and kill this test process.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use conformance::{CASES, InProcess, Outcome, Scale};
use model::{Config, Counters, Model, Shutdown};

fn serve_on_the_smallest_stack(
    listener: TcpListener,
    config: Config,
    shutdown: Shutdown,
    counters: Arc<Counters>,
) -> io::Result<()> {
    let smallest = Config {
        stack_size: 1,
        ..config
    };
    model_may::serve(listener, smallest, shutdown, counters)
}

static SMALLEST_STACK: Model = Model {
    serve: serve_on_the_smallest_stack,
    ..model_may::MODEL
};

#[test]
fn the_smallest_stack_serves_the_whole_suite() {
    let target = InProcess::new(&SMALLEST_STACK);
    for case in CASES.iter().filter(|case| !case.own_process) {
        let outcome = conformance::run(case, &target, Scale::Quick);
        assert!(
            matches!(outcome, Outcome::Passed(_)),
            "{}: {outcome:?}",
            case.name
        );
    }
}
