//! What an idle connection costs `may`'s heap; see `footprint`. The
//! coroutine's stack is mapped, not allocated, so it is not counted here:
//! `scripts/rss-per-conn.sh may` shows its touched pages.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_may::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: the session's 16 KiB `--buffer` read buffer (as
    // `thread-per-conn`'s, only its touched first page is resident), and
    // the coroutine's handle, join state and event-loop registration
    // (about 500 B).
    assert!(idle.bytes_per_connection() <= 17500.0, "{idle}");
}
