//! `detector.text.dominant_script`: the writing system with the most letters at the head of a text.
//!
//! The lead-byte class table, the sample length, the weight of wide characters and the `Script`
//! values come from `detector.text`; the counting follows the reference step by step, including
//! its tie rule (the first script in the reference's order wins).

use std::collections::HashMap;

use pyo3::prelude::*;

/// The `Script` values the reference returns, by name.
struct Values {
    none: u8,
    latin: u8,
    /// in the reference's dict order: Latin, Cyrillic, Greek, Arabic, Hebrew, Hangul, Other
    ordered: [u8; 7],
    devanagari: u8,
    thai: u8,
    cjk: u8,
    kana: u8,
}

/// `_SCRIPT_TABLE` (UTF-8 lead byte -> class letter), `_SCRIPT_SAMPLE_CHARS`, `_WIDE_WEIGHT`.
pub struct ScriptTable {
    classes: [u8; 256],
    sample: usize,
    wide: u32,
    values: Values,
}

/// The class letters counted for the `Values::ordered` scripts (Hangul weighs `wide`).
const ORDERED_CLASSES: [u8; 7] = *b"LCGAHUO";

impl ScriptTable {
    pub fn new(table: Vec<u8>, sample: usize, wide: u32, names: &HashMap<String, u8>) -> PyResult<Self> {
        let value = |name: &str| {
            names
                .get(name)
                .copied()
                .ok_or_else(|| pyo3::exceptions::PyValueError::new_err(format!("no Script {name}")))
        };
        let classes: [u8; 256] = table
            .try_into()
            .map_err(|_| pyo3::exceptions::PyValueError::new_err("the script table has 256 entries"))?;
        let mut ordered = [0u8; 7];
        for (slot, name) in ordered
            .iter_mut()
            .zip(["LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "HANGUL", "OTHER"])
        {
            *slot = value(name)?;
        }
        Ok(ScriptTable {
            classes,
            sample,
            wide,
            values: Values {
                none: value("NONE")?,
                latin: value("LATIN")?,
                ordered,
                devanagari: value("DEVANAGARI")?,
                thai: value("THAI")?,
                cjk: value("CJK")?,
                kana: value("KANA")?,
            },
        })
    }

    /// The `Script` value of `text` (see `detector.text.dominant_script`).
    pub fn dominant(&self, text: &str) -> u8 {
        let v = &self.values;
        // the first `sample` characters: as many bytes when those are ASCII
        let end = if text.len() <= self.sample {
            text.len()
        } else if text.as_bytes()[..self.sample].is_ascii() {
            self.sample
        } else {
            text.char_indices().nth(self.sample).map_or(text.len(), |(i, _)| i)
        };
        let raw = &text.as_bytes()[..end];
        if raw.is_ascii() {
            return if raw.iter().any(u8::is_ascii_alphabetic) {
                v.latin
            } else {
                v.none
            };
        }
        let mut by_class = [0u32; 256];
        // second bytes after the lead bytes 0xE0 (U+0800-0FFF) and 0xE3 (U+3000-3FFF)
        let (mut deva, mut thai, mut kana) = (0u32, 0u32, 0u32);
        for (i, &x) in raw.iter().enumerate() {
            by_class[self.classes[x as usize] as usize] += 1;
            match (x, raw.get(i + 1)) {
                (0xe0, Some(0xa4 | 0xa5)) => deva += 1,
                (0xe0, Some(0xb8 | 0xb9)) => thai += 1,
                (0xe3, Some(0x81..=0x83)) => kana += 1,
                _ => {}
            }
        }
        let count = |class: u8| by_class[class as usize];
        let mut counts: Vec<(u8, u32)> = ORDERED_CLASSES
            .iter()
            .zip(v.ordered)
            .map(|(&class, script)| (script, count(class) * if class == b'U' { self.wide } else { 1 }))
            .collect();
        // the reference adds these only when the text has such a lead byte: else they are 0, and
        // a 0 neither wins nor breaks a tie that decides anything
        counts.push((v.devanagari, deva));
        counts.push((v.thai, thai));
        counts[6].1 += count(b'E') - deva - thai;
        let wide = kana + count(b'J');
        let script = if 5 * kana >= wide && wide > 0 { v.kana } else { v.cjk };
        counts.push((script, wide * self.wide));
        // max() of the reference's dict: the first of the largest counts
        let (best, n) = counts
            .into_iter()
            .fold((v.none, 0), |best, c| if c.1 > best.1 { c } else { best });
        if n > 0 {
            best
        } else {
            v.none
        }
    }
}
