//! What an idle connection costs `smol`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_smol::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: a task of 392 B and the socket's `Source` of 216 B, plus the
    // reactor's and executor's tables.
    assert!(idle.bytes_per_connection() <= 780.0, "{idle}");
}
