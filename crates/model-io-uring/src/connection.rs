//! One connection's state between completions.
//!
//! The connection lives in a `Box`, so that the timeouts linked to its
//! operations (which the kernel reads by address) stay put while the slab
//! of connections grows. It holds bytes only while a send is in flight.

use std::os::fd::OwnedFd;

use io_uring::types::Timespec;
use model::{Admitted, Ending};
use protocol::Handshake;

/// Where a connection is in the protocol.
#[derive(Debug)]
pub(crate) enum Phase {
    Handshaking(Handshake),
    Echoing,
}

/// The operation a connection waits on; at most one at a time, which is
/// the backpressure: no receive while an echo is still being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    Recv,
    Send,
}

pub(crate) struct Conn {
    pub(crate) fd: OwnedFd,
    /// Its place under `--max-conns`; finished when the connection is removed.
    pub(crate) admitted: Admitted,
    pub(crate) phase: Phase,
    /// Echo bytes being sent, and how many of them have been.
    pub(crate) pending: Vec<u8>,
    pub(crate) sent: usize,
    /// Absolute (CLOCK_MONOTONIC) end of the handshake.
    pub(crate) handshake_deadline: Timespec,
    /// The idle timeout, relative, linked to every operation after the handshake.
    pub(crate) idle: Option<Timespec>,
    pub(crate) waiting: Option<Waiting>,
    /// Operations of this connection (including timeouts and cancels) not yet completed.
    pub(crate) in_flight: u32,
    /// Set once the connection is being closed: how it ended.
    pub(crate) closing: Option<Ending>,
}

impl Conn {
    /// Nothing of this connection is left in the kernel, and it is closing.
    pub(crate) fn finished(&self) -> bool {
        self.closing.is_some() && self.in_flight == 0
    }
}
