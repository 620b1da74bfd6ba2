//! Compiled kernels of the per-record path. `TextKernel`: `detector.text.analyse` -- normalised
//! text, token codes and skeleton codes of one casefolded field, in one call. `DomainMarks`
//! (`domain.rs`): what `detector.domains.domain_of` counts and searches. `RecordKernel`
//! (`record.rs`): `detector.parse.check_record` for plainly valid records.
//!
//! `TextKernel` is a byte-for-byte port of the Python reference in `detector/text.py`
//! (`_normalise_bytes`, `_tokens`, `_slots`). The token table and the placeholder codes are
//! handed over by the Python module at start-up, so the vocabulary has one definition.
//!
//! When it works: on any text that is valid UTF-8. Python strings holding a lone surrogate are
//! not, and `analyse` returns `None` for them; the caller then runs the Python reference.
//! Casefolding and the analysis cap stay in Python (`str.casefold` is C code and defines the
//! Unicode version), so both paths see the same input.
//!
//! Cost: a few linear passes over at most 4,096 characters and one hash lookup per token; about
//! a third of the Python reference's time on typical prompts (`docs/design.md` has the figures).

mod bytes_pass;
mod domain;
mod record;
mod slots;
mod tokens;

use std::collections::HashMap;

use bytes_pass::normalise;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rustc_hash::FxHashMap;
use slots::Codes;
use tokens::{Markers, Tokenizer};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// `(norm, norm_bytes, tokens, codes)`: the fields of `detector.text.Analysis`.
type Fields<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyBytes>,
    Bound<'py, PyString>,
    Bound<'py, PyString>,
);

/// The text kernel: tokenizer and placeholder codes of `detector.text`.
#[pyclass(frozen, module = "detector_native")]
struct TextKernel {
    tokenizer: Tokenizer,
    codes: Codes,
    /// skeleton code -> its readable token, for `skeleton_fp`
    readable: FxHashMap<char, Box<str>>,
    /// (analysis cap, head kept, tail kept) in characters, and the fingerprint seed
    cap: (usize, usize, usize),
    seed: u64,
}

#[pymethods]
impl TextKernel {
    /// Build the kernel from `detector.text`'s token table (token -> code string), placeholder
    /// codes `(W, N, NL, MORE)`, keep-word code range `(lo, hi)` and markers
    /// `(code, url, quote, newline)`.
    #[new]
    #[allow(clippy::too_many_arguments)] // one argument per table handed over by detector.text
    fn new(
        table: HashMap<String, String>,
        placeholders: (char, char, char, char),
        keep_range: (char, char),
        markers: (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>),
        readable: HashMap<char, String>,
        cap: (usize, usize, usize),
        seed: u64,
    ) -> Self {
        let (word, number, newline, more) = placeholders;
        TextKernel {
            tokenizer: Tokenizer {
                table: table
                    .into_iter()
                    .map(|(k, v)| (k.into_bytes().into(), v.chars().collect()))
                    .collect(),
                word,
                markers: Markers {
                    code: markers.0,
                    url: markers.1,
                    quote: markers.2,
                    newline: markers.3,
                },
            },
            codes: Codes {
                word,
                number,
                newline,
                more,
                keep_lo: keep_range.0,
                keep_hi: keep_range.1,
            },
            readable: readable.into_iter().map(|(k, v)| (k, v.into_boxed_str())).collect(),
            cap,
            seed,
        }
    }

    /// `fingerprint(" ".join(readable[c] for c in codes))`: the seeded xxh3 of the readable
    /// skeleton, capped and whitespace-normalised as `detector.text.fingerprint` does (the
    /// readable tokens are casefolded already: detector.text checks that before using this).
    /// `None` when a code has no readable token.
    fn skeleton_fp(&self, codes: &str) -> Option<u64> {
        let mut text = String::with_capacity(codes.len() * 4);
        for (i, c) in codes.chars().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.readable.get(&c)?);
        }
        let (max, head, tail) = self.cap;
        let n = text.chars().count();
        if n > max {
            let head_end = text.char_indices().nth(head).map_or(text.len(), |(i, _)| i);
            let tail_start = text.char_indices().nth(n - tail).map_or(text.len(), |(i, _)| i);
            text = format!("{}\n{}", &text[..head_end], &text[tail_start..]);
        }
        Some(xxh3_64_with_seed(&normalise(&text), self.seed))
    }

    /// `detector.text.fingerprint` of an already capped and casefolded text: the seeded xxh3 of
    /// its whitespace-normalised UTF-8; `None` when it is not valid UTF-8 (a lone surrogate).
    fn fingerprint(&self, folded: &Bound<'_, PyString>) -> Option<u64> {
        Some(xxh3_64_with_seed(&normalise(folded.to_str().ok()?), self.seed))
    }

    /// `(norm, norm_bytes, tokens, codes)` of an already capped and casefolded field, or `None`
    /// when it is not valid UTF-8 (a lone surrogate).
    fn analyse<'py>(&self, py: Python<'py>, folded: &Bound<'py, PyString>) -> Option<Fields<'py>> {
        let text = folded.to_str().ok()?;
        let norm = normalise(text);
        let tokens = self.tokenizer.tokens(text);
        let codes: String = self.codes.slots(&tokens).into_iter().collect();
        let tokens: String = tokens.into_iter().collect();
        // normalise only drops and re-joins whole characters of valid UTF-8
        let norm_str = std::str::from_utf8(&norm).expect("normalised text is UTF-8");
        Some((
            PyString::new(py, norm_str),
            PyBytes::new(py, &norm),
            PyString::new(py, &tokens),
            PyString::new(py, &codes),
        ))
    }
}

#[pymodule]
fn detector_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextKernel>()?;
    m.add_class::<domain::DomainMarks>()?;
    m.add_class::<record::RecordKernel>()?;
    Ok(())
}
