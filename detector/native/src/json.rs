//! A strict JSON decoder for `RecordKernel.check(bytes)`: the bytes of one canonical record (a
//! JSONL line, a one-record Kafka message) to a borrowed tree, [`Val`], that the record checks read
//! in place of the dict `orjson.loads` would build.
//!
//! When it works: on a JSON object (surrounded by JSON white space only) of valid UTF-8 whose every
//! value decodes to exactly what orjson 3 makes of it. It returns `None` -- "not sure: let orjson
//! decide" -- on anything else: invalid JSON or UTF-8, a byte order mark, a control character in a
//! string, a lone surrogate escape (orjson refuses it, `detector.parse.loads` repairs it), an
//! integer outside i64 (orjson keeps up to u64 and makes a float of larger ones), a float that is
//! not finite (orjson refuses `1e400`), nesting deeper than [`MAX_DEPTH`]. Strings are borrowed
//! from the input unless they hold an escape; floats are read by `str::parse::<f64>`, which rounds
//! correctly, as orjson does (the property tests in `tests/unit/test_native.py` hold the two equal).
//!
//! What it assumes: duplicate keys are kept in input order (orjson keeps the last); the reader of an
//! object ([`unique`]) defers on them. Cost: one UTF-8 validation and one pass over the bytes
//! (strings scanned sixteen bytes at a time with SSE2 on x86_64), one allocation per object, array
//! and escaped string: about 14k instructions (1.6-1.9 µs) for a 2.4 KB gateway record, where
//! `orjson.loads` takes about 35k but also makes the Python objects (`docs/design.md`).

use std::borrow::Cow;

/// Deeper nesting defers to orjson (whose limit is 1024).
pub const MAX_DEPTH: usize = 64;

/// One decoded JSON value.
#[derive(Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<Val<'a>>),
    /// members in input order, duplicates included
    Map(Vec<(Cow<'a, str>, Val<'a>)>),
}

/// The object `raw` holds, or `None` when it is anything else or orjson might read it otherwise.
pub fn decode(raw: &[u8]) -> Option<Val<'_>> {
    std::str::from_utf8(raw).ok()?;
    let mut p = Parser { b: raw, i: 0 };
    p.ws();
    if p.b.get(p.i) != Some(&b'{') {
        return None;
    }
    let v = p.value(0)?;
    p.ws();
    (p.i == raw.len()).then_some(v)
}

/// Whether two keys are equal, testing the length and the end bytes before all bytes (most keys
/// a record holds differ there).
#[inline]
pub fn same(a: &str, b: &str) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    x.len() == y.len() && x.first() == y.first() && x.last() == y.last() && x == y
}

/// The members of an object whose keys are all distinct, `None` for duplicates.
pub fn unique<'v, 'a>(members: &'v [(Cow<'a, str>, Val<'a>)]) -> Option<&'v [(Cow<'a, str>, Val<'a>)]> {
    let n = members.len();
    let distinct = if n <= 24 {
        (1..n).all(|i| members[..i].iter().all(|(k, _)| !same(k, &members[i].0)))
    } else {
        let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys.windows(2).all(|w| w[0] != w[1])
    };
    distinct.then_some(members)
}

struct Parser<'a> {
    /// the input, valid UTF-8
    b: &'a [u8],
    i: usize,
}

/// Position of the first `"`, `\\` or control byte (below 0x20, which JSON forbids unescaped in a
/// string) in `b` from `i`, sixteen bytes at a time; `b.len()` when there is none.
#[inline]
fn special(b: &[u8], mut i: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SSE2 is part of x86_64; unaligned loads stay within `b`
        unsafe {
            let (q, s, low_max) = (
                _mm_set1_epi8(b'"' as i8),
                _mm_set1_epi8(b'\\' as i8),
                _mm_set1_epi8(0x1f),
            );
            while i + 16 <= b.len() {
                let w = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                // bytes below 0x20: min(w, 0x1f) == w, unsigned
                let low = _mm_cmpeq_epi8(_mm_min_epu8(w, low_max), w);
                let hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(w, q), _mm_cmpeq_epi8(w, s)), low);
                let mask = _mm_movemask_epi8(hit);
                if mask != 0 {
                    return i + mask.trailing_zeros() as usize;
                }
                i += 16;
            }
        }
    }
    i + b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .unwrap_or(b.len() - i)
}

fn hex4(b: &[u8]) -> Option<u32> {
    b.iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + (c as char).to_digit(16)?))
}

impl<'a> Parser<'a> {
    /// The text of `b[from..to]`, both cuts next to an ASCII byte (a quote, a backslash, a
    /// structural byte or an escape), so on char boundaries of the validated input.
    #[inline]
    fn text(&self, from: usize, to: usize) -> &'a str {
        debug_assert!(std::str::from_utf8(&self.b[from..to]).is_ok());
        // SAFETY: `decode` validated all of `b` as UTF-8 and both cuts are char boundaries
        unsafe { std::str::from_utf8_unchecked(&self.b[from..to]) }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    fn value(&mut self, depth: usize) -> Option<Val<'a>> {
        match *self.b.get(self.i)? {
            b'{' => self.map(depth + 1),
            b'[' => self.list(depth + 1),
            b'"' => self.string().map(Val::Str),
            b't' => self.word(b"true", Val::Bool(true)),
            b'f' => self.word(b"false", Val::Bool(false)),
            b'n' => self.word(b"null", Val::Null),
            _ => self.number(),
        }
    }

    fn word(&mut self, w: &[u8], v: Val<'a>) -> Option<Val<'a>> {
        self.b[self.i..].starts_with(w).then(|| {
            self.i += w.len();
            v
        })
    }

    /// After a member or element: `true` at the closing `close`, `false` after a comma.
    fn next(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let c = *self.b.get(self.i)?;
        self.i += 1;
        match c {
            b',' => {
                self.ws();
                Some(false)
            }
            _ => (c == close).then_some(true),
        }
    }

    fn map(&mut self, depth: usize) -> Option<Val<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        let mut members = Vec::with_capacity(8);
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Some(Val::Map(members));
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
                return None;
            }
            let key = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return None;
            }
            self.i += 1;
            self.ws();
            members.push((key, self.value(depth)?));
            if self.next(b'}')? {
                return Some(Val::Map(members));
            }
        }
    }

    fn list(&mut self, depth: usize) -> Option<Val<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        let mut items = Vec::new();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Some(Val::List(items));
        }
        loop {
            items.push(self.value(depth)?);
            if self.next(b']')? {
                return Some(Val::List(items));
            }
        }
    }

    /// The string starting at the opening quote `self.i`.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let start = self.i + 1;
        let mut at = special(self.b, start);
        if *self.b.get(at)? == b'"' {
            self.i = at + 1;
            return Some(Cow::Borrowed(self.text(start, at)));
        }
        // unescaping never lengthens the text, so the rest of the input bounds it: one allocation
        let mut out = String::with_capacity(self.b.len() - start);
        let mut run = start;
        loop {
            out.push_str(self.text(run, at));
            match *self.b.get(at)? {
                b'"' => {
                    self.i = at + 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {}
                _ => return None, // a control byte
            }
            run = at + 2;
            out.push(match *self.b.get(at + 1)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\x08',
                b'f' => '\x0c',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = hex4(self.b.get(at + 2..at + 6)?)?;
                    run = at + 6;
                    if (0xD800..0xDC00).contains(&hi) {
                        if self.b.get(run..run + 2) != Some(b"\\u") {
                            return None;
                        }
                        let lo = hex4(self.b.get(run + 2..run + 6)?)?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return None;
                        }
                        run += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                    } else {
                        char::from_u32(hi)? // a lone low surrogate is no char
                    }
                }
                _ => return None,
            });
            at = special(self.b, run);
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: an i64 without fraction and exponent, else
    /// a finite f64.
    fn number(&mut self) -> Option<Val<'a>> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut float = false;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            float = true;
        }
        let text = self.text(start, self.i);
        if float {
            let x: f64 = text.parse().ok()?;
            x.is_finite().then_some(Val::Float(x))
        } else {
            text.parse().ok().map(Val::Int)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Option<Val<'_>> {
        match decode(text.as_bytes())? {
            Val::Map(mut m) if m.len() == 1 => Some(m.pop()?.1),
            _ => None,
        }
    }

    #[test]
    fn reads_what_orjson_reads() {
        assert_eq!(one(r#" {"a" : -0 } "#), Some(Val::Int(0)));
        assert_eq!(one(r#"{"a":1E2}"#), Some(Val::Float(100.0)));
        assert_eq!(one(r#"{"a":-0.0}"#), Some(Val::Float(-0.0)));
        assert_eq!(one(r#"{"a":9223372036854775807}"#), Some(Val::Int(i64::MAX)));
        assert_eq!(
            one(r#"{"a":"x\/\"\u00e9\ud83d\ude00\n"}"#),
            Some(Val::Str(Cow::Owned("x/\"é😀\n".into())))
        );
        assert_eq!(
            one(r#"{"a":[true,null,{}]}"#).map(|v| matches!(v, Val::List(l) if l.len() == 3)),
            Some(true)
        );
    }

    #[test]
    fn defers_on_what_orjson_refuses_or_reads_otherwise() {
        for text in [
            r#"{"a":1e400}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":"\ud83d"}"#,
            r#"{"a":"\ude00"}"#,
            r#"{"a":"\x"}"#,
            "{\"a\":\"\t\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"[{"a":1}]"#,
            "\u{feff}{}",
            r#"{"a":NaN}"#,
            r#"{"a":tru}"#,
        ] {
            assert_eq!(decode(text.as_bytes()), None, "{text}");
        }
        assert_eq!(decode(b"{\"a\":\"\xff\"}"), None);
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(decode(format!("{{\"a\":{deep}}}").as_bytes()).is_none());
    }

    #[test]
    fn special_finds_what_a_byte_loop_finds() {
        let scalar = |b: &[u8], i: usize| {
            (i..b.len())
                .find(|&j| b[j] == b'"' || b[j] == b'\\' || b[j] < 0x20)
                .unwrap_or(b.len())
        };
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 40] {
            for at in 0..len {
                for mark in [b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff, b'a'] {
                    let mut b = vec![b'x'; len];
                    b[at] = mark;
                    for from in [0, 1, at.min(len)] {
                        assert_eq!(special(&b, from), scalar(&b, from), "{len} {at} {mark} {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn duplicate_keys_are_found() {
        let Some(Val::Map(m)) = decode(br#"{"a":1,"b":2,"\u0061":3}"#) else {
            panic!()
        };
        assert!(unique(&m).is_none());
        assert!(unique(&m[..2]).is_some());
    }
}
