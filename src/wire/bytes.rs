//! Big-endian field access and the length check the views share.
//!
//! The readers and writers index like slices do: they panic on a range outside the buffer. The views call
//! them only with ranges their `check_len` has proved to be inside it.

use super::{Result, WireError};
use std::net::Ipv4Addr;
use std::ops::Range;

pub(crate) fn read_u16(bytes: &[u8], at: Range<usize>) -> u16 {
    let b = &bytes[at];
    u16::from_be_bytes([b[0], b[1]])
}

pub(crate) fn read_u32(bytes: &[u8], at: Range<usize>) -> u32 {
    let b = &bytes[at];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn read_ipv4(bytes: &[u8], at: Range<usize>) -> Ipv4Addr {
    Ipv4Addr::from(read_u32(bytes, at))
}

pub(crate) fn write_u16(bytes: &mut [u8], at: Range<usize>, value: u16) {
    bytes[at].copy_from_slice(&value.to_be_bytes());
}

pub(crate) fn write_u32(bytes: &mut [u8], at: Range<usize>, value: u32) {
    bytes[at].copy_from_slice(&value.to_be_bytes());
}

/// The check every length field gets: a length below the protocol's minimum is inconsistent
/// (`BadLength`); one that points past the end of the buffer means bytes are missing (`Truncated`).
pub(crate) fn check_claimed_len(claimed: usize, min: usize, available: usize) -> Result<()> {
    if claimed < min {
        Err(WireError::BadLength)
    } else if claimed > available {
        Err(WireError::Truncated)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_big_endian() {
        let mut bytes = [0u8; 8];
        write_u16(&mut bytes, 0..2, 0x0102);
        write_u32(&mut bytes, 2..6, 0x0a4d_0001);
        assert_eq!(bytes, [1, 2, 10, 77, 0, 1, 0, 0]);
        assert_eq!(read_u16(&bytes, 0..2), 0x0102);
        assert_eq!(read_u32(&bytes, 2..6), 0x0a4d_0001);
        assert_eq!(read_ipv4(&bytes, 2..6), Ipv4Addr::new(10, 77, 0, 1));
    }

    #[test]
    fn claimed_lengths() {
        assert_eq!(check_claimed_len(19, 20, 100), Err(WireError::BadLength));
        assert_eq!(check_claimed_len(101, 20, 100), Err(WireError::Truncated));
        assert_eq!(check_claimed_len(20, 20, 20), Ok(()));
    }
}
