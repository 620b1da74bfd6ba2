//! The little-endian wire format of the window state, as `detector/sketches.py` and
//! `detector/windows.py` write it with `struct`: a cursor that reads it, the 1/2/4/8-byte
//! integer arrays of the sketches, and the 4-byte length frames that join the parts of a bucket
//! and the buckets of a key.
//!
//! Fails: a read past the end, a frame longer than what follows it or trailing bytes give `Bad`,
//! which the Python boundary raises as `ValueError`; nothing here panics on malformed bytes.
//! Cost: linear in the bytes.

use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

/// Why bytes are not a serialised window state.
#[derive(Debug)]
pub struct Bad(pub String);

impl From<Bad> for PyErr {
    fn from(bad: Bad) -> PyErr {
        PyValueError::new_err(bad.0)
    }
}

/// `Err(Bad)` of a sketch or bucket that does not parse.
pub fn bad<T>(kind: &str, why: impl std::fmt::Display) -> Result<T, Bad> {
    Err(Bad(format!("not a serialised {kind} ({why})")))
}

/// Reads little-endian values from the front of a byte string.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if n > self.data.len() {
            return bad("window state", format!("{n} bytes wanted, {} left", self.data.len()));
        }
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        Ok(head)
    }

    /// An unsigned integer of `width` (1, 2, 4 or 8) bytes.
    pub fn uint(&mut self, width: usize) -> Result<u64, Bad> {
        let mut b = [0u8; 8];
        b[..width].copy_from_slice(self.take(width)?);
        Ok(u64::from_le_bytes(b))
    }

    pub fn i64(&mut self) -> Result<i64, Bad> {
        Ok(self.uint(8)? as i64)
    }

    pub fn left(&self) -> usize {
        self.data.len()
    }
}

/// Byte widths of the width codes the sketches store (`struct` formats `B`, `H`, `I`, `Q`).
pub const WIDTHS: [usize; 4] = [1, 2, 4, 8];

/// The smallest width code that holds `largest` (`detector.sketches._width_code`).
pub fn width_code(largest: u64) -> u8 {
    match largest {
        0..=0xff => 0,
        0x100..=0xffff => 1,
        0x1_0000..=0xffff_ffff => 2,
        _ => 3,
    }
}

/// Appends the low `width` bytes of `v`, little-endian.
pub fn put_uint(out: &mut Vec<u8>, v: u64, width: usize) {
    out.extend_from_slice(&v.to_le_bytes()[..width]);
}

/// Appends what `write` writes behind its 4-byte length (`detector.windows.frame` of one part).
pub fn framed(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    write(out);
    let size = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&size.to_le_bytes());
}

/// The parts `framed` joined (`detector.windows.unframe`).
pub fn unframe(data: &[u8]) -> Result<Vec<&[u8]>, Bad> {
    let mut r = Reader::new(data);
    let mut parts = Vec::new();
    while r.left() > 0 {
        let size = r.uint(4)? as usize;
        parts.push(r.take(size)?);
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::{framed, unframe, width_code};

    #[test]
    fn frames_round_trip_and_reject_a_short_part() {
        let mut out = Vec::new();
        framed(&mut out, |o| o.extend_from_slice(b"abc"));
        framed(&mut out, |_| ());
        assert_eq!(out, b"\x03\x00\x00\x00abc\x00\x00\x00\x00");
        assert_eq!(unframe(&out).unwrap(), vec![&b"abc"[..], &b""[..]]);
        assert!(unframe(&out[..5]).is_err());
    }

    #[test]
    fn width_codes_at_their_bounds() {
        assert_eq!(
            [0xff, 0x100, 0xffff, 0x1_0000, 0xffff_ffff, 1 << 32].map(width_code),
            [0, 1, 1, 2, 2, 3]
        );
    }
}
