//! `Handshake::feed` on any bytes, split at any points, against the
//! whole-line oracle: the same verdict, reason and leftover.
#![no_main]

use libfuzzer_sys::fuzz_target;
use protocol::{Handshake, Progress};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the cuts: each of its bits after the first says
    // whether to cut after the matching byte of the rest.
    let Some((&cuts, input)) = data.split_first() else {
        return;
    };
    let mut handshake = Handshake::new();
    let mut verdict = None;
    let mut start = 0;
    for end in 1..=input.len() {
        let cut_here = end == input.len() || (cuts >> (end % 8)) & 1 == 1;
        if !cut_here {
            continue;
        }
        match handshake.feed(&input[start..end]) {
            Progress::NeedMore => {}
            Progress::Accepted { leftover } => {
                verdict = Some(Ok([leftover, &input[end..]].concat()));
                break;
            }
            Progress::Rejected(why) => {
                verdict = Some(Err(why));
                break;
            }
        }
        start = end;
    }
    let verdict = verdict.unwrap_or_else(|| {
        Err(handshake
            .end_of_stream()
            .expect("not accepted, so end-of-stream rejects"))
    });
    let oracle = protocol::oracle::verdict(input).map(<[u8]>::to_vec);
    assert_eq!(verdict, oracle, "input {input:?}, cuts {cuts:#010b}");
});
