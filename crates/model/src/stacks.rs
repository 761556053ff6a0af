//! How many stacks one process can map: the bound of every model that gives
//! each connection a stack of its own, a thread's or a coroutine's.
//!
//! Each stack is a few memory mappings (the stack and its guard page, and
//! for a thread its signal stack), and Linux caps mappings per process at
//! `vm.max_map_count` (65,530 by default). A model that reaches the cap
//! does not fail politely: a thread that cannot map its signal stack aborts
//! the process, and may's coroutine spawn panics. So such a model caps
//! `--max-conns` at [`limit`] and never gets there.

/// Mappings left for the binary, libraries, heap and the allocator's arenas.
const RESERVED_MAPS: usize = 4096;

/// How many stacks of `maps_per_stack` mappings each fit below
/// `vm.max_map_count`, with room left for everything else.
pub fn limit(maps_per_stack: usize) -> usize {
    let maps = process_stats::sysctl_number("vm/max_map_count")
        .and_then(|value| usize::try_from(value).ok())
        .unwrap_or(65_530);
    (maps.saturating_sub(RESERVED_MAPS) / maps_per_stack.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stacks_stay_below_the_map_count() {
        let maps = process_stats::sysctl_number("vm/max_map_count").unwrap() as usize;
        for per_stack in [1, 2, 4] {
            let limit = super::limit(per_stack);
            assert!(limit >= 1);
            assert!(limit * per_stack < maps);
        }
    }
}
