//! Binding a listener, and the blocking accept loop with its error policy.
//!
//! Accept errors come in three kinds. Out of descriptors or kernel memory
//! (EMFILE, ENFILE, ENOBUFS, ENOMEM): the pending connection stays in the
//! backlog and accepting again at once would spin, so back off, keep serving
//! the open connections, and retry. Errors about the one pending connection
//! (ECONNABORTED, EPROTO, network errors): retry at once. Anything else
//! means the listener itself is broken, and `serve` returns it.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::Shutdown;

/// Requested listen backlog; the kernel caps it at `net.core.somaxconn`.
/// A deep backlog lets a burst of connects wait for a slow accept loop
/// instead of being dropped and retried by the client a second later.
const BACKLOG: i32 = 65_535;

/// Binds a TCP listener the way every model and test should: `SO_REUSEADDR`
/// (restart without waiting out TIME_WAIT) and a deep backlog.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_with(addr, false)
}

/// Like [`bind`], plus `SO_REUSEPORT`, so that several event loops can each
/// own a listener on the same port and the kernel spreads connections
/// between them (thread-per-core sharding).
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    bind_with(addr, true)
}

fn bind_with(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Turns one bound listener into `n` listeners on the same address, one per
/// event loop, so that each loop accepts from its own queue (thread-per-core
/// sharding).
///
/// It sets `SO_REUSEPORT` on `listener` and binds `n - 1` siblings beside
/// it; the kernel then spreads new connections over the `n` accept queues.
/// If the kernel refuses, the siblings are handles of the same socket
/// instead: one shared queue, every loop woken for each connection, still
/// correct. A side effect of `SO_REUSEPORT`: while the server runs, another
/// process of the same user could bind the port too.
pub fn shard(listener: TcpListener, n: usize) -> io::Result<Vec<TcpListener>> {
    let addr = listener.local_addr()?;
    let mut shards = Vec::with_capacity(n.max(1));
    let reusable = n > 1 && SockRef::from(&listener).set_reuse_port(true).is_ok();
    shards.push(listener);
    while shards.len() < n {
        let sibling = match reusable {
            true => bind_reuseport(addr).or_else(|_| shards[0].try_clone())?,
            false => shards[0].try_clone()?,
        };
        shards.push(sibling);
    }
    Ok(shards)
}

/// Runs `serve_one` once per listener shard (`workers` of them): the first
/// on the calling thread, the others on threads named `{name}-{i}`. When
/// any of them returns, the shutdown is triggered, so the server stops as a
/// whole; returns the first error.
pub fn serve_shards(
    listener: TcpListener,
    workers: usize,
    name: &str,
    shutdown: &Shutdown,
    serve_one: impl Fn(TcpListener) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let mut shards = shard(listener, workers)?.into_iter();
    let here = shards
        .next()
        .ok_or_else(|| io::Error::other("sharding produced no listener"))?;
    std::thread::scope(|scope| {
        let mut others = Vec::new();
        let mut result = Ok(());
        for (i, listener) in shards.enumerate() {
            let serve_one = &serve_one;
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{}", i + 1))
                .spawn_scoped(scope, move || serve_one(listener));
            match spawned {
                Ok(handle) => others.push(handle),
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        if result.is_ok() {
            result = serve_one(here);
        }
        shutdown.trigger();
        for other in others {
            let joined = other
                .join()
                .unwrap_or_else(|_| Err(io::Error::other(format!("a {name} thread panicked"))));
            result = result.and(joined);
        }
        result
    })
}

/// True for accept errors that mean "out of descriptors or kernel memory":
/// retrying at once would spin, so back off.
pub fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// True for accept errors that concern only the one pending connection
/// (accept(2): treat them like EAGAIN and retry).
pub fn is_per_connection_accept_error(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::Interrupted
        || err.kind() == io::ErrorKind::ConnectionAborted
        || matches!(
            err.raw_os_error(),
            Some(
                libc::EPROTO
                    | libc::EPERM
                    | libc::ENOPROTOOPT
                    | libc::EHOSTDOWN
                    | libc::ENONET
                    | libc::EHOSTUNREACH
                    | libc::EOPNOTSUPP
                    | libc::ENETDOWN
                    | libc::ENETUNREACH
            )
        )
}

/// Exponential back-off for accept under descriptor exhaustion: 1 ms
/// doubling to 100 ms, so a saturated server sleeps instead of spinning but
/// still notices freed descriptors within a tenth of a second.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(1);
    const MAX: Duration = Duration::from_millis(100);

    /// A back-off that has not failed yet.
    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The delay before the next retry; each call doubles the one after.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }

    /// A retry succeeded: start again from the shortest delay.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Closes a listening socket to new connections at once, through any one of
/// its handles: PROTOCOL.md's "stop accepting" at the start of a shutdown.
///
/// Dropping a handle is not enough. Duplicates (shards that share one
/// queue, a blocked `accept`, an io_uring accept still being cancelled)
/// keep the socket listening, and the kernel keeps completing handshakes
/// into a backlog that no one accepts from: those clients would hang until
/// the grace period ends. Shut down for reading, a Linux listener moves to
/// CLOSE: connects are refused, queued ones reset, and a blocked `accept`
/// returns (EINVAL). Connections already accepted are not touched.
pub fn stop_listening(listener: &impl AsFd) {
    // Failing only means the socket is closed already.
    let _ = SockRef::from(listener).shutdown(std::net::Shutdown::Read);
}

/// Accepts connections on a blocking listener until `shutdown` is
/// triggered, handing each to `on_accept`.
///
/// A shutdown wakes the blocked `accept` by [`stop_listening`], so no
/// thread polls a flag.
pub fn accept_loop(
    listener: &TcpListener,
    shutdown: &Shutdown,
    mut on_accept: impl FnMut(TcpStream),
) -> io::Result<()> {
    let waker = listener.try_clone()?;
    shutdown.on_trigger(move || stop_listening(&waker));
    let mut backoff = Backoff::new();
    loop {
        let result = listener.accept();
        if shutdown.is_triggered() {
            // A connection accepted in the race with shutdown is dropped:
            // closing without `hello\n` tells the client it was not served.
            return Ok(());
        }
        match result {
            Ok((stream, _peer)) => {
                backoff.reset();
                on_accept(stream);
            }
            Err(err) if is_resource_exhaustion(&err) => {
                shutdown.wait_timeout(backoff.next_delay());
            }
            Err(err) if is_per_connection_accept_error(&err) => {}
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn shutdown_wakes_a_blocked_accept() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let shutdown = Shutdown::new();
        let remote = shutdown.clone();
        let started = Instant::now();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            remote.trigger();
        });
        let mut accepted = 0;
        accept_loop(&listener, &shutdown, |_| accepted += 1).unwrap();
        stopper.join().unwrap();
        assert_eq!(accepted, 0);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn shards_share_the_address_and_all_accept() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let shards = shard(listener, 3).unwrap();
        assert_eq!(shards.len(), 3);
        for shard in &shards {
            assert_eq!(shard.local_addr().unwrap(), addr);
            shard.set_nonblocking(true).unwrap();
        }
        let _clients: Vec<_> = (0..60).map(|_| TcpStream::connect(addr).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(50));
        let mut total = 0;
        for shard in &shards {
            while shard.accept().is_ok() {
                total += 1;
            }
        }
        assert_eq!(total, 60);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_and_resets() {
        let mut backoff = Backoff::new();
        let delays: Vec<_> = (0..10).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_millis(1));
        assert_eq!(delays[1], Duration::from_millis(2));
        assert_eq!(*delays.last().unwrap(), Duration::from_millis(100));
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(1));
    }

    #[test]
    fn exhaustion_is_told_apart_from_per_connection_errors() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        let invalid = io::Error::from_raw_os_error(libc::EINVAL);
        assert!(is_resource_exhaustion(&emfile));
        assert!(!is_per_connection_accept_error(&emfile));
        assert!(is_per_connection_accept_error(&aborted));
        assert!(!is_resource_exhaustion(&invalid) && !is_per_connection_accept_error(&invalid));
    }
}
