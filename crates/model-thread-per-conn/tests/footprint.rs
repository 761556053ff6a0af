//! What an idle connection costs `thread-per-conn`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(
        &model_thread_per_conn::MODEL,
        Default::default(),
        &HEAP,
        200,
    );
    eprintln!("{idle}");
    // The budget: the thread's `--buffer` read buffer (16 KiB), its handle and
    // its spawn.
    assert!(idle.bytes_per_connection() <= 17500.0, "{idle}");
}
