//! The receive buffers: a pool lent to the kernel through a ring-mapped
//! provided-buffer ring (`IORING_REGISTER_PBUF_RING`). A multishot receive
//! names the ring, not a buffer; the kernel takes the next buffer from the
//! ring's head when data arrives and says which in the completion. The
//! echo is sent straight from that buffer, and the buffer goes back to the
//! ring's tail, by a plain memory store and no submission, once the send
//! has taken all of it.
//!
//! Two sizes bound the memory. The ring holds [`RING_DEPTH`] buffers at a
//! time: what the kernel may fill between two turns of the loop. The pool
//! behind it holds more, for the bytes connections owe (at most `--buffer`
//! each), and a buffer given back goes on a stack that refills the ring
//! most recently used first, so the pages the kernel writes stay a small
//! hot set: the pool is allocated untouched and costs memory only for the
//! bytes that are in flight at once, not for the connections.
//!
//! The pool and the ring are memory the kernel writes into whenever it
//! likes, so Rust never holds a reference over them: they are kept as raw
//! pointers, and a slice is formed only over one buffer the kernel has
//! handed back and that is not in the ring while the slice lives.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group id of the ring.
pub(crate) const GROUP: u16 = 0;
/// Buffers in the kernel's ring at once (a power of two): what a burst of
/// receives completing in one turn of the loop can take. When it runs dry
/// a multishot receive ends with `ENOBUFS` and is armed again once buffers
/// are back.
pub(crate) const RING_DEPTH: u16 = 128;
/// The most one receive takes: one page, so that a 64-byte message touches
/// one page and a 4 KiB one needs one buffer.
const MAX_BUFFER: usize = 4096;
/// The least one receive takes: half the smallest `--buffer`.
const MIN_BUFFER: usize = 32;
/// Memory the whole pool may take (virtual: only buffers used are touched).
const POOL_BUDGET: usize = 8 << 20;
/// A buffer id that names none (the end of a connection's queue).
pub(crate) const NONE: u16 = u16::MAX;

/// One ring and its pool.
pub(crate) struct Buffers {
    /// The pool, `count` buffers of `size` bytes.
    pool: NonNull<u8>,
    pool_layout: Layout,
    /// The ring of `depth` entries the kernel reads, page-aligned.
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    /// Entries in the ring (a power of two): [`RING_DEPTH`] but in tests.
    pub(crate) depth: u16,
    pub(crate) size: usize,
    count: u16,
    /// Buffers neither in the ring nor holding bytes: used last, lent first.
    free: Vec<u16>,
    /// The tail this side has written up to (the kernel's head trails it).
    tail: u16,
    /// Buffers in the ring the kernel has not taken yet.
    in_ring: u16,
    /// Per buffer: the bytes a receive put there, `start..end` still owed,
    /// and the next buffer of the same connection's queue.
    start: Vec<u32>,
    end: Vec<u32>,
    next: Vec<u16>,
}

impl Buffers {
    /// A pool whose buffers hold half of `held` (so that a connection that
    /// owes less than `held` still has room for a whole receive), at least
    /// 32 bytes and at most 4 KiB, as many as fit an 8 MiB budget.
    pub(crate) fn for_bound(held: usize) -> io::Result<Buffers> {
        let size = (held / 2).clamp(MIN_BUFFER, MAX_BUFFER);
        let count = (POOL_BUDGET / size).clamp(usize::from(RING_DEPTH) * 2, 4096) as u16;
        Buffers::new(size, count, RING_DEPTH)
    }

    /// `count` buffers of `size` bytes behind a ring of `depth` entries.
    pub(crate) fn new(size: usize, count: u16, depth: u16) -> io::Result<Buffers> {
        if !depth.is_power_of_two() || depth > count {
            return Err(io::Error::other(format!(
                "a ring of {depth} buffers out of {count}"
            )));
        }
        // The allocator's own alignment: a larger one would make it zero the
        // pool by hand (touching every page) instead of taking fresh pages.
        let pool_layout =
            Layout::from_size_align(size * usize::from(count), 16).map_err(io::Error::other)?;
        let ring_layout = Layout::from_size_align(
            usize::from(depth) * std::mem::size_of::<BufRingEntry>(),
            4096,
        )
        .map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size. Zeroed memory from the
        // allocator is untouched pages for an allocation this large, so the
        // pool costs only the buffers that get used.
        let (pool, ring) = unsafe { (alloc_zeroed(pool_layout), alloc_zeroed(ring_layout)) };
        let (Some(pool), Some(ring)) = (NonNull::new(pool), NonNull::new(ring.cast())) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let n = usize::from(count);
        Ok(Buffers {
            pool,
            pool_layout,
            ring,
            ring_layout,
            depth,
            size,
            count,
            // Lent first from the end: buffer 0 first.
            free: (0..count).rev().collect(),
            tail: 0,
            in_ring: 0,
            start: vec![0; n],
            end: vec![0; n],
            next: vec![NONE; n],
        })
    }

    /// The ring's address and depth, for `register_buf_ring`.
    pub(crate) fn ring_address(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    /// Tops the ring up from the free stack, most recently used first, and
    /// publishes the new tail to the kernel. Returns how many buffers the
    /// ring holds now.
    pub(crate) fn refill(&mut self) -> u16 {
        let mask = self.depth - 1;
        let before = self.tail;
        while self.in_ring < self.depth {
            let Some(bid) = self.free.pop() else {
                break;
            };
            let slot = usize::from(self.tail & mask);
            // SAFETY: `slot` is below `depth`, inside the ring's allocation.
            // The kernel has taken the entry that was there (fewer than
            // `depth` are in the ring), and reads this one only
            // after the tail store below makes it visible.
            let entry = unsafe { &mut *self.ring.as_ptr().add(slot) };
            entry.set_addr(self.buffer_address(bid) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(bid);
            self.tail = self.tail.wrapping_add(1);
            self.in_ring += 1;
        }
        if self.tail != before {
            // SAFETY: the tail is the `resv` field of the ring's first entry
            // (the kernel's layout), a u16 inside the allocation and aligned
            // for one; the kernel reads it concurrently, hence the atomic
            // store, which also orders the entries written above before it.
            let tail = unsafe { &*BufRingEntry::tail(self.ring.as_ptr()).cast::<AtomicU16>() };
            tail.store(self.tail, Ordering::Release);
        }
        self.in_ring
    }

    /// Buffers neither in the ring nor holding bytes.
    #[cfg(test)]
    pub(crate) fn free_len(&self) -> usize {
        self.free.len()
    }

    /// Buffers holding bytes a connection owes (neither free nor in the ring).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        usize::from(self.count) - self.free.len() - usize::from(self.in_ring)
    }

    /// Buffers the kernel can still fill without a refill.
    pub(crate) fn in_ring(&self) -> u16 {
        self.in_ring
    }

    /// The kernel filled buffer `bid` with `len` bytes (a completion said so).
    pub(crate) fn taken(&mut self, bid: u16, len: usize) {
        assert!(bid < self.count, "buffer {bid} is not in the pool");
        self.in_ring = self.in_ring.saturating_sub(1);
        self.start[usize::from(bid)] = 0;
        self.end[usize::from(bid)] = len.min(self.size) as u32;
        self.next[usize::from(bid)] = NONE;
    }

    /// Buffer `bid` holds no more bytes: it goes back on the stack, to be
    /// lent again at the next refill.
    pub(crate) fn give_back(&mut self, bid: u16) {
        self.next[usize::from(bid)] = NONE;
        self.free.push(bid);
    }

    /// The bytes of `bid` still owed.
    pub(crate) fn owed(&self, bid: u16) -> &[u8] {
        let (start, end) = self.range(bid);
        // SAFETY: `bid` was handed back by the kernel (`taken`) and is not in
        // the ring until `give_back`; its bytes lie inside the pool, and
        // nothing writes them while the slice lives (`give_back` and
        // `refill` take `&mut self`).
        unsafe { std::slice::from_raw_parts(self.buffer_address(bid).add(start), end - start) }
    }

    /// `n` more bytes of `bid` were sent; whether all of it has been.
    pub(crate) fn consume(&mut self, bid: u16, n: usize) -> bool {
        let i = usize::from(bid);
        self.start[i] = (self.start[i] as usize + n).min(self.end[i] as usize) as u32;
        self.start[i] == self.end[i]
    }

    /// Moves the bytes of `bid` to the end of `tail`, if they fit behind the
    /// bytes `tail` holds, so that a connection sending many small pieces
    /// holds few buffers; `bid` then goes back. Bytes of `tail` a send is
    /// reading are not touched: only its free end is written.
    pub(crate) fn append(&mut self, tail: u16, bid: u16) -> bool {
        let (from, to) = (usize::from(bid), usize::from(tail));
        let len = (self.end[from] - self.start[from]) as usize;
        let end = self.end[to] as usize;
        if end + len > self.size {
            return false;
        }
        // SAFETY: both buffers were handed back by the kernel and are not in
        // the ring; the source bytes lie inside `bid`, the destination
        // `end..end + len` inside `tail` (checked above), and two distinct
        // buffers do not overlap. No send reads past `end` of `tail`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.buffer_address(bid).add(self.start[from] as usize),
                self.buffer_address(tail).add(end),
                len,
            );
        }
        self.end[to] += len as u32;
        self.give_back(bid);
        true
    }

    /// The buffer after `bid` in its connection's queue.
    pub(crate) fn next(&self, bid: u16) -> u16 {
        self.next[usize::from(bid)]
    }

    /// Puts `bid` after `after` in a connection's queue.
    pub(crate) fn link(&mut self, after: u16, bid: u16) {
        self.next[usize::from(after)] = bid;
    }

    fn range(&self, bid: u16) -> (usize, usize) {
        assert!(bid < self.count, "buffer {bid} is not in the pool");
        let i = usize::from(bid);
        (self.start[i] as usize, self.end[i] as usize)
    }

    fn buffer_address(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < count`, so the offset stays inside the pool.
        unsafe { self.pool.as_ptr().add(usize::from(bid) * self.size) }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        // SAFETY: both came from `alloc_zeroed` with these layouts in `new`
        // and are freed only here. The event loop drops the pool only after
        // every receive that could write into it has completed and the ring
        // is unregistered (it leaks itself otherwise).
        unsafe {
            dealloc(self.pool.as_ptr(), self.pool_layout);
            dealloc(self.ring.as_ptr().cast(), self.ring_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_stays_within_its_budget_whatever_the_buffer() {
        for held in [64, 4096, 16 << 10, 1 << 20, 64 << 20] {
            let pool = Buffers::for_bound(held).unwrap();
            assert!(pool.size <= held.max(protocol::MAX_LINE) && pool.size <= MAX_BUFFER);
            let bytes = pool.size * usize::from(pool.count);
            assert!(bytes <= POOL_BUDGET, "--buffer {held}: {bytes} bytes");
            assert!(pool.count >= RING_DEPTH * 2);
        }
    }

    #[test]
    fn the_ring_is_refilled_most_recently_used_first() {
        let mut pool = Buffers::new(64, RING_DEPTH * 2, RING_DEPTH).unwrap();
        assert_eq!(pool.refill(), RING_DEPTH);
        // The kernel takes buffers 0 and 1; 1 comes back, then 0.
        pool.taken(0, 10);
        pool.taken(1, 20);
        assert_eq!(pool.in_ring(), RING_DEPTH - 2);
        pool.give_back(1);
        pool.give_back(0);
        assert_eq!(pool.refill(), RING_DEPTH);
        // The two slots written next hold the stack's top first: 0, then 1.
        let slot = |i: u16| {
            // SAFETY: `i` is below RING_DEPTH; nothing else touches the ring here.
            unsafe { (*pool.ring.as_ptr().add(usize::from(i))).bid() }
        };
        assert_eq!((slot(0), slot(1)), (0, 1));
        // SAFETY: as above.
        let tail = unsafe { *BufRingEntry::tail(pool.ring.as_ptr()) };
        assert_eq!(tail, RING_DEPTH + 2);
        assert_eq!(pool.free.len(), usize::from(RING_DEPTH));
    }

    #[test]
    fn owed_bytes_shrink_as_they_are_sent() {
        let mut pool = Buffers::new(64, RING_DEPTH * 2, RING_DEPTH).unwrap();
        pool.refill();
        let bid = 3;
        // SAFETY: buffer 3 is in the test's pool; no kernel holds it.
        unsafe { pool.buffer_address(bid).write_bytes(b'x', 64) };
        pool.taken(bid, 10);
        assert!(!pool.consume(bid, 4));
        assert_eq!(pool.owed(bid), b"xxxxxx");
        assert!(!pool.consume(bid, 5));
        assert_eq!(pool.owed(bid).len(), 1);
        assert!(pool.consume(bid, 1));
        assert!(pool.owed(bid).is_empty());
    }
}
