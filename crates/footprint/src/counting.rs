//! The counting allocator: the system allocator, plus the live bytes and
//! the live allocations of each size class, readable at any moment.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Sizes are counted in classes of this many bytes, each alignment group
/// apart, up to [`LARGEST_CLASS`]; larger allocations share one class.
const CLASS_BYTES: usize = 8;
const LARGEST_CLASS: usize = 8192;
const CLASSES: usize = LARGEST_CLASS / CLASS_BYTES + 1;
/// Alignment groups: the allocator's natural alignment (16 on x86_64 glibc),
/// and anything stricter (a runtime's cache-line-aligned structures cost
/// glibc more than their size).
const GROUPS: usize = 2;
const NATURAL_ALIGN: usize = 16;

/// A global allocator that forwards to [`System`] and counts what is live.
#[derive(Debug)]
pub struct Counting {
    live: [[AtomicIsize; CLASSES]; GROUPS],
    /// Live bytes by the same classes: a container that grows in place
    /// keeps its count and changes only these.
    live_class_bytes: [[AtomicIsize; CLASSES]; GROUPS],
}

impl Counting {
    #[allow(clippy::new_without_default)] // a `static` needs a const constructor
    pub const fn new() -> Counting {
        Counting {
            live: [const { [const { AtomicIsize::new(0) }; CLASSES] }; GROUPS],
            live_class_bytes: [const { [const { AtomicIsize::new(0) }; CLASSES] }; GROUPS],
        }
    }

    /// What is live right now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            live: load(&self.live),
            live_class_bytes: load(&self.live_class_bytes),
        }
    }

    fn count(&self, layout: Layout, sign: isize) {
        let group = usize::from(layout.align() > NATURAL_ALIGN);
        let class = (layout.size().div_ceil(CLASS_BYTES)).min(CLASSES - 1);
        self.live[group][class].fetch_add(sign, Ordering::Relaxed);
        self.live_class_bytes[group][class]
            .fetch_add(sign * layout.size() as isize, Ordering::Relaxed);
    }
}

fn load(classes: &[[AtomicIsize; CLASSES]; GROUPS]) -> Vec<Vec<isize>> {
    classes
        .iter()
        .map(|group| group.iter().map(|n| n.load(Ordering::Relaxed)).collect())
        .collect()
}

// SAFETY: every method forwards to `System` with the caller's own arguments,
// so it keeps `System`'s guarantees; the counting touches only atomics and
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as it is.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.count(layout, 1);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.count(layout, 1);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.count(layout, -1);
        // SAFETY: `ptr` came from `System` through `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The live heap at one moment; two of them subtract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Live allocations by alignment group and size class.
    pub(crate) live: Vec<Vec<isize>>,
    /// Their bytes.
    pub(crate) live_class_bytes: Vec<Vec<isize>>,
}

impl Snapshot {
    /// Live bytes: the sum over every class.
    pub fn bytes(&self) -> isize {
        self.live_class_bytes.iter().flatten().sum()
    }

    /// Every size class whose bytes differ between `earlier` and `self`.
    pub(crate) fn grown_since(&self, earlier: &Snapshot) -> Vec<Grown> {
        let mut grown = Vec::new();
        for group in 0..GROUPS {
            for class in 0..CLASSES {
                let bytes =
                    self.live_class_bytes[group][class] - earlier.live_class_bytes[group][class];
                if bytes != 0 {
                    grown.push(Grown {
                        size: class * CLASS_BYTES,
                        over_aligned: group == 1,
                        count: self.live[group][class] - earlier.live[group][class],
                        bytes,
                    });
                }
            }
        }
        grown
    }

    /// Whether a size class is the catch-all for larger allocations.
    pub(crate) fn is_largest(size: usize) -> bool {
        size >= LARGEST_CLASS
    }
}

/// How one size class changed between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grown {
    /// Sizes up to this many bytes.
    pub(crate) size: usize,
    pub(crate) over_aligned: bool,
    /// Live allocations added.
    pub(crate) count: isize,
    /// Live bytes added (a container that grew in place adds bytes only).
    pub(crate) bytes: isize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations_by_size_and_alignment() {
        let heap = Counting::new();
        let before = heap.snapshot();
        let small = Layout::from_size_align(40, 8).unwrap();
        let aligned = Layout::from_size_align(256, 128).unwrap();
        heap.count(small, 1);
        heap.count(small, 1);
        heap.count(aligned, 1);
        let after = heap.snapshot();
        assert_eq!(after.bytes() - before.bytes(), 336);
        let grown = |size, over_aligned, count, bytes| Grown {
            size,
            over_aligned,
            count,
            bytes,
        };
        assert_eq!(
            after.grown_since(&before),
            vec![grown(40, false, 2, 80), grown(256, true, 1, 256)]
        );
        heap.count(aligned, -1);
        // A container that grows: one allocation out, a larger one in.
        heap.count(Layout::from_size_align(20_000, 8).unwrap(), -1);
        heap.count(Layout::from_size_align(40_000, 8).unwrap(), 1);
        assert_eq!(
            heap.snapshot().grown_since(&before),
            vec![grown(40, false, 2, 80), grown(8192, false, 0, 20_000)]
        );
    }
}
