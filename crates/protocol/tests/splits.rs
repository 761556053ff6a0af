//! The handshake verdict must not depend on how TCP split the bytes.
//!
//! For every input in the corpus, every way of cutting it into two or three
//! chunks, and byte-by-byte delivery, must give the same verdict and the same
//! leftover echo bytes as the expected outcome written next to the input.

use protocol::{Handshake, MAX_LINE, Progress, Reject};

/// The pipelined echo bytes, or why the handshake was rejected.
type Verdict = Result<Vec<u8>, Reject>;

/// Each input with what the server must conclude from it: `Ok(leftover)` or
/// `Err(why)` (end-of-stream is applied after the last byte).
fn corpus() -> Vec<(Vec<u8>, Verdict)> {
    let padded_ok = [vec![b' '; MAX_LINE - 6], b"hello\n".to_vec()].concat();
    let padded_long = [vec![b' '; MAX_LINE - 5], b"hello\n".to_vec()].concat();
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    vec![
        (b"hello\n".to_vec(), Ok(vec![])),
        (b"hello\r\n".to_vec(), Ok(vec![])),
        (b"  hello\t \r\n".to_vec(), Ok(vec![])),
        (b"hello\nping".to_vec(), Ok(b"ping".to_vec())),
        (b"hello\r\nhello\n".to_vec(), Ok(b"hello\n".to_vec())),
        (b"hello\n\n\n".to_vec(), Ok(b"\n\n".to_vec())),
        (
            [&b"hello\n"[..], &all_bytes].concat(),
            Ok(all_bytes.clone()),
        ),
        (padded_ok.clone(), Ok(vec![])),
        ([padded_ok, b"tail".to_vec()].concat(), Ok(b"tail".to_vec())),
        (padded_long, Err(Reject::TooLong)),
        (vec![b'a'; 1000], Err(Reject::NotHello)),
        (vec![b' '; 1000], Err(Reject::TooLong)),
        (b"helo\nhello\n".to_vec(), Err(Reject::NotHello)),
        (b"HELLO\n".to_vec(), Err(Reject::NotHello)),
        (b"hello world\n".to_vec(), Err(Reject::NotHello)),
        (b"hello\x00\n".to_vec(), Err(Reject::NotHello)),
        (b"\xc3\x28\n".to_vec(), Err(Reject::NotHello)),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), Err(Reject::NotHello)),
        (b"\r\n".to_vec(), Err(Reject::NotHello)),
        (b"".to_vec(), Err(Reject::EndOfStream)),
        (b"hel".to_vec(), Err(Reject::EndOfStream)),
        (b"hello".to_vec(), Err(Reject::EndOfStream)),
        (b"hello \r".to_vec(), Err(Reject::EndOfStream)),
    ]
}

/// Feeds `chunks` in order, then end-of-stream, collecting the leftover bytes.
fn run(chunks: &[&[u8]]) -> Verdict {
    let mut handshake = Handshake::new();
    let mut leftover: Option<Vec<u8>> = None;
    for chunk in chunks {
        match &mut leftover {
            // Once accepted, later chunks are plain echo data.
            Some(echo) => echo.extend_from_slice(chunk),
            None => match handshake.feed(chunk) {
                Progress::NeedMore => {}
                Progress::Accepted { leftover: rest } => leftover = Some(rest.to_vec()),
                Progress::Rejected(why) => return Err(why),
            },
        }
    }
    match leftover {
        Some(echo) => Ok(echo),
        None => Err(handshake
            .end_of_stream()
            .expect("not accepted, so rejected")),
    }
}

#[test]
fn whole_input_gives_the_expected_verdict() {
    for (input, expected) in corpus() {
        assert_eq!(run(&[&input]), expected, "input {input:?}");
    }
}

#[test]
fn every_two_way_split_gives_the_same_verdict() {
    for (input, expected) in corpus() {
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(run(&[a, b]), expected, "input {input:?} cut at {cut}");
        }
    }
}

#[test]
fn every_three_way_split_gives_the_same_verdict() {
    for (input, expected) in corpus() {
        // Past the line the parser stops looking, so cutting the tail of a
        // long input adds nothing; 80 bytes cover every line in the corpus.
        let n = input.len().min(80);
        for first in 0..=n {
            for second in first..=n {
                let chunks = [&input[..first], &input[first..second], &input[second..]];
                assert_eq!(
                    run(&chunks),
                    expected,
                    "input {input:?} cuts {first},{second}"
                );
            }
        }
    }
}

#[test]
fn byte_by_byte_gives_the_same_verdict() {
    for (input, expected) in corpus() {
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(run(&chunks), expected, "input {input:?} byte by byte");
    }
}

mod property {
    use super::run;
    use proptest::prelude::*;

    /// Inputs near the interesting shapes: mostly `hello` with noise around it.
    fn input() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop_oneof![
            Just(b"hello".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\t".to_vec()),
            Just(b"hel".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(pieces, 0..12).prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn any_split_matches_parsing_whole_and_the_whole_line_oracle(
            input in input(),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&input[start..cut]);
                start = cut;
            }
            chunks.push(&input[start..]);
            let split = run(&chunks);
            prop_assert_eq!(&split, &run(&[&input]));
            prop_assert_eq!(split, protocol::oracle::verdict(&input).map(<[u8]>::to_vec));
        }

        #[test]
        fn arbitrary_bytes_agree_with_the_oracle(input in proptest::collection::vec(any::<u8>(), 0..100)) {
            let oracle = protocol::oracle::verdict(&input).map(<[u8]>::to_vec);
            prop_assert_eq!(run(&[&input]), oracle);
        }
    }
}

#[test]
fn the_oracle_gives_the_corpus_verdicts() {
    for (input, expected) in corpus() {
        let oracle = protocol::oracle::verdict(&input).map(<[u8]>::to_vec);
        assert_eq!(oracle, expected, "input {input:?}");
    }
}
