//! `detector.chunks.input_chunks`: the content-defined chunks of a request's text fields, counted,
//! and the smallest of their hashes that fall in the theta sample, ascending and distinct.
//!
//! Reads the request itself: the system prompt and the turns from the newest back while they fit
//! the character budget, each capped as `detector.text.cap` caps it (head, a newline, tail, counted
//! in code points), so Python does no work per field. The same words (runs of bytes between ASCII
//! whitespace: space, tab, LF, CR, VT, FF), the same cut rule and the same seeded xxh3 of the
//! words joined by single spaces as the reference; the constants come from the Python modules at
//! start-up, so each has one definition. A field holding a lone surrogate is read as its
//! surrogate-passing UTF-8, as the reference encodes it. Cost: one pass over each field's bytes,
//! one xxh3 per word past the chunk's fourth and one per chunk (over the text in place when its
//! words are single-spaced, else over a reused buffer).

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::bytes_pass::cap;

#[pyclass(frozen, module = "detector_native")]
pub struct ChunkKernel {
    min_words: usize,
    boundary: u64,
    max_bytes: usize,
    limit: u64,
    k: usize,
    seed: u64,
    max_input_chars: usize,
    /// `detector.text.cap`'s (most code points, head kept, tail kept)
    cap: (usize, usize, usize),
}

const fn space_table() -> [bool; 256] {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[0x0b] = true;
    t[0x0c] = true;
    t
}

static SPACE: [bool; 256] = space_table();

/// What the kernel accumulates over one request's fields.
struct Tally {
    chunks: u64,
    kept: Vec<u64>,
    buf: Vec<u8>,
}

impl ChunkKernel {
    /// Calls `out` with the hash of each chunk of `data`, in order.
    fn chunks(&self, data: &[u8], buf: &mut Vec<u8>, mut out: impl FnMut(u64)) {
        let n = data.len();
        let (mut i, mut words, mut size) = (0usize, 0usize, 0usize);
        let (mut start, mut single) = (0usize, true); // the chunk's first byte; words one space apart
        buf.clear();
        while i < n {
            let gap = i;
            while i < n && SPACE[data[i] as usize] {
                i += 1;
            }
            if i == n {
                break;
            }
            let w0 = i;
            while i < n && !SPACE[data[i] as usize] {
                i += 1;
            }
            let w = &data[w0..i];
            if words == 0 {
                start = w0;
            } else {
                single &= w0 - gap == 1 && data[gap] == b' ';
                if !single && buf.is_empty() {
                    buf.extend_from_slice(&data[start..gap]); // the single-spaced words so far
                }
                if !buf.is_empty() {
                    buf.push(b' ');
                }
            }
            if !single {
                buf.extend_from_slice(w);
            }
            words += 1;
            size += w.len() + 1;
            if (words >= self.min_words && xxh3_64_with_seed(w, self.seed) & self.boundary == 0)
                || size >= self.max_bytes
            {
                out(self.chunk_hash(data, start, i, single, buf));
                buf.clear();
                (words, size, single) = (0, 0, true);
            }
        }
        if words > 0 {
            let end = data[..i].iter().rposition(|&b| !SPACE[b as usize]).map_or(0, |p| p + 1);
            out(self.chunk_hash(data, start, end, single, buf));
        }
    }

    fn chunk_hash(&self, data: &[u8], start: usize, end: usize, single: bool, buf: &[u8]) -> u64 {
        xxh3_64_with_seed(if single { &data[start..end] } else { buf }, self.seed)
    }

    /// Adds the chunks of one field: `data` (its UTF-8) capped as `detector.text.cap` caps it,
    /// `chars` its length in code points.
    fn add_field(&self, data: &[u8], chars: usize, t: &mut Tally) {
        self.chunks(&cap(data, chars, self.cap), &mut t.buf, |h| {
            t.chunks += 1;
            if h < self.limit {
                t.kept.push(h);
            }
        });
    }

    /// The field's length in code points (capped as `cap` caps it), or `None` when it has no text.
    fn field<'py>(text: &Bound<'py, PyAny>) -> PyResult<Option<(Bound<'py, PyString>, usize)>> {
        if text.is_none() {
            return Ok(None);
        }
        let s = text.cast::<PyString>()?.clone();
        let chars = s.len()?;
        Ok((chars > 0).then_some((s, chars)))
    }

    fn add<'py>(&self, py: Python<'py>, s: &Bound<'py, PyString>, chars: usize, t: &mut Tally) -> PyResult<()> {
        match s.to_str() {
            Ok(text) => self.add_field(text.as_bytes(), chars, t),
            Err(_) => {
                let encoded = s.call_method1(intern!(py, "encode"), ("utf-8", "surrogatepass"))?;
                self.add_field(encoded.cast::<PyBytes>()?.as_bytes(), chars, t);
            }
        }
        Ok(())
    }
}

#[pymethods]
impl ChunkKernel {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        min_words: usize,
        boundary_bits: u32,
        max_bytes: usize,
        sample_shift: u32,
        k: usize,
        seed: u64,
        max_input_chars: usize,
        max_field_chars: usize,
        head_chars: usize,
    ) -> Self {
        ChunkKernel {
            min_words,
            boundary: (1u64 << boundary_bits) - 1,
            max_bytes,
            limit: 1u64 << sample_shift,
            k,
            seed,
            max_input_chars,
            cap: (max_field_chars, head_chars, max_field_chars - head_chars - 1),
        }
    }

    /// `(chunks, samples)` of the request `ev` (`detector.chunks.input_chunks`), the samples a tuple.
    pub(crate) fn input<'py>(&self, py: Python<'py>, ev: &Bound<'py, PyAny>) -> PyResult<(u64, Bound<'py, PyTuple>)> {
        let mut t = Tally { chunks: 0, kept: Vec::new(), buf: Vec::new() };
        let mut room = self.max_input_chars;
        if let Some((s, chars)) = Self::field(&ev.getattr(intern!(py, "system"))?)? {
            self.add(py, &s, chars, &mut t)?;
            room = room.saturating_sub(chars.min(self.cap.0));
        }
        let messages = ev.getattr(intern!(py, "messages"))?.cast_into::<PyTuple>()?;
        let content = intern!(py, "content");
        for m in messages.iter().rev() {
            if let Some((s, chars)) = Self::field(&m.getattr(content)?)? {
                if chars.min(self.cap.0) > room {
                    break;
                }
                room -= chars.min(self.cap.0);
                self.add(py, &s, chars, &mut t)?;
            }
        }
        t.kept.sort_unstable();
        t.kept.dedup();
        t.kept.truncate(self.k);
        Ok((t.chunks, PyTuple::new(py, t.kept)?))
    }
}

#[cfg(test)]
mod tests {
    use super::{ChunkKernel, Tally};

    fn kernel() -> ChunkKernel {
        ChunkKernel::new(4, 3, 512, 62, 16, 7, 65_536, 4096, 3072)
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
        assert_eq!(hashes(&k, " a b c d \n"), hashes(&k, "a b c d"));
        let head: String = (0..160).map(|i| format!("example{i} ")).collect();
        let spaced = head.replace(' ', "\n ");
        assert_eq!(hashes(&k, &head), hashes(&k, &spaced));
        let a = hashes(&k, &(head.clone() + "who wrote hamlet"));
        let b = hashes(&k, &(head + "what is the boiling point of ethanol"));
        let shared = a.iter().filter(|h| b.contains(h)).count();
        assert!(a.len() > 10 && shared + 2 >= a.len());
    }

    #[test]
    fn a_long_field_is_read_as_head_newline_tail() {
        let k = kernel();
        let text: String = (0..3000).map(|i| format!("w{i} ")).collect();
        let chars = text.chars().count();
        let mut t = Tally { chunks: 0, kept: Vec::new(), buf: Vec::new() };
        k.add_field(text.as_bytes(), chars, &mut t);
        let capped = format!("{}\n{}", &text[..3072], &text[text.len() - 1023..]);
        assert_eq!(t.chunks as usize, hashes(&k, &capped).len());
    }
}
