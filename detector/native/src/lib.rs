//! Compiled kernels of the per-record path. `TextKernel`: `detector.text.analyse` -- normalised
//! text, token codes and skeleton codes of one casefolded field, in one call. `DomainMarks`
//! (`domain.rs`): what `detector.domains.domain_of` counts and searches, and its decision.
//! `TextSignals` (`signals.rs`): `detector.signals.text_signals`. `FeatureKernel` (`features.rs`):
//! everything `detector.features.extract` derives from the user turn, in one call per event.
//! `RecordKernel` (`record.rs`): `detector.parse.check_record` for plainly valid records, given the
//! dict orjson made or the record's bytes, which it decodes itself (`val.rs`, by `serde_json`)
//! without the dict.
//! `ChunkKernel` (`chunks.rs`): `detector.chunks.input_chunks`, the content-defined chunks of a
//! request's text fields and their theta sample, read from the request in one call.
//! `RequestKernel` (`request.rs`): all of `detector.features.extract`, around `FeatureKernel`.
//! `WindowKernel` and `KeyWindows` (`windows.rs`): `detector.windows.KeyWindows`, one key's window
//! state, with `detector.summary.bucket_stats` (`stats.rs`) at each close; its buckets
//! (`bucket.rs`) and their sketches (`kmv.rs`, `heavy.rs`, `histogram.rs`) write the reference's
//! bytes (`wire.rs`), and divide ints as Python does (`true_div.rs`).
//!
//! `TextKernel` is a byte-for-byte port of the Python reference in `detector/text.py`
//! (`_normalise_bytes`, `_tokens`, `_slots`). The token table and the placeholder codes are
//! handed over by the Python module at start-up, so the vocabulary has one definition.
//!
//! When it works: on any text that is valid UTF-8. Python strings holding a lone surrogate are
//! not, and `analyse` returns `None` for them; the caller then runs the Python reference.
//! Casefolding and the analysis cap stay in Python (`str.casefold` is C code and defines the
//! Unicode version), so both paths see the same input; `FeatureKernel` lowercases only text whose
//! other characters `str.casefold` leaves as they are (a table it builds from `str.casefold`).
//!
//! Cost: a few linear passes over at most 4,096 characters and one hash lookup per token; about
//! a third of the Python reference's time on typical prompts (`docs/design.md` has the figures).

mod bucket;
mod bytes_pass;
mod chunks;
mod domain;
mod features;
mod heavy;
mod histogram;
mod kmv;
mod record;
mod request;
mod script;
mod signals;
mod skeleton;
mod slots;
mod stats;
mod tokens;
mod true_div;
mod val;
mod windows;
mod wire;

use std::collections::HashMap;

use bytes_pass::normalise;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use script::ScriptTable;
use skeleton::{BitCounts, Readable};
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
pub struct TextKernel {
    tokenizer: Tokenizer,
    codes: Codes,
    /// readable tokens of the skeleton codes, for `skeleton_fp` and the SimHash bigrams
    readable: Readable,
    /// `detector.text.dominant_script`'s table
    script: ScriptTable,
    /// (analysis cap, head kept, tail kept) in characters, and the fingerprint seed
    cap: (usize, usize, usize),
    seed: u64,
}

/// One analysed field: normalised UTF-8, token codes, skeleton codes.
pub struct Analysed {
    pub norm: Vec<u8>,
    pub tokens: Vec<char>,
    pub codes: Vec<char>,
}

impl TextKernel {
    /// `detector.text.analyse_folded` of valid UTF-8.
    pub fn analysed(&self, text: &str) -> Analysed {
        let tokens = self.tokenizer.tokens(text);
        Analysed {
            norm: normalise(text),
            codes: self.codes.slots(&tokens),
            tokens,
        }
    }

    /// `detector.text.dominant_script` of normalised text.
    pub fn script(&self, norm: &str) -> u8 {
        self.script.dominant(norm)
    }

    /// The seeded xxh3 of `bytes`.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        xxh3_64_with_seed(bytes, self.seed)
    }

    /// `detector.text.fingerprint` of the readable skeleton of `codes` (see `Readable::fingerprint`).
    pub fn codes_fp(&self, codes: impl Iterator<Item = char>) -> Option<u64> {
        self.readable.fingerprint(codes, self.cap, self.seed)
    }

    /// Adds the SimHash bigrams of `codes` to `counts` (see `Readable::add_bigrams`).
    pub fn add_bigrams(&self, codes: &[char], counts: &mut BitCounts) -> Option<()> {
        self.readable.add_bigrams(codes, counts)
    }
}

#[pymethods]
impl TextKernel {
    /// Build the kernel from `detector.text`'s token table (token -> code string), placeholder
    /// codes `(W, N, NL, MORE, START)`, keep-word code range `(lo, hi)`, markers
    /// `(code, url, quote, newline)`, readable tokens, cap, seed and the script table
    /// `(lead byte -> class letter, sample chars, wide weight, Script name -> value)`.
    #[new]
    #[allow(clippy::too_many_arguments)] // one argument per table handed over by detector.text
    fn new(
        table: HashMap<String, String>,
        placeholders: (char, char, char, char, char),
        keep_range: (char, char),
        markers: (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>),
        readable: HashMap<char, String>,
        cap: (usize, usize, usize),
        seed: u64,
        script: (Vec<u8>, usize, u32, HashMap<String, u8>),
    ) -> PyResult<Self> {
        let (word, number, newline, more, start) = placeholders;
        Ok(TextKernel {
            tokenizer: Tokenizer::new(
                table,
                word,
                Markers {
                    code: markers.0,
                    url: markers.1,
                    quote: markers.2,
                    newline: markers.3,
                },
            )
            .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("token codes too long"))?,
            codes: Codes {
                word,
                number,
                newline,
                more,
                keep_lo: keep_range.0,
                keep_hi: keep_range.1,
            },
            readable: Readable::new(readable, start, seed)
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("no readable start code"))?,
            script: ScriptTable::new(script.0, script.1, script.2, &script.3)?,
            cap,
            seed,
        })
    }

    /// `fingerprint(" ".join(readable[c] for c in codes))`: the seeded xxh3 of the readable
    /// skeleton, capped and whitespace-normalised as `detector.text.fingerprint` does (the
    /// readable tokens are casefolded already: detector.text checks that before using this).
    /// `None` when a code has no readable token.
    fn skeleton_fp(&self, codes: &str) -> Option<u64> {
        self.codes_fp(codes.chars())
    }

    /// `detector.text.fingerprint` of an already capped and casefolded text: the seeded xxh3 of
    /// its whitespace-normalised UTF-8; `None` when it is not valid UTF-8 (a lone surrogate).
    fn fingerprint(&self, folded: &Bound<'_, PyString>) -> Option<u64> {
        Some(xxh3_64_with_seed(&normalise(folded.to_str().ok()?), self.seed))
    }

    /// `(norm, norm_bytes, tokens, codes)` of an already capped and casefolded field, or `None`
    /// when it is not valid UTF-8 (a lone surrogate).
    fn analyse<'py>(&self, py: Python<'py>, folded: &Bound<'py, PyString>) -> Option<Fields<'py>> {
        let a = self.analysed(folded.to_str().ok()?);
        let codes: String = a.codes.into_iter().collect();
        let tokens: String = a.tokens.into_iter().collect();
        Some((
            PyString::new(py, features::utf8(&a.norm)),
            PyBytes::new(py, &a.norm),
            PyString::new(py, &tokens),
            PyString::new(py, &codes),
        ))
    }
}

#[pymodule]
fn detector_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<TextKernel>()?;
    m.add_class::<chunks::ChunkKernel>()?;
    m.add_class::<domain::DomainMarks>()?;
    m.add_class::<signals::TextSignals>()?;
    m.add_class::<features::FeatureKernel>()?;
    m.add_class::<features::SystemPart>()?;
    m.add_class::<record::RecordKernel>()?;
    m.add_class::<request::RequestKernel>()?;
    m.add_class::<windows::WindowKernel>()?;
    m.add_class::<windows::KeyWindows>()?;
    Ok(())
}
