//! What an idle connection costs `async-std`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_async_std::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: a task of 496 B, the socket's `Source` of 216 B, its `Async`
    // (32 B) and the abort listener (40 B).
    assert!(idle.bytes_per_connection() <= 970.0, "{idle}");
}
