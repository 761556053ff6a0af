//! The ring, and the one place that hands memory to the kernel.
//!
//! Every operation carries a `user_data` word that says what it is and for
//! which connection ([`Op`]). Submitting is `unsafe` in io_uring because the
//! kernel keeps the pointers an entry carries until the entry completes;
//! [`Ring::push`] is the only place that does it, and the event loop keeps
//! the invariant its `SAFETY` comment states.

use std::io;
use std::time::Duration;

use io_uring::{IoUring, squeue, types};

/// What an operation is, encoded in its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Accepting on the listener.
    Accept,
    /// The back-off timer before accepting again, after EMFILE.
    AcceptRetry,
    /// Reading the eventfd a shutdown writes to.
    Wake,
    /// Giving buffers back to the kernel's pool.
    Provide,
    /// Cancelling the accept or the wake-up read at the end.
    CancelLoop,
    /// A connection's receive.
    Recv(usize),
    /// A connection's send.
    Send(usize),
    /// The timeout linked to a connection's receive or send.
    Timeout(usize),
    /// Cancelling a connection's operation.
    Cancel(usize),
}

impl Op {
    pub(crate) fn encode(self) -> u64 {
        let (kind, key) = match self {
            Op::Accept => (0, 0),
            Op::AcceptRetry => (1, 0),
            Op::Wake => (2, 0),
            Op::Provide => (3, 0),
            Op::CancelLoop => (4, 0),
            Op::Recv(key) => (5, key),
            Op::Send(key) => (6, key),
            Op::Timeout(key) => (7, key),
            Op::Cancel(key) => (8, key),
        };
        (key as u64) << 8 | kind
    }

    pub(crate) fn decode(data: u64) -> Op {
        let key = (data >> 8) as usize;
        match data & 0xff {
            0 => Op::Accept,
            1 => Op::AcceptRetry,
            2 => Op::Wake,
            3 => Op::Provide,
            4 => Op::CancelLoop,
            5 => Op::Recv(key),
            6 => Op::Send(key),
            7 => Op::Timeout(key),
            _ => Op::Cancel(key),
        }
    }
}

/// A completed operation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) op: Op,
    /// The system call's result: a count or descriptor, or `-errno`.
    pub(crate) result: i32,
    pub(crate) flags: u32,
}

/// An io_uring instance with submission helpers.
pub(crate) struct Ring {
    ring: IoUring,
    /// Operations submitted whose completion has not been reaped yet.
    pub(crate) in_flight: usize,
}

impl Ring {
    /// A ring used only by the calling thread.
    ///
    /// Completions arrive as task work for the thread that submitted the
    /// operation. By default the kernel interrupts that thread to run it,
    /// which shows up as `EINTR` in blocking calls; this loop always waits
    /// in `io_uring_enter` anyway, so it asks the kernel to run task work
    /// only there (`DEFER_TASKRUN`, which needs `SINGLE_ISSUER`), falling
    /// back to a plain ring on kernels older than 6.1.
    pub(crate) fn new(entries: u32) -> io::Result<Ring> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(entries)
            .or_else(|_| IoUring::new(entries))?;
        Ok(Ring { ring, in_flight: 0 })
    }

    /// Queues one operation.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must stay valid, and its memory must not be
    /// reused, until the completion of `entry` has been reaped.
    pub(crate) unsafe fn push(&mut self, entry: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the caller guarantees that the memory `entry` points to
            // outlives the operation; pushing only copies the entry itself.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                self.in_flight += 1;
                return Ok(());
            }
            // The submission queue is full: hand it to the kernel, then retry.
            self.ring.submit()?;
        }
    }

    /// Submits what is queued and waits for at least one completion, or
    /// until `timeout` passes.
    pub(crate) fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let result = match timeout {
            None => self.ring.submit_and_wait(1).map(drop),
            Some(timeout) => {
                let ts = types::Timespec::from(timeout);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args).map(drop)
            }
        };
        match result {
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// Takes the completions that are ready.
    pub(crate) fn completions(&mut self, into: &mut Vec<Completion>) {
        into.clear();
        for cqe in self.ring.completion() {
            into.push(Completion {
                op: Op::decode(cqe.user_data()),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
        self.in_flight -= into.len();
    }
}

/// Whether this kernel (and its seccomp profile) lets us use io_uring with
/// every operation the model needs.
pub(crate) fn check_available() -> Result<(), String> {
    use io_uring::opcode;
    let ring = IoUring::new(8).map_err(|e| format!("io_uring unavailable: {e}"))?;
    let mut probe = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("io_uring unavailable: cannot probe operations: {e}"))?;
    let needed = [
        ("accept", opcode::Accept::CODE),
        ("recv", opcode::Recv::CODE),
        ("send", opcode::Send::CODE),
        ("read", opcode::Read::CODE),
        ("provide buffers", opcode::ProvideBuffers::CODE),
        ("link timeout", opcode::LinkTimeout::CODE),
        ("timeout", opcode::Timeout::CODE),
        ("async cancel", opcode::AsyncCancel::CODE),
    ];
    for (name, code) in needed {
        if !probe.is_supported(code) {
            return Err(format!(
                "io_uring unavailable: this kernel lacks the {name} operation"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Op;

    #[test]
    fn user_data_round_trips() {
        for op in [
            Op::Accept,
            Op::Wake,
            Op::CancelLoop,
            Op::Recv(0),
            Op::Send(12_345),
            Op::Timeout(u32::MAX as usize),
            Op::Cancel(7),
        ] {
            assert_eq!(Op::decode(op.encode()), op);
        }
    }
}
