//! `detector.chunks.sample`: the content-defined chunks of a request's text fields, counted, and
//! the smallest of their hashes that fall in the theta sample, ascending and distinct.
//!
//! The same words (runs of bytes between ASCII whitespace: space, tab, LF, CR, VT, FF), the same
//! cut rule and the same seeded xxh3 of the words joined by single spaces as the reference; the
//! constants come from the Python module at start-up, so each has one definition. Assumes the
//! fields are the capped UTF-8 (surrogate-passing) bytes the reference hashes. Cost: one xxh3 per
//! word and per chunk, and one reused buffer per call.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use xxhash_rust::xxh3::xxh3_64_with_seed;

#[pyclass(frozen, module = "detector_native")]
pub struct ChunkKernel {
    min_words: usize,
    boundary: u64,
    max_bytes: usize,
    limit: u64,
    k: usize,
    seed: u64,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

impl ChunkKernel {
    /// Calls `out` with the hash of each chunk of `data`, in order.
    fn chunks(&self, data: &[u8], buf: &mut Vec<u8>, mut out: impl FnMut(u64)) {
        buf.clear();
        let (mut words, mut size) = (0usize, 0usize);
        for w in data.split(|&b| is_space(b)).filter(|w| !w.is_empty()) {
            if words > 0 {
                buf.push(b' ');
            }
            buf.extend_from_slice(w);
            words += 1;
            size += w.len() + 1;
            if (words >= self.min_words && xxh3_64_with_seed(w, self.seed) & self.boundary == 0)
                || size >= self.max_bytes
            {
                out(xxh3_64_with_seed(buf, self.seed));
                buf.clear();
                (words, size) = (0, 0);
            }
        }
        if words > 0 {
            out(xxh3_64_with_seed(buf, self.seed));
        }
    }
}

#[pymethods]
impl ChunkKernel {
    #[new]
    fn new(
        min_words: usize,
        boundary_bits: u32,
        max_bytes: usize,
        sample_shift: u32,
        k: usize,
        seed: u64,
    ) -> Self {
        ChunkKernel {
            min_words,
            boundary: (1u64 << boundary_bits) - 1,
            max_bytes,
            limit: 1u64 << sample_shift,
            k,
            seed,
        }
    }

    /// `(chunks, samples)` of the text fields `fields` (`detector.chunks.sample`), the samples a tuple.
    fn sample<'py>(
        &self,
        py: Python<'py>,
        fields: Vec<Bound<'py, PyBytes>>,
    ) -> PyResult<(u64, Bound<'py, PyTuple>)> {
        let (chunks, kept) = self.sample_of(fields.iter().map(|f| f.as_bytes()));
        Ok((chunks, PyTuple::new(py, kept)?))
    }
}

impl ChunkKernel {
    fn sample_of<'a>(&self, fields: impl Iterator<Item = &'a [u8]>) -> (u64, Vec<u64>) {
        let (mut chunks, mut kept, mut buf) = (0u64, Vec::new(), Vec::new());
        for data in fields {
            self.chunks(data, &mut buf, |h| {
                chunks += 1;
                if h < self.limit {
                    kept.push(h);
                }
            });
        }
        kept.sort_unstable();
        kept.dedup();
        kept.truncate(self.k);
        (chunks, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::ChunkKernel;

    fn kernel() -> ChunkKernel {
        ChunkKernel::new(4, 3, 512, 62, 16, 7)
    }

    fn hashes(k: &ChunkKernel, text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        k.chunks(text.as_bytes(), &mut Vec::new(), |h| out.push(h));
        out
    }

    #[test]
    fn spacing_does_not_change_chunks_and_a_shared_prefix_shares_them() {
        let k = kernel();
        assert_eq!(hashes(&k, "a  b\n c\td"), hashes(&k, "a b c d"));
        let head: String = (0..160).map(|i| format!("example{i} ")).collect();
        let a = hashes(&k, &(head.clone() + "who wrote hamlet"));
        let b = hashes(&k, &(head + "what is the boiling point of ethanol"));
        let shared = a.iter().filter(|h| b.contains(h)).count();
        assert!(a.len() > 10 && shared + 2 >= a.len());
    }

    #[test]
    fn samples_are_distinct_ascending_and_at_most_k() {
        let k = kernel();
        let text: String = (0..3000).map(|i| format!("w{i} ")).collect();
        let (chunks, kept) = k.sample_of([text.as_bytes(), text.as_bytes()].into_iter());
        assert!(chunks > 100);
        assert_eq!(kept.len(), 16);
        assert!(kept.windows(2).all(|p| p[0] < p[1]) && kept.iter().all(|&h| h < 1 << 62));
    }
}
