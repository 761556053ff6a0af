//! The handshake as an `async fn`, for every model whose connections are
//! futures. The bytes still go through [`protocol::Handshake`]; this only
//! loops over a runtime's own "receive up to n bytes" until a verdict.

use std::future::Future;
use std::io;

use protocol::{Handshake, MAX_LINE, Progress, Reject};

use crate::Ending;

/// Reads the handshake line through `recv` (which returns up to the given
/// number of bytes, empty at end-of-stream) and returns the bytes that
/// followed it, or how the connection must end instead. Deadlines are the
/// caller's: wrap the call in the runtime's timeout.
pub async fn read_handshake<F, Fut>(mut recv: F) -> Result<Vec<u8>, Ending>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = io::Result<Vec<u8>>>,
{
    let mut parser = Handshake::new();
    loop {
        let bytes = recv(MAX_LINE)
            .await
            .map_err(|_| Ending::rejected(Reject::Broken))?;
        if bytes.is_empty() {
            return Err(Ending::rejected(Reject::EndOfStream));
        }
        match parser.feed(&bytes) {
            Progress::NeedMore => {}
            Progress::Accepted { leftover } => return Ok(leftover.to_vec()),
            Progress::Rejected(why) => return Err(Ending::rejected(why)),
        }
    }
}
