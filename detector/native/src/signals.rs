//! `detector.signals.text_signals`: the phrase bits of a user turn and NON_ENGLISH.
//!
//! The rules (their bit, anchor gate groups and phrase pattern), the function words and the
//! thresholds are `detector.signals`'s own, handed over at start-up. The gates and the
//! function-word count run here; a rule whose gate opens is searched with its own compiled `re`
//! pattern (the `search` method handed over), so the phrase semantics are Python's by
//! construction. The reference visits anchors in set order and skips a rule whose bit is
//! already set; its result is the union of the bits of the gated rules that match, which is what
//! this computes in rule order.

use std::collections::HashSet;

use crate::features::LazyStr;
use memchr::memmem;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

/// One phrase rule: its bit, one anchor mask per gate group, its pattern's `search`, and the
/// literal every match starts with when the pattern's source shows one (`literal_prefix`).
struct Rule {
    bit: u32,
    gates: Vec<u128>,
    search: Py<PyAny>,
    prefix: Option<memmem::Finder<'static>>,
}

/// The literal text every match of a `re` pattern with source `source` starts with, when the
/// source makes it plain: the run of lower-case ASCII letters, digits and spaces it opens with,
/// followed by nothing or by a group, a class, an escape or `.` (not by a quantifier, which could
/// make the run's last character optional), with no `|` outside groups and classes. The caller
/// rules out the IGNORECASE and VERBOSE flags. `None` otherwise.
fn literal_prefix(source: &str) -> Option<&str> {
    let b = source.as_bytes();
    let n = b
        .iter()
        .take_while(|&&x| x.is_ascii_lowercase() || x.is_ascii_digit() || x == b' ')
        .count();
    if n == 0 || !matches!(b.get(n), None | Some(b'(' | b'[' | b'\\' | b'.')) {
        return None;
    }
    let (mut depth, mut i) = (0i32, 0);
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'[' => {
                // a class ends at the first unescaped `]` after its first member
                i += 1 + (b.get(i + 1) == Some(&b'^')) as usize;
                i += (b.get(i) == Some(&b']')) as usize;
                while i < b.len() && b[i] != b']' {
                    i += 1 + (b[i] == b'\\') as usize;
                }
            }
            b'(' => depth += 1,
            b')' => depth -= 1,
            b'|' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    Some(&source[..n])
}

/// The `literal_prefix` searcher of the pattern whose `search` method is `search`; `None` for a
/// pattern that is not a `str` pattern without IGNORECASE and VERBOSE, or shows no prefix.
fn prefix_of(py: Python<'_>, search: &Py<PyAny>, case_or_verbose: u32) -> Option<memmem::Finder<'static>> {
    let pattern = search.bind(py).getattr("__self__").ok()?;
    let flags: u32 = pattern.getattr("flags").ok()?.extract().ok()?;
    let source: String = pattern.getattr("pattern").ok()?.extract().ok()?;
    if flags & case_or_verbose != 0 {
        return None;
    }
    literal_prefix(&source).map(|p| memmem::Finder::new(p.as_bytes()).into_owned())
}

/// The gated phrase rules, the non-Latin "step by step" pattern and the function-word test.
#[pyclass(frozen, module = "detector_native")]
pub struct TextSignals {
    rules: Vec<Rule>,
    /// anchor code `anchor_base + i` -> 1 + its bit in the anchor mask at `i` (0: not an anchor)
    anchors: Vec<u8>,
    anchor_base: u32,
    intl_search: Py<PyAny>,
    foreign: HashSet<String>,
    english: HashSet<String>,
    /// (fewest tokens, content share) below which a text is not tested for another language
    foreign_min: (usize, f64),
    content_code: char,
    /// (COT, NON_ENGLISH)
    bits: (u32, u32),
    /// (LATIN, NONE) script values
    latin: (u8, u8),
}

impl TextSignals {
    /// `detector.signals._latin_non_english`.
    fn latin_non_english(&self, norm: &str, tokens: &[char]) -> bool {
        let n = tokens.len();
        let content = tokens.iter().filter(|&&c| c == self.content_code).count();
        if n < self.foreign_min.0 || (content as f64) < self.foreign_min.1 * n as f64 {
            return false;
        }
        // `_FUNCTION_WORD_RE.findall(f" {norm} ")`: one hit per space-separated word of either list
        let (mut foreign, mut hits) = (0usize, 0usize);
        for word in norm.split(' ') {
            if self.foreign.contains(word) {
                foreign += 1;
                hits += 1;
            } else if self.english.contains(word) {
                hits += 1;
            }
        }
        foreign >= 2 && 2 * foreign > hits
    }

    /// The `detector.signals.text_signals` bits of normalised text `norm` (its Python string is
    /// built only for a pattern's `search`), its token codes and its script. Fails only if a
    /// pattern's `search` raises.
    pub fn flags(&self, norm_text: &LazyStr<'_>, tokens: &[char], script: u8) -> PyResult<u32> {
        let (cot, non_english) = self.bits;
        let norm = norm_text.text();
        let found = |search: &Py<PyAny>| -> PyResult<bool> {
            let text = norm_text.object();
            Ok(!search.bind(text.py()).call1((text,))?.is_none())
        };
        let mut flags = 0;
        if script != self.latin.0 && script != self.latin.1 {
            flags |= non_english;
            if found(&self.intl_search)? {
                flags |= cot;
            }
        } else if self.latin_non_english(norm, tokens) {
            flags |= non_english;
        }
        let present = tokens
            .iter()
            .filter_map(|&c| self.anchors.get((c as u32).wrapping_sub(self.anchor_base) as usize))
            .fold(0u128, |mask, &bit| if bit == 0 { mask } else { mask | 1 << (bit - 1) });
        if present == 0 {
            return Ok(flags);
        }
        // a rule whose literal prefix is absent cannot match: its search is not called
        for rule in &self.rules {
            if flags & rule.bit == 0
                && rule.gates.iter().all(|&g| g & present != 0)
                && rule.prefix.as_ref().is_none_or(|p| p.find(norm.as_bytes()).is_some())
                && found(&rule.search)?
            {
                flags |= rule.bit;
            }
        }
        Ok(flags)
    }
}

#[pymethods]
impl TextSignals {
    /// `rules`: (bit, gate groups of anchor codes, the phrase pattern's `search`), in family
    /// order; `intl_search`: the non-Latin "step by step" pattern's `search`; `words`: (foreign,
    /// English) function words; `foreign_min`: (fewest tokens, content share); `content_code`:
    /// the token code of a content word; `bits`: (COT, NON_ENGLISH); `latin`: (LATIN, NONE).
    #[new]
    #[allow(clippy::too_many_arguments)] // one argument per table handed over by detector.signals
    fn new(
        py: Python<'_>,
        rules: Vec<(u32, Vec<Vec<String>>, Py<PyAny>)>,
        intl_search: Py<PyAny>,
        words: (Vec<String>, Vec<String>),
        foreign_min: (usize, f64),
        content_code: char,
        bits: (u32, u32),
        latin: (u8, u8),
    ) -> PyResult<Self> {
        let re = py.import("re")?;
        let case_or_verbose: u32 =
            re.getattr("IGNORECASE")?.extract::<u32>()? | re.getattr("VERBOSE")?.extract::<u32>()?;
        let mut anchors: FxHashMap<char, u32> = FxHashMap::default();
        let mut compiled = Vec::with_capacity(rules.len());
        for (bit, groups, search) in rules {
            let mut gates = Vec::with_capacity(groups.len());
            for group in groups {
                let mut mask = 0u128;
                for code in group {
                    let mut chars = code.chars();
                    let (Some(c), None) = (chars.next(), chars.next()) else {
                        return Err(pyo3::exceptions::PyValueError::new_err(format!(
                            "anchor code {code:?} is not one character"
                        )));
                    };
                    let next = anchors.len() as u32;
                    let i = *anchors.entry(c).or_insert(next);
                    if i >= 128 {
                        return Err(pyo3::exceptions::PyValueError::new_err("more than 128 anchor codes"));
                    }
                    mask |= 1 << i;
                }
                gates.push(mask);
            }
            let prefix = prefix_of(py, &search, case_or_verbose);
            compiled.push(Rule {
                bit,
                gates,
                search,
                prefix,
            });
        }
        let anchor_base = anchors.keys().map(|&c| c as u32).min().unwrap_or(0);
        let top = anchors.keys().map(|&c| c as u32 - anchor_base + 1).max().unwrap_or(0);
        let mut table = vec![0u8; top as usize];
        for (&c, &bit) in &anchors {
            table[(c as u32 - anchor_base) as usize] = bit as u8 + 1;
        }
        Ok(TextSignals {
            rules: compiled,
            anchors: table,
            anchor_base,
            intl_search,
            foreign: words.0.into_iter().collect(),
            english: words.1.into_iter().collect(),
            foreign_min,
            content_code,
            bits,
            latin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::literal_prefix;

    #[test]
    fn literal_prefix_only_when_every_match_starts_with_it() {
        assert_eq!(literal_prefix("thought process"), Some("thought process"));
        assert_eq!(literal_prefix("arriv(?:es|e) at"), Some("arriv"));
        assert_eq!(literal_prefix("chain[- ]of"), Some("chain"));
        assert_eq!(literal_prefix("scale (?:of|from) [0-9]+"), Some("scale "));
        assert_eq!(literal_prefix(r"step(?:[|] x|y)\b"), Some("step"));
        // a quantifier on the run's last character, a top-level alternative, no leading literal
        assert_eq!(literal_prefix("backwards? from"), None);
        assert_eq!(literal_prefix("requirements ?:"), None);
        assert_eq!(literal_prefix("a{2}b"), None);
        assert_eq!(literal_prefix("show your work|show the working"), None);
        assert_eq!(literal_prefix(r"paso[|]a|b"), None);
        assert_eq!(literal_prefix(r"x\|y|z"), None);
        assert_eq!(literal_prefix("(?:act as|you are) judge"), None);
        assert_eq!(literal_prefix("here's"), None);
    }
}
