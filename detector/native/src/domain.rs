//! The marks `detector.domains.domain_of` decides on: counts of code, maths and digit bytes, and
//! whether a programming-language name (in the first bytes), a code keyword or an option label
//! occurs.
//!
//! The word lists are `detector.domains`'s own, handed over at start-up; the Python reference
//! searches them with `re` patterns `\b(?:w1|w2|...)\b` (bytes: `\w` is ASCII), which this matches
//! by hand: some word, with a word boundary before it and after it. For the language names the
//! text ends at the scan limit, as `pattern.search(b, 0, limit)` makes it.

use pyo3::prelude::*;

use crate::bytes_pass::is_re_word;

/// `\b` at `p` of `b`.
#[inline]
fn boundary(b: &[u8], p: usize) -> bool {
    let before = p > 0 && is_re_word(b[p - 1]);
    let after = p < b.len() && is_re_word(b[p]);
    before != after
}

/// Words grouped by their first byte, so each position is compared with a few words at most.
struct WordSet {
    by_first: Vec<Vec<Vec<u8>>>,
}

impl WordSet {
    fn new(words: Vec<Vec<u8>>) -> Self {
        let mut by_first = vec![Vec::new(); 256];
        for w in words.into_iter().filter(|w| !w.is_empty()) {
            by_first[w[0] as usize].push(w);
        }
        WordSet { by_first }
    }

    /// The words that occur at `p` of `b`.
    #[inline]
    fn at<'a>(&'a self, b: &'a [u8], p: usize) -> impl Iterator<Item = &'a Vec<u8>> + 'a {
        self.by_first[b[p] as usize]
            .iter()
            .filter(move |w| b[p..].starts_with(w))
    }

    /// Whether any word occurs in `b` (SIMD substring search per word).
    fn any_in(&self, b: &[u8]) -> bool {
        self.by_first
            .iter()
            .flatten()
            .any(|w| memchr::memmem::find(b, w).is_some())
    }

    /// Whether a word at `p` (a word boundary of `b`) ends at a word boundary: `\b(?:words)\b`.
    #[inline]
    fn whole_word_at(&self, b: &[u8], p: usize) -> bool {
        self.at(b, p).any(|w| boundary(b, p + w.len()))
    }
}

/// Bits of one count field in the packed per-byte counts (a field holds up to 2**21 - 1).
const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;

/// `detector.domains.Marks` of normalised text.
#[pyclass(frozen, module = "detector_native")]
pub struct DomainMarks {
    languages: WordSet,
    language_scan: usize,
    code_words: WordSet,
    options: WordSet,
    /// per byte: 1 in the code field, the maths field and/or the digit field
    counts: [u64; 256],
}

#[pymethods]
impl DomainMarks {
    /// Word lists (language names, scanned in the first `language_scan` bytes; code keywords;
    /// option-label substrings) and the byte sets counted as code, maths and digits.
    #[new]
    fn new(
        languages: Vec<Vec<u8>>,
        language_scan: usize,
        code_words: Vec<Vec<u8>>,
        options: Vec<Vec<u8>>,
        byte_sets: (Vec<u8>, Vec<u8>, Vec<u8>),
    ) -> PyResult<Self> {
        // marks() looks for whole words at word starts only
        if let Some(w) = languages
            .iter()
            .chain(&code_words)
            .find(|w| !w.first().is_some_and(|&x| is_re_word(x)))
        {
            let shown = String::from_utf8_lossy(w).into_owned();
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "word {shown:?} must start with [A-Za-z0-9_]"
            )));
        }
        let mut counts = [0u64; 256];
        for (field, set) in [&byte_sets.0, &byte_sets.1, &byte_sets.2].into_iter().enumerate() {
            for &x in set.iter() {
                counts[x as usize] |= 1 << (FIELD * field as u32);
            }
        }
        Ok(DomainMarks {
            languages: WordSet::new(languages),
            language_scan,
            code_words: WordSet::new(code_words),
            options: WordSet::new(options),
            counts,
        })
    }

    /// `(code, math, digits, language, code_word, option)` of UTF-8 normalised text (at most
    /// 2**21 - 1 bytes: the analysed text is capped far below that).
    fn marks(&self, b: &[u8]) -> (usize, usize, usize, bool, bool, bool) {
        let packed: u64 = b.iter().map(|&x| self.counts[x as usize]).sum();
        let field = |i: u32| ((packed >> (FIELD * i)) & MASK) as usize;
        let scan = &b[..b.len().min(self.language_scan)];
        let (mut language, mut code_word) = (false, false);
        // every word of both lists starts with a word byte, so `\b` before it is a word start
        for p in (0..b.len()).filter(|&p| is_re_word(b[p]) && (p == 0 || !is_re_word(b[p - 1]))) {
            code_word = code_word || self.code_words.whole_word_at(b, p);
            language = language || (p < scan.len() && self.languages.whole_word_at(scan, p));
            if code_word && (language || p >= scan.len()) {
                break;
            }
        }
        let option = self.options.any_in(b);
        (field(0), field(1), field(2), language, code_word, option)
    }
}
