//! What an idle connection costs `monoio`'s heap; see `footprint`.

#[global_allocator]
static HEAP: footprint::Counting = footprint::Counting::new();

#[test]
fn an_idle_connection_stays_within_its_budget() {
    let idle = footprint::idle_connections(&model_monoio::MODEL, Default::default(), &HEAP, 500);
    eprintln!("{idle}");
    // The budget: the connection's own `--buffer` (16 KiB, lent to the
    // kernel for every read; a page of it is resident), its task (2,560 B),
    // and its canceller.
    assert!(idle.bytes_per_connection() <= 21000.0, "{idle}");
}
