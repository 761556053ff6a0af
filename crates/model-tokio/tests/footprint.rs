//! What an idle connection costs `tokio`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_tokio::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: a task of 512 B (tokio aligns it to 128) and the socket's
    // `ScheduledIo` of 256 B.
    assert!(idle.bytes_per_connection() <= 920.0, "{idle}");
}
