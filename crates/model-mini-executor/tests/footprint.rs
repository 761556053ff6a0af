//! What an idle connection costs `mini-executor`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle =
        footprint::idle_connections(&model_mini_executor::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: the boxed future (344 B), its waker (40 B) and slab entries.
    assert!(idle.bytes_per_connection() <= 600.0, "{idle}");
}
