//! `detector.text._tokens`: the masking passes and the token-code lookup of one casefolded field.
//!
//! Pure Rust (no Python objects), so it can be measured and tested on its own.

use std::collections::HashMap;
use std::ops::Range;

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
    fn at(b: &[u8], r: Range<usize>) -> Key {
        Key(word_at(b, &r, 0), word_at(b, &r, 1), word_at(b, &r, 2))
    }

    fn of(token: &[u8]) -> Key {
        let mut padded = token.to_vec();
        padded.resize(token.len() + SHORT, 0);
        Key::at(&padded, 0..token.len())
    }
}

/// Word `k` of the zero-padded key of `b[r]`, read from `b` padded with `SHORT` bytes.
#[inline]
fn word_at(b: &[u8], r: &Range<usize>, k: usize) -> u64 {
    let w = u64::from_le_bytes(b[r.start + 8 * k..r.start + 8 * k + 8].try_into().expect("eight bytes"));
    match r.len().saturating_sub(8 * k) {
        0 => 0,
        m if m >= 8 => w,
        m => w & ((1 << (8 * m)) - 1),
    }
}

/// A token's code as a table holds it: the code char itself when the code is one char (most
/// are), else `MULTI | start << 8 | count` of its chars in `Tokenizer::codes`. One dependent
/// load less per token than an index, and small entries: a table of the short tokens stays in
/// the fast caches.
#[derive(Clone, Copy)]
struct Code(u32);

/// The tag of a `Code` that points into `Tokenizer::codes` (no char has this bit).
const MULTI: u32 = 1 << 31;

impl Code {
    /// The code of `chars`, which start at `start` of the codes; `None` past 2**23 code chars or
    /// for a code of 256 chars or more.
    fn new(chars: &[char], start: usize) -> Option<Code> {
        match chars {
            [c] => Some(Code(*c as u32)),
            _ => (start < 1 << 23 && chars.len() < 1 << 8)
                .then_some(Code(MULTI | (start as u32) << 8 | chars.len() as u32)),
        }
    }
}

/// The token table by key length: one-word keys for tokens of up to four and up to eight bytes
/// (most tokens; small entries), three words up to `SHORT` bytes, the bytes themselves beyond.
#[derive(Default)]
struct Table {
    four: FxHashMap<u32, Code>,
    eight: FxHashMap<u64, Code>,
    short: FxHashMap<Key, Code>,
    long: FxHashMap<Box<[u8]>, Code>,
}

impl Table {
    fn insert(&mut self, token: &[u8], code: Code) {
        let key = Key::of(token);
        match token.len() {
            0..=4 => self.four.insert(key.0 as u32, code),
            5..=8 => self.eight.insert(key.0, code),
            9..=SHORT => self.short.insert(key, code),
            _ => self.long.insert(token.into(), code),
        };
    }

    /// The code of token `b[r]`, `b` padded with `SHORT` bytes after the text.
    #[inline]
    fn get(&self, b: &[u8], r: Range<usize>) -> Option<Code> {
        match r.len() {
            0..=4 => self.four.get(&(word_at(b, &r, 0) as u32)),
            5..=8 => self.eight.get(&word_at(b, &r, 0)),
            9..=SHORT => self.short.get(&Key::at(b, r)),
            _ => self.long.get(&b[r]),
        }
        .copied()
    }
}

/// Token table (token bytes -> its code chars), the code of every other word, and the markers.
pub struct Tokenizer {
    table: Table,
    /// the chars of the codes of more than one char
    codes: Vec<char>,
    word: char,
    markers: Markers,
    /// whether every marker is ASCII
    ascii_markers: bool,
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

/// Bytes `translated` handles at a time: fixed-size blocks, so its loop vectorises.
const BLOCK: usize = 32;

/// `folded.translate(_BYTE_TABLE) + b" "` with room for `SHORT` bytes more, and the gate bits of
/// its bytes (`translate` leaves every gate byte as it is), in one pass.
fn translated(folded: &[u8]) -> (Vec<u8>, u8) {
    let mut b = Vec::with_capacity(folded.len() + 1 + SHORT);
    let mut bits = 0u8;
    for chunk in folded.chunks(BLOCK) {
        let mut block = [0u8; BLOCK];
        for (out, &x) in block.iter_mut().zip(chunk) {
            *out = translate(x);
            bits |= gate_bit(x);
        }
        b.extend_from_slice(&block[..chunk.len()]);
    }
    b.push(b' ');
    (b, bits)
}

impl Gate {
    /// The gate of translated text `b` whose gate bits are `bits`.
    fn of(b: &[u8], bits: u8) -> Gate {
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
    /// From the token table (token -> code chars), the code of every other word and the markers;
    /// `None` when the codes of more than one char add up to 2**23 chars or more, or one has 256.
    pub fn new(table: HashMap<String, String>, word: char, markers: Markers) -> Option<Self> {
        let mut tokens = Table::default();
        let mut codes = Vec::new();
        // a token with a zero byte never occurs (see `Key`)
        for (token, code) in table.into_iter().filter(|(token, _)| !token.as_bytes().contains(&0)) {
            let chars: Vec<char> = code.chars().collect();
            let code = Code::new(&chars, codes.len())?;
            if code.0 & MULTI != 0 {
                codes.extend(chars);
            }
            tokens.insert(token.as_bytes(), code);
        }
        let ascii_markers = [&markers.code, &markers.url, &markers.quote, &markers.newline]
            .iter()
            .all(|m| m.is_ascii());
        Some(Tokenizer {
            table: tokens,
            codes,
            word,
            markers,
            ascii_markers,
        })
    }

    /// `detector.text._tokens` of casefolded text.
    pub fn tokens(&self, folded: &str) -> Vec<char> {
        let (mut b, bits) = translated(folded.as_bytes());
        let g = Gate::of(&b, bits);
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
        // ASCII text with ASCII markers stays ASCII
        if (g.has(NON_ASCII) || !self.ascii_markers) && std::str::from_utf8(&b).is_err() {
            b = String::from_utf8_lossy(&b).into_owned().into_bytes();
        }
        let n = b.len();
        b.resize(n + SHORT, 0);
        let mut out = Vec::with_capacity(n / 2);
        bytes_pass::split_py_space(&b[..n], |r| match self.table.get(&b, r) {
            Some(Code(c)) if c & MULTI == 0 => out.push(char::from_u32(c).expect("a char")),
            Some(Code(c)) => {
                let start = (c & !MULTI) as usize >> 8;
                out.extend_from_slice(&self.codes[start..start + (c & 0xff) as usize]);
            }
            None => out.push(self.word),
        });
        out
    }
}
