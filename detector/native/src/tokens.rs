//! `detector.text._tokens`: the masking passes and the token-code lookup of one casefolded field.
//!
//! Pure Rust (no Python objects), so it can be measured and tested on its own.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use crate::bytes_pass::{
    self, code_at, email_at, next_code, next_email, next_quote, next_url, positions, quote_at, space_marks, sub,
    url_at, OPEN_QUOTES,
};

/// Marker byte strings written into the text before tokenising (`_M_CODE`, `_M_URL`, `_M_QUOTE`,
/// `_M_NL` in `detector/text.py`).
pub struct Markers {
    pub code: Vec<u8>,
    pub url: Vec<u8>,
    pub quote: Vec<u8>,
    pub newline: Vec<u8>,
}

/// Bytes of a key held inline: tokens up to this long are looked up by three words.
const SHORT: usize = 24;

/// A token of at most `SHORT` bytes, zero-padded, as three little-endian words. Tokens hold no
/// zero byte (`translate` blanks control bytes), so the padding cannot make two tokens equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u64, u64, u64);

impl Key {
    /// The key of `b[r]` (`r.len() <= SHORT`), read from `b` padded with `SHORT` bytes after
    /// the text: three loads and masks, no copy.
    #[inline]
    fn at(b: &[u8], r: std::ops::Range<usize>) -> Key {
        let n = r.len();
        let word = |k: usize| {
            let w = u64::from_le_bytes(b[r.start + 8 * k..r.start + 8 * k + 8].try_into().expect("eight bytes"));
            match n.saturating_sub(8 * k) {
                0 => 0,
                m if m >= 8 => w,
                m => w & ((1 << (8 * m)) - 1),
            }
        };
        Key(word(0), word(1), word(2))
    }

    fn of(token: &[u8]) -> Key {
        let mut padded = token.to_vec();
        padded.resize(token.len() + SHORT, 0);
        Key::at(&padded, 0..token.len())
    }
}

/// Token table (token bytes -> its code chars), the code of every other word, and the markers.
pub struct Tokenizer {
    /// tokens of at most `SHORT` bytes -> (start, length) of their code in `codes`
    short: FxHashMap<Key, (u32, u32)>,
    /// longer tokens -> the same
    long: FxHashMap<Box<[u8]>, (u32, u32)>,
    codes: Vec<char>,
    word: char,
    markers: Markers,
}

/// `_BYTE_TABLE`: digits -> '0'; control bytes and ASCII whitespace other than '\n' -> ' '.
#[inline]
fn translate(x: u8) -> u8 {
    match x {
        b'0'..=b'9' => b'0',
        0..=9 | 11..=31 | 0x7f => b' ',
        x => x,
    }
}

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

/// The bit of a gate byte `_tokens` tests for, 0 for other bytes (comparisons, so a pass over the
/// text vectorises).
#[inline]
fn gate_bit(x: u8) -> u8 {
    const GATES: [(u8, u8); 6] = [
        (b'`', BACKTICK),
        (b'@', AT),
        (b':', COLON),
        (b'/', SLASH),
        (b'"', DQUOTE),
        (b'\'', SQUOTE),
    ];
    let non_ascii = if x >= 0x80 { NON_ASCII } else { 0 };
    GATES
        .iter()
        .fold(non_ascii, |bits, &(gate, bit)| bits | if x == gate { bit } else { 0 })
}

/// What `raw.translate(None, _GATE_DELETE)` contains, for the tests `_tokens` makes on it.
struct Gate {
    bits: u8,
    /// `b":/" in gate`: a colon directly followed by a slash once the other ASCII bytes are gone
    colon_slash: bool,
}

impl Gate {
    fn of(b: &[u8]) -> Gate {
        let bits = b.iter().fold(0u8, |acc, &x| acc | gate_bit(x));
        let colon_slash = bits & (COLON | SLASH) == COLON | SLASH && {
            let mut prev = 0u8;
            positions(b, in_gate).any(|i| std::mem::replace(&mut prev, b[i]) == b':' && b[i] == b'/')
        };
        Gate { bits, colon_slash }
    }

    fn has(&self, bit: u8) -> bool {
        self.bits & bit != 0
    }
}

impl Tokenizer {
    /// From the token table (token -> code chars), the code of every other word and the markers.
    pub fn new(table: HashMap<String, String>, word: char, markers: Markers) -> Self {
        let (mut short, mut long) = (FxHashMap::default(), FxHashMap::default());
        let mut codes = Vec::new();
        // a token with a zero byte never occurs (see `Key`)
        for (token, code) in table.into_iter().filter(|(token, _)| !token.as_bytes().contains(&0)) {
            let at = (codes.len() as u32, code.chars().count() as u32);
            codes.extend(code.chars());
            if token.len() <= SHORT {
                short.insert(Key::of(token.as_bytes()), at);
            } else {
                long.insert(token.into_bytes().into_boxed_slice(), at);
            }
        }
        Tokenizer {
            short,
            long,
            codes,
            word,
            markers,
        }
    }

    /// `detector.text._tokens` of casefolded text.
    pub fn tokens(&self, folded: &str) -> Vec<char> {
        let mut b = Vec::with_capacity(folded.len() + 1);
        b.extend(folded.bytes().map(translate));
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
        let n = b.len();
        b.resize(n + SHORT, 0);
        let mut out = Vec::with_capacity(n / 2);
        bytes_pass::split_py_space(&b[..n], |r| {
            let code = if r.len() <= SHORT {
                self.short.get(&Key::at(&b, r))
            } else {
                self.long.get(&b[r])
            };
            match code {
                Some(&(start, 1)) => out.push(self.codes[start as usize]),
                Some(&(start, len)) => out.extend_from_slice(&self.codes[start as usize..(start + len) as usize]),
                None => out.push(self.word),
            }
        });
        out
    }
}
