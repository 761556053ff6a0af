//! When an echo arrived, by the kernel's clock: `SO_TIMESTAMPING` software
//! receive timestamps, read back with `recvmsg`.
//!
//! A load thread that times an echo when it reads it charges its own
//! wake-up to the server, and has to wake for every echo to keep that
//! charge small. The kernel stamps each segment as it enters the receive
//! path (on loopback, inside the server's `send`), and `recvmsg` returns
//! the stamp of the last segment it consumed: the arrival of the last byte
//! returned. With it, a thread can collect echoes whenever it next wakes
//! and still time them to the microsecond. Wireshark, Lancet and PTP
//! daemons read the same stamps.

use std::io;
use std::mem::{size_of, size_of_val};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Asks the kernel to stamp what arrives on `socket` (software stamps,
/// which every Linux network path gives, loopback included).
pub(crate) fn enable(socket: BorrowedFd<'_>) -> io::Result<()> {
    let flags =
        (libc::SOF_TIMESTAMPING_RX_SOFTWARE | libc::SOF_TIMESTAMPING_SOFTWARE) as libc::c_int;
    // SAFETY: `socket` is an open descriptor for the whole call, and the
    // option value points at a live `c_int` whose size is passed with it.
    let done = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPING,
            (&raw const flags).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads what `socket` has into `buf` without blocking; returns how many
/// bytes, and when the last of them arrived if the kernel stamped it.
pub(crate) fn recv(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Option<SystemTime>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for a few control messages; `u64`s keep it aligned for `cmsghdr`.
    let mut control = [0u64; 32];
    // SAFETY: `msghdr` is plain data, for which all zeroes (null pointers
    // with zero lengths) is a valid value.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &raw mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = size_of_val(&control) as _;
    // SAFETY: the header points at `iov` (which points into `buf`) and at
    // `control`, each with its true length, all alive across the call.
    let read = unsafe { libc::recvmsg(socket.as_raw_fd(), &raw mut header, libc::MSG_DONTWAIT) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: `recvmsg` filled in `header`, and the CMSG macros walk only
    // the `msg_controllen` bytes of `control` it wrote. The payload of an
    // `SCM_TIMESTAMPING` message is three `timespec`s (`scm_timestamping`),
    // read unaligned since the kernel only promises `cmsghdr` alignment.
    unsafe {
        let mut message = libc::CMSG_FIRSTHDR(&raw const header);
        while !message.is_null() {
            if (*message).cmsg_level == libc::SOL_SOCKET
                && (*message).cmsg_type == libc::SCM_TIMESTAMPING
            {
                let stamps: [libc::timespec; 3] =
                    std::ptr::read_unaligned(libc::CMSG_DATA(message).cast());
                stamp = wall_time(&stamps[0]);
            }
            message = libc::CMSG_NXTHDR(&raw const header, message);
        }
    }
    Ok((read as usize, stamp))
}

/// A kernel stamp on the wall clock; `None` for the zero stamp the kernel
/// leaves in a slot it did not fill.
fn wall_time(stamp: &libc::timespec) -> Option<SystemTime> {
    let secs = u64::try_from(stamp.tv_sec).ok()?;
    let nanos = u32::try_from(stamp.tv_nsec).ok()?;
    (secs != 0 || nanos != 0).then(|| UNIX_EPOCH + Duration::new(secs, nanos))
}

/// `stamp` (wall clock) as an [`Instant`], given the monotonic clock read
/// just now: stamps are `CLOCK_REALTIME`, the schedule is monotonic, and
/// over the microseconds between arrival and reading the two run at the
/// same rate.
pub(crate) fn to_instant(stamp: SystemTime, now: Instant) -> Instant {
    let age = SystemTime::now().duration_since(stamp).unwrap_or_default();
    now.checked_sub(age).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsFd;

    use super::*;

    /// A loopback connection: (client, server).
    fn connected_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn a_stamped_read_says_when_the_bytes_arrived() {
        let (client, mut server) = connected_pair();
        enable(client.as_fd()).unwrap();
        // The first socket to ask turns stamping on through a work queue.
        std::thread::sleep(Duration::from_millis(20));
        let before = Instant::now();
        server.write_all(b"echo").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let mut buf = [0; 16];
        let (read, stamp) = recv(client.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..read], b"echo");
        let stamp = stamp.expect("loopback gives software receive stamps");
        let arrived = to_instant(stamp, Instant::now());
        // Arrived right after the write, not when it was read 30 ms later.
        assert!(arrived >= before, "stamped before it was sent");
        assert!(
            arrived - before < Duration::from_millis(15),
            "stamped {:?} after the send: the read time, not the arrival",
            arrived - before
        );
    }

    #[test]
    fn an_unstamped_socket_reads_without_a_stamp() {
        let (client, mut server) = connected_pair();
        server.write_all(b"echo").unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let mut buf = [0; 16];
        let (read, stamp) = recv(client.as_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..read], stamp), (&b"echo"[..], None));
    }
}
