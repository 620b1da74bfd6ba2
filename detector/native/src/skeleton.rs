//! What `detector.text` derives from skeleton codes: the readable skeleton's fingerprint
//! (`skeleton_fp`) and the SimHash bigram counts (`_counters`, `_signature_raw`).
//!
//! The readable token of every code is handed over by `detector.text`; the seeded xxh3 of every
//! bigram of readable tokens ("tok1 tok2") is computed once at start-up (a few hundred codes: a
//! table of about 1.5 MB), so a skeleton's SimHash costs one table read and sixteen adds per
//! bigram.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::bytes_pass::{self, is_py_space, normalise};

/// Bits of one packed counter: four counters per `u64`, as the reference packs sixteen bits per counter.
const LANE: u32 = 16;

/// `SPREAD[v]`: the four low bits of `v`, one per 16-bit lane.
const SPREAD: [u64; 16] = {
    let mut t = [0u64; 16];
    let mut v = 0;
    while v < 16 {
        let mut j = 0;
        while j < 4 {
            t[v] |= ((v as u64 >> j) & 1) << (LANE * j);
            j += 1;
        }
        v += 1;
    }
    t
};

/// `SPREAD_BYTE[v]`: `SPREAD` of the low and of the high four bits of `v`.
const SPREAD_BYTE: [[u64; 2]; 256] = {
    let mut t = [[0u64; 2]; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = [SPREAD[v & 0xf], SPREAD[v >> 4]];
        v += 1;
    }
    t
};

/// Per-bit counts of SimHash bigram hashes (counter of bit `4k + j` in lane `j` of `lanes[k]`), and
/// how many bigrams were counted.
#[derive(Clone, Default)]
pub struct BitCounts {
    lanes: [u64; 16],
    n: u64,
}

impl BitCounts {
    /// Counts the bits of `h`: each byte of it adds to the two words of its eight counters at once.
    fn add(&mut self, h: u64) {
        for (pair, byte) in self.lanes.chunks_exact_mut(2).zip(h.to_le_bytes()) {
            let spread = SPREAD_BYTE[byte as usize];
            pair[0] = pair[0].wrapping_add(spread[0]);
            pair[1] = pair[1].wrapping_add(spread[1]);
        }
        self.n += 1;
    }

    /// `detector.text._signature_raw`: bit i is set when more than half the bigram hashes have
    /// it, 0 without bigrams. Exact below 65,536 bigrams, as the reference's 16-bit counters are
    /// (the analysis cap keeps two fields far below); past that `None`.
    pub fn signature(&self) -> Option<u64> {
        if self.n >= 1 << LANE {
            return None;
        }
        let half = self.n / 2;
        let count = |i: usize| self.lanes[i / 4] >> (LANE * (i % 4) as u32) & 0xffff;
        Some((0..64).filter(|&i| count(i) > half).fold(0, |sig, i| sig | 1 << i))
    }
}

/// Readable tokens of the skeleton codes, indexed densely, and the hash of every bigram of them.
pub struct Readable {
    /// code point -> dense index (`u16::MAX`: no readable token)
    index: Vec<u16>,
    tokens: Vec<Box<str>>,
    /// characters of each token
    chars: Vec<usize>,
    /// whether every token is non-empty and free of whitespace, so that their join with single
    /// spaces is already normalised
    clean: bool,
    /// hash of "tokens[a] tokens[b]" at `a * tokens.len() + b`
    bigrams: Vec<u64>,
    /// the SimHash start-of-field code's index
    start: u16,
}

impl Readable {
    /// From `detector.text._READABLE_OF` (code -> readable token), its start-of-field code and the
    /// fingerprint seed; `None` when the start code has no token or there are 65,535 codes or more.
    pub fn new(readable: HashMap<char, String>, start: char, seed: u64) -> Option<Self> {
        let mut codes: Vec<(char, String)> = readable.into_iter().collect();
        codes.sort();
        if codes.len() >= u16::MAX as usize {
            return None;
        }
        let top = codes.iter().map(|&(c, _)| c as usize).max().unwrap_or(0);
        let mut index = vec![u16::MAX; top + 1];
        for (i, (c, _)) in codes.iter().enumerate() {
            index[*c as usize] = i as u16;
        }
        let tokens: Vec<Box<str>> = codes.into_iter().map(|(_, t)| t.into_boxed_str()).collect();
        let chars = tokens.iter().map(|t| t.chars().count()).collect();
        let clean = tokens.iter().all(|t| !t.is_empty() && !t.chars().any(is_py_space));
        let mut pair = Vec::with_capacity(64);
        let bigrams = tokens
            .iter()
            .flat_map(|a| tokens.iter().map(move |b| (a, b)))
            .map(|(a, b)| {
                pair.clear();
                pair.extend_from_slice(a.as_bytes());
                pair.push(b' ');
                pair.extend_from_slice(b.as_bytes());
                xxh3_64_with_seed(&pair, seed)
            })
            .collect();
        let start = *index.get(start as usize).filter(|&&i| i != u16::MAX)?;
        Some(Readable {
            index,
            tokens,
            chars,
            clean,
            bigrams,
            start,
        })
    }

    #[inline]
    fn index_of(&self, c: char) -> Option<usize> {
        self.index
            .get(c as usize)
            .filter(|&&i| i != u16::MAX)
            .map(|&i| i as usize)
    }

    /// `detector.text.fingerprint(" ".join(readable[c] for c in codes))`, with the analysis
    /// `cap` (chars: total, head, tail) and `seed` (the readable tokens are casefolded already:
    /// detector.text checks that before using this). `None` when a code has no readable token.
    pub fn fingerprint(&self, codes: impl Iterator<Item = char>, cap: (usize, usize, usize), seed: u64) -> Option<u64> {
        let mut text = String::with_capacity(codes.size_hint().0 * 8);
        let mut n = 0;
        for (i, c) in codes.enumerate() {
            let k = self.index_of(c)?;
            if i > 0 {
                text.push(' ');
                n += 1;
            }
            text.push_str(&self.tokens[k]);
            n += self.chars[k];
        }
        if n <= cap.0 && self.clean {
            return Some(xxh3_64_with_seed(text.as_bytes(), seed));
        }
        let capped = bytes_pass::cap(text.as_bytes(), n, cap);
        let capped = std::str::from_utf8(&capped).expect("cut at code-point boundaries of a str");
        Some(xxh3_64_with_seed(&normalise(capped), seed))
    }

    /// Adds the bigrams of `<s>` + `codes` (`detector.text._counters`) to `counts`; `None` when a
    /// code has no readable token.
    pub fn add_bigrams(&self, codes: &[char], counts: &mut BitCounts) -> Option<()> {
        let n = self.tokens.len();
        let mut prev = self.start as usize;
        for &c in codes {
            let next = self.index_of(c)?;
            counts.add(self.bigrams[prev * n + next]);
            prev = next;
        }
        Some(())
    }
}
