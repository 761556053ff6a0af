//! The open connections of a thread-based server: admission under
//! `--max-conns`, counting, and closing what is left when the grace period ends.
//!
//! Threads blocked in `read` cannot be cancelled, but their sockets can be
//! shut down: that makes the blocked call return, and the thread ends its
//! session on its own. The registry therefore keeps a second handle to every
//! open stream (an `Arc`, not a duplicated descriptor, so a connection costs
//! one descriptor) and, when the grace period after a shutdown runs out,
//! shuts every remaining socket down.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::counters::Rejection;
use crate::{Admitted, Config, Counters, Ending, Shutdown};

/// How long [`Connections::drain`] waits beyond the grace period for threads
/// to notice their sockets were shut down.
const DRAIN_SLACK: Duration = Duration::from_secs(5);

/// The registry of one server's open connections.
#[derive(Debug)]
pub struct Connections {
    max: usize,
    grace: Duration,
    counters: Arc<Counters>,
    shutdown: Shutdown,
    registry: Mutex<Registry>,
    emptied: Condvar,
    grace_timer: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Registry {
    streams: HashMap<u64, Arc<TcpStream>>,
    next_id: u64,
    /// Set when the grace period ended: admit nothing more.
    closing: bool,
}

/// One admitted connection. Dropping it closes the socket and updates the
/// counters; [`Conn::finish`] says how it ended first.
#[derive(Debug)]
pub struct Conn {
    stream: Option<Arc<TcpStream>>,
    id: u64,
    ending: Option<Ending>,
    /// What a drop without [`Conn::finish`] means: the connection was never served.
    unserved: Rejection,
    admitted: Option<Admitted>,
    owner: Arc<Connections>,
}

impl Connections {
    /// An empty registry for a server run with `config`. When `shutdown` is
    /// triggered it gives open connections `config.grace` to finish, then
    /// shuts the rest down.
    pub fn new(config: &Config, counters: Arc<Counters>, shutdown: &Shutdown) -> Arc<Self> {
        let connections = Arc::new(Connections {
            max: config.max_conns,
            grace: config.grace,
            counters,
            shutdown: shutdown.clone(),
            registry: Mutex::default(),
            emptied: Condvar::new(),
            grace_timer: Mutex::default(),
        });
        let weak = Arc::downgrade(&connections);
        shutdown.on_trigger(move || start_grace_timer(weak));
        connections
    }

    /// Counts an accepted stream and admits it, or closes it at once (counted
    /// as rejected) when `--max-conns` connections are already open or the
    /// shutdown has begun.
    pub fn admit(self: &Arc<Self>, stream: TcpStream) -> Option<Conn> {
        let mut registry = self.lock();
        // The shutdown is checked under the registry's lock, which the grace
        // timer also takes to see whether anything is open. A stream that
        // `accept` returned just before the shutdown is then either in the
        // registry when the timer looks (and is cut at the end of the grace
        // period) or refused here; never admitted behind the timer's back.
        let closing = registry.closing || self.shutdown.is_triggered();
        // Counted before the close, so a client that sees the close sees the count.
        let admitted = if closing {
            self.counters.refuse(Rejection::ShuttingDown);
            None
        } else {
            self.counters.admit(self.max)
        };
        let Some(admitted) = admitted else {
            drop(registry);
            drop(stream);
            return None;
        };
        let id = registry.next_id;
        registry.next_id += 1;
        let stream = Arc::new(stream);
        registry.streams.insert(id, stream.clone());
        Some(Conn {
            stream: Some(stream),
            id,
            ending: None,
            unserved: Rejection::ShuttingDown,
            admitted: Some(admitted),
            owner: self.clone(),
        })
    }

    /// How many connections are open now.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    /// True when no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Shuts every open socket down (both directions) and admits nothing more.
    pub fn close_all(&self) {
        let streams: Vec<Arc<TcpStream>> = {
            let mut registry = self.lock();
            registry.closing = true;
            registry.streams.values().cloned().collect()
        };
        for stream in streams {
            // The peer may already be gone; that is what we want anyway.
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Waits until no connection is open or `timeout` passes; returns whether it emptied.
    pub fn wait_until_empty(&self, timeout: Duration) -> bool {
        let deadline = crate::config::deadline(Instant::now(), timeout);
        let mut registry = self.lock();
        while !registry.streams.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            registry = self
                .emptied
                .wait_timeout(registry, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// The end of `serve`: after the shutdown was triggered, waits for the
    /// connections to finish (the grace timer closes the stragglers), then
    /// for the grace timer itself, so that `serve` leaves no thread behind.
    pub fn drain(&self) {
        self.wait_until_empty(self.grace.saturating_add(DRAIN_SLACK));
        let timer = self
            .grace_timer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(timer) = timer {
            let _ = timer.join();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn start_grace_timer(connections: Weak<Connections>) {
    let Some(strong) = connections.upgrade() else {
        return;
    };
    let spawned = std::thread::Builder::new()
        .name("grace-timer".into())
        .spawn(move || {
            if let Some(connections) = connections.upgrade()
                && !connections.wait_until_empty(connections.grace)
            {
                connections.close_all();
            }
        });
    match spawned {
        Ok(timer) => {
            *strong.grace_timer.lock().unwrap_or_else(|e| e.into_inner()) = Some(timer);
        }
        // Without a thread to wait out the grace period, end it now rather than never.
        Err(_) => strong.close_all(),
    }
}

impl Conn {
    /// The connection's socket.
    pub fn stream(&self) -> &TcpStream {
        self.stream
            .as_deref()
            .expect("the stream is only taken when the Conn is dropped")
    }

    /// Says why, if this connection is dropped without [`finish`](Self::finish),
    /// it was never served (by default: the server was shutting down).
    pub fn if_unserved(mut self, why: Rejection) -> Self {
        self.unserved = why;
        self
    }

    /// Records how the connection ended, then closes it.
    pub fn finish(mut self, ending: Ending) {
        self.ending = Some(ending);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let ending = self
            .ending
            .take()
            .unwrap_or(Ending::Rejected(self.unserved));
        // Our handle goes first, so that dropping the registry's handle below
        // is what closes the descriptor.
        drop(self.stream.take());
        let (removed, now_empty) = {
            let mut registry = self.owner.lock();
            let removed = registry.streams.remove(&self.id);
            // Counted before anyone waiting for "empty" can see it empty.
            if let Some(admitted) = self.admitted.take() {
                admitted.finish(&ending);
            }
            (removed, registry.streams.is_empty())
        };
        drop(removed);
        if now_empty {
            self.owner.emptied.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    fn pair(listener: &TcpListener) -> (TcpStream, TcpStream) {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    #[test]
    fn admits_up_to_max_then_rejects_and_recovers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let counters = Arc::new(Counters::default());
        let config = Config {
            max_conns: 2,
            ..Config::default()
        };
        let connections = Connections::new(&config, counters.clone(), &Shutdown::new());
        let (_c1, s1) = pair(&listener);
        let (_c2, s2) = pair(&listener);
        let (mut c3, s3) = pair(&listener);
        let first = connections.admit(s1).expect("room for one");
        let _second = connections.admit(s2).expect("room for two");
        assert!(connections.admit(s3).is_none());
        // The rejected connection was closed at once.
        assert_eq!(c3.read(&mut [0; 8]).unwrap(), 0);
        first.finish(Ending::Completed);
        let (_c4, s4) = pair(&listener);
        let fourth = connections.admit(s4);
        assert!(fourth.is_some());
        let stats = counters.snapshot();
        assert_eq!((stats.accepted, stats.rejected, stats.completed), (4, 1, 1));
    }

    #[test]
    fn nothing_is_admitted_once_the_shutdown_began() {
        // The race: `accept` returns, the shutdown fires, the grace timer
        // finds nothing open and ends; only then is the stream admitted. It
        // must be refused, or no timer would ever cut it.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        let counters = Arc::new(Counters::default());
        let config = Config {
            grace: Duration::from_millis(50),
            ..Config::default()
        };
        let connections = Connections::new(&config, counters.clone(), &shutdown);
        let (mut client, server) = pair(&listener);
        shutdown.trigger();
        connections.drain();
        assert!(connections.admit(server).is_none());
        assert_eq!(client.read(&mut [0; 8]).unwrap(), 0);
        let stats = counters.snapshot();
        assert_eq!((stats.accepted, stats.rejected, stats.open), (1, 1, 0));
    }

    #[test]
    fn grace_timer_shuts_down_stragglers() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let shutdown = Shutdown::new();
        let config = Config {
            grace: Duration::from_millis(100),
            ..Config::default()
        };
        let connections = Connections::new(&config, Arc::default(), &shutdown);
        let (_client, server) = pair(&listener);
        let conn = connections.admit(server).unwrap();
        let session = std::thread::spawn(move || {
            // Blocks until the grace timer shuts the socket down.
            let n = conn.stream().read(&mut [0; 8]).unwrap_or(0);
            conn.finish(Ending::ShutDown);
            n
        });
        shutdown.trigger();
        connections.drain();
        assert_eq!(session.join().unwrap(), 0);
        assert!(connections.is_empty());
    }
}
