//! The bytes a load connection sends, and the check that they came back.
//!
//! Every message starts with its connection id and sequence number
//! (little-endian `u32` and `u64`, cut short for messages under 12 bytes)
//! and continues with a non-repeating pattern seeded by the connection id.
//! A server that drops, duplicates, reorders or corrupts a byte, replays an
//! earlier message, or mixes two connections up, echoes bytes that differ
//! from the message in flight.
//!
//! The pattern is made once per connection ([`fill`]); each message then
//! only rewrites its sequence number ([`stamp`]), and the echo is checked
//! with one slice comparison (`memcmp`). Per-byte work per message would
//! make the load generator's cost grow with the message size, and a load
//! generator that pays more per message than the server measures itself.

/// Bytes of the connection id and sequence number at the start of a message.
pub const HEADER: usize = 12;

/// Fills `out` with message `seq` of connection `conn`: the whole of it,
/// once per connection.
pub fn fill(out: &mut [u8], conn: u32, seq: u64) {
    let mut id = [0u8; 4];
    id.copy_from_slice(&conn.to_le_bytes());
    let head = out.len().min(4);
    out[..head].copy_from_slice(&id[..head]);
    stamp(out, seq);
    let mut state = u64::from(conn).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for byte in out.iter_mut().skip(HEADER) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
}

/// Turns a connection's message (made by [`fill`]) into its message `seq`.
pub fn stamp(message: &mut [u8], seq: u64) {
    let seq = seq.to_le_bytes();
    let end = message.len().min(HEADER);
    if end > 4 {
        message[4..end].copy_from_slice(&seq[..end - 4]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_differ_by_connection_and_sequence() {
        let mut a = vec![0; 64];
        let mut b = vec![0; 64];
        fill(&mut a, 1, 7);
        fill(&mut b, 1, 7);
        assert_eq!(a, b);
        fill(&mut b, 1, 8);
        assert_ne!(a, b);
        fill(&mut b, 2, 7);
        assert_ne!(a, b);
        assert_eq!(&a[..4], &1u32.to_le_bytes());
        assert_eq!(&a[4..12], &7u64.to_le_bytes());
    }

    #[test]
    fn stamping_a_sequence_number_is_the_same_as_filling_anew() {
        for len in [3, 5, 12, 13, 4096] {
            let mut stamped = vec![0; len];
            fill(&mut stamped, 9, 1);
            stamp(&mut stamped, 2);
            let mut fresh = vec![0; len];
            fill(&mut fresh, 9, 2);
            assert_eq!(stamped, fresh, "{len} bytes");
        }
    }

    #[test]
    fn the_pattern_does_not_repeat_within_a_message() {
        let mut message = vec![0; 4096];
        fill(&mut message, 3, 1);
        let body = &message[HEADER..];
        // A server that echoed a shifted or repeated window would pass a periodic pattern.
        for shift in [1, 2, 4, 8, 64, 256] {
            assert_ne!(
                &body[shift..],
                &body[..body.len() - shift],
                "period {shift}"
            );
        }
    }

    #[test]
    fn short_messages_keep_what_fits_of_the_header() {
        let mut short = [0u8; 3];
        fill(&mut short, 0x0403_0201, 9);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn a_six_byte_message_holds_the_id_and_two_bytes_of_the_sequence() {
        let mut six = [0u8; 6];
        fill(&mut six, 0x0403_0201, 0x0605);
        assert_eq!(six, [1, 2, 3, 4, 5, 6]);
    }
}
