//! The bytes a load connection sends, and the check that they came back.
//!
//! Every message is derived from its connection id and sequence number: it
//! starts with both (little-endian `u32` and `u64`, cut short for messages
//! under 12 bytes) and continues with a pattern seeded by them. A server
//! that drops, duplicates, reorders or corrupts a byte, or mixes two
//! connections up, produces bytes that differ from the regenerated message.

/// Bytes of the connection id and sequence number at the start of a message.
pub const HEADER: usize = 12;

/// Fills `out` with message `seq` of connection `conn`.
pub fn fill(out: &mut [u8], conn: u32, seq: u64) {
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&conn.to_le_bytes());
    header[4..].copy_from_slice(&seq.to_le_bytes());
    let head = out.len().min(HEADER);
    out[..head].copy_from_slice(&header[..head]);
    let mut state = (u64::from(conn) << 32 ^ seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for byte in &mut out[head..] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
}

/// The offset of the first byte where `received` differs from `expected`.
pub fn first_difference(received: &[u8], expected: &[u8]) -> Option<usize> {
    received.iter().zip(expected).position(|(a, b)| a != b)
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
    fn short_messages_keep_what_fits_of_the_header() {
        let mut short = [0u8; 3];
        fill(&mut short, 0x0403_0201, 9);
        assert_eq!(short, [1, 2, 3]);
    }

    #[test]
    fn one_flipped_byte_is_found() {
        let mut sent = vec![0; 4096];
        fill(&mut sent, 5, 5);
        let mut echoed = sent.clone();
        echoed[3000] ^= 0x20;
        assert_eq!(first_difference(&echoed, &sent), Some(3000));
        assert_eq!(first_difference(&sent, &sent), None);
    }
}
