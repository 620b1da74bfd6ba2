//! `detector.sketches.HeavyHitters` for the window buckets: Misra-Gries with `m` counters over
//! 64-bit hashes, unit weights. The same adds, mergeable-summaries merge, `top` and bytes as the
//! reference: `0x31 | m:u16 | total:u64 | width:u8 | hashes:u64 * n (ascending) | counts * n`.
//!
//! The reference's counters are a dict, but nothing it computes depends on the dict's order (its
//! bytes and `top` sort), so the counters here are kept sorted by hash. Assumes both sides of a
//! merge have the same `m`. Fails: `read` rejects what `HeavyHitters.from_bytes` rejects.
//! Cost: a binary search per add, O(m) when a new hash arrives while all counters are taken;
//! O(m log m) per merge.

use std::cmp::Reverse;

use crate::wire::{bad, put_uint, width_code, Bad, Reader, WIDTHS};

const TAG: u8 = 0x31;

#[derive(Clone, Debug, PartialEq)]
pub struct HeavyHitters {
    m: usize,
    /// (hash, count > 0), ascending by hash
    c: Vec<(u64, u64)>,
    total: u64,
}

impl HeavyHitters {
    #[cfg(test)] // the window buckets start from the empty bucket's sketches
    pub fn new(m: usize) -> Self {
        HeavyHitters {
            m,
            c: Vec::new(),
            total: 0,
        }
    }

    pub fn m(&self) -> usize {
        self.m
    }

    /// `HeavyHitters.add(h)` (weight 1): when all counters are taken by other hashes, every
    /// counter loses one and the newcomer is not kept.
    pub fn add(&mut self, h: u64) {
        self.total += 1;
        match self.c.binary_search_by_key(&h, |&(x, _)| x) {
            Ok(i) => self.c[i].1 += 1,
            Err(i) if self.c.len() < self.m => self.c.insert(i, (h, 1)),
            Err(_) => {
                self.c.iter_mut().for_each(|e| e.1 -= 1);
                self.c.retain(|e| e.1 > 0);
            }
        }
    }

    /// Adds the counters, then subtracts the (m+1)-th largest and drops what is not positive.
    pub fn merge(&mut self, other: &HeavyHitters) {
        let mut c = self.c.clone();
        for &(h, v) in &other.c {
            match c.binary_search_by_key(&h, |&(x, _)| x) {
                Ok(i) => c[i].1 += v,
                Err(i) => c.insert(i, (h, v)),
            }
        }
        if c.len() > self.m {
            let mut counts: Vec<u64> = c.iter().map(|e| e.1).collect();
            counts.sort_unstable_by_key(|&v| Reverse(v));
            let cut = counts[self.m];
            c.retain(|e| e.1 > cut);
            c.iter_mut().for_each(|e| e.1 -= cut);
        }
        self.c = c;
        self.total += other.total;
    }

    /// `(hash, count)` by count descending, then hash ascending; the first `n`.
    pub fn top(&self, n: usize) -> Vec<(u64, u64)> {
        let mut items = self.c.clone();
        items.sort_unstable_by_key(|&(h, v)| (Reverse(v), h));
        items.truncate(n);
        items
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        let w = width_code(self.c.iter().map(|e| e.1).max().unwrap_or(0));
        out.push(TAG);
        out.extend_from_slice(&(self.m as u16).to_le_bytes());
        out.extend_from_slice(&self.total.to_le_bytes());
        out.push(w);
        self.c.iter().for_each(|e| out.extend_from_slice(&e.0.to_le_bytes()));
        self.c.iter().for_each(|e| put_uint(out, e.1, WIDTHS[w as usize]));
    }

    pub fn read(data: &[u8]) -> Result<HeavyHitters, Bad> {
        let mut r = Reader::new(data);
        let (tag, m, total, w) = (r.uint(1)?, r.uint(2)? as usize, r.uint(8)?, r.uint(1)? as usize);
        if tag != u64::from(TAG) || w > 3 {
            return bad("HeavyHitters", format!("tag or width code={w}"));
        }
        let n = r.left() / (8 + WIDTHS[w]);
        if !r.left().is_multiple_of(8 + WIDTHS[w]) || m < 1 || n > m {
            return bad("HeavyHitters", format!("{} bytes for m={m}", data.len()));
        }
        let hashes = (0..n).map(|_| r.uint(8)).collect::<Result<Vec<_>, _>>()?;
        let counts = (0..n).map(|_| r.uint(WIDTHS[w])).collect::<Result<Vec<_>, _>>()?;
        if hashes.windows(2).any(|p| p[0] >= p[1])
            || counts.contains(&0)
            || counts.iter().map(|&v| u128::from(v)).sum::<u128>() > u128::from(total)
        {
            return bad("HeavyHitters", "hashes not ascending, zero count, or counts > total");
        }
        Ok(HeavyHitters {
            m,
            c: hashes.into_iter().zip(counts).collect(),
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::HeavyHitters;

    fn of(m: usize, xs: &[u64]) -> HeavyHitters {
        let mut h = HeavyHitters::new(m);
        xs.iter().for_each(|&x| h.add(x));
        h
    }

    #[test]
    fn adds_merges_and_bytes_as_the_reference() {
        // Python: HeavyHitters(2) after adding 1, 1, 1, 2, 3, 1, 2
        let h = of(2, &[1, 1, 1, 2, 3, 1, 2]);
        assert_eq!((h.top(5), h.total), (vec![(1, 3), (2, 1)], 7));
        let mut out = Vec::new();
        h.write(&mut out);
        let mut want = b"1\x02\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
        want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1]);
        assert_eq!(out, want);
        assert_eq!(HeavyHitters::read(&out).unwrap(), h);
        // Python: 5, 5, 5, 6, 6 merged with 7, 7, 7, 7, 6 (m=2) leaves [(7, 1)] of total 10
        let mut a = of(2, &[5, 5, 5, 6, 6]);
        a.merge(&of(2, &[7, 7, 7, 7, 6]));
        assert_eq!((a.top(5), a.total), (vec![(7, 1)], 10));
    }
}
