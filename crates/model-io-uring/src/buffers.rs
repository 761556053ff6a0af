//! The receive buffers: one fixed pool per ring, lent to the kernel as a
//! provided-buffer group. A receive names the group instead of a buffer and
//! the kernel picks one when data arrives, so a connection waiting for data
//! holds no buffer at all: memory is set by the pool, not by the number of
//! idle connections.
//!
//! The pool is one allocation the kernel writes into whenever it likes, so
//! Rust never holds a reference over all of it: it is kept as a raw pointer,
//! and a slice is formed only over one buffer the kernel has handed back
//! and that is not lent again while the slice lives.

use std::ptr::NonNull;

use io_uring::{opcode, squeue};

use crate::ring::Op;

/// The buffer group id of the pool.
pub(crate) const GROUP: u16 = 0;

/// Memory one ring's pool may take, whatever `--buffer` is.
const POOL_BUDGET: usize = 8 << 20;
/// The most one receive takes. The bound on held bytes is `--buffer`, and a
/// receive of less keeps it; bigger receives would only shrink the pool.
const MAX_RECEIVE: usize = 64 << 10;
/// Buffers per pool: enough for a burst of receives completing in one
/// batch, few enough that ids fit a `u16` with room to spare.
const MIN_COUNT: usize = 16;
const MAX_COUNT: usize = 512;

/// `count` buffers of `size` bytes in one allocation.
pub(crate) struct Buffers {
    /// The pool, from `Box::into_raw`; freed in `Drop`.
    memory: NonNull<[u8]>,
    pub(crate) size: usize,
    pub(crate) count: u16,
}

impl Buffers {
    /// A pool for connections that hold at most `held` bytes each: receives
    /// of up to `min(held, 64 KiB)` bytes, as many buffers of that size as
    /// fit an 8 MiB budget (at least 16, at most 512).
    pub(crate) fn for_bound(held: usize) -> Buffers {
        let size = held.clamp(protocol::MAX_LINE, MAX_RECEIVE);
        let count = (POOL_BUDGET / size).clamp(MIN_COUNT, MAX_COUNT);
        Buffers::new(size, count as u16)
    }

    fn new(size: usize, count: u16) -> Buffers {
        let memory = vec![0u8; size * usize::from(count)].into_boxed_slice();
        Buffers {
            memory: NonNull::from(Box::leak(memory)),
            size,
            count,
        }
    }

    /// The entry that lends buffers `first..first + count` to the kernel.
    /// Forms no reference into the pool: the kernel may be writing other
    /// buffers of it right now.
    pub(crate) fn provide(&mut self, first: u16, count: u16) -> squeue::Entry {
        let start = usize::from(first) * self.size;
        debug_assert!(usize::from(first) + usize::from(count) <= usize::from(self.count));
        // SAFETY: `start` is within the allocation (`first < self.count`),
        // so the offset pointer stays inside it.
        let pointer = unsafe { self.memory.cast::<u8>().as_ptr().add(start) };
        // `size` is at most MAX_RECEIVE, so it fits the kernel's i32.
        opcode::ProvideBuffers::new(pointer, self.size as i32, count, GROUP, first)
            .build()
            .user_data(Op::Provide { first, count }.encode())
    }

    /// The first `len` bytes of buffer `id`, filled by a completed receive.
    ///
    /// The caller passes an `id` the kernel just returned with a completion
    /// and lends it again only after the slice is gone; `provide` takes
    /// `&mut self`, so the borrow checker holds it to the second half.
    pub(crate) fn filled(&self, id: u16, len: usize) -> &[u8] {
        assert!(id < self.count, "buffer {id} is not in the pool");
        let start = usize::from(id) * self.size;
        // SAFETY: buffer `id` lies inside the allocation; the kernel handed
        // it back with this completion and writes it again only once it is
        // provided again, which needs `&mut self` and so ends this borrow.
        unsafe {
            std::slice::from_raw_parts(
                self.memory.cast::<u8>().as_ptr().add(start),
                len.min(self.size),
            )
        }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: `memory` came from `Box::leak` in `new` and is freed only
        // here. The event loop drops the pool only after every operation
        // that could write into it has completed (it leaks itself otherwise).
        drop(unsafe { Box::from_raw(self.memory.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_stays_within_its_budget_whatever_the_buffer() {
        for held in [64, 4096, 16 << 10, 1 << 20, 64 << 20] {
            let pool = Buffers::for_bound(held);
            assert!(pool.size <= held.max(protocol::MAX_LINE) && pool.size <= MAX_RECEIVE);
            let bytes = pool.size * usize::from(pool.count);
            assert!(bytes <= POOL_BUDGET, "--buffer {held}: {bytes} bytes");
            assert!(usize::from(pool.count) >= MIN_COUNT);
        }
        assert_eq!(Buffers::for_bound(16 << 10).count, 512);
    }

    #[test]
    fn filled_reads_only_the_buffer_asked_for() {
        let mut pool = Buffers::new(64, 4);
        // SAFETY: no kernel holds this pool (it was never provided), so the
        // test may write buffer 1, which lies inside the allocation.
        unsafe { pool.memory.cast::<u8>().as_ptr().add(64).write_bytes(7, 64) };
        assert_eq!(pool.filled(1, 10), &[7; 10]);
        assert_eq!(pool.filled(1, 1000).len(), 64);
        assert_eq!(pool.filled(0, 3), &[0; 3]);
        let _ = pool.provide(0, 4);
    }
}
