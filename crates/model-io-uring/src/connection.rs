//! One connection's state between completions, kept inline in the loop's
//! slab and small on purpose: an idle connection costs this struct and
//! nothing else (no buffer, no timer entry without an idle timeout, no
//! allocation).
//!
//! Its budget, on x86-64: the socket (4 bytes), its place under
//! `--max-conns` (8), the handshake parser and phase (4), six flags and a
//! count of cancellations (7), the queue of buffers it owes (head and tail:
//! 4; bytes owed: 4; the handshake reply's progress: 1), its deadline or
//! last activity in milliseconds (8), the deadline of its timer entry (16)
//! and how it ends (8): 64 bytes, checked by a test.

use std::os::fd::OwnedFd;

use model::{Admitted, Ending};
use protocol::{Handshake, Reject};

use crate::buffers::NONE;

/// Where a connection is in the protocol.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    Handshaking(Handshake),
    Echoing,
}

/// How a connection ends, without `io::Error`'s allocation: what
/// [`Ending`] is made from once nothing of it is left in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    Rejected(Reject),
    Completed,
    IdleTimeout,
    ShutDown,
    /// An error on the socket, as its errno.
    Failed(i32),
}

impl Close {
    pub(crate) fn ending(self) -> Ending {
        match self {
            Close::Rejected(why) => Ending::rejected(why),
            Close::Completed => Ending::Completed,
            Close::IdleTimeout => Ending::IdleTimeout,
            Close::ShutDown => Ending::ShutDown,
            Close::Failed(errno) => Ending::Failed(std::io::Error::from_raw_os_error(errno)),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) fd: OwnedFd,
    /// Its place under `--max-conns`; finished when the connection is removed.
    pub(crate) admitted: Admitted,
    pub(crate) phase: Phase,
    /// A multishot receive is armed (its last completion had `F_MORE`).
    pub(crate) receiving: bool,
    /// Its receive is being cancelled (backpressure, or closing).
    pub(crate) cancelling_recv: bool,
    /// Its receive ended for want of a buffer; armed again once some are back.
    pub(crate) starved: bool,
    /// A send of owed bytes is in flight.
    pub(crate) sending: bool,
    /// Cancellations submitted and not yet completed.
    pub(crate) cancels: u8,
    /// The client shut down its side: send what is owed, then close.
    pub(crate) end_of_stream: bool,
    /// The idle timer ended while a send was in flight: the send was
    /// cancelled, and its completion decides whether the peer is idle.
    pub(crate) expiring: bool,
    /// How many bytes of the handshake reply have been sent (it is sent
    /// from the protocol's constant, before any owed buffer).
    pub(crate) reply_sent: u8,
    /// The buffers it owes, oldest first (linked through the pool).
    pub(crate) head: u16,
    pub(crate) tail: u16,
    /// Bytes owed across those buffers.
    pub(crate) owed: u32,
    /// Milliseconds on the loop's clock: the handshake deadline while
    /// handshaking, then the last time a byte moved.
    pub(crate) since: u64,
    /// The deadline of its entry in the loop's timers, if it has one.
    pub(crate) scheduled: Option<u64>,
    /// Set once the connection is being closed.
    pub(crate) closing: Option<Close>,
}

impl Conn {
    pub(crate) fn new(fd: OwnedFd, admitted: Admitted, handshake_deadline: u64) -> Conn {
        Conn {
            fd,
            admitted,
            phase: Phase::Handshaking(Handshake::new()),
            receiving: false,
            cancelling_recv: false,
            starved: false,
            sending: false,
            cancels: 0,
            end_of_stream: false,
            expiring: false,
            reply_sent: 0,
            head: NONE,
            tail: NONE,
            owed: 0,
            since: handshake_deadline,
            scheduled: None,
            closing: None,
        }
    }

    /// Nothing of this connection is left in the kernel, and it is closing.
    pub(crate) fn finished(&self) -> bool {
        self.closing.is_some() && !self.receiving && !self.sending && self.cancels == 0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_idle_connection_costs_its_budget() {
        assert!(std::mem::size_of::<super::Conn>() <= 64);
    }
}
