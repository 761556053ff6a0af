//! What `c10k plot` reads: a bench's `results.json`, drawn into every view
//! as `c10k plot` draws it. Bad input must be an `Err`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(results) = serde_json::from_slice::<bench::record::BenchResults>(data) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("c10k-fuzz-plot-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let palette = bench_views::Palette::new(&["blocking", "thread-per-conn", "tokio", "io-uring"]);
    let _ = bench_views::draw(&dir, &results, &palette);
});
