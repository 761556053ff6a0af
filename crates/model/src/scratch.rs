//! One read buffer per thread, lent to whichever connection reads next.
//!
//! An idle connection of an async model holds no buffer: it waits for
//! readiness, then reads through its thread's scratch buffer and keeps a
//! `Vec` of exactly the bytes that came. The buffer is lent only for one
//! synchronous read, never across an `.await`, so one per thread serves
//! every task that thread runs.

use std::cell::RefCell;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Lends this thread's scratch buffer, `max` bytes long, to `read`.
/// `read` keeps what it needs (`buf[..n].to_vec()`) before it returns.
///
/// # Panics
/// If `read` itself borrows the scratch buffer again.
pub fn with<T>(max: usize, read: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.len() < max {
            scratch.resize(max, 0);
        }
        read(&mut scratch[..max])
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lends_a_buffer_of_the_size_asked_for_and_keeps_it() {
        assert_eq!(super::with(64, |buf| buf.len()), 64);
        super::with(64, |buf| buf[..5].copy_from_slice(b"hello"));
        assert_eq!(super::with(8, |buf| buf.to_vec()), b"hello\0\0\0");
    }
}
