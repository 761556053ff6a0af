//! A test client with a bound on every wait: each method either observes
//! what PROTOCOL.md promises or returns an `Err` that says what it saw.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use protocol::REPLY;

use crate::Check;

/// The longest any single read or write may block before the case fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
}

impl Client {
    /// Connects, with bounded read and write timeouts and Nagle off.
    pub fn connect(addr: SocketAddr) -> Result<Client, String> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        stream
            .set_nodelay(true)
            .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| format!("configuring the client socket: {e}"))?;
        Ok(Client { stream })
    }

    /// Connects and completes the handshake.
    pub fn handshaken(addr: SocketAddr) -> Result<Client, String> {
        let mut client = Client::connect(addr)?;
        client.send(b"hello\n")?;
        client.expect_reply()?;
        Ok(client)
    }

    /// The socket, for what the helpers do not cover.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Check {
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("writing {} bytes: {e}", bytes.len()))
    }

    /// Reads exactly `expected.len()` bytes and compares them.
    pub fn expect(&mut self, expected: &[u8]) -> Check {
        let mut got = vec![0; expected.len()];
        let mut filled = 0;
        while filled < got.len() {
            match self.stream.read(&mut got[filled..]) {
                Ok(0) => {
                    return Err(format!(
                        "connection closed after {filled} of {} expected bytes",
                        expected.len()
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(format!(
                        "reading byte {filled} of {} expected: {e}",
                        expected.len()
                    ));
                }
            }
        }
        match got.iter().zip(expected).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(at) => Err(format!(
                "byte {at} differs: got {:?}, expected {:?}",
                preview(&got[at..]),
                preview(&expected[at..])
            )),
        }
    }

    /// Reads the server's handshake reply, `hello\n`.
    pub fn expect_reply(&mut self) -> Check {
        self.expect(REPLY)
            .map_err(|e| format!("handshake reply: {e}"))
    }

    /// Sends `bytes` and reads them back.
    pub fn echo(&mut self, bytes: &[u8]) -> Check {
        self.send(bytes)?;
        self.expect(bytes)
    }

    /// Shuts down the write side: the server must echo what it owes, then close.
    pub fn half_close(&self) -> Check {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("half-closing: {e}"))
    }

    /// Waits for the server to close the connection without sending any
    /// (further) byte. A reset counts as closed. Returns how long it took.
    pub fn expect_closed(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let mut byte = [0u8; 1];
        loop {
            match self.stream.read(&mut byte) {
                Ok(0) => return Ok(started.elapsed()),
                Ok(_) => return Err(format!("expected a close, got byte {:?}", byte[0])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => return Ok(started.elapsed()),
                Err(e) if is_timeout(&e) => {
                    return Err(format!("still open after {:?}", started.elapsed()));
                }
                Err(e) => return Err(format!("waiting for the close: {e}")),
            }
        }
    }

    /// Checks that nothing arrives, and the connection stays open, for `quiet`.
    pub fn expect_silence(&mut self, quiet: Duration) -> Check {
        let deadline = Instant::now() + quiet;
        let mut byte = [0u8; 1];
        let outcome = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Ok(());
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| format!("setting a read timeout: {e}"))?;
            match self.stream.read(&mut byte) {
                Ok(0) => break Err("closed while it should have waited".to_string()),
                Ok(_) => {
                    break Err(format!(
                        "got byte {:?} while it should have waited",
                        byte[0]
                    ));
                }
                Err(e) if is_timeout(&e) => break Ok(()),
                // A signal (or io_uring's task work) interrupted the wait: keep waiting.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(format!("while waiting: {e}")),
            }
        };
        self.stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| format!("restoring the read timeout: {e}"))?;
        outcome
    }

    /// Resets the connection (RST instead of FIN) by closing with a zero linger.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
    }
}

/// True for the errors a read sees when the peer reset the connection.
pub fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn preview(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(16)];
    format!("{}", shown.escape_ascii())
}
