//! The idle timeout while bytes are owed: "no byte moved for that long"
//! measured the way a blocking server measures it.
//!
//! A socket is woken for writing only once a good part of its send buffer
//! is free (on Linux, half of what is queued), and loopback send buffers
//! grow to megabytes. A client that reads slowly but steadily frees a little
//! at a time: the kernel would take new bytes from the server, but no
//! writability event says so for far longer than any idle timeout. A
//! blocking `send` under `SO_SNDTIMEO` does not have this problem (when its
//! timer ends it returns what it copied); a model that waits for readiness
//! or completion has to ask. So when the idle timer ends with bytes still
//! owed, the model offers them once more without waiting ([`send_now`]): if
//! the socket takes any, the peer has been reading and the connection is not
//! idle. Only a timer that ends with nothing taken closes the connection.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;

use socket2::SockRef;

use crate::Ending;

/// How many of `bytes` the socket takes right now, without waiting; 0 when
/// it takes none (or fails: the caller then closes it as idle, and an error
/// that is real shows again on the next operation).
pub fn send_now(socket: &impl AsFd, bytes: &[u8]) -> usize {
    SockRef::from(socket)
        .send_with_flags(bytes, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
        .unwrap_or(0)
}

/// Writes all of `bytes` through `write_within_idle` (one write of some
/// bytes, under the runtime's idle timer, failing with
/// [`Ending::IdleTimeout`] when it ends). The timer restarts with every
/// write that moves bytes, and a timer that ends is checked with `now` (a
/// write that does not wait, such as [`send_now`]) before the connection
/// counts as idle, so a slow but steady reader is never cut for the time a
/// whole buffer takes to drain.
pub async fn write_all<'a, F, Fut>(
    mut bytes: &'a [u8],
    mut write_within_idle: F,
    mut now: impl FnMut(&[u8]) -> usize,
) -> Result<(), Ending>
where
    F: FnMut(&'a [u8]) -> Fut,
    Fut: Future<Output = Result<usize, Ending>>,
{
    while !bytes.is_empty() {
        let written = match write_within_idle(bytes).await {
            Err(Ending::IdleTimeout) => match now(bytes) {
                0 => return Err(Ending::IdleTimeout),
                taken => taken,
            },
            Ok(0) => return Err(Ending::Failed(io::ErrorKind::WriteZero.into())),
            written => written?,
        };
        bytes = &bytes[written..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn send_now_takes_what_fits_and_never_waits() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        assert_eq!(send_now(&server, b"some"), 4);
        // Nobody reads: the buffers fill, and then the socket takes nothing.
        let chunk = vec![0u8; 1 << 20];
        let mut total = 0;
        while send_now(&server, &chunk) > 0 {
            total += 1;
            assert!(total < 1024, "a socket nobody reads took a gigabyte");
        }
        assert_eq!(send_now(&server, b"more"), 0);
        drop(client);
    }
}
