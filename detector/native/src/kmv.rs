//! `detector.sketches.KMV` for the window buckets: the bottom-k sketch of a set of 64-bit hashes
//! (its `k` smallest distinct hashes, ascending). The same adds, union and estimate as the
//! reference, and the same bytes: `0x11 | k:u16 | hashes:u64 * len`.
//!
//! Assumes both sides of a merge have the same `k` (the window buckets check their sketches'
//! sizes when they read them). The estimate divides exactly as Python does (`true_div`).
//! Fails: `read` rejects what `KMV.from_bytes` rejects. Cost: one comparison per add once full
//! and above the threshold, else a binary search and a shift of at most k hashes; O(k) per merge.

use crate::true_div;
use crate::wire::{bad, Bad, Reader};

const TAG: u8 = 0x11;

#[derive(Clone, Debug, PartialEq)]
pub struct Kmv {
    k: usize,
    h: Vec<u64>,
}

impl Kmv {
    pub fn new(k: usize) -> Self {
        Kmv { k, h: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.h.len()
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn add(&mut self, x: u64) {
        if self.h.len() == self.k && x >= self.h[self.k - 1] {
            return;
        }
        if let Err(i) = self.h.binary_search(&x) {
            self.h.insert(i, x);
            self.h.truncate(self.k);
        }
    }

    /// The bottom-k of the union, in place (`KMV.merge`).
    pub fn merge(&mut self, other: &Kmv) {
        let (a, b) = (&self.h, &other.h);
        if b.is_empty() || a == b || (a.len() == self.k && b[0] >= a[self.k - 1]) {
            return;
        }
        let mut out = Vec::with_capacity(self.k.min(a.len() + b.len()));
        let (mut i, mut j) = (0, 0);
        while out.len() < self.k {
            let x = match (a.get(i), b.get(j)) {
                (Some(&x), Some(&y)) => {
                    i += usize::from(x <= y);
                    j += usize::from(y <= x);
                    x.min(y)
                }
                (Some(&x), None) => {
                    i += 1;
                    x
                }
                (None, Some(&y)) => {
                    j += 1;
                    y
                }
                (None, None) => break,
            };
            out.push(x);
        }
        self.h = out;
    }

    /// Distinct count: exact below k, else `(k - 1) * 2**64 / kth_min` as Python divides ints.
    pub fn estimate(&self) -> f64 {
        if self.h.len() < self.k {
            return self.h.len() as f64;
        }
        true_div::div(((self.k - 1) as u128) << 64, self.h[self.k - 1])
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(TAG);
        out.extend_from_slice(&(self.k as u16).to_le_bytes());
        for x in &self.h {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }

    pub fn read(data: &[u8]) -> Result<Kmv, Bad> {
        if data.len() < 3 || data[0] != TAG || !(data.len() - 3).is_multiple_of(8) {
            return bad("KMV", format!("tag or length, {} bytes", data.len()));
        }
        let mut r = Reader::new(&data[1..]);
        let k = r.uint(2)? as usize;
        let h = (0..(data.len() - 3) / 8)
            .map(|_| r.uint(8))
            .collect::<Result<Vec<_>, _>>()?;
        if k < 2 || h.len() > k || h.windows(2).any(|w| w[0] >= w[1]) {
            return bad("KMV", "hashes not ascending/distinct or more than k");
        }
        Ok(Kmv { k, h })
    }
}

#[cfg(test)]
mod tests {
    use super::Kmv;

    fn of(k: usize, xs: &[u64]) -> Kmv {
        let mut s = Kmv::new(k);
        xs.iter().for_each(|&x| s.add(x));
        s
    }

    #[test]
    fn keeps_the_k_smallest_distinct_and_unions_them() {
        let mut s = of(4, &[50, 10, 40, 10, 30, 20]);
        assert_eq!(s.h, [10, 20, 30, 40]);
        s.merge(&of(4, &[5, 30, 60]));
        assert_eq!(s.h, [5, 10, 20, 30]);
        let mut t = of(4, &[7]);
        t.merge(&of(4, &[7, 8]));
        assert_eq!((t.h.as_slice(), t.estimate()), (&[7, 8][..], 2.0));
    }

    #[test]
    fn bytes_round_trip_and_bad_bytes_are_rejected() {
        let s = of(4, &[3, 1, u64::MAX]);
        let mut out = Vec::new();
        s.write(&mut out);
        assert_eq!(&out[..3], b"\x11\x04\x00");
        assert_eq!(Kmv::read(&out).unwrap(), s);
        out.truncate(10);
        assert!(Kmv::read(&out).is_err());
    }
}
