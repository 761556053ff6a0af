//! Reading the server's `/proc` from the load's CPU without delaying the
//! load.
//!
//! The bench runs beside the load generator, on its CPUs, and a sample of
//! a server's CPU time and context switches reads one file per thread:
//! tens of milliseconds for `thread-per-conn` at 10,000 connections. At
//! the load's priority that work took turns with the load's sends, right
//! at the measured window's edges, and the load fell behind its schedule
//! (send lag p99 about 3 ms) at points where it was otherwise 40% busy.
//! At the lowest priority (nice 19) it runs only while the load sleeps.

/// The lowest priority a thread can give itself (nice 19).
const LOWEST: i32 = 19;

/// Lowers the calling thread to the lowest priority, for good: for a
/// thread that does nothing else. Best effort: where it is refused, the
/// thread keeps its priority.
pub(crate) fn lower_this_thread() {
    // On Linux `setpriority` on a thread id sets that thread's nice value alone.
    let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), LOWEST);
}

/// Runs `read` on a thread of its own at the lowest priority and returns
/// what it read (a thread's priority, once lowered, cannot be raised back
/// without privileges, so the caller's own thread is left as it is).
pub(crate) fn at_lowest_priority<T: Send>(read: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            lower_this_thread();
            read()
        });
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
