//! The ring, and the one place that hands memory to the kernel.
//!
//! Every operation carries a `user_data` word that says what it is and for
//! which connection ([`Op`]). Submitting is `unsafe` in io_uring because the
//! kernel keeps the pointers an entry carries until the entry completes;
//! [`Ring::push`] is the only place that does it, and the event loop keeps
//! the invariant its `SAFETY` comment states.

use std::io;
use std::time::{Duration, Instant};

use io_uring::{IoUring, squeue, types};

use crate::buffers::Buffers;

/// What an operation is, encoded in its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// The multishot accept on the listener.
    Accept,
    /// The back-off timer before accepting again, after EMFILE.
    AcceptRetry,
    /// Reading the eventfd a shutdown writes to.
    Wake,
    /// Cancelling the accept or the wake-up read at the end.
    CancelLoop,
    /// Waiting for a connection's handshake bytes to arrive.
    Poll(usize),
    /// A connection's multishot receive.
    Recv(usize),
    /// A connection's send.
    Send(usize),
    /// Cancelling a connection's receive or send.
    Cancel(usize),
}

impl Op {
    pub(crate) fn encode(self) -> u64 {
        let (kind, key) = match self {
            Op::Accept => (0, 0),
            Op::AcceptRetry => (1, 0),
            Op::Wake => (2, 0),
            Op::CancelLoop => (4, 0),
            Op::Recv(key) => (5, key),
            Op::Poll(key) => (7, key),
            Op::Send(key) => (6, key),
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
            4 => Op::CancelLoop,
            5 => Op::Recv(key),
            6 => Op::Send(key),
            7 => Op::Poll(key),
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
    /// Operations submitted whose last completion has not been reaped yet.
    pub(crate) in_flight: usize,
    /// Completions taken off the queue while making room for submissions,
    /// not yet handed to the loop.
    reaped: Vec<Completion>,
    /// `--batch-wait`: after the first completion, how long a wait may go
    /// on for [`BATCH`] of them (the kernel's minimum wait, Linux 6.12).
    batch_wait: Option<Duration>,
}

/// How many completions a batched wait waits for, at most.
const BATCH: usize = 64;

/// How long pushing keeps retrying a submission the kernel refuses for
/// want of completion-queue room or memory before it gives up.
const TRANSIENT_LIMIT: Duration = Duration::from_secs(1);

impl Ring {
    /// A ring used only by the calling thread, with room for `entries`
    /// submissions (a power of two) and twice as many completions.
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
        Ok(Ring {
            ring,
            in_flight: 0,
            reaped: Vec::new(),
            batch_wait: None,
        })
    }

    /// Waits batch completions: after the first, up to `wait` for more.
    pub(crate) fn batch_completions(&mut self, wait: Option<Duration>) {
        self.batch_wait = wait;
    }

    /// Queues `entries` in one batch: all of them or, on error, none.
    ///
    /// A linked pair (an operation marked `IO_LINK` and its `LinkTimeout`)
    /// must reach the kernel in the same submission, or the timeout arrives
    /// alone and fails with `EINVAL`, leaving the operation without its
    /// deadline; so room for every entry is made before the first is queued.
    ///
    /// # Safety
    ///
    /// Every pointer in `entries` must stay valid, and its memory must not
    /// be reused, until the completion of that entry has been reaped.
    pub(crate) unsafe fn push(&mut self, entries: &[squeue::Entry]) -> io::Result<()> {
        self.make_room(entries.len())?;
        // SAFETY: the caller guarantees that the memory the entries point to
        // outlives their operations; pushing only copies the entries.
        unsafe { self.ring.submission().push_multiple(entries) }
            .map_err(|_| io::Error::other("the submission queue has no room after making room"))?;
        self.in_flight += entries.len();
        Ok(())
    }

    /// Hands queued submissions to the kernel until `n` slots are free.
    ///
    /// The kernel refuses a submission with `EBUSY` while completions it
    /// could not post are waiting, and with `EAGAIN` when it is short of
    /// memory. Both pass once completions are taken, so they are reaped (for
    /// [`Ring::completions`] to hand out later) and the submission retried,
    /// with a short pause when nothing was ready; only a refusal lasting
    /// [`TRANSIENT_LIMIT`] is an error.
    fn make_room(&mut self, n: usize) -> io::Result<()> {
        if n > self.ring.submission().capacity() {
            return Err(io::Error::other(format!(
                "{n} linked entries do not fit a submission queue of {}",
                self.ring.submission().capacity()
            )));
        }
        let mut refused_since = None;
        loop {
            let free = {
                let queue = self.ring.submission();
                queue.capacity() - queue.len()
            };
            if free >= n {
                return Ok(());
            }
            match self.ring.submit() {
                Ok(_) => refused_since = None,
                Err(err) if is_transient(&err) => {
                    let since = *refused_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > TRANSIENT_LIMIT {
                        return Err(err);
                    }
                    if self.reap() == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// Moves ready completions to `reaped`; returns how many.
    fn reap(&mut self) -> usize {
        let before = self.reaped.len();
        self.reaped
            .extend(self.ring.completion().map(Completion::from));
        let taken = &self.reaped[before..];
        self.in_flight -= ended(taken);
        taken.len()
    }

    /// Submits what is queued and waits for at least one completion, or
    /// until `timeout` passes. Refusals that pass by themselves (the wait
    /// timed out, a signal, a full completion queue, a memory shortage) are
    /// not errors: the loop takes the completions it has and comes back.
    pub(crate) fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        if !self.reaped.is_empty() {
            // Completions are already waiting to be handled: do not sleep.
            return match self.ring.submit() {
                Err(err) if !is_transient(&err) => Err(err),
                _ => Ok(()),
            };
        }
        let result = match (timeout, self.batch_wait) {
            (None, None) => self.ring.submit_and_wait(1).map(drop),
            (Some(timeout), None) => {
                let ts = types::Timespec::from(timeout);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args).map(drop)
            }
            (timeout, Some(batch)) => {
                let ts = types::Timespec::from(timeout.unwrap_or(model::config::MAX_WAIT));
                let micros = u32::try_from(batch.as_micros()).unwrap_or(u32::MAX);
                let args = types::SubmitArgs::new().timespec(&ts).min_wait_usec(micros);
                match self.ring.submitter().submit_with_args(BATCH, &args) {
                    Err(err) if err.raw_os_error() == Some(libc::EINVAL) => {
                        eprintln!(
                            "io-uring: this kernel has no minimum wait (Linux 6.12); --batch-wait is off"
                        );
                        self.batch_wait = None;
                        return self.submit_and_wait(timeout);
                    }
                    other => other.map(drop),
                }
            }
        };
        match result {
            Err(err) if is_transient(&err) || err.raw_os_error() == Some(libc::ETIME) => Ok(()),
            other => other,
        }
    }

    /// Lends `buffers`' ring to the kernel as buffer group `group`.
    pub(crate) fn register_buffers(&self, buffers: &Buffers, group: u16) -> io::Result<()> {
        // SAFETY: the ring memory is page-aligned and `depth` entries long,
        // and the event loop keeps it (and the pool its entries point into)
        // alive until `unregister_buffers`, or leaks both.
        unsafe {
            self.ring.submitter().register_buf_ring_with_flags(
                buffers.ring_address(),
                buffers.depth,
                group,
                0,
            )
        }
    }

    /// Takes the ring back from the kernel.
    pub(crate) fn unregister_buffers(&self, group: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(group)
    }

    /// Takes the completions that are ready.
    pub(crate) fn completions(&mut self, into: &mut Vec<Completion>) {
        into.clear();
        into.append(&mut self.reaped);
        let before = into.len();
        into.extend(self.ring.completion().map(Completion::from));
        self.in_flight -= ended(&into[before..]);
    }
}

impl From<io_uring::cqueue::Entry> for Completion {
    fn from(cqe: io_uring::cqueue::Entry) -> Completion {
        Completion {
            op: Op::decode(cqe.user_data()),
            result: cqe.result(),
            flags: cqe.flags(),
        }
    }
}

/// `receive` (a multishot receive) ended by the kernel once it has brought
/// `total` bytes, for which io_uring reads the submission's `optlen`
/// (Linux 6.16). The io-uring crate has no setter for it yet.
pub(crate) fn cap_total(receive: squeue::Entry, total: u32) -> squeue::Entry {
    /// Where `optlen` sits in the kernel's 64-byte `io_uring_sqe` (the union
    /// with `file_index` and `splice_fd_in`).
    const OPTLEN: usize = 44;
    // SAFETY: `squeue::Entry` is `repr(C)` around the kernel's
    // `io_uring_sqe`, 64 bytes of plain integers, so it round-trips through
    // bytes; only the `optlen` word is changed, which a receive leaves zero.
    let mut raw: [u8; 64] = unsafe { std::mem::transmute(receive) };
    raw[OPTLEN..OPTLEN + 4].copy_from_slice(&total.to_ne_bytes());
    // SAFETY: as above; any bytes are a valid `io_uring_sqe`.
    unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(raw) }
}

/// How many of `completions` end their operation: a multishot operation
/// completes many times, each but its last with `F_MORE`.
fn ended(completions: &[Completion]) -> usize {
    completions
        .iter()
        .filter(|c| !io_uring::cqueue::more(c.flags))
        .count()
}

/// Submission refusals that pass once completions are taken or memory is
/// freed: `EBUSY`, `EAGAIN`, and a signal (`EINTR`).
fn is_transient(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EBUSY | libc::EAGAIN | libc::EINTR)
    )
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
    // Multishot receive (6.0) has no opcode of its own to probe for.
    let release = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    let version: Vec<u32> = release
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .filter_map(|part| part.parse().ok())
        .collect();
    if version.as_slice() < [6, 0].as_slice() {
        return Err(format!(
            "io_uring unavailable: multishot receive needs Linux 6.0, this is {release}"
        ));
    }
    let probe_buffers =
        Buffers::for_bound(protocol::MAX_LINE).map_err(|e| format!("io_uring unavailable: {e}"))?;
    let ring = Ring::new(8).map_err(|e| format!("io_uring unavailable: {e}"))?;
    ring.register_buffers(&probe_buffers, 0)
        .and_then(|()| ring.unregister_buffers(0))
        .map_err(|e| format!("io_uring unavailable: no ring-mapped provided buffers: {e}"))
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
            Op::Poll(3),
            Op::Recv(u32::MAX as usize),
            Op::Cancel(7),
        ] {
            assert_eq!(Op::decode(op.encode()), op);
        }
    }
}

#[cfg(test)]
mod linked_tests {
    use super::*;
    use io_uring::opcode;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    /// A recv with a linked timeout, pushed when one slot is left: both
    /// must reach the kernel together, so the recv times out (`ECANCELED`)
    /// and the timeout fires (`ETIME`). Split, the timeout fails alone with
    /// `EINVAL` and the recv waits for ever.
    #[test]
    fn a_linked_pair_is_never_split_across_submissions() {
        if check_available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let mut ring = Ring::new(4).unwrap();
        let (quiet, _peer) = UnixStream::pair().unwrap();
        let mut buffer = [0u8; 16];
        let timeout = types::Timespec::new().nsec(50_000_000);
        for _ in 0..3 {
            let nop = opcode::Nop::new().build().user_data(Op::Wake.encode());
            // SAFETY: a nop carries no pointer.
            unsafe { ring.push(&[nop]) }.unwrap();
        }
        let recv = opcode::Recv::new(
            types::Fd(quiet.as_raw_fd()),
            buffer.as_mut_ptr(),
            buffer.len() as u32,
        )
        .build()
        .flags(squeue::Flags::IO_LINK)
        .user_data(Op::Recv(1).encode());
        let link = opcode::LinkTimeout::new(&timeout)
            .build()
            .user_data(Op::Cancel(1).encode());
        // SAFETY: `buffer` and `timeout` outlive the loop below, which reaps
        // both completions before they go out of scope.
        unsafe { ring.push(&[recv, link]) }.unwrap();

        let started = Instant::now();
        let (mut recv_result, mut timeout_result) = (None, None);
        let mut completions = Vec::new();
        while (recv_result.is_none() || timeout_result.is_none())
            && started.elapsed() < Duration::from_secs(5)
        {
            ring.submit_and_wait(Some(Duration::from_millis(100)))
                .unwrap();
            ring.completions(&mut completions);
            for done in &completions {
                match done.op {
                    Op::Recv(1) => recv_result = Some(done.result),
                    Op::Cancel(1) => timeout_result = Some(done.result),
                    _ => {}
                }
            }
        }
        assert_eq!(timeout_result, Some(-libc::ETIME), "the linked timeout");
        assert_eq!(recv_result, Some(-libc::ECANCELED), "the recv it bounds");
        assert_eq!(ring.in_flight, 0);
    }

    /// Far more operations than the completion queue holds, never reaped
    /// in between: the kernel may refuse submissions (`EBUSY`) while its
    /// completions wait, and pushing must ride that out, losing none.
    #[test]
    fn pushing_past_a_full_completion_queue_loses_nothing() {
        if check_available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        const OPS: usize = 1000;
        let mut ring = Ring::new(2).unwrap();
        for _ in 0..OPS {
            let nop = opcode::Nop::new().build().user_data(Op::Wake.encode());
            // SAFETY: a nop carries no pointer.
            unsafe { ring.push(&[nop]) }.unwrap();
        }
        let mut seen = 0;
        let mut completions = Vec::new();
        let started = Instant::now();
        while seen < OPS && started.elapsed() < Duration::from_secs(5) {
            ring.submit_and_wait(Some(Duration::from_millis(50)))
                .unwrap();
            ring.completions(&mut completions);
            seen += completions.len();
        }
        assert_eq!((seen, ring.in_flight), (OPS, 0));
    }

    #[test]
    fn more_linked_entries_than_the_queue_holds_is_an_error_not_a_hang() {
        if check_available().is_err() {
            eprintln!("skipped: io_uring is not available here");
            return;
        }
        let mut ring = Ring::new(2).unwrap();
        let nop = || opcode::Nop::new().build().user_data(Op::Wake.encode());
        // SAFETY: nops carry no pointer.
        let pushed = unsafe { ring.push(&[nop(), nop(), nop()]) };
        assert!(pushed.is_err());
        assert_eq!(ring.in_flight, 0);
    }
}
