//! The marks `detector.domains.domain_of` decides on: counts of code, maths and digit bytes, and
//! whether a programming-language name (in the first bytes), a code keyword or an option label
//! occurs.
//!
//! The word lists are `detector.domains`'s own, handed over at start-up; the Python reference
//! searches them with `re` patterns `\b(?:w1|w2|...)\b` (bytes: `\w` is ASCII), which this matches
//! by hand: some word, with a word boundary before it and after it. For the language names the
//! text ends at the scan limit, as `pattern.search(b, 0, limit)` makes it.

use pyo3::prelude::*;

/// Python bytes-pattern `\w`.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `\b` at `p` of `b`.
#[inline]
fn boundary(b: &[u8], p: usize) -> bool {
    let before = p > 0 && is_word(b[p - 1]);
    let after = p < b.len() && is_word(b[p]);
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

    /// Whether `\b(?:words)\b` matches somewhere in `b`.
    fn whole_word_in(&self, b: &[u8]) -> bool {
        (0..b.len()).any(|p| boundary(b, p) && self.at(b, p).any(|w| boundary(b, p + w.len())))
    }

    /// Whether any word occurs in `b`.
    fn substring_in(&self, b: &[u8]) -> bool {
        (0..b.len()).any(|p| self.at(b, p).next().is_some())
    }
}

fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    for &x in bytes {
        set[x as usize] = true;
    }
    set
}

/// `detector.domains.Marks` of normalised text.
#[pyclass(frozen, module = "detector_native")]
pub struct DomainMarks {
    languages: WordSet,
    language_scan: usize,
    code_words: WordSet,
    options: WordSet,
    code: [bool; 256],
    math: [bool; 256],
    digit: [bool; 256],
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
    ) -> Self {
        DomainMarks {
            languages: WordSet::new(languages),
            language_scan,
            code_words: WordSet::new(code_words),
            options: WordSet::new(options),
            code: byte_set(&byte_sets.0),
            math: byte_set(&byte_sets.1),
            digit: byte_set(&byte_sets.2),
        }
    }

    /// `(code, math, digits, language, code_word, option)` of UTF-8 normalised text.
    fn marks(&self, b: &[u8]) -> (usize, usize, usize, bool, bool, bool) {
        let (mut code, mut math, mut digits) = (0, 0, 0);
        for &x in b {
            code += self.code[x as usize] as usize;
            math += self.math[x as usize] as usize;
            digits += self.digit[x as usize] as usize;
        }
        let scan = &b[..b.len().min(self.language_scan)];
        let (language, code_word) = (self.languages.whole_word_in(scan), self.code_words.whole_word_in(b));
        (code, math, digits, language, code_word, self.options.substring_in(b))
    }
}
