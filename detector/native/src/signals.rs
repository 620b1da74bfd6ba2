//! `detector.signals.text_signals`: the phrase bits of a user turn and NON_ENGLISH.
//!
//! The rules (their bit, anchor gate groups and phrase pattern), the function words and the
//! thresholds are `detector.signals`'s own, handed over at start-up. The gates and the
//! function-word count run here; a rule whose gate opens is searched with its own compiled `re`
//! pattern (the `search` method handed over), so the phrase semantics are Python's by
//! construction. Where a pattern's source shows the literals every match starts with, the places
//! they occur are found here (SIMD substring search) and the pattern's `match` is called only at
//! those places: a pattern opening with `(?:generate|create|...)` was scanned by `re` at every
//! character that starts one of its words. The reference visits anchors in set order and skips a rule whose bit is
//! already set; its result is the union of the bits of the gated rules that match, which is what
//! this computes in rule order.

use std::collections::HashSet;

use crate::features::LazyStr;
use memchr::memmem;
use pyo3::prelude::*;
use rustc_hash::FxHashMap;

/// One phrase rule: its bit, one anchor mask per gate group, its pattern's `search`, and, when
/// the pattern's source shows the literals every match starts with (`literal_starts`), a finder
/// for each and the pattern's `match`.
struct Rule {
    bit: u32,
    gates: Vec<u128>,
    search: Py<PyAny>,
    starts: Option<Starts>,
}

/// The literals a rule's every match starts with, and its pattern's `match`.
struct Starts {
    finders: Vec<memmem::Finder<'static>>,
    matcher: Py<PyAny>,
}

/// At most this many `match` calls at the start literals' places before one `search` from the next.
const MATCHES_BEFORE_SEARCH: usize = 4;

impl Starts {
    /// Whether the pattern matches the normalised text `norm`: `false` when no start literal
    /// occurs (the text's Python string is then never built), else `match` at each place one
    /// starts, in order, the first [`MATCHES_BEFORE_SEARCH`] of them, then `search` from the next.
    /// `search` tries every place in order and `match(text, pos)` and `search(text, pos)` see the
    /// text before `pos` as `search` does, so the answer is `search`'s; the places between are
    /// never tried.
    fn found(&self, norm: &LazyStr<'_>, search: &Py<PyAny>) -> PyResult<bool> {
        let utf8 = norm.text();
        let mut places: Vec<usize> = self.finders.iter().flat_map(|f| f.find_iter(utf8.as_bytes())).collect();
        if places.is_empty() {
            return Ok(false);
        }
        places.sort_unstable();
        places.dedup();
        let text = norm.object();
        let py = text.py();
        let ascii = utf8.is_ascii();
        let (mut byte, mut chars) = (0usize, 0usize); // the code points before byte offset `byte`
        for (i, &place) in places.iter().enumerate() {
            if !ascii {
                chars += utf8[byte..place].chars().count();
                byte = place;
            }
            let pos = if ascii { place } else { chars };
            if i == MATCHES_BEFORE_SEARCH {
                return Ok(!search.bind(py).call1((text, pos))?.is_none());
            }
            if !self.matcher.bind(py).call1((text, pos))?.is_none() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The length of the run of plain characters (none of `.^$*+?{}[]\|()`) `b` opens with, when
/// what follows it cannot make its last character optional: nothing, a group, a class, an escape
/// or `.` -- or, for an alternative of a group (`in_group`), only the group's `|` or `)`.
fn literal_run(b: &[u8], in_group: bool) -> Option<usize> {
    let n = b.iter().take_while(|&&x| !b".^$*+?{}[]\\|()".contains(&x)).count();
    let ends = match b.get(n) {
        Some(b'|' | b')') => in_group,
        None | Some(b'(' | b'[' | b'\\' | b'.') => !in_group,
        _ => false,
    };
    (n > 0 && ends).then_some(n)
}

/// The top-level alternatives of a `re` pattern's source: split at each `|` outside groups and
/// classes.
fn alternatives(source: &str) -> Vec<&str> {
    let b = source.as_bytes();
    let (mut out, mut from, mut depth, mut i) = (Vec::new(), 0, 0i32, 0);
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
            b'|' if depth == 0 => {
                out.push(&source[from..i]);
                from = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&source[from..]);
    out
}

/// The literals every match of one alternative starts with: the literal run it opens with (see
/// [`literal_run`]), or the runs of a non-capturing group of nothing but literal runs `(?:a|b|c)`
/// it opens with, when no quantifier follows the group.
fn alternative_starts(alt: &str) -> Option<Vec<&str>> {
    let b = alt.as_bytes();
    if !alt.starts_with("(?:") {
        return Some(vec![&alt[..literal_run(b, false)?]]);
    }
    let (mut out, mut at) = (Vec::new(), 3);
    loop {
        let n = literal_run(&b[at..], true)?;
        out.push(&alt[at..at + n]);
        at += n;
        match b.get(at) {
            Some(b'|') => at += 1,
            Some(b')') => break,
            _ => return None,
        }
    }
    (!matches!(b.get(at + 1), Some(b'?' | b'*' | b'+' | b'{'))).then_some(out)
}

/// The literals every match of a `re` pattern with source `source` starts with, when the source
/// makes them plain: each top-level alternative opens with a literal run or a group of them (see
/// [`alternative_starts`]). The caller rules out the IGNORECASE and VERBOSE flags. `None`
/// otherwise.
fn literal_starts(source: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    for alt in alternatives(source) {
        out.extend(alternative_starts(alt)?);
    }
    Some(out)
}

/// The [`Starts`] of the pattern whose `search` method is `search`; `None` for a pattern that is
/// not a `str` pattern without IGNORECASE and VERBOSE, or shows no start literals.
fn starts_of(py: Python<'_>, search: &Py<PyAny>, case_or_verbose: u32) -> Option<Starts> {
    let pattern = search.bind(py).getattr("__self__").ok()?;
    let flags: u32 = pattern.getattr("flags").ok()?.extract().ok()?;
    let source: String = pattern.getattr("pattern").ok()?.extract().ok()?;
    if flags & case_or_verbose != 0 {
        return None;
    }
    let finders = literal_starts(&source)?
        .into_iter()
        .map(|p| memmem::Finder::new(p.as_bytes()).into_owned())
        .collect();
    Some(Starts {
        finders,
        matcher: pattern.getattr("match").ok()?.unbind(),
    })
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
        for rule in &self.rules {
            if flags & rule.bit == 0
                && rule.gates.iter().all(|&g| g & present != 0)
                && match &rule.starts {
                    Some(starts) => starts.found(norm_text, &rule.search)?,
                    None => found(&rule.search)?,
                }
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
            let starts = starts_of(py, &search, case_or_verbose);
            compiled.push(Rule {
                bit,
                gates,
                search,
                starts,
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
    use super::literal_starts;

    #[test]
    fn start_literals_only_when_every_match_starts_with_one() {
        let one = |s| literal_starts(s).map(|v| v.concat());
        assert_eq!(one("thought process"), Some("thought process".into()));
        assert_eq!(one("arriv(?:es|e) at"), Some("arriv".into()));
        assert_eq!(one("chain[- ]of"), Some("chain".into()));
        assert_eq!(one("scale (?:of|from) [0-9]+"), Some("scale ".into()));
        assert_eq!(one(r"step(?:[|] x|y)\b"), Some("step".into()));
        assert_eq!(
            literal_starts("(?:act as|you are) judge"),
            Some(vec!["act as", "you are"])
        );
        assert_eq!(
            literal_starts("(?:give me|list|a) [0-9]"),
            Some(vec!["give me", "list", "a"])
        );
        // a quantifier on a run's last character or on the group, an empty or nested
        // alternative, an alternative with no leading literal
        assert_eq!(literal_starts("backwards? from"), None);
        assert_eq!(literal_starts("requirements ?:"), None);
        assert_eq!(literal_starts("a{2}b"), None);
        assert_eq!(
            literal_starts("show your work|show the (?:working|steps)"),
            Some(vec!["show your work", "show the "])
        );
        assert_eq!(literal_starts("a|b(?:c|d)|(?:e|f)g"), Some(vec!["a", "b", "e", "f"]));
        assert_eq!(literal_starts(r"paso[|]a|b"), Some(vec!["paso", "b"]));
        assert_eq!(literal_starts(r"x\|y|z"), Some(vec!["x", "z"]));
        assert_eq!(literal_starts(r"paso a paso|[ée]tape"), None);
        assert_eq!(literal_starts("a|b?"), None);
        assert_eq!(literal_starts("a|"), None);
        assert_eq!(literal_starts("(?:act as|you are)? judge"), None);
        assert_eq!(literal_starts("(?:act as|you ares?) judge"), None);
        assert_eq!(literal_starts("(?:act as|) judge"), None);
        assert_eq!(literal_starts("(?:a(?:b|c)|d) e"), None);
        assert_eq!(literal_starts(r"(?:list\b|d) e"), None);
        assert_eq!(literal_starts("(a|b) c"), None);
        assert_eq!(
            literal_starts("here's|here’s (?:a|the)"),
            Some(vec!["here's", "here’s "])
        );
        assert_eq!(literal_starts("here's?"), None);
    }
}
