//! The marks `detector.domains.domain_of` decides on: counts of code, maths and digit bytes, and
//! whether a programming-language name (in the first bytes), a code keyword or an option label
//! occurs; and the decision itself (`DomainMarks::domain`), in the reference's order of tests.
//!
//! The word lists are `detector.domains`'s own, handed over at start-up; the Python reference
//! searches them with `re` patterns `\b(?:w1|w2|...)\b` (bytes: `\w` is ASCII), which this matches
//! by hand: some word, with a word boundary before it and after it. For the language names the
//! text ends at the scan limit, as `pattern.search(b, 0, limit)` makes it.

use std::collections::HashMap;

use memchr::memmem;
use pyo3::prelude::*;

use crate::bytes_pass::{is_re_word, mask64};

/// `\b` at `p` of `b`.
#[inline]
fn boundary(b: &[u8], p: usize) -> bool {
    let before = p > 0 && is_re_word(b[p - 1]);
    let after = p < b.len() && is_re_word(b[p]);
    before != after
}

/// The first (up to) eight bytes of `b` from `p`, little-endian, zero-padded.
#[inline]
fn head(b: &[u8], p: usize) -> u64 {
    if let Some(eight) = b.get(p..p + 8) {
        return u64::from_le_bytes(eight.try_into().expect("eight bytes"));
    }
    let mut x = [0u8; 8];
    let n = b.len() - p;
    x[..n].copy_from_slice(&b[p..]);
    u64::from_le_bytes(x)
}

/// The index of the two bytes at `p` of `b` (a zero byte past the end) in `WordSet::pairs`.
#[inline]
fn pair(b: &[u8], p: usize) -> usize {
    b[p] as usize | (b.get(p + 1).copied().unwrap_or(0) as usize) << 8
}

/// One word: its first eight bytes as `head` reads them, the mask of those it has, and all of it.
struct Word {
    head: u64,
    mask: u64,
    bytes: Vec<u8>,
}

impl Word {
    /// Whether the word occurs at `p` of `b`, whose first eight bytes from `p` are `at`.
    #[inline]
    fn at(&self, b: &[u8], p: usize, at: u64) -> bool {
        at & self.mask == self.head && (self.bytes.len() <= 8 || b[p..].starts_with(&self.bytes))
    }
}

/// Words grouped by their first byte, so each position is compared with a few words at most
/// (one masked compare of eight bytes each).
struct WordSet {
    by_first: Vec<Vec<Word>>,
    /// one substring searcher per word, for `any_in`
    finders: Vec<memmem::Finder<'static>>,
    /// bit set of the first two bytes of the words (every second byte for a one-byte word)
    pairs: Vec<u64>,
}

impl WordSet {
    fn new(words: Vec<Vec<u8>>) -> Self {
        let mut by_first: Vec<Vec<Word>> = (0..256).map(|_| Vec::new()).collect();
        let mut pairs = vec![0u64; (1 << 16) / 64];
        let mut finders = Vec::new();
        for w in words.into_iter().filter(|w| !w.is_empty()) {
            finders.push(memmem::Finder::new(&w).into_owned());
            let seconds = match w.get(1) {
                Some(&x) => x as usize..x as usize + 1,
                None => 0..256,
            };
            for second in seconds {
                let i = w[0] as usize | second << 8;
                pairs[i / 64] |= 1 << (i % 64);
            }
            let n = w.len().min(8);
            by_first[w[0] as usize].push(Word {
                head: head(&w, 0),
                mask: if n == 8 { u64::MAX } else { (1 << (8 * n)) - 1 },
                bytes: w,
            });
        }
        WordSet {
            by_first,
            finders,
            pairs,
        }
    }

    /// Whether any word occurs in `b` (SIMD substring search per word).
    fn any_in(&self, b: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(b).is_some())
    }

    /// Whether some word occurs in `b` as a whole word: `\b(?:words)\b`. Every word starts with a
    /// word byte, so `\b` before it is a word start; the starts of each 64-byte chunk come from a
    /// bit mask, and only those whose first two bytes begin some word are compared.
    fn any_whole_word(&self, b: &[u8]) -> bool {
        let mut prev_word = 0u64;
        for (i, chunk) in b.chunks(64).enumerate() {
            let words = mask64(chunk, is_re_word);
            let mut starts = words & !(words << 1 | prev_word);
            prev_word = words >> (chunk.len() - 1) & 1;
            while starts != 0 {
                let p = 64 * i + starts.trailing_zeros() as usize;
                starts &= starts - 1;
                let two = pair(b, p);
                if self.pairs[two / 64] >> (two % 64) & 1 != 0 && self.whole_word_at(b, p) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether a word at `p` (a word boundary of `b`) ends at a word boundary: `\b(?:words)\b`.
    #[inline]
    fn whole_word_at(&self, b: &[u8], p: usize) -> bool {
        let at = head(b, p);
        self.by_first[b[p] as usize]
            .iter()
            .any(|w| p + w.bytes.len() <= b.len() && w.at(b, p, at) && boundary(b, p + w.bytes.len()))
    }
}

/// Bits of one count field in the packed per-byte counts (a field holds up to 2**21 - 1).
const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;

/// What `domain_of` reads besides the marks: the token codes of a code span and of a number,
/// the document and chat lengths, and the `Domain` values.
struct Decision {
    code_token: char,
    number_token: char,
    document_chars: usize,
    chat_chars: usize,
    /// NONE, CODE, CHOICE, MATH, TOOL, DOCUMENT, CHAT, PROSE
    values: [u8; 8],
}

/// `detector.domains.Marks` of normalised text.
#[pyclass(frozen, module = "detector_native")]
pub struct DomainMarks {
    decision: Decision,
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
    /// option-label substrings), the byte sets counted as code, maths and digits, and the
    /// decision's `(code token, number token, document chars, chat chars, Domain name -> value)`.
    #[new]
    fn new(
        languages: Vec<Vec<u8>>,
        language_scan: usize,
        code_words: Vec<Vec<u8>>,
        options: Vec<Vec<u8>>,
        byte_sets: (Vec<u8>, Vec<u8>, Vec<u8>),
        decision: (char, char, usize, usize, HashMap<String, u8>),
    ) -> PyResult<Self> {
        let mut values = [0u8; 8];
        for (slot, name) in values
            .iter_mut()
            .zip(["NONE", "CODE", "CHOICE", "MATH", "TOOL", "DOCUMENT", "CHAT", "PROSE"])
        {
            *slot = *decision
                .4
                .get(name)
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("no Domain {name}")))?;
        }
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
            decision: Decision {
                code_token: decision.0,
                number_token: decision.1,
                document_chars: decision.2,
                chat_chars: decision.3,
                values,
            },
            languages: WordSet::new(languages),
            language_scan,
            code_words: WordSet::new(code_words),
            options: WordSet::new(options),
            counts,
        })
    }

    /// `(code, math, digits, language, code_word, option)` of UTF-8 normalised text (at most
    /// 2**21 - 1 bytes: the analysed text is capped far below that).
    pub fn marks(&self, b: &[u8]) -> (usize, usize, usize, bool, bool, bool) {
        let (code, math, digits) = self.counts(b);
        (
            code,
            math,
            digits,
            self.language(b),
            self.code_words.any_whole_word(b),
            self.options.any_in(b),
        )
    }
}

impl DomainMarks {
    /// The code, maths and digit byte counts of `b` (at most 2**21 - 1 bytes).
    fn counts(&self, b: &[u8]) -> (usize, usize, usize) {
        let packed: u64 = b.iter().map(|&x| self.counts[x as usize]).sum();
        let field = |i: u32| ((packed >> (FIELD * i)) & MASK) as usize;
        (field(0), field(1), field(2))
    }

    /// Whether a language name occurs in `b` up to the scan limit, where the text ends for it.
    fn language(&self, b: &[u8]) -> bool {
        self.languages.any_whole_word(&b[..b.len().min(self.language_scan)])
    }

    /// `detector.domains.domain_of` of a user turn: its normalised text `b`, token codes, whether
    /// it uses tools, and its full length in characters.
    pub fn domain(&self, b: &[u8], tokens: &[char], tools: bool, chars: usize) -> u8 {
        let d = &self.decision;
        let [none, code, choice, math, tool, document, chat, prose] = d.values;
        if tools {
            return tool;
        }
        if b.is_empty() {
            return none;
        }
        // the marks in the reference's order, each searched only when the decision reads it
        let size = b.len();
        if tokens.contains(&d.code_token) {
            return code;
        }
        let (code_bytes, math_bytes, digits) = self.counts(b);
        if (code_bytes >= 6 && code_bytes * 25 >= size)
            || self.language(b)
            || (code_bytes >= 2 && self.code_words.any_whole_word(b))
        {
            return code;
        }
        if self.options.any_in(b) {
            return choice;
        }
        let numbers = tokens.iter().filter(|&&c| c == d.number_token).count();
        if numbers >= 2 && (numbers >= 4 || math_bytes >= 1 || digits * 40 >= size) {
            return math;
        }
        if chars >= d.document_chars {
            document
        } else if chars <= d.chat_chars {
            chat
        } else {
            prose
        }
    }
}
