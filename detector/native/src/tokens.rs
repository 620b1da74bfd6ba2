//! `detector.text._tokens`: the masking passes and the token-code lookup of one casefolded field.
//!
//! Pure Rust (no Python objects), so it can be measured and tested on its own.

use rustc_hash::FxHashMap;

use crate::bytes_pass::{
    self, code_at, email_at, next_code, next_email, next_quote, next_url, quote_at, space_marks, sub, url_at,
    OPEN_QUOTES,
};

/// Marker byte strings written into the text before tokenising (`_M_CODE`, `_M_URL`, `_M_QUOTE`,
/// `_M_NL` in `detector/text.py`).
pub struct Markers {
    pub code: Vec<u8>,
    pub url: Vec<u8>,
    pub quote: Vec<u8>,
    pub newline: Vec<u8>,
}

/// Token table (token bytes -> its code chars), the code of every other word, and the markers.
pub struct Tokenizer {
    pub table: FxHashMap<Box<[u8]>, Box<[char]>>,
    pub word: char,
    pub markers: Markers,
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

const BACKTICK: u8 = 1;
const AT: u8 = 2;
const COLON: u8 = 4;
const SLASH: u8 = 8;
const DQUOTE: u8 = 16;
const SQUOTE: u8 = 32;
const NON_ASCII: u8 = 64;

/// The bit of each gate byte `_tokens` tests for.
const GATE_BITS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0x80;
    while i < 256 {
        t[i] = NON_ASCII;
        i += 1;
    }
    t[b'`' as usize] = BACKTICK;
    t[b'@' as usize] = AT;
    t[b':' as usize] = COLON;
    t[b'/' as usize] = SLASH;
    t[b'"' as usize] = DQUOTE;
    t[b'\'' as usize] = SQUOTE;
    t
};

/// What `raw.translate(None, _GATE_DELETE)` contains, for the tests `_tokens` makes on it.
struct Gate {
    bits: u8,
    /// `b":/" in gate`: a colon directly followed by a slash once the other ASCII bytes are gone
    colon_slash: bool,
}

impl Gate {
    fn of(b: &[u8]) -> Gate {
        let bits = b.iter().fold(0u8, |acc, &x| acc | GATE_BITS[x as usize]);
        let colon_slash = bits & (COLON | SLASH) == COLON | SLASH && {
            let mut gate = b.iter().copied().filter(|&x| in_gate(x));
            let mut prev = 0u8;
            gate.any(|x| std::mem::replace(&mut prev, x) == b':' && x == b'/')
        };
        Gate { bits, colon_slash }
    }

    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }
}

impl Tokenizer {
    pub fn tokens(&self, folded: &str) -> Vec<char> {
        let mut b: Vec<u8> = folded.bytes().map(|x| TRANSLATE[x as usize]).collect();
        b.push(b' ');
        let g = Gate::of(&b);
        let m = &self.markers;
        if g.has(BACKTICK) {
            b = sub(&b, &m.code, code_at, next_code);
        }
        if g.colon_slash {
            b = sub(&b, &m.url, url_at, next_url);
        }
        if g.has(AT) {
            b = sub(&b, &m.url, email_at, next_email);
        }
        let quotes = g.has(DQUOTE)
            || (g.has(SQUOTE) && (bytes_pass::find(&b, b" '").is_some() || b.first() == Some(&b'\'')))
            || (g.has(NON_ASCII) && OPEN_QUOTES.iter().any(|q| bytes_pass::find(&b, q).is_some()));
        if quotes {
            b = sub(&b, &m.quote, quote_at, next_quote);
        }
        // the line-break, "! ", ": ", ". " and "? " passes (a mark absent from the gate is absent)
        b = space_marks(&b, &m.newline);
        if std::str::from_utf8(&b).is_err() {
            b = String::from_utf8_lossy(&b).into_owned().into_bytes();
        }
        let mut out = Vec::with_capacity(b.len() / 4);
        bytes_pass::split_py_space(&b, |token| match self.table.get(token) {
            Some(code) => out.extend_from_slice(code),
            None => out.push(self.word),
        });
        out
    }
}
