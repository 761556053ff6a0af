//! The receive buffers: one fixed pool per ring, lent to the kernel as a
//! provided-buffer group. A receive names the group instead of a buffer and
//! the kernel picks one when data arrives, so a connection waiting for data
//! holds no buffer at all: memory is set by the pool, not by the number of
//! idle connections.

use io_uring::{opcode, squeue};

use crate::ring::Op;

/// The buffer group id of the pool.
pub(crate) const GROUP: u16 = 0;

/// `count` buffers of `size` bytes in one allocation.
pub(crate) struct Buffers {
    memory: Box<[u8]>,
    pub(crate) size: usize,
    pub(crate) count: u16,
}

impl Buffers {
    pub(crate) fn new(size: usize, count: u16) -> Buffers {
        Buffers {
            memory: vec![0; size * usize::from(count)].into_boxed_slice(),
            size,
            count,
        }
    }

    /// The entry that lends buffers `first..first + n` to the kernel.
    pub(crate) fn provide(&mut self, first: u16, n: u16) -> squeue::Entry {
        let start = usize::from(first) * self.size;
        let pointer = self.memory[start..].as_mut_ptr();
        opcode::ProvideBuffers::new(pointer, self.size as i32, n, GROUP, first)
            .build()
            .user_data(Op::Provide.encode())
    }

    /// The first `len` bytes of buffer `id`, filled by a completed receive.
    pub(crate) fn filled(&self, id: u16, len: usize) -> &[u8] {
        let start = usize::from(id) * self.size;
        &self.memory[start..start + len.min(self.size)]
    }
}
