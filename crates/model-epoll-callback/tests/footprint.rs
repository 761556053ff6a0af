//! What an idle connection costs `epoll-callback`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle =
        footprint::idle_connections(&model_epoll_callback::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: one slab entry (`Connection`, 72 B) and a timer entry, in
    // tables that double.
    assert!(idle.bytes_per_connection() <= 200.0, "{idle}");
}
