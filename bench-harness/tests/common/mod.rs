//! A throwaway server for the CLI tests to point `c10k` at: a thread per
//! connection, accepting for at most a minute, so that no test leaves a
//! loop running.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long a test server accepts connections.
const ACCEPTS_FOR: Duration = Duration::from_secs(60);

/// Serves every connection to `127.0.0.1:<free port>` with `serve`, on a
/// thread of its own.
pub(crate) fn spawn_server<F>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) + Clone + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let until = Instant::now() + ACCEPTS_FOR;
        while Instant::now() < until {
            match listener.accept() {
                Ok((stream, _)) => {
                    let _ = stream.set_nonblocking(false);
                    let serve = serve.clone();
                    std::thread::spawn(move || serve(stream));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    addr
}
