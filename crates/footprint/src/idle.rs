//! Serving a model in this process and weighing its idle connections.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::{Config, Counters, Model, Shutdown};
use protocol::{HELLO_LINE, REPLY};

use crate::counting::{Counting, Snapshot};

/// How long the heap must stay unchanged to count as settled, and the most
/// a measurement waits for that.
const SETTLED_FOR: Duration = Duration::from_millis(100);
const SETTLE_AT_MOST: Duration = Duration::from_secs(5);

/// The heap an idle handshaken connection holds in one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Footprint {
    pub model: &'static str,
    /// Connections weighed (as many again were opened first, see
    /// [`idle_connections`]).
    pub connections: usize,
    /// Live heap bytes the weighed connections added.
    pub bytes: isize,
    /// What those bytes are made of.
    pub allocations: Vec<Allocations>,
}

/// Live allocations of one size class that the weighed connections added.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allocations {
    /// Allocations per connection (a container that grows shows as a
    /// fraction, or none: it is shared).
    pub per_connection: f64,
    /// Their bytes per connection.
    pub bytes_per_connection: f64,
    /// The class: sizes up to this many bytes (the last class: any larger).
    pub size: usize,
    /// Aligned more strictly than the allocator's natural 16 bytes.
    pub over_aligned: bool,
}

impl Footprint {
    pub fn bytes_per_connection(&self) -> f64 {
        self.bytes as f64 / self.connections as f64
    }
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.0} B per idle connection on the heap",
            self.model,
            self.bytes_per_connection()
        )?;
        let mut sep = ": ";
        for allocations in &self.allocations {
            let size = if Snapshot::is_largest(allocations.size) {
                format!("> {} B", allocations.size)
            } else {
                format!("{} B", allocations.size)
            };
            let align = if allocations.over_aligned {
                " over-aligned"
            } else {
                ""
            };
            if allocations.per_connection.abs() < 0.01 {
                let bytes = allocations.bytes_per_connection;
                write!(f, "{sep}{bytes:.0} B of growth in {size}{align}")?;
            } else {
                let count = allocations.per_connection;
                write!(f, "{sep}{count:.2} x {size}{align}")?;
            }
            sep = ", ";
        }
        Ok(())
    }
}

/// Serves `model` in this process and weighs `n` idle handshaken
/// connections: it opens `n` first, so the runtime's one-off allocations
/// (threads, first buffers, tables sized for the first connections) are
/// made, then opens `n` more and counts what they added to `heap`, which
/// must be this binary's global allocator.
///
/// Keep one measurement per test binary: the allocator counts every thread
/// of the process, so another test running beside it would be weighed too.
///
/// # Panics
/// When the server cannot be served, a connection fails, or the heap never
/// settles: this is a test instrument, and each of those fails the test.
pub fn idle_connections(model: &Model, config: Config, heap: &Counting, n: usize) -> Footprint {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let listener = model::listener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("binding a loopback port");
    let addr = listener.local_addr().expect("reading the bound address");
    let shutdown = Shutdown::new();
    let counters = Arc::new(Counters::default());
    let serve = model.serve;
    let server = std::thread::spawn({
        let (shutdown, counters) = (shutdown.clone(), counters.clone());
        move || serve(listener, config, shutdown, counters)
    });

    let mut clients = Vec::with_capacity(2 * n);
    handshake(addr, n, &mut clients);
    let before = settled(heap);
    handshake(addr, n, &mut clients);
    let after = settled(heap);
    let open = counters.snapshot().open;
    assert_eq!(open, 2 * n as u64, "{}: connections open", model.name);

    drop(clients);
    shutdown.trigger();
    server
        .join()
        .expect("the server thread panicked")
        .expect("the server failed");

    let allocations = after
        .grown_since(&before)
        .into_iter()
        .map(|grown| Allocations {
            per_connection: grown.count as f64 / n as f64,
            bytes_per_connection: grown.bytes as f64 / n as f64,
            size: grown.size,
            over_aligned: grown.over_aligned,
        })
        // A stray allocation or two of the runtime's own is not part of a
        // connection; a shared container's growth is.
        .filter(|a| a.per_connection.abs() >= 0.01 || a.bytes_per_connection.abs() >= 1.0)
        .collect();
    Footprint {
        model: model.name,
        connections: n,
        bytes: after.bytes() - before.bytes(),
        allocations,
    }
}

/// Opens `n` connections to `addr`, sends each the hello line and reads the
/// reply, and keeps them in `clients`.
fn handshake(addr: SocketAddr, n: usize, clients: &mut Vec<TcpStream>) {
    let first = clients.len();
    for _ in 0..n {
        let mut client = TcpStream::connect(addr).expect("connecting");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("setting a read timeout");
        client.write_all(HELLO_LINE).expect("sending hello");
        clients.push(client);
    }
    for client in &mut clients[first..] {
        let mut reply = [0u8; REPLY.len()];
        client.read_exact(&mut reply).expect("reading the reply");
        assert_eq!(reply, REPLY, "the handshake reply");
    }
}

/// The heap once it has stopped changing: a server may still be settling a
/// connection after its reply went out.
fn settled(heap: &Counting) -> Snapshot {
    let started = Instant::now();
    let mut last = heap.snapshot();
    let mut since = Instant::now();
    loop {
        std::thread::sleep(SETTLED_FOR / 5);
        let now = heap.snapshot();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= SETTLED_FOR {
            return now;
        }
        assert!(
            started.elapsed() < SETTLE_AT_MOST,
            "the heap did not settle in {SETTLE_AT_MOST:?}"
        );
    }
}
