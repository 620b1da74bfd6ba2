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

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use rustc_hash::FxHashMap;

use bytes_pass::{code_at, email_at, normalise, quote_at, replace, sub, url_at, OPEN_QUOTES};
use slots::Codes;

/// Marker byte strings written into the text before tokenising (`_M_CODE`, `_M_URL`, `_M_QUOTE`,
/// `_M_NL` in `detector/text.py`).
struct Markers {
    code: Vec<u8>,
    url: Vec<u8>,
    quote: Vec<u8>,
    newline: Vec<u8>,
}

/// `(norm, norm_bytes, tokens, codes)`: the fields of `detector.text.Analysis`.
type Fields<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyBytes>,
    Bound<'py, PyString>,
    Bound<'py, PyString>,
);

/// The text kernel: token table, placeholder codes and markers of `detector.text`.
#[pyclass(frozen, module = "detector_native")]
struct TextKernel {
    table: FxHashMap<Box<[u8]>, Box<[char]>>,
    codes: Codes,
    markers: Markers,
}

/// `_BYTE_TABLE`: digits -> '0'; control bytes and ASCII whitespace other than '\n' -> ' '.
const TRANSLATE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = match i as u8 {
            b'0'..=b'9' => b'0',
            0..=9 | 11..=31 | 0x7f => b' ',
            x => x,
        };
        i += 1;
    }
    t
};

/// Bytes of the gate set `` ` @ : / " ' \n ! `` and every non-ASCII byte (`_GATE_DELETE`).
#[inline]
fn in_gate(b: u8) -> bool {
    b >= 0x80 || matches!(b, b'`' | b'@' | b':' | b'/' | b'"' | b'\'' | b'\n' | b'!')
}

#[derive(Default)]
struct Gate {
    backtick: bool,
    colon_slash: bool,
    at: bool,
    dquote: bool,
    squote: bool,
    non_ascii: bool,
    newline: bool,
    bang: bool,
    colon: bool,
}

impl Gate {
    /// What `raw.translate(None, _GATE_DELETE)` contains, for the tests `_tokens` makes on it.
    fn of(b: &[u8]) -> Gate {
        let mut g = Gate::default();
        let mut prev = 0u8;
        if b.iter().all(|&x| !in_gate(x)) {
            return g;
        }
        for &x in b.iter().filter(|&&x| in_gate(x)) {
            match x {
                b'`' => g.backtick = true,
                b'@' => g.at = true,
                b':' => g.colon = true,
                b'/' => g.colon_slash |= prev == b':',
                b'"' => g.dquote = true,
                b'\'' => g.squote = true,
                b'\n' => g.newline = true,
                b'!' => g.bang = true,
                _ => g.non_ascii = true,
            }
            prev = x;
        }
        g
    }
}

impl TextKernel {
    /// `detector.text._tokens`: one code per token of the casefolded text.
    fn tokens(&self, folded: &str) -> Vec<char> {
        let mut b: Vec<u8> = folded.bytes().map(|x| TRANSLATE[x as usize]).collect();
        b.push(b' ');
        let g = Gate::of(&b);
        let m = &self.markers;
        if g.backtick {
            b = sub(&b, &m.code, code_at);
        }
        if g.colon_slash {
            b = sub(&b, &m.url, url_at);
        }
        if g.at {
            b = sub(&b, &m.url, email_at);
        }
        let quotes = g.dquote
            || (g.squote && (bytes_pass::find(&b, b" '").is_some() || b.first() == Some(&b'\'')))
            || (g.non_ascii && OPEN_QUOTES.iter().any(|q| bytes_pass::find(&b, q).is_some()));
        if quotes {
            b = sub(&b, &m.quote, quote_at);
        }
        if g.newline {
            b = replace(&b, b"\n", &m.newline);
        }
        if g.bang {
            b = replace(&b, b"! ", b" ! ");
        }
        if g.colon {
            b = replace(&b, b": ", b" : ");
        }
        b = replace(&replace(&b, b". ", b" . "), b"? ", b" ? ");
        if std::str::from_utf8(&b).is_err() {
            b = String::from_utf8_lossy(&b).into_owned().into_bytes();
        }
        let mut out = Vec::with_capacity(b.len() / 4);
        bytes_pass::split_py_space(&b, |token| match self.table.get(token) {
            Some(code) => out.extend_from_slice(code),
            None => out.push(self.codes.word),
        });
        out
    }
}

#[pymethods]
impl TextKernel {
    /// Build the kernel from `detector.text`'s token table (token -> code string), placeholder
    /// codes `(W, N, NL, MORE)`, keep-word code range `(lo, hi)` and markers
    /// `(code, url, quote, newline)`.
    #[new]
    fn new(
        table: HashMap<String, String>,
        placeholders: (char, char, char, char),
        keep_range: (char, char),
        markers: (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>),
    ) -> Self {
        let (word, number, newline, more) = placeholders;
        TextKernel {
            table: table
                .into_iter()
                .map(|(k, v)| (k.into_bytes().into(), v.chars().collect()))
                .collect(),
            codes: Codes {
                word,
                number,
                newline,
                more,
                keep_lo: keep_range.0,
                keep_hi: keep_range.1,
            },
            markers: Markers {
                code: markers.0,
                url: markers.1,
                quote: markers.2,
                newline: markers.3,
            },
        }
    }

    /// `(norm, norm_bytes, tokens, codes)` of an already capped and casefolded field, or `None`
    /// when it is not valid UTF-8 (a lone surrogate).
    fn analyse<'py>(&self, py: Python<'py>, folded: &Bound<'py, PyString>) -> Option<Fields<'py>> {
        let text = folded.to_str().ok()?;
        let norm = normalise(text);
        let tokens = self.tokens(text);
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
