//! `detector.sketches.LogHistogram` for the window buckets: counts over log2-spaced bins (bin 0
//! `[0, 1)`, bin i `[2**(i-1), 2**i)`, the last also everything larger), of non-negative integers.
//! The same bins, quantiles and bytes as the reference:
//! `0x21 | n_bins:u8 | width:u8 | bitmap of non-empty bins | their counts`.
//!
//! Assumes counts below 2**53 (the reference compares `cum + count >= target` between an int and
//! a float exactly; below 2**53 the float comparison is the same) and that both sides of a merge
//! have the same bins. The quantile raises 2 to a power with the C library's `pow`, as Python's
//! `2.0 ** x` does; the base is hidden from the optimiser, which would otherwise call `exp2`,
//! whose last bit may differ. Fails: `read` rejects what `LogHistogram.from_bytes` rejects.
//! Cost: O(1) per add, O(bins) per merge, count and quantile.

use crate::wire::{bad, put_uint, width_code, Bad, Reader, WIDTHS};

const TAG: u8 = 0x21;

#[derive(Clone, Debug, PartialEq)]
pub struct LogHistogram {
    c: Vec<u64>,
}

impl LogHistogram {
    #[cfg(test)] // the window buckets start from the empty bucket's sketches
    pub fn new(n_bins: usize) -> Self {
        LogHistogram { c: vec![0; n_bins] }
    }

    pub fn n_bins(&self) -> usize {
        self.c.len()
    }

    /// Counts `x` in bin `x.bit_length()`, or the last.
    pub fn add(&mut self, x: u64) {
        let last = self.c.len() - 1;
        self.c[((u64::BITS - x.leading_zeros()) as usize).min(last)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.c.iter().sum()
    }

    /// `LogHistogram.quantile(q)` for `0 <= q <= 1`: linear inside bin 0, `2**(i - 1 + frac)`
    /// inside bin i; NaN when empty.
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return f64::NAN;
        }
        let target = q * total as f64;
        let mut cum = 0;
        for (i, &ci) in self.c.iter().enumerate() {
            if ci != 0 && (cum + ci) as f64 >= target {
                let frac = ((target - cum as f64) / ci as f64).clamp(0.0, 1.0);
                return if i == 0 {
                    frac
                } else {
                    std::hint::black_box(2.0f64).powf((i - 1) as f64 + frac)
                };
            }
            cum += ci;
        }
        unreachable!("target <= total for q <= 1")
    }

    pub fn merge(&mut self, other: &LogHistogram) {
        self.c.iter_mut().zip(&other.c).for_each(|(a, b)| *a += b);
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let largest = self.c.iter().copied().max().unwrap_or(0);
        let w = width_code(largest);
        out.extend_from_slice(&[TAG, self.c.len() as u8, w]);
        let bitmap = self
            .c
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, &c)| m | u64::from(c != 0) << i);
        out.extend_from_slice(&bitmap.to_le_bytes()[..self.c.len().div_ceil(8)]);
        for &c in self.c.iter().filter(|&&c| c != 0) {
            put_uint(out, c, WIDTHS[w as usize]);
        }
    }

    pub fn read(data: &[u8]) -> Result<LogHistogram, Bad> {
        let mut r = Reader::new(data);
        let (tag, n, w) = (r.uint(1)?, r.uint(1)? as usize, r.uint(1)? as usize);
        if tag != u64::from(TAG) || !(2..=64).contains(&n) || w > 3 {
            return bad("LogHistogram", format!("tag, n_bins={n} or width code={w}"));
        }
        let bitmap = r.uint(n.div_ceil(8))?;
        if (n < 64 && bitmap >> n != 0) || r.left() != bitmap.count_ones() as usize * WIDTHS[w] {
            return bad("LogHistogram", "bitmap does not match length");
        }
        let mut c = vec![0; n];
        for (i, ci) in c.iter_mut().enumerate().filter(|(i, _)| bitmap >> i & 1 != 0) {
            *ci = r.uint(WIDTHS[w])?;
            if *ci == 0 {
                return bad("LogHistogram", format!("zero count marked non-empty in bin {i}"));
            }
        }
        Ok(LogHistogram { c })
    }
}

#[cfg(test)]
mod tests {
    use super::LogHistogram;

    #[test]
    fn bins_quantiles_and_bytes_as_the_reference() {
        let mut h = LogHistogram::new(8);
        for x in [0, 1, 3, 3, 100, 1_000_000_000] {
            h.add(x);
        }
        assert_eq!(h.c, [1, 1, 2, 0, 0, 0, 0, 2]);
        // Python: LogHistogram(8) of those values, .quantile(q) for q = 0, 1, 0.5, 0.9
        assert_eq!(
            (h.quantile(0.0), h.quantile(1.0), h.quantile(0.5)),
            (0.0, 128.0, 2.8284271247461903)
        );
        assert_eq!(h.quantile(0.9).to_bits(), 0x4059fdf8bcce533e);
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out, b"\x21\x08\x00\x87\x01\x01\x02\x02");
        assert_eq!(LogHistogram::read(&out).unwrap(), h);
        assert!(LogHistogram::read(&out[..7]).is_err());
        assert!(LogHistogram::new(3).quantile(0.5).is_nan());
    }
}
