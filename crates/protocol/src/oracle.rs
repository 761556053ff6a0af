//! PROTOCOL.md 1 read as a whole line, the way a person reads it: find the
//! `\n`, trim, compare. Deliberately naive, and written apart from the
//! state machine, so that the property tests (`tests/splits.rs`) and the
//! fuzzer (`fuzz/`) can hold [`Handshake`](crate::Handshake) to it: same
//! verdict, same reason, same leftover, however the bytes were split.

use crate::{HELLO, MAX_LINE, Reject};

/// The verdict on `input` followed by end-of-stream: the bytes after the
/// line if it was `hello`, or why not.
///
/// A line can be rejected before it ends: as soon as no continuation could
/// make it `hello` (`NotHello`), or when [`MAX_LINE`] bytes came without a
/// `\n` (`TooLong`); a line cut short while it could still be `hello` ends
/// with the stream (`EndOfStream`).
pub fn verdict(input: &[u8]) -> Result<&[u8], Reject> {
    let window = &input[..input.len().min(MAX_LINE)];
    if let Some(newline) = window.iter().position(|&b| b == b'\n') {
        let line = &input[..newline];
        return if line.trim_ascii() == HELLO {
            Ok(&input[newline + 1..])
        } else {
            Err(Reject::NotHello)
        };
    }
    // No `\n` within the limit. The parser rejects at the first byte that
    // rules `hello` out, and the limit's own byte is judged as the limit.
    let judged = &window[..window.len().min(MAX_LINE - 1)];
    if !could_still_be_hello(judged) {
        Err(Reject::NotHello)
    } else if input.len() >= MAX_LINE {
        Err(Reject::TooLong)
    } else {
        Err(Reject::EndOfStream)
    }
}

/// Whether some continuation of `start` trims to `hello`.
fn could_still_be_hello(start: &[u8]) -> bool {
    let word = start.trim_ascii_start();
    if word.len() <= HELLO.len() {
        HELLO.starts_with(word)
    } else {
        word.starts_with(HELLO) && word[HELLO.len()..].iter().all(u8::is_ascii_whitespace)
    }
}
