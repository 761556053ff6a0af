//! The echo+handshake protocol, as bytes and nothing else.
//!
//! A client opens with the line `hello\n`; the server answers `hello\n` and
//! from then on echoes every byte (see `PROTOCOL.md`). This crate holds the
//! only code in the workspace that looks at handshake bytes: every model feeds
//! what it reads into a [`Handshake`] and acts on the verdict. It does no I/O
//! and owns no buffers, so the same parser serves a blocking thread, an epoll
//! callback and an `async fn` alike.
//!
//! ```
//! use protocol::{Handshake, Progress};
//!
//! let mut handshake = Handshake::new();
//! assert_eq!(handshake.feed(b" hel"), Progress::NeedMore);
//! // The rest of the line and the first echo bytes arrive in one segment.
//! assert_eq!(handshake.feed(b"lo\r\nping"), Progress::Accepted { leftover: b"ping" });
//! ```
//!
//! # Implementation
//!
//! The parser is a byte-at-a-time state machine rather than a line buffer:
//! it remembers how many bytes of the line it has seen and how far it has
//! matched `hello`, which is two bytes of state per connection instead of a
//! 64-byte buffer. It rejects as soon as the line can no longer be `hello`
//! (`helo`, `HELLO`, `hello world`), so a garbage client is closed on its
//! first wrong byte. Because it consumes bytes one at a time, the verdict and
//! the leftover bytes do not depend on how TCP split the stream.

pub mod oracle;

/// The handshake word a client sends, before trimming and the terminator.
pub const HELLO: &[u8] = b"hello";

/// The handshake line a client sends (the server also accepts it padded
/// with whitespace or ending in `\r\n`).
pub const HELLO_LINE: &[u8] = b"hello\n";

/// What the server writes back when the handshake is accepted, before any echo byte.
pub const REPLY: &[u8] = b"hello\n";

/// The longest handshake line, terminator included (PROTOCOL.md 1.4).
pub const MAX_LINE: usize = 64;

/// Default TCP address of every server (the article's port).
pub const DEFAULT_ADDR: &str = "127.0.0.1:5566";

/// Incremental parser for the handshake line.
///
/// Feed it bytes in the order they arrive, in chunks of any size; call
/// [`Handshake::end_of_stream`] if the peer closes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Bytes of the line consumed so far (never more than [`MAX_LINE`]).
    seen: u8,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Whitespace before the word.
    Leading,
    /// This many bytes of `hello` matched.
    Word(u8),
    /// Whitespace after the complete word.
    Trailing,
    /// A verdict was reached; further input is not looked at.
    Done(Verdict),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Accepted,
    Rejected(Reject),
}

/// What one call to [`Handshake::feed`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// The line is not complete yet and can still be `hello`.
    NeedMore,
    /// The line was `hello`. `leftover` holds the bytes that followed its
    /// `\n` in this chunk: they are echo data and must be echoed.
    Accepted {
        /// Pipelined bytes after the terminator, possibly empty.
        leftover: &'a [u8],
    },
    /// The connection must be closed without writing anything.
    Rejected(Reject),
}

/// Why a handshake was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The trimmed line is not exactly `hello`.
    NotHello,
    /// [`MAX_LINE`] bytes arrived without a `\n`.
    TooLong,
    /// The peer closed before the line was complete.
    EndOfStream,
    /// The line was not complete within the handshake timeout. The parser
    /// never produces this itself; I/O code reports it through the same type.
    Timeout,
    /// The connection failed (a reset, an I/O error) before the line was
    /// complete. Reported by I/O code, like `Timeout`: a client that breaks
    /// off its handshake was never served, so it is rejected, not an error.
    Broken,
}

impl Reject {
    /// A short, stable name for logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::NotHello => "not-hello",
            Reject::TooLong => "too-long",
            Reject::EndOfStream => "end-of-stream",
            Reject::Timeout => "timeout",
            Reject::Broken => "broken",
        }
    }
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

impl Handshake {
    /// A parser that has seen nothing yet.
    pub const fn new() -> Self {
        Handshake {
            seen: 0,
            state: State::Leading,
        }
    }

    /// Consumes `bytes` up to and including the line's `\n`.
    ///
    /// Once a verdict is reached, later calls return it again (with an empty
    /// `leftover`): the caller is expected to stop feeding.
    pub fn feed<'a>(&mut self, bytes: &'a [u8]) -> Progress<'a> {
        if let State::Done(verdict) = self.state {
            return verdict.progress(&[]);
        }
        for (i, &byte) in bytes.iter().enumerate() {
            if let Some(verdict) = self.step(byte) {
                self.state = State::Done(verdict);
                return verdict.progress(&bytes[i + 1..]);
            }
        }
        Progress::NeedMore
    }

    /// The peer reached end-of-stream. Returns the rejection, or `None` if the
    /// handshake had already been accepted.
    pub fn end_of_stream(&mut self) -> Option<Reject> {
        match self.state {
            State::Done(Verdict::Accepted) => None,
            State::Done(Verdict::Rejected(why)) => Some(why),
            _ => {
                self.state = State::Done(Verdict::Rejected(Reject::EndOfStream));
                Some(Reject::EndOfStream)
            }
        }
    }

    /// True once [`feed`](Self::feed) accepted the line.
    pub fn is_accepted(&self) -> bool {
        self.state == State::Done(Verdict::Accepted)
    }

    fn step(&mut self, byte: u8) -> Option<Verdict> {
        self.seen += 1;
        if byte == b'\n' {
            let complete = matches!(self.state, State::Trailing)
                || self.state == State::Word(HELLO.len() as u8);
            return Some(if complete {
                Verdict::Accepted
            } else {
                Verdict::Rejected(Reject::NotHello)
            });
        }
        if usize::from(self.seen) >= MAX_LINE {
            return Some(Verdict::Rejected(Reject::TooLong));
        }
        let whitespace = byte.is_ascii_whitespace();
        self.state = match self.state {
            State::Leading if whitespace => State::Leading,
            State::Word(n) if usize::from(n) == HELLO.len() && whitespace => State::Trailing,
            State::Trailing if whitespace => State::Trailing,
            State::Leading if byte == HELLO[0] => State::Word(1),
            State::Word(n) if usize::from(n) < HELLO.len() && byte == HELLO[usize::from(n)] => {
                State::Word(n + 1)
            }
            _ => return Some(Verdict::Rejected(Reject::NotHello)),
        };
        None
    }
}

impl Verdict {
    fn progress(self, leftover: &[u8]) -> Progress<'_> {
        match self {
            Verdict::Accepted => Progress::Accepted { leftover },
            Verdict::Rejected(why) => Progress::Rejected(why),
        }
    }
}

/// Parses a complete input in one call with the incremental parser,
/// treating the end of `input` as the end of the stream: handy for tools
/// that hold the whole input. (The independent reading the tests and the
/// fuzzer compare the parser with is [`oracle::verdict`].)
pub fn parse_whole(input: &[u8]) -> Result<&[u8], Reject> {
    let mut handshake = Handshake::new();
    match handshake.feed(input) {
        Progress::Accepted { leftover } => Ok(leftover),
        Progress::Rejected(why) => Err(why),
        Progress::NeedMore => Err(Reject::EndOfStream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_trimmed_lines() {
        for line in [
            &b"hello\n"[..],
            b"hello\r\n",
            b" hello \n",
            b"\t\x0chello\r\t \n",
        ] {
            assert_eq!(parse_whole(line), Ok(&b""[..]), "{line:?}");
        }
    }

    #[test]
    fn rejects_anything_but_exact_hello() {
        for line in [
            &b"helo\n"[..],
            b"HELLO\n",
            b"Hello\n",
            b"hello world\n",
            b"helloo\n",
            b"hhello\n",
            b"\n",
            b"  \r\n",
            b"he llo\n",
            b"\0hello\n",
            b"\xffhello\n",
        ] {
            assert_eq!(parse_whole(line), Err(Reject::NotHello), "{line:?}");
        }
    }

    #[test]
    fn the_cap_counts_the_terminator() {
        let mut longest = vec![b' '; MAX_LINE - HELLO.len() - 1];
        longest.extend_from_slice(b"hello\n");
        assert_eq!(longest.len(), MAX_LINE);
        assert_eq!(parse_whole(&longest), Ok(&b""[..]));

        let mut too_long = vec![b' '; MAX_LINE - HELLO.len()];
        too_long.extend_from_slice(b"hello\n");
        assert_eq!(parse_whole(&too_long), Err(Reject::TooLong));
        assert_eq!(parse_whole(&[b' '; MAX_LINE]), Err(Reject::TooLong));
    }

    #[test]
    fn end_of_stream_before_the_line_rejects() {
        let mut handshake = Handshake::new();
        assert_eq!(handshake.feed(b"hel"), Progress::NeedMore);
        assert_eq!(handshake.end_of_stream(), Some(Reject::EndOfStream));
        assert_eq!(Handshake::new().end_of_stream(), Some(Reject::EndOfStream));
    }

    #[test]
    fn end_of_stream_after_acceptance_is_not_a_rejection() {
        let mut handshake = Handshake::new();
        assert!(matches!(
            handshake.feed(b"hello\n"),
            Progress::Accepted { .. }
        ));
        assert!(handshake.is_accepted());
        assert_eq!(handshake.end_of_stream(), None);
    }

    #[test]
    fn a_verdict_is_sticky() {
        let mut handshake = Handshake::new();
        assert_eq!(
            handshake.feed(b"nope\n"),
            Progress::Rejected(Reject::NotHello)
        );
        assert_eq!(
            handshake.feed(b"hello\n"),
            Progress::Rejected(Reject::NotHello)
        );

        let mut handshake = Handshake::new();
        assert_eq!(
            handshake.feed(b"hello\nab"),
            Progress::Accepted { leftover: b"ab" }
        );
        assert_eq!(handshake.feed(b"cd"), Progress::Accepted { leftover: b"" });
    }
}
