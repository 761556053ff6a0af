//! The command line's unit strings: sizes, counts, durations, bursts, rates, times,
//! CPU lists and source address ranges. Never a panic, never a list past
//! its bound.
#![no_main]

use bench_harness::units;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = units::parse_bytes(text);
    let _ = units::parse_count(text);
    let _ = units::parse_duration(text);
    if let Ok(burst) = units::burst(text) {
        assert!(burst <= load::settings::MAX_BURST);
    }
    let _ = units::parse_time(text);
    let _ = units::positive_rate(text);
    if let Ok(cpus) = units::parse_cpus(text) {
        assert!(cpus.0.len() <= units::MAX_CPUS);
    }
    if let Ok(addrs) = load::settings::parse_source_addrs(text) {
        assert!(addrs.len() <= 1024 || !text.contains('-'));
    }
});
