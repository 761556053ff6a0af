//! What an idle connection costs `io-uring`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_io_uring::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: one slab entry (`Conn`, 64 B) and a timer entry, in tables
    // that double.
    assert!(idle.bytes_per_connection() <= 200.0, "{idle}");
}
